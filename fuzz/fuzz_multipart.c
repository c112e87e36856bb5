/*
 * fuzz_multipart.c: the pages' multipart/form-data reader
 * (web/multipart.c: multipart_parse, for the uploads of a system's
 * certificate and an agreement's documents). The first line of the input
 * is the Content-Type header's value, the rest the body. Properties: never
 * more parts than max_parts; each part has a non-empty name within
 * max_name, a file name within max_filename, and its bytes inside the
 * body; a text part holds no NUL; a refusal carries a message.
 */
#include <string.h>

#include "core/arena.h"
#include "fuzz.h"
#include "web/multipart.h"

#define FUZZ_MP_ARENA (4u << 20)

static bool inside(str_t part, str_t whole)
{
    return part.len == 0 || (part.ptr >= whole.ptr && part.ptr + part.len <= whole.ptr + whole.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t in = fuzz_str(data, size);
    str_t ct = fuzz_take(&in, '\n');
    str_t body = in;
    const struct multipart_limits lim = {.max_body = 64 * 1024,
                                         .max_parts = 8,
                                         .max_header_bytes = 512,
                                         .max_name = 64,
                                         .max_filename = 128};
    arena_t *a = arena_new(FUZZ_MP_ARENA);
    if (!a)
        abort();
    (void)multipart_is_form_data(ct);
    struct multipart m;
    err_t err;
    err_clear(&err);
    int rc = multipart_parse(a, ct, body, &lim, &m, &err);
    if (rc == 0) {
        FUZZ_CHECK(multipart_is_form_data(ct));
        FUZZ_CHECK(m.n <= lim.max_parts);
        for (size_t i = 0; i < m.n; i++) {
            const struct multipart_part *p = &m.parts[i];
            FUZZ_CHECK(p->name.len > 0 && p->name.len <= lim.max_name);
            FUZZ_CHECK(p->filename.len <= lim.max_filename);
            FUZZ_CHECK(inside(p->data, body));
            if (!p->is_file)
                FUZZ_CHECK(!memchr(p->data.ptr, '\0', p->data.len));
            char name[80];
            if (str_copy(p->name, name, sizeof name) == 0 && !memchr(name, '\0', p->name.len))
                FUZZ_CHECK(multipart_get(&m, name) != NULL);
        }
    } else {
        FUZZ_CHECK(err.detail[0] != '\0' || err.log[0] != '\0');
    }
    arena_free(a);
    return 0;
}
