/*
 * internal.h: what the backends share with store.c (private to src/store/).
 *
 * store.c owns the public calls of store.h and forwards each to the backend
 * the store was opened with, through a table of operations. Every backend's
 * store, connection and statement begins with the table's address, so that
 * store.c finds the backend from any of the three handles.
 */
#ifndef DUPLA_STORE_INTERNAL_H
#define DUPLA_STORE_INTERNAL_H

#include "store/store.h"

struct store_ops;

/* The first member of each backend's structures. */
struct store {
    const struct store_ops *ops;
};
struct store_conn {
    const struct store_ops *ops;
};
struct store_stmt {
    const struct store_ops *ops;
};

struct store_ops {
    const char *name; /* store_backend() */
    void (*close)(store_t *st);
    int (*conn_get)(store_t *st, store_conn_t **out, err_t *err);
    void (*conn_put)(store_conn_t *c);
    int (*exec)(store_conn_t *c, const char *sql, err_t *err);
    int (*begin)(store_conn_t *c, err_t *err);
    int (*commit)(store_conn_t *c, err_t *err);
    /* store_commit_nowait and store_durable_barrier (NULL: every commit is
     * durable when it returns; commit and a barrier with nothing to do). */
    int (*commit_nowait)(store_conn_t *c, err_t *err);
    int (*barrier)(store_conn_t *c, err_t *err);
    void (*rollback)(store_conn_t *c);
    int (*begin_read)(store_conn_t *c, err_t *err);
    void (*end_read)(store_conn_t *c);
    /* store_read_generic_plans (NULL: nothing to do) */
    int (*generic_plans)(store_conn_t *c, err_t *err);
    bool (*in_transaction)(const store_conn_t *c);
    int (*prepare)(store_conn_t *c, const char *sql, store_stmt_t **out, err_t *err);
    void (*stmt_done)(store_stmt_t *s);
    int (*bind_int64)(store_stmt_t *s, int idx, int64_t v);
    int (*bind_text)(store_stmt_t *s, int idx, str_t v);
    int (*bind_blob)(store_stmt_t *s, int idx, const void *p, size_t n);
    int (*bind_null)(store_stmt_t *s, int idx);
    int (*step)(store_stmt_t *s, err_t *err);
    void (*stream)(store_stmt_t *s); /* NULL: rows are read as stepped */
    bool (*col_is_null)(store_stmt_t *s, int col);
    int64_t (*col_int64)(store_stmt_t *s, int col);
    str_t (*col_text)(store_stmt_t *s, int col);
    str_t (*col_blob)(store_stmt_t *s, int col);
    int (*col_count)(store_stmt_t *s);
    int64_t (*changes)(store_conn_t *c);
    int64_t (*last_id)(store_conn_t *c);
    /* Serialises store_migrate across processes (NULL: the backend's write
     * transaction already does). lock != 0 takes, 0 releases. */
    int (*migrate_lock)(store_conn_t *c, bool lock, err_t *err);
    /* store_pipeline_begin/end (NULL: the backend has nothing to gain). */
    int (*pipeline)(store_conn_t *c, bool on, err_t *err);
    /* store_insert_rows its own way (NULL: multi-row VALUES statements):
     * inserts rows 0 .. *done - 1 of n, and leaves the rest, if any, to
     * the VALUES form. */
    int (*insert_rows)(store_conn_t *c, const char *head, int ncols, size_t n,
                       void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                       const void *ctx, size_t *done, err_t *err);
    /* store_backup (NULL: the backend has its own tools). */
    int (*backup)(store_conn_t *c, const char *path, store_backup_progress_fn fn, void *ctx,
                  err_t *err);
};

/* The backends' constructors. path: a file; conninfo: a libpq connection
 * string; schema: NULL, or a schema to create and put first on the search
 * path (tests). */
int store_sqlite_open(const char *path, const struct store_options *opt, store_t **out, err_t *err);
int store_pg_open(const char *conninfo, const char *schema, const struct store_options *opt,
                  store_t **out, err_t *err);

/* PostgreSQL's insert_rows (rows.c): a chunk of rows as one array per
 * column. */
int store_pg_insert_rows(store_conn_t *c, const char *head, int ncols, size_t n,
                         void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                         const void *ctx, size_t *done, err_t *err);

/* PostgreSQL: the connection string and the schema ("" for the default)
 * a listener opens its own connection with; false for another backend. */
bool store_pg_info(store_t *st, const char **conninfo, const char **schema);

/* Counts one store_conn_get that found the pool empty and had to wait
 * (the backends call it once per such call, before waiting). */
void store_pool_waited(const store_t *st);

/* Takes (lock) or releases the backend's migration lock on c. */
int store_migrate_lock(store_conn_t *c, bool lock, err_t *err);

/* A store that refuses writes (full: its disk is full; else read-only),
 * after the backend has put its own words in err's log text: the 503
 * problem both backends answer. Returns DUPLA_EBUSY. */
int store_refusal_answer(err_t *err, bool full);

#endif
