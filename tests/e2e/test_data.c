/* End-to-end: the data services over real HTTPS against `dupla serve`, with
 * a client written the way the public client library works: a token from
 * the token endpoint over mutual TLS with the system's PKCS#12 file
 * (CURLOPT_SSLCERTTYPE "P12"), then GETs on one kept-alive connection with
 * Authorization: Bearer, X-Request-ID (a new UUID per call),
 * X-Transaktions-ID (one per job) and UFST-Adgangsgrundlag, lists as the
 * same parameter repeated.
 *
 * The world (organisations, systems, synthetic data, agreements) is made
 * once per server under a lock by the first test; agreements are made
 * in-process on the server's store (the server's registry sync sees them
 * within a second) and their ids kept in <dir>/world.json. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/uuid.h"
#include "dataset/dataset.h"
#include "api_helpers.h"
#include "harness.h"
#include "store/store.h"
#include "testdata/testdata.h"

#define CVR_A "12345674"
#define CVR_B "20000007"

#define CONFIG                                                                                     \
    "{\"identity\": {\"registry_poll_ms\": 50},"                                                   \
    " \"exposure\": {\"window_margin_seconds\": 0, \"rate_per_second\": 100000,"                   \
    " \"rate_burst\": 100000}}"
#define CONFIG_RATE                                                                                \
    "{\"identity\": {\"registry_poll_ms\": 50},"                                                   \
    " \"exposure\": {\"rate_per_second\": 1, \"rate_burst\": 2}}"

E2E_SHARED_SERVERS({"main", {.config_json = CONFIG}}, {"rate", {.config_json = CONFIG_RATE}},
                   {"window", {.config_json = CONFIG}});

static const struct testdata_options TDO = {40, 30, 2022, 2024, 5};

/* ---- the CLI and the store ---- */

static void must(const struct e2e_server *s, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    for (; args[n] && n < 28; n++)
        argv[n] = args[n];
    argv[n++] = "--config";
    argv[n++] = s->config;
    argv[n] = NULL;
    char log[E2E_PATH_MAX];
    int rc = e2e_run_dupla(argv, e2e_path(s, "cli.log", log));
    if (rc != 0) {
        char cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", log);
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

static store_t *open_store(const struct e2e_server *s)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    config_free(&cfg);
    return st;
}

static catalog_t *load_catalog(void)
{
    char d[E2E_PATH_MAX];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(d, sizeof d, "%s/catalog", root ? root : ".");
    catalog_t *cat;
    err_t err;
    cr_assert_eq(catalog_load_dir(d, &cat, &err), 0, "%s", err.log);
    return cat;
}

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "e2e-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

/* An approved agreement of org for services ({"svc": [fields]}, stolen) and
 * systems ("all" or an array, stolen). */
static void approve(agreement_t *ag, const char *org, json_t *services, json_t *systems, char *id)
{
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:o, s:o, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "E2E", "purpose", "To test.", "legal_basis", "law", "Lov", "section",
                  "§ 1", "services", services, "systems", systems, "valid_from", today,
                  "expected_volume", "calls_per_month", 10, "subjects_per_month", 10, "contact",
                  "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    err_t err;
    struct agreement_actor p = actor(1, org, AGREEMENT_ROLE_PROCESSOR),
                           sg = actor(2, org, AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &sg, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(id), "Ok.", NULL, NULL, &err), 0, "%s",
                 err.detail);
}

static json_t *all_fields(const catalog_t *cat)
{
    json_t *all = json_object();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *s = catalog_service_at(cat, i);
        json_t *f = json_array();
        for (size_t k = 0; k < s->n_fields; k++)
            if (!catalog_field_is_key(&s->fields[k]))
                json_array_append_new(f, json_string(s->fields[k].name));
        json_object_set_new(all, s->path, f);
    }
    return all;
}

static void system_id(store_t *st, const char *name, char *out)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c, "SELECT id FROM identity_system WHERE name = ?", &q, &err), 0);
    store_bind_cstr(q, 1, name);
    cr_assert_eq(store_step(q, &err), STORE_ROW, "system %s", name);
    str_copy(store_col_text(q, 0), out, UUID_STR_LEN + 1);
    store_stmt_done(q);
    store_conn_put(c);
}

/* The world's agreement ids, by name, from <dir>/world.json. */
static json_t *world_ids;

static const char *ag_id(const char *name)
{
    const char *v = json_string_value(json_object_get(world_ids, name));
    cr_assert_not_null(v, "no agreement %s", name);
    return v;
}

static void make_world(const struct e2e_server *s)
{
    const char *o1[] = {"org",     "create", "--name",          "Kommune A", "--cvr", CVR_A,
                        "--admin", "a@a.dk", "--contact-email", "k@a.dk",    NULL};
    const char *o2[] = {"org",     "create", "--name",          "Bank B", "--cvr", CVR_B,
                        "--admin", "b@b.dk", "--contact-email", "k@b.dk", NULL};
    must(s, o1);
    must(s, o2);
    const char *sys[][2] = {{"sysa", CVR_A}, {"sysa2", CVR_A}, {"sysgone", CVR_A}, {"sysb", CVR_B}};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(e2e_issue_system(s, sys[i][0], sys[i][1], NULL), 0);
        char pem[E2E_PATH_MAX], file[64];
        snprintf(file, sizeof file, "%s.pem", sys[i][0]);
        const char *reg[] = {"system", "register", "--org",  sys[i][1],
                             "--name", sys[i][0],  "--cert", e2e_pki_path(s, file, pem),
                             NULL};
        must(s, reg);
    }
    char persons[16], companies[16], seed[16], years[16];
    snprintf(persons, sizeof persons, "%u", TDO.persons);
    snprintf(companies, sizeof companies, "%u", TDO.companies);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)TDO.seed);
    snprintf(years, sizeof years, "%d-%d", TDO.year_from, TDO.year_to);
    const char *gen[] = {"testdata", "generate", "--persons", persons,  "--companies",
                         companies,  "--years",  years,       "--seed", seed,
                         "--ingest", "--quiet",  NULL};
    must(s, gen);

    store_t *st = open_store(s);
    catalog_t *cat = load_catalog();
    agreement_t *ag;
    err_t err;
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    json_t *ids = json_object();
    char id[AGREEMENT_ID_LEN + 1], sa2[UUID_STR_LEN + 1];
    approve(ag, CVR_A, all_fields(cat), json_string("all"), id);
    json_object_set_new(ids, "full", json_string(id));
    approve(ag, CVR_A, all_fields(cat), json_string("all"), id);
    json_object_set_new(ids, "to_revoke", json_string(id));
    approve(ag, CVR_B, all_fields(cat), json_string("all"), id);
    json_object_set_new(ids, "org_b", json_string(id));
    system_id(st, "sysa2", sa2);
    approve(ag, CVR_A, all_fields(cat), json_pack("[s]", sa2), id);
    json_object_set_new(ids, "only_sysa2", json_string(id));
    approve(ag, CVR_A, json_pack("{s:[s, s]}", "Momsangivelse", "Salgsmoms", "Købsmoms"),
            json_string("all"), id);
    json_object_set_new(ids, "moms_two", json_string(id));
    /* random field sets (seeded: the failures reproduce) */
    unsigned seedv = 20261128;
    json_t *random = json_array();
    for (int k = 0; k < 12; k++) {
        json_t *svcs = json_object();
        for (size_t i = 0; i < catalog_count(cat); i++) {
            const struct catalog_service *sv = catalog_service_at(cat, i);
            json_t *f = json_array();
            for (size_t j = 0; j < sv->n_fields; j++)
                if (!catalog_field_is_key(&sv->fields[j]) && rand_r(&seedv) % 3 == 0)
                    json_array_append_new(f, json_string(sv->fields[j].name));
            if (json_array_size(f) == 0 && sv->n_fields > 0) {
                for (size_t j = 0; j < sv->n_fields; j++)
                    if (!catalog_field_is_key(&sv->fields[j])) {
                        json_array_append_new(f, json_string(sv->fields[j].name));
                        break;
                    }
            }
            json_object_set_new(svcs, sv->path, f);
        }
        json_t *copy = json_deep_copy(svcs);
        approve(ag, CVR_A, svcs, json_string("all"), id);
        json_array_append_new(random, json_pack("{s:s, s:o}", "id", id, "services", copy));
    }
    json_object_set_new(ids, "random", random);
    /* the subjects that have data, per service and subject parameter
     * ("path|parameter"; not every company files every kind of return) */
    json_t *subjects = json_object();
    store_conn_t *conn;
    cr_assert_eq(store_conn_get(st, &conn, &err), 0);
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *sv = catalog_service_at(cat, i);
        json_t *lists[CATALOG_MAX_SUBJECTS];
        for (size_t k = 0; k < sv->n_subjects; k++)
            lists[k] = json_array();
        store_stmt_t *q;
        cr_assert_eq(store_prepare(conn,
                                   "SELECT DISTINCT r.subject FROM dataset_record r JOIN "
                                   "dataset_service s ON s.id = r.service_id WHERE s.path = ? "
                                   "ORDER BY 1",
                                   &q, &err),
                     0, "%s", err.log);
        store_bind_cstr(q, 1, sv->path);
        while (store_step(q, &err) == STORE_ROW) {
            /* a service of several subject kinds tags each key by its kind */
            int64_t v = store_col_int64(q, 0);
            size_t k = (size_t)(v / DATASET_SUBJECT_TAG);
            cr_assert_lt(k, sv->n_subjects);
            char num[16];
            snprintf(num, sizeof num, "%0*lld", sv->subjects[k].kind == CATALOG_IDENT_CPR ? 10 : 8,
                     (long long)(v % DATASET_SUBJECT_TAG));
            json_array_append_new(lists[k], json_string(num));
        }
        store_stmt_done(q);
        for (size_t k = 0; k < sv->n_subjects; k++) {
            char key[160];
            snprintf(key, sizeof key, "%s|%s", sv->path, sv->subjects[k].param->name);
            cr_assert_gt(json_array_size(lists[k]), 0, "%s has test data", key);
            json_object_set_new(subjects, key, lists[k]);
        }
    }
    store_conn_put(conn);
    json_object_set_new(ids, "subjects", subjects);
    agreement_close(ag);
    catalog_free(cat);
    store_close(st);
    char path[E2E_PATH_MAX];
    cr_assert_eq(json_dump_file(ids, e2e_path(s, "world.json", path), 0), 0);
    json_decref(ids);
    usleep(1500 * 1000); /* the server's agreement sync and registry poll */
}

