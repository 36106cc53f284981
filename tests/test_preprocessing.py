"""Tests of utils.preprocessing: the crop to the head (one square for an image and its mask) and
the training-time augmentation."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from utils import preprocessing


def _head(shape=(100, 120), box=(20, 60, 30, 90), value=200):
    img = np.zeros(shape, np.uint8)
    r0, r1, c0, c1 = box
    img[r0:r1, c0:c1] = value
    return img


# ------------------------------------------------------------------------------------------
# Crop to the head
# ------------------------------------------------------------------------------------------
def test_content_box_is_the_padded_square_around_the_largest_bright_region():
    img = _head()                       # the "head": rows 20-59, columns 30-89 (40 x 60)
    img[95, 2] = 255                    # an isolated speck: blurred away
    img[2:6, 100:118] = 255             # a label in the corner: a smaller region, dropped
    top, left, side = preprocessing.content_box(img)
    # the 5x5 blur widens the head by 2 pixels on each side: 64 columns, padded by 2 % per end
    assert side == int(64 * 1.04)
    assert (top + side // 2, left + side // 2) == (40, 60)  # centred on the head
    assert preprocessing.content_box(img[..., None]) == (top, left, side)  # (H, W, 1) alike
    assert preprocessing.content_box(img, margin=0.0) == (40 - 32, 60 - 32, 64)


def test_content_box_of_a_blank_image_is_the_whole_image():
    top, left, side = preprocessing.content_box(np.zeros((30, 40), np.uint8), margin=0.0)
    assert (top, left, side) == (-5, 0, 40)  # a square, centred on the 30 x 40 image


def test_crop_square_pads_outside_the_image_with_zeros():
    a = np.arange(1, 13, dtype=np.uint8).reshape(3, 4)
    out = preprocessing.crop_square(a, (-1, 1, 3))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 0, 0], [2, 3, 4], [6, 7, 8]])
    np.testing.assert_array_equal(preprocessing.crop_square(a[..., None], (0, 0, 2)), [[1, 2], [5, 6]])


def test_crop_to_content_finds_the_bright_region():
    img = _head()
    img[95, 2] = 255  # an isolated speck is ignored
    out = preprocessing.crop_to_content(img)
    assert out.shape[0] == out.shape[1]
    assert 60 <= out.shape[0] <= 66
    assert out.max() == 200


def test_one_square_for_the_image_and_its_mask(tmp_path):
    """The two former uses of the crop rule: crop_to_content cuts an image, cropped_mask cuts the
    image's mask with the same square, so that the tumour stays where it was."""
    from PIL import Image

    img = _head((60, 80), (10, 50, 20, 60))  # the "head": a 40x40 bright square
    mask = np.zeros_like(img)
    mask[10:30, 20:40] = 255  # top-left quarter of the head
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    box = preprocessing.content_box(img)
    np.testing.assert_array_equal(preprocessing.crop_to_content(img), preprocessing.crop_square(img, box))
    m = preprocessing.cropped_mask(tmp_path / "img.png", tmp_path / "mask.png", size=40)
    assert m.shape == (40, 40)
    assert m[4:16, 4:16].all() and not m[24:, :].any() and not m[:, 24:].any()
    np.testing.assert_array_equal(m, np.asarray(Image.fromarray(preprocessing.crop_square(mask, box))
                                                .resize((40, 40), Image.NEAREST)) > 127)


def test_crop_on_real_brain_mris(mirror):
    from utils import data

    for f in data.manifest("brain_mri")["file"].iloc[::25]:
        img = data.read_image(mirror / "brain_mri" / f, mode="L")
        out = preprocessing.crop_to_content(img)
        top, left, side = preprocessing.content_box(img)
        assert out.shape == (side, side) and out.dtype == img.dtype
        assert side <= 1.05 * max(img.shape)            # never much more than the image
        # the crop keeps the bright pixels: nearly all of the image's brightness is inside
        assert out.astype(float).sum() >= 0.9 * img.astype(float).sum()


