/*
 * cmd_pki.c: `dupla pki`, the local certificate authority and signing keys
 * from the command line: init, issue-system, revoke, show, keygen. A thin
 * layer over pki/pki.h and pki/sign.h: it parses options, calls the library
 * and prints what was written.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rand.h"
#include "pki/pki.h"
#include "pki/sign.h"

#define PASSWORD_FILE_MAX 1024 /* bytes read from --password-file */
#define PKI_CLI_PATH_MAX  4096

enum {
    OPT_DIR = 1000,
    OPT_DAYS,
    OPT_FORCE,
    OPT_CVR,
    OPT_NAME,
    OPT_UID,
    OPT_PASSWORD,
    OPT_PASSWORD_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_CERT,
    OPT_JSON,
    OPT_OUT,
    OPT_CA_NAME
};

static const char usage_pki_head[] =
    "usage: dupla pki SUBCOMMAND [OPTIONS]\n"
    "\n"
    "A local certificate authority for development, tests and the demo, and\n"
    "Ed25519 signing keys.\n"
    "\n";

static const char usage_pki_tail[] =
    "'dupla pki SUBCOMMAND --help' explains one.\n"
    "\n"
    "example:\n"
    "  dupla pki init --dir var/pki\n"
    "  dupla pki issue-system --dir var/pki --cvr 10000009 --name acme\n";

static const char usage_init[] =
    "usage: dupla pki init --dir DIR [--days N] [--ca-name NAME] [--force]\n"
    "\n"
    "Creates in DIR (made with mode 0700 if missing):\n"
    "  ca.pem, ca.key          the CA (ECDSA P-256; key mode 0600)\n"
    "  server.pem, server.key  a server certificate for localhost, 127.0.0.1, ::1\n"
    "  crl.pem                 an empty revocation list signed by the CA\n"
    "Safe to run again: an existing CA is kept and only missing files are made.\n"
    "\n"
    "options:\n"
    "  --dir DIR       the PKI folder (required)\n"
    "  --days N        validity of the CA and server certificate (default 825)\n"
    "  --ca-name NAME  the CA's common name (default \"dupla local CA\")\n"
    "  --force         replace an existing CA (certificates it issued stop verifying)\n"
    "\n"
    "example:\n"
    "  dupla pki init --dir var/pki\n";

static const char usage_issue[] =
    "usage: dupla pki issue-system --dir DIR --cvr CVR --name NAME [OPTIONS]\n"
    "\n"
    "Issues a client certificate for an organisation's system, signed by the CA in\n"
    "DIR, with the subject\n"
    "  CN=NAME,O=NAME,organizationIdentifier=NTRDK-CVR,serialNumber=CVR:CVR-UID:UID,C=DK\n"
    "and writes DIR/NAME.pem (certificate, then CA), DIR/NAME.key (mode 0600) and\n"
    "DIR/NAME.p12 (PKCS#12, AES-256, password protected). A generated password is\n"
    "written to DIR/NAME.p12.pass (mode 0600). Existing files are never replaced.\n"
    "\n"
    "options:\n"
    "  --dir DIR            the PKI folder, made by 'dupla pki init' (required)\n"
    "  --cvr CVR            the organisation's CVR number: 8 digits, modulus 11 (required)\n"
    "  --name NAME          the system's name and file stem: A-Z a-z 0-9 . _ -, up to 64\n"
    "                       characters (required)\n"
    "  --uid UID            the UID in serialNumber: A-Z a-z 0-9 . -, up to 47\n"
    "                       characters (default: random)\n"
    "  --password PW        the PKCS#12 password (default: random; visible to other\n"
    "                       users in the process list, prefer --password-file)\n"
    "  --password-file F    read the PKCS#12 password from the first line of F\n"
    "  --days N             validity in days (default 365)\n"
    "  --not-before TIME    start of validity, yyyy-mm-ddTHH:MM:SSZ (default: an hour ago)\n"
    "  --not-after TIME     end of validity (default: not-before + days); with the\n"
    "                       two, expired and not-yet-valid certificates for tests\n"
    "\n"
    "examples:\n"
    "  dupla pki issue-system --dir var/pki --cvr 10000009 --name acme\n"
    "  dupla pki issue-system --dir var/pki --cvr 10000009 --name old \\\n"
    "      --not-before 2020-01-01T00:00:00Z --not-after 2020-12-31T00:00:00Z\n";

