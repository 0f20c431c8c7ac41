"""sidecarctl (issue 4) against a real redis-server: every command, its failures and exit
statuses, the records it writes (schema.h), the audit stream, the invalidation messages,
export/import round trips, the one-time key, and logging in with an ACL user."""
import json
import os
import re
import time
import unittest

from harness import BUILD_DIR, IntegrationTest, Redis, free_port, run_cli, sha256_hex, write

SIDECARCTL = os.path.join(BUILD_DIR, "sidecarctl")
PREFIX = "ps:"
KEY_RE = re.compile(r"psk_[A-Za-z0-9_-]{43}")
KEY_ID_RE = re.compile(r"^k_[0-9a-f]{12}$")

POLICY = """
mode: enforce
strip_prefix: /{name}
routes:
  - path: /{name}/**
    auth: none
"""


def hgetall(redis, key):
    flat = redis.cmd("HGETALL", key)
    return dict(zip(flat[::2], flat[1::2]))


def all_keys(redis):
    keys, cursor = [], "0"
    while True:
        cursor, batch = redis.cmd("SCAN", cursor, "COUNT", "1000")
        keys += batch
        if cursor == "0":
            return sorted(keys)


def dump(redis, skip_audit=True):
    """Every key's type and value, for comparing two Redis instances."""
    out = {}
    for key in all_keys(redis):
        kind = redis.cmd("TYPE", key)
        if kind == "hash":
            out[key] = ("hash", hgetall(redis, key))
        elif kind == "set":
            out[key] = ("set", sorted(redis.cmd("SMEMBERS", key)))
        elif kind == "stream":
            if not skip_audit:
                out[key] = ("stream", redis.cmd("XRANGE", key, "-", "+"))
        else:
            out[key] = (kind, redis.cmd("GET", key) if kind == "string" else None)
    return out


def audit(redis, prefix=PREFIX):
    return [dict(zip(fields[::2], fields[1::2])) for _, fields in redis.cmd("XRANGE", prefix + "audit", "-", "+")]


class CtlBase(IntegrationTest):
    """A fresh redis-server per test; `ctl` runs sidecarctl against it."""
    redis_args = ()

    def setUp(self):
        super().setUp()
        self.redis = Redis(self.tmp, extra=self.redis_args)
        self.processes.append(self.redis)
        self.url = "redis://127.0.0.1:%d" % self.redis.port

    def ctl(self, *args, env=None, input=None, url=True):
        # the default host file (/etc/policy-sidecar/...) of whoever runs the tests must not count
        env = dict({"LOGNAME": "ops-test", "SIDECARCTL_DEFAULT_CONFIG": os.path.join(self.tmp, "no-default.yaml")},
                   **(env or {}))
        argv = [SIDECARCTL] + (["--redis", self.url] if url else []) + list(args)
        return run_cli(argv, env=env, input=input)

    def ok(self, *args, **kw):
        rc, out, err = self.ctl(*args, **kw)
        self.assertEqual(rc, 0, "sidecarctl %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        self.assertEqual(err, "")
        return out

    def ok_json(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw))

    def assert_fails(self, status, args, message=None, **kw):
        rc, out, err = self.ctl(*args, **kw)
        self.assertEqual(rc, status, "sidecarctl %s: stdout %r stderr %r" % (" ".join(args), out, err))
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)  # one clear line
        self.assertTrue(err.startswith("sidecarctl: "), err)
        if message is not None:
            self.assertIn(message, err)
        return err

    def create_key(self, tenant, *args):
        doc = self.ok_json("key", "create", tenant, *args)
        self.assertEqual(set(doc), {"key", "key_id"})
        return doc["key"], doc["key_id"]

    def tenant_key(self, tenant):
        return "%s{%s}:tenant" % (PREFIX, tenant)

    def apikey_key(self, tenant, key):
        return "%s{%s}:key:%s" % (PREFIX, tenant, sha256_hex(key))

    def host_file(self, redis_section):
        """A sidecar host file (services langchain and tools) with this redis section."""
        for name in ("langchain", "tools"):
            write(os.path.join(self.tmp, "policy-%s.yaml" % name), POLICY.format(name=name))
        path = os.path.join(self.tmp, "host.yaml")
        write(path, """
        admin_listen: 127.0.0.1:%d
        %s
        services:
          - name: langchain
            listen: 127.0.0.1:%d
            upstream: http://127.0.0.1:%d
            policy: policy-langchain.yaml
          - name: tools
            listen: 127.0.0.1:%d
            upstream: http://127.0.0.1:%d
            policy: policy-tools.yaml
        """ % (free_port(), redis_section, free_port(), free_port(), free_port(), free_port()))
        return path

    def connections(self):
        info = self.redis.cmd("INFO", "stats")
        return int(re.search(r"total_connections_received:(\d+)", info).group(1))


