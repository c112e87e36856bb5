/*
 * form.c: reading an application/x-www-form-urlencoded body, the one form
 * reader of the code base (the token service's POST and the pages' posts).
 *
 * Every name and value is percent-decoded by core's pct_decode with '+' as a
 * space, so a form field obeys the same policy as the request target: no
 * NUL, no control byte, only well-formed UTF-8. Multi-line text (textarea
 * fields, a pasted PEM certificate) is the one legitimate difference: the
 * caller lists those fields, and only they may hold tab, CR and LF.
 */
#include <stdio.h>
#include <string.h>

#include "core/encode.h"
#include "http/http.h"

static bool listed(const char *const *names, str_t name)
{
    for (size_t i = 0; names && names[i]; i++)
        if (str_eq_cstr(name, names[i]))
            return true;
    return false;
}

/* "Form field <name> <problem>.", naming the field when its name decoded
 * and fits; else the body. */
static int field_error(err_t *err, str_t name, const char *problem)
{
    char pname[ERR_PARAM_MAX];
    if (name.ptr && name.len < sizeof pname) {
        str_copy(name, pname, sizeof pname);
        return err_param(err, DUPLA_EINVAL, pname, "Form field %s %s.", pname, problem);
    }
    return err_param(err, DUPLA_EINVAL, "body", "A form field's name %s.", problem);
}

int http_form_read(arena_t *a, str_t body, const struct http_form_rules *rules,
                   struct http_form *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    /* Count first, so that a body over the limit is refused before any
     * decoding and the arrays are allocated once. */
    size_t count = 0;
    str_t rest = body, pair;
    while (rest.len) {
        str_split(rest, '&', &pair, &rest); /* the last: pair = rest, rest = "" */
        count += pair.len > 0;
    }
    if (count > rules->max_fields)
        return err_param(err, DUPLA_ELIMIT, "body",
                         "The form has %zu fields; at most %zu are accepted.", count,
                         rules->max_fields);
    if (count == 0)
        return 0;
    str_t *names = arena_alloc(a, count * sizeof *names);
    str_t *values = arena_alloc(a, count * sizeof *values);
    if (!names || !values)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t n = 0;
    rest = body;
    while (rest.len) {
        str_split(rest, '&', &pair, &rest);
        if (pair.len == 0)
            continue;
        str_t rname, rvalue;
        str_split(pair, '=', &rname, &rvalue); /* no '=': an empty value */
        str_t name = STR_NULL, value;
        int rc = pct_decode(rname, PCT_PLUS_SPACE, a, &name);
        if (rc == PCT_OK && name.len == 0)
            return err_param(err, DUPLA_EINVAL, "body", "The form has a field without a name.");
        if (rc == PCT_OK) {
            unsigned flags = PCT_PLUS_SPACE;
            if (listed(rules->lines, name))
                flags |= PCT_ALLOW_LINES;
            rc = pct_decode(rvalue, flags, a, &value);
        }
        if (rc == PCT_NOMEM)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        if (rc) {
            char problem[64];
            snprintf(problem, sizeof problem, "has %s", pct_status_text(rc));
            return field_error(err, name, problem);
        }
        if (rules->unique)
            for (size_t i = 0; i < n; i++)
                if (str_eq(names[i], name))
                    return field_error(err, name, "is repeated");
        names[n] = name;
        values[n] = value;
        n++;
    }
    out->names = names;
    out->values = values;
    out->n = n;
    return 0;
}

bool http_form_get(const struct http_form *f, const char *name, str_t *value)
{
    for (size_t i = 0; i < f->n; i++)
        if (str_eq_cstr(f->names[i], name)) {
            *value = f->values[i];
            return true;
        }
    *value = STR("");
    return false;
}
