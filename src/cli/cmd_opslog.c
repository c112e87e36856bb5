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

static const char usage[] =
    "usage: dupla opslog SUBCOMMAND --config FILE [OPTIONS] [ID]\n"
    "\n"
    "The operations log shown at /driftsstatus and /driftsstatus.rss.\n"
    "\n"
    "subcommands:\n"
    "  post        a new entry\n"
    "  update ID   add an update and/or change status, times or title\n"
    "  list        the entries with their updates (JSON)\n"
    "  rss         print the RSS feed\n"
    "\n"
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

static int run(const char *sub, struct idcli_args *a, struct inccli *c, err_t *err)
{
    int64_t now = clock_now_ms();
    opslog_t *log = incident_opslog(c->inc);
    int rc;
    const char *st = idcli_get(a, "status"), *start = idcli_get(a, "start"),
               *end = idcli_get(a, "end");
    int status = -1;
    if (st && (status = opslog_status_parse(st)) < 0)
        return err_param(err, DUPLA_EINVAL, "status", "--status: no status '%s'.", st);
    int64_t start_ms = 0, end_ms = 0;
    if (start && inccli_parse_time(start, now, &start_ms) != 0)
        return err_param(err, DUPLA_EINVAL, "start", "--start: not a time: '%s'.", start);
    if (end && strcmp(end, "open") == 0 && strcmp(sub, "update") == 0)
        end_ms = -1;
    else if (end && inccli_parse_time(end, now, &end_ms) != 0)
        return err_param(err, DUPLA_EINVAL, "end", "--end: not a time: '%s'.", end);
    if (strcmp(sub, "post") == 0) {
        const char *kind = idcli_get(a, "kind");
        int k = opslog_kind_parse(kind);
        if (k < 0)
            return err_param(err, DUPLA_EINVAL, "kind",
                             "--kind must be drift, servicevindue or information.");
        struct opslog_post p = {.kind = (enum opslog_kind)k,
                                .title = idcli_get(a, "title"),
                                .text = idcli_get(a, "text"),
                                .start_ms = start ? start_ms : now,
                                .end_ms = end_ms,
                                .status = status};
        int64_t id;
        if ((rc = opslog_post_entry(log, &c->actor, &p, now, &id, err)))
            return rc;
        printf("%lld\n", (long long)id);
        return 0;
    }
    if (strcmp(sub, "update") == 0) {
        int64_t id;
        if (str_to_int64(str_from_cstr(a->pos[0]), &id) != 0 || id <= 0)
            return err_param(err, DUPLA_EINVAL, "id", "Not an entry id: '%s'.", a->pos[0]);
        struct opslog_change ch = {.text = idcli_get(a, "text"),
                                   .status = status,
                                   .start_ms = start_ms,
                                   .end_ms = end_ms,
                                   .title = idcli_get(a, "title")};
        if ((rc = opslog_update_entry(log, &c->actor, id, &ch, now, err)))
            return rc;
        printf("entry %lld updated\n", (long long)id);
        return 0;
    }
    if (strcmp(sub, "rss") == 0) {
        buf_t b;
        buf_init(&b, (size_t)8 << 20);
        if ((rc = opslog_render_rss(log, now, &b, err)) == 0)
            fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        return rc;
    }
    json_t *list;
    if ((rc = opslog_list_json(log, &list, err)))
        return rc;
    idcli_print_json(list);
    return 0;
}

/* See cli.h. */
int cmd_opslog(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2)
        return cli_usage_error(CMD, "which subcommand? (post, update, list, rss)");
    const char *sub = argv[1];
    size_t npos;
    if (strcmp(sub, "post") == 0 || strcmp(sub, "list") == 0 || strcmp(sub, "rss") == 0)
        npos = 0;
    else if (strcmp(sub, "update") == 0)
        npos = 1;
    else
        return cli_usage_error(CMD, "no subcommand '%s'", sub);
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
    if (strcmp(sub, "post") == 0 && (!idcli_need(CMD, &a, "kind") || !idcli_need(CMD, &a, "title")))
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
