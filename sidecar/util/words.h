/*
 * words: the space-separated lists of the records (scopes, services, issuers) as arrays of
 * strings. Lists are short (a record's handful of scopes): lookups are linear.
 */
#ifndef SC_WORDS_H
#define SC_WORDS_H

#include <stddef.h>

/**
 * 1 when `word` is one of the words (exact comparison).
 */
int sc_words_contain(char *const *words, size_t count, const char *word, size_t len);

/**
 * Splits a space-separated list into a heap array of heap strings (duplicates kept once).
 * Returns 0 or -1 when out of memory.
 */
int sc_words_split(const char *s, size_t len, char ***out, size_t *count);

void sc_words_free(char **words, size_t count);

#endif
