/*
 * bench_audit.c: what durability costs the disclosure log.
 *
 * Durable appends per second with 1, 8 and 64 concurrent writers through
 * audit_record() (group commit, synchronous=FULL), beside two baselines
 * measured in the same run on the same disk: one commit (one fsync) per
 * append (batch_max = 1), and no fsync at all (synchronous=OFF, group
 * commit). Then verification speed (entries/s) beside a plain scan of the
 * same rows without hashing.
 *
 * usage: bench-audit [--seconds S] [--dir DIR] [--verify-entries N]
 *                    [--store URL] [--kv FILE]
 * The default run takes a few seconds. DIR must be on a real disk (not
 * tmpfs), or the fsync figures mean nothing; the default is a fresh folder
 * under the current one, removed at the end. --store measures another store
 * (a PostgreSQL connection string: that database is wiped, see
 * bench_store.h); on PostgreSQL durability is the server's (fsync and
 * synchronous_commit on), so there is no no-fsync column. --kv appends the
 * figures as key=value lines to FILE (bench/backends.sh compares them).
 *
 * bench-audit --shared-writers W --store URL [--seconds S]: one node's log
 * writer on a store that is NOT wiped (a cluster's, bench/cluster.sh runs
 * 1, 2 and 3 of these at once): W threads append through audit_record for S
 * seconds; prints "appends=N errors=E seconds=S" (an append the store
 * refused is counted, not fatal: nodes that do not share the log's head
 * collide). --wait-in-lock: each batch waits for its flush inside the
 * write lock (audit.commit_barrier false), the comparison for the default.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/internal.h" /* audit_open_sync: the no-fsync baseline */
#include "core/clock.h"
#include "core/log.h"

#include "bench_store.h"

#define BENCH_SECONDS_DEFAULT  0.5
#define BENCH_VERIFY_DEFAULT   100000
#define BENCH_WRITERS_MAX      64
#define BENCH_VERIFY_BATCH_MAX 4096

struct bench {
    char dir[512];
    double seconds;
    long verify_entries;
    pki_signer_t *signer;
    int run;                 /* database counter */
    char url[BENCH_URL_MAX]; /* sqlite:DIR or a PostgreSQL connection string */
    bool pg;
};

struct writer {
    audit_log_t *log;
    atomic_bool *stop;
    long done;
    long errors; /* only counted with keep_going */
    bool keep_going;
    int id;
};

