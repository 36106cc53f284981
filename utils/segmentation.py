"""Semantic segmentation with a U-Net: model, ignore-aware Dice/IoU, data loaders, plots.

The U-Net of Ronneberger, Fischer and Brox (MICCAI 2015, bib key ``ronneberger2015unet``) is a
fully convolutional encoder-decoder: a *contracting path* that sees more and more context at a
coarser and coarser resolution, a *bottleneck*, and an *expanding path* that brings the
resolution back while **skip connections** copy the fine detail of each encoder level across.
Its output has one value per pixel: here the probability that the pixel belongs to the object
(lung, tumour).

Ignore pixels
-------------
The V7 lung masks label each pixel 0 (background), 255 (lung) or **127 (ignore)**: pixels the
annotators could not label (tubes, electrodes, text).  Those pixels must count neither in the
loss nor in the metric.  Keras passes one ``y_true`` tensor to a loss, so the targets are
*packed*: ``y_true[..., 0]`` is the mask (0/1) and ``y_true[..., 1]`` the **validity** (1 =
counts, 0 = ignore).  Every loss and metric here multiplies by the validity channel before
summing, so a prediction on an ignored pixel changes nothing (``tests/test_segmentation.py``
checks this).  :func:`pack` builds the packed targets.

Public API
----------
``unet(...)``                   the model (configurable depth, base filters, batch norm, dropout)
``lite0_unet(...)``             a U-Net whose encoder is the ImageNet-pretrained EfficientNet-Lite0
``level_table(model)``          a compact per-level summary (shapes, parameters)
``pack(mask, valid)``           packed targets for Keras (N, H, W, 2)
``dice_coef`` / ``iou_coef``    Keras metrics (hard, threshold 0.5, mean over images)
``soft_dice_loss`` / ``dice_bce_loss``   Keras losses (ignore-aware)
``dice_score`` / ``iou_score`` / ``per_image_scores``   NumPy evaluation
``load_lung_set`` / ``load_tumour_set`` / ``read_pair``  (image, mask, valid) arrays
``make_dataset`` / ``fit`` / ``predict``   training helpers (tf.data with paired augmentation)
``plot_cases`` / ``best_worst``            overlays of the best and worst cases
``save_unet`` / ``load_unet``              weights + architecture, for later chapters
``lung_recipe`` / ``lung_split`` / ``fit_lung_unet`` / ``train_lung_unet`` / ``get_lung_unet``
                                           chapter 10's lung model, reused (or retrained) by 12
``tumour_recipe`` / ``pretrained_recipe`` / ``tumour_split`` / ``fit_tumour_unet`` /
``tumour_summary``                         chapter 10's two tumour U-Nets
``unet_recipe`` / ``heldout_dice`` / ``heldout_eval``
                                           the three by name, and what a seed repeat records
``lung_boxes`` / ``lung_boxes_from_mask``  the COCO lung boxes, and boxes from a mask
``mask_bbox`` / ``box_iou``                from a mask to a detection box, and box overlap
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import array_cache

IGNORE_VALUE = 127  #: V7 lung masks: 0 background, 127 ignore, 255 lung
LUNG_VALUE = 255


# --------------------------------------------------------------------------------------------
# The U-Net
# --------------------------------------------------------------------------------------------
def conv_block(x, filters: int, name: str, batch_norm: bool = True, dropout: float = 0.0,
               kernel_size: int = 3):
    """Two 3x3 convolutions, each followed by (batch norm and) ReLU: the U-Net's basic unit.

    ``padding="same"`` keeps the height and width (the original paper used unpadded convolutions
    and cropped the skip connections; padding makes input and output the same size, which is
    simpler and what almost every modern implementation does).  Two stacked 3x3 convolutions see
    a 5x5 neighbourhood with fewer parameters than one 5x5 convolution.  The convolution has no
    bias when batch norm follows (batch norm's shift does the same job).
    """
    from keras import layers

    for i in (1, 2):
        x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm,
                          kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    if dropout:
        x = layers.SpatialDropout2D(dropout, name=f"{name}_dropout")(x)
    return x


def unet(input_shape=(128, 128, 1), depth: int = 4, base_filters: int = 16,
         batch_norm: bool = True, dropout: float = 0.0, kernel_size: int = 3,
         name: str = "unet"):
    """Build a U-Net (Ronneberger et al. 2015) as a Keras functional model.

    Layer by layer, for ``depth=4`` and ``base_filters=16`` on a 128x128 input:

    1. **Encoder (contracting path)**, levels ``enc1`` ... ``enc4``: a :func:`conv_block`
       with 16, 32, 64, 128 filters (the number doubles at each level), then a 2x2 max-pooling
       (``pool1`` ...) that halves the resolution: 128 -> 64 -> 32 -> 16 -> 8.  Each level's
       block output is kept for the skip connection.  Deeper levels see a larger part of the
       image (a larger receptive field) at a coarser resolution: they capture *what* is there.
    2. **Bottleneck** (``bottleneck``): a conv block with 256 filters at 8x8, the most abstract,
       least spatially precise representation.
    3. **Decoder (expanding path)**, levels ``dec4`` ... ``dec1``: a 2x2 *transposed
       convolution* (``up4`` ...; a learned upsampling) doubles the resolution and halves the
       filters; the result is **concatenated** (``skip4`` ...) with the encoder output of the
       same resolution, and a conv block fuses the two.  The skip connection brings back the
       *where*: edges and fine detail the pooling threw away.  This is the key idea of U-Net.
    4. **Output** (``output``): a 1x1 convolution maps the 16 channels at full resolution to one
       value per pixel, and a sigmoid turns it into the probability of "object".

    ``depth`` is the number of poolings (the input size must be divisible by ``2**depth``);
    ``base_filters`` sets the width (parameters grow with its square).  ``dropout`` adds
    spatial dropout after the deepest blocks.  Returns an uncompiled model.
    """
    import keras
    from keras import layers

    h, w = input_shape[:2]
    if h % (2 ** depth) or w % (2 ** depth):
        raise ValueError(f"input {h}x{w} must be divisible by 2**depth = {2 ** depth}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    skips = []
    for level in range(1, depth + 1):                      # contracting path
        filters = base_filters * 2 ** (level - 1)
        x = conv_block(x, filters, f"enc{level}", batch_norm,
                       dropout if level == depth else 0.0, kernel_size)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, base_filters * 2 ** depth, "bottleneck", batch_norm, dropout, kernel_size)
    for level in range(depth, 0, -1):                      # expanding path
        filters = base_filters * 2 ** (level - 1)
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level - 1]])
        x = conv_block(x, filters, f"dec{level}", batch_norm, 0.0, kernel_size)
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.unet_config = {"input_shape": list(input_shape), "depth": depth,
                         "base_filters": base_filters, "batch_norm": batch_norm,
                         "dropout": dropout, "kernel_size": kernel_size, "name": name}
    return model


#: Lite0 layers whose outputs feed the decoder (resolution 1/2, 1/4, 1/8, 1/16) and the bottleneck
#: (1/32): the last layer of each stage before the resolution halves.
LITE0_SKIPS = ("block1a_project_bn", "block2b_add", "block3b_add", "block5c_add")
LITE0_BOTTLENECK = "block7a_project_bn"


def lite0_unet(input_shape=(128, 128, 1), decoder_filters=(64, 48, 32, 24, 16),
               freeze_batch_norm: bool = True, name: str = "lite0_unet"):
    """A U-Net whose encoder is the ImageNet-pretrained EfficientNet-Lite0 (transfer learning).

    The contracting path is not learned from scratch: it is Lite0 (``utils.backbones``) up to
    its last block (1/32 of the input size, 320 channels), and its stage outputs at 1/2, 1/4,
    1/8 and 1/16 (:data:`LITE0_SKIPS`) are the skip connections.  The expanding path is the
    U-Net's: transposed convolution, concatenation with the skip, conv block, five times
    (the last one back at full resolution without a skip), then the 1x1 sigmoid output.
    Grayscale inputs in [0, 1] are repeated to three channels and scaled as the weights expect.
    With ``freeze_batch_norm`` the encoder's batch-norm layers keep their ImageNet statistics
    (small batches would estimate them badly); all weights are trained (fine-tuning).
    """
    import keras
    from keras import layers

    from .backbones import efficientnet_lite0

    h, w = input_shape[:2]
    if h % 32 or w % 32:
        raise ValueError(f"input {h}x{w} must be divisible by 32")
    encoder = efficientnet_lite0(include_top=False, weights="imagenet", input_shape=(h, w, 3))
    taps = keras.Model(encoder.input, [encoder.get_layer(n).output for n in LITE0_SKIPS]
                       + [encoder.get_layer(LITE0_BOTTLENECK).output], name="lite0_encoder")
    if freeze_batch_norm:
        for layer in taps.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Concatenate(name="to_rgb")([inputs] * 3) if input_shape[-1] == 1 else inputs
    x = layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="lite0_scale")(x)
    *skips, x = taps(x)
    for level, filters in zip(range(5, 0, -1), decoder_filters):
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        if level > 1:
            x = layers.Concatenate(name=f"skip{level}")([x, skips[level - 2]])
        x = conv_block(x, filters, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.unet_config = {"kind": "lite0_unet", "input_shape": list(input_shape),
                         "decoder_filters": list(decoder_filters),
                         "freeze_batch_norm": freeze_batch_norm, "name": name}
    return model


def level_table(model):
    """A compact summary of a U-Net: one row per level (encoder, bottleneck, decoder, output)
    with its output shape and parameter count, instead of ~60 rows of ``model.summary()``."""
    import pandas as pd

    rows, current = [], None
    for layer in model.layers:
        if layer.name == "image":
            continue
        block = layer.name.split("_")[0]
        if block.startswith(("pool", "up", "skip")):
            kind = {"pool": "max-pool 2x2", "up": "transposed conv 2x2",
                    "skip": "concatenate skip"}[block.rstrip("0123456789")]
        elif block == "output":
            kind = "1x1 conv + sigmoid"
        else:
            kind = "2 x (conv 3x3, BN, ReLU)"
        if current is None or current["block"] != block:
            current = {"block": block, "operation": kind, "output shape": None, "parameters": 0}
            rows.append(current)
        current["output shape"] = tuple(layer.output.shape[1:])
        current["parameters"] += layer.count_params()
    df = pd.DataFrame(rows)
    return df


# --------------------------------------------------------------------------------------------
# Packed targets, losses and metrics (Keras)
# --------------------------------------------------------------------------------------------
def pack(mask, valid=None) -> np.ndarray:
    """Packed targets (N, H, W, 2) float32: channel 0 the 0/1 mask, channel 1 the validity.

    ``valid`` (same shape as ``mask``, 1 = counts, 0 = ignore) defaults to all ones.
    """
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    v = np.ones_like(m) if valid is None else np.asarray(valid, dtype=np.float32).reshape(m.shape)
    return np.stack([m, v], axis=-1)


def _split(y_true, y_pred):
    """(target, validity, prediction) as float tensors of shape (B, H*W)."""
    from keras import ops

    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    t = ops.reshape(y_true[..., 0], (ops.shape(y_true)[0], -1))
    v = ops.reshape(y_true[..., 1], (ops.shape(y_true)[0], -1))
    p = ops.reshape(y_pred[..., 0], (ops.shape(y_pred)[0], -1))
    return t, v, p


def soft_dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft Dice per image, averaged over the batch; ignored pixels are left out.

    Soft Dice uses the probabilities themselves (differentiable):
    ``(2 sum(v t p) + s) / (sum(v t) + sum(v p) + s)`` with validity ``v``, target ``t``,
    prediction ``p`` and a smoothing constant ``s`` that keeps empty masks finite.
    """
    from keras import ops

    t, v, p = _split(y_true, y_pred)
    inter = ops.sum(v * t * p, axis=1)
    denom = ops.sum(v * t, axis=1) + ops.sum(v * p, axis=1)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


def masked_bce(y_true, y_pred):
    """Binary cross-entropy averaged over the valid pixels of each image."""
    from keras import ops

    t, v, p = _split(y_true, y_pred)
    p = ops.clip(p, 1e-7, 1.0 - 1e-7)
    bce = -(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p))
    return ops.sum(v * bce, axis=1) / ops.maximum(ops.sum(v, axis=1), 1.0)


