/* Unit tests of the strict multipart/form-data reader (src/web/multipart.c):
 * what browsers send, boundary edge cases, truncated, oversized and hostile
 * bodies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "web/multipart.h"

#define CT "multipart/form-data; boundary=----WebKitFormBoundaryx7Yq"
#define B  "----WebKitFormBoundaryx7Yq"

static const struct multipart_limits lim = {
    .max_body = 4096, .max_parts = 4, .max_header_bytes = 256, .max_name = 16, .max_filename = 32};

static arena_t *a;
static struct multipart m;
static err_t err;

static void setup(void)
{
    a = arena_new(1 << 20);
    memset(&m, 0, sizeof m);
    err_clear(&err);
}
static void teardown(void)
{
    arena_free(a);
}
TestSuite(multipart, .init = setup, .fini = teardown);

static int parse_ct(const char *ct, const char *body, size_t len)
{
    return multipart_parse(a, str_from_cstr(ct), (str_t){body, len}, &lim, &m, &err);
}
#define PARSE(body) parse_ct(CT, body, sizeof(body) - 1)

static void assert_part(size_t i, const char *name, const char *data, size_t len)
{
    cr_assert(i < m.n);
    cr_assert(str_eq_cstr(m.parts[i].name, name), "name %.*s", STR_FMT(m.parts[i].name));
    cr_assert_eq(m.parts[i].data.len, len, "length %zu", m.parts[i].data.len);
    cr_assert_eq(memcmp(m.parts[i].data.ptr, data, len), 0);
}

Test(multipart, browser_form_with_text_and_file)
{
    static const char body[] = "--" B "\r\n"
                               "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                               "tok\r\n"
                               "--" B "\r\n"
                               "Content-Disposition: form-data; name=\"certificate_file\"; "
                               "filename=\"sys.pem\"\r\n"
                               "Content-Type: application/x-x509-ca-cert\r\n\r\n"
                               "-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\n"
                               "\r\n--" B "--\r\n";
    cr_assert_eq(PARSE(body), 0, "%s", err.detail);
    cr_assert_eq(m.n, 2);
    assert_part(0, "csrf", "tok", 3);
    cr_assert(!m.parts[0].is_file);
    cr_assert_eq(m.parts[0].content_type.len, 0);
    cr_assert(m.parts[1].is_file);
    cr_assert(str_eq_cstr(m.parts[1].filename, "sys.pem"));
    cr_assert(str_eq_cstr(m.parts[1].content_type, "application/x-x509-ca-cert"));
    cr_assert(str_has_prefix(m.parts[1].data, STR("-----BEGIN")));
    cr_assert_eq(m.parts[1].data.ptr[m.parts[1].data.len - 1], '\n', "the file's own newline kept");
    cr_assert_not_null(multipart_get(&m, "certificate_file"));
    cr_assert_null(multipart_get(&m, "certificate"));
}

Test(multipart, empty_file_input_and_binary_file)
{
    static const char body[] =
        "--" B "\r\n"
        "Content-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
        "\r\n--" B "\r\n"
        "content-disposition: FORM-DATA; NAME=der; filename=\"a.der\"\r\n\r\n"
        "\x30\x82\0\r\n-\xff"
        "\r\n--" B "--";
    cr_assert_eq(PARSE(body), 0, "%s", err.detail);
    cr_assert_eq(m.n, 2);
    cr_assert(m.parts[0].is_file && m.parts[0].filename.len == 0 && m.parts[0].data.len == 0);
    assert_part(1, "der", "\x30\x82\0\r\n-\xff", 7);
}

Test(multipart, no_parts_and_quoted_boundary)
{
    cr_assert_eq(parse_ct("Multipart/Form-Data;boundary=\"a b'()+_,-./:=?\"; charset=utf-8",
                          "--a b'()+_,-./:=?--\r\n", 21),
                 0, "%s", err.detail);
    cr_assert_eq(m.n, 0);
}

Test(multipart, boundary_inside_data_without_crlf_is_data)
{
    /* "--B" not preceded by CRLF is content, as is CRLF "--" and another word. */
    static const char body[] = "--" B "\r\n"
                               "Content-Disposition: form-data; name=\"x\"\r\n\r\n"
                               "a--" B "\r\n-- b"
                               "\r\n--" B "--";
    cr_assert_eq(PARSE(body), 0, "%s", err.detail);
    assert_part(0, "x", "a--" B "\r\n-- b", sizeof("a--" B "\r\n-- b") - 1);
}

