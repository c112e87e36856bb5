/*
 * cmd_agreement.c: `dupla agreement`, the data owner's side of the agreement
 * life cycle at the console: list, show (JSON or printable HTML), approve,
 * reject, return for changes, suspend, reactivate and revoke.
 *
 * The console acts as the data owner's dataforvaltning staff and is recorded
 * in each agreement's history as "cli:<unix user>". A running server sees a
 * change made here at its next registry sync (within a second).
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "store/store.h"

#define CMD "agreement"

static const char usage_head[] =
    "usage: dupla agreement SUBCOMMAND --config FILE [OPTIONS] [ID]\n"
    "\n"
    "The data owner's side of data exchange agreements. Every step is recorded\n"
    "in the agreement's history as \"cli:<your unix user>\", and the\n"
    "organisation's contact mailbox is told of every decision.\n"
    "\n";

static const char usage_tail[] =
    "options:\n"
    "  --config FILE        the server configuration (its store is used; required)\n"
    "  --org CVR            list: only this organisation's agreements\n"
    "  --status STATE       list: only this status (draft, submitted, approved,\n"
    "                       rejected, suspended, revoked, terminated, withdrawn)\n"
    "  --json               list: print JSON instead of a table; show: the default\n"
    "  --html               show: print the printable HTML document instead\n"
    "  --assessment TEXT    approve: the proportionality assessment (required)\n"
    "  --grant S=F1,F2      approve: grant only these fields of service S; repeat\n"
    "                       for each service granted (default: all asked for)\n"
    "  --reason TEXT        why (required except for approve; there, required\n"
    "                       when fewer fields are granted than asked for)\n"
    "  --rate N --burst N   budget: the agreement's own rate budget (calls per\n"
    "                       second per system, and at most in a row; 1-100000)\n"
    "  --default            budget: back to the configured default budget\n"
    "\n"
    "A change of budget or template reaches a running server at its next\n"
    "registry sync (within a second).\n"
    "\n"
    "examples:\n"
    "  dupla agreement list --config var/demo/dupla.json --status submitted\n"
    "  dupla agreement show --config dupla.json 3f2a...e9 --html > aftale.html\n"
    "  dupla agreement approve --config dupla.json 3f2a...e9 \\\n"
    "      --assessment 'Purpose and legal basis cover the fields.' \\\n"
    "      --grant Momsangivelse=AngivelseSalgsmoms,AngivelseKoebsmoms \\\n"
    "      --reason 'The other fields are not needed for the purpose.'\n"
    "  dupla agreement revoke --config dupla.json 3f2a...e9 --reason 'Misuse.'\n"
    "  dupla agreement budget --config dupla.json 3f2a...e9 --rate 50 --burst 100\n"
    "  dupla agreement templates --config dupla.json --json\n"
    "  dupla agreement publish-template --config dupla.json 7c1d...04\n";

/* The subcommands that are not steps (a step's row data is its index in
 * steps[]). */
enum {
    SUB_LIST = -1,
    SUB_SHOW = -2,
    SUB_BUDGET = -3,
    SUB_TEMPLATES = -4,
    SUB_PUBLISH = -5,
    SUB_WITHDRAW = -6
};

enum {
    OPT_CONFIG = 1,
    OPT_ORG,
    OPT_STATUS,
    OPT_JSON,
    OPT_HTML,
    OPT_ASSESSMENT,
    OPT_GRANT,
    OPT_REASON,
    OPT_RATE,
    OPT_BURST,
    OPT_DEFAULT
};

struct args {
    const char *sub;
    int kind; /* the subcommand's row's data: SUB_LIST, SUB_SHOW or a step */
    const char *config;
    const char *id;
    const char *org;
    int status;
    bool json, html;
    const char *assessment;
    const char *reason;
    json_t *granted; /* NULL unless --grant was given */
    const char *rate, *burst;
    unsigned rate_v, burst_v; /* parsed by check_args */
    bool to_default;
};

