/*
 * verify.c: recomputing the chain and checking the checkpoints.
 *
 * Entries are read in seq order with their subjects (a second cursor over
 * audit_entry_subject, merged by seq), re-encoded canonically and hashed.
 * Entry k is as recorded when its stored prev_hash is the hash verified for
 * k-1 and its stored entry_hash is SHA-256(that || canonical(k)). At the
 * first entry that is not, the stored hashes around it tell what happened:
 *
 *   a seq is missing                         -> removed
 *   prev_hash fits, contents do not          -> changed (or inserted, when the
 *                                               next entry also follows k-1)
 *   contents fit, prev_hash does not         -> changed (its prev_hash)
 *   prev_hash is the hash of a later entry   -> reordered
 *   prev_hash is the hash of an earlier one  -> inserted (the entries between)
 *   prev_hash is nobody's, the next entry
 *     follows k-1                            -> inserted
 *   prev_hash is nobody's, the next entry
 *     follows k                              -> removed (and renumbered)
 *
 * Someone who rewrites the chain consistently (recomputing every hash after
 * an edit) is caught by the first signed checkpoint after the edit: its
 * chain hash no longer matches (rewritten).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

const char *audit_problem_name(enum audit_problem p)
{
    switch (p) {
    case AUDIT_PROBLEM_NONE:
        return "none";
    case AUDIT_PROBLEM_CHANGED:
        return "changed";
    case AUDIT_PROBLEM_REMOVED:
        return "removed";
    case AUDIT_PROBLEM_INSERTED:
        return "inserted";
    case AUDIT_PROBLEM_REORDERED:
        return "reordered";
    case AUDIT_PROBLEM_BROKEN:
        return "broken";
    case AUDIT_PROBLEM_CHECKPOINT:
        return "bad-checkpoint";
    case AUDIT_PROBLEM_REWRITTEN:
        return "rewritten";
    case AUDIT_PROBLEM_TRUNCATED:
        return "truncated";
    case AUDIT_PROBLEM_NOT_CONTINUED:
        return "not-continued";
    case AUDIT_PROBLEM_TREE:
        return "tree";
    }
    return "?";
}

static void problem(struct audit_verify_result *r, enum audit_problem p, int64_t seq,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void problem(struct audit_verify_result *r, enum audit_problem p, int64_t seq,
                    const char *fmt, ...)
{
    r->ok = false;
    r->problem = p;
    r->seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

struct verifier {
    store_conn_t *c;
    const struct audit_verify_options *opt;
    struct audit_verify_result *r;
    struct audit_checkpoint *cps;
    size_t n_cps, next_cp;
    buf_t canon;
    /* the cursors over the entries' child rows (subjects, deliveries, versions) */
    struct audit_stored children;
    /* the Merkle tree: its edge as recomputed, and the stored nodes cursor
     * (NULL before migration audit/3, or once the stored tree has ended) */
    struct audit_tree_edge edge;
    store_stmt_t *nodes;
    bool node_row;
    int schema;       /* the log's schema version */
    int64_t tree_bad; /* the first entry whose tree nodes differ (0: none) */
    int tree_bad_level;
    /* the signed tree heads, in size order (NULL before migration audit/3) */
    store_stmt_t *heads;
    bool head_row;
};

/* The public key a tree head at size must verify with: a pinned one, or the
 * one stored with the chain checkpoint signed beside it. NULL: none. */
static const unsigned char *head_key(struct verifier *v, int64_t size, str_t note, const char *name)
{
    if (v->opt->n_public_keys) {
        for (size_t i = 0; i < v->opt->n_public_keys; i++) {
            struct audit_note n;
            err_t e;
            if (audit_note_open(note, name, v->opt->public_keys[i], &n, &e) == 0)
                return v->opt->public_keys[i];
        }
        return v->opt->public_keys[0];
    }
    size_t lo = 0, hi = v->n_cps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->cps[mid].seq < size)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_cps && v->cps[lo].seq == size ? v->cps[lo].public_key : NULL;
}

/* Checks the signed tree heads at seq (the tree of seq entries has just
 * been recomputed: its root is the edge's). */
