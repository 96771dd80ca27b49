#!/usr/bin/env bash
# Swarm benchmarks (issue 26): the slow-peer tail, many seeds on mixed links, a flash crowd.
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
#
# crowd: a CROWD_MIB (128) torrent of 256 KiB pieces with a p2p tracker (interval 30 s), one
# p2p seed capped at 8 MiB/s, and 32 downloaders started together, each on its own loopback
# address (127.0.0.10–41) and port (7000–7031: p2p takes a loopback address with its own port
# for itself), each staying to seed once complete: all p2p, all libtorrent, then
# half and half, ROUNDS times in turn. Reported, medians: the time until the last completes
# against the ideal (size / 8 MiB/s; goal ≤ 1.3) and the seed's upload over the torrent's size
# (how well the crowd shares; goal ≤ 1.5). Each crowd runs twice, behind a plain seed and
# behind one that super-seeds (`p2p seed --super-seed`, BEP 16: "+super"); CROWDS="p2p mix"
# picks some. Outputs go to /dev/shm when it has room (4 GiB a run).
# rqbit, when found (RQBIT=PATH or on PATH), is a third downloader in tail and many.
# Usage: [PARTS="tail many crowd"] [RQBIT=PATH] benches/swarm.sh [SIZE_MIB=64] [ROUNDS=3] [FAST=8M] [MANY_MIB=256] [CROWD_MIB=128]
#   needs: apt-get install -y python3-libtorrent time bc iproute2; rqbit: cargo install rqbit
#   --root DIR --locked (about 7 minutes), then RQBIT=DIR/bin/rqbit
set -euo pipefail
size_mib=${1:-64}; rounds=${2:-3}; fast=${3:-8M}; many_mib=${4:-256}; crowd_mib=${5:-128}
parts=${PARTS:-tail many crowd}
crowds=${CROWDS:-p2p p2p+super libtorrent libtorrent+super mix mix+super}
cd "$(dirname "$0")/.."
. benches/lib.sh
rqbit=${RQBIT:-$(command -v rqbit || true)}
clients=(p2p libtorrent)
if [ -n "$rqbit" ]; then clients+=(rqbit); else echo "rqbit not found: it is not run (RQBIT=PATH)"; fi
# Sets cmd to rqbit's command line fetching TORRENT into OUT from PEERS (comma-separated), on PORT.
rqbit_fetch() {  # TORRENT OUT PEERS PORT
  cmd=("$rqbit" --disable-dht --disable-lsd --disable-trackers --listen-port "$4" download
    --disable-http-api -e --initial-peers "$3" -o "$2" "$1")
}
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
  local peers=(--peer 127.0.0.1:$fport) list=127.0.0.1:$fport cmd
  [ "$2" = fast ] || { peers+=(--peer 127.0.0.1:$sport); list+=,127.0.0.1:$sport; }
  rm -rf "$work/out"
  case $1 in
    p2p) cmd=("$bin" fetch "$work/data.torrent" --out "$work/out" --listen 127.0.0.1:0 --no-dht --no-lsd --no-port-mapping --utp off "${peers[@]}") ;;
    libtorrent) cmd=(/usr/bin/python3 "$lt" "$work/data.torrent" "$work/out" "$(free_port)" --fetch --timeout 900 "${peers[@]}") ;;
    rqbit) rqbit_fetch "$work/data.torrent" "$work/out" "$list" "$(free_port)" ;;
  esac
  timeout 900 /usr/bin/time -f '%e' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1 || { echo "$1 from $2: fetch failed" >&2; exit 1; }
  cmp -s "$work/src/data.bin" "$work/out/data.bin" || { echo "$1 from $2: the copy differs" >&2; exit 1; }
  cat "$work/time.txt" >> "$work/$1.$2"
  printf '  %-11s %-5s %7.2f s\n' "$1" "$2" "$(cat "$work/time.txt")"
}
tail_() {
for r in $(seq "$rounds"); do
  echo "round $r"
  for c in "${clients[@]}"; do run $c both; run $c fast; done
done
ideal=$(echo "$size_mib * 1048576 / $(numfmt --from=iec "$fast")" | bc -l)
echo "== slow-peer tail: medians of $rounds, ${size_mib} MiB, fast seed $fast/s (ideal $(printf '%.2f' "$ideal") s), slow seed 4 KiB/s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${clients[@]}"; do
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
      --upload-limit "${caps[i]}" --timeout 3600 >"$work/many/seed$i.out" 2>/dev/null & pids+=($!); side+=($!)
  done
  # A seed says `listening` once it has checked its 256 MiB (24 of them hash 6 GiB on two
  # cores): its port opens before that, and a round started then waits on the checks.
  checked() { [ "$(cat "$work"/many/seed*.out | grep -c '^listening')" -ge 24 ]; }
  for _ in $(seq 1200); do checked && break; sleep 0.1; done
  checked || { echo "many: the seeds never finished their checks" >&2; exit 1; }
  local peers=() list=()
  for i in $(seq 0 23); do peers+=(--peer "10.77.0.$((10 + i)):7000"); list+=("10.77.0.$((10 + i)):7000"); done
  list=$(IFS=,; echo "${list[*]}")
  local ideal cmd; ideal=$(echo "$many_mib * 1048576 / $sum" | bc -l)
  # Sets cmd to CLIENT's fetch of the torrent from the 24 seeds, in namespace B.
  many_cmd() {  # CLIENT
    case $1 in
      p2p) cmd=("$bin" fetch "$work/big.torrent" --out "$work/out" --listen 10.77.0.2:7100 --no-dht --no-lsd --no-port-mapping --utp off "${peers[@]}") ;;
      libtorrent) cmd=(/usr/bin/python3 "$lt" "$work/big.torrent" "$work/out" 7101 --bind 10.77.0.2 --fetch --timeout 900 "${peers[@]}") ;;
      rqbit) rqbit_fetch "$work/big.torrent" "$work/out" "$list" 7102 ;;
    esac
    cmd=(ip netns exec "$B" "${cmd[@]}")
  }
  # The first fetch after the seeds' checks gets nothing for its first second or so, whoever
  # fetches (p2p or rqbit first alike): one untimed fetch first, so that no round pays it.
  many_cmd p2p
  timeout 900 "${cmd[@]}" >/dev/null 2>&1 || { echo "many: the warm-up fetch failed" >&2; exit 1; }
  echo "== many seeds: $many_mib MiB from 24 libtorrent seeds, caps 0.25–8 MiB/s (sum $(echo "$sum / 1048576" | bc -l | cut -c1-5) MiB/s: ideal $(printf '%.2f' "$ideal") s), round trips 10–300 ms"
  for r in $(seq "$rounds"); do
    for c in "${clients[@]}"; do
      rm -rf "$work/out"
      many_cmd "$c"
      timeout 900 /usr/bin/time -f '%e' -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1 || { echo "$c: many-seeds fetch failed" >&2; exit 1; }
      cmp -s "$work/many/big.bin" "$work/out/big.bin" || { echo "$c: the copy differs" >&2; exit 1; }
      cat "$work/time.txt" >> "$work/many.$c"
      printf '  round %d %-11s %7.2f s  %.2f× the ideal\n' "$r" "$c" "$(cat "$work/time.txt")" "$(echo "$(cat "$work/time.txt") / $ideal" | bc -l)"
    done
  done
  unlink_
  local p best=libtorrent c; p=$(median < "$work/many.p2p")
  for c in "${clients[@]:1}"; do
    [ "$(echo "$(median < "$work/many.$c") < $(median < "$work/many.$best")" | bc)" = 1 ] && best=$c
    printf '%-11s %.2f s\n' "$c" "$(median < "$work/many.$c")"
  done
  printf 'p2p %.2f s: %.2f× the ideal (goal ≤ 1.15), %.2f× the best anchor'"'"'s time (%s; goal ≤ 0.8); load %s\n' \
    "$p" "$(echo "$p / $ideal" | bc -l)" "$(echo "$p / $(median < "$work/many.$best")" | bc -l)" "$best" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# The flash crowd. crowd_run KIND (p2p, libtorrent or mix; +super: the seed super-seeds) ROUND:
# one seed, 32 downloaders.
crowd_run() {
  local kind=${1%+super} out=$crowd_out/run sport ip i pids_c=() t0 last up super=()
  [ "$1" = "$kind" ] || super=(--super-seed)
  rm -rf "$out"; mkdir -p "$out"
  # A tracker of its own each run: the last crowd's libtorrent peers never said `stopped`.
  tport=$(free_port)
  "$bin" tracker --listen 127.0.0.1:$tport --interval 30 >/dev/null 2>&1 & local trackerpid=$!
  pids+=($trackerpid)
  wait_port "$tport"
  "$bin" make-torrent "$work/crowd/crowd.bin" --piece-length 256K --tracker "http://127.0.0.1:$tport/announce" \
    --out "$work/crowd.torrent" --force >/dev/null 2>&1
  sport=$(free_port)
  "$bin" seed "$work/crowd.torrent" --dir "$work/crowd" --listen 127.0.0.2:$sport --no-dht --no-lsd \
    --no-port-mapping --utp off --upload-limit 8M "${super[@]}" --json > "$out/seed.json" 2>/dev/null & local seedpid=$!
  pids+=($seedpid)
  # The tracker knows the seed before the crowd comes.
  for _ in $(seq 200); do [ "$(tracker_stat seeds)" -ge 1 ] && break; sleep 0.05; done
  [ "$(tracker_stat seeds)" -ge 1 ] || { echo "crowd: the seed never reached the tracker" >&2; exit 1; }
  t0=$(date +%s.%N)
  for i in $(seq 0 31); do
    ip=127.0.0.$((10 + i))
    local who=$kind
    [ "$kind" = mix ] && { [ $((i % 2)) = 0 ] && who=p2p || who=libtorrent; }
    mkdir -p "$out/$i"
    if [ "$who" = p2p ]; then
      "$bin" fetch "$work/crowd.torrent" --out "$out/$i" --listen $ip:$((7000 + i)) --no-dht --no-lsd \
        --no-port-mapping --utp off --seed --on-done "date +%s.%N > $out/$i.done" >/dev/null 2>&1 &
    else
      /usr/bin/python3 "$lt" "$work/crowd.torrent" "$out/$i" $((7000 + i)) --bind $ip --fetch --stay \
        --done-file "$out/$i.done" --timeout 900 >/dev/null 2>&1 &
    fi
    pids_c+=($!); pids+=($!)
  done
  local deadline=$((SECONDS + 900))
  while [ "$(ls "$out"/*.done 2>/dev/null | wc -l)" -lt 32 ]; do
    [ $SECONDS -lt $deadline ] || { echo "crowd $kind: not all 32 complete within 900 s" >&2; exit 1; }
    sleep 0.2
  done
  last=$(cat "$out"/*.done | sort -g | tail -1)
  kill "${pids_c[@]}" 2>/dev/null || true
  wait "${pids_c[@]}" 2>/dev/null || true
  kill -INT $seedpid; wait $seedpid 2>/dev/null || true
  kill $trackerpid; wait $trackerpid 2>/dev/null || true
  up=$(grep -o '"uploaded":[0-9]*' "$out/seed.json" | tail -1 | cut -d: -f2)
  for i in $(seq 0 31); do
    cmp -s "$work/crowd/crowd.bin" "$out/$i/crowd.bin" || { echo "crowd $kind: downloader $i's copy differs" >&2; exit 1; }
  done
  local t; t=$(echo "$last - $t0" | bc -l)
  local ratio; ratio=$(echo "$up / ($crowd_mib * 1048576)" | bc -l)
  echo "$t" >> "$work/crowd.$1.time"; echo "$ratio" >> "$work/crowd.$1.up"
  printf '  round %d %-16s last complete %7.2f s (%.2f× the ideal)  seed uploaded %.2f× the torrent\n' \
    "$2" "$1" "$t" "$(echo "$t / $crowd_ideal" | bc -l)" "$ratio"
  rm -rf "$out"
}

# The tracker's count of FIELD (seeds, peers), from its /stats.
tracker_stat() {
  local body
  body=$(exec 3<>/dev/tcp/127.0.0.1/$tport; printf 'GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3; cat <&3) || true
  echo "$body" | grep -o "\"$1\":[0-9]*" | cut -d: -f2 | head -1 | grep . || echo 0
}

crowd() {
  mkdir -p "$work/crowd"
  cached_random "$work/crowd/crowd.bin" "$crowd_mib"
  crowd_out=$work
  local shm; shm=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
  [ "${shm:-0}" -gt $((crowd_mib * 40 * 1024)) ] && crowd_out=$(mktemp -d /dev/shm/p2p-crowd.XXXXXX)
  crowd_ideal=$(echo "$crowd_mib / 8" | bc -l)
  echo "== flash crowd: $crowd_mib MiB, one p2p seed at 8 MiB/s (ideal $(printf '%.2f' "$crowd_ideal") s), 32 downloaders started together; load $(cut -d' ' -f1-3 /proc/loadavg)"
  local r k
  for r in $(seq "$rounds"); do
    for k in $crowds; do crowd_run $k "$r"; done
  done
  [ "$crowd_out" = "$work" ] || rm -rf "$crowd_out"
  for k in $crowds; do
    local t u; t=$(median < "$work/crowd.$k.time"); u=$(median < "$work/crowd.$k.up")
    printf '%-16s last complete %7.2f s: %.2f× the ideal (goal ≤ 1.3); seed uploaded %.2f× the torrent (goal ≤ 1.5)\n' \
      "$k" "$t" "$(echo "$t / $crowd_ideal" | bc -l)" "$u"
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

[[ " $parts " == *" tail "* ]] && tail_
[[ " $parts " == *" many "* ]] && many
[[ " $parts " == *" crowd "* ]] && crowd
exit 0
