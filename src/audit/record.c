/*
 * record.c: appending to the log with group commit.
 *
 * Callers queue an entry and either sleep (audit_record) or go on with
 * other work (audit_submit, with a completion callback). One writer thread
 * takes everything queued (up to batch_max, and then what was queued while
 * the transaction waited for the write lock: take_latecomers), and in one
 * transaction gives each entry the next seq, the batch's time, and its
 * chain hash (and the Merkle tree's nodes), in memory, then inserts each
 * table's rows for the whole batch in a few multi-row statements (on
 * PostgreSQL a statement costs the server far more than a row), signs a
 * checkpoint when one is due (it sees the batch's rows), and commits: with
 * synchronous=FULL that is one fsync for the whole batch. Then it completes
 * the whole batch at once, outside the lock: each entry's callback gets its
 * receipt, or the commit's error. A sleeping caller has its own semaphore,
 * posted by its callback: no broadcast wakes callers whose batch is not
 * done, and no woken caller waits for the queue's lock.
 *
 * The writer owns the head of the chain (last seq, hash, time) and one store
 * connection for the log's lifetime. After a failed commit it reads the head
 * back from the store before the next batch, so that a commit that failed
 * after reaching the disk cannot fork the chain.
 *
 * On PostgreSQL (audit.commit_barrier, the default) a batch without a
 * checkpoint, while other writers share the store, commits without
 * waiting for its flush, which frees the cluster-wide write lock at once,
 * and a second thread, the flusher, waits on a durability barrier on its
 * own connection before it completes the batch (see flusher_main);
 * meanwhile the writer commits the next batch. A writer that has had the
 * store to itself for a while guesses the head instead of reading it
 * (expect_head) and commits with its flush: one round trip a batch.
 */
#include <inttypes.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/metrics.h"

struct audit_log {
    store_t *st;
    store_conn_t *conn; /* the writer's, from open to close */
    char environment[AUDIT_ENV_MAX];
    char origin[AUDIT_ORIGIN_MAX]; /* the signed tree heads' */
    pki_signer_t *signer;
    unsigned checkpoint_every, checkpoint_seconds, queue_max, batch_max;
    bool commit_barrier;                     /* !audit_options.wait_in_lock */
    struct audit_relay_server *relay_server; /* this node sequences others' entries */
    struct audit_relay_client *relay_client; /* this node relays its entries */

    /* PostgreSQL with the commit barrier: batches committed without
     * waiting, whose callers the flusher tells once a barrier on its own
     * connection has made them durable (under mu). */
    store_conn_t *flush_conn;
    pthread_t flusher;
    bool has_flusher, flush_closing, flush_failed;
    pthread_cond_t wake_flusher;
    struct pending *fq_head, *fq_tail;

    pthread_mutex_t mu;
    pthread_cond_t wake_writer; /* something was queued, or closing */
    struct pending *head, *tail;
    size_t queued;
    bool closing;
    pthread_t thread;
    struct audit_stats stats;

    /* The writer thread's own (no lock). */
    int64_t last_seq, last_time;
    unsigned char last_hash[AUDIT_HASH_LEN];
    int64_t cp_seq, cp_mono_ns;
    bool reload;
    unsigned unmoved;       /* batches in a row that found the head unmoved */
    bool moved;             /* the last batch found the head another writer's */
    int64_t linger_ns;      /* audit_options.linger_us */
    bool lingering;         /* the writer waits for more entries (linger) */
    double linger_gain;     /* entries a wait gathered, on average (linger) */
    unsigned linger_passed; /* batches since the last wait, while it does not pay */
    unsigned guess_after;   /* unmoved batches before a guess (see commit_batch) */
    bool signer_down;       /* the key process did not answer: checkpoints wait */
    bool pg;                /* PostgreSQL: partitioned tables (partition.c) */
    int64_t next_upkeep_ms; /* when the writer next makes partitions ahead */
    buf_t canon, periods, fields;
    /* The Merkle tree's right edge at last_seq, and the batch's copy. */
    struct audit_tree_edge edge, edge_next;
    /* The batch's entries with their hashes, and the tree nodes they
     * complete, made before the batch's inserts (kept between batches). */
    struct audit_batch_entry *rows;
    size_t rows_cap;
    struct audit_tree_node *nodes;
    size_t nodes_cap;
};

/* ---- checking an entry before it is queued ---- */

static int check_text(str_t s, const char *name, err_t *err)
{
    if (s.len > AUDIT_TEXT_MAX)
        return err_param(err, DUPLA_ELIMIT, name, "%s is longer than %d bytes", name,
                         AUDIT_TEXT_MAX);
    if (s.len && !s.ptr)
        return err_param(err, DUPLA_EINVAL, name, "%s has no bytes", name);
    if (!audit_text_valid(s))
        return err_param(err, DUPLA_EINVAL, name, "%s is not valid UTF-8 (or holds a NUL byte)",
                         name);
    return 0;
}

