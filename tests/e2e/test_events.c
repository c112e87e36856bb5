/* End-to-end: withdrawn records and event lists (hændelser) through the
 * real binary. A source system delivers and withdraws over POST /ingest;
 * a recipient system reads current records and registration windows, and
 * follows subjects whose changes it reads from /Haendelser.
 *
 * The world (a source system, an organisation with a system and two
 * agreements) is made once per server under a lock; agreements are made
 * in-process on the server's store and picked up by its registry sync. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "api_helpers.h"
#include "core/clock.h"
#include "core/uuid.h"
#include "events/events.h"

#define CVR_A "12345674"
#define OWNER "19552101"

#define CONFIG                                                                                     \
    "{\"identity\": {\"registry_poll_ms\": 50},"                                                   \
    " \"exposure\": {\"window_margin_seconds\": 0, \"rate_per_second\": 100000,"                   \
    " \"rate_burst\": 100000}}"

E2E_SHARED_SERVERS({"main", {.config_json = CONFIG}});

#define HEADER "{\"delivery\":{\"synthetic\":true}}\n"

/* A valid Årsopgørelse line for cpr and year with total tax. */
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

/* ---- the world ---- */

/* One agreement per test that reads pages from "now" (tests run at once
 * and each must see only its own subjects' events). */
static char ag_aar[AGREEMENT_ID_LEN + 1], ag_moms[AGREEMENT_ID_LEN + 1],
    ag_log[AGREEMENT_ID_LEN + 1], ag_poll[AGREEMENT_ID_LEN + 1];

static void deliver(const struct e2e_server *s, const char *path, const char *body,
                    struct e2e_response *r);

static void make_world(const struct e2e_server *s)
{
    char pem[E2E_PATH_MAX];
    cr_assert_eq(e2e_issue_system(s, "skat", OWNER, NULL), 0);
    const char *src[] = {
        "source", "register", "--name", "skat", "--cert", e2e_pki_path(s, "skat.pem", pem), NULL};
    api_must(s, src);
    api_org(s, CVR_A, "first@a.dk", "k@a.dk");
    cr_assert_eq(e2e_issue_system(s, "sysa", CVR_A, NULL), 0);
    const char *sys[] = {"system", "register", "--org",  CVR_A,
                         "--name", "sysa",     "--cert", e2e_pki_path(s, "sysa.pem", pem),
                         NULL};
    api_must(s, sys);
    struct api_audit a;
    api_audit_open(s, &a);
    api_store_agreement(a.st, CVR_A,
                        json_pack("{s:[s, s]}", "Aarsopgoerelse", "PersonligIndkomst", "SkatIAlt"),
                        ag_aar);
    api_store_agreement(a.st, CVR_A, json_pack("{s:[s]}", "Momsangivelse", "Salgsmoms"), ag_moms);
    api_store_agreement(a.st, CVR_A, json_pack("{s:[s]}", "Aarsopgoerelse", "SkatIAlt"), ag_log);
    api_store_agreement(a.st, CVR_A, json_pack("{s:[s]}", "Aarsopgoerelse", "SkatIAlt"), ag_poll);
    api_audit_close(&a);
    json_t *ids = json_pack("{s:s, s:s, s:s, s:s}", "aar", ag_aar, "moms", ag_moms, "log", ag_log,
                            "poll", ag_poll);
    char path[E2E_PATH_MAX];
    cr_assert_eq(json_dump_file(ids, e2e_path(s, "world.json", path), 0), 0);
    json_decref(ids);
    /* the source system is known once a delivery to no service is a 404 */
    for (int i = 0; i < 200; i++) {
        struct e2e_response r;
        deliver(s, "/ingest/-", "", &r);
        long st = r.status;
        e2e_response_free(&r);
        if (st == 404)
            break;
        usleep(50 * 1000);
    }
    usleep(1500 * 1000); /* the server's agreement sync */
}

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX], path[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        make_world(s);
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    json_t *ids = json_load_file(e2e_path(s, "world.json", path), 0, NULL);
    cr_assert_not_null(ids);
    snprintf(ag_aar, sizeof ag_aar, "%s", json_string_value(json_object_get(ids, "aar")));
    snprintf(ag_moms, sizeof ag_moms, "%s", json_string_value(json_object_get(ids, "moms")));
    snprintf(ag_log, sizeof ag_log, "%s", json_string_value(json_object_get(ids, "log")));
    snprintf(ag_poll, sizeof ag_poll, "%s", json_string_value(json_object_get(ids, "poll")));
    json_decref(ids);
    return s;
}

