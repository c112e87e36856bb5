/*
 * store.h: the storage interface the domain code uses.
 *
 * A store_t is one database (a pool of connections). Domain code takes a
 * connection for the duration of one unit of work, runs prepared statements
 * on it, and gives it back. SQL is written once, portable between the
 * backends: placeholders are `?` (numbered for PostgreSQL by the backend),
 * integers are 64-bit, text is UTF-8, blobs are bytes, and times are stored
 * as integer milliseconds since the epoch (UTC).
 *
 * Backends: SQLite (embedded default: WAL, foreign keys, busy timeout) and,
 * later, PostgreSQL behind the same calls. Nothing outside src/store/ may
 * include a backend's own header.
 *
 * Schema: each module owns a list of numbered migrations and applies them
 * with store_migrate() at start-up; the store records (module, version) and
 * refuses to run against a schema newer than the binary knows.
 */
#ifndef DUPLA_STORE_STORE_H
#define DUPLA_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/str.h"

typedef struct store store_t;
typedef struct store_conn store_conn_t;
typedef struct store_stmt store_stmt_t;

#define STORE_POOL_DEFAULT       8
#define STORE_BUSY_TIMEOUT_MS    5000
#define STORE_ACQUIRE_TIMEOUT_MS 5000
/* Statements cached per connection (prepared once, reused on hot paths). */
#define STORE_STMT_CACHE 128

/* store_step() results. */
#define STORE_ROW  1
#define STORE_DONE 0

struct store_options {
    unsigned pool_size;          /* connections; 0 = STORE_POOL_DEFAULT */
    bool read_only;              /* open for reading only (audit verify, reports) */
    bool synchronous_full;       /* SQLite: synchronous=FULL instead of NORMAL */
    unsigned acquire_timeout_ms; /* 0 = STORE_ACQUIRE_TIMEOUT_MS */
};

/* Opens the store at url ("sqlite:PATH", or a bare path for SQLite). The
 * caller owns *out and closes it with store_close(). */
int store_open(const char *url, const struct store_options *opt, store_t **out, err_t *err);
/* Waits for every connection to come back, then closes them all. */
void store_close(store_t *st);
/* "sqlite" or "postgresql". */
const char *store_backend(const store_t *st);
/* The same, for the store a connection belongs to. */
const char *store_conn_backend(const store_conn_t *c);
/* 0 if the store answers a trivial query (readiness). */
int store_ping(store_t *st, err_t *err);

/* Takes a connection from the pool, waiting up to the acquire timeout
 * (DUPLA_EBUSY after that). Give it back with store_conn_put(). */
int store_conn_get(store_t *st, store_conn_t **out, err_t *err);
/* Returns a connection; an open transaction is rolled back first. */
void store_conn_put(store_conn_t *c);

/* Runs SQL without parameters or results (DDL, pragmas); may hold several
 * statements separated by ';'. */
int store_exec(store_conn_t *c, const char *sql, err_t *err);

int store_begin(store_conn_t *c, err_t *err); /* a write transaction */
int store_commit(store_conn_t *c, err_t *err);
void store_rollback(store_conn_t *c);
bool store_in_transaction(const store_conn_t *c);

/* Commits without waiting until the commit is durable (PostgreSQL:
 * synchronous_commit off for this transaction, so its locks are released
 * before the WAL flush and the synchronous standby's answer). Its changes
 * may be visible to others before they are durable, and a crash of the
 * server may lose them: nothing outside the store may be told about them
 * until store_durable_barrier() on the same connection has returned 0.
 * SQLite: store_commit. */
int store_commit_nowait(store_conn_t *c, err_t *err);
/* Returns 0 once every transaction committed on c (with or without
 * waiting) is durable, on the synchronous standby too when there is one.
 * Outside a transaction. SQLite: 0 at once (every commit was durable). */
int store_durable_barrier(store_conn_t *c, err_t *err);

