/*
 * internal.h: what the files of src/http/ share, and nothing more.
 *
 * Only the .c files of src/http and the unit tests include this header; modules see
 * http.h. The prototypes are grouped by the file that defines them:
 *   server.c   the listeners' sockets and daemons, start, stop and reload
 *   connection.c  the daemons' callbacks: connections, the request life cycle
 *   tls.c      credentials (certificate, key, trust store, CRL) and the
 *              client-certificate check of a connection
 *   router.c   the routing table and method names
 *   request.c  parsing the request target (path and query), request ids,
 *              the accessors of http.h
 *   reply.c    responses: buffers, streams, problems
 *   metrics.c  counters and the latency histogram, Prometheus text
 *   builtin.c  /health/live, /health/ready, /metrics, /whoami
 *   sweep.c    the header deadline: slow clients' connections shut down
 */
#ifndef DUPLA_HTTP_INTERNAL_H
#define DUPLA_HTTP_INTERNAL_H

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "http/http.h"

/* TLS 1.2 and 1.3 only; AEAD ciphers with forward secrecy only; the server
 * chooses the cipher from this order, not the client (tests/tls/check_tls.py
 * holds both listeners to this with testssl.sh). */
#define HTTP_TLS_PRIORITIES                                                                        \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/* The listener's priorities: its tls_priorities, or HTTP_TLS_PRIORITIES. */
const char *http_tls_priorities(const struct listener_config *lc);
/* Refuses (DUPLA_EINVAL naming listeners[idx].tls_priorities and where
 * GnuTLS stopped reading) a priority string GnuTLS does not accept. */
int http_tls_priorities_check(const struct listener_config *lc, size_t idx, err_t *err);

#define HTTP_MAX_ROUTES     256
#define HTTP_PATH_MAX_ROUTE 256 /* bytes of a registered path */
#define HTTP_REQUEST_ID_MAX 128 /* a client's X-Request-ID longer than this is replaced */
/* A run of more digits than this in a logged path is masked (a CPR number
 * has 10, CVR and SE numbers 8): see connection.c, log_path. */
#define HTTP_LOG_DIGITS_MAX 5
#define HTTP_ARENA_MAX      (16u * 1024 * 1024) /* per-request arena */
#define HTTP_STREAM_PIECE   (256u * 1024)       /* at most this much per stream callback */
#define HTTP_LISTEN_BACKLOG 1024
/* The most threads per listener (http.threads). */
#define HTTP_THREADS_MAX 256
/* Descriptors kept beside max_connections (store, log, listeners, files):
 * fewer open files than both together is warned of at the start. */
#define HTTP_FD_RESERVE      256
#define HTTP_PEM_MAX         (1024u * 1024) /* certificate, key, trust or CRL file */
#define HTTP_METRIC_STATUSES 24             /* distinct statuses counted per route */
/* All header lines of a request together (or twice max_header_bytes, if
 * more), and their number: past either, a 431 problem (connection.c). */
#define HTTP_MAX_HEADERS_TOTAL (16u * 1024)
#define HTTP_MAX_HEADER_COUNT  100u
/* The least memory pool of a connection (see server.c, http_server_new):
 * a request line of about 100 KiB, or a thousand header lines, far past
 * every limit, still reaches our checks and gets a problem+json answer
 * (#18 found libmicrohttpd's own HTML answer there); only larger ones get
 * libmicrohttpd's own (its status, a small HTML body). It is also the
 * most of an idle keep-alive connection's memory (#19): 128 KiB is the
 * balance between the two. */
#define HTTP_POOL_MIN (128u * 1024)
/* The request line beyond its target: method, spaces, version, CRLF. */
#define HTTP_REQUEST_LINE_EXTRA 64u
/* libmicrohttpd's connection pool beyond request line and headers: the
 * answer's header block and the chunk buffer of a streamed answer (see
 * server.c, http_server_new). */
#define HTTP_POOL_SLACK (12u * 1024)
/* What libmicrohttpd 0.9.75 takes from the pool per header record
 * (struct MHD_HTTP_Header, aligned). */
#define HTTP_POOL_RECORD 64u
/* A body declared larger than its route takes is still read (and dropped)
 * up to this size, so that the client reliably sees the 413 (connection.c). */
#define HTTP_BODY_DISCARD_MAX (8u * 1024 * 1024)

/* The JSON API's paths: its state-changing calls are checked against
 * cross-site requests (connection.c, refuse_cross_site). */