static int check_list(const str_t *v, size_t n, size_t max, const char *name, err_t *err)
{
    if (n > max)
        return err_param(err, DUPLA_ELIMIT, name, "more than %zu %s", max, name);
    if (n && !v)
        return err_param(err, DUPLA_EINVAL, name, "%s: no list given", name);
    for (size_t i = 0; i < n; i++) {
        int rc = check_text(v[i], name, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_entry(const struct audit_entry *e, err_t *err)
{
    int rc;
    if ((rc = check_text(e->org_cvr, "org_cvr", err)) ||
        (rc = check_text(e->system_id, "system_id", err)) ||
        (rc = check_text(e->agreement_id, "agreement_id", err)) ||
        (rc = check_text(e->service, "service", err)) ||
        (rc = check_text(e->request_id, "request_id", err)) ||
        (rc = check_text(e->transaction_id, "transaction_id", err)) ||
        (rc = check_text(e->reason, "reason", err)) ||
        (rc = check_list(e->periods, e->n_periods, AUDIT_PERIODS_MAX, "periods", err)) ||
        (rc = check_list(e->fields, e->n_fields, AUDIT_FIELDS_MAX, "fields", err)))
        return rc;
    if (e->n_subjects > AUDIT_SUBJECTS_MAX)
        return err_param(err, DUPLA_ELIMIT, "subjects", "more than %d subjects",
                         AUDIT_SUBJECTS_MAX);
    if (e->n_subjects && !e->subjects)
        return err_param(err, DUPLA_EINVAL, "subjects", "subjects: no list given");
    for (size_t i = 0; i < e->n_subjects; i++) {
        const struct audit_subject *s = &e->subjects[i];
        if (s->kind != AUDIT_SUBJECT_CPR && s->kind != AUDIT_SUBJECT_CVR &&
            s->kind != AUDIT_SUBJECT_SE)
            return err_param(err, DUPLA_EINVAL, "subjects", "subject %zu: unknown kind", i);
        if (s->id.len == 0)
            return err_param(err, DUPLA_EINVAL, "subjects", "subject %zu: empty number", i);
        if ((rc = check_text(s->id, "subjects", err)))
            return rc;
    }
    if (e->outcome != AUDIT_DISCLOSED && e->outcome != AUDIT_REFUSED)
        return err_param(err, DUPLA_EINVAL, "outcome", "outcome must be disclosed or refused");
    if (e->outcome == AUDIT_REFUSED && e->reason.len == 0)
        return err_param(err, DUPLA_EINVAL, "reason", "a refusal needs a reason code");
    if (e->record_count < 0)
        return err_param(err, DUPLA_EINVAL, "record_count", "record_count is negative");
    if (e->agreement_version < 0)
        return err_param(err, DUPLA_EINVAL, "agreement_version", "agreement_version is negative");
    return audit_check_v2(e, err);
}

/* ---- the writer ---- */

/* The log's figures (core/metrics.h): one set for the process, declared by
 * the first audit_open. */
static metric_t *m_append, *m_queue, *m_entries, *m_busy, *m_failures;
static metric_t *m_head_moves;        /* see sync_head */
static metric_t *m_batch, *m_lingers; /* entries per committed batch; see linger */
static metric_t *m_latecomers;        /* see take_latecomers */

/* Batches in a row that must find the head unmoved before the writer
 * guesses it (expect_head) instead of reading it first (sync_head): at
 * first, and at most after wrong guesses (each doubles it). */
#define AUDIT_GUESS_AFTER     8
#define AUDIT_GUESS_AFTER_MAX 4096
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_declare(void)
{
    m_append = metrics_histogram("dupla_audit_append_seconds",
                                 "Time from queueing a disclosure record to its durable commit "
                                 "(what a data answer waits for).",
                                 NULL, NULL, 0);
    m_queue =
        metrics_gauge("dupla_audit_queue_depth",
                      "Records queued for the log's writer, not yet taken into a batch.", NULL);
    m_entries = metrics_counter("dupla_audit_entries_total", "Records committed to the log.", NULL);
    m_busy = metrics_counter(
        "dupla_audit_busy_total",
        "Records refused because the writer's queue was full (audit.queue_max).", NULL);
    m_failures = metrics_counter("dupla_audit_commit_failures_total",
                                 "Records refused because their batch failed to commit.", NULL);
    m_head_moves = metrics_counter("dupla_audit_head_moves_total",
                                   "Batches that found the log's head moved by another writer "
                                   "(another node) and read it again.",
                                   NULL);
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024};
    m_batch = metrics_histogram("dupla_audit_batch_entries",
                                "Records per committed batch of the log (one transaction, and on "
                                "PostgreSQL one turn at the cluster-wide write lock).",
                                NULL, sizes, sizeof sizes / sizeof sizes[0]);
    m_lingers = metrics_counter("dupla_audit_lingers_total",
                                "Batches that waited for more records after another writer had "
                                "moved the head (audit.linger_us).",
                                NULL);
    m_latecomers = metrics_counter("dupla_audit_latecomers_total",
                                   "Records queued while their batch waited for the write lock, "
                                   "which joined it there.",
                                   NULL);
}

static int list_json(buf_t *b, const str_t *v, size_t n)
{
    buf_reset(b);
    int rc = buf_append(b, "[", 1);
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = buf_append(b, ",", 1);
        if (!rc)
            rc = buf_append_json_string(b, v[i]);
    }
    return rc ? rc : buf_append(b, "]", 1);
}

/* The bind callback's context for the batch's audit_entry rows. The lists
 * are made into JSON as each row is bound (the text is copied by the bind),
 * so that one pair of buffers serves the whole batch; a list that does not
 * fit sets *failed and the batch is refused after the statements. */
struct entry_rows {
    audit_log_t *log;
    const struct audit_batch *b;
    bool *failed;
};

static void entry_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct entry_rows *er = ctx;
    audit_log_t *log = er->log;
    const struct audit_batch_entry *be = &er->b->v[row];
    const struct audit_entry *e = be->e;
    if (list_json(&log->periods, e->periods, e->n_periods) ||
        list_json(&log->fields, e->fields, e->n_fields))
        *er->failed = true;
    store_bind_int64(s, p, er->b->first_seq + (int64_t)row);
    store_bind_int64(s, p + 1, er->b->time_ms);
    store_bind_cstr(s, p + 2, log->environment);
    store_bind_text(s, p + 3, e->org_cvr);
    store_bind_text(s, p + 4, e->system_id);
    store_bind_text(s, p + 5, e->agreement_id);
    store_bind_int64(s, p + 6, e->agreement_version);
    store_bind_text(s, p + 7, e->service);
    store_bind_text(s, p + 8, e->request_id);
    store_bind_text(s, p + 9, e->transaction_id);
    store_bind_text(s, p + 10, buf_str(&log->periods));
    store_bind_text(s, p + 11, buf_str(&log->fields));
    store_bind_int64(s, p + 12, e->record_count);
    store_bind_cstr(s, p + 13, audit_outcome_name(e->outcome));
    store_bind_text(s, p + 14, e->reason);
    store_bind_blob(s, p + 15, be->prev, AUDIT_HASH_LEN);
    store_bind_blob(s, p + 16, be->hash, AUDIT_HASH_LEN);
    /* as audit_canonical_encode chose */
    store_bind_int64(s, p + 17,
                     e->supplier_cvr.len || e->on_behalf_se.len ? AUDIT_CANONICAL_V3
                                                                : AUDIT_CANONICAL_V2);
    store_bind_text(s, p + 18, e->case_ref);
    store_bind_text(s, p + 19, e->supplier_cvr);
    store_bind_text(s, p + 20, e->on_behalf_se);
}

/* audit_entry has more columns than store_insert_rows takes
 * (STORE_INSERT_COLS_MAX), so its multi-row statements are made here the
 * same way (store_insert_chunk: 1 .. STORE_INSERT_EXACT, 16 or
 * STORE_INSERT_ROWS rows). Their texts are made once per process and never
 * move, so the connection's statement cache finds each by its pointer. */
#define ENTRY_COLS 21
#define ENTRY_HEAD                                                                                 \
    "INSERT INTO audit_entry (seq, time_ms, environment, org_cvr, system_id, agreement_id, "       \
    "agreement_version, service, request_id, transaction_id, periods, fields, record_count, "      \
    "outcome, reason, prev_hash, entry_hash, format, case_ref, supplier_cvr, on_behalf_se) "       \
    "VALUES "
#define ENTRY_SIZES   (STORE_INSERT_EXACT + 2) /* 1 .. STORE_INSERT_EXACT, 16, 32 rows */
#define ENTRY_SQL_MAX (sizeof ENTRY_HEAD + STORE_INSERT_ROWS * (3 * ENTRY_COLS + 2))
_Static_assert(STORE_INSERT_EXACT == 8 && STORE_INSERT_ROWS == 32, "ENTRY_SIZES: the chunks");
static char entry_sql[ENTRY_SIZES][ENTRY_SQL_MAX];
static pthread_once_t entry_sql_once = PTHREAD_ONCE_INIT;

