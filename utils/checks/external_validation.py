"""Checks for the exercises of chapter 13, *Will it work elsewhere? External validation*."""
from __future__ import annotations

import numpy as np

from ..calibration import brier, predictive_values, threshold_for_sensitivity
from ..exercises import Feedback, check_number, parse_number, wrong

_rng = np.random.default_rng(13)
#: Exercise 1: labels and predicted probabilities of ten external images.
Y_EX = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P_EX = np.array([0.95, 0.80, 0.60, 0.30, 0.90, 0.40, 0.20, 0.10, 0.05, 0.70])
#: Exercise 2: out-of-fold (development) predictions, and an external test set's.
Y_DEV = (_rng.random(200) < 0.6).astype(int)
P_DEV = np.clip(0.25 + 0.5 * Y_DEV + _rng.normal(0, 0.2, 200), 0, 1)
Y_TEST = (_rng.random(120) < 0.5).astype(int)
P_TEST = np.clip(0.3 + 0.35 * Y_TEST + _rng.normal(0, 0.25, 120), 0, 1)
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


def check_threshold(answer) -> Feedback:
    """Exercise 2: the highest threshold with sensitivity >= 0.9 on the development data."""
    value = parse_number(answer, "a threshold")
    if isinstance(value, Feedback):
        return value
    if abs(value - threshold_for_sensitivity(Y_TEST, P_TEST, 0.9)) < 1e-9:
        return wrong("that threshold was chosen on the test set: its sensitivity there is no "
                     "longer an honest estimate. Choose it on Y_DEV, P_DEV.")
    if abs(value - 0.5) < 1e-9:
        return wrong("0.5 is a convention, not a choice for a target sensitivity.")
    return check_number(value, threshold_for_sensitivity(Y_DEV, P_DEV, 0.9), rtol=0, atol=1e-9,
                        what="a threshold")


def check_ppv(answer) -> Feedback:
    """Exercise 3: the PPV at SENS, SPEC and PREVALENCE."""
    expected = float(predictive_values(SENS, SPEC, PREVALENCE)["ppv"])
    hints = {SENS: "that is the sensitivity: the share of tumours found, not the share of "
                   "alarms that are tumours.",
             float(predictive_values(SENS, SPEC, 0.5)["ppv"]): "that is the PPV at a prevalence "
                                                              "of 50 %, as in a balanced test set.",
             float(predictive_values(SENS, SPEC, PREVALENCE)["npv"]): "that is the NPV."}
    return check_number(answer, expected, rtol=1e-3, atol=1e-6, hints=hints, what="a PPV")