class TenantTest(CtlBase):
    def test_create_writes_the_schema_exactly(self):
        before = int(time.time())
        out = self.ok("tenant", "create", "acme", "--services", "langchain,tools", "--scopes", "read,write", "--rate", "10",
                      "--burst", "20", "--quota", "5000", "--issuer", "https://idp.test/", "--issuer", "https://other.test/")
        self.assertEqual(out, "tenant acme created\n")
        rec = hgetall(self.redis, self.tenant_key("acme"))
        created = int(rec.pop("created_at"))
        self.assertTrue(before <= created <= time.time())
        self.assertEqual(rec.pop("updated_at"), str(created))
        self.assertEqual(rec, {"status": "active", "services": "langchain tools", "scopes": "read write",
                               "issuers": "https://idp.test/ https://other.test/", "rate": "10", "burst": "20",
                               "quota_daily": "5000"})
        self.assertEqual(self.redis.cmd("SMEMBERS", PREFIX + "tenants"), ["acme"])

    def test_create_defaults(self):
        self.ok("tenant", "create", "acme")
        rec = hgetall(self.redis, self.tenant_key("acme"))
        self.assertEqual(rec["services"], "*")  # every service
        self.assertNotIn("scopes", rec)  # no cap
        self.assertNotIn("issuers", rec)  # any configured issuer
        self.assertEqual((rec["rate"], rec["burst"], rec["quota_daily"]), ("0", "0", "0"))

    def test_get_and_list(self):
        self.ok("tenant", "create", "globex", "--services", "rag")
        self.ok("tenant", "create", "acme", "--scopes", "read")
        doc = self.ok_json("tenant", "get", "acme")
        self.assertEqual(doc["id"], "acme")
        self.assertEqual(doc["status"], "active")
        self.assertEqual(doc["services"], "*")
        self.assertEqual(doc["scopes"], ["read"])
        self.assertIsInstance(doc["created_at"], int)
        human = self.ok("tenant", "get", "acme")
        self.assertIn("status       active", human)
        self.assertIn("issuers      (any configured issuer)", human)
        listed = self.ok_json("tenant", "list")
        self.assertEqual([t["id"] for t in listed], ["acme", "globex"])
        self.assertEqual(listed[1]["services"], ["rag"])
        human = self.ok("tenant", "list").splitlines()
        self.assertTrue(human[0].startswith("TENANT"))
        self.assertTrue(human[1].startswith("acme"))
        self.assertTrue(human[2].startswith("globex"))

    def test_update_changes_only_the_given_fields(self):
        self.ok("tenant", "create", "acme", "--services", "rag", "--scopes", "read", "--rate", "5", "--issuer", "https://i/")
        before = hgetall(self.redis, self.tenant_key("acme"))
        self.ok("tenant", "update", "acme", "--rate", "7")
        after = hgetall(self.redis, self.tenant_key("acme"))
        self.assertEqual(after.pop("rate"), "7")
        self.assertGreaterEqual(int(after.pop("updated_at")), int(before.pop("updated_at")))
        before.pop("rate")
        self.assertEqual(after, before)
        # '*' means every service; for scopes and issuers it removes the cap
        self.ok("tenant", "update", "acme", "--services", "*", "--scopes", "*", "--issuer", "*")
        rec = hgetall(self.redis, self.tenant_key("acme"))
        self.assertEqual(rec["services"], "*")
        self.assertNotIn("scopes", rec)
        self.assertNotIn("issuers", rec)
        self.assertEqual(rec["rate"], "7")

    def test_suspend_and_activate(self):
        self.ok("tenant", "create", "acme")
        self.assertEqual(self.ok("tenant", "suspend", "acme"), "tenant acme suspended\n")
        self.assertEqual(hgetall(self.redis, self.tenant_key("acme"))["status"], "suspended")
        self.assertEqual(self.ok_json("tenant", "activate", "acme"), {"action": "tenant.activate", "tenant": "acme"})
        self.assertEqual(hgetall(self.redis, self.tenant_key("acme"))["status"], "active")

    def test_delete_removes_the_tenant_and_its_keys(self):
        self.ok("tenant", "create", "acme")
        self.ok("tenant", "create", "globex")
        _, kid1 = self.create_key("acme")
        _, kid2 = self.create_key("acme")
        _, kid3 = self.create_key("globex")
        # no terminal to ask and no --yes: refused before Redis is contacted
        self.assert_fails(2, ["tenant", "delete", "acme"], "--yes")
        self.assertTrue(self.redis.cmd("EXISTS", self.tenant_key("acme")))
        self.assertEqual(self.ok("tenant", "delete", "acme", "--yes"), "tenant acme deleted, with its API keys\n")
        self.assertEqual([k for k in all_keys(self.redis) if "{acme}" in k], [])
        self.assertEqual(self.redis.cmd("SMEMBERS", PREFIX + "tenants"), ["globex"])
        self.assertEqual(hgetall(self.redis, PREFIX + "keyid-index"), {kid3: "globex"})
        self.assert_fails(1, ["key", "revoke", kid1], "unknown key id")
        self.assert_fails(1, ["tenant", "get", "acme"], 'unknown tenant "acme"')
        del kid2


    def test_delete_asks_on_a_terminal(self):
        import pty
        import subprocess
        self.ok("tenant", "create", "acme")
        self.create_key("acme")

        def delete_answering(answer):
            master, slave = pty.openpty()
            try:
                os.write(master, answer.encode())
                p = subprocess.run([SIDECARCTL, "--redis", self.url, "tenant", "delete", "acme"], stdin=slave,
                                   capture_output=True, text=True, timeout=30, env=dict(os.environ, LOGNAME="ops-test"))
            finally:
                os.close(master)
                os.close(slave)
            return p.returncode, p.stdout, p.stderr

        rc, out, err = delete_answering("n\n")
        self.assertEqual(rc, 1)
        self.assertIn("delete tenant acme and its 1 API key? [y/N]", err)
        self.assertTrue(err.rstrip().endswith("sidecarctl: tenant acme was not deleted"), err)
        self.assertTrue(self.redis.cmd("EXISTS", self.tenant_key("acme")))
        rc, out, err = delete_answering("y\n")
        self.assertEqual((rc, out), (0, "tenant acme deleted, with its API keys\n"))
        self.assertFalse(self.redis.cmd("EXISTS", self.tenant_key("acme")))


