/*
 * store.c: the event tables: schema, subscriptions, the change log and its
 * pages (see events.h for the design and why).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"

static const struct store_migration events_migrations[] = {
    {1,
     "CREATE TABLE events_change ("
     " seq INTEGER PRIMARY KEY,"
     " service TEXT NOT NULL,"
     " subject_kind INTEGER NOT NULL,"
     " subject INTEGER NOT NULL,"
     " period_start INTEGER NOT NULL,"
     " period_end INTEGER NOT NULL,"
     " version INTEGER NOT NULL,"
     " kind INTEGER NOT NULL,"
     " registered_ms INTEGER NOT NULL);"
     "CREATE INDEX events_change_subject ON events_change (subject_kind, subject, seq);"
     "CREATE INDEX events_change_registered ON events_change (registered_ms);"
     "CREATE TABLE events_subscription ("
     " agreement_id TEXT NOT NULL,"
     " subject_kind INTEGER NOT NULL,"
     " subject INTEGER NOT NULL,"
     " from_seq INTEGER NOT NULL,"
     " added_ms INTEGER NOT NULL,"
     " PRIMARY KEY (agreement_id, subject_kind, subject)) WITHOUT ROWID;",
     "CREATE TABLE events_change ("
     " seq BIGSERIAL PRIMARY KEY,"
     " service TEXT NOT NULL,"
     " subject_kind BIGINT NOT NULL,"
     " subject BIGINT NOT NULL,"
     " period_start BIGINT NOT NULL,"
     " period_end BIGINT NOT NULL,"
     " version BIGINT NOT NULL,"
     " kind BIGINT NOT NULL,"
     " registered_ms BIGINT NOT NULL);"
     "CREATE INDEX events_change_subject ON events_change (subject_kind, subject, seq);"
     "CREATE INDEX events_change_registered ON events_change (registered_ms);"
     "CREATE TABLE events_subscription ("
     " agreement_id TEXT NOT NULL,"
     " subject_kind BIGINT NOT NULL,"
     " subject BIGINT NOT NULL,"
     " from_seq BIGINT NOT NULL,"
     " added_ms BIGINT NOT NULL,"
     " PRIMARY KEY (agreement_id, subject_kind, subject));"},
};

int events_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "events", events_migrations,
                         sizeof events_migrations / sizeof events_migrations[0], err);
}

static bool is_pg(store_conn_t *c)
{
    return strcmp(store_conn_backend(c), "postgresql") == 0;
}

/* ---- the change log ---- */

const char *events_kind_name(enum events_kind k)
{
    switch (k) {
    case EVENTS_NEW:
        return "ny";
    case EVENTS_CHANGED:
        return "ændret";
    case EVENTS_WITHDRAWN:
        return "tilbagekaldt";
    }
    return "?";
}

int events_lock(store_conn_t *c, err_t *err)
{
    if (!is_pg(c))
        return 0;
    return store_exec(c, "LOCK TABLE events_change IN EXCLUSIVE MODE", err);
}

static const char SQL_RECORD_HEAD[] =
    "INSERT INTO events_change (service, subject_kind, subject, period_start, period_end,"
    " version, kind, registered_ms)";

static void record_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct events_change *ch = (const struct events_change *)ctx + row;
    store_bind_cstr(s, p, ch->service);
    store_bind_int64(s, p + 1, ch->subject.kind);
    store_bind_int64(s, p + 2, ch->subject.number);
    store_bind_int64(s, p + 3, ch->period_start);
    store_bind_int64(s, p + 4, ch->period_end);
    store_bind_int64(s, p + 5, ch->version);
    store_bind_int64(s, p + 6, ch->kind);
    store_bind_int64(s, p + 7, ch->registered_ms);
}

int events_record(store_conn_t *c, const struct events_change *ch, size_t n, err_t *err)
{
    return store_insert_rows(c, SQL_RECORD_HEAD, 8, n, record_bind, ch, err);
}

/* The page statement: the services as EVENTS_SERVICES_MAX places (unused
 * ones repeat the first), made once. The subscription's primary key finds
 * each change's follower; the planner may instead walk the followed
 * subjects' changes through events_change_subject, whichever is smaller. */
#define PAGE_SQL_MAX (1024 + EVENTS_SERVICES_MAX * 4)
static char page_sql[PAGE_SQL_MAX];
static pthread_once_t page_once = PTHREAD_ONCE_INIT;

static void page_make(void)
{
    size_t n = (size_t)snprintf(
        page_sql, PAGE_SQL_MAX,
        "SELECT e.seq, e.service, e.subject_kind, e.subject, e.period_start, e.period_end,"
        " e.version, e.kind, e.registered_ms FROM events_change e JOIN events_subscription s"
        " ON s.agreement_id = ? AND s.subject_kind = e.subject_kind AND s.subject = e.subject"
        " AND e.seq > s.from_seq WHERE e.seq >= ? AND e.service IN (");
    for (int i = 0; i < EVENTS_SERVICES_MAX; i++)
        n += (size_t)snprintf(page_sql + n, PAGE_SQL_MAX - n, "%s?", i ? ", " : "");
    snprintf(page_sql + n, PAGE_SQL_MAX - n, ") ORDER BY e.seq LIMIT ?");
}

