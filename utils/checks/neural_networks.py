"""Exercise checks of chapter 02, *Neural networks from scratch*."""
from __future__ import annotations

import numpy as np

from ..exercises import Feedback, check_number, correct, is_unanswered, unanswered, wrong
from .. import fundamentals as F


def check_dense_params(answer) -> Feedback:
    """Exercise 1: parameters of Dense(50) on a flattened 64x64 grey image."""
    return check_number(answer, 64 * 64 * 50 + 50, atol=0, what="a parameter count", hints={
        64 * 64 * 50: "you counted the weights but not the 50 biases (one per neuron).",
        64 * 64 + 50: "every one of the 4096 inputs connects to every one of the 50 neurons: multiply.",
        64 * 50 + 50: "the flattened image has 64 * 64 = 4096 inputs, not 64.",
    })


def check_softplus_grad(answer) -> Feedback:
    """Exercise 2: a function computing the derivative of softplus log(1 + e^z)."""
    if is_unanswered(answer):
        return unanswered("a function f(z) that returns the derivative of softplus")
    if not callable(answer):
        return wrong("the answer should be a function (e.g. `lambda z: ...`), not a value.")
    z = np.linspace(-6, 6, 49)
    try:
        got = np.asarray(answer(z), dtype=float)
    except Exception as err:  # a student's function may fail in any way
        return wrong(f"calling your function on an array raised {type(err).__name__}: {err}")
    if got.shape != z.shape:
        return wrong(f"your function returned shape {got.shape} for an input of shape {z.shape}.")
    if np.allclose(got, F.sigmoid(z), atol=1e-6):
        return correct("The derivative of softplus is the sigmoid: a smooth version of ReLU's step.")
    if np.allclose(got, np.log1p(np.exp(z)), atol=1e-6):
        return wrong("that is softplus itself; differentiate log(1 + e^z) with the chain rule.")
    if np.allclose(got, F.relu_grad(z), atol=1e-6):
        return wrong("that is ReLU's derivative (a hard step); softplus has a smooth one.")
    if np.allclose(got, F.sigmoid_grad(z), atol=1e-6):
        return wrong("that is the derivative of the sigmoid; you went one derivative too far.")
    return wrong("not the derivative; check at z = 0, where it should be 0.5.")


NEURON = {"x": 2.0, "w": 0.5, "b": 0.0, "y": 1.0}


def check_neuron_gradient(answer) -> Feedback:
    """Exercise 3: dL/dw for one sigmoid neuron with BCE loss (values in :data:`NEURON`)."""
    x, w, b, y = NEURON["x"], NEURON["w"], NEURON["b"], NEURON["y"]
    p = float(F.sigmoid(w * x + b))
    expected = (p - y) * x
    return check_number(answer, expected, rtol=1e-4, what="dL/dw (a number)", hints={
        p - y: "that is dL/dz; the chain rule multiplies by dz/dw = x.",
        -expected: "the sign is wrong: dL/dz = p - y, which is negative when y = 1.",
        (p - y) * x * p * (1 - p): "with BCE the sigmoid's derivative cancels: dL/dz = p - y exactly.",
    })


def check_divergence_lr(answer) -> Feedback:
    """Exercise 4: the learning rate above which GD diverges on 0.5 * (w1^2 + 10 w2^2)."""
    return check_number(answer, 0.2, rtol=1e-3, what="a learning rate", hints={
        2.0: "that is the limit for the flat direction (curvature 1); the steep one (curvature 10) "
             "diverges first.",
        0.1: "at 1/10 the steep direction is solved in one step; it diverges only above 2/10.",
        1.0: "the steep direction has curvature 10: each step multiplies w2 by (1 - 10 * lr).",
    })