static const struct e2e_server *world(const char *name)
{
    const struct e2e_server *s = e2e_shared(name);
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX], path[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        make_world(s);
        FILE *f = fopen(done, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    json_error_t jerr;
    world_ids = json_load_file(e2e_path(s, "world.json", path), 0, &jerr);
    cr_assert_not_null(world_ids, "%s", jerr.text);
    return s;
}

/* ---- the client, as the public client library works ---- */

struct client {
    const struct e2e_server *srv;
    CURL *h;
    char token[4096];
    char txid[UUID_STR_LEN + 1];
    char agreement[AGREEMENT_ID_LEN + 1];
    bool head;            /* send HEAD instead of GET */
    const char *case_ref; /* X-Dupla-Sagsreference, when set */
};

struct reply {
    long status;
    char request_id[UUID_STR_LEN + 1];
    char echoed_id[128];
    char environment[32];
    char retry_after[16];
    char ratelimit[96], ratelimit_policy[96];
    char www_auth[256];
    char window_end[32];
    char disclosure[24]; /* X-Dupla-Udlevering */
    char *body;
    size_t len;
    json_t *json;
};

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, sz * n);
    r->body = b;
    r->len += sz * n;
    b[r->len] = 0;
    return sz * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    if (n > k + 1 && strncasecmp(line, name, k) == 0 && line[k] == ':') {
        const char *v = line + k + 1;
        size_t m = n - k - 1;
        while (m && (*v == ' '))
            v++, m--;
        while (m && (v[m - 1] == '\r' || v[m - 1] == '\n'))
            m--;
        snprintf(out, cap, "%.*s", (int)m, v);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    header_value(p, sz * n, "X-Request-ID", r->echoed_id, sizeof r->echoed_id);
    header_value(p, sz * n, "X-Dupla-Miljoe", r->environment, sizeof r->environment);
    header_value(p, sz * n, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value(p, sz * n, "RateLimit", r->ratelimit, sizeof r->ratelimit);
    header_value(p, sz * n, "RateLimit-Policy", r->ratelimit_policy, sizeof r->ratelimit_policy);
    header_value(p, sz * n, "WWW-Authenticate", r->www_auth, sizeof r->www_auth);
    header_value(p, sz * n, "X-Dupla-Registrering-Til", r->window_end, sizeof r->window_end);
    header_value(p, sz * n, "X-Dupla-Udlevering", r->disclosure, sizeof r->disclosure);
    return sz * n;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* POST <token>: client_id=api-gateway, scope=openid, grant_type=password,
 * x-transaktion-id, over mutual TLS with the system's PKCS#12 file. (The
 * public client hands the .p12 to its TLS library; Debian's libcurl-gnutls
 * does not take CURLOPT_SSLCERTTYPE "P12", so the harness opens the
 * PKCS#12 file with GnuTLS and gives libcurl its certificate and key.) */
static void client_token(struct client *c, const char *system)
{
    char p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256], file[64], txh[96];
    snprintf(file, sizeof file, "%s.p12", system);
    e2e_pki_path(c->srv, file, p12);
    snprintf(file, sizeof file, "%s.p12.pass", system);
    cr_assert_eq(e2e_read_line(e2e_pki_path(c->srv, file, pwfile), pw, sizeof pw), 0);
    snprintf(txh, sizeof txh, "x-transaktion-id: %s", c->txid);
    const char *headers[] = {txh, "Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = "client_id=api-gateway&scope=openid&grant_type=password",
                             .p12_file = p12,
                             .p12_password = pw};
    struct e2e_response r;
    cr_assert_eq(e2e_request(c->srv, &rq, &r), 0, "token: %s", r.error);
    e2e_assert_status(c->srv, &r, 200);
    cr_assert_not_null(r.json);
    snprintf(c->token, sizeof c->token, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    cr_assert_gt(json_integer_value(json_object_get(r.json, "expires_in")), 0);
    e2e_response_free(&r);
}

static void client_open(struct client *c, const struct e2e_server *s, const char *system,
                        const char *agreement)
{
    memset(c, 0, sizeof *c);
    c->srv = s;
    cr_assert_eq(uuid_v4(c->txid), 0);
    snprintf(c->agreement, sizeof c->agreement, "%s", agreement);
    if (system)
        client_token(c, system);
    c->h = curl_easy_init();
}

static void client_close(struct client *c)
{
    curl_easy_cleanup(c->h);
}

/* Which protocol headers to leave out or spoil (tests of refusals). */
enum { H_ALL = 0, NO_AUTH = 1, NO_RID = 2, BAD_RID = 4, NO_TX = 8, NO_AG = 16, BAD_AG = 32 };

/* GET /<service>?<query> (query already encoded). */
static void client_get(struct client *c, const char *service, const char *query, unsigned spoil,
                       struct reply *r)
{
    memset(r, 0, sizeof *r);
    char ca[E2E_PATH_MAX];
    size_t ulen = strlen(query) + 256;
    char *url = malloc(ulen);
    snprintf(url, ulen, "https://localhost:%u/%s%s%s", e2e_port(c->srv, "api"), service,
             query[0] ? "?" : "", query);
    cr_assert_eq(uuid_v4(r->request_id), 0);
    char hauth[4200], hrid[96], htx[96], hag[160], hcase[160];
    struct curl_slist *hd = NULL;
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", c->token);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", spoil & BAD_RID ? "not-a-uuid" : r->request_id);
    snprintf(htx, sizeof htx, "X-Transaktions-ID: %s", c->txid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: %s%s",
             spoil & BAD_AG ? "urn:other:" : AGREEMENT_URN_PREFIX, c->agreement);
    if (!(spoil & NO_AUTH))
        hd = curl_slist_append(hd, hauth);
    if (!(spoil & NO_RID))
        hd = curl_slist_append(hd, hrid);
    if (!(spoil & NO_TX))
        hd = curl_slist_append(hd, htx);
    if (!(spoil & NO_AG))
        hd = curl_slist_append(hd, hag);
    if (c->case_ref) {
        snprintf(hcase, sizeof hcase, "X-Dupla-Sagsreference: %s", c->case_ref);
        hd = curl_slist_append(hd, hcase);
    }
    curl_easy_reset(c->h);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_CAINFO, e2e_pki_path(c->srv, "ca.pem", ca));
    curl_easy_setopt(c->h, CURLOPT_CAPATH, NULL); /* not the system CA folder too */
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)E2E_REQUEST_TIMEOUT_MS);
    if (c->head)
        curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
    CURLcode cc = curl_easy_perform(c->h);
    cr_assert_eq(cc, CURLE_OK, "GET %s: %s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body)
        r->json = json_loads(r->body, 0, NULL);
    curl_slist_free_all(hd);
    free(url);
}

#define assert_status(r, want)                                                                     \
    cr_assert_eq((r)->status, (want), "status %ld, want %d: %s", (r)->status, (want),              \
                 (r)->body ? (r)->body : "")

static void assert_problem(struct reply *r, int status, const char *type, const char *param)
{
    assert_status(r, status);
    cr_assert_not_null(r->json, "not JSON: %s", r->body);
    const char *t = json_string_value(json_object_get(r->json, "type"));
    cr_assert_not_null(t);
    char want[128];
    snprintf(want, sizeof want, "/problems/%s", type);
    cr_assert(strstr(t, want), "type %s, want %s: %s", t, type, r->body);
    if (param)
        cr_assert_str_eq(json_string_value(json_object_get(r->json, "parameter")), param, "%s",
                         r->body);
}

/* ---- the disclosure log, read from the store ---- */

static bool log_entry(const struct e2e_server *s, const char *request_id, struct audit_row *out,
                      arena_t *a)
{
    store_t *st = open_store(s);
    struct audit_filter f = {.newest_first = true, .limit = AUDIT_PAGE_MAX};
    bool found = false;
    for (int page_no = 0; page_no < 50 && !found; page_no++) {
        struct audit_page page;
        err_t err;
        cr_assert_eq(audit_query(st, &f, NULL, a, &page, &err), 0, "%s", err.log);
        for (size_t i = 0; i < page.n && !found; i++)
            if (strcmp(page.rows[i].request_id, request_id) == 0) {
                *out = page.rows[i];
                found = true;
            }
        if (!page.next)
            break;
        f.after = page.next;
    }
    store_close(st);
    return found;
}