static const char usage_revoke[] =
    "usage: dupla pki revoke --dir DIR --cert FILE\n"
    "\n"
    "Adds the certificate in FILE (issued by the CA in DIR) to DIR/crl.pem and\n"
    "re-signs the CRL.\n"
    "\n"
    "options:\n"
    "  --dir DIR    the PKI folder (required)\n"
    "  --cert FILE  the certificate to revoke, PEM or DER (required)\n"
    "\n"
    "example:\n"
    "  dupla pki revoke --dir var/pki --cert var/pki/acme.pem\n";

static const char usage_show[] =
    "usage: dupla pki show [--json] FILE\n"
    "\n"
    "Prints the subject, issuer, CVR, UID, serial number, SHA-256 fingerprint and\n"
    "validity of the (first) certificate in FILE, PEM or DER.\n"
    "\n"
    "options:\n"
    "  --json  print one JSON object instead of text\n"
    "\n"
    "example:\n"
    "  dupla pki show var/pki/acme.pem\n";

static const char usage_keygen[] =
    "usage: dupla pki keygen --out FILE\n"
    "\n"
    "Generates an Ed25519 signing key (for access tokens and audit checkpoints)\n"
    "and writes it as PEM to FILE with mode 0600; an existing FILE is refused.\n"
    "Prints the key id (RFC 7638 thumbprint).\n"
    "\n"
    "options:\n"
    "  --out FILE  where to write the key (required)\n"
    "\n"
    "example:\n"
    "  dupla pki keygen --out var/keys/token.key\n";

/* Parses the options of one subcommand with getopt_long. Calls on_opt for
 * each; returns 0, or the usage-error exit status after printing why. */
static int parse(const char *cmd, int argc, char **argv, const struct option *opts,
                 int (*on_opt)(void *ctx, const char *cmd, int opt, const char *arg), void *ctx)
{
    optind = 0; /* GNU: start afresh (the function may run more than once) */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == '?')
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        if (c == ':')
            return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        int rc = on_opt(ctx, cmd, c, optarg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_days(const char *cmd, const char *arg, unsigned *days)
{
    int64_t v;
    if (str_to_int64(str_from_cstr(arg), &v) != 0 || v < 1 || v > PKI_DAYS_MAX)
        return cli_usage_error(cmd, "--days must be a whole number from 1 to %d", PKI_DAYS_MAX);
    *days = (unsigned)v;
    return 0;
}

static int parse_time(const char *cmd, const char *name, const char *arg, int64_t *ms)
{
    if (clock_parse_timestamp(str_from_cstr(arg), ms, 0) != 0)
        return cli_usage_error(cmd, "%s must be a UTC time yyyy-mm-ddTHH:MM:SSZ", name);
    if (*ms == 0) /* 0 means "default" to the library */
        *ms = 1;
    return 0;
}

/* Prints a library error: bad input exits 2, anything else 1. */
static int fail(const char *cmd, int rc, const err_t *err)
{
    return cli_fail(cmd, rc, err, err->log[0] ? err->log : err_code_name(rc));
}

/* ---- init ---- */

static int init_opt(void *ctx, const char *cmd, int opt, const char *arg)
{
    struct pki_init_options *o = ctx;
    switch (opt) {
    case OPT_DIR:
        o->dir = arg;
        return 0;
    case OPT_DAYS:
        return parse_days(cmd, arg, &o->days);
    case OPT_CA_NAME:
        o->ca_name = arg;
        return 0;
    case OPT_FORCE:
        o->force = true;
        return 0;
    }
    return cli_usage_error(cmd, "unexpected option");
}

static void print_file(const char *dir, const char *name, const char *what)
{
    printf("  %s/%-12s %s\n", dir, name, what);
}

/* What every subcommand gets: its own argv (argv[0] is its name). */
struct pki_call {
    int argc;
    char **argv;
};

/* Unpacks ctx into argc and argv; true if the subcommand's help was asked
 * for, and printed from usage. */
static bool pki_args(void *ctx, const char *usage, int *argc, char ***argv)
{
    const struct pki_call *k = ctx;
    *argc = k->argc;
    *argv = k->argv;
    if (!cli_wants_help(k->argc, k->argv))
        return false;
    fputs(usage, stdout);
    return true;
}

static int pki_init_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    int argc;
    char **argv;
    if (pki_args(ctx, usage_init, &argc, &argv))
        return 0;
    const char *cmd = "pki init";
    static const struct option opts[] = {{"dir", required_argument, NULL, OPT_DIR},
                                         {"days", required_argument, NULL, OPT_DAYS},
                                         {"ca-name", required_argument, NULL, OPT_CA_NAME},
                                         {"force", no_argument, NULL, OPT_FORCE},
                                         {0}};
    struct pki_init_options o = {0};
    int rc = parse(cmd, argc, argv, opts, init_opt, &o);
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.dir)
        return cli_usage_error(cmd, "--dir is required");
    char ca[PKI_CLI_PATH_MAX];
    snprintf(ca, sizeof ca, "%s/ca.pem", o.dir);
    bool existed = access(ca, F_OK) == 0;
    err_t err = {0};
    rc = pki_init(&o, &err);
    if (rc != 0)
        return fail(cmd, rc, &err);
    struct pki_cert_info info;
    rc = pki_cert_info_from_file(ca, &info, &err);
    if (rc != 0)
        return fail(cmd, rc, &err);
    printf("%s CA \"%s\" (SHA-256 %s) in %s:\n",
           existed && !o.force ? "kept the existing" : "created a new", info.common_name,
           info.sha256_hex, o.dir);
    print_file(o.dir, "ca.pem", "CA certificate (give this to clients as their trust store)");
    print_file(o.dir, "ca.key", "CA key (mode 0600; keep it secret)");
    print_file(o.dir, "server.pem", "server certificate (localhost, 127.0.0.1, ::1)");
    print_file(o.dir, "server.key", "server key (mode 0600)");
    print_file(o.dir, "crl.pem", "revocation list");
    return 0;
}

