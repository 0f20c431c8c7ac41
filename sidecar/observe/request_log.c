#include "request_log.h"

#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "access_log.h"
#include "forward.h"
#include "http1_server.h"
#include "log_line.h"
#include "metrics.h"
#include "request.h"
#include "response_filter.h"

typedef struct sc_request_logger {
    h2o_logger_t super;
    size_t service_index;
} sc_request_logger_t;

/* ------------------------------------------------------------------ query redaction */

static const char *const secret_words[] = {"token", "key",  "secret",  "password",   "passwd", "signature",
                                           "auth",  "code", "session", "credential", "jwt",    NULL};

static int looks_secret(const char *name, size_t len)
{
    for (const char *const *w = secret_words; *w != NULL; ++w) {
        size_t wl = strlen(*w);
        for (size_t i = 0; i + wl <= len; ++i)
            if (strncasecmp(name + i, *w, wl) == 0)
                return 1;
    }
    return 0;
}

h2o_iovec_t sc_request_log_redact_query(h2o_mem_pool_t *pool, const char *query, size_t len)
{
    char *out = h2o_mem_alloc_pool(pool, len + 16 * (len / 2 + 1)), *dst = out;
    const char *p = query, *end = query + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *pair_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq != NULL && looks_secret(p, (size_t)(eq - p))) {
            memcpy(dst, p, (size_t)(eq - p + 1));
            dst += eq - p + 1;
            memcpy(dst, "REDACTED", 8);
            dst += 8;
        } else {
            memcpy(dst, p, (size_t)(pair_end - p));
            dst += pair_end - p;
        }
        if (amp != NULL)
            *dst++ = '&';
        p = pair_end + 1;
    }
    return h2o_iovec_init(out, (size_t)(dst - out));
}

/* ------------------------------------------------------------------ the request's story */

static uint64_t elapsed_us(const struct timeval *from, const struct timeval *to)
{
    if (from->tv_sec == 0 || timercmp(to, from, <))
        return 0;
    return (uint64_t)(to->tv_sec - from->tv_sec) * 1000000 + (uint64_t)(to->tv_usec - from->tv_usec);
}

static const char *decision_of(const sc_request_t *r)
{
    if (r == NULL)
        return "error";
    if (r->denial != NULL)
        return r->service->policy->mode == SC_POLICY_REPORT_ONLY ? "report_only_deny" : "deny";
    if (r->route == NULL || (r->route->auth != 0 && r->identity.method == 0 && !r->forwarded))
        return "answered"; /* a preflight */
    return r->route->auth == 0 ? "public" : "allow";
}

/* The tenant's metrics series. Only tenants that exist get one: random X-Tenant-ID values must
 * not use up the bounded label set. */
static size_t tenant_label(const sc_request_env_t *env, const sc_tenant_record_t *t)
{
    return sc_tenant_labels_index(env->tenant_labels, t->id, strlen(t->id));
}

static void record_metrics(const sc_request_env_t *env, size_t service_index, const sc_request_t *r, h2o_req_t *req,
                           uint64_t total_us)
{
    sc_service_metrics_t *m = &env->metrics->services[service_index];
    int status = req->res.status;
    sc_metrics_count(&m->requests[status > 0 && status < SC_METRICS_MAX_STATUS ? status : 0]);
    sc_metrics_observe(&m->duration, total_us);
    if (r == NULL)
        return;
    if (r->denial != NULL) {
        int report_only = r->service->policy->mode == SC_POLICY_REPORT_ONLY;
        sc_metrics_count_denial(m, r->denial->reason, report_only);
        if (r->denial->status == 429)
            sc_metrics_count(&m->rate_limited);
    }
    if (r->forwarded && !r->proxy_failed)
        sc_metrics_observe(&m->upstream, elapsed_us(&r->forwarded_at, &req->timestamps.response_start_at));
    if (m->tenant_requests != NULL && r->tenant_lookup.cached != NULL) /* a record was found */
        sc_metrics_count(&m->tenant_requests[tenant_label(env, r->tenant_lookup.cached->record)]);
}

/* ------------------------------------------------------------------ the access-log line */

static const char *auth_method_of(const sc_request_t *r)
{
    if (r == NULL || r->identity.method == 0)
        return NULL;
    return r->identity.method == SC_AUTH_JWT ? "jwt" : "api_key";
}

