/* End-to-end: the disclosure pages of the web self-service against
 * `dupla serve`: a recipient administrator's own disclosures with filters,
 * the data owner's search (by CPR/CVR/SE number, organisation, agreement,
 * service, outcome and time) with keyset paging and a CSV export of the
 * same rows, and the citizen-insight report with the agreement's purpose and
 * legal basis; every refusal by role (also by editing the URL) and every
 * invalid input (400, the message at the field, the value kept).
 *
 * An agreement is made through the agreement API; the entries are recorded
 * through the audit module from this process, as tests/e2e/test_audit_api.c
 * does (the server records none here, so the chain stays one). The pages are
 * reached through the login form with its CSRF cookie. */
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "api_helpers.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/config.h"
#include "store/store.h"

#define CVR_A         "12345674"
#define CVR_B         "20000007"
#define OWNER         "19552101"
#define CPR_1         "0101010101"
#define CPR_2         "0202020202"
#define CPR_3         "0303030303"
#define CPR_4         "0404040404" /* about whom nothing was disclosed */
#define SE_1          "12345678"
#define CVR_SUPPLIER  "30000005"
#define PURPOSE       "Kontrol af indkomstoplysninger"
#define CASE_REF      "J.nr. 2026-0042 (bolig)"
#define CASE_REF_HTML "J.nr. 2026-0042 (bolig)"
#define N_PAGED       12 /* entries about CPR_3, for paging by 10 */

E2E_SHARED_SERVERS({"main", {0}});

/* 4 + N_PAGED entries: to A about CPR_1 and CPR_2, to A about SE_1, to B
 * about CPR_1, a refusal to A about CPR_1, and N_PAGED to A about CPR_3. */
static void record_entries(const struct e2e_server *s, const char *agreement)
{
    struct api_audit log;
    api_audit_open(s, &log);
    struct audit_subject two[] = {{AUDIT_SUBJECT_CPR, STR(CPR_1)}, {AUDIT_SUBJECT_CPR, STR(CPR_2)}};
    struct audit_subject se[] = {{AUDIT_SUBJECT_SE, STR(SE_1)}};
    struct audit_subject one[] = {{AUDIT_SUBJECT_CPR, STR(CPR_1)}};
    struct audit_subject three[] = {{AUDIT_SUBJECT_CPR, STR(CPR_3)}};
    log.case_ref = CASE_REF; /* the recipient's own case reference */
    api_audit_record(&log, CVR_A, agreement, "Aarsopgoerelse", two, 2, AUDIT_DISCLOSED, "");
    log.case_ref = NULL;
    /* a supplier's system of A, acting for the company SE_1 */
    log.supplier_cvr = CVR_SUPPLIER;
    log.on_behalf_se = SE_1;
    api_audit_record(&log, CVR_A, agreement, "Momsangivelse", se, 1, AUDIT_DISCLOSED, "");
    log.supplier_cvr = log.on_behalf_se = NULL;
    api_audit_record(&log, CVR_B, "00000000000000000000000000000000", "Aarsopgoerelse", one, 1,
                     AUDIT_DISCLOSED, "");
    api_audit_record(&log, CVR_A, agreement, "Aarsopgoerelse", one, 1, AUDIT_REFUSED,
                     "field-not-granted");
    for (int i = 0; i < N_PAGED; i++)
        api_audit_record(&log, CVR_A, agreement, "Forskudsopgoerelse", three, 1, AUDIT_DISCLOSED,
                         "");
    api_audit_close(&log);
}

/* An approved agreement of A, through the API; its id into id. */
static void agreement(const struct e2e_server *s, char *id)
{
    api_approved_agreement(s, "proc@a.dk", "sign@a.dk", "dfv@skat.dk", PURPOSE, id);
}

