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
# Writes $2 MiB of random bytes to file $1 and reads them back, so they start in the page cache.
cached_random() { head -c $(($2 << 20)) /dev/urandom > "$1"; cat "$1" > /dev/null; }
