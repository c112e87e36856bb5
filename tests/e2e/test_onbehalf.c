/* End-to-end: acting for a company with its authorisation (#21 item 4)
 * through the real binary. A company (CVR_K) authorises an accountant's
 * organisation (CVR_R) to fetch its VAT returns for one SE number; the
 * accountant's token carries onbehalfofse=<SE>, and its calls fetch that
 * company and nothing else, until the authorisation is revoked or past its
 * day. Every refusal names what is wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "api_helpers.h"
#include "core/clock.h"
#include "core/uuid.h"
#include "dataset/dataset.h"
#include "harness.h"
#include "store/store.h"

#define CVR_K "12345674" /* the company */
#define CVR_R "20000007" /* the accountant */
#define CVR_O "30000013" /* someone else */

#define CONFIG "{\"identity\": {\"registry_poll_ms\": 50}}"

struct world {
    struct e2e_server s;
    char ag[AGREEMENT_ID_LEN + 1]; /* the accountant's agreement (Momsangivelse) */
    char se1[16], se2[16];         /* SE numbers with VAT returns: the company's, another's */
    struct api_session k, r;       /* the two administrators */
};

static void exec_sql(store_t *st, const char *sql)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c, sql, &q, &err), 0, "%s", err.log);
    cr_assert_geq(store_step(q, &err), 0, "%s", err.log);
    store_stmt_done(q);
    store_conn_put(c);
}

static void admin_login(const struct e2e_server *s, const char *user, struct api_session *out)
{
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", user, "--password-file", pwfile, NULL};
    api_must(s, pw);
    api_login(s, user, out);
}

static void world_make(struct world *w)
{
    cr_assert_eq(e2e_start(&(struct e2e_options){.config_json = CONFIG}, &w->s), 0);
    const struct e2e_server *s = &w->s;
    api_org(s, CVR_K, "k@k.dk", "kontakt@k.dk");
    api_org(s, CVR_R, "r@r.dk", "kontakt@r.dk");
    api_org(s, CVR_O, "o@o.dk", "kontakt@o.dk");
    cr_assert_eq(e2e_issue_system(s, "rev", CVR_R, NULL), 0);
    char pem[E2E_PATH_MAX];
    const char *reg[] = {"system", "register", "--org",  CVR_R,
                         "--name", "rev",      "--cert", e2e_pki_path(s, "rev.pem", pem),
                         NULL};
    api_must(s, reg);
    const char *gen[] = {"testdata", "generate", "--persons", "2",      "--companies",
                         "4",        "--years",  "2023",      "--seed", "11",
                         "--ingest", "--quiet",  NULL};
    api_must(s, gen);
    store_t *st = api_open_store(s);
    api_store_agreement(st, CVR_R,
                        json_pack("{s:[s, s], s:[s]}", "Momsangivelse", "Salgsmoms", "Købsmoms",
                                  "Aarsopgoerelse", "PersonligIndkomst"),
                        w->ag);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c,
                               "SELECT DISTINCT r.subject FROM dataset_record r JOIN"
                               " dataset_service s ON s.id = r.service_id"
                               " WHERE s.path = 'Momsangivelse' ORDER BY 1 LIMIT 2",
                               &q, &err),
                 0, "%s", err.log);
    char *out[2] = {w->se1, w->se2};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(store_step(q, &err), STORE_ROW, "two SE numbers with VAT returns");
        snprintf(out[i], 16, "%08lld", (long long)(store_col_int64(q, 0) % DATASET_SUBJECT_TAG));
    }
    store_stmt_done(q);
    store_conn_put(c);
    store_close(st);
    admin_login(s, "k@k.dk", &w->k);
    admin_login(s, "r@r.dk", &w->r);
    usleep(1500 * 1000); /* the server's agreement sync */
}

/* The company's administrator authorises the accountant for se; the id
 * into id (UUID_STR_LEN + 1). */
static void authorise(struct world *w, const char *se, char *id)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"se\":\"%s\",\"grantee\":\"%s\",\"services\":[\"Momsangivelse\"],"
             "\"until\":\"2099-12-31\"}",
             se, CVR_R);
    struct e2e_response r;
    api_call(&w->s, &w->k, "POST", "/api/authorisations", body, &r);
    e2e_assert_status(&w->s, &r, 201);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "active");
    snprintf(id, UUID_STR_LEN + 1, "%s", json_string_value(json_object_get(r.json, "id")));
    e2e_response_free(&r);
}

