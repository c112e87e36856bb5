/*
 * fuzz_pct.c: core's percent-decoder (pct_decode), the one decoder of the
 * request path, query strings and forms. The first byte picks the flags.
 * Properties: what decodes is valid UTF-8 with no NUL and no control byte
 * (tab, CR and LF only with PCT_ALLOW_LINES) and no longer than its input;
 * encoding every decoded byte again decodes to the same bytes; and the
 * status agrees with a plain reading of the input.
 */
#include <string.h>

#include "core/arena.h"
#include "core/encode.h"
#include "fuzz.h"

#define FUZZ_PCT_ARENA (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & (PCT_PLUS_SPACE | PCT_ALLOW_LINES);
    str_t raw = fuzz_str(data + 1, size - 1);
    arena_t *a = arena_new(FUZZ_PCT_ARENA);
    if (!a)
        abort();
    str_t out = STR_NULL;
    int rc = pct_decode(raw, flags, a, &out);
    FUZZ_CHECK(rc <= 0 && rc >= PCT_NOMEM);
    FUZZ_CHECK(pct_status_text(rc) != NULL);
    /* A malformed escape: some '%' lacks two hex digits. */
    bool bad_escape = false;
    for (size_t i = 0; i < raw.len; i++)
        if (raw.ptr[i] == '%') {
            if (raw.len - i < 3 || hex_digit(raw.ptr[i + 1]) < 0 || hex_digit(raw.ptr[i + 2]) < 0) {
                bad_escape = true;
                break;
            }
            i += 2;
        }
    if (bad_escape)
        FUZZ_CHECK(rc == PCT_BAD_ESCAPE || rc == PCT_CONTROL || rc == PCT_NOMEM);
    if (rc == PCT_OK) {
        FUZZ_CHECK(!bad_escape);
        FUZZ_CHECK(out.len <= raw.len);
        FUZZ_CHECK(out.ptr[out.len] == '\0');
        FUZZ_CHECK(fuzz_utf8_valid(out));
        for (size_t i = 0; i < out.len; i++) {
            unsigned char c = (unsigned char)out.ptr[i];
            bool line = c == '\t' || c == '\r' || c == '\n';
            FUZZ_CHECK(c != 0 && c != 0x7f);
            FUZZ_CHECK(c >= 0x20 || (line && (flags & PCT_ALLOW_LINES)));
            FUZZ_CHECK(!(flags & PCT_PLUS_SPACE) || c != '+' || memchr(raw.ptr, '%', raw.len));
        }
        /* Round trip: every byte escaped decodes to the same bytes. */
        char *enc = arena_alloc(a, out.len * 3 + 1);
        FUZZ_CHECK(enc != NULL);
        for (size_t i = 0; i < out.len; i++)
            pct_encode_byte((unsigned char)out.ptr[i], enc + 3 * i);
        str_t again;
        FUZZ_CHECK(pct_decode((str_t){enc, out.len * 3}, flags, a, &again) == PCT_OK);
        FUZZ_CHECK(str_eq(again, out));
    }
    arena_free(a);
    return 0;
}
