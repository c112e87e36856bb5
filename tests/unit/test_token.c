/* Unit tests: token (JWT issue and verification, key rotation, JWKS). */
#include <criterion/criterion.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/rand.h"
#include "core/snapshot.h"
#include "token/token.h"

#define CVR_A "12345674"

static char dir[64];
static struct dupla_config cfg;
static store_t *st;
static identity_t *id;
static token_service_t *ts;
static struct token_config tcfg;
static identity_actor_t local;
static struct pki_cert_info cert;
static struct identity_system sys;

static void load_config(const char *token_section, struct dupla_config *c)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"environment\":\"test\", \"store\":\"sqlite:t.db\", \"token\": {%s}}",
             token_section);
    err_t err;
    cr_assert_eq(config_load_string(text, dir, c, &err), 0, "%s", err.log);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-token-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    load_config("\"key_dir\": \"keys\"", &cfg);
    err_t err;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(identity_open(st, &cfg, &id, &err), 0, "%s", err.log);
    identity_actor_local(&local);
    struct identity_org_new in = {.name = STR("A"),
                                  .cvr = STR(CVR_A),
                                  .contact_email = STR("k@a.dk"),
                                  .admin_username = STR("admin@a.dk")};
    struct identity_org o;
    struct identity_setup_secret sec;
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), 0, "%s", err.log);
    memset(&cert, 0, sizeof cert);
    cr_assert_eq(rand_bytes(cert.sha256, sizeof cert.sha256), 0);
    hex_encode(cert.sha256, sizeof cert.sha256, cert.sha256_hex);
    snprintf(cert.cvr, sizeof cert.cvr, CVR_A);
    snprintf(cert.subject, sizeof cert.subject, "CN=s");
    cert.not_before_ms = clock_now_ms() - 3600000;
    cert.not_after_ms = clock_now_ms() + 86400000;
    cr_assert_eq(identity_system_register(id, &local, STR(CVR_A), STR("s"), SYSTEM_RECIPIENT, &cert,
                                          &sys, &err),
                 0, "%s", err.log);
    cr_assert_eq(token_config_load(&cfg, &tcfg, &err), 0, "%s", err.log);
    cr_assert_eq(token_service_new(&tcfg, id, &ts, &err), 0, "%s", err.log);
}

static void teardown(void)
{
    token_service_free(ts);
    identity_close(id);
    store_close(st);
    config_free(&cfg);
    fx_rmtree(dir);
}

TestSuite(token, .init = setup, .fini = teardown);

static char *issue_with(token_service_t *t, int64_t now_ms)
{
    struct identity_principal p;
    err_t err;
    cr_assert_eq(
        identity_authenticate_cert(id, &cert, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        0, "%s", err.log);
    char *jwt;
    struct token_issued info;
    cr_assert_eq(token_issue(t, &p, now_ms, &jwt, &info, &err), 0, "%s", err.log);
    cr_assert_eq(info.expires_in, t == ts ? TOKEN_DEFAULT_LIFETIME_S : info.expires_in);
    return jwt;
}

static void expect_refusal(const char *jwt, const char *type)
{
    struct token_principal pr;
    err_t err;
    err_clear(&err);
    int rc = token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err);
    cr_assert_eq(rc, DUPLA_EUNAUTH, "accepted, wanted %s", type);
    cr_assert_eq(err_status(&err), 401);
    cr_assert_str_eq(err.type, type, "refused as %s (%s), wanted %s", err.type, err.detail, type);
}

/* base64url(text) */
static void b64(const char *text, char *out)
{
    base64url_encode(text, strlen(text), out);
}

/* A token from our header and claims but a new header. */
static char *with_header(const char *jwt, const char *header_json)
{
    char h[512];
    b64(header_json, h);
    const char *dot = strchr(jwt, '.');
    char *out = malloc(strlen(h) + strlen(dot) + 1);
    sprintf(out, "%s%s", h, dot);
    return out;
}

