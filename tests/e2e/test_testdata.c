/*
 * End-to-end: self-service test data (#20.6) over HTTPS against the real
 * binary: the search answers from the stored synthetic data, for a
 * logged-in user of a test-environment organisation or the data owner;
 * every refusal is a problem naming the parameter; a production deployment
 * refuses the routes whoever asks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "api_helpers.h"
#include "core/config.h"
#include "store/store.h"
#include "harness.h"

#define CVR_A    "12345674" /* registered for the test environment */
#define CVR_PROD "22222228" /* production only */
#define OWNER    "19552101"

E2E_SHARED_SERVERS({"test", {0}}, {"prod", {.config_json = "{\"environment\": \"production\"}"}});

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("test");
    cr_assert_not_null(s);
    /* the tests of this file may run at once: one makes the world */
    char mark[E2E_PATH_MAX], lock[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    e2e_path(s, "world.done", mark);
    if (access(mark, F_OK) == 0) {
        close(fd);
        return s;
    }
    api_org(s, CVR_A, "admin@a.example", "kontakt@a.example");
    api_user(s, CVR_A, "proc@a.example", "aftager-behandler", NULL);
    const char *prod[] = {"org",
                          "create",
                          "--name",
                          "Prod",
                          "--cvr",
                          CVR_PROD,
                          "--admin",
                          "admin@p.example",
                          "--contact-email",
                          "kontakt@p.example",
                          "--environments",
                          "production",
                          NULL};
    api_must(s, prod);
    api_user(s, CVR_PROD, "proc@p.example", "aftager-behandler", NULL);
    api_user(s, OWNER, "dfv@skat.example", "dataforvaltning", NULL);
    const char *gen[] = {"testdata", "generate", "--persons", "40",     "--companies",
                         "30",       "--years",  "2023-2024", "--seed", "5",
                         "--ingest", "--quiet",  NULL};
    api_must(s, gen);
    FILE *f = fopen(mark, "w");
    cr_assert_not_null(f);
    fclose(f);
    close(fd);
    return s;
}

static json_t *search(const struct e2e_server *s, const struct api_session *se, const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/api/testdata/subjects?%s", query);
    struct e2e_response r;
    api_call(s, se, "GET", path, NULL, &r);
    e2e_assert_status(s, &r, 200);
    json_t *j = json_incref(r.json);
    e2e_response_free(&r);
    return j;
}

Test(testdata_api, persons_and_companies_by_what_their_data_says)
{
    const struct e2e_server *s = world();
    struct api_session se;
    api_login(s, "proc@a.example", &se);
    json_t *j = search(s, &se, "kind=person&year=2024&residual_tax=true&church_tax=true&limit=100");
    json_t *list = json_object_get(j, "subjects");
    cr_assert_gt(json_array_size(list), 0);
    cr_assert(json_is_false(json_object_get(j, "more")));
    size_t i;
    json_t *h;
    json_array_foreach(list, i, h)
    {
        cr_assert_eq(strlen(json_string_value(json_object_get(h, "subject"))), 10);
        cr_assert_eq(json_integer_value(json_object_get(h, "year")), 2024);
        cr_assert_gt(json_integer_value(json_object_get(h, "residual_tax")), 0);
        cr_assert(json_is_true(json_object_get(h, "church_tax")));
    }
    size_t with_both = json_array_size(list);
    json_decref(j);
    /* the complement: no residual tax, in the same year, with church tax */
    j = search(s, &se, "kind=person&year=2024&residual_tax=false&church_tax=true&limit=100");
    json_array_foreach(json_object_get(j, "subjects"), i, h)
        cr_assert_eq(json_integer_value(json_object_get(h, "residual_tax")), 0);
    json_decref(j);
    /* an income range, and the limit with "more" */
    j = search(s, &se, "kind=person&income_min=100000&income_max=300000&limit=2");
    cr_assert_eq(json_array_size(json_object_get(j, "subjects")), 2);
    cr_assert(json_is_true(json_object_get(j, "more")));
    json_array_foreach(json_object_get(j, "subjects"), i, h)
    {
        json_int_t kr = json_integer_value(json_object_get(h, "personal_income")) / 100;
        cr_assert(kr >= 100000 && kr <= 300000);
    }
    json_decref(j);
    /* companies: active, with VAT, with data in the VAT service for 2024 */
    j = search(s, &se, "kind=company&status=1&vat=true&year=2024&service=Momsangivelse&limit=100");
    cr_assert_gt(json_array_size(json_object_get(j, "subjects")), 0);
    json_array_foreach(json_object_get(j, "subjects"), i, h)
    {
        cr_assert_str_eq(json_string_value(json_object_get(h, "status")), "1");
        cr_assert(json_is_true(json_object_get(h, "vat_obligation")));
        cr_assert_eq(json_string_value(json_object_get(h, "subject"))[0], '9');
    }
    json_decref(j);
    j = search(s, &se, "kind=company&joint_taxation=true&year=2024");
    cr_assert_gt(json_array_size(json_object_get(j, "subjects")), 0);
    json_array_foreach(json_object_get(j, "subjects"), i, h)
        cr_assert(json_is_true(json_object_get(h, "joint_taxation")));
    json_decref(j);
    /* the data owner's staff may search too */
    struct api_session dfv;
    api_login(s, "dfv@skat.example", &dfv);
    j = search(s, &dfv, "kind=person&year=2024&residual_tax=true&church_tax=true&limit=100");
    cr_assert_eq(json_array_size(json_object_get(j, "subjects")), with_both);
    json_decref(j);
}

