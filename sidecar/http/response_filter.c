#include "response_filter.h"

#include <string.h>

#include "cors.h"
#include "headers.h"
#include "http_error.h"
#include "ratelimit.h"

/* An ostream that replaces whatever body h2o was about to send with our JSON. */
typedef struct body_replacer {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
} body_replacer_t;

static void on_replace_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    body_replacer_t *self = (void *)_self;
    (void)bufs;
    (void)bufcnt;
    if (self->sent || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
        return;
    }
    self->sent = 1;
    h2o_ostream_send_next(&self->super, req, &self->body, 1, state);
}

/*
 * Rewrites the response head to a JSON error and installs the body replacer in the chain;
 * returns the slot where the next filter attaches.
 */
static h2o_ostream_t **replace_with_json(h2o_req_t *req, h2o_ostream_t **slot, int status, const char *reason, const char *message,
                                         const char *request_id)
{
    body_replacer_t *r = (void *)h2o_add_ostream(req, sizeof(*r), slot);
    r->super.do_send = on_replace_send;
    r->body = sc_http_error_body(&req->pool, sc_http_error_code_for_status(status), reason, message, request_id);
    r->sent = 0;
    req->res.status = status;
    req->res.reason = sc_http_error_status_phrase(status);
    req->res.content_length = r->body.len;
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    return &r->super.next;
}

static void add_request_id(h2o_req_t *req, const char *id)
{
    sc_headers_replace(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), id, SC_REQUEST_ID_LEN);
}

static void on_request_response(h2o_req_prefilter_t *prefilter, h2o_req_t *req, h2o_ostream_t **slot)
{
    sc_request_t *r = (void *)prefilter;

    add_request_id(req, r->id);
    if (r->ratelimit.applied && !r->proxy_failed)
        sc_ratelimit_add_headers(r);
    if (r->cors_origin.base != NULL && sc_headers_count(&req->res.headers, H2O_STRLIT("access-control-allow-origin"), NULL) == 0)
        sc_cors_decorate_response(req, r->cors_origin);
    /* a response that starts while draining closes its connection: the client reconnects elsewhere */
    if (*r->env->draining)
        req->http1_is_persistent = 0;
    h2o_setup_next_prefilter(prefilter, req, slot);
}

sc_request_t *sc_response_filter_request_of(h2o_req_prefilter_t *prefilter)
{
    return prefilter->on_setup_ostream == on_request_response ? (sc_request_t *)prefilter : NULL;
}

void sc_response_filter_watch(sc_request_t *r)
{
    r->prefilter.on_setup_ostream = on_request_response;
}

/* Responses h2o produced before routing (the request never reached a handler). */
static void on_fallback_response(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    char *id = h2o_mem_alloc_pool(&req->pool, SC_REQUEST_ID_LEN + 1);
    sc_request_id_generate(id);
    if (req->res.status >= 400) {
        const char *message = req->res.status == 413 ? "the request body is too large" : "the request could not be read";
        slot = replace_with_json(req, slot, req->res.status, NULL, message, id);
    }
    add_request_id(req, id);
    h2o_setup_next_ostream(req, slot);
}

void sc_response_filter_register_fallback(h2o_pathconf_t *fallback)
{
    h2o_filter_t *filter = h2o_create_filter(fallback, sizeof(*filter));
    filter->on_setup_ostream = on_fallback_response;
}
