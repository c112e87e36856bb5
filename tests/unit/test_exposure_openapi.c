/* The OpenAPI document and the catalogue pages, generated from the real
 * catalogue: valid OpenAPI 3.1 according to an independent validator
 * (@seriousme/openapi-schema-validator, installed by scripts/install-deps.sh
 * into tests/tools/node_modules), complete, and escaped. */
#include <criterion/criterion.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "testdata/routes.h"

static catalog_t *cat;

static void load(void)
{
    cat = fx_catalog();
}

static void unload(void)
{
    catalog_free(cat);
}

TestSuite(openapi, .init = load, .fini = unload, .timeout = 60);

static json_t *doc(void)
{
    struct catalog_openapi_options o = {"/", "/token", "test", NULL};
    json_t *d = catalog_openapi(cat, &o);
    cr_assert_not_null(d);
    /* as a test deployment serves it: with the test-data API */
    cr_assert_eq(testdata_openapi(d), 0);
    return d;
}

Test(openapi, the_validator_accepts_the_document)
{
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    char cli[1024], file[64] = "/tmp/dupla-openapi-XXXXXX.json";
    snprintf(
        cli, sizeof cli,
        "%s/tests/tools/node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js",
        root ? root : ".");
    cr_assert_eq(access(cli, R_OK), 0,
                 "the OpenAPI validator is not installed: run scripts/install-deps.sh (npm "
                 "install in tests/tools)");
    int fd = mkstemps(file, 5);
    cr_assert_geq(fd, 0);
    close(fd);
    json_t *d = doc();
    cr_assert_eq(json_dump_file(d, file, JSON_INDENT(1)), 0);
    json_decref(d);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "node %s %s > %s.out 2>&1", cli, file, file);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "head -c 3000 %s.out >&2", file);
        (void)system(cmd);
    }
    cr_assert_eq(rc, 0, "the validator refuses the document (%s)", file);
    snprintf(cmd, sizeof cmd, "rm -f %s %s.out", file, file);
    (void)system(cmd);
}

Test(openapi, every_service_parameter_and_field_is_described)
{
    json_t *d = doc();
    json_t *paths = json_object_get(d, "paths");
    json_t *schemas = json_object_get(json_object_get(d, "components"), "schemas");
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *s = catalog_service_at(cat, i);
        char p[128];
        snprintf(p, sizeof p, "/%s", s->path);
        json_t *get = json_object_get(json_object_get(paths, p), "get");
        cr_assert_not_null(get, "%s", p);
        json_t *params = json_object_get(get, "parameters");
        for (size_t k = 0; k < s->n_params; k++) {
            bool found = false;
            size_t j;
            json_t *v;
            json_array_foreach(params, j, v)
            {
                const char *n = json_string_value(json_object_get(v, "name"));
                if (n && strcmp(n, s->params[k].name) == 0) {
                    found = true;
                    cr_assert(strstr(json_string_value(json_object_get(v, "description")),
                                     s->params[k].description.en));
                }
            }
            cr_assert(found, "%s: parameter %s", p, s->params[k].name);
        }
        /* every answer names its disclosure log entry (the receipt's number) */
        json_t *h = json_object_get(
            json_object_get(json_object_get(json_object_get(get, "responses"), "200"), "headers"),
            "X-Dupla-Udlevering");
        cr_assert_str_eq(json_string_value(json_object_get(h, "$ref")),
                         "#/components/headers/XDuplaUdlevering", "%s", p);
        char sn[128];
        /* the component's name: the path with '_' for '/' */
        snprintf(sn, sizeof sn, "%sRecord", s->path);
        for (char *c = sn; *c; c++)
            *c = *c == '/' ? '_' : *c;
        json_t *props = json_object_get(json_object_get(schemas, sn), "properties");
        cr_assert_eq(json_object_size(props), s->n_fields);
        for (size_t k = 0; k < s->n_fields; k++) {
            json_t *f = json_object_get(props, s->fields[k].name);
            cr_assert_not_null(f, "%s.%s", s->path, s->fields[k].name);
            const char *desc = json_string_value(json_object_get(f, "description"));
            cr_assert(strstr(desc, s->fields[k].description.da) &&
                      strstr(desc, s->fields[k].description.en));
        }
    }
    cr_assert_not_null(json_object_get(paths, "/L%C3%B8nsumsangivelser"), "the Danish alias");
    json_t *comp = json_object_get(d, "components");
    const char *udl = json_string_value(json_object_get(
        json_object_get(json_object_get(comp, "headers"), "XDuplaUdlevering"), "description"));
    cr_assert(udl && strstr(udl, "/api/receipts/"), "X-Dupla-Udlevering names the receipt");
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(comp, "parameters"), "XDuplaSagsreference"), "name")),
        "X-Dupla-Sagsreference");
    json_t *sec = json_object_get(json_object_get(d, "components"), "securitySchemes");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sec, "bearer"), "scheme")),
                     "bearer");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(sec, "systemCertificate"), "type")),
        "mutualTLS");
    cr_assert_not_null(json_object_get(json_object_get(sec, "tokenEndpoint"), "flows"));
    json_decref(d);
}

Test(openapi, the_pages_escape_and_carry_both_languages)
{
    buf_t out;
    buf_init(&out, 8u << 20);
    cr_assert_eq(catalog_pages_html(cat, &out), 0);
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *s = catalog_service_at(cat, i);
        cr_assert(strstr(out.data, s->title.en), "%s", s->title.en);
    }
    cr_assert(strstr(out.data, "Lønsumsangivelser"));
    cr_assert_null(strstr(out.data, "<script"));
    buf_free(&out);
}
