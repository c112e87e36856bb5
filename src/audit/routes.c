/*
 * routes.c: the disclosure log's API (see routes.h). Each handler decides
 * the viewer from the caller's roles, builds the filter from the query,
 * lets audit_filter_scope narrow it, and answers one keyset page as JSON or
 * CSV.
 */
#include "audit/routes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"

#define BASE "/api/disclosures"

/* A time bound: a date (its midnight UTC) or a timestamp. */
static int parse_time(str_t v, const char *name, int64_t *ms, err_t *err)
{
    int32_t days;
    if (clock_parse_date(v, &days) == 0) {
        *ms = (int64_t)days * 86400000LL;
        return 0;
    }
    if (clock_parse_timestamp(v, ms, 1) == 0)
        return 0;
    return err_param(err, DUPLA_EINVAL, name,
                     "%s must be a date yyyy-mm-dd or a time yyyy-mm-ddTHH:MM:SSZ", name);
}

/* The filter from the query. The route's table (below) has already refused
 * a parameter its view does not take; the values are checked here. */
static int build_filter(http_request_t *req, struct audit_filter *f, err_t *err)
{
    memset(f, 0, sizeof *f);
    f->newest_first = true;
    str_t v;
    http_req_query(req, "org", &f->org_cvr);
    http_req_query(req, "agreement", &f->agreement_id);
    http_req_query(req, "service", &f->service);
    http_req_query(req, "subject", &f->subject);
    if (http_req_query(req, "subject_kind", &v) && v.len) {
        if (audit_subject_kind_parse(v, &f->subject_kind) != 0)
            return err_param(err, DUPLA_EINVAL, "subject_kind",
                             "subject_kind must be cpr, cvr or se");
        f->subject_kind_set = true;
    }
    if (http_req_query(req, "outcome", &v) && v.len) {
        if (audit_outcome_parse(v, &f->outcome) != 0)
            return err_param(err, DUPLA_EINVAL, "outcome", "outcome must be disclosed or refused");
        f->outcome_set = true;
    }
    int rc;
    if (http_req_query(req, "from", &v) && v.len && (rc = parse_time(v, "from", &f->from_ms, err)))
        return rc;
    if (http_req_query(req, "to", &v) && v.len && (rc = parse_time(v, "to", &f->to_ms, err)))
        return rc;
    if (http_req_query(req, "after", &v) && v.len &&
        (str_to_int64(v, &f->after) != 0 || f->after < 0))
        return err_param(err, DUPLA_EINVAL, "after", "after must be a cursor from \"next\"");
    if (http_req_query(req, "limit", &v) && v.len) {
        int64_t n;
        if (str_to_int64(v, &n) != 0 || n < 1 || n > AUDIT_PAGE_MAX)
            return err_param(err, DUPLA_EINVAL, "limit", "limit must be 1 to %d", AUDIT_PAGE_MAX);
        f->limit = (unsigned)n;
    }
    if (http_req_query(req, "order", &v) && v.len) {
        if (!str_eq_cstr(v, "newest") && !str_eq_cstr(v, "oldest"))
            return err_param(err, DUPLA_EINVAL, "order", "order must be newest or oldest");
        f->newest_first = str_eq_cstr(v, "newest");
    }
    return 0;
}

/* CSV when ?format=csv or the client accepts text/csv (and not asked for
 * JSON by format). */
static int want_csv(http_request_t *req, bool *csv, err_t *err)
{
    str_t v;
    *csv = false;
    if (http_req_query(req, "format", &v) && v.len) {
        if (!str_eq_cstr(v, "csv") && !str_eq_cstr(v, "json"))
            return err_param(err, DUPLA_EINVAL, "format", "format must be csv or json");
        *csv = str_eq_cstr(v, "csv");
        return 0;
    }
    str_t accept;
    if (http_req_header(req, "Accept", &accept))
        for (size_t i = 0; i + 8 <= accept.len && !*csv; i++)
            *csv = str_eq_nocase(str_sub(accept, i, 8), STR("text/csv"));
    return 0;
}

