"""Checks for the exercises of chapter 09, *Transfer learning for brain tumour MRI*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, check_number, correct, parse_number, parse_pair, wrong
from ..metrics import wald_ci, wilson_ci

#: Exercise 2: fold accuracies of two models on the same five folds.
FOLD_ACC_A = (0.88, 0.84, 0.90, 0.86, 0.92)
FOLD_ACC_B = (0.82, 0.80, 0.86, 0.84, 0.84)
#: Exercise 3: discordant out-of-fold predictions (A wrong & B right, A right & B wrong).
DISCORDANT = (7, 19)


def check_paper_ci(answer) -> Feedback:
    """Exercise 1: Wilson 95 % interval of the paper's ResNet50 accuracy, 47 of 51 test images."""
    pair = parse_pair(answer, fractions=True)
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    exp = wilson_ci(47, 51)
    if np.allclose((lo, hi), exp, atol=0.003):
        return correct(f"({exp[0]:.3f}, {exp[1]:.3f}): with 51 test images '92 %' is compatible "
                       "with anything from about 81 % to 97 %.")
    if np.allclose((lo, hi), wald_ci(47, 51), atol=0.003):
        return wrong("that is the Wald interval p +- 1.96 sqrt(p(1-p)/n); use the Wilson score "
                     "interval (utils.metrics.wilson_ci), which behaves near 100 %.")
    if np.allclose((lo, hi), wilson_ci(round(0.92 * 253), 253), atol=0.003):
        return wrong("the paper tested on one 20 % split (51 images), not on all 253.")
    return wrong("not the Wilson interval of 47 correct out of 51; check k and n.")


def check_paired_p(answer) -> Feedback:
    """Exercise 2: two-sided p-value of the paired t-test of FOLD_ACC_A vs FOLD_ACC_B."""
    from scipy import stats

    expected = float(stats.ttest_rel(FOLD_ACC_A, FOLD_ACC_B).pvalue)
    unpaired = float(stats.ttest_ind(FOLD_ACC_A, FOLD_ACC_B).pvalue)
    one_sided = expected / 2
    hints = {unpaired: "that is the unpaired (independent samples) t-test; the folds are the "
                       "same for both models, so test the per-fold differences (ttest_rel).",
             one_sided: "that is one-sided; report the two-sided p-value."}
    return check_number(answer, expected, rtol=1e-3, atol=1e-6, hints=hints, what="a p-value")


def check_mcnemar_p(answer) -> Feedback:
    """Exercise 3: exact two-sided McNemar p-value for the discordant counts DISCORDANT."""
    from scipy import stats

    b, c = DISCORDANT
    expected = float(stats.binomtest(b, b + c, 0.5).pvalue)
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)
    hints = {expected / 2: "that is one-sided; double it (or use binomtest's two-sided default).",
             float(stats.chi2.sf(chi2, 1)): "that is the chi-square approximation; with 26 "
                                            "discordant images use the exact binomial test.",
             float(stats.chi2.sf((b - c) ** 2 / (b + c), 1)): "that is the chi-square "
                                                              "approximation without continuity "
                                                              "correction; use the exact test."}
    value = parse_number(answer, what="a p-value")
    if isinstance(value, Feedback):
        return value
    if value > 1:
        return wrong("a p-value lies between 0 and 1; did you give a test statistic?")
    return check_number(value, expected, rtol=1e-3, atol=1e-6, hints=hints, what="a p-value")
