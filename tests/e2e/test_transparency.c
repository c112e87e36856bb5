/* End-to-end: the disclosure log as a transparency log (docs/transparency.md)
 * against a running server with a checkpoint signing key: signed
 * checkpoints and their history, inclusion and consistency proofs checked
 * with the C verifier and with the independent Python one
 * (tests/tools/tverify.py, written from the document alone), entries for
 * whoever may see them, receipts checked offline by `dupla audit receipt
 * verify` and by the Python verifier, refusals naming their parameter, and
 * tampering caught by both verifiers.
 *
 * Entries are recorded from this process with the same key and origin (the
 * server records none: its writer stays idle, so the log has one writer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_helpers.h"
#include "audit/audit.h"
#include "core/config.h"
#include "core/encode.h"
#include "store/store.h"

#define CVR_A "12345674"
#define CVR_B "20000007"
#define OWNER "19552101"

struct world {
    struct e2e_server s;
    char key[E2E_PATH_MAX];
    char vkey[AUDIT_VKEY_MAX];
    char name[AUDIT_ORIGIN_MAX];
    unsigned char pub[PKI_ED25519_PUB_LEN];
};

/* n entries, alternately to A and B, with the server's key (a checkpoint
 * every 5, and one at the end). */
static void record(struct world *w, int n)
{
    struct dupla_config cfg;
    err_t err;
    store_t *st;
    pki_signer_t *signer;
    audit_log_t *log;
    cr_assert_eq(config_load(w->s.config, &cfg, &err), 0, "%s", err.log);
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(pki_signer_load(w->key, &signer, &err), 0, "%s", err.log);
    struct audit_options opt = {.environment = "test", .signer = signer, .checkpoint_every = 5};
    cr_assert_eq(audit_open(st, &opt, &log, &err), 0, "%s", err.log);
    struct audit_subject one[] = {{AUDIT_SUBJECT_CPR, STR("0101010101")}};
    str_t fields[] = {STR("PersonligIndkomst")};
    str_t periods[] = {STR("2023")};
    for (int i = 0; i < n; i++) {
        char rid[32], sag[32], lev[32];
        snprintf(rid, sizeof rid, "req-%d", i);
        snprintf(sag, sizeof sag, "SAG-2026/%d", i);
        snprintf(lev, sizeof lev, "levering-%d", i / 3);
        str_t deliveries[] = {str_from_cstr(lev)};
        struct audit_version versions[] = {
            {0, AUDIT_SUBJECT_CPR, STR("0101010101"), STR("2023"), 1 + i / 3}};
        struct audit_entry e = {.org_cvr = str_from_cstr(i % 2 ? CVR_B : CVR_A),
                                .system_id = STR("lon"),
                                .agreement_id = STR("a1"),
                                .agreement_version = 1,
                                .service = STR("Aarsopgoerelse"),
                                .request_id = str_from_cstr(rid),
                                .transaction_id = STR("tx"),
                                .subjects = one,
                                .n_subjects = 1,
                                .periods = periods,
                                .n_periods = 1,
                                .fields = fields,
                                .n_fields = 1,
                                .record_count = 1,
                                .outcome = AUDIT_DISCLOSED,
                                .reason = STR(""),
                                .case_ref = i % 3 ? str_from_cstr(sag) : STR(""),
                                /* entry 3 (the receipt's): a supplier's call on a company's
                                 * behalf, in canonical version 3 */
                                .supplier_cvr = i == 2 ? STR("30000005") : STR(""),
                                .on_behalf_se = i == 2 ? STR("12345678") : STR(""),
                                .deliveries = deliveries,
                                .n_deliveries = 1,
                                .versions = versions,
                                .n_versions = 1};
        cr_assert_eq(audit_record(log, &e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
    pki_signer_free(signer);
    store_close(st);
    config_free(&cfg);
}

static void start(struct world *w)
{
    char dir[] = "/tmp/dupla-tlog-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(w->key, sizeof w->key, "%s/audit.key", dir);
    const char *gen[] = {"pki", "keygen", "--out", w->key, NULL};
    char out[E2E_PATH_MAX];
    snprintf(out, sizeof out, "%s/keygen.log", dir);
    cr_assert_eq(e2e_run_dupla(gen, out), 0);
    char cfg[E2E_PATH_MAX + 128];
    snprintf(cfg, sizeof cfg,
             "{\"identity\": {\"registry_poll_ms\": 50}, \"audit\": {\"signing_key\": \"%s\"}}",
             w->key);
    struct e2e_options o = {.config_json = cfg};
    cr_assert_eq(e2e_start(&o, &w->s), 0);
    api_org(&w->s, CVR_A, "first@a.dk", "k@a.dk");
    api_org(&w->s, CVR_B, "first@b.dk", "k@b.dk");
    api_user(&w->s, CVR_A, "adm@a.dk", "administrator", NULL);
    api_user(&w->s, CVR_B, "adm@b.dk", "administrator", NULL);
    api_user(&w->s, OWNER, "dfv@skat.dk", "dataforvaltning", NULL);
    record(w, 13);
    /* the verifier key, from the server, checked against the key file */
    struct e2e_response r;
    api_call(&w->s, NULL, "GET", "/transparency/key", NULL, &r);
    e2e_assert_status(&w->s, &r, 200);
    snprintf(w->vkey, sizeof w->vkey, "%.*s", (int)strcspn(r.body, "\n"), r.body);
    e2e_response_free(&r);
    err_t err;
    cr_assert_eq(
        audit_note_vkey_parse(str_from_cstr(w->vkey), w->name, sizeof w->name, w->pub, &err), 0,
        "%s: %s", w->vkey, err.log);
    pki_signer_t *signer;
    unsigned char pub[PKI_ED25519_PUB_LEN];
    cr_assert_eq(pki_signer_load(w->key, &signer, &err), 0);
    pki_signer_public(signer, pub);
    pki_signer_free(signer);
    cr_assert_arr_eq(pub, w->pub, sizeof pub);
    cr_assert_str_eq(w->name, "dupla/udleveringslog/test");
}

static void stop(struct world *w)
{
    e2e_stop(&w->s);
    e2e_remove_dir(&w->s);
    char dir[E2E_PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(w->key, '/') - w->key), w->key);
    char cmd[E2E_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)system(cmd);
}

/* The checkpoint note at path (size or latest) opened with the key. */
static void checkpoint(struct world *w, const char *path, struct audit_note *n)
{
    struct e2e_response r;
    api_call(&w->s, NULL, "GET", path, NULL, &r);
    e2e_assert_status(&w->s, &r, 200);
    cr_assert(strncmp(e2e_header(&r, "Content-Type"), "text/plain", 10) == 0);
    err_t err;
    cr_assert_eq(audit_note_open((str_t){r.body, r.body_len}, w->name, w->pub, n, &err), 0,
                 "%s: %s", r.body, err.log);
    e2e_response_free(&r);
}

static size_t hashes(const struct e2e_response *r, unsigned char (*out)[AUDIT_HASH_LEN])
{
    json_t *a = json_object_get(r->json, "hashes");
    cr_assert(json_is_array(a), "%s", r->body);
    size_t i;
    json_t *h;
    json_array_foreach(a, i, h)
    {
        /* standard base64 of 32 bytes: 44 characters */
        const char *t = json_string_value(h);
        cr_assert_eq(strlen(t), 44);
        char url[64];
        size_t k = 0;
        for (; t[k] && t[k] != '='; k++)
            url[k] = t[k] == '+' ? '-' : t[k] == '/' ? '_' : t[k];
        url[k] = 0;
        cr_assert_eq(base64url_decode(str_from_cstr(url), out[i], AUDIT_HASH_LEN), AUDIT_HASH_LEN);
    }
    return json_array_size(a);
}

static void expect_param(struct world *w, const char *path, long status, const char *param)
{
    struct e2e_response r;
    api_call(&w->s, NULL, "GET", path, NULL, &r);
    e2e_assert_status(&w->s, &r, status);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "problem+json"), "%s", path);
    cr_assert_str_eq(api_problem_param(&r), param, "%s: %s", path, r.body);
    e2e_response_free(&r);
}

