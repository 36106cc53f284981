"""Checks of chapter 14 (*Use the model*): a right and a typical wrong answer each."""
from __future__ import annotations

import numpy as np

from utils import data
from utils.checks import use_the_model as ex


def test_window_level_right_wrong_and_as_read_dicom_does(tmp_path):
    assert ex.check_window_level(ex.window_level()).ok
    assert ex.check_window_level(round(ex.window_level())).ok
    no_rescale = ex.check_window_level(ex.window_level(slope=1.0, intercept=0.0))
    assert not no_rescale.ok and "RescaleSlope" in no_rescale.message
    assert not ex.check_window_level(...).ok
    from tests.test_data import write_dicom

    path = write_dicom(tmp_path / "x.dcm", np.array([[ex.STORED, 0]]), slope=ex.SLOPE,
                       intercept=ex.INTERCEPT, center=ex.CENTER, width=ex.WIDTH)
    assert data.read_image(path)[0, 0] == round(ex.window_level())


def test_ood_threshold_and_flagged():
    assert ex.check_ood_threshold(np.quantile(ex.TRAIN_SCORES, 0.95)).ok
    assert ex.check_ood_threshold(np.percentile(ex.TRAIN_SCORES, 95)).ok
    bad = ex.check_ood_threshold(np.percentile(ex.TRAIN_SCORES, 0.95))
    assert not bad.ok and "percentile" in bad.message
    assert not ex.check_ood_threshold(ex.TRAIN_SCORES.max()).ok
    n = int(np.sum(np.asarray(ex.NEW_SCORES) > ex.ood_threshold()))
    assert ex.check_flagged(n).ok
    assert not ex.check_flagged(len(ex.NEW_SCORES) - n).ok


def test_digest_right_and_wrong():
    import hashlib

    assert ex.check_digest(hashlib.sha256(ex.MODEL_BYTES).hexdigest()).ok
    card = ex.check_digest(ex.CARD_SHA256)
    assert not card.ok and "card" in card.message
    assert not ex.check_digest(hashlib.md5(ex.MODEL_BYTES).hexdigest()).ok
    assert not ex.check_digest(hashlib.sha256(ex.MODEL_BYTES).digest()).ok  # bytes, not hex
    assert not ex.check_digest(...).ok
    assert ex.CARD_SHA256 != hashlib.sha256(ex.MODEL_BYTES).hexdigest()
