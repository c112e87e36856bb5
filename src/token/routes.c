/*
 * routes.c: POST <token.path> (issue over mTLS), GET /.well-known/jwks.json,
 * and the bearer check the data routes call. See routes.h for the refusals.
 */
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/metrics.h"
#include "token/internal.h"
#include "token/routes.h"

/* The x-transaktion-id, if it is a plausible id (else "" or "invalid"). */
static void transaction_id(http_request_t *req, char *out, size_t cap)
{
    str_t v;
    out[0] = '\0';
    if (!http_req_header(req, "x-transaktion-id", &v))
        return;
    bool ok = v.len > 0 && v.len <= TOKEN_TXID_MAX;
    for (size_t i = 0; ok && i < v.len; i++) {
        char c = v.ptr[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '-' || c == '_' || c == '.';
    }
    if (ok)
        str_copy(v, out, cap);
    else
        snprintf(out, cap, "invalid");
}

/* Answers an OAuth 2 error and logs the refusal. */
/* The token endpoint's figures (core/metrics.h), declared by
 * token_routes_register before the server starts. */
static metric_t *tokens_issued, *tokens_refused;

static int oauth_error(http_request_t *req, unsigned status, const char *error, const char *code,
                       const char *description, const char *txid, const char *cert_sha256)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:i}", "error", error, "error_code", code, "request_id",
                          http_req_id(req), "status", (int)status);
    if (txid[0])
        json_object_set_new(f, "transaktion_id", json_string(txid));
    if (cert_sha256 && cert_sha256[0])
        json_object_set_new(f, "cert_sha256", json_string(cert_sha256));
    log_json(LOG_INFO, "token refused", f);
    const char *reason = problem_canonical(code);
    metric_add(tokens_refused, 1, reason ? reason : "other");
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Pragma", "no-cache");
    return http_reply_json(req, status,
                           json_pack("{s:s, s:s, s:s}", "error", error, "error_description",
                                     description, "error_code", code));
}

/* Why the TLS layer did not verify a presented certificate. */
static const char *tls_refusal(const struct http_client_cert *cc, const char **description)
{
    unsigned st = cc->gnutls_status;
    if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
              GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_INSECURE_ALGORITHM)) {
        *description = "the client certificate does not chain to a trusted CA";
        return PROBLEM_CERT_UNTRUSTED;
    }
    if (st & GNUTLS_CERT_REVOKED) {
        *description = "the client certificate is revoked";
        return PROBLEM_CERT_REVOKED;
    }
    if (st & GNUTLS_CERT_EXPIRED) {
        *description = "the client certificate has expired";
        return PROBLEM_CERT_EXPIRED;
    }
    if (st & GNUTLS_CERT_NOT_ACTIVATED) {
        *description = "the client certificate is not valid yet";
        return PROBLEM_CERT_EXPIRED;
    }
    *description = "the client certificate could not be verified";
    return PROBLEM_CERT_UNTRUSTED;
}

static bool form_content_type(http_request_t *req)
{
    str_t ct;
    if (!http_req_header(req, "Content-Type", &ct))
        return true;
    str_t media, params;
    str_split(ct, ';', &media, &params);
    return str_eq_nocase(str_trim(media), STR("application/x-www-form-urlencoded"));
}

/* Is scope acceptable: absent, empty, or space-separated "openid"s? */
static bool scope_ok(str_t scope)
{
    str_t rest = scope, item;
    while (rest.len) {
        str_split(rest, ' ', &item, &rest);
        if (item.len && !str_eq_cstr(item, TOKEN_SCOPE))
            return false;
    }
    return true;
}

