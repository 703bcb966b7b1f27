#!/usr/bin/env bash
# Checks benches/compare.py: crafted files, one with an injected regression;
# the exit codes must be 0 (no regression), 1 (regression), 2 (bad input).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$HERE/../compare.py" --self-test
