"""Floods one DHT node with announces from many source IPs (for benches/dht_flood.sh): each
address makes ROUNDS announces, each to the next of POOL info-hashes with a random port (a
get_peers for the token first), as issue 24's flood did: a store keyed by address takes every
port as another peer.

usage: dht_flood.py NODE_HOST:PORT FIRST_IP COUNT ROUNDS POOL
Sources are FIRST_IP and the COUNT-1 addresses after it (they must be on this host).
"""
import hashlib
import ipaddress
import os
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
node = (host, int(port))
first, count = ipaddress.IPv4Address(sys.argv[2]), int(sys.argv[3])
rounds, pool = int(sys.argv[4]), int(sys.argv[5])
hashes = [hashlib.sha1(b"%d" % i).digest() for i in range(pool)]


def enc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    return b"d" + b"".join(enc(k) + enc(v[k]) for k in sorted(v)) + b"e"


def token(reply):
    i = reply.find(b"5:token")
    if i < 0:
        return None
    j = reply.index(b":", i + 7)
    n = int(reply[i + 7:j])
    return reply[j + 1:j + 1 + n]


socks = []
for k in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((str(first + k), 0))
    s.settimeout(1.0)
    socks.append(s)
stored = 0
started = time.time()
for r in range(rounds):
    for k, s in enumerate(socks):
        h = hashes[(r + k * 37) % pool]
        me = os.urandom(20)
        s.sendto(enc({b"t": b"g", b"y": b"q", b"q": b"get_peers", b"a": {b"id": me, b"info_hash": h}}), node)
        try:
            tok = token(s.recv(2048))
        except socket.timeout:
            continue
        if tok is None:
            continue
        s.sendto(enc({b"t": b"a", b"y": b"q", b"q": b"announce_peer",
                      b"a": {b"id": me, b"info_hash": h, b"port": 1024 + (r * 7919 + k) % 60000,
                             b"token": tok}}), node)
        try:
            s.recv(2048)
            stored += 1
        except socket.timeout:
            pass
print("announced %d in %.1f s" % (stored, time.time() - started), flush=True)
