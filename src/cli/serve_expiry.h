/*
 * serve_expiry.h: the expiry warnings' part in `dupla serve` (a line of the
 * modules table in cmd_serve.c, see serve.h), after identity, token,
 * agreement and mail, whose handles it reads:
 *
 *   {"expiry", expiry_app_init, NULL, expiry_app_stop, expiry_app_tick},
 */
#ifndef DUPLA_CLI_SERVE_EXPIRY_H
#define DUPLA_CLI_SERVE_EXPIRY_H

#include "cli/serve.h"

int expiry_app_init(struct app *app, err_t *err);
void expiry_app_stop(struct app *app);
/* Runs the expiry warnings at start and then every SERVE_EXPIRY_EVERY_MS. */
void expiry_app_tick(struct app *app, int64_t now_ms);

#endif
