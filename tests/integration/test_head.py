"""HEAD on a GET route (issue 13, item 4): `HEAD /langchain/health` is a health check like
`GET /langchain/health` and must not fall through to the protected subtree (it got 401). HEAD
on a route that lists only POST is still not allowed by it."""
import unittest

from harness import IntegrationTest, Redis, identity_host_yaml

POLICY = """
mode: enforce
strip_prefix: /langchain
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/hooks/incoming
    methods: [POST]
    auth: none
  - path: /langchain/public/**
    methods: [POST]
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""


class HeadTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.backend = self.start_backend()
        self.sidecar = self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                          extra_host_yaml=identity_host_yaml(self.redis.port))

    def test_head_on_a_get_route_is_allowed(self):
        resp = self.sidecar.request("langchain", "HEAD", "/langchain/health")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"")
        self.assertEqual(resp.header("X-Backend"), "test")
        (rec,) = self.backend.log()
        self.assertEqual((rec["method"], rec["path"]), ("HEAD", "/health"))

    def test_head_on_a_post_only_route_is_not(self):
        # the POST-only public route does not take HEAD: the catch-all protected route does
        resp = self.sidecar.request("langchain", "HEAD", "/langchain/hooks/incoming")
        self.assertEqual(resp.status, 401, resp)
        resp = self.sidecar.request("langchain", "HEAD", "/langchain/public/x")
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(self.backend.log(), [])
        resp = self.sidecar.request("langchain", "POST", "/langchain/hooks/incoming", body=b"{}")
        self.assertEqual(resp.status, 200, resp)


if __name__ == "__main__":
    unittest.main()
