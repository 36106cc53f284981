"""Exercise checks of chapter 13: a right answer passes, a typical wrong answer fails with a
specific hint, the placeholder gets "No answer yet"."""
import numpy as np
import pytest

from utils import calibration as cal
from utils.checks import external_validation as ev

ALL_CHECKS = [ev.check_brier, ev.check_specificity_by_view, ev.check_ppv, ev.check_temperature]


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


def test_specificity_by_view():
    right = {v: float(np.mean(ev.P_HEALTHY[ev.VIEWS == v] < 0.5)) for v in set(ev.VIEWS)}
    assert ev.check_specificity_by_view(right).ok
    fb = ev.check_specificity_by_view({v: 1 - x for v, x in right.items()})
    assert not fb.ok and "false-positive" in fb.message
    overall = float(np.mean(ev.P_HEALTHY < 0.5))
    fb = ev.check_specificity_by_view({v: overall for v in right})
    assert not fb.ok and "within each view" in fb.message
    assert not ev.check_specificity_by_view({"axial": 1.0}).ok
    assert not ev.check_specificity_by_view({**right, "axial": right["axial"] - 0.05}).ok


def test_temperature():
    z = np.log(ev.P_OOF / (1 - ev.P_OOF)) / ev.TEMPERATURE
    assert ev.check_temperature(1 / (1 + np.exp(-z))).ok
    fb = ev.check_temperature(ev.P_OOF / ev.TEMPERATURE)
    assert not fb.ok and "logit" in fb.message
    fb = ev.check_temperature(1 / (1 + np.exp(-z * ev.TEMPERATURE ** 2)))
    assert not fb.ok and "multiplies" in fb.message


def test_ppv():
    right = 0.95 * 0.01 / (0.95 * 0.01 + 0.10 * 0.99)
    assert ev.check_ppv(right).ok
    fb = ev.check_ppv(0.95)
    assert not fb.ok and "sensitivity" in fb.message


def test_chosen_on_dev():
    dev, test = np.arange(0, 50), np.arange(50, 100)
    assert ev.check_chosen_on_dev(dev, dev, test).ok
    fb = ev.check_chosen_on_dev(np.arange(0, 60), dev, test)
    assert not fb.ok and "external-test" in fb.message
    assert not ev.check_chosen_on_dev(np.arange(0, 10), dev, test).ok
    assert not ev.check_chosen_on_dev([200], dev, test).ok
    assert ev.check_chosen_on_dev(..., dev, test).message.startswith("No answer yet")
    assert not ev.check_chosen_on_dev("abc", dev, test).ok
