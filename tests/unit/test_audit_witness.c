/* Unit tests: the witness (witness.c) against a log served in memory:
 * first use, no change, a proved extension, and each way the log can
 * break its history (another tree of the same size, a smaller tree, a
 * larger tree that does not extend the last), a checkpoint by another key,
 * and a state kept for another key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "test_audit_util.h"

static struct audit_fixture fx;

static void setup(void)
{
    audit_fixture_init(&fx);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit_witness, .init = setup, .fini = teardown, .timeout = 60);

#define ORIGIN "dupla/udleveringslog/test"
#define LEAVES 32

/* A log in memory: its leaves, and the size and key it serves now. */
struct fake_log {
    unsigned char leaf[LEAVES][AUDIT_HASH_LEN];
    int64_t size;
    pki_signer_t *signer;
    int gets;
};

static int fake_node(void *ctx, int level, int64_t index, unsigned char out[AUDIT_HASH_LEN],
                     err_t *err)
{
    (void)err;
    struct fake_log *f = ctx;
    if (level == 0) {
        memcpy(out, f->leaf[index], AUDIT_HASH_LEN);
        return 0;
    }
    unsigned char l[AUDIT_HASH_LEN], r[AUDIT_HASH_LEN];
    fake_node(ctx, level - 1, 2 * index, l, err);
    fake_node(ctx, level - 1, 2 * index + 1, r, err);
    audit_tree_node_hash(l, r, out);
    return 0;
}

static int fake_get(void *ctx, const char *path, buf_t *out, err_t *err)
{
    struct fake_log *f = ctx;
    struct audit_tree_source src = {fake_node, f};
    f->gets++;
    if (strcmp(path, "/transparency/checkpoint") == 0) {
        unsigned char root[AUDIT_HASH_LEN];
        char note[AUDIT_NOTE_MAX];
        size_t len;
        cr_assert_eq(audit_tree_root(&src, f->size, root, err), 0);
        cr_assert_eq(audit_note_sign(f->signer, ORIGIN, f->size, root, note, &len, err), 0);
        return buf_append(out, note, len);
    }
    long long from, to;
    cr_assert_eq(sscanf(path, "/transparency/proof/consistency?from=%lld&to=%lld", &from, &to), 2,
                 "%s", path);
    unsigned char proof[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t n;
    cr_assert_eq(audit_tree_consistency(&src, from, to, proof, &n, err), 0);
    buf_printf(out, "{\"from\":%lld,\"to\":%lld,\"hashes\":[", from, to);
    for (size_t i = 0; i < n; i++) {
        char b64[64];
        audit_b64_encode(proof[i], AUDIT_HASH_LEN, b64);
        buf_printf(out, "%s\"%s\"", i ? "," : "", b64);
    }
    return buf_append_cstr(out, "]}");
}

static void leaves(struct fake_log *f, int variant)
{
    for (int i = 0; i < LEAVES; i++) {
        char text[32];
        snprintf(text, sizeof text, "entry %d%s", i, variant && i == 5 ? " changed" : "");
        audit_tree_leaf_hash(str_from_cstr(text), f->leaf[i]);
    }
}

static char vkey[AUDIT_VKEY_MAX];
static char state[600];

static enum audit_witness_verdict check(struct fake_log *f, int64_t size, const char *key)
{
    f->size = size;
    struct audit_witness_fetch fetch = {fake_get, f};
    struct audit_witness_result r;
    err_t err;
    cr_assert_eq(audit_witness_run(state, str_from_cstr(key ? key : ""), &fetch, &r, &err), 0, "%s",
                 err.log);
    cr_assert_gt(strlen(r.detail), 20);
    cr_assert_eq(r.new_size, size);
    return r.verdict;
}

static void init(struct fake_log *f)
{
    memset(f, 0, sizeof *f);
    f->signer = fx.signer;
    leaves(f, 0);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub);
    audit_note_vkey(ORIGIN, pub, vkey);
    snprintf(state, sizeof state, "%s/witness", fx.dir);
}

