"""Reader-experience checks on executed chapters: no cell prints more than a screenful, every
figure has a title, and every exercise solution passes its own check.

Two places use these rules:

- the test suite (``conftest.py`` at the repository root) checks every cell that nbval runs:
  the cell's outputs must fit on a screen, and every matplotlib figure the cell shows must carry a
  title, and a cell tagged ``solution`` must end with its check saying "Correct." (the solution
  is executed so that it provably passes its check; a "Not yet." shown before, e.g. to
  demonstrate a wrong answer's hint, is allowed). Figures are audited inside the notebook's kernel: :func:`install_figure_audit`, called by
  :func:`utils.setup` when ``DLBI_AUDIT_LOG`` is set, appends one JSON line to that file for every
  figure shown without a title; the test hook reads the new lines after each cell.
- ``python -m utils.audit _build/jupyter_execute`` checks the outputs of the notebooks that the
  book build executed (full mode), which are the outputs readers see.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

SCREEN_LINES = 60   # a screenful: about 60 lines of 100 characters
LINE_WIDTH = 100
AUDIT_ENV = "DLBI_AUDIT_LOG"

_ROW = re.compile(r"<tr[\s>]", re.IGNORECASE)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def text_lines(text: str, width: int = LINE_WIDTH) -> int:
    """Screen lines that ``text`` takes when long lines wrap at ``width`` characters."""
    if not text:
        return 0
    lines = (text[:-1] if text.endswith("\n") else text).split("\n")
    return sum(max(1, -(-len(line) // width)) for line in lines)


def output_lines(output: dict) -> int:
    """Screen lines of one nbformat output: text wraps, an HTML table takes a line per row,
    images and widgets count as nothing here (figures are checked separately)."""
    kind = output.get("output_type")
    if kind == "stream":
        return text_lines(_text(output.get("text")))
    if kind == "error":
        return 0  # a failing cell fails on its own
    data = output.get("data", {})
    if "text/html" in data:
        html = _text(data["text/html"])
        rows = len(_ROW.findall(html))
        return rows if rows else text_lines(re.sub(r"<[^>]+>", "", html))
    if "text/markdown" in data:
        return text_lines(_text(data["text/markdown"]))
    if any(k.startswith("image/") for k in data):
        return 0
    return text_lines(_text(data.get("text/plain")))


#: What :class:`utils.exercises.Feedback` shows for a wrong or missing answer.
NOT_YET = ("Not yet.", "**Not yet.**")


def output_text(output: dict) -> str:
    """The text of one output (stream text, or its plain-text and Markdown representations)."""
    if output.get("output_type") == "stream":
        return _text(output.get("text"))
    data = output.get("data", {})
    return "\n".join(_text(data.get(k)) for k in ("text/plain", "text/markdown") if k in data)


def cell_output_problems(outputs: list, limit: int = SCREEN_LINES, tags=()) -> list[str]:
    """Problems of one cell's outputs (an empty list when there are none): more than a
    screenful, or, for a cell tagged ``solution``, a check that did not answer "Correct"."""
    problems = []
    total = sum(output_lines(o) for o in outputs)
    if total > limit:
        problems.append(f"prints {total} screen lines (more than a screenful, {limit}); "
                        "show a head, a summary or a figure instead")
    if "solution" in tags:  # the cell ends with the check of its answer: the last verdict counts
        verdicts = [v for v in (output_text(o).strip() for o in outputs)
                    if v.startswith(("Correct.", "**Correct.**") + NOT_YET)]
        if not verdicts:
            problems.append("this exercise solution shows no verdict of its check")
        elif verdicts[-1].startswith(NOT_YET):
            problems.append("this exercise solution does not pass its own check ('Not yet.')")
    return problems


def figure_title(fig) -> str:
    """The title a reader sees on ``fig``: its suptitle, else the first axes title, else ''."""
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        return suptitle.get_text().strip()
    for ax in fig.get_axes():
        for loc in ("center", "left", "right"):
            title = ax.get_title(loc=loc).strip()
            if title:
                return title
    return ""


def figure_problem(fig) -> str | None:
    """A message when ``fig`` has no title, else None."""
    if figure_title(fig):
        return None
    n_axes = len(fig.get_axes())
    labels = [ax.get_ylabel() or ax.get_xlabel() for ax in fig.get_axes()]
    hint = next((label for label in labels if label), "")
    return (f"a figure with {n_axes} axes has no title (suptitle or axes title)"
            + (f"; its first axis label is {hint!r}" if hint else ""))


def install_figure_audit(log_path: str | os.PathLike) -> bool:
    """Inside an IPython kernel, log every figure shown without a title to ``log_path``.

    The inline backend shows figures through ``matplotlib_inline.backend_inline.display`` (at
    the end of a cell and on ``plt.show()``); that name is wrapped. Returns False outside a kernel
    with the inline backend, where there is nothing to audit."""
    try:
        from matplotlib.figure import Figure
        from matplotlib_inline import backend_inline
    except ImportError:  # pragma: no cover - matplotlib_inline ships with ipykernel
        return False
    original = backend_inline.display
    if getattr(original, "_dlbi_audit", False):
        return True

    def audited_display(*objs, **kwargs):
        for obj in objs:
            if isinstance(obj, Figure):
                problem = figure_problem(obj)
                if problem:
                    with open(log_path, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"problem": problem}) + "\n")
        return original(*objs, **kwargs)

    audited_display._dlbi_audit = True
    backend_inline.display = audited_display
    return True


def install_from_env() -> bool:
    """Install the figure audit when ``DLBI_AUDIT_LOG`` names a file (the test suite sets it)."""
    path = os.environ.get(AUDIT_ENV, "").strip()
    return install_figure_audit(path) if path else False


def read_log(log_path: str | os.PathLike, start: int = 0) -> tuple[list[str], int]:
    """The problems logged after byte ``start`` of ``log_path``, and the new end offset."""
    path = Path(log_path)
    if not path.exists():
        return [], start
    with open(path, "rb") as fh:
        fh.seek(start)
        chunk = fh.read()
    problems = [json.loads(line)["problem"] for line in chunk.decode("utf-8").splitlines() if line.strip()]
    return problems, start + len(chunk)


def notebook_problems(path: str | os.PathLike, limit: int = SCREEN_LINES) -> list[str]:
    """Problems of the outputs stored in one executed notebook, as 'file: cell N: ...'."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = []
    for k, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        for problem in cell_output_problems(cell.get("outputs", []), limit, tags):
            problems.append(f"{Path(path).name}: cell {k}: {problem}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check every executed notebook under the given folders (default: the book build's)."""
    argv = sys.argv[1:] if argv is None else argv
    folders = [Path(a) for a in argv] or [Path("_build/jupyter_execute")]
    files = sorted(f for folder in folders for f in folder.rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in f.parts)
    if not files:
        print(f"no executed notebooks under {', '.join(map(str, folders))}")
        return 1
    problems = [p for f in files for p in notebook_problems(f)]
    for p in problems:
        print(p)
    print(f"{len(files)} executed notebooks checked, {len(problems)} problems "
          "(cells over a screenful, solutions that fail their checks)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
