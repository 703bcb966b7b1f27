#!/usr/bin/env bash
# Runs every reference run and writes benches/reference/results.json.
#   benches/reference/run_all.sh [--data-root DIR] [--resume] [--only accuracy|timing] [--seeds 1,2,3]
# DIR holds fashion/ and mnist/ IDX folders (default: the repo's data/).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -x "$HERE/.venv/bin/python" ] || "$HERE/setup.sh"
exec "$HERE/.venv/bin/python" "$HERE/run_all.py" "$@"
