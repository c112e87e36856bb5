/* Unit tests: dataset (the bitemporal record store: encoding, versions,
 * deliveries, the current-version and registration-window reads). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "dataset/dataset.h"
#include "fixture.h"
#include "store/store.h"

static char dir[FX_DIR_MAX];
static store_t *st;
static catalog_t *cat;
static const struct catalog_service *aar, *moms;

static void setup(void)
{
    fx_tmpdir(dir, "dataset");
    st = fx_store(dir, "t.db");
    err_t err;
    cr_assert_eq(dataset_migrate(st, &err), 0, "%s", err.detail);
    cat = fx_catalog();
    aar = catalog_find(cat, STR("Aarsopgoerelse"));
    moms = catalog_find(cat, STR("Momsangivelse"));
}

static void teardown(void)
{
    catalog_free(cat);
    store_close(st);
    fx_rmtree(dir);
}

TestSuite(dataset, .init = setup, .fini = teardown);

/* Values for every business field of svc: amounts = base + index, the rest
 * plausible constants. */
static void fill(const struct catalog_service *svc, struct catalog_value *v, int64_t base)
{
    for (size_t i = 0; i < svc->n_business; i++) {
        const struct catalog_field *f = svc->business[i];
        v[i] = (struct catalog_value){.present = true, .i = base + (int64_t)i};
        switch (f->type) {
        case CATALOG_CODE:
            v[i].s = str_from_cstr(f->codes[0].value);
            break;
        case CATALOG_IDENTIFIER:
            v[i].s = STR("10000009");
            break;
        case CATALOG_BOOLEAN:
            v[i].i = 1;
            break;
        default:
            break;
        }
    }
}

Test(dataset, the_encoding_round_trips_and_is_canonical)
{
    struct catalog_value v[CATALOG_MAX_FIELDS], back[CATALOG_MAX_FIELDS];
    fill(aar, v, -3);
    v[2].present = false;
    v[aar->n_business - 1].present = false; /* trailing absent: left out */
    buf_t a, b;
    buf_init(&a, DATASET_ENCODED_MAX);
    buf_init(&b, DATASET_ENCODED_MAX);
    err_t err;
    cr_assert_eq(dataset_encode(aar, v, &a, &err), 0);
    cr_assert_eq(dataset_decode(aar, buf_str(&a), back, &err), 0);
    for (size_t i = 0; i < aar->n_business; i++) {
        cr_assert_eq(back[i].present, v[i].present, "field %zu", i);
        if (!v[i].present)
            continue;
        if (v[i].s.ptr)
            cr_assert(str_eq(back[i].s, v[i].s));
        else
            cr_assert_eq(back[i].i, v[i].i, "field %zu", i);
    }
    cr_assert_eq(dataset_encode(aar, back, &b, &err), 0);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
    cr_assert_lt(a.len, 100, "%zu bytes", a.len);
    /* corruption is detected */
    str_t cut = {a.data, a.len - 1};
    cr_assert_neq(dataset_decode(aar, cut, back, &err), 0);
    cr_assert_neq(dataset_decode(aar, STR("\x02\x01\x01\x00"), back, &err), 0);
    buf_free(&a);
    buf_free(&b);
}

Test(dataset, subjects_and_years)
{
    int64_t s;
    cr_assert_eq(dataset_subject_parse(CATALOG_IDENT_CPR, STR("0101901234"), &s), 0);
    cr_assert_eq(s, 101901234);
    char out[16];
    dataset_subject_format(CATALOG_IDENT_CPR, s, out, sizeof out);
    cr_assert_str_eq(out, "0101901234");
    cr_assert_neq(dataset_subject_parse(CATALOG_IDENT_SE, STR("0101901234"), &s), 0);
    cr_assert_neq(dataset_subject_parse(CATALOG_IDENT_SE, STR("1234567a"), &s), 0);
    int32_t a, b;
    dataset_year_period(2024, &a, &b);
    cr_assert_eq(a, clock_days_from_civil(2024, 1, 1));
    cr_assert_eq(b - a, 365);
}

