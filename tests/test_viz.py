"""Tests of utils.viz: visualkeras wrapper, receptive fields, feature maps and their plots,
Grad-CAM (one image or a batch; sigmoid or softmax heads) and its share inside a mask."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from utils import viz  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        layers.Conv2D(4, 3, activation="relu", padding="same", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(6, 3, activation="relu", name="conv2"),
        layers.Flatten(name="flat"),
        layers.Dense(1, activation="sigmoid", name="out"),
    ])


# ---------------------------------------------------------------- parameter table
def test_parameter_table(tiny):
    table = viz.parameter_table(tiny)
    assert table["layer"].tolist() == ["conv1", "pool1", "conv2", "flat", "out"]
    # conv1: (3*3*1 + 1) * 4; conv2: (3*3*4 + 1) * 6 on 8x8 -> 6x6x6 = 216 values; out: 216 + 1
    assert table["parameters (formula)"].tolist() == [40, 0, 222, 0, 217]
    assert (table["parameters (formula)"] == table["parameters (Keras)"]).all()
    assert table["parameters (Keras)"].sum() == tiny.count_params()
    assert table.loc[table["layer"] == "conv2", "output shape"].iloc[0] == (6, 6, 6)


def test_parameter_table_without_bias_and_unknown_layers():
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(5, 3, use_bias=False, name="c"),
                              layers.BatchNormalization(name="bn"), layers.Flatten(),
                              layers.Dense(2, use_bias=False, name="d")])
    with pytest.raises(ValueError, match="bn"):         # the formula does not cover batch norm
        viz.parameter_table(model)
    table = viz.parameter_table(model, check=False).set_index("layer")
    assert table.loc["c", "parameters (formula)"] == 3 * 3 * 3 * 5
    assert table.loc["d", "parameters (formula)"] == 6 * 6 * 5 * 2
    assert table.loc["bn", "parameters (Keras)"] == 4 * 5


# ---------------------------------------------------------------- receptive field
def test_receptive_field_known_stacks():
    assert viz.receptive_field(["conv3", "conv3"])["receptive_field"].tolist() == [3, 5]
    df = viz.receptive_field(["conv3", "pool2", "conv3"])
    assert df["receptive_field"].tolist() == [3, 4, 8]
    assert df["jump"].tolist() == [1, 2, 2]
    assert viz.receptive_field(["conv3", "conv3", "pool2", "conv3"])["receptive_field"].iloc[-1] == 10


def test_receptive_field_spec_forms_stride_and_dilation():
    a = viz.receptive_field([("conv", 3, 1), ("pool", 2), {"kernel": 3, "stride": 1}])
    assert a["receptive_field"].iloc[-1] == 8
    assert viz.receptive_field(["conv7s2", "pool3s2"])["receptive_field"].tolist() == [7, 11]
    assert viz.receptive_field(["conv3d2"])["receptive_field"].iloc[-1] == 5   # dilated 3x3 -> 5x5
    with pytest.raises(ValueError, match="spec"):
        viz.receptive_field(["banana"])


def test_receptive_field_from_model_with_output_size(tiny):
    df = viz.receptive_field(tiny)
    assert df["layer"].tolist() == ["conv1", "pool1", "conv2"]     # stops at Flatten
    assert df["receptive_field"].tolist() == [3, 4, 8]
    assert df["output_size"].tolist() == [16, 8, 6]               # same, pool, valid
    for layer, n in zip(tiny.layers[:3], df["output_size"]):
        assert layer.output.shape[1] == n
    assert viz.receptive_field(["conv3", "pool2"], input_size=64)["output_size"].tolist() == [62, 31]


# ---------------------------------------------------------------- feature maps
def test_feature_maps_shapes(tiny):
    img = np.random.default_rng(0).random((16, 16, 1)).astype("float32")
    maps = viz.feature_maps(tiny, img)
    assert list(maps) == ["conv1", "pool1", "conv2"]
    assert [m.shape for m in maps.values()] == [(16, 16, 4), (8, 8, 4), (6, 6, 6)]
    chosen = viz.feature_maps(tiny, img[None], layers=["conv2"])
    assert list(chosen) == ["conv2"]
    np.testing.assert_allclose(chosen["conv2"], maps["conv2"], rtol=1e-5)
    # the pooled map is the 2x2 max of the conv map
    conv = maps["conv1"]
    np.testing.assert_allclose(maps["pool1"], conv.reshape(8, 2, 8, 2, 4).max((1, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match="one image"):
        viz.feature_maps(tiny, np.stack([img, img]))


def test_feature_map_and_filter_plots(tiny):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = np.zeros((16, 16, 1), "float32")
    fig = viz.show_feature_maps(viz.feature_maps(tiny, img), image=img, n=3, title="maps")
    assert fig._suptitle.get_text() == "maps" and len(fig.axes) == 3 * 4
    fig2 = viz.show_filters(tiny.get_layer("conv1"))
    assert "conv1" in fig2._suptitle.get_text()
    plt.close("all")


# ---------------------------------------------------------------- layered view
def test_layered_view_returns_image(tiny):
    pytest.importorskip("visualkeras")
    from PIL import Image

    img = viz.layered_view(tiny)
    assert isinstance(img, Image.Image) and img.width > 50 and img.height > 50
    titled = viz.layered_view(tiny, title="Tiny CNN", legend=False)
    plain = viz.layered_view(tiny, legend=False)
    assert titled.height > plain.height and titled.width == plain.width


def test_layered_view_explains_broken_visualkeras(tiny, monkeypatch):
    vk = pytest.importorskip("visualkeras")

    def broken(model, **kw):
        raise AttributeError("'Conv2D' object has no attribute 'output_shape'")

    monkeypatch.setattr(viz.metadata, "version", lambda name: "0.2.0")
    monkeypatch.setattr(vk, "layered_view", broken)
    with pytest.raises(RuntimeError, match="visualkeras==0.1.4"):
        viz.layered_view(tiny)


def test_layered_view_without_visualkeras(tiny, monkeypatch):
    def missing(name):
        raise viz.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(viz.metadata, "version", missing)
    with pytest.raises(ImportError, match="pip install visualkeras==0.1.4"):
        viz.layered_view(tiny)


def test_grad_cam_shape_and_range():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    img = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    for cls in (None, 0, 1):
        heat = viz.grad_cam(model, img, "conv", class_index=cls)
        assert heat.shape == (32, 32) and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() <= 1.0 and np.isfinite(heat).all()
    small = viz.grad_cam(model, img[None], upsample=False)  # a batch of one: one map in a batch
    assert small.shape == (1, 32, 32) and small.max() in (0.0, 1.0)
    over = viz.overlay_heatmap(img[..., 0], heat)
    assert over.shape == (32, 32, 3) and 0 <= over.min() and over.max() <= 1


def test_grad_cam_finds_the_informative_region():
    """Channel 0 speaks for the class, channel 1 against it; channel 0 is lit in the top-left
    quadrant, channel 1 in the bottom-right: the heatmap must light up the top-left only, and
    the map of the other class the bottom-right."""
    inputs = keras.Input((16, 16, 2))
    fmap = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(fmap)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.eye(2, dtype=np.float32)[None, None]])
    model.layers[-1].set_weights([np.array([[4.0], [-4.0]]), np.zeros(1)])
    img = np.zeros((16, 16, 2), np.float32)
    img[:8, :8, 0] = 1
    img[8:, 8:, 1] = 1
    heat = viz.grad_cam(model, img, "conv", class_index=1)
    assert heat[:8, :8].mean() > 0.9 and heat[8:, 8:].max() < 0.1
    other = viz.grad_cam(model, img, "conv", class_index=0)
    assert other[8:, 8:].mean() > 0.9 and other[:8, :8].max() < 0.1


# ---------------------------------------------------------------- Grad-CAM
def _softmax_model(n_classes=3, size=16, seed=0):
    """A small image -> softmax classifier, like utils.covid.head_model (features, pooling,
    a Dense softmax head)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    fmap = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(fmap)
    return keras.Model(inputs, layers.Dense(n_classes, activation="softmax", name="head")(x))


