#include "ctl_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ctl_cluster_t *ctl_cluster_new(const char *seed_host, unsigned seed_port, redisContext *seed)
{
    ctl_cluster_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    sc_cluster_map_init(&c->map);
    if (sc_cluster_map_node(&c->map, seed_host, (uint16_t)seed_port) != 0) {
        free(c);
        return NULL;
    }
    c->ctx[0] = seed;
    return c;
}

void ctl_cluster_free(ctl_cluster_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i != SC_CLUSTER_MAP_MAX_NODES; ++i)
        if (c->ctx[i] != NULL)
            redisFree(c->ctx[i]);
    free(c);
}

int ctl_cluster_load_slots(ctl_cluster_t *c, int i, char *why, size_t size)
{
    redisReply *reply = redisCommand(c->ctx[i], "CLUSTER SLOTS");
    int rc = -1;
    if (reply == NULL)
        snprintf(why, size, "%s", c->ctx[i]->errstr[0] != '\0' ? c->ctx[i]->errstr : "no reply");
    else if (reply->type == REDIS_REPLY_ERROR)
        snprintf(why, size, "%s", reply->str);
    else if (sc_cluster_map_load(&c->map, reply, c->map.nodes[i].host) < 0)
        snprintf(why, size, "unexpected reply to CLUSTER SLOTS");
    else
        rc = 0;
    freeReplyObject(reply);
    return rc;
}

int ctl_cluster_has_key(const char *command)
{
    static const char *const keyless[] = {"MULTI", "EXEC", "DISCARD", "UNWATCH", "PUBLISH", "SCAN",
                                          "PING",  "AUTH", "SELECT",  "CLUSTER", "ASKING",  "INFO"};
    for (size_t i = 0; i != sizeof(keyless) / sizeof(keyless[0]); ++i)
        if (strcasecmp(command, keyless[i]) == 0)
            return 0;
    return 1;
}

const char *ctl_cluster_tag(const char *key, size_t *len)
{
    const char *open = strchr(key, '{'), *close = open != NULL ? strchr(open + 1, '}') : NULL;
    if (close == NULL || close == open + 1) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)(close - open - 1);
    return open + 1;
}
