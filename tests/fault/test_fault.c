/* Injected faults, SQLite's way (#18 item 2), against the real `dupla
 * serve` of the fault test build (meson -Dfault_injection=true, see
 * src/core/fault.h).
 *
 * For each operation (a data call, a token issue, an ingest, a log append)
 * and each kind of fault (the n-th store call, the n-th allocation), the
 * operation is sent with X-Dupla-Fault: <kind>:<n> for n = 1, 2, ... until
 * GET /_fault says the fault did not fire (the operation made fewer than n
 * such calls). After every n:
 * - the answer is a success, or a 5xx problem+json (never a 4xx: a failing
 *   store is not the client's fault, never a connection dropped before an
 *   answer); a data answer whose fault came after its headers were sent
 *   (the body is streamed) may only be cut short;
 * - the store is whole: a data call answered 200 has exactly one
 *   "disclosed" log entry, one answered 5xx has none (no data without its
 *   entry, no entry without its answer); a delivery answered 5xx left no
 *   trace, one answered 2xx left its delivery and all its records;
 * - the next call without a fault succeeds.
 * At the end the server must stop cleanly with no sanitizer report (the
 * build is ASan + LSan: a leak on any error path fails here) and
 * `dupla audit verify` must pass on its store.
 *
 * Kinds full and readonly (a full disk, a store that refuses writes) are
 * walked over the log's append: every fault there must answer 503
 * problem+json with Retry-After and the store's reason (store-full,
 * store-read-only), and record nothing.
 *
 * DUPLA_FAULT_STRIDE (default 1: every n) walks n = 1, 1+s, 1+2s, ...:
 * `make check` runs a stride, `make check-fault` every n. The number of
 * calls each operation made is printed ("fault: ...") for the README. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/uuid.h"
#include "harness.h"
#include "store/store.h"

#define CVR_A "12345674"
#define OWNER "19552101"
#define CPR_1 "6601760061"
#define CPR_2 "7109970066"

/* Without DUPLA_FAULT_STRIDE (make check): every store call, every
 * FAULT_ALLOC_STRIDE-th allocation. */
#define FAULT_ALLOC_STRIDE 5

/* No test should need more: a walk that gets here is a runaway. */
#define FAULT_N_MAX 20000

#define CONFIG                                                                                     \
    "{\"identity\": {\"registry_poll_ms\": 50},"                                                   \
    " \"exposure\": {\"rate_per_second\": 100000, \"rate_burst\": 100000}}"

/* Two records of Aarsopgoerelse for 2023; v varies PersonligIndkomst. */
#define DELIVERY_FMT                                                                                 \
    "{\"delivery\":{\"synthetic\":true}}\n"                                                          \
    "{\"PersonCPRNummer\":\"" CPR_1 "\",\"IndkomstÅr\":2023,\"ÅrsopgørelseDato\":\"2024-03-23\"," \
    "\"PersonligIndkomst\":%d,\"LønIndkomst\":167204200,\"OverførselsIndkomst\":0,"                \
    "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":266600,\"LigningsmæssigeFradrag\":5087300,"     \
    "\"Beskæftigelsesfradrag\":4560000,\"SkattepligtigIndkomst\":149007164,\"AktieIndkomst\":0,"    \
    "\"AMBidrag\":13376336,\"Bundskat\":18049701,\"Topskat\":13978002,\"Kommuneskat\":36917034,"     \
    "\"Kirkeskat\":1413230,\"AktieIndkomstSkat\":0,\"SkatIAlt\":83734303,"                           \
    "\"IndeholdtSkat\":88653781,\"Restskat\":0,\"OverskydendeSkat\":4919478,"                        \
    "\"KommuneKode\":\"851\",\"Kirkeskattepligtig\":true}\n"                                         \
    "{\"PersonCPRNummer\":\"" CPR_2 "\",\"IndkomstÅr\":2023,\"ÅrsopgørelseDato\":\"2024-03-16\"," \
    "\"PersonligIndkomst\":%d,\"LønIndkomst\":49378300,\"OverførselsIndkomst\":0,"                 \
    "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":-5575700,\"LigningsmæssigeFradrag\":4560000,"   \
    "\"Beskæftigelsesfradrag\":4560000,\"SkattepligtigIndkomst\":35292336,"                         \
    "\"AktieIndkomst\":3981800,\"AMBidrag\":3950264,\"Bundskat\":4911930,\"Topskat\":0,"             \
    "\"Kommuneskat\":7745053,\"Kirkeskat\":237840,\"AktieIndkomstSkat\":1075086,"                    \
    "\"SkatIAlt\":17920173,\"IndeholdtSkat\":19540192,\"Restskat\":0,"                               \
    "\"OverskydendeSkat\":1620019,\"KommuneKode\":\"561\",\"Kirkeskattepligtig\":true}\n"

