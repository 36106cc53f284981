"""Tests of the exercise checks of chapters 04 (pooling, CNN anatomy) and 05 (evaluation):
a right answer passes, a typical wrong one fails with a specific hint, the placeholder ``...``
gives "No answer yet" and nothing raises."""
import numpy as np
import pytest

from utils import metrics, splits
from utils.checks import evaluation as ev
from utils.checks import pooling_cnn as pc
from utils.exercises import Feedback


def _no_answer(fb):
    assert isinstance(fb, Feedback) and not fb.ok
    assert fb.message.startswith("No answer yet")


# ------------------------------------------------------------------ chapter 04
def test_avg_pool():
    x = pc.POOL_INPUT
    right = x.reshape(2, 2, 2, 2).mean((1, 3))
    assert pc.check_avg_pool(right).ok
    assert pc.check_avg_pool(right.tolist()).ok
    fb = pc.check_avg_pool(x.reshape(2, 2, 2, 2).max((1, 3)))
    assert not fb.ok and "max pooling" in fb.message
    fb = pc.check_avg_pool(np.ones((3, 3)))
    assert not fb.ok and "stride" in fb.message
    fb = pc.check_avg_pool(right * 4)
    assert not fb.ok and "sums" in fb.message
    _no_answer(pc.check_avg_pool(...))
    assert not pc.check_avg_pool("abc").ok


def test_output_shape():
    assert pc.check_output_shape((31, 31, 16)).ok
    assert pc.check_output_shape((None, 31, 31, 16)).ok      # as keras prints it
    fb = pc.check_output_shape((32, 32, 16))                  # forgot padding='valid'
    assert not fb.ok and "padding" in fb.message
    fb = pc.check_output_shape((62, 62, 16))
    assert not fb.ok and "pooling" in fb.message
    fb = pc.check_output_shape((31, 31, 1))
    assert not fb.ok and "filters" in fb.message
    _no_answer(pc.check_output_shape(...))
    assert not pc.check_output_shape(5).ok


def test_output_shape_matches_keras():
    keras = pytest.importorskip("keras")
    m = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Conv2D(16, 3),
                          keras.layers.MaxPooling2D(2)])
    assert pc.check_output_shape(m.output_shape).ok


def test_conv_params():
    assert pc.check_conv_params(1168).ok
    fb = pc.check_conv_params(1152)
    assert not fb.ok and "bias" in fb.message
    fb = pc.check_conv_params(160)
    assert not fb.ok and "input channels" in fb.message
    assert not pc.check_conv_params(7).ok
    _no_answer(pc.check_conv_params(...))


def test_conv_params_matches_keras():
    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(16, 3)
    layer.build((None, 10, 10, 8))
    assert pc.check_conv_params(layer.count_params()).ok


def test_receptive_field_check():
    from utils import viz

    right = viz.receptive_field(["conv3", "conv3", "pool2", "conv3"])["receptive_field"].iloc[-1]
    assert pc.check_receptive_field(right).ok
    fb = pc.check_receptive_field(8)                          # ignored the jump
    assert not fb.ok and "jump" in fb.message
    _no_answer(pc.check_receptive_field(...))
    assert not pc.check_receptive_field("ten").ok


# ------------------------------------------------------------------ chapter 05
def test_metrics_check():
    m = metrics.metrics_from_counts(**ev.COUNTS)
    right = {k: m[k] for k in ("precision", "recall", "specificity")}
    assert ev.check_metrics(right).ok
    swapped = {**right, "precision": m["recall"], "recall": m["precision"]}
    fb = ev.check_metrics(swapped)
    assert not fb.ok and "swapped" in fb.message
    c = ev.COUNTS
    fb = ev.check_metrics({**right, "specificity": c["tn"] / (c["tn"] + c["fn"])})
    assert not fb.ok and "negative predictive value" in fb.message
    fb = ev.check_metrics({**right, "specificity": 1 - m["specificity"]})
    assert not fb.ok and "false positive rate" in fb.message
    fb = ev.check_metrics({k: 100 * v for k, v in right.items()})
    assert not fb.ok and "percent" in fb.message
    fb = ev.check_metrics({"precision": 0.5})
    assert not fb.ok and "lacks" in fb.message
    _no_answer(ev.check_metrics(...))


def test_wilson_check():
    right = metrics.wilson_ci(ev.WILSON_K, ev.WILSON_N)
    assert ev.check_wilson(right).ok
    fb = ev.check_wilson(metrics.wald_ci(ev.WILSON_K, ev.WILSON_N))
    assert not fb.ok and "Wald" in fb.message
    fb = ev.check_wilson(right[::-1])
    assert not fb.ok and "order" in fb.message
    fb = ev.check_wilson(metrics.wilson_ci(ev.WILSON_K, ev.WILSON_N, 0.90))
    assert not fb.ok and "90" in fb.message
    fb = ev.check_wilson((62.0, 84.0))
    assert not fb.ok and "percent" in fb.message
    _no_answer(ev.check_wilson(...))
    assert not ev.check_wilson(0.7).ok


def test_majority_baseline_check():
    y_test = np.array([1] * 31 + [0] * 20)
    assert ev.check_majority_baseline(31 / 51, y_test).ok
    fb = ev.check_majority_baseline(20 / 51, y_test)
    assert not fb.ok and "minority" in fb.message
    fb = ev.check_majority_baseline(0.5, y_test)
    assert not fb.ok and "balanced" in fb.message
    _no_answer(ev.check_majority_baseline(..., y_test))


def test_grouped_split_check():
    y = np.repeat([0, 1], 50)
    groups = np.arange(100) // 2
    right = splits.grouped_holdout(y, groups, 0.2, seed=0)
    assert ev.check_grouped_split(right, groups).ok
    random = splits.random_holdout(y, 0.2, seed=0)
    assert splits.straddling_groups(*random, groups) > 0
    fb = ev.check_grouped_split(random, groups)
    assert not fb.ok and "both sides" in fb.message
    fb = ev.check_grouped_split((np.arange(50), np.arange(40, 100)), groups)
    assert not fb.ok and "both parts" in fb.message
    _no_answer(ev.check_grouped_split(..., groups))
    _no_answer(ev.check_grouped_split((..., ...), groups))
    assert not ev.check_grouped_split(3, groups).ok
