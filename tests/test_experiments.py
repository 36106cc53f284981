"""Tests of utils.experiments: the paper's CNN, the improved CNN, grouped cross-validation, the
repeated paper protocol, the statistics and the result files.

Fast on purpose: tiny synthetic images (32 px), a few dozen samples, one epoch.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from utils import config, datasets, experiments as xp, splits  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    config.configure_tensorflow()
    config.seed_everything(0)


def synthetic_set(n: int = 40, size: int = 32, seed: int = 0) -> datasets.ImageSet:
    """Images with a bright blob for class 1; every 4th image has a 'duplicate' in its group."""
    rng = np.random.default_rng(seed)
    y = np.array([i % 2 for i in range(n)])
    X = rng.uniform(0, 0.3, size=(n, size, size, 1)).astype(np.float32)
    X[y == 1, size // 4:size // 2, size // 4:size // 2, 0] += 0.6
    groups = np.arange(n)
    groups[1::4] = groups[0::4][: len(groups[1::4])]  # pairs (0,1), (4,5), ... share a group
    y[1::4] = y[0::4][: len(y[1::4])]  # duplicates carry the same label
    table = pd.DataFrame({"file": [f"img{i}.png" for i in range(n)], "y": y, "near_group": groups})
    return datasets.ImageSet(np.clip(X, 0, 1), y, groups, table, ("no", "yes"))


# ------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------
def test_paper_cnn_matches_the_paper_and_its_code():
    m3 = xp.paper_cnn()  # 128 px, fourth kernel 3x3 (the published code)
    shapes = [tuple(layer.output.shape[1:]) for layer in m3.layers]
    assert shapes == [(125, 125, 32), (122, 122, 16), (61, 61, 16), (58, 58, 32), (56, 56, 16),
                      (28, 28, 16), (12544,), (1,)]
    # 544 + 8208 + 8224 + 4624 + 12545
    assert m3.count_params() == 34145
    kinds = [type(layer).__name__ for layer in m3.layers]
    assert kinds == ["Conv2D", "Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "MaxPooling2D",
                     "Flatten", "Dense"]
    assert m3.layers[-1].activation.__name__ == "sigmoid"
    assert all(layer.padding == "valid" for layer in m3.layers if hasattr(layer, "padding"))
    assert m3.loss == "binary_crossentropy"
    assert type(m3.optimizer).__name__ == "Adam"

    m4 = xp.paper_cnn(fourth_kernel=4)  # the text: every convolution 4x4
    assert m4.count_params() == 36849
    assert tuple(m4.layers[-2].output.shape[1:]) == (27 * 27 * 16,)


def test_paper_cnn_rejects_other_kernels_and_works_on_small_images():
    with pytest.raises(ValueError, match="fourth_kernel"):
        xp.paper_cnn(fourth_kernel=5)
    m = xp.paper_cnn((32, 32, 1))
    out = m.predict(np.zeros((2, 32, 32, 1), np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("normalise", ["batchnorm", "standardise"])
def test_improved_cnn_shapes_and_regularisation(normalise):
    m = xp.improved_cnn((32, 32, 1), widths=(8, 16), normalise=normalise)
    kinds = {type(layer).__name__ for layer in m.layers}
    assert "GlobalAveragePooling2D" in kinds and "Flatten" not in kinds
    assert "Dropout" in kinds
    assert ("BatchNormalization" in kinds) == (normalise == "batchnorm")
    assert m.get_layer("augment") is not None
    assert m.get_layer("conv1").kernel_regularizer is not None
    out = m.predict(np.random.rand(3, 32, 32, 1).astype(np.float32), verbose=0)
    assert out.shape == (3, 1)
    # far fewer parameters than the paper's Flatten + Dense at the same size
    assert m.count_params() < 5000
    with pytest.raises(ValueError, match="normalise"):
        xp.improved_cnn((32, 32, 1), normalise="layer")


def test_improved_cnn_augmentation_only_in_training():
    m = xp.improved_cnn((32, 32, 1), widths=(4,))
    aug = m.get_layer("augment")
    x = np.random.rand(4, 32, 32, 1).astype(np.float32)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x, atol=1e-6)
    assert not np.allclose(np.asarray(aug(x, training=True)), x)


def test_per_image_standardisation():
    x = np.random.rand(2, 8, 8, 1).astype(np.float32) * 5 + 3
    z = np.asarray(xp._standardise(x))
    np.testing.assert_allclose(z.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(1, 2, 3)), 1, atol=1e-3)


# ------------------------------------------------------------------------------------------
# Metrics and cross-validation
# ------------------------------------------------------------------------------------------
def test_binary_metrics_known_numbers():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.4, 0.7]
    m = xp.binary_metrics(y, p)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (3, 1, 3, 1)
    assert m["accuracy"] == 0.75 and m["sensitivity"] == 0.75 and m["specificity"] == 0.75
    assert m["auc"] == pytest.approx(14 / 16)
    assert math.isnan(xp.binary_metrics([1, 1], [0.2, 0.9])["auc"])


def test_run_cv_one_row_per_fold_without_group_leakage():
    data = synthetic_set()
    res = xp.run_cv(lambda: xp.paper_cnn((32, 32, 1)), data, folds=2, epochs=1)
    folds, oof = res  # unpacks as (folds, oof)
    assert len(folds) == 2 and list(folds["fold"]) == [0, 1]
    for col in ("accuracy", "auc", "sensitivity", "specificity", "n_test", "seconds"):
        assert col in folds
    assert folds["n_test"].sum() == len(data)
    assert not np.isnan(oof).any() and ((oof >= 0) & (oof <= 1)).all()
    # every group sits in exactly one test fold
    per_group = pd.Series(res.fold_of).groupby(data.groups).nunique()
    assert (per_group == 1).all()
    assert (folds["epochs"] == 1).all()
    assert res.overall(data.y)["accuracy"] == pytest.approx(
        np.mean((oof >= 0.5) == data.y))


def test_run_cv_with_grouped_inner_validation_and_tta():
    data = synthetic_set(n=48)
    res = xp.run_cv(lambda: xp.improved_cnn((32, 32, 1), widths=(4, 8)), data, folds=2,
                    epochs=2, inner_val=0.25, patience=1, tta=True, drop_remainder=True,
                    batch_size=8, class_weight="balanced", lr_schedule="cosine")
    f = res.folds
    assert (f["n_val"] > 0).all()
    assert (f["n_train"] + f["n_val"] + f["n_test"] == len(data)).all()
    assert (f["epochs"] <= 2).all()
    assert "val_loss" in res.histories[0]
    lr = res.histories[0]["learning_rate"]  # cosine: from 1e-3 down to 5 % of it
    assert lr[0] == pytest.approx(1e-3) and lr[-1] == pytest.approx(5e-5)


def test_predict_matches_keras_predict_and_mirrors():
    m = xp.paper_cnn((32, 32, 1))
    X = np.random.rand(70, 32, 32, 1).astype(np.float32)  # more than one batch of 64
    np.testing.assert_allclose(xp.predict(m, X), m.predict(X, verbose=0).ravel(), atol=1e-5)
    mirrored = m.predict(X[:, :, ::-1], verbose=0).ravel()
    np.testing.assert_allclose(xp.predict(m, X, tta=True),
                               (m.predict(X, verbose=0).ravel() + mirrored) / 2, atol=1e-5)


def test_augmentation_flips_rotates_and_keeps_the_range():
    aug = xp.augmentation(rotation=0, zoom=0, translation=0, contrast=0, gamma=0)
    x = np.random.rand(64, 16, 16, 1).astype(np.float32)
    out = np.asarray(aug(x, training=True))
    flipped = np.array([np.allclose(o, a[:, ::-1], atol=1e-5) for o, a in zip(out, x)])
    same = np.array([np.allclose(o, a, atol=1e-5) for o, a in zip(out, x)])
    assert (flipped | same).all() and 10 < flipped.sum() < 54  # about half are mirrored
    full = np.asarray(xp.augmentation()(x, training=True))
    assert full.shape == x.shape and full.min() >= 0 and full.max() <= 1


def test_run_cv_refuses_leaky_folds():
    data = synthetic_set()
    train, test = np.arange(1, 40), np.array([0])  # image 0's duplicate (1) is in train
    with pytest.raises(ValueError, match="straddle"):
        xp.run_cv(lambda: xp.paper_cnn((32, 32, 1)), data, folds=[(train, test)], epochs=1)


def test_paper_protocol_repeats_counts_straddling_groups():
    data = synthetic_set()
    df = xp.paper_protocol_repeats(data=data, seeds=[0, 1], epochs=1)
    assert list(df["seed"]) == [0, 1]
    assert (df["n_test"] == 8).all()
    for _, row in df.iterrows():
        train, test = xp.paper_split(len(data), int(row["seed"]))
        assert row["straddling_groups"] == splits.straddling_groups(train, test, data.groups)
        assert row["leaked_test_images"] >= row["straddling_groups"]
    assert df["accuracy"].between(0, 1).all()


def test_paper_split_is_unstratified_like_the_authors_code():
    from sklearn.model_selection import train_test_split

    train, test = xp.paper_split(253, seed=3)
    ref_train, ref_test = train_test_split(np.arange(253), test_size=0.2, random_state=3)
    assert set(test) == set(ref_test) and len(test) == 51 and len(train) == 202


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------
def test_summarise_mean_sd_and_t_interval():
    df = pd.DataFrame({"accuracy": [0.8, 0.9, 0.7, 0.85, 0.75], "auc": [0.9] * 5})
    s = xp.summarise(df)
    sd = math.sqrt(0.025 / 4)  # squared deviations sum to 0.025
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert s.loc["accuracy", "mean"] == pytest.approx(0.8)
    assert s.loc["accuracy", "sd"] == pytest.approx(sd)
    assert s.loc["accuracy", "ci_low"] == pytest.approx(0.8 - half)
    assert s.loc["accuracy", "ci_high"] == pytest.approx(0.8 + half)
    assert s.loc["auc", "sd"] == 0 and s.loc["auc", "ci_low"] == pytest.approx(0.9)
    assert "sensitivity" not in s.index  # missing columns are skipped


def test_paired_test_known_numbers():
    from scipy import stats

    a, b = [1, 2, 3, 4, 5], [0, 1, 1, 3, 4]  # differences 1, 1, 2, 1, 1
    r = xp.paired_test(a, b)
    assert r["mean_diff"] == pytest.approx(1.2)
    assert r["t"] == pytest.approx(6.0)
    assert r["df"] == 4
    ref = stats.ttest_rel(a, b)
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["ci_low"] < 1.2 < r["ci_high"]
    same = xp.paired_test([0.8, 0.7], [0.8, 0.7])
    assert same["p"] == 1.0 and same["mean_diff"] == 0
    with pytest.raises(ValueError):
        xp.paired_test([1, 2], [1, 2, 3])


def test_mcnemar_known_numbers():
    y = np.array([1] * 10)
    a = np.array([1] * 8 + [0] * 2, float)  # A right on 8
    b = np.array([0] * 6 + [1] * 4, float)  # B right on 4 (the last four)
    r = xp.mcnemar_test(y, a, b)
    # A right & B wrong: images 0-5 (6); A wrong & B right: images 8, 9 (2)
    assert r["a_right_b_wrong"] == 6 and r["a_wrong_b_right"] == 2 and r["discordant"] == 8
    assert r["p"] == pytest.approx(2 * sum(math.comb(8, k) for k in range(3)) / 2 ** 8)


# ------------------------------------------------------------------------------------------
# Preprocessing and result files
# ------------------------------------------------------------------------------------------
def test_crop_to_content_finds_the_bright_region():
    img = np.zeros((100, 120), np.uint8)
    img[20:60, 30:90] = 200  # the "head": 40 x 60
    img[95, 2] = 255  # an isolated speck is ignored
    out = xp.crop_to_content(img)
    assert out.shape[0] == out.shape[1]
    assert 60 <= out.shape[0] <= 66
    assert out.max() == 200


def test_save_results_round_trip(tmp_path):
    res = {"accuracy": np.float32(0.875), "folds": pd.DataFrame({"acc": [0.8, np.nan]}),
           "oof": np.array([0.1, 0.9]), "n": np.int64(5)}
    path = xp.save_results("brain_demo", res, root=tmp_path, environment={"mode": "quick"})
    assert path == tmp_path / "_build" / "results" / "brain_demo.json"
    back = json.loads(path.read_text())
    assert back["name"] == "brain_demo" and back["environment"] == {"mode": "quick"}
    assert back["results"]["accuracy"] == pytest.approx(0.875)
    assert back["results"]["folds"] == [{"acc": 0.8}, {"acc": None}]
    assert back["results"]["n"] == 5 and back["results"]["oof"] == [0.1, 0.9]
    assert xp.load_results("brain_demo", root=tmp_path) == back
    with pytest.raises(ValueError):
        xp.save_results("../x", {}, root=tmp_path)


def test_quick_run_never_overwrites_full_results(tmp_path):
    full = xp.save_results("chapter", {"acc": 0.83}, root=tmp_path, environment={"mode": "full"})
    quick = xp.save_results("chapter", {"acc": 0.6}, root=tmp_path, environment={"mode": "quick"})
    assert quick == tmp_path / "_build" / "results" / "quick" / "chapter.json"
    assert xp.load_results("chapter", root=tmp_path)["results"] == {"acc": 0.83}
    assert json.loads(quick.read_text())["results"] == {"acc": 0.6}
    # without a full result, quick mode writes the usual place; full mode always does
    assert xp.save_results("other", {}, root=tmp_path, environment={"mode": "quick"}).parent.name == "results"
    assert xp.save_results("chapter", {"acc": 0.84}, root=tmp_path, environment={"mode": "full"}) == full


def test_save_results_records_the_environment_by_default(tmp_path):
    back = json.loads(xp.save_results("env", {"x": 1}, root=tmp_path).read_text())
    assert {"mode", "seed", "python", "tensorflow"} <= set(back["environment"])


def test_run_cv_on_a_real_subset(mirror_env):
    data = datasets.load_brain_mri(size=32, subset=40)
    res = xp.run_cv(lambda: xp.paper_cnn((32, 32, 1)), data, folds=2, epochs=1)
    assert len(res.folds) == 2 and res.folds["n_test"].sum() == 40
    assert pd.Series(res.fold_of).groupby(data.groups).nunique().max() == 1
