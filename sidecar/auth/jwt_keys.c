#include "jwt_keys.h"

#include <stdlib.h>

#include "jwt_cache.h"
#include "log.h"
#include "waiter.h"

struct sc_jwt_keys {
    unsigned num_workers;
    sc_jwt_keys_worker_t workers[];
};

/* From the refresher's thread to one worker. */
typedef struct update_message {
    h2o_multithread_message_t super;
    sc_jwks_source_t *source;
    sc_jwks_set_t *set; /* a reference for this message; NULL: nothing new */
} update_message_t;

typedef struct key_wait {
    h2o_linklist_t link; /* in the worker's waits */
    h2o_timeout_entry_t timeout;
    sc_waiter_t *waiter; /* -> sc_request_t */
    sc_jwks_source_t *source;
    h2o_iovec_t token; /* in the request's pool: read only while the request lives */
    sc_jwt_keys_resume_cb resume;
} key_wait_t;

static const sc_jwk_t *worker_keys(void *data, const sc_jwt_issuer_t *issuer, size_t *count)
{
    const sc_jwt_keys_worker_t *k = data;
    const sc_jwks_set_t *set = issuer->source != NULL ? sc_jwks_refresher_source_current(issuer->source, k->index) : NULL;
    *count = set != NULL ? set->num_keys : 0;
    return set != NULL ? set->keys : NULL;
}

sc_jwt_keyring_t sc_jwt_keys_ring(const sc_jwt_keys_worker_t *k)
{
    return (sc_jwt_keyring_t){worker_keys, (void *)k};
}

/* Ends a wait, whichever came first: the refresher's report or the deadline. */
static void finish_wait(key_wait_t *wait)
{
    if (h2o_timeout_is_linked(&wait->timeout))
        h2o_timeout_unlink(&wait->timeout);
    if (h2o_linklist_is_linked(&wait->link))
        h2o_linklist_unlink(&wait->link);
    sc_request_t *r = sc_waiter_take(wait->waiter);
    h2o_iovec_t token = wait->token;
    sc_jwt_keys_resume_cb resume = wait->resume;
    free(wait);
    if (r != NULL)
        resume(r, token);
}

static void on_wait_timeout(h2o_timeout_entry_t *entry)
{
    finish_wait(H2O_STRUCT_FROM_MEMBER(key_wait_t, timeout, entry));
}

int sc_jwt_keys_wait(sc_request_t *r, sc_jwks_source_t *source, h2o_iovec_t token, sc_jwt_keys_resume_cb resume)
{
    sc_jwt_keys_worker_t *k = r->env->jwt_keys;
    key_wait_t *wait = calloc(1, sizeof(*wait));
    if (wait == NULL || (wait->waiter = sc_waiter_new(&r->req->pool, r)) == NULL) {
        free(wait);
        return -1;
    }
    wait->source = source;
    wait->token = token;
    wait->resume = resume;
    wait->timeout.cb = on_wait_timeout;
    h2o_timeout_link(k->loop, &k->wait_timeout, &wait->timeout);
    h2o_linklist_insert(&k->waits, &wait->link);
    return 0;
}

/* Resumes every request waiting for `source`; they are taken off the list first, since resuming one may answer it. */
static void resume_waits(sc_jwt_keys_worker_t *k, const sc_jwks_source_t *source)
{
    h2o_linklist_t ready;
    h2o_linklist_init_anchor(&ready);
    for (h2o_linklist_t *node = k->waits.next, *next; node != &k->waits; node = next) {
        next = node->next;
        key_wait_t *wait = H2O_STRUCT_FROM_MEMBER(key_wait_t, link, node);
        if (wait->source != source)
            continue;
        h2o_linklist_unlink(node);
        h2o_linklist_insert(&ready, node);
    }
    while (!h2o_linklist_is_empty(&ready))
        finish_wait(H2O_STRUCT_FROM_MEMBER(key_wait_t, link, ready.next));
}

static void on_update(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    sc_jwt_keys_worker_t *k = H2O_STRUCT_FROM_MEMBER(sc_jwt_keys_worker_t, updates, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        update_message_t *m = H2O_STRUCT_FROM_MEMBER(update_message_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->set != NULL) {
            sc_jwks_refresher_source_use(m->source, k->index, m->set);
            sc_jwks_set_release(m->set);
            /* a withdrawn key must stop verifying: tokens verified with the old set are checked again */
            if (k->jwt_cache != NULL)
                sc_jwt_cache_clear(k->jwt_cache);
        }
        resume_waits(k, m->source);
        free(m);
    }
}

sc_jwt_keys_t *sc_jwt_keys_create(unsigned workers)
{
    sc_jwt_keys_t *keys = calloc(1, sizeof(*keys) + workers * sizeof(keys->workers[0]));
    if (keys != NULL)
        keys->num_workers = workers;
    return keys;
}

void sc_jwt_keys_free(sc_jwt_keys_t *keys)
{
    free(keys);
}

sc_jwt_keys_worker_t *sc_jwt_keys_worker_init(sc_jwt_keys_t *keys, unsigned index, h2o_loop_t *loop, h2o_multithread_queue_t *queue,
                                              struct sc_jwt_cache *jwt_cache)
{
    sc_jwt_keys_worker_t *k = &keys->workers[index];
    k->index = index;
    k->loop = loop;
    k->jwt_cache = jwt_cache;
    h2o_linklist_init_anchor(&k->waits);
    h2o_timeout_init(loop, &k->wait_timeout, SC_JWT_KEYS_WAIT_MS);
    h2o_multithread_register_receiver(queue, &k->updates, on_update);
    return k;
}

void sc_jwt_keys_worker_dispose(sc_jwt_keys_worker_t *k)
{
    h2o_linklist_t *queued = &k->updates._messages;
    while (!h2o_linklist_is_empty(queued)) {
        update_message_t *m = H2O_STRUCT_FROM_MEMBER(update_message_t, super.link, queued->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->set != NULL)
            sc_jwks_set_release(m->set);
        free(m);
    }
    h2o_multithread_unregister_receiver(k->updates.queue, &k->updates);
    h2o_timeout_dispose(k->loop, &k->wait_timeout);
}

void sc_jwt_keys_notify(void *data, sc_jwks_source_t *source, sc_jwks_set_t *set)
{
    sc_jwt_keys_t *keys = data;
    for (unsigned i = 0; i != keys->num_workers; ++i) {
        update_message_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            sc_log_error("jwt keys: out of memory while notifying worker %u", i);
            abort();
        }
        m->source = source;
        m->set = set;
        if (set != NULL)
            sc_jwks_set_retain(set);
        h2o_multithread_send_message(&keys->workers[i].updates, &m->super);
    }
}
