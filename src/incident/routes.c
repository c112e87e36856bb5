/*
 * routes.c: the incident JSON API and the public operations log (see
 * routes.h). Handlers ask the server's auth function who is calling, parse
 * the JSON body, and call the module's functions, which enforce who may do
 * what; failures return the error for the server to answer as a problem.
 */
#include "incident/routes.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define INCIDENTS "/api/incidents"
#define OPSLOG    "/api/opslog"

/* ---- helpers ---- */

static int who(http_request_t *req, struct incident_routes *r, struct incident_actor *a, err_t *err)
{
    memset(a, 0, sizeof *a);
    if (!r->auth.actor)
        return err_internal(err, DUPLA_EINTERNAL, "incident routes: no auth function");
    return r->auth.actor(req, r->auth.ctx, a, err);
}

/* A time member: "yyyy-mm-ddTHH:MM:SSZ" or ms. *present says whether it was
 * there (null counts as present with *null set). */
static int get_time(json_t *b, const char *key, int64_t *ms, bool *present, bool *null, err_t *err)
{
    json_t *v = json_object_get(b, key);
    *present = v != NULL;
    *null = v && json_is_null(v);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) &&
        clock_parse_timestamp((str_t){json_string_value(v), json_string_length(v)}, ms, 1) == 0)
        return 0;
    return err_param(err, DUPLA_EINVAL, key,
                     "%s must be a time \"yyyy-mm-ddTHH:MM:SSZ\" or milliseconds", key);
}

static int reply_incident(http_request_t *req, struct incident_routes *r,
                          const struct incident_actor *a, str_t id, unsigned status, err_t *err)
{
    json_t *doc;
    int rc = incident_get_json(r->inc, a, id, &doc, err);
    if (rc)
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, status, doc);
}

/* ---- the public operations log ---- */

static int h_page(http_request_t *req, void *ctx, err_t *err)
{
    struct incident_routes *r = ctx;
    bool rss = str_eq_cstr(http_req_path(req), "/driftsstatus.rss");
    buf_t b;
    buf_init(&b, OPSLOG_PAGE_MAX);
    opslog_t *log = incident_opslog(r->inc);
    int64_t now = clock_now_ms();
    int rc = rss ? opslog_render_rss(log, now, &b, err) : opslog_render_html(log, now, &b, err);
    if (rc == 0) {
        http_reply_header(req, "Cache-Control", "public, max-age=60");
        rc = http_reply_data(
            req, 200, rss ? "application/rss+xml; charset=utf-8" : "text/html; charset=utf-8",
            buf_str(&b));
    }
    buf_free(&b);
    return rc;
}

/* ---- /api/opslog ---- */

static int opslog_post(http_request_t *req, struct incident_routes *r,
                       const struct incident_actor *a, err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "kind", .type = HTTP_PARAM_STRING},
        {.name = "title", .type = HTTP_PARAM_STRING},
        {.name = "text", .type = HTTP_PARAM_STRING},
        {.name = "start", .type = HTTP_PARAM_ANY},
        {.name = "end", .type = HTTP_PARAM_ANY},
        {.name = "status", .type = HTTP_PARAM_STRING},
        {0},
    };
    struct opslog_post p = {.status = -1};
    const char *kind = NULL, *status = NULL;
    bool present, null;
    if (!(rc = http_json_check(b, keys, err)) &&
        !(rc = http_json_string(b, "kind", true, &kind, err)) &&
        !(rc = http_json_string(b, "title", true, &p.title, err)) &&
        !(rc = http_json_string(b, "text", false, &p.text, err)) &&
        !(rc = http_json_string(b, "status", false, &status, err)) &&
        !(rc = get_time(b, "start", &p.start_ms, &present, &null, err)) &&
        !(rc = get_time(b, "end", &p.end_ms, &present, &null, err))) {
        int k = opslog_kind_parse(kind);
        if (k < 0)
            rc = err_param(err, DUPLA_EINVAL, "kind",
                           "kind must be drift, servicevindue or information");
        p.kind = (enum opslog_kind)(k < 0 ? 0 : k);
        if (!rc && status && (p.status = opslog_status_parse(status)) < 0)
            rc = err_param(err, DUPLA_EINVAL, "status", "unknown status");
        if (!rc && p.start_ms == 0)
            rc = err_param(err, DUPLA_EINVAL, "start", "start is required");
    }
    int64_t id = 0;
    if (!rc)
        rc = opslog_post_entry(incident_opslog(r->inc), a, &p, clock_now_ms(), &id, err);
    json_decref(b);
    if (rc)
        return rc;
    return http_reply_json(req, 201, json_pack("{s:I}", "id", (json_int_t)id));
}

