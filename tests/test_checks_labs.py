"""The labs' checks (utils.checks.labs): a right answer passes, typical wrong ones explain."""
from __future__ import annotations

import numpy as np
import pytest

from utils import splits
from utils.checks import labs

Y = np.array([0, 1] * 20)
GROUPS = np.repeat(np.arange(20), 2)          # 20 pairs of near-duplicates


def test_check_ran():
    assert labs.check_ran({"a": 0.8, "ci": (0.7, 0.9)}, ["a", "ci"]).ok
    assert "No answer" in labs.check_ran(..., ["a"]).message
    assert "No answer" in labs.check_ran({"a": ..., "ci": ...}, ["a", "ci"]).message
    assert "not filled in ['ci']" in labs.check_ran({"a": 0.8, "ci": ...}, ["a", "ci"]).message
    assert not labs.check_ran({"a": float("nan")}, ["a"]).ok
    assert not labs.check_ran({"a": "high"}, ["a"]).ok


def test_check_folds_grouped():
    grouped = splits.grouped_kfold(Y, GROUPS, 5, seed=0)
    assert labs.check_folds_grouped(grouped, GROUPS, n=len(Y)).ok
    random = splits.stratified_kfold(Y, 5, seed=0)
    fb = labs.check_folds_grouped(random, GROUPS, n=len(Y))
    assert not fb.ok and "groups have images in training and in test" in fb.message
    fb = labs.check_folds_grouped(grouped[:3], GROUPS, n=len(Y))
    assert not fb.ok and "exactly once" in fb.message
    assert labs.check_folds_grouped([splits.grouped_holdout(Y, GROUPS, 0.2, seed=0)], GROUPS).ok
    assert not labs.check_folds_grouped([], GROUPS).ok
    assert "No answer" in labs.check_folds_grouped(..., GROUPS).message
    assert "No answer" in labs.check_folds_grouped([...], GROUPS).message


def test_check_in_interval():
    assert labs.check_in_interval(0.8, (0.7, 0.9)).ok
    assert "outside" in labs.check_in_interval(0.95, (0.7, 0.9)).message
    assert "swapped" in labs.check_in_interval(0.8, (0.9, 0.7)).message
    zero = labs.check_in_interval(0.8, (0.8, 0.8))
    assert zero.ok and "width 0" in zero.message
    assert "No answer" in labs.check_in_interval(..., (0.7, 0.9)).message
    assert "No answer" in labs.check_in_interval(0.8, ...).message


def test_check_report():
    text = ("I trained a 5-NN with grouped and random 5-fold CV, seed 0. The grouped accuracy "
            "was 0.71 with interval (0.65, 0.77) and the random one 0.80; the leak of 0.09 has "
            "an interval that excludes 0, so the random split flatters the model because copies "
            "of a test picture sit in training and vote for its label.")
    assert labs.check_report(text, mentions=["grouped", "interval"]).ok
    assert "No answer" in labs.check_report("""...""").message
    assert "words" in labs.check_report("It leaks a lot.").message
    assert "does not mention ['interval']" in labs.check_report(
        text.replace("interval", "range"), mentions=["grouped", "interval"]).message
    no_numbers = " ".join(["grouped interval words"] * 20)
    assert "no number" in labs.check_report(no_numbers, mentions=["grouped"]).message


