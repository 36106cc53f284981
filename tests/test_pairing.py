"""Each chapter is a MyST Markdown notebook paired by jupytext with an .ipynb: the pair must agree.

An edit made in Colab (to the .ipynb) or in an editor (to the .md) is caught here, never lost;
the failure message names the command that fixes it.
"""
from __future__ import annotations

import json
import shutil

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
    assert problems and "source" in problems[0]
    assert any("jupytext --sync" in p for p in problems)


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
    no_solution = {"cells": good["cells"][:2]}
    assert "solution-start" in skeleton.exercise_problems(no_solution)[0]
