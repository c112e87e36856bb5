/*
 * store.c: opening a store, and the public calls of store.h, each forwarded
 * to the backend the store was opened with (see internal.h).
 *
 * Which backend: a libpq connection URI ("postgresql://", "postgres://") or
 * key/value string ("host=db1,db2 dbname=dupla target_session_attrs=...")
 * opens PostgreSQL; "sqlite:PATH" or a bare path opens SQLite.
 *
 * Tests only: when the environment names a PostgreSQL server in
 * DUPLA_TEST_STORE_PG, every SQLite URL opens instead as its own schema on
 * that server (named after the file's absolute path), so that the whole test
 * suite, the binary it starts included, runs unchanged on PostgreSQL. The
 * store logs it (debug level: the tests compare commands' output). Only
 * builds with the tests (DUPLA_TEST_HOOKS, meson -Dtests=true) read it: the
 * package's binary ignores it, so no environment variable can move a
 * production store.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "store/internal.h"

#define OPS(h) (((const struct store *)(const void *)(h))->ops)

static bool is_postgres_url(const char *url)
{
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    /* key/value: starts with a keyword followed by '=' */
    const char *p = url;
    while (*p == ' ')
        p++;
    const char *k = p;
    while (*p && (islower((unsigned char)*p) || *p == '_'))
        p++;
    if (p == k)
        return false;
    while (*p == ' ')
        p++;
    return *p == '=';
}

#if DUPLA_TEST_HOOKS
/* The schema a SQLite path becomes under DUPLA_TEST_STORE_PG. */
static int test_schema_for(const char *path, char *out, size_t cap)
{
    char abs[4096];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        snprintf(abs, sizeof abs, "%s/%s", cwd, path);
    }
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = abs; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    snprintf(out, cap, "t_%016llx", (unsigned long long)h);
    return 0;
}
#endif

int store_open(const char *url, const struct store_options *opt, store_t **out, err_t *err)
{
    *out = NULL;
    if (!url)
        return err_set(err, DUPLA_EINVAL, "store: no store URL");
    if (is_postgres_url(url))
        return store_pg_open(url, NULL, opt, out, err);
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
#if DUPLA_TEST_HOOKS
    const char *test_pg = getenv("DUPLA_TEST_STORE_PG");
    if (test_pg && test_pg[0] && path[0]) {
        char schema[64];
        if (test_schema_for(path, schema, sizeof schema))
            return err_set(err, DUPLA_EIO, "store: cannot resolve %s", path);
        log_debug("store: DUPLA_TEST_STORE_PG is set: %s opens as schema %s on PostgreSQL", path,
                  schema);
        return store_pg_open(test_pg, schema, opt, out, err);
    }
#endif
    return store_sqlite_open(path, opt, out, err);
}

void store_close(store_t *st)
{
    if (st)
        OPS(st)->close(st);
}

const char *store_backend(const store_t *st)
{
    return OPS(st)->name;
}

const char *store_conn_backend(const store_conn_t *c)
{
    return c->ops->name;
}

int store_ping(store_t *st, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    int64_t one = 0;
    rc = store_query_int64(c, "SELECT 1", 0, &one, err);
    store_conn_put(c);
    if (rc == 0 && one != 1)
        rc = err_internal(err, DUPLA_ESTORE, "store: ping answered %lld", (long long)one);
    return rc;
}

/* The pool's figures (core/metrics.h), by backend ("sqlite", "postgresql"). */
static metric_t *m_acquire, *m_waits, *m_timeouts;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_declare(void)
{
    m_acquire = metrics_histogram("dupla_store_pool_acquire_seconds",
                                  "Time to get a store connection from the pool (waiting for a "
                                  "free one, or connecting), by backend.",
                                  "backend", NULL, 0);
    m_waits = metrics_counter("dupla_store_pool_waits_total",
                              "Connection requests that found the pool empty and waited, by "
                              "backend.",
                              "backend");
    m_timeouts = metrics_counter("dupla_store_pool_timeouts_total",
                                 "Connection requests that gave up (the store was busy or "
                                 "unreachable: a 503 to the client), by backend.",
                                 "backend");
}

