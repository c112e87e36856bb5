/*
 * connection.c: libmicrohttpd's callbacks of a listener's daemon: a
 * connection from accept to close, and the life cycle of a request on it.
 * server.c makes the daemons and stops them; http_listener_start here
 * starts one with these callbacks.
 *
 * A connection: the accept policy refuses it past the total connection
 * limit; at NOTIFY_STARTED, before the handshake, tls.c gives the session
 * the listener's current credentials and client-certificate policy.
 *
 * A request, in the order the server enforces things:
 *   1. the URI log callback (request line read) makes the request: arena,
 *      start time, the raw target;
 *   2. the first call of the access handler (headers read): request id,
 *      then the header block as a whole (white space in a name, ambiguous
 *      framing: Content-Length with Transfer-Encoding, two Content-Length,
 *      a coding other than chunked; no Host; a repeated single header: 400
 *      and the connection closed, so nothing after it is read as a
 *      request), the limits (URL 414, header line and header block 431,
 *      target syntax and query count 400, request time 408), the route
 *      (404, 405 with Allow), the route's client-certificate need (401), the
 *      declared body size (413);
 *   3. body calls: the body is kept up to the route's limit; past it (or
 *      after a refusal in 2) the rest is read and dropped;
 *   4. the last call, with the whole request in, runs the handler and
 *      queues its answer (or the problem made from its error), or queues
 *      the refusal of 2 or the 413 of 3. Answers wait for this call so the
 *      connection stays usable and a client still sending never meets a
 *      reset instead of its answer (see queue_answer);
 *   5. the completion callback logs one line, counts the metrics and frees
 *      the request.
 * Requests that libmicrohttpd answers itself skip 2-4: they get its
 * status with its own small HTML body (no problem, no X-Request-ID), and
 * are still logged and counted. That is what does not fit the connection's
 * memory pool (sized from the limits, see server.c: a request line or a
 * header block of about the whole pool) and HTTP it cannot parse at all (a
 * request line without a version). libmicrohttpd 0.9.75 has no hook for
 * those answers. The pool is sized so that every request within our
 * limits, and well past them, reaches our checks and gets a problem+json
 * answer. MHD_OPTION_STRICT_FOR_CLIENT is 0 so that
 * libmicrohttpd leaves the Host check (and its answer) to us, and passes
 * header names as sent, white space included, for us to refuse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/problem.h"
#include "core/encode.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/uuid.h"
#include "http/internal.h"

/* ---- connections ---- */

void http_creds_put(struct http_listener *l, struct http_creds *c)
{
    pthread_mutex_lock(&l->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&l->lock);
    if (last)
        http_creds_free(c);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)addr;
    (void)len;
    struct http_listener *l = cls;
    http_server_t *srv = l->srv;
    if (atomic_load(&srv->stopping))
        return MHD_NO;
    /* The daemons accept in parallel, so this may let n_listeners - 1
     * connections past the limit; each daemon also has the limit as its
     * own hard cap. */
    if (atomic_load(&srv->connections) >= srv->cfg->limits.max_connections) {
        /* At most one line a second, however many are refused. */
        atomic_fetch_add(&srv->refused, 1);
        int64_t now = clock_now_ms(), last = atomic_load(&srv->refused_logged_ms);
        if (now - last >= 1000 &&
            atomic_compare_exchange_strong(&srv->refused_logged_ms, &last, now))
            log_json(LOG_WARN, "connections refused: limit reached",
                     json_pack("{s:s, s:i, s:I}", "listener", l->cfg->name, "max_connections",
                               (int)srv->cfg->limits.max_connections, "refused_so_far",
                               (json_int_t)atomic_load(&srv->refused)));
        return MHD_NO;
    }
    return MHD_YES;
}

static void peer_text(struct MHD_Connection *c, char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, cap, "unknown");
}

/* GnuTLS's hook after a Finished message: the client's ends the
 * handshake, and with it the handshake deadline (sweep.c). The session's
 * database pointer carries the connection (no session cache uses it). */