static int opslog_update(http_request_t *req, struct incident_routes *r,
                         const struct incident_actor *a, str_t idtext, err_t *err)
{
    int64_t id;
    if (str_to_int64(idtext, &id) != 0 || id <= 0)
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such entry");
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "text", .type = HTTP_PARAM_STRING},  {.name = "status", .type = HTTP_PARAM_STRING},
        {.name = "start", .type = HTTP_PARAM_ANY},    {.name = "end", .type = HTTP_PARAM_ANY},
        {.name = "title", .type = HTTP_PARAM_STRING}, {0},
    };
    struct opslog_change ch = {.status = -1};
    const char *status = NULL;
    bool present, null;
    if (!(rc = http_json_check(b, keys, err)) &&
        !(rc = http_json_string(b, "text", false, &ch.text, err)) &&
        !(rc = http_json_string(b, "title", false, &ch.title, err)) &&
        !(rc = http_json_string(b, "status", false, &status, err)) &&
        !(rc = get_time(b, "start", &ch.start_ms, &present, &null, err)) &&
        !(rc = get_time(b, "end", &ch.end_ms, &present, &null, err))) {
        if (null)
            ch.end_ms = -1; /* open again */
        if (status && (ch.status = opslog_status_parse(status)) < 0)
            rc = err_param(err, DUPLA_EINVAL, "status", "unknown status");
    }
    if (!rc)
        rc = opslog_update_entry(incident_opslog(r->inc), a, id, &ch, clock_now_ms(), err);
    json_decref(b);
    if (rc)
        return rc;
    return http_reply_json(req, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

static int h_opslog(http_request_t *req, void *ctx, err_t *err)
{
    struct incident_routes *r = ctx;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        json_t *arr;
        int rc = opslog_list_json(incident_opslog(r->inc), &arr, err);
        if (rc)
            return rc;
        return http_reply_json(req, 200, json_pack("{s:o}", "entries", arr));
    }
    struct incident_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    if (path.len <= sizeof OPSLOG)
        return opslog_post(req, r, &a, err);
    return opslog_update(req, r, &a, str_sub(path, sizeof OPSLOG, path.len), err);
}

/* ---- /api/incidents ---- */

static int list(http_request_t *req, struct incident_routes *r, const struct incident_actor *a,
                err_t *err)
{
    char org[INCIDENT_CVR_MAX] = "", assignee[INCIDENT_NAME_MAX] = "", status[32] = "";
    struct incident_filter f = {.status = -1};
    str_t v;
    if (http_req_query(req, "org", &v) && v.len) {
        if (v.len != 8 || !str_is_digits(v) || str_copy(v, org, sizeof org) != 0)
            return err_param(err, DUPLA_EINVAL, "org", "org must be a CVR number (8 digits)");
        if (!(a->roles & INCIDENT_ROLE_STAFF) && strcmp(org, a->org_cvr) != 0)
            return err_param(err, DUPLA_EFORBIDDEN, "org", "only your own organisation");
        f.org_cvr = org;
    }
    if (http_req_query(req, "status", &v) && v.len) {
        if (str_copy(v, status, sizeof status) != 0 ||
            (f.status = incident_status_parse(status)) < 0)
            return err_param(err, DUPLA_EINVAL, "status", "unknown status");
    }
    if (http_req_query(req, "assignee", &v)) {
        if (str_copy(v, assignee, sizeof assignee) != 0)
            return err_param(err, DUPLA_EINVAL, "assignee", "assignee is too long");
        f.assignee = assignee;
    }
    json_t *arr;
    int rc = incident_list_json(r->inc, a, &f, &arr, err);
    if (rc)
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200, json_pack("{s:o}", "incidents", arr));
}

static int created(http_request_t *req, struct incident_routes *r, const struct incident_actor *a,
                   const char *id, err_t *err)
{
    char loc[sizeof INCIDENTS + INCIDENT_ID_LEN + 2];
    snprintf(loc, sizeof loc, "%s/%s", INCIDENTS, id);
    http_reply_header(req, "Location", loc);
    return reply_incident(req, r, a, str_from_cstr(id), 201, err);
}

static int report(http_request_t *req, struct incident_routes *r, const struct incident_actor *a,
                  err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    char id[INCIDENT_ID_LEN + 1];
    rc = incident_report_json(r->inc, a, b, id, err);
    json_decref(b);
    return rc ? rc : created(req, r, a, id, err);
}

static int phone(http_request_t *req, struct incident_routes *r, const struct incident_actor *a,
                 err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "org", .type = HTTP_PARAM_STRING},
        {.name = "caller", .type = HTTP_PARAM_STRING},
        {.name = "caller_email", .type = HTTP_PARAM_STRING},
        {.name = "type", .type = HTTP_PARAM_STRING},
        {.name = "title", .type = HTTP_PARAM_STRING},
        {.name = "description", .type = HTTP_PARAM_STRING},
        {.name = "agreement_id", .type = HTTP_PARAM_STRING},
        {0},
    };
    struct incident_phone_report p = {0};
    const char *type = NULL;
    if (!(rc = http_json_check(b, keys, err)) &&
        !(rc = http_json_string(b, "org", true, &p.org_cvr, err)) &&
        !(rc = http_json_string(b, "caller", true, &p.caller, err)) &&
        !(rc = http_json_string(b, "caller_email", false, &p.caller_email, err)) &&
        !(rc = http_json_string(b, "type", true, &type, err)) &&
        !(rc = http_json_string(b, "title", false, &p.title, err)) &&
        !(rc = http_json_string(b, "description", true, &p.description, err)) &&
        !(rc = http_json_string(b, "agreement_id", false, &p.agreement_id, err))) {
        int t = incident_type_parse(type);
        if (t < 0)
            rc = err_param(err, DUPLA_EINVAL, "type", "type must be Prod-Data, Prod-Aftale or TFE");
        p.type = (enum incident_type)(t < 0 ? 0 : t);
    }
    char id[INCIDENT_ID_LEN + 1];
    if (!rc)
        rc = incident_report_phone(r->inc, a, &p, id, err);
    json_decref(b);
    return rc ? rc : created(req, r, a, id, err);
}

