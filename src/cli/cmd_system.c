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

static const char usage_system_head[] =
    "usage: dupla system SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "A recipient organisation's systems (aftager-system), known by certificate.\n"
    "SYSTEM is a system id or CVR/NAME; a certificate is named by its SHA-256\n"
    "fingerprint (64 hex digits, see 'dupla pki show').\n"
    "\n";

static const char usage_system_tail[] =
    "register's certificate must carry ORG's CVR. For a roll-over, add the new\n"
    "certificate before the old one expires, then revoke the old one.\n"
    "A supplier system (--supplier-cvr CVR --supplier-name NAME) is run by a\n"
    "system supplier and registered with the supplier's certificate (its CVR is\n"
    "the supplier's); many organisations may register the same certificate.\n"
    "\n"
    "examples:\n"
    "  dupla pki issue-system --dir pki --cvr 12345674 --name lon\n"
    "  dupla system register --config dupla.json --org 12345674 --name lon --cert pki/lon.pem\n"
    "  dupla system register --config dupla.json --org 12345674 --name lon-lev \\\n"
    "      --cert pki/lev.pem --supplier-cvr 11111111 --supplier-name 'Lev A/S'\n"
    "  dupla system suspend 12345674/lon --config dupla.json\n"
    "  dupla system binding 12345674/lon required --config dupla.json\n";

static const char usage_source_head[] =
    "usage: dupla source SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "The data owner's source systems (kildesystem): the tax systems that deliver\n"
    "data (POST /ingest/...), known by certificate. The certificate's CVR must be\n"
    "the data owner's (identity.owner_cvr).\n"
    "\n";

static const char usage_source_tail[] =
    "suspend, activate and revoke also work through 'dupla system'.\n"
    "\n"
    "example:\n"
    "  dupla pki issue-system --dir pki --cvr 19552101 --name skattesystem\n"
    "  dupla source register --config dupla.json --name skattesystem --cert pki/skattesystem.pem\n";

static const char *const valued[] = {"config",       "org",           "name", "cert",
                                     "supplier-cvr", "supplier-name", NULL};
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

static int system_register(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    struct idcli *c = k->c;
    const struct idcli_args *a = k->a;
    const char *full = k->full;
    enum system_kind kind = (enum system_kind)k->data;
    err_t err;
    err_clear(&err);
    int rc;
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
    const char *file = kind == SYSTEM_SOURCE ? idcli_need(full, a, "cert") : idcli_get(a, "cert");
    if (kind == SYSTEM_SOURCE && !file)
        return EXIT_USAGE;
    struct pki_cert_info ci;
    if (file && (rc = idcli_read_cert(full, file, &ci)))
        return rc;
    struct identity_system s;
    const char *supplier = idcli_get(a, "supplier-cvr");
    if (supplier || idcli_get(a, "supplier-name")) {
        const char *sname = idcli_get(a, "supplier-name");
        rc = identity_system_register_supplier(
            c->id, &c->actor, str_from_cstr(org), str_from_cstr(name),
            str_from_cstr(supplier ? supplier : ""), str_from_cstr(sname ? sname : ""),
            file ? &ci : NULL, &s, &err);
    } else {
        rc = identity_system_register(c->id, &c->actor, str_from_cstr(org), str_from_cstr(name),
                                      kind, file ? &ci : NULL, &s, &err);
    }
    if (rc)
        return idcli_fail(full, rc, &err);
    printf("%s %s registered: %s\n", identity_system_kind_name(kind), s.name, s.id);
    if (file)
        printf("certificate %s\n", ci.sha256_hex);
    return 0;
}

static int system_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    err_t err;
    err_clear(&err);
    struct list_ctx l = {idcli_flag(k->a, "json") ? json_array() : NULL,
                         (enum system_kind)k->data == SYSTEM_SOURCE ? SYSTEM_SOURCE : 0};
    int rc = identity_system_list(k->c->id, str_from_cstr(idcli_get(k->a, "org")), print_system, &l,
                                  &err);
    if (l.arr)
        idcli_print_json(l.arr);
    return rc ? idcli_fail(k->full, rc, &err) : 0;
}

static int system_certs(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    int rc;
    if ((rc = one_system(k->full, k->a)))
        return rc;
    err_t err;
    err_clear(&err);
    rc = identity_cert_list(k->c->id, str_from_cstr(k->a->pos[1]), print_cert, NULL, &err);
    return rc ? idcli_fail(k->full, rc, &err) : 0;
}

