/*
 * sqlite.c: the embedded SQLite backend of the storage interface.
 *
 * A store is a fixed pool of connections to one database file, opened in WAL
 * mode (readers never block the writer), with foreign keys on and a busy
 * timeout. A connection is used by one thread at a time (taken with
 * store_conn_get), so SQLite's own mutexes are off (SQLITE_OPEN_NOMUTEX).
 * Each connection caches its prepared statements by SQL text: the hot paths
 * prepare once and then only bind and step.
 *
 * Durability: synchronous=NORMAL by default, which in WAL mode survives a
 * process crash but may lose the last commits on power loss; stores that
 * must survive power loss (the disclosure log) ask for synchronous=FULL.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fault.h"
#include "core/log.h"
#include "store/internal.h"

#define STORE_PATH_MAX 512
#define STORE_POOL_MAX 64

struct sq_stmt {
    struct store_stmt base;
    struct sq_conn *conn;
    sqlite3_stmt *st;
    const char *sql_ptr; /* the caller's pointer, for the fast cache lookup */
    char *sql;           /* owned copy, for the exact comparison */
    bool in_use;
    bool cached; /* false: finalised and freed by store_stmt_done */
    uint64_t last_used;
};

struct sq_conn {
    struct store_conn base;
    struct sq_store *store;
    sqlite3 *db;
    bool in_tx;
    bool in_pool;
    uint64_t tick;
    size_t n_cache;
    struct sq_stmt *cache[STORE_STMT_CACHE];
    struct sq_conn *next_free;
};

struct sq_store {
    struct store base;
    char path[STORE_PATH_MAX];
    struct store_options opt;
    unsigned n_conns;
    struct sq_conn *conns;
    struct sq_conn *free_list;
    unsigned out; /* connections handed out */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static const struct store_ops sq_ops;

#define SQ_ST(h)   ((struct sq_store *)(void *)(h))
#define SQ_CONN(h) ((struct sq_conn *)(void *)(h))
#define SQ_STMT(h) ((struct sq_stmt *)(void *)(h))

/* A full disk or a store that refuses writes: DUPLA_EBUSY (503, try later)
 * with a type that says which, and a detail for the client; the log line
 * keeps SQLite's words. */
static int store_refuses_writes(err_t *err, bool full, const char *what, const char *msg, int rc,
                                int sys_errno)
{
    err_internal(err, DUPLA_EBUSY, "sqlite: %s: %s (%d, errno %d)", what, msg, rc, sys_errno);
    return store_refusal_answer(err, full);
}

/* sqlite_error with the errno of the failed system call (sys_errno): an
 * I/O error from ENOSPC or EROFS (a write or the fsync at commit) is a
 * full or read-only store, as SQLITE_FULL and SQLITE_READONLY are. */
static int sqlite_error_os(err_t *err, sqlite3 *db, int rc, int sys_errno, const char *what)
{
    int code = DUPLA_ESTORE;
    int primary = rc & 0xFF;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sys_errno == ENOSPC))
        return store_refuses_writes(err, true, what, msg, rc, sys_errno);
    if (primary == SQLITE_READONLY || (primary == SQLITE_IOERR && sys_errno == EROFS))
        return store_refuses_writes(err, false, what, msg, rc, sys_errno);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        code = DUPLA_EBUSY;
    else if (primary == SQLITE_CONSTRAINT)
        code = DUPLA_ECONFLICT;
    else if (primary == SQLITE_NOMEM)
        code = DUPLA_ENOMEM;
    err_internal(err, code, "sqlite: %s: %s (%d)", what, msg, rc);
    if (err && code == DUPLA_ECONFLICT) /* callers map constraint failures to their own words */
        snprintf(err->detail, sizeof err->detail, "The change conflicts with existing data.");
    return code;
}

static int sqlite_error(err_t *err, sqlite3 *db, int rc, const char *what)
{
    return sqlite_error_os(err, db, rc, db ? sqlite3_system_errno(db) : 0, what);
}