struct writer {
    store_conn_t *c;
    int64_t sid;
    struct dataset_delivery d;
};

static void begin(struct writer *w, const struct catalog_service *svc, const char *id, int64_t at)
{
    err_t err;
    cr_assert_eq(store_conn_get(st, &w->c, &err), 0);
    cr_assert_eq(store_begin(w->c, &err), 0);
    memset(&w->d, 0, sizeof w->d);
    snprintf(w->d.id, sizeof w->d.id, "%s", id);
    snprintf(w->d.source, sizeof w->d.source, "test");
    memset(w->d.content_sha256, 'a', 64);
    w->d.received_ms = at;
    cr_assert_eq(dataset_delivery_begin(w->c, svc, &w->d, &err), 0, "%s", err.detail);
    cr_assert_eq(dataset_service_id(w->c, svc, false, &w->sid, &err), 0);
}

static enum dataset_put_outcome put(struct writer *w, const struct catalog_service *svc,
                                    int64_t subject, int32_t ps, int32_t pe, int64_t base,
                                    int64_t at, int64_t *version)
{
    struct catalog_value v[CATALOG_MAX_FIELDS];
    fill(svc, v, base);
    buf_t enc;
    buf_init(&enc, DATASET_ENCODED_MAX);
    err_t err;
    cr_assert_eq(dataset_encode(svc, v, &enc, &err), 0);
    struct dataset_key k = {subject, ps, pe};
    enum dataset_put_outcome o;
    cr_assert_eq(dataset_put(w->c, w->sid, &k, buf_str(&enc), at, w->d.seq, &o, version, &err), 0,
                 "%s", err.detail);
    buf_free(&enc);
    return o;
}

static void commit(struct writer *w)
{
    err_t err;
    cr_assert_eq(dataset_delivery_finish(w->c, &w->d, &err), 0);
    cr_assert_eq(store_commit(w->c, &err), 0);
    store_conn_put(w->c);
}

static void put_year(struct writer *w, int64_t cpr, int year, int64_t base, int64_t at,
                     enum dataset_put_outcome want, int64_t want_version)
{
    int32_t a, b;
    dataset_year_period(year, &a, &b);
    int64_t version;
    cr_assert_eq(put(w, aar, cpr, a, b, base, at, &version), want);
    cr_assert_eq(version, want_version);
}

/* Reads q and returns "subject/year/version;..." for the checks. */
static char *read_all(const struct dataset_query *q)
{
    static char out[4096];
    out[0] = '\0';
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    dataset_cursor_t *cur;
    cr_assert_eq(dataset_cursor_open(c, q, &cur, &err), 0, "%s", err.detail);
    const struct dataset_record *r;
    int rc;
    while ((rc = dataset_cursor_next(cur, &r, &err)) == STORE_ROW) {
        int y, m, d;
        clock_civil_from_days(r->key.period_start, &y, &m, &d);
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%lld/%d/%lld;", (long long)r->key.subject, y,
                 (long long)r->version);
    }
    cr_assert_eq(rc, STORE_DONE, "%s", err.detail);
    cr_assert_eq(dataset_cursor_next(cur, &r, &err), STORE_DONE);
    dataset_cursor_close(cur);
    store_conn_put(c);
    return out;
}

static struct dataset_query query(enum dataset_mode mode, const str_t *subjects, size_t n)
{
    return (struct dataset_query){.svc = aar,
                                  .mode = mode,
                                  .subjects = subjects,
                                  .n_subjects = n,
                                  .period_from = DATASET_DAY_MIN,
                                  .period_to = DATASET_DAY_MAX,
                                  .registered_from = INT64_MIN,
                                  .registered_to = INT64_MAX};
}

