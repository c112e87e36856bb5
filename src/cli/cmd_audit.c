/*
 * cmd_audit.c: `dupla audit`, the disclosure log from the command line:
 * verify the chain and checkpoints, sign and export checkpoints, and list or
 * export entries by filters (CSV or JSON).
 *
 * Every subcommand takes the server's --config FILE to find the store; all
 * but `checkpoint create` open it read-only, so they are safe beside a
 * running server.
 */
#include <curl/curl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/commands.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/encode.h"
#include "core/json.h"
#include "core/log.h"
#include "identity/identity.h"
#include "pki/sign.h"

#define AUDIT_CLI_FILE_MAX   (64 * 1024)         /* a checkpoint or key file */
#define AUDIT_CLI_OUT_MAX    (64 * 1024 * 1024)  /* output buffered before a write */
#define AUDIT_CLI_FLUSH      (256 * 1024)        /* write out past this much */
#define AUDIT_CLI_PAGE_ARENA (512 * 1024 * 1024) /* memory for one page of entries */
#define AUDIT_CLI_POOL       3 /* the log's writer, its flusher (PostgreSQL), reads */

static const char usage_head[] =
    "usage: dupla audit verify --config FILE [--public-key FILE]... [--since-checkpoint FILE]\n"
    "                          [--quiet]\n"
    "       dupla audit checkpoint export --config FILE [--out FILE]\n"
    "       dupla audit checkpoint create --config FILE\n"
    "       dupla audit list --config FILE [FILTERS] [--format csv|json] [--limit N]\n"
    "                        [--after SEQ] [--newest-first]\n"
    "       dupla audit export --config FILE [FILTERS] [--format csv|json] [--out FILE]\n"
    "       dupla audit partitions --config FILE [--ahead N | --no-create]\n"
    "                              [--drop-before YYYY-MM]\n"
    "       dupla audit receipt verify FILE --key VKEY\n"
    "       dupla audit witness --url URL --state DIR [--key VKEY] [--ca FILE]\n"
    "       dupla audit erratum mark --config FILE (--delivery ID | --service NAME\n"
    "                           --version KIND:SUBJECT:PERIOD:VERSION...) --reason TEXT\n"
    "                           [--replacement TEXT] [--by NAME] [--no-notify]\n"
    "       dupla audit erratum show|notify --config FILE ID [--format text|json]\n"
    "       dupla audit erratum list --config FILE\n"
    "\n"
    "The disclosure log: one entry per answer and refusal of the data services,\n"
    "hash-chained and checkpointed with the platform's signing key.\n"
    "\n";

static const char usage_tail[] =
    "verify       recomputes the whole chain and checks every checkpoint signature;\n"
    "             names the first entry that was changed, removed, inserted or\n"
    "             reordered and exits 1. Shows progress on a terminal.\n"
    "  --public-key FILE        the platform's public key (PEM \"PUBLIC KEY\", raw key\n"
    "                           as base64url or hex, or an exported checkpoint); may be\n"
    "                           given up to 16 times. Without it, checkpoints are checked\n"
    "                           against the key stored beside them.\n"
    "  --since-checkpoint FILE  an exported checkpoint: proves the log continues it\n"
    "  --quiet                  no progress, only the verdict\n"
    "checkpoint export   writes the latest checkpoint (seq, chain hash, time, key id,\n"
    "             public key, signature) as JSON, to --out FILE or standard output\n"
    "checkpoint create   signs a checkpoint of the log's head now (needs\n"
    "             audit.signing_key in the configuration)\n"
    "list         one page of entries (default 100, at most 1000); the cursor of the\n"
    "             next page is printed on standard error as 'next: SEQ'\n"
    "export       every matching entry, to --out FILE or standard output\n"
    "partitions   PostgreSQL only: creates the monthly partitions of the log for\n"
    "             this month and the next N (--ahead, default 3), moves entries\n"
    "             that landed in the DEFAULT partition into their months, and\n"
    "             lists every partition with its rows (a count: slow on a huge log)\n"
    "  --no-create          only list\n"
    "  --drop-before YYYY-MM  retention: drops the months before YYYY-MM, refusing\n"
    "                       (and dropping nothing) if one holds entries, since\n"
    "                       verify checks the chain from the first entry\n"
    "receipt verify   checks a receipt (GET /api/receipts/<seq>) offline: its\n"
    "             checkpoint's signature and the entry's inclusion proof\n"
    "  --key VKEY           the log's verifier key (name+hash+key, as served at\n"
    "                       /transparency/key), or a file holding it\n"
    "witness      holds the platform to its history: fetches the log's newest signed\n"
    "             checkpoint from URL, checks its signature, and checks (with the log's\n"
    "             consistency proof) that it extends the last checkpoint this witness\n"
    "             accepted; keeps every checkpoint it accepts in DIR. Exits 0 when\n"
    "             consistent, 3 on a split view or a rewritten history (both\n"
    "             checkpoints are kept in DIR as evidence), 1 when it could not check.\n"
    "             Run it from cron, as often as checkpoints are signed.\n"
    "  --url URL            the platform's address (https://host:port)\n"
    "  --state DIR          where the witness keeps the key and the checkpoints\n"
    "  --key VKEY           the verifier key (needed on the first run; text or a file)\n"
    "  --ca FILE            CA certificates to trust for URL (default: the system's)\n"
    "erratum mark  marks data as erroneous: a whole delivery (--delivery), or record\n"
    "             versions of one service (--service and --version, repeated; PERIOD as\n"
    "             the log writes it, e.g. 2023, empty for a service without periods),\n"
    "             with --reason and what replaces it (--replacement). Lists every\n"
    "             disclosure that included the data, per recipient organisation and\n"
    "             agreement, and queues one notice to each recipient's contact mailbox\n"
    "             (the mail outbox) naming the log's sequence numbers and the\n"
    "             recipient's case references. Marking the same again, or notify, tells\n"
    "             only recipients not told before.\n"
    "erratum show  the mark, the disclosures per recipient, who was told and when\n"
    "erratum notify  tells the recipients not yet told (after new disclosures)\n"
    "erratum list  every mark, newest first\n"
    "\n"
    "FILTERS:\n"
    "  --organisation CVR   the recipient organisation\n"
    "  --agreement ID       the agreement\n"
    "  --service NAME       the data service\n"
    "  --subject NUMBER     a CPR, CVR or SE number (only that subject is shown)\n"
    "  --subject-kind K     cpr | cvr | se\n"
    "  --from TIME          from this time (yyyy-mm-dd or yyyy-mm-ddTHH:MM:SSZ, UTC)\n"
    "  --to TIME            up to, not including, this time\n"
    "  --outcome O          disclosed | refused\n"
    "--format defaults to csv.\n"
    "\n"
    "examples:\n"
    "  dupla audit verify --config dupla.json --public-key audit-key.pub\n"
    "  dupla audit checkpoint export --config dupla.json --out cp-2024-06.json\n"
    "  dupla audit verify --config dupla.json --since-checkpoint cp-2024-06.json\n"
    "  dupla audit export --config dupla.json --subject 0101901234 --format json\n"
    "  dupla audit list --config dupla.json --organisation 12345674 --from 2024-01-01\n";

