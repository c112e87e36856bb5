/*
 * bench_ingest.c: the ingest benchmark.
 *
 * Generates N synthetic årsopgørelser (one income year, N persons) into an
 * NDJSON file, then measures in the same run:
 *   - dupla: ingest_delivery() of that file into a fresh store (parse,
 *     validate against the catalogue, duplicate check, encode, look up the
 *     current version, insert with both indexes, one transaction);
 *   - baseline: the same lines inserted into SQLite by the simplest loop
 *     (one prepared statement, one transaction, a one-column table, same
 *     WAL and synchronous settings);
 * and prints records/s for both, their ratio, and the database size per
 * million records.
 *
 * usage: bench-ingest [--store URL] [--kv FILE] [N] [DIR]
 *   (default N = 1000000, DIR a temporary folder). --store ingests into a
 *   PostgreSQL database instead of DIR/dupla.db (WIPED first, see
 *   bench_store.h); the baseline stays SQLite. --kv appends the figures as
 *   key=value lines to FILE.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/log.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "testdata/testdata.h"

#include "bench_store.h"

#define BENCH_DEFAULT_N 1000000
#define BENCH_AARSOP    1 /* testdata delivery 02-Aarsopgoerelse */
#define BENCH_YEAR      2024
#define BENCH_SEED      20240101
#define BENCH_LINE_MAX  (64 * 1024)
#define BENCH_PATH_MAX  512

static int to_file(void *cls, str_t b)
{
    return fwrite(b.ptr, 1, b.len, (FILE *)cls) == b.len ? 0 : DUPLA_EIO;
}

static double seconds_since(int64_t t0)
{
    return (double)(clock_mono_ns() - t0) / 1e9;
}

