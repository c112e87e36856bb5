/* End-to-end: the incident JSON API and the public operations log over
 * HTTPS: a web-channel incident with its receipt queued, staff working on
 * it, a phone call, the role refusals, and the RSS feed fetched and parsed
 * by feedparser (tests/tools/parse_feed.py). */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "api_helpers.h"

#define CVR_A "12345674"
#define CVR_B "20000007"
#define OWNER "19552101"

E2E_SHARED_SERVERS({"main", {0}});

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        api_org(s, CVR_A, "first@a.dk", "kontakt@a.dk");
        api_org(s, CVR_B, "first@b.dk", "kontakt@b.dk");
        api_user(s, CVR_A, "mem@a.dk", "aftager-behandler", NULL);
        api_user(s, CVR_B, "mem@b.dk", "aftager-behandler", NULL);
        api_user(s, OWNER, "dfv@skat.dk", "dataforvaltning", NULL);
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

/* The whole output of `dupla ARGS --config ...` into out (cap bytes). */
static int dupla_output(const struct e2e_server *s, const char *const *args, char *out, size_t cap)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n] && n < 12; n++)
        argv[n] = args[n];
    argv[n++] = "--config";
    argv[n++] = s->config;
    argv[n] = NULL;
    char file[E2E_PATH_MAX];
    e2e_path(s, "out.txt", file);
    unlink(file);
    int rc = e2e_run_dupla(argv, file);
    FILE *f = fopen(file, "r");
    size_t got = f ? fread(out, 1, cap - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    return rc;
}

static void incident_path(char *out, size_t cap, const char *id, const char *sub)
{
    snprintf(out, cap, "/api/incidents/%s%s%s", id, sub ? "/" : "", sub ? sub : "");
}

Test(incident_api, web_incident_receipt_and_staff_work)
{
    const struct e2e_server *s = world();
    struct api_session a, b, dfv;
    api_login(s, "mem@a.dk", &a);
    api_login(s, "mem@b.dk", &b);
    api_login(s, "dfv@skat.dk", &dfv);
    struct e2e_response r;
    api_call(s, &a, "POST", "/api/incidents",
             "{\"type\":\"TFE\",\"title\":\"Testdata mangler\","
             "\"description\":\"Ingen årsopgørelser for 2023\"}",
             &r);
    e2e_assert_status(s, &r, 201);
    char id[32], path[128];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
    cr_assert(strncmp(id, "INC-", 4) == 0, "%s", r.body);
    e2e_response_free(&r);
    /* the receipt is queued for the organisation's contact mailbox */
    static char out[1 << 16];
    const char *list[] = {"mail", "list", NULL};
    cr_assert_eq(dupla_output(s, list, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, id) && strstr(out, "kontakt@a.dk") && strstr(out, "receipt"), "%s", out);
    /* own organisation sees it; another does not */
    api_call(s, &a, "GET", "/api/incidents", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, id));
    e2e_response_free(&r);
    api_call(s, &b, "GET", "/api/incidents", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_null(strstr(r.body, id));
    e2e_response_free(&r);
    incident_path(path, sizeof path, id, NULL);
    api_expect(s, &b, "GET", path, NULL, 404);
    api_expect(s, &a, "GET", path, NULL, 200);
    /* messages: the reporter and staff */
    incident_path(path, sizeof path, id, "messages");
    api_expect(s, &a, "POST", path, "{\"text\":\"Også 2022\"}", 200);
    api_expect(s, &b, "POST", path, "{\"text\":\"hej\"}", 404);
    api_expect(s, &dfv, "POST", path, "{\"text\":\"Vi kigger\",\"to_reporter\":true}", 200);
    /* only staff set the status and assign */
    incident_path(path, sizeof path, id, "status");
    api_expect(s, &a, "POST", path, "{\"status\":\"closed\"}", 403);
    api_call(s, &dfv, "POST", path, "{\"status\":\"sleeping\"}", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "status");
    e2e_response_free(&r);
    api_call(s, &dfv, "POST", path, "{\"status\":\"in-progress\",\"note\":\"I gang\"}", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "in-progress", "%s",
                     r.body);
    e2e_response_free(&r);
    incident_path(path, sizeof path, id, "assign");
    api_expect(s, &a, "POST", path, "{\"assignee\":\"dfv@skat.dk\"}", 403);
    api_expect(s, &dfv, "POST", path, "{\"assignee\":\"dfv@skat.dk\"}", 200);
    /* staff see every organisation's */
    api_call(s, &dfv, "GET", "/api/incidents?org=" CVR_A, NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, id));
    e2e_response_free(&r);
    api_expect(s, &a, "GET", "/api/incidents?org=" CVR_B, NULL, 403);
    /* no session, no CSRF */
    api_expect(s, NULL, "GET", "/api/incidents", NULL, 401);
    const char *h[] = {"Content-Type: application/json", a.cookie, NULL};
    struct e2e_request rq = {.method = "POST",
                             .path = "/api/incidents",
                             .body = "{\"type\":\"TFE\",\"description\":\"x\"}",
                             .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

Test(incident_api, phone_call_by_staff_only)
{
    const struct e2e_server *s = world();
    struct api_session a, dfv;
    api_login(s, "mem@a.dk", &a);
    api_login(s, "dfv@skat.dk", &dfv);
    const char *call = "{\"org\":\"" CVR_A "\",\"caller\":\"Per Hansen\",\"type\":\"Prod-Data\","
                       "\"description\":\"Forkerte beløb\"}";
    api_expect(s, &a, "POST", "/api/incidents/phone", call, 403);
    struct e2e_response r;
    api_call(s, &dfv, "POST", "/api/incidents/phone", call, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "channel")), "phone", "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "POST", "/api/incidents/phone",
             "{\"org\":\"" CVR_A
             "\",\"caller\":\"P\",\"type\":\"Prod-Date\",\"description\":\"x\"}",
             &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "type");
    e2e_response_free(&r);
    /* a member's report with a bad type names the member */
    api_call(s, &a, "POST", "/api/incidents", "{\"type\":\"nope\",\"description\":\"x\"}", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "type");
    e2e_response_free(&r);
}

