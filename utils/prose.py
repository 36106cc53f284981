"""Numbers in prose: the sentences of a chapter carry the numbers its build computed.

When a paragraph or a summary states a measured result (a count found in the data, an
accuracy, an interval, a p-value, a Dice), the number must not be typed in by hand: it would
silently go stale when the data, the code or the mode change. Instead the code cell that
computes the value *glues* it under a name, and the Markdown pastes it with MyST-NB's roles::

    from utils.prose import glue

    glue("n_files", len(brain))                   # in a code cell, after the value exists
    glue("tumour_share_pct", 100 * brain["y"].mean())

    With a random 80/20 split of {glue:text}`n_files` files ...   (in the prose)
    ... {glue:text}`tumour_share_pct:.0f` % of the images show a tumour ...

``{glue:text}`name:spec``` formats the value with a Python format spec (``.3f``, ``.1%``,
``d``); without a spec it pastes the value's plain text. ``{glue}`name``` pastes the rich
representation instead. See https://myst-nb.readthedocs.io/en/latest/render/glue.html.

``glue`` here wraps :func:`myst_nb.glue`:

* In the book build (Jupyter Book / MyST-NB, the notebook runs in an IPython kernel) it calls
  ``myst_nb.glue(name, value, display)``. With ``display=False`` (the default) the cell shows
  nothing: MyST-NB stores the value under ``name`` in a hidden output, which it removes from the
  page and pastes wherever the text refers to it. A key the text refers to but no cell glued
  fails the build (``-W``: warning type ``mystnb.glue``).
* Where ``myst_nb`` is not installed (Google Colab) or no IPython kernel runs (plain Python),
  it does nothing visible. The notebook's text then shows the glue roles as written, and the
  numbers are in the cells' printouts as before.

NumPy scalars are converted to plain Python numbers first: MyST-NB formats the text/plain
representation, and NumPy 2 writes ``np.float64(0.83)`` there, which no format spec can parse.
The (converted) value is returned, so ``share = glue("share", y.mean())`` works; do not make a
``glue(...)`` call the last line of a cell, or the notebook displays the returned value.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["glue"]


def _plain(value: Any) -> Any:
    """A NumPy scalar (or 0-d array) as the equivalent Python number; anything else unchanged."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - NumPy is a dependency of the book
        return value
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def _myst_glue():
    """``myst_nb.glue`` if MyST-NB is importable, else None."""
    try:
        return importlib.import_module("myst_nb").glue
    except ImportError:
        return None


def _in_kernel() -> bool:
    """True inside an IPython shell or kernel (where display outputs go to the notebook)."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return False
    return InteractiveShell.initialized()


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for ``{glue:text}`name``` in the chapter's prose.

    Uses ``myst_nb.glue`` in the book build; without MyST-NB (Colab) or outside IPython it does
    nothing visible. NumPy scalars become Python numbers. Returns the (converted) value.
    """
    value = _plain(value)
    myst_glue = _myst_glue()
    if myst_glue is not None and _in_kernel():
        myst_glue(name, value, display=display)
    return value
