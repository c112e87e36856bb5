/* End-to-end: the log scan itself (logscan.c), on logs written here: it
 * finds each kind of leak it promises to find, and passes the lines a
 * server really writes. Every other e2e test runs it on its servers'
 * logs when it stops them (e2e_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-logscan-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(logscan, .init = setup, .fini = teardown);

static void write_file(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

/* 0 if the scan passes a log of one line, else -1 (why in why). */
static int scan_line(const char *line, char *why, size_t cap)
{
    write_file("server.log", line);
    char log[256];
    snprintf(log, sizeof log, "%s/server.log", dir);
    return e2e_log_scan_file(log, dir, why, cap);
}

/* Lines of the shape the server writes, with ids, times and digests. */
Test(logscan, passes_what_the_server_writes)
{
    const char *ok[] = {
        "2026-12-03T12:00:01.123Z info request id=3f2504e0-4f89-41d3-9a0c-0305e82c3301 "
        "method=GET path=/Aarsopgoerelse/####### status=404 ms=1 bytes=312\n",
        "2026-12-03T12:00:01.123Z info audit seq=1764766800123 agreement="
        "aaaabbbbccccddddeeeeffff00001111 sha256="
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
        "2026-12-03T12:00:01Z info token issued kid=k-20261203 exp=1764770400 cnf="
        "ZmFrZS10aHVtYnByaW50LWZvci10aGUtdGVzdC1vbmx5\n",
        "listening on 127.0.0.1:8443 (api), 127.0.0.1:8444 (token)\n",
        /* Found in the suite's own logs: digits inside a digest or a UUID,
         * a hex id with its digits masked. */
        "{\"route\":\"whoami\",\"client_cert_sha256\":\"4a9119eb8038320a6205185432606201"
        "854ab\",\"request_id\":\"3341a9b0-4383-4ace-bba6-1c2903069066\"}\n",
        "{\"path\":\"/api/agreements/XXXXXXeb43bfefa7f7b649bafa6b1b22/sign\"}\n",
    };
    char why[1024];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_eq(scan_line(ok[i], why, sizeof why), 0, "%s", why);
}

Test(logscan, finds_a_cpr_number)
{
    char why[1024];
    cr_assert_eq(scan_line("warn path=/Aarsopgoerelse/0101011234 status=404\n", why, sizeof why),
                 -1);
    cr_assert(strstr(why, "CPR"), "%s", why);
    cr_assert_eq(scan_line("subject 660176-0061 refused\n", why, sizeof why), -1, "with a dash");
    cr_assert_eq(scan_line("n=3201011234\n", why, sizeof why), 0, "day 32 is no date");
    cr_assert_eq(scan_line("ms=10101011234\n", why, sizeof why), 0, "eleven digits");
}

Test(logscan, finds_a_bearer_token)
{
    char why[1024];
    cr_assert_eq(scan_line("auth Authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln\n",
                           why, sizeof why),
                 -1);
    cr_assert(strstr(why, "JWT"), "%s", why);
}

Test(logscan, finds_a_one_time_secret)
{
    char why[1024];
    cr_assert_eq(scan_line("set-up secret Qx7_aZ09-bcdEFGhijKLmnoPQRstuVW1\n", why, sizeof why),
                 -1);
    cr_assert(strstr(why, "one-time"), "%s", why);
}

Test(logscan, finds_the_test_datas_passwords)
{
    char why[1024];
    write_file("client.p12.pass", "p12-Pa55word-of-the-test\n");
    write_file("pw.txt", "hunter2hunter2\n");
    write_file("cli.log", "one-time set-up secret (shown once, expires x):\n  abc-def-ghi\n");
    cr_assert_eq(scan_line("tls: p12 p12-Pa55word-of-the-test\n", why, sizeof why), -1);
    cr_assert(strstr(why, "secret of the test data"), "%s", why);
    cr_assert_eq(scan_line("login password=hunter2hunter2\n", why, sizeof why), -1);
    cr_assert_eq(scan_line("setup abc-def-ghi\n", why, sizeof why), -1);
    cr_assert_eq(scan_line("form username=a&password=correct+horse+battery\n", why, sizeof why),
                 -1);
}
