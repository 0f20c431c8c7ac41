"""Keys from the identity provider (issue 12): discovery and key fetch at start, rotation without
reload, a failing provider, start-up from the cache file, an unknown-kid storm, refused
discovery documents and redirects, and Cognito-shaped access and ID tokens. The provider is a
stand-in served over HTTPS by the suite itself (idp.py, certificates from certs/)."""
import base64
import http.client
import json
import os
import random
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
import time
import unittest

from harness import (FIXTURES, HERE, SIDECAR, IntegrationTest, Process, Redis, free_port, mint, port_open, put_tenant, request,
                     wait_until, write)

FAR = 4102444800  # 2100-01-01
CLIENT_ID = "6j8example"
OLD_KEY = os.path.join(FIXTURES, "keys", "rs256.key.pem")
NEW_KEY = os.path.join(FIXTURES, "keys", "rs256-next.key.pem")

with open(os.path.join(FIXTURES, "jwks.json")) as f:
    JWKS = {k["kid"]: k for k in json.load(f)["keys"] if k.get("kid") in ("rsa-rs256", "rsa-rs256-next")}

POLICY = """
routes:
  - path: /svc/read/**
    auth: jwt
    scopes: [langchain/read]
  - path: /svc/admin/**
    auth: jwt
    scopes: [admin]
  - path: /svc/billing/**
    auth: jwt
    scopes: [billing]
  - path: /svc/**
    auth: jwt
"""


class Provider:
    """idp.py on a free port, with a client for its control endpoints."""

    def __init__(self, log_dir, certs):
        self.port = free_port()
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.process = Process("idp-%d" % self.port, [sys.executable, os.path.join(HERE, "idp.py"), str(self.port),
                                                      os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")],
                               log_dir)
        wait_until(lambda: port_open(self.port), what="provider on port %d" % self.port)
        self.issuer = "https://localhost:%d/pool" % self.port

    def call(self, method, path, body=None):
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.ctx, timeout=30)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def set(self, **state):
        self.call("POST", "/__control", state)

    def serve(self, *kids):
        self.set(keys=[JWKS[k] for k in kids], mode="ok")

    def stats(self):
        return self.call("GET", "/__stats")

    def stop(self):
        self.process.stop()


def fake_token(iss, kid):
    """A token whose kid nobody knows: refused before its (absent) signature is looked at."""
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (seg({"alg": "RS256", "typ": "JWT", "kid": kid}), seg({"iss": iss, "exp": FAR}), "c2ln")


class RemoteKeysBase(IntegrationTest):
    min_refresh_s = 30

    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        subprocess.run([os.path.join(os.path.dirname(HERE), "..", "certs", "make-dev-certs.sh"), self.certs], check=True,
                       capture_output=True)
        self.provider = Provider(self.tmp, self.certs)
        self.processes.append(self.provider)
        self.provider.serve("rsa-rs256")
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        put_tenant(self.redis, "acme", scopes="*")
        self.cache_file = os.path.join(self.tmp, "cognito.jwks.json")

    def issuer_yaml(self, source="discovery: true", cache=True, extra="", host_extra=""):
        return host_extra + """
        redis:
          url: redis://127.0.0.1:%d/0
          timeout_ms: 500
        jwt_issuers:
          - issuer: %s
            %s
            ca_file: %s
            %s
            algorithms: [RS256]
            audiences: [%s]
            client_ids: [%s]
            tenant_claim: custom:tenant_id
            scopes_claims: [scope, "cognito:groups"]
            jwks_min_refresh_s: %d
            jwks_fetch_timeout_ms: 1000
            %s
        """ % (self.redis.port, self.provider.issuer, source, os.path.join(self.certs, "ca.crt"),
               "jwks_cache_file: %s" % self.cache_file if cache else "", CLIENT_ID, CLIENT_ID, self.min_refresh_s, extra)

    def start(self, wait_ready=True, **kw):
        self.sidecar = self.start_sidecar({"svc": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=self.issuer_yaml(**kw), wait_ready=wait_ready)
        return self.sidecar

    def id_token(self, kid="rsa-rs256", key=OLD_KEY, **extra):
        c = {"iss": self.provider.issuer, "sub": "user-1", "aud": CLIENT_ID, "token_use": "id", "exp": FAR,
             "custom:tenant_id": "acme"}
        c.update(extra)
        return mint(c, kid=kid, key_file=key)

    def access_token(self, kid="rsa-rs256", key=OLD_KEY, **extra):
        c = {"iss": self.provider.issuer, "sub": "user-1", "client_id": CLIENT_ID, "token_use": "access",
             "scope": "langchain/read", "exp": FAR, "custom:tenant_id": "acme"}
        c.update(extra)
        return mint(c, kid=kid, key_file=key)

    def call(self, token, path="/svc/x"):
        return self.sidecar.request("svc", "GET", path, headers=[("Authorization", "Bearer " + token),
                                                                 ("X-Tenant-ID", "acme")])

    def assert_status(self, resp, status, reason=None):
        self.assertEqual(resp.status, status, resp)
        if reason is not None:
            self.assertEqual(resp.json()["reason"], reason, resp)

    def metric(self, name, **labels):
        text = request(self.sidecar.admin_port, "GET", "/metrics").body.decode()
        want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels.items())) if labels else name
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    def refreshes(self, result):
        return self.metric("policy_sidecar_jwks_refreshes_total", issuer=self.provider.issuer, result=result)