static int handshake_finished(gnutls_session_t session, unsigned int htype, unsigned when,
                              unsigned int incoming, const gnutls_datum_t *msg)
{
    (void)htype;
    (void)when;
    (void)msg;
    struct http_conn *hc = gnutls_db_get_ptr(session);
    if (incoming && hc)
        atomic_store(&hc->handshaken, true);
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_listener *l = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct http_conn *hc = calloc(1, sizeof *hc);
        if (!hc)
            return; /* the session keeps the refusing credentials: no handshake */
        hc->listener = l;
        peer_text(c, hc->peer, sizeof hc->peer);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        pthread_mutex_lock(&l->lock);
        hc->creds = l->creds;
        hc->creds->refs++;
        pthread_mutex_unlock(&l->lock);
        err_t err;
        err_clear(&err);
        if (!ci || !ci->tls_session ||
            http_tls_session_setup(ci->tls_session, l->cfg, hc->creds, &err) != 0) {
            log_json(LOG_ERROR, "tls session set-up failed",
                     json_pack("{s:s, s:s}", "listener", l->cfg->name, "error",
                               ci ? err.log : "no TLS session"));
            http_creds_put(l, hc->creds);
            free(hc);
            return;
        }
        gnutls_db_set_ptr(ci->tls_session, hc);
        gnutls_handshake_set_hook_function(ci->tls_session, GNUTLS_HANDSHAKE_FINISHED,
                                           GNUTLS_HOOK_POST, handshake_finished);
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        hc->fd = fi ? fi->connect_fd : -1;
        /* The handshake's messages leave at once: GnuTLS sends the
         * server's flight a record at a time, and with Nagle's algorithm
         * the second waited for the client's delayed ACK (40 ms with
         * HAProxy's health checks), while libmicrohttpd's loop tried the
         * handshake again and again (sweep.c): a check cost its node 40-50
         * ms of a processor; with it, its connection lives 2.5-6 ms
         * (bench/cluster.sh shows the CPU). libmicrohttpd sets the option
         * as it likes for its answers afterwards. */
        if (hc->fd >= 0) {
            int one = 1;
            (void)setsockopt(hc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        atomic_store(&hc->header_since_ns, clock_mono_ns());
        http_sweep_add(l, hc);
        *socket_ctx = hc;
        atomic_fetch_add(&l->open_connections, 1);
        atomic_fetch_add(&l->srv->connections, 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct http_conn *hc = *socket_ctx;
        if (!hc)
            return;
        *socket_ctx = NULL;
        http_sweep_remove(l, hc);
        atomic_fetch_sub(&l->open_connections, 1);
        atomic_fetch_sub(&l->srv->connections, 1);
        http_creds_put(l, hc->creds);
        free(hc);
    }
}

const struct http_client_cert *http_conn_client_cert(http_request_t *req)
{
    struct http_conn *hc = req->conn;
    if (!hc || hc->listener->cfg->client_cert == CLIENT_CERT_NONE)
        return NULL;
    if (!hc->cert_checked) {
        const union MHD_ConnectionInfo *ci =
            req->mhd ? MHD_get_connection_info(req->mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
        if (ci && ci->tls_session)
            http_tls_client_cert(ci->tls_session, &hc->cert);
        else
            snprintf(hc->cert.reason, sizeof hc->cert.reason, "no TLS session");
        hc->cert_checked = true;
    }
    return &hc->cert;
}

/* ---- requests ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct http_listener *l = cls;
    http_server_t *srv = l->srv;
    http_request_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->arena = arena_new(HTTP_ARENA_MAX);
    if (!req->arena) {
        free(req);
        return NULL;
    }
    req->srv = srv;
    req->listener = l;
    req->mhd = c;
    req->start_ns = clock_mono_ns();
    /* uri lies in libmicrohttpd's connection pool, so its length is bounded
     * by the pool's size. */
    str_t raw = str_from_bounded(uri ? uri : "", srv->mhd_memory);
    char *copy = arena_strdup(req->arena, raw);
    req->raw_target = copy ? (str_t){copy, raw.len} : STR("");
    /* libmicrohttpd would now split the query into a record per parameter
     * in the connection's pool (64 bytes each: 1,000 of them, a bulk call,
     * are 64 KiB that every idle connection would then keep, see server.c).
     * We parse the copy ourselves (params.c) and never read its records,
     * so the query is ended right after its '?' in libmicrohttpd's own
     * request buffer (writable: it writes its terminators into it); the path
     * it then unescapes and passes on is unchanged. Only once the copy is
     * made: without it the target is empty and the request refused. */
    char *query = copy ? strchr((char *)uri, '?') : NULL;
    if (query)
        query[1] = '\0';
    if (uuid_v4(req->id) != 0)
        snprintf(req->id, sizeof req->id, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    req->conn = ci ? ci->socket_context : NULL;
    pthread_mutex_lock(&srv->drain_lock);
    srv->in_flight++;
    pthread_mutex_unlock(&srv->drain_lock);
    return req;
}

/* Headers that may occur only once: a second one is refused, because
 * components that read the first and components (or proxies) that read the
 * last would disagree about who is calling, under which agreement, or where
 * the request ends. Content-Length and Transfer-Encoding are the framing
 * ones (request-framing); the others are duplicate-header. */
static const char *const single_headers[] = {
    MHD_HTTP_HEADER_CONTENT_LENGTH,
    MHD_HTTP_HEADER_TRANSFER_ENCODING,
    MHD_HTTP_HEADER_HOST,
    MHD_HTTP_HEADER_AUTHORIZATION,
    "UFST-Adgangsgrundlag",
    "X-Request-ID",
    "X-Transaktions-ID",
    MHD_HTTP_HEADER_CONTENT_TYPE,
    MHD_HTTP_HEADER_ORIGIN,
    "Sec-Fetch-Site",
    "X-CSRF-Token",
};
#define N_SINGLE_HEADERS (sizeof single_headers / sizeof single_headers[0])

/* What request_begin learns from one pass over the header lines. */
struct header_scan {
    size_t longest; /* the longest line, name: value */
    size_t total;   /* every line together */
    unsigned count;
    unsigned seen[N_SINGLE_HEADERS];
    bool bad_name; /* white space or a control byte in a name */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)value;
    struct header_scan *hs = cls;
    size_t line = key_size + 2 + value_size;
    if (line > hs->longest)
        hs->longest = line;
    hs->total += line + 2;
    hs->count++;
    for (size_t i = 0; i < key_size; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] == 0x7f)
            hs->bad_name = true;
    str_t k = {key, key_size};
    for (size_t i = 0; i < N_SINGLE_HEADERS; i++)
        if (str_eq_nocase(k, str_from_cstr(single_headers[i])))
            hs->seen[i]++;
    return MHD_YES;
}

static enum MHD_Result queue_answer(http_request_t *req)
{
    /* An answer waits until the whole request is in (the access handler's
     * last call). Queued earlier, libmicrohttpd 0.9.75 stops reading and
     * closes the connection after the answer: that costs the client its
     * keep-alive connection (a TLS handshake), and a client still sending a
     * body may then see a reset instead of the answer. Only an answer that
     * must not wait for the body (answer_now) goes at once. */
    if (!req->complete && !req->answer_now)
        return MHD_YES;
    if (!req->response)
        return MHD_NO;
    http_response_finish(req);
    enum MHD_Result q = MHD_queue_response(req->mhd, req->status, req->response);
    MHD_destroy_response(req->response);
    req->response = NULL;
    req->queued = q == MHD_YES;
    req->phase = REQ_DONE;
    return q;
}

/* Answers with a problem made here, and queues it. */
static enum MHD_Result refuse(http_request_t *req, unsigned status, const char *type,
                              const char *param, const char *detail)
{
    if (http_reply_error(req, status, type, param, "%s", detail) != 0)
        return MHD_NO;
    return queue_answer(req);
}

static enum MHD_Result refuse_err(http_request_t *req, const err_t *err)
{
    if (http_reply_problem(req, err) != 0)
        return MHD_NO;
    return queue_answer(req);
}

static bool request_too_slow(const http_request_t *req)
{
    int64_t limit_ns = (int64_t)req->srv->cfg->limits.request_seconds * 1000000000LL;
    return clock_mono_ns() - req->start_ns > limit_ns;
}

/* A browser asking for a page: GET or HEAD accepting text/html. */
static bool wants_html(const http_request_t *req)
{
    str_t accept;
    if (!(req->method & (HTTP_GET | HTTP_HEAD)) || !http_req_header(req, "Accept", &accept))
        return false;
    for (size_t i = 0; i + 9 <= accept.len; i++)
        if (str_eq_nocase(str_sub(accept, i, 9), STR("text/html")))
            return true;
    return false;
}

/* Queues what a handler (or its continuation) left: its answer, or the
 * problem made from its error. */
static enum MHD_Result handler_done(http_request_t *req, int rc, err_t *err_in)
{
    err_t err = *err_in;
    const struct http_route *r = &req->route->route;
    if (rc == HTTP_SUSPENDED) { /* only a handler with a wait may return it */
        err_internal(&err, DUPLA_EINTERNAL, "handler %s suspended without a wait", r->name);
        rc = DUPLA_EINTERNAL;
    }
    if (rc < 0 && !req->answered) {
        if (err.code == 0)
            err_internal(&err, DUPLA_EINTERNAL, "handler %s failed without an error", r->name);
        if (http_reply_problem(req, &err) != 0)
            return MHD_NO;
    } else if (rc < 0) {
        log_json(LOG_WARN, "handler answered, then failed",
                 json_pack("{s:s, s:s, s:s}", "request_id", req->id, "route", r->name, "error",
                           err.log));
    } else if (!req->answered) {
        err_internal(&err, DUPLA_EINTERNAL, "handler %s returned without answering", r->name);
        if (http_reply_problem(req, &err) != 0)
            return MHD_NO;
    }
    return queue_answer(req);
}

/* After a handler or a continuation: suspends the request when it handed
 * out a wait (wait.c), else queues what it left. */
static enum MHD_Result settle(http_request_t *req, int rc, err_t *err)
{
    while (rc == HTTP_SUSPENDED && http_wait_armed(req)) {
        if (http_wait_suspend(req)) {
            req->phase = REQ_WAIT; /* resumed by the wake: on_request runs the rest */
            return MHD_YES;
        }
        rc = http_wait_continue(req, err); /* the wake came first */
    }
    if (http_wait_armed(req))
        http_wait_not_handed(req);
    return handler_done(req, rc, err);
}

static enum MHD_Result run_handler(http_request_t *req)
{
    err_t err;
    err_clear(&err);
    const struct http_route *r = &req->route->route;
    int rc = r->query ? http_query_check(req, r->query, &err) : 0;
    if (rc == 0)
        rc = r->handler(req, r->ctx, &err);
    return settle(req, rc, &err);
}

/* A refusal after which the connection is closed: the request's framing
 * or headers cannot be trusted, so nothing after it on the connection may
 * be read as a request (RFC 9112 6.3, 11.2). Answered at once: the body,
 * if any, is not read. */
static enum MHD_Result refuse_and_close(http_request_t *req, unsigned status, const char *type,
                                        const char *param, const char *detail)
{
    req->answer_now = true;
    http_reply_header(req, MHD_HTTP_HEADER_CONNECTION, "close");
    return refuse(req, status, type, param, detail);
}

/* The checks of the header block as a whole (before the limits and the
 * route, so that no route can be reached with them): white space in a
 * header name, ambiguous framing, a missing Host, a repeated single
 * header (Host is required of HTTP/1.1 only). true when the request was
 * refused (*out is the result). */
static bool refuse_malformed(http_request_t *req, const struct header_scan *hs, bool http11,
                             bool has_te, str_t te, enum MHD_Result *out)
{
    char d[200];
    if (hs->bad_name) {
        *out = refuse_and_close(req, 400, PROBLEM_MALFORMED_HEADER, NULL,
                                "A header name holds white space or a control character (no "
                                "white space is allowed before the colon).");
        return true;
    }
    /* [0] Content-Length, [1] Transfer-Encoding, [2] Host: see single_headers. */
    if (has_te && (hs->seen[0] > 0 || hs->seen[1] > 1 || !str_eq_nocase(te, STR("chunked")))) {
        *out = refuse_and_close(req, 400, PROBLEM_REQUEST_FRAMING, "Transfer-Encoding",
                                "Transfer-Encoding must be \"chunked\" alone, once, and "
                                "without Content-Length.");
        return true;
    }
    if (hs->seen[0] > 1) {
        *out = refuse_and_close(req, 400, PROBLEM_REQUEST_FRAMING, "Content-Length",
                                "Content-Length may occur only once.");
        return true;
    }
    if (hs->seen[2] == 0 && http11) {
        *out = refuse_and_close(req, 400, PROBLEM_INVALID_REQUEST, "Host",
                                "The request has no Host header (RFC 9112 3.2).");
        return true;
    }
    for (size_t i = 2; i < N_SINGLE_HEADERS; i++) {
        if (hs->seen[i] > 1) {
            snprintf(d, sizeof d, "The header %s may occur only once.", single_headers[i]);
            *out = refuse_and_close(req, 400, PROBLEM_DUPLICATE_HEADER, single_headers[i], d);
            return true;
        }
    }
    return false;
}

/* A state-changing call of the JSON API (POST, PUT, PATCH, DELETE under
 * HTTP_JSON_API_PREFIX) must come from this site or from a client that is
 * no browser, and carry JSON: a cross-site form (text/plain, urlencoded,
 * multipart) can be sent by any page without the browser asking, a JSON
 * body only by a same-origin script. So: a body (or a Content-Type) must
 * be application/json (415); Origin, when sent, must be this server's own
 * ("https://" + Host), and Sec-Fetch-Site, when sent, "same-origin" or
 * "none" (403 csrf). Clients that are no browser send neither header and
 * pass; browsers send Origin on every such request. true when refused. */
static bool refuse_cross_site(http_request_t *req, enum MHD_Result *out)
{
    if (!(req->method & (HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE)))
        return false;
    str_t prefix = STR(HTTP_JSON_API_PREFIX);
    if (req->path.len < prefix.len || !str_eq(str_sub(req->path, 0, prefix.len), prefix))
        return false;
    str_t v, host;
    if (http_req_header(req, "Origin", &v)) {
        bool same = http_req_header(req, "Host", &host) && v.len == 8 + host.len &&
                    str_eq(str_sub(v, 0, 8), STR("https://")) &&
                    str_eq_nocase(str_sub(v, 8, host.len), host);
        if (!same) {
            *out = refuse(req, 403, PROBLEM_CSRF, "Origin",
                          "This call changes state and came from another site (Origin).");
            return true;
        }
    }
    if (http_req_header(req, "Sec-Fetch-Site", &v) && !str_eq_nocase(v, STR("same-origin")) &&
        !str_eq_nocase(v, STR("none"))) {
        *out = refuse(req, 403, PROBLEM_CSRF, "Sec-Fetch-Site",
                      "This call changes state and came from another site (Sec-Fetch-Site).");
        return true;
    }
    bool has_ct = http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE, &v);
    if (has_ct || req->has_body) {
        str_t type = v, params;
        if (has_ct && str_split(v, ';', &type, &params))
            (void)params;
        if (!has_ct || !str_eq_nocase(str_trim(type), STR("application/json"))) {
            *out = refuse(req, 415, PROBLEM_UNSUPPORTED_MEDIA, "Content-Type",
                          "This call takes a JSON body: Content-Type must be application/json.");
            return true;
        }
    }
    return false;
}

