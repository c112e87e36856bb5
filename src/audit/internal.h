/*
 * internal.h: what the files of the audit module share and nobody else
 * needs: the canonical encoding's primitives (verify re-encodes rows as it
 * reads them) and the SQL that reads entries back.
 */
#ifndef DUPLA_AUDIT_INTERNAL_H
#define DUPLA_AUDIT_INTERNAL_H

#include "audit/audit.h"

/* Largest canonical encoding of one entry: every limit at its maximum. */
#define AUDIT_CANONICAL_MAX                                                                        \
    (256 + 16 * (4 + AUDIT_TEXT_MAX) +                                                             \
     (size_t)(AUDIT_SUBJECTS_MAX + AUDIT_PERIODS_MAX + AUDIT_FIELDS_MAX) * 2 *                     \
         (4 + AUDIT_TEXT_MAX) +                                                                    \
     (size_t)AUDIT_DELIVERIES_MAX * (4 + AUDIT_TEXT_MAX) +                                         \
     (size_t)AUDIT_VERSIONS_MAX * (4 + 4 + 8 + 8 + 2 * (4 + AUDIT_VERSION_TEXT_MAX)))

/* The log's schema version from which entries may be in canonical version
 * 2 (migration audit/4: the columns format and case_ref, the tables
 * audit_entry_delivery and audit_entry_version). */
#define AUDIT_SCHEMA_V2 4
/* ... and in version 3 (migration audit/6: the columns supplier_cvr and
 * on_behalf_se). */
#define AUDIT_SCHEMA_V3 6

/* Largest JSON text of a stored list (periods, fields): every element
 * escaped at worst as \uXXXX. */
#define AUDIT_LIST_JSON_MAX ((size_t)AUDIT_FIELDS_MAX * (6 * AUDIT_TEXT_MAX + 3) + 2)

/* record.c */
/* One queued entry (or checkpoint request). done runs once, on the writer
 * thread after the batch's commit (on PostgreSQL: on the flusher thread,
 * after the durability barrier; relayed: on the relay's thread, once the
 * sequencer answered); an audit_submit pending is freed after it (owned),
 * an audit_record one lives on its caller's stack. */
struct pending {
    const struct audit_entry *entry; /* NULL: a checkpoint request */
    struct audit_receipt receipt;
    int rc;
    err_t err;
    audit_done_fn done;
    void *ctx;
    bool owned;        /* malloc'd by audit_submit: freed after done */
    int64_t t0_ns;     /* when it was queued (the append latency metric) */
    uint64_t relay_id; /* relayed: its number on the link (relay.c) */
    struct pending *next;
};

/* Tells the callers of a list of pendings that it is durable (rc 0, each
 * with its receipt) or failed (rc and err), and counts them with count
 * (not the relayed: the sequencer counts them). */
void audit_complete(audit_log_t *log, struct pending *batch, int rc, const err_t *err, bool count);
/* The log's environment ("production" | "test"). */
const char *audit_log_environment(const audit_log_t *log);

/* relay.c: the cluster's relay (see relay.c). The sequencer serves links
 * from other nodes and appends their entries to log; a relaying node hands
 * its entries over while its link is up. */
struct audit_relay_server;
struct audit_relay_client;
int audit_relay_serve(audit_log_t *log, const struct audit_relay_config *cfg,
                      struct audit_relay_server **out, err_t *err);
/* Stops taking links and entries (an entry that comes is refused, 503);
 * the links stay open so that the entries already in the log are
 * answered as the log drains. */
void audit_relay_serve_drain(struct audit_relay_server *s);
/* Closes the links (after the drain); entries still in the log complete
 * with it (each holds its link and s): audit_relay_serve_free once the
 * log's threads have ended. */
void audit_relay_serve_stop(struct audit_relay_server *s);
/* Sends the answers the log's completion of a batch queued. */
void audit_relay_serve_flush(struct audit_relay_server *s);
void audit_relay_serve_free(struct audit_relay_server *s);
/* Starts the thread that keeps a link to the sequencer at cfg->to. */
int audit_relay_connect(audit_log_t *log, const struct audit_relay_config *cfg,
                        struct audit_relay_client **out, err_t *err);
/* Waits up to the relay's timeout for the entries in flight, refuses those
 * left, and closes the link. */
