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
#include "core/rand.h"

static const char usage_user[] =
    "usage: dupla user SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "subcommands:\n"
    "  create --org ORG --username EMAIL [--name NAME] [--role ROLE]...\n"
    "        a user of ORG (id or CVR), with a one-time set-up secret (shown once)\n"
    "  list [--org ORG] [--json]\n"
    "  set-password USER [--password-file FILE]\n"
    "        sets USER's (id or username) password, read from the first line of\n"
    "        FILE or of standard input ('-', the default); ends its sessions\n"
    "  suspend USER [--reason TEXT]\n"
    "        USER cannot log in and its sessions end now (not the organisation's last\n"
    "        active administrator)\n"
    "  activate USER   lets a suspended USER log in again\n"
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

static const char usage_role[] =
    "usage: dupla role SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "subcommands:\n"
    "  grant USER ROLE     give USER (id or username) ROLE\n"
    "  revoke USER ROLE    take it away\n"
    "  list [--org ORG]    every user with roles, of ORG (id or CVR) or all\n"
    "\n"
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
    char *r = json_dumps(roles, JSON_COMPACT);
    printf("%-36s  %-32s  %-9s  %s\n", u->id, u->username,
           u->status == USER_ACTIVE ? "active" : "suspended", r ? r : "[]");
    free(r);
    json_decref(roles);
    return 0;
}

static int user_create(struct idcli *c, const struct idcli_args *a)
{
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

static int user_set_password(struct idcli *c, const struct idcli_args *a)
{
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

static int user_set_status(struct idcli *c, const struct idcli_args *a, bool suspend)
{
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

int cmd_user(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage_user, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse("user", argc, argv, valued, flags, repeatable, &a);
    if (rc)
        return rc;
    const char *sub = a.npos ? a.pos[0] : "";
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "set-password") &&
        strcmp(sub, "suspend") && strcmp(sub, "activate"))
        return cli_usage_error("user", "unknown subcommand '%s'", sub);
    const char *config = idcli_need("user", &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct idcli c;
    if (idcli_open("user", config, &c))
        return 1;
    if (strcmp(sub, "create") == 0) {
        rc = user_create(&c, &a);
    } else if (strcmp(sub, "list") == 0) {
        err_t err;
        err_clear(&err);
        json_t *arr = idcli_flag(&a, "json") ? json_array() : NULL;
        rc = identity_user_list(c.id, str_from_cstr(idcli_get(&a, "org")), print_user, arr, &err);
        if (rc)
            rc = idcli_fail("user list", rc, &err);
        if (arr)
            idcli_print_json(arr);
    } else if (strcmp(sub, "set-password") == 0) {
        rc = user_set_password(&c, &a);
    } else {
        rc = user_set_status(&c, &a, strcmp(sub, "suspend") == 0);
    }
    idcli_close(&c);
    return rc;
}

static int print_with_roles(const struct identity_user *u, void *ctx)
{
    return u->roles ? print_user(u, ctx) : 0;
}

int cmd_role(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage_role, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse("role", argc, argv, valued, flags, NULL, &a);
    if (rc)
        return rc;
    const char *sub = a.npos ? a.pos[0] : "";
    bool change = strcmp(sub, "grant") == 0 || strcmp(sub, "revoke") == 0;
    if (!change && strcmp(sub, "list") != 0)
        return cli_usage_error("role", "unknown subcommand '%s'", sub);
    unsigned role = 0;
    if (change) {
        if (a.npos != 3)
            return cli_usage_error("role", "usage: dupla role %s USER ROLE --config FILE", sub);
        if (identity_role_parse(str_from_cstr(a.pos[2]), &role))
            return cli_usage_error("role", "unknown role '%s'", a.pos[2]);
    }
    const char *config = idcli_need("role", &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct idcli c;
    if (idcli_open("role", config, &c))
        return 1;
    err_t err;
    err_clear(&err);
    if (change) {
        rc = sub[0] == 'g'
                 ? identity_role_grant(c.id, &c.actor, str_from_cstr(a.pos[1]), role, &err)
                 : identity_role_revoke(c.id, &c.actor, str_from_cstr(a.pos[1]), role, &err);
        if (rc)
            rc = idcli_fail("role", rc, &err);
        else
            printf("%s: %s %s\n", a.pos[1], sub[0] == 'g' ? "granted" : "revoked", a.pos[2]);
    } else {
        json_t *arr = idcli_flag(&a, "json") ? json_array() : NULL;
        rc = identity_user_list(c.id, str_from_cstr(idcli_get(&a, "org")), print_with_roles, arr,
                                &err);
        if (rc)
            rc = idcli_fail("role list", rc, &err);
        if (arr)
            idcli_print_json(arr);
    }
    idcli_close(&c);
    return rc;
}
