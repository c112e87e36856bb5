/* Unit tests: the disclosure log's monthly partitions on PostgreSQL
 * (audit/partition.c): migration 2 turns a log of single tables into
 * partitioned ones keeping every row and the chain; the upkeep creates months
 * ahead and moves what landed in the DEFAULT partition; retention refuses to
 * drop a month with entries. On SQLite the calls say that partitions are a
 * PostgreSQL feature. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "test_audit_util.h"

static struct audit_fixture fx;

static void setup(void)
{
    audit_fixture_init(&fx);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit_partitions, .init = setup, .fini = teardown, .timeout = 60);

static bool on_pg(void)
{
    return strcmp(store_backend(fx.st), "postgresql") == 0;
}

/* Criterion runs no .fini after cr_skip_test: the fixture's folder is
 * removed first (audit_fixture_fini may then run twice). */
static void skip(const char *why)
{
    audit_fixture_fini(&fx);
    cr_skip_test("%s", why);
}

static int64_t month_ms(int y, int m)
{
    return (int64_t)clock_days_from_civil(y, m, 1) * 86400000;
}

/* Writes entry seq (made from seq - 1) at time_ms straight into the tables,
 * chained on prev, as the writer would (with_time: the subjects carry the
 * time, as on partitioned PostgreSQL tables). */
static void put_entry(int64_t seq, int64_t time_ms, unsigned char prev[AUDIT_HASH_LEN],
                      bool with_time)
{
    struct made_entry m;
    audit_make_entry(&m, (int)seq - 1);
    /* written as before version 2: no case reference, deliveries or versions */
    m.e.case_ref = STR("");
    m.e.n_deliveries = m.e.n_versions = 0;
    buf_t canon, periods, fields;
    buf_init(&canon, 1 << 16);
    buf_init(&periods, 1 << 12);
    buf_init(&fields, 1 << 12);
    cr_assert_eq(audit_canonical_encode(&m.e, seq, time_ms, STR("test"), &canon), 0);
    audit_canonical_to_v1(&canon); /* rows without a format column are version 1 */
    unsigned char hash[AUDIT_HASH_LEN];
    cr_assert_eq(audit_chain_hash(prev, buf_str(&canon), hash), 0);
    buf_append(&periods, "[", 1);
    for (size_t i = 0; i < m.e.n_periods; i++) {
        if (i)
            buf_append(&periods, ",", 1);
        buf_append_json_string(&periods, m.e.periods[i]);
    }
    buf_append(&periods, "]", 1);
    buf_append(&fields, "[", 1);
    for (size_t i = 0; i < m.e.n_fields; i++) {
        if (i)
            buf_append(&fields, ",", 1);
        buf_append_json_string(&fields, m.e.fields[i]);
    }
    buf_append(&fields, "]", 1);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c,
                               "INSERT INTO audit_entry (seq, time_ms, environment, org_cvr, "
                               "system_id, agreement_id, agreement_version, service, request_id, "
                               "transaction_id, periods, fields, record_count, outcome, reason, "
                               "prev_hash, entry_hash) "
                               "VALUES (?, ?, 'test', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               &s, &err),
                 0, "%s", err.log);
    store_bind_int64(s, 1, seq);
    store_bind_int64(s, 2, time_ms);
    store_bind_text(s, 3, m.e.org_cvr);
    store_bind_text(s, 4, m.e.system_id);
    store_bind_text(s, 5, m.e.agreement_id);
    store_bind_int64(s, 6, m.e.agreement_version);
    store_bind_text(s, 7, m.e.service);
    store_bind_text(s, 8, m.e.request_id);
    store_bind_text(s, 9, m.e.transaction_id);
    store_bind_text(s, 10, buf_str(&periods));
    store_bind_text(s, 11, buf_str(&fields));
    store_bind_int64(s, 12, m.e.record_count);
    store_bind_cstr(s, 13, audit_outcome_name(m.e.outcome));
    store_bind_text(s, 14, m.e.reason);
    store_bind_blob(s, 15, prev, AUDIT_HASH_LEN);
    store_bind_blob(s, 16, hash, AUDIT_HASH_LEN);
    cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
    store_stmt_done(s);
    for (size_t i = 0; i < m.e.n_subjects; i++) {
        cr_assert_eq(store_prepare(c,
                                   with_time ? "INSERT INTO audit_entry_subject (seq, position, "
                                               "kind, subject, time_ms) VALUES (?, ?, ?, ?, ?)"
                                             : "INSERT INTO audit_entry_subject (seq, position, "
                                               "kind, subject) VALUES (?, ?, ?, ?)",
                                   &s, &err),
                     0, "%s", err.log);
        store_bind_int64(s, 1, seq);
        store_bind_int64(s, 2, (int64_t)i);
        store_bind_cstr(s, 3, audit_subject_kind_name(m.e.subjects[i].kind));
        store_bind_text(s, 4, m.e.subjects[i].id);
        if (with_time)
            store_bind_int64(s, 5, time_ms);
        cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
        store_stmt_done(s);
    }
    store_conn_put(c);
    memcpy(prev, hash, AUDIT_HASH_LEN);
    buf_free(&canon);
    buf_free(&periods);
    buf_free(&fields);
}

