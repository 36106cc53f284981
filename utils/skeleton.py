"""The chapter skeleton every notebook follows, and the tools that keep notebooks in shape.

A chapter is one **MyST Markdown notebook**, ``notebooks/NN_name.md`` (the file you read and
edit), paired by jupytext (``notebooks/jupytext.toml``) with ``notebooks/NN_name.ipynb``: the
same cells, no outputs, for Google Colab, nbval and the student exports. The book is built from
the ``.md`` files alone.

A chapter is: a title with learning objectives; one **setup cell** (in Colab it fetches the
book's code and installs what Colab lacks; locally it does nothing); imports; the environment
report (``utils.setup()``); the body; a summary; exercises. Each exercise is

1. an ``{exercise}`` directive with a ``:label:``,
2. the student's code cell: a placeholder (``answer = ...``) followed by its check
   (``ex.check_...(answer)``),
3. a gated solution: ``{solution-start} <label>`` ... ``{solution-end}``, holding a code cell
   tagged ``solution`` that computes the answer and calls the same check. The book build and
   nbval execute it, and the audit (:mod:`utils.audit`) fails a solution whose check does not
   answer "Correct".

``python -m utils.skeleton sync`` rewrites every chapter's setup cell from ``_config.yml`` (the
one place that names the repository), brings each ``.ipynb`` up to date with its ``.md`` and
strips outputs; ``check`` lists problems.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SETUP_TAG = "setup"
SOLUTION_TAG = "solution"
COLAB_DIR = "/content/dlbi-book"

EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n:label:\s*(?P<label>\S+)", re.M)
SOLUTION_START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}\s*(?P<label>\S+)", re.M)
SOLUTION_END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}", re.M)


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


def chapter_sources(folder: Path | str = NOTEBOOKS) -> list[Path]:
    """The chapters' MyST sources, ``NN_name.md`` (files starting with ``_`` are templates)."""
    return sorted(p for p in Path(folder).glob("*.md") if not p.name.startswith("_"))


def paired_ipynb(md_path: Path | str) -> Path:
    return Path(md_path).with_suffix(".ipynb")


def read(path: Path | str) -> dict:
    """A notebook as a plain dict, from a MyST ``.md`` (via jupytext) or an ``.ipynb``."""
    path = Path(path)
    if path.suffix == ".md":
        import jupytext
        import nbformat

        return json.loads(nbformat.writes(jupytext.read(path, fmt="md:myst")))
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_page(nb: dict) -> bool:
    """True for notebooks marked as book pages (e.g. the results page), not chapters."""
    return nb.get("metadata", {}).get("dlbi", {}).get("kind") == "page"


def setup_cell_index(nb: dict) -> int | None:
    """Index of the cell tagged ``setup`` (None when missing)."""
    for i, cell in enumerate(nb.get("cells", [])):
        if SETUP_TAG in tags(cell):
            return i
    return None


def strip_outputs(nb: dict) -> dict:
    """Remove outputs and execution counts from code cells (in place) and return ``nb``."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def cell_signature(nb: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """What a pair must agree on: each cell's type, source and tags."""
    return [(c.get("cell_type"), _source(c).strip("\n"), tuple(tags(c))) for c in nb.get("cells", [])]