Test(multipart, boundary_parameter_edge_cases)
{
    str_t b;
    char max[128];
    snprintf(max, sizeof max, "multipart/form-data; boundary=%070d", 0);
    cr_assert_eq(multipart_boundary(str_from_cstr(max), &b, &err), 0, "%s", err.detail);
    cr_assert_eq(b.len, 70);
    snprintf(max, sizeof max, "multipart/form-data; boundary=%071d", 0);
    cr_assert_eq(multipart_boundary(str_from_cstr(max), &b, &err), DUPLA_EINVAL);
    static const char *const bad[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/form-data; boundary=\"semi;colon\"",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data; boundary=\"unterminated",
        "multipart/form-data; boundary",
        "multipart/form-data; ;",
        "multipart/mixed; boundary=abc",
        "application/x-www-form-urlencoded",
        "multipart/form-dataX; boundary=abc",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(multipart_boundary(str_from_cstr(bad[i]), &b, &err), DUPLA_EINVAL, "%s",
                     bad[i]);
    cr_assert(multipart_is_form_data(STR("multipart/form-data")));
    cr_assert(!multipart_is_form_data(STR("text/plain")));
}

Test(multipart, truncated_bodies_are_refused)
{
    static const char full[] = "--" B "\r\n"
                               "Content-Disposition: form-data; name=\"x\"\r\n\r\n"
                               "value"
                               "\r\n--" B "--\r\n";
    /* Every proper prefix fails except the one that lacks only the last CRLF. */
    for (size_t n = 0; n < sizeof full - 1; n++) {
        int rc = parse_ct(CT, full, n);
        if (n == sizeof full - 3)
            cr_assert_eq(rc, 0, "prefix %zu: %s", n, err.detail);
        else
            cr_assert_eq(rc, DUPLA_EINVAL, "prefix %zu parsed", n);
    }
    cr_assert_eq(parse_ct(CT, full, sizeof full - 1), 0);
}

Test(multipart, malformed_structure_is_refused)
{
    static const char *const bad[] = {
        /* a preamble */
        "junk\r\n--" B "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--" B "--",
        /* an epilogue */
        "--" B "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--" B "--\r\nmore",
        /* transport padding after the delimiter */
        "--" B "  \r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--" B "--",
        /* a longer boundary in the body */
        "--" B "X\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--" B "--",
        /* bare LF line ends */
        "--" B "\nContent-Disposition: form-data; name=\"x\"\n\nv\n--" B "--",
        /* no header at all */
        "--" B "\r\n\r\nv\r\n--" B "--",
        /* no Content-Disposition */
        "--" B "\r\nContent-Type: text/plain\r\n\r\nv\r\n--" B "--",
        /* not form-data */
        "--" B "\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nv\r\n--" B "--",
        /* no name, empty name */
        "--" B "\r\nContent-Disposition: form-data\r\n\r\nv\r\n--" B "--",
        "--" B "\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n--" B "--",
        /* two names, two filenames, filename*, an unknown parameter */
        "--" B "\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--" B "--",
        "--" B "\r\nContent-Disposition: form-data; name=a; filename=x; filename=y\r\n\r\nv\r\n--" B
        "--",
        "--" B "\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''x\r\n\r\nv\r\n--" B
        "--",
        "--" B "\r\nContent-Disposition: form-data; name=a; size=3\r\n\r\nv\r\n--" B "--",
        /* unterminated quote */
        "--" B "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--" B "--",
        /* two Content-Disposition, two Content-Type, an unknown header */
        "--" B "\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
        "name=b\r\n\r\nv\r\n--" B "--",
        "--" B "\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a/b\r\nContent-Type: "
        "a/b\r\n\r\nv\r\n--" B "--",
        "--" B "\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
        "base64\r\n\r\nv\r\n--" B "--",
        /* a folded header line, a line without a colon */
        "--" B "\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n--" B "--",
        "--" B "\r\nContent-Disposition form-data; name=a\r\n\r\nv\r\n--" B "--",
        /* empty body */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        cr_assert_eq(parse_ct(CT, bad[i], strlen(bad[i])), DUPLA_EINVAL, "case %zu parsed", i);
        cr_assert(err.detail[0], "case %zu: a message", i);
    }
}

Test(multipart, hostile_bytes_are_refused)
{
    /* A NUL in a text field, control characters in a header. */
    static const char nul[] = "--" B "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\na\0b"
                              "\r\n--" B "--";
    cr_assert_eq(PARSE(nul), DUPLA_EINVAL);
    cr_assert(strstr(err.detail, "NUL"), "%s", err.detail);
    static const char ctl[] = "--" B "\r\nContent-Disposition: form-data; name=\"x\x01\"\r\n\r\na"
                              "\r\n--" B "--";
    cr_assert_eq(PARSE(ctl), DUPLA_EINVAL);
    static const char nulhdr[] = "--" B "\r\nContent-Disposition: form-data; name=\"x\0\"\r\n\r\na"
                                 "\r\n--" B "--";
    cr_assert_eq(PARSE(nulhdr), DUPLA_EINVAL);
    /* A UTF-8 file name is kept as sent (escaped where shown). */
    static const char utf8[] = "--" B "\r\nContent-Disposition: form-data; name=f; "
                               "filename=\"<sø>.pem\"\r\n\r\na\r\n--" B "--";
    cr_assert_eq(PARSE(utf8), 0, "%s", err.detail);
    cr_assert(str_eq_cstr(m.parts[0].filename, "<sø>.pem"));
}

Test(multipart, limits_are_enforced)
{
    char body[8192];
    /* body size */
    memset(body, 'a', sizeof body);
    cr_assert_eq(parse_ct(CT, body, lim.max_body + 1), DUPLA_ELIMIT);
    cr_assert(strstr(err.detail, "for stor"), "%s", err.detail);
    /* parts: max_parts pass, one more does not */
    size_t n = 0;
    for (size_t i = 0; i < lim.max_parts + 1; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "--" B "\r\nContent-Disposition: form-data; name=p%zu\r\n\r\nv\r\n",
                              i);
    n += (size_t)snprintf(body + n, sizeof body - n, "--" B "--");
    cr_assert_eq(parse_ct(CT, body, n), DUPLA_ELIMIT);
    cr_assert(strstr(err.detail, "for mange felter"), "%s", err.detail);
    char *cut = strstr(body, "--" B "\r\nContent-Disposition: form-data; name=p4");
    n = (size_t)(cut - body) + (size_t)snprintf(cut, 64, "--" B "--");
    cr_assert_eq(parse_ct(CT, body, n), 0, "%s", err.detail);
    cr_assert_eq(m.n, lim.max_parts);
    /* header bytes */
    n = (size_t)snprintf(body, sizeof body,
                         "--" B "\r\nContent-Disposition: form-data; name=a\r\nContent-Type: %0300d"
                         "\r\n\r\nv\r\n--" B "--",
                         0);
    cr_assert_eq(parse_ct(CT, body, n), DUPLA_ELIMIT);
    cr_assert(strstr(err.detail, "hoveder"), "%s", err.detail);
    /* name and file name lengths: at the limit pass, one more does not */
    n = (size_t)snprintf(
        body, sizeof body,
        "--" B "\r\nContent-Disposition: form-data; name=%016d\r\n\r\nv\r\n--" B "--", 0);
    cr_assert_eq(parse_ct(CT, body, n), 0, "%s", err.detail);
    n = (size_t)snprintf(
        body, sizeof body,
        "--" B "\r\nContent-Disposition: form-data; name=%017d\r\n\r\nv\r\n--" B "--", 0);
    cr_assert_eq(parse_ct(CT, body, n), DUPLA_ELIMIT);
    n = (size_t)snprintf(body, sizeof body,
                         "--" B "\r\nContent-Disposition: form-data; name=f; filename=\"%033d\""
                         "\r\n\r\nv\r\n--" B "--",
                         0);
    cr_assert_eq(parse_ct(CT, body, n), DUPLA_ELIMIT);
    cr_assert(strstr(err.detail, "Filnavnet"), "%s", err.detail);
}

Test(multipart, many_delimiter_lookalikes_stay_linear)
{
    /* A body full of near-delimiters ("\r\n--" + all but the last byte of
     * the boundary) parses as one part's data. */
    static char body[4096];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "--" B "\r\nContent-Disposition: form-data; name=f; "
                                "filename=\"x\"\r\n\r\n");
    static const char near[] = "\r\n--" B;
    while (n + sizeof near + 64 < lim.max_body) {
        memcpy(body + n, near, sizeof near - 2);
        n += sizeof near - 2;
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\r\n--" B "--");
    cr_assert_eq(parse_ct(CT, body, n), 0, "%s", err.detail);
    cr_assert_eq(m.n, 1);
}

Test(multipart, mutated_bodies_parse_or_fail_cleanly)
{
    /* Deterministic mutations of a valid body (flipped, dropped and repeated
     * bytes): each either parses, with every part inside the body, or fails
     * with a message; under ASan/UBSan nothing reads outside it. */
    static const char valid[] = "--" B "\r\n"
                                "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                                "tok\r\n"
                                "--" B "\r\n"
                                "Content-Disposition: form-data; name=\"f\"; filename=\"a.pem\"\r\n"
                                "Content-Type: application/octet-stream\r\n\r\n"
                                "\x30\x82--" B "\r\n"
                                "\r\n--" B "--\r\n";
    static const char alphabet[] = "-\r\n\";=:\0ab";
    unsigned seed = 12345;
    size_t parsed = 0;
    for (int round = 0; round < 3000; round++) {
        char buf[sizeof valid * 2];
        size_t n = sizeof valid - 1;
        memcpy(buf, valid, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            switch ((seed >> 4) % 3) {
            case 0: /* replace */
                buf[at] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
                break;
            case 1: /* drop */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default: /* repeat */
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    n++;
                }
            }
        }
        /* An exact-size heap copy, so that ASan sees any read past its end. */
        char *body = malloc(n ? n : 1);
        memcpy(body, buf, n);
        arena_free(a);
        a = arena_new(1 << 16);
        err_clear(&err);
        int rc = parse_ct(CT, body, n);
        if (rc == 0) {
            parsed++;
            for (size_t i = 0; i < m.n; i++) {
                const struct multipart_part *p = &m.parts[i];
                cr_assert(p->name.len > 0);
                cr_assert(p->data.ptr >= body && p->data.ptr + p->data.len <= body + n);
                cr_assert(p->name.ptr >= body && p->name.ptr + p->name.len <= body + n);
            }
        } else {
            cr_assert(rc == DUPLA_EINVAL || rc == DUPLA_ELIMIT, "rc %d", rc);
            cr_assert(err.detail[0], "round %d: a message", round);
        }
        free(body);
    }
    cr_assert(parsed > 0 && parsed < 3000, "parsed %zu", parsed);
}
