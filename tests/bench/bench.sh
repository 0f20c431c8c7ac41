#!/usr/bin/env bash
# tests/bench/bench.sh -- throughput, latency and CPU cost per request of policy-sidecar, measured
# side by side with the backend alone and with h2o's own reverse proxy, in one interleaved run.
#
#   P0  the backend directly (nginx `return 200`)
#   P1  h2o 2.2.5 standalone (Debian package h2o) as a plain reverse proxy to that backend
#   P2  policy-sidecar on a public route (auth: none) to the same backend
#   P3  policy-sidecar, full policy: `auth: [jwt, api_key]`, RS256 JWT verified (then cached, as the
#       product does), tenant record from Redis (then from the per-worker cache)
#   P4  P3 + `rate_limit: {mode: local}`, set too high ever to refuse
#   P5  P3 + `rate_limit: {mode: redis}`: the sidecar spends leases of the tenant's budget taken
#       from the shared redis-server (one script call per lease, not per request)
#   N1  nginx 1.22 (Debian package nginx) as a plain reverse proxy to that backend: one process
#       (`master_process off`, so the process measured is the one serving), upstream keep-alive,
#       access log off. The bar of the product: P3 must cost no more CPU per request than N1,
#       P2 less (RATIOS P3/N1 and P2/N1, targets 1.00).
#
# Every sidecar runs with `threads: 1` and its default access log, written to a file
# ($RUN/<peer>/access.log; files over 20 MB are emptied between runs, never during one). Every
# peer receives the same headers: a real RS256 JWT for tenant-a and `X-Tenant-ID: tenant-a`.
# P3..P5 share one redis-server (pinned with the servers; its CPU is reported in a column of its
# own, with the Redis commands per request of each run: INFO commandstats before and after,
# PING and INFO left out, the commands scripts run included; script calls apart). With P3
# measured, a separate run of >= 10 000 requests on P3 checks that a warm tenant and token cost
# no Redis command (INFO commandstats before and after); P4 and P5 get the same count, for
# information.
#
# The sidecar is built on libh2o 2.2.5, so P1 is the floor for P2: what the sidecar costs beyond
# P1 is the price of its own code. Servers are pinned to CPU $SRV_CPU and wrk to CPU $LG_CPU, so
# the load generator does not steal cycles from what it measures. Each server's CPU time is read
# from /proc/PID/stat (utime + stime, children included) around every run and divided by the
# requests wrk completed; that figure is much steadier than requests/s on a shared machine.
#
# Usage: tests/bench/bench.sh            (from anywhere; needs root or sudo to install packages)
# Settings (environment):
#   ROUNDS=3 DURATION=10s CONNS=64 WARMUP=2s   rounds, wrk run length, connections, warm-up
#   SRV_CPU=0 LG_CPU=1                         CPU of the servers, CPU of wrk
#   ONLY="P0 P2"                               measure a subset (the backend always runs)
#   SIDECAR=path                               sidecar binary (default: build/policy-sidecar,
#                                              built with cmake when missing)
#   SIDECAR_YAML='access_log: off'             extra host-config lines for every sidecar peer
#                                              (default: none, i.e. the sidecar's own defaults,
#                                              with the access log in a file of the scratch dir)
#   SIDECAR_ENV='LD_LIBRARY_PATH=/x'           extra environment of every sidecar peer, e.g. to
#                                              run it on another build of libh2o (README,
#                                              Performance: "Why p99 is wider")
#   RATIOS="P2/P1:1.10 P3/P2:1.15 P4/P3 P5/P3 P2/N1:1.00 P3/N1:1.00"
#                                              CPU/request ratios to report (":max" = target;
#                                              a ratio whose peers were not both measured is skipped)
#   REDIS_CHECK_REQS=10000                     requests of the Redis command count (P3, P4, P5)
#   PORT_BASE=N                                ports N.. (default: the first free block found)
#   SCRATCH=/tmp/sidecar-bench                 artefacts go to $SCRATCH/<stamp>/
#   QUIET_WAIT=120 GATE_WAIT=20 MAX_TRY=3 FOREIGN_MAX=20 STEAL_MAX=10 LOAD_BUDGET=1200
#                                              see "noise control" below
#
# Adding a peer (e.g. "sidecar with API keys", "sidecar with CORS"):
#   1. one line in PEERS (id, port offset, request path, description);
#   2. a function start_<id> that writes its configuration and starts its server(s) with
#      start_server/wait_listen (start_sidecar does all of it for a sidecar with a given policy);
#      call `need redis` first when the peer needs the shared redis-server;
#   3. optionally check_<id> (curl checks with expect; a failure aborts before any load) and
#      PEER_HEADERS[<id>] (extra request headers). To keep request sizes equal, prefer changing
#      COMMON_HEADERS for everyone (public routes and plain proxies ignore what they do not use)
#      over giving one peer extra headers; the req bytes column shows what was actually sent.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SCRIPT_REL=tests/bench/bench.sh

