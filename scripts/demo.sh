#!/usr/bin/env bash
# The README's main job: install the package (no extras), then run the end-to-end demo against the built-in emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WXPAY_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ ! -x "$venv/bin/wxpay-async" ]; then
  echo "Installing wxpay_async into $venv (first run only)..." >&2
  "$venv/bin/python" -m pip install --quiet -e . 2> >(grep -v "^WARNING: Location" >&2)
fi
exec "$venv/bin/wxpay-async" demo "$@"
