/*
 * encode.c: hex, percent-encoding and base64url, strict on input.
 */
#include "core/encode.h"

#include <stdint.h>

static const char hexdig[] = "0123456789abcdef";

void hex_encode(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hex_is_lower(str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (hex_digit(s.ptr[i]) < 0 || (s.ptr[i] >= 'A' && s.ptr[i] <= 'F'))
            return false;
    return true;
}

long hex_decode(str_t hex, void *out, size_t cap)
{
    if (hex.len % 2 || hex.len / 2 > cap)
        return -1;
    unsigned char *o = out;
    for (size_t i = 0; i < hex.len; i += 2) {
        int hi = hex_digit(hex.ptr[i]), lo = hex_digit(hex.ptr[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(hex.len / 2);
}

int pct_decode(str_t raw, unsigned flags, arena_t *a, str_t *out)
{
    char *o = arena_alloc(a, raw.len + 1);
    if (!o)
        return PCT_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.ptr[i];
        if (c == '%') {
            if (raw.len - i < 3)
                return PCT_BAD_ESCAPE;
            int hi = hex_digit(raw.ptr[i + 1]), lo = hex_digit(raw.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return PCT_BAD_ESCAPE;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && (flags & PCT_PLUS_SPACE)) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f) {
            bool line = c == '\t' || c == '\r' || c == '\n';
            if (!line || !(flags & PCT_ALLOW_LINES))
                return PCT_CONTROL;
        }
        o[n++] = (char)c;
    }
    o[n] = '\0';
    str_t s = {o, n};
    if (!utf8_valid(s))
        return PCT_BAD_UTF8;
    *out = s;
    return PCT_OK;
}

const char *pct_status_text(int status)
{
    switch (status) {
    case PCT_OK:
        return "no error";
    case PCT_BAD_ESCAPE:
        return "a malformed percent escape";
    case PCT_CONTROL:
        return "a control character";
    case PCT_BAD_UTF8:
        return "invalid UTF-8";
    default:
        return "out of memory";
    }
}

void pct_encode_byte(unsigned char c, char out[4])
{
    static const char upper[] = "0123456789ABCDEF";
    out[0] = '%';
    out[1] = upper[c >> 4];
    out[2] = upper[c & 15];
    out[3] = '\0';
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64url_encoded_size(size_t n)
{
    return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0) + 1;
}

size_t base64url_encode(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long base64url_decode(str_t in, void *out, size_t cap)
{
    if (in.len % 4 == 1)
        return -1;
    size_t outlen = in.len / 4 * 3 + (in.len % 4 ? in.len % 4 - 1 : 0);
    if (outlen > cap)
        return -1;
    unsigned char *o = out;
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in.len; i++) {
        int v = b64val(in.ptr[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[j++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (acc != 0)
        return -1;
    return (long)j;
}
