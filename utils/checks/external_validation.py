"""Checks for the exercises of chapter 13, *Will it work elsewhere? External validation*."""
from __future__ import annotations

import numpy as np

from ..calibration import apply_temperature, brier, predictive_values
from ..exercises import Feedback, check_number, correct, is_unanswered, unanswered, wrong

_rng = np.random.default_rng(13)
#: Exercise 1: labels and predicted probabilities of ten external images.
Y_EX = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P_EX = np.array([0.95, 0.80, 0.60, 0.30, 0.90, 0.40, 0.20, 0.10, 0.05, 0.70])
#: Exercise 2: predictions of a model on 60 healthy slices, with each slice's view.
VIEWS = np.repeat(["axial", "coronal", "sagittal"], 20)
P_HEALTHY = np.clip(np.concatenate([_rng.normal(0.2, 0.15, 20), _rng.normal(0.55, 0.2, 20),
                                    _rng.normal(0.75, 0.15, 20)]), 0, 1)
#: Exercise 4: out-of-fold probabilities and a temperature fitted on them.
P_OOF = np.array([0.02, 0.10, 0.35, 0.60, 0.92, 0.99])
TEMPERATURE = 1.8
#: Exercise 3: an operating point and the prevalence of tumours where the model would be used.
SENS, SPEC, PREVALENCE = 0.95, 0.90, 0.01


def check_brier(answer) -> Feedback:
    """Exercise 1: the Brier score of P_EX for Y_EX."""
    hints = {float(np.mean(np.abs(P_EX - Y_EX))): "that is the mean absolute error; square "
                                                  "the differences.",
             float(np.sqrt(np.mean((P_EX - Y_EX) ** 2))): "that is the root of the Brier "
                                                          "score; leave out the square root.",
             1 - brier(Y_EX, P_EX): "that is one minus the Brier score; lower is better."}
    return check_number(answer, brier(Y_EX, P_EX), rtol=1e-4, atol=1e-6, hints=hints,
                        what="a Brier score")


def _spec_by_view(threshold=0.5):
    return {v: float(np.mean(P_HEALTHY[VIEWS == v] < threshold)) for v in sorted(set(VIEWS))}


def check_specificity_by_view(answer) -> Feedback:
    """Exercise 2: the specificity at 0.5 of P_HEALTHY in each view, as a dict."""
    if is_unanswered(answer):
        return unanswered("a dict {view: specificity}")
    if not isinstance(answer, dict):
        return wrong("give a dict {view: specificity}, e.g. {'axial': 0.9, ...}.")
    expected = _spec_by_view()
    if set(answer) != set(expected):
        return wrong(f"give one entry per view: {sorted(expected)}.")
    flipped = {v: 1 - x for v, x in expected.items()}
    if all(abs(float(answer[v]) - flipped[v]) < 1e-9 for v in expected):
        return wrong("these are the shares called tumour (false-positive rates); the "
                     "specificity is the share of healthy slices called healthy.")
    overall = float(np.mean(P_HEALTHY < 0.5))
    if all(abs(float(answer[v]) - overall) < 1e-9 for v in expected):
        return wrong("that is the specificity over all slices; compute it within each view.")
    for v, x in expected.items():
        if abs(float(answer[v]) - x) > 1e-9:
            return wrong(f"the {v} specificity is not right: count the slices of that view "
                         "with a probability below 0.5 and divide by that view's slices.")
    return correct("the same model, the same threshold, and the specificity "
                          f"goes from {max(expected.values()):.2f} to {min(expected.values()):.2f} "
                          "with the view alone.")


def check_ppv(answer) -> Feedback:
    """Exercise 3: the PPV at SENS, SPEC and PREVALENCE."""
    expected = float(predictive_values(SENS, SPEC, PREVALENCE)["ppv"])
    hints = {SENS: "that is the sensitivity: the share of tumours found, not the share of "
                   "alarms that are tumours.",
             float(predictive_values(SENS, SPEC, 0.5)["ppv"]): "that is the PPV at a prevalence "
                                                              "of 50 %, as in a balanced test set.",
             float(predictive_values(SENS, SPEC, PREVALENCE)["npv"]): "that is the NPV."}
    return check_number(answer, expected, rtol=1e-3, atol=1e-6, hints=hints, what="a PPV")


def check_temperature(answer) -> Feedback:
    """Exercise 4: P_OOF scaled by TEMPERATURE (sigmoid(logit(p) / T))."""
    if is_unanswered(answer):
        return unanswered("the six scaled probabilities")
    try:
        a = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        return wrong("give an array of six probabilities.")
    if a.shape != P_OOF.shape:
        return wrong(f"give one scaled probability per entry of P_OOF ({len(P_OOF)}).")
    expected = apply_temperature(P_OOF, TEMPERATURE)
    if np.allclose(a, np.clip(P_OOF / TEMPERATURE, 0, 1), atol=1e-6):
        return wrong("the probability itself is not divided by T: its logit is, "
                     "log(p / (1 - p)) / T, then back through the sigmoid.")
    if np.allclose(a, apply_temperature(P_OOF, 1 / TEMPERATURE), atol=1e-6):
        return wrong("that multiplies the logit by T (sharper); scaling divides it.")
    if not np.allclose(a, expected, atol=1e-6):
        return wrong("not yet: sigmoid(logit(p) / T) for each p.")
    return correct("the probabilities move towards 0.5, their order (hence the "
                          "AUC) and the decision at 0.5 stay.")


def check_chosen_on_dev(looked_at, dev, test) -> Feedback:
    """Lab: the external images a choice looked at (``looked_at``, indices into the external
    set) are external-dev images only, and some of them."""
    if is_unanswered(looked_at):
        return unanswered("the indices of the external images your choice looked at")
    try:
        idx = np.asarray(looked_at, dtype=int).ravel()
    except (TypeError, ValueError):
        return wrong("give the indices (integers) of the external images your choice used.")
    leaked = np.intersect1d(idx, np.asarray(test))
    if len(leaked):
        return wrong(f"{len(leaked)} of these images are external-test images: a choice made "
                     "on them turns the test figure into an optimistic one. Choose on dev only.")
    outside = np.setdiff1d(idx, np.asarray(dev))
    if len(outside):
        return wrong(f"{len(outside)} indices are not external-dev images.")
    if len(np.unique(idx)) < len(np.unique(dev)) // 2:
        return wrong("that is less than half of external-dev: compare on all of it (a part "
                     "gives a noisier choice).")
    return correct("the choice looked at external-dev images only.")
