/*
 * ident.c: identifier checks.
 */
#include "core/ident.h"

#include "core/clock.h"

bool ident_cvr_valid(str_t s)
{
    static const int weights[CVR_LEN] = {2, 7, 6, 5, 4, 3, 2, 1};
    if (s.len != CVR_LEN || !str_is_digits(s) || s.ptr[0] == '0')
        return false;
    int sum = 0;
    for (int i = 0; i < CVR_LEN; i++)
        sum += (s.ptr[i] - '0') * weights[i];
    return sum % 11 == 0;
}

static bool cpr_date_ok(str_t s, int day_offset)
{
    int d = (s.ptr[0] - '0') * 10 + (s.ptr[1] - '0') - day_offset;
    int m = (s.ptr[2] - '0') * 10 + (s.ptr[3] - '0');
    int y = (s.ptr[4] - '0') * 10 + (s.ptr[5] - '0');
    /* The century comes from the serial; any century gives the same validity
     * except for 29 February, so check against both a leap and a non-leap
     * century candidate: 2000 is a leap year, so y+2000 covers yy=00. */
    return clock_valid_date(2000 + y, m, d) || clock_valid_date(1900 + y, m, d);
}

bool ident_cpr_valid(str_t s)
{
    if (s.len != CPR_LEN || !str_is_digits(s))
        return false;
    return cpr_date_ok(s, 0) || cpr_date_ok(s, 60);
}

bool ident_cpr_is_substitute(str_t s)
{
    if (s.len != CPR_LEN || !str_is_digits(s))
        return false;
    return cpr_date_ok(s, 60);
}

bool ident_se_valid(str_t s)
{
    return s.len == SE_LEN && str_is_digits(s) && s.ptr[0] != '0';
}
