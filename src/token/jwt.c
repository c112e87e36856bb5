/*
 * jwt.c: issuing and verifying access tokens (JWS compact serialisation,
 * EdDSA). See token.h for the header and claims and for the order of the
 * checks; every refusal names its reason in err->type (PROBLEM_TOKEN_*).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "core/buf.h"
#include "core/encode.h"
#include "core/json.h"
#include "core/uuid.h"
#include "token/internal.h"

#define JWT_ALG          "EdDSA"
#define TOKEN_TIME_MAX_S INT64_C(100000000000) /* 10^11 s: the year 5138 */

static int refuse(err_t *err, const char *type, const char *detail)
{
    err_set(err, DUPLA_EUNAUTH, "%s", detail);
    err_http(err, 401, type);
    return DUPLA_EUNAUTH;
}

/* Appends base64url(data) to b. */
static int append_b64(buf_t *b, const void *data, size_t n)
{
    char *tmp = malloc(base64url_encoded_size(n));
    if (!tmp)
        return DUPLA_ENOMEM;
    size_t len = base64url_encode(data, n, tmp);
    int rc = buf_append(b, tmp, len);
    free(tmp);
    return rc;
}

int token_issue(token_service_t *ts, const struct identity_principal *p, int64_t now_ms, char **jwt,
                struct token_issued *info, err_t *err)
{
    return token_issue_for(ts, p, NULL, now_ms, jwt, info, err);
}

int token_issue_for(token_service_t *ts, const struct identity_principal *p,
                    const char *on_behalf_se, int64_t now_ms, char **jwt, struct token_issued *info,
                    err_t *err)
{
    token_keys_maybe_reload(ts, false);
    struct token_issued inf;
    memset(&inf, 0, sizeof inf);
    if (uuid_v4(inf.jti))
        return err_internal(err, DUPLA_EIO, "token: no random bytes for a token id");
    inf.iat_s = now_ms / 1000;
    inf.exp_s = inf.iat_s + ts->cfg.lifetime_s;
    inf.expires_in = ts->cfg.lifetime_s;
    char x5t[TOKEN_THUMBPRINT_B64];
    base64url_encode(p->cert_sha256, PKI_SHA256_LEN, x5t);

    buf_t b;
    buf_init(&b, TOKEN_MAX_BYTES);
    int rc = 0;
    char *claims = NULL;
    snapshot_ref_t *ref;
    if ((rc = snapshot_acquire(ts->keys, &ref, err))) {
        buf_free(&b);
        return rc;
    }
    const struct token_keyset *ks = snapshot_data(ref);
    const struct token_key *active = &ks->keys[ks->n - 1];
    snprintf(inf.kid, sizeof inf.kid, "%s", active->kid);
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", JWT_ALG, "typ", "JWT", "kid", inf.kid);
    char sub[IDENTITY_ID_LEN + 16];
    snprintf(sub, sizeof sub, "%s%s", p->any_org ? TOKEN_SUPPLIER_SUB : "",
             p->any_org ? p->supplier_cvr : p->system_id);
    json_t *payload =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:{s:s}}", "iss", ts->cfg.issuer,
                  "aud", ts->cfg.audience, "sub", sub, "env", environment_name(ts->cfg.env),
                  "scope", TOKEN_SCOPE, "iat", (json_int_t)inf.iat_s, "nbf", (json_int_t)inf.iat_s,
                  "exp", (json_int_t)inf.exp_s, "jti", inf.jti, "cnf", "x5t#S256", x5t);
    /* every claim or none: a claim lost for want of memory fails the issue */
    bool whole = payload != NULL;
    if (whole && !p->any_org)
        whole = json_object_set_new(payload, "org_cvr", json_string(p->org_cvr)) == 0 &&
                json_object_set_new(payload, "org_id", json_string(p->org_id)) == 0;
    if (whole && p->supplier_cvr[0])
        whole = json_object_set_new(payload, "supplier_cvr", json_string(p->supplier_cvr)) == 0;
    if (whole && on_behalf_se && on_behalf_se[0])
        whole = json_object_set_new(payload, "onbehalfofse", json_string(on_behalf_se)) == 0;
    if (!whole) {
        json_decref(payload);
        payload = NULL;
    }
    char *htext = header ? json_text(header, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    claims = payload ? json_text(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(header);
    json_decref(payload);
    if (!htext || !claims || append_b64(&b, htext, strlen(htext)) || buf_append_cstr(&b, ".") ||
        append_b64(&b, claims, strlen(claims))) {
        rc = err_internal(err, DUPLA_ENOMEM, "token: cannot build the token");
    } else {
        unsigned char sig[PKI_ED25519_SIG_LEN];
        pthread_mutex_lock(&ts->sign_lock);
        rc = pki_sign(ks->signer, b.data, b.len, sig, err);
        pthread_mutex_unlock(&ts->sign_lock);
        if (!rc && (buf_append_cstr(&b, ".") || append_b64(&b, sig, sizeof sig)))
            rc = err_internal(err, DUPLA_ENOMEM, "token: cannot build the token");
    }
    snapshot_release(ref);
    free(htext);
    free(claims);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *jwt = b.data; /* the buffer's memory becomes the caller's */
    if (info)
        *info = inf;
    return 0;
}

/* Decodes a base64url part into a JSON object (duplicates refused). NULL
 * with *oom set when memory ran out: not the token's fault. */
static json_t *decode_json(str_t part, size_t max, bool *oom)
{
    *oom = false;
    if (part.len == 0 || part.len > (max * 4 + 2) / 3)
        return NULL;
    char *raw = malloc(max);
    if (!raw) {
        *oom = true;
        return NULL;
    }
    long n = base64url_decode(part, raw, max);
    json_t *j = n > 0 ? json_parse(raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL, oom) : NULL;
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Checks sig over signed with the key kid of the keyset *ref holds. 1 if
 * kid is unknown there, 0 if valid, DUPLA_ECRYPTO if not. */
static int check_signature(snapshot_ref_t *ref, const char *kid, str_t signed_part,
                           const unsigned char *sig)
{
    const struct token_keyset *ks = snapshot_data(ref);
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->keys[i].kid, kid) == 0)
            return pki_verify(ks->keys[i].verifier, signed_part.ptr, signed_part.len, sig)
                       ? DUPLA_ECRYPTO
                       : 0;
    return 1;
}

