/*
 * issue.c: system (organisation) certificates from the local CA, written as
 * PEM (certificate, then the CA's), the key as PKCS#8 PEM, and a
 * password-protected PKCS#12 file, which is what real clients load.
 *
 * The PKCS#12 uses PBES2 with AES-256 for the key and the certificate bag and
 * an HMAC-SHA-256 integrity MAC: current OpenSSL (curl, Python), NSS and
 * GnuTLS read that, and none of it is the legacy RC2/3DES.
 *
 * Issuing never overwrites: if any of the files for a name exists the call is
 * refused with DUPLA_ECONFLICT, so a key in use is never replaced by accident.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/pkcs12.h>

#include "core/clock.h"
#include "core/ident.h"
#include "core/problem.h"
#include "core/rand.h"
#include "pki/internal.h"
#include "pki/pki.h"

#define SYSTEM_DAYS_DEFAULT 365
#define MS_PER_DAY          (86400LL * 1000)
#define BACKDATE_MS         (3600LL * 1000)
#define PASSWORD_BYTES      16  /* random password: 32 hex digits */
#define PASSWORD_MAX        256 /* a given PKCS#12 password, in bytes */
#define UID_RANDOM_BYTES    8   /* default UID: 16 hex digits */
#define RDN_VALUE_MAX       64  /* X.520 upper bound of the values set here */
#define KEY_ID_MAX          64
#define TAG_UTF8STRING      0x0c
#define TAG_PRINTABLESTRING 0x13
#define COUNTRY             "DK"

enum { F_PEM, F_KEY, F_P12, F_PASS, F_COUNT };
static const char *const suffixes[F_COUNT] = {".pem", ".key", ".p12", ".p12.pass"};
/* Stems the CA's own files use; a system must not take them. */
static const char *const reserved[] = {"ca", "server", "crl"};

/* [A-Za-z0-9._-], starting with a letter or digit, 1..max bytes. */
static bool name_valid(const char *s, size_t max, bool underscore)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !(c == '.' || c == '-' || (underscore && c == '_'))))
            return false;
    }
    return true;
}

/* Appends an attribute whose value we DER-encode ourselves (GnuTLS does not
 * know organizationIdentifier by name). Values are short (< 128 bytes). */
static int set_rdn_raw(gnutls_x509_crt_t crt, const char *oid, unsigned char tag, const char *v)
{
    unsigned char der[2 + RDN_VALUE_MAX];
    size_t n = strlen(v);
    if (n > RDN_VALUE_MAX)
        return GNUTLS_E_INVALID_REQUEST;
    der[0] = tag;
    der[1] = (unsigned char)n;
    memcpy(der + 2, v, n);
    return gnutls_x509_crt_set_dn_by_oid(crt, oid, 1, der, (unsigned)(n + 2));
}

/* Builds and signs the system certificate for key. */
static int system_crt(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const struct pki_ca *ca,
                      const struct pki_system_options *opt, const char *uid, int64_t nb, int64_t na,
                      err_t *err)
{
    int rc = pki_crt_prepare(crt, key, ca, nb, na, err);
    if (rc != 0)
        return rc;
    char orgid[2 * RDN_VALUE_MAX], serial[2 * RDN_VALUE_MAX]; /* set_rdn_raw checks the bound */
    snprintf(orgid, sizeof orgid, "NTRDK-%s", opt->cvr);
    snprintf(serial, sizeof serial, "CVR:%s-UID:%s", opt->cvr, uid);
    unsigned nlen = (unsigned)strlen(opt->name);
    /* X.500 order, most general first; the RFC 4514 string reads it reversed:
     * CN=<name>,O=<name>,organizationIdentifier=NTRDK-<cvr>,
     * serialNumber=CVR:<cvr>-UID:<uid>,C=DK */
    int g;
    if ((g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COUNTRY_NAME, 0, COUNTRY,
                                           sizeof COUNTRY - 1)) < 0 ||
        (g = set_rdn_raw(crt, "2.5.4.5", TAG_PRINTABLESTRING, serial)) < 0 ||
        (g = set_rdn_raw(crt, "2.5.4.97", TAG_UTF8STRING, orgid)) < 0 ||
        (g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, opt->name,
                                           nlen)) < 0 ||
        (g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, opt->name, nlen)) <
            0 ||
        (g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0 ||
        (g = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0)
        return pki_gnutls_err(err, "making the system certificate", g);
    return 0;
}