struct audit_cli {
    const char *config;
    const char *out;
    const char *since;
    const char *keys[AUDIT_VERIFY_KEYS_MAX];
    size_t n_keys;
    bool quiet;
    bool json;
    struct audit_filter filter;
    unsigned ahead;      /* partitions */
    bool no_create;      /* partitions --no-create */
    int64_t drop_before; /* partitions --drop-before, as ms; 0 = none */
};

/* Reads a small file whole into b. */
static int read_file(const char *path, buf_t *b, err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n))
            rc = err_set(err, DUPLA_ELIMIT, "%s: larger than %d bytes", path, AUDIT_CLI_FILE_MAX);
    if (!rc && ferror(f))
        rc = err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

/* An Ed25519 SubjectPublicKeyInfo is this prefix and the 32-byte key. */
static const unsigned char spki_ed25519_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                      0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

static int load_public_key(const char *path, unsigned char *pub, err_t *err)
{
    buf_t b;
    buf_init(&b, AUDIT_CLI_FILE_MAX);
    int rc = read_file(path, &b, err);
    if (rc)
        goto done;
    str_t text = str_trim(buf_str(&b));
    if (text.len && text.ptr[0] == '{') {
        struct audit_checkpoint cp;
        if ((rc = audit_checkpoint_from_json(text, &cp, err)) == 0)
            memcpy(pub, cp.public_key, PKI_ED25519_PUB_LEN);
        goto done;
    }
    if (str_has_prefix(text, STR("-----BEGIN PUBLIC KEY-----"))) {
        gnutls_datum_t in = {(unsigned char *)b.data, (unsigned)b.len}, der = {NULL, 0};
        rc = DUPLA_EINVAL;
        if (gnutls_pem_base64_decode2("PUBLIC KEY", &in, &der) >= 0 &&
            der.size == sizeof spki_ed25519_prefix + PKI_ED25519_PUB_LEN &&
            memcmp(der.data, spki_ed25519_prefix, sizeof spki_ed25519_prefix) == 0) {
            memcpy(pub, der.data + sizeof spki_ed25519_prefix, PKI_ED25519_PUB_LEN);
            rc = 0;
        }
        gnutls_free(der.data);
        if (rc)
            err_set(err, rc, "%s: not an Ed25519 public key", path);
        goto done;
    }
    if ((text.len == 2 * PKI_ED25519_PUB_LEN &&
         hex_decode(text, pub, PKI_ED25519_PUB_LEN) == PKI_ED25519_PUB_LEN) ||
        base64url_decode(text, pub, PKI_ED25519_PUB_LEN) == PKI_ED25519_PUB_LEN) {
        rc = 0;
        goto done;
    }
    rc = err_set(err, DUPLA_EINVAL,
                 "%s: not a public key (PEM, base64url or hex of 32 bytes, or a checkpoint)", path);
done:
    buf_free(&b);
    return rc;
}

static int open_store(const char *config, bool read_only, struct dupla_config *cfg, store_t **st,
                      err_t *err)
{
    int rc = config_load(config, cfg, err);
    if (rc)
        return rc;
    struct store_options so = {
        .pool_size = AUDIT_CLI_POOL, .read_only = read_only, .synchronous_full = true};
    if ((rc = store_open(cfg->store_url, &so, st, err)))
        config_free(cfg);
    return rc;
}

static int fail(const char *what, const err_t *err)
{
    fprintf(stderr, "dupla audit %s: %s\n", what, err->log[0] ? err->log : err->detail);
    return 1;
}

/* ---- verify ---- */

struct progress {
    int64_t start_ns;
    bool shown;
};

static void show_progress(void *ctx, int64_t done, int64_t total)
{
    struct progress *p = ctx;
    double secs = (double)(clock_mono_ns() - p->start_ns) / 1e9;
    fprintf(stderr, "\rverified %" PRId64 " of %" PRId64 " entries (%.0f entries/s)   ", done,
            total, secs > 0 ? (double)done / secs : 0.0);
    p->shown = true;
}

