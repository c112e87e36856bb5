/*
 * test_audit_util.c: the disclosure log tests' shared fixture.
 */
#include "test_audit_util.h"

#include <criterion/criterion.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "core/arena.h"
#include "core/log.h"

void audit_fixture_init(struct audit_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    log_set_level(LOG_WARN);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/dupla-audit-XXXXXX");
    cr_assert_not_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof fx->db, "%s/audit.db", fx->dir);
    snprintf(fx->url, sizeof fx->url, "sqlite:%s", fx->db);
    snprintf(fx->key, sizeof fx->key, "%s/audit-key.pem", fx->dir);
    err_t err;
    cr_assert_eq(pki_signer_generate(fx->key, &err), 0, "%s", err.log);
    cr_assert_eq(pki_signer_load(fx->key, &fx->signer, &err), 0, "%s", err.log);
    struct store_options so = {.synchronous_full = true};
    cr_assert_eq(store_open(fx->url, &so, &fx->st, &err), 0, "%s", err.log);
}

void audit_fixture_fini(struct audit_fixture *fx)
{
    if (fx->st)
        store_close(fx->st);
    fx->st = NULL;
    pki_signer_free(fx->signer);
    fx->signer = NULL;
    if (fx->dir[0])
        fx_rmtree(fx->dir);
    fx->dir[0] = '\0';
}

audit_log_t *audit_fixture_log(struct audit_fixture *fx, unsigned checkpoint_every)
{
    struct audit_options o = {
        .environment = "test", .signer = fx->signer, .checkpoint_every = checkpoint_every};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx->st, &o, &log, &err), 0, "%s", err.log);
    return log;
}

void audit_make_entry(struct made_entry *m, int n)
{
    memset(m, 0, sizeof *m);
    static const char *cvrs[] = {"12345674", "11111111", "22222222"};
    snprintf(m->org, sizeof m->org, "%s", cvrs[n % 3]);
    snprintf(m->agreement, sizeof m->agreement, "agreement-%d", n % 2);
    snprintf(m->service, sizeof m->service, "%s", n % 2 ? "Momsangivelse" : "Aarsopgoerelse");
    snprintf(m->request, sizeof m->request, "req-%06d", n);
    snprintf(m->transaction, sizeof m->transaction, "tx-%d", n / 10);
    size_t ns = (size_t)(n % 4) + 1;
    for (size_t i = 0; i < ns; i++) {
        /* a substitute CPR (day + 60), distinct per entry and position */
        snprintf(m->subj[i], sizeof m->subj[i], "%02u01%02u%04u", 61u + (unsigned)i % 4u,
                 80u + (unsigned)n % 20u, (unsigned)n % 10000u);
        m->subjects[i] = (struct audit_subject){AUDIT_SUBJECT_CPR, str_from_cstr(m->subj[i])};
    }
    snprintf(m->field[0], sizeof m->field[0], "PersonIndkomst");
    snprintf(m->field[1], sizeof m->field[1], "Felt%d", n % 7);
    m->fields[0] = str_from_cstr(m->field[0]);
    m->fields[1] = str_from_cstr(m->field[1]);
    m->periods[0] = STR("2023");
    m->periods[1] = STR("2024");
    m->e = (struct audit_entry){
        .org_cvr = str_from_cstr(m->org),
        .system_id = STR("system-1"),
        .agreement_id = str_from_cstr(m->agreement),
        .agreement_version = 1 + n % 3,
        .service = str_from_cstr(m->service),
        .request_id = str_from_cstr(m->request),
        .transaction_id = str_from_cstr(m->transaction),
        .subjects = m->subjects,
        .n_subjects = ns,
        .periods = m->periods,
        .n_periods = 1 + (size_t)(n % 2),
        .fields = m->fields,
        .n_fields = 2,
        .record_count = n % 5 == 4 ? 0 : (int64_t)ns,
        .outcome = n % 5 == 4 ? AUDIT_REFUSED : AUDIT_DISCLOSED,
        .reason = n % 5 == 4 ? STR("field-not-granted") : STR(""),
    };
    if (n % 3 == 2 && n % 5 != 4) {
        snprintf(m->case_ref, sizeof m->case_ref, "SAG-2026/%d", n);
        snprintf(m->delivery[0], sizeof m->delivery[0], "levering-%d", n % 4);
        snprintf(m->delivery[1], sizeof m->delivery[1], "levering-%d-b", n);
        for (size_t i = 0; i < 2; i++)
            m->deliveries[i] = str_from_cstr(m->delivery[i]);
        for (size_t i = 0; i < ns; i++)
            m->versions[i] = (struct audit_version){(uint32_t)(i % 2), AUDIT_SUBJECT_CPR,
                                                    m->subjects[i].id, STR("2023"), 1 + (int64_t)i};
        m->e.case_ref = str_from_cstr(m->case_ref);
        m->e.deliveries = m->deliveries;
        m->e.n_deliveries = 2;
        m->e.versions = m->versions;
        m->e.n_versions = ns;
    }
}

void audit_canonical_to_v1(buf_t *b)
{
    static const unsigned char empty_v2_tail[12] = {0};
    cr_assert_geq(b->len, 16);
    cr_assert_eq(memcmp((const char *)b->data + b->len - 12, empty_v2_tail, 12), 0,
                 "the entry has version 2 data");
    cr_assert_eq(((const unsigned char *)b->data)[3], AUDIT_CANONICAL_V2);
    ((unsigned char *)b->data)[3] = AUDIT_CANONICAL_V1;
    b->len -= 12;
}