/* ---- issue-system ---- */

struct issue_ctx {
    struct pki_system_options o;
    const char *password_file;
};

static int issue_opt(void *ctx, const char *cmd, int opt, const char *arg)
{
    struct issue_ctx *c = ctx;
    switch (opt) {
    case OPT_DIR:
        c->o.dir = arg;
        return 0;
    case OPT_CVR:
        c->o.cvr = arg;
        return 0;
    case OPT_NAME:
        c->o.name = arg;
        return 0;
    case OPT_UID:
        c->o.uid = arg;
        return 0;
    case OPT_PASSWORD:
        c->o.password = arg;
        return 0;
    case OPT_PASSWORD_FILE:
        c->password_file = arg;
        return 0;
    case OPT_DAYS:
        return parse_days(cmd, arg, &c->o.days);
    case OPT_NOT_BEFORE:
        return parse_time(cmd, "--not-before", arg, &c->o.not_before_ms);
    case OPT_NOT_AFTER:
        return parse_time(cmd, "--not-after", arg, &c->o.not_after_ms);
    }
    return cli_usage_error(cmd, "unexpected option");
}

/* Reads the first line of path into out (cap bytes), without its line end. */
static int read_password_file(const char *cmd, const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "dupla %s: cannot read %s\n", cmd, path);
        return 1;
    }
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (!out[0])
        return cli_usage_error(cmd, "%s holds no password on its first line", path);
    return 0;
}

