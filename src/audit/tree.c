/*
 * tree.c: the Merkle tree over the log (RFC 9162 hashing): roots, inclusion
 * and consistency proofs from stored perfect subtrees, their verification,
 * and the writer's right edge.
 *
 * Storage. audit_tree_node holds the hash of every perfect subtree, keyed
 * by (end_size, level): the subtree of 2^level leaves whose last leaf is
 * leaf end_size - 1. Appending leaf n completes the subtrees ending at
 * n + 1 of every level up to the number of trailing one bits of n, so rows
 * in key order are rows in the order they were written, and the tree's size
 * is MAX(end_size). Each left child met in RFC 9162's recursion over a tree
 * (D[0:k] with k a power of two, and recursively the left parts of the
 * right-hand parts) is a perfect subtree at an aligned offset, so a root
 * or a proof reads O(log n) rows.
 */
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

void audit_tree_leaf_hash(str_t canonical, unsigned char out[AUDIT_HASH_LEN])
{
    gnutls_hash_hd_t h;
    static const unsigned char zero = 0x00;
    /* SHA-256 cannot fail on memory input once initialised; a failed init
     * (no SHA-256 at all) leaves a hash that verifies nothing. */
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
        memset(out, 0, AUDIT_HASH_LEN);
        return;
    }
    gnutls_hash(h, &zero, 1);
    gnutls_hash(h, canonical.ptr, canonical.len);
    gnutls_hash_deinit(h, out);
}

void audit_tree_node_hash(const unsigned char left[AUDIT_HASH_LEN],
                          const unsigned char right[AUDIT_HASH_LEN],
                          unsigned char out[AUDIT_HASH_LEN])
{
    unsigned char in[1 + 2 * AUDIT_HASH_LEN];
    in[0] = 0x01;
    memcpy(in + 1, left, AUDIT_HASH_LEN);
    memcpy(in + 1 + AUDIT_HASH_LEN, right, AUDIT_HASH_LEN);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof in, out) < 0)
        memset(out, 0, AUDIT_HASH_LEN);
}

/* The largest power of two smaller than n (n >= 2). */
static int64_t split(int64_t n)
{
    int64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static bool power_of_two(int64_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

static int level_of(int64_t n)
{
    int l = 0;
    while ((INT64_C(1) << l) < n)
        l++;
    return l;
}

/* MTH(D[a:a+n]) for n >= 1, where D[a:a+n] is a part met in RFC 9162's
 * recursion (a is a multiple of the largest power of two <= n). */
static int subtree(const struct audit_tree_source *src, int64_t a, int64_t n,
                   unsigned char out[AUDIT_HASH_LEN], err_t *err)
{
    if (power_of_two(n)) {
        int l = level_of(n);
        return src->node(src->ctx, l, a >> l, out, err);
    }
    int64_t k = split(n);
    unsigned char left[AUDIT_HASH_LEN], right[AUDIT_HASH_LEN];
    int rc = subtree(src, a, k, left, err);
    if (rc || (rc = subtree(src, a + k, n - k, right, err)))
        return rc;
    audit_tree_node_hash(left, right, out);
    return 0;
}

int audit_tree_root(const struct audit_tree_source *src, int64_t size,
                    unsigned char out[AUDIT_HASH_LEN], err_t *err)
{
    if (size < 0)
        return err_param(err, DUPLA_EINVAL, "size", "a tree size cannot be negative");
    if (size == 0) {
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, "", 0, out) < 0)
            return err_internal(err, DUPLA_ECRYPTO, "audit: SHA-256 failed");
        return 0;
    }
    return subtree(src, 0, size, out, err);
}

/* PATH(m, D[a:a+n]), leaf side first, appended at path[*cnt]. */
static int path_of(const struct audit_tree_source *src, int64_t m, int64_t a, int64_t n,
                   unsigned char (*path)[AUDIT_HASH_LEN], size_t *cnt, err_t *err)
{
    if (n <= 1)
        return 0;
    int64_t k = split(n);
    int rc = m < k ? path_of(src, m, a, k, path, cnt, err)
                   : path_of(src, m - k, a + k, n - k, path, cnt, err);
    if (rc)
        return rc;
    if (*cnt >= AUDIT_PROOF_MAX)
        return err_internal(err, DUPLA_ELIMIT, "audit: a proof longer than %d hashes",
                            AUDIT_PROOF_MAX);
    return m < k ? subtree(src, a + k, n - k, path[(*cnt)++], err)
                 : subtree(src, a, k, path[(*cnt)++], err);
}

