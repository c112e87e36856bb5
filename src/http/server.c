/*
 * server.c: the server's life cycle: its listeners' sockets and daemons,
 * routes added before the start, reload and stop. What a daemon does with
 * a connection and its requests is connection.c.
 *
 * One libmicrohttpd daemon per listener, event-driven: epoll and a fixed
 * pool of http.threads threads (default: the online CPUs) serve all of the
 * listener's connections, so an idle keep-alive connection costs a socket,
 * a TLS session and its memory pool, never a thread. The daemon listens on
 * a socket we bind ourselves (so a bind error names its cause, and port 0
 * gives a free port we can report). At the start the soft limit of open
 * files is raised to the hard one, so that max_connections fit.
 *
 * Stopping: new connections are refused first (on_accept closes each
 * one the kernel completes), requests in flight get up to drain_ms to
 * finish (answers made meanwhile carry Connection: close), requests still
 * suspended are resumed and answer 503 (wait.c: libmicrohttpd must not
 * stop with a suspended connection), then the daemons stop and close the
 * listening sockets. Not MHD_quiesce_daemon: with epoll and a thread pool
 * it races the pool's threads for the listening socket's removal from
 * their epoll sets, and the loser aborts the process (libmicrohttpd
 * 0.9.75, Debian 12: "Failed to remove listen FD from epoll set", seen
 * once in e2e-serve under the sanitizers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/internal.h"

/* ---- the server ---- */

size_t http_headers_total_max(const struct limits_config *lim)
{
    return 2 * lim->max_header_bytes > HTTP_MAX_HEADERS_TOTAL ? 2 * lim->max_header_bytes
                                                              : HTTP_MAX_HEADERS_TOTAL;
}

/* The "http" section: threads per listener (0 or absent: the online
 * CPUs). */
static int read_http_section(const struct dupla_config *cfg, unsigned *threads, err_t *err)
{
    static const char *const keys[] = {"threads", NULL};
    json_t *sec = config_section(cfg, "http");
    int rc = config_only_keys(sec, "http", keys, err);
    long long n = 0;
    if (rc || (rc = config_get_int(sec, "http", "threads", 0, HTTP_THREADS_MAX, 0, &n, err)))
        return rc;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > HTTP_THREADS_MAX ? HTTP_THREADS_MAX : cpus;
    }
    *threads = (unsigned)n;
    return 0;
}

int http_server_new(const struct dupla_config *cfg, http_server_t **out, err_t *err)
{
    *out = NULL;
    if (cfg->n_listeners == 0)
        return err_set(err, DUPLA_EINVAL, "%s: no listeners configured", cfg->path);
    unsigned threads;
    int trc = read_http_section(cfg, &threads, err);
    if (trc)
        return trc;
    http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    srv->cfg = cfg;
    srv->threads = threads;
    srv->n_listeners = cfg->n_listeners;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        l->srv = srv;
        l->cfg = &cfg->listeners[i];
        l->index = i;
        l->fd = -1;
        pthread_mutex_init(&l->lock, NULL);
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        int rc = http_tls_priorities_check(&cfg->listeners[i], i, err);
        if (rc) {
            for (size_t k = 0; k < cfg->n_listeners; k++)
                pthread_mutex_destroy(&srv->listeners[k].lock);
            free(srv);
            return rc;
        }
    }
    pthread_mutex_init(&srv->drain_lock, NULL);
    pthread_mutex_init(&srv->wait_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->drain_cond, &ca);
    pthread_condattr_destroy(&ca);
    /* libmicrohttpd's per-connection memory pool holds the request line,
     * the header block, a record per header line and the answer's header
     * block and chunk buffer. 0.9.75 zeroes the whole pool after every
     * request (MHD_pool_reset), so each keep-alive connection that has
     * served one keeps all of it resident: the pool is sized from the
     * limits, for a request at every limit at once (and one header line
     * past the count), nothing more. A request past a limit reaches our
     * checks and gets our problem answer as long as it fits (a request
     * line or a header block of up to about the whole pool); only what does
     * not fit gets libmicrohttpd's own answer. The query's parameters take
     * no room: on_uri (connection.c) copies the target and ends the query
     * before libmicrohttpd would make a record of each parameter. */
    const struct limits_config *lim = &cfg->limits;
    srv->mhd_memory = HTTP_REQUEST_LINE_EXTRA + lim->max_url_bytes + http_headers_total_max(lim) +
                      (HTTP_MAX_HEADER_COUNT + 1) * HTTP_POOL_RECORD + HTTP_POOL_SLACK;
    if (srv->mhd_memory < HTTP_POOL_MIN)
        srv->mhd_memory = HTTP_POOL_MIN;
    *out = srv;
    return 0;
}

int http_route_add(http_server_t *srv, const struct http_route *route, err_t *err)
{
    if (srv->started)
        return err_set(err, DUPLA_ECONFLICT, "route %s: the server has started",
                       route && route->path ? route->path : "?");
    if (route && route->listener) {
        bool known = false;
        for (size_t i = 0; i < srv->n_listeners; i++)
            known |= strcmp(srv->listeners[i].cfg->name, route->listener) == 0;
        if (!known)
            return err_set(err, DUPLA_EINVAL, "route %s: no listener named \"%s\"", route->path,
                           route->listener);
    }
    return http_router_add(&srv->router, route, err);
}

int http_server_dedicate_listener(http_server_t *srv, const char *name, err_t *err)
{
    if (srv->started)
        return err_set(err, DUPLA_ECONFLICT, "listener %s: the server has started", name);
    bool known = false;
    for (size_t i = 0; i < srv->n_listeners; i++)
        known |= strcmp(srv->listeners[i].cfg->name, name) == 0;
    if (!known)
        return err_set(err, DUPLA_EINVAL, "no listener named \"%s\"", name);
    struct http_router *rt = &srv->router;
    if (http_router_dedicated(rt, name))
        return 0;
    if (rt->n_dedicated >= CONFIG_MAX_LISTENERS)
        return err_set(err, DUPLA_ELIMIT, "too many dedicated listeners");
    snprintf(rt->dedicated[rt->n_dedicated++], CONFIG_NAME_MAX, "%s", name);
    return 0;
}

void http_server_set_ready_check(http_server_t *srv, int (*fn)(void *ctx, err_t *err), void *ctx)
{
    srv->ready_fn = fn;
    srv->ready_ctx = ctx;
}

void http_server_set_not_found_page(http_server_t *srv, http_handler_fn fn, void *ctx)
{
    srv->not_found_fn = fn;
    srv->not_found_ctx = ctx;
}

static int listen_socket(struct http_listener *l, err_t *err)
{
    const struct listener_config *lc = l->cfg;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", lc->port);
    int rc = getaddrinfo(lc->address, port, &hints, &ai);
    if (rc != 0 || !ai)
        return err_param(err, DUPLA_EINVAL, "address",
                         "listener %s: address \"%s\" is not a numeric IP address (%s)", lc->name,
                         lc->address, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return err_set(err, DUPLA_EIO, "listener %s: socket: %s", lc->name, strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, HTTP_LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(ai);
        return err_set(err, DUPLA_EIO, "listener %s: cannot listen on %s port %u: %s", lc->name,
                       lc->address, lc->port, strerror(e));
    }
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        l->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                           : ((struct sockaddr_in *)&ss)->sin_port);
    l->fd = fd;
    return v6 ? 1 : 0;
}

/* Raises the soft limit of open files to the hard one: every connection
 * is a descriptor, and max_connections of them (plus the store's, the
 * log's and the listeners') must fit. Says so in the log when they cannot. */
static void raise_file_limit(const http_server_t *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)srv->cfg->limits.max_connections + HTTP_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        log_json(LOG_WARN, "open file limit below max_connections",
                 json_pack("{s:I, s:i, s:s}", "open_files", (json_int_t)rl.rlim_cur,
                           "max_connections", (int)srv->cfg->limits.max_connections, "hint",
                           "raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower "
                           "limits.max_connections"));
}

int http_server_start(http_server_t *srv, err_t *err)
{
    if (srv->started)
        return err_set(err, DUPLA_ECONFLICT, "the server has started already");
    raise_file_limit(srv);
    int rc = http_metrics_new(srv->router.n, &srv->metrics);
    if (rc)
        return err_set(err, rc, "out of memory");
    /* Routes that share a name share their metrics slot. */
    for (size_t i = 0; i < srv->router.n; i++) {
        struct http_route_entry *e = &srv->router.routes[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(srv->router.routes[j].route.name, e->route.name) == 0) {
                e->index = srv->router.routes[j].index;
                break;
            }
    }
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        if ((rc = http_creds_load(l->cfg, &l->creds, err)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        int fam = listen_socket(l, err);
        if (fam < 0) {
            rc = fam;
            goto fail;
        }
        if ((rc = http_listener_start(srv, l, fam == 1, err)) != 0)
            goto fail;
    }
    if ((rc = http_sweep_start(srv, err)) != 0)
        goto fail;
    srv->started = true;
    return 0;
fail:
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        if (l->daemon)
            MHD_stop_daemon(l->daemon);
        l->daemon = NULL;
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        if (l->creds)
            http_creds_put(l, l->creds);
        l->creds = NULL;
    }
    http_metrics_free(srv->metrics);
    srv->metrics = NULL;
    return rc;
}

unsigned http_server_port(const http_server_t *srv, const char *listener)
{
    for (size_t i = 0; i < srv->n_listeners; i++)
        if (strcmp(srv->listeners[i].cfg->name, listener) == 0)
            return srv->listeners[i].port;
    return 0;
}

int http_server_reload(http_server_t *srv, err_t *err)
{
    int failed = 0, reloaded = 0;
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        struct http_creds *fresh = NULL;
        err_t e;
        err_clear(&e);
        if (http_creds_load(l->cfg, &fresh, &e) != 0) {
            log_json(LOG_ERROR, "reload failed; the listener keeps its certificates",
                     json_pack("{s:s, s:s}", "listener", l->cfg->name, "error", e.log));
            if (!failed)
                *err = e;
            failed++;
            continue;
        }
        pthread_mutex_lock(&l->lock);
        struct http_creds *old = l->creds;
        l->creds = fresh;
        pthread_mutex_unlock(&l->lock);
        if (old)
            http_creds_put(l, old);
        reloaded++;
        log_json(LOG_INFO, "certificates reloaded",
                 json_pack("{s:s, s:s}", "listener", l->cfg->name, "server_cert_sha256",
                           fresh->server_sha256));
    }
    log_json(failed ? LOG_ERROR : LOG_INFO, "reload done",
             json_pack("{s:i, s:i}", "reloaded", reloaded, "failed", failed));
    return failed ? err->code : 0;
}

bool http_server_stopping(const http_server_t *srv)
{
    return atomic_load(&srv->stopping);
}

void http_server_stop(http_server_t *srv, unsigned drain_ms)
{
    if (!srv || !srv->started)
        return;
    atomic_store(&srv->stopping, true); /* on_accept refuses from now on */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += drain_ms / 1000;
    until.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->drain_lock);
    while (srv->in_flight > 0)
        if (pthread_cond_timedwait(&srv->drain_cond, &srv->drain_lock, &until) == ETIMEDOUT)
            break;
    unsigned left = srv->in_flight;
    pthread_mutex_unlock(&srv->drain_lock);
    if (left)
        log_json(LOG_WARN, "stopping with requests still in flight",
                 json_pack("{s:i, s:i}", "in_flight", (int)left, "drain_ms", (int)drain_ms));
    /* libmicrohttpd must not stop with suspended connections: those still
     * waiting are resumed and answer 503 (wait.c); they are waited for. */
    unsigned abandoned = http_waits_abandon(srv);
    if (abandoned) {
        log_json(LOG_WARN, "stopping: requests still waiting answer 503",
                 json_pack("{s:i}", "requests", (int)abandoned));
        struct timespec pause = {0, 10 * 1000000L};
        for (int i = 0; i < HTTP_ABANDON_MS / 10 && http_waits_pending(srv); i++)
            nanosleep(&pause, NULL);
        if (http_waits_pending(srv))
            log_json(LOG_ERROR, "stopping: resumed requests did not end",
                     json_pack("{s:i}", "waited_ms", HTTP_ABANDON_MS));
    }
    http_sweep_stop(srv);
    for (size_t i = 0; i < srv->n_listeners; i++) {
        MHD_stop_daemon(srv->listeners[i].daemon);
        srv->listeners[i].daemon = NULL;
    }
    srv->started = false;
}

void http_server_free(http_server_t *srv)
{
    if (!srv)
        return;
    if (srv->started)
        http_server_stop(srv, 0);
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct http_listener *l = &srv->listeners[i];
        if (l->fd >= 0)
            close(l->fd);
        if (l->creds)
            http_creds_put(l, l->creds);
        pthread_mutex_destroy(&l->lock);
    }
    http_router_free(&srv->router);
    http_metrics_free(srv->metrics);
    pthread_mutex_destroy(&srv->drain_lock);
    pthread_mutex_destroy(&srv->wait_lock);
    pthread_cond_destroy(&srv->drain_cond);
    free(srv);
}
