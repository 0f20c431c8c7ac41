"""Identity (issue: JWT or API key, X-Tenant-ID against Redis): every status code of the
contract over real HTTP, against a real redis-server, a real backend and a real sidecar."""
import os
import textwrap
import time
import unittest

from harness import FIXTURES, IntegrationTest, Redis, invalidation, mint, put_key, put_tenant, wait_until

ISSUER = "https://idp.test/"
OTHER_ISSUER = "https://other-idp.test/"
HS_SECRET = b"integration-test-secret-of-at-least-32-bytes!"
FAR = 4102444800  # 2100-01-01

POLICY = """
mode: {mode}
strip_prefix: /langchain
cors:
  allowed_origins: [https://app.example.com]
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/admin/**
    auth: [jwt, api_key]
    scopes: [admin]
  - path: /langchain/jwt-only/**
    auth: jwt
  - path: /langchain/**
    auth: [jwt, api_key]
"""


def claims(tenant="acme", sub="user-1", iss=ISSUER, aud="platform", exp=FAR, **extra):
    c = {"iss": iss, "sub": sub, "aud": aud, "exp": exp, "iat": 1700000000, "tenant_id": tenant}
    c.update(extra)
    return c


class IdentityBase(IntegrationTest):
    mode = "enforce"
    policy_head = ""  # extra policy lines
    host_head = ""  # extra host-file lines
    audiences = "[platform]"  # of the main issuer
    threads = 2
    cache = "{ttl_s: 60, negative_ttl_s: 1, max_stale_s: 120}"

    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        secret = os.path.join(self.tmp, "hs.secret")
        with open(secret, "wb") as f:
            f.write(HS_SECRET)
        self.start(secret)
        put_tenant(self.redis, "acme", services="langchain tools", scopes="*")
        put_tenant(self.redis, "globex", services="langchain", scopes="read")
        put_tenant(self.redis, "initech", services="tools")  # may not use langchain
        put_tenant(self.redis, "umbrella", status="suspended")
        put_tenant(self.redis, "bound", issuers=OTHER_ISSUER)  # only the other IdP may speak for it

    def start(self, secret):
        host = """
        redis:
          url: redis://127.0.0.1:%d/0
          timeout_ms: 500
        tenant_cache: %s
        jwt_issuers:
          - issuer: %s
            audiences: %s
            jwks_file: %s
            algorithms: [RS256]
          - issuer: %s
            audiences: [platform]
            hmac_secret_file: %s
            algorithms: [HS256]
        """ % (self.redis.port, self.cache, ISSUER, self.audiences, os.path.join(FIXTURES, "rs256.jwks.json"), OTHER_ISSUER, secret)
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port,
                                                         "policy": self.policy_head + POLICY.format(mode=self.mode)}},
                                          extra_host_yaml=self.host_head + textwrap.dedent(host), threads=self.threads)

    def call(self, path="/langchain/v1/invoke", token=None, key=None, tenant="acme", headers=(), method="GET", body=None):
        h = list(headers)
        if token is not None:
            h.append(("Authorization", "Bearer " + token))
        if key is not None:
            h.append(("X-Api-Key", key))
        if tenant is not None:
            h.append(("X-Tenant-ID", tenant))
        return self.sidecar.request("langchain", method, path, headers=h, body=body)

    def assert_denied(self, resp, status, reason):
        self.assertEqual(resp.status, status, resp)
        body = resp.json()
        self.assertEqual(body.get("reason"), reason, resp)
        self.assertEqual(body["request_id"], resp.header("X-Request-Id"))
        return body

    def forwarded_headers(self, index=-1):
        rec = self.backend.log()[index]
        out = {}
        for k, v in rec["headers"]:
            out.setdefault(k.lower().replace("_", "-"), []).append(v)
        return out


