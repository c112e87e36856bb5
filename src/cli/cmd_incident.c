/*
 * cmd_incident.c: `dupla incident list|show|phone|status|assign|message`,
 * the data owner's staff working on incidents at the console. The console
 * is recorded in each incident's history as "cli:<unix user>".
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/incident_cli.h"

#define CMD "incident"

static const char usage_head[] =
    "usage: dupla incident SUBCOMMAND --config FILE [OPTIONS] [ID]\n"
    "\n"
    "Incidents reported by mail, phone or the web. Ids look like INC-2026-000123\n"
    "(year and number: easy to read out on the phone). Every new incident sends a\n"
    "receipt to the organisation's contact mailbox; the reporter is told of every\n"
    "status change (run `dupla mail send-pending` or the server to send).\n"
    "\n";

static const char usage_tail[] =
    "STATUS is in-progress, waiting-for-reporter, resolved or closed (closed is\n"
    "final; resolved can be reopened).\n"
    "\n"
    "options:\n"
    "  --config FILE        the server configuration (required)\n"
    "  --json               list: JSON instead of a table\n"
    "  --org CVR            list: one organisation; phone: the caller's (required)\n"
    "  --status STATUS      list: only this status\n"
    "  --caller NAME        phone: who called (required)\n"
    "  --caller-email ADDR  phone: where status notices go (default: the\n"
    "                       organisation's contact mailbox)\n"
    "  --type TYPE          phone: Prod-Data, Prod-Aftale or TFE (required)\n"
    "  --title TEXT         phone: a title (default: the description's first line)\n"
    "  --description TEXT   phone: what is wrong (required)\n"
    "  --agreement ID       phone: the agreement it concerns\n"
    "  --note TEXT          status: a note for the reporter\n"
    "  --text TEXT          message: the text (required)\n"
    "  --to-reporter        message: mail it to the reporter (default: internal note)\n"
    "\n"
    "examples:\n"
    "  dupla incident phone --config dupla.json --org 12345674 --caller 'Pia Hansen' \\\n"
    "      --type Prod-Data --description 'Momsangivelse mangler felt A for 2024'\n"
    "  dupla incident status --config dupla.json INC-2026-000123 waiting-for-reporter \\\n"
    "      --note 'Which SE number?'\n"
    "  dupla incident list --config dupla.json --status new\n";

static const char *const valued[] = {"config",       "org",  "status", "caller",
                                     "caller-email", "type", "title",  "description",
                                     "agreement",    "note", "text",   NULL};
static const char *const flags[] = {"json", "to-reporter", NULL};

static void print_table(json_t *list)
{
    printf("%-15s  %-11s  %-20s  %-7s  %-8s  %s\n", "ID", "TYPE", "STATUS", "CHANNEL", "CVR",
           "TITLE");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *cvr = json_string_value(json_object_get(e, "organisation_cvr"));
        printf("%-15s  %-11s  %-20s  %-7s  %-8s  %s\n", json_string_value(json_object_get(e, "id")),
               json_string_value(json_object_get(e, "type")),
               json_string_value(json_object_get(e, "status")),
               json_string_value(json_object_get(e, "channel")), cvr ? cvr : "?",
               json_string_value(json_object_get(e, "title")));
    }
}

/* What every subcommand gets: the options, the open modules and where a
 * library error goes. The first positional argument is the incident's ID. */
struct incident_call {
    struct idcli_args *a;
    struct inccli *c;
    err_t *err;
};

static int incident_list_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    struct incident_filter f = {.org_cvr = idcli_get(k->a, "org"), .status = -1};
    const char *st = idcli_get(k->a, "status");
    if (st && (f.status = incident_status_parse(st)) < 0)
        return err_param(k->err, DUPLA_EINVAL, "status", "No status '%s'.", st);
    json_t *list;
    int rc;
    if ((rc = incident_list_json(k->c->inc, &k->c->actor, &f, &list, k->err)))
        return rc;
    if (idcli_flag(k->a, "json"))
        idcli_print_json(list);
    else {
        print_table(list);
        json_decref(list);
    }
    return 0;
}

static int incident_show_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    json_t *o;
    int rc;
    if ((rc = incident_get_json(k->c->inc, &k->c->actor, str_from_cstr(k->a->pos[0]), &o, k->err)))
        return rc;
    idcli_print_json(o);
    return 0;
}

