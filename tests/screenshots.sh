#!/usr/bin/env bash
# Screenshots of the window as people use it, light and dark, into target/screenshots/: two
# windows (Alice and Bob) under Xvfb sign in by typing, chat, send a file by path (no desktop
# portal here, so Attach asks for the path), take an incoming call from Carol (the CLI), and
# show History and Settings. Keyboard only (Ctrl+K, Ctrl+O, Ctrl+3, Enter), synchronised on
# the windows' titles and the CLI's exits. A figure-maker, not a test: the README's picture
# comes from it.
#   bash tests/screenshots.sh [path/to/parley]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/parley}")
out=$(realpath -m target/screenshots)
mkdir -p "$out"
if [ "${2:-}" != "--inside" ]; then
  exec xvfb-run -a -s '-screen 0 2240x760x24' "$0" "$bin" --inside
fi
export ICED_BACKEND=tiny-skia
unset WAYLAND_DISPLAY
# No sound card here: ALSA's null device lets calls open their streams, as a headset would.
home=$(mktemp -d)
printf 'pcm.!default { type null }\n' >"$home/.asoundrc"
export HOME=$home

shot() { import -window "$1" "$out/$2.png"; echo "$out/$2.png"; }
# Waits until window $1's title matches the pattern $2 (30 s at most).
title_is() {
  for _ in $(seq 300); do
    [[ "$(xdotool getwindowname "$1" 2>/dev/null)" =~ $2 ]] && return 0
    sleep 0.1
  done
  echo "window $1 never showed “$2” (it shows “$(xdotool getwindowname "$1")”)" >&2
  return 1
}
keys() { xdotool windowfocus --sync "$1"; shift; xdotool "$@"; }
# Carol's one-off message, tried until the server can deliver it (the window has signed in).
carol_writes() {
  for _ in $(seq 100); do
    "$bin" --profile "$dir/carol" chat "sip:$1@127.0.0.1" "$2" --account sip:carol@127.0.0.1 \
      --bind 127.0.0.1:0 >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  echo "$1 never signed in" >&2
  return 1
}

run() {
  local theme=$1
  dir=$(mktemp -d)
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' RETURN
  # SIP's own port on loopback, so an address like alice@127.0.0.1 needs no server field.
  "$bin" --profile "$dir/server" serve --bind 127.0.0.1:5060 --domain 127.0.0.1 --open \
    >"$dir/server.log" 2>&1 &
  pids+=($!)
  for who in alice bob; do
    other=$([ "$who" = alice ] && echo Bob || echo Alice)
    printf 'BEGIN:VCARD\nVERSION:4.0\nFN:%s\nIMPP:sip:%s@127.0.0.1\nEND:VCARD\n' \
      "$other" "${other,,}" >"$dir/$who.vcf"
    "$bin" --profile "$dir/$who" contacts import "$dir/$who.vcf" >/dev/null
    python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT OR REPLACE INTO settings VALUES('theme', ?)\", (sys.argv[2],)); c.commit()" \
      "$dir/$who/parley.db" "$theme"
  done
  "$bin" --profile "$dir/alice" 2>/dev/null &
  pids+=($!)
  a=$(timeout 30 xdotool search --sync --onlyvisible --name '^Parley$' | head -1)
  xdotool windowmove "$a" 0 0
  sleep 1
  shot "$a" "welcome-$theme"
  keys "$a" type --delay 20 "alice@127.0.0.1"
  keys "$a" key Tab
  keys "$a" type --delay 20 "alice-password"
  keys "$a" key Return
  carol_writes alice "Hi Alice, it's Carol from accounts: are the minutes ready?"
  title_is "$a" '^\(1\) Parley$'

  "$bin" --profile "$dir/bob" 2>/dev/null &
  pids+=($!)
  b=$(timeout 30 xdotool search --sync --onlyvisible --name '^Parley$' | grep -v "^$a$" | head -1)
  xdotool windowmove "$b" 1130 0
  keys "$b" type --delay 20 "bob@127.0.0.1"
  keys "$b" key Tab
  keys "$b" type --delay 20 "bob-password"
  keys "$b" key Return
  carol_writes bob "Bob, lunch at one?"
  title_is "$b" '^\(1\) Parley$'

  # Alice writes to Bob: Ctrl+K, his name, Enter opens his conversation with the composer ready.
  keys "$a" key ctrl+k
  keys "$a" type --delay 20 "Bob"
  keys "$a" key Return
  sleep 0.5
  keys "$a" type --delay 20 "Hi Bob, the minutes are coming now."
  keys "$a" key Return
  title_is "$b" '^\(2\) Parley$'
  # ...and sends the file: Ctrl+O finds no file dialog here, so she types its path.
  printf 'Minutes of the weekly meeting\n1. Lunch moves to one.\n' >"$dir/minutes.txt"
  keys "$a" key ctrl+o
  sleep 0.5
  keys "$a" type --delay 10 "$dir/minutes.txt"
  keys "$a" key Return
  sleep 1
  shot "$b" "file-offer-$theme"
  keys "$b" key Return
  sleep 1
  keys "$b" key ctrl+k
  keys "$b" type --delay 20 "Alice"
  keys "$b" key Return
  sleep 1
  shot "$b" "chat-$theme"
  shot "$a" "conversation-$theme"

  # Carol calls Alice, who answers with Enter.
  "$bin" --profile "$dir/carol" call sip:alice@127.0.0.1 --account sip:carol@127.0.0.1 \
    --bind 127.0.0.1:0 --hangup-after 8 >"$dir/call.log" 2>&1 &
  caller=$!
  title_is "$a" '^Incoming call from'
  sleep 0.5
  shot "$a" "incoming-call-$theme"
  keys "$a" key Return
  title_is "$a" ' 0:0[2-9] — Parley$'
  shot "$a" "connected-call-$theme"
  wait $caller || true
  title_is "$a" 'Parley$'
  keys "$a" key ctrl+3
  sleep 0.5
  shot "$a" "history-$theme"
  keys "$a" key ctrl+4
  sleep 0.5
  shot "$a" "settings-$theme"
}

run light
run dark
ls "$out"
