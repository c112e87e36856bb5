/* Unit tests: pki (certificate reading, the local CA, system certificates,
 * PKCS#12, the CRL). Each test works in its own temporary folder. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/problem.h"
#include "pki/pki.h"

#define CVR_OK  "10000009" /* 1*2 + 9*1 = 11 */
#define CVR_OK2 "20000007" /* 2*2 + 7*1 = 11 */

static char tmp[256];
static char pkidir[300];

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/dupla-test-pki-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(pkidir, sizeof pkidir, "%s/pki", tmp);
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

TestSuite(pki, .init = setup, .fini = teardown);

static const char *at(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", pkidir, name);
    return p;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    return st.st_mode & 07777;
}

static void slurp(const char *path, buf_t *b)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    buf_init(b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cr_assert_eq(buf_append(b, chunk, n), 0);
    fclose(f);
}

static void info_of(const char *path, struct pki_cert_info *info)
{
    buf_t b;
    slurp(path, &b);
    err_t err = {0};
    cr_assert_eq(pki_cert_info_from_pem(buf_str(&b), info, &err), 0, "%s", err.log);
    buf_free(&b);
}

static gnutls_x509_crt_t crt_of(const char *path)
{
    buf_t b;
    slurp(path, &b);
    gnutls_x509_crt_t crt;
    cr_assert_eq(gnutls_x509_crt_init(&crt), 0);
    gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
    cr_assert_eq(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    buf_free(&b);
    return crt;
}

static void init_pki(void)
{
    err_t err = {0};
    struct pki_init_options o = {.dir = pkidir};
    cr_assert_eq(pki_init(&o, &err), 0, "%s", err.log);
}

static void issue(const char *name, const char *cvr, const char *uid, const char *password)
{
    err_t err = {0};
    struct pki_system_options o = {
        .dir = pkidir, .cvr = cvr, .name = name, .uid = uid, .password = password};
    cr_assert_eq(pki_issue_system(&o, &err), 0, "%s", err.log);
}

/* Verifies the chain in path (cert, then maybe the CA) against ca.pem. */
static unsigned verify_against_ca(const char *path, const char *host, const char *purpose)
{
    gnutls_x509_trust_list_t tl;
    cr_assert_eq(gnutls_x509_trust_list_init(&tl, 0), 0);
    cr_assert_eq(
        gnutls_x509_trust_list_add_trust_file(tl, at("ca.pem"), NULL, GNUTLS_X509_FMT_PEM, 0, 0),
        1);
    gnutls_x509_crt_t crt = crt_of(path);
    gnutls_typed_vdata_st data[2];
    unsigned n = 0;
    if (host)
        data[n++] = (gnutls_typed_vdata_st){GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)host, 0};
    if (purpose)
        data[n++] = (gnutls_typed_vdata_st){GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)purpose, 0};
    unsigned status = 0;
    cr_assert_eq(gnutls_x509_trust_list_verify_crt2(tl, &crt, 1, data, n, 0, &status, NULL), 0);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_trust_list_deinit(tl, 1);
    return status;
}

Test(pki, init_writes_the_files_with_their_modes)
{
    init_pki();
    cr_assert_eq(mode_of(pkidir), 0700);
    cr_assert_eq(mode_of(at("ca.key")), 0600);
    cr_assert_eq(mode_of(at("server.key")), 0600);
    cr_assert_eq(mode_of(at("ca.pem")), 0644);
    cr_assert_eq(mode_of(at("crl.pem")), 0644);
    struct pki_cert_info ca, srv;
    info_of(at("ca.pem"), &ca);
    info_of(at("server.pem"), &srv);
    cr_assert(ca.is_ca);
    cr_assert_not(srv.is_ca);
    cr_assert_str_eq(ca.common_name, "dupla local CA");
    cr_assert_str_eq(ca.subject, "CN=dupla local CA");
    cr_assert_str_eq(srv.issuer, ca.subject);
    cr_assert_str_eq(srv.common_name, "localhost");
    cr_assert_eq(ca.cvr[0], '\0');
    cr_assert_eq(strlen(ca.serial_hex), 32);
    int64_t now = clock_now_ms();
    cr_assert(ca.not_before_ms < now && ca.not_after_ms > now + 800LL * 86400 * 1000);
}