/* A read snapshot: every read on c until store_end_read() sees the database
 * as it was at the snapshot's first read (SQLite: a deferred transaction in
 * WAL mode; PostgreSQL: REPEATABLE READ READ ONLY). Ends like a
 * transaction when the connection is put back. */
int store_begin_read(store_conn_t *c, err_t *err);
void store_end_read(store_conn_t *c);
/* Inside a read snapshot: its statements run on generic plans (PostgreSQL:
 * SET LOCAL plan_cache_mode = force_generic_plan, queued with the
 * snapshot's BEGIN, so no round trip of its own). For point reads of a
 * hash-partitioned table: PostgreSQL otherwise plans every execution
 * anew, because the generic plan lists every partition (pruned only when
 * it runs) and so looks dearer than a custom one. SQLite: nothing. */
int store_read_generic_plans(store_conn_t *c, err_t *err);

/* A prepared statement for sql, from the connection's cache when the same
 * SQL text was prepared before. The statement belongs to the connection;
 * call store_stmt_done() when finished with it (resets and clears bindings).
 * Parameters are numbered from 1, result columns from 0. */
int store_prepare(store_conn_t *c, const char *sql, store_stmt_t **out, err_t *err);
void store_stmt_done(store_stmt_t *s);

int store_bind_int64(store_stmt_t *s, int idx, int64_t v);
int store_bind_text(store_stmt_t *s, int idx, str_t v);                 /* copied */
int store_bind_cstr(store_stmt_t *s, int idx, const char *v);           /* NULL binds NULL */
int store_bind_blob(store_stmt_t *s, int idx, const void *p, size_t n); /* copied */
int store_bind_null(store_stmt_t *s, int idx);

/* Advances: STORE_ROW, STORE_DONE, or a negative error (err filled). */
int store_step(store_stmt_t *s, err_t *err);

/* Asks for the rows of s (prepared and bound, not yet stepped) a batch at a
 * time instead of all at once: for a scan of a whole large table (the
 * log's verification). PostgreSQL otherwise holds a statement's whole
 * result in memory; a streamed statement is a cursor fetched
 * STORE_STREAM_BATCH rows at a time, and several may be open on one
 * connection. It must run inside a transaction (store_begin or
 * store_begin_read) and be done before that ends. SQLite reads rows as they
 * are stepped anyway: nothing changes there. */
#define STORE_STREAM_BATCH 4096
void store_stmt_stream(store_stmt_t *s);

bool store_col_is_null(store_stmt_t *s, int col);
int64_t store_col_int64(store_stmt_t *s, int col);
/* Valid until the next step or store_stmt_done(). NULL columns give "". */
str_t store_col_text(store_stmt_t *s, int col);
str_t store_col_blob(store_stmt_t *s, int col);
int store_col_count(store_stmt_t *s);

/* Rows changed by the last statement on c, and the last inserted row id. */
int64_t store_changes(store_conn_t *c);
int64_t store_last_id(store_conn_t *c);

/* Pipelining, for a hot path that sends many statements in one unit of
 * work (the disclosure log's group commit, ingest). Between
 * store_pipeline_begin() and store_pipeline_end(), a statement that returns
 * no rows (INSERT, UPDATE or DELETE without RETURNING, CALL, or a check:
 * below) is sent without
 * waiting for the server: its store_step() answers STORE_DONE at once, and
 * an error it meets is reported by the next call that waits for an answer
 * (a statement that returns rows, store_changes' count, store_commit, or
 * store_pipeline_end). Use it only where any error fails the whole unit of
 * work. PostgreSQL: libpq's pipeline mode (the queue, and a query or the
 * commit, in one round trip); SQLite: nothing to gain, nothing changes.
 * store_begin inside a pipeline is queued too (so a whole unit of work
 * may cost one round trip). store_pipeline_end returns the queue's first
 * error not yet reported; store_conn_put ends a pipeline left open.
 * A check is a query sent the same way: its text begins with STORE_CHECK,
 * nobody reads its rows, and what it checks fails the statement (and so
 * the unit of work) when it does not hold. */
