"""The sidecar's own HTTP/1 server (sidecar/http/http1_server.c) over real sockets: request
bodies streamed to the backend as they arrive, with backpressure (a 256 MiB upload through a
bounded RSS), chunked bodies re-encoded; the request-smuggling table refused with 400 before
anything is forwarded; Expect: 100-continue; max_body_bytes before and during a body; keep-alive
and pipelining.

The backend of most tests here is StreamBackend, a thread of this process that reads each body
as it arrives (optionally at a fixed rate) and answers only once the body has ended, so a test
can see what reached the backend while the client is still sending."""
import array
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import unittest

from harness import SIDECAR, IntegrationTest, ThreadedServer, free_port, parse_request_head, wait_until, write
from test_upstream import ASAN_NO_QUARANTINE, RSS_LIMIT_KB, rss_kb, under_asan

POLICY = """
mode: enforce
routes:
  - path: /**
    auth: none
"""
CREDENTIAL_POLICY = """
mode: enforce
routes:
  - path: /private/**
    auth: [jwt, api_key]
  - path: /**
    auth: none
"""
# Credential routes need a tenant store; none listens there, and no test here gets that far.
NO_REDIS = "redis:\n  url: redis://127.0.0.1:1/0\n"

MIB = 1 << 20
CEILING_S = 10  # for anything that should happen at once


# ------------------------------------------------------------------------------- client side

class Client:
    """A raw client connection with a read buffer: responses are read one by one (Content-Length
    or chunked bodies), interim 1xx heads included."""

    def __init__(self, port, timeout=30, rcvbuf=None):
        """rcvbuf: the socket's receive buffer, set before connecting (a small one fills at once)."""
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, what):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before %s; had %r" % (what, self.buf[:500]))
        self.buf += chunk

    def head(self):
        """The next response head: (status, headers with lower-case names, raw head)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill("a response head")
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return int(lines[0].split()[1]), headers, raw

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill("the end of a %d-byte body" % n)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill("a chunk line")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, skip_interim=False):
        """(status, headers, body) of the next response; with skip_interim, 1xx heads are passed over."""
        while True:
            status, headers, _ = self.head()
            if not (skip_interim and 100 <= status < 200):
                break
        if status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, headers, body
                body += self._exact(size)
                self._exact(2)
        return status, headers, self._exact(int(headers.get("content-length", "0")))

    def closed(self, timeout=CEILING_S):
        """True when the server closes the connection (within `timeout`) without sending more."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return self.buf == b""
                self.buf += chunk
        except ConnectionResetError:
            return self.buf == b""
        except socket.timeout:
            return False

    def response_arrived(self):
        """Whether anything has come back yet (or the connection ended), without waiting."""
        timeout = self.sock.gettimeout()
        self.sock.settimeout(0)
        try:
            chunk = self.sock.recv(65536)
            self.buf += chunk
            return True
        except (BlockingIOError, socket.timeout):
            return bool(self.buf)
        finally:
            self.sock.settimeout(timeout)


# ------------------------------------------------------------------------------- backend side

class TokenBucket:
    """At most `rate` bytes a second, in bursts of at most `burst` bytes."""

    def __init__(self, rate, burst=256 * 1024):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = 0.0, time.monotonic()

    def take(self, want):
        """How many bytes may be read now (at least some: waits for them; pacing, not syncing)."""
        floor = min(want, 16 * 1024)
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= floor:
                return int(min(want, self.tokens))
            time.sleep((floor - self.tokens) / self.rate)

    def spend(self, n):
        self.tokens -= n


class Upload:
    """One request as StreamBackend received it, updated while its body arrives."""

    def __init__(self, method, path, headers, keep):
        self.method, self.path, self.headers = method, path, headers
        self.received = 0  # body bytes, decoded
        self.sha = hashlib.sha256()
        self.data = bytearray() if keep else None
        self.complete = False  # the body ended as its framing says
        self.ended = False  # complete, or the connection ended first (then error says how)
        self.error = None

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def add(self, piece):
        self.sha.update(piece)
        if self.data is not None:
            self.data += piece
        self.received += len(piece)

    def __repr__(self):
        return "Upload(%s %s, %d bytes, complete=%s, ended=%s, error=%s, headers=%r)" % (
            self.method, self.path, self.received, self.complete, self.ended, self.error, self.headers)


