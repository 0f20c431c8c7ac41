"""report_only never refuses (issue 13, item 2): every kind of denial (credentials, tenant header,
tenant unknown/suspended/mismatched/not allowed, scope, rate limit, CORS origin/method/header,
path form, unknown route) sent through a report_only service reaches the backend, as it would
with no policy, and is in the access log with its reason, in
policy_sidecar_denials_total{mode="report_only"} and (info level) in the daemon's log. The same
requests through an enforced copy of the policy are refused, which is what makes the first half
mean something."""
import json
import os
import re
import unittest

from harness import IntegrationTest, Redis, identity_host_yaml, mint, put_key, put_tenant, request, wait_until

ISSUER = "https://idp.test/"
FAR = 4102444800  # 2100-01-01
ORIGIN = "https://app.example.com"

POLICY = """
mode: %s
cors:
  allowed_origins: [https://app.example.com]
  allowed_methods: [GET, POST]
  allowed_headers: [content-type, authorization, x-api-key, x-tenant-id]
rate_limit:
  rate: 100
  mode: local
  per_service: true
routes:
  - path: /svc/health
    methods: [GET]
    auth: none
  - path: /svc/admin/**
    auth: [jwt, api_key]
    scopes: [admin]
  - path: /svc/**
    auth: [jwt, api_key]
"""


def token(tenant, **extra):
    claims = {"iss": ISSUER, "sub": "user-1", "aud": "platform", "exp": FAR, "iat": 1700000000, "tenant_id": tenant}
    claims.update(extra)
    return mint(claims)


def bearer(tenant, **extra):
    return ("Authorization", "Bearer " + token(tenant, **extra))


