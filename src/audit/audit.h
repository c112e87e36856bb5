/*
 * audit.h: the disclosure log: every answer and refusal of the data path,
 * recorded durably, tamper-evident, and answerable.
 *
 * Recording. The data path calls audit_record() for every disclosure and
 * every refusal and sends no data until it has returned 0: the entry is then
 * committed with synchronous=FULL (fsynced). One writer thread takes every
 * queued entry at once, appends them in one transaction (group commit: many
 * concurrent callers share one fsync), gives them dense sequence numbers and
 * chain hashes in order, and wakes the callers. The queue is bounded: when it
 * is full audit_record() answers DUPLA_EBUSY at once (the data path answers
 * 503 with Retry-After). When a commit fails, every caller of that batch gets
 * the error (no data without a record).
 *
 * Tamper evidence. Each entry stores the hash of its predecessor and its own:
 *     entry_hash = SHA-256(prev_hash || canonical(entry))
 * with prev_hash of entry 1 = 32 zero bytes. canonical() is a length-prefixed
 * binary encoding of every field in a fixed order (see AUDIT_CANONICAL_V1
 * below). Every checkpoint_every entries or checkpoint_seconds (whichever
 * comes first, and at a clean shutdown) the writer signs a checkpoint (seq,
 * chain hash, time) with the platform's Ed25519 key (pki/sign.h). A checkpoint
 * can be exported as JSON and later used by anyone holding it to prove that
 * the log they are shown continues it (audit_verify with since).
 *
 * Answering. audit_query() pages through entries by filters (organisation,
 * agreement, service, subject, time range, outcome), keyset-paged by seq;
 * the writers turn rows into CSV or JSON. Role checks are the caller's (the
 * HTTP routes narrow the filter to what the caller may see).
 *
 * One process writes a log: the writer keeps the head (seq and hash) in
 * memory. Subjects' CPR/CVR/SE numbers are stored (they must be answerable)
 * but never logged.
 */
#ifndef DUPLA_AUDIT_AUDIT_H
#define DUPLA_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/str.h"
#include "pki/sign.h"
#include "store/store.h"

/*
 * The canonical encoding of an entry (version 1). Integers are big-endian:
 * u32 is 4 bytes, i64 is 8 bytes two's complement; a str is a u32 byte
 * length followed by that many bytes of UTF-8 (no terminator); a list is a
 * u32 count followed by its elements. In this order:
 *
 *   u32 1 (the encoding's version)
 *   i64 seq                 i64 time_ms             str environment
 *   str organisation CVR    str system id           str agreement id
 *   i64 agreement version   str service             str request id
 *   str transaction id
 *   list of subjects, each: str kind ("cpr" | "cvr" | "se"), str number
 *   list of str periods     list of str fields      i64 record count
 *   str outcome ("disclosed" | "refused")           str reason code
 *
 * The order of subjects, periods and fields is the order recorded.
 *
 * Version 2 (every entry recorded since) is version 1 with the version word
 * 2 and three fields after the reason code:
 *
 *   str case reference (X-Dupla-Sagsreference; "" when none was given)
 *   list of str deliveries: the ids of the deliveries that brought the
 *       record versions sent, each once, in the order first sent
 *   list of versions sent, each: u32 delivery (its place in the list of
 *       deliveries, from 0), str subject kind, str subject number,
 *       str period ("" for a service without periods), i64 version
 *
 * Version 3 is version 2 with the version word 3 and two fields after the
 * versions, written for an entry that has either (an entry with neither
 * stays version 2):
 *
 *   str supplier CVR: the system supplier whose certificate made the call
 *       (a supplier system registered by the organisation); "" when none
 *   str on-behalf SE number: the company the call acted for
 *       (onbehalfofse, under the company's authorisation); "" when none
 *
 * An answer of more than AUDIT_VERSIONS_MAX records lists its deliveries
 * but not its versions (record count > 0 and no versions). The first u32
 * says which encoding an entry has; version 1 entries keep verifying.
 */
#define AUDIT_CANONICAL_V1 1u
#define AUDIT_CANONICAL_V2 2u
#define AUDIT_CANONICAL_V3 3u

#define AUDIT_HASH_LEN 32 /* SHA-256 */
#define AUDIT_HASH_HEX 65 /* 64 hex digits + NUL */

/* Limits of one entry (audit_record refuses more with DUPLA_ELIMIT). */
#define AUDIT_TEXT_MAX         256   /* bytes of any one text field */
#define AUDIT_SUBJECTS_MAX     10000 /* subjects in one entry */
#define AUDIT_PERIODS_MAX      1000  /* periods in one entry */
#define AUDIT_FIELDS_MAX       1000  /* fields in one entry */
#define AUDIT_CASE_REF_MAX     64    /* bytes of a case reference (X-Dupla-Sagsreference) */
#define AUDIT_DELIVERIES_MAX   10000 /* deliveries in one entry */
#define AUDIT_VERSIONS_MAX     10000 /* record versions listed in one entry */
#define AUDIT_VERSION_TEXT_MAX 64    /* bytes of a version's subject or period */

