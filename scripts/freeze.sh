#!/usr/bin/env bash
# Regenerate constraints-py311.txt from the current (tested) environment.
set -euo pipefail
cd "$(dirname "$0")/.."
{ echo "# pip freeze of the environment the book was built and tested with (Python $(python3 -c 'import platform;print(platform.python_version())'), $(uname -sm))."
  echo "# Used as constraints by requirements-dev.txt; regenerate with scripts/freeze.sh."
  python3 -m pip freeze | grep -v -E "^(-e |dlbi-book-utils)"; } > constraints-py311.txt
