/*
 * listen.c: telling the other nodes of a cluster that a registry changed
 * (PostgreSQL LISTEN/NOTIFY), see store.h.
 *
 * One channel for every registry and every store on the server:
 * STORE_NOTIFY_CHANNEL, payload "<schema>:<what>", so that several
 * platforms (or the test suite's schemas) on one server only hear their
 * own. The listener holds a connection of its own (a connection in the pool
 * would be handed to others between notifications) and a thread that
 * sleeps in poll() on the connection's socket and on a pipe that wakes it
 * to stop.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"
#include "store/internal.h"

#define LISTEN_SCHEMA_MAX 64

int store_notify(store_conn_t *c, const char *what, err_t *err)
{
    if (strcmp(store_conn_backend(c), "postgresql") != 0)
        return 0;
    if (strlen(what) > STORE_NOTIFY_WHAT_MAX)
        return err_internal(err, DUPLA_EINVAL, "store: notification name too long");
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT pg_notify('" STORE_NOTIFY_CHANNEL
                           "', current_schema() || ':' || CAST(? AS TEXT))",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, what);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

struct store_listener {
    char *conninfo;
    char schema[LISTEN_SCHEMA_MAX]; /* as configured ("" : the server's default) */
    void (*fn)(void *ctx, const char *what);
    void *ctx;
    pthread_t thread;
    int wake[2]; /* written to stop the thread */
    atomic_bool stop;
    _Atomic uint64_t received, connects;
};

/* Waits up to ms, or until asked to stop; true when asked to stop. */
static bool pause_ms(store_listener_t *l, int ms)
{
    struct pollfd p = {.fd = l->wake[0], .events = POLLIN};
    if (poll(&p, 1, ms) > 0 || atomic_load(&l->stop))
        return true;
    return false;
}

static bool exec_ok(PGconn *pg, const char *sql, char *out, size_t cap)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (ok && out && PQntuples(res) == 1 && PQnfields(res) == 1)
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ok;
}

/* Opens the connection and LISTENs; the schema notifications must carry
 * into mine. NULL on failure (logged once per run of failures by the
 * caller). */
static PGconn *listen_connect(store_listener_t *l, char *mine, size_t cap)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {"10", "dupla-listen", l->conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        return NULL;
    }
    char sql[160];
    if (l->schema[0]) {
        snprintf(sql, sizeof sql, "SET search_path = %s", l->schema);
        if (!exec_ok(pg, sql, NULL, 0)) {
            PQfinish(pg);
            return NULL;
        }
    }
    if (!exec_ok(pg, "LISTEN " STORE_NOTIFY_CHANNEL, NULL, 0) ||
        !exec_ok(pg, "SELECT current_schema()", mine, cap) || PQsetnonblocking(pg, 1) != 0) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void *listen_main(void *arg)
{
    store_listener_t *l = arg;
    bool warned = false;
    fault_thread_role(FAULT_ROLE_EXEMPT); /* the fault test build: not a request's */
    while (!atomic_load(&l->stop)) {
        char mine[LISTEN_SCHEMA_MAX] = "";
        PGconn *pg = listen_connect(l, mine, sizeof mine);
        if (!pg) {
            if (!warned)
                log_warn("store: the notification connection cannot be opened; registries "
                         "fall back to their periodic generation check (retrying every %d ms)",
                         STORE_LISTEN_RETRY_MS);
            warned = true;
            if (pause_ms(l, STORE_LISTEN_RETRY_MS))
                break;
            continue;
        }
        if (warned)
            log_info("store: the notification connection is back");
        warned = false;
        atomic_fetch_add(&l->connects, 1);
        l->fn(l->ctx, NULL); /* whatever was sent while nobody listened */
        size_t n_mine = strlen(mine);
        for (;;) {
            struct pollfd p[2] = {{.fd = PQsocket(pg), .events = POLLIN},
                                  {.fd = l->wake[0], .events = POLLIN}};
            int r = poll(p, 2, -1);
            if (r < 0 && errno == EINTR)
                continue;
            if (atomic_load(&l->stop) || p[1].revents)
                break;
            if (PQconsumeInput(pg) != 1) {
                log_warn("store: the notification connection was lost; retrying");
                break;
            }
            PGnotify *nt;
            while ((nt = PQnotifies(pg)) != NULL) {
                const char *pl = nt->extra ? nt->extra : "";
                if (strncmp(pl, mine, n_mine) == 0 && pl[n_mine] == ':') {
                    atomic_fetch_add(&l->received, 1);
                    l->fn(l->ctx, pl + n_mine + 1);
                }
                PQfreemem(nt);
            }
        }
        PQfinish(pg);
        if (!atomic_load(&l->stop) && pause_ms(l, STORE_LISTEN_RETRY_MS))
            break;
    }
    return NULL;
}

int store_listen_start(store_t *st, void (*fn)(void *ctx, const char *what), void *ctx,
                       store_listener_t **out, err_t *err)
{
    *out = NULL;
    const char *conninfo, *schema;
    if (!store_pg_info(st, &conninfo, &schema))
        return 0;
    store_listener_t *l = calloc(1, sizeof *l);
    if (!l || !(l->conninfo = strdup(conninfo))) {
        free(l);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    snprintf(l->schema, sizeof l->schema, "%s", schema);
    l->fn = fn;
    l->ctx = ctx;
    if (pipe(l->wake) != 0) {
        free(l->conninfo);
        free(l);
        return err_set(err, DUPLA_EIO, "store: pipe: %s", strerror(errno));
    }
    if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
        close(l->wake[0]);
        close(l->wake[1]);
        free(l->conninfo);
        free(l);
        return err_internal(err, DUPLA_EINTERNAL, "store: cannot start the listener thread");
    }
    *out = l;
    return 0;
}

void store_listen_stop(store_listener_t *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    ssize_t w = write(l->wake[1], "x", 1);
    (void)w;
    pthread_join(l->thread, NULL);
    close(l->wake[0]);
    close(l->wake[1]);
    free(l->conninfo);
    free(l);
}

void store_listen_stats(store_listener_t *l, uint64_t *received, uint64_t *connects)
{
    *received = l ? atomic_load(&l->received) : 0;
    *connects = l ? atomic_load(&l->connects) : 0;
}