/* The writer's defaults (config section "audit" overrides them). */
#define AUDIT_QUEUE_DEFAULT              4096 /* entries waiting for a commit */
#define AUDIT_QUEUE_MAX                  1000000
#define AUDIT_BATCH_DEFAULT              1024 /* entries per transaction */
#define AUDIT_LINGER_US_DEFAULT          1000 /* audit_options.linger_us */
#define AUDIT_LINGER_US_MAX              1000000
#define AUDIT_CHECKPOINT_EVERY_DEFAULT   10000 /* entries between checkpoints */
#define AUDIT_CHECKPOINT_SECONDS_DEFAULT 300   /* seconds between checkpoints */

/* Paging. */
#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX     1000

enum audit_subject_kind { AUDIT_SUBJECT_CPR = 0, AUDIT_SUBJECT_CVR = 1, AUDIT_SUBJECT_SE = 2 };

enum audit_outcome { AUDIT_DISCLOSED = 0, AUDIT_REFUSED = 1 };

struct audit_subject {
    enum audit_subject_kind kind;
    str_t id; /* the CPR/CVR/SE number as given */
};

/* One record version sent (canonical version 2). */
struct audit_version {
    uint32_t delivery; /* its delivery's place in audit_entry.deliveries */
    enum audit_subject_kind kind;
    str_t subject; /* the subject's number */
    str_t period;  /* as in periods ("2023", "2023-01-01/2023-03-31"); "" without periods */
    int64_t version;
};

/* What the data path records. The strings are borrowed for the duration of
 * audit_record(). Empty strings are allowed (a refusal may lack an
 * agreement); every text must be valid UTF-8 without NUL bytes. */
struct audit_entry {
    str_t org_cvr;      /* the recipient organisation */
    str_t system_id;    /* the recipient system (certificate / client id) */
    str_t agreement_id; /* the agreement acted under (as claimed, on refusal) */
    int64_t agreement_version;
    str_t service;        /* the data service's name */
    str_t request_id;     /* X-Request-ID */
    str_t transaction_id; /* X-Transaktions-ID */
    const struct audit_subject *subjects;
    size_t n_subjects;
    const str_t *periods; /* "2023", "2023-01-01/2023-03-31", ... */
    size_t n_periods;
    const str_t *fields; /* the fields disclosed (granted and sent) */
    size_t n_fields;
    int64_t record_count; /* records sent */
    enum audit_outcome outcome;
    str_t reason; /* refusals: a reason code ("field-not-granted"); "" otherwise */
    /* version 2 */
    str_t case_ref;          /* the recipient's case reference (audit_case_ref_valid); "" = none */
    const str_t *deliveries; /* the deliveries' ids, each once */
    size_t n_deliveries;
    const struct audit_version *versions; /* none when more than AUDIT_VERSIONS_MAX were sent */
    size_t n_versions;
    /* version 3 (either set: the entry is written in version 3) */
    str_t supplier_cvr; /* the supplier whose certificate made the call; "" = none */
    str_t on_behalf_se; /* the company (SE number) the call acted for; "" = none */
};

/* true when s may be a case reference: 1 to AUDIT_CASE_REF_MAX characters
 * of A-Z a-z 0-9 and space . _ / : # ( ) + -, neither starting nor ending
 * with a space. */
bool audit_case_ref_valid(str_t s);

/* What audit_record() assigned. */
struct audit_receipt {
    int64_t seq;
    int64_t time_ms;
    unsigned char entry_hash[AUDIT_HASH_LEN];
};

typedef struct audit_log audit_log_t;

/* The cluster's relay (relay.c): the nodes hand their entries to one of
 * them, the sequencer, over mutually authenticated TLS, so that one writer
 * makes the platform's batches instead of each node taking the store's
 * write lock in turn. listen, "host:port": this node is the sequencer;
 * to, "host:port": this node relays to the sequencer there while its link
 * is up, and appends itself (the lock's protocol) while it is not. Both
 * ends present cert (with key) and accept only a peer whose certificate
 * the links' own CA (ca) issued. */
#define AUDIT_RELAY_ADDR_MAX           256
#define AUDIT_RELAY_TIMEOUT_MS_DEFAULT 2000
struct audit_relay_config {
    char listen[AUDIT_RELAY_ADDR_MAX]; /* "" = not the sequencer */
    char to[AUDIT_RELAY_ADDR_MAX];     /* "" = no relay */
    char cert[CONFIG_PATH_MAX], key[CONFIG_PATH_MAX], ca[CONFIG_PATH_MAX];
    unsigned timeout_ms; /* an entry unanswered this long breaks the link (its callers: 503) */
};

struct audit_options {
    const char *environment;     /* stamped on every entry: "production" | "test" */
    pki_signer_t *signer;        /* signs checkpoints; borrowed; NULL: no checkpoints */
    unsigned checkpoint_every;   /* 0 = AUDIT_CHECKPOINT_EVERY_DEFAULT */
    unsigned checkpoint_seconds; /* 0 = AUDIT_CHECKPOINT_SECONDS_DEFAULT */
    unsigned queue_max;          /* 0 = AUDIT_QUEUE_DEFAULT */
    unsigned batch_max;          /* 0 = AUDIT_BATCH_DEFAULT; 1 = one commit per entry */
    const char *origin;          /* the checkpoints' origin; NULL or "": the default */
    /* PostgreSQL: wait for each batch's flush inside the write lock, as a
     * plain commit does, instead of committing without waiting and waiting
     * on a durability barrier after the lock (the default: the nodes of a
     * cluster then take the lock in turn for the statements' time only). */
    bool wait_in_lock;
    /* PostgreSQL: after a batch found the head moved by another writer (a
     * busy cluster), the next batch waits this long after its first entry
     * for more (0: not at all; see writer_main). */
    unsigned linger_us;
    const struct audit_relay_config *relay; /* NULL: none */
};