/* The first call, once the headers are in. */
static enum MHD_Result request_begin(http_request_t *req, const char *method, const char *version)
{
    http_server_t *srv = req->srv;
    const struct limits_config *lim = &srv->cfg->limits;
    struct MHD_Connection *c = req->mhd;
    req->method_name = method;
    req->method = http_method_parse(method);

    str_t rid;
    if (http_req_header(req, "X-Request-ID", &rid) && http_request_id_valid(rid))
        str_copy(rid, req->id, sizeof req->id);
    /* The fault test build only (core/fault.h): a fault for this request. */
    str_t fault;
    if (DUPLA_FAULT_INJECTION && http_req_header(req, "X-Dupla-Fault", &fault))
        fault_arm(fault, req);
    struct header_scan hs = {0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &hs);
    /* Whether a body follows decides when an answer can be queued. */
    str_t te, cl;
    int64_t declared = 0;
    bool has_te = http_req_header(req, "Transfer-Encoding", &te);
    bool has_cl = http_req_header(req, "Content-Length", &cl);
    bool bad_cl = has_cl && (str_to_int64(cl, &declared) != 0 || declared < 0);
    req->has_body = has_te || bad_cl || declared > 0;
    /* A refusal waits for the body to be read (and dropped) when that is
     * cheap, so that the client reliably sees it (see queue_answer); a
     * client waiting for "100 Continue", or announcing a body past
     * HTTP_BODY_DISCARD_MAX, is answered at once instead. */
    str_t expect;
    req->answer_now = req->has_body && (http_req_header(req, "Expect", &expect) || bad_cl ||
                                        (uint64_t)declared > HTTP_BODY_DISCARD_MAX);

