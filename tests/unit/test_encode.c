/* Unit tests: core/encode (hex, base64url) and core/uuid. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/encode.h"
#include "core/uuid.h"

Test(encode, base64url_vectors)
{
    /* RFC 4648 test vectors, in the URL alphabet without padding. */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char enc[32];
        base64url_encode(in[i], strlen(in[i]), enc);
        cr_assert_str_eq(enc, out[i]);
        char dec[32];
        long n = base64url_decode(str_from_cstr(out[i]), dec, sizeof dec);
        cr_assert_eq(n, (long)strlen(in[i]));
        cr_assert(memcmp(dec, in[i], (size_t)n) == 0);
    }
    char dec[8];
    cr_assert_eq(base64url_decode(STR("Zm9v="), dec, sizeof dec), -1); /* padding */
    cr_assert_eq(base64url_decode(STR("Zm+v"), dec, sizeof dec), -1);  /* + is not url */
    cr_assert_eq(base64url_decode(STR("Zh"), dec, sizeof dec), -1);    /* non-canonical */
    cr_assert_eq(base64url_decode(STR("Zm9vYmFy"), dec, 5), -1);       /* too small */
}

Test(encode, hex_round_trip)
{
    unsigned char b[] = {0x00, 0xab, 0xff};
    char h[7];
    hex_encode(b, 3, h);
    cr_assert_str_eq(h, "00abff");
    unsigned char o[3];
    cr_assert_eq(hex_decode(STR("00ABff"), o, 3), 3);
    cr_assert(memcmp(o, b, 3) == 0);
    cr_assert_eq(hex_decode(STR("0g"), o, 3), -1);
}

Test(uuid, v4_is_valid_and_random)
{
    char a[37], b[37];
    cr_assert_eq(uuid_v4(a), 0);
    cr_assert_eq(uuid_v4(b), 0);
    cr_assert(uuid_valid(str_from_cstr(a)));
    cr_assert_eq(a[14], '4');
    cr_assert_str_neq(a, b);
    cr_assert_not(uuid_valid(STR("not-a-uuid")));
    cr_assert_not(uuid_valid(STR("123e4567-e89b-12d3-a456-42661417400")));
    cr_assert(uuid_valid(STR("123E4567-E89B-12D3-A456-426614174000")));
}

Test(encode, hex_digit_and_lower)
{
    cr_assert_eq(hex_digit('0'), 0);
    cr_assert_eq(hex_digit('a'), 10);
    cr_assert_eq(hex_digit('F'), 15);
    cr_assert_eq(hex_digit('g'), -1);
    cr_assert_eq(hex_digit('\0'), -1);
    cr_assert(hex_is_lower(STR("0123abcdef")));
    cr_assert_not(hex_is_lower(STR("0123ABCDEF")));
    cr_assert_not(hex_is_lower(STR("")));
    cr_assert_not(hex_is_lower(STR("12 4")));
}

/* Decodes s with flags in a fresh arena; returns the status, and the text
 * in out (cap bytes) when it decoded. */
static int pct(const char *s, unsigned flags, char *out, size_t cap)
{
    arena_t *a = arena_new(4096);
    cr_assert_not_null(a);
    str_t r = {NULL, 0};
    int rc = pct_decode(str_from_cstr(s), flags, a, &r);
    if (rc == PCT_OK) {
        cr_assert_eq(r.ptr[r.len], '\0');
        str_copy(r, out, cap);
    } else {
        cr_assert_null(r.ptr); /* untouched on refusal */
    }
    arena_free(a);
    return rc;
}

Test(pct, decodes_escapes_and_plus_only_when_asked)
{
    char o[64];
    cr_assert_eq(pct("a%20b+c", 0, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, "a b+c");
    cr_assert_eq(pct("a%20b+c", PCT_PLUS_SPACE, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, "a b c");
    cr_assert_eq(pct("%2B%2b", PCT_PLUS_SPACE, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, "++");
    cr_assert_eq(pct("%C3%A6r%c3%b8", 0, o, sizeof o), PCT_OK); /* æ, ø: either case */
    cr_assert_str_eq(o, "\xC3\xA6r\xC3\xB8");
    cr_assert_eq(pct("", 0, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, "");
}

Test(pct, refuses_malformed_escapes)
{
    char o[16];
    const char *bad[] = {"%", "%2", "a%2", "%g0", "%0g", "%%41", "50%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(pct(bad[i], PCT_PLUS_SPACE, o, sizeof o), PCT_BAD_ESCAPE, "%s", bad[i]);
}

Test(pct, refuses_nul_and_control_bytes_raw_or_escaped)
{
    char o[16];
    const char *bad[] = {"a%00b", "%01", "%1F", "%7F", "%0A", "%0D", "%09", "a\x01", "\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(pct(bad[i], PCT_PLUS_SPACE, o, sizeof o), PCT_CONTROL, "%s", bad[i]);
}

Test(pct, allow_lines_lets_tab_cr_lf_through_and_nothing_else)
{
    char o[32];
    cr_assert_eq(pct("a%0D%0Ab%09c\n", PCT_ALLOW_LINES, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, "a\r\nb\tc\n");
    cr_assert_eq(pct("a%00", PCT_ALLOW_LINES, o, sizeof o), PCT_CONTROL);
    cr_assert_eq(pct("%0B", PCT_ALLOW_LINES, o, sizeof o), PCT_CONTROL);
    cr_assert_eq(pct("%7F", PCT_ALLOW_LINES, o, sizeof o), PCT_CONTROL);
}

Test(pct, refuses_invalid_utf8)
{
    char o[16];
    const char *bad[] = {
        "%C0%AF",       /* overlong '/' */
        "%C0%80",       /* overlong NUL */
        "%E0%80%AF",    /* overlong, 3 bytes */
        "%ED%A0%80",    /* surrogate */
        "%F4%90%80%80", /* beyond U+10FFFF */
        "%C3",          /* truncated */
        "%80",          /* lone continuation */
        "%FF",          /* never in UTF-8 */
        "\xC3(",        /* raw bad byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(pct(bad[i], 0, o, sizeof o), PCT_BAD_UTF8, "case %zu", i);
    cr_assert_str_eq(pct_status_text(PCT_BAD_UTF8), "invalid UTF-8");
}

Test(pct, encode_byte_is_uppercase_and_round_trips)
{
    char e[4];
    pct_encode_byte(0x2f, e);
    cr_assert_str_eq(e, "%2F");
    pct_encode_byte(0xc3, e);
    cr_assert_str_eq(e, "%C3");
    char o[4];
    pct_encode_byte(' ', e);
    cr_assert_eq(pct(e, 0, o, sizeof o), PCT_OK);
    cr_assert_str_eq(o, " ");
}
