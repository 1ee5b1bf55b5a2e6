#!/usr/bin/env bash
# GUI smoke test: launch the real binary under Xvfb with the software renderer, wait for its
# window, save a screenshot to target/screenshots/, and check the window drew something.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/parley
out=target/screenshots
mkdir -p "$out"

if [ "${1:-}" != "--inside" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$0" --inside
fi

profile=$(mktemp -d)
ICED_BACKEND=tiny-skia "$bin" --profile "$profile" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$profile"' EXIT
# The window appears within 30 s or the test fails.
wid=$(timeout 30 xdotool search --sync --name '^Parley$' | head -1)
sleep 2
import -window root "$out/welcome.png"
# A blank (single-colour) screen means nothing was drawn.
colours=$(convert "$out/welcome.png" -format '%k' info:)
echo "window $wid, screenshot $out/welcome.png with $colours colours"
[ "$colours" -gt 10 ]
