/* Unit tests: the subcommand tables of the dupla binary (cli/cli.h): the
 * listing that `dupla CMD --help` prints from a table and the one error an
 * unknown subcommand gets, for the helpers and for every command with
 * subcommands, run as the real binary ($DUPLA_BIN). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

static char out[65536]; /* what the last run wrote to stdout and stderr */

/* Runs argv (NULL-terminated) as the dupla binary; its exit status. */
static int run(char **argv)
{
    const char *bin = getenv("DUPLA_BIN");
    cr_assert_not_null(bin, "DUPLA_BIN is not set");
    char path[] = "/tmp/dupla-cli-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int nop(void *ctx, const struct cli_sub *self)
{
    (void)self;
    *(int *)ctx += 1;
    return 0;
}

static const struct cli_sub table[] = {
    {"make", "NAME [--fast]", "make one", nop, 0},
    {"list", NULL, "list them", nop, 1},
    {"a-very-long-subcommand", "WITH --many ARGUMENTS AND MORE", "its help on the next line", nop,
     2},
};
static const struct cli_subs subs =
    CLI_SUBS("thing", "usage: dupla thing SUB\n\n", "tail\n", table);

Test(cli, help_lists_every_row_between_head_and_tail)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_subs_help(&subs, f);
    fclose(f);
    cr_assert_str_eq(text, "usage: dupla thing SUB\n\n"
                           "subcommands:\n"
                           "  make NAME [--fast]  make one\n"
                           "  list                list them\n"
                           "  a-very-long-subcommand WITH --many ARGUMENTS AND MORE\n"
                           "                      its help on the next line\n"
                           "\n"
                           "tail\n");
    free(text);
}

Test(cli, find_gives_the_row)
{
    const struct cli_sub *s = cli_subs_find(&subs, "list");
    cr_assert_not_null(s);
    cr_assert_eq(s->data, 1);
    int calls = 0;
    cr_assert_eq(s->run(&calls, s), 0);
    cr_assert_eq(calls, 1);
}

Test(cli, find_refuses_unknown_and_missing, .init = cr_redirect_stderr)
{
    cr_assert_null(cli_subs_find(&subs, "lis"));
    cr_assert_null(cli_subs_find(&subs, ""));
    cr_assert_null(cli_subs_find(&subs, NULL));
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "dupla thing: unknown subcommand 'lis' (make, list, a-very-long-subcommand)\n"
        "(see 'dupla thing --help')\n"
        "dupla thing: which subcommand? (make, list, a-very-long-subcommand)\n"
        "(see 'dupla thing --help')\n"
        "dupla thing: which subcommand? (make, list, a-very-long-subcommand)\n"
        "(see 'dupla thing --help')\n");
}

/* Every command with subcommands: its help lists them, an unknown one is
 * refused with exit status 2 and names it. */
static const struct {
    const char *cmd;
    const char *subs[9];
} commands[] = {
    {"org", {"create", "list", "show", "suspend", "activate", "close"}},
    {"user", {"create", "list", "set-password", "suspend", "activate"}},
    {"role", {"grant", "revoke", "list"}},
    {"system",
     {"register", "list", "certs", "suspend", "activate", "revoke", "add-cert", "revoke-cert"}},
    {"source", {"register", "list", "suspend", "activate", "revoke"}},
    {"authorisation", {"list", "grant", "revoke"}},
    {"application", {"list", "show", "approve", "reject"}},
    {"token", {"rotate-key", "jwks"}},
    {"agreement",
     {"list", "show", "approve", "reject", "return", "suspend", "reactivate", "revoke"}},
    {"audit", {"verify", "checkpoint", "list", "export"}},
    {"incident", {"list", "show", "phone", "status", "assign", "message"}},
    {"opslog", {"post", "update", "list", "rss"}},
    {"mail", {"pickup", "send-pending", "list", "retry"}},
    {"pki", {"init", "issue-system", "revoke", "show", "keygen"}},
};

Test(cli, every_command_lists_its_subcommands_and_names_an_unknown_one)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *cmd = (char *)commands[i].cmd;
        cr_assert_eq(run((char *[]){"dupla", cmd, "--help", NULL}), 0, "%s", cmd);
        const char *list = strstr(out, "subcommands:\n");
        cr_assert_not_null(list, "%s: %s", cmd, out);
        for (size_t j = 0; commands[i].subs[j]; j++) {
            char line[64];
            snprintf(line, sizeof line, "\n  %s ", commands[i].subs[j]);
            cr_assert_not_null(strstr(list, line), "%s --help lacks %s:\n%s", cmd,
                               commands[i].subs[j], out);
        }
        cr_assert_eq(run((char *[]){"dupla", cmd, "frobnicate", "--config", "x.json", NULL}), 2,
                     "%s", cmd);
        char want[128];
        snprintf(want, sizeof want, "dupla %s: unknown subcommand 'frobnicate' (", cmd);
        cr_assert_not_null(strstr(out, want), "%s: %s", cmd, out);
    }
    cr_assert_eq(run((char *[]){"dupla", "audit", "checkpoint", "frobnicate", NULL}), 2);
    cr_assert_not_null(strstr(out, "dupla audit checkpoint: unknown subcommand 'frobnicate' "
                                   "(export, create)"),
                       "%s", out);
}
