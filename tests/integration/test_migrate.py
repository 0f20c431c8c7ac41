"""deploy/apigateway-migrate.sh (issue 13, item 1), run for real: the script it prints is run
against a fake `aws` (fake_aws.py) on PATH that keeps a REST API's integrations in a JSON file
and records every call. Migrating chosen services and then rolling back from the backup that
step 0 wrote gives back the original integrations, OPTIONS responses and gateway responses byte
for byte; the services not chosen are never touched; a change the gateway did not make stops the
script before the deployment; nothing is printed while a value is missing or a placeholder."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import fake_aws
from harness import HERE, SOURCE_DIR

MIGRATE = os.path.join(SOURCE_DIR, "deploy", "apigateway-migrate.sh")
EXAMPLE = os.path.join(SOURCE_DIR, "deploy", "policy-sidecar.yaml")
FAKE_AWS = os.path.join(HERE, "fake_aws.py")
ARGS = ["--rest-api-id", "a1b2c3", "--stage", "prod", "--region", "eu-west-1"]
MIGRATE_ARGS = ARGS + ["--host", "ec2-1.example.com"]
SERVICES = {"langchain": 8500, "tools": 8501, "rag": 8502, "auth": 8590, "grafana": 8300}


def run(argv, **kw):
    kw.setdefault("timeout", 120)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def original_state(pem):
    """A REST API as an operator has it today: every service on its own port, some integrations
    with request parameters and timeouts of their own, one OPTIONS method (the console's CORS)."""
    resources, integrations, options = {}, {}, {}
    for n, (name, port) in enumerate(sorted(SERVICES.items())):
        upstream = {"langchain": 5000, "tools": 5001, "rag": 5002, "auth": 8090, "grafana": 3000}[name]
        for suffix, path, uri in (("r", "/" + name, "http://ec2-1.example.com:%d/" % upstream),
                                  ("p", "/%s/{proxy+}" % name, "http://ec2-1.example.com:%d/{proxy}" % upstream)):
            rid = "%s%d" % (suffix, n)
            resources[path] = rid
            integration = {"type": "HTTP_PROXY", "httpMethod": "ANY", "uri": uri, "connectionType": "INTERNET",
                           "passthroughBehavior": "WHEN_NO_MATCH", "timeoutInMillis": 29000, "cacheNamespace": rid,
                           "cacheKeyParameters": []}
            if suffix == "p":
                integration["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
                integration["cacheKeyParameters"] = ["method.request.path.proxy"]
            if name == "langchain" and suffix == "p":
                # what put-integration used to drop: a header mapping and a shorter timeout
                integration["requestParameters"]["integration.request.header.X-Client-Version"] = \
                    "method.request.header.X-Client-Version"
                integration["timeoutInMillis"] = 15000
            if name == "tools" and suffix == "r":
                integration["integrationResponses"] = {"200": {"statusCode": "200",
                                                               "responseTemplates": {"application/json": None}}}
            integrations[rid] = integration
    options[resources["/tools"]] = {"statusCode": "200", "responseParameters": {
        "method.response.header.Access-Control-Allow-Headers": "'Content-Type,Authorization'",
        "method.response.header.Access-Control-Allow-Origin": "'*'"}, "responseTemplates": {"application/json": ""}}
    return {"resources": resources, "integrations": integrations, "options": options, "gateway_responses": {
        "DEFAULT_5XX": {"responseType": "DEFAULT_5XX", "defaultResponse": False, "responseParameters": {
            "gatewayresponse.header.X-Old": "'kept'"}, "responseTemplates": {"application/json": "{}"}}},
        "stage": {"clientCertificateId": "None"}, "client_certificate_pem": pem}


class MigrateRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keydir = tempfile.mkdtemp(prefix="sidecar-migrate-cert-")
        p = run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-days", "2", "-subj", "/CN=ApiGateway stand-in", "-keyout", os.path.join(cls.keydir, "k.pem"),
                 "-out", os.path.join(cls.keydir, "c.pem")])
        assert p.returncode == 0, p.stderr
        with open(os.path.join(cls.keydir, "c.pem")) as f:
            cls.pem = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.keydir, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecar-migrate-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.make_writable)
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        os.symlink(FAKE_AWS, os.path.join(bindir, "aws"))
        # curl: the health checks through the gateway, recorded and answered like the services
        with open(os.path.join(bindir, "curl"), "w") as f:
            f.write('#!/bin/sh\necho "$@" >>"$FAKE_AWS_STATE.curl"\necho \'{"status":"OK"}\'\n')
        os.chmod(os.path.join(bindir, "curl"), 0o755)
        self.state = os.path.join(self.tmp, "api.json")
        with open(self.state, "w") as f:
            json.dump(original_state(self.pem), f)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("REST_API_ID", "STAGE", "EC2_HOST", "REGION", "ALLOW_ORIGIN")}
        self.env.update(PATH=bindir + os.pathsep + os.environ["PATH"], FAKE_AWS_STATE=self.state)

    def make_writable(self):
        """The backups are read-only; rmtree needs them writable (never chmod the fake's symlink)."""
        for dirpath, _, files in os.walk(self.work):
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)

    def generate(self, *args):
        calls = len(self.calls())
        p = run(["bash", MIGRATE] + list(args), env=self.env, cwd=self.work)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.calls()), calls, "the generator itself called aws")
        return p.stdout

    def run_script(self, text, name, answer="y\n", env=None):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return run(["bash", path], env=dict(self.env, **(env or {})), cwd=self.work, input=answer, stdin=None)

    def calls(self):
        path = self.state + ".calls"
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def aws(self, *args):
        """What the CLI would print now, as text (byte-for-byte comparisons)."""
        p = run([FAKE_AWS, "apigateway"] + list(args), env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def snapshot(self):
        """Every object the migration may touch, as the CLI prints it."""
        with open(self.state) as f:
            return fake_aws.render_state(json.load(f))

    def integration(self, path):
        with open(self.state) as f:
            state = json.load(f)
        return state["integrations"][state["resources"][path]]

    @staticmethod
    def read_dir(path):
        files = {}
        for name in os.listdir(path):
            with open(os.path.join(path, name)) as f:
                files[name] = f.read()
        return files

    def backups(self):
        return sorted(d for d in os.listdir(self.work) if d.startswith("apigateway-backup-"))

    def test_migrate_then_rollback_restores_byte_for_byte(self):
        before = self.snapshot()
        script = self.generate("--service", "langchain", "--service", "tools", *MIGRATE_ARGS, EXAMPLE)
        p = self.run_script(script, "migrate.sh")
        script_calls = self.calls()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        # the two services point at their sidecar ports, with what they had carried over
        lc = self.integration("/langchain/{proxy+}")
        self.assertEqual(lc["uri"], "https://ec2-1.example.com:8500/langchain/{proxy}")
        self.assertEqual(lc["tlsConfig"], {"insecureSkipVerification": False})
        self.assertEqual(lc["requestParameters"], {
            "integration.request.path.proxy": "method.request.path.proxy",
            "integration.request.header.X-Client-Version": "method.request.header.X-Client-Version"})
        self.assertEqual(lc["cacheKeyParameters"], ["method.request.path.proxy"])
        self.assertEqual(self.integration("/tools")["uri"], "https://ec2-1.example.com:8501/tools")
        # the others are untouched, and were not even read
        after = self.snapshot()
        for name in ("rag", "auth", "grafana"):
            for path in ("/" + name, "/%s/{proxy+}" % name):
                self.assertEqual(after["integration " + path], before["integration " + path])
        touched = {c[c.index("--resource-id") + 1] for c in script_calls if "--resource-id" in c}
        with open(self.state) as f:
            resources = json.load(f)["resources"]
        self.assertEqual(touched, {resources[p] for p in ("/langchain", "/langchain/{proxy+}", "/tools", "/tools/{proxy+}")})
        # CORS: the OPTIONS method that existed got X-Tenant-ID; the gateway's errors the policy's origin
        self.assertIn("X-Tenant-ID", after["options " + resources["/tools"]])
        self.assertIn("'https://app.example.com'", after["gateway DEFAULT_4XX"])
        # one deployment, health checked for the two services only
        deploys = [c for c in self.calls() if c[1] == "create-deployment"]
        self.assertEqual(len(deploys), 1)
        with open(self.state + ".curl") as f:
            curls = f.read()
        self.assertIn("/prod/langchain/health", curls)
        self.assertIn("/prod/tools/health", curls)
        self.assertNotIn("/rag/", curls)

        # step 0's backup: one new directory, read-only files, exactly the CLI's answers
        backups = self.backups()
        self.assertEqual(len(backups), 1)
        self.assertRegex(backups[0], r"^apigateway-backup-\d{8}T\d{6}Z-\w+$")
        backup = os.path.join(self.work, backups[0])
        with open(os.path.join(backup, "langchain-proxy.json")) as f:
            self.assertEqual(f.read(), before["integration /langchain/{proxy+}"])
        self.assertFalse(os.stat(os.path.join(backup, "manifest")).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        saved = self.read_dir(backup)

        # rollback, from that directory only
        rollback = self.generate("--rollback", backup, *ARGS)
        self.assertNotIn("http://host", rollback)
        p = self.run_script(rollback, "rollback.sh", answer="")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.snapshot(), before)
        for path in ("/langchain", "/langchain/{proxy+}", "/tools", "/tools/{proxy+}"):  # and as the CLI prints them
            self.assertEqual(self.aws("get-integration", "--rest-api-id", "a1b2c3", "--resource-id", resources[path],
                                      "--http-method", "ANY"), before["integration " + path])
        # the rollback saved the state it replaced in a new directory; the first is unchanged
        self.assertEqual(len(self.backups()), 2)
        self.assertEqual(self.read_dir(backup), saved)
        self.assertEqual(len([c for c in self.calls() if c[1] == "create-deployment"]), 2)

    def test_a_change_the_gateway_did_not_make_stops_the_script(self):
        script = self.generate("--service", "langchain", *MIGRATE_ARGS, EXAMPLE)
        p = self.run_script(script, "migrate.sh", env={"FAKE_AWS_LIE": "requestParameters"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("requestParameters differ", p.stderr)
        self.assertEqual([c for c in self.calls() if c[1] == "create-deployment"], [])
        # and the backup it wrote already undoes it
        rollback = self.generate("--rollback", os.path.join(self.work, self.backups()[0]), *ARGS)
        self.assertEqual(self.run_script(rollback, "rollback.sh").returncode, 0)
        original = original_state(self.pem)
        self.assertEqual(self.integration("/langchain/{proxy+}"),
                         original["integrations"][original["resources"]["/langchain/{proxy+}"]])

    def test_no_confirmation_no_change(self):
        script = self.generate("--all", *MIGRATE_ARGS, EXAMPLE)
        before = self.snapshot()
        p = self.run_script(script, "migrate.sh", answer="n\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.snapshot(), before)
        self.assertFalse(any(c[1] in ("put-integration", "create-deployment") for c in self.calls()))


class MigrateGenerateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecar-migrate-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("REST_API_ID", "STAGE", "EC2_HOST", "REGION", "ALLOW_ORIGIN")}

    def generate(self, *args, env=None):
        return run(["bash", MIGRATE] + list(args), env=dict(self.env, **(env or {})), cwd=self.tmp)

    def refused(self, p, message):
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertIn(message, p.stderr)

    def test_services_must_be_named(self):
        self.refused(self.generate(*MIGRATE_ARGS, EXAMPLE), "--service NAME")
        self.refused(self.generate("--service", "nope", *MIGRATE_ARGS, EXAMPLE), "no service nope")
        self.refused(self.generate("--all", "--service", "rag", *MIGRATE_ARGS, EXAMPLE), "not both")
        one = self.generate("--service", "rag", *MIGRATE_ARGS, EXAMPLE)
        self.assertEqual(one.returncode, 0, one.stderr)
        self.assertEqual(re.findall(r"^to_sidecar \S+", one.stdout, re.M), ["to_sidecar /rag", "to_sidecar '/rag/{proxy+}'"])
        every = self.generate("--all", *MIGRATE_ARGS, EXAMPLE)
        self.assertEqual(len(re.findall(r"^to_sidecar ", every.stdout, re.M)), 2 * len(SERVICES))

    def test_nothing_printed_with_a_placeholder_or_a_missing_value(self):
        self.refused(self.generate("--all", "--rest-api-id", "x", "--region", "r", EXAMPLE), "missing --stage --host")
        self.refused(self.generate("--all", *ARGS, "--host", "<ec2-host>", EXAMPLE), "placeholder")
        self.refused(self.generate("--all", *MIGRATE_ARGS, "--origin", "<https://app.example.com>", EXAMPLE), "placeholder")
        # a placeholder coming from a file (a policy's origin) is caught on the printed text too
        config = os.path.join(self.tmp, "host.yaml")
        os.makedirs(os.path.join(self.tmp, "policies"))
        with open(config, "w") as f:
            f.write("services:\n  - name: alpha\n    listen: 0.0.0.0:9443\n    policy: policies/alpha.yaml\n")
        with open(os.path.join(self.tmp, "policies", "alpha.yaml"), "w") as f:
            f.write("mode: enforce\ncors:\n  allowed_origins:\n    - <https://app.example.com>\n")
        self.refused(self.generate("--all", *MIGRATE_ARGS, config), "apigateway-migrate:")
        # environment variables count as given
        p = self.generate("--service", "rag", EXAMPLE, env={"REST_API_ID": "a", "STAGE": "s", "REGION": "r",
                                                              "EC2_HOST": "h.example.com"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNone(re.search(r"<[A-Za-z][^<> ]*>", p.stdout))

    def test_origin_comes_from_the_policies(self):
        p = self.generate("--service", "langchain", *MIGRATE_ARGS, EXAMPLE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ALLOW_ORIGIN=\"'https://app.example.com'\"", p.stdout)
        p = self.generate("--service", "langchain", *MIGRATE_ARGS, "--origin", "https://other.example.org", EXAMPLE)
        self.assertIn("ALLOW_ORIGIN=\"'https://other.example.org'\"", p.stdout)
        # two policies, two origins: the gateway's responses carry one, so --origin must choose
        config = os.path.join(self.tmp, "host.yaml")
        os.makedirs(os.path.join(self.tmp, "policies"))
        with open(config, "w") as f:
            f.write("services:\n  - name: a\n    listen: 0.0.0.0:1\n    policy: policies/a.yaml\n"
                    "  - name: b\n    listen: 0.0.0.0:2\n    policy: /etc/policy-sidecar/policies/b.yaml\n")
        for name, origin in (("a", "https://a.example.com"), ("b", "https://b.example.com")):
            with open(os.path.join(self.tmp, "policies", name + ".yaml"), "w") as f:
                f.write("cors:\n  allowed_origins: [%s]   # the app\n  max_age_s: 5\n" % origin)
        self.refused(self.generate("--all", *MIGRATE_ARGS, config), "several origins")
        p = self.generate("--service", "b", *MIGRATE_ARGS, config)  # found in policies/ next to the host file
        self.assertIn("ALLOW_ORIGIN=\"'https://b.example.com'\"", p.stdout)

    def test_rollback_needs_a_backup_of_this_api(self):
        self.refused(self.generate("--rollback", self.tmp, *ARGS), "not a backup directory")
        backup = os.path.join(self.tmp, "b")
        os.makedirs(backup)
        with open(os.path.join(backup, "rest-api-id"), "w") as f:
            f.write("other\n")
        with open(os.path.join(backup, "manifest"), "w") as f:
            f.write("")
        self.refused(self.generate("--rollback", backup, *ARGS), "holds REST API other")

    def test_printed_scripts_are_valid_bash(self):
        p = self.generate("--all", *MIGRATE_ARGS, EXAMPLE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("set -euo pipefail", p.stdout)
        path = os.path.join(self.tmp, "m.sh")
        with open(path, "w") as f:
            f.write(p.stdout)
        self.assertEqual(run(["bash", "-n", path]).returncode, 0)
        if shutil.which("shellcheck"):
            check = run(["shellcheck", "-s", "bash", path])
            self.assertEqual(check.returncode, 0, check.stdout)


if __name__ == "__main__":
    unittest.main()
