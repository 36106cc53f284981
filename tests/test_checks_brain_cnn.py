"""The exercise checks of the brain tumour CNN chapter: right answers pass, typical wrong
answers fail with a hint, the placeholder ``...`` says "No answer yet"."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from utils.checks import brain_tumor_cnn as ex


def test_param_count():
    assert ex.check_param_count(36849)
    pytest.importorskip("keras")
    from utils import experiments

    assert ex.check_param_count(experiments.paper_cnn(fourth_kernel=4).count_params())
    wrong = ex.check_param_count(34145)
    assert not wrong and "3x3" in wrong.message
    assert "biases" in ex.check_param_count(36849 - 97).message
    assert "output layer" in ex.check_param_count(11665).message
    assert "No answer yet" in ex.check_param_count(...).message


def test_fold_ci():
    acc = np.array(ex.FOLD_ACCURACIES)
    half = stats.t.ppf(0.975, 4) * acc.std(ddof=1) / math.sqrt(5)
    assert ex.check_fold_ci((acc.mean() - half, acc.mean() + half))
    assert ex.check_fold_ci([acc.mean() + half, acc.mean() - half])  # order does not matter
    z = 1.959964 * acc.std(ddof=1) / math.sqrt(5)
    fb = ex.check_fold_ci((acc.mean() - z, acc.mean() + z))
    assert not fb and "1.96" in fb.message
    s0 = stats.t.ppf(0.975, 4) * acc.std(ddof=0) / math.sqrt(5)
    assert "ddof=1" in ex.check_fold_ci((acc.mean() - s0, acc.mean() + s0)).message
    sd = stats.t.ppf(0.975, 4) * acc.std(ddof=1)
    assert "standard error" in ex.check_fold_ci((acc.mean() - sd, acc.mean() + sd)).message
    assert "No answer yet" in ex.check_fold_ci(...).message
    assert not ex.check_fold_ci("0.7")


def test_leaked_test_images(mirror_env):
    from utils import datasets, experiments, splits

    table = datasets.brain_mri_table()
    g = table["near_group"].to_numpy()
    train, test = experiments.paper_split(len(table), 0)
    right = int(np.isin(g[test], g[train]).sum())
    assert right > 0  # the paper's protocol leaks
    assert ex.check_leaked_test_images(right)
    fb = ex.check_leaked_test_images(len(test))
    assert not fb and "size of the test set" in fb.message
    e = table["exact_group"].to_numpy()
    exact_only = int(np.isin(e[test], e[train]).sum())
    if exact_only != right:
        assert "exact" in ex.check_leaked_test_images(exact_only).message
    straddling = splits.straddling_groups(train, test, g)
    if straddling != right:
        assert "groups" in ex.check_leaked_test_images(straddling).message
    assert not ex.check_leaked_test_images(right + 100)
    assert "No answer yet" in ex.check_leaked_test_images(...).message


def test_sensitivity_threshold():
    t = ex.sensitivity_threshold()
    pos = np.sort(ex.DEV_PROB[ex.DEV_Y == 1])
    assert np.mean(pos >= t) >= 0.9 and np.mean(pos >= np.min(ex.DEV_PROB[ex.DEV_PROB > t])) < 0.9
    assert ex.check_sensitivity_threshold(t)
    assert "lower the threshold" in ex.check_sensitivity_threshold(0.5).message
    assert "highest one" in ex.check_sensitivity_threshold(0.2).message
    assert "No answer yet" in ex.check_sensitivity_threshold(...).message


def test_sensitivity_threshold_is_the_calibration_helper():
    """The exercise's threshold is utils.calibration.threshold_for_sensitivity (one helper), and
    both agree with a brute force over every candidate threshold, at several targets."""
    from utils.calibration import threshold_for_sensitivity
    from utils.checks.brain_tumor_cnn import sensitivity_threshold
    import inspect
    assert "threshold_for_sensitivity" in inspect.getsource(sensitivity_threshold)
    rng = np.random.default_rng(3)
    for target in (0.5, 0.8, 0.9, 0.95, 1.0):
        for y, p in [(ex.DEV_Y, ex.DEV_PROB),
                     (rng.integers(0, 2, 40) | np.eye(1, 40, 0, dtype=int)[0], rng.random(40))]:
            brute = max(t for t in p if np.mean(p[y == 1] >= t) >= target)
            assert sensitivity_threshold(p, y, target) == threshold_for_sensitivity(y, p, target) == brute
