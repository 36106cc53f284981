"""The chapter skeleton every notebook follows, and the tools that keep notebooks in shape.

A chapter is: a title with learning objectives; one **setup cell** (in Colab it fetches the
book's code and installs what Colab lacks; locally it does nothing); imports; the environment
report (``utils.setup()``); the body; a summary; exercises with folded solutions.

``python -m utils.skeleton sync`` rewrites every notebook's setup cell from ``_config.yml``
(the one place that names the repository) and strips outputs; ``check`` lists problems.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_TAG = "setup"
COLAB_DIR = "/content/dlbi-book"


def repository() -> tuple[str, str]:
    """(url, branch) of the book's repository, read from ``_config.yml``."""
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return cfg["repository"]["url"], cfg["repository"].get("branch", "main")


def setup_cell_source(url: str | None = None, branch: str | None = None,
                      home: str = COLAB_DIR) -> str:
    """The source of the setup cell shared by every chapter (``url``/``home`` for tests)."""
    if url is None or branch is None:
        url, branch = repository()
    return f'''# Setup. In Colab: fetch the book's code and install what Colab lacks (TensorFlow is kept).
# Locally (after the README's install) this cell does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPO, BRANCH, HOME = "{url}", "{branch}", "{home}"
    if not os.path.isdir(HOME):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", BRANCH, REPO, HOME], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", HOME + "/requirements.txt"], check=True)
    sys.path.insert(0, HOME)
    os.chdir(HOME + "/notebooks")'''


def _load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def is_page(nb: dict) -> bool:
    """True for notebooks marked as book pages (e.g. the results page), not chapters."""
    return nb.get("metadata", {}).get("dlbi", {}).get("kind") == "page"


def setup_cell_index(nb: dict) -> int | None:
    """Index of the cell tagged ``setup`` (None when missing)."""
    for i, cell in enumerate(nb.get("cells", [])):
        if SETUP_TAG in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def strip_outputs(nb: dict) -> dict:
    """Remove outputs and execution counts from code cells (in place) and return ``nb``."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def sync(paths=None) -> list[Path]:
    """Rewrite the setup cell of each notebook from ``_config.yml``; strip outputs."""
    changed = []
    source = setup_cell_source()
    for path in paths or sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = _load(path)
        before = json.dumps(nb, sort_keys=True)
        idx = setup_cell_index(nb)
        if idx is not None:
            nb["cells"][idx]["source"] = source
        strip_outputs(nb)
        if json.dumps(nb, sort_keys=True) != before:
            Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(Path(path))
    return changed


def check(path) -> list[str]:
    """Problems of one notebook against the chapter skeleton (empty list = fine)."""
    nb = _load(path)
    cells = nb.get("cells", [])
    problems = []
    if not cells or cells[0].get("cell_type") != "markdown" or not _source(cells[0]).lstrip().startswith("# "):
        problems.append("the first cell must be a markdown cell starting with the '# ' title")
    text = "\n".join(_source(c) for c in cells if c.get("cell_type") == "markdown").lower()
    required = ["learning objectives", "summary", "exercises"]
    if is_page(nb):  # a page that gathers results, not a chapter: no exercises
        required.remove("exercises")
    for heading in required:
        if heading not in text:
            problems.append(f"no '{heading}' section")
    idx = setup_cell_index(nb)
    if idx is None:
        problems.append("no code cell tagged 'setup'")
    elif _source(cells[idx]) != setup_cell_source():
        problems.append("the setup cell differs from _config.yml's (run: python -m utils.skeleton sync)")
    code = "\n".join(_source(c) for c in cells if c.get("cell_type") == "code")
    if "utils.setup(" not in code:
        problems.append("no environment report (utils.setup())")
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} carries outputs (run: python -m utils.skeleton sync)")
    return problems


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "check"
    if command == "sync":
        for p in sync():
            print(f"updated {p.relative_to(ROOT)}")
        return 0
    if command == "check":
        bad = 0
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            for problem in check(path):
                bad += 1
                print(f"{path.relative_to(ROOT)}: {problem}")
        return 1 if bad else 0
    print("usage: python -m utils.skeleton [sync|check]")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
