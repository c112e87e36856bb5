/* Unit tests: store, the PostgreSQL backend (postgres.c). They need a server:
 * DUPLA_TEST_PG (scripts/pg-test-server.sh); without one they are skipped.
 * Each test has its own schema, through the tests' redirection of a SQLite
 * path (DUPLA_TEST_STORE_PG, see store.c). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "store/store.h"

static char dir[FX_DIR_MAX];
static char url[FX_DIR_MAX + 16];
static bool have_pg;

static void setup(void)
{
    const char *pg = getenv("DUPLA_TEST_PG");
    have_pg = pg && pg[0];
    if (!have_pg)
        return;
    setenv("DUPLA_TEST_STORE_PG", pg, 1);
    fx_tmpdir(dir, "storepg");
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
}

static void teardown(void)
{
    if (have_pg)
        fx_rmtree(dir);
}

TestSuite(store_pg, .init = setup, .fini = teardown);

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!have_pg)                                                                              \
            cr_skip_test("no PostgreSQL server (DUPLA_TEST_PG)");                                  \
    } while (0)

static const struct store_migration m1[] = {
    {1, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER, b BLOB)",
     "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, n BIGINT, b BYTEA)"},
};

static store_t *open_migrated(void)
{
    store_t *st = NULL;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_str_eq(store_backend(st), "postgresql");
    cr_assert_eq(store_migrate(st, "m", m1, 1, &err), 0, "%s", err.log);
    return st;
}

static int64_t insert(store_conn_t *c, const char *name, int64_t n, const void *b, size_t blen)
{
    store_stmt_t *s;
    err_t err;
    cr_assert_eq(store_prepare(c, "INSERT INTO t (name, n, b) VALUES (?, ?, ?)", &s, &err), 0, "%s",
                 err.log);
    store_bind_cstr(s, 1, name);
    store_bind_int64(s, 2, n);
    store_bind_blob(s, 3, b, blen);
    int rc = store_step(s, &err);
    store_stmt_done(s);
    cr_assert_eq(rc, STORE_DONE, "%s", err.log);
    return store_last_id(c);
}

Test(store_pg, values_round_trip_in_binary)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    const unsigned char blob[] = {0, 1, 0xff, '\\', 'x', 0, '\'', 0x80};
    int64_t id1 = insert(c, "æøå ✓", INT64_MIN, blob, sizeof blob);
    int64_t id2 = insert(c, "two", INT64_MAX, "", 0);
    cr_assert_gt(id1, 0);
    cr_assert_eq(id2, id1 + 1);
    cr_assert_eq(store_changes(c), 1);

    store_stmt_t *s;
    /* a '?' in a string literal is not a parameter */
    cr_assert_eq(store_prepare(c,
                               "SELECT name, n, b, id, COUNT(*) OVER (), CAST(? AS TEXT) || '?', "
                               "SUM(n) OVER (), NULL FROM t WHERE id >= ? ORDER BY id",
                               &s, &err),
                 0, "%s", err.log);
    store_bind_cstr(s, 1, "q");
    store_bind_int64(s, 2, id1);
    cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
    cr_assert_eq(store_col_count(s), 8);
    str_t name = store_col_text(s, 0);
    cr_assert_eq(name.len, strlen("æøå ✓"));
    cr_assert_eq(memcmp(name.ptr, "æøå ✓", name.len), 0);
    cr_assert_eq(store_col_int64(s, 1), INT64_MIN);
    str_t b = store_col_blob(s, 2);
    cr_assert_eq(b.len, sizeof blob);
    cr_assert_eq(memcmp(b.ptr, blob, sizeof blob), 0);
    cr_assert_eq(store_col_int64(s, 3), id1);
    cr_assert_eq(store_col_int64(s, 4), 2); /* int8 */
    str_t q = store_col_text(s, 5);
    cr_assert_eq(q.len, 2);
    cr_assert_eq(memcmp(q.ptr, "q?", 2), 0);
    cr_assert_eq(store_col_int64(s, 6), -1); /* numeric: INT64_MIN + INT64_MAX */
    cr_assert(store_col_is_null(s, 7));
    cr_assert_eq(store_col_text(s, 7).len, 0);
    str_t n_as_text = store_col_text(s, 3);
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)id1);
    cr_assert_eq(n_as_text.len, strlen(want));
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    cr_assert_eq(store_col_int64(s, 1), INT64_MAX);
    cr_assert_eq(store_col_blob(s, 2).len, 0);
    cr_assert_not(store_col_is_null(s, 2));
    cr_assert_eq(store_step(s, &err), STORE_DONE);
    store_stmt_done(s);

    /* the unique constraint is a conflict, as on SQLite */
    cr_assert_eq(store_prepare(c, "INSERT INTO t (name) VALUES (?)", &s, &err), 0);
    store_bind_cstr(s, 1, "two");
    cr_assert_eq(store_step(s, &err), DUPLA_ECONFLICT);
    store_stmt_done(s);
    store_conn_put(c);
    store_close(st);
}

