/*
 * routes.c: the applications' JSON API.
 *
 *   POST /api/enrolments          {name, cvr, contact_email, admin_name, admin_email,
 *                                  environments: ["test"|"production", ...]}: apply (no
 *                                  session; throttled per address: 429 with Retry-After)
 *   GET  /api/enrolments?status=pending|all   the data owner's queue (session)
 *   POST /api/enrolments/approve  {id}: create the organisation, mail the set-up link
 *   POST /api/enrolments/reject   {id, reason}: mail the reason
 *
 * The public POST answers 202 with nothing but that the application was
 * received: never whether its CVR number is known.
 */
#include <stdio.h>
#include <string.h>

#include "enrol/internal.h"
#include "enrol/routes.h"
#include "identity/routes.h"

static int member(json_t *j, const char *key, str_t *out)
{
    json_t *v = json_object_get(j, key);
    *out = v && json_is_string(v) ? (str_t){json_string_value(v), json_string_length(v)} : STR("");
    return 0;
}

static int envs_member(json_t *b, unsigned *out, err_t *err)
{
    *out = 0;
    json_t *v = json_object_get(b, "environments");
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        unsigned bit = 0;
        if (!json_is_string(x) || identity_envs_parse(str_from_cstr(json_string_value(x)), &bit))
            return err_param(err, DUPLA_EINVAL, "environments",
                             "environments must be a list of test and production");
        *out |= bit;
    }
    return 0;
}

static const struct http_param b_apply[] = {
    {.name = "name", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_NAME_MAX},
    {.name = "cvr", .type = HTTP_PARAM_STRING, .required = true, .max = 16},
    {.name = "contact_email", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_EMAIL_MAX},
    {.name = "admin_name", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_NAME_MAX},
    {.name = "admin_email", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_EMAIL_MAX},
    {.name = "environments", .type = HTTP_PARAM_ARRAY, .required = true},
    {0},
};
static const struct http_param b_approve[] = {
    {.name = "id", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_ID_LEN},
    {0},
};
static const struct http_param b_reject[] = {
    {.name = "id", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_ID_LEN},
    {.name = "reason", .type = HTTP_PARAM_STRING, .required = true, .max = ENROL_REASON_MAX},
    {0},
};

static int h_apply(http_request_t *req, enrol_t *r, err_t *err)
{
    json_t *b;
    int rc = http_req_json_params(req, false, b_apply, &b, err);
    if (rc)
        return rc;
    struct enrol_new in;
    member(b, "name", &in.name);
    member(b, "cvr", &in.cvr);
    member(b, "contact_email", &in.contact_email);
    member(b, "admin_name", &in.admin_name);
    member(b, "admin_email", &in.admin_email);
    long retry = 0;
    if (!(rc = envs_member(b, &in.environments, err)))
        rc = enrol_submit(r, &in, http_req_peer(req), &retry, NULL, err);
    json_decref(b);
    if (rc == DUPLA_ERATE) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", retry);
        http_reply_header(req, "Retry-After", ra);
    }
    if (rc)
        return rc;
    return http_reply_json(req, 202, json_pack("{s:s}", "status", "received"));
}

static int add(const struct enrol_application *a, void *ctx)
{
    json_array_append_new(ctx, enrol_json(a));
    return 0;
}

static int h_enrolments(http_request_t *req, void *ctx, err_t *err)
{
    enrol_t *r = ctx;
    if (http_req_method(req) == HTTP_POST)
        return h_apply(req, r, err);
    identity_actor_t a;
    int rc = identity_http_actor(req, r->id, &a, err);
    if (rc)
        return rc;
    str_t status = STR("pending");
    http_req_query(req, "status", &status);
    json_t *list = json_array();
    if ((rc = enrol_list(r, &a, !str_eq_cstr(status, "all"), add, list, err))) {
        json_decref(list);
        return rc;
    }
    return http_reply_json(req, 200, json_pack("{s:o}", "enrolments", list));
}

static int h_decide(http_request_t *req, enrol_t *r, bool approve, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, r->id, &a, err);
    if (rc || (rc = http_req_json_params(req, false, approve ? b_approve : b_reject, &b, err)))
        return rc;
    str_t id, reason;
    member(b, "id", &id);
    member(b, "reason", &reason);
    struct enrol_application out;
    rc = approve ? enrol_approve(r, &a, id, &out, err) : enrol_reject(r, &a, id, reason, &out, err);
    json_decref(b);
    return rc ? rc : http_reply_json(req, 200, enrol_json(&out));
}

static int h_approve(http_request_t *req, void *ctx, err_t *err)
{
    return h_decide(req, ctx, true, err);
}

static int h_reject(http_request_t *req, void *ctx, err_t *err)
{
    return h_decide(req, ctx, false, err);
}

static const struct http_param q_list[] = {
    {.name = "status",
     .type = HTTP_PARAM_ENUM,
     .values = (const char *const[]){"pending", "all", NULL}},
    {0},
};

int enrol_routes_register(http_server_t *srv, enrol_t *e, err_t *err)
{
    const struct http_param *none = http_params_none;
    const struct http_route routes[] = {
        {HTTP_GET | HTTP_HEAD | HTTP_POST, "/api/enrolments", h_enrolments, e, 0,
         ENROL_API_MAX_BODY, NULL, "enrolments", q_list},
        {HTTP_POST, "/api/enrolments/approve", h_approve, e, 0, ENROL_API_MAX_BODY, NULL,
         "enrolment-approve", none},
        {HTTP_POST, "/api/enrolments/reject", h_reject, e, 0, ENROL_API_MAX_BODY, NULL,
         "enrolment-reject", none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
