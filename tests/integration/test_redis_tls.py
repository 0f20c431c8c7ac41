"""Redis over TLS (issue 15): the stunnel client that deploy/stunnel ships, run as shipped (only
addresses and the CA swapped for the test's), in front of a TLS endpoint that stands in for
ElastiCache's (a second stunnel with a certificate of a test CA, before a real redis-server). The
sidecar and sidecarctl work through it; a server the tunnel cannot verify gets nothing."""
import os
import re
import shutil
import subprocess
import unittest

from harness import (BUILD_DIR, SOURCE_DIR, TEST_ISSUER, IntegrationTest, Process, Redis, free_port, identity_host_yaml, mint,
                     port_open, request, run_cli, wait_until, write)

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
SIDECARCTL = os.path.join(BUILD_DIR, "sidecarctl")
SHIPPED_CONF = os.path.join(SOURCE_DIR, "deploy", "stunnel", "redis-tls.conf")
UNIT = os.path.join(SOURCE_DIR, "deploy", "stunnel", "policy-sidecar-redis-tls.service")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

POLICY = """
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""


def substitute(text, key, value):
    """Replaces the one `key = …` line of the shipped file; fails if it is not there exactly once."""
    pattern = re.compile(r"^%s = .*$" % re.escape(key), re.M)
    new, count = pattern.subn("%s = %s" % (key, value), text)
    if count != 1:
        raise AssertionError("%s: expected one '%s =' line, found %d" % (SHIPPED_CONF, key, count))
    return new


@unittest.skipIf(STUNNEL is None, "stunnel4 is not installed (scripts/deps.sh installs it)")
class RedisOverTlsTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-dev-certs.sh"), self.certs], check=True,
                       capture_output=True, timeout=60)
        self.redis = Redis(self.tmp)
        self.processes.append(self.redis)
        self.endpoint_port = self.start_endpoint()
        self.backend = self.start_backend()

    def start_stunnel(self, name, conf_text, port):
        conf = os.path.join(self.tmp, name + ".conf")
        write(conf, conf_text)
        p = Process(name, [STUNNEL, conf], self.tmp)
        self.processes.append(p)
        wait_until(lambda: port_open(port) or not p.running(), what="%s listening on %d" % (name, port))
        self.assertTrue(p.running(), p.output())
        return p

    def start_endpoint(self):
        """The TLS endpoint in place of ElastiCache's: TLS in, plain Redis out."""
        port = free_port()
        self.start_stunnel("endpoint", "\n".join([
            "foreground = yes", "pid =", "syslog = no", "[endpoint]",
            "accept = 127.0.0.1:%d" % port, "connect = 127.0.0.1:%d" % self.redis.port,
            "cert = %s" % os.path.join(self.certs, "server.crt"), "key = %s" % os.path.join(self.certs, "server.key"),
        ]) + "\n", port)
        return port

    def start_client(self, ca="ca.crt", check_host="localhost"):
        """The shipped client configuration, pointed at the test endpoint."""
        with open(SHIPPED_CONF) as f:
            text = f.read()
        port = free_port()
        text = substitute(text, "accept", "127.0.0.1:%d" % port)
        text = substitute(text, "connect", "127.0.0.1:%d" % self.endpoint_port)
        text = substitute(text, "CAfile", os.path.join(self.certs, ca))
        text = substitute(text, "checkHost", check_host)
        self.client = self.start_stunnel("tunnel", text, port)
        return port

    def start_sidecar_through(self, tunnel_port, wait_ready=True):
        host = identity_host_yaml(tunnel_port, timeout_ms=1000, connect_timeout_ms=2000)
        return self.start_sidecar({"langchain": {"upstream_port": self.backend.port, "policy": POLICY}},
                                  extra_host_yaml=host, wait_ready=wait_ready, wait_alive=not wait_ready)

    def ctl(self, sidecar, *args):
        rc, out, err = run_cli([SIDECARCTL, "-c", sidecar.config_path, "--actor", "tls-test"] + list(args))
        self.assertEqual(rc, 0, "sidecarctl %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def test_sidecar_and_sidecarctl_work_through_the_tunnel(self):
        sidecar = self.start_sidecar_through(self.start_client())  # ready: every Redis connection is up
        self.ctl(sidecar, "tenant", "create", "acme", "--services", "langchain")
        key = self.ctl(sidecar, "key", "create", "acme", "--scopes", "read", "--name", "tls").split()[0]
        headers = [("X-Tenant-ID", "acme"), ("X-Api-Key", key)]
        wait_until(lambda: sidecar.request("langchain", "GET", "/langchain/v1/x", headers=headers).status == 200,
                   what="the key created through the tunnel to be accepted")
        # the record reached Redis behind the endpoint, written by sidecarctl through the tunnel
        self.assertEqual(self.redis.cmd("HGET", "ps:{acme}:tenant", "status"), "active")
        # and the invalidation subscription runs through it too: a revocation is seen at once
        key_id = self.ctl(sidecar, "--json", "key", "list", "acme")
        key_id = re.search(r'"key_id"\s*:\s*"([^"]+)"', key_id).group(1)
        self.ctl(sidecar, "key", "revoke", key_id)
        wait_until(lambda: sidecar.request("langchain", "GET", "/langchain/v1/x", headers=headers).status == 401,
                   what="the revocation to reach the sidecar through the tunnel")
        token = mint({"iss": TEST_ISSUER, "aud": "platform", "exp": 4102444800, "tenant_id": "acme"})
        self.assertEqual(sidecar.request("langchain", "GET", "/langchain/v1/x",
                                         headers=[("X-Tenant-ID", "acme"), ("Authorization", "Bearer " + token)]).status,
                         200)

    def assert_tunnel_refuses(self, **client):
        sidecar = self.start_sidecar_through(self.start_client(**client), wait_ready=False)
        # the sidecar keeps trying; the tunnel refuses the endpoint each time, and says why
        wait_until(lambda: re.search(self.refusal, self.client.output()), what="the tunnel to refuse the endpoint")
        self.assertEqual(request(sidecar.admin_port, "GET", "/ready").status, 503)
        rc, _, err = run_cli([SIDECARCTL, "-c", sidecar.config_path, "tenant", "list"])
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(self.redis.cmd("CLIENT", "LIST").count("\n"), 1, "only our own inspection connection")

    def test_an_endpoint_of_another_ca_is_refused(self):
        self.refusal = r"certificate verify failed"
        self.assert_tunnel_refuses(ca="other-ca.crt")

    def test_an_endpoint_of_another_name_is_refused(self):
        self.refusal = r"CERT: Subject checks failed"
        self.assert_tunnel_refuses(check_host="master.elsewhere.example")


class RedisTlsUnitTest(unittest.TestCase):
    def directives(self):
        with open(UNIT) as f:
            return dict(re.findall(r"^(\w+)=(.*)$", f.read(), re.M))

    def test_hardened_and_before_the_sidecar(self):
        d = self.directives()
        self.assertEqual(d["ExecStart"], "/usr/bin/stunnel4 /etc/policy-sidecar/redis-tls.conf")
        self.assertEqual(d["Before"], "policy-sidecar.service")
        for key, want in {"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                          "CapabilityBoundingSet": "", "PrivateDevices": "yes", "MemoryDenyWriteExecute": "yes",
                          "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "Restart": "always"}.items():
            self.assertEqual(d.get(key), want, key)

    def test_the_shipped_client_verifies_and_listens_on_loopback(self):
        with open(SHIPPED_CONF) as f:
            text = f.read()
        for line in ("client = yes", "verifyChain = yes", "accept = 127.0.0.1:6380", "sslVersionMin = TLSv1.2"):
            self.assertRegex(text, r"(?m)^%s$" % re.escape(line))
        self.assertRegex(text, r"(?m)^checkHost = \S+$")

    @unittest.skipIf(SYSTEMD_ANALYZE is None, "systemd-analyze is not installed (Debian package systemd)")
    @unittest.skipIf(STUNNEL is None, "stunnel4 is not installed")
    def test_systemd_analyze_verify(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="stunnel-unit-")
        self.addCleanup(shutil.rmtree, tmp, True)
        copy = os.path.join(tmp, os.path.basename(UNIT))
        with open(UNIT) as f:
            write(copy, f.read())
        env = dict(os.environ, SYSTEMD_LOG_LEVEL="info", SYSTEMD_PAGER="cat")
        p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", copy], env=env, capture_output=True, text=True,
                           timeout=60)
        complaints = [l for l in (p.stdout + p.stderr).splitlines() if os.path.basename(UNIT) in l]
        self.assertEqual((p.returncode, complaints), (0, []), p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
