#!/usr/bin/env bash
# The Colab check (issue 12): Google Colab runs Python 3.13 and installs requirements.txt alone
# (the chapters' setup cell: `pip install -r requirements.txt`, then `sys.path.insert(0, HOME)`).
# This job does the same on this machine and then runs what needs no book tooling:
#   1. a Python 3.13 virtual environment with requirements.txt alone: no lock (constraints-py311.txt
#      is for 3.11), no requirements-dev.txt, no `pip install -e`;
#   2. then, in a second pip call, only the test runner pieces this job itself needs:
#      pytest, nbval, nbclient, ipykernel (Colab has a kernel of its own; the chapters need
#      nothing beyond requirements.txt, and the chapter run below checks that);
#   3. the book's code importable through PYTHONPATH=<repo root>, as the setup cell's sys.path does;
#   4. the unit tests, minus those that need the book tooling (list below, with reasons);
#   5. one short chapter executed by nbval in quick mode, offline from the data mirror, in a
#      kernel of this venv's Python 3.13 (--nbval-current-env; a probe notebook run by the same
#      nbval call asserts the kernel's interpreter and that `utils` comes from this checkout).
#
# Usage:  DLBI_DATA_MIRROR=/path/to/data bash scripts/test_py313.sh [test files or pytest args for
#         step 4; default: tests]
# Environment:
#   DLBI_DATA_MIRROR   folder holding brain_mri, brain_mri_masks, chest_xray (else <repo>/../shared/data)
#   DLBI_PYTHON313     the Python 3.13 interpreter (default: python3.13 on PATH, else pyenv's 3.13.0)
#   DLBI_PY313_VENV    where the venv lives (default: $DLBI_CACHE/py313-venv, DLBI_CACHE defaulting
#                      to ~/.cache/dlbi). Reused while requirements.txt (its sha256), the runner
#                      pieces and the interpreter are unchanged (stamp file in the venv);
#   DLBI_PY313_FRESH=1 rebuild it anyway (newer releases on PyPI are then picked up, as in Colab).
#   DLBI_PY313_CHAPTER the chapter to execute (default notebooks/03_convolution.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
START=$SECONDS

# ---- the interpreter ---------------------------------------------------------------------------
if [ -n "${DLBI_PYTHON313:-}" ]; then
  PY313=("$DLBI_PYTHON313")
elif command -v python3.13 >/dev/null 2>&1 && python3.13 -c '' >/dev/null 2>&1; then
  PY313=(python3.13)
else
  PY313=(env PYENV_VERSION=3.13.0 python3)
fi
if ! "${PY313[@]}" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
  echo "test_py313: no Python 3.13 interpreter (tried: ${PY313[*]}); set DLBI_PYTHON313" >&2
  exit 2
fi
PY_FULL="$("${PY313[@]}" -c 'import sys; print(sys.version.split()[0])')"

# ---- the venv: requirements.txt alone, then the runner pieces ---------------------------------
RUNNER_PIECES=(pytest nbval nbclient ipykernel)
VENV="${DLBI_PY313_VENV:-${DLBI_CACHE:-$HOME/.cache/dlbi}/py313-venv}"
VENV="$(mkdir -p "$(dirname "$VENV")" && cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")"
PY="$VENV/bin/python"
STAMP="$VENV/.dlbi-stamp"
WANT="python=$PY_FULL requirements.txt sha256=$(sha256sum requirements.txt | cut -d' ' -f1) runner=${RUNNER_PIECES[*]}"
pip_install() {  # quiet; drops pip's notes about this machine's local index folders
  "$PY" -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}
BUILD_START=$SECONDS
if [ "${DLBI_PY313_FRESH:-0}" != "1" ] && [ -x "$PY" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "test_py313: reusing $VENV ($WANT)"
  BUILT="reused"
else
  echo "test_py313: building $VENV with Python $PY_FULL"
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then   # never remove a folder that is no venv
    echo "test_py313: $VENV exists and is not a virtual environment; choose DLBI_PY313_VENV" >&2
    exit 2
  fi
  rm -rf "$VENV"
  "${PY313[@]}" -m venv "$VENV"
  pip_install --upgrade pip
  # as Colab's setup cell: requirements.txt alone (no -c lock, no dev requirements)
  pip_install -r requirements.txt
  "$PY" -m pip freeze --all > "$VENV/.dlbi-freeze-requirements.txt"
  # only what this job itself needs to run tests and a kernel
  pip_install "${RUNNER_PIECES[@]}"
  "$PY" -m pip freeze --all > "$VENV/.dlbi-freeze.txt"
  # the runner pieces must not have changed what requirements.txt installed
  changed="$(comm -23 <(sort "$VENV/.dlbi-freeze-requirements.txt") <(sort "$VENV/.dlbi-freeze.txt"))"
  if [ -n "$changed" ]; then
    echo "test_py313: installing ${RUNNER_PIECES[*]} changed what requirements.txt installed:" >&2
    echo "$changed" >&2
    exit 1
  fi
  echo "$WANT" > "$STAMP"
  BUILT="built"
fi
BUILD_S=$((SECONDS - BUILD_START))
echo "test_py313: environment $BUILT in ${BUILD_S}s"
"$PY" - <<'EOF'
import platform
from importlib import metadata
names = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "scikit-image", "matplotlib",
         "pydicom", "nilearn", "visualkeras", "pytest", "nbval", "ipykernel")