Test(incident_api, operations_log_and_rss)
{
    const struct e2e_server *s = world();
    struct api_session a, dfv;
    api_login(s, "mem@a.dk", &a);
    api_login(s, "dfv@skat.dk", &dfv);
    const char *drift = "{\"kind\":\"drift\",\"title\":\"Langsomme svar\","
                        "\"text\":\"Vi undersøger\",\"start\":\"2026-01-05T10:00:00Z\"}";
    api_expect(s, &a, "POST", "/api/opslog", drift, 403);
    api_expect(s, NULL, "POST", "/api/opslog", drift, 401);
    struct e2e_response r;
    api_call(s, &dfv, "POST", "/api/opslog", drift, &r);
    e2e_assert_status(s, &r, 201);
    char path[64];
    snprintf(path, sizeof path, "/api/opslog/%lld",
             (long long)json_integer_value(json_object_get(r.json, "id")));
    e2e_response_free(&r);
    api_expect(s, &dfv, "POST", path, "{\"status\":\"resolved\",\"text\":\"Løst\"}", 200);
    api_expect(s, &a, "POST", path, "{\"text\":\"x\"}", 403);
    api_call(s, &dfv, "POST", "/api/opslog",
             "{\"kind\":\"information\",\"title\":\"Ny version\",\"start\":\"someday\"}", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "start");
    e2e_response_free(&r);
    api_expect(s, &dfv, "POST", "/api/opslog",
               "{\"kind\":\"information\",\"title\":\"Ny version <1.2>\","
               "\"start\":1767261600000}",
               201);
    /* the public page and feed, without a session */
    cr_assert_eq(e2e_get(s, "api", "/driftsstatus", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"));
    cr_assert(strstr(r.body, "Langsomme svar"));
    cr_assert_null(strstr(r.body, "<1.2>"), "escaped");
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/driftsstatus.rss", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/rss+xml"));
    char file[E2E_PATH_MAX], parsed[E2E_PATH_MAX], cmd[3 * E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "feed.rss", file), "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    e2e_response_free(&r);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tools/parse_feed.py %s 2 > %s",
             getenv("DUPLA_SOURCE_ROOT"), file, e2e_path(s, "parsed.json", parsed));
    cr_assert_eq(system(cmd), 0, "feedparser refused the feed");
    cr_assert_eq(e2e_get(s, "api", "/api/opslog", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "entries")), 2, "%s", r.body);
    e2e_response_free(&r);
}