static void make_entry(int n, struct audit_entry *e, struct audit_subject *s, str_t *fields,
                       char *req, size_t reqcap)
{
    static const str_t names[] = {STR("PersonIndkomst"), STR("KapitalIndkomst"),
                                  STR("SkattepligtigIndkomst")};
    snprintf(req, reqcap, "%08x-0000-4000-8000-%012d", n, n);
    s[0] = (struct audit_subject){AUDIT_SUBJECT_CPR, STR("6101801234")};
    s[1] = (struct audit_subject){AUDIT_SUBJECT_CPR, STR("6202811234")};
    for (int i = 0; i < 3; i++)
        fields[i] = names[i];
    static const str_t period = STR("2023");
    *e = (struct audit_entry){
        .org_cvr = STR("12345674"),
        .system_id = STR("system-1"),
        .agreement_id = STR("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
        .agreement_version = 1,
        .service = STR("Aarsopgoerelse"),
        .request_id = str_from_cstr(req),
        .transaction_id = STR("7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"),
        .subjects = s,
        .n_subjects = 2,
        .periods = &period,
        .n_periods = 1,
        .fields = fields,
        .n_fields = 3,
        .record_count = 2,
    };
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct audit_entry e;
    struct audit_subject s[2];
    str_t fields[3];
    char req[64];
    err_t err;
    while (!atomic_load(w->stop)) {
        make_entry(w->id * 1000000 + (int)w->done, &e, s, fields, req, sizeof req);
        if (audit_record(w->log, &e, NULL, &err) != 0) {
            if (!w->keep_going) {
                fprintf(stderr, "bench-audit: record: %s\n", err.log);
                exit(1);
            }
            w->errors++;
            continue;
        }
        w->done++;
    }
    return NULL;
}

static store_t *fresh_store(struct bench *b)
{
    char name[32];
    snprintf(name, sizeof name, "run%d", b->run++);
    struct store_options so = {.pool_size = 4};
    return bench_store_fresh(b->url, name, &so);
}

/* Appends per second with `writers` threads for b->seconds. */
static double measure(struct bench *b, int writers, bool fsync_commits, unsigned batch_max,
                      double *per_commit)
{
    store_t *st = fresh_store(b);
    struct audit_options o = {.environment = "test",
                              .signer = b->signer,
                              .batch_max = batch_max,
                              .queue_max = AUDIT_QUEUE_DEFAULT};
    audit_log_t *log;
    err_t err;
    if (audit_open_sync(st, &o, fsync_commits, &log, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        exit(1);
    }
    atomic_bool stop = false;
    pthread_t th[BENCH_WRITERS_MAX];
    struct writer w[BENCH_WRITERS_MAX];
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < writers; i++) {
        w[i] = (struct writer){.log = log, .stop = &stop, .id = i};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    usleep((useconds_t)(b->seconds * 1e6));
    atomic_store(&stop, true);
    long total = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    struct audit_stats s;
    audit_stats_get(log, &s);
    audit_close(log);
    store_close(st);
    *per_commit = s.commits ? (double)s.entries / (double)s.commits : 0;
    return (double)total / secs;
}

/* Fills a log with n entries (no fsync: the speed of filling is not measured). */
static store_t *filled_store(struct bench *b, long n)
{
    store_t *st = fresh_store(b);
    struct audit_options o = {
        .environment = "test", .signer = b->signer, .batch_max = BENCH_VERIFY_BATCH_MAX};
    audit_log_t *log;
    err_t err;
    if (audit_open_sync(st, &o, false, &log, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        exit(1);
    }
    atomic_bool stop = false;
    enum { FILLERS = 16 };
    pthread_t th[FILLERS];
    struct writer w[FILLERS];
    for (int i = 0; i < FILLERS; i++) {
        w[i] = (struct writer){.log = log, .stop = &stop, .id = i};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    for (;;) {
        struct audit_stats s;
        audit_stats_get(log, &s);
        if ((long)s.entries >= n)
            break;
        usleep(20000);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < FILLERS; i++)
        pthread_join(th[i], NULL);
    audit_close(log);
    return st;
}

static double scan_rate(store_t *st, long *rows)
{
    store_conn_t *c;
    store_stmt_t *s;
    err_t err;
    int64_t t0 = clock_mono_ns();
    if (store_conn_get(st, &c, &err) ||
        store_prepare(c,
                      "SELECT e.seq, e.time_ms, e.environment, e.org_cvr, e.system_id, "
                      "e.agreement_id, e.agreement_version, e.service, e.request_id, "
                      "e.transaction_id, e.periods, e.fields, e.record_count, e.outcome, "
                      "e.reason, e.prev_hash, e.entry_hash FROM audit_entry e ORDER BY seq",
                      &s, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        exit(1);
    }
    store_stmt_t *s2;
    if (store_prepare(c,
                      "SELECT seq, kind, subject FROM audit_entry_subject ORDER BY seq, position",
                      &s2, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        exit(1);
    }
    long n = 0;
    size_t bytes = 0;
    while (store_step(s, &err) == STORE_ROW) {
        bytes += store_col_text(s, 3).len + store_col_blob(s, 16).len;
        n++;
    }
    while (store_step(s2, &err) == STORE_ROW)
        bytes += store_col_text(s2, 2).len;
    store_stmt_done(s2);
    store_stmt_done(s);
    store_conn_put(c);
    *rows = n + (bytes == 0); /* bytes keeps the reads from being optimised away */
    return (double)n / ((double)(clock_mono_ns() - t0) / 1e9);
}

/* --shared-writers: one node's writer on a shared store, not wiped;
 * relay (NULL: none) makes it the cluster's sequencer or a node relaying
 * to it (it waits up to 10 s for its link before it starts). */
static int shared_run(struct bench *b, int writers, bool wait_in_lock,
                      const struct audit_relay_config *relay, double serve_after)
{
    store_t *st;
    err_t err;
    struct store_options so = {.pool_size = 4};
    if (store_open(b->url, &so, &st, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        return 1;
    }
    struct audit_options o = {.environment = "test",
                              .signer = b->signer,
                              .queue_max = AUDIT_QUEUE_DEFAULT,
                              .wait_in_lock = wait_in_lock,
                              .relay = relay};
    audit_log_t *log;
    /* Opening while other writers append can fail on the check that the
     * Merkle tree and the log end together (two reads that race them):
     * tried again, as a node's supervisor would restart it, and counted. */
    int open_tries = 0;
    while (audit_open_sync(st, &o, true, &log, &err)) {
        if (++open_tries == 50) {
            fprintf(stderr, "bench-audit: %s\n", err.log);
            store_close(st);
            return 1;
        }
        usleep(20000);
    }
    struct audit_stats rs;
    for (int t = 0; relay && relay->to[0] && t < 1000; t++) {
        audit_stats_get(log, &rs);
        if (rs.relay_up)
            break;
        usleep(10000);
    }
    atomic_bool stop = false;
    pthread_t th[BENCH_WRITERS_MAX];
    struct writer w[BENCH_WRITERS_MAX];
    /* request ids apart from the other processes' */
    int base = (int)(getpid() % 1000) * BENCH_WRITERS_MAX;
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < writers; i++) {
        w[i] = (struct writer){.log = log, .stop = &stop, .id = base + i, .keep_going = true};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    usleep((useconds_t)(b->seconds * 1e6));
    atomic_store(&stop, true);
    long total = 0, errors = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
        errors += w[i].errors;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    /* a sequencer stays open for the nodes that started after it */
    if (serve_after > 0)
        usleep((useconds_t)(serve_after * 1e6));
    audit_stats_get(log, &rs);
    audit_close(log);
    store_close(st);
    printf("appends=%ld errors=%ld seconds=%.3f open_retries=%d relayed=%llu sequenced=%llu\n",
           total, errors, secs, open_tries, (unsigned long long)rs.relayed,
           (unsigned long long)rs.sequenced);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench-audit [--seconds S] [--dir DIR] [--verify-entries N]\n"
                    "                   [--store URL] [--kv FILE]\n"
                    "  --seconds S         each measurement's length (default 0.5)\n"
                    "  --dir DIR           where the databases go (a real disk; default: a\n"
                    "                      new folder here, removed at the end)\n"
                    "  --verify-entries N  entries in the log that is verified (default "
                    "100000)\n"
                    "  --store URL         a PostgreSQL connection string (WIPED) instead\n"
                    "                      of SQLite databases in DIR\n"
                    "  --kv FILE           append the figures as key=value lines to FILE\n"
                    "  --shared-writers W  only: W writers on --store, NOT wiped, for\n"
                    "                      --seconds (one node of a cluster)\n"
                    "  --wait-in-lock      with --shared-writers: each batch waits for its\n"
                    "                      flush inside the write lock (the old way)\n"
                    "  --relay-listen A    with --shared-writers: this process is the log's\n"
                    "                      sequencer, taking other processes' entries at A\n"
                    "  --relay-to A        with --shared-writers: relay to the sequencer at A\n"
                    "  --relay-pki DIR     the links' credentials: DIR/server.pem, server.key\n"
                    "                      and ca.pem (dupla pki init)\n"
                    "  --serve-after S     with --relay-listen: keep the log open S seconds\n"
                    "                      after the writers stop (for the relaying nodes)\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct bench b = {.seconds = BENCH_SECONDS_DEFAULT, .verify_entries = BENCH_VERIFY_DEFAULT};
    const char *dir = NULL, *store = NULL, *kv = NULL;
    int shared = 0;
    bool wait_in_lock = false;
    struct audit_relay_config relay = {0};
    const char *relay_pki = NULL;
    double serve_after = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            b.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--verify-entries") == 0 && i + 1 < argc)
            b.verify_entries = atol(argv[++i]);
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (strcmp(argv[i], "--kv") == 0 && i + 1 < argc)
            kv = argv[++i];
        else if (strcmp(argv[i], "--wait-in-lock") == 0)
            wait_in_lock = true;
        else if (strcmp(argv[i], "--shared-writers") == 0 && i + 1 < argc)
            shared = atoi(argv[++i]);
        else if (strcmp(argv[i], "--relay-listen") == 0 && i + 1 < argc)
            snprintf(relay.listen, sizeof relay.listen, "%s", argv[++i]);
        else if (strcmp(argv[i], "--relay-to") == 0 && i + 1 < argc)
            snprintf(relay.to, sizeof relay.to, "%s", argv[++i]);
        else if (strcmp(argv[i], "--relay-pki") == 0 && i + 1 < argc)
            relay_pki = argv[++i];
        else if (strcmp(argv[i], "--serve-after") == 0 && i + 1 < argc)
            serve_after = atof(argv[++i]);
        else
            return usage();
    }
    if (b.seconds <= 0 || b.seconds > 600 || b.verify_entries < 1 || shared < 0 ||
        shared > BENCH_WRITERS_MAX || (shared && !store))
        return usage();
    log_set_level(LOG_ERROR);
    bool made_dir = !dir;
    if (dir) {
        snprintf(b.dir, sizeof b.dir, "%s", dir);
    } else {
        snprintf(b.dir, sizeof b.dir, "bench-audit-XXXXXX");
        if (!mkdtemp(b.dir)) {
            perror("bench-audit: mkdtemp");
            return 1;
        }
    }
    b.pg = store && bench_store_is_pg(store);
    snprintf(b.url, sizeof b.url, b.pg ? "%s" : "sqlite:%s", b.pg ? store : b.dir);
    FILE *kvf = kv ? fopen(kv, "a") : NULL;
    if (kv && !kvf) {
        perror("bench-audit: --kv");
        return 1;
    }
    const char *label = bench_store_label(b.url);
    char key[600];
    snprintf(key, sizeof key, "%s/checkpoint-key.pem", b.dir);
    unlink(key); /* a previous run's */
    err_t err;
    if (pki_signer_generate(key, &err) || pki_signer_load(key, &b.signer, &err)) {
        fprintf(stderr, "bench-audit: %s\n", err.log);
        return 1;
    }
    if (shared) {
        bool relayed = relay.listen[0] || relay.to[0];
        if (relayed && !relay_pki)
            return usage();
        if (relayed) {
            snprintf(relay.cert, sizeof relay.cert, "%s/server.pem", relay_pki);
            snprintf(relay.key, sizeof relay.key, "%s/server.key", relay_pki);
            snprintf(relay.ca, sizeof relay.ca, "%s/ca.pem", relay_pki);
        }
        int rc =
            shared_run(&b, shared, wait_in_lock, relayed ? &relay : NULL,
                       relay.listen[0] && serve_after > 0 && serve_after < 600 ? serve_after : 0);
        pki_signer_free(b.signer);
        if (kvf)
            fclose(kvf);
        if (made_dir) {
            unlink(key);
            rmdir(b.dir);
        }
        return rc;
    }

    printf("disclosure log on %s: durable appends/s (%.1f s each%s%s)\n\n", label, b.seconds,
           b.pg ? "" : ", databases in ", b.pg ? "" : b.dir);
    printf("%8s %14s %14s %14s %10s %10s %12s\n", "writers", "group commit", "fsync/append",
           "no fsync", "vs fsync", "vs none", "per commit");
    static const int writers[] = {1, 8, 64};
    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
        double per_group, per_one, per_none;
        double group = measure(&b, writers[i], true, 0, &per_group);
        double one = measure(&b, writers[i], true, 1, &per_one);
        double none = b.pg ? 0 : measure(&b, writers[i], false, 0, &per_none);
        if (b.pg)
            printf("%8d %14.0f %14.0f %14s %9.2fx %10s %12.1f\n", writers[i], group, one, "-",
                   one > 0 ? group / one : 0, "-", per_group);
        else
            printf("%8d %14.0f %14.0f %14.0f %9.2fx %9.2fx %12.1f\n", writers[i], group, one, none,
                   one > 0 ? group / one : 0, none > 0 ? group / none : 0, per_group);
        fflush(stdout);
        if (kvf)
            fprintf(kvf, "%s.audit.append.%d=%.0f\n%s.audit.fsync_each.%d=%.0f\n", label,
                    writers[i], group, label, writers[i], one);
        if (kvf && !b.pg)
            fprintf(kvf, "%s.audit.no_fsync.%d=%.0f\n", label, writers[i], none);
    }
    printf("\n(group commit: audit_record as the data path calls it, synchronous=FULL;\n"
           " fsync/append: the same with one transaction per entry; no fsync: synchronous=OFF\n"
           " (SQLite only: PostgreSQL's durability is the server's).\n"
           " per commit: entries that shared one group commit, on average)\n\n");

    store_t *st = filled_store(&b, b.verify_entries);
    if (b.pg) { /* as autovacuum would have, long before a real verify */
        store_conn_t *ac;
        if (store_conn_get(st, &ac, &err) == 0) {
            store_exec(ac, "ANALYZE", &err);
            store_conn_put(ac);
        }
    }
    long rows = 0;
    double scan = scan_rate(st, &rows);
    struct audit_verify_result r;
    int64_t t0 = clock_mono_ns();
    if (audit_verify(st, NULL, &r, &err) || !r.ok) {
        fprintf(stderr, "bench-audit: verify: %s %s\n", err.log, r.detail);
        return 1;
    }
    double vsecs = (double)(clock_mono_ns() - t0) / 1e9;
    double vrate = (double)r.entries / vsecs;
    printf("verification: %.0f entries/s (%ld entries, %ld checkpoints, %.2f s); plain scan of "
           "the same rows: %.0f rows/s; verify/scan: %.2fx\n",
           vrate, (long)r.entries, (long)r.checkpoints, vsecs, scan, scan > 0 ? vrate / scan : 0);
    if (kvf) {
        fprintf(kvf, "%s.audit.verify=%.0f\n", label, vrate);
        fclose(kvf);
    }
    store_close(st);
    pki_signer_free(b.signer);
    if (made_dir) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", b.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-audit: could not remove %s\n", b.dir);
    }
    return 0;
}