class KeyTest(CtlBase):
    def setUp(self):
        super().setUp()
        self.ok("tenant", "create", "acme")

    def test_key_is_printed_once_and_only_its_hash_is_stored(self):
        before = int(time.time())
        rc, out, err = self.ctl("key", "create", "acme", "--scopes", "read,admin", "--expires", "30d", "--name", "CI bot")
        self.assertEqual((rc, err), (0, ""))
        keys = KEY_RE.findall(out)
        self.assertEqual(len(keys), 1, out)  # shown once
        key = keys[0]
        lines = out.splitlines()
        self.assertEqual(lines[0], key)  # on its own line
        key_id = lines[1].split()[1]
        self.assertRegex(key_id, KEY_ID_RE)
        rec = hgetall(self.redis, self.apikey_key("acme", key))
        created = int(rec.pop("created_at"))
        self.assertTrue(before <= created <= time.time())
        self.assertEqual(int(rec.pop("expires_at")), created + 30 * 86400)
        self.assertEqual(rec, {"tenant": "acme", "key_id": key_id, "name": "CI bot", "scopes": "read admin", "status": "active"})
        self.assertEqual(hgetall(self.redis, "%s{acme}:keyids" % PREFIX), {key_id: sha256_hex(key)})
        self.assertEqual(hgetall(self.redis, PREFIX + "keyid-index"), {key_id: "acme"})
        # the key appears nowhere in Redis: not in a key name, not in any value (audit included)
        everything = json.dumps(dump(self.redis, skip_audit=False))
        self.assertNotIn(key, everything)
        self.assertNotIn(key[4:], everything)
        self.assertIn(sha256_hex(key), everything)
        # ...nor in what the other commands print
        for args in (["key", "list", "acme"], ["--json", "key", "list", "acme"], ["export"]):
            self.assertNotIn(key, self.ok(*args))

    def test_key_create_json_and_defaults(self):
        key, key_id = self.create_key("acme")
        self.assertRegex(key, "^" + KEY_RE.pattern + "$")
        self.assertRegex(key_id, KEY_ID_RE)
        rec = hgetall(self.redis, self.apikey_key("acme", key))
        self.assertEqual((rec["expires_at"], rec["scopes"], rec["status"]), ("0", "", "active"))
        self.assertNotIn("name", rec)
        self.assertNotEqual(self.create_key("acme")[0], key)

    def test_key_create_for_an_unknown_tenant_is_refused(self):
        self.assert_fails(1, ["key", "create", "nobody"], 'unknown tenant "nobody"')
        self.assertEqual(all_keys(self.redis), sorted([self.tenant_key("acme"), PREFIX + "tenants", PREFIX + "audit"]))

    def test_list_and_revoke(self):
        _, kid1 = self.create_key("acme", "--name", "one")
        key2, kid2 = self.create_key("acme", "--scopes", "read")
        listed = self.ok_json("key", "list", "acme")
        self.assertEqual(sorted(k["key_id"] for k in listed), sorted([kid1, kid2]))
        second = [k for k in listed if k["key_id"] == kid2][0]
        self.assertEqual(second["sha256"], sha256_hex(key2))
        self.assertEqual(second["scopes"], ["read"])
        self.assertEqual(self.ok("key", "revoke", kid2), "key %s of tenant acme revoked\n" % kid2)
        self.assertEqual(hgetall(self.redis, self.apikey_key("acme", key2))["status"], "revoked")
        human = self.ok("key", "list", "acme")
        self.assertRegex(human, r"%s\s+revoked" % kid2)
        self.assertRegex(human, r"%s\s+active\s+never\s+one" % kid1)
        self.assert_fails(1, ["key", "list", "nobody"], 'unknown tenant "nobody"')
        self.assert_fails(1, ["key", "revoke", "k_000000000000"], 'unknown key id "k_000000000000"')

    def test_rotate_with_grace(self):
        old_key, old_id = self.create_key("acme", "--scopes", "read write", "--name", "svc", "--expires", "10d")
        old_rec = hgetall(self.redis, self.apikey_key("acme", old_key))
        rc, out, err = self.ctl("key", "rotate", old_id, "--grace", "1h")
        self.assertEqual((rc, err), (0, ""))
        new_key = KEY_RE.findall(out)
        self.assertEqual(len(new_key), 1, out)
        new_key = new_key[0]
        self.assertIn("replaces %s" % old_id, out)
        now = time.time()
        old = hgetall(self.redis, self.apikey_key("acme", old_key))
        self.assertEqual(old["status"], "active")  # still valid during the grace period
        self.assertAlmostEqual(int(old["expires_at"]), now + 3600, delta=30)
        new = hgetall(self.redis, self.apikey_key("acme", new_key))
        self.assertEqual((new["tenant"], new["name"], new["scopes"], new["status"]), ("acme", "svc", "read write", "active"))
        self.assertNotEqual(new["key_id"], old_id)
        # the replacement lives as long as the old key was meant to, from now
        self.assertEqual(int(new["expires_at"]) - int(new["created_at"]),
                         int(old_rec["expires_at"]) - int(old_rec["created_at"]))
        self.assertEqual(hgetall(self.redis, PREFIX + "keyid-index"), {old_id: "acme", new["key_id"]: "acme"})
        self.assertNotIn(new_key, json.dumps(dump(self.redis, skip_audit=False)))

    def test_rotate_without_grace_revokes_now(self):
        old_key, old_id = self.create_key("acme")
        doc = self.ok_json("key", "rotate", old_id, "--grace", "0")
        self.assertEqual((doc["replaces"], doc["replaced_expires_at"]), (old_id, 0))
        self.assertRegex(doc["key"], "^" + KEY_RE.pattern + "$")
        self.assertEqual(hgetall(self.redis, self.apikey_key("acme", old_key))["status"], "revoked")
        self.assertEqual(hgetall(self.redis, self.apikey_key("acme", doc["key"]))["status"], "active")
        # a revoked key cannot be rotated; an unknown one neither
        self.assert_fails(1, ["key", "rotate", old_id], "revoked")
        self.assert_fails(1, ["key", "rotate", "k_000000000000"], "unknown key id")

    def test_rotate_default_grace_is_a_day(self):
        old_key, old_id = self.create_key("acme")
        self.ok("key", "rotate", old_id)
        self.assertAlmostEqual(int(hgetall(self.redis, self.apikey_key("acme", old_key))["expires_at"]), time.time() + 86400,
                               delta=30)


