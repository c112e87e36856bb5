/*
 * create.c: a synthetic person made to order (the test-data pages and
 * POST /api/testdata/subjects).
 *
 * The person is the generator's own: person number index, drawn from
 * TESTDATA_CREATE_SEED like every other, with the chosen properties laid
 * over the drawn ones (struct testdata_person_spec, applied where the
 * generator makes the person and its years), and every service's records
 * about it generated and ingested by testdata_load, the same way as
 * `dupla testdata generate --ingest`: the same rules, the same path into
 * the store. Created persons take the numbers from TESTDATA_CREATED_FIRST
 * on, in order; the next free one is found in the store (a binary search
 * over whether a number's CPR has annual assessments), so nothing else
 * needs remembering. Creations are serialised within a process; two nodes
 * creating at the same moment may pick the same number, and the second
 * then delivers the same person again with its own properties (a new
 * version), never a broken one.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "testdata/testdata.h"

#define ASSESS_SERVICE "Aarsopgoerelse"

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether person index of opt has a current annual assessment in st. */
static int exists(store_conn_t *c, const struct catalog_service *svc,
                  const struct testdata_options *opt, unsigned index, bool *out, err_t *err)
{
    char cpr[11];
    testdata_person_cpr(opt, index, cpr);
    str_t subj = str_from_cstr(cpr);
    struct dataset_query q = {.svc = svc,
                              .mode = DATASET_CURRENT,
                              .subjects = &subj,
                              .n_subjects = 1,
                              .period_from = DATASET_DAY_MIN,
                              .period_to = DATASET_DAY_MAX};
    dataset_cursor_t *cur;
    int rc = dataset_cursor_open(c, &q, &cur, err);
    if (rc)
        return rc;
    const struct dataset_record *rec;
    rc = dataset_cursor_next(cur, &rec, err);
    dataset_cursor_close(cur);
    if (rc < 0)
        return rc;
    *out = rc == STORE_ROW;
    return 0;
}

int testdata_create(store_t *st, const catalog_t *cat, enum environment env,
                    const struct testdata_person_spec *spec, char *cpr, int *year_from,
                    int *year_to, err_t *err)
{
    if (env == ENV_PRODUCTION)
        return err_set(err, DUPLA_EFORBIDDEN,
                       "this is a production deployment: it refuses to create synthetic persons");
    const struct catalog_service *svc = catalog_find(cat, STR(ASSESS_SERVICE));
    if (!svc)
        return err_set(err, DUPLA_ENOTFOUND, "the catalogue has no service %s", ASSESS_SERVICE);
    int first, last;
    testdata_tax_years(&first, &last);
    struct testdata_options opt = {.seed = TESTDATA_CREATE_SEED,
                                   .year_from = last - TESTDATA_CREATE_YEARS + 1,
                                   .year_to = last};
    if (opt.year_from < first)
        opt.year_from = first;
    pthread_mutex_lock(&create_lock);
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    /* the first free number: created persons are made in order */
    unsigned lo = 0, hi = TESTDATA_CREATED_MAX;
    while (rc == 0 && lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        bool taken = false;
        rc = exists(c, svc, &opt, TESTDATA_CREATED_FIRST + mid, &taken, err);
        if (taken)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (rc == 0)
        store_conn_put(c);
    if (rc == 0 && lo >= TESTDATA_CREATED_MAX)
        rc = err_set(err, DUPLA_ELIMIT, "%d persons have been created: no more",
                     TESTDATA_CREATED_MAX);
    if (rc == 0) {
        struct testdata_person_spec s = *spec;
        s.index = TESTDATA_CREATED_FIRST + lo;
        opt.persons = s.index + 1;
        opt.spec = &s;
        rc = testdata_load(st, cat, &opt, env, NULL, NULL, NULL, err);
        if (rc == 0) {
            testdata_person_cpr(&opt, s.index, cpr);
            *year_from = opt.year_from;
            *year_to = opt.year_to;
        }
    }
    pthread_mutex_unlock(&create_lock);
    return rc;
}
