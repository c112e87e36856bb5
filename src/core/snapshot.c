/*
 * snapshot.c: the reference-counted swap of an immutable snapshot, its
 * generation check and the one failure rule (see snapshot.h).
 *
 * Two locks per cell: `lock` guards the current pointer and the failure
 * state and is held only to copy them (readers take it, never for long);
 * `reload` serialises reloads so that swaps stay in order and only one
 * thread talks to the store per cell. Loading happens with `reload` held
 * and `lock` free, so readers go on with the old snapshot meanwhile.
 */
#include "core/snapshot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"

struct snapshot_ref {
    atomic_long refs;
    void *data;
    int64_t gen;
    uint64_t serial;
    void (*free)(void *data);
};

struct snapshot {
    struct snapshot_source src;
    struct snapshot_config cfg;
    bool has_cfg;
    pthread_mutex_t lock;   /* guards current, serial, failing, failing_since_ms */
    pthread_mutex_t reload; /* one reload at a time */
    struct snapshot_ref *current;
    uint64_t serial;
    bool failing;             /* the last reload (or generation check) failed */
    int64_t failing_since_ms; /* the first failure since the last success */
    /* Invalidations asked for, and the count the current snapshot covers
     * (read before its load began); fewer loaded than asked: stale. */
    _Atomic uint64_t asked;
    uint64_t loaded; /* under reload */
    atomic_bool closed_logged;
    _Atomic int64_t checked_ms; /* when the last completed look at the store began */
};

static _Atomic int64_t stale_max_ms = SNAPSHOT_STALE_MAX_MS;

void snapshot_set_stale_max_ms(int64_t ms)
{
    atomic_store(&stale_max_ms, ms < 0 ? 0 : ms);
}

int64_t snapshot_stale_max_ms(void)
{
    return atomic_load(&stale_max_ms);
}

int snapshot_config_apply(const struct dupla_config *cfg, err_t *err)
{
    const json_t *sec = cfg ? config_section(cfg, "registry") : NULL;
    static const char *const keys[] = {"stale_max_ms", NULL};
    long long ms = SNAPSHOT_STALE_MAX_MS;
    int rc = config_only_keys(sec, "registry", keys, err);
    if (rc == 0)
        rc = config_get_int(sec, "registry", "stale_max_ms", 0, SNAPSHOT_STALE_MAX_LIMIT_MS,
                            SNAPSHOT_STALE_MAX_MS, &ms, err);
    if (rc == 0)
        snapshot_set_stale_max_ms(ms);
    return rc;
}

static int64_t now_ms(const snapshot_t *s)
{
    if (s->has_cfg && s->cfg.now_ms)
        return s->cfg.now_ms(s->cfg.clock_ctx);
    return clock_mono_ns() / 1000000;
}

static int64_t bound_ms(const snapshot_t *s)
{
    return s->has_cfg ? s->cfg.stale_max_ms : snapshot_stale_max_ms();
}

static void ref_drop(struct snapshot_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->free)
            r->free(r->data);
        free(r);
    }
}

