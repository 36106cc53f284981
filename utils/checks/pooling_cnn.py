"""Checks for the exercises of chapter 04, *Pooling and CNN anatomy*."""
from __future__ import annotations

import numpy as np

from .. import fundamentals as F
from ..exercises import Feedback, check_array, check_number, correct, is_unanswered, parse_shape, unanswered, wrong

#: The 4x4 input of exercise 1.
POOL_INPUT = np.array([[2, 0, 1, 3],
                       [4, 6, 5, 1],
                       [0, 1, 9, 2],
                       [3, 2, 4, 8]], dtype=float)


def check_avg_pool(answer) -> Feedback:
    """Exercise 1: 2x2 average pooling with stride 2 of :data:`POOL_INPUT`."""
    if is_unanswered(answer):
        return unanswered("a 2x2 array")
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return wrong(f"expected a 2x2 array of numbers, got {type(answer).__name__}.")
    expected = F.pool2d(POOL_INPUT, how="mean")
    if a.shape == (3, 3):
        return wrong("your result is 3x3: the windows moved by 1 pixel (stride 1). With stride 2 "
                     "the 2x2 windows do not overlap, so a 4x4 input gives 2x2.")
    if a.shape == expected.shape and np.allclose(a, F.pool2d(POOL_INPUT, how="max")):
        return wrong("that is max pooling (the largest value of each window); average pooling "
                     "takes the mean of the four values.")
    if a.shape == expected.shape and np.allclose(a, F.pool2d(POOL_INPUT, how="mean") * 4):
        return wrong("these are the sums of the windows; divide by the 4 values of each window.")
    return check_array(a, expected, what="a 2x2 array")


def check_output_shape(answer) -> Feedback:
    """Exercise 2: output of Conv2D(16, 3, padding="valid") then MaxPooling2D(2) on 64x64x1."""
    shape = parse_shape(answer)
    if isinstance(shape, Feedback):
        return shape
    if shape == (31, 31, 16):
        return correct("64 - 3 + 1 = 62 after the 'valid' convolution, 62 / 2 = 31 after pooling; "
                       "16 filters give 16 channels.")
    if shape == (32, 32, 16):
        return wrong("you forgot that padding='valid' adds no border: a 3x3 kernel fits "
                     "64 - 3 + 1 = 62 times, so the map shrinks to 62 before pooling. "
                     "(32 would be right with padding='same'.)")
    if shape == (62, 62, 16):
        return wrong("that is the shape after the convolution; the 2x2 max pooling halves it.")
    if shape[:2] == (31, 31) and len(shape) == 3:
        return wrong("height and width are right, but the number of channels equals the number "
                     "of filters of the convolution.")
    if len(shape) != 3:
        return wrong(f"give three numbers (height, width, channels), not {len(shape)}.")
    return wrong(f"{shape} is not right: apply the convolution (valid padding), then the pooling.")


def check_conv_params(answer) -> Feedback:
    """Exercise 3: trainable parameters of Conv2D(16, 3x3) on an input with 8 channels."""
    expected = (3 * 3 * 8 + 1) * 16
    hints = {
        3 * 3 * 8 * 16: "you forgot the biases: every filter has one bias, 16 in all.",
        (3 * 3 + 1) * 16: "you forgot the input channels: each filter is 3x3x8, one 3x3 slice per "
                          "input channel.",
        3 * 3 * 16: "each filter is 3x3x8 (it spans all 8 input channels) and has a bias.",
        3 * 3 * 8 * 16 + 8: "there is one bias per filter (output channel), not per input channel.",
    }
    return check_number(answer, expected, rtol=0, atol=0, hints=hints, what="the number of parameters")


def check_receptive_field(answer) -> Feedback:
    """Exercise 4: receptive field of conv3 -> conv3 -> maxpool2 -> conv3 (stride 1 convs)."""
    hints = {
        8: "after the stride-2 pooling, neighbouring values are 2 input pixels apart (the jump), "
           "so the last 3x3 convolution adds (3 - 1) x 2 = 4 pixels, not 2.",
        11: "the 2x2 pooling adds (2 - 1) x 1 = 1 pixel, and the 3x3 convolution after it "
            "(3 - 1) x 2 = 4.",
        9: "start from 1 pixel and add (k - 1) x jump for every layer: 1 + 2 + 2 + 1 + 2 x 2.",
    }
    return check_number(answer, 10, rtol=0, atol=0, hints=hints, what="the receptive field in pixels")
