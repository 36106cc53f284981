"""The capstone's checks (utils.checks.capstone): the locked test set and the model card."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from utils.checks import capstone as cap

DATA = SimpleNamespace(X=np.arange(40).reshape(40, 1) / 40, y=np.array([0] * 20 + [1] * 20),
                       groups=np.repeat(np.arange(20), 2))


def test_locked_test_scores_once_and_refuses_a_second_look():
    test = cap.LockedTest(DATA)
    assert "not been scored" in cap.check_locked_once(test).message
    result = test.evaluate(lambda X: (X[:, 0] >= 0.5).astype(int))
    assert result["accuracy"] == 1.0 and result["sensitivity"] == 1.0 and result["n"] == 40
    lo, hi = result["accuracy_ci"]
    assert lo <= 1.0 <= hi
    assert cap.check_locked_once(test).ok
    with pytest.raises(RuntimeError, match="already scored"):
        test.evaluate(lambda X: np.zeros(len(X), int))
    fb = cap.check_locked_once(test)
    assert not fb.ok and "2 times" in fb.message
    assert "No answer" in cap.check_locked_once(...).message


def test_locked_test_thresholds_probabilities():
    result = cap.LockedTest(DATA).evaluate(lambda X: X[:, 0])   # probabilities, threshold 0.5
    assert result["accuracy"] == 1.0
    assert cap.LockedTest(DATA).evaluate(lambda X: np.ones(len(X)))["specificity"] == 0.0


def test_model_card():
    words = "a sentence with enough words in it to count as one filled in section of the card"
    card = {k: words + " 0.81 (0.75 to 0.86)" for k in cap.CARD_FIELDS}
    assert cap.check_model_card(card).ok
    assert "No answer" in cap.check_model_card({k: ... for k in cap.CARD_FIELDS}).message
    assert "fill in ['limitations']" in cap.check_model_card({**card, "limitations": ...}).message
    assert "at least" in cap.check_model_card({**card, "intended_use": "research"}).message
    assert "quote no number" in cap.check_model_card({**card, "evaluation": words}).message