static void refused(const struct e2e_server *s, const struct api_session *se, const char *query,
                    long status, const char *param)
{
    char path[512];
    snprintf(path, sizeof path, "/api/testdata/subjects?%s", query);
    struct e2e_response r;
    api_call(s, se, "GET", path, NULL, &r);
    cr_assert_eq(r.status, status, "%s: %ld", query, r.status);
    const char *ct = e2e_header(&r, "Content-Type");
    cr_assert(ct && strstr(ct, "application/problem+json"), "%s", query);
    if (param)
        cr_assert_str_eq(api_problem_param(&r), param, "%s", query);
    e2e_response_free(&r);
}

Test(testdata_api, every_refusal_is_a_problem_naming_the_parameter)
{
    const struct e2e_server *s = world();
    struct api_session se;
    api_login(s, "proc@a.example", &se);
    refused(s, NULL, "kind=person", 401, NULL);
    refused(s, &se, "", 400, "kind");
    refused(s, &se, "kind=robot", 400, "kind");
    refused(s, &se, "kind=person&colour=red", 400, "colour");
    refused(s, &se, "kind=person&year=1800", 400, "year");
    refused(s, &se, "kind=person&year=20x4", 400, "year");
    refused(s, &se, "kind=person&limit=0", 400, "limit");
    refused(s, &se, "kind=person&limit=101", 400, "limit");
    refused(s, &se, "kind=person&limit=1&limit=2", 400, "limit");
    refused(s, &se, "kind=person&income_min=-1", 400, "income_min");
    refused(s, &se, "kind=person&income_max=10000000000000", 400, "income_max");
    refused(s, &se, "kind=person&income_min=5&income_max=4", 400, "income_max");
    refused(s, &se, "kind=company&income_min=5", 400, "income_min");
    refused(s, &se, "kind=person&residual_tax=maybe", 400, "residual_tax");
    refused(s, &se, "kind=company&church_tax=true", 400, "church_tax");
    refused(s, &se, "kind=company&excess_tax=true", 400, "excess_tax");
    refused(s, &se, "kind=person&vat=true", 400, "vat");
    refused(s, &se, "kind=person&joint_taxation=true", 400, "joint_taxation");
    refused(s, &se, "kind=person&status=1", 400, "status");
    refused(s, &se, "kind=company&status=9", 400, "status");
    refused(s, &se, "kind=person&service=Nope", 400, "service");
    refused(s, &se, "kind=person&service=Momsangivelse", 400, "service");
    refused(s, &se,
            "kind=person&service=Aarsopgoerelse&service=Forskudsopgoerelse&service="
            "Kontrolobservationer&service=Ligningssager&service=personkontroloplysninger",
            400, "service");
    /* a user of an organisation that is not in the test environment */
    struct api_session prod;
    api_login(s, "proc@p.example", &prod);
    refused(s, &prod, "kind=person", 403, NULL);
}

