"""A DHT eclipse attacker for p2p's tests (issue 24): one IP, many UDP ports, each a made-up
node. It makes itself known to the nodes given (a find_node from each of its first ports, so
they put it in their tables), then answers every find_node and get_peers with 16 made-up
nodes nearer the target than any before (each on another of its ports, ids sharing one more
bit with the target every few answers), with a token, and never any peer.

usage: dht_eclipse.py IP PORTS COUNT_FILE NODE_HOST:PORT...
Prints `listening` once its ports are bound; writes the number of queries it received to
COUNT_FILE twice a second; runs until killed.
"""
import os
import resource
import selectors
import socket
import sys
import time

ip, nports, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
known = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in sys.argv[4:])]

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, nports + 64)), hard))


def enc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    return b"d" + b"".join(enc(k) + enc(v[k]) for k in sorted(v)) + b"e"


def dec(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = dec(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = dec(b, i)
            out[k], i = dec(b, i)
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def near(target, bits):
    """An id sharing exactly `bits` leading bits with target, random after."""
    t = int.from_bytes(target, "big")
    r = int.from_bytes(os.urandom(20), "big")
    keep = ((1 << 160) - 1) ^ ((1 << (160 - bits)) - 1)
    flip = 1 << (159 - bits)
    v = (t & keep) | (r & ~keep & ((1 << 160) - 1))
    v = (v & ~flip) | (~t & flip)
    return v.to_bytes(20, "big")


sel = selectors.DefaultSelector()
socks = []
for k in range(nports):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
ids = {s.getsockname()[1]: os.urandom(20) for s in socks}
ports = list(ids)
print("listening", flush=True)

for s in socks[:16]:
    for addr in known:
        q = {b"t": b"aa", b"y": b"q", b"q": b"find_node",
             b"a": {b"id": ids[s.getsockname()[1]], b"target": os.urandom(20)}}
        s.sendto(enc(q), addr)

queries = 0
answers = 0
depth = 20
# Made-up nodes take the ports after the 16 that introduced themselves, each port keeping
# the id it was handed out with until every port has been used once.
next_port = 16
last_write = 0.0
while True:
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        try:
            data, addr = s.recvfrom(2048)
            msg, _ = dec(data)
        except (OSError, ValueError, IndexError):
            continue
        if not isinstance(msg, dict) or msg.get(b"y") != b"q":
            continue
        queries += 1
        port = s.getsockname()[1]
        args = msg.get(b"a", {})
        target = args.get(b"target") or args.get(b"info_hash")
        r = {b"id": ids[port]}
        if isinstance(target, bytes) and len(target) == 20:
            answers += 1
            if answers % 3 == 0:
                depth = min(depth + 1, 150)
            nodes = b""
            for _ in range(16):
                p = ports[16 + (next_port - 16) % (len(ports) - 16)]
                next_port += 1
                ids[p] = near(target, depth)
                nodes += ids[p] + socket.inet_aton(ip) + p.to_bytes(2, "big")
            r[b"nodes"] = nodes
            r[b"token"] = b"tok"
        s.sendto(enc({b"t": msg.get(b"t", b""), b"y": b"r", b"r": r}), addr)
    now = time.time()
    if now - last_write > 0.5:
        last_write = now
        with open(count_file + ".tmp", "w") as f:
            f.write(str(queries))
        os.replace(count_file + ".tmp", count_file)