static int answer(http_request_t *req, struct audit_routes *r, enum audit_viewer viewer,
                  const struct audit_http_caller *c, err_t *err)
{
    struct audit_filter f;
    bool csv;
    int rc = build_filter(req, &f, err);
    if (rc || (rc = want_csv(req, &csv, err)))
        return rc;
    if (viewer == AUDIT_VIEWER_SUBJECT) {
        f.outcome_set = true; /* who received data: disclosures only */
        f.outcome = AUDIT_DISCLOSED;
    }
    if ((rc = audit_filter_scope(viewer, str_from_cstr(c->org_cvr), &f, err)))
        return rc;
    arena_t *arena = arena_new(AUDIT_HTTP_ARENA_MAX);
    if (!arena)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct audit_page page;
    buf_t out;
    buf_init(&out, AUDIT_HTTP_OUTPUT_MAX);
    rc = audit_query(r->st, &f, viewer == AUDIT_VIEWER_DATA_OWNER ? NULL : &r->lookup, arena, &page,
                     err);
    if (rc == 0) {
        int wrc;
        if (csv) {
            wrc = audit_csv_header(&out);
            for (size_t i = 0; wrc == 0 && i < page.n; i++)
                wrc = audit_row_csv(&page.rows[i], &out);
        } else {
            wrc = audit_page_json(&page, &out);
        }
        if (wrc)
            rc = err_param(err, DUPLA_ELIMIT, "limit",
                           "the page is too large; ask with a smaller limit");
    }
    if (rc == 0) {
        http_reply_header(req, "Cache-Control", "no-store");
        if (page.next) {
            char next[32];
            snprintf(next, sizeof next, "%lld", (long long)page.next);
            http_reply_header(req, "X-Next-Cursor", next);
        }
        rc = http_reply_data(req, 200, csv ? "text/csv; charset=utf-8" : "application/json",
                             buf_str(&out));
    }
    buf_free(&out);
    arena_free(arena);
    return rc;
}

static int h_disclosures(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    struct audit_http_caller c;
    memset(&c, 0, sizeof c);
    int rc = r->auth.caller ? r->auth.caller(req, r->auth.ctx, &c, err)
                            : err_internal(err, DUPLA_EINTERNAL, "audit routes: no auth");
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    if (str_eq_cstr(path, BASE)) {
        if (!(c.roles & AUDIT_CALLER_STAFF))
            return err_set(err, DUPLA_EFORBIDDEN,
                           "searching every disclosure needs the role dataforvaltning or operator "
                           "of the data owner");
        return answer(req, r, AUDIT_VIEWER_DATA_OWNER, &c, err);
    }
    if (str_eq_cstr(path, BASE "/own")) {
        if (!(c.roles & AUDIT_CALLER_RECIPIENT_ADMIN) || !c.org_cvr[0])
            return err_set(err, DUPLA_EFORBIDDEN,
                           "an organisation's disclosures need the role administrator in it");
        return answer(req, r, AUDIT_VIEWER_RECIPIENT, &c, err);
    }
    if (str_eq_cstr(path, BASE "/subject")) {
        if (!(c.roles & AUDIT_CALLER_STAFF))
            return err_set(err, DUPLA_EFORBIDDEN,
                           "the data owner's staff answer for a citizen or company");
        return answer(req, r, AUDIT_VIEWER_SUBJECT, &c, err);
    }
    return err_set(err, DUPLA_ENOTFOUND, "no such resource");
}

/* ---- data errors ---- */

#define ERRATA                 BASE "/errata"
#define AUDIT_ERRATUM_BODY_MAX (256 * 1024)

static int staff_or_refuse(http_request_t *req, struct audit_routes *r, struct audit_http_caller *c,
                           err_t *err)
{
    memset(c, 0, sizeof *c);
    int rc = r->auth.caller ? r->auth.caller(req, r->auth.ctx, c, err)
                            : err_internal(err, DUPLA_EINTERNAL, "audit routes: no auth");
    if (rc == 0 && !(c->roles & AUDIT_CALLER_STAFF))
        rc = err_set(err, DUPLA_EFORBIDDEN,
                     "data errors are marked and shown by the data owner's dataforvaltning or "
                     "operator");
    return rc;
}