    enum MHD_Result refused;
    bool http11 = !version || strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
    if (refuse_malformed(req, &hs, http11, has_te, te, &refused))
        return refused;
    if (req->raw_target.len > lim->max_url_bytes) {
        char d[160];
        snprintf(d, sizeof d, "The request target is longer than %zu bytes (max_url_bytes).",
                 lim->max_url_bytes);
        return refuse_and_close(req, 414, PROBLEM_URI_TOO_LONG, NULL, d);
    }
    if (hs.longest > lim->max_header_bytes) {
        char d[160];
        snprintf(d, sizeof d, "A header line is longer than %zu bytes (max_header_bytes).",
                 lim->max_header_bytes);
        return refuse(req, 431, PROBLEM_HEADER_TOO_LARGE, NULL, d);
    }
    size_t total_max = http_headers_total_max(lim);
    if (hs.total > total_max || hs.count > HTTP_MAX_HEADER_COUNT) {
        char d[200];
        snprintf(d, sizeof d,
                 "The request has more than %u header lines or more than %zu bytes of them.",
                 HTTP_MAX_HEADER_COUNT, total_max);
        return refuse_and_close(req, 431, PROBLEM_HEADER_TOO_LARGE, NULL, d);
    }
    /* On listeners that take client certificates, every request's log line
     * names the certificate's fingerprint (examined once per connection). */
    http_conn_client_cert(req);
    http_request_parse_target(req, lim);
    if (req->target_bad) {
        if (req->target_err.code == DUPLA_ENOMEM)
            return refuse(req, 500, PROBLEM_INTERNAL_ERROR, NULL, "The request could not be read.");
        return refuse_err(req, &req->target_err);
    }
    if (request_too_slow(req)) {
        http_reply_header(req, MHD_HTTP_HEADER_CONNECTION, "close"); /* a slow client goes */
        return refuse(req, 408, PROBLEM_REQUEST_TIMEOUT, NULL,
                      "The request took longer to arrive than the server allows.");
    }