class IdentityTest(IdentityBase):
    def test_valid_jwt_is_forwarded_with_trusted_identity_only(self):
        token = mint(claims(scope="read write"))
        resp = self.call(token=token, headers=[("X-Auth-Subject", "admin"), ("X_Auth_Scopes", "admin"),
                                               ("X-Auth-Method", "api_key"), ("x_tenant_id", "evil")])
        # a second, underscore spelling of X-Tenant-ID is a repeated header: refused before anything else
        self.assert_denied(resp, 400, "tenant_header_repeated")
        resp = self.call(token=token, headers=[("X-Auth-Subject", "admin"), ("X_Auth_Scopes", "admin"),
                                               ("X-Auth-Method", "api_key"), ("X-Auth-Key-Id", "k1")])
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded_headers()
        self.assertEqual(h["x-tenant-id"], ["acme"])
        self.assertEqual(h["x-auth-subject"], ["user-1"])
        self.assertEqual(h["x-auth-method"], ["jwt"])
        self.assertEqual(h["x-auth-scopes"], ["read write"])
        self.assertNotIn("x-auth-key-id", h)  # spoofed, removed, and not ours to set for a JWT
        self.assertEqual(h["authorization"], ["Bearer " + token])  # forwarded unless the policy says not to

    def test_valid_api_key_is_forwarded_and_not_the_key(self):
        put_key(self.redis, "acme", "psk_test_acme_1", "k_acme1", scopes="read admin")
        resp = self.call(key="psk_test_acme_1")
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded_headers()
        self.assertEqual(h["x-auth-method"], ["api_key"])
        self.assertEqual(h["x-auth-key-id"], ["k_acme1"])
        self.assertEqual(h["x-auth-scopes"], ["read admin"])
        self.assertNotIn("x-api-key", h)
        resp = self.call(path="/langchain/admin/users", key="psk_test_acme_1")
        self.assertEqual(resp.status, 200, resp)

    def test_public_route_strips_spoofed_identity(self):
        resp = self.call(path="/langchain/health", tenant="acme", headers=[("X-Auth-Subject", "root"), ("X-Api-Key", "x")])
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded_headers()
        for name in ("x-tenant-id", "x-auth-subject", "x-api-key"):
            self.assertNotIn(name, h)

    def test_401_missing_or_invalid_credentials(self):
        body = self.assert_denied(self.call(), 401, "missing_credentials")
        self.assertTrue(body["message"])
        resp = self.call()
        self.assertTrue(resp.header("WWW-Authenticate").startswith("Bearer realm=\"langchain\""))
        self.assert_denied(self.call(headers=[("Authorization", "Basic dXNlcjpwYXNz")]), 401, "missing_credentials")
        self.assert_denied(self.call(token="not.a.jwt"), 401, "malformed_token")
        self.assert_denied(self.call(token=mint(claims(exp=1000000000))), 401, "token_expired")
        evil = os.path.join(FIXTURES, "keys", "evil.key.pem")
        self.assert_denied(self.call(token=mint(claims(), key_file=evil)), 401, "bad_signature")
        self.assert_denied(self.call(token=mint(claims(aud="elsewhere"))), 401, "audience_mismatch")
        self.assert_denied(self.call(token=mint(claims(iss="https://unknown/"))), 401, "unknown_issuer")
        none = mint(claims(), alg="HS256", secret=b"x" * 32, kid=None, header={"alg": "none"}).rsplit(".", 1)[0] + "."
        self.assert_denied(self.call(token=none), 401, "algorithm_not_allowed")
        self.assert_denied(self.call(key="psk_unknown"), 401, "invalid_api_key")
        self.assert_denied(self.call(headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")]), 401,
                           "ambiguous_credentials")
        # an API key on a JWT-only route is no credential at all
        put_key(self.redis, "acme", "psk_test_acme_2", "k_acme2")
        self.assert_denied(self.call(path="/langchain/jwt-only/x", key="psk_test_acme_2"), 401, "missing_credentials")
        self.assertEqual(self.backend.log(), [])

    def test_api_key_states(self):
        put_key(self.redis, "acme", "psk_revoked", "k_rev", status="revoked")
        put_key(self.redis, "acme", "psk_expired", "k_exp", expires_at=1000000000)
        put_key(self.redis, "globex", "psk_globex", "k_glx")
        self.assert_denied(self.call(key="psk_revoked"), 401, "api_key_revoked")
        self.assert_denied(self.call(key="psk_expired"), 401, "api_key_expired")
        # a key only exists under its own tenant: presented for another it is unknown
        self.assert_denied(self.call(key="psk_globex", tenant="acme"), 401, "invalid_api_key")
        self.assertEqual(self.call(key="psk_globex", tenant="globex").status, 200)

    def test_400_tenant_header(self):
        token = mint(claims())
        self.assert_denied(self.call(token=token, tenant=None), 400, "tenant_header_missing")
        self.assert_denied(self.call(token=token, tenant="acme", headers=[("X-Tenant-ID", "acme")]), 400,
                           "tenant_header_repeated")
        self.assert_denied(self.call(token=token, tenant="acme, globex"), 400, "tenant_header_repeated")
        self.assert_denied(self.call(token=token, tenant="a" * 65), 400, "tenant_header_invalid")
        self.assert_denied(self.call(token=token, tenant="ac me"), 400, "tenant_header_invalid")
        self.assert_denied(self.call(token=token, tenant="{acme}"), 400, "tenant_header_invalid")
        self.assertEqual(self.backend.log(), [])

    def test_403_tenant_rules(self):
        self.assert_denied(self.call(token=mint(claims(tenant="nobody")), tenant="nobody"), 403, "tenant_unknown")
        self.assert_denied(self.call(token=mint(claims(tenant="umbrella")), tenant="umbrella"), 403, "tenant_suspended")
        self.assert_denied(self.call(token=mint(claims(tenant="initech")), tenant="initech"), 403, "service_not_allowed")
        self.assert_denied(self.call(token=mint(claims(tenant="globex")), tenant="acme"), 403, "tenant_mismatch")
        self.assert_denied(self.call(token=mint({k: v for k, v in claims().items() if k != "tenant_id"})), 403,
                           "tenant_mismatch")
        self.assert_denied(self.call(path="/langchain/admin/x", token=mint(claims(scope="read"))), 403, "insufficient_scope")
        # globex's record caps scopes at "read", whatever the token says
        self.assert_denied(self.call(path="/langchain/admin/x", token=mint(claims(tenant="globex", scope="admin")),
                                     tenant="globex"), 403, "insufficient_scope")
        self.assertEqual(self.call(path="/langchain/admin/x", token=mint(claims(scope="admin"))).status, 200)
        self.assertEqual(len(self.backend.log()), 1)

    def test_issuer_binding(self):
        # "bound" accepts only the other IdP: a valid token from the main IdP cannot speak for it
        self.assert_denied(self.call(token=mint(claims(tenant="bound")), tenant="bound"), 403, "issuer_not_allowed")
        hs = mint(claims(tenant="bound", iss=OTHER_ISSUER), alg="HS256", kid=None, secret=HS_SECRET)
        self.assertEqual(self.call(token=hs, tenant="bound").status, 200)
        # ...and the other IdP may speak for tenants that bind nobody
        hs_acme = mint(claims(iss=OTHER_ISSUER), alg="HS256", kid=None, secret=HS_SECRET)
        self.assertEqual(self.call(token=hs_acme).status, 200)

    def test_algorithm_confusion_is_refused(self):
        # HS256 "signed" with the RSA public key of the RS256 issuer, kid of the RSA key
        pub = open(os.path.join(FIXTURES, "keys", "rs256.key.pem"), "rb").read()
        forged = mint(claims(), alg="HS256", kid="rsa-rs256", secret=pub)
        self.assert_denied(self.call(token=forged), 401, "algorithm_not_allowed")

    def test_cors_preflight_and_error_responses(self):
        pre = [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
               ("Access-Control-Request-Headers", "authorization, x-tenant-id, content-type")]
        resp = self.sidecar.request("langchain", "OPTIONS", "/langchain/v1/invoke", headers=pre)
        self.assertEqual(resp.status, 204, resp)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "https://app.example.com")
        self.assertIn("X-Tenant-ID".lower(), resp.header("Access-Control-Allow-Headers").lower())
        self.assertIn("POST", resp.header("Access-Control-Allow-Methods"))
        self.assertTrue(resp.header("Access-Control-Max-Age"))
        evil = [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")]
        resp = self.sidecar.request("langchain", "OPTIONS", "/langchain/v1/invoke", headers=evil)
        self.assertNotEqual(resp.status, 204)
        self.assertFalse([k for k, _ in resp.headers if k.lower().startswith("access-control-allow")], resp)
        bad_header = pre[:2] + [("Access-Control-Request-Headers", "x-secret-admin")]
        resp = self.sidecar.request("langchain", "OPTIONS", "/langchain/v1/invoke", headers=bad_header)
        self.assertIsNone(resp.header("Access-Control-Allow-Origin"))
        self.assertEqual(self.backend.log(), [])  # preflights are never forwarded
        # the browser can read a 401, and a 200
        resp = self.call(headers=[("Origin", "https://app.example.com")])
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "https://app.example.com")
        self.assertIn("Origin", resp.header_all("Vary"))
        resp = self.call(token=mint(claims()), headers=[("Origin", "https://app.example.com")])
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "https://app.example.com")
        resp = self.call(token=mint(claims()), headers=[("Origin", "https://evil.example")])
        self.assertIsNone(resp.header("Access-Control-Allow-Origin"))

    def test_changes_take_effect_within_a_second(self):
        token = mint(claims(tenant="globex"))
        put_key(self.redis, "globex", "psk_glx_live", "k_live")
        self.assertEqual(self.call(token=token, tenant="globex").status, 200)
        self.assertEqual(self.call(key="psk_glx_live", tenant="globex").status, 200)  # both now cached
        put_tenant(self.redis, "globex", status="suspended", services="langchain")
        started = time.monotonic()
        wait_until(lambda: self.call(token=token, tenant="globex").status == 403, ceiling_s=5, what="suspension to apply")
        self.assertLess(time.monotonic() - started, 1.0)
        put_tenant(self.redis, "globex", services="langchain")
        wait_until(lambda: self.call(token=token, tenant="globex").status == 200, ceiling_s=5, what="reactivation")
        put_key(self.redis, "globex", "psk_glx_live", "k_live", status="revoked")
        started = time.monotonic()
        wait_until(lambda: self.call(key="psk_glx_live", tenant="globex").status == 401, ceiling_s=5, what="revocation")
        self.assertLess(time.monotonic() - started, 1.0)

