/*
 * encode.h: hex, percent-encoding (RFC 3986) and base64url (RFC 4648
 * section 5, no padding) codecs.
 *
 * pct_decode is the one percent-decoder: the request path, query strings,
 * the token service's form and the pages' forms all go through it, with one
 * policy (no NUL, no control byte, only well-formed UTF-8) and flags for
 * what a caller legitimately needs differently.
 */
#ifndef DUPLA_CORE_ENCODE_H
#define DUPLA_CORE_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/str.h"

/* The value (0..15) of one hex digit, either case, or -1. */
int hex_digit(char c);
/* true if s is non-empty and only lowercase hex digits (ids, digests). */
bool hex_is_lower(str_t s);
/* Writes 2n lowercase hex digits and a NUL to out (2n+1 bytes). */
void hex_encode(const void *data, size_t n, char *out);
/* Decodes hex into out (cap bytes). Returns the byte count, or -1. */
long hex_decode(str_t hex, void *out, size_t cap);

/* ---- percent-encoding ---- */

/* Flags of pct_decode. */
enum {
    PCT_PLUS_SPACE = 1 << 0,  /* '+' is a space (query strings, form bodies) */
    PCT_ALLOW_LINES = 1 << 1, /* tab, CR and LF may occur (multi-line text) */
};

/* What pct_decode found wrong (0 is success). */
enum pct_status {
    PCT_OK = 0,
    PCT_BAD_ESCAPE = -1, /* '%' not followed by two hex digits */
    PCT_CONTROL = -2,    /* NUL, another C0 control byte or DEL */
    PCT_BAD_UTF8 = -3,   /* the decoded bytes are not well-formed UTF-8 */
    PCT_NOMEM = -4,      /* the arena is full */
};

/* Percent-decodes raw into a fresh NUL-terminated arena string *out.
 * Refuses a malformed escape, a control byte (raw or escaped: NUL always,
 * tab/CR/LF unless PCT_ALLOW_LINES) and invalid UTF-8 (overlong forms and
 * surrogates included), so what a caller gets is text it may print and
 * store. Returns PCT_OK or a negative enum pct_status; *out is then unset. */
int pct_decode(str_t raw, unsigned flags, arena_t *a, str_t *out);
/* A few words on a pct_decode status for a problem detail: "a malformed
 * percent escape", "a control character", "invalid UTF-8". */
const char *pct_status_text(int status);
/* Writes "%XX" (uppercase hex, RFC 3986 section 2.1) and a NUL for c. */
void pct_encode_byte(unsigned char c, char out[4]);

/* Bytes needed for base64url of n bytes, without padding, plus a NUL. */
size_t base64url_encoded_size(size_t n);
/* Writes base64url without padding and a NUL into out. Returns its length. */
size_t base64url_encode(const void *data, size_t n, char *out);
/* Decodes base64url (no padding expected; padding refused) into out (cap
 * bytes). Returns the byte count, or -1 on a bad character or length. */
long base64url_decode(str_t in, void *out, size_t cap);

#endif