#define HTTP_JSON_API_PREFIX "/api/"

/* The problem type URIs: HTTP_PROBLEM_TYPE_BASE + slug. ".invalid" (RFC
 * 2606) says that no page is promised at that address; the slug is what a
 * client keys on. */
#define HTTP_PROBLEM_TYPE_BASE "https://dupla.invalid/problems/"

/* The Content-Security-Policy of an HTML answer whose handler set none
 * (the catalogue, the operations log, generated documents): inline style
 * only, nothing else loads, no framing, no forms. The pages set their own
 * (src/web/layout.c). */
#define HTTP_HTML_CSP                                                                              \
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "             \
    "form-action 'none'; frame-ancestors 'none'"

/* ---- tls.c ---- */

/* One listener's TLS material. refs counts the connections using it plus
 * one while it is the listener's current set (guarded by the listener's
 * lock); the last to let go frees it. */
struct http_creds {
    gnutls_certificate_credentials_t cred;
    unsigned refs;
    char server_sha256[PKI_SHA256_HEX]; /* of the server certificate, for the log */
};

/* Reads lc's certificate chain, key, trust store and CRL into a new set.
 * The caller owns *out (http_creds_free). */
int http_creds_load(const struct listener_config *lc, struct http_creds **out, err_t *err);
void http_creds_free(struct http_creds *c);
/* Sets the session up for lc's policy with creds (which must outlive it). */
int http_tls_session_setup(gnutls_session_t s, const struct listener_config *lc,
                           struct http_creds *creds, err_t *err);
/* Fills *out from the session's peer certificate (present, verified, reason,
 * info). */
void http_tls_client_cert(gnutls_session_t s, struct http_client_cert *out);
/* The reason a gnutls verification status gives ("expired", ...), "" if 0. */
const char *http_tls_reason(unsigned status);
/* The certificate callback handed to libmicrohttpd: refuses every
 * handshake. Sessions get their real credentials in http_tls_session_setup;
 * one that did not (a failed set-up) cannot complete a handshake. */
int http_tls_refuse_cert(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int n_dn,
                         const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
                         unsigned *n_pcert, gnutls_privkey_t *key);

/* ---- router.c ---- */

struct http_route_entry {
    struct http_route route; /* path, listener and name point into owned copies */
    size_t path_len;
    size_t index; /* the metrics slot: shared by routes of the same name */
};

struct http_router {
    struct http_route_entry *routes;
    size_t n;
    /* The dedicated listeners' names (http_server_dedicate_listener). */
    char dedicated[CONFIG_MAX_LISTENERS][CONFIG_NAME_MAX];
    size_t n_dedicated;
};

enum http_match {
    HTTP_MATCH_OK = 0,
    HTTP_MATCH_NO_PATH = 1,   /* 404 */
    HTTP_MATCH_NO_METHOD = 2, /* 405; *allowed holds the methods */
};

/* Adds a copy of r. Refuses paths that are empty, lack the leading '/',
 * hold a NUL, a control byte or invalid UTF-8, and a second route for the
 * same path, listener and method. */
int http_router_add(struct http_router *rt, const struct http_route *r, err_t *err);
/* Finds the route for (listener, path, method). Exact routes win over
 * prefix routes, longer prefixes over shorter ones; among the routes of the
 * winning path, method decides. GET routes answer HEAD too, unless
 * HTTP_ROUTE_NO_HEAD. On a dedicated listener, routes for every listener
 * count only with HTTP_ROUTE_CLIENT_CERT or HTTP_ROUTE_ANY_LISTENER. */
enum http_match http_router_match(const struct http_router *rt, const char *listener, str_t path,
                                  enum http_method method, const struct http_route_entry **out,
                                  unsigned *allowed);
void http_router_free(struct http_router *rt);
/* true if listener was dedicated (http_server_dedicate_listener). */
bool http_router_dedicated(const struct http_router *rt, const char *listener);
/* "GET", ... for a single method; NULL for none. */
const char *http_method_name(enum http_method m);
/* The method of a request line's name (case-sensitive); 0 when unknown. */
enum http_method http_method_parse(const char *name);
/* "GET, HEAD, POST" for an Allow header. */
void http_methods_format(unsigned methods, char *out, size_t cap);

/* ---- request.c ---- */

struct http_query_param {
    str_t name;
    str_t value;
};

struct http_extra_header {
    const char *name;
    const char *value;
    struct http_extra_header *next;
};

struct http_conn;

enum http_req_phase { REQ_NEW, REQ_BODY, REQ_WAIT, REQ_DONE };