/* POSTs an NDJSON body to path with the source system's certificate. */
static void deliver(const struct e2e_server *s, const char *path, const char *body,
                    struct e2e_response *r)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = path,
                             .body = body,
                             .cert_file = e2e_pki_path(s, "skat.pem", pem),
                             .key_file = e2e_pki_path(s, "skat.key", key),
                             .headers =
                                 (const char *const[]){"Content-Type: application/x-ndjson", NULL}};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
}

static void deliver_ok(const struct e2e_server *s, const char *id, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/ingest/Aarsopgoerelse?delivery_id=%s", id);
    struct e2e_response r;
    deliver(s, path, body, &r);
    e2e_assert_status(s, &r, 201);
    e2e_response_free(&r);
}

/* ---- the recipient's client ---- */

static void token(const struct e2e_server *s, char *out, size_t cap)
{
    char p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256];
    e2e_pki_path(s, "sysa.p12", p12);
    cr_assert_eq(e2e_read_line(e2e_pki_path(s, "sysa.p12.pass", pwfile), pw, sizeof pw), 0);
    const char *headers[] = {"x-transaktion-id: 6f1c7c39-2a4b-4d8e-9a53-0c1f2e3d4b5a",
                             "Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = "client_id=api-gateway&scope=openid&grant_type=password",
                             .p12_file = p12,
                             .p12_password = pw};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "token: %s", r.error);
    e2e_assert_status(s, &r, 200);
    snprintf(out, cap, "%s", json_string_value(json_object_get(r.json, "access_token")));
    e2e_response_free(&r);
}

/* GET path (query encoded) under agreement with the protocol headers. */
static void call(const struct e2e_server *s, const char *agreement, const char *path,
                 struct e2e_response *r)
{
    static char tok[4096];
    if (!tok[0])
        token(s, tok, sizeof tok);
    char hauth[4200], hrid[96], hag[160], rid[UUID_STR_LEN + 1];
    cr_assert_eq(uuid_v4(rid), 0);
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", tok);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", rid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: " AGREEMENT_URN_PREFIX "%s", agreement);
    const char *h[] = {hauth, hrid, "X-Transaktions-ID: 6f1c7c39-2a4b-4d8e-9a53-0c1f2e3d4b5a", hag,
                       NULL};
    struct e2e_request rq = {.path = path, .headers = h, .timeout_ms = 60000};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
}

static size_t data_len(const struct e2e_response *r)
{
    cr_assert_not_null(r->json, "%s", r->body);
    json_t *d = json_object_get(r->json, "data");
    cr_assert(json_is_array(d), "%s", r->body);
    return json_array_size(d);
}

/* ---- withdrawals ---- */

