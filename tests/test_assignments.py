"""Student and teacher versions of the chapters (utils.assignments)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utils import assignments

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = assignments.chapter_sources()          # the MyST sources, notebooks/NN_name.md
CHAPTERS = [p for p in NOTEBOOKS if not assignments.is_page(assignments.read(p))]


def _text(nb) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in nb["cells"])


def test_remove_solution_blocks_keeps_exercises_and_handles_nested_fences():
    md = ("Intro\n\n```{admonition} Exercise 1: x\n:class: tip\nDo it.\n```\n\n"
          "````{admonition} Solution\n:class: dropdown\n```python\nanswer = 42\n```\n````\n\n"
          "```{admonition} Exercise 2: y\n:class: tip\nAgain.\n```\n"
          ":::{admonition} Solution\n:class: dropdown\nsecret\n:::\n"
          "```{exercise} z\n:label: ex-z\nThird.\n```\n"
          "````{solution} ex-z\n:class: dropdown\n```python\nanswer = 7\n```\n````\nEnd")
    out = assignments.remove_solution_blocks(md)
    assert "answer = 42" not in out and "secret" not in out and "Solution" not in out
    assert "answer = 7" not in out and "{solution}" not in out
    assert "Exercise 1" in out and "Exercise 2" in out and "Third." in out and out.endswith("End")


def _cell(kind, text, tags=()):
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}, "source": text}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def test_student_version_drops_gated_solutions_whole():
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        _cell("markdown", "# T\n\n**Learning objectives.** x"),
        _cell("markdown", "```{exercise} A\n:label: ex-a\n\nDo A.\n```"),
        _cell("code", "answer = ...\nex.check_a(answer)"),
        _cell("markdown", "```{solution-start} ex-a\n:class: dropdown\n```\n\nsecret prose"),
        _cell("code", "answer = 1\nex.check_a(answer)", ["solution"]),
        _cell("markdown", "more secret\n\n```{solution-end}\n```"),
        _cell("markdown", "```{exercise} B\n:label: ex-b\n\nDo B.\n```"),
    ]}
    s = _text(assignments.student_version(nb, "x"))
    assert "secret" not in s and "answer = 1" not in s and "solution-" not in s
    assert "Do A." in s and "Do B." in s and s.count("answer = ...") == 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_version_has_no_solutions_but_keeps_checks(path):
    nb = assignments.read(path)
    student = assignments.student_version(nb, path.stem)
    teacher = assignments.teacher_version(nb, path.stem)
    s, t = _text(student), _text(teacher)
    assert "{solution-start}" not in s and "{solution-end}" not in s
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student["cells"])
    assert t.count("{solution-start}") == t.count("{exercise}") >= 3, "an exercise has no solution"
    assert s.count("{exercise}") == t.count("{exercise}") >= 3
    assert s.count("answer = ...") == t.count("answer = ...") >= 3
    assert "# Assignment:" in s and "Learning objectives" in s
    # every line that is only in a solution block is gone from the student version
    solution_only = set(t.splitlines()) - set(s.splitlines())
    assert solution_only, "teacher and student versions are identical"
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")


def test_cli_writes_both_versions(tmp_path):
    assert assignments.main(["--out", str(tmp_path), str(NOTEBOOKS[0])]) == 0
    name = NOTEBOOKS[0].with_suffix(".ipynb").name
    assert (tmp_path / "student" / name).exists()
    assert (tmp_path / "teacher" / name).exists()


@pytest.mark.notebook
def test_student_version_runs_and_checks_answer_gracefully(tmp_path, mirror_env, monkeypatch):
    """The data tour's student version runs top to bottom; each check says 'No answer yet'."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("DLBI_MODE", "quick")
    path = ROOT / "notebooks" / "00_data_tour.md"
    student = assignments.student_version(assignments.read(path), path.stem)
    nb = nbformat.reads(json.dumps(student), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    feedback = [o for c in nb.cells if c.cell_type == "code" and "answer = ..." in c.source
                for o in c.outputs if o.get("output_type") == "execute_result"]
    assert len(feedback) >= 3
    assert all("No answer yet" in o["data"]["text/plain"] for o in feedback)
