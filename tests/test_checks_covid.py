"""Exercise checks of chapters 10 (tasks, U-Net) and 12 (COVID classification): the right answer
passes, typical wrong answers fail with a specific hint, and ``...`` gets "No answer yet"."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from utils.checks import covid_classification as cc
from utils.checks import tasks_unet as tu


def _no_answer(fb):
    assert not fb.ok and fb.message.startswith("No answer yet")


# ------------------------------------------------------------------------------ chapter 10
def test_masked_dice():
    _no_answer(tu.check_masked_dice(...))
    t, p, v = tu.TRUTH == 255, tu.PRED == 1, tu.TRUTH != 127
    right = 2 * (t & p & v).sum() / ((t & v).sum() + (p & v).sum())
    assert tu.check_masked_dice(right).ok and right == pytest.approx(12 / 17)
    no_ignore = 2 * (t & p).sum() / (t.sum() + p.sum())
    fb = tu.check_masked_dice(no_ignore)
    assert not fb.ok and "ignore" in fb.message
    iou = (t & p & v).sum() / ((t | p) & v).sum()
    fb = tu.check_masked_dice(iou)
    assert not fb.ok and "IoU" in fb.message
    lung_127 = 2 * ((tu.TRUTH > 0) & p).sum() / ((tu.TRUTH > 0).sum() + p.sum())
    assert "TRUTH > 0" in tu.check_masked_dice(lung_127).message
    assert "fraction" in tu.check_masked_dice(75).message
    assert not tu.check_masked_dice("abc").ok


def test_enc1_params():
    _no_answer(tu.check_enc1_params(...))
    assert tu.check_enc1_params(2576).ok
    fb = tu.check_enc1_params(144 + 2304 + 32 + 128)
    assert not fb.ok and "bias" in fb.message
    assert "batch norm" in tu.check_enc1_params(144 + 2304).message
    assert "trainable" in tu.check_enc1_params(144 + 2304 + 64).message


def test_enc1_params_matches_the_model():
    keras = pytest.importorskip("keras")  # noqa: F841
    from utils import segmentation as S

    model = S.unet((128, 128, 1), base_filters=16)
    table = S.level_table(model)
    assert int(table.set_index("block").loc["enc1", "parameters"]) == tu.ENC1_PARAMS


def test_box():
    _no_answer(tu.check_box(...))
    ys, xs = np.nonzero(tu.BOX_MASK)
    right = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert tu.check_box(right).ok
    assert "swapped" in tu.check_box((right[1], right[0], right[3], right[2])).message
    assert "corners" in tu.check_box((xs.min(), ys.min(), xs.max(), ys.max())).message
    assert "off by one" in tu.check_box((right[0], right[1], right[2] - 1, right[3] - 1)).message
    assert "four" in tu.check_box((1, 2, 3)).message


# ------------------------------------------------------------------------------ chapter 12
def test_recall():
    _no_answer(cc.check_recall(...))
    cm = cc.CONFUSION
    right = {c: cm[i, i] / cm[i].sum() for i, c in enumerate(cc.CLASSES)}
    assert cc.check_recall(right).ok
    assert cc.check_recall(list(right.values())).ok
    precision = {c: cm[i, i] / cm[:, i].sum() for i, c in enumerate(cc.CLASSES)}
    fb = cc.check_recall(precision)
    assert not fb.ok and "precision" in fb.message
    assert "percent" in cc.check_recall({c: 100 * v for c, v in right.items()}).message
    assert "keys" in cc.check_recall({"covid": 1}).message


def test_patient_split():
    groups = np.repeat(np.arange(40), 3)          # 40 patients, 3 images each
    _no_answer(cc.check_patient_split(..., groups))
    from utils import splits

    tr, te = splits.grouped_holdout(np.zeros(len(groups), int), groups, 0.2, seed=0)
    assert cc.check_patient_split((tr, te), groups).ok
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(groups))
    fb = cc.check_patient_split((idx[24:], idx[:24]), groups)
    assert not fb.ok and "patients" in fb.message and "grouped_holdout" in fb.message
    assert "both" in cc.check_patient_split((idx, idx[:24]), groups).message
    assert "20 %" in cc.check_patient_split((idx[2:], idx[:2]), groups).message


def test_size_rule():
    table = pd.DataFrame({"width": [512, 512, 1024, 800, 512],
                          "height": [512, 512, 1000, 600, 512],
                          "cls": ["normal", "viral_pneumonia", "covid", "covid", "covid"]})
    _no_answer(cc.check_size_rule(..., table))
    assert cc.size_rule_accuracy(table) == pytest.approx(0.8)
    assert cc.check_size_rule(0.8, table).ok
    assert "error rate" in cc.check_size_rule(0.2, table).message
    assert "share of 512x512" in cc.check_size_rule(0.6, table).message
    assert "percentage" in cc.check_size_rule(80, table).message
