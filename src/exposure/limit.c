/*
 * limit.c: the rate limiter of the data path: a token bucket per
 * (agreement, system), refilled continuously at `rate` tokens per second up
 * to `burst`.
 *
 * The buckets sit in a fixed table of EXPOSURE_RATE_BUCKETS slots (memory is
 * bounded whatever the callers do); a key probes EXPOSURE_RATE_PROBE slots
 * and, when none is its own or free, takes over the one used longest ago
 * (that pair then starts with a full bucket again, which only ever errs on
 * the side of the client). Tokens are kept in millitokens, integers only.
 *
 * Shared (exposure_limiter_share, the nodes of a cluster): the bucket that
 * refills is the store's row for the key; a local bucket only holds tokens
 * drawn from it, a chunk at a time, for at most EXPOSURE_RATE_HOLD_MS.
 * A draw is two statements, each atomic on both backends: an upsert that
 * refills the row for the time since it was last touched (never backwards,
 * whatever the nodes' clocks) and returns what it holds, then a conditional
 * decrement (WHERE tokens_milli >= grant), so two nodes can never draw the
 * same token. The store lock is not held across the two; a draw that loses
 * the race tries once more for a single token.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "exposure/exposure.h"
#include "store/store.h"

#define EXPOSURE_RATE_KEY_MAX 128 /* bytes of a key kept: longer keys are cut */
#define EXPOSURE_RATE_PROBE   8
#define MILLI                 1000LL

struct bucket {
    uint64_t hash;
    char key[EXPOSURE_RATE_KEY_MAX];
    size_t key_len;
    int64_t tokens_milli;
    int64_t updated_ms;
    int64_t drawn_ms;          /* shared: when the tokens held were drawn */
    int64_t shared_left_milli; /* shared: what the store's row held after it */
    bool used;
};

struct exposure_limiter {
    pthread_mutex_t lock;
    int64_t rate; /* tokens per second */
    int64_t burst;
    struct bucket *slots; /* EXPOSURE_RATE_BUCKETS */
    store_t *shared;      /* NULL: every bucket is this process's own */
    int64_t chunk;        /* shared: tokens drawn at a time */
    int64_t warned_ms;    /* shared: the last "falling back" warning */
};

int exposure_limiter_new(unsigned rate, unsigned burst, exposure_limiter_t **out, err_t *err)
{
    *out = NULL;
    if (rate == 0 || burst == 0)
        return err_set(err, DUPLA_EINVAL, "rate limiter: rate and burst must be at least 1");
    exposure_limiter_t *l = calloc(1, sizeof *l);
    if (!l || !(l->slots = calloc(EXPOSURE_RATE_BUCKETS, sizeof *l->slots))) {
        free(l);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&l->lock, NULL);
    l->rate = rate;
    l->burst = burst;
    *out = l;
    return 0;
}

void exposure_limiter_free(exposure_limiter_t *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

static uint64_t hash_key(str_t k)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < k.len; i++)
        h = (h ^ (unsigned char)k.ptr[i]) * 1099511628211ULL;
    return h;
}

bool exposure_limiter_take(exposure_limiter_t *l, str_t key, int64_t now_ms,
                           unsigned *retry_after_s)
{
    struct exposure_rate st;
    bool ok = exposure_limiter_take_rate(l, key, now_ms, &st);
    if (!ok)
        *retry_after_s = st.reset_s;
    return ok;
}

/* A key's budget: the agreement's own, or the limiter's (rate_own and
 * burst_own 0). */
struct budget {
    int64_t rate, burst;
};

/* Whole seconds (rounded up, at least 1) until the bucket holds want
 * millitokens. */
static unsigned seconds_until(struct budget bu, int64_t have, int64_t want)
{
    int64_t ms = (want - have + bu.rate - 1) / bu.rate; /* millitokens / (tokens/s) = ms */
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : (unsigned)s;
}

void exposure_rate_headers(const struct exposure_rate *st, char policy[EXPOSURE_RATE_TEXT],
                           char rate[EXPOSURE_RATE_TEXT])
{
    snprintf(policy, EXPOSURE_RATE_TEXT, "\"agreement\";q=%u;w=%u", st->quota, st->window_s);
    snprintf(rate, EXPOSURE_RATE_TEXT, "\"agreement\";r=%u;t=%u", st->remaining, st->reset_s);
}

