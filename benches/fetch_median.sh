#!/usr/bin/env bash
# The 1 GiB loopback fetch of issue 11, as its goal asks it measured: ROUNDS (5) alternating
# runs of each downloader against its own kind of seed, then medians of wall time, CPU seconds
# and peak RSS, and the ratios of p2p (default, and with --direct-io) to the best of libtorrent
# and rqbit. Every run starts alike: the previous output deleted, `sync`, then 3 s of quiet (a
# VM hands freed memory back to its host within about 2 s; a write into page cache after that
# costs a host fault a page, so without the pause the order of runs would decide the result).
# p2p runs with --utp off: this is the TCP path, against libtorrent over TCP (benches/utp.sh
# measures uTP).
# Usage: benches/fetch_median.sh [SIZE_MIB=1024] [ROUNDS=5]
#   needs: apt-get install -y python3-libtorrent time bc; rqbit (cargo install rqbit --root DIR,
#   about 3 minutes; RQBIT=DIR/bin/rqbit) is run when found
set -euo pipefail
size_mib=${1:-1024}; rounds=${2:-5}
cd "$(dirname "$0")/.."
. benches/lib.sh
rqbit=${RQBIT:-$(command -v rqbit || true)}
against_libtorrent "$size_mib" 1M

sport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$sport --utp off 2>/dev/null & pids+=($!)
lport=$(free_port)
/usr/bin/python3 "$lt" "$work/data.torrent" "$work/src" $lport --timeout 3600 >/dev/null 2>&1 & pids+=($!)
wait_port $sport; wait_port $lport
names=(p2p p2p-direct-io libtorrent)
if [ -n "$rqbit" ]; then
  rport=$(free_port)
  "$rqbit" --disable-dht --disable-lsd --disable-trackers --listen-port $rport download \
    --disable-http-api --overwrite -o "$work/src" "$work/data.torrent" >/dev/null 2>&1 & pids+=($!)
  wait_port $rport; sleep 3  # it checks the seed's data before it serves
  names+=(rqbit)
else
  echo "rqbit not found: cargo install rqbit --root DIR (about 3 minutes), then RQBIT=DIR/bin/rqbit"
fi

# One run of downloader $1 into $work/out; appends "wall cpu rss_mib" to $work/$1.
run() {
  rm -rf "$work/out"; sync; sleep 3
  local cmd
  case $1 in
    p2p) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --peer 127.0.0.1:$sport --listen 127.0.0.1:0 --utp off) ;;
    p2p-direct-io) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --peer 127.0.0.1:$sport --listen 127.0.0.1:0 --utp off --direct-io) ;;
    libtorrent) cmd=(/usr/bin/python3 "$lt" "$work/data.torrent" "$work/out" "$(free_port)" --fetch --timeout 600 --peer 127.0.0.1:$lport) ;;
    rqbit) cmd=("$rqbit" --disable-dht --disable-lsd --disable-trackers --listen-port "$(free_port)" download --disable-http-api -e --initial-peers 127.0.0.1:$rport -o "$work/out" "$work/data.torrent") ;;
  esac
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1
  cmp -s "$work/src/data.bin" "$work/out/data.bin" || { echo "$1: the copy differs" >&2; exit 1; }
  read -r w u s m < "$work/time.txt"
  echo "$w $(echo "$u + $s" | bc -l) $((m / 1024))" >> "$work/$1"
  printf '  %-14s %6.2f s  CPU %5.2f s  RSS %4d MiB\n' "$1" "$w" "$(echo "$u + $s" | bc -l)" $((m / 1024))
}
for r in $(seq "$rounds"); do
  echo "round $r"
  for n in "${names[@]}"; do run "$n"; done
done
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "== medians of $rounds runs, ${size_mib} MiB, 1 MiB pieces, loopback"
declare -A wall cpu
for n in "${names[@]}"; do
  wall[$n]=$(awk '{print $1}' "$work/$n" | median); cpu[$n]=$(awk '{print $2}' "$work/$n" | median)
  printf '%-14s %6.2f s  %6.1f MB/s  CPU %5.2f s  RSS %s MiB\n' "$n" "${wall[$n]}" \
    "$(echo "$size_mib * 1.048576 / ${wall[$n]}" | bc -l)" "${cpu[$n]}" "$(awk '{print $3}' "$work/$n" | median)"
done
best=libtorrent
[ -n "$rqbit" ] && [ "$(echo "${wall[rqbit]} < ${wall[libtorrent]}" | bc)" = 1 ] && best=rqbit
for n in p2p p2p-direct-io; do
  printf '%s: %.2fx the speed of the best (%s), CPU %.2fx its CPU\n' "$n" \
    "$(echo "${wall[$best]} / ${wall[$n]}" | bc -l)" "$best" "$(echo "${cpu[$n]} / ${cpu[$best]}" | bc -l)"
done
