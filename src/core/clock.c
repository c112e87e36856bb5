/*
 * clock.c: time sources and strict date parsing (no locale, no timezone
 * database: everything is UTC).
 */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

#include "core/error.h"

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Howard Hinnant's days-from-civil algorithm (public domain description). */
int32_t clock_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void clock_civil_from_days(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int yy = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

int clock_valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    return d <= max;
}

static void split_ms(int64_t ms, int *y, int *mo, int *d, int *h, int *mi, int *s, int *frac)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    *frac = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    clock_civil_from_days((int32_t)days, y, mo, d);
    *h = (int)(rem / 3600);
    *mi = (int)(rem % 3600 / 60);
    *s = (int)(rem % 60);
}

void clock_format_ms(int64_t ms, char *out, size_t cap)
{
    int y, mo, d, h, mi, s, f;
    split_ms(ms, &y, &mo, &d, &h, &mi, &s, &f);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, f);
}

void clock_format_s(int64_t ms, char *out, size_t cap)
{
    int y, mo, d, h, mi, s, f;
    split_ms(ms, &y, &mo, &d, &h, &mi, &s, &f);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
}

void clock_format_date(int32_t days, char *out, size_t cap)
{
    int y, m, d;
    clock_civil_from_days(days, &y, &m, &d);
    snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
}

/* ---- Danish local time ---- */

#define DK_CET_MIN  60  /* UTC+1, vintertid */
#define DK_CEST_MIN 120 /* UTC+2, sommertid */

/* 01:00 UTC on the last Sunday of month m of year y, in ms. */
static int64_t last_sunday_1utc(int y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t last = clock_days_from_civil(y, m, mdays[m - 1]); /* March and October: 31 */
    /* 1970-01-01 was a Thursday: weekday 0 = Sunday is (days + 4) mod 7. */
    int wd = (int)(((int64_t)last % 7 + 7 + 4) % 7);
    return ((int64_t)(last - wd) * 86400 + 3600) * 1000;
}

int clock_dk_offset_min(int64_t ms)
{
    int y, mo, d, h, mi, s, f;
    split_ms(ms, &y, &mo, &d, &h, &mi, &s, &f);
    if (mo < 3 || mo > 10)
        return DK_CET_MIN;
    if (mo > 3 && mo < 10)
        return DK_CEST_MIN;
    int64_t start = last_sunday_1utc(y, 3), end = last_sunday_1utc(y, 10);
    return ms >= start && ms < end ? DK_CEST_MIN : DK_CET_MIN;
}

void clock_dk_local(int64_t ms, struct clock_local *out)
{
    int off = clock_dk_offset_min(ms);
    int f;
    split_ms(ms + (int64_t)off * 60000, &out->year, &out->month, &out->day, &out->hour, &out->min,
             &out->sec, &f);
    out->offset_min = off;
}

int64_t clock_dk_day_start_ms(int32_t days)
{
    /* The offset cannot change near midnight (changes are at 01:00 UTC),
     * so the offset of the UTC midnight is the day's. */
    int64_t utc = (int64_t)days * 86400000;
    return utc - (int64_t)clock_dk_offset_min(utc) * 60000;
}

void clock_format_dk(int64_t ms, char *out, size_t cap)
{
    /* Dansk Sprognævn's abbreviations: "maj" is whole, so it has no point. */
    static const char *const months[] = {"jan.", "feb.", "mar.", "apr.", "maj",  "jun.",
                                         "jul.", "aug.", "sep.", "okt.", "nov.", "dec."};
    struct clock_local l;
    clock_dk_local(ms, &l);
    snprintf(out, cap, "%d. %s %04d kl. %02d.%02d", l.day, months[l.month - 1], l.year, l.hour,
             l.min);
}

void clock_format_dk_iso(int64_t ms, char *out, size_t cap)
{
    struct clock_local l;
    clock_dk_local(ms, &l);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d+%02d:%02d", l.year, l.month, l.day, l.hour,
             l.min, l.sec, l.offset_min / 60, l.offset_min % 60);
}

static int digits(const char *p, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_ymd(const char *p, int *y, int *m, int *d)
{
    if (digits(p, 4, y) || p[4] != '-' || digits(p + 5, 2, m) || p[7] != '-' || digits(p + 8, 2, d))
        return -1;
    return clock_valid_date(*y, *m, *d) ? 0 : -1;
}

int clock_parse_date(str_t s, int32_t *days)
{
    int y, m, d;
    if (s.len != 10 || parse_ymd(s.ptr, &y, &m, &d))
        return DUPLA_EINVAL;
    *days = clock_days_from_civil(y, m, d);
    return 0;
}

int clock_parse_timestamp(str_t s, int64_t *ms, int allow_fraction)
{
    int y, mo, d, h, mi, sec, frac = 0;
    if (s.len < 20 || parse_ymd(s.ptr, &y, &mo, &d) || s.ptr[10] != 'T' ||
        digits(s.ptr + 11, 2, &h) || s.ptr[13] != ':' || digits(s.ptr + 14, 2, &mi) ||
        s.ptr[16] != ':' || digits(s.ptr + 17, 2, &sec))
        return DUPLA_EINVAL;
    if (h > 23 || mi > 59 || sec > 59)
        return DUPLA_EINVAL;
    size_t i = 19;
    if (allow_fraction && s.len > 20 && s.ptr[19] == '.') {
        size_t n = 0;
        int scale = 100;
        for (i = 20; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++, n++) {
            if (n < 3)
                frac += (s.ptr[i] - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9)
            return DUPLA_EINVAL;
    }
    if (i != s.len - 1 || s.ptr[i] != 'Z')
        return DUPLA_EINVAL;
    int64_t days = clock_days_from_civil(y, mo, d);
    *ms = ((days * 86400) + h * 3600 + mi * 60 + sec) * 1000 + frac;
    return 0;
}
