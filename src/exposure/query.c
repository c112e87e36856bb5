/*
 * query.c: a request's query parameters, checked against the service's
 * catalogue description, into a struct exposure_query.
 *
 * Only what the catalogue declares is accepted (an allow-list per service);
 * every refusal names the parameter and says what was expected, so that a
 * 400 always means "your request is wrong" (clients do not retry it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "dataset/dataset.h"
#include "exposure/exposure.h"

#define MS_PER_DAY (86400LL * 1000)

/* A 400 naming param, with problem type `type`. */
static int refuse(err_t *err, const char *type, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(err_t *err, const char *type, const char *param, const char *fmt, ...)
{
    char msg[ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_param(err, DUPLA_EINVAL, param, "%s", msg);
    err_http(err, 400, type);
    return DUPLA_EINVAL;
}

static const char *ptype_expect(enum catalog_param_type t)
{
    switch (t) {
    case CATALOG_PARAM_CPR:
        return "a CPR number: 10 digits DDMMYYSSSS";
    case CATALOG_PARAM_CVR:
        return "a CVR number: 8 digits with a valid modulus-11 check";
    case CATALOG_PARAM_SE:
        return "an SE number: 8 digits, not starting with 0";
    case CATALOG_PARAM_T_YEAR:
        return "a year: yyyy";
    case CATALOG_PARAM_T_DATE:
        return "a date: yyyy-mm-dd";
    case CATALOG_PARAM_T_TIMESTAMP:
        return "a UTC timestamp: yyyy-mm-ddTHH:MM:SSZ";
    case CATALOG_PARAM_T_TEXT:
        return "text";
    case CATALOG_PARAM_T_CODE:
        return "a code of the parameter's code table (see GET /servicekatalog)";
    }
    return "a value";
}

/* A set of strings (open addressing, in the arena) to drop repeats. */
struct strset {
    str_t *slots;
    size_t cap;
};

static int strset_init(struct strset *s, size_t n, arena_t *a)
{
    s->cap = 16;
    while (s->cap < 2 * n)
        s->cap *= 2;
    s->slots = arena_alloc(a, s->cap * sizeof *s->slots);
    return s->slots ? 0 : -1;
}

/* true if v was new (and is now in the set). */
static bool strset_add(struct strset *s, str_t v)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < v.len; i++)
        h = (h ^ (unsigned char)v.ptr[i]) * 1099511628211ULL;
    for (size_t i = (size_t)h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i].ptr) {
            s->slots[i] = v;
            return true;
        }
        if (str_eq(s->slots[i], v))
            return false;
    }
}

static bool subject_ok(enum catalog_param_type t, str_t v)
{
    switch (t) {
    case CATALOG_PARAM_CPR:
        return ident_cpr_valid(v);
    case CATALOG_PARAM_CVR:
        return ident_cvr_valid(v);
    case CATALOG_PARAM_SE:
        return ident_se_valid(v);
    default:
        return false;
    }
}

/* A date or timestamp parameter as ms; an end date covers its whole day. */
static int moment(const struct catalog_param *p, str_t v, bool end, int64_t *ms)
{
    if (p->type == CATALOG_PARAM_T_DATE) {
        int32_t d;
        if (clock_parse_date(v, &d) != 0)
            return -1;
        *ms = ((int64_t)d + (end ? 1 : 0)) * MS_PER_DAY;
        return 0;
    }
    return clock_parse_timestamp(v, ms, 0) == 0 ? 0 : -1;
}

/* Adds value to the filter of p's field (one filter per field; repeats
 * dropped). */
static int filter_add(struct exposure_query *q, const struct catalog_param *p, int64_t value,
                      err_t *err)
{
    struct dataset_filter *f = NULL;
    for (size_t i = 0; i < q->n_filters; i++)
        if (q->filters[i].field == p->field)
            f = &q->filters[i];
    if (!f) {
        if (q->n_filters == DATASET_MAX_FILTERS)
            return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                          "%s: at most %d filters in one call", p->name, DATASET_MAX_FILTERS);
        f = &q->filters[q->n_filters++];
        f->field = p->field;
        f->n = 0;
    }
    for (size_t i = 0; i < f->n; i++)
        if (f->values[i] == value)
            return 0;
    if (f->n == DATASET_FILTER_VALUES)
        return refuse(err, PROBLEM_INVALID_PARAMETER, p->name, "%s: at most %d values", p->name,
                      DATASET_FILTER_VALUES);
    f->values[f->n++] = value;
    return 0;
}

