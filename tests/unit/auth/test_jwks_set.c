/* Fetched key sets: only a usable JWK Set becomes one (at least one signature key, no kid twice),
 * it is reference-counted, and it remembers the bytes it came from; the cache file is replaced
 * atomically with mode 0644. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_util.h"
#include "jwks_cache_file.h"
#include "jwks_set.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define RS256 SC_JWS_ALG_BIT(SC_JWS_RS256)

static char *fixture(const char *name, size_t *len)
{
    char path[512], err[256], *text;
    snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
    assert_int_equal(sc_file_util_read(path, 1 << 20, &text, len, err, sizeof(err)), 0);
    return text;
}

static void test_usable_set(void **state)
{
    (void)state;
    char err[512] = "";
    size_t len;
    char *json = fixture("rs256.jwks.json", &len);
    sc_jwks_set_t *set = sc_jwks_set_create(json, len, "https://idp.test/keys", RS256, err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->num_keys, 1);
    assert_true(sc_jwks_set_same_json(set, json, len));
    assert_false(sc_jwks_set_same_json(set, json, len - 1));
    assert_false(sc_jwks_set_same_json(NULL, json, len));
    sc_jwks_set_retain(set);
    sc_jwks_set_release(set);
    assert_int_equal(set->refcount, 1);
    sc_jwks_set_release(set);
    sc_jwks_set_release(NULL);
    free(json);
}

static void test_unusable_sets(void **state)
{
    (void)state;
    char err[512] = "";
    size_t len;
    assert_null(sc_jwks_set_create("{\"keys\":[]}", 11, "https://idp.test/keys", RS256, err, sizeof(err)));
    assert_string_equal(err, "https://idp.test/keys: holds no usable signature key");
    assert_null(sc_jwks_set_create("<html>", 6, "https://idp.test/keys", RS256, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid JSON"));
    char *json = fixture("enc-only.jwks.json", &len);
    assert_null(sc_jwks_set_create(json, len, "https://idp.test/keys", RS256, err, sizeof(err)));
    free(json);
    /* one key twice under its kid: which one a token means would be the token's choice */
    json = fixture("rs256.jwks.json", &len);
    const char *open = strchr(json, '['), *close = strrchr(json, ']');
    size_t klen = (size_t)(close - open - 1), dlen = (size_t)(open - json) + 2 * klen + 4 + strlen(close);
    char *doubled = malloc(dlen + 1);
    snprintf(doubled, dlen + 1, "%.*s%.*s,%.*s%s", (int)(open - json + 1), json, (int)klen, open + 1, (int)klen, open + 1, close);
    assert_null(sc_jwks_set_create(doubled, strlen(doubled), "https://idp.test/keys", RS256, err, sizeof(err)));
    assert_non_null(strstr(err, "names two keys"));
    free(doubled);
    free(json);
}

static void test_cache_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/sidecar-jwks-XXXXXX", path[64], err[512] = "", *back;
    size_t len;
    int64_t mtime;
    struct stat st;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/keys.json", dir);
    assert_int_equal(sc_jwks_cache_file_write(path, "{\"keys\":[1]}", 12, err, sizeof(err)), 0);
    assert_int_equal(sc_jwks_cache_file_write(path, "{\"keys\":[2]}", 12, err, sizeof(err)), 0);
    assert_int_equal(sc_jwks_cache_file_read(path, &back, &len, &mtime, err, sizeof(err)), 0);
    assert_string_equal(back, "{\"keys\":[2]}");
    assert_true(mtime > 0);
    free(back);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    unlink(path);
    rmdir(dir);
    /* a directory that is not there: an error, and nothing half-written */
    assert_int_equal(sc_jwks_cache_file_write("/nonexistent-dir/keys.json", "{}", 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/keys.json"));
    assert_int_equal(sc_jwks_cache_file_read("/nonexistent-dir/keys.json", &back, &len, &mtime, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usable_set),
        cmocka_unit_test(test_unusable_sets),
        cmocka_unit_test(test_cache_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
