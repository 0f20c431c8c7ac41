#include "cluster_map.h"

#include <arpa/inet.h>
#include <string.h>

void sc_cluster_map_init(sc_cluster_map_t *map)
{
    memset(map, 0, sizeof(*map));
}

static int is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int sc_cluster_map_node(sc_cluster_map_t *map, const char *host, uint16_t port)
{
    for (size_t i = 0; i != map->num_nodes; ++i)
        if (map->nodes[i].port == port && strcmp(map->nodes[i].host, host) == 0)
            return (int)i;
    if (map->num_nodes == SC_CLUSTER_MAP_MAX_NODES || strlen(host) >= SC_CLUSTER_HOST_MAX || !is_numeric(host))
        return -1;
    sc_cluster_node_addr_t *n = &map->nodes[map->num_nodes];
    strcpy(n->host, host);
    n->port = port;
    return (int)map->num_nodes++;
}

int sc_cluster_map_lookup(const sc_cluster_map_t *map, unsigned slot)
{
    return slot < SC_CLUSTER_SLOTS ? (int)map->slot_node[slot] - 1 : -1;
}

/* The master of one CLUSTER SLOTS entry, added to the map; -1 when unusable. */
static int entry_master(sc_cluster_map_t *map, const redisReply *e, const char *answering_host, unsigned *start, unsigned *end)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
        return -2;
    long long a = e->element[0]->integer, b = e->element[1]->integer;
    const redisReply *m = e->element[2];
    if (a < 0 || b < a || b >= SC_CLUSTER_SLOTS || m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_INTEGER || m->element[1]->integer <= 0 || m->element[1]->integer > 65535)
        return -2;
    *start = (unsigned)a;
    *end = (unsigned)b;
    const char *host = m->element[0]->str;
    if (host[0] == '\0' || strcmp(host, "?") == 0)
        host = answering_host;
    return sc_cluster_map_node(map, host, (uint16_t)m->element[1]->integer);
}

int sc_cluster_map_load(sc_cluster_map_t *map, const redisReply *reply, const char *answering_host)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    uint8_t next[SC_CLUSTER_SLOTS] = {0};
    int assigned = 0;
    for (size_t i = 0; i != reply->elements; ++i) {
        unsigned start, end;
        int node = entry_master(map, reply->element[i], answering_host, &start, &end);
        if (node == -2)
            return -1;
        if (node < 0)
            continue; /* a master we cannot reach without DNS: its slots stay unknown, MOVED names it again */
        for (unsigned s = start; s <= end; ++s)
            next[s] = (uint8_t)(node + 1);
        assigned += (int)(end - start + 1);
    }
    memcpy(map->slot_node, next, sizeof(next));
    return assigned;
}

int sc_cluster_map_moved(sc_cluster_map_t *map, const sc_cluster_redirect_t *moved, const char *answering_host)
{
    int node = sc_cluster_map_node(map, moved->host[0] != '\0' ? moved->host : answering_host, moved->port);
    if (node >= 0 && moved->slot < SC_CLUSTER_SLOTS)
        map->slot_node[moved->slot] = (uint8_t)(node + 1);
    return node;
}
