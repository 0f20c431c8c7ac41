"""Redis Cluster (issue 15, item 2): the sidecar and sidecarctl against a real 3-master cluster
started by the test — records on different nodes, invalidations published on any node, MOVED
after a slot migration under a steady load with no failed request, ASK during a migration in
progress, rate limiting in Redis mode, and sidecarctl's writes."""
import http.client
import json
import os
import threading
import time
import unittest

from cluster import RedisCluster, key_slot
from harness import (BUILD_DIR, IntegrationTest, TEST_ISSUER, FIXTURES, mint, put_key, put_tenant, run_cli, sha256_hex,
                     wait_until)

SIDECARCTL = os.path.join(BUILD_DIR, "sidecarctl")
FAR = 4102444800

POLICY = """
strip_prefix: /langchain
{rate_limit}
routes:
  - path: /langchain/health
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
"""


def host_yaml(seed_url, ttl_s=30):
    return "\n".join([
        "redis:",
        "  url: %s" % seed_url,
        "  cluster: true",
        "  timeout_ms: 500",
        "tenant_cache: {ttl_s: %d, negative_ttl_s: 1, max_stale_s: %d}" % (ttl_s, max(ttl_s, 60)),
        "jwt_issuers:",
        "  - issuer: %s" % TEST_ISSUER,
        "    audiences: [platform]",
        "    jwks_file: %s" % os.path.join(FIXTURES, "rs256.jwks.json"),
        "    algorithms: [RS256]",
    ]) + "\n"


def rejected_count(node, name):
    """How many times a node refused a command (a redirection is one: INFO commandstats)."""
    for line in node.cmd("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_%s:" % name):
            return int(line.split("rejected_calls=")[1].split(",")[0])
    return 0


def token_for(tenant):
    return mint({"iss": TEST_ISSUER, "sub": "u", "aud": "platform", "exp": FAR, "tenant_id": tenant})


class ClusterTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.cluster = RedisCluster(self.tmp)
        self.processes.append(self.cluster)
        self.backend = self.start_backend()

    def sidecar(self, rate_limit="", threads=2, ttl_s=30):
        s = self.start_sidecar({"langchain": {"upstream_port": self.backend.port,
                                              "policy": POLICY.format(rate_limit=rate_limit)}},
                               extra_host_yaml=host_yaml(self.cluster.seed_url, ttl_s=ttl_s), threads=threads)
        return s

    def with_key(self, sidecar, tenant, key):
        return sidecar.request("langchain", "GET", "/langchain/x", headers={"X-Api-Key": key, "X-Tenant-ID": tenant})

    def with_token(self, sidecar, tenant):
        return sidecar.request("langchain", "GET", "/langchain/x",
                               headers={"Authorization": "Bearer " + token_for(tenant), "X-Tenant-ID": tenant})

    def other_node(self, node):
        return next(n for n in self.cluster.nodes if n is not node)


