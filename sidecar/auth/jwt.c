#include "jwt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "text.h"
#include "base64url.h"

/* NumericDates are clamped to this range so that adding the leeway can never overflow. */
#define DATE_LIMIT ((int64_t)1 << 62)

static const char *const reasons[SC_JWT_RESULT_COUNT] = {
    [SC_JWT_OK] = "ok",
    [SC_JWT_TOO_LARGE] = "token_too_large",
    [SC_JWT_MALFORMED] = "malformed_token",
    [SC_JWT_BAD_TYPE] = "bad_token_type",
    [SC_JWT_UNSUPPORTED_CRIT] = "unsupported_crit",
    [SC_JWT_ALG_NOT_ALLOWED] = "algorithm_not_allowed",
    [SC_JWT_UNKNOWN_ISSUER] = "unknown_issuer",
    [SC_JWT_UNKNOWN_KEY] = "unknown_key",
    [SC_JWT_BAD_SIGNATURE] = "bad_signature",
    [SC_JWT_MISSING_CLAIM] = "missing_claim",
    [SC_JWT_EXPIRED] = "token_expired",
    [SC_JWT_NOT_YET_VALID] = "token_not_yet_valid",
    [SC_JWT_AUDIENCE_MISMATCH] = "audience_mismatch",
    [SC_JWT_TOKEN_USE_MISMATCH] = "token_use_mismatch",
    [SC_JWT_INTERNAL_ERROR] = "internal_error",
};

/* "typ" values for a JWT access token; media types compare case-insensitively (RFC 7515 4.1.9). */
static const char *const accepted_types[] = {"JWT", "at+jwt", "application/at+jwt", NULL};

const char *sc_jwt_result_reason(sc_jwt_result_t result)
{
    return (unsigned)result < SC_JWT_RESULT_COUNT ? reasons[result] : "internal_error";
}

const sc_jwt_issuer_t *sc_jwt_issuers_find(const sc_jwt_issuers_t *issuers, const char *iss, size_t len)
{
    for (size_t i = 0; i != issuers->count; ++i) {
        const char *name = issuers->items[i].issuer;
        if (strlen(name) == len && memcmp(name, iss, len) == 0)
            return &issuers->items[i];
    }
    return NULL;
}

/* ---- claims ----------------------------------------------------------------------------------- */

void sc_jwt_claims_free(sc_jwt_claims_t *claims)
{
    if (claims == NULL)
        return;
    free(claims->subject);
    free(claims->tenant);
    free(claims->scopes);
    memset(claims, 0, sizeof(*claims));
}

/*
 * Scopes are kept in one allocation: the array of pointers, a NULL, then the strings they point
 * to. The size of that block, for a copy, is computed from the strings.
 */
static char **scopes_alloc(size_t count, size_t bytes)
{
    return malloc((count + 1) * sizeof(char *) + bytes);
}

int sc_jwt_claims_copy(sc_jwt_claims_t *dst, const sc_jwt_claims_t *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->issuer = src->issuer;
    dst->exp = src->exp;
    dst->audiences = src->audiences;
    if ((src->subject != NULL && (dst->subject = strdup(src->subject)) == NULL) ||
        (src->tenant != NULL && (dst->tenant = strdup(src->tenant)) == NULL))
        goto NoMemory;
    if (src->scopes != NULL) {
        size_t bytes = 0;
        for (size_t i = 0; i != src->num_scopes; ++i)
            bytes += strlen(src->scopes[i]) + 1;
        if ((dst->scopes = scopes_alloc(src->num_scopes, bytes)) == NULL)
            goto NoMemory;
        char *p = (char *)(dst->scopes + src->num_scopes + 1);
        for (size_t i = 0; i != src->num_scopes; ++i) {
            size_t n = strlen(src->scopes[i]) + 1;
            dst->scopes[i] = memcpy(p, src->scopes[i], n);
            p += n;
        }
        dst->scopes[src->num_scopes] = NULL;
        dst->num_scopes = src->num_scopes;
    }
    return 0;
NoMemory:
    sc_jwt_claims_free(dst);
    return -1;
}

/*
 * Splits the space-separated words of s into the block (when ptrs is not NULL), counting them
 * and their bytes either way. Returns -1 on a control character.
 */
