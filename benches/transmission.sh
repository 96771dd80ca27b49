#!/bin/bash
# Transmission's pace against p2p's, in one run: 16 MiB between two network namespaces (as
# tests/transmission.rs makes them; Transmission shuns 127.0.0.1 peers) through `p2p tracker`,
# Transmission 3.00 with default settings (DHT, LPD, PEX, uTP off):
#   Transmission -> Transmission, p2p seed -> Transmission, Transmission -> p2p fetch.
# Each time runs from the downloader's start to a complete, identical file (at most ~2 min). Needs root and
# `apt-get install -y transmission-cli iproute2`. Usage: benches/transmission.sh
set -u
cd "$(dirname "$0")/.."
cargo build --release --quiet || exit 1
P=$PWD/target/release/p2p
A=p2pbA$$; B=p2pbB$$; W=$(mktemp -d); procs=()
cleanup() {
  for p in "${procs[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5; ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; rm -rf "$W"
}
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add $A type veth peer name $B
ip link set $A netns $A; ip link set $B netns $B
ip -n $A addr add 198.18.9.1/24 dev $A; ip -n $B addr add 198.18.9.2/24 dev $B
for n in $A $B; do ip -n $n link set $n up; ip -n $n link set lo up; done
head -c 16777216 /dev/urandom > "$W/t.bin"
ip netns exec $A "$P" tracker --listen 198.18.9.1:6969 --interval 5 2>/dev/null & procs+=($!)
sleep 0.5
"$P" make-torrent "$W/t.bin" --tracker t@198.18.9.1:6969 --out "$W/t.torrent" >/dev/null 2>&1
settings='{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "message-level": 2}'
transmission() { # namespace, download dir, config dir
  mkdir -p "$3"; echo "$settings" > "$3/settings.json"
  ip netns exec "$1" transmission-cli -g "$3" -p 51413 -w "$2" "$W/t.torrent" >/dev/null 2>&1 &
  procs+=($!)
}
until_complete() { # file; prints seconds since $start
  for _ in $(seq 2400); do cmp -s "$1" "$W/t.bin" && break; sleep 0.05; done
  echo "$(date +%s.%N) - $start" | bc
}
# 1. Transmission -> Transmission
mkdir -p "$W/s1" "$W/d1"; cp "$W/t.bin" "$W/s1/"
transmission $A "$W/s1" "$W/c1a"; sleep 8
start=$(date +%s.%N); transmission $B "$W/d1" "$W/c1b"
t1=$(until_complete "$W/d1/t.bin")
for p in "${procs[@]:1}"; do kill "$p" 2>/dev/null; done; procs=("${procs[0]}"); sleep 2
# 2. p2p seed -> Transmission
mkdir -p "$W/s2" "$W/d2"; cp "$W/t.bin" "$W/s2/"
ip netns exec $A "$P" seed "$W/t.torrent" --dir "$W/s2" --listen 198.18.9.1:0 --no-dht 2>/dev/null &
procs+=($!); sleep 2
start=$(date +%s.%N); transmission $B "$W/d2" "$W/c2b"
t2=$(until_complete "$W/d2/t.bin")
for p in "${procs[@]:1}"; do kill "$p" 2>/dev/null; done; procs=("${procs[0]}"); sleep 2
# 3. Transmission -> p2p fetch
mkdir -p "$W/s3"; cp "$W/t.bin" "$W/s3/"
transmission $A "$W/s3" "$W/c3a"; sleep 8
start=$(date +%s.%N)
ip netns exec $B "$P" fetch "$W/t.torrent" --out "$W/d3" --listen 198.18.9.2:0 --no-dht >/dev/null 2>&1
t3=$(until_complete "$W/d3/t.bin")
printf "Transmission -> Transmission  %6.1f s\np2p seed -> Transmission      %6.1f s  (%.2fx Transmission's own)\nTransmission -> p2p fetch     %6.1f s  (%.2fx Transmission's own)\n" \
  "$t1" "$t2" "$(echo "$t2 / $t1" | bc -l)" "$t3" "$(echo "$t3 / $t1" | bc -l)"