/* The index in entry_sql of a statement of k rows (a store_insert_chunk). */
static int entry_sql_index(size_t k)
{
    return k <= STORE_INSERT_EXACT ? (int)k - 1
           : k < STORE_INSERT_ROWS ? ENTRY_SIZES - 2
                                   : ENTRY_SIZES - 1;
}

static void entry_sql_make(void)
{
    for (size_t k = 1; k <= STORE_INSERT_ROWS; k++) {
        if (k > STORE_INSERT_EXACT && k != STORE_INSERT_ROWS / 2 && k != STORE_INSERT_ROWS)
            continue;
        char *p = entry_sql[entry_sql_index(k)];
        p += snprintf(p, ENTRY_SQL_MAX, "%s", ENTRY_HEAD);
        for (size_t r = 0; r < k; r++) {
            if (r) {
                *p++ = ',';
                *p++ = ' ';
            }
            *p++ = '(';
            for (int col = 0; col < ENTRY_COLS; col++) {
                if (col) {
                    *p++ = ',';
                    *p++ = ' ';
                }
                *p++ = '?';
            }
            *p++ = ')';
        }
        *p = '\0';
    }
}

static int insert_entries(audit_log_t *log, const struct audit_batch *b, err_t *err)
{
    bool failed = false;
    const struct entry_rows er = {log, b, &failed};
    pthread_once(&entry_sql_once, entry_sql_make);
    for (size_t at = 0; at < b->n;) {
        size_t k = store_insert_chunk(b->n - at);
        store_stmt_t *s;
        int rc = store_prepare(log->conn, entry_sql[entry_sql_index(k)], &s, err);
        if (rc)
            return rc;
        for (size_t r = 0; r < k; r++)
            entry_bind(s, 1 + (int)r * ENTRY_COLS, at + r, &er);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc < 0)
            return rc;
        at += k;
    }
    if (failed)
        return err_internal(err, DUPLA_ELIMIT, "audit: a list does not fit its buffer");
    return 0;
}

/* Inserts the batch's rows, each table's for the whole batch in a few
 * multi-row statements (on PostgreSQL each statement costs the server a
 * plan execution, far more than a row): the entries first (the child rows
 * refer to them), then their children, then the tree's nodes. */
static int insert_batch(audit_log_t *log, const struct audit_batch *b, size_t n_nodes, err_t *err)
{
    int rc = insert_entries(log, b, err);
    if (rc || (rc = audit_insert_children(log->conn, b, err)))
        return rc;
    return audit_tree_insert_nodes(log->conn, log->nodes, n_nodes, err);
}

/* Makes room for a batch of n entries in the writer's arrays, which grow
 * (up to batch_max entries) and are kept from batch to batch. */
static int batch_reserve(audit_log_t *log, size_t n, err_t *err)
{
    if (n > log->rows_cap) {
        struct audit_batch_entry *v = realloc(log->rows, n * sizeof *v);
        if (!v)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        log->rows = v;
        log->rows_cap = n;
    }
    if (AUDIT_TREE_NODES_MAX(n) > log->nodes_cap) {
        struct audit_tree_node *v = realloc(log->nodes, AUDIT_TREE_NODES_MAX(n) * sizeof *v);
        if (!v)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        log->nodes = v;
        log->nodes_cap = AUDIT_TREE_NODES_MAX(n);
    }
    return 0;
}

/* Reads the tree's right edge, first building the tree up to the log's
 * head when the log has entries the tree lacks (a log from before the
 * tree, migration audit/3; only at open: build false inside a batch's
 * transaction, where a tree shorter than the log is an error). */
/* Checks the Merkle tree's size against the log's end and loads its right
 * edge; *behind gets how many entries the tree lacks (an upgraded log). */
static int read_tree(audit_log_t *log, int64_t *behind, err_t *err)
{
    int64_t size;
    int rc = audit_tree_size(log->conn, &size, err);
    if (rc)
        return rc;
    if (size > log->last_seq)
        return err_internal(err, DUPLA_ECONFLICT,
                            "audit: the Merkle tree holds %" PRId64
                            " entries but the log ends at %" PRId64
                            " (entries were removed: run dupla audit verify)",
                            size, log->last_seq);
    if ((rc = audit_tree_edge_load(log->conn, size, &log->edge, err)))
        return rc;
    *behind = log->last_seq - size;
    return 0;
}

/* Reads the head of the chain, the last checkpoint and the tree's edge.
 * Outside a transaction they are read in one read snapshot: other nodes
 * may append between two statements, and the log's end and the tree's size
 * must be of one moment. With build, a tree that lags the log (an upgraded
 * log) is then built up to the head. */
static int read_head(audit_log_t *log, bool build, err_t *err)
{
    bool snapshot = !store_in_transaction(log->conn);
    int64_t behind = 0;
    int rc = snapshot ? store_begin_read(log->conn, err) : 0;
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(log->conn,
                       "SELECT seq, entry_hash, time_ms FROM audit_entry "
                       "ORDER BY seq DESC LIMIT 1",
                       &s, err);
    if (rc)
        goto done;
    log->last_seq = 0;
    log->last_time = 0;
    memset(log->last_hash, 0, AUDIT_HASH_LEN);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        str_t h = store_col_blob(s, 1);
        log->last_seq = store_col_int64(s, 0);
        log->last_time = store_col_int64(s, 2);
        if (h.len != AUDIT_HASH_LEN)
            rc = err_internal(err, DUPLA_ESTORE, "audit: entry %" PRId64 " has a malformed hash",
                              log->last_seq);
        else
            memcpy(log->last_hash, h.ptr, AUDIT_HASH_LEN);
    }
    store_stmt_done(s);
    if (rc < 0)
        goto done;
    if ((rc = store_query_int64(log->conn, "SELECT MAX(seq) FROM audit_checkpoint", 0, &log->cp_seq,
                                err)) == 0)
        rc = read_tree(log, &behind, err);
done:
    if (snapshot)
        store_end_read(log->conn);
    if (rc || behind == 0)
        return rc;
    if (!build)
        return err_internal(err, DUPLA_ECONFLICT,
                            "audit: the Merkle tree holds %" PRId64 " entries, the log %" PRId64,
                            log->last_seq - behind, log->last_seq);
    log_info("audit: building the Merkle tree over entries %" PRId64 " to %" PRId64,
             log->last_seq - behind + 1, log->last_seq);
    return audit_tree_build(log->conn, &log->edge, log->last_seq, err);
}

/* Several writers (the nodes of a cluster, each with its own writer) may
 * append to one store, so the head in memory is only a guess. Inside the
 * batch's write transaction, which holds the store's write lock (SQLite's
 * BEGIN IMMEDIATE, PostgreSQL's advisory lock: store_begin), the store's
 * head is read, with the last checkpoint, the tree's size and, when the
 * head is not the one in memory, the tree's right edge, all in one
 * statement (a row per node of the edge, each with the head): a batch
 * after another node's costs one round trip inside the lock for all of
 * them (a busy cluster moves the head every batch; the edge in a second
 * statement was a third of the lock's time). b counts the levels of the
 * edge, k keeps those set in the tree's size, each with the end of its
 * subtree; neither is read when the head stayed put. */
