"""Tests of utils.fundamentals: DICOM/HU helpers, activations, the NumPy MLP (against numerical
gradients and Keras), gradient descent and the NumPy convolution (against the paper's Fig. 2,
TensorFlow and SciPy).  Fast: a few seconds plus one TensorFlow import."""
import numpy as np
import pytest

from utils import fundamentals as F

FIG2_X = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
FIG2_K = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
FIG2_OUT = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]])


# ----------------------------------------------------------------------------- DICOM / HU
def test_hounsfield_and_window_on_pydicom_ct():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = F.to_hounsfield(ds)
    np.testing.assert_allclose(hu, ds.pixel_array * 1.0 - 1024)
    assert hu.min() == -896
    info = F.dicom_summary(ds)
    assert info["Modality"] == "CT" and info["Rescale intercept"] == -1024
    assert info["Pixel spacing (mm)"] == pytest.approx([0.661468, 0.661468])
    mr = F.dicom_summary(pydicom.dcmread(get_testdata_file("MR_small.dcm")))
    assert mr["Modality"] == "MR" and mr["Rescale slope"] is None


def test_to_hounsfield_plain_array():
    np.testing.assert_allclose(F.to_hounsfield([0, 1000], slope=2, intercept=-1000), [-1000, 1000])


def test_apply_window():
    c, w = F.CT_WINDOWS["soft tissue"]
    out = F.apply_window([-1000, c - w / 2, c, c + w / 2, 3000], c, w)
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])
    with pytest.raises(ValueError):
        F.apply_window([0], 0, 0)


def test_three_planes_shapes():
    vol = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    planes = F.three_planes(vol, (1, 2, 3))
    assert planes["axial"].shape == (5, 4) and planes["axial"][0, 1] == vol[1, 0, 3]
    assert planes["coronal"].shape == (6, 4) and planes["sagittal"].shape == (6, 5)
    assert F.three_planes(vol)["sagittal"][0, 0] == vol[2, 0, 0]
    with pytest.raises(ValueError):
        F.three_planes(np.zeros((3, 3)))


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "linear"])
def test_activation_derivatives_match_finite_differences(name):
    f, df = F.ACTIVATIONS[name]
    z = np.array([-5.0, -1.3, -0.2, 0.3, 0.9, 4.0])  # avoid ReLU's kink at 0
    eps = 1e-6
    np.testing.assert_allclose(df(z), (f(z + eps) - f(z - eps)) / (2 * eps), atol=1e-7)


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        out = F.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out, [0, 0.5, 1])
    assert F.relu_grad(np.array([0.0]))[0] == 0.0


# ----------------------------------------------------------------------------- MLP
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_mlp_gradient_check(activation):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 2, 6)
    mlp = F.MLP([4, 5, 3, 1], activation=activation, seed=2)
    assert mlp.gradient_check(X, y) < 1e-6
    assert mlp.count_params() == 4 * 5 + 5 + 5 * 3 + 3 + 3 + 1


def test_mlp_loss_matches_manual_bce_and_training_reduces_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    mlp = F.MLP([3, 8, 1], activation="tanh", seed=0)
    p = mlp.forward(X).ravel()
    assert mlp.loss(X, y) == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    before = mlp.loss(X, y)
    hist = mlp.fit(X, y, epochs=30, lr=0.5, batch_size=16, validation=(X, y))
    assert hist["loss"][-1] < before and hist["accuracy"][-1] > 0.9
    assert len(hist["val_accuracy"]) == 30


def test_mlp_validation_errors():
    with pytest.raises(ValueError):
        F.MLP([4, 2])
    with pytest.raises(ValueError):
        F.MLP([4, 1], activation="swish")
    with pytest.raises(RuntimeError):
        F.MLP([2, 1]).backward([1])