class FailureTest(CtlBase):
    def test_refusals_exit_1(self):
        self.ok("tenant", "create", "acme", "--rate", "3")
        before = dump(self.redis)
        self.assert_fails(1, ["tenant", "create", "acme"], 'tenant "acme" already exists')
        for verb in ("get", "suspend", "activate"):
            self.assert_fails(1, ["tenant", verb, "nobody"], 'unknown tenant "nobody"')
        self.assert_fails(1, ["tenant", "update", "nobody", "--rate", "1"], 'unknown tenant "nobody"')
        self.assert_fails(1, ["tenant", "delete", "nobody", "--yes"], 'unknown tenant "nobody"')
        self.assert_fails(1, ["key", "create", "nobody"], 'unknown tenant "nobody"')
        self.assert_fails(1, ["key", "revoke", "k_0123456789ab"], 'unknown key id "k_0123456789ab"')
        self.assertEqual(dump(self.redis), before)
        self.assertEqual(len(audit(self.redis)), 1)  # refusals are not changes

    def test_usage_errors_exit_2_without_contacting_redis(self):
        cases = [
            (["frob"], 'unknown command "frob"'),
            (["tenant", "create"], "missing tenant ID"),
            (["tenant", "create", "a b"], 'invalid tenant ID "a b"'),
            (["tenant", "create", "acme", "--rate", "-1"], '--rate: "-1"'),
            (["tenant", "create", "acme", "--rate", "abc"], '--rate: "abc"'),
            (["tenant", "create", "acme", "--frob"], 'unknown option "--frob"'),
            (["tenant", "get", "acme", "--rate", "1"], "tenant get does not take --rate"),
            (["key", "create", "acme", "--expires", "3x"], '--expires: "3x"'),
            (["key", "rotate", "k_1", "--grace", "-1d"], '--grace: "-1d"'),
            (["import", os.path.join(self.tmp, "missing.json")], "missing.json"),
        ]
        before = self.connections()
        for args, message in cases:
            self.assert_fails(2, args, message)
        self.assertEqual(self.connections(), before + 1)  # only this INFO's own connection
        self.assertEqual(all_keys(self.redis), [])
        rc, out, err = self.ctl("--help", url=False)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("tenant create ID", out)
        self.assertIn("'*'", out)
        rc, out, _ = self.ctl("--version", url=False)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^sidecarctl \d+\.\d+\.\d+\n$")

    def test_no_redis_configured_is_a_usage_error(self):
        self.assert_fails(2, ["tenant", "list"], "no Redis to talk to", url=False)
        self.assert_fails(2, ["--redis", "http://x", "tenant", "list"], "redis://", url=False)

    def test_unreachable_redis_exits_3(self):
        port = free_port()  # nothing listens there
        rc, out, err = run_cli([SIDECARCTL, "--redis", "redis://127.0.0.1:%d" % port, "tenant", "create", "acme"])
        self.assertEqual(rc, 3, err)
        self.assertEqual(out, "")
        self.assertEqual(err, "sidecarctl: cannot connect to Redis at redis://127.0.0.1:%d: Connection refused\n" % port)
        # the URL may also come from the environment
        rc, _, err = run_cli([SIDECARCTL, "key", "create", "acme"], env={"SIDECAR_REDIS_URL": "redis://127.0.0.1:%d" % port})
        self.assertEqual(rc, 3, err)
        self.assertEqual(len(err.splitlines()), 1)

    def test_password_required_but_missing_exits_3(self):
        self.redis.cmd("CONFIG", "SET", "requirepass", "pw-for-test")
        rc, out, err = self.ctl("tenant", "create", "acme")
        self.assertEqual(rc, 3, err)
        self.assertIn("NOAUTH", err)
        self.assertEqual(len(err.splitlines()), 1)
        rc, out, err = self.ctl("tenant", "create", "acme", env={"SIDECAR_REDIS_PASSWORD": "wrong-one"})
        self.assertEqual(rc, 3, err)
        self.assertNotIn("wrong-one", err)
        self.assertEqual(self.ok("tenant", "create", "acme", env={"SIDECAR_REDIS_PASSWORD": "pw-for-test"}),
                         "tenant acme created\n")


