/*
 * routes.h: the token service's HTTP edge.
 *
 *   POST <token.path>               issue a token (mTLS; OAuth 2 form body)
 *   GET  /.well-known/jwks.json     the public keys
 *
 * Refusals of POST <token.path> are OAuth 2 error JSON (RFC 6749 5.2) with
 * Cache-Control: no-store: the standard "error" (invalid_request,
 * unsupported_grant_type, invalid_scope, invalid_client, unauthorized_client)
 * plus "error_code", the platform's kebab-case reason (a PROBLEM_* slug of
 * core/problem.h; the list with statuses and meanings is
 * docs/problem-types.md):
 *
 *   400 invalid_request:        form-invalid (not a form, a repeated or missing
 *                               parameter); 413: request-too-large
 *   400 unsupported_grant_type: grant-type-unsupported
 *   400 invalid_scope:          scope-unsupported
 *   401 invalid_client:         client-id-unknown, certificate-missing,
 *                               certificate-untrusted, certificate-expired,
 *                               certificate-revoked, certificate-unregistered
 *   403 unauthorized_client:    system-suspended, system-revoked, system-kind,
 *                               organisation-suspended, cvr-mismatch,
 *                               environment-not-allowed
 */
#ifndef DUPLA_TOKEN_ROUTES_H
#define DUPLA_TOKEN_ROUTES_H

#include "http/http.h"
#include "token/token.h"

#define TOKEN_FORM_MAX        2048 /* a token request's form body, answered as OAuth JSON */
#define TOKEN_ROUTE_MAX_BODY  8192 /* above this the server itself refuses (413 problem) */
#define TOKEN_FORM_PARAMS_MAX 16
#define TOKEN_TXID_MAX        64 /* x-transaktion-id bytes logged */

/* Registers the token and JWKS routes on srv. ts must outlive srv. */
int token_routes_register(http_server_t *srv, token_service_t *ts, err_t *err);

/* The token of an Authorization header's value "Bearer <token>" (the
 * scheme in any case, white space around trimmed) into *token, borrowed
 * from value; false when the value has another form. */
bool token_bearer_parse(str_t value, str_t *token);

/* For the data routes: reads "Authorization: Bearer <jwt>", verifies it and
 * fills *out. On refusal, adds a WWW-Authenticate: Bearer header (RFC 6750,
 * error="invalid_token" and the reason) to the answer and returns
 * DUPLA_EUNAUTH with err filled (status 401, type = the reason); the caller
 * returns that error so the server answers with a problem. Binding
 * (RFC 8705): a connection that presented a client certificate must present
 * the token's own (token-binding); a token of a system that requires
 * sender-constrained tokens needs one (token-binding-required). */
int token_http_authenticate(http_request_t *req, token_service_t *ts, struct token_principal *out,
                            err_t *err);

#endif
