/* Unit tests: core/snapshot (the registry primitive: reference-counted swap,
 * generation check, the stale bound and fail-closed). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/snapshot.h"

#define TRACK_MAX 100000

/* A fake store: a generation, a switch that makes reads fail, and every
 * snapshot ever built (freed by the test at the end, so that a reader can
 * check "not freed while I hold it" without touching freed memory). */
struct fake {
    _Atomic int64_t gen;
    atomic_bool fail;
    atomic_int loads, gen_reads, frees;
    atomic_int gen_delay_ms; /* a slow store: each generation read takes this long */
    int64_t clock_ms;
    /* When set, the next load plays a write + invalidate that lands while
     * the load is running (after it read the rows). */
    bool write_during_load;
    snapshot_t *cell;
    pthread_t writer;
    struct item *made[TRACK_MAX];
};

struct item {
    int64_t gen;
    atomic_bool freed;
};

static void *invalidate_thread(void *arg)
{
    struct fake *f = arg;
    err_t err;
    cr_assert_eq(snapshot_invalidate(f->cell, &err), 0);
    return NULL;
}

static int fake_load(void *ctx, void **data, int64_t *gen, err_t *err)
{
    struct fake *f = ctx;
    bool write = f->write_during_load;
    f->write_during_load = false;
    if (atomic_load(&f->fail))
        return err_set(err, DUPLA_ESTORE, "the fake store is down");
    int n = atomic_fetch_add(&f->loads, 1);
    cr_assert_lt(n, TRACK_MAX);
    struct item *it = calloc(1, sizeof *it);
    it->gen = atomic_load(&f->gen);
    f->made[n] = it;
    *data = it;
    *gen = it->gen;
    if (write) {
        atomic_fetch_add(&f->gen, 1);
        pthread_create(&f->writer, NULL, invalidate_thread, f);
        usleep(100 * 1000); /* the writer waits for this load to finish */
    }
    return 0;
}

static int fake_gen(void *ctx, const void *current, int64_t *gen, err_t *err)
{
    struct fake *f = ctx;
    cr_assert_not_null(current);
    atomic_fetch_add(&f->gen_reads, 1);
    if (atomic_load(&f->gen_delay_ms))
        usleep((useconds_t)atomic_load(&f->gen_delay_ms) * 1000);
    if (atomic_load(&f->fail))
        return err_set(err, DUPLA_ESTORE, "the fake store is down");
    *gen = atomic_load(&f->gen);
    return 0;
}

static void fake_free(void *data)
{
    struct item *it = data;
    cr_assert(!atomic_exchange(&it->freed, true), "freed twice");
}

static int64_t fake_now(void *ctx)
{
    return ((struct fake *)ctx)->clock_ms;
}

static struct fake *fake_new(void)
{
    struct fake *f = calloc(1, sizeof *f);
    atomic_init(&f->gen, 1);
    f->clock_ms = 1000;
    return f;
}

static void fake_done(struct fake *f)
{
    for (int i = 0; i < atomic_load(&f->loads); i++)
        free(f->made[i]);
    free(f);
}

static snapshot_t *cell(struct fake *f, int64_t stale_max_ms)
{
    struct snapshot_source src = {"test registry", f, fake_load, fake_gen, fake_free};
    struct snapshot_config cfg = {stale_max_ms, fake_now, f};
    snapshot_t *s = NULL;
    err_t err;
    cr_assert_eq(snapshot_new(&src, &cfg, &s, &err), 0);
    return s;
}

static int64_t held_gen(snapshot_t *s, int *rc, err_t *err)
{
    snapshot_ref_t *r;
    *rc = snapshot_acquire(s, &r, err);
    if (*rc)
        return -1;
    int64_t g = ((const struct item *)snapshot_data(r))->gen;
    cr_assert_eq(snapshot_ref_generation(r), g);
    snapshot_release(r);
    return g;
}

/* ---- lifetime ---- */

