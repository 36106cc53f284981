#!/usr/bin/env bash
# Install what the book needs, then execute every chapter (full mode unless DLBI_MODE says
# otherwise) and build the HTML book into _build/html.  Warnings are errors.
# Data: set DLBI_DATA_MIRROR to a local mirror folder, or let the loader download (internet).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ -n "${DLBI_DATA_MIRROR:-}" ]; then
  DLBI_DATA_MIRROR="$(cd "$DLBI_DATA_MIRROR" && pwd)"; export DLBI_DATA_MIRROR
fi
export DLBI_MODE="${DLBI_MODE:-full}"
start=$(date +%s)
jupyter-book build . -W -n --keep-going "$@"
echo "book built in $(( $(date +%s) - start )) s (mode: $DLBI_MODE): open _build/html/index.html"
