#!/usr/bin/env bash
# make-torrent for BitTorrent v2 (BEP 52): `p2p make-torrent --v2` and `--hybrid` against
# libtorrent 2.0's `create_torrent` + `set_piece_hashes` (Debian's python3-libtorrent) on the same
# page-cached content at the same piece length, alternating, medians; p2p's v1 path on the same
# content beside them ("as fast as v1"). Checks that both info-hashes agree with libtorrent's.
# Usage: benches/make_torrent_v2.sh [SIZE_MIB=1024] [ROUNDS=3] [PIECE=1048576]
#   (needs: apt-get install -y python3-libtorrent)
set -euo pipefail
size_mib=${1:-1024}
rounds=${2:-3}
piece=${3:-1048576}
cd "$(dirname "$0")/.."
. benches/lib.sh
py=/usr/bin/python3
$py -c 'import libtorrent' 2>/dev/null || {
  echo "libtorrent bindings missing: apt-get install -y python3-libtorrent" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2p
work=$(mktemp -d)
mkdir "$work/pack"
# Three files of uneven sizes, so the v2 path pads between them.
third=$((size_mib / 3))
cached_random "$work/pack/a.bin" "$third"
cached_random "$work/pack/b.bin" "$third"
cached_random "$work/pack/c.bin" $((size_mib - 2 * third))
truncate -s -12345 "$work/pack/b.bin"

lt_make() { # KIND OUT
  $py - "$work/pack" "$2" "$piece" "$1" <<'EOF'
import os, sys, libtorrent as lt
content, out, piece, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fs = lt.file_storage()
lt.add_files(fs, content)
ct = lt.create_torrent(fs, piece, flags={"v2": lt.create_torrent.v2_only, "hybrid": 0}[kind])
lt.set_piece_hashes(ct, os.path.dirname(content))
open(out, "wb").write(lt.bencode(ct.generate()))
EOF
}
lt_hashes() { $py -c 'import sys, libtorrent as lt; h = lt.torrent_info(sys.argv[1]).info_hashes(); print(h.v1, h.v2)' "$1"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A times
for i in $(seq "$rounds"); do
  for kind in v2 hybrid; do
    t0=$(now); "$bin" make-torrent "$work/pack" "--$kind" --piece-length "$piece" \
      --out "$work/p2p-$kind.torrent" --force >/dev/null 2>&1; t1=$(now)
    lt_make "$kind" "$work/lt-$kind.torrent"; t2=$(now)
    times[p2p-$kind]+="$(echo "$t1 - $t0" | bc -l) "
    times[lt-$kind]+="$(echo "$t2 - $t1" | bc -l) "
    printf 'round %d %-6s: p2p %.3f s   libtorrent %.3f s\n' "$i" "$kind" \
      "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)"
  done
  t0=$(now); "$bin" make-torrent "$work/pack" --pad --piece-length "$piece" \
    --out "$work/p2p-v1.torrent" --force >/dev/null 2>&1; t1=$(now)
  times[p2p-v1]+="$(echo "$t1 - $t0" | bc -l) "
  printf 'round %d v1 --pad: p2p %.3f s\n' "$i" "$(echo "$t1 - $t0" | bc -l)"
done
for kind in v2 hybrid; do
  [ "$(lt_hashes "$work/p2p-$kind.torrent")" = "$(lt_hashes "$work/lt-$kind.torrent")" ] ||
    { echo "$kind: info-hashes differ from libtorrent's" >&2; exit 1; }
done
m() { echo "${times[$1]}" | tr ' ' '\n' | grep . | median; }
v1=$(m p2p-v1)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in v2 hybrid; do
  p=$(m "p2p-$kind"); l=$(m "lt-$kind")
  printf 'median of %d, %d MiB in 3 files, piece %d: %-6s p2p %.3f s (%.0f MB/s), libtorrent %.3f s, ratio libtorrent/p2p %.2f; p2p v1 --pad %.3f s, v1/%s %.2f (info-hashes equal)\n' \
    "$rounds" "$size_mib" "$piece" "$kind" "$p" "$(echo "$size_mib*1.048576/$p" | bc -l)" "$l" \
    "$(echo "$l/$p" | bc -l)" "$v1" "$kind" "$(echo "$v1/$p" | bc -l)"
done
