/*
 * html.c: the escaping builder behind every web page (see html.h).
 */
#include "web/html.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/encode.h"

void html_init(html_t *h, size_t max)
{
    buf_init(&h->out, max);
    h->failed = false;
}

void html_free(html_t *h)
{
    buf_free(&h->out);
}

bool html_failed(const html_t *h)
{
    return h->failed;
}

str_t html_str(const html_t *h)
{
    return buf_str(&h->out);
}

static void put(html_t *h, const char *p, size_t n)
{
    if (!h->failed && n && buf_append(&h->out, p, n) != 0)
        h->failed = true;
}

void html_literal_(html_t *h, const char *lit, size_t len)
{
    put(h, lit, len);
}

/* Text and attribute values share the one escape of the codebase
 * (core/buf.h): the five characters that can end or open markup as
 * entities, invalid UTF-8 as U+FFFD, control characters dropped. */
static void escape(html_t *h, str_t s)
{
    if (!h->failed && s.len && buf_append_html(&h->out, s) != 0)
        h->failed = true;
}

void html_text(html_t *h, str_t s)
{
    escape(h, s);
}

void html_textc(html_t *h, const char *s)
{
    if (s)
        escape(h, str_from_cstr(s));
}

void html_attr(html_t *h, str_t s)
{
    escape(h, s);
}

void html_attrc(html_t *h, const char *s)
{
    if (s)
        escape(h, str_from_cstr(s));
}

/* RFC 3986 unreserved: ALPHA DIGIT - . _ ~ ; everything else is %XX, which
 * also leaves nothing for the attribute escape to do. */
void html_url(html_t *h, str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            put(h, (const char *)&s.ptr[i], 1);
        } else {
            char e[4];
            pct_encode_byte(c, e);
            put(h, e, 3);
        }
    }
}

void html_urlc(html_t *h, const char *s)
{
    if (s)
        html_url(h, str_from_cstr(s));
}

void html_int(html_t *h, int64_t n)
{
    char b[24];
    int len = snprintf(b, sizeof b, "%" PRId64, n);
    put(h, b, (size_t)len);
}
