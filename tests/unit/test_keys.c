/* Unit tests: keys (the key process's reader and its answers), with
 * keys_serve on one end of a socketpair in a thread, as the forked key
 * process runs it, and raw bytes or the real client on the other. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "keys/keys.h"
#include "pki/sign.h"

static char tmp[256];
static struct keys_config cfg;
static int sv[2];
static pthread_t server;
static int served_rc;

static void *serve_main(void *arg)
{
    (void)arg;
    served_rc = keys_serve(sv[1], &cfg);
    close(sv[1]);
    return NULL;
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/dupla-test-keys-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.token_dir, sizeof cfg.token_dir, "%s/tokens", tmp);
    snprintf(cfg.audit_key, sizeof cfg.audit_key, "%s/checkpoint.pem", tmp);
    cr_assert_eq(mkdir(cfg.token_dir, 0700), 0);
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/key-1000.pem", cfg.token_dir);
    cr_assert_eq(pki_signer_generate(path, NULL), 0);
    cr_assert_eq(pki_signer_generate(cfg.audit_key, NULL), 0);
    snprintf(path, sizeof path, "%s/other.pem", tmp); /* a key it may not load */
    cr_assert_eq(pki_signer_generate(path, NULL), 0);
    /* a listener's TLS key (ECDSA, as pki makes them) */
    snprintf(cfg.tls_keys[0], sizeof cfg.tls_keys[0], "%s/server.key", tmp);
    cfg.n_tls = 1;
    gnutls_x509_privkey_t x;
    cr_assert_eq(gnutls_x509_privkey_init(&x), 0);
    cr_assert_eq(gnutls_x509_privkey_generate(x, GNUTLS_PK_ECDSA,
                                              GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                 0);
    gnutls_datum_t pem;
    cr_assert_eq(gnutls_x509_privkey_export2(x, GNUTLS_X509_FMT_PEM, &pem), 0);
    FILE *f = fopen(cfg.tls_keys[0], "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(pem.data, 1, pem.size, f), pem.size);
    fclose(f);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(x);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(pthread_create(&server, NULL, serve_main, NULL), 0);
}

/* The SHA-256 key id of the TLS key's public half (as of its certificate). */
static void tls_key_id(unsigned char *id, gnutls_pubkey_t *pub_out)
{
    gnutls_datum_t pem;
    cr_assert_eq(gnutls_load_file(cfg.tls_keys[0], &pem), 0);
    gnutls_privkey_t key;
    gnutls_pubkey_t pub;
    cr_assert_eq(gnutls_privkey_init(&key), 0);
    cr_assert_eq(gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
    cr_assert_eq(gnutls_pubkey_init(&pub), 0);
    cr_assert_eq(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
    size_t n = KEYS_TLS_KEYID_LEN;
    cr_assert_eq(gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &n), 0);
    gnutls_privkey_deinit(key);
    gnutls_free(pem.data);
    *pub_out = pub;
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
    if (sv[0] >= 0)
        close(sv[0]);
    if (server)
        pthread_join(server, NULL);
    nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Sends a header and body as they are; reads one answer: its status, and
 * its text into out (cap bytes). -1 when the connection closed instead. */
static int raw(const unsigned char *h, const void *body, size_t n, char *out, size_t cap)
{
    cr_assert_eq(write(sv[0], h, KEYS_HEADER_LEN), KEYS_HEADER_LEN);
    if (n)
        cr_assert_eq(write(sv[0], body, n), (ssize_t)n);
    unsigned char a[KEYS_ANSWER_HEADER];
    if (read(sv[0], a, sizeof a) != (ssize_t)sizeof a)
        return -1;
    size_t len = (size_t)a[1] << 8 | a[2];
    cr_assert_lt(len, cap);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(sv[0], out + got, len - got);
        cr_assert_gt(r, 0);
        got += (size_t)r;
    }
    out[len] = '\0';
    return a[0];
}

static void header(unsigned char *h, unsigned version, unsigned op, size_t name, size_t msg)
{
    h[0] = (unsigned char)version;
    h[1] = (unsigned char)op;
    h[2] = (unsigned char)(name >> 8);
    h[3] = (unsigned char)name;
    h[4] = (unsigned char)(msg >> 24);
    h[5] = (unsigned char)(msg >> 16);
    h[6] = (unsigned char)(msg >> 8);
    h[7] = (unsigned char)msg;
}

/* After a malformed request the key process closes: EOF. */
static void assert_closed(void)
{
    char c;
    cr_assert_eq(read(sv[0], &c, 1), 0, "the connection stays open after a malformed request");
    pthread_join(server, NULL);
    server = 0;
    cr_assert_eq(served_rc, -1);
}

TestSuite(keys, .init = setup, .fini = teardown);

Test(keys, header_bounds_are_checked)
{
    unsigned char h[KEYS_HEADER_LEN];
    struct keys_header hd;
    header(h, KEYS_VERSION, KEYS_OP_SIGN, 43, 100);
    cr_assert_eq(keys_header_parse(h, &hd, NULL), 0);
    cr_assert_eq(hd.name_len, 43);
    cr_assert_eq(hd.message_len, 100);
    header(h, 2, KEYS_OP_SIGN, 43, 100); /* another version */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, 9, 43, 100); /* unknown op */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, KEYS_OP_SIGN, 0, 100); /* no name */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, KEYS_OP_SIGN, PKI_KID_MAX, 100); /* a kid too long */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, KEYS_OP_SIGN, 43, KEYS_MESSAGE_MAX + 1); /* a message too long */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, KEYS_OP_LOAD, 10, 1); /* a load with a message */
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
    header(h, KEYS_VERSION, KEYS_OP_LOAD, KEYS_NAME_MAX + 1, 0);
    cr_assert_eq(keys_header_parse(h, &hd, NULL), DUPLA_EINVAL);
}

