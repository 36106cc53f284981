"""Checks for the exercises of chapter 10, *Classification, detection, segmentation: the U-Net*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, parse_number, unanswered, wrong

#: Exercise 1: a V7-style mask (0 background, 127 ignore, 255 lung) and a predicted mask.
TRUTH = np.array([
    [0, 0, 0, 0, 0, 0],
    [0, 255, 255, 255, 0, 0],
    [0, 255, 255, 255, 127, 127],
    [0, 255, 255, 255, 127, 127],
    [0, 0, 0, 0, 0, 0],
], dtype=np.uint8)
PRED = np.array([
    [0, 0, 0, 0, 0, 0],
    [0, 0, 1, 1, 1, 0],
    [0, 0, 1, 1, 1, 1],
    [0, 0, 1, 1, 1, 1],
    [0, 1, 0, 0, 0, 0],
], dtype=np.uint8)

#: Exercise 3: a small mask whose bounding box is asked for.
BOX_MASK = np.zeros((12, 16), dtype=np.uint8)
BOX_MASK[3:9, 5:11] = 1
BOX_MASK[9, 7] = 1


def _dice(t, p, v):
    t, p = t & v, p & v
    return 2 * (t & p).sum() / (t.sum() + p.sum())


def _iou(t, p, v):
    t, p = t & v, p & v
    return (t & p).sum() / (t | p).sum()


def expected_dice() -> float:
    """Dice of :data:`PRED` against :data:`TRUTH`, ignore pixels (127) left out."""
    return float(_dice(TRUTH == 255, PRED == 1, TRUTH != 127))


def check_masked_dice(answer) -> Feedback:
    """Exercise 1: the Dice of ``PRED`` against ``TRUTH`` with the 127 pixels excluded."""
    value = parse_number(answer, what="a number between 0 and 1")
    if isinstance(value, Feedback):
        return value
    t, p = TRUTH == 255, PRED == 1
    everything = np.ones_like(t)
    exp = expected_dice()
    if np.isclose(value, exp, atol=1e-3):
        return correct(f"Dice = {exp:.3f}: 6 overlapping pixels, 9 lung and 8 predicted pixels "
                       "once the 4 predictions on ignored pixels are left out.")
    if value > 1:
        return wrong("Dice lies between 0 and 1; give it as a fraction.")
    if np.isclose(value, _dice(t, p, everything), atol=1e-3):
        return wrong("you counted the ignore pixels (127) as background, so the four predictions "
                     "on them became false positives. Keep only pixels where TRUTH != 127.")
    if np.isclose(value, _iou(t, p, TRUTH != 127), atol=1e-3):
        return wrong("that is the IoU |A and B| / |A or B|. Dice is 2 |A and B| / (|A| + |B|).")
    if np.isclose(value, _dice(TRUTH > 0, p, everything), atol=1e-3):
        return wrong("you treated 127 as lung (TRUTH > 0). 127 means 'ignore': leave those pixels "
                     "out of both the truth and the prediction.")
    return wrong(f"{value:.3f} is not it: select the valid pixels v = TRUTH != 127, then "
                 "Dice = 2 sum(t & p & v) / (sum(t & v) + sum(p & v)).")


#: Exercise 2: parameters of the first encoder block of unet((128, 128, 1), base_filters=16).
ENC1_PARAMS = 3 * 3 * 1 * 16 + 4 * 16 + 3 * 3 * 16 * 16 + 4 * 16   # 2576


def check_enc1_params(answer) -> Feedback:
    """Exercise 2: parameters (trainable and not) of block ``enc1``: conv 1->16, BN, conv
    16->16, BN, no biases (batch norm follows each convolution)."""
    value = parse_number(answer, what="an integer")
    if isinstance(value, Feedback):
        return value
    value = int(round(value))
    conv = 3 * 3 * 1 * 16 + 3 * 3 * 16 * 16
    hints = {
        conv + 2 * 16 + 8 * 16: "you added a bias to each convolution; the U-Net's convolutions "
                                "have use_bias=False because batch norm's shift (beta) follows.",
        conv: "that counts the two convolutions only; each batch norm adds 4 numbers per channel "
              "(gamma, beta, moving mean, moving variance).",
        conv + 4 * 16: "each of the two batch-norm layers has 4 x 16 numbers.",
        conv + 2 * 2 * 16: "that is the trainable count; the question asks for all parameters, "
                           "including the moving mean and variance of batch norm.",
        3 * 3 * 16 + 3 * 3 * 16 * 16 * 2 + 8 * 16: "the first convolution sees 1 input channel "
                                                   "(a grayscale image), not 16.",
    }
    if value == ENC1_PARAMS:
        return correct("2576 = 144 + 64 (conv 3x3x1x16, BN) + 2304 + 64 (conv 3x3x16x16, BN). "
                       "Compare with the enc1 row of the level table.")
    if value in hints:
        return wrong(hints[value])
    return wrong(f"{value} is not it. A 3x3 convolution from c_in to c_out channels without bias "
                 "has 9 c_in c_out weights; a batch norm has 4 per channel.")


def expected_box() -> tuple:
    """COCO box ``(x, y, w, h)`` of :data:`BOX_MASK`."""
    ys, xs = np.nonzero(BOX_MASK)
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1))


def check_box(answer) -> Feedback:
    """Exercise 3: the COCO bounding box ``(x, y, width, height)`` of ``BOX_MASK``."""
    if is_unanswered(answer):
        return unanswered("a tuple (x, y, width, height)")
    try:
        box = tuple(int(round(float(v))) for v in answer)
    except (TypeError, ValueError):
        return wrong(f"expected four numbers (x, y, width, height), got {answer!r}.")
    if len(box) != 4:
        return wrong(f"a COCO box has four numbers, yours has {len(box)}.")
    x, y, w, h = exp = expected_box()
    if box == exp:
        return correct(f"{exp}: x is the column, y the row of the top-left pixel; width and "
                       "height count pixels, so they are max - min + 1.")
    if box == (y, x, h, w):
        return wrong("rows and columns are swapped: x is the column (axis 1), y the row (axis 0).")
    if box == (x, y, x + w - 1, y + h - 1) or box == (x, y, x + w, y + h):
        return wrong("that is (x1, y1, x2, y2), two corners. COCO stores (x, y, width, height).")
    if box == (x, y, w - 1, h - 1):
        return wrong("off by one: a box from column 5 to column 10 is 6 pixels wide "
                     "(max - min + 1).")
    if box[:2] == (x, y) and box[3] == h - 1:
        return wrong("check the height: the single pixel in row 9 belongs to the mask too.")
    return wrong(f"{box} is not it: find the rows and columns with nonzero pixels "
                 "(np.nonzero) and take their minimum and extent.")
