/*
 * cmd_user.c: `dupla user create|list|set-password|suspend|activate` and `dupla role
 * grant|revoke|list`: users of an organisation and their roles, from the
 * console (the local actor; see identity_cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rand.h"

static const char usage_user_head[] = "usage: dupla user SUBCOMMAND --config FILE [OPTIONS]\n"
                                      "\n";

static const char usage_user_tail[] =
    "create makes a user of ORG (id or CVR) with a one-time set-up secret (shown\n"
    "once). set-password reads USER's (id or username) password from the first\n"
    "line of FILE or of standard input ('-', the default) and ends its sessions.\n"
    "suspend ends USER's sessions now; the organisation's last active\n"
    "administrator cannot be suspended.\n"
    "\n"
    "roles: administrator, aftager-behandler, aftager-underskriver (recipients);\n"
    "       administrator, dataforvaltning, operator (the data owner)\n"
    "\n"
    "passwords: at least 12 characters, at most 256 bytes (argon2id hashed)\n"
    "\n"
    "examples:\n"
    "  dupla user create --config dupla.json --org 12345674 \\\n"
    "      --username anna@aarhus.dk --name 'Anna Jensen' --role aftager-behandler\n"
    "  echo 'a long passphrase' | dupla user set-password anna@aarhus.dk --config dupla.json\n"
    "  dupla user suspend anna@aarhus.dk --config dupla.json --reason 'on leave'\n";

static const char usage_role_head[] = "usage: dupla role SUBCOMMAND --config FILE [OPTIONS]\n"
                                      "\n";

static const char usage_role_tail[] =
    "roles: administrator, aftager-behandler, aftager-underskriver (recipients);\n"
    "       administrator, dataforvaltning, operator (the data owner)\n"
    "Through the JSON API only an organisation's administrator grants, inside its\n"
    "own organisation; the console (this command) acts as the platform operator.\n"
    "\n"
    "example:\n"
    "  dupla role grant anna@aarhus.dk aftager-underskriver --config dupla.json\n";

static const char *const valued[] = {"config", "org",           "username", "name",
                                     "role",   "password-file", "reason",   NULL};
static const char *const flags[] = {"json", NULL};
static const char *const repeatable[] = {"role", NULL};

static int print_user(const struct identity_user *u, void *ctx)
{
    json_t *arr = ctx;
    if (arr) {
        json_array_append_new(arr, identity_user_json(u));
        return 0;
    }
    json_t *roles = identity_roles_json(u->roles);
    char *r = json_text(roles, JSON_COMPACT);
    printf("%-36s  %-32s  %-9s  %s\n", u->id, u->username,
           u->status == USER_ACTIVE ? "active" : "suspended", r ? r : "[]");
    free(r);
    json_decref(roles);
    return 0;
}

static int user_create(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    const char *org, *username;
    if (!(org = idcli_need("user create", a, "org")) ||
        !(username = idcli_need("user create", a, "username")))
        return EXIT_USAGE;
    unsigned roles = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->name_len[i] != 4 || strncmp(a->name[i], "role", 4) != 0)
            continue;
        unsigned r;
        if (identity_role_parse(str_from_cstr(a->value[i]), &r))
            return cli_usage_error("user create", "unknown role '%s'", a->value[i]);
        roles |= r;
    }
    struct identity_user u;
    struct identity_setup_secret sec;
    err_t err;
    err_clear(&err);
    int rc = identity_user_create(c->id, &c->actor, str_from_cstr(org), str_from_cstr(username),
                                  str_from_cstr(idcli_get(a, "name")), roles, &u, &sec, &err);
    if (rc)
        return idcli_fail("user create", rc, &err);
    char exp[32];
    clock_format_s(sec.expires_ms, exp, sizeof exp);
    if (idcli_flag(a, "json")) {
        json_t *j = identity_user_json(&u);
        json_object_set_new(j, "setup_secret", json_string(sec.secret));
        json_object_set_new(j, "setup_expires", json_string(exp));
        idcli_print_json(j);
    } else {
        printf("user %s created: %s\n", u.username, u.id);
        printf("one-time set-up secret (shown once, expires %s):\n  %s\n", exp, sec.secret);
    }
    secret_wipe(&sec, sizeof sec);
    return 0;
}

static int user_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    err_t err;
    err_clear(&err);
    json_t *arr = idcli_flag(a, "json") ? json_array() : NULL;
    int rc = identity_user_list(c->id, str_from_cstr(idcli_get(a, "org")), print_user, arr, &err);
    if (rc)
        rc = idcli_fail("user list", rc, &err);
    if (arr)
        idcli_print_json(arr);
    return rc;
}

static int user_set_password(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    if (a->npos != 2)
        return cli_usage_error("user set-password", "name one user (id or username)");
    const char *file = idcli_get(a, "password-file");
    char pw[PASSWORD_MAX_LEN + 2];
    int rc = idcli_read_secret("user set-password", file ? file : "-", pw, sizeof pw);
    if (rc)
        return rc;
    err_t err;
    err_clear(&err);
    rc = identity_user_set_password(c->id, &c->actor, str_from_cstr(a->pos[1]), str_from_cstr(pw),
                                    &err);
    secret_wipe(pw, sizeof pw);
    if (rc)
        return idcli_fail("user set-password", rc, &err);
    printf("password of %s set\n", a->pos[1]);
    return 0;
}

/* suspend and activate: data is the status it sets. */
static int user_set_status(void *ctx, const struct cli_sub *self)
{
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    bool suspend = self->data == USER_SUSPENDED;
    const char *cmd = suspend ? "user suspend" : "user activate";
    if (a->npos != 2)
        return cli_usage_error(cmd, "name one user (id or username)");
    const char *reason = idcli_get(a, "reason");
    err_t err;
    err_clear(&err);
    int rc = identity_user_set_status(c->id, &c->actor, str_from_cstr(a->pos[1]),
                                      suspend ? USER_SUSPENDED : USER_ACTIVE,
                                      str_from_cstr(reason ? reason : ""), &err);
    if (rc)
        return idcli_fail(cmd, rc, &err);
    printf("user %s %s\n", a->pos[1], suspend ? "suspended" : "active");
    return 0;
}

