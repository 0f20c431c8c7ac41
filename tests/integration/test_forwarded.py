"""The gateway's headers (issue 13, item 3): X-Forwarded-For and X-Forwarded-Proto are kept
(the peer appended to the first) only from a trusted proxy, by address (trusted_proxies.cidrs)
or by the client certificate its connection verified (trusted_proxies.client_cert); from anyone
else they are replaced. The access log records the client address, the peer and the gateway's
request ids, escaped and bounded, whatever was sent."""
import json
import os
import signal
import socket
import ssl

from harness import IntegrationTest, read_response, wait_until
from test_tls import make_certs

POLICY = """
routes:
  - path: /public/**
    auth: none
  - path: /**
    auth: [api_key]
"""
# Requests to /private are refused before the tenant store is asked: no Redis listens there.
NO_REDIS = "redis: {url: 'redis://127.0.0.1:9/0'}"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
GATEWAY_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


class ForwardedBase(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.backend = self.start_backend()
        self.log_path = os.path.join(self.tmp, "access.log")

    def start(self, trusted_yaml, services=None):
        host = "\n".join([NO_REDIS, "access_log: %s" % self.log_path, trusted_yaml])
        services = services or {"svc": {}}
        return self.start_sidecar({name: dict(upstream_port=self.backend.port, policy=POLICY, **svc)
                                   for name, svc in services.items()}, extra_host_yaml=host, wait_alive=True)

    def backend_headers(self, index=-1):
        headers = {}
        for k, v in self.backend.log()[index]["headers"]:
            headers.setdefault(k.lower(), []).append(v)
        return headers

    def access_lines(self, n):
        """The first n lines of the access log, each parsed as one JSON object."""
        def read():
            if not os.path.exists(self.log_path):
                return None
            with open(self.log_path, "rb") as f:
                lines = [l for l in f.read().split(b"\n") if l]
            return lines if len(lines) >= n else None
        return [json.loads(l.decode("utf-8")) for l in wait_until(read, ceiling_s=10, what="%d access-log lines" % n)]

    def gateway_headers(self, xff="1.2.3.4", proto="https", trace=TRACE, request_id=GATEWAY_ID):
        return [("X-Forwarded-For", xff), ("X-Forwarded-Proto", proto), ("X-Amzn-Trace-Id", trace),
                ("X-Amzn-RequestId", request_id)]


class TrustedPeerTest(ForwardedBase):
    """127.0.0.1 is the gateway here."""

    def setUp(self):
        super().setUp()
        self.sidecar = self.start("trusted_proxies:\n  cidrs: [10.0.0.0/8, 127.0.0.1/32]\n"
                                  "request_id_header: X-Amzn-RequestId")

    def test_forwarding_headers_are_kept_and_logged(self):
        resp = self.sidecar.request("svc", "GET", "/public/a", headers=self.gateway_headers())
        self.assertEqual(resp.status, 200, resp)
        h = self.backend_headers()
        self.assertEqual(h["x-forwarded-for"], ["1.2.3.4, 127.0.0.1"])  # the peer appended
        self.assertEqual(h["x-forwarded-proto"], ["https"])              # kept, though the listener is http
        self.assertEqual(h["x-amzn-trace-id"], [TRACE])
        line = self.access_lines(1)[0]
        self.assertEqual(line["remote_addr"], "127.0.0.1")
        self.assertEqual(line["client_addr"], "1.2.3.4")
        self.assertEqual(line["trace_id"], TRACE)
        self.assertEqual(line["gateway_request_id"], GATEWAY_ID)
        self.assertEqual(line["request_id"], resp.header("X-Request-Id"))

    def test_client_is_the_rightmost_untrusted_address(self):
        # a client sent "6.6.6.6"; the gateway appended the caller (1.2.3.4), a trusted hop its own
        headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "1.2.3.4, 10.0.0.9")]
        self.assertEqual(self.sidecar.request("svc", "GET", "/public/a", headers=headers).status, 200)
        self.assertEqual(self.backend_headers()["x-forwarded-for"], ["6.6.6.6, 1.2.3.4, 10.0.0.9, 127.0.0.1"])
        self.assertEqual(self.backend_headers()["x-forwarded-proto"], ["http"])  # none sent: the listener's
        line = self.access_lines(1)[0]
        self.assertEqual(line["client_addr"], "1.2.3.4")
        self.assertIsNone(line["trace_id"])
        self.assertIsNone(line["gateway_request_id"])

    def test_refused_requests_are_logged_with_the_client(self):
        resp = self.sidecar.request("svc", "GET", "/private", headers=self.gateway_headers())
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(self.backend.log(), [])
        line = self.access_lines(1)[0]
        self.assertEqual((line["reason"], line["client_addr"], line["remote_addr"]), ("missing_credentials", "1.2.3.4", "127.0.0.1"))
        self.assertEqual((line["trace_id"], line["gateway_request_id"]), (TRACE, GATEWAY_ID))

    def test_forged_trace_id_cannot_break_the_line(self):
        forged = 'Root=1-x","status":200,"decision":"allow\\\t\xff\xfe' + "A" * 600
        resp = self.sidecar.request("svc", "GET", "/public/a", headers=self.gateway_headers(trace=forged, request_id='"}\\'))
        self.assertEqual(resp.status, 200, resp)
        # control characters never get past h2o's parser (400, nothing forwarded, nothing to log)
        with socket.create_connection(("127.0.0.1", self.sidecar.ports["svc"]), timeout=30) as s:
            s.sendall(b"GET /public/b HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: Root=\x01\"}\r\nConnection: close\r\n\r\n")
            answer = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:200])
        self.assertEqual(self.sidecar.request("svc", "GET", "/public/c").status, 200)
        lines = self.access_lines(2)  # each line parses as one JSON object
        # by path, not by position: two workers' lines reach the log in the order they are written
        by_path = {line["path"]: line for line in lines}
        self.assertEqual(sorted(by_path), ["/public/a", "/public/c"])
        first, last = by_path["/public/a"], by_path["/public/c"]
        self.assertEqual((first["status"], first["decision"], first["path"]), (200, "public", "/public/a"))
        self.assertTrue(first["trace_id"].startswith('Root=1-x","status":200,"decision":"allow\\\t\ufffd\ufffdAAA'))
        self.assertTrue(first["trace_id"].endswith("...[cut]"))
        self.assertLessEqual(len(first["trace_id"].encode()), 256)
        self.assertEqual(first["gateway_request_id"], '"}\\')
        self.assertEqual(last["path"], "/public/c")
        self.assertEqual(len(self.backend.log()), 2)


