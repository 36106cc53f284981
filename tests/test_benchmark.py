"""The brain tumour benchmark (``python -m utils.benchmark_brain``): its protocols and a quick run."""
import pytest

from utils import experiments as xp


@pytest.mark.parametrize("name", xp.MODELS)
def test_protocols_are_complete_and_quick_is_smaller(name):
    quick, full = xp.protocol(name, quick=True), xp.protocol(name, quick=False)
    for settings in (quick, full):
        assert settings["model"] == name
        assert {"size", "crop", "folds", "build", "fit"} <= set(settings)
        assert settings["fit"]["epochs"] >= 1
    assert full["folds"] == 5 and quick["folds"] < full["folds"]
    assert quick["fit"]["epochs"] <= full["fit"]["epochs"]
    assert quick["size"] <= full["size"]


def test_transfer_protocols_follow_the_transfer_chapter():
    full = xp.protocol("finetune", quick=False)
    assert full["size"] == 224 and full["crop"] and full["fit"]["mode"] == "finetune"
    assert full["fit"]["n_blocks"] == 9 and full["fit"]["learning_rate"] == 3e-4
    assert xp.protocol("transfer", quick=False)["fit"]["mode"] == "features"
    with pytest.raises(ValueError, match="unknown model"):
        xp.protocol("resnet")


def test_benchmark_prints_folds_means_and_paired_tests(mirror_env, monkeypatch, capsys):
    from utils import benchmark_brain

    monkeypatch.setenv("DLBI_MODE", "quick")
    assert benchmark_brain.main(["--models", "paper,finetune"]) == 0
    out = capsys.readouterr().out
    assert "mode quick" in out
    assert out.count("== paper") == 1 and out.count("== finetune") == 1
    for metric in ("accuracy", "auc", "sensitivity", "specificity"):
        assert out.count(f"  {metric:<11} mean") == 2, metric
    assert "finetune vs paper: accuracy difference" in out and "McNemar" in out
    assert "== summary (mean over folds)" in out


def test_benchmark_rejects_unknown_models(capsys):
    from utils import benchmark_brain

    with pytest.raises(SystemExit):
        benchmark_brain.main(["--models", "paper,vgg"])
    assert "unknown model" in capsys.readouterr().err


def test_small_p_values_are_not_printed_as_zero():
    from utils.benchmark_brain import _fmt_p

    assert _fmt_p(0.0049) == "0.0049" and _fmt_p(2.56e-07) == "2.6e-07"


def test_benchmark_external_scores_external_dev_only_and_records_it(mirror_env, monkeypatch,
                                                                    capsys, tmp_path):
    from utils import benchmark_brain
    from utils.splits import split_external

    monkeypatch.setenv("DLBI_MODE", "quick")
    monkeypatch.setattr(xp, "EXTERNAL_RECORD", tmp_path / "external.json")
    small = xp.load_external_for
    monkeypatch.setattr(xp, "load_external_for", lambda s: small(s, subset=60))
    assert benchmark_brain.main(["--external", "--models", "paper", "--record"]) == 0
    out = capsys.readouterr().out
    assert "external-dev | mode quick" in out and out.count("== paper: given 253") == 1
    for score in ("accuracy", "auc", "sensitivity", "specificity", "brier", "ece",
                  "sensitivity glioma", "specificity coronal", "specificity sagittal"):
        assert f"  {score:<24} " in out, score
    # only external-dev was scored, and the record says on which images
    ext = small(xp.protocol("paper"), subset=60)
    dev, test = split_external(ext)
    n_dev = int(out.split("external-dev: ")[1].split(" tumours")[0]) + \
        int(out.split(" tumours, ")[1].split(" healthy")[0])
    assert n_dev == len(dev) < len(ext.y)
    dev_ids = ext.table["image_id"].to_numpy()[dev]
    rec = xp.load_external_record(dev_ids, mode="quick")["paper"]
    assert "mode quick" in rec["label"] and rec["n_images"] == 253
    assert 0 <= rec["dev"].loc["auc", "value"] <= 1 and rec["dev"].loc["auc", "n"] == len(dev)
    with pytest.raises(ValueError, match="other images"):
        xp.load_external_record(ext.table["image_id"].to_numpy()[test], mode="quick")
    with pytest.raises(ValueError, match="no entry"):
        xp.load_external_record(dev_ids, models=["finetune"], mode="quick")


def test_benchmark_seed_repeats_report_and_record(mirror_env, monkeypatch, capsys, tmp_path):
    from utils import benchmark_brain
    from utils import experiments as xp

    monkeypatch.setenv("DLBI_MODE", "quick")
    monkeypatch.setattr(xp, "SEED_RECORD", tmp_path / "seeds.json")  # the full-mode record
    assert benchmark_brain.main(["--models", "paper,transfer", "--seeds", "2", "--record"]) == 0
    out = capsys.readouterr().out
    assert "training seeds [42, 142]" in out
    assert out.count("accuracy        over seeds") == 2 and "first seed's fold mean" in out
    assert "transfer - paper, fold-mean accuracy, seed by seed" in out
    assert not (tmp_path / "seeds.json").exists()  # a quick run never writes the full record
    rec = xp.load_seed_record(mode="quick")
    assert xp.seed_record_path("quick") == tmp_path / "seeds_quick.json"
    assert set(rec) == {"paper", "transfer"} and rec["paper"]["mode"] == "quick"
    assert [r["training_seed"] for r in rec["paper"]["per_seed"]] == [42, 142]
    # the first training seed is an ordinary run: its fold mean is the first seed's fold mean
    assert rec["paper"]["per_seed"][0]["accuracy"] == pytest.approx(
        rec["paper"]["fold_interval"]["accuracy"]["mean"])
    with pytest.raises(SystemExit):
        benchmark_brain.main(["--record"])
