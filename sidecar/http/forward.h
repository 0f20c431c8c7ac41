/*
 * forward: what the request looks like when it leaves for the backend.
 *
 *  - The path the policy matched is the path the backend receives: the path normalised once
 *    (path.h), the policy's strip_prefix removed, the query string appended unchanged.
 *  - X-Request-Id is ours. X-Forwarded-For and X-Forwarded-Proto are a trusted proxy's with the
 *    peer appended to the first (trusted_proxies.h); anyone else's are replaced by the peer
 *    address and the listener's scheme. Copies sent by the client are removed first, whatever
 *    their spelling.
 *  - Identity headers are ours too. Every copy the client sent of X-Tenant-ID and X-Auth-*, in
 *    any spelling (X_Auth_Subject reaches a CGI-style backend as X-Auth-Subject), is removed from
 *    every forwarded request, public routes included; X-Api-Key is never forwarded, and
 *    Authorization only when the policy allows and no API key authenticated the request. The
 *    policy's remove_request_headers (by default the re-routing headers X-Original-URL,
 *    X-Rewrite-URL, X-HTTP-Method-Override, X-Forwarded-Host, Forwarded, X-Real-IP...) and
 *    obs-fold continuation lines (which h2o keeps as headers with an empty name) are dropped.
 *    Trusted values are added only for a caller the pipeline has accepted.
 */
#ifndef SC_FORWARD_H
#define SC_FORWARD_H

#include "request.h"

/**
 * Rewrites req->path and the forwarding headers. Allocates in the request pool.
 */
void sc_forward_prepare(sc_request_t *r);

/**
 * Adds X-Tenant-ID, X-Auth-Subject, X-Auth-Method, X-Auth-Key-Id and X-Auth-Scopes for the
 * accepted caller. Call after sc_forward_prepare.
 */
void sc_forward_set_identity(sc_request_t *r);

/**
 * The path (and query) to forward: `normalized` (from sc_path_normalize) without the policy's
 * strip_prefix, then the query of `raw_path` (from query_at, SIZE_MAX for none).
 */
h2o_iovec_t sc_forward_path(h2o_mem_pool_t *pool, const sc_policy_t *policy, h2o_iovec_t normalized, h2o_iovec_t raw_path,
                            size_t query_at);

/**
 * Removes, in one pass keeping the order, every request header the backend must not receive
 * from the client (see above); Authorization too when `drop_authorization`.
 */
void sc_forward_strip_headers(h2o_headers_t *headers, const sc_policy_t *policy, int drop_authorization);

#endif