#define SYNC_HEAD_SQL                                                                              \
    "WITH RECURSIVE b(l) AS (SELECT 0 UNION ALL SELECT l + 1 FROM b WHERE l < 62),"                \
    " h AS (SELECT e.seq, e.entry_hash, e.time_ms,"                                                \
    " (SELECT MAX(seq) FROM audit_checkpoint) AS cp,"                                              \
    " (SELECT COALESCE(MAX(end_size), 0) FROM audit_tree_node) AS ts"                              \
    " FROM audit_entry e ORDER BY e.seq DESC LIMIT 1),"                                            \
    " k AS (SELECT b.l, (h.ts >> b.l) << b.l AS e FROM h, b"                                       \
    " WHERE (h.seq <> ? OR h.entry_hash <> ?) AND (h.ts >> b.l) & 1 = 1)"                          \
    " SELECT h.seq, h.entry_hash, h.time_ms, h.cp, h.ts, t.level, t.hash FROM h"                   \
    " LEFT JOIN (k JOIN audit_tree_node t ON t.end_size = k.e AND t.level = k.l) ON 1 = 1"
static int sync_head(audit_log_t *log, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(log->conn, SYNC_HEAD_SQL, &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, log->last_seq);
    store_bind_blob(s, 2, log->last_hash, AUDIT_HASH_LEN);
    bool same = false, moved = false, any = false;
    int64_t seq = 0, time = 0, cp_seq = 0, tree_size = 0;
    unsigned char hash[AUDIT_HASH_LEN];
    uint64_t found = 0;
    struct audit_tree_edge *edge = &log->edge_next; /* free until attempt fills it */
    memset(edge, 0, sizeof *edge);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (!any) {
            any = true;
            str_t h = store_col_blob(s, 1);
            seq = store_col_int64(s, 0);
            same = seq == log->last_seq && h.len == AUDIT_HASH_LEN &&
                   memcmp(h.ptr, log->last_hash, AUDIT_HASH_LEN) == 0;
            if (!same && h.len == AUDIT_HASH_LEN) {
                moved = true;
                memcpy(hash, h.ptr, AUDIT_HASH_LEN);
                time = store_col_int64(s, 2);
                cp_seq = store_col_is_null(s, 3) ? 0 : store_col_int64(s, 3);
                tree_size = store_col_int64(s, 4);
            }
        }
        if (moved && !store_col_is_null(s, 5) &&
            (rc = audit_tree_edge_take(edge, tree_size, store_col_int64(s, 5), store_col_blob(s, 6),
                                       &found, err)))
            break;
    }
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (!any)
        same = log->last_seq == 0;
    log->moved = !same;
    if (same) {
        log->unmoved += log->unmoved < log->guess_after;
        return 0;
    }
    log->unmoved = 0;
    metric_add(m_head_moves, 1);
    if (!moved) /* a malformed hash or an emptied log: read_head says which */
        return read_head(log, false, err);
    if (tree_size != seq)
        return err_internal(err, DUPLA_ECONFLICT,
                            "audit: the Merkle tree holds %" PRId64 " entries, the log %" PRId64
                            " (run dupla audit verify)",
                            tree_size, seq);
    if ((rc = audit_tree_edge_check(edge, tree_size, found, err)))
        return rc;
    log->edge = *edge;
    log->last_seq = seq;
    log->last_time = time;
    log->cp_seq = cp_seq;
    memcpy(log->last_hash, hash, AUDIT_HASH_LEN);
    return 0;
}

/* PostgreSQL, when the head has stayed put for a while: the head's check
 * without waiting for it (a check statement, store.h, queued in the
 * batch's pipeline); a head another writer moved fails the whole
 * transaction at its commit with DUPLA_EBUSY (SQLSTATE 40001, raised by
 * audit/8's function), and commit_batch tries again with sync_head. Times
 * never go backwards along the chain, so every entry from the head on has
 * a time_ms at least the head's: only the newest partitions are read. A
 * log without entries matches only a head of 0; when the head in memory
 * is no entry of the store's, whatever the query finds differs from it
 * (the hash binds the time). */
#define EXPECT_HEAD_SQL                                                                            \
    STORE_CHECK "SELECT audit_head_moved_unless(COALESCE((SELECT seq = ? AND entry_hash = ?"       \
                " FROM audit_entry WHERE time_ms >= ? ORDER BY seq DESC LIMIT 1),"                 \
                " CAST(? AS BIGINT) = 0))"
static int expect_head(audit_log_t *log, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(log->conn, EXPECT_HEAD_SQL, &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, log->last_seq);
    store_bind_blob(s, 2, log->last_hash, AUDIT_HASH_LEN);
    store_bind_int64(s, 3, log->last_time);
    store_bind_int64(s, 4, log->last_seq);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Takes up to max of the queue's pendings, in order, off the queue (NULL:
 * none). Called with log->mu held. */
static struct pending *take_queued(audit_log_t *log, size_t max)
{
    struct pending *first = log->head, *last = NULL;
    size_t n = 0;
    for (struct pending *p = log->head; p && n < max; p = p->next, n++)
        last = p;
    if (!last)
        return NULL;
    log->head = last->next;
    last->next = NULL;
    if (!log->head)
        log->tail = NULL;
    log->queued -= n;
    metric_set(m_queue, (double)log->queued);
    return first;
}

/* After the batch's transaction has the write lock and the head (the
 * round trip of sync_head, which waits while other writers hold the lock),
 * what was queued meanwhile joins the batch, up to batch_max: its
 * entries need not wait for this batch's commit and another turn at the
 * lock. */
static void take_latecomers(audit_log_t *log, struct pending *batch)
{
    size_t n = 1;
    struct pending *last = batch;
    for (; last->next; last = last->next)
        n++;
    if (n >= log->batch_max)
        return;
    pthread_mutex_lock(&log->mu);
    size_t before = log->queued;
    last->next = take_queued(log, log->batch_max - n);
    size_t taken = before - log->queued;
    log->stats.latecomers += taken;
    pthread_mutex_unlock(&log->mu);
    if (taken)
        metric_add(m_latecomers, (double)taken);
}

static void count_commit(audit_log_t *log, bool checkpoint);

/* What one try at a batch's transaction made (commit_batch). */
struct attempt {
    int64_t seq, now, mono;
    unsigned char hash[AUDIT_HASH_LEN];
    bool checkpoint, nowait;
};

/* One try at the batch's transaction: the head's check, the entries (each
 * pending's receipt), a checkpoint when due, the commit. On PostgreSQL
 * with guess, the head in memory is taken as the store's and checked by
 * expect_head inside the same round trip as the inserts and the
 * commit (an error, SQLSTATE 40001, that aborts the transaction when
 * another writer moved it); without, it is read first (sync_head: a
 * round trip of its own, with the write lock held). */