class _Reader:
    def __init__(self, conn, bucket):
        self.conn, self.bucket, self.buf = conn, bucket, b""

    def fill(self):
        want = 256 * 1024
        if self.bucket is not None:
            want = self.bucket.take(want)
        chunk = self.conn.recv(want)
        if not chunk:
            raise EOFError("the connection ended")
        if self.bucket is not None:
            self.bucket.spend(len(chunk))
        self.buf += chunk

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            try:
                self.fill()
            except EOFError:
                if self.buf:
                    raise
                return None
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return raw

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("a chunk line without an end")
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def pieces(self, n):
        """The next n bytes, as they arrive."""
        while n:
            if not self.buf:
                self.fill()
            piece, self.buf = self.buf[:n], self.buf[n:]
            n -= len(piece)
            yield piece


class StreamBackend(ThreadedServer):
    """A backend in a thread of the test: reads each request body as it arrives (Content-Length,
    or chunked, decoded strictly), at most `rate` bytes a second when given, and answers 200 with
    JSON {"bytes": N, "sha256": HEX} only once the body has ended; the connection then carries
    the next request. `keep`: bodies are kept (upload.data), not only counted and hashed."""

    def __init__(self, rate=None, keep=True):
        self.rate, self.keep = rate, keep
        self.uploads = []
        super().__init__()

    def _serve(self, conn):
        reader = _Reader(conn, TokenBucket(self.rate) if self.rate else None)
        try:
            while True:
                try:
                    raw = reader.head()
                except (EOFError, OSError):
                    return
                if raw is None:
                    return
                up = Upload(*parse_request_head(raw), self.keep)
                with self.lock:
                    self.uploads.append(up)
                try:
                    self._body(reader, up)
                except (EOFError, ValueError, OSError) as e:
                    up.error = "%s: %s" % (type(e).__name__, e)
                    up.ended = True
                    return
                up.complete = up.ended = True
                body = json.dumps({"bytes": up.received, "sha256": up.sha.hexdigest()}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _body(reader, up):
        if any("chunked" in v.lower() for v in up.header("Transfer-Encoding")):
            while True:
                size_text = reader.line().split(b";", 1)[0].strip()
                size = int(size_text, 16)  # ValueError: broken framing
                if size == 0:
                    while reader.line():  # trailer lines, up to the empty one
                        pass
                    return
                for piece in reader.pieces(size):
                    up.add(piece)
                if reader.line() != b"":
                    raise ValueError("chunk data not followed by CRLF")
        lengths = up.header("Content-Length")
        for piece in reader.pieces(int(lengths[0]) if lengths else 0):
            up.add(piece)

    def seen(self):
        with self.lock:
            return list(self.uploads)

    def received(self):
        return sum(u.received for u in self.seen())


# ------------------------------------------------------------------------------- shared set-up

class ServerTest(IntegrationTest):
    policy = POLICY
    max_body_bytes = None
    timeout_s = None
    host_yaml = ""

    def start(self, backend_port, env=None):
        svc = {"upstream_port": backend_port, "policy": self.policy}
        if self.max_body_bytes is not None:
            svc["max_body_bytes"] = self.max_body_bytes
        if self.timeout_s is not None:
            svc["timeout_s"] = self.timeout_s
        self.sidecar = self.start_sidecar({"svc": svc}, extra_host_yaml=self.host_yaml, wait_alive=True, env=env)
        self.port = self.sidecar.ports["svc"]

    def start_stream_backend(self, **kw):
        backend = StreamBackend(**kw)
        self.addCleanup(backend.stop)
        return backend

    def client(self, timeout=30, rcvbuf=None):
        c = Client(self.port, timeout=timeout, rcvbuf=rcvbuf)
        self.addCleanup(c.close)
        return c

    def assert_json_error(self, status, headers, body, want_status, error):
        self.assertEqual(status, want_status, (headers, body))
        try:
            self.assertEqual(json.loads(body)["error"], error, body)
        except ValueError:
            self.fail("not a JSON error body: %r" % body[:300])
        self.assertRegex(headers.get("x-request-id", ""), "^[0-9a-f]{32}$", headers)


def chunk(data, ext=b""):
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


# ------------------------------------------------------------------------------- (a) streaming

class StreamingTest(ServerTest):
    """Bodies reach the backend as they arrive: a Content-Length body with the same
    Content-Length, a chunked one re-encoded as chunked."""

    def setUp(self):
        super().setUp()
        self.backend = self.start_stream_backend()
        self.start(self.backend.port)

    def first_upload(self, at_least):
        return wait_until(lambda: next((u for u in self.backend.seen() if u.received >= at_least), None),
                          ceiling_s=CEILING_S, what="%d body bytes at the backend while the client still sends" % at_least)

    def test_a_content_length_body_reaches_the_backend_before_it_ends(self):
        c = self.client()
        first, rest = os.urandom(5000), os.urandom(15000)
        c.send(b"POST /up/cl HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 20000\r\n\r\n"
               + first)
        up = self.first_upload(5000)
        self.assertEqual(up.received, 5000)
        self.assertFalse(up.ended, up)
        self.assertEqual(up.header("Content-Length"), ["20000"], up)
        self.assertEqual(up.header("Transfer-Encoding"), [], up)
        c.send(rest)
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["bytes"], 20000)
        self.assertTrue(up.complete, up)
        self.assertEqual(bytes(up.data), first + rest)

    def test_a_chunked_body_is_forwarded_chunked_as_it_arrives(self):
        c = self.client()
        c.send(b"POST /up/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"hello", b";ext=1"))
        up = self.first_upload(5)
        self.assertEqual(up.received, 5)
        self.assertFalse(up.ended, up)
        self.assertEqual([v.lower() for v in up.header("Transfer-Encoding")], ["chunked"], up)
        self.assertEqual(up.header("Content-Length"), [], up)
        big = os.urandom(70000)
        c.send(chunk(b" world") + chunk(big) + b"0\r\n\r\n")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertTrue(up.complete, up)
        self.assertEqual(bytes(up.data), b"hello world" + big)
        # and the connection goes on
        c.send(b"POST /up/after HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["bytes"], 2, body)
        self.assertEqual([bytes(u.data) for u in self.backend.seen()][-1], b"ok")


class TrailerTest(ServerTest):
    """A chunked body ends with its trailer section (field lines up to an empty line): what
    follows it on the connection is the next request, and nothing in it ever is one."""

    def setUp(self):
        super().setUp()
        self.backend = self.start_stream_backend()
        self.start(self.backend.port)

    def test_a_trailer_ends_the_body_and_the_connection_goes_on(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"hello")
               + b"0\r\nX-Trailer: t\r\nX-Checksum: 1\r\n\r\n")
        status, _, body = c.response()
        self.assertEqual((status, json.loads(body)["bytes"]), (200, 5), body)
        c.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual([(u.method, u.path, u.complete) for u in self.backend.seen()],
                         [("POST", "/first", True), ("GET", "/next", True)])
        self.assertEqual(bytes(self.backend.seen()[0].data), b"hello")

    def test_a_trailer_section_is_never_read_as_a_request(self):
        # "a:b /smuggled HTTP/1.1" is a valid trailer field (a gateway passes it on as one request)
        # and a valid request line to a lenient parser; the second line is not a field line at all
        for trailer in (b"a:b /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"):
            with self.subTest(trailer=trailer):
                before = len(self.backend.seen())
                c = Client(self.port, timeout=CEILING_S)
                try:
                    c.send(b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"hello")
                           + b"0\r\n" + trailer + b"GET /sentinel HTTP/1.1\r\nHost: x\r\n\r\n")
                    # requests are served in order: once the sentinel is in (or the connection
                    # ended), anything read out of the trailer would have reached the backend
                    while not any(u.path == "/sentinel" for u in self.backend.seen()[before:]):
                        try:
                            c.response()
                        except (AssertionError, ConnectionResetError):
                            break  # closed
                finally:
                    c.close()
                paths = [(u.method, u.path) for u in self.backend.seen()[before:]]
                self.assertNotIn("/smuggled", [p for _, p in paths], paths)


