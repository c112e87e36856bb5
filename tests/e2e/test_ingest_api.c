/* End-to-end: POST /ingest/<service> over mutual TLS: a registered source
 * system delivers (and re-delivers, changing nothing), a recipient system
 * and a client without a certificate are refused, a bad line is refused
 * naming its line and field, and the environment rule holds. */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "api_helpers.h"

#define CVR_A "12345674"
#define OWNER "19552101"

E2E_SHARED_SERVERS({"main", {.config_json = "{\"identity\": {\"registry_poll_ms\": 50}}"}});

#define HEADER "{\"delivery\":{\"synthetic\":true}}\n"
#define REC1                                                                                          \
    "{\"PersonCPRNummer\":\"6601760061\",\"IndkomstÅr\":2023,\"ÅrsopgørelseDato\":\"2024-03-23\"," \
    "\"PersonligIndkomst\":153827864,\"LønIndkomst\":167204200,\"OverførselsIndkomst\":0,"          \
    "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":266600,\"LigningsmæssigeFradrag\":5087300,"      \
    "\"Beskæftigelsesfradrag\":4560000,\"SkattepligtigIndkomst\":149007164,\"AktieIndkomst\":0,"     \
    "\"AMBidrag\":13376336,\"Bundskat\":18049701,\"Topskat\":13978002,\"Kommuneskat\":36917034,"      \
    "\"Kirkeskat\":1413230,\"AktieIndkomstSkat\":0,\"SkatIAlt\":83734303,"                            \
    "\"IndeholdtSkat\":88653781,\"Restskat\":0,\"OverskydendeSkat\":4919478,"                         \
    "\"KommuneKode\":\"851\",\"Kirkeskattepligtig\":true}\n"
#define REC2                                                                                          \
    "{\"PersonCPRNummer\":\"7109970066\",\"IndkomstÅr\":2023,\"ÅrsopgørelseDato\":\"2024-03-16\"," \
    "\"PersonligIndkomst\":45428036,\"LønIndkomst\":49378300,\"OverførselsIndkomst\":0,"            \
    "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":-5575700,\"LigningsmæssigeFradrag\":4560000,"    \
    "\"Beskæftigelsesfradrag\":4560000,\"SkattepligtigIndkomst\":35292336,"                          \
    "\"AktieIndkomst\":3981800,\"AMBidrag\":3950264,\"Bundskat\":4911930,\"Topskat\":0,"              \
    "\"Kommuneskat\":7745053,\"Kirkeskat\":237840,\"AktieIndkomstSkat\":1075086,"                     \
    "\"SkatIAlt\":17920173,\"IndeholdtSkat\":19540192,\"Restskat\":0,"                                \
    "\"OverskydendeSkat\":1620019,\"KommuneKode\":\"561\",\"Kirkeskattepligtig\":true}\n"

static void deliver(const struct e2e_server *s, const char *system, const char *path,
                    const char *body, struct e2e_response *r);

/* Waits (bounded) until the server's identity registry knows system's
 * certificate: a delivery to a service that does not exist answers want. */