/* The current snapshot with a reference, and the failure state, in one go. */
static struct snapshot_ref *take(snapshot_t *s, bool *failing, int64_t *since)
{
    pthread_mutex_lock(&s->lock);
    struct snapshot_ref *r = s->current;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    if (failing)
        *failing = s->failing;
    if (since)
        *since = s->failing_since_ms;
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void mark_failed(snapshot_t *s, const err_t *err)
{
    int64_t now = now_ms(s);
    pthread_mutex_lock(&s->lock);
    if (!s->current) {
        /* The first load: snapshot_new fails, its caller reports it. */
        pthread_mutex_unlock(&s->lock);
        return;
    }
    bool first = !s->failing;
    if (first) {
        s->failing = true;
        s->failing_since_ms = now;
    }
    pthread_mutex_unlock(&s->lock);
    if (first)
        log_warn("%s: reload failed; serving the last good snapshot for at most %lld ms: %s",
                 s->src.name, (long long)bound_ms(s), err ? err->log : "");
}

static void mark_ok(snapshot_t *s)
{
    pthread_mutex_lock(&s->lock);
    bool was = s->failing;
    s->failing = false;
    pthread_mutex_unlock(&s->lock);
    atomic_store(&s->closed_logged, false);
    if (was)
        log_info("%s: reloaded; serving again", s->src.name);
}

/* Loads and installs a new snapshot; `reload` is held. */
static int reload_locked(snapshot_t *s, err_t *err)
{
    /* Read before loading: an invalidate that comes while we load asks for
     * another reload rather than being covered by this one. */
    uint64_t asked = atomic_load(&s->asked);
    struct snapshot_ref *r = calloc(1, sizeof *r);
    if (!r) {
        int rc = err_internal(err, DUPLA_ENOMEM, "%s: out of memory", s->src.name);
        mark_failed(s, err);
        return rc;
    }
    atomic_init(&r->refs, 1);
    r->free = s->src.free;
    int rc = s->src.load(s->src.ctx, &r->data, &r->gen, err);
    if (rc) {
        free(r);
        mark_failed(s, err);
        return rc;
    }
    s->loaded = asked;
    pthread_mutex_lock(&s->lock);
    struct snapshot_ref *old = s->current;
    r->serial = ++s->serial;
    s->current = r;
    pthread_mutex_unlock(&s->lock);
    ref_drop(old);
    mark_ok(s);
    return 0;
}

int snapshot_new(const struct snapshot_source *src, const struct snapshot_config *cfg,
                 snapshot_t **out, err_t *err)
{
    snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_internal(err, DUPLA_ENOMEM, "%s: out of memory", src->name);
    s->src = *src;
    if (cfg) {
        s->cfg = *cfg;
        s->has_cfg = true;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->reload, NULL);
    atomic_init(&s->asked, 0);
    atomic_init(&s->closed_logged, false);
    atomic_init(&s->checked_ms, now_ms(s));
    pthread_mutex_lock(&s->reload);
    int rc = reload_locked(s, err);
    pthread_mutex_unlock(&s->reload);
    if (rc) {
        snapshot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void snapshot_free(snapshot_t *s)
{
    if (!s)
        return;
    ref_drop(s->current);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->reload);
    free(s);
}

int snapshot_acquire(snapshot_t *s, snapshot_ref_t **ref, err_t *err)
{
    bool failing;
    int64_t since;
    struct snapshot_ref *r = take(s, &failing, &since);
    int64_t bound = bound_ms(s);
    if (r && !(failing && now_ms(s) - since >= bound)) {
        *ref = r;
        return 0;
    }
    ref_drop(r);
    if (!atomic_exchange(&s->closed_logged, true))
        log_error("%s: reloads have failed for longer than %lld ms; refusing until one succeeds",
                  s->src.name, (long long)bound);
    err_internal(err, DUPLA_EBUSY, "%s: failing for longer than %lld ms", s->src.name,
                 (long long)bound);
    if (err) {
        snprintf(err->detail, sizeof err->detail, "%s",
                 "The registry cannot be checked right now; try again shortly.");
        err_http(err, 503, SNAPSHOT_UNAVAILABLE_TYPE);
    }
    return DUPLA_EBUSY;
}

void snapshot_release(snapshot_ref_t *ref)
{
    ref_drop(ref);
}

const void *snapshot_data(const snapshot_ref_t *ref)
{
    return ref->data;
}

int64_t snapshot_ref_generation(const snapshot_ref_t *ref)
{
    return ref->gen;
}

uint64_t snapshot_ref_serial(const snapshot_ref_t *ref)
{
    return ref->serial;
}

int snapshot_invalidate(snapshot_t *s, err_t *err)
{
    uint64_t mine = atomic_fetch_add(&s->asked, 1) + 1;
    pthread_mutex_lock(&s->reload);
    /* A reload that began after this call (so after the write) and
     * finished while we waited covers it: nothing left to do. */
    int64_t began = now_ms(s);
    int rc = s->loaded >= mine ? 0 : reload_locked(s, err);
    if (rc == 0 && began > atomic_load(&s->checked_ms))
        atomic_store(&s->checked_ms, began);
    pthread_mutex_unlock(&s->reload);
    return rc;
}

int snapshot_poll(snapshot_t *s, int64_t min_interval_ms, err_t *err)
{
    int64_t now = now_ms(s);
    if (min_interval_ms > 0 && now - atomic_load(&s->checked_ms) < min_interval_ms)
        return 0;
    /* A look under way may be about to bring in what this caller must see:
     * wait for it, unless the cell is failing (nobody queues behind a store
     * that does not answer; the failure rule covers them). */
    if (snapshot_failing(s)) {
        if (pthread_mutex_trylock(&s->reload) != 0)
            return 0;
    } else {
        pthread_mutex_lock(&s->reload);
    }
    if (min_interval_ms > 0 && now - atomic_load(&s->checked_ms) < min_interval_ms) {
        pthread_mutex_unlock(&s->reload); /* the look we waited for began in time */
        return 0;
    }
    int64_t began = now_ms(s);
    int rc = 0;
    bool need = s->loaded < atomic_load(&s->asked) || !s->src.generation;
    if (!need) {
        struct snapshot_ref *r = take(s, NULL, NULL);
        int64_t gen = 0;
        rc = s->src.generation(s->src.ctx, r->data, &gen, err);
        need = !rc && gen != r->gen;
        ref_drop(r);
        if (rc)
            mark_failed(s, err);
    }
    if (need)
        rc = reload_locked(s, err);
    else if (!rc)
        mark_ok(s); /* the store answered and the snapshot is current */
    /* A failed look counts too: the next one is an interval later, and
     * meanwhile the failure rule decides. */
    atomic_store(&s->checked_ms, began);
    pthread_mutex_unlock(&s->reload);
    return rc;
}

int64_t snapshot_generation(snapshot_t *s)
{
    struct snapshot_ref *r = take(s, NULL, NULL);
    int64_t g = r ? r->gen : 0;
    ref_drop(r);
    return g;
}

uint64_t snapshot_serial(snapshot_t *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->serial;
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool snapshot_failing(snapshot_t *s)
{
    bool failing;
    ref_drop(take(s, &failing, NULL));
    return failing;
}
