"""Collect and grade submitted student notebooks.

    python -m utils.assignments grade SUBMISSIONS_DIR --out grades.csv [--timeout 600]

``SUBMISSIONS_DIR`` holds one folder per student with the notebooks they handed in
(``alice/05_evaluation.ipynb``, ...); a notebook lying directly in it counts as the submission of
a student named after the file (``alice.ipynb``).  Each notebook is executed in a fresh kernel
in quick mode (``DLBI_MODE=quick``, the repository on ``PYTHONPATH``, a scratch working folder)
with a time limit for the whole notebook; a cell that raises does not stop it (the later
exercises are still graded), a time-out or a dead kernel ends it.

Every check a student calls shows a :class:`utils.exercises.Feedback`, whose output carries the
check's name and verdict in its metadata (``dlbi_check``); a verdict printed with ``print`` is
read from its text ("Correct." / "Not yet.") and named after the check called in that cell.  A
check's verdict is the last one it showed.  The exercise (or lab) a check belongs to is the one
whose statement precedes its cell: a ``{exercise}`` directive in a chapter notebook, the
``exercise`` metadata or the "**Exercise N: ...**" heading in a student export.

The CSV has one row per student, notebook and exercise (``verdict``: ``correct``, ``not yet``,
``not answered``, ``not run`` when no check of it showed a verdict), one row per student and
notebook when the notebook could not be graded (``missing``, ``unreadable``), and one ``TOTAL``
row per student.  Every row names the notebook's run status (``ok``, ``errors`` when a cell
raised, ``timeout``, ``crashed``), its first error and its run time.  The Markdown cells tagged
``report`` (the labs' report cells, Markdown or code) are collected into ``<out folder>/reports/<student>.md`` for
the rubric.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import METADATA_KEY
from .skeleton import ROOT

#: A verdict line in printed text: "Correct. ...", "Not yet. ..." (or the Markdown form).
VERDICT_LINE = re.compile(r"^\s*(?:\*\*)?(?P<verdict>Correct|Not yet)\.(?:\*\*)?\s*(?P<message>.*)$", re.M)
#: A call of a check in a cell's source: ``ex.check_metrics(`` or ``check_metrics(``.
CHECK_CALL = re.compile(r"\b(?:(?P<module>\w+)\.)?(?P<name>check_\w+)\s*\(")
#: A check whose verdict the cell prints: ``print(ex.check_metrics(...))``.
PRINTED_CHECK = re.compile(r"\bprint\(\s*(?:(?P<module>\w+)\.)?(?P<name>check_\w+)\s*\(")
EXERCISE_LABEL = re.compile(r"^(?:`{3,}|:{3,})\{exercise\}.*\n(?::[\w-]+:.*\n)*?:label:\s*(?P<label>\S+)",
                            re.M)
EXERCISE_HEADING = re.compile(r"^\*\*Exercise (?P<number>\d+)(?::[^*]*)?\*\*", re.M)
REPORT_TAG = "report"
FIELDS = ["student", "notebook", "exercise", "verdict", "checks", "correct", "messages",
          "status", "error", "seconds"]


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


# ---------------------------------------------------------------- running

@dataclass
class Run:
    """One executed notebook: the notebook with its outputs, how the run ended, its time."""
    nb: dict | None
    status: str            # ok, errors, timeout, crashed, unreadable
    error: str = ""
    seconds: float = 0.0


def _first_error(nb: dict) -> str:
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") == "error":
                return f"cell {i}: {out.get('ename', 'Error')}: {_text(out.get('evalue'))[:200]}"
    return ""


def run_notebook(path: Path | str, timeout: float = 600, mode: str = "quick",
                 kernel: str = "python3") -> Run:
    """Execute the notebook at ``path`` in a fresh kernel (mode ``mode``, the repository on
    ``PYTHONPATH``, a scratch working folder) within ``timeout`` seconds in all; never raises."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path, start = Path(path), time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, not a notebook
        return Run(None, "unreadable", f"{type(err).__name__}: {err}"[:300])
    env = dict(os.environ, DLBI_MODE=mode,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.pop("DLBI_AUDIT_LOG", None)
    scratch = Path(tempfile.mkdtemp(prefix="dlbi-grade-"))

    def remaining(cell) -> int:  # the notebook's time limit, shared by its cells
        return max(1, int(timeout - (time.monotonic() - start)))

    client = NotebookClient(nb, timeout=int(timeout), timeout_func=remaining, allow_errors=True,
                            kernel_name=kernel, resources={"metadata": {"path": str(scratch)}})
    status, error = "ok", ""
    try:
        client.execute(env=env, cwd=str(scratch))
    except CellTimeoutError:
        status, error = "timeout", f"stopped after the time limit of {timeout:g} s"
    except DeadKernelError as err:
        status, error = "crashed", f"the kernel died: {err}"[:300]
    except Exception as err:  # a broken kernel spec, a notebook nbclient cannot run
        status, error = "crashed", f"{type(err).__name__}: {err}"[:300]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    nb = json.loads(nbformat.writes(nb))
    if status == "ok":
        error = _first_error(nb)
        status = "errors" if error else "ok"
    else:
        error = "; ".join(e for e in (error, _first_error(nb)) if e)
    return Run(nb, status, error, round(time.monotonic() - start, 1))


# ---------------------------------------------------------------- reading verdicts

@dataclass
class Exercise:
    label: str
    verdicts: dict = field(default_factory=dict)   # check -> (ok, answered, message), last shown


def _labels_by_number() -> dict[int, str]:
    from .assignments import exercise_numbers

    try:
        return {n: label for label, n in exercise_numbers().items()}
    except Exception:  # no _toc.yml: number the exercises as "Exercise N"
        return {}


def exercise_of(cell: dict, numbers: dict[int, str]) -> str | None:
    """The label of the exercise whose statement is in this Markdown cell, or None."""
    meta = cell.get("metadata", {}).get("exercise")
    if meta:
        return meta
    text = _source(cell)
    if m := EXERCISE_LABEL.search(text):
        return m["label"]
    if m := EXERCISE_HEADING.search(text):
        return numbers.get(int(m["number"]), f"Exercise {m['number']}")
    return None


def cell_verdicts(cell: dict) -> list[tuple[str, bool, bool, str]]:
    """``(check, ok, answered, message)`` for every verdict a code cell showed, in order."""
    source = _source(cell)
    calls = [f"{m['module'] + '.' if m['module'] else ''}{m['name']}"
             for m in CHECK_CALL.finditer(source)]
    fallback = calls[-1] if calls else "check"
    # a printed verdict counts only as the output of a printed check call, one line per call,
    # in order: a line "Correct." that the student's code prints by itself is not a verdict
    printed = [f"{m['module'] + '.' if m['module'] else ''}{m['name']}"
               for m in PRINTED_CHECK.finditer(source)]
    found = []
    for out in cell.get("outputs", []):
        meta = out.get("metadata", {}).get(METADATA_KEY)
        if meta:
            message = _text(out.get("data", {}).get("text/plain"))
            found.append((meta.get("check") or fallback, bool(meta.get("ok")),
                          bool(meta.get("answered", True)), message))
            continue
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            for m in VERDICT_LINE.finditer(_text(out.get("text"))):
                if not printed:
                    break
                line = m.group(0).strip()
                found.append((printed.pop(0), m["verdict"] == "Correct",
                              not m["message"].startswith("No answer yet"), line))
    # a check named by its chapter module ("evaluation.check_x") and by the cell's alias
    # ("ex.check_x") is one check: name printed verdicts like the shown ones
    shown = {c.rsplit(".", 1)[-1]: c for c, *_ in found if "." in c}
    return [(shown.get(c.rsplit(".", 1)[-1], c), ok, ans, msg) for c, ok, ans, msg in found]


def exercises_in(nb: dict) -> list[Exercise]:
    """The exercises of an executed notebook, each with the last verdict of each of its checks."""
    numbers, found, current = _labels_by_number(), {}, None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            label = exercise_of(cell, numbers)
            if label:
                current = found.setdefault(label, Exercise(label))
            continue
        if cell.get("cell_type") != "code" or "solution" in cell.get("metadata", {}).get("tags", []):
            continue  # a teacher's solution is not the student's answer
        for check, ok, answered, message in cell_verdicts(cell):
            target = current or found.setdefault("(outside exercises)", Exercise("(outside exercises)"))
            target.verdicts[check] = (ok, answered, message)
    return list(found.values())


def verdict(ex: Exercise) -> str:
    """``correct``, ``not yet``, ``not answered`` or ``not run`` for one exercise."""
    if not ex.verdicts:
        return "not run"
    if all(ok for ok, _, _ in ex.verdicts.values()):
        return "correct"
    if not any(answered for _, answered, _ in ex.verdicts.values()):
        return "not answered"
    return "not yet"


def report_cells(nb: dict) -> list[tuple[str, str]]:
    """``(exercise label, text)`` of every cell tagged ``report``: a Markdown cell's text, or a
    code cell's source (a lab's ``report = "..."`` cell)."""
    numbers, current, out = _labels_by_number(), "", []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            current = exercise_of(cell, numbers) or current
        if REPORT_TAG in cell.get("metadata", {}).get("tags", []):
            out.append((current, _source(cell).strip()))
    return out


# ---------------------------------------------------------------- grading a folder

def submissions(folder: Path | str) -> dict[str, dict[str, Path]]:
    """``{student: {notebook name: path}}`` of a submissions folder (see the module docstring)."""
    folder, out = Path(folder), {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            out[entry.name] = {p.stem: p for p in sorted(entry.glob("*.ipynb"))
                               if not p.name.startswith(".")}
        elif entry.suffix == ".ipynb":
            out.setdefault(entry.stem, {})[entry.stem] = entry
    return out


def grade_notebook(student: str, name: str, path: Path, timeout: float,
                   mode: str = "quick") -> tuple[list[dict], list[tuple[str, str]]]:
    """The CSV rows of one submitted notebook and its report cells."""
    run = run_notebook(path, timeout=timeout, mode=mode)
    base = {"student": student, "notebook": name, "status": run.status, "error": run.error,
            "seconds": run.seconds}
    if run.nb is None:
        return [dict(base, exercise="", verdict=run.status, checks=0, correct=0, messages="")], []
    rows = []
    for ex in exercises_in(run.nb):
        rows.append(dict(base, exercise=ex.label, verdict=verdict(ex), checks=len(ex.verdicts),
                         correct=sum(ok for ok, _, _ in ex.verdicts.values()),
                         messages=" | ".join(f"{c}: {m}"[:300] for c, (_, _, m) in ex.verdicts.items())))
    if not rows:  # nothing to grade in it: say so rather than leave the notebook out
        rows.append(dict(base, exercise="", verdict="no exercises", checks=0, correct=0, messages=""))
    return rows, report_cells(run.nb)


def grade(folder: Path | str, out: Path | str = "grades.csv", timeout: float = 600,
          expect: list[str] | None = None, mode: str = "quick", log=print) -> list[dict]:
    """Grade every submission in ``folder``; write the CSV ``out`` and the report files; return
    the rows.  ``expect``: the notebook names every student should hand in (default: every name
    that some student handed in)."""
    found = submissions(folder)
    expected = sorted(set(expect or []) | {n for books in found.values() for n in books
                                           if not expect})
    out = Path(out)
    reports = out.parent / "reports"
    rows = []
    for student, books in found.items():
        student_rows, texts = [], []
        names = expected if all(n in expected for n in books) else sorted(set(expected) | set(books))
        for name in names:
            if name not in books:
                student_rows.append({"student": student, "notebook": name, "exercise": "",
                                     "verdict": "missing", "checks": 0, "correct": 0,
                                     "messages": "", "status": "missing",
                                     "error": "no such notebook handed in", "seconds": 0})
                continue
            log(f"grading {student}/{name} ...")
            nb_rows, nb_reports = grade_notebook(student, name, books[name], timeout, mode)
            student_rows += nb_rows
            texts += [(name, label, text) for label, text in nb_reports]
        graded = [r for r in student_rows if r["exercise"] and r["exercise"] != "(outside exercises)"]
        per_notebook = {r["notebook"]: r for r in student_rows}  # one run per notebook
        student_rows.append({
            "student": student, "notebook": "", "exercise": "TOTAL",
            "verdict": f"{sum(r['verdict'] == 'correct' for r in graded)}/{len(graded)}",
            "checks": sum(int(r["checks"]) for r in student_rows),
            "correct": sum(int(r["correct"]) for r in student_rows),
            "messages": "", "status": ",".join(sorted({r["status"] for r in student_rows})),
            "error": "; ".join(f"{n}: {r['error']}" for n, r in per_notebook.items() if r["error"])[:500],
            "seconds": round(sum(float(r["seconds"]) for r in per_notebook.values()), 1)})
        rows += student_rows
        if texts:
            reports.mkdir(parents=True, exist_ok=True)
            body = "\n\n".join(f"## {name}: {label or 'report'}\n\n{text}" for name, label, text in texts)
            (reports / f"{student}.md").write_text(f"# Lab reports of {student}\n\n{body}\n",
                                                   encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m utils.assignments grade",
                                     description="Execute and grade submitted student notebooks.")
    parser.add_argument("submissions", type=Path, help="one folder per student with their notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds each notebook may run in all (default 600)")
    parser.add_argument("--expect", nargs="*", default=None,
                        help="notebook names every student should hand in (default: all handed in)")
    parser.add_argument("--mode", default="quick", choices=["quick", "full"])
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    rows = grade(args.submissions, args.out, args.timeout, args.expect, args.mode)
    totals = [r for r in rows if r["exercise"] == "TOTAL"]
    print(f"graded {len(totals)} students: {args.out}" +
          "".join(f"\n  {r['student']}: {r['verdict']} exercises correct ({r['status']})" for r in totals))
    return 0
