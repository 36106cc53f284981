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

Checking the roles without a book build: :func:`glue_roles` finds the glue roles (and glue
directives) in a chapter's Markdown, :func:`glued_values` the values a cell's outputs glued, and
:func:`glue_problems` says which role names no cell glued and which format specs do not apply
to the glued value (formatted as MyST-NB 1.4 does, see :func:`format_glued`). The root
``conftest.py`` applies them while nbval runs a chapter, after its last cell, so that a mistyped
key or a ``:.3f`` on a string fails ``pytest --nbval-lax`` and not only the full ``-W`` build.
"""
from __future__ import annotations

import ast
import difflib
import importlib
import re
from typing import Any, Iterable, NamedTuple

__all__ = ["glue", "GlueRole", "glue_roles", "glued_values", "format_glued", "glue_problems",
           "markdown_of", "notebook_glue_problems"]

#: The prefix MyST-NB gives the mimetypes of a hidden (``display=False``) glue output.
GLUE_PREFIX = "application/papermill.record/"


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


# --- checking the roles against what the cells glued ----------------------------------------

class GlueRole(NamedTuple):
    """One glue role or directive in the prose: ``{glue:text}`name:spec``` ->
    ``GlueRole("glue:text", "name", "spec", "{glue:text}`name:spec`")``."""
    kind: str         # "glue" (also ``{glue:}`` and ``{glue:any}``), "glue:text", "glue:md", "glue:figure", "glue:math"
    name: str         # the key; "doc::key" for a value glued in another document
    spec: str         # the format spec of ``glue:text`` ("" for none), the format of ``glue:md``
    source: str       # the role as written, for messages


_ROLE = re.compile(r"\{(glue(?::[a-z]*)?)\}`([^`]+)`")
_DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{(glue(?::[a-z]*)?)\}[ \t]*(\S+)", re.M)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")


def _without_code(markdown: str) -> str:
    """``markdown`` without fenced code blocks (except glue directives) and inline code spans
    wrapped in two or more backticks, where a role is an example, not a role."""
    lines, fence = [], None
    for line in markdown.splitlines():
        m = _FENCE.match(line)
        if fence is None:
            if m and not m.group(2).lstrip().startswith("{glue"):
                fence = m.group(1)
                continue
            lines.append(line)
        elif m and m.group(1).startswith(fence[0] * len(fence)) and not m.group(2).strip():
            fence = None
    return re.sub(r"(`{2,})(?!`).+?(?<!`)\1(?!`)", "", "\n".join(lines))


def glue_roles(markdown: str) -> list[GlueRole]:
    """The glue roles and directives in ``markdown``, in order (see :class:`GlueRole`).

    Parses as MyST-NB 1.4 does: ``{glue:text}`name:spec``` splits at the last colon (no colon:
    no spec); ``{glue}`name``` (also ``{glue:}``, ``{glue:any}``) takes the whole text as the
    key; ``{glue:md}`name:format``` splits like ``glue:text``.
    """
    text = _without_code(markdown)
    roles = []
    for m in _ROLE.finditer(text):
        kind, content = m.group(1), m.group(2).strip()
        kind = "glue" if kind in ("glue:", "glue:any") else kind
        name, spec = content, ""
        if kind in ("glue:text", "glue:md") and ":" in content.replace("::", "\0\0"):
            name, spec = content.rsplit(":", 1)
        roles.append(GlueRole(kind, name, spec, m.group(0)))
    for m in _DIRECTIVE.finditer(text):
        kind = "glue" if m.group(1) in ("glue:", "glue:any") else m.group(1)
        roles.append(GlueRole(kind, m.group(2), "", m.group(0).strip()))
    return roles


def glued_values(outputs: Iterable[dict]) -> dict[str, dict]:
    """``{name: mimebundle}`` of the glue outputs among a cell's ``outputs`` (nbformat or nbval
    output dicts): display data with ``metadata["scrapbook"]``, the mime prefix taken off."""
    glued = {}
    for out in outputs:
        book = (out.get("metadata") or {}).get("scrapbook") if hasattr(out, "get") else None
        if not isinstance(book, dict) or "name" not in book:
            continue
        prefix = book.get("mime_prefix", "") or ""
        glued[book["name"]] = {k[len(prefix):]: v for k, v in (out.get("data") or {}).items()
                               if k.startswith(prefix)}
    return glued


def format_glued(text_plain: str, spec: str = "") -> str:
    """The text ``{glue:text}`name:spec``` pastes for a value whose text/plain is ``text_plain``,
    as MyST-NB 1.4 (``myst_nb.core.variables.format_plain_text``) makes it: ``literal_eval``
    (the raw text where that fails), cast by the spec's type character, then ``format``.
    Raises what MyST-NB would turn into a ``mystnb.glue`` warning."""
    try:
        value = ast.literal_eval(text_plain)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        value = text_plain
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def glue_problems(roles: Iterable[GlueRole], glued: dict[str, dict], where: str = "") -> list[str]:
    """One message per role that the book build (``-W``) would reject: its name was not glued
    (by any cell of the notebook), it has no text/plain (text/markdown for ``glue:md``) to paste,
    or its format spec does not apply to the glued value. Roles naming another document
    (``doc::key``) are not checked. ``where`` (the chapter) starts each message."""
    lead = f"{where}: " if where else ""
    problems = []
    for role in roles:
        if "::" in role.name:
            continue
        if role.name not in glued:
            close = difflib.get_close_matches(role.name, list(glued), n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + \
                   f"glued in this notebook: {', '.join(sorted(glued)) or 'nothing'}"
            problems.append(f"{lead}{role.source} refers to {role.name!r}, which no cell glued "
                            f"({_short(hint, 300)}). Fix: correct the name in the prose, or add "
                            f"glue({role.name!r}, value) in the code cell that computes it.")
            continue
        data = glued[role.name]
        if role.kind == "glue:md":
            if "text/markdown" not in data:
                problems.append(f"{lead}{role.source}: the value glued as {role.name!r} has no "
                                f"text/markdown. Fix: glue an IPython.display.Markdown object, "
                                f"or use {{glue:text}}`{role.name}`.")
            continue
        if role.kind != "glue:text":
            continue
        if "text/plain" not in data:
            problems.append(f"{lead}{role.source}: the value glued as {role.name!r} has no "
                            f"text/plain to paste. Fix: glue a plain value, or use "
                            f"{{glue}}`{role.name}`.")
            continue
        try:
            format_glued(data["text/plain"], role.spec or "s")
        except Exception as exc:  # noqa: BLE001 - whatever format() raises, MyST-NB warns
            problems.append(
                f"{lead}{role.source}: the format spec {role.spec!r} does not apply to the value "
                f"glued as {role.name!r} (text/plain {_short(data['text/plain'])!r}: "
                f"{type(exc).__name__}: {exc}). Fix: glue a value of the type the spec formats "
                f"(a number for .3f, .1%, d), or change the spec (no spec pastes the value as "
                f"it is: {{glue:text}}`{role.name}`).")
    return problems


def markdown_of(nb) -> str:
    """All Markdown cells of a notebook (nbformat node or dict), joined."""
    return "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in nb["cells"] if c["cell_type"] == "markdown")


def notebook_glue_problems(nb, where: str = "") -> list[str]:
    """:func:`glue_problems` of an executed notebook, from its stored outputs."""
    glued = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            glued.update(glued_values(cell.get("outputs", [])))
    return glue_problems(glue_roles(markdown_of(nb)), glued, where)


def source_excerpt(obj, start: str | None = None, stop: str | None = None,
                   docstring: bool = False) -> str:
    """The source of a function or class as a chapter shows it (``print(...)`` it): without its
    docstring (unless ``docstring``), and, with ``start``/``stop``, only the lines from the first
    one that contains ``start`` to the first one after it that contains ``stop`` (both kept),
    dedented.  Raises ``ValueError`` when a marker is not in the source, so that a chapter
    notices when the code it explains has changed."""
    import inspect
    import textwrap

    source = textwrap.dedent(inspect.getsource(obj))
    lines = source.splitlines()
    if not docstring:
        node = ast.parse(source).body[0]
        first = node.body[0] if getattr(node, "body", None) else None
        if (isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
                and isinstance(first.value.value, str)):
            lines = lines[:first.lineno - 1] + lines[first.end_lineno:]
    if start is not None:
        begin = next((i for i, line in enumerate(lines) if start in line), None)
        if begin is None:
            raise ValueError(f"{start!r} is not in the source of {obj.__qualname__}")
        lines = lines[begin:]
    if stop is not None:
        end = next((i for i, line in enumerate(lines) if stop in line and (i or start is None)), None)
        if end is None:
            raise ValueError(f"{stop!r} is not in the source of {obj.__qualname__}")
        lines = lines[:end + 1]
    return textwrap.dedent("\n".join(lines)).rstrip() + "\n"
