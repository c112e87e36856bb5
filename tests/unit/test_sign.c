/* Unit tests: pki/sign (Ed25519 signing keys, RFC 7638 key ids), checked
 * against the RFC 8037 appendix A example key. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/encode.h"
#include "pki/sign.h"

/* RFC 8037 appendix A.1 (key), A.3 (thumbprint), A.4 (signature). */
#define RFC_D     "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_KID   "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define RFC_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG                                                                                    \
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static char tmp[256];

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/dupla-test-sign-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(sign, .init = setup, .fini = teardown);

static const char *at(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    return path;
}

static pki_signer_t *new_signer(const char *name)
{
    err_t err = {0};
    cr_assert_eq(pki_signer_generate(at(name), &err), 0, "%s", err.log);
    pki_signer_t *s = NULL;
    cr_assert_eq(pki_signer_load(at(name), &s, &err), 0, "%s", err.log);
    return s;
}

Test(sign, generate_sign_verify)
{
    pki_signer_t *s = new_signer("k.pem");
    struct stat st;
    cr_assert_eq(stat(at("k.pem"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    unsigned char sig[PKI_ED25519_SIG_LEN], pub[PKI_ED25519_PUB_LEN];
    err_t err = {0};
    cr_assert_eq(pki_sign(s, "hello", 5, sig, &err), 0, "%s", err.log);
    pki_signer_public(s, pub);
    pki_verifier_t *v = NULL;
    cr_assert_eq(pki_verifier_new(pub, &v, &err), 0, "%s", err.log);
    cr_assert_eq(pki_verify(v, "hello", 5, sig), 0);
    cr_assert_eq(pki_verify(v, "hellp", 5, sig), DUPLA_ECRYPTO); /* tampered data */
    cr_assert_eq(pki_verify(v, "hello", 4, sig), DUPLA_ECRYPTO);
    sig[10] ^= 1; /* tampered signature */
    cr_assert_eq(pki_verify(v, "hello", 5, sig), DUPLA_ECRYPTO);
    sig[10] ^= 1;
    cr_assert_eq(pki_sign(s, "", 0, sig, &err), 0); /* empty data is data */
    cr_assert_eq(pki_verify(v, "", 0, sig), 0);

    /* Another key's verifier refuses. */
    pki_signer_t *other = new_signer("other.pem");
    unsigned char opub[PKI_ED25519_PUB_LEN];
    pki_signer_public(other, opub);
    pki_verifier_t *ov = NULL;
    cr_assert_eq(pki_verifier_new(opub, &ov, &err), 0);
    cr_assert_eq(pki_verify(ov, "", 0, sig), DUPLA_ECRYPTO);
    cr_assert_str_neq(pki_signer_kid(s), pki_signer_kid(other));

    pki_verifier_free(ov);
    pki_signer_free(other);
    pki_verifier_free(v);
    pki_signer_free(s);
}

Test(sign, kid_is_stable_thumbprint)
{
    pki_signer_t *s = new_signer("k.pem");
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(s, pub);
    char kid[PKI_KID_MAX];
    pki_kid_of(pub, kid);
    cr_assert_str_eq(kid, pki_signer_kid(s));
    cr_assert_eq(strlen(kid), 43);
    pki_signer_t *again = NULL;
    err_t err = {0};
    cr_assert_eq(pki_signer_load(at("k.pem"), &again, &err), 0);
    cr_assert_str_eq(pki_signer_kid(again), kid);
    pki_signer_free(again);
    pki_signer_free(s);
}

Test(sign, rfc8037_vectors)
{
    unsigned char x[PKI_ED25519_PUB_LEN], d[32];
    cr_assert_eq(base64url_decode(STR(RFC_X), x, sizeof x), 32);
    cr_assert_eq(base64url_decode(STR(RFC_D), d, sizeof d), 32);
    char kid[PKI_KID_MAX];
    pki_kid_of(x, kid);
    cr_assert_str_eq(kid, RFC_KID);

    /* The RFC's private key, written as PEM the way pki_signer_generate does. */
    gnutls_x509_privkey_t key;
    cr_assert_eq(gnutls_x509_privkey_init(&key), 0);
    gnutls_datum_t dx = {x, 32}, dd = {d, 32};
    cr_assert_eq(gnutls_x509_privkey_import_ecc_raw(key, GNUTLS_ECC_CURVE_ED25519, &dx, NULL, &dd),
                 0);
    gnutls_datum_t pem;
    cr_assert_eq(
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem),
        0);
    FILE *f = fopen(at("rfc.pem"), "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(pem.data, 1, pem.size, f), pem.size);
    fclose(f);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(key);

    err_t err = {0};
    pki_signer_t *s = NULL;
    cr_assert_eq(chmod(at("rfc.pem"), 0644), 0);
    cr_assert_eq(pki_signer_load(at("rfc.pem"), &s, &err), DUPLA_EFORBIDDEN); /* readable */
    cr_assert_eq(chmod(at("rfc.pem"), 0600), 0);
    cr_assert_eq(pki_signer_load(at("rfc.pem"), &s, &err), 0, "%s", err.log);
    cr_assert_str_eq(pki_signer_kid(s), RFC_KID);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(s, pub);
    cr_assert(memcmp(pub, x, 32) == 0);

    unsigned char sig[PKI_ED25519_SIG_LEN];
    cr_assert_eq(pki_sign(s, RFC_INPUT, strlen(RFC_INPUT), sig, &err), 0);
    char b64[100];
    base64url_encode(sig, sizeof sig, b64);
    cr_assert_str_eq(b64, RFC_SIG);

    pki_verifier_t *v = NULL;
    cr_assert_eq(pki_verifier_new(x, &v, &err), 0);
    cr_assert_eq(pki_verify(v, RFC_INPUT, strlen(RFC_INPUT), sig), 0);
    pki_verifier_free(v);
    pki_signer_free(s);
}

Test(sign, refusals)
{
    err_t err = {0};
    pki_signer_t *s = new_signer("k.pem");
    pki_signer_free(s);
    cr_assert_eq(pki_signer_generate(at("k.pem"), &err), DUPLA_ECONFLICT); /* no overwrite */
    cr_assert_eq(pki_signer_load(at("none.pem"), &s, &err), DUPLA_ENOTFOUND);
    cr_assert_null(s);

    FILE *f = fopen(at("junk.pem"), "w");
    fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    chmod(at("junk.pem"), 0600);
    cr_assert_eq(pki_signer_load(at("junk.pem"), &s, &err), DUPLA_EINVAL);

    /* An ECDSA key is not an Ed25519 signing key. */
    gnutls_x509_privkey_t key;
    gnutls_datum_t pem;
    cr_assert_eq(gnutls_x509_privkey_init(&key), 0);
    cr_assert_eq(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                              GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                 0);
    cr_assert_eq(
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem),
        0);
    f = fopen(at("ec.pem"), "wb");
    fwrite(pem.data, 1, pem.size, f);
    fclose(f);
    chmod(at("ec.pem"), 0600);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(key);
    cr_assert_eq(pki_signer_load(at("ec.pem"), &s, &err), DUPLA_EINVAL);
    cr_assert_not_null(strstr(err.detail, "Ed25519"));
    cr_assert_null(s);
}