static bool aud_ok(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                          strcmp(json_string_value(v), want) == 0) return true;
    }
    return false;
}

/* The claim's string into out (cap bytes); false when it is no string or
 * longer. */
static bool claim_copy(json_t *claims, const char *name, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(claims, name));
    if (!v || strlen(v) >= cap)
        return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

/* The checks of the token's lifetime against now_ms (every call). */
static int check_time(const token_service_t *ts, const struct token_claims *c, int64_t now_ms,
                      err_t *err)
{
    int64_t leeway_ms = (int64_t)ts->cfg.leeway_s * 1000;
    if (now_ms >= c->exp * 1000 + leeway_ms)
        return refuse(err, PROBLEM_TOKEN_EXPIRED, "the token has expired");
    if (c->nbf * 1000 - leeway_ms > now_ms || c->iat * 1000 - leeway_ms > now_ms)
        return refuse(err, PROBLEM_TOKEN_NOT_YET, "the token is not valid yet");
    return 0;
}

/* Everything a token says on its own, checked: its form, header, signature
 * (under the keyset *ref holds, reloaded once for an unknown key, *ref then
 * the new one) and claims, into *c. */
static int read_token(token_service_t *ts, snapshot_ref_t **ref, str_t jwt, int64_t now_ms,
                      struct token_claims *c, err_t *err)
{
    str_t h, rest, p, s;
    if (!str_split(jwt, '.', &h, &rest) || !str_split(rest, '.', &p, &s) ||
        memchr(s.ptr, '.', s.len) || h.len == 0 || p.len == 0)
        return refuse(err, PROBLEM_TOKEN_MALFORMED, "the token is not a signed JWT");
    bool oom;
    json_t *header = decode_json(h, TOKEN_HEADER_MAX, &oom);
    if (!header && oom)
        return err_internal(err, DUPLA_ENOMEM, "token: out of memory reading a token");
    if (!header)
        return refuse(err, PROBLEM_TOKEN_MALFORMED, "the token's header is not valid");
    json_t *claims = NULL;
    int rc;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    json_t *typ = json_object_get(header, "typ");
    if (!alg || strcmp(alg, JWT_ALG) != 0) {
        rc = refuse(err, PROBLEM_TOKEN_ALGORITHM, "the token's algorithm is not EdDSA");
        goto out;
    }
    if (json_object_get(header, "crit") ||
        (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))) {
        rc = refuse(err, PROBLEM_TOKEN_MALFORMED, "the token's header has an unknown typ or crit");
        goto out;
    }
    if (!kid || strlen(kid) >= PKI_KID_MAX) {
        rc = refuse(err, PROBLEM_TOKEN_UNKNOWN_KEY, "the token names no key we know");
        goto out;
    }
    unsigned char sig[PKI_ED25519_SIG_LEN + 1];
    if (base64url_decode(s, sig, sizeof sig) != PKI_ED25519_SIG_LEN) {
        rc = refuse(err, PROBLEM_TOKEN_SIGNATURE, "the token's signature is not valid");
        goto out;
    }
    str_t signed_part = {jwt.ptr, h.len + 1 + p.len};
    rc = check_signature(*ref, kid, signed_part, sig);
    if (rc == 1) {
        snapshot_release(*ref);
        *ref = NULL;
        token_keys_maybe_reload(ts, true);
        if ((rc = snapshot_acquire(ts->keys, ref, err)))
            goto out; /* the keys cannot be served: 503, not a verdict */
        rc = check_signature(*ref, kid, signed_part, sig);
    }
    if (rc == 1) {
        rc = refuse(err, PROBLEM_TOKEN_UNKNOWN_KEY, "the token names no key we know");
        goto out;
    }
    if (rc) {
        rc = refuse(err, PROBLEM_TOKEN_SIGNATURE, "the token's signature is not valid");
        goto out;
    }
    claims = decode_json(p, TOKEN_PAYLOAD_MAX, &oom);
    if (!claims && oom) {
        rc = err_internal(err, DUPLA_ENOMEM, "token: out of memory reading a token");
        goto out;
    }
    if (!claims) {
        rc = refuse(err, PROBLEM_TOKEN_MALFORMED, "the token's claims are not valid");
        goto out;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *env = json_string_value(json_object_get(claims, "env"));
    const char *supplier = json_string_value(json_object_get(claims, "supplier_cvr"));
    json_t *obo = json_object_get(claims, "onbehalfofse");
    memset(c, 0, sizeof *c);
    if (obo && (!json_is_string(obo) || !ident_se_valid(str_from_cstr(json_string_value(obo))) ||
                !claim_copy(claims, "onbehalfofse", c->obo, sizeof c->obo))) {
        rc = refuse(err, PROBLEM_TOKEN_CLAIMS, "the token's onbehalfofse claim is not valid");
        goto out;
    }
    bool has_sub = claim_copy(claims, "sub", c->sub, sizeof c->sub);
    bool has_cvr = claim_copy(claims, "org_cvr", c->cvr, sizeof c->cvr);
    /* a token for a supplier certificate alone names no organisation */
    c->any_org = !json_object_get(claims, "org_cvr") && supplier && has_sub &&
                 strncmp(c->sub, TOKEN_SUPPLIER_SUB, strlen(TOKEN_SUPPLIER_SUB)) == 0;
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    json_t *iat = json_object_get(claims, "iat");
    json_t *x5t = json_object_get(json_object_get(claims, "cnf"), "x5t#S256");
    if (!iss || !has_sub || !(has_cvr || c->any_org) || !env || !json_object_get(claims, "jti") ||
        !json_is_integer(exp) || !json_is_integer(nbf) || !json_is_integer(iat) ||
        !json_is_string(x5t)) {
        rc = refuse(err, PROBLEM_TOKEN_CLAIMS, "the token lacks a required claim");
        goto out;
    }
    if (strcmp(iss, ts->cfg.issuer) != 0) {
        rc = refuse(err, PROBLEM_TOKEN_ISSUER, "the token's issuer is not this platform");
        goto out;
    }
    if (!aud_ok(json_object_get(claims, "aud"), ts->cfg.audience)) {
        rc = refuse(err, PROBLEM_TOKEN_AUDIENCE, "the token is not meant for this platform");
        goto out;
    }
    c->exp = json_integer_value(exp);
    c->nbf = json_integer_value(nbf);
    c->iat = json_integer_value(iat);
    /* seconds since 1970 that fit the millisecond arithmetic below (up to
     * the year 5138); anything else is no time this platform writes */
    if (c->exp < 0 || c->exp > TOKEN_TIME_MAX_S || c->nbf < 0 || c->nbf > TOKEN_TIME_MAX_S ||
        c->iat < 0 || c->iat > TOKEN_TIME_MAX_S) {
        rc = refuse(err, PROBLEM_TOKEN_CLAIMS, "the token's exp, nbf or iat is not a valid time");
        goto out;
    }
    if ((rc = check_time(ts, c, now_ms, err)))
        goto out;
    if (strcmp(env, environment_name(ts->cfg.env)) != 0) {
        rc = refuse(err, PROBLEM_TOKEN_ENVIRONMENT, "the token is for another environment");
        goto out;
    }
    const char *x5t_s = json_string_value(x5t);
    unsigned char sha[PKI_SHA256_LEN + 1]; /* one more: a longer value is refused */
    if (base64url_decode(str_from_cstr(x5t_s), sha, sizeof sha) != PKI_SHA256_LEN ||
        strlen(x5t_s) >= sizeof c->x5t || !claim_copy(claims, "jti", c->jti, sizeof c->jti)) {
        rc = refuse(err, PROBLEM_TOKEN_CLAIMS, "the token's cnf or jti claim is not valid");
        goto out;
    }
    memcpy(c->sha, sha, PKI_SHA256_LEN);
    memcpy(c->x5t, x5t_s, strlen(x5t_s) + 1);
    rc = 0;
out:
    json_decref(header);
    json_decref(claims);
    return rc;
}

