"""sidecarctl for operators (issue 13, item 5), against a real redis-server: an admin Redis user
besides the sidecar's read-only one (--redis-user / SIDECAR_REDIS_USER, --redis-password-file /
SIDECAR_REDIS_PASSWORD), the default host file, `audit` and the capped audit stream,
`import --dry-run`, and `tenant delete` removing the tenant's rate-limit and quota counters."""
import json
import os
import re
import time

from harness import SOURCE_DIR, write
from test_sidecarctl import PREFIX, SIDECARCTL, CtlBase, audit, dump

ADMIN_PASSWORD = "adm1n-s3cret"
SIDECAR_PASSWORD = "sidec4r-s3cret"


def guide_acl(user, password):
    """The `ACL SETUSER USER on >PASSWORD ...` rules of deploy/README.md, as redis-server
    arguments, so that the test runs with exactly the rights the guide gives."""
    text = open(os.path.join(SOURCE_DIR, "deploy", "README.md"), encoding="utf-8").read()
    m = re.search(r"^ACL SETUSER %s on >\S+ (.*?)\n```" % re.escape(user), text, re.M | re.S)
    assert m is not None, "no ACL for %s in deploy/README.md" % user
    return ("--user", user, "on", ">" + password) + tuple(m.group(1).split())


class AdminUserTest(CtlBase):
    """The deploy guide's Redis users: the sidecar's may only read records, run the rate-limit
    script and subscribe; sidecarctl's admin user may write. The default user is off."""

    redis_args = ("--user", "default", "off") + guide_acl("sidecar", SIDECAR_PASSWORD) + \
        guide_acl("sidecar-admin", ADMIN_PASSWORD)

    def setUp(self):
        super().setUp()
        write(os.path.join(self.tmp, "redis.pass"), SIDECAR_PASSWORD + "\n")
        write(os.path.join(self.tmp, "admin.pass"), ADMIN_PASSWORD + "\n")
        os.chmod(os.path.join(self.tmp, "admin.pass"), 0o600)
        self.host = self.host_file("redis: {url: 'redis://127.0.0.1:%d', user: sidecar, password_file: redis.pass}"
                                   % self.redis.port)

    def test_the_sidecars_user_cannot_write(self):
        err = self.assert_fails(3, ["-c", self.host, "tenant", "create", "acme"], url=False)
        self.assertIn("NOPERM", err)
        self.assertNotIn(SIDECAR_PASSWORD, err)

    def test_admin_user_from_options(self):
        out = self.ok("-c", self.host, "--redis-user", "sidecar-admin", "--redis-password-file",
                      os.path.join(self.tmp, "admin.pass"), "tenant", "create", "acme", url=False)
        self.assertEqual(out, "tenant acme created\n")
        # written where the sidecar reads: the host file's address and prefix
        c = self.redis.conn()
        self.addCleanup(c.close)
        c("AUTH", "sidecar", SIDECAR_PASSWORD)
        self.assertIn("active", c("HGETALL", PREFIX + "{acme}:tenant"))
        # every command the guide's alias runs works with those rights
        admin = ["-c", self.host, "--redis-user", "sidecar-admin", "--redis-password-file",
                 os.path.join(self.tmp, "admin.pass")]
        key_id = self.ok_json(*admin, "key", "create", "acme", url=False)["key_id"]
        self.ok(*admin, "key", "rotate", key_id, "--grace", "0", url=False)
        self.ok(*admin, "tenant", "update", "acme", "--rate", "3", url=False)
        self.assertEqual([t["id"] for t in self.ok_json(*admin, "tenant", "list", url=False)], ["acme"])
        self.assertEqual(len(self.ok_json(*admin, "audit", url=False)), 4)
        export = os.path.join(self.tmp, "export.json")
        write(export, self.ok(*admin, "export", url=False))
        self.ok(*admin, "import", export, "--dry-run", url=False)
        self.ok(*admin, "import", export, url=False)
        self.ok(*admin, "tenant", "delete", "acme", "--yes", url=False)

    def test_admin_user_from_the_environment(self):
        env = {"SIDECAR_REDIS_USER": "sidecar-admin", "SIDECAR_REDIS_PASSWORD": ADMIN_PASSWORD}
        self.ok("-c", self.host, "tenant", "create", "acme", env=env, url=False)
        # with --redis instead of a host file too
        self.ok("tenant", "create", "beta", env=env)
        self.assertEqual([t["id"] for t in self.ok_json("tenant", "list", env=env)], ["acme", "beta"])

    def test_the_host_files_password_is_not_sent_for_another_user(self):
        err = self.assert_fails(3, ["-c", self.host, "--redis-user", "sidecar-admin", "tenant", "create", "acme"], url=False)
        self.assertNotIn(SIDECAR_PASSWORD, err)
        err = self.assert_fails(3, ["-c", self.host, "--redis-user", "sidecar-admin", "--redis-password-file",
                                    os.path.join(self.tmp, "redis.pass"), "tenant", "create", "acme"], url=False)
        self.assertNotIn(SIDECAR_PASSWORD, err)
        self.assertEqual(self.as_admin("SMEMBERS", PREFIX + "tenants"), [])
        self.assertEqual(self.as_admin("EXISTS", PREFIX + "{acme}:tenant"), 0)

    def test_no_password_on_the_command_line(self):
        self.assert_fails(2, ["--redis-password", ADMIN_PASSWORD, "tenant", "list"], "unknown option")
        self.assert_fails(2, ["--redis-password-file", os.path.join(self.tmp, "absent"), "--redis-user", "sidecar-admin",
                              "tenant", "list"], "--redis-password-file")
        self.assert_fails(2, ["--redis-user", "two words", "tenant", "list"], "--redis-user")

    def as_admin(self, *args):
        c = self.redis.conn()
        try:
            c("AUTH", "sidecar-admin", ADMIN_PASSWORD)
            return c(*args)
        finally:
            c.close()