def _reference_cams(model, x, classes):
    """Grad-CAM written out for a batch: gradient of each image's chosen logit with respect to
    the conv layer's maps, channel weights, ReLU, scaled to 1 at the layer's resolution, resized."""
    import tensorflow as tf

    head = model.get_layer("head")
    probe = keras.Model(model.input, [model.get_layer("conv").output, model.get_layer("gap").output])
    with tf.GradientTape() as tape:
        fmap, pooled = probe(x, training=False)
        logits = tf.matmul(pooled, head.kernel) + head.bias
        score = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    grads = tape.gradient(score, fmap).numpy()
    cam = np.maximum((fmap.numpy() * grads.mean(axis=(1, 2), keepdims=True)).sum(-1), 0)
    cam = cam / cam.max(axis=(1, 2), keepdims=True)
    return np.clip(tf.image.resize(cam[..., None], x.shape[1:3]).numpy()[..., 0], 0, 1), logits.numpy()


def test_grad_cam_of_a_batch_with_a_softmax_head():
    """The former utils.covid use: many images at once, each map for its predicted class (or a
    class given per image or for all), equal to the maps of one image at a time."""
    model = _softmax_model()
    x = np.random.default_rng(1).normal(size=(5, 16, 16, 3)).astype(np.float32)
    cams = viz.grad_cam(model, x, batch_size=2)            # three batches: 2 + 2 + 1 images
    assert cams.shape == (5, 16, 16) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1
    _, logits = _reference_cams(model, x, np.zeros(5, int))
    predicted = logits.argmax(1)
    ref, _ = _reference_cams(model, x, predicted)
    np.testing.assert_allclose(cams, ref, atol=1e-5)
    one_by_one = np.stack([viz.grad_cam(model, img) for img in x])
    np.testing.assert_allclose(cams, one_by_one, atol=1e-5)
    for classes in (2, [0, 1, 2, 0, 1]):
        want = np.broadcast_to(classes, (5,))
        got = viz.grad_cam(model, x, class_index=classes)
        np.testing.assert_allclose(got, _reference_cams(model, x, want)[0], atol=1e-5)
    assert viz.grad_cam(model, x, upsample=False).shape == (5, 8, 8)


