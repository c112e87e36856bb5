/*
 * End-to-end: `dupla store copy` moves a whole platform between stores.
 *
 * A platform is built with the real tools on SQLite (`dupla demo
 * --setup-only`: organisations, users, a system, an agreement, synthetic
 * records; an incident by phone and an operations-log entry through the
 * CLI; disclosure-log entries and signed checkpoints through the audit
 * module), then copied SQLite -> PostgreSQL -> SQLite (on the test server
 * when DUPLA_TEST_PG is set; SQLite -> SQLite -> SQLite without it). Every
 * table's row count must match at each step, the round trip must give
 * every row back byte for byte, and `dupla audit verify` must pass on each
 * copy. The refusals: a target that holds data, a source of a newer schema,
 * and a bad URL, each with one line.
 *
 * The SQLite stores here are real SQLite files even in the PostgreSQL pass
 * (DUPLA_TEST_STORE_PG is unset), so that both backends take part.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "harness.h"
#include "identity/identity.h"
#include "pki/sign.h"
#include "store/store.h"

#define ENTRIES 35

struct world {
    char dir[E2E_DIR_MAX];
    char demo[E2E_DIR_MAX + 16];
    char source[E2E_PATH_MAX]; /* the demo's SQLite store */
    char pg_schema[64];        /* "" without a PostgreSQL server */
};

static void run_ok(const char *const *args, const char *out)
{
    int rc = e2e_run_dupla(args, out);
    if (rc != 0) {
        char cmd[E2E_PATH_MAX + 32];
        snprintf(cmd, sizeof cmd, "tail -20 %s >&2", out);
        (void)system(cmd);
    }
    cr_assert_eq(rc, 0, "dupla %s %s exited %d (see %s)", args[0], args[1], rc, out);
}

