/*
 * params.c: declared parameters. A route states the query parameters it
 * takes (struct http_route.query) and a handler the members of its JSON body
 * or the fields of its form, each as a struct http_param table: a name, a
 * type, required or not, and limits, the way the service catalogue declares
 * the data path's parameters. Whatever is not declared, repeats when it may
 * not, or does not fit its declaration is refused with a 400 problem that
 * names it, before the handler reads anything.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "http/http.h"

const struct http_param http_params_none[] = {{0}};

static const struct http_param *find(const struct http_param *params, str_t name)
{
    for (size_t i = 0; params[i].name; i++)
        if (str_eq_cstr(name, params[i].name))
            return &params[i];
    return NULL;
}

/* name as a bounded C string for a problem's "parameter"; a nameless one
 * (a query's "=x", a JSON member "") is named by where it is (where), so
 * that the problem still names something the client sent. */
static void param_name(str_t name, const char *where, char out[ERR_PARAM_MAX])
{
    if (name.len == 0)
        snprintf(out, ERR_PARAM_MAX, "%s", where);
    else if (str_copy(name, out, ERR_PARAM_MAX) != 0)
        memcpy(out + ERR_PARAM_MAX - 4, "...", 4);
}

static bool in_list(const char *const *values, str_t v)
{
    for (size_t i = 0; values && values[i]; i++)
        if (str_eq_cstr(v, values[i]))
            return true;
    return false;
}

/* "a, b or c" for a problem detail. */
static void list_text(const char *const *values, char *out, size_t cap)
{
    size_t n = 0, k = 0;
    out[0] = '\0';
    while (values && values[k])
        k++;
    for (size_t i = 0; i < k && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s",
                              i == 0       ? ""
                              : i + 1 == k ? " or "
                                           : ", ",
                              values[i]);
}

/* Checks one textual value (a query parameter, a form field, a JSON
 * string); dflt_max is a STRING's length limit when it declares none. */
static int check_text(const struct http_param *p, str_t v, size_t dflt_max, err_t *err)
{
    switch (p->type) {
    case HTTP_PARAM_STRING: {
        size_t max = p->max > 0 ? (size_t)p->max : dflt_max;
        if (v.len < (size_t)p->min || v.len > max)
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be %lld to %zu bytes long",
                             p->name, (long long)p->min, max);
        return 0;
    }
    case HTTP_PARAM_INT: {
        int64_t n;
        if (str_to_int64(v, &n) != 0 || n < p->min || (p->max > p->min && n > p->max)) {
            if (p->max > p->min)
                return err_param(err, DUPLA_EINVAL, p->name,
                                 "%s must be a whole number %lld to %lld", p->name,
                                 (long long)p->min, (long long)p->max);
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be a whole number, at least %lld",
                             p->name, (long long)p->min);
        }
        return 0;
    }
    case HTTP_PARAM_BOOL:
        if (!str_eq_cstr(v, "true") && !str_eq_cstr(v, "false"))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be true or false", p->name);
        return 0;
    case HTTP_PARAM_ENUM:
        if (!in_list(p->values, v)) {
            char list[160];
            list_text(p->values, list, sizeof list);
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be %s", p->name, list);
        }
        return 0;
    case HTTP_PARAM_TIME: {
        int32_t days;
        int64_t ms;
        if (clock_parse_date(v, &days) != 0 && clock_parse_timestamp(v, &ms, 1) != 0)
            return err_param(err, DUPLA_EINVAL, p->name,
                             "%s must be a date yyyy-mm-dd or a time yyyy-mm-ddTHH:MM:SSZ",
                             p->name);
        return 0;
    }
    default:
        return err_param(err, DUPLA_EINVAL, p->name, "%s cannot be given here", p->name);
    }
}

