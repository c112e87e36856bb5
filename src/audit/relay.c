/*
 * relay.c: the cluster's relay. The nodes of a cluster hand their entries
 * to one node, the sequencer, which appends them with its own (one writer
 * makes the platform's batches) and answers each with its receipt once it
 * is durable.
 *
 * Why: without it each node's writer takes the store's write lock in turn
 * for each of its batches (record.c), and three nodes make three times the
 * batches of one, each smaller, each a turn at the lock and its own round
 * trips: three nodes served 0.52-0.64 of one node's calls/s
 * (bench/cluster.sh). Relayed, the sequencer's batches are as large as a
 * lone node's.
 *
 * Safety does not rest on the relay. The sequencer appends with the same
 * lock's protocol as every writer, so a node that appends itself meanwhile
 * (its link down, or two nodes that both think they sequence) cannot fork
 * the chain; the relay only decides who makes most of the batches. A
 * relaying node whose link is down appends itself at once, and tries the
 * link again every RELAY_RETRY_MS.
 *
 * An entry's caller learns of it only from the sequencer's answer, sent
 * once the entry is durable. An entry unanswered after the relay's timeout
 * breaks the link: it and every entry in flight on it are refused (503;
 * clients try again) and never appended by the relaying node, since the
 * sequencer may have appended them already: the log may hold an entry
 * nobody received, never an answer without its entry.
 *
 * The wire, over TLS 1.3 (or 1.2) with both ends' certificates checked
 * against the links' own CA, as frames of a 4-byte big-endian length and
 * its bytes; the sequencer's first frame is RELAY_HELLO, then:
 *   node -> sequencer: id (8 bytes), the entry's canonical encoding (seq
 *                      and time 0, the node's environment)
 *   sequencer -> node: id, code (4 bytes, 0 or a DUPLA_E* value), then
 *                      seq, time_ms (8 bytes each) and the entry hash (32),
 *                      or the refusal's parameter and detail (each a 4-byte
 *                      length and its bytes)
 * The sequencer checks a relayed entry as it checks its own callers'
 * (audit_submit), and refuses one for another environment.
 *
 * Each link is one thread on each side, which polls its socket and a pipe
 * that says its outgoing frames are waiting. One thread at a time uses a
 * link's TLS session (its io lock): a caller that queued an entry, or the
 * sequencer's log after it completed a batch, sends what is queued itself
 * when the session is free, and otherwise wakes the link's thread; the
 * thread takes the lock to read. A wake-up (a switch to the link's thread)
 * per entry and per batch was measurably slower.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#define RELAY_FRAME_MAX   (AUDIT_CANONICAL_MAX + 4096)
#define RELAY_OUT_MAX     ((size_t)64 << 20) /* frames waiting to go out on one link */
#define RELAY_RETRY_MS    1000               /* between tries to reach the sequencer */
#define RELAY_CONNECT_MS  1000               /* to connect, and to finish the handshake */
#define RELAY_POLL_MS     100                /* a link's thread looks at its clock */
#define RELAY_LINKS_MAX   64                 /* links a sequencer serves at once */
#define RELAY_ADDRS_MAX   4                  /* the sequencer's addresses tried in turn */
#define RELAY_DETAIL_MAX  512                /* bytes of a refusal's detail on the wire */
#define RELAY_ANSWER_SIZE (8 + 4 + 8 + 8 + AUDIT_HASH_LEN)
/* The sequencer's first frame, once it has checked the node's certificate
 * (with TLS 1.3 the node's handshake ends before that check): the node
 * sends no entry before it. */
#define RELAY_HELLO "dupla audit relay 1"

static metric_t *m_relayed, *m_lost, *m_sequenced, *m_refused, *m_up;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_declare(void);

void audit_relay_metrics(void)
{
    pthread_once(&metrics_once, metrics_declare);
}

static void metrics_declare(void)
{
    m_relayed = metrics_counter("dupla_audit_relayed_total",
                                "Entries this node handed to the sequencer (the cluster's relay) "
                                "and had answered.",
                                NULL);
    m_lost = metrics_counter("dupla_audit_relay_lost_total",
                             "Entries refused (503) because the link to the sequencer broke or "
                             "did not answer in time.",
                             NULL);
    m_sequenced = metrics_counter("dupla_audit_sequenced_total",
                                  "Entries this node appended for other nodes (it is the "
                                  "sequencer).",
                                  NULL);
    m_refused = metrics_counter("dupla_audit_relay_refused_total",
                                "Relay links refused at the handshake (a certificate the links' CA "
                                "did not issue, or none).",
                                NULL);
    m_up = metrics_gauge("dupla_audit_relay_up",
                         "1 while this node's link to the sequencer is up (its entries go "
                         "there), 0 while it appends them itself.",
                         NULL);
}

