/*
 * fuzz_json_body.c: JSON request bodies as every module's API reads them
 * (http/json_body.c: http_req_json_params, a jansson parse with duplicate
 * keys refused, then the members checked against a declared table, as in
 * http/params.c) and the string accessor. The first byte says whether an
 * empty body is allowed. Properties: an accepted body is an object whose
 * declared members have their declared types, and no undeclared member;
 * a refusal names what it refuses (param "body" or the member).
 */
#include <string.h>

#include "core/arena.h"
#include "fuzz.h"
#include "http/internal.h"

#define FUZZ_JSON_ARENA (1u << 20)

static const char *const kinds[] = {"recipient", "supplier", NULL};
static const struct http_param params[] = {
    {.name = "name", .type = HTTP_PARAM_STRING, .required = true, .min = 1, .max = 200},
    {.name = "kind", .type = HTTP_PARAM_ENUM, .values = kinds},
    {.name = "days", .type = HTTP_PARAM_INT, .min = 1, .max = 365},
    {.name = "active", .type = HTTP_PARAM_BOOL},
    {.name = "from", .type = HTTP_PARAM_TIME},
    {.name = "fields", .type = HTTP_PARAM_ARRAY},
    {.name = "extra", .type = HTTP_PARAM_OBJECT},
    {0},
};

static bool declared(const char *key)
{
    for (size_t i = 0; params[i].name; i++)
        if (strcmp(params[i].name, key) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    http_request_t req;
    memset(&req, 0, sizeof req);
    /* The body as the server holds it: an exact-size buffer. */
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body)
        abort();
    memcpy(body, data + 1, size - 1);
    req.body.data = body;
    req.body.len = size - 1;
    req.body.cap = size - 1;
    req.body.max = size - 1;
    json_t *obj = NULL;
    err_t err;
    err_clear(&err);
    int rc = http_req_json_params(&req, data[0] & 1, params, &obj, &err);
    if (rc == 0) {
        FUZZ_CHECK(json_is_object(obj));
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) FUZZ_CHECK(declared(key));
        const char *name = NULL;
        err_t e2;
        err_clear(&e2);
        if (http_json_string(obj, "name", true, &name, &e2) == 0) {
            FUZZ_CHECK(name != NULL);
            FUZZ_CHECK(strlen(name) >= 1 && strlen(name) <= 200);
        }
        json_t *days = json_object_get(obj, "days");
        if (days && !json_is_null(days))
            FUZZ_CHECK(json_is_integer(days) && json_integer_value(days) >= 1 &&
                       json_integer_value(days) <= 365);
        json_decref(obj);
    } else {
        FUZZ_CHECK(obj == NULL);
        FUZZ_CHECK(err.code != 0 && err.param[0] != '\0');
    }
    free(body);
    return 0;
}
