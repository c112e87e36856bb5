/*
 * usage.c: rate budgets per agreement and the 429s they caused (#21.5).
 *
 * A budget is two numbers on the agreement row (rate_per_second,
 * rate_burst; null: the configured default), set by the data owner's
 * dataforvaltning and carried by the registry to the data path, which sizes
 * the agreement's buckets by them.
 *
 * The disclosure log records every call after authentication but not the
 * 429s (they protect the log too), so these are counted here: in memory per
 * (Danish day, agreement, system), at most LIMITED_SLOTS keys (past that a
 * 429 is counted in `dropped` only), and added to agreement_limited by
 * agreement_limited_flush, which the server calls every few seconds; each
 * node adds its own, so the table holds the sum across nodes. Only
 * agreements the registry knows are counted, so a client cannot fill the
 * table with made-up ids.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/log.h"

#define LIMITED_SLOTS 1024

struct limited_slot {
    int32_t day;
    char agreement_id[AGREEMENT_ID_LEN + 1];
    char system_id[AGREEMENT_SYSTEM_MAX];
    int64_t calls;
};

struct agreement_limited {
    pthread_mutex_t lock;
    size_t n;
    uint64_t dropped;
    struct limited_slot slots[LIMITED_SLOTS];
};

int agreement_limited_new(struct agreement_limited **out, err_t *err)
{
    struct agreement_limited *l = calloc(1, sizeof *l);
    if (!l)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
}

void agreement_limited_free(struct agreement_limited *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static int32_t dk_day(int64_t ms)
{
    struct clock_local t;
    clock_dk_local(ms, &t);
    return clock_days_from_civil(t.year, t.month, t.day);
}

/* See agreement.h. */
void agreement_note_limited(agreement_registry_t *reg, str_t id, str_t system_id, int64_t now_ms)
{
    unsigned rate, burst;
    if (id.len != AGREEMENT_ID_LEN || system_id.len == 0 || system_id.len >= AGREEMENT_SYSTEM_MAX ||
        !agreement_rate_budget(reg, id, &rate, &burst))
        return;
    struct agreement_limited *l = agreement_registry_limited(reg);
    int32_t day = dk_day(now_ms);
    pthread_mutex_lock(&l->lock);
    struct limited_slot *x = NULL;
    for (size_t i = 0; i < l->n && !x; i++)
        if (l->slots[i].day == day && str_eq_cstr(id, l->slots[i].agreement_id) &&
            str_eq_cstr(system_id, l->slots[i].system_id))
            x = &l->slots[i];
    if (!x && l->n < LIMITED_SLOTS) {
        x = &l->slots[l->n++];
        x->day = day;
        str_copy(id, x->agreement_id, sizeof x->agreement_id);
        str_copy(system_id, x->system_id, sizeof x->system_id);
        x->calls = 0;
    }
    if (x)
        x->calls++;
    else
        l->dropped++;
    pthread_mutex_unlock(&l->lock);
}

/* See agreement.h. */
int agreement_limited_flush(agreement_t *ag, err_t *err)
{
    struct agreement_limited *l = agreement_registry_limited(ag->registry);
    pthread_mutex_lock(&l->lock);
    size_t n = l->n;
    uint64_t dropped = l->dropped;
    struct limited_slot *copy = n ? malloc(n * sizeof *copy) : NULL;
    if (copy)
        memcpy(copy, l->slots, n * sizeof *copy);
    if (copy || n == 0) {
        l->n = 0;
        l->dropped = 0;
    }
    pthread_mutex_unlock(&l->lock);
    if (dropped)
        log_warn("agreement: %llu 429 answers not counted per agreement (too many keys)",
                 (unsigned long long)dropped);
    if (n == 0)
        return 0;
    if (!copy)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    store_conn_t *c = NULL;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc == 0 && (rc = store_begin(c, err)) == 0) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            store_stmt_t *s;
            rc = store_prepare(c,
                               "INSERT INTO agreement_limited (day, agreement_id, system_id, calls)"
                               " VALUES (?, ?, ?, ?) ON CONFLICT (day, agreement_id, system_id)"
                               " DO UPDATE SET calls = agreement_limited.calls + excluded.calls",
                               &s, err);
            if (rc)
                break;
            store_bind_int64(s, 1, copy[i].day);
            store_bind_cstr(s, 2, copy[i].agreement_id);
            store_bind_cstr(s, 3, copy[i].system_id);
            store_bind_int64(s, 4, copy[i].calls);
            rc = agreement_row_exec_done(s, err);
        }
        rc = rc ? rc : store_commit(c, err);
    }
    if (c)
        store_conn_put(c);
    if (rc) {
        /* put them back, so that a passing store failure loses nothing */
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < n; i++) {
            struct limited_slot *x = NULL;
            for (size_t j = 0; j < l->n && !x; j++)
                if (l->slots[j].day == copy[i].day &&
                    strcmp(l->slots[j].agreement_id, copy[i].agreement_id) == 0 &&
                    strcmp(l->slots[j].system_id, copy[i].system_id) == 0)
                    x = &l->slots[j];
            if (!x && l->n < LIMITED_SLOTS) {
                x = &l->slots[l->n++];
                *x = copy[i];
            } else if (x) {
                x->calls += copy[i].calls;
            }
        }
        pthread_mutex_unlock(&l->lock);
    }
    free(copy);
    return rc;
}

