/* Unit tests: `dupla pki` (cli/cmd_pki.c), run as the real binary
 * ($DUPLA_BIN): exit statuses, help, error messages, and that what it writes
 * reads back. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pki/pki.h"

static char tmp[256];
static char dir[300];

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/dupla-test-pkicli-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(dir, sizeof dir, "%s/pki", tmp);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(pki_cli, .init = setup, .fini = teardown);

static char out[8192]; /* what the last run wrote to stdout and stderr */

/* Runs `dupla pki ARGS...` (a NULL-terminated list); its exit status. */
#define PKI(...) run((char *[]){"dupla", "pki", __VA_ARGS__, NULL})
static int run(char **argv)
{
    const char *bin = getenv("DUPLA_BIN");
    cr_assert_not_null(bin, "DUPLA_BIN is not set");
    char path[400];
    snprintf(path, sizeof path, "%s/out", tmp);
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
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

Test(pki_cli, help_and_usage_errors)
{
    cr_assert_eq(PKI("--help"), 0);
    cr_assert_not_null(strstr(out, "issue-system"));
    const char *subs[] = {"init", "issue-system", "revoke", "show", "keygen"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(PKI((char *)subs[i], "--help"), 0, "%s", subs[i]);
    cr_assert_eq(run((char *[]){"dupla", "pki", NULL}), 2);
    cr_assert_eq(PKI("frobnicate"), 2);
    cr_assert_eq(PKI("init"), 2);                          /* no --dir */
    cr_assert_eq(PKI("init", "--dir"), 2);                 /* no value */
    cr_assert_eq(PKI("init", "--dir", dir, "--bogus"), 2); /* unknown option */
    cr_assert_eq(PKI("init", "--dir", dir, "--days", "0"), 2);
    cr_assert_eq(PKI("init", "--dir", dir, "--days", "ten"), 2);
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009"), 2); /* no --name */
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009", "--name", "a",
                     "--not-before", "yesterday"),
                 2);
    cr_assert_eq(PKI("show"), 2);
    cr_assert_eq(PKI("keygen"), 2);
    cr_assert_eq(PKI("revoke", "--dir", dir), 2);
}

Test(pki_cli, init_issue_show_revoke)
{
    /* Before init: a failure (exit 1) that says what to do. */
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009", "--name", "acme"), 1);
    cr_assert_not_null(strstr(out, "dupla pki init"), "%s", out);
    cr_assert_eq(PKI("init", "--dir", dir), 0);
    cr_assert_not_null(strstr(out, "/ca.pem"), "%s", out);
    cr_assert_eq(PKI("init", "--dir", dir), 0); /* again: fine */
    /* A bad CVR is bad input: exit 2. */
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "12345678", "--name", "acme"), 2);
    cr_assert_not_null(strstr(out, "CVR"), "%s", out);
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009", "--name", "a/b"), 2);
    cr_assert_not_null(strstr(out, "name"), "%s", out);

    char pwfile[400], pem[400], key[400];
    snprintf(pwfile, sizeof pwfile, "%s/pw", tmp);
    FILE *f = fopen(pwfile, "w");
    fputs("from-a-file\n", f);
    fclose(f);
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009", "--name", "acme", "--uid",
                     "9", "--password-file", pwfile, "--not-before", "2021-01-01T00:00:00Z",
                     "--not-after", "2021-06-01T00:00:00Z"),
                 0);
    cr_assert_not_null(strstr(out, "/acme.p12"), "%s", out);
    snprintf(pem, sizeof pem, "%s/acme.pem", dir);
    struct pki_cert_info info;
    err_t err = {0};
    cr_assert_eq(pki_cert_info_from_file(pem, &info, &err), 0, "%s", err.log);
    cr_assert_str_eq(info.cvr, "10000009");
    cr_assert_str_eq(info.uid, "9");
    cr_assert_eq(info.not_after_ms, 1622505600000LL);
    snprintf(pwfile, sizeof pwfile, "%s/acme.p12.pass", dir);
    cr_assert_neq(access(pwfile, F_OK), 0); /* password given: none written */

    cr_assert_eq(PKI("show", pem), 0);
    cr_assert_not_null(strstr(out, "organizationIdentifier=NTRDK-10000009"), "%s", out);
    cr_assert_not_null(strstr(out, info.sha256_hex), "%s", out);
    cr_assert_not_null(strstr(out, "expired"), "%s", out);
    cr_assert_eq(PKI("show", "--json", pem), 0);
    cr_assert_not_null(strstr(out, "\"cvr\": \"10000009\""), "%s", out);
    cr_assert_eq(PKI("show", pwfile), 1); /* no such file */
    cr_assert_eq(PKI("revoke", "--dir", dir, "--cert", pem), 0);
    /* Same name again: refused, the files stay. */
    cr_assert_eq(PKI("issue-system", "--dir", dir, "--cvr", "10000009", "--name", "acme"), 1);

    snprintf(key, sizeof key, "%s/sign.key", tmp);
    cr_assert_eq(PKI("keygen", "--out", key), 0);
    cr_assert_eq(PKI("keygen", "--out", key), 1);
}
