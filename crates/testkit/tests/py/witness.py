#!/usr/bin/env python3
"""A small C2SP tlog-witness (https://c2sp.org/tlog-witness) for the tests, written from the
spec: `POST /add-checkpoint` with `old <size>`, the consistency proof lines (base64), a blank
line and the signed checkpoint. It checks the log's signature, answers 409 with its known size
(`text/x.tlog.size`) when `old` is not what it knows, checks the RFC 9162 consistency proof from
its known root to the new one (422 if it fails), then stores the checkpoint and answers 200
with a cosignature line.

usage: witness.py PORTFILE OUTFILE VERIFIER_KEY_FILE (read at each request; 503 until it exists)
OUTFILE gets one JSON line per request: {"status", "old", "size", "proof_len"}.
"""

import base64
import http.server
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_tlog  # noqa: E402


def main():
    portfile, outfile, vkey_file = sys.argv[1:4]
    out = open(outfile, "a", encoding="utf-8")
    known = {"size": 0, "root": None}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", ctype="text/plain; charset=utf-8", **log):
            out.write(json.dumps({"status": status, **log}) + "\n")
            out.flush()
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            if not self.path.endswith("/add-checkpoint"):
                return self.answer(404)
            head, sep, note = raw.partition("\n\n")
            lines = head.split("\n")
            if not sep or not lines[0].startswith("old "):
                return self.answer(400)
            old = int(lines[0][4:])
            proof = [base64.b64decode(l) for l in lines[1:]]
            try:
                vkey = open(vkey_file, encoding="utf-8").read().strip()
            except OSError:
                return self.answer(503)
            try:
                body = verify_tlog.open_note(note, vkey)
            except SystemExit:
                return self.answer(403)
            origin, size, root_b64 = body.split("\n")[:3]
            size, root = int(size), base64.b64decode(root_b64)
            log = {"old": old, "size": size, "proof_len": len(proof)}
            if old != known["size"]:
                return self.answer(
                    409, f"{known['size']}\n".encode(), "text/x.tlog.size", **log
                )
            if size < old:
                return self.answer(400, **log)
            if old > 0 and not verify_tlog.verify_consistency(
                old, size, known["root"], root, proof
            ):
                return self.answer(422, **log)
            if old == 0 and proof:
                return self.answer(400, **log)
            known["size"], known["root"] = size, root
            cosig = "\u2014 test-witness " + base64.b64encode(b"\0" * 76).decode() + "\n"
            self.answer(200, cosig.encode(), **log)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
