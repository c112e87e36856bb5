/*
 * search.c: finding synthetic subjects by what their stored data says
 * (GET /api/testdata/subjects, the test-data pages).
 *
 * Every answer is read from the store, never from the generator: persons
 * are the subjects of the current annual assessments (Aarsopgoerelse),
 * companies the CVR numbers of the current statuses (Virksomhedsstatus).
 * The search walks those records in subject order (one year, or all), tests
 * each against the record's own conditions, then asks the other services
 * about a candidate by point reads (the obligations, the joint taxation
 * groups, the services that must have data). It stops at the limit (and
 * reads one more match to say whether there are more) or after
 * TESTDATA_SEARCH_SCAN_MAX records (then says so): a bounded cost at any
 * size of data set.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "dataset/dataset.h"
#include "testdata/testdata.h"

#define S_PERSONS   "Aarsopgoerelse"
#define S_STATUS    "Virksomhedsstatus"
#define S_DUTIES    "Virksomhedspligter"
#define S_GROUPS    "Selskabsskatteoplysninger/Selskabsambeskatningskreds"
#define DUTY_VAT    "1" /* PligtKode of the VAT obligation */
#define STATUS_CODE "VirksomhedStatusTypeKode"

struct search {
    store_conn_t *c;  /* the scan */
    store_conn_t *pc; /* the point reads beside it */
    const catalog_t *cat;
    const struct testdata_query *q;
    struct testdata_result *out;
    err_t *err;
};

/* The business value of field name in decoded values, or NULL when the
 * catalogue has no such business field (a catalogue without it: nothing
 * matches on it). */
static const struct catalog_value *field(const struct catalog_service *svc,
                                         const struct catalog_value *values, const char *name)
{
    const struct catalog_field *f = catalog_field_find(svc, str_from_cstr(name));
    if (!f || f->business_index == SIZE_MAX)
        return NULL;
    return &values[f->business_index];
}

static bool tri_ok(enum testdata_tri t, bool v)
{
    return t == TESTDATA_ANY || (t == TESTDATA_YES) == v;
}

/* Calls fn for each current record of svc about subject (of kind k) that
 * concerns year (0: any): a year or range service's periods overlapping
 * it, a number service's year field (its year parameter's) or valid time.
 * fn returns 1 to stop. *found counts the records seen. */
typedef int (*each_fn)(void *cls, const struct catalog_service *svc,
                       const struct catalog_value *values);

static int each_record(struct search *s, const struct catalog_service *svc, enum catalog_ident k,
                       const char *subject, int year, each_fn fn, void *cls, int64_t *found)
{
    long idx = catalog_subject_index(svc, k);
    char se[11];
    if (idx < 0 && k == CATALOG_IDENT_CVR) {
        /* an SE service: a company's first SE number is its CVR number */
        idx = catalog_subject_index(svc, CATALOG_IDENT_SE);
        snprintf(se, sizeof se, "%s", subject);
        subject = se;
    }
    *found = 0;
    if (idx < 0)
        return 0;
    str_t subj = str_from_cstr(subject);
    struct dataset_query dq = {.svc = svc,
                               .mode = DATASET_CURRENT,
                               .subject_index = (size_t)idx,
                               .subjects = &subj,
                               .n_subjects = 1,
                               .period_from = DATASET_DAY_MIN,
                               .period_to = DATASET_DAY_MAX};
    if (year && svc->period_kind != CATALOG_PERIOD_NUMBER) {
        dataset_year_period(year, &dq.period_from, &dq.period_to);
    } else if (year) {
        const struct catalog_param *yp = catalog_param_by_role(svc, CATALOG_PARAM_YEAR);
        if (yp && yp->field) {
            dq.n_filters = 1;
            dq.filters[0].field = yp->field;
            dq.filters[0].n = 1;
            dq.filters[0].values[0] = year;
        } else if (svc->valid_from) {
            dq.valid = true;
            dataset_year_period(year, &dq.valid_from, &dq.valid_to);
        }
    }
    dataset_cursor_t *cur;
    int rc = dataset_cursor_open(s->pc, &dq, &cur, s->err);
    if (rc)
        return rc;
    struct catalog_value values[CATALOG_MAX_FIELDS];
    const struct dataset_record *rec;
    while ((rc = dataset_cursor_next(cur, &rec, s->err)) == STORE_ROW) {
        (*found)++;
        s->out->scanned++;
        if (!fn)
            break;
        if ((rc = dataset_decode(svc, rec->fields, values, s->err)))
            break;
        if (fn(cls, svc, values)) {
            rc = STORE_DONE;
            break;
        }
    }
    dataset_cursor_close(cur);
    return rc < 0 ? rc : 0;
}

