/*
 * query.c: looking things up in a loaded catalogue, reading and writing
 * field values as JSON, and the catalogue as one JSON document.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/internal.h"
#include "core/clock.h"
#include "core/ident.h"

/* Rates beyond this many percent (either sign) are refused. */
#define CATALOG_RATE_ABS_MAX 1000

size_t catalog_count(const catalog_t *cat)
{
    return cat->n;
}

const struct catalog_service *catalog_service_at(const catalog_t *cat, size_t i)
{
    return i < cat->n ? &cat->services[i] : NULL;
}

const struct catalog_service *catalog_find(const catalog_t *cat, str_t name)
{
    for (size_t i = 0; i < cat->n; i++)
        if (str_eq_cstr(name, cat->services[i].path) || str_eq_cstr(name, cat->services[i].alias))
            return &cat->services[i];
    return NULL;
}

const struct catalog_field *catalog_field_find(const struct catalog_service *svc, str_t name)
{
    long i = catalog_field_index(svc, name);
    return i < 0 ? NULL : &svc->fields[i];
}

long catalog_field_index(const struct catalog_service *svc, str_t name)
{
    for (size_t i = 0; i < svc->n_fields; i++)
        if (name.len == svc->fields[i].name_len &&
            memcmp(name.ptr, svc->fields[i].name, name.len) == 0)
            return (long)i;
    return -1;
}

const struct catalog_param *catalog_param_find(const struct catalog_service *svc, str_t name)
{
    for (size_t i = 0; i < svc->n_params; i++)
        if (str_eq_cstr(name, svc->params[i].name))
            return &svc->params[i];
    return NULL;
}

const struct catalog_param *catalog_param_by_role(const struct catalog_service *svc,
                                                  enum catalog_param_role role)
{
    for (size_t i = 0; i < svc->n_params; i++)
        if (svc->params[i].role == role)
            return &svc->params[i];
    return NULL;
}

bool catalog_code_allowed(const struct catalog_field *f, str_t value)
{
    return catalog_code_index(f, value) >= 0;
}

long catalog_code_index(const struct catalog_field *f, str_t value)
{
    for (size_t i = 0; i < f->n_codes; i++)
        if (str_eq_cstr(value, f->codes[i].value))
            return (long)i;
    return -1;
}

long catalog_subject_index(const struct catalog_service *svc, enum catalog_ident k)
{
    for (size_t i = 0; i < svc->n_subjects; i++)
        if (svc->subjects[i].kind == k)
            return (long)i;
    return -1;
}

bool catalog_field_is_key(const struct catalog_field *f)
{
    return f->role == CATALOG_ROLE_SUBJECT || f->role == CATALOG_ROLE_YEAR ||
           f->role == CATALOG_ROLE_PERIOD_START || f->role == CATALOG_ROLE_PERIOD_END ||
           f->role == CATALOG_ROLE_NUMBER || f->subject_key;
}

/* ---- values ---- */

static int want(const struct catalog_field *f, err_t *err, const char *what)
{
    return err_param(err, DUPLA_EINVAL, f->name, "must be %s", what);
}

static bool ident_ok(enum catalog_ident k, str_t s)
{
    switch (k) {
    case CATALOG_IDENT_CPR:
        return ident_cpr_valid(s);
    case CATALOG_IDENT_CVR:
        return ident_cvr_valid(s);
    case CATALOG_IDENT_SE:
        return ident_se_valid(s);
    default:
        return false;
    }
}

void catalog_json_of(const json_t *j, struct catalog_json *out)
{
    *out = (struct catalog_json){.kind = CATALOG_JSON_ABSENT};
    if (!j)
        return;
    switch (json_typeof(j)) {
    case JSON_NULL:
        out->kind = CATALOG_JSON_NULL;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        out->kind = CATALOG_JSON_BOOLEAN;
        out->i = json_is_true(j);
        break;
    case JSON_INTEGER:
        out->kind = CATALOG_JSON_INTEGER;
        out->i = json_integer_value(j);
        break;
    case JSON_REAL:
        out->kind = CATALOG_JSON_REAL;
        out->d = json_real_value(j);
        break;
    case JSON_STRING:
        out->kind = CATALOG_JSON_STRING;
        out->s = (str_t){json_string_value(j), json_string_length(j)};
        break;
    default:
        out->kind = CATALOG_JSON_OTHER;
    }
}

