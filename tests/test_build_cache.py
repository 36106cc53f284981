"""Tests of the honest build cache and the mode check of executed chapters
(scripts/build_cache.py, called by scripts/build_book.sh)."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from scripts import build_cache as bc

ROOT = Path(__file__).resolve().parents[1]
DISTS = {"numpy": "2.4.6", "tensorflow": "2.21.0", "keras": "3.15.1"}


# ----------------------------------------------------------------------------------------
# The fingerprint and prepare()
# ----------------------------------------------------------------------------------------
@pytest.fixture
def book(tmp_path):
    """A small stand-in for the repository, with a build folder holding a filled cache."""
    root = tmp_path / "book"
    files = {
        "utils/__init__.py": "from . import config\n",
        "utils/config.py": "DEFAULT_SEED = 42\n",
        "utils/checks/evaluation.py": "def check(): pass\n",
        "utils/manifests/brain_mri.csv": "file,sha256\nyes/Y1.jpg,abc\n",
        "utils/literature/covid.csv": "study,n\nA,10\n",
        "requirements.txt": "tensorflow>=2.20\n",
        "requirements-dev.txt": "-r requirements.txt\n",
        "constraints-py311.txt": "tensorflow==2.21.0\n",
        "notebooks/00_data_tour.md": "# not part of the fingerprint (jupyter-cache hashes it)\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    fill_build(root)
    return root


def fill_build(root: Path) -> None:
    """What a previous build leaves: the cache, Sphinx's environment, executed copies, HTML."""
    build = root / "_build"
    for rel in (".jupyter_cache/global.db", ".doctrees/environment.pickle",
                "jupyter_execute/notebooks/00_data_tour.ipynb", "html/index.html",
                "results/evaluation.json"):
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / rel).write_text("x")


def cached(root: Path) -> bool:
    return (root / "_build" / ".jupyter_cache" / "global.db").exists()


def prep(root, mode="full", seed=None, dists=DISTS):
    env = {"DLBI_MODE": mode} if seed is None else {"DLBI_MODE": mode, "DLBI_SEED": seed}
    messages = []
    cleared = bc.prepare(root, env=env, dists=dists, log=messages.append)
    return cleared, "\n".join(messages)


