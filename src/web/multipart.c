/*
 * multipart.c: the strict multipart/form-data reader (contract in
 * multipart.h). One pass over the body: find each delimiter with memmem,
 * read the part's header lines (bounded), take the bytes up to the next
 * delimiter. The messages are Danish because they end on a page.
 */
#include <string.h>

#include "web/multipart.h"

#define CRLF "\r\n"

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 2046's bchars. */
static bool is_bchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
}

/* A byte a header value may hold: visible ASCII, space, tab, or any byte of
 * a UTF-8 sequence (browsers send file names raw). */
static bool is_header_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static str_t skip_ows(str_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s = str_sub(s, 1, s.len - 1);
    return s;
}

static str_t token(str_t *s)
{
    size_t n = 0;
    while (n < s->len && is_tchar((unsigned char)s->ptr[n]))
        n++;
    str_t t = str_sub(*s, 0, n);
    *s = str_sub(*s, n, s->len - n);
    return t;
}

/* The next "; name=value" of a header value, from *s. 1 with name and value
 * (a quoted value without its quotes), 0 at the end, -1 when malformed. A
 * quoted value ends at the next '"' (as the HTML standard sends them:
 * '"', CR and LF percent-encoded, a backslash is itself). */
static int next_param(str_t *s, str_t *name, str_t *value)
{
    *s = skip_ows(*s);
    if (s->len == 0)
        return 0;
    if (s->ptr[0] != ';')
        return -1;
    *s = skip_ows(str_sub(*s, 1, s->len - 1));
    *name = token(s);
    if (name->len == 0 || s->len == 0 || s->ptr[0] != '=')
        return -1;
    *s = str_sub(*s, 1, s->len - 1);
    if (s->len && s->ptr[0] == '"') {
        const char *end = memchr(s->ptr + 1, '"', s->len - 1);
        if (!end)
            return -1;
        size_t n = (size_t)(end - (s->ptr + 1));
        *value = str_sub(*s, 1, n);
        *s = str_sub(*s, n + 2, s->len - n - 2);
    } else {
        *value = token(s);
        if (value->len == 0)
            return -1;
    }
    return 1;
}

bool multipart_is_form_data(str_t content_type)
{
    str_t s = skip_ows(content_type);
    str_t type = token(&s);
    if (s.len == 0 || s.ptr[0] != '/')
        return false;
    s = str_sub(s, 1, s.len - 1);
    str_t sub = token(&s);
    return str_eq_nocase(type, STR("multipart")) && str_eq_nocase(sub, STR("form-data"));
}

int multipart_boundary(str_t content_type, str_t *boundary, err_t *err)
{
    if (!multipart_is_form_data(content_type))
        return err_set(err, DUPLA_EINVAL, "Formularen er ikke sendt som multipart/form-data.");
    str_t s = skip_ows(content_type);
    token(&s);
    s = str_sub(s, 1, s.len - 1);
    token(&s);
    str_t name, value;
    bool found = false;
    int r;
    while ((r = next_param(&s, &name, &value)) == 1) {
        if (!str_eq_nocase(name, STR("boundary")))
            continue;
        if (found)
            return err_set(err, DUPLA_EINVAL, "Formularen angiver to afgrænsere (boundary).");
        found = true;
        *boundary = value;
    }
    if (r < 0)
        return err_set(err, DUPLA_EINVAL, "Formularens Content-Type kan ikke læses.");
    if (!found)
        return err_set(err, DUPLA_EINVAL, "Formularen mangler sin afgrænser (boundary).");
    if (boundary->len == 0 || boundary->len > MULTIPART_BOUNDARY_MAX ||
        boundary->ptr[boundary->len - 1] == ' ')
        return err_set(err, DUPLA_EINVAL, "Formularens afgrænser (boundary) er ugyldig.");
    for (size_t i = 0; i < boundary->len; i++)
        if (!is_bchar((unsigned char)boundary->ptr[i]))
            return err_set(err, DUPLA_EINVAL, "Formularens afgrænser (boundary) er ugyldig.");
    return 0;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] into p. */