if (($# > 0)); then
    # every setting is an environment variable; refuse arguments rather than ignore them
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
SRV_CPU=${SRV_CPU:-0}
LG_CPU=${LG_CPU:-1}
ONLY=${ONLY:-}
PORT_BASE=${PORT_BASE:-}
SCRATCH=${SCRATCH:-/tmp/sidecar-bench}
QUIET_WAIT=${QUIET_WAIT:-120}  # s: initial wait for a quiet host before any load
GATE_WAIT=${GATE_WAIT:-20}     # s: wait before each run for a quiet second
MAX_TRY=${MAX_TRY:-3}          # attempts per run when foreign load disturbs it
FOREIGN_MAX=${FOREIGN_MAX:-20} # %: CPU time on either CPU not accounted to our processes
STEAL_MAX=${STEAL_MAX:-10}     # %: hypervisor steal on either CPU
LOAD_BUDGET=${LOAD_BUDGET:-1200} # s: after this, no more waiting or retries (keep going, flag noise)
RATIOS=${RATIOS:-P2/P1:1.10 P3/P2:1.15 P4/P3 P5/P3 P2/N1:1.00 P3/N1:1.00} # CPU/request ratios to report: num/den[:target]
REDIS_CHECK_REQS=${REDIS_CHECK_REQS:-10000} # requests of the Redis command count check (P3..P5)
SIDECAR_YAML=${SIDECAR_YAML:-}
read -r -a SIDECAR_ENV_ARGS <<<"${SIDECAR_ENV:-}" # NAME=value words, for env(1)

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$SCRATCH/$STAMP
CONF=$RES/conf
RUN=$RES/run
mkdir -p "$CONF" "$RUN"
ln -sfn "$RES" "$SCRATCH/latest"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" | tee -a "$RES/run.log" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# The command as it can be re-run: every setting that shapes the numbers, with its value.
COMMAND="cd $REPO && ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP SRV_CPU=$SRV_CPU LG_CPU=$LG_CPU"
[[ -n $ONLY ]] && COMMAND+=" ONLY=\"$ONLY\""
[[ -n ${SIDECAR:-} ]] && COMMAND+=" SIDECAR=$SIDECAR"
[[ -n $PORT_BASE ]] && COMMAND+=" PORT_BASE=$PORT_BASE"
[[ -n $SIDECAR_YAML ]] && COMMAND+=" SIDECAR_YAML='$SIDECAR_YAML'"
[[ -n ${SIDECAR_ENV:-} ]] && COMMAND+=" SIDECAR_ENV='$SIDECAR_ENV'"
COMMAND+=" $SCRIPT_REL"
log "command: $COMMAND"
log "artefacts: $RES"

# ------------------------------------------------------------------------------------------ peers
# id | port offset (from PORT_BASE) | request path | description (Markdown)
PEERS=(
    "P0|0|/health|backend direct (nginx \`return 200\`)"
    "P1|1|/langchain/health|h2o 2.2.5 standalone, plain reverse proxy (\`num-threads: 1\`)"
    "P2|2|/langchain/health|policy-sidecar, public route (\`auth: none\`, \`threads: 1\`)"
    "P3|3|/langchain/invoke|policy-sidecar, full policy: \`auth: [jwt, api_key]\`, RS256 JWT + tenant record (both cached after the first request)"
    "P4|4|/langchain/invoke|P3 + \`rate_limit: {rate: 1000000, burst: 1000000, mode: local}\`"
    "P5|5|/langchain/invoke|P3 + \`rate_limit: {rate: 1000000, burst: 1000000, mode: redis}\` (leases: one script call per lease)"
    "N1|6|/langchain/health|nginx 1.22 plain reverse proxy (1 worker, upstream keep-alive)"
)
# (/langchain/invoke has the length of /langchain/health: the request line is the same size too.)

# RS256 tokens signed with the integration tests' fixture key (kid rsa-rs256; its JWKS is
# tests/fixtures/jwt/rs256.jwks.json). The claims are fixed and PKCS#1 v1.5 signatures are
# deterministic: the same token, and the same request size, in every run.
TENANT=tenant-a
JWT_ISSUER=https://idp.bench.test/
JWT_AUDIENCE=bench
JWT_KEY=$REPO/tests/fixtures/jwt/keys/rs256.key.pem
JWKS_FILE=$REPO/tests/fixtures/jwt/rs256.jwks.json
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
mint_jwt() { # $1 = tenant_id claim
    local h p s
    h=$(printf '%s' '{"alg":"RS256","typ":"JWT","kid":"rsa-rs256"}' | b64url)
    p=$(printf '{"iss":"%s","sub":"bench-user","aud":"%s","iat":1764000000,"exp":4102444800,"tenant_id":"%s"}' \
        "$JWT_ISSUER" "$JWT_AUDIENCE" "$1" | b64url)
    s=$(printf '%s' "$h.$p" | openssl dgst -sha256 -sign "$JWT_KEY" -binary | b64url)
    [[ -n $s ]] || return 1
    printf '%s.%s.%s' "$h" "$p" "$s"
}
command -v openssl >/dev/null || die "openssl not found (scripts/deps.sh installs it)"
[[ -r $JWT_KEY && -r $JWKS_FILE ]] || die "JWT fixtures missing: $JWT_KEY, $JWKS_FILE"
JWT_A=$(mint_jwt "$TENANT") || die "cannot sign a JWT with $JWT_KEY"
JWT_B=$(mint_jwt tenant-b) || die "cannot sign a JWT with $JWT_KEY"
printf '%s\n' "$JWT_A" >"$RES/jwt.txt"
# Sent by wrk and curl to every peer, so that request sizes are equal. Public routes (P2) and
# plain proxies (P1, N1) ignore both; P3..P5 need both.
COMMON_HEADERS="Authorization: Bearer $JWT_A"$'\n'"X-Tenant-ID: $TENANT"
# Extra headers of one peer, "Name: value" lines; same name as a common header: replaces it.
declare -A PEER_HEADERS=()
# Whose CPU time is "the server's" for a peer (default: the server started under the peer's id).
declare -A PEER_SERVER=([P0]=backend)

field() { # $1 = peer line, $2 = field number (1-based)
    cut -d'|' -f"$2" <<<"$1"
}
peer_line() { # $1 = id
    local pe
    for pe in "${PEERS[@]}"; do
        [[ ${pe%%|*} == "$1" ]] && { printf '%s\n' "$pe"; return 0; }
    done
    return 1
}
port_of() { echo $((PORT_BASE + $(field "$(peer_line "$1")" 2))); }
# a second port per peer, for a sidecar's admin listener
aux_port_of() { echo $((PORT_BASE + 100 + $(field "$(peer_line "$1")" 2))); }
# ports of shared helpers (need redis)
REDIS_OFFSET=200

if [[ -n $ONLY ]]; then
    sel=()
    for o in $ONLY; do
        peer_line "$o" >/dev/null || die "ONLY: unknown peer $o (known: $(printf '%s ' "${PEERS[@]%%|*}"))"
        sel+=("$(peer_line "$o")")
    done
    MEASURED=("${sel[@]}")
else
    MEASURED=("${PEERS[@]}")
fi

# --------------------------------------------------------------------------------- dependencies
# deps.sh is idempotent: it installs only what is missing (wrk, nginx, h2o, build deps).
"$REPO/scripts/deps.sh" --bench 2>&1 | tee -a "$RES/run.log" >&2
for b in wrk nginx h2o curl taskset ss pgrep; do
    command -v "$b" >/dev/null || die "$b not found after scripts/deps.sh --bench"
done

if [[ -z ${SIDECAR:-} ]]; then
    SIDECAR=$REPO/build/policy-sidecar
    if [[ ! -x $SIDECAR ]]; then
        log "building the sidecar (build/policy-sidecar is missing)"
        cmake -S "$REPO" -B "$REPO/build" >>"$RES/build.log" 2>&1 || die "cmake configure failed, see $RES/build.log"
        cmake --build "$REPO/build" -j2 >>"$RES/build.log" 2>&1 || die "build failed, see $RES/build.log"
    fi
fi
[[ -x $SIDECAR ]] || die "SIDECAR=$SIDECAR is not an executable"
SIDECAR_SRC=$(readlink -f "$SIDECAR")
# Run a copy kept with the results: build/ may be rebuilt during the run by someone else, and the
# copy is what a later profile of these numbers must use.
mkdir -p "$RES/bin"
cp "$SIDECAR_SRC" "$RES/bin/policy-sidecar"
SIDECAR=$RES/bin/policy-sidecar

{
    echo "date: $(date -Is)"
    echo "host: $(uname -n), kernel $(uname -r)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
    echo "sidecar: $SIDECAR_SRC ($("$SIDECAR" --version 2>&1 | head -1)), built $(date -r "$SIDECAR_SRC" -Is)," \
        "sha256 $(sha256sum "$SIDECAR" | cut -c1-16), copied to $SIDECAR"
    echo "repo: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "$(git -C "$REPO" status --porcelain -- sidecar CMakeLists.txt 2>/dev/null | wc -l) changed file(s) under sidecar/"
    echo "sidecar sources newer than the binary: $(find "$REPO/sidecar" -newer "$SIDECAR_SRC" -type f 2>/dev/null | wc -l)"
    h2o --version | head -1
    nginx -v 2>&1
    (wrk -v 2>&1 || true) | head -1
    for p in h2o nginx wrk libh2o-evloop-dev; do dpkg-query -W -f='deb ${Package} ${Version}\n' "$p" 2>/dev/null || true; done
} >"$RES/versions.txt"
tee -a "$RES/run.log" <"$RES/versions.txt" >&2

# ------------------------------------------------------------------------------------------ ports
port_busy() { ss -Htln "sport = :$1" | grep -q .; }
needed_ports() { # $1 = base: every port this run may bind
    local pe off
    for pe in "${PEERS[@]}"; do
        off=$(field "$pe" 2)
        echo $(($1 + off)) $(($1 + 100 + off))
    done
    echo $(($1 + REDIS_OFFSET))
}
busy_ports() { # $1 = base
    local p
    for p in $(needed_ports "$1"); do port_busy "$p" && printf '%s ' "$p"; done
    return 0
}
if [[ -n $PORT_BASE ]]; then
    busy=$(busy_ports "$PORT_BASE")
    [[ -z $busy ]] || die "PORT_BASE=$PORT_BASE: port(s) already in use: $busy(pick another PORT_BASE)"
else
    # below the ephemeral range, so no client socket takes one of them during the run
    for base in 18100 18400 18700 19000 19300 19600 19900 20200 20500 20800; do
        if [[ -z $(busy_ports "$base") ]]; then PORT_BASE=$base; break; fi
    done
    [[ -n $PORT_BASE ]] || die "no free port block found between 18100 and 21100; set PORT_BASE"
fi
log "ports: base $PORT_BASE ($(needed_ports "$PORT_BASE" | tr '\n' ' '))"
BACKEND_PORT=$(port_of P0)

# ---------------------------------------------------------------------------------------- servers
declare -A PID=()
stop_servers() {
    local name pid _
    # the peers first, then what they use (so no sidecar logs a lost Redis connection)
    for name in $(printf '%s\n' "${!PID[@]}" | grep -vx 'redis\|backend') redis backend; do
        [[ -n ${PID[$name]:-} ]] || continue
        pid=${PID[$name]}
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null || true
        log "stopped $name (pid $pid)"
        unset "PID[$name]"
    done
}
# A sidecar's access log takes hundreds of MB per run (to $RUN/<peer>/access.log, or to standard
# output when SIDECAR_YAML says "access_log: -"). Keep the start and the end of such logs (enough
# to see the format and any shutdown error).
trim_logs() {
    local f size
    for f in "$RUN"/*/output.log "$RUN"/*/access.log; do
        [[ -f $f ]] || continue
        size=$(stat -c %s "$f")
        ((size > 20 * 1024 * 1024)) || continue
        { head -n 1000 "$f"; echo "... ($size bytes in all, cut by bench.sh) ..."; tail -n 1000 "$f"; } >"$f.cut"
        mv "$f.cut" "$f"
    done
}
trap 'stop_servers; trim_logs' EXIT
# Between runs (never during one), access logs over 20 MB are emptied, their first 1000 lines kept
# once in access.head: every line is still written to a real file, the disk just does not fill.
declare -A ACCESS_LOG_BYTES=()
empty_access_logs() {
    local f size
    for f in "$RUN"/*/access.log; do
        [[ -f $f ]] || continue
        size=$(stat -c %s "$f")
        ((size > 20 * 1024 * 1024)) || continue
        [[ -f ${f%.log}.head ]] || head -n 1000 "$f" >"${f%.log}.head"
        truncate -s 0 "$f"
        ACCESS_LOG_BYTES[$f]=$((${ACCESS_LOG_BYTES[$f]:-0} + size))
    done
}
# without these, bash would run the EXIT trap only after the interrupted command, or not at all
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() { # $1 = name, rest = command; runs pinned to SRV_CPU, in the foreground of its own
    local name=$1
    shift
    mkdir -p "$RUN/$name"
    taskset -c "$SRV_CPU" "$@" >"$RUN/$name/output.log" 2>&1 &
    PID[$name]=$! # taskset execs the command: this is the server's own PID
    log "started $name (pid ${PID[$name]}): $*"
}
wait_listen() { # $1 = name, $2 = port: until that server (and not someone else) listens on it
    local name=$1 port=$2 pid=${PID[$1]} _
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up: $(tail -5 "$RUN/$name/output.log" | tr '\n' ' ')"
        if ss -Htlnp "sport = :$port" | grep -q "pid=$pid,"; then return 0; fi
        sleep 0.1
    done
    die "$name (pid $pid) is not listening on $port after 10 s (port taken by someone else?)"
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
declare -A NEEDED=()
need() { # $1 = shared helper, started once for all peers that need it
    [[ -n ${NEEDED[$1]:-} ]] && return 0
    NEEDED[$1]=1
    case $1 in
        redis)
            command -v redis-server >/dev/null || die "redis-server not found (scripts/deps.sh installs it)"
            command -v redis-cli >/dev/null || die "redis-cli not found (scripts/deps.sh installs it with redis-server)"
            REDIS_PORT=$((PORT_BASE + REDIS_OFFSET))
            mkdir -p "$RUN/redis"
            # no persistence: a benchmark must not leave state behind or stall on fsync
            start_server redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
                --dir "$RUN/redis"
            wait_listen redis "$REDIS_PORT"
            # the benchmark's tenant, written the way sidecarctl does (sidecar/store/schema.h; as
            # tests/integration/harness.put_tenant): active, may use langchain, no scope cap,
            # no rate of its own (the policy's applies)
            rcli HSET "ps:{$TENANT}:tenant" status active services langchain >/dev/null ||
                die "cannot write the tenant record to redis"
            ;;
        *) die "need: unknown helper $1" ;;
    esac
}

# The lines every nginx of the benchmark has in its http block (no access log, keep-alive for as
# long as a run lasts, temporary files under its own run directory $1).
nginx_http_common() {
    cat <<EOF
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

# nginx backend: answers every path with 200 except /langchain/..., which a proxy must have
# stripped: a 200 through a proxy proves its path rewriting, not just its connectivity.
start_P0() {
    local d=$RUN/backend
    mkdir -p "$d/tmp"
    cat >"$CONF/backend.nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_common "$d")
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        location / {
            default_type application/json;
            return 200 '{"status":"OK"}';
        }
        location /langchain/ { return 404; }
        location = /nginx_status { stub_status; }
    }
}
EOF
    start_server backend nginx -p "$d" -e "$d/error.log" -c "$CONF/backend.nginx.conf"
    wait_listen backend "$BACKEND_PORT"
}

# h2o standalone, defaults otherwise (it emits x-forwarded-* and via, as a plain proxy does).
# Backend keep-alive timeout: the same as the sidecar's, and below nginx's 65 s.
UPSTREAM_KEEPALIVE_MS=60000
start_P1() {
    local d=$RUN/P1 port
    port=$(port_of P1)
    mkdir -p "$d"
    {
        # h2o refuses to run as root without dropping privileges
        ((EUID == 0)) && echo "user: nobody"
        cat <<EOF
num-threads: 1
error-log: $d/error.log
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /langchain:
        proxy.reverse.url: http://127.0.0.1:$BACKEND_PORT/
        proxy.timeout.keepalive: $UPSTREAM_KEEPALIVE_MS
EOF
    } >"$CONF/P1.h2o.yaml"
    start_server P1 h2o -c "$CONF/P1.h2o.yaml"
    wait_listen P1 "$port"
}

# nginx as a plain reverse proxy, configured as ../shared/bench/peers.sh runs it (its "nginx
# plain reverse proxy"): one worker, access log off, client keep-alive as the backend's, an
# upstream block with keep-alive connections (HTTP/1.1, Connection cleared). Here one process
# (`master_process off`): the process that serves is the one started and measured. Paths as P1:
# /langchain/health goes to the backend's /health (proxy_pass with a URI replaces the location
# prefix), so the backend's 404 on /langchain/... proves the rewriting. Upstream keep-alive
# timeout: that of P1 and the sidecars.
start_N1() {
    local d=$RUN/N1 port
    port=$(port_of N1)
    mkdir -p "$d/tmp"
    cat >"$CONF/N1.nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_common "$d")
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 128;
        keepalive_requests 100000000;
        keepalive_timeout $((UPSTREAM_KEEPALIVE_MS / 1000))s;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location /langchain/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    nginx -t -p "$d" -e "$d/error.log" -c "$CONF/N1.nginx.conf" >>"$RES/run.log" 2>&1 ||
        die "N1: nginx rejects its configuration, see $RES/run.log"
    start_server N1 nginx -p "$d" -e "$d/error.log" -c "$CONF/N1.nginx.conf"
    wait_listen N1 "$port"
}

SIDECARS=()
start_sidecar() { # $1 = peer id, $2 = policy YAML (text), $3 = extra host YAML lines (optional)
    local id=$1 port admin log_line=
    port=$(port_of "$id")
    admin=$(aux_port_of "$id")
    # the access log stays on (the product default), in a file rather than on standard output
    grep -q '^access_log:' <<<"$SIDECAR_YAML" || log_line="access_log: $RUN/$id/access.log"
    mkdir -p "$RUN/$id"
    printf '%s\n' "$2" >"$CONF/$id.policy.yaml"
    cat >"$CONF/$id.sidecar.yaml" <<EOF
threads: 1
admin_listen: 127.0.0.1:$admin
shutdown_grace_s: 1
$log_line
$SIDECAR_YAML
${3:-}
services:
  - name: langchain
    listen: 127.0.0.1:$port
    upstream: http://127.0.0.1:$BACKEND_PORT
    policy: $id.policy.yaml
    timeout_s: 29
    upstream_keepalive_ms: $UPSTREAM_KEEPALIVE_MS
EOF
    env "${SIDECAR_ENV_ARGS[@]}" "$SIDECAR" -c "$CONF/$id.sidecar.yaml" --check >>"$RES/run.log" 2>&1 ||
        die "$id: sidecar rejects its configuration, see $RES/run.log"
    start_server "$id" env "${SIDECAR_ENV_ARGS[@]}" "$SIDECAR" -c "$CONF/$id.sidecar.yaml"
    SIDECARS+=("$id")
    wait_listen "$id" "$port"
    local _
    for _ in $(seq 1 100); do
        [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready") == 200 ]] && return 0
        sleep 0.1
    done
    die "$id: /ready did not answer 200 within 10 s"
}

# The public route of policies/langchain.yaml, alone: routes that require credentials also need
# redis (and JWT issuers) configured, which belongs to the peers that measure them.
start_P2() {
    start_sidecar P2 "mode: enforce
strip_prefix: /langchain
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none"
}

# The policy of P3..P5: the public route of policies/langchain.yaml, then everything else behind
# a JWT or an API key (the bench sends a JWT), optionally rate-limited.
full_policy() { # $1 = extra policy lines (optional)
    printf '%s\n' "mode: enforce" "strip_prefix: /langchain"
    [[ -n ${1:-} ]] && printf '%s\n' "$1"
    cat <<EOF
routes:
  - path: /langchain/health
    methods: [GET]
    auth: none
  - path: /langchain/**
    auth: [jwt, api_key]
EOF
}
# Redis and the JWT issuer; everything else (timeouts, tenant cache, JWT cache) at its default.
identity_host_yaml() {
    cat <<EOF
redis:
  url: redis://127.0.0.1:$REDIS_PORT/0
jwt_issuers:
  - issuer: $JWT_ISSUER
    audiences: [$JWT_AUDIENCE]
    jwks_file: $JWKS_FILE
    algorithms: [RS256]
EOF
}
start_P3() {
    need redis
    start_sidecar P3 "$(full_policy)" "$(identity_host_yaml)"
}
start_P4() {
    need redis
    start_sidecar P4 "$(full_policy 'rate_limit: {rate: 1000000, burst: 1000000, mode: local}')" "$(identity_host_yaml)"
}
start_P5() {
    need redis
    start_sidecar P5 "$(full_policy 'rate_limit: {rate: 1000000, burst: 1000000, mode: redis}')" "$(identity_host_yaml)"
}

# ------------------------------------------------------------------------------- correctness
CHECK_FAIL=0
peer_headers() { # $1 = id: the request headers of that peer, one per line, peer's last
    printf '%s\n' "$COMMON_HEADERS"
    [[ -n ${PEER_HEADERS[$1]:-} ]] && printf '%s\n' "${PEER_HEADERS[$1]}"
    return 0
}
expect() { # $1 = label, $2 = expected status, $3 = port, $4 = path, [$5 = expected body prefix], rest = curl args
    local label=$1 want=$2 port=$3 path=$4 body_want=${5:-} got body
    shift 4
    (($# > 0)) && shift
    got=$(curl -s -m 5 -o "$RES/check.body" -D "$RES/check.headers" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$port$path" || echo 000)
    body=$(head -c 100 "$RES/check.body" | tr -d '\n')
    local verdict=PASS
    [[ $got == "$want" ]] || verdict=FAIL
    [[ -z $body_want || $body == "$body_want"* ]] || verdict=FAIL
    [[ $verdict == PASS ]] || CHECK_FAIL=1
    log "check $verdict $label: $path want $want${body_want:+ \"$body_want\"} got $got \"$body\""
}
curl_headers() { # $1 = id: the peer's headers as curl arguments, into the array CURL_H
    CURL_H=()
    local line
    while IFS= read -r line; do [[ -n $line ]] && CURL_H+=(-H "$line"); done < <(peer_headers "$1")
}
backend_counts() { # accepted connections and requests served by the backend so far
    curl -s -m 2 "http://127.0.0.1:$BACKEND_PORT/nginx_status" | awk 'NR == 3 {print $1, $3}'
}

check_peer_default() { # $1 = id: the benchmark request answers 200 with the backend's body
    local id=$1
    curl_headers "$id"
    expect "$id benchmark request" 200 "$(port_of "$id")" "$(field "$(peer_line "$id")" 3)" '{"status":"OK"}' "${CURL_H[@]}"
}
check_P0() {
    check_peer_default P0
    curl_headers P0
    # the backend itself rejects unstripped paths (see start_P0)
    expect "P0 unstripped path" 404 "$BACKEND_PORT" /langchain/health '' "${CURL_H[@]}"
}
check_P1() { check_peer_default P1; }
# N1: the benchmark request passes (path stripped: see start_P0), and further requests reuse the
# upstream connection the first one opened: the backend accepts no connection but our status
# requests' own (the second status request counts itself).
check_N1() {
    local before after _
    check_peer_default N1
    curl_headers N1
    before=$(backend_counts)
    for _ in 1 2 3; do
        expect "N1 benchmark request again" 200 "$(port_of N1)" "$(field "$(peer_line N1)" 3)" '{"status":"OK"}' "${CURL_H[@]}"
    done
    after=$(backend_counts)
    if [[ $((${after% *} - ${before% *})) == 1 && $((${after#* } - ${before#* })) == 4 ]]; then
        log "check PASS N1: upstream keep-alive (backend accepts/requests $before -> $after: 3 requests, no new connection)"
    else
        CHECK_FAIL=1
        log "check FAIL N1: upstream connections not reused (backend accepts/requests $before -> $after; want +1/+4)"
    fi
}
check_P2() {
    local port before after
    port=$(port_of P2)
    check_peer_default P2
    curl_headers P2
    grep -qi '^x-request-id: [0-9a-f]\{32\}' "$RES/check.headers" || {
        CHECK_FAIL=1
        log "check FAIL P2: no X-Request-Id on the response"
    }
    # the policy is live: paths outside the public route are answered by the sidecar itself (a
    # JSON 404), and never reach the backend (its counter moves by our status request only)
    before=$(backend_counts)
    expect "P2 non-public path" 404 "$port" /langchain/v1/invoke '{"error":' "${CURL_H[@]}"
    expect "P2 path of no service" 404 "$port" /nope '{"error":' "${CURL_H[@]}"
    after=$(backend_counts)
    if [[ $((${after#* } - ${before#* })) != 1 ]]; then
        CHECK_FAIL=1
        log "check FAIL P2: denied requests reached the backend (requests $before -> $after)"
    fi
}

# P3..P5: the benchmark request passes (JWT verified, tenant found, forwarded with the path
# stripped); without a token it is 401, with another tenant's valid token 403; neither denial
# reaches the backend.
check_full_policy() { # $1 = id
    local id=$1 port path before after
    port=$(port_of "$id")
    path=$(field "$(peer_line "$id")" 3)
    check_peer_default "$id"
    grep -qi '^x-request-id: [0-9a-f]\{32\}' "$RES/check.headers" || {
        CHECK_FAIL=1
        log "check FAIL $id: no X-Request-Id on the response"
    }
    before=$(backend_counts)
    expect "$id without a token" 401 "$port" "$path" '{"error":"unauthorized","reason":"missing_credentials"' \
        -H "X-Tenant-ID: $TENANT"
    expect "$id with tenant-b's token for $TENANT" 403 "$port" "$path" '{"error":"forbidden","reason":"tenant_mismatch"' \
        -H "Authorization: Bearer $JWT_B" -H "X-Tenant-ID: $TENANT"
    after=$(backend_counts)
    if [[ $((${after#* } - ${before#* })) != 1 ]]; then
        CHECK_FAIL=1
        log "check FAIL $id: denied requests reached the backend (requests $before -> $after)"
    fi
}
check_ratelimit_headers() { # $1 = id: the limit is applied (and reported) on the benchmark request
    local id=$1
    curl_headers "$id"
    expect "$id rate-limit headers" 200 "$(port_of "$id")" "$(field "$(peer_line "$id")" 3)" '{"status":"OK"}' "${CURL_H[@]}"
    if grep -qi '^ratelimit-policy: "tenant";q=1000000;w=1' "$RES/check.headers" && grep -qi '^ratelimit: ' "$RES/check.headers"; then
        log "check PASS $id: $(grep -i '^ratelimit-policy:' "$RES/check.headers" | tr -d '\r')"
    else
        CHECK_FAIL=1
        log "check FAIL $id: no RateLimit-Policy/RateLimit headers: $(grep -i '^ratelimit' "$RES/check.headers" | tr -d '\r' | paste -sd' ')"
    fi
}
# INFO commandstats as "name calls" lines (cmdstat_ping 12 ...), and total_commands_processed
redis_counts() {
    rcli INFO commandstats | tr -d '\r' | sed -n 's/^\(cmdstat_[a-z|]*\):calls=\([0-9]*\).*/\1 \2/p'
    rcli INFO stats | tr -d '\r' | sed -n 's/^total_commands_processed:\([0-9]*\)$/total \1/p'
}
check_P3() { check_full_policy P3; }
check_P4() {
    check_full_policy P4
    check_ratelimit_headers P4
}
check_P5() {
    local e0 e1
    check_full_policy P5
    e0=$(redis_counts | awk '$1 ~ /^cmdstat_eval/ {n += $2} END {print n + 0}')
    check_ratelimit_headers P5
    e1=$(redis_counts | awk '$1 ~ /^cmdstat_eval/ {n += $2} END {print n + 0}')
    if ((e1 - e0 >= 1)); then
        log "check PASS P5: the limit is decided in Redis (EVAL/EVALSHA calls $e0 -> $e1)"
    else
        CHECK_FAIL=1
        log "check FAIL P5: no EVAL/EVALSHA reached Redis for a limited request ($e0 -> $e1)"
    fi
}

# ------------------------------------------------------------------------------- noise control
HZ=$(getconf CLK_TCK)
cpu_line() { # $1 = cpu number: "total busy steal" jiffies (busy = user nice system irq softirq)
    awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$5+$6+$7+$8+$9, $2+$3+$4+$7+$8, $9}' /proc/stat
}
busy_pct() { # $1 $2 = cpu_line before/after
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[1] - x[1]; printf "%.0f", (t > 0 ? 100 * (y[2] - x[2]) / t : 0)}'
}
quiet_sample() { # $1 = seconds; true when both CPUs were under 10% busy
    local s0 l0 s1 l1
    s0=$(cpu_line "$SRV_CPU")
    l0=$(cpu_line "$LG_CPU")
    sleep "$1"
    s1=$(cpu_line "$SRV_CPU")
    l1=$(cpu_line "$LG_CPU")
    LAST_BUSY="$(busy_pct "$s0" "$s1")/$(busy_pct "$l0" "$l1")"
    ((${LAST_BUSY%/*} < 10 && ${LAST_BUSY#*/} < 10))
}
proc_jiffies() { # $1 = pid, $2 = "user" for utime only: utime + stime of the process (all threads) and its live children
    local t=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        [[ -r /proc/$p/stat ]] || continue
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk -v u="${2:-}" '{print (u == "user" ? $12 : $12 + $13)}')))
    done
    echo "$t"
}
ctx_switches() { # $1 = pid: voluntary + involuntary context switches of all its threads so far
    cat "/proc/$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ {n += $2} END {print n + 0}'
}
per_req() { # $1 = count, $2 = requests
    awk -v c="$1" -v n="$2" 'BEGIN {printf "%.3f", c / n}'
}
all_server_jiffies() { # every server we started (all pinned to SRV_CPU)
    local t=0 n
    for n in "${!PID[@]}"; do t=$((t + $(proc_jiffies "${PID[$n]}"))); done
    echo "$t"
}
seconds_of() { # wrk duration ("10s", "2m", "30") in seconds
    case $1 in
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}

