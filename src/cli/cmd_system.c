/*
 * cmd_system.c: `dupla system ...` (recipient systems and their
 * certificates) and `dupla source ...` (the data owner's source systems),
 * from the console (the local actor; see identity_cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/clock.h"

static const char usage_system[] =
    "usage: dupla system SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "A recipient organisation's systems (aftager-system), known by certificate.\n"
    "SYSTEM is a system id or CVR/NAME; a certificate is named by its SHA-256\n"
    "fingerprint (64 hex digits, see 'dupla pki show').\n"
    "\n"
    "subcommands:\n"
    "  register --org ORG --name NAME [--cert FILE]   a new system (and its first\n"
    "                         certificate); the certificate's CVR must be ORG's\n"
    "  list [--org ORG] [--json]\n"
    "  certs SYSTEM           its certificates\n"
    "  suspend SYSTEM         no tokens until activated again\n"
    "  activate SYSTEM\n"
    "  revoke SYSTEM          for good, with every certificate of it\n"
    "  add-cert SYSTEM --cert FILE     another certificate (roll-over: add the new\n"
    "                         one before the old expires, then revoke the old)\n"
    "  revoke-cert SHA256     one certificate\n"
    "\n"
    "examples:\n"
    "  dupla pki issue-system --dir pki --cvr 12345674 --name lon\n"
    "  dupla system register --config dupla.json --org 12345674 --name lon --cert pki/lon.pem\n"
    "  dupla system suspend 12345674/lon --config dupla.json\n";

static const char usage_source[] =
    "usage: dupla source SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "The data owner's source systems (kildesystem): the tax systems that deliver\n"
    "data (POST /ingest/...), known by certificate. The certificate's CVR must be\n"
    "the data owner's (identity.owner_cvr).\n"
    "\n"
    "subcommands:\n"
    "  register --name NAME --cert FILE\n"
    "  list [--json]\n"
    "  suspend|activate|revoke SYSTEM   (or use 'dupla system')\n"
    "\n"
    "example:\n"
    "  dupla pki issue-system --dir pki --cvr 19552101 --name skattesystem\n"
    "  dupla source register --config dupla.json --name skattesystem --cert pki/skattesystem.pem\n";

static const char *const valued[] = {"config", "org", "name", "cert", NULL};
static const char *const flags[] = {"json", NULL};

struct list_ctx {
    json_t *arr;
    enum system_kind kind; /* 0: any */
};

static int print_system(const struct identity_system *s, void *ctx)
{
    struct list_ctx *l = ctx;
    if (l->kind && s->kind != l->kind)
        return 0;
    if (l->arr) {
        json_array_append_new(l->arr, identity_system_json(s));
        return 0;
    }
    printf("%-36s  %-14s  %-9s  %s\n", s->id, identity_system_kind_name(s->kind),
           identity_system_status_name(s->status), s->name);
    return 0;
}

static int print_cert(const struct identity_cert *c, void *ctx)
{
    (void)ctx;
    char nb[32], na[32];
    clock_format_s(c->not_before_ms, nb, sizeof nb);
    clock_format_s(c->not_after_ms, na, sizeof na);
    printf("%s  %-7s  %s .. %s  %s\n", c->sha256_hex, identity_cert_status_name(c->status), nb, na,
           c->subject);
    return 0;
}

static int one_system(const char *cmd, const struct idcli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error(cmd, "name one system (id or CVR/NAME)");
    return 0;
}