Test(token, issues_a_token_that_verifies)
{
    char *jwt = issue_with(ts, clock_now_ms());
    struct token_principal pr;
    err_t err;
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    cr_assert_str_eq(pr.system_id, sys.id);
    cr_assert_str_eq(pr.org_cvr, CVR_A);
    cr_assert_eq(pr.env, ENV_TEST);
    cr_assert_eq(memcmp(pr.cert_sha256, cert.sha256, 32), 0);
    char x5t[TOKEN_THUMBPRINT_B64];
    base64url_encode(cert.sha256, 32, x5t);
    cr_assert_str_eq(pr.cert_thumbprint, x5t);

    /* the header and claims are what token.h says */
    const char *dot = strchr(jwt, '.');
    char raw[2048];
    long n = base64url_decode((str_t){jwt, (size_t)(dot - jwt)}, raw, sizeof raw);
    json_t *h = json_loadb(raw, (size_t)n, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "EdDSA");
    cr_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    char kid[PKI_KID_MAX];
    token_active_kid(ts, kid);
    cr_assert_str_eq(json_string_value(json_object_get(h, "kid")), kid);
    json_decref(h);
    const char *dot2 = strchr(dot + 1, '.');
    n = base64url_decode((str_t){dot + 1, (size_t)(dot2 - dot - 1)}, raw, sizeof raw);
    json_t *c = json_loadb(raw, (size_t)n, 0, NULL);
    const char *keys[] = {"iss", "aud", "sub", "org_cvr", "env", "iat", "nbf", "exp", "jti", "cnf"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null(json_object_get(c, keys[i]), "claim %s", keys[i]);
    cr_assert_eq(json_integer_value(json_object_get(c, "exp")) -
                     json_integer_value(json_object_get(c, "iat")),
                 TOKEN_DEFAULT_LIFETIME_S);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "cnf"), "x5t#S256")),
                     x5t);
    json_decref(c);
    free(jwt);
}

Test(token, refuses_a_wrong_signature)
{
    char *jwt = issue_with(ts, clock_now_ms());
    char *last = strrchr(jwt, '.') + 5;
    *last = *last == 'A' ? 'B' : 'A';
    expect_refusal(jwt, PROBLEM_TOKEN_SIGNATURE);
    /* claims changed under the same signature */
    free(jwt);
    jwt = issue_with(ts, clock_now_ms());
    char *p = strchr(jwt, '.') + 10;
    *p = *p == 'A' ? 'B' : 'A';
    struct token_principal pr;
    err_t err;
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), DUPLA_EUNAUTH);
    free(jwt);
}

Test(token, refuses_another_key)
{
    /* A service with its own key folder: its kid is unknown here. */
    struct dupla_config c2;
    load_config("\"key_dir\": \"other-keys\"", &c2);
    struct token_config t2;
    token_service_t *other;
    err_t err;
    cr_assert_eq(token_config_load(&c2, &t2, &err), 0);
    cr_assert_eq(token_service_new(&t2, id, &other, &err), 0, "%s", err.log);
    char *jwt = issue_with(other, clock_now_ms());
    expect_refusal(jwt, PROBLEM_TOKEN_UNKNOWN_KEY);
    /* ... and signed by the other key while naming ours */
    char kid[PKI_KID_MAX], header[256];
    token_active_kid(ts, kid);
    snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *forged = with_header(jwt, header);
    expect_refusal(forged, PROBLEM_TOKEN_SIGNATURE);
    free(forged);
    free(jwt);
    token_service_free(other);
    config_free(&c2);
}

Test(token, refuses_alg_none_and_other_algorithms)
{
    char *jwt = issue_with(ts, clock_now_ms());
    char kid[PKI_KID_MAX], header[256];
    token_active_kid(ts, kid);
    const char *algs[] = {"none", "HS256", "ES256", "RS256", "eddsa"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i],
                 kid);
        char *t = with_header(jwt, header);
        expect_refusal(t, PROBLEM_TOKEN_ALGORITHM);
        /* and with the signature stripped, as "none" tokens come */
        *(strrchr(t, '.') + 1) = '\0';
        expect_refusal(t, PROBLEM_TOKEN_ALGORITHM);
        free(t);
    }
    char *t = with_header(jwt, "{\"typ\":\"JWT\"}");
    expect_refusal(t, PROBLEM_TOKEN_ALGORITHM);
    free(t);
    free(jwt);
}

Test(token, refuses_expired_and_not_yet_valid)
{
    int64_t now = clock_now_ms();
    char *old =
        issue_with(ts, now - (TOKEN_DEFAULT_LIFETIME_S + TOKEN_DEFAULT_LEEWAY_S + 1) * 1000);
    expect_refusal(old, PROBLEM_TOKEN_EXPIRED);
    free(old);
    /* inside the leeway still good */
    char *recent = issue_with(ts, now - (TOKEN_DEFAULT_LIFETIME_S + 5) * 1000);
    struct token_principal pr;
    err_t err;
    cr_assert_eq(token_verify(ts, str_from_cstr(recent), now, &pr, &err), 0, "%s", err.log);
    free(recent);
    char *future = issue_with(ts, now + (TOKEN_DEFAULT_LEEWAY_S + 60) * 1000);
    expect_refusal(future, PROBLEM_TOKEN_NOT_YET);
    free(future);
}

