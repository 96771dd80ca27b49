#!/bin/sh
# How soon a fetch could start playing: one seed limited to 4 MiB/s serves SIZE MiB (64 by
# default, 256 KiB pieces); a fetch runs rarest-first, then with --sequential, and the script
# prints, for each, the seconds until the first 10 % (and 50 %) of the file is readable from its
# start without a gap (the --json prefix_bytes), and the total time.
# Usage: benches/sequential.sh [SIZE_MIB]
set -eu
cd "$(dirname "$0")/.."
size=${1:-64}
cargo build --release --quiet
bin=$PWD/target/release/p2p
work=$(mktemp -d)
trap 'kill $seed 2>/dev/null || true; rm -rf "$work"' EXIT
head -c $((size << 20)) /dev/urandom > "$work/f.bin"
"$bin" make-torrent "$work/f.bin" --tracker t@127.0.0.1:9 --piece-length 256K --out "$work/f.torrent" >/dev/null 2>&1
RUST_LOG=info "$bin" seed "$work/f.torrent" --dir "$work" --listen 127.0.0.1:0 --utp off --no-dht --upload-limit 4M 2>"$work/seed.log" &
seed=$!
for _ in $(seq 50); do grep -q "listening on" "$work/seed.log" && break; sleep 0.1; done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/seed.log" | cut -d: -f2)
for mode in rarest-first sequential; do
  flag=""; [ $mode = sequential ] && flag=--sequential
  rm -rf "$work/out"
  start=$(date +%s.%N)
  "$bin" fetch "$work/f.torrent" --out "$work/out" --peer 127.0.0.1:$port --listen 127.0.0.1:0 --utp off --no-dht --json $flag 2>/dev/null |
    python3 -c '
import json, sys, time
start = float(sys.argv[1]); mode = sys.argv[2]; marks = {}
for line in sys.stdin:
    v = json.loads(line); now = time.time() - start
    if v["event"] == "progress":
        for f in (0.1, 0.5):
            if f not in marks and v["prefix_bytes"] >= f * v["total_bytes"]:
                marks[f] = now
    else:
        for f in (0.1, 0.5):
            marks.setdefault(f, now)
        print("%-13s first 10%% readable after %5.1fs, 50%% after %5.1fs, complete in %5.1fs"
              % (mode, marks[0.1], marks[0.5], now))
' "$start" $mode
done
