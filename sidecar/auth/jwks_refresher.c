#include "jwks_refresher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwks_cache_file.h"
#include "jwks_fetch.h"
#include "jwks_remote.h"
#include "log.h"

struct sc_jwks_source {
    sc_jwks_source_t *next;
    sc_jwks_refresher_t *refresher;
    char *issuer;
    sc_jwks_remote_t remote; /* a copy: the strings never change, the timings do on reload (under the mutex) */
    unsigned algorithms;
    sc_jwks_set_t **worker_sets; /* [i] belongs to worker i */
    /* the rest is guarded by the refresher's mutex */
    sc_jwks_set_t *current;
    int active;        /* some configured issuer uses it */
    int fetching;      /* the refresher's thread is fetching it */
    int early_pending; /* an unknown kid asked for a fetch */
    uint64_t next_ms, last_early_ms;
    uint64_t refreshes_ok, refreshes_failed;
    int64_t fetched_at;
};

struct sc_jwks_refresher {
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    pthread_t thread;
    int started;
    int stop; /* atomic: also aborts a transfer under way */
    unsigned num_workers;
    sc_jwks_notify_cb notify;
    void *data;
    sc_jwks_source_t *sources; /* every source ever made, newest first; only the main thread adds */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t real_s(void)
{
    return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ fetching */

static const char *url_for_messages(const sc_jwks_source_t *src, char *buf, size_t size)
{
    if (src->remote.jwks_uri != NULL)
        return src->remote.jwks_uri;
    snprintf(buf, size, "%s (discovery)", src->issuer);
    return buf;
}

/* One fetch (discovery first when configured). Blocking; no lock held. */
static sc_jwks_set_t *fetch_once(sc_jwks_source_t *src, uint64_t timeout_ms, int64_t *max_age, char *err, size_t errsize)
{
    sc_fetch_options_t opts = {src->remote.ca_file, timeout_ms, &src->refresher->stop};
    const char *url = src->remote.jwks_uri;
    char *discovered = NULL;
    sc_fetch_result_t res;
    sc_jwks_set_t *set = NULL;

    *max_age = -1;
    if (src->remote.discovery) {
        if (sc_jwks_fetch_discover(src->issuer, &opts, &discovered, err, errsize) != 0)
            return NULL;
        url = discovered;
    }
    if (sc_jwks_fetch_https(url, &opts, &res, err, errsize) == 0) {
        set = sc_jwks_set_create(res.body, res.len, url, src->algorithms, err, errsize);
        *max_age = res.max_age_s;
        free(res.body);
    }
    free(discovered);
    return set;
}

/*
 * Seconds until the next scheduled fetch: jwks_refresh_s, shortened by the provider's max-age but
 * never below jwks_min_refresh_s; after a failure, jwks_min_refresh_s.
 */
static uint64_t next_delay_s(const sc_jwks_remote_t *rm, int ok, int64_t max_age)
{
    if (!ok)
        return rm->min_refresh_s;
    if (max_age >= 0 && (uint64_t)max_age < rm->refresh_s)
        return (uint64_t)max_age < rm->min_refresh_s ? rm->min_refresh_s : (uint64_t)max_age;
    return rm->refresh_s;
}

static void write_cache_file(const sc_jwks_source_t *src, const sc_jwks_set_t *set)
{
    char err[512];
    if (src->remote.cache_file != NULL &&
        sc_jwks_cache_file_write(src->remote.cache_file, set->json, set->json_len, err, sizeof(err)) != 0)
        sc_log_warn("jwt issuer %s: cannot write jwks_cache_file: %s", src->issuer, err);
}

/* ------------------------------------------------------------------ sources */

static void source_free(sc_jwks_source_t *src)
{
    if (src == NULL)
        return;
    sc_jwks_set_release(src->current);
    for (unsigned i = 0; src->worker_sets != NULL && i != src->refresher->num_workers; ++i)
        sc_jwks_set_release(src->worker_sets[i]);
    free(src->worker_sets);
    free(src->issuer);
    free(src->remote.jwks_uri);
    free(src->remote.ca_file);
    free(src->remote.cache_file);
    free(src);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *copy = s != NULL ? strdup(s) : NULL;
    if (s != NULL && copy == NULL)
        *failed = 1;
    return copy;
}

static sc_jwks_source_t *source_alloc(sc_jwks_refresher_t *r, const sc_jwt_issuer_t *issuer)
{
    sc_jwks_source_t *src = calloc(1, sizeof(*src));
    int failed = 0;
    if (src == NULL)
        return NULL;
    src->refresher = r;
    src->remote = *issuer->remote;
    src->remote.jwks_uri = dup_or_null(issuer->remote->jwks_uri, &failed);
    src->remote.ca_file = dup_or_null(issuer->remote->ca_file, &failed);
    src->remote.cache_file = dup_or_null(issuer->remote->cache_file, &failed);
    src->issuer = dup_or_null(issuer->issuer, &failed);
    src->algorithms = issuer->algorithms;
    if (failed || (src->worker_sets = calloc(r->num_workers, sizeof(*src->worker_sets))) == NULL) {
        source_free(src);
        return NULL;
    }
    return src;
}

/* The provider could not be reached at start: the last good set from the cache file, if any. */
static sc_jwks_set_t *load_cache_file(sc_jwks_source_t *src, const char *why, char *err, size_t errsize)
{
    char reason[512], buf[512], *json;
    size_t len;
    int64_t mtime;
    const char *cache = src->remote.cache_file, *url = url_for_messages(src, buf, sizeof(buf));

    if (cache == NULL) {
        snprintf(err, errsize, "jwt issuer %s: cannot fetch its keys from %s: %s; and no jwks_cache_file is configured",
                 src->issuer, url, why);
        return NULL;
    }
    if (sc_jwks_cache_file_read(cache, &json, &len, &mtime, reason, sizeof(reason)) != 0) {
        snprintf(err, errsize, "jwt issuer %s: cannot fetch its keys from %s: %s; and jwks_cache_file %s", src->issuer, url, why,
                 reason);
        return NULL;
    }
    sc_jwks_set_t *set = sc_jwks_set_create(json, len, cache, src->algorithms, reason, sizeof(reason));
    free(json);
    if (set == NULL) {
        snprintf(err, errsize, "jwt issuer %s: cannot fetch its keys from %s: %s; and jwks_cache_file: %s", src->issuer, url, why,
                 reason);
        return NULL;
    }
    src->fetched_at = mtime;
    sc_log_warn("jwt issuer %s: cannot fetch its keys from %s: %s; starting from jwks_cache_file %s (%zu key(s), written %lld s "
                "ago); retrying every %llu s",
                src->issuer, url, why, cache, set->num_keys, (long long)(real_s() - mtime),
                (unsigned long long)src->remote.min_refresh_s);
    return set;
}

/* A new source with its first set: fetched now, or else from the cache file. Main thread. */
static sc_jwks_source_t *source_create(sc_jwks_refresher_t *r, const sc_jwt_issuer_t *issuer, char *err, size_t errsize)
{
    char why[512], url[512];
    int64_t max_age;
    sc_jwks_source_t *src = source_alloc(r, issuer);
    if (src == NULL) {
        snprintf(err, errsize, "jwt issuer %s: out of memory", issuer->issuer);
        return NULL;
    }
    sc_jwks_set_t *set = fetch_once(src, src->remote.fetch_timeout_ms, &max_age, why, sizeof(why));
    if (set != NULL) {
        ++src->refreshes_ok;
        src->fetched_at = real_s();
        write_cache_file(src, set);
        sc_log_info("jwt issuer %s: %zu key(s) fetched from %s", src->issuer, set->num_keys,
                    url_for_messages(src, url, sizeof(url)));
    } else {
        ++src->refreshes_failed;
        if ((set = load_cache_file(src, why, err, errsize)) == NULL) {
            source_free(src);
            return NULL;
        }
    }
    src->current = set;
    for (unsigned i = 0; i != r->num_workers; ++i) {
        sc_jwks_set_retain(set);
        src->worker_sets[i] = set;
    }
    src->next_ms = mono_ms() + next_delay_s(&src->remote, src->refreshes_ok != 0, max_age) * 1000;
    return src;
}

/* An active source with the same issuer, key source and allowlist, or NULL. Under the mutex. */
static sc_jwks_source_t *find_reusable(sc_jwks_refresher_t *r, const sc_jwt_issuer_t *issuer)
{
    for (sc_jwks_source_t *src = r->sources; src != NULL; src = src->next)
        if (src->active && strcmp(src->issuer, issuer->issuer) == 0 && src->algorithms == issuer->algorithms &&
            sc_jwks_remote_same_source(&src->remote, issuer->remote))
            return src;
    return NULL;
}

/* ------------------------------------------------------------------ the registry */

sc_jwks_refresher_t *sc_jwks_refresher_create(unsigned num_workers, sc_jwks_notify_cb notify, void *data)
{
    sc_jwks_refresher_t *r = calloc(1, sizeof(*r));
    pthread_condattr_t attr;
    if (r == NULL)
        return NULL;
    r->num_workers = num_workers;
    r->notify = notify;
    r->data = data;
    pthread_mutex_init(&r->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
    return r;
}

/* Makes the chosen sources the active ones and publishes the new ones. */
static void commit(sc_jwks_refresher_t *r, sc_jwt_issuers_t *issuers, sc_jwks_source_t **chosen, const char *created)
{
    pthread_mutex_lock(&r->mutex);
    for (sc_jwks_source_t *src = r->sources; src != NULL; src = src->next)
        src->active = 0;
    for (size_t i = 0; i != issuers->count; ++i) {
        sc_jwks_source_t *src = chosen[i];
        if (src == NULL)
            continue;
        src->active = 1;
        src->remote.refresh_s = issuers->items[i].remote->refresh_s;
        src->remote.min_refresh_s = issuers->items[i].remote->min_refresh_s;
        src->remote.fetch_timeout_ms = issuers->items[i].remote->fetch_timeout_ms;
        if (created[i]) {
            src->next = r->sources;
            r->sources = src;
        }
        issuers->items[i].source = src;
    }
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mutex);
}

int sc_jwks_refresher_attach(sc_jwks_refresher_t *r, sc_jwt_issuers_t *issuers, char *err, size_t errsize)
{
    sc_jwks_source_t **chosen = calloc(issuers->count + 1, sizeof(*chosen));
    char *created = calloc(issuers->count + 1, 1);
    int rc = -1;

    if (chosen == NULL || created == NULL) {
        snprintf(err, errsize, "out of memory");
        goto Exit;
    }
    for (size_t i = 0; i != issuers->count; ++i) {
        const sc_jwt_issuer_t *issuer = &issuers->items[i];
        if (issuer->remote == NULL)
            continue;
        pthread_mutex_lock(&r->mutex);
        chosen[i] = find_reusable(r, issuer);
        pthread_mutex_unlock(&r->mutex);
        if (chosen[i] == NULL) {
            if ((chosen[i] = source_create(r, issuer, err, errsize)) == NULL)
                goto Exit;
            created[i] = 1;
        }
    }
    commit(r, issuers, chosen, created);
    rc = 0;
Exit:
    for (size_t i = 0; rc != 0 && chosen != NULL && created != NULL && i != issuers->count; ++i)
        if (created[i])
            source_free(chosen[i]);
    free(chosen);
    free(created);
    return rc;
}

/* ------------------------------------------------------------------ the thread */

static sc_jwks_source_t *due_source(sc_jwks_refresher_t *r, uint64_t now, uint64_t *earliest)
{
    *earliest = UINT64_MAX;
    for (sc_jwks_source_t *src = r->sources; src != NULL; src = src->next) {
        if (!src->active || src->fetching)
            continue;
        if (src->early_pending || now >= src->next_ms)
            return src;
        if (src->next_ms < *earliest)
            *earliest = src->next_ms;
    }
    return NULL;
}

static void wait_until(sc_jwks_refresher_t *r, uint64_t at_ms)
{
    if (at_ms == UINT64_MAX) {
        pthread_cond_wait(&r->cond, &r->mutex);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(at_ms / 1000), .tv_nsec = (long)(at_ms % 1000) * 1000000};
    pthread_cond_timedwait(&r->cond, &r->mutex, &ts);
}

/* The outcome of one background fetch, under the mutex. Returns the set that became current, or NULL. */
static sc_jwks_set_t *apply(sc_jwks_source_t *src, sc_jwks_set_t *set, int64_t max_age)
{
    src->fetching = 0;
    src->next_ms = mono_ms() + next_delay_s(&src->remote, set != NULL, max_age) * 1000;
    if (set == NULL) {
        ++src->refreshes_failed;
        return NULL;
    }
    ++src->refreshes_ok;
    src->fetched_at = real_s();
    if (sc_jwks_set_same_json(src->current, set->json, set->json_len)) {
        sc_jwks_set_release(set);
        return NULL;
    }
    sc_jwks_set_release(src->current);
    src->current = set;
    return set;
}

static void refresh(sc_jwks_refresher_t *r, sc_jwks_source_t *src)
{
    char why[512], url[512];
    int64_t max_age;
    int early = src->early_pending;
    uint64_t timeout = src->remote.fetch_timeout_ms;
    size_t had = src->current != NULL ? src->current->num_keys : 0;

    src->fetching = 1;
    src->early_pending = 0;
    pthread_mutex_unlock(&r->mutex);
    sc_jwks_set_t *set = fetch_once(src, timeout, &max_age, why, sizeof(why));
    int fetched = set != NULL;
    pthread_mutex_lock(&r->mutex);
    set = apply(src, set, max_age);
    pthread_mutex_unlock(&r->mutex);

    if (!fetched)
        sc_log_warn("jwt issuer %s: %s key refresh failed, the last good set (%zu key(s)) keeps serving: %s", src->issuer,
                    early ? "early" : "scheduled", had, why);
    else if (set != NULL)
        sc_log_info("jwt issuer %s: new key set from %s: %zu key(s) (%s refresh)", src->issuer,
                    url_for_messages(src, url, sizeof(url)), set->num_keys, early ? "early" : "scheduled");
    if (set != NULL)
        write_cache_file(src, set); /* set is current: only this thread replaces it, so it lives */
    r->notify(r->data, src, set);
    pthread_mutex_lock(&r->mutex);
}

static void *run(void *arg)
{
    sc_jwks_refresher_t *r = arg;
    uint64_t earliest;
    pthread_mutex_lock(&r->mutex);
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        sc_jwks_source_t *src = due_source(r, mono_ms(), &earliest);
        if (src == NULL)
            wait_until(r, earliest);
        else
            refresh(r, src);
    }
    pthread_mutex_unlock(&r->mutex);
    return NULL;
}

int sc_jwks_refresher_start(sc_jwks_refresher_t *r)
{
    pthread_mutex_lock(&r->mutex);
    r->started = pthread_create(&r->thread, NULL, run, r) == 0;
    pthread_mutex_unlock(&r->mutex);
    return r->started ? 0 : -1;
}

void sc_jwks_refresher_stop(sc_jwks_refresher_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mutex);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mutex);
    if (r->started)
        pthread_join(r->thread, NULL);
    r->started = 0;
}

