/* Unit tests: core/buf (bounded buffers and JSON string escaping). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

Test(buf, append_respects_maximum)
{
    buf_t b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append_cstr(&b, "12345"), 0);
    cr_assert_eq(buf_append_cstr(&b, "6789"), DUPLA_ELIMIT);
    cr_assert_str_eq(b.data, "12345"); /* unchanged by the failed append */
    cr_assert_eq(buf_append_cstr(&b, "678"), 0);
    cr_assert_eq(b.len, 8);
    cr_assert_eq(buf_printf(&b, "%d", 1), DUPLA_ELIMIT);
    buf_free(&b);
}

Test(buf, json_string_escaping)
{
    buf_t b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_append_json_string(&b, STR("a\"b\\c\n\x01 Ærø")), 0);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\\u0001 Ærø\"");
    buf_reset(&b);
    /* invalid UTF-8 (a lone continuation byte, an overlong form) is replaced */
    cr_assert_eq(buf_append_json_string(&b, STR("x\x80y\xC0\xAF")), 0);
    cr_assert_str_eq(b.data, "\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\"");
    buf_free(&b);
}

Test(buf, json_string_all_or_nothing_at_limit)
{
    buf_t b;
    buf_init(&b, 6);
    cr_assert_eq(buf_append_cstr(&b, "[ "), 0);
    cr_assert_eq(buf_append_json_string(&b, STR("long value")), DUPLA_ELIMIT);
    cr_assert_str_eq(b.data, "[ ");
    buf_free(&b);
}

Test(buf, html_escaping)
{
    buf_t b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_append_html(&b, STR("<a href=\"x\">Tom & 'Jerry'</a>\x01\tÆ\x80")), 0);
    cr_assert_str_eq(b.data, "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
                             "\tÆ\xEF\xBF\xBD");
    buf_free(&b);
    buf_init(&b, 8);
    cr_assert_eq(buf_append_cstr(&b, "ab"), 0);
    cr_assert_eq(buf_append_html(&b, STR("<<<")), DUPLA_ELIMIT);
    cr_assert_str_eq(b.data, "ab");
    buf_free(&b);
}

Test(buf, csv_cells_are_quoted_only_when_needed_and_formulas_defused)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"a;b", "\"a;b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"=SUM(A1)", "'=SUM(A1)"},
        {"+45", "'+45"},
        {"-1", "'-1"},
        {"@x,y", "\"'@x,y\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b;
        buf_init(&b, 256);
        cr_assert_eq(buf_append_csv_cell(&b, str_from_cstr(cases[i].in)), 0);
        cr_assert(str_eq_cstr(buf_str(&b), cases[i].out), "%s -> %.*s", cases[i].in,
                  STR_FMT(buf_str(&b)));
        buf_free(&b);
    }
}

/* Found by fuzz/fuzz_csv.c: a cell starting with a NUL byte was taken for
 * a formula (strchr finds the terminator) and got an apostrophe. */
Test(buf, csv_cell_starting_with_nul_is_not_a_formula)
{
    buf_t b;
    buf_init(&b, 256);
    cr_assert_eq(buf_append_csv_cell(&b, (str_t){"\0ab", 3}), 0);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "\0ab", 3), 0);
    buf_free(&b);
}

Test(buf, hex_appends_lowercase_and_is_all_or_nothing)
{
    buf_t b;
    buf_init(&b, 8);
    unsigned char d[] = {0x00, 0xab, 0xff};
    cr_assert_eq(buf_append_hex(&b, d, 3), 0);
    cr_assert_str_eq(b.data, "00abff");
    cr_assert_neq(buf_append_hex(&b, d, 3), 0); /* 12 > 8 */
    cr_assert_str_eq(b.data, "00abff");
    buf_free(&b);
}

Test(buf, append_int_writes_what_printf_would)
{
    static const int64_t values[] = {0, 7, -7, 10, -10, 1234567890123, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        buf_t b;
        buf_init(&b, 64);
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        cr_assert_eq(buf_append_int(&b, values[i]), 0);
        cr_assert_str_eq(b.data, want);
        buf_free(&b);
    }
    buf_t b;
    buf_init(&b, 3);
    cr_assert_eq(buf_append_int(&b, -1000), DUPLA_ELIMIT);
    cr_assert_eq(buf_append_int(&b, -10), 0);
    cr_assert_str_eq(b.data, "-10");
    buf_free(&b);
}

Test(buf, printf_past_the_room_grows_and_past_the_maximum_leaves_the_buffer_as_it_was)
{
    buf_t b;
    buf_init(&b, 300);
    cr_assert_eq(buf_append_cstr(&b, "ab"), 0); /* 256 bytes: room for 253 and the NUL */
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(buf_printf(&b, "%s", big), DUPLA_ELIMIT); /* 2 + 299 > 300 */
    cr_assert_str_eq(b.data, "ab");
    cr_assert_eq(b.len, 2);
    cr_assert_eq(buf_printf(&b, "%.260s|%d", big, 42), 0); /* past the room: grows */
    cr_assert_eq(b.len, 2 + 260 + 3);
    cr_assert_eq(strncmp(b.data + 262, "|42", 4), 0);
    cr_assert_eq(buf_printf(&b, "%d", 7), 0); /* within the room: formatted once */
    cr_assert_str_eq(b.data + 265, "7");
    buf_free(&b);
}
