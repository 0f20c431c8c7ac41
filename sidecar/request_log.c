#include "request_log.h"

#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "access_log.h"
#include "forward.h"
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

/*
 * The tenant's metrics series. Only tenants that exist get one (random X-Tenant-ID values must
 * not use up the bounded label set), and the shared registry is asked once per cached record,
 * not on every request: records belong to this worker's cache.
 */
static size_t tenant_label(sc_worker_t *w, sc_tenant_record_t *t)
{
    if (t->metrics_label == SIZE_MAX)
        t->metrics_label = sc_tenant_labels_index(w->server->tenant_labels, t->id, strlen(t->id));
    return t->metrics_label;
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
    if (m->tenant_requests != NULL && r->tenant_lookup.cached != NULL) /* a record was found */
        sc_metrics_count(&m->tenant_requests[tenant_label(w, r->tenant_lookup.cached->record)]);
}

/* ------------------------------------------------------------------ the access-log line */

/* ,"name": — every field after the first */
static void json_key(sc_json_buf_t *b, const char *name, size_t len)
{
    sc_json_raw(b, ",\"", 2);
    sc_json_raw(b, name, len);
    sc_json_raw(b, "\":", 2);
}
#define KEY(b, lit) json_key((b), (lit), sizeof(lit) - 1)

/* A string from the request: escaped. NULL or empty is null. */
static void field_escaped(sc_json_buf_t *b, const char *name, size_t name_len, const char *s, size_t len)
{
    json_key(b, name, name_len);
    if (s == NULL || len == 0)
        sc_json_lit(b, "null");
    else
        sc_json_string(b, s, len);
}
#define ESCAPED(b, lit, s, len) field_escaped((b), (lit), sizeof(lit) - 1, (s), (len))

/* A string the sidecar produced or validated (ids, names, constants): nothing to escape. */
static void field_safe(sc_json_buf_t *b, const char *name, size_t name_len, const char *s, size_t len)
{
    json_key(b, name, name_len);
    if (s == NULL) {
        sc_json_lit(b, "null");
        return;
    }
    sc_json_raw(b, "\"", 1);
    sc_json_raw(b, s, len);
    sc_json_raw(b, "\"", 1);
}
static void field_safe_cstr(sc_json_buf_t *b, const char *name, size_t name_len, const char *s)
{
    field_safe(b, name, name_len, s, s != NULL ? strlen(s) : 0);
}
#define SAFE(b, lit, s) field_safe_cstr((b), (lit), sizeof(lit) - 1, (s))
#define SAFE_IOV(b, lit, v) field_safe((b), (lit), sizeof(lit) - 1, (v).len != 0 ? (v).base : NULL, (v).len)

/* Microseconds as milliseconds with three decimals, without printf. */
static void json_ms(sc_json_buf_t *b, uint64_t us)
{
    char frac[4] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10), (char)('0' + us % 10), 0};
    sc_json_uint(b, us / 1000);
    sc_json_raw(b, ".", 1);
    sc_json_raw(b, frac, 3);
}

/* {"time":"2026-11-28T08:00:00.123Z" — the part before the milliseconds changes once a second. */
static void json_time(sc_json_buf_t *b, const struct timeval *now)
{
    static __thread time_t cached_second = -1;
    static __thread char cached[40];
    static __thread size_t cached_len;
    if (now->tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&now->tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "{\"time\":\"%Y-%m-%dT%H:%M:%S.", &tm);
        cached_second = now->tv_sec;
    }
    unsigned ms = (unsigned)(now->tv_usec / 1000);
    char tail[6] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '"', 0};
    sc_json_raw(b, cached, cached_len);
    sc_json_raw(b, tail, 5);
}

static const char *auth_method_of(const sc_request_t *r)
{
    if (r == NULL || r->identity.method == 0)
        return NULL;
    return r->identity.method == SC_AUTH_JWT ? "jwt" : "api_key";
}

static void write_access_line(sc_access_log_t *log, const sc_service_t *service, sc_request_t *r, h2o_req_t *req,
                              const struct timeval *now, uint64_t total_us)
{
    char line[LINE_MAX_BYTES];
    sc_json_buf_t b;
    h2o_iovec_t path = req->input.path, query = {NULL, 0}, none = {NULL, 0};
    size_t q = h2o_strstr(path.base, path.len, H2O_STRLIT("?"));
    int upstream_answered = r != NULL && r->forwarded && !r->proxy_failed;
    int accepted = r != NULL && r->denial == NULL;
    if (q != SIZE_MAX) {
        query = sc_request_log_redact_query(&req->pool, path.base + q + 1, path.len - q - 1);
        path.len = q;
    }
    h2o_iovec_t peer = r != NULL ? sc_request_peer(r) : sc_peer_address(req);

    sc_json_init(&b, line, sizeof(line) - 2);
    json_time(&b, now);
    SAFE(&b, "request_id", r != NULL ? r->id : NULL);
    SAFE(&b, "service", service->name);
    SAFE(&b, "route", r != NULL && r->route != NULL ? r->route->path : NULL);
    ESCAPED(&b, "method", req->input.method.base, req->input.method.len);
    ESCAPED(&b, "path", path.base, path.len);
    ESCAPED(&b, "query", query.base, query.len);
    KEY(&b, "status");
    sc_json_uint(&b, (unsigned long long)req->res.status);
    KEY(&b, "upstream_status");
    if (upstream_answered)
        sc_json_uint(&b, (unsigned long long)req->res.status);
    else
        sc_json_lit(&b, "null");
    KEY(&b, "duration_ms");
    json_ms(&b, total_us);
    KEY(&b, "upstream_ms");
    if (upstream_answered)
        json_ms(&b, elapsed_us(&r->forwarded_at, &req->timestamps.response_start_at));
    else
        sc_json_lit(&b, "null");
    SAFE_IOV(&b, "tenant", r != NULL ? r->tenant : none); /* validated: [A-Za-z0-9._-] */
    ESCAPED(&b, "subject", accepted ? r->identity.subject.base : NULL, accepted ? r->identity.subject.len : 0);
    SAFE(&b, "auth_method", auth_method_of(r));
    ESCAPED(&b, "key_id", accepted ? r->identity.key_id.base : NULL, accepted ? r->identity.key_id.len : 0);
    SAFE(&b, "decision", decision_of(r));
    SAFE(&b, "reason", r != NULL && r->denial != NULL ? r->denial->reason : NULL);
    KEY(&b, "bytes_in");
    sc_json_uint(&b, (unsigned long long)req->entity.len);
    KEY(&b, "bytes_out");
    sc_json_uint(&b, (unsigned long long)req->bytes_sent);
    SAFE_IOV(&b, "remote_addr", peer);
    sc_json_lit(&b, "}");
    line[b.len++] = '\n';
    sc_access_log_write(log, line, b.len);
}

/* The pipeline's state, if this request went through the pipeline. */
static sc_request_t *find_request(h2o_req_t *req)
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
    sc_request_t *r = find_request(req);
    struct timeval now;
    gettimeofday(&now, NULL);
    uint64_t total_us = elapsed_us(&req->timestamps.request_begin_at, &now);
    const sc_service_t *service = r != NULL ? r->service : &self->server->config->services[self->service_index];

    record_metrics(w, self->service_index, r, req, total_us);
    if (self->server->access_log != NULL)
        write_access_line(self->server->access_log, service, r, req, &now, total_us);
    if (r != NULL) { /* the end of what the pipeline started */
        sc_config_release(r->config);
        sc_worker_request_finished(w);
    }
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