class DefaultConfigTest(CtlBase):
    def test_the_default_host_file_is_used_when_nothing_else_is_given(self):
        host = self.host_file("redis: {url: 'redis://127.0.0.1:%d/3', prefix: 'dflt:'}" % self.redis.port)
        env = {"SIDECARCTL_DEFAULT_CONFIG": host}
        self.ok("tenant", "create", "acme", env=env, url=False)
        c = self.redis.conn()
        self.addCleanup(c.close)
        c("SELECT", "3")
        self.assertEqual(c("HGET", "dflt:{acme}:tenant", "status"), "active")
        # its services are checked like with -c
        self.assert_fails(2, ["tenant", "create", "beta", "--services", "nope"], "unknown service", env=env, url=False)

    def test_an_address_given_wins_and_the_default_is_not_read(self):
        broken = os.path.join(self.tmp, "broken.yaml")
        write(broken, "not: [a host file\n")
        self.ok("tenant", "create", "acme", env={"SIDECARCTL_DEFAULT_CONFIG": broken})  # --redis given
        self.ok("tenant", "create", "beta", env={"SIDECARCTL_DEFAULT_CONFIG": broken, "SIDECAR_REDIS_URL": self.url},
                url=False)
        self.assertEqual(self.redis.cmd("SCARD", PREFIX + "tenants"), 2)
        # without an address, the default file is read, and a broken one is reported
        self.assert_fails(2, ["tenant", "list"], "broken.yaml", env={"SIDECARCTL_DEFAULT_CONFIG": broken}, url=False)
        # and no default file at all: the old message
        self.assert_fails(2, ["tenant", "list"], "no Redis to talk to", url=False)


class AuditCommandTest(CtlBase):
    redis_args = ("--stream-node-max-entries", "10")  # small nodes: MAXLEN ~ trims close to N

    def test_audit_lists_filters_and_prints_json(self):
        self.ok("tenant", "create", "acme", "--actor", "alice")
        self.ok("tenant", "create", "beta", "--actor", "bob")
        self.ok("tenant", "update", "acme", "--rate", "7", "--actor", "carol")
        lines = self.ok("audit").splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  alice  tenant\.create  acme  ")
        self.assertIn("  carol  tenant.update  acme  ", lines[2])
        only = self.ok("audit", "--tenant", "acme").splitlines()
        self.assertEqual([l.split("  ")[1] for l in only], ["alice", "carol"])
        doc = self.ok_json("audit", "--tenant", "beta")
        self.assertEqual(len(doc), 1)
        self.assertEqual({k: doc[0][k] for k in ("actor", "action", "tenant", "key_id")},
                         {"actor": "bob", "action": "tenant.create", "tenant": "beta", "key_id": None})
        self.assertRegex(doc[0]["id"], r"^\d+-\d+$")
        # --since: a duration back from now, or a UTC time
        self.assertEqual(len(self.ok_json("audit", "--since", "1h")), 3)
        self.assertEqual(self.ok_json("audit", "--since", "2099-01-01"), [])
        self.assertEqual(len(self.ok_json("audit", "--since", "2000-01-01T00:00:00Z")), 3)
        self.assert_fails(2, ["audit", "--since", "yesterday"], "--since")
        self.assert_fails(2, ["audit", "--tenant", "bad id"], "--tenant")
        # reading the audit writes nothing
        self.assertEqual(self.redis.cmd("XLEN", PREFIX + "audit"), 3)

    def test_the_stream_is_capped(self):
        self.ok("tenant", "create", "acme")
        for i in range(60):
            self.ok("tenant", "update", "acme", "--rate", str(i + 1), "--audit-max-entries", "10")
        length = self.redis.cmd("XLEN", PREFIX + "audit")
        self.assertGreaterEqual(length, 10)
        self.assertLessEqual(length, 20)  # "~": whole 10-entry nodes are trimmed
        # the variable too, and the newest entries are the ones kept
        for i in range(30):
            self.ok("tenant", "update", "acme", "--burst", str(i + 1), env={"SIDECAR_AUDIT_MAX_ENTRIES": "5"})
        entries = audit(self.redis)
        self.assertLessEqual(len(entries), 15)
        self.assertTrue(entries[-1]["detail"].startswith("burst=30 "), entries[-1])
        self.assert_fails(2, ["tenant", "list"], "SIDECAR_AUDIT_MAX_ENTRIES", env={"SIDECAR_AUDIT_MAX_ENTRIES": "0"})
        self.assert_fails(2, ["tenant", "list", "--audit-max-entries", "x"], "--audit-max-entries")

    def test_the_default_cap_is_applied(self):
        # the slow log with a 0 µs threshold records every command with its arguments
        self.redis.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
        self.redis.cmd("CONFIG", "SET", "slowlog-max-len", "1000")
        self.ok("tenant", "create", "acme")
        xadds = [entry[3] for entry in self.redis.cmd("SLOWLOG", "GET", "1000") if entry[3][0].upper() == "XADD"]
        self.assertEqual(len(xadds), 1, xadds)
        self.assertEqual(xadds[0][:6], ["XADD", PREFIX + "audit", "MAXLEN", "~", "100000", "*"])


