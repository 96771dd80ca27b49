#!/usr/bin/env bash
# The DHT peer store under a flood (issue 24): one `p2p dht` node in a network namespace of its
# own, announced to from IPS source addresses, each making ROUNDS announces over a pool of POOL
# info-hashes with a random port each time (a get_peers for the token first). Prints what the
# node stores and its RSS growth. Needs root (ip netns).
# Usage: benches/dht_flood.sh [IPS] [ROUNDS] [POOL] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
ips=${1:-1000}
rounds=${2:-400}
pool=${3:-2000}
bin=${4:-target/release/p2p}
[ -x "$bin" ] || cargo build --release --quiet
ns=p2pflood$$
work=$(mktemp -d)
ip netns add "$ns"
trap 'cleanup; ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" addr add 198.18.0.1/32 dev lo
# The sources: 198.19.0.1 onwards, one /32 each.
python3 -c "
import ipaddress
a = ipaddress.IPv4Address('198.19.0.1')
for k in range($ips): print('addr add %s/32 dev lo' % (a + k))
" | ip -n "$ns" -batch -
ip netns exec "$ns" env RUST_LOG=info "$bin" dht --listen 198.18.0.1:6881 --state-dir "$work/state" \
  2> "$work/node.log" &
pids+=($!)
node=$!
for _ in $(seq 100); do grep -q "listening on" "$work/node.log" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$node/status; }
before=$(rss)
echo "load $(cut -d' ' -f1-3 /proc/loadavg); node RSS ${before} KiB before"
ip netns exec "$ns" python3 benches/dht_flood.py 198.18.0.1:6881 198.19.0.1 "$ips" "$rounds" "$pool"
after=$(rss)
# The node's own count of what it stores, from the stats line it logs on SIGUSR-less exit: its
# last minute line may be stale, so the RSS figure is the one to read.
kill -TERM "$node"
wait "$node" 2>/dev/null || true
echo "node RSS ${after} KiB after: +$(( (after - before) / 1024 )) MiB for $ips IPs x $rounds announces over $pool info-hashes"
