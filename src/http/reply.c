/*
 * reply.c: making the answer: JSON, raw bytes, streams and RFC 9457
 * problems.
 *
 * An http_reply_* call builds the libmicrohttpd response and keeps it on
 * the request; connection.c queues it when the handler returns. Every answer
 * gets the same headers here (X-Request-ID, no caching, no sniffing, HSTS
 * with the listener's max-age, and for HTML a default CSP and frame
 * protections), so a handler cannot forget them.
 *
 * Problems: type is HTTP_PROBLEM_TYPE_BASE + the error's slug (err_t.type,
 * e.g. "not-found", "too-many-parameters"), title the status's reason
 * phrase, detail the client-safe message, instance the request id, and
 * "parameter" when the error names one. A 5xx's log message is logged here
 * with the request id; the client only sees the generic detail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/problem.h"
#include "http/internal.h"

#define HTTP_RETRY_AFTER_SECONDS "5"

const char *http_status_title(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

json_t *http_problem_json(const err_t *err, const char *instance)
{
    int status = err_status(err);
    if (status < 400 || status > 599)
        status = 500;
    char type[sizeof HTTP_PROBLEM_TYPE_BASE + ERR_TYPE_MAX];
    const char *slug = err->type[0] ? err->type : err_code_name(err->code);
    snprintf(type, sizeof type, "%s%s", HTTP_PROBLEM_TYPE_BASE, slug);
    json_t *p = json_object();
    if (!p)
        return NULL;
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(http_status_title((unsigned)status)));
    json_object_set_new(p, "status", json_integer(status));
    /* Messages are formatted from our own text and bounded copies of input;
     * json_string refuses invalid UTF-8, so fall back to a safe detail. */
    json_t *detail =
        json_string(err->detail[0] ? err->detail : http_status_title((unsigned)status));
    json_object_set_new(p, "detail", detail ? detail : json_string("The request was refused."));
    if (instance && instance[0])
        json_object_set_new(p, "instance", json_string(instance));
    if (err->param[0]) {
        json_t *param = json_string(err->param);
        if (param)
            json_object_set_new(p, "parameter", param);
    }
    return p;
}

static int add_pending_header(http_request_t *req, const char *name, const char *value)
{
    struct http_extra_header *h = arena_alloc(req->arena, sizeof *h);
    if (!h)
        return DUPLA_ENOMEM;
    h->name = arena_strdup(req->arena, str_from_cstr(name));
    h->value = arena_strdup(req->arena, str_from_cstr(value));
    if (!h->name || !h->value)
        return DUPLA_ENOMEM;
    /* Keep the handler's order. */
    struct http_extra_header **tail = &req->headers;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
    return 0;
}

