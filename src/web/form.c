/*
 * form.c: the pages' rules for form posts (http_form_read in http/form.c
 * reads them), reading fields and query parameters, and collecting the
 * messages of the error summary.
 */
#include <string.h>

#include "web/internal.h"

/* The fields that are textareas: only their values may hold tab, CR, LF. */
static const char *const multiline_fields[] = {
    "purpose",
    "vurdering",
    "begrundelse",
    "traek-begrundelse",
    "opsig-begrundelse",
    "status-begrundelse",
    "certificate",
    "liste",
    NULL,
};

const struct http_form_rules web_form_rules = {.max_fields = WEB_FORM_MAX_FIELDS,
                                               .lines = multiline_fields};

str_t form_get(const struct http_form *f, const char *name)
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
