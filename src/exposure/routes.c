/*
 * routes.c: the exposure module's HTTP edge.
 *
 *   GET /<path> and GET /<alias>  for every catalogue service (the engine)
 *   GET /openapi.json              the OpenAPI 3.1 document (catalog_openapi)
 *   GET /servicekatalog            the catalogue as HTML (catalog_pages_html)
 *   GET /servicekatalog.json       the catalogue as JSON (catalog_to_json)
 *   GET /servicekatalog.jsonld     the catalogue as DCAT-AP-DK, JSON-LD
 *   GET /servicekatalog.ttl        the same graph in Turtle (catalog_dcat)
 *
 * The documents are made once at registration: the catalogue does not
 * change while the server runs. Every answer of these routes carries
 * X-Dupla-Miljoe (test or produktion) unless the configuration turns it off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "exposure/internal.h"
#include "exposure/routes.h"
#include "http/http.h"
#include "token/routes.h"

#define EXPOSURE_ARGS_MAX LIMIT_DEFAULT_QUERY_PARAMS /* and never more than the server passes */

static void environment_header(exposure_t *ex, http_request_t *req)
{
    if (ex->cfg.environment_header)
        http_reply_header(req, EXPOSURE_H_ENVIRONMENT, exposure_environment_word(ex->deps.env));
}

/* The RateLimit fields of the agreement's budget, on every data answer
 * once the call got that far (a 429 too: r=0 and t its Retry-After). */
static void rate_headers(http_request_t *req, const struct exposure_rate *st)
{
    if (!st->known)
        return;
    char policy[EXPOSURE_RATE_TEXT], rate[EXPOSURE_RATE_TEXT];
    exposure_rate_headers(st, policy, rate);
    http_reply_header(req, "RateLimit-Policy", policy);
    http_reply_header(req, "RateLimit", rate);
}

static void retry_after(http_request_t *req, unsigned s)
{
    if (s == 0)
        return;
    char v[16];
    snprintf(v, sizeof v, "%u", s);
    http_reply_header(req, "Retry-After", v);
}

static int stream_next(void *cls, buf_t *out)
{
    return exposure_stream_next(cls, out);
}

static void stream_free(void *cls)
{
    exposure_stream_free(cls);
}

/* A data call between its hand-over to the log and its answer: in the
 * request's arena, which the log may read until the wake. */
struct data_wait {
    exposure_t *ex;
    struct token_principal principal;
    struct exposure_call call;
    struct exposure_answer ans;
    exposure_pending_t *pending;
};

/* A header's value, copied into the arena (the log reads it after the
 * request's own memory may be gone: a request abandoned at the stop). */
static bool header_kept(http_request_t *req, const char *name, str_t *out)
{
    str_t v;
    if (!http_req_header(req, name, &v))
        return false;
    char *copy = arena_strdup(http_req_arena(req), v);
    *out = copy ? (str_t){copy, v.len} : STR("");
    return true;
}

/* Turns the call's result into the answer. */
static int data_answer(http_request_t *req, exposure_t *ex, struct exposure_answer *ans, int rc,
                       err_t *err)
{
    rate_headers(req, &ans->rate);
    if (rc != 0) {
        exposure_leave(ex);
        retry_after(req, ans->retry_after_s);
        return rc;
    }
    if (ans->window_end[0])
        http_reply_header(req, EXPOSURE_H_WINDOW_END, ans->window_end);
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)ans->audit_seq);
    http_reply_header(req, EXPOSURE_H_DISCLOSURE, seq);
    if (ans->stream)
        return http_reply_stream(req, 200, "application/json", stream_next, ans->stream,
                                 stream_free);
    exposure_leave(ex);
    (void)err;
    return http_reply_data(req, 200, "application/json", ans->body);
}

/* The log's writer: the entry is durable (or failed); resume the request. */
static void data_wake(void *ctx)
{
    http_wait_wake(ctx);
}

/* The request resumed: the answer, with the durable entry's receipt. */
static int data_then(http_request_t *req, void *ctx, bool abandoned, err_t *err)
{
    struct data_wait *dw = ctx;
    int rc = exposure_call_finish(dw->pending, abandoned, &dw->ans, err);
    return data_answer(req, dw->ex, &dw->ans, rc, err);
}

/* The generic handler of every data service: runs the call up to its
 * disclosure entry and suspends the request until the entry is durable
 * (no thread waits for the fsync). */