static bool heads_at(struct verifier *v, int64_t seq, err_t *err, int *rc)
{
    while (v->heads && v->head_row && store_col_int64(v->heads, 0) <= seq) {
        int64_t size = store_col_int64(v->heads, 0);
        str_t root = store_col_blob(v->heads, 1), note = store_col_text(v->heads, 2);
        /* the key's name is the note's first line, the origin */
        char name[AUDIT_ORIGIN_MAX] = "";
        const char *nl = note.len ? memchr(note.ptr, '\n', note.len) : NULL;
        if (nl && (size_t)(nl - note.ptr) < sizeof name)
            memcpy(name, note.ptr, (size_t)(nl - note.ptr));
        const unsigned char *key = head_key(v, size, note, name);
        struct audit_note n;
        err_t e;
        if (size != seq || root.len != AUDIT_HASH_LEN || !key ||
            audit_note_open(note, name, key, &n, &e) != 0 || n.size != size ||
            memcmp(n.root, root.ptr, AUDIT_HASH_LEN) != 0) {
            problem(v->r, AUDIT_PROBLEM_CHECKPOINT, size,
                    "the signed tree head at entry %" PRId64
                    " is not validly signed (or its row was edited)",
                    size);
            return false;
        }
        unsigned char want[AUDIT_HASH_LEN];
        audit_tree_edge_root(&v->edge, want);
        if (memcmp(want, n.root, AUDIT_HASH_LEN) != 0) {
            problem(v->r, AUDIT_PROBLEM_REWRITTEN, size,
                    "the Merkle tree's root at entry %" PRId64
                    " differs from its signed tree head: the log was rewritten at or before it",
                    size);
            return false;
        }
        v->r->tree_heads++;
        int st = store_step(v->heads, err);
        if (st < 0) {
            *rc = st;
            return false;
        }
        v->head_row = st == STORE_ROW;
    }
    return true;
}

/* Recomputes the tree nodes that entry seq completes and compares them with
 * the stored ones, in their key order (end_size, level). A stored tree that
 * ends before the log (a writer committing meanwhile, or a tree still being
 * built) is checked as far as it goes. The first node that differs is kept
 * and reported only when the chain holds (the chain's diagnosis of an
 * edited entry says more). */
static bool tree_at(struct verifier *v, int64_t seq, str_t canonical, err_t *err, int *rc)
{
    unsigned char leaf[AUDIT_HASH_LEN], nodes[AUDIT_TREE_LEVELS][AUDIT_HASH_LEN];
    audit_tree_leaf_hash(canonical, leaf);
    int n = audit_tree_edge_push(&v->edge, leaf, nodes);
    if (!v->nodes)
        return true;
    for (int l = 0; l < n; l++) {
        if (!v->node_row) {
            store_stmt_done(v->nodes);
            v->nodes = NULL;
            return true;
        }
        int64_t end = store_col_int64(v->nodes, 0), level = store_col_int64(v->nodes, 1);
        str_t h = store_col_blob(v->nodes, 2);
        if (end != seq || level != l || h.len != AUDIT_HASH_LEN ||
            memcmp(h.ptr, nodes[l], AUDIT_HASH_LEN) != 0) {
            v->tree_bad = seq;
            v->tree_bad_level = l;
            store_stmt_done(v->nodes);
            v->nodes = NULL;
            return true;
        }
        int st = store_step(v->nodes, err);
        if (st < 0) {
            *rc = st;
            return false;
        }
        v->node_row = st == STORE_ROW;
    }
    v->r->tree_checked = seq;
    return true;
}

