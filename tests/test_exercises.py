"""Tests of the shared helpers of :mod:`utils.exercises`: the answer parsers return the parsed
value, or a :class:`Feedback` ("No answer yet" for a placeholder, a hint otherwise) and never
raise; ``check_number`` and ``check_array`` compare and explain."""
import numpy as np
import pytest

from utils.exercises import (Feedback, check_array, check_number, is_unanswered, parse_number,
                             parse_pair, parse_shape)

PLACEHOLDERS = [None, ..., "", "  ", [], np.array([])]


def _no_answer(fb, what):
    assert isinstance(fb, Feedback) and not fb.ok
    assert fb.message.startswith("No answer yet") and what in fb.message


@pytest.mark.parametrize("placeholder", PLACEHOLDERS, ids=repr)
def test_placeholders_are_unanswered(placeholder):
    assert is_unanswered(placeholder)
    _no_answer(parse_number(placeholder, what="a p-value"), "a p-value")
    _no_answer(parse_pair(placeholder), "(low, high)")
    _no_answer(parse_shape(placeholder, what="a shape tuple (h, w, c)"), "(h, w, c)")


def test_zero_and_false_are_answers():
    assert not is_unanswered(0) and not is_unanswered(0.0) and not is_unanswered(False)
    assert parse_number(0) == 0.0


# ----------------------------------------------------------------------------- parse_number
@pytest.mark.parametrize("answer, value", [(3, 3.0), (0.25, 0.25), ("1e-3", 1e-3),
                                           (np.float32(0.5), 0.5), (np.int64(7), 7.0),
                                           (np.array(2.0), 2.0)])
def test_parse_number_reads_numbers(answer, value):
    got = parse_number(answer)
    assert isinstance(got, float) and got == value


@pytest.mark.parametrize("answer", ["ten", object(), {"a": 1}, (1, 2)])
def test_parse_number_explains_non_numbers(answer):
    fb = parse_number(answer, what="a count of files")
    assert isinstance(fb, Feedback) and not fb.ok
    assert fb.message.startswith("expected a count of files, got ")
    assert type(answer).__name__ in fb.message


# ------------------------------------------------------------------------------- parse_pair
@pytest.mark.parametrize("answer", [(0.2, 0.8), [0.2, 0.8], np.array([0.2, 0.8]), ("0.2", 0.8)])
def test_parse_pair_reads_two_numbers(answer):
    got = parse_pair(answer)
    assert got == (0.2, 0.8) and all(isinstance(v, float) for v in got)


def test_parse_pair_keeps_the_order():
    assert parse_pair((0.8, 0.2)) == (0.8, 0.2)


@pytest.mark.parametrize("answer", [0.7, (0.1, 0.2, 0.3), (0.1,), ("a", "b"), "ab", (None, 1.0)])
def test_parse_pair_explains_anything_else(answer):
    fb = parse_pair(answer)
    assert isinstance(fb, Feedback) and not fb.ok
    assert "two numbers" in fb.message and "(low, high)" in fb.message


def test_parse_pair_what_names_the_pair():
    fb = parse_pair(1.0, what="a pair (train share, test share)")
    assert "(train share, test share)" in fb.message


def test_parse_pair_percentages():
    fb = parse_pair((81.5, 96.9), fractions=True)
    assert isinstance(fb, Feedback) and not fb.ok and "percentages" in fb.message
    assert not parse_pair((0.5, 1.2), fractions=True).ok
    assert parse_pair((0.9, 1.0), fractions=True) == (0.9, 1.0)        # 1 is a proportion
    assert parse_pair((81.5, 96.9)) == (81.5, 96.9)                     # not asked for fractions


# ------------------------------------------------------------------------------ parse_shape
@pytest.mark.parametrize("answer", [(5, 5, 8), [5, 5, 8], (None, 5, 5, 8), (1, 5, 5, 8),
                                    (5.0, 5, "8"), np.array([5, 5, 8])])
def test_parse_shape_reads_a_sample_shape(answer):
    got = parse_shape(answer)
    assert got == (5, 5, 8) and all(type(v) is int for v in got)


def test_parse_shape_keeps_other_lengths():
    assert parse_shape((1280,)) == (1280,)
    assert parse_shape((2, 5, 5, 8)) == (2, 5, 5, 8)          # a batch of 2: not dropped
    assert parse_shape((1, 5, 5)) == (1, 5, 5)                # three numbers: nothing dropped
    assert parse_shape((1, 28, 28), ndim=2) == (28, 28)
    assert parse_shape((1, 1, 1, 1)) == (1, 1, 1)


@pytest.mark.parametrize("answer", [5, "abc", (5, "five", 8), object()])
def test_parse_shape_explains_non_shapes(answer):
    fb = parse_shape(answer)
    assert isinstance(fb, Feedback) and not fb.ok
    assert fb.message.startswith("expected a shape tuple (height, width, channels), got ")


# ----------------------------------------------------------------------- check_number / array
def test_check_number():
    assert check_number(0.5, 0.5).ok
    assert check_number("0.5", 0.5).ok
    fb = check_number(50, 0.5, hints={50: "give a fraction, not a percentage."})
    assert not fb.ok and "percentage" in fb.message
    fb = check_number(0.4, 0.5)
    assert not fb.ok and "0.4 is not right" in fb.message
    _no_answer(check_number(..., 0.5, what="a share"), "a share")
    fb = check_number("half", 0.5, what="a share")
    assert not fb.ok and fb.message == "expected a share, got str 'half'."


def test_check_number_exact():
    assert check_number(1168, 1168, rtol=0, atol=0).ok
    assert not check_number(1168.001, 1168, rtol=0, atol=0).ok
    fb = check_number(8.0, 10, rtol=0, atol=0, hints={8: "the jump."})
    assert not fb.ok and fb.message == "the jump."


def test_check_array():
    assert check_array([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]])).ok
    fb = check_array([1, 2, 3], np.zeros(2))
    assert not fb.ok and "shape" in fb.message
    fb = check_array([1.0, 2.5], [1.0, 2.0])
    assert not fb.ok and "index (1,)" in fb.message
    _no_answer(check_array(..., [1.0], what="the feature map"), "the feature map")


def test_feedback_is_truthy_and_renders():
    good, bad = Feedback(True, "Well done."), Feedback(False, "try again.")
    assert good and not bad
    assert repr(good).startswith("Correct.") and repr(bad).startswith("Not yet.")
    assert bad._repr_markdown_().startswith("**Not yet.**")