Test(dataset, versions_and_both_reads)
{
    struct dataset_query q = query(DATASET_CURRENT, NULL, 0);
    cr_assert_str_eq(read_all(&q), "", "an empty store reads as nothing");

    struct writer w;
    begin(&w, aar, "d1", 1000);
    put_year(&w, 101901234, 2022, 10, 1000, DATASET_NEW_VERSION, 1);
    put_year(&w, 101901234, 2023, 20, 1000, DATASET_NEW_VERSION, 1);
    put_year(&w, 202805678, 2023, 30, 1000, DATASET_NEW_VERSION, 1);
    commit(&w);
    begin(&w, aar, "d2", 2000);
    put_year(&w, 101901234, 2022, 10, 2000, DATASET_UNCHANGED, 1);
    put_year(&w, 101901234, 2023, 21, 2000, DATASET_NEW_VERSION, 2);
    commit(&w);
    begin(&w, aar, "d3", 3000);
    put_year(&w, 101901234, 2023, 22, 3000, DATASET_NEW_VERSION, 3);
    put_year(&w, 101901234, 2024, 40, 3000, DATASET_NEW_VERSION, 1);
    commit(&w);

    str_t one[] = {STR("0101901234")};
    str_t two[] = {STR("0202805678"), STR("0101901234"), STR("0303030303")};

    q = query(DATASET_CURRENT, one, 1);
    cr_assert_str_eq(read_all(&q), "101901234/2022/1;101901234/2023/3;101901234/2024/1;");
    q = query(DATASET_CURRENT, two, 3);
    cr_assert_str_eq(read_all(&q), "202805678/2023/1;101901234/2022/1;101901234/2023/3;"
                                   "101901234/2024/1;");
    q = query(DATASET_CURRENT, NULL, 0);
    cr_assert_str_eq(read_all(&q), "101901234/2022/1;101901234/2023/3;101901234/2024/1;"
                                   "202805678/2023/1;");
    int years[] = {2023, 2022};
    q = query(DATASET_CURRENT, two, 3);
    q.years = years;
    q.n_years = 2;
    cr_assert_str_eq(read_all(&q), "202805678/2023/1;101901234/2022/1;101901234/2023/3;");
    int gap[] = {2022, 2024};
    q.years = gap;
    cr_assert_str_eq(read_all(&q), "101901234/2022/1;101901234/2024/1;");
    q = query(DATASET_CURRENT, one, 1);
    q.period_from = clock_days_from_civil(2023, 6, 1);
    q.period_to = clock_days_from_civil(2023, 6, 30);
    cr_assert_str_eq(read_all(&q), "101901234/2023/3;");

    /* every version registered in [from, to) */
    q = query(DATASET_WINDOW, one, 1);
    cr_assert_str_eq(read_all(&q), "101901234/2022/1;101901234/2023/1;101901234/2023/2;"
                                   "101901234/2023/3;101901234/2024/1;");
    q.registered_from = 2000;
    q.registered_to = 3000;
    cr_assert_str_eq(read_all(&q), "101901234/2023/2;");
    q.registered_to = 3001;
    cr_assert_str_eq(read_all(&q), "101901234/2023/2;101901234/2023/3;101901234/2024/1;");
    q = query(DATASET_WINDOW, NULL, 0);
    q.registered_from = 1000;
    q.registered_to = 2000;
    cr_assert_str_eq(read_all(&q), "101901234/2022/1;101901234/2023/1;202805678/2023/1;");
    q.years = years;
    q.n_years = 1;
    cr_assert_str_eq(read_all(&q), "101901234/2023/1;202805678/2023/1;");

    /* another service's records are not mixed in */
    q = query(DATASET_CURRENT, NULL, 0);
    q.svc = moms;
    cr_assert_str_eq(read_all(&q), "");

    /* bad subjects are refused at open */
    str_t bad[] = {STR("12345")};
    q = query(DATASET_CURRENT, bad, 1);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    dataset_cursor_t *cur;
    cr_assert_eq(dataset_cursor_open(c, &q, &cur, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "PersonCPRNummer");
    store_conn_put(c);
}

Test(dataset, postgresql_partitions_records_by_subject_and_migration_2_keeps_them)
{
    if (strcmp(store_backend(st), "postgresql") != 0) {
        /* SQLite keeps one table; migration 2 is recorded all the same */
        int version;
        err_t err;
        cr_assert_eq(store_schema_version(st, "dataset", &version, &err), 0);
        cr_assert_geq(version, 2);
        return;
    }
    store_t *full = st;
    st = fx_store(dir, "v1.db");
    err_t err;
    cr_assert_eq(dataset_migrate_to(st, 1, &err), 0, "%s", err.log);
    /* the rows as version 1's schema holds them (today's writer also sets
     * the later migrations' columns): 40 subjects, one with a second
     * version; fields are not decoded by these reads */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    char sql[512];
    cr_assert_eq(
        store_exec(c,
                   "INSERT INTO dataset_service (id, path) VALUES (1, 'Aarsopgoerelse');"
                   "INSERT INTO dataset_delivery (seq, id, service_id, source,"
                   " content_sha256, received_ms, synthetic) VALUES"
                   " (1001, 'd1', 1, 't', 'x', 1000, 1), (1002, 'd2', 1, 't', 'x', 2000, 1)",
                   &err),
        0, "%s", err.log);
    int32_t ps, pe;
    dataset_year_period(2023, &ps, &pe);
    for (int64_t i = 0; i <= 40; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO dataset_record VALUES (1, %lld, %d, %d, %d, %d, %d, '\\x01')",
                 (long long)(101901234 + (i < 40 ? i : 0) * 1000), ps, pe, i < 40 ? 1 : 2,
                 i < 40 ? 1000 : 2000, i < 40 ? 1001 : 1002);
        cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    }
    store_conn_put(c);
    struct writer w;
    cr_assert_eq(dataset_migrate(st, &err), 0, "%s", err.log);
    int64_t n;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c,
                                   "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = "
                                   "CAST('dataset_record' AS regclass)",
                                   0, &n, &err),
                 0, "%s", err.log);
    cr_assert_eq(n, 16);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM dataset_record", 0, &n, &err), 0);
    cr_assert_eq(n, 41);
    /* spread over the partitions, not all in one */
    cr_assert_eq(
        store_query_int64(c, "SELECT COUNT(DISTINCT tableoid) FROM dataset_record", 0, &n, &err),
        0);
    cr_assert_gt(n, 8);
    store_conn_put(c);
    str_t one[] = {STR("0101901234")};
    struct dataset_query q = query(DATASET_CURRENT, one, 1);
    cr_assert_str_eq(read_all(&q), "101901234/2023/2;");
    q = query(DATASET_WINDOW, one, 1);
    cr_assert_str_eq(read_all(&q), "101901234/2023/1;101901234/2023/2;");
    /* and ingest goes on: a third version lands in the partitioned table */
    begin(&w, aar, "d3", 3000);
    put_year(&w, 101901234, 2023, 100, 3000, DATASET_NEW_VERSION, 3);
    commit(&w);
    q = query(DATASET_CURRENT, one, 1);
    cr_assert_str_eq(read_all(&q), "101901234/2023/3;");
    store_close(st);
    st = full;
}

