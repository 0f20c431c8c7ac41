#!/usr/bin/env python3
"""tests/bench/memory.py -- the sidecar's memory with many tenants and API keys cached.

Loads TENANTS tenants, each with one API key, into a fresh redis-server, starts one sidecar with
`threads: 1` (every record lands in the one worker's cache) and sends one request per tenant
with its key over a few pipelined keep-alive connections. Each request costs two Redis reads (the
key record, the tenant record), which the worker then caches. A second pass over a sample checks
that they are all cached: it must be answered without a single cache miss. The resident set size
(VmRSS of /proc/PID/status) is read after start-up, after the first pass and after the second.

The backend is a few lines of asyncio that answer `200` to every request: the figure is the
sidecar's, not a backend's. The access log is off (its buffer is not what is measured).

Usage: tests/bench/memory.py            (after `cmake --build build`; needs redis-server)
Settings (environment):
  TENANTS=100000       tenants, and as many API keys
  GOAL_MB=64           reported against (issue 15: <= 64 MB with 100,000 of each)
  CONNS=4 DEPTH=64     connections, and requests in flight on each (pipelined)
  SIDECAR=path         the binary (default: build/policy-sidecar)
Prints one line per measurement and a summary; exits 0 when every request was answered 200,
every record cached, whatever the figure (performance is reported, not asserted).
"""
import asyncio
import hashlib
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import SIDECAR, Process, Redis, Sidecar, wait_until  # noqa: E402

TENANTS = int(os.environ.get("TENANTS", "100000"))
GOAL_MB = float(os.environ.get("GOAL_MB", "64"))
CONNS = int(os.environ.get("CONNS", "4"))
DEPTH = int(os.environ.get("DEPTH", "64"))
SIDECAR_BIN = os.environ.get("SIDECAR", SIDECAR)

POLICY = """
routes:
  - path: /svc/**
    auth: [api_key]
"""
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def tenant_id(i):
    return "t%06d" % i


def api_key(i):
    return "bench-key-%06d-%s" % (i, hashlib.sha256(b"%d" % i).hexdigest()[:24])


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load_redis(port, count, prefix="ps:"):
    """Writes the records as sidecarctl does (the layout of sidecar/store/schema.h), pipelined."""
    s = socket.create_connection(("127.0.0.1", port))
    sent = 0
    batch = []
    for i in range(count):
        t, key = tenant_id(i), api_key(i)
        digest = hashlib.sha256(key.encode()).hexdigest()
        batch.append(resp_command("HSET", "%s{%s}:tenant" % (prefix, t), "status", "active", "services", "*"))
        batch.append(resp_command("HSET", "%s{%s}:key:%s" % (prefix, t, digest), "tenant", t, "key_id",
                                  "k_%012d" % i, "scopes", "", "status", "active", "expires_at", "0"))
        if len(batch) >= 2000 or i == count - 1:
            s.sendall(b"".join(batch))
            sent += len(batch)
            batch = []
    # every reply is ":N\r\n" (fields added): read until all have arrived
    received, buf = 0, b""
    s.settimeout(60)
    while received < sent:
        chunk = s.recv(1 << 16)
        if not chunk:
            raise SystemExit("redis closed the connection while loading")
        buf += chunk
        if b"-" in buf[:1]:
            raise SystemExit("redis refused a write: %r" % buf[:200])
        received += buf.count(b"\r\n")
        buf = b""
    s.close()


