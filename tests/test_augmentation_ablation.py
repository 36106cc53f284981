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
    with pytest.raises(ValueError):
        crossval.augmentation_ablation(_Recorder, X, y, folds, families=("flip",))
