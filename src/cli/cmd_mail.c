/*
 * cmd_mail.c: `dupla mail pickup|send-pending|list|retry`: the incident
 * mailbox's maildir taken in, and the durable outbox sent to the relay.
 * Both are safe to run again at any time (and beside a running server):
 * a message is taken once and sent once (see src/incident/outbox.c for
 * the one window where a crash can send a copy).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/incident_cli.h"
#include "core/clock.h"

#define CMD "mail"

static const char usage[] =
    "usage: dupla mail SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "subcommands:\n"
    "  pickup --maildir DIR   take the messages in DIR/new (incidents, replies to\n"
    "                         incidents; anything else is answered with the valid\n"
    "                         triggers and forwarded to incident.general_mailbox)\n"
    "                         and move each to DIR/cur once it is recorded\n"
    "  send-pending           send every message due in the outbox over SMTP\n"
    "                         (mail.smtp_url); failures are retried with back-off\n"
    "  list [--state STATE]   the outbox (pending, sending, sent, failed), JSON\n"
    "  retry ID               send a failed message again\n"
    "\n"
    "options:\n"
    "  --config FILE    the server configuration (required)\n"
    "  --maildir DIR    pickup: the maildir (default: incident.maildir in the config)\n"
    "\n"
    "The subject of an incident mail must start with DUPLA-Prod-Data,\n"
    "DUPLA-Prod-Aftale or DUPLA-TFE (any case), followed by the end, a space,\n"
    "':' or '-'.\n"
    "\n"
    "examples:\n"
    "  dupla mail pickup --config dupla.json --maildir /var/mail/dupla-incident\n"
    "  dupla mail send-pending --config dupla.json\n"
    "  dupla mail list --config dupla.json --state failed\n";

static const char *const valued[] = {"config", "maildir", "state", NULL};

static int run(const char *sub, struct idcli_args *a, struct inccli *c, err_t *err)
{
    int rc;
    if (strcmp(sub, "pickup") == 0) {
        const char *dir = idcli_get(a, "maildir");
        char resolved[CONFIG_PATH_MAX];
        if (!dir) {
            const char *cfgdir = NULL;
            json_t *sec = config_section(&c->id.cfg, "incident");
            if ((rc = config_get_string(sec, "incident", "maildir", NULL, &cfgdir, err)))
                return rc;
            if (!cfgdir)
                return err_param(err, DUPLA_EINVAL, "maildir",
                                 "Give --maildir DIR (or incident.maildir in the config).");
            if (config_resolve_path(&c->id.cfg, cfgdir, resolved, sizeof resolved) != 0)
                return err_param(err, DUPLA_EINVAL, "maildir", "incident.maildir is too long.");
            dir = resolved;
        }
        struct incident_pickup_stats st;
        if ((rc = incident_maildir_pickup(c->inc, dir, &st, err)))
            return rc;
        printf("taken %u: incidents %u, replies to incidents %u, without trigger %u, "
               "duplicates %u, seen before %u, unreadable %u, failed %u\n",
               st.taken, st.incidents, st.messages, st.no_trigger, st.duplicates, st.seen,
               st.unreadable, st.failed);
        return st.failed
                   ? err_set(err, DUPLA_EIO, "%u message(s) failed; they stay in new/", st.failed)
                   : 0;
    }
    if (strcmp(sub, "send-pending") == 0) {
        struct mail_send_stats st;
        if ((rc = mail_send_pending(c->inc, clock_now_ms(), &st, err)))
            return rc;
        printf("moved from the agreement outbox %u, sent %u, to retry %u, failed %u\n", st.imported,
               st.sent, st.retried, st.failed);
        return 0;
    }
    if (strcmp(sub, "list") == 0) {
        json_t *list;
        if ((rc = mail_list_json(c->inc, idcli_get(a, "state"), &list, err)))
            return rc;
        idcli_print_json(list);
        return 0;
    }
    int64_t id;
    if (str_to_int64(str_from_cstr(a->pos[0]), &id) != 0 || id <= 0)
        return err_param(err, DUPLA_EINVAL, "id", "Not a mail id: '%s'.", a->pos[0]);
    if ((rc = mail_retry(c->inc, id, err)))
        return rc;
    printf("mail %lld will be sent again\n", (long long)id);
    return 0;
}

/* See cli.h. */
int cmd_mail(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2)
        return cli_usage_error(CMD, "which subcommand? (pickup, send-pending, list, retry)");
    const char *sub = argv[1];
    size_t npos = strcmp(sub, "retry") == 0 ? 1 : 0;
    if (!npos && strcmp(sub, "pickup") != 0 && strcmp(sub, "send-pending") != 0 &&
        strcmp(sub, "list") != 0)
        return cli_usage_error(CMD, "no subcommand '%s'", sub);
    static const char *const flags[] = {NULL};
    struct idcli_args a;
    int rc = idcli_parse(CMD, argc - 1, argv + 1, valued, flags, NULL, &a);
    if (rc)
        return rc;
    if (a.npos != npos)
        return cli_usage_error(CMD, "%s takes %s", sub, npos ? "the mail ID" : "no arguments");
    if (idcli_get(&a, "maildir") && strcmp(sub, "pickup") != 0)
        return cli_usage_error(CMD, "--maildir goes with pickup only");
    if (idcli_get(&a, "state") && strcmp(sub, "list") != 0)
        return cli_usage_error(CMD, "--state goes with list only");
    const char *config = idcli_need(CMD, &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct inccli c;
    if (inccli_open(CMD, config, &c))
        return 1;
    err_t err;
    err_clear(&err);
    rc = run(sub, &a, &c, &err);
    int status = rc ? idcli_fail(CMD, rc, &err) : 0;
    inccli_close(&c);
    return status;
}
