"""Checks of the capstone's minimum requirements (``notebooks/90_capstone.md``).

The capstone trains on one collection and reports a figure on another, locked, test set once.
:class:`LockedTest` holds that test set: it scores a prediction function on the first call of
:meth:`LockedTest.evaluate` and refuses every later one, so a notebook cannot choose anything
on it; :func:`check_locked_once` says whether it was looked at exactly once.
:func:`check_model_card` checks that the model card is filled in; the grouped folds, the
figures' intervals and the report use :mod:`utils.checks.labs`.
"""
from __future__ import annotations

import re

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, unanswered, wrong
# The locked test set and its check are shared by every lab with a locked figure (lab 08, the
# capstone): they live in utils.checks.labs and are named here too.
from .labs import LockedTest, check_locked_once  # noqa: F401

#: The sections a model card must fill in, and what each holds.
CARD_FIELDS = {
    "intended_use": "what the model is for, and what not",
    "training_data": "the collection, its size, its groups and known problems",
    "evaluation": "the development protocol (grouped folds) and its figure with interval",
    "external_result": "the locked test figure, with interval, reported once",
    "limitations": "what the figures do not show (populations, scanners, the confounds)",
}
MIN_CARD_WORDS = 12


def check_model_card(card) -> Feedback:
    """The model card has every field of :data:`CARD_FIELDS`, each in a sentence or more, and
    its results quote numbers."""
    if is_unanswered(card) or not isinstance(card, dict):
        return unanswered(f"a dict with the keys {list(CARD_FIELDS)}")
    empty = [k for k in CARD_FIELDS if is_unanswered(card.get(k)) or not isinstance(card.get(k), str)]
    if len(empty) == len(CARD_FIELDS):
        return unanswered(f"a dict with the keys {list(CARD_FIELDS)}")
    if empty:
        return wrong(f"fill in {empty}: " + "; ".join(f"{k}: {CARD_FIELDS[k]}" for k in empty) + ".")
    short = [k for k in CARD_FIELDS if len(re.findall(r"[\w.%+-]+", card[k])) < MIN_CARD_WORDS]
    if short:
        return wrong(f"{short} need at least {MIN_CARD_WORDS} words each.")
    unquoted = [k for k in ("evaluation", "external_result") if not re.search(r"\d", card[k])]
    if unquoted:
        return wrong(f"{unquoted} quote no number: state the figures with their intervals.")
    return correct("the model card is filled in (the rubric grades its content).")
