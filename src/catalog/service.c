/*
 * service.c: one service description checked into a struct
 * catalog_service (load.c reads the files and collects the services).
 *
 * The checker walks the parsed JSON, refuses unknown keys and names the
 * JSON path of every problem ("fields[3].type"). Every string is copied
 * into the catalogue's arena, so the parsed JSON can be dropped as soon as
 * a file has been checked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/internal.h"
#include "core/arena.h"

/* The state of checking one file. */
struct ctx {
    catalog_t *cat;
    const char *file;
    err_t *err;
};

static int fail(struct ctx *c, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *where, const char *fmt, ...)
{
    char reason[ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return err_param(c->err, DUPLA_EINVAL, where, "%s: %s: %s", c->file, where, reason);
}

static char *dup(struct ctx *c, const char *s)
{
    return arena_strdup(c->cat->arena, str_from_cstr(s));
}

/* Refuses keys of obj not in allowed (a NULL-terminated list). */
static int only_keys(struct ctx *c, const json_t *obj, const char *where,
                     const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok) {
            char p[160];
            snprintf(p, sizeof p, "%s%s%s", where, where[0] ? "." : "", k);
            return fail(c, p, "unknown key");
        }
    }
    return 0;
}

static int get_string(struct ctx *c, const json_t *obj, const char *where, const char *key,
                      bool required, size_t max, const char **out)
{
    char p[160];
    snprintf(p, sizeof p, "%s%s%s", where, where[0] ? "." : "", key);
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(c, p, "is required");
        return 0;
    }
    if (!json_is_string(v))
        return fail(c, p, "must be a string");
    size_t n = json_string_length(v);
    if (n == 0 || n > max)
        return fail(c, p, "must be 1 to %zu bytes long", max);
    if (memchr(json_string_value(v), '\0', n))
        return fail(c, p, "must not contain NUL");
    if (!(*out = dup(c, json_string_value(v))))
        return err_set(c->err, DUPLA_ENOMEM, "%s: out of memory", c->file);
    return 0;
}

static int get_bool(struct ctx *c, const json_t *obj, const char *where, const char *key, bool def,
                    bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        char p[160];
        snprintf(p, sizeof p, "%s.%s", where, key);
        return fail(c, p, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* {"da": "...", "en": "..."}: both required. */
static int get_text(struct ctx *c, const json_t *obj, const char *where, const char *key,
                    struct catalog_text *out)
{
    char p[160];
    snprintf(p, sizeof p, "%s%s%s", where, where[0] ? "." : "", key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return fail(c, p, "is required (an object with \"da\" and \"en\")");
    if (!json_is_object(v))
        return fail(c, p, "must be an object with \"da\" and \"en\"");
    static const char *const keys[] = {"da", "en", NULL};
    int rc;
    if ((rc = only_keys(c, v, p, keys)) ||
        (rc = get_string(c, v, p, "da", true, CATALOG_TEXT_MAX, &out->da)) ||
        (rc = get_string(c, v, p, "en", true, CATALOG_TEXT_MAX, &out->en)))
        return rc;
    return 0;
}

/* A field or parameter name: a capital letter, then letters (the Danish
 * ones included) and digits. */
static bool name_ok(const char *s, bool ascii_only)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!((*p >= 'A' && *p <= 'Z') ||
          (!ascii_only && p[0] == 0xC3 && (p[1] == 0x86 || p[1] == 0x98 || p[1] == 0x85))))
        return false;
    while (*p) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
            p++;
            continue;
        }
        /* Æ Ø Å æ ø å in UTF-8 */
        if (!ascii_only && p[0] == 0xC3 &&
            (p[1] == 0x86 || p[1] == 0x98 || p[1] == 0x85 || p[1] == 0xA6 || p[1] == 0xB8 ||
             p[1] == 0xA5)) {
            p += 2;
            continue;
        }
        return false;
    }
    return true;
}

static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static const char *const type_names[CATALOG_N_TYPES] = {
    "amount", "rate", "date", "timestamp", "code", "boolean", "identifier", "integer", "text"};
