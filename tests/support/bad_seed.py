"""A bad seeder for p2p's tests: claims every piece, unchokes, then answers each request with
random bytes (MODE corrupt), never answers at all (MODE silent), or answers the first request
of a connection with random bytes and hangs up (MODE one-block, so that the rest of that piece
comes from other peers; one-block-once does that on its first connection only, then chokes
and stays silent on it, and hangs up on every later one at once, so that one piece fails, once); MODE
protocol breaks the
extension and fast protocols instead, one violation a connection, in turn: an extended
handshake that is not a dictionary, a reject of a block never requested, have all after a
bitfield, garbage under the ut_metadata id, a message longer than any allowed.
usage: bad_seed.py MODE INFO_HASH_HEX PIECE_COUNT [HOST]  (listens on HOST, 127.0.0.1 unless
given; prints `listening PORT`)"""
import os
import socket
import struct
import sys
import threading

mode = sys.argv[1]
info_hash = bytes.fromhex(sys.argv[2])
pieces = int(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


VIOLATIONS = [
    struct.pack(">IBB", 7, 20, 0) + b"li1ee",
    struct.pack(">IBIII", 13, 16, 0, 0, 16384),
    struct.pack(">IB", 1, 14),
    struct.pack(">IBB", 7, 20, 2) + b"junk!",
    struct.pack(">I", 1 << 30),
]
served = [0]


def serve(c):
    try:
        c.settimeout(120)
        if mode == "one-block-once":
            if served[0]:
                return
            served[0] += 1
        recv_exact(c, 68)
        reserved = bytearray(8)
        if mode == "protocol":
            reserved[5] |= 0x10
            reserved[7] |= 0x04
        c.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + info_hash + b"-XX0001-" + os.urandom(12))
        if mode == "protocol":
            n = served[0]
            served[0] += 1
            bits = bytearray((pieces + 7) // 8)
            c.sendall(struct.pack(">IB", 1 + len(bits), 5) + bytes(bits))
            c.sendall(VIOLATIONS[n % len(VIOLATIONS)])
            while c.recv(65536):
                pass
            return
        bits = bytearray((pieces + 7) // 8)
        for i in range(pieces):
            bits[i // 8] |= 0x80 >> (i % 8)
        c.sendall(struct.pack(">IB", 1 + len(bits), 5) + bytes(bits))
        c.sendall(struct.pack(">IB", 1, 1))
        while True:
            (length,) = struct.unpack(">I", recv_exact(c, 4))
            if length == 0:
                continue
            body = recv_exact(c, length)
            if body[0] == 6 and mode in ("corrupt", "one-block", "one-block-once"):
                index, begin, size = struct.unpack(">III", body[1:13])
                c.sendall(struct.pack(">IBII", 9 + size, 7, index, begin) + os.urandom(size))
                if mode == "one-block":
                    return
                if mode == "one-block-once":
                    # A choke (the client's other requests are void) and silence, reading what
                    # comes: hanging up with requests unread would reset the connection,
                    # racing the garbage block to the client.
                    c.sendall(struct.pack(">IB", 1, 0))
                    while c.recv(65536):
                        pass
                    return
    except (EOFError, OSError):
        pass
    finally:
        c.close()


srv = socket.socket()
srv.bind((host, 0))
srv.listen(16)
print("listening %d" % srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
