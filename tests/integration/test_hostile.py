"""Hostile input of issue 10 over real HTTP: one reading of the path for the policy and the
backend, the headers a backend must never receive from a client, a uniform answer for another
tenant's X-Tenant-ID, and no unverified Authorization next to an API key."""
import os
import socket
import subprocess
import unittest

from harness import FIXTURES, SIDECAR, IntegrationTest, put_key
from test_identity import IdentityBase, claims, mint


def raw_exchange(port, data, timeout=30):
    """Sends raw bytes on a fresh connection and returns everything read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


class PathTest(IdentityBase):
    def test_every_form_of_the_admin_path_is_judged_as_admin(self):
        read = mint(claims(scope="read"))
        for path in ("/langchain//admin/users", "/langchain/./admin/users", "/langchain/x/../admin/users",
                     "/langchain/%61dmin/users", "/langchain/health/%2e%2e/admin/users", "//langchain/admin/users"):
            self.assert_denied(self.call(path=path, token=read), 403, "insufficient_scope")
        for path in ("/langchain/admin;x/users", "/langchain%5cadmin/users", "/langchain\\admin\\users",
                     "/langchain/health/..%2Fadmin/users", "/langchain%2Fadmin/users"):
            self.assert_denied(self.call(path=path, token=read), 400, "path_rejected")
        self.assertEqual(self.backend.log(), [])
        # the backend receives the path the policy judged (strip_prefix applies to it)
        resp = self.call(path="/langchain/v1//a/./b/../c?x=%2F", token=read)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.backend.log()[-1]["path"], "/v1/a/c?x=%2F")

    def test_case_sensitive_backend_gets_the_case_it_was_judged_in(self):
        resp = self.call(path="/langchain/Admin/users", token=mint(claims(scope="read")))
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.backend.log()[-1]["path"], "/Admin/users")

    def test_rerouting_headers_never_reach_the_backend(self):
        hostile = [("X-Original-URL", "/langchain/admin"), ("X-Rewrite-URL", "/admin"), ("X-HTTP-Method-Override", "DELETE"),
                   ("X-Forwarded-Host", "evil"), ("Forwarded", "host=evil"), ("X-Real-IP", "10.0.0.1"),
                   ("X-Auth-A", "1"), ("x-auth-i", "1")]
        self.assertEqual(self.call(path="/langchain/health", tenant=None, headers=hostile).status, 200)
        self.assertEqual(self.call(token=mint(claims()), headers=hostile).status, 200)
        for rec in self.backend.log():
            names = {k.lower() for k, _ in rec["headers"]}
            for name, _ in hostile:
                self.assertNotIn(name.lower(), names)


class CaseInsensitiveBackendTest(IdentityBase):
    policy_head = "path_case_insensitive: true\n"

    def test_case_variants_are_judged_as_the_route(self):
        read = mint(claims(scope="read"))
        for path in ("/langchain/Admin/users", "/LANGCHAIN/ADMIN/users", "/Langchain//aDmin/x"):
            self.assert_denied(self.call(path=path, token=read), 403, "insufficient_scope")
        self.assertEqual(self.call(path="/LangChain/Admin/users", token=mint(claims(scope="admin"))).status, 200)
        self.assertEqual(self.backend.log()[-1]["path"], "/Admin/users")


class NormalizingPolicyTest(IdentityBase):
    policy_head = "path_unusual: normalize\n"

    def test_unusual_forms_are_normalised_not_refused(self):
        read = mint(claims(scope="read"))
        for path in ("/langchain/admin;x/users", "/langchain%5cadmin/users", "/langchain/health/..%2Fadmin/users"):
            self.assert_denied(self.call(path=path, token=read), 403, "insufficient_scope")
        resp = self.call(path="/langchain/v1;jsessionid=1/x", token=read)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.backend.log()[-1]["path"], "/v1/x")


class HeaderTest(IdentityBase):
    def test_short_auth_names_are_not_forwarded(self):
        port = self.sidecar.ports["langchain"]
        req = (b"GET /langchain/health HTTP/1.1\r\nHost: x\r\nX-Auth-A: 1\r\nX-Auth-: 2\r\nx-auth-i: 3\r\n"
               b"X-Custom: visible\r\nConnection: close\r\n\r\n")
        resp = raw_exchange(port, req)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp[:200])
        rec = self.backend.log()[-1]
        self.assertIn(["x-custom", "visible"], [[k.lower(), v] for k, v in rec["headers"]])
        for name, _ in rec["headers"]:
            self.assertFalse(name.lower().startswith("x-auth"), rec)

    def test_an_obs_fold_line_is_refused(self):
        port = self.sidecar.ports["langchain"]
        req = (b"GET /langchain/health HTTP/1.1\r\nHost: x\r\nX-Custom: visible\r\n folded-evil: 4\r\n"
               b"Connection: close\r\n\r\n")
        resp = raw_exchange(port, req)
        self.assertTrue(resp.startswith(b"HTTP/1.1 400"), resp[:200])
        self.assertIn(b'"error":"bad_request"', resp)
        self.assertEqual(self.backend.log(), [])

    def test_api_key_request_does_not_forward_an_unverified_authorization(self):
        put_key(self.redis, "acme", "psk_test_acme_h", "k_acmeh", scopes="read")
        resp = self.call(key="psk_test_acme_h", headers=[("Authorization", "Basic Zm9yZ2VkOmZvcmdlZA==")])
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn("authorization", self.forwarded_headers())
        self.assertEqual(self.forwarded_headers()["x-auth-method"], ["api_key"])

    def test_another_tenants_state_is_not_revealed(self):
        token = mint(claims(tenant="acme"))
        bodies = set()
        for other in ("nobody", "umbrella", "initech", "globex", "bound"):
            body = self.assert_denied(self.call(token=token, tenant=other), 403, "tenant_mismatch")
            bodies.add((body["error"], body["reason"], body["message"]))
        self.assertEqual(len(bodies), 1, bodies)


class FailureBudgetTest(IdentityBase):
    threads = 1
    host_head = "auth_failure_limit: {per_client_rate: 1, per_client_burst: 3, total_rate: 1000, total_burst: 1000}\n"

    def test_a_client_that_keeps_failing_is_refused_before_any_check(self):
        forged = mint(claims())[:-8] + "AAAAAAAA"  # a known key, a signature that does not verify
        for _ in range(3):
            self.assert_denied(self.call(token=forged), 401, "bad_signature")
        resp = self.call(token=mint(claims()))  # even a valid token: nothing is checked for now
        self.assert_denied(resp, 429, "auth_failures")
        self.assertGreaterEqual(int(resp.header("Retry-After")), 1)
        self.assertEqual(self.call(path="/langchain/health", tenant=None).status, 200)  # public routes are not gated
        self.assertEqual([r["path"] for r in self.backend.log()], ["/health"])


class FailureBudgetBehindGatewayTest(IdentityBase):
    """Behind a trusted gateway, failures are charged to the caller it names, not to the gateway:
    one caller that keeps failing must not lock out the others (issue 13, item 3)."""
    threads = 1
    host_head = ("auth_failure_limit: {per_client_rate: 1, per_client_burst: 3, total_rate: 1000, total_burst: 1000}\n"
                 "trusted_proxies: {cidrs: [127.0.0.1/32]}\n")

    def via_gateway(self, caller, token):
        return self.call(token=token, headers=[("X-Forwarded-For", caller)])

    def test_a_failing_caller_does_not_lock_out_the_others(self):
        forged = mint(claims())[:-8] + "AAAAAAAA"
        for _ in range(3):
            self.assert_denied(self.via_gateway("198.51.100.7", forged), 401, "bad_signature")
        self.assert_denied(self.via_gateway("198.51.100.7", mint(claims())), 429, "auth_failures")
        # another caller through the same gateway is checked as usual
        self.assertEqual(self.via_gateway("203.0.113.9", mint(claims())).status, 200)
        # a caller cannot escape its budget by naming another address: the gateway appends the real
        # one, and that right-most entry is the one charged
        self.assert_denied(self.via_gateway("203.0.113.9, 198.51.100.7", mint(claims())), 429, "auth_failures")


class ServiceAudienceTest(IdentityBase):
    audiences = "[platform, langchain, tools]"
    policy_head = "audiences: [langchain]\n"

    def test_a_token_for_another_service_is_refused(self):
        self.assert_denied(self.call(token=mint(claims(aud="tools"))), 401, "audience_mismatch")
        self.assert_denied(self.call(token=mint(claims(aud="platform"))), 401, "audience_mismatch")
        self.assertEqual(self.call(token=mint(claims(aud="langchain"))).status, 200)
        self.assertEqual(self.call(token=mint(claims(aud=["tools", "langchain"]))).status, 200)


class IssuersDefaultNoneTest(IdentityBase):
    host_head = "tenant_issuers_default: none\n"

    def test_a_tenant_without_issuers_accepts_no_jwt(self):
        self.assert_denied(self.call(token=mint(claims())), 403, "issuer_not_allowed")
        put_key(self.redis, "acme", "psk_test_acme_n", "k_acmen", scopes="read")
        self.assertEqual(self.call(key="psk_test_acme_n").status, 200)  # API keys are not concerned


class ConfigCheckTest(IntegrationTest):
    def check(self, host):
        path = os.path.join(self.tmp, "sidecar.yaml")
        with open(os.path.join(self.tmp, "p.yaml"), "w") as f:
            f.write("audiences: [langchain]\nroutes:\n  - path: /**\n    auth: jwt\n")
        with open(path, "w") as f:
            f.write(host)
        p = subprocess.run([SIDECAR, "-c", path, "--check"], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr

    HOST = """redis:
  url: redis://127.0.0.1:6379/0
