/* Unit tests: audit verification: every kind of tampering with the
 * database file is found and named at its place; checkpoints catch a
 * consistent rewrite; exported checkpoints prove continuation. */
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

TestSuite(audit_verify, .init = setup, .fini = teardown, .timeout = 60);

/* Records n entries (checkpoints every `every`, and one at close). */
static void record_n(int n, unsigned every)
{
    audit_log_t *log = audit_fixture_log(&fx, every);
    err_t err;
    for (int i = 0; i < n; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
}

static struct audit_verify_result verify_with(const struct audit_verify_options *o)
{
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, o, &r, &err), 0, "%s", err.log);
    return r;
}

static void expect(const struct audit_verify_options *o, enum audit_problem p, int64_t seq)
{
    struct audit_verify_result r = verify_with(o);
    cr_assert_not(r.ok, "verify passed, but %s at %ld was expected", audit_problem_name(p),
                  (long)seq);
    cr_assert_eq(r.problem, p, "found %s at %ld (%s), expected %s at %ld",
                 audit_problem_name(r.problem), (long)r.seq, r.detail, audit_problem_name(p),
                 (long)seq);
    cr_assert_eq(r.seq, seq, "found %s at %ld (%s), expected seq %ld",
                 audit_problem_name(r.problem), (long)r.seq, r.detail, (long)seq);
    cr_assert_gt(strlen(r.detail), 10);
}

Test(audit_verify, an_untouched_log_verifies_with_its_checkpoints)
{
    record_n(30, 10);
    struct audit_verify_result r = verify_with(NULL);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert_eq(r.entries, 30);
    cr_assert_eq(r.checkpoints, 3);
    cr_assert_eq(r.head_seq, 30);
    cr_assert_not(r.keys_pinned);

    unsigned char pub[1][PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub[0]);
    struct audit_verify_options o = {.public_keys = pub, .n_public_keys = 1};
    r = verify_with(&o);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert(r.keys_pinned);
}

Test(audit_verify, an_empty_log_verifies_and_a_store_without_one_is_refused)
{
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), DUPLA_ENOTFOUND);
    cr_assert_eq(audit_migrate(fx.st, &err), 0);
    r = verify_with(NULL);
    cr_assert(r.ok);
    cr_assert_eq(r.entries, 0);
}

Test(audit_verify, an_edited_field_is_found_at_its_entry)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx, "UPDATE audit_entry SET fields = '[\"PersonIndkomst\"]' WHERE seq = 7",
                      1);
    expect(NULL, AUDIT_PROBLEM_CHANGED, 7);
}