static int handle_token(http_request_t *req, void *ctx, err_t *err)
{
    token_service_t *ts = ctx;
    (void)err;
    char txid[TOKEN_TXID_MAX + 1];
    transaction_id(req, txid, sizeof txid);
    str_t body = http_req_body(req);
    if (body.len > TOKEN_FORM_MAX)
        return oauth_error(req, 413, "invalid_request", PROBLEM_REQUEST_TOO_LARGE,
                           "the request body is too large", txid, NULL);
    static const struct http_form_rules rules = {.max_fields = TOKEN_FORM_PARAMS_MAX,
                                                 .unique = true};
    struct http_form form;
    err_t ferr;
    err_clear(&ferr);
    if (!form_content_type(req))
        return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID,
                           "the body must be an application/x-www-form-urlencoded form", txid,
                           NULL);
    if (http_form_read(http_req_arena(req), body, &rules, &form, &ferr))
        return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID, ferr.detail, txid,
                           NULL);
    str_t grant, client_id, scope = STR("");
    if (!http_form_get(&form, "grant_type", &grant))
        return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID,
                           "grant_type is missing", txid, NULL);
    if (!str_eq_cstr(grant, "client_credentials") && !str_eq_cstr(grant, "password"))
        return oauth_error(req, 400, "unsupported_grant_type", PROBLEM_GRANT_TYPE_UNSUPPORTED,
                           "grant_type must be client_credentials or password", txid, NULL);
    http_form_get(&form, "scope", &scope);
    if (!scope_ok(scope))
        return oauth_error(req, 400, "invalid_scope", PROBLEM_SCOPE_UNSUPPORTED,
                           "the only scope is openid", txid, NULL);
    if (http_form_get(&form, "client_id", &client_id) && !str_eq_cstr(client_id, ts->cfg.client_id))
        return oauth_error(req, 401, "invalid_client", PROBLEM_CLIENT_ID_UNKNOWN,
                           "unknown client_id", txid, NULL);

    const struct http_client_cert *cc = http_req_client_cert(req);
    if (!cc || !cc->present)
        return oauth_error(req, 401, "invalid_client", PROBLEM_CERT_MISSING,
                           "a client certificate is required (mutual TLS)", txid, NULL);
    if (!cc->verified) {
        const char *desc;
        const char *code = tls_refusal(cc, &desc);
        return oauth_error(req, 401, "invalid_client", code, desc, txid, cc->info.sha256_hex);
    }
    /* Which organisation, when a supplier's certificate serves several:
     * the form's org_cvr, else the data call's agreement (token.h). */
    str_t org_cvr = STR("");
    if (http_form_get(&form, "org_cvr", &org_cvr) && !ident_cvr_valid(org_cvr))
        return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID,
                           "org_cvr must be a CVR number (8 digits, modulus 11)", txid, NULL);
    /* Acting for a company (onbehalfofse=<SE number>): only under its
     * authorisation of this organisation and system. */
    str_t obo = STR("");
    char obo_c[SE_LEN + 1] = "";
    if (http_form_get(&form, "onbehalfofse", &obo)) {
        if (!ident_se_valid(obo))
            return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID,
                               "onbehalfofse must be an SE number (8 digits)", txid, NULL);
        str_copy(obo, obo_c, sizeof obo_c);
    }
    int64_t now = clock_now_ms();
    struct identity_principal p;
    err_t e2;
    err_clear(&e2);
    if (identity_authenticate_cert_for(ts->id, &cc->info, org_cvr, ts->cfg.env, now, &p, &e2)) {
        if (e2.code == DUPLA_EBUSY) {
            *err = e2; /* the registry cannot answer: 503 registry-unavailable */
            return DUPLA_EBUSY;
        }
        bool unauth = e2.code == DUPLA_EUNAUTH;
        return oauth_error(req, unauth ? 401 : 403,
                           unauth ? "invalid_client" : "unauthorized_client", e2.type, e2.detail,
                           txid, cc->info.sha256_hex);
    }
    if (obo_c[0]) {
        char company[CVR_LEN + 1];
        if (p.any_org)
            return oauth_error(req, 400, "invalid_request", PROBLEM_FORM_INVALID,
                               "onbehalfofse with a certificate of several organisations needs "
                               "org_cvr",
                               txid, cc->info.sha256_hex);
        if (identity_authorisation_check(ts->id, str_from_cstr(p.org_cvr),
                                         str_from_cstr(p.system_id), obo, STR(""), now, company,
                                         &e2)) {
            if (e2.code == DUPLA_EBUSY) {
                *err = e2;
                return DUPLA_EBUSY;
            }
            return oauth_error(req, 403, "unauthorized_client", e2.type, e2.detail, txid,
                               cc->info.sha256_hex);
        }
    }
    char *jwt = NULL;
    struct token_issued info;
    int rc = token_issue_for(ts, &p, obo_c, now, &jwt, &info, err);
    if (rc)
        return rc;
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "system_id", p.system_id, "org_id",
                          p.org_id, "jti", info.jti, "kid", info.kid, "exp", (json_int_t)info.exp_s,
                          "request_id", http_req_id(req));
    if (p.supplier_cvr[0])
        json_object_set_new(f, "supplier_cvr", json_string(p.supplier_cvr));
    if (obo_c[0])
        json_object_set_new(f, "onbehalfofse", json_string(obo_c));
    if (txid[0])
        json_object_set_new(f, "transaktion_id", json_string(txid));
    log_json(LOG_INFO, "token issued", f);
    metric_add(tokens_issued, 1);
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Pragma", "no-cache");
    rc = http_reply_json(req, 200,
                         json_pack("{s:s, s:s, s:I, s:s}", "access_token", jwt, "token_type",
                                   "Bearer", "expires_in", (json_int_t)info.expires_in, "scope",
                                   TOKEN_SCOPE));
    free(jwt);
    return rc;
}

