#!/usr/bin/env python3
"""Independent SIEM receivers for the sink tests.

  receivers.py syslog  PORTFILE OUTFILE [CERT KEY]
      RFC 5424 over TCP (or TLS, RFC 5425, with CERT and KEY) with RFC 6587 octet counting;
      writes one message per line.
  receivers.py plain PORTFILE OUTFILE
      HTTP; writes each POSTed body as one line (newlines escaped): a checkpoint witness.
  receivers.py webhook PORTFILE OUTFILE SECRET FAIL_FIRST [CERT KEY]
      HTTP; verifies every request with the `standardwebhooks` package (the reference
      implementation of the Standard Webhooks specification), answers 500 to the first
      FAIL_FIRST valid requests (to exercise retries), 401 to unverifiable ones, and writes
      each accepted body as one line.

  receivers.py smtp PORTFILE OUTFILE
      SMTP (the `aiosmtpd` server); writes each received mail as one JSON line
      {"mail_from", "rcpt_tos", "data"}.

The listening port is written to PORTFILE once the socket is bound. RECEIVER_PORT in the
environment binds that port instead of a free one (a receiver that comes up late).
"""

import http.server
import json
import os
import socketserver
import ssl
import sys
import threading


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def serve_syslog(portfile, outfile, cert=None, key=None):
    out = open(outfile, "a", encoding="utf-8")
    lock = threading.Lock()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            buf = b""
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while True:
                    sp = buf.find(b" ")
                    if sp <= 0 or not buf[:sp].isdigit():
                        break
                    n = int(buf[:sp])
                    if len(buf) < sp + 1 + n:
                        break
                    msg = buf[sp + 1 : sp + 1 + n].decode("utf-8")
                    buf = buf[sp + 1 + n :]
                    with lock:
                        out.write(msg.replace("\n", "\\n") + "\n")
                        out.flush()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), Handler)
    if cert:
        srv.socket = tls_context(cert, key).wrap_socket(srv.socket, server_side=True)
    with open(portfile, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


def serve_webhook(portfile, outfile, secret, fail_first, cert=None, key=None):
    from standardwebhooks.webhooks import Webhook

    wh = Webhook(secret)
    out = open(outfile, "a", encoding="utf-8")
    state = {"failed": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                wh.verify(body, headers)
            except Exception as e:  # noqa: BLE001 - any failure is a refusal
                self.send_response(401)
                self.end_headers()
                self.wfile.write(str(e).encode())
                return
            with lock:
                if state["failed"] < fail_first:
                    state["failed"] += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                out.write(body.decode("utf-8") + "\n")
                out.flush()
            self.send_response(204)
            self.end_headers()

    port = int(os.environ.get("RECEIVER_PORT", "0"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if cert:
        srv.socket = tls_context(cert, key).wrap_socket(srv.socket, server_side=True)
    with open(portfile, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


def serve_smtp(portfile, outfile):
    import asyncio
    import socket

    from aiosmtpd.controller import Controller

    out = open(outfile, "a", encoding="utf-8")

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            out.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }) + "\n")
            out.flush()
            return "250 Message accepted for delivery"

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    with open(portfile, "w") as f:
        f.write(str(port))
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        ctl.stop()


def serve_plain(portfile, outfile):
    out = open(outfile, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            out.write(body.decode("utf-8").replace("\n", "\\n") + "\n")
            out.flush()
            self.send_response(202)
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "plain":
        serve_plain(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "smtp":
        serve_smtp(sys.argv[2], sys.argv[3])
    elif sys.argv[1].startswith("syslog"):
        serve_syslog(*sys.argv[2:4], *sys.argv[4:6])
    else:
        serve_webhook(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), *sys.argv[6:8])
