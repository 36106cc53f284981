"""The reader-experience checks: a screenful of output, figures with titles, and the nbval hook
(root ``conftest.py``) that applies both to every chapter cell."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from utils import audit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def html(rows):
    body = "".join(f"<tr><td>{i}</td></tr>" for i in range(rows))
    return {"output_type": "execute_result", "data": {"text/html": f"<table>{body}</table>",
                                                      "text/plain": "df"}, "metadata": {}}


def test_text_lines_wrap_long_lines():
    assert audit.text_lines("") == 0
    assert audit.text_lines("a\nb\n") == 2
    assert audit.text_lines("x" * 250, width=100) == 3
    assert audit.text_lines("\n\n", width=100) == 2  # blank lines take space too


def test_short_outputs_pass_and_long_ones_fail():
    assert audit.cell_output_problems([stream("ok\n" * 10), html(20)]) == []
    assert audit.cell_output_problems([stream("line\n" * 61)])
    assert audit.cell_output_problems([html(253)])  # a whole 253-row DataFrame
    # the limit applies to the cell, not to each output
    assert audit.cell_output_problems([stream("a\n" * 40), stream("b\n" * 40)])
    # images and errors do not count as text
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}
    assert audit.cell_output_problems([image] * 100) == []


def verdict(text):
    return {"output_type": "execute_result", "metadata": {},
            "data": {"text/plain": text, "text/markdown": text.replace(". ", ".** ", 1).join(["**", ""])}}


def test_a_solution_must_pass_its_own_check():
    assert audit.cell_output_problems([verdict("Correct. Well done.")], tags=["solution"]) == []
    wrong = audit.cell_output_problems([verdict("Not yet. Use ddof=1.")], tags=["solution"])
    assert wrong and "does not pass" in wrong[0]
    silent = audit.cell_output_problems([stream("42\n")], tags=["solution"])
    assert silent and "no verdict" in silent[0]
    # a wrong answer's hint may be shown first, but the cell must end with a pass
    shown_first = [verdict("Not yet. A random split leaks."), verdict("Correct. Well done.")]
    assert audit.cell_output_problems(shown_first, tags=["solution"]) == []
    assert audit.cell_output_problems(shown_first[::-1], tags=["solution"])
    # the student's cell (no tag) may say "Not yet": that is the handed-out state
    assert audit.cell_output_problems([verdict("Not yet. No answer yet.")]) == []


def test_figure_titles():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.set_xlabel("epoch")
    assert audit.figure_title(fig) == ""
    assert "no title" in audit.figure_problem(fig) and "'epoch'" in audit.figure_problem(fig)
    fig.suptitle("Training loss")
    assert audit.figure_problem(fig) is None
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    axes[1].set_title("right panel", loc="left")
    assert audit.figure_title(fig) == "right panel"
    plt.close(fig)


def test_read_log_returns_only_new_lines(tmp_path):
    log = tmp_path / "log.jsonl"
    assert audit.read_log(log) == ([], 0)
    log.write_text(json.dumps({"problem": "p1"}) + "\n")
    first, offset = audit.read_log(log)
    assert first == ["p1"]
    with open(log, "a") as fh:
        fh.write(json.dumps({"problem": "p2"}) + "\n")
    assert audit.read_log(log, offset)[0] == ["p2"]


def test_notebook_problems_on_an_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("print('hi')")
    ok.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    long = nbformat.v4.new_code_cell("for i in range(500): print(i)")
    long.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n" * 500)]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), ok, long]
    path = tmp_path / "ch.ipynb"
    nbformat.write(nb, path)
    problems = audit.notebook_problems(path)
    assert len(problems) == 1 and "cell 2" in problems[0] and "500 screen lines" in problems[0]
    assert audit.main([str(tmp_path)]) == 1
    assert audit.main([str(tmp_path / "nothing")]) == 1


def _run_probe(pytester, nb):
    """Run notebook ``nb`` through nbval with the project's root conftest (already copied)."""
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, pytester.path / "probe.ipynb")
    return pytester.runpytest_subprocess("--nbval-lax", "-p", "no:cacheprovider", "probe.ipynb",
                                         "-o", f"pythonpath={ROOT}")


@pytest.mark.notebook
def test_nbval_hook_fails_the_offending_cells(pytester):
    """Run a small notebook through nbval with the project's root conftest: the cell that
    prints too much and the cell whose figure has no title fail, the others pass."""
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    setup = ("import matplotlib.pyplot as plt\nfrom utils import audit\n"
             "assert audit.install_from_env()")
    cells = [
        setup,
        "print('short')",
        "for i in range(200):\n    print(i)",
        "fig, ax = plt.subplots()\nax.plot([1, 2])",
        "fig, ax = plt.subplots()\nax.plot([1, 2])\nax.set_title('A title')",
        "fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()",
        "from utils.exercises import wrong\nwrong('the solution is off')",
        "from utils.exercises import correct\ncorrect()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell in nb.cells[-2:]:   # two exercise solutions: the first fails its check
        cell.metadata["tags"] = ["solution"]
    result = _run_probe(pytester, nb)
    result.assert_outcomes(passed=4, failed=4)
    out = result.stdout.str()
    assert "more than a screenful" in out
    assert "does not pass its own check" in out
    assert out.count("has no title") >= 2


def test_nbval_hook_checks_the_glue_roles(pytester):
    """Run a small notebook whose prose has one good glue role and two bad ones (a key no cell
    glued, a ``:.3f`` on a string) through nbval with the project's root conftest: the cells
    pass, the notebook's last code cell fails with the two problems, the good role is silent."""
    pytest.importorskip("myst_nb")
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Probe\n\nThe accuracy is {glue:text}`acc:.3f`."),
        nbformat.v4.new_code_cell("from utils.prose import glue\n_ = glue('acc', 0.8312)\n"
                                  "_ = glue('label', 'tumour')"),
        nbformat.v4.new_markdown_cell("The class is {glue:text}`label:.3f`; the loss is "
                                      "{glue:text}`los:.2f`."),
        nbformat.v4.new_code_cell("_ = glue('loss', 0.25)\nprint('done')"),
    ]
    result = _run_probe(pytester, nb)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "probe.ipynb::Cell 1" in out and "glue check failed" in out
    assert "{glue:text}`los:.2f` refers to 'los', which no cell glued" in out
    assert "did you mean 'loss'?" in out
    assert "format spec '.3f' does not apply to the value glued as 'label'" in out
    assert "acc:.3f" not in out