# ------------------------------------------------------------------------------------------ load
WRK_ARGS=(-t1 "-c$CONNS" --latency -s "$HERE/wrk.lua")
run_wrk() { # $1 = id, $2 = duration, $3 = output file; prints wrk's CPU jiffies
    local id=$1 url
    url="http://127.0.0.1:$(port_of "$id")$(field "$(peer_line "$id")" 3)"
    # a subshell, so that its cutime/cstime (fields 16, 17 of its stat) are exactly wrk's; read
    # with a redirection, as in a pipeline $BASHPID would be the pipeline's own child
    (
        BENCH_HEADERS=$(peer_headers "$id") timeout $(($(seconds_of "$2") + 60)) \
            taskset -c "$LG_CPU" wrk "${WRK_ARGS[@]}" "-d$2" "$url" >"$3" 2>&1 || true
        read -r stat <"/proc/$BASHPID/stat"
        awk '{print $14 + $15}' <<<"${stat##*) }"
    )
}
us_per_req() { # $1 = jiffies, $2 = requests
    awk -v j="$1" -v n="$2" -v h="$HZ" 'BEGIN {printf "%.2f", j * 1e6 / h / n}'
}
per_req_pair() { # $1, $2 = "all scripts" counts before and after (or empty), $3 = requests: two TSV fields
    if [[ -z $1 || -z $2 ]]; then printf -- '-\t-'; return; fi
    awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.5f\t%.5f", (y[1] - x[1]) / n, (y[2] - x[2]) / n}'
}
kv() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }
redis_jiffies() { # the shared redis-server's CPU time, or nothing when it does not run
    # (status 0 either way: q0=$(redis_jiffies) must not trip set -e when no redis-server runs)
    [[ -n ${PID[redis]:-} ]] || return 0
    proc_jiffies "${PID[redis]}"
}
# Commands the shared redis-server ran: all but PING and INFO (the commands scripts run included),
# then the script calls (EVALSHA + EVAL); nothing when it does not run.
redis_command_totals() {
    [[ -n ${PID[redis]:-} ]] || return 0
    redis_counts | awk '$1 ~ /^cmdstat_/ && $1 != "cmdstat_ping" && $1 != "cmdstat_info" {a += $2}
        $1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" {s += $2} END {print a + 0, s + 0}'
    return 0
}

