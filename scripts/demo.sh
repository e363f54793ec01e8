#!/usr/bin/env bash
# The README's main job: install, then run the end-to-end demo against the built-in emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
venv="${WXPAY_VENV:-.venv}"
exec "$venv/bin/wxpay-async" demo "$@"