struct http_request {
    http_server_t *srv;
    struct http_listener *listener;
    struct http_conn *conn;
    struct MHD_Connection *mhd;
    arena_t *arena;
    enum http_req_phase phase;
    int64_t start_ns;
    str_t raw_target; /* the request target as sent, in the arena */
    str_t raw_path;   /* its path part, still percent-encoded */
    str_t path;       /* decoded; valid when path_ok */
    bool path_ok;
    err_t target_err; /* why the target was refused, when it was */
    bool target_bad;
    enum http_method method;
    const char *method_name; /* as sent, owned by libmicrohttpd */
    struct http_query_param *query;
    size_t n_query;
    char id[HTTP_REQUEST_ID_MAX + 1];
    const struct http_route_entry *route;
    buf_t body;
    size_t body_max;
    bool body_too_large;
    /* keeping the body failed for want of memory: a 500, not a 413 */
    bool body_no_memory;
    bool has_body;                     /* Content-Length > 0 or Transfer-Encoding */
    bool complete;                     /* the whole request is in: answers may be queued */
    bool answer_now;                   /* a refusal need not wait for the body (queue_answer) */
    struct http_extra_header *headers; /* for the response */
    struct MHD_Response *response;     /* the answer, once made */
    bool html;                         /* its Content-Type is text/html */
    unsigned status;
    uint64_t bytes;         /* body bytes sent (counted for streams) */
    bool answered;          /* an http_reply_* made the response */
    const char *refusal;    /* the problem slug it was refused with (problem_canonical), or NULL */
    bool queued;            /* handed to libmicrohttpd */
    bool cert_taken;        /* conn's client certificate has been examined */
    struct http_wait *wait; /* http_req_wait's (wait.c) */
};

/* Decodes a percent-encoded path into the arena. Refuses (DUPLA_EINVAL)
 * bad escapes, NUL and control bytes, invalid UTF-8, "." and ".." segments
 * and a path that does not start with '/'. */
int http_path_decode(str_t raw, arena_t *a, str_t *out, err_t *err);
/* Splits and decodes a query string ('+' is a space) into the arena, in
 * order, keeping repeated names. More than max parameters is refused with
 * DUPLA_EINVAL naming the limit. */
int http_query_parse(str_t raw, unsigned max, arena_t *a, struct http_query_param **out, size_t *n,
                     err_t *err);
/* true if s is a request id we keep: 1 to HTTP_REQUEST_ID_MAX bytes of
 * [A-Za-z0-9._-]. */
bool http_request_id_valid(str_t s);
/* The most bytes of header lines a request may have (431 past it). */
size_t http_headers_total_max(const struct limits_config *lim);
/* Splits the raw request target into path and query, and decodes both
 * within the server's limits, recording a refusal in req->target_err. */
void http_request_parse_target(http_request_t *req, const struct limits_config *lim);

/* ---- reply.c ---- */