/* Checks that the log holds exactly what the answer r carried. */
static void assert_logged(const struct e2e_server *s, struct reply *r, const char *subject_key)
{
    arena_t *a = arena_new(64u << 20);
    struct audit_row row;
    cr_assert(log_entry(s, r->request_id, &row, a), "no log entry for %s", r->request_id);
    cr_assert_eq(row.outcome, AUDIT_DISCLOSED);
    /* the answer names its entry: the recipient's handle for its receipt */
    cr_assert_eq(strtoll(r->disclosure, NULL, 10), row.seq, "X-Dupla-Udlevering: %s, entry %lld",
                 r->disclosure, (long long)row.seq);
    json_t *data = json_object_get(r->json, "data");
    cr_assert_eq(row.record_count, (int64_t)json_array_size(data));
    /* subjects: exactly those of the records */
    json_t *subjects = json_object();
    json_t *keys = json_object();
    size_t i;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        json_object_set_new(subjects, json_string_value(json_object_get(rec, subject_key)),
                            json_true());
        const char *k;
        json_t *v;
        json_object_foreach(rec, k, v) json_object_set_new(keys, k, json_true());
    }
    cr_assert_eq(row.n_subjects, json_object_size(subjects));
    for (size_t k = 0; k < row.n_subjects; k++) {
        char id[16];
        str_copy(row.subjects[k].id, id, sizeof id);
        cr_assert_not_null(json_object_get(subjects, id), "logged subject not sent");
    }
    if (json_array_size(data) > 0) {
        cr_assert_eq(row.n_fields, json_object_size(keys), "fields logged != fields sent");
        for (size_t k = 0; k < row.n_fields; k++) {
            char f[128];
            str_copy(row.fields[k], f, sizeof f);
            cr_assert_not_null(json_object_get(keys, f), "logged field %s not sent", f);
        }
    }
    json_decref(subjects);
    json_decref(keys);
    /* what went out, version by version, and from which deliveries */
    cr_assert_eq(row.format, 2);
    store_t *st = open_store(s);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0, "%s", err.log);
    char sql[160];
    int64_t n_versions, n_deliveries;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM audit_entry_version WHERE seq = %lld",
             (long long)row.seq);
    cr_assert_eq(store_query_int64(c, sql, 0, &n_versions, &err), 0, "%s", err.log);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM audit_entry_delivery WHERE seq = %lld",
             (long long)row.seq);
    cr_assert_eq(store_query_int64(c, sql, 0, &n_deliveries, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
    cr_assert_eq(n_versions, row.record_count <= AUDIT_VERSIONS_MAX ? row.record_count : 0);
    cr_assert(row.record_count == 0 ? n_deliveries == 0 : n_deliveries >= 1,
              "%lld records from %lld deliveries", (long long)row.record_count,
              (long long)n_deliveries);
    arena_free(a);
}

/* ---- the services ---- */

struct svc_case {
    const char *plain;   /* the catalogue's path */
    const char *path;    /* as sent (percent-encoded) */
    const char *subject; /* subject parameter */
    bool cpr;            /* subjects are persons */
    const char *period;  /* extra query for the period ("" none) */
    const char *years;   /* a many-years or filter query part ("" when the service has none) */
    const char *window;  /* a registration window part ("" when the service has none) */
    const char *narrow;  /* a field to narrow to */
};

static const struct svc_case CASES[] = {
    {"Aarsopgoerelse", "Aarsopgoerelse", "PersonCPRNummer", true, "",
     "IndkomstÅr=2022&IndkomstÅr=2023&IndkomstÅr=2024",
     "UdstillingRegistreringFra=2000-01-01T00:00:00Z", "SkattepligtigIndkomst"},
    {"Forskudsopgoerelse", "Forskudsopgoerelse", "PersonCPRNummer", true, "",
     "IndkomstÅr=2023&IndkomstÅr=2024",
     "UdstillingRegistreringFra=2000-01-01T00:00:00Z&UdstillingRegistreringTil=2100-01-01T00:00:"
     "00Z",
     NULL},
    {"Momsangivelse", "Momsangivelse", "VirksomhedSENummer", false,
     "AfregningPeriodeForholdPeriodeStartDato=2022-01-01&AfregningPeriodeForholdPeriodeSlutDato="
     "2024-12-31",
     "", "UdstillingRegistreringFra=2000-01-01T00:00:00Z", "Salgsmoms"},
    {"Loensumsangivelser", "L%C3%B8nsumsangivelser", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "Lønsum"},
    /* the rest of the catalogue (#16): each subject kind, each filter */
    {"Kontrolregistreringer/Virksomhed", "Kontrolregistreringer/Virksomhed", "VirksomhedCVRNummer",
     false, "", "", "TekniskRegistreringDatoFra=2000-01-01", "KontrolTypeKode"},
    {"Kontrolregistreringer/Virksomhed", "Kontrolregistreringer/Virksomhed", "VirksomhedSENummer",
     false, "", "", "TekniskRegistreringDatoFra=2000-01-01&TekniskRegistreringDatoTil=2100-01-01",
     "KontrolStatusKode"},
    {"Kontrolobservationer", "Kontrolobservationer", "PersonCPRNummer", true, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "ObservationBeløb"},
    {"virksomhedskontroloplysninger", "virksomhedskontroloplysninger", "VirksomhedSENummer", false,
     "", "KontrolOplysningRapportIndkomst%C3%85r=2022&KontrolOplysningRapportIndkomst%C3%85r=2024",
     "", "AngivetSalgsmoms"},
    {"personkontroloplysninger", "personkontroloplysninger", "PersonCPRNummer", true, "",
     "KontrolOplysningRapportIndkomst%C3%85r=2023&KontrolOplysningRapportIndkomst%C3%85r=2024", "",
     "IndberettetLønIndkomst"},
    {"Ligningssager", "Ligningssager", "PersonCPRNummer", true, "",
     "SagTypeKode=GENOPTAGELSE&SagTypeKode=ANSAETTELSE", "TekniskRegistreringDatoFra=2000-01-01",
     "SagStatusKode"},
    {"Ligningssager", "Ligningssager", "VirksomhedCVRNummer", false, "",
     "SagTypeKode=MOMSREGULERING", "TekniskRegistreringDatoFra=2000-01-01", "ÆndringBeløb"},
    {"Ligningssager", "Ligningssager", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "SagTypeKode"},
    {"Selskabsskatteoplysninger/Selskabsambeskatningskreds",
     "Selskabsskatteoplysninger/Selskabsambeskatningskreds", "VirksomhedCVRNummer", false, "",
     "SelskabSelvangivelseIndkomst%C3%85r=2022&SelskabSelvangivelseIndkomst%C3%85r=2023",
     "TekniskRegistreringDatoFra=2000-01-01", "AdministrationsselskabCVRNummer"},
    {"Selskabsskatteoplysninger/Selskabsambeskatningskreds",
     "Selskabsskatteoplysninger/Selskabsambeskatningskreds", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "SambeskatningRolleKode"},
    {"Selskabsskatteoplysninger/Selskabselvangivelse",
     "Selskabsskatteoplysninger/Selskabselvangivelse", "VirksomhedCVRNummer", false, "",
     "SelskabSelvangivelseIndkomst%C3%85r=2024", "TekniskRegistreringDatoFra=2000-01-01",
     "Selskabsskat"},
    {"Selskabsskatteoplysninger/Selskabselvangivelse",
     "Selskabsskatteoplysninger/Selskabselvangivelse", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "SkattepligtigIndkomst"},
    {"Virksomhedspligter", "Virksomhedspligter", "VirksomhedCVRNummer", false, "",
     "PligtKode=1&PligtKode=5&RegistreringForholdGyldigDatoFra=2023-01-01&"
     "RegistreringForholdGyldigDatoTil=2023-12-31",
     "TekniskRegistreringDatoFra=2000-01-01", "PligtKode"},
    {"Virksomhedspligter", "Virksomhedspligter", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "RegistreringForholdGyldigTilDato"},
    {"Virksomhedsstatus", "Virksomhedsstatus", "VirksomhedCVRNummer", false, "",
     "VirksomhedStatusTypeKode=1&VirksomhedStatusTypeGyldigFra=2024-01-01",
     "TekniskRegistreringDatoFra=2000-01-01", "VirksomhedStatusTypeKode"},
    {"Virksomhedsstatus", "Virksomhedsstatus", "VirksomhedSENummer", false, "", "",
     "TekniskRegistreringDatoFra=2000-01-01", "VirksomhedFormKode"},
};

/* n subjects with data of the case's service, from the from-th on
 * (wrapping round), as repeated parameters. */
static void subjects_query(const struct svc_case *c, unsigned from, unsigned n, char *out,
                           size_t cap)
{
    char key[160];
    snprintf(key, sizeof key, "%s|%s", c->plain, c->subject);
    json_t *list = json_object_get(json_object_get(world_ids, "subjects"), key);
    size_t len = json_array_size(list), o = 0;
    cr_assert_gt(len, 0);
    out[0] = 0;
    for (unsigned i = from; i < from + n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", o ? "&" : "", c->subject,
                              json_string_value(json_array_get(list, i % len)));
}

static void query_join(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    snprintf(out, cap, "%s%s%s%s%s", a, a[0] && b[0] ? "&" : "", b,
             (a[0] || b[0]) && c[0] ? "&" : "", c);
}

/* A narrowing field that exists in the service (first business field when
 * the case names none or a wrong one). */
static const char *narrow_field(const struct svc_case *c, const catalog_t *cat)
{
    const struct catalog_service *svc = catalog_find(cat, str_from_cstr(c->plain));
    cr_assert_not_null(svc);
    if (c->narrow && catalog_field_find(svc, str_from_cstr(c->narrow)))
        return c->narrow;
    for (size_t i = 0; i < svc->n_fields; i++)
        if (svc->fields[i].role == CATALOG_ROLE_BUSINESS)
            return svc->fields[i].name;
    return NULL;
}

Test(data, every_service_one_many_years_windows_and_narrowing)
{
    const struct e2e_server *s = world("main");
    catalog_t *cat = load_catalog();
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const struct svc_case *sc = &CASES[k];
        char subj[2048], q[4096];
        struct reply r;
        /* one subject (the first that has data: not every company pays
         * payroll tax) */
        size_t one = 0;
        for (unsigned from = 0; from < 10 && one == 0; from++) {
            subjects_query(sc, from, 1, subj, sizeof subj);
            query_join(q, sizeof q, subj, sc->period, "");
            client_get(&c, sc->path, q, H_ALL, &r);
            assert_status(&r, 200);
            cr_assert_str_eq(r.echoed_id, r.request_id, "X-Request-ID echoed");
            cr_assert_str_eq(r.environment, "test");
            cr_assert(json_is_array(json_object_get(r.json, "data")));
            one = json_array_size(json_object_get(r.json, "data"));
            assert_logged(s, &r, sc->subject);
            reply_free(&r);
        }
        cr_assert_gt(one, 0, "%s: a subject with data", sc->path);
        /* many subjects */
        subjects_query(sc, 0, 10, subj, sizeof subj);
        query_join(q, sizeof q, subj, sc->period, "");
        client_get(&c, sc->path, q, H_ALL, &r);
        assert_status(&r, 200);
        cr_assert_gt(json_array_size(json_object_get(r.json, "data")), one);
        assert_logged(s, &r, sc->subject);
        reply_free(&r);
        /* many years */
        if (sc->years[0]) {
            subjects_query(sc, 1, 3, subj, sizeof subj);
            query_join(q, sizeof q, subj, sc->years, "");
            client_get(&c, sc->path, q, H_ALL, &r);
            assert_status(&r, 200);
            assert_logged(s, &r, sc->subject);
            reply_free(&r);
        }
        /* a registration window: every version */
        subjects_query(sc, 0, 8, subj, sizeof subj);
        if (sc->window[0]) {
            query_join(q, sizeof q, subj, sc->period, sc->window);
            client_get(&c, sc->path, q, H_ALL, &r);
            assert_status(&r, 200);
            cr_assert_neq(r.window_end[0], 0, "the window's end is told");
            assert_logged(s, &r, sc->subject);
            reply_free(&r);
        }
        /* narrowing */
        const char *nf = narrow_field(sc, cat);
        char nq[256];
        snprintf(nq, sizeof nq, "Felter=%s", nf);
        char *esc = curl_easy_escape(c.h, nf, 0);
        snprintf(nq, sizeof nq, "Felter=%s", esc);
        curl_free(esc);
        query_join(q, sizeof q, subj, sc->period, nq);
        client_get(&c, sc->path, q, H_ALL, &r);
        assert_status(&r, 200);
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(r.json, "data"), i, rec)
        {
            cr_assert_not_null(json_object_get(rec, nf));
            cr_assert_leq(json_object_size(rec), 5, "keys and the one field only");
        }
        assert_logged(s, &r, sc->subject);
        reply_free(&r);
    }
    /* the Danish spelling of Årsopgørelse answers like its ASCII path */
    char subj[256];
    subjects_query(&CASES[0], 0, 1, subj, sizeof subj);
    struct reply r;
    client_get(&c, "%C3%85rsopg%C3%B8relse", subj, H_ALL, &r);
    assert_status(&r, 200);
    reply_free(&r);
    /* nothing found: 200 with an empty list */
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_status(&r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 0);
    reply_free(&r);
    client_close(&c);
    catalog_free(cat);
}

