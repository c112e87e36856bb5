/*
 * html.h: the web pages' rendering layer, built so that escaping cannot be
 * forgotten.
 *
 * A page is written into an html_t by calls that each say what they write:
 *   HTML(h, "<p>")      markup: a string literal only (the macro pastes ""
 *                       around its argument, so a variable does not compile);
 *   html_text(h, s)     a value in element content;
 *   html_attr(h, s)     a value inside a double-quoted attribute;
 *   html_url(h, s)      a value as one URL component (path segment or query
 *                       value) inside a double-quoted href/action attribute;
 *   html_int(h, n)      a number.
 * There is no call that writes a dynamic string unescaped. Text and
 * attributes escape & < > " ' (so a value can never end an element or an
 * attribute), with core's buf_append_html (invalid UTF-8 becomes U+FFFD,
 * control characters XML does not allow are dropped).
 * URL components are percent-encoded except the unreserved characters of
 * RFC 3986, so a value cannot become a scheme ("javascript:"), a new query
 * parameter or a fragment.
 *
 * Output is bounded (max bytes, given at html_init); once a write fails the
 * builder remembers it and html_failed() says so: the page is then not sent.
 */
#ifndef DUPLA_WEB_HTML_H
#define DUPLA_WEB_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

#define HTML_PAGE_MAX (4u * 1024 * 1024) /* bytes of one page */

typedef struct html {
    buf_t out;
    bool failed; /* a write ran past the maximum */
} html_t;

/* An empty page of at most max bytes. Free with html_free. */
void html_init(html_t *h, size_t max);
void html_free(html_t *h);
bool html_failed(const html_t *h);
/* The markup written so far (borrowed; valid until the next write). */
str_t html_str(const html_t *h);

/* Markup from a string literal; see HTML(). Not for dynamic text. */
void html_literal_(html_t *h, const char *lit, size_t len);
#define HTML(h, lit) html_literal_((h), "" lit "", sizeof("" lit "") - 1)

void html_text(html_t *h, str_t s);
void html_textc(html_t *h, const char *s); /* NUL-terminated; NULL writes nothing */
void html_attr(html_t *h, str_t s);
void html_attrc(html_t *h, const char *s);
void html_url(html_t *h, str_t s);
void html_urlc(html_t *h, const char *s);
void html_int(html_t *h, int64_t n);

#endif