/* The problem document for err (new reference). instance may be NULL. */
json_t *http_problem_json(const err_t *err, const char *instance);
/* The reason phrase of a status ("Not Found"), or "Error". */
const char *http_status_title(unsigned status);
/* Answers with a problem made here: status, slug, detail. */
int http_reply_error(http_request_t *req, unsigned status, const char *type, const char *param,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds the headers every answer carries and those the handler asked for. */
int http_response_finish(http_request_t *req);

/* ---- metrics.c ---- */

struct http_metrics;

int http_metrics_new(size_t n_routes, struct http_metrics **out);
void http_metrics_free(struct http_metrics *m);
/* Counts one finished request. route_index == n_routes for requests that
 * matched no route. */
void http_metrics_observe(struct http_metrics *m, size_t route_index, unsigned status,
                          int64_t duration_ns);
/* Appends the Prometheus text of everything the server knows to out. */
/* Counts a request of metrics slot route_index refused with the problem
 * slug reason (a static string: problem_canonical's, or "other"). */
void http_metrics_refused(http_server_t *srv, size_t route_index, const char *reason);
int http_metrics_render(http_server_t *srv, buf_t *out);

/* ---- server.c ---- */

struct http_listener {
    http_server_t *srv;
    const struct listener_config *cfg;
    size_t index;
    int fd; /* the listening socket, ours until libmicrohttpd takes it */
    unsigned port;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* guards creds, every creds->refs and conns */
    struct http_creds *creds;
    atomic_uint open_connections;
    struct http_conn *conns; /* the open connections (sweep.c) */
};

/* The per-connection state (libmicrohttpd's socket context). */
struct http_conn {
    struct http_listener *listener;
    struct http_creds *creds;
    bool cert_checked;
    struct http_client_cert cert;
    char peer[64];
    /* sweep.c: the socket, and since when a request's header is awaited
     * (the connection's start or its last answer; 0 while a request is
     * being handled). */
    int fd;
    _Atomic int64_t header_since_ns;
    /* the TLS handshake is done (the client's Finished was read): until
     * then the deadline is limits.handshake_seconds from the start */
    atomic_bool handshaken;
    bool swept;
    struct http_conn *prev, *next; /* in listener->conns */
};

struct http_server {
    const struct dupla_config *cfg;
    struct http_router router;
    struct http_listener listeners[CONFIG_MAX_LISTENERS];
    size_t n_listeners;
    struct http_metrics *metrics;
    int (*ready_fn)(void *ctx, err_t *err);
    void *ready_ctx;
    http_handler_fn not_found_fn; /* a browser's 404 page, or NULL */
    void *not_found_ctx;
    bool started;
    atomic_bool stopping;
    atomic_uint connections; /* over every listener */
    atomic_ullong refused;   /* connections refused at max_connections */
    atomic_llong refused_logged_ms;
    pthread_mutex_t drain_lock;
    pthread_cond_t drain_cond;
    unsigned in_flight; /* requests between their first byte and their end */
    pthread_t sweeper;  /* sweep.c */
    bool sweeping;
    atomic_bool sweep_stop;
    size_t mhd_memory;         /* per-connection memory pool of libmicrohttpd */
    unsigned threads;          /* per listener's daemon (http.threads) */
    pthread_mutex_t wait_lock; /* wait.c: the suspended requests */
    struct http_wait *waits;
    bool waits_closed; /* stopping: no request is suspended any more */
};

/* ---- connection.c ---- */

/* Starts l's daemon on its listening socket (which it takes) with the
 * callbacks of connection.c. */
int http_listener_start(http_server_t *srv, struct http_listener *l, bool v6, err_t *err);
/* Drops one reference to c, a credentials set of l; the last frees it. */
void http_creds_put(struct http_listener *l, struct http_creds *c);
/* The server's client certificate view for req (examined once per
 * connection). NULL on listeners that take none. */
const struct http_client_cert *http_conn_client_cert(http_request_t *req);

/* ---- wait.c ---- */

/* How long the stop waits for the resumed requests to answer. */
#define HTTP_ABANDON_MS 5000

/* After the handler returned HTTP_SUSPENDED with req->wait: suspends the
 * connection unless the wake has come already (then false: run the
 * continuation now, http_wait_continue). */
bool http_wait_suspend(http_request_t *req);
/* true when the handler (or a continuation) took a wait it has not yet
 * suspended on or dropped. */
bool http_wait_armed(http_request_t *req);
/* The handler took a wait but did not suspend: drops the waker's share. */
void http_wait_not_handed(http_request_t *req);
/* Runs req's continuation (once the connection is resumed). */
int http_wait_continue(http_request_t *req, err_t *err);
/* The request ends: its share of the wait goes (the continuation runs now
 * if it never did). *keep_arena: the waker still holds the wait, which now
 * owns req->arena (do not free it). */
void http_wait_end(http_request_t *req, bool *keep_arena);
/* Stopping: resumes every suspended request (its continuation runs with
 * abandoned true) and suspends none from now on; how many. */
unsigned http_waits_abandon(http_server_t *srv);
/* true while a request waits or its continuation has not run. */
bool http_waits_pending(http_server_t *srv);

/* ---- sweep.c ---- */

/* A request's header must arrive within idle_seconds + request_seconds of
 * the connection's start (the TLS handshake included) or of its previous
 * answer: a client that trickles it byte by byte (each byte resets the
 * idle timeout) is cut off there. Checked every HTTP_SWEEP_MS. */
#define HTTP_SWEEP_MS 250
/* Adds hc (whose fd is set) to l's open connections / removes it. */
void http_sweep_add(struct http_listener *l, struct http_conn *hc);
void http_sweep_remove(struct http_listener *l, struct http_conn *hc);
/* The sweeper thread: started with the listeners, stopped before them. */
int http_sweep_start(http_server_t *srv, err_t *err);
void http_sweep_stop(http_server_t *srv);

/* ---- builtin.c ---- */
/* (http_builtin_register is in http.h) */

#endif