static int64_t count_rows(store_conn_t *c)
{
    int64_t n = -1;
    err_t err;
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", -1, &n, &err), 0, "%s", err.log);
    return n;
}

static int insert_step(store_conn_t *c, const char *name, err_t *err)
{
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "INSERT INTO t (name, n) VALUES (?, 1)", &s, err), 0);
    store_bind_cstr(s, 1, name);
    int rc = store_step(s, err);
    store_stmt_done(s);
    return rc;
}

/* The disclosure log's commit on PostgreSQL (#15): a commit that does not
 * wait for its flush, in a pipeline or not, then a durability barrier. */
static int64_t setting_is(store_conn_t *c, const char *value)
{
    store_stmt_t *s;
    err_t err;
    cr_assert_eq(store_prepare(c, "SELECT current_setting('synchronous_commit') = ?", &s, &err), 0,
                 "%s", err.log);
    store_bind_cstr(s, 1, value);
    cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
    int64_t v = store_col_int64(s, 0);
    store_stmt_done(s);
    return v;
}

/* A statement with more placeholders than the backend numbers (1000) is
 * refused as such when prepared, not sent with the rest left as `?` (a
 * syntax error from the server, far from its cause); 1000 work. */
Test(store_pg, a_statement_with_too_many_placeholders_is_refused_by_name)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    static char sql[16 + 1001 * 40];
    for (int n = 1000; n <= 1001; n++) {
        size_t o = (size_t)snprintf(sql, sizeof sql, "SELECT 0");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(sql + o, sizeof sql - o, " + CAST(? AS BIGINT)");
        store_stmt_t *s;
        int rc = store_prepare(c, sql, &s, &err);
        if (n == 1000) {
            cr_assert_eq(rc, 0, "%s", err.log);
            for (int i = 1; i <= n; i++)
                store_bind_int64(s, i, 2);
            cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
            cr_assert_eq(store_col_int64(s, 0), 2000);
            store_stmt_done(s);
        } else {
            cr_assert_eq(rc, DUPLA_ELIMIT, "rc %d: %s", rc, err.log);
            cr_assert(strstr(err.log, "more than 1000 placeholders"), "%s", err.log);
        }
    }
    store_conn_put(c);
    store_close(st);
}