Test(testdata_api, a_production_deployment_refuses_whoever_asks)
{
    const struct e2e_server *p = e2e_shared("prod");
    cr_assert_not_null(p);
    struct e2e_response r;
    api_call(p, NULL, "GET", "/api/testdata/subjects?kind=person", NULL, &r);
    e2e_assert_status(p, &r, 403);
    const char *type = json_string_value(json_object_get(r.json, "type"));
    cr_assert(type && strstr(type, "production"), "%s", type ? type : "(none)");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "detail")), "production"));
    e2e_response_free(&r);
}

/* ---- changes: a new version, through ingest, so an event ---- */

static int64_t count_sql(const struct e2e_server *s, const char *sql, const char *arg)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    config_free(&cfg);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *stmt;
    cr_assert_eq(store_prepare(c, sql, &stmt, &err), 0, "%s", err.log);
    store_bind_text(stmt, 1, str_from_cstr(arg));
    cr_assert_eq(store_step(stmt, &err), STORE_ROW, "%s", err.log);
    int64_t n = store_col_int64(stmt, 0);
    store_stmt_done(stmt);
    store_conn_put(c);
    store_close(st);
    return n;
}

static json_t *change(const struct e2e_server *s, const struct api_session *se, const char *body,
                      long status)
{
    struct e2e_response r;
    api_call(s, se, "POST", "/api/testdata/changes", body, &r);
    cr_assert_eq(r.status, status, "%s: %ld %s", body, r.status,
                 r.json ? json_string_value(json_object_get(r.json, "detail")) : "");
    json_t *j = json_incref(r.json);
    e2e_response_free(&r);
    return j;
}

