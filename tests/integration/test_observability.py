"""Metrics and access logs (issue: run it in production): /metrics passes promtool and moves
as requests are made; the access log has one JSON line per request and never a secret."""
import json
import os
import shutil
import signal
import subprocess
import unittest

from harness import IntegrationTest, identity_host_yaml, Redis, mint, put_key, put_tenant, request, wait_until

ISSUER = "https://idp.test/"
POLICY = """
strip_prefix: /langchain
rate_limit: {rate: 100, burst: 100}
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""
PROMTOOL = shutil.which("promtool")


class ObservabilityBase(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        put_tenant(self.redis, "acme")
        self.log_path = os.path.join(self.tmp, "access.log")
        host = identity_host_yaml(self.redis.port, "access_log: %s" % self.log_path,
                                  "metrics: {per_tenant: true, max_tenants: 1}")
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=host)
        self.token = mint({"iss": ISSUER, "sub": "user-1", "aud": "platform", "exp": 4102444800, "tenant_id": "acme"})

    def metrics(self):
        resp = request(self.sidecar.admin_port, "GET", "/metrics")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.header("Content-Type").startswith("text/plain; version=0.0.4"))
        return resp.body.decode()

    def value(self, text, series):
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0

    def access_lines(self, n):
        def read():
            if not os.path.exists(self.log_path):
                return None
            lines = [l for l in open(self.log_path).read().splitlines() if l]
            return lines if len(lines) >= n else None
        return [json.loads(l) for l in wait_until(read, ceiling_s=10, what="%d access-log lines" % n)]


class ObservabilityTest(ObservabilityBase):
    @unittest.skipIf(PROMTOOL is None, "promtool (Debian package prometheus) is not installed")
    def test_metrics_pass_promtool_and_move(self):
        before = self.metrics()
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=before.encode(), capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        ok = 'policy_sidecar_requests_total{service="langchain",code="200"}'
        denied = 'policy_sidecar_denials_total{service="langchain",reason="missing_credentials",mode="enforce"}'
        self.assertEqual(self.value(before, ok), 0)
        self.assertEqual(self.sidecar.request("langchain", "GET", "/langchain/health").status, 200)
        self.assertEqual(self.sidecar.request("langchain", "GET", "/langchain/x", headers=[("X-Tenant-ID", "acme")]).status, 401)
        resp = self.sidecar.request("langchain", "GET", "/langchain/x",
                                    headers=[("Authorization", "Bearer " + self.token), ("X-Tenant-ID", "acme")])
        self.assertEqual(resp.status, 200)
        after = wait_until(lambda: (lambda m: m if self.value(m, ok) == 2 else None)(self.metrics()), ceiling_s=10,
                           what="the counters to move")
        self.assertEqual(self.value(after, denied), 1)
        self.assertEqual(self.value(after, 'policy_sidecar_requests_total{service="langchain",code="401"}'), 1)
        self.assertEqual(self.value(after, 'policy_sidecar_request_duration_seconds_count{service="langchain"}'), 3)
        self.assertEqual(self.value(after, 'policy_sidecar_upstream_duration_seconds_count{service="langchain"}'), 2)
        self.assertGreaterEqual(self.value(after, "policy_sidecar_tenant_cache_misses_total"), 1)
        self.assertGreaterEqual(self.value(after, "policy_sidecar_redis_connects_total"), 2)
        # only the request whose tenant was established counts for it
        self.assertEqual(self.value(after, 'policy_sidecar_tenant_requests_total{service="langchain",tenant="acme"}'), 1)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=after.encode(), capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_tenant_series_are_bounded(self):
        # tenants that do not exist never take one of the (max_tenants: 1) series
        for i in range(5):
            bogus = "nobody-%d" % i
            tok = mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": 4102444800, "tenant_id": bogus})
            self.assertEqual(self.sidecar.request("langchain", "GET", "/langchain/x", headers=[
                ("Authorization", "Bearer " + tok), ("X-Tenant-ID", bogus)]).status, 403)
        put_tenant(self.redis, "globex")
        token = mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": 4102444800, "tenant_id": "globex"})
        for t, tok in (("acme", self.token), ("globex", token)):
            self.assertEqual(self.sidecar.request("langchain", "GET", "/langchain/x",
                                                  headers=[("Authorization", "Bearer " + tok), ("X-Tenant-ID", t)]).status, 200)
        text = wait_until(lambda: (lambda m: m if "_other" in m else None)(self.metrics()), ceiling_s=10, what="_other")
        tenant_lines = [l for l in text.splitlines() if l.startswith("policy_sidecar_tenant_requests_total{")]
        self.assertEqual(len(tenant_lines), 2, tenant_lines)  # max_tenants: 1, plus _other
        self.assertIn('policy_sidecar_tenant_requests_total{service="langchain",tenant="acme"} 1', tenant_lines)
        self.assertFalse([l for l in tenant_lines if "nobody" in l], tenant_lines)

    def test_access_log_lines_hold_no_secret(self):
        put_key(self.redis, "acme", "psk_secret_value_123", "k_1")
        self.sidecar.request("langchain", "GET", "/langchain/v1/x?stream=1&api_key=psk_in_query&access_token=tok",
                             headers=[("X-Api-Key", "psk_secret_value_123"), ("X-Tenant-ID", "acme"),
                                      ("Authorization", "Basic c2VjcmV0OnBhc3M=")])
        self.sidecar.request("langchain", "POST", "/langchain/v1/y", body=b"{}",
                             headers=[("Authorization", "Bearer " + self.token), ("X-Tenant-ID", "acme")])
        self.sidecar.request("langchain", "GET", "/langchain/z", headers=[("Authorization", "Bearer " + self.token + "x"),
                                                                       ("X-Tenant-ID", "acme")])
        # each worker thread writes its own batches: lines of different connections may come in any order
        by_path = {line["path"]: line for line in self.access_lines(3)}
        allowed_key, allowed_jwt, denied = by_path["/langchain/v1/x"], by_path["/langchain/v1/y"], by_path["/langchain/z"]
        raw = open(self.log_path).read()
        for secret in ("psk_secret_value_123", "psk_in_query", "tok&", self.token[:40], "c2VjcmV0OnBhc3M="):
            self.assertNotIn(secret, raw)
        self.assertEqual(allowed_key["decision"], "allow")
        self.assertEqual(allowed_key["auth_method"], "api_key")
        self.assertEqual(allowed_key["key_id"], "k_1")
        self.assertEqual(allowed_key["tenant"], "acme")
        self.assertEqual(allowed_key["status"], 200)
        self.assertEqual(allowed_key["upstream_status"], 200)
        self.assertEqual(allowed_key["path"], "/langchain/v1/x")
        self.assertEqual(allowed_key["query"], "stream=1&api_key=REDACTED&access_token=REDACTED")
        self.assertRegex(allowed_key["request_id"], "^[0-9a-f]{32}$")
        self.assertEqual(allowed_jwt["subject"], "user-1")
        self.assertEqual(allowed_jwt["auth_method"], "jwt")
        self.assertEqual(allowed_jwt["method"], "POST")
        self.assertEqual(allowed_jwt["bytes_in"], 2)
        self.assertEqual(denied["decision"], "deny")
        self.assertEqual(denied["status"], 401)
        self.assertEqual(denied["reason"], "malformed_token")
        self.assertIsNone(denied["upstream_status"])
        for line in (allowed_key, allowed_jwt, denied):
            for field in ("time", "service", "route", "duration_ms", "bytes_out", "remote_addr"):
                self.assertIn(field, line)

    def test_access_log_reopens_on_sigusr1(self):
        self.sidecar.request("langchain", "GET", "/langchain/health")
        self.access_lines(1)
        rotated = self.log_path + ".1"
        os.rename(self.log_path, rotated)
        self.sidecar.process.signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(self.log_path), ceiling_s=10, what="the log to be reopened")
        self.sidecar.request("langchain", "GET", "/langchain/health")
        self.assertEqual(len(self.access_lines(1)), 1)
        self.assertEqual(len(open(rotated).read().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()


PROMETHEUS = shutil.which("prometheus")


class PrometheusScrapeTest(ObservabilityBase):
    @unittest.skipIf(PROMETHEUS is None, "prometheus (Debian package prometheus) is not installed")
    def test_real_prometheus_scrapes_the_sidecar(self):
        from harness import Process, free_port
        port = free_port()
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                    "scrape_configs:\n"
                    "  - job_name: policy-sidecar\n"
                    "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % self.sidecar.admin_port)
        prom = Process("prometheus", [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.tmp, "tsdb"),
                                      "--web.listen-address=127.0.0.1:%d" % port], self.tmp)
        self.processes.append(prom)
        self.sidecar.request("langchain", "GET", "/langchain/health")

        def scraped():
            try:
                resp = request(port, "GET", "/api/v1/query?query=policy_sidecar_requests_total", timeout=5)
            except OSError:
                return None
            if resp.status != 200:
                return None
            result = json.loads(resp.body)["data"]["result"]
            return result or None

        result = wait_until(scraped, ceiling_s=60, what="Prometheus to scrape the sidecar", interval_s=0.5)
        self.assertEqual(result[0]["metric"]["service"], "langchain")
        targets = json.loads(request(port, "GET", "/api/v1/targets").body)["data"]["activeTargets"]
        self.assertEqual(targets[0]["health"], "up", targets)