static int disposition(str_t v, const struct multipart_limits *lim, struct multipart_part *p,
                       err_t *err)
{
    str_t s = v;
    str_t kind = token(&s);
    if (!str_eq_nocase(kind, STR("form-data")))
        return err_set(err, DUPLA_EINVAL, "Et felt i formularen er ikke form-data.");
    bool have_name = false;
    str_t name, value;
    int r;
    while ((r = next_param(&s, &name, &value)) == 1) {
        if (str_eq_nocase(name, STR("name"))) {
            if (have_name)
                return err_set(err, DUPLA_EINVAL, "Et felt i formularen har to navne.");
            have_name = true;
            p->name = value;
        } else if (str_eq_nocase(name, STR("filename"))) {
            if (p->is_file)
                return err_set(err, DUPLA_EINVAL, "Et felt i formularen har to filnavne.");
            p->is_file = true;
            p->filename = value;
        } else {
            /* filename* (RFC 7578 4.2: not to be used) and anything else. */
            return err_set(err, DUPLA_EINVAL, "Et felt i formularen har en ukendt parameter.");
        }
    }
    if (r < 0)
        return err_set(err, DUPLA_EINVAL, "Et felts Content-Disposition kan ikke læses.");
    if (!have_name || p->name.len == 0)
        return err_set(err, DUPLA_EINVAL, "Et felt i formularen har intet navn.");
    if (p->name.len > lim->max_name)
        return err_set(err, DUPLA_ELIMIT, "Et feltnavn i formularen er for langt (højst %zu tegn).",
                       lim->max_name);
    if (p->filename.len > lim->max_filename)
        return err_set(err, DUPLA_ELIMIT, "Filnavnet er for langt (højst %zu tegn).",
                       lim->max_filename);
    return 0;
}

/* The header lines of one part (without the blank line) into p. */
static int part_headers(str_t block, const struct multipart_limits *lim, struct multipart_part *p,
                        err_t *err)
{
    bool have_cd = false, have_ct = false;
    str_t rest = block;
    while (rest.len) {
        const char *eol = memmem(rest.ptr, rest.len, CRLF, 2);
        size_t n = eol ? (size_t)(eol - rest.ptr) : rest.len;
        str_t line = str_sub(rest, 0, n);
        rest = eol ? str_sub(rest, n + 2, rest.len - n - 2) : STR("");
        for (size_t i = 0; i < line.len; i++)
            if (!is_header_byte((unsigned char)line.ptr[i]))
                return err_set(err, DUPLA_EINVAL, "Et felts hoved indeholder et kontroltegn.");
        str_t name = token(&line);
        if (name.len == 0 || line.len == 0 || line.ptr[0] != ':')
            return err_set(err, DUPLA_EINVAL, "Et felts hoved kan ikke læses.");
        str_t value = str_trim(str_sub(line, 1, line.len - 1));
        if (str_eq_nocase(name, STR("Content-Disposition"))) {
            if (have_cd)
                return err_set(err, DUPLA_EINVAL, "Et felt har to Content-Disposition.");
            have_cd = true;
            int rc = disposition(value, lim, p, err);
            if (rc)
                return rc;
        } else if (str_eq_nocase(name, STR("Content-Type"))) {
            if (have_ct)
                return err_set(err, DUPLA_EINVAL, "Et felt har to Content-Type.");
            have_ct = true;
            p->content_type = value;
        } else {
            return err_set(err, DUPLA_EINVAL, "Et felt i formularen har et ukendt hoved.");
        }
    }
    if (!have_cd)
        return err_set(err, DUPLA_EINVAL, "Et felt i formularen mangler Content-Disposition.");
    return 0;
}