Test(testdata_api, changes_make_new_versions_and_events)
{
    const struct e2e_server *s = world();
    struct api_session se;
    api_login(s, "proc@a.example", &se);
    int64_t events0 = count_sql(s, "SELECT COUNT(*) FROM events_change WHERE service <> ?", "");
    /* a re-assessment of a person found by the search */
    json_t *j = search(s, &se, "kind=person&year=2024&limit=1");
    char cpr[16];
    snprintf(cpr, sizeof cpr, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(j, "subjects"), 0), "subject")));
    json_int_t income0 = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "subjects"), 0), "personal_income"));
    json_decref(j);
    char body[256];
    snprintf(body, sizeof body, "{\"change\":\"reassessment\",\"subject\":\"%s\",\"year\":2024}",
             cpr);
    j = change(s, &se, body, 201);
    cr_assert_str_eq(json_string_value(json_object_get(j, "service")), "Aarsopgoerelse");
    cr_assert_eq(json_integer_value(json_object_get(j, "new_versions")), 1);
    json_int_t v = json_integer_value(json_object_get(j, "version"));
    cr_assert_geq(v, 2);
    json_decref(j);
    /* again: the next version */
    j = change(s, &se, body, 201);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), v + 1);
    json_decref(j);
    /* the search reads the new version: more deductions, the same personal income */
    char q[128];
    snprintf(q, sizeof q, "kind=person&year=2024&income_min=%lld&income_max=%lld&limit=100",
             (long long)(income0 / 100), (long long)(income0 / 100));
    j = search(s, &se, q);
    cr_assert_gt(json_array_size(json_object_get(j, "subjects")), 0);
    json_decref(j);
    /* a corrected VAT return of a company's first SE number */
    char se_no[16];
    j = search(s, &se, "kind=company&vat=true&year=2024&service=Momsangivelse&limit=1");
    snprintf(se_no, sizeof se_no, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(j, "subjects"), 0), "subject")));
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"change\":\"vat_correction\",\"subject\":\"%s\",\"period_start\":\"2024-01-01\"}",
             se_no);
    j = change(s, &se, body, 201);
    cr_assert_str_eq(json_string_value(json_object_get(j, "service")), "Momsangivelse");
    json_decref(j);
    /* no return for a period that is not one */
    snprintf(body, sizeof body,
             "{\"change\":\"vat_correction\",\"subject\":\"%s\",\"period_start\":\"2024-01-02\"}",
             se_no);
    j = change(s, &se, body, 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "parameter")), "subject");
    json_decref(j);
    /* a status change: an active company goes bankrupt, and is found so */
    j = search(s, &se, "kind=company&status=1&limit=1");
    char cvr[16];
    snprintf(cvr, sizeof cvr, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(j, "subjects"), 0), "subject")));
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"change\":\"status_change\",\"subject\":\"%s\",\"status\":\"3\"}", cvr);
    j = change(s, &se, body, 201);
    cr_assert_eq(json_integer_value(json_object_get(j, "new_versions")), 2);
    json_decref(j);
    j = change(s, &se, body, 409); /* bankrupt already */
    cr_assert_str_eq(json_string_value(json_object_get(j, "parameter")), "status");
    json_decref(j);
    j = search(s, &se, "kind=company&status=3&limit=100");
    bool found = false;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(j, "subjects"), i, h) found =
        found || strcmp(json_string_value(json_object_get(h, "subject")), cvr) == 0;
    cr_assert(found, "the bankrupt company is found by its new status");
    json_decref(j);
    /* every change went through ingest: change rows, so events */
    int64_t events1 = count_sql(s, "SELECT COUNT(*) FROM events_change WHERE service <> ?", "");
    cr_assert_geq(events1 - events0, 5, "%lld change rows", (long long)(events1 - events0));
    cr_assert_geq(
        count_sql(s, "SELECT COUNT(*) FROM dataset_delivery WHERE source = ?", "testdata"), 1);
}

