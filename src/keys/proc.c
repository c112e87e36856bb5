/*
 * proc.c: the key process's side (keys.h): reading requests, loading the
 * keys it may load, signing.
 *
 * It runs single-threaded in the forked child. Every request is read into
 * fixed buffers after its header has been checked against the bounds, so
 * a request cannot make it allocate more than the keys it holds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "core/str.h"
#include "keys/internal.h"

struct held {
    char kid[PKI_KID_MAX];
    pki_signer_t *signer;
};

/* A listener's TLS key, by its configured path (slot i of tls_keys). */
struct held_tls {
    gnutls_privkey_t key; /* NULL: not loaded */
};

struct proc {
    const struct keys_config *cfg;
    struct held keys[KEYS_HELD_MAX];
    size_t n;
    struct held_tls tls[KEYS_TLS_MAX];
    char name[KEYS_NAME_MAX + 1];
    unsigned char message[KEYS_MESSAGE_MAX];
};

int keys_header_parse(const unsigned char *h, struct keys_header *out, err_t *err)
{
    if (h[0] != KEYS_VERSION)
        return err_set(err, DUPLA_EINVAL, "version %u, not %u", h[0], KEYS_VERSION);
    out->op = h[1];
    out->name_len = (size_t)h[2] << 8 | h[3];
    out->message_len = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
    if (out->op != KEYS_OP_LOAD && out->op != KEYS_OP_SIGN && out->op != KEYS_OP_TLS_LOAD &&
        out->op != KEYS_OP_TLS_SIGN)
        return err_set(err, DUPLA_EINVAL, "unknown operation %u", out->op);
    if (out->name_len == 0 || out->name_len > KEYS_NAME_MAX)
        return err_set(err, DUPLA_EINVAL, "a name of %zu bytes (1 to %d)", out->name_len,
                       KEYS_NAME_MAX);
    if (out->op == KEYS_OP_LOAD && out->message_len != 0)
        return err_set(err, DUPLA_EINVAL, "a load with a message");
    if (out->op == KEYS_OP_TLS_LOAD && out->message_len != KEYS_TLS_KEYID_LEN)
        return err_set(err, DUPLA_EINVAL, "a TLS load with a key id of %zu bytes",
                       out->message_len);
    if (out->op == KEYS_OP_TLS_SIGN && out->message_len <= KEYS_TLS_HEADER)
        return err_set(err, DUPLA_EINVAL, "a TLS signature request of %zu bytes", out->message_len);
    if (out->op == KEYS_OP_SIGN && out->name_len >= PKI_KID_MAX)
        return err_set(err, DUPLA_EINVAL, "a kid of %zu bytes", out->name_len);
    if (out->message_len > KEYS_MESSAGE_MAX)
        return err_set(err, DUPLA_EINVAL, "a message of %zu bytes (at most %d)", out->message_len,
                       KEYS_MESSAGE_MAX);
    return 0;
}

/* Whether path is one the configuration lets the key process read: the
 * checkpoint key, or key-<digits>.pem directly in the token key folder. */
static bool allowed(const struct keys_config *cfg, const char *path)
{
    if (cfg->audit_key[0] && strcmp(path, cfg->audit_key) == 0)
        return true;
    size_t d = strlen(cfg->token_dir);
    if (!d || strncmp(path, cfg->token_dir, d) != 0 || path[d] != '/')
        return false;
    const char *name = path + d + 1;
    size_t n = strlen(name);
    return n > 8 && strncmp(name, "key-", 4) == 0 && strcmp(name + n - 4, ".pem") == 0 &&
           str_is_digits((str_t){name + 4, n - 8});
}

static int answer(int fd, unsigned status, const void *data, size_t n)
{
    unsigned char h[KEYS_ANSWER_HEADER] = {(unsigned char)status, (unsigned char)(n >> 8),
                                           (unsigned char)n};
    return keys_write_full(fd, h, sizeof h) || (n && keys_write_full(fd, data, n)) ? -1 : 0;
}

static int refuse(int fd, const char *why)
{
    return answer(fd, KEYS_REFUSED, why, strnlen(why, KEYS_ANSWER_MAX));
}

static int do_load(struct proc *p, int fd)
{
    if (!allowed(p->cfg, p->name))
        return refuse(fd, "not a key this process may load");
    err_t err;
    err_clear(&err);
    pki_signer_t *s;
    if (pki_signer_load(p->name, &s, &err))
        return refuse(fd, err.log);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(s, pub);
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i].kid, pki_signer_kid(s)) == 0) { /* held already */
            pki_signer_free(s);
            return answer(fd, KEYS_OK, pub, sizeof pub);
        }
    if (p->n == KEYS_HELD_MAX) {
        pki_signer_free(s);
        return refuse(fd, "too many keys held");
    }
    snprintf(p->keys[p->n].kid, PKI_KID_MAX, "%s", pki_signer_kid(s));
    p->keys[p->n++].signer = s;
    return answer(fd, KEYS_OK, pub, sizeof pub);
}

static int do_sign(struct proc *p, int fd, size_t n)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i].kid, p->name) != 0)
            continue;
        unsigned char sig[PKI_ED25519_SIG_LEN];
        err_t err;
        err_clear(&err);
        if (pki_sign(p->keys[i].signer, p->message, n, sig, &err))
            return refuse(fd, err.log);
        return answer(fd, KEYS_OK, sig, sizeof sig);
    }
    return refuse(fd, "no key of that kid is loaded");
}

