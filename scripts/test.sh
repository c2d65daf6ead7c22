#!/usr/bin/env bash
# Install everything (Chromium and LibreOffice from the OS packages, the toolkit and its test tools in .venv) and run
# the whole test suite: lint and the import contracts, then pytest on SQLite and PostgreSQL, browser
# tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian package) for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# LibreOffice, poppler-utils and Carlito (Calibri's metrics) for the test that renders the report as it
# prints (tests/test_reports_print.py; skipped where they are missing).
if ! command -v libreoffice >/dev/null 2>&1 || ! command -v pdfimages >/dev/null 2>&1; then
  echo "== installing LibreOffice Calc, poppler-utils and Carlito (Debian packages) for the print test"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libreoffice-calc poppler-utils \
    fonts-crosextra-carlito >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,redis]"

echo "== ruff"
.venv/bin/ruff check .
echo "== import contracts (questionnaires < analysis < reports < survey; no Flask outside survey)"
.venv/bin/lint-imports --no-cache
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