def test_head_region_is_the_one_rule_of_the_box_and_the_mask():
    """content_box is the square around head_region; head_mask is its bright pixels, holes
    filled; utils.shift measures the head with the same function and threshold."""
    from utils import shift

    img = _blob_image()                                     # disc (the head) and a label
    yy, xx = np.mgrid[:90, :120]
    disc = (yy - 50) ** 2 + (xx - 45) ** 2 < 30 ** 2
    img[44:56, 39:51] = 0                                   # a dark hole inside the head
    region, top = preprocessing.head_region(img)
    mask = preprocessing.head_mask(img / 255.0)
    assert not region[5:12, 100:112].any()                  # the label is another region
    assert not region[46:54, 41:49].any()                   # the hole's middle stays dark
    np.testing.assert_array_equal(mask, disc)               # the disc itself, hole filled
    assert region.sum() > disc.sum()                        # the blur widened the region
    rows, cols = np.nonzero(region)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    top_, left, side = preprocessing.content_box(img, margin=0.0)
    assert side == max(r1 - r0, c1 - c0)
    assert (top_ + side // 2, left + side // 2) == ((r0 + r1) // 2, (c0 + c1) // 2)
    blank_region, blank_top = preprocessing.head_region(np.zeros((10, 12)))
    assert blank_top == 0 and not blank_region.any() and blank_region.shape == (10, 12)
    assert not preprocessing.head_mask(np.zeros((10, 12))).any()
    # one function, one threshold
    assert shift.head_mask is preprocessing.head_mask
    for f in (preprocessing.head_region, preprocessing.head_mask, preprocessing.content_box,
              preprocessing.crop_to_content, preprocessing.standardise_in_head,
              preprocessing.head_crop, shift.head_fill, shift.input_stats,
              shift.intensity_histogram):
        assert inspect.signature(f).parameters["threshold"].default == \
            preprocessing.HEAD_THRESHOLD, f.__name__
    assert shift.head_fill((img / 255.0)[None], threshold=0.9)[0] < shift.head_fill(
        (img / 255.0)[None])[0]                                 # the threshold is used


def test_head_mask_lies_in_the_content_box_on_real_images(mirror):
    from scipy import ndimage

    from utils import data

    files = [mirror / "brain_mri" / f for f in data.manifest("brain_mri")["file"].iloc[::40]]
    files += [mirror / "brain_mri_external" / f
              for f in data.manifest("brain_mri_external")["file"].iloc[::60]
              if str(f).endswith((".jpg", ".png"))]
    assert len(files) >= 8
    for path in files:
        img = data.read_image(path, mode="L")
        mask = preprocessing.head_mask(img / 255.0)
        region, _ = preprocessing.head_region(img)
        top, left, side = preprocessing.content_box(img, margin=0.0)
        assert 0.05 < mask.mean() < 1, path                  # a head, not the whole frame
        inside = np.zeros(img.shape, bool)
        inside[max(top, 0):top + side, max(left, 0):left + side] = True
        assert not (mask & ~inside).any(), path             # the head is inside its square
        assert not (mask & ~ndimage.binary_fill_holes(region)).any(), path  # and its region


# ------------------------------------------------------------------------------------------
# Augmentation
# ------------------------------------------------------------------------------------------
def test_augmentation_flips_rotates_and_keeps_the_range():
    pytest.importorskip("keras")
    aug = preprocessing.augmentation(rotation=0, zoom=0, translation=0, contrast=0, gamma=0)
    x = np.random.rand(64, 16, 16, 1).astype(np.float32)
    out = np.asarray(aug(x, training=True))
    flipped = np.array([np.allclose(o, a[:, ::-1], atol=1e-5) for o, a in zip(out, x)])
    same = np.array([np.allclose(o, a, atol=1e-5) for o, a in zip(out, x)])
    assert (flipped | same).all() and 10 < flipped.sum() < 54  # about half are mirrored
    full = np.asarray(preprocessing.augmentation()(x, training=True))
    assert full.shape == x.shape and full.min() >= 0 and full.max() <= 1


def test_paired_transforms_move_image_and_mask_together():
    from utils import preprocessing as P

    mask = np.zeros((48, 48))
    mask[14:30, 10:22] = 1                                  # an off-centre rectangle
    image = 0.2 + 0.6 * mask                                # its image: the mask, brighter
    for name, transform in P.PAIRED_TRANSFORMS.items():
        img, msk = transform(image, mask, np.random.default_rng(3))
        assert img.shape == image.shape and set(np.unique(msk)) <= {0.0, 1.0}, name
        same = transform(image, mask, np.random.default_rng(3))
        assert np.array_equal(same[0], img) and np.array_equal(same[1], msk), name
        if name in ("intensity", "gamma", "blur"):
            assert np.array_equal(msk, mask) and not np.allclose(img, image), name
        else:
            assert not np.array_equal(msk, mask), name        # the geometry changed ...
            inside = img[msk == 1].mean() - img[msk == 0].mean()
            assert inside > 0.4, name                         # ... and the mask followed the image
    flipped = P.paired_flip(image, mask, None)[1]
    assert np.array_equal(flipped, mask[:, ::-1])


# ---- the head crop as a Keras layer ------------------------------------------------------
def _blob_image():
    """A bright disc (the head), a smaller bright square far away (a label), dark background."""
    img = np.zeros((90, 120), np.uint8)
    yy, xx = np.mgrid[:90, :120]
    img[(yy - 50) ** 2 + (xx - 45) ** 2 < 30 ** 2] = 200
    img[5:12, 100:112] = 255
    return img


def test_head_crop_layer_matches_content_box_and_ignores_the_label():
    from PIL import Image

    img = _blob_image()
    layer = preprocessing.head_crop(32)
    box = preprocessing.content_box(img)
    x = (img.astype(np.float32) / 255.0)[..., None]
    assert tuple(int(v) for v in layer._box(x)) == box
    assert box[2] < 75  # the label is left out: the square holds the disc only
    ref = np.asarray(Image.fromarray(preprocessing.crop_square(img, box)).resize(
        (32, 32), Image.BILINEAR)) / 255.0
    out = np.asarray(layer(x[None]))[0, ..., 0]
    assert out.shape == (32, 32)
    assert np.abs(out - ref).mean() < 0.01


def test_head_crop_layer_on_real_images(brain_paths=None):
    from utils import data, datasets

    paths = list(datasets.load_brain_mri(size=8).table["path"])[:3]
    layer = preprocessing.head_crop(16)
    for p in paths:
        img = data.read_image(p, mode="L")
        x = (img.astype(np.float32) / 255.0)[..., None]
        assert tuple(int(v) for v in layer._box(x)) == preprocessing.content_box(img)


def test_head_crop_layer_blank_image_gives_whole_frame():
    layer = preprocessing.head_crop(8)
    x = np.zeros((20, 30, 1), np.float32)
    assert tuple(int(v) for v in layer._box(x)) == preprocessing.content_box(x[..., 0])


def _heads(seed, n, scale=0.4, shift=0.3, power=1.0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 32, 32, 1), np.float32)
    X[:, 8:24, 8:24, 0] = shift + scale * rng.random((n, 16, 16)) ** power   # the "heads"
    return X