static int h_incidents(http_request_t *req, void *ctx, err_t *err)
{
    struct incident_routes *r = ctx;
    struct incident_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD))
        return list(req, r, &a, err);
    return report(req, r, &a, err);
}

static int h_incident(http_request_t *req, void *ctx, err_t *err)
{
    struct incident_routes *r = ctx;
    struct incident_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    str_t rest = str_sub(path, sizeof INCIDENTS, path.len), id, sub;
    if (!str_split(rest, '/', &id, &sub))
        sub = STR("");
    if (id.len == 0)
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such incident");
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        if (sub.len)
            return err_set(err, DUPLA_ENOTFOUND, "no such resource");
        return reply_incident(req, r, &a, id, 200, err);
    }
    if (str_eq_cstr(id, "phone") && sub.len == 0)
        return phone(req, r, &a, err);
    json_t *b;
    if ((rc = http_req_json_object(req, true, &b, err)))
        return rc;
    if (str_eq_cstr(sub, "messages")) {
        static const struct http_param keys[] = {
            {.name = "text", .type = HTTP_PARAM_STRING},
            {.name = "to_reporter", .type = HTTP_PARAM_BOOL},
            {0},
        };
        const char *text = NULL;
        json_t *to = json_object_get(b, "to_reporter");
        if (!(rc = http_json_check(b, keys, err)) &&
            !(rc = http_json_string(b, "text", true, &text, err)) && to && !json_is_boolean(to))
            rc = err_param(err, DUPLA_EINVAL, "to_reporter", "to_reporter must be true or false");
        if (!rc)
            rc = incident_add_message(r->inc, &a, id, text, json_is_true(to), err);
    } else if (str_eq_cstr(sub, "status")) {
        static const struct http_param keys[] = {
            {.name = "status", .type = HTTP_PARAM_STRING},
            {.name = "note", .type = HTTP_PARAM_STRING},
            {0},
        };
        const char *status = NULL, *note = NULL;
        int st = -1;
        if (!(rc = http_json_check(b, keys, err)) &&
            !(rc = http_json_string(b, "status", true, &status, err)) &&
            !(rc = http_json_string(b, "note", false, &note, err)) &&
            (st = incident_status_parse(status)) < 0)
            rc = err_param(err, DUPLA_EINVAL, "status", "unknown status");
        if (!rc)
            rc = incident_set_status(r->inc, &a, id, (enum incident_status)st, note, err);
    } else if (str_eq_cstr(sub, "assign")) {
        static const struct http_param keys[] = {
            {.name = "assignee", .type = HTTP_PARAM_STRING},
            {0},
        };
        const char *who_ = NULL;
        if (!(rc = http_json_check(b, keys, err)) &&
            !(rc = http_json_string(b, "assignee", true, &who_, err)))
            rc = incident_assign(r->inc, &a, id, who_, err);
    } else {
        rc = err_set(err, DUPLA_ENOTFOUND, "no such resource");
    }
    json_decref(b);
    return rc ? rc : reply_incident(req, r, &a, id, 200, err);
}

/* The list's filters (see struct http_route.query); the handler reads them. */
static const struct http_param q_list[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .min = 8, .max = 8},
    {.name = "status", .type = HTTP_PARAM_STRING, .max = 31},
    {.name = "assignee", .type = HTTP_PARAM_STRING, .max = INCIDENT_NAME_MAX - 1},
    {0},
};

int incident_routes_register(http_server_t *srv, struct incident_routes *r, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET | HTTP_HEAD, .path = "/driftsstatus", .handler = h_page, .ctx = r},
        {.methods = HTTP_GET | HTTP_HEAD, .path = "/driftsstatus.rss", .handler = h_page, .ctx = r},
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = OPSLOG,
         .handler = h_opslog,
         .ctx = r,
         .max_body = INCIDENT_API_MAX_BODY,
         .query = http_params_none},
        {.methods = HTTP_POST,
         .path = OPSLOG "/",
         .handler = h_opslog,
         .ctx = r,
         .flags = HTTP_ROUTE_PREFIX,
         .max_body = INCIDENT_API_MAX_BODY,
         .name = "opslog-entry",
         .query = http_params_none},
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = INCIDENTS,
         .handler = h_incidents,
         .ctx = r,
         .max_body = INCIDENT_API_MAX_BODY,
         .query = q_list},
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = INCIDENTS "/",
         .handler = h_incident,
         .ctx = r,
         .flags = HTTP_ROUTE_PREFIX,
         .max_body = INCIDENT_API_MAX_BODY,
         .name = "incident",
         .query = http_params_none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