static char agreement_id[33];

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        api_org(s, CVR_A, "first@a.dk", "k@a.dk");
        api_org(s, CVR_B, "first@b.dk", "k@b.dk");
        api_user(s, CVR_A, "adm@a.dk", "administrator", NULL);
        api_user(s, CVR_A, "proc@a.dk", "aftager-behandler", NULL);
        api_user(s, CVR_A, "sign@a.dk", "aftager-underskriver", NULL);
        api_user(s, CVR_B, "adm@b.dk", "administrator", NULL);
        api_user(s, OWNER, "dfv@skat.dk", "dataforvaltning", NULL);
        api_user(s, OWNER, "ejer-adm@skat.dk", "administrator", NULL);
        char id[33];
        agreement(s, id);
        record_entries(s, id);
        FILE *f = fopen(done, "w");
        fprintf(f, "%s\n", id);
        fclose(f);
    }
    FILE *f = fopen(done, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(agreement_id, sizeof agreement_id, f));
    fclose(f);
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

/* ---- the web session ---- */

/* Logs in through the form (pre-login CSRF cookie and token); the session
 * cookie as a "Cookie: ..." header into session. */
static void web_login(const struct e2e_server *s, const char *username, char *session, size_t cap)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    e2e_assert_status(s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    size_t n = strcspn(set, ";");
    char cookie[256], token[128], body[512];
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)n, set);
    const char *eq = strchr(set, '=');
    snprintf(token, sizeof token, "%.*s", (int)(n - (size_t)(eq + 1 - set)), eq + 1);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&username=%s&password=correct+horse+battery", token,
             username);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    struct e2e_request rq = {.method = "POST", .path = "/login", .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 303);
    set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    snprintf(session, cap, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
}

/* GET path with the session; the status (r is the caller's to free). */
static long get(const struct e2e_server *s, const char *session, const char *path,
                struct e2e_response *r)
{
    const char *h[] = {session, NULL};
    struct e2e_request rq = {.path = path, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

/* The first table cell is a Danish time ("2. dec. 2026 kl. 18.08") of
 * today in Denmark. */
static bool danish_time_in(const char *body)
{
    const char *p = strstr(body, "<tr><td>");
    char today[CLOCK_DK_TEXT_MAX];
    clock_format_dk(clock_now_ms(), today, sizeof today);
    *strstr(today, " kl. ") = '\0';
    int hh, mm, n = 0;
    return p && strncmp(p + 8, today, strlen(today)) == 0 &&
           sscanf(p + 8 + strlen(today), " kl. %2d.%2d%n", &hh, &mm, &n) == 2 && n == 10 &&
           p[8 + strlen(today) + n] == '<';
}

/* A CSV line begins with a Danish time with its offset
 * ("2026-12-02T18:08:05+01:00") of now (within a minute). */
static bool csv_time_is_danish(const char *line)
{
    int64_t now = clock_now_ms();
    for (int64_t t = now; t >= now - 60000; t -= 1000) {
        char want[32];
        clock_format_dk_iso(t, want, sizeof want);
        if (strncmp(line, want, strlen(want)) == 0 && line[strlen(want)] == ',')
            return true;
    }
    return false;
}

/* GET that asserts the status, and answers the number of table rows (or,
 * for CSV, of lines after the header). */
static size_t rows_of(const struct e2e_server *s, const char *session, const char *path,
                      long status)
{
    struct e2e_response r;
    get(s, session, path, &r);
    e2e_assert_status(s, &r, status);
    size_t n = 0;
    bool csv = strstr(e2e_header(&r, "Content-Type"), "text/csv") != NULL;
    const char *needle = csv ? "\r\n" : "<tr><td>";
    for (const char *p = r.body; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    e2e_response_free(&r);
    return csv && n ? n - 1 : n;
}

/* Today in Denmark: the pages read fra/til as Danish days (between 23:00
 * and 24:00 UTC in winter the UTC date is yesterday's there). */
static void today(char *out, size_t cap)
{
    struct clock_local l;
    clock_dk_local(clock_now_ms(), &l);
    snprintf(out, cap, "%02d-%02d-%04d", l.day, l.month, l.year);
}

/* ---- the data owner's search ---- */

Test(web_disclosure, search_by_subject_finds_only_that_subject)
{
    const struct e2e_server *s = world();
    char dfv[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_1 "&antal=100", 200), 3);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cpr&subjekt=010101-0101&antal=100", 200), 3,
                 "ddmmåå-xxxx is the same number");
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_1 "&udfald=udleveret", 200),
                 2);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_2, 200), 1);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_4, 200), 0);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=se&subjekt=" SE_1, 200), 1);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?type=cvr&subjekt=" CVR_A, 200), 0,
                 "a CVR number is not the same subject as a CPR or SE number");
    struct e2e_response r;
    get(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_1 "&antal=100", &r);
    cr_assert(!strstr(r.body, CPR_2), "another subject of the same entry is not shown");
    cr_assert(strstr(r.body, "value=\"" CPR_1 "\""), "the search is kept in the form");
    e2e_response_free(&r);
    get(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_4, &r);
    cr_assert(strstr(r.body, "Ingen udleveringer passer til søgningen."));
    e2e_response_free(&r);
}

