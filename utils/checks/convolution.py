"""Exercise checks of chapter 03, *Convolution*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, check_array, check_number, correct, is_unanswered, unanswered, wrong
from .. import fundamentals as F

FIG2_INPUT = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                       [0, 1, 1, 0, 0]], dtype=float)
EDGE_KERNEL = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=float)


def check_output_size(answer) -> Feedback:
    """Exercise 1: output side of a 224x224 input, 7x7 kernel, stride 2, padding 3."""
    return check_number(answer, F.output_size(224, 7, 2, 3), atol=0, what="an output size", hints={
        F.output_size(224, 7, 2, 0): "you left out the padding: n + 2p - k with p = 3.",
        F.output_size(224, 7, 1, 3): "you left out the stride: divide by s = 2 before adding 1.",
        (224 + 6 - 7) / 2 + 1: "round down: floor((n + 2p - k) / s) + 1.",
        (224 + 3 - 7) // 2 + 1: "the padding is added on both sides: 2p, not p.",
    })


def check_edge_feature_map(answer) -> Feedback:
    """Exercise 2: Fig. 2's input with :data:`EDGE_KERNEL`, stride 1, no padding."""
    if is_unanswered(answer):
        return unanswered("the 3x3 feature map (an array)")
    expected = F.conv2d_numpy(FIG2_INPUT, EDGE_KERNEL)
    a = np.asarray(answer, dtype=float)
    if a.shape == expected.shape and np.allclose(a, F.conv2d_numpy(FIG2_INPUT, EDGE_KERNEL[::-1, ::-1])):
        return wrong("you flipped the kernel (true convolution, as scipy.signal.convolve2d does); "
                     "deep learning's 'convolution' is cross-correlation: no flip.")
    if a.shape == expected.shape and np.allclose(a, expected.T):
        return wrong("your result is transposed: out[i, j] uses rows i..i+2 and columns j..j+2.")
    return check_array(a, expected, what="the 3x3 feature map")


def check_conv_params(answer) -> Feedback:
    """Exercise 3: parameters of Conv2D(32, 3x3) on an RGB (3-channel) input."""
    return check_number(answer, 3 * 3 * 3 * 32 + 32, atol=0, what="a parameter count", hints={
        3 * 3 * 32 + 32: "each filter spans all 3 input channels: 3 x 3 x 3 weights per filter.",
        3 * 3 * 3 * 32: "add one bias per filter (32).",
        3 * 3 * 3 + 1: "that is one filter; the layer has 32.",
    })


def _step(horizontal: bool) -> np.ndarray:
    img = np.zeros((8, 8))
    if horizontal:
        img[4:, :] = 1.0  # dark above, bright below
    else:
        img[:, 4:] = 1.0  # dark left, bright right
    return img


def check_horizontal_edge_kernel(answer) -> Feedback:
    """Exercise 4: a 3x3 kernel that responds positively to dark-above/bright-below edges
    (with one sign only: no line detectors), not to vertical edges, and gives 0 on flat regions."""
    if is_unanswered(answer):
        return unanswered("a 3x3 kernel (array)")
    k = np.asarray(answer, dtype=float)
    if k.shape != (3, 3):
        return wrong(f"the kernel must be 3x3, yours has shape {k.shape}.")
    if not np.isclose(k.sum(), 0.0, atol=1e-9):
        return wrong(f"its weights sum to {k.sum():g}: a flat region (all pixels equal) would give "
                     "a non-zero response. Make them sum to 0.")
    h = F.conv2d_numpy(_step(True), k)
    v = F.conv2d_numpy(_step(False), k)
    peak_h = h.flat[np.abs(h).argmax()]  # the strongest response, with its sign
    peak_v = np.abs(v).max()
    if np.abs(h).max() < 1e-9:
        return wrong("it does not respond to a horizontal edge at all.")
    if (h > 0.05 * np.abs(h).max()).any() and (h < -0.05 * np.abs(h).max()).any():
        return wrong("on a single dark-to-bright edge its response has both signs (a positive and a "
                     "negative band): that is a line detector, which compares the middle row with the "
                     "rows above and below. An edge detector's weights go from negative in the top row "
                     "to positive in the bottom row.")
    if peak_v > 0.25 * np.abs(h).max():
        return wrong("it responds to vertical edges as strongly: weights should change from top to "
                     "bottom rows, not from left to right columns.")
    if peak_h < 0:
        return wrong("the response is negative for dark-above/bright-below: swap the top and bottom rows.")
    return correct("A Sobel-y or Prewitt-y kernel does exactly this.")