/* suspend, activate, revoke: data is the status it sets. */
static int system_status(void *ctx, const struct cli_sub *self)
{
    struct idcli_call *k = ctx;
    int rc;
    if ((rc = one_system(k->full, k->a)))
        return rc;
    enum system_status st = (enum system_status)self->data;
    err_t err;
    err_clear(&err);
    rc = identity_system_set_status(k->c->id, &k->c->actor, str_from_cstr(k->a->pos[1]), st, &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    printf("system %s is now %s\n", k->a->pos[1], identity_system_status_name(st));
    return 0;
}

/* binding SYSTEM required|optional: sender-constrained tokens or not. */
static int system_binding(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    const char *want = k->a->npos == 3 ? k->a->pos[2] : "";
    bool on = strcmp(want, "required") == 0;
    if (!on && strcmp(want, "optional") != 0)
        return cli_usage_error(k->full, "name one system and 'required' or 'optional'");
    err_t err;
    err_clear(&err);
    int rc = identity_system_set_sender_constrained(k->c->id, &k->c->actor,
                                                    str_from_cstr(k->a->pos[1]), on, &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    printf(on ? "system %s: a data call must present the certificate its token is bound to\n"
              : "system %s: a data call may come without a certificate\n",
           k->a->pos[1]);
    return 0;
}

static int system_add_cert(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    int rc;
    if ((rc = one_system(k->full, k->a)))
        return rc;
    const char *file = idcli_need(k->full, k->a, "cert");
    if (!file)
        return EXIT_USAGE;
    struct pki_cert_info ci;
    if ((rc = idcli_read_cert(k->full, file, &ci)))
        return rc;
    err_t err;
    err_clear(&err);
    rc = identity_cert_add(k->c->id, &k->c->actor, str_from_cstr(k->a->pos[1]), &ci, NULL, &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    printf("certificate %s added to %s\n", ci.sha256_hex, k->a->pos[1]);
    return 0;
}

static int system_revoke_cert(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    if (k->a->npos != 2)
        return cli_usage_error(k->full, "name one certificate by its SHA-256 fingerprint");
    err_t err;
    err_clear(&err);
    int rc = identity_cert_revoke(k->c->id, &k->c->actor, str_from_cstr(k->a->pos[1]), &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    printf("certificate %s revoked\n", k->a->pos[1]);
    return 0;
}

static const struct cli_sub system_table[] = {
    {"register", "--org ORG --name NAME [--cert FILE] [--supplier-cvr CVR --supplier-name NAME]",
     "a new system (and its first certificate)", system_register, 0},
    {"list", "[--org ORG] [--json]", "the systems, of ORG or all", system_list, 0},
    {"certs", "SYSTEM", "its certificates", system_certs, 0},
    {"suspend", "SYSTEM", "no tokens until activated again", system_status, SYSTEM_SUSPENDED},
    {"activate", "SYSTEM", "lift a suspension", system_status, SYSTEM_ACTIVE},
    {"revoke", "SYSTEM", "for good, with every certificate of it", system_status, SYSTEM_REVOKED},
    {"binding", "SYSTEM required|optional",
     "sender-constrained tokens: a data call must present the token's certificate (required)",
     system_binding, 0},
    {"add-cert", "SYSTEM --cert FILE", "another certificate (roll-over)", system_add_cert, 0},
    {"revoke-cert", "SHA256", "one certificate", system_revoke_cert, 0},
};
static const struct cli_subs system_subs =
    CLI_SUBS("system", usage_system_head, usage_system_tail, system_table);

static const struct cli_sub source_table[] = {
    {"register", "--name NAME --cert FILE", "a new source system", system_register, 0},
    {"list", "[--json]", "the source systems", system_list, 0},
    {"suspend", "SYSTEM", "refused until activated again", system_status, SYSTEM_SUSPENDED},
    {"activate", "SYSTEM", "lift a suspension", system_status, SYSTEM_ACTIVE},
    {"revoke", "SYSTEM", "for good, with every certificate of it", system_status, SYSTEM_REVOKED},
};
static const struct cli_subs source_subs =
    CLI_SUBS("source", usage_source_head, usage_source_tail, source_table);

int cmd_system(int argc, char **argv)
{
    return idcli_main(&system_subs, argc, argv, valued, flags, NULL, SYSTEM_RECIPIENT, NULL);
}

int cmd_source(int argc, char **argv)
{
    return idcli_main(&source_subs, argc, argv, valued, flags, NULL, SYSTEM_SOURCE, NULL);
}
