/*
 * routes.c: the self-service test-data API (see routes.h). The handlers
 * check the environment, then the caller, then the parameters, and answer
 * from testdata_search.
 */
#include "testdata/routes.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"

#define STATUS_SERVICE "Virksomhedsstatus"
#define STATUS_FIELD   "VirksomhedStatusTypeKode"

static const char *const kinds[] = {"person", "company", NULL};

const struct http_param testdata_search_params[] = {
    {.name = "kind", .type = HTTP_PARAM_ENUM, .required = true, .values = kinds},
    {.name = "year", .type = HTTP_PARAM_INT, .min = TESTDATA_YEAR_MIN, .max = TESTDATA_YEAR_MAX},
    {.name = "income_min", .type = HTTP_PARAM_INT, .min = 0, .max = TESTDATA_INCOME_MAX},
    {.name = "income_max", .type = HTTP_PARAM_INT, .min = 0, .max = TESTDATA_INCOME_MAX},
    {.name = "residual_tax", .type = HTTP_PARAM_BOOL},
    {.name = "excess_tax", .type = HTTP_PARAM_BOOL},
    {.name = "church_tax", .type = HTTP_PARAM_BOOL},
    {.name = "vat", .type = HTTP_PARAM_BOOL},
    {.name = "joint_taxation", .type = HTTP_PARAM_BOOL},
    {.name = "status", .type = HTTP_PARAM_STRING, .min = 1, .max = 8},
    {.name = "service", .type = HTTP_PARAM_STRING, .repeat = true, .min = 1, .max = 128},
    {.name = "limit", .type = HTTP_PARAM_INT, .min = 1, .max = TESTDATA_SEARCH_LIMIT_MAX},
    {0},
};

int testdata_environment_check(enum environment env, err_t *err)
{
    if (env != ENV_PRODUCTION)
        return 0;
    err_set(err, DUPLA_EFORBIDDEN,
            "this is a production deployment: it holds no synthetic data, so it has no "
            "test-data search, subjects or changes");
    err_http(err, 403, TESTDATA_PROBLEM_PROD);
    return DUPLA_EFORBIDDEN;
}

/* A yes/no parameter, only for kind `only`. */
static int tri(http_request_t *req, const char *name, enum testdata_kind kind,
               enum testdata_kind only, enum testdata_tri *out, err_t *err)
{
    str_t v;
    *out = TESTDATA_ANY;
    if (!http_req_query(req, name, &v) || !v.len)
        return 0;
    if (kind != only)
        return err_param(err, DUPLA_EINVAL, name, "%s is only for kind=%s", name,
                         only == TESTDATA_PERSON ? "person" : "company");
    *out = str_eq_cstr(v, "true") ? TESTDATA_YES : TESTDATA_NO;
    return 0;
}

static int int_param(http_request_t *req, const char *name, bool *set, int64_t *out)
{
    str_t v;
    *set = false;
    if (!http_req_query(req, name, &v) || !v.len)
        return 0;
    *set = str_to_int64(v, out) == 0;
    return 0;
}

/* Whether svc can be asked about a subject of kind (companies: by CVR, or
 * by SE, whose first number is the CVR number). */
static bool takes_kind(const struct catalog_service *svc, enum testdata_kind kind)
{
    if (kind == TESTDATA_PERSON)
        return catalog_subject_index(svc, CATALOG_IDENT_CPR) >= 0;
    return catalog_subject_index(svc, CATALOG_IDENT_CVR) >= 0 ||
           catalog_subject_index(svc, CATALOG_IDENT_SE) >= 0;
}