void sc_jwks_refresher_free(sc_jwks_refresher_t *r)
{
    if (r == NULL)
        return;
    sc_jwks_refresher_stop(r);
    while (r->sources != NULL) {
        sc_jwks_source_t *src = r->sources;
        r->sources = src->next;
        source_free(src);
    }
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mutex);
    free(r);
}

/* ------------------------------------------------------------------ workers and metrics */

const sc_jwks_set_t *sc_jwks_refresher_source_current(const sc_jwks_source_t *src, unsigned index)
{
    return src->worker_sets[index];
}

void sc_jwks_refresher_source_use(sc_jwks_source_t *src, unsigned index, sc_jwks_set_t *set)
{
    sc_jwks_set_retain(set);
    sc_jwks_set_release(src->worker_sets[index]);
    src->worker_sets[index] = set;
}

int sc_jwks_refresher_source_request_refresh(sc_jwks_source_t *src)
{
    sc_jwks_refresher_t *r = src->refresher;
    int rc = 0;
    pthread_mutex_lock(&r->mutex);
    uint64_t now = mono_ms();
    if (!src->active || !r->started) {
        rc = 0;
    } else if (src->fetching || src->early_pending) {
        rc = 1; /* join the fetch under way */
    } else if (src->last_early_ms == 0 || now - src->last_early_ms >= src->remote.min_refresh_s * 1000) {
        src->early_pending = 1;
        src->last_early_ms = now;
        pthread_cond_signal(&r->cond);
        rc = 1;
    }
    pthread_mutex_unlock(&r->mutex);
    return rc;
}

size_t sc_jwks_refresher_stats(sc_jwks_refresher_t *r, sc_jwks_source_stats_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mutex);
    for (sc_jwks_source_t *src = r->sources; src != NULL && n != max; src = src->next) {
        if (!src->active)
            continue;
        out[n++] = (sc_jwks_source_stats_t){src->issuer, src->refreshes_ok, src->refreshes_failed,
                                            src->current != NULL ? src->current->num_keys : 0, src->fetched_at};
    }
    pthread_mutex_unlock(&r->mutex);
    return n;
}
