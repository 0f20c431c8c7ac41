#include "redis_subscriber.h"

#include <stdlib.h>

/* How long a failed node keeps the subscription before the next node is tried: long enough that
 * a cluster with every node down is not a loop of connection attempts, short enough that the
 * invalidations of a second or so are all that can be missed (and on_ready covers those). */
#define MOVE_AFTER_MS 500

struct sc_redis_subscriber {
    h2o_evloop_t *loop;
    sc_redis_cluster_t *cluster;
    int is_cluster;
    const char *channel;
    const sc_redis_client_callbacks_t *cb;
    void *data;
    sc_redis_client_t *client;
    int ready; /* cluster mode: /ready reads this on any thread, never a client that a move may free */
    size_t node;
    h2o_timeout_t move_timeout;
    h2o_timeout_entry_t move_entry;
};

static void on_ready(sc_redis_client_t *client, void *data)
{
    sc_redis_subscriber_t *s = data;
    h2o_timeout_unlink(&s->move_entry); /* came back before we moved on */
    __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
    if (s->cb->on_ready != NULL)
        s->cb->on_ready(client, s->data);
}

/* The client cannot be destroyed from its own callback: the move waits for a timer. */
static void on_down(sc_redis_client_t *client, void *data, const char *why)
{
    sc_redis_subscriber_t *s = data;
    __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
    if (s->is_cluster && !h2o_timeout_is_linked(&s->move_entry))
        h2o_timeout_link(s->loop, &s->move_timeout, &s->move_entry);
    if (s->cb->on_down != NULL)
        s->cb->on_down(client, s->data, why);
}

static void on_message(sc_redis_client_t *client, void *data, const char *payload, size_t len)
{
    sc_redis_subscriber_t *s = data;
    if (s->cb->on_message != NULL)
        s->cb->on_message(client, s->data, payload, len);
}

static const sc_redis_client_callbacks_t forward = {.on_ready = on_ready, .on_down = on_down, .on_message = on_message};

static sc_redis_client_t *subscribe_at(sc_redis_subscriber_t *s, const sc_redis_config_t *config)
{
    return sc_redis_client_create(s->loop, config, s->channel, &forward, s);
}

static void on_move(h2o_timeout_entry_t *entry)
{
    sc_redis_subscriber_t *s = H2O_STRUCT_FROM_MEMBER(sc_redis_subscriber_t, move_entry, entry);
    if (sc_redis_client_is_ready(s->client))
        return;
    const sc_redis_config_t *next = sc_redis_cluster_node_config(s->cluster, ++s->node);
    if (next == NULL)
        next = sc_redis_cluster_node_config(s->cluster, s->node = 0);
    sc_redis_client_t *old = s->client, *client = subscribe_at(s, next);
    if (client == NULL) {
        h2o_timeout_link(s->loop, &s->move_timeout, &s->move_entry);
        return;
    }
    s->client = client;
    sc_redis_client_destroy(old);
}

sc_redis_subscriber_t *sc_redis_subscriber_create(h2o_evloop_t *loop, sc_redis_cluster_t *cluster, const char *channel,
                                                  const sc_redis_client_callbacks_t *callbacks, void *data)
{
    sc_redis_subscriber_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->cluster = cluster;
    s->is_cluster = sc_redis_cluster_node_config(cluster, 0)->cluster;
    s->channel = channel;
    s->cb = callbacks;
    s->data = data;
    h2o_timeout_init(loop, &s->move_timeout, MOVE_AFTER_MS);
    s->move_entry.cb = on_move;
    if ((s->client = subscribe_at(s, sc_redis_cluster_node_config(cluster, 0))) == NULL) {
        h2o_timeout_dispose(loop, &s->move_timeout);
        free(s);
        return NULL;
    }
    return s;
}

void sc_redis_subscriber_destroy(sc_redis_subscriber_t *s)
{
    if (s == NULL)
        return;
    h2o_timeout_unlink(&s->move_entry);
    sc_redis_client_destroy(s->client);
    h2o_timeout_dispose(s->loop, &s->move_timeout);
    free(s);
}

int sc_redis_subscriber_is_ready(const sc_redis_subscriber_t *s)
{
    /* standalone the client is never replaced: its own state, as before */
    return s->is_cluster ? __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) : sc_redis_client_is_ready(s->client);
}