Test(data, a_bulk_call_streams_every_record)
{
    const struct e2e_server *s = world("main");
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    char *q = malloc(64 * 1024);
    subjects_query(&CASES[0], 0, TDO.persons, q, 64 * 1024);
    struct reply r;
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_status(&r, 200);
    cr_assert_gt(r.len, 64 * 1024, "large enough to stream");
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), (size_t)TDO.persons * 3);
    assert_logged(s, &r, "PersonCPRNummer");
    reply_free(&r);
    free(q);
    client_close(&c);
}

Test(data, protocol_refusals)
{
    const struct e2e_server *s = world("main");
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    const char *q = "PersonCPRNummer=0101701234";
    struct reply r;
    client_get(&c, "Aarsopgoerelse", q, NO_AUTH, &r);
    assert_status(&r, 401);
    cr_assert(strncmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate: %s", r.www_auth);
    reply_free(&r);
    snprintf(c.token, sizeof c.token, "eyJhbGciOiJub25lIn0.e30.");
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_status(&r, 401);
    reply_free(&r);
    client_token(&c, "sysa");
    client_get(&c, "Aarsopgoerelse", q, NO_RID, &r);
    assert_problem(&r, 400, "invalid-header", "X-Request-ID");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", q, BAD_RID, &r);
    assert_problem(&r, 400, "invalid-header", "X-Request-ID");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", q, NO_TX, &r);
    assert_problem(&r, 400, "invalid-header", "X-Transaktions-ID");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", q, NO_AG, &r);
    assert_problem(&r, 400, "invalid-header", "UFST-Adgangsgrundlag");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", q, BAD_AG, &r);
    assert_problem(&r, 400, "invalid-header", "UFST-Adgangsgrundlag");
    reply_free(&r);
    /* parameters */
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=12", H_ALL, &r);
    assert_problem(&r, 400, "invalid-parameter", "PersonCPRNummer");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", "", H_ALL, &r);
    assert_problem(&r, 400, "missing-parameter", "PersonCPRNummer");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234&Hvem=x", H_ALL, &r);
    assert_problem(&r, 400, "unknown-parameter", "Hvem");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234&IndkomstÅr=20x4", H_ALL, &r);
    assert_problem(&r, 400, "invalid-parameter", "IndkomstÅr");
    reply_free(&r);
    client_get(&c, "Momsangivelse",
               "VirksomhedSENummer=12345678&AfregningPeriodeForholdPeriodeStartDato=2024-13-01&"
               "AfregningPeriodeForholdPeriodeSlutDato=2024-12-31",
               H_ALL, &r);
    assert_problem(&r, 400, "invalid-parameter", "AfregningPeriodeForholdPeriodeStartDato");
    reply_free(&r);
    client_get(&c, "Aarsopgoerelse",
               "PersonCPRNummer=0101701234&UdstillingRegistreringFra=2024-01-01", H_ALL, &r);
    assert_problem(&r, 400, "invalid-parameter", "UdstillingRegistreringFra");
    reply_free(&r);
    char *many = malloc(40000);
    size_t o = 0;
    for (int i = 0; i < 1001; i++)
        o += (size_t)snprintf(many + o, 40000 - o, "%sPersonCPRNummer=01017%05d", i ? "&" : "", i);
    client_get(&c, "Aarsopgoerelse", many, H_ALL, &r);
    cr_assert(r.status == 400 || r.status == 414, "too many subjects: %ld", r.status);
    reply_free(&r);
    free(many);
    client_close(&c);
}

Test(data, a_case_reference_is_recorded_and_a_malformed_one_refused_naming_the_header)
{
    const struct e2e_server *s = world("main");
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    c.case_ref = "J.nr. 2026-0042 (boligstøtte)"; /* not ASCII: refused */
    struct reply r;
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_problem(&r, 400, "invalid-header", "X-Dupla-Sagsreference");
    arena_t *a = arena_new(64u << 20);
    struct audit_row row;
    cr_assert(log_entry(s, r.request_id, &row, a), "the refusal is logged");
    cr_assert_eq(row.outcome, AUDIT_REFUSED);
    cr_assert_str_eq(row.case_ref, "");
    reply_free(&r);
    char longer[80];
    memset(longer, 'x', 65);
    longer[65] = 0;
    c.case_ref = longer;
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_problem(&r, 400, "invalid-header", "X-Dupla-Sagsreference");
    reply_free(&r);
    c.case_ref = "J.nr. 2026-0042 (bolig)";
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_status(&r, 200);
    cr_assert(log_entry(s, r.request_id, &row, a));
    cr_assert_str_eq(row.case_ref, "J.nr. 2026-0042 (bolig)");
    assert_logged(s, &r, "PersonCPRNummer");
    reply_free(&r);
    arena_free(a);
    client_close(&c);
}

Test(data, agreement_refusals_are_distinct_and_logged)
{
    const struct e2e_server *s = world("main");
    const char *q = "PersonCPRNummer=0101701234";
    struct client c;
    struct reply r;
    /* another organisation's agreement: answered as an unknown id, so ids
     * cannot be probed (#18) */
    client_open(&c, s, "sysa", ag_id("org_b"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_problem(&r, 403, "agreement-not-found", NULL);
    arena_t *a = arena_new(16u << 20);
    struct audit_row row;
    cr_assert(log_entry(s, r.request_id, &row, a), "the refusal is logged");
    cr_assert_eq(row.outcome, AUDIT_REFUSED);
    cr_assert_str_eq(row.reason, "agreement-not-found");
    arena_free(a);
    json_t *other = json_incref(r.json);
    reply_free(&r);
    client_close(&c);
    /* no such agreement: the same answer, member for member */
    client_open(&c, s, "sysa", "0123456789abcdef0123456789abcdef");
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_problem(&r, 403, "agreement-not-found", NULL);
    cr_assert_eq(json_object_size(r.json), json_object_size(other));
    const char *key;
    json_t *v;
    json_object_foreach(other, key, v)
    {
        cr_assert(json_object_get(r.json, key), "member %s only in one answer", key);
        if (strcmp(key, "instance") != 0)
            cr_assert(json_equal(v, json_object_get(r.json, key)), "member %s differs", key);
    }
    json_decref(other);
    reply_free(&r);
    client_close(&c);
    /* system not allowed by the agreement */
    client_open(&c, s, "sysa", ag_id("only_sysa2"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_problem(&r, 403, "system-not-allowed", NULL);
    reply_free(&r);
    client_close(&c);
    client_open(&c, s, "sysa2", ag_id("only_sysa2"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_status(&r, 200);
    reply_free(&r);
    client_close(&c);
    /* service and field not granted */
    client_open(&c, s, "sysa", ag_id("moms_two"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_problem(&r, 403, "service-not-granted", NULL);
    reply_free(&r);
    char se[16], mq[512];
    testdata_company_se(&TDO, 0, se);
    snprintf(mq, sizeof mq,
             "VirksomhedSENummer=%s&AfregningPeriodeForholdPeriodeStartDato=2022-01-01&"
             "AfregningPeriodeForholdPeriodeSlutDato=2024-12-31&Felter=Afgiftstilsvar",
             se);
    client_get(&c, "Momsangivelse", mq, H_ALL, &r);
    assert_problem(&r, 403, "field-not-granted", "Felter");
    reply_free(&r);
    client_close(&c);
}

Test(data, head_is_refused_and_records_nothing)
{
    const struct e2e_server *s = world("main");
    struct client c;
    struct reply r;
    client_open(&c, s, "sysa", ag_id("full"));
    c.head = true;
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_status(&r, 405);
    arena_t *a = arena_new(16u << 20);
    struct audit_row row;
    cr_assert_not(log_entry(s, r.request_id, &row, a), "a HEAD was recorded as a disclosure");
    reply_free(&r);
    /* the same call as GET is answered and recorded */
    c.head = false;
    client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
    assert_status(&r, 200);
    cr_assert(log_entry(s, r.request_id, &row, a), "the GET is recorded");
    arena_free(a);
    reply_free(&r);
    client_close(&c);
}

/* A data call over the token listener (which requests certificates),
 * with the system certificate name (NULL: none). */
static long call_with_cert(struct client *c, const char *cert_name, struct e2e_response *r)
{
    char auth[4200], ag[160], tx[96], rid[96], cert[E2E_PATH_MAX], key[E2E_PATH_MAX], f[64];
    char id[UUID_STR_LEN + 1];
    cr_assert_eq(uuid_v4(id), 0);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
    snprintf(ag, sizeof ag, "UFST-Adgangsgrundlag: %s%s", AGREEMENT_URN_PREFIX, c->agreement);
    snprintf(tx, sizeof tx, "X-Transaktions-ID: %s", c->txid);
    snprintf(rid, sizeof rid, "X-Request-ID: %s", id);
    const char *h[] = {auth, ag, tx, rid, NULL};
    struct e2e_request rq = {
        .listener = "token", .path = "/Aarsopgoerelse?PersonCPRNummer=0101701234", .headers = h};
    if (cert_name) {
        snprintf(f, sizeof f, "%s.pem", cert_name);
        rq.cert_file = e2e_pki_path(c->srv, f, cert);
        snprintf(f, sizeof f, "%s.key", cert_name);
        rq.key_file = e2e_pki_path(c->srv, f, key);
    }
    cr_assert_eq(e2e_request(c->srv, &rq, r), 0, "%s", r->error);
    return r->status;
}

Test(data, a_token_is_refused_with_another_systems_certificate)
{
    const struct e2e_server *s = world("main");
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    struct e2e_response r;
    /* its own certificate, and none (clients send data calls without) */
    cr_assert_eq(call_with_cert(&c, "sysa", &r), 200, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(call_with_cert(&c, NULL, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    /* another system's certificate, even of the same organisation */
    cr_assert_eq(call_with_cert(&c, "sysa2", &r), 401, "%s", r.body);
    cr_assert(strstr(json_string_value(json_object_get(r.json, "type")), "/token-binding"), "%s",
              r.body);
    cr_assert(strstr(e2e_header(&r, "WWW-Authenticate"), "invalid_token"));
    e2e_response_free(&r);
    client_close(&c);
}

/* The answer to a data call with c's token and cert_name's certificate once
 * the server has seen a change made by another process (it syncs within
 * about a second): the first answer whose status is `want`, else the last. */
static long call_until(struct client *c, const char *cert_name, long want, struct e2e_response *r)
{
    long status = call_with_cert(c, cert_name, r);
    for (int i = 0; i < 60 && status != want; i++) {
        e2e_response_free(r);
        usleep(50 * 1000);
        status = call_with_cert(c, cert_name, r);
    }
    return status;
}

Test(data, a_system_that_requires_bound_tokens_is_refused_without_its_certificate)
{
    const struct e2e_server *s = world("main");
    /* a system of its own: the other tests' systems call without one */
    cr_assert_eq(e2e_issue_system(s, "sysbound", CVR_A, NULL), 0);
    char pem[E2E_PATH_MAX];
    const char *reg[] = {"system", "register", "--org",  CVR_A,
                         "--name", "sysbound", "--cert", e2e_pki_path(s, "sysbound.pem", pem),
                         NULL};
    must(s, reg);
    struct client c;
    client_open(&c, s, "sysbound", ag_id("full"));
    struct e2e_response r;
    /* not required yet: a call without a certificate passes */
    cr_assert_eq(call_until(&c, NULL, 200, &r), 200, "%s", r.body);
    e2e_response_free(&r);

    char ref[64];
    snprintf(ref, sizeof ref, "%s/sysbound", CVR_A);
    const char *req[] = {"system", "binding", ref, "required", NULL};
    must(s, req);
    /* the same token, without a certificate: 401 naming why */
    cr_assert_eq(call_until(&c, NULL, 401, &r), 401, "%s", r.body);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    cr_assert(strstr(json_string_value(json_object_get(r.json, "type")), "/token-binding-required"),
              "%s", r.body);
    cr_assert(strstr(json_string_value(json_object_get(r.json, "detail")), "certificate"), "%s",
              r.body);
    cr_assert(strstr(e2e_header(&r, "WWW-Authenticate"), "invalid_token"));
    e2e_response_free(&r);
    /* with its own certificate: answered */
    cr_assert_eq(call_with_cert(&c, "sysbound", &r), 200, "%s", r.body);
    e2e_response_free(&r);
    /* with another system's certificate: refused as before */
    cr_assert_eq(call_with_cert(&c, "sysa", &r), 401, "%s", r.body);
    cr_assert(strstr(json_string_value(json_object_get(r.json, "type")), "/token-binding"), "%s",
              r.body);
    e2e_response_free(&r);

    /* optional again: a call without a certificate passes */
    const char *opt[] = {"system", "binding", ref, "optional", NULL};
    must(s, opt);
    cr_assert_eq(call_until(&c, NULL, 200, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    client_close(&c);
}

Test(data, a_revoked_agreement_or_system_is_refused_on_the_next_call)
{
    const struct e2e_server *s = world("main");
    const char *q = "PersonCPRNummer=0101701234";
    struct client c;
    struct reply r;
    client_open(&c, s, "sysa", ag_id("to_revoke"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_status(&r, 200);
    reply_free(&r);
    const char *rev[] = {"agreement", "revoke", ag_id("to_revoke"), "--reason", "misuse", NULL};
    must(s, rev);
    /* another process changed it: the server sees it at its next sync */
    long status = 200;
    for (int i = 0; i < 40 && status == 200; i++) {
        client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
        status = r.status;
        if (status == 403)
            assert_problem(&r, 403, "agreement-revoked", NULL);
        reply_free(&r);
        if (status == 200)
            usleep(50 * 1000);
    }
    cr_assert_eq(status, 403, "revocation seen within 2 s");
    client_close(&c);

    client_open(&c, s, "sysgone", ag_id("full"));
    client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
    assert_status(&r, 200);
    reply_free(&r);
    char ref[64];
    snprintf(ref, sizeof ref, "%s/sysgone", CVR_A);
    const char *srev[] = {"system", "revoke", ref, NULL};
    must(s, srev);
    status = 200;
    for (int i = 0; i < 40 && status == 200; i++) {
        client_get(&c, "Aarsopgoerelse", q, H_ALL, &r);
        status = r.status;
        reply_free(&r);
        if (status == 200)
            usleep(50 * 1000);
    }
    cr_assert_eq(status, 401, "a revoked system's token is refused");
    client_close(&c);
}

Test(data, no_field_ever_leaves_that_was_not_granted)
{
    const struct e2e_server *s = world("main");
    catalog_t *cat = load_catalog();
    json_t *random = json_object_get(world_ids, "random");
    unsigned seedv = 77;
    size_t k;
    json_t *agr;
    json_array_foreach(random, k, agr)
    {
        struct client c;
        client_open(&c, s, "sysa", json_string_value(json_object_get(agr, "id")));
        json_t *services = json_object_get(agr, "services");
        for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
            const struct svc_case *sc = &CASES[i];
            const char *plain = sc->plain;
            const struct catalog_service *svc = catalog_find(cat, str_from_cstr(plain));
            json_t *granted = json_object_get(services, plain);
            char subj[1024], q[4096], narrow[1024] = "";
            subjects_query(sc, rand_r(&seedv) % 5, 4, subj, sizeof subj);
            /* half the calls narrow to random fields, granted or not */
            bool asked_ungranted = false;
            if (rand_r(&seedv) % 2) {
                size_t o = 0;
                for (size_t f = 0; f < svc->n_fields; f++) {
                    if (catalog_field_is_key(&svc->fields[f]) || rand_r(&seedv) % 4)
                        continue;
                    bool g = false;
                    size_t gi;
                    json_t *gv;
                    json_array_foreach(granted, gi, gv) g |=
                        strcmp(json_string_value(gv), svc->fields[f].name) == 0;
                    asked_ungranted |= !g;
                    char *e = curl_easy_escape(c.h, svc->fields[f].name, 0);
                    o += (size_t)snprintf(narrow + o, sizeof narrow - o, "%sFelter=%s",
                                          o ? "&" : "", e);
                    curl_free(e);
                }
            }
            query_join(q, sizeof q, subj, sc->period, narrow);
            struct reply r;
            client_get(&c, sc->path, q, H_ALL, &r);
            if (asked_ungranted) {
                assert_problem(&r, 403, "field-not-granted", "Felter");
                reply_free(&r);
                continue;
            }
            assert_status(&r, 200);
            size_t ri;
            json_t *rec;
            json_array_foreach(json_object_get(r.json, "data"), ri, rec)
            {
                const char *key;
                json_t *v;
                json_object_foreach(rec, key, v)
                {
                    const struct catalog_field *f = catalog_field_find(svc, str_from_cstr(key));
                    cr_assert_not_null(f, "%s is not a field", key);
                    if (catalog_field_is_key(f))
                        continue;
                    bool g = false;
                    size_t gi;
                    json_t *gv;
                    json_array_foreach(granted, gi, gv) g |=
                        strcmp(json_string_value(gv), key) == 0;
                    cr_assert(g, "field %s of %s left without a grant", key, plain);
                }
            }
            assert_logged(s, &r, sc->subject);
            reply_free(&r);
        }
        client_close(&c);
    }
    catalog_free(cat);
}

Test(data, a_system_over_its_rate_gets_429_with_retry_after)
{
    const struct e2e_server *s = world("rate");
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    struct reply r;
    long last = 0;
    int prev = 3; /* more than the budget's 2 */
    for (int i = 0; i < 5 && last != 429; i++) {
        client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &r);
        last = r.status;
        /* Every answer says the budget (burst 2, refilled at 1/s) and what
         * is left of it: it counts down, and the 429 says 0 and when. */
        cr_assert_str_eq(r.ratelimit_policy, "\"agreement\";q=2;w=2");
        int left = -1, reset = -1, n = 0;
        cr_assert_eq(sscanf(r.ratelimit, "\"agreement\";r=%d;t=%d%n", &left, &reset, &n), 2,
                     "RateLimit: %s", r.ratelimit);
        cr_assert_eq((size_t)n, strlen(r.ratelimit), "RateLimit: %s", r.ratelimit);
        if (last == 429) {
            assert_problem(&r, 429, "rate-limited", NULL);
            cr_assert_geq(atoi(r.retry_after), 1, "Retry-After: %s", r.retry_after);
            cr_assert_eq(left, 0, "RateLimit: %s", r.ratelimit);
            cr_assert_eq(reset, atoi(r.retry_after), "t is the Retry-After: %s", r.ratelimit);
        } else {
            cr_assert_eq(last, 200, "%s", r.body);
            cr_assert_lt(left, prev, "counts down: %s after %d", r.ratelimit, prev);
            cr_assert_geq(reset, left == 0 ? 1 : 0);
            prev = left;
        }
        reply_free(&r);
    }
    cr_assert_eq(last, 429);
    client_close(&c);
}

/* The row of agreement id in a GET /api/usage answer, or NULL. */
static json_t *usage_row(const struct e2e_response *r, const char *id)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r->json, "usage"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "agreement_id")), id) == 0)
            return row;
    }
    return NULL;
}

Test(data, the_data_owner_sets_a_budget_and_both_sides_see_its_429s)
{
    const struct e2e_server *s = world("rate");
    const char *id = ag_id("org_b");
    api_user(s, "19552101", "dfv-rate@skat.dk", "dataforvaltning", NULL);
    api_user(s, CVR_B, "admin-rate@b.dk", "administrator", NULL);
    struct api_session dfv, admin;
    api_login(s, "dfv-rate@skat.dk", &dfv);
    api_login(s, "admin-rate@b.dk", &admin);
    char path[128];
    snprintf(path, sizeof path, "/api/agreements/%s/rate", id);
    /* only the data owner sets it; each refusal names its member */
    api_expect(s, &admin, "POST", path, "{\"rate_per_second\":1,\"burst\":4}", 403);
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"rate_per_second\":1}", "burst"},
        {"{\"rate_per_second\":-1,\"burst\":4}", "rate_per_second"},
        {"{\"rate_per_second\":1,\"burst\":0}", "burst"},
        {"{\"rate_per_second\":1,\"burst\":4,\"window\":9}", "window"},
    };
    struct e2e_response r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_call(s, &dfv, "POST", path, bad[i].body, &r);
        e2e_assert_status(s, &r, 400);
        cr_assert_str_eq(api_problem_param(&r), bad[i].param, "%s", r.body);
        e2e_response_free(&r);
    }
    api_call(s, &dfv, "POST", path, "{\"rate_per_second\":1,\"burst\":4}", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(r.json, "rate_budget"), "burst")), 4,
        "%s", r.body);
    e2e_response_free(&r);
    /* the data path counts down from the agreement's own budget to the 429 */
    struct client c;
    client_open(&c, s, "sysb", id);
    struct reply d;
    long last = 0;
    int ok = 0;
    for (int i = 0; i < 10 && last != 429; i++) {
        client_get(&c, "Aarsopgoerelse", "PersonCPRNummer=0101701234", H_ALL, &d);
        last = d.status;
        cr_assert_str_eq(d.ratelimit_policy, "\"agreement\";q=4;w=4", "%s", d.body);
        ok += last == 200;
        reply_free(&d);
    }
    cr_assert_eq(last, 429);
    cr_assert(ok >= 4 && ok <= 5, "%d answers before the 429", ok);
    client_close(&c);
    /* the 429 reaches the usage of the data owner and of the recipient */
    json_t *row = NULL;
    for (int tries = 0; tries < 100; tries++) {
        api_call(s, &dfv, "GET", "/api/usage", NULL, &r);
        e2e_assert_status(s, &r, 200);
        row = usage_row(&r, id);
        if (row && json_integer_value(json_object_get(row, "rate_limited")) >= 1)
            break;
        e2e_response_free(&r);
        row = NULL;
        usleep(100 * 1000);
    }
    cr_assert_not_null(row, "no 429 in the usage");
    cr_assert_str_eq(json_string_value(json_object_get(row, "organisation_cvr")), CVR_B);
    cr_assert_geq(json_integer_value(json_object_get(row, "calls")), 4, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &admin, "GET", "/api/usage", NULL, &r);
    e2e_assert_status(s, &r, 200);
    row = usage_row(&r, id);
    cr_assert(row && json_integer_value(json_object_get(row, "rate_limited")) >= 1, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &admin, "GET", "/api/usage?format=csv", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/csv") &&
                  strstr(r.body, "For mange kald (429)") && strstr(r.body, id),
              "%s", r.body);
    e2e_response_free(&r);
    static const struct {
        const char *query, *param;
        long status;
    } refused[] = {
        {"/api/usage?org=" CVR_A, "org", 403},
        {"/api/usage?from=2026-13-01", "from", 400},
        {"/api/usage?from=2026-01-01&to=2026-03-01", "to", 400},
        {"/api/usage?format=xml", "format", 400},
        {"/api/usage?day=1", "day", 400},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        api_call(s, &admin, "GET", refused[i].query, NULL, &r);
        e2e_assert_status(s, &r, refused[i].status);
        cr_assert_str_eq(api_problem_param(&r), refused[i].param, "%s", r.body);
        e2e_response_free(&r);
    }
    api_expect(s, NULL, "GET", "/api/usage", NULL, 401);
    /* back to the default */
    api_call(s, &dfv, "POST", path, "{\"rate_per_second\":0,\"burst\":0}", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(json_is_null(json_object_get(json_object_get(r.json, "rate_budget"), "burst")), "%s",
              r.body);
    e2e_response_free(&r);
}

/* ---- durability: SIGKILL while clients fetch ---- */

struct fetcher {
    const struct e2e_server *s;
    char agreement[AGREEMENT_ID_LEN + 1];
    char (*received)[UUID_STR_LEN + 1]; /* request ids of complete answers */
    size_t n;
    size_t cap;
    volatile bool *stop;
};

static void *fetch_loop(void *arg)
{
    struct fetcher *f = arg;
    /* a plain client without Criterion asserts (a thread) */
    char url[256], ca[E2E_PATH_MAX], auth[4200], rid[96], hag[160], token[4096];
    FILE *tf = NULL;
    char tokfile[E2E_PATH_MAX];
    snprintf(tokfile, sizeof tokfile, "%s/token.txt", f->s->dir);
    tf = fopen(tokfile, "r");
    if (!tf || !fgets(token, sizeof token, tf)) {
        if (tf)
            fclose(tf);
        return NULL;
    }
    fclose(tf);
    token[strcspn(token, "\n")] = 0;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: " AGREEMENT_URN_PREFIX "%s", f->agreement);
    CURL *h = curl_easy_init();
    unsigned i = 0;
    while (!*f->stop && f->n < f->cap) {
        char id[UUID_STR_LEN + 1], cpr[16];
        uuid_v4(id);
        testdata_person_cpr(&TDO, i++ % TDO.persons, cpr);
        snprintf(url, sizeof url, "https://localhost:%u/Aarsopgoerelse?PersonCPRNummer=%s",
                 e2e_port(f->s, "api"), cpr);
        snprintf(rid, sizeof rid, "X-Request-ID: %s", id);
        struct curl_slist *hd = curl_slist_append(NULL, auth);
        hd = curl_slist_append(hd, rid);
        hd = curl_slist_append(hd, "X-Transaktions-ID: kill-test");
        hd = curl_slist_append(hd, hag);
        struct reply r = {0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, e2e_pki_path(f->s, "ca.pem", ca));
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* not the system CA folder too */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json_t *j = cc == CURLE_OK && r.body ? json_loads(r.body, 0, NULL) : NULL;
        if (status == 200 && j && json_array_size(json_object_get(j, "data")) > 0) {
            snprintf(f->received[f->n], UUID_STR_LEN + 1, "%s", id);
            __atomic_store_n(&f->n, f->n + 1, __ATOMIC_RELEASE);
        }
        json_decref(j);
        free(r.body);
        curl_slist_free_all(hd);
        if (cc != CURLE_OK)
            break; /* the server is gone */
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* Writes a fresh token of system "sysa" under agreement "full" to the
 * server's token.txt, where fetch_loop reads it. */
static void write_token(const struct e2e_server *s)
{
    char path[E2E_PATH_MAX];
    struct client c;
    client_open(&c, s, "sysa", ag_id("full"));
    FILE *tf = fopen(e2e_path(s, "token.txt", path), "w");
    cr_assert_not_null(tf);
    fprintf(tf, "%s\n", c.token);
    fclose(tf);
    client_close(&c);
}

/* Starts n fetch_loop clients of s, each keeping up to cap request ids. */
static void start_fetchers(struct fetcher *f, pthread_t *t, int n, size_t cap,
                           const struct e2e_server *s, volatile bool *stop)
{
    for (int i = 0; i < n; i++) {
        f[i] = (struct fetcher){.s = s, .n = 0, .cap = cap, .stop = stop};
        snprintf(f[i].agreement, sizeof f[i].agreement, "%s", ag_id("full"));
        f[i].received = calloc(cap, sizeof *f[i].received);
        pthread_create(&t[i], NULL, fetch_loop, &f[i]);
    }
}

Test(data, sigkill_while_clients_fetch_loses_no_disclosure)
{
    struct e2e_options opt = {.config_json = CONFIG};
    struct e2e_server own;
    cr_assert_eq(e2e_start(&opt, &own), 0);
    make_world(&own);
    char path[E2E_PATH_MAX];
    json_error_t jerr;
    world_ids = json_load_file(e2e_path(&own, "world.json", path), 0, &jerr);
    write_token(&own);
    enum { N = 4, CAP = 20000 };
    struct fetcher f[N];
    pthread_t t[N];
    volatile bool stop = false;
    start_fetchers(f, t, N, CAP, &own, &stop);
    /* kill once the clients are well under way (bounded: a sanitised
     * server is slow) */
    for (int waited = 0; waited < 300; waited++) {
        size_t got = 0;
        for (int i = 0; i < N; i++)
            got += __atomic_load_n(&f[i].n, __ATOMIC_RELAXED);
        if (got >= 40)
            break;
        usleep(100 * 1000);
    }
    cr_assert_eq(kill(own.pid, SIGKILL), 0);
    int st;
    waitpid(own.pid, &st, 0);
    stop = true;
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        total += f[i].n;
    }
    cr_assert_gt(total, 10, "the clients got answers before the kill (%zu)", total);
    /* every answer a client received is in the log */
    store_t *store = open_store(&own);
    store_conn_t *conn;
    err_t err;
    cr_assert_eq(store_conn_get(store, &conn, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(conn,
                               "SELECT COUNT(*) FROM audit_entry WHERE request_id = ? AND "
                               "outcome = 'disclosed'",
                               &q, &err),
                 0, "%s", err.log);
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < f[i].n; k++) {
            store_bind_cstr(q, 1, f[i].received[k]);
            cr_assert_eq(store_step(q, &err), STORE_ROW);
            cr_assert_eq(store_col_int64(q, 0), 1, "answer %s is not in the log", f[i].received[k]);
            store_stmt_done(q);
            cr_assert_eq(store_prepare(conn,
                                       "SELECT COUNT(*) FROM audit_entry WHERE request_id = ? AND "
                                       "outcome = 'disclosed'",
                                       &q, &err),
                         0);
        }
    store_stmt_done(q);
    store_conn_put(conn);
    store_close(store);
    for (int i = 0; i < N; i++)
        free(f[i].received);
    /* the chain verifies after the crash */
    const char *verify[] = {"audit", "verify", "--config", own.config, "--quiet", NULL};
    cr_assert_eq(e2e_run_dupla(verify, NULL), 0, "dupla audit verify after SIGKILL");
}

/* ---- backups: a consistent online copy while clients fetch ---- */

/* How many disclosed entries of request id are in the store. */
static int64_t disclosed_count(store_conn_t *conn, const char *request_id)
{
    store_stmt_t *q;
    err_t err;
    cr_assert_eq(store_prepare(conn,
                               "SELECT COUNT(*) FROM audit_entry WHERE request_id = ? AND "
                               "outcome = 'disclosed'",
                               &q, &err),
                 0, "%s", err.log);
    store_bind_cstr(q, 1, request_id);
    cr_assert_eq(store_step(q, &err), STORE_ROW, "%s", err.log);
    int64_t n = store_col_int64(q, 0);
    store_stmt_done(q);
    return n;
}

static int64_t entries_in(store_t *st)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0, "%s", err.log);
    int64_t n = -1;
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry", -1, &n, &err), 0, "%s",
                 err.log);
    store_conn_put(c);
    return n;
}

static size_t answers_so_far(struct fetcher *f, int n, size_t *each)
{
    size_t got = 0;
    for (int i = 0; i < n; i++) {
        size_t k = __atomic_load_n(&f[i].n, __ATOMIC_ACQUIRE);
        if (each)
            each[i] = k;
        got += k;
    }
    return got;
}

static bool fetch_until(struct fetcher *f, int n, size_t more)
{
    size_t from = answers_so_far(f, n, NULL);
    for (int waited = 0; waited < 600; waited++) { /* bounded: a sanitised server is slow */
        if (answers_so_far(f, n, NULL) >= from + more)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

Test(data, backup_while_clients_fetch_is_a_store_that_starts_and_verifies, .timeout = 170)
{
    if (getenv("DUPLA_TEST_STORE_PG")) {
        /* PostgreSQL has its own tools, and the refusal says so */
        const struct e2e_server *s = e2e_shared("main");
        struct dupla_config cfg;
        err_t err;
        cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
        char to[E2E_PATH_MAX], out[E2E_PATH_MAX];
        const char *args[] = {
            "store", "backup", "--store", cfg.store_url, "--to", e2e_path(s, "never.db", to), NULL};
        int rc = e2e_run_dupla(args, e2e_path(s, "backup.txt", out));
        config_free(&cfg);
        cr_assert_eq(rc, 1);
        cr_assert_eq(access(to, F_OK), -1, "no file is left behind");
        char cmd[2 * E2E_PATH_MAX];
        snprintf(cmd, sizeof cmd, "grep -q 'pg_basebackup' %s", out);
        cr_assert_eq(system(cmd), 0, "the refusal names PostgreSQL's own tools");
        return;
    }
    struct e2e_options opt = {.config_json = CONFIG};
    struct e2e_server own;
    cr_assert_eq(e2e_start(&opt, &own), 0);
    make_world(&own);
    char path[E2E_PATH_MAX], url[E2E_PATH_MAX + 16], backup[E2E_PATH_MAX];
    json_error_t jerr;
    world_ids = json_load_file(e2e_path(&own, "world.json", path), 0, &jerr);
    write_token(&own);
    enum { N = 4, CAP = 50000 };
    struct fetcher f[N];
    pthread_t t[N];
    volatile bool stop = false;
    start_fetchers(f, t, N, CAP, &own, &stop);
    bool warm = fetch_until(f, N, 40);
    /* the backup, while the clients go on fetching */
    size_t before[N];
    answers_so_far(f, N, before);
    snprintf(url, sizeof url, "sqlite:%s", e2e_path(&own, "dupla.db", path));
    e2e_path(&own, "backup.db", backup);
    const char *args[] = {"store", "backup", "--store", url, "--to", backup, NULL};
    int rc = e2e_run_dupla(args, e2e_path(&own, "backup.txt", path));
    bool after = fetch_until(f, N, 20);
    stop = true;
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    cr_assert(warm, "the clients got answers before the backup");
    cr_assert_eq(rc, 0, "dupla store backup under load (see %s)", path);
    cr_assert(after, "the clients went on fetching after the backup");
    /* a second backup to the same name is refused and leaves the first */
    cr_assert_eq(e2e_run_dupla(args, path), 1, "an existing backup is never overwritten");

    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&own), 0);
    store_t *st = open_store(&own);
    int64_t original = entries_in(st);
    store_close(st);

    /* restore: the backup takes the store's place */
    char orig[E2E_PATH_MAX], side[E2E_PATH_MAX];
    e2e_path(&own, "dupla.db", orig);
    cr_assert_eq(rename(orig, e2e_path(&own, "original.db", side)), 0);
    unlink(e2e_path(&own, "dupla.db-wal", side));
    unlink(e2e_path(&own, "dupla.db-shm", side));
    cr_assert_eq(link(backup, orig), 0);
    st = open_store(&own);
    int64_t copied = entries_in(st);
    store_conn_t *conn;
    err_t err;
    cr_assert_eq(store_conn_get(st, &conn, &err), 0, "%s", err.log);
    /* every answer received before the backup began is in the copy */
    size_t checked = 0;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < before[i]; k++, checked++)
            cr_assert_eq(disclosed_count(conn, f[i].received[k]), 1,
                         "answer %s (before the backup) is not in the copy", f[i].received[k]);
    store_conn_put(conn);
    store_close(st);
    cr_assert_geq(checked, 40);
    cr_assert_lt(copied, original, "the copy is of one moment: %lld entries, the store %lld later",
                 (long long)copied, (long long)original);
    const char *verify[] = {"audit", "verify", "--config", own.config, "--quiet", NULL};
    cr_assert_eq(e2e_run_dupla(verify, NULL), 0, "dupla audit verify on the restored copy");

    /* the restored copy serves, and its log goes on from where the copy was */
    cr_assert_eq(e2e_restart(NULL, &own), 0);
    struct e2e_response r;
    cr_assert_eq(e2e_get(&own, "api", "/health/ready", &r), 0);
    e2e_assert_status(&own, &r, 200);
    e2e_response_free(&r);
    stop = false;
    f[0].n = 0;
    pthread_create(&t[0], NULL, fetch_loop, &f[0]);
    bool served = fetch_until(f, 1, 5);
    stop = true;
    pthread_join(t[0], NULL);
    cr_assert(served, "data calls are answered from the restored store");
    cr_assert_eq(e2e_stop(&own), 0);
    cr_assert_eq(e2e_run_dupla(verify, NULL), 0, "dupla audit verify after serving on the copy");
    unsetenv("DUPLA_E2E_KEEP");
    e2e_remove_dir(&own);
    for (int i = 0; i < N; i++)
        free(f[i].received);
}

/* ---- durability at scale: many SIGKILLs (make check-crash) ---- */

/* Rounds of the kill test: DUPLA_CRASH_ROUNDS (make check-crash sets 100),
 * else a few, so that every run of the suite exercises the restart path. */
static int crash_rounds(void)
{
    const char *v = getenv("DUPLA_CRASH_ROUNDS");
    int n = v && v[0] ? atoi(v) : 3;
    return n < 1 ? 1 : n > 1000 ? 1000 : n;
}

Test(data, sigkill_rounds_while_8_clients_fetch_lose_no_disclosure, .timeout = 1800)
{
    struct e2e_options opt = {.config_json = CONFIG};
    struct e2e_server own;
    cr_assert_eq(e2e_start(&opt, &own), 0);
    make_world(&own);
    char path[E2E_PATH_MAX];
    json_error_t jerr;
    world_ids = json_load_file(e2e_path(&own, "world.json", path), 0, &jerr);
    enum { N = 8, CAP = 200000 };
    int rounds = crash_rounds();
    struct fetcher f[N];
    char(*all)[UUID_STR_LEN + 1] = calloc(CAP, sizeof *all);
    size_t n_all = 0;
    unsigned seed = (unsigned)getpid();
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < N; i++)
        f[i].received = calloc(CAP / N, sizeof *f[i].received);
    for (int round = 0; round < rounds; round++) {
        if (round > 0)
            cr_assert_eq(e2e_restart(NULL, &own), 0, "restart after kill %d", round);
        /* a fresh token each round: the run outlasts a token's lifetime */
        write_token(&own);
        pthread_t t[N];
        volatile bool stop = false;
        for (int i = 0; i < N; i++) {
            f[i].s = &own;
            f[i].n = 0;
            f[i].cap = CAP / N;
            f[i].stop = &stop;
            snprintf(f[i].agreement, sizeof f[i].agreement, "%s", ag_id("full"));
            pthread_create(&t[i], NULL, fetch_loop, &f[i]);
        }
        /* kill at a different moment each round: after 8 to 40 answers */
        bool warm = fetch_until(f, N, 8 + (size_t)(rand_r(&seed) % 33));
        cr_assert_eq(kill(own.pid, SIGKILL), 0);
        int st;
        waitpid(own.pid, &st, 0);
        own.pid = 0;
        stop = true;
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            for (size_t k = 0; k < f[i].n && n_all < CAP; k++)
                memcpy(all[n_all++], f[i].received[k], sizeof all[0]);
        }
        cr_assert(warm, "round %d: the clients got answers before the kill", round + 1);
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    /* every answer a client received is in the log, exactly once */
    store_t *store = open_store(&own);
    store_conn_t *conn;
    err_t err;
    cr_assert_eq(store_conn_get(store, &conn, &err), 0, "%s", err.log);
    for (size_t k = 0; k < n_all; k++)
        cr_assert_eq(disclosed_count(conn, all[k]), 1, "answer %s is not in the log once", all[k]);
    store_conn_put(conn);
    store_close(store);
    const char *verify[] = {"audit", "verify", "--config", own.config, "--quiet", NULL};
    cr_assert_eq(e2e_run_dupla(verify, NULL), 0, "dupla audit verify after %d kills", rounds);
    fprintf(stderr,
            "crash test: %d SIGKILLs while %d clients fetched (%s), %zu answers received, every "
            "one in the log exactly once, the log verifies; %.1f s\n",
            rounds, N, getenv("DUPLA_TEST_STORE_PG") ? "PostgreSQL" : "SQLite", n_all, secs);
    for (int i = 0; i < N; i++)
        free(f[i].received);
    free(all);
    e2e_remove_dir(&own);
}

