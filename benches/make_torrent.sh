#!/usr/bin/env bash
# make-torrent speed: p2p against `mktorrent -t 2` on the same page-cached file at the same piece
# length, in the same run. Prints each run, the best of each, and the ratio.
# Usage: benches/make_torrent.sh [SIZE_MIB=1024] [RUNS=5]   (needs: apt-get install -y mktorrent)
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-5}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v mktorrent >/dev/null || { echo "mktorrent missing: apt-get install -y mktorrent" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2p
work=$(mktemp -d)
cached_random "$work/data.bin" "$size_mib"

now() { date +%s.%N; }
best_p2p=999999; best_mk=999999
for i in $(seq "$runs"); do
  t0=$(now); "$bin" make-torrent "$work/data.bin" --tracker t@127.0.0.1 --piece-length 1M \
    --out "$work/p2p.torrent" --force >/dev/null 2>&1; t1=$(now)
  mktorrent -t 2 -l 20 -a http://127.0.0.1:6969/announce -o "$work/mk.torrent" "$work/data.bin" >/dev/null 2>&1
  t2=$(now); rm -f "$work/mk.torrent"
  p=$(echo "$t1 - $t0" | bc -l); m=$(echo "$t2 - $t1" | bc -l)
  printf 'run %d: p2p %.3f s   mktorrent -t 2 %.3f s\n' "$i" "$p" "$m"
  best_p2p=$(echo "if ($p < $best_p2p) $p else $best_p2p" | bc -l)
  best_mk=$(echo "if ($m < $best_mk) $m else $best_mk" | bc -l)
done
"$bin" make-torrent "$work/data.bin" --tracker t@127.0.0.1 --piece-length 1M --out "$work/p2p.torrent" --force >/dev/null 2>&1
mktorrent -t 2 -l 20 -a http://127.0.0.1:6969/announce -o "$work/mk.torrent" "$work/data.bin" >/dev/null 2>&1
h1=$("$bin" info "$work/p2p.torrent" | sed -n 's/^info-hash: *//p')
h2=$("$bin" info "$work/mk.torrent" | sed -n 's/^info-hash: *//p')
[ "$h1" = "$h2" ] || { echo "info-hash mismatch: $h1 vs $h2" >&2; exit 1; }
printf 'best of %d, %d MiB, piece 1 MiB: p2p %.3f s (%.0f MB/s), mktorrent -t 2 %.3f s (%.0f MB/s), ratio mktorrent/p2p %.2f (info-hashes equal)\n' \
  "$runs" "$size_mib" "$best_p2p" "$(echo "$size_mib*1.048576/$best_p2p" | bc -l)" \
  "$best_mk" "$(echo "$size_mib*1.048576/$best_mk" | bc -l)" "$(echo "$best_mk/$best_p2p" | bc -l)"