Test(web_disclosure, search_by_organisation_agreement_service_and_time)
{
    const struct e2e_server *s = world();
    char dfv[256], path[256], day[16];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?antal=100", 200), 4 + N_PAGED);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?organisation=" CVR_B, 200), 1);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?organisation=" CVR_A "&antal=100", 200),
                 3 + N_PAGED);
    snprintf(path, sizeof path, "/udleveringer?aftale=%s&tjeneste=Aarsopgoerelse", agreement_id);
    cr_assert_eq(rows_of(s, dfv, path, 200), 2);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?tjeneste=Momsangivelse", 200), 1);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?udfald=afvist", 200), 1);
    struct e2e_response r;
    get(s, dfv, "/udleveringer?udfald=afvist", &r);
    cr_assert(strstr(r.body, "Afvist: et felt uden for aftalen"), "the reason in Danish");
    e2e_response_free(&r);
    today(day, sizeof day);
    snprintf(path, sizeof path, "/udleveringer?fra=%s&til=%s&antal=100", day, day);
    cr_assert_eq(rows_of(s, dfv, path, 200), 4 + N_PAGED, "til includes its day");
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?fra=01-01-2020&til=31-12-2020", 200), 0);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?til=2020-12-31", 200), 0, "ISO dates too");
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?fra=01-01-2020&antal=100", 200), 4 + N_PAGED);
}

