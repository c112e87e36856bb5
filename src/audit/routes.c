/*
 * routes.c: the disclosure log's API (see routes.h). Each handler decides
 * the viewer from the caller's roles, builds the filter from the query,
 * lets audit_filter_scope narrow it, and answers one keyset page as JSON or
 * CSV.
 */
#include "audit/routes.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"

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
    return audit_transparency_register(srv, r, err);
}
