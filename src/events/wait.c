/*
 * wait.c: the one place where a long-poll (GET /Haendelser?Vent=N) waits:
 * a process-wide generation counter and a condition variable, with a bound
 * on the callers waiting at once. A waiter holds no store connection while
 * it waits; it re-reads its page when woken or after a slice. The server
 * suspends a long-poll's connection instead of parking a thread
 * (events_wait_async): one waker thread here, started with the first such
 * wait, calls each waiter's wake-up when the generation moves or its slice
 * ends; the bound counts both kinds of waiters.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"

#include "events/events.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME */
static uint64_t generation;
static unsigned waiting;
static unsigned max_waiters = EVENTS_DEFAULT_MAX_WAITERS;

/* A suspended long-poll (events_wait_async), until its wake-up runs. */
struct async_waiter {
    uint64_t gen;
    int64_t until_ms;
    events_wake_fn fn;
    void *ctx;
    struct async_waiter *next;
};
static struct async_waiter *async_head; /* under lock */
static bool async_started;

void events_wait_configure(unsigned max)
{
    pthread_mutex_lock(&lock);
    max_waiters = max ? max : EVENTS_DEFAULT_MAX_WAITERS;
    pthread_mutex_unlock(&lock);
}

uint64_t events_generation(void)
{
    pthread_mutex_lock(&lock);
    uint64_t g = generation;
    pthread_mutex_unlock(&lock);
    return g;
}

void events_notify(void)
{
    pthread_mutex_lock(&lock);
    generation++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

unsigned events_waiting(void)
{
    pthread_mutex_lock(&lock);
    unsigned n = waiting;
    pthread_mutex_unlock(&lock);
    return n;
}

int events_wait(uint64_t gen, int64_t until_ms)
{
    struct timespec until = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&lock);
    if (waiting >= max_waiters) {
        pthread_mutex_unlock(&lock);
        return DUPLA_EBUSY;
    }
    waiting++;
    int rc = 0;
    while (generation == gen && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    bool woken = generation != gen;
    waiting--;
    pthread_mutex_unlock(&lock);
    return woken ? 1 : 0;
}

/* The waker thread: runs every async waiter's wake-up, outside the lock,
 * once the generation has moved past its own or its time has come. */
static void *async_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        int64_t now = clock_now_ms(), next = now + 60000;
        struct async_waiter *due = NULL, **pp = &async_head;
        while (*pp) {
            struct async_waiter *w = *pp;
            if (w->gen != generation || w->until_ms <= now) {
                *pp = w->next;
                w->next = due;
                due = w;
                waiting--;
            } else {
                if (w->until_ms < next)
                    next = w->until_ms;
                pp = &w->next;
            }
        }
        if (due) {
            pthread_mutex_unlock(&lock);
            while (due) {
                struct async_waiter *n = due->next;
                due->fn(due->ctx);
                free(due);
                due = n;
            }
            pthread_mutex_lock(&lock);
            continue;
        }
        struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
        pthread_cond_timedwait(&cond, &lock, &ts);
    }
    return NULL;
}

int events_wait_async(uint64_t gen, int64_t until_ms, events_wake_fn fn, void *ctx)
{
    struct async_waiter *w = malloc(sizeof *w);
    if (!w)
        return DUPLA_ENOMEM;
    *w = (struct async_waiter){.gen = gen, .until_ms = until_ms, .fn = fn, .ctx = ctx};
    pthread_mutex_lock(&lock);
    if (waiting >= max_waiters) {
        pthread_mutex_unlock(&lock);
        free(w);
        return DUPLA_EBUSY;
    }
    if (!async_started) {
        pthread_t t;
        if (pthread_create(&t, NULL, async_main, NULL) != 0) {
            pthread_mutex_unlock(&lock);
            free(w);
            return DUPLA_EBUSY;
        }
        pthread_detach(t);
        async_started = true;
    }
    waiting++;
    w->next = async_head;
    async_head = w;
    pthread_cond_broadcast(&cond); /* the waker looks at its deadlines again */
    pthread_mutex_unlock(&lock);
    return 0;
}