def test_grad_cam_of_one_image_with_a_sigmoid_output():
    """The former utils.transfer use: one image, a single sigmoid output, class 1 = +logit and
    class 0 = -logit; a batch gives the same maps."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    fmap = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    out = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling2D()(fmap))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(2).normal(size=(3, 16, 16, 3)).astype(np.float32)
    logit = np.log(model.predict(x, verbose=0)[:, 0]) - np.log1p(-model.predict(x, verbose=0)[:, 0])
    batch = {c: viz.grad_cam(model, x, "conv", class_index=c) for c in (None, 0, 1)}
    for i in range(3):
        for c in (None, 0, 1):
            np.testing.assert_allclose(batch[c][i], viz.grad_cam(model, x[i], "conv", class_index=c),
                                       atol=1e-5)
        predicted = int(logit[i] >= 0)
        np.testing.assert_allclose(batch[None][i], batch[predicted][i], atol=1e-6)


def test_cam_share_inside():
    m = np.zeros((2, 4, 4))
    m[:, :2] = 1
    cams = np.zeros((2, 4, 4))
    cams[0, :2] = 1                                      # all heat on the lungs
    cams[1] = 1                                          # heat everywhere
    assert np.allclose(viz.cam_share_inside(cams, m[..., None]), [1.0, 0.5])
    assert np.isnan(viz.cam_share_inside(np.zeros((1, 4, 4)), m[:1]))[0]


def test_brightest_point_finds_the_bright_blob_not_a_single_hot_pixel():
    img = np.zeros((70, 70))
    img[40:50, 10:20] = 0.8          # a blob of one Grad-CAM cell
    img[5, 60] = 1.0                 # one hot pixel: brighter, but no region
    r, c = viz.brightest_point(img)
    assert 40 <= r < 50 and 10 <= c < 20
    rgb = np.repeat(img[..., None], 3, axis=-1)
    assert viz.brightest_point(rgb) == (r, c)
    with pytest.raises(ValueError):
        viz.brightest_point(np.zeros(5))
