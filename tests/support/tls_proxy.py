"""A TLS front for a plain HTTP server, as nginx terminating https:// before a tracker or a
file server: accepts TLS with the given certificate and passes the bytes both ways to
127.0.0.1:BACKEND.

usage: tls_proxy.py CERT KEY BACKEND_PORT  -- prints `listening PORT`, then `handshake` for
every TLS handshake completed and `refused REASON` for every one that failed.
"""
import socket
import ssl
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn, context, backend):
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print(f"refused {e}", flush=True)
        conn.close()
        return
    print("handshake", flush=True)
    try:
        upstream = socket.create_connection(("127.0.0.1", backend), timeout=10)
        upstream.settimeout(None)
    except OSError:
        tls.close()
        return
    back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
    back.start()
    pump(tls, upstream)
    back.join(30)
    tls.close()
    upstream.close()


def main():
    cert, key, backend = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"listening {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.settimeout(30)
        threading.Thread(target=serve, args=(conn, context, backend), daemon=True).start()



if __name__ == "__main__":
    main()
