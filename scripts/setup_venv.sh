#!/usr/bin/env bash
# Creates .venv/ from requirements.lock with uv, then installs tfx-transfer into it (editable).
# Python 3.10 comes from $PYTHON, else `python3.10` on PATH, else `pyenv prefix 3.10`,
# else `uv python install 3.10`. uv comes from PATH, else it is pip-installed into .cache/uv.
set -euo pipefail
cd "$(dirname "$0")/.."

is_py310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ ! -x .cache/uv/bin/uv ]; then
    echo "setup: uv not on PATH; installing it into .cache/uv with pip" >&2
    local boot
    for boot in python3 python; do
      command -v "$boot" >/dev/null 2>&1 && break
    done
    "$boot" -m pip install --quiet --disable-pip-version-check --target .cache/uv uv >&2
  fi
  echo "$PWD/.cache/uv/bin/uv"
}

UV=$(find_uv)
export PYTHONPATH="$PWD/.cache/uv${PYTHONPATH:+:$PYTHONPATH}"

PY=""
if [ -n "${PYTHON:-}" ]; then
  is_py310 "$PYTHON" || { echo "setup: PYTHON=$PYTHON is not a working Python 3.10" >&2; exit 1; }
  PY="$PYTHON"; echo "setup: Python 3.10 from \$PYTHON: $PY"
elif is_py310 python3.10; then
  PY=$(command -v python3.10); echo "setup: Python 3.10 from PATH: $PY"
elif command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix 3.10 2>/dev/null) && is_py310 "$prefix/bin/python"; then
  PY="$prefix/bin/python"; echo "setup: Python 3.10 from pyenv: $PY"
else
  echo "setup: no Python 3.10 found; installing one with uv"
  "$UV" python install 3.10
  PY=$("$UV" python find 3.10); echo "setup: Python 3.10 from uv: $PY"
fi

rm -rf .venv
"$UV" venv --quiet --python "$PY" .venv
"$UV" pip sync --quiet --python .venv/bin/python requirements.lock
"$UV" pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/python -m pip --version >/dev/null
echo "setup: .venv ready ($(.venv/bin/python --version), tfx $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("tfx"))'))"
