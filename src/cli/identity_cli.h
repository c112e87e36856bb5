/*
 * identity_cli.h: what the identity and token subcommands (org, user, role,
 * system, source, token) share: a small option parser, opening the store
 * and the identity module from --config, and error reporting.
 *
 * The CLI acts as the local actor (the data owner's operator at the
 * console, with direct store access); its changes are recorded in the
 * identity history as "local:<login>".
 */
#ifndef DUPLA_CLI_IDENTITY_CLI_H
#define DUPLA_CLI_IDENTITY_CLI_H

#include "core/config.h"
#include "identity/identity.h"
#include "store/store.h"

#define IDCLI_OPTS_MAX 24
#define IDCLI_POS_MAX  4
#define IDCLI_FILE_MAX (64 * 1024) /* certificate and password files read at most */

struct idcli_args {
    size_t n;
    const char *name[IDCLI_OPTS_MAX]; /* without the leading "--"; into argv */
    size_t name_len[IDCLI_OPTS_MAX];
    const char *value[IDCLI_OPTS_MAX];
    size_t npos;
    const char *pos[IDCLI_POS_MAX];
};

/* Parses argv[1..] ("--name value", "--name=value", "--flag", positionals).
 * valued: options that take a value; flags: those that do not (both NULL
 * terminated). An option may repeat only if listed in repeatable. Prints a
 * usage error and returns EXIT_USAGE on anything else. */
int idcli_parse(const char *cmd, int argc, char **argv, const char *const *valued,
                const char *const *flags, const char *const *repeatable, struct idcli_args *a);
/* The (first) value of an option, or NULL. */
const char *idcli_get(const struct idcli_args *a, const char *name);
bool idcli_flag(const struct idcli_args *a, const char *name);
/* A required option: its value, or NULL after printing a usage error. */
const char *idcli_need(const char *cmd, const struct idcli_args *a, const char *name);

struct idcli {
    struct dupla_config cfg;
    store_t *st;
    identity_t *id;
    identity_actor_t actor;
};

/* Loads the configuration, opens the store and the identity module. Prints
 * the reason and returns 1 on failure. */
int idcli_open(const char *cmd, const char *config_path, struct idcli *c);
void idcli_close(struct idcli *c);
/* What a subcommand's run gets as its ctx under idcli_main. */
struct idcli_call {
    const char *cmd; /* "system" */
    struct idcli *c;
    const struct idcli_args *a;
    int data;      /* the command's own (idcli_main's data) */
    void *extra;   /* set by a start hook, if any */
    char full[48]; /* "system register": the name in messages */
};

struct cli_subs;
struct cli_sub;
/* The main of an identity subcommand: --help (and its absence), the
 * options (valued, flags, repeatable as for idcli_parse), the subcommand,
 * --config, opening the store and identity; then the subcommand's run with
 * a struct idcli_call, or start(call, sub) instead when given (to open
 * what the command needs beside identity, run sub and close it). */
int idcli_main(const struct cli_subs *subs, int argc, char **argv, const char *const *valued,
               const char *const *flags, const char *const *repeatable, int data,
               int (*start)(struct idcli_call *call, const struct cli_sub *sub));
/* Prints a library error; returns EXIT_USAGE for bad input, else 1. */
int idcli_fail(const char *cmd, int rc, const err_t *err);
/* Reads a certificate (PEM) file. Prints and returns non-zero on failure. */
int idcli_read_cert(const char *cmd, const char *path, struct pki_cert_info *out);
/* Reads the first line of path (or standard input for "-") into out. */
int idcli_read_secret(const char *cmd, const char *path, char *out, size_t cap);
/* Prints j (stolen) as indented JSON on standard output. */
void idcli_print_json(json_t *j);

#endif