static void log_entries(const struct world *w)
{
    char cfg_path[E2E_PATH_MAX], key[E2E_PATH_MAX];
    snprintf(cfg_path, sizeof cfg_path, "%s/dupla.json", w->demo);
    snprintf(key, sizeof key, "%s/audit-signing.key", w->demo);
    err_t err;
    store_t *st;
    cr_assert_eq(store_open(w->source, NULL, &st, &err), 0, "%s", err.log);
    pki_signer_t *signer;
    cr_assert_eq(pki_signer_load(key, &signer, &err), 0, "%s", err.log);
    struct audit_options opt = {.environment = "test", .signer = signer, .checkpoint_every = 10};
    audit_log_t *log;
    cr_assert_eq(audit_open(st, &opt, &log, &err), 0, "%s", err.log);
    for (int i = 0; i < ENTRIES; i++) {
        char cpr[16], rid[40];
        snprintf(cpr, sizeof cpr, "01019%05d", i);
        snprintf(rid, sizeof rid, "copy-test-%d", i);
        struct audit_subject subjects[] = {{AUDIT_SUBJECT_CPR, str_from_cstr(cpr)},
                                           {AUDIT_SUBJECT_CPR, STR("0202900000")}};
        str_t fields[] = {STR("PersonligIndkomst"), STR("SkattepligtigIndkomst")};
        str_t periods[] = {STR("2023")};
        bool refused = i % 7 == 3;
        struct audit_entry e = {.org_cvr = STR(IDENTITY_DEMO_CVR),
                                .system_id = STR("demo"),
                                .agreement_id = STR("agreement"),
                                .agreement_version = 1,
                                .service = STR("Aarsopgoerelse"),
                                .request_id = str_from_cstr(rid),
                                .transaction_id = STR("tx"),
                                .subjects = subjects,
                                .n_subjects = 1 + (size_t)(i % 2),
                                .periods = periods,
                                .n_periods = 1,
                                .fields = fields,
                                .n_fields = refused ? 0 : 2,
                                .record_count = refused ? 0 : 1,
                                .outcome = refused ? AUDIT_REFUSED : AUDIT_DISCLOSED,
                                .reason = refused ? STR("agreement-suspended") : STR("")};
        cr_assert_eq(audit_record(log, &e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log); /* signs a last checkpoint */
    pki_signer_free(signer);
    store_close(st);
}

static void build(struct world *w)
{
    /* real SQLite files, in both passes */
    unsetenv("DUPLA_TEST_STORE_PG");
    snprintf(w->dir, sizeof w->dir, "/tmp/dupla-copy-XXXXXX");
    cr_assert_not_null(mkdtemp(w->dir));
    snprintf(w->demo, sizeof w->demo, "%s/demo", w->dir);
    snprintf(w->source, sizeof w->source, "sqlite:%s/dupla.db", w->demo);
    char out[E2E_PATH_MAX], cfg[E2E_PATH_MAX];
    snprintf(out, sizeof out, "%s/build.txt", w->dir);
    snprintf(cfg, sizeof cfg, "%s/dupla.json", w->demo);
    const char *demo[] = {"demo",         "--dir", w->demo,        "--api-port", "40001",
                          "--token-port", "40002", "--setup-only", NULL};
    run_ok(demo, out);
    const char *phone[] = {"incident",  "phone",         "--config",
                           cfg,         "--org",         IDENTITY_DEMO_CVR,
                           "--caller",  "Pia Hansen",    "--type",
                           "Prod-Data", "--description", "Momsangivelse mangler felt A for 2024",
                           NULL};
    run_ok(phone, out);
    const char *opslog[] = {
        "opslog",      "post",    "--config",   cfg,      "--kind",
        "information", "--title", "Ny version", "--text", "Ny version af platformen",
        NULL};
    run_ok(opslog, out);
    log_entries(w);
}

/* A store URL for the folder's file name, or the PostgreSQL schema. */
static void pg_url(const struct world *w, char *out, size_t cap)
{
    snprintf(out, cap, "%s options=-csearch_path=%s", getenv("DUPLA_TEST_PG"), w->pg_schema);
}

static void make_pg_schema(struct world *w)
{
    const char *pg = getenv("DUPLA_TEST_PG");
    if (!pg || !pg[0])
        return;
    snprintf(w->pg_schema, sizeof w->pg_schema, "copy_%ld", (long)getpid());
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(pg, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0, "%s", err.log);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", w->pg_schema,
             w->pg_schema);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
}

static void drop_pg_schema(const struct world *w)
{
    if (!w->pg_schema[0])
        return;
    store_t *st;
    err_t err;
    if (store_open(getenv("DUPLA_TEST_PG"), NULL, &st, &err))
        return;
    store_conn_t *c;
    if (store_conn_get(st, &c, &err) == 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", w->pg_schema);
        store_exec(c, sql, &err);
        store_conn_put(c);
    }
    store_close(st);
}

static size_t tables_of(const char *url, struct store_table *t)
{
    store_t *st;
    err_t err;
    struct store_options o = {.read_only = true};
    cr_assert_eq(store_open(url, &o, &st, &err), 0, "%s: %s", url, err.log);
    size_t n = 0;
    cr_assert_eq(store_tables(st, t, STORE_TABLES_MAX, &n, &err), 0, "%s", err.log);
    store_close(st);
    return n;
}

static void same_counts(const char *a, const char *b)
{
    struct store_table ta[STORE_TABLES_MAX], tb[STORE_TABLES_MAX];
    size_t na = tables_of(a, ta), nb = tables_of(b, tb);
    cr_assert_eq(na, nb, "%zu tables in %s, %zu in %s", na, a, nb, b);
    cr_assert_geq(na, 20, "the platform's tables (%zu)", na);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(ta[i].name, tb[i].name);
        cr_expect_eq(ta[i].rows, tb[i].rows, "table %s: %lld rows in %s, %lld in %s", ta[i].name,
                     (long long)ta[i].rows, a, (long long)tb[i].rows, b);
    }
}

/* An order-free digest of a table's rows: the sum of each row's FNV-1a hash
 * over its cells' bytes (NULL told apart from ""). */
static uint64_t table_digest(store_conn_t *c, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
    store_stmt_t *s;
    err_t err;
    cr_assert_eq(store_prepare(c, sql, &s, &err), 0, "%s", err.log);
    uint64_t sum = 0;
    while (store_step(s, &err) == STORE_ROW) {
        uint64_t h = 1469598103934665603ULL;
        for (int i = 0; i < store_col_count(s); i++) {
            str_t v = store_col_blob(s, i);
            unsigned char mark = store_col_is_null(s, i) ? 0xff : 0x01;
            h = (h ^ mark) * 1099511628211ULL;
            for (size_t k = 0; k < v.len; k++)
                h = (h ^ (unsigned char)v.ptr[k]) * 1099511628211ULL;
        }
        sum += h;
    }
    store_stmt_done(s);
    return sum;
}

static void same_rows(const char *a, const char *b)
{
    struct store_table t[STORE_TABLES_MAX];
    size_t n = tables_of(a, t);
    store_t *sa, *sb;
    err_t err;
    cr_assert_eq(store_open(a, NULL, &sa, &err), 0, "%s", err.log);
    cr_assert_eq(store_open(b, NULL, &sb, &err), 0, "%s", err.log);
    store_conn_t *ca, *cb;
    cr_assert_eq(store_conn_get(sa, &ca, &err), 0);
    cr_assert_eq(store_conn_get(sb, &cb, &err), 0);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(table_digest(ca, t[i].name), table_digest(cb, t[i].name),
                     "table %s differs after the round trip", t[i].name);
    store_conn_put(ca);
    store_conn_put(cb);
    store_close(sa);
    store_close(sb);
}

