#include "pipeline.h"

#include <string.h>

#include "forward.h"
#include "http_error.h"
#include "response_filter.h"
#include "worker.h"

typedef struct sc_pipeline {
    h2o_handler_t super;
    const sc_service_t *service;
} sc_pipeline_t;

/* What the pipeline decided about a request. */
typedef enum {
    SC_VERDICT_FORWARD, /* hand it to the proxy */
    SC_VERDICT_ANSWERED /* a response has been sent */
} sc_verdict_t;

static sc_verdict_t deny(sc_request_t *r, int status, const char *reason, const char *message)
{
    sc_send_error(r->req, status, reason, message, r->id);
    return SC_VERDICT_ANSWERED;
}

static sc_verdict_t deny_unauthenticated(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const char *scheme = (r->route->auth & SC_AUTH_JWT) != 0 ? "Bearer" : "ApiKey";
    size_t cap = strlen(scheme) + strlen(r->service->name) + 16;
    char *challenge = h2o_mem_alloc_pool(&req->pool, cap);
    int len = snprintf(challenge, cap, "%s realm=\"%s\"", scheme, r->service->name);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, challenge, (size_t)len);
    return deny(r, 401, "missing_credentials", "this route requires a JWT or an API key");
}

static sc_verdict_t decide(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const sc_policy_t *policy = r->service->policy;

    r->route = sc_policy_match(policy, req->method.base, req->method.len, req->path_normalized.base, req->path_normalized.len);
    if (r->route == NULL)
        return deny(r, 404, "no_route", "no route of this service matches the request");
    if (r->route->auth == 0)
        return SC_VERDICT_FORWARD;
    /* No credential can be verified yet: routes that require one are closed, never forwarded. */
    return deny_unauthenticated(r);
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    sc_pipeline_t *self = (void *)_self;
    sc_request_t *r = sc_request_attach(req);

    r->handler = &self->super;
    r->service = self->service;
    r->worker = h2o_context_get_handler_context(req->conn->ctx, &self->super);
    sc_worker_track_request(r->worker, &req->pool);

    if (decide(r) != SC_VERDICT_FORWARD)
        return 0;
    sc_forward_prepare(r);
    return -1;
}

h2o_handler_t *sc_pipeline_register(h2o_pathconf_t *pathconf, const sc_service_t *service)
{
    sc_pipeline_t *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->super.on_req = on_req;
    self->service = service;
    return &self->super;
}

void sc_pipeline_bind_worker(h2o_handler_t *handler, h2o_context_t *ctx, struct sc_worker *worker)
{
    h2o_context_set_handler_context(ctx, handler, worker);
}
