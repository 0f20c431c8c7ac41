#include "words.h"

#include <stdlib.h>
#include <string.h>

int sc_words_contain(char *const *words, size_t count, const char *word, size_t len)
{
    for (size_t i = 0; i != count; ++i)
        if (strlen(words[i]) == len && memcmp(words[i], word, len) == 0)
            return 1;
    return 0;
}

void sc_words_free(char **words, size_t count)
{
    if (words == NULL)
        return;
    for (size_t i = 0; i != count; ++i)
        free(words[i]);
    free(words);
}

int sc_words_split(const char *s, size_t len, char ***out, size_t *count)
{
    char **words = NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && (s[i] == ' ' || s[i] == ',' || s[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < len && s[i] != ' ' && s[i] != ',' && s[i] != '\t')
            ++i;
        if (i == start || sc_words_contain(words, n, s + start, i - start))
            continue;
        char **grown = realloc(words, (n + 1) * sizeof(*grown));
        if (grown == NULL || (grown[n] = strndup(s + start, i - start)) == NULL) {
            sc_words_free(grown != NULL ? grown : words, n);
            return -1;
        }
        words = grown;
        ++n;
    }
    *out = words;
    *count = n;
    return 0;
}
