/*
 * builtin.c: the routes every dupla server answers.
 *
 *   GET /health/live    200 while the process serves at all
 *   GET /health/ready   200 when the ready check passes (the store answers);
 *                       503 problem (with Retry-After) when it does not or
 *                       when the server is stopping
 *   GET /metrics        Prometheus text (metrics.c), only on the listeners
 *                       with "metrics" (by default those on a loopback
 *                       address): never on a public one
 *   GET /whoami         on listeners that take client certificates: what
 *                       the server made of the certificate presented, for
 *                       recipients debugging their set-up
 *   GET /_fault         the fault test build only (core/fault.h): what the
 *                       last request with an X-Dupla-Fault header met
 */
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/fault.h"
#include "core/problem.h"
#include "http/internal.h"

#define METRICS_MAX (4u * 1024 * 1024)

static int health_live(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    return http_reply_json(req, 200, json_pack("{s:s}", "status", "live"));
}

static int health_ready(http_request_t *req, void *ctx, err_t *err)
{
    http_server_t *srv = ctx;
    if (http_server_stopping(srv)) {
        err_set(err, DUPLA_EBUSY, "The server is shutting down.");
        err_problem(err, PROBLEM_SHUTTING_DOWN);
        return err->code;
    }
    if (srv->ready_fn) {
        err_t why;
        err_clear(&why);
        if (srv->ready_fn(srv->ready_ctx, &why) != 0) {
            /* The reason goes to the log only: it may name internals. */
            err_internal(err, DUPLA_EBUSY, "not ready: %s", why.log);
            snprintf(err->detail, sizeof err->detail, "The platform is not ready to serve.");
            err_problem(err, PROBLEM_NOT_READY);
            return err->code;
        }
    }
    return http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

static int metrics(http_request_t *req, void *ctx, err_t *err)
{
    http_server_t *srv = ctx;
    buf_t b;
    buf_init(&b, METRICS_MAX);
    int rc = http_metrics_render(srv, &b);
    if (rc) {
        buf_free(&b);
        return err_internal(err, rc, "metrics: rendering failed (%d)", rc);
    }
    rc = http_reply_data(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&b));
    buf_free(&b);
    return rc;
}

static json_t *opt_string(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *time_string(int64_t ms)
{
    char t[32];
    clock_format_s(ms, t, sizeof t);
    return json_string(t);
}

static int whoami(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    const struct http_client_cert *cert = http_req_client_cert(req);
    if (!cert) {
        err_set(err, DUPLA_ENOTFOUND, "This listener takes no client certificates.");
        return err->code;
    }
    if (!cert->present) {
        err_set(err, DUPLA_EUNAUTH, "No client certificate was presented.");
        err_problem(err, PROBLEM_CLIENT_CERT_REQUIRED);
        return err->code;
    }
    const struct pki_cert_info *i = &cert->info;
    json_t *body = json_object();
    json_object_set_new(body, "subject", opt_string(i->subject));
    json_object_set_new(body, "issuer", opt_string(i->issuer));
    json_object_set_new(body, "common_name", opt_string(i->common_name));
    json_object_set_new(body, "cvr", opt_string(i->cvr));
    json_object_set_new(body, "uid", opt_string(i->uid));
    json_object_set_new(body, "serial", opt_string(i->serial_hex));
    json_object_set_new(body, "sha256", opt_string(i->sha256_hex));
    json_object_set_new(body, "not_before", time_string(i->not_before_ms));
    json_object_set_new(body, "not_after", time_string(i->not_after_ms));
    json_object_set_new(body, "verified", json_boolean(cert->verified));
    json_object_set_new(body, "reason", cert->verified ? json_null() : opt_string(cert->reason));
    json_object_set_new(body, "listener", json_string(http_req_listener(req)));
    return http_reply_json(req, 200, body);
}

#if DUPLA_FAULT_INJECTION
#define FAULT_REPORT_WAIT_MS 2000

/* The report of the last armed request, once it has completed (its client
 * may ask a moment before the server has finished with it). */
static int fault_status(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    struct fault_report r;
    fault_report(&r);
    for (int i = 0; i < FAULT_REPORT_WAIT_MS && r.armed && !r.done; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        fault_report(&r);
    }
    return http_reply_json(req, 200,
                           json_pack("{s:s, s:b, s:b, s:I, s:b, s:s}", "spec", r.spec, "armed",
                                     r.armed, "done", r.done, "calls", (json_int_t)r.calls, "fired",
                                     r.fired, "what", r.what));
}
#endif

int http_builtin_register(http_server_t *srv, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET,
         .path = "/health/live",
         .handler = health_live,
         .flags = HTTP_ROUTE_ANY_LISTENER,
         .name = "health_live"},
        {.methods = HTTP_GET,
         .path = "/health/ready",
         .handler = health_ready,
         .ctx = srv,
         .flags = HTTP_ROUTE_ANY_LISTENER,
         .name = "health_ready"},
#if DUPLA_FAULT_INJECTION
        {.methods = HTTP_GET,
         .path = "/_fault",
         .handler = fault_status,
         .flags = HTTP_ROUTE_ANY_LISTENER,
         .name = "fault"},
#endif
    };
    int rc;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if ((rc = http_route_add(srv, &routes[i], err)))
            return rc;
    for (size_t i = 0; i < srv->n_listeners; i++) {
        const struct listener_config *lc = srv->listeners[i].cfg;
        if (!lc->metrics)
            continue;
        struct http_route r = {.methods = HTTP_GET,
                               .path = "/metrics",
                               .handler = metrics,
                               .ctx = srv,
                               .listener = lc->name,
                               .name = "metrics"};
        if ((rc = http_route_add(srv, &r, err)))
            return rc;
    }
    for (size_t i = 0; i < srv->n_listeners; i++) {
        const struct listener_config *lc = srv->listeners[i].cfg;
        if (lc->client_cert == CLIENT_CERT_NONE)
            continue;
        struct http_route r = {.methods = HTTP_GET,
                               .path = "/whoami",
                               .handler = whoami,
                               .listener = lc->name,
                               .name = "whoami"};
        if ((rc = http_route_add(srv, &r, err)))
            return rc;
    }
    return 0;
}