unsigned exposure_rate_chunk(unsigned rate, unsigned burst)
{
    unsigned c = rate / 20;
    if (c > burst / 8)
        c = burst / 8;
    return c < 1 ? 1 : c;
}

int exposure_limiter_share(exposure_limiter_t *l, store_t *st, unsigned chunk, err_t *err)
{
    int rc = exposure_migrate(st, err);
    if (rc)
        return rc;
    l->shared = st;
    l->chunk = chunk < 1 ? 1 : chunk;
    return 0;
}

/* The bucket of key (hash h), found or made. Caller holds l->lock. */
static struct bucket *bucket_of(exposure_limiter_t *l, str_t key, uint64_t h, int64_t now_ms,
                                struct budget bu)
{
    struct bucket *oldest = NULL;
    for (size_t p = 0; p < EXPOSURE_RATE_PROBE; p++) {
        struct bucket *s = &l->slots[(h + p) % EXPOSURE_RATE_BUCKETS];
        if (s->used && s->hash == h && s->key_len == key.len &&
            memcmp(s->key, key.ptr, key.len) == 0)
            return s;
        if (!s->used) {
            if (!oldest || oldest->used)
                oldest = s; /* a free slot beats any used one */
        } else if (!oldest || (oldest->used && s->updated_ms < oldest->updated_ms)) {
            oldest = s;
        }
    }
    struct bucket *b = oldest;
    memset(b, 0, sizeof *b);
    b->used = true;
    b->hash = h;
    memcpy(b->key, key.ptr, key.len);
    b->key_len = key.len;
    b->tokens_milli = l->shared ? 0 : bu.burst * MILLI;
    b->updated_ms = now_ms;
    return b;
}

/* Refills b from its own clock (a process's own bucket); a bucket holding
 * more than a lowered burst is cut to it. */
static void refill_local(struct budget bu, struct bucket *b, int64_t now_ms)
{
    if (now_ms > b->updated_ms) {
        int64_t add = (now_ms - b->updated_ms) * bu.rate; /* ms * tokens/s = millitokens */
        b->tokens_milli += add;
        b->updated_ms = now_ms;
    }
    if (b->tokens_milli > bu.burst * MILLI)
        b->tokens_milli = bu.burst * MILLI;
}

/* Draws up to l->chunk whole tokens for key from the store: *got the
 * millitokens drawn (0 if the shared bucket holds less than one), *left
 * what the row holds after the draw. */
static int draw(exposure_limiter_t *l, str_t key, struct budget bu, int64_t now_ms, int64_t *got,
                int64_t *left, err_t *err)
{
    *got = 0;
    *left = 0;
    store_conn_t *c;
    int rc = store_conn_get(l->shared, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    int64_t full = bu.burst * MILLI;
    /* Refill for the time since the row was last touched (elapsed is
     * capped, so the product cannot overflow), never backwards. */
    if ((rc = store_prepare(
             c,
             "INSERT INTO exposure_rate_budget (rate_key, tokens_milli, updated_ms)"
             " VALUES (?, ?, ?) ON CONFLICT (rate_key) DO UPDATE SET"
             " tokens_milli = CASE"
             " WHEN ? <= exposure_rate_budget.updated_ms THEN exposure_rate_budget.tokens_milli"
             " WHEN ? - exposure_rate_budget.updated_ms > ?"
             "  OR exposure_rate_budget.tokens_milli"
             "     + (? - exposure_rate_budget.updated_ms) * ? >= ? THEN ?"
             " ELSE exposure_rate_budget.tokens_milli + (? - exposure_rate_budget.updated_ms) * ?"
             " END,"
             " updated_ms = CASE WHEN ? > exposure_rate_budget.updated_ms THEN ?"
             " ELSE exposure_rate_budget.updated_ms END"
             " RETURNING tokens_milli",
             &s, err)))
        goto out;
    int64_t fill_ms = full / bu.rate + 1; /* an empty bucket is full after this */
    int i = 1;
    store_bind_text(s, i++, key);
    store_bind_int64(s, i++, full);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, fill_ms);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, bu.rate);
    store_bind_int64(s, i++, full);
    store_bind_int64(s, i++, full);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, bu.rate);
    store_bind_int64(s, i++, now_ms);
    store_bind_int64(s, i++, now_ms);
    rc = store_step(s, err);
    int64_t have = rc == STORE_ROW ? store_col_int64(s, 0) : 0;
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    rc = 0;
    *left = have;
    int64_t want = (have / MILLI) * MILLI;
    if (want > l->chunk * MILLI)
        want = l->chunk * MILLI;
    for (int attempt = 0; want >= MILLI && attempt < 2; attempt++) {
        if ((rc = store_prepare(c,
                                "UPDATE exposure_rate_budget SET tokens_milli = tokens_milli - ?"
                                " WHERE rate_key = ? AND tokens_milli >= ? RETURNING tokens_milli",
                                &s, err)))
            goto out;
        store_bind_int64(s, 1, want);
        store_bind_text(s, 2, key);
        store_bind_int64(s, 3, want);
        rc = store_step(s, err);
        if (rc == STORE_ROW) {
            *got = want;
            *left = store_col_int64(s, 0);
        }
        store_stmt_done(s);
        if (rc < 0)
            goto out;
        rc = 0;
        if (*got)
            break;
        want = MILLI; /* another node drew first: one token, if one is left */
    }
