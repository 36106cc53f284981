"""Chapter 10's U-Nets over training seeds: the recipes by mode, the training seed reaching the
training, the tumour split and evaluation as functions, the U-Net seed record (round trip,
refusals) and the benchmark's arguments.  No real training: tiny arrays and stand-ins."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from utils import benchmark_segmentation as B
from utils import config
from utils import experiments as xp
from utils import segmentation as S


# ------------------------------------------------------------------------- recipes
def test_recipes_by_mode(monkeypatch):
    assert S.tumour_recipe(quick=True) == dict(size=64, epochs=2, base_filters=8, dropout=0.3,
                                               batch_size=8, learning_rate=2e-3)
    assert S.tumour_recipe(quick=False) == dict(size=128, epochs=40, base_filters=16,
                                                dropout=0.3, batch_size=8, learning_rate=2e-3)
    assert S.pretrained_recipe(quick=True) == dict(size=64, epochs=2, batch_size=8,
                                                   learning_rate=1e-3)
    assert S.pretrained_recipe(quick=False)["epochs"] == 40
    for quick in (True, False):          # the tumour U-Nets train at the lung U-Net's size
        assert S.tumour_recipe(quick)["size"] == S.pretrained_recipe(quick)["size"] \
            == S.lung_recipe(quick)["size"]
    for mode, quick in (("quick", True), ("full", False)):   # None: the current mode
        monkeypatch.setenv("DLBI_MODE", mode)
        for name in S.UNET_RECIPES:
            assert S.unet_recipe(name) == S.unet_recipe(name, quick)
    with pytest.raises(ValueError, match="unknown U-Net"):
        S.unet_recipe("vnet")


# ------------------------------------------------------------------------- tiny data
def _set(n=20, size=16, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):                   # squares of growing area
        k = 2 + i % 6
        masks[i, :k, :k] = 1
    images = rng.random((n, size, size, 1)).astype(np.float32)
    table = pd.DataFrame({"image": [f"yes/Y{i}.jpg" for i in range(n)],
                          "file": [f"covid/{i}.png" for i in range(n)]})
    groups = np.array([f"g{i // 2}" for i in range(n)])   # pairs of near-duplicates
    return S.SegSet(images, masks, np.ones_like(masks), groups, table)


class _Perfect:
    """A stand-in model whose prediction is the true mask of each image it is given."""

    def __init__(self, data):
        self.data = data

    def predict(self, images, batch_size=32, verbose=0):
        out = np.zeros_like(images)
        for k, im in enumerate(images):
            i = next(i for i, x in enumerate(self.data.images)
                     if np.array_equal(x, im) or np.array_equal(x[:, ::-1], im))
            flipped = not np.array_equal(self.data.images[i], im)
            out[k] = self.data.masks[i][:, ::-1] if flipped else self.data.masks[i]
        return out


def test_tumour_split_is_grouped_stratified_and_fixed():
    data = _set()
    train, test = S.tumour_split(data)
    assert not set(data.groups[train]) & set(data.groups[test])
    assert len(test) > 0 and len(train) + len(test) == len(data)
    again = S.tumour_split(data)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    np.testing.assert_allclose(S.tumour_area(data), data.masks.mean(axis=(1, 2, 3)))


def test_tumour_summary_and_heldout_dice_on_a_perfect_model():
    data = _set()
    _, test = S.tumour_split(data)
    probs, scores, summary = S.tumour_summary(_Perfect(data), data, test)
    assert probs.shape == data.masks[test].shape
    assert list(scores.columns[:1]) == ["image"] and {"area", "group"} <= set(scores)
    assert summary["mean Dice (per image)"] == 1.0 and summary["images with Dice < 0.5"] == 0
    figures = S.heldout_dice(data.masks[test], probs, data.valid[test])
    assert figures == {"mean_dice": 1.0, "median_dice": 1.0, "pooled_dice": 1.0}
    probs_tta, same = S.heldout_eval(_Perfect(data), data, test)   # flip-averaged, same figures
    np.testing.assert_allclose(probs_tta, probs)
    assert same == figures
    half = data.masks[test].copy()
    half[:, :, :1] = 0                    # the first column of every square missed
    assert S.heldout_dice(data.masks[test], half)["mean_dice"] < 1.0


# ------------------------------------------------------------------------- the training seed
@pytest.fixture
def spy(monkeypatch):
    """Record the seed given to seed_everything and to fit; train nothing."""
    seen = {}
    monkeypatch.setattr(config, "seed_everything", lambda seed=None: seen.setdefault(
        "seed_everything", []).append(seed) or seed)

    class History:
        history = {"loss": [1.0]}

    def fake_fit(model, images, targets, **kw):
        seen.setdefault("fit", []).append(kw["seed"])
        seen["n_train"] = len(images)
        return History(), 0.0

    monkeypatch.setattr(S, "fit", fake_fit)
    monkeypatch.setattr(S, "predict", lambda model, images, **kw: np.zeros_like(images))
    monkeypatch.setattr(S, "lite0_unet", lambda shape: S.unet(shape, depth=2, base_filters=2))
    return seen


def test_train_lung_unet_passes_the_training_seed(spy, monkeypatch):
    monkeypatch.delenv("DLBI_SEED", raising=False)
    recipe = dict(size=16, epochs=1, base_filters=2, batch_size=4, learning_rate=1e-3)
    data = _set()
    _, cfg = S.train_lung_unet(data, recipe, save=False, seed=142)
    assert spy["seed_everything"] == [142] and spy["fit"] == [142]
    assert spy["n_train"] == len(S.lung_split(data.groups)[0])
    assert cfg["heldout_mean_dice"] == 0.0 and cfg["recipe"] == recipe
    S.train_lung_unet(data, recipe, save=False)            # default: the book's seed
    assert spy["seed_everything"][-1] == 42 and spy["fit"][-1] == 42


def test_fit_tumour_unet_passes_the_training_seed(spy):
    data = _set()
    train, _ = S.tumour_split(data)
    recipe = dict(size=16, epochs=1, base_filters=2, dropout=0.3, batch_size=4,
                  learning_rate=1e-3)
    model, history, _ = S.fit_tumour_unet("scratch", data, train, seed=242, recipe=recipe)
    assert model.name == "tumour_unet" and model.unet_config["dropout"] == 0.3
    S.fit_tumour_unet("pretrained", data, train, seed=342, recipe=recipe)
    assert spy["seed_everything"] == [242, 342] and spy["fit"] == [242, 342]
    with pytest.raises(ValueError, match="kind"):
        S.fit_tumour_unet("lung", data, train)


def test_seed_lung_unet_is_trained_once_and_then_loaded(spy, monkeypatch, tmp_path):
    """The two seed benchmarks share their lung U-Nets: the second call loads the first one's
    weights; another seed, other training images or another recipe train anew."""
    monkeypatch.setenv("DLBI_CACHE", str(tmp_path))
    recipe = dict(size=16, epochs=1, base_filters=2, batch_size=4, learning_rate=1e-3)
    data = _set()
    train, _ = S.lung_split(data.groups)
    first, _, loaded = S.seed_lung_unet(data, train, recipe, seed=142)
    assert not loaded and spy["fit"] == [142]
    again, seconds, loaded = S.seed_lung_unet(data, train, recipe, seed=142)
    assert loaded and spy["fit"] == [142] and seconds == 0.0          # not trained again
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    path = S.seed_lung_unet_path(data, train, recipe, 142)
    assert path.parent == tmp_path / "models" and path.name.startswith("lung_unet-seed142-")
    assert path != S.lung_model_path()                     # chapter 10's model is untouched
    others = {S.seed_lung_unet_path(data, train, recipe, 242),
              S.seed_lung_unet_path(data, train[:-1], recipe, 142),
              S.seed_lung_unet_path(data, train, {**recipe, "epochs": 2}, 142)}
    assert path not in others and len(others) == 3
    monkeypatch.setenv("DLBI_THREADS", "1")
    assert S.seed_lung_unet_path(data, train, recipe, 142) != path
    S.seed_lung_unet(data, train, recipe, seed=242)
    assert spy["fit"] == [142, 242]


# ------------------------------------------------------------------------- the record
ENV = {"commit": "abc1234", "date": "2026-12-02 01:00", "mode": "quick", "tensorflow": "2.21.0",
       "cpu_cores": 2, "accelerator": "CPU only"}


def _unet_entry(name, dice, files=("yes/Y1.jpg", "yes/Y2.jpg"), **env):
    table = pd.DataFrame({"training_seed": xp.training_seeds(len(dice)), "mean_dice": dice,
                          "median_dice": dice, "pooled_dice": dice, "seconds": 1.0})
    return xp.unet_seed_record_entry(name, table, {**ENV, **env}, files, 10, quick=True)


def test_unet_seed_record_round_trip(tmp_path):
    assert xp.unet_seed_record_path("quick").name == "unet_seed_repeats_quick.json"
    assert xp.unet_seed_record_path("full") == xp.UNET_SEED_RECORD
    path = tmp_path / "unet.json"
    xp.record_unet_seed_repeats({"scratch": _unet_entry("scratch", [0.50, 0.56, 0.53])}, path)
    xp.record_unet_seed_repeats({"pretrained": _unet_entry("pretrained", [0.70, 0.68, 0.75]),
                                 "lung": _unet_entry("lung", [0.9, 0.91, 0.92], files=["a"])},
                                path)                                # merged
    rec = xp.load_unet_seed_record(path, mode="quick",
                                   heldout={"scratch": ["yes/Y2.jpg", "yes/Y1.jpg"]})
    assert set(rec) == {"scratch", "pretrained", "lung"}
    assert rec["scratch"]["label"].startswith("mode quick, commit abc1234, 2026-12-02 01:00")
    assert rec["scratch"]["spread"]["mean_dice"]["mean"] == pytest.approx(0.53)
    assert rec["scratch"]["spread"]["mean_dice"]["sd"] == pytest.approx(0.03)
    d = xp.seed_difference(rec, "scratch", "pretrained", "mean_dice", xp.UNET_DESIGN)
    np.testing.assert_allclose(d["per_seed"], [0.20, 0.12, 0.22])
    assert xp.sign_verdict(d["per_seed"]).startswith("is positive for all 3")
    with pytest.raises(ValueError, match="same folds"):   # another split: not comparable
        xp.seed_difference(rec, "lung", "pretrained", "mean_dice", xp.UNET_DESIGN)
    table = xp.unet_seed_table(rec, {"scratch": 0.5, "pretrained": 0.7})
    assert list(table["model"]) == ["scratch", "pretrained", "lung"]
    assert table.loc[0, "mean_dice, mean ± SD over seeds"] == "0.530 ± 0.030"
    assert table.loc[0, "training seeds"] == "42, 142, 242"
    assert np.isnan(table.loc[2, "this build (seed 42)"])
    same = xp.seed_record_agreement(rec["scratch"], {"mean_dice": 0.50}, metrics=("mean_dice",))
    moved = xp.seed_record_agreement(rec["scratch"], {"mean_dice": 0.51}, metrics=("mean_dice",))
    assert same["same"] and not moved["same"] and "abc1234" in moved["message"]


def test_unet_seed_record_refuses_stale_unlabelled_missing_or_other_split(tmp_path):
    path = tmp_path / "unet.json"
    with pytest.raises(ValueError, match="no U-Net seed record"):
        xp.load_unet_seed_record(path, mode="quick")
    xp.record_unet_seed_repeats({"scratch": _unet_entry("scratch", [0.5, 0.6])}, path)
    with pytest.raises(ValueError, match="no entry for 'pretrained'.*benchmark_segmentation"):
        xp.load_unet_seed_record(path, models=["scratch", "pretrained"], mode="quick")
    with pytest.raises(ValueError, match="other images than this hold-out split"):
        xp.load_unet_seed_record(path, mode="quick", heldout={"scratch": ["yes/Y3.jpg"]})
    stale = _unet_entry("scratch", [0.5, 0.6])
    stale["settings"]["epochs"] = 99              # a recipe the code no longer has
    xp.record_unet_seed_repeats({"scratch": stale}, path)
    with pytest.raises(ValueError, match=r"unet_recipe\('scratch'\).*stale"):
        xp.load_unet_seed_record(path, mode="quick")
    unlabelled = _unet_entry("scratch", [0.5, 0.6])
    del unlabelled["environment"]["commit"]
    xp.record_unet_seed_repeats({"scratch": unlabelled}, path)
    with pytest.raises(ValueError, match="label"):
        xp.load_unet_seed_record(path, mode="quick")
    full = _unet_entry("scratch", [0.5, 0.6], mode="full")   # quick settings, full label
    xp.record_unet_seed_repeats({"scratch": full}, path)
    with pytest.raises(ValueError, match="stale"):
        xp.load_unet_seed_record(path, mode="quick")
    assert json.loads(path.read_text())["command"].startswith(
        "python -m utils.benchmark_segmentation")


def test_recorded_quick_file_is_current():
    """The committed quick record (chapter 10 reads it in quick mode) matches today's recipes."""
    path = xp.unet_seed_record_path("quick")
    if not path.exists():
        pytest.skip("no quick U-Net seed record committed")
    rec = xp.load_unet_seed_record(path, mode="quick")
    assert set(rec) == set(S.UNET_RECIPES)
    for entry in rec.values():
        assert entry["mode"] == "quick" and entry["spread"]["mean_dice"]["n_seeds"] >= 3


# ------------------------------------------------------------------------- the benchmark
def test_benchmark_arguments():
    args = B.parse_args([])
    assert args.seeds == 3 and args.models == ["lung", "scratch", "pretrained"] \
        and args.seed == 42 and not args.record
    args = B.parse_args(["--seeds", "4", "--models", "scratch, pretrained", "--record"])
    assert args.seeds == 4 and args.models == ["scratch", "pretrained"] and args.record
    for bad in (["--seeds", "1"], ["--models", "lung,vnet"], ["--models", ","]):
        with pytest.raises(SystemExit):
            B.parse_args(bad)