class NoAuthorizationForwardedTest(IdentityBase):
    policy_head = "forward_authorization: false\n"

    def test_authorization_is_not_forwarded(self):
        resp = self.call(token=mint(claims()))
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded_headers()
        self.assertNotIn("authorization", h)
        self.assertEqual(h["x-auth-subject"], ["user-1"])  # the identity still is


class WarmCacheTest(IdentityBase):
    threads = 1  # each worker thread has its own cache: one thread makes "warm" deterministic

    def test_warm_tenant_and_key_cost_no_redis_commands(self):
        put_key(self.redis, "acme", "psk_warm", "k_warm")
        token = mint(claims())
        for _ in range(2):
            self.assertEqual(self.call(key="psk_warm").status, 200)
            self.assertEqual(self.call(token=token).status, 200)
        before = self.redis.command_count("hgetall")
        for _ in range(50):
            self.assertEqual(self.call(key="psk_warm").status, 200)
            self.assertEqual(self.call(token=token).status, 200)
        self.assertEqual(self.redis.command_count("hgetall"), before)



class PausedRedisTest(IdentityBase):
    """CLIENT PAUSE: Redis is connected but answers nothing. Fresh cache entries (TTL 60 s) must
    not wait for it, and neither must public routes."""

    threads = 1  # the cache is per worker thread: with one, "warm" does not depend on which accepts

    def test_paused_redis_does_not_slow_cached_tenants(self):
        token = mint(claims())
        for _ in range(4):
            self.assertEqual(self.call(token=token).status, 200)
        self.redis.cmd("CLIENT", "PAUSE", "3000", "ALL")
        try:
            slow = []
            for _ in range(10):
                started = time.monotonic()
                self.assertEqual(self.call(path="/langchain/health").status, 200)
                slow.append(time.monotonic() - started)
                started = time.monotonic()
                resp = self.call(token=token)
                slow.append(time.monotonic() - started)
                self.assertIn(resp.status, (200,), resp)
            self.assertLess(max(slow), 0.5, slow)
        finally:
            wait_until(lambda: self.redis.cmd("PING") == "PONG", ceiling_s=30, what="redis unpaused")