/* Checks cp's signature against the pinned keys, or the key stored with it. */
static bool checkpoint_signed(struct verifier *v, const struct audit_checkpoint *cp,
                              const char *what)
{
    err_t e;
    err_clear(&e);
    const unsigned char *key = cp->public_key;
    if (v->opt->n_public_keys) {
        key = NULL;
        for (size_t i = 0; i < v->opt->n_public_keys; i++)
            if (memcmp(v->opt->public_keys[i], cp->public_key, PKI_ED25519_PUB_LEN) == 0)
                key = v->opt->public_keys[i];
        if (!key) {
            problem(v->r,
                    strcmp(what, "the given checkpoint") == 0 ? AUDIT_PROBLEM_NOT_CONTINUED
                                                              : AUDIT_PROBLEM_CHECKPOINT,
                    cp->seq, "%s (seq %" PRId64 ") is signed by key %s, not by a given public key",
                    what, cp->seq, cp->kid);
            return false;
        }
    }
    if (audit_checkpoint_check(cp, key, &e)) {
        problem(v->r,
                strcmp(what, "the given checkpoint") == 0 ? AUDIT_PROBLEM_NOT_CONTINUED
                                                          : AUDIT_PROBLEM_CHECKPOINT,
                cp->seq, "%s (seq %" PRId64 ", key %s): the signature is not valid", what, cp->seq,
                cp->kid);
        return false;
    }
    return true;
}

