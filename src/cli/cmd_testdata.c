/*
 * cmd_testdata.c: `dupla testdata generate`, the test environment's
 * synthetic data: written as NDJSON deliveries to a folder, or ingested
 * straight into a test deployment's store (src/testdata/, src/ingest/).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "testdata/testdata.h"

#define TESTDATA_DEFAULT_PERSONS   1000
#define TESTDATA_DEFAULT_COMPANIES 100
#define TESTDATA_DEFAULT_FROM      2022
#define TESTDATA_DEFAULT_TO        2024
#define TESTDATA_DEFAULT_SEED      1
#define TESTDATA_EXAMPLES          5
#define TESTDATA_PATH_MAX          1024

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dupla testdata generate [OPTIONS] (--out DIR | --ingest --config FILE)\n"
            "\n"
            "Generates 100%% synthetic data for the test environment: persons with\n"
            "substitute CPR numbers (day of month + 60), companies with CVR numbers from\n"
            "the test range 90000000-98999999 (modulus 11) and one to four SE numbers,\n"
            "incomes with realistic spreads and taxes computed from them with each year's\n"
            "Danish parameters, preliminary assessments that differ from the final ones,\n"
            "monthly, quarterly and half-yearly VAT returns and payroll tax returns, the\n"
            "companies' statuses, obligations, corporate tax returns and joint taxation\n"
            "groups, control information matching the returns and assessments, control\n"
            "registrations and observations, and assessment cases, with re-issues,\n"
            "corrections and changes as later deliveries: every service of the catalogue,\n"
            "for the same persons and companies. The same options give the same bytes.\n"
            "\n"
            "options:\n"
            "  --persons N      persons (default %d, at most %d)\n"
            "  --companies M    companies (default %d, at most %d)\n"
            "  --years A-B      income years (default %d-%d; within the tax table)\n"
            "  --seed S         the seed (default %d)\n"
            "  --out DIR        write the deliveries there (01-...ndjson to 24-...ndjson, in\n"
            "                   the order to ingest them) and examples.json (subject numbers\n"
            "                   with data in every service of their kind; with --ingest,\n"
            "                   only examples.json)\n"
            "  --ingest         load the deliveries into the store of --config (a test\n"
            "                   deployment: production refuses synthetic data)\n"
            "  --config FILE    the server configuration\n"
            "  --quiet          print nothing but errors\n"
            "  -h, --help       this text\n"
            "\n"
            "exit status: 0 done, 1 failure, 2 usage error, 5 refused (production)\n"
            "\n"
            "examples:\n"
            "  dupla testdata generate --persons 100 --companies 10 --years 2023-2024 \\\n"
            "      --seed 42 --out testdata/\n"
            "  dupla testdata generate --ingest --config var/demo/dupla.json\n",
            TESTDATA_DEFAULT_PERSONS, TESTDATA_MAX_PERSONS, TESTDATA_DEFAULT_COMPANIES,
            TESTDATA_MAX_COMPANIES, TESTDATA_DEFAULT_FROM, TESTDATA_DEFAULT_TO,
            TESTDATA_DEFAULT_SEED);
}

static int write_file(void *cls, str_t bytes)
{
    return fwrite(bytes.ptr, 1, bytes.len, (FILE *)cls) == bytes.len ? 0 : DUPLA_EIO;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s[0] || s[0] == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int write_examples(const struct testdata_options *opt, const char *dir, err_t *err)
{
    json_t *cpr = json_array(), *se = json_array(), *cvr = json_array();
    for (unsigned i = 0; i < TESTDATA_EXAMPLES && i < opt->persons; i++) {
        char b[16];
        testdata_person_cpr(opt, i, b);
        json_array_append_new(cpr, json_string(b));
    }
    /* the companies with data in every company service */
    for (unsigned i = 0, n = 0; n < TESTDATA_EXAMPLES && i < opt->companies; i++) {
        if (!testdata_example_company(opt, i))
            continue;
        n++;
        char b[16];
        testdata_company_se(opt, i, b);
        json_array_append_new(se, json_string(b));
        testdata_company_cvr(opt, i, b);
        json_array_append_new(cvr, json_string(b));
    }
    json_t *doc =
        json_pack("{s:b, s:I, s:o, s:o, s:o}", "synthetic", 1, "seed", (json_int_t)opt->seed,
                  "PersonCPRNummer", cpr, "VirksomhedSENummer", se, "VirksomhedCVRNummer", cvr);
    char path[TESTDATA_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/examples.json", dir);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc)
        return err_set(err, DUPLA_EIO, "%s: cannot write", path);
    return 0;
}

/* Generates delivery i into dir/<file>. */
static int generate_file(const struct testdata_options *opt, size_t i, const char *dir, char *path,
                         size_t cap, err_t *err)
{
    snprintf(path, cap, "%s/%s", dir, testdata_delivery_file(i));
    FILE *f = fopen(path, "w");
    if (!f)
        return err_set(err, DUPLA_EIO, "%s: cannot write: %s", path, strerror(errno));
    int rc = testdata_generate(opt, i, write_file, f, err);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(err, DUPLA_EIO, "%s: write error", path);
    return rc;
}

static void print_loaded(void *cls, size_t i, const struct ingest_result *res)
{
    (void)cls;
    printf("%-42s %8lld records: %8lld new versions, %8lld unchanged (%s)\n",
           testdata_delivery_file(i), (long long)res->records, (long long)res->new_versions,
           (long long)res->unchanged, ingest_status_name(res->status));
}

