#!/bin/bash
# Soak with churn, run by hand: a tracker, 2 seeds and 20 fetchers (each staying on as a seed)
# of one 32 MiB torrent for DURATION seconds (600 by default). Every 10 s a random fetcher is
# SIGKILLed and restarted (it resumes), once a minute a seed; a hostile peer that answers every
# request with garbage is given to every fetcher, and a flooder keeps 300 idle connections
# open to the first seed. Every 10 s it prints the RSS and open descriptors of the tracker and
# the seeds; at the end it checks every copy with `p2p verify` and counts bans.
# Usage: benches/soak.sh [DURATION_SECS]
set -u
cd "$(dirname "$0")/.."
duration=${1:-600}
cargo build --release --quiet || exit 1
bin=$PWD/target/release/p2p
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}" ${fetch_pids[@]:-} ${seed_pids[@]:-}; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
export RUST_LOG=warn XDG_STATE_HOME=$work/state

port_of() { # the port a p2p process logged in its `listening on` line
  for _ in $(seq 100); do
    p=$(grep -o 'listening on [^ ]*:[0-9]*' "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$')
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
}

RUST_LOG=info "$bin" tracker --listen 127.0.0.1:0 --interval 5 2>"$work/tracker.log" &
tracker=$!; pids+=($tracker); disown
tport=$(port_of "$work/tracker.log")
mkdir -p "$work/content"
head -c $((32 << 20)) /dev/urandom > "$work/content/f.bin"
"$bin" make-torrent "$work/content/f.bin" --tracker "t@127.0.0.1:$tport" --piece-length 64K \
  --out "$work/f.torrent" >/dev/null 2>&1
hash=$("$bin" info "$work/f.torrent" | awk '/^info-hash:/ {print $2}')
pieces=$("$bin" info "$work/f.torrent" | awk '/^pieces:/ {print $2}')

seed_pids=()
seed_ports=(0 0)
start_seed() { # $1: index; a restarted seed takes its old port back (the flooder aims at it)
  mkdir -p "$work/seed$1"; cp -n "$work/content/f.bin" "$work/seed$1/" 2>/dev/null
  RUST_LOG=info "$bin" seed "$work/f.torrent" --dir "$work/seed$1" --listen "127.0.0.1:${seed_ports[$1]}" \
    --no-dht --upload-limit 8M 2>>"$work/seed$1.log" &
  seed_pids[$1]=$!
  disown
}
start_seed 0; start_seed 1
sport=$(port_of "$work/seed0.log")
seed_ports=("$sport" "$(port_of "$work/seed1.log")")

# The hostile peer: claims every piece, answers requests with garbage.
python3 tests/support/bad_seed.py corrupt "$hash" "$pieces" >"$work/liar.out" &
pids+=($!); disown
for _ in $(seq 50); do grep -q listening "$work/liar.out" && break; sleep 0.1; done
lport=$(awk '/listening/ {print $2}' "$work/liar.out")

# The flooder: 300 idle connections to the first seed, renewed as they are closed.
python3 - "$sport" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1]); socks = []
end = time.time() + 100000
while time.time() < end:
    socks = [s for s in socks if s.fileno() != -1]
    while len(socks) < 300:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1); socks.append(s)
        except OSError:
            break
    for s in list(socks):
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                s.close(); socks.remove(s)
        except BlockingIOError:
            pass
        except OSError:
            s.close(); socks.remove(s)
    time.sleep(1)
EOF
pids+=($!); disown

fetch_pids=()
start_fetch() { # $1: index
  "$bin" fetch "$work/f.torrent" --out "$work/out$1" --listen 127.0.0.1:0 --no-dht --seed \
    --peer "127.0.0.1:$lport" 2>>"$work/fetch$1.log" >/dev/null &
  fetch_pids[$1]=$!
  disown
}
for i in $(seq 0 19); do start_fetch "$i"; done

stat_of() { # "rss_kib/fds" of a pid
  local rss fds
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null)
  fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
  echo "${rss:-?}KiB/${fds}fd"
}

echo "soak: $duration s, tracker $tport, seeds, 20 fetchers, liar $lport, flooder on $sport"
start=$(date +%s); kills=0; seed_kills=0
while [ $(( $(date +%s) - start )) -lt "$duration" ]; do
  sleep 10
  i=$((RANDOM % 20))
  kill -9 "${fetch_pids[$i]}" 2>/dev/null; sleep 0.2
  start_fetch "$i"; kills=$((kills + 1))
  t=$(( $(date +%s) - start ))
  if [ $((t / 60)) -gt "$seed_kills" ]; then
    s=$((seed_kills % 2))
    kill -9 "${seed_pids[$s]}" 2>/dev/null; sleep 0.2
    start_seed "$s"; seed_kills=$((seed_kills + 1))
  fi
  echo "t=${t}s tracker $(stat_of $tracker) seed0 $(stat_of ${seed_pids[0]}) seed1 $(stat_of ${seed_pids[1]}) fetchers killed $kills, seeds killed $seed_kills"
done

echo "churn over; waiting up to 120 s for every fetcher to complete"
for _ in $(seq 120); do
  done_count=0
  for i in $(seq 0 19); do
    [ -f "$work/out$i/f.bin" ] && done_count=$((done_count + 1))
  done
  [ "$done_count" -eq 20 ] && break
  sleep 1
done
good=0
for i in $(seq 0 19); do
  if "$bin" verify "$work/f.torrent" --dir "$work/out$i" >/dev/null 2>&1 \
     && cmp -s "$work/out$i/f.bin" "$work/content/f.bin"; then
    good=$((good + 1))
  else
    echo "fetcher $i: copy not identical or incomplete"
  fi
done
bans=$(cat "$work"/fetch*.log | grep -c "banning 127.0.0.1:$lport")
failed=$(cat "$work"/fetch*.log | grep -c "failed its hash check")
panics=$(cat "$work"/*.log | grep -ci "panicked")
echo "result: $good of 20 copies identical; liar banned $bans times (pieces failing: $failed); panics: $panics"
echo "final: tracker $(stat_of $tracker) seed0 $(stat_of ${seed_pids[0]}) seed1 $(stat_of ${seed_pids[1]})"