Test(events, a_withdrawal_flows_from_ingest_to_reads_and_windows)
{
    const struct e2e_server *s = world();
    char l1[2048], l2[2048], body[8192];
    aar_line(l1, sizeof l1, "6102651234", 2023, 1000);
    aar_line(l2, sizeof l2, "6102651234", 2024, 2000);
    snprintf(body, sizeof body, HEADER "%s%s", l1, l2);
    deliver_ok(s, "w-first", body);

    struct e2e_response r;
    call(s, ag_aar, "/Aarsopgoerelse?PersonCPRNummer=6102651234", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(data_len(&r), 2, "%s", r.body);
    e2e_response_free(&r);

    /* withdraw 2023 */
    const char *w =
        HEADER "{\"withdraw\":true,\"PersonCPRNummer\":\"6102651234\",\"IndkomstÅr\":2023}\n";
    deliver(s, "/ingest/Aarsopgoerelse?delivery_id=w-withdraw", w, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "withdrawn")), 1, "%s", r.body);
    e2e_response_free(&r);
    /* again under the same id: already delivered; under another: unchanged */
    deliver(s, "/ingest/Aarsopgoerelse?delivery_id=w-withdraw", w, &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    deliver(s, "/ingest/Aarsopgoerelse?delivery_id=w-withdraw-2", w, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "unchanged")), 1, "%s", r.body);
    e2e_response_free(&r);

    /* current reads no longer return it */
    call(s, ag_aar, "/Aarsopgoerelse?PersonCPRNummer=6102651234", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(data_len(&r), 1, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(r.json, "data"), 0), "IndkomstÅr")),
                 2024);
    e2e_response_free(&r);
    call(s, ag_aar, "/Aarsopgoerelse?PersonCPRNummer=6102651234&IndkomstÅr=2023", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(data_len(&r), 0, "%s", r.body);
    e2e_response_free(&r);

    /* the registration window shows the withdrawal, without data */
    call(s, ag_aar,
         "/Aarsopgoerelse?PersonCPRNummer=6102651234&UdstillingRegistreringFra=2020-01-01T00:00:"
         "00Z",
         &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(data_len(&r), 3, "%s", r.body);
    json_t *wd = json_array_get(json_object_get(r.json, "data"), 1);
    cr_assert(json_is_true(json_object_get(wd, "Tilbagekaldt")), "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(wd, "IndkomstÅr")), 2023);
    cr_assert_null(json_object_get(wd, "SkatIAlt"), "%s", r.body);
    cr_assert_null(
        json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "Tilbagekaldt"));
    e2e_response_free(&r);

    /* a bad withdrawal is refused naming its line; nothing stored */
    const char *bad = HEADER "{\"withdraw\":true,\"PersonCPRNummer\":\"6102651234\","
                             "\"IndkomstÅr\":2024}\n"
                             "{\"withdraw\":true,\"PersonCPRNummer\":\"6102651234\","
                             "\"IndkomstÅr\":2001}\n";
    deliver(s, "/ingest/Aarsopgoerelse?delivery_id=w-bad", bad, &r);
    e2e_assert_status(s, &r, 422);
    json_t *p = json_array_get(json_object_get(r.json, "problems"), 0);
    cr_assert_eq(json_integer_value(json_object_get(p, "line")), 3, "%s", r.body);
    e2e_response_free(&r);
    call(s, ag_aar, "/Aarsopgoerelse?PersonCPRNummer=6102651234", &r);
    cr_assert_eq(data_len(&r), 1, "the 2024 withdrawal was rolled back: %s", r.body);
    e2e_response_free(&r);
}

/* ---- event lists ---- */

/* A request with a body (PUT/POST) under agreement. */
static void call_body(const struct e2e_server *s, const char *agreement, const char *method,
                      const char *path, const char *body, struct e2e_response *r)
{
    static char tok[4096];
    if (!tok[0])
        token(s, tok, sizeof tok);
    char hauth[4200], hrid[96], hag[160], rid[UUID_STR_LEN + 1];
    cr_assert_eq(uuid_v4(rid), 0);
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", tok);
    snprintf(hrid, sizeof hrid, "X-Request-ID: %s", rid);
    snprintf(hag, sizeof hag, "UFST-Adgangsgrundlag: " AGREEMENT_URN_PREFIX "%s", agreement);
    const char *h[] = {hauth,
                       hrid,
                       "X-Transaktions-ID: 6f1c7c39-2a4b-4d8e-9a53-0c1f2e3d4b5a",
                       hag,
                       "Content-Type: text/plain",
                       NULL};
    struct e2e_request rq = {.method = method, .path = path, .headers = h, .body = body};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
}

static void assert_problem(const struct e2e_server *s, struct e2e_response *r, long status,
                           const char *type, const char *param)
{
    e2e_assert_status(s, r, status);
    cr_assert_not_null(r->json, "%s", r->body);
    const char *t = json_string_value(json_object_get(r->json, "type"));
    cr_assert(t && strstr(t, type), "type %s, want %s", t ? t : "-", type);
    if (param)
        cr_assert_str_eq(api_problem_param(r), param, "%s", r->body);
}

/* The next sequence number to come (from the start of a far future day). */
static int64_t head(const struct e2e_server *s)
{
    struct e2e_response r;
    call(s, ag_aar, "/Haendelser/start?Dato=2999-01-01", &r);
    e2e_assert_status(s, &r, 200);
    int64_t n = json_integer_value(json_object_get(r.json, "Sekvensnummer"));
    e2e_response_free(&r);
    cr_assert_gt(n, 0);
    return n;
}

/* GET /Haendelser from `from` (n at most): the events into *out (a new
 * reference). */
static json_t *get_page(const struct e2e_server *s, const char *agreement, int64_t from, int n,
                        const char *extra, struct e2e_response *r)
{
    char path[256];
    snprintf(path, sizeof path, "/Haendelser?FraSekvensnummer=%lld&Antal=%d%s", (long long)from, n,
             extra ? extra : "");
    call(s, agreement, path, r);
    e2e_assert_status(s, r, 200);
    cr_assert_not_null(e2e_header(r, "X-Dupla-Udlevering"), "the page names its log entry");
    json_t *d = json_object_get(r->json, "data");
    cr_assert(json_is_array(d), "%s", r->body);
    return d;
}

Test(events, followed_subjects_only_paged_and_withdrawals_say_tilbagekaldt)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    /* follow two persons (and a company, for the other agreement's
     * service); a third person is changed but never followed */
    call_body(s, ag_aar, "PUT", "/Haendelser/abonnement", "# fulgte\n6201700011\nCPR 6301700011\n",
              &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "antal")), 2, "%s", r.body);
    e2e_response_free(&r);
    int64_t from = head(s);

    char a1[2048], a2[2048], b1[2048], x1[2048], body[16384];
    aar_line(a1, sizeof a1, "6201700011", 2023, 100);
    aar_line(b1, sizeof b1, "6301700011", 2023, 100);
    aar_line(x1, sizeof x1, "6401700011", 2023, 100);
    snprintf(body, sizeof body, HEADER "%s%s%s", a1, b1, x1);
    deliver_ok(s, "e-1", body);
    aar_line(a2, sizeof a2, "6201700011", 2023, 200);
    snprintf(body, sizeof body, HEADER "%s%s", a2, x1);
    deliver_ok(s, "e-2", body);
    deliver_ok(s, "e-3",
               HEADER
               "{\"withdraw\":true,\"PersonCPRNummer\":\"6301700011\",\"IndkomstÅr\":2023}\n"
               "{\"withdraw\":true,\"PersonCPRNummer\":\"6401700011\",\"IndkomstÅr\":2023}\n");

    /* paged two at a time: 6201700011 ny, 6301700011 ny | 6201700011 ændret,
     * 6301700011 tilbagekaldt | empty */
    const char *want[][3] = {{"6201700011", "ny", "1"},
                             {"6301700011", "ny", "1"},
                             {"6201700011", "ændret", "2"},
                             {"6301700011", "tilbagekaldt", "2"}};
    /* (other tests' deliveries may interleave: only these two persons are
     * compared) */
    int64_t at = from;
    int got = 0, pages = 0;
    for (;;) {
        json_t *d = get_page(s, ag_aar, at, 2, NULL, &r);
        size_t n = json_array_size(d);
        cr_assert_leq(n, 2u, "%s", r.body);
        pages++;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(d, i);
            at = json_integer_value(json_object_get(e, "Sekvensnummer")) + 1;
            const char *who = json_string_value(json_object_get(e, "Identifikator"));
            if (strcmp(who, "6201700011") != 0 && strcmp(who, "6301700011") != 0)
                continue;
            cr_assert_lt(got, 4, "%s", r.body);
            const char *const *w = want[got++];
            cr_assert_str_eq(who, w[0], "%s", r.body);
            cr_assert_str_eq(json_string_value(json_object_get(e, "Type")), w[1], "%s", r.body);
            cr_assert_eq(json_integer_value(json_object_get(e, "Version")), atoi(w[2]));
            cr_assert_str_eq(json_string_value(json_object_get(e, "Tjeneste")), "Aarsopgoerelse");
            cr_assert_str_eq(json_string_value(json_object_get(e, "IdentifikatorType")), "CPR");
            cr_assert_str_eq(json_string_value(json_object_get(e, "Periode")), "2023");
            cr_assert_null(json_object_get(e, "SkatIAlt"), "no data fields");
        }
        e2e_response_free(&r);
        if (n == 0)
            break; /* an empty page ends */
    }
    cr_assert_eq(got, 4);
    cr_assert_geq(pages, 3, "paged two at a time, then an empty page");
    /* the unfollowed person never appears, from the very start either */
    json_t *d = get_page(s, ag_aar, 1, 1000, NULL, &r);
    for (size_t i = 0; i < json_array_size(d); i++)
        cr_assert_str_neq(json_string_value(json_object_get(json_array_get(d, i), "Identifikator")),
                          "6401700011", "%s", r.body);
    e2e_response_free(&r);
    /* the other agreement follows nobody: no events */
    d = get_page(s, ag_moms, 1, 1000, NULL, &r);
    cr_assert_eq(json_array_size(d), 0, "%s", r.body);
    e2e_response_free(&r);
}