static int pki_issue_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    int argc;
    char **argv;
    if (pki_args(ctx, usage_issue, &argc, &argv))
        return 0;
    const char *cmd = "pki issue-system";
    static const struct option opts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"cvr", required_argument, NULL, OPT_CVR},
        {"name", required_argument, NULL, OPT_NAME},
        {"uid", required_argument, NULL, OPT_UID},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"days", required_argument, NULL, OPT_DAYS},
        {"not-before", required_argument, NULL, OPT_NOT_BEFORE},
        {"not-after", required_argument, NULL, OPT_NOT_AFTER},
        {0}};
    struct issue_ctx c = {0};
    int rc = parse(cmd, argc, argv, opts, issue_opt, &c);
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!c.o.dir || !c.o.cvr || !c.o.name)
        return cli_usage_error(cmd, "--dir, --cvr and --name are required");
    if (c.o.password && c.password_file)
        return cli_usage_error(cmd, "give --password or --password-file, not both");
    char password[PASSWORD_FILE_MAX];
    if (c.password_file) {
        rc = read_password_file(cmd, c.password_file, password, sizeof password);
        if (rc != 0)
            return rc;
        c.o.password = password;
    }
    err_t err = {0};
    rc = pki_issue_system(&c.o, &err);
    secret_wipe(password, sizeof password);
    if (rc != 0)
        return fail(cmd, rc, &err);

    char pem[PKI_CLI_PATH_MAX];
    snprintf(pem, sizeof pem, "%s/%s.pem", c.o.dir, c.o.name);
    struct pki_cert_info info;
    rc = pki_cert_info_from_file(pem, &info, &err);
    if (rc != 0)
        return fail(cmd, rc, &err);
    char nb[32], na[32];
    clock_format_s(info.not_before_ms, nb, sizeof nb);
    clock_format_s(info.not_after_ms, na, sizeof na);
    printf("issued \"%s\" for CVR %s (UID %s), valid %s to %s\n", info.common_name, info.cvr,
           info.uid, nb, na);
    printf("  SHA-256 %s\n", info.sha256_hex);
    printf("  %s/%s.pem        certificate, then the CA\n", c.o.dir, c.o.name);
    printf("  %s/%s.key        key (mode 0600)\n", c.o.dir, c.o.name);
    printf("  %s/%s.p12        PKCS#12 with key, certificate and CA (mode 0600)\n", c.o.dir,
           c.o.name);
    if (!c.o.password)
        printf("  %s/%s.p12.pass   its password (mode 0600)\n", c.o.dir, c.o.name);
    return 0;
}

/* ---- revoke ---- */

struct revoke_ctx {
    const char *dir, *cert;
};

static int revoke_opt(void *ctx, const char *cmd, int opt, const char *arg)
{
    struct revoke_ctx *c = ctx;
    if (opt == OPT_DIR)
        c->dir = arg;
    else if (opt == OPT_CERT)
        c->cert = arg;
    else
        return cli_usage_error(cmd, "unexpected option");
    return 0;
}

static int pki_revoke_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    int argc;
    char **argv;
    if (pki_args(ctx, usage_revoke, &argc, &argv))
        return 0;
    const char *cmd = "pki revoke";
    static const struct option opts[] = {{"dir", required_argument, NULL, OPT_DIR},
                                         {"cert", required_argument, NULL, OPT_CERT},
                                         {0}};
    struct revoke_ctx c = {0};
    int rc = parse(cmd, argc, argv, opts, revoke_opt, &c);
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!c.dir || !c.cert)
        return cli_usage_error(cmd, "--dir and --cert are required");
    err_t err = {0};
    struct pki_cert_info info;
    if ((rc = pki_cert_info_from_file(c.cert, &info, &err)) != 0 ||
        (rc = pki_revoke(c.dir, c.cert, &err)) != 0)
        return fail(cmd, rc, &err);
    printf("revoked serial %s (%s)\n  %s/crl.pem   revocation list, re-signed\n", info.serial_hex,
           info.subject, c.dir);
    return 0;
}

/* ---- show ---- */

static int show_opt(void *ctx, const char *cmd, int opt, const char *arg)
{
    (void)arg;
    if (opt != OPT_JSON)
        return cli_usage_error(cmd, "unexpected option");
    *(bool *)ctx = true;
    return 0;
}

static const char *validity_status(const struct pki_cert_info *info)
{
    int64_t now = clock_now_ms();
    return now < info->not_before_ms  ? "not yet valid"
           : now > info->not_after_ms ? "expired"
                                      : "valid";
}

