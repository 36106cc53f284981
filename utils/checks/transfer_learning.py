"""Checks for the exercises of chapter 06, *Transfer learning*."""
from __future__ import annotations

import numpy as np

from ..exercises import (Feedback, check_array, check_number, correct, is_unanswered, parse_shape,
                         unanswered, wrong)


def _head_params(channels: int, side: int = 7) -> int:
    flat = side * side * channels
    return flat * 256 + 256 + 256 * 128 + 128 + 128 + 1


def check_paper_head_params(answer) -> Feedback:
    """Exercise 1: trainable parameters of the paper's head (Flatten -> 256 -> 128 -> 1) on
    ResNet50's 7x7x2048 output for a 224 px image (the author's code used 128 px: 4x4x2048)."""
    expected = _head_params(2048)
    hints = {
        7 * 7 * 2048 * 256 + 256 * 128 + 128: "you forgot the biases: every Dense unit has one "
                                              "(256 + 128 + 1 of them).",
        _head_params(1280): "that is the head on EfficientNet-Lite0 (1280 channels); ResNet50's "
                            "last block outputs 2048 channels.",
        2048 * 256 + 256 + 256 * 128 + 128 + 128 + 1: "that head sits on *pooled* features "
                                                      "(2048 numbers); Flatten keeps all 7x7x2048 "
                                                      "values of the map.",
        _head_params(2048, side=4): "that is the head at the author's 128 px (a 4x4x2048 map); "
                                    "the exercise asks for a 224 px image, a 7x7x2048 map.",
        7 * 7 * 2048: "that is the length of the flattened vector; multiply by the 256 units of "
                      "the first Dense layer and add the other layers.",
    }
    return check_number(answer, expected, rtol=0, atol=0.5, hints=hints,
                        what="a whole number of parameters")


def check_resnet_preprocess(answer) -> Feedback:
    """Exercise 2: ``keras.applications.resnet50.preprocess_input`` of the pure red pixel
    (255, 0, 0), in the channel order the network receives."""
    if is_unanswered(answer):
        return unanswered("three numbers (channel values after preprocessing)")
    try:
        a = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        return wrong(f"expected three numbers, got {answer!r}.")
    mean_bgr = np.array([103.939, 116.779, 123.68])
    expected = np.array([0.0, 0.0, 255.0]) - mean_bgr  # BGR order
    if a.shape != (3,):
        return wrong(f"give one value per channel (3 numbers), not {a.size}.")
    if np.allclose(a, np.array([255.0, 0.0, 0.0]) - mean_bgr, atol=0.01):
        return wrong("you subtracted the means but kept the RGB order: 'caffe' preprocessing "
                     "first swaps RGB to BGR, so red ends up in the last channel.")
    if np.allclose(a, np.array([255.0, 0.0, 0.0]) - mean_bgr[::-1], atol=0.01):
        return wrong("close: the means are right for RGB order, but the network receives BGR; "
                     "red goes to the last channel.")
    if np.allclose(a, [1.0, -1.0, -1.0], atol=0.01) or np.allclose(a, [-1.0, -1.0, 1.0], atol=0.01):
        return wrong("that is Inception's 'tf' mode (x / 127.5 - 1); ResNet50 uses 'caffe' mode: "
                     "BGR order minus the ImageNet channel means, no scaling.")
    return check_array(a, expected, atol=0.01, what="three numbers")


def check_feature_map_shape(answer) -> Feedback:
    """Exercise 3: shape of EfficientNet-Lite0's feature map (include_top=False) for a
    160x160 RGB input."""
    shape = parse_shape(answer)
    if isinstance(shape, Feedback):
        return shape
    if shape == (5, 5, 1280):
        return correct("five stride-2 stages divide 160 by 32: a 5x5 map of 1280 channels.")
    if shape == (7, 7, 1280):
        return wrong("that is the map for a 224 px input; the network divides the side by 32, "
                     "whatever the input size.")
    if shape[:2] == (5, 5):
        return wrong("the side is right; count the channels of the last (top) convolution.")
    if shape == (1280,):
        return wrong("that is after global average pooling (pooling='avg'); without pooling "
                     "the output is a spatial map.")
    if len(shape) != 3:
        return wrong(f"give three numbers (height, width, channels), not {len(shape)}.")
    return wrong(f"{shape} is not right: the stem and four stages have stride 2 (160 / 2**5).")


def check_residual_shape(answer) -> Feedback:
    """Exercise 4: output shape of ``residual_block(x, 128, stride=2)`` on a 56x56x64 input,
    and whether its shortcut needs a projection: ``((h, w, c), needs_projection)``."""
    if is_unanswered(answer):
        return unanswered("a pair ((height, width, channels), True or False)")
    try:
        shape, projection = answer
        shape = tuple(int(v) for v in shape if v is not None)
    except (TypeError, ValueError):
        return wrong("give a pair: ((height, width, channels), True/False).")
    if len(shape) == 4:
        shape = shape[1:]
    if shape == (56, 56, 128):
        return wrong("the first convolution has stride 2: the block halves height and width.")
    if shape == (28, 28, 64):
        return wrong("the block's convolutions have 128 filters: the output has 128 channels.")
    if shape != (28, 28, 128):
        return wrong(f"{shape} is not the output shape; apply the stride and the filter count.")
    if not isinstance(projection, (bool, np.bool_)):
        return wrong("the second element must be True or False.")
    if not projection:
        return wrong("the shape is right, but x (56x56x64) cannot be added to a 28x28x128 "
                     "tensor: the shortcut needs a 1x1 convolution with stride 2.")
    return correct("56 / 2 = 28 and 128 filters; the identity shortcut does not fit, so a 1x1 "
                   "stride-2 convolution projects x to 28x28x128.")
