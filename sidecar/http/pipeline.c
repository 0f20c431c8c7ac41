#include "pipeline.h"

#include <string.h>

#include "auth_jwt.h"
#include "auth_failures.h"
#include "cors.h"
#include "numfmt.h"
#include "forward.h"
#include "headers.h"
#include "http_error.h"
#include "log.h"
#include "path.h"
#include "ratelimit.h"
#include "response_filter.h"
#include "text.h"
#include "upstream.h"
#include "waiter.h"

/* API keys longer than this are not ours (ours are ~50 characters). */
#define MAX_API_KEY_LEN 256

typedef struct sc_pipeline {
    h2o_handler_t super;
    size_t service_index;
} sc_pipeline_t;

/* What the pipeline decided about a request. */
typedef enum {
    SC_VERDICT_FORWARD,  /* send it to the backend (upstream.h) */
    SC_VERDICT_ANSWERED, /* a response has been sent */
    SC_VERDICT_SUSPENDED /* waiting for the tenant store; resumed by on_lookup_done */
} sc_verdict_t;

static sc_verdict_t finish(sc_request_t *r);
static sc_verdict_t look_up(sc_request_t *r);
static sc_verdict_t limit(sc_request_t *r);

/* ------------------------------------------------------------------ answering */

static void add_retry_after(sc_request_t *r)
{
    char *text = h2o_mem_alloc_pool(&r->req->pool, SC_UINT_MAX_DIGITS);
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, text, sc_numfmt_uint(text, r->retry_after_s));
}

static void add_challenge(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const char *scheme = (r->route->auth & SC_AUTH_JWT) != 0 ? "Bearer" : "ApiKey";
    size_t cap = strlen(scheme) + strlen(r->service->name) + 16;
    char *challenge = h2o_mem_alloc_pool(&req->pool, cap);
    int len = snprintf(challenge, cap, "%s realm=\"%s\"", scheme, r->service->name);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, challenge, (size_t)len);
}

/*
 * Whom failed authentications are charged to: the client a trusted gateway names in
 * X-Forwarded-For (it appends the caller's address itself: a caller cannot choose it), else the
 * peer. Behind a gateway every caller shares its address: charged to the peer, one caller's
 * failures would lock everyone out.
 */
static h2o_iovec_t failing_client(sc_request_t *r)
{
    h2o_iovec_t client = sc_request_client(r);
    return client.len != 0 ? client : sc_request_peer(r);
}

/*
 * Every deny goes through here, CORS refusals included. In report_only mode the decision is
 * recorded (the access log's "report_only_deny" and the denials metric, request_log.c), logged
 * at info level (throttled per worker: unauthenticated traffic must not flood the journal), and
 * the request goes on to the backend as if there were no policy, without any trusted identity.
 */
static sc_verdict_t deny(sc_request_t *r, const sc_denial_t *denial)
{
    r->denial = denial;
    /* against the client's failure budget: a credential that failed (a request without any cost
     * nothing to answer, and must not use up a gateway address's budget) */
    if (denial->status == 401 && denial != &sc_deny_missing_credentials) {
        h2o_iovec_t client = failing_client(r);
        sc_auth_failures_count(r->env->auth_failures, client.base, client.len, sc_request_env_now_ns());
    }
    if (r->service->policy->mode == SC_POLICY_REPORT_ONLY) {
        sc_log_throttled(r->env->report_only_log, SC_LOG_INFO, "report_only: service %s would answer %d %s (request %s)",
                         r->service->name, denial->status, denial->reason, r->id);
        return SC_VERDICT_FORWARD;
    }
    if (denial == &sc_deny_cors_not_allowed)
        sc_cors_refuse_preflight(r->req);
    if (denial->status == 401 && r->route != NULL)
        add_challenge(r);
    if (r->retry_after_s != 0)
        add_retry_after(r);
    sc_http_error_send(r->req, denial->status, denial->reason, denial->message, r->id);
    return SC_VERDICT_ANSWERED;
}

static void forward(sc_request_t *r)
{
    r->forwarded = 1;
    gettimeofday(&r->forwarded_at, NULL);
    sc_forward_prepare(r);
    if (r->denial == NULL && r->identity.method != 0)
        sc_forward_set_identity(r);
    sc_upstream_forward(r);
}

