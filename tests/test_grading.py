"""The grader (utils.grading, ``python -m utils.assignments grade``) on made-up submissions."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from utils import assignments, grading
from utils.checks import evaluation as ex


def _cell(kind, text, tags=(), meta=None):
    cell = {"cell_type": kind, "metadata": dict(meta or {}, **({"tags": list(tags)} if tags else {})),
            "source": text}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _chapter(metrics_answer: str, wilson_answer: str, first: str = "x = 1",
             report: str = "My report: the split was grouped.") -> dict:
    """A small chapter in the book's pattern: two exercises of chapter 05 and a lab report."""
    return {"metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5, "cells": [
        _cell("markdown", "# A chapter\n\n**Learning objectives.** none"),
        _cell("code", "from utils.checks import evaluation as ex\nfrom utils import metrics\n" + first),
        _cell("markdown", "```{exercise} Metrics\n:label: ex-05-1\n\nCompute them.\n```"),
        _cell("code", f"c = ex.COUNTS\nanswer = {metrics_answer}\nex.check_metrics(answer)"),
        _cell("markdown", "```{exercise} Wilson\n:label: ex-05-2\n\nThe interval.\n```"),
        _cell("code", f"answer = {wilson_answer}\nprint(ex.check_wilson(answer))"),
        _cell("markdown", report, tags=["report"]),
    ]}


RIGHT = ('{"precision": c["tp"] / (c["tp"] + c["fp"]), "recall": c["tp"] / (c["tp"] + c["fn"]), '
         '"specificity": c["tn"] / (c["tn"] + c["fp"])}')


def _write(path: Path, nb: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")


def test_feedback_names_its_check_and_shows_it_in_the_metadata():
    fb = ex.check_wilson((0.1, 0.2))
    data, meta = fb._repr_mimebundle_()
    assert fb.check == "evaluation.check_wilson" and not fb.ok
    assert data["text/markdown"].startswith("**Not yet.**")
    assert meta["dlbi_check"] == {"check": "evaluation.check_wilson", "ok": False, "answered": True}
    assert ex.check_wilson(...)._repr_mimebundle_()[1]["dlbi_check"]["answered"] is False


def test_cell_verdicts_reads_shown_and_printed_verdicts():
    shown = {"cell_type": "code", "source": "ex.check_a(1)", "outputs": [
        {"output_type": "execute_result", "metadata": {"dlbi_check": {"check": "m.check_a", "ok": True}},
         "data": {"text/plain": "Correct. Well done."}}]}
    printed = {"cell_type": "code", "source": "print(ex.check_b(2))", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "Not yet. No answer yet: replace it.\n"}]}
    assert grading.cell_verdicts(shown) == [("m.check_a", True, True, "Correct. Well done.")]
    [(name, ok, answered, _)] = grading.cell_verdicts(printed)
    assert (name, ok, answered) == ("ex.check_b", False, False)


def test_a_printed_correct_without_a_printed_check_is_no_verdict():
    def cell(source, text):
        return {"cell_type": "code", "source": source,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}
    assert grading.cell_verdicts(cell('answer = 1\nprint("Correct.")', "Correct.\n")) == []
    forged = cell('ex.check_b(2)\nprint("Correct. Well done.")', "Correct. Well done.\n")
    assert grading.cell_verdicts(forged) == []   # the check's own (shown) verdict is the one
    two = cell("print(ex.check_a(1))\nprint('Correct.')", "Not yet. Wrong.\nCorrect.\n")
    [(name, ok, _, _)] = grading.cell_verdicts(two)   # one printed check, one verdict
    assert (name, ok) == ("ex.check_a", False)


