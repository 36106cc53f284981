"""Checks for the exercises of chapter 12, *COVID-19 on chest X-rays: a classifier and its
shortcuts*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, parse_number, unanswered, wrong

CLASSES = ("covid", "normal", "viral_pneumonia")
#: Exercise 1: a 3-class confusion matrix, rows = true class, columns = predicted class.
CONFUSION = np.array([[50, 6, 4],
                      [3, 30, 7],
                      [2, 18, 20]])


def expected_recall() -> dict:
    """Per-class recall of :data:`CONFUSION`: the diagonal over the row sums."""
    return {c: float(CONFUSION[i, i] / CONFUSION[i].sum()) for i, c in enumerate(CLASSES)}


def _as_dict(answer):
    if isinstance(answer, dict):
        return {str(k): answer[k] for k in answer}
    try:
        values = list(answer)
    except TypeError:
        return None
    return dict(zip(CLASSES, values)) if len(values) == len(CLASSES) else None


def check_recall(answer) -> Feedback:
    """Exercise 1: ``{"covid": ..., "normal": ..., "viral_pneumonia": ...}`` recalls."""
    if is_unanswered(answer):
        return unanswered('a dict {"covid": ..., "normal": ..., "viral_pneumonia": ...}')
    got = _as_dict(answer)
    if got is None or set(got) != set(CLASSES):
        return wrong(f"expected a dict with the keys {list(CLASSES)} (or three numbers in that "
                     "order).")
    try:
        got = {k: float(v) for k, v in got.items()}
    except (TypeError, ValueError):
        return wrong("the recalls must be numbers between 0 and 1.")
    if any(v > 1 for v in got.values()):
        return wrong("give recalls as fractions between 0 and 1, not percentages.")
    exp = expected_recall()
    if all(abs(got[c] - exp[c]) < 1e-3 for c in CLASSES):
        return correct("recall = diagonal / row sum: "
                       + ", ".join(f"{c} {exp[c]:.2f}" for c in CLASSES)
                       + ". Viral pneumonia is often called normal; COVID is the easy class.")
    precision = {c: CONFUSION[i, i] / CONFUSION[:, i].sum() for i, c in enumerate(CLASSES)}
    if all(abs(got[c] - precision[c]) < 1e-3 for c in CLASSES):
        return wrong("those are the precisions (diagonal / column sum). Recall divides by the row "
                     "sum: of the images that truly are class c, how many were called c?")
    total = CONFUSION.sum()
    if all(abs(got[c] - CONFUSION[i, i] / total) < 1e-3 for i, c in enumerate(CLASSES)):
        return wrong("you divided by all images; recall divides by the images of that class "
                     "(the row sum).")
    bad = [c for c in CLASSES if abs(got[c] - exp[c]) >= 1e-3]
    return wrong(f"not right for {bad}: rows are true classes, columns predicted ones.")


def check_patient_split(answer, groups) -> Feedback:
    """Exercise 2: ``(train_idx, test_idx)`` covering every image once, no patient on both
    sides, with 15-35 % of the images in test."""
    from ..splits import straddling_groups

    if is_unanswered(answer):
        return unanswered("a pair (train_idx, test_idx)")
    try:
        train_idx, test_idx = (np.asarray(a, dtype=int).ravel() for a in answer)
    except (TypeError, ValueError):
        return wrong("expected a pair of integer index arrays (train_idx, test_idx).")
    groups = np.asarray(groups)
    n = len(groups)
    if set(train_idx) & set(test_idx):
        return wrong(f"{len(set(train_idx) & set(test_idx))} images are in both train and test.")
    if len(train_idx) + len(test_idx) != n or len(set(train_idx) | set(test_idx)) != n:
        return wrong(f"train and test together must hold each of the {n} images exactly once.")
    share = len(test_idx) / n
    if not 0.15 <= share <= 0.35:
        return wrong(f"the test set holds {share:.0%} of the images; aim for about 20 %.")
    straddle = straddling_groups(train_idx, test_idx, groups)
    if straddle:
        return wrong(f"{straddle} patients have images on both sides: a random split of images "
                     "is not a split of patients. Use utils.splits.grouped_holdout(y, groups).")
    return correct(f"{len(test_idx)} test images, no patient on both sides.")


def size_rule_accuracy(table) -> float:
    """Accuracy of the rule 'an image of exactly 512x512 is not COVID, any other is COVID'."""
    w = table["width"].astype(int).to_numpy()
    h = table["height"].astype(int).to_numpy()
    says_not_covid = (w == 512) & (h == 512)
    return float(np.mean(says_not_covid == (table["cls"].to_numpy() != "covid")))


def check_size_rule(answer, table) -> Feedback:
    """Exercise 3: the accuracy of the one-line rule of :func:`size_rule_accuracy`."""
    value = parse_number(answer, what="a number between 0 and 1")
    if isinstance(value, Feedback):
        return value
    if value > 1:
        return wrong("give the accuracy as a fraction between 0 and 1, not a percentage.")
    exp = size_rule_accuracy(table)
    if abs(value - exp) < 1e-3:
        return correct(f"{exp:.3f}: one line of code that never looks at a lung separates COVID "
                       "from the other classes almost perfectly.")
    w = table["width"].astype(int).to_numpy()
    h = table["height"].astype(int).to_numpy()
    share_512 = float(np.mean((w == 512) & (h == 512)))
    if abs(value - share_512) < 1e-3:
        return wrong("that is the share of 512x512 images; compare the rule's answer with the "
                     "true class for each image and count the agreements.")
    if abs(value - (1 - exp)) < 1e-3:
        return wrong("that is the error rate (the rule reversed): 512x512 means 'not COVID'.")
    covid_share = float(np.mean(table["cls"].to_numpy() == "covid"))
    if abs(value - max(covid_share, 1 - covid_share)) < 1e-3:
        return wrong("that is the majority-class baseline; apply the size rule to each image.")
    return wrong(f"{value:.3f} is not it: rule = (width == 512) & (height == 512) means "
                 "'not COVID'; accuracy = mean(rule == (cls != 'covid')).")
