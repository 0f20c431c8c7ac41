/*
 * request_id: identifiers for X-Request-Id. 128 random bits as 32 hex characters, drawn from a
 * per-thread generator seeded from the OpenSSL CSPRNG. They identify requests in logs; they
 * are not secrets and grant nothing.
 */
#ifndef SC_REQUEST_ID_H
#define SC_REQUEST_ID_H

#define SC_REQUEST_ID_LEN 32

/**
 * Writes SC_REQUEST_ID_LEN hex characters and a NUL into buf.
 */
void sc_request_id_generate(char buf[SC_REQUEST_ID_LEN + 1]);

#endif
