/*
 * routes.h: the token service's HTTP edge.
 *
 *   POST <token.path>               issue a token (mTLS; OAuth 2 form body)
 *   GET  /.well-known/jwks.json     the public keys
 *
 * Refusals of POST <token.path> are OAuth 2 error JSON (RFC 6749 5.2) with
 * Cache-Control: no-store, plus "error_code", a platform code that names the
 * exact reason (documented in the README's token section):
 *
 *   status error                  error_code                  when
 *   400    invalid_request        form_invalid                body is not a form, a parameter
 * repeats 400    unsupported_grant_type grant_type_unsupported      grant_type is not password /
 * client_credentials 400    invalid_scope          scope_unsupported           scope asks for
 * anything but openid 401    invalid_client         client_id_unknown           client_id is not
 * the configured one 401    invalid_client         certificate_missing         no client
 * certificate on the connection 401    invalid_client         certificate_untrusted       does not
 * chain to a trust anchor (unknown CA) 401    invalid_client         certificate_expired outside
 * its validity (also: not yet valid) 401    invalid_client         certificate_revoked         on
 * the CRL, or its registration was revoked 401    invalid_client         certificate_unregistered
 * valid, but bound to no system 403    unauthorized_client    system_suspended            the
 * system is suspended 403    unauthorized_client    system_revoked              the system is
 * revoked 403    unauthorized_client    system_kind                 the certificate is a source
 * system's 403    unauthorized_client    organisation_suspended      the organisation is suspended
 * or closed 403    unauthorized_client    cvr_mismatch                the certificate's CVR is not
 * the organisation's 403    unauthorized_client    environment_not_allowed     the organisation may
 * not use this environment 413    invalid_request        request_too_large           body over
 * TOKEN_FORM_MAX bytes
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

/* For the data routes: reads "Authorization: Bearer <jwt>", verifies it and
 * fills *out. On refusal, adds a WWW-Authenticate: Bearer header (RFC 6750,
 * error="invalid_token" and the reason) to the answer and returns
 * DUPLA_EUNAUTH with err filled (status 401, type = the reason); the caller
 * returns that error so the server answers with a problem. */
int token_http_authenticate(http_request_t *req, token_service_t *ts, struct token_principal *out,
                            err_t *err);

#endif