/* The PKCS#12 (DER) of key, crt and the CA certificate into *out (the caller
 * frees out->data with gnutls_free). */
static int system_p12(gnutls_x509_privkey_t key, gnutls_x509_crt_t crt, gnutls_x509_crt_t ca_crt,
                      const char *name, const char *password, gnutls_datum_t *out, err_t *err)
{
    gnutls_pkcs12_t p12 = NULL;
    gnutls_pkcs12_bag_t cbag = NULL, kbag = NULL;
    gnutls_datum_t kd = {NULL, 0};
    unsigned char kid[KEY_ID_MAX];
    size_t nkid = sizeof kid;
    int g, idx;
    if ((g = gnutls_x509_crt_get_key_id(crt, 0, kid, &nkid)) < 0 ||
        (g = gnutls_pkcs12_init(&p12)) < 0 || (g = gnutls_pkcs12_bag_init(&cbag)) < 0 ||
        (g = gnutls_pkcs12_bag_init(&kbag)) < 0)
        goto out;
    /* localKeyId ties the key to its certificate for the client. */
    gnutls_datum_t id = {kid, (unsigned)nkid};
    if ((g = idx = gnutls_pkcs12_bag_set_crt(cbag, crt)) < 0 ||
        (g = gnutls_pkcs12_bag_set_key_id(cbag, (unsigned)idx, &id)) < 0 ||
        (g = gnutls_pkcs12_bag_set_friendly_name(cbag, (unsigned)idx, name)) < 0 ||
        (g = gnutls_pkcs12_bag_set_crt(cbag, ca_crt)) < 0 ||
        (g = gnutls_pkcs12_bag_encrypt(cbag, password, GNUTLS_PKCS_PBES2_AES_256)) < 0 ||
        (g = gnutls_pkcs12_set_bag(p12, cbag)) < 0)
        goto out;
    if ((g = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, password,
                                               GNUTLS_PKCS_PBES2_AES_256, &kd)) < 0 ||
        (g = idx = gnutls_pkcs12_bag_set_data(kbag, GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &kd)) < 0 ||
        (g = gnutls_pkcs12_bag_set_key_id(kbag, (unsigned)idx, &id)) < 0 ||
        (g = gnutls_pkcs12_bag_set_friendly_name(kbag, (unsigned)idx, name)) < 0 ||
        (g = gnutls_pkcs12_set_bag(p12, kbag)) < 0 ||
        (g = gnutls_pkcs12_generate_mac2(p12, GNUTLS_MAC_SHA256, password)) < 0 ||
        (g = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, out)) < 0)
        goto out;
out:
    if (kd.data) {
        secret_wipe(kd.data, kd.size);
        gnutls_free(kd.data);
    }
    if (kbag)
        gnutls_pkcs12_bag_deinit(kbag);
    if (cbag)
        gnutls_pkcs12_bag_deinit(cbag);
    if (p12)
        gnutls_pkcs12_deinit(p12);
    return g < 0 ? pki_gnutls_err(err, "making the PKCS#12 file", g) : 0;
}

