#!/usr/bin/env bash
# The peers suite in one command: fastnn, PyTorch and TensorFlow side by side.
#
#   benches/peers/run.sh [peers.py flags...]       e.g. --repeats 5, --full, --threads 1
#
# Python: $PEERS_PYTHON if set (an interpreter that already has numpy, torch
# and tensorflow, e.g. benches/reference/.venv/bin/python); otherwise
# benches/peers/.venv, created and filled from requirements.txt on first use
# (several GB: torch's default wheel carries CUDA libraries). Then builds
# fastnn (cargo build --release) and runs peers.py, which writes
# benches/peers/results.json and prints the tables.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

if [ -n "${PEERS_PYTHON:-}" ]; then
  PY="$PEERS_PYTHON"
else
  VENV="$HERE/.venv"
  if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  STAMP="$VENV/.requirements.sha256"
  WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    "$VENV/bin/pip" install --upgrade pip >/dev/null
    "$VENV/bin/pip" install -r "$HERE/requirements.txt"
    echo "$WANT" > "$STAMP"
  fi
  PY="$VENV/bin/python"
fi
"$PY" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("numpy", "torch", "tensorflow")))' || {
  echo "$PY lacks numpy, torch or tensorflow" >&2; exit 1; }

(cd "$REPO" && cargo build --release)
cd "$REPO"
exec "$PY" "$HERE/peers.py" "$@"
