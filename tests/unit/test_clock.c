/* Unit tests: core/clock (strict dates and timestamps, Danish local time). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

/* Danish local time: both sides of both changes of 2026, and the text. */
Test(clock, danish_time_changes_with_summer_time)
{
    static const struct {
        int64_t ms;
        const char *iso, *text;
    } cases[] = {
        /* summer time begins 29 March 2026, 01:00 UTC: 02.00 becomes 03.00 */
        {1774745999000, "2026-03-29T01:59:59+01:00", "29. mar. 2026 kl. 01.59"},
        {1774746000000, "2026-03-29T03:00:00+02:00", "29. mar. 2026 kl. 03.00"},
        /* and ends 25 October 2026, 01:00 UTC: 03.00 becomes 02.00 again */
        {1792889999000, "2026-10-25T02:59:59+02:00", "25. okt. 2026 kl. 02.59"},
        {1792890000000, "2026-10-25T02:00:00+01:00", "25. okt. 2026 kl. 02.00"},
        /* winter, the example */
        {1796231285000, "2026-12-02T18:08:05+01:00", "2. dec. 2026 kl. 18.08"},
        /* past midnight into a new month (and a leap day before it) */
        {1709249400000, "2024-03-01T00:30:00+01:00", "1. mar. 2024 kl. 00.30"},
        /* May's name is not abbreviated */
        {1778500000000, "2026-05-11T13:46:40+02:00", "11. maj 2026 kl. 13.46"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char iso[CLOCK_DK_TEXT_MAX], text[CLOCK_DK_TEXT_MAX];
        clock_format_dk_iso(cases[i].ms, iso, sizeof iso);
        clock_format_dk(cases[i].ms, text, sizeof text);
        cr_expect_str_eq(iso, cases[i].iso);
        cr_expect_str_eq(text, cases[i].text);
    }
    cr_expect_eq(clock_dk_offset_min(1774745999000), 60);
    cr_expect_eq(clock_dk_offset_min(1774746000000), 120);
}

/* The EU rule against the system's tz database, every hour of 2000-2037
 * (each Criterion test runs in its own process, so setting TZ is safe). */
Test(clock, danish_time_agrees_with_tzdata)
{
    if (access("/usr/share/zoneinfo/Europe/Copenhagen", R_OK) != 0) {
        cr_skip("no tzdata on this machine");
    }
    setenv("TZ", "Europe/Copenhagen", 1);
    tzset();
    for (int64_t s = 946684800; s < 2145916800; s += 1800) {
        time_t t = (time_t)s;
        struct tm tm;
        cr_assert_not_null(localtime_r(&t, &tm));
        struct clock_local l;
        clock_dk_local(s * 1000, &l);
        cr_assert(
            l.offset_min * 60 == tm.tm_gmtoff && l.hour == tm.tm_hour && l.min == tm.tm_min &&
                l.day == tm.tm_mday && l.month == tm.tm_mon + 1 && l.year == tm.tm_year + 1900,
            "at %lld: %d-%d-%d %d:%d %+d against tzdata's %d:%d %+ld", (long long)s, l.year,
            l.month, l.day, l.hour, l.min, l.offset_min, tm.tm_hour, tm.tm_min, (long)tm.tm_gmtoff);
    }
}