static void verify_log(const struct world *w, const char *url, const char *name)
{
    char cfg[E2E_PATH_MAX], out[E2E_PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/%s.json", w->dir, name);
    snprintf(out, sizeof out, "%s/%s-verify.txt", w->dir, name);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"environment\": \"test\", \"store\": \"%s\"}\n", url);
    fclose(f);
    const char *verify[] = {"audit", "verify", "--config", cfg, "--quiet", NULL};
    run_ok(verify, out);
    f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[1024], want[64];
    snprintf(want, sizeof want, "OK: %d entries verified", ENTRIES);
    bool ok = false, cps = false;
    while (fgets(line, sizeof line, f)) {
        ok |= strstr(line, want) != NULL;
        cps |= strstr(line, "checkpoint signatures verified") && strncmp(line, "0 ", 2) != 0;
    }
    fclose(f);
    cr_assert(ok, "audit verify on %s: no '%s' (see %s)", name, want, out);
    cr_assert(cps, "audit verify on %s checked no checkpoint (see %s)", name, out);
}

/* Runs a copy that must fail; returns its output (one line) in line. */
static void refused(const struct world *w, const char *from, const char *to, char *line, size_t cap)
{
    char out[E2E_PATH_MAX];
    snprintf(out, sizeof out, "%s/refused.txt", w->dir);
    unlink(out);
    const char *args[] = {"store", "copy", "--from", from, "--to", to, "--quiet", NULL};
    cr_assert_eq(e2e_run_dupla(args, out), 1, "the copy from %s to %s did not fail", from, to);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    int lines = 0;
    char buf[2048];
    while (fgets(buf, sizeof buf, f)) {
        lines++;
        snprintf(line, cap, "%s", buf);
    }
    fclose(f);
    cr_assert_eq(lines, 1, "one line, got %d (see %s)", lines, out);
}

Test(store_copy, sqlite_to_postgresql_and_back_keeps_every_row_and_the_log_verifies, .timeout = 170)
{
    struct world w;
    memset(&w, 0, sizeof w);
    build(&w);
    make_pg_schema(&w);
    char mid[E2E_PATH_MAX + 128], back[E2E_PATH_MAX], out[E2E_PATH_MAX];
    if (w.pg_schema[0])
        pg_url(&w, mid, sizeof mid);
    else
        snprintf(mid, sizeof mid, "sqlite:%s/mid.db", w.dir);
    snprintf(back, sizeof back, "sqlite:%s/back.db", w.dir);
    snprintf(out, sizeof out, "%s/copy.txt", w.dir);

    const char *there[] = {"store", "copy", "--from", w.source, "--to", mid, NULL};
    run_ok(there, out);
    same_counts(w.source, mid);
    verify_log(&w, mid, "mid");
    const char *home[] = {"store", "copy", "--from", mid, "--to", back, NULL};
    run_ok(home, out);
    same_counts(w.source, back);
    same_rows(w.source, back);
    verify_log(&w, back, "back");
    /* progress lines (not a terminal) and the summary */
    char cmd[E2E_PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "grep -q '^copied audit_entry: %d rows' %s", ENTRIES, out);
    cr_expect_eq(system(cmd), 0, "no progress line for audit_entry in %s", out);
    snprintf(cmd, sizeof cmd, "grep -q '^OK: .* rows in .* tables copied' %s", out);
    cr_expect_eq(system(cmd), 0, "no summary in %s", out);
    snprintf(cmd, sizeof cmd, "grep -q 'warning' %s", out);
    cr_expect_neq(system(cmd), 0, "a warning in %s", out);

    /* the copy of PostgreSQL's sequences continues after the copied ids */
    if (w.pg_schema[0]) {
        char cfg[E2E_PATH_MAX];
        snprintf(cfg, sizeof cfg, "%s/mid.json", w.dir);
        const char *phone[] = {
            "incident", "phone", "--config", cfg,   "--org",         IDENTITY_DEMO_CVR,
            "--caller", "Ole",   "--type",   "TFE", "--description", "Testmiljøet svarer ikke",
            NULL};
        run_ok(phone, out);
    }

    /* a target that holds data: refused, naming a table, left as it was */
    char line[2048];
    refused(&w, w.source, back, line, sizeof line);
    cr_assert(strstr(line, "the target is not empty: table "), "%s", line);
    same_counts(w.source, back);
    same_rows(w.source, back);
    drop_pg_schema(&w);
    if (!getenv("DUPLA_E2E_KEEP")) {
        char rm[E2E_DIR_MAX + 16];
        snprintf(rm, sizeof rm, "rm -rf %s", w.dir);
        (void)system(rm);
    }
}

