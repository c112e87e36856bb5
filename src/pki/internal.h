/*
 * internal.h: helpers shared by the files of the pki module (not part of its
 * contract; only the .c files in src/pki/ include this).
 *
 * files.c writes files atomically with an exact mode and reads bounded files;
 * ca.c holds what certificate issuing needs in more than one place (the CA
 * loaded from a folder, serial numbers, key and certificate export).
 */
#ifndef DUPLA_PKI_INTERNAL_H
#define DUPLA_PKI_INTERNAL_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define PKI_PATH_MAX     4096
#define PKI_FILE_MAX     (1024 * 1024) /* largest PEM/DER file read */
#define PKI_SERIAL_BYTES 16            /* random serial numbers, RFC 5280 <= 20 */
#define PKI_CRL_DAYS     365           /* nextUpdate of a CRL after it is signed */
#define PKI_MODE_SECRET  0600
#define PKI_MODE_PUBLIC  0644
#define PKI_MODE_DIR     0700

/* ---- files.c ---- */

/* Joins dir and name into out (PKI_PATH_MAX bytes). 0 or DUPLA_ELIMIT. */
int pki_path(char *out, const char *dir, const char *name, err_t *err);
/* true if path exists (any kind of file). */
bool pki_file_exists(const char *path);
/* Reads the whole file into b (initialised by the caller with its maximum;
 * the caller frees it). 0, DUPLA_ENOTFOUND, DUPLA_ELIMIT or DUPLA_EIO. */
int pki_file_read(const char *path, buf_t *b, err_t *err);
/* Writes data to path with exactly the given mode, atomically (a temporary
 * file renamed into place). With exclusive, an existing path is refused with
 * DUPLA_ECONFLICT and left alone. */
int pki_file_write(const char *path, const void *data, size_t n, unsigned mode, bool exclusive,
                   err_t *err);
/* Creates dir and missing parents with mode 0700 (existing ones are kept as
 * they are). */
int pki_mkdir(const char *dir, err_t *err);

/* ---- ca.c ---- */

/* A CA loaded from a PKI folder. */
struct pki_ca {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
};

/* Loads ca.pem and ca.key from dir. A missing CA gives DUPLA_ENOTFOUND with a
 * message that says to run `dupla pki init`. Free with pki_ca_free. */
int pki_ca_load(const char *dir, struct pki_ca *ca, err_t *err);
void pki_ca_free(struct pki_ca *ca);
/* A new ECDSA P-256 key. */
int pki_key_generate(gnutls_x509_privkey_t *key, err_t *err);
/* Sets a random positive serial, version 3, validity [nb, na] (ms), the
 * subject key id of key, and (with ca) the issuer's key id. */
int pki_crt_prepare(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const struct pki_ca *ca,
                    int64_t not_before_ms, int64_t not_after_ms, err_t *err);
/* Writes crt as PEM, followed by chain's PEM when chain is not NULL, to
 * dir/name (mode 0644). */
int pki_crt_write(const char *dir, const char *name, gnutls_x509_crt_t crt, gnutls_x509_crt_t chain,
                  bool exclusive, err_t *err);
/* Appends the PEM of crt to b. */
int pki_crt_append_pem(gnutls_x509_crt_t crt, buf_t *b, err_t *err);
/* Writes key as unencrypted PKCS#8 PEM to path with mode 0600. */
int pki_key_write(gnutls_x509_privkey_t key, const char *path, bool exclusive, err_t *err);
/* gnutls error code into a DUPLA_ECRYPTO err with what was being done. */
int pki_gnutls_err(err_t *err, const char *what, int gnutls_rc);

#endif
