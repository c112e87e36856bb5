/* Unit tests: `dupla audit` (cli/cmd_audit.c), run as the real binary
 * ($DUPLA_BIN) against a log recorded through the library: exit statuses,
 * the verdicts verify prints, checkpoint export and continuation, and the
 * list/export formats. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "test_audit_util.h"

static struct audit_fixture fx;
static char config[200];
static char out[1 << 16]; /* what the last run wrote to stdout and stderr */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    audit_fixture_init(&fx);
    snprintf(config, sizeof config, "%s/dupla.json", fx.dir);
    write_text(config, "{\"environment\": \"test\", \"store\": \"sqlite:audit.db\","
                       " \"audit\": {\"signing_key\": \"audit-key.pem\"}}");
    audit_log_t *log = audit_fixture_log(&fx, 5);
    err_t err;
    for (int i = 0; i < 12; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit_cli, .init = setup, .fini = teardown, .timeout = 60);

/* Runs `dupla audit ARGS...`; its exit status, with its output in out. */
#define AUDIT(...) run((char *[]){"dupla", "audit", __VA_ARGS__, NULL})
static int run(char **argv)
{
    const char *bin = getenv("DUPLA_BIN");
    cr_assert_not_null(bin, "DUPLA_BIN is not set");
    char path[200];
    snprintf(path, sizeof path, "%s/out", fx.dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

#define HAS(text) cr_assert(strstr(out, text) != NULL, "expected \"%s\" in:\n%s", text, out)

Test(audit_cli, help_and_usage_errors)
{
    cr_assert_eq(AUDIT("--help"), 0);
    HAS("usage: dupla audit verify");
    HAS("examples:");
    cr_assert_eq(run((char *[]){"dupla", "audit", NULL}), 2);
    cr_assert_eq(AUDIT("verify"), 2);
    HAS("--config FILE is required");
    cr_assert_eq(AUDIT("frobnicate"), 2);
    HAS("unknown subcommand 'frobnicate'");
    cr_assert_eq(AUDIT("verify", "--config", config, "--bogus", "1"), 2);
    HAS("unknown option '--bogus'");
    cr_assert_eq(AUDIT("verify", "--config"), 2);
    HAS("--config needs a value");
    cr_assert_eq(AUDIT("list", "--config", config, "--format", "xml"), 2);
    HAS("--format: 'xml' is not csv or json");
    cr_assert_eq(AUDIT("list", "--config", config, "--from", "2024-02-30"), 2);
    HAS("--from");
    cr_assert_eq(AUDIT("list", "--config", config, "--from", "2024-02-02", "--to", "2024-02-01"),
                 2);
    HAS("--to must be after --from");
    cr_assert_eq(AUDIT("list", "--config", config, "--outcome", "maybe"), 2);
    cr_assert_eq(AUDIT("list", "--config", config, "--limit", "0"), 2);
    cr_assert_eq(AUDIT("export", "--config", config, "--limit", "5"), 2); /* list only */
    cr_assert_eq(AUDIT("list", "--config", config, "--subject-kind", "dog"), 2);
    cr_assert_eq(AUDIT("checkpoint", "--config", config), 2);
    cr_assert_eq(AUDIT("checkpoint", "sign", "--config", config), 2);
}

Test(audit_cli, verify_passes_and_names_the_first_tampered_entry)
{
    cr_assert_eq(AUDIT("verify", "--config", config), 0, "%s", out);
    HAS("OK: 12 entries verified");
    HAS("give --public-key");
    audit_fixture_sql(&fx, "UPDATE audit_entry SET org_cvr = '87654321' WHERE seq = 7", 1);
    cr_assert_eq(AUDIT("verify", "--config", config, "--quiet"), 1, "%s", out);
    HAS("FAILED at entry 7 (changed)");
}

Test(audit_cli, verify_pins_public_keys_in_each_form)
{
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub);
    char path[200], hex[2 * PKI_ED25519_PUB_LEN + 2], b64[64];
    /* hex */
    hex_encode(pub, sizeof pub, hex);
    strcat(hex, "\n");
    snprintf(path, sizeof path, "%s/pub.hex", fx.dir);
    write_text(path, hex);
    cr_assert_eq(AUDIT("verify", "--config", config, "--public-key", path), 0, "%s", out);
    HAS("with the given public key");
    /* base64url */
    base64url_encode(pub, sizeof pub, b64);
    snprintf(path, sizeof path, "%s/pub.b64", fx.dir);
    write_text(path, b64);
    cr_assert_eq(AUDIT("verify", "--config", config, "--public-key", path), 0, "%s", out);
    /* PEM SubjectPublicKeyInfo, as `openssl pkey -pubout` writes it */
    unsigned char der[44] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                             0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    memcpy(der + 12, pub, sizeof pub);
    gnutls_datum_t d = {der, sizeof der}, pem = {NULL, 0};
    cr_assert_geq(gnutls_pem_base64_encode2("PUBLIC KEY", &d, &pem), 0);
    snprintf(path, sizeof path, "%s/pub.pem", fx.dir);
    FILE *f = fopen(path, "w");
    fwrite(pem.data, 1, pem.size, f);
    fclose(f);
    gnutls_free(pem.data);
    cr_assert_eq(AUDIT("verify", "--config", config, "--public-key", path), 0, "%s", out);
    /* someone else's key */
    memset(pub, 9, sizeof pub);
    hex_encode(pub, sizeof pub, hex);
    snprintf(path, sizeof path, "%s/other.hex", fx.dir);
    write_text(path, hex);
    cr_assert_eq(AUDIT("verify", "--config", config, "--public-key", path), 1, "%s", out);
    HAS("FAILED at entry 5 (bad-checkpoint)");
    /* not a key */
    write_text(path, "hello");
    cr_assert_eq(AUDIT("verify", "--config", config, "--public-key", path), 1, "%s", out);
    HAS("not a public key");
}

Test(audit_cli, an_exported_checkpoint_proves_continuation_until_the_log_is_rewritten)
{
    char cp[200];
    snprintf(cp, sizeof cp, "%s/cp.json", fx.dir);
    cr_assert_eq(AUDIT("checkpoint", "export", "--config", config, "--out", cp), 0, "%s", out);
    json_t *j = json_load_file(cp, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "seq")), 12);
    json_decref(j);
    cr_assert_eq(AUDIT("verify", "--config", config, "--since-checkpoint", cp), 0, "%s", out);
    HAS("continues the checkpoint at entry 12");

    /* to standard output as well */
    cr_assert_eq(AUDIT("checkpoint", "export", "--config", config), 0);
    HAS("\"format\": \"dupla-audit-checkpoint-1\"");

    /* a rewrite that covers its tracks in the log itself */
    audit_fixture_sql(&fx,
                      "UPDATE audit_entry SET service = 'Other' WHERE seq = 3;"
                      "DELETE FROM audit_checkpoint; DELETE FROM audit_tree_head",
                      1);
    audit_fixture_rechain(&fx, 3);
    cr_assert_eq(AUDIT("verify", "--config", config), 0, "%s", out);
    cr_assert_eq(AUDIT("verify", "--config", config, "--since-checkpoint", cp), 1, "%s", out);
    HAS("FAILED at entry 12 (not-continued)");

    char bad[200];
    snprintf(bad, sizeof bad, "%s/bad.json", fx.dir);
    write_text(bad, "{\"format\": \"dupla-audit-checkpoint-1\"}");
    cr_assert_eq(AUDIT("verify", "--config", config, "--since-checkpoint", bad), 1, "%s", out);
    HAS("seq");
}

