/*
 * str.c: length-carrying string helpers. Nothing here allocates.
 */
#include "core/str.h"

#include <string.h>

str_t str_from_cstr(const char *s)
{
    if (s == NULL)
        return (str_t){"", 0};
    return (str_t){s, strlen(s)};
}

str_t str_from_bounded(const char *s, size_t max)
{
    if (s == NULL)
        return (str_t){"", 0};
    return (str_t){s, strnlen(s, max)};
}

bool str_eq(str_t a, str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool str_eq_cstr(str_t a, const char *b)
{
    return str_eq(a, str_from_cstr(b));
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

bool str_eq_nocase(str_t a, str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower(a.ptr[i]) != ascii_lower(b.ptr[i]))
            return false;
    return true;
}

bool str_has_prefix(str_t s, str_t prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

bool str_ct_eq(str_t a, str_t b)
{
    /* Compare over the longer length so that the time does not reveal where
     * the first difference is; a length mismatch still fails. */
    size_t n = a.len > b.len ? a.len : b.len;
    unsigned char diff = (unsigned char)(a.len != b.len);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < a.len ? (unsigned char)a.ptr[i] : 0;
        unsigned char y = i < b.len ? (unsigned char)b.ptr[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

str_t str_sub(str_t s, size_t off, size_t len)
{
    if (off > s.len)
        off = s.len;
    if (len > s.len - off)
        len = s.len - off;
    return (str_t){s.ptr + off, len};
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

str_t str_trim(str_t s)
{
    while (s.len > 0 && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

bool str_split(str_t s, char c, str_t *head, str_t *tail)
{
    const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;
    if (p == NULL) {
        *head = s;
        *tail = (str_t){s.ptr + s.len, 0};
        return false;
    }
    size_t at = (size_t)(p - s.ptr);
    *head = (str_t){s.ptr, at};
    *tail = (str_t){p + 1, s.len - at - 1};
    return true;
}

bool str_is_digits(str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

int str_to_int64(str_t s, int64_t *out)
{
    bool neg = false;
    if (s.len > 0 && s.ptr[0] == '-') {
        neg = true;
        s = str_sub(s, 1, s.len - 1);
    }
    if (!str_is_digits(s) || s.len > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        uint64_t d = (uint64_t)(s.ptr[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (!neg && v > (uint64_t)INT64_MAX)
        return -1;
    if (neg && v > (uint64_t)INT64_MAX + 1)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int str_copy(str_t s, char *out, size_t cap)
{
    if (cap == 0)
        return -1;
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(out, s.ptr, n);
    out[n] = '\0';
    return n == s.len ? 0 : -1;
}

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = p[0];
    size_t len;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

bool utf8_valid(str_t s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_seq_len(p + i, s.len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
