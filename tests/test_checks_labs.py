"""The labs' checks (utils.checks.labs): a right answer passes, typical wrong ones explain."""
from __future__ import annotations

import numpy as np

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
