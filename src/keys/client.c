/*
 * client.c: starting the key process, and the request process's side of
 * the wire (keys.h): one request at a time under a mutex (a signature
 * takes tens of microseconds; token issue and checkpoints are not the hot
 * path), an answer awaited at most KEYS_TIMEOUT_MS.
 *
 * Once the key process is found gone (EOF, an error, a timeout) the
 * connection is marked dead and every later request answers DUPLA_EBUSY
 * (503 keys-unavailable) at once: no request waits on a dead process.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/problem.h"
#include "keys/internal.h"

struct keys {
    int fd;
    pid_t pid; /* 0: not a child of ours (tests) */
    pthread_mutex_t mu;
    bool dead;
    struct pki_signer_remote remote;
};

static int unavailable(err_t *err)
{
    err_set(err, DUPLA_EBUSY, "The signing keys are unavailable; try again later.");
    err_http(err, 503, PROBLEM_KEYS_UNAVAILABLE);
    return DUPLA_EBUSY;
}

/* Under k->mu: marks the connection dead (logged once). */
static int gone(struct keys *k, const char *what, err_t *err)
{
    if (!k->dead)
        log_error("keys: the key process does not answer (%s); signing is refused from now on",
                  what);
    k->dead = true;
    return unavailable(err);
}

/* One request, its message in two parts (head, then msg), and its answer:
 * on KEYS_OK the answer's bytes into out (cap; an answer of another length
 * than out_min..cap is malformed) and their number into *got; a refusal is
 * DUPLA_ECRYPTO with its text. */
static int call_parts(struct keys *k, unsigned op, const char *name, const void *head,
                      size_t head_n, const void *msg, size_t msg_n, unsigned char *out,
                      size_t out_min, size_t cap, size_t *got, err_t *err)
{
    size_t nl = strlen(name), n = head_n + msg_n;
    if (nl == 0 || nl > KEYS_NAME_MAX || (op == KEYS_OP_SIGN && nl >= PKI_KID_MAX))
        return err_set(err, DUPLA_EINVAL, "keys: a name of %zu bytes", nl);
    if (n > KEYS_MESSAGE_MAX)
        return err_set(err, DUPLA_ELIMIT, "keys: a message of %zu bytes to sign", n);
    unsigned char h[KEYS_HEADER_LEN] = {KEYS_VERSION,
                                        (unsigned char)op,
                                        (unsigned char)(nl >> 8),
                                        (unsigned char)nl,
                                        (unsigned char)(n >> 24),
                                        (unsigned char)(n >> 16),
                                        (unsigned char)(n >> 8),
                                        (unsigned char)n};
    pthread_mutex_lock(&k->mu);
    int rc;
    unsigned char a[KEYS_ANSWER_HEADER];
    char text[KEYS_ANSWER_MAX + 1];
    if (k->dead) {
        rc = unavailable(err);
        goto out;
    }
    if (keys_write_full(k->fd, h, sizeof h) || keys_write_full(k->fd, name, nl) ||
        (head_n && keys_write_full(k->fd, head, head_n)) ||
        (msg_n && keys_write_full(k->fd, msg, msg_n))) {
        rc = gone(k, "write", err);
        goto out;
    }
    if (keys_read_full(k->fd, a, sizeof a)) {
        rc = gone(k, "read", err);
        goto out;
    }
    size_t len = (size_t)a[1] << 8 | a[2];
    if (a[0] == KEYS_OK && len >= out_min && len <= cap) {
        rc = keys_read_full(k->fd, out, len) ? gone(k, "read", err) : 0;
        *got = len;
    } else if (a[0] == KEYS_REFUSED && len <= KEYS_ANSWER_MAX) {
        if (keys_read_full(k->fd, text, len)) {
            rc = gone(k, "read", err);
        } else {
            text[len] = '\0';
            rc = err_internal(err, DUPLA_ECRYPTO, "keys: the key process refused: %s", text);
        }
    } else {
        rc = gone(k, "a malformed answer", err);
    }
out:
    pthread_mutex_unlock(&k->mu);
    return rc;
}

/* A request whose answer is exactly out_len bytes. */
static int call(struct keys *k, unsigned op, const char *name, const void *msg, size_t n,
                unsigned char *out, size_t out_len, err_t *err)
{
    size_t got;
    return call_parts(k, op, name, NULL, 0, msg, n, out, out_len, out_len, &got, err);
}

static int remote_load(void *ctx, const char *path, unsigned char *pub, err_t *err)
{
    return call(ctx, KEYS_OP_LOAD, path, NULL, 0, pub, PKI_ED25519_PUB_LEN, err);
}

static int remote_sign(void *ctx, const char *kid, const void *data, size_t n, unsigned char *sig,
                       err_t *err)
{
    return call(ctx, KEYS_OP_SIGN, kid, data, n, sig, PKI_ED25519_SIG_LEN, err);
}

/* Without waiting: not marked dead, and the socket not hung up. */
static bool remote_ready(void *ctx)
{
    struct keys *k = ctx;
    pthread_mutex_lock(&k->mu);
    if (!k->dead) {
        struct pollfd p = {.fd = k->fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLIN)))
            gone(k, "hung up", NULL); /* nothing is due from it between requests */
    }
    bool ok = !k->dead;
    pthread_mutex_unlock(&k->mu);
    return ok;
}