int catalog_value_from_scalar(const struct catalog_field *f, const struct catalog_json *j,
                              struct catalog_value *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (j->kind == CATALOG_JSON_ABSENT || j->kind == CATALOG_JSON_NULL)
        return 0;
    out->present = true;
    switch (f->type) {
    case CATALOG_AMOUNT:
        if (j->kind != CATALOG_JSON_INTEGER)
            return want(f, err, "an integer amount in øre (1/100 DKK)");
        out->i = j->i;
        return 0;
    case CATALOG_INTEGER:
        if (j->kind != CATALOG_JSON_INTEGER)
            return want(f, err, "an integer");
        out->i = j->i;
        return 0;
    case CATALOG_RATE: {
        if (j->kind != CATALOG_JSON_INTEGER && j->kind != CATALOG_JSON_REAL)
            return want(f, err, "a percentage (a number with at most 2 decimals)");
        double x = (j->kind == CATALOG_JSON_INTEGER ? (double)j->i : j->d) * CATALOG_RATE_SCALE;
        double lim = (double)CATALOG_RATE_ABS_MAX * CATALOG_RATE_SCALE;
        if (!(x >= -lim && x <= lim)) /* also refuses NaN */
            return want(f, err, "a percentage with at most 2 decimals, between -1000 and 1000");
        double r = (double)(int64_t)(x < 0 ? x - 0.5 : x + 0.5);
        double d = x - r;
        if (d > 1e-6 || d < -1e-6)
            return want(f, err, "a percentage with at most 2 decimals, between -1000 and 1000");
        out->i = (int64_t)r;
        return 0;
    }
    case CATALOG_DATE: {
        if (j->kind != CATALOG_JSON_STRING)
            return want(f, err, "a date \"yyyy-mm-dd\"");
        str_t s = j->s;
        int32_t days;
        if (clock_parse_date(s, &days))
            return want(f, err, "a real calendar date \"yyyy-mm-dd\"");
        out->i = days;
        return 0;
    }
    case CATALOG_TIMESTAMP: {
        if (j->kind != CATALOG_JSON_STRING)
            return want(f, err, "a UTC timestamp \"yyyy-mm-ddTHH:MM:SSZ\"");
        str_t s = j->s;
        if (clock_parse_timestamp(s, &out->i, 1))
            return want(f, err, "a real UTC time \"yyyy-mm-ddTHH:MM:SS[.fff]Z\"");
        return 0;
    }
    case CATALOG_BOOLEAN:
        if (j->kind != CATALOG_JSON_BOOLEAN)
            return want(f, err, "true or false");
        out->i = j->i;
        return 0;
    case CATALOG_CODE: {
        if (j->kind != CATALOG_JSON_STRING)
            return want(f, err, "a code (a string)");
        out->s = j->s;
        if (!catalog_code_allowed(f, out->s))
            return err_param(err, DUPLA_EINVAL, f->name, "\"%.*s\" is not one of its codes",
                             (int)(out->s.len > 32 ? 32 : out->s.len), out->s.ptr);
        return 0;
    }
    case CATALOG_IDENTIFIER: {
        if (j->kind != CATALOG_JSON_STRING)
            return want(f, err, "an identifier (a string of digits)");
        out->s = j->s;
        if (!ident_ok(f->ident, out->s)) {
            /* The value itself is personal data: never echoed. */
            switch (f->ident) {
            case CATALOG_IDENT_CPR:
                return want(f, err,
                            "a valid CPR number (10 digits, DDMMYY a real date, or the "
                            "day + 60)");
            case CATALOG_IDENT_CVR:
                return want(f, err, "a valid CVR number (8 digits, modulus 11)");
            default:
                return want(f, err, "a valid SE number (8 digits, not starting with 0)");
            }
        }
        return 0;
    }
    case CATALOG_TEXT:
        if (j->kind != CATALOG_JSON_STRING)
            return want(f, err, "a string");
        out->s = j->s;
        if (out->s.len > CATALOG_TEXT_FIELD_MAX)
            return err_param(err, DUPLA_EINVAL, f->name, "longer than %d bytes",
                             CATALOG_TEXT_FIELD_MAX);
        return 0;
    }
    return err_internal(err, DUPLA_EINTERNAL, "catalog: field %s has no type", f->name);
}