static const struct cli_sub user_table[] = {
    {"create", "--org ORG --username EMAIL [--name NAME] [--role ROLE]...", "a user of ORG",
     user_create, 0},
    {"list", "[--org ORG] [--json]", "the users, of ORG (id or CVR) or all", user_list, 0},
    {"set-password", "USER [--password-file FILE]", "set USER's password", user_set_password, 0},
    {"suspend", "USER [--reason TEXT]", "USER cannot log in and its sessions end now",
     user_set_status, USER_SUSPENDED},
    {"activate", "USER", "lets a suspended USER log in again", user_set_status, USER_ACTIVE},
};
static const struct cli_subs user_subs =
    CLI_SUBS("user", usage_user_head, usage_user_tail, user_table);

int cmd_user(int argc, char **argv)
{
    return idcli_main(&user_subs, argc, argv, valued, flags, repeatable, 0, NULL);
}

static int print_with_roles(const struct identity_user *u, void *ctx)
{
    return u->roles ? print_user(u, ctx) : 0;
}

/* grant and revoke: data is 1 for grant. */
static int role_change(void *ctx, const struct cli_sub *self)
{
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    unsigned role = 0;
    identity_role_parse(str_from_cstr(a->pos[2]), &role); /* checked before opening */
    err_t err;
    err_clear(&err);
    int rc = self->data
                 ? identity_role_grant(c->id, &c->actor, str_from_cstr(a->pos[1]), role, &err)
                 : identity_role_revoke(c->id, &c->actor, str_from_cstr(a->pos[1]), role, &err);
    if (rc)
        return idcli_fail("role", rc, &err);
    printf("%s: %s %s\n", a->pos[1], self->data ? "granted" : "revoked", a->pos[2]);
    return 0;
}

static int role_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli *c = ((struct idcli_call *)ctx)->c;
    const struct idcli_args *a = ((struct idcli_call *)ctx)->a;
    err_t err;
    err_clear(&err);
    json_t *arr = idcli_flag(a, "json") ? json_array() : NULL;
    int rc =
        identity_user_list(c->id, str_from_cstr(idcli_get(a, "org")), print_with_roles, arr, &err);
    if (rc)
        rc = idcli_fail("role list", rc, &err);
    if (arr)
        idcli_print_json(arr);
    return rc;
}

static const struct cli_sub role_table[] = {
    {"grant", "USER ROLE", "give USER (id or username) ROLE", role_change, 1},
    {"revoke", "USER ROLE", "take it away", role_change, 0},
    {"list", "[--org ORG]", "every user with roles, of ORG (id or CVR) or all", role_list, 0},
};
static const struct cli_subs role_subs =
    CLI_SUBS("role", usage_role_head, usage_role_tail, role_table);

int cmd_role(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        cli_subs_help(&role_subs, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse("role", argc, argv, valued, flags, NULL, &a);
    if (rc)
        return rc;
    const struct cli_sub *sub = cli_subs_find(&role_subs, a.npos ? a.pos[0] : "");
    if (!sub)
        return EXIT_USAGE;
    if (sub->run == role_change) {
        unsigned role;
        if (a.npos != 3)
            return cli_usage_error("role", "usage: dupla role %s USER ROLE --config FILE",
                                   sub->name);
        if (identity_role_parse(str_from_cstr(a.pos[2]), &role))
            return cli_usage_error("role", "unknown role '%s'", a.pos[2]);
    }
    const char *config = idcli_need("role", &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct idcli c;
    if (idcli_open("role", config, &c))
        return 1;
    struct idcli_call call = {.cmd = "role", .c = &c, .a = &a};
    rc = sub->run(&call, sub);
    idcli_close(&c);
    return rc;
}