/* ---- the documents ---- */

Test(data, the_served_openapi_document_validates_and_the_catalogue_pages_answer)
{
    const struct e2e_server *s = e2e_shared("main");
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/openapi.json", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert_not_null(r.json);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    cr_assert_str_eq(e2e_header(&r, "X-Dupla-Miljoe"), "test");
    cr_assert_not_null(
        json_object_get(json_object_get(r.json, "paths"), "/L%C3%B8nsumsangivelser"));
    char file[E2E_PATH_MAX], out[E2E_PATH_MAX], cmd[3 * E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "openapi.json", file), "w");
    cr_assert_not_null(f);
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(cmd, sizeof cmd,
             "node %s/tests/tools/node_modules/@seriousme/openapi-schema-validator/bin/"
             "validate-api-cli.js %s > %s 2>&1",
             root ? root : ".", file, e2e_path(s, "openapi.out", out));
    cr_assert_eq(system(cmd), 0, "the validator refuses GET /openapi.json (see %s)", out);
    e2e_response_free(&r);

    cr_assert_eq(e2e_get(s, "api", "/servicekatalog", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"));
    cr_assert(strstr(r.body, "Lønsumsangivelser") && strstr(r.body, "Payroll tax returns"));
    cr_assert(strstr(r.body, "<script") == NULL);
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/servicekatalog.json", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert_not_null(r.json);
    e2e_response_free(&r);
}

/* ---- a planned service window ---- */

Test(data, a_planned_service_window_answers_503_with_retry_after)
{
    const struct e2e_server *s = e2e_shared("window");
    const char *post[] = {"opslog",  "post", "--kind", "servicevindue", "--title", "Opgradering",
                          "--start", "now",  "--end",  "+10m",          NULL};
    must(s, post);
    long status = 0;
    struct e2e_response r;
    for (int i = 0; i < 60 && status != 503; i++) {
        cr_assert_eq(e2e_get(s, "api", "/Aarsopgoerelse?PersonCPRNummer=0101701234", &r), 0);
        status = r.status;
        if (status == 503) {
            const char *ra = e2e_header(&r, "Retry-After");
            cr_assert_not_null(ra);
            cr_assert_gt(atoi(ra), 60, "until the window ends: %s", ra);
            cr_assert(strstr(json_string_value(json_object_get(r.json, "type")),
                             "/problems/service-window"));
        }
        e2e_response_free(&r);
        if (status != 503)
            usleep(100 * 1000);
    }
    cr_assert_eq(status, 503, "the window is seen within 6 s");
}

/* ---- PostgreSQL restarted under load ---- */

/* Runs scripts/pg-test-server.sh with args; its first output line in out. */
static int pg_script(const char *args, char *out, size_t cap)
{
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/pg-test-server.sh %s", root ? root : ".", args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char buf[1024];
    if (out)
        out[0] = 0;
    while (fgets(buf, sizeof buf, p))
        if (out && !out[0]) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(out, cap, "%s", buf);
        }
    return pclose(p);
}