static void token_request(const struct e2e_server *s, const char *extra, struct e2e_response *r)
{
    api_token_request(s, "rev", extra, r);
}

static void token(const struct e2e_server *s, const char *se, char *out, size_t cap)
{
    char extra[64];
    snprintf(extra, sizeof extra, "&onbehalfofse=%s", se);
    api_token(s, "rev", extra, out, cap);
}

static void token_refused(const struct e2e_server *s, const char *extra, long status,
                          const char *code)
{
    struct e2e_response r;
    token_request(s, extra, &r);
    e2e_assert_status(s, &r, status);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error_code")), code, "%s", r.body);
    e2e_response_free(&r);
}

/* GET /<path>?<query> with the token under the accountant's agreement. */
static long call(const struct world *w, const char *tok, const char *path, char *rid,
                 struct e2e_response *r)
{
    return api_data_call(&w->s, tok, w->ag, path, rid, r);
}

static void moms_path(char *out, size_t cap, const char *se, const char *se_more)
{
    snprintf(out, cap,
             "/Momsangivelse?VirksomhedSENummer=%s%s%s"
             "&AfregningPeriodeForholdPeriodeStartDato=2000-01-01"
             "&AfregningPeriodeForholdPeriodeSlutDato=2099-12-31",
             se, se_more ? "&VirksomhedSENummer=" : "", se_more ? se_more : "");
}

static void expect_problem(const struct world *w, const char *tok, const char *path,
                           const char *type, const char *param)
{
    char rid[UUID_STR_LEN + 1];
    struct e2e_response r;
    call(w, tok, path, rid, &r);
    e2e_assert_status(&w->s, &r, 403);
    const char *t = json_string_value(json_object_get(r.json, "type"));
    cr_assert(t && strstr(t, type), "type %s, want %s: %s", t ? t : "(none)", type, r.body);
    cr_assert_str_eq(api_problem_param(&r), param, "%s", r.body);
    e2e_response_free(&r);
}

