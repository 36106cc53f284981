"""Volumes: resampling, per-volume normalisation, padding/cropping, and the 3-D models.

The 3-D counterparts of the 2-D tools of :mod:`utils.cnn` and :mod:`utils.segmentation`:

* :func:`resample` to a new voxel spacing (linear for images, nearest for label maps, whose
  values must stay the same set of integers);
* :func:`normalise` one volume to zero mean and unit variance (inside a mask if given), so that
  volumes stored as uint8 and as float32 land on one scale;
* :func:`pad_or_crop` to a fixed shape around the centre and :func:`restore` back to the
  original shape (predictions are scored on the original grid);
* :func:`cnn3d` (a small 3-D classifier) and :func:`unet3d` (a small 3-D U-Net), with
  :func:`activation_bytes` to count what a forward pass keeps in memory;
* :func:`dice_per_structure` (one row per case, one column per structure);
* :func:`plot_three_views` and :func:`plot_slices` to look at a volume.
"""
from __future__ import annotations

import numpy as np

from .segmentation import dice_score


# --------------------------------------------------------------------------------------------
# Geometry and intensities
# --------------------------------------------------------------------------------------------
def resample(volume, spacing, new_spacing=1.0, label: bool = False):
    """``volume`` on a grid of ``new_spacing`` mm (a number or one per axis).

    Returns ``(array, spacing)``: the actual spacing differs slightly from the one asked for
    because the number of voxels is an integer (extent / new spacing, rounded).  Images are
    interpolated linearly (``order=1``); with ``label=True`` the nearest voxel's value is taken
    (``order=0``), so a label map keeps exactly its set of values (linear interpolation would
    invent 0.5 between background and structure, 1.5 between two structures).
    """
    from scipy import ndimage

    volume = np.asarray(volume)
    spacing = np.broadcast_to(np.asarray(spacing, dtype=float), (volume.ndim,))
    new = np.broadcast_to(np.asarray(new_spacing, dtype=float), (volume.ndim,))
    shape = np.maximum(1, np.rint(np.array(volume.shape) * spacing / new)).astype(int)
    factors = shape / np.array(volume.shape)
    out = ndimage.zoom(volume, factors, order=0 if label else 1, mode="nearest", grid_mode=True)
    return out, tuple(float(s) for s in spacing / factors)


def normalise(volume, mask=None, eps: float = 1e-6) -> np.ndarray:
    """One volume to zero mean and unit standard deviation (float32), the statistics taken over
    ``mask`` (all voxels when None).  Per volume: each scan has its own gain and offset."""
    volume = np.asarray(volume, dtype=np.float32)
    values = volume[mask] if mask is not None else volume
    return ((volume - values.mean()) / (values.std() + eps)).astype(np.float32)


def pad_or_crop(volume, shape, value=0):
    """``volume`` centred in an array of ``shape``: axes that are longer are cropped (centred),
    shorter ones padded with ``value``.  Returns ``(array, box)``; ``box`` is what
    :func:`restore` needs to put a result of that shape back on the original grid."""
    volume = np.asarray(volume)
    if len(shape) != volume.ndim:
        raise ValueError(f"shape {tuple(shape)} has {len(shape)} axes, the volume {volume.ndim}")
    out = np.full(tuple(shape), value, dtype=volume.dtype)
    src, dst = [], []
    for n, s in zip(volume.shape, shape):
        if n >= s:
            start = (n - s) // 2
            src.append(slice(start, start + s))
            dst.append(slice(0, s))
        else:
            start = (s - n) // 2
            src.append(slice(0, n))
            dst.append(slice(start, start + n))
    out[tuple(dst)] = volume[tuple(src)]
    return out, {"shape": volume.shape, "src": tuple(src), "dst": tuple(dst)}


