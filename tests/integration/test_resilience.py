"""Faults, restarts and reloads while requests flow: no request is lost to a Redis connection's
state, /ready tells the truth, and a cached tenant does not notice an outage shorter than
max_stale_s. Real redis-server, backend and sidecar; Redis is paused with SIGSTOP, killed with
SIGKILL and started again on the same port with its data (append-only file)."""
import http.client
import os
import signal
import threading
import time

from harness import IntegrationTest, Redis, identity_host_yaml, mint, put_key, put_tenant, wait_until, write

ISSUER = "https://idp.test/"
FAR = 4102444800
API_KEY = "psk_test_globex_resilience"

POLICY = """
strip_prefix: /langchain
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""
# A reload under load changes the rules for a route the load does not use.
POLICY_CHANGED = """
strip_prefix: /langchain
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/admin/**
    auth: [jwt]
    scopes: [admin]
  - path: /langchain/**
    auth: [jwt, api_key]
"""
# Records expire quickly, so the faults below really make the sidecar go to Redis (and serve
# stale records while it cannot); max_stale_s is far longer than any fault.
CACHE = "tenant_cache: {ttl_s: 1, negative_ttl_s: 1, max_stale_s: 120}"
# Under AddressSanitizer freed memory sits in a quarantine (up to 256 MB) before it is reused, so
# RSS only grows: with it off, the RSS comparison below means the same in both builds (redzones
# still catch overflows). Ignored by a build without ASan.
ASAN_NO_QUARANTINE = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                            "quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]))
# Persisted on every write: a SIGKILLed Redis comes back with its tenants.
DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class Load:
    """Requests for two warm tenants (acme by JWT, globex by API key) from a few client
    threads, each on its own keep-alive connection, reconnecting after every 20 requests so that
    both worker threads see traffic. Every answer is recorded with its time."""

    def __init__(self, port, token, threads=4):
        self.port = port
        self.calls = [("acme", [("Authorization", "Bearer " + token), ("X-Tenant-ID", "acme")]),
                      ("globex", [("X-Api-Key", API_KEY), ("X-Tenant-ID", "globex")])]
        self.results = []  # (monotonic time at the answer, tenant, status or error text, time it was sent)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)

    def _record(self, tenant, status, sent_at):
        with self.lock:
            self.results.append((time.monotonic(), tenant, status, sent_at))

    def _run(self, index):
        conn, n = None, 0
        while not self.stopping.is_set():
            tenant, headers = self.calls[(index + n) % 2]
            n += 1
            if conn is None or n % 20 == 0:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            sent_at = time.monotonic()
            try:
                conn.request("GET", "/langchain/x", headers=dict(headers))
                resp = conn.getresponse()
                resp.read()
                self._record(tenant, resp.status, sent_at)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self._record(tenant, "error: %r" % e, sent_at)
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.results)

    def between(self, start, end):
        """The answers that arrived between start and end."""
        with self.lock:
            return [r for r in self.results if start <= r[0] <= end]

    def sent_between(self, start, end):
        """The requests sent between start and end."""
        with self.lock:
            return [r for r in self.results if start <= r[3] <= end]

    def wait_for_more(self, n, what):
        """Until n more answers arrived: a fault lasts for some traffic, not for a fixed time."""
        target = self.count() + n
        wait_until(lambda: self.count() >= target, ceiling_s=60, what="%d more answers %s" % (n, what))


class FaultsUnderLoadTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp, extra=DURABLE)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        put_tenant(self.redis, "acme", services="*")
        put_tenant(self.redis, "globex", services="*")
        put_key(self.redis, "globex", API_KEY, "k_globex")
        self.token = mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": FAR, "tenant_id": "acme"})
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=identity_host_yaml(self.redis.port, CACHE), threads=2,
                                          env={"ASAN_OPTIONS": ASAN_NO_QUARANTINE})
        self.pid = self.sidecar.process.pid

    def assert_only(self, results, allowed, what):
        bad = [r for r in results if r[2] not in allowed]
        self.assertEqual(bad, [], "%s: %d unexpected answers of %d, e.g. %r" % (what, len(bad), len(results), bad[:5]))

    def assert_ready_within(self, seconds, since, what):
        wait_until(self.sidecar.ready, ceiling_s=30, what="/ready after " + what)
        took = time.monotonic() - since
        self.assertLess(took, seconds, "/ready took %.2f s after %s" % (took, what))

    def reloads(self):
        return self.sidecar.metric('policy_sidecar_config_reloads_total{result="success"}')

    def test_faults_one_after_the_other(self):
        load = Load(self.sidecar.ports["langchain"], self.token)
        load.start()
        self.addCleanup(load.stop)
        load.wait_for_more(400, "of warm-up")
        self.assert_only(load.between(0, time.monotonic()), (200,), "warm-up")
        rss_warm = rss_kb(self.pid)

        # 1. Redis paused for 2 s: answers come from the cache (stale past the 1 s TTL).
        t0 = time.monotonic()
        self.redis.process.signal(signal.SIGSTOP)
        time.sleep(2)  # the length of the fault, not a wait for a condition
        self.redis.process.signal(signal.SIGCONT)
        t1 = time.monotonic()
        self.assert_ready_within(2, t1, "Redis was paused")
        load.wait_for_more(200, "after the pause")
        self.assert_only(load.between(t0, time.monotonic()), (200,), "Redis paused")

        # 2. Redis killed and started again: /ready says so; cached tenants never notice.
        t0 = time.monotonic()
        self.redis.process.proc.kill()
        self.redis.process.wait()
        wait_until(lambda: not self.sidecar.ready(), ceiling_s=10, what="/ready 503 with Redis gone")
        body = self.sidecar.readiness().json()
        self.assertEqual(body["status"], "not_ready", body)
        self.assertTrue(any(w.startswith("redis: ") for w in body["waiting_for"]), body)
        load.wait_for_more(200, "with Redis down")
        self.redis.start()
        t1 = time.monotonic()
        self.assert_ready_within(2, t1, "Redis came back")
        load.wait_for_more(400, "after Redis came back")  # the cache is read again meanwhile
        self.assert_only(load.between(t0, time.monotonic()), (200,), "Redis killed and restarted")

        # 3. SIGHUP with a changed policy: no request fails across the reload.
        t0 = time.monotonic()
        before = self.reloads()
        write(os.path.join(self.tmp, "policy-langchain.yaml"), POLICY_CHANGED)
        self.sidecar.process.signal(signal.SIGHUP)
        wait_until(lambda: self.reloads() > before, ceiling_s=30, what="the reload")
        load.wait_for_more(200, "after the reload")
        self.assert_only(load.between(t0, time.monotonic()), (200,), "reload")

        # 4. The backend killed and started again: 502 while it is down, 200 soon after.
        t0 = time.monotonic()
        self.backend.process.proc.kill()
        self.backend.process.wait()
        down_at = time.monotonic()
        load.wait_for_more(200, "with the backend down")
        restart_at = time.monotonic()
        self.backend = self.start_backend(port=self.backend.port)
        back_at = time.monotonic()
        wait_until(lambda: any(r[2] == 200 for r in load.between(back_at, time.monotonic())), ceiling_s=10,
                   what="a 200 after the backend is back")
        first_ok = min(r[0] for r in load.between(back_at, time.monotonic()) if r[2] == 200)
        self.assertLess(first_ok - back_at, 2, "first 200 %.2f s after the backend was back" % (first_ok - back_at))
        load.wait_for_more(200, "after the backend came back")
        # a response the backend was sending when it was killed is cut short (its head was already
        # forwarded): that is the only failure allowed, and only for requests sent before the kill
        in_flight = [r for r in load.between(down_at, time.monotonic()) if r[3] < down_at]
        self.assert_only([r for r in in_flight if not str(r[2]).startswith("error: IncompleteRead")], (200, 502),
                         "in flight when the backend was killed")
        self.assert_only(load.sent_between(down_at, restart_at), (502,), "sent while the backend was down")
        settled = first_ok + 2
        wait_until(lambda: time.monotonic() > settled + 0.5 and load.count() > 0, ceiling_s=10, what="traffic after 2 s")
        self.assert_only(load.between(settled, time.monotonic()), (200,), "2 s after the backend was back")

        load.stop()
        self.assertTrue(self.sidecar.process.running())
        self.assertEqual(self.sidecar.process.pid, self.pid)
        rss_end = rss_kb(self.pid)
        self.assertLess(abs(rss_end - rss_warm) / rss_warm, 0.10, "RSS %d kB after warm-up, %d kB at the end" % (rss_warm, rss_end))


class StartupTest(IntegrationTest):
    """A sidecar that has just started, with Redis up but slow to answer its first connection:
    requests wait for the connection instead of failing, on every worker thread."""

    def test_requests_during_the_first_connection_wait_for_it(self):
        redis = Redis(self.tmp)
        self.processes.append(redis)
        backend = self.start_backend()
        put_tenant(redis, "acme", services="*")
        put_tenant(redis, "globex", services="*")
        put_key(redis, "globex", API_KEY, "k_globex")
        token = mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": FAR, "tenant_id": "acme"})
        # Redis accepts connections (the kernel does) but answers nothing until SIGCONT.
        redis.process.signal(signal.SIGSTOP)
        self.addCleanup(redis.process.signal, signal.SIGCONT)
        # rate limits decided by Redis: their commands wait for the connection too
        policy = POLICY.replace("routes:", "rate_limit: {rate: 1000, burst: 1000, mode: redis}\nroutes:")
        sidecar = self.start_sidecar({"langchain": {"upstream_port": backend.port, "policy": policy}},
                                     extra_host_yaml=identity_host_yaml(redis.port, connect_timeout_ms=30000),
                                     threads=2, wait_alive=True)
        ready = sidecar.readiness()
        self.assertEqual(ready.status, 503, ready)
        self.assertEqual(sorted(ready.json()["waiting_for"]),
                         sorted(["redis: worker 0", "redis: worker 1", "redis: subscription, worker 0",
                                 "redis: subscription, worker 1"]))

        answers = []
        lock = threading.Lock()

        def call(i):
            headers = ([("Authorization", "Bearer " + token), ("X-Tenant-ID", "acme")] if i % 2 == 0 else
                       [("X-Api-Key", API_KEY), ("X-Tenant-ID", "globex")])
            resp = sidecar.request("langchain", "GET", "/langchain/x", headers=headers, timeout=60)
            with lock:
                answers.append(resp.status)

        clients = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for t in clients:
            t.start()
        # every request is in the sidecar, waiting on a tenant or key lookup
        wait_until(lambda: sidecar.metric("policy_sidecar_tenant_cache_misses_total") >= 16, ceiling_s=30,
                   what="16 lookups waiting for Redis")
        with lock:
            self.assertEqual(answers, [], "answered before Redis could answer")
        redis.process.signal(signal.SIGCONT)
        for t in clients:
            t.join(timeout=60)
        self.assertEqual(answers, [200] * 16)
        self.assertEqual(sidecar.metric("policy_sidecar_ratelimit_fallbacks_total"), 0)
        # the limits were Redis's: at least one lease acquired per tenant (not one call per request)
        self.assertGreaterEqual(redis.command_count("evalsha") + redis.command_count("eval"), 2)
        sidecar.wait_ready(ceiling_s=10)


if __name__ == "__main__":
    import unittest
    unittest.main()
