#!/usr/bin/env bash
# Render an Excel workbook to PDF (LibreOffice, headless) and to one PNG per page (pdftoppm), to look at
# a report as it prints.
#
#   scripts/render_report.sh bao-cao.xlsx [out-dir] [dpi]
#
# Needs the Debian packages libreoffice-calc and poppler-utils. Writes <out-dir>/<name>.pdf and
# <out-dir>/<name>-<page>.png (default out-dir: a folder next to the workbook named <name>-render).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 WORKBOOK.xlsx [OUT_DIR] [DPI]" >&2
  exit 2
fi
for tool in libreoffice pdftoppm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$0: '$tool' not found; install the Debian packages libreoffice-calc and poppler-utils" >&2
    exit 1
  fi
done

workbook="$(realpath "$1")"
name="$(basename "${workbook%.*}")"
out="${2:-$(dirname "$workbook")/${name}-render}"
dpi="${3:-80}"
mkdir -p "$out"
out="$(realpath "$out")"

# A private LibreOffice profile: no clash with a running instance, no first-start dialogs.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT

timeout 300 libreoffice -env:UserInstallation="file://$profile" --headless --norestore \
  --convert-to pdf --outdir "$out" "$workbook" >/dev/null 2>&1
pdf="$out/$name.pdf"
if [ ! -s "$pdf" ]; then
  echo "$0: LibreOffice did not produce $pdf" >&2
  exit 1
fi
rm -f "$out/$name"-*.png
pdftoppm -r "$dpi" -png "$pdf" "$out/$name"
pages=$(find "$out" -maxdepth 1 -name "$name-*.png" | wc -l)
echo "$pdf ($pages pages as PNG in $out)"
