"""Small, readable reference implementations for the fundamentals chapters (01-03).

Everything here is plain NumPy so that a reader can follow each line; the chapters then show
that Keras/TensorFlow compute the same numbers.

* DICOM and CT: :func:`dicom_summary`, :func:`to_hounsfield`, :func:`apply_window`, :data:`CT_WINDOWS`;
* volumes: :func:`three_planes` (axial, coronal, sagittal slices through a voxel);
* activations: :func:`sigmoid`, :func:`tanh`, :func:`relu` and their derivatives (:data:`ACTIVATIONS`);
* a tiny multilayer perceptron with forward and backward pass and a numerical gradient
  (:class:`MLP`, :func:`relative_error`), and :func:`gradient_descent` for 2-D loss surfaces;
* convolution: :func:`output_size`, :func:`conv2d_numpy` (multi-channel, several filters,
  stride, zero padding), :func:`conv_steps` and :func:`receptive_field_figure`, classic
  :data:`FILTERS`;
* pooling (chapter 04): :func:`pool2d` (max or average pooling with a plain loop);
* drawing small matrices with their numbers: :func:`draw_matrix`.
"""
from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------------
# DICOM, Hounsfield units, windowing
# --------------------------------------------------------------------------------------------
#: Common CT display windows as (centre, width) in Hounsfield units (HU).
CT_WINDOWS = {
    "lung": (-600.0, 1500.0),
    "soft tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}

_DICOM_FIELDS = (
    ("Modality", "Modality"), ("Manufacturer", "Manufacturer"), ("Rows", "Rows"),
    ("Columns", "Columns"), ("PixelSpacing", "Pixel spacing (mm)"),
    ("SliceThickness", "Slice thickness (mm)"), ("BitsStored", "Bits stored"),
    ("PhotometricInterpretation", "Photometric interpretation"),
    ("RescaleSlope", "Rescale slope"), ("RescaleIntercept", "Rescale intercept"),
    ("WindowCenter", "Window centre"), ("WindowWidth", "Window width"),
    ("KVP", "Tube voltage (kVp)"), ("RepetitionTime", "Repetition time TR (ms)"),
    ("EchoTime", "Echo time TE (ms)"),
)


def _plain(value):
    """DICOM values (MultiValue, DSfloat, IS) as plain Python numbers, lists or strings."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    for kind in (int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def dicom_summary(ds) -> dict:
    """The header fields a reader of a CT or MR slice needs, as ``{label: value}``.

    Fields the file does not carry are reported as ``None`` (e.g. MR has no rescale to HU).
    """
    return {label: _plain(ds.get(key)) for key, label in _DICOM_FIELDS}


def to_hounsfield(pixels, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """Stored pixel values to Hounsfield units: ``HU = slope * stored + intercept``.

    ``pixels`` may also be a pydicom dataset; its RescaleSlope/RescaleIntercept are then used
    (missing tags mean slope 1, intercept 0).
    """
    if hasattr(pixels, "pixel_array"):
        ds = pixels
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        pixels = ds.pixel_array
    return np.asarray(pixels, dtype=np.float64) * float(slope) + float(intercept)


def apply_window(values, center: float, width: float) -> np.ndarray:
    """Map values to [0, 1] for display: ``center - width/2`` -> 0, ``center + width/2`` -> 1.

    Everything below the window is black, everything above white; the ``width`` HU inside the
    window get the full grey range.  (The DICOM standard's formula differs by half a unit.)
    """
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    lo = center - width / 2.0
    return np.clip((np.asarray(values, dtype=np.float64) - lo) / width, 0.0, 1.0)


def three_planes(volume, index=None):
    """Axial, coronal and sagittal slices of a 3-D ``volume`` (x, y, z) through voxel ``index``.

    Returns a dict of 2-D arrays oriented for ``imshow(..., origin="lower")``: rows run along
    the second named axis (axial: y, coronal and sagittal: z).  ``index`` defaults to the
    volume's centre.
    """
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {vol.shape}")
    i, j, k = (s // 2 for s in vol.shape) if index is None else (int(v) for v in index)
    return {"axial": vol[:, :, k].T, "coronal": vol[:, j, :].T, "sagittal": vol[i, :, :].T}


# --------------------------------------------------------------------------------------------
# Activation functions
# --------------------------------------------------------------------------------------------
def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), computed without overflow."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_grad(z):
    return 1.0 - np.tanh(np.asarray(z, dtype=np.float64)) ** 2


def relu(z):
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def relu_grad(z):
    """Derivative of ReLU; 0 at z = 0 (the convention TensorFlow uses too)."""
    return (np.asarray(z) > 0).astype(np.float64)


def linear(z):
    return np.asarray(z, dtype=np.float64)


def linear_grad(z):
    return np.ones_like(np.asarray(z, dtype=np.float64))


#: name -> (function, derivative)
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "linear": (linear, linear_grad),
}


# --------------------------------------------------------------------------------------------
# A tiny multilayer perceptron
# --------------------------------------------------------------------------------------------
def _single_thread_blas():
    """Context manager limiting BLAS to one thread: the MLP's matrices are small, and on a
    busy two-core machine a multi-threaded BLAS is many times slower (a no-op without
    threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|), elementwise; the usual gradient-check measure."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-12)
    return float(np.max(np.abs(a - b) / denom))


class MLP:
    """Fully connected network for binary classification, in NumPy (float64).

    ``sizes=[n_in, h1, ..., 1]``; hidden layers use ``activation``, the output a sigmoid, the
    loss is the mean binary cross-entropy.  Weights ``W[l]`` have shape (fan_in, fan_out), the
    layout of a Keras ``Dense`` kernel, so ``model.set_weights(mlp.get_weights())`` copies them.
    """

    def __init__(self, sizes, activation: str = "relu", seed: int = 0):
        if len(sizes) < 2 or sizes[-1] != 1:
            raise ValueError("sizes must be [n_in, ..., 1] (one sigmoid output)")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}")
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.activation = activation
        self.W, self.b = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            scale = np.sqrt(2.0 / fan_in) if activation == "relu" else np.sqrt(1.0 / fan_in)
            self.W.append(rng.normal(0.0, scale, size=(fan_in, fan_out)))
            self.b.append(np.zeros(fan_out))
        self._cache = None

    # parameters ---------------------------------------------------------------------------
    def get_weights(self) -> list:
        """[W1, b1, W2, b2, ...] (copies), in Keras order."""
        out = []
        for W, b in zip(self.W, self.b):
            out += [W.copy(), b.copy()]
        return out

    def set_weights(self, weights) -> None:
        weights = list(weights)
        self.W = [np.array(w, dtype=np.float64) for w in weights[0::2]]
        self.b = [np.array(b, dtype=np.float64) for b in weights[1::2]]

    def count_params(self) -> int:
        return int(sum(W.size + b.size for W, b in zip(self.W, self.b)))

    # forward and backward -------------------------------------------------------------------
    def forward(self, X) -> np.ndarray:
        """Probabilities of class 1, shape (n, 1); keeps what backward() needs."""
        f, _ = ACTIVATIONS[self.activation]
        a = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        zs, activations = [], [a]
        for layer, (W, b) in enumerate(zip(self.W, self.b)):
            z = a @ W + b
            a = sigmoid(z) if layer == len(self.W) - 1 else f(z)
            zs.append(z)
            activations.append(a)
        self._cache = (zs, activations)
        return a

    predict_proba = forward

    @staticmethod
    def bce(p, y) -> float:
        """Mean binary cross-entropy of probabilities ``p`` for labels ``y``."""
        p = np.clip(np.asarray(p, dtype=np.float64).ravel(), 1e-12, 1 - 1e-12)
        y = np.asarray(y, dtype=np.float64).ravel()
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def loss(self, X, y) -> float:
        return self.bce(self.forward(X), y)

    def backward(self, y) -> list:
        """Gradients of the mean BCE w.r.t. [W1, b1, W2, b2, ...] for the last forward()."""
        if self._cache is None:
            raise RuntimeError("call forward(X) before backward(y)")
        _, df = ACTIVATIONS[self.activation]
        zs, activations = self._cache
        y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        n = len(y)
        delta = (activations[-1] - y) / n  # dL/dz of the output: sigmoid + BCE simplify
        grads = [None] * (2 * len(self.W))
        for layer in range(len(self.W) - 1, -1, -1):
            grads[2 * layer] = activations[layer].T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer > 0:
                delta = (delta @ self.W[layer].T) * df(zs[layer - 1])
        return grads

    def gradients(self, X, y) -> list:
        self.forward(X)
        return self.backward(y)

    def numerical_gradient(self, X, y, eps: float = 1e-5) -> list:
        """Central differences (L(w + eps) - L(w - eps)) / (2 eps) for every parameter."""
        grads = []
        for param in self.get_params():
            g = np.zeros_like(param)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + eps
                plus = self.loss(X, y)
                param[idx] = old - eps
                minus = self.loss(X, y)
                param[idx] = old
                g[idx] = (plus - minus) / (2 * eps)
            grads.append(g)
        return grads

    def get_params(self) -> list:
        """The live parameter arrays (not copies) in Keras order."""
        out = []
        for W, b in zip(self.W, self.b):
            out += [W, b]
        return out

    def gradient_check(self, X, y, eps: float = 1e-5) -> float:
        """Largest relative error between backprop and numerical gradients."""
        with _single_thread_blas():
            analytic = self.gradients(X, y)
            numeric = self.numerical_gradient(X, y, eps)
        return max(relative_error(a, n) for a, n in zip(analytic, numeric))

    # training -------------------------------------------------------------------------------
    def fit(self, X, y, epochs: int = 50, lr: float = 0.1, batch_size: int = 32, seed: int = 0,
            validation=None) -> dict:
        """Mini-batch gradient descent; returns a history of loss/accuracy per epoch."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        y = np.asarray(y, dtype=np.float64).ravel()
        rng = np.random.default_rng(seed)
        history = {"loss": [], "accuracy": []}
        if validation is not None:
            history.update(val_loss=[], val_accuracy=[])
        with _single_thread_blas():
            for _ in range(epochs):
                self._epoch(X, y, rng, lr, batch_size, history, validation)
        return history

    def _epoch(self, X, y, rng, lr, batch_size, history, validation) -> None:
        """One pass over shuffled mini-batches, then the epoch's loss and accuracy."""
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            for param, grad in zip(self.get_params(), self.gradients(X[batch], y[batch])):
                param -= lr * grad
        p = self.forward(X).ravel()
        history["loss"].append(self.bce(p, y))
        history["accuracy"].append(float(np.mean((p >= 0.5) == y)))
        if validation is not None:
            Xv, yv = validation
            pv = self.forward(np.asarray(Xv, dtype=np.float64).reshape(len(Xv), -1)).ravel()
            history["val_loss"].append(self.bce(pv, yv))
            history["val_accuracy"].append(float(np.mean((pv >= 0.5) == np.ravel(yv))))


def gradient_descent(grad, w0, lr: float, steps: int) -> np.ndarray:
    """Plain gradient descent ``w <- w - lr * grad(w)``; returns the path, shape (steps+1, d).

    Stops early (the path is cut) once the iterate leaves any sensible range (|w| > 1e6).
    """
    w = np.asarray(w0, dtype=np.float64).copy()
    path = [w.copy()]
    for _ in range(steps):
        w = w - lr * np.asarray(grad(w), dtype=np.float64)
        path.append(w.copy())
        if not np.all(np.isfinite(w)) or np.abs(w).max() > 1e6:
            break
    return np.array(path)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------
def output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """Output length of a convolution: ``floor((n + 2p - k) / s) + 1``.

    ``n`` input size, ``k`` kernel size, ``s`` stride, ``p`` zero padding on each side.
    """
    n, k, s, p = int(n), int(k), int(s), int(p)
    if s < 1 or p < 0 or k < 1:
        raise ValueError("need kernel k >= 1, stride s >= 1 and padding p >= 0")
    if k > n + 2 * p:
        raise ValueError(f"kernel {k} is larger than the padded input {n + 2 * p}")
    return (n + 2 * p - k) // s + 1


def same_padding(n: int, k: int, s: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of TensorFlow's ``padding="same"``: output ceil(n / s)."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _as_hwc(x) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x[:, :, None], True
    if x.ndim == 3:
        return x, False
    raise ValueError(f"input must be (H, W) or (H, W, C), got shape {x.shape}")


def _as_kernel(k, channels: int) -> tuple[np.ndarray, bool]:
    k = np.asarray(k, dtype=np.float64)
    single = k.ndim in (2, 3)
    if k.ndim == 2:
        k = k[:, :, None, None]
    elif k.ndim == 3:
        k = k[:, :, :, None]
    elif k.ndim != 4:
        raise ValueError(f"kernel must be (kh, kw), (kh, kw, C) or (kh, kw, C, F), got {k.shape}")
    if k.shape[2] != channels:
        raise ValueError(f"kernel has {k.shape[2]} input channels, the input has {channels}")
    return k, single


def pad_input(x, padding, kernel_shape, stride: int = 1) -> np.ndarray:
    """Zero-pad an (H, W, C) array: ``padding`` is an int, ``"valid"`` (0) or ``"same"``."""
    kh, kw = kernel_shape
    if padding == "valid":
        return x
    if padding == "same":
        (t, b), (l, r) = same_padding(x.shape[0], kh, stride), same_padding(x.shape[1], kw, stride)
    else:
        p = int(padding)
        if p < 0:
            raise ValueError("padding must be >= 0")
        t = b = l = r = p
    return np.pad(x, ((t, b), (l, r), (0, 0)))


def conv2d_numpy(x, k, stride: int = 1, padding=0, bias=None) -> np.ndarray:
    """2-D convolution as deep learning defines it (cross-correlation, no kernel flip).

    ``x``: (H, W) or (H, W, C).  ``k``: (kh, kw) for a grey image, (kh, kw, C) for one filter
    over C channels, or (kh, kw, C, F) for F filters (the Keras ``Conv2D`` kernel layout).
    ``padding``: zeros on each side (int), ``"valid"`` or ``"same"`` (TensorFlow's rule).
    Returns (H_out, W_out) for a single filter, else (H_out, W_out, F); each output value is the
    dot product of the kernel with its receptive field, plus ``bias``.
    """
    xh, grey = _as_hwc(x)
    k4, single = _as_kernel(k, xh.shape[2])
    stride = int(stride)
    if stride < 1:
        raise ValueError("stride must be >= 1")
    kh, kw = k4.shape[:2]
    xp = pad_input(xh, padding, (kh, kw), stride)
    if kh > xp.shape[0] or kw > xp.shape[1]:
        raise ValueError(f"kernel {kh}x{kw} is larger than the padded input {xp.shape[:2]}")
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(0, 1))
    windows = windows[::stride, ::stride]  # (Ho, Wo, C, kh, kw)
    out = np.einsum("ijcab,abcf->ijf", windows, k4)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64).reshape(-1)
    return out[:, :, 0] if single else out