Test(pki, init_is_idempotent_and_force_replaces)
{
    init_pki();
    struct pki_cert_info a, b, c;
    info_of(at("ca.pem"), &a);
    cr_assert_eq(unlink(at("server.pem")), 0);
    cr_assert_eq(unlink(at("crl.pem")), 0);
    init_pki(); /* keeps the CA, fills what is missing */
    info_of(at("ca.pem"), &b);
    cr_assert_str_eq(a.sha256_hex, b.sha256_hex);
    cr_assert_eq(access(at("server.pem"), F_OK), 0);
    cr_assert_eq(access(at("crl.pem"), F_OK), 0);
    cr_assert_eq(verify_against_ca(at("server.pem"), "localhost", NULL), 0);

    err_t err = {0};
    struct pki_init_options o = {.dir = pkidir, .force = true, .days = 10, .ca_name = "Other"};
    cr_assert_eq(pki_init(&o, &err), 0, "%s", err.log);
    info_of(at("ca.pem"), &c);
    cr_assert_str_neq(a.sha256_hex, c.sha256_hex);
    cr_assert_str_eq(c.common_name, "Other");
    cr_assert_eq(verify_against_ca(at("server.pem"), "localhost", NULL), 0);
}

Test(pki, init_refuses_half_a_ca)
{
    init_pki();
    cr_assert_eq(unlink(at("ca.key")), 0);
    err_t err = {0};
    struct pki_init_options o = {.dir = pkidir};
    cr_assert_eq(pki_init(&o, &err), DUPLA_ECONFLICT);
    cr_assert_not_null(strstr(err.detail, "ca.key"));
    struct pki_init_options bad = {.dir = pkidir, .days = PKI_DAYS_MAX + 1};
    cr_assert_eq(pki_init(&bad, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "days");
}

Test(pki, server_cert_verifies_for_localhost_and_loopback)
{
    init_pki();
    cr_assert_eq(verify_against_ca(at("server.pem"), "localhost", GNUTLS_KP_TLS_WWW_SERVER), 0);
    cr_assert_neq(verify_against_ca(at("server.pem"), "example.org", NULL), 0);
    cr_assert_neq(verify_against_ca(at("server.pem"), "localhost", GNUTLS_KP_TLS_WWW_CLIENT), 0);
    gnutls_x509_crt_t crt = crt_of(at("server.pem"));
    unsigned char v4[4], v6[16];
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);
    cr_assert(gnutls_x509_crt_check_ip(crt, v4, 4, 0));
    cr_assert(gnutls_x509_crt_check_ip(crt, v6, 16, 0));
    gnutls_x509_crt_deinit(crt);
}

Test(pki, issue_system_reads_back)
{
    init_pki();
    issue("acme", CVR_OK, "U-1.a", NULL);
    struct pki_cert_info info;
    info_of(at("acme.pem"), &info);
    cr_assert_str_eq(info.cvr, CVR_OK);
    cr_assert_str_eq(info.uid, "U-1.a");
    cr_assert_str_eq(info.common_name, "acme");
    cr_assert_not(info.is_ca);
    cr_assert_str_eq(info.subject, "CN=acme,O=acme,organizationIdentifier=NTRDK-" CVR_OK
                                   ",serialNumber=CVR:" CVR_OK "-UID:U-1.a,C=DK");
    cr_assert_str_eq(info.issuer, "CN=dupla local CA");

    /* The fingerprint is SHA-256 of the DER. */
    gnutls_x509_crt_t crt = crt_of(at("acme.pem"));
    gnutls_datum_t der;
    cr_assert_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    unsigned char digest[32];
    cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest), 0);
    cr_assert(memcmp(digest, info.sha256, 32) == 0);
    struct pki_cert_info from_der;
    err_t err = {0};
    cr_assert_eq(pki_cert_info_from_der(der.data, der.size, &from_der, &err), 0);
    cr_assert_str_eq(from_der.sha256_hex, info.sha256_hex);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);

    cr_assert_eq(verify_against_ca(at("acme.pem"), NULL, GNUTLS_KP_TLS_WWW_CLIENT), 0);
    cr_assert_eq(mode_of(at("acme.key")), 0600);
    cr_assert_eq(mode_of(at("acme.p12")), 0600);
    cr_assert_eq(mode_of(at("acme.p12.pass")), 0600);
    /* The PEM carries the CA after the certificate. */
    buf_t b;
    slurp(at("acme.pem"), &b);
    const char *second = strstr(b.data + 1, "-----BEGIN CERTIFICATE-----");
    cr_assert_not_null(second);
    struct pki_cert_info ca;
    cr_assert_eq(pki_cert_info_from_pem(str_from_cstr(second), &ca, &err), 0);
    cr_assert(ca.is_ca);
    buf_free(&b);
}