Test(events, a_page_is_in_the_disclosure_log_with_its_subjects)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    call_body(s, ag_log, "POST", "/Haendelser/abonnement", "6501700011\n", &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    int64_t from = head(s);
    char l[2048], body[4096];
    aar_line(l, sizeof l, "6501700011", 2022, 5);
    snprintf(body, sizeof body, HEADER "%s", l);
    deliver_ok(s, "log-1", body);
    json_t *d = get_page(s, ag_log, from, 10, NULL, &r);
    cr_assert_eq(json_array_size(d), 1, "%s", r.body);
    long long seq = atoll(e2e_header(&r, "X-Dupla-Udlevering"));
    const char *rid = e2e_header(&r, "X-Request-ID");
    cr_assert_not_null(rid);
    char want_rid[64];
    snprintf(want_rid, sizeof want_rid, "%s", rid);
    e2e_response_free(&r);
    /* the entry: the agreement, service Haendelser, the subject, one record */
    struct api_audit a;
    api_audit_open(s, &a);
    arena_t *ar = arena_new(1 << 20);
    struct audit_filter f = {.newest_first = true, .limit = AUDIT_PAGE_MAX};
    struct audit_page pg;
    err_t err;
    cr_assert_eq(audit_query(a.st, &f, NULL, ar, &pg, &err), 0, "%s", err.log);
    bool found = false;
    for (size_t i = 0; i < pg.n && !found; i++) {
        const struct audit_row *row = &pg.rows[i];
        if (row->seq != seq)
            continue;
        found = true;
        cr_assert_str_eq(row->service, "Haendelser");
        cr_assert_str_eq(row->agreement_id, ag_log);
        cr_assert_str_eq(row->request_id, want_rid);
        cr_assert_eq(row->record_count, 1);
        cr_assert_eq(row->n_subjects, 1);
        cr_assert(str_eq_cstr(row->subjects[0].id, "6501700011"));
    }
    cr_assert(found, "entry %lld is in the log", seq);
    arena_free(ar);
    api_audit_close(&a);
}

