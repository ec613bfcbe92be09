#!/usr/bin/env python3
"""A webhook endpoint that misbehaves, for tests/integration/test_faults.sh.

  webhook_stub.py --port-file F --log F --mode fail|hang [--ok-file F]

Listens on a free loopback port (written to --port-file once listening).
  fail  answers every POST with 500 until --ok-file exists, then with 200.
  hang  reads each request and never answers (the connection stays open
        until the client gives up).
Each request appends one line to --log: "<status> <alert_id>" (status "hang"
for requests left unanswered), flushed at once.  Standard library only.
"""
import argparse
import http.server
import json
import os
import socketserver
import sys
import threading


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--mode", choices=["fail", "hang"], required=True)
    p.add_argument("--ok-file", default="")
    a = p.parse_args()
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()
    never = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            try:
                alert_id = json.loads(body).get("alert_id", "-")
            except ValueError:
                alert_id = "-"
            if a.mode == "hang":
                with lock:
                    log.write("hang %s\n" % alert_id)
                never.wait()  # keep the connection open, answer nothing
                return
            status = 200 if a.ok_file and os.path.exists(a.ok_file) else 500
            with lock:
                log.write("%d %s\n" % (status, alert_id))
            out = b'{"ok":true}' if status == 200 else b'{"error":"internal"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = Server(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
