#!/usr/bin/env bash
# The README's test command: install, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
venv="${WXPAY_VENV:-.venv}"
set +e
"$venv/bin/python" -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