Test(store_pg, a_commit_without_waiting_is_made_durable_by_the_barrier)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c, *other;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_conn_get(st, &other, &err), 0);
    cr_assert_eq(setting_is(c, "on"), 1);
    /* in a pipeline, as the log's writer does */
    cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(insert_step(c, "a", &err), STORE_DONE, "%s", err.log);
    cr_assert_eq(store_commit_nowait(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    cr_assert_not(store_in_transaction(c));
    cr_assert_eq(count_rows(other), 1); /* committed: another connection sees it */
    /* SET LOCAL: the session's setting is untouched after the commit */
    cr_assert_eq(setting_is(c, "on"), 1);
    /* the barrier is a WAL record of its own: afterwards the flushed WAL
     * reaches past the commit above */
    int64_t before = 0, flushed = 0;
    cr_assert_eq(store_query_int64(c, "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn", 0,
                                   &before, &err),
                 0, "%s", err.log);
    cr_assert_eq(store_durable_barrier(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_query_int64(c, "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn", 0,
                                   &flushed, &err),
                 0, "%s", err.log);
    cr_assert_gt(flushed, before);
    /* outside a pipeline */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(insert_step(c, "b", &err), STORE_DONE, "%s", err.log);
    cr_assert_eq(store_commit_nowait(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_durable_barrier(c, &err), 0, "%s", err.log);
    cr_assert_eq(count_rows(other), 2);
    /* a barrier inside a transaction would wait for nothing: refused */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_neq(store_durable_barrier(c, &err), 0);
    store_rollback(c);
    /* a failed transaction's commit without waiting fails as any commit */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_lt(insert_step(c, "a", &err), 0); /* name is UNIQUE */
    cr_assert_neq(store_commit_nowait(c, &err), 0);
    store_rollback(c);
    cr_assert_eq(count_rows(other), 2);
    store_conn_put(other);
    store_conn_put(c);
    store_close(st);
}

Test(store_pg, a_pipeline_sends_inserts_and_reads_them_with_the_next_query)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
    cr_assert_neq(store_pipeline_begin(c, &err), 0); /* not nested */
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "p%d", i);
        cr_assert_eq(insert_step(c, name, &err), STORE_DONE, "%s", err.log);
    }
    /* a query in the pipeline sees the queued inserts, in order */
    cr_assert_eq(count_rows(c), 100);
    cr_assert_eq(insert_step(c, "last", &err), STORE_DONE, "%s", err.log);
    cr_assert_eq(store_changes(c), 1);
    /* a statement prepared for the first time in the pipeline */
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "UPDATE t SET n = n + 1 WHERE name LIKE 'p%'", &s, &err), 0);
    cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
    cr_assert_eq(store_step(s, &err), STORE_DONE); /* sent once */
    store_stmt_done(s);
    cr_assert_eq(store_changes(c), 100);
    cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    cr_assert_not(store_in_transaction(c));
    int64_t sum = 0;
    cr_assert_eq(store_query_int64(c, "SELECT SUM(n) FROM t", 0, &sum, &err), 0);
    cr_assert_eq(sum, 201);
    /* begin queued in the pipeline: the whole unit of work in one round trip */
    cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert(store_in_transaction(c));
    cr_assert_eq(insert_step(c, "queued", &err), STORE_DONE, "%s", err.log);
    cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    cr_assert_eq(count_rows(c), 102);
    cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(insert_step(c, "rolled back", &err), STORE_DONE, "%s", err.log);
    store_rollback(c);
    cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    cr_assert_eq(count_rows(c), 102);
    store_conn_put(c);
    store_close(st);
}

/* A check (store.h, STORE_CHECK) is queued like a command: it holds, and
 * the unit of work commits; it does not (the division fails), and the
 * commit reports it and the unit of work rolls back, inserts and all. */
Test(store_pg, a_check_in_a_pipeline_is_queued_and_fails_the_unit_of_work_when_it_fails)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    static const char check[] = STORE_CHECK "SELECT 1 / CAST(? AS BIGINT) FROM t";
    for (int64_t d = 1; d >= 0; d--) {
        cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
        cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
        cr_assert_eq(insert_step(c, d ? "kept" : "undone", &err), STORE_DONE, "%s", err.log);
        store_stmt_t *s;
        cr_assert_eq(store_prepare(c, check, &s, &err), 0, "%s", err.log);
        store_bind_int64(s, 1, d);
        cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log); /* queued, not waited for */
        store_stmt_done(s);
        err_clear(&err);
        int rc = store_commit(c, &err);
        if (d) {
            cr_assert_eq(rc, 0, "%s", err.log);
        } else {
            cr_assert_neq(rc, 0);
            cr_assert(strstr(err.log, "division by zero"), "%s", err.log);
            store_rollback(c);
        }
        cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    }
    cr_assert_eq(count_rows(c), 1);
    store_conn_put(c);
    store_close(st);
}

Test(store_pg, an_error_in_a_pipeline_fails_the_unit_of_work_at_the_next_wait)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(insert_step(c, "taken", &err), STORE_DONE, "%s", err.log);

    /* reported by the commit, which leaves the transaction to roll back */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_begin(c, &err), 0);
    cr_assert_eq(insert_step(c, "new", &err), STORE_DONE);
    cr_assert_eq(insert_step(c, "taken", &err), STORE_DONE); /* not known yet */
    cr_assert_eq(insert_step(c, "after", &err), STORE_DONE);
    err_clear(&err);
    cr_assert_eq(store_commit(c, &err), DUPLA_ECONFLICT);
    cr_assert(store_in_transaction(c));
    store_rollback(c);
    cr_assert_eq(store_pipeline_end(c, &err), 0);
    cr_assert_eq(count_rows(c), 1);

    /* reported by a query */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_begin(c, &err), 0);
    cr_assert_eq(insert_step(c, "taken", &err), STORE_DONE);
    int64_t n = 0;
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", 0, &n, &err), DUPLA_ECONFLICT);
    store_rollback(c);
    cr_assert_eq(store_pipeline_end(c, &err), 0);

    /* reported by store_pipeline_end after store_changes read the queue */
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_begin(c, &err), 0);
    cr_assert_eq(insert_step(c, "taken", &err), STORE_DONE);
    store_changes(c);
    cr_assert_eq(store_pipeline_end(c, &err), DUPLA_ECONFLICT);
    store_rollback(c);

    /* a pipeline left open is ended when the connection is put back */
    cr_assert_eq(store_pipeline_begin(c, &err), 0);
    cr_assert_eq(insert_step(c, "outside", &err), STORE_DONE);
    store_conn_put(c);
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(count_rows(c), 2);
    store_conn_put(c);
    store_close(st);
}

