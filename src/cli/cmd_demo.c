/*
 * cmd_demo.c: `dupla demo`, the test-environment demo behind `make run`.
 *
 * Sets up, idempotently, everything a newcomer needs to call the platform
 * (a local CA and server certificate, a configuration in test (TFE) mode,
 * and, as the modules provide them, a demo organisation, its system
 * certificate, an approved test agreement and synthetic data), writes
 * connect.json describing how a client connects, then serves in the
 * foreground until Ctrl-C.
 *
 * connect.json's keys are stable (tools and tests find the demo by them):
 * environment, base_url, token_url, ca_file, pkcs12_file, pkcs12_password,
 * agreement_id, and example subject numbers.
 *
 * Each set-up step is one function in the steps table; a module adds its
 * demo data by adding a step.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "catalog/catalog.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "identity/identity.h"
#include "pki/pki.h"
#include "pki/sign.h"
#include "store/store.h"
#include "testdata/testdata.h"
#include "web/web_default.h"

#define DEMO_DEFAULT_DIR        "var/demo"
#define DEMO_DEFAULT_API_PORT   8443
#define DEMO_DEFAULT_TOKEN_PORT 8444
#define DEMO_PATH_MAX           512
/* The demo organisation's CVR number (passes modulus 11) and system name. */
#define DEMO_ORG_CVR     IDENTITY_DEMO_CVR
#define DEMO_SYSTEM_NAME IDENTITY_DEMO_SYSTEM
/* The synthetic data set: small enough to load in seconds. */
#define DEMO_PERSONS   200
#define DEMO_COMPANIES 30
#define DEMO_YEAR_FROM 2022
#define DEMO_YEAR_TO   2024
#define DEMO_SEED      1
#define DEMO_EXAMPLES  5

struct demo {
    char dir[DEMO_PATH_MAX];
    char pki_dir[DEMO_PATH_MAX + 8];
    char config_path[DEMO_PATH_MAX + 16];
    char connect_path[DEMO_PATH_MAX + 16];
    unsigned api_port;
    unsigned token_port;
    json_t *connect;         /* connect.json, filled by the steps */
    struct dupla_config cfg; /* loaded by step_open */
    store_t *store;
    identity_t *identity;
    catalog_t *catalog;
    agreement_t *agreement;
};

