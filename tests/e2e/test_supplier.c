/* End-to-end: supplier systems (#21 item 3) through the real binary. A
 * system supplier (CVR_S) runs the recipient system of two organisations
 * (A and B) with one certificate; each organisation registers that
 * certificate as one of its systems, naming the supplier. One token for
 * the certificate fetches under either organisation's agreement (the
 * agreement names the organisation); revoking A's registration stops A's
 * calls at once and leaves B's. */
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

#define CVR_A "12345674"
#define CVR_B "20000007"
#define CVR_C "30000013" /* an organisation that registered nothing */
#define CVR_S "30000005" /* the system supplier */

#define CONFIG "{\"identity\": {\"registry_poll_ms\": 50}}"

struct world {
    struct e2e_server s;
    char ag_a[AGREEMENT_ID_LEN + 1], ag_b[AGREEMENT_ID_LEN + 1];
    char sys_a[UUID_STR_LEN + 1], sys_b[UUID_STR_LEN + 1];
    char cpr[16];
};

/* An approved agreement of org for Aarsopgoerelse's PersonligIndkomst. */
static void approve(store_t *st, const char *org, char *id)
{
    api_store_agreement(st, org, json_pack("{s:[s]}", "Aarsopgoerelse", "PersonligIndkomst"), id);
}

static void query_text(store_t *st, const char *sql, const char *arg, char *out, size_t cap)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c, sql, &q, &err), 0, "%s", err.log);
    if (arg)
        store_bind_cstr(q, 1, arg);
    cr_assert_eq(store_step(q, &err), STORE_ROW, "%s", sql);
    str_copy(store_col_text(q, 0), out, cap);
    store_stmt_done(q);
    store_conn_put(c);
}

static void register_supplier(const struct e2e_server *s, const char *org)
{
    char pem[E2E_PATH_MAX];
    const char *reg[] = {"system",
                         "register",
                         "--org",
                         org,
                         "--name",
                         "lon-lev",
                         "--cert",
                         e2e_pki_path(s, "lev.pem", pem),
                         "--supplier-cvr",
                         CVR_S,
                         "--supplier-name",
                         "Leverandøren A/S",
                         NULL};
    api_must(s, reg);
}

static void world_make(struct world *w)
{
    cr_assert_eq(e2e_start(&(struct e2e_options){.config_json = CONFIG}, &w->s), 0);
    const struct e2e_server *s = &w->s;
    api_org(s, CVR_A, "a@a.dk", "k@a.dk");
    api_org(s, CVR_B, "b@b.dk", "k@b.dk");
    api_org(s, CVR_C, "c@c.dk", "k@c.dk");
    cr_assert_eq(e2e_issue_system(s, "lev", CVR_S, NULL), 0);
    register_supplier(s, CVR_A);
    register_supplier(s, CVR_B);
    const char *gen[] = {"testdata", "generate", "--persons", "4",      "--companies",
                         "2",        "--years",  "2023",      "--seed", "7",
                         "--ingest", "--quiet",  NULL};
    api_must(s, gen);
    store_t *st = api_open_store(s);
    approve(st, CVR_A, w->ag_a);
    approve(st, CVR_B, w->ag_b);
    char subject[32];
    query_text(st,
               "SELECT CAST(MIN(r.subject) AS TEXT) FROM dataset_record r JOIN dataset_service s"
               " ON s.id = r.service_id WHERE s.path = ?",
               "Aarsopgoerelse", subject, sizeof subject);
    snprintf(w->cpr, sizeof w->cpr, "%010lld", atoll(subject) % DATASET_SUBJECT_TAG);
    query_text(st,
               "SELECT y.id FROM identity_system y JOIN identity_org o ON o.id = y.org_id"
               " WHERE o.cvr = ? AND y.name = 'lon-lev'",
               CVR_A, w->sys_a, sizeof w->sys_a);
    query_text(st,
               "SELECT y.id FROM identity_system y JOIN identity_org o ON o.id = y.org_id"
               " WHERE o.cvr = ? AND y.name = 'lon-lev'",
               CVR_B, w->sys_b, sizeof w->sys_b);
    store_close(st);
    usleep(1500 * 1000); /* the server's agreement sync */
}

/* POST /token with the supplier's certificate and form extra ("" or
 * "&org_cvr=..."). */
static void token_request(const struct e2e_server *s, const char *extra, struct e2e_response *r)
{
    api_token_request(s, "lev", extra, r);
}

static void token(const struct e2e_server *s, const char *extra, char *out, size_t cap)
{
    api_token(s, "lev", extra, out, cap);
}