def test_match_histogram_in_head_agrees_with_skimage_and_keeps_the_background():
    exposure = pytest.importorskip("skimage.exposure")
    train = _heads(0, 5)                                  # the reference: training images only
    ref = preprocessing.head_histogram(train)
    values, quantiles = ref
    assert np.all(np.diff(values) > 0) and quantiles[-1] == pytest.approx(1.0)
    other = _heads(1, 3, scale=0.35, shift=0.6, power=2.0)  # another scanner: other contrast
    out = preprocessing.match_histogram_in_head(other, ref)
    assert out.shape == other.shape and out.dtype == np.float32
    pooled = np.concatenate([t[..., 0][preprocessing._inside_head(t[..., 0])] for t in train])
    for img, got in zip(other, out):
        inside = preprocessing._inside_head(img[..., 0])
        want = exposure.match_histograms(img[..., 0][inside].astype(np.float64), pooled)
        np.testing.assert_allclose(got[..., 0][inside], want, atol=1e-6)
        assert np.all(got[..., 0][~inside] == 0)                   # background becomes 0
    # after matching, a head's intensities follow the reference, not its own scanner
    assert abs(np.median(out[:, 8:24, 8:24]) - np.median(train[:, 8:24, 8:24])) < 0.02
    assert abs(np.median(other[:, 8:24, 8:24]) - np.median(train[:, 8:24, 8:24])) > 0.1
    order = np.argsort(other[0, 8:24, 8:24, 0], axis=None)        # the ranks are kept
    assert np.all(np.diff(out[0, 8:24, 8:24, 0].ravel()[order]) >= 0)
    rgb = preprocessing.match_histogram_in_head(np.repeat(other, 3, -1), ref)
    np.testing.assert_allclose(rgb[..., 0], rgb[..., 2])
    np.testing.assert_allclose(rgb[..., 0], out[..., 0], atol=1e-6)
    with pytest.raises(ValueError):
        preprocessing.match_histogram_in_head(other[0], ref)


