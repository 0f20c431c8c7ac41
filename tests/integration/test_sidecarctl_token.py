"""sidecarctl token sign (issue 11) against a running sidecar: a token minted by the tool for a
configured issuer, read from the sidecar's own host file (-c), is accepted (200, with the identity
it carries forwarded); one signed with another key or secret is refused (401). Keys and secrets
are the fixtures' (tests/fixtures/jwt)."""
import json
import os
import unittest

from harness import BUILD_DIR, FIXTURES, IntegrationTest, Redis, run_cli

SIDECARCTL = os.path.join(BUILD_DIR, "sidecarctl")
RS_ISSUER = "https://idp.test/"
HS_ISSUER = "https://hs.idp.test/"
RS_KEY = os.path.join(FIXTURES, "keys", "rs256.key.pem")  # its public half is rs256.jwks.json's rsa-rs256
OTHER_RS_KEY = os.path.join(FIXTURES, "keys", "rs256-next.key.pem")  # not in rs256.jwks.json
HS_SECRET = os.path.join(FIXTURES, "hs256.secret")
OTHER_SECRET = os.path.join(FIXTURES, "hs384.secret")

POLICY = """
mode: enforce
strip_prefix: /langchain
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/admin/**
    auth: jwt
    scopes: [admin]
  - path: /langchain/**
    auth: jwt
"""


class TokenSignTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        host = """
        redis:
          url: redis://127.0.0.1:%d/0
          timeout_ms: 500
        jwt_issuers:
          - issuer: %s
            audiences: [platform]
            jwks_file: %s
            algorithms: [RS256]
          - issuer: %s
            audiences: [platform]
            hmac_secret_file: %s
            algorithms: [HS256]
            tenant_claim: org
        """ % (self.redis.port, RS_ISSUER, os.path.join(FIXTURES, "rs256.jwks.json"), HS_ISSUER, HS_SECRET)
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=host)
        self.ctl_ok("tenant", "create", "acme", "--services", "langchain")

    def ctl(self, *args):
        # no default host file: only -c says where the issuers are
        env = {"LOGNAME": "token-test", "SIDECARCTL_DEFAULT_CONFIG": os.path.join(self.tmp, "no-default.yaml")}
        return run_cli([SIDECARCTL, "-c", self.sidecar.config_path] + list(args), env=env)

    def ctl_ok(self, *args):
        rc, out, err = self.ctl(*args)
        self.assertEqual(rc, 0, "sidecarctl %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def sign(self, *args):
        """A token: stdout is the token and a newline, nothing else."""
        out = self.ctl_ok("token", "sign", *args)
        self.assertRegex(out, r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$")
        return out.strip()

    def call(self, token, path="/langchain/v1/invoke", tenant="acme"):
        return self.sidecar.request("langchain", "GET", path,
                                    headers=[("Authorization", "Bearer " + token), ("X-Tenant-ID", tenant)])

    def forwarded(self):
        return {k.lower(): v for k, v in self.backend.log()[-1]["headers"]}

    def test_rs256_token_is_accepted(self):
        token = self.sign("--issuer", RS_ISSUER, "--key-file", RS_KEY, "--tenant", "acme", "--sub", "alice",
                          "--scopes", "read,write")
        resp = self.call(token)
        self.assertEqual(resp.status, 200, resp)
        h = self.forwarded()
        self.assertEqual(h["x-tenant-id"], "acme")
        self.assertEqual(h["x-auth-subject"], "alice")
        self.assertEqual(h["x-auth-method"], "jwt")
        self.assertEqual(h["x-auth-scopes"], "read write")

    def test_hs256_token_follows_the_issuer(self):
        # the issuer's tenant claim ("org") and algorithm come from the host file
        out = self.ctl_ok("--json", "token", "sign", "--issuer", HS_ISSUER, "--key-file", HS_SECRET, "--tenant", "acme",
                          "--scopes", "admin")
        doc = json.loads(out)
        self.assertEqual((doc["alg"], doc["kid"]), ("HS256", None))
        resp = self.call(doc["token"], path="/langchain/admin/users")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.forwarded()["x-tenant-id"], "acme")

    def test_scopes_are_checked(self):
        token = self.sign("--issuer", RS_ISSUER, "--key-file", RS_KEY, "--tenant", "acme", "--scopes", "read")
        resp = self.call(token, path="/langchain/admin/users")
        self.assertEqual(resp.status, 403, resp)
        self.assertEqual(resp.json()["reason"], "insufficient_scope")

    def test_wrong_key_is_refused(self):
        # signed all the same (a test may want the 401), with a warning
        rc, out, err = self.ctl("token", "sign", "--issuer", RS_ISSUER, "--key-file", OTHER_RS_KEY, "--tenant", "acme")
        self.assertEqual(rc, 0, err)
        self.assertIn("sidecarctl: warning: --key-file matches none of the keys configured for %s" % RS_ISSUER, err)
        resp = self.call(out.strip())
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.json()["reason"], "bad_signature")

        rc, out, err = self.ctl("token", "sign", "--issuer", HS_ISSUER, "--key-file", OTHER_SECRET, "--alg", "HS256",
                                "--tenant", "acme")
        self.assertEqual(rc, 0, err)
        self.assertIn("warning", err)
        resp = self.call(out.strip())
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.json()["reason"], "bad_signature")

    def test_usage_errors_exit_2_and_never_print_the_key(self):
        with open(HS_SECRET) as f:
            secret = f.read().strip()
        cases = [
            (["--issuer", "https://unknown.test/", "--key-file", RS_KEY, "--tenant", "acme"], "not an issuer of the host file"),
            (["--issuer", RS_ISSUER, "--key-file", HS_SECRET, "--tenant", "acme"], "the issuer allows RS256"),
            (["--issuer", HS_ISSUER, "--key-file", RS_KEY, "--tenant", "acme", "--alg", "HS256"], "does not suit"),
            (["--issuer", RS_ISSUER, "--key-file", RS_KEY], "--tenant is required"),
        ]
        for args, message in cases:
            rc, out, err = self.ctl("token", "sign", *args)
            self.assertEqual(rc, 2, (args, err))
            self.assertEqual(out, "")
            self.assertTrue(err.startswith("sidecarctl: ") and err.count("\n") == 1, err)
            self.assertIn(message, err)
            self.assertNotIn(secret, err)
            self.assertNotIn("PRIVATE KEY", err)


if __name__ == "__main__":
    unittest.main()
