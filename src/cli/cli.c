/*
 * cli.c: small helpers shared by the subcommands (in the library, so that
 * commands can be linked into tests).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/problem.h"

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dupla %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'dupla %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_fail(const char *cmd, int rc, const err_t *err, const char *message)
{
    const char *reason = err_reason(err);
    if (strcmp(reason, err_code_name(err->code)) != 0)
        fprintf(stderr, "dupla %s: %s [%s]\n", cmd, message, reason);
    else
        fprintf(stderr, "dupla %s: %s\n", cmd, message);
    return rc == DUPLA_EINVAL ? EXIT_USAGE : 1;
}

/* The listing's first column: "name args", padded to the widest row up to
 * this width; a longer row puts its help on the next line. */
#define CLI_SUB_COLUMN_MAX 26

static size_t sub_width(const struct cli_sub *c)
{
    return strlen(c->name) + (c->args ? 1 + strlen(c->args) : 0);
}

void cli_subs_help(const struct cli_subs *s, FILE *out)
{
    size_t col = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t w = sub_width(&s->sub[i]);
        if (w <= CLI_SUB_COLUMN_MAX && w > col)
            col = w;
    }
    fputs(s->head, out);
    fputs("subcommands:\n", out);
    for (size_t i = 0; i < s->n; i++) {
        const struct cli_sub *c = &s->sub[i];
        size_t w = sub_width(c);
        fprintf(out, "  %s%s%s", c->name, c->args ? " " : "", c->args ? c->args : "");
        if (w > col)
            fprintf(out, "\n  %*s", (int)col, "");
        else
            fprintf(out, "%*s", (int)(col - w), "");
        fprintf(out, "  %s\n", c->help);
    }
    if (s->tail) {
        fputc('\n', out);
        fputs(s->tail, out);
    }
}

const struct cli_sub *cli_subs_find(const struct cli_subs *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (strcmp(s->sub[i].name, name) == 0)
            return &s->sub[i];
    char names[256];
    size_t len = 0;
    names[0] = '\0';
    for (size_t i = 0; i < s->n && len < sizeof names; i++) {
        int k = snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", s->sub[i].name);
        if (k > 0)
            len += (size_t)k;
    }
    if (!name || !name[0])
        cli_usage_error(s->cmd, "which subcommand? (%s)", names);
    else
        cli_usage_error(s->cmd, "unknown subcommand '%s' (%s)", name, names);
    return NULL;
}
