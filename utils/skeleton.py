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

``python -m utils.skeleton sync`` brings every pair together from the side that was edited (as
git sees it: an ``.ipynb`` changed in Colab rewrites the ``.md``, a changed ``.md`` rewrites the
``.ipynb``; it refuses when both changed), rewrites the setup cells from ``_config.yml`` (the one
place that names the repository) and strips outputs; ``check`` lists problems.
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


def _git(*args: str, cwd: Path = ROOT) -> str | None:
    """Output of a git command in the repository (None outside a git checkout or without git)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def edited_side(md_path: Path | str) -> str:
    """Which file of a disagreeing pair holds the newer edit: ``"md"``, ``"ipynb"``, ``"both"``
    or ``"unknown"``.

    Modification times say nothing after a clone or a checkout, so git decides: a file with
    uncommitted changes (or not yet committed) is the edited one; when both are committed, the
    one committed last. Outside a git checkout the more recently modified file counts.
    """
    md_path = Path(md_path).resolve()
    files = {"md": md_path, "ipynb": paired_ipynb(md_path)}
    cwd = md_path.parent
    status = {side: _git("status", "--porcelain", "--", str(f), cwd=cwd) for side, f in files.items()}
    if any(s is None for s in status.values()):  # not a git checkout: fall back to mtimes
        times = {side: f.stat().st_mtime for side, f in files.items() if f.exists()}
        if len(times) < 2 or times["md"] == times["ipynb"]:
            return "unknown"
        return max(times, key=times.get)
    changed = [side for side, s in status.items() if s.strip()]
    if len(changed) == 1:
        return changed[0]
    if len(changed) == 2:
        return "both"
    # the commit that last touched each side; the later one is the one whose ancestor the
    # other is (commit order, not the one-second timestamps, which tie for quick commits)
    last = {side: (_git("log", "-1", "--format=%H", "--", str(f), cwd=cwd) or "").strip()
            for side, f in files.items()}
    if not (last["md"] and last["ipynb"]) or last["md"] == last["ipynb"]:
        return "unknown"
    if _git("merge-base", "--is-ancestor", last["md"], last["ipynb"], cwd=cwd) is not None:
        return "ipynb"
    if _git("merge-base", "--is-ancestor", last["ipynb"], last["md"], cwd=cwd) is not None:
        return "md"
    return "unknown"  # on diverged branches: no order


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def fix_command(md_path: Path | str, side: str | None = None) -> str:
    """The one-direction command that makes a pair agree again, from the edited side."""
    md_path = Path(md_path)
    side = edited_side(md_path) if side is None else side
    if side == "ipynb":
        return f"jupytext --to md:myst {_shown(paired_ipynb(md_path))}   (the .ipynb was edited: it rewrites the .md)"
    if side == "md":
        return f"jupytext --update --to ipynb {_shown(md_path)}   (the .md was edited: it rewrites the .ipynb)"
    return (f"both files changed: merge the edits into {_shown(md_path)} by hand, then "
            f"jupytext --update --to ipynb {_shown(md_path)}")


def pair_problems(md_path: Path | str) -> list[str]:
    """Where ``NN_name.md`` and its ``NN_name.ipynb`` disagree (empty list = in sync), with the
    command that fixes it (:func:`fix_command`)."""
    md_path = Path(md_path)
    ipynb = paired_ipynb(md_path)
    if not ipynb.exists():
        return [f"{ipynb.name} is missing: run jupytext --update --to ipynb {_shown(md_path)}"]
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
            j = next((j for j, (u, v) in enumerate(zip(line_a, line_b)) if u != v),
                     min(len(line_a), len(line_b)))
            start = max(0, j - 30)   # show where the two lines part
            problems.append(f"cell {i} differs ({what}), line {k + 1}: .md has "
                            f"{line_a[start:j + 50]!r}, .ipynb has {line_b[start:j + 50]!r}")
            break
    if problems:
        problems.append(f"fix: {fix_command(md_path)}; or python -m utils.skeleton sync")
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
            # the student's cells: the code cells before the solution (one for an exercise; a
            # lab's starting cell, report cell and check cell); the last one ends in the check
            upto = next((k for k, c in enumerate(rest) if c.get("cell_type") == "markdown"
                         and (SOLUTION_START.search(_source(c)) or EXERCISE.search(_source(c)))),
                        len(rest))
            own = [c for c in rest[:upto] if c.get("cell_type") == "code"]
            student = own[-1] if own else None
            if student is None or SOLUTION_TAG in tags(student) or "ex.check" not in _source(student):
                problems.append(f"exercise {label}: the student's cell (or a lab's last cell) must "
                                "end in its check (ex.check_...)")
                continue
            if not any("= ..." in _source(c) for c in own):
                problems.append(f"exercise {label}: the student's cell needs a placeholder "
                                "(answer = ...) for the student to replace")
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
    for i, cell in enumerate(cells):  # only an .ipynb can carry outputs
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
    return _strip_file(paired_ipynb(md_path))


def update_source(md_path: Path | str) -> Path:
    """Rewrite ``NN_name.md`` from an edited ``NN_name.ipynb`` (e.g. downloaded from Colab); the
    ``.ipynb``'s outputs are then stripped."""
    md_path = Path(md_path)
    ipynb = _strip_file(paired_ipynb(md_path))
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "md:myst", str(ipynb)],
                   check=True, cwd=ROOT)
    return md_path


def _strip_file(ipynb: Path) -> Path:
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    before = json.dumps(nb, sort_keys=True)
    strip_outputs(nb)
    if json.dumps(nb, sort_keys=True) != before:
        ipynb.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return ipynb


class PairConflict(RuntimeError):
    """Both files of a pair were edited: :func:`sync` will not choose one."""


def sync(paths=None) -> list[Path]:
    """Bring every pair together, in the right direction, and the setup cells in line.

    For each chapter: when the pair disagrees, the edited side (:func:`edited_side`, as git
    sees it) is copied onto the other: an ``.ipynb`` edited in Colab rewrites the ``.md``, an
    edited ``.md`` rewrites the ``.ipynb``; when both were edited, :class:`PairConflict` is
    raised and nothing of that chapter is touched. Then the setup cell is rewritten from
    ``_config.yml`` and the ``.ipynb`` is stripped of outputs. Returns the files that changed.
    """
    changed = []
    source = setup_cell_source()
    block = re.compile(r"(```\{code-cell\}[^\n]*\n:tags: \[[^\]]*\bsetup\b[^\]]*\]\n\n)(.*?)(\n```)", re.S)
    for md_path in paths or chapter_sources():
        md_path = Path(md_path)
        ipynb = paired_ipynb(md_path)
        before = {f: (f.read_bytes() if f.exists() else b"") for f in (md_path, ipynb)}
        if ipynb.exists() and pair_problems(md_path):
            side = edited_side(md_path)
            if side == "ipynb":
                update_source(md_path)
            elif side != "md":
                raise PairConflict(f"{_shown(md_path)}: {fix_command(md_path, side)}")
        text = md_path.read_text(encoding="utf-8")
        new = block.sub(lambda m: m.group(1) + source + m.group(3), text, count=1)
        if new != text:
            md_path.write_text(new, encoding="utf-8")
        if not ipynb.exists() or pair_problems(md_path):
            update_pair(md_path)
        else:
            _strip_file(ipynb)
        changed += [f for f in (md_path, ipynb) if f.read_bytes() != before[f]]
    return changed


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "check"
    if command == "sync":
        try:
            changed = sync()
        except PairConflict as err:
            print(f"not synced: {err}")
            return 1
        for p in changed:
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
