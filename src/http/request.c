/*
 * request.c: reading a request: the request target (path and query), the
 * request id, and the accessors of http.h.
 *
 * The request target is taken as the client sent it (libmicrohttpd's URI
 * log callback hands it over before any unescaping) and decoded here, with
 * lengths, so that a %00 cannot cut a path short and invalid UTF-8 never
 * reaches a handler: the path and every query name and value a handler sees
 * is valid UTF-8 without NUL bytes.
 */
#include <string.h>

#include "core/encode.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "http/internal.h"

bool http_request_id_valid(str_t s)
{
    if (s.len == 0 || s.len > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

int http_path_decode(str_t raw, arena_t *a, str_t *out, err_t *err)
{
    if (raw.len == 0 || raw.ptr[0] != '/')
        return err_set(err, DUPLA_EINVAL, "The request path must start with '/'.");
    int rc = pct_decode(raw, 0, a, out);
    if (rc == PCT_NOMEM)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    if (rc == PCT_BAD_ESCAPE || rc == PCT_CONTROL)
        return err_set(err, DUPLA_EINVAL,
                       "The request path has a malformed percent escape or a control character.");
    if (rc == PCT_BAD_UTF8)
        return err_set(err, DUPLA_EINVAL, "The request path is not valid UTF-8.");
    /* "." and ".." segments, encoded or not, have no meaning here; refusing
     * them keeps a prefix route from seeing a path that climbs out of it. */
    str_t rest = str_sub(*out, 1, out->len);
    for (;;) {
        str_t seg, tail;
        bool more = str_split(rest, '/', &seg, &tail);
        if (str_eq(seg, STR(".")) || str_eq(seg, STR("..")))
            return err_set(err, DUPLA_EINVAL,
                           "The request path has a '.' or '..' segment; send the path as meant.");
        if (!more)
            break;
        rest = tail;
    }
    return 0;
}

int http_query_parse(str_t raw, unsigned max, arena_t *a, struct http_query_param **out, size_t *n,
                     err_t *err)
{
    *out = NULL;
    *n = 0;
    /* Count first, so that the array is allocated once and a request over
     * the limit is refused before any decoding. */
    size_t count = 0;
    str_t rest = raw;
    while (rest.len) {
        str_t part, tail;
        bool more = str_split(rest, '&', &part, &tail);
        if (part.len)
            count++;
        if (!more)
            break;
        rest = tail;
    }
    if (count > max) {
        err_param(err, DUPLA_EINVAL, "max_query_params",
                  "The request has %zu query parameters; the limit (max_query_params) is %u.",
                  count, max);
        err_problem(err, PROBLEM_TOO_MANY_PARAMETERS);
        return err->code;
    }
    if (count == 0)
        return 0;
    struct http_query_param *q = arena_alloc(a, count * sizeof *q);
    if (!q)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t i = 0;
    rest = raw;
    while (rest.len) {
        str_t part, tail;
        bool more = str_split(rest, '&', &part, &tail);
        if (part.len) {
            str_t name, value;
            str_split(part, '=', &name, &value);
            q[i].name = STR_NULL;
            int rc = pct_decode(name, PCT_PLUS_SPACE, a, &q[i].name);
            if (rc == PCT_OK)
                rc = pct_decode(value, PCT_PLUS_SPACE, a, &q[i].value);
            if (rc == PCT_NOMEM)
                return err_set(err, DUPLA_ENOMEM, "out of memory");
            if (rc) {
                /* Naming the parameter is safe only when its name decoded. */
                if (q[i].name.ptr && q[i].name.len < ERR_PARAM_MAX) {
                    char pname[ERR_PARAM_MAX];
                    str_copy(q[i].name, pname, sizeof pname);
                    return err_param(err, DUPLA_EINVAL, pname,
                                     "Query parameter %s has a malformed percent escape, a "
                                     "control character or invalid UTF-8.",
                                     pname);
                }
                return err_set(err, DUPLA_EINVAL,
                               "A query parameter has a malformed percent escape, a control "
                               "character or invalid UTF-8.");
            }
            i++;
        }
        if (!more)
            break;
        rest = tail;
    }
    *out = q;
    *n = i;
    return 0;
}

void http_request_parse_target(http_request_t *req, const struct limits_config *lim)
{
    str_t target = req->raw_target, query = STR("");
    err_clear(&req->target_err);
    /* No space or control byte in a request target (RFC 9112 3.2): it
     * would make the request line ambiguous to other readers. (Raw UTF-8,
     * which some clients send unencoded, is decoded and checked below.) */
    for (size_t i = 0; i < target.len; i++) {
        unsigned char ch = (unsigned char)target.ptr[i];
        if (ch <= 0x20 || ch == 0x7f) {
            err_param(&req->target_err, DUPLA_EINVAL, "path",
                      "The request target holds a space or a control character; "
                      "percent-encode it.");
            req->target_bad = true;
            return;
        }
    }
    str_t path = target;
    str_t head, tail;
    if (str_split(target, '?', &head, &tail)) {
        path = head;
        query = tail;
    }
    /* A fragment is never sent by a correct client; drop it if one is. */
    if (str_split(query, '#', &head, &tail))
        query = head;
    else if (str_split(path, '#', &head, &tail))
        path = head;
    req->raw_path = path;
    if (http_path_decode(path, req->arena, &req->path, &req->target_err) != 0) {
        req->target_bad = true;
        return;
    }
    req->path_ok = true;
    if (http_query_parse(query, lim->max_query_params, req->arena, &req->query, &req->n_query,
                         &req->target_err) != 0)
        req->target_bad = true;
}

/* ---- the accessors of http.h ---- */

enum http_method http_req_method(const http_request_t *req)
{
    return req->method;
}

str_t http_req_path(const http_request_t *req)
{
    return req->path;
}

const char *http_req_listener(const http_request_t *req)
{
    return req->listener->cfg->name;
}

const char *http_req_id(const http_request_t *req)
{
    return req->id;
}

arena_t *http_req_arena(http_request_t *req)
{
    return req->arena;
}

bool http_req_query(const http_request_t *req, const char *name, str_t *value)
{
    for (size_t i = 0; i < http_req_query_count(req); i++) {
        str_t k, v;
        http_req_query_at(req, i, &k, &v);
        if (str_eq_cstr(k, name)) {
            *value = v;
            return true;
        }
    }
    *value = STR("");
    return false;
}

bool http_req_header(const http_request_t *req, const char *name, str_t *value)
{
    const char *v = NULL;
    size_t n = 0;
    if (!req->mhd || MHD_lookup_connection_value_n(req->mhd, MHD_HEADER_KIND, name, strlen(name),
                                                   &v, &n) != MHD_YES) {
        *value = STR_NULL;
        return false;
    }
    *value = (str_t){v ? v : "", v ? n : 0};
    return true;
}

size_t http_req_query_count(const http_request_t *req)
{
    return req->n_query;
}

void http_req_query_at(const http_request_t *req, size_t i, str_t *name, str_t *value)
{
    if (i >= req->n_query) {
        *name = STR_NULL;
        *value = STR_NULL;
        return;
    }
    *name = req->query[i].name;
    *value = req->query[i].value;
}

str_t http_req_body(const http_request_t *req)
{
    if (!req->body.data)
        return STR("");
    return buf_str(&req->body);
}

const struct http_client_cert *http_req_client_cert(const http_request_t *req)
{
    return http_conn_client_cert((http_request_t *)req);
}

const char *http_req_peer(const http_request_t *req)
{
    return req->conn ? req->conn->peer : "";
}