int testdata_query_from_request(http_request_t *req, const catalog_t *cat, struct testdata_query *q,
                                err_t *err)
{
    memset(q, 0, sizeof *q);
    str_t v;
    http_req_query(req, "kind", &v);
    q->kind = str_eq_cstr(v, "company") ? TESTDATA_COMPANY : TESTDATA_PERSON;
    bool set;
    int64_t n;
    int_param(req, "year", &set, &n);
    q->year = set ? (int)n : 0;
    int_param(req, "income_min", &q->income_min_set, &q->income_min);
    int_param(req, "income_max", &q->income_max_set, &q->income_max);
    if ((q->income_min_set || q->income_max_set) && q->kind != TESTDATA_PERSON)
        return err_param(err, DUPLA_EINVAL, q->income_min_set ? "income_min" : "income_max",
                         "income_min and income_max are only for kind=person");
    if (q->income_min_set && q->income_max_set && q->income_min > q->income_max)
        return err_param(err, DUPLA_EINVAL, "income_max",
                         "income_max must not be below income_min");
    int rc;
    if ((rc = tri(req, "residual_tax", q->kind, TESTDATA_PERSON, &q->residual_tax, err)) ||
        (rc = tri(req, "excess_tax", q->kind, TESTDATA_PERSON, &q->excess_tax, err)) ||
        (rc = tri(req, "church_tax", q->kind, TESTDATA_PERSON, &q->church_tax, err)) ||
        (rc = tri(req, "vat", q->kind, TESTDATA_COMPANY, &q->vat, err)) ||
        (rc = tri(req, "joint_taxation", q->kind, TESTDATA_COMPANY, &q->joint_taxation, err)))
        return rc;
    if (http_req_query(req, "status", &v) && v.len) {
        if (q->kind != TESTDATA_COMPANY)
            return err_param(err, DUPLA_EINVAL, "status", "status is only for kind=company");
        const struct catalog_service *svc = catalog_find(cat, STR(STATUS_SERVICE));
        const struct catalog_field *f = svc ? catalog_field_find(svc, STR(STATUS_FIELD)) : NULL;
        if (!f || !catalog_code_allowed(f, v) || str_to_int64(v, &n) != 0)
            return err_param(err, DUPLA_EINVAL, "status",
                             "status must be a code of %s (see the service catalogue)",
                             STATUS_FIELD);
        q->status = (int)n;
    }
    size_t count = http_req_query_count(req);
    for (size_t i = 0; i < count; i++) {
        str_t name;
        http_req_query_at(req, i, &name, &v);
        if (!str_eq_cstr(name, "service") || !v.len)
            continue;
        if (q->n_services >= TESTDATA_SEARCH_SERVICES_MAX)
            return err_param(err, DUPLA_EINVAL, "service", "at most %d services",
                             TESTDATA_SEARCH_SERVICES_MAX);
        const struct catalog_service *svc = catalog_find(cat, v);
        if (!svc)
            return err_param(err, DUPLA_EINVAL, "service",
                             "service must be a path of the service catalogue");
        if (!takes_kind(svc, q->kind))
            return err_param(err, DUPLA_EINVAL, "service", "%s has no data about a %s", svc->path,
                             q->kind == TESTDATA_PERSON ? "person" : "company");
        q->services[q->n_services++] = svc;
    }
    int_param(req, "limit", &set, &n);
    q->limit = set ? (unsigned)n : TESTDATA_SEARCH_LIMIT_DEFAULT;
    return 0;
}

json_t *testdata_hit_json(const struct testdata_hit *h)
{
    if (h->kind == TESTDATA_PERSON)
        return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:b}", "kind", "person", "subject",
                         h->subject, "year", h->year, "personal_income", (json_int_t)h->income,
                         "residual_tax", (json_int_t)h->residual_tax, "excess_tax",
                         (json_int_t)h->excess_tax, "church_tax", h->church_tax);
    char status[16];
    snprintf(status, sizeof status, "%d", h->status);
    return json_pack("{s:s, s:s, s:s?, s:b, s:b}", "kind", "company", "subject", h->subject,
                     "status", h->status ? status : NULL, "vat_obligation", h->vat,
                     "joint_taxation", h->joint_taxation);
}

