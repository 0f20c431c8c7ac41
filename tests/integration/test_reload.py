"""Live reload (SIGHUP): valid changes apply to new requests without a failed request; invalid
ones are refused with file and line while the old configuration keeps serving."""
import json
import os
import shutil
import signal
import threading
import unittest

from harness import FIXTURES, IntegrationTest, Redis, mint, put_tenant, request, wait_until, write

ISSUER = "https://idp.test/"
POLICY = """
strip_prefix: /langchain
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""
WITH_NEW_ROUTE = POLICY.replace("routes:\n", "routes:\n  - path: /langchain/new\n    auth: none\n")
BROKEN = WITH_NEW_ROUTE.replace("  - path: /langchain/health\n    auth: none\n",
                                "  - path: /langchain/health\n    methods: [GIT]\n    auth: none\n")


class ReloadTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        put_tenant(self.redis, "acme")
        self.jwks = os.path.join(self.tmp, "jwks.json")
        shutil.copy(os.path.join(FIXTURES, "rs256.jwks.json"), self.jwks)
        host = """
        redis:
          url: redis://127.0.0.1:%d/0
        jwt_issuers:
          - issuer: %s
            audiences: [platform]
            jwks_file: jwks.json
            algorithms: [RS256]
        """ % (self.redis.port, ISSUER)
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=host)
        self.policy_file = os.path.join(self.tmp, "policy-langchain.yaml")
        self.token = mint({"iss": ISSUER, "sub": "u", "aud": "platform", "exp": 4102444800, "tenant_id": "acme"})

    def get(self, path, **kw):
        return self.sidecar.request("langchain", "GET", path, **kw)

    def reload(self):
        self.sidecar.process.signal(signal.SIGHUP)

    def reload_count(self, result):
        text = request(self.sidecar.admin_port, "GET", "/metrics").body.decode()
        for line in text.splitlines():
            if line.startswith('policy_sidecar_config_reloads_total{result="%s"}' % result):
                return int(line.split()[-1])
        return 0

    def test_reload_under_load_has_zero_failures(self):
        failures = []
        done = threading.Event()
        count = [0]

        def loop():
            auth = [("Authorization", "Bearer " + self.token), ("X-Tenant-ID", "acme")]
            while not done.is_set():
                for path, headers in (("/langchain/health", []), ("/langchain/x", auth)):
                    resp = self.get(path, headers=headers)
                    count[0] += 1
                    if resp.status != 200:
                        failures.append((path, resp.status))

        workers = [threading.Thread(target=loop) for _ in range(4)]
        for t in workers:
            t.start()
        try:
            wait_until(lambda: count[0] > 50, what="traffic before the reload")
            self.assertEqual(self.get("/langchain/new").status, 401)  # not a public route yet
            write(self.policy_file, WITH_NEW_ROUTE)
            self.reload()
            wait_until(lambda: self.get("/langchain/new").status == 200, ceiling_s=10, what="the new route")
            self.assertEqual(self.reload_count("success"), 1)
            mark = count[0]
            wait_until(lambda: count[0] > mark + 50, what="traffic after the reload")

            write(self.policy_file, BROKEN)
            self.reload()
            wait_until(lambda: self.reload_count("failure") == 1, ceiling_s=10, what="the refused reload")
            self.assertIn("policy-langchain.yaml:7: routes[1].methods[0]: unknown method \"GIT\"", self.sidecar.process.output())
            self.assertEqual(self.get("/langchain/new").status, 200)  # the previous configuration still serves
            mark = count[0]
            wait_until(lambda: count[0] > mark + 50, what="traffic after the refused reload")
        finally:
            done.set()
            for t in workers:
                t.join()
        self.assertEqual(failures, [])
        self.assertTrue(self.sidecar.process.running())

    def test_reload_rereads_jwks(self):
        auth = [("Authorization", "Bearer " + self.token), ("X-Tenant-ID", "acme")]
        self.assertEqual(self.get("/langchain/x", headers=auth).status, 200)
        # the key is withdrawn (rotated out): after the reload, even a token verified before is refused
        keys = json.load(open(os.path.join(FIXTURES, "jwks.json")))["keys"]
        write(self.jwks, json.dumps({"keys": [k for k in keys if k["kid"] == "rsa-rs256-next"]}))
        self.reload()
        wait_until(lambda: self.get("/langchain/x", headers=auth).status == 401, ceiling_s=10, what="the withdrawn key")

    def test_changes_that_need_a_restart_are_refused(self):
        config = self.sidecar.config_path
        text = open(config).read()
        write(config, text.replace("shutdown_grace_s: 10", "shutdown_grace_s: 11"))
        self.reload()
        wait_until(lambda: self.reload_count("failure") == 1, ceiling_s=10, what="the refused reload")
        self.assertIn("need a restart", self.sidecar.process.output())
        self.assertEqual(self.get("/langchain/health").status, 200)
        # each worker's send timer has its duration from the start (the default here: 60)
        write(config, "client_send_timeout_s: 30\n" + text)
        self.reload()
        wait_until(lambda: self.reload_count("failure") == 2, ceiling_s=10, what="the second refused reload")
        self.assertIn("client_send_timeout_s needs a restart", self.sidecar.process.output())
        self.assertEqual(self.get("/langchain/health").status, 200)


if __name__ == "__main__":
    unittest.main()
