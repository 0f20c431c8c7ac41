"""Deploy files (issue 6): the systemd unit passes systemd-analyze, the example host configuration
and its policies pass --check and serve (mTLS, health, report_only, CORS), the Prometheus files
pass promtool, the Grafana dashboard and the alerts query only series the sidecar exports,
logrotate reopens the log with SIGUSR1, and apigateway-migrate.sh prints (never runs) one
move per resource to the sidecar port (test_migrate.py runs what it prints)."""
import glob
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

from harness import SIDECAR, SOURCE_DIR, IntegrationTest, Process, free_port, request, wait_until

DEPLOY = os.path.join(SOURCE_DIR, "deploy")
UNIT = os.path.join(DEPLOY, "policy-sidecar.service")
EXAMPLE = os.path.join(DEPLOY, "policy-sidecar.yaml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "policy-sidecar-dashboard.json")
PROM_CONFIG = os.path.join(DEPLOY, "prometheus", "policy-sidecar.yml")
ALERTS = os.path.join(DEPLOY, "prometheus", "alerts.yml")
LOGROTATE_CONF = os.path.join(DEPLOY, "logrotate", "policy-sidecar")
CHECK_EXAMPLE = os.path.join(DEPLOY, "check-example.sh")
MIGRATE = os.path.join(DEPLOY, "apigateway-migrate.sh")
METRICS_H = os.path.join(SOURCE_DIR, "sidecar", "observe", "metrics.h")
SCRIPTS = [CHECK_EXAMPLE, MIGRATE, os.path.join(SOURCE_DIR, "certs", "make-dev-certs.sh")] + \
    [os.path.join(SOURCE_DIR, "scripts", name) for name in ("demo.sh", "deps.sh", "test.sh")]

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
PROMTOOL = shutil.which("promtool")
LOGROTATE = shutil.which("logrotate") or next((p for p in ("/usr/sbin/logrotate",) if os.path.exists(p)), None)
SHELLCHECK = shutil.which("shellcheck")

SERVICES = {"langchain": (8500, 5000), "tools": (8501, 5001), "rag": (8502, 5002), "auth": (8590, 8090),
            "grafana": (8300, 3000)}  # name: (sidecar port, service port)
METRIC_RE = re.compile(r"policy_sidecar_[a-z_]+")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(argv, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def unit_directives(text):
    """[(section, key, value)] of a systemd unit, comments and blank lines skipped."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def metric_base(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)


def metrics_h_names():
    """Series names documented in sidecar/observe/metrics.h, with "a_x_total / _y_total" lists expanded
    to a_x_total and a_y_total (the suffix replaces as many _segments of the first name)."""
    names = set()
    text = read(METRICS_H)
    for line in text.splitlines():
        m = re.match(r"\s*\*\s+(policy_sidecar_[a-z_]+)(.*)$", line)
        if not m:
            continue
        first = m.group(1)
        names.add(first)
        for suffix in re.findall(r"/\s*(_[a-z_]+)", m.group(2)):
            segments = suffix.count("_")
            names.add("_".join(first.split("_")[:-segments]) + suffix)
    return names


def queried_metrics(text):
    return {metric_base(n) for n in METRIC_RE.findall(text)}


def dashboard_exprs(dashboard):
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(dashboard["panels"])
    return exprs


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.text = read(UNIT)
        self.d = unit_directives(self.text)

    def values(self, key, section="Service"):
        return [v for s, k, v in self.d if k == key and s == section]

    def value(self, key, section="Service"):
        values = self.values(key, section)
        self.assertEqual(len(values), 1, "%s= in [%s]: %r" % (key, section, values))
        return values[0]

    def test_hardening_directives(self):
        self.assertEqual(self.value("User"), "policy-sidecar")
        self.assertEqual(self.value("Group"), "policy-sidecar")
        self.assertEqual(self.values("DynamicUser"), [])
        self.assertEqual(self.value("ExecStartPre"), "/usr/bin/policy-sidecar -c /etc/policy-sidecar/policy-sidecar.yaml --check")
        self.assertEqual(self.value("ExecStart"), "/usr/bin/policy-sidecar -c /etc/policy-sidecar/policy-sidecar.yaml")
        # started = alive: liveness, never /ready (a sidecar waiting for Redis must not fail its start)
        self.assertRegex(self.value("ExecStartPost"), r"^/usr/bin/curl .*http://127\.0\.0\.1:9901/healthz$")
        self.assertIn("/bin/kill -HUP $MAINPID", self.values("ExecReload"))
        expected = {"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                    "CapabilityBoundingSet": "", "AmbientCapabilities": "", "ProtectHome": "yes", "PrivateDevices": "yes",
                    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
                    "ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
                    "RestrictNamespaces": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
                    "SystemCallArchitectures": "native", "LogsDirectory": "policy-sidecar",
                    "ReadOnlyPaths": "/etc/policy-sidecar", "KillSignal": "SIGTERM", "LimitNOFILE": "65536",
                    "StateDirectory": "policy-sidecar"}
        for key, want in expected.items():
            self.assertEqual(self.value(key), want, key)
        self.assertEqual(self.value("WantedBy", "Install"), "multi-user.target")

    def test_stop_timeout_exceeds_the_drain(self):
        timeout = self.value("TimeoutStopSec")
        m = re.fullmatch(r"(\d+)\s*(s|sec)?", timeout)
        self.assertIsNotNone(m, "TimeoutStopSec=%s: expected seconds" % timeout)
        grace = re.search(r"^shutdown_grace_s:\s*(\d+)", read(EXAMPLE), re.M)
        self.assertIsNotNone(grace)
        self.assertGreater(int(m.group(1)), int(grace.group(1)) + 5)

    @unittest.skipIf(SYSTEMD_ANALYZE is None, "systemd-analyze is not installed (Debian package systemd)")
    def test_systemd_analyze_verify(self):
        if not os.access(SIDECAR, os.X_OK):
            self.skipTest("%s is not built" % SIDECAR)
        # The unit names /usr/bin/policy-sidecar (the package's path), which a dev box lacks: verify a copy that
        # runs the built binary instead (the unit's name must stay policy-sidecar.service).
        tmp = tempfile.mkdtemp(prefix="sidecar-unit-")
        self.addCleanup(shutil.rmtree, tmp, True)
        copy = os.path.join(tmp, "policy-sidecar.service")
        with open(copy, "w") as f:
            f.write(self.text.replace("/usr/bin/policy-sidecar", SIDECAR))
        env = dict(os.environ, SYSTEMD_LOG_LEVEL="info", SYSTEMD_PAGER="cat")
        p = run([SYSTEMD_ANALYZE, "verify", "--man=no", copy], env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # systemd-analyze exits 0 on unknown keys and bad values: they are warnings naming the file
        complaints = [l for l in (p.stdout + p.stderr).splitlines() if "policy-sidecar.service" in l]
        self.assertEqual(complaints, [], p.stdout + p.stderr)


class PrometheusFilesTest(unittest.TestCase):
    @unittest.skipIf(PROMTOOL is None, "promtool (Debian package prometheus) is not installed")
    def test_promtool_check_config(self):
        p = run([PROMTOOL, "check", "config", PROM_CONFIG])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        text = read(PROM_CONFIG)
        self.assertRegex(text, r"job_name:\s*policy-sidecar")
        self.assertIn("127.0.0.1:9901", text)
        self.assertRegex(text, r"scrape_interval:\s*15s")

    @unittest.skipIf(PROMTOOL is None, "promtool (Debian package prometheus) is not installed")
    def test_promtool_check_rules(self):
        p = run([PROMTOOL, "check", "rules", ALERTS])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_alerts_query_exported_series(self):
        documented = metrics_h_names()
        used = queried_metrics(read(ALERTS))
        self.assertTrue({"policy_sidecar_denials_total", "policy_sidecar_redis_failures_total", "policy_sidecar_ready",
                         "policy_sidecar_ratelimit_fallbacks_total", "policy_sidecar_requests_total"} <= used, used)
        self.assertEqual(used - documented, set(), "alerts.yml queries series that sidecar/observe/metrics.h does not list")

    @unittest.skipIf(PROMTOOL is None, "promtool (Debian package prometheus) is not installed")
    def test_alerts_fire_on_synthetic_series(self):
        # promtool compares annotations too: test a copy of the rules without them.
        tmp = tempfile.mkdtemp(prefix="sidecar-alerts-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out, skip_deeper_than = [], None
        for line in read(ALERTS).splitlines():
            indent = len(line) - len(line.lstrip())
            if skip_deeper_than is not None and (not line.strip() or indent > skip_deeper_than):
                continue
            skip_deeper_than = None
            if line.strip() == "annotations:":
                skip_deeper_than = indent
                continue
            out.append(line)
        rules = os.path.join(tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write("\n".join(out) + "\n")
        tests = os.path.join(tmp, "tests.yml")
        with open(tests, "w") as f:
            f.write("""
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'policy_sidecar_redis_failures_total{instance="h1:9901",job="policy-sidecar"}'
        values: '0+1x30'
      - series: 'policy_sidecar_ratelimit_fallbacks_total{instance="h1:9901",job="policy-sidecar"}'
        values: '0x30'
      - series: 'policy_sidecar_tenant_cache_unavailable_total{instance="h1:9901",job="policy-sidecar"}'
        values: '0x30'
      - series: 'policy_sidecar_ready{instance="h1:9901",job="policy-sidecar"}'
        values: '1x10 0x20'
      - series: 'policy_sidecar_ready{instance="h2:9901",job="policy-sidecar"}'
        values: '1x30'
      - series: 'policy_sidecar_requests_total{instance="h1:9901",job="policy-sidecar",service="rag",code="200"}'
        values: '0+60x30'
      - series: 'policy_sidecar_requests_total{instance="h1:9901",job="policy-sidecar",service="rag",code="502"}'
        values: '0+30x30'
      - series: 'policy_sidecar_denials_total{instance="h1:9901",job="policy-sidecar",service="rag",reason="missing_credentials",mode="enforce"}'
        values: '0+30x30'
      - series: 'policy_sidecar_denials_total{instance="h1:9901",job="policy-sidecar",service="rag",reason="no_route",mode="enforce"}'
        values: '0+60x30'
      - series: 'policy_sidecar_jwks_age_seconds{instance="h1:9901",job="policy-sidecar",issuer="https://idp.test/"}'
        values: '3000+60x30'
      - series: 'policy_sidecar_jwks_age_seconds{instance="h1:9901",job="policy-sidecar",issuer="https://fresh.test/"}'
        values: '0+0x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: PolicySidecarRedisFailures
        exp_alerts:
          - exp_labels: {severity: warning, instance: "h1:9901", job: policy-sidecar}
      - eval_time: 20m
        alertname: PolicySidecarNotReady
        exp_alerts:
          - exp_labels: {severity: critical, instance: "h1:9901", job: policy-sidecar}
      - eval_time: 20m
        alertname: PolicySidecarRateLimitFallbacks
        exp_alerts: []
      - eval_time: 20m
        alertname: PolicySidecarTenantStoreUnavailable
        exp_alerts: []
      - eval_time: 20m
        alertname: PolicySidecarUpstream5xx
        exp_alerts:
          - exp_labels: {severity: critical, instance: "h1:9901", service: rag}
      - eval_time: 20m
        alertname: PolicySidecarJwksStale
        exp_alerts:
          - exp_labels: {severity: warning, instance: "h1:9901", issuer: "https://idp.test/"}
      - eval_time: 20m
        alertname: PolicySidecarHighDenialRate
        exp_alerts:
          - exp_labels: {severity: warning, instance: "h1:9901", service: rag}
""")
        p = run([PROMTOOL, "test", "rules", tests], cwd=tmp)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class DashboardTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.text = read(DASHBOARD)
        self.dashboard = json.loads(self.text)

    def test_shape(self):
        d = self.dashboard
        self.assertGreaterEqual(d["schemaVersion"], 36)
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = [v for v in variables.values() if v["type"] == "datasource"]
        self.assertEqual(len(ds), 1)
        self.assertEqual(ds[0]["query"], "prometheus")
        exprs = dashboard_exprs(d)
        self.assertGreater(len(exprs), 10)
        for title, expr in exprs:
            self.assertTrue(expr.strip(), title)

        def walk(panels):
            for p in panels:
                if p.get("type") != "row":
                    self.assertEqual(p["datasource"]["uid"], "${%s}" % ds[0]["name"], p["title"])
                walk(p.get("panels", []))
        walk(d["panels"])
        ids = []

        def collect(panels):
            for p in panels:
                ids.append(p["id"])
                collect(p.get("panels", []))
        collect(d["panels"])
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        joined = "\n".join(e for _, e in exprs)
        for needle in ("policy_sidecar_requests_total", "policy_sidecar_denials_total", "policy_sidecar_rate_limited_total",
                       "policy_sidecar_request_duration_seconds_bucket", "policy_sidecar_upstream_duration_seconds_bucket",
                       "policy_sidecar_redis_errors_total", "policy_sidecar_redis_failures_total",
                       "policy_sidecar_redis_timeouts_total", "policy_sidecar_tenant_cache_hits_total",
                       "policy_sidecar_tenant_cache_misses_total", "histogram_quantile(0.5", "histogram_quantile(0.99",
                       'mode="report_only"', "by (service, reason, mode)", "by (service, code)"):
            self.assertIn(needle, joined)

    def test_metrics_exist_in_metrics_h(self):
        used = queried_metrics(self.text)
        documented = metrics_h_names()
        self.assertIn("policy_sidecar_redis_failures_total", documented)  # the "/ _x_total" lists expand
        self.assertEqual(used - documented, set(), "the dashboard queries series that sidecar/observe/metrics.h does not list")

    @unittest.skipIf(PROMTOOL is None, "promtool (Debian package prometheus) is not installed")
    def test_queries_are_valid_promql(self):
        # promtool parses each query as a recording rule, Grafana's variables filled in.
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for i, (title, expr) in enumerate(dashboard_exprs(self.dashboard)):
            expr = (expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
                    .replace("$instance", ".*").replace("$service", ".*"))
            self.assertNotIn("$", expr, title)
            lines += ["      - record: dashboard:query_%d" % i, "        expr: %s" % json.dumps(expr)]
        path = os.path.join(self.tmp, "dashboard-rules.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = run([PROMTOOL, "check", "rules", path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_metrics_exist_in_a_live_scrape(self):
        policy = "routes:\n  - path: /health\n    methods: [GET]\n    auth: none\n"
        sidecar = self.start_sidecar({"svc": {"upstream_port": free_port(), "policy": policy}})
        resp = request(sidecar.admin_port, "GET", "/metrics")
        self.assertEqual(resp.status, 200)
        typed = set(re.findall(r"^# TYPE (policy_sidecar_[a-z_]+) ", resp.body.decode(), re.M))
        used = queried_metrics(self.text) | queried_metrics(read(ALERTS))
        self.assertEqual(used - typed, set(), "queried but not in the scrape's # TYPE lines")


class ExampleConfigTest(unittest.TestCase):
    def test_check_example_passes(self):
        if not os.access(SIDECAR, os.X_OK):
            self.skipTest("%s is not built" % SIDECAR)
        p = run(["bash", CHECK_EXAMPLE, SIDECAR])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OK (5 service(s))", p.stdout)

    def copy_of_the_example(self):
        """A copy of just what check-example.sh uses; returns the copy's deploy directory."""
        if not os.access(SIDECAR, os.X_OK):
            self.skipTest("%s is not built" % SIDECAR)
        tmp = tempfile.mkdtemp(prefix="sidecar-example-")
        self.addCleanup(shutil.rmtree, tmp, True)
        shutil.copytree(DEPLOY, os.path.join(tmp, "deploy"))
        shutil.copytree(os.path.join(SOURCE_DIR, "policies"), os.path.join(tmp, "policies"))
        os.makedirs(os.path.join(tmp, "certs"))
        shutil.copy2(os.path.join(SOURCE_DIR, "certs", "make-dev-certs.sh"), os.path.join(tmp, "certs"))
        fixtures = os.path.join(tmp, "tests", "fixtures", "jwt")
        os.makedirs(fixtures)
        shutil.copy2(os.path.join(SOURCE_DIR, "tests", "fixtures", "jwt", "rs256.jwks.json"), fixtures)
        return os.path.join(tmp, "deploy")

    @staticmethod
    def edit(path, old, new, count=1):
        text = read(path)
        assert text.count(old) >= count, (path, old)
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def test_check_example_fails_on_a_broken_policy(self):
        deploy = self.copy_of_the_example()
        self.edit(os.path.join(deploy, "..", "policies", "rag.yaml"), "mode: report_only", "mode: enforced")
        p = run(["bash", os.path.join(deploy, "check-example.sh"), SIDECAR])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("rag.yaml", p.stderr)

    def check_unedited(self, deploy):
        """check-example.sh on `deploy`, leaving the <placeholders> as written."""
        return run(["bash", os.path.join(deploy, "check-example.sh"), SIDECAR],
                   env=dict(os.environ, CHECK_EXAMPLE_PLACEHOLDERS="keep"))

    def test_unedited_example_is_refused_naming_the_placeholder(self):
        deploy = self.copy_of_the_example()
        p = self.check_unedited(deploy)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        line = read(EXAMPLE).splitlines().index("  - issuer: https://cognito-idp.<region>.amazonaws.com/<user-pool-id>") + 1
        self.assertIn("policy-sidecar.yaml:%d: jwt_issuers[0].issuer: still holds the placeholder \"<region>\"" % line, p.stderr)
        # the region and pool filled in: the app client id is next, in a list
        self.edit(os.path.join(deploy, "policy-sidecar.yaml"), "cognito-idp.<region>.amazonaws.com/<user-pool-id>",
                  "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123")
        p = self.check_unedited(deploy)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("jwt_issuers[0].audiences[0]: still holds the placeholder \"<app-client-id>\"", p.stderr)

    def test_placeholders_are_refused_without_tls(self):
        # the trap: with the tls: blocks removed (no fingerprint placeholder left to fail),
        # the placeholders in the issuer and audiences passed --check
        deploy = self.copy_of_the_example()
        path = os.path.join(deploy, "policy-sidecar.yaml")
        text = re.sub(r"\n    tls:\n(?:      .*\n)+", "\n", read(path))
        self.assertNotIn("tls:", re.sub(r"(?m)#.*$", "", text))
        # without TLS there is no client certificate to trust the gateway by: by address instead
        text, n = re.subn(r"(?m)^trusted_proxies:\n  client_cert: true\n", "trusted_proxies:\n  cidrs: [10.0.0.0/16]\n", text)
        self.assertEqual(n, 1)
        with open(path, "w") as f:
            f.write(text)
        p = self.check_unedited(deploy)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("jwt_issuers[0].issuer: still holds the placeholder \"<region>\"", p.stderr)
        # and once filled in (what check-example.sh does by default) it passes
        p = run(["bash", os.path.join(deploy, "check-example.sh"), SIDECAR])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_example_shape(self):
        text = read(EXAMPLE)
        for name, (port, upstream) in SERVICES.items():
            block = re.search(r"- name: %s\n(.*?)(?=\n  - name:|\Z)" % name, text, re.S)
            self.assertIsNotNone(block, name)
            block = block.group(1)
            self.assertRegex(block, r"listen: 0\.0\.0\.0:%d\b" % port)
            self.assertRegex(block, r"upstream: http://127\.0\.0\.1:%d\b" % upstream)
            self.assertRegex(block, r"policy: policies/%s\.yaml" % name)
            # below API Gateway's 29 s, or the gateway's own 504 wins the race against the sidecar's
            timeout = re.search(r"(?m)^    timeout_s: (\d+)", block)
            self.assertIsNotNone(timeout, name)
            self.assertLess(int(timeout.group(1)), 29, name)
            for key in ("cert_file", "key_file", "client_ca_file"):
                self.assertRegex(block, r"%s: /etc/policy-sidecar/tls/" % key)
        self.assertIn("access_log: /var/log/policy-sidecar/access.log", text)
        self.assertIn("password_file: /etc/policy-sidecar/redis.pass", text)
        self.assertRegex(text, r"user: sidecar\b")
        self.assertIn("tenant_claim: custom:tenant_id", text)
        # keys from Cognito itself, the last good set kept where the unit's StateDirectory= is
        self.assertIn("discovery: true", text)
        self.assertIn("jwks_cache_file: /var/lib/policy-sidecar/cognito.jwks.json", text)
        self.assertNotIn("jwks_file:", text)
        self.assertIn("client_ids: [<app-client-id>]", text)
        self.assertIn('scopes_claims: [scope, "cognito:groups"]', text)
        self.assertRegex(text, r"issuer: https://cognito-idp\.[^.]+\.amazonaws\.com/")
        self.assertRegex(text, r"algorithms: \[RS256\]")

    def test_policies(self):
        files = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(SOURCE_DIR, "policies", "*.yaml")))
        self.assertEqual(files, sorted(SERVICES))
        for name in SERVICES:
            text = read(os.path.join(SOURCE_DIR, "policies", name + ".yaml"))
            self.assertRegex(text, r"(?m)^mode: report_only$", name)
            self.assertRegex(text, r"(?m)^#.*mode: enforce", name + ": a comment says how to enforce")
            self.assertRegex(text, r"(?m)^strip_prefix: /%s$" % name, name)
            self.assertRegex(text, r"(?m)^cors:\n  allowed_origins: \[https://", name)
            self.assertRegex(text, r"(?m)^rate_limit:\n  rate: \d+", name)
            self.assertRegex(text, r"  - path: /%s/health\n    methods: \[GET\]\n    auth: none\n" % name, name)
        self.assertRegex(read(os.path.join(SOURCE_DIR, "policies", "tools.yaml")), r"scopes: \[tools:admin\]")


