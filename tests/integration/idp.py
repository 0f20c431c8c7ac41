#!/usr/bin/env python3
"""An identity provider stand-in for the integration tests, over HTTPS: an OpenID Connect
discovery document and a JWK Set whose content and behaviour the test sets, counting requests.

    GET  /pool/.well-known/openid-configuration   {"issuer": ..., "jwks_uri": .../pool/jwks.json}
    GET  /pool/jwks.json                          the JWK Set, or what `mode` says:
                                                  ok | 500 | hang (answers after 20 s) | empty ({"keys": []})
                                                  | huge (the keys and 1.1 MiB of padding)
    GET  /moved/jwks.json                         302 to /pool/jwks.json
    POST /__control  {"keys": [JWK...], "mode": "ok", "issuer": "...", "max_age": N}   any subset
    GET  /__stats                                 {"discovery": N, "jwks": N, "moved": N}

Usage: idp.py PORT CERT KEY       (the issuer is https://localhost:PORT/pool)
"""
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_S = 20

state = {"keys": [], "mode": "ok", "issuer": None, "max_age": None}
stats = {"discovery": 0, "jwks": 0, "moved": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def base(self):
        return "https://localhost:%d" % self.server.server_address[1]

    def do_GET(self):
        with lock:
            snapshot = dict(state)
            if self.path == "/pool/.well-known/openid-configuration":
                stats["discovery"] += 1
            elif self.path == "/pool/jwks.json":
                stats["jwks"] += 1
            elif self.path == "/moved/jwks.json":
                stats["moved"] += 1
            counts = dict(stats)
        if self.path == "/__stats":
            return self.reply(200, counts)
        if self.path == "/pool/.well-known/openid-configuration":
            return self.reply(200, {"issuer": snapshot["issuer"] or self.base() + "/pool",
                                    "jwks_uri": self.base() + "/pool/jwks.json",
                                    "authorization_endpoint": self.base() + "/pool/authorize"})
        if self.path == "/moved/jwks.json":
            return self.reply(302, {}, [("Location", self.base() + "/pool/jwks.json")])
        if self.path != "/pool/jwks.json":
            return self.reply(404, {"error": "not found"})
        mode = snapshot["mode"]
        if mode == "500":
            return self.reply(500, {"error": "internal"})
        if mode == "hang":
            time.sleep(HANG_S)
        if mode == "empty":
            return self.reply(200, {"keys": []})
        if mode == "huge":
            return self.reply(200, {"keys": snapshot["keys"], "padding": "x" * (1100 * 1024)})
        extra = [("Cache-Control", "public, max-age=%d" % snapshot["max_age"])] if snapshot["max_age"] is not None else []
        return self.reply(200, {"keys": snapshot["keys"]}, extra)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            state.update(body)
        self.reply(200, {})


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
