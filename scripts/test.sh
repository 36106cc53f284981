#!/usr/bin/env bash
# Install what the tests need, then run the whole test suite: unit tests, structure checks,
# the book build check and every notebook executed by nbval, all in quick mode.
# Data: set DLBI_DATA_MIRROR to a local mirror folder, or let the loader download (internet).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ -n "${DLBI_DATA_MIRROR:-}" ]; then
  DLBI_DATA_MIRROR="$(cd "$DLBI_DATA_MIRROR" && pwd)"; export DLBI_DATA_MIRROR
fi
export DLBI_MODE=quick
exec python3 -m pytest --nbval-lax tests notebooks "$@"
