/* Unit tests: the Merkle tree over the disclosure log (tree.c) against a
 * plain recursive reference written from RFC 9162 section 2.1 (MTH, PATH,
 * SUBPROOF), for every tree size up to a few thousand, on the store the
 * suite runs on (SQLite, or PostgreSQL in the postgresql setup); the
 * writer's tree, the build of an existing log's tree, and tampering. */
#include <criterion/criterion.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "pki/pki.h"
#include "test_audit_util.h"

typedef unsigned char hash_t[AUDIT_HASH_LEN];

static struct audit_fixture fx;

static void setup(void)
{
    audit_fixture_init(&fx);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit_tree, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the reference: RFC 9162 2.1, straight from its definitions ---- */

static void sha256(const void *a, size_t na, const void *b, size_t nb, unsigned char pfx,
                   unsigned char *out)
{
    gnutls_hash_hd_t h;
    cr_assert_geq(gnutls_hash_init(&h, GNUTLS_DIG_SHA256), 0);
    gnutls_hash(h, &pfx, 1);
    gnutls_hash(h, a, na);
    if (nb)
        gnutls_hash(h, b, nb);
    gnutls_hash_deinit(h, out);
}

/* The leaf data of test leaf i. */
static size_t leaf_data(int64_t i, char *out)
{
    return (size_t)snprintf(out, 32, "leaf %lld", (long long)i);
}

static void ref_leaf(int64_t i, unsigned char *out)
{
    char d[32];
    size_t n = leaf_data(i, d);
    sha256(d, n, NULL, 0, 0x00, out);
}

static int64_t ref_k(int64_t n)
{
    int64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[a:a+n]) */
static void ref_mth(int64_t a, int64_t n, unsigned char *out)
{
    if (n == 0) {
        gnutls_hash_fast(GNUTLS_DIG_SHA256, "", 0, out);
        return;
    }
    if (n == 1) {
        ref_leaf(a, out);
        return;
    }
    int64_t k = ref_k(n);
    hash_t l, r;
    ref_mth(a, k, l);
    ref_mth(a + k, n - k, r);
    sha256(l, AUDIT_HASH_LEN, r, AUDIT_HASH_LEN, 0x01, out);
}

/* PATH(m, D[a:a+n]) appended to p. */
static void ref_path(int64_t m, int64_t a, int64_t n, hash_t *p, size_t *cnt)
{
    if (n <= 1)
        return;
    int64_t k = ref_k(n);
    if (m < k) {
        ref_path(m, a, k, p, cnt);
        ref_mth(a + k, n - k, p[(*cnt)++]);
    } else {
        ref_path(m - k, a + k, n - k, p, cnt);
        ref_mth(a, k, p[(*cnt)++]);
    }
}

/* SUBPROOF(m, D[a:a+n], b) appended to p. */
static void ref_subproof(int64_t m, int64_t a, int64_t n, bool b, hash_t *p, size_t *cnt)
{
    if (m == n) {
        if (!b)
            ref_mth(a, n, p[(*cnt)++]);
        return;
    }
    int64_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(m, a, k, b, p, cnt);
        ref_mth(a + k, n - k, p[(*cnt)++]);
    } else {
        ref_subproof(m - k, a + k, n - k, false, p, cnt);
        ref_mth(a, k, p[(*cnt)++]);
    }
}

/* ---- the store's tree of n test leaves ---- */

enum { N = 2100 };

static store_conn_t *conn;
static struct audit_tree_store ts;
static struct audit_tree_source src;

static void build_store_tree(int64_t n)
{
    err_t err;
    cr_assert_eq(audit_migrate(fx.st, &err), 0, "%s", err.log);
    cr_assert_eq(store_conn_get(fx.st, &conn, &err), 0, "%s", err.log);
    struct audit_tree_edge e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(store_begin(conn, &err), 0, "%s", err.log);
    for (int64_t i = 0; i < n; i++) {
        hash_t leaf, root, want;
        ref_leaf(i, leaf);
        cr_assert_eq(audit_tree_append(conn, &e, leaf, &err), 0, "%s", err.log);
        /* the edge's root after every append is MTH of the leaves so far */
        if (i < 300 || i % 97 == 0) {
            audit_tree_edge_root(&e, root);
            ref_mth(0, i + 1, want);
            cr_assert_arr_eq(root, want, AUDIT_HASH_LEN, "edge root at size %lld",
                             (long long)i + 1);
        }
    }
    cr_assert_eq(store_commit(conn, &err), 0, "%s", err.log);
    audit_tree_store_source(&ts, conn, &src);
}