static int parse_grant(struct args *a, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return cli_usage_error(CMD, "--grant must be SERVICE=FIELD[,FIELD...], not '%s'", arg);
    if (!a->granted)
        a->granted = json_object();
    char service[AGREEMENT_FIELD_NAME_MAX + 1];
    if ((size_t)(eq - arg) > AGREEMENT_FIELD_NAME_MAX)
        return cli_usage_error(CMD, "--grant: the service name is too long");
    memcpy(service, arg, (size_t)(eq - arg));
    service[eq - arg] = '\0';
    json_t *list = json_object_get(a->granted, service);
    if (!list) {
        list = json_array();
        json_object_set_new(a->granted, service, list);
    }
    str_t rest = str_from_cstr(eq + 1), field;
    while (rest.len) {
        str_split(rest, ',', &field, &rest);
        field = str_trim(field);
        if (field.len == 0)
            return cli_usage_error(CMD, "--grant '%s' has an empty field name", arg);
        json_array_append_new(list, json_stringn(field.ptr, field.len));
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"org", required_argument, NULL, OPT_ORG},
        {"status", required_argument, NULL, OPT_STATUS},
        {"json", no_argument, NULL, OPT_JSON},
        {"html", no_argument, NULL, OPT_HTML},
        {"assessment", required_argument, NULL, OPT_ASSESSMENT},
        {"grant", required_argument, NULL, OPT_GRANT},
        {"reason", required_argument, NULL, OPT_REASON},
        {"rate", required_argument, NULL, OPT_RATE},
        {"burst", required_argument, NULL, OPT_BURST},
        {"default", no_argument, NULL, OPT_DEFAULT},
        {NULL, 0, NULL, 0},
    };
    optind = 0;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            a->config = optarg;
            break;
        case OPT_ORG:
            a->org = optarg;
            break;
        case OPT_STATUS:
            a->status = agreement_state_parse(optarg);
            if (a->status < 0 || a->status == AGREEMENT_SUPERSEDED)
                return cli_usage_error(CMD, "--status: no status '%s'", optarg);
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_HTML:
            a->html = true;
            break;
        case OPT_ASSESSMENT:
            a->assessment = optarg;
            break;
        case OPT_GRANT:
            if ((rc = parse_grant(a, optarg)))
                return rc;
            break;
        case OPT_REASON:
            a->reason = optarg;
            break;
        case OPT_RATE:
            a->rate = optarg;
            break;
        case OPT_BURST:
            a->burst = optarg;
            break;
        case OPT_DEFAULT:
            a->to_default = true;
            break;
        case ':':
            return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        a->id = argv[optind++];
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The life cycle's steps at the console, in the order of the help; the
 * table's rows for them carry their index here. */
static const struct {
    enum agreement_action action;
    const char *done;
} steps[] = {
    {AGREEMENT_APPROVE, "approved"},
    {AGREEMENT_REJECT, "rejected"},
    {AGREEMENT_RETURN, "returned for changes"},
    {AGREEMENT_SUSPEND, "suspended"},
    {AGREEMENT_REACTIVATE, "reactivated"},
    {AGREEMENT_REVOKE, "revoked"},
};

/* A budget number: 1..AGREEMENT_RATE_MAX, else a usage error. */
static int budget_number(const char *name, const char *text, unsigned *out)
{
    int64_t v;
    if (str_to_int64(str_from_cstr(text), &v) || v < 1 || v > AGREEMENT_RATE_MAX)
        return cli_usage_error(CMD, "--%s must be a whole number from 1 to %d, not '%s'", name,
                               AGREEMENT_RATE_MAX, text);
    *out = (unsigned)v;
    return 0;
}