# --------------------------------------------------------------------------------------- start
start_P0
for pe in "${PEERS[@]}"; do
    id=${pe%%|*}
    [[ $id == P0 ]] && continue
    for m in "${MEASURED[@]}"; do
        if [[ ${m%%|*} == "$id" ]]; then
            declare -F "start_$id" >/dev/null || die "peer $id has no start_$id function"
            "start_$id"
        fi
    done
done

# where everything listens and runs: evidence that the pinning and the ports are as intended
{
    ss -Htlnp | grep -E "127\.0\.0\.1:($(needed_ports "$PORT_BASE" | tr ' \n' '||' | sed 's/|*$//')) " || true
    for n in "${!PID[@]}"; do
        for p in ${PID[$n]} $(pgrep -P "${PID[$n]}" || true); do
            for t in /proc/"$p"/task/*; do
                printf '%s pid %s tid %s (%s): cpus %s\n' "$n" "$p" "${t##*/}" "$(cat "$t/comm")" \
                    "$(taskset -pc "${t##*/}" | sed 's/.*: //')"
            done
        done
    done
} >"$RES/placement.txt"
tee -a "$RES/run.log" <"$RES/placement.txt" >&2
if awk -v c="$SRV_CPU" '/ cpus / && $NF != c' "$RES/placement.txt" | grep -q .; then
    die "a server thread is not pinned to CPU $SRV_CPU (see $RES/placement.txt)"
