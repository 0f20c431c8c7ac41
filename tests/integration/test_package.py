"""The Debian package (issue 13, item 6): CPack builds policy-sidecar_<version>_<arch>.deb from the
build directory; its files sit where the unit, sidecarctl and logrotate expect them, /etc files
are conffiles, the service user is created but the service is not started, the dependencies are
the libraries the binaries link, the unpacked binary --checks the unpacked example (through
deploy/check-example.sh), and lintian finds no error. Also `cmake --install` into a DESTDIR."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD_DIR, SIDECAR, SOURCE_DIR

CPACK = shutil.which("cpack")
CMAKE = shutil.which("cmake")
DPKG_DEB = shutil.which("dpkg-deb")
LINTIAN = shutil.which("lintian")
CHECK_EXAMPLE = os.path.join(SOURCE_DIR, "deploy", "check-example.sh")
POLICIES = sorted(os.listdir(os.path.join(SOURCE_DIR, "policies")))


def run(argv, **kw):
    kw.setdefault("timeout", 600)
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


@unittest.skipIf(CPACK is None or DPKG_DEB is None, "cpack and dpkg-deb are needed (cmake, dpkg-dev)")
class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(SIDECAR, os.X_OK):
            raise unittest.SkipTest("%s is not built" % SIDECAR)
        cls.tmp = tempfile.mkdtemp(prefix="sidecar-package-")
        # -B keeps the package and CPack's staging out of the build directory.
        p = run([CPACK, "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", cls.tmp])
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        if p.returncode != 0 or len(debs) != 1:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError("cpack failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.root = os.path.join(cls.tmp, "root")
        p = run([DPKG_DEB, "-x", cls.deb, cls.root])
        assert p.returncode == 0, p.stderr
        cls.control = os.path.join(cls.tmp, "control")
        p = run([DPKG_DEB, "-e", cls.deb, cls.control])
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        p = run([DPKG_DEB, "-f", self.deb, name])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def read_control(self, name):
        with open(os.path.join(self.control, name), encoding="utf-8") as f:
            return f.read()

    def test_file_name_and_metadata(self):
        self.assertRegex(os.path.basename(self.deb), r"^policy-sidecar_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")
        self.assertEqual(self.field("Package"), "policy-sidecar")
        self.assertTrue(self.field("Maintainer"))
        info = run([DPKG_DEB, "-I", self.deb])
        self.assertEqual(info.returncode, 0, info.stderr)
        for name in ("conffiles", "postinst", "postrm", "control", "md5sums"):
            self.assertIn(name, info.stdout)

    def test_depends_on_the_linked_runtime_libraries(self):
        depends = {re.split(r"[\s(]", d.strip())[0] for d in self.field("Depends").split(",")}
        # the libraries the daemon links on Debian 12, found by dpkg-shlibdeps, plus what the
        # maintainer scripts (adduser) and the unit (curl, ExecStartPost) run; libjwt0 for sidecarctl's token sign
        for package in ("libh2o-evloop0.13", "libhiredis0.14", "libssl3", "libyaml-0-2", "libjansson4", "libc6",
                        "libjwt0", "adduser", "curl"):
            self.assertIn(package, depends)

    def test_contents(self):
        p = run([DPKG_DEB, "-c", self.deb])
        self.assertEqual(p.returncode, 0, p.stderr)
        paths = {line.split()[-1].lstrip(".") for line in p.stdout.splitlines()}
        expected = {"/usr/bin/policy-sidecar", "/usr/bin/sidecarctl", "/lib/systemd/system/policy-sidecar.service",
                    "/etc/logrotate.d/policy-sidecar", "/etc/policy-sidecar/policy-sidecar.yaml",
                    "/usr/share/doc/policy-sidecar/copyright", "/usr/share/doc/policy-sidecar/README.md",
                    "/etc/policy-sidecar/redis-tls.conf", "/lib/systemd/system/policy-sidecar-redis-tls.service"}
        expected |= {"/etc/policy-sidecar/policies/" + p for p in POLICIES}
        self.assertEqual(expected - paths, set())
        self.assertEqual([x for x in paths if x.startswith("/usr/local")], [])
        for binary in ("policy-sidecar", "sidecarctl"):
            self.assertTrue(os.access(os.path.join(self.root, "usr/bin", binary), os.X_OK))

    def test_etc_files_are_conffiles(self):
        conffiles = set(self.read_control("conffiles").split())
        etc = set()
        for dirpath, _, files in os.walk(os.path.join(self.root, "etc")):
            etc |= {os.path.join(dirpath, f)[len(self.root):] for f in files}
        self.assertIn("/etc/policy-sidecar/policy-sidecar.yaml", etc)
        self.assertEqual(conffiles, etc)

    def test_unit_runs_the_packaged_binary(self):
        with open(os.path.join(self.root, "lib/systemd/system/policy-sidecar.service"), encoding="utf-8") as f:
            unit = f.read()
        execs = re.findall(r"^Exec\w+=(\S+)", unit, re.M)
        self.assertIn("/usr/bin/policy-sidecar", execs)
        for path in execs:
            self.assertTrue(path == "/bin/kill" or os.path.exists(os.path.join(self.root, path.lstrip("/")))
                            or path == "/usr/bin/curl", path)
        self.assertNotIn("/usr/local", unit)

    def test_postinst_creates_the_user_and_starts_nothing(self):
        postinst = self.read_control("postinst")
        self.assertRegex(postinst, r"(?m)^\s*adduser .*--system .*policy-sidecar$")
        for verb in ("start", "restart", "enable"):
            self.assertIsNone(re.search(r"^[^#]*(systemctl|deb-systemd-invoke|invoke-rc\.d)\b[^#\n]*\b%s\b" % verb,
                                        postinst, re.M), verb)
        self.assertEqual(run(["sh", "-n", os.path.join(self.control, "postinst")]).returncode, 0)
        self.assertEqual(run(["sh", "-n", os.path.join(self.control, "postrm")]).returncode, 0)

    def test_unpacked_binary_checks_the_unpacked_example(self):
        binary = os.path.join(self.root, "usr/bin/policy-sidecar")
        env = dict(os.environ, CHECK_EXAMPLE_DIR=os.path.join(self.root, "etc/policy-sidecar"))
        p = run([CHECK_EXAMPLE, binary], env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # and a broken copy of the unpacked example fails, so the check above really ran it
        broken = os.path.join(self.tmp, "broken")
        shutil.copytree(os.path.join(self.root, "etc/policy-sidecar"), broken)
        with open(os.path.join(broken, "policies", POLICIES[0]), "a", encoding="utf-8") as f:
            f.write("\nnot_a_policy_key: 1\n")
        p = run([CHECK_EXAMPLE, binary], env=dict(os.environ, CHECK_EXAMPLE_DIR=broken), timeout=120)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)

    @unittest.skipIf(LINTIAN is None, "lintian is not installed (scripts/deps.sh installs it)")
    def test_lintian_reports_no_errors(self):
        p = run([LINTIAN, "--tag-display-limit", "0", self.deb], timeout=600)
        errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], p.stdout + p.stderr)


@unittest.skipIf(CMAKE is None, "cmake is needed")
class CmakeInstallTest(unittest.TestCase):
    def test_install_into_a_destdir(self):
        if not os.access(SIDECAR, os.X_OK):
            self.skipTest("%s is not built" % SIDECAR)
        with tempfile.TemporaryDirectory(prefix="sidecar-install-") as dest:
            p = run([CMAKE, "--install", BUILD_DIR, "--prefix", "/opt/ps"], env=dict(os.environ, DESTDIR=dest))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            for path in ("opt/ps/bin/policy-sidecar", "opt/ps/bin/sidecarctl", "etc/policy-sidecar/policy-sidecar.yaml",
                         "etc/logrotate.d/policy-sidecar", "lib/systemd/system/policy-sidecar.service"):
                self.assertTrue(os.path.exists(os.path.join(dest, path)), path)
            for policy in POLICIES:
                self.assertTrue(os.path.exists(os.path.join(dest, "etc/policy-sidecar/policies", policy)), policy)
            with open(os.path.join(dest, "lib/systemd/system/policy-sidecar.service"), encoding="utf-8") as f:
                unit = f.read()
            # the installed unit runs the binary this install put in place
            self.assertIn("ExecStart=/opt/ps/bin/policy-sidecar -c /etc/policy-sidecar/policy-sidecar.yaml\n", unit)
            self.assertNotIn("/usr/bin/policy-sidecar", unit)


if __name__ == "__main__":
    unittest.main()