/* Which options each subcommand takes; anything else is a usage error. */
static int check_args(struct args *a)
{
    bool is_list = a->kind == SUB_LIST || a->kind == SUB_TEMPLATES, is_show = a->kind == SUB_SHOW,
         is_approve = a->kind >= 0 && steps[a->kind].action == AGREEMENT_APPROVE,
         is_budget = a->kind == SUB_BUDGET,
         is_template = a->kind == SUB_PUBLISH || a->kind == SUB_WITHDRAW;
    if (!a->config)
        return cli_usage_error(CMD, "--config FILE is required");
    if ((a->rate || a->burst || a->to_default) && !is_budget)
        return cli_usage_error(CMD, "--rate, --burst and --default go with budget only");
    if (is_budget && a->to_default && (a->rate || a->burst))
        return cli_usage_error(CMD, "budget: choose --rate N --burst N or --default");
    if (is_budget && !a->rate != !a->burst)
        return cli_usage_error(CMD, "budget: give both --rate N and --burst N");
    int rc;
    if (a->rate && ((rc = budget_number("rate", a->rate, &a->rate_v)) ||
                    (rc = budget_number("burst", a->burst, &a->burst_v))))
        return rc;
    if (a->kind == SUB_TEMPLATES && (a->org || a->status >= 0))
        return cli_usage_error(CMD, "templates takes no --org or --status");
    if ((is_budget || is_template) && (a->reason || a->assessment || a->granted || a->html))
        return cli_usage_error(CMD, "%s takes no --reason, --assessment, --grant or --html",
                               a->sub);
    if (is_template && a->json)
        return cli_usage_error(CMD, "--json does not go with %s", a->sub);
    if ((is_budget || is_template) && !a->id)
        return cli_usage_error(CMD, "%s needs the %s ID", a->sub,
                               is_budget ? "agreement" : "template");
    if (is_budget || is_template)
        return a->org || a->status >= 0
                   ? cli_usage_error(CMD, "--org and --status go with list only")
                   : 0;
    if (is_list && a->id)
        return cli_usage_error(CMD, "list takes no ID");
    if (!is_list && !a->id)
        return cli_usage_error(CMD, "%s needs the agreement ID", a->sub);
    if (!is_list && (a->org || a->status >= 0))
        return cli_usage_error(CMD, "--org and --status go with list only");
    if (a->html && !is_show)
        return cli_usage_error(CMD, "--html goes with show only");
    if (a->json && a->html)
        return cli_usage_error(CMD, "choose one of --json and --html");
    if (a->json && !is_list && !is_show)
        return cli_usage_error(CMD, "--json goes with list and show only");
    if ((a->assessment || a->granted) && !is_approve)
        return cli_usage_error(CMD, "--assessment and --grant go with approve only");
    if (is_approve && !a->assessment)
        return cli_usage_error(CMD, "approve needs --assessment TEXT");
    if (a->reason && (is_list || is_show))
        return cli_usage_error(CMD, "--reason goes with the steps, not with %s", a->sub);
    if (!is_list && !is_show && !is_approve && !a->reason)
        return cli_usage_error(CMD, "%s needs --reason TEXT", a->sub);
    return 0;
}

static void console_actor(struct agreement_actor *actor)
{
    memset(actor, 0, sizeof *actor);
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(actor->user_name, sizeof actor->user_name, "cli:%.100s", pw->pw_name);
    else
        snprintf(actor->user_name, sizeof actor->user_name, "cli:uid%u", (unsigned)geteuid());
    actor->roles = AGREEMENT_ROLE_DATAFORVALTNING | AGREEMENT_ROLE_OPERATOR;
}

/* A library error: bad input exits 2, anything else 1. */
static int fail(int rc, const err_t *err)
{
    int status = cli_fail(CMD, rc, err, err->detail[0] ? err->detail : err_code_name(rc));
    if (err->log[0] && strcmp(err->log, err->detail) != 0)
        fprintf(stderr, "dupla %s: (%s)\n", CMD, err->log);
    return status;
}

