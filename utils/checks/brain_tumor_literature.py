"""Exercise checks of chapter 07, *Brain tumour literature* (the paper's Fig. 10)."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, check_number, correct, is_unanswered, parse_pair, unanswered, wrong
from .. import literature as L

#: The paper's test set: 20 % of 253 images (rounded up) and the counts behind 78 % / 92 %.
N_TEST = 51
K_CNN, K_RESNET = 40, 47


def _prager_inception():
    df = L.load_table("brain_tumor_classification")
    row = df[(df["study"] == "Prager et al.") & (df["method_family"] == "transfer learning")].iloc[0]
    return float(row["accuracy"]), float(row["sensitivity"]), float(row["specificity"])


def check_implied_prevalence(answer) -> Feedback:
    """Exercise 1: share of HGG (positive) cases implied by Prager et al.'s Inception row."""
    acc, sens, spec = _prager_inception()
    p = L.implied_prevalence(acc, sens, spec)
    return check_number(answer, p, atol=2e-3, rtol=0, what="a share between 0 and 1", hints={
        1 - p: "that is the share of negatives (LGG): solve acc = p * sens + (1 - p) * spec for p, "
               "the weight of the sensitivity.",
        (acc - sens) / (spec - sens) * 100: "give a fraction, not a percentage.",
        p * 100: "give a fraction, not a percentage.",
        (sens + spec) / 2: "that is balanced accuracy, not the share of positives.",
    })


#: Exercise 2: the accuracy and the largest 95 % interval width a test set should allow.
PLANNED_ACCURACY, MAX_WIDTH = 0.92, 0.10


def _wilson_width(n: int, p: float = PLANNED_ACCURACY) -> float:
    lo, hi = L.wilson_ci(p * n, n)
    return hi - lo


def needed_test_size(p: float = PLANNED_ACCURACY, width: float = MAX_WIDTH) -> int:
    """The smallest test set whose 95 % Wilson interval around an accuracy ``p`` is at most
    ``width`` wide (``k = p n`` correct, not rounded)."""
    return next(n for n in range(2, 100_000) if _wilson_width(n, p) <= width)


def check_test_size(answer) -> Feedback:
    """Exercise 2: how many test images a 92 % accuracy needs for a 95 % Wilson interval at most
    0.10 wide (the paper had 51)."""
    want = needed_test_size()
    p, z = PLANNED_ACCURACY, 1.959964
    wald = int(np.ceil((2 * z) ** 2 * p * (1 - p) / MAX_WIDTH ** 2))
    hints = {N_TEST: f"51 is the paper's test set; its interval is {_wilson_width(N_TEST):.3f} wide, "
                     "wider than 0.10.",
             wald: "that n makes the *Wald* interval 0.10 wide; the Wilson interval is a little "
                   "wider near 100 %, so it needs a few more images.",
             want - 1: f"one short: at n = {want - 1} the interval is {_wilson_width(want - 1):.4f} wide."}
    fb = check_number(answer, want, rtol=0, atol=0.5, hints=hints, what="a number of test images")
    if fb.ok:
        return correct(f"{want} test images, {want / N_TEST:.1f} times the paper's 51; its 92 % "
                       f"came with an interval {_wilson_width(N_TEST):.2f} wide.")
    return fb


def impossible_row_ids() -> set[int]:
    df = L.load_table("brain_tumor_classification")
    flags = L.accuracy_consistency(df)
    return set(int(i) for i in df.loc[flags["status"] == "impossible", "row_id"])


def check_impossible_rows(answer) -> Feedback:
    """Exercise 3: ``row_id`` values of the rows whose accuracy is outside [min(sens, spec), max(sens, spec)]."""
    if is_unanswered(answer):
        return unanswered("a list or set of row_id values")
    try:
        got = set(int(v) for v in np.asarray(list(answer)).ravel())
    except (TypeError, ValueError):
        return wrong("give the row_id values as integers, e.g. [1, 2].")
    want = impossible_row_ids()
    if got == want:
        return correct(f"rows {sorted(want)}: Ge et al., Prager et al. (3D CNN) and He et al. (TCCA).")
    df = L.load_table("brain_tumor_classification")
    flags = L.accuracy_consistency(df)
    above = set(int(i) for i in df.loc[(flags["status"] == "impossible") & (df["accuracy"] > flags["acc_max"]),
                                       "row_id"])
    if got == above:
        return wrong("you only looked for accuracies above the range; one row reports an accuracy "
                     "below both its sensitivity and its specificity.")
    unknown = set(int(i) for i in df.loc[df["specificity"].isna(), "row_id"])
    if got & unknown:
        return wrong(f"rows {sorted(got & unknown)} state no specificity: they cannot be checked, so they "
                     "cannot be flagged either.")
    if got < want:
        return wrong(f"{len(got)} of the {len(want)} rows are right; check every row with all three values.")
    return wrong("not the right rows: compare accuracy with min(sensitivity, specificity) and "
                 "max(sensitivity, specificity), allowing half a point for rounding.")
