/*
 * cmd_authorisation.c: `dupla authorisation ...`: a company's authorisations
 * of third parties to fetch its own data (#21.4; identity.h,
 * "authorisations"), from the console (the local actor; see identity_cli.h):
 * list, grant and revoke, as the company's administrator does on the page
 * /fuldmagter and through /api/authorisations.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/clock.h"

static const char usage_head[] =
    "usage: dupla authorisation SUBCOMMAND --config FILE [OPTIONS]\n"
    "\n"
    "A company's authorisations of a third party (an accountant's organisation, or\n"
    "one of its systems) to fetch the company's own data for one SE number, from\n"
    "named services, through a last day. The third party's token request then\n"
    "adds onbehalfofse=SE. ORG is an organisation's id or CVR; AUTHORISATION an\n"
    "authorisation's id (see list).\n"
    "\n";

static const char usage_tail[] =
    "grant's --until is the last day (yyyy-mm-dd, valid through that day, UTC);\n"
    "--service repeats (at most 32). Grants and revocations are in both\n"
    "organisations' history, as the console's (local:<login>).\n"
    "\n"
    "examples:\n"
    "  dupla authorisation grant --config dupla.json --company 12345674 --se 11223344 \\\n"
    "      --grantee 20000007 --service Momsangivelse --until 2027-12-31\n"
    "  dupla authorisation list --config dupla.json --org 12345674 --json\n"
    "  dupla authorisation revoke 6f1c...e2 --config dupla.json\n";

static const char *const valued[] = {"config", "org",     "company", "se", "grantee",
                                     "system", "service", "until",   NULL};
static const char *const flags[] = {"json", NULL};
static const char *const repeatable[] = {"service", NULL};

struct list_ctx {
    json_t *arr;
    int64_t now;
};

static const char *state_of(const struct identity_authorisation *au, int64_t now)
{
    return au->status == AUTHORISATION_REVOKED ? "revoked"
           : now >= au->until_ms               ? "expired"
                                               : "active";
}

static int print_one(const struct identity_authorisation *au, void *ctx)
{
    struct list_ctx *l = ctx;
    if (l->arr) {
        json_array_append_new(l->arr, identity_authorisation_json(au, l->now));
        return 0;
    }
    char last[16];
    clock_format_date((int32_t)((au->until_ms - 1) / 86400000LL), last, sizeof last);
    printf("%-36s  %-7s  company %s  se %s  grantee %s%s%s  until %s  %s\n", au->id,
           state_of(au, l->now), au->company_cvr, au->se, au->grantee_cvr,
           au->grantee_system_id[0] ? " system " : "", au->grantee_system_id, last, au->services);
    return 0;
}

static int auth_list(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    err_t err;
    err_clear(&err);
    struct list_ctx l = {idcli_flag(k->a, "json") ? json_array() : NULL, clock_now_ms()};
    const char *org = idcli_get(k->a, "org");
    int rc =
        identity_authorisation_list(k->c->id, str_from_cstr(org ? org : ""), print_one, &l, &err);
    if (rc) {
        json_decref(l.arr);
        return idcli_fail(k->full, rc, &err);
    }
    if (l.arr)
        idcli_print_json(l.arr);
    return 0;
}

static int auth_grant(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    const struct idcli_args *a = k->a;
    const char *company = idcli_need(k->full, a, "company");
    const char *se = company ? idcli_need(k->full, a, "se") : NULL;
    const char *grantee = se ? idcli_need(k->full, a, "grantee") : NULL;
    const char *until = grantee ? idcli_need(k->full, a, "until") : NULL;
    if (!until)
        return EXIT_USAGE;
    str_t services[IDENTITY_AUTH_SERVICES_MAX];
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->name_len[i] == 7 && strncmp(a->name[i], "service", 7) == 0) {
            if (n == IDENTITY_AUTH_SERVICES_MAX)
                return cli_usage_error(k->full, "at most %d --service", IDENTITY_AUTH_SERVICES_MAX);
            services[n++] = str_from_cstr(a->value[i]);
        }
    if (n == 0)
        return cli_usage_error(k->full, "name the services with --service (one or more)");
    int32_t day;
    if (clock_parse_date(str_from_cstr(until), &day))
        return cli_usage_error(k->full, "--until must be a day (yyyy-mm-dd)");
    /* a system's name is looked up among the grantee's systems */
    const char *system = idcli_get(a, "system");
    char ref[IDENTITY_NAME_MAX + 64] = "";
    if (system && strchr(system, '/'))
        snprintf(ref, sizeof ref, "%s", system);
    else if (system)
        snprintf(ref, sizeof ref, "%s/%s", grantee, system);
    struct identity_authorisation_new in = {
        .company = str_from_cstr(company),
        .se = str_from_cstr(se),
        .grantee = str_from_cstr(grantee),
        .grantee_system = str_from_cstr(ref),
        .services = services,
        .n_services = n,
        .until_ms = ((int64_t)day + 1) * 86400000LL,
    };
    struct identity_authorisation out;
    err_t err;
    err_clear(&err);
    int rc = identity_authorisation_grant(k->c->id, &k->c->actor, &in, &out, &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    if (idcli_flag(a, "json"))
        idcli_print_json(identity_authorisation_json(&out, clock_now_ms()));
    else
        printf("authorisation %s granted: %s may fetch %s's data for SE %s through %s\n", out.id,
               out.grantee_cvr, out.company_cvr, out.se, until);
    return 0;
}

static int auth_revoke(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct idcli_call *k = ctx;
    if (k->a->npos != 2)
        return cli_usage_error(k->full, "name one authorisation by its id (see list)");
    err_t err;
    err_clear(&err);
    int rc =
        identity_authorisation_revoke(k->c->id, &k->c->actor, str_from_cstr(k->a->pos[1]), &err);
    if (rc)
        return idcli_fail(k->full, rc, &err);
    printf("authorisation %s revoked: from the next call on it allows nothing\n", k->a->pos[1]);
    return 0;
}

static const struct cli_sub table[] = {
    {"list", "[--org ORG] [--json]",
     "the authorisations ORG gave or received, or all, newest first", auth_list, 0},
    {"grant",
     "--company ORG --se SE --grantee ORG [--system NAME] --service NAME... --until DAY [--json]",
     "authorise a third party to fetch the company's data", auth_grant, 0},
    {"revoke", "AUTHORISATION", "end it from the next call on", auth_revoke, 0},
};
static const struct cli_subs subs = CLI_SUBS("authorisation", usage_head, usage_tail, table);

int cmd_authorisation(int argc, char **argv)
{
    return idcli_main(&subs, argc, argv, valued, flags, repeatable, 0, NULL);
}
