"""Redis-mode rate limits by leases (issue 15, item 1): each worker spends a small share of the
tenant's budget taken from Redis, so Redis sees a command per lease, not per request; unused
tokens go back; the limit stays exact in the strict direction (tests/integration/test_ratelimit.py
holds the two-sidecar accuracy test, unchanged)."""
import time
import unittest

from harness import put_tenant, wait_until
from test_ratelimit import RateLimitBase, hammer

RETURNS = 'policy_sidecar_ratelimit_redis_commands_total{command="return"}'
ACQUIRES = 'policy_sidecar_ratelimit_redis_commands_total{command="acquire"}'


class LeaseTest(RateLimitBase):
    mode = "redis"

    def headers(self, tenant="acme"):
        return {"Authorization": "Bearer " + self.tokens[tenant], "X-Tenant-ID": tenant}

    def script_calls(self):
        return self.redis.command_count("evalsha") + self.redis.command_count("eval")

    def test_commands_per_request_fall_twentyfold_at_steady_load(self):
        put_tenant(self.redis, "acme", services="*", rate=5000, burst=5000)  # far above the load
        a, b = self.sidecar(threads=1), self.sidecar(threads=1)
        for s in (a, b):
            self.assertEqual(self.call(s).status, 200)  # tenant record and token cached
        before = self.script_calls()
        statuses, elapsed = hammer([a.ports["langchain"], b.ports["langchain"]], self.headers(), 1200, 2.0)
        self.assertEqual(statuses.count(200), 1200, set(statuses))
        calls = self.script_calls() - before
        self.assertLessEqual(calls * 20, 1200, "%d script calls for 1200 requests in %.2f s" % (calls, elapsed))
        self.assertGreater(a.metric(ACQUIRES) + b.metric(ACQUIRES), 0)
        self.assertGreater(a.metric("policy_sidecar_ratelimit_lease_decisions_total"), 0)

    def test_unused_lease_goes_back_to_the_other_sidecars(self):
        # the daily quota does not refill, so what a lease took and did not spend shows in its
        # counter until it is given back, and only then can the other sidecar have it
        put_tenant(self.redis, "acme", services="*", rate=1000, burst=1000, quota_daily=300)
        a, b = self.sidecar(threads=1), self.sidecar(threads=1)
        statuses, _ = hammer([a.ports["langchain"]], self.headers(), 200, 0.5)
        self.assertEqual(statuses.count(200), 200, set(statuses))
        day = time.strftime("%Y%m%d", time.gmtime())
        counter = "ps:{acme}:quota:" + day
        wait_until(lambda: int(self.redis.cmd("GET", counter) or 0) == 200, ceiling_s=10,
                   what="the unused lease given back (quota count back to the admitted requests)")
        self.assertGreater(a.metric(RETURNS), 0)
        results = [self.call(b).status for _ in range(120)]
        self.assertEqual(results.count(200), 100, results)  # all of the remaining quota, and no more
        self.assertEqual(results[-1], 429)

    def test_rate_cut_applies_within_a_second_while_a_lease_is_held(self):
        put_tenant(self.redis, "acme", services="*", rate=5000, burst=5000)
        s = self.sidecar(threads=1)
        statuses, _ = hammer([s.ports["langchain"]], self.headers(), 200, 0.3)
        self.assertEqual(statuses.count(200), 200, set(statuses))
        put_tenant(self.redis, "acme", services="*", rate=1, burst=1)
        changed = time.monotonic()
        wait_until(lambda: self.call(s).status == 429, ceiling_s=5, what="the lower rate")
        self.assertLess(time.monotonic() - changed, 1.0)


if __name__ == "__main__":
    unittest.main()
