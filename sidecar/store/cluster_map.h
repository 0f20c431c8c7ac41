/*
 * cluster_map: a Redis Cluster's slot map as one client sees it — the master nodes it knows of
 * (numeric addresses, in the order it learnt them: an index stays valid for the map's life) and
 * which of them serves each slot — read from a CLUSTER SLOTS reply and corrected by MOVED.
 * No I/O: the sidecar's async cluster client and sidecarctl's blocking one both use it.
 */
#ifndef SC_CLUSTER_MAP_H
#define SC_CLUSTER_MAP_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "cluster_slot.h"

/* Enough for any cluster this sidecar is meant for; a node beyond it is not used (logged). */
#define SC_CLUSTER_MAP_MAX_NODES 64

typedef struct sc_cluster_node_addr {
    char host[SC_CLUSTER_HOST_MAX];
    uint16_t port;
} sc_cluster_node_addr_t;

typedef struct sc_cluster_map {
    sc_cluster_node_addr_t nodes[SC_CLUSTER_MAP_MAX_NODES];
    size_t num_nodes;
    uint8_t slot_node[SC_CLUSTER_SLOTS]; /* node index + 1; 0: not known */
} sc_cluster_map_t;

void sc_cluster_map_init(sc_cluster_map_t *map);

/**
 * The index of the node at host:port, added when new. Returns -1 when the host is not a numeric
 * address (a name would need a DNS lookup, which the event loop must not do) or the map is full.
 */
int sc_cluster_map_node(sc_cluster_map_t *map, const char *host, uint16_t port);

/**
 * The node serving a slot, or -1 when not known.
 */
int sc_cluster_map_lookup(const sc_cluster_map_t *map, unsigned slot);

/**
 * Reads a CLUSTER SLOTS reply ([start, end, [host, port, id...], replicas...]...): the slots it
 * names are assigned to their masters, the others become unknown. An empty or "?" host means
 * `answering_host`, the node that replied. Returns the number of slots assigned, or -1 (the map
 * unchanged) when the reply is not a CLUSTER SLOTS reply.
 */
int sc_cluster_map_load(sc_cluster_map_t *map, const redisReply *reply, const char *answering_host);

/**
 * Applies a MOVED: the slot is served by the node it names (empty host: `answering_host`).
 * Returns the node's index, or -1 as sc_cluster_map_node does.
 */
int sc_cluster_map_moved(sc_cluster_map_t *map, const sc_cluster_redirect_t *moved, const char *answering_host);

#endif