/* The tests' SQLite spellings of blobs, in PostgreSQL's. */
static void pg_spelling(const char *sql, char *out, size_t cap)
{
    static const char *const from[] = {"zeroblob(32)", "x'00'", "randomblob(32)", "randomblob(64)"};
    static const char *const to[] = {"decode(repeat('00', 32), 'hex')", "'\\x00'::bytea",
                                     "sha256(CAST(CAST(random() AS TEXT) AS BYTEA))",
                                     "sha512(CAST(CAST(random() AS TEXT) AS BYTEA))"};
    size_t n = 0;
    while (*sql && n + 1 < cap) {
        size_t i = 0;
        while (i < 4 && strncmp(sql, from[i], strlen(from[i])) != 0)
            i++;
        if (i < 4) {
            n += (size_t)snprintf(out + n, cap - n, "%s", to[i]);
            sql += strlen(from[i]);
        } else {
            out[n++] = *sql++;
        }
    }
    cr_assert_lt(n + 1, cap, "SQL too long");
    out[n] = 0;
}

void audit_fixture_sql(struct audit_fixture *fx, const char *sql, int tamper)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx->st, &c, &err), 0, "%s", err.log);
    if (strcmp(store_backend(fx->st), "postgresql") == 0) {
        static char pg[4096];
        pg_spelling(sql, pg, sizeof pg);
        sql = pg;
        if (tamper)
            cr_assert_eq(
                store_exec(
                    c,
                    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry;"
                    "DROP TRIGGER IF EXISTS audit_subject_append_only ON audit_entry_subject;"
                    "DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint;"
                    "DROP TRIGGER IF EXISTS audit_tree_node_append_only ON audit_tree_node;"
                    "DROP TRIGGER IF EXISTS audit_tree_head_append_only ON audit_tree_head;"
                    "DROP TRIGGER IF EXISTS audit_delivery_append_only ON audit_entry_delivery;"
                    "DROP TRIGGER IF EXISTS audit_version_append_only ON audit_entry_version;",
                    &err),
                0, "%s", err.log);
    } else if (tamper)
        cr_assert_eq(store_exec(c,
                                "DROP TRIGGER IF EXISTS audit_entry_no_update;"
                                "DROP TRIGGER IF EXISTS audit_entry_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_subject_no_update;"
                                "DROP TRIGGER IF EXISTS audit_subject_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_checkpoint_no_update;"
                                "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_tree_node_no_update;"
                                "DROP TRIGGER IF EXISTS audit_tree_node_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_tree_head_no_update;"
                                "DROP TRIGGER IF EXISTS audit_tree_head_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_delivery_no_update;"
                                "DROP TRIGGER IF EXISTS audit_delivery_no_delete;"
                                "DROP TRIGGER IF EXISTS audit_version_no_update;"
                                "DROP TRIGGER IF EXISTS audit_version_no_delete;",
                                &err),
                     0, "%s", err.log);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s: %s", sql, err.log);
    store_conn_put(c);
}

void audit_fixture_rechain(struct audit_fixture *fx, int64_t from)
{
    audit_fixture_sql(fx, "SELECT 1", 1);
    err_t err;
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    if (from > 1) {
        arena_t *a = arena_new(1 << 20);
        struct audit_filter f = {.after = from - 2, .limit = 1};
        struct audit_page p;
        cr_assert_eq(audit_query(fx->st, &f, NULL, a, &p, &err), 0, "%s", err.log);
        cr_assert_eq(p.n, 1);
        memcpy(prev, p.rows[0].entry_hash, AUDIT_HASH_LEN);
        arena_free(a);
    }
    int64_t after = from - 1;
    for (;;) {
        arena_t *a = arena_new(1 << 24);
        struct audit_filter f = {.after = after, .limit = 100};
        struct audit_page p;
        cr_assert_eq(audit_query(fx->st, &f, NULL, a, &p, &err), 0, "%s", err.log);
        store_conn_t *c;
        cr_assert_eq(store_conn_get(fx->st, &c, &err), 0);
        for (size_t i = 0; i < p.n; i++) {
            struct audit_row *r = &p.rows[i];
            buf_t b;
            buf_init(&b, 1 << 24);
            cr_assert_eq(audit_entry_canonical(c, r->seq, &b, &err), 0, "%s", err.log);
            unsigned char h[AUDIT_HASH_LEN];
            cr_assert_eq(audit_chain_hash(prev, buf_str(&b), h), 0);
            buf_free(&b);
            store_stmt_t *s;
            cr_assert_eq(store_prepare(c,
                                       "UPDATE audit_entry SET prev_hash = ?, entry_hash = ? "
                                       "WHERE seq = ?",
                                       &s, &err),
                         0);
            store_bind_blob(s, 1, prev, AUDIT_HASH_LEN);
            store_bind_blob(s, 2, h, AUDIT_HASH_LEN);
            store_bind_int64(s, 3, r->seq);
            cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
            store_stmt_done(s);
            memcpy(prev, h, AUDIT_HASH_LEN);
        }
        store_conn_put(c);
        after = p.next;
        arena_free(a);
        if (!after)
            break;
    }
    /* and the Merkle tree over the rewritten entries */
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM audit_tree_node WHERE end_size >= %lld",
             (long long)from);
    audit_fixture_sql(fx, sql, 1);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx->st, &c, &err), 0);
    int64_t size, last;
    struct audit_tree_edge e;
    cr_assert_eq(audit_tree_size(c, &size, &err), 0, "%s", err.log);
    cr_assert_eq(
        store_query_int64(c, "SELECT COALESCE(MAX(seq), 0) FROM audit_entry", 0, &last, &err), 0);
    cr_assert_eq(audit_tree_edge_load(c, size, &e, &err), 0, "%s", err.log);
    cr_assert_eq(audit_tree_build(c, &e, last, &err), 0, "%s", err.log);
    store_conn_put(c);
}
