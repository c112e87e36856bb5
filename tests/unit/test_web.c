/* Unit tests of the web module's escaping builder (every context: text,
 * attribute, URL) and its form parser. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "web/html.h"
#include "web/internal.h"

static char out[4096];

static const char *render(void (*fn)(html_t *, str_t), const char *in, size_t len)
{
    html_t h;
    html_init(&h, sizeof out);
    fn(&h, (str_t){in, len});
    str_t s = html_str(&h);
    cr_assert(!html_failed(&h));
    snprintf(out, sizeof out, "%.*s", STR_FMT(s));
    html_free(&h);
    return out;
}
#define R(fn, lit) render(fn, lit, sizeof(lit) - 1)

Test(html, text_escapes_markup)
{
    cr_assert_str_eq(R(html_text, "<script>alert('x')</script> & \"q\""),
                     "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
}

Test(html, text_keeps_utf8_and_whitespace)
{
    cr_assert_str_eq(R(html_text, "Årsopgørelse\tlinje\nto"), "Årsopgørelse\tlinje\nto");
}

Test(html, text_drops_control_bytes_and_nul)
{
    cr_assert_str_eq(render(html_text,
                            "a\0b\x01"
                            "c",
                            5),
                     "abc");
}

Test(html, invalid_utf8_is_replaced)
{
    cr_assert_str_eq(render(html_text,
                            "x\xff"
                            "y",
                            3),
                     "x\xef\xbf\xbd"
                     "y");
}

Test(html, attribute_cannot_be_closed)
{
    cr_assert_str_eq(R(html_attr, "\" onmouseover=\"alert(1)"),
                     "&quot; onmouseover=&quot;alert(1)");
    cr_assert_str_eq(R(html_attr, "' autofocus x='"), "&#39; autofocus x=&#39;");
}

Test(html, url_component_is_percent_encoded)
{
    cr_assert_str_eq(R(html_url, "javascript:alert(1)"), "javascript%3Aalert%281%29");
    cr_assert_str_eq(R(html_url, "a b&c=d#e/f?\"<"), "a%20b%26c%3Dd%23e%2Ff%3F%22%3C");
    cr_assert_str_eq(R(html_url, "AZaz09-._~"), "AZaz09-._~");
    cr_assert_str_eq(R(html_url, "ø"), "%C3%B8");
}

Test(html, literal_int_and_bound)
{
    html_t h;
    html_init(&h, 16);
    HTML(&h, "<p>");
    html_int(&h, -42);
    HTML(&h, "</p>");
    cr_assert(!html_failed(&h));
    cr_assert(str_eq_cstr(html_str(&h), "<p>-42</p>"));
    HTML(&h, "more than sixteen bytes");
    cr_assert(html_failed(&h), "a write past the maximum is remembered");
    html_free(&h);
}

Test(html, null_cstr_writes_nothing)
{
    html_t h;
    html_init(&h, 64);
    html_textc(&h, NULL);
    html_attrc(&h, NULL);
    html_urlc(&h, NULL);
    cr_assert_eq(html_str(&h).len, 0);
    html_free(&h);
}

Test(form, parses_and_decodes)
{
    arena_t *a = arena_new(1 << 16);
    struct form f;
    err_t err;
    cr_assert_eq(
        form_parse(a, STR("csrf=abc&name=Anne+B%C3%B8g&felt=A%2FB&felt=C%2FD&empty="), &f, &err),
        0);
    cr_assert_eq(f.n, 5);
    cr_assert(str_eq_cstr(form_get(&f, "name"), "Anne Bøg"));
    cr_assert(str_eq_cstr(form_get(&f, "felt"), "A/B"), "the first of repeated names");
    cr_assert(str_eq_cstr(f.values[3], "C/D"));
    cr_assert(str_eq_cstr(form_get(&f, "csrf"), "abc"), "the last pair is read too");
    cr_assert_eq(form_get(&f, "absent").len, 0);
    arena_free(a);
}

Test(form, refuses_bad_escapes_and_nul)
{
    arena_t *a = arena_new(1 << 16);
    struct form f;
    err_t err;
    cr_assert_neq(form_parse(a, STR("a=%zz"), &f, &err), 0);
    cr_assert_neq(form_parse(a, STR("a=%4"), &f, &err), 0);
    cr_assert_neq(form_parse(a, STR("a=x%00y"), &f, &err), 0);
    arena_free(a);
}

Test(form, errors_by_field)
{
    struct form_errors fe = {0};
    form_error(&fe, "cvr", "bad");
    form_error(&fe, "", "general");
    cr_assert_str_eq(form_error_for(&fe, "cvr"), "bad");
    cr_assert_null(form_error_for(&fe, "name"));
    cr_assert_null(form_error_for(NULL, "cvr"));
}
