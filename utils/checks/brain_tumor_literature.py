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


def check_paper_interval(answer) -> Feedback:
    """Exercise 2: 95 % Wilson interval (low, high) of the paper's ResNet50 (47 of 51 correct)."""
    pair = parse_pair(answer, fractions=True)
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    want = L.wilson_ci(K_RESNET, N_TEST)
    if np.allclose([lo, hi], want, atol=2e-3):
        return correct(f"({want[0]:.3f}, {want[1]:.3f}): 92 % on 51 images is compatible with anything "
                       "from about 82 % to 97 %.")
    p = K_RESNET / N_TEST
    half = 1.959964 * np.sqrt(p * (1 - p) / N_TEST)
    if np.allclose([lo, hi], [p - half, p + half], atol=2e-3):
        return wrong("that is the Wald interval p +- z*sqrt(p(1-p)/n); use the Wilson score interval "
                     "(L.wilson_ci), which is not centred on p.")
    if np.allclose([lo, hi], L.wilson_ci(K_CNN, N_TEST), atol=2e-3):
        return wrong("that is the interval of the CNN (78 % = 40/51); the ResNet50 had 92 % = 47/51.")
    if np.allclose([lo, hi], L.wilson_ci(K_RESNET, N_TEST, 0.90), atol=2e-3):
        return wrong("that is a 90 % interval; use confidence=0.95.")
    if np.allclose([lo, hi], L.wilson_ci(K_RESNET, 253), atol=2e-3):
        return wrong("n is the number of *test* images (51), not the whole data set (253).")
    return wrong(f"({lo:.3f}, {hi:.3f}) is not right: k = 47 correct of n = 51 test images.")


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
