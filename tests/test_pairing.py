"""Each chapter is a MyST Markdown notebook paired by jupytext with an .ipynb: the pair must agree.

An edit made in Colab (to the .ipynb) or in an editor (to the .md) is caught here, never lost;
the failure message names the command that fixes it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from utils import skeleton

SOURCES = skeleton.chapter_sources()


def test_jupytext_config_names_the_pairing():
    text = (skeleton.NOTEBOOKS / "jupytext.toml").read_text()
    assert 'formats = "ipynb,md:myst"' in text


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_pair_agrees(path):
    problems = skeleton.pair_problems(path)
    assert problems == [], "\n".join(problems)


@pytest.fixture
def pair(tmp_path):
    src = SOURCES[0]
    md = tmp_path / src.name
    shutil.copy(src, md)
    shutil.copy(skeleton.paired_ipynb(src), skeleton.paired_ipynb(md))
    shutil.copy(skeleton.NOTEBOOKS / "jupytext.toml", tmp_path / "jupytext.toml")
    return md


def _edit_ipynb(md, change):
    ipynb = skeleton.paired_ipynb(md)
    nb = json.loads(ipynb.read_text())
    change(nb)
    ipynb.write_text(json.dumps(nb))


def test_an_edit_in_the_ipynb_is_caught(pair):
    assert skeleton.pair_problems(pair) == []

    def typo(nb):
        cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        cell["source"] = "".join(cell["source"]) + " A fix made in Colab."
    _edit_ipynb(pair, typo)
    problems = skeleton.pair_problems(pair)
    assert problems and "source" in problems[0] and "A fix made in Colab." in problems[0]
    # outside git the newer file counts: the .ipynb was written last, so it rewrites the .md
    assert any("jupytext --to md:myst" in p for p in problems)


def test_a_changed_tag_and_a_missing_cell_are_caught(pair):
    def retag(nb):
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        cell["metadata"]["tags"] = ["hide-output"]
    _edit_ipynb(pair, retag)
    assert "tags" in skeleton.pair_problems(pair)[0]

    _edit_ipynb(pair, lambda nb: nb["cells"].pop())
    assert "cells" in skeleton.pair_problems(pair)[0]


def test_a_missing_pair_is_caught(pair):
    skeleton.paired_ipynb(pair).unlink()
    assert "missing" in skeleton.pair_problems(pair)[0]


def test_sync_rewrites_the_pair_from_the_md(pair):
    text = pair.read_text()
    pair.write_text(text.replace("**Learning objectives.**", "**Learning objectives (edited).**", 1))
    assert skeleton.pair_problems(pair)
    skeleton.sync([pair])
    assert skeleton.pair_problems(pair) == []
    assert "Learning objectives (edited)" in skeleton.paired_ipynb(pair).read_text()


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo_pair(pair):
    """The pair committed in a fresh git repository."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = pair.parent
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "chapter")
    return pair


def _colab_edit(nb):
    """What a notebook downloaded from Colab looks like: a text fix, and outputs."""
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = "".join(cell["source"]) + " A fix made in Colab."
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran in Colab\n"}]
    code["execution_count"] = 1


def test_git_decides_which_side_was_edited_not_file_times(repo_pair):
    _edit_ipynb(repo_pair, _colab_edit)
    os.utime(repo_pair)  # a fresh checkout can leave the .md looking newer: it must not matter
    assert skeleton.edited_side(repo_pair) == "ipynb"
    assert "jupytext --to md:myst" in skeleton.fix_command(repo_pair)
    # committed (within the same second as the first commit, as in a fast test or script):
    # the side committed last still wins, by commit order
    _git(repo_pair.parent, "commit", "-qam", "colab edit")
    assert skeleton.edited_side(repo_pair) == "ipynb"
    # then the .md committed later with another edit: now the .md is the later side
    text = repo_pair.read_text()
    repo_pair.write_text(text.replace("**Learning objectives.**", "**Learning goals.**", 1))
    _git(repo_pair.parent, "commit", "-qam", "md edit")
    assert skeleton.edited_side(repo_pair) == "md"


def test_a_pair_committed_together_is_unknown(repo_pair):
    _edit_ipynb(repo_pair, _colab_edit)
    text = repo_pair.read_text()
    repo_pair.write_text(text.replace("**Learning objectives.**", "**Learning goals.**", 1))
    _git(repo_pair.parent, "commit", "-qam", "both sides in one commit")
    assert skeleton.edited_side(repo_pair) == "unknown"  # same commit: no way to tell


def test_sync_takes_a_colab_edit_into_the_md_and_strips_outputs(repo_pair):
    _edit_ipynb(repo_pair, _colab_edit)
    os.utime(repo_pair)
    skeleton.sync([repo_pair])
    assert "A fix made in Colab." in repo_pair.read_text()   # the edit was kept, not lost
    assert skeleton.pair_problems(repo_pair) == []
    nb = json.loads(skeleton.paired_ipynb(repo_pair).read_text())
    assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_sync_refuses_when_both_sides_changed(repo_pair):
    _edit_ipynb(repo_pair, _colab_edit)
    text = repo_pair.read_text()
    repo_pair.write_text(text.replace("**Learning objectives.**", "**Learning goals.**", 1))
    before = repo_pair.read_text(), skeleton.paired_ipynb(repo_pair).read_text()
    assert skeleton.edited_side(repo_pair) == "both"
    with pytest.raises(skeleton.PairConflict, match="by hand"):
        skeleton.sync([repo_pair])
    assert (repo_pair.read_text(), skeleton.paired_ipynb(repo_pair).read_text()) == before


def test_a_committed_mismatch_names_the_side_committed_last(repo_pair):
    text = repo_pair.read_text()
    repo_pair.write_text(text.replace("**Learning objectives.**", "**Learning goals.**", 1))
    _git(repo_pair.parent, "commit", "-qam", "edit the md only")
    assert skeleton.edited_side(repo_pair) == "md"
    assert "jupytext --update --to ipynb" in skeleton.fix_command(repo_pair)


def test_exercise_pattern_is_enforced():
    def cell(kind, text, tags=()):
        return {"cell_type": kind, "source": text, "metadata": {"tags": list(tags)}}
    good = {"cells": [
        cell("markdown", "```{exercise} A\n:label: ex-a\n\nDo A.\n```"),
        cell("code", "answer = ...\nex.check_a(answer)"),
        cell("markdown", "```{solution-start} ex-a\n:class: dropdown\n```"),
        cell("code", "answer = 1\nex.check_a(answer)", ["solution"]),
        cell("markdown", "```{solution-end}\n```"),
    ]}
    assert skeleton.exercise_problems(good) == []
    untagged = json.loads(json.dumps(good))
    untagged["cells"][3]["metadata"]["tags"] = []
    assert "tagged" in skeleton.exercise_problems(untagged)[0]
    no_check = json.loads(json.dumps(good))
    no_check["cells"][3]["source"] = "answer = 1"
    assert "ex.check_a" in skeleton.exercise_problems(no_check)[0]
    no_placeholder = json.loads(json.dumps(good))
    no_placeholder["cells"][1]["source"] = "ex.check_a(42)"
    assert "placeholder" in skeleton.exercise_problems(no_placeholder)[0]
    no_solution = {"cells": good["cells"][:2]}
    assert "solution-start" in skeleton.exercise_problems(no_solution)[0]