static bool starts(str_t s, const char *lit, size_t n)
{
    return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

int multipart_parse(arena_t *a, str_t content_type, str_t body, const struct multipart_limits *lim,
                    struct multipart *out, err_t *err)
{
    out->n = 0;
    out->parts = NULL;
    str_t boundary;
    int rc = multipart_boundary(content_type, &boundary, err);
    if (rc)
        return rc;
    if (body.len > lim->max_body)
        return err_set(err, DUPLA_ELIMIT, "Formularen er for stor (højst %zu bytes).",
                       lim->max_body);
    /* The delimiter as it appears between parts: CRLF "--" boundary. */
    size_t dlen = 4 + boundary.len;
    char *delim = arena_alloc(a, dlen);
    out->parts = arena_alloc(a, (lim->max_parts ? lim->max_parts : 1) * sizeof *out->parts);
    if (!delim || !out->parts)
        return err_set(err, DUPLA_ENOMEM, "Formularen kunne ikke læses (ikke nok hukommelse).");
    memcpy(delim, CRLF "--", 4);
    memcpy(delim + 4, boundary.ptr, boundary.len);

    /* The body opens with the first delimiter, without its CRLF. */
    if (body.len < dlen - 2 || memcmp(body.ptr, delim + 2, dlen - 2) != 0)
        return err_set(err, DUPLA_EINVAL, "Formularen begynder ikke med sin afgrænser (boundary).");
    str_t rest = str_sub(body, dlen - 2, body.len - (dlen - 2));
    for (;;) {
        /* Just after a delimiter: "--" closes, CRLF opens a part. */
        if (starts(rest, "--", 2)) {
            rest = str_sub(rest, 2, rest.len - 2);
            if (rest.len == 0 || (rest.len == 2 && starts(rest, CRLF, 2)))
                return 0;
            return err_set(err, DUPLA_EINVAL, "Formularen har indhold efter sin afslutning.");
        }
        if (rest.len == 0)
            return err_set(err, DUPLA_EINVAL,
                           "Formularen er afkortet: den mangler sin "
                           "afslutning.");
        if (!starts(rest, CRLF, 2))
            return err_set(err, DUPLA_EINVAL,
                           "Formularens afgrænser (boundary) efterfølges af "
                           "uventede tegn.");
        rest = str_sub(rest, 2, rest.len - 2);
        if (out->n >= lim->max_parts)
            return err_set(err, DUPLA_ELIMIT, "Formularen har for mange felter (højst %zu).",
                           lim->max_parts);
        struct multipart_part *p = &out->parts[out->n];
        memset(p, 0, sizeof *p);
        p->filename = p->content_type = STR("");
        if (starts(rest, CRLF, 2))
            return err_set(err, DUPLA_EINVAL, "Et felt i formularen mangler Content-Disposition.");
        /* The header lines end at the first blank line, within the limit. */
        size_t window = rest.len < lim->max_header_bytes + 4 ? rest.len : lim->max_header_bytes + 4;
        const char *hend = memmem(rest.ptr, window, CRLF CRLF, 4);
        if (!hend) {
            if (window < rest.len)
                return err_set(err, DUPLA_ELIMIT,
                               "Et felts hoveder i formularen er for lange (højst %zu bytes).",
                               lim->max_header_bytes);
            return err_set(err, DUPLA_EINVAL,
                           "Formularen er afkortet eller forkert opbygget (et felts hoveder "
                           "slutter ikke).");
        }
        size_t hlen = (size_t)(hend - rest.ptr);
        if ((rc = part_headers(str_sub(rest, 0, hlen), lim, p, err)))
            return rc;
        rest = str_sub(rest, hlen + 4, rest.len - hlen - 4);
        const char *next = rest.len >= dlen ? memmem(rest.ptr, rest.len, delim, dlen) : NULL;
        if (!next)
            return err_set(err, DUPLA_EINVAL, "Formularen er afkortet: et felt slutter ikke.");
        size_t n = (size_t)(next - rest.ptr);
        p->data = str_sub(rest, 0, n);
        if (!p->is_file && memchr(p->data.ptr, '\0', p->data.len))
            return err_set(err, DUPLA_EINVAL, "Et tekstfelt i formularen indeholder et NUL-tegn.");
        out->n++;
        rest = str_sub(rest, n + dlen, rest.len - n - dlen);
    }
}

const struct multipart_part *multipart_get(const struct multipart *m, const char *name)
{
    for (size_t i = 0; m && i < m->n; i++)
        if (str_eq_cstr(m->parts[i].name, name))
            return &m->parts[i];
    return NULL;
}