static str_t jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? (str_t){json_string_value(v), json_string_length(v)} : STR("");
}

/* The mark from a request body; every refusal names its member. */
static int mark_from_json(const json_t *o, struct audit_erratum_mark *m,
                          struct audit_erratum_version *vs, err_t *err)
{
    static const char *const keys[] = {"delivery", "service",     "versions",
                                       "reason",   "replacement", NULL};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key) != 0)
            i++;
        if (!keys[i])
            return err_param(err, DUPLA_EINVAL, key, "%s is not a member of a data error", key);
        if (strcmp(key, "versions") == 0 ? !json_is_array(v) : !json_is_string(v))
            return err_param(err, DUPLA_EINVAL, key, "%s must be %s", key,
                             strcmp(key, "versions") == 0 ? "a list" : "a string");
    }
    m->delivery_id = jstr(o, "delivery");
    m->reason = jstr(o, "reason");
    m->replacement = jstr(o, "replacement");
    const json_t *list = json_object_get(o, "versions");
    size_t n = json_array_size(list);
    if (n > AUDIT_ERRATUM_VERSIONS_MAX)
        return err_param(err, DUPLA_ELIMIT, "versions", "at most %d versions",
                         AUDIT_ERRATUM_VERSIONS_MAX);
    str_t service = jstr(o, "service");
    if (n && !service.len)
        return err_param(err, DUPLA_EINVAL, "service", "versions need the service");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(list, i), *ver = json_object_get(x, "version");
        if (!json_is_object(x) || !json_is_integer(ver) ||
            audit_subject_kind_parse(jstr(x, "subject_kind"), &vs[i].kind) ||
            !json_is_string(json_object_get(x, "subject")) ||
            (json_object_get(x, "period") && !json_is_string(json_object_get(x, "period"))))
            return err_param(err, DUPLA_EINVAL, "versions",
                             "version %zu must be {\"subject_kind\": \"cpr\"|\"cvr\"|\"se\", "
                             "\"subject\", \"period\", \"version\": n}",
                             i);
        vs[i].service = service;
        vs[i].subject = jstr(x, "subject");
        vs[i].period = jstr(x, "period");
        vs[i].version = (int64_t)json_integer_value(ver);
    }
    m->versions = vs;
    m->n_versions = n;
    return 0;
}

static int h_errata(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    struct audit_http_caller c;
    int rc = staff_or_refuse(req, r, &c, err);
    if (rc)
        return rc;
    str_t path = http_req_path(req);
    json_t *out = NULL;
    if (str_eq_cstr(path, ERRATA) && http_req_method(req) != HTTP_POST) {
        if ((rc = audit_erratum_list(r->st, &out, err)))
            return rc;
        http_reply_header(req, "Cache-Control", "no-store");
        return http_reply_json(req, 200, json_pack("{s:o}", "data", out));
    }
    if (!str_eq_cstr(path, ERRATA)) {
        str_t tail = str_sub(path, sizeof ERRATA, path.len);
        int64_t id;
        bool digits = tail.len > 0 && tail.len < 19;
        for (size_t i = 0; digits && i < tail.len; i++)
            digits = tail.ptr[i] >= '0' && tail.ptr[i] <= '9';
        if (!digits || str_to_int64(tail, &id) != 0 || id < 1)
            return err_param(err, DUPLA_EINVAL, "id",
                             "a data error is " ERRATA "/<id>, id a whole number >= 1");
        if ((rc = audit_erratum_report(r->st, id, &out, err)))
            return rc;
        http_reply_header(req, "Cache-Control", "no-store");
        return http_reply_json(req, 200, out);
    }
    str_t body = http_req_body(req);
    json_error_t je;
    json_t *o = json_parse(body.ptr, body.len, JSON_REJECT_DUPLICATES, &je, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_param(err, DUPLA_EINVAL, "body", "the body must be a JSON object");
    }
    struct audit_erratum_version *vs = calloc(AUDIT_ERRATUM_VERSIONS_MAX, sizeof *vs);
    struct audit_erratum_mark m = {.actor = str_from_cstr(c.name)};
    int64_t id = 0;
    bool existed = false;
    struct audit_erratum_sent sent;
    if (!vs)
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    if (!rc)
        rc = mark_from_json(o, &m, vs, err);
    if (!rc)
        rc = audit_erratum_mark(r->st, &m, clock_now_ms(), &id, &existed, err);
    if (!rc)
        rc =
            audit_erratum_notify(r->st, id, r->contact, r->contact_ctx, clock_now_ms(), &sent, err);
    if (!rc)
        rc = audit_erratum_report(r->st, id, &out, err);
    free(vs);
    json_decref(o);
    if (rc)
        return rc;
    json_object_set_new(out, "notices_queued", json_integer((json_int_t)sent.queued));
    char loc[64];
    snprintf(loc, sizeof loc, ERRATA "/%lld", (long long)id);
    http_reply_header(req, "Location", loc);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, existed ? 200 : 201, out);
}