class AuditAndInvalidationTest(CtlBase):
    def subscribe(self):
        sub = self.redis.conn()
        self.addCleanup(sub.close)
        self.assertEqual(sub("SUBSCRIBE", PREFIX + "invalidate"), ["subscribe", PREFIX + "invalidate", 1])
        return sub

    def messages(self, sub, n):
        out = []
        for _ in range(n):
            kind, channel, payload = sub._reply()
            self.assertEqual((kind, channel), ("message", PREFIX + "invalidate"))
            out.append(payload)
        return out

    def test_every_change_is_audited_with_its_actor(self):
        self.ok("tenant", "create", "acme")
        self.ok("tenant", "update", "acme", "--rate", "9", "--actor", "alice")
        self.ok("tenant", "suspend", "acme")
        self.ok("tenant", "activate", "acme")
        _, kid = self.create_key("acme", "--name", "ci")
        self.ok("key", "revoke", kid)
        new_kid = self.ok_json("key", "rotate", self.create_key("acme")[1])["key_id"]
        self.ok("tenant", "delete", "acme", "--yes", env={"LOGNAME": "bob"})
        entries = audit(self.redis)
        self.assertEqual([e["action"] for e in entries],
                         ["tenant.create", "tenant.update", "tenant.suspend", "tenant.activate", "key.create", "key.revoke",
                          "key.create", "key.rotate", "tenant.delete"])
        self.assertEqual([e["actor"] for e in entries], ["ops-test", "alice"] + ["ops-test"] * 6 + ["bob"])
        for e in entries:
            self.assertEqual(e["tenant"], "acme")
            self.assertAlmostEqual(int(e["at"]), time.time(), delta=60)
            self.assertIn("detail", e)
        self.assertEqual(entries[5]["key_id"], kid)
        self.assertIn("rate=9", entries[1]["detail"])
        self.assertIn(new_kid, entries[7]["detail"])
        self.assertNotIn("key_id", entries[0])

    def test_changes_are_published(self):
        sub = self.subscribe()
        self.ok("tenant", "create", "acme")
        self.assertEqual(self.messages(sub, 1), ["tenant acme"])
        self.ok("tenant", "suspend", "acme")
        self.assertEqual(self.messages(sub, 1), ["tenant acme"])
        key, kid = self.create_key("acme")
        self.assertEqual(self.messages(sub, 1), ["key acme " + sha256_hex(key)])
        self.ok("key", "revoke", kid)
        self.assertEqual(self.messages(sub, 1), ["key acme " + sha256_hex(key)])
        key2, kid2 = self.create_key("acme")
        self.messages(sub, 1)
        doc = self.ok_json("key", "rotate", kid2)
        expected = ["key acme " + sha256_hex(key2), "key acme " + sha256_hex(doc["key"])]
        self.assertEqual(sorted(self.messages(sub, 2)), sorted(expected))
        self.ok("tenant", "delete", "acme", "--yes")
        got = self.messages(sub, 4)
        self.assertEqual(sorted(got), sorted(["tenant acme"] + ["key acme " + sha256_hex(k) for k in (key, key2, doc["key"])]))
        self.assertEqual(got[-1], "tenant acme")


