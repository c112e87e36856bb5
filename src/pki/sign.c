/*
 * sign.c: Ed25519 signing keys (RFC 8032) on GnuTLS, for JWT access tokens
 * ("EdDSA", RFC 8037) and the disclosure log's checkpoints.
 *
 * A key file is unencrypted PKCS#8 PEM, mode 0600; loading refuses a file
 * that others may read or write, as ssh does, since whoever reads it can mint
 * tokens. The kid is the RFC 7638 thumbprint, computed once when a key is
 * loaded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "core/buf.h"
#include "core/encode.h"
#include "core/problem.h"
#include "core/rand.h"
#include "pki/internal.h"
#include "pki/sign.h"

#define SIGN_KEY_FILE_MAX (16 * 1024)

struct pki_signer {
    gnutls_privkey_t key; /* NULL: the key is the remote's */
    unsigned char pub[PKI_ED25519_PUB_LEN];
    char kid[PKI_KID_MAX];
};

struct pki_verifier {
    gnutls_pubkey_t key;
};

static const struct pki_signer_remote *remote;

void pki_signer_set_remote(const struct pki_signer_remote *r)
{
    remote = r;
}

bool pki_signer_ready(const pki_signer_t *s)
{
    return s->key || (remote && remote->ready(remote->ctx));
}

/* The signer of a key the remote holds: its public key and kid only. */
static int remote_load(const char *path, pki_signer_t **out, err_t *err)
{
    pki_signer_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_internal(err, DUPLA_ENOMEM, "out of memory");
    int rc = remote->load(remote->ctx, path, s->pub, err);
    if (rc) {
        free(s);
        return rc;
    }
    pki_kid_of(s->pub, s->kid);
    *out = s;
    return 0;
}

int pki_signer_generate(const char *path, err_t *err)
{
    if (!path || !path[0])
        return err_param(err, DUPLA_EINVAL, "path", "no key file given");
    if (pki_file_exists(path))
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_FILE_EXISTS, "path",
                          "%s already exists; not overwriting it", path);
    gnutls_x509_privkey_t key;
    int g = gnutls_x509_privkey_init(&key);
    if (g < 0)
        return pki_gnutls_err(err, "allocating a key", g);
    int rc = 0;
    g = gnutls_x509_privkey_generate(key, GNUTLS_PK_EDDSA_ED25519, 0, 0);
    if (g < 0)
        rc = pki_gnutls_err(err, "generating an Ed25519 key", g);
    else
        rc = pki_key_write(key, path, true, err);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

void pki_kid_of(const unsigned char *pub, char *out)
{
    /* RFC 7638: the required members in lexical order, no white space. */
    char x[48];
    base64url_encode(pub, PKI_ED25519_PUB_LEN, x);
    char json[96];
    int n = snprintf(json, sizeof json, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    unsigned char digest[32];
    if (n < 0 || (size_t)n >= sizeof json ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, json, (size_t)n, digest) < 0) {
        out[0] = '\0'; /* cannot happen: fixed sizes, SHA-256 always there */
        return;
    }
    base64url_encode(digest, sizeof digest, out);
}