Test(events, start_by_date)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    call(s, ag_aar, "/Haendelser/start?Dato=2000-01-01", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "Sekvensnummer")), 1, "%s", r.body);
    cr_assert_null(e2e_header(&r, "X-Dupla-Udlevering"), "no subject: not a disclosure");
    e2e_response_free(&r);
    int64_t next = head(s);
    char today[16], path[64];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    snprintf(path, sizeof path, "/Haendelser/start?Dato=%s", today);
    call(s, ag_aar, path, &r);
    e2e_assert_status(s, &r, 200);
    int64_t first_today = json_integer_value(json_object_get(r.json, "Sekvensnummer"));
    cr_assert_leq(first_today, next);
    cr_assert_geq(first_today, 1);
    e2e_response_free(&r);
}

struct later {
    const struct e2e_server *s;
    int delay_ms;
    const char *id, *body;
};

static void *deliver_later(void *arg)
{
    struct later *l = arg;
    usleep((useconds_t)l->delay_ms * 1000);
    struct e2e_response r;
    char path[128];
    snprintf(path, sizeof path, "/ingest/Aarsopgoerelse?delivery_id=%s", l->id);
    deliver(l->s, path, l->body, &r);
    e2e_response_free(&r);
    return NULL;
}

Test(events, long_poll_answers_early_or_empty_after_the_wait)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    call_body(s, ag_poll, "POST", "/Haendelser/abonnement", "6601700011\n", &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    int64_t from = head(s);
    /* nothing comes: empty after about Vent seconds */
    int64_t t0 = clock_now_ms();
    json_t *d = get_page(s, ag_poll, from, 10, "&Vent=2", &r);
    int64_t took = clock_now_ms() - t0;
    cr_assert_eq(json_array_size(d), 0, "%s", r.body);
    cr_assert_geq(took, 1900, "waited %lld ms", (long long)took);
    cr_assert_lt(took, 6000, "waited %lld ms", (long long)took);
    e2e_response_free(&r);
    /* an event ingested during the wait: answered at once, long before 20 s */
    char l[2048], body[4096];
    aar_line(l, sizeof l, "6601700011", 2023, 7);
    snprintf(body, sizeof body, HEADER "%s", l);
    struct later lt = {s, 700, "poll-1", body};
    pthread_t th;
    pthread_create(&th, NULL, deliver_later, &lt);
    t0 = clock_now_ms();
    d = get_page(s, ag_poll, from, 10, "&Vent=20", &r);
    took = clock_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(json_array_size(d), 1, "%s", r.body);
    cr_assert_geq(took, 500, "waited %lld ms", (long long)took);
    cr_assert_lt(took, 10000, "waited %lld ms", (long long)took);
    e2e_response_free(&r);
}

