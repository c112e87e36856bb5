/*
 * routes.c: POST /ingest/<service> (see routes.h): a source system's
 * delivery over HTTPS, a thin wrapper over ingest_delivery() with the
 * request body as an in-memory source. The answer is the summary as JSON,
 * or a problem that lists the problems (line, field, reason).
 */
#include "ingest/routes.h"

#include <string.h>

#include "core/json.h"
#include "core/log.h"

#define PROBLEM_BASE "https://dupla.invalid/problems/"

static json_t *problems_json(const struct ingest_result *res)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < res->n_problems; i++) {
        const struct ingest_problem *p = &res->problems[i];
        json_t *o = json_pack("{s:I, s:s}", "line", (json_int_t)p->line, "reason", p->reason);
        if (p->field[0])
            json_object_set_new(o, "field", json_string(p->field));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *summary_json(const struct ingest_result *res, const char *service)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "status",
                     res->status == INGEST_ALREADY ? "already-delivered" : "accepted", "service",
                     service, "delivery_id", res->delivery_id, "synthetic", res->synthetic,
                     "records", (json_int_t)res->records, "new_versions",
                     (json_int_t)res->new_versions, "unchanged", (json_int_t)res->unchanged,
                     "withdrawn", (json_int_t)res->withdrawn, "rejected", (json_int_t)res->rejected,
                     "registered_ms", (json_int_t)res->registered_ms);
}

/* A rejected delivery: 422 problem+json with the problems listed. */
static int reply_rejected(http_request_t *req, const struct ingest_result *res, const err_t *err)
{
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:o, s:I}", "type",
                          PROBLEM_BASE "delivery-rejected", "title", "Unprocessable Content",
                          "status", 422, "detail", err->detail[0] ? err->detail : "invalid lines",
                          "instance", http_req_id(req), "problems", problems_json(res),
                          "problems_total", (json_int_t)res->n_problems_total);
    char *text = json_text(p, JSON_COMPACT);
    json_decref(p);
    if (!text)
        return DUPLA_ENOMEM;
    int rc = http_reply_data(req, 422, "application/problem+json", str_from_cstr(text));
    free(text);
    return rc;
}

static int h_ingest(http_request_t *req, void *ctx, err_t *err)
{
    struct ingest_routes *r = ctx;
    char source[INGEST_SOURCE_NAME_MAX];
    int rc = r->auth.source ? r->auth.source(req, r->auth.ctx, source, sizeof source, err)
                            : err_internal(err, DUPLA_EINTERNAL, "ingest routes: no auth");
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    str_t name = str_sub(path, sizeof INGEST_HTTP_PREFIX - 1, path.len);
    const struct catalog_service *svc = name.len ? catalog_find(r->catalog, name) : NULL;
    if (!svc)
        return err_param(err, DUPLA_ENOTFOUND, "service", "no such data service");

    struct ingest_options opt = {.environment = r->environment, .source = source};
    char delivery_id[DATASET_DELIVERY_ID_MAX + 1];
    str_t v;
    if (http_req_query(req, "delivery_id", &v)) {
        if (v.len == 0 || str_copy(v, delivery_id, sizeof delivery_id) != 0)
            return err_param(err, DUPLA_EINVAL, "delivery_id", "delivery_id must be 1 to %d bytes",
                             DATASET_DELIVERY_ID_MAX);
        opt.delivery_id = delivery_id;
    }
    if (http_req_query(req, "synthetic", &v)) {
        if (!str_eq_cstr(v, "true") && !str_eq_cstr(v, "false"))
            return err_param(err, DUPLA_EINVAL, "synthetic", "synthetic must be true or false");
        opt.synthetic = str_eq_cstr(v, "true");
    }
    struct ingest_source src = {.name = "body", .data = http_req_body(req)};
    struct ingest_result res;
    memset(&res, 0, sizeof res);
    rc = ingest_delivery(r->st, svc, &src, 1, &opt, &res, err);
    log_json(LOG_INFO, "delivery",
             json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "service", svc->path, "source",
                       source, "delivery_id", res.delivery_id, "status",
                       ingest_status_name(res.status), "records", (json_int_t)res.records,
                       "new_versions", (json_int_t)res.new_versions, "unchanged",
                       (json_int_t)res.unchanged, "problems", (json_int_t)res.n_problems_total));
    if (rc == 0) {
        rc = http_reply_json(req, res.status == INGEST_ALREADY ? 200 : 201,
                             summary_json(&res, svc->path));
    } else if (rc == DUPLA_EINVAL && res.status == INGEST_REJECTED) {
        rc = reply_rejected(req, &res, err);
    }
    ingest_result_free(&res);
    return rc;
}

/* A delivery's query (see struct http_route.query); the handler reads it. */
static const struct http_param q_ingest[] = {
    {.name = "delivery_id", .type = HTTP_PARAM_STRING, .min = 1, .max = DATASET_DELIVERY_ID_MAX},
    {.name = "synthetic", .type = HTTP_PARAM_BOOL},
    {0},
};

int ingest_routes_register(http_server_t *srv, struct ingest_routes *r, err_t *err)
{
    struct http_route route = {.methods = HTTP_POST,
                               .path = INGEST_HTTP_PREFIX,
                               .handler = h_ingest,
                               .ctx = r,
                               .flags = HTTP_ROUTE_PREFIX | HTTP_ROUTE_CLIENT_CERT,
                               .max_body = INGEST_HTTP_MAX_BODY,
                               .listener = r->listener,
                               .name = "ingest",
                               .query = q_ingest};
    return http_route_add(srv, &route, err);
}