static void release(void)
{
    store_conn_put(conn);
    conn = NULL;
}

Test(audit_tree, roots_of_every_size_match_rfc9162_mth)
{
    build_store_tree(N);
    err_t err;
    int64_t size;
    cr_assert_eq(audit_tree_size(conn, &size, &err), 0, "%s", err.log);
    cr_assert_eq(size, N);
    hash_t root, want;
    cr_assert_eq(audit_tree_root(&src, 0, root, &err), 0, "%s", err.log);
    static const unsigned char empty[AUDIT_HASH_LEN] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}; /* SHA-256("") */
    cr_assert_arr_eq(root, empty, AUDIT_HASH_LEN);
    /* MTH of a prefix is computed incrementally: D[0:n] = fold of the edge;
     * the reference recomputes it from the leaves each time. */
    for (int64_t n = 1; n <= N; n++) {
        cr_assert_eq(audit_tree_root(&src, n, root, &err), 0, "size %lld: %s", (long long)n,
                     err.log);
        ref_mth(0, n, want);
        cr_assert_arr_eq(root, want, AUDIT_HASH_LEN, "root of size %lld", (long long)n);
    }
    /* a size the tree does not have yet is an error, not a made-up root */
    cr_assert_neq(audit_tree_root(&src, N + 1, root, &err), 0);
    release();
}

static void check_inclusion(int64_t m, int64_t n)
{
    err_t err;
    hash_t path[AUDIT_PROOF_MAX], want[AUDIT_PROOF_MAX], root, leaf;
    size_t np, nw = 0;
    cr_assert_eq(audit_tree_inclusion(&src, m, n, path, &np, &err), 0, "%s", err.log);
    /* the same with its nodes read in one statement */
    hash_t fetched[AUDIT_PROOF_MAX];
    size_t nf;
    cr_assert_eq(audit_tree_store_inclusion(conn, m, n, fetched, &nf, &err), 0, "%s", err.log);
    cr_assert_eq(nf, np);
    for (size_t i = 0; i < np; i++)
        cr_assert_arr_eq(fetched[i], path[i], AUDIT_HASH_LEN, "fetched path %zu of %lld in %lld", i,
                         (long long)m, (long long)n);
    ref_path(m, 0, n, want, &nw);
    cr_assert_eq(np, nw, "path length of %lld in %lld", (long long)m, (long long)n);
    for (size_t i = 0; i < np; i++)
        cr_assert_arr_eq(path[i], want[i], AUDIT_HASH_LEN, "path %zu of %lld in %lld", i,
                         (long long)m, (long long)n);
    ref_mth(0, n, root);
    ref_leaf(m, leaf);
    cr_assert(audit_tree_verify_inclusion(leaf, m, n, (const hash_t *)path, np, root),
              "proof of %lld in %lld does not verify", (long long)m, (long long)n);
    /* tampering: any hash, the leaf, the index, the size, a shorter or a
     * longer path */
    for (size_t i = 0; i < np; i++) {
        path[i][i % AUDIT_HASH_LEN] ^= 0x01;
        cr_assert_not(audit_tree_verify_inclusion(leaf, m, n, (const hash_t *)path, np, root));
        path[i][i % AUDIT_HASH_LEN] ^= 0x01;
    }
    hash_t other;
    ref_leaf(m + 1, other);
    cr_assert_not(audit_tree_verify_inclusion(other, m, n, (const hash_t *)path, np, root));
    if (n > 1) {
        cr_assert_not(
            audit_tree_verify_inclusion(leaf, (m + 1) % n, n, (const hash_t *)path, np, root));
        cr_assert_not(audit_tree_verify_inclusion(leaf, m, n, (const hash_t *)path, np - 1, root));
    }
    memcpy(path[np], path[0], AUDIT_HASH_LEN);
    cr_assert_not(audit_tree_verify_inclusion(leaf, m, n, (const hash_t *)path, np + 1, root));
}

