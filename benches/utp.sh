#!/usr/bin/env bash
# uTP on loopback (issue 22's first figure): ROUNDS (3) alternating runs of a SIZE_MIB (1024)
# fetch over p2p's uTP (seed and fetch --utp only), p2p's TCP (--utp off) and libtorrent's
# uTP (both ends libtorrent with TCP off), each from its own seed; medians of wall time and
# CPU, and the ratios the issue asks for: p2p uTP against p2p TCP (goal ≥ 0.7) and against
# libtorrent's uTP (goal ≥ 1.5). Every run starts alike: the output deleted, `sync`, 3 s.
# Usage: benches/utp.sh [SIZE_MIB=1024] [ROUNDS=3]
#   needs: apt-get install -y python3-libtorrent time bc
set -euo pipefail
size_mib=${1:-1024}; rounds=${2:-3}
cd "$(dirname "$0")/.."
. benches/lib.sh
against_libtorrent "$size_mib" 1M

uport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$uport --no-dht --utp only 2>/dev/null & pids+=($!)
tport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$tport --no-dht --utp off 2>/dev/null & pids+=($!)
lport=$(free_port)
/usr/bin/python3 "$lt" "$work/data.torrent" "$work/src" $lport --utp-only --timeout 3600 >/dev/null 2>&1 & pids+=($!)
wait_port $tport; sleep 3  # the uTP-only seeds listen on UDP: give them the TCP seed's time
names=(p2p-utp p2p-tcp libtorrent-utp)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() {
  rm -rf "$work/out"; sync; sleep 3
  local cmd
  case $1 in
    p2p-utp) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --peer 127.0.0.1:$uport --listen 127.0.0.1:0 --no-dht --utp only) ;;
    p2p-tcp) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --peer 127.0.0.1:$tport --listen 127.0.0.1:0 --no-dht --utp off) ;;
    libtorrent-utp) cmd=(/usr/bin/python3 "$lt" "$work/data.torrent" "$work/out" "$(free_port)" --fetch --utp-only --timeout 900 --peer 127.0.0.1:$lport) ;;
  esac
  /usr/bin/time -f '%e %U %S' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1
  cmp -s "$work/src/data.bin" "$work/out/data.bin" || { echo "$1: the copy differs" >&2; exit 1; }
  read -r w u s < "$work/time.txt"
  echo "$w $(echo "$u + $s" | bc -l)" >> "$work/$1"
  printf '  %-15s %7.2f s  CPU %6.2f s\n' "$1" "$w" "$(echo "$u + $s" | bc -l)"
}
for r in $(seq "$rounds"); do
  echo "round $r"
  for n in "${names[@]}"; do run "$n"; done
done
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "== medians of $rounds runs, ${size_mib} MiB, 1 MiB pieces, loopback; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall
for n in "${names[@]}"; do
  wall[$n]=$(awk '{print $1}' "$work/$n" | median)
  printf '%-15s %7.2f s  %7.1f MB/s  CPU %6.2f s\n' "$n" "${wall[$n]}" \
    "$(echo "$size_mib * 1.048576 / ${wall[$n]}" | bc -l)" "$(awk '{print $2}' "$work/$n" | median)"
done
printf 'p2p uTP / p2p TCP speed: %.2f (goal 0.7)\n' "$(echo "${wall[p2p-tcp]} / ${wall[p2p-utp]}" | bc -l)"
printf 'p2p uTP / libtorrent uTP speed: %.2f (goal 1.5)\n' "$(echo "${wall[libtorrent-utp]} / ${wall[p2p-utp]}" | bc -l)"
