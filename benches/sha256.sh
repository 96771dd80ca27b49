#!/usr/bin/env bash
# SHA-256 of a page-cached file (1 GiB by default): `openssl dgst -sha256` against p2p's
# SHA-256 (SHA-NI where the processor has it, and portable), ROUNDS alternating runs each,
# medians, and the ratio of p2p's time to openssl's. Usage: benches/sha256.sh [SIZE_MIB] [ROUNDS]
set -euo pipefail
size_mib=${1:-1024}; rounds=${2:-3}
cd "$(dirname "$0")/.."
. benches/lib.sh
command -v openssl >/dev/null || { echo "openssl missing: apt-get install -y openssl" >&2; exit 1; }
work=$(mktemp -d)
cached_random "$work/data.bin" "$size_mib"
cargo bench --quiet --bench sha256 --no-run 2>/dev/null
echo "load $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
times=()
for _ in $(seq "$rounds"); do
  t0=$(date +%s.%N); openssl dgst -sha256 "$work/data.bin" >/dev/null; t1=$(date +%s.%N)
  times+=("$(echo "$t1 - $t0" | bc -l)")
done
ossl=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
printf 'openssl dgst -sha256:         %.3f s, %.2f GB/s\n' "$ossl" "$(echo "$size_mib*1.048576/1000/$ossl" | bc -l)"
out=$(cargo bench --quiet --bench sha256 -- "$work/data.bin" "$rounds")
echo "$out"
ours=$(echo "$out" | sed -n '1s/.*: \([0-9.]*\) s.*/\1/p')
printf 'p2p / openssl throughput: %.2fx (goal: at least 0.9x)\n' "$(echo "$ossl / $ours" | bc -l)"
