"""Checks for the exercises of chapter 15, *Volumes*."""
from __future__ import annotations

import numpy as np

from ..exercises import (Feedback, correct, is_unanswered, parse_number, parse_shape,
                         unanswered, wrong)

#: Exercise 1: the anisotropic DICOM series (slices, rows, columns) and its spacing in mm.
SERIES_SHAPE = (22, 320, 280)
SERIES_SPACING = (6.5, 0.6875, 0.6875)
SLICE_THICKNESS = 5.0


def expected_isotropic_shape(new_spacing: float = 1.0) -> tuple:
    """The shape of the series resampled to ``new_spacing`` mm (extent / spacing, rounded)."""
    return tuple(int(round(n * s / new_spacing)) for n, s in zip(SERIES_SHAPE, SERIES_SPACING))


def check_isotropic_shape(answer) -> Feedback:
    """Exercise 1: the shape of the series on a 1 mm grid."""
    shape = parse_shape(answer, what="a shape tuple (slices, rows, columns)", ndim=3)
    if isinstance(shape, Feedback):
        return shape
    shape = tuple(int(v) for v in shape)
    exp = expected_isotropic_shape(1.0)
    if shape == exp:
        return correct(f"{exp}: each axis keeps its extent in mm (22 x 6.5 = 143 mm of slices, "
                       "320 x 0.6875 = 220 mm, 280 x 0.6875 = 192.5 mm), now counted in 1 mm "
                       "voxels.")
    if shape[0] == round(SERIES_SHAPE[0] * SLICE_THICKNESS):
        return wrong("you used the slice thickness (5 mm). The distance between slices is 6.5 mm "
                     "(there is a gap between slabs): take it from the slice positions.")
    if shape[1:] == SERIES_SHAPE[1:]:
        return wrong("the in-plane pixels are 0.6875 mm, not 1 mm: rows and columns change too.")
    if shape == SERIES_SHAPE[::-1] or shape[::-1] == exp:
        return wrong("keep the axes in the order of the array: (slices, rows, columns).")
    return wrong(f"{shape} is not it: the number of voxels along an axis is its extent "
                 "(voxels x spacing, mm) divided by the new spacing, rounded.")


def check_label_resample(answer, label, spacing, new_spacing) -> Feedback:
    """Exercise 2: ``label`` resampled to ``new_spacing`` without inventing label values."""
    from ..volumes import resample

    if is_unanswered(answer):
        return unanswered("the resampled label map (an array)")
    arr = np.asarray(answer)
    exp, _ = resample(label, spacing, new_spacing, label=True)
    if arr.shape != exp.shape:
        return wrong(f"the shape should be {exp.shape} (the extent in mm over the new spacing); "
                     f"yours is {arr.shape}.")
    values = set(np.unique(arr).tolist())
    if not values <= set(np.unique(label).tolist()):
        return wrong(f"your map holds values {sorted(values)[:6]}...: linear interpolation mixes "
                     "neighbouring labels. Use nearest-neighbour interpolation (label=True).")
    if np.array_equal(arr, exp):
        return correct(f"values {sorted(values)} kept: nearest-neighbour interpolation copies "
                       "a voxel's label, it never averages two structures.")
    return wrong("the values are right but the map differs from nearest-neighbour resampling of "
                 "the same label with utils.volumes.resample(..., label=True).")


#: Exercise 3: the two input sizes whose activation memory is compared.
SMALL, LARGE = (32, 48, 32), (64, 96, 64)


def check_memory_ratio(answer, small_bytes: int, large_bytes: int) -> Feedback:
    """Exercise 3: how many times more activation memory the U-Net needs at ``LARGE`` than at
    ``SMALL`` (the measured ratio ``large_bytes / small_bytes``)."""
    value = parse_number(answer, what="a number (a ratio)")
    if isinstance(value, Feedback):
        return value
    exp = large_bytes / small_bytes
    if np.isclose(value, exp, rtol=1e-3):
        return correct(f"{exp:g}: doubling each of three sides multiplies the voxels, and every "
                       "feature map, by 2^3 = 8. In 2-D the same doubling costs 4.")
    if np.isclose(value, 4):
        return wrong("4 is the factor for a 2-D image (two sides doubled). A volume has three.")
    if np.isclose(value, 2):
        return wrong("memory grows with the number of voxels, not with the side length.")
    return wrong(f"{value:g} is not it: divide the two measured numbers of bytes.")


