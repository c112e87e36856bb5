/* Unit tests: core/clock (strict dates and timestamps). */
#include <criterion/criterion.h>

#include "core/clock.h"

Test(clock, dates_parse_strictly)
{
    int32_t d;
    cr_assert_eq(clock_parse_date(STR("1970-01-01"), &d), 0);
    cr_assert_eq(d, 0);
    cr_assert_eq(clock_parse_date(STR("2024-02-29"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("2023-02-29"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("2024-13-01"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("2024-04-31"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("2024-4-3"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("2024-04-030"), &d), 0);
    cr_assert_neq(clock_parse_date(STR("20x4-04-03"), &d), 0);
    char out[16];
    cr_assert_eq(clock_parse_date(STR("2000-02-29"), &d), 0);
    clock_format_date(d, out, sizeof out);
    cr_assert_str_eq(out, "2000-02-29");
}

Test(clock, timestamps_parse_strictly)
{
    int64_t ms;
    cr_assert_eq(clock_parse_timestamp(STR("2024-01-02T03:04:05Z"), &ms, 0), 0);
    char out[32];
    clock_format_s(ms, out, sizeof out);
    cr_assert_str_eq(out, "2024-01-02T03:04:05Z");
    cr_assert_neq(clock_parse_timestamp(STR("2024-01-02T03:04:05"), &ms, 0), 0);
    cr_assert_neq(clock_parse_timestamp(STR("2024-01-02 03:04:05Z"), &ms, 0), 0);
    cr_assert_neq(clock_parse_timestamp(STR("2024-01-02T24:00:00Z"), &ms, 0), 0);
    cr_assert_neq(clock_parse_timestamp(STR("2024-01-02T03:04:05.123Z"), &ms, 0), 0);
    cr_assert_eq(clock_parse_timestamp(STR("2024-01-02T03:04:05.123Z"), &ms, 1), 0);
    clock_format_ms(ms, out, sizeof out);
    cr_assert_str_eq(out, "2024-01-02T03:04:05.123Z");
}

Test(clock, civil_round_trip)
{
    for (int32_t d = -800000; d < 800000; d += 997) {
        int y, m, dd;
        clock_civil_from_days(d, &y, &m, &dd);
        cr_assert_eq(clock_days_from_civil(y, m, dd), d);
    }
}
