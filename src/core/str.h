/*
 * str.h: length-carrying strings.
 *
 * Untrusted input (paths, headers, query values, file lines) travels as a
 * str_t and is never strlen()ed or copied without a bound. A str_t does not
 * own its bytes; whoever made the bytes keeps them alive.
 */
#ifndef DUPLA_CORE_STR_H
#define DUPLA_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct str {
    const char *ptr;
    size_t len;
} str_t;

/* A str_t over a string literal, without a strlen at run time. */
#define STR(lit) ((str_t){(lit), sizeof(lit) - 1})
#define STR_NULL ((str_t){NULL, 0})
/* For printf: printf("%.*s", STR_FMT(s)). */
#define STR_FMT(s) (int)(s).len, (s).ptr

/* Wraps a trusted, NUL-terminated C string (NULL gives the empty string). */
str_t str_from_cstr(const char *s);
/* Wraps at most max bytes of a C string that may lack its terminator. */
str_t str_from_bounded(const char *s, size_t max);

bool str_eq(str_t a, str_t b);
bool str_eq_cstr(str_t a, const char *b);
/* ASCII case-insensitive equality (header names). */
bool str_eq_nocase(str_t a, str_t b);
bool str_has_prefix(str_t s, str_t prefix);
/* Constant-time equality for secrets: time depends only on the lengths. */
bool str_ct_eq(str_t a, str_t b);

/* The bytes [off, off+len) of s, clamped to s. */
str_t str_sub(str_t s, size_t off, size_t len);
/* s without leading and trailing ASCII white space. */
str_t str_trim(str_t s);
/* Splits s at the first c: *head gets what precedes it, *tail what follows.
 * Returns false (head = s, tail empty) when c does not occur. */
bool str_split(str_t s, char c, str_t *head, str_t *tail);

/* true if s is non-empty and only ASCII digits. */
bool str_is_digits(str_t s);
/* Strict decimal parse: optional '-', digits only, no overflow. 0 or -1. */
int str_to_int64(str_t s, int64_t *out);

/* Copies s into out (cap bytes, always NUL-terminated). Returns 0, or -1 when
 * s does not fit (out then holds a truncated copy). */
int str_copy(str_t s, char *out, size_t cap);

/* ---- UTF-8 ---- */

/* Length (1 to 4) of the well-formed UTF-8 sequence at p, which has n > 0
 * bytes, or 0 when there is none: a bad lead or continuation byte, a
 * truncated sequence, an overlong form, a surrogate or a code point beyond
 * U+10FFFF. The one UTF-8 reader of the code base. */
size_t utf8_seq_len(const unsigned char *p, size_t n);
/* true if s is well-formed UTF-8 as utf8_seq_len defines it. */
bool utf8_valid(str_t s);

#endif