/* See agreement.h. */
int agreement_limited_list(agreement_t *ag, const char *org_cvr, int32_t day_from, int32_t day_to,
                           int (*fn)(const struct agreement_limited_row *, void *), void *ctx,
                           err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT l.day, a.org_cvr, l.agreement_id, l.system_id, l.calls"
                       " FROM agreement_limited l JOIN agreement a ON a.id = l.agreement_id"
                       " WHERE l.day >= ? AND l.day <= ? AND (? = '' OR a.org_cvr = ?)"
                       " ORDER BY l.day, a.org_cvr, l.agreement_id, l.system_id",
                       &s, err);
    if (rc == 0) {
        const char *org = org_cvr ? org_cvr : "";
        store_bind_int64(s, 1, day_from);
        store_bind_int64(s, 2, day_to);
        store_bind_cstr(s, 3, org);
        store_bind_cstr(s, 4, org);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            struct agreement_limited_row r;
            memset(&r, 0, sizeof r);
            r.day = (int32_t)store_col_int64(s, 0);
            str_copy(store_col_text(s, 1), r.org_cvr, sizeof r.org_cvr);
            str_copy(store_col_text(s, 2), r.agreement_id, sizeof r.agreement_id);
            str_copy(store_col_text(s, 3), r.system_id, sizeof r.system_id);
            r.calls = store_col_int64(s, 4);
            if (fn(&r, ctx))
                break;
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}

/* See agreement.h. */
int agreement_set_rate(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                       unsigned rate, unsigned burst, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    if (!(actor->roles & AGREEMENT_ROLE_DATAFORVALTNING) || actor->org_cvr[0])
        return err_set(err, DUPLA_EFORBIDDEN,
                       "only the data owner's dataforvaltning sets rate budgets");
    if (rate > AGREEMENT_RATE_MAX)
        return err_param(err, DUPLA_EINVAL, "rate_per_second",
                         "rate_per_second must be 1..%d, or 0 for the default", AGREEMENT_RATE_MAX);
    if (burst > AGREEMENT_RATE_MAX)
        return err_param(err, DUPLA_EINVAL, "burst", "burst must be 1..%d, or 0 for the default",
                         AGREEMENT_RATE_MAX);
    if ((rate == 0) != (burst == 0))
        return err_param(err, DUPLA_EINVAL, rate == 0 ? "rate_per_second" : "burst",
                         "give both rate_per_second and burst, or neither (the default)");
    store_conn_t *c;
    if ((rc = store_conn_get(ag->st, &c, err)))
        return rc;
    struct ag_row row;
    int64_t now = clock_now_ms();
    if ((rc = store_begin(c, err)) == 0 && (rc = agreement_row_load(c, id, &row, err)) == 0) {
        store_stmt_t *s;
        rc = store_prepare(c,
                           "UPDATE agreement SET rate_per_second = ?, rate_burst = ?,"
                           " updated_at = ? WHERE id = ?",
                           &s, err);
        if (rc == 0) {
            if (rate)
                store_bind_int64(s, 1, rate);
            else
                store_bind_null(s, 1);
            if (burst)
                store_bind_int64(s, 2, burst);
            else
                store_bind_null(s, 2);
            store_bind_int64(s, 3, now);
            store_bind_cstr(s, 4, row.id);
            rc = agreement_row_exec_done(s, err);
        }
        if (rc == 0) {
            json_t *changes = json_pack("{s:{s:i,s:i}}", "rate", "rate_per_second", (int)rate,
                                        "burst", (int)burst);
            int64_t version = row.serving ? row.serving : row.latest;
            struct ag_version v;
            rc = agreement_version_load(c, row.id, version, &v, err);
            if (rc == 0) {
                rc = agreement_history_add(c, row.id, version, now, actor, "rate", (int)v.state,
                                           (int)v.state, changes, NULL, err);
                agreement_version_clear(&v);
            } else {
                json_decref(changes);
            }
        }
    }
    return agreement_lifecycle_finish(ag, c, rc, err);
}
