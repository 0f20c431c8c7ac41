#include "jwks_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_kids(const sc_jwks_set_t *set, const char *name, char *err, size_t errsize)
{
    for (size_t i = 0; i != set->num_keys; ++i)
        for (size_t j = 0; set->keys[i].kid != NULL && j != i; ++j)
            if (set->keys[j].kid != NULL && strcmp(set->keys[i].kid, set->keys[j].kid) == 0) {
                snprintf(err, errsize, "%s: kid \"%.80s\" names two keys", name, set->keys[i].kid);
                return -1;
            }
    return 0;
}

sc_jwks_set_t *sc_jwks_set_create(const char *json, size_t len, const char *name, unsigned allowed, char *err, size_t errsize)
{
    sc_jwks_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL || (set->json = malloc(len + 1)) == NULL) {
        snprintf(err, errsize, "%s: out of memory", name);
        goto Error;
    }
    memcpy(set->json, json, len);
    set->json[len] = '\0';
    set->json_len = len;
    set->refcount = 1;
    int added = sc_jwks_parse(json, len, name, allowed, &set->keys, &set->num_keys, err, errsize);
    if (added < 0)
        goto Error;
    if (added == 0) {
        snprintf(err, errsize, "%s: holds no usable signature key", name);
        goto Error;
    }
    if (check_kids(set, name, err, errsize) != 0)
        goto Error;
    return set;
Error:
    sc_jwks_set_release(set);
    return NULL;
}

void sc_jwks_set_retain(sc_jwks_set_t *set)
{
    __atomic_add_fetch(&set->refcount, 1, __ATOMIC_RELAXED);
}

void sc_jwks_set_release(sc_jwks_set_t *set)
{
    if (set == NULL || __atomic_sub_fetch(&set->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sc_jwks_free(set->keys, set->num_keys);
    free(set->json);
    free(set);
}

int sc_jwks_set_same_json(const sc_jwks_set_t *set, const char *json, size_t len)
{
    return set != NULL && set->json_len == len && memcmp(set->json, json, len) == 0;
}
