#!/usr/bin/env bash
# tests/bench/syscalls.sh -- system calls per proxied request of a policy-sidecar binary:
# `strace -c -f` attached to it over DURATION of keep-alive load on a public route (wrk -t1
# -c64, after a 2 s warm-up), to an nginx `return 200` backend. Sidecar and nginx pinned to
# CPU 0, wrk to CPU 1, threads: 1, access log on (to a file).
#
# Usage: tests/bench/syscalls.sh [SIDECAR_BINARY]     (default: build/policy-sidecar)
# Settings: DURATION=4s SCRATCH=/tmp/sidecar-syscalls
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(realpath "${1:-$REPO/build/policy-sidecar}")
DURATION=${DURATION:-4s}
D=${SCRATCH:-/tmp/sidecar-syscalls}/$(date +%Y%m%d-%H%M%S)
mkdir -p "$D/tmp"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BACKEND_PORT=$(free_port)
PORT=$(free_port)
ADMIN_PORT=$(free_port)

cat >"$D/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
master_process off;
pid $D/nginx.pid;
error_log $D/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    client_body_temp_path $D/tmp/body;
    proxy_temp_path $D/tmp/proxy;
    fastcgi_temp_path $D/tmp/fastcgi;
    uwsgi_temp_path $D/tmp/uwsgi;
    scgi_temp_path $D/tmp/scgi;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        location / { default_type application/json; return 200 '{"status":"OK"}'; }
    }
}
NGINX
printf '%s\n' "mode: enforce" "strip_prefix: /langchain" "routes:" "  - path: /langchain/health" \
    "    methods: [GET]" "    auth: none" >"$D/policy.yaml"
cat >"$D/sidecar.yaml" <<YAML
threads: 1
admin_listen: 127.0.0.1:$ADMIN_PORT
access_log: $D/access.log
services:
  - name: langchain
    listen: 127.0.0.1:$PORT
    upstream: http://127.0.0.1:$BACKEND_PORT
    policy: policy.yaml
    timeout_s: 29
YAML

taskset -c 0 nginx -c "$D/nginx.conf" &
NGINX_PID=$!
taskset -c 0 "$BIN" -c "$D/sidecar.yaml" >"$D/sidecar.log" 2>&1 &
SIDECAR_PID=$!
trap 'kill "$SIDECAR_PID" "$NGINX_PID" 2>/dev/null; wait 2>/dev/null' EXIT
URL=http://127.0.0.1:$PORT/langchain/health
for _ in $(seq 300); do
    curl -fs "$URL" >/dev/null && break
    sleep 0.1
done
taskset -c 1 wrk -t1 -c64 -d2s "$URL" >/dev/null
strace -c -f -p "$SIDECAR_PID" -o "$D/strace.txt" 2>/dev/null &
STRACE_PID=$!
for _ in $(seq 50); do # attached once the sidecar shows a tracer
    grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$SIDECAR_PID/status" && break
    sleep 0.1
done
taskset -c 1 wrk -t1 -c64 -d"$DURATION" "$URL" >"$D/wrk.txt"
kill -INT "$STRACE_PID"
wait "$STRACE_PID" 2>/dev/null || true
REQUESTS=$(awk '/requests in/ {print $1}' "$D/wrk.txt")
echo "$BIN: $REQUESTS requests under strace ($D)"
awk -v n="$REQUESTS" 'NR > 2 && $4 ~ /^[0-9]+$/ {printf "  %-16s %6.2f per request\n", $NF, $4 / n}' "$D/strace.txt"
