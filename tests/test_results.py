"""The result files (utils.results) and the results page built from them (utils.report)."""
import json

import math

import numpy as np
import pandas as pd
import pytest

from utils import report, results


def _payload(mode="full"):
    return {"name": "x", "environment": {"mode": mode, "date": "2026-01-01", "tensorflow": "2.21"},
            "results": {"cv": {"summary": {"accuracy": {"mean": 0.9, "sd": 0.02, "ci95": [0.8, 1.0]}},
                               "folds": [{"accuracy": 0.5}]},
                        "lung": {"mean_dice": 0.96, "target_mean_dice": 0.95},
                        "paper_reported_accuracy": 0.78, "n_images": 253, "note": "text"}}


def test_headline_rows_keep_measurements_only():
    rows = results.headline_rows("x", _payload())
    got = {(r["experiment"], r["metric"]): r["value"] for r in rows}
    assert got == {("cv", "accuracy"): 0.9, ("lung", "mean_dice"): 0.96}


def test_load_all_and_tables(tmp_path):
    folder = tmp_path / "_build" / "results"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(_payload("quick")))
    (folder / "broken.json").write_text("{not json")
    loaded = results.load_all(tmp_path)
    assert set(loaded) == {"a", "broken"} and "error" in loaded["broken"]
    table = results.headline_table(loaded)
    assert list(table["mode"].unique()) == ["quick"] and len(table) == 2
    env = results.environment_table(loaded)
    assert env.set_index("chapter result").loc["a", "tensorflow"] == "2.21"


def test_no_results_folder_gives_empty(tmp_path):
    assert results.load_all(tmp_path) == {}
    assert results.headline_table({}).empty


def test_results_page_is_executed_at_every_build():
    """The page reads _build/results, which changes when a chapter runs again: the build must not
    serve it from the execution cache, and build_book.sh makes Sphinx read it again."""
    from pathlib import Path

    from utils import skeleton

    root = Path(__file__).resolve().parents[1]
    nb = skeleton.read(root / "notebooks" / "99_results.md")   # the page's source
    assert nb["metadata"]["mystnb"]["execution_mode"] == "force"
    assert "touch notebooks/99_results.md" in (root / "scripts" / "build_book.sh").read_text()


def _saved():
    """Small payloads in the layouts the chapters write (dict summaries and record lists)."""
    env = {"environment": {"mode": "full"}}
    cv = {"summary": {"accuracy": {"mean": 0.73, "ci95": [0.61, 0.84]},
                      "auc": {"mean": 0.8, "ci95": [0.66, 0.93]}}}
    records = [{"index": "accuracy", "mean": 0.9, "ci_low": 0.84, "ci_high": 0.96},
               {"index": "auc", "mean": 0.96, "ci_low": 0.93, "ci_high": 1.02}]
    return {
        "brain_tumor_cnn": {**env, "results": {
            "paper_protocol_repeats": {"n_seeds": 12, "summary": {"accuracy": {"mean": 0.76, "ci95": [0.72, 0.81]}}},
            "paper_cnn_grouped_cv": cv, "paper_reported_accuracy": 0.78}},
        "brain_tumor_transfer": {**env, "results": {
            "models": {"frozen, paper head": {"backbone": "Lite0", "summary": records},
                       "fine-tuned, light head": {"backbone": "Lite0", "summary": records}},
            "pointing_game": {"images": 40, "peak_in_mask": 14, "mean_mask_share": 0.05,
                              "ci_low": 0.2, "ci_high": 0.5,
                              "interval": "bootstrap over near-duplicate groups"}}},
        "covid_segmentation": {**env, "results": {"lung": {"mean_dice": 0.958, "target_mean_dice": 0.95}}},
        "covid_classification": {**env, "results": {
            "images": 400, "patients": 300, "folds": 5,
            "classifier": {"accuracy": 0.95, "covid_vs_rest_accuracy": 0.99,
                           "accuracy_ci95": [0.92, 0.97]},
            "probes": [{"index": "full image", "accuracy": 0.95},
                       {"index": "lungs removed", "accuracy": 0.94, "95% CI low": 0.91, "95% CI high": 0.96}]}},
    }