static int run_verify(struct audit_cli *a)
{
    err_t err;
    err_clear(&err);
    unsigned char keys[AUDIT_VERIFY_KEYS_MAX][PKI_ED25519_PUB_LEN];
    for (size_t i = 0; i < a->n_keys; i++)
        if (load_public_key(a->keys[i], keys[i], &err))
            return fail("verify", &err);
    struct audit_checkpoint since;
    if (a->since) {
        buf_t b;
        buf_init(&b, AUDIT_CLI_FILE_MAX);
        int rc = read_file(a->since, &b, &err);
        if (!rc)
            rc = audit_checkpoint_from_json(buf_str(&b), &since, &err);
        buf_free(&b);
        if (rc) {
            fprintf(stderr, "dupla audit verify: %s: %s\n", a->since, err.detail);
            return 1;
        }
    }
    struct dupla_config cfg;
    store_t *st;
    if (open_store(a->config, true, &cfg, &st, &err))
        return fail("verify", &err);
    struct progress prog = {.start_ns = clock_mono_ns()};
    struct audit_verify_options vo = {
        .public_keys = (const unsigned char(*)[PKI_ED25519_PUB_LEN])keys,
        .n_public_keys = a->n_keys,
        .since = a->since ? &since : NULL,
        .progress = (!a->quiet && isatty(STDERR_FILENO)) ? show_progress : NULL,
        .progress_ctx = &prog,
    };
    struct audit_verify_result r;
    int rc = audit_verify(st, &vo, &r, &err);
    store_close(st);
    config_free(&cfg);
    if (prog.shown)
        fputc('\n', stderr);
    if (rc)
        return fail("verify", &err);
    double secs = (double)(clock_mono_ns() - prog.start_ns) / 1e9;
    if (!r.ok) {
        printf("FAILED at entry %" PRId64 " (%s): %s\n", r.seq, audit_problem_name(r.problem),
               r.detail);
        printf("(%" PRId64 " entries before it verified)\n", r.entries);
        return 1;
    }
    char hex[AUDIT_HASH_HEX];
    hex_encode(r.head_hash, AUDIT_HASH_LEN, hex);
    printf("OK: %" PRId64 " entries verified (%.0f entries/s); head %" PRId64 ", chain hash %s\n",
           r.entries, secs > 0 ? (double)r.entries / secs : 0.0, r.head_seq, r.entries ? hex : "-");
    printf("%" PRId64 " checkpoint signatures verified with %s\n", r.checkpoints,
           r.keys_pinned ? "the given public key(s)"
                         : "the keys stored beside them (give --public-key to pin the "
                           "platform's key)");
    if (a->since)
        printf("the log continues the checkpoint at entry %" PRId64 "\n", since.seq);
    return 0;
}

/* ---- checkpoints ---- */

static FILE *open_out(const char *path, const char *what)
{
    if (!path)
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "dupla audit %s: %s: %s\n", what, path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, const char *what)
{
    int bad = ferror(f) || fflush(f) != 0;
    if (f != stdout)
        bad |= fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "dupla audit %s: %s: write failed: %s\n", what, path ? path : "stdout",
                strerror(errno));
        return 1;
    }
    return 0;
}

static int run_checkpoint_export(struct audit_cli *a)
{
    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    store_t *st;
    if (open_store(a->config, true, &cfg, &st, &err))
        return fail("checkpoint export", &err);
    struct audit_checkpoint cp;
    int rc = audit_checkpoint_latest(st, &cp, &err);
    store_close(st);
    config_free(&cfg);
    if (rc)
        return fail("checkpoint export", &err);
    buf_t b;
    buf_init(&b, AUDIT_CLI_FILE_MAX);
    audit_checkpoint_to_json(&cp, &b);
    FILE *f = open_out(a->out, "checkpoint export");
    if (!f) {
        buf_free(&b);
        return 1;
    }
    fwrite(b.data, 1, b.len, f);
    buf_free(&b);
    rc = close_out(f, a->out, "checkpoint export");
    if (!rc && a->out)
        fprintf(stderr, "checkpoint at entry %" PRId64 " written to %s\n", cp.seq, a->out);
    return rc;
}

static int run_checkpoint_create(struct audit_cli *a)
{
    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    store_t *st;
    if (open_store(a->config, false, &cfg, &st, &err))
        return fail("checkpoint create", &err);
    struct audit_config ac;
    pki_signer_t *signer = NULL;
    audit_log_t *log = NULL;
    int rc = audit_config_read(&cfg, &ac, &err);
    if (!rc && !ac.signing_key[0])
        rc = err_set(&err, DUPLA_EINVAL, "%s: audit.signing_key is not set", cfg.path);
    if (!rc)
        rc = pki_signer_load(ac.signing_key, &signer, &err);
    struct audit_options ao = {
        .environment = environment_name(cfg.environment), .signer = signer, .origin = ac.origin};
    if (!rc)
        rc = audit_open(st, &ao, &log, &err);
    struct audit_checkpoint before, cp;
    err_t e2;
    bool had = !rc && audit_checkpoint_latest(st, &before, &e2) == 0;
    if (!rc)
        rc = audit_checkpoint_now(log, &err);
    audit_close(log);
    if (!rc && audit_checkpoint_latest(st, &cp, &e2) == 0) {
        if (had && cp.seq == before.seq)
            printf("no entries since the checkpoint at entry %" PRId64 ": nothing to sign\n",
                   cp.seq);
        else
            printf("checkpoint at entry %" PRId64 " signed with key %s\n", cp.seq, cp.kid);
    } else if (!rc) {
        printf("the log is empty: nothing to sign\n");
    }
    pki_signer_free(signer);
    store_close(st);
    config_free(&cfg);
    return rc ? fail("checkpoint create", &err) : 0;
}

/* ---- list and export ---- */

static int flush(buf_t *b, FILE *f)
{
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        return -1;
    buf_reset(b);
    return 0;
}