class SidecarOnCluster(ClusterTest):
    def test_records_on_every_node_authenticate(self):
        tenants = self.cluster.tenants_on_every_node("tenant")
        for port, tenant in tenants.items():
            put_tenant(self.cluster, tenant)
            put_key(self.cluster, tenant, "psk_key_of_" + tenant, "k_" + tenant)
            self.assertEqual(self.cluster.node_of(tenant).port, port)
        s = self.sidecar()
        for tenant in tenants.values():
            self.assertEqual(self.with_key(s, tenant, "psk_key_of_" + tenant).status, 200, tenant)
            self.assertEqual(self.with_token(s, tenant).status, 200, tenant)
        # a key of one tenant presented for another, and keys and tenants nobody has
        a, b = list(tenants.values())[:2]
        self.assertEqual(self.with_key(s, b, "psk_key_of_" + a).status, 401)
        self.assertEqual(self.with_key(s, a, "psk_nobody").status, 401)
        self.assertEqual(self.with_token(s, "nobody-at-all").status, 403)
        # every node answered lookups: one connection per node per worker, not a detour via the seed
        for node in self.cluster.nodes:
            self.assertGreater(node.command_count("hgetall"), 0, "node %d" % node.port)

    def test_invalidation_published_on_any_node_reaches_the_sidecar(self):
        tenants = self.cluster.tenants_on_every_node("inv")
        for tenant in tenants.values():
            put_tenant(self.cluster, tenant)
        s = self.sidecar(ttl_s=3600)
        for tenant in tenants.values():
            self.assertEqual(self.with_token(s, tenant).status, 200)
        # suspend each tenant and publish on a node other than the seed the sidecar subscribed on
        for i, tenant in enumerate(tenants.values()):
            put_tenant(self.cluster, tenant, status="suspended", publish=False)
            self.cluster.nodes[(i + 1) % 3].cmd("PUBLISH", "ps:invalidate", "tenant " + tenant)
            wait_until(lambda: self.with_token(s, tenant).status == 403, ceiling_s=5, what="suspension of " + tenant)

    def test_subscription_moves_to_another_node_when_its_node_dies(self):
        tenants = self.cluster.tenants_on_every_node("sub")
        seed = self.cluster.nodes[0]
        survivor = next(t for p, t in tenants.items() if p != seed.port)
        put_tenant(self.cluster, survivor)
        s = self.sidecar(ttl_s=3600)
        self.assertEqual(self.with_token(s, survivor).status, 200)
        seed.stop()  # the subscriptions were on the seed
        wait_until(s.ready, ceiling_s=15, what="the sidecar subscribed again on another node")
        put_tenant(self.cluster, survivor, status="suspended", publish=False)
        self.other_node(seed).cmd("PUBLISH", "ps:invalidate", "tenant " + survivor)
        wait_until(lambda: self.with_token(s, survivor).status == 403, ceiling_s=5, what="suspension after the move")

    def test_rate_limit_in_redis_mode(self):
        tenants = self.cluster.tenants_on_every_node("rl")
        for tenant in tenants.values():
            put_tenant(self.cluster, tenant, rate=1, burst=2)
        s = self.sidecar(rate_limit="rate_limit: {rate: 1, burst: 2, mode: redis}")
        for tenant in tenants.values():
            statuses = [self.with_token(s, tenant).status for _ in range(3)]
            self.assertEqual(statuses, [200, 200, 429], tenant)
            # the decision is the tenant's node's: its rate-limit key is there
            self.assertEqual(self.cluster.node_of(tenant).cmd("EXISTS", "ps:{%s}:rl" % tenant), 1)
        self.assertEqual(s.metric("policy_sidecar_ratelimit_fallbacks_total") or 0, 0)