Test(audit_tree, inclusion_proofs_match_rfc9162_path_and_verify)
{
    build_store_tree(N);
    /* every leaf of every small tree */
    for (int64_t n = 1; n <= 70; n++)
        for (int64_t m = 0; m < n; m++)
            check_inclusion(m, n);
    /* the edges and a few inner leaves of larger trees, powers of two and not */
    for (int64_t n = 71; n <= N; n += (n < 1030 ? 37 : 113)) {
        check_inclusion(0, n);
        check_inclusion(n - 1, n);
        check_inclusion(n / 2, n);
        check_inclusion((n * 7) / 11, n);
    }
    for (int64_t n = 128; n <= 2048; n *= 2) {
        check_inclusion(n - 1, n);
        check_inclusion(n / 3, n);
        check_inclusion(n - 1, n + 1);
        check_inclusion(n, n + 1);
    }
    err_t err;
    hash_t path[AUDIT_PROOF_MAX];
    size_t np;
    cr_assert_eq(audit_tree_inclusion(&src, 5, 5, path, &np, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_tree_inclusion(&src, -1, 5, path, &np, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_tree_inclusion(&src, 0, 0, path, &np, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_tree_store_inclusion(conn, 5, 5, path, &np, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_tree_store_inclusion(conn, 0, 0, path, &np, &err), DUPLA_EINVAL);
    /* past the stored tree: a node it does not hold */
    cr_assert_eq(audit_tree_store_inclusion(conn, 0, N + 1, path, &np, &err), DUPLA_ENOTFOUND);
    release();
}

static void check_consistency(int64_t m, int64_t n)
{
    err_t err;
    hash_t proof[AUDIT_PROOF_MAX], want[AUDIT_PROOF_MAX], r1, r2;
    size_t np, nw = 0;
    cr_assert_eq(audit_tree_consistency(&src, m, n, proof, &np, &err), 0, "%s", err.log);
    hash_t fetched[AUDIT_PROOF_MAX];
    size_t nf;
    cr_assert_eq(audit_tree_store_consistency(conn, m, n, fetched, &nf, &err), 0, "%s", err.log);
    cr_assert_eq(nf, np);
    for (size_t i = 0; i < np; i++)
        cr_assert_arr_eq(fetched[i], proof[i], AUDIT_HASH_LEN, "fetched proof %zu of %lld -> %lld",
                         i, (long long)m, (long long)n);
    if (m > 0 && m < n)
        ref_subproof(m, 0, n, true, want, &nw);
    cr_assert_eq(np, nw, "proof length %lld -> %lld", (long long)m, (long long)n);
    for (size_t i = 0; i < np; i++)
        cr_assert_arr_eq(proof[i], want[i], AUDIT_HASH_LEN, "proof %zu of %lld -> %lld", i,
                         (long long)m, (long long)n);
    ref_mth(0, m, r1);
    ref_mth(0, n, r2);
    cr_assert(audit_tree_verify_consistency(m, n, r1, r2, (const hash_t *)proof, np),
              "%lld -> %lld does not verify", (long long)m, (long long)n);
    if (m == 0 || m == n)
        return;
    for (size_t i = 0; i < np; i++) {
        proof[i][(i * 5) % AUDIT_HASH_LEN] ^= 0x80;
        cr_assert_not(audit_tree_verify_consistency(m, n, r1, r2, (const hash_t *)proof, np),
                      "%lld -> %lld verifies with hash %zu changed", (long long)m, (long long)n, i);
        proof[i][(i * 5) % AUDIT_HASH_LEN] ^= 0x80;
    }
    /* another old or new root, another size, a shorter proof */
    hash_t bad;
    ref_mth(0, m - 1, bad);
    cr_assert_not(audit_tree_verify_consistency(m, n, bad, r2, (const hash_t *)proof, np));
    ref_mth(0, n - 1, bad);
    cr_assert_not(audit_tree_verify_consistency(m, n, r1, bad, (const hash_t *)proof, np));
    cr_assert_not(audit_tree_verify_consistency(m, n, r1, r2, (const hash_t *)proof, np - 1));
    if (m + 1 < n)
        cr_assert_not(audit_tree_verify_consistency(m + 1, n, r1, r2, (const hash_t *)proof, np));
}

Test(audit_tree, consistency_proofs_match_rfc9162_subproof_and_verify)
{
    build_store_tree(N);
    for (int64_t n = 0; n <= 40; n++)
        for (int64_t m = 0; m <= n; m++)
            check_consistency(m, n);
    for (int64_t n = 41; n <= N; n += (n < 1030 ? 41 : 127)) {
        check_consistency(1, n);
        check_consistency(n - 1, n);
        check_consistency(n / 2, n);
        check_consistency((n * 5) / 9, n);
        check_consistency(ref_k(n), n);
    }
    check_consistency(1024, 2048);
    check_consistency(1023, 2049);
    check_consistency(2047, N);
    err_t err;
    hash_t proof[AUDIT_PROOF_MAX];
    size_t np;
    cr_assert_eq(audit_tree_consistency(&src, 6, 5, proof, &np, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "to");
    cr_assert_eq(audit_tree_consistency(&src, -1, 5, proof, &np, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "from");
    release();
}

/* ---- the writer's tree ---- */

/* The root of the log's entries, from their canonical bytes (reference). */
static void ref_log_root(store_conn_t *c, int64_t n, unsigned char *out)
{
    hash_t *leaves = calloc((size_t)n + 1, sizeof *leaves);
    cr_assert_not_null(leaves);
    buf_t b;
    buf_init(&b, 1 << 20);
    err_t err;
    for (int64_t s = 1; s <= n; s++) {
        buf_reset(&b);
        cr_assert_eq(audit_entry_canonical(c, s, &b, &err), 0, "%s", err.log);
        sha256(b.data, b.len, NULL, 0, 0x00, leaves[s - 1]);
    }
    /* fold level by level as RFC 9162 defines MTH: split at the largest
     * power of two below n, here computed bottom-up by pairing */
    int64_t m = n;
    while (m > 1) {
        int64_t j = 0;
        for (int64_t i = 0; i + 1 < m; i += 2)
            sha256(leaves[i], AUDIT_HASH_LEN, leaves[i + 1], AUDIT_HASH_LEN, 0x01, leaves[j++]);
        if (m % 2)
            memcpy(leaves[j++], leaves[m - 1], AUDIT_HASH_LEN);
        m = j;
    }
    if (n == 0)
        gnutls_hash_fast(GNUTLS_DIG_SHA256, "", 0, out);
    else
        memcpy(out, leaves[0], AUDIT_HASH_LEN);
    buf_free(&b);
    free(leaves);
}

static void record_entries(audit_log_t *log, int from, int to)
{
    err_t err;
    for (int i = from; i < to; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
}

static void tree_matches_log(int64_t n)
{
    err_t err;
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    int64_t size;
    cr_assert_eq(audit_tree_size(c, &size, &err), 0, "%s", err.log);
    cr_assert_eq(size, n);
    struct audit_tree_store t;
    struct audit_tree_source s;
    audit_tree_store_source(&t, c, &s);
    hash_t root, want;
    cr_assert_eq(audit_tree_root(&s, n, root, &err), 0, "%s", err.log);
    ref_log_root(c, n, want);
    cr_assert_arr_eq(root, want, AUDIT_HASH_LEN);
    /* every entry's leaf is in it */
    for (int64_t seq = 1; seq <= n; seq += 7) {
        hash_t path[AUDIT_PROOF_MAX], leaf;
        size_t np;
        buf_t b;
        buf_init(&b, 1 << 20);
        cr_assert_eq(audit_entry_canonical(c, seq, &b, &err), 0, "%s", err.log);
        audit_tree_leaf_hash(buf_str(&b), leaf);
        buf_free(&b);
        cr_assert_eq(audit_tree_inclusion(&s, seq - 1, n, path, &np, &err), 0, "%s", err.log);
        cr_assert(audit_tree_verify_inclusion(leaf, seq - 1, n, (const hash_t *)path, np, root));
    }
    store_conn_put(c);
}

Test(audit_tree, the_writer_keeps_the_tree_in_its_batches)
{
    audit_log_t *log = audit_fixture_log(&fx, 50);
    /* concurrent callers make multi-entry batches; sequential ones single */
    record_entries(log, 0, 123);
    audit_close(log);
    tree_matches_log(123);
    /* a reopened writer goes on from the stored edge */
    log = audit_fixture_log(&fx, 50);
    record_entries(log, 123, 200);
    audit_close(log);
    tree_matches_log(200);
    err_t err;
    buf_t b;
    buf_init(&b, 1 << 20);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    cr_assert_eq(audit_entry_canonical(c, 201, &b, &err), DUPLA_ENOTFOUND);
    store_conn_put(c);
    buf_free(&b);
}

Test(audit_tree, an_existing_log_gets_its_tree_built_once_at_open)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    record_entries(log, 0, 77);
    audit_close(log);
    /* a log from before the tree: its nodes are not there (all of them, then
     * the last part, as an interrupted build would leave it) */
    audit_fixture_sql(&fx, "DELETE FROM audit_tree_node", 1);
    log = audit_fixture_log(&fx, 0);
    audit_close(log);
    tree_matches_log(77);
    audit_fixture_sql(&fx, "DELETE FROM audit_tree_node WHERE end_size > 40", 1);
    log = audit_fixture_log(&fx, 0);
    record_entries(log, 77, 90);
    audit_close(log);
    tree_matches_log(90);
}

Test(audit_tree, a_tree_larger_than_the_log_refuses_to_open)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    record_entries(log, 0, 10);
    audit_close(log);
    audit_fixture_sql(&fx, "DELETE FROM audit_entry_subject WHERE seq = 10", 1);
    audit_fixture_sql(&fx, "DELETE FROM audit_entry WHERE seq = 10", 1);
    struct audit_options o = {.environment = "test", .signer = fx.signer};
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), DUPLA_ECONFLICT);
    cr_assert(strstr(err.log, "Merkle tree") != NULL, "%s", err.log);
}

Test(audit_tree, a_changed_node_fails_the_proofs_that_use_it)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    record_entries(log, 0, 16);
    audit_close(log);
    err_t err;
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    struct audit_tree_store t;
    struct audit_tree_source s;
    audit_tree_store_source(&t, c, &s);
    hash_t root, leaf, path[AUDIT_PROOF_MAX];
    size_t np;
    cr_assert_eq(audit_tree_root(&s, 16, root, &err), 0, "%s", err.log);
    store_conn_put(c);
    /* the subtree of leaves 4..7 (level 2, ends at 8) is edited */
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_tree_node WHERE end_size = 8 AND level = 2; "
                      "INSERT INTO audit_tree_node (end_size, level, hash) "
                      "SELECT 8, 2, hash FROM audit_tree_node WHERE end_size = 4 AND level = 2",
                      1);
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    audit_tree_store_source(&t, c, &s);
    buf_t b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(audit_entry_canonical(c, 1, &b, &err), 0, "%s", err.log);
    audit_tree_leaf_hash(buf_str(&b), leaf);
    buf_free(&b);
    cr_assert_eq(audit_tree_inclusion(&s, 0, 16, path, &np, &err), 0, "%s", err.log);
    bool ok = audit_tree_verify_inclusion(leaf, 0, 16, (const hash_t *)path, np, root);
    store_conn_put(c);
    cr_assert_not(ok);
    /* and dupla audit verify names it */
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_TREE, "%s: %s", audit_problem_name(r.problem), r.detail);
    cr_assert_eq(r.seq, 8);
}

