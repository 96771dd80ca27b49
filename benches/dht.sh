#!/bin/sh
# The DHT at scale, by simulation: NODES (default 10000) sans-IO nodes over an in-memory
# network with 5–80 ms latency and 10 % loss join through one node; one announces, then 200
# others look the info-hash up. Prints how many found the peer, the rounds (hops to the first
# node that knew it) and queries per lookup (median, 95th percentile) against log2(N), and the
# routing-table size and memory a node. Usage: benches/dht.sh [NODES]
set -eu
cd "$(dirname "$0")/.."
DHT_SIM_NODES="${1:-10000}" cargo test --release --lib dht_scale -- --ignored --nocapture 2>&1 |
    grep -E '^dht_scale:|panicked'