/* ------------------------------------------------------------------ lookups */

typedef struct lookup_waiter {
    sc_waiter_t *waiter;
    sc_lookup_t *slot;
} lookup_waiter_t;

static void keep_result(sc_request_t *r, sc_lookup_t *slot, sc_lookup_t result)
{
    *slot = result;
    if (result.cached != NULL) {
        /* the request's pool keeps the record alive until the response is sent */
        h2o_mem_link_shared(&r->req->pool, result.cached);
        h2o_mem_release_shared(result.cached);
    }
}

static void on_lookup_done(void *data, sc_lookup_t result)
{
    lookup_waiter_t *lw = data;
    sc_lookup_t *slot = lw->slot;
    sc_request_t *r = sc_waiter_take(lw->waiter);
    free(lw);
    if (r == NULL) { /* the request is gone (client closed, server draining): drop the result */
        if (result.cached != NULL)
            h2o_mem_release_shared(result.cached);
        return;
    }
    keep_result(r, slot, result);
    if (--r->lookups_pending != 0)
        return;
    if (finish(r) == SC_VERDICT_FORWARD)
        forward(r);
}

static int store_lookup(sc_request_t *r, const char *key_hash, sc_tenant_store_cb cb, void *data, sc_lookup_t *result)
{
    sc_tenant_store_t *store = r->env->store;
    if (key_hash != NULL)
        return sc_tenant_store_get_apikey(store, r->tenant.base, r->tenant.len, key_hash, cb, data, result);
    return sc_tenant_store_get_tenant(store, r->tenant.base, r->tenant.len, cb, data, result);
}

/* Starts one lookup; a synchronous answer (the warm path: no allocation) is stored at once,
 * otherwise the request waits. */
static void start_lookup(sc_request_t *r, sc_lookup_t *slot, const char *key_hash)
{
    sc_lookup_t result;
    if (store_lookup(r, key_hash, NULL, NULL, &result)) {
        keep_result(r, slot, result);
        return;
    }
    lookup_waiter_t *lw = malloc(sizeof(*lw));
    if (lw == NULL || (lw->waiter = sc_waiter_new(&r->req->pool, r)) == NULL) {
        free(lw);
        *slot = (sc_lookup_t){SC_LOOKUP_UNAVAILABLE, NULL, 0};
        return;
    }
    lw->slot = slot;
    if (store_lookup(r, key_hash, on_lookup_done, lw, &result)) {
        sc_waiter_take(lw->waiter);
        free(lw);
        keep_result(r, slot, result);
    } else {
        ++r->lookups_pending;
    }
}

/* ------------------------------------------------------------------ credentials */

/* The API key becomes its SHA-256: the key itself is never kept, logged or sent to Redis. */
static const sc_denial_t *take_api_key(sc_request_t *r, h2o_iovec_t key)
{
    if (key.len == 0 || key.len > MAX_API_KEY_LEN || sc_text_has_control(key.base, key.len))
        return &sc_deny_invalid_api_key;
    sc_schema_hash_key(key.base, key.len, r->key_hash);
    r->identity.method = SC_AUTH_API_KEY;
    return NULL;
}

/*
 * Chooses the credential: a Bearer token when the route accepts JWTs and one is sent, else an
 * X-Api-Key when the route accepts keys. Several copies of either header are refused: which one
 * a backend would read is anybody's guess.
 */
static const sc_denial_t *read_credentials(sc_request_t *r, h2o_iovec_t *bearer, h2o_iovec_t *api_key)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t authz = {NULL, 0};
    size_t n_authz = sc_headers_count(&req->headers, H2O_STRLIT("authorization"), &authz);
    size_t n_key = 0;
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_iovec_t *name = req->headers.entries[i].name;
        if (sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-api-key")) && n_key++ == 0)
            *api_key = req->headers.entries[i].value;
    }
    if (n_authz > 1 || n_key > 1)
        return &sc_deny_ambiguous_credentials;
    if ((r->route->auth & SC_AUTH_JWT) != 0 && n_authz == 1 && authz.len > 7 && h2o_lcstris(authz.base, 7, H2O_STRLIT("bearer "))) {
        *bearer = h2o_iovec_init(authz.base + 7, authz.len - 7);
        while (bearer->len != 0 && bearer->base[0] == ' ')
            ++bearer->base, --bearer->len;
        return NULL;
    }
    if ((r->route->auth & SC_AUTH_API_KEY) != 0 && n_key == 1)
        return NULL;
    api_key->base = NULL;
    return &sc_deny_missing_credentials;
}