static const char *const ident_names[] = {"none", "cpr", "cvr", "se"};
static const char *const ptype_names[CATALOG_N_PARAM_TYPES] = {"cpr",  "cvr",       "se",   "year",
                                                               "date", "timestamp", "text", "code"};
static const char *const prole_names[CATALOG_N_PARAM_ROLES] = {
    "subject",       "year",   "period_from", "period_to",  "registered_from",
    "registered_to", "fields", "code",        "valid_from", "valid_to"};
#define N_ROLES 8
static const char *const role_names[N_ROLES] = {
    "business", "subject", "year", "period_start", "period_end", "version", "registered", "number"};

const char *catalog_type_name(enum catalog_type t)
{
    return (unsigned)t < CATALOG_N_TYPES ? type_names[t] : "?";
}
const char *catalog_ident_name(enum catalog_ident k)
{
    return (unsigned)k < 4 ? ident_names[k] : "?";
}
const char *catalog_param_type_name(enum catalog_param_type t)
{
    return (unsigned)t < CATALOG_N_PARAM_TYPES ? ptype_names[t] : "?";
}
const char *catalog_param_role_name(enum catalog_param_role r)
{
    return (unsigned)r < CATALOG_N_PARAM_ROLES ? prole_names[r] : "?";
}
const char *catalog_role_name(enum catalog_role r)
{
    return (unsigned)r < N_ROLES ? role_names[r] : "?";
}

static int parse_codes(struct ctx *c, const json_t *arr, const char *where, struct catalog_field *f)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(c, where, "must be a non-empty array of {\"value\", \"da\", \"en\"}");
    if (json_array_size(arr) > CATALOG_MAX_CODES)
        return fail(c, where, "at most %d values", CATALOG_MAX_CODES);
    size_t n = json_array_size(arr);
    struct catalog_code *codes = arena_alloc(c->cat->arena, n * sizeof *codes);
    if (!codes)
        return err_set(c->err, DUPLA_ENOMEM, "%s: out of memory", c->file);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char p[160];
        snprintf(p, sizeof p, "%s[%zu]", where, i);
        if (!json_is_object(v))
            return fail(c, p, "must be an object {\"value\", \"da\", \"en\"}");
        static const char *const keys[] = {"value", "da", "en", NULL};
        int rc;
        if ((rc = only_keys(c, v, p, keys)) ||
            (rc = get_string(c, v, p, "value", true, CATALOG_CODE_MAX, &codes[i].value)) ||
            (rc = get_string(c, v, p, "da", true, CATALOG_TEXT_MAX, &codes[i].meaning.da)) ||
            (rc = get_string(c, v, p, "en", true, CATALOG_TEXT_MAX, &codes[i].meaning.en)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(codes[j].value, codes[i].value) == 0)
                return fail(c, p, "value \"%s\" is listed twice", codes[i].value);
    }
    f->codes = codes;
    f->n_codes = n;
    return 0;
}