static int h_subjects(http_request_t *req, void *ctx, err_t *err)
{
    struct testdata_routes *r = ctx;
    int rc = testdata_environment_check(r->environment, err);
    if (rc || (rc = r->auth.allow(req, r->auth.ctx, err)))
        return rc;
    struct testdata_query q;
    if ((rc = testdata_query_from_request(req, r->catalog, &q, err)))
        return rc;
    struct testdata_result *res = malloc(sizeof *res);
    if (!res)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    rc = testdata_search(r->st, r->catalog, &q, res, err);
    if (rc) {
        free(res);
        return rc;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < res->n; i++)
        json_array_append_new(list, testdata_hit_json(&res->hits[i]));
    json_t *body = json_pack(
        "{s:s, s:o, s:o, s:b, s:b, s:I}", "kind", q.kind == TESTDATA_PERSON ? "person" : "company",
        "year", q.year ? json_integer(q.year) : json_null(), "subjects", list, "more", res->more,
        "scan_limited", res->scan_limited, "scanned", (json_int_t)res->scanned);
    free(res);
    if (!body)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    return http_reply_json(req, 200, body);
}

static const char *const change_kinds[] = {"reassessment", "vat_correction", "status_change", NULL};

const struct http_param testdata_change_params[] = {
    {.name = "change", .type = HTTP_PARAM_ENUM, .required = true, .values = change_kinds},
    {.name = "subject", .type = HTTP_PARAM_STRING, .required = true, .min = 8, .max = 10},
    {.name = "year", .type = HTTP_PARAM_INT, .min = TESTDATA_YEAR_MIN, .max = TESTDATA_YEAR_MAX},
    {.name = "period_start", .type = HTTP_PARAM_STRING, .min = 10, .max = 10},
    {.name = "status", .type = HTTP_PARAM_STRING, .min = 1, .max = 8},
    {0},
};

/* A parameter change does not take. */
static int not_for(const char *name, const char *change, err_t *err)
{
    return err_param(err, DUPLA_EINVAL, name, "%s is not a parameter of the change %s", name,
                     change);
}

int testdata_change_from(const catalog_t *cat, const char *change, const char *subject,
                         const char *year, const char *period_start, const char *status,
                         struct testdata_change *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!change || !change[0])
        return err_param(err, DUPLA_EINVAL, "change", "change is required");
    if (strcmp(change, "reassessment") == 0)
        out->kind = TESTDATA_REASSESSMENT;
    else if (strcmp(change, "vat_correction") == 0)
        out->kind = TESTDATA_VAT_CORRECTION;
    else if (strcmp(change, "status_change") == 0)
        out->kind = TESTDATA_STATUS_CHANGE;
    else
        return err_param(err, DUPLA_EINVAL, "change",
                         "change must be reassessment, vat_correction or status_change");
    enum catalog_ident k = out->kind == TESTDATA_REASSESSMENT     ? CATALOG_IDENT_CPR
                           : out->kind == TESTDATA_VAT_CORRECTION ? CATALOG_IDENT_SE
                                                                  : CATALOG_IDENT_CVR;
    int64_t n;
    if (!subject || dataset_subject_parse(k, str_from_cstr(subject), &n) != 0)
        return err_param(err, DUPLA_EINVAL, "subject", "subject must be a %s number for %s",
                         k == CATALOG_IDENT_CPR  ? "CPR"
                         : k == CATALOG_IDENT_SE ? "SE"
                                                 : "CVR",
                         change);
    snprintf(out->subject, sizeof out->subject, "%s", subject);
    bool has_year = year && year[0], has_period = period_start && period_start[0],
         has_status = status && status[0];
    if (out->kind == TESTDATA_REASSESSMENT) {
        if (has_period)
            return not_for("period_start", change, err);
        if (has_status)
            return not_for("status", change, err);
        if (!has_year || str_to_int64(str_from_cstr(year), &n) != 0 || n < TESTDATA_YEAR_MIN ||
            n > TESTDATA_YEAR_MAX)
            return err_param(err, DUPLA_EINVAL, "year", "a reassessment needs the income year");
        out->year = (int)n;
    } else if (out->kind == TESTDATA_VAT_CORRECTION) {
        if (has_year)
            return not_for("year", change, err);
        if (has_status)
            return not_for("status", change, err);
        if (!has_period || clock_parse_date(str_from_cstr(period_start), &out->period_start) != 0)
            return err_param(err, DUPLA_EINVAL, "period_start",
                             "a VAT correction needs the period's first day, yyyy-mm-dd");
    } else {
        if (has_year)
            return not_for("year", change, err);
        if (has_period)
            return not_for("period_start", change, err);
        const struct catalog_service *svc = catalog_find(cat, STR(STATUS_SERVICE));
        const struct catalog_field *f = svc ? catalog_field_find(svc, STR(STATUS_FIELD)) : NULL;
        if (!has_status || !f || !catalog_code_allowed(f, str_from_cstr(status)) ||
            str_to_int64(str_from_cstr(status), &n) != 0)
            return err_param(err, DUPLA_EINVAL, "status",
                             "a status change needs a code of %s (see the service catalogue)",
                             STATUS_FIELD);
        out->status = (int)n;
    }
    return 0;
}