/* Runs argv; its exit status (its output into out). */
static int run(const char *const *argv, const char *out)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        FILE *f = freopen(out, "w", stdout);
        (void)f;
        dup2(1, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void show(const char *path)
{
    char cmd[E2E_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "cat %s >&2", path);
    (void)system(cmd);
}

Test(transparency, checkpoints_proofs_entries_receipts_and_two_verifiers, .timeout = 170)
{
    struct world w;
    start(&w);

    /* checkpoints: the newest, by size, and the history */
    struct audit_note n13, n5;
    checkpoint(&w, "/transparency/checkpoint", &n13);
    cr_assert_eq(n13.size, 13);
    checkpoint(&w, "/transparency/checkpoint?size=5", &n5);
    cr_assert_eq(n5.size, 5);
    expect_param(&w, "/transparency/checkpoint?size=6", 404, "size");
    expect_param(&w, "/transparency/checkpoint?size=x", 400, "size");
    struct e2e_response r;
    api_call(&w.s, NULL, "GET", "/transparency/checkpoints?limit=2", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 2, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "next")), 10, "%s", r.body);
    e2e_response_free(&r);

    /* inclusion of every entry in the newest tree, and of 3 in the tree of 5 */
    for (int seq = 1; seq <= 13; seq++) {
        char path[128];
        snprintf(path, sizeof path, "/transparency/proof/inclusion?seq=%d&size=13", seq);
        api_call(&w.s, NULL, "GET", path, NULL, &r);
        e2e_assert_status(&w.s, &r, 200);
        unsigned char p[AUDIT_PROOF_MAX][AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
        size_t np = hashes(&r, p);
        e2e_response_free(&r);
        /* the leaf from the entry itself, as the data owner sees it */
        struct api_session dfv;
        if (seq == 1 || seq == 13) {
            api_login(&w.s, "dfv@skat.dk", &dfv);
            snprintf(path, sizeof path, "/transparency/entry?seq=%d", seq);
            api_call(&w.s, &dfv, "GET", path, NULL, &r);
            e2e_assert_status(&w.s, &r, 200);
            cr_assert_str_eq(e2e_header(&r, "Content-Type"), "application/octet-stream");
            audit_tree_leaf_hash((str_t){r.body, r.body_len}, leaf);
            e2e_response_free(&r);
            cr_assert(audit_tree_verify_inclusion(leaf, seq - 1, 13,
                                                  (const unsigned char(*)[AUDIT_HASH_LEN])p, np,
                                                  n13.root),
                      "entry %d", seq);
        }
    }
    api_call(&w.s, NULL, "GET", "/transparency/proof/consistency?from=5&to=13", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    {
        unsigned char p[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
        size_t np = hashes(&r, p);
        cr_assert(audit_tree_verify_consistency(5, 13, n5.root, n13.root,
                                                (const unsigned char(*)[AUDIT_HASH_LEN])p, np));
    }
    e2e_response_free(&r);

    /* without a size: against the newest signed checkpoint, carried in the
     * answer (what the insight report's rows link to) */
    api_call(&w.s, NULL, "GET", "/transparency/proof/inclusion?seq=7", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    {
        unsigned char p[AUDIT_PROOF_MAX][AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
        size_t np = hashes(&r, p);
        cr_assert_eq(json_integer_value(json_object_get(r.json, "tree_size")), 13, "%s", r.body);
        const char *note = json_string_value(json_object_get(r.json, "checkpoint"));
        cr_assert_not_null(note, "%s", r.body);
        struct audit_note nn;
        err_t err;
        cr_assert_eq(audit_note_open(str_from_cstr(note), w.name, w.pub, &nn, &err), 0, "%s",
                     err.log);
        cr_assert_eq(nn.size, 13);
        char url[64];
        size_t k = 0;
        for (const char *t = json_string_value(json_object_get(r.json, "leaf_hash"));
             *t && *t != '='; t++)
            url[k++] = *t == '+' ? '-' : *t == '/' ? '_' : *t;
        url[k] = 0;
        cr_assert_eq(base64url_decode(str_from_cstr(url), leaf, AUDIT_HASH_LEN), AUDIT_HASH_LEN);
        cr_assert(audit_tree_verify_inclusion(
            leaf, 6, 13, (const unsigned char(*)[AUDIT_HASH_LEN])p, np, nn.root));
    }
    e2e_response_free(&r);
    expect_param(&w, "/transparency/proof/inclusion?seq=14", 409, "seq");

    /* bad parameters: 400 naming the parameter */
    expect_param(&w, "/transparency/proof/inclusion?seq=14&size=13", 400, "size");
    expect_param(&w, "/transparency/proof/inclusion?seq=1&size=99", 400, "size");
    expect_param(&w, "/transparency/proof/inclusion?size=3", 400, "seq");
    expect_param(&w, "/transparency/proof/inclusion?seq=abc&size=3", 400, "seq");
    expect_param(&w, "/transparency/proof/inclusion?seq=0&size=3", 400, "seq");
    expect_param(&w, "/transparency/proof/consistency?from=6&to=5", 400, "to");
    expect_param(&w, "/transparency/proof/consistency?from=1&to=99", 400, "to");
    expect_param(&w, "/transparency/proof/consistency?from=-1&to=5", 400, "from");
    expect_param(&w, "/transparency/proof/consistency?from=1&to=5&x=1", 400, "x");

    /* entries and receipts: the data owner, the receiving organisation's
     * administrator; not another organisation, not anonymous */
    struct api_session a, b;
    api_login(&w.s, "adm@a.dk", &a);
    api_login(&w.s, "adm@b.dk", &b);
    api_expect(&w.s, &a, "GET", "/transparency/entry?seq=3", NULL, 200);
    api_expect(&w.s, &b, "GET", "/transparency/entry?seq=3", NULL, 403);
    api_expect(&w.s, &b, "GET", "/transparency/entry?seq=99", NULL, 403);
    api_expect(&w.s, NULL, "GET", "/transparency/entry?seq=3", NULL, 401);
    api_expect(&w.s, &b, "GET", "/api/receipts/3", NULL, 403);
    api_expect(&w.s, &a, "GET", "/api/receipts/x3", NULL, 400);
    api_call(&w.s, &a, "GET", "/api/receipts/3", NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "tree_size")), 5, "%s", r.body);
    char receipt[E2E_PATH_MAX], bad[E2E_PATH_MAX], vkeyf[E2E_PATH_MAX], log[E2E_PATH_MAX];
    e2e_path(&w.s, "receipt-3.json", receipt);
    e2e_path(&w.s, "receipt-bad.json", bad);
    e2e_path(&w.s, "vkey.txt", vkeyf);
    e2e_path(&w.s, "verify.log", log);
    FILE *f = fopen(receipt, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    /* the tampered one: one character of the entry changed */
    char *e = strstr(r.body, "\"entry\":\"");
    cr_assert_not_null(e);
    e[9 + 20] = e[9 + 20] == 'A' ? 'B' : 'A';
    f = fopen(bad, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    e2e_response_free(&r);
    f = fopen(vkeyf, "w");
    fprintf(f, "%s\n", w.vkey);
    fclose(f);

    /* dupla audit receipt verify */
    const char *dupla = getenv("DUPLA_BIN");
    cr_assert_not_null(dupla);
    const char *ok[] = {dupla, "audit", "receipt", "verify", receipt, "--key", vkeyf, NULL};
    int rc = run(ok, log);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);
    const char *no[] = {dupla, "audit", "receipt", "verify", bad, "--key", w.vkey, NULL};
    rc = run(no, log);
    if (rc != 1)
        show(log);
    cr_assert_eq(rc, 1);

    /* the independent verifier */
    char script[E2E_PATH_MAX], url[64], ca[E2E_PATH_MAX];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(script, sizeof script, "%s/tests/tools/tverify.py", root ? root : ".");
    snprintf(url, sizeof url, "https://127.0.0.1:%u", e2e_port(&w.s, "api"));
    e2e_pki_path(&w.s, "ca.pem", ca);
    const char *py_self[] = {"python3", script, "selftest", NULL};
    rc = run(py_self, log);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);
    const char *py_r[] = {"python3", script, "receipt", receipt, "--vkey", w.vkey, NULL};
    rc = run(py_r, log);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);
    const char *py_bad[] = {"python3", script, "receipt", bad, "--vkey", w.vkey, NULL};
    cr_assert_eq(run(py_bad, log), 1);
    const char *py_srv[] = {"python3", script,   "server", "--url",     url,     "--ca",
                            ca,        "--vkey", w.vkey,   "--receipt", receipt, NULL};
    rc = run(py_srv, log);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);

    /* more entries later: the receipt still verifies, against the newer tree */
    record(&w, 4);
    rc = run(py_srv, log);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);

    /* a tree node changed in the store: the proofs that use it fail in
     * both verifiers, and dupla audit verify names it */
    {
        struct dupla_config cfg;
        err_t err;
        store_t *st;
        store_conn_t *c;
        cr_assert_eq(config_load(w.s.config, &cfg, &err), 0);
        cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0);
        cr_assert_eq(store_conn_get(st, &c, &err), 0);
        bool pg = strcmp(store_backend(st), "postgresql") == 0;
        cr_assert_eq(store_exec(c,
                                pg ? "DROP TRIGGER IF EXISTS audit_tree_node_append_only "
                                     "ON audit_tree_node"
                                   : "DROP TRIGGER IF EXISTS audit_tree_node_no_update",
                                &err),
                     0, "%s", err.log);
        cr_assert_eq(store_exec(c,
                                "UPDATE audit_tree_node SET hash = (SELECT hash FROM "
                                "audit_tree_node WHERE end_size = 1 AND level = 0) "
                                "WHERE end_size = 4 AND level = 0",
                                &err),
                     0, "%s", err.log);
        store_conn_put(c);
        store_close(st);
        config_free(&cfg);
    }
    rc = run(py_srv, log);
    if (rc != 1)
        show(log);
    cr_assert_eq(rc, 1, "the Python verifier misses a changed node");
    const char *v[] = {dupla, "audit", "verify", "--config", w.s.config, "--quiet", NULL};
    rc = run(v, log);
    if (rc != 1)
        show(log);
    cr_assert_eq(rc, 1);
    stop(&w);
}

