"""A peer that lies about a torrent's metadata (BEP 9), for p2p's tests.
usage: metadata_liar.py MODE TORRENT   (prints `listening PORT`)
MODE: wrong-bytes (right size, random bytes), wrong-total (a total_size that differs from its
metadata_size), huge (metadata_size of 100 MB), silent (handshakes, then says nothing),
wrong-layers (a v2 torrent: the right metadata, under the v2 hash, then random hashes for
every BEP 52 hash request).
Plaintext only: an encrypted handshake is closed, as by a client without MSE."""
import os
import socket
import struct
import sys
import threading

mode, torrent = sys.argv[1], open(sys.argv[2], "rb").read()
import hashlib


def end_of(data, i):
    """Where the bencoded value starting at data[i] ends."""
    c = data[i : i + 1]
    if c == b"i":
        return data.index(b"e", i) + 1
    if c in (b"l", b"d"):
        i += 1
        while data[i : i + 1] != b"e":
            i = end_of(data, i)
        return i + 1
    colon = data.index(b":", i)
    return colon + 1 + int(data[i:colon])


start = torrent.index(b"4:infod") + 6
info = torrent[start : end_of(torrent, start)]
info_hash = hashlib.sha256(info).digest()[:20] if mode == "wrong-layers" else hashlib.sha1(info).digest()
size = len(info)


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def send_ext(c, ext_id, payload):
    c.sendall(struct.pack(">IBB", len(payload) + 2, 20, ext_id) + payload)


def serve(c):
    try:
        c.settimeout(60)
        hs = recv_exact(c, 68)
        if hs[:20] != b"\x13BitTorrent protocol":
            return
        reserved = bytearray(8)
        reserved[5] |= 0x10
        c.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + info_hash + b"-XX0001-" + os.urandom(12))
        if mode == "silent":
            while c.recv(65536):
                pass
            return
        announced = 100 * 1000 * 1000 if mode == "huge" else size
        send_ext(c, 0, b"d1:md11:ut_metadatai7ee13:metadata_sizei%dee" % announced)
        their_id = None
        while True:
            (length,) = struct.unpack(">I", recv_exact(c, 4))
            body = recv_exact(c, length)
            if body and body[0] == 21 and mode == "wrong-layers":
                count = struct.unpack(">I", body[41:45])[0]
                c.sendall(struct.pack(">IB", 49 + 32 * count, 22) + body[1:49] + os.urandom(32 * count))
                continue
            if not body or body[0] != 20:
                continue
            if body[1] == 0:
                d = body[2:]
                i = d.index(b"11:ut_metadatai") + 15
                their_id = int(d[i : d.index(b"e", i)])
            elif body[1] == 7 and their_id is not None:
                p = body.index(b"5:piecei") + 8
                piece = int(body[p : body.index(b"e", p)])
                chunk = info[piece * 16384 : (piece + 1) * 16384]
                total = size + 1 if mode == "wrong-total" else size
                if mode == "wrong-bytes":
                    chunk = os.urandom(len(chunk))
                head = b"d8:msg_typei1e5:piecei%de10:total_sizei%dee" % (piece, total)
                send_ext(c, their_id, head + chunk)
    except (EOFError, OSError, ValueError):
        pass
    finally:
        c.close()


s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print("listening %d" % s.getsockname()[1], flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
