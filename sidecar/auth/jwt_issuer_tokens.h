/*
 * jwt_issuer_tokens: which tokens of an issuer are accepted and where their scopes are read:
 *
 *     jwt_issuers:
 *       - issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123
 *         token_use: access                     # id | access | any (the default)
 *         client_ids: [6j8example]              # access tokens: "client_id" must be one of them
 *         audiences: [6j8example]               # ID tokens: "aud" must name one of them
 *         scopes_claims: [scope, "cognito:groups"]   # default: "scope", else "scp"
 *
 * At least one of audiences and client_ids is required. Start-up and reload only.
 */
#ifndef SC_JWT_ISSUER_TOKENS_H
#define SC_JWT_ISSUER_TOKENS_H

#include "conf.h"
#include "jwt.h"

#define SC_JWT_ISSUER_TOKEN_KEYS "token_use", "client_ids", "scopes_claims"

/**
 * Reads token_use, client_ids and scopes_claims into the issuer, and checks that audiences (read
 * before) or client_ids is given. A scopes claim that cannot hold scopes (a registered claim such
 * as "exp" or "aud", the tenant claim, a repeated name) is refused. Returns 0, or -1 with
 * "file:line: key: reason" in the reader.
 */
int sc_jwt_issuer_tokens_load(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer);

#endif