class SidecarctlOnCluster(ClusterTest):
    def setUp(self):
        super().setUp()
        # a long negative TTL: only the invalidation messages make a change visible quickly
        self.s = self.sidecar(ttl_s=3600)

    def ctl(self, *args, expect=0):
        rc, out, err = run_cli([SIDECARCTL, "-c", self.s.config_path, "--actor", "cluster-test"] + list(args))
        self.assertEqual(rc, expect, "sidecarctl %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def index_of(self, key_id):
        return self.cluster.cmd("HGET", "ps:keyid-index", key_id)

    def listed(self, tenant):
        return self.cluster.cmd("SISMEMBER", "ps:tenants", tenant) == 1

    def test_create_suspend_rotate_delete_reach_the_sidecar(self):
        tenants = self.cluster.tenants_on_every_node("ctl")
        for tenant in tenants.values():  # one tenant on every node: each change is on another node
            self.assertEqual(self.with_token(self.s, tenant).status, 403)  # absence cached for an hour
            self.ctl("tenant", "create", tenant, "--services", "langchain")
            wait_until(lambda: self.with_token(self.s, tenant).status == 200, ceiling_s=5, what="creation of " + tenant)
            key = json.loads(self.ctl("--json", "key", "create", tenant, "--name", "ci"))
            self.assertEqual(self.with_key(self.s, tenant, key["key"]).status, 200)
            self.assertEqual(self.index_of(key["key_id"]), tenant)
            self.assertTrue(self.listed(tenant))

            self.ctl("tenant", "suspend", tenant)
            wait_until(lambda: self.with_token(self.s, tenant).status == 403, ceiling_s=5, what="suspension of " + tenant)
            self.ctl("tenant", "activate", tenant)
            wait_until(lambda: self.with_token(self.s, tenant).status == 200, ceiling_s=5, what="activation of " + tenant)

            new = json.loads(self.ctl("--json", "key", "rotate", key["key_id"], "--grace", "0"))
            wait_until(lambda: self.with_key(self.s, tenant, key["key"]).status == 401, ceiling_s=5,
                       what="the old key of %s refused" % tenant)
            self.assertEqual(self.with_key(self.s, tenant, new["key"]).status, 200)
            self.assertEqual(self.index_of(new["key_id"]), tenant)
            self.ctl("key", "revoke", new["key_id"])
            wait_until(lambda: self.with_key(self.s, tenant, new["key"]).status == 401, ceiling_s=5,
                       what="the revoked key of %s refused" % tenant)

        listing = self.ctl("tenant", "list")
        for tenant in tenants.values():
            self.assertIn(tenant, listing)
        audit = json.loads(self.ctl("--json", "audit", "--tenant", list(tenants.values())[1]))
        self.assertEqual([e["action"] for e in audit],
                         ["tenant.create", "key.create", "tenant.suspend", "tenant.activate", "key.rotate", "key.revoke"])
        for tenant in tenants.values():
            self.ctl("tenant", "delete", tenant, "--yes")
            wait_until(lambda: self.with_token(self.s, tenant).status == 403, ceiling_s=5, what="deletion of " + tenant)
            self.assertFalse(self.listed(tenant))
            self.assertEqual(self.cluster.cmd("EXISTS", "ps:{%s}:tenant" % tenant), 0)

    def test_a_rerun_repairs_the_global_indexes(self):
        tenant = next(t for p, t in self.cluster.tenants_on_every_node("fix").items() if p != self.cluster.nodes[0].port)
        self.ctl("tenant", "create", tenant)
        key = json.loads(self.ctl("--json", "key", "create", tenant))
        # what an interruption between the tenant's transaction and the global writes leaves
        self.cluster.cmd("SREM", "ps:tenants", tenant)
        self.cluster.cmd("HDEL", "ps:keyid-index", key["key_id"])
        self.assertNotIn(tenant, self.ctl("tenant", "list"))
        self.ctl("key", "revoke", key["key_id"], expect=1)  # the index is how a key id is found
        # running the same command again refuses (the tenant exists) and mends the indexes
        self.ctl("tenant", "create", tenant, expect=1)
        self.assertTrue(self.listed(tenant))
        self.assertEqual(self.index_of(key["key_id"]), tenant)
        self.ctl("key", "revoke", key["key_id"])
        # and the other way: a deleted tenant left in the listing leaves it when deleted again
        self.ctl("tenant", "delete", tenant, "--yes")
        self.cluster.cmd("SADD", "ps:tenants", tenant)
        self.ctl("tenant", "delete", tenant, "--yes", expect=1)
        self.assertFalse(self.listed(tenant))

    def test_export_import_round_trip(self):
        tenants = self.cluster.tenants_on_every_node("exp")
        for tenant in tenants.values():
            self.ctl("tenant", "create", tenant, "--rate", "5")
            self.ctl("key", "create", tenant)
        exported = self.ctl("export")
        for tenant in tenants.values():
            self.ctl("tenant", "delete", tenant, "--yes")
        path = os.path.join(self.tmp, "export.json")
        with open(path, "w") as f:
            f.write(exported)
        self.ctl("import", path)
        self.assertEqual(json.loads(self.ctl("export"))["tenants"], json.loads(exported)["tenants"])
        for tenant in tenants.values():
            self.assertTrue(self.listed(tenant))

    def test_reads_follow_ask_and_writes_wait_for_a_migration(self):
        tenant = "migrating"
        self.ctl("tenant", "create", tenant, "--rate", "7")
        slot = key_slot(tenant)
        source = self.cluster.node_of_slot(slot)
        target = self.other_node(source)
        self.cluster.begin_migration(slot, source, target)
        self.cluster.migrate_keys(slot, source, target)
        asked = target.command_count("asking")
        self.assertEqual(json.loads(self.ctl("--json", "tenant", "get", tenant))["rate"], 7)
        self.assertGreater(target.command_count("asking"), asked)
        # a write meets ASK inside its transaction: it is prepared again until the slot settles
        done = {}
        watched = rejected_count(source, "watch")
        writer = threading.Thread(target=lambda: done.update(
            rc=run_cli([SIDECARCTL, "-c", self.s.config_path, "tenant", "update", tenant, "--rate", "9"])))
        writer.start()
        # (WATCH on the source answers ASK, counted as rejected: the key is on the target already)
        wait_until(lambda: rejected_count(source, "watch") >= watched + 2 or "rc" in done, what="the write to meet ASK twice")
        self.cluster.end_migration(slot, target)
        writer.join(timeout=30)
        rc, _, err = done["rc"]
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.cluster.cmd("HGET", "ps:{%s}:tenant" % tenant, "rate"), "9")
        self.assertEqual(self.cluster.node_of(tenant).port, target.port)

    def test_a_write_during_a_migration_that_does_not_end_is_refused_whole(self):
        tenant = "stuck"
        self.ctl("tenant", "create", tenant, "--rate", "7")
        slot = key_slot(tenant)
        source = self.cluster.node_of_slot(slot)
        target = self.other_node(source)
        self.cluster.begin_migration(slot, source, target)
        self.cluster.migrate_keys(slot, source, target)
        rc, _, err = run_cli([SIDECARCTL, "-c", self.s.config_path, "tenant", "update", tenant, "--rate", "9"])
        self.assertEqual(rc, 1, err)
        self.assertIn("slot of tenant stuck was moving", err)
        self.assertEqual(self.cluster.cmd("HGET", "ps:{%s}:tenant" % tenant, "rate"), "7")  # nothing written
        self.cluster.end_migration(slot, target)
        self.ctl("tenant", "update", tenant, "--rate", "9")

    def test_without_cluster_mode_a_cluster_node_is_refused_cleanly(self):
        rc, out, err = run_cli([SIDECARCTL, "--redis", self.cluster.seed_url, "--redis-cluster", "tenant", "get", "nobody"])
        self.assertEqual(rc, 1, err)
        tenant = next(t for p, t in self.cluster.tenants_on_every_node("plain").items() if p != self.cluster.nodes[0].port)
        rc, out, err = run_cli([SIDECARCTL, "--redis", self.cluster.seed_url, "tenant", "create", tenant])
        self.assertEqual(rc, 3)
        self.assertIn("MOVED", err)


