/* Unit tests: store (the SQLite backend of the storage interface). */
#include <criterion/criterion.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char dir[64];
static char url[128];

static void setup(void)
{
    unsetenv("DUPLA_TEST_STORE_PG"); /* these are the SQLite backend's tests */
    snprintf(dir, sizeof dir, "/tmp/dupla-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static const struct store_migration v1[] = {
    {1, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER)", NULL},
};
static const struct store_migration v2[] = {
    {1, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER)", NULL},
    {2, "ALTER TABLE t ADD COLUMN extra BLOB", NULL},
};

Test(store, migrations_apply_once_and_refuse_newer_schema)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(store_migrate(st, "m", v2, 2, &err), 0, "%s", err.log);
    cr_assert_eq(store_migrate(st, "m", v2, 2, &err), 0, "%s", err.log); /* again: nothing */
    int v;
    cr_assert_eq(store_schema_version(st, "m", &v, &err), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(store_migrate(st, "m", v1, 1, &err), DUPLA_ECONFLICT);
    cr_assert(strstr(err.detail, "newer schema") != NULL, "%s", err.detail);
    cr_assert_eq(store_schema_version(st, "other", &v, &err), 0);
    cr_assert_eq(v, 0);
    store_close(st);
}

Test(store, failed_migration_leaves_schema_unchanged)
{
    store_t *st;
    err_t err;
    static const struct store_migration bad[] = {
        {1, "CREATE TABLE a (x INTEGER)", NULL},
        {2, "CREATE TABLE b (y INTEGER); CREATE TABLE a (z INTEGER)", NULL}, /* a exists */
    };
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_neq(store_migrate(st, "bad", bad, 2, &err), 0);
    int v;
    cr_assert_eq(store_schema_version(st, "bad", &v, &err), 0);
    cr_assert_eq(v, 1);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t n;
    cr_assert_eq(
        store_query_int64(c, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'", -1, &n, &err),
        0);
    cr_assert_eq(n, 0, "table b of the failed migration must not exist");
    store_conn_put(c);
    store_close(st);
}

Test(store, statements_bind_step_and_reuse)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(store_migrate(st, "m", v2, 2, &err), 0);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    static const char *ins = "INSERT INTO t (name, n, extra) VALUES (?, ?, ?)";
    for (int i = 0; i < 3; i++) {
        store_stmt_t *s;
        cr_assert_eq(store_prepare(c, ins, &s, &err), 0);
        char name[16];
        snprintf(name, sizeof name, "row%d", i);
        store_bind_text(s, 1, str_from_cstr(name));
        store_bind_int64(s, 2, (int64_t)i * 1000000000000LL);
        store_bind_blob(s, 3, "\0\1\2", 3);
        cr_assert_eq(store_step(s, &err), STORE_DONE);
        cr_assert_eq(store_changes(c), 1);
        store_stmt_done(s);
    }
    /* a unique violation is a conflict */
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, ins, &s, &err), 0);
    store_bind_cstr(s, 1, "row1");
    store_bind_null(s, 2);
    store_bind_null(s, 3);
    cr_assert_eq(store_step(s, &err), DUPLA_ECONFLICT);
    store_stmt_done(s);
    cr_assert_eq(store_prepare(c, "SELECT name, n, extra FROM t WHERE n >= ? ORDER BY n", &s, &err),
                 0);
    store_bind_int64(s, 1, 1);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    cr_assert(str_eq(store_col_text(s, 0), STR("row1")));
    cr_assert_eq(store_col_int64(s, 1), 1000000000000LL);
    cr_assert_eq(store_col_blob(s, 2).len, 3);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    cr_assert_eq(store_step(s, &err), STORE_DONE);
    store_stmt_done(s);
    /* the same SQL twice at once on one connection still works */
    store_stmt_t *a, *b;
    cr_assert_eq(store_prepare(c, "SELECT COUNT(*) FROM t", &a, &err), 0);
    cr_assert_eq(store_prepare(c, "SELECT COUNT(*) FROM t", &b, &err), 0);
    cr_assert_neq(a, b);
    cr_assert_eq(store_step(a, &err), STORE_ROW);
    cr_assert_eq(store_step(b, &err), STORE_ROW);
    cr_assert_eq(store_col_int64(a, 0), 3);
    cr_assert_eq(store_col_int64(b, 0), 3);
    store_stmt_done(a);
    store_stmt_done(b);
    /* a bad statement is an error, not a crash */
    cr_assert_neq(store_prepare(c, "SELEC nothing", &s, &err), 0);
    store_conn_put(c);
    store_close(st);
}