def dice_bce_loss(y_true, y_pred):
    """Soft Dice loss + binary cross-entropy, both ignore-aware (the usual segmentation loss).

    BCE gives smooth per-pixel gradients from the first step; Dice counts the object as a whole
    and is insensitive to how small it is relative to the background (important for tumours).
    """
    return soft_dice_loss(y_true, y_pred) + masked_bce(y_true, y_pred)


def _hard_scores(y_true, y_pred, threshold: float = 0.5):
    from keras import ops

    t, v, p = _split(y_true, y_pred)
    p = ops.cast(p >= threshold, "float32")
    inter = ops.sum(v * t * p, axis=1)
    st, sp = ops.sum(v * t, axis=1), ops.sum(v * p, axis=1)
    return inter, st, sp


def dice_coef(y_true, y_pred):
    """Keras metric: Dice of the thresholded prediction (0.5), per image, ignore-aware.

    ``Dice = 2 |A and B| / (|A| + |B|)``; an image whose truth and prediction are both empty
    counts as 1.  Keras averages it over the images of an epoch.
    """
    inter, st, sp = _hard_scores(y_true, y_pred)
    return (2.0 * inter + 1e-7) / (st + sp + 1e-7)


def iou_coef(y_true, y_pred):
    """Keras metric: intersection over union (Jaccard) of the thresholded prediction."""
    inter, st, sp = _hard_scores(y_true, y_pred)
    return (inter + 1e-7) / (st + sp - inter + 1e-7)