static int data_handler(http_request_t *req, void *ctx, err_t *err)
{
    struct exposure_route *route = ctx;
    exposure_t *ex = route->ex;
    environment_header(ex, req);
    int64_t now = clock_now_ms();
    unsigned retry = 0;
    int rc = exposure_enter(ex, now, &retry, err);
    if (rc != 0) {
        retry_after(req, retry);
        return rc;
    }
    arena_t *a = http_req_arena(req);
    struct data_wait *dw = arena_alloc(a, sizeof *dw);
    if (!dw) {
        exposure_leave(ex);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    dw->ex = ex;
    if ((rc = token_http_authenticate(req, ex->deps.token, &dw->principal, err)) != 0) {
        atomic_fetch_add(&ex->refused, 1);
        exposure_leave(ex);
        return rc;
    }
    size_t n_args = http_req_query_count(req);
    struct exposure_arg *args = arena_alloc(a, (n_args + 1) * sizeof *args);
    char *id = arena_strdup(a, str_from_cstr(http_req_id(req)));
    if (!args || !id) {
        exposure_leave(ex);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_args; i++)
        http_req_query_at(req, i, &args[i].name, &args[i].value);
    struct exposure_call *call = &dw->call;
    *call = (struct exposure_call){
        .svc = route->svc,
        .principal = &dw->principal,
        .server_request_id = str_from_cstr(id),
        .args = args,
        .n_args = n_args,
        .now_ms = now,
        .arena = a,
    };
    call->has_request_id = header_kept(req, EXPOSURE_H_REQUEST_ID, &call->request_id);
    call->has_txid = header_kept(req, EXPOSURE_H_TXID, &call->txid);
    call->has_agreement = header_kept(req, EXPOSURE_H_AGREEMENT, &call->agreement);
    call->has_case_ref = header_kept(req, EXPOSURE_H_CASE_REF, &call->case_ref);

    http_wait_t *w = http_req_wait(req, data_then, dw);
    if (!w) {
        exposure_leave(ex);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    rc = exposure_call_begin(ex, call, data_wake, w, &dw->ans, &dw->pending, err);
    if (rc == 0 && dw->pending)
        return HTTP_SUSPENDED;
    return data_answer(req, ex, &dw->ans, rc, err); /* ended before the log */
}

/* ---- the documents ---- */

#define DCAT_DOC_MAX (4u * 1024 * 1024)
#define HOST_MAX     255 /* bytes of a Host header usable in the DCAT IRIs */

/* The DCAT documents' base URL: exposure.public_url, or https:// and the
 * request's Host when it is a plain host[:port] (anything else: "localhost",
 * never a client's text in the graph). From the request's arena. */
static const char *dcat_base(exposure_t *ex, http_request_t *req)
{
    if (ex->cfg.public_url[0])
        return ex->cfg.public_url;
    str_t host;
    bool ok = http_req_header(req, "Host", &host) && host.len > 0 && host.len <= HOST_MAX;
    for (size_t i = 0; ok && i < host.len; i++) {
        char ch = host.ptr[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             strchr(".-:[]", ch) != NULL;
    }
    const char *base = arena_printf(http_req_arena(req), "https://%.*s", ok ? (int)host.len : 9,
                                    ok ? host.ptr : "localhost");
    return base ? base : "https://localhost";
}

static int dcat_handler(http_request_t *req, void *ctx, err_t *err)
{
    exposure_t *ex = ctx;
    bool turtle = str_eq_cstr(http_req_path(req), "/servicekatalog.ttl");
    struct catalog_dcat_options o = {.base_url = dcat_base(ex, req),
                                     .publisher = ex->cfg.publisher};
    buf_t b;
    buf_init(&b, DCAT_DOC_MAX);
    int rc =
        catalog_dcat(ex->deps.catalog, &o, turtle ? CATALOG_DCAT_TURTLE : CATALOG_DCAT_JSONLD, &b);
    if (rc == 0) {
        environment_header(ex, req);
        http_reply_header(req, "Cache-Control", "public, max-age=300");
        http_reply_header(req, "Vary", "Host");
        rc = http_reply_data(
            req, 200, turtle ? "text/turtle; charset=utf-8" : "application/ld+json", buf_str(&b));
    } else {
        rc = err_internal(err, rc, "exposure: cannot write the DCAT catalogue");
    }
    buf_free(&b);
    return rc;
}

static int doc_handler(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    exposure_t *ex = ctx;
    str_t p = http_req_path(req);
    environment_header(ex, req);
    http_reply_header(req, "Cache-Control", "public, max-age=300");
    if (str_eq_cstr(p, "/openapi.json"))
        return http_reply_data(req, 200, "application/json", str_from_cstr(ex->openapi));
    if (str_eq_cstr(p, "/servicekatalog.json"))
        return http_reply_data(req, 200, "application/json", str_from_cstr(ex->catalog_json));
    return http_reply_data(req, 200, "text/html; charset=utf-8", str_from_cstr(ex->catalog_html));
}

static int make_documents(exposure_t *ex, const struct exposure_routes_options *opt, err_t *err)
{
    struct catalog_openapi_options oo = {
        .server_url = opt && opt->server_url ? opt->server_url : "/",
        .token_url = opt && opt->token_url ? opt->token_url : "/token",
        .environment = ex->deps.env == ENV_PRODUCTION ? "production" : "test",
    };
    json_t *doc = catalog_openapi(ex->deps.catalog, &oo);
    if (doc)
        exposure_events_openapi(doc);
    int rc = 0;
    if (doc && opt && opt->openapi_extend)
        rc = opt->openapi_extend(doc, opt->openapi_ctx);
    json_t *cat = catalog_to_json(ex->deps.catalog);
    buf_t html;
    buf_init(&html, 8u * 1024 * 1024);
    if (rc == 0)
        rc = doc && cat ? catalog_pages_html(ex->deps.catalog, &html) : DUPLA_ENOMEM;
    if (rc == 0) {
        ex->openapi = json_text(doc, JSON_INDENT(1));
        ex->catalog_json = json_text(cat, JSON_INDENT(1));
        ex->catalog_html = html.data ? strdup(html.data) : NULL;
        if (!ex->openapi || !ex->catalog_json || !ex->catalog_html)
            rc = DUPLA_ENOMEM;
    }
    json_decref(doc);
    json_decref(cat);
    buf_free(&html);
    return rc ? err_set(err, rc, "exposure: cannot make the catalogue documents") : 0;
}

int exposure_routes_register(http_server_t *srv, exposure_t *ex,
                             const struct exposure_routes_options *opt, err_t *err)
{
    int rc = make_documents(ex, opt, err);
    if (rc)
        return rc;
    const catalog_t *cat = ex->deps.catalog;
    size_t n = catalog_count(cat);
    for (size_t i = 0; i < n && i < CATALOG_MAX_SERVICES; i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        ex->routes[i] = (struct exposure_route){ex, svc};
        const char *names[2] = {svc->path, svc->alias};
        for (int k = 0; k < 2; k++) {
            if (k == 1 && strcmp(svc->alias, svc->path) == 0)
                break;
            char path[CATALOG_NAME_MAX + 2];
            snprintf(path, sizeof path, "/%s", names[k]);
            struct http_route r = {
                .methods = HTTP_GET,
                .path = path,
                .handler = data_handler,
                .ctx = &ex->routes[i],
                /* A HEAD would read and record a disclosure that sends
                 * nothing: 405 instead (README, "The data services"). */
                .flags = HTTP_ROUTE_NO_HEAD,
                .listener = opt ? opt->listener : NULL,
                .name = svc->path,
            };
            if ((rc = http_route_add(srv, &r, err)) != 0)
                return rc;
        }
    }
    if ((rc = exposure_events_register(srv, ex, opt ? opt->listener : NULL, err)) != 0)
        return rc;
    static const char *const docs[] = {"/openapi.json", "/servicekatalog", "/servicekatalog.json"};
    for (size_t k = 0; k < 3; k++) {
        struct http_route r = {
            .methods = HTTP_GET,
            .path = docs[k],
            .handler = doc_handler,
            .ctx = ex,
            .listener = opt ? opt->listener : NULL,
        };
        if ((rc = http_route_add(srv, &r, err)) != 0)
            return rc;
    }
    static const char *const dcat[] = {"/servicekatalog.jsonld", "/servicekatalog.ttl"};
    for (size_t k = 0; k < 2; k++) {
        struct http_route r = {
            .methods = HTTP_GET,
            .path = dcat[k],
            .handler = dcat_handler,
            .ctx = ex,
            .listener = opt ? opt->listener : NULL,
        };
        if ((rc = http_route_add(srv, &r, err)) != 0)
            return rc;
    }
    return 0;
}
