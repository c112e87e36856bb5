/*
 * ca.c: the local certificate authority for development, tests and the demo:
 * the CA itself, the server certificate, and the revocation list. System
 * certificates are issued in issue.c with the helpers here.
 *
 * Keys are ECDSA P-256 (small, fast, accepted by every TLS stack the
 * platform's clients use) and are written as unencrypted PKCS#8 PEM with
 * mode 0600; certificates and the CRL as PEM with mode 0644.
 */
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/rand.h"
#include "pki/internal.h"
#include "pki/pki.h"

#define CA_NAME_DEFAULT  "dupla local CA"
#define CA_DAYS_DEFAULT  825 /* also what browsers accept for a server cert */
#define SERVER_CN        "localhost"
#define MS_PER_DAY       (86400LL * 1000)
#define BACKDATE_MS      (3600LL * 1000) /* tolerate clocks an hour behind */
#define KEY_ID_MAX       64
#define CA_CERT_FILE     "ca.pem"
#define CA_KEY_FILE      "ca.key"
#define SERVER_CERT_FILE "server.pem"
#define SERVER_KEY_FILE  "server.key"
#define CRL_FILE         "crl.pem"

int pki_gnutls_err(err_t *err, const char *what, int gnutls_rc)
{
    return err_internal(err, DUPLA_ECRYPTO, "%s: %s", what, gnutls_strerror(gnutls_rc));
}

/* Imports a PEM certificate or key file; kind "crt" or "key". */
static int load_pem(const char *dir, const char *name, gnutls_x509_crt_t crt,
                    gnutls_x509_privkey_t key, err_t *err)
{
    char path[PKI_PATH_MAX];
    int rc = pki_path(path, dir, name, err);
    if (rc != 0)
        return rc;
    buf_t b;
    buf_init(&b, PKI_FILE_MAX);
    rc = pki_file_read(path, &b, err);
    if (rc == 0) {
        gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
        int g = crt ? gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)
                    : gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM);
        if (g < 0)
            rc = err_set(err, DUPLA_EINVAL, "%s: cannot be read: %s", path, gnutls_strerror(g));
    }
    secret_wipe(b.data, b.len);
    buf_free(&b);
    return rc;
}

int pki_ca_load(const char *dir, struct pki_ca *ca, err_t *err)
{
    memset(ca, 0, sizeof *ca);
    char path[PKI_PATH_MAX];
    int rc = pki_path(path, dir, CA_CERT_FILE, err);
    if (rc != 0)
        return rc;
    if (!pki_file_exists(path))
        return err_param(err, DUPLA_ENOTFOUND, "dir",
                         "no CA in %s: run `dupla pki init --dir %s` first", dir, dir);
    if (gnutls_x509_crt_init(&ca->crt) < 0 || gnutls_x509_privkey_init(&ca->key) < 0) {
        pki_ca_free(ca);
        return err_internal(err, DUPLA_ENOMEM, "allocating the CA");
    }
    rc = load_pem(dir, CA_CERT_FILE, ca->crt, NULL, err);
    if (rc == 0)
        rc = load_pem(dir, CA_KEY_FILE, NULL, ca->key, err);
    if (rc == 0) {
        /* The key must be the certificate's. */
        unsigned char a[KEY_ID_MAX], b[KEY_ID_MAX];
        size_t na = sizeof a, nb = sizeof b;
        if (gnutls_x509_crt_get_key_id(ca->crt, 0, a, &na) < 0 ||
            gnutls_x509_privkey_get_key_id(ca->key, 0, b, &nb) < 0 || na != nb ||
            memcmp(a, b, na) != 0)
            rc = err_set(err, DUPLA_EINVAL, "%s/%s does not belong to %s/%s", dir, CA_KEY_FILE, dir,
                         CA_CERT_FILE);
    }
    if (rc != 0)
        pki_ca_free(ca);
    return rc;
}

void pki_ca_free(struct pki_ca *ca)
{
    if (ca->crt)
        gnutls_x509_crt_deinit(ca->crt);
    if (ca->key)
        gnutls_x509_privkey_deinit(ca->key);
    ca->crt = NULL;
    ca->key = NULL;
}