static int split_words(const char *s, size_t len, char **ptrs, char **buf, size_t *count, size_t *bytes)
{
    for (size_t i = 0; i != len;) {
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        size_t start = i;
        while (i != len && s[i] != ' ')
            if (sc_text_is_control((unsigned char)s[i++])) /* claims may become headers */
                return -1;
        size_t n = i - start;
        if (ptrs != NULL) {
            ptrs[*count] = memcpy(*buf, s + start, n);
            (*buf)[n] = '\0';
            *buf += n + 1;
        }
        ++*count;
        *bytes += n + 1;
    }
    return 0;
}

/* One pass over a "scope"/"scp" value: a string, or an array of strings. */
static int scope_pass(const json_t *v, char **ptrs, char *buf, size_t *count, size_t *bytes)
{
    *count = *bytes = 0;
    if (json_is_string(v))
        return split_words(json_string_value(v), json_string_length(v), ptrs, &buf, count, bytes);
    if (!json_is_array(v))
        return -1;
    for (size_t i = 0; i != json_array_size(v); ++i) {
        const json_t *item = json_array_get(v, i);
        if (!json_is_string(item) || split_words(json_string_value(item), json_string_length(item), ptrs, &buf, count, bytes) != 0)
            return -1;
    }
    return 0;
}

/* The scope claims an issuer reads: its scopes_claims, or by default "scope", else "scp". */
static size_t scope_sources(const sc_jwt_issuer_t *issuer, const json_t *payload, const json_t **v)
{
    size_t n = 0;
    if (issuer->scopes_claims == NULL) {
        const json_t *scope = json_object_get(payload, "scope");
        v[0] = scope != NULL ? scope : json_object_get(payload, "scp");
        return v[0] != NULL;
    }
    for (size_t i = 0; i != issuer->num_scopes_claims && n != SC_JWT_MAX_SCOPES_CLAIMS; ++i)
        if ((v[n] = json_object_get(payload, issuer->scopes_claims[i])) != NULL)
            ++n;
    return n;
}

/* Every claim of v, each a space-separated string or an array of them, into one scopes block. */
static sc_jwt_result_t read_scopes(const sc_jwt_issuer_t *issuer, const json_t *payload, sc_jwt_claims_t *out)
{
    const json_t *v[SC_JWT_MAX_SCOPES_CLAIMS];
    size_t n = scope_sources(issuer, payload, v), count = 0, bytes = 0, c, b;
    if (n == 0)
        return SC_JWT_OK;
    /* "scope" is a string (RFC 8693 4.2); by default only "scp" may also be an array */
    if (issuer->scopes_claims == NULL && v[0] == json_object_get(payload, "scope") && !json_is_string(v[0]))
        return SC_JWT_MALFORMED;
    for (size_t i = 0; i != n; ++i) {
        if (scope_pass(v[i], NULL, NULL, &c, &b) != 0)
            return SC_JWT_MALFORMED;
        count += c;
        bytes += b;
    }
    if ((out->scopes = scopes_alloc(count, bytes)) == NULL)
        return SC_JWT_INTERNAL_ERROR;
    char **ptrs = out->scopes, *buf = (char *)(out->scopes + count + 1);
    for (size_t i = 0; i != n; ++i) {
        scope_pass(v[i], ptrs, buf, &c, &b);
        ptrs += c;
        buf += b;
    }
    out->scopes[count] = NULL;
    out->num_scopes = count;
    return SC_JWT_OK;
}

/* An optional string claim copied to *out; control characters are refused (it may become a header). */
static sc_jwt_result_t read_string(const json_t *payload, const char *name, char **out)
{
    const json_t *v = json_object_get(payload, name);
    if (v == NULL)
        return SC_JWT_OK;
    if (!json_is_string(v))
        return SC_JWT_MALFORMED;
    const char *s = json_string_value(v);
    if (sc_text_has_control(s, json_string_length(v)))
        return SC_JWT_MALFORMED;
    if ((*out = strdup(s)) == NULL)
        return SC_JWT_INTERNAL_ERROR;
    return SC_JWT_OK;
}

/*
 * A NumericDate (RFC 7519 2): an integer or a real number of seconds. Reals are rounded towards
 * the stricter side: down for exp, up for nbf and iat. Returns 0, 1 when absent, -1 when not a
 * number.
 */
static int read_date(const json_t *payload, const char *name, int round_up, int64_t *out)
{
    const json_t *v = json_object_get(payload, name);
    if (v == NULL)
        return 1;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *out = i > DATE_LIMIT ? DATE_LIMIT : i < -DATE_LIMIT ? -DATE_LIMIT : (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= (double)DATE_LIMIT) {
            *out = DATE_LIMIT;
        } else if (d <= -(double)DATE_LIMIT) {
            *out = -DATE_LIMIT;
        } else {
            int64_t t = (int64_t)d; /* towards zero */
            if (round_up && d > (double)t)
                ++t;
            else if (!round_up && d < (double)t)
                --t;
            *out = t;
        }
        return 0;
    }
    return -1;
}