class StoreOutageTest(IdentityBase):
    cache = "{ttl_s: 1, negative_ttl_s: 1, max_stale_s: 4}"
    threads = 1  # the cache is per worker thread: with one, "cached" does not depend on which accepts

    def test_redis_down_serves_cached_then_fails_closed_then_recovers(self):
        token = mint(claims())
        self.assertEqual(self.call(token=token).status, 200)
        self.redis.stop()
        stopped = time.monotonic()
        # the cached tenant keeps working past its TTL...
        self.assertEqual(self.call(token=token).status, 200)
        # ...a tenant never seen fails closed
        self.assert_denied(self.call(token=mint(claims(tenant="globex")), tenant="globex"), 503, "tenant_store_unavailable")
        # ...and past the staleness bound the cached one fails closed too
        wait_until(lambda: self.call(token=token).status == 503, ceiling_s=30, what="staleness bound")
        self.assertGreater(time.monotonic() - stopped, 3.0)
        # Redis comes back (empty: it kept nothing): service recovers without a restart
        self.redis.start()
        put_tenant(self.redis, "acme", services="langchain")
        wait_until(lambda: self.call(token=token).status == 200, ceiling_s=30, what="recovery")

class ReportOnlyTest(IdentityBase):
    mode = "report_only"

    def test_denials_are_forwarded_without_identity(self):
        resp = self.call(tenant="acme", headers=[("X-Auth-Subject", "root")])
        self.assertEqual(resp.status, 200, resp)  # would be 401: forwarded anyway
        h = self.forwarded_headers()
        self.assertNotIn("x-auth-subject", h)
        self.assertNotIn("x-tenant-id", h)
        # logged in the access log (standard output here; written in batches) and counted
        wait_until(lambda: '"decision":"report_only_deny","reason":"missing_credentials"' in self.sidecar.process.output(),
                   ceiling_s=10, what="the access-log line")
        resp = self.call(token=mint(claims()))
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.forwarded_headers()["x-auth-method"], ["jwt"])  # allowed requests keep their identity


