"""Turn the book's chapters into classroom assignments.

    python -m utils.assignments [--out assignments] [--build FOLDER] [notebooks/NN_name.md ...]
    python -m utils.assignments grade SUBMISSIONS_DIR --out grades.csv   (see utils.grading)

writes, for every chapter (default: every ``notebooks/NN_name.md``; an ``.ipynb`` works too),

- ``<out>/student/NN_name.ipynb``: solutions removed (every gated solution, from its
  ``{solution-start}`` cell to its ``{solution-end}`` cell, the code cells tagged ``solution``,
  and any ``{solution}`` or ``{admonition} Solution`` block), exercise statements and checks kept,
  outputs stripped, and a header naming the chapter and its learning objectives;
- ``<out>/teacher/NN_name.ipynb``: the same header, solutions kept.

A student notebook runs top to bottom as handed out: each check answers "No answer yet" on the
``...`` placeholder instead of failing, so a student can work through the exercises in order.

The exports are read in Colab or Jupyter, which show MyST's directives and roles as raw text, so
the Markdown cells are rewritten into plain Markdown:

- each ``{exercise}`` directive becomes a bold heading, ``**Exercise 31: Title**``, followed by
  its statement. The number is the one the rendered book shows: sphinx-exercise numbers the
  exercises book-wide, in ``_toc.yml`` order and in each chapter's order
  (:func:`exercise_numbers`, the one place that computes it). ``{numref}`ex-08-1``` becomes
  "Exercise 31" (``{numref}`text %s <label>``` fills the number into the text);
- in the teacher version ``{solution-start} <label>`` becomes "**Solution to Exercise 31**" and
  ``{solution-end}`` a horizontal rule;
- glue roles, ``{glue:text}`name:spec``` and ``{glue}`name```, become the value the book build
  computed, formatted like MyST-NB does it (the stored ``text/plain`` repr is read back as a
  Python literal and formatted with ``format(value, spec)``), read from the executed build's
  ``NN_name.glue.json`` (default ``_build/jupyter_execute/notebooks/``, ``--build`` points
  elsewhere: that folder, or a ``_build`` folder or a folder holding ``_build``). The header
  then names the build the numbers come from (mode, commit and date of its environment report).
  Without a build (or for a name the build did not glue) a role becomes its name in italics in
  brackets, ``*[n_test]*``, and the header says once that these are numbers the chapter computes
  and that running the notebook prints them; a placeholder reads better than a raw role and
  cannot be mistaken for a number.

Other roles (``{cite}``, ``{doc}``) are left as they are.
"""
from __future__ import annotations

import argparse
import ast
import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .prose import format_glued
from .skeleton import ROOT, chapter_sources, is_page, read, strip_outputs

SOLUTION_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})(\{admonition\}\s*Solution\b|\{solution\}).*$",
                           re.IGNORECASE)


TOC = ROOT / "_toc.yml"
BUILD = ROOT / "_build" / "jupyter_execute" / "notebooks"
EXERCISE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{exercise\}\s*(?P<arg>.*?)\s*$")
SOLUTION_START_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution-start\}\s*(?P<arg>.*?)\s*$")
SOLUTION_END_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution-end\}\s*(?P<arg>.*?)\s*$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
NUMREF = re.compile(r"\{numref\}`(?P<text>[^`]+)`")
GLUE = re.compile(r"\{glue(?::(?P<kind>text|any|md))?\}`(?P<key>[^`]+)`")
REPORT_LINE = re.compile(r"^(?P<key>mode|commit|date)\s*:\s*(?P<value>\S.*?)\s*$", re.M)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


# ---------------------------------------------------------------- exercise numbers

def _toc_files(entries) -> list[str]:
    """The ``file:`` entries of a ``_toc.yml`` subtree, in reading order."""
    files = []
    for entry in entries or []:
        if isinstance(entry, dict):
            if entry.get("file"):
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                files += _toc_files(entry.get(key))
    return files