def test_summary_table_reads_every_layout_and_marks_the_paper():
    table = report.summary_table(_saved())
    rows = {(r["experiment"], r["metric"]): r for r in table.to_dict("records")}
    paper_cv = rows[("paper's CNN", "accuracy")]
    assert paper_cv["value"] == 0.73 and paper_cv["95% CI low"] == 0.61
    assert "0.78" in paper_cv["paper reports"]
    assert rows[("paper's CNN, paper's protocol", "accuracy")]["value"] == 0.76
    frozen = rows[("Lite0: frozen, paper head", "accuracy")]
    assert frozen["value"] == 0.9 and "0.92" in frozen["paper reports"]
    assert rows[("Lite0: fine-tuned, light head", "accuracy")]["paper reports"] == ""
    assert rows[("Lite0: fine-tuned, light head", "auc")]["95% CI high"] == 1.0  # cut at 1
    game = rows[("Grad-CAM peak inside the tumour mask (fine-tuned model)", "hit rate")]
    assert game["value"] == 14 / 40
    # chapter 09's group-bootstrap interval, not a Wilson interval over 40 independent images
    assert (game["95% CI low"], game["95% CI high"]) == (0.2, 0.5)
    assert "near-duplicate groups" in game["protocol"]
    unsaved = _saved()                       # a file saved before the chapter kept its interval
    for key in ("ci_low", "ci_high", "interval"):
        del unsaved["brain_tumor_transfer"]["results"]["pointing_game"][key]
    game_old = {(r["experiment"], r["metric"]): r for r in report.summary_rows(unsaved)}[
        ("Grad-CAM peak inside the tumour mask (fine-tuned model)", "hit rate")]
    assert math.isnan(game_old["95% CI low"]) and "no interval saved" in game_old["protocol"]
    assert rows[("lung U-Net, chest X-ray", "mean Dice")]["value"] == 0.958
    assert rows[("shortcut probe: lungs removed", "accuracy")]["value"] == 0.94
    assert ("shortcut probe: full image", "accuracy") not in rows
    clf = rows[("Lite0 features + logistic regression, 3 classes", "accuracy")]
    # the chapter's interval (patients resampled), not a Wilson interval of 380/400 images
    assert (clf["95% CI low"], clf["95% CI high"]) == (0.92, 0.97)
    old = _saved()
    del old["covid_classification"]["results"]["classifier"]["accuracy_ci95"]
    clf_old = {(r["experiment"], r["metric"]): r for r in report.summary_rows(old)}[
        ("Lite0 features + logistic regression, 3 classes", "accuracy")]
    assert math.isnan(clf_old["95% CI low"]) and clf_old["value"] == 0.95
    assert set(table["mode"]) == {"full"}
    assert report.summary_table({}).empty


def test_brain_accuracy_plot_has_the_paper_and_our_rows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils import audit

    fig = report.plot_brain_accuracy(_saved())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sum("paper, as reported" in t for t in labels) == 2
    assert any("fine-tuned, light head" in t for t in labels) and len(labels) == 2 + 4
    assert audit.figure_title(fig)
    plt.close(fig)
    assert report.plot_brain_accuracy({}) is None


def test_section_tables_are_readable():
    table = report.summary_table(_saved())
    tables = report.section_tables(_saved())
    assert list(tables) == ["brain MRI classification", "segmentation", "COVID-19 X-ray"]
    lung = tables["segmentation"].iloc[0]
    assert lung["value"] == "0.958" and lung["95% CI"] == "\u2013" and lung["paper reports"] == "\u2013"
    brain = tables["brain MRI classification"].set_index(["experiment", "metric"])
    assert brain.loc[("paper's CNN", "accuracy"), "95% CI"] == "0.610-0.840"
    assert ("Lite0: frozen, paper head", "accuracy") in brain.index
    assert not any(t.isna().any().any() for t in tables.values())
    assert table["95% CI low"].isna().any()  # summary_table itself is unchanged
    assert report.section_tables({}) == {}


