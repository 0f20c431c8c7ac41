"""Shared helpers for the integration tests: free ports, real processes that are always
stopped, polling with generous ceilings (never fixed sleeps), and a small HTTP client."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIDECAR_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD_DIR = os.environ.get("SIDECAR_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
SIDECAR = os.path.join(BUILD_DIR, "policy-sidecar")

# Ceilings: how long we are willing to wait on a loaded 2-core machine before calling it a failure.
START_CEILING_S = 30
STOP_CEILING_S = 30
HTTP_TIMEOUT_S = 30


_ports_handed_out = set()


def free_port():
    """A port nobody listens on right now (the kernel's choice of an ephemeral port), and never
    one this process handed out before: nothing holds a port between this call and the server's
    bind, so two calls in a row can otherwise get the same one (seen: a service's listen port
    equal to the admin port)."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
    raise RuntimeError("no free port the tests have not handed out already")


def wait_until(predicate, ceiling_s=START_CEILING_S, what="condition", interval_s=0.02):
    deadline = time.monotonic() + ceiling_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (ceiling_s, what))
        time.sleep(interval_s)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), names as sent
        self.body = body

    def header(self, name):
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r, %r)" % (self.status, self.headers, self.body[:300])


def request(port, method, path, headers=None, body=None, timeout=HTTP_TIMEOUT_S):
    """One request on a fresh connection. Header lists allow repeated names."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for name, value in items:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.getheaders(), data)
    finally:
        conn.close()


# What a socket has received past the response read last: pipelined answers can arrive in one
# segment, and dropping the second would look like a connection closed without an answer.
_unread = weakref.WeakKeyDictionary()


def read_response(s, timeout=30):
    """Reads one HTTP response (head and Content-Length body) from a socket; returns
    (status, headers dict with lower-case names, body). Bytes past it are kept for the next call."""
    s.settimeout(timeout)
    data = _unread.pop(s, b"")
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head: %r" % data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed %d bytes into a %d-byte body" % (len(body), length))
        body += chunk
    if len(body) > length:
        _unread[s] = body[length:]
    return int(lines[0].split()[1]), headers, body[:length]


# What AddressSanitizer (a leak at exit included: the daemon frees everything when it stops) or
# UndefinedBehaviorSanitizer print; under the sanitizer build these fail the test that started
# the sidecar.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def sanitizer_report(output):
    """The sanitizer report in a process's output, from its first line; empty when none."""
    starts = [output.find(m) for m in SANITIZER_MARKERS if m in output]
    return output[min(starts):][:8000] if starts else ""


class Process:
    """A child process whose output goes to a log file, stopped by PID."""

    def __init__(self, name, argv, log_dir, env=None):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, env=env)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, ceiling_s=STOP_CEILING_S):
        return self.proc.wait(timeout=ceiling_s)

    def stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_CEILING_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    def output(self):
        if not self.log_file.closed:
            self.log_file.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Backend:
    def __init__(self, log_dir, port=None):
        self.port = port or free_port()
        self.process = Process("backend-%d" % self.port, [sys.executable, os.path.join(HERE, "backend.py"), str(self.port)],
                               log_dir)
        wait_until(lambda: port_open(self.port), what="backend on port %d" % self.port)

    def log(self):
        return json.loads(request(self.port, "GET", "/__log").body)

    def reset(self):
        request(self.port, "GET", "/__reset")

    def release(self, name):
        request(self.port, "GET", "/__release?name=" + name)

    def stop(self):
        self.process.stop()