Test(store_pg, a_read_snapshot_does_not_see_later_commits)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *r, *w;
    err_t err;
    cr_assert_eq(store_conn_get(st, &r, &err), 0);
    cr_assert_eq(store_conn_get(st, &w, &err), 0);
    insert(w, "a", 1, "x", 1);
    cr_assert_eq(store_begin_read(r, &err), 0, "%s", err.log);
    int64_t n = 0;
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(store_begin(w, &err), 0, "%s", err.log);
    insert(w, "b", 2, "y", 1);
    cr_assert_eq(store_commit(w, &err), 0, "%s", err.log);
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 1, "the snapshot moved");
    /* and it is read only */
    store_stmt_t *s;
    cr_assert_eq(store_prepare(r, "DELETE FROM t", &s, &err), 0);
    cr_assert_neq(store_step(s, &err), STORE_DONE);
    store_stmt_done(s);
    store_end_read(r);
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 2);
    store_conn_put(r);
    store_conn_put(w);
    store_close(st);
}

/* A read snapshot's BEGIN goes out with its first statement and its COMMIT
 * is not waited for: the connection's next user (itself, or the next
 * holder from the pool) reads that answer first and finds the connection
 * out of the transaction. */
Test(store_pg, a_read_snapshot_ends_without_waiting_and_the_next_user_is_clean)
{
    NEED_PG();
    store_t *st = NULL;
    err_t err;
    struct store_options one = {.pool_size = 1};
    store_t *mig = open_migrated();
    cr_assert_eq(store_open(url, &one, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    int64_t n = -1;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(store_begin_read(c, &err), 0, "%s", err.log);
        cr_assert(store_in_transaction(c));
        cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", -1, &n, &err), 0, "%s",
                     err.log);
        cr_assert_eq(
            store_query_int64(c, "SELECT txid_current_if_assigned() IS NULL", -1, &n, &err), 0,
            "%s", err.log);
        cr_assert_eq(n, 1, "a read snapshot took a transaction id");
        store_end_read(c);
        cr_assert(!store_in_transaction(c));
        if (i == 1) { /* back to the pool with the answer unread, and out again */
            store_conn_put(c);
            cr_assert_eq(store_conn_get(st, &c, &err), 0);
        }
        /* outside the snapshot: each statement is its own transaction */
        cr_assert_eq(store_query_int64(c,
                                       "SELECT CAST(current_setting('transaction_isolation') = "
                                       "'read committed' AS INT)",
                                       -1, &n, &err),
                     0, "%s", err.log);
        cr_assert_eq(n, 1, "the snapshot's transaction is still open after store_end_read");
    }
    /* a write after the read works and is not left in a pipeline */
    cr_assert_eq(store_begin_read(c, &err), 0, "%s", err.log);
    store_end_read(c);
    cr_assert_eq(store_exec(c, "INSERT INTO t (name, n) VALUES ('after', 1)", &err), 0, "%s",
                 err.log);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t WHERE name = 'after'", -1, &n, &err),
                 0);
    cr_assert_eq(n, 1);
    store_conn_put(c);
    store_close(st);
    store_close(mig);
}