static int demo_write_json(const char *path, json_t *doc, err_t *err)
{
    char tmp[DEMO_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (json_dump_file(doc, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        return err_set(err, DUPLA_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0)
        return err_set(err, DUPLA_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    return 0;
}

static int step_pki(struct demo *d, err_t *err)
{
    struct pki_init_options opt = {.dir = d->pki_dir, .ca_name = "dupla demo CA (test only)"};
    int rc = pki_init(&opt, err);
    if (rc)
        return rc;
    char ca[DEMO_PATH_MAX + 32];
    snprintf(ca, sizeof ca, "%s/ca.pem", d->pki_dir);
    json_object_set_new(d->connect, "ca_file", json_string(ca));
    return 0;
}

static int step_config(struct demo *d, err_t *err)
{
    /* The configuration is rewritten every time, so that a changed port
     * takes effect; its paths are relative to the demo folder. */
    json_t *cfg = json_pack(
        "{s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s, s:s, s:s}, {s:s, s:s, s:i, s:s, s:s, s:s, "
        "s:s, s:s}]}",
        "environment", "test", "store", "sqlite:dupla.db", "log_level", "info", "listeners", "name",
        "api", "address", "127.0.0.1", "port", (int)d->api_port, "cert", "pki/server.pem", "key",
        "pki/server.key", "client_cert", "none", "name", "token", "address", "127.0.0.1", "port",
        (int)d->token_port, "cert", "pki/server.pem", "key", "pki/server.key", "client_cert",
        "request", "trust", "pki/ca.pem", "crl", "pki/crl.pem");
    if (!cfg)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    /* The web pages' design system, as `npm ci` installed it in the source tree. */
    json_object_set_new(cfg, "web", json_pack("{s:s}", "assets_dir", WEB_ASSETS_DEFAULT_DIR));
    int rc = demo_write_json(d->config_path, cfg, err);
    json_decref(cfg);
    if (rc)
        return rc;
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", d->api_port);
    json_object_set_new(d->connect, "base_url", json_string(url));
    snprintf(url, sizeof url, "https://localhost:%u/token", d->token_port);
    json_object_set_new(d->connect, "token_url", json_string(url));
    return 0;
}

/* The disclosure log's checkpoint signing key, made once. */
static int step_audit_key(struct demo *d, err_t *err)
{
    char path[DEMO_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/audit-signing.key", d->dir);
    if (access(path, F_OK) == 0)
        return 0;
    return pki_signer_generate(path, err);
}

/* Loads the configuration just written and opens the store, identity and the
 * catalogue, for the steps that make demo data. */
static int step_open(struct demo *d, err_t *err)
{
    int rc = config_load(d->config_path, &d->cfg, err);
    if (rc == 0)
        rc = store_open(d->cfg.store_url, NULL, &d->store, err);
    /* every table serve would make, so the demo's store is a whole platform's
     * (store copy compares it with a migrated one) */
    if (rc == 0)
        rc = cli_migrate_all(d->store, err);
    if (rc == 0)
        rc = identity_open(d->store, &d->cfg, &d->identity, err);
    char dir[CONFIG_PATH_MAX];
    if (rc == 0)
        rc = catalog_config_dir(&d->cfg, dir, sizeof dir, err);
    if (rc == 0)
        rc = catalog_load_dir(dir, &d->catalog, err);
    return rc;
}

static void demo_close(struct demo *d)
{
    agreement_close(d->agreement);
    catalog_free(d->catalog);
    identity_close(d->identity);
    store_close(d->store);
    config_free(&d->cfg);
}

/* The demo organisation, its administrator, processor and signatory, and
 * its system bound to the demo certificate. */
static int step_identity(struct demo *d, err_t *err)
{
    char cert[DEMO_PATH_MAX + 64];
    snprintf(cert, sizeof cert, "%s/%s.pem", d->pki_dir, DEMO_SYSTEM_NAME);
    struct identity_demo out;
    int rc = identity_demo_setup(d->identity, cert, d->dir, &out, err);
    if (rc)
        return rc;
    json_object_set_new(d->connect, "system_id", json_string(out.system_id));
    json_object_set_new(d->connect, "users_file", json_string(out.users_file));
    return 0;
}

static int demo_field_known(void *ctx, const char *service, const char *field)
{
    const struct catalog_service *svc = catalog_find(ctx, str_from_cstr(service));
    return svc && (field == NULL || catalog_field_find(svc, str_from_cstr(field)) != NULL);
}

/* An approved test agreement covering every service and field of the
 * catalogue. */
static int step_agreement(struct demo *d, err_t *err)
{
    struct agreement_hooks hooks = {.ctx = d->catalog, .field_known = demo_field_known};
    int rc = agreement_open(d->store, &hooks, &d->agreement, err);
    if (rc)
        return rc;
    json_t *services = json_object();
    for (size_t i = 0; i < catalog_count(d->catalog); i++) {
        const struct catalog_service *svc = catalog_service_at(d->catalog, i);
        json_t *fields = json_array();
        for (size_t f = 0; f < svc->n_fields; f++)
            json_array_append_new(fields, json_string(svc->fields[f].name));
        json_object_set_new(services, svc->path, fields);
    }
    char id[AGREEMENT_ID_LEN + 1];
    rc = agreement_demo_setup(d->agreement, DEMO_ORG_CVR, ENV_TEST, services, id, err);
    json_decref(services);
    if (rc == 0)
        json_object_set_new(d->connect, "agreement_id", json_string(id));
    return rc;
}

/* A small synthetic data set (the same seed gives the same data, so running
 * again adds nothing), and example subjects to ask for. */
static int step_testdata(struct demo *d, err_t *err)
{
    struct testdata_options opt = {DEMO_PERSONS, DEMO_COMPANIES, DEMO_YEAR_FROM, DEMO_YEAR_TO,
                                   DEMO_SEED};
    int rc = testdata_load(d->store, d->catalog, &opt, ENV_TEST, d->dir, NULL, NULL, err);
    if (rc)
        return rc;
    /* subjects the generator makes complete: each has data in every
     * service that takes its kind */
    json_t *cprs = json_array(), *ses = json_array(), *cvrs = json_array();
    for (unsigned i = 0, n = 0; n < DEMO_EXAMPLES && i < DEMO_PERSONS; i++) {
        char buf[16];
        if (!testdata_example_person(&opt, i))
            continue;
        n++;
        testdata_person_cpr(&opt, i, buf);
        json_array_append_new(cprs, json_string(buf));
    }
    for (unsigned i = 0, n = 0; n < DEMO_EXAMPLES && i < DEMO_COMPANIES; i++) {
        char buf[16];
        if (!testdata_example_company(&opt, i))
            continue;
        n++;
        testdata_company_se(&opt, i, buf);
        json_array_append_new(ses, json_string(buf));
        testdata_company_cvr(&opt, i, buf);
        json_array_append_new(cvrs, json_string(buf));
    }
    json_object_set_new(d->connect, "PersonCPRNummer", cprs);
    json_object_set_new(d->connect, "VirksomhedSENummer", ses);
    json_object_set_new(d->connect, "VirksomhedCVRNummer", cvrs);
    json_object_set_new(d->connect, "income_years",
                        json_pack("[i,i,i]", DEMO_YEAR_FROM, DEMO_YEAR_FROM + 1, DEMO_YEAR_TO));
    return 0;
}

/* Issues the demo organisation's system certificate once, and names its
 * PKCS#12 file and password in connect.json. */
static int step_system_cert(struct demo *d, err_t *err)
{
    char pem[DEMO_PATH_MAX + 64], p12[DEMO_PATH_MAX + 64], pass_file[DEMO_PATH_MAX + 80];
    snprintf(pem, sizeof pem, "%s/%s.pem", d->pki_dir, DEMO_SYSTEM_NAME);
    snprintf(p12, sizeof p12, "%s/%s.p12", d->pki_dir, DEMO_SYSTEM_NAME);
    snprintf(pass_file, sizeof pass_file, "%s.pass", p12);
    if (access(pem, F_OK) != 0 || access(p12, F_OK) != 0 || access(pass_file, F_OK) != 0) {
        struct pki_system_options opt = {
            .dir = d->pki_dir, .cvr = DEMO_ORG_CVR, .name = DEMO_SYSTEM_NAME};
        int rc = pki_issue_system(&opt, err);
        if (rc)
            return rc;
    }
    char pass[256] = "";
    FILE *f = fopen(pass_file, "r");
    if (!f)
        return err_set(err, DUPLA_EIO, "cannot read %s: %s", pass_file, strerror(errno));
    if (!fgets(pass, sizeof pass, f))
        pass[0] = '\0';
    fclose(f);
    pass[strcspn(pass, "\r\n")] = '\0';
    json_object_set_new(d->connect, "pkcs12_file", json_string(p12));
    json_object_set_new(d->connect, "pkcs12_password", json_string(pass));
    json_object_set_new(d->connect, "organisation_cvr", json_string(DEMO_ORG_CVR));
    return 0;
}

static const struct demo_step {
    const char *name;
    int (*run)(struct demo *d, err_t *err);
} steps[] = {
    {"local CA and server certificate", step_pki},
    {"configuration", step_config},
    {"demo system certificate", step_system_cert},
    {"audit signing key", step_audit_key},
    {"store", step_open},
    {"demo organisation, users and system", step_identity},
    {"approved test agreement", step_agreement},
    {"synthetic data", step_testdata},
};

/* Prints where the web pages are and who can log in to them, from the
 * users file the identity step wrote (so the list cannot drift from what
 * was made). The password is the same public one for every demo user. */
static void print_web_and_users(const struct demo *d)
{
    printf("The web pages (self-service, in Danish):\n"
           "  https://localhost:%u/login\n"
           "  (a browser does not know the demo's CA: import %s/ca.pem, or accept the warning)\n\n",
           d->api_port, d->pki_dir);
    char path[DEMO_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/users.json", d->dir);
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *users = json_object_get(doc, "users");
    if (!json_is_array(users) || json_array_size(users) == 0) {
        printf("(no demo users: %s is missing)\n\n", path);
        json_decref(doc);
        return;
    }
    const char *password = NULL;
    size_t i;
    json_t *u;
    printf("Demo users (Demo Kommune, CVR %s, and the data owner):\n", DEMO_ORG_CVR);
    json_array_foreach(users, i, u)
    {
        const char *name = json_string_value(json_object_get(u, "username"));
        if (!password)
            password = json_string_value(json_object_get(u, "password"));
        printf("  %-36s", name ? name : "?");
        json_t *roles = json_object_get(u, "roles"), *r;
        size_t j;
        json_array_foreach(roles, j, r) printf("%s%s", j ? ", " : "", json_string_value(r));
        printf("\n");
    }
    printf("  password: %s\n"
           "  (public, like this whole demo: for the test environment only, never production)\n\n",
           password ? password : "?");
    json_decref(doc);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dupla demo [--dir DIR] [--api-port N] [--token-port N] [--setup-only]\n"
            "\n"
            "Sets up a test (TFE) environment in DIR and serves it in the foreground\n"
            "(Ctrl-C stops it). Safe to run again: what exists is kept.\n"
            "\n"
            "options:\n"
            "  --dir DIR          where everything goes (default %s)\n"
            "  --api-port N       port of the data services (default %d)\n"
            "  --token-port N     port of the token service, mTLS (default %d)\n"
            "  --setup-only       set up and write DIR/connect.json, but do not serve\n"
            "\n"
            "DIR/connect.json tells a client how to connect (base_url, ca_file, token_url,\n"
            "pkcs12_file, pkcs12_password, agreement_id, example subjects).\n"
            "\n"
            "example:\n"
            "  dupla demo --dir var/demo\n",
            DEMO_DEFAULT_DIR, DEMO_DEFAULT_API_PORT, DEMO_DEFAULT_TOKEN_PORT);
}

static int parse_port(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    struct demo d = {.api_port = DEMO_DEFAULT_API_PORT, .token_port = DEMO_DEFAULT_TOKEN_PORT};
    snprintf(d.dir, sizeof d.dir, "%s", DEMO_DEFAULT_DIR);
    int setup_only = 0;
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"api-port", required_argument, NULL, 'a'},
                                         {"token-port", required_argument, NULL, 't'},
                                         {"setup-only", no_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            if (snprintf(d.dir, sizeof d.dir, "%s", optarg) >= (int)sizeof d.dir)
                return cli_usage_error("demo", "--dir: path too long");
            break;
        case 'a':
            if (parse_port(optarg, &d.api_port))
                return cli_usage_error("demo", "--api-port: '%s' is not a port (1-65535)", optarg);
            break;
        case 't':
            if (parse_port(optarg, &d.token_port))
                return cli_usage_error("demo", "--token-port: '%s' is not a port (1-65535)",
                                       optarg);
            break;
        case 's':
            setup_only = 1;
            break;
        default:
            return cli_usage_error("demo", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    if (d.api_port == d.token_port)
        return cli_usage_error("demo", "--api-port and --token-port must differ");

    if (mkdir(d.dir, 0700) != 0 && errno != EEXIST) {
        /* make parents, like mkdir -p */
        char tmp[DEMO_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", d.dir);
        for (char *p = tmp + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(tmp, 0700);
                *p = '/';
            }
        if (mkdir(d.dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "dupla demo: cannot create %s: %s\n", d.dir, strerror(errno));
            return 1;
        }
    }
    char *abs = realpath(d.dir, NULL);
    if (abs) {
        snprintf(d.dir, sizeof d.dir, "%s", abs);
        free(abs);
    }
    snprintf(d.pki_dir, sizeof d.pki_dir, "%s/pki", d.dir);
    snprintf(d.config_path, sizeof d.config_path, "%s/dupla.json", d.dir);
    snprintf(d.connect_path, sizeof d.connect_path, "%s/connect.json", d.dir);
    d.connect = json_object();
    json_object_set_new(d.connect, "environment", json_string("test"));

    err_t err;
    err_clear(&err);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fprintf(stderr, "dupla demo: %s\n", steps[i].name);
        if (steps[i].run(&d, &err) != 0) {
            fprintf(stderr, "dupla demo: %s failed: %s\n", steps[i].name, err.log);
            json_decref(d.connect);
            demo_close(&d);
            return 1;
        }
    }
    demo_close(&d);
    int rc = demo_write_json(d.connect_path, d.connect, &err);
    json_decref(d.connect);
    if (rc) {
        fprintf(stderr, "dupla demo: %s\n", err.log);
        return 1;
    }
    printf("\nThe dupla test environment (TFE, synthetic data only) is set up in %s\n"
           "  configuration: %s\n"
           "  how to connect: %s\n\n"
           "Try, once it listens:\n"
           "  curl --cacert %s/ca.pem https://localhost:%u/health/ready\n"
           "  curl --cacert %s/ca.pem --cert %s/demo-system.pem --key %s/demo-system.key "
           "https://localhost:%u/whoami\n\n",
           d.dir, d.config_path, d.connect_path, d.pki_dir, d.api_port, d.pki_dir, d.pki_dir,
           d.pki_dir, d.token_port);
    print_web_and_users(&d);
    fflush(stdout);
    if (setup_only)
        return 0;
    char *serve_argv[] = {"serve", "--config", d.config_path, NULL};
    return cmd_serve(3, serve_argv);
}
