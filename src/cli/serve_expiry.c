/*
 * serve_expiry.c: runs src/expiry inside `dupla serve` (serve_expiry.h).
 *
 * Every node runs it; the store's expiry_notice table makes each warning
 * go out once whichever node gets there first.
 */
#include "cli/serve_expiry.h"

#include "core/log.h"
#include "expiry/expiry.h"

/* How often the expiry warnings run (the first run is at start). */
#define SERVE_EXPIRY_EVERY_MS (60 * 60 * 1000)

int expiry_app_init(struct app *app, err_t *err)
{
    struct expiry_sources src = {.identity = app->identity,
                                 .agreement = app->agreement,
                                 .token = app->token,
                                 .cfg = &app->cfg};
    return expiry_open(app->store, &src, &app->expiry, err);
}

void expiry_app_stop(struct app *app)
{
    expiry_close(app->expiry);
    app->expiry = NULL;
}

void expiry_app_tick(struct app *app, int64_t now_ms)
{
    static int64_t next_ms;
    if (now_ms < next_ms)
        return;
    next_ms = now_ms + SERVE_EXPIRY_EVERY_MS;
    err_t err;
    err_clear(&err);
    struct expiry_run_stats st;
    if (expiry_run(app->expiry, now_ms, &st, &err) != 0)
        log_warn("expiry: %s", err.log);
    else if (st.warned)
        log_info("expiry: %u things expire within 30 days; %u warnings queued", st.soon, st.warned);
}