dice_coef.__name__ = "dice"
iou_coef.__name__ = "iou"


def compile_unet(model, learning_rate=1e-3, loss=dice_bce_loss):
    """Compile with Adam, the Dice+BCE loss and the Dice and IoU metrics."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=[dice_coef, iou_coef], jit_compile=False)  # XLA is slower on CPU
    return model


# --------------------------------------------------------------------------------------------
# NumPy evaluation
# --------------------------------------------------------------------------------------------
def _prep(truth, pred, valid):
    t = np.asarray(truth).astype(bool)
    p = np.asarray(pred).astype(bool)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and prediction {p.shape} differ in shape")
    v = np.ones_like(t) if valid is None else np.asarray(valid).astype(bool).reshape(t.shape)
    return t & v, p & v


def dice_score(truth, pred, valid=None, empty: float = 1.0) -> float:
    """Dice of two binary masks, counting only ``valid`` pixels; ``empty`` if both are empty."""
    t, p = _prep(truth, pred, valid)
    s = t.sum() + p.sum()
    return float(empty) if s == 0 else float(2.0 * (t & p).sum() / s)


def iou_score(truth, pred, valid=None, empty: float = 1.0) -> float:
    """IoU (Jaccard) of two binary masks over ``valid`` pixels; ``empty`` if both are empty."""
    t, p = _prep(truth, pred, valid)
    union = (t | p).sum()
    return float(empty) if union == 0 else float((t & p).sum() / union)


def dice_from_iou(iou: float) -> float:
    """Dice = 2 IoU / (1 + IoU): the two metrics rank predictions the same way."""
    return 2.0 * iou / (1.0 + iou)


def per_image_scores(masks, probs, valid=None, threshold: float = 0.5, table=None):
    """One row per image: Dice, IoU, true and predicted area (pixels), ignored pixels.

    ``table`` (a DataFrame aligned with the images) contributes its columns, e.g. file names.
    """
    import pandas as pd

    masks = np.asarray(masks)
    probs = np.asarray(probs)
    rows = []
    for i in range(len(masks)):
        v = None if valid is None else valid[i]
        pred = probs[i] >= threshold
        t, p = _prep(masks[i], pred, v)
        rows.append({"dice": dice_score(masks[i], pred, v), "iou": iou_score(masks[i], pred, v),
                     "true_px": int(t.sum()), "pred_px": int(p.sum()),
                     "ignored_px": 0 if v is None else int((~np.asarray(v).astype(bool)).sum())})
    df = pd.DataFrame(rows)
    if table is not None:
        df = pd.concat([table.reset_index(drop=True), df], axis=1)
    return df


def best_worst(scores, k: int = 3, column: str = "dice"):
    """Positions of the ``k`` best and ``k`` worst rows of ``scores`` by ``column``."""
    order = np.argsort(np.asarray(scores[column]), kind="stable")
    return list(order[::-1][:k]), list(order[:k])


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass
class SegSet:
    """Images (N, H, W, 1) in [0, 1], masks and validity (N, H, W, 1) in {0, 1}, groups,
    the file table aligned with them, and notes on anything the loader had to fix."""

    images: np.ndarray
    masks: np.ndarray
    valid: np.ndarray
    groups: np.ndarray
    table: object
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def targets(self, idx=None) -> np.ndarray:
        """Packed targets (mask, validity) for Keras, optionally for the positions ``idx``."""
        idx = slice(None) if idx is None else idx
        return pack(self.masks[idx], self.valid[idx])


def read_pair(image_path, mask_path, size: int, decode="lung"):
    """Read one image and its mask at ``size`` x ``size``: ``(image, mask, valid, note)``.

    The image is resized bilinearly; the mask **always with nearest neighbour** (bilinear would
    invent in-between labels: a 0/255 edge would gain 127 pixels, i.e. fake "ignore" pixels).
    ``decode="lung"``: V7 masks, 255 lung, 127 ignore.  ``decode="tumour"``: JPEG masks, so
    values near 0/255 with compression noise; > 127 is tumour, nothing is ignored.

    If the mask does not have the size of its image (one brain pair, Y163), it is first resized
    to the image's size with nearest neighbour, and ``note`` says so (otherwise ``note`` is
    None).  Resizing both to ``size`` afterwards is then the same operation for image and mask.
    """
    from PIL import Image

    from .data import read_image

    img_full = read_image(image_path, mode="L")
    mask_full = read_image(mask_path, mode="L")
    note = None
    if img_full.shape != mask_full.shape:
        h, w = img_full.shape
        note = (f"{Path(mask_path).name}: mask is {mask_full.shape[1]}x{mask_full.shape[0]} but "
                f"its image {Path(image_path).name} is {w}x{h}; mask resized to {w}x{h} "
                "with nearest neighbour")
        mask_full = np.asarray(Image.fromarray(mask_full).resize((w, h), Image.NEAREST))
    image = np.asarray(Image.fromarray(img_full).resize((size, size), Image.BILINEAR),
                       dtype=np.float32) / 255.0
    mask_small = np.asarray(Image.fromarray(mask_full).resize((size, size), Image.NEAREST))
    if decode == "lung":
        mask = (mask_small == LUNG_VALUE)
        valid = (mask_small != IGNORE_VALUE)
    elif decode == "tumour":
        mask = mask_small > 127
        valid = np.ones_like(mask)
    else:
        raise ValueError(f"decode must be 'lung' or 'tumour', not {decode!r}")
    return image, mask.astype(np.float32), valid.astype(np.float32), note


def _stack_pairs(image_paths, mask_paths, size, decode, sha=None):
    if sha is not None:
        key = f"v1|{size}|{decode}|" + "|".join(sha)

        def build():
            X, M, V, notes = _stack_pairs(image_paths, mask_paths, size, decode)
            return {"X": X, "M": M.astype(np.uint8), "V": V.astype(np.uint8),
                    "notes": np.array([n or "" for n in notes])}

        z = array_cache(f"seg-{decode}-{size}", key, build)
        return (z["X"], z["M"].astype(np.float32), z["V"].astype(np.float32),
                [str(n) or None for n in z["notes"]])
    imgs, masks, valids, notes = [], [], [], []
    for ip, mp in zip(image_paths, mask_paths):
        im, m, v, note = read_pair(ip, mp, size, decode)
        imgs.append(im)
        masks.append(m)
        valids.append(v)
        notes.append(note)
    return (np.stack(imgs)[..., None], np.stack(masks)[..., None], np.stack(valids)[..., None],
            notes)


def load_lung_set(size: int = 128, table=None) -> SegSet:
    """The COVID X-rays with their human V7 lung masks (lung 1, ignore pixels invalid).

    ``groups`` are patients (``chest_xray_table()["group"]``): split by them.
    """
    from . import datasets

    if table is None:
        table = datasets.chest_xray_table()
    table = table[table["mask_path"] != ""].reset_index(drop=True)
    from . import data

    mask_sha = data.manifest("chest_xray").set_index("file")["sha256"]
    sha = [f"{a}:{mask_sha.get(m.split('chest_xray/')[-1], m)}"
           for a, m in zip(table["sha256"], table["mask_path"])]
    X, M, V, notes = _stack_pairs(table["path"], table["mask_path"], size, "lung", sha)
    table = table.assign(mask_note=[n or "" for n in notes])
    return SegSet(X, M, V, table["group"].to_numpy(), table, [n for n in notes if n])


def load_tumour_set(size: int = 128, verbose: bool = True) -> SegSet:
    """The 128 brain MRI tumour masks with their ``yes/`` images; groups = near-duplicate groups.

    The Y163 pair has a mask of another size: it is resized to its image (nearest neighbour)
    and reported in ``notes`` (printed when ``verbose``) and in ``table["mask_note"]``.
    """
    from . import datasets

    pairs = datasets.brain_mri_mask_pairs()
    images = datasets.brain_mri_table().set_index("file")["sha256"]
    sha = [f"{images[i]}:{m}" for i, m in zip(pairs["image"], pairs["sha256"])]
    X, M, V, notes = _stack_pairs(pairs["image_path"], pairs["mask_path"], size, "tumour", sha)
    pairs = pairs.assign(mask_note=[n or "" for n in notes])
    fixed = [n for n in notes if n]
    if verbose:
        for n in fixed:
            print("resized:", n)
    return SegSet(X, M, V, pairs["near_group"].to_numpy(), pairs, fixed)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _augment(x, zoom: float, shift: float, flip: bool, contrast: float, seed):
    """Paired augmentation of a batch: ``x`` stacks image, mask and validity as channels.

    One random crop box per image (zoom in up to ``zoom``, shift up to ``shift``) is applied
    to all three channels alike; outside the image the validity is 0, i.e. ignored.  Mask and
    validity are re-binarised after the bilinear resampling.
    """
    import tensorflow as tf

    b = tf.shape(x)[0]
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    rnd = tf.random.uniform((b, 4), 0.0, 1.0)
    scale = 1.0 - zoom * rnd[:, 0] + 0.5 * zoom  # in [1 - zoom/2, 1 + zoom/2]
    cy = 0.5 + shift * (2 * rnd[:, 1] - 1)
    cx = 0.5 + shift * (2 * rnd[:, 2] - 1)
    boxes = tf.stack([cy - scale / 2, cx - scale / 2, cy + scale / 2, cx + scale / 2], axis=1)
    out = tf.image.crop_and_resize(x, boxes, tf.range(b), tf.stack([h, w]),
                                   method="bilinear", extrapolation_value=0.0)
    if flip:
        do = rnd[:, 3] < 0.5
        out = tf.where(do[:, None, None, None], tf.reverse(out, axis=[2]), out)
    img = out[..., :1]
    if contrast:
        c = tf.random.uniform((b, 1, 1, 1), 1.0 - contrast, 1.0 + contrast)
        mean = tf.reduce_mean(img, axis=[1, 2, 3], keepdims=True)
        img = tf.clip_by_value((img - mean) * c + mean, 0.0, 1.0)
    mask = tf.cast(out[..., 1:2] >= 0.5, tf.float32)
    valid = tf.cast(out[..., 2:3] >= 0.5, tf.float32)
    return img, tf.concat([mask, valid], axis=-1)


def make_dataset(images, targets, batch_size: int = 16, augment: bool = False,
                 shuffle: bool = True, seed: int = 42, zoom: float = 0.15, shift: float = 0.06,
                 flip: bool = True, contrast: float = 0.15):
    """A ``tf.data.Dataset`` of (image, packed target) batches, with paired augmentation."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images.astype(np.float32), targets.astype(np.float32)))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        ds = ds.map(lambda x, y: _augment(tf.concat([x, y], axis=-1), zoom, shift, flip,
                                          contrast, seed), num_parallel_calls=1)
    return ds.prefetch(1)