static int run(const char *cmd, const char *sub, struct idcli *c, const struct idcli_args *a,
               enum system_kind kind)
{
    err_t err;
    err_clear(&err);
    int rc;
    char full[48];
    snprintf(full, sizeof full, "%s %s", cmd, sub);
    if (strcmp(sub, "register") == 0) {
        const char *name = idcli_need(full, a, "name");
        if (!name)
            return EXIT_USAGE;
        const char *org = NULL;
        struct identity_org owner;
        if (kind == SYSTEM_SOURCE) {
            if ((rc = identity_org_owner(c->id, &owner, &err)))
                return idcli_fail(full, rc, &err);
            org = owner.id;
        } else if (!(org = idcli_need(full, a, "org"))) {
            return EXIT_USAGE;
        }
        const char *file =
            kind == SYSTEM_SOURCE ? idcli_need(full, a, "cert") : idcli_get(a, "cert");
        if (kind == SYSTEM_SOURCE && !file)
            return EXIT_USAGE;
        struct pki_cert_info ci;
        if (file && (rc = idcli_read_cert(full, file, &ci)))
            return rc;
        struct identity_system s;
        rc = identity_system_register(c->id, &c->actor, str_from_cstr(org), str_from_cstr(name),
                                      kind, file ? &ci : NULL, &s, &err);
        if (rc)
            return idcli_fail(full, rc, &err);
        printf("%s %s registered: %s\n", identity_system_kind_name(kind), s.name, s.id);
        if (file)
            printf("certificate %s\n", ci.sha256_hex);
        return 0;
    }
    if (strcmp(sub, "list") == 0) {
        struct list_ctx l = {idcli_flag(a, "json") ? json_array() : NULL,
                             kind == SYSTEM_SOURCE ? SYSTEM_SOURCE : 0};
        rc =
            identity_system_list(c->id, str_from_cstr(idcli_get(a, "org")), print_system, &l, &err);
        if (l.arr)
            idcli_print_json(l.arr);
        return rc ? idcli_fail(full, rc, &err) : 0;
    }
    if (strcmp(sub, "certs") == 0) {
        if ((rc = one_system(full, a)))
            return rc;
        rc = identity_cert_list(c->id, str_from_cstr(a->pos[1]), print_cert, NULL, &err);
        return rc ? idcli_fail(full, rc, &err) : 0;
    }
    if (strcmp(sub, "suspend") == 0 || strcmp(sub, "activate") == 0 || strcmp(sub, "revoke") == 0) {
        if ((rc = one_system(full, a)))
            return rc;
        enum system_status st = sub[0] == 's'   ? SYSTEM_SUSPENDED
                                : sub[0] == 'a' ? SYSTEM_ACTIVE
                                                : SYSTEM_REVOKED;
        rc = identity_system_set_status(c->id, &c->actor, str_from_cstr(a->pos[1]), st, &err);
        if (rc)
            return idcli_fail(full, rc, &err);
        printf("system %s is now %s\n", a->pos[1], identity_system_status_name(st));
        return 0;
    }
    if (strcmp(sub, "add-cert") == 0) {
        if ((rc = one_system(full, a)))
            return rc;
        const char *file = idcli_need(full, a, "cert");
        if (!file)
            return EXIT_USAGE;
        struct pki_cert_info ci;
        if ((rc = idcli_read_cert(full, file, &ci)))
            return rc;
        rc = identity_cert_add(c->id, &c->actor, str_from_cstr(a->pos[1]), &ci, NULL, &err);
        if (rc)
            return idcli_fail(full, rc, &err);
        printf("certificate %s added to %s\n", ci.sha256_hex, a->pos[1]);
        return 0;
    }
    /* revoke-cert */
    if (a->npos != 2)
        return cli_usage_error(full, "name one certificate by its SHA-256 fingerprint");
    rc = identity_cert_revoke(c->id, &c->actor, str_from_cstr(a->pos[1]), &err);
    if (rc)
        return idcli_fail(full, rc, &err);
    printf("certificate %s revoked\n", a->pos[1]);
    return 0;
}

static int main_of(const char *cmd, const char *usage, enum system_kind kind,
                   const char *const *subs, int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse(cmd, argc, argv, valued, flags, NULL, &a);
    if (rc)
        return rc;
    const char *sub = a.npos ? a.pos[0] : "";
    bool known = false;
    for (; *subs; subs++)
        known = known || strcmp(sub, *subs) == 0;
    if (!known)
        return cli_usage_error(cmd, "unknown subcommand '%s'", sub);
    const char *config = idcli_need(cmd, &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct idcli c;
    if (idcli_open(cmd, config, &c))
        return 1;
    rc = run(cmd, sub, &c, &a, kind);
    idcli_close(&c);
    return rc;
}

int cmd_system(int argc, char **argv)
{
    static const char *const subs[] = {"register", "list",     "certs",       "suspend", "activate",
                                       "revoke",   "add-cert", "revoke-cert", NULL};
    return main_of("system", usage_system, SYSTEM_RECIPIENT, subs, argc, argv);
}

int cmd_source(int argc, char **argv)
{
    static const char *const subs[] = {"register", "list", "suspend", "activate", "revoke", NULL};
    return main_of("source", usage_source, SYSTEM_SOURCE, subs, argc, argv);
}
