#!/usr/bin/env bash
# Create (or reuse) the virtualenv and install wxpay_async with its test extra.
# WXPAY_VENV picks the venv directory (default .venv). Quiet unless something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WXPAY_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install --quiet -e ".[test]" 2> >(grep -v "^WARNING: Location" >&2)
# arq beside the current redis-py (see the note in pyproject.toml's test extra); click, its other
# dependency, comes with Celery.
"$venv/bin/python" -m pip install --quiet --no-deps "arq>=0.26" 2> >(grep -v "^WARNING: Location" >&2)
