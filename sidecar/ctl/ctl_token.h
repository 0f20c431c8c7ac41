/*
 * ctl_token: `sidecarctl token sign`, which mints a test token for an issuer, the way an
 * operator tries a route (in report_only first) without an identity provider at hand. With the
 * host file (-c, or the default one) the token follows the issuer's configuration: its algorithm
 * allowlist, tenant claim, scopes claim, audience or client id, and the kid of the configured key
 * that the key file corresponds to. No Redis is contacted.
 */
#ifndef SC_CTL_TOKEN_H
#define SC_CTL_TOKEN_H

#include <stdint.h>

#include "ctl_args.h"
#include "ctl_status.h"
#include "jwt.h"

typedef struct ctl_token {
    char *token; /* compact JWS; free() */
    sc_jws_alg_t alg;
    const char *kid; /* points into the arguments or the issuer; NULL: none */
    int64_t exp;
    int key_unknown; /* 1: the issuer is configured with keys of its own and none is this key's */
} ctl_token_t;

/**
 * Signs a token as `args` (a parsed `token sign`) say, for the issuer as configured in `issuers`
 * (NULL: no host file, so nothing to follow). CTL_EXIT_OK with the token in *out (release with
 * ctl_token_free), or an exit status and the reason in err.
 */
int ctl_token_make(const ctl_args_t *args, const sc_jwt_issuers_t *issuers, int64_t now, ctl_token_t *out, ctl_err_t *err);

void ctl_token_free(ctl_token_t *token);

/**
 * The command: makes the token and prints it (alone on a line, or as JSON with --json). A key
 * that matches none of the issuer's configured keys is signed with all the same, since a token
 * the sidecar refuses is a legitimate test, but a warning says the sidecar will answer 401.
 */
int ctl_token_run(const ctl_args_t *args, const sc_jwt_issuers_t *issuers, int64_t now, ctl_err_t *err);

#endif