/* The "audit" section of the configuration file. */
struct audit_config {
    unsigned checkpoint_every;
    unsigned checkpoint_seconds;
    unsigned queue_max;
    char signing_key[CONFIG_PATH_MAX]; /* resolved path, or "" when none is configured */
    char origin[128];                  /* "" = AUDIT_ORIGIN_DEFAULT_PREFIX<environment> */
    bool commit_barrier;               /* false: audit_options.wait_in_lock */
    unsigned linger_us;                /* audit_options.linger_us */
    struct audit_relay_config relay;   /* relay_listen, relay_to, relay_cert, ... */
};

/* Reads cfg's "audit" section (keys checkpoint_every, checkpoint_seconds,
 * queue_max, signing_key, origin, commit_barrier, linger_us), applying the
 * defaults above (commit_barrier: true, linger_us: AUDIT_LINGER_US_DEFAULT). */
int audit_config_read(const struct dupla_config *cfg, struct audit_config *out, err_t *err);

/* Applies the log's schema migrations (module "audit"). */
int audit_migrate(store_t *st, err_t *err);

/* Migrates, reads the head of the log, and starts the writer thread, which
 * holds one of st's connections until audit_close(). Every commit is
 * fsynced (synchronous=FULL); no caller can turn that off. st must outlive
 * the log. The caller owns *out. */
int audit_open(store_t *st, const struct audit_options *opt, audit_log_t **out, err_t *err);

/* Stops taking entries, commits what is queued, signs a last checkpoint when
 * entries came after the previous one, and stops the writer. Every caller of
 * audit_record must have returned (stop the HTTP server first). NULL is fine. */
void audit_close(audit_log_t *log);

/* Records e and returns once it is durable (0, and *receipt filled when not
 * NULL). DUPLA_EINVAL / DUPLA_ELIMIT for a malformed entry (err names the
 * field), DUPLA_EBUSY when the queue is full or the log is closing, and the
 * store's error when the commit failed. Safe from any number of threads. */
int audit_record(audit_log_t *log, const struct audit_entry *e, struct audit_receipt *receipt,
                 err_t *err);

/* The completion of an audit_submit: rc 0 and the receipt once the entry
 * is durable, or the commit's error (err). It runs on the writer thread
 * (on PostgreSQL: the flusher thread, after the durability barrier), once
 * per entry, right after the batch is durable, for the whole batch one
 * after another: it must not block or call into the log; receipt and err
 * are valid only during the call. */
typedef void (*audit_done_fn)(void *ctx, int rc, const struct audit_receipt *receipt,
                              const err_t *err);

/* Queues e and returns at once (the event-driven data path: the request
 * is suspended meanwhile). 0: done(ctx, ...) will run exactly once, from
 * the writer (or flusher) thread, when e is durable or its batch failed; e and all it
 * points to must stay valid until then. Otherwise done never runs:
 * DUPLA_EINVAL / DUPLA_ELIMIT for a malformed entry, DUPLA_EBUSY when the
 * queue is full or the log is closing. audit_close completes every entry
 * queued before it. */
int audit_submit(audit_log_t *log, const struct audit_entry *e, audit_done_fn done, void *ctx,
                 err_t *err);

/* Signs a checkpoint of the current head now (when there are entries since
 * the last one) and returns once it is durable. DUPLA_ECONFLICT without a
 * signer. */
int audit_checkpoint_now(audit_log_t *log, err_t *err);

/* Counters since audit_open (for metrics and the benchmark). */
struct audit_stats {
    uint64_t entries;     /* entries committed */
    uint64_t commits;     /* transactions committed */
    uint64_t checkpoints; /* checkpoints signed */
    uint64_t busy;        /* audit_record calls refused with DUPLA_EBUSY */
    uint64_t failures;    /* failed commits */
    /* PostgreSQL: batches that took the head in memory for the store's
     * without reading it first, and those of them another writer had
     * moved the head under (tried again, reading it) */
    uint64_t guesses, wrong_guesses;
    uint64_t lingers;    /* batches that waited for more entries (linger_us) */
    uint64_t latecomers; /* entries queued while their batch waited for the lock */
    uint64_t queued;     /* now: entries waiting for the writer to take them */
    /* the relay: entries this node relayed and had answered, those refused
     * because the link broke or timed out, entries it sequenced for other
     * nodes, links it refused (the handshake failed), and whether its link
     * to the sequencer is up now */
    uint64_t relayed, relay_lost, sequenced, relay_refused;
    uint64_t relay_held; /* now: other nodes' entries the sequencer holds, not yet answered */
    bool relay_up;
};
void audit_stats_get(audit_log_t *log, struct audit_stats *out);

/* ---- the canonical encoding and the chain ---- */

/* Appends canonical(e) with seq, time and environment to out. */
int audit_canonical_encode(const struct audit_entry *e, int64_t seq, int64_t time_ms,
                           str_t environment, buf_t *out);
/* SHA-256(prev || canonical) into hash. */
int audit_chain_hash(const unsigned char prev[AUDIT_HASH_LEN], str_t canonical,
                     unsigned char hash[AUDIT_HASH_LEN]);