/* Checks the options and fills the paths; 0 or an error naming the field. */
static int check_options(const struct pki_system_options *opt, char paths[F_COUNT][PKI_PATH_MAX],
                         err_t *err)
{
    if (!opt->dir || !opt->dir[0])
        return err_param(err, DUPLA_EINVAL, "dir", "no PKI folder given");
    if (!opt->cvr || !ident_cvr_valid(str_from_bounded(opt->cvr, CVR_LEN + 1)))
        return err_param(err, DUPLA_EINVAL, "cvr",
                         "not a valid CVR number: it must be 8 digits that pass the CVR "
                         "modulus-11 check");
    if (!opt->name || !name_valid(opt->name, PKI_NAME_MAX, true))
        return err_param(err, DUPLA_EINVAL, "name",
                         "a name is 1 to %d characters of A-Z a-z 0-9 . _ - and starts with a "
                         "letter or digit",
                         PKI_NAME_MAX);
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(opt->name, reserved[i]) == 0)
            return err_param(err, DUPLA_EINVAL, "name", "'%s' is the name of a CA file",
                             reserved[i]);
    if (opt->uid && !name_valid(opt->uid, PKI_ISSUE_UID_MAX, false))
        return err_param(err, DUPLA_EINVAL, "uid",
                         "a UID is 1 to %d characters of A-Z a-z 0-9 . - and starts with a "
                         "letter or digit",
                         PKI_ISSUE_UID_MAX);
    if (opt->password &&
        (!opt->password[0] || strnlen(opt->password, PASSWORD_MAX + 1) > PASSWORD_MAX))
        return err_param(err, DUPLA_EINVAL, "password", "a password is 1 to %d bytes",
                         PASSWORD_MAX);
    if (opt->days > PKI_DAYS_MAX)
        return err_param(err, DUPLA_EINVAL, "days", "at most %d days", PKI_DAYS_MAX);
    for (int f = 0; f < F_COUNT; f++) {
        char file[PKI_NAME_MAX + 16];
        snprintf(file, sizeof file, "%s%s", opt->name, suffixes[f]);
        int rc = pki_path(paths[f], opt->dir, file, err);
        if (rc != 0)
            return rc;
        if (pki_file_exists(paths[f]))
            return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_FILE_EXISTS, "name",
                              "%s already exists: a certificate named '%s' was issued before; "
                              "choose another name or remove its files",
                              paths[f], opt->name);
    }
    return 0;
}

int pki_issue_system(const struct pki_system_options *opt, err_t *err)
{
    if (!opt)
        return err_set(err, DUPLA_EINVAL, "no options");
    char paths[F_COUNT][PKI_PATH_MAX];
    int rc = check_options(opt, paths, err);
    if (rc != 0)
        return rc;
    unsigned days = opt->days ? opt->days : SYSTEM_DAYS_DEFAULT;
    int64_t nb = opt->not_before_ms ? opt->not_before_ms : clock_now_ms() - BACKDATE_MS;
    int64_t na = opt->not_after_ms ? opt->not_after_ms : nb + (int64_t)days * MS_PER_DAY;
    if (na <= nb)
        return err_param(err, DUPLA_EINVAL, "not_after", "not_after must be after not_before");

    struct pki_ca ca;
    rc = pki_ca_load(opt->dir, &ca, err);
    if (rc != 0)
        return rc;
    char uid[PKI_UID_MAX], password[PASSWORD_MAX + 1];
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t p12 = {NULL, 0};
    int written = 0;
    if (opt->uid)
        snprintf(uid, sizeof uid, "%s", opt->uid);
    else if ((rc = rand_hex(uid, UID_RANDOM_BYTES)) != 0)
        goto no_random;
    if (opt->password)
        snprintf(password, sizeof password, "%s", opt->password);
    else if ((rc = rand_hex(password, PASSWORD_BYTES)) != 0)
        goto no_random;

    if ((rc = pki_key_generate(&key, err)) != 0)
        goto out;
    if (gnutls_x509_crt_init(&crt) < 0) {
        rc = err_internal(err, DUPLA_ENOMEM, "allocating a certificate");
        goto out;
    }
    if ((rc = system_crt(crt, key, &ca, opt, uid, nb, na, err)) != 0 ||
        (rc = system_p12(key, crt, ca.crt, opt->name, password, &p12, err)) != 0)
        goto out;
    /* Exclusive writes, in an order where each step's failure undoes the
     * files before it (see out:). */
    if ((rc = pki_key_write(key, paths[F_KEY], true, err)) != 0)
        goto out;
    written = 1;
    if ((rc = pki_crt_write(opt->dir, strrchr(paths[F_PEM], '/') + 1, crt, ca.crt, true, err)) != 0)
        goto out;
    written = 2;
    if ((rc = pki_file_write(paths[F_P12], p12.data, p12.size, PKI_MODE_SECRET, true, err)) != 0)
        goto out;
    written = 3;
    if (!opt->password && (rc = pki_file_write(paths[F_PASS], password, strlen(password),
                                               PKI_MODE_SECRET, true, err)) != 0)
        goto out;
    goto out;
no_random:
    rc = err_internal(err, rc, "no random bytes");
out:
    if (rc != 0) {
        static const int order[] = {F_KEY, F_PEM, F_P12};
        for (int i = 0; i < written; i++)
            unlink(paths[order[i]]);
    }
    secret_wipe(password, sizeof password);
    if (p12.data)
        gnutls_free(p12.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    pki_ca_free(&ca);
    return rc;
}
