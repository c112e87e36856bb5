/* End-to-end: the disclosure log's API over HTTPS. An agreement is made
 * through the agreement API; entries are then recorded through the audit
 * module from this process (the server records none in these tests, so the
 * chain stays one), and the three views are asked: the data owner's
 * search, a recipient administrator's own disclosures and a citizen's
 * insight (with the agreement's purpose and legal basis), paged, JSON and
 * CSV, with every role refusal. */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "api_helpers.h"
#include "audit/audit.h"
#include "core/config.h"
#include "store/store.h"

#define CVR_A   "12345674"
#define CVR_B   "20000007"
#define OWNER   "19552101"
#define CPR_1   "0101010101"
#define CPR_2   "0202020202"
#define SE_1    "12345678"
#define PURPOSE "Kontrol af indkomstoplysninger"

E2E_SHARED_SERVERS({"main", {0}});

/* Four entries: two disclosures to A under its agreement, one to B, one
 * refusal to A. */
static void record_entries(const struct e2e_server *s, const char *agreement)
{
    struct api_audit log;
    api_audit_open(s, &log);
    struct audit_subject two[] = {{AUDIT_SUBJECT_CPR, STR(CPR_1)}, {AUDIT_SUBJECT_CPR, STR(CPR_2)}};
    struct audit_subject se[] = {{AUDIT_SUBJECT_SE, STR(SE_1)}};
    struct audit_subject one[] = {{AUDIT_SUBJECT_CPR, STR(CPR_1)}};
    api_audit_record(&log, CVR_A, agreement, "Aarsopgoerelse", two, 2, AUDIT_DISCLOSED, "");
    api_audit_record(&log, CVR_A, agreement, "Momsangivelse", se, 1, AUDIT_DISCLOSED, "");
    api_audit_record(&log, CVR_B, "00000000000000000000000000000000", "Aarsopgoerelse", one, 1,
                     AUDIT_DISCLOSED, "");
    api_audit_record(&log, CVR_A, agreement, "Aarsopgoerelse", one, 1, AUDIT_REFUSED,
                     "field-not-granted");
    api_audit_close(&log);
}

/* An approved agreement of A, through the API; its id into id. */
static void agreement(const struct e2e_server *s, char *id)
{
    api_approved_agreement(s, "proc@a.dk", "sign@a.dk", "dfv@skat.dk", PURPOSE, id);
}

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
        char id[33];
        agreement(s, id);
        record_entries(s, id);
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

static size_t rows(const struct e2e_response *r)
{
    return json_array_size(json_object_get(r->json, "data"));
}

Test(audit_api, data_owner_search_paged)
{
    const struct e2e_server *s = world();
    struct api_session dfv;
    api_login(s, "dfv@skat.dk", &dfv);
    struct e2e_response r;
    api_call(s, &dfv, "GET", "/api/disclosures", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(rows(&r), 4, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures?org=" CVR_A, NULL, &r);
    cr_assert_eq(rows(&r), 3, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures?subject=" CPR_1 "&outcome=refused", NULL, &r);
    cr_assert_eq(rows(&r), 1, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures?service=Momsangivelse&from=2020-01-01", NULL, &r);
    cr_assert_eq(rows(&r), 1, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures?to=2020-01-01", NULL, &r);
    cr_assert_eq(rows(&r), 0, "%s", r.body);
    e2e_response_free(&r);
    /* keyset pages */
    api_call(s, &dfv, "GET", "/api/disclosures?limit=3", NULL, &r);
    cr_assert_eq(rows(&r), 3, "%s", r.body);
    json_int_t next = json_integer_value(json_object_get(r.json, "next"));
    cr_assert_gt(next, 0, "%s", r.body);
    e2e_response_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/disclosures?limit=3&after=%lld", (long long)next);
    api_call(s, &dfv, "GET", path, NULL, &r);
    cr_assert_eq(rows(&r), 1, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "next")), "%s", r.body);
    e2e_response_free(&r);
    /* CSV by parameter and by Accept */
    api_call(s, &dfv, "GET", "/api/disclosures?format=csv", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/csv"));
    cr_assert(strncmp(r.body, "seq,", 4) == 0, "%s", r.body);
    e2e_response_free(&r);
    const char *h[] = {dfv.cookie, "Accept: text/csv", NULL};
    struct e2e_request rq = {.path = "/api/disclosures", .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/csv"));
    e2e_response_free(&r);
    /* bad parameters are named */
    api_call(s, &dfv, "GET", "/api/disclosures?limit=0", NULL, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "limit");
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures?from=yesterday", NULL, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "from");
    e2e_response_free(&r);
}

Test(audit_api, recipient_sees_its_own)
{
    const struct e2e_server *s = world();
    struct api_session a, b, proc;
    api_login(s, "adm@a.dk", &a);
    api_login(s, "adm@b.dk", &b);
    api_login(s, "proc@a.dk", &proc);
    struct e2e_response r;
    api_call(s, &a, "GET", "/api/disclosures/own", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(rows(&r), 3, "%s", r.body);
    json_t *row;
    size_t i;
    json_array_foreach(json_object_get(r.json, "data"), i, row)
        cr_assert_str_eq(json_string_value(json_object_get(row, "organisation")), CVR_A);
    e2e_response_free(&r);
    api_call(s, &b, "GET", "/api/disclosures/own", NULL, &r);
    cr_assert_eq(rows(&r), 1, "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &a, "GET", "/api/disclosures/own?service=Momsangivelse", NULL, &r);
    cr_assert_eq(rows(&r), 1, "%s", r.body);
    e2e_response_free(&r);
    /* another organisation cannot be named; a processor is not an administrator */
    api_expect(s, &a, "GET", "/api/disclosures/own?org=" CVR_B, NULL, 400);
    api_expect(s, &proc, "GET", "/api/disclosures/own", NULL, 403);
    api_expect(s, &a, "GET", "/api/disclosures", NULL, 403);
    api_expect(s, &a, "GET", "/api/disclosures/subject?subject=" CPR_1, NULL, 403);
    api_expect(s, NULL, "GET", "/api/disclosures/own", NULL, 401);
}

Test(audit_api, citizen_insight)
{
    const struct e2e_server *s = world();
    struct api_session dfv;
    api_login(s, "dfv@skat.dk", &dfv);
    struct e2e_response r;
    api_call(s, &dfv, "GET", "/api/disclosures/subject?subject=" CPR_1 "&subject_kind=cpr", NULL,
             &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(rows(&r), 2, "disclosures only: %s", r.body);
    cr_assert_null(strstr(r.body, CPR_2), "other subjects are not shown");
    bool found = false;
    json_t *row;
    size_t i;
    json_array_foreach(json_object_get(r.json, "data"), i, row)
    {
        json_t *ag = json_object_get(row, "agreement");
        const char *p = json_string_value(json_object_get(ag, "purpose"));
        if (p && strcmp(p, PURPOSE) == 0) {
            found = true;
            cr_assert(strstr(json_string_value(json_object_get(ag, "legal_basis")),
                             "Skatteforvaltningsloven"));
            cr_assert_str_eq(json_string_value(json_array_get(json_object_get(row, "fields"), 0)),
                             "PersonligIndkomst");
        }
    }
    cr_assert(found, "purpose and legal basis: %s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures/subject?subject=" CPR_1 "&format=csv", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, PURPOSE), "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures/subject", NULL, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "subject");
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/disclosures/subject?subject=" CPR_1 "&org=" CVR_A, NULL, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "org");
    e2e_response_free(&r);
}