static void verify_ok(int64_t entries)
{
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert(r.ok, "%s at %ld: %s", audit_problem_name(r.problem), (long)r.seq, r.detail);
    cr_assert_eq(r.entries, entries);
}

/* The partition named name, or NULL. */
static const struct audit_partition *find(const struct audit_partition *v, size_t n,
                                          const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static void list(struct audit_partition **v, size_t *n)
{
    err_t err;
    cr_assert_eq(audit_partitions_list(fx.st, v, n, &err), 0, "%s", err.log);
}

Test(audit_partitions, on_sqlite_partitions_are_refused_as_a_postgresql_feature)
{
    if (on_pg())
        skip("PostgreSQL partitions the log");
    cr_assert_eq(audit_migrate(fx.st, NULL), 0);
    cr_assert_not(audit_partitioned(fx.st));
    struct audit_partition *v;
    size_t n;
    err_t err;
    cr_assert_eq(audit_partitions_list(fx.st, &v, &n, &err), DUPLA_EINVAL);
    cr_assert(strstr(err.log, "PostgreSQL feature") != NULL, "%s", err.log);
    cr_assert_eq(audit_partitions_ensure(fx.st, clock_now_ms(), 3, NULL, &err), DUPLA_EINVAL);
    int dropped;
    cr_assert_eq(audit_partitions_drop_before(fx.st, month_ms(2020, 1), &dropped, &err),
                 DUPLA_EINVAL);
    /* migration 2 is recorded on SQLite too: one schema version for both */
    int version;
    cr_assert_eq(store_schema_version(fx.st, "audit", &version, &err), 0);
    cr_assert_geq(version, 2);
}

Test(audit_partitions, the_migration_keeps_every_row_and_the_chain)
{
    if (!on_pg())
        skip("partitions are a PostgreSQL feature");
    err_t err;
    cr_assert_eq(audit_migrate_to(fx.st, 1, &err), 0, "%s", err.log);
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    /* 12 entries over January to March 2024, one in May 2030 */
    for (int64_t seq = 1; seq <= 12; seq++)
        put_entry(seq, month_ms(2024, 1 + (int)(seq - 1) / 4) + seq * 1000, prev, false);
    put_entry(13, month_ms(2030, 5) + 5000, prev, false);
    verify_ok(13);
    cr_assert_eq(audit_migrate(fx.st, &err), 0, "%s", err.log);
    verify_ok(13);

    struct audit_partition *v;
    size_t n;
    list(&v, &n);
    const struct audit_partition *p = find(v, n, "p2024_01");
    cr_assert_not_null(p);
    cr_assert_eq(p->entries, 4);
    cr_assert_eq(p->from_ms, month_ms(2024, 1));
    cr_assert_eq(p->to_ms, month_ms(2024, 2));
    /* entries 1..4 are made from n = 0..3: n % 4 + 1 subjects */
    cr_assert_eq(p->subjects, 1 + 2 + 3 + 4);
    p = find(v, n, "p2024_03");
    cr_assert(p && p->entries == 4);
    p = find(v, n, "p2030_05");
    cr_assert(p && p->entries == 1);
    cr_assert_null(find(v, n, "p2024_04"), "no month without rows in the past");
    cr_assert(v[n - 1].is_default);
    cr_assert_str_eq(v[n - 1].name, "default");
    cr_assert_eq(v[n - 1].entries, 0);
    /* this month and three ahead exist */
    int y, mo, d;
    clock_civil_from_days((int32_t)(clock_now_ms() / 86400000), &y, &mo, &d);
    for (int i = 0; i <= 3; i++) {
        char name[16];
        int mm = mo + i, yy = y + (mm - 1) / 12;
        mm = (mm - 1) % 12 + 1;
        snprintf(name, sizeof name, "p%04d_%02d", yy, mm);
        cr_assert_not_null(find(v, n, name), "%s", name);
    }
    free(v);

    /* the three questions still find their entries */
    arena_t *a = arena_new(1 << 20);
    struct audit_page page;
    /* entry 6 is made from n = 5: its first subject */
    struct audit_filter f = {.subject = STR("6101850005")};
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &page, &err), 0, "%s", err.log);
    cr_assert_eq(page.n, 1);
    cr_assert_eq(page.rows[0].seq, 6);
    cr_assert_eq(page.rows[0].n_subjects, 1);
    cr_assert(str_eq(page.rows[0].subjects[0].id, STR("6101850005")));
    struct audit_filter fo = {.org_cvr = STR("12345674"), .newest_first = true};
    cr_assert_eq(audit_query(fx.st, &fo, NULL, a, &page, &err), 0, "%s", err.log);
    cr_assert_eq(page.n, 5); /* n = 0, 3, 6, 9, 12 */
    cr_assert_eq(page.rows[0].seq, 13);
    struct audit_filter ft = {.from_ms = month_ms(2024, 2), .to_ms = month_ms(2024, 3)};
    cr_assert_eq(audit_query(fx.st, &ft, NULL, a, &page, &err), 0, "%s", err.log);
    cr_assert_eq(page.n, 4);
    cr_assert_eq(page.rows[0].seq, 5);
    cr_assert_eq(page.rows[0].n_subjects, 1);
    arena_free(a);

    /* and the writer goes on from the migrated head */
    audit_log_t *log = audit_fixture_log(&fx, 0);
    struct made_entry m;
    audit_make_entry(&m, 13);
    struct audit_receipt rc;
    cr_assert_eq(audit_record(log, &m.e, &rc, &err), 0, "%s", err.log);
    cr_assert_eq(rc.seq, 14);
    audit_close(log);
    verify_ok(14);
}