static void print_table(json_t *list)
{
    printf("%-32s  %-8s  %-10s  %-10s  %3s  %s\n", "ID", "CVR", "ENV", "STATUS", "VER", "TITLE");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *title = json_string_value(json_object_get(e, "title"));
        json_t *pending = json_object_get(e, "pending_version");
        printf("%-32s  %-8s  %-10s  %-10s  %3lld  %s%s\n",
               json_string_value(json_object_get(e, "id")),
               json_string_value(json_object_get(e, "organisation_cvr")),
               json_string_value(json_object_get(e, "environment")),
               json_string_value(json_object_get(e, "status")),
               (long long)json_integer_value(json_object_get(e, "version")), title ? title : "-",
               json_is_integer(pending) ? " (new version pending)" : "");
    }
}

/* What every subcommand gets: the options, the open module, the console
 * actor, and where a library error goes. */
struct agreement_call {
    struct args *a;
    agreement_t *ag;
    struct agreement_actor actor;
    err_t *err;
};

static int agreement_list_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct agreement_call *k = ctx;
    struct agreement_filter f = {.org_cvr = k->a->org, .state = k->a->status};
    json_t *list;
    int rc;
    if ((rc = agreement_list(k->ag, &k->actor, &f, &list, k->err)))
        return rc;
    if (k->a->json) {
        json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        print_table(list);
    }
    json_decref(list);
    return 0;
}

static int agreement_show_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct agreement_call *k = ctx;
    str_t id = str_from_cstr(k->a->id);
    int rc;
    if (k->a->html) {
        buf_t b;
        buf_init(&b, (size_t)8 << 20);
        rc = agreement_document_html(k->ag, &k->actor, id, &b, k->err);
        if (rc == 0)
            fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        return rc;
    }
    json_t *doc;
    if ((rc = agreement_document_json(k->ag, &k->actor, id, &doc, k->err)))
        return rc;
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
    return 0;
}

/* approve, reject, ...: data is the step's index in steps[]. */
static int agreement_step_cmd(void *ctx, const struct cli_sub *self)
{
    struct agreement_call *k = ctx;
    struct agreement_step s = {
        .reason = k->a->reason, .assessment = k->a->assessment, .granted = k->a->granted};
    int rc = agreement_step(k->ag, &k->actor, str_from_cstr(k->a->id), steps[self->data].action, &s,
                            k->err);
    if (rc == 0)
        printf("agreement %s %s\n", k->a->id, steps[self->data].done);
    return rc;
}

/* budget ID: shows the agreement's rate budget, or sets it (--rate N
 * --burst N) or clears it (--default), then shows it. */
static int agreement_budget_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct agreement_call *k = ctx;
    str_t id = str_from_cstr(k->a->id);
    int rc;
    if (k->a->rate || k->a->to_default) {
        /* --default: both 0 */
        if ((rc = agreement_set_rate(k->ag, &k->actor, id, k->a->rate_v, k->a->burst_v, k->err)))
            return rc;
    }
    json_t *doc;
    if ((rc = agreement_document_json(k->ag, &k->actor, id, &doc, k->err)))
        return rc;
    json_t *b = json_object_get(doc, "rate_budget");
    json_t *r = json_object_get(b, "rate_per_second"), *bu = json_object_get(b, "burst");
    if (k->a->json) {
        json_t *out = json_pack("{s:s, s:O, s:O}", "agreement", k->a->id, "rate_per_second",
                                r ? r : json_null(), "burst", bu ? bu : json_null());
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
    } else if (json_is_integer(r) && json_is_integer(bu)) {
        printf("agreement %s: %lld calls a second per system, at most %lld in a row\n", k->a->id,
               (long long)json_integer_value(r), (long long)json_integer_value(bu));
    } else {
        printf("agreement %s: the configured default budget\n", k->a->id);
    }
    json_decref(doc);
    return 0;
}

static int agreement_templates_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct agreement_call *k = ctx;
    json_t *list;
    int rc = agreement_template_list(k->ag, &k->actor, &list, k->err);
    if (rc)
        return rc;
    if (k->a->json) {
        json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        printf("%-32s  %-9s  %-20s  %s\n", "ID", "PUBLISHED", "CATEGORY", "TITLE");
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            const char *title = json_string_value(json_object_get(t, "title"));
            const char *cat = json_string_value(json_object_get(t, "purpose_category"));
            printf("%-32s  %-9s  %-20s  %s\n", json_string_value(json_object_get(t, "id")),
                   json_is_true(json_object_get(t, "published")) ? "yes" : "no", cat ? cat : "-",
                   title ? title : "-");
        }
    }
    json_decref(list);
    return 0;
}

