#!/usr/bin/env bash
# One p2p seed serving N p2p fetchers at once (8 by default) from a page-cached file (256 MiB by
# default), on loopback. The torrent is private and the fetchers are given only the seed, so
# every byte comes from it (no PEX, no DHT, no tracker). Prints the wall time until all are
# complete, the aggregate rate, the seed's CPU seconds per GiB uploaded beside the fetchers',
# and how busy the machine's cores were (CPU seconds of everyone / (cores x wall)).
# Usage: benches/seed_fanout.sh [FETCHERS=8] [SIZE_MIB=256]
set -euo pipefail
n=${1:-8}; size_mib=${2:-256}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v /usr/bin/time >/dev/null || { echo "apt-get install -y time" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2p
work=$(mktemp -d)
hz=$(getconf CLK_TCK); cores=$(nproc)

mkdir -p "$work/src"
cached_random "$work/src/data.bin" "$size_mib"
"$bin" make-torrent "$work/src/data.bin" --private --piece-length 1M --out "$work/data.torrent" >/dev/null 2>&1
sync
sport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$sport --utp off 2>/dev/null & pids+=($!); seed_pid=$!
wait_port $sport
before=$(ticks $seed_pid)
start=$(date +%s.%N)
fetchers=()
for i in $(seq "$n"); do
  /usr/bin/time -f '%U %S %M' -o "$work/t$i" "$bin" fetch "$work/data.torrent" --out "$work/f$i" \
    --peer 127.0.0.1:$sport --listen 127.0.0.1:0 >/dev/null 2>&1 & fetchers+=($!); pids+=($!)
done
for p in "${fetchers[@]}"; do wait "$p"; done
end=$(date +%s.%N)
after=$(ticks $seed_pid)
for i in $(seq "$n"); do
  cmp -s "$work/src/data.bin" "$work/f$i/data.bin" || { echo "fetcher $i differs" >&2; exit 1; }
done
wall=$(echo "$end - $start" | bc -l)
seed_cpu=$(echo "($after - $before) / $hz" | bc -l)
fetch_cpu=$(cat "$work"/t* | awk '{s += $1 + $2} END {print s}')
rss=$(cat "$work"/t* | awk '{if ($3 > m) m = $3} END {print m / 1024}')
gib=$(echo "$n * $size_mib / 1024" | bc -l)
printf '%d fetchers x %d MiB from one seed: %.2f s, aggregate %.0f MB/s\n' "$n" "$size_mib" "$wall" \
  "$(echo "$n * $size_mib * 1.048576 / $wall" | bc -l)"
printf 'CPU per GiB: seed %.2f s uploading, fetchers %.2f s downloading (largest fetcher RSS %.0f MiB)\n' \
  "$(echo "$seed_cpu / $gib" | bc -l)" "$(echo "$fetch_cpu / $gib" | bc -l)" "$rss"
printf 'cores busy: %.0f%% of %d (seed %.1f s + fetchers %.1f s CPU over %.2f s)\n' \
  "$(echo "100 * ($seed_cpu + $fetch_cpu) / ($cores * $wall)" | bc -l)" "$cores" "$seed_cpu" "$fetch_cpu" "$wall"