json_t *testdata_change_json(const struct testdata_change *ch,
                             const struct testdata_change_result *res)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "change", testdata_change_name(ch->kind),
                     "subject", ch->subject, "service", res->service, "new_versions",
                     (json_int_t)res->new_versions, "version", (json_int_t)res->version,
                     "delivery_id", res->delivery_id);
}

/* A JSON member as text for testdata_change_from ("" when absent; an
 * integer as its digits). */
static const char *member(json_t *body, const char *name, char *tmp, size_t cap)
{
    json_t *v = json_object_get(body, name);
    if (json_is_integer(v)) {
        snprintf(tmp, cap, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    return json_is_string(v) ? json_string_value(v) : "";
}

static int h_changes(http_request_t *req, void *ctx, err_t *err)
{
    struct testdata_routes *r = ctx;
    int rc = testdata_environment_check(r->environment, err);
    if (rc || (rc = r->auth.allow(req, r->auth.ctx, err)))
        return rc;
    json_t *body;
    if ((rc = http_req_json_params(req, false, testdata_change_params, &body, err)))
        return rc;
    char year[24];
    struct testdata_change ch;
    rc = testdata_change_from(
        r->catalog, member(body, "change", NULL, 0), member(body, "subject", NULL, 0),
        member(body, "year", year, sizeof year), member(body, "period_start", NULL, 0),
        member(body, "status", NULL, 0), &ch, err);
    json_decref(body);
    if (rc)
        return rc;
    struct testdata_change_result res;
    if ((rc = testdata_change(r->st, r->catalog, r->environment, &ch, clock_now_ms(), &res, err)))
        return rc;
    json_t *out = testdata_change_json(&ch, &res);
    if (!out)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    return http_reply_json(req, 201, out);
}

const struct http_param testdata_person_params[] = {
    {.name = "church_tax", .type = HTTP_PARAM_BOOL},
    {.name = "residual_tax", .type = HTTP_PARAM_BOOL},
    {.name = "excess_tax", .type = HTTP_PARAM_BOOL},
    {.name = "income", .type = HTTP_PARAM_INT, .min = 0, .max = TESTDATA_CREATE_INCOME_MAX},
    {0},
};

int testdata_person_spec_from(const char *church, const char *residual, const char *excess,
                              const char *income, struct testdata_person_spec *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    struct {
        const char *name, *v;
        enum testdata_tri *t;
    } b[] = {{"church_tax", church, &out->church_tax},
             {"residual_tax", residual, &out->residual_tax},
             {"excess_tax", excess, NULL}};
    enum testdata_tri excess_t = TESTDATA_ANY;
    b[2].t = &excess_t;
    for (size_t i = 0; i < 3; i++) {
        if (!b[i].v || !b[i].v[0])
            continue;
        if (strcmp(b[i].v, "true") != 0 && strcmp(b[i].v, "false") != 0)
            return err_param(err, DUPLA_EINVAL, b[i].name, "%s must be true or false", b[i].name);
        *b[i].t = strcmp(b[i].v, "true") == 0 ? TESTDATA_YES : TESTDATA_NO;
    }
    if (excess_t != TESTDATA_ANY) {
        if (out->residual_tax != TESTDATA_ANY &&
            (out->residual_tax == TESTDATA_YES) == (excess_t == TESTDATA_YES))
            return err_param(err, DUPLA_EINVAL, "excess_tax",
                             "a year has residual tax or excess tax, not both or neither");
        out->residual_tax = excess_t == TESTDATA_YES ? TESTDATA_NO : TESTDATA_YES;
    }
    if (income && income[0]) {
        int64_t n;
        if (str_to_int64(str_from_cstr(income), &n) != 0 || n < 0 || n > TESTDATA_CREATE_INCOME_MAX)
            return err_param(err, DUPLA_EINVAL, "income", "income must be 0 to %lld kroner",
                             (long long)TESTDATA_CREATE_INCOME_MAX);
        if (n < TESTDATA_CREATE_INCOME_MIN && out->residual_tax != TESTDATA_ANY)
            return err_param(err, DUPLA_EINVAL, "income",
                             "residual or excess tax needs an income of at least %d kroner (a "
                             "tax to pay)",
                             TESTDATA_CREATE_INCOME_MIN);
        out->income_set = true;
        out->income = n;
    }
    return 0;
}

static int h_persons(http_request_t *req, void *ctx, err_t *err)
{
    struct testdata_routes *r = ctx;
    int rc = testdata_environment_check(r->environment, err);
    if (rc || (rc = r->auth.allow(req, r->auth.ctx, err)))
        return rc;
    json_t *body;
    if ((rc = http_req_json_params(req, true, testdata_person_params, &body, err)))
        return rc;
    json_t *c = json_object_get(body, "church_tax"), *re = json_object_get(body, "residual_tax"),
           *ex = json_object_get(body, "excess_tax");
    char income[24] = "";
    if (json_is_integer(json_object_get(body, "income")))
        snprintf(income, sizeof income, "%lld",
                 (long long)json_integer_value(json_object_get(body, "income")));
    struct testdata_person_spec spec;
    rc = testdata_person_spec_from(json_is_boolean(c) ? (json_is_true(c) ? "true" : "false") : "",
                                   json_is_boolean(re) ? (json_is_true(re) ? "true" : "false") : "",
                                   json_is_boolean(ex) ? (json_is_true(ex) ? "true" : "false") : "",
                                   income, &spec, err);
    json_decref(body);
    if (rc)
        return rc;
    char cpr[11];
    int from, to;
    if ((rc = testdata_create(r->st, r->catalog, r->environment, &spec, cpr, &from, &to, err)))
        return rc;
    json_t *out = json_pack("{s:s, s:s, s:i, s:i}", "kind", "person", "subject", cpr, "year_from",
                            from, "year_to", to);
    if (!out)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    return http_reply_json(req, 201, out);
}

int testdata_routes_register(http_server_t *srv, struct testdata_routes *r, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TESTDATA_HTTP_BASE "/subjects",
         .handler = h_subjects,
         .ctx = r,
         .name = "testdata-subjects",
         .query = testdata_search_params},
        {.methods = HTTP_POST,
         .path = TESTDATA_HTTP_BASE "/changes",
         .handler = h_changes,
         .ctx = r,
         .max_body = TESTDATA_HTTP_MAX_BODY,
         .name = "testdata-changes",
         .query = http_params_none},
        {.methods = HTTP_POST,
         .path = TESTDATA_HTTP_BASE "/persons",
         .handler = h_persons,
         .ctx = r,
         .max_body = TESTDATA_HTTP_MAX_BODY,
         .name = "testdata-persons",
         .query = http_params_none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
