/*
 * main.c: the dupla binary's front door: finds the subcommand and runs it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cli_command commands[] = {
    CLI_COMMANDS{"version", "print the version", cmd_version},
    {"help", "list the subcommands, or explain one: dupla help CMD", cmd_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_overview(FILE *out)
{
    fprintf(out,
            "dupla: the tax data exchange platform (%s)\n\n"
            "usage: dupla COMMAND [OPTIONS]\n\ncommands:\n",
            DUPLA_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'dupla COMMAND --help' explains a command.\n");
}

static const struct cli_command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return 0;
    }
    const struct cli_command *c = find(argv[1]);
    if (!c || c->run == cmd_help)
        return cli_usage_error("help", "no command '%s'", argv[1]);
    char *sub[] = {argv[1], "--help", NULL};
    return c->run(2, sub);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("dupla %s\n", DUPLA_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(0, NULL);
    const struct cli_command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "dupla: unknown command '%s'\n\n", argv[1]);
        print_overview(stderr);
        return EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
