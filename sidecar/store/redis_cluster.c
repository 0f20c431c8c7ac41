#include "redis_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_map.h"
#include "log.h"
#include "metrics.h"

/* A topology change announces itself with a burst of MOVED: one CLUSTER SLOTS per interval. */
#define REFRESH_INTERVAL_MS 100

typedef struct node {
    struct sc_redis_cluster *cluster;
    sc_redis_config_t config; /* the cluster's, with this node's address */
    char url[SC_CLUSTER_HOST_MAX + 24];
    sc_redis_client_t *client; /* NULL until a command needs the node */
    int up;
} node_t;

struct sc_redis_cluster {
    h2o_evloop_t *loop;
    const sc_redis_config_t *config;
    sc_redis_client_t *single; /* standalone mode: the only connection */
    sc_cluster_map_t map;
    node_t nodes[SC_CLUSTER_MAP_MAX_NODES]; /* nodes[i] is map.nodes[i] */
    int ready_nodes;                        /* read by /ready on any thread */
    int ever_ready;
    int refreshing;
    size_t refresh_from; /* the node asked last: a failed refresh asks the next one */
    uint64_t last_refresh_at;
    h2o_timeout_t refresh_timeout;
    h2o_timeout_entry_t refresh_entry;
    h2o_timeout_t startup_deadline; /* connect_timeout_ms + timeout_ms: before the first connection */
    h2o_timeout_t deadline;         /* 2 x timeout_ms: a wait for a reconnection, then the reply */
    sc_redis_client_stats_t stats;
    int destroying;
};

/* One command: a copy of its arguments, to send it again where a redirection points. */
typedef struct cmd {
    sc_redis_cluster_t *cluster; /* NULL once the caller has had its answer */
    sc_redis_reply_cb cb;
    void *data;
    int node; /* where it was sent last */
    int redirects;
    int inflight; /* a node's client holds it */
    h2o_timeout_entry_t deadline;
    int argc;
    const char **argv;
    size_t *argvlen;
} cmd_t;

static void refresh(sc_redis_cluster_t *cl);

/* ------------------------------------------------------------------ nodes */

static void on_node_ready(sc_redis_client_t *client, void *data)
{
    node_t *n = data;
    (void)client;
    n->up = 1;
    n->cluster->ever_ready = 1;
    __atomic_add_fetch(&n->cluster->ready_nodes, 1, __ATOMIC_RELEASE);
    sc_metrics_count(&n->cluster->stats.connects);
}

static void request_refresh(sc_redis_cluster_t *cl);

static void on_node_down(sc_redis_client_t *client, void *data, const char *why)
{
    node_t *n = data;
    (void)client, (void)why;
    sc_metrics_count(&n->cluster->stats.failures);
    if (!n->up)
        return;
    n->up = 0;
    __atomic_sub_fetch(&n->cluster->ready_nodes, 1, __ATOMIC_RELEASE);
    if (!n->cluster->destroying)
        request_refresh(n->cluster); /* a failover moves its slots to a replica */
}

static const sc_redis_client_callbacks_t node_callbacks = {.on_ready = on_node_ready, .on_down = on_node_down};

/* The settings of node i, filled in when first asked for. */
static node_t *node_at(sc_redis_cluster_t *cl, size_t i)
{
    node_t *n = &cl->nodes[i];
    if (n->cluster == NULL) {
        const sc_cluster_node_addr_t *a = &cl->map.nodes[i];
        n->cluster = cl;
        n->config = *cl->config; /* login and timeouts; the strings stay the cluster config's */
        n->config.host = (char *)a->host;
        n->config.port = a->port;
        snprintf(n->url, sizeof(n->url), strchr(a->host, ':') != NULL ? "redis://[%s]:%u" : "redis://%s:%u", a->host,
                 (unsigned)a->port);
        n->config.url = n->url;
    }
    return n;
}

static sc_redis_client_t *node_client(sc_redis_cluster_t *cl, int i)
{
    node_t *n = node_at(cl, (size_t)i);
    if (n->client == NULL)
        n->client = sc_redis_client_create(cl->loop, &n->config, NULL, &node_callbacks, n);
    return n->client;
}

/* The node for a slot: the map's, else one that is connected, else the seed. */
static int pick_node(sc_redis_cluster_t *cl, int slot)
{
    int n = slot >= 0 ? sc_cluster_map_lookup(&cl->map, (unsigned)slot) : -1;
    if (n >= 0)
        return n;
    for (size_t i = 0; i != cl->map.num_nodes; ++i)
        if (cl->nodes[i].up)
            return (int)i;
    return 0;
}

/* ------------------------------------------------------------------ the slot map */