struct poller {
    const struct e2e_server *s;
    int64_t from;
    int n;
};

static void *poll_empty(void *arg)
{
    struct poller *p = arg;
    struct e2e_response r;
    json_t *d = get_page(p->s, ag_poll, p->from, 10, "&Vent=3", &r);
    p->n = d ? (int)json_array_size(d) : -1;
    e2e_response_free(&r);
    return NULL;
}

/* A waiting long-poll is suspended, not parked on a thread: more of them
 * than the event loop has threads leave the server answering others at
 * once. */
Test(events, long_polls_hold_no_thread)
{
    enum { POLLS = 6 };
    const struct e2e_server *s = world();
    struct poller p[POLLS];
    pthread_t th[POLLS];
    int64_t from = head(s) + 1000000; /* far past the head: nothing comes */
    for (int i = 0; i < POLLS; i++) {
        p[i] = (struct poller){s, from, -1};
        pthread_create(&th[i], NULL, poll_empty, &p[i]);
    }
    usleep(1000 * 1000); /* the polls are waiting now */
    int64_t t0 = clock_now_ms();
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/health/live", &r), 0, "%s", r.error);
    int64_t took = clock_now_ms() - t0;
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    for (int i = 0; i < POLLS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < POLLS; i++)
        cr_assert_eq(p[i].n, 0, "poll %d", i);
    cr_assert_lt(took, 1500, "another request waited %lld ms behind %d long-polls", (long long)took,
                 POLLS);
}