def test_grade_three_submissions_right_wrong_and_crashing(tmp_path):
    subs = tmp_path / "subs"
    _write(subs / "alice" / "05_evaluation.ipynb", _chapter(RIGHT, "metrics.wilson_ci(45, 60)"))
    _write(subs / "alice" / "04_pooling_cnn.ipynb", _chapter(RIGHT, "metrics.wilson_ci(45, 60)"))
    # bob: precision and recall swapped, the Wald interval, the 04 notebook not handed in
    _write(subs / "bob" / "05_evaluation.ipynb",
           _chapter(RIGHT.replace('"precision"', '"tmp"').replace('"recall"', '"precision"')
                    .replace('"tmp"', '"recall"'), "metrics.wald_ci(45, 60)", report=""))
    # carol: her answer to exercise 1 raises, exercise 2 is left unanswered; her second
    # notebook is not JSON
    _write(subs / "carol" / "05_evaluation.ipynb",
           _chapter("carol_broke_it()", "..."))
    (subs / "carol" / "04_pooling_cnn.ipynb").write_text("{not a notebook", encoding="utf-8")
    out = tmp_path / "grades" / "grades.csv"
    rc = assignments.main(["grade", str(subs), "--out", str(out), "--timeout", "120"])
    assert rc == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    by = {(r["student"], r["notebook"], r["exercise"]): r for r in rows}

    assert by[("alice", "05_evaluation", "ex-05-1")]["verdict"] == "correct"
    assert by[("alice", "05_evaluation", "ex-05-2")]["verdict"] == "correct"
    assert by[("alice", "05_evaluation", "ex-05-2")]["status"] == "ok"
    assert by[("alice", "", "TOTAL")]["verdict"] == "4/4"

    assert by[("bob", "05_evaluation", "ex-05-1")]["verdict"] == "not yet"
    assert "swapped" in by[("bob", "05_evaluation", "ex-05-1")]["messages"]
    assert "Wald" in by[("bob", "05_evaluation", "ex-05-2")]["messages"]
    assert by[("bob", "04_pooling_cnn", "")]["verdict"] == "missing"
    assert by[("bob", "", "TOTAL")]["verdict"] == "0/2"

    carol = by[("carol", "05_evaluation", "ex-05-1")]
    assert carol["verdict"] == "not run" and carol["status"] == "errors"
    assert "NameError" in carol["error"] and "carol_broke_it" in carol["error"]
    assert by[("carol", "05_evaluation", "ex-05-2")]["verdict"] == "not answered"
    assert by[("carol", "04_pooling_cnn", "")]["verdict"] == "unreadable"
    assert by[("carol", "", "TOTAL")]["verdict"] == "0/2"
    assert float(by[("alice", "", "TOTAL")]["seconds"]) > 0

    reports = out.parent / "reports"
    assert "the split was grouped" in (reports / "alice.md").read_text(encoding="utf-8")
    assert not (reports / "bob.md").exists() or "grouped" not in (reports / "bob.md").read_text()


def test_a_notebook_past_its_time_limit_gets_a_timeout_row(tmp_path):
    nb = _chapter(RIGHT, "metrics.wilson_ci(45, 60)", first="import time; time.sleep(60)")
    _write(tmp_path / "subs" / "dave.ipynb", nb)
    rows = grading.grade(tmp_path / "subs", tmp_path / "g.csv", timeout=8, log=lambda *_: None)
    dave = [r for r in rows if r["exercise"] != "TOTAL"]
    assert {r["status"] for r in dave} == {"timeout"}
    assert all(r["verdict"] == "not run" for r in dave) and float(dave[0]["seconds"]) < 30


def test_student_export_marks_exercises_for_the_grader():
    nb = _chapter(RIGHT, "...")
    student = assignments.student_version(nb, "05_evaluation", numbers={"ex-05-1": 7, "ex-05-2": 8})
    marked = [c["metadata"].get("exercise") for c in student["cells"] if c["cell_type"] == "markdown"]
    assert "ex-05-1" in marked and "ex-05-2" in marked
    assert any("**Exercise 7: Metrics**" in grading._source(c) for c in student["cells"])


def test_the_capstone_template_exports_and_grades(tmp_path, mirror, monkeypatch):
    """The student version of the capstone runs, and the grader reads its checks as unanswered
    (the real mirror, the usual cache: the kernel reads the environment of this process)."""
    monkeypatch.setenv("DLBI_DATA_MIRROR", str(mirror))
    nb = assignments.read(assignments.ROOT / "notebooks" / "90_capstone.md")
    student = assignments.student_version(nb, "90_capstone")
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student["cells"])
    _write(tmp_path / "subs" / "erin" / "90_capstone.ipynb", student)
    rows = grading.grade(tmp_path / "subs", tmp_path / "g.csv", timeout=300, log=lambda *_: None)
    [row] = [r for r in rows if r["exercise"] == "capstone"]
    assert row["status"] == "ok", row["error"]
    assert row["verdict"] in ("not answered", "not yet") and int(row["checks"]) == 5
    assert "check_locked_once" in row["messages"] and "check_model_card" in row["messages"]