static int parse_field(struct ctx *c, const json_t *v, size_t i, struct catalog_field *f)
{
    char p[64];
    snprintf(p, sizeof p, "fields[%zu]", i);
    if (!json_is_object(v))
        return fail(c, p, "must be an object");
    static const char *const keys[] = {"name",     "type",  "identifier", "description",
                                       "required", "codes", NULL};
    int rc;
    const char *type, *ident = NULL;
    if ((rc = only_keys(c, v, p, keys)) ||
        (rc = get_string(c, v, p, "name", true, CATALOG_NAME_MAX, &f->name)) ||
        (rc = get_string(c, v, p, "type", true, CATALOG_NAME_MAX, &type)) ||
        (rc = get_string(c, v, p, "identifier", false, CATALOG_NAME_MAX, &ident)) ||
        (rc = get_text(c, v, p, "description", &f->description)) ||
        (rc = get_bool(c, v, p, "required", true, &f->required)))
        return rc;
    char q[96];
    snprintf(q, sizeof q, "%s.name", p);
    if (!name_ok(f->name, false))
        return fail(c, q,
                    "\"%s\" is not a CamelCase name (a capital letter, then letters and "
                    "digits)",
                    f->name);
    snprintf(q, sizeof q, "%s.type", p);
    int t = lookup(type_names, CATALOG_N_TYPES, type);
    if (t < 0)
        return fail(c, q,
                    "\"%s\" is not a type (amount, rate, date, timestamp, code, boolean, "
                    "identifier, integer, text)",
                    type);
    f->type = (enum catalog_type)t;
    snprintf(q, sizeof q, "%s.identifier", p);
    if (f->type == CATALOG_IDENTIFIER) {
        int k = ident ? lookup(ident_names, 4, ident) : -1;
        if (k <= 0)
            return fail(c, q,
                        "an identifier field needs \"identifier\": \"cpr\", \"cvr\" or "
                        "\"se\"");
        f->ident = (enum catalog_ident)k;
    } else if (ident) {
        return fail(c, q, "only identifier fields have one");
    }
    json_t *codes = json_object_get(v, "codes");
    snprintf(q, sizeof q, "%s.codes", p);
    if (f->type == CATALOG_CODE) {
        if (!codes)
            return fail(c, q, "a code field lists its allowed values");
        if ((rc = parse_codes(c, codes, q, f)))
            return rc;
    } else if (codes) {
        return fail(c, q, "only code fields have allowed values");
    }
    f->name_len = strlen(f->name);
    f->index = i;
    f->business_index = SIZE_MAX;
    return 0;
}

