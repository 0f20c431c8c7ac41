/*
 * policy_load: reads a policy file (YAML) into an sc_policy_t, refusing anything it does not
 * understand. Start-up and reload only.
 */
#ifndef SC_POLICY_LOAD_H
#define SC_POLICY_LOAD_H

#include <stddef.h>

#include "policy.h"

/**
 * Parses a policy from memory; `filename` names it in error messages. Returns a policy owned by
 * the caller (sc_policy_free), or NULL with "file:line: key: reason" in err.
 */
sc_policy_t *sc_policy_load_string(const char *text, size_t len, const char *filename, char *err, size_t errsize);

sc_policy_t *sc_policy_load_file(const char *path, char *err, size_t errsize);

#endif