class ExportImportTest(CtlBase):
    def populate(self):
        self.ok("tenant", "create", "acme", "--services", "langchain,tools", "--scopes", "read,write", "--rate", "10", "--burst",
                "20", "--quota", "1000", "--issuer", "https://idp.test/")
        self.ok("tenant", "create", "globex")
        self.ok("tenant", "create", "initech", "--scopes", "")  # an empty cap: no scopes at all
        self.ok("tenant", "suspend", "initech")
        self.create_key("acme", "--scopes", "read", "--name", "ci", "--expires", "7d")
        _, kid = self.create_key("acme")
        self.ok("key", "revoke", kid)
        self.ok("key", "rotate", self.create_key("globex", "--name", "svc")[1], "--grace", "1h")

    def test_round_trip_into_a_fresh_redis(self):
        self.populate()
        exported = self.ok("export")
        doc = json.loads(exported)
        self.assertEqual((doc["format"], doc["version"]), ("sidecarctl-export", 1))
        self.assertEqual([t["id"] for t in doc["tenants"]], ["acme", "globex", "initech"])
        self.assertEqual(len(doc["tenants"][0]["keys"]), 2)
        self.assertNotRegex(exported, KEY_RE)
        path = os.path.join(self.tmp, "tenants.json")
        with open(path, "w") as f:
            f.write(exported)
        fresh = Redis(self.tmp)
        self.processes.append(fresh)
        rc, out, err = run_cli([SIDECARCTL, "--redis", "redis://127.0.0.1:%d" % fresh.port, "import", path])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "imported 3 tenants and 4 API keys\n")
        self.assertEqual(dump(fresh), dump(self.redis))  # every hash and set, field by field
        self.assertEqual([e["action"] for e in audit(fresh)], ["tenant.import"] * 3)

    def test_import_replaces_existing_records(self):
        self.populate()
        exported = self.ok("export")
        snapshot = dump(self.redis)
        self.ok("tenant", "update", "acme", "--rate", "99", "--services", "*")
        extra_key, extra_id = self.create_key("acme")
        self.ok("tenant", "create", "newcorp")  # not in the file: left alone
        out = self.ok("import", "-", input=exported)
        self.assertEqual(out, "imported 3 tenants and 4 API keys\n")
        after = dump(self.redis)
        newcorp = self.tenant_key("newcorp")
        self.assertIn(newcorp, after)
        del after[newcorp]
        after[PREFIX + "tenants"][1].remove("newcorp")
        self.assertEqual(after, snapshot)
        self.assertFalse(self.redis.cmd("EXISTS", self.apikey_key("acme", extra_key)))
        self.assert_fails(1, ["key", "revoke", extra_id], "unknown key id")

    def test_invalid_file_writes_nothing(self):
        path = os.path.join(self.tmp, "bad.json")
        good_tenant = {"id": "good", "status": "active", "services": "*"}
        cases = [
            ("{", "bad.json:"),
            ({"tenants": []}, "not a sidecarctl export"),
            ({"format": "sidecarctl-export", "version": 2, "tenants": []}, "version"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [good_tenant, {"id": "a b", "status": "active"}]},
             "tenants[1].id"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [good_tenant, {"id": "x", "status": "paused"}]},
             "tenants[1]: tenant x: field status has an invalid value"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [good_tenant, {"id": "x", "status": "active", "rate": -1}]},
             "tenants[1].rate: must be a whole number"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [good_tenant, {"id": "x", "status": "active",
                                                                                     "servics": "*"}]},
             'unknown field "servics"'),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [good_tenant, good_tenant]}, "appears twice"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [dict(good_tenant, keys=[
                {"sha256": "a" * 64, "key_id": "k_1", "tenant": "other", "status": "active"}])]},
             'belongs to tenant "other"'),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [dict(good_tenant, keys=[
                {"sha256": "A" * 64, "key_id": "k_1", "tenant": "good", "status": "active"}])]},
             "sha256: must be 64 lower-case hex digits"),
            ({"format": "sidecarctl-export", "version": 1, "tenants": [dict(good_tenant, keys=[
                {"sha256": "a" * 64, "key_id": "k_1", "tenant": "good", "status": "active"},
                {"sha256": "b" * 64, "key_id": "k_1", "tenant": "good", "status": "active"}])]},
             "already appears"),
        ]
        before = self.connections()
        for content, message in cases:
            write(path, content if isinstance(content, str) else json.dumps(content))
            self.assert_fails(2, ["import", path], message)
        self.assertEqual(self.connections(), before + 1)
        self.assertEqual(all_keys(self.redis), [])


