/*
 * buf.h: a growable byte buffer with a hard maximum, set when it is made.
 *
 * Appending past the maximum fails with DUPLA_ELIMIT and leaves the buffer as
 * it was; the contents are always NUL-terminated for convenience.
 */
#ifndef DUPLA_CORE_BUF_H
#define DUPLA_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

typedef struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
} buf_t;

void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);
/* Empties the buffer and keeps its memory. */
void buf_reset(buf_t *b);

int buf_append(buf_t *b, const void *data, size_t len);
int buf_append_str(buf_t *b, str_t s);
int buf_append_cstr(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Appends v in decimal, as "%lld" would (without printf's cost: the data
 * path's answers are mostly numbers). */
int buf_append_int(buf_t *b, int64_t v);
/* Appends s as a JSON string literal, quotes included. Invalid UTF-8 bytes
 * are replaced by U+FFFD so that the output is always valid JSON. */
int buf_append_json_string(buf_t *b, str_t s);

/* One CSV cell (RFC 4180): quoted when it holds " , ; CR or LF (quotes
 * doubled); a leading = + - @, which a spreadsheet would run as a formula,
 * is defused with a '. */
int buf_append_csv_cell(buf_t *b, str_t s);

/* Appends s escaped for HTML and XML text and quoted attribute values
 * (& < > " ' as entities). Invalid UTF-8 bytes become U+FFFD and control
 * characters XML 1.0 does not allow are dropped, so the output is always
 * well-formed. All or nothing at the buffer's maximum. */
int buf_append_html(buf_t *b, str_t s);

/* Appends the n bytes at data as 2n lowercase hex digits. */
int buf_append_hex(buf_t *b, const void *data, size_t n);

/* The contents as a str_t (valid until the next change). */
str_t buf_str(const buf_t *b);

#endif