Test(keys, a_malformed_signature_request_is_refused_and_the_connection_closed)
{
    unsigned char h[KEYS_HEADER_LEN];
    char text[KEYS_ANSWER_MAX + 1];
    /* a message over the bound: refused before a byte of it is read */
    header(h, KEYS_VERSION, KEYS_OP_SIGN, 43, 0x7fffffff);
    cr_assert_eq(raw(h, NULL, 0, text, sizeof text), 1);
    cr_assert(strstr(text, "message"), "%s", text);
    assert_closed();
}

Test(keys, a_wrong_version_is_refused_and_the_connection_closed)
{
    unsigned char h[KEYS_HEADER_LEN];
    char text[KEYS_ANSWER_MAX + 1];
    header(h, 0, KEYS_OP_SIGN, 4, 4);
    cr_assert_eq(raw(h, NULL, 0, text, sizeof text), 1);
    cr_assert(strstr(text, "version"), "%s", text);
    assert_closed();
}

Test(keys, a_name_with_a_nul_byte_is_refused_and_the_connection_closed)
{
    unsigned char h[KEYS_HEADER_LEN];
    char text[KEYS_ANSWER_MAX + 1];
    header(h, KEYS_VERSION, KEYS_OP_LOAD, 5, 0);
    cr_assert_eq(raw(h, "ab\0cd", 5, text, sizeof text), 1);
    assert_closed();
}

