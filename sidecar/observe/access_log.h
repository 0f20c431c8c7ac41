/*
 * access_log: one JSON line per request, written by a thread of its own so that a slow disk or
 * a stalled journald never blocks an event loop. Workers hand lines over under a short lock; if
 * the writer falls more than a few megabytes behind, lines are dropped and counted (the metric
 * policy_sidecar_access_log_dropped_total says so) rather than the traffic being slowed.
 *
 * The file is reopened on request (SIGUSR1, for logrotate) by the writer itself.
 */
#ifndef SC_ACCESS_LOG_H
#define SC_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_access_log sc_access_log_t;

/**
 * Opens `path` for appending ("-" is standard output) and starts the writer. Returns NULL with
 * a reason in err.
 */
sc_access_log_t *sc_access_log_open(const char *path, char *err, size_t errsize);

/**
 * Queues one line (its newline included). Thread-safe; never blocks on I/O.
 */
void sc_access_log_write(sc_access_log_t *log, const char *line, size_t len);

/**
 * Asks the writer to reopen the file (after logrotate moved it). Thread-safe; not for use in a
 * signal handler (the server takes signals with sigwait).
 */
void sc_access_log_reopen(sc_access_log_t *log);

/**
 * Writes what is queued, stops the writer and closes the file.
 */
void sc_access_log_close(sc_access_log_t *log);

uint64_t sc_access_log_dropped(sc_access_log_t *log);

#endif
