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


# --- the glue-role check (root conftest.py applies it while nbval runs a chapter) -----------

def _bundle(text_plain):
    return {"output_type": "display_data", "data": {GLUE_PREFIX + "text/plain": text_plain},
            "metadata": {"scrapbook": {"name": None, "mime_prefix": GLUE_PREFIX}}}


def _glue_output(name, text_plain):
    out = _bundle(text_plain)
    out["metadata"]["scrapbook"]["name"] = name
    return out


def test_glue_roles_parses_as_myst_nb():
    md = ("With {glue:text}`n_files` files, {glue:text}`acc:.3f` accuracy and {glue}`table`, "
          "{glue:}`any_key`, {glue:any}`other`, {glue:md}`note:myst` and "
          "{glue:text}`chapter2::k:.2f`.\n\n```{glue:figure} fig_key\n:name: f\n```\n")
    got = [(r.kind, r.name, r.spec) for r in prose.glue_roles(md)]
    assert got == [("glue:text", "n_files", ""), ("glue:text", "acc", ".3f"),
                   ("glue", "table", ""), ("glue", "any_key", ""), ("glue", "other", ""),
                   ("glue:md", "note", "myst"), ("glue:text", "chapter2::k", ".2f"),
                   ("glue:figure", "fig_key", "")]
    assert prose.glue_roles(md)[1].source == "{glue:text}`acc:.3f`"


def test_glue_roles_ignores_examples_in_code():
    md = ("Write `` {glue:text}`name:.3f` `` in the prose:\n\n```python\n"
          "{glue:text}`in_a_fence`\n```\n\nbut {glue:text}`real` is a role.")
    assert [r.name for r in prose.glue_roles(md)] == ["real"]


def test_glued_values_reads_hidden_and_shown_glue_outputs():
    shown = {"output_type": "display_data", "data": {"text/plain": "3", "text/html": "<b>3</b>"},
             "metadata": {"scrapbook": {"name": "shown", "mime_prefix": ""}}}
    plain = {"output_type": "stream", "name": "stdout", "text": "hello"}
    figure = {"output_type": "display_data", "data": {"image/png": "..."}, "metadata": {}}
    glued = prose.glued_values([_glue_output("acc", "0.83"), shown, plain, figure])
    assert glued == {"acc": {"text/plain": "0.83"},
                     "shown": {"text/plain": "3", "text/html": "<b>3</b>"}}


def test_format_glued_matches_myst_nb():
    cases = [("0.8312", ".3f"), ("253", ""), ("253", "d"), ("0.6126", ".1%"), ("'brain'", "s"),
             ("[1, 2, 3]", ""), ("np.float64(0.5)", "")]
    try:
        from myst_nb.core.variables import format_plain_text
    except ImportError:  # pragma: no cover
        format_plain_text = None
    for text, spec in cases:
        ours = prose.format_glued(text, spec)
        if format_plain_text is not None:
            assert ours == format_plain_text(text, spec), (text, spec)
    assert prose.format_glued("0.8312", ".3f") == "0.831"
    with pytest.raises(ValueError):
        prose.format_glued("'brain'", ".3f")


def test_glue_problems_good_case_is_silent():
    roles = prose.glue_roles("{glue:text}`acc:.3f`, {glue:text}`n:d`, {glue}`acc`, "
                             "{glue:text}`label`, {glue:text}`other_chapter::x:.2f`")
    glued = prose.glued_values([_glue_output("acc", "0.8312"), _glue_output("n", "253"),
                                _glue_output("label", "'tumour'")])
    assert prose.glue_problems(roles, glued, "01_x.ipynb") == []


def test_glue_problems_names_a_key_no_cell_glued():
    roles = prose.glue_roles("the accuracy is {glue:text}`acuracy:.3f`")
    problems = prose.glue_problems(roles, {"accuracy": {"text/plain": "0.8"}}, "05_ch.ipynb")
    assert len(problems) == 1
    msg = problems[0]
    assert msg.startswith("05_ch.ipynb: {glue:text}`acuracy:.3f` refers to 'acuracy'")
    assert "no cell glued" in msg and "did you mean 'accuracy'" in msg
    assert "glue('acuracy', value)" in msg


def test_glue_problems_names_a_spec_that_does_not_apply():
    roles = prose.glue_roles("{glue:text}`label:.3f` and {glue:text}`pairs:d`")
    glued = prose.glued_values([_glue_output("label", "'tumour'"), _glue_output("pairs", "[1, 2]")])
    problems = prose.glue_problems(roles, glued, "07_ch.ipynb")
    assert len(problems) == 2
    assert "format spec '.3f' does not apply to the value glued as 'label'" in problems[0]
    assert "{glue:text}`label`" in problems[0]          # the fix: no spec
    assert "format spec 'd' does not apply" in problems[1]


def test_glue_problems_wants_text_plain_and_markdown():
    roles = prose.glue_roles("{glue:text}`img` {glue:md}`note`")
    glued = {"img": {"image/png": "..."}, "note": {"text/plain": "x"}}
    problems = prose.glue_problems(roles, glued)
    assert len(problems) == 2
    assert "no text/plain" in problems[0] and "no text/markdown" in problems[1]


def test_notebook_glue_problems_from_stored_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("glue('acc', 0.83)")
    code.outputs = [nbformat.from_dict(_glue_output("acc", "0.83"))]
    nb.cells = [nbformat.v4.new_markdown_cell("{glue:text}`acc:.2f` and {glue:text}`loss:.2f`"),
                code]
    problems = prose.notebook_glue_problems(nb, "x.ipynb")
    assert len(problems) == 1 and "'loss'" in problems[0]


def test_source_excerpt_drops_the_docstring_and_cuts_at_the_markers():
    import pytest

    from utils import prose, splits

    full = prose.source_excerpt(splits.check_split)
    assert full.startswith("def check_split(") and '"""' not in full and "raise ValueError" in full
    assert '"""' in prose.source_excerpt(splits.check_split, docstring=True)
    part = prose.source_excerpt(splits.check_split, start="if groups is not None", stop="raise")
    assert part.startswith("if groups is not None:") and part.rstrip().endswith(
        'raise ValueError(f"{n} duplicate/patient groups straddle the split (leakage)")')
    assert "overlap" not in part
    with pytest.raises(ValueError, match="not in the source"):
        prose.source_excerpt(splits.check_split, start="no such line")
