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
from ..metrics import cluster_bootstrap_ci

#: The sections a model card must fill in, and what each holds.
CARD_FIELDS = {
    "intended_use": "what the model is for, and what not",
    "training_data": "the collection, its size, its groups and known problems",
    "evaluation": "the development protocol (grouped folds) and its figure with interval",
    "external_result": "the locked test figure, with interval, reported once",
    "limitations": "what the figures do not show (populations, scanners, the confounds)",
}
MIN_CARD_WORDS = 12


def _sensitivity(t, p):
    pos = t == 1
    if not pos.any():
        raise ValueError("no positive image")
    return float(np.mean(p[pos] == 1))


def _specificity(t, p):
    neg = t == 0
    if not neg.any():
        raise ValueError("no negative image")
    return float(np.mean(p[neg] == 0))


class LockedTest:
    """A test set that may be scored once.

    ``data`` has ``X``, ``y`` and ``groups`` (an :class:`utils.datasets.ImageSet`).
    :meth:`evaluate` takes a function from images to 0/1 predictions, scores it once (accuracy,
    sensitivity, specificity, each with a group-bootstrap 95 % interval) and records the look;
    a second call raises ``RuntimeError`` and is recorded too.
    """

    def __init__(self, data, name: str = "external test set"):
        self._data, self.name = data, name
        self.looks, self.result = 0, None

    def __len__(self):
        return len(self._data.y)

    def evaluate(self, predict, threshold: float = 0.5, seed: int = 0) -> dict:
        self.looks += 1
        if self.looks > 1:
            raise RuntimeError(f"the {self.name} was already scored once; its figure is "
                               f"{self.result}. Choose on development data, not on it.")
        y, groups = np.asarray(self._data.y), np.asarray(self._data.groups)
        pred = np.asarray(predict(self._data.X)).ravel()
        if pred.dtype.kind == "f" and not np.isin(pred, (0.0, 1.0)).all():
            pred = (pred >= threshold).astype(int)
        pred = pred.astype(int)
        out = {"n": int(len(y)), "groups": int(len(np.unique(groups)))}
        for name, metric in (("accuracy", None), ("sensitivity", _sensitivity),
                             ("specificity", _specificity)):
            try:
                value = float(np.mean(pred == y)) if metric is None else metric(y, pred)
            except ValueError:
                continue
            out[name] = value
            out[f"{name}_ci"] = cluster_bootstrap_ci(y, pred, groups, metric=metric, seed=seed)
        self.result = out
        return out


def check_locked_once(test) -> Feedback:
    """The locked test set was scored exactly once."""
    if is_unanswered(test) or not isinstance(test, LockedTest):
        return unanswered("the LockedTest that holds the external test set")
    if test.looks == 0:
        return wrong("the locked test set has not been scored yet: score the final model once, "
                     "with test.evaluate(predict), at the end.")
    if test.looks > 1:
        return wrong(f"the locked test set was scored {test.looks} times; a figure chosen among "
                     "several looks is no test figure. Restart the kernel, make every choice on "
                     "the development folds and score it once.")
    return correct(f"scored once: {len(test)} images.")


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
