"""No two exercises in the book ask the same thing: no check serves two exercises, and no two
statements share most of their words.

This guards against a copied exercise (same check, or same text with other numbers); it cannot
see two differently worded questions with the same answer, which remains a reviewer's job.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
EXERCISE = re.compile(r"^```\{exercise\}\s*(?P<title>.*)\n(?P<body>(?:.*\n)*?)```", re.M)
LABEL = re.compile(r"^:label:\s*(\S+)", re.M)
ALIAS = re.compile(r"^from utils\.checks import (\w+) as (\w+)", re.M)
CALL = re.compile(r"\b(\w+)\.(check_\w+)\s*\(")
#: Checks of the form of an answer, shared on purpose (every lab's report, splits, intervals).
SHARED_MODULES = {"labs"}
STOP = set("the a an of to in and is its it as on at by for with what give compute your this "
           "that be are from".split())
MAX_OVERLAP = 0.4   # the duplicates this test was written for overlapped by 0.43


def exercises():
    """``(chapter, label, statement words, {(checks module, check)})`` of every exercise."""
    found = []
    for path in CHAPTERS:
        text = path.read_text(encoding="utf-8")
        aliases = dict((alias, module) for module, alias in ALIAS.findall(text))
        matches = list(EXERCISE.finditer(text))
        for m, nxt in zip(matches, matches[1:] + [None]):
            tail = text[m.end():nxt.start() if nxt else len(text)]
            student = tail.split("{solution-start}", 1)[0]   # the student's cells, not the solution
            checks = {(aliases.get(a, a), c) for a, c in CALL.findall(student) if a in aliases}
            words = set(re.findall(r"[a-z0-9]+", (m["title"] + " " + m["body"]).lower())) - STOP
            label = LABEL.search(m["body"])
            found.append((path.stem, label.group(1) if label else m["title"], words, checks))
    return found


def test_every_exercise_is_found_with_a_check():
    found = exercises()
    assert len(found) >= 40
    missing = [label for _, label, _, checks in found if not checks]
    assert not missing, f"exercises without a check in their student cell: {missing}"


def test_no_check_serves_two_exercises():
    users: dict = {}
    for chapter, label, _, checks in exercises():
        for module, check in checks:
            if module not in SHARED_MODULES:
                users.setdefault((module, check), []).append(label)
    twice = {k: v for k, v in users.items() if len(v) > 1}
    assert not twice, f"checks used by more than one exercise: {twice}"


def test_no_two_statements_share_most_of_their_words():
    close = []
    for a, b in itertools.combinations(exercises(), 2):
        overlap = len(a[2] & b[2]) / len(a[2] | b[2])
        if overlap >= MAX_OVERLAP:
            close.append((a[1], b[1], round(overlap, 2)))
    assert not close, f"exercises that read alike: {close}"


def test_the_overlap_measure_catches_the_old_duplicate():
    old = ("The paper's ResNet50 answered 47 of 51 test images correctly. Compute the 95 % Wilson "
           "interval of its accuracy as a pair `(low, high)` of fractions.")
    new = ("The paper's ResNet50 got 92 % of its 51 test images right (47 images). Compute the "
           "Wilson 95 % interval of this accuracy with `wilson_ci` and store `(low, high)` in `answer`.")
    a, b = (set(re.findall(r"[a-z0-9]+", t.lower())) - STOP for t in (old, new))
    assert len(a & b) / len(a | b) >= MAX_OVERLAP