/* Looks for an entry other than not_seq whose stored hash is h: its seq, or 0. */
static int find_by_hash(struct verifier *v, const unsigned char *h, int64_t not_seq, int64_t *out,
                        err_t *err)
{
    store_stmt_t *s;
    *out = 0;
    int rc = store_prepare(v->c,
                           "SELECT seq FROM audit_entry WHERE entry_hash = ? AND seq <> ? "
                           "ORDER BY seq LIMIT 1",
                           &s, err);
    if (rc)
        return rc;
    store_bind_blob(s, 1, h, AUDIT_HASH_LEN);
    store_bind_int64(s, 2, not_seq);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *out = store_col_int64(s, 0);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* The stored prev_hash of the first entry after seq (has = false if none). */
static int next_prev_hash(struct verifier *v, int64_t seq, bool *has, unsigned char *out,
                          err_t *err)
{
    store_stmt_t *s;
    *has = false;
    int rc = store_prepare(
        v->c, "SELECT prev_hash FROM audit_entry WHERE seq > ? ORDER BY seq LIMIT 1", &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, seq);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        str_t p = store_col_blob(s, 0);
        if (p.len == AUDIT_HASH_LEN) {
            memcpy(out, p.ptr, AUDIT_HASH_LEN);
            *has = true;
        }
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Entry k (at its expected place) does not fit the chain: tells what happened. */
static int classify(struct verifier *v, int64_t k, const unsigned char *chain,
                    const unsigned char *stored_prev, const unsigned char *stored_hash,
                    const unsigned char *computed, err_t *err)
{
    bool prev_ok = memcmp(stored_prev, chain, AUDIT_HASH_LEN) == 0;
    bool hash_ok = memcmp(stored_hash, computed, AUDIT_HASH_LEN) == 0;
    unsigned char next_prev[AUDIT_HASH_LEN];
    bool has_next;
    int rc = next_prev_hash(v, k, &has_next, next_prev, err);
    if (rc)
        return rc;
    bool next_follows_prev = has_next && memcmp(next_prev, chain, AUDIT_HASH_LEN) == 0;
    bool next_follows_this = has_next && memcmp(next_prev, stored_hash, AUDIT_HASH_LEN) == 0;
    bool next_follows_computed = has_next && memcmp(next_prev, computed, AUDIT_HASH_LEN) == 0;

    if (prev_ok && !hash_ok) {
        if (next_follows_prev)
            problem(v->r, AUDIT_PROBLEM_INSERTED, k,
                    "entry %" PRId64 " was not recorded: the entry after it follows entry %" PRId64
                    " directly",
                    k, k - 1);
        else if (next_follows_computed)
            problem(v->r, AUDIT_PROBLEM_CHANGED, k,
                    "entry %" PRId64 ": its stored hash was changed (its contents are intact)", k);
        else
            problem(v->r, AUDIT_PROBLEM_CHANGED, k,
                    "entry %" PRId64 ": its contents were changed (they do not match its hash)", k);
        return 0;
    }
    if (!prev_ok && hash_ok) {
        problem(v->r, AUDIT_PROBLEM_CHANGED, k,
                "entry %" PRId64 ": its stored predecessor hash was changed", k);
        return 0;
    }
    int64_t j;
    if ((rc = find_by_hash(v, stored_prev, k, &j, err)))
        return rc;
    if (j > k) {
        if (j == k + 1)
            problem(v->r, AUDIT_PROBLEM_REORDERED, k,
                    "entries %" PRId64 " and %" PRId64 " are out of order (swapped): entry %" PRId64
                    " was recorded after entry %" PRId64,
                    k, j, k, j);
        else
            problem(v->r, AUDIT_PROBLEM_REORDERED, k,
                    "entry %" PRId64 " is out of order: it was recorded after entry %" PRId64, k,
                    j);
    } else if (j > 0 && j < k - 1) {
        problem(v->r, AUDIT_PROBLEM_INSERTED, j + 1,
                "entries %" PRId64 " to %" PRId64 " were not recorded: entry %" PRId64
                " follows entry %" PRId64 " directly",
                j + 1, k - 1, k, j);
    } else if (next_follows_prev) {
        problem(v->r, AUDIT_PROBLEM_INSERTED, k,
                "entry %" PRId64 " was not recorded: the entry after it follows entry %" PRId64
                " directly",
                k, k - 1);
    } else if (next_follows_this || !has_next) {
        problem(v->r, AUDIT_PROBLEM_REMOVED, k,
                "an entry was removed before entry %" PRId64
                ": it follows an entry that is no longer in the log (later entries were "
                "renumbered)",
                k);
    } else {
        problem(v->r, AUDIT_PROBLEM_BROKEN, k,
                "entry %" PRId64 " does not follow entry %" PRId64 " and its contents do not "
                "match its hash",
                k, k - 1);
    }
    return 0;
}

/* Checks the checkpoints at seq (entry seq has just verified with hash h). */
static bool checkpoints_at(struct verifier *v, int64_t seq, const unsigned char *h)
{
    while (v->next_cp < v->n_cps && v->cps[v->next_cp].seq <= seq) {
        const struct audit_checkpoint *cp = &v->cps[v->next_cp++];
        if (!checkpoint_signed(v, cp, "checkpoint"))
            return false;
        v->r->checkpoints++;
        if (memcmp(cp->chain_hash, h, AUDIT_HASH_LEN) != 0) {
            int64_t good = v->next_cp >= 2 ? v->cps[v->next_cp - 2].seq : 0;
            problem(v->r, AUDIT_PROBLEM_REWRITTEN, good + 1,
                    "the chain hash at entry %" PRId64 " differs from the signed checkpoint: "
                    "entries %" PRId64 " to %" PRId64 " were rewritten after it was signed",
                    seq, good + 1, seq);
            return false;
        }
    }
    const struct audit_checkpoint *since = v->opt->since;
    if (since && since->seq == seq && memcmp(since->chain_hash, h, AUDIT_HASH_LEN) != 0) {
        problem(v->r, AUDIT_PROBLEM_NOT_CONTINUED, seq,
                "the log does not continue the given checkpoint: entry %" PRId64
                " has another chain hash (the log was rewritten at or before it)",
                seq);
        return false;
    }
    return true;
}

static int run(struct verifier *v, err_t *err)
{
    struct audit_verify_result *r = v->r;
    const struct audit_verify_options *opt = v->opt;
    int64_t total = 0;
    int rc =
        store_query_int64(v->c, "SELECT COALESCE(MAX(seq), 0) FROM audit_entry", 0, &total, err);
    if (rc)
        return rc;
    if ((rc = audit_checkpoints_load(v->c, &v->cps, &v->n_cps, err)))
        return rc;
    if (opt->since && !checkpoint_signed(v, opt->since, "the given checkpoint"))
        return 0;

    store_stmt_t *s;
    if ((rc = store_prepare(v->c,
                            v->schema >= AUDIT_SCHEMA_V3 ? "SELECT " AUDIT_ENTRY_COLUMNS
                                                           " FROM audit_entry e ORDER BY seq"
                            : v->schema >= AUDIT_SCHEMA_V2 ? "SELECT " AUDIT_ENTRY_COLUMNS_V2
                                                             " FROM audit_entry e ORDER BY seq"
                                                           : "SELECT " AUDIT_ENTRY_COLUMNS_V1
                                                             " FROM audit_entry e ORDER BY seq",
                            &s, err)))
        return rc;
    if ((rc = audit_stored_open(v->c, v->schema, 1, INT64_MAX, true, &v->children, err))) {
        store_stmt_done(s);
        return rc;
    }
    store_stmt_stream(s);
    int st;

    if (v->schema >= 3) {
        if ((rc = store_prepare(v->c,
                                "SELECT tree_size, root_hash, note FROM audit_tree_head "
                                "ORDER BY tree_size",
                                &v->heads, err)))
            goto done;
        if ((st = store_step(v->heads, err)) < 0) {
            rc = st;
            goto done;
        }
        v->head_row = st == STORE_ROW;
        if ((rc = store_prepare(v->c,
                                "SELECT end_size, level, hash FROM audit_tree_node "
                                "ORDER BY end_size, level",
                                &v->nodes, err)))
            goto done;
        if ((st = store_step(v->nodes, err)) < 0) {
            rc = st;
            goto done;
        }
        v->node_row = st == STORE_ROW;
    }

    unsigned char chain[AUDIT_HASH_LEN] = {0}, computed[AUDIT_HASH_LEN];
    int64_t expected = 1;
    while ((st = store_step(s, err)) == STORE_ROW) {
        int64_t seq = store_col_int64(s, AUDIT_COL_SEQ);
        if (seq != expected) {
            if (seq > expected)
                problem(r, AUDIT_PROBLEM_REMOVED, expected,
                        seq == expected + 1
                            ? "entry %" PRId64 " was removed (the log goes on at %" PRId64 ")"
                            : "entries from %" PRId64 " were removed (the log goes on at %" PRId64
                              ")",
                        expected, seq);
            else
                problem(r, AUDIT_PROBLEM_INSERTED, seq,
                        "an entry with seq %" PRId64 " is in the log (seqs start at 1)", seq);
            goto done;
        }
        buf_reset(&v->canon);
        bool malformed = false;
        if ((rc = audit_stored_encode(&v->children, s, &v->canon, &malformed, err)))
            goto toolong;
        if (malformed) {
            problem(r, AUDIT_PROBLEM_CHANGED, seq,
                    "entry %" PRId64 ": its stored form is no longer an entry (its encoding "
                    "version, its periods or fields, or what version 1 cannot hold)",
                    seq);
            goto done;
        }
        str_t prev = store_col_blob(s, AUDIT_COL_PREV_HASH);
        str_t hash = store_col_blob(s, AUDIT_COL_ENTRY_HASH);
        if (prev.len != AUDIT_HASH_LEN || hash.len != AUDIT_HASH_LEN) {
            problem(r, AUDIT_PROBLEM_CHANGED, seq, "entry %" PRId64 ": a stored hash is malformed",
                    seq);
            goto done;
        }
        if ((rc = audit_chain_hash(chain, buf_str(&v->canon), computed))) {
            err_internal(err, rc, "audit: SHA-256 failed");
            goto done;
        }
        if (memcmp(prev.ptr, chain, AUDIT_HASH_LEN) != 0 ||
            memcmp(hash.ptr, computed, AUDIT_HASH_LEN) != 0) {
            unsigned char p[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
            memcpy(p, prev.ptr, AUDIT_HASH_LEN);
            memcpy(h, hash.ptr, AUDIT_HASH_LEN);
            rc = classify(v, seq, chain, p, h, computed, err);
            goto done;
        }
        memcpy(chain, computed, AUDIT_HASH_LEN);
        if (!tree_at(v, seq, buf_str(&v->canon), err, &rc))
            goto done;
        r->entries++;
        r->head_seq = seq;
        memcpy(r->head_hash, chain, AUDIT_HASH_LEN);
        expected++;
        if (!checkpoints_at(v, seq, chain) || !heads_at(v, seq, err, &rc))
            goto done;
        if (opt->progress && r->entries % AUDIT_VERIFY_PROGRESS_EVERY == 0)
            opt->progress(opt->progress_ctx, r->entries, total);
    }
    if (st < 0) {
        rc = st;
        goto done;
    }
    /* The whole chain holds; what it may lack is its end. */
    int64_t orphan;
    if (audit_stored_leftover(&v->children, &orphan)) {
        problem(r, orphan == expected ? AUDIT_PROBLEM_REMOVED : AUDIT_PROBLEM_INSERTED, orphan,
                "subjects, deliveries or versions are recorded for entry %" PRId64
                ", which is not in the log (the log ends at %" PRId64 ")",
                orphan, expected - 1);
        goto done;
    }
    if (v->next_cp < v->n_cps) {
        const struct audit_checkpoint *cp = &v->cps[v->next_cp];
        if (checkpoint_signed(v, cp, "checkpoint"))
            problem(r, AUDIT_PROBLEM_TRUNCATED, expected,
                    "the log ends at entry %" PRId64
                    " but a checkpoint was signed at entry %" PRId64 ": entries from %" PRId64
                    " were removed",
                    expected - 1, cp->seq, expected);
        goto done;
    }
    if (opt->since && opt->since->seq >= expected) {
        problem(r, AUDIT_PROBLEM_NOT_CONTINUED, expected,
                "the log ends at entry %" PRId64 ", before the given checkpoint's entry %" PRId64
                ": entries from %" PRId64 " were removed",
                expected - 1, opt->since->seq, expected);
        goto done;
    }
    if (v->heads && v->head_row) {
        problem(r, AUDIT_PROBLEM_TRUNCATED, expected,
                "the log ends at entry %" PRId64 " but a tree head was signed at entry %" PRId64
                ": entries from %" PRId64 " were removed",
                expected - 1, store_col_int64(v->heads, 0), expected);
        goto done;
    }
    if (v->tree_bad) {
        problem(r, AUDIT_PROBLEM_TREE, v->tree_bad,
                "the Merkle tree's node of height %d ending at entry %" PRId64
                " is not the hash of the entries (the stored tree was changed)",
                v->tree_bad_level, v->tree_bad);
        goto done;
    }
    r->ok = true;
    if (opt->progress)
        opt->progress(opt->progress_ctx, r->entries, total);
    goto done;
toolong:
    if (rc == DUPLA_ELIMIT) {
        problem(r, AUDIT_PROBLEM_CHANGED, expected,
                "entry %" PRId64 ": it is larger than any entry the log records", expected);
        rc = 0;
    }
done:
    if (v->nodes)
        store_stmt_done(v->nodes);
    if (v->heads)
        store_stmt_done(v->heads);
    audit_stored_close(&v->children);
    store_stmt_done(s);
    return rc;
}

int audit_verify(store_t *st, const struct audit_verify_options *opt,
                 struct audit_verify_result *out, err_t *err)
{
    static const struct audit_verify_options none;
    memset(out, 0, sizeof *out);
    if (!opt)
        opt = &none;
    if (opt->n_public_keys > AUDIT_VERIFY_KEYS_MAX)
        return err_param(err, DUPLA_ELIMIT, "public_keys", "at most %d public keys",
                         AUDIT_VERIFY_KEYS_MAX);
    int version = 0;
    int rc = store_schema_version(st, "audit", &version, err);
    if (rc)
        return rc;
    if (version == 0)
        return err_set(err, DUPLA_ENOTFOUND, "this store holds no disclosure log");
    struct verifier v;
    memset(&v, 0, sizeof v);
    v.opt = opt;
    v.r = out;
    v.schema = version;
    out->keys_pinned = opt->n_public_keys > 0;
    buf_init(&v.canon, AUDIT_CANONICAL_MAX);
    /* One read snapshot for the whole walk (PostgreSQL: the entries and
     * their subjects as of one moment while the server appends), in which
     * both scans are streamed: a log of 10^7 entries is not held in memory. */
    if ((rc = store_conn_get(st, &v.c, err)) == 0) {
        if ((rc = store_begin_read(v.c, err)) == 0) {
            rc = run(&v, err);
            store_end_read(v.c);
        }
        store_conn_put(v.c);
    }
    if (rc < 0)
        out->ok = false;
    buf_free(&v.canon);
    free(v.cps);
    return rc < 0 ? rc : 0;
}
