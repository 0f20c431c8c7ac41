/*
 * admin: the operator's endpoints on admin_listen (keep it on loopback):
 *
 *     GET /healthz   200 while the process runs (liveness)
 *     GET /ready     200 while serving, 503 once draining (readiness)
 */
#ifndef SC_ADMIN_H
#define SC_ADMIN_H

#include <h2o.h>

struct sc_server;

/**
 * Registers the admin handler on `pathconf` ("/").
 */
void sc_admin_register(h2o_pathconf_t *pathconf, struct sc_server *server);

#endif