Test(onbehalf, the_accountant_fetches_exactly_one_company_until_revoked_or_expired, .timeout = 170)
{
    struct world w;
    world_make(&w);
    char auth_id[UUID_STR_LEN + 1], tok[4096], path[512], rid[UUID_STR_LEN + 1];
    /* before any authorisation: no token acting for the company */
    char extra[64];
    snprintf(extra, sizeof extra, "&onbehalfofse=%s", w.se1);
    token_refused(&w.s, extra, 403, "authorisation-missing");
    authorise(&w, w.se1, auth_id);
    token(&w.s, w.se1, tok, sizeof tok);
    /* the company's own VAT returns: yes */
    moms_path(path, sizeof path, w.se1, NULL);
    struct e2e_response r;
    cr_assert_eq(call(&w, tok, path, rid, &r), 200, "%s", r.body);
    cr_assert_gt(json_array_size(json_object_get(r.json, "data")), 0);
    e2e_response_free(&r);
    /* logged as the accountant's fetch about the company's SE number, on
     * the company's behalf */
    arena_t *a = arena_new(8u << 20);
    struct audit_row row;
    api_logged(&w.s, rid, a, &row);
    cr_assert_str_eq(row.org_cvr, CVR_R);
    cr_assert_eq(row.n_subjects, 1);
    cr_assert(str_eq_cstr(row.subjects[0].id, w.se1));
    cr_assert_str_eq(row.on_behalf_se, w.se1, "the log names the company acted for");
    cr_assert_str_eq(row.supplier_cvr, "");
    cr_assert_eq(row.format, 3);
    arena_free(a);
    /* the accountant's own view of the log, JSON and CSV */
    struct e2e_response l;
    api_call(&w.s, &w.r, "GET", "/api/disclosures/own", NULL, &l);
    e2e_assert_status(&w.s, &l, 200);
    json_t *d0 = json_array_get(json_object_get(l.json, "data"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d0, "on_behalf_of_se")), w.se1, "%s",
                     l.body);
    cr_assert(json_is_null(json_object_get(d0, "supplier")));
    e2e_response_free(&l);
    api_call(&w.s, &w.r, "GET", "/api/disclosures/own?format=csv", NULL, &l);
    e2e_assert_status(&w.s, &l, 200);
    char tail[32];
    snprintf(tail, sizeof tail, ",,%s\r\n", w.se1);
    cr_assert(strstr(l.body, tail), "%s", l.body);
    e2e_response_free(&l);
    /* and its page of disclosures says on whose behalf */
    api_call(&w.s, &w.r, "GET", "/udleveringer", NULL, &l);
    e2e_assert_status(&w.s, &l, 200);
    snprintf(tail, sizeof tail, "på vegne af SE %s", w.se1);
    cr_assert(strstr(l.body, tail), "%s", l.body);
    e2e_response_free(&l);
    /* another company, alone or beside: no */
    moms_path(path, sizeof path, w.se2, NULL);
    expect_problem(&w, tok, path, "subject-not-authorised", "VirksomhedSENummer");
    moms_path(path, sizeof path, w.se1, w.se2);
    expect_problem(&w, tok, path, "subject-not-authorised", "VirksomhedSENummer");
    /* a service the authorisation does not name: no (though the agreement
     * grants it) */
    expect_problem(&w, tok, "/Aarsopgoerelse?PersonCPRNummer=0101701234", "service-not-authorised",
                   "onbehalfofse");
    /* a token for the other SE number: none */
    snprintf(extra, sizeof extra, "&onbehalfofse=%s", w.se2);
    token_refused(&w.s, extra, 403, "authorisation-missing");
    token_refused(&w.s, "&onbehalfofse=12AB", 400, "form-invalid");

    /* the company revokes: the next call stops */
    char body[128];
    snprintf(body, sizeof body, "{\"authorisation\":\"%s\"}", auth_id);
    api_expect(&w.s, &w.r, "POST", "/api/authorisations/revoke", body, 403); /* not the grantee */
    api_expect(&w.s, &w.k, "POST", "/api/authorisations/revoke", body, 200);
    api_expect(&w.s, &w.k, "POST", "/api/authorisations/revoke", body, 409);
    moms_path(path, sizeof path, w.se1, NULL);
    expect_problem(&w, tok, path, "authorisation-revoked", "onbehalfofse");
    snprintf(extra, sizeof extra, "&onbehalfofse=%s", w.se1);
    token_refused(&w.s, extra, 403, "authorisation-revoked");

    /* a new authorisation, then its day passes (moved back in the store;
     * the server sees the identity generation move) */
    authorise(&w, w.se1, auth_id);
    token(&w.s, w.se1, tok, sizeof tok);
    cr_assert_eq(call(&w, tok, path, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    store_t *st = api_open_store(&w.s);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE identity_authorisation SET until_ms = %lld WHERE id = '%s'",
             (long long)clock_now_ms() - 1000, auth_id);
    exec_sql(st, sql);
    exec_sql(st, "UPDATE identity_generation SET gen = gen + 1 WHERE id = 1");
    store_close(st);
    usleep(300 * 1000);
    expect_problem(&w, tok, path, "authorisation-expired", "onbehalfofse");

    /* both parties see it in their lists and their history */
    api_call(&w.s, &w.r, "GET", "/api/authorisations", NULL, &l);
    e2e_assert_status(&w.s, &l, 200);
    cr_assert_eq(json_array_size(json_object_get(l.json, "authorisations")), 2);
    e2e_response_free(&l);
    api_call(&w.s, &w.k, "GET", "/api/history", NULL, &l);
    e2e_assert_status(&w.s, &l, 200);
    cr_assert(strstr(l.body, "authorisation.revoke"), "%s", l.body);
    e2e_response_free(&l);
    cr_assert_eq(e2e_stop(&w.s), 0);
}