/* Runs `dupla audit witness` against the server; its exit status. */
static int witness(struct world *w, const char *state, const char *log, bool with_key)
{
    char url[64], ca[E2E_PATH_MAX];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", e2e_port(&w->s, "api"));
    e2e_pki_path(&w->s, "ca.pem", ca);
    const char *dupla = getenv("DUPLA_BIN");
    const char *argv[] = {dupla, "audit", "witness", "--url", url,     "--state",
                          state, "--ca",  ca,        "--key", w->vkey, NULL};
    if (!with_key)
        argv[9] = NULL;
    return run(argv, log);
}

static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, text) != NULL;
}

/* The platform removes entries 11 to 17 and appends others in their place
 * (what restoring an older copy and going on would look like), signing the
 * new trees with its own key: the witness holds it to the tree of 17 it
 * signed before. */
static void rewrite_after(struct world *w, int keep)
{
    struct dupla_config cfg;
    err_t err;
    store_t *st;
    store_conn_t *c;
    cr_assert_eq(config_load(w->s.config, &cfg, &err), 0);
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0);
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    bool pg = strcmp(store_backend(st), "postgresql") == 0;
    static const char *const pg_triggers[][2] = {
        {"audit_entry_append_only", "audit_entry"},
        {"audit_subject_append_only", "audit_entry_subject"},
        {"audit_delivery_append_only", "audit_entry_delivery"},
        {"audit_version_append_only", "audit_entry_version"},
        {"audit_checkpoint_append_only", "audit_checkpoint"},
        {"audit_tree_node_append_only", "audit_tree_node"},
        {"audit_tree_head_append_only", "audit_tree_head"},
    };
    static const char *const tables[] = {"audit_entry", "audit_entry_subject",
                                         "audit_entry_delivery", "audit_entry_version",
                                         "audit_checkpoint"};
    char sql[256];
    for (size_t i = 0; i < sizeof pg_triggers / sizeof pg_triggers[0]; i++) {
        if (pg)
            snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s ON %s", pg_triggers[i][0],
                     pg_triggers[i][1]);
        else
            snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s_no_delete",
                     i == 0   ? "audit_entry"
                     : i == 1 ? "audit_subject"
                     : i == 2 ? "audit_delivery"
                     : i == 3 ? "audit_version"
                     : i == 4 ? "audit_checkpoint"
                     : i == 5 ? "audit_tree_node"
                              : "audit_tree_head");
        cr_assert_eq(store_exec(c, sql, &err), 0, "%s: %s", sql, err.log);
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE seq > %d", tables[i], keep);
        cr_assert_eq(store_exec(c, sql, &err), 0, "%s: %s", sql, err.log);
    }
    snprintf(sql, sizeof sql, "DELETE FROM audit_tree_node WHERE end_size > %d", keep);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    snprintf(sql, sizeof sql, "DELETE FROM audit_tree_head WHERE tree_size > %d", keep);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
    config_free(&cfg);
}

