/*
 * cert.c: reading certificates: the fields the platform shows and logs
 * (subject, issuer, serial, SHA-256 fingerprint, validity) and the
 * organisation's CVR number carried in the subject.
 *
 * The CVR is read from organizationIdentifier (2.5.4.97) "NTRDK-<cvr>" and
 * from serialNumber (2.5.4.5) "CVR:<cvr>-UID:<uid>"; only exactly 8 digits
 * count. If the subject names two different CVR numbers the certificate is
 * ambiguous and no CVR is reported (so it identifies no organisation).
 */
#include <gnutls/crypto.h>
#include <string.h>

#include "core/encode.h"
#include "pki/internal.h"
#include "pki/pki.h"

#define OID_ORGANIZATION_IDENTIFIER "2.5.4.97"
#define OID_SERIAL_NUMBER           "2.5.4.5"
#define OID_COMMON_NAME             "2.5.4.3"
#define ORGID_PREFIX                "NTRDK-"
#define SERIAL_CVR_PREFIX           "CVR:"
#define SERIAL_UID_SEPARATOR        "-UID:"

void pki_sha256(const void *data, size_t n, unsigned char out[PKI_SHA256_LEN])
{
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, out) != 0)
        memset(out, 0, PKI_SHA256_LEN);
}

void pki_sha256_hex(const void *data, size_t n, char out[PKI_SHA256_HEX])
{
    unsigned char d[PKI_SHA256_LEN];
    pki_sha256(data, n, d);
    hex_encode(d, sizeof d, out);
}

/* Attribute types printed by name (RFC 4514 section 3 and the two that
 * carry the CVR); others are printed as dotted OIDs. */
static const struct {
    const char *oid, *name;
} dn_names[] = {
    {"2.5.4.3", "CN"},
    {"2.5.4.7", "L"},
    {"2.5.4.8", "ST"},
    {"2.5.4.10", "O"},
    {"2.5.4.11", "OU"},
    {"2.5.4.6", "C"},
    {"2.5.4.9", "STREET"},
    {"0.9.2342.19200300.100.1.25", "DC"},
    {"0.9.2342.19200300.100.1.1", "UID"},
    {"2.5.4.5", "serialNumber"},
    {"2.5.4.97", "organizationIdentifier"},
    {"1.2.840.113549.1.9.1", "emailAddress"},
};

#define TAG_UTF8STRING      0x0c
#define TAG_PRINTABLESTRING 0x13
#define TAG_IA5STRING       0x16

/* Appends one attribute value: as an escaped string (RFC 4514 section 2.4)
 * when it is a UTF-8, printable or IA5 string, else as '#' and the hex of its
 * DER encoding. */
static int dn_append_value(buf_t *b, const gnutls_x509_ava_st *ava)
{
    str_t v = {(const char *)ava->value.data, ava->value.size};
    bool text = (ava->value_tag == TAG_UTF8STRING || ava->value_tag == TAG_PRINTABLESTRING ||
                 ava->value_tag == TAG_IA5STRING) &&
                utf8_valid(v);
    int rc = 0;
    if (!text) {
        /* tag, definite length (short or long form), contents */
        unsigned char head[6] = {(unsigned char)ava->value_tag};
        size_t nh = 1;
        if (v.len < 0x80) {
            head[nh++] = (unsigned char)v.len;
        } else {
            int bytes = v.len > 0xffffff ? 4 : v.len > 0xffff ? 3 : v.len > 0xff ? 2 : 1;
            head[nh++] = (unsigned char)(0x80 | bytes);
            for (int k = bytes - 1; k >= 0; k--)
                head[nh++] = (unsigned char)(v.len >> (8 * k));
        }
        rc = buf_append_cstr(b, "#");
        if (rc == 0)
            rc = buf_append_hex(b, head, nh);
        if (rc == 0)
            rc = buf_append_hex(b, v.ptr, v.len);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < 0x20 || c == 0x7f)
            rc = buf_printf(b, "\\%02X", c);
        else if (strchr("\\\",+<>;", c) || (i == 0 && (c == '#' || c == ' ')) ||
                 (i == v.len - 1 && c == ' '))
            rc = buf_printf(b, "\\%c", c);
        else
            rc = buf_append(b, &c, 1);
    }
    return rc;
}

/* Formats dn as an RFC 4514 string into out (cap bytes): RDNs last to
 * first, multi-valued RDNs joined by '+'. */