int pki_key_generate(gnutls_x509_privkey_t *key, err_t *err)
{
    int rc = gnutls_x509_privkey_init(key);
    if (rc < 0)
        return pki_gnutls_err(err, "allocating a key", rc);
    rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc < 0) {
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
        return pki_gnutls_err(err, "generating a key", rc);
    }
    return 0;
}

int pki_crt_prepare(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const struct pki_ca *ca,
                    int64_t not_before_ms, int64_t not_after_ms, err_t *err)
{
    unsigned char serial[PKI_SERIAL_BYTES];
    if (rand_bytes(serial, sizeof serial) != 0)
        return err_internal(err, DUPLA_EIO, "no random bytes");
    /* Positive and minimally encoded: first byte in 0x01..0x7f. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
    unsigned char kid[KEY_ID_MAX];
    size_t nkid = sizeof kid;
    int rc;
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(crt, (time_t)(not_before_ms / 1000))) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(crt, (time_t)(not_after_ms / 1000))) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = gnutls_x509_crt_get_key_id(crt, 0, kid, &nkid)) < 0 ||
        (rc = gnutls_x509_crt_set_subject_key_id(crt, kid, nkid)) < 0)
        return pki_gnutls_err(err, "preparing a certificate", rc);
    if (ca) {
        nkid = sizeof kid;
        unsigned critical = 0;
        if ((rc = gnutls_x509_crt_get_subject_key_id(ca->crt, kid, &nkid, &critical)) < 0 ||
            (rc = gnutls_x509_crt_set_authority_key_id(crt, kid, nkid)) < 0)
            return pki_gnutls_err(err, "setting the authority key id", rc);
    }
    return 0;
}

int pki_crt_append_pem(gnutls_x509_crt_t crt, buf_t *b, err_t *err)
{
    gnutls_datum_t d;
    int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
    if (rc < 0)
        return pki_gnutls_err(err, "exporting a certificate", rc);
    rc = buf_append(b, d.data, d.size);
    gnutls_free(d.data);
    return rc == 0 ? 0 : err_internal(err, rc, "certificate PEM too large");
}

int pki_key_write(gnutls_x509_privkey_t key, const char *path, bool exclusive, err_t *err)
{
    gnutls_datum_t d;
    int rc =
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d);
    if (rc < 0)
        return pki_gnutls_err(err, "exporting a key", rc);
    rc = pki_file_write(path, d.data, d.size, PKI_MODE_SECRET, exclusive, err);
    secret_wipe(d.data, d.size);
    gnutls_free(d.data);
    return rc;
}

int pki_crt_write(const char *dir, const char *name, gnutls_x509_crt_t crt, gnutls_x509_crt_t chain,
                  bool exclusive, err_t *err)
{
    char path[PKI_PATH_MAX];
    int rc = pki_path(path, dir, name, err);
    if (rc != 0)
        return rc;
    buf_t b;
    buf_init(&b, PKI_FILE_MAX);
    rc = pki_crt_append_pem(crt, &b, err);
    if (rc == 0 && chain)
        rc = pki_crt_append_pem(chain, &b, err);
    if (rc == 0)
        rc = pki_file_write(path, b.data, b.len, PKI_MODE_PUBLIC, exclusive, err);
    buf_free(&b);
    return rc;
}

/* Makes a new CA (self-signed) in ca->crt/ca->key. */
static int ca_create(struct pki_ca *ca, const char *cn, unsigned days, err_t *err)
{
    memset(ca, 0, sizeof *ca);
    int rc = pki_key_generate(&ca->key, err);
    if (rc != 0)
        return rc;
    if (gnutls_x509_crt_init(&ca->crt) < 0) {
        pki_ca_free(ca);
        return err_internal(err, DUPLA_ENOMEM, "allocating a certificate");
    }
    int64_t nb = clock_now_ms() - BACKDATE_MS;
    rc = pki_crt_prepare(ca->crt, ca->key, NULL, nb, nb + (int64_t)days * MS_PER_DAY, err);
    int g = 0;
    if (rc == 0 &&
        ((g = gnutls_x509_crt_set_dn_by_oid(ca->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                            (unsigned)strlen(cn))) < 0 ||
         (g = gnutls_x509_crt_set_basic_constraints(ca->crt, 1, -1)) < 0 ||
         (g = gnutls_x509_crt_set_key_usage(ca->crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                                         GNUTLS_KEY_CRL_SIGN |
                                                         GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
         (g = gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0))
        rc = pki_gnutls_err(err, "making the CA certificate", g);
    if (rc != 0)
        pki_ca_free(ca);
    return rc;
}

/* Issues server.pem/server.key: SAN localhost, 127.0.0.1 and ::1. */
static int server_create(const char *dir, const struct pki_ca *ca, unsigned days, err_t *err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc = pki_key_generate(&key, err);
    if (rc != 0)
        return rc;
    if (gnutls_x509_crt_init(&crt) < 0) {
        gnutls_x509_privkey_deinit(key);
        return err_internal(err, DUPLA_ENOMEM, "allocating a certificate");
    }
    int64_t nb = clock_now_ms() - BACKDATE_MS;
    rc = pki_crt_prepare(crt, key, ca, nb, nb + (int64_t)days * MS_PER_DAY, err);
    unsigned char v4[4], v6[16];
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);
    int g = 0;
    if (rc == 0 &&
        ((g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, SERVER_CN,
                                            sizeof SERVER_CN - 1)) < 0 ||
         (g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, SERVER_CN,
                                                   sizeof SERVER_CN - 1, GNUTLS_FSAN_APPEND)) < 0 ||
         (g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v4, sizeof v4,
                                                   GNUTLS_FSAN_APPEND)) < 0 ||
         (g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v6, sizeof v6,
                                                   GNUTLS_FSAN_APPEND)) < 0 ||
         (g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
         (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
         (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
         (g = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0))
        rc = pki_gnutls_err(err, "making the server certificate", g);
    char path[PKI_PATH_MAX];
    if (rc == 0)
        rc = pki_path(path, dir, SERVER_KEY_FILE, err);
    if (rc == 0)
        rc = pki_key_write(key, path, false, err);
    if (rc == 0)
        rc = pki_crt_write(dir, SERVER_CERT_FILE, crt, NULL, false, err);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* A non-negative integer as the content of a minimal DER INTEGER (out has 9
 * bytes). Returns its length. */
static size_t encode_uint(uint64_t v, unsigned char *out)
{
    unsigned char tmp[9] = {0};
    for (int i = 0; i < 8; i++)
        tmp[1 + i] = (unsigned char)(v >> (56 - 8 * i));
    size_t start = 0;
    while (start < 8 && tmp[start] == 0 && !(tmp[start + 1] & 0x80))
        start++;
    memcpy(out, tmp + start, sizeof tmp - start);
    return sizeof tmp - start;
}

/* Signs a new CRL with old's entries (old may be NULL) plus serial (may be
 * NULL), numbered one past old's, and writes it to dir/crl.pem. */
static int crl_write(const char *dir, const struct pki_ca *ca, gnutls_x509_crl_t old,
                     const unsigned char *serial, size_t serial_len, err_t *err)
{
    gnutls_x509_crl_t crl;
    int g = gnutls_x509_crl_init(&crl);
    if (g < 0)
        return pki_gnutls_err(err, "allocating a CRL", g);
    int rc = 0;
    time_t now = (time_t)(clock_now_ms() / 1000);
    unsigned char number[9];
    size_t number_len = 0;
    if ((g = gnutls_x509_crl_set_version(crl, 2)) < 0 ||
        (g = gnutls_x509_crl_set_this_update(crl, now)) < 0 ||
        (g = gnutls_x509_crl_set_next_update(crl, now + (time_t)PKI_CRL_DAYS * 86400)) < 0)
        goto fail;
    /* Carry over the old entries, then add the new one (once). */
    bool listed = false;
    int count = old ? gnutls_x509_crl_get_crt_count(old) : 0;
    for (int i = 0; i < count; i++) {
        unsigned char s[PKI_SERIAL_HEX / 2];
        size_t ns = sizeof s;
        time_t t;
        if ((g = gnutls_x509_crl_get_crt_serial(old, i, s, &ns, &t)) < 0 ||
            (g = gnutls_x509_crl_set_crt_serial(crl, s, ns, t)) < 0)
            goto fail;
        if (serial && ns == serial_len && memcmp(s, serial, ns) == 0)
            listed = true;
    }
    if (serial && !listed && (g = gnutls_x509_crl_set_crt_serial(crl, serial, serial_len, now)) < 0)
        goto fail;
    /* CRL number: one more than the old one's. */
    uint64_t n = 1;
    unsigned char oldnum[8];
    size_t noldnum = sizeof oldnum;
    unsigned crit = 0;
    if (old && gnutls_x509_crl_get_number(old, oldnum, &noldnum, &crit) >= 0) {
        n = 0;
        for (size_t i = 0; i < noldnum; i++)
            n = (n << 8) | oldnum[i];
        n++;
    }
    number_len = encode_uint(n, number);
    unsigned char kid[KEY_ID_MAX];
    size_t nkid = sizeof kid;
    if ((g = gnutls_x509_crl_set_number(crl, number, number_len)) < 0 ||
        (g = gnutls_x509_crt_get_subject_key_id(ca->crt, kid, &nkid, &crit)) < 0 ||
        (g = gnutls_x509_crl_set_authority_key_id(crl, kid, nkid)) < 0 ||
        (g = gnutls_x509_crl_sign2(crl, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0)
        goto fail;
    gnutls_datum_t d;
    if ((g = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d)) < 0)
        goto fail;
    char path[PKI_PATH_MAX];
    rc = pki_path(path, dir, CRL_FILE, err);
    if (rc == 0)
        rc = pki_file_write(path, d.data, d.size, PKI_MODE_PUBLIC, false, err);
    gnutls_free(d.data);
    gnutls_x509_crl_deinit(crl);
    return rc;
fail:
    gnutls_x509_crl_deinit(crl);
    return pki_gnutls_err(err, "making the CRL", g);
}

int pki_init(const struct pki_init_options *opt, err_t *err)
{
    if (!opt || !opt->dir || !opt->dir[0])
        return err_param(err, DUPLA_EINVAL, "dir", "no PKI folder given");
    const char *cn = opt->ca_name && opt->ca_name[0] ? opt->ca_name : CA_NAME_DEFAULT;
    unsigned days = opt->days ? opt->days : CA_DAYS_DEFAULT;
    if (days > PKI_DAYS_MAX)
        return err_param(err, DUPLA_EINVAL, "days", "at most %d days", PKI_DAYS_MAX);
    if (strlen(cn) > PKI_CA_NAME_MAX)
        return err_param(err, DUPLA_EINVAL, "ca_name", "at most %d characters", PKI_CA_NAME_MAX);
    int rc = pki_mkdir(opt->dir, err);
    if (rc != 0)
        return rc;

    char ca_pem[PKI_PATH_MAX], ca_key[PKI_PATH_MAX], srv_pem[PKI_PATH_MAX], srv_key[PKI_PATH_MAX],
        crl[PKI_PATH_MAX];
    if ((rc = pki_path(ca_pem, opt->dir, CA_CERT_FILE, err)) != 0 ||
        (rc = pki_path(ca_key, opt->dir, CA_KEY_FILE, err)) != 0 ||
        (rc = pki_path(srv_pem, opt->dir, SERVER_CERT_FILE, err)) != 0 ||
        (rc = pki_path(srv_key, opt->dir, SERVER_KEY_FILE, err)) != 0 ||
        (rc = pki_path(crl, opt->dir, CRL_FILE, err)) != 0)
        return rc;

    bool have_pem = pki_file_exists(ca_pem), have_key = pki_file_exists(ca_key);
    bool fresh = opt->force || (!have_pem && !have_key);
    if (!fresh && have_pem != have_key)
        return err_param(err, DUPLA_ECONFLICT, "dir",
                         "%s holds only half a CA (%s without %s); use force to replace it",
                         opt->dir, have_pem ? CA_CERT_FILE : CA_KEY_FILE,
                         have_pem ? CA_KEY_FILE : CA_CERT_FILE);
    struct pki_ca ca;
    if (fresh) {
        rc = ca_create(&ca, cn, days, err);
        if (rc != 0)
            return rc;
        /* Key first: a ca.pem without its key is never left behind. */
        rc = pki_key_write(ca.key, ca_key, false, err);
        if (rc == 0)
            rc = pki_crt_write(opt->dir, CA_CERT_FILE, ca.crt, NULL, false, err);
    } else {
        rc = pki_ca_load(opt->dir, &ca, err);
        if (rc != 0)
            return rc;
    }
    if (rc == 0 && (fresh || !pki_file_exists(srv_pem) || !pki_file_exists(srv_key)))
        rc = server_create(opt->dir, &ca, days, err);
    if (rc == 0 && (fresh || !pki_file_exists(crl)))
        rc = crl_write(opt->dir, &ca, NULL, NULL, 0, err);
    pki_ca_free(&ca);
    return rc;
}

int pki_revoke(const char *dir, const char *cert_file, err_t *err)
{
    if (!dir || !dir[0])
        return err_param(err, DUPLA_EINVAL, "dir", "no PKI folder given");
    if (!cert_file || !cert_file[0])
        return err_param(err, DUPLA_EINVAL, "cert", "no certificate file given");
    struct pki_ca ca;
    int rc = pki_ca_load(dir, &ca, err);
    if (rc != 0)
        return rc;
    gnutls_x509_crt_t crt = NULL;
    gnutls_x509_crl_t old = NULL;
    buf_t b;
    buf_init(&b, PKI_FILE_MAX);
    rc = pki_file_read(cert_file, &b, err);
    if (rc != 0)
        goto out;
    int g;
    if ((g = gnutls_x509_crt_init(&crt)) < 0) {
        rc = pki_gnutls_err(err, "allocating a certificate", g);
        goto out;
    }
    gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 &&
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
        rc = err_param(err, DUPLA_EINVAL, "cert", "%s holds no certificate", cert_file);
        goto out;
    }
    unsigned status = 0;
    unsigned vflags = GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS;
    if (gnutls_x509_crt_verify(crt, &ca.crt, 1, vflags, &status) < 0 || status != 0) {
        rc = err_param(err, DUPLA_EINVAL, "cert", "%s was not issued by the CA in %s", cert_file,
                       dir);
        goto out;
    }
    unsigned char serial[PKI_SERIAL_HEX / 2];
    size_t nserial = sizeof serial;
    if ((g = gnutls_x509_crt_get_serial(crt, serial, &nserial)) < 0) {
        rc = pki_gnutls_err(err, "reading the serial number", g);
        goto out;
    }
    /* The current CRL, if any, to carry its entries over. */
    char path[PKI_PATH_MAX];
    if ((rc = pki_path(path, dir, CRL_FILE, err)) != 0)
        goto out;
    buf_reset(&b);
    err_t ignored;
    if (pki_file_read(path, &b, &ignored) == 0) {
        d = (gnutls_datum_t){(unsigned char *)b.data, (unsigned)b.len};
        if (gnutls_x509_crl_init(&old) < 0 ||
            gnutls_x509_crl_import(old, &d, GNUTLS_X509_FMT_PEM) < 0 ||
            gnutls_x509_crl_verify(old, &ca.crt, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) <
                0 ||
            status != 0) {
            rc = err_set(err, DUPLA_EINVAL, "%s is not a CRL signed by the CA", path);
            goto out;
        }
    }
    rc = crl_write(dir, &ca, old, serial, nserial, err);
out:
    if (old)
        gnutls_x509_crl_deinit(old);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    buf_free(&b);
    pki_ca_free(&ca);
    return rc;
}
