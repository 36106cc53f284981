"""utils.calibration against scikit-learn, and the seeded, grouped, stratified external split."""
import numpy as np
import pandas as pd
import pytest

from utils import calibration as cal
from utils import experiments as xp
from utils import splits


@pytest.fixture
def yp():
    rng = np.random.default_rng(0)
    p = rng.random(400)
    y = (rng.random(400) < p ** 2).astype(int)   # over-confident: p above the true frequency
    return y, p


def test_reliability_and_brier_match_scikit_learn(yp):
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    y, p = yp
    r = cal.reliability(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose(r["fraction_positive"], prob_true)
    np.testing.assert_allclose(r["mean_predicted"], prob_pred)
    assert r["count"].sum() == len(y)
    assert cal.brier(y, p) == pytest.approx(brier_score_loss(y, p))


def test_ece_is_zero_when_calibrated_and_large_when_not():
    y = np.array([0, 0, 1, 1] * 25)
    p = np.array([0.25, 0.25, 0.25, 0.75] * 25)   # bin 0.2-0.3: 1/3 positive; bin 0.7-0.8: all
    expected = 0.75 * abs(1 / 3 - 0.25) + 0.25 * abs(1 - 0.75)
    assert cal.expected_calibration_error(y, p) == pytest.approx(expected)
    assert cal.expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0
    with pytest.raises(ValueError):
        cal.brier([0, 1], [0.2, 1.3])


def test_ece_is_the_reliability_tables_weighted_gap(yp):
    """The two-sums ECE equals the weighted mean gap of the reliability diagram's bins."""
    y, p = yp
    for q in (p, np.round(p, 1), p ** 3):          # ties on bin edges, crowded low bins
        r = cal.reliability(y, q, n_bins=10)
        w = r["count"] / r["count"].sum()
        table = float(np.sum(w * np.abs(r["fraction_positive"] - r["mean_predicted"])))
        assert cal.expected_calibration_error(y, q) == pytest.approx(table, abs=1e-12)
    assert np.isnan(cal.expected_calibration_error([], []))


def test_bootstrap_auc_is_roc_auc_score_and_refuses_one_class(yp):
    from sklearn.metrics import roc_auc_score

    y, p = yp
    for q in (p, np.round(p, 1)):                  # with and without tied scores
        assert cal._rate(y, q, 0.5, "auc") == pytest.approx(roc_auc_score(y, q), abs=1e-12)
    with pytest.raises(ValueError):
        cal._rate(np.ones(5, int), np.linspace(0, 1, 5), 0.5, "auc")
    rows = cal.scores_with_ci(y, p, np.arange(len(y)) // 2, n_boot=200)
    assert rows.loc["auc", "value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert rows.loc["auc", "ci_low"] < rows.loc["auc", "value"] < rows.loc["auc", "ci_high"]


def test_temperature_scaling_repairs_over_confidence_and_keeps_the_order():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(int)
    sharp = 1 / (1 + np.exp(-3 * z))                 # logits three times too large
    T = cal.fit_temperature(y, sharp)
    assert T == pytest.approx(3.0, rel=0.15)
    fixed = cal.apply_temperature(sharp, T)
    assert cal.expected_calibration_error(y, fixed) < cal.expected_calibration_error(y, sharp) / 2
    ok = (sharp > 1e-6) & (sharp < 1 - 1e-6)        # away from the clipping at 1e-7
    assert np.array_equal(np.argsort(fixed[ok], kind="stable"), np.argsort(sharp[ok], kind="stable"))


def test_threshold_for_sensitivity_is_the_highest_that_reaches_it(yp):
    y, p = yp
    for target in (0.5, 0.9, 0.95, 1.0):
        t = cal.threshold_for_sensitivity(y, p, target)
        assert np.mean(p[y == 1] >= t) >= target
        higher = p[(y == 1) & (p > t)].min() if np.any((y == 1) & (p > t)) else None
        if higher is not None:
            assert np.mean(p[y == 1] >= higher) < target
    with pytest.raises(ValueError):
        cal.threshold_for_sensitivity(np.zeros(3), np.ones(3) / 2)


def test_predictive_values_follow_bayes():
    pv = cal.predictive_values(0.9, 0.8, [0.5, 0.01])
    assert pv["ppv"][0] == pytest.approx(0.45 / (0.45 + 0.1))
    assert pv["npv"][0] == pytest.approx(0.4 / (0.4 + 0.05))
    assert pv["ppv"][1] < 0.05 < 0.99 < pv["npv"][1]


def test_scores_with_ci_resample_groups(yp):
    y, p = yp
    groups = np.repeat(np.arange(100), 4)
    s = cal.scores_with_ci(y, p, groups, n_boot=200)
    assert list(s.index) == ["accuracy", "auc", "sensitivity", "specificity", "brier", "ece"]
    assert (s["ci_low"] <= s["value"]).all() and (s["value"] <= s["ci_high"]).all()
    assert s.loc["sensitivity", "n"] == y.sum()
    one = cal.scores_with_ci(y, p, np.arange(len(y)), n_boot=200)
    assert one.loc["brier", "ci_high"] != s.loc["brier", "ci_high"]


def test_external_scores_report_per_tumour_type_and_view():
    table = pd.DataFrame({"tumour_type": ["glioma"] * 4 + ["pituitary"] * 4 + ["none"] * 8,
                          "view": [""] * 8 + ["axial"] * 4 + ["sagittal"] * 4,
                          "group": [f"g{i // 2}" for i in range(16)]})
    y = np.array([1] * 8 + [0] * 8)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.9, 0.9, 0.1, 0.2, 0.1, 0.3, 0.8, 0.9, 0.2, 0.1])
    s = xp.external_scores(y, p, table, n_boot=100)
    assert s.loc["sensitivity glioma", "value"] == 1.0
    assert s.loc["sensitivity pituitary", "value"] == 0.5
    assert s.loc["specificity axial", "value"] == 1.0
    assert s.loc["specificity sagittal", "value"] == 0.5


def test_external_split_is_seeded_grouped_and_stratified():
    rng = np.random.default_rng(0)
    strata = np.repeat(["glioma", "meningioma", "pituitary", "none"], 100)
    groups = np.array([f"{s}:{i // 4 if s == 'none' else i // 2}" for i, s in enumerate(strata)])
    rng.shuffle(groups)   # groups within strata only
    groups = np.array([f"{s}|{g}" for s, g in zip(strata, np.sort(groups))])
    dev, test = splits.grouped_holdout(strata, groups, 0.5, seed=3)
    splits.check_split(dev, test, groups)
    again = splits.grouped_holdout(strata, groups, 0.5, seed=3)
    assert np.array_equal(dev, again[0]) and np.array_equal(test, again[1])
    for s in ("glioma", "none"):
        share = np.mean(strata[test] == s) / np.mean(strata == s)
        assert 0.8 < share < 1.2
    other = splits.grouped_holdout(strata, groups, 0.5, seed=4)
    assert not np.array_equal(test, other[1])


def test_predictive_value_band_brackets_the_point_and_follows_bayes():
    prev = np.array([0.01, 0.1, 0.5])
    band = cal.predictive_value_band((0.85, 0.95), (0.70, 0.90), prev)
    mid = cal.predictive_values(0.9, 0.8, prev)
    for k in ("ppv", "npv"):
        assert np.all(band[f"{k}_low"] <= mid[k]) and np.all(mid[k] <= band[f"{k}_high"])
    assert band["ppv_low"][2] == pytest.approx(0.425 / (0.425 + 0.15))
    assert band["npv_high"][2] == pytest.approx(0.45 / (0.45 + 0.025))
    flat = cal.predictive_value_band((0.9, 0.9), (0.8, 0.8), prev)
    np.testing.assert_allclose(flat["ppv_low"], flat["ppv_high"])