Test(store, cache_is_keyed_by_text_not_pointer)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    char sql[64];
    int64_t v;
    snprintf(sql, sizeof sql, "SELECT 1");
    cr_assert_eq(store_query_int64(c, sql, 0, &v, &err), 0);
    cr_assert_eq(v, 1);
    snprintf(sql, sizeof sql, "SELECT 2"); /* same buffer, other SQL */
    cr_assert_eq(store_query_int64(c, sql, 0, &v, &err), 0);
    cr_assert_eq(v, 2);
    store_conn_put(c);
    store_close(st);
}

Test(store, rollback_and_put_discard_uncommitted_work)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(store_migrate(st, "m", v1, 1, &err), 0);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert(store_in_transaction(c));
    cr_assert_eq(store_exec(c, "INSERT INTO t (name) VALUES ('x')", &err), 0);
    store_rollback(c);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert_eq(store_exec(c, "INSERT INTO t (name) VALUES ('y')", &err), 0);
    store_conn_put(c); /* returning it with an open transaction rolls back */
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert_eq(store_exec(c, "INSERT INTO t (name) VALUES ('z')", &err), 0);
    cr_assert_eq(store_commit(c, &err), 0);
    int64_t n;
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 1);
    store_conn_put(c);
    cr_assert_eq(store_ping(st, &err), 0);
    store_close(st);
}

/* On both backends (the suite also runs on PostgreSQL): a pipeline changes
 * nothing that the unit of work sees or commits. */
Test(store, a_pipeline_changes_nothing_the_unit_of_work_sees)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(store_migrate(st, "m", v1, 1, &err), 0);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert_eq(store_pipeline_begin(c, &err), 0, "%s", err.log);
    for (int i = 0; i < 10; i++) {
        store_stmt_t *s;
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        cr_assert_eq(store_prepare(c, "INSERT INTO t (name) VALUES (?)", &s, &err), 0);
        store_bind_cstr(s, 1, name);
        cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
        store_stmt_done(s);
    }
    int64_t n;
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", -1, &n, &err), 0, "%s", err.log);
    cr_assert_eq(n, 10);
    cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
    cr_assert_eq(store_pipeline_end(c, &err), 0, "%s", err.log);
    store_conn_put(c);
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 10);
    store_conn_put(c);
    store_close(st);
}

Test(store, a_read_snapshot_does_not_see_later_commits)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(store_migrate(st, "m", v1, 1, &err), 0);
    store_conn_t *r, *w;
    cr_assert_eq(store_conn_get(st, &r, &err), 0);
    cr_assert_eq(store_conn_get(st, &w, &err), 0);
    cr_assert_eq(store_begin_read(r, &err), 0);
    int64_t n;
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_exec(w, "INSERT INTO t (name) VALUES ('later')", &err), 0);
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 0, "the snapshot saw a later commit");
    store_end_read(r);
    cr_assert_not(store_in_transaction(r));
    cr_assert_eq(store_query_int64(r, "SELECT COUNT(*) FROM t", -1, &n, &err), 0);
    cr_assert_eq(n, 1);
    store_conn_put(r);
    store_conn_put(w);
    store_close(st);
}

Test(store, pool_exhaustion_is_busy_not_a_hang)
{
    store_t *st;
    err_t err;
    struct store_options opt = {.pool_size = 2, .acquire_timeout_ms = 50};
    cr_assert_eq(store_open(url, &opt, &st, &err), 0);
    store_conn_t *a, *b, *c;
    cr_assert_eq(store_conn_get(st, &a, &err), 0);
    cr_assert_eq(store_conn_get(st, &b, &err), 0);
    cr_assert_eq(store_conn_get(st, &c, &err), DUPLA_EBUSY);
    store_conn_put(a);
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_conn_put(b);
    store_conn_put(c);
    store_close(st);
}

Test(store, bad_urls_are_refused)
{
    store_t *st;
    err_t err;
    /* PostgreSQL: a string libpq cannot parse, and a server that is not there */
    cr_assert_eq(store_open("host=localhost no_such_option=1", NULL, &st, &err), DUPLA_EINVAL);
    cr_assert_str_neq(err.log, "");
    cr_assert_eq(store_open("postgresql://127.0.0.1:1/x?connect_timeout=2", NULL, &st, &err),
                 DUPLA_EIO);
    cr_assert(strstr(err.log, "cannot connect to PostgreSQL"), "%s", err.log);
    cr_assert_null(strchr(err.log, '\n'), "one line: %s", err.log);
    cr_assert_neq(store_open("sqlite:/nonexistent-dir/x/y.db", NULL, &st, &err), 0);
    cr_assert_eq(store_open("sqlite:", NULL, &st, &err), DUPLA_EINVAL);
}

/* ---- copying a whole database (store_copy) ---- */

