/*
 * routes.c: the agreement JSON API (see routes.h for the list). Each handler
 * asks the server's auth function who is calling, parses its JSON body,
 * calls the life-cycle function (which enforces roles, organisation and
 * four eyes) and answers with the agreement document; failures return the
 * error for the server to answer as a problem.
 */
#include "agreement/routes.h"

#include <string.h>

#define API_PREFIX "/api/agreements"

/* ---- request helpers ---- */

static int who(http_request_t *req, struct agreement_routes *r, struct agreement_actor *a,
               err_t *err)
{
    memset(a, 0, sizeof *a);
    if (!r->auth.actor)
        return err_internal(err, DUPLA_EINTERNAL, "agreement routes: no auth function");
    return r->auth.actor(req, r->auth.ctx, a, err);
}

static int reply_document(http_request_t *req, struct agreement_routes *r,
                          const struct agreement_actor *a, str_t id, unsigned status, err_t *err)
{
    json_t *doc;
    int rc = agreement_document_json(r->ag, a, id, &doc, err);
    if (rc)
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, status, doc);
}

/* ---- /api/agreements ---- */

static int list(http_request_t *req, struct agreement_routes *r, const struct agreement_actor *a,
                err_t *err)
{
    char org[AGREEMENT_CVR_MAX] = "";
    char state[32] = "";
    str_t v;
    if (http_req_query(req, "org", &v) && v.len) {
        if (str_copy(v, org, sizeof org) != 0 || !str_is_digits(v) || v.len != 8)
            return err_param(err, DUPLA_EINVAL, "org", "org must be a CVR number (8 digits)");
    }
    struct agreement_filter f = {.org_cvr = org[0] ? org : NULL, .state = -1};
    if (http_req_query(req, "state", &v) && v.len) {
        if (str_copy(v, state, sizeof state) != 0 || (f.state = agreement_state_parse(state)) < 0)
            return err_param(err, DUPLA_EINVAL, "state", "unknown state");
    }
    /* An organisation's users see their own organisation only. */
    if (f.org_cvr && a->org_cvr[0] && strcmp(f.org_cvr, a->org_cvr) != 0 &&
        !(a->roles & (AGREEMENT_ROLE_DATAFORVALTNING | AGREEMENT_ROLE_OPERATOR)))
        return err_param(err, DUPLA_EFORBIDDEN, "org", "only your own organisation");
    json_t *arr;
    int rc = agreement_list(r->ag, a, &f, &arr, err);
    if (rc)
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200, json_pack("{s:o}", "agreements", arr));
}

static int create(http_request_t *req, struct agreement_routes *r, const struct agreement_actor *a,
                  err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "environment", .type = HTTP_PARAM_STRING},
        {.name = "application", .type = HTTP_PARAM_OBJECT},
        {.name = "template", .type = HTTP_PARAM_STRING, .max = AGREEMENT_ID_LEN},
        {0},
    };
    const char *envname = NULL;
    enum environment env = r->default_env;
    json_t *app = json_object_get(b, "application");
    if (!(rc = http_json_check(b, keys, err)) &&
        !(rc = http_json_string(b, "environment", false, &envname, err))) {
        if (envname && strcmp(envname, "production") == 0)
            env = ENV_PRODUCTION;
        else if (envname && strcmp(envname, "test") == 0)
            env = ENV_TEST;
        else if (envname)
            rc = err_param(err, DUPLA_EINVAL, "environment",
                           "environment must be \"production\" or \"test\"");
    }
    json_t *tpl = json_object_get(b, "template");
    if (!rc && tpl && app)
        rc = err_param(err, DUPLA_EINVAL, "template",
                       "give either an application or a template, not both");
    else if (!rc && !tpl && !json_is_object(app))
        rc = err_param(err, DUPLA_EINVAL, "application", "application must be a JSON object");
    char id[AGREEMENT_ID_LEN + 1];
    if (!rc && tpl)
        rc = agreement_create_from_template(
            r->ag, a, env, (str_t){json_string_value(tpl), json_string_length(tpl)}, id, err);
    else if (!rc)
        rc = agreement_create(r->ag, a, env, app, id, err);
    json_decref(b);
    if (rc)
        return rc;
    char loc[sizeof API_PREFIX + AGREEMENT_ID_LEN + 2];
    snprintf(loc, sizeof loc, "%s/%s", API_PREFIX, id);
    http_reply_header(req, "Location", loc);
    return reply_document(req, r, a, str_from_cstr(id), 201, err);
}

static int h_collection(http_request_t *req, void *ctx, err_t *err)
{
    struct agreement_routes *r = ctx;
    struct agreement_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD))
        return list(req, r, &a, err);
    return create(req, r, &a, err);
}

