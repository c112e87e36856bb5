/*
 * commands.h: the subcommand table, one line per command, and their entry
 * points. Adding a command: write cli/cmd_NAME.c, declare it here, add its
 * line to CLI_COMMANDS, and its file to cli/meson.build.
 */
#ifndef DUPLA_CLI_COMMANDS_H
#define DUPLA_CLI_COMMANDS_H

#include "cli/cli.h"

int cmd_pki(int argc, char **argv);
int cmd_agreement(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_testdata(int argc, char **argv);

#define CLI_COMMANDS                                                                               \
    {"pki", "local CA, system certificates, signing keys", cmd_pki},                               \
        {"agreement", "review, approve, suspend and revoke data exchange agreements",              \
         cmd_agreement},                                                                           \
        {"ingest", "load a source system's delivery (NDJSON) into the store", cmd_ingest},         \
        {"testdata", "generate synthetic test data, or load it", cmd_testdata},

#endif
