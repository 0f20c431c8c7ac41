"""The sidecar's own upstream client (issue 14, sidecar/http/upstream.c): backpressure towards a
slow client, keep-alive connections a backend closes at random, the retry rule (idempotent
requests only, unless nothing was sent), many concurrent event streams, and every response
framing. The backend here is a raw socket server in the test process, so each test decides
byte by byte what the sidecar receives."""
import http.client
import os
import random
import selectors
import socket
import sys
import threading
import time

from harness import IntegrationTest, ThreadedServer, parse_request_head, read_response, wait_until

POLICY = """
mode: enforce
routes:
  - path: /**
    auth: none
"""
NO_REDIS = ""
ASAN_NO_QUARANTINE = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                            "quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]))
RSS_LIMIT_KB = 64 * 1024
SLOW_READ_S = float(os.environ.get("SLOW_READ_S", "15"))
SSE_STREAMS = 1000


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RawBackend(ThreadedServer):
    """Accepts connections, reads each request (head and Content-Length body) and hands it to
    `handler(conn, request, nth)`, which writes whatever it likes and returns True to keep the
    connection for another request. `nth` counts requests across all connections, and
    request.on_conn those the same connection carried before."""

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        self.closing = False
        super().__init__(backlog=2048, nodelay=True)

    def _read_request(self, conn, data):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        method, path, headers = parse_request_head(head)
        length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            rest += chunk
        return Request(method, path, headers, rest[:length]), rest[length:]

    def _serve(self, conn):
        data = b""
        served = 0
        try:
            while not self.closing:
                req, data = self._read_request(conn, data)
                if req is None:
                    break
                req.on_conn, served = served, served + 1
                with self.lock:
                    self.requests.append(req)
                    nth = len(self.requests)
                if not self.handler(conn, req, nth):
                    break
        except OSError:
            pass
        finally:
            conn.close()

    def seen(self, method=None):
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def stop(self):
        self.closing = True
        super().stop()


def answer(conn, status, body=b"", headers=()):
    head = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers)
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        head += "Content-Length: %d\r\n" % len(body)
    conn.sendall(head.encode() + b"\r\n" + body)