Test(web_disclosure, csv_has_the_same_rows)
{
    const struct e2e_server *s = world();
    char dfv[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    static const char *const queries[] = {"type=cpr&subjekt=" CPR_1, "organisation=" CVR_B,
                                          "tjeneste=Forskudsopgoerelse", "udfald=afvist",
                                          "fra=01-01-2020&til=31-12-2020"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char page[256], csv[256];
        snprintf(page, sizeof page, "/udleveringer?antal=100&%s", queries[i]);
        snprintf(csv, sizeof csv, "/udleveringer.csv?%s", queries[i]);
        cr_assert_eq(rows_of(s, dfv, csv, 200), rows_of(s, dfv, page, 200), "%s", queries[i]);
    }
    struct e2e_response r;
    get(s, dfv, "/udleveringer.csv?type=cpr&subjekt=" CPR_1, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Disposition"), "udleveringer.csv"));
    cr_assert(strncmp(r.body, "Løbenummer,Tidspunkt (dansk tid),", 34) == 0,
              "Danish column names: %.80s", r.body);
    const char *row = strstr(r.body, "\r\n");
    cr_assert(row && csv_time_is_danish(strchr(row, ',') + 1), "Danish time: %.120s", row);
    cr_assert_str_eq(e2e_header(&r, "Cache-Control"), "no-store");
    cr_assert(strstr(r.body, CPR_1) && !strstr(r.body, CPR_2), "%s", r.body);
    cr_assert(strstr(r.body, CVR_B), "%s", r.body);
    e2e_response_free(&r);
    /* the page links to the export of the same search */
    get(s, dfv, "/udleveringer?type=cpr&subjekt=" CPR_1, &r);
    cr_assert(strstr(r.body, "href=\"/udleveringer.csv?subjekt=" CPR_1 "&amp;type=cpr\""), "%s",
              r.body);
    e2e_response_free(&r);
}

Test(web_disclosure, keyset_paging)
{
    const struct e2e_server *s = world();
    char dfv[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    struct e2e_response r;
    get(s, dfv, "/udleveringer?tjeneste=Forskudsopgoerelse&antal=10", &r);
    e2e_assert_status(s, &r, 200);
    const char *next = strstr(r.body, "\">Næste side</a>");
    cr_assert_not_null(next, "a next page");
    const char *href = next;
    while (href > r.body && strncmp(href, "href=\"", 6) != 0)
        href--;
    char path[512];
    size_t n = 0;
    for (const char *p = href + 6; p < next && n + 1 < sizeof path; p++) {
        if (strncmp(p, "&amp;", 5) == 0) {
            path[n++] = '&';
            p += 4;
        } else {
            path[n++] = *p;
        }
    }
    path[n] = '\0';
    e2e_response_free(&r);
    cr_assert(strstr(path, "efter="), "%s", path);
    cr_assert(strstr(path, "tjeneste=Forskudsopgoerelse"), "the search is kept: %s", path);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer?tjeneste=Forskudsopgoerelse&antal=10", 200), 10);
    cr_assert_eq(rows_of(s, dfv, path, 200), N_PAGED - 10);
    get(s, dfv, path, &r);
    cr_assert(!strstr(r.body, "Næste side"), "the last page");
    cr_assert(strstr(r.body, "Første side"));
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, dfv, "/udleveringer.csv?tjeneste=Forskudsopgoerelse&antal=10", 200),
                 N_PAGED, "the export holds every page");
}

/* ---- the citizen-insight report ---- */

Test(web_disclosure, insight_report_with_purpose_and_legal_basis)
{
    const struct e2e_server *s = world();
    char dfv[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    struct e2e_response r;
    get(s, dfv, "/indsigt", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "id=\"subjekt\"") && !strstr(r.body, "<table"), "the form only");
    e2e_response_free(&r);
    get(s, dfv, "/", &r);
    cr_assert(strstr(r.body, "href=\"/indsigt\""), "the data owner's menu links to it");
    e2e_response_free(&r);

    get(s, dfv, "/indsigt?type=cpr&subjekt=" CPR_1, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, PURPOSE), "the purpose");
    cr_assert(strstr(r.body, "Skatteforvaltningsloven"), "the legal basis");
    cr_assert(strstr(r.body, "PersonligIndkomst"), "the fields");
    cr_assert(strstr(r.body, "<strong>PersonligIndkomst</strong>: Personlig indkomst efter "
                             "AM-bidrag"),
              "the fields with their Danish descriptions from the catalogue");
    cr_assert(danish_time_in(r.body), "times in Danish: %s", r.body);
    cr_assert(!strstr(r.body, "UTC"), "no UTC on the page");
    cr_assert(strstr(r.body, CVR_A) && strstr(r.body, CVR_B), "both recipients");
    cr_assert(!strstr(r.body, CPR_2), "only the subject asked about");
    cr_assert(strstr(r.body, "<th scope=\"col\">Bevis</th>") &&
                  strstr(r.body, "href=\"/transparency/proof/inclusion?seq=1\""),
              "each row links to its entry's inclusion proof: %s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, dfv, "/indsigt?type=cpr&subjekt=" CPR_1, 200), 2,
                 "disclosures only, not the refusal");
    cr_assert_eq(rows_of(s, dfv, "/indsigt?type=cpr&subjekt=" CPR_4, 200), 0);
    cr_assert_eq(rows_of(s, dfv, "/indsigt?type=se&subjekt=" SE_1, 200), 1);
    cr_assert_eq(rows_of(s, dfv, "/indsigt?type=cpr&subjekt=" CPR_1 "&til=31-12-2020", 200), 0);

    get(s, dfv, "/indsigt.csv?type=cpr&subjekt=" CPR_1, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/csv"));
    cr_assert(strncmp(r.body, "Tidspunkt (dansk tid),", 22) == 0, "%s", r.body);
    cr_assert(strstr(r.body, ",Feltbeskrivelser,Leverandør (CVR),På vegne af (SE)\r\n") &&
                  strstr(r.body, "PersonligIndkomst: Personlig indkomst efter AM-bidrag"),
              "the descriptions: %s", r.body);
    cr_assert(csv_time_is_danish(strstr(r.body, "\r\n") + 2), "%s", r.body);
    cr_assert(strstr(r.body, PURPOSE) && strstr(r.body, "Skatteforvaltningsloven"), "%s", r.body);
    cr_assert(!strstr(r.body, CPR_2));
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, dfv, "/indsigt.csv?type=cpr&subjekt=" CPR_1, 200), 2);
    cr_assert_eq(rows_of(s, dfv, "/indsigt.csv?type=cpr&subjekt=" CPR_3 "&antal=10", 200), N_PAGED);
}