Test(audit_verify, every_column_is_covered_by_the_hash)
{
    static const char *edits[] = {
        "UPDATE audit_entry SET time_ms = time_ms + 1 WHERE seq = 5",
        "UPDATE audit_entry SET environment = 'production' WHERE seq = 5",
        "UPDATE audit_entry SET org_cvr = '87654321' WHERE seq = 5",
        "UPDATE audit_entry SET system_id = 'other' WHERE seq = 5",
        "UPDATE audit_entry SET agreement_id = 'agreement-9' WHERE seq = 5",
        "UPDATE audit_entry SET agreement_version = 9 WHERE seq = 5",
        "UPDATE audit_entry SET service = 'Other' WHERE seq = 5",
        "UPDATE audit_entry SET request_id = 'r' WHERE seq = 5",
        "UPDATE audit_entry SET transaction_id = 't' WHERE seq = 5",
        "UPDATE audit_entry SET periods = '[]' WHERE seq = 5",
        "UPDATE audit_entry SET periods = 'not json' WHERE seq = 5",
        "UPDATE audit_entry SET record_count = 99 WHERE seq = 5",
        "UPDATE audit_entry SET outcome = 'disclosed' WHERE seq = 5", /* n = 4: a refusal */
        "UPDATE audit_entry SET reason = 'x' WHERE seq = 5",
        "UPDATE audit_entry_subject SET subject = '6101801234' WHERE seq = 5 AND position = 0",
        "UPDATE audit_entry_subject SET kind = 'cvr' WHERE seq = 5 AND position = 0",
        "DELETE FROM audit_entry_subject WHERE seq = 5 AND position = 0",
        "INSERT INTO audit_entry_subject VALUES (5, 7, 'cpr', '6101801234')",
        "UPDATE audit_entry SET entry_hash = zeroblob(32) WHERE seq = 5",
        "UPDATE audit_entry SET prev_hash = zeroblob(32) WHERE seq = 5",
        "UPDATE audit_entry SET entry_hash = x'00' WHERE seq = 5",
        /* version 2's fields (entry 6 is made from n = 5: it has them) */
        "UPDATE audit_entry SET case_ref = 'SAG-1' WHERE seq = 6",
        "UPDATE audit_entry SET format = 1 WHERE seq = 6",
        "UPDATE audit_entry SET format = 3 WHERE seq = 6",
        "UPDATE audit_entry_delivery SET delivery_id = 'levering-9' WHERE seq = 6",
        "DELETE FROM audit_entry_delivery WHERE seq = 6 AND position = 1",
        "UPDATE audit_entry_version SET version = 7 WHERE seq = 6 AND position = 0",
        "UPDATE audit_entry_version SET delivery = 1 WHERE seq = 6 AND position = 0",
        "UPDATE audit_entry_version SET subject = '6101801234' WHERE seq = 6",
        "UPDATE audit_entry_version SET period = '2024' WHERE seq = 6",
        "UPDATE audit_entry_version SET kind = 'cvr' WHERE seq = 6",
        "DELETE FROM audit_entry_version WHERE seq = 6 AND position = 1",
        /* version 1 entries cannot gain version 2's data unnoticed */
        "UPDATE audit_entry SET case_ref = 'SAG-1' WHERE seq = 5",
        "INSERT INTO audit_entry_delivery VALUES (5, 0, 'levering-9')",
    };
    /* PostgreSQL: no file to copy; each edit on a log of its own (schema) */
    bool pg = strcmp(store_backend(fx.st), "postgresql") == 0;
    if (!pg)
        record_n(8, 1000);
    store_close(fx.st); /* the file alone holds the log now */
    fx.st = NULL;
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        /* each edit on a fresh copy of the recorded file */
        char cmd[400], url[200];
        snprintf(cmd, sizeof cmd, "cp %s %s/edit.db && rm -f %s/edit.db-wal %s/edit.db-shm", fx.db,
                 fx.dir, fx.dir, fx.dir);
        if (!pg)
            cr_assert_eq(system(cmd), 0);
        if (pg)
            snprintf(url, sizeof url, "sqlite:%s/edit%zu.db", fx.dir, i);
        else
            snprintf(url, sizeof url, "sqlite:%s/edit.db", fx.dir);
        err_t err;
        cr_assert_eq(store_open(url, NULL, &fx.st, &err), 0, "%s", err.log);
        if (pg) {
            cr_assert_eq(audit_migrate(fx.st, &err), 0, "%s", err.log);
            record_n(8, 1000);
        }
        /* PostgreSQL: a subject row carries its entry's time (partition key) */
        const char *edit = edits[i];
        if (pg && strncmp(edit, "INSERT INTO audit_entry_subject", 31) == 0)
            edit = "INSERT INTO audit_entry_subject SELECT 5, 7, 'cpr', '6101801234', time_ms "
                   "FROM audit_entry WHERE seq = 5";
        audit_fixture_sql(&fx, edit, 1);
        struct audit_verify_result r = verify_with(NULL);
        store_close(fx.st);
        fx.st = NULL;
        cr_assert_not(r.ok, "not found: %s", edits[i]);
        int64_t want = strstr(edits[i], "seq = 6") ? 6 : 5;
        cr_assert_eq(r.seq, want, "%s: found at %ld: %s", edits[i], (long)r.seq, r.detail);
        cr_assert_eq(r.problem, AUDIT_PROBLEM_CHANGED, "%s: %s", edits[i], r.detail);
    }
}

Test(audit_verify, a_changed_stored_hash_is_told_apart_from_changed_contents)
{
    record_n(10, 1000);
    audit_fixture_sql(&fx, "UPDATE audit_entry SET entry_hash = zeroblob(32) WHERE seq = 4", 1);
    struct audit_verify_result r = verify_with(NULL);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_CHANGED);
    cr_assert_eq(r.seq, 4);
    cr_assert(strstr(r.detail, "stored hash") != NULL, "%s", r.detail);
}

