#!/usr/bin/env bash
# The daemon at scale, against transmission-daemon 3.00 on the same work: N torrents of 1 MiB
# each (hard links to one file, so the data is in the page cache) added over the RPC with their
# data present, on loopback, no DHT/LPD/uTP/port mapping, no tracker. For each daemon, in turn
# (p2p first, then Transmission, RUNS times; medians):
#   check     seconds from the first torrent-add to every torrent seeding (hashing included)
#   rss       resident memory after that, MiB
#   anon      of it, the private anonymous part (heap, stacks), MiB: what the program itself
#             holds, without the pages of its binary and libraries, which stay shared with
#             the page cache
#   idle      CPU seconds used over IDLE seconds of doing nothing, scaled to a minute
#   get       milliseconds of one torrent-get of every torrent's list fields (median of 7),
#             from the request sent to the answer read (the client's parsing not counted)
#   restart   seconds from launching it again on the saved state (after SIGTERM) to every
#             torrent seeding (its RPC port opening included; polled every 2 ms, then every
#             10 ms over the RPC, by a client that launches it, its own start before the clock)
# Usage: benches/daemon.sh [N=1000] [RUNS=1] [IDLE=30]
#   (needs: apt-get install -y transmission-daemon; python3). DAEMONS=p2p measures p2p alone,
#   DAEMONS=transmission Transmission alone (it verifies about 9 torrents a second here: 20
#   minutes for 10,000).
set -euo pipefail
n=${1:-1000}
runs=${2:-1}
idle=${3:-30}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v transmission-daemon >/dev/null || {
  echo "transmission-daemon missing: apt-get install -y transmission-daemon" >&2
  exit 1
}
# The binary as released: static (see .ci/run).
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target x86_64-unknown-linux-gnu
bin=$PWD/target/x86_64-unknown-linux-gnu/release/p2p
rpc=$PWD/benches/daemon_rpc.py
work=$(mktemp -d)
python3 "$rpc" make "$n" "$work"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $n torrents of 1 MiB; idle ${idle} s; $runs run(s)"

# ports -> sets port and peer (before a timed start: each is a python3 run)
ports() { port=$(free_port); peer=$(free_port); }

# command NAME STATE (after ports) -> sets cmd, the daemon's command line, and url
command() {
  if [ "$1" = p2p ]; then
    cmd=("$bin" daemon --state-dir "$2" --download-dir "$work/content" --rpc "127.0.0.1:$port"
      --listen "127.0.0.1:$peer" --no-dht)
  else
    cmd=(transmission-daemon -f -g "$2" -p "$port" -P "$peer" -T -O -Y --no-utp -M
      -w "$work/content" --log-error)
  fi
  url="http://127.0.0.1:$port/transmission/rpc"
}

# start NAME STATE (after ports) -> sets pid and url, once the RPC port opens
start() {
  command "$1" "$2"
  "${cmd[@]}" 2>"$2.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1000); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.01; done
}

stop() {
  kill -TERM "$pid"
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "daemon $pid did not stop within 60 s" >&2
  return 1
}

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$1/status; }
anon_mib() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' /proc/$1/status; }

declare -A results
one() { # NAME RUN
  local state=$work/state-$1-$2 t0 t1 c0 c1
  mkdir -p "$state"
  ports
  start "$1" "$state"
  t0=$(date +%s.%N)
  python3 "$rpc" add "$url" "$work" "$n"
  python3 "$rpc" seeding "$url" "$n" 1800 >/dev/null
  t1=$(date +%s.%N)
  local check
  check=$(echo "$t1 - $t0" | bc -l)
  sleep 2
  c0=$(cpu_ns "$pid")
  sleep "$idle"
  c1=$(cpu_ns "$pid")
  local rss anon idle_cpu get restart
  rss=$(rss_mib "$pid")
  anon=$(anon_mib "$pid")
  idle_cpu=$(echo "($c1 - $c0) / 1000000000 * 60 / $idle" | bc -l)
  get=$(python3 "$rpc" get "$url" | cut -d' ' -f1)
  stop
  ports
  command "$1" "$state"
  # Launched and timed by the client, started before the clock (see daemon_rpc.py launch).
  restart=$(python3 "$rpc" launch "$url" "$n" 1800 "$state.log" "$state.pid" "${cmd[@]}") ||
    restart=failed
  pid=$(cat "$state.pid")
  pids+=("$pid")
  [ "$restart" != failed ] || { echo "$1 did not restart: see $state.log" >&2; exit 1; }
  stop
  results[$1,check]+="$check "
  results[$1,rss]+="$rss "
  results[$1,anon]+="$anon "
  results[$1,idle]+="$idle_cpu "
  results[$1,get]+="$get "
  results[$1,restart]+="$restart "
  printf '%-13s run %d: check %6.1f s  rss %7.1f MiB (anon %5.1f)  idle %6.3f CPU s/min  get %8.1f ms  restart %6.2f s\n' \
    "$1" "$2" "$check" "$rss" "$anon" "$idle_cpu" "$get" "$restart"
  rm -rf "$state"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

daemons=${DAEMONS:-p2p transmission}
for r in $(seq "$runs"); do
  for d in $daemons; do one "$d" "$r"; done
done
echo "medians ($n torrents):"
for m in check rss anon idle get restart; do
  p=$(echo "${results[p2p,$m]:-}" | median || true)
  t=$(echo "${results[transmission,$m]:-}" | median || true)
  if [ -n "$p" ] && [ -n "$t" ]; then
    printf '  %-8s p2p %9.3f   transmission-daemon %9.3f   ratio %.2f\n' "$m" "$p" "$t" \
      "$(echo "$p / ($t + 0.000001)" | bc -l)"
  elif [ -n "$p" ]; then
    printf '  %-8s p2p %9.3f\n' "$m" "$p"
  else
    printf '  %-8s transmission-daemon %9.3f\n' "$m" "$t"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
