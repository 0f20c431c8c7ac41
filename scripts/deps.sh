#!/usr/bin/env bash
# Installs every Debian package needed to build and test policy-sidecar, and nothing when all
# are present (idempotent). Usage: scripts/deps.sh [--bench]
#   --bench  also the benchmark tools (wrk, nginx, the h2o standalone server)
set -euo pipefail

packages=(
    # build
    cmake make gcc pkg-config
    libh2o-evloop-dev libssl-dev libyaml-dev libhiredis-dev libjwt-dev libjansson-dev libcurl4-openssl-dev
    # tests
    libcmocka-dev redis-server python3 curl openssl procps prometheus systemd logrotate
    # Redis over TLS: the stunnel client deploy/stunnel ships, and the test CA endpoint it is tested against
    stunnel4
    # the Debian package (CPack DEB: dpkg-shlibdeps, dpkg-deb; lintian), the shell scripts, C formatting
    dpkg-dev fakeroot lintian shellcheck clang-format
    # fuzzing: clang 14 and its libFuzzer / sanitizer runtimes
    clang libclang-rt-14-dev
)
if [[ ${1:-} == --bench ]]; then
    packages+=(wrk nginx h2o util-linux)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
# Debian containers ship a policy-rc.d that stops package scripts from starting services; on a
# full machine redis-server and nginx may start as system services, which our tests never use.
# another apt run (unattended-upgrades, a parallel job) holds the lock for a while: wait for it
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
