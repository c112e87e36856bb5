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

#include "core/str.h"
#include "keys/internal.h"

struct held {
    char kid[PKI_KID_MAX];
    pki_signer_t *signer;
};

struct proc {
    const struct keys_config *cfg;
    struct held keys[KEYS_HELD_MAX];
    size_t n;
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
    if (out->op != KEYS_OP_LOAD && out->op != KEYS_OP_SIGN)
        return err_set(err, DUPLA_EINVAL, "unknown operation %u", out->op);
    if (out->name_len == 0 || out->name_len > KEYS_NAME_MAX)
        return err_set(err, DUPLA_EINVAL, "a name of %zu bytes (1 to %d)", out->name_len,
                       KEYS_NAME_MAX);
    if (out->op == KEYS_OP_LOAD && out->message_len != 0)
        return err_set(err, DUPLA_EINVAL, "a load with a message");
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
        if ((hd.op == KEYS_OP_LOAD ? do_load(p, fd) : do_sign(p, fd, hd.message_len)) != 0) {
            rc = -1;
            break;
        }
    }
    for (size_t i = 0; i < p->n; i++)
        pki_signer_free(p->keys[i].signer);
    keys_wipe(p->message, sizeof p->message);
    free(p);
    return rc;
}
