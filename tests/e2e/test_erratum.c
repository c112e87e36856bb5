/* End-to-end: tracing a data error (#17.6) through the real data path. A
 * source system delivers two deliveries; organisation A's system fetches a
 * citizen of the first (with its case reference), B's system a citizen of
 * the second. The data owner marks the first delivery erroneous with
 * `dupla audit erratum mark`: only A is told (one notice in the mail
 * outbox, to its contact mailbox, naming the log's sequence number and A's
 * case reference); B, which fetched other data, is not; marking again or
 * `notify` tells nobody twice. Marking B's record version tells B only.
 * Refusals of the CLI name their parameter. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "api_helpers.h"
#include "core/clock.h"
#include "core/uuid.h"

#define CVR_A "12345674"
#define CVR_B "20000007"
#define OWNER "19552101"
#define CPR_X "0101901234"
#define CPR_Y "0202902345"

#define CONFIG                                                                                     \
    "{\"identity\": {\"registry_poll_ms\": 50},"                                                   \
    " \"exposure\": {\"window_margin_seconds\": 0, \"rate_per_second\": 100000,"                   \
    " \"rate_burst\": 100000}}"

E2E_SHARED_SERVERS({"main", {.config_json = CONFIG}});

#define HEADER "{\"delivery\":{\"synthetic\":true}}\n"

static void aar_line(char *out, size_t cap, const char *cpr, int year, long tax)
{
    snprintf(out, cap,
             "{\"PersonCPRNummer\":\"%s\",\"IndkomstÅr\":%d,\"ÅrsopgørelseDato\":\"%d-03-15\","
             "\"PersonligIndkomst\":36800000,\"LønIndkomst\":40000000,\"OverførselsIndkomst\":0,"
             "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":-2000000,"
             "\"LigningsmæssigeFradrag\":5026400,\"Beskæftigelsesfradrag\":4526400,"
             "\"SkattepligtigIndkomst\":29773600,\"AktieIndkomst\":1000000,\"AMBidrag\":3200000,"
             "\"Bundskat\":3822783,\"Topskat\":0,\"Kommuneskat\":6200900,\"Kirkeskat\":173625,"
             "\"AktieIndkomstSkat\":270000,\"SkatIAlt\":%ld,\"IndeholdtSkat\":13000000,"
             "\"Restskat\":667308,\"OverskydendeSkat\":0,\"KommuneKode\":\"101\","
             "\"Kirkeskattepligtig\":true}\n",
             cpr, year, year + 1, tax);
}

/* An approved agreement of org for Aarsopgoerelse's PersonligIndkomst and
 * SkatIAlt. */
static void approve(store_t *st, const char *org, char *id)
{
    api_store_agreement(
        st, org, json_pack("{s:[s, s]}", "Aarsopgoerelse", "PersonligIndkomst", "SkatIAlt"), id);
}

static void deliver(const struct e2e_server *s, const char *id, const char *body)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], path[128];
    snprintf(path, sizeof path, "/ingest/Aarsopgoerelse?delivery_id=%s", id);
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = path,
                             .body = body,
                             .cert_file = e2e_pki_path(s, "skat.pem", pem),
                             .key_file = e2e_pki_path(s, "skat.key", key),
                             .headers =
                                 (const char *const[]){"Content-Type: application/x-ndjson", NULL}};
    struct e2e_response r;
    for (int i = 0; i < 100; i++) { /* the registry's poll sees the source system */
        cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
        if (r.status != 401 && r.status != 403)
            break;
        e2e_response_free(&r);
        usleep(50 * 1000);
    }
    e2e_assert_status(s, &r, 201);
    e2e_response_free(&r);
}

static void token(const struct e2e_server *s, const char *name, char *out, size_t cap)
{
    char rel[64], p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256];
    snprintf(rel, sizeof rel, "%s.p12", name);
    e2e_pki_path(s, rel, p12);
    snprintf(rel, sizeof rel, "%s.p12.pass", name);
    cr_assert_eq(e2e_read_line(e2e_pki_path(s, rel, pwfile), pw, sizeof pw), 0);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = "client_id=api-gateway&scope=openid&grant_type=password",
                             .p12_file = p12,
                             .p12_password = pw};
    struct e2e_response r;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(e2e_request(s, &rq, &r), 0, "token: %s", r.error);
        if (r.status == 200)
            break;
        e2e_response_free(&r);
        usleep(50 * 1000);
    }
    e2e_assert_status(s, &r, 200);
    snprintf(out, cap, "%s", json_string_value(json_object_get(r.json, "access_token")));
    e2e_response_free(&r);
}

