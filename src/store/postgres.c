/*
 * postgres.c: the PostgreSQL backend of the storage interface, on libpq.
 *
 * A store is a pool of connections opened from one libpq connection string
 * (a URI or key/value string; multi-host lists and target_session_attrs are
 * libpq's). The first connection is opened by store_open, so that a wrong
 * URL, password or an unreachable server is refused at start-up; the others
 * when first needed. Each connection caches its prepared statements (named
 * s1, s2, ... on the server) by SQL text; the `?` placeholders of the
 * portable SQL are numbered `$1, $2, ...` when a statement is prepared.
 *
 * Values: integers are sent as text (so that the server converts them to the
 * column's type), blobs in binary (bytea), text as UTF-8 (the connection's
 * client_encoding). Results come back in binary: int2/int4/int8/bool/numeric
 * are decoded to int64, bytea and text are the bytes themselves. A result is
 * read whole by the first store_step, so statements may nest on one
 * connection as they do on SQLite.
 *
 * Every session sets synchronous_commit = on: a commit is acknowledged only
 * once it is on the server's disk, whatever the server's default, since a
 * disclosure leaves only after its log entry's commit (a server restarted
 * with synchronous_commit = off lost acknowledged entries in the e2e test of
 * a restart under load).
 *
 * Transactions keep SQLite's semantics: a write transaction (store_begin)
 * takes a transaction-scoped advisory lock per schema, so writers follow one
 * another as with BEGIN IMMEDIATE, waiting at most lock_timeout (the busy
 * timeout); a read snapshot is REPEATABLE READ READ ONLY.
 *
 * Pipelining (store_pipeline_begin/end): a statement that returns no rows
 * is sent in libpq's pipeline mode without waiting; the next call that
 * needs an answer (a statement with rows, the commit) sends a sync and
 * reads every queued result with its own, in one round trip. The first
 * error of the queue is what that call reports. A call that libpq's
 * pipeline mode does not allow (PQexec, PQprepare) leaves the mode for its
 * duration, after the queue is read.
 *
 * A lost connection (server restarted, network cut) shows as CONNECTION_BAD
 * after a failed call: the unit of work fails with DUPLA_EBUSY (503 and
 * Retry-After at HTTP), and the connection is closed when it is put back and
 * opened again on a later store_conn_get.
 */
#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/fault.h"
#include "core/log.h"
#include "store/internal.h"

#define PG_POOL_MAX     64
#define PG_SCHEMA_MAX   64
#define PG_PARAMS_MAX   1000
#define PG_TEXT_SCRATCH 32

/* Type OIDs (pg_type.h is a server header). */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_TEXT    25
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

#define PG_COMMIT_NOWAIT "SET LOCAL synchronous_commit = off"
#define PG_BEGIN_READ    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

/* Namespace of dupla's advisory locks (the other key is the schema's). */
#define PG_LOCK_WRITE   0x64757031 /* "dup1": write transactions */
#define PG_LOCK_MIGRATE 0x64757032 /* "dup2": store_migrate */

/* The statements that open and close transactions, prepared on every new
 * connection (conn_connect) under fixed names, so that the hot paths send
 * only their Bind and Execute: sent as text, the server parsed each one
 * every time (the write lock's SELECT alone cost 50-90 us of a one-entry
 * batch of the disclosure log). */
enum pg_ctl {
    CTL_BEGIN,
    CTL_LOCK, /* the write lock: store_begin */
    CTL_BEGIN_READ,
    CTL_GENERIC, /* store_generic_plans */
    CTL_NOWAIT,  /* store_commit_nowait */
    CTL_COMMIT,
    CTL_BARRIER, /* store_durable_barrier */
    CTL_N
};
_Static_assert(PG_LOCK_WRITE == 1685418033, "ctl_sql[CTL_LOCK] spells PG_LOCK_WRITE");
static const char *const ctl_sql[CTL_N] = {
    "BEGIN",
    "SELECT pg_advisory_xact_lock(1685418033, hashtext(current_schema()))",
    PG_BEGIN_READ,
    "SET LOCAL plan_cache_mode = force_generic_plan",
    PG_COMMIT_NOWAIT,
    "COMMIT",
    /* see pg_barrier */
    "SELECT pg_logical_emit_message(true, 'dupla', 'barrier')",
};
static const char *const ctl_name[CTL_N] = {"dupla_begin",   "dupla_lock",   "dupla_begin_read",
                                            "dupla_generic", "dupla_nowait", "dupla_commit",
                                            "dupla_barrier"};

struct pg_stmt {
    struct store_stmt base;
    struct pg_conn *conn;
    const char *sql_ptr; /* the caller's pointer, for the fast cache lookup */
    char *sql;           /* owned copy of the portable SQL */
    char name[16];
    int n_params;
    bool bind_failed; /* a bind ran out of memory: the next step fails */
    char **vals;      /* per parameter: owned bytes or NULL (SQL NULL) */
    int *lens;
    int *fmts;
    PGresult *res;
    int row; /* the current row; -1 before the first step */
    bool in_use;
    bool cached;
    bool command; /* INSERT/UPDATE/DELETE without RETURNING: may be pipelined */
    bool sent;    /* pipelined: sent, its result read with the queue */
    bool stream;  /* store_stmt_stream: read through a cursor, a batch at a time */
    bool cursor;  /* its cursor is declared (in the connection's transaction) */
    uint64_t last_used;
    char scratch[PG_TEXT_SCRATCH]; /* a number read as text */
};

struct pg_conn {
    struct store_conn base;
    struct pg_store *store;
    PGconn *pg; /* NULL: not open (opened by the next store_conn_get) */
    bool in_tx;
    bool broken; /* lost: closed when put back */
    bool in_pool;
    bool pipeline;    /* in libpq's pipeline mode (store_pipeline_begin) */
    bool read_pipe;   /* ... entered by a read snapshot (pg_begin_read) */
    bool tail;        /* a read's COMMIT and its sync sent, their results not read */
    unsigned pending; /* pipelined commands whose results are not read yet */
    int pipe_rc;      /* an error of the queue not reported yet, and its err */
    err_t pipe_err;
    uint64_t tick;
    unsigned next_name;
    int64_t changes;
    size_t n_cache;
    struct pg_stmt *cache[STORE_STMT_CACHE];
    struct pg_conn *next_free;
};

