/*
 * fuzz_token_form.c: the token request as the token endpoint reads it
 * (token/routes.c: an application/x-www-form-urlencoded body of at most
 * TOKEN_FORM_MAX bytes and TOKEN_FORM_PARAMS_MAX fields, names unique, by
 * http/form.c), then its fields as the handler takes them. Properties: a
 * read form has unique names, at most the field limit, and grant_type,
 * scope and client_id, when present, are text without control bytes.
 */
#include <string.h>

#include "core/arena.h"
#include "fuzz.h"
#include "http/http.h"
#include "token/routes.h"

#define FUZZ_TOKEN_ARENA (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t body = fuzz_str(data, size);
    if (body.len > TOKEN_FORM_MAX)
        return 0; /* refused unread (413) */
    static const struct http_form_rules rules = {.max_fields = TOKEN_FORM_PARAMS_MAX,
                                                 .unique = true};
    arena_t *a = arena_new(FUZZ_TOKEN_ARENA);
    if (!a)
        abort();
    struct http_form f;
    err_t err;
    err_clear(&err);
    if (http_form_read(a, body, &rules, &f, &err) == 0) {
        FUZZ_CHECK(f.n <= TOKEN_FORM_PARAMS_MAX);
        for (size_t i = 0; i < f.n; i++)
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(!str_eq(f.names[i], f.names[j]));
        const char *const names[] = {"grant_type", "scope", "client_id", "username", "password"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            str_t v;
            if (!http_form_get(&f, names[k], &v))
                continue;
            FUZZ_CHECK(fuzz_utf8_valid(v));
            for (size_t i = 0; i < v.len; i++)
                FUZZ_CHECK((unsigned char)v.ptr[i] >= 0x20 && v.ptr[i] != 0x7f);
        }
    } else {
        FUZZ_CHECK(err.code != 0 && err.param[0] != '\0');
    }
    arena_free(a);
    return 0;
}
