/*
 * incident_cli.h: what `dupla incident`, `dupla opslog` and `dupla mail`
 * share: opening the store, identity and the incident module from
 * --config, the identity hooks the incident module needs, and the console
 * actor (the data owner's staff at the console, "cli:<unix user>").
 */
#ifndef DUPLA_CLI_INCIDENT_CLI_H
#define DUPLA_CLI_INCIDENT_CLI_H

#include "cli/identity_cli.h"
#include "incident/incident.h"
#include "mail/mail.h"

struct inccli {
    struct idcli id; /* config, store, identity */
    incident_t *inc;
    mail_t *mail; /* the queue `dupla mail` sends and lists */
    struct incident_actor actor;
};

/* The incident module's hooks answered by identity: a sender address is an
 * organisation's when it is a user's login there or its contact mailbox;
 * receipts go to the contact mailbox; an organisation may report while it
 * is active. Agreements are not checked here (agreement_of_org NULL). */
void incident_identity_hooks(identity_t *id, struct incident_hooks *out);

/* Opens everything; prints the reason and returns 1 on failure. */
int inccli_open(const char *cmd, const char *config_path, struct inccli *c);
void inccli_close(struct inccli *c);

/* "yyyy-mm-ddTHH:MM:SSZ", "now", "+90m", "+2h" or "+1d" into ms. 0 or -1. */
int inccli_parse_time(const char *s, int64_t now, int64_t *out);

#endif