/* ---- one server and what it needs ---- */

struct world {
    struct e2e_server srv;
    CURL *api;   /* data calls and /_fault, kept alive */
    CURL *token; /* the token listener, with sysa's certificate */
    CURL *src;   /* the token listener, with the source system's certificate */
    char agreement[AGREEMENT_ID_LEN + 1];
    char txid[UUID_STR_LEN + 1];
    char bearer[4096];
    int deliveries; /* delivery ids d1, d2 ... */
    long disclosed; /* data calls answered 200 */
};

struct answer {
    long status;
    int curl_code;
    char content_type[128];
    char retry_after[16];
    char request_id[UUID_STR_LEN + 1];
    char *body;
    size_t len;
    json_t *json;
};

static void answer_free(struct answer *a)
{
    free(a->body);
    json_decref(a->json);
    memset(a, 0, sizeof *a);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    char *b = realloc(a->body, a->len + sz * n + 1);
    if (!b)
        return 0;
    memcpy(b + a->len, p, sz * n);
    a->body = b;
    a->len += sz * n;
    b[a->len] = 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        const char *v = p + 13;
        size_t m = len - 13;
        while (m && *v == ' ')
            v++, m--;
        while (m && (v[m - 1] == '\r' || v[m - 1] == '\n'))
            m--;
        snprintf(a->content_type, sizeof a->content_type, "%.*s", (int)m, v);
    }
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        const char *v = p + 12;
        size_t m = len - 12;
        while (m && *v == ' ')
            v++, m--;
        while (m && (v[m - 1] == '\r' || v[m - 1] == '\n'))
            m--;
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)m, v);
    }
    return len;
}

/* One request on h (kept alive between calls). fault: the X-Dupla-Fault
 * spec, or NULL. headers: more "Name: value" lines, NULL-terminated. */
static void call(struct world *w, CURL *h, const char *listener, const char *method,
                 const char *path, const char *const *headers, const char *body, const char *fault,
                 struct answer *a)
{
    memset(a, 0, sizeof *a);
    char url[1024], ca[E2E_PATH_MAX], hf[96], hrid[96];
    snprintf(url, sizeof url, "https://localhost:%u%s", e2e_port(&w->srv, listener), path);
    cr_assert_eq(uuid_v4(a->request_id), 0);
    struct curl_slist *hd = NULL;
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", a->request_id);
    hd = curl_slist_append(hd, hrid);
    if (fault) {
        snprintf(hf, sizeof hf, "X-Dupla-Fault: %s", fault);
        hd = curl_slist_append(hd, hf);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        hd = curl_slist_append(hd, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, e2e_pki_path(&w->srv, "ca.pem", ca));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)E2E_REQUEST_TIMEOUT_MS);
    a->curl_code = (int)curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    if (a->body)
        a->json = json_loads(a->body, 0, NULL);
    curl_slist_free_all(hd);
}

static CURL *client(struct world *w, const char *system)
{
    CURL *h = curl_easy_init();
    cr_assert_not_null(h);
    if (system) {
        char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], f[64];
        snprintf(f, sizeof f, "%s.pem", system);
        curl_easy_setopt(h, CURLOPT_SSLCERT, e2e_pki_path(&w->srv, f, pem));
        snprintf(f, sizeof f, "%s.key", system);
        curl_easy_setopt(h, CURLOPT_SSLKEY, e2e_pki_path(&w->srv, f, key));
    }
    return h;
}

static void cli_must(struct world *w, const char *const *args)
{
    int rc = e2e_cli(&w->srv, args);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", e2e_path(&w->srv, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

static store_t *open_store(struct world *w)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(w->srv.config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    config_free(&cfg);
    return st;
}

static int64_t store_count(store_t *st, const char *sql, const char *arg)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0, "%s", err.log);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c, sql, &q, &err), 0, "%s", err.log);
    if (arg)
        store_bind_cstr(q, 1, arg);
    cr_assert_eq(store_step(q, &err), STORE_ROW, "%s", err.log);
    int64_t n = store_col_int64(q, 0);
    store_stmt_done(q);
    store_conn_put(c);
    return n;
}