    unsigned allowed = 0;
    const struct http_route_entry *e = NULL;
    enum http_match m = http_router_match(&srv->router, req->listener->cfg->name, req->path,
                                          req->method, &e, &allowed);
    if (m == HTTP_MATCH_NO_PATH) {
        if (srv->not_found_fn && wants_html(req) && !req->has_body &&
            !http_router_dedicated(&srv->router, req->listener->cfg->name)) {
            err_t nerr;
            err_clear(&nerr);
            if (srv->not_found_fn(req, srv->not_found_ctx, &nerr) == 0 && req->response)
                return queue_answer(req);
        }
        return refuse(req, 404, PROBLEM_NOT_FOUND, NULL, "There is no resource at this path.");
    }
    if (m == HTTP_MATCH_NO_METHOD) {
        char allow[64];
        http_methods_format(allowed, allow, sizeof allow);
        http_reply_header(req, "Allow", allow);
        char d[160];
        snprintf(d, sizeof d, "This resource does not answer this method; it answers %s.", allow);
        return refuse(req, 405, PROBLEM_METHOD_NOT_ALLOWED, NULL, d);
    }
    req->route = e;
    if (refuse_cross_site(req, &refused))
        return refused;

    if (e->route.flags & HTTP_ROUTE_CLIENT_CERT) {
        const struct http_client_cert *cert = http_conn_client_cert(req);
        if (!cert || !cert->present)
            return refuse(req, 401, PROBLEM_CLIENT_CERT_REQUIRED, NULL,
                          "This resource needs a client certificate, and none was presented.");
        if (!cert->verified) {
            char d[256];
            snprintf(d, sizeof d,
                     "This resource needs a client certificate the platform trusts; the one "
                     "presented was refused: %s.",
                     cert->reason);
            return refuse(req, 401, PROBLEM_CLIENT_CERT_REQUIRED, NULL, d);
        }
    }