/* What each view takes (struct http_route.query): the paging and format
 * parameters, and the view's own filters. */
static const char *const subject_kinds[] = {"cpr", "cvr", "se", NULL};
static const char *const outcomes[] = {"disclosed", "refused", NULL};
static const char *const orders[] = {"newest", "oldest", NULL};
static const char *const formats[] = {"csv", "json", NULL};
#define Q_TEXT(n)                                                                                  \
    {                                                                                              \
        .name = (n), .type = HTTP_PARAM_STRING                                                     \
    }
#define Q_ENUM(n, list)                                                                            \
    {                                                                                              \
        .name = (n), .type = HTTP_PARAM_ENUM, .values = (list)                                     \
    }
#define Q_TIME(n)                                                                                  \
    {                                                                                              \
        .name = (n), .type = HTTP_PARAM_TIME                                                       \
    }
#define Q_PAGING                                                                                   \
    Q_TEXT("after"), Q_TEXT("limit"), Q_ENUM("order", orders), Q_ENUM("format", formats)
static const struct http_param q_all[] = {
    Q_PAGING,
    Q_TEXT("org"),
    Q_TEXT("agreement"),
    Q_TEXT("service"),
    Q_TEXT("subject"),
    Q_ENUM("subject_kind", subject_kinds),
    Q_ENUM("outcome", outcomes),
    Q_TIME("from"),
    Q_TIME("to"),
    {0},
};
static const struct http_param q_own[] = {
    Q_PAGING,
    Q_TEXT("agreement"),
    Q_TEXT("service"),
    Q_ENUM("outcome", outcomes),
    Q_TIME("from"),
    Q_TIME("to"),
    {0},
};
static const struct http_param q_subject[] = {
    Q_PAGING,       Q_TEXT("subject"), Q_ENUM("subject_kind", subject_kinds),
    Q_TIME("from"), Q_TIME("to"),      {0},
};

int audit_routes_register(http_server_t *srv, struct audit_routes *r, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = BASE,
         .handler = h_disclosures,
         .ctx = r,
         .query = q_all},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = BASE "/own",
         .handler = h_disclosures,
         .ctx = r,
         .query = q_own},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = BASE "/subject",
         .handler = h_disclosures,
         .ctx = r,
         .query = q_subject},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    const struct http_route errata[] = {
        {.methods = HTTP_GET | HTTP_HEAD | HTTP_POST,
         .path = ERRATA,
         .handler = h_errata,
         .ctx = r,
         .max_body = AUDIT_ERRATUM_BODY_MAX,
         .query = http_params_none},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = ERRATA "/",
         .flags = HTTP_ROUTE_PREFIX,
         .handler = h_errata,
         .ctx = r,
         .query = http_params_none},
    };
    for (size_t i = 0; i < sizeof errata / sizeof errata[0]; i++) {
        int rc = http_route_add(srv, &errata[i], err);
        if (rc)
            return rc;
    }
    return audit_transparency_register(srv, r, err);
}