/* An approved agreement of CVR_A for every field of Aarsopgoerelse, made
 * in-process on the server's store (its registry poll sees it). */
static void approve(struct world *w)
{
    char dir[E2E_PATH_MAX];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "%s/catalog", root ? root : ".");
    catalog_t *cat;
    err_t err;
    cr_assert_eq(catalog_load_dir(dir, &cat, &err), 0, "%s", err.log);
    const struct catalog_service *sv = catalog_find(cat, STR("Aarsopgoerelse"));
    cr_assert_not_null(sv);
    json_t *fields = json_array();
    for (size_t k = 0; k < sv->n_fields; k++)
        if (!catalog_field_is_key(&sv->fields[k]))
            json_array_append_new(fields, json_string(sv->fields[k].name));
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:{s:o}, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "Fault", "purpose", "To test.", "legal_basis", "law", "Lov", "section",
                  "§ 1", "services", "Aarsopgoerelse", fields, "systems", "all", "valid_from",
                  today, "expected_volume", "calls_per_month", 10, "subjects_per_month", 10,
                  "contact", "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    store_t *st = open_store(w);
    agreement_t *ag;
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    struct agreement_actor p = {.user_id = 1, .roles = AGREEMENT_ROLE_PROCESSOR},
                           s = {.user_id = 2, .roles = AGREEMENT_ROLE_SIGNATORY},
                           r = {.user_id = 3, .roles = AGREEMENT_ROLE_DATAFORVALTNING};
    snprintf(p.user_name, sizeof p.user_name, "fault-1");
    snprintf(s.user_name, sizeof s.user_name, "fault-2");
    snprintf(r.user_name, sizeof r.user_name, "fault-3");
    snprintf(p.org_cvr, sizeof p.org_cvr, CVR_A);
    snprintf(s.org_cvr, sizeof s.org_cvr, CVR_A);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, w->agreement, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &s, str_from_cstr(w->agreement), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(w->agreement), "Ok.", NULL, NULL, &err), 0,
                 "%s", err.detail);
    agreement_close(ag);
    store_close(st);
    catalog_free(cat);
}

/* ---- the operations ---- */

static void op_token(struct world *w, const char *fault, struct answer *a)
{
    char htx[96];
    snprintf(htx, sizeof htx, "x-transaktion-id: %s", w->txid);
    const char *h[] = {htx, "Content-Type: application/x-www-form-urlencoded", NULL};
    call(w, w->token, "token", "POST", "/token", h,
         "client_id=api-gateway&scope=openid&grant_type=password", fault, a);
}