/* A bulk read asks DATASET_CHUNK subjects per statement: the answer keeps
 * the order asked, across chunks, with repeats and subjects without data. */
Test(dataset, many_subjects_keep_their_order_across_chunks)
{
    struct writer w;
    begin(&w, aar, "bulk", 1000);
    for (int k = 0; k < 40; k++) {
        put_year(&w, 100000000 + k, 2023, k, 1000, DATASET_NEW_VERSION, 1);
        if (k % 3 == 0)
            put_year(&w, 100000000 + k, 2022, k, 1000, DATASET_NEW_VERSION, 1);
    }
    commit(&w);
    enum { N = 75 };
    static char ids[N][12];
    str_t subjects[N];
    char want[4096] = "";
    for (int i = 0; i < N; i++) {
        int k = (i * 7) % 45; /* 40..44 have no records */
        snprintf(ids[i], sizeof ids[i], "%010d", 100000000 + k);
        subjects[i] = str_from_cstr(ids[i]);
        size_t n = strlen(want);
        if (k < 40 && k % 3 == 0)
            snprintf(want + n, sizeof want - n, "%d/2022/1;%d/2023/1;", 100000000 + k,
                     100000000 + k);
        else if (k < 40)
            snprintf(want + n, sizeof want - n, "%d/2023/1;", 100000000 + k);
    }
    struct dataset_query q = query(DATASET_CURRENT, subjects, N);
    cr_assert_str_eq(read_all(&q), want);
    q = query(DATASET_WINDOW, subjects, N);
    cr_assert_str_eq(read_all(&q), want);
    q.registered_from = 1001;
    cr_assert_str_eq(read_all(&q), "");
}