class HostFileTest(CtlBase):
    """-c FILE: the sidecar's host file gives the Redis login, prefix and database, and the
    service names --services is checked against."""

    def admin(self, db, *args):
        c = self.redis.conn()
        try:
            c("SELECT", str(db))
            return c(*args)
        finally:
            c.close()

    def test_prefix_db_and_service_names_from_the_host_file(self):
        host = self.host_file("redis: {url: 'redis://127.0.0.1:%d/3', prefix: 't1:'}" % self.redis.port)
        self.assert_fails(2, ["-c", host, "tenant", "create", "acme", "--services", "langchain,rag"], 'unknown service "rag"',
                          url=False)
        self.assert_fails(2, ["-c", host, "tenant", "update", "acme", "--services", "nope"], 'unknown service "nope"', url=False)
        self.assertEqual(self.admin(3, "DBSIZE"), 0)
        self.ok("-c", host, "tenant", "create", "acme", "--services", "langchain,tools", url=False)
        self.assertEqual(self.admin(3, "HGET", "t1:{acme}:tenant", "services"), "langchain tools")
        self.assertEqual(self.admin(3, "SMEMBERS", "t1:tenants"), ["acme"])
        self.assertEqual(self.admin(3, "XLEN", "t1:audit"), 1)
        self.assertEqual(self.redis.cmd("DBSIZE"), 0)  # nothing in db 0, nothing under ps:
        # --redis overrides the address only: the login, prefix and service names still come from the file
        self.ok("-c", host, "--redis", "redis://127.0.0.1:%d/3" % self.redis.port, "tenant", "update", "acme", "--services", "*",
                url=False)
        self.assertEqual(self.admin(3, "HGET", "t1:{acme}:tenant", "services"), "*")

    def test_invalid_host_file_is_a_usage_error(self):
        host = self.host_file("redis: {url: 'redis://127.0.0.1:%d', password: 'x'}" % self.redis.port)
        err = self.assert_fails(2, ["-c", host, "tenant", "list"], url=False)
        self.assertIn("host.yaml", err)
        self.assertNotIn(": x", err)


