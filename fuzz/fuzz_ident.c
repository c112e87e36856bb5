/*
 * fuzz_ident.c: the identifier and time parsers of core: CPR, CVR and SE
 * numbers (core/ident.c), dates and UTC timestamps (core/clock.c), each
 * against a reading written here from the definitions. Properties: a valid
 * CPR has ten digits and a real day and month; a valid CVR has eight digits
 * and its modulus-11 sum; a parsed date or timestamp formats back to the
 * text it came from; Danish local time of any time in years 1-9999 is a
 * real date and time, an hour or two past UTC.
 */
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "fuzz.h"

#define MS_YEAR_1    (-62135596800000LL) /* 0001-01-01T00:00:00Z */
#define MS_YEAR_9999 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

static bool digits(str_t s, size_t n)
{
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int two(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static void check_idents(str_t s)
{
    if (ident_cpr_valid(s)) {
        FUZZ_CHECK(digits(s, CPR_LEN));
        int d = two(s.ptr), m = two(s.ptr + 2);
        FUZZ_CHECK(m >= 1 && m <= 12);
        FUZZ_CHECK((d >= 1 && d <= 31) || (d >= 61 && d <= 91));
        FUZZ_CHECK(ident_cpr_is_substitute(s) == (d > 60));
    } else {
        FUZZ_CHECK(!ident_cpr_is_substitute(s));
    }
    if (ident_cvr_valid(s)) {
        static const int w[CVR_LEN] = {2, 7, 6, 5, 4, 3, 2, 1};
        FUZZ_CHECK(digits(s, CVR_LEN) && s.ptr[0] != '0');
        int sum = 0;
        for (int i = 0; i < CVR_LEN; i++)
            sum += w[i] * (s.ptr[i] - '0');
        FUZZ_CHECK(sum % 11 == 0);
    }
    if (ident_se_valid(s))
        FUZZ_CHECK(digits(s, SE_LEN) && s.ptr[0] != '0');
    else
        FUZZ_CHECK(!digits(s, SE_LEN) || s.ptr[0] == '0');
}

static void check_times(str_t s)
{
    int32_t days;
    if (clock_parse_date(s, &days) == 0) {
        char out[16];
        clock_format_date(days, out, sizeof out);
        FUZZ_CHECK(s.len == 10 && memcmp(out, s.ptr, 10) == 0 && out[10] == '\0');
        int y, m, d;
        clock_civil_from_days(days, &y, &m, &d);
        FUZZ_CHECK(clock_valid_date(y, m, d));
        FUZZ_CHECK(clock_days_from_civil(y, m, d) == days);
    }
    for (int frac = 0; frac <= 1; frac++) {
        int64_t ms;
        if (clock_parse_timestamp(s, &ms, frac) != 0)
            continue;
        FUZZ_CHECK(ms >= MS_YEAR_1 && ms <= MS_YEAR_9999);
        char out[32];
        clock_format_s(ms, out, sizeof out);
        FUZZ_CHECK(s.len >= 20 && memcmp(out, s.ptr, 19) == 0 && out[19] == 'Z');
        if (!frac)
            FUZZ_CHECK(s.len == 20 && ms % 1000 == 0);
    }
}

/* Formatting any moment of years 1-9999 (UTC and Danish time). */
static void check_format(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | data[i];
    int64_t ms = MS_YEAR_1 + (int64_t)(u % (uint64_t)(MS_YEAR_9999 - MS_YEAR_1 + 1));
    char a[32], b[32], c[64], d[32];
    clock_format_ms(ms, a, sizeof a);
    clock_format_s(ms, b, sizeof b);
    clock_format_dk(ms, c, sizeof c);
    clock_format_dk_iso(ms, d, sizeof d);
    int64_t back;
    FUZZ_CHECK(clock_parse_timestamp(str_from_cstr(a), &back, 1) == 0 && back == ms);
    int off = clock_dk_offset_min(ms);
    FUZZ_CHECK(off == 60 || off == 120);
    struct clock_local loc;
    clock_dk_local(ms, &loc);
    FUZZ_CHECK(loc.offset_min == off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t s = fuzz_str(data, size);
    check_idents(s);
    check_times(s);
    check_format(data, size);
    return 0;
}
