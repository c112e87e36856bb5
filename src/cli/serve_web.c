/*
 * serve_web.c: the web self-service's part in `dupla serve` (a line of the
 * modules table in cmd_serve.c, after every module whose functions the
 * pages call):
 *
 *   {"web", web_app_init, web_app_routes, web_app_stop, NULL},
 */
#include "cli/serve_web.h"
#include "web/web.h"

int web_app_init(struct app *app, err_t *err)
{
    struct web_deps deps = {.cfg = &app->cfg,
                            .store = app->store,
                            .identity = app->identity,
                            .agreement = app->agreement,
                            .catalog = app->catalog,
                            .expiry = app->expiry,
                            .enrol = app->enrol};
    return web_open(&deps, &app->web, err);
}

int web_app_routes(struct app *app, err_t *err)
{
    return web_routes_register(app->server, app->web, err);
}

void web_app_stop(struct app *app)
{
    web_close(app->web);
    app->web = NULL;
}
