"""scripts/test_py313.sh, the Colab check (Python 3.13, requirements.txt alone), and .ci/run.

pytest ignores an ``--ignore`` or ``--deselect`` that names nothing, so an exclusion that went
stale (a test renamed or moved) would silently run or drop the wrong tests: each must name an
existing file or test function, and each must carry its reason.
"""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "test_py313.sh"


def exclusions() -> list[tuple[str, str]]:
    """``(reason, option)`` for every entry of the script's ``EXCLUDE=( ... )`` array."""
    body = re.search(r"^EXCLUDE=\(\n(.*?)^\)", SCRIPT.read_text(), re.M | re.S)
    assert body, "no EXCLUDE=( ... ) array in scripts/test_py313.sh"
    found, reason = [], ""
    for line in body.group(1).splitlines():
        line = line.strip()
        if line.startswith("#"):
            reason = line.lstrip("# ")
        elif line:
            found.extend((reason, option) for option in shlex.split(line))
    return found


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_exclusion_names_something_that_exists_and_says_why():
    found = exclusions()
    assert found
    for reason, option in found:
        assert reason, f"{option}: no comment above it saying why it is left out"
        if option.startswith("--ignore="):
            assert (ROOT / option.split("=", 1)[1]).is_file(), option
        elif option.startswith("--deselect="):
            file, _, name = option.split("=", 1)[1].partition("::")
            assert (ROOT / file).is_file(), option
            assert name in _functions(ROOT / file), f"{option}: no test {name} in {file}"
    options = [o for _, o in found]
    assert "not build" in options, "the Sphinx build test (marker build) must be left out"


def test_the_job_installs_requirements_alone():
    text = SCRIPT.read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert "pip_install -r requirements.txt" in code
    assert "requirements-dev" not in code and "constraints-py311" not in code
    assert "install -e" not in code and "pip install -e" not in code
    assert "--nbval-current-env" in code   # the chapter runs in this venv's kernel


def test_ci_runs_both_jobs_and_fails_if_either_fails():
    run = (ROOT / ".ci" / "run").read_text()
    assert "exec " not in run, "an exec would stop .ci/run before the Python 3.13 job"
    assert run.index("bash scripts/test.sh") < run.index("bash scripts/test_py313.sh")
    assert run.rstrip().splitlines()[-1] == '[ "$main_rc" -eq 0 ] && [ "$py313_rc" -eq 0 ]'