class AclTest(CtlBase):
    """A redis-server with ACL users only (the default user is off)."""

    redis_args = ("--user", "default", "off", "--user", "ops", "on", ">ops-s3cret", "~*", "&*", "+@all")

    def setUp(self):
        super().setUp()
        self.host = self.host_file( "redis: {url: 'redis://127.0.0.1:%d/2', user: ops}" % self.redis.port)

    def as_ops(self, *args):
        c = self.redis.conn()
        try:
            c("AUTH", "ops", "ops-s3cret")
            c("SELECT", "2")
            return c(*args)
        finally:
            c.close()

    def test_user_and_password_from_the_environment(self):
        env = {"SIDECAR_REDIS_PASSWORD": "ops-s3cret"}
        self.ok("-c", self.host, "tenant", "create", "acme", env=env, url=False)
        key = KEY_RE.findall(self.ok("-c", self.host, "key", "create", "acme", env=env, url=False))[0]
        self.assertEqual(self.as_ops("HGET", "ps:{acme}:key:" + sha256_hex(key), "tenant"), "acme")
        self.assertEqual(self.as_ops("XLEN", "ps:audit"), 2)

    def test_password_file_from_the_host_file(self):
        with open(os.path.join(self.tmp, "redis.pass"), "w") as f:
            f.write("ops-s3cret\n")
        host = self.host_file("redis: {url: 'redis://127.0.0.1:%d/2', user: ops, password_file: redis.pass}"
                                      % self.redis.port)
        self.ok("-c", host, "tenant", "create", "acme", url=False)
        self.assertEqual(self.as_ops("HGET", "ps:{acme}:tenant", "status"), "active")

    def test_refused_login_exits_3_and_writes_nothing(self):
        for env in ({}, {"SIDECAR_REDIS_PASSWORD": "not-the-password"}):
            err = self.assert_fails(3, ["-c", self.host, "tenant", "create", "acme"], env=env, url=False)
            self.assertNotIn("not-the-password", err)
        self.assertEqual(self.as_ops("DBSIZE"), 0)
        # a password without the user: the default user is off
        self.assert_fails(3, ["tenant", "create", "acme"], env={"SIDECAR_REDIS_PASSWORD": "ops-s3cret"})


if __name__ == "__main__":
    unittest.main()