static int parse_param(struct ctx *c, const struct catalog_service *s, const json_t *v, size_t i,
                       struct catalog_param *pa)
{
    char p[64];
    snprintf(p, sizeof p, "parameters[%zu]", i);
    if (!json_is_object(v))
        return fail(c, p, "must be an object");
    static const char *const keys[] = {"name",     "type",        "role",  "list",
                                       "required", "description", "field", NULL};
    int rc;
    const char *type, *role, *field = NULL;
    if ((rc = only_keys(c, v, p, keys)) ||
        (rc = get_string(c, v, p, "name", true, CATALOG_NAME_MAX, &pa->name)) ||
        (rc = get_string(c, v, p, "type", true, CATALOG_NAME_MAX, &type)) ||
        (rc = get_string(c, v, p, "role", true, CATALOG_NAME_MAX, &role)) ||
        (rc = get_bool(c, v, p, "list", false, &pa->list)) ||
        (rc = get_bool(c, v, p, "required", false, &pa->required)) ||
        (rc = get_text(c, v, p, "description", &pa->description)) ||
        (rc = get_string(c, v, p, "field", false, CATALOG_NAME_MAX, &field)))
        return rc;
    char q[96];
    snprintf(q, sizeof q, "%s.name", p);
    if (!name_ok(pa->name, false))
        return fail(c, q, "\"%s\" is not a CamelCase name", pa->name);
    snprintf(q, sizeof q, "%s.type", p);
    int t = lookup(ptype_names, CATALOG_N_PARAM_TYPES, type);
    if (t < 0)
        return fail(c, q,
                    "\"%s\" is not a parameter type (cpr, cvr, se, year, date, timestamp, "
                    "text, code)",
                    type);
    pa->type = (enum catalog_param_type)t;
    snprintf(q, sizeof q, "%s.role", p);
    int r = lookup(prole_names, CATALOG_N_PARAM_ROLES, role);
    if (r < 0)
        return fail(c, q,
                    "\"%s\" is not a role (subject, year, period_from, period_to, "
                    "registered_from, registered_to, fields, code, valid_from, valid_to)",
                    role);
    if (field) {
        snprintf(q, sizeof q, "%s.field", p);
        if (!(pa->field = catalog_field_find(s, str_from_cstr(field))))
            return fail(c, q, "no field is named \"%s\"", field);
    }
    pa->role = (enum catalog_param_role)r;
    /* Each role takes certain types. */
    bool ok;
    switch (pa->role) {
    case CATALOG_PARAM_SUBJECT:
        ok = pa->type <= CATALOG_PARAM_SE;
        break;
    case CATALOG_PARAM_YEAR:
        ok = pa->type == CATALOG_PARAM_T_YEAR;
        break;
    case CATALOG_PARAM_PERIOD_FROM:
    case CATALOG_PARAM_PERIOD_TO:
        ok = pa->type == CATALOG_PARAM_T_DATE && !pa->list;
        break;
    case CATALOG_PARAM_REGISTERED_FROM:
    case CATALOG_PARAM_REGISTERED_TO:
        ok = (pa->type == CATALOG_PARAM_T_DATE || pa->type == CATALOG_PARAM_T_TIMESTAMP) &&
             !pa->list;
        break;
    case CATALOG_PARAM_FIELDS:
        ok = pa->type == CATALOG_PARAM_T_TEXT && pa->list;
        break;
    case CATALOG_PARAM_CODE:
        ok = pa->type == CATALOG_PARAM_T_CODE;
        break;
    case CATALOG_PARAM_VALID_FROM:
    case CATALOG_PARAM_VALID_TO:
        ok = pa->type == CATALOG_PARAM_T_DATE && !pa->list;
        break;
    default:
        ok = false;
    }
    if (!ok)
        return fail(c, p,
                    "role \"%s\" does not go with type \"%s\"%s (subject: cpr/cvr/se; year: "
                    "year; period_*, valid_*: one date; registered_*: one date or timestamp; "
                    "fields: a text list; code: code)",
                    role, type, pa->list ? " as a list" : "");
    /* What a parameter's field must be. */
    snprintf(q, sizeof q, "%s.field", p);
    if (pa->role == CATALOG_PARAM_CODE) {
        if (!pa->field || pa->field->type != CATALOG_CODE ||
            pa->field->role != CATALOG_ROLE_BUSINESS)
            return fail(c, q, "a code parameter names the code field it filters");
    } else if (pa->role == CATALOG_PARAM_YEAR) {
        if (s->period_kind == CATALOG_PERIOD_YEAR && pa->field)
            return fail(c, q,
                        "the year parameter of a year service filters the income year "
                        "itself; leave \"field\" out");
        if (s->period_kind != CATALOG_PERIOD_YEAR &&
            (!pa->field || pa->field->type != CATALOG_INTEGER ||
             pa->field->role != CATALOG_ROLE_BUSINESS))
            return fail(c, q,
                        "a year parameter of a service whose period is not a year names the "
                        "integer field it filters");
    } else if (pa->field) {
        return fail(c, q, "only code and year parameters name a field");
    }
    return 0;
}

/* Finds the field named by key (a string member of obj) and checks its type. */
static int key_field(struct ctx *c, struct catalog_service *s, const json_t *obj, const char *where,
                     const char *key, enum catalog_type type, enum catalog_role role,
                     const struct catalog_field **out)
{
    const char *name;
    int rc = get_string(c, obj, where, key, true, CATALOG_NAME_MAX, &name);
    if (rc)
        return rc;
    char p[96];
    snprintf(p, sizeof p, "%s%s%s", where, where[0] ? "." : "", key);
    const struct catalog_field *f = catalog_field_find(s, str_from_cstr(name));
    if (!f)
        return fail(c, p, "no field is named \"%s\"", name);
    if (f->type != type)
        return fail(c, p, "field \"%s\" must have type %s", name, catalog_type_name(type));
    if (f->role != CATALOG_ROLE_BUSINESS)
        return fail(c, p, "field \"%s\" already has the role %s", name, catalog_role_name(f->role));
    ((struct catalog_field *)f)->role = role;
    *out = f;
    return 0;
}

/* A service path as clients call it: ASCII segments of letters and digits
 * separated by '/', each starting with a letter (either case). */
static bool path_ok(const char *p)
{
    bool start = true;
    for (; *p; p++) {
        char ch = *p;
        bool letter = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
        if (start) {
            if (!letter)
                return false;
            start = false;
        } else if (ch == '/') {
            start = true;
        } else if (!letter && !(ch >= '0' && ch <= '9')) {
            return false;
        }
    }
    return !start;
}

