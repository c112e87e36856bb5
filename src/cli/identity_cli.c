/*
 * identity_cli.c: helpers shared by the identity and token subcommands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/identity_cli.h"
#include "core/log.h"
#include "core/rand.h"

static bool listed(const char *const *list, const char *name, size_t len)
{
    for (; list && *list; list++)
        if (strlen(*list) == len && strncmp(*list, name, len) == 0)
            return true;
    return false;
}

int idcli_parse(const char *cmd, int argc, char **argv, const char *const *valued,
                const char *const *flags, const char *const *repeatable, struct idcli_args *a)
{
    memset(a, 0, sizeof *a);
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (!only_pos && strcmp(arg, "--") == 0) {
                only_pos = true;
                continue;
            }
            if (a->npos == IDCLI_POS_MAX)
                return cli_usage_error(cmd, "too many arguments ('%s')", arg);
            a->pos[a->npos++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = NULL;
        if (listed(valued, name, len)) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return cli_usage_error(cmd, "option '--%.*s' needs a value", (int)len, name);
        } else if (listed(flags, name, len)) {
            if (eq)
                return cli_usage_error(cmd, "option '--%.*s' takes no value", (int)len, name);
            value = "";
        } else {
            return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
        }
        for (size_t k = 0; k < a->n; k++)
            if (a->name_len[k] == len && strncmp(a->name[k], name, len) == 0 &&
                !listed(repeatable, name, len))
                return cli_usage_error(cmd, "option '--%.*s' given twice", (int)len, name);
        if (a->n == IDCLI_OPTS_MAX)
            return cli_usage_error(cmd, "too many options");
        /* names point into argv; "--x=v" is cut at '=' by its length */
        a->name[a->n] = name;
        a->name_len[a->n] = len;
        a->value[a->n++] = value;
    }
    return 0;
}

const char *idcli_get(const struct idcli_args *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->name_len[i] == strlen(name) && strncmp(a->name[i], name, a->name_len[i]) == 0)
            return a->value[i];
    return NULL;
}

bool idcli_flag(const struct idcli_args *a, const char *name)
{
    return idcli_get(a, name) != NULL;
}

const char *idcli_need(const char *cmd, const struct idcli_args *a, const char *name)
{
    const char *v = idcli_get(a, name);
    if (!v || !*v) {
        cli_usage_error(cmd, "--%s is required", name);
        return NULL;
    }
    return v;
}

int idcli_open(const char *cmd, const char *config_path, struct idcli *c)
{
    memset(c, 0, sizeof *c);
    err_t err;
    err_clear(&err);
    log_set_level(LOG_WARN);
    if (config_load(config_path, &c->cfg, &err)) {
        fprintf(stderr, "dupla %s: %s\n", cmd, err.log);
        return 1;
    }
    int lvl = log_level_parse(c->cfg.log_level);
    log_set_level(lvl > LOG_WARN ? (enum log_level)lvl : LOG_WARN);
    if (store_open(c->cfg.store_url, NULL, &c->st, &err) ||
        identity_open(c->st, &c->cfg, &c->id, &err)) {
        fprintf(stderr, "dupla %s: %s\n", cmd, err.log);
        idcli_close(c);
        return 1;
    }
    identity_actor_local(&c->actor);
    return 0;
}

void idcli_close(struct idcli *c)
{
    identity_close(c->id);
    if (c->st)
        store_close(c->st);
    config_free(&c->cfg);
    memset(c, 0, sizeof *c);
}

int idcli_main(const struct cli_subs *subs, int argc, char **argv, const char *const *valued,
               const char *const *flags, const char *const *repeatable, int data,
               int (*start)(struct idcli_call *call, const struct cli_sub *sub))
{
    const char *cmd = subs->cmd;
    if (cli_wants_help(argc, argv) || argc < 2) {
        cli_subs_help(subs, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse(cmd, argc, argv, valued, flags, repeatable, &a);
    if (rc)
        return rc;
    const struct cli_sub *sub = cli_subs_find(subs, a.npos ? a.pos[0] : "");
    if (!sub)
        return EXIT_USAGE;
    const char *config = idcli_need(cmd, &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct idcli c;
    if (idcli_open(cmd, config, &c))
        return 1;
    struct idcli_call call = {.cmd = cmd, .c = &c, .a = &a, .data = data};
    snprintf(call.full, sizeof call.full, "%s %s", cmd, sub->name);
    rc = start ? start(&call, sub) : sub->run(&call, sub);
    idcli_close(&c);
    return rc;
}

int idcli_fail(const char *cmd, int rc, const err_t *err)
{
    return cli_fail(cmd, rc, err, err->log[0] ? err->log : err_code_name(rc));
}

static int read_file(const char *cmd, const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "dupla %s: cannot read %s: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    char *buf = malloc(IDCLI_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, IDCLI_FILE_MAX + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!buf || n > IDCLI_FILE_MAX) {
        fprintf(stderr, "dupla %s: %s is larger than %d bytes\n", cmd, path, IDCLI_FILE_MAX);
        free(buf);
        return 1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int idcli_read_cert(const char *cmd, const char *path, struct pki_cert_info *out)
{
    char *pem;
    size_t n;
    if (read_file(cmd, path, &pem, &n))
        return 1;
    err_t err;
    err_clear(&err);
    int rc = pki_cert_info_from_pem((str_t){pem, n}, out, &err);
    free(pem);
    if (rc) {
        fprintf(stderr, "dupla %s: %s: not a PEM certificate: %s\n", cmd, path, err.log);
        return EXIT_USAGE;
    }
    return 0;
}

int idcli_read_secret(const char *cmd, const char *path, char *out, size_t cap)
{
    char *text;
    size_t n;
    if (read_file(cmd, path, &text, &n))
        return 1;
    size_t line = strcspn(text, "\r\n");
    int rc = 0;
    if (line >= cap) {
        fprintf(stderr, "dupla %s: the first line of %s is too long\n", cmd, path);
        rc = EXIT_USAGE;
    } else {
        memcpy(out, text, line);
        out[line] = '\0';
    }
    secret_wipe(text, n);
    free(text);
    return rc;
}

void idcli_print_json(json_t *j)
{
    if (!j)
        return;
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(j);
}
