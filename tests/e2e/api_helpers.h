/*
 * api_helpers.h: what the JSON API e2e tests share: running the CLI against
 * a test server, making users with passwords, logging in, and requests
 * with the session cookie and CSRF token. Header-only (static inline) so
 * each test executable stays harness.c + one test file.
 */
#ifndef DUPLA_TESTS_E2E_API_HELPERS_H
#define DUPLA_TESTS_E2E_API_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/uuid.h"
#include "harness.h"
#include "store/store.h"

#define API_PASSWD "correct horse battery"

static inline void api_must(const struct e2e_server *s, const char *const *args)
{
    int rc = e2e_cli(s, args);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", e2e_path(s, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

static inline void api_org(const struct e2e_server *s, const char *cvr, const char *admin,
                           const char *contact)
{
    const char *a[] = {"org",     "create", "--name",          "Org",   "--cvr", cvr,
                       "--admin", admin,    "--contact-email", contact, NULL};
    api_must(s, a);
}

/* A user of org with up to two roles (role2 may be NULL) and API_PASSWD. */
static inline void api_user(const struct e2e_server *s, const char *org, const char *name,
                            const char *role, const char *role2)
{
    const char *create[] = {"user",   "create", "--org",  org,   "--username", name,
                            "--role", role,     "--role", role2, NULL};
    if (!role2)
        create[8] = NULL;
    api_must(s, create);
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", name, "--password-file", pwfile, NULL};
    api_must(s, pw);
}

struct api_session {
    char cookie[160];
    char csrf[96];
};

static inline void api_login(const struct e2e_server *s, const char *username,
                             struct api_session *out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", username, API_PASSWD);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct e2e_request rq = {.method = "POST", .path = "/api/session", .body = body, .headers = h};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    size_t n = strcspn(set, ";");
    snprintf(out->cookie, sizeof out->cookie, "Cookie: %.*s", (int)n, set);
    snprintf(out->csrf, sizeof out->csrf, "X-CSRF-Token: %s",
             json_string_value(json_object_get(r.json, "csrf_token")));
    e2e_response_free(&r);
}

/* A request with the session (se may be NULL) and its CSRF token; r is the
 * caller's to free. Returns the status. */
static inline long api_call(const struct e2e_server *s, const struct api_session *se,
                            const char *method, const char *path, const char *body,
                            struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/json", se ? se->cookie : "X-None: 1",
                       se ? se->csrf : NULL, NULL};
    struct e2e_request rq = {.method = method, .path = path, .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

/* api_call that asserts the status and frees the answer. */
static inline void api_expect(const struct e2e_server *s, const struct api_session *se,
                              const char *method, const char *path, const char *body, long status)
{
    struct e2e_response r;
    api_call(s, se, method, path, body, &r);
    e2e_assert_status(s, &r, status);
    e2e_response_free(&r);
}

/* The "parameter" of a problem answer, or "". */
static inline const char *api_problem_param(const struct e2e_response *r)
{
    const char *p = json_string_value(json_object_get(r->json, "parameter"));
    return p ? p : "";
}

/* An approved agreement of proc's organisation for Aarsopgoerelse's
 * PersonligIndkomst with purpose (plain text, no quotes), drafted by proc,
 * signed by sign and approved by dfv through the API; its id into id (33
 * bytes). */
static inline void api_approved_agreement(const struct e2e_server *s, const char *proc,
                                          const char *sign, const char *dfv, const char *purpose,
                                          char *id)
{
    struct api_session sp, ss, sd;
    api_login(s, proc, &sp);
    api_login(s, sign, &ss);
    api_login(s, dfv, &sd);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"application\":{\"title\":\"Indkomst\",\"purpose\":\"%s\","
             "\"legal_basis\":[{\"law\":\"Skatteforvaltningsloven\",\"section\":\"§ 17\"}],"
             "\"services\":{\"Aarsopgoerelse\":[\"PersonligIndkomst\"]},\"systems\":\"all\","
             "\"valid_from\":\"2026-01-01\",\"valid_to\":null,"
             "\"expected_volume\":{\"calls_per_month\":10,\"subjects_per_month\":10},"
             "\"contact\":{\"name\":\"Kim\",\"email\":\"kim@a.dk\",\"phone\":\"12345678\"}}}",
             purpose);
    struct e2e_response r;
    api_call(s, &sp, "POST", "/api/agreements", body, &r);
    e2e_assert_status(s, &r, 201);
    snprintf(id, 33, "%s", json_string_value(json_object_get(r.json, "id")));
    e2e_response_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/agreements/%s/sign", id);
    api_expect(s, &ss, "POST", path, NULL, 200);
    snprintf(path, sizeof path, "/api/agreements/%s/approve", id);
    api_expect(s, &sd, "POST", path, "{\"assessment\":\"ok\"}", 200);
}

/* The server's disclosure log opened directly (for tests that need known
 * entries without making the data calls). */
struct api_audit {
    struct dupla_config cfg;
    store_t *st;
    audit_log_t *log;
    const char *case_ref; /* set on the entries recorded next, when not NULL */
    /* the same for the supplier and the company acted for (version 3) */
    const char *supplier_cvr, *on_behalf_se;
};
static inline void api_audit_open(const struct e2e_server *s, struct api_audit *a)
{
    err_t err;
    cr_assert_eq(config_load(s->config, &a->cfg, &err), 0, "%s", err.log);
    cr_assert_eq(store_open(a->cfg.store_url, NULL, &a->st, &err), 0, "%s", err.log);
    a->case_ref = a->supplier_cvr = a->on_behalf_se = NULL;
    struct audit_options opt = {.environment = "test"};
    cr_assert_eq(audit_open(a->st, &opt, &a->log, &err), 0, "%s", err.log);
}
static inline void api_audit_close(struct api_audit *a)
{
    audit_close(a->log);
    store_close(a->st);
    config_free(&a->cfg);
}
/* One entry about n subjects: PersonligIndkomst for 2023 to org's system
 * "lon" under agreement (version 1); a refusal with reason. */
static inline void api_audit_record(struct api_audit *a, const char *org, const char *agreement,
                                    const char *service, const struct audit_subject *subjects,
                                    size_t n, enum audit_outcome outcome, const char *reason)
{
    str_t fields[] = {STR("PersonligIndkomst")};
    str_t periods[] = {STR("2023")};
    struct audit_entry e = {.org_cvr = str_from_cstr(org),
                            .system_id = STR("lon"),
                            .agreement_id = str_from_cstr(agreement),
                            .agreement_version = 1,
                            .service = str_from_cstr(service),
                            .request_id = STR("req"),
                            .transaction_id = STR("tx"),
                            .subjects = subjects,
                            .n_subjects = n,
                            .periods = periods,
                            .n_periods = 1,
                            .fields = fields,
                            .n_fields = outcome == AUDIT_DISCLOSED ? 1 : 0,
                            .record_count = outcome == AUDIT_DISCLOSED ? (int64_t)n : 0,
                            .outcome = outcome,
                            .reason = str_from_cstr(reason),
                            .case_ref = a->case_ref ? str_from_cstr(a->case_ref) : STR(""),
                            .supplier_cvr = str_from_cstr(a->supplier_cvr ? a->supplier_cvr : ""),
                            .on_behalf_se = str_from_cstr(a->on_behalf_se ? a->on_behalf_se : "")};
    err_t err;
    cr_assert_eq(audit_record(a->log, &e, NULL, &err), 0, "%s", err.log);
}

/* ---- the set-up of data-call tests: an agreement, a token, a call, its
 * log entry (shared by test_supplier.c, test_onbehalf.c) ---- */

/* The server's store, opened directly (the caller closes it). */
static inline store_t *api_open_store(const struct e2e_server *s)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    config_free(&cfg);
    return st;
}