static sc_jwt_result_t check_audience(const sc_jwt_issuer_t *issuer, const json_t *payload, uint64_t *matched)
{
    const json_t *aud = json_object_get(payload, "aud");
    size_t n = 1;
    if (aud == NULL)
        return SC_JWT_MISSING_CLAIM;
    if (json_is_array(aud))
        n = json_array_size(aud);
    else if (!json_is_string(aud))
        return SC_JWT_MALFORMED;
    sc_jwt_result_t result = SC_JWT_AUDIENCE_MISMATCH; /* also when the issuer lists no audience */
    for (size_t i = 0; i != n; ++i) {
        const json_t *item = json_is_array(aud) ? json_array_get(aud, i) : aud;
        if (!json_is_string(item))
            return SC_JWT_MALFORMED;
        for (size_t j = 0; j != issuer->num_audiences; ++j)
            if (strlen(issuer->audiences[j]) == json_string_length(item) &&
                memcmp(issuer->audiences[j], json_string_value(item), json_string_length(item)) == 0) {
                result = SC_JWT_OK;
                *matched |= (uint64_t)1 << j;
            }
    }
    return result;
}

static int is_in(char *const *list, size_t n, const json_t *s)
{
    for (size_t i = 0; i != n; ++i)
        if (strlen(list[i]) == json_string_length(s) && memcmp(list[i], json_string_value(s), json_string_length(s)) == 0)
            return 1;
    return 0;
}

/*
 * Who the token is for. "token_use" (Cognito), where present, must be a kind the issuer accepts
 * and says which kind the token is; without it, a token with "aud" is an ID token (or any JWT
 * with an audience) and one without is an access token. An ID token needs "aud" in audiences, an
 * access token "client_id" in client_ids: an issuer with no client_ids accepts no access token.
 */
static sc_jwt_result_t check_recipient(const sc_jwt_issuer_t *issuer, const json_t *payload, uint64_t *matched)
{
    const json_t *use = json_object_get(payload, "token_use"), *client_id;
    int access;
    if (use != NULL && !json_is_string(use))
        return SC_JWT_MALFORMED;
    if (use != NULL && strcmp(json_string_value(use), "access") == 0)
        access = 1;
    else if (use != NULL && strcmp(json_string_value(use), "id") == 0)
        access = 0;
    else if (use != NULL)
        return SC_JWT_TOKEN_USE_MISMATCH;
    else if (issuer->token_use != SC_JWT_TOKEN_USE_ANY)
        access = issuer->token_use == SC_JWT_TOKEN_USE_ACCESS;
    else
        access = json_object_get(payload, "aud") == NULL;
    if ((issuer->token_use == SC_JWT_TOKEN_USE_ID && access) || (issuer->token_use == SC_JWT_TOKEN_USE_ACCESS && !access))
        return SC_JWT_TOKEN_USE_MISMATCH;
    if (!access)
        return check_audience(issuer, payload, matched);
    if ((client_id = json_object_get(payload, "client_id")) == NULL)
        return SC_JWT_MISSING_CLAIM;
    if (!json_is_string(client_id))
        return SC_JWT_MALFORMED;
    if (!is_in(issuer->client_ids, issuer->num_client_ids, client_id))
        return SC_JWT_AUDIENCE_MISMATCH;
    /* an access token has no "aud": its client_id stands for it where a policy binds audiences */
    for (size_t j = 0; j != issuer->num_audiences; ++j)
        if (is_in(&issuer->audiences[j], 1, client_id))
            *matched |= (uint64_t)1 << j;
    return SC_JWT_OK;
}

