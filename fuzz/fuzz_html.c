/*
 * fuzz_html.c: the pages' HTML escaping (web/html.c over core/buf.c's
 * buf_append_html) and URL components (html_url). The input is written as
 * element text, as an attribute value and as a URL component between
 * literal markup. Properties: what a value became never holds <, >, ", '
 * or a & that does not open one of the five entities the escape writes;
 * it is valid UTF-8; for valid UTF-8 input, undoing the five entities
 * gives the input without its control characters (tab, CR and LF kept);
 * a URL component holds only unreserved characters and %XX escapes and
 * decodes to the input exactly.
 */
#include <string.h>

#include "core/encode.h"
#include "fuzz.h"
#include "web/html.h"

static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
static const char decoded[] = "&<>\"'";

/* Checks an escaped value; when want (the input) is valid UTF-8, also that
 * undoing the entities gives want without its control characters. */
static void check_escaped(str_t out, str_t want)
{
    FUZZ_CHECK(fuzz_utf8_valid(out));
    char *un = malloc(out.len + 1);
    if (!un)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < out.len;) {
        char c = out.ptr[i];
        FUZZ_CHECK(c != '<' && c != '>' && c != '"' && c != '\'');
        if (c == '&') {
            size_t k = 0, l = 0;
            for (; k < 5; k++) {
                l = strlen(entities[k]);
                if (out.len - i >= l && memcmp(out.ptr + i, entities[k], l) == 0)
                    break;
            }
            FUZZ_CHECK(k < 5);
            un[n++] = decoded[k];
            i += l;
        } else {
            un[n++] = c;
            i++;
        }
    }
    if (fuzz_utf8_valid(want)) {
        size_t m = 0;
        for (size_t i = 0; i < want.len; i++) {
            unsigned char c = (unsigned char)want.ptr[i];
            if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') {
                FUZZ_CHECK(m < n && un[m] == (char)c);
                m++;
            }
        }
        FUZZ_CHECK(m == n);
    }
    free(un);
}

static void check_url(str_t out, str_t want)
{
    size_t m = 0;
    for (size_t i = 0; i < out.len; m++) {
        unsigned char c = (unsigned char)out.ptr[i];
        unsigned char v;
        if (c == '%') {
            FUZZ_CHECK(out.len - i >= 3);
            int hi = hex_digit(out.ptr[i + 1]), lo = hex_digit(out.ptr[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            v = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~');
            v = c;
            i++;
        }
        FUZZ_CHECK(m < want.len && (unsigned char)want.ptr[m] == v);
    }
    FUZZ_CHECK(m == want.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t in = fuzz_str(data, size);
    html_t h;
    html_init(&h, HTML_PAGE_MAX);
    HTML(&h, "<p>");
    size_t a = html_str(&h).len;
    html_text(&h, in);
    size_t b = html_str(&h).len;
    HTML(&h, "</p><a title=\"");
    size_t c = html_str(&h).len;
    html_attr(&h, in);
    size_t d = html_str(&h).len;
    HTML(&h, "\" href=\"/s?q=");
    size_t e = html_str(&h).len;
    html_url(&h, in);
    size_t f = html_str(&h).len;
    HTML(&h, "\">x</a>");
    FUZZ_CHECK(!html_failed(&h));
    str_t all = html_str(&h);
    check_escaped(str_sub(all, a, b - a), in);
    check_escaped(str_sub(all, c, d - c), in);
    check_url(str_sub(all, e, f - e), in);
    html_free(&h);
    return 0;
}