void audit_relay_connect_stop(struct audit_relay_client *c);
/* true: p went to the sequencer (its done runs once it answered, or the
 * link broke); false: the link is down, p is the caller's to queue. */
bool audit_relay_send(struct audit_relay_client *c, struct pending *p);
/* Declares the relay's metrics (every log does: /metrics shows them at
 * 0 on a node without a relay). */
void audit_relay_metrics(void);
/* Adds the relay's counters to out. */
void audit_relay_stats(struct audit_relay_server *s, struct audit_relay_client *c,
                       struct audit_stats *out);

/* canonical.c: an entry read back from its canonical encoding (the relay):
 * its strings point into the encoding, its lists are the decoded's own
 * (audit_decoded_free). DUPLA_EINVAL for anything malformed. */
struct audit_decoded {
    struct audit_entry e;
    str_t environment;
    struct audit_subject *subjects;
    str_t *periods, *fields, *deliveries;
    struct audit_version *versions;
};
int audit_canonical_decode(str_t canon, struct audit_decoded *out, err_t *err);
void audit_decoded_free(struct audit_decoded *d);

/* audit_open() with the fsync of each commit as a choice: fsync_commits false
 * (synchronous=OFF on SQLite) is the benchmark's no-fsync baseline and
 * nothing else's; production opens the log through audit_open(), which
 * always fsyncs. Only bench/bench_audit.c and the unit tests include this. */
int audit_open_sync(store_t *st, const struct audit_options *opt, bool fsync_commits,
                    audit_log_t **out, err_t *err);

/* schema.c: the migrations up to version only (tests of migration 2). */
int audit_migrate_to(store_t *st, int version, err_t *err);

/* partition.c: migration audit/2 on PostgreSQL, and the upkeep on a
 * connection the caller holds (no transaction open on it). */
extern const char audit_partition_migration[];
int audit_partitions_ensure_conn(store_conn_t *c, int64_t now_ms, unsigned ahead, int *created,
                                 err_t *err);

/* canonical.c */
int audit_enc_u32(buf_t *b, uint32_t v);
int audit_enc_i64(buf_t *b, int64_t v);
int audit_enc_str(buf_t *b, str_t s);
/* Overwrites the u32 at offset off (a list count written before its length
 * was known). */
void audit_enc_patch_u32(buf_t *b, size_t off, uint32_t v);
/* The first part of canonical(): version through transaction id. */
int audit_enc_head(buf_t *b, uint32_t format, int64_t seq, int64_t time_ms, str_t environment,
                   str_t org_cvr, str_t system_id, str_t agreement_id, int64_t agreement_version,
                   str_t service, str_t request_id, str_t transaction_id);
/* One element of version 2's list of versions. */
int audit_enc_version(buf_t *b, uint32_t delivery, str_t kind, str_t subject, str_t period,
                      int64_t version);
/* Checks what version 2 adds to an entry (case reference, deliveries,
 * versions): 0, or DUPLA_EINVAL / DUPLA_ELIMIT naming the field. */
int audit_check_v2(const struct audit_entry *e, err_t *err);

/* Entries read back from the store in canonical form: cursors over the
 * child tables (subjects, and from AUDIT_SCHEMA_V2 deliveries and versions)
 * of the entries [from, to], merged by seq with a scan of the entries
 * themselves (AUDIT_ENTRY_COLUMNS, in seq order) that the caller steps. */
struct audit_child {
    store_stmt_t *s;
    bool row;
    int64_t seq;
};
struct audit_stored {
    bool v2; /* the schema has version 2's columns and tables */
    bool v3; /* ... and version 3's columns */
    struct audit_child subj, deliv, vers;
};
/* stream: read the children a batch at a time (store_stmt_stream; inside a
 * transaction). */
int audit_stored_open(store_conn_t *c, int schema, int64_t from, int64_t to, bool stream,
                      struct audit_stored *r, err_t *err);
void audit_stored_close(struct audit_stored *r);
/* Appends the canonical encoding of the entry on s's row (its child rows
 * consumed from r) to canon. *malformed when the stored row cannot be an
 * entry (an unknown format, periods or fields that are not lists, or
 * version 2 data on a version 1 entry). */
int audit_stored_encode(struct audit_stored *r, store_stmt_t *s, buf_t *canon, bool *malformed,
                        err_t *err);
