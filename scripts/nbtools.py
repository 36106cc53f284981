"""Write a chapter notebook from a list of cells (used to author the chapters).

    from scripts.nbtools import md, code, setup, write
    write("notebooks/xx.ipynb", [md("# Title ..."), setup(), code("import utils"), ...])

Cells are plain strings; ``setup()`` is the shared setup cell (tagged ``setup``), and
``code(src, tags=[...])`` accepts cell tags such as ``hide-input``.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.skeleton import setup_cell_source  # noqa: E402


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags=None):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def exercise(n: int, title: str, task: str, student: str, solution_text: str, solution_code: str):
    """The three cells of one exercise: the task (a tip admonition), the student's cell (which
    ends with its check) and the folded solution (optional prose, then the code)."""
    text = f"{solution_text.strip()}\n\n" if solution_text.strip() else ""
    return [
        md(f"```{{admonition}} Exercise {n}: {title}\n:class: tip\n{task.strip()}\n```"),
        code(student),
        md(f"````{{admonition}} Solution\n:class: dropdown\n{text}"
           f"```python\n{solution_code.strip()}\n```\n````"),
    ]


PLACEHOLDER = "answer = ...  # your code here"
#: id(student cell) -> the solution that replaces it in a solution copy (see write_with_solutions)
SOLUTIONS: dict[int, str] = {}


def checked_exercise(n: int, title: str, task: str, check: str, solution: str,
                     placeholder: str = PLACEHOLDER):
    """An exercise whose student cell is ``placeholder`` followed by ``ex.<check>(answer)``;
    ``solution`` goes into the folded solution and is registered for :func:`write_with_solutions`."""
    cells = exercise(n, title, task, f"{placeholder}\nex.{check}(answer)", "", solution)
    SOLUTIONS[id(cells[1])] = f"{solution.strip()}\nex.{check}(answer)"
    return cells


def write_with_solutions(path, cells, folder, kind: str = "chapter") -> Path:
    """Write a copy of the chapter ``path`` into ``folder`` whose exercise cells hold their
    solutions: execute it to check that every folded solution passes its check."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    swapped = [code(SOLUTIONS[id(c)]) if id(c) in SOLUTIONS else copy.deepcopy(c) for c in cells]
    return write(folder / Path(path).name, swapped, kind)


def setup():
    return code(setup_cell_source(), tags=["setup", "hide-input"])


def write(path, cells, kind: str = "chapter", always_execute: bool = False) -> Path:
    """Write the notebook; ``kind="page"`` marks a book page that is not a chapter (no exercises).

    ``always_execute`` makes the book build run the notebook every time instead of using its
    execution cache (MyST-NB file-level ``execution_mode: force``), for a page that reads what
    the other chapters wrote."""
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    if kind != "chapter":
        nb.metadata["dlbi"] = {"kind": kind}
    if always_execute:
        nb.metadata["mystnb"] = {"execution_mode": "force"}
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"c{i:03d}"
    path = ROOT / path
    nbformat.write(nb, path)
    return path