static sc_log_text_t text_of(h2o_iovec_t v)
{
    return (sc_log_text_t){v.base, v.len};
}

static void write_access_line(sc_access_log_t *log, const sc_service_t *service, sc_request_t *r, h2o_req_t *req,
                              const struct timeval *now, uint64_t total_us)
{
    char line[SC_LOG_LINE_MAX];
    h2o_iovec_t path = req->input.path, query = {NULL, 0};
    size_t q = h2o_strstr(path.base, path.len, H2O_STRLIT("?"));
    int accepted = r != NULL && r->denial == NULL;
    const sc_forwarded_t *gw = r != NULL ? &sc_request_forwarded(r)->values : NULL; /* empty unless the peer is trusted */
    if (q != SIZE_MAX) {
        query = sc_request_log_redact_query(&req->pool, path.base + q + 1, path.len - q - 1);
        path.len = q;
    }
    sc_log_line_t f = {
        .time = *now,
        .request_id = sc_log_line_cstr(r != NULL ? r->id : NULL),
        .service = sc_log_line_cstr(service->name),
        .route = sc_log_line_cstr(r != NULL && r->route != NULL ? r->route->path : NULL),
        .method = text_of(req->input.method),
        .path = text_of(path),
        .query = text_of(query),
        .status = req->res.status,
        .upstream_answered = r != NULL && r->forwarded && !r->proxy_failed,
        .duration_us = total_us,
        .tenant = r != NULL ? text_of(r->tenant) : sc_log_line_cstr(NULL), /* as sent: escaped like any other field */
        .subject = accepted ? text_of(r->identity.subject) : sc_log_line_cstr(NULL),
        .auth_method = sc_log_line_cstr(auth_method_of(r)),
        .key_id = accepted ? text_of(r->identity.key_id) : sc_log_line_cstr(NULL),
        .decision = sc_log_line_cstr(decision_of(r)),
        .reason = sc_log_line_cstr(r != NULL && r->denial != NULL ? r->denial->reason : NULL),
        .bytes_in = sc_http1_server_body_received(req),
        .bytes_out = req->bytes_sent,
        .remote_addr = text_of(r != NULL ? sc_request_peer(r) : sc_request_peer_of(req)),
        .client_addr = r != NULL ? text_of(sc_request_client(r)) : sc_log_line_cstr(NULL), /* unknown: headers not read */
        .trace_id = gw != NULL ? text_of(gw->trace_id) : sc_log_line_cstr(NULL),
        .gateway_request_id = gw != NULL ? text_of(gw->request_id) : sc_log_line_cstr(NULL),
    };
    if (f.upstream_answered)
        f.upstream_us = elapsed_us(&r->forwarded_at, &req->timestamps.response_start_at);
    sc_access_log_write(log, line, sc_log_line_format(&f, line));
}

/* The pipeline's state, if this request went through the pipeline. */
static sc_request_t *find_request(h2o_req_t *req)
{
    for (h2o_req_prefilter_t *p = req->prefilters; p != NULL; p = p->next)
        if (sc_response_filter_request_of(p) != NULL)
            return sc_response_filter_request_of(p);
    return NULL;
}

static void on_log_access(h2o_logger_t *_self, h2o_req_t *req)
{
    sc_request_logger_t *self = (void *)_self;
    const sc_request_env_t *env = sc_request_env_of(req->conn->ctx);
    sc_request_t *r = find_request(req);
    struct timeval now;
    gettimeofday(&now, NULL);
    uint64_t total_us = elapsed_us(&req->timestamps.request_begin_at, &now);
    const sc_service_t *service = r != NULL ? r->service : &env->start_config->services[self->service_index];

    record_metrics(env, self->service_index, r, req, total_us);
    if (env->access_log != NULL)
        write_access_line(env->access_log, service, r, req, &now, total_us);
}

h2o_logger_t *sc_request_log_register(h2o_pathconf_t *pathconf, size_t service_index)
{
    sc_request_logger_t *self = (void *)h2o_create_logger(pathconf, sizeof(*self));
    self->super.log_access = on_log_access;
    self->service_index = service_index;
    return &self->super;
}