def test_mlp_matches_keras_outputs_and_gradients():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(8, 6)), rng.integers(0, 2, 8).astype(float)
    mlp = F.MLP([6, 5, 1], activation="relu", seed=4)
    model = keras.Sequential([keras.Input((6,), dtype="float64"),
                              keras.layers.Dense(5, activation="relu", dtype="float64"),
                              keras.layers.Dense(1, activation="sigmoid", dtype="float64")])
    model.set_weights(mlp.get_weights())
    with tf.GradientTape() as tape:
        p = model(X)
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y[:, None], p))
    grads = tape.gradient(loss, model.trainable_variables)
    np.testing.assert_allclose(p.numpy(), mlp.forward(X), atol=1e-12)
    assert float(loss) == pytest.approx(mlp.loss(X, y), abs=1e-12)
    for g_tf, g_np in zip(grads, mlp.gradients(X, y)):
        np.testing.assert_allclose(g_tf.numpy(), g_np, atol=1e-12)


def test_gradient_descent_converges_and_diverges():
    grad = lambda w: np.array([1.0, 10.0]) * w  # noqa: E731  f = 0.5 (w1^2 + 10 w2^2)
    good = F.gradient_descent(grad, [2.0, 1.0], lr=0.15, steps=100)
    assert np.linalg.norm(good[-1]) < 1e-4 and good.shape == (101, 2)
    bad = F.gradient_descent(grad, [2.0, 1.0], lr=0.21, steps=500)
    assert np.abs(bad[-1]).max() > 1e3
    assert len(bad) < 501  # cut once it blew up


# ----------------------------------------------------------------------------- convolution
def test_fig2_example():
    np.testing.assert_array_equal(F.conv2d_numpy(FIG2_X, FIG2_K), FIG2_OUT)
    steps = F.conv_steps(FIG2_X, FIG2_K)
    assert len(steps) == 9
    assert [s["value"] for s in steps] == FIG2_OUT.ravel().tolist()
    np.testing.assert_array_equal(steps[5]["field"], FIG2_X[1:4, 2:5])


@pytest.mark.parametrize("n,k,s,p,expected", [(5, 3, 1, 0, 3), (5, 3, 1, 1, 5), (5, 3, 2, 1, 3),
                                              (224, 7, 2, 3, 112), (7, 3, 2, 0, 3), (6, 3, 2, 0, 2)])
def test_output_size(n, k, s, p, expected):
    assert F.output_size(n, k, s, p) == expected
    assert F.conv2d_numpy(np.ones((n, n)), np.ones((k, k)), s, p).shape == (expected, expected)


def test_output_size_errors():
    with pytest.raises(ValueError):
        F.output_size(3, 5)
    with pytest.raises(ValueError):
        F.output_size(5, 3, s=0)


def test_padding_and_bias():
    out = F.conv2d_numpy(FIG2_X, FIG2_K, padding=1, bias=0.5)
    assert out.shape == (5, 5)
    assert out[0, 0] == FIG2_X[0, 0] + FIG2_X[1, 1] + 0.5  # only in-image taps count
    assert F.same_padding(5, 3, 1) == (1, 1) and F.same_padding(6, 3, 2) == (0, 1)


def test_multichannel_multifilter_is_sum_over_channels():
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(6, 7, 3)), rng.normal(size=(3, 3, 3, 2))
    out = F.conv2d_numpy(x, k)
    assert out.shape == (4, 5, 2)
    manual = sum(F.conv2d_numpy(x[:, :, c], k[:, :, c, 1]) for c in range(3))
    np.testing.assert_allclose(out[:, :, 1], manual)
    assert F.conv2d_numpy(x, k[:, :, :, 0]).shape == (4, 5)
    with pytest.raises(ValueError):
        F.conv2d_numpy(x, np.ones((3, 3)))  # 2-D kernel on 3 channels


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (1, "same"), (2, "valid"), (2, "same"), (3, "same")])
def test_conv2d_matches_tensorflow(stride, padding):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(stride)
    x, k = rng.normal(size=(9, 11, 3)), rng.normal(size=(3, 3, 3, 4))
    ref = tf.nn.conv2d(x[None], k, strides=stride, padding=padding.upper()).numpy()[0]
    np.testing.assert_allclose(F.conv2d_numpy(x, k, stride, padding), ref, atol=1e-10)


