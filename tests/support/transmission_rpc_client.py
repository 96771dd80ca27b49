"""Python's transmission-rpc package (PyPI, what *arr tools and scripts use) driving a daemon.

    transmission_rpc_client.py PORT add TORRENT     add it, wait (60 s) until it is complete
    transmission_rpc_client.py PORT cycle HASH      stop, start, then remove it with its data
Prints what the package reports, one `key value` line each.
"""

import sys
import time

from transmission_rpc import Client

port, what, arg = int(sys.argv[1]), sys.argv[2], sys.argv[3]
client = Client(host="127.0.0.1", port=port, timeout=30)
print("rpc-version", client.get_session().rpc_version, flush=True)
if what == "add":
    with open(arg, "rb") as f:
        added = client.add_torrent(f)
    print("added", added.id, added.hash_string, flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        t = client.get_torrent(added.id)
        if t.percent_done == 1.0 and t.left_until_done == 0:
            print("complete", t.name, t.status, t.download_dir, flush=True)
            break
        time.sleep(0.2)
    else:
        sys.exit("not complete within 60 s")
    print("listed", " ".join(t.hash_string for t in client.get_torrents()), flush=True)
else:
    t = next(t for t in client.get_torrents() if t.hash_string == arg)
    client.stop_torrent(t.id)
    print("stopped", client.get_torrent(t.id).status, flush=True)
    client.start_torrent(t.id)
    print("started", client.get_torrent(t.id).status, flush=True)
    client.remove_torrent(t.id, delete_data=True)
    print("left", len(client.get_torrents()), flush=True)
