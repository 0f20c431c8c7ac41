"""The sidecar as a reverse proxy (issue: foundation): routing, forwarding, errors, streaming,
shutdown. Every test runs a real backend and a real sidecar over loopback."""
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import (SIDECAR, IntegrationTest, free_port, port_open, request, wait_until, write)

POLICY = """
mode: enforce
strip_prefix: /langchain
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/public/**
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""

# Routes that need credentials need a tenant store; these tests never get that far (no Redis
# listens there), so nothing behind the credential check is exercised here: see test_identity.py.
NO_REDIS = "redis: {url: 'redis://127.0.0.1:9/0'}"
HOST_TAIL = "redis:\n  url: redis://127.0.0.1:9/0\n"

NO_STRIP_POLICY = """
routes:
  - path: /tools/public/**
    auth: none
"""


class ProxyTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.backend = self.start_backend()
        self.sidecar = self.start_sidecar({
            "langchain": {"upstream_port": self.backend.port, "policy": POLICY, "timeout_s": 1, "max_body_bytes": 1000},
            "tools": {"upstream_port": self.backend.port, "policy": NO_STRIP_POLICY},
        }, extra_host_yaml=NO_REDIS, wait_alive=True)

    def get(self, path, **kw):
        return self.sidecar.request("langchain", kw.pop("method", "GET"), path, **kw)

    def assert_json_error(self, resp, status, error):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.header("Content-Type"), "application/json")
        body = resp.json()
        self.assertEqual(body["error"], error)
        self.assertTrue(body["message"])
        self.assertEqual(body["request_id"], resp.header("X-Request-Id"))
        self.assertRegex(body["request_id"], "^[0-9a-f]{32}$")
        return body

    def test_public_route_forwards_method_path_query_and_body(self):
        body = b'{"prompt":"hello"}\x00\xff'
        resp = self.get("/langchain/public/v1/invoke?x=1&y=%2F&z=a+b", method="POST", body=body,
                        headers=[("Content-Type", "application/octet-stream"), ("X-Forwarded-For", "6.6.6.6"),
                                 ("X-Request-Id", "client-chosen")])
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("X-Backend"), "test")  # the backend's own headers come back
        seen = self.backend.log()
        self.assertEqual(len(seen), 1)
        rec = seen[0]
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/public/v1/invoke?x=1&y=%2F&z=a+b")  # strip_prefix, query intact
        self.assertEqual(rec["body"].encode("latin-1"), body)
        headers = {}
        for k, v in rec["headers"]:
            headers.setdefault(k.lower(), []).append(v)
        # the backend sees our request id (the one in the response), never the client's
        self.assertEqual(headers["x-request-id"], [resp.header("X-Request-Id")])
        self.assertRegex(resp.header("X-Request-Id"), "^[0-9a-f]{32}$")
        # X-Forwarded-For is the peer address, never what the client claimed
        self.assertEqual(headers["x-forwarded-for"], ["127.0.0.1"])
        self.assertNotIn("via", headers)

    def test_methods_pass_through(self):
        for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
            resp = self.get("/langchain/public/m", method=method)
            self.assertEqual(resp.status, 200, (method, resp))
        self.assertEqual([r["method"] for r in self.backend.log()], ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])
        # the public health route lists GET, which allows HEAD (issue 13); any other method falls
        # through to the protected subtree
        self.assertEqual(self.get("/langchain/health", method="HEAD").status, 200)
        self.assertEqual(self.get("/langchain/health", method="POST").status, 401)

    def test_no_strip_prefix_keeps_path(self):
        resp = self.sidecar.request("tools", "GET", "/tools/public/a/b?q=1")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.backend.log()[0]["path"], "/tools/public/a/b?q=1")

    def test_unknown_route_is_404_and_not_forwarded(self):
        for path in ("/", "/grafana/health", "/langchainx/health"):
            resp = self.get(path)
            self.assert_json_error(resp, 404, "not_found")
        resp = self.sidecar.request("tools", "GET", "/tools/private")
        self.assert_json_error(resp, 404, "not_found")
        self.assertEqual(self.backend.log(), [])

    def test_auth_route_is_401_and_not_forwarded(self):
        # an encoded slash is refused by default (path_unusual: reject): backends disagree on it
        self.assert_json_error(self.get("/langchain/health/..%2Fsecret"), 400, "bad_request")
        for path in ("/langchain/v1/invoke", "/langchain", "/langchain/health/%2e%2e/secret", "/langchain/public/../secret"):
            resp = self.get(path)
            body = self.assert_json_error(resp, 401, "unauthorized")
            self.assertEqual(body["reason"], "missing_credentials")
            self.assertTrue(resp.header("WWW-Authenticate").startswith("Bearer realm="), resp)
            resp = self.get(path, headers={"Authorization": "Bearer whatever", "X-Tenant-ID": "acme"})
            self.assert_json_error(resp, 401, "unauthorized")
        # the public health route takes GET only; a POST falls through to the protected subtree
        self.assert_json_error(self.get("/langchain/health", method="POST", body=b"x"), 401, "unauthorized")
        self.assertEqual(self.backend.log(), [])

    def test_health_is_public(self):
        resp = self.get("/langchain/health")
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.backend.log()[0]["path"], "/health")

    def test_body_over_limit_is_413(self):
        ok = self.get("/langchain/public/upload", method="POST", body=b"a" * 1000)
        self.assertEqual(ok.status, 200, ok)
        resp = self.get("/langchain/public/upload", method="POST", body=b"a" * 1001)
        self.assert_json_error(resp, 413, "payload_too_large")
        self.assertEqual(len(self.backend.log()), 1)

    def test_chunked_body_over_limit_is_413(self):
        with socket.create_connection(("127.0.0.1", self.sidecar.ports["langchain"]), timeout=30) as s:
            s.sendall(b"POST /langchain/public/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (2000, b"b" * 2000))
            data = read_until_close(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
        self.assertIn(b'"error":"payload_too_large"', data)
        self.assertIn(b"x-request-id: ", data.lower())
        self.assertEqual(self.backend.log(), [])

    def test_backend_down_is_502(self):
        self.backend.stop()
        wait_until(lambda: not port_open(self.backend.port), what="backend port closed")
        resp = self.get("/langchain/health")
        body = self.assert_json_error(resp, 502, "bad_gateway")
        self.assertEqual(body["reason"], "upstream_unavailable")

    def test_backend_own_502_passes_through(self):
        resp = self.get("/langchain/public/x?status=502")
        self.assertEqual(resp.status, 502)
        self.assertEqual(resp.header("X-Backend"), "test")
        self.assertEqual(resp.json()["method"], "GET")  # the backend's body, not ours
        self.assertTrue(resp.header("X-Request-Id"))

    def test_backend_stall_is_504(self):
        started = time.monotonic()
        resp = self.get("/langchain/public/slow?hold=stall504")
        elapsed = time.monotonic() - started
        self.backend.release("stall504")
        body = self.assert_json_error(resp, 504, "gateway_timeout")
        self.assertEqual(body["reason"], "upstream_timeout")
        self.assertGreaterEqual(elapsed, 0.9)  # timeout_s: 1

    def test_sse_first_event_arrives_before_backend_finishes(self):
        with socket.create_connection(("127.0.0.1", self.sidecar.ports["langchain"]), timeout=30) as s:
            s.sendall(b"GET /langchain/public/events?sse=stream1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            data = b""
            while b"data: first" not in data:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "connection closed before the first event: %r" % data)
                data += chunk
            # the backend is still holding the stream open: the first event was not buffered
            self.assertNotIn(b"data: second", data)
            self.assertIn(b"text/event-stream", data)
            self.backend.release("stream1")
            while b"data: second" not in data:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "stream ended without the second event: %r" % data)
                data += chunk

    def test_backend_keepalive_is_reused(self):
        for _ in range(3):
            self.assertEqual(self.get("/langchain/public/k").status, 200)
        ports = {dict((k.lower(), v) for k, v in r["headers"]).get("connection") for r in self.backend.log()}
        self.assertEqual(ports, {"keep-alive"})

    def test_admin_endpoints(self):
        self.assertEqual(request(self.sidecar.admin_port, "GET", "/healthz").json(), {"status": "OK"})
        # credential routes need Redis, and none listens: alive, serving public routes, not ready
        ready = request(self.sidecar.admin_port, "GET", "/ready")
        self.assertEqual(ready.status, 503, ready)
        self.assertEqual(ready.json(), {"status": "not_ready", "waiting_for": [
            "redis: worker 0", "redis: subscription, worker 0", "redis: worker 1", "redis: subscription, worker 1"]})
        self.assertEqual(self.get("/langchain/health").status, 200)
        self.assertEqual(request(self.sidecar.admin_port, "GET", "/nope").status, 404)

    def test_ready_at_once_without_credential_routes(self):
        sidecar = self.start_sidecar({"tools": {"upstream_port": self.backend.port, "policy": NO_STRIP_POLICY}},
                                     wait_alive=True)
        ready = request(sidecar.admin_port, "GET", "/ready")
        self.assertEqual((ready.status, ready.json()), (200, {"status": "ready"}))

    def test_http2_is_not_offered(self):
        resp = self.get("/langchain/health", headers={"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
                                                      "HTTP2-Settings": "AAMAAABkAAQAAP__"})
        self.assertEqual(resp.status, 200)  # served as HTTP/1.1, no 101 Switching Protocols


def read_until_close(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


class ShutdownTest(IntegrationTest):
    def test_sigterm_drains_in_flight_request(self):
        backend = self.start_backend()
        sidecar = self.start_sidecar({"langchain": {"upstream_port": backend.port, "policy": POLICY, "timeout_s": 60}},
                                     extra_host_yaml=NO_REDIS, wait_alive=True)
        port = sidecar.ports["langchain"]
        conn = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.addCleanup(conn.close)
        conn.sendall(b"GET /langchain/public/slow?hold=drain HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: backend.log(), what="the slow request to reach the backend")

        sidecar.process.signal(signal.SIGTERM)
        # stops accepting: new connections are refused while the slow request is still held
        wait_until(lambda: not port_open(port), what="listener closed")
        wait_until(lambda: request(sidecar.admin_port, "GET", "/ready").status == 503, what="/ready 503 while draining")
        self.assertTrue(sidecar.process.running())

        backend.release("drain")
        data = read_until_close(conn)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertIn(b"connection: close", data.lower())
        self.assertEqual(sidecar.process.wait(), 0)

    def test_grace_period_is_bounded(self):
        backend = self.start_backend()
        sidecar = self.start_sidecar({"langchain": {"upstream_port": backend.port, "policy": POLICY, "timeout_s": 60}},
                                     grace_s=1, extra_host_yaml=NO_REDIS, wait_alive=True)
        conn = socket.create_connection(("127.0.0.1", sidecar.ports["langchain"]), timeout=60)
        self.addCleanup(conn.close)
        self.addCleanup(backend.release, "never")
        conn.sendall(b"GET /langchain/public/slow?hold=never HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: backend.log(), what="the slow request to reach the backend")
        sidecar.process.signal(signal.SIGTERM)
        self.assertEqual(sidecar.process.wait(), 0)
        self.assertIn("grace period over", sidecar.process.output())


class CommandLineTest(IntegrationTest):
    def run_sidecar(self, *args):
        return subprocess.run([SIDECAR] + list(args), capture_output=True, text=True, timeout=60)

    def test_check_valid_and_invalid(self):
        write(os.path.join(self.tmp, "p.yaml"), POLICY)
        good = os.path.join(self.tmp, "good.yaml")
        write(good, "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:2\n    policy: p.yaml\n"
              + HOST_TAIL)
        r = self.run_sidecar("-c", good, "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        write(os.path.join(self.tmp, "bad-p.yaml"), POLICY.replace("[GET]", "[GIT]"))
        bad = os.path.join(self.tmp, "bad.yaml")
        write(bad, "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:2\n    policy: bad-p.yaml\n"
              + HOST_TAIL)
        r = self.run_sidecar("-c", bad, "--check")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad-p.yaml:6: routes[0].methods[0]: unknown method \"GIT\"", r.stderr)

    def test_invalid_config_never_listens(self):
        write(os.path.join(self.tmp, "p.yaml"), POLICY)
        port = free_port()
        bad = os.path.join(self.tmp, "bad.yaml")
        write(bad, "services:\n  - name: a\n    listen: 127.0.0.1:%d\n    upstream: http://127.0.0.1:2\n"
                   "    policy: p.yaml\n    timeout_s: forever\n" % port)
        r = self.run_sidecar("-c", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.yaml:6: services[0].timeout_s: \"forever\" is not a whole number", r.stderr)

    def test_port_in_use_stops_start(self):
        write(os.path.join(self.tmp, "p.yaml"), POLICY)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            cfg = os.path.join(self.tmp, "c.yaml")
            write(cfg, "services:\n  - name: a\n    listen: 127.0.0.1:%d\n    upstream: http://127.0.0.1:2\n"
                       "    policy: p.yaml\n%s" % (taken.getsockname()[1], HOST_TAIL))
            r = self.run_sidecar("-c", cfg)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen", r.stderr)

    def test_version_and_help(self):
        r = self.run_sidecar("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^policy-sidecar \d+\.\d+\.\d+")
        r = self.run_sidecar("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check", r.stdout)
        r = self.run_sidecar("--bogus")
        self.assertEqual(r.returncode, 2)
        r = self.run_sidecar()
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
