/* Unit tests: core/str (length-carrying strings). */
#include <criterion/criterion.h>

#include "core/str.h"

Test(str, equality_and_prefix)
{
    cr_assert(str_eq(STR("abc"), str_from_cstr("abc")));
    cr_assert_not(str_eq(STR("abc"), STR("abd")));
    cr_assert_not(str_eq(STR("abc"), STR("ab")));
    cr_assert(str_eq_nocase(STR("X-Request-ID"), STR("x-request-id")));
    cr_assert(str_has_prefix(STR("urn:ufst:x"), STR("urn:ufst:")));
    cr_assert_not(str_has_prefix(STR("urn"), STR("urn:ufst:")));
}

Test(str, constant_time_equality)
{
    cr_assert(str_ct_eq(STR("secret"), STR("secret")));
    cr_assert_not(str_ct_eq(STR("secret"), STR("secreT")));
    cr_assert_not(str_ct_eq(STR("secret"), STR("secret1")));
    cr_assert_not(str_ct_eq(STR(""), STR("a")));
    cr_assert(str_ct_eq(STR(""), STR("")));
}

Test(str, split_trim_sub)
{
    str_t h, t;
    cr_assert(str_split(STR("a=b=c"), '=', &h, &t));
    cr_assert(str_eq(h, STR("a")));
    cr_assert(str_eq(t, STR("b=c")));
    cr_assert_not(str_split(STR("abc"), '=', &h, &t));
    cr_assert(str_eq(h, STR("abc")));
    cr_assert_eq(t.len, 0);
    cr_assert(str_eq(str_trim(STR("  x y \t\n")), STR("x y")));
    cr_assert(str_eq(str_sub(STR("hello"), 3, 99), STR("lo")));
    cr_assert_eq(str_sub(STR("hello"), 9, 1).len, 0);
}

Test(str, integers_are_parsed_strictly)
{
    int64_t v;
    cr_assert_eq(str_to_int64(STR("2024"), &v), 0);
    cr_assert_eq(v, 2024);
    cr_assert_eq(str_to_int64(STR("-17"), &v), 0);
    cr_assert_eq(v, -17);
    cr_assert_eq(str_to_int64(STR("9223372036854775807"), &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(str_to_int64(STR("-9223372036854775808"), &v), 0);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(str_to_int64(STR("9223372036854775808"), &v), -1);
    cr_assert_eq(str_to_int64(STR(""), &v), -1);
    cr_assert_eq(str_to_int64(STR("12a"), &v), -1);
    cr_assert_eq(str_to_int64(STR(" 12"), &v), -1);
    cr_assert_eq(str_to_int64(STR("+12"), &v), -1);
    cr_assert_eq(str_to_int64(STR("-"), &v), -1);
}

Test(str, copy_is_bounded)
{
    char out[4];
    cr_assert_eq(str_copy(STR("abc"), out, sizeof out), 0);
    cr_assert_str_eq(out, "abc");
    cr_assert_eq(str_copy(STR("abcd"), out, sizeof out), -1);
    cr_assert_str_eq(out, "abc");
}

Test(utf8, validation)
{
    cr_assert(utf8_valid(STR("plain")));
    cr_assert(utf8_valid(STR("Årsopgørelse €𝄞")));
    cr_assert(utf8_valid(STR("")));
    const char *bad[] = {"\x80",         "\xC3",         "\xC3\x28",         "\xC0\x80",
                         "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80",
                         "\xFF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(utf8_valid(str_from_cstr(bad[i])), "case %zu", i);
}

Test(utf8, seq_len)
{
    cr_assert_eq(utf8_seq_len((const unsigned char *)"a", 1), 1);
    cr_assert_eq(utf8_seq_len((const unsigned char *)"\xC3\xA5", 2), 2);
    cr_assert_eq(utf8_seq_len((const unsigned char *)"\xE2\x82\xAC", 3), 3);
    cr_assert_eq(utf8_seq_len((const unsigned char *)"\xF0\x9D\x84\x9E", 4), 4);
    cr_assert_eq(utf8_seq_len((const unsigned char *)"\xE2\x82\xAC", 2), 0); /* truncated */
    cr_assert_eq(utf8_seq_len((const unsigned char *)"\xC1\xBF", 2), 0);     /* overlong */
}
