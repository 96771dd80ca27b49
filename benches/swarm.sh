#!/usr/bin/env bash
# Swarm benchmarks (issue 26). Built so far: the slow-peer tail and many seeds on mixed links;
# the flash crowd the issue asks for is not.
#
# tail: a SIZE_MIB (64) torrent of 256 KiB pieces, two p2p seeds on loopback, one capped at
# FAST (8M) bytes a second and one at 4 KiB a second. Each downloader (p2p, then libtorrent)
# fetches from both seeds and from the fast one alone, ROUNDS (3) times, alternating; medians.
# A downloader that waits on the slow seed for the last blocks (no endgame) takes seconds
# more than from the fast seed alone; the goal is at most 1.1× the fast seed alone. Both
# downloaders speak TCP (p2p with --utp off, as libtorrent_peer.py does).
#
# many (root): a MANY_MIB (256) torrent of 256 KiB pieces held by 24 libtorrent seeds in one
# namespace of benches/linkem.rs, each at its own address with its own upload cap (0.25 to 8
# MiB/s, a geometric series) and its own one-way delay (5 to 150 ms, so round trips of 10 to
# 300 ms, mixed against the caps); p2p and libtorrent fetch from all 24 in the other
# namespace, ROUNDS times alternating; medians against the ideal (size / sum of the caps).
# Usage: [PARTS="tail many"] benches/swarm.sh [SIZE_MIB=64] [ROUNDS=3] [FAST=8M] [MANY_MIB=256]
#   needs: apt-get install -y python3-libtorrent time bc iproute2
set -euo pipefail
size_mib=${1:-64}; rounds=${2:-3}; fast=${3:-8M}; many_mib=${4:-256}
parts=${PARTS:-tail many}
cd "$(dirname "$0")/.."
. benches/lib.sh
against_libtorrent "$size_mib" 256K
seed() {  # PORT LIMIT
  "$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$1 --no-dht --no-lsd \
    --no-port-mapping --upload-limit "$2" 2>/dev/null & pids+=($!)
}
fport=$(free_port); seed "$fport" "$fast"
sport=$(free_port); seed "$sport" 4K
wait_port "$fport"; wait_port "$sport"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

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
tail_() {
for r in $(seq "$rounds"); do
  echo "round $r"
  for c in p2p libtorrent; do run $c both; run $c fast; done
done
ideal=$(echo "$size_mib * 1048576 / $(numfmt --from=iec "$fast")" | bc -l)
echo "== slow-peer tail: medians of $rounds, ${size_mib} MiB, fast seed $fast/s (ideal $(printf '%.2f' "$ideal") s), slow seed 4 KiB/s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in p2p libtorrent; do
  both=$(median < "$work/$c.both"); alone=$(median < "$work/$c.fast")
  printf '%-11s both seeds %7.2f s, fast alone %7.2f s: %.2f (goal ≤ 1.1)\n' "$c" "$both" "$alone" "$(echo "$both / $alone" | bc -l)"
done
}

many() {
  [ "$(id -u)" = 0 ] || { echo "swarm.sh many makes network namespaces: run it as root" >&2; exit 1; }
  linkem_build
  A=sw$$a; B=sw$$b
  mkdir -p "$work/many"
  head -c $((many_mib << 20)) /dev/urandom > "$work/many/big.bin"
  "$bin" make-torrent "$work/many/big.bin" --piece-length 256K --out "$work/big.torrent" >/dev/null 2>&1
  local hosts=() caps=() sum=0 i
  for i in $(seq 0 23); do
    # Cap i: 0.25 MiB/s × 32^(i/23); delay: 5 to 150 ms, in an order apart from the caps'.
    caps[i]=$(echo "262144 * e(l(32) * $i / 23)" | bc -l | cut -d. -f1)
    sum=$((sum + caps[i]))
    hosts+=(--host "10.77.0.$((10 + i)):$((5 + 145 * ((i * 7) % 24) / 23))")
  done
  link "${hosts[@]}"
  for i in $(seq 0 23); do
    ip netns exec "$A" /usr/bin/python3 "$lt" "$work/big.torrent" "$work/many" 7000 --bind 10.77.0.$((10 + i)) \
      --upload-limit "${caps[i]}" --timeout 3600 >/dev/null 2>&1 & pids+=($!); side+=($!)
  done
  for _ in $(seq 300); do [ "$(ip netns exec "$A" ss -Hltn | grep -c ':7000 ')" -ge 24 ] && break; sleep 0.1; done
  local peers=()
  for i in $(seq 0 23); do peers+=(--peer "10.77.0.$((10 + i)):7000"); done
  local ideal; ideal=$(echo "$many_mib * 1048576 / $sum" | bc -l)
  echo "== many seeds: $many_mib MiB from 24 libtorrent seeds, caps 0.25–8 MiB/s (sum $(echo "$sum / 1048576" | bc -l | cut -c1-5) MiB/s: ideal $(printf '%.2f' "$ideal") s), round trips 10–300 ms"
  for r in $(seq "$rounds"); do
    for c in p2p libtorrent; do
      rm -rf "$work/out"
      local cmd
      case $c in
        p2p) cmd=(ip netns exec "$B" "$bin" fetch "$work/big.torrent" --out "$work/out" --listen 10.77.0.2:7100 --no-dht --no-lsd --no-port-mapping --utp off "${peers[@]}") ;;
        libtorrent) cmd=(ip netns exec "$B" /usr/bin/python3 "$lt" "$work/big.torrent" "$work/out" 7101 --bind 10.77.0.2 --fetch --timeout 900 "${peers[@]}") ;;
      esac
      timeout 900 /usr/bin/time -f '%e' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1 || { echo "$c: many-seeds fetch failed" >&2; exit 1; }
      cmp -s "$work/many/big.bin" "$work/out/big.bin" || { echo "$c: the copy differs" >&2; exit 1; }
      cat "$work/time.txt" >> "$work/many.$c"
      printf '  round %d %-11s %7.2f s  %.2f× the ideal\n' "$r" "$c" "$(cat "$work/time.txt")" "$(echo "$(cat "$work/time.txt") / $ideal" | bc -l)"
    done
  done
  unlink_
  local p l; p=$(median < "$work/many.p2p"); l=$(median < "$work/many.libtorrent")
  printf 'p2p %.2f s: %.2f× the ideal (goal ≤ 1.15), %.2f× libtorrent'"'"'s time (goal ≤ 0.8; rqbit not run); load %s\n' \
    "$p" "$(echo "$p / $ideal" | bc -l)" "$(echo "$p / $l" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

[[ " $parts " == *" tail "* ]] && tail_
[[ " $parts " == *" many "* ]] && many
exit 0
