/*
 * cli.h: the subcommands of the dupla binary.
 *
 * Each subcommand is a function taking its own argv (argv[0] is the
 * subcommand's name) and returning the process exit status: 0 success,
 * 1 failure, 2 bad usage (EXIT_USAGE). Each answers --help on standard output.
 * main.c holds the table; a new subcommand is one line there and a file here.
 * A command's own subcommands are a table too (struct cli_sub below).
 */
#ifndef DUPLA_CLI_CLI_H
#define DUPLA_CLI_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

#define EXIT_USAGE 2

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

/*
 * A command with subcommands (dupla org create, dupla audit verify, ...)
 * keeps them in one table of struct cli_sub: the name, the arguments and
 * one line of help that `dupla CMD --help` lists, and the handler. The
 * command prepares what its handlers share (parsed options, an opened
 * store) and hands it to the handler as ctx; each command's handlers
 * share one ctx type. data is one integer the command gives the handler
 * or its own dispatch (an action, a status, a count of arguments), so one
 * handler can serve several rows.
 */
struct cli_sub {
    const char *name;
    const char *args; /* shown after the name in the listing; NULL: none */
    const char *help; /* one line */
    int (*run)(void *ctx, const struct cli_sub *self);
    int data;
};

/* A command's table with the text around its listing in --help. */
struct cli_subs {
    const char *cmd;  /* "org", "audit checkpoint" */
    const char *head; /* printed before "subcommands:" (ends with a blank line) */
    const char *tail; /* printed after the listing and a blank line; may be NULL */
    const struct cli_sub *sub;
    size_t n;
};

#define CLI_SUBS(cmd, head, tail, table)                                                           \
    {                                                                                              \
        cmd, head, tail, table, sizeof table / sizeof table[0]                                     \
    }

/* Prints head, "subcommands:", one line per row of the table, and tail. */
void cli_subs_help(const struct cli_subs *s, FILE *out);
/* The row named name. Otherwise prints one usage error naming it ("unknown
 * subcommand 'NAME'", or "which subcommand?" for NULL or "") with the
 * table's names, and returns NULL: the caller returns EXIT_USAGE. */
const struct cli_sub *cli_subs_find(const struct cli_subs *s, const char *name);

/* Prints a library error: "dupla CMD: MESSAGE", followed by its reason in
 * brackets when the error carries one more precise than its code's
 * ("[already-suspended]", a slug of core/problem.h), so that a script
 * tells refusals apart by the slug, not by the English text. Returns the
 * exit status: EXIT_USAGE for invalid input (DUPLA_EINVAL), else 1. */
int cli_fail(const char *cmd, int rc, const err_t *err, const char *message);

/* true if argv holds -h or --help (anywhere after argv[0]). */
int cli_wants_help(int argc, char **argv);
/* Prints "dupla: <msg>" to stderr and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
