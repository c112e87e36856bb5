/*
 * cmd_opslog.c: `dupla opslog post|update|list|rss`, the data owner's
 * operations log (driftsstatus) at the console. A running server sees a
 * change at its next sync (about a second): a service window turns the
 * data services to 503 with Retry-After until the window's end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/incident_cli.h"
#include "core/clock.h"

#define CMD "opslog"

static const char usage_head[] =
    "usage: dupla opslog SUBCOMMAND --config FILE [OPTIONS] [ID]\n"
    "\n"
    "The operations log shown at /driftsstatus and /driftsstatus.rss.\n"
    "\n";

static const char usage_tail[] =
    "options:\n"
    "  --config FILE     the server configuration (required)\n"
    "  --kind KIND       post: drift, servicevindue or information (required)\n"
    "  --title TEXT      post: required; update: a new title\n"
    "  --text TEXT       post: the first update; update: a new update\n"
    "  --start TIME      post: when it starts (default now)\n"
    "  --end TIME        post/update: when it ends (required for servicevindue);\n"
    "                    update: \"open\" removes the end\n"
    "  --status STATUS   planned, ongoing, resolved or cancelled (post default:\n"
    "                    planned if it starts later, else ongoing)\n"
    "  TIME is yyyy-mm-ddTHH:MM:SSZ, now, or +N followed by m, h or d\n"
    "\n"
    "examples:\n"
    "  dupla opslog post --config dupla.json --kind servicevindue \\\n"
    "      --title 'Opgradering af databasen' --start 2026-03-08T06:00:00Z \\\n"
    "      --end 2026-03-08T08:00:00Z\n"
    "  dupla opslog post --config dupla.json --kind drift --title 'Langsomme svar' \\\n"
    "      --text 'Vi undersøger sagen.'\n"
    "  dupla opslog update 3 --config dupla.json --status resolved --text 'Løst.'\n";

static const char *const valued[] = {"config", "kind", "title",  "text",
                                     "start",  "end",  "status", NULL};

/* What every subcommand gets: the options, the open modules, where a
 * library error goes, and the options every subcommand may give (--status,
 * --start, --end) already read. */
struct opslog_call {
    struct idcli_args *a;
    struct inccli *c;
    err_t *err;
    int64_t now;
    opslog_t *log;
    int status; /* -1: not given */
    int64_t start_ms, end_ms;
};

static int opslog_post_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct opslog_call *k = ctx;
    const char *kind = idcli_get(k->a, "kind");
    int kn = opslog_kind_parse(kind);
    if (kn < 0)
        return err_param(k->err, DUPLA_EINVAL, "kind",
                         "--kind must be drift, servicevindue or information.");
    struct opslog_post p = {.kind = (enum opslog_kind)kn,
                            .title = idcli_get(k->a, "title"),
                            .text = idcli_get(k->a, "text"),
                            .start_ms = idcli_get(k->a, "start") ? k->start_ms : k->now,
                            .end_ms = k->end_ms,
                            .status = k->status};
    int64_t id;
    int rc;
    if ((rc = opslog_post_entry(k->log, &k->c->actor, &p, k->now, &id, k->err)))
        return rc;
    printf("%lld\n", (long long)id);
    return 0;
}

static int opslog_update_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct opslog_call *k = ctx;
    int64_t id;
    int rc;
    if (str_to_int64(str_from_cstr(k->a->pos[0]), &id) != 0 || id <= 0)
        return err_param(k->err, DUPLA_EINVAL, "id", "Not an entry id: '%s'.", k->a->pos[0]);
    struct opslog_change ch = {.text = idcli_get(k->a, "text"),
                               .status = k->status,
                               .start_ms = k->start_ms,
                               .end_ms = k->end_ms,
                               .title = idcli_get(k->a, "title")};
    if ((rc = opslog_update_entry(k->log, &k->c->actor, id, &ch, k->now, k->err)))
        return rc;
    printf("entry %lld updated\n", (long long)id);
    return 0;
}

static int opslog_list_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct opslog_call *k = ctx;
    json_t *list;
    int rc;
    if ((rc = opslog_list_json(k->log, &list, k->err)))
        return rc;
    idcli_print_json(list);
    return 0;
}

static int opslog_rss_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct opslog_call *k = ctx;
    buf_t b;
    buf_init(&b, (size_t)8 << 20);
    int rc = opslog_render_rss(k->log, k->now, &b, k->err);
    if (rc == 0)
        fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
    return rc;
}

/* data: how many positional arguments the subcommand takes. */
static const struct cli_sub subs[] = {
    {"post", NULL, "a new entry", opslog_post_cmd, 0},
    {"update", "ID", "add an update and/or change status, times or title", opslog_update_cmd, 1},
    {"list", NULL, "the entries with their updates (JSON)", opslog_list_cmd, 0},
    {"rss", NULL, "print the RSS feed", opslog_rss_cmd, 0},
};
static const struct cli_subs opslog_subs = CLI_SUBS(CMD, usage_head, usage_tail, subs);

/* Reads the options every subcommand may give, then runs the row. */
static int run(const struct cli_sub *row, struct idcli_args *a, struct inccli *c, err_t *err)
{
    struct opslog_call k = {
        .a = a, .c = c, .err = err, .now = clock_now_ms(), .log = incident_opslog(c->inc)};
    const char *st = idcli_get(a, "status"), *start = idcli_get(a, "start"),
               *end = idcli_get(a, "end");
    k.status = -1;
    if (st && (k.status = opslog_status_parse(st)) < 0)
        return err_param(err, DUPLA_EINVAL, "status", "--status: no status '%s'.", st);
    if (start && inccli_parse_time(start, k.now, &k.start_ms) != 0)
        return err_param(err, DUPLA_EINVAL, "start", "--start: not a time: '%s'.", start);
    if (end && strcmp(end, "open") == 0 && row->run == opslog_update_cmd)
        k.end_ms = -1;
    else if (end && inccli_parse_time(end, k.now, &k.end_ms) != 0)
        return err_param(err, DUPLA_EINVAL, "end", "--end: not a time: '%s'.", end);
    return row->run(&k, row);
}

/* See cli.h. */
int cmd_opslog(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_subs_help(&opslog_subs, stdout);
        return 0;
    }
    const struct cli_sub *row = cli_subs_find(&opslog_subs, argc < 2 ? NULL : argv[1]);
    if (!row)
        return EXIT_USAGE;
    const char *sub = row->name;
    size_t npos = (size_t)row->data;
    static const char *const flags[] = {NULL};
    struct idcli_args a;
    int rc = idcli_parse(CMD, argc - 1, argv + 1, valued, flags, NULL, &a);
    if (rc)
        return rc;
    if (a.npos != npos)
        return cli_usage_error(CMD, "%s takes %s", sub, npos ? "the entry ID" : "no arguments");
    const char *config = idcli_need(CMD, &a, "config");
    if (!config)
        return EXIT_USAGE;
    if (row->run == opslog_post_cmd &&
        (!idcli_need(CMD, &a, "kind") || !idcli_need(CMD, &a, "title")))
        return EXIT_USAGE;
    struct inccli c;
    if (inccli_open(CMD, config, &c))
        return 1;
    err_t err;
    err_clear(&err);
    rc = run(row, &a, &c, &err);
    int status = rc ? idcli_fail(CMD, rc, &err) : 0;
    inccli_close(&c);
    return status;
}