def pair_problems(md_path: Path | str) -> list[str]:
    """Where ``NN_name.md`` and its ``NN_name.ipynb`` disagree (empty list = in sync)."""
    md_path = Path(md_path)
    ipynb = paired_ipynb(md_path)
    fix = f"jupytext --sync {md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}"
    if not ipynb.exists():
        return [f"{ipynb.name} is missing: run {fix}"]
    a, b = cell_signature(read(md_path)), cell_signature(read(ipynb))
    problems = []
    if len(a) != len(b):
        problems.append(f"{md_path.name} has {len(a)} cells, {ipynb.name} has {len(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            what = "type" if x[0] != y[0] else "tags" if x[2] != y[2] else "source"
            lines_a, lines_b = x[1].splitlines(), y[1].splitlines()
            k = next((k for k, (u, v) in enumerate(zip(lines_a, lines_b)) if u != v),
                     min(len(lines_a), len(lines_b)))
            line_a = lines_a[k] if k < len(lines_a) else "(nothing)"
            line_b = lines_b[k] if k < len(lines_b) else "(nothing)"
            problems.append(f"cell {i} differs ({what}), line {k + 1}: .md has {line_a[:80]!r}, "
                            f".ipynb has {line_b[:80]!r}")
            break
    if problems:
        problems.append(f"fix: {fix}  (jupytext takes the more recently modified file as the "
                        "source; if you edited the .ipynb, e.g. in Colab, run it before touching the .md)")
    return problems


def exercise_problems(nb: dict) -> list[str]:
    """Problems of a chapter's exercises against the pattern in this module's docstring."""
    cells = nb.get("cells", [])
    problems, labels = [], []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        for m in EXERCISE.finditer(_source(cell)):
            label = m.group("label")
            labels.append(label)
            rest = cells[i + 1:]
            student = next((c for c in rest if c.get("cell_type") == "code"), None)
            if student is None or SOLUTION_TAG in tags(student) or "ex.check" not in _source(student):
                problems.append(f"exercise {label}: the next code cell must be the student's cell "
                                "ending in its check (ex.check_...)")
                continue
            start = next((k for k, c in enumerate(rest) if c.get("cell_type") == "markdown"
                          and any(s.group("label") == label
                                  for s in SOLUTION_START.finditer(_source(c)))), None)
            if start is None:
                problems.append(f"exercise {label}: no {{solution-start}} {label}")
                continue
            end = next((k for k, c in enumerate(rest[start:]) if c.get("cell_type") == "markdown"
                        and SOLUTION_END.search(_source(c))), None)
            if end is None:
                problems.append(f"exercise {label}: its solution has no {{solution-end}}")
                continue
            solution = [c for c in rest[start:start + end + 1] if c.get("cell_type") == "code"]
            check = next(l.strip() for l in reversed(_source(student).splitlines()) if "ex.check" in l)
            if not any(SOLUTION_TAG in tags(c) and check in _source(c) for c in solution):
                problems.append(f"exercise {label}: the solution needs a code cell tagged "
                                f"'{SOLUTION_TAG}' that calls {check}")
    if len(labels) != len(set(labels)):
        problems.append("two exercises share a label")
    return problems


def check(path) -> list[str]:
    """Problems of one chapter (``.md`` or ``.ipynb``) against the skeleton (empty = fine)."""
    path = Path(path)
    nb = read(path)
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
    if not is_page(nb):
        if "{exercise}" not in text:
            problems.append("no {exercise} directive")
        problems += exercise_problems(nb)
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} carries outputs (run: python -m utils.skeleton sync)")
    if path.suffix == ".md" and not path.name.startswith("_"):  # the template has no pair
        problems += pair_problems(path)
    return problems


def update_pair(md_path: Path | str) -> Path:
    """Rewrite ``NN_name.ipynb`` from ``NN_name.md`` (the source), without outputs."""
    md_path = Path(md_path)
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--update", "--to", "ipynb",
                    str(md_path)], check=True, cwd=ROOT)
    ipynb = paired_ipynb(md_path)
    nb = strip_outputs(json.loads(ipynb.read_text(encoding="utf-8")))
    ipynb.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return ipynb


def sync(paths=None) -> list[Path]:
    """Rewrite the setup cell of each chapter's ``.md`` from ``_config.yml``, then bring its
    ``.ipynb`` up to date (no outputs). Returns the files that changed."""
    changed = []
    source = setup_cell_source()
    for md_path in paths or chapter_sources():
        md_path = Path(md_path)
        text = md_path.read_text(encoding="utf-8")
        block = re.compile(r"(```\{code-cell\}[^\n]*\n:tags: \[[^\]]*\bsetup\b[^\]]*\]\n\n)(.*?)(\n```)", re.S)
        new = block.sub(lambda m: m.group(1) + source + m.group(3), text, count=1)
        if new != text:
            md_path.write_text(new, encoding="utf-8")
            changed.append(md_path)
        ipynb = paired_ipynb(md_path)
        before = ipynb.read_bytes() if ipynb.exists() else b""
        if new != text or pair_problems(md_path) or _has_outputs(ipynb):
            update_pair(md_path)
        if ipynb.read_bytes() != before:
            changed.append(ipynb)
    return changed


def _has_outputs(ipynb: Path) -> bool:
    if not ipynb.exists():
        return True
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    return any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "check"
    if command == "sync":
        for p in sync():
            print(f"updated {p.relative_to(ROOT)}")
        return 0
    if command == "check":
        bad = 0
        for path in chapter_sources():
            for problem in check(path):
                bad += 1
                print(f"{path.relative_to(ROOT)}: {problem}")
        return 1 if bad else 0
    print("usage: python -m utils.skeleton [sync|check]")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
