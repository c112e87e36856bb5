/*
 * serve_exposure.c: starting and stopping the data services inside `dupla
 * serve`: makes the engine (app->exposure) from the catalogue, the token
 * service, the agreement registry and the disclosure log, hooks it to the
 * operations log's planned service windows (503 + Retry-After during one),
 * and registers every service's routes with /openapi.json and
 * /servicekatalog. Runs after the catalogue, token, agreement, audit and
 * incident modules, whose handles it uses.
 */
#include "cli/serve_exposure.h"
#include "exposure/routes.h"
#include "incident/incident.h"
#include "testdata/routes.h"

static bool service_window(void *ctx, int64_t now_ms, int64_t *retry_after_s)
{
    return opslog_service_window_now(ctx, now_ms, retry_after_s);
}

int exposure_app_init(struct app *app, err_t *err)
{
    struct exposure_config cfg;
    int rc = exposure_config_read(&app->cfg, &cfg, err);
    if (rc)
        return rc;
    struct exposure_deps deps = {
        .catalog = app->catalog,
        .store = app->store,
        .token = app->token,
        .agreements = agreement_registry(app->agreement),
        .audit = app->audit,
        .env = app->cfg.environment,
    };
    if ((rc = exposure_new(&cfg, &deps, &app->exposure, err)) != 0)
        return rc;
    opslog_t *ops = app->incident ? incident_opslog(app->incident) : NULL;
    if (ops)
        exposure_set_window_hook(app->exposure, service_window, ops);
    return 0;
}

static int testdata_openapi_extend(json_t *doc, void *ctx)
{
    (void)ctx;
    return testdata_openapi(doc);
}

int exposure_app_routes(struct app *app, err_t *err)
{
    struct exposure_routes_options opt = {
        .token_url = token_service_config(app->token)->path,
    };
    /* a test deployment documents its test-data API too */
    if (app->cfg.environment != ENV_PRODUCTION)
        opt.openapi_extend = testdata_openapi_extend;
    return exposure_routes_register(app->server, app->exposure, &opt, err);
}

void exposure_app_stop(struct app *app)
{
    exposure_free(app->exposure);
    app->exposure = NULL;
}