class UpstreamTest(IntegrationTest):
    def start(self, handler, threads=2, env=None, **svc):
        self.backend = RawBackend(handler)
        self.addCleanup(self.backend.stop)
        self.sidecar = self.start_sidecar({"svc": dict(upstream_port=self.backend.port, policy=POLICY, **svc)},
                                          threads=threads, extra_host_yaml=NO_REDIS, wait_alive=True, env=env)
        self.port = self.sidecar.ports["svc"]

    def get(self, path, method="GET", **kw):
        return self.sidecar.request("svc", method, path, **kw)

    # ---------------------------------------------------------------------------- backpressure

    def test_slow_client_keeps_memory_bounded(self):
        total = 1 << 30
        # byte n of the body is n % 251: a byte lost, repeated or reordered shows
        period = bytes(range(251))
        block = period * 1024
        expected = period * (2 + 64 * 1024 // 251)

        def flood(conn, req, nth):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % total)
            sent = 0
            while sent < total:  # as fast as the sidecar takes it; ends when it closes
                conn.sendall(block)
                sent += len(block)
            return False

        self.start(flood, env={"ASAN_OPTIONS": ASAN_NO_QUARANTINE})
        pid = self.sidecar.process.pid
        start_kb = rss_kb(pid)
        limit_kb = RSS_LIMIT_KB if not under_asan(pid) else start_kb + RSS_LIMIT_KB // 2
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            received, peak_kb, started = 0, 0, time.monotonic()
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head[:100])
            body = head.split(b"\r\n\r\n", 1)[1]
            self.assertEqual(body, expected[:len(body)])
            received = len(body)
            # about 1 MiB/s: 64 KiB every 1/16 s
            while time.monotonic() - started < SLOW_READ_S:
                tick = time.monotonic()
                chunk = s.recv(64 * 1024)
                self.assertTrue(chunk, "connection closed after %d bytes" % received)
                at = received % 251
                self.assertEqual(chunk, expected[at:at + len(chunk)], "bytes lost or changed after %d" % received)
                received += len(chunk)
                peak_kb = max(peak_kb, rss_kb(pid))
                time.sleep(max(0.0, 1 / 16 - (time.monotonic() - tick)))
        self.assertGreater(received, SLOW_READ_S * 512 * 1024)
        self.assertLess(received, SLOW_READ_S * 4 * 1024 * 1024)
        sys.stderr.write("slow client: %d bytes in %.0f s, RSS %d kB at start, %d kB at most\n"
                         % (received, SLOW_READ_S, start_kb, peak_kb))
        self.assertLess(peak_kb, limit_kb, "RSS %d kB (start %d kB) after %d bytes" % (peak_kb, start_kb, received))
        # the aborted exchange left the sidecar serving
        wait_until(lambda: self.backend.seen() and True, what="request logged")
        self.backend.handler = lambda conn, req, nth: answer(conn, "200 OK", b"ok") or True
        self.assertEqual(self.get("/after").status, 200)

    # ---------------------------------------------------------------------------- keep-alive and retries

    def test_backend_closing_keepalive_connections_at_random(self):
        rng = random.Random(14)
        rng_lock = threading.Lock()

        def flaky(conn, req, nth):
            with rng_lock:
                drop, close = rng.random() < 0.3, rng.random() < 0.15
            if drop and req.on_conn > 0:  # its idle timeout fired as the request came: never answered
                return False
            answer(conn, "200 OK", b"ok:" + req.path.encode())
            return not close  # closed without saying so: noticed while idle, or when reused

        self.start(flaky)
        errors, done = [], []

        def client(i):
            conn = None
            for j in range(60):
                path = "/k/%d/%d" % (i, j)
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status != 200 or body != b"ok:" + path.encode():
                        errors.append((path, resp.status, body[:200]))
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    errors.append((path, repr(e)))
                    conn.close()
                    conn = None
            if conn is not None:
                conn.close()
            done.append(i)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(len(done), 8)
        self.assertEqual(errors, [])
        # requests the backend saw twice: sent on a connection it had closed, and retried
        retried = len(self.backend.seen()) - 8 * 60
        self.assertGreater(retried, 0)

    def test_post_sent_on_a_connection_then_closed_is_502_once(self):
        def handler(conn, req, nth):
            if req.method == "POST":
                return False  # received, never answered
            answer(conn, "200 OK", b"ok")
            return True

        self.start(handler, threads=1)
        self.assertEqual(self.get("/warm").status, 200)  # leaves a pooled connection
        resp = self.get("/submit", method="POST", body=b"{\"n\":1}")
        self.assertEqual(resp.status, 502, resp)
        self.assertEqual(resp.json()["error"], "bad_gateway")
        self.assertEqual(resp.json()["reason"], "upstream_unavailable")
        posts = self.backend.seen("POST")
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0].body, b"{\"n\":1}")

    def test_get_closed_on_a_reused_connection_is_retried_once(self):
        def handler(conn, req, nth):
            if req.path == "/once" and len([r for r in self.backend.seen() if r.path == "/once"]) == 1:
                return False  # the first copy: closed without an answer
            if req.path == "/never":
                return False
            answer(conn, "200 OK", b"ok")
            return True

        self.start(handler, threads=1)
        self.assertEqual(self.get("/warm").status, 200)
        self.assertEqual(self.get("/once").status, 200)
        self.assertEqual(len([r for r in self.backend.seen() if r.path == "/once"]), 2)
        self.assertEqual(self.get("/warm").status, 200)
        resp = self.get("/never")
        self.assertEqual(resp.status, 502, resp)  # retried once, not forever
        self.assertEqual(len([r for r in self.backend.seen() if r.path == "/never"]), 2)

    def test_idle_connections_are_reused_and_bounded(self):
        ports = set()

        def handler(conn, req, nth):
            ports.add(conn.getpeername()[1])
            answer(conn, "200 OK", b"ok")
            return True

        self.start(handler, threads=1, upstream_max_idle=1)
        for _ in range(5):
            self.assertEqual(self.get("/k").status, 200)
        self.assertEqual(len(ports), 1)  # one connection carried all five
        for r in self.backend.seen():
            self.assertEqual(r.header("Connection"), ["keep-alive"])

    # ---------------------------------------------------------------------------- event streams

    def test_concurrent_event_streams(self):
        release = threading.Event()

        def sse(conn, req, nth):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"d\r\ndata: first\n\n\r\n")
            release.wait(60)
            conn.sendall(b"e\r\ndata: second\n\n\r\n0\r\n\r\n")
            return True

        self.start(sse, upstream_max_idle=16)
        sel = selectors.DefaultSelector()
        socks = []
        try:
            for i in range(SSE_STREAMS):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                s.sendall(b"GET /events/%d HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n" % i)
                s.setblocking(False)
                socks.append(s)
                sel.register(s, selectors.EVENT_READ, [b""])

            def read_until(marker, what):
                pending = {s for s in socks if marker not in sel.get_key(s).data[0]}
                deadline = time.monotonic() + 60
                while pending:
                    self.assertLess(time.monotonic(), deadline, "%d streams still without %s" % (len(pending), what))
                    for key, _ in sel.select(timeout=1):
                        chunk = key.fileobj.recv(65536)
                        self.assertTrue(chunk, "a stream closed before %s" % what)
                        key.data[0] += chunk
                        if marker in key.data[0]:
                            pending.discard(key.fileobj)

            read_until(b"data: first", "its first event")
            for s in socks:
                self.assertNotIn(b"data: second", sel.get_key(s).data[0])
            release.set()
            read_until(b"0\r\n\r\n", "the end of the stream")
            for s in socks:
                data = sel.get_key(s).data[0]
                self.assertIn(b"text/event-stream", data)
                self.assertIn(b"data: second", data)
        finally:
            release.set()
            for s in socks:
                s.close()

    # ---------------------------------------------------------------------------- framing

    def test_framings_arrive_intact(self):
        def handler(conn, req, nth):
            if req.path == "/chunked":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n"
                             b"0\r\nX-Trailer: 1\r\n\r\n")
            elif req.path == "/close":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
                return False
            elif req.path == "/204":
                conn.sendall(b"HTTP/1.1 204 No Content\r\nX-Backend: raw\r\n\r\n")
            elif req.path == "/304":
                conn.sendall(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n")
            elif req.path == "/continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            elif req.path == "/hop":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\n"
                             b"Proxy-Foo: 1\r\nServer: raw/1\r\nContent-Length: 2\r\n\r\nok")
            elif req.path == "/both":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
                return False
            elif req.path == "/redirect":
                answer(conn, "302 Found", b"", [("Location", "http://127.0.0.1:%d/next?a=1" % self.backend.port)])
            elif req.path == "/elsewhere":
                answer(conn, "302 Found", b"", [("Location", "https://example.com/x")])
            elif req.path == "/lengths":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!")
                return False
            elif req.path == "/badchunk":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n")
                return False
            else:
                answer(conn, "200 OK", b"hello world", [("Content-Type", "text/plain")])
            return True

        self.start(handler)
        self.assertEqual(self.get("/chunked").body, b"hello world")
        self.assertEqual(self.get("/close").body, b"until the end")
        resp = self.get("/204")
        self.assertEqual((resp.status, resp.body, resp.header("X-Backend")), (204, b"", "raw"))
        resp = self.get("/304")
        self.assertEqual((resp.status, resp.body, resp.header("ETag")), (304, b"", '"v1"'))
        self.assertEqual(self.get("/continue").body, b"ok")
        resp = self.get("/hop")
        self.assertEqual((resp.status, resp.body, resp.header("Server")), (200, b"ok", "raw/1"))
        for name in ("X-Private", "Keep-Alive", "Proxy-Foo"):
            self.assertIsNone(resp.header(name), name)
        self.assertEqual(self.get("/redirect").header("Location"), "/next?a=1")  # not the backend's address
        self.assertEqual(self.get("/elsewhere").header("Location"), "https://example.com/x")
        # HEAD: the length a GET would have, no body; the connection goes on
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"HEAD /len HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /len HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(30)
            data = b""
            while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"hello world"):
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
            first, second, third = data.split(b"HTTP/1.1 ")[1:]
            self.assertIn(b"content-length: 11\r\n", first.lower())
            self.assertTrue(first.endswith(b"\r\n\r\n"), first)
            self.assertTrue(second.startswith(b"204 ") and second.endswith(b"\r\n\r\n"), second)
            self.assertTrue(third.endswith(b"\r\n\r\nhello world"), third)
        # ambiguous framing: refused, in the contract
        for path in ("/both", "/lengths"):
            resp = self.get(path)
            self.assertEqual(resp.status, 502, (path, resp))
            self.assertEqual(resp.json()["error"], "bad_gateway")
        # a broken chunk after the head went out: the client's connection closes without the end
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"GET /badchunk HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(30)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
            self.assertNotIn(b"\r\n0\r\n\r\n", data)

    def test_hop_by_hop_request_headers_are_not_forwarded(self):
        self.start(lambda conn, req, nth: answer(conn, "200 OK", b"ok") or True)
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nTE: trailers\r\n"
                      b"Keep-Alive: 300\r\nProxy-Authorization: Basic eA==\r\nUpgrade: websocket\r\nX-Kept: 1\r\n\r\n")
            status, _, body = read_response(s)
        self.assertEqual((status, body), (200, b"ok"))
        (req,) = self.backend.seen()
        names = {k.lower() for k, _ in req.headers}
        for gone in ("x-secret", "te", "keep-alive", "proxy-authorization", "upgrade"):
            self.assertNotIn(gone, names)
        self.assertEqual(req.header("X-Kept"), ["1"])
        self.assertEqual(req.header("Connection"), ["keep-alive"])
        self.assertEqual(req.header("Host"), ["127.0.0.1:%d" % self.backend.port])

    def test_response_head_after_timeout_is_504_and_stalled_body_aborts(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def handler(conn, req, nth):
            if req.path == "/stall-head":
                release.wait(30)
                return False
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!")
            release.wait(30)
            return False

        self.start(handler, timeout_s=1)
        started = time.monotonic()
        resp = self.get("/stall-head")
        self.assertEqual(resp.status, 504, resp)
        self.assertEqual(resp.json()["reason"], "upstream_timeout")
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"GET /stall-body HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(30)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertTrue(data.endswith(b"half!"), data)  # 5 of 10 bytes, then the connection closed


if __name__ == "__main__":
    import unittest
    unittest.main()
