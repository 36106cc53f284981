"""Turn the book's chapters into classroom assignments.

    python -m utils.assignments [--out assignments] [notebooks/NN_name.md ...]

writes, for every chapter (default: every ``notebooks/NN_name.md``; an ``.ipynb`` works too),

- ``<out>/student/NN_name.ipynb``: solutions removed (every gated solution, from its
  ``{solution-start}`` cell to its ``{solution-end}`` cell, the code cells tagged ``solution``,
  and any ``{solution}`` or ``{admonition} Solution`` block), exercise statements and checks kept,
  outputs stripped, and a header naming the chapter and its learning objectives;
- ``<out>/teacher/NN_name.ipynb``: the same header, solutions kept.

A student notebook runs top to bottom as handed out: each check answers "No answer yet" on the
``...`` placeholder instead of failing, so a student can work through the exercises in order.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

from .skeleton import ROOT, SOLUTION_END, SOLUTION_START, chapter_sources, is_page, read, strip_outputs

SOLUTION_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})(\{admonition\}\s*Solution\b|\{solution\}).*$",
                           re.IGNORECASE)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def remove_solution_blocks(markdown: str) -> str:
    """Drop every ``{solution}`` and ``{admonition} Solution`` directive block (its fence and all
    it contains)."""
    out, lines, i = [], markdown.split("\n"), 0
    while i < len(lines):
        m = SOLUTION_OPEN.match(lines[i].strip())
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence = m.group("fence")
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        i = j + 1  # skip the closing fence too (or run to the end if it is missing)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def title_and_objectives(nb: dict) -> tuple[str, str]:
    """The chapter title (first '# ' line) and its learning-objectives paragraph and list."""
    first = _source(nb["cells"][0])
    title = next((l[2:].strip() for l in first.splitlines() if l.startswith("# ")), "Chapter")
    idx = first.lower().find("**learning objectives")
    objectives = first[idx:].strip() if idx >= 0 else ""
    return title, objectives


def _header(nb: dict, chapter: str, teacher: bool) -> dict:
    title, objectives = title_and_objectives(nb)
    who = ("Teacher version: the folded solutions are included." if teacher else
           "Student version. Work through the chapter, then answer each exercise: replace the "
           "`...` in the answer cell and run it; the check below it says whether the answer is "
           "right and, if not, why. Solutions are not included.")
    text = (f"# Assignment: {title}\n\n*Chapter `{chapter}` of* Deep Learning for Biomedical "
            f"Imaging. {who}\n\n{objectives}")
    return {"cell_type": "markdown", "metadata": {"tags": ["assignment-header"]}, "source": text,
            **({"id": "assignment-header"} if "id" in nb["cells"][0] else {})}


def student_version(nb: dict, chapter: str = "") -> dict:
    """A copy of ``nb`` without solutions, with the assignment header."""
    nb = copy.deepcopy(nb)
    cells, gated = [], False
    for cell in nb["cells"]:
        text = _source(cell) if cell["cell_type"] == "markdown" else ""
        if SOLUTION_START.search(text):
            gated = True
        if gated:  # inside a gated solution: drop every cell up to and with its {solution-end}
            gated = not SOLUTION_END.search(text)
            continue
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "markdown":
            text = remove_solution_blocks(_source(cell))
            if not text.strip():
                continue
            cell["source"] = text
        cells.append(cell)
    nb["cells"] = [_header(nb, chapter, teacher=False)] + cells
    return strip_outputs(nb)


def teacher_version(nb: dict, chapter: str = "") -> dict:
    """A copy of ``nb`` with solutions and the assignment header."""
    nb = copy.deepcopy(nb)
    nb["cells"] = [_header(nb, chapter, teacher=True)] + nb["cells"]
    return strip_outputs(nb)


def write_assignments(notebooks=None, out: Path | str = ROOT / "assignments") -> list[Path]:
    """Write student and teacher versions of ``notebooks`` under ``out``; return the paths."""
    out = Path(out)
    written = []
    for path in notebooks or chapter_sources():
        path = Path(path)
        nb = read(path)
        if is_page(nb):  # the results page is no assignment
            continue
        for kind, make in (("student", student_version), ("teacher", teacher_version)):
            target = out / kind / path.with_suffix(".ipynb").name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(make(nb, path.stem), indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
            written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "assignments", help="output folder")
    args = parser.parse_args(argv)
    paths = write_assignments(args.notebooks or None, args.out)
    print(f"wrote {len(paths) // 2} student and {len(paths) // 2} teacher notebooks under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