/* The slot of a configured TLS key path, or -1. */
static int tls_slot(const struct keys_config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->n_tls && i < KEYS_TLS_MAX; i++)
        if (cfg->tls_keys[i][0] && strcmp(cfg->tls_keys[i], path) == 0)
            return (int)i;
    return -1;
}

/* Reads the listener's key from its file again (a SIGHUP brings a new
 * one), replacing the one held. */
static int do_tls_load(struct proc *p, int fd)
{
    int slot = tls_slot(p->cfg, p->name);
    if (slot < 0)
        return refuse(fd, "not a TLS key this process may load");
    gnutls_datum_t pem = {NULL, 0};
    gnutls_privkey_t key = NULL;
    int rc = gnutls_load_file(p->name, &pem);
    if (rc >= 0)
        rc = gnutls_privkey_init(&key);
    if (rc >= 0)
        rc = gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (pem.data) {
        keys_wipe(pem.data, pem.size);
        gnutls_free(pem.data);
    }
    if (rc < 0) {
        gnutls_privkey_deinit(key);
        return refuse(fd, gnutls_strerror(rc));
    }
    /* the certificate's key, or the one held stays */
    gnutls_pubkey_t pub = NULL;
    unsigned char id[KEYS_TLS_KEYID_LEN];
    size_t id_len = sizeof id;
    rc = gnutls_pubkey_init(&pub);
    if (rc >= 0)
        rc = gnutls_pubkey_import_privkey(pub, key, 0, 0);
    if (rc >= 0)
        rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &id_len);
    gnutls_pubkey_deinit(pub);
    if (rc < 0 || id_len != sizeof id || memcmp(id, p->message, sizeof id) != 0) {
        gnutls_privkey_deinit(key);
        return refuse(fd, rc < 0 ? gnutls_strerror(rc) : "the key does not match the certificate");
    }
    gnutls_privkey_deinit(p->tls[slot].key);
    p->tls[slot].key = key;
    unsigned bits = 0;
    int pk = gnutls_privkey_get_pk_algorithm(key, &bits);
    unsigned char a[5] = {(unsigned char)pk, (unsigned char)(bits >> 24),
                          (unsigned char)(bits >> 16), (unsigned char)(bits >> 8),
                          (unsigned char)bits};
    return answer(fd, KEYS_OK, a, sizeof a);
}

/* Signs for a TLS handshake with the listener's key, as GnuTLS asked the
 * request process to. */
static int do_tls_sign(struct proc *p, int fd, size_t n)
{
    int slot = tls_slot(p->cfg, p->name);
    if (slot < 0 || !p->tls[slot].key)
        return refuse(fd, "no TLS key of that path is loaded");
    const unsigned char *m = p->message;
    unsigned what = m[0];
    gnutls_sign_algorithm_t algo = (gnutls_sign_algorithm_t)((unsigned)m[1] << 8 | m[2]);
    unsigned flags = (unsigned)m[3] << 24 | (unsigned)m[4] << 16 | (unsigned)m[5] << 8 | m[6];
    gnutls_datum_t in = {(unsigned char *)m + KEYS_TLS_HEADER, (unsigned)(n - KEYS_TLS_HEADER)};
    gnutls_datum_t sig = {NULL, 0};
    int rc;
    if (what == KEYS_TLS_DATA)
        rc = gnutls_privkey_sign_data2(p->tls[slot].key, algo, flags, &in, &sig);
    else if (what == KEYS_TLS_HASH)
        rc = gnutls_privkey_sign_hash2(p->tls[slot].key, algo, flags, &in, &sig);
    else
        return refuse(fd, "a TLS signature of neither data nor a hash");
    if (rc < 0)
        return refuse(fd, gnutls_strerror(rc));
    int out = sig.size <= KEYS_TLS_SIG_MAX ? answer(fd, KEYS_OK, sig.data, sig.size)
                                           : refuse(fd, "a TLS signature too long");
    gnutls_free(sig.data);
    return out;
}

int keys_serve(int fd, const struct keys_config *cfg)
{
    struct proc *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->cfg = cfg;
    int rc = 0;
    for (;;) {
        unsigned char h[KEYS_HEADER_LEN];
        int r = keys_read_full(fd, h, sizeof h);
        if (r) {
            rc = r > 0 ? 0 : -1; /* EOF between requests: the parent closed */
            break;
        }
        struct keys_header hd;
        err_t err;
        err_clear(&err);
        if (keys_header_parse(h, &hd, &err)) {
            refuse(fd, err.log);
            rc = -1;
            break;
        }
        if (keys_read_full(fd, p->name, hd.name_len) ||
            (hd.message_len && keys_read_full(fd, p->message, hd.message_len))) {
            rc = -1;
            break;
        }
        p->name[hd.name_len] = '\0';
        if (memchr(p->name, '\0', hd.name_len)) {
            refuse(fd, "a name with a NUL byte");
            rc = -1;
            break;
        }
        int done = hd.op == KEYS_OP_LOAD       ? do_load(p, fd)
                   : hd.op == KEYS_OP_SIGN     ? do_sign(p, fd, hd.message_len)
                   : hd.op == KEYS_OP_TLS_LOAD ? do_tls_load(p, fd)
                                               : do_tls_sign(p, fd, hd.message_len);
        if (done != 0) {
            rc = -1;
            break;
        }
    }
    for (size_t i = 0; i < p->n; i++)
        pki_signer_free(p->keys[i].signer);
    for (size_t i = 0; i < KEYS_TLS_MAX; i++)
        gnutls_privkey_deinit(p->tls[i].key);
    keys_wipe(p->message, sizeof p->message);
    free(p);
    return rc;
}