struct race {
    snapshot_t *s;
    struct fake *f;
    atomic_bool stop;
    atomic_long reads;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    uint64_t last_serial = 0;
    while (!atomic_load(&r->stop)) {
        snapshot_ref_t *ref;
        err_t err;
        cr_assert_eq(snapshot_acquire(r->s, &ref, &err), 0);
        const struct item *it = snapshot_data(ref);
        /* Hold it across a swap or two: it must stay alive. */
        for (int i = 0; i < 50; i++)
            cr_assert(!atomic_load(&it->freed), "a held snapshot was freed");
        cr_assert_geq(snapshot_ref_serial(ref), last_serial, "swaps went backwards");
        last_serial = snapshot_ref_serial(ref);
        snapshot_release(ref);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void *swapper(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 2000; i++) {
        atomic_fetch_add(&r->f->gen, 1);
        err_t err;
        if (i % 2)
            cr_assert_eq(snapshot_invalidate(r->s, &err), 0);
        else
            cr_assert_eq(snapshot_poll(r->s, 0, &err), 0);
    }
    return NULL;
}

Test(snapshot, held_snapshots_outlive_swaps_and_are_freed_once)
{
    struct fake *f = fake_new();
    struct race r = {.s = cell(f, 0), .f = f};
    atomic_init(&r.stop, false);
    atomic_init(&r.reads, 0);
    pthread_t readers[3], sw;
    for (int i = 0; i < 3; i++)
        pthread_create(&readers[i], NULL, reader, &r);
    pthread_create(&sw, NULL, swapper, &r);
    pthread_join(sw, NULL);
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(readers[i], NULL);
    cr_assert_gt(atomic_load(&r.reads), 0);
    int loads = atomic_load(&f->loads);
    cr_assert_eq(loads, 2001, "one first load and one per swap (%d)", loads);
    /* Every replaced snapshot is freed; the current one is not. */
    for (int i = 0; i < loads - 1; i++)
        cr_assert(atomic_load(&f->made[i]->freed), "snapshot %d leaked", i);
    cr_assert(!atomic_load(&f->made[loads - 1]->freed));
    cr_assert_eq(snapshot_serial(r.s), (uint64_t)loads);
    snapshot_free(r.s);
    cr_assert(atomic_load(&f->made[loads - 1]->freed));
    fake_done(f);
}

Test(snapshot, a_reference_keeps_its_snapshot_after_the_cell_moves_on)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 0);
    snapshot_ref_t *old;
    err_t err;
    cr_assert_eq(snapshot_acquire(s, &old, &err), 0);
    atomic_store(&f->gen, 2);
    cr_assert_eq(snapshot_invalidate(s, &err), 0);
    cr_assert_eq(((const struct item *)snapshot_data(old))->gen, 1);
    cr_assert(!atomic_load(&f->made[0]->freed));
    int rc;
    cr_assert_eq(held_gen(s, &rc, &err), 2);
    snapshot_release(old);
    cr_assert(atomic_load(&f->made[0]->freed));
    snapshot_free(s);
    fake_done(f);
}

/* ---- the generation check ---- */

Test(snapshot, poll_reloads_only_when_the_generation_moved)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    err_t err;
    cr_assert_eq(snapshot_poll(s, 0, &err), 0);
    cr_assert_eq(atomic_load(&f->loads), 1, "no change, no reload");
    cr_assert_eq(atomic_load(&f->gen_reads), 1);
    atomic_store(&f->gen, 7);
    cr_assert_eq(snapshot_poll(s, 0, &err), 0);
    cr_assert_eq(atomic_load(&f->loads), 2);
    cr_assert_eq(snapshot_generation(s), 7);
    /* The interval: a check 500 ms after the last one does nothing. */
    atomic_store(&f->gen, 8);
    f->clock_ms += 500;
    cr_assert_eq(snapshot_poll(s, 1000, &err), 0);
    cr_assert_eq(snapshot_generation(s), 7);
    f->clock_ms += 500;
    cr_assert_eq(snapshot_poll(s, 1000, &err), 0);
    cr_assert_eq(snapshot_generation(s), 8);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, invalidate_reloads_at_once_even_without_a_new_generation)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    err_t err;
    cr_assert_eq(snapshot_invalidate(s, &err), 0);
    cr_assert_eq(atomic_load(&f->loads), 2);
    cr_assert_eq(snapshot_serial(s), 2);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, a_first_load_that_fails_makes_no_cell)
{
    struct fake *f = fake_new();
    atomic_store(&f->fail, true);
    struct snapshot_source src = {"test registry", f, fake_load, fake_gen, fake_free};
    snapshot_t *s = NULL;
    err_t err;
    cr_assert_eq(snapshot_new(&src, NULL, &s, &err), DUPLA_ESTORE);
    cr_assert_null(s);
    fake_done(f);
}

