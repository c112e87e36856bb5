/*
 * cmd_token.c: `dupla token rotate-key|jwks`: the token service's signing
 * keys (token/token.h) from the console.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/identity_cli.h"
#include "core/log.h"
#include "token/token.h"

static const char usage_head[] =
    "usage: dupla token SUBCOMMAND --config FILE\n"
    "\n"
    "The token service's Ed25519 signing keys, in the folder token.key_dir\n"
    "(default token-keys, beside the configuration).\n"
    "\n";

static const char usage_tail[] =
    "A running server takes a rotated key up within a second. Older keys keep\n"
    "verifying until every token they signed has expired (lifetime + leeway);\n"
    "keys past that are deleted. jwks prints what the server publishes at\n"
    "/.well-known/jwks.json.\n"
    "\n"
    "example:\n"
    "  dupla token rotate-key --config dupla.json\n";

static const char *const valued[] = {"config", NULL};

static int token_rotate_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    struct token_config *tc = ctx;
    char kid[PKI_KID_MAX];
    err_t err;
    err_clear(&err);
    int rc = token_rotate_key(tc, kid, &err);
    if (rc)
        return idcli_fail("token", rc, &err);
    printf("new active signing key %s in %s\n", kid, tc->key_dir);
    return 0;
}

static int token_jwks_cmd(void *ctx, const struct cli_sub *self)
{
    (void)self;
    /* The JWKS needs no registry: a service over no identity module. */
    token_service_t *ts;
    err_t err;
    err_clear(&err);
    int rc = token_service_new(ctx, NULL, &ts, &err);
    if (rc)
        return idcli_fail("token", rc, &err);
    idcli_print_json(token_jwks(ts));
    token_service_free(ts);
    return 0;
}

static const struct cli_sub subs[] = {
    {"rotate-key", NULL, "make a new active signing key", token_rotate_cmd, 0},
    {"jwks", NULL, "print the public keys as the server publishes them", token_jwks_cmd, 0},
};
static const struct cli_subs token_subs = CLI_SUBS("token", usage_head, usage_tail, subs);

int cmd_token(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        cli_subs_help(&token_subs, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse("token", argc, argv, valued, NULL, NULL, &a);
    if (rc)
        return rc;
    const struct cli_sub *sub = cli_subs_find(&token_subs, a.npos ? a.pos[0] : "");
    if (!sub)
        return EXIT_USAGE;
    if (a.npos != 1)
        return cli_usage_error("token", "%s takes no arguments", sub->name);
    const char *config = idcli_need("token", &a, "config");
    if (!config)
        return EXIT_USAGE;
    struct dupla_config cfg;
    struct token_config tc;
    err_t err;
    err_clear(&err);
    log_set_level(LOG_WARN);
    if (config_load(config, &cfg, &err)) {
        fprintf(stderr, "dupla token: %s\n", err.log);
        return 1;
    }
    rc = token_config_load(&cfg, &tc, &err);
    if (rc) {
        config_free(&cfg);
        return idcli_fail("token", rc, &err);
    }
    rc = sub->run(&tc, sub);
    config_free(&cfg);
    return rc;
}