/* ---- /api/agreements/<id>[/<sub>] ---- */

static const struct {
    const char *name;
    enum agreement_action action;
} steps[] = {
    {"sign", AGREEMENT_SIGN},
    {"approve", AGREEMENT_APPROVE},
    {"reject", AGREEMENT_REJECT},
    {"return", AGREEMENT_RETURN},
    {"withdraw", AGREEMENT_WITHDRAW},
    {"suspend", AGREEMENT_SUSPEND},
    {"reactivate", AGREEMENT_REACTIVATE},
    {"revoke", AGREEMENT_REVOKE},
    {"terminate", AGREEMENT_TERMINATE},
};

static int edit(http_request_t *req, struct agreement_routes *r, const struct agreement_actor *a,
                str_t id, err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "application", .type = HTTP_PARAM_OBJECT},
        {0},
    };
    json_t *app = json_object_get(b, "application");
    if (!(rc = http_json_check(b, keys, err)) && !json_is_object(app))
        rc = err_param(err, DUPLA_EINVAL, "application", "application must be a JSON object");
    if (!rc)
        rc = agreement_edit(r->ag, a, id, app, err);
    json_decref(b);
    return rc ? rc : reply_document(req, r, a, id, 200, err);
}

static int step(http_request_t *req, struct agreement_routes *r, const struct agreement_actor *a,
                str_t id, enum agreement_action action, err_t *err)
{
    json_t *b;
    int rc = http_req_json_object(req, true, &b, err);
    if (rc)
        return rc;
    static const struct http_param keys[] = {
        {.name = "reason", .type = HTTP_PARAM_STRING},
        {.name = "assessment", .type = HTTP_PARAM_STRING},
        {.name = "granted", .type = HTTP_PARAM_ANY},
        {0},
    };
    struct agreement_step args = {0};
    if (!(rc = http_json_check(b, keys, err)) &&
        !(rc = http_json_string(b, "reason", false, &args.reason, err)) &&
        !(rc = http_json_string(b, "assessment", false, &args.assessment, err))) {
        json_t *g = json_object_get(b, "granted");
        if (g && !json_is_null(g) && action != AGREEMENT_APPROVE)
            rc = err_param(err, DUPLA_EINVAL, "granted", "granted belongs to approve only");
        else if (g && !json_is_null(g) && !json_is_object(g))
            rc = err_param(err, DUPLA_EINVAL, "granted",
                           "granted must be an object {\"service\": [fields]}");
        else if (g && !json_is_null(g))
            args.granted = g;
    }
    if (!rc)
        rc = agreement_step(r->ag, a, id, action, &args, err);
    json_decref(b);
    return rc ? rc : reply_document(req, r, a, id, 200, err);
}

/* POST /api/agreements/<id>/rate {rate_per_second, burst}: both 0 for the
 * default. */
static int rate(http_request_t *req, struct agreement_routes *r, const struct agreement_actor *a,
                str_t id, err_t *err)
{
    json_t *b;
    static const struct http_param keys[] = {
        {.name = "rate_per_second",
         .type = HTTP_PARAM_INT,
         .required = true,
         .min = 0,
         .max = AGREEMENT_RATE_MAX},
        {.name = "burst",
         .type = HTTP_PARAM_INT,
         .required = true,
         .min = 0,
         .max = AGREEMENT_RATE_MAX},
        {0},
    };
    int rc = http_req_json_params(req, false, keys, &b, err);
    if (rc)
        return rc;
    rc = agreement_set_rate(r->ag, a, id,
                            (unsigned)json_integer_value(json_object_get(b, "rate_per_second")),
                            (unsigned)json_integer_value(json_object_get(b, "burst")), err);
    json_decref(b);
    return rc ? rc : reply_document(req, r, a, id, 200, err);
}