Test(events, refusals_are_problems_naming_the_parameter)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    call(s, ag_aar, "/Haendelser", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "FraSekvensnummer");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=x", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "FraSekvensnummer");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=1&Antal=1001", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "Antal");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=1&Vent=31", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "Vent");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=1&Hvad=1", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "Hvad");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser/start?Dato=2023-02-30", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "Dato");
    e2e_response_free(&r);
    /* a service the agreement does not grant */
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=1&Tjeneste=Momsangivelse", &r);
    assert_problem(s, &r, 403, "service-not-granted", "Tjeneste");
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser?FraSekvensnummer=1&Tjeneste=Aarsopgoerelse", &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    /* an unknown agreement */
    call(s, "00000000000000000000000000000000", "/Haendelser?FraSekvensnummer=1", &r);
    cr_assert_geq(r.status, 400);
    cr_assert_lt(r.status, 500);
    e2e_response_free(&r);
    /* a list with bad lines: every bad line named, nothing changed */
    call_body(s, ag_aar, "PUT", "/Haendelser/abonnement", "6201700011\n12345\nCVR 12345678\n", &r);
    assert_problem(s, &r, 422, "invalid-request", "body");
    json_t *p = json_object_get(r.json, "problems");
    cr_assert_eq(json_array_size(p), 2, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(p, 0), "line")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(p, 1), "line")), 3);
    e2e_response_free(&r);
    /* the list's page */
    call(s, ag_aar, "/Haendelser/abonnement?Antal=1", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 1, "%s", r.body);
    e2e_response_free(&r);
    call(s, ag_aar, "/Haendelser/abonnement?Efter=nej", &r);
    assert_problem(s, &r, 400, "invalid-parameter", "Efter");
    e2e_response_free(&r);
}

Test(events, a_list_too_long_is_refused_naming_its_line)
{
    const struct e2e_server *s = world();
    size_t n = EVENTS_DEFAULT_MAX_FOLLOWED + 1;
    char *body = malloc(n * 11 + 1);
    cr_assert_not_null(body);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) /* 61 01 YY SSSS: distinct substitute numbers */
        at += (size_t)sprintf(body + at, "6101%02zu%04zu\n", i / 10000, i % 10000);
    struct e2e_response r;
    call_body(s, ag_moms, "PUT", "/Haendelser/abonnement", body, &r);
    free(body);
    assert_problem(s, &r, 422, "invalid-request", "body");
    json_t *p = json_array_get(json_object_get(r.json, "problems"), 0);
    cr_assert_eq(json_integer_value(json_object_get(p, "line")), (json_int_t)n, "%s", r.body);
    e2e_response_free(&r);
    call(s, ag_moms, "/Haendelser/abonnement", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "antal")), 0, "nothing changed");
    e2e_response_free(&r);
}

Test(events, openapi_and_the_catalogue_page_describe_them)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/openapi.json", &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    json_t *paths = json_object_get(r.json, "paths");
    cr_assert_not_null(json_object_get(json_object_get(paths, "/Haendelser"), "get"));
    cr_assert_not_null(json_object_get(json_object_get(paths, "/Haendelser/start"), "get"));
    cr_assert_not_null(json_object_get(json_object_get(paths, "/Haendelser/abonnement"), "put"));
    cr_assert_not_null(
        json_object_get(json_object_get(paths, "/Haendelser/abonnement/fjern"), "post"));
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/servicekatalog", &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "id=\"Haendelser\""), "the catalogue page has the event lists");
    cr_assert(strstr(r.body, "tilbagekaldt"));
    e2e_response_free(&r);
}