    size_t body_max =
        e->route.max_body < lim->max_body_bytes ? e->route.max_body : lim->max_body_bytes;
    if (bad_cl)
        return refuse(req, 400, PROBLEM_INVALID_REQUEST, NULL, "Content-Length is not a number.");
    req->body_max = body_max;
    if ((has_cl && (uint64_t)declared > body_max) || (has_te && body_max == 0)) {
        char d[160];
        snprintf(d, sizeof d, "The request body is larger than this resource takes (%zu bytes).",
                 body_max);
        return refuse(req, 413, PROBLEM_BODY_TOO_LARGE, NULL, d);
    }
    if (req->has_body)
        buf_init(&req->body, body_max);
    return MHD_YES; /* the body follows, or the handler runs on the next call */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    http_request_t *req = *con_cls;
    if (!req)
        return MHD_NO; /* out of memory when the request line came */
    req->mhd = c;
    switch (req->phase) {
    case REQ_NEW:
        req->phase = REQ_BODY;
        if (req->conn) /* the header is in: no longer the sweeper's (sweep.c) */
            atomic_store(&req->conn->header_since_ns, 0);
        return request_begin(req, method, version);
    case REQ_BODY:
        if (*upload_data_size > 0) {
            if (request_too_slow(req))
                return MHD_NO; /* too late for an answer: the client is still sending */
            /* Kept while it fits the route; dropped when the request was
             * refused or the body outgrew the limit. */
            int brc;
            if (!req->answered && !req->body_too_large && !req->body_no_memory &&
                (brc = buf_append(&req->body, upload_data, *upload_data_size)) != 0) {
                req->body_no_memory = brc == DUPLA_ENOMEM;
                req->body_too_large = !req->body_no_memory;
                buf_free(&req->body);
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        req->complete = true;
        if (req->answered)
            return queue_answer(req); /* refused before the body */
        if (req->body_too_large) {
            char d[160];
            snprintf(d, sizeof d,
                     "The request body is larger than this resource takes (%zu bytes).",
                     req->body_max);
            return refuse(req, 413, PROBLEM_BODY_TOO_LARGE, NULL, d);
        }
        if (req->body_no_memory)
            return refuse(req, 500, PROBLEM_INTERNAL_ERROR, NULL, "The request could not be read.");
        return req->route ? run_handler(req) : MHD_NO;
    case REQ_WAIT: {
        err_t err;
        err_clear(&err);
        req->phase = REQ_DONE; /* never the handler again, unless it waits again */
        int rc = http_wait_continue(req, &err);
        return settle(req, rc, &err);
    }
    case REQ_DONE:
        *upload_data_size = 0; /* an answer is queued; drop what still comes */
        return MHD_YES;
    }
    return MHD_NO;
}

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client went away";
    default:
        return "other";
    }
}

