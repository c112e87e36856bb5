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

static const char usage[] =
    "usage: dupla token SUBCOMMAND --config FILE\n"
    "\n"
    "The token service's Ed25519 signing keys, in the folder token.key_dir\n"
    "(default token-keys, beside the configuration).\n"
    "\n"
    "subcommands:\n"
    "  rotate-key   make a new active signing key (a running server takes it up\n"
    "               within a second); older keys keep verifying until every token\n"
    "               they signed has expired (lifetime + leeway), and keys past that\n"
    "               are deleted\n"
    "  jwks         print the public keys as the server publishes them at\n"
    "               /.well-known/jwks.json\n"
    "\n"
    "example:\n"
    "  dupla token rotate-key --config dupla.json\n";

static const char *const valued[] = {"config", NULL};

int cmd_token(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    struct idcli_args a;
    int rc = idcli_parse("token", argc, argv, valued, NULL, NULL, &a);
    if (rc)
        return rc;
    const char *sub = a.npos ? a.pos[0] : "";
    if (a.npos != 1 || (strcmp(sub, "rotate-key") && strcmp(sub, "jwks")))
        return cli_usage_error("token", "unknown subcommand '%s'", sub);
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
    if (strcmp(sub, "rotate-key") == 0) {
        char kid[PKI_KID_MAX];
        rc = token_rotate_key(&tc, kid, &err);
        if (!rc)
            printf("new active signing key %s in %s\n", kid, tc.key_dir);
    } else {
        /* The JWKS needs no registry: a service over no identity module. */
        token_service_t *ts;
        rc = token_service_new(&tc, NULL, &ts, &err);
        if (!rc) {
            idcli_print_json(token_jwks(ts));
            token_service_free(ts);
        }
    }
    config_free(&cfg);
    return rc ? idcli_fail("token", rc, &err) : 0;
}
