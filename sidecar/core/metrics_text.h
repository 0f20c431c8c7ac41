/*
 * metrics_text: the /metrics page, Prometheus text exposition format 0.0.4: the workers'
 * counters summed, plus the tenant stores', the Redis clients' and the server's own.
 */
#ifndef SC_METRICS_TEXT_H
#define SC_METRICS_TEXT_H

#include <h2o.h>

struct sc_server;

/**
 * Renders the page into `pool`.
 */
h2o_iovec_t sc_metrics_text_render(struct sc_server *server, h2o_mem_pool_t *pool);

#endif
