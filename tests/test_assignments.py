"""Student and teacher versions of the chapters (utils.assignments)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utils import assignments

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if not assignments.is_page(json.loads(p.read_text()))]


def _text(nb) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in nb["cells"])


def test_remove_solution_blocks_keeps_exercises_and_handles_nested_fences():
    md = ("Intro\n\n```{admonition} Exercise 1: x\n:class: tip\nDo it.\n```\n\n"
          "````{admonition} Solution\n:class: dropdown\n```python\nanswer = 42\n```\n````\n\n"
          "```{admonition} Exercise 2: y\n:class: tip\nAgain.\n```\n"
          ":::{admonition} Solution\n:class: dropdown\nsecret\n:::\nEnd")
    out = assignments.remove_solution_blocks(md)
    assert "answer = 42" not in out and "secret" not in out and "Solution" not in out
    assert "Exercise 1" in out and "Exercise 2" in out and out.endswith("End")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_version_has_no_solutions_but_keeps_checks(path):
    nb = json.loads(path.read_text())
    student = assignments.student_version(nb, path.stem)
    teacher = assignments.teacher_version(nb, path.stem)
    s, t = _text(student), _text(teacher)
    assert not re.search(r"\{admonition\}\s*Solution", s)
    assert re.search(r"\{admonition\}\s*Solution", t), "the chapter has no folded solutions"
    assert s.count("{admonition} Exercise") == t.count("{admonition} Exercise") >= 3
    assert s.count("answer = ...") == t.count("answer = ...") >= 3
    assert "# Assignment:" in s and "Learning objectives" in s
    # every line that is only in a solution block is gone from the student version
    solution_only = set(t.splitlines()) - set(s.splitlines())
    assert solution_only, "teacher and student versions are identical"
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")


def test_cli_writes_both_versions(tmp_path):
    assert assignments.main(["--out", str(tmp_path), str(NOTEBOOKS[0])]) == 0
    assert (tmp_path / "student" / NOTEBOOKS[0].name).exists()
    assert (tmp_path / "teacher" / NOTEBOOKS[0].name).exists()


@pytest.mark.notebook
def test_student_version_runs_and_checks_answer_gracefully(tmp_path, mirror_env, monkeypatch):
    """The data tour's student version runs top to bottom; each check says 'No answer yet'."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("DLBI_MODE", "quick")
    path = ROOT / "notebooks" / "00_data_tour.ipynb"
    student = assignments.student_version(json.loads(path.read_text()), path.stem)
    nb = nbformat.reads(json.dumps(student), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    feedback = [o for c in nb.cells if c.cell_type == "code" and "answer = ..." in c.source
                for o in c.outputs if o.get("output_type") == "execute_result"]
    assert len(feedback) >= 3
    assert all("No answer yet" in o["data"]["text/plain"] for o in feedback)
