"""Exercise checks of chapter 13: a right answer passes, a typical wrong answer fails with a
specific hint, the placeholder gets "No answer yet"."""
import numpy as np
import pytest

from utils import calibration as cal
from utils.checks import external_validation as ev

ALL_CHECKS = [ev.check_brier, ev.check_threshold, ev.check_ppv]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_placeholder_and_garbage(check):
    for placeholder in (..., None):
        fb = check(placeholder)
        assert not fb.ok and fb.message.startswith("No answer yet")
    for junk in ("abc", [1, 2], object()):
        assert not check(junk).ok


def test_brier():
    assert ev.check_brier(np.mean((ev.P_EX - ev.Y_EX) ** 2)).ok
    fb = ev.check_brier(np.mean(np.abs(ev.P_EX - ev.Y_EX)))
    assert not fb.ok and "absolute" in fb.message


def test_threshold():
    assert ev.check_threshold(cal.threshold_for_sensitivity(ev.Y_DEV, ev.P_DEV, 0.9)).ok
    fb = ev.check_threshold(cal.threshold_for_sensitivity(ev.Y_TEST, ev.P_TEST, 0.9))
    assert not fb.ok and "test set" in fb.message
    assert not ev.check_threshold(0.5).ok


def test_ppv():
    right = 0.95 * 0.01 / (0.95 * 0.01 + 0.10 * 0.99)
    assert ev.check_ppv(right).ok
    fb = ev.check_ppv(0.95)
    assert not fb.ok and "sensitivity" in fb.message