class StartupTest(RemoteKeysBase):
    def test_discovery_and_key_fetch_at_start(self):
        self.start()
        self.assertEqual(self.provider.stats(), {"discovery": 1, "jwks": 1, "moved": 0})
        self.assert_status(self.call(self.id_token()), 200)
        self.assertEqual(self.refreshes("success"), 1)
        self.assertEqual(self.refreshes("failure"), 0)
        self.assertEqual(self.metric("policy_sidecar_jwks_keys", issuer=self.provider.issuer), 1)
        self.assertIsNotNone(self.metric("policy_sidecar_jwks_age_seconds", issuer=self.provider.issuer))
        # the last good set is on disk, readable (public keys), and is what the provider served
        with open(self.cache_file) as f:
            self.assertEqual(json.load(f), {"keys": [JWKS["rsa-rs256"]]})
        self.assertEqual(stat.S_IMODE(os.stat(self.cache_file).st_mode), 0o644)
        self.assertIn("1 key(s) fetched from %s (discovery)" % self.provider.issuer, self.sidecar.process.output())

    def test_provider_down_at_start_starts_from_the_cache_file(self):
        self.start()
        self.sidecar.stop()
        self.provider.set(mode="500")
        self.start()
        self.assert_status(self.call(self.id_token()), 200)
        self.assertIn("starting from jwks_cache_file %s" % self.cache_file, self.sidecar.process.output())
        self.assertEqual(self.refreshes("failure"), 1)

    def test_provider_down_without_cache_file_stops_the_start(self):
        self.provider.set(mode="500")
        sidecar = self.start(wait_ready=False, cache=False)
        self.assertEqual(sidecar.process.wait(), 1)
        out = sidecar.process.output()
        self.assertIn("jwt issuer %s: cannot fetch its keys from %s (discovery): GET https://localhost:%d/pool/jwks.json: HTTP 500"
                      % (self.provider.issuer, self.provider.issuer, self.provider.port), out)
        self.assertIn("no jwks_cache_file is configured", out)

    def test_discovery_document_for_another_issuer_is_refused(self):
        self.provider.set(issuer="https://evil.example/pool")
        sidecar = self.start(wait_ready=False, cache=False)
        self.assertEqual(sidecar.process.wait(), 1)
        self.assertIn('its "issuer" is not "%s"' % self.provider.issuer, sidecar.process.output())
        self.assertEqual(self.provider.stats()["jwks"], 0)  # its jwks_uri was not used

    def test_redirect_is_refused(self):
        sidecar = self.start(wait_ready=False, cache=False,
                             source="jwks_uri: https://localhost:%d/moved/jwks.json" % self.provider.port)
        self.assertEqual(sidecar.process.wait(), 1)
        self.assertIn("HTTP 302: redirects are refused", sidecar.process.output())
        self.assertEqual(self.provider.stats(), {"discovery": 0, "jwks": 0, "moved": 1})

    def test_untrusted_certificate_is_refused(self):
        # without ca_file the system CAs apply, and the development CA is not one of them
        yaml = self.issuer_yaml(cache=False).replace("ca_file: %s" % os.path.join(self.certs, "ca.crt"), "")
        sidecar = self.start_sidecar({"svc": {"upstream_port": self.backend.port, "policy": POLICY}}, extra_host_yaml=yaml,
                                     wait_ready=False)
        self.assertEqual(sidecar.process.wait(), 1)
        self.assertIn("certificate", sidecar.process.output())
        self.assertEqual(self.provider.stats()["discovery"], 0)  # no request was sent over the refused connection

    def check(self, issuer_yaml):
        """policy-sidecar --check on a host file with these issuer settings: (status, stderr)."""
        write(os.path.join(self.tmp, "policy.yaml"), POLICY)
        path = os.path.join(self.tmp, "check.yaml")
        with open(path, "w") as f:
            f.write("admin_listen: 127.0.0.1:%d\n%sservices:\n  - name: svc\n    listen: 127.0.0.1:%d\n"
                    "    upstream: http://127.0.0.1:%d\n    policy: policy.yaml\n"
                    % (free_port(), textwrap.dedent(issuer_yaml), free_port(), self.backend.port))
        p = subprocess.run([SIDECAR, "-c", path, "--check"], capture_output=True, text=True)
        return p.returncode, p.stderr

    def test_check_validates_the_new_keys(self):
        self.assertEqual(self.check(self.issuer_yaml()), (0, ""))
        cases = [
            ("jwks_uri: http://localhost/keys", "jwks_uri: \"http://localhost/keys\" is not an https:// URL"),
            ("discovery: true\n            jwks_uri: https://localhost/keys", "give jwks_uri or discovery: true, not both"),
            ("discovery: true\n            token_use: both", "token_use: \"both\": use id, access or any"),
            ("discovery: true\n            jwks_refresh_s: 10", "jwks_min_refresh_s: must not exceed jwks_refresh_s (10)"),
        ]
        for source, expected in cases:
            status, stderr = self.check(self.issuer_yaml(source=source))
            self.assertEqual(status, 2, (source, stderr))
            self.assertIn(expected, stderr)
            self.assertIn("check.yaml:", stderr)
        status, stderr = self.check(self.issuer_yaml().replace('scopes_claims: [scope, "cognito:groups"]',
                                                               "scopes_claims: [scope, exp]"))
        self.assertEqual(status, 2, stderr)
        self.assertIn('check.yaml:15: jwt_issuers[0].scopes_claims[1]: "exp" is a claim with a meaning of its own: it cannot '
                      'hold scopes', stderr)
        self.assertEqual(self.provider.stats()["discovery"], 0)  # --check does not touch the network