static int attempt(audit_log_t *log, struct pending *batch, bool time_due, bool guess,
                   struct attempt *a, err_t *err)
{
    int rc = 0;
    if (log->reload && (rc = read_head(log, true, err)) == 0)
        log->reload = false;
    /* The batch's statements go out without waiting for each (PostgreSQL:
     * pipeline mode; with a guess everything in one round trip, without
     * begin and the head's check in one and the rest in another). */
    if (!rc && (rc = store_pipeline_begin(log->conn, err)) == 0 &&
        (rc = store_begin(log->conn, err)) == 0)
        rc = guess ? expect_head(log, err) : sync_head(log, err);
    if (!rc && !guess && batch)
        take_latecomers(log, batch);
    int64_t seq = log->last_seq, now = clock_now_ms(), mono = clock_mono_ns();
    unsigned char hash[AUDIT_HASH_LEN], next[AUDIT_HASH_LEN];
    bool forced = false, checkpoint = false;
    memcpy(hash, log->last_hash, AUDIT_HASH_LEN);
    log->edge_next = log->edge;
    /* Times never go backwards along the chain, so seq order is time order
     * (whichever node's clock is behind). */
    if (now < log->last_time)
        now = log->last_time;
    /* Every entry's encoding, chain hash and tree nodes first, in memory;
     * then each table's rows for the whole batch at once. */
    size_t n_entries = 0, n_nodes = 0;
    for (struct pending *p = batch; p; p = p->next)
        n_entries += p->entry != NULL;
    if (!rc)
        rc = batch_reserve(log, n_entries, err);
    struct audit_batch b = {log->rows, 0, seq + 1, now, log->pg};
    for (struct pending *p = batch; p && !rc; p = p->next) {
        if (!p->entry) {
            forced = true;
            continue;
        }
        buf_reset(&log->canon);
        if ((rc = audit_canonical_encode(p->entry, seq + 1, now, str_from_cstr(log->environment),
                                         &log->canon))) {
            rc = err_internal(err, rc, "audit: the canonical encoding does not fit");
            break;
        }
        if ((rc = audit_chain_hash(hash, buf_str(&log->canon), next))) {
            rc = err_internal(err, rc, "audit: SHA-256 failed");
            break;
        }
        struct audit_batch_entry *be = &log->rows[b.n++];
        be->e = p->entry;
        memcpy(be->prev, hash, AUDIT_HASH_LEN);
        memcpy(be->hash, next, AUDIT_HASH_LEN);
        unsigned char leaf[AUDIT_HASH_LEN];
        audit_tree_leaf_hash(buf_str(&log->canon), leaf);
        audit_tree_collect(&log->edge_next, leaf, log->nodes, &n_nodes);
        seq++;
        memcpy(hash, next, AUDIT_HASH_LEN);
        p->receipt.seq = seq;
        p->receipt.time_ms = now;
        memcpy(p->receipt.entry_hash, hash, AUDIT_HASH_LEN);
    }
    if (!rc && b.n)
        rc = insert_batch(log, &b, n_nodes, err);
    /* A signer in the key process that no longer answers (keys.h): the
     * entries commit without their checkpoint, which is tried again with
     * a later batch, rather than every disclosure failing with it. */
    bool can_sign = log->signer && pki_signer_ready(log->signer);
    if (log->signer && can_sign == log->signer_down) {
        log->signer_down = !can_sign;
        if (log->signer_down)
            log_error("audit: the checkpoint key does not answer; checkpoints wait until it does");
        else
            log_info("audit: the checkpoint key answers again");
    }
    if (!rc && can_sign && seq > log->cp_seq &&
        (forced || time_due || seq - log->cp_seq >= (int64_t)log->checkpoint_every ||
         mono - log->cp_mono_ns >= (int64_t)log->checkpoint_seconds * 1000000000)) {
        /* Another node may have signed one at this head meanwhile. */
        rc = store_query_int64(log->conn, "SELECT MAX(seq) FROM audit_checkpoint", 0, &log->cp_seq,
                               err);
    }
    if (!rc && can_sign && seq > log->cp_seq &&
        (forced || time_due || seq - log->cp_seq >= (int64_t)log->checkpoint_every ||
         mono - log->cp_mono_ns >= (int64_t)log->checkpoint_seconds * 1000000000)) {
        checkpoint = true;
        unsigned char root[AUDIT_HASH_LEN];
        audit_tree_edge_root(&log->edge_next, root);
        rc = audit_checkpoint_write(log->conn, log->signer, log->environment, seq, hash, now, err);
        if (!rc)
            rc = audit_tree_head_write(log->conn, log->signer, log->origin, seq, root, now, err);
    }
    /* PostgreSQL: a batch without a checkpoint commits without waiting for
     * its flush (nor the standby), so the write lock that orders the nodes'
     * batches is held for the statements' time only; the barrier below,
     * outside that lock, waits until the batch is durable, and only then
     * is any caller told. A checkpoint waits under the lock: a signed head
     * must never be visible before it is durable. So does a batch that
     * guessed the head: no other writer wrote for a while, so none waits
     * for the lock, and on one node a flush in the commit costs less
     * than a barrier after it (bench-audit, PostgreSQL, 8 / 64 writers:
     * 3,900-4,400 / 14,300-15,800 appends/s with the barrier, 6,500-8,000
     * / 19,000-20,800 without, the batches twice as large). */
    bool nowait = log->pg && log->commit_barrier && !checkpoint && !guess;
    if (!rc)
        rc = nowait ? store_commit_nowait(log->conn, err) : store_commit(log->conn, err);
    int prc = store_pipeline_end(log->conn, rc ? NULL : err);
    if (!rc)
        rc = prc;
    a->seq = seq;
    a->now = now;
    a->mono = mono;
    a->checkpoint = checkpoint;
    a->nowait = nowait;
    memcpy(a->hash, hash, AUDIT_HASH_LEN);
    return rc;
}

/* Commits the entries of batch (and a checkpoint when one is due or asked
 * for). Fills each pending's rc, err and receipt. */