# --------------------------------------------------------------------------------------------
# Writing and reading one chapter's results
# --------------------------------------------------------------------------------------------
def test_save_results_round_trip(tmp_path):
    res = {"accuracy": np.float32(0.875), "folds": pd.DataFrame({"acc": [0.8, np.nan]}),
           "oof": np.array([0.1, 0.9]), "n": np.int64(5)}
    path = results.save_results("brain_demo", res, root=tmp_path, environment={"mode": "quick"})
    assert path == tmp_path / "_build" / "results" / "brain_demo.json"
    back = json.loads(path.read_text())
    assert back["name"] == "brain_demo" and back["environment"] == {"mode": "quick"}
    assert back["results"]["accuracy"] == pytest.approx(0.875)
    assert back["results"]["folds"] == [{"acc": 0.8}, {"acc": None}]
    assert back["results"]["n"] == 5 and back["results"]["oof"] == [0.1, 0.9]
    assert results.load_results("brain_demo", root=tmp_path) == back
    with pytest.raises(ValueError):
        results.save_results("../x", {}, root=tmp_path)


def test_quick_run_never_overwrites_full_results(tmp_path):
    full = results.save_results("chapter", {"acc": 0.83}, root=tmp_path, environment={"mode": "full"})
    quick = results.save_results("chapter", {"acc": 0.6}, root=tmp_path, environment={"mode": "quick"})
    assert quick == tmp_path / "_build" / "results" / "quick" / "chapter.json"
    assert results.load_results("chapter", root=tmp_path)["results"] == {"acc": 0.83}
    assert json.loads(quick.read_text())["results"] == {"acc": 0.6}
    # without a full result, quick mode writes the usual place; full mode always does
    assert results.save_results("other", {}, root=tmp_path, environment={"mode": "quick"}).parent.name == "results"
    assert results.save_results("chapter", {"acc": 0.84}, root=tmp_path, environment={"mode": "full"}) == full


def test_save_results_records_the_environment_by_default(tmp_path):
    back = json.loads(results.save_results("env", {"x": 1}, root=tmp_path).read_text())
    assert {"mode", "seed", "python", "tensorflow"} <= set(back["environment"])


def test_load_cv_results_finds_every_fold_table(tmp_path):
    folds = pd.DataFrame({"fold": [0, 1], "accuracy": [0.7, 0.8]})
    saved = {"paper_cnn_grouped_cv": {"folds": folds, "oof": np.array([0.2, 0.9]),
                                      "fold_of": [0, 1]},
             "nested": {"improved": {"folds": folds}}, "note": "no folds here"}
    results.save_results("brain_tumor_cnn", saved, root=tmp_path, environment={"mode": "full"})
    cv = results.load_cv_results("brain_tumor_cnn", root=tmp_path)
    assert set(cv["models"]) == {"paper_cnn_grouped_cv", "nested/improved"}
    paper = cv["models"]["paper_cnn_grouped_cv"]
    pd.testing.assert_frame_equal(paper["folds"], folds)
    assert paper["oof"].tolist() == [0.2, 0.9] and paper["fold_of"].dtype.kind == "i"
    assert cv["models"]["nested/improved"]["oof"] is None and cv["environment"] == {"mode": "full"}
    assert results.load_cv_results("missing", root=tmp_path) is None


def test_load_cv_results_refuses_another_mode(tmp_path):
    folds = pd.DataFrame({"fold": [0, 1], "accuracy": [0.7, 0.8]})
    results.save_results("cv", {"m": {"folds": folds, "oof": [0.1, 0.9]}}, root=tmp_path,
                         environment={"mode": "full"})
    assert results.load_cv_results("cv", root=tmp_path, mode="full")["environment"]["mode"] == "full"
    assert results.load_cv_results("cv", root=tmp_path, mode="quick") is None   # a full run's
    # a quick run beside the full one is found where save_results put it
    results.save_results("cv", {"m": {"folds": folds, "oof": [0.3, 0.4]}}, root=tmp_path,
                         environment={"mode": "quick"})
    quick = results.load_cv_results("cv", root=tmp_path, mode="quick")
    assert quick["models"]["m"]["oof"].tolist() == [0.3, 0.4]
    assert results.load_cv_results("cv", root=tmp_path, mode="full")["models"]["m"]["oof"].tolist() == [0.1, 0.9]
    # no recorded mode: refused under a mode, read without one
    results.save_results("bare", {"m": {"folds": folds}}, root=tmp_path, environment={})
    assert results.load_cv_results("bare", root=tmp_path, mode="full") is None
    assert results.load_cv_results("bare", root=tmp_path) is not None
    with pytest.raises(ValueError):
        results.load_cv_results("cv", root=tmp_path, mode="fast")
