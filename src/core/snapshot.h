/*
 * snapshot.h: one registry primitive: an immutable in-memory snapshot of
 * something held in the store (identity's organisations, systems and
 * certificates; the agreements; the token signing keys; the service windows
 * of the operations log), tagged with the store generation it was built
 * from, and swapped whole when the store moves on.
 *
 * Readers: snapshot_acquire() takes a reference to the current snapshot (a
 * mutex held for a pointer copy and an increment), the reader decides
 * without any lock, snapshot_release() drops the reference; the snapshot is
 * freed when the cell has replaced it and its last reader let go. Readers
 * never wait for a reload and never see a half-built snapshot.
 *
 * Reloads (one at a time per cell, in the thread that asks):
 *   - snapshot_invalidate(): after a local write (or from a LISTEN/NOTIFY
 *     listener); reloads now, so a change is seen by every acquire that
 *     starts after it returns;
 *   - snapshot_poll(): the periodic tick; reads the store's generation (one
 *     small query) and reloads only when it moved, after an invalidate whose
 *     reload failed, or while the cell is failing.
 *
 * THE FAILURE RULE (the same for every registry): when a reload fails (or
 * the store's generation cannot be read), the cell keeps serving the last
 * good snapshot for at most the stale bound, SNAPSHOT_STALE_MAX_MS unless
 * configured (`registry.stale_max_ms` in dupla.json; 0 fails closed at
 * once), counted from the first failure since the last success. After that
 * it fails closed: snapshot_acquire() answers DUPLA_EBUSY with a 503
 * problem of type "registry-unavailable" (the HTTP layer adds Retry-After)
 * until a reload succeeds. A cell whose first load failed has nothing to
 * serve and is never created (snapshot_new fails). So a revocation is
 * either seen, or every call is refused, at most the stale bound after it.
 */
#ifndef DUPLA_CORE_SNAPSHOT_H
#define DUPLA_CORE_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/problem.h"

/* The stale bound by default: 10 s. */
#define SNAPSHOT_STALE_MAX_MS 10000
/* The largest stale bound the configuration accepts: 1 h. */
#define SNAPSHOT_STALE_MAX_LIMIT_MS (3600 * 1000)
/* The problem type of the refusal once the bound has passed. */
#define SNAPSHOT_UNAVAILABLE_TYPE PROBLEM_REGISTRY_UNAVAILABLE

typedef struct snapshot snapshot_t;
typedef struct snapshot_ref snapshot_ref_t;

/* What a cell reloads from. The callbacks run in the thread that reloads,
 * one at a time per cell. */
struct snapshot_source {
    const char *name; /* for the log: "identity registry" */
    void *ctx;
    /* Builds a new snapshot: *data (owned by the cell from then on) and *gen,
     * the store generation it reflects (read before or with the rows, in one
     * transaction, so that a change in between makes the next poll reload
     * rather than be missed). 0, or an error with err set. */
    int (*load)(void *ctx, void **data, int64_t *gen, err_t *err);
    /* Reads the store's generation now (a cheap query). current is the data
     * of the snapshot in use (held for the call). A value other than the
     * snapshot's generation makes the cell reload. NULL: every poll reloads. */
    int (*generation)(void *ctx, const void *current, int64_t *gen, err_t *err);
    /* Frees a snapshot's data. */
    void (*free)(void *data);
};

/* Per cell settings; NULL for the defaults. */
struct snapshot_config {
    int64_t stale_max_ms; /* the stale bound; 0 fails closed at once */
    /* The clock the bound is measured with, in ms (monotonic). NULL: the
     * process's monotonic clock (clock_mono_ns). Tests inject their own. */
    int64_t (*now_ms)(void *clock_ctx);
    void *clock_ctx;
};

/* Creates a cell and loads the first snapshot with src (copied). Fails, and
 * creates nothing, when that first load fails. cfg NULL: the process-wide
 * stale bound (snapshot_set_stale_max_ms) and the monotonic clock. */
int snapshot_new(const struct snapshot_source *src, const struct snapshot_config *cfg,
                 snapshot_t **out, err_t *err);
/* Frees the cell and its current snapshot. No reader may hold a reference. */
void snapshot_free(snapshot_t *s);

/* A reference to the current snapshot, for snapshot_data() until
 * snapshot_release(). DUPLA_EBUSY (503 "registry-unavailable", err set) when
 * the cell has been failing for longer than the stale bound. */
int snapshot_acquire(snapshot_t *s, snapshot_ref_t **ref, err_t *err);
void snapshot_release(snapshot_ref_t *ref);
/* The data the reference holds (the loader's, immutable while held). */
const void *snapshot_data(const snapshot_ref_t *ref);
/* The store generation the referenced snapshot was built from. */
int64_t snapshot_ref_generation(const snapshot_ref_t *ref);
/* The cell's swap counter when this snapshot was installed (1, 2, ...). */
uint64_t snapshot_ref_serial(const snapshot_ref_t *ref);

/* After a local write: reloads now (waiting for a reload in progress). On
 * failure the cell keeps its snapshot under the failure rule and the next
 * poll retries; the error is returned (and logged). */
int snapshot_invalidate(snapshot_t *s, err_t *err);
/* The periodic tick, also called on hot paths: does nothing when
 * min_interval_ms > 0 and the last look at the store began less than that
 * long ago; otherwise reads the store's generation and reloads when needed
 * (see above). A look already under way is waited for and counts when it
 * began within the interval, so a change committed more than
 * min_interval_ms before the call is in the snapshot acquired after it
 * (the caller does not go on with an older snapshot because another thread
 * happened to be polling). While the cell is failing nobody waits: a
 * caller that finds a poll under way goes on under the failure rule.
 * 0, or the failure (logged). */
int snapshot_poll(snapshot_t *s, int64_t min_interval_ms, err_t *err);

/* The store generation of the current snapshot. */
int64_t snapshot_generation(snapshot_t *s);
/* The swap counter of the current snapshot. */
uint64_t snapshot_serial(snapshot_t *s);
/* true while reloads fail (within or past the bound). */
bool snapshot_failing(snapshot_t *s);

/* The process-wide stale bound of cells made without a config
 * (`registry.stale_max_ms`); read at every check, so it may be set after
 * the cells exist. */
void snapshot_set_stale_max_ms(int64_t ms);
int64_t snapshot_stale_max_ms(void);

/* Reads the "registry" section of the configuration (every key optional):
 *   stale_max_ms   the stale bound (SNAPSHOT_STALE_MAX_MS; 0 .. 1 h)
 * and sets the process-wide bound from it. */
int snapshot_config_apply(const struct dupla_config *cfg, err_t *err);

#endif
