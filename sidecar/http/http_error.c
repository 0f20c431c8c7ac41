#include "http_error.h"

#include <string.h>

#include "json_out.h"

static const struct {
    int status;
    const char *phrase;
    const char *code;
} statuses[] = {
    {200, "OK", "ok"},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not_found"},
    {405, "Method Not Allowed", "method_not_allowed"},
    {408, "Request Timeout", "request_timeout"},
    {413, "Payload Too Large", "payload_too_large"},
    {417, "Expectation Failed", "expectation_failed"},
    {429, "Too Many Requests", "rate_limited"},
    {500, "Internal Server Error", "internal_error"},
    {502, "Bad Gateway", "bad_gateway"},
    {503, "Service Unavailable", "service_unavailable"},
    {504, "Gateway Timeout", "gateway_timeout"},
};

static int status_index(int status)
{
    for (size_t i = 0; i != sizeof(statuses) / sizeof(statuses[0]); ++i)
        if (statuses[i].status == status)
            return (int)i;
    return -1;
}

const char *sc_http_error_code_for_status(int status)
{
    int i = status_index(status);
    return i >= 0 ? statuses[i].code : "error";
}

const char *sc_http_error_status_phrase(int status)
{
    int i = status_index(status);
    return i >= 0 ? statuses[i].phrase : "Error";
}

h2o_iovec_t sc_http_error_body(h2o_mem_pool_t *pool, const char *error, const char *reason, const char *message,
                               const char *request_id)
{
    /* escaping at most sextuples a byte; the fixed part is under 80 bytes */
    size_t cap = 96 + 6 * (strlen(error) + strlen(message) + strlen(request_id) + (reason != NULL ? strlen(reason) : 0));
    sc_json_buf_t b;
    sc_json_out_init(&b, h2o_mem_alloc_pool(pool, cap), cap);
    sc_json_out_lit(&b, "{\"error\":");
    sc_json_out_string(&b, error, strlen(error));
    if (reason != NULL) {
        sc_json_out_lit(&b, ",\"reason\":");
        sc_json_out_string(&b, reason, strlen(reason));
    }
    sc_json_out_lit(&b, ",\"message\":");
    sc_json_out_string(&b, message, strlen(message));
    sc_json_out_lit(&b, ",\"request_id\":");
    sc_json_out_string(&b, request_id, strlen(request_id));
    sc_json_out_lit(&b, "}\n");
    return h2o_iovec_init(b.base, b.len);
}

void sc_http_error_send(h2o_req_t *req, int status, const char *reason, const char *message, const char *request_id)
{
    h2o_iovec_t body = sc_http_error_body(&req->pool, sc_http_error_code_for_status(status), reason, message, request_id);
    req->res.status = status;
    req->res.reason = sc_http_error_status_phrase(status);
    req->res.content_length = body.len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"), 1);
    h2o_send_inline(req, body.base, body.len);
}