Test(keys, only_the_configured_keys_load_and_an_unknown_kid_is_refused)
{
    keys_t *k;
    cr_assert_eq(keys_client_new(sv[0], &k, NULL), 0);
    const struct pki_signer_remote *r = keys_remote(k);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    char path[512];
    err_t err;
    /* outside the token folder, a file of another name, a path that
     * climbs out: refused, and the connection stays usable */
    const char *refused[] = {"/other.pem", "/tokens/other.pem", "/tokens/../other.pem",
                             "/tokens/key-1.pem/x", "/tokens/key-.pem"};
    cr_assert_eq(r->load(r->ctx, "/etc/shadow", pub, NULL), DUPLA_ECRYPTO);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(path, sizeof path, "%s%s", tmp, refused[i]);
        err_clear(&err);
        cr_assert_eq(r->load(r->ctx, path, pub, &err), DUPLA_ECRYPTO, "%s", path);
        cr_assert(strstr(err.log, "may load"), "%s: %s", path, err.log);
    }
    /* the configured ones: loaded, and their signatures verify */
    const char *ok[] = {"/tokens/key-1000.pem", "/checkpoint.pem"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", tmp, ok[i]);
        err_clear(&err);
        cr_assert_eq(r->load(r->ctx, path, pub, &err), 0, "%s: %s", path, err.log);
        char kid[PKI_KID_MAX];
        pki_kid_of(pub, kid);
        unsigned char sig[PKI_ED25519_SIG_LEN];
        cr_assert_eq(r->sign(r->ctx, kid, "message", 7, sig, &err), 0, "%s", err.log);
        pki_verifier_t *v;
        cr_assert_eq(pki_verifier_new(pub, &v, NULL), 0);
        cr_assert_eq(pki_verify(v, "message", 7, sig), 0);
        cr_assert_neq(pki_verify(v, "massage", 7, sig), 0);
        pki_verifier_free(v);
    }
    unsigned char sig[PKI_ED25519_SIG_LEN];
    err_clear(&err);
    cr_assert_eq(r->sign(r->ctx, "no-such-kid", "m", 1, sig, &err), DUPLA_ECRYPTO);
    cr_assert(r->ready(r->ctx));
    /* the key process gone: 503 at once, and not ready */
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(server, NULL);
    server = 0;
    err_clear(&err);
    cr_assert_eq(r->sign(r->ctx, "no-such-kid", "m", 1, sig, &err), DUPLA_EBUSY);
    cr_assert_eq(err.status, 503);
    cr_assert(!r->ready(r->ctx));
    keys_stop(k); /* closes sv[0] */
    sv[0] = -1;
}

/* A listener's TLS key: signs through the key process as a GnuTLS key,
 * only for the configured path and the certificate's key id; a TLS
 * signature request without its header closes the connection. */
Test(keys, a_tls_key_signs_handshakes_in_the_key_process_and_must_match_the_certificate)
{
    keys_t *k;
    cr_assert_eq(keys_client_new(sv[0], &k, NULL), 0);
    unsigned char id[KEYS_TLS_KEYID_LEN];
    gnutls_pubkey_t pub;
    tls_key_id(id, &pub);
    err_t err;
    err_clear(&err);
    gnutls_privkey_t key;
    cr_assert_eq(keys_tls_privkey(k, cfg.tls_keys[0], id, &key, &err), 0, "%s", err.log);
    cr_assert_eq(gnutls_privkey_get_pk_algorithm(key, NULL), GNUTLS_PK_ECDSA);
    const gnutls_datum_t data = {(unsigned char *)"handshake transcript", 20};
    gnutls_datum_t sig;
    cr_assert_eq(gnutls_privkey_sign_data2(key, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, &data, &sig),
                 0);
    cr_assert_eq(
        gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, &data, &sig), 0);
    gnutls_free(sig.data);
    gnutls_privkey_deinit(key);
    gnutls_pubkey_deinit(pub);
    /* another certificate's key id: refused, the key held stays */
    unsigned char other[KEYS_TLS_KEYID_LEN];
    memcpy(other, id, sizeof other);
    other[0] ^= 1;
    err_clear(&err);
    cr_assert_eq(keys_tls_privkey(k, cfg.tls_keys[0], other, &key, &err), DUPLA_ECRYPTO);
    cr_assert(strstr(err.log, "does not match"), "%s", err.log);
    /* a path that is not a listener's key */
    err_clear(&err);
    cr_assert_eq(keys_tls_privkey(k, cfg.audit_key, id, &key, &err), DUPLA_ECRYPTO);
    cr_assert(strstr(err.log, "may load"), "%s", err.log);
    keys_stop(k); /* closes sv[0] */
    sv[0] = -1;
}

Test(keys, a_tls_signature_request_without_its_header_is_refused_and_the_connection_closed)
{
    unsigned char h[KEYS_HEADER_LEN];
    /* refused on its header, before a byte of the rest is read */
    header(h, KEYS_VERSION, KEYS_OP_TLS_SIGN, strlen(cfg.tls_keys[0]), 3);
    char out[512];
    cr_assert_eq(raw(h, NULL, 0, out, sizeof out), 1);
    cr_assert(strstr(out, "TLS signature request"), "%s", out);
    assert_closed();
}