Test(transparency, a_witness_holds_the_log_to_its_history_and_catches_a_rewrite, .timeout = 120)
{
    struct world w;
    start(&w);
    char state[E2E_PATH_MAX], log[E2E_PATH_MAX], ev[E2E_PATH_MAX + 64];
    e2e_path(&w.s, "witness", state);
    e2e_path(&w.s, "witness.log", log);
    /* the first run needs the key */
    int rc = witness(&w, state, log, false);
    cr_assert_eq(rc, 1, "no key on the first run");
    cr_assert(file_has(log, "verifier key"));
    rc = witness(&w, state, log, true);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);
    cr_assert(file_has(log, "tree size 13"));
    rc = witness(&w, state, log, false); /* the key is kept */
    cr_assert_eq(rc, 0);
    cr_assert(file_has(log, "unchanged"));
    record(&w, 4);
    rc = witness(&w, state, log, false);
    if (rc != 0)
        show(log);
    cr_assert_eq(rc, 0);
    cr_assert(file_has(log, "tree size 17 extends the tree of size 13"));
    char cp[E2E_PATH_MAX];
    cr_assert_eq(access(e2e_path(&w.s, "witness/cp-13", cp), F_OK), 0, "kept");
    cr_assert_eq(access(e2e_path(&w.s, "witness/cp-17", cp), F_OK), 0, "kept");
    cr_assert_eq(access(e2e_path(&w.s, "witness/key", cp), F_OK), 0, "kept");

    /* history rewritten after entry 10: 4 other entries, a signed tree of 14 */
    rewrite_after(&w, 10);
    record(&w, 4);
    rc = witness(&w, state, log, false);
    if (rc != 3)
        show(log);
    cr_assert_eq(rc, 3, "a rolled back log is caught");
    cr_assert(file_has(log, "REWRITTEN HISTORY"));
    cr_assert(file_has(log, "tree of 14 entries, but it signed a tree of 17"));
    /* ... and when it has grown past 17 again, the proof fails */
    record(&w, 6);
    rc = witness(&w, state, log, false);
    if (rc != 3)
        show(log);
    cr_assert_eq(rc, 3, "a rewritten log is caught");
    cr_assert(file_has(log, "does not extend the tree of 17"));
    cr_assert(file_has(log, "kept in"));
    /* the evidence: both signed checkpoints */
    snprintf(ev, sizeof ev, "ls %s/evidence-* >/dev/null 2>&1", state);
    cr_assert_eq(system(ev), 0, "evidence kept");
    /* a witness's state is for one key */
    char other[AUDIT_VKEY_MAX + 8];
    snprintf(other, sizeof other, "%s", w.vkey);
    other[strlen(other) - 2] = other[strlen(other) - 2] == 'A' ? 'B' : 'A';
    char url[64], ca[E2E_PATH_MAX];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", e2e_port(&w.s, "api"));
    e2e_pki_path(&w.s, "ca.pem", ca);
    const char *argv[] = {getenv("DUPLA_BIN"),
                          "audit",
                          "witness",
                          "--url",
                          url,
                          "--state",
                          state,
                          "--ca",
                          ca,
                          "--key",
                          other,
                          NULL};
    cr_assert_eq(run(argv, log), 1);
    cr_assert(file_has(log, "another verifier key"));
    stop(&w);
}