# case -> (method, path, headers, the reason enforce refuses it with, enforce's status)
CASES = {
    "missing_credentials": ("GET", "/svc/v1/chat", [("X-Tenant-ID", "acme")], "missing_credentials", 401),
    "bad_api_key": ("GET", "/svc/v1/chat", [("X-Api-Key", "psk_not_a_key"), ("X-Tenant-ID", "acme")], "invalid_api_key", 401),
    "bad_token": ("GET", "/svc/v1/chat", [("Authorization", "Bearer not.a.token"), ("X-Tenant-ID", "acme")], "malformed_token",
                  401),
    "tenant_header_missing": ("GET", "/svc/v1/chat", [bearer("acme")], "tenant_header_missing", 400),
    "tenant_unknown": ("GET", "/svc/v1/chat", [bearer("nobody"), ("X-Tenant-ID", "nobody")], "tenant_unknown", 403),
    "tenant_mismatch": ("GET", "/svc/v1/chat", [bearer("acme"), ("X-Tenant-ID", "globex")], "tenant_mismatch", 403),
    "tenant_suspended": ("GET", "/svc/v1/chat", [bearer("umbrella"), ("X-Tenant-ID", "umbrella")], "tenant_suspended", 403),
    "service_not_allowed": ("GET", "/svc/v1/chat", [bearer("narrow"), ("X-Tenant-ID", "narrow")], "service_not_allowed", 403),
    "scope": ("GET", "/svc/admin/users", [bearer("acme", scope="read"), ("X-Tenant-ID", "acme")], "insufficient_scope", 403),
    "cors_origin": ("OPTIONS", "/svc/v1/chat", [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")],
                    "cors_not_allowed", 403),
    "cors_header": ("OPTIONS", "/svc/v1/chat", [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST"),
                                                ("Access-Control-Request-Headers", "content-type, x-secret-admin")],
                    "cors_not_allowed", 403),
    "cors_method": ("OPTIONS", "/svc/v1/chat", [("Origin", ORIGIN), ("Access-Control-Request-Method", "DELETE")],
                    "cors_not_allowed", 403),
    "path_rejected": ("GET", "/svc/v1;x/chat", [bearer("acme"), ("X-Tenant-ID", "acme")], "path_rejected", 400),
    "no_route": ("GET", "/elsewhere/x", [bearer("acme"), ("X-Tenant-ID", "acme")], "no_route", 404),
}
# rate_limited needs a tenant whose budget runs out: sent until it does (below)
RATE_LIMITED = ("GET", "/svc/v1/chat", [bearer("tiny"), ("X-Tenant-ID", "tiny")])


class ReportOnlyNeverRefusesTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        self.log_path = os.path.join(self.tmp, "access.log")
        host = identity_host_yaml(self.redis.port, "access_log: %s" % self.log_path)
        self.sidecar = self.start_sidecar({"ro": {"upstream_port": self.backend.port, "policy": POLICY % "report_only"},
                                           "enf": {"upstream_port": self.backend.port, "policy": POLICY % "enforce"}},
                                          extra_host_yaml=host)
        put_tenant(self.redis, "acme", services="*", scopes="*")
        put_tenant(self.redis, "globex", services="*")
        put_tenant(self.redis, "umbrella", status="suspended")
        put_tenant(self.redis, "narrow", services="tools")  # may use neither ro nor enf
        put_tenant(self.redis, "tiny", services="*", rate=1, burst=1)  # one request, then one per second
        put_key(self.redis, "acme", "psk_acme_real", "k_acme")

    def send(self, service, case, spec):
        method, path, headers = spec[:3]
        sep = "&" if "?" in path else "?"
        return self.sidecar.request(service, method, path + sep + "case=" + case, headers=headers)

    def backend_cases(self):
        cases = []
        for rec in self.backend.log():
            m = re.search(r"[?&]case=([a-z_]+)", rec["path"])
            if m:
                cases.append((rec["method"], m.group(1), rec))
        return cases

    def access_lines(self, service):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        return [l for l in lines if l["service"] == service]

    def denials(self, service, mode):
        """policy_sidecar_denials_total for one service and mode, as {reason: count}."""
        text = request(self.sidecar.admin_port, "GET", "/metrics").body.decode()
        pattern = re.compile(r'^policy_sidecar_denials_total\{service="%s",reason="([a-z_]+)",mode="%s"\} (\d+)$' % (service, mode),
                             re.M)
        return {reason: int(n) for reason, n in pattern.findall(text) if int(n) != 0}

    def exhaust_rate_limit(self, service, counted):
        """Sends the tiny tenant's request until a rate_limited denial is counted."""
        sent = []

        def limited():
            sent.append(self.send(service, "rate_limited", RATE_LIMITED))
            return counted()
        wait_until(limited, ceiling_s=20, what="a rate_limited denial on %s" % service, interval_s=0)
        return sent

    def test_report_only_forwards_logs_and_counts_every_denial(self):
        for case, spec in CASES.items():
            resp = self.send("ro", case, spec)
            # answered by the backend (the echo), as with no policy: never the sidecar's refusal
            self.assertEqual(resp.status, 200, "%s: %r" % (case, resp))
            self.assertEqual(resp.header("X-Backend"), "test", case)
            # a forwarded preflight is the backend's to answer: no CORS header of the sidecar's
            self.assertIsNone(resp.header("Access-Control-Allow-Origin"), case)
        sent = self.exhaust_rate_limit("ro", lambda: self.denials("ro", "report_only").get("rate_limited", 0) >= 1)
        self.assertTrue(all(r.status == 200 for r in sent), sent)

        # the backend received every one of them, without any trusted identity header
        received = self.backend_cases()
        self.assertEqual(sorted(set(CASES) | {"rate_limited"}), sorted({c for _, c, _ in received}))
        for method, case, rec in received:
            if case in CASES:
                self.assertEqual(method, CASES[case][0], case)
                names = {k.lower() for k, _ in rec["headers"]}
                self.assertFalse({"x-auth-subject", "x-auth-method", "x-auth-scopes"} & names, (case, rec["headers"]))

        # the access log has each one, with its reason
        expected = {case: spec[3] for case, spec in CASES.items()}
        expected["rate_limited"] = "rate_limited"

        def logged():
            found = {}
            for line in self.access_lines("ro"):
                m = re.search(r"(?:^|&)case=([a-z_]+)", line.get("query") or "")
                if m and line["decision"] == "report_only_deny":
                    found.setdefault(m.group(1), set()).add(line["reason"])
            return all(reason in found.get(case, ()) for case, reason in expected.items()) and found
        found = wait_until(logged, ceiling_s=10, what="every would-deny in the access log")
        for case, reason in expected.items():
            self.assertIn(reason, found[case], case)

        # and the metric counts each reason, in report_only mode only
        def counted():
            got = self.denials("ro", "report_only")
            return all(got.get(reason, 0) >= 1 for reason in expected.values()) and got
        got = wait_until(counted, ceiling_s=10, what="every reason in policy_sidecar_denials_total")
        self.assertEqual(got["cors_not_allowed"], 3)
        self.assertEqual(self.denials("ro", "enforce"), {})

        # the daemon's log has the decisions at info level (throttled: the first ones at least)
        out = wait_until(lambda: re.findall(r" info: report_only: service ro would answer (\d+) ([a-z_]+) ",
                                            self.sidecar.process.output()), ceiling_s=10, what="report_only lines")
        self.assertIn(("401", "missing_credentials"), out)

    def test_enforce_refuses_the_same_requests(self):
        for case, spec in CASES.items():
            resp = self.send("enf", case, spec)
            self.assertEqual(resp.status, spec[4], "%s: %r" % (case, resp))
            self.assertEqual(resp.json()["reason"], spec[3], case)
            self.assertIsNone(resp.header("X-Backend"), case)
            if spec[3] == "cors_not_allowed":
                self.assertFalse([k for k, _ in resp.headers if k.lower().startswith("access-control-allow")], resp)
        sent = self.exhaust_rate_limit("enf", lambda: self.denials("enf", "enforce").get("rate_limited", 0) >= 1)
        self.assertIn(429, [r.status for r in sent], sent)
        # the backend saw only the rate-limited tenant's allowed request(s), nothing refused
        received = {c for _, c, _ in self.backend_cases()}
        self.assertEqual(received, {"rate_limited"})
        self.assertEqual(sum(1 for _, c, _ in self.backend_cases()), sum(1 for r in sent if r.status == 200))

        # enforced CORS refusals are denials too: logged with their reason and counted
        def counted():
            got = self.denials("enf", "enforce")
            return got.get("cors_not_allowed") == 3 and got
        wait_until(counted, ceiling_s=10, what="cors_not_allowed counted in enforce mode")
        lines = wait_until(lambda: [l for l in self.access_lines("enf") if l["reason"] == "cors_not_allowed"], ceiling_s=10,
                           what="the enforced CORS refusals in the access log")
        self.assertTrue(all(l["decision"] == "deny" and l["status"] == 403 for l in lines), lines)

    def test_allowed_preflight_and_allowed_request_are_unchanged(self):
        # report_only answers an allowed preflight like enforce does, and forwards an allowed
        # request with its identity
        pre = [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST"),
               ("Access-Control-Request-Headers", "content-type, x-tenant-id")]
        for service in ("ro", "enf"):
            resp = self.sidecar.request(service, "OPTIONS", "/svc/v1/chat", headers=pre)
            self.assertEqual(resp.status, 204, resp)
            self.assertEqual(resp.header("Access-Control-Allow-Origin"), ORIGIN)
            resp = self.sidecar.request(service, "GET", "/svc/v1/chat?case=allowed", headers=[bearer("acme"),
                                                                                                   ("X-Tenant-ID", "acme")])
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json()["method"], "GET")
        self.assertEqual([m for m, c, _ in self.backend_cases()], ["GET", "GET"])  # the preflights were answered here
        self.assertEqual(self.denials("ro", "report_only"), {})


if __name__ == "__main__":
    unittest.main()