int catalog_value_to_json(const struct catalog_field *f, const struct catalog_value *v, buf_t *out)
{
    if (!v->present)
        return buf_append(out, "null", 4);
    char tmp[40];
    switch (f->type) {
    case CATALOG_AMOUNT:
    case CATALOG_INTEGER:
        return buf_append_int(out, v->i);
    case CATALOG_RATE: {
        long long x = v->i < 0 ? -v->i : v->i;
        return buf_printf(out, "%s%lld.%02lld", v->i < 0 ? "-" : "", x / CATALOG_RATE_SCALE,
                          x % CATALOG_RATE_SCALE);
    }
    case CATALOG_DATE:
    case CATALOG_TIMESTAMP: {
        /* quoted, in one append (all or nothing at the buffer's maximum) */
        tmp[0] = '"';
        if (f->type == CATALOG_DATE)
            clock_format_date((int32_t)v->i, tmp + 1, sizeof tmp - 2);
        else
            clock_format_ms(v->i, tmp + 1, sizeof tmp - 2);
        size_t n = strlen(tmp);
        tmp[n] = '"';
        return buf_append(out, tmp, n + 1);
    }
    case CATALOG_BOOLEAN:
        return buf_append_cstr(out, v->i ? "true" : "false");
    case CATALOG_CODE:
    case CATALOG_IDENTIFIER:
    case CATALOG_TEXT:
        return buf_append_json_string(out, v->s);
    }
    return DUPLA_EINTERNAL;
}

/* ---- the catalogue as JSON ---- */

static json_t *text_json(const struct catalog_text *t)
{
    return json_pack("{s:s, s:s}", "da", t->da, "en", t->en);
}

static json_t *service_json(const struct catalog_service *s)
{
    json_t *fields = json_array();
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct catalog_field *f = &s->fields[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", f->name, "type",
                              catalog_type_name(f->type), "role", catalog_role_name(f->role),
                              "required", f->required, "description", text_json(&f->description));
        if (f->type == CATALOG_IDENTIFIER)
            json_object_set_new(o, "identifier", json_string(catalog_ident_name(f->ident)));
        if (f->type == CATALOG_AMOUNT)
            json_object_set_new(o, "unit", json_string("øre"));
        if (f->type == CATALOG_RATE)
            json_object_set_new(o, "unit", json_string("percent"));
        if (f->n_codes) {
            json_t *codes = json_array();
            for (size_t j = 0; j < f->n_codes; j++)
                json_array_append_new(
                    codes, json_pack("{s:s, s:s, s:s}", "value", f->codes[j].value, "da",
                                     f->codes[j].meaning.da, "en", f->codes[j].meaning.en));
            json_object_set_new(o, "codes", codes);
        }
        json_array_append_new(fields, o);
    }
    json_t *params = json_array();
    for (size_t i = 0; i < s->n_params; i++) {
        const struct catalog_param *p = &s->params[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:o}", "name", p->name, "type",
                              catalog_param_type_name(p->type), "role",
                              catalog_param_role_name(p->role), "list", p->list, "required",
                              p->required, "description", text_json(&p->description));
        if (p->field)
            json_object_set_new(o, "field", json_string(p->field->name));
        json_array_append_new(params, o);
    }
    json_t *period = s->period_kind == CATALOG_PERIOD_YEAR
                         ? json_pack("{s:s, s:s}", "kind", "year", "field", s->year->name)
                     : s->period_kind == CATALOG_PERIOD_NUMBER
                         ? json_pack("{s:s, s:s}", "kind", "number", "field", s->number->name)
                         : json_pack("{s:s, s:s, s:s}", "kind", "range", "start_field",
                                     s->period_start->name, "end_field", s->period_end->name);
    json_t *o =
        json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:o}", "path", s->path, "alias",
                  s->alias, "title", text_json(&s->title), "description",
                  text_json(&s->description), "period", period, "version_field", s->version->name,
                  "registered_field", s->registered->name, "parameters", params, "fields", fields);
    if (s->subjects_in_record) {
        json_t *subs = json_array();
        for (size_t i = 0; i < s->n_subjects; i++)
            json_array_append_new(subs, json_pack("{s:s, s:s}", "kind",
                                                  catalog_ident_name(s->subjects[i].kind), "field",
                                                  s->subjects[i].field->name));
        json_object_set_new(o, "subjects", subs);
    } else {
        json_object_set_new(o, "subject",
                            json_pack("{s:s, s:s}", "kind", catalog_ident_name(s->subject_kind),
                                      "field", s->subject->name));
    }
    if (s->valid_from)
        json_object_set_new(o, "valid",
                            json_pack("{s:s, s:s}", "from_field", s->valid_from->name, "to_field",
                                      s->valid_to->name));
    return o;
}

json_t *catalog_to_json(const catalog_t *cat)
{
    json_t *services = json_array();
    for (size_t i = 0; i < cat->n; i++)
        json_array_append_new(services, service_json(&cat->services[i]));
    return json_pack("{s:o}", "services", services);
}
