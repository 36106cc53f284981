"""crossval.augment_images and crossval.augmentation_ablation: the transforms are applied to the
training images only, every family runs on the same folds, and the comparison is the corrected
resampled t-test of the fold accuracies against no augmentation."""
from __future__ import annotations

import numpy as np
import pytest

from utils import crossval, splits
from utils.metrics import corrected_resampled_ttest


def _images(n=12, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1)).astype(np.float32)


def test_augment_images_per_family():
    X = _images()
    assert np.array_equal(crossval.augment_images(X, "none", np.random.default_rng(0)), X)
    flipped = crossval.augment_images(X, "flip", np.random.default_rng(0), p=1.0)
    assert np.array_equal(flipped, X[:, :, ::-1])
    for family in crossval.ABLATION_FAMILIES[1:]:
        out = crossval.augment_images(X, family, np.random.default_rng(1), p=1.0)
        assert out.shape == X.shape and out.min() >= 0 and out.max() <= 1
        assert not np.allclose(out, X), family           # every family changes the images
        kept = crossval.augment_images(X, family, np.random.default_rng(1), p=0.0)
        assert np.array_equal(kept, X)
    with pytest.raises(ValueError):
        crossval.augment_images(X, "mixup", np.random.default_rng(0))


class _Recorder:
    """A stand-in for a Keras model: remembers what it was trained on, predicts the training
    mean of the images' mean brightness rule (so families can differ)."""
    seen: list = []

    def fit(self, X, y, epochs, batch_size, verbose):
        _Recorder.seen.append(X.copy())
        m = X.reshape(len(X), -1).mean(1)
        self.cut = float(np.median(m))

    def __call__(self, X, training=False):
        return (np.asarray(X).reshape(len(X), -1).mean(1) > self.cut).astype(float)


def test_ablation_same_folds_and_corrected_test():
    rng = np.random.default_rng(0)
    X = _images(40, 8)
    y = (X.reshape(40, -1).mean(1) > 0.5).astype(int)
    groups = np.repeat(np.arange(20), 2)
    folds = splits.grouped_kfold(y, groups, n_splits=4, seed=0)
    _Recorder.seen = []
    res = crossval.augmentation_ablation(_Recorder, X, y, folds, families=("none", "flip", "gamma"),
                                         epochs=2)
    # 4 folds x 3 families x 2 epochs, each on the fold's training images only
    assert len(_Recorder.seen) == 4 * 3 * 2
    assert all(len(s) == len(folds[(i // 6)][0]) for i, s in enumerate(_Recorder.seen))
    fa, cmp = res["fold_accuracy"], res["comparison"]
    assert list(fa.columns) == ["none", "flip", "gamma"] and len(fa) == 4
    n_train, n_test = np.mean([len(t) for t, _ in folds]), np.mean([len(t) for _, t in folds])
    want = corrected_resampled_ttest(fa["gamma"], fa["none"], n_train, n_test)
    assert cmp.loc["gamma", "difference"] == pytest.approx(want["mean_diff"])
    assert cmp.loc["gamma", "ci_low"] == pytest.approx(want["ci_low"])
    assert np.isnan(cmp.loc["none", "difference"])
    # the predicted-positive share per fold is recorded; these models predict both classes
    pos = res["fold_positive_rate"]
    assert list(pos.columns) == ["none", "flip", "gamma"] and len(pos) == 4
    assert ((pos > 0) & (pos < 1)).all().all()
    assert res["one_class"] == {} and (cmp["one-class folds"] == 0).all()
    assert res["n_models"] == 4 * 3
    with pytest.raises(ValueError):
        crossval.augmentation_ablation(_Recorder, X, y, folds, families=("flip",))


class _AlwaysYes:
    """A stand-in model that has collapsed: it answers "tumour" for every image."""

    def fit(self, X, y, epochs, batch_size, verbose):
        pass

    def __call__(self, X, training=False):
        return np.ones(len(X))


class _YesUnlessDark:
    """Predicts "tumour" unless an image is darker than 0.5 on average: trained on anything, it
    gives one class only where a fold's test images are all bright."""

    def fit(self, X, y, epochs, batch_size, verbose):
        pass

    def __call__(self, X, training=False):
        return (np.asarray(X).reshape(len(X), -1).mean(1) >= 0.5).astype(float)


def test_ablation_records_one_class_folds():
    """A family whose models predict one class scores each fold's share of that class, and the
    result says so: its predicted-positive rate is 1 there and the fold is listed."""
    X = _images(40, 8)
    y = np.tile([0, 1, 1, 1], 10)
    groups = np.arange(40)
    folds = splits.grouped_kfold(y, groups, n_splits=4, seed=0)
    res = crossval.augmentation_ablation(_AlwaysYes, X, y, folds, families=("none", "flip"), epochs=1)
    assert (res["fold_positive_rate"] == 1.0).all().all()
    assert res["one_class"] == {"none": [1, 2, 3, 4], "flip": [1, 2, 3, 4]}
    assert (res["comparison"]["one-class folds"] == 4).all()
    shares = [y[te].mean() for _, te in folds]
    assert np.allclose(res["fold_accuracy"]["flip"], shares)
    # only the folds whose test images are all bright are one-class
    bright = X.copy()
    test0 = folds[0][1]
    bright[test0] = 0.9
    rest = np.setdiff1d(np.arange(40), test0)
    bright[rest[: len(rest) // 2]] = 0.1                  # the other folds get dark images too
    res = crossval.augmentation_ablation(_YesUnlessDark, bright, y, folds, families=("none",), epochs=1)
    pos = res["fold_positive_rate"]["none"]
    assert pos[0] == 1.0 and ((pos[1:] > 0) & (pos[1:] < 1)).all()
    assert res["one_class"] == {"none": [1]}
    assert res["comparison"].loc["none", "one-class folds"] == 1