Test(pki, issue_system_random_uid_and_given_password)
{
    init_pki();
    issue("a", CVR_OK, NULL, "s3cret");
    struct pki_cert_info info;
    info_of(at("a.pem"), &info);
    cr_assert_eq(strlen(info.uid), 16);
    cr_assert_neq(access(at("a.p12.pass"), F_OK), 0); /* given: not written */
}

/* 0 if the PKCS#12 file opens (MAC and key) with password. */
static int p12_open(const char *path, const char *password)
{
    buf_t b;
    slurp(path, &b);
    gnutls_pkcs12_t p12;
    cr_assert_eq(gnutls_pkcs12_init(&p12), 0);
    gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
    cr_assert_eq(gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_DER, 0), 0);
    int rc = gnutls_pkcs12_verify_mac(p12, password);
    if (rc == 0) {
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t *chain = NULL, *extra = NULL;
        unsigned nchain = 0, nextra = 0;
        rc = gnutls_pkcs12_simple_parse(p12, password, &key, &chain, &nchain, &extra, &nextra, NULL,
                                        0);
        if (rc == 0) {
            cr_assert_eq(nchain, 1);
            cr_assert_eq(nextra, 1); /* the CA */
            gnutls_x509_privkey_deinit(key);
            gnutls_x509_crt_deinit(chain[0]);
            gnutls_x509_crt_deinit(extra[0]);
            gnutls_free(chain);
            gnutls_free(extra);
        }
    }
    gnutls_pkcs12_deinit(p12);
    buf_free(&b);
    return rc;
}

Test(pki, pkcs12_opens_with_the_right_password_only)
{
    init_pki();
    issue("sys", CVR_OK, NULL, NULL);
    buf_t pass;
    slurp(at("sys.p12.pass"), &pass);
    cr_assert_eq(pass.len, 32);
    cr_assert_eq(p12_open(at("sys.p12"), pass.data), 0);
    cr_assert_neq(p12_open(at("sys.p12"), "wrong"), 0);
    buf_free(&pass);
    issue("given", CVR_OK, NULL, "pw with spaces");
    cr_assert_eq(p12_open(at("given.p12"), "pw with spaces"), 0);
    cr_assert_neq(p12_open(at("given.p12"), "pw with space"), 0);
}