Test(dataset, deliveries_are_found_by_id)
{
    struct writer w;
    begin(&w, aar, "delivery-1", 5000);
    w.d.records = 3;
    w.d.new_versions = 2;
    w.d.unchanged = 1;
    w.d.synthetic = true;
    commit(&w);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    struct dataset_delivery d;
    cr_assert_eq(dataset_delivery_find(c, STR("delivery-1"), &d, &err), 0, "%s", err.detail);
    cr_assert_str_eq(d.service, "Aarsopgoerelse");
    cr_assert_eq(d.records, 3);
    cr_assert_eq(d.new_versions, 2);
    cr_assert_eq(d.unchanged, 1);
    cr_assert_eq(d.received_ms, 5000);
    cr_assert_eq(dataset_delivery_find(c, STR("nope"), &d, &err), DUPLA_ENOTFOUND);
    store_conn_put(c);
}

Test(dataset, records_as_json_with_granted_fields)
{
    struct writer w;
    begin(&w, moms, "m1", 1700000000000);
    int32_t a = clock_days_from_civil(2024, 1, 1), b = clock_days_from_civil(2024, 3, 31);
    int64_t version;
    put(&w, moms, 12345678, a, b, 100, 1700000000000, &version);
    commit(&w);
    str_t se[] = {STR("12345678")};
    struct dataset_query q = {.svc = moms,
                              .mode = DATASET_CURRENT,
                              .subjects = se,
                              .n_subjects = 1,
                              .period_from = DATASET_DAY_MIN,
                              .period_to = DATASET_DAY_MAX};
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    dataset_cursor_t *cur;
    cr_assert_eq(dataset_cursor_open(c, &q, &cur, &err), 0);
    const struct dataset_record *r;
    cr_assert_eq(dataset_cursor_next(cur, &r, &err), STORE_ROW);
    bool include[CATALOG_MAX_FIELDS] = {0};
    include[catalog_field_index(moms, STR("Salgsmoms"))] = true;
    include[catalog_field_index(moms, STR("AngivelseNummer"))] = true;
    buf_t out;
    buf_init(&out, 65536);
    cr_assert_eq(dataset_record_to_json(r, include, &out, &err), 0, "%s", err.detail);
    long salg = catalog_field_find(moms, STR("Salgsmoms"))->business_index;
    char want[512];
    snprintf(want, sizeof want,
             "{\"VirksomhedSENummer\":\"12345678\","
             "\"AfregningPeriodeForholdPeriodeStartDato\":\"2024-01-01\","
             "\"AfregningPeriodeForholdPeriodeSlutDato\":\"2024-03-31\","
             "\"AngivelseNummer\":1,\"Salgsmoms\":%ld}",
             100 + salg);
    cr_assert_str_eq(out.data, want);
    buf_reset(&out);
    cr_assert_eq(dataset_record_to_json(r, NULL, &out, &err), 0);
    json_error_t je;
    json_t *j = json_loads(out.data, 0, &je);
    cr_assert_not_null(j, "%s", out.data);
    cr_assert_eq(json_object_size(j), moms->n_fields);
    cr_assert_str_eq(json_string_value(json_object_get(j, "RegistreringTidspunkt")),
                     "2023-11-14T22:13:20.000Z");
    json_decref(j);
    buf_free(&out);
    dataset_cursor_close(cur);
    store_conn_put(c);
}

