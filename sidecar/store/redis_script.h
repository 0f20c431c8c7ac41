/*
 * redis_script: a Lua script run with EVALSHA, and with EVAL when Redis answers NOSCRIPT (its
 * script cache was emptied by a restart, a failover or SCRIPT FLUSH), once. The script's SHA-1
 * is computed on first use. The call is routed by the script's first key (args[1]): every key of
 * one call must share its Redis Cluster slot, as a tenant's keys do.
 */
#ifndef SC_REDIS_SCRIPT_H
#define SC_REDIS_SCRIPT_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "redis_cluster.h"

typedef struct sc_redis_script {
    const char *text;
    size_t len;
    int sha1_ready; /* read and written atomically */
    char sha1[41];
} sc_redis_script_t;

#define SC_REDIS_SCRIPT_INIT(text)                                                                                                 \
    {                                                                                                                              \
        (text), sizeof(text) - 1, 0, ""                                                                                            \
    }

/* The most arguments a call takes after the script (numkeys, keys, values). */
#define SC_REDIS_SCRIPT_MAX_ARGS 16

/**
 * Runs `script` with args (numkeys, the keys, then the values; copied). `cb` runs exactly once,
 * as for sc_redis_cluster_command: with the reply (an error reply is a reply; NOSCRIPT is
 * handled here) or with err. Returns 0, or -1 without calling cb when it cannot be sent.
 */
int sc_redis_script_call(sc_redis_cluster_t *client, sc_redis_script_t *script, int argc, const char *const *args,
                         sc_redis_reply_cb cb, void *data);

#endif