def test_standardise_in_head_removes_a_contrast_and_brightness_change():
    rng = np.random.default_rng(0)
    img = np.zeros((1, 32, 32, 1), np.float32)
    img[0, 8:24, 8:24, 0] = 0.3 + 0.4 * rng.random((16, 16))       # the "head"
    other = img.copy()
    other[0, 8:24, 8:24, 0] = 0.5 * img[0, 8:24, 8:24, 0] + 0.2     # another scanner's window
    a, b = preprocessing.standardise_in_head(img), preprocessing.standardise_in_head(other)
    assert a.shape == img.shape and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1
    np.testing.assert_allclose(a, b, atol=1e-5)                     # same after standardising
    assert not np.allclose(img, other)
    assert np.all(a[0, :8] == 0)                                    # background stays 0
    inside = a[0, 8:24, 8:24, 0]
    assert abs(inside.mean() - 0.5) < 0.02                          # z = 0 maps to 0.5
    rgb = preprocessing.standardise_in_head(np.repeat(img, 3, -1))
    np.testing.assert_allclose(rgb[..., 0], rgb[..., 2])
    with pytest.raises(ValueError):
        preprocessing.standardise_in_head(img[0])


def test_shift_augment_depends_on_each_images_seed_only_and_keeps_range():
    from utils import preprocessing as P

    rng = np.random.default_rng(0)
    X = rng.random((6, 32, 32, 1)).astype(np.float32)
    seeds = np.arange(6) + 100
    a = P.shift_augment(X, seeds)
    assert a.shape == X.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert not np.allclose(a, X)
    # adding other images (and reordering) leaves an image's copy unchanged
    b = P.shift_augment(np.concatenate([X[3:], rng.random((2, 32, 32, 1)), X[:3]]),
                        np.concatenate([seeds[3:], [7, 8], seeds[:3]]))
    np.testing.assert_array_equal(b[:3], a[3:])
    np.testing.assert_array_equal(b[-3:], a[:3])
    # RGB made of one gray image stays gray, and equals the gray copy
    rgb = P.shift_augment(np.repeat(X, 3, axis=-1), seeds)
    np.testing.assert_allclose(rgb[..., 0], rgb[..., 2])
    np.testing.assert_allclose(rgb[..., :1], a, atol=1e-6)
    with pytest.raises(ValueError, match="one seed per image"):
        P.shift_augment(X, seeds[:3])


def test_paired_resolution_removes_fine_detail_and_keeps_the_size():
    from utils import preprocessing as P

    checker = (np.indices((40, 40)).sum(0) % 2).astype(np.float32)      # finest possible detail
    smooth = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))
    lo, mask = P.paired_resolution(checker, np.ones((40, 40)), np.random.default_rng(1))
    assert lo.shape == checker.shape and np.array_equal(mask, np.ones((40, 40)))
    assert lo.std() < 0.5 * checker.std()
    sm, _ = P.paired_resolution(smooth, np.zeros((40, 40)), np.random.default_rng(1))
    assert np.abs(sm[:, 2:-2] - smooth[:, 2:-2]).max() < 0.05               # a ramp survives


def test_histogram_matching_leaves_an_all_black_frame_black():
    from utils import preprocessing as P

    rng = np.random.default_rng(0)
    X = np.zeros((2, 16, 16, 1), np.float32)
    X[1, 4:12, 4:12, 0] = rng.random((8, 8)) * 0.8 + 0.2
    out = P.match_histogram_in_head(X, P.head_histogram(X[1:]))
    assert np.all(out[0] == 0) and out[1].max() > 0