/* ------------------------------------------------------------------ the decision */

/* Resumes a request that waited for an early refresh of its issuer's keys (jwt_keys.c). */
static void on_jwt_resumed(sc_request_t *r, h2o_iovec_t token)
{
    const sc_denial_t *denial = sc_auth_jwt(r, token, NULL);
    if (denial == NULL)
        denial = sc_identity_check_jwt_tenant(&r->identity, r->tenant);
    if ((denial != NULL ? deny(r, denial) : look_up(r)) == SC_VERDICT_FORWARD)
        forward(r);
}

int sc_pipeline_normalize_path(h2o_req_t *req, const sc_policy_t *policy, h2o_iovec_t *out)
{
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *buf = h2o_mem_alloc_pool(&req->pool, len + 1);
    size_t out_len;
    if (sc_path_normalize(req->path.base, len, policy->path_unusual, buf, &out_len) != 0) {
        *out = h2o_iovec_init(req->path.base, len); /* report_only forwards what it could not read, unchanged */
        return 0;
    }
    *out = h2o_iovec_init(buf, out_len);
    return 1;
}

static sc_verdict_t start(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const sc_policy_t *policy = r->service->policy;
    h2o_iovec_t method = req->method, requested_method, bearer = {NULL, 0}, api_key = {NULL, 0};
    const sc_denial_t *denial;

    r->cors_origin = sc_cors_allowed_origin(&policy->cors, req);
    int preflight = policy->cors.enabled && sc_cors_is_preflight(req, &requested_method);
    if (preflight)
        method = requested_method; /* a preflight asks about the route of the request to come */

    if (!sc_pipeline_normalize_path(req, policy, &r->path))
        return deny(r, &sc_deny_path_rejected);
    r->route = sc_policy_match(policy, method.base, method.len, r->path.base, r->path.len);
    if (r->route == NULL)
        return deny(r, &sc_deny_no_route);
    if (preflight) {
        /* the preflight answer carries its own CORS headers, or deliberately none; so does a
         * refused preflight that report_only forwards (as if the policy had no cors section) */
        h2o_iovec_t origin = r->cors_origin;
        r->cors_origin = h2o_iovec_init(NULL, 0);
        if (!sc_cors_preflight_allowed(&policy->cors, req, origin, requested_method))
            return deny(r, &sc_deny_cors_not_allowed);
        sc_cors_answer_preflight(&policy->cors, req, origin);
        return SC_VERDICT_ANSWERED;
    }
    if (r->route->auth == 0)
        return SC_VERDICT_FORWARD;

    /* a client that keeps failing is refused before any credential of its is checked */
    h2o_iovec_t client = failing_client(r);
    if ((r->retry_after_s = sc_auth_failures_exhausted(r->env->auth_failures, client.base, client.len, sc_request_env_now_ns())) !=
        0)
        return deny(r, &sc_deny_auth_failures);

    if ((denial = read_credentials(r, &bearer, &api_key)) != NULL)
        return deny(r, denial);
    if ((denial = sc_identity_tenant_header(&req->headers, &r->tenant)) != NULL)
        return deny(r, denial);
    if (bearer.base != NULL) {
        if ((denial = sc_auth_jwt(r, bearer, on_jwt_resumed)) == &sc_auth_jwt_waiting)
            return SC_VERDICT_SUSPENDED;
        if (denial != NULL || (denial = sc_identity_check_jwt_tenant(&r->identity, r->tenant)) != NULL)
            return deny(r, denial);
    } else if ((denial = take_api_key(r, api_key)) != NULL) {
        return deny(r, denial);
    }
    return look_up(r);
}