def toc_files(toc: Path | str = TOC) -> list[Path]:
    """The book's pages in ``_toc.yml`` order (root first), as existing source paths."""
    import yaml

    toc = Path(toc)
    cfg = yaml.safe_load(toc.read_text(encoding="utf-8"))
    names = ([cfg["root"]] if cfg.get("root") else []) + _toc_files([cfg])
    paths = []
    for name in names:
        base = toc.parent / name
        found = [base.with_suffix(ext) for ext in (".md", ".ipynb") if base.with_suffix(ext).exists()]
        if base.suffix in (".md", ".ipynb") and base.exists():
            found = [base]
        if found:
            paths.append(found[0])
    return paths


def _exercise_labels(markdown: str) -> list[str]:
    """Labels of the numbered ``{exercise}`` directives in ``markdown``, in order."""
    labels, lines = [], markdown.split("\n")
    for i, line in enumerate(lines):
        if not EXERCISE_OPEN.match(line.strip()):
            continue
        options = {}
        for opt in lines[i + 1:]:
            m = OPTION.match(opt.strip())
            if not m:
                break
            options[m["key"]] = m["value"]
        if "nonumber" not in options:
            labels.append(options.get("label", f"<unlabelled exercise {len(labels) + 1}>"))
    return labels


@functools.lru_cache(maxsize=None)
def _exercise_numbers(toc: str) -> tuple[tuple[str, int], ...]:
    numbers, n = [], 0
    for path in toc_files(toc):
        # a MyST .md is read as text (the directives sit in its Markdown; jupytext is slow)
        cells = ([path.read_text(encoding="utf-8")] if path.suffix == ".md" else
                 [_source(c) for c in read(path)["cells"] if c["cell_type"] == "markdown"])
        for cell in cells:
            for label in _exercise_labels(cell):
                n += 1
                numbers.append((label, n))
    return tuple(numbers)


def exercise_numbers(toc: Path | str = TOC) -> dict[str, int]:
    """``{label: number}`` of every exercise, numbered as the rendered book numbers them.

    sphinx-exercise numbers exercises book-wide: 1, 2, ... through the pages in ``_toc.yml``
    order and, in each page, in the order they appear (an exercise with ``:nonumber:`` gets no
    number and does not count).
    """
    return dict(_exercise_numbers(str(Path(toc).resolve())))


# ---------------------------------------------------------------- plain Markdown

def _rewrite_directive(markdown: str, opener: re.Pattern, make) -> str:
    """Replace each directive that ``opener`` matches by ``make(arg, options, body)`` (drop it
    when ``make`` returns None)."""
    out, lines, i = [], markdown.split("\n"), 0
    while i < len(lines):
        m = opener.match(lines[i].strip())
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence, options, j = m["fence"], {}, i + 1
        while j < len(lines) and (o := OPTION.match(lines[j].strip())) and lines[j].strip() != fence:
            options[o["key"]] = o["value"]
            j += 1
        body = []
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j])
            j += 1
        replacement = make(m.groupdict().get("arg"), options, "\n".join(body).strip("\n"))
        if replacement is not None:
            out.append(replacement)
        i = j + 1  # past the closing fence (or the end if it is missing)
    return "\n".join(out)


def _exercise_name(label: str | None, numbers: dict[str, int]) -> str:
    return f"Exercise {numbers[label]}" if label in numbers else "Exercise"