#define STORE_CHECK "/* check */ "
int store_pipeline_begin(store_conn_t *c, err_t *err);
int store_pipeline_end(store_conn_t *c, err_t *err);

/* Convenience: prepare, bind nothing, step once, read column 0 as an integer
 * (def if no row). For counts and existence checks in tests and tools. */
int store_query_int64(store_conn_t *c, const char *sql, int64_t def, int64_t *out, err_t *err);

/* Many rows into one table with few statements: head is "INSERT INTO t
 * (a, b, c)" with ncols columns (at most STORE_INSERT_COLS_MAX). Rows go in
 * multi-row statements of STORE_INSERT_ROWS rows, the rest in statements of
 * 16 or 8 rows and a last one of up to STORE_INSERT_EXACT rows
 * (store_insert_chunk), so every statement is one of a few texts each
 * connection prepares once, and a handful of rows (the common case: a
 * small group commit) is one statement. bind(s, first, row, ctx)
 * binds row's ncols values at parameters first .. first + ncols - 1. On
 * PostgreSQL a statement per row costs the server a plan execution each,
 * far more than the row itself; in a pipeline the statements go without
 * waiting as single inserts do. Stops at the first error. */
#define STORE_INSERT_ROWS     32
#define STORE_INSERT_EXACT    8
#define STORE_INSERT_COLS_MAX 12
/* The rows of the next statement when left rows remain (left > 0). */
size_t store_insert_chunk(size_t left);
int store_insert_rows(store_conn_t *c, const char *head, int ncols, size_t n,
                      void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                      const void *ctx, err_t *err);

/* ---- telling other nodes (PostgreSQL LISTEN/NOTIFY) ---- */

/* Every node of a cluster keeps in-memory registries of what the store
 * holds; a change tells the others at once instead of leaving them to their
 * periodic generation check. store_notify() queues a notification on
 * STORE_NOTIFY_CHANNEL with payload "<schema>:<what>" in c's open
 * transaction (PostgreSQL delivers it at commit, so never before the change
 * is visible, and never for a change rolled back). SQLite: nothing (one
 * machine; other processes there rely on the generation check). */
#define STORE_NOTIFY_CHANNEL  "dupla_registry"
#define STORE_NOTIFY_WHAT_MAX 64
int store_notify(store_conn_t *c, const char *what, err_t *err);

/* A listener: its own connection (outside the pool) that LISTENs on
 * STORE_NOTIFY_CHANNEL, and a thread that calls fn(ctx, what) for each
 * notification about this store (the same schema), and fn(ctx, NULL) after
 * each (re)connection, since what was sent while it was away is lost. A lost
 * connection is opened again every STORE_LISTEN_RETRY_MS; meanwhile the
 * callers' generation checks are what notices changes. fn runs on the
 * listener's thread and must not block for long. SQLite: *out is NULL and
 * nothing runs. */
#define STORE_LISTEN_RETRY_MS 1000
typedef struct store_listener store_listener_t;
int store_listen_start(store_t *st, void (*fn)(void *ctx, const char *what), void *ctx,
                       store_listener_t **out, err_t *err);
/* Stops the thread and closes the connection (NULL: nothing). */
void store_listen_stop(store_listener_t *l);
/* Notifications received, and connections (re)opened, so far. */
void store_listen_stats(store_listener_t *l, uint64_t *received, uint64_t *connects);

/* ---- migrations ---- */

struct store_migration {
    int version;          /* 1, 2, 3 ... in order, never reused */
    const char *sqlite;   /* SQL for SQLite */
    const char *postgres; /* SQL for PostgreSQL, or NULL when the same */
};

/* Applies the module's migrations that the store has not seen, each in its
 * own transaction. Refuses (DUPLA_ECONFLICT) if the store records a version
 * of this module newer than the last one given: the binary is older than the
 * database. */
int store_migrate(store_t *st, const char *module, const struct store_migration *m, size_t n,
                  err_t *err);
/* The version of module recorded in the store (0 if none). */
int store_schema_version(store_t *st, const char *module, int *out, err_t *err);

