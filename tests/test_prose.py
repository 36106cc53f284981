"""utils.prose.glue: MyST-NB's glue in the book build, nothing visible without MyST-NB."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from utils import prose

GLUE_PREFIX = "application/papermill.record/"


@pytest.fixture
def shell():
    """An IPython shell, as in a notebook kernel (cleared afterwards)."""
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    had_one = interactiveshell.InteractiveShell.initialized()
    sh = interactiveshell.InteractiveShell.instance()
    yield sh
    if not had_one:
        interactiveshell.InteractiveShell.clear_instance()


def _glued(shell, *args, **kwargs):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        returned = prose.glue(*args, **kwargs)
    return returned, captured


def test_emits_the_myst_nb_glue_bundle(shell):
    pytest.importorskip("myst_nb")
    returned, captured = _glued(shell, "improved_acc", np.float64(0.83))
    assert returned == 0.83 and type(returned) is float
    assert captured.stdout == ""
    assert len(captured.outputs) == 1
    out = captured.outputs[0]
    assert out.metadata["scrapbook"] == {"name": "improved_acc", "mime_prefix": GLUE_PREFIX}
    # hidden (display=False): every mimetype carries the prefix, so nothing shows in the cell;
    # the plain text is a Python number that MyST-NB's format spec can parse
    assert set(out.data) == {GLUE_PREFIX + "text/plain"}
    assert out.data[GLUE_PREFIX + "text/plain"] == "0.83"


def test_text_pastes_as_the_prose_expects(shell):
    pytest.importorskip("myst_nb")
    from myst_nb.core.variables import format_plain_text

    cases = [("n_files", np.int64(253), "", "253"), ("share", np.float64(0.6126), ".1%", "61.3%"),
             ("pct", 100 * np.float64(0.6537), ".0f", "65"), ("acc", 0.83, ".3f", "0.830")]
    for name, value, spec, expected in cases:
        _, captured = _glued(shell, name, value)
        text = captured.outputs[0].data[GLUE_PREFIX + "text/plain"]
        assert format_plain_text(text, spec or "s") == expected, (name, text)


def test_display_true_shows_the_value(shell):
    pytest.importorskip("myst_nb")
    _, captured = _glued(shell, "shown", 3, display=True)
    assert captured.outputs[0].data == {"text/plain": "3"}
    assert captured.outputs[0].metadata["scrapbook"]["mime_prefix"] == ""


def test_no_op_without_myst_nb(shell, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)   # `import myst_nb` now raises ImportError
    assert prose._myst_glue() is None
    returned, captured = _glued(shell, "n_files", np.int64(253))
    assert returned == 253 and type(returned) is int
    assert captured.outputs == [] and captured.stdout == ""
    assert capsys.readouterr().out == ""


def test_no_op_outside_ipython(capsys):
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    if interactiveshell.InteractiveShell.initialized():
        pytest.skip("an IPython shell is running in this process")
    assert prose.glue("n_files", 253) == 253
    assert capsys.readouterr().out == ""


def test_other_values_pass_unchanged():
    value = {"a": 1}
    assert prose._plain(value) is value
    assert prose._plain(np.array(2.5)) == 2.5 and type(prose._plain(np.array(2.5))) is float
    assert prose._plain("text") == "text"