int keys_client_new(int fd, keys_t **out, err_t *err)
{
    struct keys *k = calloc(1, sizeof *k);
    if (!k)
        return err_internal(err, DUPLA_ENOMEM, "keys: out of memory");
    struct timeval tv = {.tv_sec = KEYS_TIMEOUT_MS / 1000,
                         .tv_usec = (KEYS_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    k->fd = fd;
    pthread_mutex_init(&k->mu, NULL);
    k->remote = (struct pki_signer_remote){k, remote_load, remote_sign, remote_ready};
    *out = k;
    return 0;
}

int keys_start(const struct keys_config *cfg, keys_t **out, err_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return err_internal(err, DUPLA_EIO, "keys: socketpair: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return err_internal(err, DUPLA_EIO, "keys: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The key process: dies with its parent (SIGKILL: the parent's
         * blocked signals are inherited), and serves until EOF. */
        close(sv[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        prctl(PR_SET_NAME, "dupla-keys");
        int rc = keys_serve(sv[1], cfg);
        _exit(rc == 0 ? 0 : 1);
    }
    close(sv[1]);
    int rc = keys_client_new(sv[0], out, err);
    if (rc) {
        close(sv[0]);
        waitpid(pid, NULL, 0);
        return rc;
    }
    (*out)->pid = pid;
    log_info("keys: the key process is %d", (int)pid);
    return 0;
}

/* ---- the listeners' TLS keys ---- */

/* What a GnuTLS external key knows of its key (its userdata). */
struct tls_key {
    struct keys *k;
    char path[KEYS_NAME_MAX + 1];
    gnutls_pk_algorithm_t pk;
    unsigned bits;
};

/* Asks the key process to sign for GnuTLS; the signature in GnuTLS's
 * memory, as its callbacks must. */
static int tls_sign(struct tls_key *t, unsigned what, gnutls_sign_algorithm_t algo, unsigned flags,
                    const gnutls_datum_t *in, gnutls_datum_t *sig)
{
    unsigned char head[KEYS_TLS_HEADER] = {
        (unsigned char)what,          (unsigned char)((unsigned)algo >> 8),
        (unsigned char)algo,          (unsigned char)(flags >> 24),
        (unsigned char)(flags >> 16), (unsigned char)(flags >> 8),
        (unsigned char)flags};
    unsigned char out[KEYS_TLS_SIG_MAX];
    size_t got = 0;
    err_t err;
    err_clear(&err);
    if (call_parts(t->k, KEYS_OP_TLS_SIGN, t->path, head, sizeof head, in->data, in->size, out, 1,
                   sizeof out, &got, &err) != 0) {
        log_json(LOG_ERROR, "keys: a TLS signature failed",
                 json_pack("{s:s, s:s}", "key", t->path, "error", err.log));
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    sig->data = gnutls_malloc(got);
    if (!sig->data)
        return GNUTLS_E_MEMORY_ERROR;
    memcpy(sig->data, out, got);
    sig->size = (unsigned)got;
    return 0;
}

static int tls_sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                         unsigned flags, const gnutls_datum_t *data, gnutls_datum_t *sig)
{
    (void)key;
    return tls_sign(userdata, KEYS_TLS_DATA, algo, flags, data, sig);
}

static int tls_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                         unsigned flags, const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
    (void)key;
    return tls_sign(userdata, KEYS_TLS_HASH, algo, flags, hash, sig);
}

static void tls_deinit(gnutls_privkey_t key, void *userdata)
{
    (void)key;
    free(userdata);
}

/* What GnuTLS asks while choosing a signature algorithm: answered from
 * what the key process said at load, without a round trip. */
static int tls_info(gnutls_privkey_t key, unsigned flags, void *userdata)
{
    (void)key;
    const struct tls_key *t = userdata;
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
        return (int)t->pk;
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
        return (int)t->bits;
    if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
        gnutls_sign_algorithm_t sign = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
        return gnutls_sign_supports_pk_algorithm(sign, t->pk) ? 1 : 0;
    }
    return GNUTLS_E_UNKNOWN_ALGORITHM;
}

int keys_tls_privkey(keys_t *k, const char *path, const unsigned char *key_id,
                     gnutls_privkey_t *out, err_t *err)
{
    *out = NULL;
    struct tls_key *t = calloc(1, sizeof *t);
    if (!t)
        return err_internal(err, DUPLA_ENOMEM, "keys: out of memory");
    if (snprintf(t->path, sizeof t->path, "%s", path) >= (int)sizeof t->path) {
        free(t);
        return err_set(err, DUPLA_EINVAL, "keys: a TLS key path too long");
    }
    t->k = k;
    unsigned char a[5];
    int rc = call(k, KEYS_OP_TLS_LOAD, path, key_id, KEYS_TLS_KEYID_LEN, a, sizeof a, err);
    if (rc) {
        free(t);
        return rc;
    }
    t->pk = (gnutls_pk_algorithm_t)a[0];
    t->bits = (unsigned)a[1] << 24 | (unsigned)a[2] << 16 | (unsigned)a[3] << 8 | a[4];
    gnutls_privkey_t key = NULL;
    int g = gnutls_privkey_init(&key);
    if (g >= 0)
        g = gnutls_privkey_import_ext4(key, t, tls_sign_data, tls_sign_hash, NULL, tls_deinit,
                                       tls_info, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
    if (g < 0) {
        gnutls_privkey_deinit(key); /* NULL, or not yet owning t */
        free(t);
        return err_internal(err, DUPLA_ECRYPTO, "keys: an external TLS key: %s",
                            gnutls_strerror(g));
    }
    *out = key;
    return 0;
}

pid_t keys_pid(const keys_t *k)
{
    return k->pid;
}

const struct pki_signer_remote *keys_remote(keys_t *k)
{
    return &k->remote;
}

void keys_stop(keys_t *k)
{
    if (!k)
        return;
    close(k->fd);
    if (k->pid > 0)
        waitpid(k->pid, NULL, 0);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