Test(audit_tree, verify_recomputes_the_whole_tree)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    record_entries(log, 0, 37);
    audit_close(log);
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert_eq(r.tree_checked, 37);
    /* a leaf swapped for another's */
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_tree_node WHERE end_size = 21 AND level = 0; "
                      "INSERT INTO audit_tree_node (end_size, level, hash) "
                      "SELECT 21, 0, hash FROM audit_tree_node WHERE end_size = 20 AND level = 0",
                      1);
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_TREE);
    cr_assert_eq(r.seq, 21);
}

/* ---- signed tree heads (C2SP checkpoint in a signed note) ---- */

Test(audit_tree, a_checkpoint_note_signs_and_opens_and_any_change_fails_it)
{
    hash_t root;
    ref_mth(0, 5, root);
    char note[AUDIT_NOTE_MAX];
    size_t len;
    err_t err;
    const char *origin = "dupla/udleveringslog/test";
    cr_assert_eq(audit_note_sign(fx.signer, origin, 5, root, note, &len, &err), 0, "%s", err.log);
    cr_assert_eq(strlen(note), len);
    /* the body, an empty line, one signature line of the origin's key */
    cr_assert(strncmp(note, "dupla/udleveringslog/test\n5\n", 28) == 0, "%s", note);
    const char *sig = strstr(note, "\n\n\xe2\x80\x94 dupla/udleveringslog/test ");
    cr_assert_not_null(sig, "%s", note);
    cr_assert_eq(note[len - 1], '\n');
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub);
    struct audit_note n;
    cr_assert_eq(audit_note_open((str_t){note, len}, origin, pub, &n, &err), 0, "%s", err.log);
    cr_assert_str_eq(n.origin, origin);
    cr_assert_eq(n.size, 5);
    cr_assert_arr_eq(n.root, root, AUDIT_HASH_LEN);

    /* the key hash: SHA-256(name || "\n" || 0x01 || key)[:4] */
    unsigned char kh[4], want[PKI_SHA256_LEN];
    unsigned char in[64];
    size_t ol = strlen(origin);
    memcpy(in, origin, ol);
    in[ol] = '\n';
    in[ol + 1] = 0x01;
    memcpy(in + ol + 2, pub, sizeof pub);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, ol + 2 + sizeof pub, want);
    audit_note_key_hash(origin, pub, kh);
    cr_assert_arr_eq(kh, want, 4);

    /* the verifier key round-trips */
    char vkey[AUDIT_VKEY_MAX], name[AUDIT_ORIGIN_MAX];
    unsigned char pub2[PKI_ED25519_PUB_LEN];
    size_t vl = audit_note_vkey(origin, pub, vkey);
    cr_assert_eq(audit_note_vkey_parse((str_t){vkey, vl}, name, sizeof name, pub2, &err), 0, "%s",
                 err.log);
    cr_assert_str_eq(name, origin);
    cr_assert_arr_eq(pub2, pub, sizeof pub);
    vkey[vl - 3] ^= 1;
    cr_assert_neq(audit_note_vkey_parse((str_t){vkey, vl}, name, sizeof name, pub2, &err), 0);

    /* every byte of the body and of the signature counts */
    for (size_t i = 0; i < len - 1; i++) {
        if (note[i] == '\n')
            continue;
        char t[AUDIT_NOTE_MAX];
        memcpy(t, note, len);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        cr_assert_neq(audit_note_open((str_t){t, len}, origin, pub, &n, &err), 0,
                      "byte %zu changed and the note still opens", i);
    }
    /* another key, another name */
    unsigned char other[PKI_ED25519_PUB_LEN];
    memcpy(other, pub, sizeof other);
    other[0] ^= 1;
    cr_assert_neq(audit_note_open((str_t){note, len}, origin, other, &n, &err), 0);
    cr_assert_eq(audit_note_open((str_t){note, len}, "dupla/other", pub, &n, &err), DUPLA_ECRYPTO);
    /* malformed */
    cr_assert_eq(audit_note_open(STR("x\n1\n"), origin, pub, &n, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_note_open((str_t){note, len - 1}, origin, pub, &n, &err), DUPLA_EINVAL);
    cr_assert_neq(audit_note_sign(fx.signer, "a b", 5, root, note, &len, &err), 0);
}