static int run_list(struct audit_cli *a, bool all)
{
    const char *what = all ? "export" : "list";
    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    store_t *st;
    if (open_store(a->config, true, &cfg, &st, &err))
        return fail(what, &err);
    FILE *f = open_out(a->out, what);
    if (!f) {
        store_close(st);
        config_free(&cfg);
        return 1;
    }
    buf_t b;
    buf_init(&b, AUDIT_CLI_OUT_MAX);
    int rc = a->json ? buf_append_cstr(&b, "{\"data\":[") : audit_csv_header(&b);
    size_t rows = 0;
    int64_t next = 0;
    for (;;) {
        arena_t *ar = arena_new(AUDIT_CLI_PAGE_ARENA);
        struct audit_page page;
        if (!ar) {
            rc = err_set(&err, DUPLA_ENOMEM, "out of memory");
            break;
        }
        rc = audit_query(st, &a->filter, NULL, ar, &page, &err);
        for (size_t i = 0; !rc && i < page.n; i++, rows++) {
            if (a->json) {
                if (rows)
                    rc = buf_append(&b, ",\n", 2);
                else
                    rc = buf_append(&b, "\n", 1);
                if (!rc)
                    rc = audit_row_json(&page.rows[i], &b);
            } else {
                rc = audit_row_csv(&page.rows[i], &b);
            }
            if (!rc && b.len > AUDIT_CLI_FLUSH && flush(&b, f))
                rc = err_set(&err, DUPLA_EIO, "write failed: %s", strerror(errno));
        }
        if (rc == DUPLA_ELIMIT && err.code == DUPLA_OK) /* a buffer's limit: err not set */
            err_set(&err, rc, "an entry is too large to write");
        next = rc ? 0 : page.next;
        arena_free(ar);
        if (rc || !all || !next)
            break;
        a->filter.after = next;
    }
    if (!rc && a->json)
        rc = buf_append_cstr(&b, rows ? "\n]}\n" : "]}\n");
    if (!rc && flush(&b, f))
        rc = err_set(&err, DUPLA_EIO, "write failed: %s", strerror(errno));
    buf_free(&b);
    store_close(st);
    config_free(&cfg);
    if (close_out(f, a->out, what))
        return 1;
    if (rc)
        return fail(what, &err);
    if (!all && next)
        fprintf(stderr, "next: %" PRId64 "\n", next);
    if (all && a->out)
        fprintf(stderr, "%zu entries written to %s\n", rows, a->out);
    return 0;
}

/* ---- partitions ---- */

static void month_text(int64_t ms, char *out, size_t cap)
{
    int y, m, d;
    clock_civil_from_days((int32_t)(ms / 86400000), &y, &m, &d);
    snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
}

static int run_partitions(struct audit_cli *a)
{
    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    store_t *st;
    if (open_store(a->config, a->no_create, &cfg, &st, &err))
        return fail("partitions", &err);
    int rc = 0, created = 0, dropped = 0;
    if (!audit_partitioned(st)) {
        fprintf(stderr,
                "dupla audit partitions: partitions are a PostgreSQL feature; the store of %s "
                "is %s, whose disclosure log is one table: nothing to list or create\n",
                cfg.path, store_backend(st));
        store_close(st);
        config_free(&cfg);
        return 1;
    }
    if (!a->no_create && (rc = audit_migrate(st, &err)) == 0)
        rc = audit_partitions_ensure(st, clock_now_ms(), a->ahead, &created, &err);
    if (!rc && a->drop_before)
        rc = audit_partitions_drop_before(st, a->drop_before, &dropped, &err);
    struct audit_partition *v = NULL;
    size_t n = 0;
    if (!rc)
        rc = audit_partitions_list(st, &v, &n, &err);
    if (!rc) {
        printf("%-10s %-10s %-10s %12s %12s\n", "partition", "from", "to", "entries", "subjects");
        for (size_t i = 0; i < n; i++) {
            char from[16] = "-", to[16] = "-";
            if (!v[i].is_default) {
                month_text(v[i].from_ms, from, sizeof from);
                month_text(v[i].to_ms, to, sizeof to);
            }
            printf("%-10s %-10s %-10s %12" PRId64 " %12" PRId64 "\n", v[i].name, from, to,
                   v[i].entries, v[i].subjects);
        }
        if (!a->no_create)
            fprintf(stderr, "%d partition%s created (this month and %u ahead)\n", created,
                    created == 1 ? "" : "s", a->ahead);
        if (a->drop_before)
            fprintf(stderr, "%d empty partition%s dropped\n", dropped, dropped == 1 ? "" : "s");
    }
    free(v);
    store_close(st);
    config_free(&cfg);
    return rc ? fail("partitions", &err) : 0;
}

/* "YYYY-MM" into the first millisecond of that month (UTC). */
static int parse_month(const char *cmd, const char *opt, const char *v, int64_t *out)
{
    int y = 0, m = 0;
    char tail = 0;
    if (strlen(v) != 7 || sscanf(v, "%4d-%2d%c", &y, &m, &tail) != 2 || !clock_valid_date(y, m, 1))
        return cli_usage_error(cmd, "%s: '%s' is not YYYY-MM", opt, v);
    *out = (int64_t)clock_days_from_civil(y, m, 1) * 86400000;
    return 0;
}

/* ---- arguments ---- */

static int parse_time(const char *cmd, const char *opt, const char *v, int64_t *out)
{
    str_t s = str_from_cstr(v);
    int32_t days;
    if (clock_parse_date(s, &days) == 0) {
        *out = (int64_t)days * 86400000;
        return 0;
    }
    if (clock_parse_timestamp(s, out, 1) == 0)
        return 0;
    return cli_usage_error(cmd, "%s: '%s' is not yyyy-mm-dd or yyyy-mm-ddTHH:MM:SSZ", opt, v);
}

