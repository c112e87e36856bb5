/* Unit tests: core/ident (CPR, CVR modulus 11, SE). */
#include <criterion/criterion.h>

#include "core/ident.h"

Test(ident, cvr_modulus_11)
{
    /* 2*1+7*2+6*3+5*4+4*5+3*6+2*7+1*x: digits 1234567x; sum w/o last = 106,
     * so x = 4 gives 110 = 10*11. */
    cr_assert(ident_cvr_valid(STR("12345674")));
    cr_assert_not(ident_cvr_valid(STR("12345675")));
    cr_assert_not(ident_cvr_valid(STR("1234567")));
    cr_assert_not(ident_cvr_valid(STR("123456740")));
    cr_assert_not(ident_cvr_valid(STR("1234567a")));
    cr_assert_not(ident_cvr_valid(STR("00000000"))); /* no leading zero */
}

Test(ident, cpr_dates_and_substitutes)
{
    cr_assert(ident_cpr_valid(STR("0101901234")));
    cr_assert(ident_cpr_valid(STR("6101901234"))); /* substitute: 1 + 60 */
    cr_assert(ident_cpr_is_substitute(STR("6101901234")));
    cr_assert_not(ident_cpr_is_substitute(STR("0101901234")));
    cr_assert_not(ident_cpr_valid(STR("3202901234"))); /* 32 February */
    cr_assert_not(ident_cpr_valid(STR("0113901234"))); /* month 13 */
    cr_assert_not(ident_cpr_valid(STR("4501901234"))); /* day 45: neither form */
    cr_assert(ident_cpr_valid(STR("2902001234")));     /* 29-02-2000 */
    cr_assert_not(ident_cpr_valid(STR("010190123")));
    cr_assert_not(ident_cpr_valid(STR("01019012345")));
}

Test(ident, se_numbers)
{
    cr_assert(ident_se_valid(STR("12345678")));
    cr_assert_not(ident_se_valid(STR("02345678")));
    cr_assert_not(ident_se_valid(STR("1234567")));
}
