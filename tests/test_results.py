"""The results page's gathering code (utils.results)."""
import json

from utils import results


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
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    nb = json.loads((root / "notebooks" / "99_results.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["mystnb"]["execution_mode"] == "force"
    assert "touch notebooks/99_results.ipynb" in (root / "scripts" / "build_book.sh").read_text()
