"""The tenant store against hostile input: invalidation messages anyone with PUBLISH can send,
floods of made-up tenant ids and keys before any authentication, and records longer than any
writer makes. Real redis-server, backend and sidecar."""
import random
import signal

from harness import IntegrationTest, PREFIX, Redis, identity_host_yaml, invalidation, mint, put_tenant, wait_until

ISSUER = "https://idp.test/"
FAR = 4102444800

POLICY = """
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


class StoreHardeningTest(IntegrationTest):
    cache = "tenant_cache: {ttl_s: 60, negative_ttl_s: 60, max_stale_s: 300, max_entries: 16, max_negative_entries: 16}"

    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        put_tenant(self.redis, "acme", services="*", scopes="*")
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=identity_host_yaml(self.redis.port, self.cache), threads=1)

    def call(self, tenant="acme", path="/langchain/x", **claims):
        c = {"iss": ISSUER, "sub": "u", "aud": "platform", "exp": FAR, "tenant_id": tenant}
        c.update(claims)
        return self.sidecar.request("langchain", "GET", path,
                                    headers=[("Authorization", "Bearer " + mint(c)), ("X-Tenant-ID", tenant)])

    def test_hostile_invalidation_messages_crash_nothing(self):
        self.assertEqual(self.call().status, 200)
        channel = PREFIX + "invalidate"
        messages = ["key " + "A" * 400 + " " + "0" * 64,  # overflowed a stack buffer
                    "key acme " + "0" * 63 + "G", "tenant " + "x" * 65, "tenant a\"b", "\xff", "",
                    "key " + "A" * (1 << 20) + " " + "0" * 64]
        for m in messages:
            self.redis.cmd("PUBLISH", channel, m)
        self.redis.cmd("PUBLISH", channel, "key " + "A" * (16 << 20))  # a release build segfaulted on 16 MiB
        wait_until(lambda: self.sidecar.metric("policy_sidecar_tenant_cache_malformed_invalidations_total") == len(messages) + 1,
                   ceiling_s=30, what="every malformed message counted")
        self.assertTrue(self.sidecar.process.running())
        self.assertEqual(self.call().status, 200)

    def test_unauthenticated_flood_does_not_evict_real_tenants(self):
        self.assertEqual(self.call().status, 200)  # acme is cached
        rng = random.Random(7)
        for i in range(200):  # far more made-up ids than either cache holds
            tenant = "t%08x" % rng.getrandbits(32)
            resp = self.sidecar.request("langchain", "GET", "/langchain/x",
                                        headers=[("X-Api-Key", "psk_%032x" % rng.getrandbits(128)), ("X-Tenant-ID", tenant)])
            self.assertEqual(resp.status, 401, resp)
        # Redis stalls: acme must still be served from the cache, as it was before the flood
        self.redis.process.signal(signal.SIGSTOP)
        self.addCleanup(self.redis.process.signal, signal.SIGCONT)
        self.assertEqual(self.call().status, 200)

    def padded_tenant(self, tenant, padding, **fields):
        """A tenant record whose real fields come after `padding` filler fields: HGETALL returns a
        small hash in insertion order, so a reader that stops early loses them."""
        key = "%s{%s}:tenant" % (PREFIX, tenant)
        args = ["status", "active", "services", "*"]
        for i in range(padding):
            args += ["x_pad_%03d" % i, "padding"]
        for k, v in fields.items():
            args += [k, v]
        self.redis.cmd("DEL", key)
        self.redis.cmd("HSET", key, *args)
        self.redis.cmd("PUBLISH", PREFIX + "invalidate", invalidation(tenant))

    def test_long_records_keep_their_last_fields(self):
        # 35 fields, scopes and issuers last: both caps hold (the reply used to be cut at 64 elements)
        self.padded_tenant("padded", 31, scopes="read", issuers="https://other.test/")
        self.assert_reason(self.call("padded", scope="admin"), 403, "issuer_not_allowed")
        self.padded_tenant("padded", 31, scopes="read")
        self.assert_reason(self.call("padded", path="/langchain/admin/x", scope="admin"), 403, "insufficient_scope")
        self.assertEqual(self.call("padded", scope="read").status, 200)

    def test_records_past_the_field_limit_fail_closed(self):
        self.padded_tenant("huge", 200, scopes="read")
        self.assert_reason(self.call("huge", scope="admin"), 503, "tenant_record_invalid")

    def assert_reason(self, resp, status, reason):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.json().get("reason"), reason, resp)


if __name__ == "__main__":
    import unittest
    unittest.main()