class ImportDryRunTest(CtlBase):
    def test_dry_run_prints_the_changes_and_writes_nothing(self):
        self.ok("tenant", "create", "acme", "--rate", "5")
        self.ok("tenant", "create", "beta")
        self.create_key("acme", "--name", "one")
        _, gone = self.create_key("acme", "--name", "two")
        doc = self.ok_json("export")
        acme = next(t for t in doc["tenants"] if t["id"] == "acme")
        acme["rate"] = 9
        acme["keys"] = [k for k in acme["keys"] if k["key_id"] != gone]
        doc["tenants"].append({"id": "gamma", "status": "active", "services": "*", "created_at": 1, "updated_at": 1,
                               "keys": []})
        path = os.path.join(self.tmp, "import.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        before = dump(self.redis, skip_audit=False)

        out = self.ok("import", path, "--dry-run")
        lines = out.splitlines()
        self.assertIn("tenant acme: would be replaced; fields: rate; API keys added: -, removed: %s, changed: -" % gone,
                      lines)
        self.assertIn("tenant beta: unchanged", lines)
        self.assertTrue(any(l.startswith("tenant gamma: would be created") for l in lines), lines)
        self.assertEqual(lines[-1], "dry run: nothing written (2 of 3 tenants would change)")
        plan = self.ok_json("import", "--dry-run", path)
        self.assertTrue(plan["dry_run"])
        self.assertEqual([(t["id"], t["change"]) for t in plan["tenants"]],
                         [("acme", "replace"), ("beta", "none"), ("gamma", "create")])
        self.assertEqual(plan["tenants"][0]["keys_removed"], [gone])
        self.assertEqual(dump(self.redis, skip_audit=False), before)
        # the same file, for real, then a dry run finds nothing to do
        self.ok("import", path)
        self.assertTrue(self.ok("import", path, "--dry-run").endswith("(0 of 3 tenants would change)\n"))

    def test_dry_run_is_for_import_only(self):
        self.assert_fails(2, ["export", "--dry-run"], "does not take --dry-run")


class TenantDeleteCountersTest(CtlBase):
    def test_delete_removes_rate_limit_and_quota_keys(self):
        self.ok("tenant", "create", "acme")
        self.ok("tenant", "create", "acme2")
        day = time.strftime("%Y%m%d", time.gmtime())
        mine = [PREFIX + "{acme}:rl", PREFIX + "{acme}:rl:langchain", PREFIX + "{acme}:quota:" + day,
                PREFIX + "{acme}:quota:20200101"]
        others = [PREFIX + "{acme2}:rl", PREFIX + "{acme2}:quota:" + day, "other:{acme}:rl"]
        for k in mine + others:
            self.redis.cmd("SET", k, "1")
        out = self.ok("tenant", "delete", "acme", "--yes")
        self.assertEqual(out, "tenant acme deleted, with its API keys\n")
        for k in mine:
            self.assertEqual(self.redis.cmd("EXISTS", k), 0, k)
        for k in others:
            self.assertEqual(self.redis.cmd("EXISTS", k), 1, k)
        self.assertIn("and 4 rate-limit/quota keys", audit(self.redis)[-1]["detail"])
        # never KEYS
        self.assertEqual(self.redis.command_count("keys"), 0)
        self.assertGreater(self.redis.command_count("scan"), 0)

    def test_a_prefix_with_glob_characters_matches_only_itself(self):
        host = self.host_file("redis: {url: 'redis://127.0.0.1:%d', prefix: 't[1]*:'}" % self.redis.port)
        self.ok("-c", host, "tenant", "create", "acme", url=False)
        self.redis.cmd("SET", "t[1]*:{acme}:rl", "1")
        self.redis.cmd("SET", "t1zz:{acme}:rl", "1")  # what an unescaped pattern would also match
        self.ok("-c", host, "tenant", "delete", "acme", "--yes", url=False)
        self.assertEqual(self.redis.cmd("EXISTS", "t[1]*:{acme}:rl"), 0)
        self.assertEqual(self.redis.cmd("EXISTS", "t1zz:{acme}:rl"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
