"""Tests of the analysis and plotting helpers of utils/literature.py (chapters 07 and 11)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils import literature as L  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bt():
    return L.load_table("brain_tumor_classification")


@pytest.fixture(scope="module")
def cls():
    return L.load_table("covid_classification")


@pytest.fixture(scope="module")
def seg():
    return L.load_table("covid_segmentation")


# --------------------------------------------------------------------------- intervals

@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.27753),
    (10, 10, 0.72247, 1.0),
    (47, 51, 0.81500, 0.96908),
    (40, 51, 0.65374, 0.87506),
    (5, 10, 0.23659, 0.76341),
])
def test_wilson_known_values(k, n, lo, hi):
    got = L.wilson_ci(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)
    assert isinstance(got[0], float)


def test_wilson_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 7), (3, 7), (47, 51), (51, 51), (130, 400)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert L.wilson_ci(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
        ci90 = stats.binomtest(k, n).proportion_ci(confidence_level=0.90, method="wilson")
        assert L.wilson_ci(k, n, 0.90) == pytest.approx((ci90.low, ci90.high), abs=1e-9)


def test_wilson_wraps_utils_metrics():
    metrics = pytest.importorskip("utils.metrics")
    for k, n in [(0, 5), (40, 51), (47, 51), (51, 51)]:
        assert L.wilson_ci(k, n) == metrics.wilson_ci(k, n)
    lo, hi = L.wilson_ci([40, 47], 51)
    assert (lo[1], hi[1]) == metrics.wilson_ci(47, 51)


def test_wilson_properties():
    n = np.array([20, 51, 200, 1000])
    k = np.round(0.9 * n)
    lo, hi = L.wilson_ci(k, n)
    assert lo.shape == hi.shape == (4,)
    assert np.all((0 <= lo) & (lo <= k / n) & (k / n <= hi) & (hi <= 1))
    assert np.all(np.diff(hi - lo) < 0)  # narrower with more cases
    lo_s, hi_s = L.wilson_ci(n - k, n)  # symmetry p <-> 1 - p
    assert np.allclose(lo, 1 - hi_s) and np.allclose(hi, 1 - lo_s)
    assert all(math.isnan(v) for v in L.wilson_ci(0, 0))
    with pytest.raises(ValueError):
        L.wilson_ci(5, 4)
    with pytest.raises(ValueError):
        L.wilson_ci(1, 4, confidence=1.5)


def test_rate_ci_scalar_and_vector(cls):
    k, lo, hi = L.rate_ci(0.92, 51)
    assert k == 47 and (lo, hi) == pytest.approx(L.wilson_ci(47, 51))
    k, lo, hi = L.rate_ci(cls["sensitivity"], cls["n_covid"])
    assert len(k) == len(cls)
    assert np.isnan(lo[cls["sensitivity"].isna().to_numpy()]).all()
    chen = (cls["study"] == "Chen et al.").to_numpy()
    assert lo[chen][0] == pytest.approx(L.wilson_ci(51, 51)[0]) and hi[chen][0] == 1.0


def test_compatible_counts():
    assert L.compatible_counts(0.78, 51) == [40]
    assert L.compatible_counts(0.92, 51) == [47]
    assert L.compatible_counts(0.5, 3) == []           # no k/3 prints as 50 %
    assert L.compatible_counts(0.333, 3, decimals=1) == [1]


# --------------------------------------------------------------------------- consistency

def test_accuracy_within_bounds_for_any_confusion_matrix():
    rng = np.random.default_rng(0)
    for _ in range(500):
        tp, fn, tn, fp = rng.integers(0, 60, size=4) + 1
        sens, spec = tp / (tp + fn), tn / (tn + fp)
        acc = (tp + tn) / (tp + fn + tn + fp)
        lo, hi = L.accuracy_bounds(sens, spec)
        assert lo - 1e-12 <= acc <= hi + 1e-12
        p = L.implied_prevalence(acc, sens, spec)
        if not math.isnan(p):
            assert p == pytest.approx((tp + fn) / (tp + fn + tn + fp))


def test_bounds_and_prevalence_nan_handling():
    lo, hi = L.accuracy_bounds([0.9, np.nan], [0.8, 0.7])
    assert lo[0] == 0.8 and hi[0] == 0.9 and np.isnan(lo[1]) and np.isnan(hi[1])
    assert math.isnan(L.implied_prevalence(0.9, 0.9, 0.9))  # sens == spec: any p fits
    assert L.implied_prevalence(0.971, 0.98, 0.962) == pytest.approx(0.5)


def test_accuracy_consistency_on_fig10(bt):
    flags = L.accuracy_consistency(bt)
    assert list(flags.columns) == ["acc_min", "acc_max", "implied_prevalence", "status"]
    assert flags.index.equals(bt.index)
    bad = set(bt.loc[flags["status"] == "impossible", "row_id"])
    assert bad == {4, 8, 10}  # Ge et al., Prager et al. (3D CNN), He et al. (TCCA)
    assert flags["status"].value_counts().to_dict() == {"not checkable": 7, "consistent": 4, "impossible": 3}
    imp = flags.loc[flags["status"] == "impossible", "implied_prevalence"]
    assert ((imp < 0) | (imp > 1)).all()


def test_accuracy_consistency_tolerance():
    df = pd.DataFrame({"accuracy": [0.953, 0.953, np.nan], "sensitivity": [0.95, 0.95, 0.9],
                       "specificity": [0.90, 0.90, 0.8]})
    assert list(L.accuracy_consistency(df.iloc[:1], tol=0.005)["status"]) == ["consistent"]
    assert list(L.accuracy_consistency(df.iloc[:1], tol=0.0)["status"]) == ["impossible"]
    assert L.accuracy_consistency(df)["status"].iloc[2] == "not checkable"


# --------------------------------------------------------------------------- segmentation targets

@pytest.mark.parametrize("rois, expected", [
    ("Lung", "lung region"),
    ("Lesion", "lesion"),
    ("Lung lobes; Lesion", "lung region + lesion"),
    ("Lung; Lesion; Trachea; Bronchus", "lung region + lesion"),
    ("Trachea", "lung region"),
])
def test_segmentation_orientation(rois, expected):
    assert L.segmentation_orientation(rois) == expected


def test_segmentation_orientation_missing():
    assert L.segmentation_orientation(None) is pd.NA
    assert L.segmentation_orientation("") is pd.NA


def test_fig8_orientation_counts(seg):
    counts = seg["target_roi_list"].map(L.segmentation_orientation).value_counts().to_dict()
    assert counts == {"lung region + lesion": 7, "lesion": 3, "lung region": 1}


def test_roi_matrix(seg):
    m = L.roi_matrix(seg)
    assert m.shape == (11, 6)
    assert list(m.columns) == ["Lung", "Lung lobes", "Lung segments", "Trachea", "Bronchus", "Lesion"]
    assert m.sum(axis=1).tolist() == [len(v.split(";")) for v in seg["target_roi_list"]]
    assert m["Lesion"].sum() == 10


# --------------------------------------------------------------------------- labels, references, long format

@pytest.mark.parametrize("name", list(L.TABLES))
def test_row_labels_unique(name):
    df = L.load_table(name)
    labels = L.row_labels(df)
    assert labels.is_unique and len(labels) == len(df)


def test_row_labels_disambiguate(bt, cls):
    assert "He et al. (TCCA)" in set(L.row_labels(bt))
    assert "Prager et al. (3D CNN)" in set(L.row_labels(bt))
    assert {"Wang et al. [12]", "Wang et al. [76]", "Jin et al. [70]"} <= set(L.row_labels(cls))


@pytest.mark.parametrize("name", list(L.TABLES))
def test_add_references(name):
    database = pytest.importorskip("pybtex.database")
    from pathlib import Path

    keys = set(database.parse_file(str(Path(L.__file__).parents[1] / "book" / "references.bib")).entries)
    df = L.add_references(L.load_table(name), name)
    assert {"label", "reference", "cite_key"} <= set(df.columns)
    assert set(df["cite_key"]) <= keys
    assert df["reference"].str.contains(L.REVIEW_KEYS[name]).all()
    assert L.REVIEW_KEYS[name] in keys


def test_add_references_own_keys(seg, bt):
    df = L.add_references(seg, "covid_segmentation")
    assert df.loc[df["study"] == "Zheng et al.", "cite_key"].iloc[0] == "zheng2020deep"
    ref = L.add_references(bt, "brain_tumor_classification")["reference"].iloc[0]
    assert ref == "Chen et al. 2021, ref. [27] of xie2022convolutional"


def test_long_metrics(cls):
    long = L.long_metrics(cls, ["accuracy", "sensitivity"], id_cols=["study", "modality"])
    assert list(long.columns) == ["study", "modality", "metric", "value"]
    assert len(long) == cls[["accuracy", "sensitivity"]].notna().sum().sum()
    assert long["value"].notna().all()


# --------------------------------------------------------------------------- plots

def _has_title(ax):
    return bool(ax.get_title())


def test_plot_metric_table(bt):
    ax = L.plot_metric_table(bt)
    assert _has_title(ax) and len(ax.get_yticklabels()) == len(bt)


@pytest.mark.parametrize("annotate", [False, True])
def test_plot_metric_by(bt, annotate):
    ax = L.plot_metric_by(bt, "method_family", "accuracy", annotate=annotate)
    assert _has_title(ax)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 3 and all("(n=" in t for t in ticks)
    if annotate:
        assert len(ax.texts) == bt["accuracy"].notna().sum()


def test_plot_metric_by_hue(cls):
    ax = L.plot_metric_by(cls, "modality", "sensitivity", hue="modality", title="custom")
    assert ax.get_title() == "custom"


def test_plot_metric_vs_size(cls):
    ax = L.plot_metric_vs_size(cls, "n_covid")
    assert _has_title(ax) and ax.get_xscale() == "log"


def test_plot_accuracy_consistency(bt):
    ax = L.plot_accuracy_consistency(bt)
    assert _has_title(ax) and len(ax.get_yticklabels()) == 7


def test_plot_against_literature(bt):
    own = pd.DataFrame({"label": ["a", "b"], "value": [0.78, 0.92], "low": [0.65, 0.81], "high": [0.87, 0.97]})
    ax = L.plot_against_literature(bt["accuracy"], own)
    assert _has_title(ax) and len(ax.get_yticklabels()) == 3


def test_plot_forest(cls):
    df = cls.assign(label=L.row_labels(cls))
    _, df["lo"], df["hi"] = L.rate_ci(df["sensitivity"], df["n_covid"])
    ax = L.plot_forest(df, "sensitivity", "lo", "hi", hue="modality")
    assert _has_title(ax) and len(ax.get_yticklabels()) == df["lo"].notna().sum()