static int parse_args(const char *cmd, int argc, char **argv, int first, struct audit_cli *a,
                      bool filters)
{
    char name[48];
    snprintf(name, sizeof name, "audit %s", cmd);
    for (int i = first; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(o, "--quiet") != 0 && strcmp(o, "--newest-first") != 0 &&
                     strcmp(o, "--no-create") != 0;
        if (strncmp(o, "--", 2) != 0)
            return cli_usage_error(name, "unexpected argument '%s'", o);
        if (takes && !v)
            return cli_usage_error(name, "%s needs a value", o);
        if (strcmp(o, "--config") == 0) {
            a->config = v;
        } else if (strcmp(o, "--out") == 0 &&
                   (strcmp(cmd, "checkpoint export") == 0 || strcmp(cmd, "export") == 0)) {
            a->out = v;
        } else if (strcmp(cmd, "verify") == 0 && strcmp(o, "--public-key") == 0) {
            if (a->n_keys == AUDIT_VERIFY_KEYS_MAX)
                return cli_usage_error(name, "at most %d --public-key", AUDIT_VERIFY_KEYS_MAX);
            a->keys[a->n_keys++] = v;
        } else if (strcmp(cmd, "verify") == 0 && strcmp(o, "--since-checkpoint") == 0) {
            a->since = v;
        } else if (strcmp(cmd, "verify") == 0 && strcmp(o, "--quiet") == 0) {
            a->quiet = true;
            continue;
        } else if (strcmp(cmd, "partitions") == 0 && strcmp(o, "--ahead") == 0) {
            int64_t n;
            if (str_to_int64(str_from_cstr(v), &n) || n < 0 || n > AUDIT_PARTITIONS_AHEAD_MAX)
                return cli_usage_error(name, "--ahead: must be 0 to %d months",
                                       AUDIT_PARTITIONS_AHEAD_MAX);
            a->ahead = (unsigned)n;
        } else if (strcmp(cmd, "partitions") == 0 && strcmp(o, "--no-create") == 0) {
            a->no_create = true;
            continue;
        } else if (strcmp(cmd, "partitions") == 0 && strcmp(o, "--drop-before") == 0) {
            if (parse_month(name, o, v, &a->drop_before))
                return EXIT_USAGE;
        } else if (filters && strcmp(o, "--format") == 0) {
            if (strcmp(v, "json") == 0)
                a->json = true;
            else if (strcmp(v, "csv") == 0)
                a->json = false;
            else
                return cli_usage_error(name, "--format: '%s' is not csv or json", v);
        } else if (filters && strcmp(o, "--organisation") == 0) {
            a->filter.org_cvr = str_from_cstr(v);
        } else if (filters && strcmp(o, "--agreement") == 0) {
            a->filter.agreement_id = str_from_cstr(v);
        } else if (filters && strcmp(o, "--service") == 0) {
            a->filter.service = str_from_cstr(v);
        } else if (filters && strcmp(o, "--subject") == 0) {
            a->filter.subject = str_from_cstr(v);
        } else if (filters && strcmp(o, "--subject-kind") == 0) {
            if (audit_subject_kind_parse(str_from_cstr(v), &a->filter.subject_kind))
                return cli_usage_error(name, "--subject-kind: '%s' is not cpr, cvr or se", v);
            a->filter.subject_kind_set = true;
        } else if (filters && strcmp(o, "--from") == 0) {
            if (parse_time(name, o, v, &a->filter.from_ms))
                return EXIT_USAGE;
        } else if (filters && strcmp(o, "--to") == 0) {
            if (parse_time(name, o, v, &a->filter.to_ms))
                return EXIT_USAGE;
        } else if (filters && strcmp(o, "--outcome") == 0) {
            if (audit_outcome_parse(str_from_cstr(v), &a->filter.outcome))
                return cli_usage_error(name, "--outcome: '%s' is not disclosed or refused", v);
            a->filter.outcome_set = true;
        } else if (filters && strcmp(cmd, "list") == 0 && strcmp(o, "--limit") == 0) {
            int64_t n;
            if (str_to_int64(str_from_cstr(v), &n) || n < 1 || n > AUDIT_PAGE_MAX)
                return cli_usage_error(name, "--limit: must be 1 to %d", AUDIT_PAGE_MAX);
            a->filter.limit = (unsigned)n;
        } else if (filters && strcmp(cmd, "list") == 0 && strcmp(o, "--after") == 0) {
            int64_t n;
            if (str_to_int64(str_from_cstr(v), &n) || n < 0)
                return cli_usage_error(name, "--after: must be a seq (0 or more)");
            a->filter.after = n;
        } else if (filters && strcmp(o, "--newest-first") == 0) {
            a->filter.newest_first = true;
            continue;
        } else {
            return cli_usage_error(name, "unknown option '%s'", o);
        }
        i++;
    }
    if (!a->config)
        return cli_usage_error(name, "--config FILE is required");
    if (a->filter.from_ms && a->filter.to_ms && a->filter.to_ms <= a->filter.from_ms)
        return cli_usage_error(name, "--to must be after --from");
    if (filters && !a->filter.limit)
        a->filter.limit = AUDIT_PAGE_DEFAULT;
    return 0;
}

/* What every subcommand gets: the command's argv and where its options
 * start (after "checkpoint export", say). */
struct audit_call {
    int argc;
    char **argv;
    int first;
};

static int audit_verify_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    struct audit_cli a;
    memset(&a, 0, sizeof a);
    int rc;
    if ((rc = parse_args("verify", k->argc, k->argv, k->first, &a, false)))
        return rc;
    return run_verify(&a);
}

static int audit_checkpoint_export_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    struct audit_cli a;
    memset(&a, 0, sizeof a);
    int rc;
    if ((rc = parse_args("checkpoint export", k->argc, k->argv, k->first, &a, false)))
        return rc;
    return run_checkpoint_export(&a);
}

static int audit_checkpoint_create_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    struct audit_cli a;
    memset(&a, 0, sizeof a);
    int rc;
    if ((rc = parse_args("checkpoint create", k->argc, k->argv, k->first, &a, false)))
        return rc;
    return run_checkpoint_create(&a);
}

static const struct cli_sub checkpoint_table[] = {
    {"export", NULL, "write the latest checkpoint as JSON", audit_checkpoint_export_cmd, 0},
    {"create", NULL, "sign a checkpoint of the log's head now", audit_checkpoint_create_cmd, 0},
};
static const struct cli_subs checkpoint_subs =
    CLI_SUBS("audit checkpoint", usage_head, usage_tail, checkpoint_table);

static int audit_checkpoint_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    const struct cli_sub *sub = cli_subs_find(&checkpoint_subs, k->argc < 3 ? NULL : k->argv[2]);
    if (!sub)
        return EXIT_USAGE;
    struct audit_call next = {k->argc, k->argv, 3};
    return sub->run(&next, sub);
}

/* list and export: data is 1 for export (every matching entry). */
static int audit_list_cmd(void *ctx, const struct cli_sub *self)
{
    struct audit_call *k = ctx;
    struct audit_cli a;
    memset(&a, 0, sizeof a);
    int rc;
    if ((rc = parse_args(self->name, k->argc, k->argv, k->first, &a, true)))
        return rc;
    if (self->data)
        a.filter.limit = AUDIT_PAGE_MAX;
    return run_list(&a, self->data != 0);
}