Test(audit_tree, the_writer_signs_a_tree_head_with_every_checkpoint)
{
    audit_log_t *log = audit_fixture_log(&fx, 10);
    record_entries(log, 0, 25);
    audit_close(log); /* a last checkpoint at 25 */
    err_t err;
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0, "%s", err.log);
    struct audit_tree_head *h;
    size_t n;
    cr_assert_eq(audit_tree_heads_conn(c, 0, 100, &h, &n, &err), 0, "%s", err.log);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[0].size, 10);
    cr_assert_eq(h[1].size, 20);
    cr_assert_eq(h[2].size, 25);
    struct audit_tree_store t;
    struct audit_tree_source s;
    audit_tree_store_source(&t, c, &s);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub);
    for (size_t i = 0; i < n; i++) {
        hash_t root;
        cr_assert_eq(audit_tree_root(&s, h[i].size, root, &err), 0, "%s", err.log);
        cr_assert_arr_eq(root, h[i].root, AUDIT_HASH_LEN);
        struct audit_note note;
        cr_assert_eq(audit_note_open((str_t){h[i].note, h[i].note_len}, "dupla/udleveringslog/test",
                                     pub, &note, &err),
                     0, "%s", err.log);
        cr_assert_eq(note.size, h[i].size);
    }
    struct audit_tree_head one;
    cr_assert_eq(audit_tree_head_latest(c, &one, &err), 0);
    cr_assert_eq(one.size, 25);
    cr_assert_eq(audit_tree_head_covering(c, 11, &one, &err), 0);
    cr_assert_eq(one.size, 20);
    cr_assert_eq(audit_tree_head_covering(c, 26, &one, &err), DUPLA_ENOTFOUND);
    cr_assert_eq(audit_tree_head_at(c, 10, &one, &err), 0);
    cr_assert_eq(audit_tree_head_at(c, 11, &one, &err), DUPLA_ENOTFOUND);
    free(h);
    store_conn_put(c);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert_eq(r.tree_heads, 3);
}

