/*
 * application.c: what a processor applies for, checked and put in canonical
 * form; the granted field set checked against it; and the field-level
 * differences recorded in the history.
 *
 * The canonical application has every member (null when absent), service
 * and field names sorted and unique, and systems "all" or a sorted list, so
 * that two applications are equal exactly when they ask for the same.
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/problem.h"

static const char *const app_members[] = {
    "title",   "purpose",          "legal_basis",    "services",
    "systems", "valid_from",       "valid_to",       "expected_volume",
    "contact", "purpose_category", "recipient_kind",
};
#define N_APP_MEMBERS (sizeof app_members / sizeof app_members[0])

static bool is_member(const char *key, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

/* Control characters have no place in names, and newlines none in one-line
 * texts (they would break mail subjects and the list view). */
static bool has_control(const char *s, size_t n, bool allow_newline)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            if (!allow_newline)
                return true;
        } else if (ch < 0x20 || ch == 0x7f) {
            return true;
        }
    }
    return false;
}

/* A text member: absent/null allowed unless required; a string of 1..max
 * bytes otherwise. *out gets a new reference (json_null when absent). */
static int text_member(const json_t *obj, const char *key, const char *param, size_t max,
                       bool required, bool multiline, json_t **out, err_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return err_param(err, DUPLA_EINVAL, param, "%s is required", param);
        *out = json_null();
        return 0;
    }
    if (!json_is_string(v))
        return err_param(err, DUPLA_EINVAL, param, "%s must be a string", param);
    size_t n = json_string_length(v);
    str_t t = str_trim((str_t){json_string_value(v), n});
    if (t.len == 0) {
        if (required)
            return err_param(err, DUPLA_EINVAL, param, "%s is required", param);
        *out = json_null();
        return 0;
    }
    if (n > max)
        return err_param(err, DUPLA_EINVAL, param, "%s is longer than %zu bytes", param, max);
    if (has_control(json_string_value(v), n, multiline))
        return err_param(err, DUPLA_EINVAL, param, "%s contains control characters", param);
    *out = json_stringn(t.ptr, t.len);
    return *out ? 0 : err_set(err, DUPLA_ENOMEM, "out of memory");
}

/* A member that is one of values (NULL-terminated) or absent/null. */
static int enum_member(const json_t *obj, const char *key, const char *const *values,
                       const char *what, json_t **out, err_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        *out = json_null();
        return 0;
    }
    for (size_t i = 0; json_is_string(v) && values[i]; i++)
        if (strcmp(json_string_value(v), values[i]) == 0) {
            *out = json_string(values[i]);
            return 0;
        }
    return err_param(err, DUPLA_EINVAL, key, "%s must be one of %s", key, what);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name (service, field, system): 1..max bytes, no control characters, no
 * spaces at either end. */
static bool name_ok(const char *s, size_t n, size_t max)
{
    return n > 0 && n <= max && !has_control(s, n, false) && s[0] != ' ' && s[n - 1] != ' ' &&
           strlen(s) == n;
}

/* An array of names, sorted and unique, into *out. param names the member. */
static int name_list(const json_t *arr, const char *param, size_t max_items, size_t max_len,
                     json_t **out, err_t *err)
{
    if (!json_is_array(arr))
        return err_param(err, DUPLA_EINVAL, param, "%s must be a list of names", param);
    size_t n = json_array_size(arr);
    if (n > max_items)
        return err_param(err, DUPLA_EINVAL, param, "%s has more than %zu entries", param,
                         max_items);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_string(e) || !name_ok(json_string_value(e), json_string_length(e), max_len)) {
            free(names);
            return err_param(err, DUPLA_EINVAL, param, "%s[%zu] is not a valid name", param, i);
        }
        names[i] = json_string_value(e);
    }
    qsort(names, n, sizeof *names, cmp_cstr);
    json_t *res = json_array();
    for (size_t i = 0; res && i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            json_array_append_new(res, json_string(names[i]));
    free(names);
    if (!res)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    *out = res;
    return 0;
}

