/*
 * fuzz_jwt.c: the bearer token as a data call presents it: the
 * Authorization header (token/routes.c: token_bearer_parse) and the JWT
 * reader and verifier (token/jwt.c: token_verify) against a real token
 * service (a SQLite store with one organisation and one recipient system,
 * a signing key made at start). The first byte picks the mode:
 *   0  the rest is an Authorization header value, verified as sent;
 *   1  the rest is a JOSE header and claims (JSON, separated by a
 *      newline) with @KID@ @ISS@ @AUD@ @SUB@ @CVR@ @X5T@ standing for the
 *      service's values; the target encodes and signs them with the
 *      service's active key, so the claims checks are reached;
 *   2  as 1, with one bit of the signature flipped.
 * Properties: a token is accepted only when signed by the key (never in
 * mode 2), with alg EdDSA, and for the registered system and its
 * certificate, not expired at the time of the check.
 */
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/encode.h"
#include "fuzz.h"
#include "identity/identity.h"
#include "store/store.h"
#include "token/internal.h"
#include "token/routes.h"
#include "token/token.h"

#define FUZZ_JWT_NOW  1800000000000LL /* 2027-01-15: the time of every check */
#define FUZZ_JWT_CVR  "12345674"
#define FUZZ_JWT_MAX  (TOKEN_MAX_BYTES * 2)
#define FUZZ_JWT_JSON 4096

static struct dupla_config cfg;
static store_t *st;
static identity_t *id;
static token_service_t *ts;
static struct token_config tcfg;
static struct identity_system sys;
static struct pki_cert_info cert;
static char x5t[TOKEN_THUMBPRINT_B64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_tmpdir("jwt");
    err_t err;
    err_clear(&err);
    fuzz_must(config_load_string("{\"environment\":\"test\", \"store\":\"sqlite:t.db\", "
                                 "\"token\": {\"key_dir\": \"keys\"}}",
                                 dir, &cfg, &err),
              &err, "config");
    fuzz_must(store_open(cfg.store_url, NULL, &st, &err), &err, "store");
    fuzz_must(identity_open(st, &cfg, &id, &err), &err, "identity");
    identity_actor_t local;
    identity_actor_local(&local);
    struct identity_org_new in = {.name = STR("A"),
                                  .cvr = STR(FUZZ_JWT_CVR),
                                  .contact_email = STR("k@a.dk"),
                                  .admin_username = STR("admin@a.dk")};
    struct identity_org o;
    struct identity_setup_secret sec;
    fuzz_must(identity_org_create(id, &local, &in, &o, &sec, &err), &err, "org");
    for (size_t i = 0; i < sizeof cert.sha256; i++)
        cert.sha256[i] = (unsigned char)(i * 7 + 1);
    hex_encode(cert.sha256, sizeof cert.sha256, cert.sha256_hex);
    snprintf(cert.cvr, sizeof cert.cvr, FUZZ_JWT_CVR);
    snprintf(cert.subject, sizeof cert.subject, "CN=s");
    cert.not_before_ms = clock_now_ms() - 86400000;
    cert.not_after_ms = FUZZ_JWT_NOW + 86400000LL * 365;
    fuzz_must(identity_system_register(id, &local, STR(FUZZ_JWT_CVR), STR("s"), SYSTEM_RECIPIENT,
                                       &cert, &sys, &err),
              &err, "system");
    fuzz_must(token_config_load(&cfg, &tcfg, &err), &err, "token config");
    fuzz_must(token_service_new(&tcfg, id, &ts, &err), &err, "token service");
    base64url_encode(cert.sha256, PKI_SHA256_LEN, x5t);
    return 0;
}

/* s with each @NAME@ replaced by its value, into out (cap bytes); the
 * length, or 0 when it does not fit. */
