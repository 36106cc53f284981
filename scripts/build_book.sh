#!/usr/bin/env bash
# Install what the book needs, then execute every chapter (full mode unless DLBI_MODE says
# otherwise) and build the HTML book into _build/html.  Warnings are errors.  The execution cache
# is reused only while the mode, the seed, utils/, the requirement files and the installed
# versions are unchanged (scripts/build_cache.py prepare), and the build fails unless every
# executed chapter's environment report states the mode asked for (check-modes).  Then check what
# readers will see: no executed cell prints more than a screenful and every exercise solution
# passes its check (utils.audit), and every page
# opens in headless Chromium with its figures, links and Colab button (scripts/check_site.py,
# screenshots in _build/screenshots; skipped with a note where no Chromium is installed).
# Data: set DLBI_DATA_MIRROR to a local mirror folder, or let the loader download (internet).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ -n "${DLBI_DATA_MIRROR:-}" ]; then
  DLBI_DATA_MIRROR="$(cd "$DLBI_DATA_MIRROR" && pwd)"; export DLBI_DATA_MIRROR
fi
export DLBI_MODE="${DLBI_MODE:-full}"
# After the install (versions are part of the fingerprint): clears _build/.jupyter_cache (and
# Sphinx's saved environment) when what the chapters depend on changed, and says what changed.
python3 scripts/build_cache.py prepare
start=$(date +%s)
# The results page reads what the chapters wrote into _build/results: make Sphinx read it again
# (its notebook metadata already makes MyST-NB execute it every time).
touch notebooks/99_results.md
jupyter-book build . -W -n --keep-going "$@"
python3 scripts/build_cache.py check-modes --mode "$DLBI_MODE"
echo "book built in $(( $(date +%s) - start )) s (mode: $DLBI_MODE): open _build/html/index.html"
python3 -m utils.audit _build/jupyter_execute
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "${CHROMIUM:-}" ]; then
  python3 scripts/check_site.py _build/html --screenshots _build/screenshots
else
  echo "no Chromium: skipped the browser check (apt-get install chromium, then python3 scripts/check_site.py)"
fi