if __name__ == "__main__":
    unittest.main()


class RedisAclTest(IntegrationTest):
    """ACL user and password from a file, a database index and a key prefix."""

    def start_with(self, password, **kw):
        pw = os.path.join(self.tmp, "redis.pass")
        with open(pw, "w") as f:
            f.write(password + "\n")
        host = """
        redis:
          url: redis://127.0.0.1:%d/3
          user: sidecar
          password_file: redis.pass
          prefix: "t1:"
          timeout_ms: 500
        jwt_issuers:
          - issuer: %s
            audiences: [platform]
            jwks_file: %s
            algorithms: [RS256]
        """ % (self.redis.port, ISSUER, os.path.join(FIXTURES, "rs256.jwks.json"))
        return self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY.format(mode="enforce")}},
                                  extra_host_yaml=host, **kw)

    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp, extra=["--user", "default", "off", "--user", "sidecar", "on", ">s3cret-pass", "~*",
                                            "&*", "+@all", "--user", "admin", "on", ">admin-pass", "~*", "&*", "+@all"])
        self.processes.append(self.redis)
        self.backend = self.start_backend()

    def admin(self, *args):
        c = self.redis.conn()
        try:
            c("AUTH", "admin", "admin-pass")
            c("SELECT", "3")
            return c(*args)
        finally:
            c.close()

    def test_acl_user_db_and_prefix(self):
        sidecar = self.start_with("s3cret-pass")
        self.admin("HSET", "t1:{acme}:tenant", "status", "active", "services", "*")
        token = mint(claims())
        resp = sidecar.request("langchain", "GET", "/langchain/x", headers=[("Authorization", "Bearer " + token),
                                                                              ("X-Tenant-ID", "acme")])
        self.assertEqual(resp.status, 200, resp)
        # invalidation goes through the prefixed channel
        self.admin("HSET", "t1:{acme}:tenant", "status", "suspended")
        self.admin("PUBLISH", "t1:invalidate", invalidation("acme"))
        wait_until(lambda: sidecar.request("langchain", "GET", "/langchain/x",
                                           headers=[("Authorization", "Bearer " + token), ("X-Tenant-ID", "acme")]).status == 403,
                   ceiling_s=5, what="suspension through t1:invalidate")
        self.assertNotIn("s3cret-pass", sidecar.process.output())

    def test_wrong_password_fails_closed_and_says_why(self):
        sidecar = self.start_with("wrong-password", wait_alive=True)
        token = mint(claims())
        resp = sidecar.request("langchain", "GET", "/langchain/x", headers=[("Authorization", "Bearer " + token),
                                                                              ("X-Tenant-ID", "acme")])
        self.assertEqual(resp.status, 503, resp)
        wait_until(lambda: "WRONGPASS" in sidecar.process.output() or "invalid username-password" in sidecar.process.output(),
                   ceiling_s=10, what="the refused AUTH to be logged")
        self.assertNotIn("wrong-password", sidecar.process.output())
        self.assertEqual(sidecar.request("langchain", "GET", "/langchain/health").status, 200)
        ready = sidecar.readiness()
        self.assertEqual(ready.status, 503, ready)
        self.assertEqual(ready.json()["status"], "not_ready")
        self.assertIn("redis: worker 0", ready.json()["waiting_for"])


class ClientGoneTest(IdentityBase):
    def test_client_that_leaves_during_a_lookup_crashes_nothing(self):
        import socket
        self.redis.cmd("CLIENT", "PAUSE", "1500", "ALL")
        token = mint(claims(tenant="globex"))
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.sidecar.ports["langchain"]), timeout=10)
            s.sendall(("GET /langchain/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Tenant-ID: globex\r\n\r\n"
                       % token).encode())
            s.close()
        wait_until(lambda: self.redis.cmd("PING") == "PONG", ceiling_s=30, what="redis unpaused")
        self.assertTrue(self.sidecar.process.running())
        wait_until(lambda: self.call(token=token, tenant="globex").status == 200, ceiling_s=10, what="service after the storm")
