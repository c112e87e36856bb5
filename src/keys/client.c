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

/* One request and its answer: on KEYS_OK the answer's out_len bytes into
 * out; a refusal is DUPLA_ECRYPTO with its text. */
static int call(struct keys *k, unsigned op, const char *name, const void *msg, size_t n,
                unsigned char *out, size_t out_len, err_t *err)
{
    size_t nl = strlen(name);
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
        (n && keys_write_full(k->fd, msg, n))) {
        rc = gone(k, "write", err);
        goto out;
    }
    if (keys_read_full(k->fd, a, sizeof a)) {
        rc = gone(k, "read", err);
        goto out;
    }
    size_t len = (size_t)a[1] << 8 | a[2];
    if (a[0] == KEYS_OK && len == out_len) {
        rc = keys_read_full(k->fd, out, out_len) ? gone(k, "read", err) : 0;
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
