"""TLS and mutual TLS on a service listener: the gateway's client certificate is required,
pinned by subject or fingerprint; a connection without an acceptable one never reaches a
handler (the backend sees nothing)."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

from harness import SOURCE_DIR, IntegrationTest, read_response, wait_until

POLICY = """
routes:
  - path: /**
    auth: none
"""


def make_certs(directory):
    subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-dev-certs.sh"), directory], check=True, capture_output=True)


def fingerprint(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], check=True, capture_output=True)
    return out.stdout.decode().strip().split("=", 1)[1]


class TlsBase(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        make_certs(self.certs)
        self.backend = self.start_backend()

    def cert(self, name):
        return os.path.join(self.certs, name)

    def start(self, tls_yaml):
        return self.start_sidecar({"svc": {"upstream_port": self.backend.port, "policy": POLICY, "extra_yaml": tls_yaml}})

    def get(self, sidecar, client_cert=None):
        ctx = ssl.create_default_context(cafile=self.cert("ca.crt"))
        if client_cert is not None:
            ctx.load_cert_chain(self.cert(client_cert + ".crt"), self.cert(client_cert + ".key"))
        with socket.create_connection(("127.0.0.1", sidecar.ports["svc"]), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return data, s.version(), s.selected_alpn_protocol()
                    data += chunk

    def refused(self, sidecar, client_cert=None):
        try:
            data, _, _ = self.get(sidecar, client_cert)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True
        return not data.startswith(b"HTTP/1.1 200")  # TLS 1.3 reports the refusal on first read

    def tls_block(self, extra=""):
        return ("    tls:\n      cert_file: %s\n      key_file: %s\n" % (self.cert("server.crt"), self.cert("server.key"))) + extra


class TlsTest(TlsBase):
    def test_tls_listener(self):
        sidecar = self.start(self.tls_block())
        data, version, alpn = self.get(sidecar)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        self.assertIsNone(alpn)  # HTTP/1.1 only
        ctx = ssl.create_default_context(cafile=self.cert("ca.crt"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            with socket.create_connection(("127.0.0.1", sidecar.ports["svc"]), timeout=30) as raw:
                ctx.wrap_socket(raw, server_hostname="localhost").close()

    def test_mtls_requires_the_gateway_certificate(self):
        sidecar = self.start(self.tls_block("      client_ca_file: %s\n" % self.cert("ca.crt")))
        data, _, _ = self.get(sidecar, "client")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(len(self.backend.log()), 1)
        self.assertTrue(self.refused(sidecar, None))        # no certificate
        self.assertTrue(self.refused(sidecar, "stranger"))  # same subject, another CA
        self.assertEqual(len(self.backend.log()), 1)        # neither reached a handler

    def test_mtls_pins(self):
        pinned_fp = self.tls_block("      client_ca_file: %s\n      client_fingerprints_sha256: ['%s']\n"
                                   % (self.cert("ca.crt"), fingerprint(self.cert("server.crt"))))
        sidecar = self.start(pinned_fp)
        # a valid client certificate from the right CA, but not the pinned one
        self.assertTrue(self.refused(sidecar, "client"))
        self.assertEqual(self.backend.log(), [])

    def test_mtls_subject_pin(self):
        block = self.tls_block("      client_ca_file: %s\n      client_subjects: ['CN=api-gateway,O=Example Platform']\n"
                               "      client_fingerprints_sha256: ['%s']\n"
                               % (self.cert("ca.crt"), fingerprint(self.cert("client.crt"))))
        sidecar = self.start(block)
        data, _, _ = self.get(sidecar, "client")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        other = self.tls_block("      client_ca_file: %s\n      client_subjects: ['CN=someone-else']\n" % self.cert("ca.crt"))
        self.processes[-1].stop()
        sidecar = self.start(other)
        self.assertTrue(self.refused(sidecar, "client"))


class TlsReloadTest(TlsBase):
    """Certificates are rotated far more often than sidecars restart: SIGHUP applies new
    certificates, keys, client CAs and pins to new connections; open ones finish on theirs."""

    def reload(self, sidecar):
        def successes():
            return sidecar.metric('policy_sidecar_config_reloads_total{result="success"}')
        before = successes()
        sidecar.process.signal(signal.SIGHUP)
        wait_until(lambda: successes() > before, ceiling_s=30, what="the reload")

    def open_keepalive(self, sidecar, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        raw = socket.create_connection(("127.0.0.1", sidecar.ports["svc"]), timeout=30)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        return s

    @staticmethod
    def keepalive_get(s):
        """One request on an open connection; returns the status."""
        s.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return read_response(s)[0]

    def test_reload_rotates_the_certificate(self):
        sidecar = self.start(self.tls_block())
        old = self.open_keepalive(sidecar, self.cert("ca.crt"))
        self.assertEqual(self.keepalive_get(old), 200)
        # the rotation: new files in place of the old ones, from a new CA
        rotated = os.path.join(self.tmp, "rotated")
        make_certs(rotated)
        for name in ("server.crt", "server.key"):
            shutil.copyfile(os.path.join(rotated, name), self.cert(name))
        self.reload(sidecar)
        ctx = ssl.create_default_context(cafile=os.path.join(rotated, "ca.crt"))
        with socket.create_connection(("127.0.0.1", sidecar.ports["svc"]), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(fingerprint_der(s.getpeercert(binary_form=True)), fingerprint(self.cert("server.crt")))
        with self.assertRaises(ssl.SSLCertVerificationError):  # the old certificate is no longer served
            self.open_keepalive(sidecar, self.cert("ca.crt"))
        self.assertEqual(self.keepalive_get(old), 200)  # the open connection goes on

    def test_reload_applies_new_pins(self):
        refuse_all = self.tls_block("      client_ca_file: %s\n      client_subjects: ['CN=someone-else']\n" % self.cert("ca.crt"))
        sidecar = self.start(refuse_all)
        self.assertTrue(self.refused(sidecar, "client"))
        config = sidecar.config_path
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("CN=someone-else", "CN=api-gateway,O=Example Platform"))
        self.reload(sidecar)
        data, _, _ = self.get(sidecar, "client")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        with open(config, "w") as f:
            f.write(text)
        self.reload(sidecar)
        self.assertTrue(self.refused(sidecar, "client"))


def fingerprint_der(der):
    import hashlib
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


if __name__ == "__main__":
    unittest.main()
