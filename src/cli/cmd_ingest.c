/*
 * cmd_ingest.c: `dupla ingest`, a source system's delivery from NDJSON files.
 *
 * A thin wrapper over ingest_delivery() (src/ingest/): it loads the
 * configuration, the catalogue and the store, draws a progress bar on a
 * terminal, prints each problem as "file:line: field: reason" on standard
 * error and a summary on standard output, and maps the outcome to an exit
 * status scripts can test (see usage()).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "store/store.h"

#define INGEST_EXIT_OK       0
#define INGEST_EXIT_FAILURE  1
#define INGEST_EXIT_REJECTED 3
#define INGEST_EXIT_PARTIAL  4
#define INGEST_EXIT_REFUSED  5
/* The progress bar is redrawn at most this often. */
#define PROGRESS_REDRAW_NS (200 * 1000 * 1000LL)
#define PROGRESS_WIDTH     24
#define INGEST_PATH_MAX    1024

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: dupla ingest --config FILE [OPTIONS] SERVICE FILE...\n"
        "\n"
        "Loads one delivery of SERVICE records (its path or Danish name, e.g.\n"
        "Aarsopgoerelse or Årsopgørelse) from NDJSON files: one JSON object per line,\n"
        "keyed by the catalogue's field names. The files form one delivery.\n"
        "\n"
        "A record that differs from the current version of its subject and period\n"
        "becomes a new version; an identical one is skipped. A line\n"
        "{\"withdraw\":true, <the record's key fields>} withdraws the current version\n"
        "(an annulled record): current reads leave the record out from then on.\n"
        "Every line is checked\n"
        "against the catalogue; each problem is printed as FILE:LINE: FIELD: REASON.\n"
        "By default a delivery with any invalid line is rejected whole and the store\n"
        "is left unchanged.\n"
        "\n"
        "options:\n"
        "  --config FILE        the server configuration (store, environment, catalog)\n"
        "  --delivery-id ID     the delivery's id (default: sha256: and the SHA-256 of\n"
        "                       the service and the files' content). A known id changes\n"
        "                       nothing; reusing one with other content is refused.\n"
        "  --source NAME        who delivered (default: cli:$USER)\n"
        "  --synthetic          mark the delivery as synthetic test data (also marked\n"
        "                       when every file starts with {\"delivery\":{\"synthetic\":true}})\n"
        "  --skip-invalid       store the valid lines and write the others to\n"
        "  --reject-file FILE   (required with --skip-invalid): one JSON object a line\n"
        "                       with source, line, field, reason and the line's text\n"
        "  --max-records N      refuse deliveries of more records (default %d)\n"
        "  --max-errors N       problems printed (default %d; all are counted)\n"
        "  --json               print the summary as JSON\n"
        "  --quiet              no progress bar\n"
        "  -h, --help           this text\n"
        "\n"
        "Environments: a production deployment refuses synthetic deliveries; a test\n"
        "deployment refuses deliveries not marked synthetic.\n"
        "\n"
        "exit status:\n"
        "  0  accepted (or this delivery was received before: nothing changed)\n"
        "  1  failure (file, database or configuration)\n"
        "  2  usage error\n"
        "  3  rejected: invalid lines, nothing stored\n"
        "  4  partly accepted (--skip-invalid): some lines rejected\n"
        "  5  refused: synthetic data in production, unmarked data in test, a delivery\n"
        "     id reused with other content, or more than --max-records records\n"
        "\n"
        "examples:\n"
        "  dupla ingest --config dupla.json Aarsopgoerelse aarsop-2024.ndjson\n"
        "  dupla ingest --config dupla.json --skip-invalid --reject-file bad.ndjson \\\n"
        "      Momsangivelse moms-q1.ndjson moms-q2.ndjson\n",
        INGEST_DEFAULT_MAX_RECORDS, INGEST_DEFAULT_MAX_PROBLEMS);
}

struct bar {
    int64_t start_ns;
    int64_t last_ns;
    bool drawn;
};

static void group(char *out, size_t cap, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    size_t j = 0;
    for (int i = 0; i < n && j + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[j++] = ',';
        out[j++] = tmp[i];
    }
    out[j] = '\0';
}

