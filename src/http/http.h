/*
 * http.h: the HTTPS server, as the modules see it.
 *
 * libmicrohttpd + GnuTLS, one daemon per configured listener (each with its
 * own certificate and client-certificate policy). Modules register routes;
 * a handler gets a request, reads what it needs, and answers with exactly one
 * http_reply_* call. A handler that returns a negative code instead has not
 * answered: the server answers with err as RFC 9457 problem+json.
 *
 * Handlers run on the threads of the listener's event loop (http.threads,
 * server.c), each of which serves many connections: a handler that blocks
 * (the store) holds up that thread's other connections meanwhile. Everything a handler allocates
 * per request comes from the request's arena (http_req_arena), freed when the request completes.
 *
 * Before a handler runs, the server has enforced the limits (header, URL,
 * query parameter count, body size), the method (405 with Allow) and the
 * route's client-certificate requirement (401 problem when it is missing or
 * did not verify), and has taken or made the X-Request-ID, which every
 * response carries.
 *
 * Problems (RFC 9457): "type" is "https://dupla.invalid/problems/<slug>"
 * with the slug from err_t.type (err_code_name() by default, or set with
 * err_problem()/err_refuse(): one of the PROBLEM_* reasons of core/problem.h,
 * listed in docs/problem-types.md); ".invalid" promises no page there, the
 * slug is what clients key on. "title" is the status's reason phrase, "detail" err_t.detail,
 * "instance" the request id, "parameter" err_t.param when set. 429 and 503
 * answers carry Retry-After.
 *
 * Paths: a route's path is the decoded one. The server decodes the request
 * path itself (percent escapes, as UTF-8) and refuses with 400 a path with
 * a NUL or control byte, invalid UTF-8 or a "." or ".." segment, so a
 * handler only ever sees clean UTF-8. Query names and values likewise
 * ('+' is a space there).
 */
#ifndef DUPLA_HTTP_HTTP_H
#define DUPLA_HTTP_HTTP_H

#include <gnutls/abstract.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/str.h"
#include "pki/pki.h"

typedef struct http_server http_server_t;
typedef struct http_request http_request_t;

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
};

/* Route flags. */
#define HTTP_ROUTE_CLIENT_CERT (1u << 0) /* needs a verified client certificate */
#define HTTP_ROUTE_PREFIX      (1u << 1) /* path is a prefix: "/ingest/" matches "/ingest/x" */
/* A GET route that does not answer HEAD (405): the data services, where
 * a HEAD would read and record a disclosure that sends nothing. */
#define HTTP_ROUTE_NO_HEAD (1u << 2)
/* A route without .listener that also answers on dedicated listeners (see
 * http_server_dedicate_listener): health, the JWKS. */
#define HTTP_ROUTE_ANY_LISTENER (1u << 3)

/* Handler: answer with one http_reply_* and return 0, or return a negative
 * code with err filled and let the server answer with a problem. */
typedef int (*http_handler_fn)(http_request_t *req, void *ctx, err_t *err);

/* ---- declared parameters (params.c) ---- */

/* The type of a declared parameter. Query values and form fields are text
 * checked against it; JSON members must also have the matching JSON type. */
enum http_param_type {
    HTTP_PARAM_STRING, /* text of min..max bytes (max 0: HTTP_PARAM_STRING_MAX in a
                          query or form, the body's limit in JSON) */
    HTTP_PARAM_INT,    /* a whole number >= min, and <= max when max > min */
    HTTP_PARAM_BOOL,   /* true or false */
    HTTP_PARAM_ENUM,   /* one of values */
    HTTP_PARAM_TIME,   /* a date yyyy-mm-dd or a time yyyy-mm-ddTHH:MM:SSZ */
    HTTP_PARAM_OBJECT, /* JSON only: an object (its members checked by the handler) */
    HTTP_PARAM_ARRAY,  /* JSON only: an array */
    HTTP_PARAM_ANY,    /* JSON only: any value (the handler checks it) */
};

