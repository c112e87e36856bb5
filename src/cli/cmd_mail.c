/*
 * cmd_mail.c: `dupla mail pickup|send-pending|list|retry`: the incident
 * mailbox's maildir taken in, and the durable outbox sent to the relay.
 * Both are safe to run again at any time (and beside a running server):
 * a message is taken once and sent once (see src/mail/outbox.c for
 * the one window where a crash can send a copy).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/incident_cli.h"
#include "core/clock.h"

#define CMD "mail"

static const char usage_head[] = "usage: dupla mail SUBCOMMAND --config FILE [OPTIONS]\n"
                                 "\n";

static const char usage_tail[] =
    "pickup takes the messages in DIR/new (incidents, replies to incidents;\n"
    "anything else is answered with the valid triggers and forwarded to\n"
    "incident.general_mailbox) and moves each to DIR/cur once it is recorded.\n"
    "send-pending sends over SMTP (mail.smtp_url); failures are retried with\n"
    "back-off.\n"
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

/* What every subcommand gets: the options, the open modules and where a
 * library error goes. */
struct mail_call {
    struct idcli_args *a;
    struct inccli *c;
    err_t *err;
};

static int mail_pickup_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct mail_call *k = ctx;
    struct inccli *c = k->c;
    err_t *err = k->err;
    int rc;
    const char *dir = idcli_get(k->a, "maildir");
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
    return st.failed ? err_set(err, DUPLA_EIO, "%u message(s) failed; they stay in new/", st.failed)
                     : 0;
}

static int mail_send_pending_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct mail_call *k = ctx;
    struct mail_send_stats st;
    int rc;
    if ((rc = mail_send_pending(k->c->mail, clock_now_ms(), &st, k->err)))
        return rc;
    printf("sent %u, to retry %u, failed %u\n", st.sent, st.retried, st.failed);
    return 0;
}

static int mail_list_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct mail_call *k = ctx;
    json_t *list;
    int rc;
    if ((rc = mail_list_json(k->c->mail, idcli_get(k->a, "state"), &list, k->err)))
        return rc;
    idcli_print_json(list);
    return 0;
}

static int mail_retry_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct mail_call *k = ctx;
    int64_t id;
    int rc;
    if (str_to_int64(str_from_cstr(k->a->pos[0]), &id) != 0 || id <= 0)
        return err_param(k->err, DUPLA_EINVAL, "id", "Not a mail id: '%s'.", k->a->pos[0]);
    if ((rc = mail_retry(k->c->mail, id, k->err)))
        return rc;
    printf("mail %lld will be sent again\n", (long long)id);
    return 0;
}

/* data: how many positional arguments the subcommand takes. */
static const struct cli_sub subs[] = {
    {"pickup", "--maildir DIR", "take in the incident mailbox's new messages", mail_pickup_cmd, 0},
    {"send-pending", NULL, "send every message due in the outbox", mail_send_pending_cmd, 0},
    {"list", "[--state STATE]", "the outbox (pending, sending, sent, failed), JSON", mail_list_cmd,
     0},
    {"retry", "ID", "send a failed message again", mail_retry_cmd, 1},
};
static const struct cli_subs mail_subs = CLI_SUBS(CMD, usage_head, usage_tail, subs);

/* See cli.h. */
int cmd_mail(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_subs_help(&mail_subs, stdout);
        return 0;
    }
    const struct cli_sub *row = cli_subs_find(&mail_subs, argc < 2 ? NULL : argv[1]);
    if (!row)
        return EXIT_USAGE;
    const char *sub = row->name;
    size_t npos = (size_t)row->data;
    static const char *const flags[] = {NULL};
    struct idcli_args a;
    int rc = idcli_parse(CMD, argc - 1, argv + 1, valued, flags, NULL, &a);
    if (rc)
        return rc;
    if (a.npos != npos)
        return cli_usage_error(CMD, "%s takes %s", sub, npos ? "the mail ID" : "no arguments");
    if (idcli_get(&a, "maildir") && row->run != mail_pickup_cmd)
        return cli_usage_error(CMD, "--maildir goes with pickup only");
    if (idcli_get(&a, "state") && row->run != mail_list_cmd)
        return cli_usage_error(CMD, "--state goes with list only");
    const char *config = idcli_need(CMD, &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct inccli c;
    if (inccli_open(CMD, config, &c))
        return 1;
    err_t err;
    err_clear(&err);
    struct mail_call call = {&a, &c, &err};
    rc = row->run(&call, row);
    int status = rc ? idcli_fail(CMD, rc, &err) : 0;
    inccli_close(&c);
    return status;
}
