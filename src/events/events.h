/*
 * events.h: event lists (hændelser): which subjects a recipient follows
 * under an agreement, and the thin, sequence-numbered events of changed
 * records it reads instead of re-asking every subject.
 *
 * Two tables, both this module's:
 *   events_change        one row per new version, correction or withdrawal
 *                        of a record: a platform-wide sequence number, the
 *                        service, the subject (kind and number), the period,
 *                        the version, the kind of change and the
 *                        registration time. No data fields. Written by
 *                        ingest in the delivery's own transaction
 *                        (events_record), so a delivery that fails leaves
 *                        no change behind.
 *   events_subscription  (agreement, subject kind, subject) with the
 *                        sequence number that was the newest when the
 *                        subject was added (from_seq).
 *
 * An agreement's events are derived at read time: the changes of followed
 * subjects, in services the agreement grants, numbered after the subject
 * was followed (seq > from_seq), in sequence order (events_page). So a
 * subject's changes before it was followed are never events of that
 * agreement, following costs nothing at ingest (one change row per
 * version, whatever the number of subscribers), and unfollowing stops the
 * events at once. Why not one row per subscriber at ingest: a subject
 * followed by many agreements would multiply every delivery's writes, and
 * an agreement's services can change after the fact.
 *
 * Sequence numbers are assigned in commit order, so a reader that has seen
 * N never later finds a smaller number appear: SQLite has one writer at a
 * time; on PostgreSQL a delivery takes events_lock (LOCK TABLE ... IN
 * EXCLUSIVE MODE; readers are not blocked) at its start, which serialises
 * deliveries with each other until their commit (deliveries are batch jobs;
 * the cost is stated in the README).
 *
 * Long-poll (events_wait): a process-wide generation counter bumped by
 * events_notify (ingest calls it after a commit that recorded changes) and
 * a condition variable; at most max_waiters callers wait at once, none of
 * them holding a store connection. Changes made by another process (the
 * CLI, another node) are seen at the next slice (the caller re-reads every
 * EVENTS_WAIT_SLICE_MS).
 */
#ifndef DUPLA_EVENTS_EVENTS_H
#define DUPLA_EVENTS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/str.h"
#include "store/store.h"

#define EVENTS_PAGE_DEFAULT        100  /* events in a page when Antal is not given */
#define EVENTS_PAGE_MAX            1000 /* the largest Antal */
#define EVENTS_WAIT_MAX_S          30   /* the longest Vent */
#define EVENTS_WAIT_SLICE_MS       1000 /* a waiter re-reads at least this often */
#define EVENTS_DEFAULT_MAX_WAITERS 32   /* long-polls waiting at once */
/* Subjects one agreement follows: a list of that many fits one request body
 * within the server's default body limit (1 MiB; 13 bytes a line at most). */
#define EVENTS_DEFAULT_MAX_FOLLOWED 50000
#define EVENTS_LIST_LINE_MAX        64 /* bytes of one line of an uploaded list */
#define EVENTS_LIST_PROBLEMS_MAX    100
#define EVENTS_SERVICES_MAX         CATALOG_MAX_SERVICES
#define EVENTS_AGREEMENT_ID_MAX     64
#define EVENTS_SERVICE_MAX          CATALOG_NAME_MAX

/* Applies the module's schema migrations (both backends). */
int events_migrate(store_t *st, err_t *err);

/* ---- subjects ---- */

struct events_subject {
    enum catalog_ident kind; /* CPR, CVR or SE */
    int64_t number;          /* the digits as an integer */
};

/* "CPR", "CVR" or "SE". */
const char *events_kind_word(enum catalog_ident kind);
/* The number as text, zero-padded to its kind's width (out: 11 bytes). */
void events_subject_text(const struct events_subject *s, char *out, size_t cap);
/* Parses one subject: "6601760061" (10 digits: a CPR number), or a kind
 * and a number ("CVR 12345674", "SE;12345678", "cpr,6601760061"; space,
 * tab, ';' or ',' between). 0, or DUPLA_EINVAL with err saying why. */
int events_subject_parse(str_t text, struct events_subject *out, err_t *err);

/* One problem of an uploaded list: its 1-based line and why. */
struct events_list_problem {
    long line;
    char reason[160];
};

/* Parses a list (one subject a line; blank lines and lines starting with
 * '#' are skipped; a repeated subject counts once). Subjects go to *out
 * (from a), problems to problems[0..max_problems) with *n_problems_total
 * counting all. More than max subjects is a problem at the first line too
 * many. Returns 0 when every line was good, DUPLA_EINVAL otherwise. */