static int legal_basis_member(const json_t *in, bool complete, json_t **out, err_t *err)
{
    json_t *v = json_object_get(in, "legal_basis");
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        if (complete)
            return err_param(err, DUPLA_EINVAL, "legal_basis",
                             "legal_basis needs at least one law and section");
        *out = json_array();
        return 0;
    }
    if (!json_is_array(v))
        return err_param(err, DUPLA_EINVAL, "legal_basis",
                         "legal_basis must be a list of {\"law\", \"section\"}");
    if (json_array_size(v) > AGREEMENT_LEGAL_BASES_MAX)
        return err_param(err, DUPLA_EINVAL, "legal_basis", "legal_basis has more than %d entries",
                         AGREEMENT_LEGAL_BASES_MAX);
    json_t *res = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char param[40];
        snprintf(param, sizeof param, "legal_basis[%zu]", i);
        const char *key;
        json_t *val;
        if (!json_is_object(e)) {
            json_decref(res);
            return err_param(err, DUPLA_EINVAL, param, "%s must be {\"law\", \"section\"}", param);
        }
        json_object_foreach(e, key, val)
        {
            if (strcmp(key, "law") != 0 && strcmp(key, "section") != 0) {
                json_decref(res);
                return err_param(err, DUPLA_EINVAL, param, "%s has an unknown member '%.40s'",
                                 param, key);
            }
        }
        json_t *law, *section;
        char p_law[56], p_sec[56];
        snprintf(p_law, sizeof p_law, "%s.law", param);
        snprintf(p_sec, sizeof p_sec, "%s.section", param);
        int rc = text_member(e, "law", p_law, AGREEMENT_LAW_MAX, true, false, &law, err);
        if (rc) {
            json_decref(res);
            return rc;
        }
        rc = text_member(e, "section", p_sec, AGREEMENT_SECTION_MAX, true, false, &section, err);
        if (rc) {
            json_decref(law);
            json_decref(res);
            return rc;
        }
        json_array_append_new(res, json_pack("{s:o, s:o}", "law", law, "section", section));
    }
    *out = res;
    return 0;
}

static int services_member(const struct agreement *ag, const json_t *in, bool complete,
                           json_t **out, err_t *err)
{
    json_t *v = json_object_get(in, "services");
    if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0)) {
        if (complete)
            return err_param(err, DUPLA_EINVAL, "services", "services needs at least one service");
        *out = json_object();
        return 0;
    }
    if (!json_is_object(v))
        return err_param(err, DUPLA_EINVAL, "services",
                         "services must be {\"<service>\": [\"<field>\", ...]}");
    if (json_object_size(v) > AGREEMENT_SERVICES_MAX)
        return err_param(err, DUPLA_EINVAL, "services", "services has more than %d entries",
                         AGREEMENT_SERVICES_MAX);
    json_t *res = json_object();
    const char *service;
    json_t *fields;
    json_object_foreach(v, service, fields)
    {
        char param[AGREEMENT_FIELD_NAME_MAX + 16];
        snprintf(param, sizeof param, "services.%.*s", AGREEMENT_FIELD_NAME_MAX, service);
        int rc = 0;
        json_t *list = NULL;
        if (!name_ok(service, strlen(service), AGREEMENT_FIELD_NAME_MAX))
            rc = err_param(err, DUPLA_EINVAL, "services", "a service name is not valid");
        else if (ag->hooks.field_known && !ag->hooks.field_known(ag->hooks.ctx, service, NULL))
            rc = err_param(err, DUPLA_EINVAL, param, "no service '%s' in the catalogue", service);
        else
            rc = name_list(fields, param, AGREEMENT_FIELDS_MAX, AGREEMENT_FIELD_NAME_MAX, &list,
                           err);
        if (rc == 0 && complete && json_array_size(list) == 0)
            rc = err_param(err, DUPLA_EINVAL, param, "%s asks for no fields", param);
        size_t i;
        json_t *f;
        if (rc == 0 && ag->hooks.field_known) {
            json_array_foreach(list, i, f)
            {
                if (!ag->hooks.field_known(ag->hooks.ctx, service, json_string_value(f))) {
                    rc = err_param(err, DUPLA_EINVAL, param, "service '%s' has no field '%s'",
                                   service, json_string_value(f));
                    break;
                }
            }
        }
        if (rc) {
            json_decref(list);
            json_decref(res);
            return rc;
        }
        json_object_set_new(res, service, list);
    }
    *out = res;
    return 0;
}

