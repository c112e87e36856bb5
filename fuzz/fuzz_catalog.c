/*
 * fuzz_catalog.c: the service catalogue loader (catalog/load.c:
 * catalog_load_string, the parse catalog_load_dir makes of each file),
 * then what the server builds from a catalogue: the OpenAPI document and
 * the DCAT description. Operator input, read at start and on reload.
 * Properties: a refusal carries a message; a loaded catalogue's services
 * have a path, each is found by it, and every document is made.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(fuzz_str(data, size));
    catalog_t *cat = NULL;
    err_t err;
    err_clear(&err);
    int rc = catalog_load_string("fuzz.json", text, &cat, &err);
    if (rc != 0) {
        FUZZ_CHECK(cat == NULL && (err.log[0] != '\0' || err.detail[0] != '\0'));
    } else {
        size_t n = catalog_count(cat);
        for (size_t i = 0; i < n; i++) {
            const struct catalog_service *s = catalog_service_at(cat, i);
            FUZZ_CHECK(s->path && s->path[0] != '\0');
            FUZZ_CHECK(catalog_find(cat, str_from_cstr(s->path)) != NULL);
        }
        struct catalog_openapi_options oo = {
            .server_url = "https://dupla.invalid", .token_url = "/token", .environment = "test"};
        json_t *oa = catalog_openapi(cat, &oo);
        FUZZ_CHECK(oa != NULL);
        json_decref(oa);
        json_t *cj = catalog_to_json(cat);
        json_decref(cj);
        struct catalog_dcat_options dc = {.base_url = "https://dupla.invalid",
                                          .publisher = "Skatteforvaltningen"};
        buf_t b;
        buf_init(&b, 64u << 20);
        FUZZ_CHECK(catalog_dcat(cat, &dc, CATALOG_DCAT_JSONLD, &b) == 0);
        buf_reset(&b);
        FUZZ_CHECK(catalog_dcat(cat, &dc, CATALOG_DCAT_TURTLE, &b) == 0);
        buf_reset(&b);
        FUZZ_CHECK(catalog_pages_html(cat, &b) == 0);
        buf_free(&b);
        catalog_free(cat);
    }
    free(text);
    return 0;
}
