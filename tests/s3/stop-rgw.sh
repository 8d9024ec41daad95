#!/usr/bin/env bash
# Stops what start-rgw.sh DIR started, by the pids in DIR/run: SIGTERM, then SIGKILL after 5 s.
dir=$1
pids=$(cat "$dir"/run/*.pid 2>/dev/null || true)
[[ -n $pids ]] || exit 0
kill $pids 2>/dev/null || true
for _ in $(seq 1 50); do
  alive=""
  for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
  [[ -n $alive ]] || exit 0
  sleep 0.1
done
kill -9 $alive 2>/dev/null || true
