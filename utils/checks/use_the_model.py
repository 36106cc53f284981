"""Checks for the exercises of chapter 14, *Use the model*."""
from __future__ import annotations

import hashlib

import numpy as np

from ..exercises import Feedback, check_number, correct, is_unanswered, parse_number, unanswered, wrong

#: Exercise 1: one stored CT value and the tags that turn it into a gray level.
STORED, SLOPE, INTERCEPT, CENTER, WIDTH = 1100, 1.0, -1024.0, 40.0, 400.0

#: Exercise 2: leave-group-out OOD scores of 200 training images and of 5 new inputs.
TRAIN_SCORES = np.round(np.random.default_rng(14).gamma(4.0, 0.05, 200), 4)
NEW_SCORES = (0.12, 0.31, 0.45, 0.52, 0.95)

#: Exercise 3: the bytes of a model file as it was saved, and as it arrived (one byte changed).
SAVED_BYTES = bytes(np.random.default_rng(143).integers(0, 256, 4096, dtype=np.uint8))
MODEL_BYTES = SAVED_BYTES[:1000] + bytes([SAVED_BYTES[1000] ^ 1]) + SAVED_BYTES[1001:]
CARD_SHA256 = hashlib.sha256(SAVED_BYTES).hexdigest()  # what the model card recorded


def window_level(stored=STORED, slope=SLOPE, intercept=INTERCEPT, center=CENTER,
                 width=WIDTH) -> float:
    """The gray level 0..255 (before rounding) that utils.data.read_dicom gives a stored value."""
    hu = stored * slope + intercept
    return float(np.clip((hu - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255)


def check_window_level(answer) -> Feedback:
    """Exercise 1: the gray level (0..255) of STORED after rescale and the VOI window."""
    value = parse_number(answer, what="a gray level between 0 and 255")
    if isinstance(value, Feedback):
        return value
    expected = window_level()
    no_rescale = window_level(slope=1.0, intercept=0.0)
    hints = {no_rescale: "that uses the stored value as it is: apply RescaleSlope and "
                         "RescaleIntercept first (stored x slope + intercept, in HU).",
             float(np.clip(STORED * SLOPE + INTERCEPT, 0, 255)): "that is the Hounsfield value "
             "clipped to 0..255; map the window center +- width/2 onto 0..255."}
    return check_number(answer, expected, rtol=0, atol=0.6, hints=hints,
                        what="a gray level between 0 and 255")


def ood_threshold(quantile: float = 0.95) -> float:
    return float(np.quantile(TRAIN_SCORES, quantile))


def check_ood_threshold(answer) -> Feedback:
    """Exercise 2: the 0.95 quantile of TRAIN_SCORES (the threshold of the OOD check)."""
    value = parse_number(answer, what="a threshold (a distance)")
    if isinstance(value, Feedback):
        return value
    if np.isclose(value, np.quantile(TRAIN_SCORES, 0.0095), atol=1e-6):
        return wrong("that is the 0.95th percentile (np.percentile takes 0..100): use "
                     "np.quantile(scores, 0.95) or np.percentile(scores, 95).")
    if np.isclose(value, TRAIN_SCORES.max(), atol=1e-6):
        return wrong("the maximum flags nothing that looks like the training set; the rule "
                     "accepts that about 5 % of training-like images get a warning.")
    return check_number(answer, ood_threshold(), rtol=1e-6, atol=1e-6, what="a threshold")


def check_flagged(answer) -> Feedback:
    """Exercise 2: how many of NEW_SCORES lie above the 0.95 quantile of TRAIN_SCORES."""
    value = parse_number(answer, what="a count of inputs")
    if isinstance(value, Feedback):
        return value
    expected = int(np.sum(np.asarray(NEW_SCORES) > ood_threshold()))
    hints = {int(np.sum(np.asarray(NEW_SCORES) < ood_threshold())):
             "that counts the inputs below the threshold: a warning is for a score above it."}
    return check_number(answer, expected, rtol=0, atol=0, hints=hints, what="a count")


def check_digest(answer) -> Feedback:
    """Exercise 3: the sha256 (hex) of MODEL_BYTES, the file as it arrived."""
    if is_unanswered(answer):
        return unanswered("the file's sha256 as a hex string")
    if not isinstance(answer, str):
        return wrong(f"expected the digest as a hex string (`.hexdigest()`), got {type(answer).__name__}.")
    text = answer.strip().lower()
    if text == CARD_SHA256:
        return wrong("that is the digest the card recorded; compute the digest of the bytes you "
                     "received, then compare the two.")
    if text == hashlib.md5(MODEL_BYTES).hexdigest() or text == hashlib.sha1(MODEL_BYTES).hexdigest():
        return wrong("that is another hash function; the card records SHA-256 (hashlib.sha256).")
    if text == hashlib.sha256(str(MODEL_BYTES).encode()).hexdigest():
        return wrong("that hashes the text of the bytes' repr; pass the bytes themselves.")
    if text != hashlib.sha256(MODEL_BYTES).hexdigest():
        return wrong("not the SHA-256 of ex.MODEL_BYTES.")
    return correct("and it differs from the card's: one changed byte is enough, so the loader "
                   "refuses this file instead of predicting with a model nobody validated.")
