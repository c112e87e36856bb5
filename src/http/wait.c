/*
 * wait.c: a request that waits without a thread. A handler that must wait
 * for something another thread finishes (a data call's disclosure becoming
 * durable: the log's writer commits it) takes a wait (http_req_wait),
 * hands it to that thread and returns HTTP_SUSPENDED. connection.c then
 * suspends the connection (MHD_suspend_connection): the event loop's thread
 * goes on with its other connections. The waker calls http_wait_wake once,
 * from its own thread; that resumes the connection (MHD_resume_connection),
 * and the event loop calls the access handler again, which runs the
 * handler's continuation (then) on a thread of the loop to make the answer.
 *
 * The wake may come before the handler has returned (the writer is fast):
 * the connection is suspended only when the wake has not come, both under
 * the wait's lock, so that a wake is never lost and a connection is never
 * resumed before it was suspended.
 *
 * Stopping (server.c): libmicrohttpd must not be stopped with suspended
 * connections, so the server resumes every connection still waiting
 * (http_waits_abandon): the continuation then runs with abandoned true and
 * answers without what it waited for (503 with Retry-After). What the waker
 * still uses must outlive the request: the wait holds a reference for the
 * waker, and when the request ends first it takes the request's arena (where
 * the handler keeps what it handed out) and frees it after the wake.
 *
 * Lock order: srv->wait_lock before a wait's mu; the waker takes only mu.
 */
#include <stdlib.h>

#include "core/log.h"
#include "http/internal.h"

struct http_wait {
    pthread_mutex_t mu;
    http_server_t *srv;
    struct MHD_Connection *mhd; /* the request's connection */
    http_then_fn then;
    void *ctx;
    unsigned refs;  /* the request's, the waker's: both under mu */
    bool suspended; /* the connection is suspended on this wait */
    bool woken;     /* http_wait_wake has run */
    bool abandoned; /* resumed by the server's stop before the wake */
    bool listed;    /* on srv->waits (under srv->wait_lock) */
    bool armed;     /* taken by the handler, not yet suspended on or dropped */
    arena_t *arena; /* the request's, once the request has ended before the wake */
    struct http_wait *prev, *next;
};

static void wait_free(struct http_wait *w)
{
    arena_free(w->arena);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void unlist(struct http_wait *w)
{
    http_server_t *srv = w->srv;
    pthread_mutex_lock(&srv->wait_lock);
    if (w->listed) {
        if (w->prev)
            w->prev->next = w->next;
        else
            srv->waits = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->listed = false;
    }
    pthread_mutex_unlock(&srv->wait_lock);
}

/* Drops one reference (under nothing); the last frees the wait. */
static void wait_put(struct http_wait *w)
{
    pthread_mutex_lock(&w->mu);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last)
        wait_free(w);
}

http_wait_t *http_req_wait(http_request_t *req, http_then_fn then, void *ctx)
{
    if (!then)
        return NULL;
    if (req->wait) {
        /* A continuation waits again (a long-poll's next slice): the
         * finished wait goes, unless the stop abandoned it (its waker may
         * still hold it: then the continuation must answer). */
        struct http_wait *old = req->wait;
        pthread_mutex_lock(&old->mu);
        bool over = old->then == NULL && old->woken && !old->armed;
        pthread_mutex_unlock(&old->mu);
        if (!over)
            return NULL;
        req->wait = NULL;
        wait_put(old);
    }
    struct http_wait *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->srv = req->srv;
    w->mhd = req->mhd;
    w->then = then;
    w->ctx = ctx;
    w->refs = 2; /* the request's, and the waker's (dropped at once when not handed out) */
    w->armed = true;
    req->wait = w;
    return w;
}

void http_wait_wake(http_wait_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->woken = true;
    if (w->suspended) {
        w->suspended = false;
        MHD_resume_connection(w->mhd);
    }
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last)
        wait_free(w);
}

bool http_wait_suspend(http_request_t *req)
{
    struct http_wait *w = req->wait;
    /* Listed before it can be suspended: the stop finds every suspended
     * wait on the list. */
    pthread_mutex_lock(&w->srv->wait_lock);
    if (w->srv->waits_closed) { /* stopping: never suspended again */
        pthread_mutex_lock(&w->mu);
        w->abandoned = true;
        pthread_mutex_unlock(&w->mu);
    }
    w->next = w->srv->waits;
    if (w->next)
        w->next->prev = w;
    w->prev = NULL;
    w->srv->waits = w;
    w->listed = true;
    pthread_mutex_unlock(&w->srv->wait_lock);
    pthread_mutex_lock(&w->mu);
    w->armed = false;
    bool suspend = !w->woken && !w->abandoned;
    if (suspend) {
        MHD_suspend_connection(req->mhd);
        w->suspended = true;
    }
    pthread_mutex_unlock(&w->mu);
    return suspend;
}

void http_wait_not_handed(http_request_t *req)
{
    /* The handler did not suspend: no waker holds it, and nothing waits. */
    struct http_wait *w = req->wait;
    pthread_mutex_lock(&w->mu);
    w->then = NULL;
    w->armed = false;
    pthread_mutex_unlock(&w->mu);
    wait_put(w);
}

int http_wait_continue(http_request_t *req, err_t *err)
{
    struct http_wait *w = req->wait;
    unlist(w);
    pthread_mutex_lock(&w->mu);
    bool abandoned = w->abandoned && !w->woken;
    http_then_fn then = w->then;
    w->then = NULL;
    pthread_mutex_unlock(&w->mu);
    if (!then)
        return err_internal(err, DUPLA_EINTERNAL, "a request's continuation ran twice");
    return then(req, w->ctx, abandoned, err);
}

void http_wait_end(http_request_t *req, bool *keep_arena)
{
    struct http_wait *w = req->wait;
    *keep_arena = false;
    if (!w)
        return;
    req->wait = NULL;
    unlist(w);
    /* A continuation that never ran (the client went away after the
     * resume) runs now, so that what the handler holds is given back; its
     * answer goes nowhere. */
    pthread_mutex_lock(&w->mu);
    http_then_fn then = w->then;
    w->then = NULL;
    pthread_mutex_unlock(&w->mu);
    if (then) {
        err_t err;
        err_clear(&err);
        then(req, w->ctx, true, &err);
    }
    pthread_mutex_lock(&w->mu);
    bool last = --w->refs == 0;
    if (!last) {
        w->arena = req->arena; /* the waker still reads what it was handed */
        *keep_arena = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (last)
        wait_free(w);
}

bool http_wait_armed(http_request_t *req)
{
    struct http_wait *w = req->wait;
    if (!w)
        return false;
    pthread_mutex_lock(&w->mu);
    bool armed = w->armed;
    pthread_mutex_unlock(&w->mu);
    return armed;
}

unsigned http_waits_abandon(http_server_t *srv)
{
    unsigned n = 0;
    pthread_mutex_lock(&srv->wait_lock);
    srv->waits_closed = true;
    for (struct http_wait *w = srv->waits; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        if (!w->woken && !w->abandoned) {
            w->abandoned = true;
            if (w->suspended) {
                w->suspended = false;
                MHD_resume_connection(w->mhd);
            }
            n++;
        }
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&srv->wait_lock);
    return n;
}

bool http_waits_pending(http_server_t *srv)
{
    pthread_mutex_lock(&srv->wait_lock);
    bool any = srv->waits != NULL;
    pthread_mutex_unlock(&srv->wait_lock);
    return any;
}
