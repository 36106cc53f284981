"""Chapter 12's probes over the lung U-Net's training seeds: the chapter's settings by mode, the
probe summary (moved from the chapter) on a hand-computed case, the U-Net seed in the feature
cache's name, the probe seed record (round trip, refusals) and the benchmark's arguments.  No
U-Net is trained and no backbone runs: tiny arrays and stand-ins."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from utils import benchmark_covid as B
from utils import config
from utils import covid as C
from utils import experiments as xp
from utils import segmentation as S


# ------------------------------------------------------------------------- settings
def test_probe_settings_by_mode(monkeypatch):
    assert C.probe_settings(quick=True) == {"size": 128, "per_class": 12, "folds": 3}
    assert C.probe_settings(quick=False) == {"size": 224, "per_class": None, "folds": 5}
    for mode, quick in (("quick", True), ("full", False)):   # None: the current mode
        monkeypatch.setenv("DLBI_MODE", mode)
        assert C.probe_settings() == C.probe_settings(quick)
        for name in xp.PROBES:
            assert xp.probe_seed_settings(name) == {"lung_recipe": S.lung_recipe(quick),
                                                    **C.probe_settings(quick)}
    with pytest.raises(ValueError, match="unknown probe"):
        xp.probe_seed_settings("lungs_half")


# ------------------------------------------------------------------------- summary
def test_probe_summary_on_a_hand_computed_case():
    y = np.array([0, 0, 1, 1, 2, 2, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 0, 2, 2])
    groups = np.array(["a", "a", "b", "c", "d", "e", "f", "g"])
    res = {"pred": pred, "balanced_accuracy": 0.123}   # taken from the probe as it is
    s = C.probe_summary(res, y, groups)
    assert list(s) == ["accuracy", "95% CI low", "95% CI high", "balanced accuracy",
                       "COVID vs rest", "normal vs pneumonia"]
    assert s["accuracy"] == pytest.approx(5 / 8)          # right: 0, 2, 3, 4, 7
    # COVID or not: wrong on image 1 (COVID called normal) and 5 (pneumonia called COVID)
    assert s["COVID vs rest"] == pytest.approx(6 / 8)
    assert C.covid_or_not(y, pred) == pytest.approx(6 / 8)
    # the non-COVID images 2-7: right on 2, 3, 4, 7; wrong on 5 (COVID) and 6 (pneumonia)
    assert s["normal vs pneumonia"] == pytest.approx(4 / 6)
    assert s["balanced accuracy"] == 0.123
    assert s["95% CI low"] <= s["accuracy"] <= s["95% CI high"]
    perfect = C.probe_summary({"pred": y, "balanced_accuracy": 1.0}, y, groups)
    assert perfect["accuracy"] == perfect["95% CI low"] == perfect["95% CI high"] == 1.0


def test_variant_probes_put_the_unet_seed_in_the_cache_name(monkeypatch):
    rng = np.random.default_rng(0)
    n = 24
    y = np.repeat([0, 1, 2], n // 3)
    groups = np.arange(n)
    names = []

    def fake_features(images, name="", **kw):
        names.append(name)
        return rng.normal(size=(len(images), 5)) + y[:, None], 0.0

    monkeypatch.setattr(C, "lite0_features", fake_features)
    images = rng.random((n, 8, 8, 1)).astype(np.float32)
    masks = (rng.random((n, 8, 8, 1)) > 0.5).astype(np.float32)
    out = C.variant_probes(C.lung_variants(images, masks), y, groups, 3, unet_seed=142)
    assert list(out) == list(C.VARIANTS)
    assert names == [f"{k}-unet142" for k in C.VARIANTS]
    for res in out.values():
        assert res["pred"].shape == (n,) and res["feature_seconds"] == 0.0


# ------------------------------------------------------------------------- the record
ENV = {"commit": "abc1234", "date": "2026-12-02 16:00", "mode": "quick", "tensorflow": "2.21.0",
       "cpu_cores": 2, "accelerator": "CPU only"}
FILES = [f"covid/{i}.png" for i in range(5)] + [f"normal/{i}.jpeg" for i in range(5)]


def _table(base, step):
    rows = []
    for k, seed in enumerate(xp.training_seeds(3)):
        acc = base + step * k
        rows.append({"training_seed": seed, "accuracy": acc, "95% CI low": acc - 0.1,
                     "95% CI high": min(acc + 0.1, 1.0), "balanced accuracy": acc - 0.01,
                     "COVID vs rest": acc + 0.01, "normal vs pneumonia": acc - 0.02,
                     "unet_heldout_mean_dice": 0.5, "median_lung_area": 0.2, "seconds": 1.0})
    return pd.DataFrame(rows)


def _entries(env=ENV, files=FILES):
    tables = {"full_image": _table(0.9, 0.0), "lungs_only": _table(0.80, 0.05),
              "lungs_removed": _table(0.85, 0.02), "silhouette": _table(0.70, 0.1)}
    return {name: xp.probe_seed_record_entry(name, t, env, files, quick=env["mode"] == "quick")
            for name, t in tables.items()}


def test_record_round_trip(tmp_path):
    path = tmp_path / "covid_probe_seeds_quick.json"
    assert xp.record_probe_seeds(_entries(), path=path) == path
    raw = json.loads(path.read_text())
    assert raw["name"] == "covid_probe_seeds" and "benchmark_covid" in raw["command"]
    rec = xp.load_probe_seed_record(path=path, mode="quick", image_files=FILES[::-1])
    assert list(rec) == list(xp.PROBES)
    assert rec["lungs_only"]["label"].startswith("mode quick, commit abc1234, 2026-12-02 16:00")
    sp = rec["lungs_only"]["spread"]["accuracy"]
    assert sp["n_seeds"] == 3 and sp["mean"] == pytest.approx(0.85)
    assert sp["sd"] == pytest.approx(0.05) and (sp["min"], sp["max"]) == pytest.approx((0.8, 0.9))
    assert rec["full_image"]["spread"]["accuracy"]["sd"] == 0.0
    d = xp.seed_difference(rec, "full_image", "silhouette", "accuracy", xp.PROBE_DESIGN)
    assert d["per_seed"] == pytest.approx([-0.2, -0.1, 0.0])
    d = xp.seed_difference(rec, "full_image", "lungs_only", "accuracy", xp.PROBE_DESIGN)
    assert xp.sign_verdict(d["per_seed"]).startswith("changes sign")   # -0.1, -0.05, 0.0
    check = xp.seed_record_agreement(rec["lungs_removed"], {"accuracy": 0.85,
                                                           "COVID vs rest": 0.86},
                                     training_seed=42, metrics=("accuracy", "COVID vs rest"))
    assert check["same"]
    check = xp.seed_record_agreement(rec["lungs_removed"], {"accuracy": 0.9,
                                                           "COVID vs rest": 0.86},
                                     training_seed=42, metrics=("accuracy", "COVID vs rest"))
    assert not check["same"] and "abc1234" in check["message"]
    table = xp.probe_seed_table(rec, {"lungs_only": 0.8})
    assert list(table["probe"]) == list(xp.PROBES)
    row = table.set_index("probe").loc["lungs_only"]
    assert row["accuracy, mean ± SD over seeds"] == "0.850 ± 0.050"
    assert row["lung U-Net seeds"] == "42, 142, 242"
    assert row[f"this build (seed {config.default_seed()})"] == 0.8
    # a later run of one probe replaces that entry and keeps the others
    again = _entries()
    again["silhouette"]["per_seed"][0]["accuracy"] = 0.5
    xp.record_probe_seeds({"silhouette": again["silhouette"]}, path=path)
    rec = xp.load_probe_seed_record(path=path, mode="quick")
    assert rec["silhouette"]["per_seed"][0]["accuracy"] == 0.5 and len(rec) == 4


def test_record_paths_by_mode():
    assert xp.probe_seed_record_path("full").name == "covid_probe_seeds.json"
    assert xp.probe_seed_record_path("quick").name == "covid_probe_seeds_quick.json"
    with pytest.raises(ValueError):
        xp.probe_seed_record_path("fast")


def test_record_refuses_stale_settings(tmp_path):
    path = tmp_path / "rec.json"
    entries = _entries()
    entries["lungs_only"]["settings"]["lung_recipe"]["epochs"] = 3   # another lung recipe
    xp.record_probe_seeds(entries, path=path)
    with pytest.raises(ValueError, match="other settings.*lungs_only"):
        xp.load_probe_seed_record(path=path, mode="quick")
    assert list(xp.load_probe_seed_record(path=path, models=["silhouette"], mode="quick"))
    entries = _entries()
    entries["silhouette"]["settings"]["folds"] = 5                  # other folds
    xp.record_probe_seeds(entries, path=path)
    with pytest.raises(ValueError, match="stale"):
        xp.load_probe_seed_record(path=path, mode="quick")


def test_record_refuses_a_missing_label_other_images_or_probe(tmp_path):
    path = tmp_path / "rec.json"
    env = {k: v for k, v in ENV.items() if k != "commit"}
    xp.record_probe_seeds(_entries(env=env), path=path)
    with pytest.raises(ValueError, match="lacks its label"):
        xp.load_probe_seed_record(path=path, mode="quick")
    xp.record_probe_seeds(_entries(), path=path)
    with pytest.raises(ValueError, match="other images"):
        xp.load_probe_seed_record(path=path, mode="quick", image_files=FILES[:-1])
    with pytest.raises(ValueError, match="other images"):
        xp.load_probe_seed_record(path=path, mode="quick",
                                  image_files=FILES[:-1] + ["normal/99.jpeg"])
    raw = json.loads(path.read_text())
    del raw["models"]["lungs_removed"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="no entry for 'lungs_removed'"):
        xp.load_probe_seed_record(path=path, mode="quick")
    with pytest.raises(ValueError, match="no probe seed record.*benchmark_covid"):
        xp.load_probe_seed_record(path=tmp_path / "missing.json", mode="quick")


def test_record_of_one_mode_only(tmp_path):
    entries = _entries()
    entries["silhouette"]["environment"] = {**ENV, "mode": "full"}
    with pytest.raises(ValueError, match="one mode"):
        xp.record_probe_seeds(entries, path=tmp_path / "rec.json")


def test_committed_quick_record_matches_todays_settings():
    """The recorded quick result that chapter 12 reads in a quick build is not stale."""
    path = xp.probe_seed_record_path("quick")
    if not path.exists():
        pytest.skip("no quick probe seed record committed")
    rec = xp.load_probe_seed_record(mode="quick")
    assert list(rec) == list(xp.PROBES)
    assert all(e["spread"]["accuracy"]["n_seeds"] >= 3 for e in rec.values())
    assert rec["full_image"]["spread"]["accuracy"]["sd"] == 0.0   # the head is deterministic


# ------------------------------------------------------------------------- arguments
def test_parse_args():
    a = B.parse_args([])
    assert (a.seeds, a.seed, a.record) == (3, 42, False)
    a = B.parse_args(["--seeds", "5", "--seed", "7", "--record"])
    assert (a.seeds, a.seed, a.record) == (5, 7, True)
    with pytest.raises(SystemExit):
        B.parse_args(["--seeds", "1"])
    with pytest.raises(SystemExit):
        B.parse_args(["--models", "lung"])


def test_chapter_uses_the_shared_functions():
    from pathlib import Path

    text = (Path(config.repo_root()) / "notebooks" / "12_covid_xray_classification.md").read_text()
    assert "def summarise" not in text and "C.probe_summary(" in text
    assert "C.variant_probes(" in text and "C.probe_settings()" in text
    # a record that exists but is stale stops the build; a missing one is said in the chapter
    assert "load_probe_seed_record(" in text
    assert 'if experiments.probe_seed_record_path(env["mode"]).exists():' in text
    assert "NOT SHOWN" in text and "No {env['mode']}-mode record" in text
