/*
 * serve_cluster.c: the registries' change listener in `dupla serve` (see
 * serve_cluster.h).
 */
#include "cli/serve_cluster.h"

#include <string.h>

#include "agreement/agreement.h"
#include "core/log.h"
#include "core/metrics.h"
#include "identity/identity.h"
#include "incident/incident.h"
#include "store/store.h"

static store_listener_t *listener;
static metric_t *m_notes;

/* On the listener's thread: what = "identity", "agreement", "opslog", or
 * NULL after a (re)connection (anything may have changed meanwhile). Each
 * sync reads its generation and reloads only when it moved, so this node's
 * own changes (already reloaded) cost one small query. A failed reload is
 * logged by its cell and falls under the failure rule. */
static void on_change(void *ctx, const char *what)
{
    struct app *app = ctx;
    err_t err;
    err_clear(&err);
    if (what)
        metric_add(m_notes, 1);
    if (!what || strcmp(what, "identity") == 0)
        identity_registry_refresh(app->identity, &err);
    if (app->agreement && (!what || strcmp(what, "agreement") == 0))
        agreement_registry_sync(app->agreement, &err);
    if (app->incident && (!what || strcmp(what, "opslog") == 0))
        opslog_sync(incident_opslog(app->incident), &err);
}

void cluster_app_start(struct app *app)
{
    if (!m_notes)
        m_notes = metrics_counter("dupla_registry_notifications_total",
                                  "Registry change notifications received from the store "
                                  "(PostgreSQL LISTEN/NOTIFY: changes made on other nodes or "
                                  "by the CLI, and this node's own).",
                                  NULL);
    err_t err;
    err_clear(&err);
    if (store_listen_start(app->store, on_change, app, &listener, &err) != 0)
        log_error("cannot listen for registry changes (the periodic checks go on): %s", err.log);
}

void cluster_app_stop(struct app *app)
{
    (void)app;
    store_listen_stop(listener);
    listener = NULL;
}