/* An approved test agreement of org (CVR) for services (a JSON object of
 * service: [fields], taken over), valid from today, made in the store as
 * its processor, signatory and the data owner's dataforvaltning would; its
 * id into id (AGREEMENT_ID_LEN + 1 bytes). The server sees it after its
 * agreement sync (about a second). */
static inline void api_store_agreement(store_t *st, const char *org, json_t *services, char *id)
{
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:o, s:s, s:s, s:{s:i, s:i}, "
                  "s:{s:s, s:s, s:s}}",
                  "title", "E2E", "purpose", "To test.", "legal_basis", "law", "Lov", "section",
                  "§ 1", "services", services, "systems", "all", "valid_from", today,
                  "expected_volume", "calls_per_month", 10, "subjects_per_month", 10, "contact",
                  "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    cr_assert_not_null(app);
    agreement_t *ag;
    err_t err;
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    struct agreement_actor p = {.user_id = 1, .roles = AGREEMENT_ROLE_PROCESSOR},
                           sg = {.user_id = 2, .roles = AGREEMENT_ROLE_SIGNATORY},
                           r = {.user_id = 3, .roles = AGREEMENT_ROLE_DATAFORVALTNING};
    snprintf(p.user_name, sizeof p.user_name, "e2e-1");
    snprintf(sg.user_name, sizeof sg.user_name, "e2e-2");
    snprintf(r.user_name, sizeof r.user_name, "e2e-3");
    snprintf(p.org_cvr, sizeof p.org_cvr, "%s", org);
    snprintf(sg.org_cvr, sizeof sg.org_cvr, "%s", org);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &sg, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(id), "Ok.", NULL, NULL, &err), 0, "%s",
                 err.detail);
    agreement_close(ag);
}

