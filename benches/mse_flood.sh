#!/usr/bin/env bash
# The seed under a flood of bogus encrypted handshakes (issue 24): FLOODERS processes on
# 127.0.0.1 each connect, send 96 random bytes (an MSE public key) and close, for SECS seconds,
# while one encrypted fetch (--encryption require) of a 16 MiB file runs. Prints the seed's CPU
# during the flood, the handshakes the flood made, and the fetch's time against the same fetch
# with no flood. Usage: benches/mse_flood.sh [FLOODERS=8] [SECS=10] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
flooders=${1:-8}
secs=${2:-10}
bin=${3:-$PWD/target/release/p2p}
[ -x "$bin" ] || cargo build --release --quiet
work=$(mktemp -d)
mkdir -p "$work/src"
cached_random "$work/src/data.bin" 16
"$bin" make-torrent "$work/src/data.bin" --piece-length 256K --out "$work/t.torrent" >/dev/null 2>&1
sport=$(free_port)
"$bin" seed "$work/t.torrent" --dir "$work/src" --listen 127.0.0.1:$sport --utp off --no-dht 2>/dev/null & pids+=($!)
seed=$!
wait_port $sport
fetch() {
  rm -rf "$work/out"
  local t0=$(date +%s.%N)
  "$bin" fetch "$work/t.torrent" --out "$work/out" --peer 127.0.0.1:$sport --listen 127.0.0.1:0 --utp off --no-dht --encryption require \
    >/dev/null 2>&1
  echo "$(date +%s.%N) - $t0" | bc -l
}
quiet=$(fetch)
cat > "$work/flood.py" <<PY
import multiprocessing, os, socket, time
end = time.time() + $secs
def run(_):
    made, key = 0, os.urandom(96)
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", $sport), timeout=2)
            s.sendall(key); s.close(); made += 1
        except OSError:
            pass
    return made
with multiprocessing.Pool($flooders) as p:
    print(sum(p.map(run, range($flooders))))
PY
before=$(ticks $seed)
python3 "$work/flood.py" > "$work/made" & flood=$!
sleep 1
loaded=$(fetch)
wait $flood
after=$(ticks $seed)
made=$(cat "$work/made")
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'flood: %d handshakes in %d s (%.0f/s) from %d processes; seed CPU %.2f s (%.2f cores)\n' \
  "$made" "$secs" "$(echo "$made/$secs" | bc -l)" "$flooders" "$(echo "($after-$before)/100" | bc -l)" \
  "$(echo "($after-$before)/100/$secs" | bc -l)"
printf 'encrypted fetch of 16 MiB: %.2f s quiet, %.2f s under the flood (%.2fx)\n' "$quiet" "$loaded" \
  "$(echo "$loaded/$quiet" | bc -l)"
