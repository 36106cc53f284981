"""utils.segmentation: Dice/IoU on known arrays (with ignore pixels), the ignore-aware loss,
the U-Net's shape, saving/loading, boxes, and the mask loaders' nearest-neighbour resizing."""
from __future__ import annotations

import numpy as np
import pytest

from utils import segmentation as S

keras = pytest.importorskip("keras")


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# ------------------------------------------------------------------------- NumPy metrics
def test_dice_iou_known_values():
    t = np.zeros((4, 4), bool)
    t[:2, :2] = True                       # 4 pixels
    p = np.zeros((4, 4), bool)
    p[:2, :3] = True                       # 6 pixels, 4 overlap
    assert S.dice_score(t, p) == pytest.approx(2 * 4 / (4 + 6))
    assert S.iou_score(t, p) == pytest.approx(4 / 6)
    assert S.dice_score(t, p) == pytest.approx(S.dice_from_iou(S.iou_score(t, p)))
    assert S.dice_score(t, t) == 1.0 and S.iou_score(t, ~t) == 0.0
    empty = np.zeros((4, 4), bool)
    assert S.dice_score(empty, empty) == 1.0 and S.iou_score(empty, empty) == 1.0
    assert S.dice_score(empty, p) == 0.0


def test_dice_iou_ignore_pixels():
    t = np.zeros((4, 4), bool)
    t[:2, :2] = True
    p = t.copy()
    p[3, :] = True                          # 4 false positives in row 3 ...
    valid = np.ones((4, 4), bool)
    valid[3, :] = False                     # ... all on ignored pixels
    assert S.dice_score(t, p) < 1.0
    assert S.dice_score(t, p, valid) == 1.0
    assert S.iou_score(t, p, valid) == 1.0
    t2 = t.copy()
    t2[3, 0] = True                         # truth on an ignored pixel does not count either
    assert S.dice_score(t2, t, valid) == 1.0


def test_per_image_scores_and_best_worst():
    masks = np.zeros((3, 8, 8, 1), np.float32)
    masks[:, 2:6, 2:6] = 1
    probs = masks.copy()
    probs[1, 2:6, 2:4] = 0.2                # half the object missed
    probs[2] = 0.0                          # everything missed
    sc = S.per_image_scores(masks, probs)
    assert sc["dice"].round(4).tolist() == [1.0, round(2 * 8 / (16 + 8), 4), 0.0]
    assert sc["true_px"].tolist() == [16, 16, 16] and sc["pred_px"].tolist() == [16, 8, 0]
    best, worst = S.best_worst(sc, k=1)
    assert best == [0] and worst == [2]


# ------------------------------------------------------------------------- Keras losses/metrics
def _batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (rng.random((2, 16, 16, 1)) > 0.6).astype(np.float32)
    valid = np.ones_like(mask)
    valid[:, :4] = 0                        # first four rows ignored
    probs = rng.uniform(0.05, 0.95, mask.shape).astype(np.float32)
    return mask, valid, probs


def test_keras_metrics_match_numpy():
    mask, valid, probs = _batch()
    y = S.pack(mask, valid)
    d = _np(S.dice_coef(y, probs))
    i = _np(S.iou_coef(y, probs))
    for k in range(2):
        assert d[k] == pytest.approx(S.dice_score(mask[k], probs[k] >= 0.5, valid[k]), abs=1e-5)
        assert i[k] == pytest.approx(S.iou_score(mask[k], probs[k] >= 0.5, valid[k]), abs=1e-5)
    perfect = _np(S.dice_coef(y, mask))
    assert np.allclose(perfect, 1.0)


@pytest.mark.parametrize("fn", [S.dice_bce_loss, S.soft_dice_loss, S.masked_bce, S.dice_coef,
                                S.iou_coef], ids=lambda f: f.__name__)
def test_ignored_pixels_do_not_change_loss_or_metric(fn):
    mask, valid, probs = _batch()
    y = S.pack(mask, valid)
    changed = probs.copy()
    changed[:, :4] = 1.0 - changed[:, :4]   # flip the prediction on every ignored pixel
    changed[:, :2] = 0.999
    a, b = _np(fn(y, probs)), _np(fn(y, changed))
    assert np.allclose(a, b, atol=1e-6)
    # and the same change on *valid* pixels does change it
    changed2 = probs.copy()
    changed2[:, 8:12] = 1.0 - changed2[:, 8:12]
    assert not np.allclose(a, _np(fn(y, changed2)), atol=1e-6)


def test_ignored_truth_does_not_count():
    mask, valid, probs = _batch()
    m2 = mask.copy()
    m2[:, :4] = 1 - m2[:, :4]               # a different truth on the ignored rows
    for fn in (S.dice_bce_loss, S.dice_coef):
        assert np.allclose(_np(fn(S.pack(mask, valid), probs)), _np(fn(S.pack(m2, valid), probs)),
                           atol=1e-6)


def test_loss_gradient_finite_and_loss_ordering():
    import tensorflow as tf

    mask, valid, probs = _batch()
    y = tf.constant(S.pack(mask, valid))
    for start in (probs, np.zeros_like(probs), np.ones_like(probs)):  # also saturated inputs
        p = tf.Variable(start)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(S.dice_bce_loss(y, p))
        g = tape.gradient(loss, p).numpy()
        assert np.isfinite(loss.numpy()) and np.all(np.isfinite(g))
        assert np.all(g[:, :4] == 0)         # no gradient flows from ignored pixels
    good = _np(S.dice_bce_loss(y, np.clip(mask, 0.05, 0.95)))
    bad = _np(S.dice_bce_loss(y, np.clip(1 - mask, 0.05, 0.95)))
    assert np.all(good < bad)
    empty = S.pack(np.zeros_like(mask), valid)  # an empty mask gives a finite loss too
    assert np.all(np.isfinite(_np(S.dice_bce_loss(empty, probs))))


