/*
 * buf.c: the bounded buffer, and JSON string escaping for streamed output.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"

void buf_init(buf_t *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return DUPLA_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return DUPLA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(buf_t *b, str_t s)
{
    return buf_append(b, s.ptr, s.len);
}

int buf_append_cstr(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    /* Formatted into the spare room first: most pieces fit, and then the
     * format runs once instead of twice (measure, then write). The room
     * never reaches past the maximum (cap is at most max + 1). */
    size_t room = b->data ? b->cap - b->len : 0;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n >= 0 && (size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (b->data)
        b->data[b->len] = '\0'; /* what a cut-off try wrote is not the buffer's */
    if (n < 0)
        return DUPLA_EINTERNAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_append_int(buf_t *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_append_json_string(buf_t *b, str_t s)
{
    size_t start = b->len;
    int rc = buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (rc == 0 && i < s.len) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            rc = buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < s.len && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
                j++;
            rc = buf_append(b, s.ptr + i, j - i);
            i = j;
        } else {
            size_t n = utf8_seq_len(p + i, s.len - i);
            if (n == 0) {
                rc = buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                rc = buf_append(b, s.ptr + i, n);
                i += n;
            }
        }
    }
    if (rc == 0)
        rc = buf_append(b, "\"", 1);
    if (rc != 0 && b->data) {
        b->len = start; /* all or nothing */
        b->data[start] = '\0';
    }
    return rc;
}

int buf_append_html(buf_t *b, str_t s)
{
    size_t start = b->len;
    const unsigned char *p = (const unsigned char *)s.ptr;
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < s.len) {
        unsigned char c = p[i];
        const char *ent = NULL;
        switch (c) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&#39;";
            break;
        default:
            break;
        }
        if (ent) {
            rc = buf_append_cstr(b, ent);
            i++;
        } else if (c < 0x20) {
            if (c == '\t' || c == '\n' || c == '\r')
                rc = buf_append(b, s.ptr + i, 1);
            i++;
        } else if (c < 0x80) {
            rc = buf_append(b, s.ptr + i, 1);
            i++;
        } else {
            size_t n = utf8_seq_len(p + i, s.len - i);
            if (n == 0) {
                rc = buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                rc = buf_append(b, s.ptr + i, n);
                i += n;
            }
        }
    }
    if (rc != 0 && b->data) {
        b->len = start; /* all or nothing */
        b->data[start] = '\0';
    }
    return rc;
}

str_t buf_str(const buf_t *b)
{
    return (str_t){b->data ? b->data : "", b->len};
}

int buf_append_csv_cell(buf_t *b, str_t s)
{
    /* memchr, not strchr: strchr finds a NUL first byte too (its
     * terminator), which put an apostrophe before a cell starting with NUL
     * (found by fuzz/fuzz_csv.c). */
    bool quote = false, formula = s.len && memchr("=+-@", s.ptr[0], 4) != NULL;
    for (size_t i = 0; i < s.len && !quote; i++)
        quote = s.ptr[i] == '"' || s.ptr[i] == ',' || s.ptr[i] == '\n' || s.ptr[i] == '\r' ||
                s.ptr[i] == ';';
    int rc = quote ? buf_append(b, "\"", 1) : 0;
    if (!rc && formula)
        rc = buf_append(b, "'", 1);
    for (size_t i = 0, from = 0; !rc && i <= s.len; i++) {
        if (i == s.len || s.ptr[i] == '"') {
            rc = buf_append(b, s.ptr + from, i - from);
            if (!rc && i < s.len)
                rc = buf_append(b, "\"\"", 2);
            from = i + 1;
        }
    }
    if (!rc && quote)
        rc = buf_append(b, "\"", 1);
    return rc;
}

int buf_append_hex(buf_t *b, const void *data, size_t n)
{
    /* In chunks through hex_encode, so that there is one hex writer. */
    const unsigned char *p = data;
    size_t start = b->len;
    char chunk[2 * 64 + 1];
    while (n > 0) {
        size_t k = n < 64 ? n : 64;
        hex_encode(p, k, chunk);
        int rc = buf_append(b, chunk, 2 * k);
        if (rc) {
            b->len = start;
            if (b->data)
                b->data[start] = '\0';
            return rc;
        }
        p += k;
        n -= k;
    }
    return 0;
}