struct pg_store {
    struct store base;
    char *conninfo;
    char schema[PG_SCHEMA_MAX]; /* "" or the schema to use (tests) */
    struct store_options opt;
    unsigned n_conns;
    struct pg_conn *conns;
    struct pg_conn *free_list;
    unsigned out;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static const struct store_ops pg_ops;

#define PG_ST(h)   ((struct pg_store *)(void *)(h))
#define PG_CONN(h) ((struct pg_conn *)(void *)(h))
#define PG_STMT(h) ((struct pg_stmt *)(void *)(h))

/* libpq's messages span lines; the log wants one. */
static void one_line(char *out, size_t cap, const char *msg)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && n + 1 < cap; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap) {
            out[n++] = ';';
            out[n++] = ' ';
        }
        space = false;
        out[n++] = *p;
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == ';'))
        n--;
    out[n] = 0;
}

/* Fills err from a failed call on c (res may be NULL) and returns the code.
 * A connection found lost is marked broken and the error is DUPLA_EBUSY. */
static int pg_error(err_t *err, struct pg_conn *c, const PGresult *res, const char *what)
{
    char msg[512];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* The server's primary message only: its DETAIL may quote the row
     * (a failing row's CPR number), which must not reach a log. */
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    one_line(msg, sizeof msg,
             primary && primary[0]                 ? primary
             : res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                   : PQerrorMessage(c->pg));
    /* No SQLSTATE: libpq's own error, i.e. the connection (a server that
     * went away mid-query may leave the status OK until the next call). */
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || !state || strncmp(state, "08", 2) == 0 ||
        (state && (strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
                   strcmp(state, "57P03") == 0))) {
        c->broken = true;
        err_internal(err, DUPLA_EBUSY, "postgresql: %s: connection lost: %s", what, msg);
        if (err)
            snprintf(err->detail, sizeof err->detail,
                     "The store is unreachable; try again shortly.");
        return DUPLA_EBUSY;
    }
    /* a full disk, or a server that refuses writes (a standby, or
     * default_transaction_read_only): 503 naming which, try later */
    bool full = state && strcmp(state, "53100") == 0;
    if (full || (state && strcmp(state, "25006") == 0)) {
        err_internal(err, DUPLA_EBUSY, "postgresql: %s: %s (%s)", what, msg, state);
        return store_refusal_answer(err, full);
    }
    int code = DUPLA_ESTORE;
    if (state && strncmp(state, "23", 2) == 0)
        code = DUPLA_ECONFLICT;
    else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                       strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
                       strncmp(state, "53", 2) == 0))
        code = DUPLA_EBUSY;
    err_internal(err, code, "postgresql: %s: %s (%s)", what, msg, state ? state : "-");
    if (err && code == DUPLA_ECONFLICT) /* callers map constraint failures to their own words */
        snprintf(err->detail, sizeof err->detail, "The change conflicts with existing data.");
    if (err && code == DUPLA_EBUSY)
        snprintf(err->detail, sizeof err->detail, "The store is busy; try again shortly.");
    return code;
}

static int pipe_pause(struct pg_conn *c, err_t *err);
static void pipe_resume(struct pg_conn *c);

static void drain(struct pg_conn *c);

/* Runs sql, or control statement k when sql is NULL, and waits for its
 * answer (outside a pipeline: one in progress is paused). */
static int run_stmt(struct pg_conn *c, const char *sql, int k, err_t *err)
{
    drain(c);
    if (c->pipeline) {
        int rc = pipe_pause(c, err);
        if (rc == 0)
            rc = run_stmt(c, sql, k, err);
        pipe_resume(c);
        return rc;
    }
    PGresult *res =
        sql ? PQexec(c->pg, sql) : PQexecPrepared(c->pg, ctl_name[k], 0, NULL, NULL, NULL, 1);
    ExecStatusType s = PQresultStatus(res);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = pg_error(err, c, res, "exec");
    PQclear(res);
    return rc;
}

static int run(struct pg_conn *c, const char *sql, err_t *err)
{
    return run_stmt(c, sql, 0, err);
}

static int run_ctl(struct pg_conn *c, enum pg_ctl k, err_t *err)
{
    return run_stmt(c, NULL, (int)k, err);
}

/* Queues control statement k in c's pipeline (its result is read with the
 * queue's): 1 when sent, as PQsendQueryPrepared. */
static int send_ctl(struct pg_conn *c, enum pg_ctl k)
{
    return PQsendQueryPrepared(c->pg, ctl_name[k], 0, NULL, NULL, NULL, 1);
}

/* Prepares the control statements on a new connection, in one round trip. */
static int prepare_ctl(struct pg_conn *c, err_t *err)
{
    if (PQenterPipelineMode(c->pg) != 1)
        return pg_error(err, c, NULL, "prepare");
    bool sent = true;
    for (int k = 0; k < CTL_N && sent; k++)
        sent = PQsendPrepare(c->pg, ctl_name[k], ctl_sql[k], 0, NULL) == 1;
    int rc = sent && PQpipelineSync(c->pg) == 1 ? 0 : pg_error(err, c, NULL, "prepare");
    for (int k = 0; k < CTL_N && sent; k++) {
        PGresult *res;
        while ((res = PQgetResult(c->pg)) != NULL) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0)
                rc = pg_error(err, c, res, "prepare");
            PQclear(res);
        }
    }
    if (sent) { /* the sync's */
        PGresult *res = PQgetResult(c->pg);
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == 0)
            rc = pg_error(err, c, res, "prepare");
        PQclear(res);
    }
    if (PQexitPipelineMode(c->pg) != 1 && rc == 0)
        rc = pg_error(err, c, NULL, "prepare");
    return rc;
}

/* The fault test build (core/fault.h): a faulted call runs this instead,
 * so that the server fails it as it would a failing disk (SQLSTATE 58030,
 * io_error), a full one (53100, disk_full) or one that refuses writes
 * (25006, read_only_sql_transaction), aborting an open transaction there
 * too. */
#define PG_FAULT_RAISE(state)                                                                      \
    "DO $$BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = '" state "'; END$$"

static const char *pg_fault_sql(void)
{
    switch (fault_store_error()) {
    case FAULT_STORE_FULL:
        return PG_FAULT_RAISE("53100");
    case FAULT_STORE_READONLY:
        return PG_FAULT_RAISE("25006");
    default:
        return PG_FAULT_RAISE("58030");
    }
}