class ThreadedServer:
    """A listening socket on a free loopback port in this process: each connection it accepts is
    served by a thread of its own (`self._serve(conn)`, defined by the subclass, which sets its
    own fields before calling this constructor: serving may start at once). stop() closes the
    listener and shuts every connection down."""

    def __init__(self, backlog=64, nodelay=False):
        self.lock = threading.Lock()
        self.conns = []
        self.nodelay = nodelay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = free_port()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(backlog)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.nodelay:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def stop(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def parse_request_head(raw):
    """(method, path, [(name, value)...]) of a request head without its final CRLF CRLF."""
    lines = raw.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    return method, path, [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]


def write(path, text):
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


class Sidecar:
    """policy-sidecar with a generated host config; `services` maps name -> dict of settings
    (upstream port, policy text, optional timeout_s / max_body_bytes)."""

    def __init__(self, log_dir, services, extra_host_yaml="", threads=2, grace_s=10, wait_ready=True, wait_alive=False,
                 env=None, wrapper=()):
        self.dir = log_dir
        self.admin_port = free_port()
        self.ports = {}
        lines = ["threads: %d" % threads, "admin_listen: 127.0.0.1:%d" % self.admin_port, "shutdown_grace_s: %d" % grace_s]
        lines += textwrap.dedent(extra_host_yaml).strip("\n").splitlines()
        lines.append("services:")
        for name, svc in services.items():
            port = svc.get("listen_port") or free_port()
            self.ports[name] = port
            policy_file = os.path.join(log_dir, "policy-%s.yaml" % name)
            write(policy_file, svc["policy"])
            lines += ["  - name: %s" % name,
                      "    listen: 127.0.0.1:%d" % port,
                      "    upstream: http://127.0.0.1:%d" % svc["upstream_port"],
                      "    policy: %s" % os.path.basename(policy_file)]
            for key in ("timeout_s", "max_body_bytes", "upstream_keepalive_ms", "upstream_max_idle"):
                if key in svc:
                    lines.append("    %s: %s" % (key, svc[key]))
            lines += svc.get("extra_yaml", "").rstrip("\n").splitlines()  # already indented for the service
        self.config_path = os.path.join(log_dir, "sidecar.yaml")
        write(self.config_path, "\n".join(lines) + "\n")
        # wrapper: a command that execs the sidecar (e.g. prlimit), so its PID is the sidecar's
        self.process = Process("sidecar-%d" % self.admin_port, list(wrapper) + [SIDECAR, "-c", self.config_path], log_dir,
                               env=dict(os.environ, **env) if env else None)
        try:
            if wait_alive:
                self.wait_alive()
            elif wait_ready:
                self.wait_ready()
        except BaseException:
            sys.stderr.write("---- %s ----\n%s\n" % (self.process.name, self.process.output()[-4000:]))
            self.process.stop()  # nobody else knows this process yet
            raise

    def _admin_status(self, path):
        if not self.process.running():
            raise AssertionError("sidecar exited with %s:\n%s" % (self.process.proc.returncode, self.process.output()))
        try:
            return request(self.admin_port, "GET", path, timeout=2).status
        except OSError:
            return None

    def ready(self):
        """/ready: serving, with every Redis connection and subscription up."""
        return self._admin_status("/ready") == 200

    def alive(self):
        """/healthz: the process answers (whether or not Redis is there)."""
        return self._admin_status("/healthz") == 200

    def readiness(self):
        return request(self.admin_port, "GET", "/ready", timeout=HTTP_TIMEOUT_S)

    def wait_ready(self, ceiling_s=START_CEILING_S):
        wait_until(self.ready, ceiling_s=ceiling_s, what="sidecar /ready")

    def wait_alive(self):
        wait_until(self.alive, what="sidecar /healthz")

    def request(self, service, method, path, headers=None, body=None, timeout=HTTP_TIMEOUT_S):
        return request(self.ports[service], method, path, headers, body, timeout)

    def stop(self):
        self.process.stop()

    def metric(self, series):
        """The value of one series on /metrics, e.g. 'policy_sidecar_ready' or
        'policy_sidecar_config_reloads_total{result="success"}'; None when the page has no such
        series (yet)."""
        for line in request(self.admin_port, "GET", "/metrics", timeout=HTTP_TIMEOUT_S).body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return None


class IntegrationTest(unittest.TestCase):
    """Gives each test a scratch directory and stops everything it started, printing the
    processes' output when the test failed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecar-it-")
        self.processes = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        failed = not getattr(getattr(self, "_outcome", None), "success", True)
        for p in reversed(self.processes):
            p.stop()
        reports = [(p.process.name, sanitizer_report(p.process.output())) for p in self.processes if isinstance(p, Sidecar)]
        reports = [r for r in reports if r[1]]
        if failed or os.environ.get("SIDECAR_TEST_VERBOSE"):
            for p in self.processes:
                proc = getattr(p, "process", p)
                sys.stderr.write("---- %s ----\n%s\n" % (proc.name, proc.output()[-4000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report from %s:\n%s" % reports[0])

    def start_backend(self, **kw):
        b = Backend(self.tmp, **kw)
        self.processes.append(b)
        return b

    def start_sidecar(self, services, **kw):
        s = Sidecar(self.tmp, services, **kw)
        self.processes.append(s)
        return s


# ---------------------------------------------------------------------------------------------
# Redis: a real redis-server per test, and a minimal RESP client (no third-party packages).

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisConn:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError("unexpected reply %r" % line)

    def __call__(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._reply()


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, log_dir, port=None, extra=()):
        self.port = port or free_port()
        self.dir = log_dir
        self.extra = list(extra)
        self.process = None
        self.start()

    def start(self):
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir] + self.extra
        self.process = Process("redis-%d" % self.port, argv, self.dir)
        wait_until(self._pong, what="redis-server on port %d" % self.port)

    def _pong(self):
        try:
            c = RedisConn(self.port, timeout=2)
            try:
                return c("PING") == "PONG"
            except RedisError:
                return True  # it answers (it wants a password)
            finally:
                c.close()
        except OSError:
            return False

    def conn(self):
        return RedisConn(self.port)

    def cmd(self, *args):
        c = self.conn()
        try:
            return c(*args)
        finally:
            c.close()

    def stop(self):
        if self.process is not None:
            self.process.stop()
            wait_until(lambda: not port_open(self.port), what="redis port closed")

    def command_count(self, name):
        """How many times Redis has executed a command (INFO commandstats)."""
        info = self.cmd("INFO", "commandstats")
        for line in info.splitlines():
            if line.startswith("cmdstat_%s:" % name.lower()):
                return int(line.split("calls=")[1].split(",")[0])
        return 0


PREFIX = "ps:"


def sha256_hex(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def invalidation(tenant, digest=None):
    """The invalidation message of a tenant or of one of its API keys: what schema.c's
    sc_schema_invalidation_format writes, the one place the tests spell it."""
    return "tenant " + tenant if digest is None else "key %s %s" % (tenant, digest)


def put_tenant(redis, tenant, status="active", services="*", scopes=None, issuers=None, rate=None, burst=None, publish=True,
               quota_daily=None):
    """Writes a tenant record the way sidecarctl does (schema in sidecar/store/schema.h)."""
    fields = ["status", status, "services", services]
    if scopes is not None:
        fields += ["scopes", scopes]
    if issuers is not None:
        fields += ["issuers", issuers]
    if rate is not None:
        fields += ["rate", str(rate)]
    if burst is not None:
        fields += ["burst", str(burst)]
    if quota_daily is not None:
        fields += ["quota_daily", str(quota_daily)]
    key = "%s{%s}:tenant" % (PREFIX, tenant)
    redis.cmd("DEL", key)
    redis.cmd("HSET", key, *fields)
    if publish:
        redis.cmd("PUBLISH", PREFIX + "invalidate", invalidation(tenant))


def put_key(redis, tenant, key, key_id, scopes="", status="active", expires_at=0, publish=True):
    digest = sha256_hex(key)
    redis.cmd("HSET", "%s{%s}:key:%s" % (PREFIX, tenant, digest), "tenant", tenant, "key_id", key_id, "scopes", scopes,
              "status", status, "expires_at", str(expires_at))
    if publish:
        redis.cmd("PUBLISH", PREFIX + "invalidate", invalidation(tenant, digest))


# ---------------------------------------------------------------------------------------------
# JWTs for integration tests: RS256 with the fixture keys (openssl CLI), HS256 with hmac.

FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "jwt")


TEST_ISSUER = "https://idp.test/"


def identity_host_yaml(redis_port, *extra_lines, timeout_ms=500, connect_timeout_ms=None, issuer=TEST_ISSUER):
    """Host-file lines for a sidecar that checks identities: Redis on `redis_port` and one
    RS256 issuer whose keys are the fixtures' (tokens from harness.mint verify)."""
    lines = ["redis:",
             "  url: redis://127.0.0.1:%d/0" % redis_port,
             "  timeout_ms: %d" % timeout_ms]
    if connect_timeout_ms is not None:
        lines.append("  connect_timeout_ms: %d" % connect_timeout_ms)
    lines += ["jwt_issuers:",
             "  - issuer: %s" % issuer,
             "    audiences: [platform]",
             "    jwks_file: %s" % os.path.join(FIXTURES, "rs256.jwks.json"),
             "    algorithms: [RS256]"]
    return "\n".join(list(extra_lines) + lines) + "\n"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, alg="RS256", kid="rsa-rs256", key_file=None, secret=None, header=None):
    import hashlib
    import hmac
    h = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        h["kid"] = kid
    h.update(header or {})
    signing_input = (b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    if alg == "HS256":
        sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    else:
        key_file = key_file or os.path.join(FIXTURES, "keys", "rs256.key.pem")
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=signing_input, capture_output=True,
                             check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


# ---------------------------------------------------------------------------------------------
# Command-line tools (sidecarctl): run to completion, output as text.

def run_cli(argv, env=None, input=None, timeout=HTTP_TIMEOUT_S):
    """Runs argv to completion and returns (exit status, stdout, stderr) as text. The caller's
    SIDECAR_REDIS_* variables do not leak in; `env` adds variables. Standard input is /dev/null
    unless `input` is given, never the terminal of whoever runs the tests."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_REDIS")}
    full_env.update(env or {})
    p = subprocess.run(argv, env=full_env, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr
