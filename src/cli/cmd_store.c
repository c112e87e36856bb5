/*
 * cmd_store.c: `dupla store`, whole databases: copy a platform from one
 * store to another (SQLite to PostgreSQL and back, or within a backend),
 * bring a store's schema up to this binary's, and take an online backup of
 * a SQLite store.
 *
 * copy migrates the target the way `dupla serve` would (every module's
 * migrations), refuses a source of another schema version and a target
 * that holds data, then copies every table in one read snapshot of the
 * source and one transaction on the target (store_copy in store/copy.c),
 * so that a copy that fails half-way leaves the target's rows as they were.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/log.h"
#include "dataset/dataset.h"
#include "enrol/enrol.h"
#include "events/events.h"
#include "expiry/expiry.h"
#include "exposure/exposure.h"
#include "identity/identity.h"
#include "incident/incident.h"
#include "mail/mail.h"
#include "store/store.h"

#define STORE_CLI_POOL      2
#define STORE_CLI_BAR       30
#define STORE_CLI_REDRAW_NS (100 * 1000 * 1000LL)      /* terminal: at most 10 times a second */
#define STORE_CLI_LINE_NS   (5 * 1000 * 1000 * 1000LL) /* no terminal: a line every 5 s */
#define STORE_CLI_URL_MAX   4096

static const char usage_head[] =
    "usage: dupla store copy --from URL --to URL [--quiet]\n"
    "       dupla store migrate --store URL\n"
    "       dupla store backup --store URL --to FILE [--quiet]\n"
    "\n"
    "Whole databases. A URL is a store as in the configuration's \"store\": a\n"
    "PostgreSQL connection URI (postgresql://user@host/db) or key/value string\n"
    "(host=... dbname=...), or sqlite:PATH (or a bare path) for SQLite.\n"
    "\n";

static const char usage_tail[] =
    "copy      copies a whole platform (organisations, users, systems, sessions,\n"
    "          agreements, records and deliveries, the disclosure log with its\n"
    "          chain and checkpoints, incidents, the mail outbox, the operations\n"
    "          log: every table of every module) from --from to --to, either way\n"
    "          between SQLite and PostgreSQL. The target is migrated to this\n"
    "          binary's schema first and must hold no data; the source must have\n"
    "          the same schema version (not newer, not older). The source is read\n"
    "          in one snapshot (a running server may keep writing to it), the\n"
    "          target written in one transaction: a copy that fails leaves no\n"
    "          rows behind. Ids, 64-bit integers and blobs are copied as they are;\n"
    "          PostgreSQL sequences continue after the copied ids. Every table's\n"
    "          row count is checked before the commit. Shows a progress bar on a\n"
    "          terminal, progress lines otherwise; --quiet only the result.\n"
    "          Afterwards, `dupla audit verify` with a configuration naming the\n"
    "          target checks the copied log's chain and checkpoints.\n"
    "migrate   applies this binary's migrations to a store (what `dupla serve`\n"
    "          does at start), e.g. to bring an older source up to date\n"
    "backup    writes a consistent copy of a SQLite store to a new file while\n"
    "          `dupla serve` keeps using the store: one read snapshot, copied\n"
    "          page by page, checked (quick_check) and synced before it takes the\n"
    "          name FILE, so FILE is either absent or a whole copy; an existing\n"
    "          FILE is never overwritten. The copy is a store like the original:\n"
    "          point a configuration's \"store\" at it to restore, and check it\n"
    "          with `dupla audit verify`. Keys (token keys, the log's checkpoint\n"
    "          key, TLS) live in files beside the store: back them up too.\n"
    "          PostgreSQL: use pg_basebackup or pg_dump, or `store copy` to SQLite.\n"
    "\n"
    "examples:\n"
    "  dupla store copy --from sqlite:var/demo/dupla.db \\\n"
    "                   --to postgresql://dupla@db.example/dupla\n"
    "  dupla store copy --from 'host=db1 dbname=dupla' --to sqlite:backup.db\n"
    "  dupla store backup --store sqlite:/var/lib/dupla/dupla.db \\\n"
    "                     --to /var/backups/dupla-$(date +%F).db\n";

struct store_call {
    int argc;
    char **argv;
    const char *from;
    const char *to;
    const char *store;
    bool quiet;
};

/* ---- every module's migrations, as `dupla serve` applies them ---- */

static int migrate_agreement(store_t *st, err_t *err)
{
    agreement_t *ag;
    int rc = agreement_open(st, NULL, &ag, err);
    if (rc == 0)
        agreement_close(ag);
    return rc;
}

static int migrate_incident(store_t *st, err_t *err)
{
    incident_t *inc;
    int rc = incident_open(st, NULL, NULL, &inc, err);
    if (rc == 0)
        incident_close(inc);
    return rc;
}

/* In the order of serve's modules (lower layers first). */
static int (*const migrations[])(store_t *st, err_t *err) = {
    identity_migrate, dataset_migrate, mail_migrate,   migrate_agreement, audit_migrate,
    migrate_incident, expiry_migrate,  events_migrate, exposure_migrate,  enrol_migrate,
};

/* Columns one backend keeps and the other computes: PostgreSQL partitions
 * the disclosure log's subjects by their entry's time (audit/2), which
 * SQLite's subjects do not carry. */
static const struct store_copy_derived derived[] = {
    {"audit_entry_subject", "time_ms",
     "(SELECT e.time_ms FROM audit_entry e WHERE e.seq = audit_entry_subject.seq)"},
};

int cli_migrate_all(store_t *st, err_t *err)
{
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        int rc = migrations[i](st, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int open_url(const char *what, const char *url, bool read_only, store_t **st)
{
    struct store_options so = {.pool_size = STORE_CLI_POOL, .read_only = read_only};
    err_t err;
    err_clear(&err);
    if (store_open(url, &so, st, &err) == 0)
        return 0;
    fprintf(stderr, "dupla store %s: %s\n", what, err.log[0] ? err.log : err.detail);
    return 1;
}

static int fail(const char *what, const err_t *err)
{
    fprintf(stderr, "dupla store %s: %s\n", what, err->log[0] ? err->log : err->detail);
    return 1;
}

/* ---- progress ---- */

struct progress {
    bool tty;
    bool quiet;
    bool drawn;
    int64_t last_ns;
    size_t last_table;
};

static void show_progress(void *ctx, const struct store_copy_progress *p)
{
    struct progress *pr = ctx;
    if (pr->quiet)
        return;
    int64_t now = clock_mono_ns();
    bool table_end = p->table_done == p->table_rows;
    if (pr->tty) {
        if (!table_end && now - pr->last_ns < STORE_CLI_REDRAW_NS)
            return;
        pr->last_ns = now;
        int fill = p->total ? (int)(STORE_CLI_BAR * p->done / p->total) : STORE_CLI_BAR;
        char bar[STORE_CLI_BAR + 1];
        for (int i = 0; i < STORE_CLI_BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[STORE_CLI_BAR] = 0;
        fprintf(stderr, "\r[%s] %3d%%  %" PRId64 "/%" PRId64 " rows  table %zu/%zu %-28.28s\033[K",
                bar, p->total ? (int)(100 * p->done / p->total) : 100, p->done, p->total,
                p->table_no, p->n_tables, p->table);
        pr->drawn = true;
        return;
    }
    /* not a terminal: a line per table, and every few seconds in a long one */
    if (table_end && pr->last_table != p->table_no) {
        pr->last_table = p->table_no;
        fprintf(stderr,
                "copied %s: %" PRId64 " rows (table %zu of %zu, %" PRId64 " of %" PRId64 " rows)\n",
                p->table, p->table_rows, p->table_no, p->n_tables, p->done, p->total);
        pr->last_ns = now;
    } else if (!table_end && now - pr->last_ns >= STORE_CLI_LINE_NS) {
        fprintf(stderr, "copying %s: %" PRId64 " of %" PRId64 " rows\n", p->table, p->table_done,
                p->table_rows);
        pr->last_ns = now;
    }
}

/* ---- copy ---- */

static int run_copy(struct store_call *k)
{
    store_t *from = NULL, *to = NULL, *fresh = NULL;
    err_t err;
    err_clear(&err);
    int status = 1;
    if (open_url("copy: --from", k->from, true, &from) || open_url("copy: --to", k->to, false, &to))
        goto done;
    /* What this binary's schema is: every module migrated on an empty
     * database of its own. */
    if (store_open_memory(&fresh, &err) || cli_migrate_all(fresh, &err)) {
        fail("copy", &err);
        goto done;
    }
    if (store_copy_check_versions(from, fresh, &err)) {
        fprintf(stderr, "dupla store copy: --from: %s\n", err.log[0] ? err.log : err.detail);
        goto done;
    }
    if (store_copy_check_empty(to, fresh, &err)) {
        fprintf(stderr, "dupla store copy: --to: %s\n", err.log[0] ? err.log : err.detail);
        goto done;
    }
    if (cli_migrate_all(to, &err)) {
        fprintf(stderr, "dupla store copy: --to: %s\n", err.log[0] ? err.log : err.detail);
        goto done;
    }
    struct progress pr = {
        .tty = isatty(STDERR_FILENO) == 1, .quiet = k->quiet, .last_ns = clock_mono_ns()};
    struct store_copy_options opt = {.progress = show_progress,
                                     .progress_ctx = &pr,
                                     .derived = derived,
                                     .n_derived = sizeof derived / sizeof derived[0]};
    struct store_table tables[STORE_TABLES_MAX];
    size_t n = 0;
    int64_t start = clock_mono_ns();
    int rc = store_copy(from, to, fresh, &opt, tables, STORE_TABLES_MAX, &n, &err);
    if (pr.drawn)
        fputc('\n', stderr);
    if (rc) {
        fprintf(stderr, "dupla store copy: %s (nothing was written to the target)\n",
                err.log[0] ? err.log : err.detail);
        goto done;
    }
    /* PostgreSQL's log: the copied months get partitions of their own (the
     * rows wait in the DEFAULT partition until then), as serve's upkeep
     * would do */
    int created = 0;
    if (audit_partitioned(to) &&
        audit_partitions_ensure(to, clock_now_ms(), AUDIT_PARTITIONS_AHEAD_DEFAULT, &created,
                                &err) != 0)
        fprintf(stderr,
                "dupla store copy: warning: the copy is complete, but the log's partitions were "
                "not made (dupla serve or dupla audit partitions will): %s\n",
                err.log[0] ? err.log : err.detail);
    int64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%-28s %12" PRId64 "\n", tables[i].name, tables[i].rows);
        rows += tables[i].rows;
    }
    double secs = (double)(clock_mono_ns() - start) / 1e9;
    printf("OK: %" PRId64 " rows in %zu tables copied from %s to %s in %.1f s; every table's "
           "row count checked\n",
           rows, n, store_backend(from), store_backend(to), secs);
    status = 0;
done:
    store_close(fresh);
    store_close(to);
    store_close(from);
    return status;
}

static int run_migrate(struct store_call *k)
{
    store_t *st;
    if (open_url("migrate: --store", k->store, false, &st))
        return 1;
    err_t err;
    err_clear(&err);
    int rc = cli_migrate_all(st, &err);
    store_close(st);
    if (rc)
        return fail("migrate", &err);
    printf("OK: the store has this binary's schema\n");
    return 0;
}

/* ---- backup ---- */

struct backup_progress {
    bool tty;
    bool quiet;
    bool drawn;
    int64_t last_ns;
};

static void show_backup_progress(void *ctx, int64_t done, int64_t total)
{
    struct backup_progress *pr = ctx;
    int64_t now = clock_mono_ns();
    if (pr->quiet ||
        (done < total && now - pr->last_ns < (pr->tty ? STORE_CLI_REDRAW_NS : STORE_CLI_LINE_NS)))
        return;
    pr->last_ns = now;
    int pct = total ? (int)(100 * done / total) : 100;
    if (!pr->tty) {
        fprintf(stderr, "backup: %" PRId64 " of %" PRId64 " pages (%d%%)\n", done, total, pct);
        return;
    }
    int fill = total ? (int)(STORE_CLI_BAR * done / total) : STORE_CLI_BAR;
    char bar[STORE_CLI_BAR + 1];
    for (int i = 0; i < STORE_CLI_BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[STORE_CLI_BAR] = 0;
    fprintf(stderr, "\r[%s] %3d%%  %" PRId64 "/%" PRId64 " pages\033[K", bar, pct, done, total);
    pr->drawn = true;
}

static int run_backup(struct store_call *k)
{
    store_t *st;
    if (open_url("backup: --store", k->store, true, &st))
        return 1;
    struct backup_progress pr = {.tty = isatty(STDERR_FILENO) == 1, .quiet = k->quiet};
    err_t err;
    err_clear(&err);
    int64_t start = clock_mono_ns();
    int rc = store_backup(st, k->to, show_backup_progress, &pr, &err);
    if (pr.drawn)
        fputc('\n', stderr);
    store_close(st);
    if (rc)
        return fail("backup", &err);
    printf("OK: %s is a consistent copy of the store, checked, taken in %.1f s\n", k->to,
           (double)(clock_mono_ns() - start) / 1e9);
    return 0;
}

/* ---- arguments ---- */

static int parse(const char *cmd, struct store_call *k)
{
    for (int i = 2; i < k->argc; i++) {
        const char *a = k->argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--from") == 0 && strcmp(cmd, "copy") == 0)
            slot = &k->from;
        else if (strcmp(a, "--to") == 0 && strcmp(cmd, "copy") == 0)
            slot = &k->to;
        else if (strcmp(a, "--store") == 0 && strcmp(cmd, "copy") != 0)
            slot = &k->store;
        else if (strcmp(a, "--to") == 0 && strcmp(cmd, "backup") == 0)
            slot = &k->to;
        else if (strcmp(a, "--quiet") == 0 && strcmp(cmd, "migrate") != 0) {
            k->quiet = true;
            continue;
        } else
            return cli_usage_error("store", "%s: unknown option '%s'", cmd, a);
        if (i + 1 >= k->argc || !k->argv[i + 1][0])
            return cli_usage_error("store", "%s: %s needs %s", cmd, a,
                                   slot == &k->to && strcmp(cmd, "backup") == 0 ? "a file name"
                                                                                : "a URL");
        if (*slot)
            return cli_usage_error("store", "%s: %s given twice", cmd, a);
        if (strlen(k->argv[i + 1]) >= STORE_CLI_URL_MAX)
            return cli_usage_error("store", "%s: %s is too long", cmd, a);
        *slot = k->argv[++i];
    }
    return 0;
}

static int store_copy_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct store_call *k = ctx;
    int rc = parse("copy", k);
    if (rc)
        return rc;
    if (!k->from)
        return cli_usage_error("store", "copy: --from URL is required");
    if (!k->to)
        return cli_usage_error("store", "copy: --to URL is required");
    if (strcmp(k->from, k->to) == 0)
        return cli_usage_error("store", "copy: --from and --to are the same store");
    return run_copy(k);
}

static int store_migrate_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct store_call *k = ctx;
    int rc = parse("migrate", k);
    if (rc)
        return rc;
    if (!k->store)
        return cli_usage_error("store", "migrate: --store URL is required");
    return run_migrate(k);
}

static int store_backup_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct store_call *k = ctx;
    int rc = parse("backup", k);
    if (rc)
        return rc;
    if (!k->store)
        return cli_usage_error("store", "backup: --store URL is required");
    if (!k->to)
        return cli_usage_error("store", "backup: --to FILE is required");
    return run_backup(k);
}

static const struct cli_sub subs[] = {
    {"copy", NULL, "copy a whole platform from one store to an empty one", store_copy_cmd, 0},
    {"migrate", NULL, "apply this binary's schema migrations to a store", store_migrate_cmd, 0},
    {"backup", NULL, "write a consistent online copy of a SQLite store", store_backup_cmd, 0},
};
static const struct cli_subs store_subs = CLI_SUBS("store", usage_head, usage_tail, subs);

int cmd_store(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        cli_subs_help(&store_subs, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    log_set_level(LOG_WARN);
    const struct cli_sub *sub = cli_subs_find(&store_subs, argv[1]);
    if (!sub)
        return EXIT_USAGE;
    struct store_call call = {.argc = argc, .argv = argv};
    return sub->run(&call, sub);
}
