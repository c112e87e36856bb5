/*
 * serve_exposure.h: the exposure module's part in `dupla serve` (a line of
 * the modules table in cmd_serve.c, see serve.h), after identity, token,
 * catalog, agreement, audit and incident, whose handles it uses:
 *
 *   {"exposure", exposure_app_init, exposure_app_routes, exposure_app_stop, NULL},
 */
#ifndef DUPLA_CLI_SERVE_EXPOSURE_H
#define DUPLA_CLI_SERVE_EXPOSURE_H

#include "cli/serve.h"

int exposure_app_init(struct app *app, err_t *err);
int exposure_app_routes(struct app *app, err_t *err);
void exposure_app_stop(struct app *app);

#endif