static void op_data(struct world *w, const char *fault, struct answer *a)
{
    char hauth[4200], htx[96], hag[160];
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", w->bearer);
    snprintf(htx, sizeof htx, "X-Transaktions-ID: %s", w->txid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: %s%s", AGREEMENT_URN_PREFIX, w->agreement);
    const char *h[] = {hauth, htx, hag, NULL};
    call(w, w->api, "api", "GET", "/Aarsopgoerelse?PersonCPRNummer=" CPR_1, h, NULL, fault, a);
}

/* A delivery (a new id each time, unless again: the last one once more, as
 * a source retries after a 5xx). */
static void op_ingest_again(struct world *w, const char *fault, bool again, struct answer *a)
{
    int k = again ? w->deliveries : ++w->deliveries;
    char body[4096], path[64];
    snprintf(body, sizeof body, DELIVERY_FMT, 150000000 + k, 45000000 + k);
    snprintf(path, sizeof path, "/ingest/Aarsopgoerelse?delivery_id=d%d", k);
    const char *h[] = {"Content-Type: application/x-ndjson", NULL};
    call(w, w->src, "token", "POST", path, h, body, fault, a);
}

static void op_ingest(struct world *w, const char *fault, struct answer *a)
{
    op_ingest_again(w, fault, false, a);
}

static void new_token(struct world *w)
{
    struct answer a;
    op_token(w, NULL, &a);
    cr_assert_eq(a.status, 200, "token: %ld %s", a.status, a.body ? a.body : "");
    snprintf(w->bearer, sizeof w->bearer, "%s",
             json_string_value(json_object_get(a.json, "access_token")));
    answer_free(&a);
}

static void world_start(struct world *w)
{
    memset(w, 0, sizeof *w);
    struct e2e_options opt = {.config_json = CONFIG};
    cr_assert_eq(e2e_start(&opt, &w->srv), 0);
    char pem[E2E_PATH_MAX];
    cr_assert_eq(e2e_issue_system(&w->srv, "skat", OWNER, NULL), 0);
    const char *src[] = {"source", "register", "--name",
                         "skat",   "--cert",   e2e_pki_path(&w->srv, "skat.pem", pem),
                         NULL};
    cli_must(w, src);
    const char *org[] = {"org",     "create", "--name",          "Org A",  "--cvr", CVR_A,
                         "--admin", "a@a.dk", "--contact-email", "k@a.dk", NULL};
    cli_must(w, org);
    cr_assert_eq(e2e_issue_system(&w->srv, "sysa", CVR_A, NULL), 0);
    const char *sys[] = {"system", "register", "--org",  CVR_A,
                         "--name", "sysa",     "--cert", e2e_pki_path(&w->srv, "sysa.pem", pem),
                         NULL};
    cli_must(w, sys);
    approve(w);
    cr_assert_eq(uuid_v4(w->txid), 0);
    w->api = client(w, NULL);
    w->token = client(w, "sysa");
    w->src = client(w, "skat");
    /* the registry poll picks up the systems and the agreement */
    struct answer a = {0};
    for (int i = 0; i < 200; i++) {
        answer_free(&a);
        op_ingest(w, NULL, &a);
        if (a.status == 201)
            break;
        usleep(50 * 1000);
    }
    cr_assert_eq(a.status, 201, "the first delivery: %ld %s", a.status, a.body ? a.body : "");
    answer_free(&a);
    for (int i = 0; i < 200; i++) {
        answer_free(&a);
        op_token(w, NULL, &a);
        if (a.status == 200)
            break;
        usleep(50 * 1000);
    }
    answer_free(&a);
    new_token(w);
    for (int i = 0; i < 200; i++) {
        answer_free(&a);
        op_data(w, NULL, &a);
        if (a.status == 200)
            break;
        usleep(50 * 1000);
    }
    cr_assert_eq(a.status, 200, "the first data call: %ld %s", a.status, a.body ? a.body : "");
    answer_free(&a);
}

/* Stops the server (a clean exit, no sanitizer report: no leak) and
 * verifies the disclosure log of its store. */
static void world_stop(struct world *w)
{
    curl_easy_cleanup(w->api);
    curl_easy_cleanup(w->token);
    curl_easy_cleanup(w->src);
    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&w->srv), 0, "the server did not stop cleanly");
    const char *verify[] = {"audit", "verify", NULL};
    int rc = e2e_cli(&w->srv, verify);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -20 %s >&2", e2e_path(&w->srv, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla audit verify exited %d after the faults", rc);
    }
    e2e_remove_dir(&w->srv);
}

/* ---- the walk ---- */

struct report {
    bool fired;
    int64_t calls;
    char what[32];
};

enum op_kind { OP_DATA, OP_TOKEN, OP_INGEST };

/* Asked on the operation's own connection (keep-alive): the server ends
 * the armed request, and disarms its fault, before it reads the next one
 * there. Asked on another connection, the question could race the armed
 * request's end and meet its fault (a walk's last n, past the calls). */
static void fault_report(struct world *w, enum op_kind op, struct report *r)
{
    struct answer a;
    if (op == OP_TOKEN)
        call(w, w->token, "token", "GET", "/_fault", NULL, NULL, NULL, &a);
    else if (op == OP_INGEST)
        call(w, w->src, "token", "GET", "/_fault", NULL, NULL, NULL, &a);
    else
        call(w, w->api, "api", "GET", "/_fault", NULL, NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "GET /_fault: %ld (curl %d)", a.status, a.curl_code);
    cr_assert(json_is_true(json_object_get(a.json, "done")), "the armed request never completed");
    r->fired = json_is_true(json_object_get(a.json, "fired"));
    r->calls = json_integer_value(json_object_get(a.json, "calls"));
    snprintf(r->what, sizeof r->what, "%s", json_string_value(json_object_get(a.json, "what")));
    answer_free(&a);
}

static bool ok(long status)
{
    return status >= 200 && status <= 299;
}