static void wait_registered(const struct e2e_server *s, const char *system, long want)
{
    long status = 0;
    for (int i = 0; i < 200 && status != want; i++) {
        struct e2e_response r;
        deliver(s, system, "/ingest/-", "", &r);
        status = r.status;
        e2e_response_free(&r);
        if (status != want)
            usleep(50 * 1000);
    }
    cr_assert_eq(status, want, "%s: the server did not pick up the registration", system);
}

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX], pem[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        cr_assert_eq(e2e_issue_system(s, "skat", OWNER, NULL), 0);
        const char *src[] = {"source", "register", "--name",
                             "skat",   "--cert",   e2e_pki_path(s, "skat.pem", pem),
                             NULL};
        api_must(s, src);
        api_org(s, CVR_A, "first@a.dk", "k@a.dk");
        cr_assert_eq(e2e_issue_system(s, "lon", CVR_A, NULL), 0);
        char pem2[E2E_PATH_MAX];
        const char *sys[] = {"system", "register", "--org",  CVR_A,
                             "--name", "lon",      "--cert", e2e_pki_path(s, "lon.pem", pem2),
                             NULL};
        api_must(s, sys);
        wait_registered(s, "skat", 404); /* known: refused only for the service */
        wait_registered(s, "lon", 403);  /* known, but not a source system */
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

/* POSTs body to path on the token listener with system's certificate
 * (NULL: none). */
static void deliver(const struct e2e_server *s, const char *system, const char *path,
                    const char *body, struct e2e_response *r)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], f1[64], f2[64];
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = path,
                             .body = body,
                             .headers =
                                 (const char *const[]){"Content-Type: application/x-ndjson", NULL}};
    if (system) {
        snprintf(f1, sizeof f1, "%s.pem", system);
        snprintf(f2, sizeof f2, "%s.key", system);
        rq.cert_file = e2e_pki_path(s, f1, pem);
        rq.key_file = e2e_pki_path(s, f2, key);
    }
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
}

static json_int_t num(const struct e2e_response *r, const char *key)
{
    return json_integer_value(json_object_get(r->json, key));
}

Test(ingest_api, source_delivers_once)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    deliver(s, "skat", "/ingest/Aarsopgoerelse?delivery_id=first", HEADER REC1 REC2, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "accepted");
    cr_assert_eq(num(&r, "new_versions"), 2, "%s", r.body);
    e2e_response_free(&r);
    /* the same delivery again: nothing changes */
    deliver(s, "skat", "/ingest/Aarsopgoerelse?delivery_id=first", HEADER REC1 REC2, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "already-delivered");
    e2e_response_free(&r);
    /* the same records under another id: unchanged, no new versions */
    deliver(s, "skat", "/ingest/%C3%85rsopg%C3%B8relse?delivery_id=second", HEADER REC1 REC2, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_eq(num(&r, "new_versions"), 0, "%s", r.body);
    cr_assert_eq(num(&r, "unchanged"), 2, "%s", r.body);
    e2e_response_free(&r);
    /* the id reused for other content */
    deliver(s, "skat", "/ingest/Aarsopgoerelse?delivery_id=first", HEADER REC1, &r);
    e2e_assert_status(s, &r, 409);
    e2e_response_free(&r);
}

Test(ingest_api, bad_line_is_named)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    const char *bad = HEADER REC1 "{\"PersonCPRNummer\":\"12345\",\"IndkomstÅr\":2023}\n";
    deliver(s, "skat", "/ingest/Aarsopgoerelse", bad, &r);
    e2e_assert_status(s, &r, 422);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    json_t *p = json_array_get(json_object_get(r.json, "problems"), 0);
    cr_assert_not_null(p, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(p, "line")), 3, "%s", r.body);
    e2e_response_free(&r);
    deliver(s, "skat", "/ingest/Aarsopgoerelse", HEADER "{not json\n", &r);
    e2e_assert_status(s, &r, 422);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(r.json, "problems"), 0), "line")),
                 2, "%s", r.body);
    e2e_response_free(&r);
}

Test(ingest_api, refusals)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    /* a recipient system's certificate */
    deliver(s, "lon", "/ingest/Aarsopgoerelse", HEADER REC1, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    /* no certificate */
    deliver(s, NULL, "/ingest/Aarsopgoerelse", HEADER REC1, &r);
    e2e_assert_status(s, &r, 401);
    e2e_response_free(&r);
    /* an unknown service */
    deliver(s, "skat", "/ingest/Nope", HEADER REC1, &r);
    e2e_assert_status(s, &r, 404);
    cr_assert_str_eq(api_problem_param(&r), "service");
    e2e_response_free(&r);
    /* the test environment takes only synthetic data */
    deliver(s, "skat", "/ingest/Aarsopgoerelse", REC1, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    deliver(s, "skat", "/ingest/Aarsopgoerelse?synthetic=maybe", HEADER REC1, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "synthetic");
    e2e_response_free(&r);
}