static int pki_show_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    int argc;
    char **argv;
    if (pki_args(ctx, usage_show, &argc, &argv))
        return 0;
    const char *cmd = "pki show";
    static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON}, {0}};
    bool json = false;
    int rc = parse(cmd, argc, argv, opts, show_opt, &json);
    if (rc != 0)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error(cmd, "give exactly one certificate file");
    err_t err = {0};
    struct pki_cert_info info;
    rc = pki_cert_info_from_file(argv[optind], &info, &err);
    if (rc != 0)
        return fail(cmd, rc, &err);
    char nb[32], na[32];
    clock_format_s(info.not_before_ms, nb, sizeof nb);
    clock_format_s(info.not_after_ms, na, sizeof na);
    if (json) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s, s:s, s:s, s:b}", "subject",
                      info.subject, "issuer", info.issuer, "common_name", info.common_name, "cvr",
                      info.cvr[0] ? info.cvr : NULL, "uid", info.uid[0] ? info.uid : NULL, "serial",
                      info.serial_hex, "sha256", info.sha256_hex, "not_before", nb, "not_after", na,
                      "status", validity_status(&info), "is_ca", info.is_ca);
        /* json_pack fails on invalid UTF-8; the strings are made valid by
         * pki_cert_info (non-UTF-8 values come out as hex). */
        if (!o)
            return fail(cmd, DUPLA_EINTERNAL, &err);
        char *text = json_text(o, JSON_INDENT(2));
        printf("%s\n", text ? text : "null");
        free(text);
        json_decref(o);
        return 0;
    }
    printf("subject:     %s\n", info.subject);
    printf("issuer:      %s\n", info.issuer);
    printf("CVR:         %s\n", info.cvr[0] ? info.cvr : "-");
    printf("UID:         %s\n", info.uid[0] ? info.uid : "-");
    printf("serial:      %s\n", info.serial_hex);
    printf("SHA-256:     %s\n", info.sha256_hex);
    printf("not before:  %s\n", nb);
    printf("not after:   %s (%s)\n", na, validity_status(&info));
    printf("CA:          %s\n", info.is_ca ? "yes" : "no");
    return 0;
}

/* ---- keygen ---- */

static int keygen_opt(void *ctx, const char *cmd, int opt, const char *arg)
{
    if (opt != OPT_OUT)
        return cli_usage_error(cmd, "unexpected option");
    *(const char **)ctx = arg;
    return 0;
}

static int pki_keygen_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    int argc;
    char **argv;
    if (pki_args(ctx, usage_keygen, &argc, &argv))
        return 0;
    const char *cmd = "pki keygen";
    static const struct option opts[] = {{"out", required_argument, NULL, OPT_OUT}, {0}};
    const char *out = NULL;
    int rc = parse(cmd, argc, argv, opts, keygen_opt, &out);
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return cli_usage_error(cmd, "--out is required");
    err_t err = {0};
    pki_signer_t *s = NULL;
    if ((rc = pki_signer_generate(out, &err)) != 0 || (rc = pki_signer_load(out, &s, &err)) != 0)
        return fail(cmd, rc, &err);
    printf("wrote %s (Ed25519 signing key, mode 0600)\n  kid %s\n", out, pki_signer_kid(s));
    pki_signer_free(s);
    return 0;
}

/* ---- dispatch ---- */

static const struct cli_sub subs[] = {
    {"init", NULL, "create a CA, a server certificate and an empty CRL in a folder", pki_init_cmd,
     0},
    {"issue-system", NULL, "issue a system (organisation) certificate carrying a CVR number",
     pki_issue_cmd, 0},
    {"revoke", NULL, "add a certificate to the folder's CRL", pki_revoke_cmd, 0},
    {"show", NULL, "print a certificate's subject, CVR, serial, fingerprint, validity",
     pki_show_cmd, 0},
    {"keygen", NULL, "generate an Ed25519 signing key (tokens, audit checkpoints)", pki_keygen_cmd,
     0},
};
static const struct cli_subs pki_subs = CLI_SUBS("pki", usage_pki_head, usage_pki_tail, subs);

int cmd_pki(int argc, char **argv)
{
    if (argc < 2) {
        cli_subs_help(&pki_subs, stderr);
        return EXIT_USAGE;
    }
    if (cli_wants_help(2, argv) || strcmp(argv[1], "help") == 0) {
        cli_subs_help(&pki_subs, stdout);
        return 0;
    }
    const struct cli_sub *sub = cli_subs_find(&pki_subs, argv[1]);
    if (!sub)
        return EXIT_USAGE;
    struct pki_call call = {argc - 1, argv + 1};
    return sub->run(&call, sub);
}