int token_verify(token_service_t *ts, str_t jwt, int64_t now_ms, struct token_principal *out,
                 err_t *err)
{
    if (jwt.len == 0 || jwt.len > TOKEN_MAX_BYTES)
        return refuse(err, PROBLEM_TOKEN_MALFORMED, "the token is empty or too long");
    unsigned char th[TOKEN_VERIFIED_HASH];
    bool hashed = gnutls_hash_fast(GNUTLS_DIG_SHA256, jwt.ptr, jwt.len, th) == 0;
    snapshot_ref_t *ref;
    int rc = snapshot_acquire(ts->keys, &ref, err);
    if (rc)
        return rc; /* the keys cannot be served: 503, not a verdict */
    /* The keyset is immutable but for its verified cache, which has its
     * own lock. */
    struct token_claims c;
    bool known = hashed && token_verified_has((struct token_keyset *)snapshot_data(ref), th, &c);
    if (known ? (rc = check_time(ts, &c, now_ms, err)) != 0
              : (rc = read_token(ts, &ref, jwt, now_ms, &c, err)) != 0)
        goto out;
    struct identity_principal ip;
    if ((rc = c.any_org
                  ? identity_supplier_bind(ts->id, c.sha, STR(""), ts->cfg.env, now_ms, &ip, err)
                  : identity_check_principal(ts->id, str_from_cstr(c.sub), str_from_cstr(c.cvr),
                                             c.sha, ts->cfg.env, now_ms, &ip, err))) {
        if (rc == DUPLA_EBUSY)
            goto out; /* the registry cannot answer: 503, not a verdict */
        /* The system or organisation is no longer active: the token is
         * invalid (401), with the registry's reason as type. */
        err->code = DUPLA_EUNAUTH;
        err->status = 401;
        rc = DUPLA_EUNAUTH;
        goto out;
    }
    if (!known && hashed)
        token_verified_put((struct token_keyset *)snapshot_data(ref), th, &c);
    memset(out, 0, sizeof *out);
    snprintf(out->system_id, sizeof out->system_id, "%s", ip.system_id);
    snprintf(out->system_name, sizeof out->system_name, "%s", ip.system_name);
    snprintf(out->org_id, sizeof out->org_id, "%s", ip.org_id);
    snprintf(out->org_cvr, sizeof out->org_cvr, "%s", ip.org_cvr);
    out->env = ts->cfg.env;
    memcpy(out->cert_sha256, c.sha, PKI_SHA256_LEN);
    snprintf(out->cert_thumbprint, sizeof out->cert_thumbprint, "%s", c.x5t);
    snprintf(out->jti, sizeof out->jti, "%s", c.jti);
    out->exp_s = c.exp;
    snprintf(out->supplier_cvr, sizeof out->supplier_cvr, "%s", ip.supplier_cvr);
    out->any_org = c.any_org;
    out->sender_constrained = ip.sender_constrained;
    snprintf(out->on_behalf_se, sizeof out->on_behalf_se, "%s", c.obo);
    rc = 0;
out:
    if (ref)
        snapshot_release(ref);
    return rc;
}

