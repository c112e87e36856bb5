/*
 * serve_identity.h: the identity and token modules' parts in `dupla serve`
 * (lines of the modules table in cmd_serve.c, see serve.h):
 *
 *   {"identity", identity_app_init, identity_app_routes, identity_app_stop},
 *   {"token", token_app_init, token_app_routes, token_app_stop},
 *
 * in that order (token reads the identity registry).
 */
#ifndef DUPLA_CLI_SERVE_IDENTITY_H
#define DUPLA_CLI_SERVE_IDENTITY_H

#include "cli/serve.h"

int identity_app_init(struct app *app, err_t *err);
int identity_app_routes(struct app *app, err_t *err);
void identity_app_stop(struct app *app);

int token_app_init(struct app *app, err_t *err);
int token_app_routes(struct app *app, err_t *err);
void token_app_stop(struct app *app);

#endif