def rewrite_exercises(markdown: str, numbers: dict[str, int] | None = None) -> str:
    """``{exercise}`` directives as a bold heading and their statement; ``{numref}`` roles to
    exercises as "Exercise N"; ``{solution-start}``/``{solution-end}`` markers as a bold
    "Solution to Exercise N" and a rule. ``numbers``: :func:`exercise_numbers` by default."""
    numbers = exercise_numbers() if numbers is None else numbers

    def exercise(arg, options, body):
        name = _exercise_name(options.get("label"), numbers)
        head = f"**{name}: {arg}**" if arg else f"**{name}**"
        return f"{head}\n\n{body}" if body else head

    def solution_start(arg, options, body):
        head = f"**Solution to {_exercise_name(arg, numbers)}**"
        return f"{head}\n\n{body}" if body else head

    def solution_end(arg, options, body):
        return "***"

    def numref(m):
        text = m["text"]
        explicit = re.fullmatch(r"(?P<title>.*?)\s*<(?P<label>[^<>]+)>", text, re.S)
        label = explicit["label"] if explicit else text.strip()
        number = numbers.get(label)
        if explicit:
            title = explicit["title"]
            return title.replace("%s", str(number) if number else "").replace(
                "{number}", str(number) if number else "").strip()
        return f"Exercise {number}" if number else f"*{label}*"

    markdown = _rewrite_directive(markdown, EXERCISE_OPEN, exercise)
    markdown = _rewrite_directive(markdown, SOLUTION_START_OPEN, solution_start)
    markdown = _rewrite_directive(markdown, SOLUTION_END_OPEN, solution_end)
    return NUMREF.sub(numref, markdown)


# ---------------------------------------------------------------- glued numbers

@dataclass
class Build:
    """What an executed book build glued for one chapter."""
    folder: Path
    values: dict = field(default_factory=dict)  # name -> mimebundle ("data" of the output)
    mode: str = ""
    commit: str = ""
    date: str = ""

    def describe(self) -> str:
        parts = [f"mode `{self.mode}`" if self.mode else "",
                 f"commit `{self.commit}`" if self.commit else "",
                 f"run {self.date}" if self.date else ""]
        what = ", ".join(p for p in parts if p)
        return f"the book build in `{self.folder}`" + (f" ({what})" if what else "")


def build_folder(build: Path | str | None = None) -> Path:
    """The folder holding the executed chapters (``NN_name.glue.json``, ``NN_name.ipynb``):
    ``build`` itself, or its ``jupyter_execute/notebooks`` or ``_build/jupyter_execute/notebooks``
    (default: the repository's ``_build``)."""
    if build is None:
        return BUILD
    build = Path(build)
    for folder in (build, build / "notebooks", build / "jupyter_execute" / "notebooks",
                   build / "_build" / "jupyter_execute" / "notebooks"):
        if any(folder.glob("*.glue.json")) or any(folder.glob("*.ipynb")):
            return folder
    return build


def load_build(chapter: str, build: Path | str | None = None) -> Build | None:
    """The glued values of ``chapter`` (``NN_name``) in the executed build, with the mode, commit
    and date of the executed notebook's environment report; None without a ``.glue.json``."""
    folder = build_folder(build)
    glue_file = folder / f"{chapter}.glue.json"
    if not chapter or not glue_file.exists():
        return None
    raw = json.loads(glue_file.read_text(encoding="utf-8"))
    values = {name: out.get("data", {}) for name, out in raw.items() if isinstance(out, dict)}
    found = Build(folder.resolve(), values)
    executed = folder / f"{chapter}.ipynb"
    if executed.exists():
        try:
            nb = json.loads(executed.read_text(encoding="utf-8"))
        except ValueError:
            nb = {"cells": []}
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
                text = out.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                for m in REPORT_LINE.finditer(text):
                    if not getattr(found, m["key"]):
                        setattr(found, m["key"], m["value"])
            if found.mode and found.commit:
                break
    return found


def placeholder(name: str) -> str:
    """What a glue role becomes when no build glued ``name``."""
    return f"*[{name}]*"