/* An alias: the path's segments in Danish spelling (letters, Danish ones
 * included, and digits), separated by '/'. */
static bool alias_ok(const char *a)
{
    char seg[CATALOG_NAME_MAX + 1];
    const char *p = a;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > CATALOG_NAME_MAX)
            return false;
        memcpy(seg, p, n);
        seg[n] = '\0';
        /* name_ok wants a capital first: a lower-case first letter is fine here */
        if (seg[0] >= 'a' && seg[0] <= 'z')
            seg[0] = (char)(seg[0] - 'a' + 'A');
        else if ((unsigned char)seg[0] == 0xC3 &&
                 ((unsigned char)seg[1] == 0xA6 || (unsigned char)seg[1] == 0xB8 ||
                  (unsigned char)seg[1] == 0xA5))
            seg[1] = (char)((unsigned char)seg[1] - 0x20);
        if (!name_ok(seg, false))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

/* One subject kind: {"kind", "field"} at where. in_record: the field stays
 * a business field (several kinds), else it becomes the key. */
static int parse_subject(struct ctx *c, struct catalog_service *s, const json_t *subj,
                         const char *where, bool in_record, struct catalog_subject *out)
{
    if (!json_is_object(subj))
        return fail(c, where, "must be {\"kind\": \"cpr\"|\"cvr\"|\"se\", \"field\"}");
    static const char *const skeys[] = {"kind", "field", NULL};
    const char *kind, *name;
    char p[96];
    int rc;
    if ((rc = only_keys(c, subj, where, skeys)) ||
        (rc = get_string(c, subj, where, "kind", true, 8, &kind)))
        return rc;
    int k = lookup(ident_names, 4, kind);
    snprintf(p, sizeof p, "%s.kind", where);
    if (k <= 0)
        return fail(c, p, "must be \"cpr\", \"cvr\" or \"se\"");
    out->kind = (enum catalog_ident)k;
    if (in_record) {
        if ((rc = get_string(c, subj, where, "field", true, CATALOG_NAME_MAX, &name)))
            return rc;
        snprintf(p, sizeof p, "%s.field", where);
        struct catalog_field *f =
            (struct catalog_field *)catalog_field_find(s, str_from_cstr(name));
        if (!f)
            return fail(c, p, "no field is named \"%s\"", name);
        if (f->type != CATALOG_IDENTIFIER || f->role != CATALOG_ROLE_BUSINESS || f->subject_key)
            return fail(c, p, "field \"%s\" must be an identifier field of no other role", name);
        f->subject_key = true;
        out->field = f;
    } else if ((rc = key_field(c, s, subj, where, "field", CATALOG_IDENTIFIER, CATALOG_ROLE_SUBJECT,
                               &out->field))) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.field", where);
    if (out->field->ident != out->kind)
        return fail(c, p, "field \"%s\" holds %s numbers, not %s", out->field->name,
                    catalog_ident_name(out->field->ident), kind);
    return 0;
}

/* A date field named by key of obj (a business field), for valid time. */
static int valid_field(struct ctx *c, struct catalog_service *s, const json_t *obj, const char *key,
                       const struct catalog_field **out)
{
    const char *name;
    char p[64];
    int rc = get_string(c, obj, "valid", key, true, CATALOG_NAME_MAX, &name);
    if (rc)
        return rc;
    snprintf(p, sizeof p, "valid.%s", key);
    const struct catalog_field *f = catalog_field_find(s, str_from_cstr(name));
    if (!f)
        return fail(c, p, "no field is named \"%s\"", name);
    if (f->type != CATALOG_DATE || f->role != CATALOG_ROLE_BUSINESS)
        return fail(c, p, "field \"%s\" must be a date field of no other role", name);
    *out = f;
    return 0;
}