/* The claims of a token whose signature has been verified. */
static sc_jwt_result_t read_claims(const sc_jwt_issuer_t *issuer, const json_t *payload, int64_t now, sc_jwt_claims_t *out)
{
    int64_t exp, nbf, iat, leeway = issuer->leeway_s;
    int has_nbf, has_iat, rc;
    sc_jwt_result_t result;

    if ((rc = read_date(payload, "exp", 0, &exp)) != 0)
        return rc > 0 ? SC_JWT_MISSING_CLAIM : SC_JWT_MALFORMED;
    if ((has_nbf = read_date(payload, "nbf", 1, &nbf)) < 0 || (has_iat = read_date(payload, "iat", 1, &iat)) < 0)
        return SC_JWT_MALFORMED;
    now = now > DATE_LIMIT ? DATE_LIMIT : now < -DATE_LIMIT ? -DATE_LIMIT : now;
    if (now >= exp + leeway)
        return SC_JWT_EXPIRED;
    if ((has_nbf == 0 && now + leeway < nbf) || (has_iat == 0 && now + leeway < iat))
        return SC_JWT_NOT_YET_VALID;
    if ((result = check_recipient(issuer, payload, &out->audiences)) != SC_JWT_OK)
        return result;
    out->issuer = issuer;
    out->exp = exp;
    if ((result = read_string(payload, "sub", &out->subject)) != SC_JWT_OK ||
        (result = read_string(payload, issuer->tenant_claim, &out->tenant)) != SC_JWT_OK ||
        (result = read_scopes(issuer, payload, out)) != SC_JWT_OK)
        return result;
    return SC_JWT_OK;
}

/* ---- the token -------------------------------------------------------------------------------- */