static void on_slots_reply(redisReply *reply, void *data, const char *err)
{
    sc_redis_cluster_t *cl = data;
    cl->refreshing = 0;
    if (cl->destroying)
        return;
    int assigned = err == NULL ? sc_cluster_map_load(&cl->map, reply, cl->map.nodes[cl->refresh_from].host) : -1;
    if (assigned < 0) {
        sc_log_warn("redis cluster %s: CLUSTER SLOTS from %s failed: %s", cl->config->url, cl->nodes[cl->refresh_from].url,
                    err != NULL                        ? err
                    : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
        cl->refresh_from = (cl->refresh_from + 1) % cl->map.num_nodes;
        request_refresh(cl);
        return;
    }
    if (assigned != SC_CLUSTER_SLOTS)
        sc_log_warn("redis cluster %s: %d of %d slots are served by a reachable master", cl->config->url, assigned,
                    SC_CLUSTER_SLOTS);
}

static void refresh(sc_redis_cluster_t *cl)
{
    static const char *argv[] = {"CLUSTER", "SLOTS"};
    static const size_t argvlen[] = {7, 5};
    if (cl->refreshing || cl->destroying)
        return;
    for (size_t tries = 0; tries != cl->map.num_nodes; ++tries) {
        size_t i = (cl->refresh_from + tries) % cl->map.num_nodes;
        sc_redis_client_t *c = node_client(cl, (int)i);
        if (c != NULL && sc_redis_client_command(c, on_slots_reply, cl, 2, argv, argvlen) == 0) {
            cl->refresh_from = i;
            cl->refreshing = 1;
            cl->last_refresh_at = h2o_now(cl->loop);
            return;
        }
    }
    /* nobody reachable now: the timer tries again */
    cl->last_refresh_at = h2o_now(cl->loop);
    if (!h2o_timeout_is_linked(&cl->refresh_entry))
        h2o_timeout_link(cl->loop, &cl->refresh_timeout, &cl->refresh_entry);
}

static void on_refresh_timer(h2o_timeout_entry_t *entry)
{
    refresh(H2O_STRUCT_FROM_MEMBER(sc_redis_cluster_t, refresh_entry, entry));
}

/* At most one CLUSTER SLOTS per REFRESH_INTERVAL_MS, however many MOVED arrive. */
static void request_refresh(sc_redis_cluster_t *cl)
{
    if (cl->refreshing || h2o_timeout_is_linked(&cl->refresh_entry))
        return;
    if (h2o_now(cl->loop) - cl->last_refresh_at >= REFRESH_INTERVAL_MS)
        refresh(cl);
    else
        h2o_timeout_link(cl->loop, &cl->refresh_timeout, &cl->refresh_entry);
}

/* ------------------------------------------------------------------ commands */

static void finish(cmd_t *c, redisReply *reply, const char *err)
{
    sc_redis_cluster_t *cl = c->cluster;
    h2o_timeout_unlink(&c->deadline);
    if (err != NULL)
        sc_metrics_count(strcmp(err, "timeout") == 0 ? &cl->stats.timeouts : &cl->stats.errors);
    else if (reply->type == REDIS_REPLY_ERROR)
        sc_metrics_count(&cl->stats.errors);
    c->cluster = NULL;
    c->cb(reply, c->data, err);
    if (!c->inflight)
        free(c);
}

static void on_command_reply(redisReply *reply, void *data, const char *err);

/* Sends the command to node i (after ASKING, for an ASK). 0, or -1 when it cannot go now. */
static int dispatch(cmd_t *c, int i, int asking)
{
    static const char *asking_argv[] = {"ASKING"};
    static const size_t asking_len[] = {6};
    sc_redis_client_t *client = node_client(c->cluster, i);
    if (client == NULL)
        return -1;
    /* one connection keeps the order: ASKING is the command's own, it applies to the next one */
    if (asking && sc_redis_client_command(client, on_command_reply, NULL, 1, asking_argv, asking_len) != 0)
        return -1;
    if (sc_redis_client_command(client, on_command_reply, c, c->argc, c->argv, c->argvlen) != 0)
        return -1;
    c->node = i;
    c->inflight = 1;
    return 0;
}

/* A MOVED or ASK: 1 when the command went where it points, 0 when it cannot follow. */
static int follow(cmd_t *c, const redisReply *reply)
{
    sc_redis_cluster_t *cl = c->cluster;
    sc_cluster_redirect_t r;
    if (sc_cluster_slot_parse_redirect(reply->str, reply->len, &r) != 0)
        return 0;
    const char *answering = cl->map.nodes[c->node].host;
    int target = r.kind == SC_CLUSTER_REDIRECT_MOVED
                     ? sc_cluster_map_moved(&cl->map, &r, answering)
                     : sc_cluster_map_node(&cl->map, r.host[0] != '\0' ? r.host : answering, r.port);
    if (r.kind == SC_CLUSTER_REDIRECT_MOVED)
        request_refresh(cl); /* one slot moved: others may have too */
    if (target < 0 || c->redirects++ == SC_REDIS_CLUSTER_MAX_REDIRECTS)
        return 0;
    return dispatch(c, target, r.kind == SC_CLUSTER_REDIRECT_ASK) == 0;
}

static void on_command_reply(redisReply *reply, void *data, const char *err)
{
    cmd_t *c = data;
    if (c == NULL)
        return; /* ASKING's own reply */
    c->inflight = 0;
    if (c->cluster == NULL) { /* answered already: deadline */
        free(c);
        return;
    }
    if (err == NULL && reply->type == REDIS_REPLY_ERROR && !c->cluster->destroying && follow(c, reply))
        return;
    finish(c, reply, err);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    finish(H2O_STRUCT_FROM_MEMBER(cmd_t, deadline, entry), NULL, "timeout");
}

/* The command with a copy of its arguments in one allocation. */
static cmd_t *new_cmd(int argc, const char **argv, const size_t *argvlen)
{
    size_t size = sizeof(cmd_t) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i != argc; ++i)
        size += argvlen[i];
    cmd_t *c = calloc(1, size);
    if (c == NULL)
        return NULL;
    c->argc = argc;
    c->argv = (const char **)(c + 1);
    c->argvlen = (size_t *)(c->argv + argc);
    char *p = (char *)(c->argvlen + argc);
    for (int i = 0; i != argc; ++i) {
        memcpy(p, argv[i], argvlen[i]);
        c->argv[i] = p;
        c->argvlen[i] = argvlen[i];
        p += argvlen[i];
    }
    return c;
}

