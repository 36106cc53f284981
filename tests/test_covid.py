"""utils.covid: per-class table with Wilson or patient-bootstrap intervals, grouped probes, image variants, source
features, and the Keras head that reproduces the fitted logistic regression (for Grad-CAM)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from utils import covid as C
from utils import metrics


def test_per_class_table_counts_and_wilson():
    y = np.array([0] * 10 + [1] * 10 + [2] * 10)
    pred = y.copy()
    pred[:2] = 1          # two COVID called normal
    pred[25:] = 1         # five pneumonia called normal
    t = C.per_class_table(y, pred)
    assert t.loc["covid", "recall"] == 0.8 and t.loc["covid", "precision"] == 1.0
    assert t.loc["normal", "precision"] == round(10 / 17, 3)
    lo, hi = metrics.wilson_ci(8, 10)
    assert t.loc["covid", "recall 95% CI"] == f"{lo:.2f}-{hi:.2f}"
    assert t.loc["all (accuracy)", "recall"] == round(23 / 30, 3)


def test_per_class_table_resamples_patients_when_given_them():
    y = np.array([0] * 10 + [1] * 10 + [2] * 10)
    pred = y.copy()
    pred[:2] = 1
    pred[25:] = 1
    patients = np.arange(30) // 2                        # two X-rays per patient
    t = C.per_class_table(y, pred, groups=patients, n_boot=500)
    lo, hi = metrics.cluster_bootstrap_ci(y, pred, patients, n_boot=500)
    assert t.loc["all (accuracy)", "recall 95% CI"] == f"{lo:.2f}-{hi:.2f}"
    assert t.loc["covid", "recall"] == 0.8                # the values do not change
    rlo, rhi = (float(v) for v in t.loc["covid", "recall 95% CI"].split("-"))
    assert rlo <= 0.8 <= rhi and rhi <= 1.0
    # with one image per patient the overall interval is the image-level bootstrap
    single = C.per_class_table(y, pred, groups=np.arange(30), n_boot=500)
    blo, bhi = metrics.bootstrap_ci(y, pred, n_boot=500)
    assert single.loc["all (accuracy)", "recall 95% CI"] == f"{blo:.2f}-{bhi:.2f}"


def test_probe_is_grouped_and_out_of_fold():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 3)
    y = np.repeat(np.arange(3), 30)
    F = rng.normal(size=(90, 5)) + y[:, None] * 2.0     # separable classes
    res = C.probe(F, y, groups, n_splits=3)
    assert res["proba"].shape == (90, 3) and np.allclose(res["proba"].sum(1), 1)
    assert res["accuracy"] > 0.9 and len(res["fold_accuracy"]) == 3
    noise = C.probe(rng.normal(size=(90, 5)), y, groups, n_splits=3)
    assert noise["accuracy"] < 0.7                       # no signal, no accuracy


def test_lung_variants():
    X = np.full((2, 4, 4, 1), 0.5, np.float32)
    m = np.zeros_like(X)
    m[:, :2] = 1
    v = C.lung_variants(X, m)
    assert np.all(v["lungs_only"][:, :2] == 0.5) and np.all(v["lungs_only"][:, 2:] == 0)
    assert np.all(v["lungs_removed"][:, :2] == 0) and np.all(v["lungs_removed"][:, 2:] == 0.5)
    assert np.array_equal(v["silhouette"], m)


def test_source_features_have_no_missing_values():
    table = pd.DataFrame({"width": ["512", "1024"], "height": ["512", "800"],
                          "file": ["normal/a.jpeg", "covid/b.png"], "mode": ["L", "RGB"],
                          "bytes": ["50000", "900000"]})
    X = np.random.default_rng(0).random((2, 32, 32, 1)).astype(np.float32)
    f = C.source_features(table, X)
    assert f.shape == (2, 11) and not f.isna().any().any()
    assert f["is_png"].tolist() == [0.0, 1.0] and f["is_rgb"].tolist() == [0.0, 1.0]
    assert f["aspect"].tolist() == [1.0, 1024 / 800]


def test_head_model_reproduces_the_fitted_head_and_grad_cam():
    pytest.importorskip("keras")
    try:
        C.backbone(64, "avg")
    except Exception as err:  # pragma: no cover - depends on the offline weights
        pytest.skip(f"Lite0 weights unavailable: {err}")
    from utils import transfer, viz

    rng = np.random.default_rng(0)
    X = rng.random((9, 64, 64, 1)).astype(np.float32)
    y = np.arange(9) % 3
    F, _ = C.lite0_features(X, cache=False)
    head = C.linear_head().fit(F, y)
    model = C.head_model(head, 64)
    probs = model.predict(transfer.preprocess(X), verbose=0)
    assert np.allclose(probs, head.predict_proba(F), atol=1e-4)
    assert viz.last_conv_layer(model) == "top_activation"
    cams = viz.grad_cam(model, transfer.preprocess(X[:3]))
    assert cams.shape == (3, 64, 64) and cams.min() >= 0 and cams.max() <= 1
    # a second head on the same (cached) backbone is a model of its own
    other = C.head_model(C.linear_head(C=1.0).fit(F, y), 64)
    assert viz.grad_cam(other, transfer.preprocess(X[:1])).shape == (1, 64, 64)