uint64_t token_verify_cache_hits(token_service_t *ts)
{
    snapshot_ref_t *ref;
    if (snapshot_acquire(ts->keys, &ref, NULL))
        return 0;
    struct token_keyset *ks = (struct token_keyset *)snapshot_data(ref);
    pthread_mutex_lock(&ks->verified_lock);
    uint64_t n = ks->verified_hits;
    pthread_mutex_unlock(&ks->verified_lock);
    snapshot_release(ref);
    return n;
}

int token_principal_bind(token_service_t *ts, struct token_principal *p, str_t org_cvr,
                         int64_t now_ms, err_t *err)
{
    struct identity_principal ip;
    int rc = identity_supplier_bind(ts->id, p->cert_sha256, org_cvr, ts->cfg.env, now_ms, &ip, err);
    if (rc)
        return rc;
    snprintf(p->system_id, sizeof p->system_id, "%s", ip.system_id);
    snprintf(p->system_name, sizeof p->system_name, "%s", ip.system_name);
    snprintf(p->org_id, sizeof p->org_id, "%s", ip.org_id);
    snprintf(p->org_cvr, sizeof p->org_cvr, "%s", ip.org_cvr);
    snprintf(p->supplier_cvr, sizeof p->supplier_cvr, "%s", ip.supplier_cvr);
    p->any_org = false;
    return 0;
}

int token_authorisation_check(token_service_t *ts, const struct token_principal *p, str_t service,
                              int64_t now_ms, char *company_cvr, err_t *err)
{
    return identity_authorisation_check(ts->id, str_from_cstr(p->org_cvr),
                                        str_from_cstr(p->system_id), str_from_cstr(p->on_behalf_se),
                                        service, now_ms, company_cvr, err);
}