static void progress(void *cls, const struct ingest_progress *p)
{
    struct bar *b = cls;
    int64_t now = clock_mono_ns();
    bool done = p->bytes_done >= p->bytes_total;
    if (done) {
        if (b->drawn)
            fprintf(stderr, "\r\033[K");
        b->drawn = false;
        return;
    }
    if (now - b->last_ns < PROGRESS_REDRAW_NS)
        return;
    b->last_ns = now;
    double secs = (double)(now - b->start_ns) / 1e9;
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 0;
    double rate = secs > 0 ? (double)p->records / secs : 0;
    double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
    char bar[PROGRESS_WIDTH + 1];
    int fill = (int)(frac * PROGRESS_WIDTH);
    for (int i = 0; i < PROGRESS_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[PROGRESS_WIDTH] = '\0';
    char recs[32], rs[32];
    group(recs, sizeof recs, p->records);
    group(rs, sizeof rs, (long long)rate);
    fprintf(stderr, "\r[%s] %3d%%  %s records  %s records/s  ETA %d:%02d\033[K", bar,
            (int)(frac * 100), recs, rs, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
    b->drawn = true;
}

static int write_reject(void *cls, const struct ingest_problem *p, str_t line)
{
    FILE *f = cls;
    buf_t b;
    buf_init(&b, 4 * INGEST_MAX_LINE_BYTES);
    int rc = buf_append_cstr(&b, "{\"source\":");
    rc = rc ? rc : buf_append_json_string(&b, str_from_cstr(p->source));
    rc = rc ? rc : buf_printf(&b, ",\"line\":%ld,\"field\":", p->line);
    rc = rc ? rc : buf_append_json_string(&b, str_from_cstr(p->field));
    rc = rc ? rc : buf_append_cstr(&b, ",\"reason\":");
    rc = rc ? rc : buf_append_json_string(&b, str_from_cstr(p->reason));
    rc = rc ? rc : buf_append_cstr(&b, ",\"text\":");
    rc = rc ? rc : buf_append_json_string(&b, line);
    rc = rc ? rc : buf_append_cstr(&b, "}\n");
    if (rc == 0 && fwrite(b.data, 1, b.len, f) != b.len)
        rc = DUPLA_EIO;
    buf_free(&b);
    return rc;
}

static void print_problem(const struct ingest_problem *p)
{
    if (p->line > 0)
        fprintf(stderr, "%s:%ld: %s%s%s\n", p->source, p->line, p->field, p->field[0] ? ": " : "",
                p->reason);
    else
        fprintf(stderr, "%s: %s%s%s\n", p->source, p->field, p->field[0] ? ": " : "", p->reason);
}

static void print_summary(const struct ingest_result *res, const char *service, bool as_json)
{
    if (as_json) {
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "status",
            ingest_status_name(res->status), "delivery_id", res->delivery_id, "service", service,
            "synthetic", res->synthetic, "records", (json_int_t)res->records, "new_versions",
            (json_int_t)res->new_versions, "unchanged", (json_int_t)res->unchanged, "withdrawn",
            (json_int_t)res->withdrawn, "rejected", (json_int_t)res->rejected, "problems",
            (json_int_t)res->n_problems_total);
        char *s = json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(j);
        return;
    }
    const char *what = res->status == INGEST_ALREADY    ? "already delivered: nothing changed"
                       : res->status == INGEST_REJECTED ? "rejected: nothing stored"
                       : res->status == INGEST_PARTIAL  ? "partly accepted"
                       : res->status == INGEST_REFUSED  ? "refused"
                                                        : "accepted";
    char r[32], n[32], u[32], x[32];
    group(r, sizeof r, res->records);
    group(n, sizeof n, res->new_versions);
    group(u, sizeof u, res->unchanged);
    group(x, sizeof x, res->rejected);
    printf("%s delivery %s: %s\n  %s records: %s new versions, %s unchanged, %s rejected", service,
           res->delivery_id, what, r, n, u, x);
    if (res->withdrawn > 0) {
        group(x, sizeof x, res->withdrawn);
        printf(", %s withdrawn", x);
    }
    printf("\n");
}

int cmd_ingest(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    enum {
        O_CONFIG = 1,
        O_ID,
        O_SOURCE,
        O_SYN,
        O_SKIP,
        O_REJECT,
        O_MAXREC,
        O_MAXERR,
        O_JSON,
        O_QUIET
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"delivery-id", required_argument, NULL, O_ID},
        {"source", required_argument, NULL, O_SOURCE},
        {"synthetic", no_argument, NULL, O_SYN},
        {"skip-invalid", no_argument, NULL, O_SKIP},
        {"reject-file", required_argument, NULL, O_REJECT},
        {"max-records", required_argument, NULL, O_MAXREC},
        {"max-errors", required_argument, NULL, O_MAXERR},
        {"json", no_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, O_QUIET},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *reject_path = NULL;
    struct ingest_options io = {0};
    bool as_json = false, quiet = false;
    char source[DATASET_SOURCE_MAX + 1];
    const char *user = getenv("USER");
    snprintf(source, sizeof source, "cli:%s", user && user[0] ? user : "unknown");
    io.source = source;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_CONFIG:
            config = optarg;
            break;
        case O_ID:
            io.delivery_id = optarg;
            break;
        case O_SOURCE:
            io.source = optarg;
            break;
        case O_SYN:
            io.synthetic = true;
            break;
        case O_SKIP:
            io.skip_invalid = true;
            break;
        case O_REJECT:
            reject_path = optarg;
            break;
        case O_MAXREC:
            io.max_records = strtoul(optarg, &end, 10);
            if (*end || io.max_records == 0)
                return cli_usage_error("ingest", "--max-records wants a positive number");
            break;
        case O_MAXERR:
            io.max_problems = strtoul(optarg, &end, 10);
            if (*end || io.max_problems == 0 || io.max_problems > 100000)
                return cli_usage_error("ingest", "--max-errors wants a number from 1 to 100000");
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_QUIET:
            quiet = true;
            break;
        default:
            return cli_usage_error("ingest", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!config)
        return cli_usage_error("ingest", "--config FILE is required");
    if (argc - optind < 2)
        return cli_usage_error("ingest", "name a SERVICE and at least one FILE");
    if (io.skip_invalid != (reject_path != NULL))
        return cli_usage_error("ingest", "--skip-invalid and --reject-file go together");
    if (io.source && strlen(io.source) > DATASET_SOURCE_MAX)
        return cli_usage_error("ingest", "--source is longer than %d bytes", DATASET_SOURCE_MAX);
    if (io.delivery_id &&
        (strlen(io.delivery_id) == 0 || strlen(io.delivery_id) > DATASET_DELIVERY_ID_MAX))
        return cli_usage_error("ingest", "--delivery-id must have 1 to %d bytes",
                               DATASET_DELIVERY_ID_MAX);
    const char *service_name = argv[optind];
    size_t n_files = (size_t)(argc - optind - 1);
    if (n_files > INGEST_MAX_SOURCES)
        return cli_usage_error("ingest", "at most %d files in one delivery", INGEST_MAX_SOURCES);

    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    if (config_load(config, &cfg, &err)) {
        fprintf(stderr, "dupla ingest: %s\n", err.detail);
        return INGEST_EXIT_FAILURE;
    }
    /* The summary is the command's output; the log gets warnings only,
     * unless the configuration asks for less. */
    int level = log_level_parse(cfg.log_level);
    log_set_level(level > LOG_WARN ? (enum log_level)level : LOG_WARN);
    io.environment = cfg.environment;
    int status = INGEST_EXIT_FAILURE;
    catalog_t *cat = NULL;
    store_t *st = NULL;
    FILE *rej = NULL;
    struct ingest_source *src = calloc(n_files, sizeof *src);
    char dir[INGEST_PATH_MAX];
    if (!src) {
        fprintf(stderr, "dupla ingest: out of memory\n");
        goto out;
    }
    if (catalog_config_dir(&cfg, dir, sizeof dir, &err) || catalog_load_dir(dir, &cat, &err)) {
        fprintf(stderr, "dupla ingest: %s\n", err.detail);
        goto out;
    }
    const struct catalog_service *svc = catalog_find(cat, str_from_cstr(service_name));
    if (!svc) {
        fprintf(stderr,
                "dupla ingest: no service '%s' in the catalogue (%s); services:", service_name,
                dir);
        for (size_t i = 0; i < catalog_count(cat); i++)
            fprintf(stderr, " %s", catalog_service_at(cat, i)->path);
        fprintf(stderr, "\n");
        status = EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < n_files; i++) {
        src[i].name = argv[optind + 1 + i];
        src[i].path = argv[optind + 1 + i];
        if (access(src[i].path, R_OK) != 0) {
            fprintf(stderr, "dupla ingest: %s: cannot read: %m\n", src[i].path);
            goto out;
        }
    }
    if (reject_path && !(rej = fopen(reject_path, "w"))) {
        fprintf(stderr, "dupla ingest: %s: cannot write: %m\n", reject_path);
        goto out;
    }
    if (store_open(cfg.store_url, NULL, &st, &err) || dataset_migrate(st, &err)) {
        fprintf(stderr, "dupla ingest: %s\n", err.log);
        goto out;
    }
    struct bar bar = {.start_ns = clock_mono_ns()};
    if (!quiet && isatty(STDERR_FILENO)) {
        io.progress = progress;
        io.progress_cls = &bar;
    }
    if (rej) {
        io.reject = write_reject;
        io.reject_cls = rej;
    }
    struct ingest_result res;
    int rc = ingest_delivery(st, svc, src, n_files, &io, &res, &err);
    if (bar.drawn)
        fprintf(stderr, "\r\033[K");
    for (size_t i = 0; i < res.n_problems; i++)
        print_problem(&res.problems[i]);
    if ((size_t)res.n_problems_total > res.n_problems)
        fprintf(stderr, "... and %lld more problems\n",
                (long long)(res.n_problems_total - (int64_t)res.n_problems));
    if (rc && rc != DUPLA_EINVAL)
        fprintf(stderr, "dupla ingest: %s\n", rc == DUPLA_ESTORE ? err.log : err.detail);
    if (rc == 0 || rc == DUPLA_EINVAL || rc == DUPLA_ELIMIT)
        print_summary(&res, svc->path, as_json);
    if (rc == 0)
        status = res.status == INGEST_PARTIAL ? INGEST_EXIT_PARTIAL : INGEST_EXIT_OK;
    else if (rc == DUPLA_EINVAL)
        status = INGEST_EXIT_REJECTED;
    else if (res.status == INGEST_REFUSED || rc == DUPLA_ELIMIT)
        status = INGEST_EXIT_REFUSED;
    ingest_result_free(&res);
out:
    if (rej && fclose(rej) != 0 && status != INGEST_EXIT_FAILURE) {
        fprintf(stderr, "dupla ingest: %s: write error\n", reject_path);
        status = INGEST_EXIT_FAILURE;
    }
    store_close(st);
    catalog_free(cat);
    free(src);
    config_free(&cfg);
    return status;
}
