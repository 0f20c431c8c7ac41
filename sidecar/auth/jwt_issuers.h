/*
 * jwt_issuers: the `jwt_issuers` list of the host file, and the key files it names, into the
 * sc_jwt_issuers_t that sc_jwt_verify uses. Start-up and reload only: this reads files.
 *
 *     jwt_issuers:
 *       - issuer: https://idp.example.com/        # required, compared exactly with "iss"
 *         audiences: [api://sidecar]              # ID tokens' "aud"; this and/or client_ids (jwt_issuer_tokens.h)
 *         algorithms: [RS256, ES256]              # required allowlist, case-sensitive; "none" refused
 *         jwks_file: keys/idp.jwks.json           # and/or hmac_secret_file; relative to the host file
 *         hmac_secret_file: keys/idp.secret       # raw bytes, one trailing newline stripped
 *         hmac_kid: hs-1                          # optional kid of the HMAC key
 *         tenant_claim: custom:tenant_id          # default tenant_id
 *         leeway_s: 30                            # default 30, at most 300
 *         jwks_uri: https://idp.example.com/keys  # or discovery: true; fetched keys (jwks_remote.h)
 *
 * Each key is bound to one algorithm at load (see jwks.h); a configuration in which that binding
 * would be ambiguous is refused with a message that says how to fix it.
 */
#ifndef SC_JWT_ISSUERS_H
#define SC_JWT_ISSUERS_H

#include <stddef.h>

#include "conf.h"
#include "jwt.h"
#include "yaml_tree.h"

#define SC_JWT_DEFAULT_TENANT_CLAIM "tenant_id"
#define SC_JWT_DEFAULT_LEEWAY_S 30
#define SC_JWT_MAX_LEEWAY_S 300

/**
 * Reads the list node `list` (the value of `jwt_issuers`; `where` is its key path, normally
 * "jwt_issuers") into *out. A NULL or null node gives zero issuers. Relative key file paths
 * resolve against r->file. Returns 0, or -1 with "file:line: key: reason" in the reader's error
 * buffer; problems inside a JWKS file also name that file and the key's index and kid:
 *
 *     host.yaml:7: jwt_issuers[0].jwks_file: keys/idp.json: keys[2] (kid "k1"): RSA key of 1024 bits; ...
 *
 * On error *out is left empty (nothing to free).
 */
int sc_jwt_issuers_load(sc_conf_reader_t *r, const sc_yaml_node_t *list, const char *where, sc_jwt_issuers_t *out);

/**
 * As sc_jwt_issuers_load, from a YAML document in memory whose top-level mapping holds
 * `jwt_issuers` (other top-level keys are left to their own loaders). `filename` names the
 * document in messages and anchors relative paths. For tests and tools.
 */
int sc_jwt_issuers_load_string(const char *text, size_t len, const char *filename, sc_jwt_issuers_t *out, char *err,
                               size_t errsize);

/**
 * As sc_jwt_issuers_load_string, from a file.
 */
int sc_jwt_issuers_load_file(const char *path, sc_jwt_issuers_t *out, char *err, size_t errsize);

/**
 * Releases the issuers and their keys (HMAC secrets are wiped); *issuers is left empty. Claims
 * verified with them (and any jwt_cache holding such claims) must be gone first.
 */
void sc_jwt_issuers_free(sc_jwt_issuers_t *issuers);

#endif
