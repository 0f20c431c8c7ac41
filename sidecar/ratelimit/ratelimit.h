/*
 * ratelimit: the pipeline's rate-limit step, after the caller is known and authorized (requests
 * refused earlier never count against the tenant).
 *
 * The limit is the tenant record's rate/burst when set, else the policy's rate_limit. In
 * `local` mode the sidecar decides alone (exact for this process, no I/O); in `redis` mode the
 * budget lives in Redis for every sidecar sharing it, and each worker spends leases of it
 * (ratelimit_lease.h: a script call per lease, not per request; one per request only when a
 * lease cannot be had); while Redis cannot answer the local limits apply instead: counted,
 * logged once per outage, never unlimited.
 *
 * Responses on limited routes carry RateLimit-Policy and RateLimit
 * (draft-ietf-httpapi-ratelimit-headers); a refusal is 429 with Retry-After.
 */
#ifndef SC_RATELIMIT_H
#define SC_RATELIMIT_H

#include "request.h"

typedef enum { SC_RATELIMIT_PASS, SC_RATELIMIT_REFUSED, SC_RATELIMIT_WAIT } sc_ratelimit_verdict_t;

/**
 * Decides. PASS and REFUSED are final (r->ratelimit holds the decision); WAIT means `resume`
 * will be called later with the decision made, unless the request is gone by then.
 */
sc_ratelimit_verdict_t sc_ratelimit_check(sc_request_t *r, void (*resume)(sc_request_t *r));

/**
 * The 429 denial for a refused request (quota or rate).
 */
const sc_denial_t *sc_ratelimit_denial(const sc_request_t *r);

/**
 * Adds RateLimit-Policy and RateLimit (and Retry-After on a refusal) to the response.
 */
void sc_ratelimit_add_headers(sc_request_t *r);

#endif