/* Whether the call named what must fail; then *code is its error. */
static bool pg_fault(struct pg_conn *c, const char *what, int *code, err_t *err)
{
    if (!fault_hit(FAULT_STORE, what))
        return false;
    *code = run(c, pg_fault_sql(), err);
    if (*code == 0) /* cannot happen: the statement always raises */
        *code = err_internal(err, DUPLA_ESTORE, "postgresql: %s: injected fault", what);
    return true;
}

static void stmt_free(struct pg_stmt *s)
{
    PQclear(s->res);
    for (int i = 0; i < s->n_params; i++)
        free(s->vals[i]);
    free(s->vals);
    free(s->lens);
    free(s->fmts);
    free(s->sql);
    free(s);
}

static void cache_clear(struct pg_conn *c)
{
    for (size_t i = 0; i < c->n_cache; i++)
        stmt_free(c->cache[i]);
    c->n_cache = 0;
}

static void conn_drop(struct pg_conn *c)
{
    cache_clear(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->in_tx = false;
    c->broken = false;
    c->pipeline = false;
    c->read_pipe = false;
    c->tail = false;
    c->pending = 0;
    c->pipe_rc = 0;
}

/* Reads the results of the queued commands (after a sync that the caller
 * sent), then, when want is not NULL, the result of the statement sent
 * last (*want, owned by the caller), then the sync's. Returns the first
 * error (of the queue, or of want's statement). */
static int pipe_read(struct pg_conn *c, PGresult **want, err_t *err)
{
    int rc = c->pipe_rc;
    if (rc && err)
        *err = c->pipe_err;
    c->pipe_rc = 0;
    unsigned n = c->pending + (want ? 1 : 0);
    c->pending = 0;
    for (unsigned i = 0; i < n; i++) {
        bool last = want && i + 1 == n;
        PGresult *res;
        while ((res = PQgetResult(c->pg)) != NULL) {
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                const char *cmd = PQcmdStatus(res);
                if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
                    strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
                    c->changes = strtoll(PQcmdTuples(res), NULL, 10);
            } else if (st != PGRES_PIPELINE_ABORTED && rc == 0) {
                rc = pg_error(err, c, res, "step");
            }
            if (last && !*want)
                *want = res;
            else
                PQclear(res);
        }
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            if (rc == 0)
                rc = pg_error(err, c, NULL, "pipeline");
            return rc;
        }
    }
    PGresult *res = PQgetResult(c->pg); /* the sync */
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == 0)
        rc = pg_error(err, c, res, "pipeline");
    PQclear(res);
    return rc;
}

/* Reads the queue (one round trip) and leaves pipeline mode. */
static int pipe_pause(struct pg_conn *c, err_t *err)
{
    int rc = c->pipe_rc;
    if (rc && err)
        *err = c->pipe_err;
    if (c->pending == 0) /* nothing queued: no round trip */
        ;
    else if (c->pg && !c->broken && PQpipelineSync(c->pg) == 1)
        rc = pipe_read(c, NULL, err);
    else
        rc = pg_error(err, c, NULL, "pipeline");
    c->pending = 0;
    c->pipe_rc = 0;
    if (c->pg && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg))
        c->broken = true;
    c->pipeline = false;
    return rc;
}

static void pipe_resume(struct pg_conn *c)
{
    if (c->pg && !c->broken && PQenterPipelineMode(c->pg) == 1)
        c->pipeline = true;
}

/* Reads the answers to a read snapshot's COMMIT that pg_end_read sent
 * without waiting, and leaves the pipeline mode the snapshot entered.
 * Called before anything else is done on the connection; by then the
 * answers have usually arrived, so this rarely waits. A failure there
 * loses nothing (the snapshot only read), but a lost connection is marked
 * broken, to be reopened. */
static void drain(struct pg_conn *c)
{
    if (!c->tail)
        return;
    c->tail = false;
    if (c->pg && !c->broken)
        pipe_read(c, NULL, NULL);
    if (c->pg && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg))
        c->broken = true;
    c->pipeline = false;
    c->read_pipe = false;
}

/* Opens c's server connection and sets the session up. */
static int conn_connect(struct pg_store *st, struct pg_conn *c, err_t *err)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {"10", "dupla", st->conninfo, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg)
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[512];
        one_line(msg, sizeof msg, PQerrorMessage(c->pg));
        PQfinish(c->pg);
        c->pg = NULL;
        err_set(err, DUPLA_EBUSY, "store: cannot connect to PostgreSQL: %s", msg);
        return DUPLA_EBUSY;
    }
    char setup[320];
    snprintf(setup, sizeof setup,
             "SET client_encoding = 'UTF8'; SET client_min_messages = warning; "
             "SET lock_timeout = %d; SET TIME ZONE 'UTC'; SET synchronous_commit = on%s%s%s",
             STORE_BUSY_TIMEOUT_MS, st->schema[0] ? "; SET search_path = " : "", st->schema,
             st->opt.read_only ? "; SET default_transaction_read_only = on" : "");
    int rc = run(c, setup, err);
    if (rc == 0)
        rc = prepare_ctl(c, err);
    if (rc) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->broken = false;
    return rc;
}

/* A connection found lost is reopened in place at the start of the next
 * unit of work on it, so that a holder that keeps its connection (the
 * disclosure log's writer) recovers without giving it back. */
static int revive(struct pg_conn *c, err_t *err)
{
    drain(c);
    if ((c->pg && !c->broken) || c->in_tx)
        return 0;
    for (size_t i = 0; i < c->n_cache; i++)
        if (c->cache[i]->in_use) /* a statement still held: not before it is done */
            return err_set(err, DUPLA_EBUSY, "The store is unreachable; try again shortly.");
    conn_drop(c);
    int rc = conn_connect(c->store, c, err);
    if (rc && err)
        snprintf(err->detail, sizeof err->detail, "The store is unreachable; try again shortly.");
    return rc ? DUPLA_EBUSY : 0;
}