int audit_tree_inclusion(const struct audit_tree_source *src, int64_t index, int64_t size,
                         unsigned char (*path)[AUDIT_HASH_LEN], size_t *n, err_t *err)
{
    *n = 0;
    if (size < 1)
        return err_param(err, DUPLA_EINVAL, "size", "an inclusion proof needs a tree size >= 1");
    if (index < 0 || index >= size)
        return err_param(err, DUPLA_EINVAL, "seq", "the entry is not in the tree of size %" PRId64,
                         size);
    return path_of(src, index, 0, size, path, n, err);
}

/* SUBPROOF(m, D[a:a+n], b), appended at proof[*cnt]. */
static int subproof(const struct audit_tree_source *src, int64_t m, int64_t a, int64_t n, bool b,
                    unsigned char (*proof)[AUDIT_HASH_LEN], size_t *cnt, err_t *err)
{
    if (*cnt >= AUDIT_PROOF_MAX)
        return err_internal(err, DUPLA_ELIMIT, "audit: a proof longer than %d hashes",
                            AUDIT_PROOF_MAX);
    if (m == n)
        return b ? 0 : subtree(src, a, n, proof[(*cnt)++], err);
    int64_t k = split(n);
    int rc = m <= k ? subproof(src, m, a, k, b, proof, cnt, err)
                    : subproof(src, m - k, a + k, n - k, false, proof, cnt, err);
    if (rc)
        return rc;
    if (*cnt >= AUDIT_PROOF_MAX)
        return err_internal(err, DUPLA_ELIMIT, "audit: a proof longer than %d hashes",
                            AUDIT_PROOF_MAX);
    return m <= k ? subtree(src, a + k, n - k, proof[(*cnt)++], err)
                  : subtree(src, a, k, proof[(*cnt)++], err);
}

int audit_tree_consistency(const struct audit_tree_source *src, int64_t from, int64_t to,
                           unsigned char (*proof)[AUDIT_HASH_LEN], size_t *n, err_t *err)
{
    *n = 0;
    if (from < 0)
        return err_param(err, DUPLA_EINVAL, "from", "from cannot be negative");
    if (to < from)
        return err_param(err, DUPLA_EINVAL, "to", "to must be at least from");
    if (from == 0 || from == to)
        return 0;
    return subproof(src, from, 0, to, true, proof, n, err);
}