/* Width of a digit at p (a digit, or its escape %3X), or 0. */
static size_t digit_at(const char *p, size_t left)
{
    if (left >= 1 && p[0] >= '0' && p[0] <= '9')
        return 1;
    if (left >= 3 && p[0] == '%' && p[1] == '3' && p[2] >= '0' && p[2] <= '9')
        return 3;
    return 0;
}

/* Copies in to out (at least in.len + 1 bytes) with every digit of each run
 * of HTTP_LOG_DIGITS_MAX + 1 or more digits (a '-' may join them:
 * "010160-1234") written as 'X': personal numbers (CPR 10 digits, CVR and
 * SE 8) never reach the log, while short numbers (versions, pages) stay
 * readable. */
static size_t redact_digits(str_t in, char *out)
{
    size_t n = 0, i = 0;
    while (i < in.len) {
        size_t w = digit_at(in.ptr + i, in.len - i);
        if (!w) {
            out[n++] = in.ptr[i++];
            continue;
        }
        /* Measure the run: digits, single '-' between digits. */
        size_t j = i, digits = 0;
        for (;;) {
            size_t d = digit_at(in.ptr + j, in.len - j);
            if (d) {
                j += d;
                digits++;
            } else if (j + 1 < in.len && in.ptr[j] == '-' &&
                       digit_at(in.ptr + j + 1, in.len - j - 1)) {
                j++;
            } else {
                break;
            }
        }
        bool hide = digits > HTTP_LOG_DIGITS_MAX;
        while (i < j) {
            size_t d = digit_at(in.ptr + i, j - i);
            if (d && hide) {
                out[n++] = 'X';
                i += d;
            } else {
                out[n++] = in.ptr[i++];
            }
        }
    }
    out[n] = '\0';
    return n;
}

/* The path for the log: the decoded path, else the raw (percent-encoded)
 * one with every byte outside printable ASCII escaped; never the query.
 * Unless an exact route matched (whose path is its own), long digit runs
 * are masked (redact_digits): an unmatched or prefix path is the client's
 * text and may hold a personal number. */