/* The tenant record (and the API key's): from the cache, or the request waits for Redis. */
static sc_verdict_t look_up(sc_request_t *r)
{
    if (r->env->store == NULL) /* cannot happen with a valid configuration */
        return deny(r, &sc_deny_store_unavailable);
    if (r->identity.method == SC_AUTH_API_KEY)
        start_lookup(r, &r->key_lookup, r->key_hash);
    start_lookup(r, &r->tenant_lookup, NULL);
    if (r->lookups_pending != 0)
        return SC_VERDICT_SUSPENDED;
    return finish(r);
}

static const sc_denial_t *lookup_failure(const sc_lookup_t *l)
{
    if (l->status == SC_LOOKUP_UNAVAILABLE)
        return &sc_deny_store_unavailable;
    if (l->status == SC_LOOKUP_INVALID)
        return &sc_deny_record_invalid;
    return NULL;
}

/* The key record makes the identity of an API-key caller. */
static const sc_denial_t *identify_key_holder(sc_request_t *r)
{
    const sc_denial_t *denial;
    if ((denial = lookup_failure(&r->key_lookup)) != NULL)
        return denial;
    if (r->key_lookup.status != SC_LOOKUP_FOUND)
        return &sc_deny_invalid_api_key;
    const sc_apikey_record_t *key = r->key_lookup.cached->record;
    if ((denial = sc_identity_check_apikey(key, r->req->processed_at.at.tv_sec)) != NULL)
        return denial;
    if (sc_text_has_control(key->key_id, strlen(key->key_id))) /* it is forwarded as X-Auth-Key-Id */
        return &sc_deny_record_invalid;
    r->identity.tenant = h2o_iovec_init(key->tenant, strlen(key->tenant));
    r->identity.key_id = h2o_iovec_init(key->key_id, strlen(key->key_id));
    r->identity.subject = r->identity.key_id;
    r->identity.scopes = h2o_mem_alloc_pool(&r->req->pool, sizeof(h2o_iovec_t) * (key->num_scopes + 1));
    r->identity.num_scopes = key->num_scopes;
    for (size_t i = 0; i != key->num_scopes; ++i)
        r->identity.scopes[i] = h2o_iovec_init(key->scopes[i], strlen(key->scopes[i]));
    return NULL;
}

/* Runs once every lookup has answered. */
static sc_verdict_t finish(sc_request_t *r)
{
    const sc_denial_t *denial;
    if (r->identity.method == SC_AUTH_API_KEY && (denial = identify_key_holder(r)) != NULL)
        return deny(r, denial);
    if ((denial = lookup_failure(&r->tenant_lookup)) != NULL)
        return deny(r, denial);
    if (r->tenant_lookup.status != SC_LOOKUP_FOUND)
        return deny(r, &sc_deny_tenant_unknown);
    if ((denial = sc_identity_authorize(&r->identity, r->tenant_lookup.cached->record, r->tenant, r->service->name, r->route,
                                        r->config->tenant_issuers_default, &r->req->pool, &r->granted_scopes)) != NULL)
        return deny(r, denial);
    return limit(r);
}

/* Resumes a request suspended by the rate limiter (redis mode). */
static void on_limit_decided(sc_request_t *r)
{
    sc_verdict_t v = r->ratelimit.decision.gcra.allowed ? SC_VERDICT_FORWARD : deny(r, sc_ratelimit_denial(r));
    if (v == SC_VERDICT_FORWARD)
        forward(r);
}

static sc_verdict_t limit(sc_request_t *r)
{
    switch (sc_ratelimit_check(r, on_limit_decided)) {
    case SC_RATELIMIT_PASS:
        return SC_VERDICT_FORWARD;
    case SC_RATELIMIT_REFUSED:
        return deny(r, sc_ratelimit_denial(r));
    case SC_RATELIMIT_WAIT:
        break;
    }
    return SC_VERDICT_SUSPENDED;
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    sc_pipeline_t *self = (void *)_self;
    sc_request_t *r = sc_request_attach(req, sc_request_env_of(req->conn->ctx), self->service_index);
    sc_response_filter_watch(r);

    if (start(r) != SC_VERDICT_FORWARD)
        return 0;
    forward(r);
    return 0;
}

h2o_handler_t *sc_pipeline_register(h2o_pathconf_t *pathconf, size_t service_index)
{
    sc_pipeline_t *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->super.on_req = on_req;
    self->service_index = service_index;
    return &self->super;
}
