#!/usr/bin/env bash
# Tracker at scale (issue 11): `p2p tracker` filled over UDP with 10,000,000 peers over
# 1,000,000 torrents (the store's bounds: 10 ports of 127.0.0.1 a torrent), then its resident
# memory, and its UDP announce rate with that store against a fresh tracker's, same load
# (benches/udp_load.rs: random torrents among the million, peers among the 10 ports).
# Usage: benches/tracker_scale.sh [PEERS=10000000] [TORRENTS=1000000] [SECONDS=10]
set -euo pipefail
peers=${1:-10000000}; torrents=${2:-1000000}; secs=${3:-10}
cd "$(dirname "$0")/.."
. benches/lib.sh
cargo build --release --quiet
cargo bench --bench udp_load --no-run --quiet 2>/dev/null
load=$(ls -t target/release/deps/udp_load-* | grep -v '\.d$' | head -1)
bin=$PWD/target/release/p2p
stats() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]).read().decode())' "$1"; }
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' /proc/$1/status; }
rate() { "$load" "127.0.0.1:$1" "$secs" 2 32 "$torrents" 10 | sed -n 's/.*: \([0-9]*\) announces\/s/\1/p'; }
ports=$(( (peers + torrents - 1) / torrents ))

empty_port=$(free_port)
"$bin" tracker --listen 127.0.0.1:$empty_port --interval 1800 2>/dev/null & pids+=($!)
sleep 0.5
empty=$(rate $empty_port)
kill "${pids[-1]}"
echo "fresh tracker: $empty announces/s (${secs} s, random torrents among $torrents, 10 ports)"

port=$(free_port)
"$bin" tracker --listen 127.0.0.1:$port --interval 1800 2>/dev/null & pids+=($!); pid=$!
sleep 0.5
echo "== filling: $peers announces in order, $ports ports a torrent"
start=$(date +%s.%N)
"$load" "127.0.0.1:$port" 600 2 32 "$torrents" "$ports" "$peers"
echo "filled in $(echo "$(date +%s.%N) - $start" | bc -l | cut -c1-5) s; resident memory $(rss $pid) MiB"
echo "$(stats $port)"
full=$(rate $port)
echo "full tracker: $full announces/s; resident memory $(rss $pid) MiB"
printf 'ratio full/fresh: %.2f\n' "$(echo "$full/$empty" | bc -l)"