Test(audit_cli, checkpoint_create_signs_the_head)
{
    cr_assert_eq(AUDIT("checkpoint", "create", "--config", config), 0, "%s", out);
    HAS("nothing to sign"); /* the close already signed entry 12 */
    audit_log_t *log = audit_fixture_log(&fx, 1000);
    struct made_entry m;
    audit_make_entry(&m, 50);
    err_t err;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    /* (the log stays open: the command signs beside a running writer) */
    cr_assert_eq(AUDIT("checkpoint", "create", "--config", config), 0, "%s", out);
    HAS("checkpoint at entry 13 signed");
    audit_close(log);
    cr_assert_eq(AUDIT("verify", "--config", config), 0, "%s", out);
}

Test(audit_cli, list_and_export_in_csv_and_json)
{
    cr_assert_eq(AUDIT("list", "--config", config, "--limit", "5"), 0, "%s", out);
    HAS("seq,time,environment,organisation,");
    HAS("next: 5");
    cr_assert_eq(AUDIT("list", "--config", config, "--limit", "5", "--after", "10"), 0);
    cr_assert_null(strstr(out, "next:"));
    HAS("\r\n11,");
    HAS("\r\n12,");

    cr_assert_eq(
        AUDIT("export", "--config", config, "--format", "json", "--organisation", "11111111"), 0,
        "%s", out);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "%s:\n%s", je.text, out);
    cr_assert_eq(json_array_size(json_object_get(j, "data")), 4); /* n = 1, 4, 7, 10 */
    json_decref(j);

    struct made_entry m;
    audit_make_entry(&m, 6);
    char subject[16];
    snprintf(subject, sizeof subject, "%.*s", STR_FMT(m.subjects[2].id));
    char file[200];
    snprintf(file, sizeof file, "%s/mine.csv", fx.dir);
    cr_assert_eq(AUDIT("export", "--config", config, "--subject", subject, "--out", file), 0, "%s",
                 out);
    HAS("1 entries written");
    FILE *f = fopen(file, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char want[32];
    snprintf(want, sizeof want, ",cpr:%s,", subject);
    cr_assert(strstr(text, want) != NULL, "%s", text);
    cr_assert_null(strstr(text, ";cpr:"), "other subjects of the entry are not shown");

    cr_assert_eq(AUDIT("export", "--config", config, "--outcome", "refused", "--format", "json"),
                 0);
    j = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "data")), 2); /* n = 4, 9 */
    json_decref(j);
}

