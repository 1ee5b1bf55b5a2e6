#!/usr/bin/env bash
# The window's resident memory over many answered calls, under Xvfb (a figure, not a test):
# Bob's window, registered at a local `parley serve`, answers each call from `parley call` with
# Enter (as a user would) and the caller hangs up after a moment. Prints the window's memory
# before the first call, after the first, and every 25 calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/parley}")
calls=${2:-100}
if [ "${3:-}" != "--inside" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$0" "$bin" "$calls" --inside
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" --profile "$dir/server" serve --bind "127.0.0.1:$port" --domain calls.test --open >/dev/null 2>&1 &
pids+=($!)
common=(--server "127.0.0.1:$port" --bind 127.0.0.1:0)
# Bob's account is saved in his profile by registering once, as the window's sign-in would.
"$bin" --profile "$dir/bob" agent --account sip:bob@calls.test "${common[@]}" >"$dir/agent.out" 2>&1 &
agent=$!
until grep -q '^registered' "$dir/agent.out"; do sleep 0.1; done
kill -INT $agent; wait $agent || true
ICED_BACKEND=tiny-skia "$bin" --profile "$dir/bob" 2>/dev/null &
win=$!
pids+=($win)
w=$(timeout 30 xdotool search --sync --onlyvisible --name '^Parley$' | head -1)
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$win/status"; }
sleep 3
echo "window idle, registered: $(rss)"
for i in $(seq 1 "$calls"); do
  "$bin" --profile "$dir/alice" call sip:bob@calls.test --account sip:alice@calls.test \
    "${common[@]}" --hangup-after 0.3 | while read -r line; do
      case "$line" in
        *Ringing*) xdotool windowfocus --sync "$w" key Return ;;
      esac
    done
  if [ "$i" -eq 1 ] || [ $((i % 25)) -eq 0 ]; then
    sleep 1
    echo "after $i calls: $(rss)"
  fi
done
answered=$("$bin" --profile "$dir/bob" history --json 2>/dev/null | grep -c '"answered_at":[0-9]' || true)
echo "answered in Bob's history: $answered of $calls"