/* The common walk of a query string and a form: names[i] = values[i]. */
static int check_pairs(const char *what, const char *where, size_t n, const str_t *names,
                       const str_t *values, const struct http_param *params, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct http_param *p = find(params, names[i]);
        if (!p) {
            char name[ERR_PARAM_MAX];
            param_name(names[i], where, name);
            if (names[i].len == 0)
                return err_param(err, DUPLA_EINVAL, name, "a %s without a name", what);
            return err_param(err, DUPLA_EINVAL, name, "unknown %s '%s'", what, name);
        }
        if (!p->repeat)
            for (size_t j = 0; j < i; j++)
                if (str_eq(names[j], names[i]))
                    return err_param(err, DUPLA_EINVAL, p->name, "%s '%s' is repeated", what,
                                     p->name);
        /* An empty value is "not given" for an optional parameter. */
        if (values[i].len == 0 && !p->required)
            continue;
        int rc = check_text(p, values[i], HTTP_PARAM_STRING_MAX, err);
        if (rc)
            return rc;
    }
    for (size_t k = 0; params[k].name; k++) {
        if (!params[k].required)
            continue;
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = str_eq_cstr(names[i], params[k].name);
        if (!found)
            return err_param(err, DUPLA_EINVAL, params[k].name, "%s '%s' is required", what,
                             params[k].name);
    }
    return 0;
}

int http_query_check(const http_request_t *req, const struct http_param *params, err_t *err)
{
    size_t n = http_req_query_count(req);
    if (n == 0 && !params[0].name)
        return 0;
    str_t names[HTTP_PARAMS_CHECK_MAX], values[HTTP_PARAMS_CHECK_MAX];
    if (n > HTTP_PARAMS_CHECK_MAX)
        return err_param(err, DUPLA_EINVAL, "query",
                         "the request has more than %d query parameters", HTTP_PARAMS_CHECK_MAX);
    for (size_t i = 0; i < n; i++)
        http_req_query_at(req, i, &names[i], &values[i]);
    return check_pairs("query parameter", "query", n, names, values, params, err);
}

int http_form_check(const struct http_form *f, const struct http_param *params, err_t *err)
{
    return check_pairs("form field", "body", f->n, f->names, f->values, params, err);
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "true or false";
    default:
        return "null";
    }
}

static int check_json(const struct http_param *p, const json_t *v, err_t *err)
{
    switch (p->type) {
    case HTTP_PARAM_STRING:
    case HTTP_PARAM_ENUM:
    case HTTP_PARAM_TIME:
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be a string, not %s", p->name,
                             json_kind(v));
        /* A JSON string is bounded by the body's limit unless it says more. */
        return check_text(p, (str_t){json_string_value(v), json_string_length(v)}, SIZE_MAX, err);
    case HTTP_PARAM_INT:
        if (!json_is_integer(v) || json_integer_value(v) < p->min ||
            (p->max > p->min && json_integer_value(v) > p->max))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be a whole number in range",
                             p->name);
        return 0;
    case HTTP_PARAM_BOOL:
        if (!json_is_boolean(v))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be true or false, not %s",
                             p->name, json_kind(v));
        return 0;
    case HTTP_PARAM_OBJECT:
        if (!json_is_object(v))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be an object, not %s", p->name,
                             json_kind(v));
        return 0;
    case HTTP_PARAM_ARRAY:
        if (!json_is_array(v))
            return err_param(err, DUPLA_EINVAL, p->name, "%s must be an array, not %s", p->name,
                             json_kind(v));
        return 0;
    case HTTP_PARAM_ANY:
        return 0;
    }
    return 0;
}

int http_json_check(const json_t *obj, const struct http_param *params, err_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        const struct http_param *p = find(params, str_from_cstr(k));
        if (!p) {
            char name[ERR_PARAM_MAX];
            param_name(str_from_cstr(k), "body", name);
            if (!k[0])
                return err_param(err, DUPLA_EINVAL, name, "a member without a name");
            return err_param(err, DUPLA_EINVAL, name, "unknown member '%s'", name);
        }
        if (json_is_null(v)) /* null is "not given" */
            continue;
        int rc = check_json(p, v, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; params[i].name; i++) {
        json_t *m = json_object_get(obj, params[i].name);
        if (params[i].required && (!m || json_is_null(m)))
            return err_param(err, DUPLA_EINVAL, params[i].name, "%s is required", params[i].name);
    }
    return 0;
}