static int audit_partitions_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    struct audit_cli a;
    memset(&a, 0, sizeof a);
    a.ahead = AUDIT_PARTITIONS_AHEAD_DEFAULT;
    int rc;
    if ((rc = parse_args("partitions", k->argc, k->argv, k->first, &a, false)))
        return rc;
    if (a.no_create && a.drop_before)
        return cli_usage_error("audit partitions", "--drop-before changes the store: not with "
                                                   "--no-create");
    if (a.drop_before) {
        int y, m, d;
        clock_civil_from_days((int32_t)(clock_now_ms() / 86400000), &y, &m, &d);
        if (a.drop_before > (int64_t)clock_days_from_civil(y, m, 1) * 86400000)
            return cli_usage_error("audit partitions",
                                   "--drop-before: a month after the current one would drop "
                                   "this month's partition");
    }
    return run_partitions(&a);
}

/* `dupla audit receipt verify FILE --key VKEY` (docs/transparency.md). */
static int audit_receipt_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    const char *file = NULL, *key = NULL;
    if (k->argc < 3 || strcmp(k->argv[2], "verify") != 0)
        return cli_usage_error("audit receipt",
                               "the subcommand is: receipt verify FILE --key VKEY");
    for (int i = 3; i < k->argc; i++) {
        if (strcmp(k->argv[i], "--key") == 0 && i + 1 < k->argc)
            key = k->argv[++i];
        else if (k->argv[i][0] != '-' && !file)
            file = k->argv[i];
        else
            return cli_usage_error("audit receipt verify", "unknown argument");
    }
    if (!file || !key)
        return cli_usage_error("audit receipt verify", "a FILE and --key VKEY are needed");
    err_t err;
    err_clear(&err);
    buf_t kb, rb;
    buf_init(&kb, AUDIT_CLI_FILE_MAX);
    buf_init(&rb, AUDIT_CLI_OUT_MAX);
    int rc = 0;
    /* the key as text, or a file holding it */
    if (strchr(key, '+') && access(key, F_OK) != 0)
        rc = buf_append_cstr(&kb, key) ? err_set(&err, DUPLA_ELIMIT, "--key: too long") : 0;
    else
        rc = read_file(key, &kb, &err);
    while (!rc && kb.len && (kb.data[kb.len - 1] == '\n' || kb.data[kb.len - 1] == '\r'))
        kb.len--;
    char name[AUDIT_ORIGIN_MAX];
    unsigned char pub[PKI_ED25519_PUB_LEN];
    struct audit_receipt_info info;
    if (!rc)
        rc = audit_note_vkey_parse(buf_str(&kb), name, sizeof name, pub, &err);
    if (!rc)
        rc = read_file(file, &rb, &err);
    if (!rc)
        rc = audit_receipt_check(buf_str(&rb), name, pub, &info, &err);
    buf_free(&kb);
    buf_free(&rb);
    if (rc) {
        printf("FAILED: %s\n", err.log[0] ? err.log : err.detail);
        return 1;
    }
    char root[AUDIT_HASH_HEX];
    hex_encode(info.root, AUDIT_HASH_LEN, root);
    printf("receipt of entry %" PRId64 ": in the tree of size %" PRId64 " signed by %s (root %s)\n",
           info.seq, info.tree_size, name, root);
    return 0;
}

/* ---- witness ---- */

#define WITNESS_FETCH_MAX (256 * 1024)
#define WITNESS_TIMEOUT_S 30

struct witness_http {
    const char *url, *ca;
    buf_t *body;
    bool too_large;
};

static size_t witness_collect(char *p, size_t sz, size_t n, void *ud)
{
    struct witness_http *h = ud;
    if (buf_append(h->body, p, sz * n)) {
        h->too_large = true;
        return 0;
    }
    return sz * n;
}

static int witness_get(void *ctx, const char *path, buf_t *out, err_t *err)
{
    struct witness_http *h = ctx;
    char url[1024];
    if (snprintf(url, sizeof url, "%s%s", h->url, path) >= (int)sizeof url)
        return err_param(err, DUPLA_EINVAL, "url", "--url is too long");
    CURL *c = curl_easy_init();
    if (!c)
        return err_set(err, DUPLA_ENOMEM, "curl_easy_init failed");
    buf_t body;
    buf_init(&body, WITNESS_FETCH_MAX);
    h->body = &body;
    h->too_large = false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, witness_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WITNESS_TIMEOUT_S);
    if (h->ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int rc = 0;
    if (h->too_large)
        rc = err_set(err, DUPLA_ELIMIT, "GET %s: the answer is larger than %d bytes", path,
                     WITNESS_FETCH_MAX);
    else if (cc != CURLE_OK)
        rc = err_set(err, DUPLA_EIO, "GET %s: %s", url, curl_easy_strerror(cc));
    else if (status != 200)
        rc = err_set(err, DUPLA_EIO, "GET %s: status %ld", url, status);
    else if (buf_append(out, body.data, body.len))
        rc = err_set(err, DUPLA_ELIMIT, "GET %s: the answer is too large", path);
    buf_free(&body);
    h->body = NULL;
    return rc;
}