/* A write committed while a poll's load is running (after it read the
 * rows) is not covered by that load: the writer's invalidate reloads. */
Test(snapshot, an_invalidate_during_a_reload_is_not_lost)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    f->cell = s;
    err_t err;
    atomic_store(&f->gen, 2);
    f->write_during_load = true;
    cr_assert_eq(snapshot_poll(s, 0, &err), 0);
    pthread_join(f->writer, NULL);
    cr_assert_eq(snapshot_generation(s), 3, "the write is seen");
    cr_assert_eq(atomic_load(&f->loads), 3);
    snapshot_free(s);
    fake_done(f);
}

/* A poll under way on a slow store: another caller whose interval has
 * passed waits for it and then has the change, instead of going on with the
 * snapshot from before (a certificate registered seconds ago refused). */
struct poller {
    snapshot_t *s;
    atomic_bool done;
};

/* Until the fake store has been asked for its generation n times (the
 * poll thread's look is under way), at most 5 s: a sleep of a fixed time
 * was not enough on a loaded machine under the sanitizers. */
static void wait_gen_reads(struct fake *f, int n)
{
    for (int i = 0; i < 5000 && atomic_load(&f->gen_reads) < n; i++)
        usleep(1000);
    cr_assert_geq(atomic_load(&f->gen_reads), n, "the poll thread never looked at the store");
}

static void *poll_thread(void *arg)
{
    struct poller *p = arg;
    err_t err;
    snapshot_poll(p->s, 50, &err);
    atomic_store(&p->done, true);
    return NULL;
}

Test(snapshot, a_caller_waits_for_a_poll_under_way_and_sees_its_change)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    atomic_store(&f->gen, 2); /* committed long before the calls below */
    f->clock_ms += 2000;
    atomic_store(&f->gen_delay_ms, 300);
    struct poller p = {.s = s};
    pthread_t t;
    pthread_create(&t, NULL, poll_thread, &p);
    wait_gen_reads(f, 1); /* the thread's look at the store is under way */
    cr_assert(!atomic_load(&p.done));
    err_t err;
    cr_assert_eq(snapshot_poll(s, 50, &err), 0);
    /* what waiting means: the poll under way's reload is done and seen (not
     * p.done, which its thread sets only after snapshot_poll returned
     * there: on a loaded machine this caller may run first) */
    cr_assert_eq(atomic_load(&f->loads), 2, "waited for the poll under way's reload");
    cr_assert_eq(snapshot_generation(s), 2, "the change is seen");
    cr_assert_eq(atomic_load(&f->gen_reads), 1, "one look at the store, not two");
    pthread_join(t, NULL);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, nobody_waits_on_a_failing_store)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    err_t err;
    atomic_store(&f->fail, true);
    cr_assert_neq(snapshot_poll(s, 0, &err), 0);
    cr_assert(snapshot_failing(s));
    f->clock_ms += 2000;
    atomic_store(&f->gen_delay_ms, 300);
    struct poller p = {.s = s};
    pthread_t t;
    pthread_create(&t, NULL, poll_thread, &p);
    usleep(100 * 1000);
    snapshot_poll(s, 50, &err);
    cr_assert(!atomic_load(&p.done), "went on under the failure rule without waiting");
    pthread_join(t, NULL);
    snapshot_free(s);
    fake_done(f);
}

/* ---- the failure rule ---- */