int exposure_query_parse(const struct catalog_service *svc, const struct exposure_arg *args,
                         size_t n_args, unsigned max_subjects, int64_t now_ms, int64_t margin_ms,
                         arena_t *a, struct exposure_query *q, err_t *err)
{
    memset(q, 0, sizeof *q);
    q->svc = svc;
    q->period_from = DATASET_DAY_MIN;
    q->period_to = DATASET_DAY_MAX;
    char pname[CATALOG_NAME_MAX + 1];

    /* Every argument must be a declared parameter; a single-valued one may
     * not repeat. Count the list values for the arrays. */
    size_t seen[CATALOG_MAX_PARAMS] = {0};
    for (size_t i = 0; i < n_args; i++) {
        const struct catalog_param *p = catalog_param_find(svc, args[i].name);
        if (!p) {
            str_copy(args[i].name, pname, sizeof pname);
            return refuse(err, PROBLEM_UNKNOWN_PARAMETER, pname,
                          "%s is not a parameter of this service (see GET /openapi.json)", pname);
        }
        size_t k = (size_t)(p - svc->params);
        if (seen[k] && !p->list)
            return refuse(err, PROBLEM_INVALID_PARAMETER, p->name, "%s may be given only once",
                          p->name);
        seen[k]++;
    }
    for (size_t k = 0; k < svc->n_params; k++)
        if (svc->params[k].required && !seen[k])
            return refuse(err, PROBLEM_MISSING_PARAMETER, svc->params[k].name, "%s is required: %s",
                          svc->params[k].name, ptype_expect(svc->params[k].type));

    /* Exactly one kind of subject per call. */
    const struct catalog_param *psub = NULL;
    char names[ERR_PARAM_MAX];
    size_t at = 0;
    names[0] = '\0';
    for (size_t k = 0; k < svc->n_subjects; k++) {
        const struct catalog_param *sp = svc->subjects[k].param;
        if (!seen[sp - svc->params])
            continue;
        if (psub) {
            snprintf(names, sizeof names, "%s, %s", psub->name, sp->name);
            return refuse(err, PROBLEM_INVALID_PARAMETER, names,
                          "%s: a call names exactly one kind of subject", names);
        }
        psub = sp;
    }
    if (!psub) {
        for (size_t k = 0; k < svc->n_subjects && at < sizeof names; k++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", k ? ", " : "",
                                   svc->subjects[k].param->name);
        return refuse(err, PROBLEM_MISSING_PARAMETER, names,
                      "one of %s is required: the subjects asked about", names);
    }
    q->subject_index = psub->subject_index;
    const struct catalog_param *pyear = catalog_param_by_role(svc, CATALOG_PARAM_YEAR);
    const struct catalog_param *pfields = catalog_param_by_role(svc, CATALOG_PARAM_FIELDS);
    size_t n_sub = psub ? seen[psub - svc->params] : 0;
    size_t n_year = pyear ? seen[pyear - svc->params] : 0;
    if (n_sub > max_subjects) {
        return refuse(err, PROBLEM_TOO_MANY_SUBJECTS, psub->name,
                      "at most %u subjects per call (%s)", max_subjects, psub->name);
    }
    if (n_year > EXPOSURE_MAX_YEARS)
        return refuse(err, PROBLEM_INVALID_PARAMETER, pyear->name, "at most %d values of %s",
                      EXPOSURE_MAX_YEARS, pyear->name);
    struct strset subjects = {0};
    if (n_sub && (!(q->subjects = arena_alloc(a, n_sub * sizeof *q->subjects)) ||
                  strset_init(&subjects, n_sub, a) != 0))
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    if (n_year && !pyear->field && !(q->years = arena_alloc(a, n_year * sizeof *q->years)))
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    if (pfields && seen[pfields - svc->params] &&
        !(q->fields = arena_alloc(a, EXPOSURE_MAX_FIELD_ARGS * sizeof *q->fields)))
        return err_set(err, DUPLA_ENOMEM, "out of memory");

    bool have_from = false, have_to = false;
    int64_t reg_from = 0, reg_to = 0;
    for (size_t i = 0; i < n_args; i++) {
        const struct catalog_param *p = catalog_param_find(svc, args[i].name);
        str_t v = args[i].value;
        char shown[48];
        str_copy(str_sub(v, 0, 40), shown, sizeof shown);
        switch (p->role) {
        case CATALOG_PARAM_CODE: {
            long k = catalog_code_index(p->field, v);
            if (k < 0)
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                              "%s: \"%s\" is not a code of %s (see GET /servicekatalog)", p->name,
                              shown, p->field->name);
            int rc = filter_add(q, p, k, err);
            if (rc)
                return rc;
            break;
        }
        case CATALOG_PARAM_VALID_FROM:
        case CATALOG_PARAM_VALID_TO: {
            int32_t d;
            if (clock_parse_date(v, &d) != 0)
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                              "%s: \"%s\" is not a date (yyyy-mm-dd)", p->name, shown);
            if (!q->valid) {
                q->valid = true;
                q->valid_from = DATASET_DAY_MIN;
                q->valid_to = DATASET_DAY_MAX;
            }
            if (p->role == CATALOG_PARAM_VALID_FROM)
                q->valid_from = d;
            else
                q->valid_to = d;
            break;
        }
        case CATALOG_PARAM_SUBJECT:
            if (p != psub)
                break; /* cannot happen: only one kind was given */
            if (!subject_ok(p->type, v)) {
                /* the value itself is a personal identifier: not echoed */
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name, "%s: a value is not %s",
                              p->name, ptype_expect(p->type));
            }
            if (strset_add(&subjects, v))
                q->subjects[q->n_subjects++] = v;
            break;
        case CATALOG_PARAM_YEAR: {
            int64_t y;
            if (v.len != 4 || !str_is_digits(v) || str_to_int64(v, &y) != 0 ||
                y < EXPOSURE_YEAR_MIN || y > EXPOSURE_YEAR_MAX)
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                              "%s: \"%s\" is not a year (yyyy)", p->name, shown);
            if (p->field) {
                int rc = filter_add(q, p, y, err);
                if (rc)
                    return rc;
                break;
            }
            bool dup = false;
            for (size_t j = 0; j < q->n_years; j++)
                dup |= q->years[j] == (int)y;
            if (!dup)
                q->years[q->n_years++] = (int)y;
            break;
        }
        case CATALOG_PARAM_PERIOD_FROM:
        case CATALOG_PARAM_PERIOD_TO: {
            int32_t d;
            if (clock_parse_date(v, &d) != 0)
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                              "%s: \"%s\" is not a date (yyyy-mm-dd)", p->name, shown);
            if (p->role == CATALOG_PARAM_PERIOD_FROM)
                q->period_from = d;
            else
                q->period_to = d;
            break;
        }
        case CATALOG_PARAM_REGISTERED_FROM:
        case CATALOG_PARAM_REGISTERED_TO: {
            bool end = p->role == CATALOG_PARAM_REGISTERED_TO;
            int64_t ms;
            if (moment(p, v, end, &ms) != 0) {
                return refuse(err, PROBLEM_INVALID_PARAMETER, p->name, "%s: \"%s\" is not %s",
                              p->name, shown, ptype_expect(p->type));
            }
            if (end) {
                reg_to = ms;
                have_to = true;
            } else {
                reg_from = ms;
                have_from = true;
            }
            break;
        }
        case CATALOG_PARAM_FIELDS: {
            /* repeated names, and commas inside one value */
            str_t rest = v, name;
            q->fields_given = true;
            do {
                bool more = str_split(rest, ',', &name, &rest);
                name = str_trim(name);
                char fname[CATALOG_NAME_MAX + 1];
                str_copy(str_sub(name, 0, CATALOG_NAME_MAX), fname, sizeof fname);
                if (name.len == 0)
                    return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                                  "%s: an empty field name", p->name);
                if (!catalog_field_find(svc, name))
                    return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                                  "%s: \"%s\" is not a field of this service", p->name, fname);
                bool dup = false;
                for (size_t j = 0; j < q->n_fields; j++)
                    dup |= str_eq(q->fields[j], name);
                if (!dup) {
                    if (q->n_fields == EXPOSURE_MAX_FIELD_ARGS)
                        return refuse(err, PROBLEM_INVALID_PARAMETER, p->name,
                                      "%s: too many field names", p->name);
                    q->fields[q->n_fields++] = name;
                }
                if (!more)
                    break;
            } while (1);
            break;
        }
        }
    }

    const struct catalog_param *pf = catalog_param_by_role(svc, CATALOG_PARAM_PERIOD_FROM);
    if (q->period_from != DATASET_DAY_MIN && q->period_to != DATASET_DAY_MAX &&
        q->period_to < q->period_from)
        return refuse(err, PROBLEM_INVALID_PARAMETER, pf ? pf->name : "period",
                      "%s: the period ends before it starts", pf ? pf->name : "period");

    if (q->valid && q->valid_to < q->valid_from) {
        const struct catalog_param *pv = catalog_param_by_role(svc, CATALOG_PARAM_VALID_FROM);
        return refuse(err, PROBLEM_INVALID_PARAMETER, pv->name,
                      "%s: the valid time ends before it starts", pv->name);
    }

    if (have_from || have_to) {
        const struct catalog_param *prf = catalog_param_by_role(svc, CATALOG_PARAM_REGISTERED_FROM);
        const char *nm = prf ? prf->name : "registered_from";
        int64_t latest = now_ms - margin_ms;
        q->window = true;
        q->registered_from = have_from ? reg_from : 0;
        q->registered_to = have_to ? reg_to : latest;
        if (q->registered_to > latest) {
            q->registered_to = latest;
            q->window_end_clamped = true;
        }
        if (have_to && reg_to < q->registered_from)
            return refuse(err, PROBLEM_INVALID_PARAMETER, nm,
                          "%s: the registration window ends before it starts", nm);
        if (q->registered_to < q->registered_from)
            q->registered_to = q->registered_from; /* empty: the window is all in the margin */
    }
    return 0;
}
