#!/usr/bin/env bash
# Creates benches/reference/.venv with the pinned reference frameworks.
# Note: PyPI's default index only has the CUDA build of torch for Linux
# x86-64 (the CPU-only wheels live on a separate index this project cannot
# reach), so this pulls torch's CUDA dependencies too (several GB on disk);
# they are simply unused here. tensorflow (not -cpu) is the CPU build.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
if [ ! -x "$HERE/.venv/bin/python" ]; then
  "$PY" -m venv "$HERE/.venv"
fi
"$HERE/.venv/bin/pip" install -r "$HERE/requirements.txt"
"$HERE/.venv/bin/python" - <<'PY'
import numpy, tensorflow, keras, torch
print("numpy", numpy.__version__, "tensorflow", tensorflow.__version__,
      "keras", keras.__version__, "torch", torch.__version__)
PY