def paste_glue(markdown: str, build: Build | None) -> tuple[str, int, int]:
    """``markdown`` with each glue role replaced by its value from ``build`` (or by
    :func:`placeholder`); also return how many roles got a value and how many a placeholder."""
    pasted = missing = 0

    def paste(m):
        nonlocal pasted, missing
        key, spec = m["key"], ""
        if m["kind"] == "text" and ":" in key:
            key, spec = key.rsplit(":", 1)
        data = build.values.get(key, {}) if build else {}
        text = data.get("text/markdown") if m["kind"] == "md" else None
        text = text if text is not None else data.get("text/plain")
        if text is None:
            missing += 1
            return placeholder(key)
        text = "".join(text) if isinstance(text, list) else text
        try:
            value = format_glued(text, spec) if m["kind"] != "md" else text
        except (ValueError, TypeError):
            missing += 1
            return placeholder(key)
        pasted += 1
        return value

    return GLUE.sub(paste, markdown), pasted, missing


def make_readable(nb: dict, chapter: str, build: Path | str | None = None,
                  numbers: dict[str, int] | None = None) -> tuple[dict, str]:
    """Rewrite ``nb``'s Markdown cells in place into plain Markdown (exercises, numrefs, solution
    markers, glued numbers); return it and a note on where the numbers come from ("" if the
    chapter quotes none)."""
    numbers = exercise_numbers() if numbers is None else numbers
    found = load_build(chapter, build)
    pasted = missing = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        labels = _exercise_labels(_source(cell))
        if labels:  # the grader (utils.grading) finds the exercise by its label
            cell.setdefault("metadata", {})["exercise"] = labels[-1]
        text, p, m = paste_glue(rewrite_exercises(_source(cell), numbers), found)
        cell["source"], pasted, missing = text, pasted + p, missing + m
    note = ""
    if pasted:
        note = f"The numbers in the text come from {found.describe()}."
    if missing:
        note += (" " if note else "") + (
            f"Where the book's text quotes a number the chapter computes, this version shows its "
            f"name in brackets, like {placeholder('n_test')}: it was exported "
            + ("without an executed book build" if found is None else
               "from a build that did not glue all of them")
            + ". Run the notebook to see the values in the cells' printouts.")
    return nb, note


def remove_solution_blocks(markdown: str) -> str:
    """Drop every ``{solution}`` and ``{admonition} Solution`` directive block (its fence and all
    it contains)."""
    text = _rewrite_directive(markdown, SOLUTION_OPEN, lambda arg, options, body: None)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def title_and_objectives(nb: dict) -> tuple[str, str]:
    """The chapter title (first '# ' line) and its learning-objectives paragraph and list."""
    first = _source(nb["cells"][0])
    title = next((l[2:].strip() for l in first.splitlines() if l.startswith("# ")), "Chapter")
    idx = first.lower().find("**learning objectives")
    objectives = first[idx:].strip() if idx >= 0 else ""
    return title, objectives


def _exercise_range(nb: dict, numbers: dict[str, int]) -> str:
    found = sorted(numbers[label] for c in nb["cells"] if c["cell_type"] == "markdown"
                   for label in _exercise_labels(_source(c)) if label in numbers)
    if not found:
        return ""
    which = (f"Exercise {found[0]}" if len(found) == 1 else f"Exercises {found[0]}-{found[-1]}")
    return f" {which}, numbered as in the book."


def _header(nb: dict, chapter: str, teacher: bool,
            numbers: dict[str, int] | None = None) -> dict:
    """The assignment's first cell, from the chapter's (not yet rewritten) cells."""
    title, objectives = title_and_objectives(nb)
    who = ("Teacher version: the solutions are included, each after its exercise." if teacher else
           "Student version. Work through the chapter, then answer each exercise: replace the "
           "`...` in the answer cell and run it; the check below it says whether the answer is "
           "right and, if not, why. Solutions are not included.")
    numbers = exercise_numbers() if numbers is None else numbers
    text = (f"# Assignment: {title}\n\n*Chapter `{chapter}` of* Deep Learning for Biomedical "
            f"Imaging. {who}{_exercise_range(nb, numbers)}\n\n{objectives}")
    return {"cell_type": "markdown", "metadata": {"tags": ["assignment-header"]}, "source": text,
            **({"id": "assignment-header"} if "id" in nb["cells"][0] else {})}