int events_list_parse(str_t text, size_t max, arena_t *a, struct events_subject **out, size_t *n,
                      struct events_list_problem *problems, size_t max_problems,
                      size_t *n_problems_total);

/* ---- subscriptions ---- */

/* Follows subjects[0..n) under agreement (added now; subjects already
 * followed keep their start). Refuses (DUPLA_ELIMIT, nothing changed) when
 * the agreement would follow more than max. *added: how many were new. */
int events_follow(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                  size_t max, int64_t now_ms, size_t *added, err_t *err);
/* Stops following them (unknown ones are ignored). *removed: how many. */
int events_unfollow(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                    size_t *removed, err_t *err);
/* Replaces the whole list with subjects[0..n) (n <= max, else DUPLA_ELIMIT):
 * subjects kept keep their start, new ones start now, others are dropped. */
int events_replace(store_t *st, str_t agreement, const struct events_subject *subjects, size_t n,
                   size_t max, int64_t now_ms, size_t *added, size_t *removed, err_t *err);
/* How many subjects agreement follows. */
int events_count(store_t *st, str_t agreement, int64_t *out, err_t *err);

struct events_followed {
    struct events_subject subject;
    int64_t added_ms;
};
/* Up to limit followed subjects in (kind, number) order after `after` (NULL:
 * from the start), into out (limit entries). */
int events_list(store_t *st, str_t agreement, const struct events_subject *after,
                struct events_followed *out, size_t limit, size_t *n, err_t *err);

/* ---- changes ---- */

enum events_kind {
    EVENTS_NEW = 1,       /* "ny": the first version of a key (or the first after a withdrawal) */
    EVENTS_CHANGED = 2,   /* "ændret": a correction, a later version */
    EVENTS_WITHDRAWN = 3, /* "tilbagekaldt": the current version was withdrawn */
};
/* "ny", "ændret" or "tilbagekaldt". */
const char *events_kind_name(enum events_kind k);

struct events_change {
    int64_t seq; /* set by the store */
    char service[EVENTS_SERVICE_MAX + 1];
    struct events_subject subject;
    int32_t period_start, period_end; /* days since 1970-01-01 (a number service: the number) */
    int64_t version;
    enum events_kind kind;
    int64_t registered_ms;
};

/* Takes the change log's order lock for the caller's transaction (see
 * above); a no-op on SQLite. Call right after store_begin. */
int events_lock(store_conn_t *c, err_t *err);
/* Records changes ch[0..n) inside the caller's transaction, several rows
 * a statement (store_insert_rows; pipelined on PostgreSQL: returns before
 * the server answered). */
int events_record(store_conn_t *c, const struct events_change *ch, size_t n, err_t *err);

/* A page of agreement's events: changes numbered from_seq or later, of
 * followed subjects (after they were followed), in services[0..n_services),
 * at most limit, in sequence order, into out (limit entries). */
struct events_query {
    str_t agreement;
    const char *const *services;
    size_t n_services;
    int64_t from_seq;
    size_t limit;
};
int events_page(store_conn_t *c, const struct events_query *q, struct events_change *out, size_t *n,
                err_t *err);
/* The first sequence number registered at or after ms, or the next number
 * to come when there is none yet. */
int events_start(store_conn_t *c, int64_t ms, int64_t *seq, err_t *err);

/* ---- long-poll ---- */

/* Sets the number of waiters allowed at once (0: EVENTS_DEFAULT_MAX_WAITERS). */
void events_wait_configure(unsigned max_waiters);
/* The generation now: pass it to events_wait after reading an empty page. */
uint64_t events_generation(void);
/* Bumps the generation and wakes every waiter (after a commit with changes). */
void events_notify(void);
/* Waits until the generation moves past gen or until_ms (wall clock, ms)
 * passes: 1 woken, 0 timed out, DUPLA_EBUSY when max_waiters are waiting
 * already (answer 503). Holds no store connection. */
int events_wait(uint64_t gen, int64_t until_ms);
/* A wake-up of events_wait_async: runs on the events' waker thread, must
 * not block. */
typedef void (*events_wake_fn)(void *ctx);
/* events_wait without waiting: 0, and fn(ctx) runs exactly once, from the
 * events' waker thread, when the generation moves past gen or until_ms
 * passes (the caller then reads again); DUPLA_EBUSY when max_waiters wait
 * already, DUPLA_ENOMEM: fn never runs. */
int events_wait_async(uint64_t gen, int64_t until_ms, events_wake_fn fn, void *ctx);
/* Waiting now (metrics, tests). */
unsigned events_waiting(void);

#endif