/* GET /Aarsopgoerelse for cpr under agreement; request id into rid. */
static long data_call(const struct world *w, const char *tok, const char *agreement, char *rid,
                      struct e2e_response *r)
{
    char path[128];
    snprintf(path, sizeof path, "/Aarsopgoerelse?PersonCPRNummer=%s", w->cpr);
    return api_data_call(&w->s, tok, agreement, path, rid, r);
}

static void expect_problem(const struct e2e_server *s, struct e2e_response *r, long status,
                           const char *type, const char *param)
{
    e2e_assert_status(s, r, status);
    const char *t = json_string_value(json_object_get(r->json, "type"));
    cr_assert(t && strstr(t, type), "type %s, want %s: %s", t ? t : "(none)", type, r->body);
    if (param)
        cr_assert_str_eq(api_problem_param(r), param, "%s", r->body);
}

/* The log entry of the call whose X-Request-ID was rid (the server answers
 * with the same id): the organisation, system and supplier recorded. */
static void logged(const struct world *w, const char *rid, char *org, char *system, char *supplier)
{
    arena_t *a = arena_new(8u << 20);
    struct audit_row row;
    api_logged(&w->s, rid, a, &row);
    snprintf(org, 16, "%s", row.org_cvr);
    snprintf(system, UUID_STR_LEN + 1, "%s", row.system_id);
    snprintf(supplier, 16, "%s", row.supplier_cvr);
    cr_assert_str_eq(row.on_behalf_se, "", "acting for nobody");
    arena_free(a);
}