/* A data call for cpr under agreement with a case reference; its log entry. */
static long fetch(const struct e2e_server *s, const char *tok, const char *agreement,
                  const char *cpr, const char *case_ref)
{
    char hauth[4200], hrid[96], hag[160], hcase[96], rid[UUID_STR_LEN + 1], path[128];
    cr_assert_eq(uuid_v4(rid), 0);
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", tok);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", rid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: " AGREEMENT_URN_PREFIX "%s", agreement);
    snprintf(hcase, sizeof hcase, "X-Dupla-Sagsreference: %s", case_ref);
    snprintf(path, sizeof path, "/Aarsopgoerelse?PersonCPRNummer=%s", cpr);
    const char *h[] = {hauth, hrid,  "X-Transaktions-ID: 6f1c7c39-2a4b-4d8e-9a53-0c1f2e3d4b5a",
                       hag,   hcase, NULL};
    struct e2e_request rq = {.path = path, .headers = h, .timeout_ms = 60000};
    struct e2e_response r;
    for (int i = 0; i < 100; i++) { /* the agreement registry's sync */
        cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
        if (r.status == 200)
            break;
        e2e_response_free(&r);
        usleep(50 * 1000);
    }
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 1, "%s", r.body);
    const char *seq = e2e_header(&r, "X-Dupla-Udlevering");
    cr_assert_not_null(seq);
    long n = strtol(seq, NULL, 10);
    e2e_response_free(&r);
    return n;
}

/* Runs `dupla audit erratum ARGS --config` with its output into out;
 * its exit status. */
static int erratum(const struct e2e_server *s, const char *const *args, char *out, size_t cap)
{
    const char *argv[24] = {"audit", "erratum"};
    size_t n = 2;
    for (; args[n - 2]; n++)
        argv[n] = args[n - 2];
    argv[n++] = "--config";
    argv[n++] = s->config;
    argv[n] = NULL;
    char log[E2E_PATH_MAX];
    e2e_path(s, "erratum.out", log);
    unlink(log);
    int rc = e2e_run_dupla(argv, log);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(out, 1, cap - 1, f) : 0;
    out[got] = 0;
    if (f)
        fclose(f);
    return rc;
}

/* The data-error notices queued so far, as "recipient|body" lines. */
static size_t notices(const struct e2e_server *s, char bodies[][4096], char to[][64], size_t cap)
{
    struct dupla_config cfg;
    err_t err;
    store_t *st;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c,
                               "SELECT recipient, body FROM mail_message WHERE kind = 'data-error'"
                               " ORDER BY id",
                               &q, &err),
                 0, "%s", err.log);
    size_t n = 0;
    while (store_step(q, &err) == STORE_ROW && n < cap) {
        str_t r = store_col_text(q, 0), b = store_col_text(q, 1);
        snprintf(to[n], 64, "%.*s", (int)r.len, r.ptr);
        snprintf(bodies[n], 4096, "%.*s", (int)b.len, b.ptr);
        n++;
    }
    store_stmt_done(q);
    store_conn_put(c);
    store_close(st);
    config_free(&cfg);
    return n;
}