static void assert_refused(snapshot_t *s)
{
    err_t err;
    int rc;
    held_gen(s, &rc, &err);
    cr_assert_eq(rc, DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_str_eq(err.type, SNAPSHOT_UNAVAILABLE_TYPE);
    cr_assert_null(strstr(err.detail, "test registry"), "internals stay in the log");
}

Test(snapshot, a_failed_reload_serves_the_last_good_one_until_the_bound)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    err_t err;
    int rc;
    atomic_store(&f->gen, 2);
    atomic_store(&f->fail, true);
    cr_assert_eq(snapshot_invalidate(s, &err), DUPLA_ESTORE);
    cr_assert(snapshot_failing(s));
    cr_assert_eq(held_gen(s, &rc, &err), 1, "the last good snapshot");
    f->clock_ms += 9999;
    cr_assert_eq(held_gen(s, &rc, &err), 1);
    /* Retries within the window do not restart the clock. */
    cr_assert_eq(snapshot_poll(s, 0, &err), DUPLA_ESTORE);
    f->clock_ms += 1;
    assert_refused(s);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, an_unreadable_generation_counts_as_a_failure)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 2000);
    err_t err;
    int rc;
    atomic_store(&f->fail, true);
    cr_assert_eq(snapshot_poll(s, 0, &err), DUPLA_ESTORE);
    cr_assert_eq(held_gen(s, &rc, &err), 1);
    f->clock_ms += 2000;
    assert_refused(s);
    /* The store is back with nothing new: serving again without a reload. */
    atomic_store(&f->fail, false);
    cr_assert_eq(snapshot_poll(s, 0, &err), 0);
    cr_assert_eq(held_gen(s, &rc, &err), 1);
    cr_assert_eq(atomic_load(&f->loads), 1);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, recovery_after_the_store_comes_back)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 10000);
    err_t err;
    int rc;
    atomic_store(&f->gen, 2);
    atomic_store(&f->fail, true);
    cr_assert_neq(snapshot_invalidate(s, &err), 0);
    f->clock_ms += 60000;
    assert_refused(s);
    /* An invalidate whose reload failed is retried by the next poll even
     * though the generation did not move again. */
    atomic_store(&f->fail, false);
    cr_assert_eq(snapshot_poll(s, 0, &err), 0);
    cr_assert(!snapshot_failing(s));
    cr_assert_eq(held_gen(s, &rc, &err), 2);
    /* A new failure starts a new window. */
    atomic_store(&f->fail, true);
    cr_assert_neq(snapshot_invalidate(s, &err), 0);
    cr_assert_eq(held_gen(s, &rc, &err), 2);
    f->clock_ms += 10000;
    assert_refused(s);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, a_zero_bound_fails_closed_at_once)
{
    struct fake *f = fake_new();
    snapshot_t *s = cell(f, 0);
    err_t err;
    atomic_store(&f->fail, true);
    cr_assert_neq(snapshot_invalidate(s, &err), 0);
    assert_refused(s);
    snapshot_free(s);
    fake_done(f);
}

Test(snapshot, the_process_wide_bound_applies_to_cells_without_a_config)
{
    cr_assert_eq(snapshot_stale_max_ms(), SNAPSHOT_STALE_MAX_MS);
    struct fake *f = fake_new();
    struct snapshot_source src = {"test registry", f, fake_load, fake_gen, fake_free};
    snapshot_t *s = NULL;
    err_t err;
    int rc;
    cr_assert_eq(snapshot_new(&src, NULL, &s, &err), 0);
    atomic_store(&f->fail, true);
    cr_assert_neq(snapshot_invalidate(s, &err), 0);
    cr_assert_eq(held_gen(s, &rc, &err), 1, "within the default 10 s");
    snapshot_set_stale_max_ms(0);
    assert_refused(s);
    snapshot_set_stale_max_ms(SNAPSHOT_STALE_MAX_MS);
    cr_assert_eq(held_gen(s, &rc, &err), 1);
    snapshot_free(s);
    fake_done(f);
}

/* ---- the "registry" configuration section ---- */

Test(snapshot, the_registry_section_sets_the_bound)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(
        config_load_string("{\"environment\":\"test\",\"registry\":{\"stale_max_ms\":250}}", "/srv",
                           &cfg, &err),
        0);
    cr_assert_eq(snapshot_config_apply(&cfg, &err), 0);
    cr_assert_eq(snapshot_stale_max_ms(), 250);
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\":\"test\"}", "/srv", &cfg, &err), 0);
    cr_assert_eq(snapshot_config_apply(&cfg, &err), 0);
    cr_assert_eq(snapshot_stale_max_ms(), SNAPSHOT_STALE_MAX_MS, "the default");
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"registry\":{\"stale_max_ms\":-1}}",
                                    "/srv", &cfg, &err),
                 0);
    cr_assert_eq(snapshot_config_apply(&cfg, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "stale_max_ms");
    cr_assert_eq(snapshot_stale_max_ms(), SNAPSHOT_STALE_MAX_MS, "unchanged");
    config_free(&cfg);
}
