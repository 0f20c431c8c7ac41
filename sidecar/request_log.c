#include "request_log.h"

#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "access_log.h"
#include "json_out.h"
#include "metrics.h"
#include "request.h"
#include "response_filter.h"
#include "server.h"
#include "worker.h"

#define LINE_MAX_BYTES 8192

typedef struct sc_request_logger {
    h2o_logger_t super;
    sc_server_t *server;
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

static void record_metrics(sc_worker_t *w, size_t service_index, const sc_request_t *r, h2o_req_t *req, uint64_t total_us)
{
    sc_service_metrics_t *m = &w->metrics.services[service_index];
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
    if (m->tenant_requests != NULL && r->tenant.len != 0)
        sc_metrics_count(&m->tenant_requests[sc_tenant_labels_index(w->server->tenant_labels, r->tenant.base, r->tenant.len)]);
}

static void json_field_str(sc_json_buf_t *b, const char *name, const char *s, size_t len)
{
    sc_json_raw(b, ",\"", 2);
    sc_json_raw(b, name, strlen(name));
    sc_json_raw(b, "\":", 2);
    if (s == NULL)
        sc_json_lit(b, "null");
    else
        sc_json_string(b, s, len);
}

static void json_field_cstr(sc_json_buf_t *b, const char *name, const char *s)
{
    json_field_str(b, name, s, s != NULL ? strlen(s) : 0);
}

static void json_field_iov(sc_json_buf_t *b, const char *name, h2o_iovec_t v)
{
    json_field_str(b, name, v.len != 0 ? v.base : NULL, v.len);
}

static void json_field_num(sc_json_buf_t *b, const char *name, const char *fmt, double v)
{
    char num[48];
    int n = snprintf(num, sizeof(num), fmt, v);
    sc_json_raw(b, ",\"", 2);
    sc_json_raw(b, name, strlen(name));
    sc_json_raw(b, "\":", 2);
    sc_json_raw(b, num, (size_t)n);
}

static void json_time(sc_json_buf_t *b, const struct timeval *now)
{
    char stamp[40];
    struct tm tm;
    gmtime_r(&now->tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ\"", (int)(now->tv_usec / 1000));
    sc_json_raw(b, stamp, n);
}

static void json_remote(sc_json_buf_t *b, h2o_req_t *req)
{
    struct sockaddr_storage ss;
    char host[NI_MAXHOST];
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    size_t len = sslen != 0 ? h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, host) : SIZE_MAX;
    json_field_str(b, "remote_addr", len != SIZE_MAX ? host : NULL, len != SIZE_MAX ? len : 0);
}

static void write_access_line(sc_access_log_t *log, const sc_service_t *service, const sc_request_t *r, h2o_req_t *req,
                              const struct timeval *now, uint64_t total_us)
{
    char line[LINE_MAX_BYTES];
    sc_json_buf_t b;
    h2o_iovec_t path = req->input.path, query = {NULL, 0};
    size_t q = h2o_strstr(path.base, path.len, H2O_STRLIT("?"));
    if (q != SIZE_MAX) {
        query = sc_request_log_redact_query(&req->pool, path.base + q + 1, path.len - q - 1);
        path.len = q;
    }
    sc_json_init(&b, line, sizeof(line) - 2);
    json_time(&b, now);
    json_field_cstr(&b, "request_id", r != NULL ? r->id : NULL);
    json_field_cstr(&b, "service", service != NULL ? service->name : NULL);
    json_field_cstr(&b, "route", r != NULL && r->route != NULL ? r->route->path : NULL);
    json_field_iov(&b, "method", req->input.method);
    json_field_iov(&b, "path", path);
    json_field_iov(&b, "query", query);
    json_field_num(&b, "status", "%.0f", req->res.status);
    if (r != NULL && r->forwarded && !r->proxy_failed)
        json_field_num(&b, "upstream_status", "%.0f", req->res.status);
    else
        json_field_cstr(&b, "upstream_status", NULL);
    json_field_num(&b, "duration_ms", "%.3f", (double)total_us / 1000.0);
    if (r != NULL && r->forwarded && !r->proxy_failed)
        json_field_num(&b, "upstream_ms", "%.3f",
                       (double)elapsed_us(&r->forwarded_at, &req->timestamps.response_start_at) / 1000.0);
    else
        json_field_cstr(&b, "upstream_ms", NULL);
    json_field_iov(&b, "tenant", r != NULL ? r->tenant : h2o_iovec_init(NULL, 0));
    json_field_iov(&b, "subject", r != NULL && r->denial == NULL ? r->identity.subject : h2o_iovec_init(NULL, 0));
    json_field_cstr(&b, "auth_method",
                    r == NULL || r->identity.method == 0 ? NULL
                    : r->identity.method == SC_AUTH_JWT  ? "jwt"
                                                         : "api_key");
    json_field_iov(&b, "key_id", r != NULL && r->denial == NULL ? r->identity.key_id : h2o_iovec_init(NULL, 0));
    json_field_cstr(&b, "decision", decision_of(r));
    json_field_cstr(&b, "reason", r != NULL && r->denial != NULL ? r->denial->reason : NULL);
    json_field_num(&b, "bytes_in", "%.0f", (double)req->entity.len);
    json_field_num(&b, "bytes_out", "%.0f", (double)req->bytes_sent);
    json_remote(&b, req);
    sc_json_lit(&b, "}");
    line[b.len++] = '\n';
    sc_access_log_write(log, line, b.len);
}

/* The pipeline's state, if this request went through the pipeline. */
static const sc_request_t *find_request(h2o_req_t *req)
{
    for (h2o_req_prefilter_t *p = req->prefilters; p != NULL; p = p->next)
        if (sc_request_of_prefilter(p) != NULL)
            return sc_request_of_prefilter(p);
    return NULL;
}

static void on_log_access(h2o_logger_t *_self, h2o_req_t *req)
{
    sc_request_logger_t *self = (void *)_self;
    sc_worker_t *w = h2o_context_get_logger_context(req->conn->ctx, &self->super);
    const sc_request_t *r = find_request(req);
    struct timeval now;
    gettimeofday(&now, NULL);
    uint64_t total_us = elapsed_us(&req->timestamps.request_begin_at, &now);
    const sc_service_t *service = r != NULL ? r->service : &self->server->config->services[self->service_index];

    record_metrics(w, self->service_index, r, req, total_us);
    if (self->server->access_log != NULL)
        write_access_line(self->server->access_log, service, r, req, &now, total_us);
}

h2o_logger_t *sc_request_log_register(h2o_pathconf_t *pathconf, sc_server_t *server, size_t service_index)
{
    sc_request_logger_t *self = (void *)h2o_create_logger(pathconf, sizeof(*self));
    self->super.log_access = on_log_access;
    self->server = server;
    self->service_index = service_index;
    return &self->super;
}

void sc_request_log_bind_worker(h2o_logger_t *logger, h2o_context_t *ctx, sc_worker_t *worker)
{
    h2o_context_set_logger_context(ctx, logger, worker);
}
