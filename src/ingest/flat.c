/*
 * flat.c: ingest's own reader of a common record line.
 *
 * Almost every delivered line is one JSON object whose members are scalars
 * written without escapes. Reading such a line into a jansson tree (a hash
 * table per object, an allocation per value) was 40 % of ingest's time
 * (bench/ingest.sh, perf). This reader walks the bytes once and points
 * into them: keys and strings are borrowed, numbers converted in place.
 *
 * It reads a strict subset of what jansson reads (with
 * JSON_REJECT_DUPLICATES), and for that subset gives the same values:
 * jansson's number grammar (an integer unless there is a fraction or an
 * exponent; strtoll and strtod), strings of valid UTF-8 with no control
 * character, the four white-space characters, nothing after the object.
 * Anything else (a nested value, an escape, a duplicate key, a number
 * jansson refuses, bad UTF-8, any syntax error) makes it answer false, and
 * the caller reads the line with jansson, whose errors name the column.
 * The fuzz target ndjson checks the two readers against each other.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/internal.h"

#define FLAT_NUMBER_MAX 64 /* longer numbers go to jansson */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A string without escapes or control characters, valid UTF-8; p is past
 * the opening quote. Returns the position past the closing quote, or NULL. */
static const char *read_string(const char *p, const char *end, str_t *out)
{
    const char *s = p;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == '\\')
            return NULL;
        p++;
    }
    if (p == end)
        return NULL;
    *out = (str_t){s, (size_t)(p - s)};
    return utf8_valid(*out) ? p + 1 : NULL;
}

/* A number by jansson's grammar and conversions; NULL for anything it
 * would refuse (or that this reader leaves to it). */
static const char *read_number(const char *p, const char *end, struct catalog_json *v)
{
    const char *s = p;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return NULL;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return NULL; /* a leading zero */
    } else if (is_digit(*p)) {
        while (p < end && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    bool real = false;
    if (p < end && *p == '.') {
        real = true;
        p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    size_t n = (size_t)(p - s);
    if (n >= FLAT_NUMBER_MAX)
        return NULL;
    char text[FLAT_NUMBER_MAX];
    memcpy(text, s, n);
    text[n] = '\0';
    char *stop;
    errno = 0;
    if (!real) {
        long long x = strtoll(text, &stop, 10);
        if (errno == ERANGE || stop != text + n)
            return NULL; /* jansson: "too big integer" */
        v->kind = CATALOG_JSON_INTEGER;
        v->i = x;
    } else {
        double d = strtod(text, &stop);
        if (stop != text + n || ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE))
            return NULL; /* jansson: "real number overflow" */
        v->kind = CATALOG_JSON_REAL;
        v->d = d;
    }
    return p;
}

static const char *read_literal(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static bool same_key(str_t a, str_t b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

bool ingest_flat_read(str_t line, struct ingest_flat *out)
{
    out->n = 0;
    const char *p = line.ptr, *end = line.ptr + line.len;
    p = skip_ws(p, end);
    if (p == end || *p != '{')
        return false;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p == end || *p != '"' || out->n == INGEST_FLAT_MAX)
                return false;
            struct ingest_flat_member *m = &out->m[out->n];
            if (!(p = read_string(p + 1, end, &m->key)))
                return false;
            for (size_t i = 0; i < out->n; i++)
                if (same_key(out->m[i].key, m->key))
                    return false; /* jansson: "duplicate object key" */
            p = skip_ws(p, end);
            if (p == end || *p != ':')
                return false;
            p = skip_ws(p + 1, end);
            if (p == end)
                return false;
            m->v = (struct catalog_json){.kind = CATALOG_JSON_NULL};
            switch (*p) {
            case '"':
                m->v.kind = CATALOG_JSON_STRING;
                p = read_string(p + 1, end, &m->v.s);
                break;
            case 't':
                m->v = (struct catalog_json){.kind = CATALOG_JSON_BOOLEAN, .i = 1};
                p = read_literal(p, end, "true", 4);
                break;
            case 'f':
                m->v = (struct catalog_json){.kind = CATALOG_JSON_BOOLEAN, .i = 0};
                p = read_literal(p, end, "false", 5);
                break;
            case 'n':
                p = read_literal(p, end, "null", 4);
                break;
            default:
                p = read_number(p, end, &m->v); /* NULL for '[', '{' and the rest */
            }
            if (!p)
                return false;
            out->n++;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return false;
        }
    }
    return skip_ws(p, end) == end;
}