Test(audit_tree, verify_catches_a_changed_tree_head)
{
    audit_log_t *log = audit_fixture_log(&fx, 10);
    record_entries(log, 0, 20);
    audit_close(log);
    /* its root column edited: no longer what the note signs */
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_tree_head WHERE tree_size = 10;"
                      "INSERT INTO audit_tree_head (tree_size, time_ms, root_hash, note) "
                      "SELECT 10, time_ms, root_hash, note FROM audit_tree_head "
                      "WHERE tree_size = 20",
                      1);
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_CHECKPOINT, "%s", r.detail);
    cr_assert_eq(r.seq, 10);
}

Test(audit_tree, verify_catches_a_tree_rewritten_under_its_signed_head)
{
    audit_log_t *log = audit_fixture_log(&fx, 10);
    record_entries(log, 0, 20);
    audit_close(log);
    /* a leaf and every node above it changed consistently, the chain kept:
     * only the signed head can tell */
    audit_fixture_sql(&fx, "DELETE FROM audit_tree_node WHERE end_size >= 3", 1);
    err_t err;
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    struct audit_tree_edge e;
    cr_assert_eq(audit_tree_edge_load(c, 2, &e, &err), 0, "%s", err.log);
    cr_assert_eq(store_begin(c, &err), 0);
    for (int i = 2; i < 20; i++) {
        hash_t leaf;
        ref_leaf(i, leaf);
        cr_assert_eq(audit_tree_append(c, &e, leaf, &err), 0, "%s", err.log);
    }
    cr_assert_eq(store_commit(c, &err), 0);
    store_conn_put(c);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    /* the stored nodes no longer match the entries: the chain holds, so the
     * first of them is named */
    cr_assert(r.problem == AUDIT_PROBLEM_REWRITTEN || r.problem == AUDIT_PROBLEM_TREE, "%s: %s",
              audit_problem_name(r.problem), r.detail);
}