static bool exists(const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", state, name);
    FILE *fp = fopen(p, "r");
    if (fp)
        fclose(fp);
    return fp != NULL;
}

Test(audit_witness, a_log_that_grows_consistently_is_accepted_and_kept)
{
    struct fake_log f;
    init(&f);
    cr_assert_eq(check(&f, 8, vkey), AUDIT_WITNESS_FIRST);
    cr_assert(exists("key") && exists("latest") && exists("cp-8"));
    cr_assert_eq(check(&f, 8, NULL), AUDIT_WITNESS_SAME);
    cr_assert_eq(check(&f, 13, vkey), AUDIT_WITNESS_EXTENDED);
    cr_assert(exists("cp-13"));
    /* sizes of every shape, from and to powers of two too */
    static const int64_t sizes[] = {14, 16, 17, 20, 31, LEAVES};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        cr_assert_eq(check(&f, sizes[i], NULL), AUDIT_WITNESS_EXTENDED, "size %ld", (long)sizes[i]);
}

Test(audit_witness, a_split_view_a_rollback_and_a_rewrite_are_caught_and_not_kept)
{
    struct fake_log f;
    init(&f);
    cr_assert_eq(check(&f, 13, vkey), AUDIT_WITNESS_FIRST);
    leaves(&f, 1); /* entry 6 (leaf 5) is another now */
    cr_assert_eq(check(&f, 13, NULL), AUDIT_WITNESS_SPLIT);
    cr_assert_eq(check(&f, 20, NULL), AUDIT_WITNESS_REWRITTEN);
    cr_assert_not(exists("cp-20"), "an inconsistent checkpoint is not accepted");
    leaves(&f, 0);
    cr_assert_eq(check(&f, 10, NULL), AUDIT_WITNESS_ROLLED_BACK);
    /* the evidence: both checkpoints */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "grep -l 'SPLIT VIEW' %s/evidence-* >/dev/null", state);
    cr_assert_eq(system(cmd), 0);
    /* the witness still holds the tree of 13: the honest log goes on */
    cr_assert_eq(check(&f, 20, NULL), AUDIT_WITNESS_EXTENDED);
    /* a change below an earlier tree is caught from any later size */
    leaves(&f, 1);
    for (int64_t n = 21; n <= LEAVES; n++)
        cr_assert_eq(check(&f, n, NULL), AUDIT_WITNESS_REWRITTEN, "size %ld", (long)n);
}

Test(audit_witness, the_key_is_needed_once_kept_and_held_to)
{
    struct fake_log f;
    init(&f);
    struct audit_witness_fetch fetch = {fake_get, &f};
    struct audit_witness_result r;
    err_t err;
    f.size = 4;
    cr_assert_eq(audit_witness_run(state, STR(""), &fetch, &r, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "key");
    cr_assert_eq(check(&f, 4, vkey), AUDIT_WITNESS_FIRST);
    /* another key for the same state is refused */
    pki_signer_t *other;
    char okey[700], ovkey[AUDIT_VKEY_MAX];
    snprintf(okey, sizeof okey, "%s/other.pem", fx.dir);
    cr_assert_eq(pki_signer_generate(okey, &err), 0);
    cr_assert_eq(pki_signer_load(okey, &other, &err), 0);
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(other, pub);
    audit_note_vkey(ORIGIN, pub, ovkey);
    cr_assert_eq(audit_witness_run(state, str_from_cstr(ovkey), &fetch, &r, &err), DUPLA_ECONFLICT);
    /* a checkpoint signed by another key does not verify: nothing is kept */
    f.signer = other;
    f.size = 6;
    cr_assert_neq(audit_witness_run(state, STR(""), &fetch, &r, &err), 0);
    cr_assert(strstr(err.log, "does not verify"), "%s", err.log);
    cr_assert_not(exists("cp-6"));
    f.signer = fx.signer;
    cr_assert_eq(check(&f, 6, NULL), AUDIT_WITNESS_EXTENDED);
    pki_signer_free(other);
}