fi

for m in "${MEASURED[@]}"; do
    id=${m%%|*}
    if declare -F "check_$id" >/dev/null; then "check_$id"; else check_peer_default "$id"; fi
done
rm -f "$RES/check.body" "$RES/check.headers"
((CHECK_FAIL == 0)) || die "behaviour checks failed; no load was run"

# Redis commands per request, with the tenant and the token warm (P3 must send none; P4 none;
# P5 a script call per lease, far fewer than one per request). One request first, so that the tenant record is fresh whatever its
# ttl_s; then wrk -c8 (same headers, same script) in 2 s runs until REDIS_CHECK_REQS requests,
# between two INFO snapshots. PING (the sidecars' liveness check on idle connections, about one
# a second each) and INFO (these snapshots) are not caused by requests and are shown apart.
REDIS_CHECK=$RES/redis_check.txt
: >"$REDIS_CHECK"
redis_check() { # $1 = id
    local id=$1 url total=0 runs=0 line n c0 c1 verdict
    url="http://127.0.0.1:$(port_of "$id")$(field "$(peer_line "$id")" 3)"
    curl_headers "$id"
    expect "$id warm-up request" 200 "$(port_of "$id")" "$(field "$(peer_line "$id")" 3)" '{"status":"OK"}' "${CURL_H[@]}"
    c0=$(redis_counts)
    while ((total < REDIS_CHECK_REQS)); do
        BENCH_HEADERS=$(peer_headers "$id") timeout 60 taskset -c "$LG_CPU" wrk -t1 -c8 -d2s -s "$HERE/wrk.lua" "$url" \
            >"$RES/redis_check_${id}_$runs.txt" 2>&1 || true
        line=$(grep '^RESULT' "$RES/redis_check_${id}_$runs.txt" || true)
        n=$(kv requests "$line")
        ((${n:-0} > 0)) || die "redis check on $id: wrk completed no request"
        (($(kv err_status "$line") == 0)) || die "redis check on $id: $(kv err_status "$line") non-2xx answers"
        total=$((total + n))
        runs=$((runs + 1))
    done
    c1=$(redis_counts)
    awk -v id="$id" -v n="$total" -v a="$c0" -v b="$c1" -v strict="$([[ $id == P5 ]] && echo 0 || echo 1)" 'BEGIN {
        m = split(a, x, "\n"); for (i = 1; i <= m; i++) { split(x[i], f, " "); v0[f[1]] = f[2] }
        m = split(b, y, "\n"); for (i = 1; i <= m; i++) { split(y[i], f, " "); d[f[1]] = f[2] - v0[f[1]] }
        for (c in d) if (c != "total" && d[c] != 0) {
            name = toupper(substr(c, 9)); list = list sprintf("%s%s +%d", list == "" ? "" : ", ", name, d[c])
            if (c != "cmdstat_ping" && c != "cmdstat_info") other += d[c]
        }
        printf "%s: %d requests (wrk -c8, warm tenant and token): HGETALL +%d, EVALSHA +%d, EVAL +%d; all commands +%d (%s); per request, beyond PING and INFO: %.4f", \
            id, n, d["cmdstat_hgetall"], d["cmdstat_evalsha"], d["cmdstat_eval"], d["total"], (list == "" ? "none" : list), other / n
        if (strict) printf " -- %s\n", (other == 0 ? "PASS: no Redis command" : "FAIL: requests reached Redis")
        else printf "; script calls (EVALSHA + EVAL) per request %.4f (Redis also counts the commands the scripts run)\n", (d["cmdstat_evalsha"] + d["cmdstat_eval"]) / n
    }' | tee -a "$REDIS_CHECK" | while IFS= read -r verdict; do log "redis check $verdict"; done
}
for m in "${MEASURED[@]}"; do
    case ${m%%|*} in P3 | P4 | P5) redis_check "${m%%|*}" ;; esac
