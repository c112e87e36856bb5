/*
 * cmd_application.c: `dupla application ...`: applications to become an
 * agreement party (#21.8; enrol.h), at the console as the data owner's staff
 * see them on /tilslutninger: list, show, approve (creates the organisation
 * and its administrator and queues the set-up mail), reject with a reason
 * (queues the mail that gives it). The console is the local actor (see
 * identity_cli.h); the mail goes out with the server's outbox (or `dupla
 * mail send-pending`).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/clock.h"
#include "enrol/enrol.h"

static const char usage_head[] =
    "usage: dupla application SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "Applications to become an agreement party, sent from the public page\n"
    "/tilslutning. APPLICATION is an application's id (see list).\n"
    "\n";

static const char usage_tail[] =
    "approve creates the organisation (its name, CVR, contact mailbox and\n"
    "environments as applied for) and its administrator, and queues the mail\n"
    "with the one-time set-up link; reject queues the mail with the reason.\n"
    "Both are refused once the application is decided.\n"
    "\n"
    "examples:\n"
    "  dupla application list --config dupla.json\n"
    "  dupla application approve 9b0e...41 --config dupla.json\n"
    "  dupla application reject 9b0e...41 --config dupla.json --reason 'Not a public authority.'\n";

static const char *const valued[] = {"config", "reason", NULL};
static const char *const flags[] = {"json", "all", NULL};

static int print_one(const struct enrol_application *ap, void *ctx)
{
    json_t *arr = ctx;
    if (arr) {
        json_array_append_new(arr, enrol_json(ap));
        return 0;
    }
    char when[32];
    clock_format_s(ap->created_ms, when, sizeof when);
    printf("%-36s  %-8s  %s  CVR %s  %s  admin %s\n", ap->id, enrol_status_name(ap->status), when,
           ap->cvr, ap->name, ap->admin_email);
    return 0;
}

static int app_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    err_t err;
    err_clear(&err);
    json_t *arr = idcli_flag(k->a, "json") ? json_array() : NULL;
    int rc = enrol_list((enrol_t *)k->extra, &k->c->actor, !idcli_flag(k->a, "all"), print_one, arr,
                        &err);
    if (rc) {
        json_decref(arr);
        return idcli_fail(k->full, rc, &err);
    }
    if (arr)
        idcli_print_json(arr);
    return 0;
}

static int one(const struct idcli_call *k)
{
    return k->a->npos == 2 ? 0 : cli_usage_error(k->full, "name one application by its id");
}

static int app_show(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    int rc = one(k);
    if (rc)
        return rc;
    struct enrol_application ap;
    err_t err;
    err_clear(&err);
    if ((rc = enrol_get((enrol_t *)k->extra, &k->c->actor, str_from_cstr(k->a->pos[1]), &ap, &err)))
        return idcli_fail(k->full, rc, &err);
    idcli_print_json(enrol_json(&ap));
    return 0;
}

/* approve, reject (data: 1 approves). */
static int app_decide(void *ctx, const struct cli_sub *self)
{
    struct idcli_call *k = ctx;
    int rc = one(k);
    if (rc)
        return rc;
    const char *reason = NULL;
    if (!self->data && !(reason = idcli_need(k->full, k->a, "reason")))
        return EXIT_USAGE;
    struct enrol_application ap;
    err_t err;
    err_clear(&err);
    str_t id = str_from_cstr(k->a->pos[1]);
    rc = self->data ? enrol_approve((enrol_t *)k->extra, &k->c->actor, id, &ap, &err)
                    : enrol_reject((enrol_t *)k->extra, &k->c->actor, id, str_from_cstr(reason),
                                   &ap, &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    if (idcli_flag(k->a, "json"))
        idcli_print_json(enrol_json(&ap));
    else if (self->data)
        printf("application %s approved: organisation %s (CVR %s) created; the set-up mail to %s "
               "is queued\n",
               ap.id, ap.org_id, ap.cvr, ap.admin_email);
    else
        printf("application %s rejected; the mail with the reason to %s is queued\n", ap.id,
               ap.admin_email);
    return 0;
}

static const struct cli_sub table[] = {
    {"list", "[--all] [--json]", "the waiting applications (--all: every one), newest first",
     app_list, 0},
    {"show", "APPLICATION", "one application (JSON)", app_show, 0},
    {"approve", "APPLICATION [--json]", "create the organisation and its administrator", app_decide,
     1},
    {"reject", "APPLICATION --reason TEXT [--json]", "refuse, telling the applicant why",
     app_decide, 0},
};
static const struct cli_subs subs = CLI_SUBS("application", usage_head, usage_tail, table);

/* Opens the enrolment module beside identity for the subcommand. */
static int app_start(struct idcli_call *call, const struct cli_sub *sub)
{
    struct enrol_settings settings;
    enrol_t *e;
    err_t err;
    err_clear(&err);
    int rc;
    if ((rc = enrol_config_read(&call->c->cfg, &settings, &err)) ||
        (rc = enrol_open(call->c->st, call->c->id, &settings, &e, &err)))
        return idcli_fail(call->cmd, rc, &err);
    call->extra = e;
    rc = sub->run(call, sub);
    enrol_close(e);
    return rc;
}

int cmd_application(int argc, char **argv)
{
    return idcli_main(&subs, argc, argv, valued, flags, NULL, 0, app_start);
}
