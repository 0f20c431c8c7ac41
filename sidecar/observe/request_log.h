/*
 * request_log: what happens when a request is over. An h2o logger (it runs once the response
 * has been sent, with the request still intact) records the request in the worker's metrics and
 * writes its access-log line:
 *
 *   {"time":"2026-11-28T08:00:00.123Z","request_id":"…","service":"langchain",
 *    "route":"/langchain/…","method":"POST","path":"/langchain/v1/invoke",
 *    "query":"stream=true&api_key=REDACTED","status":200,"upstream_status":200,
 *    "duration_ms":12.3,"upstream_ms":11.9,"tenant":"acme","subject":"user-1",
 *    "auth_method":"jwt","key_id":null,"decision":"allow","reason":null,
 *    "bytes_in":512,"bytes_out":2048,"remote_addr":"10.0.0.7","client_addr":"203.0.113.9",
 *    "trace_id":"Root=1-…","gateway_request_id":"c6af9ac6-…"}
 *
 * remote_addr is the peer (the gateway, behind API Gateway); client_addr, trace_id and
 * gateway_request_id are what a trusted proxy says (trusted_proxies.h): from anyone else,
 * client_addr is the peer and the other two are null, since anyone can send those headers.
 *
 * It is also where the pipeline's bookkeeping ends: the request's configuration reference is
 * released and the worker's in-flight count goes down.
 *
 * Never a token, a key or an Authorization value: the line is built from the pipeline's
 * decision, not from the request's headers, and query parameters whose names suggest a secret
 * have their values replaced.
 */
#ifndef SC_REQUEST_LOG_H
#define SC_REQUEST_LOG_H

#include <h2o.h>

#include "request_env.h"

/**
 * Registers the logger for service `service_index` (SIZE_MAX for the admin listener) on a path.
 */
h2o_logger_t *sc_request_log_register(h2o_pathconf_t *pathconf, size_t service_index);

/**
 * The query string with the values of secret-looking parameters (token, key, secret,
 * password, signature, auth, code, session, credential) replaced by REDACTED
 * (tests/unit/observe/test_request_log.c).
 */
h2o_iovec_t sc_request_log_redact_query(h2o_mem_pool_t *pool, const char *query, size_t len);

#endif
