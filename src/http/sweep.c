/*
 * sweep.c: the header deadline. libmicrohttpd's connection timeout is an
 * idle timeout: each byte restarts it, so a client that trickles its
 * request header a byte at a time would hold a connection (and, with
 * enough of them, the server) forever, and request_seconds is checked only
 * once the header is in (connection.c). The sweeper thread looks at every
 * open connection each HTTP_SWEEP_MS and shuts down the socket of one
 * whose header has been awaited longer than idle_seconds + request_seconds
 * (since the connection began, the TLS handshake included, or since its
 * previous answer); libmicrohttpd then sees the end of the stream and
 * closes it as usual. A request being handled, a long answer included, is
 * never swept.
 *
 * A TLS handshake has a deadline of its own, limits.handshake_seconds from
 * the connection's start: libmicrohttpd 0.9.75 (Debian 12's) keeps a
 * connection whose handshake waits for the client among its ready ones
 * (only a read of application data marks it not ready), so its event loop
 * tries the handshake again and again until the client's next message
 * comes: a legitimate client costs a few milliseconds of a processor
 * (1,600 tries for one handshake with curl on this machine), a client
 * that stalls its handshake a whole processor until the connection is
 * closed: before, at libmicrohttpd's idle timeout (idle_seconds, 15 s by
 * default; a stalled ClientHello cost 3 s of CPU in 3 s).
 */
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/internal.h"

void http_sweep_add(struct http_listener *l, struct http_conn *hc)
{
    pthread_mutex_lock(&l->lock);
    hc->prev = NULL;
    hc->next = l->conns;
    if (l->conns)
        l->conns->prev = hc;
    l->conns = hc;
    pthread_mutex_unlock(&l->lock);
}

/* Under l->lock, and before libmicrohttpd closes the socket (it notifies
 * the close first), so the sweeper never shuts down a reused descriptor. */
void http_sweep_remove(struct http_listener *l, struct http_conn *hc)
{
    pthread_mutex_lock(&l->lock);
    if (hc->prev)
        hc->prev->next = hc->next;
    else if (l->conns == hc)
        l->conns = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    hc->prev = hc->next = NULL;
    pthread_mutex_unlock(&l->lock);
}

/* Shuts down l's connections past their deadline (the header's, or the
 * handshake's while it lasts); how many, of which *handshakes in a
 * handshake. */
static unsigned sweep_listener(struct http_listener *l, int64_t now, int64_t limit_ns,
                               int64_t handshake_ns, unsigned *handshakes)
{
    unsigned n = 0;
    pthread_mutex_lock(&l->lock);
    for (struct http_conn *hc = l->conns; hc; hc = hc->next) {
        int64_t since = atomic_load(&hc->header_since_ns);
        if (since == 0 || hc->swept || hc->fd < 0)
            continue;
        bool shaking = !atomic_load(&hc->handshaken);
        if (now - since <= (shaking ? handshake_ns : limit_ns))
            continue;
        shutdown(hc->fd, SHUT_RDWR);
        hc->swept = true;
        *handshakes += shaking;
        n++;
    }
    pthread_mutex_unlock(&l->lock);
    return n;
}

static void *sweeper(void *arg)
{
    http_server_t *srv = arg;
    const struct limits_config *lim = &srv->cfg->limits;
    int64_t limit_ns = ((int64_t)lim->idle_seconds + lim->request_seconds) * 1000000000LL;
    int64_t handshake_ns = (int64_t)lim->handshake_seconds * 1000000000LL;
    struct timespec pause = {0, HTTP_SWEEP_MS * 1000000L};
    while (!atomic_load(&srv->sweep_stop)) {
        nanosleep(&pause, NULL);
        int64_t now = clock_mono_ns();
        for (size_t i = 0; i < srv->n_listeners; i++) {
            struct http_listener *l = &srv->listeners[i];
            unsigned handshakes = 0;
            unsigned n = sweep_listener(l, now, limit_ns, handshake_ns, &handshakes);
            if (n)
                log_json(LOG_INFO, "slow clients cut off",
                         json_pack("{s:s, s:i, s:i, s:i, s:i}", "listener", l->cfg->name,
                                   "connections", (int)n, "in_handshake", (int)handshakes,
                                   "header_seconds",
                                   (int)(lim->idle_seconds + lim->request_seconds),
                                   "handshake_seconds", (int)lim->handshake_seconds));
        }
    }
    return NULL;
}

int http_sweep_start(http_server_t *srv, err_t *err)
{
    atomic_store(&srv->sweep_stop, false);
    if (pthread_create(&srv->sweeper, NULL, sweeper, srv) != 0)
        return err_set(err, DUPLA_EIO, "cannot start the connection sweeper thread");
    srv->sweeping = true;
    return 0;
}

void http_sweep_stop(http_server_t *srv)
{
    if (!srv->sweeping)
        return;
    atomic_store(&srv->sweep_stop, true);
    pthread_join(srv->sweeper, NULL);
    srv->sweeping = false;
}