class Load:
    """A client loop: requests on keep-alive connections until stopped; every status kept."""

    def __init__(self, port, headers, threads=2):
        self.port, self.headers = port, headers
        self.statuses = []
        self.errors = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", "/langchain/x", headers=self.headers)
                resp = conn.getresponse()
                resp.read()
                self.statuses.append(resp.status)
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
                conn = None
        if conn is not None:
            conn.close()

    def count(self):
        return len(self.statuses)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)


class MigrationOnCluster(ClusterTest):
    def loaded_sidecar(self, tenant):
        put_tenant(self.cluster, tenant, rate=100000, burst=100000)
        put_key(self.cluster, tenant, "psk_load_" + tenant, "k_load")
        # every request reaches Redis: a rate-limit decision in Redis mode on the tenant's slot
        s = self.sidecar(rate_limit="rate_limit: {rate: 100000, burst: 100000, mode: redis}")
        load = Load(s.ports["langchain"], {"X-Api-Key": "psk_load_" + tenant, "X-Tenant-ID": tenant})
        self.addCleanup(load.stop)
        wait_until(lambda: load.count() >= 50, what="the load to start")
        return s, load

    def assert_all_ok(self, s, load):
        load.stop()
        self.assertEqual(load.errors, [])
        failed = [st for st in load.statuses if st != 200]
        self.assertEqual(failed, [], "%d of %d requests failed" % (len(failed), len(load.statuses)))
        self.assertEqual(s.metric("policy_sidecar_ratelimit_fallbacks_total") or 0, 0)

    def test_slot_migration_under_load_fails_no_request(self):
        tenant = "moving"
        s, load = self.loaded_sidecar(tenant)
        slot = key_slot(tenant)
        source = self.cluster.node_of_slot(slot)
        target = self.other_node(source)
        before = load.count()
        self.cluster.move_slot(slot, target)
        after_move = load.count()
        # the sidecar now asks the target (MOVED followed, map refreshed), and keeps succeeding
        wait_until(lambda: target.command_count("evalsha") + target.command_count("eval") > 0, ceiling_s=10,
                   what="decisions on the new node")
        wait_until(lambda: load.count() >= after_move + 100, what="more load after the move")
        # and back again, to the third node this time
        third = next(n for n in self.cluster.nodes if n is not source and n is not target)
        self.cluster.move_slot(slot, third)
        wait_until(lambda: third.command_count("evalsha") + third.command_count("eval") > 0, ceiling_s=10,
                   what="decisions on the third node")
        wait_until(lambda: load.count() >= after_move + 200, what="more load after the second move")
        self.assertGreater(after_move, before)
        self.assert_all_ok(s, load)

    def test_ask_during_a_migration_in_progress_is_followed(self):
        tenant = "asked"
        s, load = self.loaded_sidecar(tenant)
        slot = key_slot(tenant)
        source = self.cluster.node_of_slot(slot)
        target = self.other_node(source)
        self.cluster.begin_migration(slot, source, target)
        self.cluster.migrate_keys(slot, source, target)  # from now on the source answers ASK
        asked = target.command_count("asking")
        wait_until(lambda: target.command_count("asking") >= asked + 20, ceiling_s=10, what="ASKING on the target")
        # a record not cached yet is read on the target too (HGETALL after ASKING)
        put_key(self.cluster, tenant, "psk_second_" + tenant, "k_second")
        self.assertEqual(self.with_key(s, tenant, "psk_second_" + tenant).status, 200)
        self.cluster.end_migration(slot, target)
        count = load.count()
        wait_until(lambda: load.count() >= count + 100, what="more load after the migration")
        self.assert_all_ok(s, load)


if __name__ == "__main__":
    unittest.main()