bool audit_tree_verify_inclusion(const unsigned char leaf[AUDIT_HASH_LEN], int64_t index,
                                 int64_t size, const unsigned char (*path)[AUDIT_HASH_LEN],
                                 size_t n, const unsigned char root[AUDIT_HASH_LEN])
{
    if (index < 0 || index >= size)
        return false;
    uint64_t fn = (uint64_t)index, sn = (uint64_t)size - 1;
    unsigned char r[AUDIT_HASH_LEN];
    memcpy(r, leaf, AUDIT_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            audit_tree_node_hash(path[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            audit_tree_node_hash(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, AUDIT_HASH_LEN) == 0;
}

bool audit_tree_verify_consistency(int64_t from, int64_t to,
                                   const unsigned char old_root[AUDIT_HASH_LEN],
                                   const unsigned char new_root[AUDIT_HASH_LEN],
                                   const unsigned char (*proof)[AUDIT_HASH_LEN], size_t n)
{
    if (from < 0 || to < from)
        return false;
    if (from == 0)
        return n == 0;
    if (from == to)
        return n == 0 && memcmp(old_root, new_root, AUDIT_HASH_LEN) == 0;
    if (n == 0)
        return false;
    /* When from is a power of two, the old root is the proof's first hash. */
    const unsigned char *first = proof[0];
    size_t i = 1;
    if (power_of_two(from)) {
        first = old_root;
        i = 0;
    }
    uint64_t fn = (uint64_t)from - 1, sn = (uint64_t)to - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    unsigned char fr[AUDIT_HASH_LEN], sr[AUDIT_HASH_LEN];
    memcpy(fr, first, AUDIT_HASH_LEN);
    memcpy(sr, first, AUDIT_HASH_LEN);
    for (; i < n; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            audit_tree_node_hash(proof[i], fr, fr);
            audit_tree_node_hash(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            audit_tree_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, old_root, AUDIT_HASH_LEN) == 0 &&
           memcmp(sr, new_root, AUDIT_HASH_LEN) == 0;
}

/* ---- the store's tree ---- */

static int store_node(void *ctx, int level, int64_t index, unsigned char out[AUDIT_HASH_LEN],
                      err_t *err)
{
    struct audit_tree_store *ts = ctx;
    if (level >= AUDIT_TREE_LEVELS - 1 || index < 0 || index >= (INT64_MAX >> level) - 1)
        return err_internal(err, DUPLA_EINVAL, "audit: no tree node (%d, %" PRId64 ")", level,
                            index);
    int64_t end = (index + 1) << level;
    store_stmt_t *s;
    int rc = store_prepare(
        ts->conn, "SELECT hash FROM audit_tree_node WHERE end_size = ? AND level = ?", &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, end);
    store_bind_int64(s, 2, level);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        str_t h = store_col_blob(s, 0);
        if (h.len == AUDIT_HASH_LEN)
            memcpy(out, h.ptr, AUDIT_HASH_LEN);
        else
            rc = err_internal(err, DUPLA_ESTORE,
                              "audit: tree node (%d, %" PRId64 ") has a malformed hash", level,
                              index);
    } else if (rc == STORE_DONE) {
        rc = err_set(err, DUPLA_ENOTFOUND, "the tree has no node (%d, %" PRId64 ")", level, index);
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

void audit_tree_store_source(struct audit_tree_store *ts, store_conn_t *c,
                             struct audit_tree_source *src)
{
    ts->conn = c;
    src->node = store_node;
    src->ctx = ts;
}

int audit_tree_size(store_conn_t *c, int64_t *out, err_t *err)
{
    return store_query_int64(c, "SELECT COALESCE(MAX(end_size), 0) FROM audit_tree_node", 0, out,
                             err);
}

/* The edge's nodes (one per one bit of the size) in one statement: a
 * statement each was a dozen round trips on PostgreSQL whenever another
 * node had moved the head, inside the write lock. The places of the bits
 * that are not set are bound to a node that cannot exist (-1, -1). */
#define EDGE_PAIR "(end_size = ? AND level = ?)"
static char edge_sql[64 + (AUDIT_TREE_LEVELS - 1) * (sizeof EDGE_PAIR + 4)];
static pthread_once_t edge_once = PTHREAD_ONCE_INIT;

static void edge_sql_make(void)
{
    size_t n = (size_t)snprintf(edge_sql, sizeof edge_sql,
                                "SELECT level, hash, end_size FROM audit_tree_node WHERE ");
    for (int l = 0; l < AUDIT_TREE_LEVELS - 1; l++)
        n += (size_t)snprintf(edge_sql + n, sizeof edge_sql - n, "%s" EDGE_PAIR, l ? " OR " : "");
}

int audit_tree_edge_take(struct audit_tree_edge *e, int64_t size, int64_t level, str_t hash,
                         uint64_t *found, err_t *err)
{
    if (level < 0 || level >= AUDIT_TREE_LEVELS - 1 || !((size >> level) & 1) ||
        hash.len != AUDIT_HASH_LEN)
        return err_internal(err, DUPLA_ESTORE,
                            "audit: tree node (%" PRId64 ", %" PRId64 ") is malformed", level,
                            level >= 0 && level < 63 ? (size >> level) - 1 : -1);
    memcpy(e->h[level], hash.ptr, AUDIT_HASH_LEN);
    *found |= (uint64_t)1 << level;
    return 0;
}

int audit_tree_edge_check(struct audit_tree_edge *e, int64_t size, uint64_t found, err_t *err)
{
    for (int l = 0; l < AUDIT_TREE_LEVELS - 1; l++)
        if (((size >> l) & 1) && !(found & ((uint64_t)1 << l)))
            return err_set(err, DUPLA_ENOTFOUND, "the tree has no node (%d, %" PRId64 ")", l,
                           (size >> l) - 1);
    e->size = size;
    return 0;
}

int audit_tree_edge_load(store_conn_t *c, int64_t size, struct audit_tree_edge *e, err_t *err)
{
    memset(e, 0, sizeof *e);
    if (size < 0)
        return err_internal(err, DUPLA_EINVAL, "audit: a tree of %" PRId64 " leaves", size);
    pthread_once(&edge_once, edge_sql_make);
    store_stmt_t *s;
    int rc = store_prepare(c, edge_sql, &s, err);
    if (rc)
        return rc;
    for (int l = 0; l < AUDIT_TREE_LEVELS - 1; l++) {
        bool set = (size >> l) & 1;
        store_bind_int64(s, 1 + 2 * l, set ? (size >> l) << l : -1);
        store_bind_int64(s, 2 + 2 * l, set ? l : -1);
    }
    uint64_t found = 0;
    while ((rc = store_step(s, err)) == STORE_ROW &&
           (rc = audit_tree_edge_take(e, size, store_col_int64(s, 0), store_col_blob(s, 1), &found,
                                      err)) == 0)
        ;
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    return audit_tree_edge_check(e, size, found, err);
}

static void node_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct audit_tree_node *v = ctx;
    store_bind_int64(s, p, v[row].end_size);
    store_bind_int64(s, p + 1, v[row].level);
    store_bind_blob(s, p + 2, v[row].hash, AUDIT_HASH_LEN);
}

/* ---- a proof's nodes in one statement ---- */

#define PREFETCH_MAX 256

/* The nodes a proof asks for: noted by a first pass of the proof (whose
 * hashes are zeros: which nodes a proof needs depends on the sizes only),
 * read from the store a statement per AUDIT_TREE_LEVELS - 1 of them, and
 * handed out by the second pass. On PostgreSQL a proof was a statement,
 * a round trip, per node: some 20-30 of them. */
struct prefetch {
    struct audit_tree_store ts; /* a node not noted: read on its own */
    size_t n;
    int level[PREFETCH_MAX];
    int64_t end[PREFETCH_MAX];
    bool have[PREFETCH_MAX];
    unsigned char hash[PREFETCH_MAX][AUDIT_HASH_LEN];
};

static bool node_valid(int level, int64_t index)
{
    return level >= 0 && level < AUDIT_TREE_LEVELS - 1 && index >= 0 &&
           index < (INT64_MAX >> level) - 1;
}

static int note_node(void *ctx, int level, int64_t index, unsigned char out[AUDIT_HASH_LEN],
                     err_t *err)
{
    (void)err;
    struct prefetch *p = ctx;
    memset(out, 0, AUDIT_HASH_LEN);
    if (!node_valid(level, index) || p->n == PREFETCH_MAX)
        return 0; /* the second pass reads it on its own (and says what is wrong) */
    int64_t end = (index + 1) << level;
    for (size_t i = 0; i < p->n; i++)
        if (p->level[i] == level && p->end[i] == end)
            return 0;
    p->level[p->n] = level;
    p->end[p->n] = end;
    p->have[p->n++] = false;
    return 0;
}

static int noted_node(void *ctx, int level, int64_t index, unsigned char out[AUDIT_HASH_LEN],
                      err_t *err)
{
    struct prefetch *p = ctx;
    if (node_valid(level, index)) {
        int64_t end = (index + 1) << level;
        for (size_t i = 0; i < p->n; i++)
            if (p->have[i] && p->level[i] == level && p->end[i] == end) {
                memcpy(out, p->hash[i], AUDIT_HASH_LEN);
                return 0;
            }
    }
    return store_node(&p->ts, level, index, out, err);
}

/* Reads the noted nodes (those missing are left to noted_node). */
static int fetch_noted(struct prefetch *p, err_t *err)
{
    pthread_once(&edge_once, edge_sql_make);
    const size_t per = AUDIT_TREE_LEVELS - 1;
    for (size_t at = 0; at < p->n; at += per) {
        store_stmt_t *s;
        int rc = store_prepare(p->ts.conn, edge_sql, &s, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < per; j++) {
            bool used = at + j < p->n;
            store_bind_int64(s, 1 + 2 * (int)j, used ? p->end[at + j] : -1);
            store_bind_int64(s, 2 + 2 * (int)j, used ? p->level[at + j] : -1);
        }
        while ((rc = store_step(s, err)) == STORE_ROW) {
            int64_t level = store_col_int64(s, 0), end = store_col_int64(s, 2);
            str_t h = store_col_blob(s, 1);
            for (size_t i = at; i < p->n && i < at + per && h.len == AUDIT_HASH_LEN; i++)
                if (p->level[i] == level && p->end[i] == end) {
                    memcpy(p->hash[i], h.ptr, AUDIT_HASH_LEN);
                    p->have[i] = true;
                }
        }
        store_stmt_done(s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The proof (inclusion when incl, else consistency) from the store's tree
 * on c, its nodes read in one statement. */
static int store_proof(store_conn_t *c, bool incl, int64_t a, int64_t b,
                       unsigned char (*out)[AUDIT_HASH_LEN], size_t *n, err_t *err)
{
    struct prefetch *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    p->ts.conn = c;
    const struct audit_tree_source note = {note_node, p}, noted = {noted_node, p};
    int rc = incl ? audit_tree_inclusion(&note, a, b, out, n, err)
                  : audit_tree_consistency(&note, a, b, out, n, err);
    if (!rc)
        rc = fetch_noted(p, err);
    if (!rc)
        rc = incl ? audit_tree_inclusion(&noted, a, b, out, n, err)
                  : audit_tree_consistency(&noted, a, b, out, n, err);
    free(p);
    return rc;
}

int audit_tree_store_inclusion(store_conn_t *c, int64_t index, int64_t size,
                               unsigned char (*path)[AUDIT_HASH_LEN], size_t *n, err_t *err)
{
    return store_proof(c, true, index, size, path, n, err);
}

int audit_tree_store_consistency(store_conn_t *c, int64_t from, int64_t to,
                                 unsigned char (*proof)[AUDIT_HASH_LEN], size_t *n, err_t *err)
{
    return store_proof(c, false, from, to, proof, n, err);
}

int audit_tree_insert_nodes(store_conn_t *c, const struct audit_tree_node *v, size_t n, err_t *err)
{
    return store_insert_rows(c, "INSERT INTO audit_tree_node (end_size, level, hash)", 3, n,
                             node_bind, v, err);
}

int audit_tree_edge_push(struct audit_tree_edge *e, const unsigned char leaf[AUDIT_HASH_LEN],
                         unsigned char (*out)[AUDIT_HASH_LEN])
{
    int64_t n = e->size;
    memcpy(out[0], leaf, AUDIT_HASH_LEN);
    int l = 0;
    /* Each trailing one bit of n is a perfect subtree on the edge that the
     * new leaf's subtree now completes. */
    while (((n >> l) & 1) && l < AUDIT_TREE_LEVELS - 1) {
        audit_tree_node_hash(e->h[l], out[l], out[l + 1]);
        l++;
    }
    memcpy(e->h[l], out[l], AUDIT_HASH_LEN);
    e->size = n + 1;
    return l + 1;
}

void audit_tree_collect(struct audit_tree_edge *e, const unsigned char leaf[AUDIT_HASH_LEN],
                        struct audit_tree_node *out, size_t *n)
{
    unsigned char nodes[AUDIT_TREE_LEVELS][AUDIT_HASH_LEN];
    int k = audit_tree_edge_push(e, leaf, nodes);
    for (int l = 0; l < k; l++) {
        struct audit_tree_node *o = &out[(*n)++];
        o->end_size = e->size;
        o->level = l;
        memcpy(o->hash, nodes[l], AUDIT_HASH_LEN);
    }
}

int audit_tree_append(store_conn_t *c, struct audit_tree_edge *e,
                      const unsigned char leaf[AUDIT_HASH_LEN], err_t *err)
{
    struct audit_tree_node nodes[AUDIT_TREE_LEVELS];
    struct audit_tree_edge next = *e;
    size_t n = 0;
    audit_tree_collect(&next, leaf, nodes, &n);
    int rc = audit_tree_insert_nodes(c, nodes, n, err);
    if (rc)
        return rc;
    *e = next;
    return 0;
}

void audit_tree_edge_root(const struct audit_tree_edge *e, unsigned char out[AUDIT_HASH_LEN])
{
    if (e->size == 0) {
        gnutls_hash_fast(GNUTLS_DIG_SHA256, "", 0, out);
        return;
    }
    bool have = false;
    for (int l = 0; l < AUDIT_TREE_LEVELS; l++) {
        if (!((e->size >> l) & 1))
            continue;
        if (!have)
            memcpy(out, e->h[l], AUDIT_HASH_LEN);
        else
            audit_tree_node_hash(e->h[l], out, out);
        have = true;
    }
}

/* ---- entries read back in canonical form ---- */

/* Calls fn for each entry of [from, to] in seq order with its canonical
 * encoding in canon. DUPLA_ENOTFOUND names the first seq missing. */
static int read_canonical(store_conn_t *c, int64_t from, int64_t to, buf_t *canon,
                          int (*fn)(void *ctx, int64_t seq, str_t canonical, err_t *err), void *ctx,
                          err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT " AUDIT_ENTRY_COLUMNS
                           " FROM audit_entry e WHERE e.seq >= ? AND e.seq <= ? ORDER BY e.seq",
                           &s, err);
    if (rc)
        return rc;
    struct audit_stored r;
    /* the writer migrated the log before it reads it: version 3's columns exist */
    if ((rc = audit_stored_open(c, AUDIT_SCHEMA_V3, from, to, false, &r, err))) {
        store_stmt_done(s);
        return rc;
    }
    store_bind_int64(s, 1, from);
    store_bind_int64(s, 2, to);
    int st = 0;
    int64_t expected = from;
    while (!rc && (st = store_step(s, err)) == STORE_ROW) {
        int64_t seq = store_col_int64(s, AUDIT_COL_SEQ);
        if (seq != expected) {
            rc =
                err_set(err, DUPLA_ENOTFOUND, "the disclosure log has no entry %" PRId64, expected);
            break;
        }
        buf_reset(canon);
        bool malformed = false;
        if ((rc = audit_stored_encode(&r, s, canon, &malformed, err)) < 0 && rc != DUPLA_ELIMIT)
            break;
        if (rc || malformed) {
            rc = err_internal(err, DUPLA_ESTORE,
                              "audit: entry %" PRId64 " cannot be encoded (a malformed row)", seq);
            break;
        }
        rc = fn(ctx, seq, buf_str(canon), err);
        expected++;
    }
    if (!rc && st < 0)
        rc = st;
    if (!rc && expected <= to)
        rc = err_set(err, DUPLA_ENOTFOUND, "the disclosure log has no entry %" PRId64, expected);
    audit_stored_close(&r);
    store_stmt_done(s);
    return rc;
}

static int copy_canonical(void *ctx, int64_t seq, str_t canonical, err_t *err)
{
    (void)seq;
    if (buf_append(ctx, canonical.ptr, canonical.len))
        return err_internal(err, DUPLA_ELIMIT, "audit: the entry does not fit its buffer");
    return 0;
}

int audit_entry_canonical(store_conn_t *c, int64_t seq, buf_t *out, err_t *err)
{
    buf_t canon;
    buf_init(&canon, AUDIT_CANONICAL_MAX);
    int rc = read_canonical(c, seq, seq, &canon, copy_canonical, out, err);
    buf_free(&canon);
    return rc;
}

struct leaves {
    unsigned char (*h)[AUDIT_HASH_LEN];
    size_t n;
};

static int keep_leaf(void *ctx, int64_t seq, str_t canonical, err_t *err)
{
    (void)seq;
    (void)err;
    struct leaves *lv = ctx;
    audit_tree_leaf_hash(canonical, lv->h[lv->n++]);
    return 0;
}

int audit_tree_build(store_conn_t *c, struct audit_tree_edge *e, int64_t to, err_t *err)
{
    struct leaves lv = {.h = malloc(AUDIT_TREE_BUILD_BATCH * sizeof *lv.h)};
    struct audit_tree_node *nodes =
        malloc(AUDIT_TREE_NODES_MAX(AUDIT_TREE_BUILD_BATCH) * sizeof *nodes);
    buf_t canon;
    if (!lv.h || !nodes) {
        free(lv.h);
        free(nodes);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    buf_init(&canon, AUDIT_CANONICAL_MAX);
    int rc = 0;
    while (!rc && e->size < to) {
        int64_t from = e->size + 1, last = e->size + AUDIT_TREE_BUILD_BATCH;
        if (last > to)
            last = to;
        lv.n = 0;
        /* read the batch's leaves first: one statement at a time on c */
        if ((rc = read_canonical(c, from, last, &canon, keep_leaf, &lv, err)))
            break;
        struct audit_tree_edge next = *e;
        size_t n_nodes = 0;
        for (size_t i = 0; i < lv.n; i++)
            audit_tree_collect(&next, lv.h[i], nodes, &n_nodes);
        if ((rc = store_begin(c, err)))
            break;
        rc = audit_tree_insert_nodes(c, nodes, n_nodes, err);
        if (!rc)
            rc = store_commit(c, err);
        if (rc)
            store_rollback(c);
        else
            *e = next;
    }
    buf_free(&canon);
    free(lv.h);
    free(nodes);
    return rc;
}