class CognitoTokensTest(RemoteKeysBase):
    def setUp(self):
        super().setUp()
        self.start()

    def test_access_token_with_scope(self):
        token = self.access_token()
        self.assert_status(self.call(token, "/svc/read/doc"), 200)
        self.assertEqual(self.backend.log()[-1]["path"], "/svc/read/doc")
        self.assert_status(self.call(token, "/svc/admin/x"), 403, "insufficient_scope")
        # another app client's token, or one without client_id, is not for us
        self.assert_status(self.call(self.access_token(client_id="other-client")), 401, "audience_mismatch")
        self.assert_status(self.call(self.access_token(client_id=None)), 401, "malformed_token")
        self.assert_status(self.call(self.access_token(token_use="refresh")), 401, "token_use_mismatch")

    def test_id_token_with_groups(self):
        token = self.id_token(**{"cognito:groups": ["admin"]})
        self.assert_status(self.call(token, "/svc/admin/users"), 200)
        self.assert_status(self.call(token, "/svc/billing/invoices"), 403, "insufficient_scope")
        self.assert_status(self.call(self.id_token(aud="another-app"), "/svc/x"), 401, "audience_mismatch")


class RotationTest(RemoteKeysBase):
    min_refresh_s = 1

    def setUp(self):
        super().setUp()
        self.start()

    def test_new_key_is_accepted_after_exactly_one_fetch(self):
        old = self.id_token()
        self.assert_status(self.call(old), 200)
        before = self.provider.stats()["jwks"]
        self.provider.serve("rsa-rs256", "rsa-rs256-next")
        new = self.id_token(kid="rsa-rs256-next", key=NEW_KEY)
        self.assert_status(self.call(new), 200)  # waited for the early refresh it triggered
        self.assertEqual(self.provider.stats()["jwks"], before + 1)
        self.assert_status(self.call(new), 200)
        self.assert_status(self.call(old), 200)
        self.assertEqual(self.provider.stats()["jwks"], before + 1)
        self.assertEqual(self.metric("policy_sidecar_jwks_keys", issuer=self.provider.issuer), 2)
        # the provider withdraws the old key: once a refresh has happened, it no longer verifies,
        # although the token was in the verified-token cache
        self.provider.serve("rsa-rs256-next")
        wait_until(lambda: self.call(fake_token(self.provider.issuer, "nobody")) and
                   self.metric("policy_sidecar_jwks_keys", issuer=self.provider.issuer) == 1, what="refresh without the old key")
        self.assert_status(self.call(old), 401, "unknown_key")
        self.assert_status(self.call(new), 200)

    def test_failing_provider_keeps_the_old_keys(self):
        token = self.id_token()
        self.assert_status(self.call(token), 200)
        # each mode fails in its own words: waiting for them, not for an exact count of failures
        # (a failing set is retried every second, so a slow poll can step over any one count)
        reasons = {"500": "HTTP 500", "hang": "Operation timed out", "empty": "holds no usable signature key",
                   "huge": "the answer exceeds 1048576 bytes"}
        for mode, reason in reasons.items():
            failures = self.refreshes("failure")
            self.provider.set(mode=mode)
            # an unknown kid asks for a refresh (at most one a second here); wait until one has failed
            wait_until(lambda: self.call(fake_token(self.provider.issuer, "k-" + mode)).status == 401 and
                       reason in self.sidecar.process.output() and self.refreshes("failure") > failures,
                       what="a failed refresh in mode " + mode)
            self.assert_status(self.call(token), 200)
            self.assertEqual(self.metric("policy_sidecar_jwks_keys", issuer=self.provider.issuer), 1)
        self.assertIn("key refresh failed, the last good set (1 key(s)) keeps serving", self.sidecar.process.output())
        with open(self.cache_file) as f:
            self.assertEqual(json.load(f), {"keys": [JWKS["rsa-rs256"]]})  # never replaced by a bad set

    def test_reload_keeps_the_fetched_keys(self):
        token = self.id_token()
        self.assert_status(self.call(token), 200)
        fetches = self.provider.stats()["jwks"]
        self.provider.set(mode="500")  # a refetch would fail: the keys must carry over
        self.sidecar.process.signal(1)  # SIGHUP
        wait_until(lambda: self.metric("policy_sidecar_config_reloads_total", result="success") == 1, what="reload")
        self.assert_status(self.call(token), 200)
        self.assertEqual(self.provider.stats()["jwks"], fetches)


    def test_cache_control_max_age_shortens_the_refresh(self):
        self.provider.set(max_age=1)
        before = self.provider.stats()["jwks"]
        # one early refresh brings the max-age; from then on the set is fetched every second or so
        # (jwks_refresh_s is 900), with no request at all
        self.assert_status(self.call(fake_token(self.provider.issuer, "nobody")), 401, "unknown_key")
        wait_until(lambda: self.provider.stats()["jwks"] >= before + 3, what="refreshes driven by max-age")

    def test_reload_that_changes_the_key_source_must_fetch_first(self):
        token = self.id_token()
        self.assert_status(self.call(token), 200)
        # the new source cannot be fetched (a redirect) and has no cache file: the reload is refused
        write(self.sidecar.config_path, open(self.sidecar.config_path).read().replace(
            "discovery: true", "jwks_uri: https://localhost:%d/moved/jwks.json" % self.provider.port).replace(
            "jwks_cache_file: %s" % self.cache_file, ""))
        self.sidecar.process.signal(1)  # SIGHUP
        wait_until(lambda: self.metric("policy_sidecar_config_reloads_total", result="failure") == 1, what="refused reload")
        self.assertIn("reload refused, the running configuration keeps serving: jwt issuer %s: cannot fetch its keys from "
                      "https://localhost:%d/moved/jwks.json" % (self.provider.issuer, self.provider.port),
                      self.sidecar.process.output())
        self.assert_status(self.call(token), 200)


