/*
 * clock.h: wall-clock and monotonic time, and the two textual forms the wire
 * protocol uses: dates (yyyy-mm-dd) and UTC timestamps (yyyy-mm-ddTHH:MM:SSZ).
 *
 * Wall-clock times are int64 milliseconds since the Unix epoch, UTC.
 */
#ifndef DUPLA_CORE_CLOCK_H
#define DUPLA_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

int64_t clock_now_ms(void);
/* Monotonic nanoseconds, for durations only. */
int64_t clock_mono_ns(void);

/* Formats ms as "yyyy-mm-ddTHH:MM:SS.mmmZ" (out needs 25 bytes). */
void clock_format_ms(int64_t ms, char *out, size_t cap);
/* Formats ms as "yyyy-mm-ddTHH:MM:SSZ" (out needs 21 bytes). */
void clock_format_s(int64_t ms, char *out, size_t cap);
/* Formats a day number as "yyyy-mm-dd" (out needs 11 bytes). */
void clock_format_date(int32_t days, char *out, size_t cap);

/* Danish local time (Europe/Copenhagen), for people: the pages and their
 * CSV exports. The APIs keep UTC ("...Z", ISO 8601 with offset zero).
 *
 * Computed from the EU rule, not the tz database: CET (UTC+1), and CEST
 * (UTC+2) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
 * last Sunday of October (Directive 2000/84/EC; Denmark has followed it
 * since 1996). Pure arithmetic: thread-safe, and the same on a machine
 * without tzdata. Times before 1996 get the same rule (Denmark then ended
 * summer time in September), which no record of this platform needs. */
#define CLOCK_DK_TEXT_MAX 32 /* bytes of either Danish form, with the NUL */

struct clock_local {
    int year, month, day, hour, min, sec;
    int offset_min; /* 60 (vintertid) or 120 (sommertid) */
};
/* Minutes east of UTC in Denmark at ms: 60 or 120. */
int clock_dk_offset_min(int64_t ms);
/* ms as Danish wall-clock time. */
void clock_dk_local(int64_t ms, struct clock_local *out);
/* The moment (ms) a Danish calendar day begins: midnight local time. */
int64_t clock_dk_day_start_ms(int32_t days);
/* "2. dec. 2026 kl. 18.08" (the pages; out needs CLOCK_DK_TEXT_MAX). */
void clock_format_dk(int64_t ms, char *out, size_t cap);
/* "2026-12-02T18:08:05+01:00": ISO 8601 in Danish time with its offset
 * (the pages' CSV; out needs 26 bytes). */
void clock_format_dk_iso(int64_t ms, char *out, size_t cap);

/* Days since 1970-01-01 for a proleptic Gregorian date (any valid date). */
int32_t clock_days_from_civil(int y, int m, int d);
void clock_civil_from_days(int32_t days, int *y, int *m, int *d);
/* true if y-m-d is a real calendar date (year 1..9999). */
int clock_valid_date(int y, int m, int d);

/* Strict "yyyy-mm-dd" into a day number. 0, or DUPLA_EINVAL. */
int clock_parse_date(str_t s, int32_t *days);
/* Strict "yyyy-mm-ddTHH:MM:SSZ" into ms. 0, or DUPLA_EINVAL. Also takes a
 * fractional part ".fff" before the Z when allow_fraction is set. */
int clock_parse_timestamp(str_t s, int64_t *ms, int allow_fraction);

#endif