/* The answer to an operation under a fault: a success, or a clean 5xx. */
static void check_answer(struct world *w, enum op_kind op, const char *spec, const struct answer *a,
                         const struct report *r)
{
    if (ok(a->status) && a->curl_code != CURLE_OK && op == OP_DATA && r->fired)
        return; /* the body is streamed: a fault after the headers can only cut it short */
    if (a->curl_code != CURLE_OK || a->status == 0) {
        e2e_log_tail(&w->srv, 40);
        cr_assert_fail("%s: no answer (curl %d); the fault was in %s", spec, a->curl_code, r->what);
    }
    if (ok(a->status) && op == OP_DATA) {
        /* the whole answer: JSON, with the data asked for */
        cr_assert_not_null(a->json, "%s (fault in %s): a 200 that is not JSON: %s", spec, r->what,
                           a->body ? a->body : "");
        cr_assert(strstr(a->body, "PersonligIndkomst"), "%s (fault in %s): %s", spec, r->what,
                  a->body);
    }
    if (ok(a->status))
        return;
    if (a->status < 500 || a->status > 599 || !a->json ||
        strcmp(a->content_type, "application/problem+json") != 0) {
        e2e_log_tail(&w->srv, 40);
        cr_assert_fail("%s (fault in %s): %ld %s, want 200 or a 5xx problem+json: %s", spec,
                       r->what, a->status, a->content_type, a->body ? a->body : "");
    }
    cr_assert(r->fired, "%s: %ld without a fault", spec, a->status);
    /* a full or read-only store under the log: 503, try later, and why */
    bool full = strncmp(spec, "full:", 5) == 0, ro = strncmp(spec, "readonly:", 9) == 0;
    if (op == OP_DATA && (full || ro)) {
        const char *type = json_string_value(json_object_get(a->json, "type"));
        cr_assert_eq(a->status, 503, "%s (fault in %s): %ld, want 503: %s", spec, r->what,
                     a->status, a->body);
        cr_assert(a->retry_after[0], "%s (fault in %s): a 503 without Retry-After", spec, r->what);
        cr_assert(type && strstr(type, full ? "/store-full" : "/store-read-only"),
                  "%s (fault in %s): type %s", spec, r->what, type ? type : "(none)");
    }
}

/* The store after an operation: the log agrees with the answer, a delivery
 * is all or nothing. */
static void check_store(struct world *w, enum op_kind op, const char *spec, const struct answer *a)
{
    store_t *st = open_store(w);
    if (op == OP_DATA) {
        int64_t disclosed = store_count(
            st, "SELECT count(*) FROM audit_entry WHERE request_id = ? AND outcome = 'disclosed'",
            a->request_id);
        int64_t all =
            store_count(st, "SELECT count(*) FROM audit_entry WHERE request_id = ?", a->request_id);
        bool answered = a->status == 200;
        if (answered)
            w->disclosed++;
        cr_assert_eq(disclosed, answered ? 1 : 0,
                     "%s: answered %ld, but %lld disclosure entries for its request", spec,
                     a->status, (long long)disclosed);
        cr_assert_eq(all, disclosed, "%s: %lld entries for one request", spec, (long long)all);
    } else if (op == OP_INGEST) {
        char id[32];
        snprintf(id, sizeof id, "d%d", w->deliveries);
        int64_t deliveries =
            store_count(st, "SELECT count(*) FROM dataset_delivery WHERE id = ?", id);
        int64_t records = store_count(st,
                                      "SELECT count(*) FROM dataset_record r JOIN dataset_delivery "
                                      "d ON d.seq = r.delivery_seq WHERE d.id = ?",
                                      id);
        /* all or nothing; a 5xx may come after the commit (the answer
         * failed, as it may on the network), which the client's retry
         * with the same delivery id then sees as already delivered */
        cr_assert_leq(deliveries, 1, "%s: %lld deliveries of one id", spec, (long long)deliveries);
        cr_assert_eq(records, 2 * deliveries, "%s: answered %ld, %lld records of %lld deliveries",
                     spec, a->status, (long long)records, (long long)deliveries);
        if (ok(a->status))
            cr_assert_eq(deliveries, 1, "%s: answered %ld, but nothing stored", spec, a->status);
    }
    store_close(st);
}

/* n = 1, 1 + stride, ... until the operation completes without meeting
 * the fault; returns the number of calls it made. */
