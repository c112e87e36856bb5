/*
 * cli.h: the subcommands of the dupla binary.
 *
 * Each subcommand is a function taking its own argv (argv[0] is the
 * subcommand's name) and returning the process exit status: 0 success,
 * 1 failure, 2 bad usage (EXIT_USAGE). Each answers --help on standard output.
 * main.c holds the table; a new subcommand is one line there and a file here.
 */
#ifndef DUPLA_CLI_CLI_H
#define DUPLA_CLI_CLI_H

#define EXIT_USAGE 2

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

/* true if argv holds -h or --help (anywhere after argv[0]). */
int cli_wants_help(int argc, char **argv);
/* Prints "dupla: <msg>" to stderr and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
