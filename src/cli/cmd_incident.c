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

static const char usage[] =
    "usage: dupla incident SUBCOMMAND --config FILE [OPTIONS] [ID]\n"
    "\n"
    "Incidents reported by mail, phone or the web. Ids look like INC-2026-000123\n"
    "(year and number: easy to read out on the phone). Every new incident sends a\n"
    "receipt to the organisation's contact mailbox; the reporter is told of every\n"
    "status change (run `dupla mail send-pending` or the server to send).\n"
    "\n"
    "subcommands:\n"
    "  list                 incidents, newest first (at most 1000)\n"
    "  show ID              one incident with its history and attachments (JSON)\n"
    "  phone                record a phone call as a new incident\n"
    "  status ID STATUS     move it: in-progress, waiting-for-reporter, resolved,\n"
    "                       closed (closed is final; resolved can be reopened)\n"
    "  assign ID NAME       assign it (\"\" unassigns)\n"
    "  message ID           add --text to its history; with --to-reporter, mail it\n"
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

static int run(const char *sub, struct idcli_args *a, struct inccli *c, err_t *err)
{
    int rc;
    const char *id = a->npos > 0 ? a->pos[0] : NULL;
    if (strcmp(sub, "list") == 0) {
        struct incident_filter f = {.org_cvr = idcli_get(a, "org"), .status = -1};
        const char *st = idcli_get(a, "status");
        if (st && (f.status = incident_status_parse(st)) < 0)
            return err_param(err, DUPLA_EINVAL, "status", "No status '%s'.", st);
        json_t *list;
        if ((rc = incident_list_json(c->inc, &c->actor, &f, &list, err)))
            return rc;
        if (idcli_flag(a, "json"))
            idcli_print_json(list);
        else {
            print_table(list);
            json_decref(list);
        }
        return 0;
    }
    if (strcmp(sub, "show") == 0) {
        json_t *o;
        if ((rc = incident_get_json(c->inc, &c->actor, str_from_cstr(id), &o, err)))
            return rc;
        idcli_print_json(o);
        return 0;
    }
    if (strcmp(sub, "phone") == 0) {
        const char *type = idcli_get(a, "type");
        int t = incident_type_parse(type);
        if (t < 0)
            return err_param(err, DUPLA_EINVAL, "type",
                             "--type must be Prod-Data, Prod-Aftale or TFE.");
        struct incident_phone_report r = {.org_cvr = idcli_get(a, "org"),
                                          .caller = idcli_get(a, "caller"),
                                          .caller_email = idcli_get(a, "caller-email"),
                                          .type = (enum incident_type)t,
                                          .title = idcli_get(a, "title"),
                                          .description = idcli_get(a, "description"),
                                          .agreement_id = idcli_get(a, "agreement")};
        char nid[INCIDENT_ID_LEN + 1];
        if ((rc = incident_report_phone(c->inc, &c->actor, &r, nid, err)))
            return rc;
        printf("%s\n", nid);
        return 0;
    }
    if (strcmp(sub, "status") == 0) {
        int s = incident_status_parse(a->pos[1]);
        if (s < 0)
            return err_param(err, DUPLA_EINVAL, "status", "No status '%s'.", a->pos[1]);
        if ((rc = incident_set_status(c->inc, &c->actor, str_from_cstr(id), (enum incident_status)s,
                                      idcli_get(a, "note"), err)))
            return rc;
        printf("%s is now %s\n", id, a->pos[1]);
        return 0;
    }
    if (strcmp(sub, "assign") == 0) {
        if ((rc = incident_assign(c->inc, &c->actor, str_from_cstr(id), a->pos[1], err)))
            return rc;
        printf("%s assigned to %s\n", id, a->pos[1][0] ? a->pos[1] : "nobody");
        return 0;
    }
    /* message */
    if ((rc = incident_add_message(c->inc, &c->actor, str_from_cstr(id), idcli_get(a, "text"),
                                   idcli_flag(a, "to-reporter"), err)))
        return rc;
    printf("message added to %s\n", id);
    return 0;
}

/* See cli.h. */
int cmd_incident(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    static const struct {
        const char *name;
        size_t npos;
    } subs[] = {{"list", 0},   {"show", 1},   {"phone", 0},
                {"status", 2}, {"assign", 2}, {"message", 1}};
    if (argc < 2)
        return cli_usage_error(CMD,
                               "which subcommand? (list, show, phone, status, assign, message)");
    const char *sub = argv[1];
    size_t npos = (size_t)-1;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(sub, subs[i].name) == 0)
            npos = subs[i].npos;
    if (npos == (size_t)-1)
        return cli_usage_error(CMD, "no subcommand '%s'", sub);
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
    if (strcmp(sub, "phone") == 0) {
        if (!idcli_need(CMD, &a, "org") || !idcli_need(CMD, &a, "caller") ||
            !idcli_need(CMD, &a, "type") || !idcli_need(CMD, &a, "description"))
            return EXIT_USAGE;
    }
    if (strcmp(sub, "message") == 0 && !idcli_need(CMD, &a, "text"))
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