void store_pool_waited(const store_t *st)
{
    pthread_once(&metrics_once, metrics_declare);
    metric_add(m_waits, 1, OPS(st)->name);
}

int store_conn_get(store_t *st, store_conn_t **out, err_t *err)
{
    pthread_once(&metrics_once, metrics_declare);
    int64_t t0 = clock_mono_ns();
    int rc = OPS(st)->conn_get(st, out, err);
    metric_observe(m_acquire, (double)(clock_mono_ns() - t0) / 1e9, OPS(st)->name);
    if (rc == DUPLA_EBUSY)
        metric_add(m_timeouts, 1, OPS(st)->name);
    return rc;
}

void store_conn_put(store_conn_t *c)
{
    if (c)
        OPS(c)->conn_put(c);
}

int store_refusal_answer(err_t *err, bool full)
{
    if (err) {
        err_http(err, 503, full ? PROBLEM_STORE_FULL : PROBLEM_STORE_READ_ONLY);
        snprintf(err->detail, sizeof err->detail, "%s",
                 full ? "The store's disk is full: nothing was recorded; try again later."
                      : "The store refuses writes: nothing was recorded; try again later.");
    }
    return DUPLA_EBUSY;
}

int store_exec(store_conn_t *c, const char *sql, err_t *err)
{
    return OPS(c)->exec(c, sql, err);
}

int store_begin(store_conn_t *c, err_t *err)
{
    return OPS(c)->begin(c, err);
}

int store_commit(store_conn_t *c, err_t *err)
{
    return OPS(c)->commit(c, err);
}

int store_commit_nowait(store_conn_t *c, err_t *err)
{
    return OPS(c)->commit_nowait ? OPS(c)->commit_nowait(c, err) : OPS(c)->commit(c, err);
}

int store_durable_barrier(store_conn_t *c, err_t *err)
{
    return OPS(c)->barrier ? OPS(c)->barrier(c, err) : 0;
}

void store_rollback(store_conn_t *c)
{
    OPS(c)->rollback(c);
}

int store_begin_read(store_conn_t *c, err_t *err)
{
    return OPS(c)->begin_read(c, err);
}

void store_end_read(store_conn_t *c)
{
    OPS(c)->end_read(c);
}

int store_read_generic_plans(store_conn_t *c, err_t *err)
{
    return OPS(c)->generic_plans ? OPS(c)->generic_plans(c, err) : 0;
}

bool store_in_transaction(const store_conn_t *c)
{
    return OPS(c)->in_transaction(c);
}

int store_prepare(store_conn_t *c, const char *sql, store_stmt_t **out, err_t *err)
{
    return OPS(c)->prepare(c, sql, out, err);
}

void store_stmt_stream(store_stmt_t *s)
{
    if (OPS(s)->stream)
        OPS(s)->stream(s);
}

void store_stmt_done(store_stmt_t *s)
{
    if (s)
        OPS(s)->stmt_done(s);
}

int store_bind_int64(store_stmt_t *s, int idx, int64_t v)
{
    return OPS(s)->bind_int64(s, idx, v);
}

int store_bind_text(store_stmt_t *s, int idx, str_t v)
{
    return OPS(s)->bind_text(s, idx, v);
}

int store_bind_cstr(store_stmt_t *s, int idx, const char *v)
{
    if (!v)
        return OPS(s)->bind_null(s, idx);
    return OPS(s)->bind_text(s, idx, (str_t){v, strlen(v)});
}

int store_bind_blob(store_stmt_t *s, int idx, const void *p, size_t n)
{
    return OPS(s)->bind_blob(s, idx, p, n);
}

int store_bind_null(store_stmt_t *s, int idx)
{
    return OPS(s)->bind_null(s, idx);
}

int store_step(store_stmt_t *s, err_t *err)
{
    return OPS(s)->step(s, err);
}

bool store_col_is_null(store_stmt_t *s, int col)
{
    return OPS(s)->col_is_null(s, col);
}

