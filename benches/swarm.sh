#!/usr/bin/env bash
# Swarm benchmarks (issue 26). Built so far: the slow-peer tail; the many-seeds and flash-crowd
# runs the issue asks for are not.
#
# tail: a SIZE_MIB (64) torrent of 256 KiB pieces, two p2p seeds on loopback, one capped at
# FAST (8M) bytes a second and one at 4 KiB a second. Each downloader (p2p, then libtorrent)
# fetches from both seeds and from the fast one alone, ROUNDS (3) times, alternating; medians.
# A downloader that waits on the slow seed for the last blocks (no endgame) takes seconds
# more than from the fast seed alone; the goal is at most 1.1× the fast seed alone. Both
# downloaders speak TCP (p2p with --utp off, as libtorrent_peer.py does).
# Usage: benches/swarm.sh [SIZE_MIB=64] [ROUNDS=3] [FAST=8M]
#   needs: apt-get install -y python3-libtorrent time bc
set -euo pipefail
size_mib=${1:-64}; rounds=${2:-3}; fast=${3:-8M}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v /usr/bin/time >/dev/null || { echo "apt-get install -y time" >&2; exit 1; }
command -v bc >/dev/null || { echo "apt-get install -y bc" >&2; exit 1; }
/usr/bin/python3 -c 'import libtorrent' || { echo "apt-get install -y python3-libtorrent" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2p
lt=$PWD/tests/support/libtorrent_peer.py
work=$(mktemp -d)
mkdir -p "$work/src"
cached_random "$work/src/data.bin" "$size_mib"
"$bin" make-torrent "$work/src/data.bin" --piece-length 256K --out "$work/data.torrent" >/dev/null 2>&1
seed() {  # PORT LIMIT
  "$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$1 --no-dht --no-lsd \
    --no-port-mapping --upload-limit "$2" 2>/dev/null & pids+=($!)
}
fport=$(free_port); seed "$fport" "$fast"
sport=$(free_port); seed "$sport" 4K
wait_port "$fport"; wait_port "$sport"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # CLIENT SEEDS(both|fast)
  local peers=(--peer 127.0.0.1:$fport) cmd
  [ "$2" = fast ] || peers+=(--peer 127.0.0.1:$sport)
  rm -rf "$work/out"
  case $1 in
    p2p) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --listen 127.0.0.1:0 --no-dht --no-lsd --no-port-mapping --utp off "${peers[@]}") ;;
    libtorrent) cmd=(/usr/bin/python3 "$lt" "$work/data.torrent" "$work/out" "$(free_port)" --fetch --timeout 900 "${peers[@]}") ;;
  esac
  timeout 900 /usr/bin/time -f '%e' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1 || { echo "$1 from $2: fetch failed" >&2; exit 1; }
  cmp -s "$work/src/data.bin" "$work/out/data.bin" || { echo "$1 from $2: the copy differs" >&2; exit 1; }
  cat "$work/time.txt" >> "$work/$1.$2"
  printf '  %-11s %-5s %7.2f s\n' "$1" "$2" "$(cat "$work/time.txt")"
}
for r in $(seq "$rounds"); do
  echo "round $r"
  for c in p2p libtorrent; do run $c both; run $c fast; done
done
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ideal=$(echo "$size_mib * 1048576 / $(numfmt --from=iec "$fast")" | bc -l)
echo "== slow-peer tail: medians of $rounds, ${size_mib} MiB, fast seed $fast/s (ideal $(printf '%.2f' "$ideal") s), slow seed 4 KiB/s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in p2p libtorrent; do
  both=$(median < "$work/$c.both"); alone=$(median < "$work/$c.fast")
  printf '%-11s both seeds %7.2f s, fast alone %7.2f s: %.2f (goal ≤ 1.1)\n' "$c" "$both" "$alone" "$(echo "$both / $alone" | bc -l)"
done