static int dn_format(gnutls_x509_dn_t dn, char *out, size_t cap, const char *what, err_t *err)
{
    int nrdn = 0;
    gnutls_x509_ava_st ava;
    while (gnutls_x509_dn_get_rdn_ava(dn, nrdn, 0, &ava) == 0)
        nrdn++;
    buf_t b;
    buf_init(&b, cap - 1);
    int rc = buf_append(&b, "", 0);
    for (int irdn = nrdn - 1; rc == 0 && irdn >= 0; irdn--) {
        for (int iava = 0; rc == 0 && gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava) == 0;
             iava++) {
            str_t oid = {(const char *)ava.oid.data,
                         strnlen((const char *)ava.oid.data, ava.oid.size)};
            const char *name = NULL;
            for (size_t k = 0; k < sizeof dn_names / sizeof dn_names[0] && !name; k++)
                if (str_eq_cstr(oid, dn_names[k].oid))
                    name = dn_names[k].name;
            if (irdn != nrdn - 1 || iava != 0)
                rc = buf_append_cstr(&b, iava ? "+" : ",");
            if (rc == 0)
                rc = name ? buf_append_cstr(&b, name) : buf_append_str(&b, oid);
            if (rc == 0)
                rc = buf_append_cstr(&b, "=");
            if (rc == 0)
                rc = dn_append_value(&b, &ava);
        }
    }
    if (rc == 0)
        str_copy(buf_str(&b), out, cap);
    buf_free(&b);
    if (rc != 0)
        return err_set(err, DUPLA_ELIMIT, "the %s is longer than %zu bytes", what, cap - 1);
    return 0;
}

/* true if s is exactly CVR_LEN digits. */
static bool cvr_shape(str_t s)
{
    return s.len == 8 && str_is_digits(s);
}

/* Records a CVR found in the subject; a second, different one makes the
 * subject ambiguous. */
static void note_cvr(str_t cvr, char *found, bool *ambiguous)
{
    if (!cvr_shape(cvr))
        return;
    if (found[0] && !str_eq_cstr(cvr, found))
        *ambiguous = true;
    else
        str_copy(cvr, found, PKI_CVR_MAX);
}

/* Reads the CVR (and UID) from the subject's attributes into out. */
static int read_subject_ids(gnutls_x509_crt_t crt, struct pki_cert_info *out, err_t *err)
{
    gnutls_x509_dn_t dn;
    int rc = gnutls_x509_crt_get_subject(crt, &dn); /* dn belongs to crt */
    if (rc < 0)
        return pki_gnutls_err(err, "reading the subject", rc);
    char cvr[PKI_CVR_MAX] = "";
    bool ambiguous = false;
    for (int irdn = 0;; irdn++) {
        bool any = false;
        for (int iava = 0;; iava++) {
            gnutls_x509_ava_st ava;
            rc = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);
            if (rc == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND)
                break;
            if (rc < 0)
                return pki_gnutls_err(err, "reading the subject", rc);
            any = true;
            str_t oid = {(const char *)ava.oid.data, ava.oid.size};
            str_t val = {(const char *)ava.value.data, ava.value.size};
            /* ava.oid may carry its terminating NUL in size. */
            if (oid.len && oid.ptr[oid.len - 1] == '\0')
                oid.len--;
            if (str_eq_cstr(oid, OID_ORGANIZATION_IDENTIFIER)) {
                if (str_has_prefix(val, STR(ORGID_PREFIX)))
                    note_cvr(str_sub(val, sizeof ORGID_PREFIX - 1, val.len), cvr, &ambiguous);
            } else if (str_eq_cstr(oid, OID_SERIAL_NUMBER)) {
                if (!str_has_prefix(val, STR(SERIAL_CVR_PREFIX)))
                    continue;
                str_t rest = str_sub(val, sizeof SERIAL_CVR_PREFIX - 1, val.len);
                str_t num = str_sub(rest, 0, 8);
                str_t tail = str_sub(rest, 8, rest.len);
                if (tail.len == 0) {
                    note_cvr(num, cvr, &ambiguous);
                } else if (str_has_prefix(tail, STR(SERIAL_UID_SEPARATOR)) && cvr_shape(num)) {
                    note_cvr(num, cvr, &ambiguous);
                    str_t uid = str_sub(tail, sizeof SERIAL_UID_SEPARATOR - 1, tail.len);
                    if (str_copy(uid, out->uid, sizeof out->uid) != 0)
                        out->uid[0] = '\0'; /* too long to be one we know */
                }
            }
        }
        if (!any)
            break;
    }
    if (!ambiguous)
        memcpy(out->cvr, cvr, sizeof cvr);
    else
        out->uid[0] = '\0';
    return 0;
}

