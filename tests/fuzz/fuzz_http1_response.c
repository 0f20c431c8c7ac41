/* libFuzzer target: a backend's response as upstream.c reads it (http1_parse.h): the head and
 * its framing, then a chunked body decoded in place in pieces, with the contract checked: a head
 * is never longer than the input, its framing is one of the four and consistent with the status,
 * conflicting framing is never accepted, and decoding never grows the data or reads past it. The
 * first input byte picks the piece size and whether the response answers a HEAD. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count(const sc_http1_response_t *resp, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i != resp->num_headers; ++i)
        if (resp->headers[i].name_len == strlen(name) && strncasecmp(resp->headers[i].name, name, strlen(name)) == 0)
            ++n;
    return n;
}

static void check_head(const sc_http1_response_t *resp, int head_request)
{
    if (count(resp, "content-length") != 0 && count(resp, "transfer-encoding") != 0)
        abort();
    if (count(resp, "transfer-encoding") > 1)
        abort();
    int bodiless = head_request || resp->status < 200 || resp->status == 204 || resp->status == 304;
    if (bodiless != (resp->body == SC_HTTP1_BODY_NONE))
        abort();
    if (resp->body == SC_HTTP1_BODY_CLOSE && resp->keep_alive)
        abort();
    for (size_t i = 0; i != resp->num_headers; ++i)
        sc_http1_parse_response_drops(resp, i);
}

static void decode(char *body, size_t len, size_t piece)
{
    struct phr_chunked_decoder dec = {0};
    dec.consume_trailer = 1;
    for (size_t at = 0; at < len;) {
        size_t n = len - at < piece ? len - at : piece, in = n;
        ssize_t ret = phr_decode_chunked(&dec, body + at, &n);
        if (ret == -1)
            return;
        if (n > in || (ret >= 0 && (size_t)ret > in - n))
            abort();
        if (ret >= 0)
            return;
        at += in;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int head_request = data[0] & 1;
    size_t piece = (size_t)(data[0] >> 1) + 1;
    char *buf = malloc(size - 1 + 1);
    memcpy(buf, data + 1, size - 1);
    sc_http1_response_t resp;
    const char *err = NULL;
    int ret = sc_http1_parse_response(buf, size - 1, head_request, &resp, &err);
    if (ret == -1 && err == NULL)
        abort();
    if (ret > 0) {
        if ((size_t)ret > size - 1)
            abort();
        check_head(&resp, head_request);
        if (resp.body == SC_HTTP1_BODY_CHUNKED)
            decode(buf + ret, size - 1 - (size_t)ret, piece);
    }
    free(buf);
    return 0;
}