/* CPU seconds (user + system) of this process so far: on a shared machine
 * the wall clock also counts other people's work. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int baseline(const char *db_path, const char *ndjson, long long *rows, double *secs,
                    double *cpu)
{
    sqlite3 *db;
    if (sqlite3_open(db_path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE baseline (record TEXT NOT NULL)",
                 NULL, NULL, NULL);
    FILE *f = fopen(ndjson, "r");
    if (!f) {
        sqlite3_close(db);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    sqlite3_stmt *st;
    int64_t t0 = clock_mono_ns();
    double c0 = cpu_seconds();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO baseline (record) VALUES (?)", -1, &st, NULL);
    *rows = 0;
    bool first = true;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (first) { /* the header line */
            first = false;
            continue;
        }
        sqlite3_bind_text(st, 1, line, (int)n - 1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_reset(st);
        (*rows)++;
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    *secs = seconds_since(t0);
    *cpu = cpu_seconds() - c0;
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    free(line);
    fclose(f);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    const char *store_url = NULL, *kv = NULL;
    int a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (strcmp(argv[a], "--store") == 0)
            store_url = argv[a + 1];
        else if (strcmp(argv[a], "--kv") == 0)
            kv = argv[a + 1];
        else
            break;
    }
    long n = argc > a ? atol(argv[a]) : BENCH_DEFAULT_N;
    if (n <= 0 || n > TESTDATA_MAX_PERSONS || (argc > a && strncmp(argv[a], "--", 2) == 0)) {
        fprintf(stderr, "usage: bench-ingest [--store URL] [--kv FILE] [N (1..%d)] [DIR]\n",
                TESTDATA_MAX_PERSONS);
        return 2;
    }
    bool pg = store_url && bench_store_is_pg(store_url);
    char dir[BENCH_PATH_MAX] = "/tmp/dupla-bench-ingest-XXXXXX";
    bool own_dir = argc <= a + 1;
    if (own_dir ? !mkdtemp(dir) : snprintf(dir, sizeof dir, "%s", argv[a + 1]) >= (int)sizeof dir) {
        fprintf(stderr, "bench-ingest: no working folder\n");
        return 1;
    }
    log_set_level(LOG_WARN);
    char ndjson[BENCH_PATH_MAX + 32], db[BENCH_PATH_MAX + 32], base_db[BENCH_PATH_MAX + 32],
        url[BENCH_PATH_MAX + 48], cdir[BENCH_PATH_MAX + 32];
    snprintf(ndjson, sizeof ndjson, "%s/aarsop.ndjson", dir);
    snprintf(db, sizeof db, "%s/dupla.db", dir);
    snprintf(base_db, sizeof base_db, "%s/baseline.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", dir);
    snprintf(cdir, sizeof cdir, "%s/catalog", DUPLA_SOURCE_ROOT);
    unlink(ndjson);
    unlink(db);
    unlink(base_db);

    /* the data */
    struct testdata_options opt = {(unsigned)n, 0, BENCH_YEAR, BENCH_YEAR, BENCH_SEED};
    err_t err;
    int64_t t0 = clock_mono_ns();
    FILE *f = fopen(ndjson, "w");
    if (!f || testdata_generate(&opt, BENCH_AARSOP, to_file, f, &err) || fclose(f)) {
        fprintf(stderr, "bench-ingest: cannot write %s\n", ndjson);
        return 1;
    }
    printf("ingest benchmark: %ld årsopgørelser (%.0f MB of NDJSON, generated in %.1f s)\n", n,
           (double)file_size(ndjson) / 1e6, seconds_since(t0));

    /* dupla */
    catalog_t *cat;
    store_t *st;
    if (catalog_load_dir(cdir, &cat, &err)) {
        fprintf(stderr, "bench-ingest: %s\n", err.log);
        return 1;
    }
    st = bench_store_fresh(pg ? store_url : url, "dupla", NULL);
    if (dataset_migrate(st, &err)) {
        fprintf(stderr, "bench-ingest: %s\n", err.log);
        return 1;
    }
    const struct catalog_service *svc = catalog_find(cat, STR("Aarsopgoerelse"));
    struct ingest_source src = {.name = "aarsop.ndjson", .path = ndjson};
    struct ingest_options io = {.environment = ENV_TEST, .max_records = (size_t)n};
    struct ingest_result res;
    t0 = clock_mono_ns();
    double c0 = cpu_seconds();
    int rc = ingest_delivery(st, svc, &src, 1, &io, &res, &err);
    double dupla_secs = seconds_since(t0), dupla_cpu = cpu_seconds() - c0;
    if (rc || res.new_versions != n) {
        fprintf(stderr, "bench-ingest: ingest failed: %s\n", err.detail);
        return 1;
    }
    ingest_result_free(&res);
    store_conn_t *c;
    long long dupla_bytes = 0;
    if (store_conn_get(st, &c, &err) == 0) {
        int64_t size = 0;
        if (pg)
            store_query_int64(c, "SELECT pg_database_size(current_database())", 0, &size, &err);
        else
            store_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)", &err);
        dupla_bytes = size;
        store_conn_put(c);
    }
    store_close(st);
    catalog_free(cat);
    if (!pg)
        dupla_bytes = file_size(db);

    /* baseline */
    long long rows;
    double base_secs, base_cpu;
    if (baseline(base_db, ndjson, &rows, &base_secs, &base_cpu) || rows != n) {
        fprintf(stderr, "bench-ingest: the baseline failed\n");
        return 1;
    }
    long long base_bytes = file_size(base_db);

    double dupla_rate = (double)n / dupla_secs, base_rate = (double)n / base_secs;
    printf(
        "  dupla ingest (%s)  %10.0f records/s  (%.2f s wall, %.2f s CPU: parse, validate,\n"
        "                                   dedupe, encode, current-version lookup, 2 indexes)\n",
        pg ? "postgresql" : "sqlite", dupla_rate, dupla_secs, dupla_cpu);
    printf("  baseline (SQLite)  %10.0f records/s  (%.2f s wall, %.2f s CPU: the raw lines, one\n"
           "                                   prepared statement, one transaction)\n",
           base_rate, base_secs, base_cpu);
    printf("  ratio dupla/baseline: %.2f by the wall clock, %.2f by CPU time\n",
           dupla_rate / base_rate, base_cpu / dupla_cpu);
    printf("  database size per million records: dupla %.0f MB, baseline %.0f MB (ratio %.2f)\n",
           (double)dupla_bytes / 1e6 * 1e6 / (double)n, (double)base_bytes / 1e6 * 1e6 / (double)n,
           (double)dupla_bytes / (double)base_bytes);
    if (kv) {
        FILE *kf = fopen(kv, "a");
        if (!kf) {
            perror("bench-ingest: --kv");
            return 1;
        }
        const char *label = pg ? "postgresql" : "sqlite";
        fprintf(kf, "%s.ingest=%.0f\n%s.ingest_cpu=%.2f\n%s.ingest_base=%.0f\n%s.ingest_n=%ld\n",
                label, dupla_rate, label, dupla_cpu, label, base_rate, label, n);
        fclose(kf);
    }
    if (own_dir) {
        unlink(ndjson);
        unlink(db);
        unlink(base_db);
        rmdir(dir);
    }
    return 0;
}
