/*
 * encode.h: hex and base64url (RFC 4648 section 5, no padding) codecs.
 */
#ifndef DUPLA_CORE_ENCODE_H
#define DUPLA_CORE_ENCODE_H

#include <stddef.h>

#include "core/str.h"

/* Writes 2n lowercase hex digits and a NUL to out (2n+1 bytes). */
void hex_encode(const void *data, size_t n, char *out);
/* Decodes hex into out (cap bytes). Returns the byte count, or -1. */
long hex_decode(str_t hex, void *out, size_t cap);

/* Bytes needed for base64url of n bytes, without padding, plus a NUL. */
size_t base64url_encoded_size(size_t n);
/* Writes base64url without padding and a NUL into out. Returns its length. */
size_t base64url_encode(const void *data, size_t n, char *out);
/* Decodes base64url (no padding expected; padding refused) into out (cap
 * bytes). Returns the byte count, or -1 on a bad character or length. */
long base64url_decode(str_t in, void *out, size_t cap);

#endif