class UnknownKidStormTest(RemoteKeysBase):
    min_refresh_s = 30

    def test_a_thousand_unknown_kids_cause_at_most_one_fetch(self):
        # one client sending 1000 failing tokens at once: lift the pre-auth failure budget, which
        # would otherwise (rightly) answer 429 auth_failures past its burst
        self.start(host_extra="        auth_failure_limit: {per_client_rate: 100000, per_client_burst: 100000, total_rate: 100000, "
                              "total_burst: 100000}\n")
        before = self.provider.stats()["jwks"]
        tokens = [fake_token(self.provider.issuer, "kid-%08x" % random.getrandbits(32)) for _ in range(1000)]
        statuses = []
        lock = threading.Lock()

        def worker(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", self.sidecar.ports["svc"], timeout=30)
            got = []
            for t in chunk:
                conn.request("GET", "/svc/x", headers={"Authorization": "Bearer " + t, "X-Tenant-ID": "acme"})
                resp = conn.getresponse()
                got.append((resp.status, json.loads(resp.read())["reason"]))
            conn.close()
            with lock:
                statuses.extend(got)

        threads = [threading.Thread(target=worker, args=(tokens[i::8],)) for i in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        self.assertEqual(len(statuses), 1000)
        self.assertEqual(set(statuses), {(401, "unknown_key")})
        self.assertLessEqual(self.provider.stats()["jwks"] - before, 1, "in %.2f s" % elapsed)
        self.assertLessEqual(self.refreshes("success") + self.refreshes("failure"), 2)  # start-up + at most one


if __name__ == "__main__":
    unittest.main()
