"""Exercise checks of chapter 01, *Medical imaging primer*."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..exercises import Feedback, check_array, check_number, correct, is_unanswered, unanswered, wrong
from .. import fundamentals as F


@lru_cache(maxsize=1)
def _ct():
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    return ds.pixel_array.astype(np.float64), float(ds.RescaleSlope), float(ds.RescaleIntercept)


def check_min_hu(answer) -> Feedback:
    """Exercise 1: the lowest Hounsfield unit in ``CT_small.dcm``."""
    raw, slope, intercept = _ct()
    expected = float((raw * slope + intercept).min())
    return check_number(answer, expected, rtol=0, atol=0.5, what="the minimum HU (a number)", hints={
        float(raw.min()): "that is the smallest *stored* value; apply HU = slope * stored + intercept.",
        float(raw.min() - intercept): "you subtracted the intercept; it is added: HU = slope * stored + intercept.",
        float(raw.max() * slope + intercept): "that is the maximum; the exercise asks for the minimum.",
    })


def _brain_window(values):
    return F.apply_window(values, 40.0, 80.0)


def check_brain_window(answer) -> Feedback:
    """Exercise 2: ``CT_small.dcm`` in the brain window (centre 40 HU, width 80 HU), in [0, 1]."""
    if is_unanswered(answer):
        return unanswered("the windowed image (an array of values in [0, 1])")
    raw, slope, intercept = _ct()
    hu = raw * slope + intercept
    expected = _brain_window(hu)
    a = np.asarray(answer, dtype=float)
    if a.shape == expected.shape:
        if np.allclose(a, F.apply_window(hu, 80.0, 40.0)):
            return wrong("centre and width are swapped: the centre is 40 HU, the width 80 HU.")
        if np.allclose(a, _brain_window(raw)):
            return wrong("you windowed the stored values; convert to HU first.")
        if a.max() > 1.0 + 1e-9 and np.allclose(a / 255.0, expected, atol=1 / 255):
            return wrong("scale to [0, 1], not 0..255 (divide by the width, not by 255).")
        if np.allclose(a, F.apply_window(hu, 40.0, 160.0)):
            return wrong("the window spans centre - width/2 to centre + width/2, i.e. 0 to 80 HU.")
    return check_array(a, expected, atol=1e-6, what="the windowed image")


LEARNING_TYPES = {
    "tumour_yes_no": "supervised",
    "intensity_clusters": "unsupervised",
    "scan_agent": "reinforcement",
    "lung_masks": "supervised",
}
_WHY = {
    "tumour_yes_no": "each training MRI comes with a label (tumour yes/no): supervised.",
    "intensity_clusters": "no labels are used; the groups come from the data alone: unsupervised.",
    "scan_agent": "the agent learns from a reward after its actions: reinforcement learning.",
    "lung_masks": "the model learns from images paired with human-drawn masks: supervised.",
}


def check_learning_types(answer) -> Feedback:
    """Exercise 3: a dict task -> "supervised" / "unsupervised" / "reinforcement"."""
    if is_unanswered(answer) or not isinstance(answer, dict):
        return unanswered("a dict with one of 'supervised', 'unsupervised', 'reinforcement' per task")
    missing = sorted(set(LEARNING_TYPES) - set(answer))
    if missing:
        return wrong(f"answer every task; missing: {missing}.")
    for task, kind in LEARNING_TYPES.items():
        given = str(answer[task]).strip().lower()
        if given.startswith("reinforce"):
            given = "reinforcement"
        if given != kind:
            return wrong(f"{task}: not {answer[task]!r}. Hint: {_WHY[task]}")
    return correct("Only the labelled tasks are supervised; the book's chapters are all supervised.")


def check_sagittal_axis(answer) -> Feedback:
    """Exercise 4: which array axis of the MNI152 volume (x, y, z) is fixed for a sagittal slice."""
    return check_number(answer, 0, atol=0, what="an axis number (0, 1 or 2)", hints={
        2: "fixing z (axis 2) gives an axial slice (a horizontal cut).",
        1: "fixing y (axis 1, front-back) gives a coronal slice.",
    })