static const char copy_schema[] =
    "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL, big INTEGER, data BLOB);"
    "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER NOT NULL REFERENCES p(id), v TEXT);";

static store_t *copy_store(const char *name, const char *schema)
{
    char u[160];
    snprintf(u, sizeof u, "sqlite:%s/%s", dir, name);
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(u, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_exec(c, schema, &err), 0, "%s", err.log);
    store_conn_put(c);
    return st;
}

static int64_t copy_count(store_t *st, const char *sql)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t n = -1;
    cr_assert_eq(store_query_int64(c, sql, -1, &n, &err), 0, "%s", err.log);
    store_conn_put(c);
    return n;
}

Test(store, copy_keeps_ids_integers_and_blobs_and_is_all_or_nothing)
{
    store_t *src = copy_store("src.db", copy_schema);
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(src, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    enum { ROWS = 2345 }; /* several pages and a short last INSERT */
    for (int i = 0; i < ROWS; i++) {
        store_stmt_t *s;
        cr_assert_eq(
            store_prepare(c, "INSERT INTO p (id, name, big, data) VALUES (?, ?, ?, ?)", &s, &err),
            0, "%s", err.log);
        unsigned char blob[4] = {0, (unsigned char)i, 0xff, 0};
        char name[32];
        snprintf(name, sizeof name, "näme %d", i);
        store_bind_int64(s, 1, 3 * i + 7);
        store_bind_cstr(s, 2, name);
        store_bind_int64(s, 3, i == 0 ? INT64_MIN : INT64_MAX - i);
        if (i % 10 == 9)
            store_bind_null(s, 4);
        else
            store_bind_blob(s, 4, blob, sizeof blob);
        cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
        store_stmt_done(s);
    }
    cr_assert_eq(store_exec(c,
                            "INSERT INTO c VALUES (1, 7, 'a'); INSERT INTO c VALUES (2, 10, NULL);"
                            "INSERT INTO c VALUES (3, 7, 'bad')",
                            &err),
                 0, "%s", err.log);
    cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
    store_conn_put(c);

    /* a target that refuses the last table's row: nothing stays behind */
    store_t *bad = copy_store(
        "bad.db", "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL, big INTEGER,"
                  " data BLOB);"
                  "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER NOT NULL REFERENCES p(id),"
                  " v TEXT CHECK (v <> 'bad'));");
    cr_assert_neq(store_copy(src, bad, NULL, NULL, NULL, 0, NULL, &err), 0);
    cr_assert(strstr(err.log, "copying table c"), "%s", err.log);
    cr_assert_eq(copy_count(bad, "SELECT COUNT(*) FROM p"), 0, "a failed copy left rows");
    cr_assert_eq(store_copy_check_empty(bad, NULL, &err), 0, "%s", err.log);
    store_close(bad);

    store_t *dst = copy_store("dst.db", copy_schema);
    struct store_table t[4];
    size_t n = 0;
    cr_assert_eq(store_copy(src, dst, NULL, NULL, t, 4, &n, &err), 0, "%s", err.log);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(t[0].name, "p", "parents first");
    cr_assert_eq(t[0].rows, ROWS);
    cr_assert_eq(t[1].rows, 3);
    cr_assert_eq(copy_count(dst, "SELECT big FROM p WHERE id = 7"), INT64_MIN);
    cr_assert_eq(copy_count(dst, "SELECT big FROM p WHERE id = 10"), INT64_MAX - 1);
    cr_assert_eq(copy_count(dst, "SELECT MAX(id) FROM p"), 3 * (ROWS - 1) + 7);
    cr_assert_eq(copy_count(dst, "SELECT COUNT(*) FROM p WHERE data IS NULL"), ROWS / 10);
    cr_assert_eq(copy_count(dst, "SELECT COUNT(*) FROM p WHERE id = 13 AND hex(data) = '0002FF00'"),
                 1);
    cr_assert_eq(copy_count(dst, "SELECT COUNT(*) FROM p WHERE name = 'näme 2344'"), 1);
    cr_assert_eq(copy_count(dst, "SELECT COUNT(*) FROM c WHERE v IS NULL AND p_id = 10"), 1);

    /* now it holds data: refused, naming the first table with rows */
    cr_assert_eq(store_copy_check_empty(dst, NULL, &err), DUPLA_ECONFLICT);
    cr_assert(strstr(err.log, "table c has 3 rows"), "%s", err.log);
    struct store_table all[STORE_TABLES_MAX];
    cr_assert_eq(store_tables(dst, all, STORE_TABLES_MAX, &n, &err), 0, "%s", err.log);
    cr_assert_eq(n, 2);
    store_close(dst);
    store_close(src);
}