/* ---- the wire ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* Splits "host:port" (or "[v6]:port") into its parts. */
static int split_addr(const char *addr, const char *key, char *host, size_t host_cap, char *port,
                      size_t port_cap, err_t *err)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (!colon || hl == 0 || hl >= host_cap || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= port_cap || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return err_param(err, DUPLA_EINVAL, key, "audit.%s must be host:port, not \"%s\"", key,
                         addr);
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, port_cap, "%s", colon + 1);
    return 0;
}

static int creds_load(const struct audit_relay_config *cfg, gnutls_certificate_credentials_t *out,
                      err_t *err)
{
    gnutls_certificate_credentials_t c;
    int rc = gnutls_certificate_allocate_credentials(&c);
    if (rc < 0)
        return err_set(err, DUPLA_ENOMEM, "audit relay: %s", gnutls_strerror(rc));
    if ((rc = gnutls_certificate_set_x509_key_file(c, cfg->cert, cfg->key, GNUTLS_X509_FMT_PEM)) <
        0) {
        gnutls_certificate_free_credentials(c);
        return err_param(err, DUPLA_EINVAL, "relay_cert", "audit.relay_cert %s / relay_key %s: %s",
                         cfg->cert, cfg->key, gnutls_strerror(rc));
    }
    if ((rc = gnutls_certificate_set_x509_trust_file(c, cfg->ca, GNUTLS_X509_FMT_PEM)) <= 0) {
        gnutls_certificate_free_credentials(c);
        return err_param(err, DUPLA_EINVAL, "relay_ca", "audit.relay_ca %s: %s", cfg->ca,
                         rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
    }
    *out = c;
    return 0;
}

/* ---- a link: one TLS connection and its thread ---- */

struct link {
    int fd;
    gnutls_session_t tls; /* used under io only, once set up */
    int wake[2];          /* a byte: frames wait in out, or the link is to stop */
    pthread_mutex_t io;   /* the session's: one thread reads or sends at a time */
    pthread_mutex_t mu;
    buf_t out;     /* frames to send (under mu) */
    bool stop;     /* (under mu) */
    bool woken;    /* a byte is in the pipe (under mu) */
    unsigned refs; /* its thread, and each of a sequencer's entries in the log (under mu) */
    bool broken;   /* a send failed (under mu) */
    bool dirty;    /* answers queued for audit_relay_serve_flush (under mu) */
    buf_t in;      /* the link's thread's own */
    buf_t sending; /* under io */
};

static struct link *link_new(int fd)
{
    struct link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(l);
        return NULL;
    }
    l->fd = fd;
    l->refs = 1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->io, NULL);
    buf_init(&l->out, RELAY_OUT_MAX);
    buf_init(&l->in, RELAY_FRAME_MAX + 4 + 16384);
    buf_init(&l->sending, RELAY_OUT_MAX);
    return l;
}

static void link_unref(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last)
        return;
    if (l->tls)
        gnutls_deinit(l->tls);
    if (l->fd >= 0)
        close(l->fd);
    close(l->wake[0]);
    close(l->wake[1]);
    buf_free(&l->out);
    buf_free(&l->in);
    buf_free(&l->sending);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->io);
    free(l);
}

/* Wakes the link's thread (with l->mu held). */
static void link_wake_locked(struct link *l)
{
    if (l->woken)
        return;
    l->woken = true;
    char c = 1;
    ssize_t w = write(l->wake[1], &c, 1);
    (void)w; /* a full pipe already wakes it */
}

static void link_stop(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    link_wake_locked(l);
    pthread_mutex_unlock(&l->mu);
}

/* Appends a frame of the given parts to l->out (under l->mu), and wakes
 * the link's thread with wake (else the caller sends: link_flush); false
 * when it does not fit (the peer does not read). */
static bool link_queue_locked(struct link *l, const void *a, size_t an, const void *b, size_t bn,
                              bool wake)
{
    unsigned char len[4];
    put_u32(len, (uint32_t)(an + bn));
    size_t before = l->out.len;
    if (buf_append(&l->out, len, 4) || buf_append(&l->out, a, an) ||
        (bn && buf_append(&l->out, b, bn))) {
        l->out.len = before;
        return false;
    }
    if (wake)
        link_wake_locked(l);
    return true;
}