Test(audit_verify, a_deleted_entry_is_found_at_its_seq)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_entry WHERE seq = 5;"
                      "DELETE FROM audit_entry_subject WHERE seq = 5",
                      1);
    expect(NULL, AUDIT_PROBLEM_REMOVED, 5);
}

Test(audit_verify, a_deleted_entry_with_the_rest_renumbered_is_found)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_entry WHERE seq = 5;"
                      "DELETE FROM audit_entry_subject WHERE seq = 5;"
                      "UPDATE audit_entry SET seq = seq + 1000 WHERE seq > 5;"
                      "UPDATE audit_entry SET seq = seq - 1001 WHERE seq > 1000;"
                      "UPDATE audit_entry_subject SET seq = seq + 1000 WHERE seq > 5;"
                      "UPDATE audit_entry_subject SET seq = seq - 1001 WHERE seq > 1000;",
                      1);
    expect(NULL, AUDIT_PROBLEM_REMOVED, 5);
}

Test(audit_verify, a_deleted_last_entry_is_found_by_the_checkpoint)
{
    record_n(20, 1000); /* the checkpoint at close covers entry 20 */
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_entry WHERE seq = 20;"
                      "DELETE FROM audit_entry_subject WHERE seq = 20",
                      1);
    expect(NULL, AUDIT_PROBLEM_TRUNCATED, 20);
}

static const char *const renumber_from_8 =
    "UPDATE audit_entry SET seq = seq + 1000 WHERE seq >= 8;"
    "UPDATE audit_entry SET seq = seq - 999 WHERE seq > 1000;"
    "UPDATE audit_entry_subject SET seq = seq + 1000 WHERE seq >= 8;"
    "UPDATE audit_entry_subject SET seq = seq - 999 WHERE seq > 1000;";

Test(audit_verify, an_inserted_entry_is_found_at_its_seq)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx, renumber_from_8, 1);
    /* a forged entry 8 that names entry 7's hash as its predecessor */
    audit_fixture_sql(
        &fx,
        "INSERT INTO audit_entry SELECT 8, time_ms, environment, org_cvr, "
        "system_id, agreement_id, agreement_version, service, 'forged', "
        "transaction_id, periods, fields, record_count, outcome, reason, "
        "entry_hash, randomblob(32), format, case_ref, supplier_cvr, on_behalf_se FROM audit_entry "
        "WHERE seq = 7",
        1);
    expect(NULL, AUDIT_PROBLEM_INSERTED, 8);
}

Test(audit_verify, an_inserted_entry_with_a_correct_hash_is_found_at_its_seq)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx, renumber_from_8, 1);
    audit_fixture_sql(
        &fx,
        "INSERT INTO audit_entry SELECT 8, time_ms, environment, org_cvr, "
        "system_id, agreement_id, agreement_version, service, 'forged', "
        "transaction_id, periods, fields, record_count, outcome, reason, "
        "entry_hash, entry_hash, format, case_ref, supplier_cvr, on_behalf_se FROM audit_entry "
        "WHERE seq = 7",
        1);
    /* the forger computes entry 8's hash properly (but not the rest) */
    struct made_entry m;
    audit_make_entry(&m, 6); /* entry 7's contents */
    m.e.request_id = STR("forged");
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(
        store_prepare(c, "SELECT prev_hash, time_ms FROM audit_entry WHERE seq = 8", &s, &err), 0);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    unsigned char prev[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
    memcpy(prev, store_col_blob(s, 0).ptr, AUDIT_HASH_LEN);
    int64_t t = store_col_int64(s, 1);
    store_stmt_done(s);
    buf_t b;
    buf_init(&b, 1 << 16);
    cr_assert_eq(audit_canonical_encode(&m.e, 8, t, STR("test"), &b), 0);
    cr_assert_eq(audit_chain_hash(prev, buf_str(&b), h), 0);
    buf_free(&b);
    cr_assert_eq(store_prepare(c, "UPDATE audit_entry SET entry_hash = ? WHERE seq = 8", &s, &err),
                 0);
    store_bind_blob(s, 1, h, AUDIT_HASH_LEN);
    cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
    store_stmt_done(s);
    bool pg = strcmp(store_backend(fx.st), "postgresql") == 0;
    cr_assert_eq(store_exec(c,
                            pg ? "INSERT INTO audit_entry_subject SELECT 8, position, kind, "
                                 "subject, time_ms FROM audit_entry_subject WHERE seq = 7"
                               : "INSERT INTO audit_entry_subject SELECT 8, position, kind, "
                                 "subject FROM audit_entry_subject WHERE seq = 7",
                            &err),
                 0, "%s", err.log);
    store_conn_put(c);
    expect(NULL, AUDIT_PROBLEM_INSERTED, 8);
}

