/*
 * fd_budget: the file descriptors a start needs, checked against RLIMIT_NOFILE before anything
 * is made. libh2o 2.2.5 aborts the process (SIGABRT, no message an operator can act on) when it
 * cannot create a worker's message-queue pipe; a start that cannot have its descriptors is
 * refused here instead, with the numbers. The soft limit is raised towards the hard one first,
 * as far as the configuration can use.
 */
#ifndef SC_FD_BUDGET_H
#define SC_FD_BUDGET_H

#include <stdint.h>

#include "config.h"

/* Descriptors kept free for connections, below which a start is refused. */
#define SC_FD_BUDGET_MIN_CONNECTIONS 16

/**
 * Descriptors the process holds before any connection: the listeners, and per worker its event
 * loop, a queue (a pipe) and a listener copy per service and for the admin port, and its Redis
 * connections.
 */
uint64_t sc_fd_budget_fixed(const sc_config_t *config);

/**
 * Raises the soft RLIMIT_NOFILE towards what the configuration can use (its fixed descriptors,
 * and two per connection up to max_connections: the client's and its backend's), within the hard
 * limit. Returns 0, or -1 after logging why the start is refused.
 */
int sc_fd_budget_check(const sc_config_t *config);

#endif
