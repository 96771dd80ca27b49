#!/usr/bin/env bash
# UDP tracker throughput (BEP 15): benches/udp_load.rs (2 threads, each its own socket and
# connection id, 32 announces in flight each, random info-hashes among 1,000 and random peers)
# against `p2p tracker` and opentracker in the same run on loopback, alternating, 3 rounds;
# prints announces/s for both and the ratio of the medians, and each tracker's CPU time per
# 100,000 announces (the generator shares the cores: CPU per announce is the fairer measure).
# Usage: benches/tracker_udp.sh [SECONDS=10] [THREADS=2] [IN_FLIGHT=32]
#   (needs: apt-get install -y opentracker)
set -euo pipefail
secs=${1:-10}; threads=${2:-2}; inflight=${3:-32}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v opentracker >/dev/null || { echo "opentracker missing: apt-get install -y opentracker" >&2; exit 1; }
cargo build --release --quiet
cargo bench --bench udp_load --no-run --quiet 2>/dev/null
load=$(ls -t target/release/deps/udp_load-* | grep -v '\.d$' | head -1)
bin=$PWD/target/release/p2p
work=$(mktemp -d); chmod 755 "$work"
# opentracker as Debian builds it takes whitelisted info-hashes only: those the generator uses.
python3 -c '
for i in range(1000): print(("%020d" % i).encode().hex())' > "$work/whitelist"
chmod 644 "$work/whitelist"
p2p_port=$(free_port); ot_port=$(free_port)
"$bin" tracker --listen 127.0.0.1:$p2p_port --interval 1800 2>/dev/null & pids+=($!); p2p_pid=$!
opentracker -i 127.0.0.1 -p $ot_port -P $ot_port -w "$work/whitelist" >/dev/null 2>&1 & pids+=($!); ot_pid=$!
sleep 1
hz=$(getconf CLK_TCK)
# Prints "announces/s CPU-seconds-per-100k" for one run against port $1, process $2.
run() {
  local before after out n
  before=$(ticks $2)
  out=$("$load" "127.0.0.1:$1" "$secs" "$threads" "$inflight" 1000)
  after=$(ticks $2)
  n=$(echo "$out" | sed -n 's/^\([0-9]*\) announces answered.*/\1/p')
  echo "$(echo "$out" | sed -n 's/.*: \([0-9]*\) announces\/s/\1/p') $(echo "scale=3; ($after - $before) / $hz * 100000 / $n" | bc -l)"
}
p2p=(); ot=()
for round in 1 2 3; do
  read -r pr pc <<< "$(run $p2p_port $p2p_pid)"; read -r orate oc <<< "$(run $ot_port $ot_pid)"
  p2p+=($pr); ot+=($orate)
  echo "round $round: p2p $pr announces/s ($pc CPU s per 100k), opentracker $orate announces/s ($oc CPU s per 100k)"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
mp=$(median "${p2p[@]}"); mo=$(median "${ot[@]}")
printf 'median: p2p %s, opentracker %s announces/s; ratio p2p/opentracker %.2f\n' "$mp" "$mo" "$(echo "$mp/$mo" | bc -l)"