/* The recipient's case reference (X-Dupla-Sagsreference) is in every view
 * of the log: the data owner's search, the recipient's own, the insight
 * report, and each of their CSV exports. */
Test(web_disclosure, the_case_reference_is_in_every_view_and_export)
{
    const struct e2e_server *s = world();
    char dfv[256], a[256], b[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    web_login(s, "adm@a.dk", a, sizeof a);
    web_login(s, "adm@b.dk", b, sizeof b);
    static const struct {
        int who; /* 0 the data owner, 1 recipient A, 2 recipient B */
        const char *path;
        bool shown;
    } views[] = {
        {0, "/udleveringer?organisation=" CVR_A "&antal=100", true},
        {0, "/udleveringer.csv?organisation=" CVR_A, true},
        {1, "/udleveringer?antal=100", true},
        {1, "/udleveringer.csv", true},
        {2, "/udleveringer?antal=100", false},
        {2, "/udleveringer.csv", false},
        {0, "/indsigt?type=cpr&subjekt=" CPR_2, true},
        {0, "/indsigt.csv?type=cpr&subjekt=" CPR_2, true},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        struct e2e_response r;
        get(s, views[i].who == 0 ? dfv : views[i].who == 1 ? a : b, views[i].path, &r);
        e2e_assert_status(s, &r, 200);
        cr_assert_eq(strstr(r.body, CASE_REF_HTML) != NULL, views[i].shown, "%s: %s", views[i].path,
                     r.body);
        if (strstr(views[i].path, ".csv"))
            cr_assert(strstr(r.body, "Sagsreference"), "%s: the column", views[i].path);
        else
            cr_assert(strstr(r.body, ">Sagsreference</th>"), "%s: the column", views[i].path);
        e2e_response_free(&r);
    }
}

/* A supplier's fetch on a company's behalf is labelled in every view: the
 * company's insight report, the recipient's and the data owner's lists, and
 * their exports (#21.3-4). */
Test(web_disclosure, the_supplier_and_the_company_acted_for_are_in_every_view)
{
    const struct e2e_server *s = world();
    char dfv[256], a[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    web_login(s, "adm@a.dk", a, sizeof a);
    static const struct {
        bool owner;
        const char *path;
    } views[] = {
        {true, "/indsigt?type=se&subjekt=" SE_1},
        {true, "/indsigt.csv?type=se&subjekt=" SE_1},
        {true, "/udleveringer?organisation=" CVR_A "&tjeneste=Momsangivelse"},
        {true, "/udleveringer.csv?organisation=" CVR_A "&tjeneste=Momsangivelse"},
        {false, "/udleveringer?tjeneste=Momsangivelse"},
        {false, "/udleveringer.csv?tjeneste=Momsangivelse"},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        struct e2e_response r;
        get(s, views[i].owner ? dfv : a, views[i].path, &r);
        e2e_assert_status(s, &r, 200);
        if (strstr(views[i].path, ".csv"))
            cr_assert(strstr(r.body, "Leverandør (CVR),På vegne af (SE)\r\n") &&
                          strstr(r.body, "," CVR_SUPPLIER "," SE_1 "\r\n"),
                      "%s: %s", views[i].path, r.body);
        else
            cr_assert(strstr(r.body, "via leverandør CVR " CVR_SUPPLIER) &&
                          strstr(r.body, "på vegne af SE " SE_1),
                      "%s: %s", views[i].path, r.body);
        e2e_response_free(&r);
    }
    /* an ordinary fetch names neither */
    struct e2e_response r;
    get(s, dfv, "/indsigt?type=cpr&subjekt=" CPR_2, &r);
    cr_assert(!strstr(r.body, "via leverandør") && !strstr(r.body, "på vegne af"));
    e2e_response_free(&r);
}

/* ---- the recipient's own ---- */

Test(web_disclosure, recipient_admin_sees_its_own_filtered)
{
    const struct e2e_server *s = world();
    char a[256], b[256];
    web_login(s, "adm@a.dk", a, sizeof a);
    web_login(s, "adm@b.dk", b, sizeof b);
    cr_assert_eq(rows_of(s, a, "/udleveringer?antal=100", 200), 3 + N_PAGED);
    cr_assert_eq(rows_of(s, b, "/udleveringer", 200), 1);
    cr_assert_eq(rows_of(s, a, "/udleveringer?tjeneste=Momsangivelse", 200), 1);
    cr_assert_eq(rows_of(s, a, "/udleveringer?udfald=afvist", 200), 1);
    cr_assert_eq(rows_of(s, a, "/udleveringer?fra=01-01-2020&til=31-12-2020", 200), 0);
    cr_assert_eq(rows_of(s, a, "/udleveringer?organisation=" CVR_A "&antal=100", 200), 3 + N_PAGED,
                 "its own CVR is fine");
    cr_assert_eq(rows_of(s, a, "/udleveringer.csv?tjeneste=Forskudsopgoerelse", 200), N_PAGED);
    struct e2e_response r;
    get(s, a, "/udleveringer.csv", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, CVR_A) && !strstr(r.body, CVR_B), "%s", r.body);
    e2e_response_free(&r);
    get(s, a, "/udleveringer", &r);
    cr_assert(!strstr(r.body, "id=\"subjekt\"") && !strstr(r.body, "id=\"organisation\""),
              "no search by subject or organisation for a recipient");
    cr_assert(!strstr(r.body, "href=\"/indsigt\""), "no insight link for a recipient");
    e2e_response_free(&r);
}

/* ---- usage (#21.5) ---- */

Test(web_disclosure, usage_per_day_agreement_and_system_from_the_log)
{
    const struct e2e_server *s = world();
    char a[256], dfv[256];
    web_login(s, "adm@a.dk", a, sizeof a);
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    /* A: 15 calls (one refused) through one agreement and system, 15
     * records, all today; B: one call, one record. */
    struct e2e_response r;
    get(s, a, "/forbrug", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "<td>lon</td><td>15</td><td>15</td><td>1</td>"), "%s", r.body);
    cr_assert(!strstr(r.body, CVR_B), "only its own");
    cr_assert(strstr(r.body, "href=\"/forbrug\""), "in the menu");
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, a, "/forbrug", 200), 1);
    get(s, a, "/forbrug.csv", &r);
    e2e_assert_status(s, &r, 200);
    static const char head[] =
        "Dag,Organisation (CVR),Aftale,System,Kald,Poster,Afviste,For mange kald (429)\r\n";
    cr_assert(strncmp(r.body, head, sizeof head - 1) == 0, "%s", r.body);
    cr_assert(strstr(r.body, "," CVR_A ",") && strstr(r.body, ",lon,15,15,1,0\r\n"), "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, a, "/forbrug?organisation=" CVR_B, 400), 0, "not another's");

    cr_assert_eq(rows_of(s, dfv, "/forbrug", 200), 2, "the data owner sees every recipient");
    get(s, dfv, "/forbrug.csv?organisation=" CVR_B, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "," CVR_B ",") && strstr(r.body, ",1,1,0,0\r\n") &&
                  !strstr(r.body, CVR_A),
              "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(rows_of(s, dfv, "/forbrug?fra=2020-01-01&til=2020-01-02", 200), 0);
    cr_assert_eq(rows_of(s, dfv, "/forbrug?fra=2020-01-01&til=2020-12-31", 400), 0,
                 "at most 31 days");
    cr_assert_eq(rows_of(s, dfv, "/forbrug?fra=i-dag", 400), 0);
    cr_assert_eq(rows_of(s, dfv, "/forbrug?hvem=alle", 400), 0, "an unknown parameter");
}