static int h_item(http_request_t *req, void *ctx, err_t *err)
{
    struct agreement_routes *r = ctx;
    struct agreement_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    str_t rest = str_sub(path, sizeof API_PREFIX, path.len), id, sub;
    if (!str_split(rest, '/', &id, &sub))
        sub = STR("");
    if (id.len == 0)
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    enum http_method m = http_req_method(req);
    if (m & (HTTP_GET | HTTP_HEAD)) {
        if (sub.len == 0 || str_eq_cstr(sub, "document"))
            return reply_document(req, r, &a, id, 200, err);
        if (str_eq_cstr(sub, "history")) {
            json_t *doc;
            if ((rc = agreement_document_json(r->ag, &a, id, &doc, err)))
                return rc;
            json_t *out = json_pack("{s:O, s:O}", "id", json_object_get(doc, "id"), "history",
                                    json_object_get(doc, "history"));
            json_decref(doc);
            http_reply_header(req, "Cache-Control", "no-store");
            return http_reply_json(req, 200, out);
        }
        if (str_eq_cstr(sub, "document.html")) {
            buf_t b;
            buf_init(&b, AGREEMENT_HTML_MAX);
            rc = agreement_document_html(r->ag, &a, id, &b, err);
            if (rc == 0) {
                http_reply_header(req, "Cache-Control", "no-store");
                http_reply_header(req, "Content-Security-Policy",
                                  "default-src 'none'; style-src 'unsafe-inline'; "
                                  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
                rc = http_reply_data(req, 200, "text/html; charset=utf-8", buf_str(&b));
            }
            buf_free(&b);
            return rc;
        }
        return err_set(err, DUPLA_ENOTFOUND, "no such resource");
    }
    if ((m == HTTP_PUT && sub.len == 0) || (m == HTTP_POST && str_eq_cstr(sub, "edit")))
        return edit(req, r, &a, id, err);
    if (m == HTTP_POST && str_eq_cstr(sub, "rate"))
        return rate(req, r, &a, id, err);
    if (m == HTTP_POST)
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            if (str_eq_cstr(sub, steps[i].name))
                return step(req, r, &a, id, steps[i].action, err);
    return err_set(err, DUPLA_ENOTFOUND, "no such step");
}

/* ---- /api/agreement-templates ---- */

static int h_templates(http_request_t *req, void *ctx, err_t *err)
{
    struct agreement_routes *r = ctx;
    struct agreement_actor a;
    int rc = who(req, r, &a, err);
    if (rc)
        return rc;
    json_t *out;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        if ((rc = agreement_template_list(r->ag, &a, &out, err)))
            return rc;
        return http_reply_json(req, 200, json_pack("{s:o}", "templates", out));
    }
    json_t *b;
    if ((rc = http_req_json_object(req, false, &b, err)))
        return rc;
    char id[AGREEMENT_ID_LEN + 1];
    bool is_new = !json_is_string(json_object_get(b, "id"));
    rc = agreement_template_save(r->ag, &a, b, id, err);
    json_decref(b);
    if (rc || (rc = agreement_template_get(r->ag, &a, str_from_cstr(id), &out, err)))
        return rc;
    return http_reply_json(req, is_new ? 201 : 200, out);
}

static int h_template_publish(http_request_t *req, void *ctx, err_t *err)
{
    struct agreement_routes *r = ctx;
    struct agreement_actor a;
    json_t *b;
    static const struct http_param keys[] = {
        {.name = "id", .type = HTTP_PARAM_STRING, .required = true, .max = AGREEMENT_ID_LEN},
        {.name = "published", .type = HTTP_PARAM_BOOL, .required = true},
        {0},
    };
    int rc = who(req, r, &a, err);
    if (rc || (rc = http_req_json_params(req, false, keys, &b, err)))
        return rc;
    json_t *id = json_object_get(b, "id");
    str_t ids = {json_string_value(id), json_string_length(id)};
    rc = agreement_template_publish(r->ag, &a, ids, json_is_true(json_object_get(b, "published")),
                                    err);
    json_t *out = NULL;
    if (!rc)
        rc = agreement_template_get(r->ag, &a, ids, &out, err);
    json_decref(b);
    return rc ? rc : http_reply_json(req, 200, out);
}

/* The list's filters (see struct http_route.query); the handler reads them. */
static const struct http_param q_list[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .min = 8, .max = 8},
    {.name = "state", .type = HTTP_PARAM_STRING, .max = 31},
    {0},
};

int agreement_routes_register(http_server_t *srv, struct agreement_routes *r, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = API_PREFIX,
         .handler = h_collection,
         .ctx = r,
         .max_body = AGREEMENT_API_MAX_BODY,
         .name = "agreements",
         .query = q_list},
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = "/api/agreement-templates",
         .handler = h_templates,
         .ctx = r,
         .max_body = AGREEMENT_API_MAX_BODY,
         .name = "agreement-templates",
         .query = http_params_none},
        {.methods = HTTP_POST,
         .path = "/api/agreement-templates/publish",
         .handler = h_template_publish,
         .ctx = r,
         .max_body = 4096,
         .name = "agreement-template-publish",
         .query = http_params_none},
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT,
         .path = API_PREFIX "/",
         .handler = h_item,
         .ctx = r,
         .flags = HTTP_ROUTE_PREFIX,
         .max_body = AGREEMENT_API_MAX_BODY,
         .name = "agreement",
         .query = http_params_none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