Test(token, refuses_wrong_audience_issuer_and_environment)
{
    const char *sections[] = {"\"key_dir\": \"keys\", \"audience\": \"urn:other:api\"",
                              "\"key_dir\": \"keys\", \"issuer\": \"https://evil.example\""};
    const char *types[] = {PROBLEM_TOKEN_AUDIENCE, PROBLEM_TOKEN_ISSUER};
    for (int i = 0; i < 2; i++) {
        struct dupla_config c2;
        load_config(sections[i], &c2);
        struct token_config t2;
        token_service_t *other;
        err_t err;
        cr_assert_eq(token_config_load(&c2, &t2, &err), 0);
        cr_assert_eq(token_service_new(&t2, id, &other, &err), 0, "%s", err.log);
        char *jwt = issue_with(other, clock_now_ms());
        expect_refusal(jwt, types[i]);
        free(jwt);
        token_service_free(other);
        config_free(&c2);
    }
    /* a production token in the test environment */
    struct token_config t3 = tcfg;
    t3.env = ENV_PRODUCTION;
    token_service_t *prod;
    err_t err;
    cr_assert_eq(token_service_new(&t3, id, &prod, &err), 0);
    char *jwt = issue_with(prod, clock_now_ms());
    expect_refusal(jwt, PROBLEM_TOKEN_ENVIRONMENT);
    free(jwt);
    token_service_free(prod);
}

Test(token, refuses_when_system_revoked_after_issue)
{
    char *jwt = issue_with(ts, clock_now_ms());
    err_t err;
    cr_assert_eq(
        identity_system_set_status(id, &local, str_from_cstr(sys.id), SYSTEM_SUSPENDED, &err), 0);
    expect_refusal(jwt, PROBLEM_SYSTEM_SUSPENDED);
    cr_assert_eq(identity_system_set_status(id, &local, str_from_cstr(sys.id), SYSTEM_ACTIVE, &err),
                 0);
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_SUSPENDED, STR(""), &err), 0);
    expect_refusal(jwt, PROBLEM_ORG_SUSPENDED);
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_ACTIVE, STR(""), &err), 0);
    cr_assert_eq(
        identity_system_set_status(id, &local, str_from_cstr(sys.id), SYSTEM_REVOKED, &err), 0);
    /* revoking the system revokes its certificate too: the first check to
     * fail is the certificate's */
    expect_refusal(jwt, PROBLEM_CERT_REVOKED);
    free(jwt);
}

/* A token seen again skips the signature check, but nothing else. */
Test(token, a_token_seen_again_skips_only_the_signature)
{
    int64_t now = clock_now_ms();
    char *jwt = issue_with(ts, now);
    struct token_principal first, again;
    err_t err;
    uint64_t hits = token_verify_cache_hits(ts);
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), now, &first, &err), 0, "%s", err.log);
    cr_assert_eq(token_verify_cache_hits(ts), hits, "the first sight checks the signature");
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), now, &again, &err), 0, "%s", err.log);
    cr_assert_eq(token_verify_cache_hits(ts), hits + 1, "the second sight is remembered");
    cr_assert_str_eq(again.system_id, first.system_id);
    cr_assert_str_eq(again.jti, first.jti);
    cr_assert_eq(again.exp_s, first.exp_s);
    /* the claims come from what was remembered, not from decoding again */
    cr_assert_str_eq(again.cert_thumbprint, first.cert_thumbprint);
    cr_assert_eq(memcmp(again.cert_sha256, first.cert_sha256, sizeof first.cert_sha256), 0);
    cr_assert_str_eq(again.org_cvr, first.org_cvr);
    cr_assert_str_eq(again.on_behalf_se, first.on_behalf_se);
    cr_assert_eq(again.any_org, first.any_org);

    /* Remembered, yet still expired when its time has passed. */
    struct token_principal pr;
    err_clear(&err);
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt),
                              now + (TOKEN_DEFAULT_LIFETIME_S + TOKEN_DEFAULT_LEEWAY_S + 1) * 1000,
                              &pr, &err),
                 DUPLA_EUNAUTH);
    cr_assert_str_eq(err.type, PROBLEM_TOKEN_EXPIRED);

    /* Remembered, yet refused once its system is suspended; and a token
     * first seen while its system is suspended is not remembered. */
    char *unseen = issue_with(ts, now + 1000);
    cr_assert_eq(
        identity_system_set_status(id, &local, str_from_cstr(sys.id), SYSTEM_SUSPENDED, &err), 0);
    expect_refusal(jwt, PROBLEM_SYSTEM_SUSPENDED);
    hits = token_verify_cache_hits(ts);
    expect_refusal(unseen, PROBLEM_SYSTEM_SUSPENDED);
    expect_refusal(unseen, PROBLEM_SYSTEM_SUSPENDED);
    cr_assert_eq(token_verify_cache_hits(ts), hits,
                 "a token the registry refused is never remembered");
    free(unseen);
    cr_assert_eq(identity_system_set_status(id, &local, str_from_cstr(sys.id), SYSTEM_ACTIVE, &err),
                 0);

    /* A forged signature on the same header and claims is not a token seen before. */
    char *forged = strdup(jwt);
    char *last = strrchr(forged, '.') + 5;
    *last = *last == 'A' ? 'B' : 'A';
    hits = token_verify_cache_hits(ts);
    expect_refusal(forged, PROBLEM_TOKEN_SIGNATURE);
    expect_refusal(forged, PROBLEM_TOKEN_SIGNATURE);
    cr_assert_eq(token_verify_cache_hits(ts), hits, "a refused token is never remembered");
    free(forged);
    free(jwt);
}