/* One answer a client received while the database restarted. */
struct answer {
    char request_id[UUID_STR_LEN + 1];
    long status;
    int curl_code;
    bool retry_after;
    size_t records;
};

struct restart_client {
    const struct e2e_server *s;
    const char *token;
    char agreement[AGREEMENT_ID_LEN + 1];
    struct answer *answers;
    size_t n, cap;
    unsigned seed;
    volatile bool *stop;
};

static void *restart_loop(void *arg)
{
    struct restart_client *f = arg;
    char url[256], ca[E2E_PATH_MAX], auth[4200], rid[96], hag[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f->token);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: " AGREEMENT_URN_PREFIX "%s", f->agreement);
    CURL *h = curl_easy_init();
    while (!*f->stop && f->n < f->cap) {
        struct answer *a = &f->answers[f->n];
        char cpr[16];
        uuid_v4(a->request_id);
        testdata_person_cpr(&TDO, f->seed++ % TDO.persons, cpr);
        snprintf(url, sizeof url, "https://localhost:%u/Aarsopgoerelse?PersonCPRNummer=%s",
                 e2e_port(f->s, "api"), cpr);
        snprintf(rid, sizeof rid, "X-Request-ID: %s", a->request_id);
        struct curl_slist *hd = curl_slist_append(NULL, auth);
        hd = curl_slist_append(hd, rid);
        hd = curl_slist_append(hd, "X-Transaktions-ID: restart-test");
        hd = curl_slist_append(hd, hag);
        struct reply r = {0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, e2e_pki_path(f->s, "ca.pem", ca));
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* not the system CA folder too */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
        /* the server must answer, not hang, while the database is away */
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
        a->curl_code = (int)curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
        a->retry_after = r.retry_after[0] != 0;
        json_t *j = a->curl_code == CURLE_OK && r.body ? json_loads(r.body, 0, NULL) : NULL;
        a->records = json_array_size(json_object_get(j, "data"));
        json_decref(j);
        free(r.body);
        curl_slist_free_all(hd);
        __atomic_store_n(&f->n, f->n + 1, __ATOMIC_RELEASE);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* Answers so far, over all clients: total and with status. */
static size_t answers_with(struct restart_client *f, int n, long status, size_t from[])
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        size_t have = __atomic_load_n(&f[i].n, __ATOMIC_ACQUIRE);
        for (size_t j = from ? from[i] : 0; j < have; j++)
            k += status == 0 || f[i].answers[j].status == status;
    }
    return k;
}