def start_backend():
    """A backend that answers 200 to every request head it reads (requests carry no body)."""
    loop = asyncio.new_event_loop()

    class Answer(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            n = self.buf.count(b"\r\n\r\n")
            if n:
                self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
                self.transport.write(RESPONSE * n)

    server = loop.run_until_complete(loop.create_server(Answer, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def drive(port, indexes):
    """Sends one request per index over CONNS pipelined connections; returns the statuses seen."""
    statuses = {}
    lock = threading.Lock()
    shards = [indexes[c::CONNS] for c in range(CONNS)]

    def one_connection(shard):
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(60)
        buf, seen = b"", {}
        for start in range(0, len(shard), DEPTH):
            group = shard[start:start + DEPTH]
            s.sendall(b"".join(b"GET /svc/x HTTP/1.1\r\nHost: b\r\nX-Tenant-ID: %s\r\nX-Api-Key: %s\r\n\r\n" %
                               (tenant_id(i).encode(), api_key(i).encode()) for i in group))
            answered = 0
            while answered < len(group):
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        raise SystemExit("the sidecar closed a connection")
                    buf += chunk
                    continue
                head = buf[:head_end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                while len(buf) < head_end + 4 + length:
                    buf += s.recv(1 << 16)
                status = int(head.split()[1])
                seen[status] = seen.get(status, 0) + 1
                buf = buf[head_end + 4 + length:]
                answered += 1
        s.close()
        with lock:
            for k, v in seen.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=one_connection, args=(shard,)) for shard in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def main():
    import tempfile
    tmp = tempfile.mkdtemp(prefix="sidecar-memory-")
    processes = []
    try:
        redis = Redis(tmp)
        processes.append(redis)
        started = time.monotonic()
        load_redis(redis.port, TENANTS)
        dbsize = int(redis.cmd("DBSIZE"))
        print("redis: %d keys loaded in %.1f s" % (dbsize, time.monotonic() - started))
        backend_port = start_backend()
        host = "\n".join([
            "access_log: off",
            "redis:", "  url: redis://127.0.0.1:%d/0" % redis.port, "  timeout_ms: 1000",
            "tenant_cache:", "  ttl_s: 3600", "  max_stale_s: 3600", "  max_entries: %d" % (2 * TENANTS + 1000),
        ])
        os.environ.setdefault("SIDECAR_TEST_VERBOSE", "")
        import harness
        harness.SIDECAR = SIDECAR_BIN
        sidecar = Sidecar(tmp, {"svc": {"upstream_port": backend_port, "policy": POLICY}}, extra_host_yaml=host,
                          threads=1)
        processes.append(sidecar)
        pid = sidecar.process.pid
        rss_start = rss_kb(pid)
        print("sidecar: pid %d, VmRSS after start %.1f MB" % (pid, rss_start / 1024))

        started = time.monotonic()
        statuses = drive(sidecar.ports["svc"], list(range(TENANTS)))
        elapsed = time.monotonic() - started
        misses = sidecar.metric("policy_sidecar_tenant_cache_misses_total")
        rss_loaded = rss_kb(pid)
        print("first pass: %d requests in %.1f s, statuses %s, cache misses %d, VmRSS %.1f MB" %
              (TENANTS, elapsed, statuses, misses, rss_loaded / 1024))
        if statuses != {200: TENANTS}:
            raise SystemExit("not every request was answered 200: %s" % statuses)

        sample = list(range(0, TENANTS, max(1, TENANTS // 10000)))
        hits_before = sidecar.metric("policy_sidecar_tenant_cache_hits_total")
        statuses = drive(sidecar.ports["svc"], sample)
        misses_after = sidecar.metric("policy_sidecar_tenant_cache_misses_total")
        hits = sidecar.metric("policy_sidecar_tenant_cache_hits_total") - hits_before
        rss_end = rss_kb(pid)
        print("second pass: %d requests, statuses %s, cache hits %d, new misses %d, VmRSS %.1f MB" %
              (len(sample), statuses, hits, misses_after - misses, rss_end / 1024))
        if statuses != {200: len(sample)} or misses_after != misses:
            raise SystemExit("the second pass was not answered from the cache")

        records = 2 * TENANTS
        per_record = (rss_end - rss_start) * 1024 / records
        verdict = "within" if rss_end / 1024 <= GOAL_MB else "OVER"
        print("summary: %d tenants + %d API keys cached on one worker: VmRSS %.1f MB (%s the %.0f MB goal); "
              "%.1f MB at start, %.0f bytes per cached record" %
              (TENANTS, TENANTS, rss_end / 1024, verdict, GOAL_MB, rss_start / 1024, per_record))
    finally:
        for p in reversed(processes):
            p.stop()
        import shutil
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