/* The entries of a batch the writer commits (record.c), once their chain
 * hashes are known: v[i] is entry first_seq + i, every one at time_ms. */
struct audit_batch_entry {
    const struct audit_entry *e;
    unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
};
struct audit_batch {
    const struct audit_batch_entry *v;
    size_t n;
    int64_t first_seq, time_ms;
    bool pg; /* PostgreSQL: the subjects carry time_ms (the partition key) */
};
/* disclosed.c: inserts the child rows of the batch's entries (subjects,
 * and what version 2 adds: deliveries and versions), each table's in a few
 * multi-row statements, in c's open transaction. */
int audit_insert_children(store_conn_t *c, const struct audit_batch *b, err_t *err);

/* true (and *seq) when a child row is left after the last entry. */
bool audit_stored_leftover(const struct audit_stored *r, int64_t *seq);
/* The last part of canonical(): record count, outcome, reason. */
int audit_enc_tail(buf_t *b, int64_t record_count, str_t outcome, str_t reason);
/* true if s is valid UTF-8 without NUL bytes. */
bool audit_text_valid(str_t s);

/* Appends a stored JSON list of strings (periods, fields) in canonical
 * form; DUPLA_EINVAL if the text is not such a list. */
int audit_enc_json_list(buf_t *b, str_t text);

/* tree.c: the right edge of the tree (its compact range): for each bit l
 * set in size, h[l] is the hash of the perfect subtree of 2^l leaves that
 * lies there. 64 levels cover every int64_t size. */
#define AUDIT_TREE_LEVELS 64
struct audit_tree_edge {
    int64_t size;
    unsigned char h[AUDIT_TREE_LEVELS][AUDIT_HASH_LEN];
};
/* Reads the edge of the store's tree at size (O(log size) reads). */
int audit_tree_edge_load(store_conn_t *c, int64_t size, struct audit_tree_edge *e, err_t *err);
/* For a caller that reads the edge's nodes itself (sync_head: with the
 * head, in one statement): take checks one node (level, hash) of the edge
 * at size and keeps it in e, marking its level in *found; check fails if
 * a level the size needs was not found, else sets e->size. */
int audit_tree_edge_take(struct audit_tree_edge *e, int64_t size, int64_t level, str_t hash,
                         uint64_t *found, err_t *err);
int audit_tree_edge_check(struct audit_tree_edge *e, int64_t size, uint64_t found, err_t *err);
/* Moves the edge on by one leaf: out (AUDIT_TREE_LEVELS hashes) gets the
 * subtrees the leaf completes, its own first, each of them ending at the
 * new size; returns their count. */
int audit_tree_edge_push(struct audit_tree_edge *e, const unsigned char leaf[AUDIT_HASH_LEN],
                         unsigned char (*out)[AUDIT_HASH_LEN]);
/* A row of audit_tree_node: the perfect subtree of 2^level leaves whose
 * last leaf is leaf end_size - 1. */
struct audit_tree_node {
    int64_t end_size;
    int level;
    unsigned char hash[AUDIT_HASH_LEN];
};
/* The most nodes that appending n leaves to a tree completes: each leaf
 * its own, and the subtrees it closes (the trailing one bits of the size
 * before it), at most n + AUDIT_TREE_LEVELS over n consecutive sizes. */
#define AUDIT_TREE_NODES_MAX(n) (2 * (size_t)(n) + AUDIT_TREE_LEVELS)
/* Moves the edge on by one leaf and appends the nodes the leaf completes
 * (its own first; at most AUDIT_TREE_LEVELS) at out[*n], moving *n on:
 * the writer collects a whole batch's nodes and inserts them at once. */
void audit_tree_collect(struct audit_tree_edge *e, const unsigned char leaf[AUDIT_HASH_LEN],
                        struct audit_tree_node *out, size_t *n);
/* Inserts n nodes into audit_tree_node (in c's open transaction) with few
 * statements (store_insert_rows). */
int audit_tree_insert_nodes(store_conn_t *c, const struct audit_tree_node *v, size_t n, err_t *err);
/* Appends a leaf: inserts it and every subtree it completes into
 * audit_tree_node (in c's open transaction), and moves the edge on. */