static int audit_witness_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    const char *url = NULL, *dir = NULL, *key = NULL, *ca = NULL;
    for (int i = k->first; i < k->argc; i += 2) { /* option, value */
        const char *o = k->argv[i], *v = i + 1 < k->argc ? k->argv[i + 1] : NULL;
        if (!v)
            return cli_usage_error("audit witness", "%s needs a value", o);
        if (strcmp(o, "--url") == 0)
            url = v;
        else if (strcmp(o, "--state") == 0)
            dir = v;
        else if (strcmp(o, "--key") == 0)
            key = v;
        else if (strcmp(o, "--ca") == 0)
            ca = v;
        else
            return cli_usage_error("audit witness", "unknown option '%s'", o);
    }
    if (!url || !dir)
        return cli_usage_error("audit witness", "--url URL and --state DIR are needed");
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return cli_usage_error("audit witness", "--url must start with https://");
    err_t err;
    err_clear(&err);
    buf_t kb;
    buf_init(&kb, AUDIT_CLI_FILE_MAX);
    int rc = 0;
    if (key && strchr(key, '+') && access(key, F_OK) != 0)
        rc = buf_append_cstr(&kb, key) ? err_set(&err, DUPLA_ELIMIT, "--key: too long") : 0;
    else if (key)
        rc = read_file(key, &kb, &err);
    while (!rc && kb.len && (kb.data[kb.len - 1] == '\n' || kb.data[kb.len - 1] == '\r'))
        kb.len--;
    char base[1024];
    snprintf(base, sizeof base, "%s", url);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = 0;
    struct witness_http h = {.url = base, .ca = ca};
    struct audit_witness_fetch f = {witness_get, &h};
    struct audit_witness_result res;
    if (!rc) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = audit_witness_run(dir, buf_str(&kb), &f, &res, &err);
        curl_global_cleanup();
    }
    buf_free(&kb);
    if (rc) {
        fprintf(stderr, "dupla audit witness: could not check: %s\n",
                err.log[0] ? err.log : err.detail);
        return 1;
    }
    if (audit_witness_failed(res.verdict)) {
        fprintf(stderr, "dupla audit witness: %s\n", res.detail);
        if (res.evidence[0])
            fprintf(stderr, "dupla audit witness: both signed checkpoints are kept in %s\n",
                    res.evidence);
        return 3;
    }
    printf("%s\n", res.detail);
    return 0;
}

/* ---- data errors (erratum) ---- */