const char *audit_subject_kind_name(enum audit_subject_kind k); /* "cpr", "cvr", "se" */
int audit_subject_kind_parse(str_t s, enum audit_subject_kind *out);
const char *audit_outcome_name(enum audit_outcome o); /* "disclosed", "refused" */
int audit_outcome_parse(str_t s, enum audit_outcome *out);

/* ---- the Merkle tree (RFC 9162) ---- */

/*
 * The log is also a Merkle tree over its entries, hashed as RFC 9162 (and
 * Certificate Transparency) hash: entry seq is leaf seq - 1, and
 *     leaf hash = SHA-256(0x00 || canonical(entry))
 *     node hash = SHA-256(0x01 || left || right)
 * MTH(D[n]) splits at k, the largest power of two smaller than n. The root
 * of the empty tree is SHA-256(""). The writer stores, in the batch's own
 * transaction, the hash of every perfect subtree as it completes (table
 * audit_tree_node: the subtree of 2^level leaves that ends at tree size
 * end_size), so that the root of any size and any proof take O(log n)
 * reads, and keeps the right edge of the tree (its "compact range") in
 * memory. See tree.c and docs/transparency.md.
 */
#define AUDIT_PROOF_MAX 130 /* hashes in an inclusion or consistency proof */

/* SHA-256(0x00 || canonical) and SHA-256(0x01 || left || right). */
void audit_tree_leaf_hash(str_t canonical, unsigned char out[AUDIT_HASH_LEN]);
void audit_tree_node_hash(const unsigned char left[AUDIT_HASH_LEN],
                          const unsigned char right[AUDIT_HASH_LEN],
                          unsigned char out[AUDIT_HASH_LEN]);

/* Where the tree's perfect subtrees come from: node(level, index) is the
 * hash of leaves [index * 2^level, (index + 1) * 2^level). */
struct audit_tree_source {
    int (*node)(void *ctx, int level, int64_t index, unsigned char out[AUDIT_HASH_LEN], err_t *err);
    void *ctx;
};

/* The root of the tree of the first size leaves (size >= 0). */
int audit_tree_root(const struct audit_tree_source *src, int64_t size,
                    unsigned char out[AUDIT_HASH_LEN], err_t *err);
/* RFC 9162 2.1.3.1: the audit path of leaf index in the tree of size
 * leaves, leaf side first, into path (AUDIT_PROOF_MAX hashes); *n its
 * length. DUPLA_EINVAL unless 0 <= index < size. */
int audit_tree_inclusion(const struct audit_tree_source *src, int64_t index, int64_t size,
                         unsigned char (*path)[AUDIT_HASH_LEN], size_t *n, err_t *err);
/* RFC 9162 2.1.4.1: the consistency proof from the tree of size from to the
 * tree of size to (0 <= from <= to; empty when from is 0 or from == to). */
int audit_tree_consistency(const struct audit_tree_source *src, int64_t from, int64_t to,
                           unsigned char (*proof)[AUDIT_HASH_LEN], size_t *n, err_t *err);
/* RFC 9162 2.1.3.2: true when path proves leaf at index in the tree of
 * size with root. */
bool audit_tree_verify_inclusion(const unsigned char leaf[AUDIT_HASH_LEN], int64_t index,
                                 int64_t size, const unsigned char (*path)[AUDIT_HASH_LEN],
                                 size_t n, const unsigned char root[AUDIT_HASH_LEN]);
/* RFC 9162 2.1.4.2: true when proof shows that the tree of size to with
 * new_root extends the tree of size from with old_root. */
bool audit_tree_verify_consistency(int64_t from, int64_t to,
                                   const unsigned char old_root[AUDIT_HASH_LEN],
                                   const unsigned char new_root[AUDIT_HASH_LEN],
                                   const unsigned char (*proof)[AUDIT_HASH_LEN], size_t n);

/* The store's tree: a source reading audit_tree_node on c (which must stay
 * with the caller while src is used). */
struct audit_tree_store {
    store_conn_t *conn;
};
void audit_tree_store_source(struct audit_tree_store *ts, store_conn_t *c,
                             struct audit_tree_source *src);
/* audit_tree_inclusion and audit_tree_consistency on the store's tree on
 * c, with every node the proof needs read in one statement (a few for a
 * very long proof) instead of a statement per node. */
int audit_tree_store_inclusion(store_conn_t *c, int64_t index, int64_t size,
                               unsigned char (*path)[AUDIT_HASH_LEN], size_t *n, err_t *err);
int audit_tree_store_consistency(store_conn_t *c, int64_t from, int64_t to,
                                 unsigned char (*proof)[AUDIT_HASH_LEN], size_t *n, err_t *err);
/* The number of leaves the store's tree holds. */
int audit_tree_size(store_conn_t *c, int64_t *out, err_t *err);

/* Entry seq in its canonical encoding (appended to out); DUPLA_ENOTFOUND
 * when there is no such entry. */
int audit_entry_canonical(store_conn_t *c, int64_t seq, buf_t *out, err_t *err);

/* ---- signed tree heads: C2SP checkpoints in signed notes (note.c) ---- */

/*
 * With every chain checkpoint the writer signs a tree head of the same entry
 * as a C2SP tlog-checkpoint in a C2SP signed note, with the same Ed25519 key:
 *
 *     <origin>\n<tree size>\n<base64 root hash>\n
 *     \n
 *     \u2014 <origin> <base64(key hash (4 bytes) || Ed25519 signature)>\n
 *
 * The key's name is the origin; its hash is the first 4 bytes of
 * SHA-256(origin || "\n" || 0x01 || public key). Base64 is the standard
 * alphabet with padding. See docs/transparency.md.
 */
