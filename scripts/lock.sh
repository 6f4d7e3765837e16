#!/usr/bin/env bash
# Rewrites requirements.lock from a fresh resolve of pyproject.toml's pins.
set -euo pipefail
venv=${1:-.venv}
tmp=$(mktemp -d)
"$venv/bin/python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade "pip==24.3.1"
"$tmp/venv/bin/python" -m pip install -q ".[dev]"
{
  echo "# Every package of the working set, pinned. Regenerate with: make lock"
  echo "# (Python 3.10; see docs/stack.md for why apache-beam is held at 2.60.0)"
  "$tmp/venv/bin/python" -m pip freeze --exclude tfx-multihead
} > requirements.lock
rm -rf "$tmp"
echo "requirements.lock updated"
