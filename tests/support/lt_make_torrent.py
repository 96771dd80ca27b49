"""Makes a torrent with libtorrent's create_torrent (Debian's python3-libtorrent), for p2p's tests.

usage: lt_make_torrent.py CONTENT OUT PIECE_LENGTH KIND
KIND: hybrid (libtorrent 2.0's default: v1 and v2, BEP 47 padding files), v1-padded (v1 only,
canonical file order with padding files), v2 (v2 only). Prints the v1 info-hash (hex), or the
v2 one for KIND v2.
"""
import os
import sys

import libtorrent as lt

content, out, piece, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
flags = {
    "hybrid": 0,
    "v1-padded": lt.create_torrent.v1_only | lt.create_torrent.canonical_files,
    "v2": lt.create_torrent.v2_only,
}[kind]
fs = lt.file_storage()
lt.add_files(fs, content)
ct = lt.create_torrent(fs, piece, flags=flags)
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(content)))
entry = ct.generate()
with open(out, "wb") as f:
    f.write(lt.bencode(entry))
info = lt.torrent_info(out)
hashes = info.info_hashes()
print(str(hashes.v2 if kind == "v2" else hashes.v1), flush=True)