int pki_cert_info_from_crt(gnutls_x509_crt_t crt, struct pki_cert_info *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    gnutls_x509_dn_t subject, issuer; /* both belong to crt */
    int rc = gnutls_x509_crt_get_subject(crt, &subject);
    if (rc >= 0)
        rc = gnutls_x509_crt_get_issuer(crt, &issuer);
    if (rc < 0)
        return pki_gnutls_err(err, "reading the subject and issuer", rc);
    if ((rc = dn_format(subject, out->subject, sizeof out->subject, "subject", err)) != 0 ||
        (rc = dn_format(issuer, out->issuer, sizeof out->issuer, "issuer", err)) != 0)
        return rc;

    size_t size = sizeof out->common_name - 1;
    rc = gnutls_x509_crt_get_dn_by_oid(crt, OID_COMMON_NAME, 0, 0, out->common_name, &size);
    if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
        out->common_name[0] = '\0'; /* none, or longer than any CN may be */
    else if (rc < 0)
        return pki_gnutls_err(err, "reading the common name", rc);

    unsigned char serial[(PKI_SERIAL_HEX - 1) / 2];
    size = sizeof serial;
    rc = gnutls_x509_crt_get_serial(crt, serial, &size);
    if (rc < 0)
        return pki_gnutls_err(err, "reading the serial number", rc);
    hex_encode(serial, size, out->serial_hex);

    size = sizeof out->sha256;
    rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, out->sha256, &size);
    if (rc < 0 || size != PKI_SHA256_LEN)
        return pki_gnutls_err(err, "computing the fingerprint", rc);
    hex_encode(out->sha256, sizeof out->sha256, out->sha256_hex);

    time_t nb = gnutls_x509_crt_get_activation_time(crt);
    time_t na = gnutls_x509_crt_get_expiration_time(crt);
    if (nb == (time_t)-1 || na == (time_t)-1)
        return err_set(err, DUPLA_EINVAL, "the certificate's validity cannot be read");
    out->not_before_ms = (int64_t)nb * 1000;
    out->not_after_ms = (int64_t)na * 1000;

    unsigned critical = 0, ca = 0;
    int pathlen = 0;
    rc = gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &pathlen);
    out->is_ca = rc >= 0 && ca;

    return read_subject_ids(crt, out, err);
}

/* Imports one certificate in the given format and fills *out. */
static int info_from(const void *data, size_t len, gnutls_x509_crt_fmt_t fmt,
                     struct pki_cert_info *out, err_t *err)
{
    if (len > PKI_FILE_MAX || len > UINT32_MAX)
        return err_set(err, DUPLA_ELIMIT, "certificate too large");
    gnutls_x509_crt_t crt;
    int rc = gnutls_x509_crt_init(&crt);
    if (rc < 0)
        return pki_gnutls_err(err, "allocating a certificate", rc);
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)len};
    rc = gnutls_x509_crt_import(crt, &d, fmt);
    if (rc < 0)
        rc = err_set(err, DUPLA_EINVAL, "not an X.509 certificate: %s", gnutls_strerror(rc));
    else
        rc = pki_cert_info_from_crt(crt, out, err);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int pki_cert_info_from_der(const void *der, size_t len, struct pki_cert_info *out, err_t *err)
{
    return info_from(der, len, GNUTLS_X509_FMT_DER, out, err);
}

int pki_cert_info_from_pem(str_t pem, struct pki_cert_info *out, err_t *err)
{
    return info_from(pem.ptr, pem.len, GNUTLS_X509_FMT_PEM, out, err);
}

int pki_cert_info_from_file(const char *path, struct pki_cert_info *out, err_t *err)
{
    buf_t b;
    buf_init(&b, PKI_FILE_MAX);
    int rc = pki_file_read(path, &b, err);
    if (rc == 0) {
        str_t s = buf_str(&b);
        bool pem = s.len > 0 && memmem(s.ptr, s.len, "-----BEGIN", 10) != NULL;
        rc = info_from(s.ptr, s.len, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, out, err);
    }
    buf_free(&b);
    return rc;
}
