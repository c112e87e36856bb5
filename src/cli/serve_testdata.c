/*
 * serve_testdata.c: the test-data API (src/testdata/routes.c) in
 * `dupla serve`; who may use it is web_actor_testdata's rule (the pages'
 * too).
 */
#include "cli/serve_testdata.h"

#include "identity/routes.h"
#include "testdata/routes.h"
#include "web/actor.h"

static int allow(http_request_t *req, void *ctx, err_t *err)
{
    struct app *app = ctx;
    identity_actor_t ia;
    int rc = identity_http_actor(req, app->identity, &ia, err);
    return rc ? rc : web_actor_testdata(app->identity, &ia, err);
}

static struct testdata_routes testdata_routes_ctx;

int testdata_app_routes(struct app *app, err_t *err)
{
    testdata_routes_ctx = (struct testdata_routes){
        .st = app->store,
        .catalog = app->catalog,
        .environment = app->cfg.environment,
        .auth = {.ctx = app, .allow = allow},
    };
    return testdata_routes_register(app->server, &testdata_routes_ctx, err);
}