done
((CHECK_FAIL == 0)) || die "behaviour checks failed; no load was run"

# Foreign load skews both the rates and (through caches) the CPU figures: start from quiet CPUs.
log "waiting (at most ${QUIET_WAIT}s) for CPUs $SRV_CPU and $LG_CPU to be quiet"
quiet_end=$((SECONDS + QUIET_WAIT))
until quiet_sample 2; do
    if ((SECONDS >= quiet_end)); then
        log "host still busy (cpu$SRV_CPU/cpu$LG_CPU ${LAST_BUSY}%); going on, runs will be screened"
        break
    fi
done
log "idle load cpu$SRV_CPU/cpu$LG_CPU: ${LAST_BUSY}%"

log "warm-up: $WARMUP per peer"
for m in "${MEASURED[@]}"; do run_wrk "${m%%|*}" "$WARMUP" "$RES/warmup_${m%%|*}.txt" >/dev/null; done

TSV=$RES/runs.tsv
printf 'round\tpeer\ttry\tkept\trequests\trps\tp50_us\tp99_us\tmax_us\treq_bytes\terr_status\terr_sock\tserver_cpu_us_req\tbackend_cpu_us_req\twrk_cpu_us_req\tbackend_reqs\tbackend_new_conns\tbusy_srv%%\tbusy_lg%%\tforeign_srv%%\tforeign_lg%%\tsteal%%\tserver_user_us_req\tredis_cpu_us_req\tredis_cmds_req\tredis_scripts_req\tp1_us\tp10_us\tserver_switches_req\tbackend_switches_req\n' >"$TSV"
load_end=$((SECONDS + LOAD_BUDGET))
n=${#MEASURED[@]}
for r in $(seq 1 "$ROUNDS"); do
    # rotate the order every round, so that no peer always runs first or right after another
    for k in $(seq 0 $((n - 1))); do
        m=${MEASURED[$(((k + r - 1) % n))]}
        id=${m%%|*}
        srv=${PEER_SERVER[$id]:-$id}
        for try in $(seq 1 "$MAX_TRY"); do
            empty_access_logs
            gate=$GATE_WAIT
            ((SECONDS < load_end)) || gate=0
            gate_end=$((SECONDS + gate))
            until quiet_sample 1 || ((SECONDS >= gate_end)); do :; done

            raw=$RES/wrk_${id}_r${r}_t${try}.txt
            c0=$(redis_command_totals)
            b0=$(backend_counts)
            s0=$(cpu_line "$SRV_CPU")
            l0=$(cpu_line "$LG_CPU")
            all0=$(all_server_jiffies)
            x0=$(proc_jiffies "${PID[$srv]}")
            u0=$(proc_jiffies "${PID[$srv]}" user)
            k0=$(proc_jiffies "${PID[backend]}")
            w0=$(ctx_switches "${PID[$srv]}")
            v0=$(ctx_switches "${PID[backend]}")
            q0=$(redis_jiffies)
            wj=$(run_wrk "$id" "$DURATION" "$raw")
            q1=$(redis_jiffies)
            v1=$(ctx_switches "${PID[backend]}")
            w1=$(ctx_switches "${PID[$srv]}")
            k1=$(proc_jiffies "${PID[backend]}")
            x1=$(proc_jiffies "${PID[$srv]}")
            u1=$(proc_jiffies "${PID[$srv]}" user)
            all1=$(all_server_jiffies)
            s1=$(cpu_line "$SRV_CPU")
            l1=$(cpu_line "$LG_CPU")
            b1=$(backend_counts)
            c1=$(redis_command_totals)

            line=$(grep '^RESULT' "$raw" || true)
            [[ -n $line ]] || die "wrk gave no result for $id: $(tail -3 "$raw" | tr '\n' ' ')"
            reqs=$(kv requests "$line")
            ((reqs > 0)) || die "$id: wrk completed no request: $(tail -3 "$raw" | tr '\n' ' ')"
            # foreign = busy jiffies of a CPU that none of our processes accounts for
            read -r fs fl st <<<"$(awk -v s0="$s0" -v s1="$s1" -v l0="$l0" -v l1="$l1" -v own=$((all1 - all0)) -v w="$wj" 'BEGIN {
                split(s0, a, " "); split(s1, b, " "); split(l0, c, " "); split(l1, d, " ")
                ts = b[1] - a[1]; tl = d[1] - c[1]; if (ts <= 0) ts = 1; if (tl <= 0) tl = 1
                fs = 100 * (b[2] - a[2] - own) / ts; fl = 100 * (d[2] - c[2] - w) / tl
                ss = 100 * (b[3] - a[3]) / ts; sl = 100 * (d[3] - c[3]) / tl
                printf "%.0f %.0f %.0f\n", fs, fl, (ss > sl ? ss : sl) }')"
            kept=1
            if ((fs > FOREIGN_MAX || fl > FOREIGN_MAX || st > STEAL_MAX)); then
                if ((try < MAX_TRY && SECONDS < load_end)); then kept=0; fi
            fi
            # the status request of the second backend_counts is counted by nginx: minus one
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$r" "$id" "$try" "$kept" "$reqs" "$(kv rps "$line")" "$(kv p50_us "$line")" "$(kv p99_us "$line")" \
                "$(kv max_us "$line")" "$(kv req_bytes "$line")" "$(kv err_status "$line")" \
                "$(($(kv err_connect "$line") + $(kv err_read "$line") + $(kv err_write "$line") + $(kv err_timeout "$line")))" \
                "$(us_per_req $((x1 - x0)) "$reqs")" "$(us_per_req $((k1 - k0)) "$reqs")" "$(us_per_req "$wj" "$reqs")" "$((${b1#* } - ${b0#* } - 1))" \
                "$((${b1% *} - ${b0% *}))" "$(busy_pct "$s0" "$s1")" "$(busy_pct "$l0" "$l1")" "$fs" "$fl" "$st" "$(us_per_req $((u1 - u0)) "$reqs")" \
                "$([[ -n $q0 ]] && us_per_req $((q1 - q0)) "$reqs" || echo -)" \
                "$(per_req_pair "$c0" "$c1" "$reqs")" "$(kv p1_us "$line")" "$(kv p10_us "$line")" \
                "$(per_req $((w1 - w0)) "$reqs")" "$(per_req $((v1 - v0)) "$reqs")" >>"$TSV"
            log "r$r $id try $try: $(tail -1 "$TSV" | awk -F'\t' '{printf "%s req/s, p99 %s us, server %s us/req, foreign %s%%/%s%%, steal %s%%", $6, $8, $13, $20, $21, $22}')$( ((kept)) || echo ' -- disturbed, discarded')"
            ((kept)) && break
        done
    done
done

# What the sidecars counted: nothing dropped from the access log, no Redis trouble, no refusal.
metric() { awk -v n="$1" '$1 == n {print $2}' <<<"$2"; }
for id in "${SIDECARS[@]}"; do
    mt=$(curl -s -m 5 "http://127.0.0.1:$(aux_port_of "$id")/metrics" || true)
    printf '%s\n' "$mt" >"$RES/metrics_$id.txt"
    f=$RUN/$id/access.log
    written=$((${ACCESS_LOG_BYTES[$f]:-0} + $( [[ -f $f ]] && stat -c %s "$f" || echo 0)))
    printf '%s: access log %s MB written, lines dropped %s; tenant cache hits %s, misses %s; Redis timeouts %s, errors %s, failures %s; rate-limit fallbacks %s; answered 429: %s\n' \
        "$id" "$((written / 1000000))" "$(metric policy_sidecar_access_log_dropped_total "$mt")" "$(metric policy_sidecar_tenant_cache_hits_total "$mt")" \
        "$(metric policy_sidecar_tenant_cache_misses_total "$mt")" "$(metric policy_sidecar_redis_timeouts_total "$mt")" \
        "$(metric policy_sidecar_redis_errors_total "$mt")" "$(metric policy_sidecar_redis_failures_total "$mt")" \
        "$(metric policy_sidecar_ratelimit_fallbacks_total "$mt")" \
        "$(awk '/^policy_sidecar_requests_total\{.*code="429"/ {n += $2} END {print n + 0}' <<<"$mt")"
done >"$RES/sidecar_metrics.txt"

# ---------------------------------------------------------------------------------------- summary
{
    printf '| peer | what | req/s | p1 ms | p50 ms | p99 ms | server CPU µs/req | of which user | server context switches/req | backend CPU µs/req | redis CPU µs/req | Redis cmds/req | of which script calls | req bytes | req/s per round | errors |\n'
    printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n'
    for m in "${MEASURED[@]}"; do
        printf '%s\t%s\n' "${m%%|*}" "$(field "$m" 4)"
    done | awk -F'\t' -v tsv="$TSV" '
        function med(s,   a, n, i, j, t) {
            n = split(s, a, " ")
            for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN {
            while ((getline l < tsv) > 0) {
                split(l, f, "\t"); if (f[1] == "round" || f[4] != 1) continue
                p = f[2]; rps[p] = rps[p] " " f[6]; p50[p] = p50[p] " " f[7]; p99[p] = p99[p] " " f[8]
                p1[p] = p1[p] " " f[27]; sw[p] = sw[p] " " f[29]
                cpu[p] = cpu[p] " " f[13]; ucpu[p] = ucpu[p] " " f[23]; bk[p] = bk[p] " " f[14]; rb[p] = f[10]; err[p] += f[11] + f[12]
                if (f[24] != "-") rd[p] = rd[p] " " f[24]
                if (f[25] != "-" && f[25] != "") { rc[p] = rc[p] " " f[25]; rs[p] = rs[p] " " f[26] }
                runs[p] = runs[p] (runs[p] == "" ? "" : ", ") int(f[6])
            }
        }
        # redis CPU: "–" when no redis-server ran; idle (noise) except for P5
        { p = $1
          printf "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f | %s | %s | %s | %s | %s | %s | %d |\n", p, $2, med(rps[p]),
              med(p1[p]) / 1000, med(p50[p]) / 1000, med(p99[p]) / 1000, med(cpu[p]), med(ucpu[p]), med(sw[p]),
              (p == "P0" ? "(same)" : sprintf("%.1f", med(bk[p]))),
              (rd[p] == "" ? "–" : sprintf("%.1f", med(rd[p]))), (rc[p] == "" ? "–" : sprintf("%.5f", med(rc[p]))),
              (rs[p] == "" ? "–" : sprintf("%.5f", med(rs[p]))), rb[p], runs[p], err[p] }'

    for spec in $RATIOS; do
        num=${spec%%/*}
        den=${spec#*/}
        den=${den%%:*}
        target=
        [[ $spec == *:* ]] && target=${spec##*:}
        awk -F'\t' -v num="$num" -v den="$den" -v target="$target" '
            function med(s,   a, n, i, j, t) {
                n = split(s, a, " ")
                for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            $1 != "round" && $4 == 1 {
                c[$2] = c[$2] " " $13; r[$1, $2] = $13; if ($1 > nr) nr = $1
                l[$2] = l[$2] " " $8; lr[$1, $2] = $8
                if ($24 != "-") { cr[$2] = cr[$2] " " ($13 + $24); rr[$1, $2] = $13 + $24 }
            }
            END {
                if (c[num] == "" || c[den] == "") exit
                for (k = 1; k <= nr; k++) if ((k, num) in r && (k, den) in r && r[k, den] > 0) per = per sprintf(" %.2f", r[k, num] / r[k, den])
                q = med(c[num]) / med(c[den])
                # the median of the per-round ratios too: each pair ran minutes apart at most, so a
                # slow drift of the host shifts both of a pair, not the ratio
                printf "\n**CPU per request, %s ÷ %s: %.2f**%s (medians %.1f ÷ %.1f µs/req, %+.1f µs/req; per round:%s; median of those %.2f)\n", num, den, q,
                    (target == "" ? "" : sprintf(", target ≤ %s: **%s**", target, (q <= target + 0 ? "met" : "missed"))),
                    med(c[num]), med(c[den]), med(c[num]) - med(c[den]), per, med(per)
                # p99 latency, the other half of the bar: same pairing, no target of its own here
                per = ""
                for (k = 1; k <= nr; k++) if ((k, num) in lr && (k, den) in lr && lr[k, den] > 0) per = per sprintf(" %.2f", lr[k, num] / lr[k, den])
                printf "  p99 latency, %s ÷ %s: %.2f (medians %.2f ÷ %.2f ms; per round:%s; median of those %.2f)\n", num, den,
                    med(l[num]) / med(l[den]), med(l[num]) / 1000, med(l[den]) / 1000, per, med(per)
                if (num == "P5" && cr[num] != "" && cr[den] != "") {
                    per = ""
                    for (k = 1; k <= nr; k++) if ((k, num) in rr && (k, den) in rr) per = per sprintf(" %.2f", rr[k, num] / rr[k, den])
                    printf "  with the redis-server CPU of each run added to both: %.2f (%.1f ÷ %.1f µs/req; per round:%s)\n",
                        med(cr[num]) / med(cr[den]), med(cr[num]), med(cr[den]), per
                }
            }' "$TSV"
    done
    if [[ -s $REDIS_CHECK ]]; then
        printf '\nRedis commands with a warm tenant and token (INFO commandstats before and after; PING: the sidecars'"'"' liveness checks, INFO: the snapshots):\n\n'
        sed 's/^/- /' "$REDIS_CHECK"
    fi
    if [[ -s $RES/sidecar_metrics.txt ]]; then
        printf '\nSidecar counters at the end (from /metrics):\n\n'
        sed 's/^/- /' "$RES/sidecar_metrics.txt"
    fi
    awk -F'\t' -v fm="$FOREIGN_MAX" -v sm="$STEAL_MAX" '
        $1 != "round" { if ($4 == 1) { kept++; if ($20 > fm || $21 > fm || $22 > sm) noisy = noisy " " $2 "/r" $1 } else dropped++
                        if ($4 == 1 && $20 > mf) mf = $20; if ($4 == 1 && $21 > mf) mf = $21; if ($4 == 1 && $22 > ms) ms = $22 }
        END { printf "\n%d run(s) kept, %d discarded for foreign load; kept runs: max foreign CPU %d%%, max steal %d%%%s\n",
              kept, dropped, mf, ms, noisy == "" ? "" : "; over the limits but kept (retries exhausted):" noisy }' "$TSV"
    printf '\nServers pinned to CPU %s, wrk pinned to CPU %s: `wrk -t1 -c%s -d%s --latency -s tests/bench/wrk.lua URL`; medians of %s interleaved rounds. ' \
        "$SRV_CPU" "$LG_CPU" "$CONNS" "$DURATION" "$ROUNDS"
    printf 'Headers on every request: %s (the token: %s). Server CPU = utime+stime from /proc/PID/stat over the run ÷ requests completed (user: utime only; the rest is kernel time, mostly loopback TCP); redis CPU likewise for the shared redis-server (idle, i.e. noise, except under P5). Sidecars write their access log to a file (run/<peer>/access.log, emptied between runs past 20 MB); h2o has no access log; nginx (N1) has access_log off.%s\n' \
        "$(peer_headers P0 | sed "s/^Authorization: Bearer .*/Authorization: Bearer <RS256 JWT of ${#JWT_A} bytes for $TENANT>/" | sed 's/.*/`&`/' | paste -sd, | sed 's/,/, /g')" \
        "$RES/jwt.txt" "${SIDECAR_YAML:+ Sidecar host config adds: \`$SIDECAR_YAML\`.}"
    printf '\nCommand: `%s`\n' "$COMMAND"
} >"$RES/summary.md"

log "done; results in $RES (runs.tsv, summary.md, wrk_*.txt, conf/, run/)"
echo
cat "$RES/summary.md"
echo
echo "wrk command per peer (BENCH_HEADERS holds the request headers above):"
for m in "${MEASURED[@]}"; do
    echo "  ${m%%|*}: taskset -c $LG_CPU wrk ${WRK_ARGS[*]} -d$DURATION http://127.0.0.1:$(port_of "${m%%|*}")$(field "$m" 3)"
done