/* Stores n year records for subjects 200000000 + [0, n) with fields from
 * base(k), all in one dataset_put_many, and checks each outcome and version. */
static void put_many_years(const char *id, int n, int64_t (*base)(int), int64_t at,
                           enum dataset_put_outcome (*want)(int), int64_t (*want_version)(int))
{
    struct writer w;
    begin(&w, aar, id, at);
    struct dataset_put_item *items = calloc((size_t)n, sizeof *items);
    buf_t *enc = calloc((size_t)n, sizeof *enc);
    cr_assert(items && enc);
    int32_t a, b;
    dataset_year_period(2023, &a, &b);
    err_t err;
    for (int k = 0; k < n; k++) {
        struct catalog_value v[CATALOG_MAX_FIELDS];
        fill(aar, v, base(k));
        buf_init(&enc[k], DATASET_ENCODED_MAX);
        cr_assert_eq(dataset_encode(aar, v, &enc[k], &err), 0);
        items[k] =
            (struct dataset_put_item){.key = {200000000 + k, a, b}, .fields = buf_str(&enc[k])};
    }
    cr_assert_eq(dataset_put_many(w.c, w.sid, items, (size_t)n, at, w.d.seq, &err), 0, "%s",
                 err.detail);
    for (int k = 0; k < n; k++) {
        cr_assert_eq(items[k].outcome, want(k), "record %d", k);
        cr_assert_eq(items[k].version, want_version(k), "record %d", k);
        buf_free(&enc[k]);
    }
    commit(&w);
    free(items);
    free(enc);
}

static int64_t base_first(int k)
{
    return k;
}
static int64_t base_second(int k) /* every third record changes */
{
    return k % 3 == 0 ? 1000 + k : k;
}
static int64_t base_third(int k) /* every fifth changes again, the rest as in the second */
{
    return k % 5 == 0 ? 5000 + k : base_second(k);
}
static enum dataset_put_outcome all_new(int k)
{
    (void)k;
    return DATASET_NEW_VERSION;
}
static int64_t version_1(int k)
{
    (void)k;
    return 1;
}
static enum dataset_put_outcome second_outcome(int k)
{
    return k % 3 == 0 ? DATASET_NEW_VERSION : DATASET_UNCHANGED;
}
static int64_t second_version(int k)
{
    return k % 3 == 0 ? 2 : 1;
}
static enum dataset_put_outcome third_outcome(int k)
{
    return k % 5 == 0 ? DATASET_NEW_VERSION : DATASET_UNCHANGED;
}
static int64_t third_version(int k)
{
    return second_version(k) + (k % 5 == 0);
}

Test(dataset, put_many_looks_up_current_versions_a_chunk_at_a_time)
{
    /* 150 records: two full chunks and a short one, whose lookup repeats
     * its last key to fill the statement */
    enum { N = 2 * DATASET_PUT_CHUNK + 22 };
    put_many_years("many-1", N, base_first, 1000, all_new, version_1);
    put_many_years("many-2", N, base_second, 2000, second_outcome, second_version);
    put_many_years("many-3", N, base_third, 3000, third_outcome, third_version);
    /* each new version is one row (multi-row inserts of 32, 16, ... rows):
     * the lookups above found what the earlier passes stored, field for
     * field, or the outcomes would differ */
    int64_t want = N, rows;
    for (int k = 0; k < N; k++)
        want += (k % 3 == 0) + (k % 5 == 0);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM dataset_record", -1, &rows, &err), 0);
    cr_assert_eq(rows, want);
    store_conn_put(c);
}