static bool system_id_ok(const char *s, size_t n)
{
    if (n == 0 || n >= AGREEMENT_SYSTEM_MAX || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static int systems_member(const struct agreement *ag, const char *org_cvr, const json_t *in,
                          json_t **out, err_t *err)
{
    json_t *v = json_object_get(in, "systems");
    if (!v || json_is_null(v) || (json_is_string(v) && strcmp(json_string_value(v), "all") == 0)) {
        *out = json_string("all");
        return 0;
    }
    json_t *list;
    int rc = name_list(v, "systems", AGREEMENT_SYSTEMS_MAX, AGREEMENT_SYSTEM_MAX - 1, &list, err);
    if (rc)
        return err_param(err, DUPLA_EINVAL, "systems",
                         "systems must be \"all\" or a list of system ids");
    if (json_array_size(list) == 0) {
        json_decref(list);
        return err_param(err, DUPLA_EINVAL, "systems",
                         "systems must name at least one system, or be \"all\"");
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *id = json_string_value(e);
        if (!system_id_ok(id, json_string_length(e)))
            rc = err_param(err, DUPLA_EINVAL, "systems", "systems[%zu] is not a system id", i);
        else if (ag->hooks.system_known && !ag->hooks.system_known(ag->hooks.ctx, org_cvr, id))
            rc = err_param(err, DUPLA_EINVAL, "systems", "the organisation has no system '%s'", id);
        if (rc) {
            json_decref(list);
            return rc;
        }
    }
    *out = list;
    return 0;
}

static int date_member(const json_t *in, const char *key, bool required, json_t **out,
                       int32_t *days, err_t *err)
{
    json_t *v = json_object_get(in, key);
    if (!v || json_is_null(v)) {
        if (required)
            return err_param(err, DUPLA_EINVAL, key, "%s is required (yyyy-mm-dd)", key);
        *out = json_null();
        return 0;
    }
    if (!json_is_string(v) ||
        clock_parse_date((str_t){json_string_value(v), json_string_length(v)}, days) != 0)
        return err_param(err, DUPLA_EINVAL, key, "%s must be a date yyyy-mm-dd", key);
    *out = json_string(json_string_value(v));
    return 0;
}

static int volume_member(const json_t *in, json_t **out, err_t *err)
{
    json_t *v = json_object_get(in, "expected_volume");
    json_t *res = json_pack("{s:n, s:n}", "calls_per_month", "subjects_per_month");
    if (!v || json_is_null(v)) {
        *out = res;
        return 0;
    }
    const char *key;
    json_t *n;
    if (!json_is_object(v)) {
        json_decref(res);
        return err_param(err, DUPLA_EINVAL, "expected_volume",
                         "expected_volume must be {\"calls_per_month\", \"subjects_per_month\"}");
    }
    json_object_foreach(v, key, n)
    {
        char param[64];
        snprintf(param, sizeof param, "expected_volume.%.30s", key);
        if (!json_object_get(res, key)) {
            json_decref(res);
            return err_param(err, DUPLA_EINVAL, param, "%s is not a known member", param);
        }
        if (json_is_null(n))
            continue;
        if (!json_is_integer(n) || json_integer_value(n) < 0 ||
            json_integer_value(n) > AGREEMENT_VOLUME_MAX) {
            json_decref(res);
            return err_param(err, DUPLA_EINVAL, param, "%s must be a whole number 0..%lld", param,
                             AGREEMENT_VOLUME_MAX);
        }
        json_object_set_new(res, key, json_integer(json_integer_value(n)));
    }
    *out = res;
    return 0;
}

static int contact_member(const json_t *in, bool complete, json_t **out, err_t *err)
{
    json_t *v = json_object_get(in, "contact");
    json_t *empty = json_object();
    if (!v || json_is_null(v))
        v = empty;
    if (!json_is_object(v)) {
        json_decref(empty);
        return err_param(err, DUPLA_EINVAL, "contact",
                         "contact must be {\"name\", \"email\", \"phone\"}");
    }
    static const char *const keys[] = {"name", "email", "phone"};
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        if (!is_member(key, keys, 3)) {
            json_decref(empty);
            return err_param(err, DUPLA_EINVAL, "contact", "contact has an unknown member '%.40s'",
                             key);
        }
    }
    json_t *name, *email, *phone;
    int rc =
        text_member(v, "name", "contact.name", AGREEMENT_CONTACT_MAX, complete, false, &name, err);
    if (rc == 0) {
        rc = text_member(v, "email", "contact.email", AGREEMENT_CONTACT_MAX, complete, false,
                         &email, err);
        if (rc == 0 && json_is_string(email) && !strchr(json_string_value(email), '@')) {
            json_decref(email);
            rc = err_param(err, DUPLA_EINVAL, "contact.email",
                           "contact.email is not a mail address");
        }
        if (rc)
            json_decref(name);
    }
    if (rc == 0) {
        rc = text_member(v, "phone", "contact.phone", AGREEMENT_CONTACT_MAX, false, false, &phone,
                         err);
        if (rc) {
            json_decref(name);
            json_decref(email);
        }
    }
    json_decref(empty);
    if (rc)
        return rc;
    *out = json_pack("{s:o, s:o, s:o}", "name", name, "email", email, "phone", phone);
    return 0;
}

/* See internal.h. On error *out is untouched and err names the member. */
int agreement_application_normalise(const struct agreement *ag, const char *org_cvr,
                                    const json_t *in, bool complete, json_t **out, err_t *err)
{
    if (!json_is_object(in))
        return err_param(err, DUPLA_EINVAL, "application", "the application must be an object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)in, key, val)
    {
        if (!is_member(key, app_members, N_APP_MEMBERS))
            return err_param(err, DUPLA_EINVAL, key, "'%.40s' is not a member of an application",
                             key);
    }
    json_t *res = json_object();
    if (!res)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    json_t *m = NULL;
    int32_t from = 0, to = 0;
    int rc = text_member(in, "title", "title", AGREEMENT_TITLE_MAX, complete, false, &m, err);
    if (rc == 0) {
        json_object_set_new(res, "title", m);
        rc = text_member(in, "purpose", "purpose", AGREEMENT_PURPOSE_MAX, complete, true, &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "purpose", m);
        static const char *const cats[] = {AGREEMENT_PURPOSE_CATEGORIES, NULL};
        rc = enum_member(in, "purpose_category", cats,
                         "sagsbehandling, kontrol, analyse-og-machine-learning, "
                         "statistik-og-forskning",
                         &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "purpose_category", m);
        static const char *const kinds[] = {AGREEMENT_RECIPIENT_KINDS, NULL};
        rc = enum_member(in, "recipient_kind", kinds, "offentlig-myndighed, privat-virksomhed", &m,
                         err);
    }
    if (rc == 0) {
        json_object_set_new(res, "recipient_kind", m);
        rc = legal_basis_member(in, complete, &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "legal_basis", m);
        rc = services_member(ag, in, complete, &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "services", m);
        rc = systems_member(ag, org_cvr, in, &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "systems", m);
        rc = date_member(in, "valid_from", complete, &m, &from, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "valid_from", m);
        rc = date_member(in, "valid_to", false, &m, &to, err);
        if (rc == 0 && json_is_string(m) && json_is_string(json_object_get(res, "valid_from")) &&
            to < from) {
            json_decref(m);
            rc = err_refuse(err, DUPLA_EINVAL, PROBLEM_PERIOD_REVERSED, "valid_to",
                            "valid_to is before valid_from");
        }
    }
    if (rc == 0) {
        json_object_set_new(res, "valid_to", m);
        rc = volume_member(in, &m, err);
    }
    if (rc == 0) {
        json_object_set_new(res, "expected_volume", m);
        rc = contact_member(in, complete, &m, err);
    }
    if (rc == 0)
        json_object_set_new(res, "contact", m);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* Validity in ms: from the start of valid_from (UTC) to the end of valid_to
 * (exclusive), INT64_MAX when open-ended. A draft without valid_from starts
 * at 0 (it cannot be approved that way). */
void agreement_application_validity(const json_t *app, int64_t *from_ms, int64_t *until_ms)
{
    int32_t d;
    json_t *f = json_object_get(app, "valid_from"), *t = json_object_get(app, "valid_to");
    *from_ms = 0;
    *until_ms = INT64_MAX;
    if (json_is_string(f) && clock_parse_date(str_from_cstr(json_string_value(f)), &d) == 0)
        *from_ms = (int64_t)d * MS_PER_DAY;
    if (json_is_string(t) && clock_parse_date(str_from_cstr(json_string_value(t)), &d) == 0)
        *until_ms = ((int64_t)d + 1) * MS_PER_DAY;
}

static bool list_has(const json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (strcmp(json_string_value(e), name) == 0) return true;
    return false;
}

/* See internal.h. granted must be an object of services asked for, each a
 * non-empty list of fields asked for in that service. */
int agreement_granted_normalise(const json_t *asked_services, const json_t *granted, json_t **out,
                                bool *fewer, err_t *err)
{
    if (!json_is_object(granted) || json_object_size(granted) == 0)
        return err_param(err, DUPLA_EINVAL, "granted",
                         "granted must be {\"<service>\": [\"<field>\", ...]} with a service");
    json_t *res = json_object();
    size_t n_asked = 0, n_granted = 0;
    const char *service;
    json_t *fields;
    json_object_foreach((json_t *)asked_services, service, fields) n_asked +=
        json_array_size(fields);
    json_object_foreach((json_t *)granted, service, fields)
    {
        char param[AGREEMENT_FIELD_NAME_MAX + 16];
        snprintf(param, sizeof param, "granted.%.*s", AGREEMENT_FIELD_NAME_MAX, service);
        json_t *asked = json_object_get(asked_services, service);
        json_t *list = NULL;
        int rc = 0;
        if (!asked)
            rc = err_param(err, DUPLA_EINVAL, param, "service '%.128s' was not applied for",
                           service);
        else
            rc = name_list(fields, param, AGREEMENT_FIELDS_MAX, AGREEMENT_FIELD_NAME_MAX, &list,
                           err);
        if (rc == 0 && json_array_size(list) == 0)
            rc = err_param(err, DUPLA_EINVAL, param,
                           "%s grants no fields (leave the service out instead)", param);
        size_t i;
        json_t *f;
        if (rc == 0) {
            json_array_foreach(list, i, f)
            {
                if (!list_has(asked, json_string_value(f))) {
                    rc = err_param(err, DUPLA_EINVAL, param,
                                   "field '%s' of '%s' was not applied for", json_string_value(f),
                                   service);
                    break;
                }
            }
        }
        if (rc) {
            json_decref(list);
            json_decref(res);
            return rc;
        }
        n_granted += json_array_size(list);
        json_object_set_new(res, service, list);
    }
    *fewer = n_granted < n_asked;
    *out = res;
    return 0;
}

static void diff_into(json_t *out, const char *prefix, const json_t *a, const json_t *b)
{
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *va;
        char path[512];
        json_object_foreach((json_t *)a, key, va)
        {
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            diff_into(out, path, va, json_object_get(b, key));
        }
        json_object_foreach((json_t *)b, key, va)
        {
            if (json_object_get(a, key))
                continue;
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            diff_into(out, path, NULL, va);
        }
        return;
    }
    bool a_null = !a || json_is_null(a), b_null = !b || json_is_null(b);
    if ((a_null && b_null) || (!a_null && !b_null && json_equal((json_t *)a, (json_t *)b)))
        return;
    json_object_set_new(
        out, prefix,
        json_pack("{s:O, s:O}", "from", a_null ? json_null() : a, "to", b_null ? json_null() : b));
}

/* See internal.h. a or b may be NULL (everything added or removed). The
 * caller owns the result. */
json_t *agreement_json_diff(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    json_t *empty = json_object();
    diff_into(out, "", a ? a : empty, b ? b : empty);
    json_decref(empty);
    return out;
}