static bool has_pending_header(const http_request_t *req, const char *name)
{
    for (const struct http_extra_header *h = req->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return true;
    return false;
}

int http_reply_header(http_request_t *req, const char *name, const char *value)
{
    if (!name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return DUPLA_EINVAL;
    if (req->response)
        return MHD_add_response_header(req->response, name, value) == MHD_YES ? 0 : DUPLA_EINVAL;
    return add_pending_header(req, name, value);
}

/* Takes ownership of resp as the request's answer. */
static int set_response(http_request_t *req, unsigned status, struct MHD_Response *resp,
                        const char *content_type, uint64_t bytes)
{
    if (!resp)
        return DUPLA_ENOMEM;
    if (req->answered) {
        /* Exactly one answer per request: the first stands. */
        MHD_destroy_response(resp);
        return DUPLA_EINTERNAL;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    req->html = content_type && strncasecmp(content_type, "text/html", 9) == 0;
    req->response = resp;
    req->status = status;
    req->bytes = bytes;
    req->answered = true;
    return 0;
}

int http_reply_data(http_request_t *req, unsigned status, const char *content_type, str_t body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, (void *)body.ptr, MHD_RESPMEM_MUST_COPY);
    return set_response(req, status, resp, content_type, body.len);
}

static int reply_json_text(http_request_t *req, unsigned status, const char *content_type,
                           json_t *body)
{
    char *text = body ? json_text(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text)
        return DUPLA_ENOMEM;
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (!resp) {
        free(text);
        return DUPLA_ENOMEM;
    }
    return set_response(req, status, resp, content_type, len);
}

int http_reply_json(http_request_t *req, unsigned status, json_t *body)
{
    return reply_json_text(req, status, "application/json", body);
}

int http_reply_problem(http_request_t *req, const err_t *err)
{
    int status = err_status(err);
    if (status < 400 || status > 599)
        status = 500;
    if (status >= 500)
        log_json(LOG_ERROR, "request failed",
                 json_pack("{s:s, s:s, s:i}", "request_id", req->id, "error", err->log, "status",
                           status));
    if (!req->answered) { /* the first answer stands (set_response) */
        const char *slug = problem_canonical(err->type[0] ? err->type : err_code_name(err->code));
        req->refusal = slug ? slug : "other";
    }
    if ((status == 503 || status == 429) && !has_pending_header(req, "Retry-After"))
        add_pending_header(req, "Retry-After", HTTP_RETRY_AFTER_SECONDS);
    return reply_json_text(req, (unsigned)status, "application/problem+json",
                           http_problem_json(err, req->id));
}

int http_reply_error(http_request_t *req, unsigned status, const char *type, const char *param,
                     const char *fmt, ...)
{
    err_t err;
    err_clear(&err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.detail, sizeof err.detail, fmt, ap);
    va_end(ap);
    snprintf(err.log, sizeof err.log, "%s", err.detail);
    err.code = status >= 500 ? DUPLA_EINTERNAL : DUPLA_EINVAL;
    err_http(&err, (int)status, type);
    if (param)
        snprintf(err.param, sizeof err.param, "%s", param);
    return http_reply_problem(req, &err);
}

int http_response_finish(http_request_t *req)
{
    struct MHD_Response *r = req->response;
    if (!r)
        return DUPLA_EINTERNAL;
    for (const struct http_extra_header *h = req->headers; h; h = h->next)
        MHD_add_response_header(r, h->name, h->value);
    MHD_add_response_header(r, "X-Request-ID", req->id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    unsigned hsts = req->listener ? req->listener->cfg->hsts_max_age : 0;
    if (hsts) {
        char v[48];
        snprintf(v, sizeof v, "max-age=%u", hsts);
        MHD_add_response_header(r, "Strict-Transport-Security", v);
    }
    /* Every HTML answer is protected from framing and loading anything,
     * whichever module made it; a handler's own policy stands. */
    if (req->html) {
        if (!MHD_get_response_header(r, "Content-Security-Policy"))
            MHD_add_response_header(r, "Content-Security-Policy", HTTP_HTML_CSP);
        if (!MHD_get_response_header(r, "X-Frame-Options"))
            MHD_add_response_header(r, "X-Frame-Options", "DENY");
        if (!MHD_get_response_header(r, "Referrer-Policy"))
            MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    if (!has_pending_header(req, "Cache-Control"))
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (atomic_load(&req->srv->stopping) && !has_pending_header(req, MHD_HTTP_HEADER_CONNECTION))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return 0;
}

/* ---- streams ---- */

struct http_stream {
    http_request_t *req; /* only touched while the request is being answered */
    http_stream_fn fn;
    void *cls;
    void (*free_fn)(void *cls);
    buf_t piece;
    size_t off;
    bool ended;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_stream *st = cls;
    while (st->off == st->piece.len) {
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_reset(&st->piece);
        st->off = 0;
        int rc = st->fn(st->cls, &st->piece);
        if (rc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (rc == 0)
            st->ended = true;
    }
    size_t n = st->piece.len - st->off;
    if (n > max)
        n = max;
    memcpy(out, st->piece.data + st->off, n);
    st->off += n;
    st->req->bytes += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct http_stream *st = cls;
    if (st->free_fn)
        st->free_fn(st->cls);
    buf_free(&st->piece);
    free(st);
}

int http_reply_stream(http_request_t *req, unsigned status, const char *content_type,
                      http_stream_fn fn, void *cls, void (*free_fn)(void *cls))
{
    struct http_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (free_fn)
            free_fn(cls);
        return DUPLA_ENOMEM;
    }
    st->req = req;
    st->fn = fn;
    st->cls = cls;
    st->free_fn = free_fn;
    buf_init(&st->piece, HTTP_STREAM_PIECE);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                  stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return DUPLA_ENOMEM;
    }
    return set_response(req, status, resp, content_type, 0);
}