static int tls_setup(struct link *l, unsigned flags, gnutls_certificate_credentials_t cred,
                     err_t *err)
{
    int rc;
    /* GNUTLS_NO_SIGNAL: a peer gone is a broken link, never a SIGPIPE */
    if ((rc = gnutls_init(&l->tls, flags | GNUTLS_NO_SIGNAL)) < 0 ||
        (rc = gnutls_set_default_priority(l->tls)) < 0 ||
        (rc = gnutls_credentials_set(l->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0)
        return err_set(err, DUPLA_ECRYPTO, "audit relay: TLS: %s", gnutls_strerror(rc));
    if (flags & GNUTLS_SERVER)
        gnutls_certificate_server_set_request(l->tls, GNUTLS_CERT_REQUIRE);
    /* the peer's certificate must chain to the links' CA; no name is
     * checked: that CA issues the nodes' certificates and nothing else */
    gnutls_session_set_verify_cert2(l->tls, NULL, 0, 0);
    gnutls_transport_set_int(l->tls, l->fd);
    gnutls_handshake_set_timeout(l->tls, RELAY_CONNECT_MS);
    do
        rc = gnutls_handshake(l->tls);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0)
        return err_set(err, DUPLA_EFORBIDDEN, "audit relay: TLS handshake: %s",
                       gnutls_strerror(rc));
    return 0;
}

/* Socket timeouts: a peer that stops reading or writing breaks the link
 * instead of holding its thread. */
static void socket_timeouts(int fd, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* What a link's thread does with each frame and between polls; nonzero
 * from either breaks the link. */
struct link_ops {
    int (*frame)(void *ctx, struct link *l, const unsigned char *p, size_t n);
    int (*tick)(void *ctx, struct link *l);
    void *ctx;
};

/* Sends what is queued (with l->io held): 0, or -1 when the link is
 * broken or to stop. */
static int link_send(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    buf_t t = l->sending;
    l->sending = l->out;
    l->out = t;
    buf_reset(&l->out);
    bool stop = l->stop || l->broken;
    pthread_mutex_unlock(&l->mu);
    if (stop)
        return -1;
    size_t off = 0;
    while (off < l->sending.len) {
        ssize_t w = gnutls_record_send(l->tls, l->sending.data + off, l->sending.len - off);
        if (w == GNUTLS_E_INTERRUPTED)
            continue;
        if (w <= 0) {
            pthread_mutex_lock(&l->mu);
            l->broken = true;
            link_wake_locked(l);
            pthread_mutex_unlock(&l->mu);
            return -1;
        }
        off += (size_t)w;
    }
    buf_reset(&l->sending);
    return 0;
}

/* Sends what is queued now when no other thread uses the session, and
 * otherwise wakes the link's thread, which sends it next. */
static void link_flush(struct link *l)
{
    if (pthread_mutex_trylock(&l->io) == 0) {
        link_send(l);
        pthread_mutex_unlock(&l->io);
        return;
    }
    pthread_mutex_lock(&l->mu);
    link_wake_locked(l);
    pthread_mutex_unlock(&l->mu);
}

/* Reads what has come (under l->io), then hands each whole frame to ops
 * (without it: a frame's handler may queue and send). */
static int link_receive(struct link *l, const struct link_ops *ops)
{
    char chunk[16384];
    int rc = 0;
    pthread_mutex_lock(&l->io);
    do {
        ssize_t r = gnutls_record_recv(l->tls, chunk, sizeof chunk);
        if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN)
            break; /* what came before is parsed below */
        if (r <= 0 || buf_append(&l->in, chunk, (size_t)r)) {
            rc = -1; /* closed, broken, or a frame beyond the limit */
            break;
        }
    } while (gnutls_record_check_pending(l->tls) > 0);
    pthread_mutex_unlock(&l->io);
    if (rc)
        return rc;
    size_t off = 0;
    const unsigned char *p = (const unsigned char *)l->in.data;
    while (l->in.len - off >= 4) {
        uint32_t n = get_u32(p + off);
        if (n > RELAY_FRAME_MAX) {
            log_error("audit relay: a frame of %" PRIu32 " bytes (at most %zu): the link is closed",
                      n, (size_t)RELAY_FRAME_MAX);
            return -1;
        }
        if (l->in.len - off - 4 < n)
            break;
        if (ops->frame(ops->ctx, l, p + off + 4, n))
            return -1;
        off += 4 + (size_t)n;
    }
    if (off) {
        memmove(l->in.data, l->in.data + off, l->in.len - off);
        l->in.len -= off;
    }
    return 0;
}

/* Runs the link until it breaks, its peer closes it, or ops say stop. */
static void link_run(struct link *l, const struct link_ops *ops)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        bool stop = l->stop || l->broken;
        pthread_mutex_unlock(&l->mu);
        if (stop || ops->tick(ops->ctx, l))
            return;
        struct pollfd pf[2] = {{l->fd, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
        pthread_mutex_lock(&l->io);
        bool pending = gnutls_record_check_pending(l->tls) > 0;
        pthread_mutex_unlock(&l->io);
        int n = pending ? 1 : poll(pf, 2, RELAY_POLL_MS);
        if (n < 0 && errno != EINTR)
            return;
        if (pf[1].revents) {
            pthread_mutex_lock(&l->mu);
            l->woken = false;
            char c[64];
            while (read(l->wake[0], c, sizeof c) > 0)
                ;
            pthread_mutex_unlock(&l->mu);
            pthread_mutex_lock(&l->io);
            int rc = link_send(l);
            pthread_mutex_unlock(&l->io);
            if (rc)
                return;
        }
        if ((pf[0].revents || pending) && link_receive(l, ops))
            return;
    }
}

/* ---- the sequencer ---- */

struct audit_relay_server {
    audit_log_t *log;
    gnutls_certificate_credentials_t cred;
    int lfd;
    int stop[2];
    pthread_t acceptor;
    pthread_mutex_t mu;
    struct served {
        struct link *l;
        pthread_t thread;
        bool done; /* its thread has ended (joined at the next accept or the stop) */
        char peer[64];
        struct audit_relay_server *s;
    } * links[RELAY_LINKS_MAX];
    uint64_t sequenced, refused; /* under mu */
    uint64_t held;               /* entries in the log, not yet answered (under mu) */
    bool draining;               /* the log closes: no new entry is taken (under mu) */
};

/* One relayed entry in the sequencer's log: its bytes, the entry decoded
 * from them, and where its answer goes. */
struct relayed {
    struct link *l;
    struct audit_relay_server *s;
    uint64_t id;
    struct audit_decoded d;
    unsigned char bytes[];
};

/* Queues an answer; with wake the link's thread sends it, without the
 * log's completion does (audit_relay_serve_flush, once per batch). */
static void answer(struct link *l, uint64_t id, int rc, const struct audit_receipt *r,
                   const err_t *err, bool wake)
{
    unsigned char a[RELAY_ANSWER_SIZE];
    put_u32(a, (uint32_t)(id >> 32));
    put_u32(a + 4, (uint32_t)id);
    put_u32(a + 8, (uint32_t)rc);
    size_t n = 12;
    unsigned char refusal[8 + ERR_PARAM_MAX + RELAY_DETAIL_MAX];
    size_t rn = 0;
    if (rc == 0) {
        put_u32(a + 12, (uint32_t)((uint64_t)r->seq >> 32));
        put_u32(a + 16, (uint32_t)r->seq);
        put_u32(a + 20, (uint32_t)((uint64_t)r->time_ms >> 32));
        put_u32(a + 24, (uint32_t)r->time_ms);
        memcpy(a + 28, r->entry_hash, AUDIT_HASH_LEN);
        n = RELAY_ANSWER_SIZE;
    } else {
        const char *param = err ? err->param : "";
        const char *detail = err ? err->detail : "the sequencer refused the entry";
        size_t pl = strnlen(param, ERR_PARAM_MAX), dl = strnlen(detail, RELAY_DETAIL_MAX);
        put_u32(refusal, (uint32_t)pl);
        memcpy(refusal + 4, param, pl);
        put_u32(refusal + 4 + pl, (uint32_t)dl);
        memcpy(refusal + 8 + pl, detail, dl);
        rn = 8 + pl + dl;
    }
    pthread_mutex_lock(&l->mu);
    if (!l->stop && !link_queue_locked(l, a, n, refusal, rn, wake)) {
        log_error("audit relay: a node does not read its answers; the link is closed");
        l->broken = true;
        link_wake_locked(l);
    }
    l->dirty |= !wake;
    pthread_mutex_unlock(&l->mu);
}

/* The log's completion of a relayed entry (writer or flusher thread). */
static void relayed_done(void *ctx, int rc, const struct audit_receipt *r, const err_t *err)
{
    struct relayed *x = ctx;
    pthread_mutex_lock(&x->s->mu); /* counted before the node hears of it */
    x->s->sequenced += rc == 0;
    x->s->held--;
    pthread_mutex_unlock(&x->s->mu);
    if (!rc)
        metric_add(m_sequenced, 1);
    answer(x->l, x->id, rc, r, err, false);
    link_unref(x->l);
    audit_decoded_free(&x->d);
    free(x);
}

static int server_frame(void *ctx, struct link *l, const unsigned char *p, size_t n)
{
    struct served *sv = ctx;
    if (n < 8) {
        log_error("audit relay: a frame without its id from %s: the link is closed", sv->peer);
        return -1;
    }
    struct relayed *x = malloc(sizeof *x + n);
    if (!x)
        return -1;
    memcpy(x->bytes, p, n);
    x->l = l;
    x->s = sv->s;
    x->id = get_u64(p);
    err_t err;
    err_clear(&err);
    pthread_mutex_lock(&sv->s->mu);
    bool draining = sv->s->draining;
    pthread_mutex_unlock(&sv->s->mu);
    if (draining) {
        err_set(&err, DUPLA_EBUSY, "the disclosure log's sequencer is stopping; try again shortly");
        answer(l, x->id, DUPLA_EBUSY, NULL, &err, true);
        free(x);
        return 0;
    }
    str_t canon = {(const char *)x->bytes + 8, n - 8};
    int rc = audit_canonical_decode(canon, &x->d, &err);
    const char *env = audit_log_environment(sv->s->log);
    if (!rc && !str_eq_cstr(x->d.environment, env)) {
        rc = err_param(&err, DUPLA_EINVAL, "environment",
                       "an entry for the %.*s environment relayed to a %s log",
                       (int)(x->d.environment.len > 32 ? 32 : x->d.environment.len),
                       x->d.environment.ptr, env);
        audit_decoded_free(&x->d);
    }
    if (!rc) {
        pthread_mutex_lock(&l->mu);
        l->refs++;
        pthread_mutex_unlock(&l->mu);
        pthread_mutex_lock(&sv->s->mu);
        sv->s->held++;
        pthread_mutex_unlock(&sv->s->mu);
        rc = audit_submit(sv->s->log, &x->d.e, relayed_done, x, &err);
        if (rc) {
            pthread_mutex_lock(&l->mu);
            l->refs--;
            pthread_mutex_unlock(&l->mu);
            pthread_mutex_lock(&sv->s->mu);
            sv->s->held--;
            pthread_mutex_unlock(&sv->s->mu);
            audit_decoded_free(&x->d);
        }
    }
    if (rc) {
        answer(l, x->id, rc, NULL, &err, true);
        free(x);
    }
    return 0;
}

static int server_tick(void *ctx, struct link *l)
{
    (void)ctx;
    pthread_mutex_lock(&l->mu);
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    return stop ? -1 : 0;
}

static void *served_main(void *arg)
{
    struct served *sv = arg;
    struct link *l = sv->l;
    err_t err;
    err_clear(&err);
    if (tls_setup(l, GNUTLS_SERVER, sv->s->cred, &err)) {
        log_warn("audit relay: a link from %s refused: %s", sv->peer, err.log);
        pthread_mutex_lock(&sv->s->mu);
        sv->s->refused++;
        pthread_mutex_unlock(&sv->s->mu);
        metric_add(m_refused, 1);
    } else {
        log_info("audit relay: a node at %s relays its entries here", sv->peer);
        pthread_mutex_lock(&l->mu);
        link_queue_locked(l, RELAY_HELLO, strlen(RELAY_HELLO), NULL, 0, true);
        pthread_mutex_unlock(&l->mu);
        struct link_ops ops = {server_frame, server_tick, sv};
        link_run(l, &ops);
        log_info("audit relay: the link from %s closed", sv->peer);
    }
    shutdown(l->fd, SHUT_RDWR);
    pthread_mutex_lock(&sv->s->mu);
    sv->done = true;
    pthread_mutex_unlock(&sv->s->mu);
    return NULL;
}

/* Joins the links whose threads have ended (all of them when every is
 * set, after stopping them), with s->mu held. */
static void reap_locked(struct audit_relay_server *s, bool every)
{
    for (int i = 0; i < RELAY_LINKS_MAX; i++) {
        struct served *sv = s->links[i];
        if (!sv || (!sv->done && !every))
            continue;
        s->links[i] = NULL;
        if (every)
            link_stop(sv->l);
        pthread_mutex_unlock(&s->mu);
        pthread_join(sv->thread, NULL);
        link_unref(sv->l);
        free(sv);
        pthread_mutex_lock(&s->mu);
    }
}

static void *acceptor_main(void *arg)
{
    struct audit_relay_server *s = arg;
    for (;;) {
        struct pollfd pf[2] = {{s->lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (!pf[0].revents)
            continue;
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char host[48] = "?", port[8] = "?";
        getnameinfo((struct sockaddr *)&sa, sl, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        socket_timeouts(fd, RELAY_CONNECT_MS * 2);
        pthread_mutex_lock(&s->mu);
        reap_locked(s, false);
        int slot = -1;
        for (int i = 0; i < RELAY_LINKS_MAX && slot < 0; i++)
            if (!s->links[i])
                slot = i;
        struct served *sv = slot < 0 ? NULL : calloc(1, sizeof *sv);
        struct link *l = sv ? link_new(fd) : NULL;
        if (!l) {
            pthread_mutex_unlock(&s->mu);
            log_warn("audit relay: a link from %s:%s refused (%d links at most)", host, port,
                     RELAY_LINKS_MAX);
            free(sv);
            close(fd);
            continue;
        }
        sv->l = l;
        sv->s = s;
        snprintf(sv->peer, sizeof sv->peer, "%s:%s", host, port);
        if (pthread_create(&sv->thread, NULL, served_main, sv) != 0) {
            pthread_mutex_unlock(&s->mu);
            link_unref(l);
            free(sv);
            continue;
        }
        s->links[slot] = sv;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

int audit_relay_serve(audit_log_t *log, const struct audit_relay_config *cfg,
                      struct audit_relay_server **out, err_t *err)
{
    audit_relay_metrics();
    *out = NULL;
    char host[AUDIT_RELAY_ADDR_MAX], port[16];
    int rc = split_addr(cfg->listen, "relay_listen", host, sizeof host, port, sizeof port, err);
    if (rc)
        return rc;
    struct audit_relay_server *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    s->log = log;
    s->lfd = s->stop[0] = s->stop[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    if ((rc = creds_load(cfg, &s->cred, err)))
        goto fail;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g) {
        rc = err_param(err, DUPLA_EINVAL, "relay_listen", "audit.relay_listen %s: %s", cfg->listen,
                       gai_strerror(g));
        goto fail;
    }
    s->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->lfd >= 0)
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->lfd < 0 || bind(s->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s->lfd, 16) != 0) {
        rc = err_param(err, DUPLA_EINVAL, "relay_listen", "audit.relay_listen %s: %s", cfg->listen,
                       strerror(errno));
        freeaddrinfo(ai);
        goto fail;
    }
    freeaddrinfo(ai);
    if (pipe2(s->stop, O_CLOEXEC) != 0 ||
        pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        rc = err_internal(err, DUPLA_EINTERNAL, "audit relay: cannot start the acceptor");
        goto fail;
    }
    log_info("audit relay: this node is the sequencer; nodes relay their entries to %s",
             cfg->listen);
    *out = s;
    return 0;
fail:
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->stop[0] >= 0) {
        close(s->stop[0]);
        close(s->stop[1]);
    }
    if (s->cred)
        gnutls_certificate_free_credentials(s->cred);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return rc;
}

void audit_relay_serve_flush(struct audit_relay_server *s)
{
    struct link *dirty[RELAY_LINKS_MAX];
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < RELAY_LINKS_MAX; i++) {
        struct link *l = s->links[i] ? s->links[i]->l : NULL;
        if (!l)
            continue;
        pthread_mutex_lock(&l->mu);
        if (l->dirty) {
            l->dirty = false;
            l->refs++;
            dirty[n++] = l;
        }
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) {
        link_flush(dirty[i]);
        link_unref(dirty[i]);
    }
}

void audit_relay_serve_drain(struct audit_relay_server *s)
{
    if (!s || s->draining)
        return;
    char c = 1;
    ssize_t w = write(s->stop[1], &c, 1);
    (void)w;
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
}

void audit_relay_serve_stop(struct audit_relay_server *s)
{
    if (!s)
        return;
    audit_relay_serve_drain(s);
    pthread_mutex_lock(&s->mu);
    reap_locked(s, true);
    pthread_mutex_unlock(&s->mu);
    close(s->stop[0]);
    close(s->stop[1]);
}

void audit_relay_serve_free(struct audit_relay_server *s)
{
    if (!s)
        return;
    gnutls_certificate_free_credentials(s->cred);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- a relaying node ---- */

struct audit_relay_client {
    audit_log_t *log;
    char to[AUDIT_RELAY_ADDR_MAX];
    /* the sequencer's addresses, resolved once at start (before the
     * system call filter, and so that a resolver that fails later cannot
     * stop the relay) */
    struct sockaddr_storage addrs[RELAY_ADDRS_MAX];
    socklen_t addr_lens[RELAY_ADDRS_MAX];
    int n_addrs;
    gnutls_certificate_credentials_t cred;
    int64_t timeout_ns;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;          /* closing, for the thread's waits between tries */
    bool closing;                 /* under mu */
    int64_t closing_ns;           /* when audit_relay_connect_stop began */
    struct link *link;            /* while up (under mu) */
    uint64_t next_id;             /* under mu */
    struct pending *first, *last; /* in flight, oldest first (under mu) */
    buf_t canon;                  /* under mu */
    uint64_t relayed, lost;       /* under mu */
};

/* Takes what is in flight (with c->mu held). */
static struct pending *take_flight_locked(struct audit_relay_client *c)
{
    struct pending *p = c->first;
    c->first = c->last = NULL;
    return p;
}

/* Refuses the pendings of list: their link broke or timed out. */
static void refuse(struct audit_relay_client *c, struct pending *list, const char *why)
{
    size_t n = 0;
    for (struct pending *p = list; p; p = p->next)
        n++;
    if (!n)
        return;
    pthread_mutex_lock(&c->mu);
    c->lost += n;
    pthread_mutex_unlock(&c->mu);
    metric_add(m_lost, (double)n);
    err_t err;
    err_clear(&err);
    err_set(&err, DUPLA_EBUSY, "the disclosure log's sequencer did not answer; try again shortly");
    snprintf(err.log, sizeof err.log, "audit relay: %zu entries refused: %s", n, why);
    audit_complete(c->log, list, DUPLA_EBUSY, &err, false);
}

bool audit_relay_send(struct audit_relay_client *c, struct pending *p)
{
    pthread_mutex_lock(&c->mu);
    if (!c->link || c->closing) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    buf_reset(&c->canon);
    unsigned char id[8];
    uint64_t n = ++c->next_id;
    put_u32(id, (uint32_t)(n >> 32));
    put_u32(id + 4, (uint32_t)n);
    struct link *l = c->link;
    bool sent = audit_canonical_encode(p->entry, 0, 0, str_from_cstr(audit_log_environment(c->log)),
                                       &c->canon) == 0;
    if (sent) {
        pthread_mutex_lock(&l->mu);
        sent = !l->stop && !l->broken &&
               link_queue_locked(l, id, 8, c->canon.data, c->canon.len, false);
        if (sent)
            l->refs++; /* the link may end once c->mu is let go */
        pthread_mutex_unlock(&l->mu);
    }
    if (sent) {
        p->relay_id = n;
        p->next = NULL;
        if (c->last)
            c->last->next = p;
        else
            c->first = p;
        c->last = p;
    }
    pthread_mutex_unlock(&c->mu);
    if (sent) {
        link_flush(l); /* sent by this thread, or by the link's when it reads */
        link_unref(l);
    }
    return sent;
}

static int client_frame(void *ctx, struct link *l, const unsigned char *p, size_t n)
{
    (void)l;
    struct audit_relay_client *c = ctx;
    if (n < 12)
        return -1;
    uint64_t id = get_u64(p);
    int rc = (int)get_u32(p + 8);
    struct audit_receipt r;
    memset(&r, 0, sizeof r);
    err_t err;
    err_clear(&err);
    if (rc == 0) {
        if (n != RELAY_ANSWER_SIZE)
            return -1;
        r.seq = (int64_t)get_u64(p + 12);
        r.time_ms = (int64_t)get_u64(p + 20);
        memcpy(r.entry_hash, p + 28, AUDIT_HASH_LEN);
    } else {
        if (rc >= 0 || n < 16)
            return -1;
        uint32_t pl = get_u32(p + 12);
        if (pl >= ERR_PARAM_MAX || n < 16 + (size_t)pl)
            return -1;
        uint32_t dl = get_u32(p + 12 + 4 + pl);
        if (dl > RELAY_DETAIL_MAX || n != 20 + (size_t)pl + dl)
            return -1;
        const char *param = (const char *)p + 16, *detail = (const char *)p + 20 + pl;
        char pbuf[ERR_PARAM_MAX];
        memcpy(pbuf, param, pl);
        pbuf[pl] = '\0';
        if (pl)
            err_param(&err, rc, pbuf, "%.*s", (int)dl, detail);
        else
            err_set(&err, rc, "%.*s", (int)dl, detail);
    }
    /* answers come in order, bar refusals ahead of earlier entries: the
     * match is almost always the first in flight */
    pthread_mutex_lock(&c->mu);
    struct pending *prev = NULL, *x = c->first;
    while (x && x->relay_id != id) {
        prev = x;
        x = x->next;
    }
    if (x) {
        if (prev)
            prev->next = x->next;
        else
            c->first = x->next;
        if (c->last == x)
            c->last = prev;
        x->next = NULL;
        c->relayed += rc == 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (!x) {
        log_error("audit relay: an answer for entry %" PRIu64 ", not in flight: the link is closed",
                  id);
        return -1;
    }
    if (rc == 0) {
        x->receipt = r;
        metric_add(m_relayed, 1);
    }
    audit_complete(c->log, x, rc, &err, false);
    return 0;
}

static int client_tick(void *ctx, struct link *l)
{
    (void)l;
    struct audit_relay_client *c = ctx;
    int64_t now = clock_mono_ns();
    pthread_mutex_lock(&c->mu);
    bool late = c->first && now - c->first->t0_ns > c->timeout_ns;
    bool stop = c->closing && (!c->first || now - c->closing_ns > c->timeout_ns);
    pthread_mutex_unlock(&c->mu);
    if (late)
        log_error("audit relay: the sequencer at %s did not answer within %" PRId64
                  " ms; the link is closed and its entries refused",
                  c->to, c->timeout_ns / 1000000);
    return late || stop ? -1 : 0;
}

/* The sequencer's hello (within the socket's timeout): it has accepted
 * this node's certificate. */
static int read_hello(struct link *l, err_t *err)
{
    size_t want = 4 + strlen(RELAY_HELLO);
    while (l->in.len < want) {
        char chunk[64];
        ssize_t r = gnutls_record_recv(l->tls, chunk, want - l->in.len);
        if (r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r <= 0)
            return err_set(err, DUPLA_EFORBIDDEN, "the sequencer refused this node's link: %s",
                           r ? gnutls_strerror((int)r) : "closed");
        if (buf_append(&l->in, chunk, (size_t)r))
            return err_set(err, DUPLA_EIO, "the sequencer's hello does not fit");
    }
    const unsigned char *p = (const unsigned char *)l->in.data;
    if (get_u32(p) != strlen(RELAY_HELLO) || memcmp(p + 4, RELAY_HELLO, strlen(RELAY_HELLO)))
        return err_set(err, DUPLA_EIO, "the sequencer does not speak this relay's protocol");
    buf_reset(&l->in);
    return 0;
}

/* Connects to the sequencer and shakes hands; the link, or NULL (why in
 * err). */
static struct link *client_dial(struct audit_relay_client *c, err_t *err)
{
    int fd = -1;
    for (int i = 0; i < c->n_addrs && fd < 0; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[i];
        fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        socket_timeouts(fd, RELAY_CONNECT_MS);
        if (connect(fd, sa, c->addr_lens[i]) != 0) {
            err_set(err, DUPLA_EBUSY, "%s: %s", c->to, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0)
        return NULL;
    struct link *l = link_new(fd);
    if (!l) {
        close(fd);
        err_set(err, DUPLA_ENOMEM, "out of memory");
        return NULL;
    }
    if (tls_setup(l, GNUTLS_CLIENT, c->cred, err) || read_hello(l, err)) {
        link_unref(l);
        return NULL;
    }
    socket_timeouts(fd, (unsigned)(c->timeout_ns / 1000000));
    return l;
}

/* RELAY_RETRY_MS, or until the log closes. */
static void retry_wait(struct audit_relay_client *c)
{
    int64_t until = clock_mono_ns() + (int64_t)RELAY_RETRY_MS * 1000000;
    struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
    pthread_mutex_lock(&c->mu);
    while (!c->closing && clock_mono_ns() < until)
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
    pthread_mutex_unlock(&c->mu);
}

static void *client_main(void *arg)
{
    struct audit_relay_client *c = arg;
    bool said_down = false;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool closing = c->closing;
        pthread_mutex_unlock(&c->mu);
        if (closing)
            break;
        err_t err;
        err_clear(&err);
        struct link *l = client_dial(c, &err);
        if (!l) {
            if (!said_down)
                log_warn("audit relay: cannot reach the sequencer (%s); this node appends its "
                         "entries itself meanwhile",
                         err.log);
            said_down = true;
            retry_wait(c);
            continue;
        }
        said_down = false;
        log_info("audit relay: this node's entries go to the sequencer at %s", c->to);
        pthread_mutex_lock(&c->mu);
        c->link = l;
        pthread_mutex_unlock(&c->mu);
        metric_set(m_up, 1);
        struct link_ops ops = {client_frame, client_tick, c};
        link_run(l, &ops);
        pthread_mutex_lock(&c->mu);
        c->link = NULL;
        closing = c->closing;
        struct pending *lost = take_flight_locked(c);
        pthread_mutex_unlock(&c->mu);
        metric_set(m_up, 0);
        link_stop(l);
        link_unref(l);
        refuse(c, lost, closing ? "the node is stopping" : "the link to the sequencer broke");
        if (!closing) {
            log_warn("audit relay: the link to the sequencer at %s is down; this node appends "
                     "its entries itself until it is back",
                     c->to);
            retry_wait(c); /* a sequencer that hangs costs a timeout a period, not a stream */
        }
    }
    return NULL;
}

/* The sequencer's addresses into c. */
static int resolve(const char *to, struct audit_relay_client *c, err_t *err)
{
    char host[AUDIT_RELAY_ADDR_MAX], port[16];
    int rc = split_addr(to, "relay_to", host, sizeof host, port, sizeof port, err);
    if (rc)
        return rc;
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g)
        return err_param(err, DUPLA_EINVAL, "relay_to", "audit.relay_to %s: %s", to,
                         gai_strerror(g));
    for (struct addrinfo *a = ai; a && c->n_addrs < RELAY_ADDRS_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof c->addrs[0])
            continue;
        memcpy(&c->addrs[c->n_addrs], a->ai_addr, a->ai_addrlen);
        c->addr_lens[c->n_addrs++] = a->ai_addrlen;
    }
    freeaddrinfo(ai);
    return 0;
}

int audit_relay_connect(audit_log_t *log, const struct audit_relay_config *cfg,
                        struct audit_relay_client **out, err_t *err)
{
    audit_relay_metrics();
    *out = NULL;
    struct audit_relay_client *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    int rc = resolve(cfg->to, c, err);
    if (rc || (rc = creds_load(cfg, &c->cred, err))) {
        free(c);
        return rc;
    }
    c->log = log;
    snprintf(c->to, sizeof c->to, "%s", cfg->to);
    c->timeout_ns =
        (int64_t)(cfg->timeout_ms ? cfg->timeout_ms : AUDIT_RELAY_TIMEOUT_MS_DEFAULT) * 1000000;
    buf_init(&c->canon, AUDIT_CANONICAL_MAX);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
        gnutls_certificate_free_credentials(c->cred);
        buf_free(&c->canon);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        free(c);
        return err_internal(err, DUPLA_EINTERNAL, "audit relay: cannot start its thread");
    }
    *out = c;
    return 0;
}

void audit_relay_connect_stop(struct audit_relay_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    c->closing_ns = clock_mono_ns();
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    gnutls_certificate_free_credentials(c->cred);
    buf_free(&c->canon);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

void audit_relay_stats(struct audit_relay_server *s, struct audit_relay_client *c,
                       struct audit_stats *out)
{
    if (s) {
        pthread_mutex_lock(&s->mu);
        out->sequenced = s->sequenced;
        out->relay_held = s->held;
        out->relay_refused = s->refused;
        pthread_mutex_unlock(&s->mu);
    }
    if (c) {
        pthread_mutex_lock(&c->mu);
        out->relayed = c->relayed;
        out->relay_lost = c->lost;
        out->relay_up = c->link != NULL;
        pthread_mutex_unlock(&c->mu);
    }
}
