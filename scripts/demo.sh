#!/usr/bin/env bash
# Brings up a working demo on this machine: installs what is missing, builds, starts a private
# redis-server, a demo backend on 127.0.0.1:5000 and policy-sidecar in front of it on
# 127.0.0.1:8500 (admin on 127.0.0.1:9901) with policies/langchain.yaml; creates a tenant and an
# API key with sidecarctl, mints a JWT with `sidecarctl token sign` and the test fixtures' key,
# prints curl lines to try, and stops everything on Ctrl-C. Scratch files live in a temporary
# directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

BACKEND_PORT=${BACKEND_PORT:-5000}
SIDECAR_PORT=${SIDECAR_PORT:-8500}
ADMIN_PORT=${ADMIN_PORT:-9901}
REDIS_PORT=${REDIS_PORT:-6390}
for port in "$BACKEND_PORT" "$SIDECAR_PORT" "$ADMIN_PORT" "$REDIS_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "demo: port $port is in use; set BACKEND_PORT, SIDECAR_PORT, ADMIN_PORT or REDIS_PORT" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/policy-sidecar-demo.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_for() { # $1 = what, rest = command that succeeds once it is up (polled, 20 s at most)
    local what=$1
    shift
    for _ in $(seq 1 200); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: $what did not come up" >&2
    exit 1
}

cat >"$work/sidecar.yaml" <<YAML
threads: 2
admin_listen: 127.0.0.1:$ADMIN_PORT
access_log: $work/access.log
redis:
  url: redis://127.0.0.1:$REDIS_PORT/0
jwt_issuers:
  - issuer: https://demo-idp.example/
    audiences: [platform]
    jwks_file: $root/tests/fixtures/jwt/rs256.jwks.json
    algorithms: [RS256]
services:
  - name: langchain
    listen: 127.0.0.1:$SIDECAR_PORT
    upstream: http://127.0.0.1:$BACKEND_PORT
    policy: $work/langchain.yaml
YAML
# the rollout's policy, enforced: the demo shows what enforce refuses
sed 's/^mode: report_only$/mode: enforce/' "$root/policies/langchain.yaml" >"$work/langchain.yaml"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_for "redis-server" redis-cli -p "$REDIS_PORT" ping
python3 tests/integration/backend.py "$BACKEND_PORT" >"$work/backend.log" 2>&1 &
pids+=($!)
build/policy-sidecar -c "$work/sidecar.yaml" &
pids+=($!)
wait_for "policy-sidecar" curl -fs "http://127.0.0.1:$ADMIN_PORT/ready"

ctl() { build/sidecarctl -c "$work/sidecar.yaml" --actor demo "$@"; }
ctl tenant create demo --services langchain --scopes read,write >/dev/null
key=$(ctl --json key create demo --scopes read --name "demo key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

# a JWT for tenant "demo", signed by sidecarctl with the test fixtures' RS256 key: the host file
# tells it the issuer's algorithm, audience and the key's kid (rsa-rs256)
jwt=$(ctl token sign --issuer https://demo-idp.example/ --key-file tests/fixtures/jwt/keys/rs256.key.pem \
    --tenant demo --sub alice --scopes "read write" --ttl 1h)

base=http://127.0.0.1:$SIDECAR_PORT
cat <<TXT

policy-sidecar is running: $base -> demo backend 127.0.0.1:$BACKEND_PORT (Redis on 127.0.0.1:$REDIS_PORT)
Tenant "demo" and an API key were created with sidecarctl. Try:

  curl -i $base/langchain/health                                               # public: 200 from the backend
  curl -i $base/langchain/v1/invoke                                            # 401: no credentials, never forwarded
  curl -i -H 'X-Api-Key: $key' -H 'X-Tenant-ID: demo' $base/langchain/v1/invoke    # 200, the backend sees X-Auth-Key-Id
  curl -i -H 'Authorization: Bearer $jwt' -H 'X-Tenant-ID: demo' $base/langchain/v1/invoke   # 200 with a JWT
  curl -i -H 'X-Api-Key: $key' -H 'X-Tenant-ID: other' $base/langchain/v1/invoke   # 401: the key is not other's
  curl -i $base/grafana/health                                                 # 404: no such route
  curl -s http://127.0.0.1:$ADMIN_PORT/metrics | grep policy_sidecar_requests_total

  build/sidecarctl -c $work/sidecar.yaml tenant suspend demo    # then the calls above answer 403
  build/sidecarctl -c $work/sidecar.yaml key list demo
  build/sidecarctl -c $work/sidecar.yaml token sign --issuer https://demo-idp.example/ \\
      --key-file tests/fixtures/jwt/keys/rs256.key.pem --tenant demo --scopes read   # another JWT
  tail -f $work/access.log

Ctrl-C stops everything.
TXT
wait "${pids[2]}"
