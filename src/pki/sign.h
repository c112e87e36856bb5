/*
 * sign.h: Ed25519 signing keys, for access tokens (JWT, "EdDSA") and for the
 * disclosure log's checkpoints.
 *
 * Why Ed25519: deterministic signatures (no nonce to get wrong), small keys
 * and signatures, fast verification on every node, and supported by GnuTLS
 * 3.7 and by JOSE libraries (RFC 8037).
 *
 * A signer holds a private key loaded from a PEM file (mode 0600); only the
 * process that signs loads it. A verifier holds a public key only. The key id
 * (kid) is the RFC 7638 JWK thumbprint of the public key, base64url.
 */
#ifndef DUPLA_PKI_SIGN_H
#define DUPLA_PKI_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/str.h"

#define PKI_ED25519_PUB_LEN 32
#define PKI_ED25519_SIG_LEN 64
#define PKI_KID_MAX         64

typedef struct pki_signer pki_signer_t;
typedef struct pki_verifier pki_verifier_t;

/* Generates a new Ed25519 private key and writes it as PEM to path (created
 * with mode 0600; an existing file is refused with DUPLA_ECONFLICT). */
int pki_signer_generate(const char *path, err_t *err);
/* Loads a private key. The caller owns *out (pki_signer_free). */
int pki_signer_load(const char *path, pki_signer_t **out, err_t *err);
void pki_signer_free(pki_signer_t *s);
/* Signs data; writes PKI_ED25519_SIG_LEN bytes to sig. */
int pki_sign(pki_signer_t *s, const void *data, size_t n, unsigned char *sig, err_t *err);
/* The key id (RFC 7638 thumbprint, base64url), valid while s lives. */
const char *pki_signer_kid(const pki_signer_t *s);
/* The raw public key (PKI_ED25519_PUB_LEN bytes). */
void pki_signer_public(const pki_signer_t *s, unsigned char *pub);

/* Keys held by another process (src/keys/: the key process of `dupla
 * serve`). Once set (before any thread starts; never unset), every
 * pki_signer_load asks r->load for the key at path instead of reading the
 * file, and the signer it returns holds only the kid and public key: its
 * pki_sign asks r->sign. r->ready says whether the other process still
 * answers (without waiting). r and r->ctx must outlive every signer. */
struct pki_signer_remote {
    void *ctx;
    int (*load)(void *ctx, const char *path, unsigned char *pub, err_t *err);
    int (*sign)(void *ctx, const char *kid, const void *data, size_t n, unsigned char *sig,
                err_t *err);
    bool (*ready)(void *ctx);
};
void pki_signer_set_remote(const struct pki_signer_remote *r);
/* Whether pki_sign can be expected to work now: a key held here, or the
 * key process still answers. */
bool pki_signer_ready(const pki_signer_t *s);

/* A verifier from a raw public key. The caller owns *out. */
int pki_verifier_new(const unsigned char *pub, pki_verifier_t **out, err_t *err);
void pki_verifier_free(pki_verifier_t *v);
/* 0 if sig is a valid signature of data, DUPLA_ECRYPTO if not. */
int pki_verify(const pki_verifier_t *v, const void *data, size_t n, const unsigned char *sig);
/* The kid of a raw public key into out (PKI_KID_MAX bytes). */
void pki_kid_of(const unsigned char *pub, char *out);

#endif