/* ---- whole databases: listing and copying (dupla store copy) ---- */

#define STORE_NAME_MAX   64  /* a table's or column's name */
#define STORE_TABLES_MAX 128 /* tables a copy handles */

struct store_table {
    char name[STORE_NAME_MAX];
    int64_t rows;
};

/* The tables of the store's schema that hold the platform's data (every
 * table but schema_migrations and the backend's own), sorted by name, with
 * their row counts. */
int store_tables(store_t *st, struct store_table *out, size_t cap, size_t *n, err_t *err);

/* A private, empty in-memory SQLite database with one connection (never
 * redirected by DUPLA_TEST_STORE_PG): the copy migrates it to learn the
 * schema versions and the rows a fresh migration puts in (counters). */
int store_open_memory(store_t **out, err_t *err);

/* Refuses (DUPLA_ECONFLICT) a source whose schema differs from fresh (a
 * store migrated by every module of this binary): a module this binary
 * does not know, or a newer or older version of one; DUPLA_EINVAL if the
 * source holds no dupla schema at all. */
int store_copy_check_versions(store_t *from, store_t *fresh, err_t *err);
/* Refuses (DUPLA_ECONFLICT, naming the table) a target that holds data: a
 * table with more rows than fresh has in it. Nothing is written. */
int store_copy_check_empty(store_t *to, store_t *fresh, err_t *err);

struct store_copy_progress {
    const char *table; /* the table being copied */
    size_t table_no;   /* 1-based */
    size_t n_tables;
    int64_t table_done, table_rows;
    int64_t done, total; /* rows over all tables */
};

/* A column the target has and the source computes: the backends' schemas
 * of one version may differ where one backend keeps a copy of a value for
 * its own reasons (PostgreSQL's partition keys). source_sql is an
 * expression over the source's table (and others), e.g. a subquery. */
struct store_copy_derived {
    const char *table;
    const char *column;
    const char *source_sql;
};

struct store_copy_options {
    /* Called after each batch of rows (and once per table at its end). */
    void (*progress)(void *ctx, const struct store_copy_progress *p);
    void *progress_ctx;
    unsigned batch_rows; /* rows read per page; 0 = 1000 */
    /* Used only where the source lacks the column. */
    const struct store_copy_derived *derived;
    size_t n_derived;
};

/* Copies every table of from into to, which must have been migrated to the
 * same schema (store_copy_check_versions) and hold no data
 * (store_copy_check_empty): every column of the target's tables, from the
 * source's column of that name or opt->derived (a source's column the
 * target lacks is a backend's own copy, and left out); the source is read
 * in one read snapshot, in the order of its primary keys; the
 * target written in one transaction, tables in the order of their foreign
 * keys, rows with their ids, blobs byte for byte. The rows a fresh
 * migration puts in the target (fresh: counters) are replaced by the
 * source's. Before the commit the row count of every table is checked
 * against the source's; PostgreSQL sequences are then set past the copied
 * ids. On any failure the target's transaction is rolled back, leaving it
 * as it was. out (cap entries, may be NULL) gets the tables and the rows
 * copied. */
int store_copy(store_t *from, store_t *to, store_t *fresh, const struct store_copy_options *opt,
               struct store_table *out, size_t cap, size_t *n, err_t *err);

/* ---- online backup (dupla store backup) ---- */

/* Called while a backup runs: pages copied so far of the store's total. */
typedef void (*store_backup_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Writes a consistent copy of the whole store, taken in one read snapshot
 * while others keep writing, to a new file at path (SQLite only: the online
 * backup API, page by page). The copy is written beside path under a
 * temporary name, checked (PRAGMA quick_check), synced and then renamed, so
 * path is either absent or a whole, checked copy. Refuses an existing path
 * (DUPLA_ECONFLICT) and a PostgreSQL store (DUPLA_EINVAL: use pg_basebackup,
 * or `dupla store copy` to a SQLite file). */
int store_backup(store_t *st, const char *path, store_backup_progress_fn fn, void *ctx, err_t *err);

#endif