def _clustered(seed=0, n_groups=30, size=8):
    """Groups whose images are all right or all wrong together (near-duplicate copies)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), size)
    y = rng.integers(0, 2, n_groups * size)
    right = np.repeat(rng.random(n_groups) < 0.7, size)
    return y, np.where(right, y, 1 - y), groups


def test_check_grouped_interval_refuses_wilson_accepts_cluster():
    from utils.metrics import cluster_bootstrap_ci, wilson_ci
    y, pred, groups = _clustered()
    acc = float(np.mean(y == pred))
    wilson = wilson_ci(int(np.sum(y == pred)), len(y))
    assert labs.check_in_interval(acc, wilson).ok          # the old check accepts it ...
    refused = labs.check_grouped_interval(acc, wilson, y, pred, groups, "the accuracy")
    assert not refused.ok and "Wilson" in refused.message   # ... the grouped one does not
    for seed, n_boot in [(0, 2000), (0, 1000), (7, 2000)]:   # the helper's interval, any seed
        ci = cluster_bootstrap_ci(y, pred, groups, seed=seed, n_boot=n_boot)
        assert labs.check_grouped_interval(acc, ci, y, pred, groups).ok
    ci = cluster_bootstrap_ci(y, pred, groups, seed=0)
    assert "not the figure" in labs.check_grouped_interval(acc - 0.01, ci, y, pred, groups).message
    assert "No answer" in labs.check_grouped_interval(acc, ci, ..., pred, groups).message


def test_check_grouped_interval_of_a_difference_and_a_metric():
    from utils.metrics import cluster_bootstrap_diff
    y, pred, groups = _clustered(1)
    other = np.where(np.repeat(np.arange(30) % 3 == 0, 8), 1 - pred, pred)
    d = cluster_bootstrap_diff(y, pred, other, groups, seed=0)
    assert labs.check_grouped_interval(d["diff"], (d["ci_low"], d["ci_high"]), y, pred, groups,
                                       pred_b=other).ok
    half = (d["ci_high"] - d["ci_low"]) / 4
    assert not labs.check_grouped_interval(d["diff"], (d["diff"] - half, d["diff"] + half), y,
                                           pred, groups, pred_b=other).ok
    mean_of = lambda a, b: float(np.mean(a))
    per_image = np.random.default_rng(2).normal(0.1, 0.2, 240)
    from utils.metrics import cluster_bootstrap_ci
    ci = cluster_bootstrap_ci(per_image, per_image, groups, metric=mean_of, seed=0)
    assert labs.check_grouped_interval(per_image.mean(), ci, per_image, per_image, groups,
                                       metric=mean_of).ok


def test_check_fold_interval():
    from utils.metrics import corrected_resampled_ttest, paired_test
    a, b = np.array([0.80, 0.74, 0.78, 0.70, 0.77]), np.array([0.75, 0.73, 0.70, 0.71, 0.72])
    t = corrected_resampled_ttest(a, b, 80, 20)
    assert labs.check_fold_interval(t["mean_diff"], (t["ci_low"], t["ci_high"]), a, b, 80, 20).ok
    naive = paired_test(a, b)
    lo, hi = naive["ci_low"], naive["ci_high"]
    assert labs.check_in_interval(t["mean_diff"], (lo, hi)).ok
    msg = labs.check_fold_interval(t["mean_diff"], (lo, hi), a, b, 80, 20).message
    assert "corrected" in msg


def test_check_locked_apart():
    dev, test = splits.grouped_holdout(Y, GROUPS, 0.25, seed=0)
    folds = [(dev[tr], dev[te]) for tr, te in splits.grouped_kfold(Y[dev], GROUPS[dev], 2, seed=0)]
    assert labs.check_locked_apart(folds, test, GROUPS).ok
    leaky = [(np.r_[tr, test[:1]], te) for tr, te in folds]
    assert "locked test images" in labs.check_locked_apart(leaky, test, GROUPS).message
    partner = test[0] ^ 1                       # the near-duplicate of a locked image (pairs 2k, 2k+1)
    same_group = [(np.r_[np.setdiff1d(tr, [partner]), [partner]], te) for tr, te in folds]
    moved = np.setdiff1d(test, [partner])
    assert "groups" in labs.check_locked_apart(same_group, moved, GROUPS).message
    assert "No answer" in labs.check_locked_apart(..., test, GROUPS).message


def test_locked_test_records_what_it_scored():
    from types import SimpleNamespace
    from utils.checks import capstone as cap
    from utils.metrics import cluster_bootstrap_ci
    data = SimpleNamespace(X=np.zeros((len(Y), 2)), y=Y, groups=GROUPS)
    locked = cap.LockedTest(data)
    res = locked.evaluate(lambda X: np.ones(len(X), int))
    s = locked.scored
    assert (s["pred"] == 1).all() and (s["y"] == Y).all()
    assert labs.check_grouped_interval(res["accuracy"], res["accuracy_ci"], s["y"], s["pred"], s["groups"]).ok
    assert res["accuracy_ci"] == cluster_bootstrap_ci(Y, s["pred"], GROUPS, seed=0)


def test_check_grouped_interval_refuses_wilson_under_weak_clustering():
    """253 images in 209 groups (the brain set's shape): the Wilson and the cluster-bootstrap
    intervals nearly agree, yet the Wilson one is refused by name; the grouped one passes."""
    from utils.metrics import cluster_bootstrap_ci, wilson_ci
    rng = np.random.default_rng(3)
    groups = np.concatenate([np.arange(209), rng.choice(209, 44)])
    right = rng.random(209) < 0.75
    y = rng.integers(0, 2, 253)
    pred = np.where(right[groups], y, 1 - y)
    acc = float(np.mean(y == pred))
    wilson = wilson_ci(int(np.sum(y == pred)), len(y))
    refused = labs.check_grouped_interval(acc, wilson, y, pred, groups, "the accuracy")
    assert not refused.ok and "Wilson" in refused.message
    ci = cluster_bootstrap_ci(y, pred, groups, seed=0)
    assert labs.check_grouped_interval(acc, ci, y, pred, groups, "the accuracy").ok


def test_lab_clock_measures_from_its_start_and_refuses_unglueable_names(monkeypatch):
    import time as _time

    from utils.checks.labs import LabClock
    from utils import prose

    glued = {}
    monkeypatch.setattr(prose, "glue", lambda k, v, display=False: glued.__setitem__(k, v))
    clock = LabClock("lab_99")
    clock.started -= 2.5                      # as if the lab's first cell ran 2.5 s ago
    seconds = clock.report(quiet=True)
    assert 2.5 <= seconds < 10
    assert glued["lab_99_seconds"] == seconds and glued["lab_99_mode"] in ("quick", "full")
    _time.sleep(0.01)
    assert clock.report(quiet=True) > seconds  # a later read reports the longer time
    with pytest.raises(ValueError):
        LabClock("lab 08")