Test(audit_cli, a_store_without_a_log_is_reported)
{
    char cfg2[200];
    snprintf(cfg2, sizeof cfg2, "%s/empty.json", fx.dir);
    write_text(cfg2, "{\"environment\": \"test\", \"store\": \"sqlite:empty.db\"}");
    store_t *st;
    err_t err;
    char url[200];
    snprintf(url, sizeof url, "sqlite:%s/empty.db", fx.dir);
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(store_ping(st, &err), 0);
    int v;
    cr_assert_eq(store_schema_version(st, "audit", &v, &err), 0);
    store_close(st);
    cr_assert_eq(AUDIT("verify", "--config", cfg2), 1, "%s", out);
    HAS("no disclosure log");
    cr_assert_eq(AUDIT("checkpoint", "export", "--config", cfg2), 1, "%s", out);
    cr_assert_eq(AUDIT("checkpoint", "create", "--config", cfg2), 1, "%s", out);
    HAS("audit.signing_key is not set");
}

Test(audit_cli, partitions_are_made_and_listed_on_postgresql_and_refused_on_sqlite)
{
    if (strcmp(store_backend(fx.st), "postgresql") != 0) {
        cr_assert_eq(AUDIT("partitions", "--config", config), 1, "%s", out);
        cr_assert(strstr(out, "partitions are a PostgreSQL feature") != NULL, "%s", out);
        cr_assert_eq(AUDIT("partitions", "--config", config, "--no-create"), 1, "%s", out);
        return;
    }
    /* the log's open made this month and 3 ahead; --ahead 5 makes 2 more */
    cr_assert_eq(AUDIT("partitions", "--config", config, "--ahead", "5"), 0, "%s", out);
    cr_assert(strstr(out, "2 partitions created (this month and 5 ahead)") != NULL, "%s", out);
    int y, m, d;
    clock_civil_from_days((int32_t)(clock_now_ms() / 86400000), &y, &m, &d);
    char name[16], from[16], got_from[16];
    snprintf(name, sizeof name, "\np%04d_%02d ", y, m);
    snprintf(from, sizeof from, "%04d-%02d-01", y, m);
    const char *at = strstr(out, name);
    cr_assert_not_null(at, "%s", out);
    long entries = -1, subjects = -1;
    cr_assert_eq(sscanf(at + strlen(name), " %15s %*s %ld %ld", got_from, &entries, &subjects), 3,
                 "%s", out);
    cr_assert_str_eq(got_from, from);
    cr_assert_eq(entries, 12);
    cr_assert_eq(subjects, 1 + 2 + 3 + 4 + 1 + 2 + 3 + 4 + 1 + 2 + 3 + 4);
    cr_assert(strstr(out, "\ndefault ") != NULL, "%s", out);
    cr_assert_eq(AUDIT("partitions", "--config", config, "--no-create"), 0, "%s", out);
    cr_assert_null(strstr(out, "created"), "%s", out);
    /* usage errors */
    cr_assert_eq(AUDIT("partitions", "--config", config, "--ahead", "x"), 2, "%s", out);
    cr_assert_eq(AUDIT("partitions", "--config", config, "--ahead", "121"), 2, "%s", out);
    cr_assert_eq(AUDIT("partitions", "--config", config, "--drop-before", "2020-13"), 2, "%s", out);
    cr_assert_eq(AUDIT("partitions", "--config", config, "--drop-before", "2999-01"), 2, "%s", out);
    /* retention: dropping this month's entries is refused, the log intact */
    char next[8];
    snprintf(next, sizeof next, "%04d-%02d", y, m);
    cr_assert_eq(AUDIT("partitions", "--config", config, "--drop-before", next), 0, "%s", out);
    cr_assert(strstr(out, "0 empty partitions dropped") != NULL, "%s", out);
    cr_assert_eq(AUDIT("verify", "--config", config, "--quiet"), 0, "%s", out);
}