static void commit_batch(audit_log_t *log, struct pending *batch, bool time_due)
{
    err_t err;
    err_clear(&err);
    if (log->has_flusher) {
        pthread_mutex_lock(&log->mu);
        log->reload |= log->flush_failed;
        log->flush_failed = false;
        pthread_mutex_unlock(&log->mu);
    }
    /* PostgreSQL guesses that the head is still its own once several
     * batches in a row found it so (one writer, or a quiet cluster): a
     * wrong guess costs a try, and another writer's batches make guesses
     * stop until the head stays put again, for twice as many batches as
     * before the last wrong guess (so a busy cluster soon stops guessing,
     * and a lone writer never does). */
    bool guess = log->pg && log->unmoved >= log->guess_after;
    struct attempt a;
    int rc = attempt(log, batch, time_due, guess, &a, &err);
    bool wrong = guess && rc == DUPLA_EBUSY;
    if (wrong) {
        /* the head moved (or the store was busy): again, reading it first
         * (sync_head counts the move) */
        store_rollback(log->conn);
        log->unmoved = 0;
        if (log->guess_after < AUDIT_GUESS_AFTER_MAX)
            log->guess_after *= 2;
        err_clear(&err);
        rc = attempt(log, batch, time_due, false, &a, &err);
    }
    if (guess) {
        pthread_mutex_lock(&log->mu);
        log->stats.guesses++;
        log->stats.wrong_guesses += wrong;
        pthread_mutex_unlock(&log->mu);
    }
    int64_t seq = a.seq, now = a.now, mono = a.mono;
    bool checkpoint = a.checkpoint, nowait = a.nowait;
    unsigned char hash[AUDIT_HASH_LEN];
    memcpy(hash, a.hash, AUDIT_HASH_LEN);
    if (!rc && nowait && !log->has_flusher && (rc = store_durable_barrier(log->conn, &err)) != 0) {
        /* committed, but perhaps lost with the server: its callers are
         * refused (the log may hold entries nobody received, never the
         * reverse), and the head is read back before the next batch */
        log->reload = true;
    }
    if (rc) {
        store_rollback(log->conn);
        log->reload = true;
        if (time_due)
            log->cp_mono_ns = mono; /* retry the timed checkpoint later, not at once */
        log_error("audit: a commit of the disclosure log failed: %s", err.log);
    } else {
        log->last_seq = seq;
        log->last_time = now;
        memcpy(log->last_hash, hash, AUDIT_HASH_LEN);
        log->edge = log->edge_next;
        if (checkpoint) {
            log->cp_seq = seq;
            log->cp_mono_ns = mono;
        }
    }
    size_t n_entries = 0;
    for (struct pending *p = batch; p; p = p->next)
        n_entries += p->entry != NULL;
    bool entries = n_entries > 0;
    if (!rc && entries)
        metric_observe(m_batch, (double)n_entries);
    if (!rc && nowait && log->has_flusher && entries) {
        /* the flusher tells the callers once a barrier has made it durable
         * (a batch without entries wrote nothing: told at once, so the
         * close's last pending, on the writer's stack, never outlives it) */
        struct pending *last = batch;
        while (last->next)
            last = last->next;
        pthread_mutex_lock(&log->mu);
        if (log->fq_tail)
            log->fq_tail->next = batch;
        else
            log->fq_head = batch;
        log->fq_tail = last;
        log->stats.commits++;
        pthread_cond_signal(&log->wake_flusher);
        pthread_mutex_unlock(&log->mu);
        return;
    }
    if (!rc)
        count_commit(log, checkpoint);
    audit_complete(log, batch, rc, &err, true);
}

/* Counts a commit in the statistics (its entries are counted when their
 * callers are told). */
static void count_commit(audit_log_t *log, bool checkpoint)
{
    pthread_mutex_lock(&log->mu);
    log->stats.commits++;
    log->stats.checkpoints += checkpoint;
    pthread_mutex_unlock(&log->mu);
}

/* One batch, the flusher's several, or a relayed entry (relay.c: not
 * counted, the sequencer counts it). */
void audit_complete(audit_log_t *log, struct pending *batch, int rc, const err_t *err, bool count)
{
    size_t n = 0;
    for (struct pending *p = batch; p && count; p = p->next)
        n += p->entry != NULL;
    pthread_mutex_lock(&log->mu);
    if (rc && count)
        log->stats.failures++;
    else
        log->stats.entries += n;
    pthread_mutex_unlock(&log->mu);
    if (n) {
        if (rc)
            metric_add(m_failures, (double)n);
        else
            metric_add(m_entries, (double)n);
    }
    /* The whole batch at once, outside the lock: a callback may resume a
     * suspended request or post a sleeping caller's semaphore. Next is read
     * before the callback, which may end p's life. */
    int64_t done_ns = clock_mono_ns();
    for (struct pending *p = batch, *nx; p; p = nx) {
        nx = p->next;
        p->rc = rc;
        if (rc)
            p->err = *err;
        if (p->entry && !rc)
            metric_observe(m_append, (double)(done_ns - p->t0_ns) / 1e9);
        bool owned = p->owned;
        p->done(p->ctx, p->rc, &p->receipt, rc ? &p->err : NULL);
        if (owned)
            free(p);
    }
    /* a sequencer: the answers to other nodes, queued above, go out */
    if (log->relay_server)
        audit_relay_serve_flush(log->relay_server);
}

/* PostgreSQL: once a day (and at open), the partitions of this month and
 * the next ones. A failure is logged, not fatal: the DEFAULT partition takes
 * the entries meanwhile, and the next upkeep moves them. */
static void upkeep(audit_log_t *log)
{
    int64_t now = clock_now_ms();
    if (!log->pg || now < log->next_upkeep_ms)
        return;
    log->next_upkeep_ms = now + AUDIT_PARTITIONS_UPKEEP_MS;
    err_t err;
    err_clear(&err);
    int created = 0;
    if (audit_partitions_ensure_conn(log->conn, now, AUDIT_PARTITIONS_AHEAD_DEFAULT, &created,
                                     &err)) {
        log->next_upkeep_ms = now + 60000; /* soon again, not tomorrow */
        log_error("audit: making the log's partitions ahead failed (entries go to the DEFAULT "
                  "partition until the next try): %s",
                  err.log);
    } else if (created) {
        log_info("audit: created %d monthly partitions of the disclosure log", created);
    }
}

static bool checkpoint_pending(const audit_log_t *log)
{
    return log->signer && log->last_seq > log->cp_seq;
}

static void ignore_done(void *ctx, int rc, const struct audit_receipt *receipt, const err_t *err)
{
    (void)ctx;
    (void)rc;
    (void)receipt;
    (void)err;
}

/* PostgreSQL, in a busy cluster (the last batch found the head moved by
 * another writer): the batch waits linger_ns after its first entry was
 * queued, or until it is full, before it is made. Each node serves a part
 * of the calls, and every batch costs its turn at the write lock that
 * orders all nodes' batches, its transaction and its durability barrier,
 * whatever its size: without the wait a node's batches held one entry
 * each (bench/cluster.sh, 3 nodes, 8 connections: 1.16 entries a batch,
 * 2.1-2.3 with 1 ms, and 1,330-1,440 calls/s became 1,690-1,780; one
 * node, or a quiet cluster, guesses its head and never waits).
 * Whether waiting pays is measured: the entries the waits gathered, on
 * average (an exponential one, over about 8 waits). Below a tenth of an
 * entry a wait is made only every 16th batch, to notice when it pays
 * again: with few callers (one connection on each of two or three nodes)
 * waits gather nothing, and made every time they cost a third of the
 * calls/s (897 -> 597/s); so measured, 873/s, while three nodes at 8
 * connections keep most of the gain (1,575-1,603/s; 0.25 as the bar lost
 * it, as its waits gather 0.2-0.6 entries). Called and returns with
 * log->mu held. */