int pki_signer_load(const char *path, pki_signer_t **out, err_t *err)
{
    *out = NULL;
    if (!path || !path[0])
        return err_param(err, DUPLA_EINVAL, "path", "no key file given");
    if (remote)
        return remote_load(path, out, err);
    struct stat st;
    if (stat(path, &st) != 0)
        return err_param(err, DUPLA_ENOTFOUND, "path", "%s: no such key file", path);
    if (st.st_mode & 077)
        return err_param(err, DUPLA_EFORBIDDEN, "path",
                         "%s may be read or written by others; make it mode 0600", path);
    buf_t b;
    buf_init(&b, SIGN_KEY_FILE_MAX);
    int rc = pki_file_read(path, &b, err);
    pki_signer_t *s = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t x = {NULL, 0};
    int g = 0;
    if (rc != 0)
        goto out;
    s = calloc(1, sizeof *s);
    if (!s) {
        rc = err_internal(err, DUPLA_ENOMEM, "out of memory");
        goto out;
    }
    gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
    if ((g = gnutls_privkey_init(&s->key)) < 0 ||
        (g = gnutls_privkey_import_x509_raw(s->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        rc = err_param(err, DUPLA_EINVAL, "path", "%s holds no private key: %s", path,
                       gnutls_strerror(g));
        goto out;
    }
    if (gnutls_privkey_get_pk_algorithm(s->key, NULL) != GNUTLS_PK_EDDSA_ED25519) {
        rc = err_param(err, DUPLA_EINVAL, "path", "%s is not an Ed25519 key", path);
        goto out;
    }
    gnutls_ecc_curve_t curve;
    if ((g = gnutls_pubkey_init(&pub)) < 0 ||
        (g = gnutls_pubkey_import_privkey(pub, s->key, 0, 0)) < 0 ||
        (g = gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, NULL, 0)) < 0) {
        rc = pki_gnutls_err(err, "reading the public key", g);
        goto out;
    }
    if (x.size != PKI_ED25519_PUB_LEN) {
        rc = err_internal(err, DUPLA_ECRYPTO, "Ed25519 public key of %u bytes", x.size);
        goto out;
    }
    memcpy(s->pub, x.data, PKI_ED25519_PUB_LEN);
    pki_kid_of(s->pub, s->kid);
    *out = s;
    s = NULL;
out:
    gnutls_free(x.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    pki_signer_free(s);
    secret_wipe(b.data, b.len);
    buf_free(&b);
    return rc;
}

void pki_signer_free(pki_signer_t *s)
{
    if (!s)
        return;
    if (s->key)
        gnutls_privkey_deinit(s->key);
    free(s);
}

int pki_sign(pki_signer_t *s, const void *data, size_t n, unsigned char *sig, err_t *err)
{
    if (n > UINT32_MAX)
        return err_set(err, DUPLA_ELIMIT, "data too large to sign");
    if (!s->key)
        return remote->sign(remote->ctx, s->kid, data, n, sig, err);
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)n};
    gnutls_datum_t out = {NULL, 0};
    int g = gnutls_privkey_sign_data2(s->key, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &out);
    if (g < 0)
        return pki_gnutls_err(err, "signing", g);
    int rc = 0;
    if (out.size != PKI_ED25519_SIG_LEN)
        rc = err_internal(err, DUPLA_ECRYPTO, "Ed25519 signature of %u bytes", out.size);
    else
        memcpy(sig, out.data, PKI_ED25519_SIG_LEN);
    gnutls_free(out.data);
    return rc;
}

const char *pki_signer_kid(const pki_signer_t *s)
{
    return s->kid;
}

void pki_signer_public(const pki_signer_t *s, unsigned char *pub)
{
    memcpy(pub, s->pub, PKI_ED25519_PUB_LEN);
}

int pki_verifier_new(const unsigned char *pub, pki_verifier_t **out, err_t *err)
{
    *out = NULL;
    pki_verifier_t *v = calloc(1, sizeof *v);
    if (!v)
        return err_internal(err, DUPLA_ENOMEM, "out of memory");
    gnutls_datum_t x = {(unsigned char *)(uintptr_t)pub, PKI_ED25519_PUB_LEN};
    int g;
    if ((g = gnutls_pubkey_init(&v->key)) < 0 ||
        (g = gnutls_pubkey_import_ecc_raw(v->key, GNUTLS_ECC_CURVE_ED25519, &x, NULL)) < 0) {
        pki_verifier_free(v);
        return err_param(err, DUPLA_EINVAL, "public_key", "not an Ed25519 public key: %s",
                         gnutls_strerror(g));
    }
    *out = v;
    return 0;
}

void pki_verifier_free(pki_verifier_t *v)
{
    if (!v)
        return;
    if (v->key)
        gnutls_pubkey_deinit(v->key);
    free(v);
}

int pki_verify(const pki_verifier_t *v, const void *data, size_t n, const unsigned char *sig)
{
    if (n > UINT32_MAX)
        return DUPLA_ECRYPTO;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)n};
    gnutls_datum_t s = {(unsigned char *)(uintptr_t)sig, PKI_ED25519_SIG_LEN};
    return gnutls_pubkey_verify_data2(v->key, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) >= 0
               ? 0
               : DUPLA_ECRYPTO;
}