static void pg_close(store_t *h)
{
    struct pg_store *st = PG_ST(h);
    pthread_mutex_lock(&st->mu);
    while (st->out > 0)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    for (unsigned i = 0; st->conns && i < st->n_conns; i++)
        conn_drop(&st->conns[i]);
    free(st->conns);
    free(st->conninfo);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

int store_pg_open(const char *conninfo, const char *schema, const struct store_options *opt,
                  store_t **out, err_t *err)
{
    *out = NULL;
    if (schema) {
        if (strlen(schema) >= PG_SCHEMA_MAX)
            return err_set(err, DUPLA_EINVAL, "store: schema name too long");
        for (const char *p = schema; *p; p++)
            if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
                return err_set(err, DUPLA_EINVAL, "store: bad schema name");
    }
    char *errmsg = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &errmsg);
    if (!parsed) {
        char msg[256];
        one_line(msg, sizeof msg, errmsg ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return err_set(err, DUPLA_EINVAL, "store: bad PostgreSQL connection string: %s", msg);
    }
    PQconninfoFree(parsed);
    struct pg_store *st = calloc(1, sizeof *st);
    if (!st || !(st->conninfo = strdup(conninfo))) {
        free(st);
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    }
    st->base.ops = &pg_ops;
    if (schema)
        snprintf(st->schema, sizeof st->schema, "%s", schema);
    if (opt)
        st->opt = *opt;
    st->n_conns = st->opt.pool_size ? st->opt.pool_size : STORE_POOL_DEFAULT;
    if (st->n_conns > PG_POOL_MAX)
        st->n_conns = PG_POOL_MAX;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->conns = calloc(st->n_conns, sizeof *st->conns);
    if (!st->conns) {
        pg_close(&st->base);
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    }
    for (unsigned i = 0; i < st->n_conns; i++) {
        st->conns[i].base.ops = &pg_ops;
        st->conns[i].store = st;
        st->conns[i].in_pool = true;
        st->conns[i].next_free = st->free_list;
        st->free_list = &st->conns[i];
    }
    /* The first connection now: a wrong URL or password is a start-up error. */
    struct pg_conn *c = st->free_list;
    int rc = conn_connect(st, c, err);
    if (rc == 0 && st->schema[0] && !st->opt.read_only) {
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", st->schema);
        rc = run(c, sql, err);
        if (rc == DUPLA_ECONFLICT) /* created at the same moment by another process */
            rc = run(c, sql, err);
    }
    if (rc) {
        if (rc == DUPLA_EBUSY && err)
            err->code = DUPLA_EIO;
        pg_close(&st->base);
        return rc == DUPLA_EBUSY ? DUPLA_EIO : rc;
    }
    *out = &st->base;
    return 0;
}

static int pg_conn_get(store_t *h, store_conn_t **out, err_t *err)
{
    struct pg_store *st = PG_ST(h);
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
    /* Prefer a connection that is open. */
    struct pg_conn **pp = &st->free_list;
    for (struct pg_conn **q = &st->free_list; *q; q = &(*q)->next_free)
        if ((*q)->pg) {
            pp = q;
            break;
        }
    struct pg_conn *c = *pp;
    *pp = c->next_free;
    c->in_pool = false;
    st->out++;
    pthread_mutex_unlock(&st->mu);
    drain(c);
    if (!c->pg) {
        int rc = conn_connect(st, c, err);
        if (rc) {
            pg_ops.conn_put(&c->base);
            if (err)
                snprintf(err->detail, sizeof err->detail,
                         "The store is unreachable; try again shortly.");
            return DUPLA_EBUSY;
        }
    }
    *out = &c->base;
    return 0;
}

static void pg_rollback(store_conn_t *h)
{
    struct pg_conn *c = PG_CONN(h);
    if (!c->in_tx)
        return;
    c->in_tx = false;
    if (c->pg && !c->broken)
        run(c, "ROLLBACK", NULL);
}

static void pg_conn_put(store_conn_t *h)
{
    struct pg_conn *c = PG_CONN(h);
    /* A read's COMMIT still on its way (c->tail) is read by the next user
     * (pg_conn_get): nobody waits for it here. */
    if (c->pipeline && !c->tail) {
        pipe_pause(c, NULL);
        c->read_pipe = false;
    }
    if (c->in_tx)
        pg_rollback(h);
    if (c->pg && (c->broken || PQstatus(c->pg) != CONNECTION_OK ||
                  (!c->tail && PQtransactionStatus(c->pg) != PQTRANS_IDLE))) {
        log_warn("store: closing a PostgreSQL connection that was lost; the next use reopens it");
        conn_drop(c);
    }
    struct pg_store *st = c->store;
    pthread_mutex_lock(&st->mu);
    c->in_pool = true;
    c->next_free = st->free_list;
    st->free_list = c;
    st->out--;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static int pg_exec(store_conn_t *h, const char *sql, err_t *err)
{
    int rc = revive(PG_CONN(h), err);
    if (rc == 0 && pg_fault(PG_CONN(h), "exec", &rc, err))
        return rc;
    return rc ? rc : run(PG_CONN(h), sql, err);
}

static int pg_begin(store_conn_t *h, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: nested transaction");
    int rc = revive(c, err);
    if (rc)
        return rc;
    if (pg_fault(c, "begin", &rc, err))
        return rc;
    char sql[160];
    if (c->pipeline) { /* queued: sent with the first statement that waits */
        if (send_ctl(c, CTL_BEGIN) != 1 || send_ctl(c, CTL_LOCK) != 1)
            return pg_error(err, c, NULL, "begin");
        c->pending += 2;
        c->in_tx = true;
        return 0;
    }
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))",
             PG_LOCK_WRITE);
    rc = run(c, sql, err);
    if (rc == 0)
        c->in_tx = true;
    else if (c->pg && !c->broken)
        run(c, "ROLLBACK", NULL);
    return rc;
}

/* nowait: synchronous_commit off for this transaction only (SET LOCAL, sent
 * with the COMMIT in the same round trip): the server answers, and releases
 * the transaction's locks, without waiting for its WAL flush or the
 * synchronous standby. */
