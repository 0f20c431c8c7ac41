#include "request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_guard.h"

/* What a request holds until its pool is freed: released then, whoever ends it, however. */
typedef struct request_end {
    sc_config_t *config;
    const sc_request_env_t *env;
} request_end_t;

static void on_request_end(void *p)
{
    request_end_t *end = p;
    sc_config_release(end->config);
    sc_request_env_finished(end->env);
}

sc_request_t *sc_request_attach(h2o_req_t *req, const sc_request_env_t *env, size_t service_index)
{
    sc_request_t *r = (void *)h2o_add_prefilter(req, sizeof(*r));
    memset((char *)r + sizeof(r->prefilter), 0, sizeof(*r) - sizeof(r->prefilter));
    r->req = req;
    r->env = env;
    sc_request_id_generate(r->id);
    r->config = *env->config;
    sc_config_retain(r->config);
    r->service = &r->config->services[service_index];
    r->service_index = service_index;
    sc_request_env_started(env);
    /* released with the pool, after h2o has run the loggers (which still read r->config) */
    request_end_t *end = h2o_mem_alloc_shared(&req->pool, sizeof(*end), on_request_end);
    end->config = r->config;
    end->env = env;
    return r;
}

/* Dotted quad, by hand: this runs on every request (inet_ntop costs several times more). */
static size_t format_ipv4(const struct in_addr *addr, char *out)
{
    const unsigned char *b = (const unsigned char *)&addr->s_addr;
    char *p = out;
    for (int i = 0; i != 4; ++i) {
        unsigned v = b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        if (i != 3)
            *p++ = '.';
    }
    return (size_t)(p - out);
}

h2o_iovec_t sc_request_peer_of(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sslen == 0 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return h2o_iovec_init(NULL, 0);
    char *text = h2o_mem_alloc_pool(&req->pool, INET6_ADDRSTRLEN);
    if (ss.ss_family == AF_INET)
        return h2o_iovec_init(text, format_ipv4(&((struct sockaddr_in *)&ss)->sin_addr, text));
    if (inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, INET6_ADDRSTRLEN) == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(text, strlen(text));
}

h2o_iovec_t sc_request_peer(sc_request_t *r)
{
    if (r->peer.base == NULL)
        r->peer = sc_request_peer_of(r->req);
    return r->peer;
}

/* Whether the peer's forwarding headers are believed, and what they say: read once, from the
 * headers as received (sc_forward_prepare asks before it edits them). */
const sc_request_forwarded_t *sc_request_forwarded(sc_request_t *r)
{
    const sc_trusted_proxies_t *tp = &r->config->trusted_proxies;
    if (r->forwarded_view.known)
        return &r->forwarded_view;
    r->forwarded_view.known = 1;
    if (tp->num_cidrs != 0 || tp->client_cert) { /* nothing to ask the socket otherwise */
        struct sockaddr_storage ss;
        h2o_conn_t *conn = r->req->conn;
        socklen_t len = conn->callbacks->get_peername(conn, (struct sockaddr *)&ss);
        r->forwarded_view.trusted = sc_trusted_proxies_trust(tp, len != 0 ? (struct sockaddr *)&ss : NULL,
                                                             sc_conn_guard_client_cert_verified(sc_conn_guard_of_req(r->req)));
    }
    if (r->forwarded_view.trusted)
        sc_trusted_proxies_read_headers(tp, &r->req->pool, &r->req->headers, &r->forwarded_view.values);
    return &r->forwarded_view;
}

h2o_iovec_t sc_request_client(sc_request_t *r)
{
    const sc_request_forwarded_t *fw = sc_request_forwarded(r);
    if (fw->trusted && fw->values.chain.len != 0)
        return fw->values.client; /* empty when the entry is not an address: nothing to vouch for */
    return sc_request_peer(r);
}
