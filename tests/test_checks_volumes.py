"""Exercise checks of chapter 15 (Volumes): right answers pass, typical wrong ones get a hint."""
import numpy as np
import pandas as pd

from utils import volumes
from utils.checks import volumes as ex


def test_isotropic_shape():
    assert ex.check_isotropic_shape((143, 220, 192))
    bad = ex.check_isotropic_shape((110, 220, 192))
    assert not bad and "thickness" in bad.message
    bad = ex.check_isotropic_shape((143, 320, 280))
    assert not bad and "in-plane" in bad.message
    assert "No answer yet" in ex.check_isotropic_shape(...).message


def _label():
    lab = np.zeros((9, 12, 10), np.uint8)
    lab[2:6, 3:9, 2:7] = 1
    lab[3:5, 5:8, 3:6] = 2
    return lab


def test_label_resample():
    lab = _label()
    right, _ = volumes.resample(lab, (1, 1, 1), (2, 2, 2), label=True)
    assert ex.check_label_resample(right, lab, (1, 1, 1), (2, 2, 2))
    linear, _ = volumes.resample(lab.astype(np.float32), (1, 1, 1), (2, 2, 2))
    bad = ex.check_label_resample(linear, lab, (1, 1, 1), (2, 2, 2))
    assert not bad and "nearest" in bad.message
    bad = ex.check_label_resample(lab, lab, (1, 1, 1), (2, 2, 2))
    assert not bad and "shape" in bad.message
    assert "No answer yet" in ex.check_label_resample(..., lab, 1, 2).message


def test_memory_ratio():
    assert ex.check_memory_ratio(8, 1000, 8000)
    bad = ex.check_memory_ratio(4, 1000, 8000)
    assert not bad and "2-D" in bad.message
    assert not ex.check_memory_ratio(2, 1000, 8000)
    assert "No answer yet" in ex.check_memory_ratio(..., 1, 8).message


def test_padded_shape():
    assert ex.check_padded_shape((36, 52, 36))
    bad = ex.check_padded_shape((40, 56, 40))
    assert not bad and "multiples of 4" in bad.message
    bad = ex.check_padded_shape((32, 48, 32))
    assert not bad and "cuts" in bad.message
    assert not ex.check_padded_shape((36, 56, 36))
    assert "No answer yet" in ex.check_padded_shape(...).message


def test_dice_interval():
    from utils.metrics import t_interval

    values = np.array([0.8, 0.85, 0.9, 0.82, 0.88])
    assert ex.check_dice_interval(t_interval(values), values)
    m, sd = values.mean(), values.std(ddof=1)
    bad = ex.check_dice_interval((m - 1.96 * sd, m + 1.96 * sd), values)
    assert not bad and "sqrt" in bad.message
    assert "No answer yet" in ex.check_dice_interval(..., values).message


def test_lab_table():
    t = _label()
    p = t.copy()
    p[4] = 0
    three = volumes.dice_per_structure([t, t], [t, p], cases=["a", "b"])
    two = volumes.dice_per_structure([t, t], [p, p], cases=["a", "b"])
    assert ex.check_lab_table(two, ["a", "b"], three)
    assert not ex.check_lab_table(three, ["a", "b"], three)
    bad = ex.check_lab_table(two, ["b", "a"], three)
    assert not bad and "same held-out cases" in bad.message
    assert not ex.check_lab_table(pd.DataFrame({"case": ["a"]}), ["a"], three)
    assert "No answer yet" in ex.check_lab_table(..., ["a"], three).message