static int parse_service(struct ctx *c, const json_t *root, struct catalog_service *s)
{
    if (!json_is_object(root))
        return fail(c, "(top)", "a service description is a JSON object");
    static const char *const keys[] = {
        "path",       "alias",  "title", "description",   "subject",
        "subjects",   "period", "valid", "version_field", "registered_field",
        "parameters", "fields", NULL};
    int rc;
    if ((rc = only_keys(c, root, "", keys)) ||
        (rc = get_string(c, root, "", "path", true, CATALOG_NAME_MAX, &s->path)) ||
        (rc = get_string(c, root, "", "alias", false, CATALOG_NAME_MAX, &s->alias)))
        return rc;
    if (!path_ok(s->path))
        return fail(c, "path",
                    "\"%s\" must be ASCII letters and digits, in segments separated by '/' that "
                    "each start with a letter",
                    s->path);
    if (!s->alias)
        s->alias = s->path;
    else if (!alias_ok(s->alias))
        return fail(c, "alias",
                    "\"%s\" must be letters (Danish ones included) and digits, in segments "
                    "separated by '/'",
                    s->alias);
    if ((rc = get_text(c, root, "", "title", &s->title)) ||
        (rc = get_text(c, root, "", "description", &s->description)))
        return rc;

    /* fields */
    json_t *fa = json_object_get(root, "fields");
    if (!json_is_array(fa) || json_array_size(fa) == 0)
        return fail(c, "fields", "is required: a non-empty array");
    if (json_array_size(fa) > CATALOG_MAX_FIELDS)
        return fail(c, "fields", "at most %d fields", CATALOG_MAX_FIELDS);
    s->n_fields = json_array_size(fa);
    struct catalog_field *fields = arena_alloc(c->cat->arena, s->n_fields * sizeof *fields);
    if (!fields)
        return err_set(c->err, DUPLA_ENOMEM, "%s: out of memory", c->file);
    s->fields = fields;
    size_t i;
    json_t *v;
    json_array_foreach(fa, i, v)
    {
        if ((rc = parse_field(c, v, i, &fields[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(fields[j].name, fields[i].name) == 0) {
                char p[64];
                snprintf(p, sizeof p, "fields[%zu].name", i);
                return fail(c, p, "\"%s\" is also the name of fields[%zu]", fields[i].name, j);
            }
    }

    /* the subject kinds: one (the key), or several (stored in the record) */
    json_t *subj = json_object_get(root, "subject");
    json_t *subjs = json_object_get(root, "subjects");
    if (subj && subjs)
        return fail(c, "subjects", "give either \"subject\" (one kind) or \"subjects\" (several)");
    if (subj) {
        s->n_subjects = 1;
        if ((rc = parse_subject(c, s, subj, "subject", false, &s->subjects[0])))
            return rc;
    } else if (subjs) {
        if (!json_is_array(subjs) || json_array_size(subjs) < 2 ||
            json_array_size(subjs) > CATALOG_MAX_SUBJECTS)
            return fail(c, "subjects", "must be an array of 2 to %d {\"kind\", \"field\"}",
                        CATALOG_MAX_SUBJECTS);
        s->subjects_in_record = true;
        json_array_foreach(subjs, i, v)
        {
            char p[32];
            snprintf(p, sizeof p, "subjects[%zu]", i);
            if ((rc = parse_subject(c, s, v, p, true, &s->subjects[i])))
                return rc;
            for (size_t j = 0; j < i; j++)
                if (s->subjects[j].kind == s->subjects[i].kind)
                    return fail(c, p, "a second subject of kind %s",
                                catalog_ident_name(s->subjects[i].kind));
            s->n_subjects++;
        }
    } else {
        return fail(c, "subject", "is required: {\"kind\": \"cpr\"|\"cvr\"|\"se\", \"field\"}");
    }
    s->subject_kind = s->subjects[0].kind;
    s->subject = s->subjects[0].field;

    const char *kind;
    json_t *per = json_object_get(root, "period");
    if (!json_is_object(per))
        return fail(c, "period",
                    "is required: {\"kind\": \"year\", \"field\"}, {\"kind\": \"range\", "
                    "\"start_field\", \"end_field\"} or {\"kind\": \"number\", \"field\"}");
    if ((rc = get_string(c, per, "period", "kind", true, 8, &kind)))
        return rc;
    if (strcmp(kind, "year") == 0) {
        static const char *const ykeys[] = {"kind", "field", NULL};
        s->period_kind = CATALOG_PERIOD_YEAR;
        if ((rc = only_keys(c, per, "period", ykeys)) ||
            (rc = key_field(c, s, per, "period", "field", CATALOG_INTEGER, CATALOG_ROLE_YEAR,
                            &s->year)))
            return rc;
    } else if (strcmp(kind, "range") == 0) {
        static const char *const rkeys[] = {"kind", "start_field", "end_field", NULL};
        s->period_kind = CATALOG_PERIOD_RANGE;
        if ((rc = only_keys(c, per, "period", rkeys)) ||
            (rc = key_field(c, s, per, "period", "start_field", CATALOG_DATE,
                            CATALOG_ROLE_PERIOD_START, &s->period_start)) ||
            (rc = key_field(c, s, per, "period", "end_field", CATALOG_DATE, CATALOG_ROLE_PERIOD_END,
                            &s->period_end)))
            return rc;
    } else if (strcmp(kind, "number") == 0) {
        static const char *const nkeys[] = {"kind", "field", NULL};
        s->period_kind = CATALOG_PERIOD_NUMBER;
        if ((rc = only_keys(c, per, "period", nkeys)) ||
            (rc = key_field(c, s, per, "period", "field", CATALOG_INTEGER, CATALOG_ROLE_NUMBER,
                            &s->number)))
            return rc;
    } else {
        return fail(c, "period.kind", "must be \"year\", \"range\" or \"number\"");
    }
    json_t *valid = json_object_get(root, "valid");
    if (valid) {
        static const char *const vkeys[] = {"from_field", "to_field", NULL};
        if (!json_is_object(valid))
            return fail(c, "valid", "must be {\"from_field\", \"to_field\"} (date fields)");
        if ((rc = only_keys(c, valid, "valid", vkeys)) ||
            (rc = valid_field(c, s, valid, "from_field", &s->valid_from)) ||
            (rc = valid_field(c, s, valid, "to_field", &s->valid_to)))
            return rc;
        if (s->valid_from == s->valid_to)
            return fail(c, "valid.to_field", "must be another field than from_field");
    }
    if ((rc = key_field(c, s, root, "", "version_field", CATALOG_INTEGER, CATALOG_ROLE_VERSION,
                        &s->version)) ||
        (rc = key_field(c, s, root, "", "registered_field", CATALOG_TIMESTAMP,
                        CATALOG_ROLE_REGISTERED, &s->registered)))
        return rc;
    /* Keys must be present in every record; platform fields are never delivered. */
    for (i = 0; i < s->n_fields; i++) {
        if (fields[i].role != CATALOG_ROLE_BUSINESS && fields[i].role != CATALOG_ROLE_VERSION &&
            fields[i].role != CATALOG_ROLE_REGISTERED && !fields[i].required) {
            char p[64];
            snprintf(p, sizeof p, "fields[%zu].required", i);
            return fail(c, p, "a key field is always required");
        }
    }

    /* The business fields, in catalogue order: the order of the stored encoding. */
    const struct catalog_field **biz = arena_alloc(c->cat->arena, s->n_fields * sizeof *biz);
    if (!biz)
        return err_set(c->err, DUPLA_ENOMEM, "%s: out of memory", c->file);
    for (i = 0; i < s->n_fields; i++)
        if (fields[i].role == CATALOG_ROLE_BUSINESS) {
            fields[i].business_index = s->n_business;
            biz[s->n_business++] = &fields[i];
        }
    s->business = biz;

    /* parameters */
    json_t *pa = json_object_get(root, "parameters");
    if (!json_is_array(pa) || json_array_size(pa) == 0)
        return fail(c, "parameters", "is required: a non-empty array");
    if (json_array_size(pa) > CATALOG_MAX_PARAMS)
        return fail(c, "parameters", "at most %d parameters", CATALOG_MAX_PARAMS);
    s->n_params = json_array_size(pa);
    struct catalog_param *params = arena_alloc(c->cat->arena, s->n_params * sizeof *params);
    if (!params)
        return err_set(c->err, DUPLA_ENOMEM, "%s: out of memory", c->file);
    s->params = params;
    int seen[CATALOG_N_PARAM_ROLES] = {0};
    json_array_foreach(pa, i, v)
    {
        if ((rc = parse_param(c, s, v, i, &params[i])))
            return rc;
        char p[64];
        snprintf(p, sizeof p, "parameters[%zu]", i);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(params[j].name, params[i].name) == 0)
                return fail(c, p, "\"%s\" is also the name of parameters[%zu]", params[i].name, j);
            if (params[i].role == CATALOG_PARAM_CODE && params[j].role == CATALOG_PARAM_CODE &&
                params[i].field == params[j].field)
                return fail(c, p, "a second code parameter for field \"%s\"",
                            params[i].field->name);
        }
        /* one of each role; subjects one per kind; code parameters one per field */
        if (params[i].role != CATALOG_PARAM_SUBJECT && params[i].role != CATALOG_PARAM_CODE &&
            seen[params[i].role])
            return fail(c, p, "a second parameter with role %s",
                        catalog_param_role_name(params[i].role));
        seen[params[i].role]++;
        if (params[i].role == CATALOG_PARAM_SUBJECT) {
            long k = -1;
            for (size_t j = 0; j < s->n_subjects; j++)
                if ((int)params[i].type + 1 == (int)s->subjects[j].kind)
                    k = (long)j;
            if (k < 0 && s->n_subjects == 1)
                return fail(c, p, "the subject parameter must have type %s",
                            catalog_ident_name(s->subject_kind));
            if (k < 0)
                return fail(c, p, "a subject parameter of type %s, but no subject has that kind",
                            catalog_param_type_name(params[i].type));
            if (s->subjects[k].param)
                return fail(c, p, "a second subject parameter of type %s",
                            catalog_param_type_name(params[i].type));
            if (s->n_subjects == 1 && !params[i].required)
                return fail(c, p, "the subject parameter must be required");
            if (s->n_subjects > 1 && params[i].required)
                return fail(c, p,
                            "with several subject kinds no one subject parameter is required "
                            "(a call names exactly one kind)");
            params[i].subject_index = (size_t)k;
            s->subjects[k].param = &params[i];
        }
        if ((params[i].role == CATALOG_PARAM_PERIOD_FROM ||
             params[i].role == CATALOG_PARAM_PERIOD_TO) &&
            s->period_kind == CATALOG_PERIOD_NUMBER)
            return fail(c, p,
                        "a period parameter needs a service whose period is a year or a "
                        "range");
        if ((params[i].role == CATALOG_PARAM_VALID_FROM ||
             params[i].role == CATALOG_PARAM_VALID_TO) &&
            !s->valid_from)
            return fail(c, p, "a valid-time parameter needs the service's \"valid\" fields");
    }
    for (size_t k = 0; k < s->n_subjects; k++)
        if (!s->subjects[k].param) {
            char p[32];
            snprintf(p, sizeof p, "subjects[%zu]", k);
            return fail(c, s->subjects_in_record ? p : "parameters",
                        "no parameter has the role subject and type %s",
                        catalog_ident_name(s->subjects[k].kind));
        }
    if (seen[CATALOG_PARAM_REGISTERED_FROM] != seen[CATALOG_PARAM_REGISTERED_TO])
        return fail(c, "parameters", "registered_from and registered_to come in pairs");
    if (seen[CATALOG_PARAM_VALID_FROM] != seen[CATALOG_PARAM_VALID_TO])
        return fail(c, "parameters", "valid_from and valid_to come in pairs");
    return 0;
}

int catalog_service_parse(catalog_t *cat, const char *file, const json_t *root,
                          struct catalog_service *s, err_t *err)
{
    struct ctx c = {cat, file, err};
    memset(s, 0, sizeof *s);
    return parse_service(&c, root, s);
}
