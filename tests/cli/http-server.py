#!/usr/bin/env python3
# http-server.py PORTFILE DOCROOT LOG: a loopback HTTP server for the HTTP source and limit tests.
#
# Binds 127.0.0.1 on a free port and writes the port to PORTFILE.  Every request is appended to
# LOG as one JSON line (method, path, whether the bearer token was right, body); the token
# itself is never logged.  Routes:
#   GET  /file/NAME       DOCROOT/NAME as application/json
#   GET  /status/CODE     an empty JSON object with that status
#   GET  /malformed       a body that is not JSON
#   GET  /huge            2 MiB of JSON
#   GET  /hang            never answers (sleeps 60 s)
#   POST /tools/invoke    the OpenClaw gateway: needs "Authorization: Bearer $EXPECTED_TOKEN";
#                         {"tool":"sessions_list"} answers DOCROOT/gateway.json as the result
#   POST /status/CODE     answers that status with an empty JSON object
#   POST /hang            never answers (sleeps 60 s)
#   POST /hook/NAME       a webhook: answers the status written in DOCROOT/NAME.status (200
#                         when there is none), so a test can break and mend it while it runs
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, docroot, logfile = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        expected = os.environ.get("EXPECTED_TOKEN", "")
        auth = self.headers.get("Authorization")
        entry = {
            "method": self.command,
            "path": self.path,
            "auth_ok": bool(expected) and auth == "Bearer " + expected,
            "has_auth": auth is not None,
            "content_type": self.headers.get("Content-Type"),
            "x_test": self.headers.get("X-Test"),
            "body": body,
        }
        with lock, open(logfile, "a") as f:
            f.write(json.dumps(entry) + "\n")
        return entry

    def send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record(None)
        if self.path.startswith("/file/"):
            name = os.path.basename(self.path[len("/file/"):])
            try:
                with open(os.path.join(docroot, name), "rb") as f:
                    self.send(200, f.read())
            except OSError:
                self.send(404, "{}")
        elif self.path.startswith("/status/"):
            self.send(int(self.path[len("/status/"):]), "{}")
        elif self.path == "/malformed":
            self.send(200, "{\"sessions\": [1, 2,")
        elif self.path == "/huge":
            self.send(200, "[" + ",".join(["1"] * (1024 * 1024)) + "]")
        elif self.path == "/hang":
            time.sleep(60)
        else:
            self.send(404, "{}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        entry = self.record(body)
        if self.path.startswith("/status/"):
            self.send(int(self.path[len("/status/"):]), "{}")
            return
        if self.path == "/hang":
            time.sleep(60)
            return
        if self.path.startswith("/hook/"):
            name = os.path.basename(self.path[len("/hook/"):])
            try:
                with open(os.path.join(docroot, name + ".status")) as f:
                    code = int(f.read().strip())
            except OSError:
                code = 200
            self.send(code, "ok", "text/plain")
            return
        if self.path != "/tools/invoke":
            self.send(404, "{}")
            return
        if not entry["auth_ok"]:
            self.send(401, "{\"ok\":false}")
            return
        try:
            req = json.loads(body)
        except ValueError:
            self.send(400, "{\"ok\":false}")
            return
        if req.get("tool") != "sessions_list":
            self.send(404, "{\"ok\":false}")
            return
        with open(os.path.join(docroot, "gateway.json")) as f:
            details = json.load(f)
        text = json.dumps(details)
        self.send(200, json.dumps({"ok": True, "result": {
            "content": [{"type": "text", "text": text}], "details": details}}))


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, portfile)
server.serve_forever()
