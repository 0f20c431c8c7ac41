"""sidecarctl end to end (issue 4): tenants and keys made with the tool are honoured by a running
sidecar, and revocation, rotation and suspension reach it within a second. sidecarctl reads the
sidecar's own host file (-c), so both talk to the same Redis, database and prefix."""
import json
import os
import time
import unittest

from harness import BUILD_DIR, IntegrationTest, Redis, identity_host_yaml, mint, run_cli, wait_until

SIDECARCTL = os.path.join(BUILD_DIR, "sidecarctl")
ISSUER = "https://idp.test/"
FAR = 4102444800  # 2100-01-01
WITHIN_S = 1.0  # how soon a change must be seen by every worker
CEILING_S = 5  # how long we poll before calling it a failure

POLICY = """
mode: enforce
strip_prefix: /langchain
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""


def token(tenant):
    return mint({"iss": ISSUER, "sub": "user-1", "aud": "platform", "exp": FAR, "iat": 1700000000, "tenant_id": tenant})


class SidecarctlEndToEndTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        # a long negative TTL: only the invalidation messages can make a new tenant visible quickly
        host = identity_host_yaml(self.redis.port, "tenant_cache: {ttl_s: 60, negative_ttl_s: 60, max_stale_s: 120}",
                                  issuer=ISSUER)
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=host)

    def ctl(self, *args):
        rc, out, err = run_cli([SIDECARCTL, "-c", self.sidecar.config_path, "--actor", "e2e"] + list(args))
        self.assertEqual(rc, 0, "sidecarctl %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def call(self, tenant="acme", key=None, jwt=None):
        headers = [("X-Tenant-ID", tenant)]
        if key is not None:
            headers.append(("X-Api-Key", key))
        if jwt is not None:
            headers.append(("Authorization", "Bearer " + jwt))
        return self.sidecar.request("langchain", "GET", "/langchain/v1/invoke", headers=headers)

    def assert_status_within(self, status, request, what):
        """Polls until `request()` answers `status`, and requires that to take under WITHIN_S."""
        started = time.monotonic()
        wait_until(lambda: request().status == status, ceiling_s=CEILING_S, what=what, interval_s=0.01)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, WITHIN_S, "%s took %.3f s" % (what, elapsed))
        # every worker has its own cache: all of them must agree now
        for _ in range(6):
            self.assertEqual(request().status, status, what)

    def forwarded(self):
        rec = self.backend.log()[-1]
        return {k.lower(): v for k, v in rec["headers"]}

    def test_key_lifecycle_and_suspension(self):
        jwt = token("acme")
        for _ in range(4):  # both workers learn that acme does not exist (cached for 60 s)
            self.assertEqual(self.call(jwt=jwt).status, 403)
        self.ctl("tenant", "create", "acme", "--services", "langchain")
        self.assert_status_within(200, lambda: self.call(jwt=jwt), "the new tenant to be accepted")

        doc = json.loads(self.ctl("--json", "key", "create", "acme", "--scopes", "read", "--name", "e2e"))
        key, key_id = doc["key"], doc["key_id"]
        resp = self.call(key=key)
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded()
        self.assertEqual(h["x-auth-key-id"], key_id)
        self.assertEqual(h["x-auth-method"], "api_key")
        self.assertEqual(h["x-tenant-id"], "acme")
        self.assertNotIn("x-api-key", h)
        for _ in range(4):  # cached as valid by both workers
            self.assertEqual(self.call(key=key).status, 200)

        self.ctl("key", "revoke", key_id)
        self.assert_status_within(401, lambda: self.call(key=key), "the revocation")
        self.assertEqual(self.call(key=key).json()["reason"], "api_key_revoked")

        self.assertEqual(self.call(jwt=jwt).status, 200)
        self.ctl("tenant", "suspend", "acme")
        self.assert_status_within(403, lambda: self.call(jwt=jwt), "the suspension")
        self.assertEqual(self.call(jwt=jwt).json()["reason"], "tenant_suspended")

        self.ctl("tenant", "activate", "acme")
        self.assert_status_within(200, lambda: self.call(jwt=jwt), "the reactivation")

    def test_rotation(self):
        self.ctl("tenant", "create", "acme")
        old = json.loads(self.ctl("--json", "key", "create", "acme"))
        for _ in range(4):
            self.assertEqual(self.call(key=old["key"]).status, 200)
        # with a grace period both keys work
        mid = json.loads(self.ctl("--json", "key", "rotate", old["key_id"], "--grace", "1h"))
        self.assertEqual(self.call(key=mid["key"]).status, 200)
        self.assertEqual(self.forwarded()["x-auth-key-id"], mid["key_id"])
        self.assertEqual(self.call(key=old["key"]).status, 200)
        # without one, the old key stops at once and the new one works
        new = json.loads(self.ctl("--json", "key", "rotate", mid["key_id"], "--grace", "0"))
        self.assert_status_within(401, lambda: self.call(key=mid["key"]), "the rotated-out key to be refused")
        self.assertEqual(self.call(key=new["key"]).status, 200)
        self.assertEqual(self.forwarded()["x-auth-key-id"], new["key_id"])

    def test_deleted_tenant_is_refused(self):
        self.ctl("tenant", "create", "acme")
        doc = json.loads(self.ctl("--json", "key", "create", "acme"))
        jwt = token("acme")
        for _ in range(4):
            self.assertEqual(self.call(jwt=jwt).status, 200)
            self.assertEqual(self.call(key=doc["key"]).status, 200)
        self.ctl("tenant", "delete", "acme", "--yes")
        self.assert_status_within(403, lambda: self.call(jwt=jwt), "the deletion (JWT)")
        self.assert_status_within(401, lambda: self.call(key=doc["key"]), "the deletion (API key)")


if __name__ == "__main__":
    unittest.main()
