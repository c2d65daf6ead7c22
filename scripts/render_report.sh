#!/usr/bin/env bash
# Render an Excel workbook to PDF (LibreOffice, headless) and to one PNG per page (pdftoppm), to look at
# a report as it prints.
#
#   scripts/render_report.sh bao-cao.xlsx [out-dir] [dpi]
#
# Needs the Debian packages libreoffice-calc, poppler-utils and fonts-crosextra-carlito (Carlito has the
# metrics of Calibri, the workbook's default font, so columns come out as wide as in Excel). Writes
# <out-dir>/<name>.pdf and <out-dir>/<name>-<page>.png (default out-dir: a folder next to the workbook
# named <name>-render).
#
# Rendered as a district sees it: LibreOffice runs in Vietnamese (vi-VN), so numbers formatted 0.00 and
# #,##0 show "75,99" and "1.726", as Excel shows them on a computer set to Vietnamese. RENDER_LOCALE
# changes that (e.g. RENDER_LOCALE=en-US).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 WORKBOOK.xlsx [OUT_DIR] [DPI]" >&2
  exit 2
fi
for tool in libreoffice pdftoppm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$0: '$tool' not found; install the Debian packages libreoffice-calc, poppler-utils and fonts-crosextra-carlito" >&2
    exit 1
  fi
done

workbook="$(realpath "$1")"
name="$(basename "${workbook%.*}")"
out="${2:-$(dirname "$workbook")/${name}-render}"
dpi="${3:-80}"
mkdir -p "$out"
out="$(realpath "$out")"

locale="${RENDER_LOCALE:-vi-VN}"
posix_locale="${locale/-/_}.UTF-8"

# A private LibreOffice profile: no clash with a running instance, no first-start dialogs, and the
# locale of the district: the UI and default document locale decide the decimal and thousands separators.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
mkdir -p "$profile/user"
cat >"$profile/user/registrymodifications.xcu" <<XCU
<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>$locale</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooLocale" oor:op="fuse"><value>$locale</value></prop></item>
<item oor:path="/org.openoffice.Office.Linguistic/General"><prop oor:name="DefaultLocale" oor:op="fuse"><value>$locale</value></prop></item>
</oor:items>
XCU

LANG="$posix_locale" LC_ALL="$posix_locale" timeout 300 libreoffice \
  -env:UserInstallation="file://$profile" --headless --norestore \
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