#define AUDIT_LINGER_GAIN_MIN 0.1
#define AUDIT_LINGER_PROBE    16
static void linger(audit_log_t *log)
{
    if (log->linger_gain < AUDIT_LINGER_GAIN_MIN && ++log->linger_passed < AUDIT_LINGER_PROBE)
        return;
    log->linger_passed = 0;
    int64_t until = log->head->t0_ns + log->linger_ns;
    size_t had = log->queued;
    log->lingering = true;
    while (log->queued < log->batch_max && !log->closing && clock_mono_ns() < until) {
        struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
        pthread_cond_timedwait(&log->wake_writer, &log->mu, &ts);
    }
    log->lingering = false;
    log->linger_gain += ((double)(log->queued - had) - log->linger_gain) / 8;
    log->stats.lingers++;
    metric_add(m_lingers, 1);
}

static void *writer_main(void *arg)
{
    audit_log_t *log = arg;
    fault_thread_role(FAULT_ROLE_LOG); /* the fault test build: a log append */
    pthread_mutex_lock(&log->mu);
    for (;;) {
        bool time_due = false;
        while (!log->head && !log->closing) {
            if (!checkpoint_pending(log)) {
                pthread_cond_wait(&log->wake_writer, &log->mu);
                continue;
            }
            int64_t deadline = log->cp_mono_ns + (int64_t)log->checkpoint_seconds * 1000000000;
            if (clock_mono_ns() >= deadline) {
                time_due = true;
                break;
            }
            struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
            pthread_cond_timedwait(&log->wake_writer, &log->mu, &ts);
        }
        if (!log->head && !time_due)
            break; /* closing, and nothing left */
        if (log->head && log->linger_ns > 0 && log->pg && log->moved)
            linger(log);
        struct pending *batch = take_queued(log, log->batch_max);
        pthread_mutex_unlock(&log->mu);
        upkeep(log);
        commit_batch(log, batch, time_due);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    /* A clean shutdown ends on a signed checkpoint. */
    if (checkpoint_pending(log) && !log->reload) {
        struct pending p;
        memset(&p, 0, sizeof p);
        p.done = ignore_done;
        commit_batch(log, &p, true);
    }
    return NULL;
}

/* PostgreSQL with the commit barrier: while the writer commits the next
 * batch, the flusher waits until the batches committed before are durable
 * (one barrier for all of them, on its own connection) and then tells
 * their callers. A failed barrier refuses them, and the writer reads the
 * head back before its next batch (the server may have lost them). */
#define AUDIT_BARRIER_TRIES 3

static void *flusher_main(void *arg)
{
    audit_log_t *log = arg;
    fault_thread_role(FAULT_ROLE_LOG);
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (!log->fq_head && !log->flush_closing)
            pthread_cond_wait(&log->wake_flusher, &log->mu);
        struct pending *list = log->fq_head;
        if (!list)
            break; /* closing, and nothing left */
        log->fq_head = log->fq_tail = NULL;
        pthread_mutex_unlock(&log->mu);
        err_t err;
        err_clear(&err);
        /* The batches are committed: a barrier that fails (its connection
         * lost, say) is tried again on a fresh one before their callers are
         * refused, so that only a server that is really gone refuses
         * entries the log may well hold. */
        int rc = store_durable_barrier(log->flush_conn, &err);
        for (int i = 0; rc && i < AUDIT_BARRIER_TRIES - 1; i++) {
            log_warn("audit: a durability barrier failed (trying again): %s", err.log);
            struct timespec ts = {0, 100000000L * (i + 1)};
            nanosleep(&ts, NULL);
            err_clear(&err);
            rc = store_durable_barrier(log->flush_conn, &err);
        }
        if (rc) {
            log_error("audit: the flush of committed batches of the disclosure log could not be "
                      "confirmed; their callers are refused: %s",
                      err.log);
            pthread_mutex_lock(&log->mu);
            log->flush_failed = true;
            pthread_mutex_unlock(&log->mu);
        }
        audit_complete(log, list, rc, &err, true);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

/* ---- the public calls ---- */

/* Stops the flusher once it has told every queued batch's callers, and
 * gives its connection back. */
static void stop_flusher(audit_log_t *log)
{
    if (log->has_flusher) {
        pthread_mutex_lock(&log->mu);
        log->flush_closing = true;
        pthread_cond_signal(&log->wake_flusher);
        pthread_mutex_unlock(&log->mu);
        pthread_join(log->flusher, NULL);
        log->has_flusher = false;
    }
    if (log->flush_conn)
        store_conn_put(log->flush_conn);
    log->flush_conn = NULL;
}

int audit_open(store_t *st, const struct audit_options *opt, audit_log_t **out, err_t *err)
{
    return audit_open_sync(st, opt, true, out, err);
}

int audit_open_sync(store_t *st, const struct audit_options *opt, bool fsync_commits,
                    audit_log_t **out, err_t *err)
{
    *out = NULL;
    if (!opt->environment ||
        (strcmp(opt->environment, "production") != 0 && strcmp(opt->environment, "test") != 0))
        return err_param(err, DUPLA_EINVAL, "environment",
                         "audit: environment must be \"production\" or \"test\"");
    int rc = audit_migrate(st, err);
    if (rc)
        return rc;
    pthread_once(&metrics_once, metrics_declare);
    audit_relay_metrics();
    audit_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    log->st = st;
    snprintf(log->environment, sizeof log->environment, "%s", opt->environment);
    if (opt->origin && opt->origin[0])
        snprintf(log->origin, sizeof log->origin, "%s", opt->origin);
    else
        snprintf(log->origin, sizeof log->origin, AUDIT_ORIGIN_DEFAULT_PREFIX "%s",
                 opt->environment);
    log->signer = opt->signer;
    log->checkpoint_every =
        opt->checkpoint_every ? opt->checkpoint_every : AUDIT_CHECKPOINT_EVERY_DEFAULT;
    log->checkpoint_seconds =
        opt->checkpoint_seconds ? opt->checkpoint_seconds : AUDIT_CHECKPOINT_SECONDS_DEFAULT;
    log->queue_max = opt->queue_max ? opt->queue_max : AUDIT_QUEUE_DEFAULT;
    if (log->queue_max > AUDIT_QUEUE_MAX)
        log->queue_max = AUDIT_QUEUE_MAX;
    log->batch_max = opt->batch_max ? opt->batch_max : AUDIT_BATCH_DEFAULT;
    buf_init(&log->canon, AUDIT_CANONICAL_MAX);
    buf_init(&log->periods, AUDIT_LIST_JSON_MAX);
    buf_init(&log->fields, AUDIT_LIST_JSON_MAX);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->wake_writer, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&log->wake_flusher, NULL);

    if ((rc = store_conn_get(st, &log->conn, err)))
        goto fail;
    if (strcmp(store_backend(st), "sqlite") == 0 &&
        (rc = store_exec(
             log->conn, fsync_commits ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF", err)))
        goto fail;
    log->pg = audit_partitioned(st);
    log->commit_barrier = !opt->wait_in_lock;
    log->guess_after = AUDIT_GUESS_AFTER;
    log->linger_gain = 1; /* waits are made until they prove useless */
    log->linger_ns =
        (int64_t)(opt->linger_us > AUDIT_LINGER_US_MAX ? AUDIT_LINGER_US_MAX : opt->linger_us) *
        1000;
    if (log->pg && log->commit_barrier) {
        if ((rc = store_conn_get(st, &log->flush_conn, err)))
            goto fail;
        if (pthread_create(&log->flusher, NULL, flusher_main, log) != 0) {
            rc = err_internal(err, DUPLA_EINTERNAL, "audit: cannot start the flusher thread");
            goto fail;
        }
        log->has_flusher = true;
    }
    upkeep(log);
    if ((rc = read_head(log, true, err)))
        goto fail;
    log->cp_mono_ns = clock_mono_ns();
    if (!log->signer)
        log_warn("audit: no signing key configured: the disclosure log is not checkpointed");
    /* The cluster's relay, before the writer (which reads the pointers):
     * a sequencer's links feed the queue; a relaying node appends itself
     * while its link is down. */
    const struct audit_relay_config *relay = opt->relay;
    if (relay && relay->listen[0])
        rc = audit_relay_serve(log, relay, &log->relay_server, err);
    else if (relay && relay->to[0])
        rc = audit_relay_connect(log, relay, &log->relay_client, err);
    if (rc)
        goto fail;
    if (pthread_create(&log->thread, NULL, writer_main, log) != 0) {
        rc = err_internal(err, DUPLA_EINTERNAL, "audit: cannot start the writer thread");
        goto fail;
    }
    *out = log;
    return 0;
fail:
    /* before the writer runs no entry is completed: the server goes at once */
    audit_relay_serve_stop(log->relay_server);
    audit_relay_serve_free(log->relay_server);
    audit_relay_connect_stop(log->relay_client);
    stop_flusher(log);
    if (log->conn)
        store_conn_put(log->conn);
    buf_free(&log->canon);
    buf_free(&log->periods);
    buf_free(&log->fields);
    free(log->rows);
    free(log->nodes);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->wake_writer);
    pthread_cond_destroy(&log->wake_flusher);
    free(log);
    return rc;
}

void audit_close(audit_log_t *log)
{
    if (!log)
        return;
    /* the relay first: a sequencer takes no more entries but answers
     * those it has as the writer drains them (the links close after it),
     * and a relaying node's entries in flight are answered (or refused) */
    audit_relay_serve_drain(log->relay_server);
    audit_relay_connect_stop(log->relay_client);
    pthread_mutex_lock(&log->mu);
    log->closing = true;
    pthread_cond_signal(&log->wake_writer);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->thread, NULL);
    stop_flusher(log); /* after the writer: it tells the last batches' callers */
    audit_relay_serve_stop(log->relay_server);
    audit_relay_serve_free(log->relay_server);
    store_conn_put(log->conn);
    buf_free(&log->canon);
    buf_free(&log->periods);
    buf_free(&log->fields);
    free(log->rows);
    free(log->nodes);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->wake_writer);
    pthread_cond_destroy(&log->wake_flusher);
    free(log);
}

/* Queues p (done and ctx set). 0: done will run once, on the writer
 * thread; else nothing was queued. */
static int enqueue(audit_log_t *log, struct pending *p, err_t *err)
{
    p->t0_ns = clock_mono_ns();
    if (log->relay_client && p->entry && audit_relay_send(log->relay_client, p))
        return 0;
    pthread_mutex_lock(&log->mu);
    if (log->closing) {
        pthread_mutex_unlock(&log->mu);
        return err_set(err, DUPLA_EBUSY, "the disclosure log is closing");
    }
    if (log->queued >= log->queue_max) {
        log->stats.busy++;
        metric_add(m_busy, 1);
        pthread_mutex_unlock(&log->mu);
        return err_set(err, DUPLA_EBUSY, "the disclosure log is busy; try again shortly");
    }
    if (log->tail)
        log->tail->next = p;
    else
        log->head = p;
    log->tail = p;
    bool was_empty = log->queued++ == 0;
    metric_set(m_queue, (double)log->queued);
    /* The writer looks at the queue again after each batch: only an empty
     * queue can have it asleep. */
    if (was_empty || (log->lingering && log->queued >= log->batch_max))
        pthread_cond_signal(&log->wake_writer);
    pthread_mutex_unlock(&log->mu);
    return 0;
}

/* A sleeping caller of audit_record or audit_checkpoint_now. */
struct waiter {
    sem_t sem;
    struct pending *p;
};

static void waiter_done(void *ctx, int rc, const struct audit_receipt *receipt, const err_t *err)
{
    (void)rc;
    (void)receipt;
    (void)err;
    struct waiter *w = ctx;
    sem_post(&w->sem); /* the last touch of w: the caller may return at once */
}

/* Queues p and sleeps until the writer has committed (or failed) it. */
static int enqueue_and_wait(audit_log_t *log, struct pending *p, err_t *err)
{
    struct waiter w = {.p = p};
    if (sem_init(&w.sem, 0, 0) != 0)
        return err_internal(err, DUPLA_EINTERNAL, "audit: sem_init failed");
    p->done = waiter_done;
    p->ctx = &w;
    int rc = enqueue(log, p, err);
    if (rc == 0) {
        while (sem_wait(&w.sem) != 0 && errno == EINTR)
            ;
        rc = p->rc;
        if (rc && err)
            *err = p->err;
    }
    sem_destroy(&w.sem);
    return rc;
}

int audit_record(audit_log_t *log, const struct audit_entry *e, struct audit_receipt *receipt,
                 err_t *err)
{
    int rc = check_entry(e, err);
    if (rc)
        return rc;
    struct pending p;
    memset(&p, 0, sizeof p);
    p.entry = e;
    if ((rc = enqueue_and_wait(log, &p, err)))
        return rc;
    if (receipt)
        *receipt = p.receipt;
    return 0;
}

int audit_submit(audit_log_t *log, const struct audit_entry *e, audit_done_fn done, void *ctx,
                 err_t *err)
{
    int rc = check_entry(e, err);
    if (rc)
        return rc;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    p->entry = e;
    p->done = done;
    p->ctx = ctx;
    p->owned = true;
    if ((rc = enqueue(log, p, err)))
        free(p);
    return rc;
}

int audit_checkpoint_now(audit_log_t *log, err_t *err)
{
    if (!log->signer)
        return err_set(err, DUPLA_ECONFLICT, "no signing key is configured (audit.signing_key)");
    struct pending p;
    memset(&p, 0, sizeof p);
    return enqueue_and_wait(log, &p, err);
}

void audit_stats_get(audit_log_t *log, struct audit_stats *out)
{
    pthread_mutex_lock(&log->mu);
    *out = log->stats;
    out->queued = log->queued;
    pthread_mutex_unlock(&log->mu);
    audit_relay_stats(log->relay_server, log->relay_client, out);
}

const char *audit_log_environment(const audit_log_t *log)
{
    return log->environment;
}
