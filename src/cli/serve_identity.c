/*
 * serve_identity.c: starting and stopping the identity module (registry,
 * JSON API) and the token service (keys, POST /token, JWKS) inside `dupla
 * serve`. The handles live in struct app (app->identity, app->token), where
 * later modules (agreement, exposure, ingest) find them.
 */
#include "cli/serve_identity.h"
#include "identity/routes.h"
#include "token/routes.h"

int identity_app_init(struct app *app, err_t *err)
{
    return identity_open(app->store, &app->cfg, &app->identity, err);
}

int identity_app_routes(struct app *app, err_t *err)
{
    return identity_routes_register(app->server, app->identity, err);
}

void identity_app_stop(struct app *app)
{
    identity_close(app->identity);
    app->identity = NULL;
}

int token_app_init(struct app *app, err_t *err)
{
    struct token_config tc;
    int rc = token_config_load(&app->cfg, &tc, err);
    return rc ? rc : token_service_new(&tc, app->identity, &app->token, err);
}

/* A token endpoint with a listener of its own (token.listener, with other
 * listeners beside it) gets that listener to itself: the data services,
 * the documents and the pages never answer over the connections that carry
 * system certificates (http_server_dedicate_listener). */
int token_app_routes(struct app *app, err_t *err)
{
    int rc = token_routes_register(app->server, app->token, err);
    const char *listener = token_service_config(app->token)->listener;
    if (rc == 0 && listener[0] && app->cfg.n_listeners > 1)
        rc = http_server_dedicate_listener(app->server, listener, err);
    return rc;
}

void token_app_stop(struct app *app)
{
    token_service_free(app->token);
    app->token = NULL;
}
