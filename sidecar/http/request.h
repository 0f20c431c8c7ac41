/*
 * request: the sidecar's state for one request and its life, from the handler until the
 * request's pool is freed: attached first thing (the id, the configuration it holds, the
 * in-flight count), who its peer and its client are, and its end, when the pool goes.
 *
 * It is allocated in the request's pool (it dies with the request) and doubles as an h2o
 * "prefilter", so that it sees the response as it starts, whoever produces it: the pipeline,
 * or upstream.c relaying the backend or failing (response_filter.c).
 */
#ifndef SC_REQUEST_H
#define SC_REQUEST_H

#include <h2o.h>
#include <sys/time.h>

#include "config.h"
#include "identity.h"
#include "ratelimit_local.h"
#include "request_env.h"
#include "request_id.h"
#include "tenant_store.h"

/* Whether the peer is a trusted proxy (trusted_proxies.h), and what it says. */
typedef struct sc_request_forwarded {
    int known;             /* read (forward.h: sc_request_forwarded) */
    int trusted;           /* its forwarding headers are believed */
    sc_forwarded_t values; /* all empty when it is not trusted */
} sc_request_forwarded_t;

typedef struct sc_request {
    h2o_req_prefilter_t prefilter; /* first member: h2o hands it back to us */
    h2o_req_t *req;
    const sc_request_env_t *env; /* its worker's (request_env.h) */
    sc_config_t *config;         /* the configuration this request started with (held until it ends) */
    const sc_service_t *service;
    size_t service_index;    /* the same in every configuration: services cannot be added by a reload */
    h2o_iovec_t path;        /* normalised once (path.h): what the policy judges and the backend receives */
    const sc_route_t *route; /* NULL until matched */
    char id[SC_REQUEST_ID_LEN + 1];
    h2o_iovec_t cors_origin;               /* the request's Origin when the policy allows it */
    h2o_iovec_t peer;                      /* the peer's address as text, once asked for (sc_request_peer) */
    sc_request_forwarded_t forwarded_view; /* what the peer says about the client (sc_request_forwarded) */

    /* identity, filled as the pipeline goes */
    h2o_iovec_t tenant; /* X-Tenant-ID, validated */
    sc_identity_t identity;
    h2o_iovec_t granted_scopes;
    char key_hash[SC_SHA256_HEX_LEN + 1];
    sc_lookup_t tenant_lookup;
    sc_lookup_t key_lookup;
    unsigned lookups_pending;
    const sc_denial_t *denial; /* the decision when it is a deny (also in report_only) */
    uint64_t retry_after_s;    /* sent with the denial when not 0 */
    int forwarded;             /* handed to upstream.h */
    int proxy_failed;          /* the backend failed: the 502/504 is ours (upstream.h) */
    struct timeval forwarded_at;

    /* rate limiting (ratelimit.c) */
    struct {
        int applied; /* the request was counted: responses carry the RateLimit fields */
        sc_gcra_limit_t limit;
        uint64_t quota;
        sc_limit_decision_t decision;
        void (*resume)(struct sc_request *r);
    } ratelimit;
} sc_request_t;

/**
 * Allocates the request state in the request's pool and attaches it as a prefilter, with a fresh
 * request id, under the worker's current configuration for service `service_index`. The
 * configuration is held, and the request counted in flight, until the pool is freed (after the
 * loggers ran): the request's life ends there, whoever ends it. Call first thing in the handler,
 * then sc_response_filter_watch.
 */
sc_request_t *sc_request_attach(h2o_req_t *req, const sc_request_env_t *env, size_t service_index);

/**
 * The peer's address as text (numeric IPv4 or IPv6), formatted once per request and kept in r.
 */
h2o_iovec_t sc_request_peer(sc_request_t *r);

/**
 * The same, for a request that has no sc_request_t (refused before routing: http1_server.h).
 */
h2o_iovec_t sc_request_peer_of(h2o_req_t *req);

/**
 * Whether the peer is a trusted proxy and what its forwarding headers say (trusted_proxies.h),
 * read once per request from the headers as received.
 */
const sc_request_forwarded_t *sc_request_forwarded(sc_request_t *r);

/**
 * The client's address: from a trusted proxy's X-Forwarded-For (empty when its entry is not an
 * address), else the peer's.
 */
h2o_iovec_t sc_request_client(sc_request_t *r);

#endif
