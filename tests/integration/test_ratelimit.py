"""Per-tenant rate limiting (issue: limits that hold across every sidecar sharing one Redis),
over real HTTP with real sidecars, a real backend and a real redis-server."""
import http.client
import threading
import time
import unittest

from harness import IntegrationTest, identity_host_yaml, Redis, mint, put_tenant, wait_until

ISSUER = "https://idp.test/"
FAR = 4102444800

POLICY = """
strip_prefix: /langchain
rate_limit: {{rate: 50, burst: 10, mode: {mode}}}
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""


def token_for(tenant):
    return mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": FAR, "tenant_id": tenant})


class RateLimitBase(IntegrationTest):
    mode = "redis"

    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        self.tokens = {t: token_for(t) for t in ("acme", "globex")}
        put_tenant(self.redis, "acme", services="*")
        put_tenant(self.redis, "globex", services="*")

    def sidecar(self, threads=2):
        host = identity_host_yaml(self.redis.port)
        s = self.start_sidecar({"langchain": {"upstream_port": self.backend.port,
                                              "policy": POLICY.format(mode=self.mode)}},
                               extra_host_yaml=host, threads=threads)
        # /ready does not wait for Redis: a first request on a worker whose connection is still
        # in its handshake gets 503 (slow under ASan on a loaded machine). Wait for every worker's.
        wait_until(lambda: (s.metric("policy_sidecar_redis_connects_total") or 0) >= threads,
                   what="every worker connected to Redis")
        return s

    def call(self, sidecar, tenant="acme"):
        return sidecar.request("langchain", "GET", "/langchain/x",
                               headers=[("Authorization", "Bearer " + self.tokens[tenant]), ("X-Tenant-ID", tenant)])


def hammer(ports, headers, total, duration_s, threads=8):
    """Sends `total` requests spread evenly over `duration_s`, round-robin over the ports, on
    keep-alive connections. Returns (statuses, elapsed seconds between first and last send)."""
    interval = duration_s / total
    statuses = []
    sent_at = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2

    def worker(index):
        conns = {}
        for i in range(index, total, threads):
            port = ports[i % len(ports)]
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not waiting for a condition
            conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conns[port] = conn
            t = time.monotonic()
            conn.request("GET", "/langchain/x", headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                del conns[port]
            with lock:
                statuses.append(resp.status)
                sent_at.append(t)
        for c in conns.values():
            c.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return statuses, max(sent_at) - min(sent_at)


class QuotaAndScopeTests:
    """Run by both modes: the daily quota, and budgets per tenant or per tenant and service."""

    def test_daily_quota(self):
        put_tenant(self.redis, "acme", services="*", rate=1000, burst=1000, quota_daily=3)
        s = self.sidecar()
        self.assertEqual([self.call(s).status for _ in range(3)], [200, 200, 200])
        refused = self.call(s)
        self.assertEqual(refused.status, 429, refused)
        self.assertEqual(refused.json()["reason"], "quota_exceeded")
        self.assertTrue(1 <= int(refused.header("Retry-After")) <= 86400)  # until the next UTC midnight
        self.assertEqual(self.call(s, "globex").status, 200)  # other tenants keep theirs

    def test_budget_per_tenant_or_per_service(self):
        for per_service, expected in ((False, 429), (True, 200)):
            self.redis.cmd("FLUSHDB")  # forget the previous round's Redis-side state
            put_tenant(self.redis, "acme", services="*", rate=1, burst=1)
            policy = POLICY.format(mode=self.mode).replace("mode: %s}" % self.mode,
                                                           "mode: %s, per_service: %s}" % (self.mode, str(per_service).lower()))
            s = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": policy},
                                    "tools": {"upstream_port": self.backend.port, "policy": policy.replace("langchain", "tools")}},
                                   extra_host_yaml=identity_host_yaml(self.redis.port), threads=1)
            headers = [("Authorization", "Bearer " + self.tokens["acme"]), ("X-Tenant-ID", "acme")]
            self.assertEqual(s.request("langchain", "GET", "/langchain/x", headers=headers).status, 200)
            self.assertEqual(s.request("tools", "GET", "/tools/x", headers=headers).status, expected, per_service)
            s.stop()


class RedisModeTest(QuotaAndScopeTests, RateLimitBase):
    def test_limit_holds_across_two_sidecars(self):
        a, b = self.sidecar(), self.sidecar()
        headers = {"Authorization": "Bearer " + self.tokens["acme"], "X-Tenant-ID": "acme"}
        statuses, elapsed = hammer([a.ports["langchain"], b.ports["langchain"]], headers, 1000, 2.0)
        admitted = statuses.count(200)
        self.assertEqual(admitted + statuses.count(429), 1000, set(statuses))
        expected = 10 + 50 * elapsed
        self.assertLessEqual(abs(admitted - expected), 0.05 * expected,
                             "admitted %d, expected %.1f (elapsed %.3f s)" % (admitted, expected, elapsed))
        # both sidecars did admit some: the budget is shared, not split or doubled
        self.assertGreater(len(self.backend.log()), 0)

    def test_tenants_are_independent(self):
        s = self.sidecar()
        headers = {"Authorization": "Bearer " + self.tokens["acme"], "X-Tenant-ID": "acme"}
        statuses, _ = hammer([s.ports["langchain"]], headers, 100, 0.2)
        self.assertIn(429, statuses)
        # acme is throttled; globex has its whole burst
        globex = [self.call(s, "globex").status for _ in range(10)]
        self.assertEqual(globex, [200] * 10)

    def test_429_has_retry_after_and_ratelimit_fields(self):
        put_tenant(self.redis, "acme", services="*", rate=1, burst=1)
        s = self.sidecar()
        first = self.call(s)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.header("RateLimit-Policy"), '"tenant";q=1;w=1')
        self.assertRegex(first.header("RateLimit"), r'^"tenant";r=0;t=\d+$')
        refused = self.call(s)
        self.assertEqual(refused.status, 429, refused)
        body = refused.json()
        self.assertEqual(body["error"], "rate_limited")
        self.assertEqual(body["request_id"], refused.header("X-Request-Id"))
        retry_after = int(refused.header("Retry-After"))
        self.assertGreaterEqual(retry_after, 1)
        self.assertEqual(refused.header("RateLimit"), '"tenant";r=0;t=%d' % retry_after)
        time.sleep(retry_after)  # what the client is told to do
        self.assertEqual(self.call(s).status, 200)

    def test_refused_requests_are_not_counted(self):
        put_tenant(self.redis, "acme", services="*", rate=1, burst=2)
        s = self.sidecar()
        for _ in range(20):  # 401s: no credential
            self.assertEqual(s.request("langchain", "GET", "/langchain/x", headers=[("X-Tenant-ID", "acme")]).status, 401)
        self.assertEqual([self.call(s).status for _ in range(3)], [200, 200, 429])

    def test_rate_change_applies_within_a_second(self):
        put_tenant(self.redis, "acme", services="*", rate=1, burst=1)
        s = self.sidecar()
        self.assertEqual(self.call(s).status, 200)
        self.assertEqual(self.call(s).status, 429)
        put_tenant(self.redis, "acme", services="*", rate=1000, burst=1000)
        changed = time.monotonic()
        wait_until(lambda: self.call(s).status == 200, ceiling_s=5, what="the new rate")
        self.assertLess(time.monotonic() - changed, 1.0)

    def test_redis_down_falls_back_to_local_limits(self):
        put_tenant(self.redis, "acme", services="*", rate=1, burst=3)
        s = self.sidecar(threads=1)
        self.assertEqual(self.call(s).status, 200)  # tenant cached (TTL 60 s)
        self.redis.stop()
        statuses = [self.call(s).status for _ in range(10)]
        self.assertIn(200, statuses)
        self.assertIn(429, statuses)  # limited, not unlimited
        self.assertLessEqual(statuses.count(200), 4)
        output = s.process.output()
        self.assertEqual(output.count("local limits apply"), 1, output)  # logged once per outage

    def test_paused_redis_does_not_stall_public_routes(self):
        s = self.sidecar()
        self.assertEqual(self.call(s).status, 200)
        self.redis.cmd("CLIENT", "PAUSE", "2000", "ALL")
        try:
            for _ in range(10):
                started = time.monotonic()
                self.assertEqual(s.request("langchain", "GET", "/langchain/health").status, 200)
                self.assertLess(time.monotonic() - started, 0.5)
        finally:
            wait_until(lambda: self.redis.cmd("PING") == "PONG", ceiling_s=30, what="redis unpaused")

    def test_noscript_after_script_flush(self):
        s = self.sidecar()
        self.assertEqual(self.call(s).status, 200)
        self.redis.cmd("SCRIPT", "FLUSH")  # what a restart or failover does
        self.assertEqual(self.call(s).status, 200)
        self.assertNotIn("local limits apply", s.process.output())


class LocalModeTest(QuotaAndScopeTests, RateLimitBase):
    mode = "local"

    def test_local_limit_is_exact_for_one_sidecar_across_threads(self):
        s = self.sidecar(threads=2)
        headers = {"Authorization": "Bearer " + self.tokens["acme"], "X-Tenant-ID": "acme"}
        self.assertEqual(self.call(s).status, 200)  # warm the tenant cache
        evalsha = self.redis.command_count("evalsha")
        statuses, elapsed = hammer([s.ports["langchain"]], headers, 400, 1.0)
        admitted = statuses.count(200)
        expected = 10 + 50 * elapsed - 1  # one token went to the warm-up request
        self.assertLessEqual(abs(admitted - expected), 0.05 * expected + 1, (admitted, expected, elapsed))
        self.assertEqual(self.redis.command_count("evalsha"), evalsha)  # no Redis on the hot path


if __name__ == "__main__":
    unittest.main()