#define AUDIT_ORIGIN_MAX 128  /* bytes of an origin, with its NUL */
#define AUDIT_NOTE_MAX   1024 /* bytes of a signed checkpoint note, with its NUL */
#define AUDIT_VKEY_MAX   256  /* bytes of a verifier key text, with its NUL */

struct audit_tree_head {
    int64_t size;    /* entries 1..size */
    int64_t time_ms; /* when it was signed */
    unsigned char root[AUDIT_HASH_LEN];
    char note[AUDIT_NOTE_MAX]; /* the signed note, NUL-terminated */
    size_t note_len;
};

/* What a checkpoint note says. */
struct audit_note {
    char origin[AUDIT_ORIGIN_MAX];
    int64_t size;
    unsigned char root[AUDIT_HASH_LEN];
};

/* The default origin of a log: "dupla/udleveringslog/<environment>". */
#define AUDIT_ORIGIN_DEFAULT_PREFIX "dupla/udleveringslog/"

/* Signs the checkpoint (origin, size, root) into out (AUDIT_NOTE_MAX bytes,
 * NUL-terminated; *len its length). */
int audit_note_sign(pki_signer_t *signer, const char *origin, int64_t size,
                    const unsigned char root[AUDIT_HASH_LEN], char *out, size_t *len, err_t *err);
/* Parses a checkpoint note and checks that a signature line by key (name,
 * pub) verifies: 0 with *out filled; DUPLA_EINVAL for a malformed note,
 * DUPLA_ECRYPTO when no signature of that key verifies. */
int audit_note_open(str_t note, const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                    struct audit_note *out, err_t *err);
/* The signed-note key hash of (name, Ed25519 pub). */
void audit_note_key_hash(const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                         unsigned char out[4]);
/* The verifier key "<name>+<hex key hash>+<base64(0x01 || pub)>" into out
 * (AUDIT_VKEY_MAX bytes); returns its length. */
size_t audit_note_vkey(const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN], char *out);
/* Parses a verifier key (name into cap bytes). */
int audit_note_vkey_parse(str_t vkey, char *name, size_t cap,
                          unsigned char pub[PKI_ED25519_PUB_LEN], err_t *err);

/* Stored heads, on a connection the caller holds. DUPLA_ENOTFOUND when
 * there is none. latest: the newest; at: of exactly size; covering: the
 * oldest whose tree holds entry seq. */
int audit_tree_head_latest(store_conn_t *c, struct audit_tree_head *out, err_t *err);
int audit_tree_head_at(store_conn_t *c, int64_t size, struct audit_tree_head *out, err_t *err);
int audit_tree_head_covering(store_conn_t *c, int64_t seq, struct audit_tree_head *out, err_t *err);
/* Up to limit heads with sizes above after, oldest first; *out is
 * malloc'ed (free it). */
int audit_tree_heads_conn(store_conn_t *c, int64_t after, unsigned limit,
                          struct audit_tree_head **out, size_t *n, err_t *err);
int audit_tree_heads(store_t *st, int64_t after, unsigned limit, struct audit_tree_head **out,
                     size_t *n, err_t *err);

/* ---- receipts (receipt.c; served by GET /api/receipts/<seq>) ---- */

struct audit_receipt_info {
    int64_t seq, tree_size;
    unsigned char root[AUDIT_HASH_LEN]; /* the signed checkpoint's */
    unsigned char leaf[AUDIT_HASH_LEN]; /* the entry's leaf hash */
};
/* Checks a receipt (JSON, docs/transparency.md section 6) with the log's
 * key (name, pub): its checkpoint's signature and the entry's inclusion.
 * DUPLA_EINVAL for a malformed receipt, DUPLA_ECRYPTO for one that does
 * not verify (err names the part). */
int audit_receipt_check(str_t text, const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                        struct audit_receipt_info *out, err_t *err);

/* ---- data errors: marking, tracing, telling (erratum.c) ---- */

/*
 * The data owner marks a delivery, or a set of record versions, as
 * erroneous; the disclosures that included them are found through what
 * the log's version 2 entries recorded (audit_entry_delivery,
 * audit_entry_version), grouped per recipient organisation and agreement,
 * and each recipient organisation is sent one notice through the mail
 * outbox (src/mail). See erratum.c for the exactness argument and
 * docs/transparency.md section 8.
 */
#define AUDIT_ERRATUM_TEXT_MAX     2000   /* bytes of a reason or a replacement */
#define AUDIT_ERRATUM_VERSIONS_MAX 1000   /* versions in one mark */
#define AUDIT_ERRATUM_TRACE_MAX    200000 /* disclosures of one mark's data found */

/* One record version marked: (service, subject, period, version). */
struct audit_erratum_version {
    str_t service;
    enum audit_subject_kind kind;
    str_t subject;
    str_t period; /* as the log records it ("2023"); "" for a service without periods */
    int64_t version;
};

/* What is marked: a whole delivery, or versions (not both). Borrowed. */
struct audit_erratum_mark {
    str_t delivery_id;
    const struct audit_erratum_version *versions;
    size_t n_versions;
    str_t reason;      /* required: what is wrong */
    str_t replacement; /* what replaces the data (a delivery, a date); may be "" */
    str_t actor;       /* who marked it */
};

