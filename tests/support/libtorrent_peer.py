"""A libtorrent peer for p2p's tests and benchmarks (Debian's python3-libtorrent).

usage: libtorrent_peer.py TORRENT|MAGNET DIR PORT [--peer HOST:PORT]... [--fetch] [--timeout SECS]
                          [--require-encryption]

Seeds TORRENT from DIR (or, with --fetch, downloads it into DIR), listening on 127.0.0.1:PORT
over TCP only. Prints `listening PORT`, then `complete` when the download is whole, and exits 0
then (with --fetch) or after --timeout (seeding). Exits 1 on a timed-out fetch.
--require-encryption forces MSE/PE with RC4 both ways (libtorrent's forced policy);
--plaintext turns MSE/PE off both ways (for peers that speak no MSE).
--utp-only speaks uTP alone (TCP off both ways) and prints `utp peers: N` when complete, N
being the most peers libtorrent marked as uTP sockets at once.
--log-hashes prints `hashes: MESSAGE` for each BEP 52 hash message sent or received, and for
each piece whose failure makes libtorrent ask for block hashes, and for each peer it bans for
bad data (`BANNING PEER`, `corrupt`).
A magnet link instead of TORRENT fetches the metadata from the peers first (BEP 9).
--lsd turns local service discovery on (announcing every 2 s) and prints `lsd peer: MESSAGE`
(naming the peer's IP:PORT) for each peer it learns of that way.
--dht-bootstrap HOST:PORT turns libtorrent's DHT on, joining through that node, with the
restrictions that collapse many nodes on one IP (loopback) turned off.
--stay (with --fetch) seeds once complete, until --timeout; --done-file PATH gets the Unix time
the download completed (benches/swarm.sh's flash crowd).
"""
import argparse
import os
import sys
import time

import libtorrent as lt

ap = argparse.ArgumentParser()
ap.add_argument("torrent")
ap.add_argument("dir")
ap.add_argument("port", type=int)
ap.add_argument("--peer", action="append", default=[])
ap.add_argument("--fetch", action="store_true")
ap.add_argument("--timeout", type=float, default=120)
ap.add_argument("--require-encryption", action="store_true")
ap.add_argument("--plaintext", action="store_true")
ap.add_argument("--utp-only", action="store_true")
ap.add_argument("--log-hashes", action="store_true")
ap.add_argument("--dht-bootstrap")
ap.add_argument("--bind", default="127.0.0.1", help="the address to listen on and dial from")
ap.add_argument("--lsd", action="store_true", help="local service discovery (BEP 14) on")
ap.add_argument("--upload-limit", type=int, default=0, help="bytes a second sent at most (0: no limit)")
ap.add_argument("--stay", action="store_true", help="with --fetch: seed once complete, until the timeout")
ap.add_argument("--done-file", help="write the time (Unix seconds) the download completed here")
args = ap.parse_args()

settings = {
    "listen_interfaces": ("[%s]:%d" if ":" in args.bind else "%s:%d") % (args.bind, args.port),
    "outgoing_interfaces": args.bind,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification,
    "upload_rate_limit": args.upload_limit,
    # Limits hold for peers on private networks too (benchmarks run there).
    "ignore_limits_on_local_network": False,
}
if args.lsd:
    settings.update({
        "enable_lsd": True,
        "local_service_announce_interval": 2,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification,
    })
if args.require_encryption:
    # 0 = forced; allowed_enc_level 2 = RC4 only.
    settings.update({"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2})
if args.utp_only:
    settings.update({
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
    })
if args.plaintext:
    # 2 = disabled.
    settings.update({"out_enc_policy": 2, "in_enc_policy": 2})
if args.log_hashes:
    settings["alert_mask"] |= (lt.alert.category_t.peer_log_notification
                               | lt.alert.category_t.torrent_log_notification)
if args.dht_bootstrap:
    settings.update({
        "enable_dht": True,
        "dht_bootstrap_nodes": args.dht_bootstrap,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        # Every node of the test shares 127.0.0.1: do not block it for querying often.
        "dht_block_ratelimit": 10000,
    })
# What --log-hashes prints: hash messages, block-hash requests and bans for bad data.
HASH_LOG_WORDS = ("HASH", "block hashes", "BANNING", "corrupt")
ses = lt.session(settings)
if args.torrent.startswith("magnet:"):
    params = lt.parse_magnet_uri(args.torrent)
    params.save_path = args.dir
    handle = ses.add_torrent(params)
else:
    handle = ses.add_torrent({"ti": lt.torrent_info(args.torrent), "save_path": args.dir})
# A seed says it listens once it has checked its files: peers that connect while it checks are
# turned away, and would wait for a retry.
checking = (lt.torrent_status.states.checking_files, lt.torrent_status.states.checking_resume_data)
ready_by = time.time() + 30
while not args.fetch and handle.status().state in checking and time.time() < ready_by:
    time.sleep(0.05)
print("listening %d" % ses.listen_port(), flush=True)
for peer in args.peer:
    host, port = peer.rsplit(":", 1)
    handle.connect_peer((host, int(port)))

deadline = time.time() + args.timeout
reported = False
utp_seen = 0
while time.time() < deadline:
    for alert in ses.pop_alerts():
        if alert.what() == "lsd_peer":
            # The bindings give this alert without its fields: its message names the peer.
            print("lsd peer: %s" % alert.message(), flush=True)
        elif args.log_hashes and any(w in alert.message() for w in HASH_LOG_WORDS):
            print("hashes: %s" % alert.message(), flush=True)
        elif alert.category() & lt.alert.category_t.error_notification:
            print("alert: %s" % alert.message(), file=sys.stderr, flush=True)
    if args.utp_only:
        # peer_info::utp_socket is bit 17 of the flags (libtorrent 2.0's peer_info.hpp); the
        # bindings do not name it.
        utp = [p for p in handle.get_peer_info() if int(p.flags) & (1 << 17)]
        utp_seen = max(utp_seen, len(utp))
    s = handle.status()
    if s.is_seeding and not reported:
        if args.utp_only:
            print("utp peers: %d" % utp_seen, flush=True)
        print("complete", flush=True)
        reported = True
        if args.done_file:
            with open(args.done_file + ".tmp", "w") as f:
                f.write("%.3f\n" % time.time())
            os.rename(args.done_file + ".tmp", args.done_file)
        if args.fetch and not args.stay:
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1 if args.fetch and not reported else 0)
