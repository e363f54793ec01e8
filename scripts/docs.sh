#!/usr/bin/env bash
# The documentation site: `bash scripts/docs.sh build` (strict: a broken link or reference fails)
# writes site/; `bash scripts/docs.sh serve [ADDRESS]` serves it with live reload on
# http://127.0.0.1:8000 (or ADDRESS). Installs the package with its docs extra on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WXPAY_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import mkdocs, material, mkdocstrings_handlers.python" >/dev/null 2>&1; then
  echo "Installing wxpay_async with the docs extra into $venv (first run only)..." >&2
  "$venv/bin/python" -m pip install --quiet -e ".[docs]" 2> >(grep -v "^WARNING: Location" >&2)
fi
export NO_MKDOCS_2_WARNING=1
case "${1:-serve}" in
  build) exec "$venv/bin/python" -m mkdocs build --strict --site-dir "${2:-site}" ;;
  serve) exec "$venv/bin/python" -m mkdocs serve --strict --dev-addr "${2:-127.0.0.1:8000}" ;;
  *) echo "usage: bash scripts/docs.sh build [SITE_DIR] | serve [ADDRESS]" >&2; exit 2 ;;
esac