class ExampleServesTest(IntegrationTest):
    """The example, as check-example.sh lays it out, actually serves: mTLS with a self-signed
    gateway-like certificate, public health routes, report_only forwarding and CORS preflights.
    Listen ports are moved to free ones; Redis is left unreachable (nothing needs it here)."""

    def setUp(self):
        super().setUp()
        if not os.access(SIDECAR, os.X_OK):
            self.skipTest("%s is not built" % SIDECAR)
        p = run(["bash", CHECK_EXAMPLE, SIDECAR], env=dict(os.environ, TMPDIR=self.tmp, CHECK_EXAMPLE_KEEP="1"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        (self.dir,) = glob.glob(os.path.join(self.tmp, "policy-sidecar-example.*"))
        self.certs = os.path.join(self.dir, "certs")
        self.backend = self.start_backend()
        self.admin_port = free_port()
        self.ports = {}
        config = os.path.join(self.dir, "config", "policy-sidecar.yaml")
        text = read(config)
        for name, (port, upstream) in SERVICES.items():
            self.ports[name] = free_port()
            text = text.replace("listen: 0.0.0.0:%d" % port, "listen: 127.0.0.1:%d" % self.ports[name])
            text = text.replace("upstream: http://127.0.0.1:%d" % upstream, "upstream: http://127.0.0.1:%d" % self.backend.port)
        text = text.replace("admin_listen: 127.0.0.1:9901", "admin_listen: 127.0.0.1:%d" % self.admin_port)
        text = re.sub(r"url: redis://127\.0\.0\.1:6379", "url: redis://127.0.0.1:%d" % free_port(), text)
        with open(config, "w") as f:
            f.write(text)
        self.sidecar = Process("example-sidecar", [SIDECAR, "-c", config], self.tmp)
        self.processes.append(self.sidecar)

        def alive():
            if not self.sidecar.running():
                raise AssertionError("the example sidecar exited:\n" + self.sidecar.output())
            try:
                return request(self.admin_port, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False
        # Redis is unreachable: the sidecar is alive and serves public routes, but is not ready
        wait_until(alive, what="example sidecar /healthz")

    def https(self, service, method, path, headers=(), cert="gateway-client"):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        if cert is not None:
            ctx.load_cert_chain(os.path.join(self.certs, cert + ".crt"), os.path.join(self.certs, cert + ".key"))
        conn = http.client.HTTPSConnection("localhost", self.ports[service], context=ctx, timeout=30)
        try:
            conn.request(method, path, headers=dict(headers))
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def refused(self, service, cert):
        try:
            status, _, _ = self.https(service, "GET", "/%s/health" % service, cert=cert)
        except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected, socket.timeout):
            return True
        return status != 200

    def test_not_ready_while_redis_is_unreachable(self):
        resp = request(self.admin_port, "GET", "/ready")
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.json()["status"], "not_ready")
        self.assertIn("redis: worker 0", resp.json()["waiting_for"])
        self.assertIn("redis: subscription, worker 0", resp.json()["waiting_for"])
        self.assertEqual(request(self.admin_port, "GET", "/healthz").status, 200)

    def test_starts_from_the_jwks_cache_file(self):
        # the example's issuer (check-example.sh's made-up sample) cannot be fetched: the last good set serves
        out = self.sidecar.output()
        self.assertIn("jwt issuer https://cognito-idp.xx-example-1.amazonaws.com/xx-example-1_Example0: cannot fetch its keys", out)
        self.assertIn("starting from jwks_cache_file %s/state/cognito.jwks.json (1 key(s)" % self.dir, out)

    def test_public_health_over_mtls(self):
        for name in SERVICES:
            status, _, body = self.https(name, "GET", "/%s/health" % name)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["path"], "/health")  # strip_prefix

    def test_only_the_pinned_gateway_certificate_gets_in(self):
        self.backend.reset()
        self.assertTrue(self.refused("tools", None))
        self.assertTrue(self.refused("tools", "client"))    # the dev CA's client certificate: not the pinned one
        self.assertTrue(self.refused("tools", "stranger"))
        self.assertEqual(self.backend.log(), [])

    def test_report_only_forwards_and_counts(self):
        status, _, body = self.https("tools", "GET", "/tools/admin/list", headers=[("X-Tenant-ID", "acme")])
        self.assertEqual(status, 200, body)  # refused once enforced; forwarded (and counted) now
        self.assertEqual(json.loads(body)["path"], "/admin/list")
        # counted when the response is finished, which may be just after the client has read it
        counted = re.compile(r'policy_sidecar_denials_total\{service="tools",reason="missing_credentials",'
                             r'mode="report_only"\} [1-9]')
        wait_until(lambda: counted.search(request(self.admin_port, "GET", "/metrics").body.decode()), ceiling_s=10,
                   what="the report_only denial in /metrics")
        log_path = os.path.join(self.dir, "logs", "access.log")

        def logged():
            if not os.path.exists(log_path):
                return None
            return [json.loads(l) for l in read(log_path).splitlines() if l.strip()]
        lines = wait_until(logged, ceiling_s=10, what="an access-log line")
        self.assertTrue(any(l["decision"] == "report_only_deny" and l["reason"] == "missing_credentials" for l in lines), lines)

    def test_the_gateway_headers_are_trusted(self):
        # the example trusts connections that presented the gateway's certificate (trusted_proxies)
        self.backend.reset()
        status, _, body = self.https("tools", "GET", "/tools/health", headers=[
            ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"),
            ("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"), ("X-Gateway-Request-Id", "c6af9ac6-7b61")])
        self.assertEqual(status, 200, body)
        headers = {k.lower(): v for k, v in self.backend.log()[-1]["headers"]}
        self.assertEqual(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1")
        log_path = os.path.join(self.dir, "logs", "access.log")

        def logged():
            if not os.path.exists(log_path):
                return None
            lines = [json.loads(l) for l in read(log_path).splitlines() if l.strip()]
            return [l for l in lines if l["path"] == "/tools/health"] or None
        line = wait_until(logged, ceiling_s=10, what="the access-log line")[-1]
        self.assertEqual((line["client_addr"], line["remote_addr"]), ("203.0.113.9", "127.0.0.1"))
        self.assertEqual((line["trace_id"], line["gateway_request_id"]), ("Root=1-5759e988-bd862e3fe1be46a994272793", "c6af9ac6-7b61"))

    def test_cors_preflight_allows_the_tenant_header(self):
        status, headers, _ = self.https("rag", "OPTIONS", "/rag/query", headers=[
            ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,authorization,x-tenant-id")])
        self.assertIn(status, (200, 204))
        self.assertEqual(headers.get("access-control-allow-origin"), "https://app.example.com")
        self.assertIn("x-tenant-id", headers.get("access-control-allow-headers", "").lower())


class LogrotateTest(unittest.TestCase):
    def test_directives(self):
        text = read(LOGROTATE_CONF)
        body = "\n".join(l.strip() for l in text.splitlines() if not l.strip().startswith("#"))
        for directive in ("daily", "rotate 14", "compress", "delaycompress", "missingok", "notifempty",
                          "create 0640 policy-sidecar policy-sidecar", "systemctl kill -s USR1 policy-sidecar.service"):
            self.assertRegex(body, r"(?m)^%s\b" % re.escape(directive))
        self.assertNotIn("copytruncate", body)
        self.assertIn("/var/log/policy-sidecar/", body)

    @unittest.skipIf(LOGROTATE is None, "logrotate is not installed")
    def test_logrotate_parses_it(self):
        tmp = tempfile.mkdtemp(prefix="sidecar-logrotate-")
        self.addCleanup(shutil.rmtree, tmp, True)
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs, mode=0o750)
        with open(os.path.join(logs, "access.log"), "w") as f:
            f.write("{}\n")
        conf = os.path.join(tmp, "policy-sidecar")
        text = read(LOGROTATE_CONF).replace("/var/log/policy-sidecar", logs)
        text = text.replace("create 0640 policy-sidecar policy-sidecar", "create 0640 root root")  # no such user here
        with open(conf, "w") as f:
            f.write(text)
        p = run([LOGROTATE, "-d", "-f", "-s", os.path.join(tmp, "state"), conf])  # -d: nothing is done
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("error", (p.stdout + p.stderr).lower(), p.stdout + p.stderr)


class ScriptsTest(unittest.TestCase):
    def test_bash_n(self):
        for script in SCRIPTS:
            p = run(["bash", "-n", script])
            self.assertEqual(p.returncode, 0, script + ": " + p.stderr)
            self.assertTrue(os.stat(script).st_mode & stat.S_IXUSR, script + " is not executable")
            self.assertIn("set -euo pipefail", read(script), script)

    @unittest.skipIf(SHELLCHECK is None, "shellcheck is not installed")
    def test_shellcheck(self):
        p = run([SHELLCHECK] + SCRIPTS)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class MigrateScriptTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecar-migrate-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # An `aws` first on PATH that records being called: the script must only print.
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        self.marker = os.path.join(self.tmp, "aws-was-called")
        fake = os.path.join(bindir, "aws")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho \"$@\" >>%s\nexit 1\n" % self.marker)
        os.chmod(fake, 0o755)
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        for k in ("REST_API_ID", "STAGE", "EC2_HOST", "REGION", "ALLOW_ORIGIN"):
            self.env.pop(k, None)

    def migrate(self, *args, env=None):
        p = run(["bash", MIGRATE] + list(args), env=dict(self.env, **(env or {})))
        self.assertFalse(os.path.exists(self.marker), "the script ran aws: " +
                         (read(self.marker) if os.path.exists(self.marker) else ""))
        return p

    @staticmethod
    def commands(output):
        """The printed lines with backslash continuations joined."""
        return re.sub(r"\\\n\s*", "", output).splitlines()

    def sidecar_moves(self, output):
        return [c for c in self.commands(output) if c.startswith("to_sidecar ")]

    def test_example_config(self):
        p = self.migrate("--all", env={"REST_API_ID": "a1b2c3", "STAGE": "prod", "EC2_HOST": "ec2-1.example.com",
                                       "REGION": "eu-west-1"})
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        moves = self.sidecar_moves(out)
        self.assertEqual(len(moves), 2 * len(SERVICES), "\n".join(moves))
        for name, (port, _) in SERVICES.items():
            self.assertIn('to_sidecar /%s %s.json "https://$EC2_HOST:%d/%s"' % (name, name, port, name), moves)
            self.assertIn("to_sidecar '/%s/{proxy+}' %s-proxy.json \"https://$EC2_HOST:%d/%s/{proxy}\"" % (name, name, port, name),
                          moves)
        # the helper keeps the proxy path parameter and pins HTTPS with certificate verification
        for part in ('"integration.request.path.proxy", "method.request.path.proxy"', '"type": "HTTP_PROXY"',
                     '"integrationHttpMethod": "ANY"', '"tlsConfig": {"insecureSkipVerification": False}'):
            self.assertIn(part, out)
        cmds = self.commands(out)
        self.assertEqual(sum("generate-client-certificate" in c for c in cmds), 1)
        self.assertTrue(any("update-stage" in c and "op=replace,path=/clientCertificateId,value=" in c for c in cmds))
        self.assertTrue(any("get-resources" in c and "--query" in c for c in cmds))
        self.assertTrue(any(c.startswith("aws apigateway create-deployment") and '--stage-name "$STAGE"' in c for c in cmds))
        self.assertTrue(any("update-integration-response" in c for c in cmds))
        self.assertIn("X-Tenant-ID", out)
        for value in ("REST_API_ID='a1b2c3'", "STAGE='prod'", "EC2_HOST='ec2-1.example.com'", "REGION='eu-west-1'"):
            self.assertIn(value, out)
        # what it prints is a shell script
        script = os.path.join(self.tmp, "migrate.sh")
        with open(script, "w") as f:
            f.write(out)
        check = run(["bash", "-n", script])
        self.assertEqual(check.returncode, 0, check.stderr)

    def test_placeholders_and_flags(self):
        # no placeholder defaults any more: a missing value prints nothing
        p = self.migrate("--all", EXAMPLE)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        p = self.migrate("--all", "--rest-api-id", "xyz", "--stage", "dev", "--host", "h.example.com", "--region",
                         "us-east-1", EXAMPLE)
        self.assertEqual(p.returncode, 0, p.stderr)
        for value in ("REST_API_ID='xyz'", "STAGE='dev'", "EC2_HOST='h.example.com'", "REGION='us-east-1'"):
            self.assertIn(value, p.stdout)

    def test_reads_any_host_config(self):
        config = os.path.join(self.tmp, "host.yaml")
        with open(config, "w") as f:
            f.write("""# another host
threads: 1
admin_listen: 127.0.0.1:9901
services:
  - name: alpha            # first
    listen: "0.0.0.0:9443"
    upstream: http://127.0.0.1:7000
    policy: policies/alpha.yaml
    tls:
      cert_file: x
      key_file: y
  - upstream: http://127.0.0.1:7001
    listen: 0.0.0.0:9444
    name: beta
    policy: policies/beta.yaml
redis:
  url: redis://127.0.0.1:6379
""")
        p = self.migrate("--all", "--rest-api-id", "x", "--stage", "s", "--host", "h", "--region", "r",
                         "--origin", "https://app.example.com", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        moves = self.sidecar_moves(p.stdout)
        self.assertEqual(len(moves), 4, "\n".join(moves))
        self.assertTrue(any('"https://$EC2_HOST:9443/alpha/{proxy}"' in c for c in moves))
        self.assertTrue(any('"https://$EC2_HOST:9444/beta"' in c for c in moves))

    def test_refuses_a_missing_config(self):
        p = self.migrate("--all", "--rest-api-id", "x", "--stage", "s", "--host", "h", "--region", "r",
                         os.path.join(self.tmp, "nope.yaml"))
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
