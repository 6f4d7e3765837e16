#!/usr/bin/env bash
# Creates the virtualenv with Python 3.10 and installs the pinned set.
set -euo pipefail
venv=${1:-.venv}

find_python() {
  local candidates=("${PYTHON:-}" python3.10 /root/.pyenv/versions/3.10.13/bin/python)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.10*/bin/python)
  fi
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  if ! py=$(find_python); then
    cat >&2 <<'MSG'
error: no Python 3.10 interpreter found (tried $PYTHON, python3.10 on PATH,
/root/.pyenv/versions/3.10.13/bin/python, pyenv's 3.10 versions).
TFX 1.16 supports Python 3.9 to 3.10 only. Install one, for example:
  apt-get install python3.10 python3.10-venv     (Debian/Ubuntu with 3.10)
  pyenv install 3.10.13                          (any Linux or macOS)
or point PYTHON at it: make PYTHON=/path/to/python3.10 run
MSG
    exit 1
  fi
  echo "creating $venv with $py"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade "pip==24.3.1"
echo "installing the pinned set from requirements.lock (a few minutes the first time)"
"$venv/bin/python" -m pip install -q -r requirements.lock
"$venv/bin/python" -m pip install -q --no-deps -e .
