"""A real 3-master Redis Cluster for integration tests: three redis-server processes with
--cluster-enabled yes on free loopback ports (data and cluster-bus ports both chosen free), joined
with `redis-cli --cluster create`, stopped by PID with the test. Plus what the tests need to move a
slot by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), one step at a time, so
that a test can act while a migration is in progress."""
import os
import shutil
import subprocess

from harness import START_CEILING_S, Redis, RedisConn, RedisError, free_port, wait_until

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
SLOTS = 16384


def crc16(data):
    """CRC16-XMODEM, the cluster's key hash (cluster specification)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    k = key.encode() if isinstance(key, str) else key
    start = k.find(b"{")
    if start >= 0:
        end = k.find(b"}", start + 1)
        if end > start + 1:
            k = k[start + 1:end]
    return crc16(k) % SLOTS


# Commands whose first argument is not a key: sent to any node.
KEYLESS = {"PUBLISH", "PING", "INFO", "CLUSTER", "FLUSHALL", "DBSIZE", "SCRIPT", "CONFIG"}


class RedisCluster:
    # node_timeout_ms: long, so that a node a test stops is not declared failed (which would put
    # the whole cluster in the fail state, with no replica to take over) while the test runs
    def __init__(self, log_dir, masters=3, node_timeout_ms=30000):
        self.nodes = []
        for i in range(masters):
            node_dir = os.path.join(log_dir, "cluster-node-%d" % i)
            os.makedirs(node_dir, exist_ok=True)
            bus = free_port()
            self.nodes.append(Redis(node_dir, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(node_dir, "nodes.conf"),
                "--cluster-port", str(bus), "--cluster-node-timeout", str(node_timeout_ms)]))
        try:
            self._create()
        except BaseException:
            self.stop()
            raise

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    @property
    def seed_url(self):
        return "redis://127.0.0.1:%d" % self.nodes[0].port

    def _create(self):
        argv = [REDIS_CLI, "--cluster", "create"] + ["127.0.0.1:%d" % p for p in self.ports] + ["--cluster-yes"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=START_CEILING_S, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError("redis-cli --cluster create failed:\n%s\n%s" % (p.stdout, p.stderr))
        wait_until(self._agreed, what="every cluster node to agree on the slot map")

    def _agreed(self):
        """Every node says the cluster is ok and knows every node, and all give the same map."""
        maps = []
        for n in self.nodes:
            info = n.cmd("CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_known_nodes:%d" % len(self.nodes) not in info:
                return False
            maps.append(sorted((s[0], s[1], s[2][1]) for s in n.cmd("CLUSTER", "SLOTS")))
        return all(m == maps[0] for m in maps)

    def stop(self):
        for n in self.nodes:
            n.stop()

    # what IntegrationTest prints of a process when a test failed
    name = "redis-cluster"

    def output(self):
        return "".join("---- %s ----\n%s" % (n.process.name, n.process.output()[-2000:]) for n in self.nodes)

    # ---- who serves what

    def node_by_port(self, port):
        return next(n for n in self.nodes if n.port == port)

    def running(self):
        """A node that runs (a test may have stopped one)."""
        return next(n for n in self.nodes if n.process.running())

    def node_of_slot(self, slot):
        for start, end, master, *_ in self.running().cmd("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return self.node_by_port(int(master[1]))
        raise AssertionError("slot %d is not served" % slot)

    def node_of(self, key):
        return self.node_of_slot(key_slot(key))

    def node_id(self, node):
        return node.cmd("CLUSTER", "MYID")

    def tenants_on_every_node(self, stem):
        """One tenant id per master, each served by a different node: {port: tenant}."""
        found = {}
        for i in range(10000):
            tenant = "%s%d" % (stem, i)
            port = self.node_of_slot(key_slot(tenant)).port
            found.setdefault(port, tenant)
            if len(found) == len(self.nodes):
                return found
        raise AssertionError("no tenant ids spread over every node")

    # ---- commands, as a cluster client would send them (MOVED followed; ASK too)

    def cmd(self, *args):
        """Runs a command on the node of its key (args[1]), following MOVED and ASK: so the
        harness's put_tenant and put_key work unchanged against the cluster."""
        node = self.running() if args[0].upper() in KEYLESS or len(args) < 2 else self.node_of(args[1])
        asking = False
        for _ in range(5):
            c = RedisConn(node.port)
            try:
                if asking:
                    c("ASKING")
                return c(*args)
            except RedisError as e:
                kind, _, rest = str(e).partition(" ")
                if kind not in ("MOVED", "ASK"):
                    raise
                node = self.node_by_port(int(rest.split(":")[-1]))
                asking = kind == "ASK"
            finally:
                c.close()
        raise AssertionError("too many redirections for %r" % (args,))

    # ---- moving a slot by hand (what redis-cli --cluster reshard does, one step at a time)

    def begin_migration(self, slot, source, target):
        target.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        source.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))

    def migrate_keys(self, slot, source, target):
        """Moves every key of the slot; a key moved answers ASK at the source from then on."""
        while True:
            keys = source.cmd("CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                return
            source.cmd("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)

    def end_migration(self, slot, target):
        """The slot is the target's: told to the target first, then to every other node."""
        target_id = self.node_id(target)
        target.cmd("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for n in self.nodes:
            if n is not target:
                n.cmd("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        wait_until(lambda: all(self._serves(n, slot, target) for n in self.nodes), what="every node to agree on slot %d" % slot)

    def _serves(self, node, slot, target):
        for start, end, master, *_ in node.cmd("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1]) == target.port
        return False

    def move_slot(self, slot, target):
        source = self.node_of_slot(slot)
        self.begin_migration(slot, source, target)
        self.migrate_keys(slot, source, target)
        self.end_migration(slot, target)

    def command_count(self, node, name):
        return node.command_count(name)