static int64_t walk(struct world *w, enum op_kind op, const char *kind, const char *scope,
                    const char *label)
{
    const char *s = getenv("DUPLA_FAULT_STRIDE");
    int stride = s && atoi(s) > 0 ? atoi(s) : strcmp(kind, "alloc") == 0 ? FAULT_ALLOC_STRIDE : 1;
    int64_t calls = -1;
    int tried = 0, fired = 0, absorbed = 0, failed = 0, cut = 0;
    int64_t t0 = clock_mono_ns();
    const char *from = getenv("DUPLA_FAULT_FROM"); /* to rerun a finding */
    int n0 = from && atoi(from) > 0 ? atoi(from) : 1;
    for (int n = n0; n < FAULT_N_MAX && calls < 0; n += stride) {
        char spec[48];
        snprintf(spec, sizeof spec, "%s:%d%s", kind, n, scope);
        struct answer a;
        if (op == OP_DATA)
            op_data(w, spec, &a);
        else if (op == OP_TOKEN)
            op_token(w, spec, &a);
        else
            op_ingest(w, spec, &a);
        struct report r;
        fault_report(w, op, &r);
        tried++;
        check_answer(w, op, spec, &a, &r);
        if (r.fired && a.curl_code != CURLE_OK)
            cut++;
        else if (r.fired && ok(a.status))
            absorbed++;
        else if (r.fired)
            failed++;
        check_store(w, op, spec, &a);
        if (op == OP_TOKEN && ok(a.status)) {
            /* a token issued despite a fault must be a good one */
            const char *t = json_string_value(json_object_get(a.json, "access_token"));
            cr_assert_not_null(t, "%s: %s", spec, a.body);
            snprintf(w->bearer, sizeof w->bearer, "%s", t);
            struct answer d;
            op_data(w, NULL, &d);
            cr_assert_eq(d.status, 200, "%s: the token issued does not serve: %ld %s (token %s)",
                         spec, d.status, d.body ? d.body : "", a.body);
            check_store(w, OP_DATA, spec, &d);
            answer_free(&d);
        }
        answer_free(&a);
        if (!r.fired) {
            calls = r.calls;
            cr_assert_lt(calls, n, "%s: %lld calls but the fault did not fire", spec,
                         (long long)calls);
            break;
        }
        fired++;
        /* the next call, without a fault, succeeds */
        if (op == OP_DATA)
            op_data(w, NULL, &a);
        else if (op == OP_TOKEN)
            op_token(w, NULL, &a);
        else
            op_ingest_again(w, NULL, true, &a);
        if (!ok(a.status)) {
            e2e_log_tail(&w->srv, 40);
            cr_assert_fail("%s: the next call answered %ld (curl %d): %s", spec, a.status,
                           a.curl_code, a.body ? a.body : "");
        }
        check_store(w, op, spec, &a);
        answer_free(&a);
    }
    cr_assert_geq(calls, 0, "%s %s%s: no end in sight", label, kind, scope);
    printf("fault: %s, %s%s: %lld calls; %d values of n tried (stride %d), %d faults fired: "
           "%d answered 5xx, %d succeeded anyway, %d cut short; %.1f s\n",
           label, kind, scope, (long long)calls, tried, stride, fired, failed, absorbed, cut,
           (double)(clock_mono_ns() - t0) / 1e9);
    fflush(stdout);
    return calls;
}

/* ---- the tests ---- */

Test(fault, data_call_store)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "store", "", "a data call");
    world_stop(&w);
}

Test(fault, data_call_alloc)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "alloc", "", "a data call");
    world_stop(&w);
}

Test(fault, log_append_store)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "store", ":log", "a log append");
    world_stop(&w);
}

Test(fault, log_append_alloc)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "alloc", ":log", "a log append");
    world_stop(&w);
}

Test(fault, log_append_disk_full)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "full", ":log", "a log append");
    world_stop(&w);
}

Test(fault, log_append_read_only_store)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_DATA, "readonly", ":log", "a log append");
    world_stop(&w);
}

Test(fault, token_issue_store)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_TOKEN, "store", "", "a token issue");
    world_stop(&w);
}

Test(fault, token_issue_alloc)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_TOKEN, "alloc", "", "a token issue");
    world_stop(&w);
}

Test(fault, ingest_store)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_INGEST, "store", "", "an ingest");
    world_stop(&w);
}

Test(fault, ingest_alloc)
{
    struct world w;
    world_start(&w);
    walk(&w, OP_INGEST, "alloc", "", "an ingest");
    world_stop(&w);
}