jwt_issuers:
  - issuer: https://idp.test/
    audiences: [%s]
    algorithms: [HS256]
    hmac_secret_file: %s
services:
  - name: langchain
    listen: 127.0.0.1:1
    upstream: http://127.0.0.1:2
    policy: p.yaml
"""

    def test_a_public_key_as_hmac_secret_is_refused(self):
        pub = os.path.join(self.tmp, "pub.pem")
        subprocess.run(["openssl", "pkey", "-in", os.path.join(FIXTURES, "keys", "rs256.key.pem"), "-pubout", "-out", pub],
                       check=True, capture_output=True)
        rc, err = self.check(self.HOST % ("langchain", pub))
        self.assertEqual(rc, 2, err)
        self.assertIn("sidecar.yaml:7: jwt_issuers[0].hmac_secret_file", err)
        self.assertIn("PEM", err)
        secret = os.path.join(self.tmp, "hs.secret")
        with open(secret, "w") as f:
            f.write("s" * 40)
        self.assertEqual(self.check(self.HOST % ("langchain", secret)), (0, ""))
        # a service audience no issuer lists is a mistake
        rc, err = self.check(self.HOST % ("platform", secret))
        self.assertEqual(rc, 2, err)
        self.assertIn("services[0]", err)
        self.assertIn('"langchain" is not an audience', err)


if __name__ == "__main__":
    unittest.main()