/* Decodes one segment into buf at *used and parses it as a JSON object. */
static json_t *decode_json_segment(const char *seg, size_t len, unsigned char *buf, size_t *used)
{
    size_t n;
    if (len == 0 || sc_base64url_decode(seg, len, buf + *used, SC_JWT_MAX_TOKEN_LEN - *used, &n) != 0)
        return NULL;
    json_t *v = json_loadb((const char *)buf + *used, n, JSON_REJECT_DUPLICATES, NULL);
    *used += n;
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static sc_jwt_result_t check_header(const json_t *header, sc_jws_alg_t *alg, const char **kid, size_t *kid_len)
{
    const json_t *v = json_object_get(header, "alg");
    if (!json_is_string(v))
        return SC_JWT_MALFORMED;
    /* Exact and case-sensitive: "none", "None", "rs256" are all unknown, hence refused. */
    if ((*alg = sc_jwks_alg_from_name(json_string_value(v), json_string_length(v))) == SC_JWS_ALG_INVALID)
        return SC_JWT_ALG_NOT_ALLOWED;
    if ((v = json_object_get(header, "typ")) != NULL) {
        const char *const *t;
        if (!json_is_string(v))
            return SC_JWT_BAD_TYPE;
        for (t = accepted_types; *t != NULL; ++t)
            if (strcasecmp(*t, json_string_value(v)) == 0 && strlen(*t) == json_string_length(v))
                break;
        if (*t == NULL)
            return SC_JWT_BAD_TYPE;
    }
    if (json_object_get(header, "crit") != NULL)
        return SC_JWT_UNSUPPORTED_CRIT;
    *kid = NULL;
    if ((v = json_object_get(header, "kid")) != NULL) {
        if (!json_is_string(v))
            return SC_JWT_MALFORMED;
        *kid = json_string_value(v);
        *kid_len = json_string_length(v);
    }
    /* "jwk", "jku", "x5u", "x5c": keys come from the configuration only, never from the token. */
    return SC_JWT_OK;
}

/*
 * Looks for the key in one array: with a kid, the key with that kid; without, the only key bound
 * to alg. Returns 1 found, 0 not found, -1 ambiguous.
 */
static int find_key(const sc_jwk_t *keys, size_t n, sc_jws_alg_t alg, const char *kid, size_t kid_len, const sc_jwk_t **found)
{
    for (size_t i = 0; i != n; ++i) {
        const sc_jwk_t *key = &keys[i];
        if (kid != NULL) {
            if (key->kid != NULL && strlen(key->kid) == kid_len && memcmp(key->kid, kid, kid_len) == 0) {
                *found = key;
                return 1;
            }
        } else if (key->alg == alg) {
            if (*found != NULL)
                return -1; /* ambiguous: a kid is needed */
            *found = key;
        }
    }
    return *found != NULL;
}

/*
 * The key for the header's kid and alg, among the issuer's own keys and then the fetched ones.
 * With a kid: the key with that kid, which must be bound to alg. Without: the only key bound to
 * alg.
 */
static sc_jwt_result_t choose_key(const sc_jwt_issuer_t *issuer, const sc_jwt_keyring_t *fetched, sc_jws_alg_t alg, const char *kid,
                                  size_t kid_len, const sc_jwk_t **out)
{
    const sc_jwk_t *found = NULL, *more = NULL;
    size_t num_more = 0;
    if ((issuer->algorithms & SC_JWS_ALG_BIT(alg)) == 0)
        return SC_JWT_ALG_NOT_ALLOWED;
    if (fetched != NULL)
        more = fetched->keys(fetched->data, issuer, &num_more);
    int rc = find_key(issuer->keys, issuer->num_keys, alg, kid, kid_len, &found);
    if (rc == 0 || (rc > 0 && kid == NULL))
        rc = find_key(more, num_more, alg, kid, kid_len, &found);
    if (rc <= 0)
        return SC_JWT_UNKNOWN_KEY;
    /* The key's own algorithm, not the token's choice: this defeats algorithm confusion. */
    if (found->alg != alg)
        return SC_JWT_ALG_NOT_ALLOWED;
    *out = found;
    return SC_JWT_OK;
}

sc_jwt_result_t sc_jwt_verify(const sc_jwt_issuers_t *issuers, const char *token, size_t len, int64_t now, sc_jwt_claims_t *out)
{
    return sc_jwt_verify_ex(issuers, NULL, token, len, now, out, NULL);
}

sc_jwt_result_t sc_jwt_verify_ex(const sc_jwt_issuers_t *issuers, const sc_jwt_keyring_t *fetched, const char *token, size_t len,
                                 int64_t now, sc_jwt_claims_t *out, const sc_jwt_issuer_t **issuer_out)
{
    unsigned char buf[SC_JWT_MAX_TOKEN_LEN]; /* decoded segments: together, at most 3/4 of the token */
    size_t used = 0, sig_len, kid_len = 0;
    json_t *header = NULL, *payload = NULL;
    const char *dot1, *dot2, *kid;
    const sc_jwt_issuer_t *issuer;
    const sc_jwk_t *key;
    sc_jws_alg_t alg;
    sc_jwt_result_t result;

    memset(out, 0, sizeof(*out));
    if (issuer_out != NULL)
        *issuer_out = NULL;
    if (len > SC_JWT_MAX_TOKEN_LEN)
        return SC_JWT_TOO_LARGE;
    if (len == 0 || (dot1 = memchr(token, '.', len)) == NULL ||
        (dot2 = memchr(dot1 + 1, '.', (size_t)(token + len - dot1 - 1))) == NULL ||
        memchr(dot2 + 1, '.', (size_t)(token + len - dot2 - 1)) != NULL)
        return SC_JWT_MALFORMED;

    if ((header = decode_json_segment(token, (size_t)(dot1 - token), buf, &used)) == NULL) {
        result = SC_JWT_MALFORMED;
        goto Exit;
    }
    if ((result = check_header(header, &alg, &kid, &kid_len)) != SC_JWT_OK)
        goto Exit;
    if ((payload = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, &used)) == NULL) {
        result = SC_JWT_MALFORMED;
        goto Exit;
    }

    /* "iss" only chooses whose keys to try: it is not trusted until the signature verifies. */
    const json_t *iss = json_object_get(payload, "iss");
    if (iss == NULL) {
        result = SC_JWT_MISSING_CLAIM;
        goto Exit;
    }
    if (!json_is_string(iss)) {
        result = SC_JWT_MALFORMED;
        goto Exit;
    }
    if ((issuer = sc_jwt_issuers_find(issuers, json_string_value(iss), json_string_length(iss))) == NULL) {
        result = SC_JWT_UNKNOWN_ISSUER;
        goto Exit;
    }
    if (issuer_out != NULL)
        *issuer_out = issuer;
    if ((result = choose_key(issuer, fetched, alg, kid, kid_len, &key)) != SC_JWT_OK)
        goto Exit;

    if (sc_base64url_decode(dot2 + 1, (size_t)(token + len - dot2 - 1), buf + used, sizeof(buf) - used, &sig_len) != 0) {
        result = SC_JWT_MALFORMED;
        goto Exit;
    }
    switch (sc_jwks_key_verify(key, (const unsigned char *)token, (size_t)(dot2 - token), buf + used, sig_len)) {
    case 1:
        break;
    case 0:
        result = SC_JWT_BAD_SIGNATURE;
        goto Exit;
    default:
        result = SC_JWT_INTERNAL_ERROR;
        goto Exit;
    }

    result = read_claims(issuer, payload, now, out);
Exit:
    if (result != SC_JWT_OK)
        sc_jwt_claims_free(out);
    json_decref(header);
    json_decref(payload);
    return result;
}