Test(audit_verify, two_swapped_entries_are_found_as_reordered)
{
    record_n(20, 1000);
    audit_fixture_sql(&fx,
                      "UPDATE audit_entry SET seq = -1 WHERE seq = 12;"
                      "UPDATE audit_entry SET seq = 12 WHERE seq = 13;"
                      "UPDATE audit_entry SET seq = 13 WHERE seq = -1;"
                      "UPDATE audit_entry_subject SET seq = -1 WHERE seq = 12;"
                      "UPDATE audit_entry_subject SET seq = 12 WHERE seq = 13;"
                      "UPDATE audit_entry_subject SET seq = 13 WHERE seq = -1;",
                      1);
    expect(NULL, AUDIT_PROBLEM_REORDERED, 12);
}

Test(audit_verify, an_entry_moved_far_is_found_as_reordered)
{
    record_n(20, 1000);
    /* entry 15 moved to place 3: 3..14 shift up by one */
    audit_fixture_sql(&fx,
                      "UPDATE audit_entry SET seq = -15 WHERE seq = 15;"
                      "UPDATE audit_entry SET seq = seq + 1000 WHERE seq BETWEEN 3 AND 14;"
                      "UPDATE audit_entry SET seq = seq - 999 WHERE seq > 1000;"
                      "UPDATE audit_entry SET seq = 3 WHERE seq = -15;",
                      1);
    /* (subjects left where they were: the contents of the moved entries no
     * longer match either, but the chain says more) */
    struct audit_verify_result r = verify_with(NULL);
    cr_assert_not(r.ok);
    cr_assert_eq(r.seq, 3, "%s", r.detail);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_REORDERED, "%s", r.detail);
}

Test(audit_verify, a_consistent_rewrite_is_caught_by_the_next_checkpoint)
{
    record_n(30, 10); /* checkpoints at 10, 20, 30 */
    audit_fixture_sql(&fx, "UPDATE audit_entry SET record_count = 77 WHERE seq = 15", 1);
    expect(NULL, AUDIT_PROBLEM_CHANGED, 15);
    audit_fixture_rechain(&fx, 15); /* every hash from 15 on recomputed */
    expect(NULL, AUDIT_PROBLEM_REWRITTEN, 11);
}

Test(audit_verify, a_tampered_checkpoint_is_found)
{
    record_n(20, 10);
    audit_fixture_sql(&fx, "UPDATE audit_checkpoint SET signature = randomblob(64) WHERE seq = 10",
                      1);
    expect(NULL, AUDIT_PROBLEM_CHECKPOINT, 10);
}

Test(audit_verify, a_checkpoint_with_a_replaced_key_fails_against_the_pinned_key)
{
    record_n(20, 10);
    /* Someone re-signs checkpoint 20 with a key of their own and stores it. */
    char other[160];
    snprintf(other, sizeof other, "%s/other.pem", fx.dir);
    err_t err;
    pki_signer_t *o;
    cr_assert_eq(pki_signer_generate(other, &err), 0);
    cr_assert_eq(pki_signer_load(other, &o, &err), 0);
    struct audit_checkpoint cp;
    cr_assert_eq(audit_checkpoint_latest(fx.st, &cp, &err), 0);
    audit_fixture_sql(&fx,
                      "DELETE FROM audit_checkpoint WHERE seq = 20;"
                      "DELETE FROM audit_tree_head WHERE tree_size = 20",
                      1);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    struct audit_tree_store ts;
    struct audit_tree_source src;
    audit_tree_store_source(&ts, c, &src);
    unsigned char root[AUDIT_HASH_LEN];
    cr_assert_eq(audit_tree_root(&src, 20, root, &err), 0, "%s", err.log);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert_eq(audit_checkpoint_write(c, o, "test", 20, cp.chain_hash, cp.time_ms, &err), 0);
    cr_assert_eq(
        audit_tree_head_write(c, o, "dupla/udleveringslog/test", 20, root, cp.time_ms, &err), 0,
        "%s", err.log);
    cr_assert_eq(store_commit(c, &err), 0);
    store_conn_put(c);
    pki_signer_free(o);

    struct audit_verify_result r = verify_with(NULL);
    cr_assert(r.ok, "unpinned, the stored key vouches for itself: %s", r.detail);
    unsigned char pub[1][PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub[0]);
    struct audit_verify_options vo = {.public_keys = pub, .n_public_keys = 1};
    expect(&vo, AUDIT_PROBLEM_CHECKPOINT, 20);
}

