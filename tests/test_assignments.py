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


def test_text_after_a_solution_end_in_the_same_cell_is_kept():
    # in a MyST chapter the solution's end and the next exercise are often one Markdown cell
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        _cell("markdown", "# T\n\n**Learning objectives.** x"),
        _cell("markdown", "```{exercise} A\n:label: ex-a\n\nDo A.\n```"),
        _cell("code", "answer = ...\nex.check_a(answer)"),
        _cell("markdown", "Before.\n\n```{solution-start} ex-a\n:class: dropdown\n```\n\nsecret"),
        _cell("code", "answer = 1\nex.check_a(answer)", ["solution"]),
        _cell("markdown", "```{solution-end}\n```\n\n```{exercise} B\n:label: ex-b\n\nDo B.\n```"),
        _cell("code", "answer = ...\nex.check_b(answer)"),
    ]}
    s = _text(assignments.student_version(nb, "x"))
    assert "secret" not in s and "answer = 1" not in s and "solution-" not in s
    assert "Before." in s and "Do B." in s and s.count("answer = ...") == 2


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_version_has_no_solutions_but_keeps_checks(path):
    nb = assignments.read(path)
    student = assignments.student_version(nb, path.stem)
    teacher = assignments.teacher_version(nb, path.stem)
    s, t = _text(student), _text(teacher)
    assert "{solution-start}" not in s and "{solution-end}" not in s
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student["cells"])
    n = len(assignments._exercise_labels(path.read_text(encoding="utf-8")))
    for text in (s, t):  # plain Markdown: no directive or role left for Colab to show raw
        for raw in ("{exercise}", "{numref}", "{solution-start}", "{solution-end}", "{glue"):
            assert raw not in text
    # a chapter has at least three exercises; the capstone is one project
    least = 1 if path.stem == "90_capstone" else 3
    assert len(re.findall(r"^\*\*Exercise \d+: ", s, re.M)) == n >= least
    assert len(re.findall(r"^\*\*Exercise \d+: ", t, re.M)) == n
    assert t.count("**Solution to Exercise ") == n, "an exercise has no solution"
    assert "Solution to" not in s
    assert s.count("= ...") == t.count("= ...") >= least
    assert s.count("answer = ...") == t.count("answer = ...") >= (0 if least == 1 else 3)
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


# ---------------------------------------------------------------- exercise numbers

def _toc_chapters():
    return [p for p in assignments.toc_files() if p.suffix in (".md", ".ipynb")]


def test_exercise_numbers_follow_the_toc():
    numbers = assignments.exercise_numbers()
    pages = assignments.toc_files()
    # every chapter is in the table of contents once; the toc's order (not the file numbers:
    # 13 and 14 follow 09) is the book's, and the exercise numbers follow it
    listed = [p.stem for p in pages if p.parent.name == "notebooks"]
    assert sorted(listed) == [p.stem for p in NOTEBOOKS] and len(set(listed)) == len(listed)
    labels = [label for p in pages for label in
              assignments._exercise_labels(p.read_text(encoding="utf-8"))]
    counts = [len(re.findall(r"^`{3,}\{exercise\}", p.read_text(encoding="utf-8"), re.M)) for p in pages]
    assert list(numbers) == labels and len(numbers) == sum(counts) == len(set(labels))
    assert sorted(numbers.values()) == list(range(1, sum(counts) + 1))
    assert numbers[labels[0]] == 1 and labels[0] == "ex-00-1"
    # each chapter's exercises form one run, starting after the previous chapters' total
    done = 0
    for page, count in zip(pages, counts):
        mine = assignments._exercise_labels(page.read_text(encoding="utf-8"))
        assert [numbers[label] for label in mine] == list(range(done + 1, done + count + 1))
        done += count


def test_exercise_numbers_skip_nonumber_and_follow_a_given_toc(tmp_path):
    (tmp_path / "a.md").write_text("```{exercise} One\n:label: a-1\n\nx\n```\n"
                                   "```{exercise} Aside\n:label: a-x\n:nonumber:\n\nx\n```\n")
    (tmp_path / "b.md").write_text("# B\n\n```{exercise} Two\n:label: b-1\n\ny\n```\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: b\nchapters:\n  - file: a\n")
    assert assignments.exercise_numbers(tmp_path / "_toc.yml") == {"b-1": 1, "a-1": 2}


def test_rewrite_exercises_numrefs_and_solution_markers():
    numbers = {"ex-08-1": 31, "ex-08-2": 32}
    md = ("See {numref}`ex-08-2` and {numref}`Task %s <ex-08-1>`.\n\n"
          "```{exercise} Formats\n:label: ex-08-1\n\nDo `this`.\n```\n\n"
          "````{solution-start} ex-08-1\n:class: dropdown\n````\nWhy.\n```{solution-end}\n```")
    out = assignments.rewrite_exercises(md, numbers)
    assert "See Exercise 32 and Task 31." in out
    assert "**Exercise 31: Formats**\n\nDo `this`." in out
    assert "**Solution to Exercise 31**\nWhy.\n***" in out
    assert "{" not in out and "```" not in out and ":label:" not in out and "dropdown" not in out


