/*
 * serve_cluster.h: what `dupla serve` does so that several nodes on one
 * PostgreSQL store behave as one platform (#15): a listener for the
 * registries' change notifications (store_listen_start), which reloads
 * identity's, the agreements' and the operations log's registries as soon
 * as another node (or the CLI) commits a change. The periodic generation
 * checks (the ticker's syncs, identity's lookup poll) stay as the fallback
 * while the notification connection is down, and the failure rule of
 * core/snapshot.h bounds how long a registry that cannot reload serves.
 * SQLite: nothing runs (one machine).
 */
#ifndef DUPLA_CLI_SERVE_CLUSTER_H
#define DUPLA_CLI_SERVE_CLUSTER_H

#include "cli/serve.h"

/* Starts the listener (after every module's init); a failure to start the
 * thread is logged and the polls carry on. */
void cluster_app_start(struct app *app);
/* Stops it (before the modules stop). */
void cluster_app_stop(struct app *app);

#endif
