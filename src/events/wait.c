/*
 * wait.c: the one place where a long-poll (GET /Haendelser?Vent=N) waits:
 * a process-wide generation counter and a condition variable, with a bound
 * on the callers waiting at once. A waiter holds no store connection while
 * it waits; it re-reads its page when woken or after a slice. When the
 * server suspends connections instead of parking a thread, this is what
 * moves: events_notify is the wake-up, the bound the number of suspended
 * long-polls.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "events/events.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME */
static uint64_t generation;
static unsigned waiting;
static unsigned max_waiters = EVENTS_DEFAULT_MAX_WAITERS;

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
