/* Unit tests of the disclosure pages' input parsing (web/search.c): dates
 * in both accepted forms, CPR/CVR/SE numbers and agreement ids, with the
 * difference between a wrong form and an impossible value. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/clock.h"
#include "web/search.h"

#define S(lit) STR(lit)

Test(web_search, dates_danish_and_iso)
{
    int32_t d = 0, want = clock_days_from_civil(2026, 3, 1);
    cr_assert_eq(web_search_date(S("01-03-2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("01.03.2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("01/03/2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(web_search_date(S("2026-03-01"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("29-02-2024"), &d), WEB_SEARCH_OK, "a leap day");
}

Test(web_search, dates_refused)
{
    int32_t d = 7;
    cr_assert_eq(web_search_date(S("1-3-2026"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("01-03-26"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("01-03.2026"), &d), WEB_SEARCH_FORM, "mixed separators");
    cr_assert_eq(web_search_date(S("2026/03/01"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("0a-03-2026"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S(""), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("i dag"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("31-02-2026"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("29-02-2025"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("2026-13-01"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("00-01-2026"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(d, 7, "untouched on failure");
}

Test(web_search, cpr)
{
    char out[CPR_LEN + 1] = "";
    cr_assert_eq(web_search_cpr(S("0101901234"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0101901234");
    cr_assert_eq(web_search_cpr(S("010190-1234"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0101901234");
    cr_assert_eq(web_search_cpr(S("6101901234"), out), WEB_SEARCH_OK, "a substitute number");
    cr_assert_eq(web_search_cpr(S("010190123"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019012345"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019-01234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("010190 1234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019x1234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("3213011234"), out), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_cpr(S("0113011234"), out), WEB_SEARCH_INVALID);
}

Test(web_search, cvr_and_se)
{
    char out[CVR_LEN + 1] = "";
    cr_assert_eq(web_search_cvr(S("12345674"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "12345674");
    cr_assert_eq(web_search_cvr(S("12345678"), out), WEB_SEARCH_INVALID, "modulus 11");
    cr_assert_eq(web_search_cvr(S("1234567"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cvr(S("1234567a"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cvr(S("DK12345674"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_se(S("12345678"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "12345678");
    cr_assert_eq(web_search_se(S("01234567"), out), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_se(S("123456789"), out), WEB_SEARCH_FORM);
}

Test(web_search, agreement_id)
{
    char out[AGREEMENT_ID_LEN + 1] = "";
    cr_assert_eq(web_search_agreement_id(S("0123456789ABCDEFabcdef0123456789"), out),
                 WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0123456789abcdefabcdef0123456789");
    cr_assert_eq(web_search_agreement_id(S("0123456789abcdef"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_agreement_id(S("0123456789abcdefabcdef012345678g"), out),
                 WEB_SEARCH_FORM);
}