def fit(model, images, targets, epochs: int = 20, batch_size: int = 16, augment: bool = True,
        learning_rate: float = 1e-3, seed: int = 42, verbose: int = 0, **augment_kw):
    """Compile and train ``model`` with a cosine learning-rate decay; returns (history, seconds).

    No validation split and no early stopping: the number of epochs is fixed in advance, so
    the held-out patients are never used to choose anything.
    """
    import keras

    steps = int(np.ceil(len(images) / batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    compile_unet(model, schedule)
    ds = make_dataset(images, targets, batch_size, augment=augment, seed=seed, **augment_kw)
    start = time.perf_counter()
    history = model.fit(ds, epochs=epochs, verbose=verbose, shuffle=False)  # ds is shuffled
    return history, time.perf_counter() - start


def predict(model, images, batch_size: int = 32, flip_tta: bool = False) -> np.ndarray:
    """Probabilities (N, H, W, 1); ``flip_tta`` averages with the prediction of the mirror image."""
    probs = model.predict(images, batch_size=batch_size, verbose=0)
    if flip_tta:
        flipped = model.predict(images[:, :, ::-1], batch_size=batch_size, verbose=0)
        probs = 0.5 * (probs + flipped[:, :, ::-1])
    return probs


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------
def save_unet(model, path, extra: dict | None = None) -> Path:
    """Save weights (``path``, ending ``.weights.h5``) and the architecture (``.json`` beside it)."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError("the file name must end with .weights.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    config = dict(getattr(model, "unet_config", {}))
    config.update(extra or {})
    path.with_name(path.name.replace(".weights.h5", ".json")).write_text(
        json.dumps(config, indent=1, default=str))
    return path


def load_unet(path):
    """Rebuild the U-Net from the ``.json`` beside ``path`` and load its weights.

    Returns ``(model, config)``; raises ``FileNotFoundError`` when either file is missing.
    """
    path = Path(path)
    cfg_path = path.with_name(path.name.replace(".weights.h5", ".json"))
    if not path.is_file() or not cfg_path.is_file():
        raise FileNotFoundError(f"no saved U-Net at {path}")
    config = json.loads(cfg_path.read_text())
    keys = ("input_shape", "depth", "base_filters", "batch_norm", "dropout", "kernel_size", "name")
    model = unet(**{k: config[k] for k in keys if k in config})
    model.load_weights(path)
    return model, config


def lung_model_path(mode: str | None = None) -> Path:
    """Where chapter 10 saves the lung U-Net: ``<cache>/models/lung_unet-<mode>.weights.h5``.

    One file per mode, so that a quick test run never replaces the model of the full build.
    """
    from .config import mode as current_mode
    from .data import cache_dir

    return cache_dir() / "models" / f"lung_unet-{mode or current_mode()}.weights.h5"


def _by_mode(quick: bool | None, quick_value, full_value):
    """``quick_value`` in quick mode, ``full_value`` in full mode; ``quick`` None: the current
    mode (:func:`utils.config.by_mode`), True/False: that mode (to check a recorded result)."""
    from .config import by_mode

    if quick is None:
        return by_mode(quick=quick_value, full=full_value)
    return quick_value if quick else full_value


def lung_recipe(quick: bool | None = None) -> dict:
    """The lung U-Net's settings for the current mode (chapter 10 trains with them; chapter 12
    retrains with them when the saved model is missing); ``quick`` picks a mode explicitly."""
    return _by_mode(
        quick,
        dict(size=64, epochs=2, base_filters=8, batch_size=16, learning_rate=2e-3),
        dict(size=128, epochs=40, base_filters=16, batch_size=16, learning_rate=2e-3))


def tumour_recipe(quick: bool | None = None) -> dict:
    """Chapter 10's tumour U-Net trained from scratch (dropout at the deepest levels), at the
    lung U-Net's size; ``quick`` picks a mode explicitly (default: the current mode)."""
    return dict(size=lung_recipe(quick)["size"], epochs=_by_mode(quick, 2, 40),
                base_filters=_by_mode(quick, 8, 16), dropout=0.3, batch_size=8,
                learning_rate=2e-3)


def pretrained_recipe(quick: bool | None = None) -> dict:
    """Chapter 10's tumour U-Net with the ImageNet-pretrained Lite0 encoder
    (:func:`lite0_unet`), all weights fine-tuned; ``quick`` picks a mode explicitly."""
    return dict(size=lung_recipe(quick)["size"], epochs=_by_mode(quick, 2, 40), batch_size=8,
                learning_rate=1e-3)


#: Chapter 10's three U-Nets by name (``python -m utils.benchmark_segmentation --models``):
#: each name's recipe function.
UNET_RECIPES = {"lung": lung_recipe, "scratch": tumour_recipe, "pretrained": pretrained_recipe}


def unet_recipe(name: str, quick: bool | None = None) -> dict:
    """The recipe of one of chapter 10's U-Nets (:data:`UNET_RECIPES`)."""
    if name not in UNET_RECIPES:
        raise ValueError(f"unknown U-Net {name!r}; choose from {', '.join(UNET_RECIPES)}")
    return UNET_RECIPES[name](quick)


def lung_split(groups, seed: int = 42):
    """The patient-grouped 80/20 hold-out split of the lung set used by chapters 10 and 12."""
    from . import splits

    groups = np.asarray(groups)
    train_idx, test_idx = splits.grouped_holdout(np.zeros(len(groups), int), groups, 0.2, seed=seed)
    splits.check_split(train_idx, test_idx, groups)
    return train_idx, test_idx


def tumour_area(tumour: SegSet) -> np.ndarray:
    """Each tumour mask's area as a share of its image."""
    return tumour.masks.mean(axis=(1, 2, 3))


def tumour_split(tumour: SegSet, seed: int = 42):
    """Chapter 10's hold-out split of the tumour set: 20 % of the near-duplicate groups,
    stratified by tumour size (area above the median or not), checked for groups on both
    sides.  Returns ``(train_idx, test_idx)``."""
    from . import splits

    area = tumour_area(tumour)
    size_class = (area > np.median(area)).astype(int)
    train_idx, test_idx = splits.grouped_holdout(size_class, tumour.groups, 0.2, seed=seed)
    splits.check_split(train_idx, test_idx, tumour.groups)
    return train_idx, test_idx


def _seed(seed):
    from .config import default_seed

    return default_seed() if seed is None else int(seed)


def fit_lung_unet(lung: SegSet, train_idx, recipe: dict | None = None, seed: int | None = None):
    """The lung U-Net (depth 4) of ``recipe`` (default :func:`lung_recipe`) trained on the
    images ``train_idx`` with training seed ``seed`` (default: the book's seed,
    :func:`utils.config.default_seed`): weights, batch order and augmentation are drawn from
    it.  Returns ``(model, history, seconds)``."""
    from .config import seed_everything

    recipe = dict(recipe or lung_recipe())
    seed = seed_everything(_seed(seed))
    model = unet((recipe["size"], recipe["size"], 1), depth=4,
                 base_filters=recipe["base_filters"], name="lung_unet")
    history, seconds = fit(model, lung.images[train_idx], lung.targets(train_idx),
                           epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                           learning_rate=recipe["learning_rate"], seed=seed)
    return model, history, seconds


def seed_lung_unet_path(lung: SegSet, train_idx, recipe: dict | None = None,
                        seed: int | None = None) -> Path:
    """Where :func:`seed_lung_unet` keeps the lung U-Net of one training seed:
    ``<cache>/models/lung_unet-seed<seed>-<key>.weights.h5``, the key a digest of the recipe,
    the seed, the training files, the thread count, the determinism setting and the
    TensorFlow version (anything that changes the trained weights)."""
    import hashlib

    import tensorflow as tf

    from . import config

    recipe = dict(recipe or lung_recipe())
    seed = _seed(seed)
    key = json.dumps({"recipe": recipe, "seed": seed,
                      "train_files": lung.table.loc[np.asarray(train_idx), "file"].tolist(),
                      "threads": config.threads(), "deterministic": config.deterministic(),
                      "tensorflow": tf.__version__}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return config.cache_dir() / "models" / f"lung_unet-seed{seed}-{digest}.weights.h5"


def seed_lung_unet(lung: SegSet, train_idx, recipe: dict | None = None,
                   seed: int | None = None):
    """:func:`fit_lung_unet` kept on disk (:func:`seed_lung_unet_path`): the two seed
    benchmarks (``utils.benchmark_segmentation`` and ``utils.benchmark_covid``) train the same
    lung U-Nets, so the second one loads what the first trained.  It never touches chapter
    10's saved model (:func:`lung_model_path`).  Returns ``(model, seconds, loaded)``:
    ``seconds`` the training time (as recorded when it was trained), ``loaded`` whether it
    came from disk."""
    path = seed_lung_unet_path(lung, train_idx, recipe, seed)
    try:
        model, config = load_unet(path)
        return model, float(config["train_seconds"]), True
    except (FileNotFoundError, OSError, ValueError, KeyError):
        pass
    model, _, seconds = fit_lung_unet(lung, train_idx, recipe, seed=seed)
    save_unet(model, path, {"recipe": dict(recipe or lung_recipe()), "training_seed": _seed(seed),
                            "train_seconds": seconds})
    return model, seconds, False


def fit_tumour_unet(kind: str, tumour: SegSet, train_idx, seed: int | None = None,
                    recipe: dict | None = None):
    """One of chapter 10's tumour U-Nets trained on the images ``train_idx`` with training
    seed ``seed`` (default: the book's seed): ``kind`` ``"scratch"`` (:func:`unet` with
    :func:`tumour_recipe`) or ``"pretrained"`` (:func:`lite0_unet` with
    :func:`pretrained_recipe`).  Returns ``(model, history, seconds)``."""
    from .config import seed_everything

    if kind not in ("scratch", "pretrained"):
        raise ValueError(f"kind must be 'scratch' or 'pretrained', not {kind!r}")
    recipe = dict(recipe or unet_recipe(kind))
    seed = seed_everything(_seed(seed))
    shape = (recipe["size"], recipe["size"], 1)
    if kind == "scratch":
        model = unet(shape, depth=4, base_filters=recipe["base_filters"],
                     dropout=recipe["dropout"], name="tumour_unet")
    else:
        model = lite0_unet(shape)
    history, seconds = fit(model, tumour.images[train_idx], tumour.targets(train_idx),
                           epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                           learning_rate=recipe["learning_rate"], seed=seed)
    return model, history, seconds


def tumour_summary(model, tumour: SegSet, test_idx):
    """Chapter 10's evaluation of a tumour U-Net on the held-out images ``test_idx``: flip
    test-time augmentation, per-image scores (with ``image``, ``area`` and near-duplicate
    ``group``) and a summary (mean, median and pooled Dice, mean IoU, the smaller and larger
    half by tumour area, failures below 0.5, one value per duplicate group).
    Returns ``(probs, scores, summary)``."""
    area = tumour_area(tumour)
    probs = predict(model, tumour.images[test_idx], flip_tta=True)
    scores = per_image_scores(tumour.masks[test_idx], probs,
                              table=tumour.table.loc[test_idx, ["image"]])
    scores["area"] = area[test_idx]
    scores["group"] = tumour.groups[test_idx]
    small = scores["area"] <= np.median(area)
    summary = {
        "mean Dice (per image)": scores["dice"].mean(), "median Dice": scores["dice"].median(),
        "mean IoU": scores["iou"].mean(),
        "Dice pooled over all pixels": dice_score(tumour.masks[test_idx], probs >= 0.5),
        "mean Dice, smaller half": scores.loc[small, "dice"].mean(),
        "mean Dice, larger half": scores.loc[~small, "dice"].mean(),
        "images with Dice < 0.5": int((scores["dice"] < 0.5).sum()),
        "mean Dice, one value per duplicate group": scores.groupby("group")["dice"].mean().mean()}
    return probs, scores, summary


def heldout_dice(masks, probs, valid=None) -> dict:
    """The held-out figures a seed repeat records: per-image ``mean_dice`` and
    ``median_dice`` and ``pooled_dice`` (all pixels of all images as one mask), threshold 0.5,
    ignore pixels left out."""
    scores = per_image_scores(masks, probs, valid)
    return {"mean_dice": float(scores["dice"].mean()),
            "median_dice": float(scores["dice"].median()),
            "pooled_dice": dice_score(masks, np.asarray(probs) >= 0.5, valid)}


def heldout_eval(model, data: SegSet, test_idx) -> tuple[np.ndarray, dict]:
    """A U-Net on its held-out images as the seed repeats and the saved lung U-Net score it:
    the probabilities with flip test-time averaging (:func:`predict`) and their
    :func:`heldout_dice` figures.  Returns ``(probs, figures)``."""
    probs = predict(model, data.images[test_idx], flip_tta=True)
    return probs, heldout_dice(data.masks[test_idx], probs, data.valid[test_idx])


def train_lung_unet(lung: SegSet | None = None, recipe: dict | None = None, save: bool = True,
                    seed: int | None = None):
    """Train the lung U-Net exactly as chapter 10 does (:func:`fit_lung_unet`, training seed
    ``seed``, default the book's), evaluate it on the held-out patients and save it to
    :func:`lung_model_path`.  Returns ``(model, config)``."""
    from .config import mode

    recipe = dict(recipe or lung_recipe())
    if lung is None:
        lung = load_lung_set(recipe["size"])
    train_idx, test_idx = lung_split(lung.groups)
    model, _, seconds = fit_lung_unet(lung, train_idx, recipe, seed=seed)
    _, heldout = heldout_eval(model, lung, test_idx)
    config = {**model.unet_config, "mode": mode(), "recipe": recipe, "training_seed": _seed(seed),
              "train_seconds": seconds,
              "trained_on": "COVID X-rays of the training patients (chapter 10 split)",
              "test_files": lung.table.loc[test_idx, "file"].tolist(),
              "heldout_mean_dice": heldout["mean_dice"]}
    if save:
        save_unet(model, lung_model_path(), config)
    return model, config


def get_lung_unet(verbose: bool = True):
    """The lung U-Net saved by chapter 10 for the current mode, or (if missing or unreadable)
    a freshly trained one.  Returns ``(model, config)``."""
    path = lung_model_path()
    try:
        model, config = load_unet(path)
        if verbose:
            print(f"loaded the chapter-10 lung U-Net ({path.name}; held-out Dice "
                  f"{config.get('heldout_mean_dice', float('nan')):.3f})")
        return model, config
    except (FileNotFoundError, OSError, ValueError, KeyError) as err:
        if verbose:
            print(f"no usable saved lung U-Net ({err}); training it now with the chapter-10 recipe")
    model, config = train_lung_unet()
    if verbose:
        print(f"trained in {config['train_seconds']:.0f} s; held-out Dice "
              f"{config['heldout_mean_dice']:.3f}; saved to {path.name}")
    return model, config


# --------------------------------------------------------------------------------------------
# Boxes (detection) from masks
# --------------------------------------------------------------------------------------------
def mask_bbox(mask):
    """The tight box ``(x, y, w, h)`` (COCO convention) around the nonzero pixels, or None."""
    m = np.asarray(mask).astype(bool)
    if m.ndim == 3:
        m = m[..., 0]
    ys, xs = np.nonzero(m)
    if not len(xs):
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def box_iou(a, b) -> float:
    """IoU of two ``(x, y, w, h)`` boxes: the detection counterpart of the mask IoU."""
    ax2, ay2 = a[0] + a[2], a[1] + a[3]
    bx2, by2 = b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def lung_boxes(table=None):
    """The human lung bounding boxes of ``annotations/ieee8023_lung_bounding_boxes.json``.

    The file is in COCO format: ``images`` (id, file_name, width, height), ``annotations``
    (image_id, category_id, bbox = [x, y, width, height] in pixels) and ``categories``
    (1 Right Lung, 2 Left Lung; the patient's right lung is on the image's left in a PA view).
    Returns ``(boxes, coco)``: one row per box with ``file_name``, ``lung``, ``x, y, w, h``,
    the image size, and ``file``/``path`` of the matching image of the book's COVID set
    (matched by file name; empty when the image is not in the book's set).
    """
    import pandas as pd

    from . import datasets

    ann = datasets.chest_xray_table("annotation")
    path = ann.loc[ann["file"].str.endswith("lung_bounding_boxes.json"), "path"].iloc[0]
    coco = json.loads(Path(path).read_text())
    if table is None:
        table = datasets.chest_xray_table()
    by_name = {Path(f).name: (f, p) for f, p in zip(table["file"], table["path"])}
    images = {im["id"]: im for im in coco["images"]}
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    rows = []
    for a in coco["annotations"]:
        im = images[a["image_id"]]
        f, p = by_name.get(im["file_name"], ("", ""))
        x, y, w, h = a["bbox"]
        rows.append({"file_name": im["file_name"], "lung": cats[a["category_id"]],
                     "x": x, "y": y, "w": w, "h": h, "width": im["width"],
                     "height": im["height"], "file": f, "path": p})
    return pd.DataFrame(rows), coco


def lung_boxes_from_mask(mask) -> dict:
    """Boxes ``{"Right Lung": (x, y, w, h), "Left Lung": ...}`` of the two largest connected
    lung regions of a mask (the one on the image's left is the patient's right lung)."""
    from scipy import ndimage

    m = np.asarray(mask).astype(bool)
    if m.ndim == 3:
        m = m[..., 0]
    labels, n = ndimage.label(m)
    if n == 0:
        return {}
    sizes = ndimage.sum(m, labels, index=range(1, n + 1))
    keep = np.argsort(sizes)[::-1][:2] + 1
    boxes = [mask_bbox(labels == k) for k in keep]
    boxes.sort(key=lambda b: b[0] + b[2] / 2)
    names = ["Right Lung", "Left Lung"] if len(boxes) == 2 else ["lung"]
    return dict(zip(names, boxes))


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def plot_cases(images, masks, probs, idx, titles=None, suptitle: str = "", valid=None,
               threshold: float = 0.5, size: float = 2.3):
    """One column per case: the prediction in red over the image, the truth as a green outline,
    ignored pixels (if ``valid`` is given) in blue.  Returns the figure."""
    import matplotlib.pyplot as plt

    from .plots import overlay

    idx = list(idx)
    fig, axes = plt.subplots(1, len(idx), figsize=(size * len(idx), size + 0.5), squeeze=False)
    for k, (ax, i) in enumerate(zip(axes[0], idx)):
        img = images[i][..., 0]
        rgb = overlay(img, probs[i][..., 0] >= threshold, color=(1.0, 0.15, 0.15), alpha=0.35)
        if valid is not None:
            rgb = overlay(rgb, valid[i][..., 0] < 0.5, color=(0.2, 0.4, 1.0), alpha=0.5)
        ax.imshow(rgb)
        ax.contour(masks[i][..., 0], levels=[0.5], colors=["lime"], linewidths=0.9)
        ax.axis("off")
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
    fig.suptitle(suptitle or "Prediction (red), truth (green outline)", fontsize=10)
    fig.tight_layout()
    return fig