Test(pki, issue_refusals)
{
    err_t err = {0};
    struct pki_system_options o = {.dir = pkidir, .cvr = CVR_OK, .name = "x"};
    cr_assert_eq(pki_issue_system(&o, &err), DUPLA_ENOTFOUND);
    cr_assert_not_null(strstr(err.detail, "dupla pki init"), "%s", err.detail);
    init_pki();

    const char *bad_cvr[] = {"12345678", "1000000", "100000090", "0000000 ", "abcdefgh", ""};
    for (size_t i = 0; i < sizeof bad_cvr / sizeof *bad_cvr; i++) {
        o.cvr = bad_cvr[i];
        cr_assert_eq(pki_issue_system(&o, &err), DUPLA_EINVAL, "%s", bad_cvr[i]);
        cr_assert_str_eq(err.param, "cvr");
        cr_assert_not_null(strstr(err.detail, "CVR"));
    }
    o.cvr = CVR_OK;
    char longname[PKI_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad_name[] = {"",   "../x",   "a/b", ".hidden", "-x",    "a b",
                              "ca", "server", "crl", "ø",       longname};
    for (size_t i = 0; i < sizeof bad_name / sizeof *bad_name; i++) {
        o.name = bad_name[i];
        cr_assert_eq(pki_issue_system(&o, &err), DUPLA_EINVAL, "%s", bad_name[i]);
        cr_assert_str_eq(err.param, "name");
    }
    longname[PKI_NAME_MAX] = '\0';
    o.name = longname; /* exactly the maximum is fine */
    cr_assert_eq(pki_issue_system(&o, &err), 0, "%s", err.log);
    cr_assert_eq(pki_issue_system(&o, &err), DUPLA_ECONFLICT); /* no overwriting */
    cr_assert(err_is(&err, PROBLEM_FILE_EXISTS), "%s", err.type);
    cr_assert_str_eq(err.param, "name");

    o.name = "y";
    o.uid = "under_score"; /* not a PrintableString */
    cr_assert_eq(pki_issue_system(&o, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "uid");
    o.uid = NULL;
    o.not_before_ms = 2000;
    o.not_after_ms = 1000;
    cr_assert_eq(pki_issue_system(&o, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "not_after");
    o.not_before_ms = o.not_after_ms = 0;
    o.password = "";
    cr_assert_eq(pki_issue_system(&o, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "password");
    cr_assert_neq(access(at("y.key"), F_OK), 0); /* nothing left behind */
}

Test(pki, validity_overrides_make_expired_and_future_certs)
{
    init_pki();
    err_t err = {0};
    int64_t nb, na;
    cr_assert_eq(clock_parse_timestamp(STR("2020-01-01T00:00:00Z"), &nb, 0), 0);
    cr_assert_eq(clock_parse_timestamp(STR("2020-12-31T23:59:59Z"), &na, 0), 0);
    struct pki_system_options o = {
        .dir = pkidir, .cvr = CVR_OK, .name = "old", .not_before_ms = nb, .not_after_ms = na};
    cr_assert_eq(pki_issue_system(&o, &err), 0, "%s", err.log);
    struct pki_cert_info info;
    info_of(at("old.pem"), &info);
    cr_assert_eq(info.not_before_ms, nb);
    cr_assert_eq(info.not_after_ms, na);
    cr_assert(verify_against_ca(at("old.pem"), NULL, NULL) & GNUTLS_CERT_EXPIRED);

    int64_t later = clock_now_ms() + 10LL * 86400 * 1000;
    later -= later % 1000;
    struct pki_system_options f = {
        .dir = pkidir, .cvr = CVR_OK, .name = "future", .not_before_ms = later, .days = 2};
    cr_assert_eq(pki_issue_system(&f, &err), 0, "%s", err.log);
    info_of(at("future.pem"), &info);
    cr_assert_eq(info.not_before_ms, later);
    cr_assert_eq(info.not_after_ms, later + 2LL * 86400 * 1000);
    cr_assert(verify_against_ca(at("future.pem"), NULL, NULL) & GNUTLS_CERT_NOT_ACTIVATED);
}

static gnutls_x509_crl_t crl_of(const char *path)
{
    buf_t b;
    slurp(path, &b);
    gnutls_x509_crl_t crl;
    cr_assert_eq(gnutls_x509_crl_init(&crl), 0);
    gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
    cr_assert_eq(gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM), 0);
    buf_free(&b);
    gnutls_x509_crt_t ca = crt_of(at("ca.pem"));
    unsigned status = 1;
    cr_assert_eq(gnutls_x509_crl_verify(crl, &ca, 1, 0, &status), 0);
    cr_assert_eq(status, 0);
    gnutls_x509_crt_deinit(ca);
    return crl;
}

static bool crl_lists(gnutls_x509_crl_t crl, const char *cert_path)
{
    gnutls_x509_crt_t crt = crt_of(cert_path);
    int r = gnutls_x509_crt_check_revocation(crt, &crl, 1);
    gnutls_x509_crt_deinit(crt);
    return r == 1;
}

Test(pki, revoke_lists_the_serial_in_a_signed_crl)
{
    init_pki();
    issue("one", CVR_OK, NULL, NULL);
    issue("two", CVR_OK2, NULL, NULL);
    gnutls_x509_crl_t crl = crl_of(at("crl.pem"));
    cr_assert_eq(gnutls_x509_crl_get_crt_count(crl), 0);
    gnutls_x509_crl_deinit(crl);

    err_t err = {0};
    cr_assert_eq(pki_revoke(pkidir, at("one.pem"), &err), 0, "%s", err.log);
    crl = crl_of(at("crl.pem"));
    cr_assert_eq(gnutls_x509_crl_get_crt_count(crl), 1);
    unsigned char serial[40];
    size_t n = sizeof serial;
    time_t t;
    cr_assert_eq(gnutls_x509_crl_get_crt_serial(crl, 0, serial, &n, &t), 0);
    struct pki_cert_info one;
    info_of(at("one.pem"), &one);
    char hex[81] = "";
    for (size_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", serial[i]);
    cr_assert_str_eq(hex, one.serial_hex);
    cr_assert(crl_lists(crl, at("one.pem")));
    cr_assert_not(crl_lists(crl, at("two.pem")));
    gnutls_x509_crl_deinit(crl);

    cr_assert_eq(pki_revoke(pkidir, at("two.pem"), &err), 0, "%s", err.log);
    cr_assert_eq(pki_revoke(pkidir, at("two.pem"), &err), 0, "%s", err.log); /* once only */
    crl = crl_of(at("crl.pem"));
    cr_assert_eq(gnutls_x509_crl_get_crt_count(crl), 2);
    cr_assert(crl_lists(crl, at("one.pem")));
    cr_assert(crl_lists(crl, at("two.pem")));
    gnutls_x509_crl_deinit(crl);

    /* A certificate from another CA is not ours to revoke. */
    char other[512];
    snprintf(other, sizeof other, "%s/other", tmp);
    struct pki_init_options o = {.dir = other};
    cr_assert_eq(pki_init(&o, &err), 0);
    snprintf(other, sizeof other, "%s/other/server.pem", tmp);
    cr_assert_eq(pki_revoke(pkidir, other, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "cert");
    cr_assert_eq(pki_revoke(pkidir, at("nonexistent.pem"), &err), DUPLA_ENOTFOUND);
}

/* A self-signed certificate with the given extra subject attributes (OID and
 * DER value pairs), as PEM-less info. */
static void info_with_subject(const char *const *oids, const char *const *values, int n,
                              struct pki_cert_info *info)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    cr_assert_eq(gnutls_x509_privkey_init(&key), 0);
    cr_assert_eq(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                              GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                 0);
    cr_assert_eq(gnutls_x509_crt_init(&crt), 0);
    cr_assert_eq(gnutls_x509_crt_set_version(crt, 3), 0);
    cr_assert_eq(gnutls_x509_crt_set_serial(crt, "\x01", 1), 0);
    cr_assert_eq(gnutls_x509_crt_set_activation_time(crt, 1000000), 0);
    cr_assert_eq(gnutls_x509_crt_set_expiration_time(crt, 2000000), 0);
    cr_assert_eq(gnutls_x509_crt_set_key(crt, key), 0);
    cr_assert_eq(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "t", 1), 0);
    for (int i = 0; i < n; i++) {
        unsigned char der[80];
        size_t len = strlen(values[i]);
        der[0] = 0x0c; /* UTF8String */
        der[1] = (unsigned char)len;
        memcpy(der + 2, values[i], len);
        cr_assert_eq(gnutls_x509_crt_set_dn_by_oid(crt, oids[i], 1, der, (unsigned)len + 2), 0);
    }
    cr_assert_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    err_t err = {0};
    cr_assert_eq(pki_cert_info_from_crt(crt, info, &err), 0, "%s", err.log);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

Test(pki, cvr_from_either_subject_attribute)
{
    struct pki_cert_info info;
    const char *orgid[] = {"2.5.4.97"}, *sn[] = {"2.5.4.5"}, *both[] = {"2.5.4.97", "2.5.4.5"};

    info_with_subject(orgid, (const char *[]){"NTRDK-" CVR_OK}, 1, &info);
    cr_assert_str_eq(info.cvr, CVR_OK);
    cr_assert_str_eq(info.uid, "");

    info_with_subject(sn, (const char *[]){"CVR:" CVR_OK2 "-UID:42"}, 1, &info);
    cr_assert_str_eq(info.cvr, CVR_OK2);
    cr_assert_str_eq(info.uid, "42");

    info_with_subject(sn, (const char *[]){"CVR:" CVR_OK}, 1, &info);
    cr_assert_str_eq(info.cvr, CVR_OK);

    info_with_subject(both, (const char *[]){"NTRDK-" CVR_OK, "CVR:" CVR_OK "-UID:7"}, 2, &info);
    cr_assert_str_eq(info.cvr, CVR_OK);
    cr_assert_str_eq(info.uid, "7");

    /* Two different CVR numbers: ambiguous, none. */
    info_with_subject(both, (const char *[]){"NTRDK-" CVR_OK, "CVR:" CVR_OK2 "-UID:7"}, 2, &info);
    cr_assert_str_eq(info.cvr, "");
    cr_assert_str_eq(info.uid, "");

    /* Only 8 digits count. */
    const char *bad[] = {"NTRDK-1234567", "NTRDK-123456789", "NTRDK-1234567a", "NTRDK 12345678",
                         "ntrdk-12345678"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        info_with_subject(orgid, &bad[i], 1, &info);
        cr_assert_str_eq(info.cvr, "", "%s", bad[i]);
    }
    const char *bad_sn[] = {"CVR:123456789-UID:1", "CVR:1234567-UID:1", "CVR:12345678UID:1",
                            "PID:12345678-UID:1"};
    for (size_t i = 0; i < sizeof bad_sn / sizeof *bad_sn; i++) {
        info_with_subject(sn, &bad_sn[i], 1, &info);
        cr_assert_str_eq(info.cvr, "", "%s", bad_sn[i]);
    }
}

Test(pki, subject_is_an_rfc4514_string)
{
    struct pki_cert_info info;
    const char *o[] = {"2.5.4.10"}, *x[] = {"1.2.3.4"};
    info_with_subject(o, (const char *[]){"#a, b+c\"<>;\\ "}, 1, &info);
    cr_assert_str_eq(info.subject, "O=\\#a\\, b\\+c\\\"\\<\\>\\;\\\\\\ ,CN=t");
    info_with_subject(o, (const char *[]){"Ærø\x01"}, 1, &info);
    cr_assert_str_eq(info.subject, "O=Ærø\\01,CN=t");
    info_with_subject(o, (const char *[]){"\xff"}, 1, &info); /* not UTF-8: hex */
    cr_assert_str_eq(info.subject, "O=#0c01ff,CN=t");
    info_with_subject(x, (const char *[]){"v"}, 1, &info);
    cr_assert_str_eq(info.subject, "1.2.3.4=v,CN=t");
}

Test(pki, reading_refuses_garbage)
{
    struct pki_cert_info info;
    err_t err = {0};
    cr_assert_eq(pki_cert_info_from_pem(STR("not a certificate"), &info, &err), DUPLA_EINVAL);
    cr_assert_eq(pki_cert_info_from_der("\x30\x03\x02\x01\x01", 5, &info, &err), DUPLA_EINVAL);
    cr_assert_eq(pki_cert_info_from_der("", 0, &info, &err), DUPLA_EINVAL);
}

Test(pki, sha256_hex_known_vector)
{
    char hex[PKI_SHA256_HEX];
    pki_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