def test_scipy_convolve2d_flips_the_kernel():
    signal = pytest.importorskip("scipy.signal")
    k = np.array([[1, 2, 3], [0, 0, 0], [-1, -2, -3]], dtype=float)
    x = np.random.default_rng(0).normal(size=(6, 6))
    np.testing.assert_allclose(signal.correlate2d(x, k, mode="valid"), F.conv2d_numpy(x, k))
    np.testing.assert_allclose(signal.convolve2d(x, k, mode="valid"), F.conv2d_numpy(x, k[::-1, ::-1]))


def test_filters_are_3x3_and_edge_filters_sum_to_zero():
    for name, k in F.FILTERS.items():
        assert k.shape == (3, 3), name
    for name in ("sobel x (vertical edges)", "sobel y (horizontal edges)", "laplacian"):
        assert F.FILTERS[name].sum() == 0
    assert F.FILTERS["blur (box 3x3)"].sum() == pytest.approx(1)
    assert F.FILTERS["sharpen"].sum() == 1


def test_receptive_field_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = F.receptive_field_figure(FIG2_X, FIG2_K)
    assert len(fig.axes) == 9 and fig._suptitle.get_text()
    assert fig.axes[0].get_title() == "out[0,0] = 4"
    plt.close(fig)
    fig = F.receptive_field_figure(FIG2_X, FIG2_K, stride=2, padding=1)
    assert len(fig.axes) == 9
    plt.close(fig)


# ----------------------------------------------------------------------------- pooling (chapter 04)
def test_pool2d_max_and_mean():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    np.testing.assert_array_equal(F.pool2d(x), [[6, 8], [3, 4]])
    np.testing.assert_allclose(F.pool2d(x, how="mean"), [[3.25, 5.25], [2, 2]])
    np.testing.assert_allclose(F.pool2d(x, how="mean"), x.reshape(2, 2, 2, 2).mean(axis=(1, 3)))
    assert F.pool2d(x, size=2, stride=1).shape == (3, 3)
    assert F.pool2d(np.ones((5, 5)), size=3, stride=2).shape == (2, 2)   # floor((5 - 3) / 2) + 1
    with pytest.raises(ValueError, match="how"):
        F.pool2d(x, how="median")


def test_pool2d_matches_keras():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(7, 9))
    for size, stride in [(2, 2), (3, 2), (2, 1)]:
        for how, cls in [("max", keras.layers.MaxPooling2D), ("mean", keras.layers.AveragePooling2D)]:
            theirs = keras.ops.convert_to_numpy(cls(size, stride)(x[None, :, :, None].astype("float32")))
            np.testing.assert_allclose(F.pool2d(x, size, stride, how), theirs[0, :, :, 0], atol=1e-5)


def test_draw_matrix_with_blocks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    blocks = np.kron([[0, 1], [2, 3]], np.ones((2, 2), int))
    F.draw_matrix(ax, np.arange(16).reshape(4, 4), blocks=blocks, title="windows")
    rgba = ax.images[0].get_array()
    assert rgba.shape == (4, 4, 4)                              # coloured by block, not by value
    assert np.allclose(rgba[0, 0], rgba[1, 1]) and not np.allclose(rgba[0, 0], rgba[0, 2])
    assert [t.get_text() for t in ax.texts][:2] == ["0", "1"] and ax.get_title() == "windows"
    with pytest.raises(ValueError, match="blocks"):
        F.draw_matrix(ax, np.zeros((2, 2)), blocks=np.zeros((3, 3), int))
    plt.close(fig)