/* An access token for system name (of org cvr), from the token endpoint
 * over mutual TLS with its PKCS#12 file. */
static void system_token(struct world *w, const char *name, const char *cvr, char *out, size_t cap)
{
    char rel[64], pem[E2E_PATH_MAX], p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256];
    cr_assert_eq(e2e_issue_system(&w->s, name, cvr, NULL), 0);
    snprintf(rel, sizeof rel, "%s.pem", name);
    const char *reg[] = {"system", "register", "--org",  cvr,
                         "--name", name,       "--cert", e2e_pki_path(&w->s, rel, pem),
                         NULL};
    api_must(&w->s, reg);
    snprintf(rel, sizeof rel, "%s.p12", name);
    e2e_pki_path(&w->s, rel, p12);
    snprintf(rel, sizeof rel, "%s.p12.pass", name);
    cr_assert_eq(e2e_read_line(e2e_pki_path(&w->s, rel, pwfile), pw, sizeof pw), 0);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = "client_id=api-gateway&scope=openid&grant_type=password",
                             .p12_file = p12,
                             .p12_password = pw};
    struct e2e_response r;
    for (int i = 0; i < 100; i++) { /* the registry's poll sees the new system */
        cr_assert_eq(e2e_request(&w->s, &rq, &r), 0, "token: %s", r.error);
        if (r.status == 200)
            break;
        e2e_response_free(&r);
        usleep(50 * 1000);
    }
    e2e_assert_status(&w->s, &r, 200);
    snprintf(out, cap, "%s", json_string_value(json_object_get(r.json, "access_token")));
    e2e_response_free(&r);
}