def smallest_valid_shape(shape, depth: int = 3) -> tuple:
    """The smallest shape at least ``shape`` whose sizes are divisible by 2**(depth-1)."""
    step = 2 ** (depth - 1)
    return tuple(int(-(-int(s) // step) * step) for s in shape)


def check_padded_shape(answer, shape=(35, 51, 35), depth: int = 3) -> Feedback:
    """Exercise 4: the smallest padded shape of a ``shape`` volume for a U-Net of ``depth``."""
    got = parse_shape(answer, what="a shape tuple", ndim=3)
    if isinstance(got, Feedback):
        return got
    got = tuple(int(v) for v in got)
    exp = smallest_valid_shape(shape, depth)
    step = 2 ** (depth - 1)
    if got == exp:
        return correct(f"{exp}: each side rounded up to a multiple of {step} (two poolings of 2), "
                       "so that the decoder's upsampled maps match the skip connections.")
    if got == smallest_valid_shape(shape, depth + 1):
        return wrong(f"a U-Net of depth {depth} pools {depth - 1} times: multiples of {step}, "
                     f"not {2 * step}.")
    if any(g < s for g, s in zip(got, shape)):
        return wrong("padding never cuts voxels off: every side must be at least the original.")
    if any(g % step for g in got):
        return wrong(f"every side must be divisible by {step}.")
    return wrong(f"{got} works but is not the smallest: round each side up to the next multiple "
                 f"of {step}.")


def check_dice_interval(answer, dice_values) -> Feedback:
    """Exercise 5: the 95 % t-interval of the mean Dice over held-out cases (a pair)."""
    from ..exercises import parse_pair
    from ..metrics import t_interval

    pair = parse_pair(answer)
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    exp = t_interval(dice_values)
    if np.allclose((lo, hi), exp, atol=1e-4):
        return correct(f"[{exp[0]:.3f}, {exp[1]:.3f}]: the cases are the independent units, so "
                       "the interval is over one number per case.")
    v = np.asarray(dice_values, dtype=float)
    sd = v.std(ddof=1)
    if np.allclose(hi - lo, 2 * 1.96 * sd, rtol=0.05):
        return wrong("that is a range of the cases (about ±2 standard deviations), not an "
                     "interval of the mean: divide the standard deviation by sqrt(n).")
    return wrong("use utils.metrics.t_interval on the per-case mean Dice values.")


def check_lab_table(answer, test_cases, table_3d) -> Feedback:
    """The lab: a per-case Dice table of the slice-wise 2-D U-Net on the same held-out cases as
    the 3-D U-Net (``table_3d``, from :func:`utils.volumes.dice_per_structure`)."""
    import pandas as pd

    if is_unanswered(answer):
        return unanswered("the per-case Dice table of the 2-D U-Net")
    if not isinstance(answer, pd.DataFrame):
        return wrong("give the table that utils.volumes.dice_per_structure returns.")
    missing = {"case", "anterior", "posterior", "mean"} - set(answer.columns)
    if missing:
        return wrong(f"the table lacks the columns {sorted(missing)}.")
    if list(answer["case"]) != list(test_cases):
        return wrong("score the same held-out cases, in the same order, as the 3-D U-Net: "
                     "otherwise the two means are not comparable.")
    values = answer[["anterior", "posterior"]].to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        return wrong("Dice values lie between 0 and 1 (no NaN).")
    if np.allclose(values, table_3d[["anterior", "posterior"]].to_numpy(dtype=float)):
        return wrong("this is the 3-D U-Net's table: score the 2-D model's predictions.")
    diff = float(answer["mean"].mean() - table_3d["mean"].mean())
    return correct(f"same {len(answer)} cases; the 2-D model's mean Dice is {diff:+.3f} against "
                   "the 3-D U-Net's. Compare per case (a paired difference), not two means.")