int events_page(store_conn_t *c, const struct events_query *q, struct events_change *out, size_t *n,
                err_t *err)
{
    *n = 0;
    if (q->n_services == 0 || q->limit == 0)
        return 0;
    if (q->n_services > EVENTS_SERVICES_MAX)
        return err_set(err, DUPLA_EINVAL, "events: too many services");
    pthread_once(&page_once, page_make);
    store_stmt_t *s;
    int rc = store_prepare(c, page_sql, &s, err);
    if (rc)
        return rc;
    int at = 1;
    store_bind_text(s, at++, q->agreement);
    store_bind_int64(s, at++, q->from_seq);
    for (size_t i = 0; i < EVENTS_SERVICES_MAX; i++)
        store_bind_cstr(s, at++, q->services[i < q->n_services ? i : 0]);
    store_bind_int64(s, at, (int64_t)q->limit);
    while (*n < q->limit && (rc = store_step(s, err)) == STORE_ROW) {
        struct events_change *ch = &out[(*n)++];
        ch->seq = store_col_int64(s, 0);
        str_copy(store_col_text(s, 1), ch->service, sizeof ch->service);
        ch->subject.kind = (enum catalog_ident)store_col_int64(s, 2);
        ch->subject.number = store_col_int64(s, 3);
        ch->period_start = (int32_t)store_col_int64(s, 4);
        ch->period_end = (int32_t)store_col_int64(s, 5);
        ch->version = store_col_int64(s, 6);
        ch->kind = (enum events_kind)store_col_int64(s, 7);
        ch->registered_ms = store_col_int64(s, 8);
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

int events_start(store_conn_t *c, int64_t ms, int64_t *seq, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c,
        "SELECT COALESCE((SELECT MIN(seq) FROM events_change WHERE registered_ms >= ?),"
        " (SELECT MAX(seq) FROM events_change) + 1, 1)",
        &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, ms);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *seq = store_col_int64(s, 0);
    store_stmt_done(s);
    if (rc == STORE_ROW)
        return 0;
    return rc < 0 ? rc : err_set(err, DUPLA_EINTERNAL, "events: no start");
}

/* ---- subscriptions ---- */

static const char SQL_FOLLOW_PG[] =
    "INSERT INTO events_subscription (agreement_id, subject_kind, subject, from_seq, added_ms)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
static const char SQL_FOLLOW_SQLITE[] =
    "INSERT OR IGNORE INTO events_subscription (agreement_id, subject_kind, subject, from_seq,"
    " added_ms) VALUES (?, ?, ?, ?, ?)";
static const char SQL_UNFOLLOW[] =
    "DELETE FROM events_subscription WHERE agreement_id = ? AND subject_kind = ? AND subject = ?";
static const char SQL_COUNT[] = "SELECT count(*) FROM events_subscription WHERE agreement_id = ?";
static const char SQL_HEAD[] = "SELECT COALESCE(MAX(seq), 0) FROM events_change";

static int count_on(store_conn_t *c, str_t agreement, int64_t *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, SQL_COUNT, &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, agreement);
    rc = store_step(s, err);
    *out = rc == STORE_ROW ? store_col_int64(s, 0) : 0;
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static int follow_on(store_conn_t *c, str_t agreement, const struct events_subject *subjects,
                     size_t n, int64_t now_ms, size_t *added, err_t *err)
{
    int64_t head;
    int rc = store_query_int64(c, SQL_HEAD, 0, &head, err);
    if (rc)
        return rc;
    const char *sql = is_pg(c) ? SQL_FOLLOW_PG : SQL_FOLLOW_SQLITE;
    for (size_t i = 0; i < n; i++) {
        store_stmt_t *s;
        if ((rc = store_prepare(c, sql, &s, err)))
            return rc;
        store_bind_text(s, 1, agreement);
        store_bind_int64(s, 2, subjects[i].kind);
        store_bind_int64(s, 3, subjects[i].number);
        store_bind_int64(s, 4, head);
        store_bind_int64(s, 5, now_ms);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc < 0)
            return rc;
        *added += (size_t)store_changes(c);
    }
    return 0;
}

static int unfollow_on(store_conn_t *c, str_t agreement, const struct events_subject *subjects,
                       size_t n, size_t *removed, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        store_stmt_t *s;
        int rc = store_prepare(c, SQL_UNFOLLOW, &s, err);
        if (rc)
            return rc;
        store_bind_text(s, 1, agreement);
        store_bind_int64(s, 2, subjects[i].kind);
        store_bind_int64(s, 3, subjects[i].number);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc < 0)
            return rc;
        *removed += (size_t)store_changes(c);
    }
    return 0;
}

