"""Tests of utils.viz: visualkeras wrapper, receptive fields, feature maps and their plots."""
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