/* Whether subject has data in every service q asks for (in q->year). */
static int has_services(struct search *s, enum catalog_ident k, const char *subject, bool *ok)
{
    *ok = true;
    for (size_t i = 0; *ok && i < s->q->n_services; i++) {
        int64_t n;
        int rc = each_record(s, s->q->services[i], k, subject, s->q->year, NULL, NULL, &n);
        if (rc)
            return rc;
        *ok = n > 0;
    }
    return 0;
}

static int add_hit(struct search *s, const struct testdata_hit *h)
{
    if (s->out->n >= s->q->limit) {
        s->out->more = true;
        return 1;
    }
    s->out->hits[s->out->n++] = *h;
    return 0;
}

/* ---- persons ---- */

static int search_persons(struct search *s)
{
    const struct testdata_query *q = s->q;
    const struct catalog_service *svc = catalog_find(s->cat, STR(S_PERSONS));
    if (!svc)
        return err_set(s->err, DUPLA_ENOTFOUND, "the catalogue has no service %s", S_PERSONS);
    struct dataset_query dq = {.svc = svc,
                               .mode = DATASET_CURRENT,
                               .period_from = DATASET_DAY_MIN,
                               .period_to = DATASET_DAY_MAX};
    int years[1] = {q->year};
    if (q->year) {
        dq.years = years;
        dq.n_years = 1;
    }
    dataset_cursor_t *cur;
    int rc = dataset_cursor_open(s->c, &dq, &cur, s->err);
    if (rc)
        return rc;
    struct catalog_value values[CATALOG_MAX_FIELDS];
    const struct dataset_record *rec;
    int64_t last = -1;
    while ((rc = dataset_cursor_next(cur, &rec, s->err)) == STORE_ROW) {
        if (++s->out->scanned > TESTDATA_SEARCH_SCAN_MAX) {
            s->out->scan_limited = true;
            break;
        }
        if (rec->key.subject == last)
            continue; /* already a hit */
        if ((rc = dataset_decode(svc, rec->fields, values, s->err)))
            break;
        const struct catalog_value *income = field(svc, values, "PersonligIndkomst");
        const struct catalog_value *rest = field(svc, values, "Restskat");
        const struct catalog_value *excess = field(svc, values, "OverskydendeSkat");
        const struct catalog_value *church = field(svc, values, "Kirkeskattepligtig");
        if (!income || !rest || !excess || !church)
            continue;
        int64_t kr = income->i / 100;
        if ((q->income_min_set && kr < q->income_min) || (q->income_max_set && kr > q->income_max))
            continue;
        if (!tri_ok(q->residual_tax, rest->i > 0) || !tri_ok(q->excess_tax, excess->i > 0) ||
            !tri_ok(q->church_tax, church->i != 0))
            continue;
        struct testdata_hit h = {.kind = TESTDATA_PERSON};
        dataset_subject_format(CATALOG_IDENT_CPR, rec->key.subject, h.subject, sizeof h.subject);
        bool ok;
        if ((rc = has_services(s, CATALOG_IDENT_CPR, h.subject, &ok)))
            break;
        if (!ok)
            continue;
        int y, m, d;
        clock_civil_from_days(rec->key.period_start, &y, &m, &d);
        h.year = y;
        h.income = income->i;
        h.residual_tax = rest->i;
        h.excess_tax = excess->i;
        h.church_tax = church->i != 0;
        last = rec->key.subject;
        if (add_hit(s, &h))
            break;
    }
    dataset_cursor_close(cur);
    return rc < 0 ? rc : 0;
}

/* ---- companies ---- */

static int duty_vat(void *cls, const struct catalog_service *svc, const struct catalog_value *v)
{
    const struct catalog_value *code = field(svc, v, "PligtKode");
    const struct catalog_value *to = field(svc, v, "RegistreringForholdGyldigTilDato");
    if (code && code->present && str_eq_cstr(code->s, DUTY_VAT) && to && !to->present) {
        *(bool *)cls = true;
        return 1;
    }
    return 0;
}

/* Tests the company whose status records were just read (its current
 * status: code, the one without an end) against the other conditions. */
