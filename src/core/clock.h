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