/* POST /token with the PKI's certificate cert (<cert>.p12) and the form's
 * further fields extra ("" or "&org_cvr=...&onbehalfofse=..."); the answer
 * into r (the caller frees it). */
static inline void api_token_request(const struct e2e_server *s, const char *cert,
                                     const char *extra, struct e2e_response *r)
{
    char rel[64], p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256], body[256];
    snprintf(rel, sizeof rel, "%s.p12", cert);
    e2e_pki_path(s, rel, p12);
    snprintf(rel, sizeof rel, "%s.p12.pass", cert);
    cr_assert_eq(e2e_read_line(e2e_pki_path(s, rel, pwfile), pw, sizeof pw), 0);
    snprintf(body, sizeof body, "client_id=api-gateway&scope=openid&grant_type=password%s", extra);
    const char *headers[] = {"x-transaktion-id: job-1",
                             "Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = body,
                             .p12_file = p12,
                             .p12_password = pw};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "token: %s", r->error);
}

/* api_token_request that must succeed: the access token into out. */
static inline void api_token(const struct e2e_server *s, const char *cert, const char *extra,
                             char *out, size_t cap)
{
    struct e2e_response r;
    api_token_request(s, cert, extra, &r);
    e2e_assert_status(s, &r, 200);
    snprintf(out, cap, "%s", json_string_value(json_object_get(r.json, "access_token")));
    e2e_response_free(&r);
}

/* A data call: GET path with the bearer token tok under agreement, with a
 * fresh X-Request-ID (into rid, UUID_STR_LEN + 1 bytes); the answer into r
 * (the caller frees it). Returns the status. */
static inline long api_data_call(const struct e2e_server *s, const char *tok, const char *agreement,
                                 const char *path, char *rid, struct e2e_response *r)
{
    char hauth[4200], hrid[96], hag[160];
    cr_assert_eq(uuid_v4(rid), 0);
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", tok);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", rid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: %s%s", AGREEMENT_URN_PREFIX, agreement);
    const char *h[] = {hauth, hrid, "X-Transaktions-ID: job-1", hag, NULL};
    struct e2e_request rq = {.path = path, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

/* The log entry of the call whose X-Request-ID was rid (the server keeps
 * the id), among the newest 50: into *out, its strings in a. */
static inline void api_logged(const struct e2e_server *s, const char *rid, arena_t *a,
                              struct audit_row *out)
{
    store_t *st = api_open_store(s);
    struct audit_filter f = {.newest_first = true, .limit = 50};
    struct audit_page page;
    err_t err;
    cr_assert_eq(audit_query(st, &f, NULL, a, &page, &err), 0, "%s", err.log);
    bool found = false;
    for (size_t i = 0; i < page.n && !found; i++)
        if (strcmp(page.rows[i].request_id, rid) == 0) {
            *out = page.rows[i];
            found = true;
        }
    cr_assert(found, "no log entry for %s", rid);
    store_close(st);
}

#endif