/* New keys (a rotation) start with nothing remembered. */
Test(token, new_keys_remember_nothing)
{
    char *jwt = issue_with(ts, clock_now_ms());
    struct token_principal pr;
    err_t err;
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    char kid2[PKI_KID_MAX];
    cr_assert_eq(token_rotate_key(&tcfg, kid2, &err), 0, "%s", err.log);
    usleep((TOKEN_KEYSET_POLL_MS + 50) * 1000); /* the server looks at the folder */
    char *t2 = issue_with(ts, clock_now_ms());  /* loads the new keys */
    uint64_t hits = token_verify_cache_hits(ts);
    cr_assert_eq(hits, 0, "the new keyset remembers nothing");
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    cr_assert_eq(token_verify_cache_hits(ts), 0, "checked again under the new keys");
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    cr_assert_eq(token_verify_cache_hits(ts), 1);
    free(t2);
    free(jwt);
}

Test(token, refuses_malformed_tokens)
{
    const char *bad[] = {"",           "abc", "a.b", "a.b.c.d", "..", "eyJhbGciOiJFZERTQSJ9..sig",
                         "!!!.???.***"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refusal(bad[i], PROBLEM_TOKEN_MALFORMED);
    char *big = malloc(TOKEN_MAX_BYTES + 2);
    memset(big, 'a', TOKEN_MAX_BYTES + 1);
    big[TOKEN_MAX_BYTES + 1] = '\0';
    expect_refusal(big, PROBLEM_TOKEN_MALFORMED);
    free(big);
}

Test(token, rotation_keeps_old_tokens_verifying)
{
    char kid1[PKI_KID_MAX], kid2[PKI_KID_MAX];
    token_active_kid(ts, kid1);
    char *t1 = issue_with(ts, clock_now_ms());
    err_t err;
    cr_assert_eq(token_rotate_key(&tcfg, kid2, &err), 0, "%s", err.log);
    cr_assert_str_neq(kid1, kid2);
    usleep((TOKEN_KEYSET_POLL_MS + 50) * 1000); /* the server looks at the folder */
    char *t2 = issue_with(ts, clock_now_ms());
    char now_kid[PKI_KID_MAX];
    token_active_kid(ts, now_kid);
    cr_assert_str_eq(now_kid, kid2);
    struct token_principal pr;
    cr_assert_eq(token_verify(ts, str_from_cstr(t1), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    cr_assert_eq(token_verify(ts, str_from_cstr(t2), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    json_t *jwks = token_jwks(ts);
    json_t *keys = json_object_get(jwks, "keys");
    cr_assert_eq(json_array_size(keys), 2);
    json_t *k = json_array_get(keys, 0);
    cr_assert_str_eq(json_string_value(json_object_get(k, "kty")), "OKP");
    cr_assert_str_eq(json_string_value(json_object_get(k, "crv")), "Ed25519");
    cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), kid2);
    cr_assert_eq(strlen(json_string_value(json_object_get(k, "x"))), 43);
    json_decref(jwks);
    free(t1);
    free(t2);
}

Test(token, rotation_deletes_keys_whose_tokens_all_expired)
{
    /* Two old keys, made long ago: after a rotation, the oldest (whose
     * successor is older than lifetime + leeway) is deleted; the other (just
     * retired by the new key) stays. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s/keys && mv key-*.pem key-0000000001000.pem && cp key-0000000001000.pem "
             "key-0000000002000.pem",
             dir);
    cr_assert_eq(system(cmd), 0);
    err_t err;
    char kid[PKI_KID_MAX];
    cr_assert_eq(token_rotate_key(&tcfg, kid, &err), 0, "%s", err.log);
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "%s/keys/key-0000000001000.pem", dir);
    snprintf(p2, sizeof p2, "%s/keys/key-0000000002000.pem", dir);
    cr_assert_neq(access(p1, F_OK), 0, "the expired key is still there");
    cr_assert_eq(access(p2, F_OK), 0, "the just-retired key is gone");
}

Test(token, config_is_checked)
{
    struct dupla_config c2;
    load_config("\"path\": \"token\"", &c2);
    struct token_config t2;
    err_t err;
    cr_assert_eq(token_config_load(&c2, &t2, &err), DUPLA_EINVAL);
    config_free(&c2);
    load_config("\"lifetime_seconds\": 0", &c2);
    cr_assert_eq(token_config_load(&c2, &t2, &err), DUPLA_EINVAL);
    cr_assert(strstr(err.detail, "lifetime_seconds") != NULL, "%s", err.detail);
    config_free(&c2);
}

Test(token_config, unknown_key_is_refused_by_name)
{
    struct dupla_config c2;
    err_t err;
    err_clear(&err);
    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"token\":{\"lifetime\":60}}",
                                    "/tmp", &c2, &err),
                 0);
    struct token_config t2;
    cr_assert_eq(token_config_load(&c2, &t2, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "lifetime");
    cr_assert(strstr(err.detail, "unknown key \"lifetime\" in section \"token\""), "%s",
              err.detail);
    config_free(&c2);
}

static void key_dir_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* The key folder cannot be read: the keys in memory sign and verify for at
 * most the stale bound, then issuing and verifying answer 503; once the
 * folder is back, they serve again. */
Test(token, an_unreadable_key_folder_past_the_bound_refuses_with_503)
{
    char *jwt = issue_with(ts, clock_now_ms());
    char keys[160], gone[160];
    key_dir_path(keys, sizeof keys, "keys");
    key_dir_path(gone, sizeof gone, "keys-gone");
    cr_assert_eq(rename(keys, gone), 0);
    usleep((TOKEN_KEYSET_POLL_MS + 50) * 1000); /* the next call looks at the folder */
    char *t2 = issue_with(ts, clock_now_ms());  /* within the bound: the keys held */
    free(t2);
    snapshot_set_stale_max_ms(0);
    struct identity_principal p;
    err_t err;
    cr_assert_eq(
        identity_authenticate_cert(id, &cert, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        0);
    char *t3 = NULL;
    cr_assert_eq(token_issue(ts, &p, clock_now_ms(), &t3, NULL, &err), DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_str_eq(err.type, SNAPSHOT_UNAVAILABLE_TYPE);
    struct token_principal pr;
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_null(token_jwks(ts));
    cr_assert_eq(rename(gone, keys), 0);
    usleep((TOKEN_KEYSET_POLL_MS + 50) * 1000);
    json_t *jwks = token_jwks(ts); /* looks, and serves again */
    cr_assert_not_null(jwks);
    json_decref(jwks);
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), 0, "%s", err.log);
    snapshot_set_stale_max_ms(SNAPSHOT_STALE_MAX_MS);
    free(jwt);
}

/* The identity registry cannot be reloaded past the bound: a token is not
 * "invalid" (401), the platform is unavailable (503). */
Test(token, a_failing_identity_registry_answers_503_not_401)
{
    char *jwt = issue_with(ts, clock_now_ms());
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(
        store_exec(c, "ALTER TABLE identity_generation RENAME TO identity_generation_gone", &err),
        0, "%s", err.log);
    store_conn_put(c);
    cr_assert_neq(identity_registry_invalidate(id, &err), 0);
    snapshot_set_stale_max_ms(0);
    struct token_principal pr;
    cr_assert_eq(token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &pr, &err), DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_str_eq(err.type, SNAPSHOT_UNAVAILABLE_TYPE);
    snapshot_set_stale_max_ms(SNAPSHOT_STALE_MAX_MS);
    free(jwt);
}
