#include "redis_script.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call in flight, with what it takes to send it again with EVAL after NOSCRIPT. */
typedef struct call {
    sc_redis_cluster_t *client;
    sc_redis_script_t *script;
    sc_redis_reply_cb cb;
    void *data;
    int retried;
    int argc;
    char *args[SC_REDIS_SCRIPT_MAX_ARGS];
} call_t;

static pthread_mutex_t sha1_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *script_sha1(sc_redis_script_t *s)
{
    if (__atomic_load_n(&s->sha1_ready, __ATOMIC_ACQUIRE))
        return s->sha1;
    pthread_mutex_lock(&sha1_lock);
    if (!s->sha1_ready) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)s->text, s->len, digest);
        for (size_t i = 0; i != sizeof(digest); ++i)
            snprintf(s->sha1 + i * 2, 3, "%02x", digest[i]);
        __atomic_store_n(&s->sha1_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&sha1_lock);
    return s->sha1;
}

static void call_free(call_t *c)
{
    for (int i = 0; i != c->argc; ++i)
        free(c->args[i]);
    free(c);
}

static int send_call(call_t *c);

static void on_reply(redisReply *reply, void *data, const char *err)
{
    call_t *c = data;
    if (err == NULL && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 && !c->retried) {
        c->retried = 1; /* the script cache was emptied: EVAL loads it again */
        if (send_call(c) == 0)
            return;
        reply = NULL;
        err = "not connected";
    }
    c->cb(reply, c->data, err);
    call_free(c);
}

static int send_call(call_t *c)
{
    const char *argv[2 + SC_REDIS_SCRIPT_MAX_ARGS];
    size_t argvlen[2 + SC_REDIS_SCRIPT_MAX_ARGS];
    argv[0] = c->retried ? "EVAL" : "EVALSHA";
    argvlen[0] = strlen(argv[0]);
    argv[1] = c->retried ? c->script->text : script_sha1(c->script);
    argvlen[1] = c->retried ? c->script->len : strlen(argv[1]);
    for (int i = 0; i != c->argc; ++i) {
        argv[2 + i] = c->args[i];
        argvlen[2 + i] = strlen(c->args[i]);
    }
    return sc_redis_cluster_command(c->client, c->args[1], strlen(c->args[1]), on_reply, c, 2 + c->argc, argv, argvlen);
}

int sc_redis_script_call(sc_redis_cluster_t *client, sc_redis_script_t *script, int argc, const char *const *args,
                         sc_redis_reply_cb cb, void *data)
{
    if (argc < 2 || argc > SC_REDIS_SCRIPT_MAX_ARGS)
        return -1; /* numkeys and at least the key it is routed by */
    call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    *c = (call_t){.client = client, .script = script, .cb = cb, .data = data};
    for (; c->argc != argc; ++c->argc) {
        if ((c->args[c->argc] = strdup(args[c->argc])) == NULL) {
            call_free(c);
            return -1;
        }
    }
    if (send_call(c) != 0) {
        call_free(c);
        return -1;
    }
    return 0;
}