def restore(array, box, value=0):
    """The inverse of :func:`pad_or_crop`: ``array`` (of the padded/cropped shape, extra
    trailing axes allowed) on the original grid; voxels that the crop cut off get ``value``."""
    array = np.asarray(array)
    out = np.full(tuple(box["shape"]) + array.shape[len(box["shape"]):], value, dtype=array.dtype)
    out[box["src"]] = array[box["dst"]]
    return out


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
def cnn3d(input_shape=(28, 28, 28, 1), filters=(16, 32, 64), dropout: float = 0.3,
          name: str = "cnn3d"):
    """A small 3-D classifier: per stage a 3x3x3 convolution, batch norm, ReLU and a 2x2x2
    max pool; then global average pooling, dropout and one sigmoid unit.  With a 2-D
    ``input_shape`` (H, W, C) the same network is built with 2-D layers (the slice baseline)."""
    from tensorflow import keras
    from tensorflow.keras import layers

    three = len(input_shape) == 4
    conv, pool, gap = ((layers.Conv3D, layers.MaxPooling3D, layers.GlobalAveragePooling3D)
                       if three else
                       (layers.Conv2D, layers.MaxPooling2D, layers.GlobalAveragePooling2D))
    inputs = keras.Input(input_shape)
    x = inputs
    for i, f in enumerate(filters):
        x = conv(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = pool(2, name=f"pool{i + 1}")(x)
    x = gap(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="prob")(x)
    return keras.Model(inputs, outputs, name=name)


def unet3d(input_shape=(32, 48, 32, 1), n_classes: int = 3, base_filters: int = 8,
           depth: int = 3, name: str = "unet3d"):
    """A small U-Net: ``depth`` levels of two 3x3x3 convolutions (batch norm, ReLU), 2x2x2 max
    pooling down, transposed convolutions up, skip connections; a softmax over ``n_classes``.

    Every spatial size must be divisible by 2**(depth-1) (pad with :func:`pad_or_crop`).  With
    a 2-D ``input_shape`` (H, W, C) the same network is built with 2-D layers (the slice-wise
    U-Net of the lab)."""
    from tensorflow import keras
    from tensorflow.keras import layers

    three = len(input_shape) == 4
    step = 2 ** (depth - 1)
    if any(int(s) % step for s in input_shape[:-1]):
        raise ValueError(f"every spatial size of {tuple(input_shape)} must be divisible by "
                         f"{step} for depth {depth}: pad or crop the volumes first")
    conv = layers.Conv3D if three else layers.Conv2D
    pool = layers.MaxPooling3D if three else layers.MaxPooling2D
    up = layers.Conv3DTranspose if three else layers.Conv2DTranspose

    def block(x, f, tag):
        for j in (1, 2):
            x = conv(f, 3, padding="same", use_bias=False, name=f"{tag}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"{tag}_bn{j}")(x)
            x = layers.ReLU(name=f"{tag}_relu{j}")(x)
        return x

    inputs = keras.Input(input_shape)
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, base_filters * 2 ** level, f"down{level}")
        if level < depth - 1:
            skips.append(x)
            x = pool(2, name=f"pool{level}")(x)
    for level in reversed(range(depth - 1)):
        x = up(base_filters * 2 ** level, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = block(x, base_filters * 2 ** level, f"dec{level}")
    outputs = conv(n_classes, 1, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def dice_ce_loss(n_classes: int = 3, smooth: float = 1.0):
    """Cross-entropy plus the mean soft Dice loss of the foreground classes (1..n-1), for
    integer label maps ``y_true`` (..., 1 or no channel) and softmax ``y_pred`` (..., n)."""
    import tensorflow as tf

    def loss(y_true, y_pred):
        y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)
        onehot = tf.one_hot(y_true, n_classes)
        ce = tf.reduce_mean(tf.keras.losses.categorical_crossentropy(onehot, y_pred))
        axes = tf.range(1, tf.rank(y_pred) - 1)
        inter = tf.reduce_sum(onehot * y_pred, axis=axes)
        total = tf.reduce_sum(onehot + y_pred, axis=axes)
        dice = (2.0 * inter + smooth) / (total + smooth)
        return ce + 1.0 - tf.reduce_mean(dice[:, 1:])

    return loss


def activation_bytes(model, batch_size: int = 1, dtype_bytes: int = 4) -> int:
    """Bytes of every layer's output for one forward pass of ``batch_size`` inputs (what
    training keeps for the backward pass, before the framework's own overheads): the sum over
    layers of the product of the output shape, counted from the built model."""
    total = 0
    for layer in model.layers:
        shapes = layer.output.shape if not isinstance(layer.output, list) else None
        if shapes is None:
            continue
        total += int(np.prod([int(s) for s in shapes[1:]]))
    return total * batch_size * dtype_bytes


_STEP_SCRIPT = """
import json, resource, sys
from utils import config, volumes   # first: the book's TensorFlow settings
config.configure_tensorflow()
config.seed_everything(0)
import numpy as np
import tensorflow as tf
shape, batch = tuple(json.loads(sys.argv[1])), int(sys.argv[2])
def kib():
    # VmHWM: the peak of this process's own memory map (a new one at exec); ru_maxrss would
    # start from the parent's size at fork (a big notebook kernel), so it is only a fallback
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = volumes.unet3d(shape + (1,), n_classes=3, base_filters=8)
model.compile(tf.keras.optimizers.Adam(2e-3), volumes.dice_ce_loss(3))
x = np.zeros((batch,) + shape + (1,), np.float32)
y = np.zeros((batch,) + shape, np.uint8)
before = kib()
model.train_on_batch(x, y)
print(json.dumps({"before_kib": before, "after_kib": kib()}))
"""


def peak_memory_one_step(shape, batch_size: int = 4, timeout: float = 300) -> dict:
    """The measured peak resident memory of a fresh Python process that builds the chapter's
    U-Net (:func:`unet3d`, 8 base filters) for ``shape`` and runs **one** training step on a
    batch of ``batch_size`` (the peak resident set ``VmHWM`` of ``/proc/self/status`` on
    Linux, else ``resource.getrusage`` max RSS, which counts from the parent's size at fork).
    Returns
    ``{"before_mb", "peak_mb", "step_mb"}``: the process's peak before the step (Python,
    TensorFlow, the built model), after it, and their difference (what the step added at its
    peak).  A separate process, because a process's peak never goes down."""
    return peak_memory_steps([shape], batch_size, timeout)[0]


def peak_memory_steps(shapes, batch_size: int = 4, timeout: float = 300) -> list:
    """:func:`peak_memory_one_step` for several ``shapes``, one process each, one after the
    other.  The processes run on the CPU (``CUDA_VISIBLE_DEVICES`` empty): the figure is host
    memory, and a notebook kernel that holds the GPU is not competed with."""
    import json
    import os
    import subprocess
    import sys

    from . import config

    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config.repo_root()), env.get("PYTHONPATH")) if p)
    results = []
    for shape in shapes:
        proc = subprocess.run([sys.executable, "-c", _STEP_SCRIPT, json.dumps(list(shape)),
                               str(batch_size)], capture_output=True, text=True, env=env,
                              cwd=str(config.repo_root()), timeout=timeout)
        if proc.returncode:
            raise RuntimeError(f"the training step for {tuple(shape)} failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        before, after = r["before_kib"] / 1024, r["after_kib"] / 1024
        results.append({"before_mb": before, "peak_mb": after, "step_mb": after - before})
    return results


def random_flips(x, y=None, axes=(1, 2, 3), seed=None):
    """A batch ``x`` (N, ...) with each sample flipped along each of ``axes`` with probability
    1/2 (the same flips applied to ``y`` when given, e.g. label maps)."""
    rng = np.random.default_rng(seed)
    x = np.array(x, copy=True)
    y = None if y is None else np.array(y, copy=True)
    for i in range(len(x)):
        for a in axes:
            if rng.random() < 0.5:
                x[i] = np.flip(x[i], axis=a - 1)
                if y is not None:
                    y[i] = np.flip(y[i], axis=a - 1)
    return x if y is None else (x, y)


def flip_combinations(axes):
    """Every subset of ``axes`` (the empty one first): the 2**len(axes) flips of a sample."""
    from itertools import combinations

    axes = tuple(axes)
    return [c for r in range(len(axes) + 1) for c in combinations(axes, r)]


def predict_flips(model, x, axes=(1, 2, 3), batch_size: int = 32):
    """``model.predict`` averaged over the 2**len(axes) flipped copies of the batch ``x``
    (N, ...): test-time flip averaging.  An output on the input's grid (a segmentation's
    (N, ..., classes) for an (N, ..., 1) input) is flipped back before averaging; a classifier's
    (N, 1) output is averaged as it is.  Whether it helps is a choice: make it on validation data."""
    x = np.asarray(x)
    total = None
    combos = flip_combinations(axes)
    for combo in combos:
        xf = np.flip(x, axis=combo) if combo else x
        out = np.asarray(model.predict(xf, batch_size=batch_size, verbose=0))
        if combo and out.ndim == x.ndim and out.shape[:-1] == x.shape[:-1]:
            out = np.flip(out, axis=combo)
        total = out.astype(np.float64) if total is None else total + out
    return (total / len(combos)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Scores and pictures
# --------------------------------------------------------------------------------------------
def dice_per_structure(truths, preds, structures=("anterior", "posterior"), cases=None):
    """One row per case, one Dice column per structure (label value 1, 2, ... in the order of
    ``structures``), plus ``mean`` over the structures.  A structure absent from both truth and
    prediction scores 1 (:func:`utils.segmentation.dice_score`)."""
    import pandas as pd

    rows = []
    for i, (t, p) in enumerate(zip(truths, preds)):
        t, p = np.asarray(t), np.asarray(p)
        if t.shape != p.shape:
            raise ValueError(f"case {i}: truth {t.shape} and prediction {p.shape} differ")
        row = {"case": cases[i] if cases is not None else i}
        for value, name in enumerate(structures, start=1):
            row[name] = dice_score(t == value, p == value)
        rows.append(row)
    df = pd.DataFrame(rows)
    df["mean"] = df[list(structures)].mean(axis=1)
    return df


VIEWS = ("axis 0", "axis 1", "axis 2")


def three_views(volume, index=None):
    """The three orthogonal middle planes of ``volume`` (or through voxel ``index``): the
    planes perpendicular to axis 0, 1 and 2."""
    volume = np.asarray(volume)
    index = [s // 2 for s in volume.shape[:3]] if index is None else list(index)
    return [volume[index[0]], volume[:, index[1]], volume[:, :, index[2]]]


def plot_three_views(volume, spacing=(1.0, 1.0, 1.0), label=None, index=None, titles=None,
                     axes=None, suptitle: str = "", cmap="gray"):
    """The three orthogonal planes of ``volume`` side by side, each with the aspect ratio of its
    voxels (``spacing`` in mm per axis: anisotropic voxels are not stretched wrongly); ``label``
    is drawn as contours of each structure.  Returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    titles = titles or [f"plane across axis {i}" for i in range(3)]
    planes = three_views(volume, index)
    lab = three_views(label, index) if label is not None else [None] * 3
    pairs = [(1, 2), (0, 2), (0, 1)]  # the array axes shown as rows, columns
    for ax, plane, lp, (r, c), title in zip(axes, planes, lab, pairs, titles):
        ax.imshow(plane, cmap=cmap, aspect=spacing[r] / spacing[c], interpolation="nearest")
        if lp is not None and np.any(lp > 0):
            ax.contour(lp, levels=np.arange(0.5, lp.max() + 1), colors=["#ff7f0e", "#1f77b4", "#2ca02c"][:int(lp.max())],
                       linewidths=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if suptitle:
        axes[0].figure.suptitle(suptitle)
    return axes


def plot_slices(volume, axis: int = 0, n: int = 8, spacing=(1.0, 1.0, 1.0), label=None,
                cmap="gray"):
    """``n`` evenly spaced planes across ``axis``: a printed stand-in for a slice scroller
    (in Jupyter or Colab, ``ipywidgets.interact`` over the index gives the scroller itself)."""
    import matplotlib.pyplot as plt

    volume = np.moveaxis(np.asarray(volume), axis, 0)
    keep = [a for a in range(3) if a != axis]
    idx = np.linspace(0, volume.shape[0] - 1, n).round().astype(int)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 2.0))
    for ax, k in zip(np.atleast_1d(axes), idx):
        ax.imshow(volume[k], cmap=cmap, aspect=spacing[keep[0]] / spacing[keep[1]])
        if label is not None:
            lp = np.moveaxis(np.asarray(label), axis, 0)[k]
            if lp.any():
                ax.contour(lp, levels=np.arange(0.5, lp.max() + 1), colors="#ff7f0e",
                           linewidths=0.8)
        ax.set_title(f"{k}", fontsize=8)
        ax.axis("off")
    return fig