static int too_many(err_t *err, size_t max)
{
    return err_param(err, DUPLA_ELIMIT, "body",
                     "an agreement follows at most %zu subjects; remove some first", max);
}

int events_follow(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                  size_t max, int64_t now_ms, size_t *added, err_t *err)
{
    *added = 0;
    if (n > max)
        return too_many(err, max);
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    int64_t count = 0;
    if ((rc = store_begin(c, err)) == 0 &&
        (rc = follow_on(c, agreement, subjects, n, now_ms, added, err)) == 0 &&
        (rc = count_on(c, agreement, &count, err)) == 0) {
        if ((size_t)count > max)
            rc = too_many(err, max);
        else
            rc = store_commit(c, err);
    }
    if (rc)
        *added = 0;
    store_conn_put(c);
    return rc;
}

int events_unfollow(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                    size_t *removed, err_t *err)
{
    *removed = 0;
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)) == 0 &&
        (rc = unfollow_on(c, agreement, subjects, n, removed, err)) == 0)
        rc = store_commit(c, err);
    if (rc)
        *removed = 0;
    store_conn_put(c);
    return rc;
}

static int subject_cmp(const void *a, const void *b)
{
    const struct events_subject *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->number < y->number ? -1 : x->number > y->number;
}

static const char SQL_ALL[] = "SELECT subject_kind, subject FROM events_subscription"
                              " WHERE agreement_id = ? ORDER BY subject_kind, subject";

int events_replace(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                   size_t max, int64_t now_ms, size_t *added, size_t *removed, err_t *err)
{
    *added = *removed = 0;
    if (n > max)
        return too_many(err, max);
    struct events_subject *want = malloc((n + 1) * sizeof *want);
    size_t cap = 1024, n_have = 0;
    struct events_subject *have = malloc(cap * sizeof *have);
    struct events_subject *drop = NULL;
    store_conn_t *c = NULL;
    int rc = 0;
    if (!want || !have) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(want, subjects, n * sizeof *want);
    qsort(want, n, sizeof *want, subject_cmp);
    if ((rc = store_conn_get(st, &c, err)) || (rc = store_begin(c, err)))
        goto out;
    store_stmt_t *s;
    if ((rc = store_prepare(c, SQL_ALL, &s, err)))
        goto out;
    store_bind_text(s, 1, agreement);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (n_have == cap) {
            struct events_subject *more = realloc(have, 2 * cap * sizeof *have);
            if (!more) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            have = more;
            cap *= 2;
        }
        have[n_have++] = (struct events_subject){(enum catalog_ident)store_col_int64(s, 0),
                                                 store_col_int64(s, 1)};
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    /* the ones held that the new list lacks */
    drop = malloc((n_have + 1) * sizeof *drop);
    if (!drop) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto out;
    }
    size_t n_drop = 0;
    for (size_t i = 0; i < n_have; i++)
        if (!bsearch(&have[i], want, n, sizeof *want, subject_cmp))
            drop[n_drop++] = have[i];
    if ((rc = unfollow_on(c, agreement, drop, n_drop, removed, err)) ||
        (rc = follow_on(c, agreement, want, n, now_ms, added, err)) || (rc = store_commit(c, err)))
        goto out;
out:
    if (rc)
        *added = *removed = 0;
    if (c)
        store_conn_put(c);
    free(want);
    free(have);
    free(drop);
    return rc;
}

int events_count(store_t *st, str_t agreement, int64_t *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    rc = count_on(c, agreement, out, err);
    store_conn_put(c);
    return rc;
}

static const char SQL_LIST[] =
    "SELECT subject_kind, subject, added_ms FROM events_subscription WHERE agreement_id = ?"
    " AND (subject_kind > ? OR (subject_kind = ? AND subject > ?))"
    " ORDER BY subject_kind, subject LIMIT ?";

int events_list(store_t *st, str_t agreement, const struct events_subject *after,
                struct events_followed *out, size_t limit, size_t *n, err_t *err)
{
    *n = 0;
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c, SQL_LIST, &s, err)) == 0) {
        store_bind_text(s, 1, agreement);
        store_bind_int64(s, 2, after ? (int64_t)after->kind : -1);
        store_bind_int64(s, 3, after ? (int64_t)after->kind : -1);
        store_bind_int64(s, 4, after ? after->number : -1);
        store_bind_int64(s, 5, (int64_t)limit);
        while (*n < limit && (rc = store_step(s, err)) == STORE_ROW) {
            out[*n].subject = (struct events_subject){(enum catalog_ident)store_col_int64(s, 0),
                                                      store_col_int64(s, 1)};
            out[*n].added_ms = store_col_int64(s, 2);
            (*n)++;
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}