static int company_done(struct search *s, int64_t subject, int status, bool *stop)
{
    const struct testdata_query *q = s->q;
    *stop = false;
    if (q->status && status != q->status)
        return 0;
    struct testdata_hit h = {.kind = TESTDATA_COMPANY, .year = q->year, .status = status};
    dataset_subject_format(CATALOG_IDENT_CVR, subject, h.subject, sizeof h.subject);
    int rc;
    int64_t n;
    const struct catalog_service *duties = catalog_find(s->cat, STR(S_DUTIES));
    if (duties &&
        (rc = each_record(s, duties, CATALOG_IDENT_CVR, h.subject, 0, duty_vat, &h.vat, &n)))
        return rc;
    if (!tri_ok(q->vat, h.vat))
        return 0;
    const struct catalog_service *groups = catalog_find(s->cat, STR(S_GROUPS));
    if (groups &&
        (rc = each_record(s, groups, CATALOG_IDENT_CVR, h.subject, q->year, NULL, NULL, &n)))
        return rc;
    h.joint_taxation = groups && n > 0;
    if (!tri_ok(q->joint_taxation, h.joint_taxation))
        return 0;
    bool ok;
    if ((rc = has_services(s, CATALOG_IDENT_CVR, h.subject, &ok)) || !ok)
        return rc;
    *stop = add_hit(s, &h) != 0;
    return 0;
}

static int search_companies(struct search *s)
{
    const struct catalog_service *svc = catalog_find(s->cat, STR(S_STATUS));
    if (!svc)
        return err_set(s->err, DUPLA_ENOTFOUND, "the catalogue has no service %s", S_STATUS);
    long idx = catalog_subject_index(svc, CATALOG_IDENT_CVR);
    const struct catalog_field *code_f = catalog_field_find(svc, STR(STATUS_CODE));
    if (idx < 0 || !code_f || !svc->valid_to)
        return err_set(s->err, DUPLA_EINTERNAL, "%s has no CVR subjects or statuses", S_STATUS);
    struct dataset_query dq = {.svc = svc,
                               .mode = DATASET_CURRENT,
                               .period_from = DATASET_DAY_MIN,
                               .period_to = DATASET_DAY_MAX};
    dataset_cursor_t *cur;
    int rc = dataset_cursor_open(s->c, &dq, &cur, s->err);
    if (rc)
        return rc;
    struct catalog_value values[CATALOG_MAX_FIELDS];
    const struct dataset_record *rec;
    int64_t subject = -1;
    int status = 0;
    bool stop = false;
    while (!stop && (rc = dataset_cursor_next(cur, &rec, s->err)) == STORE_ROW) {
        if (++s->out->scanned > TESTDATA_SEARCH_SCAN_MAX) {
            s->out->scan_limited = true;
            break;
        }
        int64_t tag = rec->key.subject / DATASET_SUBJECT_TAG;
        if (tag != idx) {
            if (tag > idx)
                break; /* the keys of the other kinds follow */
            continue;
        }
        int64_t subj = rec->key.subject % DATASET_SUBJECT_TAG;
        if (subj != subject) {
            if (subject >= 0 && (rc = company_done(s, subject, status, &stop)))
                break;
            if (stop)
                break;
            subject = subj;
            status = 0;
        }
        if ((rc = dataset_decode(svc, rec->fields, values, s->err)))
            break;
        const struct catalog_value *code = &values[code_f->business_index];
        const struct catalog_value *to = &values[svc->valid_to->business_index];
        int64_t n = 0;
        if (code->present && !to->present && str_to_int64(code->s, &n) == 0)
            status = (int)n;
    }
    /* the last company, when the read ended or reached the other kinds' keys */
    if (rc >= 0 && !stop && !s->out->scan_limited && subject >= 0)
        rc = company_done(s, subject, status, &stop);
    dataset_cursor_close(cur);
    return rc < 0 ? rc : 0;
}

int testdata_search(store_t *st, const catalog_t *cat, const struct testdata_query *q,
                    struct testdata_result *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > TESTDATA_SEARCH_LIMIT_MAX)
        return err_param(err, DUPLA_EINVAL, "limit", "limit must be 1 to %d",
                         TESTDATA_SEARCH_LIMIT_MAX);
    struct search s = {.cat = cat, .q = q, .out = out, .err = err};
    int rc = store_conn_get(st, &s.c, err);
    if (rc)
        return rc;
    if ((rc = store_conn_get(st, &s.pc, err))) {
        store_conn_put(s.c);
        return rc;
    }
    rc = q->kind == TESTDATA_COMPANY ? search_companies(&s) : search_persons(&s);
    store_conn_put(s.pc);
    store_conn_put(s.c);
    return rc;
}