# ------------------------------------------------------------------------- the U-Net
def test_unet_output_shape_and_levels():
    model = S.unet((64, 64, 1), depth=3, base_filters=4)
    out = model.predict(np.zeros((2, 64, 64, 1), np.float32), verbose=0)
    assert out.shape == (2, 64, 64, 1)
    assert np.all((out >= 0) & (out <= 1))
    names = [layer.name for layer in model.layers]
    for n in ("enc1_conv1", "pool3", "bottleneck_conv2", "up3", "skip1", "dec1_conv2", "output"):
        assert n in names
    table = S.level_table(model)
    assert table["parameters"].sum() == model.count_params()
    assert table.iloc[-1]["output shape"] == (64, 64, 1)
    with pytest.raises(ValueError, match="divisible"):
        S.unet((60, 60, 1), depth=3)


def test_unet_trains_one_step_and_saves(tmp_path):
    model = S.unet((32, 32, 1), depth=2, base_filters=4)
    mask = np.zeros((4, 32, 32, 1), np.float32)
    mask[:, 8:24, 8:24] = 1
    X = mask * 0.8 + 0.1
    history, _ = S.fit(model, X, S.pack(mask), epochs=1, batch_size=2, augment=True)
    assert {"loss", "dice", "iou"} <= set(history.history)
    path = S.save_unet(model, tmp_path / "m.weights.h5", {"note": "test"})
    again, config = S.load_unet(path)
    assert config["note"] == "test" and config["base_filters"] == 4
    assert np.allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    with pytest.raises(FileNotFoundError):
        S.load_unet(tmp_path / "missing.weights.h5")


def test_augmentation_keeps_mask_binary_and_paired():
    import tensorflow as tf

    mask = np.zeros((4, 32, 32, 1), np.float32)
    mask[:, 8:24, 4:12] = 1
    X = mask.copy()                          # image == mask, so the pairing is visible
    img, y = S._augment(tf.concat([X, S.pack(mask)], -1), 0.2, 0.1, True, 0.0, 0)
    img, y = img.numpy(), y.numpy()
    assert set(np.unique(y)) <= {0.0, 1.0}
    agree = ((img[..., 0] >= 0.5) == (y[..., 0] == 1)).mean()
    assert agree > 0.97


# ------------------------------------------------------------------------- boxes and loaders
def test_mask_bbox_and_box_iou():
    m = np.zeros((10, 10), bool)
    m[2:5, 3:8] = True
    assert S.mask_bbox(m) == (3, 2, 5, 3)
    assert S.mask_bbox(np.zeros((4, 4))) is None
    assert S.box_iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1.0
    assert S.box_iou((0, 0, 2, 2), (1, 0, 2, 2)) == pytest.approx(2 / 6)
    assert S.box_iou((0, 0, 1, 1), (5, 5, 1, 1)) == 0.0


def test_read_pair_nearest_and_size_mismatch(tmp_path):
    from PIL import Image

    img = (np.arange(40 * 60) % 256).astype(np.uint8).reshape(40, 60)
    lung = np.zeros((40, 60), np.uint8)
    lung[:, :30] = 255
    lung[:, 30:35] = 127
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(lung).save(tmp_path / "lung.png")
    image, mask, valid, note = S.read_pair(tmp_path / "img.png", tmp_path / "lung.png", 16, "lung")
    assert note is None and image.shape == mask.shape == valid.shape == (16, 16)
    assert set(np.unique(mask)) <= {0.0, 1.0} and (valid == 0).any() and (valid == 1).any()
    assert not ((mask == 1) & (valid == 0)).any()
    Image.fromarray(lung[:38, :57]).save(tmp_path / "small.png")  # mask of another size
    _, _, _, note = S.read_pair(tmp_path / "img.png", tmp_path / "small.png", 16, "lung")
    assert note and "57x38" in note and "60x40" in note and "nearest" in note


def test_tumour_set_reports_y163(mirror_env):
    T = S.load_tumour_set(32, verbose=False)
    assert len(T) == 128 and T.images.shape == (128, 32, 32, 1)
    assert len(T.notes) == 1 and "Y163" in T.notes[0]
    assert (T.table["mask_note"] != "").sum() == 1
    assert set(np.unique(T.masks)) <= {0.0, 1.0} and T.valid.min() == 1.0


def test_lite0_unet_shape_and_pretrained_encoder():
    try:
        model = S.lite0_unet((64, 64, 1))
    except Exception as err:  # pragma: no cover - depends on the offline Lite0 weights
        pytest.skip(f"Lite0 weights unavailable: {err}")
    out = model.predict(np.zeros((1, 64, 64, 1), np.float32), verbose=0)
    assert out.shape == (1, 64, 64, 1)
    encoder = model.get_layer("lite0_encoder")
    assert [t.shape[1] for t in encoder.outputs] == [32, 16, 8, 4, 2]
    bn = [l for l in encoder.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bn and not any(l.trainable for l in bn)
    with pytest.raises(ValueError, match="divisible by 32"):
        S.lite0_unet((48, 48, 1))