class UntrustedPeerTest(ForwardedBase):
    def setUp(self):
        super().setUp()
        self.sidecar = self.start("trusted_proxies:\n  cidrs: [10.0.0.0/8]\nrequest_id_header: x-amzn-requestid")

    def test_forwarding_headers_are_replaced(self):
        headers = self.gateway_headers() + [("X_Forwarded_For", "7.7.7.7"), ("x-forwarded-proto", "https")]
        self.assertEqual(self.sidecar.request("svc", "GET", "/public/a", headers=headers).status, 200)
        h = self.backend_headers()
        self.assertEqual(h["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(h["x-forwarded-proto"], ["http"])  # the listener's scheme
        self.assertNotIn("x_forwarded_for", h)
        line = self.access_lines(1)[0]
        self.assertEqual((line["remote_addr"], line["client_addr"]), ("127.0.0.1", "127.0.0.1"))
        self.assertIsNone(line["trace_id"])  # anyone can send these: only a trusted proxy's are logged
        self.assertIsNone(line["gateway_request_id"])

    def test_reload_changes_whom_to_trust(self):
        self.assertEqual(self.sidecar.request("svc", "GET", "/public/a", headers=self.gateway_headers()).status, 200)
        self.assertEqual(self.backend_headers()["x-forwarded-for"], ["127.0.0.1"])
        with open(self.sidecar.config_path) as f:
            text = f.read()
        with open(self.sidecar.config_path, "w") as f:
            f.write(text.replace("[10.0.0.0/8]", "[10.0.0.0/8, '::ffff:127.0.0.0/104']"))  # IPv4-mapped: 127/8
        before = self.sidecar.metric('policy_sidecar_config_reloads_total{result="success"}')
        self.sidecar.process.signal(signal.SIGHUP)
        wait_until(lambda: self.sidecar.metric('policy_sidecar_config_reloads_total{result="success"}') > before,
                   what="the reload")
        self.assertEqual(self.sidecar.request("svc", "GET", "/public/b", headers=self.gateway_headers()).status, 200)
        self.assertEqual(self.backend_headers()["x-forwarded-for"], ["1.2.3.4, 127.0.0.1"])
        self.assertEqual(self.access_lines(2)[1]["client_addr"], "1.2.3.4")


class ClientCertificateTest(ForwardedBase):
    """trusted_proxies.client_cert: connections that presented the gateway's certificate."""

    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        make_certs(self.certs)

    def cert(self, name):
        return os.path.join(self.certs, name)

    def tls_yaml(self, client_ca=True):
        text = "    tls:\n      cert_file: %s\n      key_file: %s\n" % (self.cert("server.crt"), self.cert("server.key"))
        return text + ("      client_ca_file: %s\n" % self.cert("ca.crt") if client_ca else "")

    def connect(self, sidecar, service, client_cert=None):
        ctx = ssl.create_default_context(cafile=self.cert("ca.crt"))
        if client_cert is not None:
            ctx.load_cert_chain(self.cert(client_cert + ".crt"), self.cert(client_cert + ".key"))
        raw = socket.create_connection(("127.0.0.1", sidecar.ports[service]), timeout=30)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        return s

    @staticmethod
    def get(s, path, xff="1.2.3.4", proto="http"):
        """One keep-alive request; returns the status."""
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n\r\n"
                   % (path, xff, proto)).encode())
        return read_response(s)[0]

    def test_verified_certificate_is_trusted(self):
        sidecar = self.start("trusted_proxies: {client_cert: true}",
                             {"gw": {"extra_yaml": self.tls_yaml()}, "open": {"extra_yaml": self.tls_yaml(client_ca=False)}})
        self.assertEqual(self.get(self.connect(sidecar, "gw", "client"), "/public/a"), 200)
        h = self.backend_headers()
        self.assertEqual(h["x-forwarded-for"], ["1.2.3.4, 127.0.0.1"])
        self.assertEqual(h["x-forwarded-proto"], ["http"])  # what the gateway said, not the listener's https
        # the same host and headers on a listener that asks for no certificate: replaced
        self.assertEqual(self.get(self.connect(sidecar, "open"), "/public/b"), 200)
        h = self.backend_headers()
        self.assertEqual(h["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(h["x-forwarded-proto"], ["https"])
        lines = self.access_lines(2)
        self.assertEqual([l["client_addr"] for l in lines], ["1.2.3.4", "127.0.0.1"])

    def test_connection_opened_before_client_certificates_were_required_stays_untrusted(self):
        # TLS without client certificates; 10.0.0.0/8 is there only so that the section names someone
        sidecar = self.start("trusted_proxies:\n  cidrs: [10.0.0.0/8]", {"gw": {"extra_yaml": self.tls_yaml(client_ca=False)}})
        old = self.connect(sidecar, "gw")
        self.assertEqual(self.get(old, "/public/a"), 200)
        with open(sidecar.config_path) as f:
            text = f.read()
        text = text.replace("  cidrs: [10.0.0.0/8]", "  client_cert: true")
        text = text.replace("      key_file: %s\n" % self.cert("server.key"),
                            "      key_file: %s\n      client_ca_file: %s\n" % (self.cert("server.key"), self.cert("ca.crt")))
        with open(sidecar.config_path, "w") as f:
            f.write(text)
        before = sidecar.metric('policy_sidecar_config_reloads_total{result="success"}')
        sidecar.process.signal(signal.SIGHUP)
        wait_until(lambda: sidecar.metric('policy_sidecar_config_reloads_total{result="success"}') > before, what="the reload")
        # the open connection proved nothing: its headers are still replaced under the new configuration
        self.assertEqual(self.get(old, "/public/b"), 200)
        self.assertEqual(self.backend_headers()["x-forwarded-for"], ["127.0.0.1"])
        # a new one with the certificate is trusted
        self.assertEqual(self.get(self.connect(sidecar, "gw", "client"), "/public/c"), 200)
        self.assertEqual(self.backend_headers()["x-forwarded-for"], ["1.2.3.4, 127.0.0.1"])