Test(store_pg, generic_plans_last_as_long_as_the_read_snapshot)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_neq(store_read_generic_plans(c, &err), 0, "outside a snapshot it is refused");
    cr_assert_eq(store_begin_read(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_read_generic_plans(c, &err), 0, "%s", err.log);
    int64_t n = -1;
    cr_assert_eq(store_query_int64(c,
                                   "SELECT CAST(current_setting('plan_cache_mode') = "
                                   "'force_generic_plan' AS INT)",
                                   -1, &n, &err),
                 0, "%s", err.log);
    cr_assert_eq(n, 1);
    store_end_read(c);
    cr_assert_eq(
        store_query_int64(c, "SELECT CAST(current_setting('plan_cache_mode') = 'auto' AS INT)", -1,
                          &n, &err),
        0, "%s", err.log);
    cr_assert_eq(n, 1, "the setting outlived the snapshot");
    store_conn_put(c);
    store_close(st);
}

Test(store_pg, a_lost_connection_fails_busy_and_is_replaced)
{
    NEED_PG();
    store_t *st = NULL;
    err_t err;
    struct store_options one = {.pool_size = 1};
    cr_assert_eq(store_open(url, &one, &st, &err), 0, "%s", err.log);
    store_t *killer = open_migrated();
    store_conn_t *c, *k;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t pid = 0;
    cr_assert_eq(store_query_int64(c, "SELECT pg_backend_pid()", 0, &pid, &err), 0);
    cr_assert_eq(store_conn_get(killer, &k, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(k, "SELECT pg_terminate_backend(CAST(? AS INTEGER))", &s, &err), 0,
                 "%s", err.log);
    store_bind_int64(s, 1, pid);
    cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
    store_stmt_done(s);
    store_conn_put(k);
    int64_t one_ = 0;
    int64_t pid2 = 0;
    /* the server ends the backend asynchronously: the first failure is EBUSY */
    int rc = store_query_int64(c, "SELECT 1", 0, &one_, &err);
    for (int i = 0; rc == 0 && i < 50; i++) {
        usleep(20000);
        rc = store_query_int64(c, "SELECT 1", 0, &one_, &err);
    }
    cr_assert_eq(rc, DUPLA_EBUSY, "%s", err.log);
    cr_assert(strstr(err.detail, "try again"), "%s", err.detail);
    /* a holder that keeps its connection gets it back, reopened */
    cr_assert_eq(store_query_int64(c, "SELECT 1", 0, &one_, &err), 0, "%s", err.log);
    cr_assert_eq(one_, 1);
    cr_assert_eq(store_query_int64(c, "SELECT pg_backend_pid()", 0, &pid2, &err), 0);
    cr_assert_neq(pid2, pid);
    /* and so does one whose connection breaks again, through the pool */
    cr_assert_eq(store_conn_get(killer, &k, &err), 0);
    cr_assert_eq(store_prepare(k, "SELECT pg_terminate_backend(CAST(? AS INTEGER))", &s, &err), 0);
    store_bind_int64(s, 1, pid2);
    cr_assert_eq(store_step(s, &err), STORE_ROW, "%s", err.log);
    store_stmt_done(s);
    store_conn_put(k);
    pid = pid2;
    rc = 0;
    for (int i = 0; rc == 0 && i < 50; i++) {
        usleep(20000);
        rc = store_query_int64(c, "SELECT 1", 0, &one_, &err);
    }
    cr_assert_eq(rc, DUPLA_EBUSY, "%s", err.log);
    store_conn_put(c);
    /* the next unit of work has a new connection */
    cr_assert_eq(store_ping(st, &err), 0, "%s", err.log);
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT pg_backend_pid()", 0, &pid2, &err), 0);
    cr_assert_neq(pid2, pid);
    store_conn_put(c);
    store_close(st);
    store_close(killer);
}

static void *migrate_thread(void *arg)
{
    (void)arg;
    store_t *st = NULL;
    err_t err;
    static const struct store_migration slow[] = {
        {1, "CREATE TABLE s (x INTEGER)", "CREATE TABLE s (x BIGINT); SELECT pg_sleep(0.3)"},
        {2, "ALTER TABLE s ADD COLUMN y INTEGER", "ALTER TABLE s ADD COLUMN y BIGINT"},
    };
    intptr_t rc = store_open(url, NULL, &st, &err);
    if (rc == 0)
        rc = store_migrate(st, "slow", slow, 2, &err);
    store_close(st);
    return (void *)rc;
}

Test(store_pg, two_processes_migrating_at_once_apply_each_migration_once)
{
    NEED_PG();
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, migrate_thread, NULL), 0);
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_assert_eq((intptr_t)rc, 0);
    }
    store_t *st = open_migrated();
    int v = 0;
    err_t err;
    cr_assert_eq(store_schema_version(st, "slow", &v, &err), 0);
    cr_assert_eq(v, 2);
    store_conn_t *c;
    int64_t n = 0;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c,
                                   "SELECT COUNT(*) FROM schema_migrations WHERE module = 'slow'",
                                   0, &n, &err),
                 0);
    cr_assert_eq(n, 2);
    store_conn_put(c);
    /* a newer schema is refused */
    static const struct store_migration older[] = {{1, "CREATE TABLE s (x INTEGER)", NULL}};
    cr_assert_eq(store_migrate(st, "slow", older, 1, &err), DUPLA_ECONFLICT);
    cr_assert(strstr(err.detail, "newer schema"), "%s", err.detail);
    store_close(st);
}