static int commit_tx(store_conn_t *h, bool nowait, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (!c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: commit outside a transaction");
    PGresult *res = NULL;
    int rc = 0;
    /* An injected fault aborts the transaction on the server: the COMMIT
     * below then answers ROLLBACK, as after any failure at commit. A full
     * disk's or a read-only server's fails the commit with its reason. */
    if (fault_hit(FAULT_STORE, "commit") && c->pg && !c->broken) {
        err_t fault_err;
        err_clear(&fault_err);
        if (run(c, pg_fault_sql(), &fault_err) == DUPLA_EBUSY) {
            if (err)
                *err = fault_err;
            return DUPLA_EBUSY; /* still in the transaction: the caller rolls back */
        }
    }
    if (c->pipeline) { /* the queue, the COMMIT and the sync in one round trip */
        if (nowait) {
            if (send_ctl(c, CTL_NOWAIT) != 1) {
                c->pending = 0;
                return pg_error(err, c, NULL, "commit");
            }
            c->pending++;
        }
        if (send_ctl(c, CTL_COMMIT) != 1 || PQpipelineSync(c->pg) != 1) {
            rc = pg_error(err, c, NULL, "commit");
            c->pending = 0;
        } else {
            rc = pipe_read(c, &res, err);
        }
        if (rc) {
            PQclear(res);
            return rc; /* still in the transaction: the caller rolls back */
        }
    } else {
        if (nowait && (rc = run_ctl(c, CTL_NOWAIT, err)))
            return rc; /* still in the transaction: the caller rolls back */
        res = PQexecPrepared(c->pg, ctl_name[CTL_COMMIT], 0, NULL, NULL, NULL, 1);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_error(err, c, res, "commit");
    else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) /* the transaction had failed */
        rc = err_internal(err, DUPLA_ESTORE, "postgresql: commit: the transaction was aborted");
    PQclear(res);
    c->in_tx = false;
    return rc;
}

static int pg_commit(store_conn_t *h, err_t *err)
{
    return commit_tx(h, false, err);
}

static int pg_commit_nowait(store_conn_t *h, err_t *err)
{
    return commit_tx(h, true, err);
}

/* A transaction of its own that writes one WAL record (a transactional
 * logical message, which takes a transaction id, so its commit record is
 * flushed) and commits with the session's synchronous_commit: WAL is
 * flushed in order, so when it returns, everything this connection (or
 * any other) committed before it is on disk, and on the synchronous
 * standby when there is one. Any role may call pg_logical_emit_message, at
 * any wal_level; a logical decoding client sees the prefix "dupla". */
static int pg_barrier(store_conn_t *h, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: a durability barrier in a transaction");
    int rc = revive(c, err);
    if (rc == 0 && pg_fault(c, "barrier", &rc, err))
        return rc;
    return rc ? rc : run_ctl(c, CTL_BARRIER, err);
}

/* A read snapshot costs no round trip of its own: its BEGIN is queued in
 * pipeline mode and goes out with the first statement (one round trip for
 * both), and pg_end_read sends the COMMIT without waiting for its answer,
 * which the connection's next user reads (drain). So a one-statement read
 * is one round trip, as on a connection without a transaction. */
static int pg_begin_read(store_conn_t *h, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: nested transaction");
    int rc = revive(c, err);
    if (rc != 0 || pg_fault(c, "begin", &rc, err))
        return rc;
    if (!c->pg || c->broken)
        return pg_error(err, c, NULL, "begin");
    if (!c->pipeline) {
        pipe_resume(c);
        c->read_pipe = c->pipeline;
    }
    if (!c->pipeline) /* libpq refused pipeline mode: the plain way */
        rc = run_ctl(c, CTL_BEGIN_READ, err);
    else if (send_ctl(c, CTL_BEGIN_READ) == 1)
        c->pending++;
    else
        rc = pg_error(err, c, NULL, "begin");
    if (rc == 0)
        c->in_tx = true;
    return rc;
}

static void pg_end_read(store_conn_t *h)
{
    struct pg_conn *c = PG_CONN(h);
    if (!c->in_tx)
        return;
    c->in_tx = false;
    if (!c->pg || c->broken)
        return;
    if (!c->read_pipe || !c->pipeline) {
        run_ctl(c, CTL_COMMIT, NULL);
        return;
    }
    if (send_ctl(c, CTL_COMMIT) == 1 && PQpipelineSync(c->pg) == 1) {
        c->pending++;
        c->tail = true;
    } else {
        c->broken = true;
    }
}

static int pg_generic_plans(store_conn_t *h, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (!c->in_tx)
        return err_internal(err, DUPLA_EINTERNAL, "store: generic plans outside a read snapshot");
    if (!c->pg || c->broken)
        return pg_error(err, c, NULL, "begin");
    if (!c->pipeline)
        return run_ctl(c, CTL_GENERIC, err);
    if (send_ctl(c, CTL_GENERIC) != 1)
        return pg_error(err, c, NULL, "begin");
    c->pending++;
    return 0;
}

static bool pg_in_transaction(const store_conn_t *h)
{
    return ((const struct pg_conn *)(const void *)h)->in_tx;
}

/* Copies sql with each `?` outside quotes and comments numbered $1, $2, ...
 * into *text (malloc'd), the count in *n. More than PG_PARAMS_MAX of them
 * is the caller's error (a statement built for too many rows), said as
 * such rather than sent with the rest left as `?`. */
static int number_placeholders(const char *sql, char **text, int *n, err_t *err)
{
    *text = NULL;
    *n = 0;
    size_t len = strlen(sql), q = 0;
    for (const char *p = sql; *p; p++)
        q += *p == '?';
    char *out = malloc(len + q * 4 + 1);
    if (!out)
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    size_t o = 0;
    int k = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            out[o++] = *p;
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            out[o++] = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                out[o++] = *p++;
            if (!*p)
                break;
            out[o++] = *p;
        } else if (*p == '?') {
            if (k == PG_PARAMS_MAX) {
                free(out);
                return err_internal(err, DUPLA_ELIMIT,
                                    "store: a statement with more than %d placeholders",
                                    PG_PARAMS_MAX);
            }
            o += (size_t)sprintf(out + o, "$%d", ++k);
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    *text = out;
    *n = k;
    return 0;
}

/* Types as text each `?` directly followed by IS [NOT] NULL, which the
 * server could not type by itself. */
static void type_null_tests(const char *sql, Oid *types, int n)
{
    int k = 0;
    char quote = 0;
    for (const char *p = sql; *p && k < n; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            k++;
            const char *q = p + 1;
            while (*q == ' ' || *q == '\n')
                q++;
            if (strncasecmp(q, "IS NULL", 7) == 0 || strncasecmp(q, "IS NOT NULL", 11) == 0)
                types[k - 1] = OID_TEXT;
        }
    }
}

/* true for an INSERT, UPDATE or DELETE that returns no rows, or a CALL
 * (of a procedure without OUT parameters). */
static bool is_command(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    if (strncmp(sql, STORE_CHECK, sizeof STORE_CHECK - 1) == 0) /* store.h: rows nobody reads */
        return true;
    if (strncasecmp(sql, "INSERT", 6) != 0 && strncasecmp(sql, "UPDATE", 6) != 0 &&
        strncasecmp(sql, "DELETE", 6) != 0 && strncasecmp(sql, "CALL", 4) != 0)
        return false;
    for (const char *p = sql; *p; p++)
        if (strncasecmp(p, "RETURNING", 9) == 0)
            return false;
    return true;
}

