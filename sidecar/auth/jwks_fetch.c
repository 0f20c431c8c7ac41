#define _GNU_SOURCE /* strcasestr */
#include "jwks_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "version.h"

#define CONNECT_TIMEOUT_MS 3000
#define WELL_KNOWN "/.well-known/openid-configuration"

typedef struct transfer {
    char *buf;
    size_t len;
    int too_large;
    int64_t max_age_s;
    const int *cancel;
} transfer_t;

int sc_jwks_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
    transfer_t *t = p;
    size_t n = size * nmemb;
    if (n > SC_FETCH_MAX_BYTES - t->len) {
        t->too_large = 1;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(t->buf, t->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + t->len, data, n);
    t->buf = grown;
    t->len += n;
    t->buf[t->len] = '\0';
    return n;
}

/* Cache-Control: max-age=N (of the final response: a new status line starts over). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
    transfer_t *t = p;
    size_t n = size * nmemb;
    char line[512];
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        t->max_age_s = -1;
    if (n >= sizeof(line) || n < 14 || strncasecmp(data, "cache-control:", 14) != 0)
        return n;
    memcpy(line, data, n);
    line[n] = '\0';
    for (char *p2 = line + 14; (p2 = strcasestr(p2, "max-age")) != NULL; p2 += 7) {
        char *v = p2 + 7, *end;
        while (*v == ' ')
            ++v;
        if (*v++ != '=')
            continue;
        while (*v == ' ' || *v == '"')
            ++v;
        long long age = strtoll(v, &end, 10);
        if (end != v && age >= 0)
            t->max_age_s = age;
        break;
    }
    if (strcasestr(line + 14, "no-store") != NULL || strcasestr(line + 14, "no-cache") != NULL)
        t->max_age_s = 0;
    return n;
}

static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    transfer_t *t = p;
    return t->cancel != NULL && __atomic_load_n(t->cancel, __ATOMIC_ACQUIRE) != 0;
}

static void setup(CURL *curl, const char *url, const sc_fetch_options_t *opts, transfer_t *t)
{
    long timeout = (long)opts->timeout_ms;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (opts->ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, opts->ca_file);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout < CONNECT_TIMEOUT_MS ? timeout : (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SC_FETCH_MAX_BYTES);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "policy-sidecar/" SC_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

int sc_jwks_fetch_https(const char *url, const sc_fetch_options_t *opts, sc_fetch_result_t *out, char *err, size_t errsize)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    transfer_t t = {.max_age_s = -1, .cancel = opts->cancel};
    long status = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (strncasecmp(url, "https://", 8) != 0) {
        snprintf(err, errsize, "GET %s: not an https:// URL", url);
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, errsize, "GET %s: out of memory", url);
        return -1;
    }
    setup(curl, url, opts, &t);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode res = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (t.too_large || res == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errsize, "GET %s: the answer exceeds %d bytes", url, SC_FETCH_MAX_BYTES);
    } else if (res != CURLE_OK) {
        snprintf(err, errsize, "GET %s: %s", url, curl_err[0] != '\0' ? curl_err : curl_easy_strerror(res));
    } else if (status >= 300 && status < 400) {
        snprintf(err, errsize, "GET %s: HTTP %ld: redirects are refused (configure the final URL)", url, status);
    } else if (status != 200) {
        snprintf(err, errsize, "GET %s: HTTP %ld", url, status);
    } else {
        out->body = t.buf != NULL ? t.buf : strdup("");
        out->len = t.len;
        out->max_age_s = t.max_age_s;
        t.buf = NULL;
        rc = out->body != NULL ? 0 : -1;
    }
    free(t.buf);
    curl_easy_cleanup(curl);
    return rc;
}

static char *discovery_url(const char *issuer)
{
    size_t len = strlen(issuer);
    while (len != 0 && issuer[len - 1] == '/') /* OpenID Connect Discovery 1.0, section 4 */
        --len;
    char *url = malloc(len + sizeof(WELL_KNOWN));
    if (url != NULL) {
        memcpy(url, issuer, len);
        memcpy(url + len, WELL_KNOWN, sizeof(WELL_KNOWN));
    }
    return url;
}

int sc_jwks_fetch_discover(const char *issuer, const sc_fetch_options_t *opts, char **jwks_uri, char *err, size_t errsize)
{
    sc_fetch_result_t doc;
    char *url = discovery_url(issuer);
    json_t *root = NULL;
    int rc = -1;

    *jwks_uri = NULL;
    if (url == NULL) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (sc_jwks_fetch_https(url, opts, &doc, err, errsize) != 0)
        goto Exit;
    root = json_loadb(doc.body, doc.len, JSON_REJECT_DUPLICATES, NULL);
    free(doc.body);
    const json_t *iss = json_object_get(root, "issuer"), *uri = json_object_get(root, "jwks_uri");
    if (!json_is_object(root))
        snprintf(err, errsize, "%s: not a JSON object", url);
    else if (!json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0)
        snprintf(err, errsize, "%s: its \"issuer\" is not \"%s\" (OpenID Connect Discovery requires them to be equal)", url,
                 issuer);
    else if (!json_is_string(uri) || strncasecmp(json_string_value(uri), "https://", 8) != 0)
        snprintf(err, errsize, "%s: \"jwks_uri\" is missing or not an https:// URL", url);
    else if ((*jwks_uri = strdup(json_string_value(uri))) == NULL)
        snprintf(err, errsize, "out of memory");
    else
        rc = 0;
Exit:
    json_decref(root);
    free(url);
    return rc;
}
