"""A leecher that reads slowly and leaves abruptly, for a seed's upload accounting: it connects
with a small receive buffer, asks for BLOCKS 16 KiB blocks at once, reads KEEP whole piece
messages, then resets the connection (SO_LINGER 0) while the seed is still sending them.

usage: slow_leecher.py PORT INFO_HASH_HEX PIECE_LENGTH BLOCKS KEEP
prints `received N`, the payload bytes of the piece messages it read whole."""
import os
import socket
import struct
import sys

port, info_hash = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
piece_length, blocks, keep = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError("the seed closed the connection")
        buf += chunk
    return buf


def message(c):
    (length,) = struct.unpack(">I", recv_exact(c, 4))
    if length == 0:
        return None, b""
    body = recv_exact(c, length)
    return body[0], body[1:]


c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.settimeout(30)
c.connect(("127.0.0.1", port))
c.sendall(b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-XX0001-" + os.urandom(12))
recv_exact(c, 68)
c.sendall(struct.pack(">IB", 1, 2))  # interested
while message(c)[0] != 1:  # until unchoke
    pass
requests = b""
for i in range(blocks):
    offset = i * 16384
    requests += struct.pack(">IBIII", 13, 6, offset // piece_length, offset % piece_length, 16384)
c.sendall(requests)
received = 0
pieces = 0
while pieces < keep:
    kind, body = message(c)
    if kind == 7:
        received += len(body) - 8
        pieces += 1
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print(f"received {received}", flush=True)
