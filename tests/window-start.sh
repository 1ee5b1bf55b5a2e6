#!/usr/bin/env bash
# Time from launching the window to its first drawn frame, under Xvfb (a figure, not a test):
# polls the window's pixels until it shows more than ten colours. `xdotool search --sync`
# cannot time this: it sleeps half a second between its tries.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/parley}
if [ "${2:-}" != "--inside" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$0" "$bin" --inside
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for i in 1 2; do
  t0=$(date +%s.%N)
  ICED_BACKEND=tiny-skia "$bin" --profile "$profile" 2>/dev/null &
  pid=$!
  until w=$(xdotool search --onlyvisible --name '^Parley$' 2>/dev/null); do sleep 0.005; done
  t1=$(date +%s.%N)
  until [ "$(import -window "$w" png:- 2>/dev/null | convert png:- -format '%k' info: 2>/dev/null || echo 0)" -gt 10 ]; do :; done
  t2=$(date +%s.%N)
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  printf 'window mapped %.3f s, first frame %.3f s (at most; screenshots poll), %.1f MB resident\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$(echo "$rss / 1024" | bc -l)"
done