Test(store_copy, refusals_are_one_clear_line, .timeout = 120)
{
    struct world w;
    memset(&w, 0, sizeof w);
    build(&w);
    char line[2048], url[E2E_PATH_MAX], newer[E2E_PATH_MAX], out[E2E_PATH_MAX];

    /* unreachable server, missing file, garbage connection string */
    snprintf(url, sizeof url, "sqlite:%s/target.db", w.dir);
    refused(&w, w.source, "postgresql://dupla@127.0.0.1:1/dupla?connect_timeout=3", line,
            sizeof line);
    cr_assert(strstr(line, "dupla store copy: --to: ") && strstr(line, "cannot connect"), "%s",
              line);
    refused(&w, "sqlite:/nonexistent/dupla.db", url, line, sizeof line);
    cr_assert(strstr(line, "dupla store copy: --from: "), "%s", line);
    refused(&w, w.source, "host=127.0.0.1 port='1", line, sizeof line);
    cr_assert(strstr(line, "--to: ") && strstr(line, "connection string"), "%s", line);

    /* a source of a newer schema than this binary knows */
    snprintf(newer, sizeof newer, "sqlite:%s/newer.db", w.dir);
    snprintf(out, sizeof out, "%s/copy.txt", w.dir);
    const char *copy[] = {"store", "copy", "--from", w.source, "--to", newer, NULL};
    run_ok(copy, out);
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(newer, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_exec(c, "INSERT INTO schema_migrations VALUES ('audit', 999, 0)", &err), 0,
                 "%s", err.log);
    store_conn_put(c);
    store_close(st);
    refused(&w, newer, url, line, sizeof line);
    cr_assert(strstr(line, "--from: ") && strstr(line, "schema version 999 of module 'audit'"),
              "%s", line);
    struct store_table t[STORE_TABLES_MAX];
    cr_assert_eq(tables_of(url, t), 0, "the refused copy created tables in the target");

    /* usage */
    const char *same[] = {"store", "copy", "--from", url, "--to", url, NULL};
    cr_assert_eq(e2e_run_dupla(same, NULL), 2);
    const char *help[] = {"store", "copy", "--help", NULL};
    cr_assert_eq(e2e_run_dupla(help, NULL), 0);
    if (!getenv("DUPLA_E2E_KEEP")) {
        char rm[E2E_DIR_MAX + 16];
        snprintf(rm, sizeof rm, "rm -rf %s", w.dir);
        (void)system(rm);
    }
}

/* "module:version;..." of a store's schema_migrations. */
static void migrations_of(const char *url, char *out, size_t cap)
{
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s: %s", url, err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0, "%s", err.log);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c,
                               "SELECT module, version FROM schema_migrations"
                               " ORDER BY module, version",
                               &s, &err),
                 0, "%s", err.log);
    size_t n = 0;
    out[0] = '\0';
    int rc;
    while ((rc = store_step(s, &err)) == STORE_ROW) {
        str_t m = store_col_text(s, 0);
        n += (size_t)snprintf(out + n, cap - n, "%.*s:%lld;", (int)m.len, m.ptr,
                              (long long)store_col_int64(s, 1));
        cr_assert_lt(n, cap);
    }
    cr_assert_eq(rc, STORE_DONE, "%s", err.log);
    store_stmt_done(s);
    store_conn_put(c);
    store_close(st);
}

/* `dupla store migrate` (and so `store copy`, which migrates its target the
 * same way) must know every module `dupla serve` migrates: a module whose
 * tables serve makes and the copy does not would be left behind by a copy. */
Test(store_copy, store_migrate_makes_the_schema_serve_makes, .timeout = 120)
{
    struct e2e_server s;
    cr_assert_eq(e2e_start(&(struct e2e_options){0}, &s), 0);
    char served[E2E_PATH_MAX + 8], fresh[E2E_PATH_MAX + 8], path[E2E_PATH_MAX];
    snprintf(served, sizeof served, "sqlite:%s", e2e_path(&s, "dupla.db", path));
    snprintf(fresh, sizeof fresh, "sqlite:%s", e2e_path(&s, "fresh.db", path));
    static char want[4096], got[4096];
    migrations_of(served, want, sizeof want);
    const char *migrate[] = {"store", "migrate", "--store", fresh, NULL};
    cr_assert_eq(e2e_run_dupla(migrate, e2e_path(&s, "migrate.log", path)), 0);
    migrations_of(fresh, got, sizeof got);
    cr_assert_str_eq(got, want, "store migrate made %s, serve made %s", got, want);
    cr_assert_eq(e2e_stop(&s), 0);
}
