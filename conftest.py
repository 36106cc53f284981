"""Checks applied to every notebook cell that nbval executes (``pytest --nbval-lax notebooks``):

- the cell prints no more than a screenful (:data:`utils.audit.SCREEN_LINES` screen lines);
- every matplotlib figure it shows has a title;
- a cell tagged ``solution`` (an exercise's executed solution) passes its own check. The kernels inherit ``DLBI_AUDIT_LOG`` from this
  process; ``utils.setup()`` in each chapter's first cells then logs figures without a title
  (see :mod:`utils.audit`), and the hook below reads the log after each cell.

A violation fails that cell's test item, naming the problem.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_STATE = {"log": None, "offset": 0}


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _is_notebook_cell(item):
        return (yield)
    from utils import audit

    try:
        result = yield
    finally:  # always consume this cell's log lines, even when the cell failed
        figures, _STATE["offset"] = audit.read_log(_STATE["log"], _STATE["offset"])
    tags = item.cell.get("metadata", {}).get("tags", [])
    problems = audit.cell_output_problems(item.test_outputs or [], tags=tags) + figures
    if problems:
        source = "".join(item.cell.source)[:200]
        raise AssertionError("reader-experience check failed for this cell:\n  - "
                             + "\n  - ".join(problems) + f"\ncell source starts with:\n{source}")
    return result