Test(supplier, one_certificate_serves_two_organisations_and_stops_for_one_when_revoked,
     .timeout = 170)
{
    struct world w;
    world_make(&w);
    char tok[4096], rid[UUID_STR_LEN + 1], org[16], sys[UUID_STR_LEN + 1], lev[16];
    token(&w.s, "", tok, sizeof tok);
    struct e2e_response r;
    /* the agreement names the organisation: A's, then B's, one token */
    cr_assert_eq(data_call(&w, tok, w.ag_a, rid, &r), 200, "%s", r.body);
    cr_assert_gt(json_array_size(json_object_get(r.json, "data")), 0);
    e2e_response_free(&r);
    logged(&w, rid, org, sys, lev);
    cr_assert_str_eq(org, CVR_A);
    cr_assert_str_eq(sys, w.sys_a);
    cr_assert_str_eq(lev, CVR_S, "the log names the supplier beside the recipient");
    cr_assert_eq(data_call(&w, tok, w.ag_b, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    logged(&w, rid, org, sys, lev);
    cr_assert_str_eq(org, CVR_B);
    cr_assert_str_eq(sys, w.sys_b);
    cr_assert_str_eq(lev, CVR_S);
    /* the recipient's own view of the log (JSON and CSV) names the supplier */
    char pwfile0[E2E_PATH_MAX];
    FILE *f0 = fopen(e2e_path(&w.s, "pw.txt", pwfile0), "w");
    cr_assert_not_null(f0);
    fprintf(f0, "%s\n", API_PASSWD);
    fclose(f0);
    const char *pw0[] = {"user", "set-password", "b@b.dk", "--password-file", pwfile0, NULL};
    api_must(&w.s, pw0);
    struct api_session sb;
    api_login(&w.s, "b@b.dk", &sb);
    api_call(&w.s, &sb, "GET", "/api/disclosures/own", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    json_t *d0 = json_array_get(json_object_get(r.json, "data"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d0, "supplier")), CVR_S, "%s", r.body);
    cr_assert(json_is_null(json_object_get(d0, "on_behalf_of_se")));
    e2e_response_free(&r);
    api_call(&w.s, &sb, "GET", "/api/disclosures/own?format=csv", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert(strstr(r.body, ",supplier,on_behalf_of_se\r\n"), "%s", r.body);
    cr_assert(strstr(r.body, "," CVR_S ",\r\n"), "%s", r.body);
    e2e_response_free(&r);
    api_call(&w.s, &sb, "GET", "/udleveringer", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert(strstr(r.body, "via leverandør CVR " CVR_S), "%s", r.body);
    e2e_response_free(&r);

    /* a token bound to A by the form does not serve B's agreement */
    char tok_a[4096];
    token(&w.s, "&org_cvr=" CVR_A, tok_a, sizeof tok_a);
    cr_assert_eq(data_call(&w, tok_a, w.ag_a, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    data_call(&w, tok_a, w.ag_b, rid, &r);
    expect_problem(&w.s, &r, 403, "agreement-not-found", NULL);
    e2e_response_free(&r);

    /* A's administrator revokes A's registration: A's next call stops, B's
     * goes on, with the same token */
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(&w.s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", "a@a.dk", "--password-file", pwfile, NULL};
    api_must(&w.s, pw);
    struct api_session sa;
    api_login(&w.s, "a@a.dk", &sa);
    char body[128];
    snprintf(body, sizeof body, "{\"system\":\"%s\",\"status\":\"revoked\"}", w.sys_a);
    api_expect(&w.s, &sa, "POST", "/api/systems/status", body, 200);
    data_call(&w, tok, w.ag_a, rid, &r);
    /* revoking a system revokes its registration of the certificate */
    expect_problem(&w.s, &r, 403, "certificate-revoked", "UFST-Adgangsgrundlag");
    e2e_response_free(&r);
    logged(&w, rid, org, sys, lev);
    cr_assert_str_eq(org, CVR_A, "the refusal is logged as A's");
    cr_assert_str_eq(lev, CVR_S, "and the supplier's");
    cr_assert_eq(data_call(&w, tok, w.ag_b, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    /* the token bound to A is no longer valid at all */
    data_call(&w, tok_a, w.ag_a, rid, &r);
    cr_assert_eq(r.status, 401, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&w.s), 0);
}

Test(supplier, token_and_registration_refusals_name_what_is_wrong, .timeout = 170)
{
    struct world w;
    world_make(&w);
    struct e2e_response r;
    /* org_cvr that is no CVR number */
    token_request(&w.s, "&org_cvr=1234", &r);
    e2e_assert_status(&w.s, &r, 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error_code")), "form-invalid");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "error_description")), "org_cvr"));
    e2e_response_free(&r);
    /* an organisation that has not registered the certificate */
    token_request(&w.s, "&org_cvr=" CVR_C, &r);
    e2e_assert_status(&w.s, &r, 403);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error_code")),
                     "supplier-not-registered");
    e2e_response_free(&r);
    /* a call under C's agreement (C registered nothing): as another
     * organisation's agreement */
    store_t *st = api_open_store(&w.s);
    char ag_c[AGREEMENT_ID_LEN + 1];
    approve(st, CVR_C, ag_c);
    store_close(st);
    usleep(1500 * 1000);
    char tok[4096], rid[UUID_STR_LEN + 1];
    token(&w.s, "", tok, sizeof tok);
    data_call(&w, tok, ag_c, rid, &r);
    expect_problem(&w.s, &r, 403, "agreement-not-found", NULL);
    e2e_response_free(&r);

    /* registration refusals through the API, each naming its member */
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(&w.s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", "c@c.dk", "--password-file", pwfile, NULL};
    api_must(&w.s, pw);
    struct api_session sc;
    api_login(&w.s, "c@c.dk", &sc);
    char pem_path[E2E_PATH_MAX], own_path[E2E_PATH_MAX];
    cr_assert_eq(e2e_issue_system(&w.s, "own", CVR_C, NULL), 0);
    e2e_pki_path(&w.s, "lev.pem", pem_path);
    e2e_pki_path(&w.s, "own.pem", own_path);
    json_error_t je;
    (void)je;
    char *lev = NULL, *own = NULL;
    size_t n;
    FILE *pf = fopen(pem_path, "r");
    cr_assert_not_null(pf);
    lev = calloc(1, 16384);
    n = fread(lev, 1, 16383, pf);
    fclose(pf);
    cr_assert_gt(n, 0);
    pf = fopen(own_path, "r");
    cr_assert_not_null(pf);
    own = calloc(1, 16384);
    n = fread(own, 1, 16383, pf);
    fclose(pf);
    struct {
        const char *cvr, *name, *pem;
        long status;
        const char *param;
    } cases[] = {
        {"1234", "Lev", lev, 400, "supplier_cvr"}, /* not a CVR number */
        {CVR_C, "Lev", own, 400, "supplier_cvr"},  /* the organisation itself */
        {CVR_S, "", lev, 400, "supplier_name"},    /* no supplier name */
        {CVR_S, "Lev", own, 400, "certificate"},   /* not the supplier's certificate */
        {CVR_S, "Lev", NULL, 400, "certificate"},  /* no certificate */
        {CVR_S, "Lev", lev, 201, NULL},            /* fine */
        {CVR_S, "Lev", lev, 409, "certificate"},   /* twice in one organisation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "org", CVR_C, "supplier_cvr", cases[i].cvr,
                              "supplier_name", cases[i].name, "name", "");
        char nm[16];
        snprintf(nm, sizeof nm, "lev%zu", i);
        json_object_set_new(b, "name", json_string(nm));
        if (cases[i].pem)
            json_object_set_new(b, "certificate", json_string(cases[i].pem));
        char *body = json_dumps(b, 0);
        json_decref(b);
        api_call(&w.s, &sc, "POST", "/api/systems", body, &r);
        free(body);
        e2e_assert_status(&w.s, &r, cases[i].status);
        if (cases[i].param)
            cr_assert_str_eq(api_problem_param(&r), cases[i].param, "case %zu: %s", i, r.body);
        else
            cr_assert_str_eq(
                json_string_value(json_object_get(json_object_get(r.json, "supplier"), "cvr")),
                CVR_S);
        e2e_response_free(&r);
    }
    free(lev);
    free(own);
    cr_assert_eq(e2e_stop(&w.s), 0);
}

/* data_call over the token listener (it requests certificates) with the
 * supplier's certificate. */
static long data_call_with_cert(const struct world *w, const char *tok, const char *agreement,
                                struct e2e_response *r)
{
    char path[128], hauth[4200], hrid[96], hag[160], rid[UUID_STR_LEN + 1];
    char p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256];
    e2e_pki_path(&w->s, "lev.p12", p12);
    cr_assert_eq(e2e_read_line(e2e_pki_path(&w->s, "lev.p12.pass", pwfile), pw, sizeof pw), 0);
    snprintf(path, sizeof path, "/Aarsopgoerelse?PersonCPRNummer=%s", w->cpr);
    cr_assert_eq(uuid_v4(rid), 0);
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", tok);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", rid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: %s%s", AGREEMENT_URN_PREFIX, agreement);
    const char *h[] = {hauth, hrid, "X-Transaktions-ID: job-1", hag, NULL};
    struct e2e_request rq = {
        .listener = "token", .path = path, .headers = h, .p12_file = p12, .p12_password = pw};
    cr_assert_eq(e2e_request(&w->s, &rq, r), 0, "%s", r->error);
    return r->status;
}

Test(supplier, a_system_marked_sender_constrained_through_the_api_needs_its_certificate,
     .timeout = 170)
{
    struct world w;
    world_make(&w);
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(&w.s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pwa[] = {"user", "set-password", "a@a.dk", "--password-file", pwfile, NULL};
    const char *pwb[] = {"user", "set-password", "b@b.dk", "--password-file", pwfile, NULL};
    api_must(&w.s, pwa);
    api_must(&w.s, pwb);
    struct api_session sa, sb;
    api_login(&w.s, "a@a.dk", &sa);
    api_login(&w.s, "b@b.dk", &sb);
    char tok[4096], tok_a[4096], tok_b[4096], rid[UUID_STR_LEN + 1], body[160];
    token(&w.s, "", tok, sizeof tok);
    token(&w.s, "&org_cvr=" CVR_A, tok_a, sizeof tok_a);
    token(&w.s, "&org_cvr=" CVR_B, tok_b, sizeof tok_b);
    struct e2e_response r;
    cr_assert_eq(data_call(&w, tok_a, w.ag_a, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);

    /* B's administrator cannot change A's system; a non-boolean is named */
    snprintf(body, sizeof body, "{\"system\":\"%s\",\"sender_constrained\":true}", w.sys_a);
    api_call(&w.s, &sb, "POST", "/api/systems/binding", body, &r);
    e2e_assert_status(&w.s, &r, 403);
    e2e_response_free(&r);
    char bad[160];
    snprintf(bad, sizeof bad, "{\"system\":\"%s\",\"sender_constrained\":\"yes\"}", w.sys_a);
    api_call(&w.s, &sa, "POST", "/api/systems/binding", bad, &r);
    e2e_assert_status(&w.s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "sender_constrained", "%s", r.body);
    e2e_response_free(&r);

    /* A's administrator requires it */
    api_call(&w.s, &sa, "POST", "/api/systems/binding", body, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert(json_is_true(json_object_get(r.json, "sender_constrained")), "%s", r.body);
    e2e_response_free(&r);
    /* A's token without the certificate: refused, naming why */
    data_call(&w, tok_a, w.ag_a, rid, &r);
    expect_problem(&w.s, &r, 401, "token-binding-required", NULL);
    e2e_response_free(&r);
    /* the token for the certificate alone: one of its registrations
     * requires binding, so it needs the certificate for any organisation */
    data_call(&w, tok, w.ag_b, rid, &r);
    expect_problem(&w.s, &r, 401, "token-binding-required", NULL);
    e2e_response_free(&r);
    /* B's own registration does not require it */
    cr_assert_eq(data_call(&w, tok_b, w.ag_b, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    /* with the bound certificate: answered */
    cr_assert_eq(data_call_with_cert(&w, tok_a, w.ag_a, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(data_call_with_cert(&w, tok, w.ag_a, &r), 200, "%s", r.body);
    e2e_response_free(&r);

    /* no longer required: the call without a certificate passes again */
    snprintf(body, sizeof body, "{\"system\":\"%s\",\"sender_constrained\":false}", w.sys_a);
    api_call(&w.s, &sa, "POST", "/api/systems/binding", body, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert(json_is_false(json_object_get(r.json, "sender_constrained")), "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(data_call(&w, tok_a, w.ag_a, rid, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&w.s), 0);
}