def test_exercise_numbers_in_the_exports_match_the_book():
    numbers = assignments.exercise_numbers()
    path = ROOT / "notebooks" / "08_brain_tumor_cnn.md"
    nb = assignments.read(path)
    t = _text(assignments.teacher_version(nb, path.stem))
    first = numbers["ex-08-1"]
    assert first == 1 + sum(len(assignments._exercise_labels(p.read_text(encoding="utf-8")))
                            for p in NOTEBOOKS if p.stem < "08")
    assert f"**Exercise {first}: " in t and f"**Solution to Exercise {first}**" in t
    assert f"Exercise {first})" in t  # the prose's {numref}`ex-08-1`
    last = numbers[assignments._exercise_labels(path.read_text(encoding="utf-8"))[-1]]  # its lab
    assert last == numbers["lab-08"] > numbers["ex-08-4"]
    assert f"Exercises {first}-{last}, numbered as in the book" in t


# ---------------------------------------------------------------- glued numbers

def _glue_output(name, plain):
    return {"output_type": "display_data",
            "metadata": {"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}},
            "data": {"text/plain": plain}}


def _fake_build(folder, chapter="07_fake"):
    """A folder like _build/jupyter_execute/notebooks: NN.glue.json and the executed NN.ipynb."""
    folder.mkdir(parents=True, exist_ok=True)
    glue = {"share": _glue_output("share", "0.23076923076923142"),
            "pct": _glue_output("pct", "61.26482213438735"),
            "n_files": _glue_output("n_files", "253"),
            "grid": _glue_output("grid", "[[4, 3], [2, 4]]"),
            "word": _glue_output("word", "'quick'")}
    (folder / f"{chapter}.glue.json").write_text(json.dumps(glue), encoding="utf-8")
    report = _cell("code", "env = utils.setup()")
    report["outputs"] = [{"output_type": "stream", "name": "stdout",
                          "text": ["mode        : full\n", "seed        : 42\n",
                                   "commit      : abc1234\n", "date        : 2026-12-01 21:50\n"]}]
    (folder / f"{chapter}.ipynb").write_text(json.dumps({"cells": [report], "metadata": {}}))
    return folder


def _glue_nb():
    return {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        _cell("markdown", "# T\n\n**Learning objectives.** x"),
        _cell("markdown", "Of {glue:text}`n_files` files {glue:text}`pct:.0f` % show a tumour; "
                          "share {glue:text}`share:.3f`, grid {glue:text}`grid`, "
                          "{glue}`word` mode, missing {glue:text}`nope:.2f`."),
        _cell("code", "glue('pct', 61.26)"),
    ]}


def test_format_glued_like_myst_nb():
    assert assignments.format_glued("61.26482213438735", ".0f") == "61"
    assert assignments.format_glued("0.23076923076923142", ".3f") == "0.231"
    assert assignments.format_glued("0.8093", ".1%") == "80.9%"
    assert assignments.format_glued("253", "d") == "253"
    assert assignments.format_glued("1.0", "g") == "1"
    assert assignments.format_glued("'quick'") == "quick"
    assert assignments.format_glued("[[4, 3], [2, 4]]") == "[[4, 3], [2, 4]]"


@pytest.mark.parametrize("given", ["notebooks", "_build", "repo"])
def test_glue_roles_get_the_built_values(tmp_path, given):
    folder = _fake_build(tmp_path / "repo" / "_build" / "jupyter_execute" / "notebooks")
    build = {"notebooks": folder, "_build": tmp_path / "repo" / "_build",
             "repo": tmp_path / "repo"}[given]
    for make in (assignments.student_version, assignments.teacher_version):
        nb = make(_glue_nb(), "07_fake", build=build)
        text = _text(nb)
        assert ("Of 253 files 61 % show a tumour; share 0.231, grid [[4, 3], [2, 4]], quick mode, "
                "missing *[nope]*.") in text
        assert "{glue" not in text
        header = nb["cells"][0]["source"]
        assert "mode `full`" in header and "commit `abc1234`" in header and "2026-12-01" in header
        assert "did not glue all of them" in header  # the one name the build lacks
        assert "glue('pct', 61.26)" in text  # code cells are left alone


def test_glue_roles_without_a_build_become_placeholders(tmp_path):
    nb = assignments.student_version(_glue_nb(), "07_fake", build=tmp_path / "nothing")
    text = _text(nb)
    assert "Of *[n_files]* files *[pct]* % show a tumour; share *[share]*" in text
    assert "{glue" not in text
    header = nb["cells"][0]["source"]
    assert header.count("without an executed book build") == 1
    assert "Learning objectives" in header and "commit" not in header


def test_no_note_when_a_chapter_quotes_no_numbers(tmp_path):
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5,
          "cells": [_cell("markdown", "# T\n\n**Learning objectives.** x")]}
    header = assignments.student_version(nb, "07_fake", build=tmp_path)["cells"][0]["source"]
    assert "book build" not in header and header.endswith("**Learning objectives.** x")


def test_cli_build_option(tmp_path):
    build = _fake_build(tmp_path / "build", chapter="05_evaluation")
    glue = json.loads((build / "05_evaluation.glue.json").read_text())
    glue["n_test"] = _glue_output("n_test", "51")
    source = ROOT / "notebooks" / "05_evaluation.md"
    for name in set(re.findall(r"\{glue(?::text)?\}`([A-Za-z0-9_]+)", source.read_text())) - {"n_test"}:
        glue[name] = _glue_output(name, "61.26482213438735")  # every other value the chapter glues
    (build / "05_evaluation.glue.json").write_text(json.dumps(glue))
    assert assignments.main(["--out", str(tmp_path / "out"), "--build", str(build), str(source)]) == 0
    student = json.loads((tmp_path / "out" / "student" / "05_evaluation.ipynb").read_text())
    text = _text(student)
    assert "{glue" not in text and "*[" not in text and "61 %" in text
    assert "commit `abc1234`" in student["cells"][0]["source"]
