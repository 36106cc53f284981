"""Every exercise check of chapters 01-03: a right answer passes, a typical wrong answer fails
with a specific hint, and the placeholder ``...`` gets the "No answer yet" feedback."""
import numpy as np
import pytest

from utils import fundamentals as F
from utils.checks import convolution as conv
from utils.checks import imaging_primer as prim
from utils.checks import neural_networks as nn


def _no_answer(feedback):
    assert not feedback.ok and feedback.message.startswith("No answer yet")


ALL_CHECKS = [prim.check_min_hu, prim.check_brain_window, prim.check_learning_types,
              prim.check_sagittal_axis, nn.check_dense_params, nn.check_softplus_grad,
              nn.check_neuron_gradient, nn.check_divergence_lr, conv.check_output_size,
              conv.check_edge_feature_map, conv.check_conv_params,
              conv.check_horizontal_edge_kernel]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_placeholder_gives_no_answer_yet(check):
    _no_answer(check(...))
    _no_answer(check(None))


# ----------------------------------------------------------------------------- chapter 01
@pytest.fixture(scope="module")
def ct():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def test_min_hu(ct):
    assert prim.check_min_hu(F.to_hounsfield(ct).min()).ok
    fb = prim.check_min_hu(ct.pixel_array.min())
    assert not fb.ok and "stored" in fb.message
    assert "maximum" in prim.check_min_hu(F.to_hounsfield(ct).max()).message


def test_brain_window(ct):
    hu = F.to_hounsfield(ct)
    assert prim.check_brain_window(F.apply_window(hu, 40, 80)).ok
    fb = prim.check_brain_window(F.apply_window(hu, 80, 40))
    assert not fb.ok and "swapped" in fb.message
    fb = prim.check_brain_window(F.apply_window(ct.pixel_array, 40, 80))
    assert not fb.ok and "HU first" in fb.message
    fb = prim.check_brain_window(F.apply_window(hu, 40, 80) * 255)
    assert not fb.ok and "[0, 1]" in fb.message
    assert "shape" in prim.check_brain_window(np.zeros((3, 3))).message


def test_learning_types():
    assert prim.check_learning_types(dict(prim.LEARNING_TYPES)).ok
    wrong = dict(prim.LEARNING_TYPES, intensity_clusters="supervised")
    fb = prim.check_learning_types(wrong)
    assert not fb.ok and "no labels" in fb.message
    assert "missing" in prim.check_learning_types({"tumour_yes_no": "supervised"}).message


def test_sagittal_axis():
    assert prim.check_sagittal_axis(0).ok
    assert "axial" in prim.check_sagittal_axis(2).message


# ----------------------------------------------------------------------------- chapter 02
def test_dense_params():
    assert nn.check_dense_params(64 * 64 * 50 + 50).ok
    fb = nn.check_dense_params(64 * 64 * 50)
    assert not fb.ok and "biases" in fb.message


def test_softplus_grad():
    assert nn.check_softplus_grad(lambda z: 1 / (1 + np.exp(-z))).ok
    fb = nn.check_softplus_grad(lambda z: np.log1p(np.exp(z)))
    assert not fb.ok and "softplus itself" in fb.message
    assert "ReLU" in nn.check_softplus_grad(lambda z: (z > 0) * 1.0).message
    assert "function" in nn.check_softplus_grad(0.5).message
    assert "raised" in nn.check_softplus_grad(lambda z: z.nope).message


def test_neuron_gradient():
    p = 1 / (1 + np.exp(-1.0))
    assert nn.check_neuron_gradient((p - 1) * 2).ok
    fb = nn.check_neuron_gradient(p - 1)
    assert not fb.ok and "chain rule" in fb.message
    assert "sign" in nn.check_neuron_gradient((1 - p) * 2).message


def test_divergence_lr():
    assert nn.check_divergence_lr(0.2).ok
    fb = nn.check_divergence_lr(2.0)
    assert not fb.ok and "steep" in fb.message


# ----------------------------------------------------------------------------- chapter 03
def test_output_size():
    assert conv.check_output_size(112).ok
    fb = conv.check_output_size(109)
    assert not fb.ok and "padding" in fb.message
    assert "stride" in conv.check_output_size(224).message
    assert "round down" in conv.check_output_size(112.5).message


def test_edge_feature_map():
    right = F.conv2d_numpy(conv.FIG2_INPUT, conv.EDGE_KERNEL)
    assert conv.check_edge_feature_map(right).ok
    scipy_signal = pytest.importorskip("scipy.signal")
    flipped = scipy_signal.convolve2d(conv.FIG2_INPUT, conv.EDGE_KERNEL, mode="valid")
    fb = conv.check_edge_feature_map(flipped)
    assert not fb.ok and "flipped" in fb.message
    assert "shape" in conv.check_edge_feature_map(np.zeros((5, 5))).message


def test_conv_params():
    assert conv.check_conv_params(896).ok
    fb = conv.check_conv_params(320)
    assert not fb.ok and "channels" in fb.message
    assert "bias" in conv.check_conv_params(864).message


def test_horizontal_edge_kernel():
    sobel_y = F.FILTERS["sobel y (horizontal edges)"]
    assert conv.check_horizontal_edge_kernel(sobel_y).ok
    fb = conv.check_horizontal_edge_kernel(-sobel_y)
    assert not fb.ok and "swap" in fb.message
    fb = conv.check_horizontal_edge_kernel(F.FILTERS["sobel x (vertical edges)"])
    assert not fb.ok
    assert "sum" in conv.check_horizontal_edge_kernel(np.ones((3, 3))).message
    prewitt_y = np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    assert conv.check_horizontal_edge_kernel(prewitt_y).ok


@pytest.mark.parametrize("sign", [1, -1])
def test_horizontal_edge_kernel_rejects_line_detectors(sign):
    # sums to 0 and ignores vertical edges, but answers a step edge with a + and a - band
    line = sign * np.array([[-1, -2, -1], [2, 4, 2], [-1, -2, -1]])
    fb = conv.check_horizontal_edge_kernel(line)
    assert not fb.ok and "both signs" in fb.message
    assert "3x3" in conv.check_horizontal_edge_kernel(np.ones((2, 2))).message
