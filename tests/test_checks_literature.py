"""Exercise checks of the literature chapters (07 brain tumour, 11 COVID-19)."""
from __future__ import annotations

import pytest

pytest.importorskip("pandas")

from utils import literature as L  # noqa: E402
from utils.checks import brain_tumor_literature as bt  # noqa: E402
from utils.checks import covid_literature as cv  # noqa: E402
from utils.exercises import Feedback  # noqa: E402

WALD_47_51 = (47 / 51 - 1.959964 * (47 / 51 * 4 / 51 / 51) ** 0.5, 47 / 51 + 1.959964 * (47 / 51 * 4 / 51 / 51) ** 0.5)

CASES = [
    # check, right answer, typical wrong answer, word expected in the hint
    (bt.check_implied_prevalence, (0.963 - 0.972) / (0.933 - 0.972), 1 - (0.963 - 0.972) / (0.933 - 0.972), "negatives"),
    (bt.check_test_size, bt.needed_test_size(), 114, "Wald"),
    (bt.check_impossible_rows, [4, 8, 10], [4, 8], "below"),
    (cv.check_majority_accuracy, 1008 / 1078, 70 / 1078, "COVID-19"),
    (cv.check_perfect_sensitivity_bound, L.wilson_ci(51, 51)[0], 1.0, "Wald"),
    (cv.check_region_and_lesion, 7, 10, "lesion"),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("check, right, wrong, hint", CASES, ids=IDS)
def test_right_answer_passes(check, right, wrong, hint):
    fb = check(right)
    assert isinstance(fb, Feedback) and fb.ok, fb.message


@pytest.mark.parametrize("check, right, wrong, hint", CASES, ids=IDS)
def test_typical_wrong_answer_gets_a_hint(check, right, wrong, hint):
    fb = check(wrong)
    assert not fb.ok
    assert hint.lower() in fb.message.lower(), fb.message
    assert not fb.message.startswith("No answer yet")


@pytest.mark.parametrize("check", [c[0] for c in CASES], ids=IDS)
@pytest.mark.parametrize("placeholder", [..., None, ""])
def test_placeholder_is_not_an_error(check, placeholder):
    fb = check(placeholder)
    assert not fb.ok and fb.message.startswith("No answer yet")


@pytest.mark.parametrize("check", [c[0] for c in CASES], ids=IDS)
@pytest.mark.parametrize("junk", ["abc", [1, "x"], {"a": 1}, 1e9, -3])
def test_junk_never_raises(check, junk):
    fb = check(junk)
    assert isinstance(fb, Feedback) and not fb.ok


def test_more_hints():
    assert bt.needed_test_size() == 118    # the Wilson interval at p = 0.92, width 0.10
    assert "paper's test set" in bt.check_test_size(51).message
    assert "one short" in bt.check_test_size(bt.needed_test_size() - 1).message
    assert "No answer yet" in bt.check_test_size(...).message
    assert "specificity" in bt.check_impossible_rows([4, 8, 10, 12]).message
    assert bt.check_impossible_rows({4, 8, 10}).ok and bt.check_impossible_rows((10, 8, 4)).ok
    assert "rule of three" in cv.check_perfect_sensitivity_bound(1 - 3 / 51).message
    assert "lung only" in cv.check_region_and_lesion(8).message
    assert "percentage" in cv.check_majority_accuracy(93.5064935).message