/* Lets the clients run until `more` further answers of status came (bounded). */
static bool run_until(struct restart_client *f, int n, long status, size_t more, int seconds)
{
    size_t from[8];
    for (int i = 0; i < n; i++)
        from[i] = __atomic_load_n(&f[i].n, __ATOMIC_ACQUIRE);
    for (int t = 0; t < seconds * 20; t++) {
        if (answers_with(f, n, status, from) >= more)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

Test(data, postgresql_restarted_under_load_answers_503_and_recovers_without_a_restart,
     .timeout = 170)
{
    const char *pg = getenv("DUPLA_TEST_PG");
    if (!pg || !pg[0])
        cr_skip_test("no PostgreSQL server (DUPLA_TEST_PG)");
    /* a server of its own: the test restarts it */
    char first[1024], conn[512], pgdir[256], args[512];
    cr_assert_eq(pg_script("start", first, sizeof first), 0);
    char *q = strchr(first, '\'');
    cr_assert_not_null(q, "%s", first);
    snprintf(conn, sizeof conn, "%s", q + 1);
    conn[strcspn(conn, "'")] = 0;
    const char *h = strstr(conn, "host=");
    cr_assert_not_null(h, "%s", conn);
    snprintf(pgdir, sizeof pgdir, "%.*s", (int)strcspn(h + 5, " "), h + 5);
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "{\"store\": \"%s\", %s", conn, CONFIG + 1);
    struct e2e_options opt = {.config_json = cfg};
    struct e2e_server own;
    if (e2e_start(&opt, &own) != 0) {
        snprintf(args, sizeof args, "stop %s", pgdir);
        pg_script(args, NULL, 0);
        cr_assert_fail("serve did not start on %s", conn);
    }
    make_world(&own);
    char path[E2E_PATH_MAX];
    json_error_t jerr;
    world_ids = json_load_file(e2e_path(&own, "world.json", path), 0, &jerr);
    cr_assert_not_null(world_ids, "%s", jerr.text);
    struct client c;
    client_open(&c, &own, "sysa", ag_id("full"));
    client_close(&c);

    enum { N = 4, CAP = 50000 };
    struct restart_client f[N];
    pthread_t t[N];
    volatile bool stop = false;
    for (int i = 0; i < N; i++) {
        f[i] = (struct restart_client){
            .s = &own, .token = c.token, .cap = CAP, .seed = (unsigned)i * 7, .stop = &stop};
        snprintf(f[i].agreement, sizeof f[i].agreement, "%s", ag_id("full"));
        f[i].answers = calloc(CAP, sizeof *f[i].answers);
        pthread_create(&t[i], NULL, restart_loop, &f[i]);
    }
    bool warm = run_until(f, N, 200, 40, 60);
    /* a restart (sessions ended), then a crash and start (pg_ctl -m immediate) */
    snprintf(args, sizeof args, "restart %s", pgdir);
    int restarted = warm ? pg_script(args, NULL, 0) : -1;
    bool back1 = restarted == 0 && run_until(f, N, 200, 40, 60);
    snprintf(args, sizeof args, "pause %s", pgdir);
    int paused = back1 ? pg_script(args, NULL, 0) : -1;
    bool refused = paused == 0 && run_until(f, N, 503, 10, 30);
    snprintf(args, sizeof args, "resume %s", pgdir);
    int resumed = paused == 0 ? pg_script(args, NULL, 0) : -1;
    bool back2 = resumed == 0 && run_until(f, N, 200, 40, 60);
    stop = true;
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    cr_expect(warm, "the clients got answers before the restart");
    cr_expect_eq(restarted, 0, "pg_ctl restart");
    cr_expect(back1, "calls succeed again after the restart, without restarting dupla");
    cr_expect(refused, "503 while the database is down");
    cr_expect(back2, "calls succeed again after the crash and start, without restarting dupla");

    /* every answer: 200 or 503 with Retry-After; never a hang or a 500 */
    size_t n200 = 0, n503 = 0;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < f[i].n; k++) {
            const struct answer *a = &f[i].answers[k];
            cr_expect_eq(a->curl_code, CURLE_OK, "request %s: curl %d", a->request_id,
                         a->curl_code);
            cr_expect(a->status == 200 || a->status == 503, "request %s answered %ld",
                      a->request_id, a->status);
            if (a->status == 503)
                cr_expect(a->retry_after, "a 503 without Retry-After (%s)", a->request_id);
            n200 += a->status == 200;
            n503 += a->status == 503;
        }
    cr_log_info("restart under load: %zu answers 200, %zu answers 503", n200, n503);

    /* every disclosure a client received is in the log */
    store_t *store = open_store(&own);
    store_conn_t *conn_st;
    err_t err;
    cr_assert_eq(store_conn_get(store, &conn_st, &err), 0, "%s", err.log);
    static const char count_sql[] =
        "SELECT COUNT(*) FROM audit_entry WHERE request_id = ? AND outcome = 'disclosed'";
    size_t missing = 0;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < f[i].n; k++) {
            const struct answer *a = &f[i].answers[k];
            if (a->status != 200 || a->records == 0)
                continue;
            store_stmt_t *s;
            cr_assert_eq(store_prepare(conn_st, count_sql, &s, &err), 0, "%s", err.log);
            store_bind_cstr(s, 1, a->request_id);
            cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
            if (store_col_int64(s, 0) != 1) {
                missing++;
                cr_log_error("disclosure %s is not in the log", a->request_id);
            }
            store_stmt_done(s);
        }
    store_conn_put(conn_st);
    store_close(store);
    cr_expect_eq(missing, 0, "%zu disclosures without their log entry", missing);
    for (int i = 0; i < N; i++)
        free(f[i].answers);

    /* the chain is whole, and the same process serves on */
    const char *verify[] = {"audit", "verify", "--config", own.config, "--quiet", NULL};
    cr_expect_eq(e2e_run_dupla(verify, NULL), 0, "dupla audit verify after the restarts");
    struct e2e_response r;
    cr_expect_eq(e2e_get(&own, "api", "/health/ready", &r), 0);
    cr_expect_eq(r.status, 200);
    e2e_response_free(&r);
    cr_expect_eq(e2e_stop(&own), 0);
    snprintf(args, sizeof args, "stop %s", pgdir);
    pg_script(args, NULL, 0);
}