#define HTTP_PARAM_STRING_MAX 1024 /* a string parameter without its own max */
#define HTTP_PARAMS_CHECK_MAX 64   /* query parameters http_query_check looks at */

/* One declared parameter. A table of them ends with {0} (name NULL). */
struct http_param {
    const char *name;
    enum http_param_type type;
    bool required;             /* absent (or empty, or JSON null) is refused */
    bool repeat;               /* query and form: may occur more than once */
    int64_t min, max;          /* STRING: length in bytes; INT: value */
    const char *const *values; /* ENUM: the allowed values, NULL-terminated */
};

/* A route that takes no query parameter at all: .query = http_params_none. */
extern const struct http_param http_params_none[];

struct http_route {
    unsigned methods; /* HTTP_GET | HTTP_POST ... */
    const char *path; /* decoded path; UTF-8 allowed ("/Årsopgørelse") */
    http_handler_fn handler;
    void *ctx;            /* handed to the handler */
    unsigned flags;       /* HTTP_ROUTE_* */
    size_t max_body;      /* 0: no body accepted; else at most this many bytes */
    const char *listener; /* only on this listener (by name); NULL: on all */
    const char *name;     /* label in metrics and logs; default: path */
    /* The query parameters the route takes, for any of its methods and (a
     * prefix route) paths: the server refuses an undeclared, repeated or
     * malformed one with a 400 naming it before the handler runs. NULL: the
     * handler checks its query itself. */
    const struct http_param *query;
};

/* The client certificate of the connection, as the TLS layer saw it. */
struct http_client_cert {
    bool present;              /* the client sent one */
    bool verified;             /* chains to the listener's trust store, in validity,
                                  not on its CRL */
    unsigned gnutls_status;    /* gnutls_certificate_verify_peers2 status bits */
    char reason[128];          /* why not verified ("expired", "unknown CA", "revoked") */
    struct pki_cert_info info; /* filled when present */
};

/* ---- waiting without a thread (wait.c) ---- */

/* What a handler returns once it has handed its wait to a waker. */
#define HTTP_SUSPENDED 1

typedef struct http_wait http_wait_t;

/* A suspended handler's continuation: runs on the event loop once the
 * wait is over, exactly once, and answers like a handler (an http_reply_*,
 * or a negative code with err). abandoned: the server is stopping and the
 * wake had not come; answer without what was waited for (a 503 with
 * Retry-After), and give back what the handler held. */
typedef int (*http_then_fn)(http_request_t *req, void *ctx, bool abandoned, err_t *err);

/* A handler that must wait for another thread (a disclosure becoming
 * durable) takes a wait, hands it to that thread and returns
 * HTTP_SUSPENDED: the connection is suspended, and the event loop's thread
 * serves other connections meanwhile. The waker calls http_wait_wake(w)
 * exactly once, from any thread; then(req, ctx, ...) then makes the answer.
 * A handler that returns anything else must not have handed w out. What
 * the waker reads must live in the request's arena: when the request ends
 * first (the server stopping), the arena is kept until the wake. A
 * continuation may wait again the same way (a long-poll's next slice),
 * unless it runs abandoned. NULL when out of memory, or when the request's
 * wait is not over. */
http_wait_t *http_req_wait(http_request_t *req, http_then_fn then, void *ctx);
/* The wait is over: resumes the request (any thread, exactly once). */
void http_wait_wake(http_wait_t *w);

/* ---- the server ---- */

/* A server for cfg's listeners (not yet listening). The server keeps a
 * pointer to cfg, which must outlive it. */
