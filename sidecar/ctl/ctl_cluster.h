/*
 * ctl_cluster: what sidecarctl's blocking session needs to speak to a Redis Cluster — one
 * connection per master node, opened when first needed, the slot map (cluster_map.h), and which
 * argument of a command is its key. The session (ctl_redis.c) routes each command with it and
 * splits each change into the tenant's transaction and the global keys that follow.
 */
#ifndef SC_CTL_CLUSTER_H
#define SC_CTL_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "cluster_map.h"

typedef struct ctl_cluster {
    sc_cluster_map_t map;
    redisContext *ctx[SC_CLUSTER_MAP_MAX_NODES]; /* NULL: not connected (yet) */
} ctl_cluster_t;

/**
 * A cluster whose node 0 is the seed, connected as `seed`, which it then owns. NULL when the seed
 * address is not numeric.
 */
ctl_cluster_t *ctl_cluster_new(const char *seed_host, unsigned seed_port, redisContext *seed);

void ctl_cluster_free(ctl_cluster_t *cluster);

/**
 * Reads the slot map from node i (CLUSTER SLOTS). Returns 0, or -1 with the connection's error
 * or Redis's in `why`.
 */
int ctl_cluster_load_slots(ctl_cluster_t *cluster, int i, char *why, size_t size);

/**
 * Whether a command's first argument is its key (HGETALL, HSET, WATCH, XADD...). The others
 * (MULTI, EXEC, DISCARD, UNWATCH, PUBLISH, SCAN, PING, AUTH...) go to the node the session is
 * working with: the transaction's.
 */
int ctl_cluster_has_key(const char *command);

/**
 * The hash tag of a key ({TENANT}: what is between the braces), or NULL (len 0) when it has none:
 * the global keys (PREFIX"tenants", PREFIX"keyid-index", PREFIX"audit") have none.
 */
const char *ctl_cluster_tag(const char *key, size_t *len);

#endif