/* The fault test build (core/fault.h): whether the call named what must
 * fail, and then the error a failing disk gives (SQLITE_IOERR), a full one
 * (SQLITE_FULL; at commit the fsync's ENOSPC) or a read-only one
 * (SQLITE_READONLY; at commit the fsync's EROFS). */
static bool sq_fault(err_t *err, const char *what, int *code)
{
    if (!fault_hit(FAULT_STORE, what))
        return false;
    bool commit = strcmp(what, "commit") == 0;
    switch (fault_store_error()) {
    case FAULT_STORE_FULL:
        *code = commit ? sqlite_error_os(err, NULL, SQLITE_IOERR_FSYNC, ENOSPC, what)
                       : sqlite_error_os(err, NULL, SQLITE_FULL, 0, what);
        break;
    case FAULT_STORE_READONLY:
        *code = commit ? sqlite_error_os(err, NULL, SQLITE_IOERR_FSYNC, EROFS, what)
                       : sqlite_error_os(err, NULL, SQLITE_READONLY, 0, what);
        break;
    default:
        *code = sqlite_error(err, NULL, SQLITE_IOERR, what);
    }
    return true;
}

static int exec_sql(store_conn_t *h, const char *sql, err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = sqlite_error(err, c->db, rc, msg ? msg : "exec");
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

static int sq_exec(store_conn_t *h, const char *sql, err_t *err)
{
    int code;
    return sq_fault(err, "exec", &code) ? code : exec_sql(h, sql, err);
}

static int conn_open(struct sq_store *st, struct sq_conn *c, err_t *err)
{
    c->base.ops = &sq_ops;
    int flags =
        SQLITE_OPEN_NOMUTEX |
        (st->opt.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_error(err, c->db, rc, st->path);
        sqlite3_close(c->db);
        c->db = NULL;
        return code;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
    c->store = st;
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "%s PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;",
             st->opt.read_only ? "" : "PRAGMA journal_mode=WAL;",
             st->opt.synchronous_full ? "FULL" : "NORMAL");
    return sq_exec(&c->base, pragmas, err);
}

static void conn_close(struct sq_conn *c)
{
    for (size_t i = 0; i < c->n_cache; i++) {
        sqlite3_finalize(c->cache[i]->st);
        free(c->cache[i]->sql);
        free(c->cache[i]);
    }
    c->n_cache = 0;
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

static void sq_close(store_t *h)
{
    struct sq_store *st = SQ_ST(h);
    pthread_mutex_lock(&st->mu);
    while (st->out > 0)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    for (unsigned i = 0; st->conns && i < st->n_conns; i++)
        conn_close(&st->conns[i]);
    free(st->conns);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

int store_sqlite_open(const char *path, const struct store_options *opt, store_t **out, err_t *err)
{
    *out = NULL;
    if (!path[0] || strlen(path) >= STORE_PATH_MAX)
        return err_set(err, DUPLA_EINVAL, "store: bad SQLite path");
    struct sq_store *st = calloc(1, sizeof *st);
    if (!st)
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    st->base.ops = &sq_ops;
    snprintf(st->path, sizeof st->path, "%s", path);
    if (opt)
        st->opt = *opt;
    st->n_conns = st->opt.pool_size ? st->opt.pool_size : STORE_POOL_DEFAULT;
    if (st->n_conns > STORE_POOL_MAX)
        st->n_conns = STORE_POOL_MAX;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->conns = calloc(st->n_conns, sizeof *st->conns);
    if (!st->conns) {
        sq_close(&st->base);
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    }
    for (unsigned i = 0; i < st->n_conns; i++) {
        int rc = conn_open(st, &st->conns[i], err);
        if (rc) {
            sq_close(&st->base);
            return rc;
        }
        st->conns[i].in_pool = true;
        st->conns[i].next_free = st->free_list;
        st->free_list = &st->conns[i];
    }
    *out = &st->base;
    return 0;
}

static int sq_conn_get(store_t *h, store_conn_t **out, err_t *err)
{
    struct sq_store *st = SQ_ST(h);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    unsigned wait_ms =
        st->opt.acquire_timeout_ms ? st->opt.acquire_timeout_ms : STORE_ACQUIRE_TIMEOUT_MS;
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    if (!st->free_list)
        store_pool_waited(h);
    while (!st->free_list) {
        if (pthread_cond_timedwait(&st->cv, &st->mu, &deadline) != 0 && !st->free_list) {
            pthread_mutex_unlock(&st->mu);
            return err_set(err, DUPLA_EBUSY, "The store is busy; try again shortly.");
        }
    }
    struct sq_conn *c = st->free_list;
    st->free_list = c->next_free;
    c->in_pool = false;
    st->out++;
    pthread_mutex_unlock(&st->mu);
    *out = &c->base;
    return 0;
}

static void sq_rollback(store_conn_t *h)
{
    struct sq_conn *c = SQ_CONN(h);
    if (!c->in_tx)
        return;
    /* Reset every cached statement first: an active statement would keep
     * the transaction's read lock. */
    for (size_t i = 0; i < c->n_cache; i++)
        sqlite3_reset(c->cache[i]->st);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    c->in_tx = false;
}

static void sq_conn_put(store_conn_t *h)
{
    struct sq_conn *c = SQ_CONN(h);
    if (c->in_tx)
        sq_rollback(h);
    struct sq_store *st = c->store;
    pthread_mutex_lock(&st->mu);
    c->in_pool = true;
    c->next_free = st->free_list;
    st->free_list = c;
    st->out--;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static int sq_begin(store_conn_t *h, err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    if (c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: nested transaction");
    int rc;
    if (!sq_fault(err, "begin", &rc))
        rc = exec_sql(h, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        c->in_tx = true;
    return rc;
}

static int sq_commit(store_conn_t *h, err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    if (!c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: commit outside a transaction");
    int rc;
    if (!sq_fault(err, "commit", &rc))
        rc = exec_sql(h, "COMMIT", err);
    if (rc == 0)
        c->in_tx = false;
    else
        sq_rollback(h);
    return rc;
}

static int sq_begin_read(store_conn_t *h, err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    if (c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: nested transaction");
    int rc;
    if (!sq_fault(err, "begin", &rc))
        rc = exec_sql(h, "BEGIN DEFERRED", err);
    if (rc == 0)
        c->in_tx = true;
    return rc;
}

static void sq_end_read(store_conn_t *h)
{
    struct sq_conn *c = SQ_CONN(h);
    if (!c->in_tx)
        return;
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        c->in_tx = false;
    else
        sq_rollback(h);
}

static bool sq_in_transaction(const store_conn_t *h)
{
    return ((const struct sq_conn *)(const void *)h)->in_tx;
}

static struct sq_stmt *cache_find(struct sq_conn *c, const char *sql)
{
    /* The pointer is only a hint (a caller may reuse a buffer for other SQL):
     * the text always decides. Most hot-path SQL is a string literal, so the
     * first loop usually hits after one comparison. */
    for (size_t i = 0; i < c->n_cache; i++)
        if (c->cache[i]->sql_ptr == sql && !c->cache[i]->in_use &&
            strcmp(c->cache[i]->sql, sql) == 0)
            return c->cache[i];
    for (size_t i = 0; i < c->n_cache; i++)
        if (!c->cache[i]->in_use && strcmp(c->cache[i]->sql, sql) == 0)
            return c->cache[i];
    return NULL;
}

/* Makes room in a full cache by finalising the least recently used idle
 * statement. Returns false when every cached statement is in use. */
static bool cache_evict(struct sq_conn *c)
{
    size_t victim = c->n_cache;
    for (size_t i = 0; i < c->n_cache; i++)
        if (!c->cache[i]->in_use &&
            (victim == c->n_cache || c->cache[i]->last_used < c->cache[victim]->last_used))
            victim = i;
    if (victim == c->n_cache)
        return false;
    sqlite3_finalize(c->cache[victim]->st);
    free(c->cache[victim]->sql);
    free(c->cache[victim]);
    c->cache[victim] = c->cache[--c->n_cache];
    return true;
}

static int sq_prepare(store_conn_t *h, const char *sql, store_stmt_t **out, err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    int faulted;
    if (sq_fault(err, "prepare", &faulted)) /* cached or not: the count must not depend on it */
        return faulted;
    struct sq_stmt *s = cache_find(c, sql);
    if (s) {
        s->in_use = true;
        s->sql_ptr = sql;
        s->last_used = ++c->tick;
        *out = &s->base;
        return 0;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    s->base.ops = &sq_ops;
    s->sql = strdup(sql);
    if (!s->sql) {
        free(s);
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    }
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_error(err, c->db, rc, "prepare");
        free(s->sql);
        free(s);
        return code;
    }
    s->conn = c;
    s->sql_ptr = sql;
    s->in_use = true;
    s->last_used = ++c->tick;
    if (c->n_cache < STORE_STMT_CACHE || cache_evict(c)) {
        s->cached = true;
        c->cache[c->n_cache++] = s;
    }
    *out = &s->base;
    return 0;
}

static void sq_stmt_done(store_stmt_t *h)
{
    struct sq_stmt *s = SQ_STMT(h);
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    if (s->cached) {
        s->in_use = false;
        return;
    }
    sqlite3_finalize(s->st);
    free(s->sql);
    free(s);
}

static int bind_rc(int rc)
{
    return rc == SQLITE_OK ? 0 : (rc == SQLITE_NOMEM ? DUPLA_ENOMEM : DUPLA_EINTERNAL);
}

static int sq_bind_int64(store_stmt_t *h, int idx, int64_t v)
{
    return bind_rc(sqlite3_bind_int64(SQ_STMT(h)->st, idx, v));
}

static int sq_bind_text(store_stmt_t *h, int idx, str_t v)
{
    return bind_rc(sqlite3_bind_text64(SQ_STMT(h)->st, idx, v.ptr ? v.ptr : "", v.len,
                                       SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int sq_bind_blob(store_stmt_t *h, int idx, const void *p, size_t n)
{
    return bind_rc(sqlite3_bind_blob64(SQ_STMT(h)->st, idx, p ? p : "", n, SQLITE_TRANSIENT));
}

static int sq_bind_null(store_stmt_t *h, int idx)
{
    return bind_rc(sqlite3_bind_null(SQ_STMT(h)->st, idx));
}

static int sq_step(store_stmt_t *h, err_t *err)
{
    struct sq_stmt *s = SQ_STMT(h);
    int rc;
    if (sq_fault(err, "step", &rc))
        return rc;
    rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return STORE_ROW;
    if (rc == SQLITE_DONE)
        return STORE_DONE;
    return sqlite_error(err, s->conn->db, rc, "step");
}

static bool sq_col_is_null(store_stmt_t *h, int col)
{
    return sqlite3_column_type(SQ_STMT(h)->st, col) == SQLITE_NULL;
}

static int64_t sq_col_int64(store_stmt_t *h, int col)
{
    return sqlite3_column_int64(SQ_STMT(h)->st, col);
}

static str_t sq_col_text(store_stmt_t *h, int col)
{
    sqlite3_stmt *st = SQ_STMT(h)->st;
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!p)
        return (str_t){"", 0};
    return (str_t){(const char *)p, (size_t)n};
}

static str_t sq_col_blob(store_stmt_t *h, int col)
{
    sqlite3_stmt *st = SQ_STMT(h)->st;
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!p)
        return (str_t){"", 0};
    return (str_t){(const char *)p, (size_t)n};
}

static int sq_col_count(store_stmt_t *h)
{
    return sqlite3_column_count(SQ_STMT(h)->st);
}

static int64_t sq_changes(store_conn_t *h)
{
    return sqlite3_changes64(SQ_CONN(h)->db);
}

static int64_t sq_last_id(store_conn_t *h)
{
    return sqlite3_last_insert_rowid(SQ_CONN(h)->db);
}

/* ---- online backup ---- */

#define SQ_BACKUP_PAGES 1024 /* pages per step: progress about every 4 MB */

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The backup proper: src (inside its read snapshot) into the empty database
 * file tmp, then checked. */
static int backup_into(sqlite3 *src, const char *tmp, store_backup_progress_fn fn, void *ctx,
                       err_t *err)
{
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_error(err, dst, rc, tmp);
        sqlite3_close(dst);
        return code;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        int code = sqlite_error(err, dst, sqlite3_errcode(dst), "backup");
        sqlite3_close(dst);
        return code;
    }
    do {
        rc = sqlite3_backup_step(b, SQ_BACKUP_PAGES);
        if (fn && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
            int64_t total = sqlite3_backup_pagecount(b);
            fn(ctx, total - sqlite3_backup_remaining(b), total);
        }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    int fin = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || fin != SQLITE_OK) {
        int code = sqlite_error(err, dst, rc != SQLITE_DONE ? rc : fin, "backup");
        sqlite3_close(dst);
        return code;
    }
    /* the copy must open and read as a database before it takes path */
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    bool ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    sqlite3_close(dst);
    if (!ok)
        return err_internal(err, DUPLA_ESTORE, "the copy failed its quick_check");
    return 0;
}

static int sq_backup(store_conn_t *h, const char *path, store_backup_progress_fn fn, void *ctx,
                     err_t *err)
{
    struct sq_conn *c = SQ_CONN(h);
    char tmp[STORE_PATH_MAX + 32], dir[STORE_PATH_MAX];
    if (strlen(path) >= STORE_PATH_MAX)
        return err_set(err, DUPLA_EINVAL, "the target path is too long");
    struct stat sb;
    if (stat(path, &sb) == 0)
        return err_set(err, DUPLA_ECONFLICT, "%s exists; a backup never overwrites", path);
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", path, (long)getpid());
    snprintf(dir, sizeof dir, "%s", path);
    /* the temporary file is ours alone (O_EXCL), an empty file is an empty
     * database to SQLite */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errno == ENOENT ? DUPLA_EINVAL : DUPLA_ESTORE, "cannot create %s: %s",
                       tmp, strerror(errno));
    close(fd);
    /* one read snapshot for every step: writers go on, the copy is of one
     * moment */
    int rc = sq_begin_read(h, err);
    if (rc == 0)
        rc = sq_exec(h, "SELECT count(*) FROM sqlite_schema", err);
    if (rc == 0)
        rc = backup_into(c->db, tmp, fn, ctx, err);
    sq_end_read(h);
    if (rc == 0 && fsync_path(tmp, false) != 0)
        rc = err_set(err, DUPLA_ESTORE, "cannot sync %s: %s", tmp, strerror(errno));
    /* link, not rename: a file that appeared at path meanwhile is kept */
    if (rc == 0 && link(tmp, path) != 0)
        rc = err_set(err, errno == EEXIST ? DUPLA_ECONFLICT : DUPLA_ESTORE, "cannot create %s: %s",
                     path, strerror(errno));
    unlink(tmp);
    if (rc == 0 && fsync_path(dirname(dir), true) != 0)
        rc = err_set(err, DUPLA_ESTORE, "cannot sync the folder of %s: %s", path, strerror(errno));
    return rc;
}

static const struct store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .conn_get = sq_conn_get,
    .conn_put = sq_conn_put,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .begin_read = sq_begin_read,
    .end_read = sq_end_read,
    .in_transaction = sq_in_transaction,
    .prepare = sq_prepare,
    .stmt_done = sq_stmt_done,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_is_null = sq_col_is_null,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .col_count = sq_col_count,
    .changes = sq_changes,
    .last_id = sq_last_id,
    .migrate_lock = NULL, /* BEGIN IMMEDIATE already serialises the migrations */
    .backup = sq_backup,
};