out:
    store_conn_put(c);
    return rc;
}

/* Fills st from a bucket holding have millitokens (shared: with what the
 * store's row still holds added). */
static void rate_state(struct budget bu, int64_t have, struct exposure_rate *st)
{
    st->known = true;
    st->quota = (unsigned)bu.burst;
    st->window_s = (unsigned)((bu.burst + bu.rate - 1) / bu.rate);
    if (have > bu.burst * MILLI)
        have = bu.burst * MILLI;
    st->remaining = (unsigned)(have / MILLI);
    if (st->remaining == 0)
        st->reset_s = seconds_until(bu, have, MILLI);
    else if (have >= bu.burst * MILLI)
        st->reset_s = 0;
    else
        st->reset_s = seconds_until(bu, have, bu.burst * MILLI);
}

bool exposure_limiter_take_rate(exposure_limiter_t *l, str_t key, int64_t now_ms,
                                struct exposure_rate *st)
{
    return exposure_limiter_take_budget(l, key, 0, 0, now_ms, st);
}

bool exposure_limiter_take_budget(exposure_limiter_t *l, str_t key, unsigned rate_own,
                                  unsigned burst_own, int64_t now_ms, struct exposure_rate *st)
{
    struct budget bu = {rate_own ? rate_own : l->rate, burst_own ? burst_own : l->burst};
    if (key.len > EXPOSURE_RATE_KEY_MAX)
        key.len = EXPOSURE_RATE_KEY_MAX;
    uint64_t h = hash_key(key);
    pthread_mutex_lock(&l->lock);
    struct bucket *b = bucket_of(l, key, h, now_ms, bu);
    if (!l->shared) {
        refill_local(bu, b, now_ms);
    } else {
        if (now_ms - b->drawn_ms > EXPOSURE_RATE_HOLD_MS)
            b->tokens_milli = 0; /* held too long: let the other nodes have them */
        if (b->tokens_milli < MILLI) {
            pthread_mutex_unlock(&l->lock); /* no lock across a store call */
            int64_t got, left;
            err_t err;
            int rc = draw(l, key, bu, now_ms, &got, &left, &err);
            pthread_mutex_lock(&l->lock);
            b = bucket_of(l, key, h, now_ms, bu); /* the slot may have changed hands */
            if (rc == 0) {
                b->tokens_milli += got;
                b->drawn_ms = now_ms;
                b->shared_left_milli = left;
                b->updated_ms = now_ms;
            } else {
                /* The store is out of reach: this process's own bucket,
                 * so the limit still holds per node. */
                if (now_ms - l->warned_ms > 60000) {
                    l->warned_ms = now_ms;
                    log_json(LOG_WARN, "rate limit: the shared budget is out of reach; per node",
                             json_pack("{s:s}", "error", err.log));
                }
                if (b->tokens_milli < MILLI && b->drawn_ms == 0 && b->updated_ms == now_ms)
                    b->tokens_milli = bu.burst * MILLI;
                refill_local(bu, b, now_ms);
                b->drawn_ms = now_ms;
                b->shared_left_milli = 0;
            }
        }
    }
    bool ok = b->tokens_milli >= MILLI;
    if (ok)
        b->tokens_milli -= MILLI;
    rate_state(bu, b->tokens_milli + (l->shared ? b->shared_left_milli : 0), st);
    pthread_mutex_unlock(&l->lock);
    return ok;
}
