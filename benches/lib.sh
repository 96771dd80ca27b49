# What the benchmark scripts share; each sources it right after `cd` to the repository root.
# A script adds the PID of everything it starts to `pids` and may set `work` to its temporary
# directory: on exit, those processes are ended by PID and waited for, and `work` is removed.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${work:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1 (free when asked: the caller binds it next).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
# CPU time (user + system, in clock ticks) process $1 has used.
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
# CPU time in nanoseconds the threads process $1 has now have run (clock ticks are too coarse
# for an idle daemon: 10 ms against a few a minute).
cpu_ns() { cat /proc/$1/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
# Writes $2 MiB of random bytes to file $1 and reads them back, so they start in the page cache.
cached_random() { head -c $(($2 << 20)) /dev/urandom > "$1"; cat "$1" > /dev/null; }

# The common start of a run against libtorrent: checks for time, bc and python3-libtorrent,
# builds p2p, and sets $bin, $lt (tests/support/libtorrent_peer.py) and $work, with $1 MiB of
# page-cached random bytes in $work/src/data.bin and $work/data.torrent of $2-sized pieces.
against_libtorrent() {
  command -v /usr/bin/time >/dev/null || { echo "apt-get install -y time" >&2; exit 1; }
  command -v bc >/dev/null || { echo "apt-get install -y bc" >&2; exit 1; }
  /usr/bin/python3 -c 'import libtorrent' || { echo "apt-get install -y python3-libtorrent" >&2; exit 1; }
  cargo build --release --quiet
  bin=$PWD/target/release/p2p
  lt=$PWD/tests/support/libtorrent_peer.py
  work=$(mktemp -d)
  mkdir -p "$work/src"
  cached_random "$work/src/data.bin" "$1"
  "$bin" make-torrent "$work/src/data.bin" --piece-length "$2" --out "$work/data.torrent" >/dev/null 2>&1
}

# The link emulator (benches/linkem.rs), for scripts that set $work and $A, $B (the namespace
# names; root needed). linkem_build builds it; `link ARGS...` starts it afresh with ARGS, first
# ending the one before and what ran on it (PIDs the script added to `side`); unlink_ ends it.
linkem_build() {
  cargo bench --bench linkem --no-run --quiet 2>/dev/null
  linkem=$(ls -t target/release/deps/linkem-* | grep -v '\.d$' | head -1)
}
side=()  # what runs on the link: ended with it
linkem_pid=
# link ARGS...: a fresh pair of namespaces joined by linkem with ARGS (any before is ended).
link() {
  unlink_
  "$linkem" "$A" "$B" --log "$work/link.log" "$@" > "$work/linkem.out" 2>&1 &
  linkem_pid=$!; pids+=($linkem_pid)
  for _ in $(seq 100); do grep -q ready "$work/linkem.out" && return 0; sleep 0.1; done
  echo "linkem never came up: $(cat "$work/linkem.out")" >&2; exit 1
}
unlink_() {
  for p in "${side[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  side=()
  [ -n "$linkem_pid" ] || return 0
  kill "$linkem_pid" 2>/dev/null || true; wait "$linkem_pid" 2>/dev/null || true; linkem_pid=
}
# Waits up to 10 s for UDP port $2 to be bound in namespace $1.
wait_udp() { for _ in $(seq 100); do ip netns exec "$1" ss -Hluan | grep -q ":$2 " && return 0; sleep 0.1; done; echo "nothing on UDP $2 in $1" >&2; exit 1; }