static void bearer_get(struct world *w, const char *tok, const char *path, struct e2e_response *r)
{
    static char h[4200];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    const char *hs[] = {h, NULL};
    struct e2e_request rq = {.path = path, .headers = hs};
    cr_assert_eq(e2e_request(&w->s, &rq, r), 0, "%s", r->error);
}

/* A recipient system asks for its receipts with its bearer token (no web
 * session): its own organisation's entries only, every refusal a problem
 * naming its parameter. */
Test(transparency, a_system_gets_its_own_receipts_with_its_bearer_token, .timeout = 120)
{
    struct world w;
    start(&w);
    static char tok[4096];
    system_token(&w, "sysa", CVR_A, tok, sizeof tok);
    struct e2e_response r;
    /* entry 3 went to A: a receipt that verifies offline */
    bearer_get(&w, tok, "/api/receipts/3", &r);
    e2e_assert_status(&w.s, &r, 200);
    struct audit_receipt_info info;
    err_t err;
    cr_assert_eq(audit_receipt_check((str_t){r.body, r.body_len}, w.name, w.pub, &info, &err), 0,
                 "%s", err.log);
    cr_assert_eq(info.seq, 3);
    e2e_response_free(&r);
    bearer_get(&w, tok, "/transparency/entry?seq=3", &r);
    e2e_assert_status(&w.s, &r, 200);
    e2e_response_free(&r);
    /* entry 2 went to B, 99 does not exist: the same refusal, naming seq */
    const char *other[] = {"/api/receipts/2", "/api/receipts/99", "/transparency/entry?seq=2"};
    for (size_t i = 0; i < 3; i++) {
        bearer_get(&w, tok, other[i], &r);
        e2e_assert_status(&w.s, &r, 403);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "problem+json"), "%s", other[i]);
        cr_assert_str_eq(api_problem_param(&r), "seq", "%s: %s", other[i], r.body);
        e2e_response_free(&r);
    }
    bearer_get(&w, tok, "/api/receipts/0", &r);
    e2e_assert_status(&w.s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "seq", "%s", r.body);
    e2e_response_free(&r);
    /* a forged token: 401, a problem with the bearer challenge */
    char forged[4096];
    snprintf(forged, sizeof forged, "%s", tok);
    size_t n = strlen(forged);
    forged[n - 3] = forged[n - 3] == 'A' ? 'B' : 'A';
    bearer_get(&w, forged, "/api/receipts/3", &r);
    e2e_assert_status(&w.s, &r, 401);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "problem+json"));
    cr_assert_not_null(e2e_header(&r, "WWW-Authenticate"));
    e2e_response_free(&r);
    /* the token reaches the receipts and entries, not the administrators' lists */
    bearer_get(&w, tok, "/api/disclosures/own", &r);
    e2e_assert_status(&w.s, &r, 403);
    e2e_response_free(&r);

    /* a receipt from before a restart verifies after it, and its tree is
     * proved to be part of the newer one the restarted server signs */
    bearer_get(&w, tok, "/api/receipts/13", &r);
    e2e_assert_status(&w.s, &r, 200);
    char *before = strdup(r.body);
    e2e_response_free(&r);
    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&w.s), 0);
    unsetenv("DUPLA_E2E_KEEP");
    cr_assert_eq(e2e_restart(NULL, &w.s), 0);
    record(&w, 6);
    cr_assert_eq(audit_receipt_check(str_from_cstr(before), w.name, w.pub, &info, &err), 0, "%s",
                 err.log);
    struct audit_note now;
    checkpoint(&w, "/transparency/checkpoint", &now);
    cr_assert_eq(now.size, 19);
    char path[128];
    snprintf(path, sizeof path, "/transparency/proof/consistency?from=%lld&to=19",
             (long long)info.tree_size);
    api_call(&w.s, NULL, "GET", path, NULL, &r);
    e2e_assert_status(&w.s, &r, 200);
    unsigned char p[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t np = hashes(&r, p);
    cr_assert(audit_tree_verify_consistency(info.tree_size, 19, info.root, now.root,
                                            (const unsigned char(*)[AUDIT_HASH_LEN])p, np),
              "the receipt's tree is not part of the log after the restart");
    e2e_response_free(&r);
    free(before);
    /* the token still works after the restart (the same signing keys) */
    bearer_get(&w, tok, "/api/receipts/14", &r); /* record() begins with A again */
    e2e_assert_status(&w.s, &r, 200);
    e2e_response_free(&r);
    stop(&w);
}