/* ---- refusals ---- */

Test(web_disclosure, refusals_by_role_even_by_editing_the_url)
{
    const struct e2e_server *s = world();
    char a[256], proc[256], ejer[256];
    web_login(s, "adm@a.dk", a, sizeof a);
    web_login(s, "proc@a.dk", proc, sizeof proc);
    web_login(s, "ejer-adm@skat.dk", ejer, sizeof ejer);
    static const char *const refused_a[] = {
        "/udleveringer?organisation=" CVR_B,
        "/udleveringer.csv?organisation=" CVR_B,
        "/udleveringer?type=cpr&subjekt=" CPR_1,
        "/udleveringer.csv?subjekt=" CPR_1,
        "/udleveringer?type=cpr",
        "/indsigt",
        "/indsigt?type=cpr&subjekt=" CPR_1,
        "/indsigt.csv?type=cpr&subjekt=" CPR_1,
    };
    for (size_t i = 0; i < sizeof refused_a / sizeof refused_a[0]; i++) {
        struct e2e_response r;
        get(s, a, refused_a[i], &r);
        e2e_assert_status(s, &r, 403);
        cr_assert(strstr(r.body, "Ingen adgang"), "%s", refused_a[i]);
        cr_assert(!strstr(r.body, CVR_B) && !strstr(r.body, "<table"), "%s", refused_a[i]);
        e2e_response_free(&r);
    }
    static const char *const pages[] = {"/udleveringer", "/udleveringer.csv", "/indsigt",
                                        "/indsigt.csv?subjekt=" CPR_1};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct e2e_response r;
        get(s, proc, pages[i], &r);
        e2e_assert_status(s, &r, 403); /* a recipient user who is not administrator */
        e2e_response_free(&r);
        get(s, ejer, pages[i], &r);
        e2e_assert_status(s, &r, 403); /* the data owner's administrator is not staff */
        e2e_response_free(&r);
        get(s, NULL, pages[i], &r);
        e2e_assert_status(s, &r, 303); /* no session */
        e2e_response_free(&r);
    }
}