Test(onbehalf, granting_refusals_name_what_is_wrong, .timeout = 170)
{
    struct world w;
    world_make(&w);
    struct {
        const char *body;
        long status;
        const char *param;
    } cases[] = {
        {"{\"se\":\"123\",\"grantee\":\"" CVR_R "\",\"services\":[\"Momsangivelse\"],"
         "\"until\":\"2099-01-01\"}",
         400, "se"},
        {"{\"se\":\"12345678\",\"grantee\":\"99999999\",\"services\":[\"Momsangivelse\"],"
         "\"until\":\"2099-01-01\"}",
         400, "grantee"},
        {"{\"se\":\"12345678\",\"grantee\":\"" CVR_K "\",\"services\":[\"Momsangivelse\"],"
         "\"until\":\"2099-01-01\"}",
         400, "grantee"},
        {"{\"se\":\"12345678\",\"grantee\":\"" CVR_R "\",\"services\":[],"
         "\"until\":\"2099-01-01\"}",
         400, "services"},
        {"{\"se\":\"12345678\",\"grantee\":\"" CVR_R "\",\"services\":[\"Momsangivelse\"],"
         "\"until\":\"2001-01-01\"}",
         400, "until"},
        {"{\"se\":\"12345678\",\"grantee\":\"" CVR_R "\",\"services\":[\"Momsangivelse\"],"
         "\"until\":\"tomorrow\"}",
         400, "until"},
        {"{\"se\":\"12345678\",\"grantee\":\"" CVR_R "\",\"grantee_system\":\"nope\","
         "\"services\":[\"Momsangivelse\"],\"until\":\"2099-01-01\"}",
         400, "grantee_system"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct e2e_response r;
        api_call(&w.s, &w.k, "POST", "/api/authorisations", cases[i].body, &r);
        e2e_assert_status(&w.s, &r, cases[i].status);
        cr_assert_str_eq(api_problem_param(&r), cases[i].param, "case %zu: %s", i, r.body);
        e2e_response_free(&r);
    }
    /* the accountant cannot authorise itself for the company */
    api_expect(&w.s, &w.r, "POST", "/api/authorisations",
               "{\"company\":\"" CVR_K "\",\"se\":\"12345678\",\"grantee\":\"" CVR_R
               "\",\"services\":[\"Momsangivelse\"],\"until\":\"2099-01-01\"}",
               403);
    cr_assert_eq(e2e_stop(&w.s), 0);
}

/* The operator's console: `dupla authorisation grant`, `list --json` and
 * `revoke` do what the company's administrator does through the API. */
Test(onbehalf, the_console_grants_lists_and_revokes, .timeout = 170)
{
    struct world w;
    world_make(&w);
    char extra[64];
    snprintf(extra, sizeof extra, "&onbehalfofse=%s", w.se1);
    token_refused(&w.s, extra, 403, "authorisation-missing");
    const char *grant[] = {"authorisation",
                           "grant",
                           "--company",
                           CVR_K,
                           "--se",
                           w.se1,
                           "--grantee",
                           CVR_R,
                           "--system",
                           "rev",
                           "--service",
                           "Momsangivelse",
                           "--service",
                           "Aarsopgoerelse",
                           "--until",
                           "2099-12-31",
                           NULL};
    api_must(&w.s, grant);
    char tok[4096];
    token(&w.s, w.se1, tok, sizeof tok);
    /* list --json: the authorisation, for the accountant's system */
    char out[E2E_PATH_MAX];
    e2e_path(&w.s, "list.json", out);
    char cfg[E2E_PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s", w.s.config);
    const char *list[] = {"authorisation", "list", "--org", CVR_K, "--json", "--config", cfg, NULL};
    cr_assert_eq(e2e_run_dupla(list, out), 0);
    json_t *l = json_load_file(out, 0, NULL);
    cr_assert_eq(json_array_size(l), 1, "%s", out);
    json_t *au = json_array_get(l, 0);
    cr_assert_str_eq(json_string_value(json_object_get(au, "status")), "active");
    cr_assert_str_eq(json_string_value(json_object_get(au, "se")), w.se1);
    cr_assert_eq(json_array_size(json_object_get(au, "services")), 2);
    cr_assert(json_is_string(json_object_get(json_object_get(au, "grantee"), "system_id")));
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(au, "id")));
    json_decref(l);
    /* refusals: a usage error (2) before the store is asked, the module's
     * refusal naming the member (2), an unknown id (1) */
    const char *no_service[] = {"authorisation", "grant", "--company", CVR_K,        "--se", w.se1,
                                "--grantee",     CVR_R,   "--until",   "2099-12-31", NULL};
    cr_assert_eq(e2e_cli(&w.s, no_service), 2);
    const char *self[] = {"authorisation", "grant",      "--company", CVR_K,       "--se",
                          w.se1,           "--grantee",  CVR_K,       "--service", "Momsangivelse",
                          "--until",       "2099-12-31", NULL};
    cr_assert_eq(e2e_cli(&w.s, self), 2);
    const char *unknown[] = {"authorisation", "revoke", "no-such-id", NULL};
    cr_assert_eq(e2e_cli(&w.s, unknown), 1);
    /* revoke: the next token request and the next call stop */
    const char *revoke[] = {"authorisation", "revoke", id, NULL};
    api_must(&w.s, revoke);
    cr_assert_eq(e2e_cli(&w.s, revoke), 1, "revoked already");
    token_refused(&w.s, extra, 403, "authorisation-revoked");
    char path[512];
    moms_path(path, sizeof path, w.se1, NULL);
    expect_problem(&w, tok, path, "authorisation-revoked", "onbehalfofse");
    cr_assert_eq(e2e_stop(&w.s), 0);
}
