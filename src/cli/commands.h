/*
 * commands.h: the subcommand table, one line per command, and their entry
 * points. Adding a command: write cli/cmd_NAME.c, declare it here, add its
 * line to CLI_COMMANDS, and its file to cli/meson.build.
 */
#ifndef DUPLA_CLI_COMMANDS_H
#define DUPLA_CLI_COMMANDS_H

#include "cli/cli.h"
#include "core/error.h"
#include "store/store.h"

/* Applies every module's migrations to st, in serve's order (cmd_store.c):
 * the whole schema `dupla serve` makes. */
int cli_migrate_all(store_t *st, err_t *err);

int cmd_audit(int argc, char **argv);
int cmd_pki(int argc, char **argv);
int cmd_org(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_role(int argc, char **argv);
int cmd_system(int argc, char **argv);
int cmd_authorisation(int argc, char **argv);
int cmd_application(int argc, char **argv);
int cmd_source(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_agreement(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_testdata(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);

int cmd_incident(int argc, char **argv);
int cmd_opslog(int argc, char **argv);
int cmd_mail(int argc, char **argv);
int cmd_store(int argc, char **argv);

#define CLI_COMMANDS                                                                               \
    {"pki", "local CA, system certificates, signing keys", cmd_pki},                               \
        {"org", "organisations (agreement parties) and onboarding", cmd_org},                      \
        {"user", "users of an organisation", cmd_user},                                            \
        {"role", "grant and revoke users' roles", cmd_role},                                       \
        {"system", "recipient systems and their certificates", cmd_system},                        \
        {"source", "the data owner's source systems", cmd_source},                                 \
        {"authorisation", "a company's authorisations of third parties (onbehalfofse)",            \
         cmd_authorisation},                                                                       \
        {"token", "the token service's signing keys", cmd_token},                                  \
        {"application", "applications to become an agreement party: list, approve, reject",        \
         cmd_application},                                                                         \
        {"agreement", "review, approve, suspend and revoke data exchange agreements",              \
         cmd_agreement},                                                                           \
        {"audit", "the disclosure log: verify, checkpoints, list and export", cmd_audit},          \
        {"ingest", "load a source system's delivery (NDJSON) into the store", cmd_ingest},         \
        {"testdata", "generate synthetic test data, or load it", cmd_testdata},                    \
        {"incident", "incidents: list, show, record a call, status, assign", cmd_incident},        \
        {"opslog", "the operations log (driftsstatus) and its RSS feed", cmd_opslog},              \
        {"mail", "take in the incident maildir, send the mail outbox", cmd_mail},                  \
        {"store", "whole databases: copy a platform between SQLite and PostgreSQL", cmd_store},    \
        {"serve", "run the platform: the HTTPS listeners of a configuration", cmd_serve},          \
        {"demo", "set up a test environment with demo data and serve it (make run)", cmd_demo},

#endif
