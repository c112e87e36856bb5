/*
 * migrate.c: per-module, numbered schema migrations.
 *
 * The table schema_migrations(module, version, applied_ms) records what has
 * been applied. Each migration runs in its own write transaction together
 * with its bookkeeping row, so a failed migration leaves the schema as it was.
 * A database that records a newer version of a module than this binary knows
 * is refused: running old code against a newer schema can lose data.
 *
 * The table is shared by every module and both backends. On PostgreSQL the
 * whole of store_migrate runs under an advisory lock, so that two processes
 * starting at once against one database apply each migration once; SQLite's
 * BEGIN IMMEDIATE serialises them already.
 */
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/internal.h"

static const char *const migrations_table = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                            " module TEXT NOT NULL,"
                                            " version INTEGER NOT NULL,"
                                            " applied_ms BIGINT NOT NULL,"
                                            " PRIMARY KEY (module, version))";

static int read_version(store_conn_t *c, const char *module, int *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE module = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, module);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        *out = (int)store_col_int64(s, 0);
        rc = 0;
    } else if (rc == STORE_DONE) {
        *out = 0;
    }
    store_stmt_done(s);
    return rc;
}

int store_schema_version(store_t *st, const char *module, int *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    /* On PostgreSQL a read-only session may not even CREATE ... IF NOT
     * EXISTS: there, a missing table is version 0. */
    int64_t exists = 1;
    if (strcmp(store_backend(st), "postgresql") == 0)
        rc = store_query_int64(
            c, "SELECT CAST(to_regclass('schema_migrations') IS NOT NULL AS INTEGER)", 0, &exists,
            err);
    else
        rc = store_exec(c, migrations_table, err);
    if (rc == 0 && !exists)
        *out = 0;
    else if (rc == 0)
        rc = read_version(c, module, out, err);
    store_conn_put(c);
    return rc;
}

int store_migrate(store_t *st, const char *module, const struct store_migration *m, size_t n,
                  err_t *err)
{
    for (size_t i = 1; i < n; i++)
        if (m[i].version <= m[i - 1].version)
            return err_internal(err, DUPLA_EINTERNAL,
                                "store: migrations of %s are not in increasing order", module);
    int known = n ? m[n - 1].version : 0;
    bool pg = strcmp(store_backend(st), "postgresql") == 0;
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    rc = store_migrate_lock(c, true, err);
    if (rc) {
        store_conn_put(c);
        return rc;
    }
    rc = store_exec(c, migrations_table, err);
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        rc = store_begin(c, err);
        if (rc)
            break;
        int have = 0;
        rc = read_version(c, module, &have, err);
        if (rc)
            break;
        if (have > known) {
            rc = err_set(err, DUPLA_ECONFLICT,
                         "store: the database has schema version %d of module '%s', but this "
                         "binary knows only up to %d; refusing to run against a newer schema",
                         have, module, known);
            break;
        }
        if (i == n || m[i].version <= have) {
            store_rollback(c);
            continue;
        }
        rc = store_exec(c, pg && m[i].postgres ? m[i].postgres : m[i].sqlite, err);
        if (rc == 0) {
            store_stmt_t *s;
            rc = store_prepare(c,
                               "INSERT INTO schema_migrations (module, version, applied_ms) "
                               "VALUES (?, ?, ?)",
                               &s, err);
            if (rc == 0) {
                store_bind_cstr(s, 1, module);
                store_bind_int64(s, 2, m[i].version);
                store_bind_int64(s, 3, clock_now_ms());
                rc = store_step(s, err);
                store_stmt_done(s);
                if (rc == STORE_DONE)
                    rc = 0;
            }
        }
        if (rc == 0)
            rc = store_commit(c, err);
        if (rc == 0)
            log_info("store: applied migration %s/%d", module, m[i].version);
        else
            log_error("store: migration %s/%d failed: %s", module, m[i].version,
                      err ? err->log : "?");
    }
    if (store_in_transaction(c))
        store_rollback(c);
    store_migrate_lock(c, false, NULL);
    store_conn_put(c);
    return rc;
}
