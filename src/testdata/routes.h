/*
 * routes.h: self-service test data over HTTPS, the testdata module's top
 * edge (the pages in src/web/pages_testdata.c use the same calls).
 *
 *   GET /api/testdata/subjects?kind=person|company&year=&income_min=&income_max=
 *       &residual_tax=&excess_tax=&church_tax=&vat=&status=&joint_taxation=
 *       &service=<path>(repeated, at most 4)&limit=<1..100>
 *       200 {"kind", "year", "subjects": [...], "more", "scan_limited", "scanned"}
 *
 *   POST /api/testdata/persons   (JSON; the session's CSRF token)
 *       {"church_tax": bool, "residual_tax": bool, "excess_tax": bool, "income": kroner}
 *       (every member optional) 201 {"kind", "subject", "year_from", "year_to"}:
 *       a new person made by the generator with these properties
 *
 *   POST /api/testdata/changes   (JSON; the session's CSRF token)
 *       {"change": "reassessment", "subject": CPR, "year": 2024}
 *       {"change": "vat_correction", "subject": SE, "period_start": "2024-01-01"}
 *       {"change": "status_change", "subject": CVR, "status": "2"}
 *       201 {"change", "subject", "service", "new_versions", "version", "delivery_id"}
 *       404 no current record to change; 409 the status is so already
 *
 * Refusals are problem+json naming the parameter: an unknown or repeated
 * parameter, a value out of its limits, a person's condition asked of
 * companies (and the reverse), income_min above income_max, a status not in
 * the catalogue's code table, an unknown service or one that does not take
 * the kind. A production deployment answers every route with a 403
 * problem ("production") before anything else: it holds no synthetic data.
 *
 * Who may: the server's auth function (struct testdata_http_auth) decides
 * (src/cli/serve_testdata.c: a logged-in user of an organisation registered
 * for the test environment, or the data owner's staff). The module does
 * not know identity.
 */
#ifndef DUPLA_TESTDATA_ROUTES_H
#define DUPLA_TESTDATA_ROUTES_H

#include "http/http.h"
#include "testdata/testdata.h"

#define TESTDATA_HTTP_BASE     "/api/testdata"
#define TESTDATA_PROBLEM_PROD  "production"
#define TESTDATA_YEAR_MIN      1990
#define TESTDATA_YEAR_MAX      2100
#define TESTDATA_HTTP_MAX_BODY 4096 /* a change's JSON body */

/* 0 when the request's caller may use test data; else a negative code with
 * err filled (401 no session, 403 not allowed). */
struct testdata_http_auth {
    void *ctx;
    int (*allow)(http_request_t *req, void *ctx, err_t *err);
};

/* Owned by the caller; must outlive srv. */
struct testdata_routes {
    store_t *st;
    const catalog_t *catalog;
    enum environment environment;
    struct testdata_http_auth auth;
};

int testdata_routes_register(http_server_t *srv, struct testdata_routes *r, err_t *err);

/* The query parameters of the search (for the pages' form too). */
extern const struct http_param testdata_search_params[];

#define TESTDATA_CREATE_INCOME_MAX 100000000LL /* kroner */
#define TESTDATA_CREATE_INCOME_MIN 100000      /* with residual or excess tax: a tax to pay */

/* The members of a new person (for the pages' form too), and reading
 * them ("true"/"false", digits; NULL or "": absent): 0, or DUPLA_EINVAL
 * naming the member. */
extern const struct http_param testdata_person_params[];
int testdata_person_spec_from(const char *church, const char *residual, const char *excess,
                              const char *income, struct testdata_person_spec *out, err_t *err);

/* The members of a change (for the pages' form too). */
extern const struct http_param testdata_change_params[];

/* A change from its members as text (NULL or "": absent): 0, or
 * DUPLA_EINVAL naming the member at fault (a member the change does not
 * take, a missing one, a subject of the wrong kind, a status not in the
 * catalogue's code table). */
int testdata_change_from(const catalog_t *cat, const char *change, const char *subject,
                         const char *year, const char *period_start, const char *status,
                         struct testdata_change *out, err_t *err);
json_t *testdata_change_json(const struct testdata_change *ch,
                             const struct testdata_change_result *res);

/* Reads a search from req's query (already checked against
 * testdata_search_params): 0, or DUPLA_EINVAL naming the parameter. */
int testdata_query_from_request(http_request_t *req, const catalog_t *cat, struct testdata_query *q,
                                err_t *err);

/* 0 in a test deployment; DUPLA_EFORBIDDEN (type "production") in production. */
int testdata_environment_check(enum environment env, err_t *err);

/* Adds the test-data API's paths (and the session security scheme) to an
 * OpenAPI document made by catalog_openapi (openapi.c). 0, or a negative
 * code. */
int testdata_openapi(json_t *doc);

/* A hit as JSON (new reference). */
json_t *testdata_hit_json(const struct testdata_hit *h);

#endif