/* KIND:SUBJECT:PERIOD:VERSION into v (borrowing text, which it cuts). */
static int parse_version(char *text, struct audit_erratum_version *v)
{
    char *f[4];
    int n = 0;
    for (char *p = text; n < 4;) {
        f[n++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    int64_t version;
    if (n != 4 || audit_subject_kind_parse(str_from_cstr(f[0]), &v->kind) || !f[1][0] ||
        str_to_int64(str_from_cstr(f[3]), &version) || version < 1)
        return -1;
    v->subject = str_from_cstr(f[1]);
    v->period = str_from_cstr(f[2]);
    v->version = version;
    return 0;
}

static int erratum_contact(void *ctx, const char *org_cvr, char *out, size_t cap, err_t *err)
{
    struct identity_org org;
    int rc = identity_org_get(ctx, str_from_cstr(org_cvr), &org, err);
    if (rc == 0)
        snprintf(out, cap, "%s", org.contact_email);
    return rc;
}

static void erratum_print(const json_t *rep)
{
    const json_t *d = json_object_get(rep, "delivery");
    printf("data error %" PRId64 ", marked %s by %s\n  reason: %s\n  replaced by: %s\n",
           (int64_t)json_integer_value(json_object_get(rep, "id")),
           json_string_value(json_object_get(rep, "time")),
           json_string_value(json_object_get(rep, "marked_by")),
           json_string_value(json_object_get(rep, "reason")),
           json_string_value(json_object_get(rep, "replacement")));
    if (json_is_string(d))
        printf("  delivery: %s\n", json_string_value(d));
    size_t i, k, q;
    json_t *x, *a, *y;
    json_array_foreach(json_object_get(rep, "versions"), i, x)
    {
        printf("  version: %s %s:%s:%s:%" PRId64 "\n",
               json_string_value(json_object_get(x, "service")),
               json_string_value(json_object_get(x, "subject_kind")),
               json_string_value(json_object_get(x, "subject")),
               json_string_value(json_object_get(x, "period")),
               (int64_t)json_integer_value(json_object_get(x, "version")));
    }
    printf("disclosures that included it: %" PRId64 "\n",
           (int64_t)json_integer_value(json_object_get(rep, "disclosures")));
    json_array_foreach(json_object_get(rep, "recipients"), i, x)
    {
        const json_t *n = json_object_get(x, "notice");
        printf("recipient %s: %" PRId64 " subjects; ",
               json_string_value(json_object_get(x, "organisation")),
               (int64_t)json_integer_value(json_object_get(x, "subjects")));
        if (json_is_object(n))
            printf("told %s at %s\n", json_string_value(json_object_get(n, "time")),
                   json_string_value(json_object_get(n, "mailbox")));
        else
            printf("not told yet\n");
        json_array_foreach(json_object_get(x, "agreements"), k, a)
        {
            printf("  agreement %s: %" PRId64 " subjects, entries",
                   json_string_value(json_object_get(a, "agreement")),
                   (int64_t)json_integer_value(json_object_get(a, "subjects")));
            json_array_foreach(json_object_get(a, "disclosures"), q, y)
            {
                printf("%s %" PRId64 "%s", q ? "," : "",
                       (int64_t)json_integer_value(json_object_get(y, "seq")),
                       json_is_true(json_object_get(y, "exact")) ? "" : " (delivery only)");
            }
            printf("; case references");
            json_array_foreach(json_object_get(a, "case_references"), q, y)
            {
                printf("%s %s", q ? "," : "", json_string_value(y));
            }
            printf("\n");
        }
    }
}

static int audit_erratum_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct audit_call *k = ctx;
    const char *name = "audit erratum";
    const char *sub = k->argc > 2 ? k->argv[2] : "";
    bool mark = strcmp(sub, "mark") == 0, show = strcmp(sub, "show") == 0,
         notify = strcmp(sub, "notify") == 0, list = strcmp(sub, "list") == 0;
    if (!mark && !show && !notify && !list)
        return cli_usage_error(name, "the subcommands are mark, show, notify and list");
    const char *config = NULL, *by = NULL, *service = NULL;
    struct audit_erratum_mark m = {0};
    struct audit_erratum_version *vs = calloc(AUDIT_ERRATUM_VERSIONS_MAX, sizeof *vs);
    if (!vs)
        return cli_usage_error(name, "out of memory");
    bool json = false, no_notify = false;
    int64_t id = 0;
    int rc = 0;
    for (int i = 3; i < k->argc && !rc; i++) {
        const char *o = k->argv[i], *v = i + 1 < k->argc ? k->argv[i + 1] : NULL;
        if (o[0] != '-' && (show || notify) && !id) {
            if (str_to_int64(str_from_cstr(o), &id) || id < 1)
                rc = cli_usage_error(name, "ID: '%s' is not a data error's number", o);
            continue;
        }
        if (mark && strcmp(o, "--no-notify") == 0) {
            no_notify = true;
            continue;
        }
        if (!v) {
            rc = cli_usage_error(name, "%s needs a value", o);
            break;
        }
        i++;
        if (strcmp(o, "--config") == 0) {
            config = v;
        } else if ((show || notify) && strcmp(o, "--format") == 0 &&
                   (strcmp(v, "json") == 0 || strcmp(v, "text") == 0)) {
            json = strcmp(v, "json") == 0;
        } else if (mark && strcmp(o, "--delivery") == 0) {
            m.delivery_id = str_from_cstr(v);
        } else if (mark && strcmp(o, "--service") == 0) {
            service = v;
        } else if (mark && strcmp(o, "--version") == 0) {
            if (m.n_versions == AUDIT_ERRATUM_VERSIONS_MAX)
                rc = cli_usage_error(name, "at most %d --version", AUDIT_ERRATUM_VERSIONS_MAX);
            else if (parse_version(k->argv[i], &vs[m.n_versions]))
                rc = cli_usage_error(name, "--version: not KIND:SUBJECT:PERIOD:VERSION "
                                           "(cpr:0101901234:2023:2)");
            else
                m.n_versions++;
        } else if (mark && strcmp(o, "--reason") == 0) {
            m.reason = str_from_cstr(v);
        } else if (mark && strcmp(o, "--replacement") == 0) {
            m.replacement = str_from_cstr(v);
        } else if (mark && strcmp(o, "--by") == 0) {
            by = v;
        } else {
            rc = cli_usage_error(name, "unknown option '%s'", o);
        }
    }
    if (!rc && !config)
        rc = cli_usage_error(name, "--config FILE is required");
    if (!rc && (show || notify) && !id)
        rc = cli_usage_error(name, "the data error's number (ID) is required");
    if (!rc && mark && m.n_versions && !service)
        rc = cli_usage_error(name, "--version needs --service NAME");
    if (!rc && mark && service && !m.n_versions)
        rc = cli_usage_error(name, "--service needs --version");
    if (rc) {
        free(vs);
        return rc;
    }
    for (size_t i = 0; i < m.n_versions; i++)
        vs[i].service = str_from_cstr(service);
    m.versions = vs;
    char actor[128];
    const char *user = getenv("USER");
    snprintf(actor, sizeof actor, "%s", by ? by : user ? user : "cli");
    m.actor = str_from_cstr(actor);

    err_t err;
    err_clear(&err);
    struct dupla_config cfg;
    store_t *st;
    if (open_store(config, list || show, &cfg, &st, &err)) {
        free(vs);
        return fail("erratum", &err);
    }
    identity_t *idn = NULL;
    bool existed = false;
    if (mark || notify)
        rc = audit_migrate(st, &err);
    if (!rc && mark)
        rc = audit_erratum_mark(st, &m, clock_now_ms(), &id, &existed, &err);
    struct audit_erratum_sent sent = {0};
    bool told = !rc && (notify || (mark && !no_notify));
    if (told && !(rc = identity_open(st, &cfg, &idn, &err)))
        rc = audit_erratum_notify(st, id, erratum_contact, idn, clock_now_ms(), &sent, &err);
    json_t *out = NULL;
    if (!rc && list)
        rc = audit_erratum_list(st, &out, &err);
    else if (!rc)
        rc = audit_erratum_report(st, id, &out, &err);
    identity_close(idn);
    store_close(st);
    config_free(&cfg);
    free(vs);
    if (rc) {
        if (rc == DUPLA_EINVAL || rc == DUPLA_ELIMIT)
            return cli_usage_error(name, "%s%s%s", err.param, err.param[0] ? ": " : "", err.detail);
        return fail("erratum", &err);
    }
    if (mark)
        printf("%s data error %" PRId64 "\n", existed ? "already marked as" : "marked as", id);
    if (told)
        printf("notices queued: %zu (recipients %zu, told before %zu, without a mailbox %zu)\n",
               sent.queued, sent.recipients, sent.already, sent.no_mailbox);
    if (json || list) {
        char *t = json_text(out, JSON_INDENT(2));
        printf("%s\n", t ? t : "null");
        free(t);
    } else {
        erratum_print(out);
    }
    json_decref(out);
    return 0;
}

static const struct cli_sub subs[] = {
    {"verify", NULL, "check the whole chain and every checkpoint signature", audit_verify_cmd, 0},
    {"checkpoint", "export|create", "write out or sign a checkpoint", audit_checkpoint_cmd, 0},
    {"list", NULL, "one page of entries", audit_list_cmd, 0},
    {"export", NULL, "every matching entry", audit_list_cmd, 1},
    {"partitions", NULL, "PostgreSQL: make, list and drop the log's monthly partitions",
     audit_partitions_cmd, 0},
    {"receipt", "verify", "check a receipt offline", audit_receipt_cmd, 0},
    {"witness", NULL, "check that the log's newest checkpoint extends the last one seen",
     audit_witness_cmd, 0},
    {"erratum", "mark|show|notify|list",
     "mark data erroneous, trace its disclosures and tell each recipient", audit_erratum_cmd, 0},
};
static const struct cli_subs audit_subs = CLI_SUBS("audit", usage_head, usage_tail, subs);

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        cli_subs_help(&audit_subs, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    log_set_level(LOG_WARN);
    const struct cli_sub *sub = cli_subs_find(&audit_subs, argv[1]);
    if (!sub)
        return EXIT_USAGE;
    struct audit_call call = {argc, argv, 2};
    return sub->run(&call, sub);
}
