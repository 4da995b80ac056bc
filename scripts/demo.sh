#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, then run the product end to end.
# Arguments go to the demo: e.g. scripts/demo.sh --short, scripts/demo.sh --out /tmp/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
iops-controller check-rules rules/
iops-controller test-rules rules/tests/*.yaml
exec python -m sandbox.demo "$@"