static struct pg_stmt *cache_find(struct pg_conn *c, const char *sql)
{
    for (size_t i = 0; i < c->n_cache; i++)
        if (c->cache[i]->sql_ptr == sql && !c->cache[i]->in_use &&
            strcmp(c->cache[i]->sql, sql) == 0)
            return c->cache[i];
    for (size_t i = 0; i < c->n_cache; i++)
        if (!c->cache[i]->in_use && strcmp(c->cache[i]->sql, sql) == 0)
            return c->cache[i];
    return NULL;
}

static void stmt_deallocate(struct pg_stmt *s)
{
    struct pg_conn *c = s->conn;
    if (c->pg && !c->broken && PQtransactionStatus(c->pg) != PQTRANS_INERROR) {
        char sql[40];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
        run(c, sql, NULL);
    }
    stmt_free(s);
}

static bool cache_evict(struct pg_conn *c)
{
    size_t victim = c->n_cache;
    for (size_t i = 0; i < c->n_cache; i++)
        if (!c->cache[i]->in_use &&
            (victim == c->n_cache || c->cache[i]->last_used < c->cache[victim]->last_used))
            victim = i;
    if (victim == c->n_cache)
        return false;
    stmt_deallocate(c->cache[victim]);
    c->cache[victim] = c->cache[--c->n_cache];
    return true;
}

static int pg_prepare(store_conn_t *h, const char *sql, store_stmt_t **out, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    if (revive(c, err))
        return DUPLA_EBUSY;
    if (!c->pg || c->broken)
        return pg_error(err, c, NULL, "prepare");
    int faulted;
    if (pg_fault(c, "prepare", &faulted, err)) /* cached or not: the count must not depend on it */
        return faulted;
    struct pg_stmt *s = cache_find(c, sql);
    if (s) {
        s->in_use = true;
        s->sql_ptr = sql;
        s->last_used = ++c->tick;
        s->row = -1;
        *out = &s->base;
        return 0;
    }
    if (c->pipeline) { /* PQprepare waits: outside the pipeline */
        int rc = pipe_pause(c, err);
        if (rc == 0)
            rc = pg_prepare(h, sql, out, err);
        pipe_resume(c);
        return rc;
    }
    int n = 0;
    char *numbered;
    int rc = number_placeholders(sql, &numbered, &n, err);
    if (rc)
        return rc;
    s = calloc(1, sizeof *s);
    if (!s || !(s->sql = strdup(sql)) ||
        (n && (!(s->vals = calloc((size_t)n, sizeof *s->vals)) ||
               !(s->lens = calloc((size_t)n, sizeof *s->lens)) ||
               !(s->fmts = calloc((size_t)n, sizeof *s->fmts))))) {
        free(numbered);
        if (s)
            stmt_free(s);
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    }
    s->base.ops = &pg_ops;
    s->conn = c;
    s->command = is_command(sql);
    s->n_params = n;
    s->row = -1;
    snprintf(s->name, sizeof s->name, "s%u", ++c->next_name);
    /* A parameter whose type the server cannot infer (`? IS NULL`) is text,
     * as SQLite would take it: retry with that parameter typed. */
    Oid *types = n ? calloc((size_t)n, sizeof *types) : NULL;
    if (types)
        type_null_tests(sql, types, n);
    PGresult *res = PQprepare(c->pg, s->name, numbered, n, types);
    /* (Outside a transaction only: a failed prepare would abort it.) */
    for (int tries = 0; types && !c->in_tx && tries < n && PQresultStatus(res) == PGRES_FATAL_ERROR;
         tries++) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *dollar = msg ? strrchr(msg, '$') : NULL;
        int k = dollar ? atoi(dollar + 1) : 0;
        if (!state || strcmp(state, "42P18") != 0 || k < 1 || k > n || types[k - 1])
            break;
        types[k - 1] = OID_TEXT;
        PQclear(res);
        res = PQprepare(c->pg, s->name, numbered, n, types);
    }
    free(types);
    free(numbered);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int code = pg_error(err, c, res, "prepare");
        PQclear(res);
        stmt_free(s);
        return code;
    }
    PQclear(res);
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

static void pg_stmt_done(store_stmt_t *h)
{
    struct pg_stmt *s = PG_STMT(h);
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->sent = false;
    if (s->cursor && s->conn->in_tx && s->conn->pg && !s->conn->broken) {
        char close[48];
        snprintf(close, sizeof close, "CLOSE c%s", s->name);
        run(s->conn, close, NULL);
    }
    s->stream = false;
    s->cursor = false;
    for (int i = 0; i < s->n_params; i++) {
        free(s->vals[i]);
        s->vals[i] = NULL;
        s->lens[i] = 0;
        s->fmts[i] = 0;
    }
    if (s->cached) {
        s->in_use = false;
        return;
    }
    stmt_deallocate(s);
}

static int bind_bytes(struct pg_stmt *s, int idx, const void *p, size_t n, int fmt)
{
    if (idx < 1 || idx > s->n_params || n > (size_t)INT32_MAX)
        return DUPLA_EINTERNAL;
    char *copy = malloc(n + 1);
    if (!copy) {
        s->bind_failed = true; /* never run with a stale or missing value */
        return DUPLA_ENOMEM;
    }
    if (n)
        memcpy(copy, p, n);
    copy[n] = 0;
    free(s->vals[idx - 1]);
    s->vals[idx - 1] = copy;
    s->lens[idx - 1] = (int)n;
    s->fmts[idx - 1] = fmt;
    return 0;
}

static int pg_bind_int64(store_stmt_t *h, int idx, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    return bind_bytes(PG_STMT(h), idx, num, (size_t)n, 0);
}

static int pg_bind_text(store_stmt_t *h, int idx, str_t v)
{
    if (v.len && memchr(v.ptr, 0, v.len)) /* text cannot hold NUL; SQLite would cut it */
        v.len = strlen(v.ptr);
    return bind_bytes(PG_STMT(h), idx, v.ptr ? v.ptr : "", v.len, 0);
}

static int pg_bind_blob(store_stmt_t *h, int idx, const void *p, size_t n)
{
    return bind_bytes(PG_STMT(h), idx, p ? p : "", n, 1);
}