Test(audit_verify, a_log_continues_an_exported_checkpoint)
{
    record_n(20, 1000);
    err_t err;
    struct audit_checkpoint cp;
    cr_assert_eq(audit_checkpoint_latest(fx.st, &cp, &err), 0);
    cr_assert_eq(cp.seq, 20);
    buf_t b;
    buf_init(&b, 1 << 16);
    cr_assert_eq(audit_checkpoint_to_json(&cp, &b), 0);
    struct audit_checkpoint since;
    cr_assert_eq(audit_checkpoint_from_json(buf_str(&b), &since, &err), 0);
    buf_free(&b);
    /* more entries later */
    audit_log_t *log = audit_fixture_log(&fx, 1000);
    for (int i = 100; i < 110; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    }
    audit_close(log);
    unsigned char pub[1][PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub[0]);
    struct audit_verify_options vo = {.public_keys = pub, .n_public_keys = 1, .since = &since};
    struct audit_verify_result r = verify_with(&vo);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert_eq(r.entries, 30);

    /* A forged checkpoint (its hash changed) is refused before anything else. */
    struct audit_checkpoint forged = since;
    forged.chain_hash[3] ^= 0x10;
    vo.since = &forged;
    expect(&vo, AUDIT_PROBLEM_NOT_CONTINUED, 20);

    /* The log rewritten before the checkpoint, consistently, and the stored
     * checkpoints that would tell deleted: only the exported one remains. */
    audit_fixture_sql(&fx,
                      "UPDATE audit_entry SET org_cvr = '87654321' WHERE seq = 12;"
                      "DELETE FROM audit_checkpoint; DELETE FROM audit_tree_head;",
                      1);
    audit_fixture_rechain(&fx, 12);
    r = verify_with(NULL);
    cr_assert(r.ok, "without the exported checkpoint the rewrite goes unseen");
    vo.since = &since;
    expect(&vo, AUDIT_PROBLEM_NOT_CONTINUED, 20);
}

Test(audit_verify, a_log_shorter_than_the_exported_checkpoint_does_not_continue_it)
{
    record_n(10, 1000);
    err_t err;
    struct audit_checkpoint since;
    cr_assert_eq(audit_checkpoint_latest(fx.st, &since, &err), 0);
    audit_fixture_sql(
        &fx,
        "DELETE FROM audit_entry WHERE seq > 6; DELETE FROM audit_entry_subject "
        "WHERE seq > 6; DELETE FROM audit_entry_delivery WHERE seq > 6; "
        "DELETE FROM audit_entry_version WHERE seq > 6; DELETE FROM audit_checkpoint;",
        1);
    struct audit_verify_options vo = {.since = &since};
    expect(&vo, AUDIT_PROBLEM_NOT_CONTINUED, 7);
}

Test(audit_verify, a_checkpoint_from_another_key_is_refused_when_keys_are_pinned)
{
    record_n(5, 1000);
    err_t err;
    struct audit_checkpoint since;
    cr_assert_eq(audit_checkpoint_latest(fx.st, &since, &err), 0);
    unsigned char pub[1][PKI_ED25519_PUB_LEN];
    memset(pub[0], 7, sizeof pub[0]);
    struct audit_verify_options vo = {.public_keys = pub, .n_public_keys = 1, .since = &since};
    expect(&vo, AUDIT_PROBLEM_NOT_CONTINUED, 5);
}

static void count_progress(void *ctx, int64_t done, int64_t total)
{
    int *calls = ctx;
    (*calls)++;
    cr_assert_leq(done, total);
}

Test(audit_verify, progress_is_reported)
{
    record_n(3, 1000);
    int calls = 0;
    struct audit_verify_options vo = {.progress = count_progress, .progress_ctx = &calls};
    struct audit_verify_result r = verify_with(&vo);
    cr_assert(r.ok);
    cr_assert_geq(calls, 1);
}