int audit_tree_append(store_conn_t *c, struct audit_tree_edge *e,
                      const unsigned char leaf[AUDIT_HASH_LEN], err_t *err);
/* The root of the tree the edge ends. */
void audit_tree_edge_root(const struct audit_tree_edge *e, unsigned char out[AUDIT_HASH_LEN]);
/* Brings the store's tree up to `to` leaves from the entries themselves (a
 * log from before the tree: migration audit/3, run once at open), in
 * transactions of AUDIT_TREE_BUILD_BATCH entries. e is the edge at the
 * tree's present size and is moved on. */
#define AUDIT_TREE_BUILD_BATCH 4096
int audit_tree_build(store_conn_t *c, struct audit_tree_edge *e, int64_t to, err_t *err);

/* The columns every reader selects, in this order (see AUDIT_COL_*). */
#define AUDIT_ENTRY_COLUMNS                                                                        \
    "e.seq, e.time_ms, e.environment, e.org_cvr, e.system_id, e.agreement_id, "                    \
    "e.agreement_version, e.service, e.request_id, e.transaction_id, e.periods, e.fields, "        \
    "e.record_count, e.outcome, e.reason, e.prev_hash, e.entry_hash, e.format, e.case_ref, "       \
    "e.supplier_cvr, e.on_behalf_se"
/* The same on a store from before AUDIT_SCHEMA_V3 and AUDIT_SCHEMA_V2
 * (audit verify reads a store as it is). */
#define AUDIT_ENTRY_COLUMNS_V2                                                                     \
    "e.seq, e.time_ms, e.environment, e.org_cvr, e.system_id, e.agreement_id, "                    \
    "e.agreement_version, e.service, e.request_id, e.transaction_id, e.periods, e.fields, "        \
    "e.record_count, e.outcome, e.reason, e.prev_hash, e.entry_hash, e.format, e.case_ref, '', ''"
#define AUDIT_ENTRY_COLUMNS_V1                                                                     \
    "e.seq, e.time_ms, e.environment, e.org_cvr, e.system_id, e.agreement_id, "                    \
    "e.agreement_version, e.service, e.request_id, e.transaction_id, e.periods, e.fields, "        \
    "e.record_count, e.outcome, e.reason, e.prev_hash, e.entry_hash, 1, '', '', ''"
enum {
    AUDIT_COL_SEQ = 0,
    AUDIT_COL_TIME,
    AUDIT_COL_ENV,
    AUDIT_COL_ORG,
    AUDIT_COL_SYSTEM,
    AUDIT_COL_AGREEMENT,
    AUDIT_COL_AGREEMENT_VERSION,
    AUDIT_COL_SERVICE,
    AUDIT_COL_REQUEST,
    AUDIT_COL_TRANSACTION,
    AUDIT_COL_PERIODS,
    AUDIT_COL_FIELDS,
    AUDIT_COL_RECORDS,
    AUDIT_COL_OUTCOME,
    AUDIT_COL_REASON,
    AUDIT_COL_PREV_HASH,
    AUDIT_COL_ENTRY_HASH,
    AUDIT_COL_FORMAT,
    AUDIT_COL_CASE_REF,
    AUDIT_COL_SUPPLIER,
    AUDIT_COL_ON_BEHALF,
};

/* checkpoint.c: reads all checkpoints in seq order into *out (malloc'ed,
 * the caller frees). */
int audit_checkpoints_load(store_conn_t *c, struct audit_checkpoint **out, size_t *n, err_t *err);
/* Signs and inserts a checkpoint of (seq, hash) in c's open transaction. */
int audit_checkpoint_write(store_conn_t *c, pki_signer_t *signer, const char *environment,
                           int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], int64_t time_ms,
                           err_t *err);

/* note.c: standard base64 with padding (RFC 4648 section 4): encode needs
 * 4 * ceil(n / 3) + 1 bytes at out; decode returns the byte count or -1. */
size_t audit_b64_encode(const void *data, size_t n, char *out);
long audit_b64_decode(str_t in, void *out, size_t cap);
/* note.c: signs a tree head and inserts it in c's open transaction. */
int audit_tree_head_write(store_conn_t *c, pki_signer_t *signer, const char *origin, int64_t size,
                          const unsigned char root[AUDIT_HASH_LEN], int64_t time_ms, err_t *err);

#endif