static json_t *log_path(const http_request_t *req)
{
    char out[512];
    str_t text;
    if (req->path_ok) {
        text = req->path;
    } else {
        size_t n = 0;
        str_t raw = req->raw_path.ptr ? req->raw_path : req->raw_target;
        str_t head, tail;
        if (!req->raw_path.ptr && str_split(raw, '?', &head, &tail))
            raw = head;
        for (size_t i = 0; i < raw.len && n + 4 < sizeof out; i++) {
            unsigned char c = (unsigned char)raw.ptr[i];
            if (c < 0x20 || c >= 0x7f) {
                pct_encode_byte(c, out + n);
                n += 3;
            } else {
                out[n++] = (char)c;
            }
        }
        out[n] = '\0';
        text = (str_t){out, n};
    }
    bool own = req->route && !(req->route->route.flags & HTTP_ROUTE_PREFIX);
    if (own)
        return json_stringn(text.ptr, text.len);
    char *masked = malloc(text.len + 1);
    if (!masked)
        return json_string("?");
    size_t n = redact_digits(text, masked);
    json_t *p = json_stringn(masked, n);
    free(masked);
    return p ? p : json_string("?");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_listener *l = cls;
    http_request_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    http_server_t *srv = l->srv;
    if (req->conn) /* the next request's header is awaited from now */
        atomic_store(&req->conn->header_since_ns, clock_mono_ns());
    unsigned status = req->queued ? req->status : 0;
    if (!status) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci)
            status = ci->http_status;
    }
    int64_t ns = clock_mono_ns() - req->start_ns;
    size_t slot = req->route ? req->route->index : srv->router.n;
    http_metrics_observe(srv->metrics, slot, status, ns);
    if (req->refusal && req->queued)
        http_metrics_refused(srv, slot, req->refusal);

    /* No method name when libmicrohttpd refused the request before us;
     * names we do not know are not logged as sent. */
    const char *method = req->method_name ? http_method_name(req->method) : "UNKNOWN";
    json_t *f = json_object();
    json_object_set_new(f, "method", json_string(method ? method : "OTHER"));
    json_object_set_new(f, "path", log_path(req));
    json_object_set_new(f, "status", json_integer(status));
    json_object_set_new(f, "bytes",
                        json_integer(req->method == HTTP_HEAD ? 0 : (json_int_t)req->bytes));
    json_object_set_new(f, "duration_ms", json_real((double)(ns / 1000) / 1000.0));
    json_object_set_new(f, "request_id", json_string(req->id));
    json_object_set_new(f, "listener", json_string(l->cfg->name));
    if (req->route)
        json_object_set_new(f, "route", json_string(req->route->route.name));
    if (req->conn && req->conn->cert_checked && req->conn->cert.present)
        json_object_set_new(f, "client_cert_sha256", json_string(req->conn->cert.info.sha256_hex));
    const char *why = termination_name(toe);
    if (why)
        json_object_set_new(f, "terminated", json_string(why));
    log_json(LOG_INFO, "request", f);
    fault_disarm(req); /* the fault test build: this request's fault, if any */

    bool keep_arena;
    http_wait_end(req, &keep_arena); /* a waker may still hold the arena */
    if (req->response)
        MHD_destroy_response(req->response);
    buf_free(&req->body);
    if (!keep_arena)
        arena_free(req->arena);
    free(req);
    pthread_mutex_lock(&srv->drain_lock);
    srv->in_flight--;
    pthread_cond_broadcast(&srv->drain_cond);
    pthread_mutex_unlock(&srv->drain_lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_listener *l = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    json_t *detail = json_string(msg);
    json_t *f = json_pack("{s:s}", "listener", l->cfg->name);
    if (f && detail)
        json_object_set_new(f, "detail", detail);
    else
        json_decref(detail);
    log_json(LOG_INFO, "http library", f);
}

int http_listener_start(http_server_t *srv, struct http_listener *l, bool v6, err_t *err)
{
    const struct limits_config *lim = &srv->cfg->limits;
    /* libmicrohttpd shares its connection limit out among the pool's
     * threads and stops accepting in a thread at its share, so a connection
     * past the limit could wait unaccepted. Each thread gets the whole
     * limit instead; on_accept refuses past it (and closes the connection). */
    unsigned long long mhd_limit = (unsigned long long)lim->max_connections * srv->threads;
    if (mhd_limit > UINT_MAX)
        mhd_limit = UINT_MAX;
    /* epoll and a pool of srv->threads threads: each thread serves its share
     * of the connections; none waits on one connection (server.c). */
    unsigned flags = MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    l->daemon = MHD_start_daemon(
        flags, 0, on_accept, l, on_request, l, MHD_OPTION_THREAD_POOL_SIZE, srv->threads,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
        MHD_OPTION_HTTPS_CERT_CALLBACK, http_tls_refuse_cert, MHD_OPTION_HTTPS_PRIORITIES,
        http_tls_priorities(l->cfg), MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, l, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)lim->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)lim->idle_seconds, MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->mhd_memory,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)0, MHD_OPTION_END);
    if (!l->daemon)
        return err_set(err, DUPLA_EIO, "listener %s: the HTTPS daemon did not start (see log)",
                       l->cfg->name);
    l->fd = -1; /* the daemon's now */
    return 0;
}
