#!/usr/bin/env bash
# The README's test command: install, then run the whole test suite (skip reasons shown: -rs).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WXPAY_VENV:-.venv}"
echo "scripts/test.sh: installing wxpay-async[test] into $venv (pip; quiet, may take ~30 s the first time)..." >&2
bash scripts/bootstrap.sh
echo "scripts/test.sh: running pytest -q -rs $*" >&2
set +e
"$venv/bin/python" -m pytest -q -rs "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
