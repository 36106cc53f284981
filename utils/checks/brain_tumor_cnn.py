"""Checks of the exercises of the chapter *A CNN for brain tumours* (``08_brain_tumor_cnn``)."""
from __future__ import annotations

import math

import numpy as np

from ..calibration import threshold_for_sensitivity
from ..exercises import Feedback, check_number, correct, parse_number, parse_pair, wrong

# Exercise 1: parameters of the paper's CNN when layer 4 uses the text's 4x4 kernel.
PARAMS_TEXT_4X4 = 36849
PARAMS_CODE_3X3 = 34145
DENSE_4X4 = 27 * 27 * 16 + 1

# Exercise 2: five fold accuracies and the 95 % t-interval of their mean.
FOLD_ACCURACIES = (0.72, 0.65, 0.80, 0.76, 0.70)

# Exercise 3: the paper's protocol with seed 0 (train_test_split(test_size=0.2, random_state=0)).
LEAK_SEED = 0


def check_param_count(answer) -> Feedback:
    """Exercise 1: number of trainable parameters of ``paper_cnn(fourth_kernel=4)`` at 128 px."""
    hints = {
        PARAMS_CODE_3X3: "that is the count of the code's version (3x3 fourth kernel); build "
                         "`experiments.paper_cnn(fourth_kernel=4)` instead.",
        DENSE_4X4: "that is only the output layer (Flatten has 27*27*16 inputs); count the "
                   "convolutions too: `model.count_params()`.",
        PARAMS_TEXT_4X4 - 1 - 32 - 16 - 32 - 16: "you left out the biases (one per filter and "
                                                  "one for the output unit).",
    }
    return check_number(answer, PARAMS_TEXT_4X4, rtol=0, atol=0.5, hints=hints,
                        what="an integer (the parameter count)")


def _t_ci(values, z=None, ddof=1, sem=True):
    v = np.asarray(values, dtype=float)
    from scipy import stats

    n = len(v)
    crit = stats.t.ppf(0.975, n - 1) if z is None else z
    spread = v.std(ddof=ddof) / (math.sqrt(n) if sem else 1.0)
    return (v.mean() - crit * spread, v.mean() + crit * spread)


def expected_fold_ci():
    """The right answer of exercise 2: (low, high)."""
    return _t_ci(FOLD_ACCURACIES)


def check_fold_ci(answer) -> Feedback:
    """Exercise 2: ``(low, high)`` of the t-based 95 % CI of the mean of FOLD_ACCURACIES."""
    pair = parse_pair(answer)
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    if lo > hi:
        lo, hi = hi, lo

    def near(ci):
        return abs(lo - ci[0]) < 5e-4 and abs(hi - ci[1]) < 5e-4

    if near(expected_fold_ci()):
        return correct("With five folds the t quantile (2.78) is much larger than 1.96.")
    if near(_t_ci(FOLD_ACCURACIES, z=1.959964)):
        return wrong("you used the normal quantile 1.96; with n = 5 folds use Student's t "
                     "with n - 1 = 4 degrees of freedom (`scipy.stats.t.ppf(0.975, 4)`).")
    if near(_t_ci(FOLD_ACCURACIES, ddof=0)):
        return wrong("use the sample standard deviation (`ddof=1`), not the population one.")
    if near(_t_ci(FOLD_ACCURACIES, sem=False)):
        return wrong("that interval uses the SD itself; the CI of the *mean* uses the standard "
                     "error SD / sqrt(n).")
    return wrong("not the t-based 95 % interval: mean +/- t(0.975, n-1) * SD / sqrt(n).")


def expected_leaked_test_images(seed: int = LEAK_SEED) -> int:
    """The right answer of exercise 3 (needs the data)."""
    from .. import datasets, experiments

    table = datasets.brain_mri_table()
    groups = table["near_group"].to_numpy()
    train, test = experiments.paper_split(len(table), seed)
    return int(np.isin(groups[test], groups[train]).sum())


def check_leaked_test_images(answer) -> Feedback:
    """Exercise 3: test images of the seed-0 paper split that have a near-duplicate in train."""
    value = parse_number(answer, what="an integer (a number of test images)")
    if isinstance(value, Feedback):
        return value
    expected = expected_leaked_test_images()
    if value == expected:
        return correct(f"{expected} of the 51 test images have a copy in the training set.")
    from .. import datasets, experiments, splits

    table = datasets.brain_mri_table()
    train, test = experiments.paper_split(len(table), LEAK_SEED)
    exact = table["exact_group"].to_numpy()
    if value == int(np.isin(exact[test], exact[train]).sum()) and value != expected:
        return wrong("you counted exact (byte-identical) copies only; use `near_group`, which "
                     "also links resized and re-encoded copies.")
    if value == splits.straddling_groups(train, test, table["near_group"]) and value != expected:
        return wrong("that is the number of *groups* on both sides; count the *test images* "
                     "whose group also occurs in the training part.")
    if value == len(test):
        return wrong("that is the size of the test set; keep only the test images whose "
                     "`near_group` also occurs among the training images.")
    return wrong("not quite: split with `experiments.paper_split(253, seed=0)` and count test "
                 "images whose `near_group` is in the training part (`np.isin`).")


#: Exercise 4: pooled out-of-fold probabilities of "tumour" on development folds (made up,
#: seeded) and their labels (1 = tumour).
_rng = np.random.default_rng(8)
DEV_Y = np.array([1] * 30 + [0] * 20)
DEV_PROB = np.round(np.clip(np.where(DEV_Y == 1, _rng.normal(0.70, 0.18, 50),
                                     _rng.normal(0.35, 0.18, 50)), 0.01, 0.99), 3)
TARGET_SENSITIVITY = 0.90


def sensitivity_threshold(prob=None, y=None, target: float = TARGET_SENSITIVITY) -> float:
    """The highest threshold t (one of the probabilities) at which "tumour if prob >= t" finds
    at least ``target`` of the tumours: :func:`utils.calibration.threshold_for_sensitivity` on
    the exercise's development predictions (the one helper, not a copy of it)."""
    prob = DEV_PROB if prob is None else np.asarray(prob)
    y = DEV_Y if y is None else np.asarray(y)
    return threshold_for_sensitivity(y, prob, target)


def _rates(t: float):
    pred = DEV_PROB >= t
    return pred[DEV_Y == 1].mean(), (~pred)[DEV_Y == 0].mean()


def check_sensitivity_threshold(answer) -> Feedback:
    """Exercise 4: the highest threshold with sensitivity >= 0.90 on the development predictions."""
    t = parse_number(answer, "a threshold between 0 and 1")
    if isinstance(t, Feedback):
        return t
    want = sensitivity_threshold()
    sens, spec = _rates(t)
    if math.isclose(t, want, abs_tol=1e-9):
        return correct(f"t = {want:.3f}: sensitivity {sens:.2f}, specificity {spec:.2f} on the "
                       "development folds; the test set then gets this threshold, unchanged.")
    if sens < TARGET_SENSITIVITY:
        return wrong(f"at t = {t:g} the model finds only {sens:.0%} of the tumours; lower the "
                     "threshold.")
    return wrong(f"at t = {t:g} the sensitivity is {sens:.0%} (the target is met) but a higher "
                 f"threshold also meets it and keeps more specificity ({spec:.0%} here): take the "
                 "highest one among the probabilities.")


