/*
 * cmd_org.c: `dupla org create|list|show|suspend|activate|close`: the data
 * owner's side of onboarding agreement parties (identity/identity.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/clock.h"
#include "core/rand.h"

static const char usage_head[] = "usage: dupla org SUBCOMMAND --config FILE [OPTIONS]\n"
                                 "\n"
                                 "Organisations (agreement parties) and their onboarding.\n"
                                 "\n";

static const char usage_tail[] =
    "options:\n"
    "  --config FILE          the server configuration (its store is used)\n"
    "  --json                 machine-readable output (list, create)\n"
    "\n"
    "create options:\n"
    "  --name NAME            the organisation's name (required)\n"
    "  --cvr CVR              8 digits with a valid modulus-11 check (required)\n"
    "  --contact-email ADDR   the shared contact mailbox for receipts (required)\n"
    "  --admin EMAIL          the administrator's login (required)\n"
    "  --admin-name NAME      the administrator's display name (default Administrator)\n"
    "  --environments LIST    test, production or test,production (default test)\n"
    "\n"
    "create prints the administrator's one-time set-up secret; it is shown only\n"
    "once (stored hashed) and expires (identity.setup_secret_seconds, 7 days).\n"
    "\n"
    "examples:\n"
    "  dupla org create --config dupla.json --name 'Aarhus Kommune' --cvr 12345674 \\\n"
    "      --contact-email dupla@aarhus.dk --admin it-admin@aarhus.dk\n"
    "  dupla org suspend 12345674 --config dupla.json --reason 'agreement breach'\n";

static const char *const valued[] = {"config",        "name",   "cvr",
                                     "contact-email", "admin",  "admin-name",
                                     "environments",  "reason", NULL};
static const char *const flags[] = {"json", NULL};

static int print_org(const struct identity_org *o, void *ctx)
{
    json_t *arr = ctx;
    if (arr) {
        json_array_append_new(arr, identity_org_json(o));
        return 0;
    }
    printf("%-36s  %-8s  %-9s  %s%s\n", o->id, o->cvr, identity_org_status_name(o->status), o->name,
           o->data_owner ? " (data owner)" : "");
    return 0;
}

static int collect_json(const void *item, void *ctx, json_t *(*to_json)(const void *))
{
    json_array_append_new(ctx, to_json(item));
    return 0;
}

static json_t *user_json(const void *u)
{
    return identity_user_json(u);
}
static json_t *system_json(const void *s)
{
    return identity_system_json(s);
}
static int add_user(const struct identity_user *u, void *ctx)
{
    return collect_json(u, ctx, user_json);
}
static int add_system(const struct identity_system *s, void *ctx)
{
    return collect_json(s, ctx, system_json);
}

/* What every org subcommand gets: the opened store and the options. */
static int org_create(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    const char *name, *cvr, *mail, *admin;
    if (!(name = idcli_need("org create", a, "name")) ||
        !(cvr = idcli_need("org create", a, "cvr")) ||
        !(mail = idcli_need("org create", a, "contact-email")) ||
        !(admin = idcli_need("org create", a, "admin")))
        return EXIT_USAGE;
    unsigned envs = ORG_ENV_TEST;
    const char *e = idcli_get(a, "environments");
    if (e && identity_envs_parse(str_from_cstr(e), &envs))
        return cli_usage_error("org create",
                               "--environments must be test, production or test,production");
    struct identity_org_new in = {.name = str_from_cstr(name),
                                  .cvr = str_from_cstr(cvr),
                                  .contact_email = str_from_cstr(mail),
                                  .environments = envs,
                                  .admin_username = str_from_cstr(admin),
                                  .admin_name = str_from_cstr(idcli_get(a, "admin-name"))};
    struct identity_org o;
    struct identity_setup_secret sec;
    err_t err;
    err_clear(&err);
    int rc = identity_org_create(c->id, &c->actor, &in, &o, &sec, &err);
    if (rc)
        return idcli_fail("org create", rc, &err);
    char exp[32];
    clock_format_s(sec.expires_ms, exp, sizeof exp);
    if (idcli_flag(a, "json")) {
        json_t *j = identity_org_json(&o);
        json_object_set_new(j, "administrator",
                            json_pack("{s:s, s:s, s:s, s:s}", "user_id", sec.user_id, "username",
                                      sec.username, "setup_secret", sec.secret, "setup_expires",
                                      exp));
        idcli_print_json(j);
    } else {
        printf("organisation %s (%s) created: %s\n", o.name, o.cvr, o.id);
        printf("administrator: %s\n", sec.username);
        printf("one-time set-up secret (shown once, expires %s):\n  %s\n", exp, sec.secret);
    }
    secret_wipe(&sec, sizeof sec);
    return 0;
}

/* suspend, activate, close: data is the status it sets. */
static int org_status(void *ctx, const struct cli_sub *self)
{
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    enum org_status status = (enum org_status)self->data;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "org %s", self->name);
    if (a->npos != 2)
        return cli_usage_error(cmd, "name one organisation (id or CVR)");
    err_t err;
    err_clear(&err);
    const char *reason = idcli_get(a, "reason");
    int rc = identity_org_set_status(c->id, &c->actor, str_from_cstr(a->pos[1]), status,
                                     str_from_cstr(reason), &err);
    if (rc)
        return idcli_fail(cmd, rc, &err);
    printf("organisation %s is now %s\n", a->pos[1], identity_org_status_name(status));
    return 0;
}

static int org_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    err_t err;
    err_clear(&err);
    json_t *arr = idcli_flag(a, "json") ? json_array() : NULL;
    int rc = identity_org_list(c->id, print_org, arr, &err);
    if (rc)
        rc = idcli_fail("org list", rc, &err);
    if (arr)
        idcli_print_json(arr);
    return rc;
}

static int org_show(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    if (a->npos != 2)
        return cli_usage_error("org show", "name one organisation (id or CVR)");
    err_t err;
    err_clear(&err);
    struct identity_org o;
    int rc = identity_org_get(c->id, str_from_cstr(a->pos[1]), &o, &err);
    json_t *users = json_array(), *systems = json_array();
    if (!rc)
        rc = identity_user_list(c->id, str_from_cstr(o.id), add_user, users, &err);
    if (!rc)
        rc = identity_system_list(c->id, str_from_cstr(o.id), add_system, systems, &err);
    if (rc) {
        json_decref(users);
        json_decref(systems);
        return idcli_fail("org show", rc, &err);
    }
    json_t *j = identity_org_json(&o);
    json_object_set_new(j, "users", users);
    json_object_set_new(j, "systems", systems);
    idcli_print_json(j);
    return 0;
}

static const struct cli_sub subs[] = {
    {"create", NULL, "onboard an organisation and its administrator", org_create, 0},
    {"list", NULL, "list the organisations", org_list, 0},
    {"show", "ORG", "one organisation with its users and systems (ORG: id or CVR)", org_show, 0},
    {"suspend", "ORG [--reason TEXT]", "its systems get no tokens, its users cannot log in",
     org_status, ORG_SUSPENDED},
    {"activate", "ORG", "lift a suspension", org_status, ORG_ACTIVE},
    {"close", "ORG [--reason TEXT]", "end it for good", org_status, ORG_CLOSED},
};
static const struct cli_subs org_subs = CLI_SUBS("org", usage_head, usage_tail, subs);

int cmd_org(int argc, char **argv)
{
    return idcli_main(&org_subs, argc, argv, valued, flags, NULL, 0, NULL);
}