Test(audit_partitions, rows_in_the_default_partition_move_to_their_month)
{
    if (!on_pg())
        skip("partitions are a PostgreSQL feature");
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    for (int i = 0; i < 3; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
    /* entry 4, in a month nobody made (as if upkeep had not run for years) */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "SELECT entry_hash FROM audit_entry WHERE seq = 3", &s, &err), 0);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    unsigned char prev[AUDIT_HASH_LEN];
    memcpy(prev, store_col_blob(s, 0).ptr, AUDIT_HASH_LEN);
    store_stmt_done(s);
    store_conn_put(c);
    put_entry(4, month_ms(2099, 2) + 1, prev, true);

    struct audit_partition *v;
    size_t n;
    list(&v, &n);
    cr_assert(v[n - 1].is_default);
    cr_assert_eq(v[n - 1].entries, 1);
    cr_assert_eq(v[n - 1].subjects, 4);
    cr_assert_null(find(v, n, "p2099_02"));
    free(v);
    verify_ok(4);

    int created = -1;
    cr_assert_eq(audit_partitions_ensure(fx.st, clock_now_ms(), 3, &created, &err), 0, "%s",
                 err.log);
    cr_assert_eq(created, 1); /* the months ahead existed already */
    list(&v, &n);
    cr_assert_eq(v[n - 1].entries, 0);
    cr_assert_eq(v[n - 1].subjects, 0);
    const struct audit_partition *p = find(v, n, "p2099_02");
    cr_assert_not_null(p);
    cr_assert_eq(p->entries, 1);
    cr_assert_eq(p->subjects, 4);
    free(v);
    verify_ok(4);
    /* the append-only guard holds on the new partitions too */
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_neq(store_exec(c, "DELETE FROM audit_entry WHERE seq = 4", &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_entry_subject SET kind = 'x'", &err), 0);
    store_conn_put(c);
    /* a second upkeep has nothing to do */
    cr_assert_eq(audit_partitions_ensure(fx.st, clock_now_ms(), 3, &created, &err), 0);
    cr_assert_eq(created, 0);
}

Test(audit_partitions, retention_drops_only_empty_months)
{
    if (!on_pg())
        skip("partitions are a PostgreSQL feature");
    err_t err;
    cr_assert_eq(audit_migrate(fx.st, &err), 0, "%s", err.log);
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    int created;
    /* empty months in 2020 (made ahead back then), entries in March 2021 */
    cr_assert_eq(audit_partitions_ensure(fx.st, month_ms(2020, 1), 2, &created, &err), 0);
    cr_assert_eq(created, 3);
    put_entry(1, month_ms(2021, 3) + 1, prev, true);
    put_entry(2, month_ms(2021, 3) + 2, prev, true);
    cr_assert_eq(audit_partitions_ensure(fx.st, clock_now_ms(), 0, &created, &err), 0);

    int dropped = -1;
    cr_assert_eq(audit_partitions_drop_before(fx.st, month_ms(2021, 4), &dropped, &err),
                 DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "drop-before");
    cr_assert(strstr(err.log, "p2021_03") != NULL, "%s", err.log);
    cr_assert_eq(dropped, 0);
    struct audit_partition *v;
    size_t n;
    list(&v, &n);
    cr_assert_not_null(find(v, n, "p2020_01"), "nothing dropped on a refusal");
    free(v);

    cr_assert_eq(audit_partitions_drop_before(fx.st, month_ms(2020, 3), &dropped, &err), 0, "%s",
                 err.log);
    cr_assert_eq(dropped, 2);
    list(&v, &n);
    cr_assert_null(find(v, n, "p2020_01"));
    cr_assert_null(find(v, n, "p2020_02"));
    cr_assert_not_null(find(v, n, "p2020_03"));
    free(v);
    verify_ok(2);
}

/* Every node runs the upkeep (#15): four store handles at once, as four
 * nodes' tickers, create each month once between them and none fails (the
 * upkeep takes its advisory lock, and looks at what exists under it). */
struct upkeep_run {
    store_t *st;
    pthread_barrier_t *start;
    int created, rc;
    err_t err;
};

static void *upkeep_main(void *arg)
{
    struct upkeep_run *u = arg;
    pthread_barrier_wait(u->start);
    u->rc = audit_partitions_ensure(u->st, month_ms(2098, 1), 5, &u->created, &u->err);
    return NULL;
}

Test(audit_partitions, the_upkeep_of_several_nodes_at_once_creates_each_month_once)
{
    if (!on_pg())
        skip("partitions are a PostgreSQL feature");
    audit_close(audit_fixture_log(&fx, 0));
    struct audit_partition *v;
    size_t before, after;
    list(&v, &before);
    free(v);
    enum { NODES = 4 };
    struct upkeep_run u[NODES];
    pthread_t t[NODES];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NODES);
    for (int i = 0; i < NODES; i++) {
        memset(&u[i], 0, sizeof u[i]);
        u[i].start = &start;
        cr_assert_eq(store_open(fx.url, NULL, &u[i].st, &u[i].err), 0, "%s", u[i].err.log);
    }
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, upkeep_main, &u[i]), 0);
    int created = 0;
    for (int i = 0; i < NODES; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(u[i].rc, 0, "node %d: %s", i, u[i].err.log);
        created += u[i].created;
        store_close(u[i].st);
    }
    pthread_barrier_destroy(&start);
    list(&v, &after);
    cr_assert_not_null(find(v, after, "p2098_01"));
    free(v);
    cr_assert_gt(created, 0);
    cr_assert_eq((size_t)created, after - before, "%d months made for %zu new partitions", created,
                 after - before);
}
