#!/usr/bin/env bash
# CTest report.html_screenshot (label browser): a tiny run's report.html drawn by a headless
# Chromium (Debian's `chromium` or `chromium-headless-shell`), its screenshot checked for drawn
# plots (scripts/check_png_drawn.py). Installing a browser is not cheap (~220 MB), so this script
# does not: without one the test says AHA-SKIPPED (CTest: Skipped). To run it:
#   apt-get install --no-install-recommends chromium-headless-shell
# Usage: scripts/test_html_screenshot.sh AHA_BINARY BUILD_DIR
set -euo pipefail
aha=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
browser=
for candidate in chromium-headless-shell chromium chromium-browser; do
  if command -v "$candidate" > /dev/null; then browser=$(command -v "$candidate"); break; fi
done
if [[ -z $browser ]]; then
  echo "AHA-SKIPPED: no headless Chromium (apt-get install --no-install-recommends chromium-headless-shell)"
  exit 0
fi
dir=$build/report-tests/screenshot-run
bash "$here/report_test_run.sh" "$aha" "$dir"
png=$dir/report.png
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: CI runs as root, where Chromium refuses its own sandbox. A fresh profile each time.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size=1300,2300 --screenshot="$png" "file://$(realpath "$dir/report.html")" > "$dir.browser.log" 2>&1 || {
  echo "browser failed:"; tail -20 "$dir.browser.log"; exit 1; }
/usr/bin/python3 "$here/check_png_drawn.py" "$png"
echo "screenshot: $png"