Test(store_pg, bad_connection_strings_are_one_clear_line)
{
    NEED_PG();
    store_t *st = NULL;
    err_t err;
    cr_assert_eq(
        store_open("postgresql://dupla@127.0.0.1:1/dupla?connect_timeout=2", NULL, &st, &err),
        DUPLA_EIO);
    cr_assert(strstr(err.log, "cannot connect to PostgreSQL"), "%s", err.log);
    cr_assert_null(strchr(err.log, '\n'));
    cr_assert_eq(store_open("postgresql://dupla:secret@/dupla?host=/nonexistent", NULL, &st, &err),
                 DUPLA_EIO);
    cr_assert_null(strstr(err.log, "secret"), "%s", err.log);
}

/* Streamed statements: a cursor per statement, fetched a batch at a time,
 * two of them stepped in turn on one connection (as the log's verifier
 * does), each seeing every row in order; only inside a transaction. */
Test(store_pg, streamed_statements_interleave_on_one_connection)
{
    NEED_PG();
    store_t *st = open_migrated();
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    enum { N = 2 * STORE_STREAM_BATCH + 123 };
    cr_assert_eq(store_exec(c,
                            "INSERT INTO t (name, n, b) SELECT 'r' || i, i, int8send(i)"
                            " FROM generate_series(1, 8315) i",
                            &err),
                 0, "%s", err.log);
    cr_assert_eq(N, 8315);

    store_stmt_t *up, *down;
    cr_assert_eq(store_prepare(c, "SELECT n, name, b FROM t WHERE n > ? ORDER BY n", &up, &err), 0);
    store_bind_int64(up, 1, 0);
    store_stmt_stream(up);
    cr_assert_lt(store_step(up, &err), 0, "a streamed statement outside a transaction ran");
    store_stmt_done(up);

    cr_assert_eq(store_begin_read(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_prepare(c, "SELECT n, name, b FROM t WHERE n > ? ORDER BY n", &up, &err), 0);
    cr_assert_eq(store_prepare(c, "SELECT n FROM t ORDER BY n DESC", &down, &err), 0);
    store_bind_int64(up, 1, 0);
    store_stmt_stream(up);
    store_stmt_stream(down);
    int64_t i = 0;
    int a, b;
    while ((a = store_step(up, &err)) == STORE_ROW) {
        i++;
        cr_assert_eq(store_col_int64(up, 0), i);
        char name[24];
        snprintf(name, sizeof name, "r%lld", (long long)i);
        cr_assert(str_eq_cstr(store_col_text(up, 1), name));
        cr_assert_eq(store_col_blob(up, 2).len, 8);
        cr_assert_eq((b = store_step(down, &err)), STORE_ROW, "%s", err.log);
        cr_assert_eq(store_col_int64(down, 0), N + 1 - i);
    }
    cr_assert_eq(a, STORE_DONE, "%s", err.log);
    cr_assert_eq(i, N);
    cr_assert_eq(store_step(down, &err), STORE_DONE);
    store_stmt_done(up);
    store_stmt_done(down);
    /* the same statement again, from the cache, streamed once more */
    cr_assert_eq(store_prepare(c, "SELECT n, name, b FROM t WHERE n > ? ORDER BY n", &up, &err), 0);
    store_bind_int64(up, 1, N - 5);
    store_stmt_stream(up);
    for (i = 0; store_step(up, &err) == STORE_ROW; i++)
        ;
    cr_assert_eq(i, 5);
    store_stmt_done(up);
    store_end_read(c);
    store_conn_put(c);
    store_close(st);
}

/* store_insert_rows goes as one array per column (rows.c): values that the
 * arrays' text must quote come back as they were bound, a chunk larger than
 * one statement takes splits, and a column of NULLs only (no type for its
 * array) goes the VALUES way. */
static const struct store_migration m_rows[] = {
    {1, "CREATE TABLE r (k INTEGER PRIMARY KEY, s TEXT, n INTEGER, b BLOB)",
     "CREATE TABLE r (k BIGINT PRIMARY KEY, s TEXT, n INTEGER, b BYTEA)"},
};

static const char *const tricky[] = {
    "plain",
    "",
    "NULL",
    "a \"quoted\" word",
    "back\\slash\\",
    "{braces},comma",
    "æøå ÆØÅ",
    "tab\tand\nnewline",
    " leading and trailing ",
};
#define N_TRICKY (sizeof tricky / sizeof tricky[0])

struct rows_ctx {
    bool null_n; /* every n NULL */
};

static void rows_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct rows_ctx *rc = ctx;
    store_bind_int64(s, p, row == 0 ? INT64_MIN : row == 1 ? INT64_MAX : (int64_t)row);
    if (row % 7 == 3)
        store_bind_null(s, p + 1);
    else if (row % N_TRICKY == 1) /* "": no pointer at all is empty text too */
        store_bind_text(s, p + 1, (str_t){NULL, 0});
    else
        store_bind_cstr(s, p + 1, tricky[row % N_TRICKY]);
    if (rc->null_n)
        store_bind_null(s, p + 2);
    else
        store_bind_int64(s, p + 2, (int64_t)(row % 1000) - 500);
    unsigned char b[3] = {0x00, (unsigned char)row, 0xff};
    store_bind_blob(s, p + 3, b, sizeof b);
}