/* Records the mark (0, *id) or, when the same delivery or the same set of
 * versions was marked before, answers that one (*existed). DUPLA_EINVAL /
 * DUPLA_ELIMIT name the parameter at fault ("delivery", "version",
 * "service", "reason", "replacement"). */
int audit_erratum_mark(store_t *st, const struct audit_erratum_mark *m, int64_t now_ms, int64_t *id,
                       bool *existed, err_t *err);

/* The report of mark id (a new JSON object, the caller's): the mark (id,
 * time, marked_by, reason, replacement, delivery, versions), "disclosures"
 * (how many entries included its data), and "recipients": per organisation
 * its subjects' count, its notice (time, mailbox, disclosures) or null, and
 * per agreement the disclosures (seq, time, agreement_version,
 * case_reference, exact), the case references, the subjects' count, the
 * periods and the first and last disclosure. DUPLA_ENOTFOUND (param "id"). */
int audit_erratum_report(store_t *st, int64_t id, json_t **out, err_t *err);
/* Every mark, newest first (a new JSON array). */
int audit_erratum_list(store_t *st, json_t **out, err_t *err);

/* The contact mailbox of organisation org_cvr into out (cap bytes; "" when
 * it has none): 0, DUPLA_ENOTFOUND, or an error that stops the run. */
typedef int (*audit_contact_fn)(void *ctx, const char *org_cvr, char *out, size_t cap, err_t *err);

struct audit_erratum_sent {
    size_t recipients; /* organisations that received the data */
    size_t queued;     /* notices queued by this run */
    size_t already;    /* recipients told before */
    size_t no_mailbox; /* of queued: no contact mailbox (kept as failed mail) */
};
/* Queues one notice per recipient organisation of mark id not yet told,
 * each in one transaction with its audit_erratum_notice row: running it
 * again tells nobody twice. */
int audit_erratum_notify(store_t *st, int64_t id, audit_contact_fn contact, void *ctx,
                         int64_t now_ms, struct audit_erratum_sent *out, err_t *err);

/* ---- witnesses (witness.c; `dupla audit witness`) ---- */

/* How a witness reaches the log: GET path (e.g. "/transparency/checkpoint")
 * into out; 0, or an error (a status other than 200 is one). */
struct audit_witness_fetch {
    int (*get)(void *ctx, const char *path, buf_t *out, err_t *err);
    void *ctx;
};

enum audit_witness_verdict {
    AUDIT_WITNESS_FIRST = 0,   /* no checkpoint seen before: this one is kept */
    AUDIT_WITNESS_SAME,        /* the same tree as last time */
    AUDIT_WITNESS_EXTENDED,    /* a larger tree, proved to extend the last */
    AUDIT_WITNESS_SPLIT,       /* another tree of the same size: a split view */
    AUDIT_WITNESS_ROLLED_BACK, /* a smaller tree than one signed before */
    AUDIT_WITNESS_REWRITTEN,   /* a larger tree whose consistency proof fails */
};
#define audit_witness_failed(v) ((v) >= AUDIT_WITNESS_SPLIT)
const char *audit_witness_verdict_name(enum audit_witness_verdict v);

struct audit_witness_result {
    enum audit_witness_verdict verdict;
    int64_t old_size, new_size;
    char origin[AUDIT_ORIGIN_MAX];
    char detail[512];    /* one line for a person */
    char evidence[4200]; /* on a failure: the file keeping both checkpoints, or "" */
};

/* Fetches the log's newest checkpoint, checks it with the verifier key
 * (vkey on the first run, kept in dir; later runs may repeat it, and a
 * different one is refused) and against the last one accepted (kept in
 * dir), and keeps it when it is consistent. Returns 0 when the check ran,
 * whatever it found (out->verdict), or an error when it could not run. */
int audit_witness_run(const char *dir, str_t vkey, const struct audit_witness_fetch *fetch,
                      struct audit_witness_result *out, err_t *err);

/* ---- checkpoints ---- */

#define AUDIT_ENV_MAX 16

struct audit_checkpoint {
    int64_t seq;                              /* the last entry it covers */
    int64_t time_ms;                          /* when it was signed */
    unsigned char chain_hash[AUDIT_HASH_LEN]; /* entry_hash of entry seq */
    char environment[AUDIT_ENV_MAX];
    char kid[PKI_KID_MAX];
    unsigned char public_key[PKI_ED25519_PUB_LEN];
    unsigned char signature[PKI_ED25519_SIG_LEN];
};

/*
 * The signed message of a checkpoint: ASCII text, each line ending in "\n":
 *     dupla-audit-checkpoint-v1
 *     environment=<environment>
 *     seq=<decimal>
 *     chain_hash=<64 lowercase hex digits>
 *     time_ms=<decimal>
 * so that a third party can check a signature with any Ed25519 tool.
 */
#define AUDIT_CHECKPOINT_MSG_MAX 256
/* Writes the message into out (AUDIT_CHECKPOINT_MSG_MAX bytes); returns its length. */
size_t audit_checkpoint_message(const struct audit_checkpoint *cp, char *out);
/* 0 if cp's signature verifies with pub (PKI_ED25519_PUB_LEN bytes), else DUPLA_ECRYPTO. */
int audit_checkpoint_check(const struct audit_checkpoint *cp, const unsigned char *pub, err_t *err);

