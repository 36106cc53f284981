"""Tests of the brain tumour chapter's code: the paper's CNN and the improved CNN (utils.cnn),
augmentation (utils.preprocessing), grouped cross-validation (utils.crossval), the repeated paper
protocol (utils.experiments) and the summary over folds.

Fast on purpose: tiny synthetic images (32 px), a few dozen samples, one epoch.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from utils import cnn, config, crossval, datasets, metrics, preprocessing, splits  # noqa: E402
from utils import experiments as xp  # noqa: E402


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
    m3 = cnn.paper_cnn()  # 128 px, fourth kernel 3x3 (the published code)
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

    m4 = cnn.paper_cnn(fourth_kernel=4)  # the text: every convolution 4x4
    assert m4.count_params() == 36849
    assert tuple(m4.layers[-2].output.shape[1:]) == (27 * 27 * 16,)


def test_paper_cnn_rejects_other_kernels_and_works_on_small_images():
    with pytest.raises(ValueError, match="fourth_kernel"):
        cnn.paper_cnn(fourth_kernel=5)
    m = cnn.paper_cnn((32, 32, 1))
    out = m.predict(np.zeros((2, 32, 32, 1), np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("normalise", ["batchnorm", "standardise"])
def test_improved_cnn_shapes_and_regularisation(normalise):
    m = cnn.improved_cnn((32, 32, 1), widths=(8, 16), normalise=normalise)
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
        cnn.improved_cnn((32, 32, 1), normalise="layer")


def test_improved_cnn_augmentation_only_in_training():
    m = cnn.improved_cnn((32, 32, 1), widths=(4,))
    aug = m.get_layer("augment")
    x = np.random.rand(4, 32, 32, 1).astype(np.float32)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x, atol=1e-6)
    assert not np.allclose(np.asarray(aug(x, training=True)), x)


def test_per_image_standardisation():
    x = np.random.rand(2, 8, 8, 1).astype(np.float32) * 5 + 3
    z = np.asarray(cnn._standardise(x))
    np.testing.assert_allclose(z.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(1, 2, 3)), 1, atol=1e-3)


# ------------------------------------------------------------------------------------------
# Cross-validation
# ------------------------------------------------------------------------------------------
def test_run_cv_one_row_per_fold_without_group_leakage():
    data = synthetic_set()
    res = crossval.run_cv(lambda: cnn.paper_cnn((32, 32, 1)), data, folds=2, epochs=1)
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
    res = crossval.run_cv(lambda: cnn.improved_cnn((32, 32, 1), widths=(4, 8)), data, folds=2,
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
    m = cnn.paper_cnn((32, 32, 1))
    X = np.random.rand(70, 32, 32, 1).astype(np.float32)  # more than one batch of 64
    np.testing.assert_allclose(crossval.predict(m, X), m.predict(X, verbose=0).ravel(), atol=1e-5)
    mirrored = m.predict(X[:, :, ::-1], verbose=0).ravel()
    np.testing.assert_allclose(crossval.predict(m, X, tta=True),
                               (m.predict(X, verbose=0).ravel() + mirrored) / 2, atol=1e-5)


def test_run_cv_refuses_leaky_folds():
    data = synthetic_set()
    train, test = np.arange(1, 40), np.array([0])  # image 0's duplicate (1) is in train
    with pytest.raises(ValueError, match="straddle"):
        crossval.run_cv(lambda: cnn.paper_cnn((32, 32, 1)), data, folds=[(train, test)], epochs=1)


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
# Summaries over folds
# ------------------------------------------------------------------------------------------
def test_summarise_mean_sd_and_t_interval():
    df = pd.DataFrame({"accuracy": [0.8, 0.9, 0.7, 0.85, 0.75], "auc": [0.9] * 5})
    s = crossval.summarise(df)
    sd = math.sqrt(0.025 / 4)  # squared deviations sum to 0.025
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert s.loc["accuracy", "mean"] == pytest.approx(0.8)
    assert s.loc["accuracy", "sd"] == pytest.approx(sd)
    assert s.loc["accuracy", "ci_low"] == pytest.approx(0.8 - half)
    assert s.loc["accuracy", "ci_high"] == pytest.approx(0.8 + half)
    assert s.loc["auc", "sd"] == 0 and s.loc["auc", "ci_low"] == pytest.approx(0.9)
    assert "sensitivity" not in s.index  # missing columns are skipped


def test_summarise_keeps_rates_inside_0_1_and_flags_it():
    df = pd.DataFrame({"sensitivity": [1.0, 0.95, 1.0, 1.0, 0.9], "seconds": [1.0, 2.0, 1.0, 3.0, 1.0]})
    s = crossval.summarise(df, columns=("sensitivity", "seconds"))
    assert s.loc["sensitivity", "ci_high"] == 1.0 and s.loc["sensitivity", "ci_clipped"]
    assert metrics.t_interval(df["sensitivity"])[1] > 1          # what was printed before
    assert s.loc["seconds", "ci_high"] == pytest.approx(metrics.t_interval(df["seconds"])[1])
    assert not s.loc["seconds", "ci_clipped"]                    # not a rate: not bounded
    assert s.loc["sensitivity", "sd"] == pytest.approx(np.std(df["sensitivity"], ddof=1))


class _Res:
    """A stand-in for a CVResult: folds table and out-of-fold probabilities."""

    def __init__(self, acc, oof, name=""):
        self.folds = pd.DataFrame({"fold": range(len(acc)), "n_train": [160] * len(acc),
                                   "n_val": [40] * len(acc), "n_test": [50] * len(acc),
                                   "accuracy": acc, "auc": acc, "sensitivity": acc,
                                   "specificity": acc, "seconds": [1.0] * len(acc)})
        self.oof, self.name = np.asarray(oof, float), name


def test_compare_uses_the_corrected_t_test_and_a_group_bootstrap():
    y = np.array([1, 1, 1, 0, 0, 0])
    groups = np.array([0, 0, 1, 2, 2, 3])
    a = _Res([0.9, 0.8, 0.9, 1.0, 0.85], [0.9, 0.8, 0.7, 0.1, 0.2, 0.6], "A")
    b = _Res([0.8, 0.8, 0.8, 0.8, 0.75], [0.9, 0.8, 0.2, 0.1, 0.2, 0.7], "B")
    r = crossval.compare(a, b, y, groups, n_boot=200)
    # training folds of 160 + 40 images, test folds of 50: n_test / n_train = 1/4
    ref = metrics.corrected_resampled_ttest(a.folds["accuracy"], b.folds["accuracy"], 200, 50)
    assert r["corrected t"] == pytest.approx(ref)
    assert r["pooled"]["diff"] == pytest.approx(1 / 6) and r["pooled"]["groups"] == 4
    assert r["mcnemar"]["a_right_b_wrong"] == 1
    assert set(crossval.compare(a, b)) == {"corrected t"}
    with pytest.raises(ValueError):
        crossval.compare(a, _Res([0.8] * 4, b.oof))


def test_pooled_accuracy_and_comparison_table_resample_groups():
    y = np.array([1, 1, 1, 0, 0, 0])
    groups = np.array([0, 0, 1, 2, 2, 3])
    a = _Res([0.9] * 5, [0.9, 0.8, 0.7, 0.1, 0.2, 0.6], "A")
    pooled = crossval.pooled_accuracy(a, y, groups, n_boot=300)
    assert pooled["accuracy"] == pytest.approx(5 / 6) and pooled["groups"] == 4
    assert (pooled["ci_low"], pooled["ci_high"]) == metrics.cluster_bootstrap_ci(
        y, (a.oof >= 0.5).astype(int), groups, n_boot=300)
    table = crossval.comparison_table([a], y, groups)
    assert "group bootstrap 95% CI" in table and table.loc[0, "pooled accuracy"] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="groups"):
        crossval.comparison_table([a], y)


# ------------------------------------------------------------------------------------------
# What experiments passes on to the chapters, and real data
# ------------------------------------------------------------------------------------------
def test_experiments_passes_on_the_building_blocks_themselves():
    """``xp.paper_cnn`` and the like are the functions of the lower layers, not copies."""
    from utils import results

    homes = {"paper_cnn": cnn, "improved_cnn": cnn, "layer_table": cnn, "PAPER_SIZE": cnn,
             "load_brain_cropped": preprocessing, "augmentation": preprocessing,
             "run_cv": crossval, "CVResult": crossval, "summarise": crossval, "METRICS": crossval,
             "pooled_accuracy": crossval, "compare": crossval,
             "paired_test": metrics, "mcnemar_test": metrics,
             "corrected_resampled_ttest": metrics, "cluster_bootstrap_ci": metrics,
             "save_results": results, "load_results": results}
    for name, home in homes.items():
        assert getattr(xp, name) is getattr(home, name), name
        assert name in xp.__all__
    assert all(hasattr(xp, name) for name in xp.__all__)


def test_run_cv_on_a_real_subset(mirror_env):
    data = datasets.load_brain_mri(size=32, subset=40)
    res = crossval.run_cv(lambda: cnn.paper_cnn((32, 32, 1)), data, folds=2, epochs=1)
    assert len(res.folds) == 2 and res.folds["n_test"].sum() == 40
    assert pd.Series(res.fold_of).groupby(data.groups).nunique().max() == 1


# ------------------------------------------------------------------------------------------
# Training-seed noise
# ------------------------------------------------------------------------------------------
def test_model_seed_changes_the_training_not_the_folds():
    data = synthetic_set(n=40)
    build = lambda: cnn.improved_cnn((32, 32, 1), widths=(4, 8))  # noqa: E731
    kw = dict(folds=2, epochs=1, batch_size=8, drop_remainder=True)
    base = crossval.run_cv(build, data, **kw)
    same = crossval.run_cv(build, data, model_seed=42, **kw)   # 42 is the default seed
    other = crossval.run_cv(build, data, model_seed=142, **kw)
    np.testing.assert_array_equal(base.fold_of, other.fold_of)  # the same folds
    np.testing.assert_array_equal(base.oof, same.oof)           # bit-identical when repeated
    assert not np.allclose(base.oof, other.oof)                  # another training


def test_training_seeds_start_at_the_chapter_seed():
    assert xp.training_seeds(3) == [42, 142, 242]
    assert xp.training_seeds(2, seed=0) == [0, 100]
    with pytest.raises(ValueError):
        xp.training_seeds(0)


def test_seed_spread_by_hand():
    table = pd.DataFrame({"accuracy": [0.8, 0.7, 0.9], "auc": [0.9, np.nan, 0.8]})
    s = xp.seed_spread(table, columns=("accuracy", "auc"))
    assert s["accuracy"]["mean"] == pytest.approx(0.8)
    assert s["accuracy"]["sd"] == pytest.approx(0.1)  # sqrt((0.01 + 0.01) / 2)
    assert (s["accuracy"]["min"], s["accuracy"]["max"], s["accuracy"]["n_seeds"]) == (0.7, 0.9, 3)
    assert s["auc"]["n_seeds"] == 2 and s["auc"]["mean"] == pytest.approx(0.85)


def _entry(name, accs, mode="quick", folds=2, **env):
    table = pd.DataFrame({"training_seed": xp.training_seeds(len(accs)), "accuracy": accs,
                          "auc": accs, "sensitivity": accs, "specificity": accs,
                          "pooled_accuracy": accs, "seconds": 1.0})
    a = accs[0]  # the first seed's folds: a - 0.05 and a + 0.05
    runs = [crossval.CVResult(pd.DataFrame({"accuracy": [a - 0.05, a + 0.05], "auc": [a, a],
                                            "sensitivity": [a, a], "specificity": [a, a]}),
                              np.zeros(2), np.zeros(2))]
    environment = {"commit": "abc1234", "date": "2026-12-02 01:00", "mode": mode,
                   "tensorflow": "2.21.0", "cpu_cores": 2, "accelerator": "CPU only", **env}
    return xp.seed_record_entry(name, table, runs, environment, folds,
                                quick=(mode == "quick"))


def test_seed_record_round_trip_labels_and_differences(tmp_path):
    path = tmp_path / "record.json"
    xp.record_seed_repeats({"paper": _entry("paper", [0.70, 0.74, 0.72])}, path)
    xp.record_seed_repeats({"improved": _entry("improved", [0.80, 0.79, 0.84])}, path)  # merged
    rec = xp.load_seed_record(path)
    assert set(rec) == {"paper", "improved"}
    assert rec["paper"]["label"].startswith("mode quick, commit abc1234, 2026-12-02 01:00")
    assert rec["paper"]["spread"]["accuracy"]["mean"] == pytest.approx(0.72)
    assert rec["paper"]["fold_interval"]["accuracy"]["mean"] == pytest.approx(0.70)
    d = xp.seed_difference(rec, "paper", "improved")
    np.testing.assert_allclose(d["per_seed"], [0.10, 0.05, 0.12])
    assert d["mean"] == pytest.approx(0.09) and d["sd"] == pytest.approx(np.std([.1, .05, .12], ddof=1))
    table = xp.seed_table(rec)
    assert list(table["model"]) == ["paper", "improved"] and list(table["seeds"]) == [3, 3]
    assert table.loc[0, "SD over seeds"] == pytest.approx(0.02)
    assert table.loc[0, "fold 95% CI, first seed"].count(" to ") == 1
    with pytest.raises(ValueError, match="no entry for 'transfer'"):
        xp.load_seed_record(path, models=["transfer"])


def test_seed_record_refuses_stale_unlabelled_or_mixed_entries(tmp_path):
    import json

    path = tmp_path / "record.json"
    with pytest.raises(ValueError, match="no seed record"):
        xp.load_seed_record(path)
    stale = _entry("paper", [0.7, 0.72])
    stale["settings"]["fit"]["epochs"] = 99  # recorded with settings the protocol no longer has
    xp.record_seed_repeats({"paper": stale}, path)
    with pytest.raises(ValueError, match="stale"):
        xp.load_seed_record(path)
    unlabelled = _entry("paper", [0.7, 0.72])
    del unlabelled["environment"]["commit"]
    xp.record_seed_repeats({"paper": unlabelled}, path)
    with pytest.raises(ValueError, match="label"):
        xp.load_seed_record(path)
    with pytest.raises(ValueError, match="one mode"):  # one file holds one mode
        xp.record_seed_repeats({"paper": _entry("paper", [0.7, 0.72]),
                                "improved": _entry("improved", [0.8, 0.8], mode="full")}, path)
    xp.record_seed_repeats({"paper": _entry("paper", [0.7, 0.72])}, path)
    xp.record_seed_repeats({"improved": _entry("improved", [0.8, 0.8], mode="full")}, path)
    assert json.loads(path.read_text())["models"]["improved"]["environment"]["mode"] == "full"
    rec = xp.load_seed_record(path)
    with pytest.raises(ValueError, match="one mode"):
        xp.seed_difference(rec, "paper", "improved")


def test_seed_record_agreement_tells_a_current_record_from_a_stale_one(monkeypatch):
    """The record's book-seed run against this build's run of the same recipe: equal fold means
    say the record holds; a changed figure is reported with the commit to re-record from."""
    monkeypatch.delenv("DLBI_SEED", raising=False)
    entry = _entry("improved", [0.80, 0.79, 0.84])  # the book's seed (42) comes first: 0.80
    folds = pd.DataFrame({"accuracy": [0.75, 0.85], "auc": [0.80, 0.80]})
    same = xp.seed_record_agreement(entry, crossval.CVResult(folds, np.zeros(2), np.zeros(2)))
    assert same["same"] and same["recorded"]["accuracy"] == pytest.approx(0.80)
    assert "describes the code that runs now" in same["message"]
    moved = pd.DataFrame({"accuracy": [0.75, 0.87], "auc": [0.80, 0.80]})
    stale = xp.seed_record_agreement(entry, crossval.CVResult(moved, np.zeros(2), np.zeros(2)))
    assert not stale["same"] and stale["this_build"]["accuracy"] == pytest.approx(0.81)
    assert "abc1234" in stale["message"] and "re-record" in stale["message"]
    assert "CPU was not recorded" in stale["message"]            # an entry without a CPU
    for cpu, says in ((config.cpu_model(), "this machine's CPU type"),
                      ("Some Other CPU (AVX-512)", "another CPU (Some Other CPU (AVX-512)")):
        entry["environment"]["cpu"] = cpu
        msg = xp.seed_record_agreement(entry, crossval.CVResult(moved, np.zeros(2), np.zeros(2)))
        assert says in msg["message"]
    del entry["environment"]["cpu"]
    second = xp.seed_record_agreement(entry, crossval.CVResult(
        pd.DataFrame({"accuracy": [0.74, 0.84], "auc": [0.79, 0.79]}), np.zeros(2), np.zeros(2)),
        training_seed=142)
    assert second["same"]
    other = xp.seed_record_agreement(entry, crossval.CVResult(folds, np.zeros(2), np.zeros(2)),
                                     training_seed=7)     # DLBI_SEED=7: not comparable, no error
    assert other["same"] is None and other["recorded"] == {}
    assert "seed 7, which the record did not run" in other["message"]
    monkeypatch.setenv("DLBI_SEED", "7")                  # the default follows the book's seed
    assert xp.seed_record_agreement(entry, crossval.CVResult(
        folds, np.zeros(2), np.zeros(2)))["same"] is None


def test_sign_verdict_names_a_consistent_sign_or_no_ranking():
    assert xp.sign_verdict([0.10, 0.05, 0.12]) == "is positive for all 3 training seeds"
    assert xp.sign_verdict([-0.1, -0.2]) == "is negative for all 2 training seeds"
    assert "do not rank" in xp.sign_verdict([-0.011, 0.024, 0.063])
    assert "do not rank" in xp.sign_verdict([0.0, 0.02, 0.03])  # a tie is not a win
    with pytest.raises(ValueError):
        xp.sign_verdict([0.1])


def test_external_record_refuses_stale_settings_and_names_the_model(tmp_path):
    import json

    import pandas as pd

    env = {"commit": "abc1234", "date": "2026-12-02", "mode": "full", "tensorflow": "2.21.0",
           "cpu_cores": 2, "accelerator": "CPU only"}

    class Final:
        n_images, n_train, n_val, epochs, seconds, threshold = 253, 253, 0, 3, 1.0, 0.5

    table = pd.DataFrame({"value": [0.8], "ci_low": [0.7], "ci_high": [0.9], "n": [4]}, index=["auc"])
    entry = xp.external_record_entry("finetune", Final(), table, ["a", "b"], env, quick=False)
    path = xp.record_external({"finetune": entry}, tmp_path / "ext.json")
    got = xp.load_external_record(["b", "a"], path=path)["finetune"]
    assert got["dev"].loc["auc", "value"] == 0.8 and "commit abc1234" in got["label"]
    record = json.loads(path.read_text())
    record["models"]["finetune"]["settings"]["size"] = 17      # another protocol than today's
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="stale.*finetune"):
        xp.load_external_record(["a", "b"], path=path)
    with pytest.raises(ValueError, match="--models finetune"):
        xp.load_external_record(["a", "b"], path=tmp_path / "missing.json")