int64_t store_col_int64(store_stmt_t *s, int col)
{
    return OPS(s)->col_int64(s, col);
}

str_t store_col_text(store_stmt_t *s, int col)
{
    return OPS(s)->col_text(s, col);
}

str_t store_col_blob(store_stmt_t *s, int col)
{
    return OPS(s)->col_blob(s, col);
}

int store_col_count(store_stmt_t *s)
{
    return OPS(s)->col_count(s);
}

int64_t store_changes(store_conn_t *c)
{
    return OPS(c)->changes(c);
}

int64_t store_last_id(store_conn_t *c)
{
    return OPS(c)->last_id(c);
}

int store_query_int64(store_conn_t *c, const char *sql, int64_t def, int64_t *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, sql, &s, err);
    if (rc)
        return rc;
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        *out = store_col_int64(s, 0);
        rc = 0;
    } else if (rc == STORE_DONE) {
        *out = def;
    }
    store_stmt_done(s);
    return rc;
}

size_t store_insert_chunk(size_t left)
{
    if (left <= STORE_INSERT_EXACT)
        return left;
    size_t k = STORE_INSERT_ROWS;
    while (k > left)
        k >>= 1;
    return k;
}

int store_insert_rows(store_conn_t *c, const char *head, int ncols, size_t n,
                      void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                      const void *ctx, err_t *err)
{
    if (ncols < 1 || ncols > STORE_INSERT_COLS_MAX)
        return err_internal(err, DUPLA_EINVAL, "store: %d columns for a multi-row insert", ncols);
    /* "(?, ?, ?)" is 3 * ncols characters at most, with ", " between rows */
    size_t at = 0;
    if (OPS(c)->insert_rows) {
        int rc = OPS(c)->insert_rows(c, head, ncols, n, bind, ctx, &at, err);
        if (rc || at == n)
            return rc;
    }
    char sql[512 + STORE_INSERT_ROWS * (3 * STORE_INSERT_COLS_MAX + 2)];
    while (at < n) {
        size_t k = store_insert_chunk(n - at);
        int len = snprintf(sql, sizeof sql, "%s VALUES ", head);
        if (len < 0 || (size_t)len >= 512)
            return err_internal(err, DUPLA_EINVAL, "store: a multi-row insert's head is too long");
        size_t used = (size_t)len;
        for (size_t r = 0; r < k; r++) {
            sql[used++] = r ? ',' : '(';
            if (r) {
                sql[used++] = ' ';
                sql[used++] = '(';
            }
            for (int col = 0; col < ncols; col++) {
                if (col) {
                    sql[used++] = ',';
                    sql[used++] = ' ';
                }
                sql[used++] = '?';
            }
            sql[used++] = ')';
        }
        sql[used] = '\0';
        store_stmt_t *s;
        int rc = store_prepare(c, sql, &s, err);
        if (rc)
            return rc;
        for (size_t r = 0; r < k; r++)
            bind(s, 1 + (int)r * ncols, at + r, ctx);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc < 0)
            return rc;
        at += k;
    }
    return 0;
}

int store_migrate_lock(store_conn_t *c, bool lock, err_t *err)
{
    return OPS(c)->migrate_lock ? OPS(c)->migrate_lock(c, lock, err) : 0;
}

int store_pipeline_begin(store_conn_t *c, err_t *err)
{
    return OPS(c)->pipeline ? OPS(c)->pipeline(c, true, err) : 0;
}

int store_pipeline_end(store_conn_t *c, err_t *err)
{
    return OPS(c)->pipeline ? OPS(c)->pipeline(c, false, err) : 0;
}

int store_backup(store_t *st, const char *path, store_backup_progress_fn fn, void *ctx, err_t *err)
{
    if (!st->ops->backup)
        return err_set(err, DUPLA_EINVAL,
                       "a %s store is backed up with its own tools (pg_basebackup or "
                       "pg_dump), or copied to a SQLite file with `dupla store copy`",
                       st->ops->name);
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    rc = st->ops->backup(c, path, fn, ctx, err);
    store_conn_put(c);
    return rc;
}
