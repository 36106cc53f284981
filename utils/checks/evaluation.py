"""Checks for the exercises of chapter 05, *Evaluating a classifier*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, parse_number, parse_pair, unanswered, wrong
from ..metrics import metrics_from_counts, wald_ci, wilson_ci

#: The confusion counts of exercise 1 (a screening model on 100 scans).
COUNTS = {"tp": 32, "fn": 8, "fp": 16, "tn": 44}
#: Exercise 2: correct answers out of test images.
WILSON_K, WILSON_N = 45, 60


def _close(a, b, tol=1e-3) -> bool:
    return abs(float(a) - float(b)) <= tol


def check_metrics(answer) -> Feedback:
    """Exercise 1: ``{"precision": ..., "recall": ..., "specificity": ...}`` from :data:`COUNTS`."""
    if is_unanswered(answer):
        return unanswered('a dict {"precision": ..., "recall": ..., "specificity": ...}')
    if not isinstance(answer, dict):
        return wrong(f"expected a dict with keys precision, recall, specificity; got "
                     f"{type(answer).__name__}.")
    missing = [k for k in ("precision", "recall", "specificity") if k not in answer]
    if missing:
        return wrong(f"the dict lacks {missing}.")
    try:
        got = {k: float(answer[k]) for k in ("precision", "recall", "specificity")}
    except (TypeError, ValueError):
        return wrong("the values must be numbers (fractions between 0 and 1).")
    if any(v > 1 for v in got.values()):
        return wrong("give the metrics as fractions between 0 and 1, not percentages.")
    m = metrics_from_counts(**COUNTS)
    c = COUNTS
    problems = []
    if _close(got["precision"], m["recall"]) and _close(got["recall"], m["precision"]):
        return wrong("precision and recall are swapped: precision = TP / (TP + FP) (how many "
                     "'yes' predictions are right), recall = TP / (TP + FN) (how many tumours "
                     "are found).")
    if not _close(got["precision"], m["precision"]):
        problems.append("precision is TP / (TP + FP): of all predicted positives, the true ones")
    if not _close(got["recall"], m["recall"]):
        problems.append("recall (sensitivity) is TP / (TP + FN): of all real positives, the found ones")
    if not _close(got["specificity"], m["specificity"]):
        npv = c["tn"] / (c["tn"] + c["fn"])
        if _close(got["specificity"], npv):
            problems.append("TN / (TN + FN) is the negative predictive value; specificity is "
                            "TN / (TN + FP): of all real negatives, those predicted negative")
        elif _close(got["specificity"], 1 - m["specificity"]):
            problems.append("that is the false positive rate FP / (FP + TN); specificity is "
                            "1 minus it")
        else:
            problems.append("specificity is TN / (TN + FP): of all real negatives, the ones "
                            "predicted negative")
    if problems:
        return wrong("; ".join(problems) + ".")
    return correct(f"precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                   f"specificity {m['specificity']:.3f}.")


def check_wilson(answer) -> Feedback:
    """Exercise 2: the 95 % Wilson interval ``(low, high)`` for 45 correct out of 60."""
    pair = parse_pair(answer, fractions=True)
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    exp = wilson_ci(WILSON_K, WILSON_N)
    if _close(lo, exp[1]) and _close(hi, exp[0]):
        return wrong("the bounds are in the wrong order: (low, high).")
    if _close(lo, exp[0]) and _close(hi, exp[1]):
        return correct(f"({exp[0]:.3f}, {exp[1]:.3f}): a 75 % accuracy on 60 images is "
                       "compatible with anything from about 63 % to 84 %.")
    wald = wald_ci(WILSON_K, WILSON_N)
    if _close(lo, wald[0]) and _close(hi, wald[1]):
        return wrong("that is the Wald interval p +- z sqrt(p(1-p)/n), symmetric around p. The "
                     "Wilson interval is centred at (p + z^2/2n) / (1 + z^2/n); use "
                     "metrics.wilson_ci or its formula.")
    for conf in (0.90, 0.99):
        other = wilson_ci(WILSON_K, WILSON_N, conf)
        if _close(lo, other[0]) and _close(hi, other[1]):
            return wrong(f"that is the {conf:.0%} interval; the exercise asks for 95 % (z = 1.96).")
    return wrong(f"({lo:.3f}, {hi:.3f}) is not the 95 % Wilson interval of 45/60.")


def check_majority_baseline(answer, y_test) -> Feedback:
    """Exercise 3: accuracy of always predicting the majority class on ``y_test``."""
    value = parse_number(answer, what="a number between 0 and 1")
    if isinstance(value, Feedback):
        return value
    share = float(np.mean(np.asarray(y_test) == 1))
    expected = max(share, 1 - share)
    if value > 1:
        return wrong("give the accuracy as a fraction between 0 and 1, not a percentage.")
    if _close(value, expected):
        return correct(f"{expected:.3f}: any model must beat this number to be of use.")
    if _close(value, 1 - expected):
        return wrong("that is the share of the minority class; always answering the majority "
                     "class is right for every majority-class image.")
    if _close(value, 0.5):
        return wrong("0.5 would hold for balanced classes; count the classes of y_test.")
    return wrong(f"{value:g} is not right: what share of y_test belongs to the larger class?")


def check_grouped_split(answer, groups) -> Feedback:
    """Exercise 4: a train/test split ``(train_idx, test_idx)`` with no group on both sides."""
    if is_unanswered(answer):
        return unanswered("a pair (train_idx, test_idx)")
    try:
        train_idx, test_idx = answer
    except (TypeError, ValueError):
        return wrong("expected a pair of index arrays (train_idx, test_idx).")
    if train_idx is Ellipsis or test_idx is Ellipsis:
        return unanswered("a pair (train_idx, test_idx)")
    try:
        tr = np.asarray(train_idx, dtype=int).ravel()
        te = np.asarray(test_idx, dtype=int).ravel()
    except (TypeError, ValueError):
        return wrong("expected a pair of index arrays (train_idx, test_idx).")
    groups = np.asarray(groups)
    n = len(groups)
    if tr.size == 0 or te.size == 0:
        return wrong("both the training and the test part need images.")
    if tr.max() >= n or te.max() >= n or tr.min() < 0 or te.min() < 0:
        return wrong(f"indices must lie between 0 and {n - 1}.")
    overlap = set(tr) & set(te)
    if overlap:
        return wrong(f"{len(overlap)} images are in both parts; a split must be disjoint.")
    straddle = len(set(groups[tr]) & set(groups[te]))
    if straddle:
        return wrong(f"{straddle} duplicate groups have images on both sides (a random split "
                     "ignores them); split by group, e.g. splits.grouped_holdout(y, groups).")
    share = te.size / (tr.size + te.size)
    if not 0.1 <= share <= 0.35:
        return wrong(f"the test part holds {share:.0%} of the images; aim for about 20 %.")
    if tr.size + te.size < n:
        return wrong(f"{n - tr.size - te.size} images are in neither part; use all of them.")
    return correct(f"{te.size} test images, no duplicate group on both sides.")