/* ---- invalid input ---- */

struct bad {
    const char *path;
    const char *field; /* the input's id, or "" for a form-wide message */
    const char *message;
};

Test(web_disclosure, invalid_inputs_are_400_with_the_message_at_the_field)
{
    const struct e2e_server *s = world();
    char dfv[256], a[256];
    web_login(s, "dfv@skat.dk", dfv, sizeof dfv);
    web_login(s, "adm@a.dk", a, sizeof a);
    static const struct bad bad[] = {
        {"/udleveringer?type=cpr&subjekt=12345", "subjekt", "CPR-nummeret skal være 10 cifre"},
        {"/udleveringer?type=cpr&subjekt=3213011234", "subjekt", "CPR-nummeret er ikke gyldigt"},
        {"/udleveringer?type=cvr&subjekt=12345678", "subjekt", "CVR-nummeret er ikke gyldigt"},
        {"/udleveringer?type=se&subjekt=01234567", "subjekt", "SE-nummeret er ikke gyldigt"},
        {"/udleveringer?type=xx&subjekt=" CPR_1, "type", "Vælg CPR-nummer, CVR-nummer"},
        {"/udleveringer?organisation=12345678", "organisation", "CVR-nummeret er ikke gyldigt"},
        {"/udleveringer?organisation=1234", "organisation", "CVR-nummeret skal være 8 cifre"},
        {"/udleveringer?aftale=xyz", "aftale", "Aftalens id skal være 32 tegn"},
        {"/udleveringer?tjeneste=Ingen", "tjeneste", "Vælg en tjeneste fra listen."},
        {"/udleveringer?udfald=maaske", "udfald", "Vælg et udfald fra listen."},
        {"/udleveringer?fra=1.3.2026", "fra", "Skriv fra-datoen som dd-mm-åååå"},
        {"/udleveringer?fra=31-02-2026", "fra", "Fra-datoen findes ikke i kalenderen."},
        {"/udleveringer?til=2026-13-01", "til", "Til-datoen findes ikke i kalenderen."},
        {"/udleveringer?fra=10-03-2026&til=01-03-2026", "til", "Til-datoen skal være samme dag"},
        {"/udleveringer?antal=7", "antal", "Vælg et antal rækker fra listen."},
        {"/udleveringer?aftale=0123456789012345678901234567890123456789012345678901234567890123"
         "4",
         "aftale", "Teksten er for lang (højst 64 tegn)."},
        {"/udleveringer?efter=-4", "", "Henvisningen til næste side er ugyldig."},
        {"/udleveringer?hvem=alle", "", "ukendt oplysning (hvem)"},
        {"/udleveringer.csv?type=cpr&subjekt=12345", "subjekt", "CPR-nummeret skal være 10 cifre"},
        {"/indsigt?fra=01-01-2026", "subjekt", "Skriv det CPR-, CVR- eller SE-nummer"},
        {"/indsigt?type=cpr&subjekt=0101", "subjekt", "CPR-nummeret skal være 10 cifre"},
        {"/indsigt?type=cpr&subjekt=" CPR_1 "&organisation=" CVR_A, "", "ukendt oplysning"},
        {"/indsigt.csv", "subjekt", "Skriv det CPR-, CVR- eller SE-nummer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct e2e_response r;
        get(s, dfv, bad[i].path, &r);
        e2e_assert_status(s, &r, 400);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"), "%s", bad[i].path);
        cr_assert(strstr(r.body, "class=\"alert alert-error\""), "summary: %s", bad[i].path);
        cr_assert(strstr(r.body, bad[i].message), "%s: %s", bad[i].path, bad[i].message);
        cr_assert(!strstr(r.body, "<table"), "no results: %s", bad[i].path);
        if (bad[i].field[0]) {
            char at[64];
            snprintf(at, sizeof at, "href=\"#%s\"", bad[i].field);
            cr_assert(strstr(r.body, at), "the summary links to the field: %s", bad[i].path);
            snprintf(at, sizeof at, "id=\"%s-error\"", bad[i].field);
            cr_assert(strstr(r.body, at), "the message at the field: %s", bad[i].path);
        }
        e2e_response_free(&r);
    }
    /* what was typed is kept, escaped */
    struct e2e_response r;
    get(s, dfv, "/udleveringer?type=cpr&subjekt=%3Cb%3E12&fra=1.3.2026", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "value=\"&lt;b&gt;12\""), "%s", r.body);
    cr_assert(strstr(r.body, "value=\"1.3.2026\""));
    cr_assert(!strstr(r.body, "<b>12"));
    e2e_response_free(&r);
    /* a recipient's own filters are checked as well */
    get(s, a, "/udleveringer?organisation=1234", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "CVR-nummeret skal være 8 cifre"));
    cr_assert(!strstr(r.body, "href=\"#organisation\""), "no link to a field the form lacks");
    e2e_response_free(&r);
    get(s, a, "/udleveringer?fra=i%20gaar", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Skriv fra-datoen som dd-mm-åååå"));
    cr_assert(strstr(r.body, "value=\"i gaar\""));
    e2e_response_free(&r);
}
