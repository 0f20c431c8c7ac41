#include "admin.h"

#include <stdio.h>

#include "http_error.h"
#include "request_id.h"
#include "server.h"

typedef struct sc_admin_handler {
    h2o_handler_t super;
    struct sc_server *server;
} sc_admin_handler_t;

static void send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = sc_http_error_status_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

/* 200 {"status":"ready"}, or 503 with what the server waits for, e.g.
 * {"status":"not_ready","waiting_for":["redis: worker 1","redis: subscription, worker 1"]} */
static void send_readiness(h2o_req_t *req, const sc_server_t *server)
{
    sc_server_wait_t waits[64];
    size_t n = sc_server_waiting_for(server, waits, sizeof(waits) / sizeof(waits[0]));
    if (n == 0) {
        send_json(req, 200, H2O_STRLIT("{\"status\":\"ready\"}\n"));
        return;
    }
    size_t cap = 64 + n * 64, len;
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    len = (size_t)snprintf(body, cap, "{\"status\":\"%s\",\"waiting_for\":[",
                           sc_server_is_draining(server) ? "draining" : "not_ready");
    for (size_t i = 0; i != n; ++i) {
        const char *sep = i == 0 ? "" : ",";
        if (waits[i].worker < 0)
            len += (size_t)snprintf(body + len, cap - len, "%s\"%s\"", sep, waits[i].what);
        else
            len += (size_t)snprintf(body + len, cap - len, "%s\"%s %d\"", sep, waits[i].what, waits[i].worker);
    }
    len += (size_t)snprintf(body + len, cap - len, "]}\n");
    send_json(req, 503, body, len);
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    sc_admin_handler_t *self = (void *)_self;
    h2o_iovec_t path = req->path_normalized;
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
                 h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        send_json(req, 200, H2O_STRLIT("{\"status\":\"OK\"}\n"));
    } else if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/ready"))) {
        send_readiness(req, self->server);
    } else if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        h2o_iovec_t page = sc_server_render_metrics(self->server, &req->pool);
        if (page.base == NULL) {
            send_json(req, 503, H2O_STRLIT("{\"status\":\"out of memory\"}\n"));
            return 0;
        }
        req->res.status = 200;
        req->res.reason = "OK";
        req->res.content_length = page.len;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; version=0.0.4"));
        h2o_send_inline(req, page.base, page.len);
    } else {
        char *id = h2o_mem_alloc_pool(&req->pool, SC_REQUEST_ID_LEN + 1);
        sc_request_id_generate(id);
        sc_http_error_send(req, 404, NULL, "unknown admin endpoint", id);
    }
    return 0;
}

void sc_admin_register(h2o_pathconf_t *pathconf, struct sc_server *server)
{
    sc_admin_handler_t *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->super.on_req = on_req;
    self->server = server;
}
