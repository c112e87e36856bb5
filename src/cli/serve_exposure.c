/*
 * serve_exposure.c: starting and stopping the data services inside `dupla
 * serve`: loads the catalogue (app->catalog), applies the data set
 * migrations, makes the engine (app->exposure) from the token service, the
 * agreement registry and the disclosure log, and registers every service's
 * routes with /openapi.json and /servicekatalog.
 */
#include "cli/serve_exposure.h"
#include "dataset/dataset.h"
#include "exposure/routes.h"

int exposure_app_init(struct app *app, err_t *err)
{
    char dir[CONFIG_PATH_MAX];
    struct exposure_config cfg;
    int rc;
    if (!app->catalog) {
        if ((rc = catalog_config_dir(&app->cfg, dir, sizeof dir, err)) != 0 ||
            (rc = catalog_load_dir(dir, &app->catalog, err)) != 0)
            return rc;
    }
    if ((rc = dataset_migrate(app->store, err)) != 0 ||
        (rc = exposure_config_read(&app->cfg, &cfg, err)) != 0)
        return rc;
    struct exposure_deps deps = {
        .catalog = app->catalog,
        .store = app->store,
        .token = app->token,
        .agreements = agreement_registry(app->agreement),
        .audit = app->audit,
        .env = app->cfg.environment,
    };
    return exposure_new(&cfg, &deps, &app->exposure, err);
}

int exposure_app_routes(struct app *app, err_t *err)
{
    struct exposure_routes_options opt = {
        .token_url = token_service_config(app->token)->path,
    };
    return exposure_routes_register(app->server, app->exposure, &opt, err);
}

void exposure_app_stop(struct app *app)
{
    exposure_free(app->exposure);
    app->exposure = NULL;
    catalog_free(app->catalog);
    app->catalog = NULL;
}