static int handle_jwks(http_request_t *req, void *ctx, err_t *err)
{
    json_t *jwks = token_jwks(ctx);
    if (!jwks) {
        err_set(err, DUPLA_EBUSY, "The signing keys cannot be read right now; try again shortly.");
        err_http(err, 503, SNAPSHOT_UNAVAILABLE_TYPE);
        return DUPLA_EBUSY;
    }
    http_reply_header(req, "Cache-Control", "public, max-age=60");
    return http_reply_json(req, 200, jwks);
}

int token_routes_register(http_server_t *srv, token_service_t *ts, err_t *err)
{
    tokens_issued = metrics_counter("dupla_token_issued_total", "Access tokens issued.", NULL);
    tokens_refused =
        metrics_counter("dupla_token_refused_total",
                        "Token requests refused, by reason (the error_code slug).", "reason");
    struct http_route token = {.methods = HTTP_POST,
                               .path = ts->cfg.path,
                               .handler = handle_token,
                               .ctx = ts,
                               .max_body = TOKEN_ROUTE_MAX_BODY,
                               .listener = ts->cfg.listener[0] ? ts->cfg.listener : NULL,
                               .name = "token"};
    struct http_route jwks = {.methods = HTTP_GET | HTTP_HEAD,
                              .path = "/.well-known/jwks.json",
                              .handler = handle_jwks,
                              .ctx = ts,
                              .flags = HTTP_ROUTE_ANY_LISTENER,
                              .name = "jwks"};
    int rc = http_route_add(srv, &token, err);
    return rc ? rc : http_route_add(srv, &jwks, err);
}

bool token_bearer_parse(str_t value, str_t *token)
{
    str_t scheme;
    if (!str_split(str_trim(value), ' ', &scheme, token) || !str_eq_nocase(scheme, STR("Bearer")))
        return false;
    *token = str_trim(*token);
    return true;
}

int token_http_authenticate(http_request_t *req, token_service_t *ts, struct token_principal *out,
                            err_t *err)
{
    str_t auth, tok;
    int rc;
    if (!http_req_header(req, "Authorization", &auth)) {
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"dupla\"");
        rc = err_set(err, DUPLA_EUNAUTH, "an access token is required (Authorization: Bearer)");
        err_problem(err, PROBLEM_TOKEN_MISSING);
        return rc;
    }
    if (!token_bearer_parse(auth, &tok)) {
        http_reply_header(req, "WWW-Authenticate",
                          "Bearer realm=\"dupla\", error=\"invalid_request\"");
        rc = err_set(err, DUPLA_EUNAUTH, "the Authorization header must be 'Bearer <token>'");
        err_problem(err, PROBLEM_TOKEN_MISSING);
        return rc;
    }
    rc = token_verify(ts, tok, clock_now_ms(), out, err);
    /* Sender-constrained where the client proves it (RFC 8705 3): a
     * connection that presented a certificate must present the token's
     * own. Clients that send data calls without a certificate pass, unless
     * their system requires sender-constrained tokens; a leaked token used
     * by another system's connection never does. */
    const struct http_client_cert *cc = http_req_client_cert(req);
    bool presented = cc && cc->present;
    if (rc == 0 && presented &&
        !str_ct_eq((str_t){(const char *)cc->info.sha256, PKI_SHA256_LEN},
                   (str_t){(const char *)out->cert_sha256, PKI_SHA256_LEN})) {
        rc = err_set(err, DUPLA_EUNAUTH,
                     "the client certificate is not the one the token is bound to (cnf)");
        err_problem(err, PROBLEM_TOKEN_BINDING);
    } else if (rc == 0 && !presented && out->sender_constrained) {
        rc = err_set(err, DUPLA_EUNAUTH,
                     "the system requires sender-constrained tokens: present the client "
                     "certificate the token is bound to (cnf x5t#S256) on this connection");
        err_problem(err, PROBLEM_TOKEN_BINDING_REQUIRED);
    }
    if (rc && rc != DUPLA_EBUSY) { /* 503: the registry or the keys, not the token */
        char h[160];
        snprintf(h, sizeof h,
                 "Bearer realm=\"dupla\", error=\"invalid_token\", error_description=\"%s\"",
                 err->type);
        http_reply_header(req, "WWW-Authenticate", h);
    }
    return rc;
}