Test(testdata_api, every_refusal_of_a_change_names_the_member)
{
    const struct e2e_server *s = world();
    struct api_session se;
    api_login(s, "proc@a.example", &se);
    struct {
        const char *body;
        long status;
        const char *param;
    } cases[] = {
        {"{}", 400, "change"},
        {"{\"change\":\"explode\",\"subject\":\"90000004\"}", 400, "change"},
        {"{\"change\":\"reassessment\"}", 400, "subject"},
        {"{\"change\":\"reassessment\",\"subject\":\"90000004\",\"year\":2024}", 400, "subject"},
        {"{\"change\":\"reassessment\",\"subject\":\"0101901234\"}", 400, "year"},
        {"{\"change\":\"reassessment\",\"subject\":\"0101901234\",\"year\":1800}", 400, "year"},
        {"{\"change\":\"reassessment\",\"subject\":\"0101901234\",\"year\":\"2024\"}", 400, "year"},
        {"{\"change\":\"reassessment\",\"subject\":\"0101901234\",\"year\":2024,\"status\":\"2\"}",
         400, "status"},
        {"{\"change\":\"reassessment\",\"subject\":\"6101901234\",\"year\":2024}", 404, "subject"},
        {"{\"change\":\"vat_correction\",\"subject\":\"90000004\"}", 400, "period_start"},
        {"{\"change\":\"vat_correction\",\"subject\":\"90000004\",\"period_start\":\"2024-13-01\"}",
         400, "period_start"},
        {"{\"change\":\"vat_correction\",\"subject\":\"90000004\",\"period_start\":\"2024-01-01\","
         "\"year\":2024}",
         400, "year"},
        {"{\"change\":\"status_change\",\"subject\":\"90000004\"}", 400, "status"},
        {"{\"change\":\"status_change\",\"subject\":\"90000004\",\"status\":\"9\"}", 400, "status"},
        {"{\"change\":\"status_change\",\"subject\":\"90000004\",\"status\":\"2\",\"colour\":1}",
         400, "colour"},
        {"{\"change\":\"status_change\",\"subject\":\"12345678901\",\"status\":\"2\"}", 400,
         "subject"},
        {"not json", 400, "body"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = change(s, &se, cases[i].body, cases[i].status);
        cr_assert_str_eq(json_string_value(json_object_get(j, "parameter")), cases[i].param, "%s",
                         cases[i].body);
        json_decref(j);
    }
    /* without the CSRF token, without a session, from a production-only organisation */
    const char *h[] = {"Content-Type: application/json", se.cookie, NULL};
    struct e2e_request rq = {.method = "POST",
                             .path = "/api/testdata/changes",
                             .body = "{\"change\":\"status_change\",\"subject\":\"90000004\","
                                     "\"status\":\"2\"}",
                             .headers = h};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    cr_assert_eq(r.status, 403);
    e2e_response_free(&r);
    json_decref(change(s, NULL, "{\"change\":\"status_change\"}", 401));
    struct api_session prod;
    api_login(s, "proc@p.example", &prod);
    json_decref(change(s, &prod, "{\"change\":\"status_change\"}", 403));
    /* and a production deployment refuses whoever asks */
    const struct e2e_server *p = e2e_shared("prod");
    json_t *j = change(p, NULL, "{\"change\":\"status_change\"}", 403);
    cr_assert(strstr(json_string_value(json_object_get(j, "type")), "production"));
    json_decref(j);
}

/* ---- persons made to order ---- */

Test(testdata_api, a_person_made_to_order_is_found_by_what_was_asked)
{
    const struct e2e_server *s = world();
    struct api_session se;
    api_login(s, "proc@a.example", &se);
    struct e2e_response r;
    api_call(s, &se, "POST", "/api/testdata/persons",
             "{\"church_tax\":true,\"residual_tax\":true,\"income\":520000}", &r);
    e2e_assert_status(s, &r, 201);
    char cpr[16];
    snprintf(cpr, sizeof cpr, "%s", json_string_value(json_object_get(r.json, "subject")));
    json_int_t to = json_integer_value(json_object_get(r.json, "year_to"));
    e2e_response_free(&r);
    char q[160];
    snprintf(q, sizeof q,
             "kind=person&year=%lld&residual_tax=true&church_tax=true&income_min=478400&"
             "income_max=478400&limit=100",
             (long long)to);
    json_t *j = search(s, &se, q);
    bool found = false;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(j, "subjects"), i, h) found =
        found || strcmp(json_string_value(json_object_get(h, "subject")), cpr) == 0;
    cr_assert(found, "%s is found with residual and church tax and its income", cpr);
    json_decref(j);
    /* a re-assessment of it works like any other person's */
    char body[160];
    snprintf(body, sizeof body, "{\"change\":\"reassessment\",\"subject\":\"%s\",\"year\":%lld}",
             cpr, (long long)to);
    json_decref(change(s, &se, body, 201));
    /* refusals */
    struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"{\"church_tax\":\"yes\"}", "church_tax"},
        {"{\"income\":-1}", "income"},
        {"{\"income\":1000,\"residual_tax\":true}", "income"},
        {"{\"residual_tax\":true,\"excess_tax\":true}", "excess_tax"},
        {"{\"kind\":\"company\"}", "kind"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        api_call(s, &se, "POST", "/api/testdata/persons", bad[k].body, &r);
        cr_assert_eq(r.status, 400, "%s", bad[k].body);
        cr_assert_str_eq(api_problem_param(&r), bad[k].param, "%s", bad[k].body);
        e2e_response_free(&r);
    }
    json_decref(change(e2e_shared("prod"), NULL, "{}", 403)); /* (the changes route) */
    api_call(e2e_shared("prod"), NULL, "POST", "/api/testdata/persons", "{}", &r);
    cr_assert_eq(r.status, 403);
    e2e_response_free(&r);
}
