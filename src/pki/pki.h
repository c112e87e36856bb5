/*
 * pki.h: X.509 for the platform, on GnuTLS.
 *
 * Two jobs: (1) reading certificates the platform is shown (subject, issuer,
 * serial, SHA-256 fingerprint, validity, and the organisation's CVR number
 * carried in the subject), used by the TLS layer, /whoami and the identity
 * module; (2) a local certificate authority for development, tests and the
 * demo: a CA, a server certificate, and system (organisation) certificates
 * written as PEM and as password-protected PKCS#12, plus a CRL.
 *
 * A system certificate carries the CVR in its subject the way Danish
 * organisation certificates do: organizationIdentifier (2.5.4.97) =
 * "NTRDK-<cvr>" and serialNumber (2.5.4.5) = "CVR:<cvr>-UID:<uid>". Reading
 * accepts either.
 *
 * Files in a PKI folder (pki_init and pki_issue_* write them):
 *   ca.pem, ca.key            the local CA (key mode 0600)
 *   server.pem, server.key    server certificate, SAN localhost, 127.0.0.1, ::1
 *   crl.pem                   the CA's current revocation list
 *   <name>.pem, <name>.key, <name>.p12   an issued system certificate (the
 *                             .pem holds the certificate, then the CA's)
 *   <name>.p12.pass           the PKCS#12 password when it was generated
 *                             (mode 0600, no trailing newline)
 */
#ifndef DUPLA_PKI_PKI_H
#define DUPLA_PKI_PKI_H

#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/str.h"

#define PKI_SUBJECT_MAX   512
#define PKI_SHA256_LEN    32
#define PKI_SHA256_HEX    65 /* 64 hex digits + NUL */
#define PKI_SERIAL_HEX    81
#define PKI_CVR_MAX       9
#define PKI_UID_MAX       65
#define PKI_DAYS_MAX      36500 /* validity given in days: at most this */
#define PKI_CA_NAME_MAX   64    /* X.520 upper bound of a common name */
#define PKI_NAME_MAX      64    /* a system's name (file stem and CN) */
#define PKI_ISSUE_UID_MAX 47    /* "CVR:<8>-UID:<uid>" within X.520's 64 */

/* SHA-256 of the n bytes at data (zeros should GnuTLS fail to hash). */
void pki_sha256(const void *data, size_t n, unsigned char out[PKI_SHA256_LEN]);
/* The same as 64 lowercase hex digits and a NUL: the one digest-to-hex
 * helper (certificate fingerprints, session and secret hashes, mail ids). */
void pki_sha256_hex(const void *data, size_t n, char out[PKI_SHA256_HEX]);

struct pki_cert_info {
    char subject[PKI_SUBJECT_MAX]; /* RFC 4514 string */
    char issuer[PKI_SUBJECT_MAX];
    char common_name[256];
    char serial_hex[PKI_SERIAL_HEX];
    unsigned char sha256[PKI_SHA256_LEN]; /* of the DER encoding */
    char sha256_hex[PKI_SHA256_HEX];      /* lowercase hex of sha256 */
    char cvr[PKI_CVR_MAX];                /* "" when the subject names none */
    char uid[PKI_UID_MAX];                /* the UID part of serialNumber, or "" */
    int64_t not_before_ms;
    int64_t not_after_ms;
    bool is_ca;
};

/* Fills *out from a parsed certificate. The subject and issuer strings name
 * CN, O, OU, C, L, ST, STREET, DC, UID, serialNumber, organizationIdentifier
 * and emailAddress; other types appear as dotted OIDs, and values that are not
 * UTF-8 text as '#' and hex. A subject naming two different CVR numbers is
 * ambiguous and yields no CVR (and no UID). DUPLA_ELIMIT if a name does not
 * fit PKI_SUBJECT_MAX. */
int pki_cert_info_from_crt(gnutls_x509_crt_t crt, struct pki_cert_info *out, err_t *err);
/* Parses one certificate (DER) and fills *out. */
int pki_cert_info_from_der(const void *der, size_t len, struct pki_cert_info *out, err_t *err);
/* Parses the first certificate of a PEM text and fills *out. */
int pki_cert_info_from_pem(str_t pem, struct pki_cert_info *out, err_t *err);
/* Reads the first certificate of a file, PEM or DER, and fills *out.
 * DUPLA_ENOTFOUND if there is no such file, DUPLA_EINVAL if it holds no
 * certificate. */
int pki_cert_info_from_file(const char *path, struct pki_cert_info *out, err_t *err);

/* ---- the local CA (development, tests, demo) ---- */

struct pki_init_options {
    const char *dir;     /* created if missing (mode 0700) */
    const char *ca_name; /* CN of the CA; default "dupla local CA" */
    unsigned days;       /* validity of CA and server certificate; default 825 */
    bool force;          /* overwrite an existing CA; default: refuse */
};

/* Creates ca.pem/ca.key, server.pem/server.key (SAN DNS:localhost,
 * IP:127.0.0.1, IP:::1) and an empty crl.pem in opt->dir. Without force, an
 * existing CA is kept and only missing files are made (so it is safe to run
 * again). */
int pki_init(const struct pki_init_options *opt, err_t *err);

struct pki_system_options {
    const char *dir;       /* the PKI folder with ca.pem/ca.key */
    const char *cvr;       /* 8 digits, modulus-11 checked */
    const char *name;      /* the system's name: CN and file name stem */
    const char *uid;       /* UID in serialNumber; default: random */
    const char *password;  /* PKCS#12 password; default: random, written
                              to <name>.p12.pass (mode 0600) */
    int64_t not_before_ms; /* 0: now - 1 hour */
    int64_t not_after_ms;  /* 0: not_before + days */
    unsigned days;         /* default 365 */
};

/* Issues a system certificate signed by the folder's CA and writes
 * <name>.pem, <name>.key and <name>.p12 (and <name>.p12.pass). Never
 * overwrites: if any of these files exists the call fails with
 * DUPLA_ECONFLICT. DUPLA_ENOTFOUND if the folder has no CA; DUPLA_EINVAL with
 * err->param set for a bad option. The subject reads (RFC 4514)
 * CN=<name>,O=<name>,organizationIdentifier=NTRDK-<cvr>,
 * serialNumber=CVR:<cvr>-UID:<uid>,C=DK. */
int pki_issue_system(const struct pki_system_options *opt, err_t *err);

/* Adds the certificate in cert_file (PEM or DER) to the folder's CRL
 * (crl.pem, re-signed by the CA, numbered one higher). Revoking a listed
 * certificate again changes nothing but the dates. DUPLA_EINVAL (param
 * "cert") if the certificate was not issued by this CA. */
int pki_revoke(const char *dir, const char *cert_file, err_t *err);

#endif
