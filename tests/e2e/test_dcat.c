/*
 * End-to-end: the service catalogue as open data (DCAT-AP-DK) at
 * GET /servicekatalog.jsonld and /servicekatalog.ttl, read by rdflib
 * (tests/tools/check_dcat.py) as a harvester would: the same graph in both,
 * a dcat:Catalog with every service of the loaded catalogue as a
 * dcat:DataService.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PUBLIC_URL "https://api.dupla.example"

E2E_SHARED_SERVERS({"main", {0}},
                   {"public",
                    {.config_json = "{\"exposure\": {\"public_url\": \"" PUBLIC_URL "\", "
                                    "\"publisher\": \"Testforvaltningen\"}}"}});

/* Fetches path into <server dir>/file; the response stays in *r. */
static void fetch(const struct e2e_server *s, const char *path, const char *file,
                  struct e2e_response *r, char out[E2E_PATH_MAX])
{
    cr_assert_eq(e2e_get(s, "api", path, r), 0);
    e2e_assert_status(s, r, 200);
    FILE *f = fopen(e2e_path(s, file, out), "w");
    cr_assert_not_null(f);
    fwrite(r->body, 1, r->body_len, f);
    fclose(f);
}

/* Runs check_dcat.py over both documents of s with base; its exit status. */
static int check(const struct e2e_server *s, const char *base)
{
    struct e2e_response r;
    char ld[E2E_PATH_MAX], ttl[E2E_PATH_MAX], out[E2E_PATH_MAX];
    fetch(s, "/servicekatalog.jsonld", "dcat.jsonld", &r, ld);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/ld+json"));
    e2e_response_free(&r);
    fetch(s, "/servicekatalog.ttl", "dcat.ttl", &r, ttl);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/turtle"));
    e2e_response_free(&r);
    /* Every service the loaded catalogue has. */
    cr_assert_eq(e2e_get(s, "api", "/servicekatalog.json", &r), 0);
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tools/check_dcat.py %s %s %s",
                     getenv("DUPLA_SOURCE_ROOT"), ld, ttl, base);
    size_t i;
    json_t *svc;
    json_array_foreach(json_object_get(r.json, "services"), i, svc) n += snprintf(
        cmd + n, sizeof cmd - (size_t)n, " %s", json_string_value(json_object_get(svc, "path")));
    cr_assert_gt(i, 0, "the catalogue has services");
    e2e_response_free(&r);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " > %s 2>&1", e2e_path(s, "dcat.out", out));
    int rc = system(cmd);
    if (rc != 0) { /* what rdflib said, for the failure's message */
        FILE *f = fopen(out, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fprintf(stderr, "check_dcat: %s", line);
        if (f)
            fclose(f);
    }
    return rc;
}

Test(dcat, the_catalogue_parses_as_dcat_with_every_service)
{
    const struct e2e_server *s = e2e_shared("public");
    cr_assert_eq(check(s, PUBLIC_URL), 0, "rdflib refused it (above)");
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/servicekatalog.ttl", &r), 0);
    cr_assert(strstr(r.body, "foaf:name \"Testforvaltningen\"@da"), "the configured publisher");
    cr_assert(strstr(r.body, "<" PUBLIC_URL "/Aarsopgoerelse>"), "absolute endpoint URLs");
    cr_assert(strstr(r.body, "\"Årsopgørelse\"@da"), "UTF-8 as it is: %.400s", r.body);
    e2e_response_free(&r);
}

Test(dcat, without_a_public_url_the_iris_follow_the_host)
{
    const struct e2e_server *s = e2e_shared("main");
    char base[64];
    snprintf(base, sizeof base, "https://localhost:%u", e2e_port(s, "api"));
    cr_assert_eq(check(s, base), 0, "rdflib refused it (above)");
    /* A Host that is not a plain host[:port] never reaches the graph. */
    const char *h[] = {"Host: evil\"> <x", NULL};
    struct e2e_request rq = {.listener = "api", .path = "/servicekatalog.ttl", .headers = h};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    if (r.status == 200)
        cr_assert(!strstr(r.body, "evil") && strstr(r.body, "<https://localhost/"), "%.300s",
                  r.body);
    e2e_response_free(&r);
}
