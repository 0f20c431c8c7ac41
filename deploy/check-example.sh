#!/usr/bin/env bash
# Validates the example host configuration (deploy/policy-sidecar.yaml) and its policies
# (policies/*.yaml) on a development machine, where /etc/policy-sidecar does not exist.
#
# It lays the files out in a temporary directory as they would be in /etc/policy-sidecar,
# rewrites the /etc/policy-sidecar and /var/log/policy-sidecar paths to it, and supplies what a
# real host has: a server certificate (certs/make-dev-certs.sh), a self-signed client
# certificate standing in for API Gateway's (its fingerprint fills the placeholder), a last good
# Cognito key set in the jwks_cache_file (tests/fixtures/jwt/rs256.jwks.json: the example's
# issuer is a made-up one, so a real start falls back to it) and a Redis password file; and it
# fills the example's <placeholders> with sample values (the Cognito region, user pool id and
# app client id, EXAMPLE_VALUES below), since --check refuses any value still holding one.
# Then it runs `policy-sidecar --check` on it. Nothing listens, nothing contacts Redis or Cognito.
#
# Usage: deploy/check-example.sh [POLICY_SIDECAR_BINARY]
#   default binary: $POLICY_SIDECAR, else build/policy-sidecar, else policy-sidecar on PATH
#   CHECK_EXAMPLE_DIR=DIR takes policy-sidecar.yaml and policies/ from DIR instead of deploy/
#   (the package's test points it at an unpacked /etc/policy-sidecar).
#   CHECK_EXAMPLE_KEEP=1 keeps (and prints) the temporary directory: config/ stands for
#   /etc/policy-sidecar, logs/ for /var/log/policy-sidecar, state/ for /var/lib/policy-sidecar, certs/ holds the dev CA and the
#   stand-in gateway certificate's key (gateway-client.key), to try the example for real.
#   CHECK_EXAMPLE_PLACEHOLDERS=keep leaves every <placeholder> as written (the fingerprint too):
#   the check must then fail, naming the first one, as it does on a host where nobody edited them.
# Exit status: the check's (0 valid, 2 invalid), or 1 when this script cannot set it up.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
example=${CHECK_EXAMPLE_DIR:-$here}
policy_dir=${CHECK_EXAMPLE_DIR:-$root}/policies

binary=${1:-${POLICY_SIDECAR:-}}
if [[ -z $binary ]]; then
    if [[ -x $root/build/policy-sidecar ]]; then
        binary=$root/build/policy-sidecar
    else
        binary=$(command -v policy-sidecar || true)
    fi
fi
if [[ -z $binary || ! -x $binary ]]; then
    echo "check-example: no policy-sidecar binary (build it, or pass its path)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/policy-sidecar-example.XXXXXX")
if [[ ${CHECK_EXAMPLE_KEEP:-0} == 1 ]]; then
    echo "check-example: keeping $tmp" >&2
else
    trap 'rm -rf -- "$tmp"' EXIT
fi

etc=$tmp/config # stands for /etc/policy-sidecar
logs=$tmp/logs   # stands for /var/log/policy-sidecar
state=$tmp/state # stands for /var/lib/policy-sidecar
mkdir -p "$etc/policies" "$etc/tls" "$logs" "$state"

# The configuration and its policies, with every absolute host path moved into $tmp.
rewrite() { # $1 = source, $2 = destination
    sed -e "s#/etc/policy-sidecar#$etc#g" -e "s#/var/log/policy-sidecar#$logs#g" -e "s#/var/lib/policy-sidecar#$state#g" "$1" >"$2"
}
rewrite "$example/policy-sidecar.yaml" "$etc/policy-sidecar.yaml"
shopt -s nullglob
policies=("$policy_dir"/*.yaml)
if ((${#policies[@]} == 0)); then
    echo "check-example: no policies in $policy_dir" >&2
    exit 1
fi
for p in "${policies[@]}"; do
    rewrite "$p" "$etc/policies/$(basename "$p")"
done

# TLS: the sidecar's certificate (dev CA), and a stand-in for API Gateway's client certificate,
# self-signed like the real one: it is its own client CA, pinned by its fingerprint.
"$root/certs/make-dev-certs.sh" "$tmp/certs" >/dev/null
cp "$tmp/certs/server.crt" "$tmp/certs/server.key" "$etc/tls/"
(
    umask 077
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 \
        -subj "/O=check-example/CN=ApiGateway stand-in" -addext "extendedKeyUsage=clientAuth" \
        -keyout "$tmp/certs/gateway-client.key" -out "$tmp/certs/gateway-client.crt" 2>/dev/null
)
cp "$tmp/certs/gateway-client.crt" "$etc/tls/gateway-client.crt"
fingerprint=$(openssl x509 -in "$etc/tls/gateway-client.crt" -noout -fingerprint -sha256 | sed 's/.*=//')

# What an operator fills in on a real host: sample values here (made up, so that trying the
# example for real never reaches a real user pool). A placeholder missing from this list stays,
# and --check names it.
EXAMPLE_VALUES=(
    "<region>=xx-example-1"
    "<user-pool-id>=xx-example-1_Example0"
    "<app-client-id>=example0app0client0id"
    "<gateway-client-cert-sha256>=$fingerprint"
)
if [[ ${CHECK_EXAMPLE_PLACEHOLDERS:-fill} != keep ]]; then
    for pair in "${EXAMPLE_VALUES[@]}"; do
        sed -i "s#${pair%%=*}#${pair#*=}#g" "$etc/policy-sidecar.yaml" "$etc"/policies/*.yaml
    done
fi

# The last good Cognito key set and the Redis password.
cp "$root/tests/fixtures/jwt/rs256.jwks.json" "$state/cognito.jwks.json"
printf '%s\n' "example-redis-password" >"$etc/redis.pass"
chmod 0600 "$etc/redis.pass"

# Nothing may still point at the real host's files.
if grep -nE '^[^#]*(/etc/policy-sidecar|/var/log/policy-sidecar|/var/lib/policy-sidecar)' "$etc/policy-sidecar.yaml" "$etc"/policies/*.yaml; then
    echo "check-example: host paths left after the rewrite" >&2
    exit 1
fi

status=0
"$binary" -c "$etc/policy-sidecar.yaml" --check || status=$?
exit "$status"