int http_server_new(const struct dupla_config *cfg, http_server_t **out, err_t *err);
/* Registers a route (copied). Call before http_server_start. */
int http_route_add(http_server_t *srv, const struct http_route *route, err_t *err);
/* Dedicates a listener (by name) to the routes that name it: from then on a
 * route registered for every listener (.listener NULL) answers there only
 * if it needs a client certificate (HTTP_ROUTE_CLIENT_CERT: the mTLS
 * machine routes) or is marked HTTP_ROUTE_ANY_LISTENER; the rest is a 404
 * problem there (no page). The token listener is dedicated so that data
 * services, documents and pages never answer over its connections.
 * DUPLA_EINVAL for an unknown name. Call before http_server_start. */
int http_server_dedicate_listener(http_server_t *srv, const char *name, err_t *err);
/* Where the listeners' private keys are. Without a source (the default)
 * each listener reads its key file into this process. With one (set before
 * http_server_start; src/keys/ through cmd_serve), this process reads only
 * the certificate chain and asks src->privkey for a key that signs
 * elsewhere: path is the listener's key file, key_id the SHA-256 key id of
 * the certificate's public key (HTTP_TLS_KEYID_LEN bytes); a reload asks
 * again. src and src->ctx must outlive the server. NULL: none again. */
#define HTTP_TLS_KEYID_LEN 32
struct http_tls_key_source {
    void *ctx;
    int (*privkey)(void *ctx, const char *path, const unsigned char *key_id, gnutls_privkey_t *out,
                   err_t *err);
};
void http_tls_set_key_source(const struct http_tls_key_source *src);

/* Sets a function the server calls for GET /health/ready (0 = ready). */
void http_server_set_ready_check(http_server_t *srv, int (*fn)(void *ctx, err_t *err), void *ctx);
/* Sets a function that answers a GET or HEAD for a path no route has,
 * when the client accepts text/html (a browser): the web pages' own "not
 * found" page. It returns 0 when it answered; otherwise, and for every
 * other client, the server answers its 404 problem. */
void http_server_set_not_found_page(http_server_t *srv, http_handler_fn fn, void *ctx);
/* Binds every listener and starts serving. */
int http_server_start(http_server_t *srv, err_t *err);
/* The port a listener is bound to (after start); 0 if no such listener. */
unsigned http_server_port(const http_server_t *srv, const char *listener);
/* Re-reads every listener's certificate, key, trust store and CRL (SIGHUP).
 * New connections use the new files; on error the old ones stay in use. */
int http_server_reload(http_server_t *srv, err_t *err);
/* Stops accepting, waits for in-flight requests (up to drain_ms), stops. */
void http_server_stop(http_server_t *srv, unsigned drain_ms);
void http_server_free(http_server_t *srv);
/* true once http_server_stop has begun (readiness answers 503 from then). */
bool http_server_stopping(const http_server_t *srv);

/* Registers the built-in routes (builtin.c): GET /health/live,
 * GET /health/ready (503 problem while the ready check fails or the server
 * stops) on every listener, GET /metrics (Prometheus text) on the
 * listeners that serve it (listener key "metrics"), and
 * GET /whoami on each listener that takes client certificates. */
int http_builtin_register(http_server_t *srv, err_t *err);

/* ---- reading the request ---- */

enum http_method http_req_method(const http_request_t *req);
str_t http_req_path(const http_request_t *req); /* decoded */
const char *http_req_listener(const http_request_t *req);
const char *http_req_id(const http_request_t *req); /* X-Request-ID, taken or made */
arena_t *http_req_arena(http_request_t *req);
/* A header's value (first occurrence), or false when absent. */
bool http_req_header(const http_request_t *req, const char *name, str_t *value);
/* Query parameters, in order, repeated names kept. */
size_t http_req_query_count(const http_request_t *req);
void http_req_query_at(const http_request_t *req, size_t i, str_t *name, str_t *value);
/* The first value of the query parameter name, or false (value empty) when
 * it is absent. For parameters that may repeat, walk http_req_query_at. */
bool http_req_query(const http_request_t *req, const char *name, str_t *value);
/* The body (empty if none). */
str_t http_req_body(const http_request_t *req);
/* The body as a JSON object (duplicate keys refused) into *out (a new
 * reference); an empty body is an empty object when empty_ok. Otherwise
 * DUPLA_EINVAL with param "body", saying where the JSON went wrong. */
