"""A tracker that answers every announce with the same peers, whatever they are: for p2p's
tests of which peer addresses a client accepts from a tracker.

usage: fixed_tracker.py HOST PORT PEER_IPV4:PORT...   (prints `listening PORT`)
"""
import http.server
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
peers = b"".join(
    socket.inet_aton(a.rsplit(":", 1)[0]) + struct.pack(">H", int(a.rsplit(":", 1)[1]))
    for a in sys.argv[3:]
)
body = b"d8:intervali30e5:peers%d:%se" % (len(peers), peers)


class Tracker(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer((host, port), Tracker)
print("listening %d" % server.server_address[1], flush=True)
server.serve_forever()
