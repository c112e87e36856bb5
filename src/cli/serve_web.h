/*
 * serve_web.h: the web pages' part in `dupla serve` (see serve_web.c).
 */
#ifndef DUPLA_CLI_SERVE_WEB_H
#define DUPLA_CLI_SERVE_WEB_H

#include "cli/serve.h"

int web_app_init(struct app *app, err_t *err);
int web_app_routes(struct app *app, err_t *err);
void web_app_stop(struct app *app);

#endif
