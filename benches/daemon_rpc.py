"""The parts of benches/daemon.sh that speak the Transmission RPC (the same calls to p2p daemon
and transmission-daemon), standard library only.

    daemon_rpc.py make N DIR            N torrents of 1 MiB each: DIR/content/tNNNNN.bin (hard
                                        links to one file) and DIR/torrents/tNNNNN.torrent
    daemon_rpc.py add URL DIR N         torrent-add of the N torrents, data in DIR/content
    daemon_rpc.py seeding URL N LIMIT   seconds until N torrents are seeding (status 6)
    daemon_rpc.py launch URL N LIMIT LOG PIDFILE CMD...
                                        starts CMD (stderr to LOG, its PID to PIDFILE) and
                                        prints the seconds from its launch to N torrents
                                        seeding: this client's own start is outside the clock
    daemon_rpc.py get URL               median milliseconds of 7 torrent-get calls for every
                                        torrent's list fields (what transmission-remote -l asks),
                                        request sent to answer read, not parsed
"""

import base64
import http.client
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

LIST_FIELDS = ["addedDate", "error", "errorString", "eta", "id", "isFinished", "leftUntilDone",
               "name", "peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload",
               "sizeWhenDone", "status", "uploadRatio"]
session = {"id": ""}


def rpc(url, method, arguments=None):
    body = json.dumps({"method": method, "arguments": arguments or {}}).encode()
    for _ in range(3):
        req = urllib.request.Request(url, data=body, headers={
            "X-Transmission-Session-Id": session["id"], "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 409:
                session["id"] = e.headers["X-Transmission-Session-Id"]
                continue
            raise
        if answer.get("result") != "success":
            raise SystemExit("%s: %s" % (method, answer.get("result")))
        return answer["arguments"]
    raise SystemExit("no session id")


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)


def make(n, root):
    content, torrents = os.path.join(root, "content"), os.path.join(root, "torrents")
    os.makedirs(content, exist_ok=True)
    os.makedirs(torrents, exist_ok=True)
    base = os.path.join(root, "base.bin")
    data = os.urandom(1 << 20)
    with open(base, "wb") as f:
        f.write(data)
    piece = 1 << 18
    pieces = b"".join(hashlib.sha1(data[i:i + piece]).digest() for i in range(0, len(data), piece))
    for i in range(n):
        name = "t%05d.bin" % i
        os.link(base, os.path.join(content, name))
        info = {"length": len(data), "name": name, "piece length": piece, "pieces": pieces}
        with open(os.path.join(torrents, name + ".torrent"), "wb") as f:
            f.write(bencode({"info": info}))


def add(url, root, n):
    content, torrents = os.path.join(root, "content"), os.path.join(root, "torrents")
    for i in range(n):
        with open(os.path.join(torrents, "t%05d.bin.torrent" % i), "rb") as f:
            meta = base64.b64encode(f.read()).decode()
        rpc(url, "torrent-add", {"metainfo": meta, "download-dir": content})


def seeding(url, n, limit, start=None, every=0.05):
    start = start or time.monotonic()
    while time.monotonic() - start < limit:
        try:
            got = rpc(url, "torrent-get", {"fields": ["status"]})["torrents"]
            if len(got) >= n and all(t["status"] == 6 for t in got):
                print("%.2f" % (time.monotonic() - start))
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(every)
    raise SystemExit("not all %d seeding within %d s" % (n, limit))


def launch(url, n, limit, log, pidfile, cmd):
    """A restart, timed from the daemon's launch: the port is polled every 2 ms, then the
    torrents every 10 ms, by this process, started (imports and all) before the clock."""
    import socket
    import subprocess
    parts = urllib.parse.urlsplit(url)
    with open(log, "wb") as err:
        start = time.monotonic()
        daemon = subprocess.Popen(cmd, stderr=err, stdout=subprocess.DEVNULL)
    with open(pidfile, "w") as f:
        f.write("%d\n" % daemon.pid)
    while time.monotonic() - start < limit:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
            break
        except OSError:
            if daemon.poll() is not None:
                raise SystemExit("the daemon exited with %s" % daemon.returncode)
            time.sleep(0.002)
    seeding(url, n, limit, start, 0.01)


def get(url):
    """The daemon's time for the list: from sending the request to the answer's last byte, on
    a connection already open (the client's parsing, the same for both, is not counted)."""
    rpc(url, "session-get")  # learns the session id
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    body = json.dumps({"method": "torrent-get", "arguments": {"fields": LIST_FIELDS}}).encode()
    headers = {"X-Transmission-Session-Id": session["id"], "Content-Type": "application/json"}
    times = []
    for _ in range(7):
        start = time.monotonic()
        conn.request("POST", parts.path, body=body, headers=headers)
        raw = conn.getresponse().read()
        times.append((time.monotonic() - start) * 1000)
    conn.close()
    got = json.loads(raw)["arguments"]["torrents"]
    times.sort()
    print("%.1f %d" % (times[3], len(got)))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(int(sys.argv[2]), sys.argv[3])
    elif cmd == "add":
        add(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "seeding":
        seeding(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "launch":
        launch(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6],
               sys.argv[7:])
    elif cmd == "get":
        get(sys.argv[2])
