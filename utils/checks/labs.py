"""Checks for the labs: what a machine can check of an open-ended experiment.

A lab ends with a dict of what the student measured and a report.  These checks say whether the
lab ran (the dict holds the required finite numbers), whether its splits are grouped, whether a
figure lies in the interval reported for it, and whether the report is filled in; the rest is
for the rubric.  Show several in one cell with ``display(...)``; the grader reads each.
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, parse_pair, unanswered, wrong

#: What a report must at least hold to count as filled in.
MIN_WORDS = 40


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def check_ran(result, required) -> Feedback:
    """The lab ran: ``result`` is a dict with a finite number (or a pair of finite numbers, for
    an interval) under every key of ``required``."""
    if is_unanswered(result) or not isinstance(result, dict):
        return unanswered(f"the dict `lab` with the keys {list(required)}")
    missing = [k for k in required if k not in result or is_unanswered(result[k])]
    if len(missing) == len(required):
        return unanswered(f"the figures of `lab` ({', '.join(required)})")
    if missing:
        return wrong(f"the lab has not filled in {missing} yet.")
    bad = []
    for k in required:
        v = result[k]
        values = v if isinstance(v, (tuple, list, np.ndarray)) else [v]
        if not len(values) or not all(_finite(x) for x in values):
            bad.append(k)
    if bad:
        return wrong(f"{bad} must be finite numbers (an interval: a pair of numbers).")
    return correct(f"the lab ran and filled in {len(required)} figures.")


def check_folds_grouped(folds, groups, n: int | None = None) -> Feedback:
    """Every ``(train_idx, test_idx)`` of ``folds`` keeps each group on one side, and the test
    parts test every image once (cross-validation) when ``n`` is given."""
    if is_unanswered(folds) or (isinstance(folds, (list, tuple)) and any(f is Ellipsis for f in folds)):
        return unanswered("the list of (train_idx, test_idx) folds you evaluated on")
    groups = np.asarray(groups)
    try:
        pairs = [(np.asarray(tr, dtype=int).ravel(), np.asarray(te, dtype=int).ravel())
                 for tr, te in folds]
    except (TypeError, ValueError):
        return wrong("expected a list of (train_idx, test_idx) pairs of index arrays.")
    if not pairs:
        return wrong("the list of folds is empty.")
    for i, (tr, te) in enumerate(pairs):
        if tr.size == 0 or te.size == 0:
            return wrong(f"fold {i}: both parts need images.")
        if min(tr.min(), te.min()) < 0 or max(tr.max(), te.max()) >= len(groups):
            return wrong(f"fold {i}: indices must lie between 0 and {len(groups) - 1}.")
        if set(tr) & set(te):
            return wrong(f"fold {i}: some images are in both parts.")
        straddle = len(set(groups[tr]) & set(groups[te]))
        if straddle:
            return wrong(f"fold {i}: {straddle} groups have images in training and in test; "
                         "split by group (splits.grouped_kfold / grouped_holdout).")
    if n is not None:
        tested = np.concatenate([te for _, te in pairs])
        if len(tested) != n or len(set(tested)) != n:
            return wrong(f"the test parts should test each of the {n} images exactly once "
                         f"(they test {len(set(tested))} distinct images, {len(tested)} in all).")
    return correct(f"{len(pairs)} split(s), no group on both sides of any.")


def check_in_interval(value, interval, what: str = "the figure") -> Feedback:
    """``value`` lies inside the reported ``interval`` ``(low, high)`` (its own interval)."""
    if is_unanswered(value):
        return unanswered(what)
    if not _finite(value):
        return wrong(f"{what} must be a number, got {value!r}.")
    pair = parse_pair(interval, "its interval (low, high)")
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    v = float(value)
    if lo > hi:
        return wrong(f"the interval ({lo:.3f}, {hi:.3f}) has its bounds swapped.")
    if not lo <= v <= hi:
        return wrong(f"{what} {v:.3f} lies outside its interval ({lo:.3f}, {hi:.3f}): the "
                     "interval must be computed for the same figure on the same predictions.")
    if hi - lo <= 0:  # every fold or resample agreed, or the figure was copied: say which to check
        return correct(f"{what} {v:.3f}, but its interval has width 0: make sure it was computed "
                       "(every fold gave the same result?) and not copied from the figure.")
    return correct(f"{what} {v:.3f} in ({lo:.3f}, {hi:.3f}).")


def check_report(text, mentions=(), min_words: int = MIN_WORDS) -> Feedback:
    """The report is filled in: at least ``min_words`` words of the student's own, and it
    mentions each of ``mentions`` (words such as "interval" or "grouped")."""
    if is_unanswered(text) or not isinstance(text, str):
        return unanswered("your report as a string")
    words = re.findall(r"[\w.%+-]+", re.sub(r"\.\.\.|your report here", " ", text, flags=re.I))
    if not words:
        return unanswered("your report as a string")
    if len(words) < min_words:
        return wrong(f"the report has {len(words)} words; write at least {min_words}: what you "
                     "did, what you measured (with its interval) and what it means.")
    lowered = text.lower()
    absent = [m for m in mentions if m.lower() not in lowered]
    if absent:
        return wrong(f"the report does not mention {absent}.")
    if not re.search(r"\d", text):
        return wrong("the report quotes no number; state the figures you measured.")
    return correct(f"report of {len(words)} words (the rubric grades its content).")
