/*
 * pipeline: the h2o handler that decides, for every request to a service, whether it is
 * forwarded. The only handler on the service's path: it forwards the request itself
 * (upstream.h), answers it (an error), or suspends it and resumes it when the tenant store, the
 * key fetcher or the rate limiter answers.
 *
 * The decision, in order: match a route of the service's policy (404 when none), let public
 * routes through, require credentials on the others (401).
 */
#ifndef SC_PIPELINE_H
#define SC_PIPELINE_H

#include <h2o.h>

#include "config.h"
#include "request_env.h"

/**
 * Registers the pipeline handler for the service at `service_index` of the configuration (the
 * configuration itself is the worker's current one, which a reload may replace).
 */
h2o_handler_t *sc_pipeline_register(h2o_pathconf_t *pathconf, size_t service_index);

/**
 * The request's path (without the query) normalised per the policy (path.h), allocated in
 * the request pool. Returns 0 when the path is refused.
 */
int sc_pipeline_normalize_path(h2o_req_t *req, const sc_policy_t *policy, h2o_iovec_t *out);

#endif