int sc_redis_cluster_command(sc_redis_cluster_t *cl, const char *key, size_t key_len, sc_redis_reply_cb cb, void *data, int argc,
                             const char **argv, const size_t *argvlen)
{
    if (cl->single != NULL)
        return sc_redis_client_command(cl->single, cb, data, argc, argv, argvlen);
    cmd_t *c = new_cmd(argc, argv, argvlen);
    if (c == NULL)
        return -1;
    c->cluster = cl;
    c->cb = cb;
    c->data = data;
    if (dispatch(c, pick_node(cl, key != NULL ? (int)sc_cluster_slot_of(key, key_len) : -1), 0) != 0) {
        free(c);
        return -1;
    }
    c->deadline.cb = on_deadline;
    h2o_timeout_link(cl->loop, cl->ever_ready ? &cl->deadline : &cl->startup_deadline, &c->deadline);
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

sc_redis_cluster_t *sc_redis_cluster_create(h2o_evloop_t *loop, const sc_redis_config_t *config)
{
    sc_redis_cluster_t *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return NULL;
    cl->loop = loop;
    cl->config = config;
    if (!config->cluster) {
        static const sc_redis_client_callbacks_t none = {0};
        if ((cl->single = sc_redis_client_create(loop, config, NULL, &none, NULL)) == NULL) {
            free(cl);
            return NULL;
        }
        return cl;
    }
    sc_cluster_map_init(&cl->map);
    sc_cluster_map_node(&cl->map, config->host, config->port); /* node 0: the seed (numeric, resolved at load) */
    h2o_timeout_init(loop, &cl->refresh_timeout, REFRESH_INTERVAL_MS);
    h2o_timeout_init(loop, &cl->startup_deadline, config->connect_timeout_ms + config->timeout_ms);
    h2o_timeout_init(loop, &cl->deadline, 2 * config->timeout_ms);
    cl->refresh_entry.cb = on_refresh_timer;
    refresh(cl); /* waits for the seed's connection */
    return cl;
}

void sc_redis_cluster_destroy(sc_redis_cluster_t *cl)
{
    if (cl == NULL)
        return;
    if (cl->single != NULL) {
        sc_redis_client_destroy(cl->single);
        free(cl);
        return;
    }
    cl->destroying = 1;
    h2o_timeout_unlink(&cl->refresh_entry);
    for (size_t i = 0; i != cl->map.num_nodes; ++i)
        if (cl->nodes[i].client != NULL)
            sc_redis_client_destroy(cl->nodes[i].client); /* the commands they hold are answered */
    h2o_timeout_dispose(cl->loop, &cl->refresh_timeout);
    h2o_timeout_dispose(cl->loop, &cl->startup_deadline);
    h2o_timeout_dispose(cl->loop, &cl->deadline);
    free(cl);
}

int sc_redis_cluster_is_ready(const sc_redis_cluster_t *cl)
{
    if (cl->single != NULL)
        return sc_redis_client_is_ready(cl->single);
    return __atomic_load_n(&cl->ready_nodes, __ATOMIC_ACQUIRE) > 0;
}

void sc_redis_cluster_add_stats(const sc_redis_cluster_t *cl, sc_redis_client_stats_t *sum)
{
    if (cl->single != NULL) {
        sc_redis_client_add_stats(cl->single, sum);
        return;
    }
    /* cluster mode counts in its own struct (the node clients come and go with the map) */
    sum->connects += __atomic_load_n(&cl->stats.connects, __ATOMIC_RELAXED);
    sum->failures += __atomic_load_n(&cl->stats.failures, __ATOMIC_RELAXED);
    sum->timeouts += __atomic_load_n(&cl->stats.timeouts, __ATOMIC_RELAXED);
    sum->errors += __atomic_load_n(&cl->stats.errors, __ATOMIC_RELAXED);
}

const sc_redis_config_t *sc_redis_cluster_node_config(sc_redis_cluster_t *cl, size_t n)
{
    if (cl->single != NULL)
        return n == 0 ? cl->config : NULL;
    return n < cl->map.num_nodes ? &node_at(cl, n)->config : NULL;
}