static int pg_bind_null(store_stmt_t *h, int idx)
{
    struct pg_stmt *s = PG_STMT(h);
    if (idx < 1 || idx > s->n_params)
        return DUPLA_EINTERNAL;
    free(s->vals[idx - 1]);
    s->vals[idx - 1] = NULL;
    s->lens[idx - 1] = 0;
    s->fmts[idx - 1] = 0;
    return 0;
}

static void pg_stream(store_stmt_t *h)
{
    struct pg_stmt *s = PG_STMT(h);
    if (!s->res && !s->command)
        s->stream = true;
}

/* A streamed statement's next row: its cursor is declared with the
 * statement's text and bindings at the first step, then fetched from a
 * batch at a time (binary results, as every other statement's). */
static int stream_step(struct pg_stmt *s, err_t *err)
{
    struct pg_conn *c = s->conn;
    if (s->res && s->row + 1 < PQntuples(s->res)) {
        s->row++;
        return STORE_ROW;
    }
    if (s->res && PQntuples(s->res) < STORE_STREAM_BATCH) {
        s->row = PQntuples(s->res);
        return STORE_DONE;
    }
    if (!c->pg || c->broken)
        return pg_error(err, c, NULL, "step");
    if (c->pipeline && c->read_pipe) { /* a cursor is no pipeline's: the read's BEGIN now */
        int rc = pipe_pause(c, err);
        c->read_pipe = false;
        if (rc)
            return rc;
    }
    if (c->pipeline)
        return err_internal(err, DUPLA_EINTERNAL, "store: a streamed statement in a pipeline");
    if (!s->cursor) {
        if (!c->in_tx)
            return err_internal(err, DUPLA_EINTERNAL,
                                "store: a streamed statement needs a transaction");
        int n = 0;
        char *numbered;
        int rc = number_placeholders(s->sql, &numbered, &n, err);
        if (rc)
            return rc;
        size_t cap = strlen(numbered) + 64;
        char *declare = malloc(cap);
        if (!declare) {
            free(numbered);
            return err_set(err, DUPLA_ENOMEM, "store: out of memory");
        }
        snprintf(declare, cap, "DECLARE c%s NO SCROLL CURSOR FOR %s", s->name, numbered);
        free(numbered);
        PGresult *res = PQexecParams(c->pg, declare, s->n_params, NULL,
                                     (const char *const *)s->vals, s->lens, s->fmts, 1);
        free(declare);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_error(err, c, res, "step");
        PQclear(res);
        if (rc)
            return rc;
        s->cursor = true;
    }
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM c%s", STORE_STREAM_BATCH, s->name);
    PQclear(s->res);
    s->res = PQexecParams(c->pg, fetch, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(s->res) != PGRES_TUPLES_OK) {
        int code = pg_error(err, c, s->res, "step");
        PQclear(s->res);
        s->res = NULL;
        return code;
    }
    s->row = -1;
    return stream_step(s, err);
}

static int pg_step(store_stmt_t *h, err_t *err)
{
    struct pg_stmt *s = PG_STMT(h);
    struct pg_conn *c = s->conn;
    if (s->sent)
        return STORE_DONE;
    if (s->bind_failed) {
        s->bind_failed = false;
        return err_set(err, DUPLA_ENOMEM, "store: out of memory binding a parameter");
    }
    if (fault_hit(FAULT_STORE, "step")) {
        if (c->pipeline && !c->read_pipe && s->command && !s->res && c->pg && !c->broken) {
            /* queued in its place: the error comes with the queue's, as a
             * real one would */
            if (PQsendQueryParams(c->pg, pg_fault_sql(), 0, NULL, NULL, NULL, NULL, 1) != 1)
                return pg_error(err, c, NULL, "step");
            c->pending++;
            s->sent = true;
            return STORE_DONE;
        }
        int rc = c->pg && !c->broken ? run(c, pg_fault_sql(), err) : pg_error(err, c, NULL, "step");
        return rc ? rc : err_internal(err, DUPLA_ESTORE, "postgresql: step: injected fault");
    }
    if (s->stream)
        return stream_step(s, err);
    if (!s->res) {
        if (!c->pg || c->broken)
            return pg_error(err, c, NULL, "step");
        if (c->pipeline) {
            if (PQsendQueryPrepared(c->pg, s->name, s->n_params, (const char *const *)s->vals,
                                    s->lens, s->fmts, 1) != 1)
                return pg_error(err, c, NULL, "step");
            /* its result is read with the queue's (not in a read snapshot's
             * pipeline: there a write must fail where it is made) */
            if (s->command && !c->read_pipe) {
                c->pending++;
                s->sent = true;
                return STORE_DONE;
            }
            int rc = PQpipelineSync(c->pg) == 1 ? pipe_read(c, &s->res, err)
                                                : pg_error(err, c, NULL, "step");
            if (rc) {
                PQclear(s->res);
                s->res = NULL;
                return rc;
            }
        } else {
            s->res = PQexecPrepared(c->pg, s->name, s->n_params, (const char *const *)s->vals,
                                    s->lens, s->fmts, 1);
        }
        ExecStatusType st = PQresultStatus(s->res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            int code = pg_error(err, c, s->res, "step");
            PQclear(s->res);
            s->res = NULL;
            return code;
        }
        const char *cmd = PQcmdStatus(s->res);
        if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
            strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
            c->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
        s->row = -1;
    }
    if (s->row + 1 < PQntuples(s->res)) {
        s->row++;
        return STORE_ROW;
    }
    s->row = PQntuples(s->res);
    return STORE_DONE;
}

static bool valid_cell(struct pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < PQntuples(s->res) && col >= 0 &&
           col < PQnfields(s->res);
}

