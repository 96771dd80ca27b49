#!/usr/bin/env bash
# uTP on an emulated link (issue 22's real-link figures), through benches/linkem.rs (two network
# namespaces joined by TUN devices; seeds in A at 10.77.0.1, downloaders in B at 10.77.0.2):
#  1. 50 Mbit/s, 25 ms each way, a 200 ms queue, no loss: SIZE_MIB (64) fetched over p2p's uTP
#     and over libtorrent's (both ends the same client, TCP off), ROUNDS (3) alternating;
#     medians, and goodput against the link (goal ≥ 0.9).
#  2. The same link at 1 % random loss each way, LOSSY_MIB (32): p2p's uTP against libtorrent's
#     (goal ≥ 2×).
#  3. Yielding: 20 Mbit/s, 25 ms each way, a 400 ms queue. A CUBIC TCP flow alone for 10 s (its
#     solo rate), then a uTP upload alone for 10 s, the two together for 20 s, and uTP alone
#     again: the TCP flow's rate beside uTP against its solo rate (goal ≥ 0.6), the queueing
#     delay uTP alone keeps at the bottleneck (median and 95th percentile of each 100 ms's
#     longest, goal ≤ 150 ms), and how long after TCP stops uTP is back at 80 % of the link
#     (goal ≤ 3 s). Once with p2p's uTP, once with libtorrent's. Rates come from linkem's log.
# Usage: [PARTS="clean lossy yield"] benches/utp_link.sh [SIZE_MIB=64] [ROUNDS=3] [LOSSY_MIB=32]
#   needs root and: apt-get install -y iproute2 python3-libtorrent time bc
set -euo pipefail
size_mib=${1:-64}; rounds=${2:-3}; lossy_mib=${3:-32}
cd "$(dirname "$0")/.."
. benches/lib.sh
[ "$(id -u)" = 0 ] || { echo "benches/utp_link.sh makes network namespaces: run it as root" >&2; exit 1; }
for c in ip ss bc /usr/bin/time; do command -v $c >/dev/null || { echo "$c missing: apt-get install -y iproute2 bc time" >&2; exit 1; }; done
/usr/bin/python3 -c 'import libtorrent' || { echo "apt-get install -y python3-libtorrent" >&2; exit 1; }
cargo build --release --quiet
linkem_build
bin=$PWD/target/release/p2p
lt=$PWD/tests/support/libtorrent_peer.py
work=$(mktemp -d)
tag=ue$$
A=${tag}a; B=${tag}b
mkdir -p "$work/src"
biggest=$(( size_mib > lossy_mib ? size_mib : lossy_mib ))
biggest=$(( biggest > 128 ? biggest : 128 ))
cached_random "$work/src/all.bin" "$biggest"
for m in "$size_mib" "$lossy_mib" 128; do
  mkdir -p "$work/src$m"
  head -c $((m << 20)) "$work/src/all.bin" > "$work/src$m/data.bin"
  "$bin" make-torrent "$work/src$m/data.bin" --piece-length 256K --out "$work/$m.torrent" >/dev/null 2>&1
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now_ms() { date +%s%3N; }

# seeds M: a p2p seed (UDP 7001) and a libtorrent one (7002) of the M MiB torrent, in A.
seeds() {
  local m=$1
  ip netns exec "$A" "$bin" seed "$work/$m.torrent" --dir "$work/src$m" --listen 10.77.0.1:7001 --no-dht --no-lsd --no-port-mapping --utp only 2>/dev/null & pids+=($!); side+=($!)
  ip netns exec "$A" /usr/bin/python3 "$lt" "$work/$m.torrent" "$work/src$m" 7002 --bind 10.77.0.1 --utp-only --timeout 3600 >/dev/null 2>&1 & pids+=($!); side+=($!)
  wait_udp "$A" 7001; wait_udp "$A" 7002
}
# fetch_cmd CLIENT M: the command that fetches the M MiB torrent in B into $work/out.
fetch_cmd() {
  case $1 in
    p2p) echo ip netns exec "$B" "$bin" fetch "$work/$2.torrent" --out "$work/out" --peer 10.77.0.1:7001 --listen 10.77.0.2:7003 --no-dht --no-lsd --no-port-mapping --utp only ;;
    libtorrent) echo ip netns exec "$B" /usr/bin/python3 "$lt" "$work/$2.torrent" "$work/out" 7004 --bind 10.77.0.2 --fetch --utp-only --timeout 900 --peer 10.77.0.1:7002 ;;
  esac
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# transfers LABEL M ROUNDS LINK_ARGS...: alternating timed fetches by p2p and libtorrent.
transfers() {
  local label=$1 m=$2 n=$3; shift 3
  link "$@"; seeds "$m"
  echo "== $label: $m MiB, link $*"
  for r in $(seq "$n"); do
    for c in p2p libtorrent; do
      rm -rf "$work/out"
      # shellcheck disable=SC2046
      timeout 900 /usr/bin/time -f '%e' -o "$work/time.txt" $(fetch_cmd $c "$m") >/dev/null 2>"$work/fetch.err" \
        || { echo "$c: fetch failed or took over 900 s; its last lines:" >&2; tail -5 "$work/fetch.err" >&2; exit 1; }
      cmp -s "$work/src$m/data.bin" "$work/out/data.bin" || { echo "$c: the copy differs" >&2; exit 1; }
      w=$(cat "$work/time.txt"); echo "$w" >> "$work/$label.$c"
      printf '  round %d %-11s %7.2f s  %6.2f Mbit/s\n' "$r" "$c" "$w" "$(echo "$m * 8.388608 / $w" | bc -l)"
    done
  done
  for c in p2p libtorrent; do
    w=$(median < "$work/$label.$c"); printf -v "t_${label}_$c" '%s' "$w"
    printf '%-11s median %7.2f s  %6.2f Mbit/s\n' "$c" "$w" "$(echo "$m * 8.388608 / $w" | bc -l)"
  done
}