static void check_rows(store_conn_t *c, size_t n, bool null_n)
{
    err_t err;
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "SELECT k, s, n, b FROM r ORDER BY k", &s, &err), 0, "%s",
                 err.log);
    /* k: INT64_MIN (row 0), then rows 2 .. n-1, then INT64_MAX (row 1) */
    for (size_t i = 0; i < n; i++) {
        size_t row = i == 0 ? 0 : i == n - 1 ? 1 : i + 1;
        cr_assert_eq(store_step(s, &err), STORE_ROW, "row %zu: %s", row, err.log);
        cr_assert_eq(store_col_int64(s, 0), row == 0   ? INT64_MIN
                                            : row == 1 ? INT64_MAX
                                                       : (int64_t)row);
        if (row % 7 == 3) {
            cr_assert(store_col_is_null(s, 1), "row %zu: s is not NULL", row);
        } else {
            str_t t = store_col_text(s, 1);
            const char *want = tricky[row % N_TRICKY];
            cr_assert(t.len == strlen(want) && memcmp(t.ptr, want, t.len) == 0,
                      "row %zu: s is \"%.*s\", not \"%s\"", row, (int)t.len, t.ptr, want);
        }
        if (null_n)
            cr_assert(store_col_is_null(s, 2));
        else
            cr_assert_eq(store_col_int64(s, 2), (int64_t)(row % 1000) - 500);
        str_t b = store_col_blob(s, 3);
        cr_assert_eq(b.len, 3);
        cr_assert(memcmp(b.ptr, (unsigned char[]){0x00, (unsigned char)row, 0xff}, 3) == 0);
    }
    cr_assert_eq(store_step(s, &err), STORE_DONE);
    store_stmt_done(s);
}

Test(store_pg, many_rows_go_as_arrays_and_come_back_as_bound)
{
    NEED_PG();
    store_t *st = NULL;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(store_migrate(st, "r", m_rows, 1, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    for (int null_n = 0; null_n < 2; null_n++) {
        for (size_t n = 1; n <= 2500; n = n < 40 ? n + 13 : n * 4) {
            cr_assert_eq(store_exec(c, "DELETE FROM r", &err), 0, "%s", err.log);
            const struct rows_ctx ctx = {null_n};
            cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
            cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
            cr_assert_eq(
                store_insert_rows(c, "INSERT INTO r (k, s, n, b)", 4, n, rows_bind, &ctx, &err), 0,
                "%zu rows: %s", n, err.log);
            cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
            cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
            if (n >= 2)
                check_rows(c, n, null_n);
        }
    }
    store_conn_put(c);
    store_close(st);
}