/* The most recent checkpoint (DUPLA_ENOTFOUND when there is none). */
int audit_checkpoint_latest(store_t *st, struct audit_checkpoint *out, err_t *err);

/* The export format: a JSON object with format "dupla-audit-checkpoint-1",
 * environment, seq, time (UTC text), time_ms, chain_hash (hex), kid,
 * public_key and signature (base64url). Appends it to out. */
int audit_checkpoint_to_json(const struct audit_checkpoint *cp, buf_t *out);
/* Parses an exported checkpoint; checks its form, not its signature. */
int audit_checkpoint_from_json(str_t text, struct audit_checkpoint *out, err_t *err);

/* ---- verification ---- */

enum audit_problem {
    AUDIT_PROBLEM_NONE = 0,
    AUDIT_PROBLEM_CHANGED,       /* an entry's contents (or stored hashes) were altered */
    AUDIT_PROBLEM_REMOVED,       /* an entry is missing */
    AUDIT_PROBLEM_INSERTED,      /* an entry that was never recorded is in the chain */
    AUDIT_PROBLEM_REORDERED,     /* entries are out of their recorded order */
    AUDIT_PROBLEM_BROKEN,        /* the chain breaks; what happened cannot be told */
    AUDIT_PROBLEM_CHECKPOINT,    /* a checkpoint's signature or key is bad */
    AUDIT_PROBLEM_REWRITTEN,     /* a checkpoint's chain hash differs from the log's */
    AUDIT_PROBLEM_TRUNCATED,     /* the log ends before a checkpoint it signed */
    AUDIT_PROBLEM_NOT_CONTINUED, /* the log does not continue the given checkpoint */
    AUDIT_PROBLEM_TREE,          /* a stored node of the Merkle tree differs from the entries' */
};

const char *audit_problem_name(enum audit_problem p);

#define AUDIT_VERIFY_KEYS_MAX 16
#define AUDIT_DETAIL_MAX      320

struct audit_verify_options {
    /* Pinned public keys (raw Ed25519): every checkpoint must verify with
     * one of them. None: checkpoints verify with the key stored beside them
     * (which shows they were not edited, but not who signed them). */
    const unsigned char (*public_keys)[PKI_ED25519_PUB_LEN];
    size_t n_public_keys;
    /* An exported checkpoint the log must continue, or NULL. Its signature
     * is checked (against the pinned keys when given). */
    const struct audit_checkpoint *since;
    /* Called about every AUDIT_VERIFY_PROGRESS_EVERY entries; may be NULL. */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
};
#define AUDIT_VERIFY_PROGRESS_EVERY 65536

struct audit_verify_result {
    bool ok;
    int64_t entries;     /* entries checked */
    int64_t checkpoints; /* checkpoints whose signatures were checked */
    int64_t head_seq;    /* the last entry (when ok) */
    unsigned char head_hash[AUDIT_HASH_LEN];
    bool keys_pinned;     /* checkpoints were checked against pinned keys */
    int64_t tree_checked; /* leaves whose stored tree nodes were recomputed and matched */
    int64_t tree_heads;   /* signed tree heads whose signatures and roots were checked */
    /* The first problem (when !ok). */
    enum audit_problem problem;
    int64_t seq; /* where: the first entry that is not as recorded */
    char detail[AUDIT_DETAIL_MAX];
};

/* Recomputes the whole chain, checks every checkpoint, and reports the first
 * problem in *out. Returns 0 when the check ran (whatever it found), or an
 * error when it could not run (store failure). */
int audit_verify(store_t *st, const struct audit_verify_options *opt,
                 struct audit_verify_result *out, err_t *err);

/* ---- queries ---- */

struct audit_filter {
    str_t org_cvr;      /* "" = any */
    str_t agreement_id; /* "" = any */
    str_t service;      /* "" = any */
    str_t subject;      /* a CPR/CVR/SE number; "" = any */
    bool subject_kind_set;
    enum audit_subject_kind subject_kind; /* with subject, when subject_kind_set */
    int64_t from_ms;                      /* time >= from_ms; 0 = no bound */
    int64_t to_ms;                        /* time < to_ms; 0 = no bound */
    bool outcome_set;
    enum audit_outcome outcome;
    int64_t after; /* keyset cursor: rows past this seq in the page order; 0 = start */
    bool newest_first;
    unsigned limit; /* 0 = AUDIT_PAGE_DEFAULT; at most AUDIT_PAGE_MAX */
};

/* What the agreement module knows of an agreement (a join point: the log
 * stores only the id and version). */
struct audit_agreement_info {
    const char *purpose;     /* owned by the arena given to the lookup */
    const char *legal_basis; /* ditto */
};
/* Fills *out for (id, version); DUPLA_ENOTFOUND leaves the row without them. */
typedef int (*audit_agreement_lookup_fn)(void *ctx, str_t agreement_id, int64_t version,
                                         arena_t *arena, struct audit_agreement_info *out,
                                         err_t *err);