Test(erratum, only_the_recipients_of_the_erroneous_data_are_told_once, .timeout = 170)
{
    const struct e2e_server *s = e2e_shared("main");
    char pem[E2E_PATH_MAX];
    cr_assert_eq(e2e_issue_system(s, "skat", OWNER, NULL), 0);
    const char *src[] = {
        "source", "register", "--name", "skat", "--cert", e2e_pki_path(s, "skat.pem", pem), NULL};
    api_must(s, src);
    api_org(s, CVR_A, "first@a.dk", "kontakt@a.dk");
    api_org(s, CVR_B, "first@b.dk", "kontakt@b.dk");
    const char *const names[2] = {"sysa", "sysb"}, *const cvrs[2] = {CVR_A, CVR_B};
    for (int i = 0; i < 2; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "%s.pem", names[i]);
        cr_assert_eq(e2e_issue_system(s, names[i], cvrs[i], NULL), 0);
        const char *sys[] = {"system", "register", "--org",  cvrs[i],
                             "--name", names[i],   "--cert", e2e_pki_path(s, rel, pem),
                             NULL};
        api_must(s, sys);
    }
    char ag_a[AGREEMENT_ID_LEN + 1], ag_b[AGREEMENT_ID_LEN + 1];
    {
        struct api_audit a;
        api_audit_open(s, &a);
        approve(a.st, CVR_A, ag_a);
        approve(a.st, CVR_B, ag_b);
        api_audit_close(&a);
    }
    /* two deliveries: X's 2023 in lev-x, Y's 2023 in lev-y */
    char line[2048], body[4096];
    aar_line(line, sizeof line, CPR_X, 2023, 1000);
    snprintf(body, sizeof body, HEADER "%s", line);
    deliver(s, "lev-x", body);
    aar_line(line, sizeof line, CPR_Y, 2023, 2000);
    snprintf(body, sizeof body, HEADER "%s", line);
    deliver(s, "lev-y", body);

    static char tok_a[4096], tok_b[4096];
    token(s, "sysa", tok_a, sizeof tok_a);
    token(s, "sysb", tok_b, sizeof tok_b);
    long seq_a1 = fetch(s, tok_a, ag_a, CPR_X, "SAG-A/1");
    long seq_a2 = fetch(s, tok_a, ag_a, CPR_X, "SAG-A/2");
    long seq_b = fetch(s, tok_b, ag_b, CPR_Y, "SAG-B/7");
    cr_assert(seq_a1 && seq_a2 && seq_b);

    /* the refusals first: each names what is wrong, and nothing is marked */
    static char out[65536];
    const char *no_reason[] = {"mark", "--delivery", "lev-x", NULL};
    cr_assert_eq(erratum(s, no_reason, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "reason"), "%s", out);
    const char *both[] = {
        "mark",      "--delivery",           "lev-x",    "--service", "Aarsopgoerelse",
        "--version", "cpr:" CPR_X ":2023:1", "--reason", "x",         NULL};
    cr_assert_eq(erratum(s, both, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "delivery"), "%s", out);
    const char *bad_version[] = {
        "mark", "--service", "Aarsopgoerelse", "--version", "cpr:" CPR_X, "--reason", "x", NULL};
    cr_assert_eq(erratum(s, bad_version, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "--version"), "%s", out);
    const char *no_such[] = {"show", "99", NULL};
    cr_assert_eq(erratum(s, no_such, out, sizeof out), 1, "%s", out);
    char bodies[8][4096], to[8][64];
    cr_assert_eq(notices(s, bodies, to, 8), 0);

    /* lev-x is wrong: A is told, once; B is not */
    const char *mark[] = {"mark",          "--delivery", "lev-x", "--reason", "wrong SkatIAlt",
                          "--replacement", "lev-x2",     "--by",  "dfv",      NULL};
    cr_assert_eq(erratum(s, mark, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "marked as data error 1"), "%s", out);
    cr_assert(strstr(out, "recipient " CVR_A), "%s", out);
    cr_assert_null(strstr(out, CVR_B), "%s", out);
    cr_assert_eq(notices(s, bodies, to, 8), 1);
    cr_assert_str_eq(to[0], "kontakt@a.dk");
    char n1[32], n2[32];
    snprintf(n1, sizeof n1, " %ld,", seq_a1);
    snprintf(n2, sizeof n2, " %ld\n", seq_a2);
    cr_assert(strstr(bodies[0], n1) && strstr(bodies[0], n2), "%s", bodies[0]);
    cr_assert(strstr(bodies[0], "SAG-A/1") && strstr(bodies[0], "SAG-A/2"), "%s", bodies[0]);
    cr_assert(strstr(bodies[0], "lev-x2") && strstr(bodies[0], ag_a), "%s", bodies[0]);
    cr_assert_null(strstr(bodies[0], CPR_X), "a notice names no citizen");
    /* again, and notify: nobody twice */
    cr_assert_eq(erratum(s, mark, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "already marked as data error 1"), "%s", out);
    const char *notify[] = {"notify", "1", NULL};
    cr_assert_eq(erratum(s, notify, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "notices queued: 0"), "%s", out);
    cr_assert_eq(notices(s, bodies, to, 8), 1);
    /* who was told and when, as JSON */
    const char *show[] = {"show", "1", "--format", "json", NULL};
    cr_assert_eq(erratum(s, show, out, sizeof out), 0, "%s", out);
    json_t *rep = json_loads(out, 0, NULL);
    cr_assert_not_null(rep, "%s", out);
    json_t *recs = json_object_get(rep, "recipients");
    cr_assert_eq(json_array_size(recs), 1, "%s", out);
    json_t *notice = json_object_get(json_array_get(recs, 0), "notice");
    cr_assert_str_eq(json_string_value(json_object_get(notice, "mailbox")), "kontakt@a.dk");
    cr_assert_eq(json_array_size(json_object_get(notice, "disclosures")), 2);
    json_decref(rep);

    /* B's record version is wrong: B is told, A is not told again */
    const char *mark_v[] = {"mark",
                            "--service",
                            "Aarsopgoerelse",
                            "--version",
                            "cpr:" CPR_Y ":2023:1",
                            "--reason",
                            "wrong year",
                            NULL};
    cr_assert_eq(erratum(s, mark_v, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "marked as data error 2"), "%s", out);
    cr_assert_eq(notices(s, bodies, to, 8), 2);
    cr_assert_str_eq(to[1], "kontakt@b.dk");
    snprintf(n1, sizeof n1, " %ld\n", seq_b);
    cr_assert(strstr(bodies[1], n1) && strstr(bodies[1], "SAG-B/7"), "%s", bodies[1]);
    const char *list[] = {"list", NULL};
    cr_assert_eq(erratum(s, list, out, sizeof out), 0, "%s", out);
    json_t *l = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(l), 2, "%s", out);
    json_decref(l);

    /* the same through the API, for the data owner's staff only */
    api_user(s, OWNER, "dfv@skat.dk", "dataforvaltning", NULL);
    api_user(s, CVR_A, "adm@a.dk", "administrator", NULL);
    struct api_session dfv, adm;
    api_login(s, "dfv@skat.dk", &dfv);
    api_login(s, "adm@a.dk", &adm);
    const char *mark_x =
        "{\"service\": \"Aarsopgoerelse\", \"versions\": [{\"subject_kind\": \"cpr\","
        " \"subject\": \"" CPR_X "\", \"period\": \"2023\", \"version\": 1}],"
        " \"reason\": \"wrong SkatIAlt\", \"replacement\": \"version 2\"}";
    api_expect(s, &adm, "POST", "/api/disclosures/errata", mark_x, 403);
    api_expect(s, &adm, "GET", "/api/disclosures/errata/1", NULL, 403);
    api_expect(s, NULL, "GET", "/api/disclosures/errata", NULL, 401);
    struct {
        const char *method, *path, *body;
        long status;
        const char *param;
    } refusals[] = {
        {"POST", "/api/disclosures/errata", "{\"delivery\": \"lev-x\"}", 400, "reason"},
        {"POST", "/api/disclosures/errata", "{\"reason\": \"x\"}", 400, "delivery"},
        {"POST", "/api/disclosures/errata",
         "{\"delivery\": \"lev-x\", \"reason\": \"x\", \"x\": 1}", 400, "x"},
        {"POST", "/api/disclosures/errata",
         "{\"service\": \"Aarsopgoerelse\", \"versions\": [{\"subject\": \"1\"}], \"reason\": "
         "\"x\"}",
         400, "versions"},
        {"POST", "/api/disclosures/errata", "[]", 400, "body"},
        {"GET", "/api/disclosures/errata/x1", NULL, 400, "id"},
        {"GET", "/api/disclosures/errata/99", NULL, 404, "id"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        struct e2e_response r;
        api_call(s, &dfv, refusals[i].method, refusals[i].path, refusals[i].body, &r);
        e2e_assert_status(s, &r, refusals[i].status);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "problem+json"), "%zu", i);
        cr_assert_str_eq(api_problem_param(&r), refusals[i].param, "%zu: %s", i, r.body);
        e2e_response_free(&r);
    }
    cr_assert_eq(notices(s, bodies, to, 8), 2, "a refusal marks and tells nothing");
    struct e2e_response r;
    api_call(s, &dfv, "POST", "/api/disclosures/errata", mark_x, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/api/disclosures/errata/3");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "notices_queued")), 1, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "marked_by")), "dfv@skat.dk");
    json_t *rc0 = json_array_get(json_object_get(r.json, "recipients"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(rc0, "organisation")), CVR_A, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "recipients")), 1, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "POST", "/api/disclosures/errata", mark_x, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "notices_queued")), 0, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(notices(s, bodies, to, 8), 3);
    cr_assert_str_eq(to[2], "kontakt@a.dk");
    api_call(s, &dfv, "GET", "/api/disclosures/errata", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 3, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures/errata/1", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "delivery")), "lev-x");
    e2e_response_free(&r);

    /* the data owner's pages: the marks, the form, one mark's report */
    const char *hs[] = {dfv.cookie, NULL};
    struct e2e_request rq = {.path = "/datafejl", .headers = hs};
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "href=\"/datafejl/vis?nr=1\"") && strstr(r.body, "lev-x"), "%s",
              r.body);
    const char *p = strstr(r.body, "name=\"csrf\" value=\"");
    cr_assert_not_null(p, "%s", r.body);
    p += strlen("name=\"csrf\" value=\"");
    char csrf[128], form[512];
    snprintf(csrf, sizeof csrf, "%.*s", (int)strcspn(p, "\""), p);
    e2e_response_free(&r);
    const char *fh[] = {"Content-Type: application/x-www-form-urlencoded", dfv.cookie, NULL};
    /* no reason: the form again, the error at its field, nothing marked */
    snprintf(form, sizeof form, "csrf=%s&levering=lev-y&aarsag=&erstatning=", csrf);
    struct e2e_request post = {.method = "POST", .path = "/datafejl", .body = form, .headers = fh};
    cr_assert_eq(e2e_request(s, &post, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "href=\"#aarsag\"") || strstr(r.body, "id=\"aarsag-error\""), "%s",
              r.body);
    e2e_response_free(&r);
    snprintf(form, sizeof form, "csrf=%s&levering=&tjeneste=Aarsopgoerelse&versioner=cpr%%3A1",
             csrf);
    cr_assert_eq(e2e_request(s, &post, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 400);
    e2e_response_free(&r);
    cr_assert_eq(notices(s, bodies, to, 8), 3);
    /* lev-y through the page: B is told (and nobody else), then the report */
    snprintf(
        form, sizeof form,
        "csrf=%s&levering=lev-y&aarsag=forkert+skat&erstatning=lev-y2&tjeneste=&versioner=", csrf);
    cr_assert_eq(e2e_request(s, &post, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/datafejl/vis?nr=4&ok=markeret");
    e2e_response_free(&r);
    cr_assert_eq(notices(s, bodies, to, 8), 4);
    cr_assert_str_eq(to[3], "kontakt@b.dk");
    rq.path = "/datafejl/vis?nr=4";
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    char link[96];
    snprintf(link, sizeof link, "href=\"/transparency/proof/inclusion?seq=%ld\"", seq_b);
    cr_assert(strstr(r.body, "Modtager CVR " CVR_B) && !strstr(r.body, "Modtager CVR " CVR_A) &&
                  strstr(r.body, "SAG-B/7") && strstr(r.body, link) &&
                  strstr(r.body, "kontakt@b.dk"),
              "%s", r.body);
    e2e_response_free(&r);
    rq.path = "/datafejl/vis?nr=99";
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 404);
    e2e_response_free(&r);
    /* a recipient's administrator may not */
    const char *ha[] = {adm.cookie, NULL};
    struct e2e_request ra = {.path = "/datafejl", .headers = ha};
    cr_assert_eq(e2e_request(s, &ra, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}