static size_t expand(str_t s, const char *kid, char *out, size_t cap)
{
    const char *const names[] = {"@KID@", "@ISS@", "@AUD@", "@SUB@", "@CVR@", "@X5T@"};
    const char *const values[] = {kid, tcfg.issuer, tcfg.audience, sys.id, FUZZ_JWT_CVR, x5t};
    size_t n = 0;
    for (size_t i = 0; i < s.len;) {
        const char *v = NULL;
        size_t skip = 1;
        for (size_t k = 0; k < sizeof names / sizeof names[0] && !v; k++) {
            size_t l = strlen(names[k]);
            if (s.len - i >= l && memcmp(s.ptr + i, names[k], l) == 0)
                v = values[k], skip = l;
        }
        size_t vl = v ? strlen(v) : 1;
        if (n + vl >= cap)
            return 0;
        memcpy(out + n, v ? v : s.ptr + i, vl);
        n += vl;
        i += skip;
    }
    return n;
}

static void check_accepted(const struct token_principal *p)
{
    FUZZ_CHECK(strcmp(p->system_id, sys.id) == 0);
    FUZZ_CHECK(strcmp(p->org_cvr, FUZZ_JWT_CVR) == 0);
    FUZZ_CHECK(memcmp(p->cert_sha256, cert.sha256, PKI_SHA256_LEN) == 0);
    FUZZ_CHECK(p->exp_s * 1000 + (int64_t)tcfg.leeway_s * 1000 > FUZZ_JWT_NOW);
}

/* Modes 1 and 2: header and claims, signed here. */
static void signed_token(str_t in, bool tamper)
{
    str_t hj = fuzz_take(&in, '\n'), cj = in;
    char kid[PKI_KID_MAX];
    token_active_kid(ts, kid);
    char h[FUZZ_JWT_JSON], c[FUZZ_JWT_JSON];
    size_t hn = expand(hj, kid, h, sizeof h), cn = expand(cj, kid, c, sizeof c);
    if (!hn || !cn)
        return;
    char *jwt = malloc(FUZZ_JWT_MAX + 2 + base64url_encoded_size(PKI_ED25519_SIG_LEN));
    if (!jwt)
        abort();
    size_t n = 0;
    if (base64url_encoded_size(hn) + base64url_encoded_size(cn) > FUZZ_JWT_MAX) {
        free(jwt);
        return;
    }
    n += base64url_encode(h, hn, jwt);
    jwt[n++] = '.';
    n += base64url_encode(c, cn, jwt + n);
    unsigned char sig[PKI_ED25519_SIG_LEN];
    err_t err;
    err_clear(&err);
    snapshot_ref_t *ref;
    fuzz_must(snapshot_acquire(ts->keys, &ref, &err), &err, "keys");
    const struct token_keyset *ks = snapshot_data(ref);
    fuzz_must(pki_sign(ks->signer, jwt, n, sig, &err), &err, "sign");
    snapshot_release(ref);
    if (tamper)
        sig[(hn + cn) % sizeof sig] ^= (unsigned char)(1u << (cn % 8));
    jwt[n++] = '.';
    n += base64url_encode(sig, sizeof sig, jwt + n);
    struct token_principal p;
    int rc = token_verify(ts, (str_t){jwt, n}, FUZZ_JWT_NOW, &p, &err);
    if (tamper)
        FUZZ_CHECK(rc != 0);
    if (rc == 0) {
        check_accepted(&p);
        FUZZ_CHECK(n <= TOKEN_MAX_BYTES);
    } else {
        FUZZ_CHECK(err.type[0] != '\0');
    }
    free(jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    str_t in = fuzz_str(data + 1, size - 1);
    switch (data[0] % 3) {
    case 0: {
        str_t tok;
        if (!token_bearer_parse(in, &tok))
            break;
        FUZZ_CHECK(tok.ptr >= in.ptr && tok.ptr + tok.len <= in.ptr + in.len);
        struct token_principal p;
        err_t err;
        err_clear(&err);
        if (token_verify(ts, tok, FUZZ_JWT_NOW, &p, &err) == 0)
            check_accepted(&p);
        else
            FUZZ_CHECK(err.type[0] != '\0');
        break;
    }
    case 1:
        signed_token(in, false);
        break;
    default:
        signed_token(in, true);
        break;
    }
    return 0;
}