static bool pg_col_is_null(store_stmt_t *h, int col)
{
    struct pg_stmt *s = PG_STMT(h);
    return !valid_cell(s, col) || PQgetisnull(s->res, s->row, col);
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* numeric in binary: ndigits, weight, sign, dscale, then base-10000 digits.
 * Only the integer part is kept (SUM and the like over integers). */
static int64_t numeric_to_int64(const unsigned char *p, int len)
{
    if (len < 8)
        return 0;
    int ndigits = (int16_t)be(p, 2);
    int weight = (int16_t)be(p + 2, 2);
    unsigned sign = (unsigned)be(p + 4, 2);
    if (len < 8 + 2 * ndigits || sign == 0xC000) /* NaN */
        return 0;
    int64_t v = 0;
    for (int i = 0; i <= weight; i++) {
        int64_t d = i < ndigits ? (int64_t)be(p + 8 + 2 * i, 2) : 0;
        v = v * 10000 + d;
    }
    return sign == 0x4000 ? -v : v;
}

static int64_t pg_col_int64(store_stmt_t *h, int col)
{
    struct pg_stmt *s = PG_STMT(h);
    if (pg_col_is_null(h, col))
        return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(s->res, s->row, col);
    int len = PQgetlength(s->res, s->row, col);
    switch (PQftype(s->res, col)) {
    case OID_INT8:
        return len == 8 ? (int64_t)be(p, 8) : 0;
    case OID_INT4:
        return len == 4 ? (int32_t)(uint32_t)be(p, 4) : 0;
    case OID_INT2:
        return len == 2 ? (int16_t)(uint16_t)be(p, 2) : 0;
    case OID_BOOL:
        return len == 1 ? p[0] != 0 : 0;
    case OID_NUMERIC:
        return numeric_to_int64(p, len);
    case OID_FLOAT8: {
        if (len != 8)
            return 0;
        uint64_t bits = be(p, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        return (int64_t)d;
    }
    default: /* text: as SQLite, the leading number */
        return strtoll((const char *)p, NULL, 10);
    }
}

static str_t pg_col_blob(store_stmt_t *h, int col)
{
    struct pg_stmt *s = PG_STMT(h);
    if (pg_col_is_null(h, col))
        return (str_t){"", 0};
    return (str_t){PQgetvalue(s->res, s->row, col), (size_t)PQgetlength(s->res, s->row, col)};
}

static str_t pg_col_text(store_stmt_t *h, int col)
{
    struct pg_stmt *s = PG_STMT(h);
    if (pg_col_is_null(h, col))
        return (str_t){"", 0};
    switch (PQftype(s->res, col)) {
    case OID_INT8:
    case OID_INT4:
    case OID_INT2:
    case OID_BOOL:
    case OID_NUMERIC:
    case OID_FLOAT8: { /* a number read as text, as SQLite converts it */
        int n = snprintf(s->scratch, sizeof s->scratch, "%lld", (long long)pg_col_int64(h, col));
        return (str_t){s->scratch, (size_t)n};
    }
    default:
        return pg_col_blob(h, col);
    }
}

static int pg_col_count(store_stmt_t *h)
{
    struct pg_stmt *s = PG_STMT(h);
    return s->res ? PQnfields(s->res) : 0;
}

static int64_t pg_changes(store_conn_t *h)
{
    struct pg_conn *c = PG_CONN(h);
    if (c->pipeline && c->pending) { /* the count of the last queued command */
        err_t e;
        err_clear(&e);
        int rc =
            PQpipelineSync(c->pg) == 1 ? pipe_read(c, NULL, &e) : pg_error(&e, c, NULL, "pipeline");
        if (rc && !c->pipe_rc) { /* reported by the next call that waits */
            c->pipe_rc = rc;
            c->pipe_err = e;
        }
    }
    return c->changes;
}

/* The value the last INSERT on this connection took from a sequence
 * (BIGSERIAL or identity column), as SQLite's last rowid. 0 if none. */
static int64_t pg_last_id(store_conn_t *h)
{
    struct pg_conn *c = PG_CONN(h);
    if (!c->pg || c->broken)
        return 0;
    if (c->pipeline) {
        err_t e;
        int rc = pipe_pause(c, &e);
        int64_t id = rc ? 0 : pg_last_id(h);
        if (rc && !c->pipe_rc) {
            c->pipe_rc = rc;
            c->pipe_err = e;
        }
        pipe_resume(c);
        return id;
    }
    /* In a transaction a failed lastval() would abort it: ask under a
     * savepoint there. */
    bool tx = PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
    if (tx && run(c, "SAVEPOINT dupla_last_id", NULL))
        return 0;
    PGresult *res = PQexec(c->pg, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (tx)
        run(c,
            id ? "RELEASE SAVEPOINT dupla_last_id"
               : "ROLLBACK TO SAVEPOINT dupla_last_id; RELEASE SAVEPOINT dupla_last_id",
            NULL);
    return id;
}

static int pg_pipeline(store_conn_t *h, bool on, err_t *err)
{
    struct pg_conn *c = PG_CONN(h);
    drain(c);
    if (on == c->pipeline)
        return on ? err_internal(err, DUPLA_EINTERNAL, "store: nested pipeline") : 0;
    if (!on)
        return pipe_pause(c, err);
    int rc = revive(c, err);
    if (rc)
        return rc;
    if (!c->pg || c->broken)
        return pg_error(err, c, NULL, "pipeline");
    pipe_resume(c);
    return c->pipeline ? 0 : pg_error(err, c, NULL, "pipeline");
}

static int pg_migrate_lock(store_conn_t *h, bool lock, err_t *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_%slock(%d, hashtext(current_schema()))",
             lock ? "" : "un", PG_LOCK_MIGRATE);
    /* Waiting for another process's migrations may take longer than the
     * lock_timeout of ordinary work. */
    int rc = 0;
    if (lock)
        rc = run(PG_CONN(h), "SET lock_timeout = 0", err);
    if (rc == 0)
        rc = run(PG_CONN(h), sql, err);
    if (lock) {
        char reset[64];
        snprintf(reset, sizeof reset, "SET lock_timeout = %d", STORE_BUSY_TIMEOUT_MS);
        run(PG_CONN(h), reset, NULL);
    }
    return rc;
}

bool store_pg_info(store_t *h, const char **conninfo, const char **schema)
{
    if (!h || ((struct store *)(void *)h)->ops != &pg_ops)
        return false;
    *conninfo = PG_ST(h)->conninfo;
    *schema = PG_ST(h)->schema;
    return true;
}

static const struct store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .conn_get = pg_conn_get,
    .conn_put = pg_conn_put,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .commit_nowait = pg_commit_nowait,
    .barrier = pg_barrier,
    .rollback = pg_rollback,
    .begin_read = pg_begin_read,
    .end_read = pg_end_read,
    .generic_plans = pg_generic_plans,
    .in_transaction = pg_in_transaction,
    .prepare = pg_prepare,
    .stmt_done = pg_stmt_done,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .stream = pg_stream,
    .col_is_null = pg_col_is_null,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_count = pg_col_count,
    .changes = pg_changes,
    .last_id = pg_last_id,
    .migrate_lock = pg_migrate_lock,
    .pipeline = pg_pipeline,
    .insert_rows = store_pg_insert_rows,
};