struct audit_row {
    int64_t seq;
    int64_t time_ms;
    const char *environment;
    const char *org_cvr;
    const char *system_id;
    const char *agreement_id;
    int64_t agreement_version;
    const char *service;
    const char *request_id;
    const char *transaction_id;
    struct audit_subject *subjects; /* with a subject filter: only that subject */
    size_t n_subjects;
    str_t *periods;
    size_t n_periods;
    str_t *fields;
    size_t n_fields;
    int64_t record_count;
    enum audit_outcome outcome;
    const char *reason;
    unsigned char entry_hash[AUDIT_HASH_LEN];
    int format;               /* the canonical encoding's version (1, 2 or 3) */
    const char *case_ref;     /* the recipient's case reference; "" = none */
    const char *supplier_cvr; /* the supplier whose certificate made the call; "" = none */
    const char *on_behalf_se; /* the company (SE number) the call acted for; "" = none */
    const char *purpose;      /* from the agreement lookup, or NULL */
    const char *legal_basis;  /* ditto */
};

struct audit_page {
    struct audit_row *rows;
    size_t n;
    int64_t next; /* cursor for the next page (filter.after), or 0 when this was the last */
};

struct audit_query_options {
    audit_agreement_lookup_fn agreement_lookup; /* may be NULL */
    void *agreement_ctx;
};

/* Who is asking, for the role checks: each sees only what it has a right to. */
enum audit_viewer {
    AUDIT_VIEWER_DATA_OWNER = 0, /* the platform's staff: every entry */
    AUDIT_VIEWER_RECIPIENT = 1,  /* an organisation's administrator: its own disclosures */
    AUDIT_VIEWER_SUBJECT = 2,    /* a citizen or company (or staff on its behalf): entries
                                    about one subject, and only that subject shown */
};

/* Narrows f to what viewer may see: a recipient's filter gets its own CVR
 * (DUPLA_EFORBIDDEN if f names another organisation); a subject view needs
 * f->subject (DUPLA_EINVAL, param "subject"). own_cvr is the recipient's CVR
 * (ignored for the other viewers). */
int audit_filter_scope(enum audit_viewer viewer, str_t own_cvr, struct audit_filter *f, err_t *err);

/* One page of entries matching f. Everything in *page is allocated from
 * arena (DUPLA_ELIMIT when it runs out). opt may be NULL. */
int audit_query(store_t *st, const struct audit_filter *f, const struct audit_query_options *opt,
                arena_t *arena, struct audit_page *page, err_t *err);

/* ---- partitions (PostgreSQL) ---- */

/* On PostgreSQL the log's tables are partitioned by calendar month (UTC) of
 * time_ms, with a DEFAULT partition that catches what no month holds (see
 * partition.c). SQLite keeps single tables: there every call below answers
 * DUPLA_EINVAL with a message saying that partitions are a PostgreSQL
 * feature. */
#define AUDIT_PARTITIONS_AHEAD_DEFAULT 3 /* months created after the current one */
#define AUDIT_PARTITIONS_AHEAD_MAX     120
#define AUDIT_PARTITIONS_UPKEEP_MS     (24 * 3600 * 1000LL) /* the writer's upkeep interval */

struct audit_partition {
    char name[32];          /* "p2026_12" (the tables are audit_entry_<name> and
                               audit_entry_subject_<name>), or "default" */
    bool is_default;        /* the DEFAULT partition (from_ms, to_ms are 0) */
    int64_t from_ms, to_ms; /* the months' bounds: [from_ms, to_ms) */
    int64_t entries;        /* rows of audit_entry in it */
    int64_t subjects;       /* rows of audit_entry_subject in it */
};

/* true when the store partitions the log (PostgreSQL). */
bool audit_partitioned(store_t *st);
/* The partitions, oldest first and DEFAULT last, with exact row counts (a
 * scan of each: minutes on a very large log). *out is malloc'ed; free() it. */
int audit_partitions_list(store_t *st, struct audit_partition **out, size_t *n, err_t *err);
/* Creates the partitions of now_ms's month and the `ahead` months after it
 * (at most AUDIT_PARTITIONS_AHEAD_MAX), and moves any rows found in the
 * DEFAULT partitions into partitions of their own months. *created (may be
 * NULL): how many months were created. Safe beside a running writer and
 * other nodes (an advisory lock; writers wait for the moment it takes). */
int audit_partitions_ensure(store_t *st, int64_t now_ms, unsigned ahead, int *created, err_t *err);
/* Retention: drops the months that end at or before before_ms, only if
 * every one of them is empty (DUPLA_ECONFLICT naming the first that is not,
 * and nothing dropped): the chain is verified from its first entry, so a
 * month with entries cannot go without breaking `audit verify`. */
int audit_partitions_drop_before(store_t *st, int64_t before_ms, int *dropped, err_t *err);

/* ---- writers ---- */

/* CSV (RFC 4180, a header line, CRLF line ends): one row per entry; lists
 * are joined with ';' (subjects as kind:number). A cell that a spreadsheet
 * would take for a formula (= + - @ at its start) gets a leading '. */
int audit_csv_header(buf_t *out);
/* The same columns with Danish names (the web pages' exports). */
int audit_csv_header_da(buf_t *out);
int audit_row_csv(const struct audit_row *r, buf_t *out);
/* The row for the pages' export: its time in Danish local time with the
 * offset ("2026-12-02T18:08:05+01:00"), where the API's is UTC. */
int audit_row_csv_da(const struct audit_row *r, buf_t *out);
/* One entry as a JSON object. */
int audit_row_json(const struct audit_row *r, buf_t *out);
/* A whole page: {"data":[rows...],"next":cursor|null}. */
int audit_page_json(const struct audit_page *p, buf_t *out);

#endif
