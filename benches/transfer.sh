#!/usr/bin/env bash
# Transfer speed on loopback, in one run: a page-cached file (1 GiB by default) from one seeder to
# one downloader, p2p→p2p (plaintext, then RC4-encrypted), libtorrent→libtorrent, libtorrent→p2p
# (the same seed), aria2c→aria2c and, when installed, rqbit→rqbit, each timed from the
# downloader's start to its verified completion, with the downloader's CPU seconds and peak RSS;
# then a swarm: a p2p seed limited to 4 MiB/s and 8 p2p fetchers of a 64 MiB file through
# p2p tracker: time until all complete, and the seed's upload divided by the file size.
# Usage: benches/transfer.sh [SIZE_MIB=1024]
#   needs: apt-get install -y aria2 python3-libtorrent time
set -euo pipefail
size_mib=${1:-1024}
cd "$(dirname "$0")/.."
. benches/lib.sh
for tool in aria2c /usr/bin/time; do
  command -v $tool >/dev/null || { echo "$tool missing: apt-get install -y aria2 time" >&2; exit 1; }
done
/usr/bin/python3 -c 'import libtorrent' || { echo "apt-get install -y python3-libtorrent" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2p
lt=$PWD/tests/support/libtorrent_peer.py
work=$(mktemp -d)

mkdir -p "$work/src"
cached_random "$work/src/data.bin" "$size_mib"
sync  # start every run with no write-back pending
tport=$(free_port)
"$bin" tracker --listen 127.0.0.1:$tport --interval 30 2>/dev/null & pids+=($!)
"$bin" make-torrent "$work/src/data.bin" --tracker t@127.0.0.1:$tport --piece-length 1M --out "$work/data.torrent" >/dev/null 2>&1

# /usr/bin/time prints: wall user sys maxrss_kib
measure() { /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$@" >/dev/null 2>&1; cat "$work/time.txt"; }
report() {  # name wall user sys rss
  printf '%-28s %7.2f s  %7.1f MB/s  CPU %6.2f s  peak RSS %5.0f MiB\n' "$1" "$2" \
    "$(echo "$size_mib*1.048576/$2" | bc -l)" "$(echo "$3+$4" | bc -l)" "$(echo "$5/1024" | bc -l)"
}

echo "== one seeder, one downloader, ${size_mib} MiB, loopback"
# p2p -> p2p
sport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$sport --utp off 2>/dev/null & pids+=($!); seed_pid=$!
wait_port $sport
read -r w u s m < <(measure "$bin" fetch "$work/data.torrent" --out "$work/p2p" --peer 127.0.0.1:$sport --listen 127.0.0.1:0 --utp off)
cmp -s "$work/src/data.bin" "$work/p2p/data.bin" || { echo "p2p copy differs" >&2; exit 1; }
report "p2p -> p2p" "$w" "$u" "$s" "$m"; p2p_rate=$(echo "$size_mib/$w" | bc -l)
kill $seed_pid; rm -rf "$work/p2p"; sync

# p2p -> p2p, RC4 on every byte (MSE/PE required on both sides)
sport=$(free_port)
"$bin" seed "$work/data.torrent" --dir "$work/src" --listen 127.0.0.1:$sport --utp off --encryption require 2>/dev/null & pids+=($!); seed_pid=$!
wait_port $sport
read -r w u s m < <(measure "$bin" fetch "$work/data.torrent" --out "$work/p2p" --peer 127.0.0.1:$sport --listen 127.0.0.1:0 --utp off --encryption require)
cmp -s "$work/src/data.bin" "$work/p2p/data.bin" || { echo "p2p encrypted copy differs" >&2; exit 1; }
report "p2p -> p2p (RC4)" "$w" "$u" "$s" "$m"
printf 'encrypted / plaintext time: %.2f\n' "$(echo "$w*$p2p_rate/$size_mib" | bc -l)"
kill $seed_pid; rm -rf "$work/p2p"; sync

# libtorrent -> libtorrent
lport=$(free_port)
/usr/bin/python3 "$lt" "$work/data.torrent" "$work/src" $lport --timeout 600 >/dev/null 2>&1 & pids+=($!); lt_pid=$!
wait_port $lport
read -r w u s m < <(measure /usr/bin/python3 "$lt" "$work/data.torrent" "$work/lt" $(free_port) --fetch --timeout 600 --peer 127.0.0.1:$lport)
cmp -s "$work/src/data.bin" "$work/lt/data.bin" || { echo "libtorrent copy differs" >&2; exit 1; }
report "libtorrent -> libtorrent" "$w" "$u" "$s" "$m"; lt_rate=$(echo "$size_mib/$w" | bc -l)
rm -rf "$work/lt"; sync
# p2p fetching from the same libtorrent seed: a foreign seed should not slow p2p down.
read -r w u s m < <(measure "$bin" fetch "$work/data.torrent" --out "$work/p2p-lt" --peer 127.0.0.1:$lport --listen 127.0.0.1:0 --utp off)
cmp -s "$work/src/data.bin" "$work/p2p-lt/data.bin" || { echo "p2p copy from libtorrent differs" >&2; exit 1; }
report "libtorrent -> p2p" "$w" "$u" "$s" "$m"
printf 'p2p / libtorrent time from the same libtorrent seed: %.2f\n' "$(echo "$w*$lt_rate/$size_mib" | bc -l)"
kill $lt_pid; rm -rf "$work/p2p-lt"; sync

# aria2c -> aria2c (aria2c has no way to add a peer by address: the tracker introduces them)
aport=$(free_port)
aria2c --enable-dht=false --bt-enable-lpd=false --enable-peer-exchange=false --seed-ratio=0.0 \
  --seed-time=600 --bt-seed-unverified=true --listen-port=$aport --dir "$work/src" \
  --console-log-level=error --summary-interval=0 "$work/data.torrent" >/dev/null 2>&1 & pids+=($!); aria_pid=$!
wait_port $aport
read -r w u s m < <(measure aria2c --enable-dht=false --bt-enable-lpd=false --enable-peer-exchange=false \
  --seed-time=0 --listen-port=$(free_port) --dir "$work/aria" --console-log-level=error \
  --summary-interval=0 "$work/data.torrent")
cmp -s "$work/src/data.bin" "$work/aria/data.bin" || { echo "aria2c copy differs" >&2; exit 1; }
report "aria2c -> aria2c" "$w" "$u" "$s" "$m"; aria_rate=$(echo "$size_mib/$w" | bc -l)
kill $aria_pid; rm -rf "$work/aria"; sync

best=$(echo "if ($lt_rate > $aria_rate) $lt_rate else $aria_rate" | bc -l)
best_of="libtorrent and aria2c"

# rqbit -> rqbit, when installed (cargo install rqbit --root DIR, about 3 minutes; RQBIT=path)
rqbit=${RQBIT:-$(command -v rqbit || true)}
if [ -n "$rqbit" ]; then
  rport=$(free_port)
  # Started directly, not through a shell function: $! must be rqbit itself for the kill.
  "$rqbit" --disable-dht --disable-lsd --disable-trackers --listen-port $rport download --disable-http-api --overwrite -o "$work/src" "$work/data.torrent" >/dev/null 2>&1 & pids+=($!); rq_pid=$!
  wait_port $rport
  sleep 3  # it checks the seed's data before it serves
  read -r w u s m < <(measure "$rqbit" --disable-dht --disable-lsd --disable-trackers --listen-port $(free_port) \
    download --disable-http-api -e --initial-peers 127.0.0.1:$rport -o "$work/rq" "$work/data.torrent")
  cmp -s "$work/src/data.bin" "$work/rq/data.bin" || { echo "rqbit copy differs" >&2; exit 1; }
  report "rqbit -> rqbit" "$w" "$u" "$s" "$m"; rq_rate=$(echo "$size_mib/$w" | bc -l)
  kill $rq_pid; rm -rf "$work/rq"; sync
  best=$(echo "if ($rq_rate > $best) $rq_rate else $best" | bc -l)
  best_of="libtorrent, aria2c and rqbit"
else
  echo "rqbit not found: cargo install rqbit --root DIR (about 3 minutes), then RQBIT=DIR/bin/rqbit"
fi
printf 'ratio p2p / best of %s: %.2f\n' "$best_of" "$(echo "$p2p_rate/$best" | bc -l)"

echo "== swarm: seed at --upload-limit 4M, 8 fetchers, 64 MiB, through p2p tracker"
mkdir -p "$work/swarm"
head -c $((64 << 20)) /dev/urandom > "$work/swarm/s.bin"
"$bin" make-torrent "$work/swarm/s.bin" --tracker t@127.0.0.1:$tport --out "$work/s.torrent" >/dev/null 2>&1
sport=$(free_port)
RUST_LOG=info "$bin" seed "$work/s.torrent" --dir "$work/swarm" --listen 127.0.0.1:$sport --utp off --upload-limit 4M 2>"$work/seed.log" & seed_pid=$!; pids+=($seed_pid)
wait_port $sport
start=$(date +%s.%N)
fetch_pids=()
for i in $(seq 8); do
  "$bin" fetch "$work/s.torrent" --out "$work/f$i" --listen 127.0.0.1:0 --utp off --seed >"$work/f$i.out" 2>/dev/null & fetch_pids+=($!); pids+=($!)
done
for _ in $(seq 1200); do
  done_count=$(cat "$work"/f*.out 2>/dev/null | grep -c '^complete:' || true)
  [ "$done_count" -eq 8 ] && break
  sleep 0.1
done
end=$(date +%s.%N)
[ "$done_count" -eq 8 ] || { echo "only $done_count of 8 fetchers completed" >&2; exit 1; }
for p in "${fetch_pids[@]}"; do kill -INT $p; done
kill -INT $seed_pid; wait $seed_pid || true
for i in $(seq 8); do cmp -s "$work/swarm/s.bin" "$work/f$i/s.bin" || { echo "fetcher $i differs" >&2; exit 1; }; done
up=$(sed -n 's/.*uploaded \([0-9]*\) bytes (.*) in all.*/\1/p' "$work/seed.log")
elapsed=$(echo "$end - $start" | bc -l)
printf 'all 8 complete in %.1f s (ideal size/seed rate = 16.0 s, ratio %.2f); seed uploaded %.2f x the file\n' \
  "$elapsed" "$(echo "$elapsed/16" | bc -l)" "$(echo "$up/(64*1048576)" | bc -l)"
