/*
 * form.c: reading form posts (application/x-www-form-urlencoded) and query
 * parameters, and collecting the messages of the error summary.
 */
#include <string.h>

#include "core/encode.h"
#include "web/internal.h"

int form_parse(arena_t *a, str_t body, struct form *f, err_t *err)
{
    f->n = 0;
    size_t cap = 1;
    for (size_t i = 0; i < body.len; i++)
        cap += body.ptr[i] == '&';
    if (cap > WEB_FORM_MAX_FIELDS)
        return err_set(err, DUPLA_ELIMIT, "too many form fields");
    f->names = arena_alloc(a, cap * sizeof *f->names);
    f->values = arena_alloc(a, cap * sizeof *f->values);
    if (!f->names || !f->values)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    str_t rest = body, pair;
    while (rest.len) {
        str_split(rest, '&', &pair, &rest); /* the last: pair = rest, rest = "" */
        if (pair.len == 0)
            continue;
        str_t name, value;
        if (!str_split(pair, '=', &name, &value)) {
            name = pair;
            value = STR("");
        }
        /* Any field may be a textarea here (see form_parse in internal.h). */
        unsigned flags = PCT_PLUS_SPACE | PCT_ALLOW_LINES;
        if (pct_decode(name, PCT_PLUS_SPACE, a, &f->names[f->n]) ||
            pct_decode(value, flags, a, &f->values[f->n]))
            return err_set(err, DUPLA_EINVAL, "malformed form field");
        f->n++;
    }
    return 0;
}

str_t form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (str_eq_cstr(f->names[i], name))
            return str_trim(f->values[i]);
    return STR("");
}

str_t web_query(http_request_t *req, const char *name)
{
    str_t v;
    http_req_query(req, name, &v);
    return v;
}

char *web_cstr(http_request_t *req, str_t s)
{
    char *p = arena_strdup(http_req_arena(req), s);
    return p ? p : "";
}

void form_error(struct form_errors *fe, const char *field, const char *msg)
{
    if (fe->n < WEB_ERRORS_MAX) {
        fe->e[fe->n].field = field;
        fe->e[fe->n].msg = msg;
        fe->n++;
    }
}

const char *form_error_for(const struct form_errors *fe, const char *field)
{
    for (size_t i = 0; fe && i < fe->n; i++)
        if (strcmp(fe->e[i].field, field) == 0)
            return fe->e[i].msg;
    return NULL;
}