def test_unchanged_state_keeps_the_cache(book):
    assert prep(book)[0]  # first build under the fingerprint: nothing recorded yet, cleared
    fill_build(book)
    cleared, msg = prep(book)
    assert not cleared and cached(book) and "unchanged" in msg
    assert (book / "_build" / ".doctrees" / "environment.pickle").exists()
    # equivalent spellings of the same mode and seed are the same state
    assert not prep(book, mode=" FULL ")[0] and not prep(book, mode="", seed="42")[0]
    # compiled files and notebooks are not part of it (jupyter-cache hashes the code cells)
    (book / "utils" / "__pycache__").mkdir()
    (book / "utils" / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\0")
    (book / "notebooks" / "00_data_tour.md").write_text("# edited\n")
    assert not prep(book)[0] and cached(book)


def test_a_cache_without_a_fingerprint_is_cleared(book):
    cleared, msg = prep(book)
    assert cleared and not cached(book) and "no fingerprint was recorded" in msg
    assert json.loads((book / "_build" / bc.FINGERPRINT).read_text())["sha256"]


def test_mode_change_forces_re_execution(book):
    prep(book, mode="quick")
    fill_build(book)
    assert not prep(book, mode="quick")[0] and cached(book)
    cleared, msg = prep(book, mode="full")
    assert cleared and not cached(book)
    assert "DLBI_MODE changed (quick -> full)" in msg
    build = book / "_build"
    # without Sphinx's environment every chapter is read, hence executed, again
    assert not (build / ".doctrees").exists() and not (build / "jupyter_execute").exists()
    assert (build / "html" / "index.html").exists() and (build / "results").is_dir()
    assert "cleared" in msg and ".jupyter_cache" in msg and ".doctrees" in msg
    fill_build(book)
    assert not prep(book, mode="full")[0] and cached(book)  # and now it is kept again


def test_utils_change_forces_re_execution(book):
    prep(book)
    fill_build(book)
    (book / "utils" / "config.py").write_text("DEFAULT_SEED = 43\n")
    cleared, msg = prep(book)
    assert cleared and not cached(book)
    assert "1 file changed (utils/config.py)" in msg


@pytest.mark.parametrize("change, expected", [
    (lambda root: (root / "utils/manifests/brain_mri.csv").write_text("file,sha256\n"),
     "1 file changed (utils/manifests/brain_mri.csv)"),
    (lambda root: (root / "utils/checks/evaluation.py").write_text("# nested module\n"),
     "utils/checks/evaluation.py"),
    (lambda root: (root / "utils/literature/covid.csv").write_text("study,n\nA,11\n"),
     "utils/literature/covid.csv"),
    (lambda root: (root / "utils/segmentation.py").write_text("x = 1\n"),
     "1 file added (utils/segmentation.py)"),
    (lambda root: (root / "utils/checks/evaluation.py").unlink(),
     "1 file removed (utils/checks/evaluation.py)"),
    (lambda root: (root / "constraints-py311.txt").write_text("tensorflow==2.22.0\n"),
     "constraints-py311.txt"),
    (lambda root: (root / "requirements.txt").write_text("tensorflow>=2.21\n"),
     "requirements.txt"),
])
def test_dependency_changes_force_re_execution(book, change, expected):
    prep(book)
    fill_build(book)
    change(book)
    cleared, msg = prep(book)
    assert cleared and not cached(book) and expected in msg, msg


def test_version_and_seed_changes_force_re_execution(book):
    prep(book)
    fill_build(book)
    cleared, msg = prep(book, dists={**DISTS, "numpy": "2.5.0"})
    assert cleared and "1 installed distribution changed (numpy 2.4.6 -> 2.5.0)" in msg
    fill_build(book)
    cleared, msg = prep(book, dists={**DISTS, "numpy": "2.5.0", "scipy": "1.17.1"})
    assert cleared and "installed distribution added (scipy)" in msg
    fill_build(book)
    cleared, msg = prep(book, seed="7", dists={**DISTS, "numpy": "2.5.0", "scipy": "1.17.1"})
    assert cleared and "DLBI_SEED changed (42 -> 7)" in msg


def test_changes_lists_several_files_briefly(book):
    old = bc.fingerprint(book, {"DLBI_MODE": "quick"}, DISTS)
    for i in range(6):
        (book / "utils" / f"m{i}.py").write_text("")
    why = bc.changes(old, bc.fingerprint(book, {}, DISTS))
    assert why[0] == "DLBI_MODE changed (quick -> full)"
    assert why[1] == "6 files added (utils/m0.py, utils/m1.py, utils/m2.py, utils/m3.py and 2 more)"


def test_fingerprint_of_this_repository_covers_what_the_chapters_depend_on():
    fp = bc.fingerprint(ROOT, {"DLBI_MODE": "quick", "DLBI_SEED": "3"})
    parts = fp["components"]
    assert parts["mode"] == "quick" and parts["seed"] == "3"
    files = parts["files"]
    for rel in ("utils/config.py", "utils/data.py", "utils/manifests/brain_mri.csv",
                "utils/manifests/chest_xray.csv", "requirements.txt", "requirements-dev.txt"):
        assert rel in files, rel
    assert any(f.startswith("constraints") for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    sources = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("utils/**/*")
               if p.suffix in (".py", ".csv") and "__pycache__" not in p.parts}
    assert sources <= set(files), sources - set(files)
    dists = parts["distributions"]
    assert dists["numpy"] == metadata.version("numpy") and "tensorflow" in dists
    assert "scikit-image" in dists  # normalised names
    assert len(fp["sha256"]) == 64
    assert bc.digest(parts) == fp["sha256"]


def test_prepare_command_line(tmp_path):
    build = tmp_path / "_build"
    (build / ".jupyter_cache").mkdir(parents=True)
    result = subprocess.run([sys.executable, "scripts/build_cache.py", "prepare", "--build",
                             str(build)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no fingerprint was recorded" in result.stdout and "cleared" in result.stdout
    assert not (build / ".jupyter_cache").exists()
    recorded = json.loads((build / bc.FINGERPRINT).read_text())
    assert recorded["components"]["mode"] == bc.build_mode()


def test_build_script_runs_prepare_and_check_in_order():
    script = (ROOT / "scripts" / "build_book.sh").read_text()
    lines = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]

    def index(text):
        found = [i for i, ln in enumerate(lines) if text in ln]
        assert found, text
        return found[0]

    install = index("pip install")
    mode = index('export DLBI_MODE="${DLBI_MODE:-full}"')
    prepare = index("scripts/build_cache.py prepare")
    build = index("jupyter-book build")
    check = index('scripts/build_cache.py check-modes --mode "$DLBI_MODE"')
    assert install < mode < prepare < build < check


# ----------------------------------------------------------------------------------------
# The mode check of the executed chapters
# ----------------------------------------------------------------------------------------
def report(mode: str) -> str:
    """The report as utils.config prints it (without importing TensorFlow)."""
    from utils import config

    info = {"date": "2026-01-01 12:00", "mode": mode, "seed": 42, "commit": "abc1234",
            "python": "3.11.7", "platform": "Linux x86_64", "cpu_cores": 2,
            "accelerator": "CPU only", "in_colab": False, "data_source": "mirror /data"}
    info.update({name: "1.0" for name in config.LIBRARIES})
    return "\n".join(config.report_lines(info)) + "\n"


def notebook(*stdout: str, page: bool = False) -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "mode : quick\nseed : 1"}]
    for i, text in enumerate(stdout):
        cells.append({"cell_type": "code", "execution_count": i + 1, "metadata": {},
                      "source": "env = utils.setup()",
                      "outputs": [{"output_type": "stream", "name": "stdout",
                                   "text": text.splitlines(keepends=True)}]})
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    if page:
        meta["dlbi"] = {"kind": "page"}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def write(folder: Path, name: str, nb: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_report_format_is_what_the_check_reads():
    assert bc.report_modes(notebook(report("quick"))) == ["quick"]
    assert bc.report_modes(notebook("loading...\n" + report("full"), report("full"))) == [
        "full", "full"]
    # a markdown cell or a stray line saying "mode" is not a report
    assert bc.report_modes(notebook("mode : full\nepochs : 3\n")) == []


def test_quick_report_fails_a_full_build(tmp_path):
    executed = tmp_path / "jupyter_execute" / "notebooks"
    write(executed, "05_evaluation", notebook(report("quick")))
    write(executed, "06_transfer_learning", notebook(report("full")))
    problems = bc.mode_problems(executed, "full")
    assert len(problems) == 1
    assert problems[0].startswith("05_evaluation:") and "says mode quick" in problems[0]
    assert "asked for full" in problems[0]
    messages = []
    assert not bc.check_modes(executed, "full", log=messages.append)
    assert "FAILED" in messages[0] and "05_evaluation" in messages[0]


def test_agreeing_reports_pass(tmp_path):
    executed = tmp_path / "notebooks"
    write(executed, "05_evaluation", notebook(report("full")))
    write(executed, "99_results", notebook(report("full"), page=True))
    assert bc.mode_problems(executed, "full") == []
    assert bc.check_modes(executed, "full", log=lambda m: None)
    assert bc.mode_problems(executed, "quick") != []


def test_missing_report_fails_except_on_pages(tmp_path):
    executed = tmp_path / "notebooks"
    write(executed, "03_convolution", notebook("no report here\n"))
    write(executed, "99_results", notebook(page=True))
    problems = bc.mode_problems(executed, "full")
    assert len(problems) == 1 and problems[0].startswith("03_convolution:")
    assert "no environment report" in problems[0]
    # a page that prints a report must agree too
    write(executed, "99_results", notebook(report("quick"), page=True))
    assert [p.split(":")[0] for p in bc.mode_problems(executed, "full")] == [
        "03_convolution", "99_results"]


def test_mixed_reports_in_one_chapter_fail(tmp_path):
    executed = tmp_path / "notebooks"
    write(executed, "08_brain_tumor_cnn", notebook(report("full"), report("quick")))
    assert "quick" in bc.mode_problems(executed, "full")[0]


def test_every_source_chapter_must_have_been_executed(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    for name in ("00_data_tour.md", "01_imaging_primer.md", "01_imaging_primer.ipynb",
                 "_template.md"):
        (sources / name).write_text("")
    executed = tmp_path / "notebooks"
    write(executed, "00_data_tour", notebook(report("full")))
    write(executed, "07_removed_chapter", notebook(report("quick")))  # no source: ignored
    problems = bc.mode_problems(executed, "full", sources)
    assert len(problems) == 1 and problems[0].startswith("01_imaging_primer: not executed")
    write(executed, "01_imaging_primer", notebook(report("full")))
    assert bc.mode_problems(executed, "full", sources) == []
    assert bc.mode_problems(tmp_path / "empty", "full") != []  # nothing executed at all


def test_unknown_mode_is_refused(tmp_path):
    write(tmp_path, "00_data_tour", notebook(report("full")))
    assert "not a known mode" in bc.mode_problems(tmp_path, "fast")[0]


def test_check_modes_command_line(tmp_path):
    executed = tmp_path / "notebooks"
    write(executed, "05_evaluation", notebook(report("quick")))

    def run(*args):
        return subprocess.run([sys.executable, "scripts/build_cache.py", "check-modes",
                               "--executed", str(executed), "--sources", "", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    failed = run("--mode", "full")
    assert failed.returncode == 1 and "05_evaluation" in failed.stdout
    assert run("--mode", "quick").returncode == 0