def conv_steps(x, k, stride: int = 1, padding: int = 0) -> list[dict]:
    """Every position of a single-channel convolution: row, col, receptive field, product, value.

    The receptive field ``rows``/``cols`` are slices into the *padded* input ``padded``.
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError("conv_steps shows the single-channel case: x and k must be 2-D")
    xp = np.pad(x, int(padding))
    kh, kw = k.shape
    steps = []
    for i in range(output_size(x.shape[0], kh, stride, padding)):
        for j in range(output_size(x.shape[1], kw, stride, padding)):
            r, c = i * stride, j * stride
            field = xp[r:r + kh, c:c + kw]
            steps.append({"row": i, "col": j, "rows": slice(r, r + kh), "cols": slice(c, c + kw),
                          "field": field, "product": field * k, "value": float((field * k).sum()),
                          "padded": xp})
    return steps


def pool2d(x, size: int = 2, stride: int = 2, how: str = "max") -> np.ndarray:
    """Pool a 2-D array with a ``size`` x ``size`` window moved by ``stride`` (no padding).

    ``how`` is ``"max"`` (max pooling) or ``"mean"`` (average pooling).
    """
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', not {how!r}")
    x = np.asarray(x, dtype=float)
    out_h = (x.shape[0] - size) // stride + 1
    out_w = (x.shape[1] - size) // stride + 1
    reduce = np.max if how == "max" else np.mean
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[i * stride:i * stride + size, j * stride:j * stride + size]
            out[i, j] = reduce(window)
    return out


def draw_matrix(ax, M, highlight=None, color="tab:orange", fmt="{:g}", title=None,
                cmap="Blues", fontsize: float = 10, pad: int = 0, blocks=None) -> None:
    """Draw a small matrix with its numbers; ``highlight=(rows, cols)`` outlines a block.

    ``pad`` greys the outer ``pad`` rings (zero padding).  ``blocks`` (an integer array of
    ``M``'s shape) colours the cells by block id with a pastel palette instead of ``cmap``,
    e.g. one colour per pooling window.
    """
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    M = np.asarray(M, dtype=float)
    if blocks is not None:
        blocks = np.asarray(blocks, dtype=int)
        if blocks.shape != M.shape:
            raise ValueError(f"blocks has shape {blocks.shape}, the matrix {M.shape}")
        ax.imshow(plt.cm.Pastel1(blocks % plt.cm.Pastel1.N))
    else:
        ax.imshow(M, cmap=cmap, vmin=min(M.min(), 0), vmax=max(M.max(), 1) * 1.6)
    for (i, j), v in np.ndenumerate(M):
        padded = pad and (i < pad or j < pad or i >= M.shape[0] - pad or j >= M.shape[1] - pad)
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="0.6" if padded else "black", zorder=7)
    ax.set_xticks(np.arange(-0.5, M.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, M.shape[0], 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for side in ax.spines.values():
        side.set_visible(False)
    if highlight is not None:
        rows, cols = highlight
        box = dict(xy=(cols.start - 0.5, rows.start - 0.5), width=cols.stop - cols.start,
                   height=rows.stop - rows.start)
        ax.add_patch(patches.Rectangle(**box, facecolor=color, alpha=0.2, edgecolor="none", zorder=4))
        ax.add_patch(patches.Rectangle(**box, fill=False, edgecolor=color, linewidth=3, zorder=5))
    if title:
        ax.set_title(title, fontsize=fontsize)


def receptive_field_figure(x, k, stride: int = 1, padding: int = 0, size: float = 2.3,
                           suptitle: str | None = None):
    """One panel per output position: the input with the receptive field outlined, the
    element-wise products summed into the output value.  Returns the figure."""
    import matplotlib.pyplot as plt

    steps = conv_steps(x, k, stride, padding)
    n_rows = steps[-1]["row"] + 1
    n_cols = steps[-1]["col"] + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows + 0.5),
                             squeeze=False, layout="constrained")
    out = np.zeros((n_rows, n_cols))
    for st in steps:
        out[st["row"], st["col"]] = st["value"]
        ax = axes[st["row"], st["col"]]
        draw_matrix(ax, st["padded"], highlight=(st["rows"], st["cols"]), pad=int(padding),
                    fontsize=8)
        for (a, b), w in np.ndenumerate(np.asarray(k)):  # the kernel weight on each pixel
            ax.text(st["cols"].start + b + 0.45, st["rows"].start + a + 0.45, f"x{w:g}",
                    ha="right", va="bottom", fontsize=6, color="darkred", zorder=6)
        terms = " + ".join(f"{v:g}" for v in st["product"].ravel())
        ax.set_title(f"out[{st['row']},{st['col']}] = {st['value']:g}", fontsize=9)
        if len(terms) <= 40:
            ax.set_xlabel(terms, fontsize=6)
    fig.suptitle(suptitle or f"Receptive field of each output value "
                 f"(kernel {np.shape(k)[0]}x{np.shape(k)[1]}, stride {stride}, padding {padding})")
    return fig


#: Classic 3x3 image filters (used as fixed Conv2D kernels).
FILTERS = {
    "sobel x (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "sobel y (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "blur (box 3x3)": np.full((3, 3), 1.0 / 9.0),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
}
