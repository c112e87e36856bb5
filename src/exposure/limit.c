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
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposure/exposure.h"

#define EXPOSURE_RATE_KEY_MAX 128 /* bytes of a key kept: longer keys are cut */
#define EXPOSURE_RATE_PROBE   8
#define MILLI                 1000LL

struct bucket {
    uint64_t hash;
    char key[EXPOSURE_RATE_KEY_MAX];
    size_t key_len;
    int64_t tokens_milli;
    int64_t updated_ms;
    bool used;
};

struct exposure_limiter {
    pthread_mutex_t lock;
    int64_t rate; /* tokens per second */
    int64_t burst;
    struct bucket *slots; /* EXPOSURE_RATE_BUCKETS */
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

/* Whole seconds (rounded up, at least 1) until the bucket holds want
 * millitokens. */
static unsigned seconds_until(const exposure_limiter_t *l, int64_t have, int64_t want)
{
    int64_t ms = (want - have + l->rate - 1) / l->rate; /* millitokens / (tokens/s) = ms */
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : (unsigned)s;
}

void exposure_rate_headers(const struct exposure_rate *st, char policy[EXPOSURE_RATE_TEXT],
                           char rate[EXPOSURE_RATE_TEXT])
{
    snprintf(policy, EXPOSURE_RATE_TEXT, "\"agreement\";q=%u;w=%u", st->quota, st->window_s);
    snprintf(rate, EXPOSURE_RATE_TEXT, "\"agreement\";r=%u;t=%u", st->remaining, st->reset_s);
}

bool exposure_limiter_take_rate(exposure_limiter_t *l, str_t key, int64_t now_ms,
                                struct exposure_rate *st)
{
    if (key.len > EXPOSURE_RATE_KEY_MAX)
        key.len = EXPOSURE_RATE_KEY_MAX;
    uint64_t h = hash_key(key);
    pthread_mutex_lock(&l->lock);
    struct bucket *b = NULL, *oldest = NULL;
    for (size_t p = 0; p < EXPOSURE_RATE_PROBE; p++) {
        struct bucket *s = &l->slots[(h + p) % EXPOSURE_RATE_BUCKETS];
        if (s->used && s->hash == h && s->key_len == key.len &&
            memcmp(s->key, key.ptr, key.len) == 0) {
            b = s;
            break;
        }
        if (!s->used) {
            if (!oldest || oldest->used)
                oldest = s; /* a free slot beats any used one */
        } else if (!oldest || (oldest->used && s->updated_ms < oldest->updated_ms)) {
            oldest = s;
        }
    }
    if (!b) {
        b = oldest;
        b->used = true;
        b->hash = h;
        memcpy(b->key, key.ptr, key.len);
        b->key_len = key.len;
        b->tokens_milli = l->burst * MILLI;
        b->updated_ms = now_ms;
    }
    if (now_ms > b->updated_ms) {
        int64_t add = (now_ms - b->updated_ms) * l->rate; /* ms * tokens/s = millitokens */
        b->tokens_milli += add;
        if (b->tokens_milli > l->burst * MILLI)
            b->tokens_milli = l->burst * MILLI;
        b->updated_ms = now_ms;
    }
    bool ok = b->tokens_milli >= MILLI;
    if (ok)
        b->tokens_milli -= MILLI;
    st->known = true;
    st->quota = (unsigned)l->burst;
    st->window_s = (unsigned)((l->burst + l->rate - 1) / l->rate);
    st->remaining = (unsigned)(b->tokens_milli / MILLI);
    if (st->remaining == 0)
        st->reset_s = seconds_until(l, b->tokens_milli, MILLI);
    else if (b->tokens_milli >= l->burst * MILLI)
        st->reset_s = 0;
    else
        st->reset_s = seconds_until(l, b->tokens_milli, l->burst * MILLI);
    pthread_mutex_unlock(&l->lock);
    return ok;
}