/* ---- the recipient's page (/haendelser) ---- */

static void web_login(const struct e2e_server *s, const char *username, char *session, size_t cap)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    size_t n = strcspn(set, ";");
    char cookie[256], body[512];
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)n, set);
    const char *eq = strchr(set, '=');
    snprintf(body, sizeof body, "csrf=%.*s&username=%s&password=correct+horse+battery",
             (int)(n - (size_t)(eq + 1 - set)), eq + 1, username);
    e2e_response_free(&r);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    struct e2e_request rq = {.method = "POST", .path = "/login", .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 303);
    set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    snprintf(session, cap, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
}

static long web_get(const struct e2e_server *s, const char *session, const char *path,
                    struct e2e_response *r)
{
    struct e2e_request rq = {.path = path, .headers = (const char *const[]){session, NULL}};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

static long web_post(const struct e2e_server *s, const char *session, const char *body,
                     struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", session, NULL};
    struct e2e_request rq = {.method = "POST", .path = "/haendelser", .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

Test(events, the_page_uploads_a_list_and_names_bad_lines)
{
    const struct e2e_server *s = world();
    char flag[E2E_PATH_MAX];
    if (access(e2e_path(s, "web-user.done", flag), F_OK) != 0) {
        api_user(s, CVR_A, "beh@a.dk", "aftager-behandler", NULL);
        FILE *f = fopen(flag, "w");
        fclose(f);
    }
    char session[256];
    web_login(s, "beh@a.dk", session, sizeof session);
    struct e2e_response r;
    web_get(s, session, "/haendelser", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, ag_moms), "the agreement is listed");
    const char *p = strstr(r.body, "name=\"csrf\" value=\"");
    cr_assert_not_null(p, "the form is there for a processor");
    p += strlen("name=\"csrf\" value=\"");
    char csrf[128];
    snprintf(csrf, sizeof csrf, "%.*s", (int)strcspn(p, "\""), p);
    e2e_response_free(&r);

    /* bad lines: each named by its number, nothing changes */
    char body[1024];
    snprintf(body, sizeof body,
             "csrf=%s&aftale=%s&handling=erstat&liste=CVR+12345674%%0A12345%%0ASE+1%%0A", csrf,
             ag_moms);
    web_post(s, session, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Linje 2"), "%s", r.body);
    cr_assert(strstr(r.body, "Linje 3"));
    e2e_response_free(&r);
    call(s, ag_moms, "/Haendelser/abonnement", &r);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "antal")), 0, "%s", r.body);
    e2e_response_free(&r);

    /* a good list: saved, seen by the API and on the page */
    snprintf(body, sizeof body,
             "csrf=%s&aftale=%s&handling=erstat&liste=%%23+kunder%%0ACVR+12345674%%0ASE+"
             "87654321%%0A",
             csrf, ag_moms);
    web_post(s, session, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    call(s, ag_moms, "/Haendelser/abonnement", &r);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "antal")), 2, "%s", r.body);
    e2e_response_free(&r);
    web_get(s, session, "/haendelser?ok=gemt", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "87654321"), "the followed are listed");
    cr_assert(strstr(r.body, "Listen er gemt"));
    e2e_response_free(&r);
    /* another organisation's agreement (or none) is refused */
    snprintf(body, sizeof body, "csrf=%s&aftale=%s&handling=tilfoej&liste=6201700011", csrf,
             "00000000000000000000000000000000");
    web_post(s, session, body, &r);
    e2e_assert_status(s, &r, 400);
    e2e_response_free(&r);
}
