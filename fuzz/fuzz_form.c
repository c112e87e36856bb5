/*
 * fuzz_form.c: application/x-www-form-urlencoded bodies (http/form.c), the
 * one form reader of the pages' posts, then the fields checked against a
 * declared table (http/params.c: http_form_check). The first byte picks
 * the rules (unique names or not, the multi-line field). Properties: the
 * count never passes max_fields; every name is non-empty; names and values
 * are valid UTF-8 without NUL or control bytes, tab, CR and LF only in the
 * listed multi-line field; with unique, no name occurs twice.
 */
#include <string.h>

#include "core/arena.h"
#include "fuzz.h"
#include "http/http.h"

#define FUZZ_FORM_ARENA  (4u << 20)
#define FUZZ_FORM_FIELDS 32

static const char *const multi_line[] = {"description", NULL};
static const char *const roles[] = {"admin", "member", NULL};
static const struct http_param params[] = {
    {.name = "csrf", .type = HTTP_PARAM_STRING, .required = true, .min = 1, .max = 64},
    {.name = "description", .type = HTTP_PARAM_STRING, .max = 4000},
    {.name = "role", .type = HTTP_PARAM_ENUM, .values = roles},
    {.name = "days", .type = HTTP_PARAM_INT, .min = 1, .max = 365},
    {.name = "active", .type = HTTP_PARAM_BOOL},
    {.name = "field", .type = HTTP_PARAM_STRING, .repeat = true},
    {.name = "from", .type = HTTP_PARAM_TIME},
    {0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct http_form_rules rules = {
        .max_fields = FUZZ_FORM_FIELDS,
        .unique = data[0] & 1,
        .lines = (data[0] & 2) ? multi_line : NULL,
    };
    arena_t *a = arena_new(FUZZ_FORM_ARENA);
    if (!a)
        abort();
    struct http_form f;
    err_t err;
    err_clear(&err);
    int rc = http_form_read(a, fuzz_str(data + 1, size - 1), &rules, &f, &err);
    if (rc == 0) {
        FUZZ_CHECK(f.n <= FUZZ_FORM_FIELDS);
        for (size_t i = 0; i < f.n; i++) {
            FUZZ_CHECK(f.names[i].len > 0);
            FUZZ_CHECK(fuzz_utf8_valid(f.names[i]) && fuzz_utf8_valid(f.values[i]));
            bool lines = rules.lines && str_eq_cstr(f.names[i], "description");
            for (size_t k = 0; k < f.names[i].len; k++)
                FUZZ_CHECK((unsigned char)f.names[i].ptr[k] >= 0x20 && f.names[i].ptr[k] != 0x7f);
            for (size_t k = 0; k < f.values[i].len; k++) {
                unsigned char c = (unsigned char)f.values[i].ptr[k];
                FUZZ_CHECK(c != 0 && c != 0x7f);
                FUZZ_CHECK(c >= 0x20 || (lines && (c == '\t' || c == '\r' || c == '\n')));
            }
            if (rules.unique)
                for (size_t j = 0; j < i; j++)
                    FUZZ_CHECK(!str_eq(f.names[i], f.names[j]));
        }
        str_t v;
        if (http_form_get(&f, "csrf", &v))
            FUZZ_CHECK(v.ptr != NULL);
        err_clear(&err);
        if (http_form_check(&f, params, &err) != 0)
            FUZZ_CHECK(err.code != 0 && err.detail[0] != '\0');
    } else {
        FUZZ_CHECK(err.code != 0 && err.detail[0] != '\0');
    }
    arena_free(a);
    return 0;
}