static int incident_phone_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    struct idcli_args *a = k->a;
    const char *type = idcli_get(a, "type");
    int t = incident_type_parse(type);
    if (t < 0)
        return err_param(k->err, DUPLA_EINVAL, "type",
                         "--type must be Prod-Data, Prod-Aftale or TFE.");
    struct incident_phone_report r = {.org_cvr = idcli_get(a, "org"),
                                      .caller = idcli_get(a, "caller"),
                                      .caller_email = idcli_get(a, "caller-email"),
                                      .type = (enum incident_type)t,
                                      .title = idcli_get(a, "title"),
                                      .description = idcli_get(a, "description"),
                                      .agreement_id = idcli_get(a, "agreement")};
    char nid[INCIDENT_ID_LEN + 1];
    int rc;
    if ((rc = incident_report_phone(k->c->inc, &k->c->actor, &r, nid, k->err)))
        return rc;
    printf("%s\n", nid);
    return 0;
}

static int incident_status_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    const char *id = k->a->pos[0], *name = k->a->pos[1];
    int s = incident_status_parse(name);
    if (s < 0)
        return err_param(k->err, DUPLA_EINVAL, "status", "No status '%s'.", name);
    int rc;
    if ((rc = incident_set_status(k->c->inc, &k->c->actor, str_from_cstr(id),
                                  (enum incident_status)s, idcli_get(k->a, "note"), k->err)))
        return rc;
    printf("%s is now %s\n", id, name);
    return 0;
}

static int incident_assign_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    const char *id = k->a->pos[0], *who = k->a->pos[1];
    int rc;
    if ((rc = incident_assign(k->c->inc, &k->c->actor, str_from_cstr(id), who, k->err)))
        return rc;
    printf("%s assigned to %s\n", id, who[0] ? who : "nobody");
    return 0;
}

static int incident_message_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct incident_call *k = ctx;
    const char *id = k->a->pos[0];
    int rc;
    if ((rc = incident_add_message(k->c->inc, &k->c->actor, str_from_cstr(id),
                                   idcli_get(k->a, "text"), idcli_flag(k->a, "to-reporter"),
                                   k->err)))
        return rc;
    printf("message added to %s\n", id);
    return 0;
}

/* data: how many positional arguments the subcommand takes. */
static const struct cli_sub subs[] = {
    {"list", NULL, "incidents, newest first (at most 1000)", incident_list_cmd, 0},
    {"show", "ID", "one incident with its history and attachments (JSON)", incident_show_cmd, 1},
    {"phone", NULL, "record a phone call as a new incident", incident_phone_cmd, 0},
    {"status", "ID STATUS", "move it to STATUS", incident_status_cmd, 2},
    {"assign", "ID NAME", "assign it (\"\" unassigns)", incident_assign_cmd, 2},
    {"message", "ID", "add --text to its history; with --to-reporter, mail it",
     incident_message_cmd, 1},
};
static const struct cli_subs incident_subs = CLI_SUBS(CMD, usage_head, usage_tail, subs);

/* See cli.h. */
int cmd_incident(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_subs_help(&incident_subs, stdout);
        return 0;
    }
    const struct cli_sub *row = cli_subs_find(&incident_subs, argc < 2 ? NULL : argv[1]);
    if (!row)
        return EXIT_USAGE;
    const char *sub = row->name;
    size_t npos = (size_t)row->data;
    struct idcli_args a;
    int rc = idcli_parse(CMD, argc - 1, argv + 1, valued, flags, NULL, &a);
    if (rc)
        return rc;
    if (a.npos != npos)
        return cli_usage_error(CMD, "%s takes %zu argument%s, not %zu", sub, npos,
                               npos == 1 ? "" : "s", a.npos);
    const char *config = idcli_need(CMD, &a, "config");
    if (!config)
        return EXIT_USAGE;
    if (row->run == incident_phone_cmd) {
        if (!idcli_need(CMD, &a, "org") || !idcli_need(CMD, &a, "caller") ||
            !idcli_need(CMD, &a, "type") || !idcli_need(CMD, &a, "description"))
            return EXIT_USAGE;
    }
    if (row->run == incident_message_cmd && !idcli_need(CMD, &a, "text"))
        return EXIT_USAGE;
    struct inccli c;
    if (inccli_open(CMD, config, &c))
        return 1;
    err_t err;
    err_clear(&err);
    struct incident_call call = {&a, &c, &err};
    rc = row->run(&call, row);
    int status = rc ? idcli_fail(CMD, rc, &err) : 0;
    inccli_close(&c);
    return status;
}
