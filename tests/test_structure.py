"""The book's structure: table of contents, notebook skeleton, committed state, data card, build."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils import skeleton

ROOT = Path(__file__).resolve().parent.parent
SOURCES = skeleton.chapter_sources()                        # notebooks/NN_name.md: the sources
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))     # their jupytext pairs


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks in notebooks/"


def test_toc_and_notebooks_agree():
    listed = toc_files()
    nb_in_toc = {f for f in listed if f.startswith("notebooks/")}
    on_disk = {f"notebooks/{p.stem}" for p in SOURCES}
    assert on_disk == {f"notebooks/{p.stem}" for p in NOTEBOOKS}, "every .md needs its .ipynb pair and back"
    assert nb_in_toc == on_disk, f"only in _toc.yml: {nb_in_toc - on_disk}; only on disk: {on_disk - nb_in_toc}"
    for f in listed:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"{f} listed but missing"
    assert len(listed) == len(set(listed)), "an entry is listed twice in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"cells {dirty} carry outputs: run python -m utils.skeleton sync"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_notebook_follows_skeleton(path):
    assert skeleton.check(path) == []


def test_template_follows_skeleton():
    assert skeleton.check(ROOT / "notebooks" / "_template.md") == []


@pytest.mark.notebook
def test_template_runs_and_its_solution_passes(mirror_env):
    """A new chapter starts from notebooks/_template.md: it must run as it is."""
    import nbformat
    from nbclient import NotebookClient

    from utils import audit

    nb = nbformat.reads(json.dumps(skeleton.read(ROOT / "notebooks" / "_template.md")), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    solution = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []))
    assert audit.cell_output_problems(solution.outputs, tags=["solution"]) == []


def test_no_generated_chapters():
    """The .md is the one source: nothing regenerates the chapters behind an editor's back."""
    assert not (ROOT / "scripts" / "chapters").exists()
    assert not (ROOT / "scripts" / "nbtools.py").exists()


def test_skeleton_check_catches_problems(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"] = [c for c in nb["cells"] if "setup" not in c.get("metadata", {}).get("tags", [])]
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb))
    problems = skeleton.check(bad)
    assert any("setup" in p for p in problems)
    assert any("outputs" in p for p in problems)


def test_setup_cell_uses_repository_from_config():
    url, branch = skeleton.repository()
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert url == cfg["repository"]["url"] and url.startswith("https://github.com/")
    src = skeleton.setup_cell_source()
    assert url in src and f'"{branch}"' in src
    assert "tensorflow" not in src.lower().replace("tensorflow is kept", "")
    compile(src, "setup", "exec")


def test_colab_requirements_keep_colab_tensorflow():
    """Installing requirements.txt in Colab must never replace its TensorFlow or Keras: no
    upper cap (pip would downgrade a newer preinstalled build), no exact pin, no CPU-only
    build; a lower bound is fine (the exact tested versions live in the constraints file)."""
    from packaging.requirements import Requirement

    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    active = [r.split("#")[0].strip() for r in reqs if r.split("#")[0].strip()]
    parsed = {}
    for line in active:
        if not line.startswith("-"):
            req = Requirement(line)
            parsed[req.name.lower().replace("_", "-")] = req
    assert not [n for n in parsed if n.startswith("tensorflow-") or n.startswith("tf-")]
    assert not [r for r in active if "tensorflow-cpu" in r or "tensorflow_cpu" in r]
    for name in ("tensorflow", "keras"):
        assert name in parsed, f"{name} is missing from requirements.txt"
        specs = parsed[name].specifier
        assert [s.operator for s in specs] == [">="], f"{name}: only a lower bound, not {specs}"
        assert not parsed[name].url and not parsed[name].extras
    assert not any(r.startswith(("jupyter-book", "nbval", "pytest", "sphinx")) for r in active)


def test_data_card_is_up_to_date():
    result = subprocess.run([sys.executable, "scripts/make_datacard.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.build
def test_book_builds_without_warnings(tmp_path):
    """Sphinx build with warnings as errors; execution off (nbval executes the notebooks)."""
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("book", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    cfg = yaml.safe_load((tmp_path / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"
    # Unexecuted, no cell glues its value, so every {glue:text} key of the prose is missing
    # (warning type mystnb.glue); only here: the real, executing build keeps -W for them.
    sphinx_cfg = cfg["sphinx"]["config"]
    sphinx_cfg["suppress_warnings"] = list(sphinx_cfg.get("suppress_warnings", [])) + ["mystnb.glue"]
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(cfg))
    result = subprocess.run(["jupyter-book", "build", str(tmp_path), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = tmp_path / "_build" / "html"
    for nb in SOURCES:
        page = (html / "notebooks" / f"{nb.stem}.html").read_text()
        assert f"colab.research.google.com/github/" in page, f"no Colab button on {nb.stem}"
        assert f"/blob/main/notebooks/{nb.stem}.ipynb" in page, f"Colab button of {nb.stem} misses the .ipynb"
        assert f"/edit/main/notebooks/{nb.stem}.md" in page, f"edit button of {nb.stem} misses the .md"
    _check_in_browser(html)


def _check_in_browser(html: Path) -> None:
    """Every page in headless Chromium: images load, links resolve, Colab button, sidebar order.

    Figures are not required here (this build does not execute); the full build is checked
    with `python scripts/check_site.py`, which also requires a figure on every chapter.
    """
    pytest.importorskip("playwright")
    sys.path.insert(0, str(ROOT / "scripts"))
    import check_site

    try:
        check_site.chromium_path()
    except SystemExit:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    assert check_site.check_site(html, None, figures=False) == []