print("test_py313: Python", platform.python_version(), "|",
      ", ".join(f"{n} {metadata.version(n)}" for n in names))
EOF

# ---- what the tests see ------------------------------------------------------------------------
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"   # the setup cell's sys.path.insert(0, HOME)
export DLBI_MODE=quick
MIRROR="${DLBI_DATA_MIRROR:-$ROOT/../shared/data}"
if [ ! -d "$MIRROR/brain_mri" ]; then
  echo "test_py313: no data mirror at $MIRROR (set DLBI_DATA_MIRROR)" >&2
  exit 2
fi
DLBI_DATA_MIRROR="$(cd "$MIRROR" && pwd)"; export DLBI_DATA_MIRROR
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export DLBI_CACHE="${DLBI_CACHE:-$WORK/cache}"   # never the user's cache unless asked for

# ---- 4. unit tests -----------------------------------------------------------------------------
# Left out, because they need the book tooling of requirements-dev.txt, which Colab never installs:
EXCLUDE=(
  # the Sphinx build of the book: jupyter-book, sphinx-exercise, then playwright + Chromium
  -m "not build"
  # md <-> ipynb pairing: reads and syncs the MyST sources with jupytext
  --ignore=tests/test_pairing.py
  # student versions: reads every notebooks/NN_name.md with jupytext, at collection
  --ignore=tests/test_assignments.py
  # the skeleton checks of the MyST sources and the template: jupytext
  --deselect=tests/test_structure.py::test_notebook_follows_skeleton
  --deselect=tests/test_structure.py::test_template_follows_skeleton
  --deselect=tests/test_structure.py::test_template_runs_and_its_solution_passes
  # exports the capstone template from its MyST source (utils.assignments, jupytext), then grades it
  --deselect=tests/test_grading.py::test_the_capstone_template_exports_and_grades
  # reads notebooks/99_results.md (the page's MyST source): jupytext
  --deselect=tests/test_results.py::test_results_page_is_executed_at_every_build
)
# (tests/test_lock.py stays: it parses constraints-py311.txt as text and runs no uv.)
T0=$SECONDS
set +e
"$PY" -m pytest -p no:cacheprovider -q "${EXCLUDE[@]}" "${@:-tests}"
UNIT_RC=$?
set -e
UNIT_S=$((SECONDS - T0))

# ---- 5. one chapter, in this venv's kernel, offline from the mirror ---------------------------
CHAPTER="${DLBI_PY313_CHAPTER:-notebooks/03_convolution.ipynb}"
"$PY" - "$WORK/kernel_probe.ipynb" <<'EOF'
import sys
import nbformat
probe = '''import os, sys
print(sys.version, sys.executable)
assert sys.version_info[:2] == (3, 13), f"kernel runs Python {sys.version}, not 3.13"
assert os.path.realpath(sys.prefix) == os.path.realpath(os.environ["VIRTUAL_ENV"]), \\
    f"kernel runs {sys.prefix}, not the venv {os.environ['VIRTUAL_ENV']}"
import utils
from utils import config
root = os.path.realpath(os.environ["PYTHONPATH"].split(os.pathsep)[0])
assert os.path.realpath(utils.__file__).startswith(root + os.sep), utils.__file__
info = config.environment()
assert info["python"].startswith("3.13.") and info["mode"] == "quick", info
print("kernel:", info["python"], info["tensorflow"], info["keras"], info["numpy"])'''
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(probe)]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, sys.argv[1])
EOF
T1=$SECONDS
set +e
DLBI_OFFLINE=1 "$PY" -m pytest -p no:cacheprovider -q --rootdir="$ROOT" -c "$ROOT/pyproject.toml" \
  --nbval-lax --nbval-current-env "$WORK/kernel_probe.ipynb" "$CHAPTER"
CHAPTER_RC=$?
set -e
CHAPTER_S=$((SECONDS - T1))

echo "test_py313: Python $PY_FULL | environment $BUILT ${BUILD_S}s | unit tests rc=$UNIT_RC ${UNIT_S}s |" \
     "$(basename "$CHAPTER") rc=$CHAPTER_RC ${CHAPTER_S}s | total $((SECONDS - START))s"
[ "$UNIT_RC" -eq 0 ] && [ "$CHAPTER_RC" -eq 0 ]