/* publish-template, withdraw-template. */
static int agreement_publish_cmd(void *ctx, const struct cli_sub *self)
{
    struct agreement_call *k = ctx;
    bool on = self->data == SUB_PUBLISH;
    int rc = agreement_template_publish(k->ag, &k->actor, str_from_cstr(k->a->id), on, k->err);
    if (rc == 0)
        printf(on ? "template %s published: recipients can start a draft from it\n"
                  : "template %s withdrawn: no new drafts start from it\n",
               k->a->id);
    return rc;
}

static const struct cli_sub subs[] = {
    {"list", NULL, "agreements, newest first (at most 1000)", agreement_list_cmd, SUB_LIST},
    {"show", "ID", "the agreement document with its history", agreement_show_cmd, SUB_SHOW},
    {"approve", "ID --assessment T", "approve the version waiting for review", agreement_step_cmd,
     0},
    {"reject", "ID --reason T", "reject it", agreement_step_cmd, 1},
    {"return", "ID --reason T", "send it back to the organisation for changes", agreement_step_cmd,
     2},
    {"suspend", "ID --reason T", "stop the approved agreement for now", agreement_step_cmd, 3},
    {"reactivate", "ID --reason T", "let a suspended agreement serve again", agreement_step_cmd, 4},
    {"revoke", "ID --reason T", "end the agreement for good", agreement_step_cmd, 5},
    {"budget", "ID [--rate N --burst N | --default] [--json]",
     "show or set the agreement's rate budget", agreement_budget_cmd, SUB_BUDGET},
    {"templates", "[--json]", "the templates, published or not", agreement_templates_cmd,
     SUB_TEMPLATES},
    {"publish-template", "ID", "let recipients start drafts from a template", agreement_publish_cmd,
     SUB_PUBLISH},
    {"withdraw-template", "ID", "stop new drafts from a template", agreement_publish_cmd,
     SUB_WITHDRAW},
};
static const struct cli_subs agreement_subs = CLI_SUBS(CMD, usage_head, usage_tail, subs);

/* See cli.h. */
int cmd_agreement(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_subs_help(&agreement_subs, stdout);
        return 0;
    }
    const struct cli_sub *sub = cli_subs_find(&agreement_subs, argc < 2 ? NULL : argv[1]);
    if (!sub)
        return EXIT_USAGE;
    struct args a = {.sub = sub->name, .kind = sub->data, .status = -1};
    int rc = parse_args(argc - 1, argv + 1, &a);
    if (rc == 0)
        rc = check_args(&a);
    if (rc) {
        json_decref(a.granted);
        return rc;
    }
    struct dupla_config cfg;
    store_t *st = NULL;
    agreement_t *ag = NULL;
    err_t err;
    err_clear(&err);
    log_set_level(LOG_WARN); /* the console wants answers, not start-up chatter */
    rc = config_load(a.config, &cfg, &err);
    if (rc) {
        /* A configuration that cannot be read is a failure, not bad usage. */
        json_decref(a.granted);
        fail(rc, &err);
        return 1;
    }
    rc = store_open(cfg.store_url, NULL, &st, &err);
    if (rc == 0)
        rc = agreement_open(st, NULL, &ag, &err);
    if (rc == 0) {
        struct agreement_call call = {.a = &a, .ag = ag, .err = &err};
        console_actor(&call.actor);
        rc = sub->run(&call, sub);
    }
    int status = rc ? fail(rc, &err) : 0;
    agreement_close(ag);
    if (st)
        store_close(st);
    config_free(&cfg);
    json_decref(a.granted);
    return status;
}