int cmd_testdata(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "generate") != 0)
        return cli_usage_error("testdata", "the subcommand is 'generate'");
    enum { O_PERSONS = 1, O_COMPANIES, O_YEARS, O_SEED, O_OUT, O_INGEST, O_CONFIG, O_QUIET };
    static const struct option opts[] = {
        {"persons", required_argument, NULL, O_PERSONS},
        {"companies", required_argument, NULL, O_COMPANIES},
        {"years", required_argument, NULL, O_YEARS},
        {"seed", required_argument, NULL, O_SEED},
        {"out", required_argument, NULL, O_OUT},
        {"ingest", no_argument, NULL, O_INGEST},
        {"config", required_argument, NULL, O_CONFIG},
        {"quiet", no_argument, NULL, O_QUIET},
        {NULL, 0, NULL, 0},
    };
    struct testdata_options opt = {TESTDATA_DEFAULT_PERSONS, TESTDATA_DEFAULT_COMPANIES,
                                   TESTDATA_DEFAULT_FROM, TESTDATA_DEFAULT_TO,
                                   TESTDATA_DEFAULT_SEED};
    const char *out_dir = NULL, *config = NULL;
    bool ingest = false, quiet = false;
    optind = 1;
    opterr = 0;
    int c;
    unsigned long long v;
    while ((c = getopt_long(argc - 1, argv + 1, "+", opts, NULL)) != -1) {
        switch (c) {
        case O_PERSONS:
            if (parse_uint(optarg, TESTDATA_MAX_PERSONS, &v))
                return cli_usage_error("testdata", "--persons wants a number up to %d",
                                       TESTDATA_MAX_PERSONS);
            opt.persons = (unsigned)v;
            break;
        case O_COMPANIES:
            if (parse_uint(optarg, TESTDATA_MAX_COMPANIES, &v))
                return cli_usage_error("testdata", "--companies wants a number up to %d",
                                       TESTDATA_MAX_COMPANIES);
            opt.companies = (unsigned)v;
            break;
        case O_YEARS: {
            int a, b, n = 0;
            if (sscanf(optarg, "%d-%d%n", &a, &b, &n) != 2 || optarg[n] != '\0') {
                if (sscanf(optarg, "%d%n", &a, &n) != 1 || optarg[n] != '\0')
                    return cli_usage_error("testdata", "--years wants A-B, e.g. 2022-2024");
                b = a;
            }
            opt.year_from = a;
            opt.year_to = b;
            break;
        }
        case O_SEED:
            if (parse_uint(optarg, UINT64_MAX, &v))
                return cli_usage_error("testdata", "--seed wants a non-negative number");
            opt.seed = v;
            break;
        case O_OUT:
            out_dir = optarg;
            break;
        case O_INGEST:
            ingest = true;
            break;
        case O_CONFIG:
            config = optarg;
            break;
        case O_QUIET:
            quiet = true;
            break;
        default:
            return cli_usage_error("testdata", "unknown option '%s'", argv[optind]);
        }
    }
    if (optind + 1 < argc)
        return cli_usage_error("testdata", "unexpected argument '%s'", argv[optind + 1]);
    if (!out_dir && !ingest)
        return cli_usage_error("testdata", "say where the data goes: --out DIR or --ingest");
    if (ingest && !config)
        return cli_usage_error("testdata", "--ingest needs --config FILE");
    err_t err;
    err_clear(&err);
    if (testdata_check_options(&opt, &err))
        return cli_usage_error("testdata", "%s", err.detail);

    struct dupla_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (config) {
        if (config_load(config, &cfg, &err)) {
            fprintf(stderr, "dupla testdata: %s\n", err.detail);
            return 1;
        }
        if (cfg.environment == ENV_PRODUCTION) {
            fprintf(stderr,
                    "dupla testdata: %s is a production deployment: it refuses to "
                    "generate or load synthetic data\n",
                    config);
            config_free(&cfg);
            return 5;
        }
        int level = log_level_parse(cfg.log_level);
        log_set_level(level > LOG_WARN ? (enum log_level)level : LOG_WARN);
    }
    int status = 1;
    catalog_t *cat = NULL;
    store_t *st = NULL;
    if (out_dir && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dupla testdata: %s: cannot create: %s\n", out_dir, strerror(errno));
        goto out;
    }
    if (ingest) {
        char cdir[TESTDATA_PATH_MAX];
        if (catalog_config_dir(&cfg, cdir, sizeof cdir, &err) ||
            catalog_load_dir(cdir, &cat, &err) || store_open(cfg.store_url, NULL, &st, &err) ||
            dataset_migrate(st, &err)) {
            fprintf(stderr, "dupla testdata: %s\n", err.log);
            goto out;
        }
        if (testdata_load(st, cat, &opt, cfg.environment, out_dir, quiet ? NULL : print_loaded,
                          NULL, &err)) {
            fprintf(stderr, "dupla testdata: %s\n", err.detail);
            goto out;
        }
    } else {
        for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
            char path[TESTDATA_PATH_MAX + 64];
            if (generate_file(&opt, i, out_dir, path, sizeof path, &err)) {
                fprintf(stderr, "dupla testdata: %s\n", err.detail);
                goto out;
            }
            if (!quiet)
                printf("wrote %s\n", path);
        }
    }
    if (out_dir && write_examples(&opt, out_dir, &err)) {
        fprintf(stderr, "dupla testdata: %s\n", err.detail);
        goto out;
    }
    status = 0;
out:
    store_close(st);
    catalog_free(cat);
    config_free(&cfg);
    return status;
}