int http_req_json_object(const http_request_t *req, bool empty_ok, json_t **out, err_t *err);
/* A string member: NULL when absent or null (DUPLA_EINVAL naming key when
 * required), DUPLA_EINVAL when not a string or holding a NUL. Borrowed from obj. */
int http_json_string(const json_t *obj, const char *key, bool required, const char **out,
                     err_t *err);

/* ---- forms (form.c) ---- */

/* A decoded application/x-www-form-urlencoded body, fields in order. */
struct http_form {
    size_t n;
    str_t *names;  /* decoded, NUL-terminated, arena memory */
    str_t *values; /* the same */
};

/* What a form may hold. */
struct http_form_rules {
    size_t max_fields;        /* more is refused (DUPLA_ELIMIT, param "body") */
    bool unique;              /* a repeated name is refused (RFC 6749 section 3.2) */
    const char *const *lines; /* NULL-terminated names whose values may hold tab,
                                 CR and LF (multi-line text); NULL: none */
};

/* Reads body into *out (arena memory), decoding every name and value with
 * pct_decode ('+' a space). Refuses with DUPLA_EINVAL, naming the field
 * when its name decoded (else "body"): a malformed escape, a NUL or control
 * byte (tab, CR, LF only in rules->lines fields), invalid UTF-8, an empty
 * name, a repeated name when rules->unique. Empty "&&" parts are skipped. */
int http_form_read(arena_t *a, str_t body, const struct http_form_rules *rules,
                   struct http_form *out, err_t *err);
/* The first value of name into *value (untrimmed); false (value "") when
 * absent. */
bool http_form_get(const struct http_form *f, const char *name, str_t *value);

/* Check a request's query, a JSON object's members, a form's fields
 * against a table: DUPLA_EINVAL naming the parameter when one is not in the
 * table, repeats (query, form) without .repeat, does not fit its type and
 * limits, or is required and absent. An empty value (query, form) or JSON
 * null stands for "not given". The server runs http_query_check for a
 * route with .query; handlers run the others after reading the body. */
int http_query_check(const http_request_t *req, const struct http_param *params, err_t *err);
int http_json_check(const json_t *obj, const struct http_param *params, err_t *err);
/* http_req_json_object, then http_json_check; *out is NULL on a refusal. */
int http_req_json_params(const http_request_t *req, bool empty_ok, const struct http_param *params,
                         json_t **out, err_t *err);
int http_form_check(const struct http_form *f, const struct http_param *params, err_t *err);

/* NULL when the listener takes no client certificates. */
const struct http_client_cert *http_req_client_cert(const http_request_t *req);
/* The client's IP address as text. */
const char *http_req_peer(const http_request_t *req);

/* ---- answering ---- */

/* Adds a response header (copied) to the answer this handler will give. */
int http_reply_header(http_request_t *req, const char *name, const char *value);
/* JSON body (stolen), Content-Type application/json. */
int http_reply_json(http_request_t *req, unsigned status, json_t *body);
/* Any body (copied). */
int http_reply_data(http_request_t *req, unsigned status, const char *content_type, str_t body);
/* RFC 9457 application/problem+json from err: type, title, status, detail,
 * instance (the request id), and "parameter" when err names one. */
int http_reply_problem(http_request_t *req, const err_t *err);

/* Streaming: fn is called until it returns 0 (end) or < 0 (abort the
 * connection). Each call appends the next piece to out (which arrives empty);
 * returning 1 means more follows. free_fn(cls) runs when the response is
 * done or the client went away. Chunked transfer encoding. */
typedef int (*http_stream_fn)(void *cls, buf_t *out);
int http_reply_stream(http_request_t *req, unsigned status, const char *content_type,
                      http_stream_fn fn, void *cls, void (*free_fn)(void *cls));

#endif
