"""Checks applied to every notebook cell that nbval executes (``pytest --nbval-lax notebooks``):

- the cell prints no more than a screenful (:data:`utils.audit.SCREEN_LINES` screen lines);
- every matplotlib figure it shows has a title;
- a cell tagged ``solution`` (an exercise's executed solution) passes its own check. The kernels inherit ``DLBI_AUDIT_LOG`` from this
  process; ``utils.setup()`` in each chapter's first cells then logs figures without a title
  (see :mod:`utils.audit`), and the hook below reads the log after each cell;
- the prose's glue roles (``{glue:text}`name:spec```, ``{glue}`name```) match what the cells
  glued: the hook collects the glue outputs of every cell of a notebook and, after its last code
  cell, checks each role of its Markdown cells with :func:`utils.prose.glue_problems` (a name no
  cell glued, a format spec that does not apply to the value), as the full ``-W`` build would.

A violation fails that cell's test item (for the glue roles: the notebook's last code cell),
naming the problem.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

_STATE = {"log": None, "offset": 0}
#: per notebook file (nbval's IPyNbFile): {"cells": code cells run, "glued": {name: bundle}}
_GLUE: dict = {}


def pytest_configure(config):
    from utils import audit

    # one log per pytest process (xdist workers too), inherited by the kernels it starts
    handle, path = tempfile.mkstemp(prefix="dlbi-figure-audit-", suffix=".jsonl")
    os.close(handle)
    os.environ[audit.AUDIT_ENV] = path
    _STATE["log"], _STATE["offset"] = Path(path), 0


def pytest_unconfigure(config):
    if _STATE["log"] is not None:
        _STATE["log"].unlink(missing_ok=True)


def _is_notebook_cell(item) -> bool:
    return hasattr(item, "test_outputs") and hasattr(item, "cell")


def _glue_check(item) -> list[str]:
    """Record the glue outputs of this cell; after the notebook's last code cell, the problems of
    its glue roles (none when not every code cell ran here, e.g. one cell picked with ``::``,
    or when MyST-NB is not installed, so that ``glue`` emitted nothing)."""
    from utils import prose

    notebook = item.parent
    state = _GLUE.setdefault(notebook.nodeid, {"cells": set(), "glued": {}})
    state["cells"].add(item.cell_num)
    # a cell nbval skips (NBVAL_SKIP) glues in the book build: take its stored outputs
    outputs = item.cell.get("outputs", []) if item.options.get("skip") else item.test_outputs
    state["glued"].update(prose.glued_values(outputs or []))
    nb = getattr(notebook, "nb", None)
    if nb is None:
        return []
    n_code = sum(cell.cell_type == "code" for cell in nb.cells)
    if item.cell_num != n_code - 1:
        return []
    _GLUE.pop(notebook.nodeid, None)
    if len(state["cells"]) < n_code or importlib.util.find_spec("myst_nb") is None:
        return []
    chapter = Path(str(notebook.fspath)).name
    return prose.glue_problems(prose.glue_roles(prose.markdown_of(nb)), state["glued"], chapter)


def _glue_failure(problems: list[str]) -> str:
    return ("glue check failed: the prose of this notebook pastes values that its cells did not "
            "glue as it expects (the book build, -W, fails on each):\n  - "
            + "\n  - ".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _is_notebook_cell(item):
        return (yield)
    from utils import audit

    cell_error = None
    try:
        result = yield
    except BaseException as exc:  # the cell failed or was skipped: the glue check still runs
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        cell_error = exc
    finally:  # always consume this cell's log lines, even when the cell failed
        figures, _STATE["offset"] = audit.read_log(_STATE["log"], _STATE["offset"])
    glue_problems = _glue_check(item)
    if cell_error is not None:
        if glue_problems and isinstance(cell_error, pytest.skip.Exception):
            raise AssertionError(_glue_failure(glue_problems)) from None
        if glue_problems:  # keep nbval's report of the cell's error; show the glue check too
            item.add_report_section("call", "glue check", _glue_failure(glue_problems))
        raise cell_error
    tags = item.cell.get("metadata", {}).get("tags", [])
    problems = audit.cell_output_problems(item.test_outputs or [], tags=tags) + figures
    if problems and glue_problems:
        problems.append(_glue_failure(glue_problems))
    elif glue_problems:
        raise AssertionError(_glue_failure(glue_problems))
    if problems:
        source = "".join(item.cell.source)[:200]
        raise AssertionError("reader-experience check failed for this cell:\n  - "
                             + "\n  - ".join(problems) + f"\ncell source starts with:\n{source}")
    return result
