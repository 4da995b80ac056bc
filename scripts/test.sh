#!/usr/bin/env bash
# Run every check CI runs: set-up from nothing, lint, format, strict typing, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff check";          ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy --strict";       mypy
echo "== pytest";              python -m pytest "$@"
