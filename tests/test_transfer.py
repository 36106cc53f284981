"""Tests of utils.transfer on tiny inputs (64 px, a dozen images, 1 epoch): the feature cache,
fine-tuning setup (BatchNorm stays frozen), grouped cross-validation of the transfer models
without leakage (utils.crossval.run_transfer_cv) and the residual block.  Runs offline in about a
minute on 2 CPU cores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from utils import crossval, transfer, viz  # noqa: E402
from utils.datasets import ImageSet  # noqa: E402

SIZE = 64


@pytest.fixture(autouse=True)
def private_features(tmp_path, monkeypatch):
    """Cache features in a temporary folder (the weights cache is left alone)."""
    monkeypatch.setattr(transfer, "features_dir", lambda: tmp_path / "features")
    return tmp_path / "features"


@pytest.fixture(scope="module")
def tiny():
    """16 random 64 px RGB images in 12 groups (two groups of two, one of three)."""
    rng = np.random.default_rng(0)
    X = rng.random((16, SIZE, SIZE, 3)).astype(np.float32)
    y = np.array([0, 1] * 8)
    groups = np.array([0, 0, 1, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    y[[4, 5, 6]] = 1  # a group shares its label, as near-duplicates do
    table = pd.DataFrame({"sha256": [f"{i:064x}" for i in range(16)]})
    return ImageSet(X, y, groups, table, ("no", "yes"))


def test_features_cache_hit_on_second_call(tiny, private_features):
    first = transfer.extract_features(tiny, kind="pooled", verbose=False)
    assert not first.cache_hit and first.values.shape == (16, 1280)
    assert first.backbone == "efficientnet_lite0"
    files = sorted(p.name for p in private_features.glob("*.npy"))
    assert len(files) == 2 and all(f.startswith("efficientnet_lite0_top_activation_64px") for f in files)
    second = transfer.extract_features(tiny, kind="pooled", verbose=False)
    assert second.cache_hit
    np.testing.assert_array_equal(first.values, second.values)
    fmap = transfer.extract_features(tiny, kind="map", verbose=False)
    assert fmap.cache_hit and fmap.values.shape == (16, 2, 2, 1280)
    np.testing.assert_allclose(fmap.values.mean(axis=(1, 2)), first.values, rtol=1e-5, atol=1e-6)
    assert "EfficientNet-Lite0" in second.describe()


def test_cache_key_depends_on_images_and_settings(tiny):
    base = transfer.cache_key(tiny, layer="a")
    assert base == transfer.cache_key(tiny, layer="a")
    assert base != transfer.cache_key(tiny, layer="b")
    other = ImageSet(tiny.X, tiny.y, tiny.groups, tiny.table.iloc[::-1].reset_index(drop=True))
    assert base != transfer.cache_key(other, layer="a")
    brighter = ImageSet(tiny.X * 0.5, tiny.y, tiny.groups, tiny.table)  # same files, other pixels
    assert base != transfer.cache_key(brighter, layer="a")
    no_table = ImageSet(tiny.X, tiny.y, tiny.groups, None)
    assert len(transfer.image_keys(no_table)) == 16


def test_preprocess_matches_lite0_and_handles_gray():
    gray = np.full((2, 4, 4, 1), 0.5, np.float32)
    out = transfer.preprocess(gray)
    assert out.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(out, (127.5 - 127.0) / 128.0)
    raw = transfer.preprocess(gray, raw_pixels=True)
    np.testing.assert_allclose(raw, 127.5)


def test_fine_tune_keeps_batchnorm_frozen():
    model = transfer.build_classifier(SIZE, head="light", weights=None)
    head = [l for l in model.layers if l.name.startswith("head_")]
    assert head and all(l.trainable for l in head)
    assert not any(l.trainable for l in model.layers if l.name.startswith("block"))
    unfrozen = transfer.fine_tune(model, n_blocks=3, learning_rate=1e-4)
    assert unfrozen == ["block6d", "block7a", "top"]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and not any(l.trainable for l in bns)
    convs = {l.name: l.trainable for l in model.layers if isinstance(l, keras.layers.Conv2D)}
    assert convs["block7a_project_conv"] and convs["top_conv"] and convs["block6d_expand_conv"]
    assert not convs["block6c_expand_conv"] and not convs["stem_conv"]
    assert model.get_layer("block6c_drop").rate == 0.0  # no stochastic depth by default
    assert model.get_layer("block6d_drop").rate == 0.0
    other = transfer.build_classifier(SIZE, head="light", weights=None)
    transfer.fine_tune(other, n_blocks=3, stochastic_depth=True)
    assert other.get_layer("block6c_drop").rate == 0.0  # frozen: always off
    assert other.get_layer("block6d_drop").rate > 0.0
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    # BN runs in inference mode even with training=True: outputs do not depend on the batch
    x = np.random.default_rng(1).normal(size=(4, SIZE, SIZE, 3)).astype(np.float32)
    a = model(x, training=False).numpy()
    b = model(x[:2], training=False).numpy()
    np.testing.assert_allclose(a[:2], b, rtol=1e-4, atol=1e-5)
    assert transfer.split_layer(model, unfrozen[0]) == "block6c_add"


def test_fit_end_to_end_trains_only_unfrozen_blocks(tiny):
    model = transfer.build_classifier(SIZE, head="light", weights=None)
    transfer.fine_tune(model, n_blocks=2)
    frozen_before = model.get_layer("block6c_expand_conv").get_weights()[0].copy()
    bn_before = model.get_layer("top_bn").get_weights()[2].copy()  # moving mean
    top_before = model.get_layer("top_conv").get_weights()[0].copy()
    hist = transfer.fit_end_to_end(model, tiny.X[:8], tiny.y[:8], epochs=1, batch_size=4)
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    np.testing.assert_array_equal(model.get_layer("block6c_expand_conv").get_weights()[0], frozen_before)
    np.testing.assert_array_equal(model.get_layer("top_bn").get_weights()[2], bn_before)
    assert not np.array_equal(model.get_layer("top_conv").get_weights()[0], top_before)


def test_heads_shapes_and_parameters():
    paper = transfer.paper_head((7, 7, 1280))
    assert [type(l).__name__ for l in paper.layers[1:]] == ["Flatten", "Dense", "Dense", "Dense"]
    assert paper.count_params() == 7 * 7 * 1280 * 256 + 256 + 256 * 128 + 128 + 128 + 1
    light = transfer.light_head((1280,))
    assert light.count_params() == 1281 and light.output.shape[-1] == 1


def _no_leak(result, data):
    for g in np.unique(data.groups):
        assert len(set(result.fold_of[data.groups == g])) == 1, f"group {g} split across folds"


def test_run_transfer_cv_features(tiny):
    res = crossval.run_transfer_cv(tiny, folds=2, mode="features", head="light", epochs=1,
                                   verbose=False)
    f = res.folds
    assert len(f) == 2 and list(f["fold"]) == [0, 1]
    for col in ("backbone", "accuracy", "auc", "sensitivity", "specificity", "n_test", "seconds"):
        assert col in f.columns
    assert (f["backbone"] == "EfficientNet-Lite0 (ImageNet)").all()
    assert f["n_test"].sum() == len(tiny) and not np.isnan(res.oof).any()
    assert ((res.oof >= 0) & (res.oof <= 1)).all()
    _no_leak(res, tiny)
    paper = crossval.run_transfer_cv(tiny, folds=2, mode="features", head="paper", epochs=1,
                                     verbose=False, keep_models=True)
    assert len(paper.folds) == 2 and len(paper.models) == 2
    model = paper.models[0]  # a flat image -> probability model that Grad-CAM can explain
    x = transfer.preprocess(tiny.X[:2])
    heat = viz.grad_cam(model, x[0])
    assert heat.shape == (SIZE, SIZE)
    np.testing.assert_allclose(viz.grad_cam(model, x)[0], heat, atol=1e-5)  # batch = one by one


def test_run_transfer_cv_finetune(tiny, private_features):
    res = crossval.run_transfer_cv(tiny, folds=2, mode="finetune", n_blocks=2, n_views=3,
                                   epochs=1, warmup_epochs=1, verbose=False, keep_models=True)
    assert len(res.folds) == 2 and res.folds["epochs"].eq(2).all()
    assert "fine-tuned" in res.name and "EfficientNet-Lite0" in res.name
    assert not np.isnan(res.oof).any()
    _no_leak(res, tiny)
    assert any("views3" in p.name for p in private_features.glob("*.npy"))
    model = res.models[0]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert not any(l.trainable for l in bns)
    # the flat model reproduces the cached-views prediction for an original image
    test = np.nonzero(res.fold_of == 0)[0][:1]
    p_flat = model.predict(transfer.preprocess(tiny.X[test]), verbose=0).ravel()
    p_mirror = model.predict(transfer.preprocess(tiny.X[test][:, :, ::-1]), verbose=0).ravel()
    np.testing.assert_allclose((p_flat + p_mirror) / 2, res.oof[test], atol=2e-3)


def test_views_of_an_image_depend_only_on_its_key_and_the_seed(tiny):
    """Adding (and reordering) other images leaves an image's augmented views unchanged; another
    seed changes them (the first two views, original and mirror image, are not random)."""
    keys = list(tiny.table["sha256"])
    few = list(transfer.augment_views(tiny.X[:5], 4, seed=3, keys=keys[:5]))
    order = [10, 3, 0, 12, 4, 1, 2, 7]                      # images 0-4 among others
    more = list(transfer.augment_views(tiny.X[order], 4, seed=3, keys=[keys[i] for i in order]))
    at = [order.index(i) for i in range(5)]
    for v in range(4):
        np.testing.assert_array_equal(few[v], more[v][at])
    np.testing.assert_array_equal(few[1], tiny.X[:5, :, ::-1])
    other = list(transfer.augment_views(tiny.X[:5], 4, seed=4, keys=keys[:5]))
    np.testing.assert_array_equal(other[0], few[0])
    for v in (2, 3):
        assert np.abs(other[v] - few[v]).max(axis=(1, 2, 3)).min() > 1e-3   # every image moved
        assert np.abs(few[v][0] - few[v][1]).max() > 0                       # images differ
    assert transfer.view_seed(keys[0], 3, 2) != transfer.view_seed(keys[0], 3, 3)


def test_frozen_views_of_a_subset_are_the_views_in_the_full_set(tiny):
    model = transfer.build_classifier(SIZE, head="light", weights=None)
    split = transfer.split_layer(model, transfer.fine_tune(model, n_blocks=2)[0])
    full = transfer.frozen_views(tiny, split, n_views=3, seed=1, cache=False, verbose=False)
    part = ImageSet(tiny.X[4:10], tiny.y[4:10], tiny.groups[4:10],
                    tiny.table.iloc[4:10].reset_index(drop=True))
    sub = transfer.frozen_views(part, split, n_views=3, seed=1, cache=False, verbose=False)
    np.testing.assert_allclose(sub.values, full.values[4:10], atol=1e-6)


def test_explicit_leaky_folds_are_refused(tiny):
    leaky = [(np.arange(1, 16), np.array([0]))]  # image 0 and 1 share group 0
    with pytest.raises(ValueError, match="straddle"):
        crossval.run_transfer_cv(tiny, folds=leaky, epochs=1, verbose=False)


def test_residual_block_shapes():
    inputs = keras.Input((16, 16, 8))
    same = transfer.residual_block(inputs, 8, name="a")
    down = transfer.residual_block(inputs, 16, stride=2, name="b")
    plain = transfer.residual_block(inputs, 8, residual=False, name="c")
    assert tuple(same.shape) == (None, 16, 16, 8)
    assert tuple(down.shape) == (None, 8, 8, 16)
    assert tuple(plain.shape) == (None, 16, 16, 8)
    model = keras.Model(inputs, [same, down, plain])
    names = [l.name for l in model.layers]
    assert "a_add" in names and "b_proj" in names and "c_add" not in names and "a_proj" not in names


def test_residual_stack_keeps_gradients():
    df = transfer.gradient_norms_by_depth(depths=(1, 8), width=8, n=8, size=16)
    g = df.set_index(["blocks", "network"])["gradient norm (first layer)"]
    assert g[(8, "residual")] > 10 * g[(8, "plain")]
    assert set(df.columns) >= {"blocks", "network", "conv layers"}


def test_preprocessing_table_is_computed():
    table = transfer.preprocessing_table()
    assert list(table["backbone"]) == ["VGG16", "ResNet50", "InceptionV3", "DenseNet121",
                                       "EfficientNet-Lite0"]
    lite = table.set_index("backbone").loc["EfficientNet-Lite0", "RGB(0, 0, 0)"]
    assert lite.startswith("(-0.99")


def test_natural_images_and_top5():
    imgs = transfer.natural_images(size=64, names=("chelsea", "coffee"))
    assert set(imgs) == {"chelsea", "coffee"}
    assert imgs["coffee"].shape == (64, 64, 3) and imgs["coffee"].dtype == np.uint8
    probs = np.zeros((2, 1000))
    probs[0, 285], probs[1, 967] = 0.9, 0.8
    t = transfer.top5_table(probs, ["chelsea", "coffee"])
    assert len(t) == 10 and t.iloc[0]["class"] == "Egyptian_cat"
