"""A bulk TCP flow with CUBIC congestion control, for benches/utp_link.sh.

usage: tcp_flow.py recv PORT             accept one connection, read it to the end, print the
                                         bytes and seconds
       tcp_flow.py send HOST PORT SECS   connect (CUBIC, set with TCP_CONGESTION) and send
                                         for SECS seconds
"""
import socket
import sys
import time

if sys.argv[1] == "recv":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    s.listen(1)
    s.settimeout(60)
    c, _ = s.accept()
    c.settimeout(60)
    n, t0 = 0, time.time()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += len(b)
    print(n, round(time.time() - t0, 3))
else:
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    s.settimeout(10)
    s.connect((sys.argv[2], int(sys.argv[3])))
    end, buf = time.time() + float(sys.argv[4]), b"x" * 65536
    while time.time() < end:
        s.send(buf)
    s.close()