def _finish(nb: dict, header: dict, chapter: str, build, numbers) -> dict:
    """Put ``header`` first, rewrite every Markdown cell, add the note on the numbers."""
    nb["cells"] = [header] + nb["cells"]
    nb, note = make_readable(nb, chapter, build, numbers)
    if note:
        paragraphs = header["source"].split("\n\n", 2)  # title, who, objectives
        header["source"] = "\n\n".join(p for p in paragraphs[:2] + [note] + paragraphs[2:] if p)
    return strip_outputs(nb)


def _outside_gated(markdown: str, gated: bool) -> tuple[str, bool]:
    """The lines of ``markdown`` outside gated solutions, and whether the cell ends inside one.

    ``gated`` says whether the cell starts inside a gated solution. A ``{solution-start}`` fence
    opens one and the ``{solution-end}`` directive (its fence and closing fence) ends it, wherever
    they are in the cell: text after the end, such as the next exercise in the same Markdown
    cell, is kept.
    """
    kept, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if not gated and SOLUTION_START_OPEN.match(line):
            gated = True
        elif gated and (end := SOLUTION_END_OPEN.match(line)):
            fence = end.group("fence")
            i += 1
            while i < len(lines) and lines[i].strip() != fence:  # the directive's own lines
                i += 1
            gated = False
        elif not gated:
            kept.append(line)
        i += 1
    return "\n".join(kept), gated


def student_version(nb: dict, chapter: str = "", build: Path | str | None = None,
                    numbers: dict[str, int] | None = None) -> dict:
    """A copy of ``nb`` without solutions, in plain Markdown, with the assignment header.
    ``build``: the executed build to take glued numbers from (:func:`build_folder`);
    ``numbers``: exercise numbers (default :func:`exercise_numbers`)."""
    nb = copy.deepcopy(nb)
    cells, gated = [], False
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            if gated or "solution" in cell.get("metadata", {}).get("tags", []):
                continue  # inside a gated solution, or a solution cell
        else:
            text, gated = _outside_gated(_source(cell), gated)
            text = remove_solution_blocks(text)
            if not text.strip():
                continue
            cell["source"] = text
        cells.append(cell)
    header = _header(nb, chapter, teacher=False, numbers=numbers)
    nb["cells"] = cells
    return _finish(nb, header, chapter, build, numbers)


def teacher_version(nb: dict, chapter: str = "", build: Path | str | None = None,
                    numbers: dict[str, int] | None = None) -> dict:
    """A copy of ``nb`` with solutions, in plain Markdown, with the assignment header."""
    nb = copy.deepcopy(nb)
    return _finish(nb, _header(nb, chapter, teacher=True, numbers=numbers), chapter, build, numbers)


def write_assignments(notebooks=None, out: Path | str = ROOT / "assignments",
                      build: Path | str | None = None) -> list[Path]:
    """Write student and teacher versions of ``notebooks`` under ``out`` (glued numbers from
    ``build``, see :func:`build_folder`); return the paths."""
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
            target.write_text(json.dumps(make(nb, path.stem, build), indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
            written.append(target)
    return written


def main(argv=None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:  # python -m utils.assignments grade SUBMISSIONS_DIR --out grades.csv
        from .grading import main as grade_main

        return grade_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "assignments", help="output folder")
    parser.add_argument("--build", type=Path, default=None,
                        help="executed book build to take the glued numbers from (default: "
                             "_build/jupyter_execute/notebooks; a _build folder works too)")
    args = parser.parse_args(argv)
    paths = write_assignments(args.notebooks or None, args.out, args.build)
    folder = build_folder(args.build)
    source = (f"numbers from {folder}" if any(folder.glob("*.glue.json")) else
              f"no executed build in {folder}: glued numbers shown as placeholders")
    print(f"wrote {len(paths) // 2} student and {len(paths) // 2} teacher notebooks under "
          f"{args.out} ({source})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