# ------------------------------------------------------------------------------- (b) smuggling

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

# (name, request bytes): each one a framing a gateway and the sidecar could read differently
SMUGGLING_TABLE = [
    ("content-length and transfer-encoding",
     b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("two differing content-lengths",
     b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello" + SMUGGLED),
    ("content-length +5", b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello" + SMUGGLED),
    ("content-length 5,5", b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\nhello" + SMUGGLED),
    ("content-length 0x5", b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello" + SMUGGLED),
    ("two transfer-encodings",
     b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("transfer-encoding gzip, chunked",
     b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("transfer-encoding chunked, identity",
     b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("transfer-encoding xchunked",
     b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  xchunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("transfer-encoding in HTTP/1.0",
     b"POST /s HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    ("space before the colon",
     b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("bare LF after the request line", b"POST /s HTTP/1.1\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + SMUGGLED),
    ("bare LF after a header line", b"POST /s HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\nhello" + SMUGGLED),
    ("bare LF as the final line", b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\nhello" + SMUGGLED),
    ("obs-fold continuation line",
     b"POST /s HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello" + SMUGGLED),
    ("two host headers", b"GET /s HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n" + SMUGGLED),
]


class SmugglingTest(ServerTest):
    """Every row of the table is refused with 400 on its own connection, which then closes,
    and nothing reaches the backend, the request smuggled behind it included."""

    def setUp(self):
        super().setUp()
        self.backend = self.start_backend()
        self.start(self.backend.port)

    def test_ambiguous_framings_are_refused_with_400_before_the_backend(self):
        for name, data in SMUGGLING_TABLE:
            with self.subTest(row=name):
                self.backend.reset()
                c = Client(self.port, timeout=CEILING_S)
                try:
                    c.send(data)
                    status, headers, body = c.response()
                    self.assert_json_error(status, headers, body, 400, "bad_request")
                    self.assertEqual(headers.get("connection", "").lower(), "close", headers)
                    self.assertTrue(c.closed(), "the connection stays open after the 400: %r" % c.buf[:300])
                finally:
                    c.close()
                self.assertEqual(self.backend.log(), [])
        self.assertEqual(self.sidecar.metric("policy_sidecar_request_heads_refused_total"), len(SMUGGLING_TABLE))
        # a valid request on a new connection is served
        self.backend.reset()
        c = self.client()
        c.send(b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual([(r["path"], r["body"]) for r in self.backend.log()], [("/s", "hello")])


    def test_a_head_over_64_kib_is_400_and_one_sent_in_small_pieces_is_served(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"GET /big HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"f" * (64 * 1024) + b"\r\n\r\n")
        status, headers, body = c.response()
        self.assert_json_error(status, headers, body, 400, "bad_request")
        self.assertEqual(self.backend.log(), [])
        # a 6 KB head in 97-byte writes: the reads before the last find no empty line and parse nothing
        c = self.client(timeout=CEILING_S)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = b"GET /slowly HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"f" * 6000 + b"\r\n\r\n"
        for i in range(0, len(head), 97):
            c.send(head[i:i + 97])
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual([r["path"] for r in self.backend.log()], ["/slowly"])


# ------------------------------------------------------------------------------- (c) Expect

class ExpectContinueTest(ServerTest):
    policy = CREDENTIAL_POLICY
    host_yaml = NO_REDIS

    def setUp(self):
        super().setUp()
        self.backend = self.start_backend()
        self.start(self.backend.port)

    def test_a_public_route_gets_100_continue_before_the_body(self):
        for framing, body, wire in ((b"Content-Length: 11", b"hello world", b"hello world"),
                                    (b"Transfer-Encoding: chunked", b"hello world", chunk(b"hello") + chunk(b" world")
                                     + b"0\r\n\r\n")):
            with self.subTest(framing=framing):
                self.backend.reset()
                c = self.client(timeout=CEILING_S)
                c.send(b"POST /public/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + framing + b"\r\n\r\n")
                status, _, raw = c.head()  # no body sent yet: this comes first
                self.assertEqual(status, 100, raw)
                self.assertTrue(raw.startswith(b"HTTP/1.1 100 Continue"), raw)
                c.send(wire)
                status, _, answer = c.response()
                self.assertEqual(status, 200, answer)
                self.assertEqual([r["body"].encode("latin-1") for r in self.backend.log()], [body])

    def test_no_credentials_is_401_without_100_continue(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /private/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
        status, headers, body = c.response()  # the first response: no 100 before it
        self.assert_json_error(status, headers, body, 401, "unauthorized")
        self.assertIn(b"missing_credentials", body)
        self.assertTrue(c.closed(), "the connection stays open after the 401: %r" % c.buf[:300])
        self.assertEqual(self.backend.log(), [])

    def test_an_unknown_expectation_is_417(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /public/expect HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 5\r\n\r\n")
        status, headers, body = c.response()
        self.assertEqual(status, 417, (headers, body))
        self.assertEqual(self.backend.log(), [])


# ------------------------------------------------------------------------------- slow clients

# libh2o's default HTTP/1 request timeout, which the server applies to a head and to each wait
# for more of a body.
REQUEST_TIMEOUT_S = 10


class SlowClientTest(ServerTest):
    """A head that never completes is closed; a body that stops arriving is answered 408 and the
    backend's connection closed before it saw a complete request. Both run at once: the test
    costs one request timeout."""

    def setUp(self):
        super().setUp()
        self.backend = self.start_stream_backend()
        self.start(self.backend.port)

    def test_stalled_head_is_closed_and_stalled_body_is_408(self):
        head = self.client(timeout=REQUEST_TIMEOUT_S + 20)
        head.send(b"POST /up/slow HTTP/1.1\r\nHost: x\r\nContent-Le")
        body = self.client(timeout=REQUEST_TIMEOUT_S + 20)
        body.send(b"POST /up/stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n" + b"s" * 4000)
        up = wait_until(lambda: next((u for u in self.backend.seen() if u.received >= 4000), None), ceiling_s=CEILING_S,
                        what="the first part of the stalled body at the backend")
        started = time.monotonic()
        status, headers, answer = body.response()
        self.assertGreaterEqual(time.monotonic() - started, REQUEST_TIMEOUT_S / 2, "408 long before the timeout")
        self.assert_json_error(status, headers, answer, 408, "request_timeout")
        self.assertTrue(body.closed(), "the connection stays open after the 408")
        wait_until(lambda: up.ended, ceiling_s=CEILING_S, what="the backend's connection to close")
        self.assertFalse(up.complete, up)
        self.assertEqual(up.received, 4000)
        self.assertTrue(head.closed(timeout=REQUEST_TIMEOUT_S + 20), "an incomplete head is kept open")
        self.assertEqual(len(self.backend.seen()), 1)


# ------------------------------------------------------------------------------- (d) max_body_bytes, broken and abandoned bodies

LIMIT = 100000


class BodyLimitTest(ServerTest):
    max_body_bytes = LIMIT

    def setUp(self):
        super().setUp()
        self.backend = self.start_stream_backend()
        self.start(self.backend.port)

    def test_a_content_length_over_the_limit_is_413_before_the_body(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))  # and no body at all
        status, headers, body = c.response()
        self.assert_json_error(status, headers, body, 413, "payload_too_large")
        self.assertEqual(self.backend.seen(), [])
        # exactly the limit is fine
        c = self.client()
        data = os.urandom(LIMIT)
        c.send(b"POST /fits HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % LIMIT + data)
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        (up,) = self.backend.seen()
        self.assertEqual(bytes(up.data), data)

    def test_a_chunked_body_going_over_the_limit_is_413(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent, piece = 0, b"z" * 10000
        try:
            # the backend answers only once the body has ended, which it never does: any answer
            # is the sidecar's
            while sent <= LIMIT and not c.response_arrived():
                c.send(chunk(piece))
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending: the answer is read below
        self.assertGreater(sent, LIMIT - len(piece))
        status, headers, body = c.response()
        self.assert_json_error(status, headers, body, 413, "payload_too_large")
        # what reached the backend, if anything, is no more than the limit, and never looks complete
        for up in self.backend.seen():
            wait_until(lambda: up.ended, ceiling_s=CEILING_S, what="the sidecar to abandon the backend's request")
            self.assertLessEqual(up.received, LIMIT, up)
            self.assertFalse(up.complete, up)


    def test_broken_chunked_encoding_is_400_and_the_backend_never_sees_it_whole(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /broken HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"hello"))
        up = wait_until(lambda: next(iter(self.backend.seen()), None), ceiling_s=CEILING_S, what="the first part")
        c.send(b"zz\r\nnot a chunk size\r\n")
        status, headers, body = c.response()
        self.assert_json_error(status, headers, body, 400, "bad_request")
        self.assertIn(b"body_malformed", body)
        self.assertTrue(c.closed(), "the connection stays open after the 400")
        wait_until(lambda: up.ended, ceiling_s=CEILING_S, what="the backend's connection to close")
        self.assertFalse(up.complete, up)
        self.assertEqual(bytes(up.data), b"hello")

    def test_a_client_gone_mid_body_closes_the_backends_connection(self):
        c = self.client(timeout=CEILING_S)
        c.send(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n" + b"g" * 3000)
        up = wait_until(lambda: next((u for u in self.backend.seen() if u.received >= 3000), None), ceiling_s=CEILING_S,
                        what="the first part")
        c.close()
        wait_until(lambda: up.ended, ceiling_s=CEILING_S, what="the backend's connection to close")
        self.assertFalse(up.complete, up)
        self.assertEqual(up.received, 3000)
        # and the sidecar goes on serving
        c = self.client()
        c.send(b"POST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        self.assertEqual(c.response()[0], 200)


# ------------------------------------------------------------------------------- (f) clients that stop reading

SEND_TIMEOUT_S = 2


def counting_bytes(offset, n):
    """n bytes of the stream whose every 8-byte word is its own index (offset a multiple of 8):
    a lost, repeated or reordered piece shows wherever it happens."""
    words = array.array("Q", range(offset // 8, (offset + n + 7) // 8))
    return words.tobytes()[:n]


class ResponseBackend(ThreadedServer):
    """A backend in a thread of the test: GET /bytes/N answers 200 with N bytes of
    counting_bytes (Content-Length), written as fast as the sidecar takes them; any other path a
    small "ok". Each connection's fate is kept: bytes of bodies sent, and the error that ended it."""

    def __init__(self):
        self.conns_seen = []
        super().__init__(nodelay=True)

    def _serve(self, conn):
        rec = {"sent": 0, "error": None, "ended": False}
        with self.lock:
            self.conns_seen.append(rec)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw, buf = buf.split(b"\r\n\r\n", 1)
                _, path, _ = parse_request_head(raw)
                if not path.startswith("/bytes/"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    continue
                total = int(path[len("/bytes/"):])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                             % total)
                for off in range(0, total, 256 * 1024):
                    piece = counting_bytes(off, min(256 * 1024, total - off))
                    conn.sendall(piece)
                    rec["sent"] += len(piece)
        except OSError as e:
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            rec["ended"] = True
            conn.close()

    def seen(self):
        with self.lock:
            return list(self.conns_seen)


class SendTimeoutTest(ServerTest):
    """client_send_timeout_s: a client that stops reading a response is closed once a write to it
    has made no progress for that long, and the backend's connection with it; one that reads
    slowly but steadily is never cut off, however long its response takes."""
    host_yaml = "client_send_timeout_s: %d\n" % SEND_TIMEOUT_S

    def setUp(self):
        super().setUp()
        self.backend = ResponseBackend()
        self.addCleanup(self.backend.stop)
        self.start(self.backend.port)

    def test_a_client_that_stops_reading_is_closed_and_the_backend_too(self):
        total = 64 * MIB
        c = self.client(timeout=CEILING_S, rcvbuf=64 * 1024)
        started = time.monotonic()
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % total)  # and never read
        wait_until(lambda: self.sidecar.metric("policy_sidecar_client_send_timeouts_total") == 1, ceiling_s=20,
                   what="the sidecar to time the stalled write out")
        self.assertGreaterEqual(time.monotonic() - started, SEND_TIMEOUT_S * 0.75, "closed before the timeout")
        # what the kernel buffered is still delivered, then the end of the connection
        received = 0
        try:
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
        except ConnectionResetError:
            pass
        self.assertLess(received, total, "the whole response arrived: nothing was cut")
        (rec,) = self.backend.seen()
        wait_until(lambda: rec["ended"], ceiling_s=CEILING_S, what="the backend's connection to close")
        self.assertIsNotNone(rec["error"], rec)
        self.assertLess(rec["sent"], total, rec)
        self.assertIn("a response write made no progress for %d s" % SEND_TIMEOUT_S, self.sidecar.process.output())
        # the sidecar goes on serving, on a new backend connection (the cut one was not pooled)
        c = self.client(timeout=CEILING_S)
        c.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = c.response()
        self.assertEqual((status, body), (200, b"ok"))
        self.assertEqual(len(self.backend.seen()), 2)
        self.assertEqual(self.sidecar.metric("policy_sidecar_client_send_timeouts_total"), 1)

    def test_many_stalled_clients_are_all_closed_with_few_log_lines(self):
        # one line a second per worker at most: a crowd of stalled clients cannot flood the log
        stalled = 6
        clients = [self.client(timeout=CEILING_S, rcvbuf=64 * 1024) for _ in range(stalled)]
        for c in clients:
            c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (64 * MIB))  # and never read
        wait_until(lambda: self.sidecar.metric("policy_sidecar_client_send_timeouts_total") == stalled, ceiling_s=20,
                   what="the sidecar to time every stalled write out")
        lines = self.sidecar.process.output().count("a response write made no progress")
        self.assertGreaterEqual(lines, 1)
        self.assertLessEqual(lines, 3, "about one line per closed connection: the log line is not throttled")

    def test_a_slow_steady_reader_is_not_cut_off(self):
        total = 1 << 30  # more than it will read: the pipeline stays full, the sidecar's writes wait on it
        rate, tick = MIB, 0.25  # 1 MiB/s, a read every 0.25 s
        c = self.client(timeout=CEILING_S, rcvbuf=64 * 1024)
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % total)
        status, headers, _ = c.head()
        self.assertEqual(status, 200, headers)
        got = bytearray(c.buf)
        c.buf = b""
        started = time.monotonic()
        while time.monotonic() - started < SEND_TIMEOUT_S * 2 + 0.5:
            want = int(rate * tick)
            while want > 0:
                chunk = c.sock.recv(min(want, 65536))
                self.assertTrue(chunk, "the connection closed after %d bytes" % len(got))
                got += chunk
                want -= len(chunk)
            time.sleep(tick)  # pacing: the reader's speed, not a synchronisation
        self.assertGreaterEqual(len(got), 4 * MIB)
        self.assertTrue(got == counting_bytes(0, len(got)), "the bytes read differ from the backend's")
        (rec,) = self.backend.seen()
        # the backend was ahead by more than any buffer the sidecar holds: its writes waited on the reader
        self.assertGreater(rec["sent"], len(got) + 256 * 1024, rec)
        self.assertFalse(rec["ended"], rec)
        self.assertEqual(self.sidecar.metric("policy_sidecar_client_send_timeouts_total"), 0)


class SendTimeoutConfigTest(IntegrationTest):
    """client_send_timeout_s is a whole number of seconds from 1 to 3600: anything else stops the
    start (and --check) with the file, line and key."""

    def test_zero_and_non_numbers_are_refused_at_start_and_by_check(self):
        write(os.path.join(self.tmp, "p.yaml"), POLICY)
        port = free_port()
        for value, reason in (("0", "0 is out of range [1, 3600]"), ("abc", '"abc" is not a whole number')):
            path = os.path.join(self.tmp, "bad.yaml")
            write(path, "admin_listen: 127.0.0.1:%d\nclient_send_timeout_s: %s\nservices:\n  - name: a\n"
                        "    listen: 127.0.0.1:%d\n    upstream: http://127.0.0.1:2\n    policy: p.yaml\n"
                  % (free_port(), value, port))
            for extra in ([], ["--check"]):
                p = subprocess.run([SIDECAR, "-c", path] + extra, capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, (value, extra, p))
                self.assertIn("bad.yaml:2: client_send_timeout_s: " + reason, p.stderr, (value, extra))


# ------------------------------------------------------------------------------- (e) big uploads

UPLOAD_RATE = 16 * MIB  # bytes a second the backend reads
LAG_LIMIT = 128 * MIB  # client ahead of the backend by at most this (kernel buffers included)


def pattern(total, seed):
    """Deterministic pseudo-random bytes, one MiB at a time (each a different rotation of one
    random MiB, so that a lost, repeated or reordered MiB changes the hash)."""
    block = random.Random(seed).randbytes(MIB)
    for i, off in enumerate(range(0, total, MIB)):
        r = (i * 250189) % MIB
        yield (block[r:] + block[:r])[:total - off]


class BigUploadTest(ServerTest):
    """A backend that reads at 16 MiB/s, a client that sends as fast as it can: the sidecar's
    RSS stays bounded, the client stays within kernel buffers of the backend, every byte arrives."""
    max_body_bytes = 256 * MIB
    timeout_s = 60

    def upload(self, total, chunked):
        backend = self.start_stream_backend(rate=UPLOAD_RATE, keep=False)
        self.start(backend.port, env={"ASAN_OPTIONS": ASAN_NO_QUARANTINE})
        pid = self.sidecar.process.pid
        start_kb = rss_kb(pid)
        limit_kb = RSS_LIMIT_KB if not under_asan(pid) else start_kb + RSS_LIMIT_KB // 2
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total
        state = {"sent": 0}
        rng = random.Random(7)

        def client():
            c = None
            try:
                c = Client(self.port, timeout=60)
                c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n" + framing
                       + b"\r\n\r\n")
                sha = hashlib.sha256()
                for seg in pattern(total, seed=total):
                    sha.update(seg)
                    if chunked:  # three chunks of varied sizes a MiB, never an empty one
                        cuts = sorted(rng.sample(range(1, len(seg)), 2))
                        seg = b"".join(chunk(seg[a:b]) for a, b in zip([0] + cuts, cuts + [len(seg)]))
                    c.send(seg)
                    state["sent"] += len(seg)
                if chunked:
                    c.send(b"0\r\n\r\n")
                state["sha"] = sha.hexdigest()
                state["response"] = c.response()
            except Exception as e:  # noqa: BLE001 - reported by the test
                state["error"] = e
            finally:
                if c is not None:
                    c.close()

        started = time.monotonic()
        t = threading.Thread(target=client, daemon=True)
        t.start()
        peak_kb, max_lag = start_kb, 0
        deadline = started + total / UPLOAD_RATE * 2 + 30
        while t.is_alive():
            self.assertLess(time.monotonic(), deadline, "the upload did not end in time; sent %d" % state["sent"])
            peak_kb = max(peak_kb, rss_kb(pid))
            max_lag = max(max_lag, state["sent"] - backend.received())
            time.sleep(0.05)  # the sampling period, not a synchronisation
        t.join()
        elapsed = time.monotonic() - started
        sys.stderr.write("%s upload of %d MiB: %.1f s, sidecar RSS %d kB at start, %d kB at most (limit %d kB); "
                         "client at most %.1f MiB ahead of the backend\n"
                         % ("chunked" if chunked else "Content-Length", total // MIB, elapsed, start_kb, peak_kb,
                            limit_kb, max_lag / MIB))
        self.assertNotIn("error", state, state.get("error"))
        status, _, body = state["response"]
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"bytes": total, "sha256": state["sha"]})
        (up,) = backend.seen()
        if chunked:
            self.assertEqual([v.lower() for v in up.header("Transfer-Encoding")], ["chunked"], up)
        else:
            self.assertEqual(up.header("Content-Length"), [str(total)], up)
        self.assertLess(peak_kb, limit_kb, "sidecar RSS %d kB (start %d kB)" % (peak_kb, start_kb))
        self.assertLess(max_lag, LAG_LIMIT, "the client got %.0f MiB ahead of the backend" % (max_lag / MIB))
        # at 16 MiB/s it cannot have been faster than the backend reads
        self.assertGreater(elapsed, total / UPLOAD_RATE * 0.9)

    def test_a_256_mib_upload_in_bounded_memory(self):
        self.upload(256 * MIB, chunked=False)

    def test_a_64_mib_chunked_upload_in_bounded_memory(self):
        self.upload(64 * MIB, chunked=True)


# ------------------------------------------------------------------------------- (f) keep-alive

class KeepAliveTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.backend = self.start_backend()
        self.start(self.backend.port)

    def test_pipelined_posts_with_bodies(self):
        a, b, d = b"a" * 3000 + b"\r\n\r\nPOST /x HTTP/1.1\r\n\r\n", b"b" * 70000, b"d" * 10
        c = self.client()
        c.send(b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(a), a)
               + b"POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b[:1]) + chunk(b[1:])
               + b"0\r\n\r\n"
               + b"POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(d), d))
        for _ in range(3):
            status, _, body = c.response()
            self.assertEqual(status, 200, body)
        self.assertEqual([(r["path"], r["body"].encode("latin-1")) for r in self.backend.log()],
                         [("/one", a), ("/two", b), ("/three", d)])

    def test_a_get_after_a_post_on_one_connection(self):
        c = self.client()
        c.send(b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        c.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = c.response()
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["method"], "GET")
        self.assertEqual([(r["method"], r["path"], r["body"]) for r in self.backend.log()],
                         [("POST", "/first", "hello"), ("GET", "/second", "")])


if __name__ == "__main__":
    unittest.main()
