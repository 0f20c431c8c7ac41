#!/usr/bin/env python3
"""A backend for the integration tests: it echoes what it receives and can be told to hold a
response open until the test releases it, so that the tests never depend on timing.

    any request         200, JSON of method, path, headers and body (a chunked body decoded; a
                        request whose body ends early is not answered nor logged)
    ?status=NNN         answer with that status
    ?hold=NAME          wait until /__release?name=NAME (at most 60 s), then answer
    ?sse=NAME           text/event-stream: one event now, the next after /__release?name=NAME
    /__log              JSON list of every request received (except /__ ones)
    /__reset            forget them
    /__release?name=N   release the holds named N

Usage: backend.py PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOLD_CEILING_S = 60

log = []
log_lock = threading.Lock()
releases = {}
releases_lock = threading.Lock()


def release_event(name):
    with releases_lock:
        return releases.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server writes headers and body in separate sends: without this, keep-alive
    # requests stall ~40 ms on delayed ACKs
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, content_type="application/json", extra=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        """The request body, framed by Content-Length or `Transfer-Encoding: chunked` (decoded,
        trailers read and dropped); None when the connection ends before the body does or the
        chunked framing is broken."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\r\n"):
                    return None
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    break
                data = self.rfile.read(size)
                if len(data) != size or self.rfile.read(2) != b"\r\n":
                    return None
                parts.append(data)
            while True:  # trailer lines, up to the empty one
                line = self.rfile.readline(65537)
                if not line.endswith(b"\r\n"):
                    return None
                if line == b"\r\n":
                    return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    def control(self, url, query):
        if url.path == "/__log":
            with log_lock:
                self.reply(200, list(log))
        elif url.path == "/__reset":
            with log_lock:
                log.clear()
            self.reply(200, {"ok": True})
        elif url.path == "/__release":
            release_event(query["name"][0]).set()
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "unknown control path"})

    def sse(self, name):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        chunk(b"data: first\n\n")
        release_event(name).wait(HOLD_CEILING_S)
        chunk(b"data: second\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self.read_body()
        if body is None:  # cut short: nothing to answer, nothing to log
            self.close_connection = True
            return
        if url.path.startswith("/__"):
            return self.control(url, query)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
        }
        with log_lock:
            log.append(record)
        if "sse" in query:
            return self.sse(query["sse"][0])
        if "hold" in query:
            release_event(query["hold"][0]).wait(HOLD_CEILING_S)
        status = int(query.get("status", ["200"])[0])
        self.reply(status, record, extra=[("X-Backend", "test")])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_PROPFIND = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
