#!/usr/bin/env bash
# Makes development certificates for TLS and mutual TLS, never for production:
#   ca.crt / ca.key            a development CA
#   server.crt / server.key    the sidecar's certificate (SAN: localhost, 127.0.0.1, and $SERVER_NAMES)
#   client.crt / client.key    a client certificate standing in for API Gateway's (CN=api-gateway)
#   other-ca.crt, stranger.crt/.key   a certificate from another CA, to test that it is refused
# Usage: certs/make-dev-certs.sh [OUTPUT_DIR]   (default: certs/dev, which git ignores)
# Keys are P-256 ECDSA, the certificates short-lived (30 days); keys are readable by the owner only.
set -euo pipefail

out=${1:-"$(dirname "$0")/dev"}
days=${DAYS:-30}
mkdir -p "$out"
cd "$out"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # $1 = name, $2 = subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "$2" -out "$1.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() { # $1 = name, $2 = subject, $3 = CA name, $4 = extensions
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -sha256 -days "$days" \
        -extfile <(printf '%s\n' "$4") -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
}

sans="DNS:localhost,IP:127.0.0.1"
for name in ${SERVER_NAMES:-}; do sans="$sans,DNS:$name"; done

ca ca "/CN=policy-sidecar development CA"
leaf server "/CN=policy-sidecar" ca "subjectAltName=$sans
extendedKeyUsage=serverAuth
basicConstraints=CA:FALSE"
leaf client "/O=Example Platform/CN=api-gateway" ca "extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
ca other-ca "/CN=someone else's CA"
leaf stranger "/O=Example Platform/CN=api-gateway" other-ca "extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
rm -f ./*.srl
chmod 0644 ./*.crt

echo "made in $out:"
for c in ca server client stranger; do
    printf '  %-12s %s\n' "$c.crt" "$(openssl x509 -in "$c.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
done
printf '  client.crt SHA-256 fingerprint: %s\n' "$(openssl x509 -in client.crt -noout -fingerprint -sha256 | sed 's/.*=//')"