parts=${PARTS:-clean lossy yield}
if [[ " $parts " == *" clean "* ]]; then
  transfers clean "$size_mib" "$rounds" --rate-mbit 50 --delay-ms 25 --queue-ms 200
  printf 'p2p uTP goodput / link (50 Mbit/s): %.2f (goal 0.9)\n' "$(echo "$size_mib * 8.388608 / $t_clean_p2p / 50" | bc -l)"
fi
if [[ " $parts " == *" lossy "* ]]; then
  transfers lossy "$lossy_mib" "$rounds" --rate-mbit 50 --delay-ms 25 --queue-ms 200 --loss 0.01
  printf 'p2p uTP / libtorrent uTP speed at 1 %% loss: %.2f (goal 2)\n' "$(echo "$t_lossy_libtorrent / $t_lossy_p2p" | bc -l)"
fi

# yield CLIENT: the phases of figure 3 over a fresh link; prints the figures.
yield_() {
  local c=$1
  link --rate-mbit 20 --delay-ms 25 --queue-ms 400; seeds 128
  ip netns exec "$B" /usr/bin/python3 benches/tcp_flow.py recv 5001 > /dev/null & pids+=($!)
  sleep 0.5
  local tcp0; tcp0=$(now_ms)
  ip netns exec "$A" /usr/bin/python3 benches/tcp_flow.py send 10.77.0.2 5001 10
  local tcp1; tcp1=$(now_ms)
  rm -rf "$work/out"
  # shellcheck disable=SC2046
  $(fetch_cmd "$c" 128) >/dev/null 2>&1 & local fetch=$!; pids+=($fetch)
  # Alone until it has run 10 s at speed (it starts when its first bytes cross).
  for _ in $(seq 100); do awk '$2 == "ab" && $4 > 100000 {f = 1} END {exit !f}' "$work/link.log" && break; sleep 0.1; done
  local u0; u0=$(now_ms); sleep 10
  ip netns exec "$B" /usr/bin/python3 benches/tcp_flow.py recv 5002 > /dev/null & pids+=($!)
  sleep 0.2
  local both0; both0=$(now_ms)
  ip netns exec "$A" /usr/bin/python3 benches/tcp_flow.py send 10.77.0.2 5002 20
  local both1; both1=$(now_ms)
  sleep 5
  kill "$fetch" 2>/dev/null || true; wait "$fetch" 2>/dev/null || true
  sleep 0.3
  python3 - "$work/link.log" "$c" "$tcp0" "$tcp1" "$u0" "$both0" "$both1" <<'EOF'
import sys
log, client = sys.argv[1], sys.argv[2]
tcp0, tcp1, u0, both0, both1 = map(int, sys.argv[3:])
rows = [l.split() for l in open(log)]
ab = [(int(r[0]), int(r[2]), int(r[3]), float(r[4])) for r in rows if r[1] == "ab"]
link = 20e6 / 8 / 10  # bytes per 100 ms
def rate(lo, hi, col):  # bytes a second in [lo, hi)
    xs = [r[col] for r in ab if lo <= r[0] < hi]
    return sum(xs) * 10 / max(len(xs), 1)
solo = rate(tcp0 + 2000, tcp1, 1)
beside = rate(both0 + 2000, both1, 1)
utp_alone = rate(u0 + 2000, both0, 2)
queue = sorted(r[3] for r in ab if u0 + 2000 <= r[0] < both0)
pct = lambda p: queue[min(len(queue) - 1, int(p * len(queue)))] if queue else float("nan")
back = None
after = [r for r in ab if r[0] >= both1]
for i in range(len(after) - 4):
    if sum(r[2] for r in after[i:i + 5]) / 5 >= 0.8 * link:
        back = (after[i][0] - both1) / 1000
        break
mbit = lambda b: b * 8 / 1e6
print(f"{client:11s} TCP alone {mbit(solo):5.1f} Mbit/s, beside uTP {mbit(beside):5.1f}: "
      f"{beside / solo if solo else 0:.2f} of it (goal 0.6)")
print(f"{client:11s} uTP alone {mbit(utp_alone):5.1f} Mbit/s ({utp_alone * 8 / 20e6:.2f} of the link); "
      f"queueing delay it keeps: median {pct(0.5):.0f} ms, 95th percentile {pct(0.95):.0f} ms (goal 150)")
print(f"{client:11s} back to 80 % of the link " +
      (f"{back:.1f} s after TCP stopped (goal 3)" if back is not None else "not within 5 s of TCP stopping"))
EOF
}
if [[ " $parts " == *" yield "* ]]; then
  echo "== yielding: 20 Mbit/s, 25 ms each way, 400 ms queue; a CUBIC TCP flow beside a uTP upload"
  yield_ p2p
  yield_ libtorrent
fi
unlink_
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
