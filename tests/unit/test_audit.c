/* Unit tests: audit (recording with group commit, checkpoints, queries,
 * CSV/JSON, configuration). Tamper tests are in test_audit_verify.c, the
 * crash test in test_audit_crash.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "audit/internal.h" /* audit_open_sync: the benchmark's baseline */
#include "core/arena.h"
#include "core/clock.h"
#include "pki/pki.h"
#include "test_audit_util.h"

static struct audit_fixture fx;

static void setup(void)
{
    audit_fixture_init(&fx);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 60);

static void verify_ok(int64_t entries)
{
    struct audit_verify_result r;
    err_t err;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert(r.ok, "verify: %s at %ld: %s", audit_problem_name(r.problem), (long)r.seq, r.detail);
    cr_assert_eq(r.entries, entries);
}

Test(audit, every_disclosure_has_exactly_one_entry_with_its_subjects_and_fields)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    enum { N = 40 };
    err_t err;
    for (int n = 0; n < N; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        struct audit_receipt rc;
        cr_assert_eq(audit_record(log, &m.e, &rc, &err), 0, "%s", err.log);
        cr_assert_eq(rc.seq, n + 1);
    }
    audit_close(log);

    arena_t *a = arena_new(1 << 24);
    struct audit_filter f = {.limit = AUDIT_PAGE_MAX};
    struct audit_page p;
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), 0, "%s", err.log);
    cr_assert_eq(p.n, N);
    cr_assert_eq(p.next, 0);
    for (int n = 0; n < N; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        const struct audit_row *r = &p.rows[n];
        cr_assert_eq(r->seq, n + 1);
        cr_assert_str_eq(r->request_id, m.request);
        cr_assert_str_eq(r->org_cvr, m.org);
        cr_assert_str_eq(r->agreement_id, m.agreement);
        cr_assert_eq(r->agreement_version, m.e.agreement_version);
        cr_assert_str_eq(r->service, m.service);
        cr_assert_str_eq(r->environment, "test");
        cr_assert_eq(r->n_subjects, m.e.n_subjects);
        for (size_t i = 0; i < r->n_subjects; i++) {
            cr_assert(str_eq(r->subjects[i].id, m.subjects[i].id));
            cr_assert_eq(r->subjects[i].kind, AUDIT_SUBJECT_CPR);
        }
        cr_assert_eq(r->n_fields, 2);
        cr_assert(str_eq(r->fields[1], m.fields[1]));
        cr_assert_eq(r->n_periods, m.e.n_periods);
        cr_assert_eq(r->outcome, m.e.outcome);
        cr_assert_str_eq(r->reason, m.e.outcome == AUDIT_REFUSED ? "field-not-granted" : "");
        cr_assert_eq(r->record_count, m.e.record_count);
        if (n)
            cr_assert_geq(r->time_ms, p.rows[n - 1].time_ms);
    }
    /* Newest first: subjects are fetched in chunks of entries and must
     * still land on their own entry. */
    f.newest_first = true;
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), 0, "%s", err.log);
    cr_assert_eq(p.n, N);
    for (int n = 0; n < N; n++) {
        struct made_entry m;
        audit_make_entry(&m, N - 1 - n);
        const struct audit_row *r = &p.rows[n];
        cr_assert_eq(r->seq, N - n);
        cr_assert_eq(r->n_subjects, m.e.n_subjects, "entry %d", N - n);
        for (size_t i = 0; i < r->n_subjects; i++)
            cr_assert(str_eq(r->subjects[i].id, m.subjects[i].id));
    }
    arena_free(a);
    verify_ok(N);
}

/* ---- concurrency ---- */

struct worker {
    audit_log_t *log;
    int id, count;
    int64_t seqs[200];
    pthread_barrier_t *start;
};

static void *record_many(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < w->count; i++) {
        struct made_entry m;
        audit_make_entry(&m, w->id * 1000 + i);
        struct audit_receipt rc;
        err_t err;
        if (audit_record(w->log, &m.e, &rc, &err) != 0)
            return (void *)1;
        w->seqs[i] = rc.seq;
    }
    return NULL;
}

/* The no-fsync open is the benchmark's baseline, reachable only through the
 * module's private header: it records the same chain, only without fsync. */
Test(audit, the_benchmark_baseline_without_fsync_records_the_same_chain)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open_sync(fx.st, &o, false, &log, &err), 0, "%s", err.log);
    for (int i = 0; i < 3; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        struct audit_receipt rc;
        cr_assert_eq(audit_record(log, &m.e, &rc, &err), 0, "%s", err.log);
        cr_assert_eq(rc.seq, i + 1);
    }
    audit_close(log);
    verify_ok(3);
    o.environment = "staging";
    cr_assert_eq(audit_open_sync(fx.st, &o, false, &log, &err), DUPLA_EINVAL);
}

Test(audit, concurrent_writers_get_dense_seqs_and_share_commits)
{
    enum { T = 16, PER = 100 };
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_every = 500};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0, "%s", err.log);
    pthread_t th[T];
    struct worker w[T];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, T);
    for (int i = 0; i < T; i++) {
        w[i] = (struct worker){.log = log, .id = i, .count = PER, .start = &start};
        pthread_create(&th[i], NULL, record_many, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "worker %d failed", i);
    }
    pthread_barrier_destroy(&start);
    struct audit_stats stats;
    audit_stats_get(log, &stats);
    audit_close(log);
    cr_assert_eq(stats.entries, T * PER);
    /* 16 threads waiting on fsyncs: some commits must have carried several */
    cr_assert_lt(stats.commits, T * PER, "commits %lu", (unsigned long)stats.commits);
    static char seen[T * PER + 1];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < T; i++)
        for (int k = 0; k < PER; k++) {
            int64_t s = w[i].seqs[k];
            cr_assert(s >= 1 && s <= T * PER);
            cr_assert_eq(seen[s], 0, "seq %ld given twice", (long)s);
            seen[s] = 1;
            if (k)
                cr_assert_gt(s, w[i].seqs[k - 1]); /* one thread's entries stay in order */
        }
    verify_ok(T * PER);
    int64_t n;
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry", 0, &n, &err), 0);
    cr_assert_eq(n, T * PER);
    cr_assert_eq(store_query_int64(c, "SELECT MAX(seq) FROM audit_entry", 0, &n, &err), 0);
    cr_assert_eq(n, T * PER);
    store_conn_put(c);
}

/* Two writers on one store (two nodes of a cluster). On PostgreSQL a
 * writer whose head stayed put for a while guesses it, checking it inside
 * the batch's transaction instead of reading it first; the other writer's
 * entries make that guess wrong once, and the batch is made again on the
 * head read back: no seq is given twice, and the chain verifies. */
Test(audit, a_writer_that_guesses_its_head_notices_another_writers_entries)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_every = 1000};
    audit_log_t *a, *b;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &a, &err), 0, "%s", err.log);
    cr_assert_eq(audit_open(fx.st, &o, &b, &err), 0, "%s", err.log);
    int64_t want = 0;
    struct made_entry m;
    struct audit_receipt r;
    for (int n = 0; n < 12; n++) { /* alone long enough to guess */
        audit_make_entry(&m, n);
        cr_assert_eq(audit_record(a, &m.e, &r, &err), 0, "%s", err.log);
        cr_assert_eq(r.seq, ++want);
    }
    struct audit_stats before;
    audit_stats_get(a, &before);
    for (int n = 0; n < 3; n++) {
        audit_make_entry(&m, 100 + n);
        cr_assert_eq(audit_record(b, &m.e, &r, &err), 0, "%s", err.log);
        cr_assert_eq(r.seq, ++want);
    }
    for (int n = 0; n < 24; n++) { /* a wrong guess: 16 batches before the next */
        audit_make_entry(&m, 200 + n);
        cr_assert_eq(audit_record(a, &m.e, &r, &err), 0, "%s", err.log);
        cr_assert_eq(r.seq, ++want, "entry %d of the first writer after the second's", n);
    }
    struct audit_stats after;
    audit_stats_get(a, &after);
    audit_close(a);
    audit_close(b);
    if (strcmp(store_backend(fx.st), "postgresql") == 0) {
        cr_assert_geq(before.guesses, 3, "guesses %lu", (unsigned long)before.guesses);
        cr_assert_eq(before.wrong_guesses, 0);
        cr_assert_eq(after.wrong_guesses, 1, "wrong guesses %lu",
                     (unsigned long)after.wrong_guesses);
        /* guessing again, after twice as many unmoved batches */
        cr_assert_eq(after.guesses, before.guesses + 1 + 24 - 1 - 16, "guesses %lu",
                     (unsigned long)after.guesses);
    } else {
        cr_assert_eq(after.guesses, 0); /* SQLite reads its head: no round trip */
    }
    cr_assert_eq(after.failures, 0);
    verify_ok(want);
}

/* ---- audit_submit: completion callbacks ---- */

struct submitted {
    pthread_mutex_t mu;
    int calls[64];
    int64_t seq[64];
    pthread_t thread[64];
    int failed;
};

struct submit_ctx {
    struct submitted *s;
    int i;
};

static void on_done(void *ctx, int rc, const struct audit_receipt *receipt, const err_t *err)
{
    struct submit_ctx *c = ctx;
    pthread_mutex_lock(&c->s->mu);
    c->s->calls[c->i]++;
    c->s->thread[c->i] = pthread_self();
    if (rc == 0 && receipt)
        c->s->seq[c->i] = receipt->seq;
    else
        c->s->failed += err != NULL;
    pthread_mutex_unlock(&c->s->mu);
}

/* A submitter does not wait: its callback runs once per entry, on the
 * writer thread, after the entry is durable, with the entry's receipt; a
 * malformed entry or a full queue is refused at once and never called back. */
Test(audit, submit_calls_back_once_per_entry_after_the_commit)
{
    enum { N = 64 };
    audit_log_t *log = audit_fixture_log(&fx, 0);
    static struct submitted s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    static struct made_entry m[N];
    static struct submit_ctx ctx[N];
    err_t err;
    for (int i = 0; i < N; i++) {
        audit_make_entry(&m[i], i);
        ctx[i] = (struct submit_ctx){&s, i};
        cr_assert_eq(audit_submit(log, &m[i].e, on_done, &ctx[i], &err), 0, "%s", err.log);
    }
    struct made_entry bad;
    audit_make_entry(&bad, 99);
    bad.e.outcome = AUDIT_REFUSED;
    bad.e.reason = STR("");
    cr_assert_eq(audit_submit(log, &bad.e, on_done, &ctx[0], &err), DUPLA_EINVAL);
    audit_close(log); /* completes everything queued before it */
    for (int i = 0; i < N; i++) {
        cr_assert_eq(s.calls[i], 1, "entry %d called back %d times", i, s.calls[i]);
        cr_assert_eq(s.seq[i], i + 1, "entries keep their order");
        cr_assert(!pthread_equal(s.thread[i], pthread_self()), "called back on the writer");
    }
    cr_assert_eq(s.failed, 0);
    verify_ok(N);
}

/* Waits (up to 30 s) until entry i of s was called back. */
static void wait_called(struct submitted *s, int i)
{
    for (int t = 0; t < 30000; t++) {
        pthread_mutex_lock(&s->mu);
        int n = s->calls[i];
        pthread_mutex_unlock(&s->mu);
        if (n)
            return;
        usleep(1000);
    }
    cr_assert_fail("entry %d was never called back", i);
}

/* Two writers on one PostgreSQL store (two nodes of a busy cluster): once
 * a batch of writer a found the head moved by b, a's next batch waits
 * linger_us after its first entry for more, so that two entries queued
 * 20 ms apart go in one commit. A batch that found its own head does not
 * make the next one wait. SQLite never waits. */
Test(audit, a_writer_behind_another_lingers_for_more_entries)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_every = 1000};
    audit_log_t *a, *b;
    err_t err;
    o.linger_us = 1000000;
    cr_assert_eq(audit_open(fx.st, &o, &a, &err), 0, "%s", err.log);
    o.linger_us = 0;
    cr_assert_eq(audit_open(fx.st, &o, &b, &err), 0, "%s", err.log);
    bool pg = strcmp(store_backend(fx.st), "postgresql") == 0;
    static struct made_entry m[8];
    struct audit_receipt r;
    for (int i = 0; i < 8; i++)
        audit_make_entry(&m[i], i);
    cr_assert_eq(audit_record(a, &m[0].e, &r, &err), 0, "%s", err.log);
    cr_assert_eq(audit_record(b, &m[1].e, &r, &err), 0, "%s", err.log);
    cr_assert_eq(audit_record(a, &m[2].e, &r, &err), 0, "%s", err.log); /* finds b's entry */
    cr_assert_eq(r.seq, 3);
    struct audit_stats before, after, last;
    audit_stats_get(a, &before);
    cr_assert_eq(before.lingers, 0, "lingers %lu", (unsigned long)before.lingers);
    static struct submitted s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    static struct submit_ctx ctx[2];
    for (int i = 0; i < 2; i++)
        ctx[i] = (struct submit_ctx){&s, i};
    cr_assert_eq(audit_submit(a, &m[3].e, on_done, &ctx[0], &err), 0, "%s", err.log);
    usleep(20 * 1000);
    cr_assert_eq(audit_submit(a, &m[4].e, on_done, &ctx[1], &err), 0, "%s", err.log);
    wait_called(&s, 0);
    wait_called(&s, 1);
    cr_assert_eq(s.failed, 0);
    cr_assert_eq(s.seq[0], 4);
    cr_assert_eq(s.seq[1], 5);
    audit_stats_get(a, &after);
    if (pg) {
        cr_assert_eq(after.lingers, 1, "lingers %lu", (unsigned long)after.lingers);
        cr_assert_eq(after.commits, before.commits + 1, "the two entries in one commit");
    } else {
        cr_assert_eq(after.lingers, 0, "SQLite lingered");
    }
    /* that batch found a's own head: the next one does not wait */
    cr_assert_eq(audit_record(a, &m[5].e, &r, &err), 0, "%s", err.log);
    cr_assert_eq(r.seq, 6);
    audit_stats_get(a, &last);
    cr_assert_eq(last.lingers, after.lingers, "lingers %lu", (unsigned long)last.lingers);
    audit_close(a);
    /* c, with a short wait, while b writes between each of c's records:
     * its waits gather nothing, and once they have shown it (the 18th: the
     * average of what they gather falls under a tenth of an entry) only
     * every 16th batch waits, to see whether it pays again */
    audit_log_t *c;
    o.linger_us = 1000;
    cr_assert_eq(audit_open(fx.st, &o, &c, &err), 0, "%s", err.log);
    for (int i = 0; i < 40; i++) {
        audit_make_entry(&m[6], 100 + i);
        cr_assert_eq(audit_record(b, &m[6].e, &r, &err), 0, "%s", err.log);
        audit_make_entry(&m[7], 200 + i);
        cr_assert_eq(audit_record(c, &m[7].e, &r, &err), 0, "%s", err.log);
        cr_assert_eq(r.seq, 8 + 2 * i);
    }
    audit_stats_get(c, &last);
    /* round 1 found the head moved; rounds 2-19 waited; 35 tried again */
    cr_assert_eq(last.lingers, pg ? 19 : 0, "lingers %lu", (unsigned long)last.lingers);
    audit_close(c);
    audit_close(b);
    verify_ok(86);
}

/* Holds the database's write lock on a connection of its own. */
static store_conn_t *hold_write_lock(void)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0, "%s", err.log);
    return c;
}

/* s and ctx made ready for n entries m, made as entries 0 .. n - 1. */
static void prepare_submits(struct submitted *s, struct made_entry *m, struct submit_ctx *ctx,
                            int n)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < n; i++) {
        audit_make_entry(&m[i], i);
        ctx[i] = (struct submit_ctx){s, i};
    }
}

/* Until the writer has taken everything queued into a batch (which then
 * waits for the write lock a test holds). */
static void wait_taken(audit_log_t *log)
{
    struct audit_stats now;
    for (int t = 0;; t++) {
        audit_stats_get(log, &now);
        if (now.queued == 0)
            return;
        cr_assert_lt(t, 30000, "the writer never took the queued entries");
        usleep(1000);
    }
}

Test(audit, submit_to_a_full_queue_is_busy_and_never_called_back)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .queue_max = 1};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0, "%s", err.log);
    store_conn_t *lock = hold_write_lock();
    static struct submitted s;
    static struct made_entry m[3];
    static struct submit_ctx ctx[3];
    prepare_submits(&s, m, ctx, 3);
    cr_assert_eq(audit_submit(log, &m[0].e, on_done, &ctx[0], &err), 0);
    wait_taken(log); /* its batch waits for the lock */
    cr_assert_eq(audit_submit(log, &m[1].e, on_done, &ctx[1], &err), 0);
    cr_assert_eq(audit_submit(log, &m[2].e, on_done, &ctx[2], &err), DUPLA_EBUSY);
    cr_assert_eq(s.calls[0] + s.calls[1], 0, "nothing is durable yet");
    store_commit(lock, &err);
    store_conn_put(lock);
    audit_close(log);
    cr_assert_eq(s.calls[0], 1);
    cr_assert_eq(s.calls[1], 1);
    cr_assert_eq(s.calls[2], 0);
    verify_ok(2);
}

/* Entries queued while a batch waits for the write lock (another node's
 * batch holds it) join that batch: one commit for all, in the order they
 * were queued, rather than a second turn at the lock. */
Test(audit, entries_queued_while_a_batch_waits_for_the_lock_join_it)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_every = 1000};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0, "%s", err.log);
    struct audit_stats before, after;
    audit_stats_get(log, &before);
    store_conn_t *lock = hold_write_lock();
    static struct submitted s;
    static struct made_entry m[5];
    static struct submit_ctx ctx[5];
    prepare_submits(&s, m, ctx, 5);
    cr_assert_eq(audit_submit(log, &m[0].e, on_done, &ctx[0], &err), 0, "%s", err.log);
    /* once the writer took it, its batch waits for the lock until the
     * commit below, whenever the others are queued */
    wait_taken(log);
    for (int i = 1; i < 5; i++)
        cr_assert_eq(audit_submit(log, &m[i].e, on_done, &ctx[i], &err), 0, "%s", err.log);
    cr_assert_eq(store_commit(lock, &err), 0, "%s", err.log);
    store_conn_put(lock);
    for (int i = 0; i < 5; i++)
        wait_called(&s, i);
    cr_assert_eq(s.failed, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(s.seq[i], i + 1, "entry %d has seq %lld", i, (long long)s.seq[i]);
    audit_stats_get(log, &after);
    cr_assert_eq(after.latecomers - before.latecomers, 4, "latecomers %lu",
                 (unsigned long)(after.latecomers - before.latecomers));
    cr_assert_eq(after.commits - before.commits, 1, "commits %lu",
                 (unsigned long)(after.commits - before.commits));
    audit_close(log);
    verify_ok(5);
}

/* ---- a full queue, and a failed commit ---- */

struct one {
    audit_log_t *log;
    int n, rc;
    int64_t seq;
};

static void *record_one(void *arg)
{
    struct one *o = arg;
    struct made_entry m;
    audit_make_entry(&m, o->n);
    struct audit_receipt r;
    err_t err;
    o->rc = audit_record(o->log, &m.e, &r, &err);
    o->seq = o->rc ? 0 : r.seq;
    return NULL;
}

Test(audit, a_full_queue_answers_busy_at_once)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .queue_max = 1};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0, "%s", err.log);
    store_conn_t *lock = hold_write_lock();
    struct one a = {.log = log, .n = 1}, b = {.log = log, .n = 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, record_one, &a);
    usleep(200 * 1000); /* the writer took a and waits for the lock */
    pthread_create(&tb, NULL, record_one, &b);
    usleep(200 * 1000); /* b fills the queue */
    struct made_entry m;
    audit_make_entry(&m, 3);
    int64_t t0 = clock_mono_ns();
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EBUSY);
    cr_assert_lt(clock_mono_ns() - t0, 100 * 1000000LL, "busy must be answered at once");
    store_commit(lock, &err);
    store_conn_put(lock);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(b.rc, 0);
    struct audit_stats s;
    audit_stats_get(log, &s);
    cr_assert_eq(s.busy, 1);
    audit_close(log);
    verify_ok(2);
}

Test(audit, a_failed_commit_fails_every_waiter_of_its_batch_and_the_log_goes_on)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    struct one first = {.log = log, .n = 0};
    record_one(&first);
    cr_assert_eq(first.rc, 0);
    /* While the writer waits for the lock with entry 2, another writer
     * that keeps no Merkle tree (not dupla's) plants a row at seq 2. The
     * writer reads the moved head inside its transaction, finds the tree
     * short of it and fails that batch; the three entries queued behind it
     * make the next batch, whose writer reads the head again (building the
     * tree over the planted row, as for a log from before the tree) and
     * goes on at 3. */
    store_conn_t *lock = hold_write_lock();
    struct one o[4];
    pthread_t th[4];
    o[0] = (struct one){.log = log, .n = 1};
    pthread_create(&th[0], NULL, record_one, &o[0]);
    usleep(200 * 1000);
    for (int i = 1; i < 4; i++) {
        o[i] = (struct one){.log = log, .n = 1 + i};
        pthread_create(&th[i], NULL, record_one, &o[i]);
    }
    usleep(300 * 1000);
    bool pg = strcmp(store_backend(fx.st), "postgresql") == 0;
    cr_assert_eq(
        store_exec(lock,
                   pg ? "INSERT INTO audit_entry VALUES (2, 0, 'test', 'x', 'x', 'x', 1, "
                        "'x', 'planted', 'x', '[]', '[]', 0, 'disclosed', '', "
                        "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), 1, '', "
                        "'', '')"
                      : "INSERT INTO audit_entry VALUES (2, 0, 'test', 'x', 'x', 'x', 1, "
                        "'x', 'planted', 'x', '[]', '[]', 0, 'disclosed', '', "
                        "zeroblob(32), zeroblob(32), 1, '', '', '')",
                   &err),
        0, "%s", err.log);
    cr_assert_eq(store_commit(lock, &err), 0);
    store_conn_put(lock);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_neq(o[0].rc, 0, "entry 1 was in the failed batch");
    for (int i = 1; i < 4; i++) {
        cr_assert_eq(o[i].rc, 0, "entry %d came after the failed batch", i);
        cr_assert_geq(o[i].seq, 3);
        cr_assert_leq(o[i].seq, 5);
    }
    /* Nothing of the failed batch is in the log. */
    store_conn_t *c;
    int64_t n;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry", 0, &n, &err), 0);
    cr_assert_eq(n, 5); /* 1, the planted 2, and 3 to 5 */
    store_conn_put(c);
    struct one after = {.log = log, .n = 9};
    record_one(&after);
    cr_assert_eq(after.rc, 0);
    cr_assert_eq(after.seq, 6);
    struct audit_stats s;
    audit_stats_get(log, &s);
    cr_assert_eq(s.failures, 1);
    audit_close(log);
}

struct counted {
    pthread_mutex_t mu;
    int done, failed;
};

static void count_done(void *ctx, int rc, const struct audit_receipt *receipt, const err_t *err)
{
    (void)receipt;
    (void)err;
    struct counted *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->done++;
    c->failed += rc != 0;
    pthread_mutex_unlock(&c->mu);
}

/* A batch of many entries: each table's rows go in multi-row statements
 * of at most STORE_INSERT_ROWS rows, so an entry's child rows may straddle
 * two statements, and the batch's tree nodes go at once. While another
 * connection holds the write lock the writer waits with its first batch,
 * and everything submitted meanwhile makes the next one. */
Test(audit, a_batch_of_many_entries_is_stored_whole_and_verifies)
{
    enum { N = 301 };
    static struct made_entry m[N];
    struct counted cnt = {.done = 0};
    pthread_mutex_init(&cnt.mu, NULL);
    audit_log_t *log = audit_fixture_log(&fx, 100); /* a checkpoint inside the big batch */
    err_t err;
    int64_t subjects = 0, deliveries = 0, versions = 0;
    for (int i = 0; i < N; i++) {
        audit_make_entry(&m[i], i);
        subjects += (int64_t)m[i].e.n_subjects;
        deliveries += (int64_t)m[i].e.n_deliveries;
        versions += (int64_t)m[i].e.n_versions;
    }
    store_conn_t *lock = hold_write_lock();
    cr_assert_eq(audit_submit(log, &m[0].e, count_done, &cnt, &err), 0, "%s", err.log);
    wait_taken(log); /* entry 0's batch waits for the lock */
    for (int i = 1; i < N; i++)
        cr_assert_eq(audit_submit(log, &m[i].e, count_done, &cnt, &err), 0, "%s", err.log);
    store_rollback(lock);
    store_conn_put(lock);
    for (int waited = 0;; waited++) {
        pthread_mutex_lock(&cnt.mu);
        int done = cnt.done;
        pthread_mutex_unlock(&cnt.mu);
        if (done == N)
            break;
        cr_assert_lt(waited, 5000, "%d of %d entries told", done, N);
        usleep(10 * 1000);
    }
    cr_assert_eq(cnt.failed, 0);
    struct audit_stats st;
    audit_stats_get(log, &st);
    cr_assert_leq(st.commits, 2, "%lu commits: the entries did not make one batch",
                  (unsigned long)st.commits);
    cr_assert_geq(st.checkpoints, 1);
    audit_close(log);
    pthread_mutex_destroy(&cnt.mu);
    store_conn_t *c;
    int64_t n;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry_subject", 0, &n, &err), 0);
    cr_assert_eq(n, subjects);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry_delivery", 0, &n, &err), 0);
    cr_assert_eq(n, deliveries);
    cr_assert_eq(store_query_int64(c, "SELECT COUNT(*) FROM audit_entry_version", 0, &n, &err), 0);
    cr_assert_eq(n, versions);
    cr_assert_eq(store_query_int64(c, "SELECT MAX(end_size) FROM audit_tree_node", 0, &n, &err), 0);
    cr_assert_eq(n, N);
    store_conn_put(c);
    verify_ok(N); /* every entry re-encoded from its rows, the tree and the checkpoints */
}

Test(audit, malformed_entries_are_refused_with_the_field_named)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    struct made_entry m;

    audit_make_entry(&m, 4); /* a refusal */
    m.e.reason = STR("");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "reason");

    audit_make_entry(&m, 1);
    m.e.service = (str_t){"\xc3\x28", 2};
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "service");

    audit_make_entry(&m, 1);
    m.e.request_id = (str_t){"a\0b", 3};
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "request_id");

    static char longtext[AUDIT_TEXT_MAX + 1];
    memset(longtext, 'x', sizeof longtext);
    audit_make_entry(&m, 1);
    m.e.agreement_id = (str_t){longtext, sizeof longtext};
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_ELIMIT);
    cr_assert_str_eq(err.param, "agreement_id");

    audit_make_entry(&m, 1);
    m.e.n_subjects = AUDIT_SUBJECTS_MAX + 1;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_ELIMIT);
    cr_assert_str_eq(err.param, "subjects");

    audit_make_entry(&m, 1);
    m.subjects[0].kind = (enum audit_subject_kind)7;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "subjects");

    audit_make_entry(&m, 1);
    m.subjects[0].id = STR("");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);

    audit_make_entry(&m, 1);
    m.e.outcome = (enum audit_outcome)5;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "outcome");

    audit_make_entry(&m, 1);
    m.e.record_count = -1;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);

    audit_make_entry(&m, 1);
    m.e.fields = NULL;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "fields");

    /* Danish letters are fine. */
    audit_make_entry(&m, 1);
    m.e.service = STR("\xc3\x85rsopg\xc3\xb8relse");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    audit_close(log);
    verify_ok(1);
}

Test(audit, open_refuses_an_unknown_environment)
{
    struct audit_options o = {.environment = "staging"};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "environment");
}

/* ---- checkpoints ---- */

static int64_t count(const char *sql)
{
    store_conn_t *c;
    err_t err;
    int64_t n;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, sql, -1, &n, &err), 0, "%s", err.log);
    store_conn_put(c);
    return n;
}

Test(audit, checkpoints_every_n_entries_and_at_close_and_export_round_trips)
{
    audit_log_t *log = audit_fixture_log(&fx, 10);
    err_t err;
    for (int n = 0; n < 25; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 2);
    cr_assert_eq(count("SELECT MIN(seq) FROM audit_checkpoint"), 10);
    audit_close(log);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 3);

    struct audit_checkpoint cp, back;
    cr_assert_eq(audit_checkpoint_latest(fx.st, &cp, &err), 0, "%s", err.log);
    cr_assert_eq(cp.seq, 25);
    cr_assert_str_eq(cp.environment, "test");
    cr_assert_str_eq(cp.kid, pki_signer_kid(fx.signer));
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(fx.signer, pub);
    cr_assert_eq(audit_checkpoint_check(&cp, pub, &err), 0);

    buf_t b;
    buf_init(&b, 1 << 16);
    cr_assert_eq(audit_checkpoint_to_json(&cp, &b), 0);
    cr_assert_eq(audit_checkpoint_from_json(buf_str(&b), &back, &err), 0, "%s", err.log);
    cr_assert_eq(memcmp(&cp, &back, sizeof cp), 0);
    json_t *j = json_loads(b.data, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "dupla-audit-checkpoint-1");
    json_decref(j);
    buf_free(&b);

    /* A changed seq, hash or time no longer matches the signature. */
    back.seq = 24;
    cr_assert_eq(audit_checkpoint_check(&back, pub, &err), DUPLA_ECRYPTO);
    back = cp;
    back.chain_hash[0] ^= 1;
    cr_assert_eq(audit_checkpoint_check(&back, pub, &err), DUPLA_ECRYPTO);
    back = cp;
    back.time_ms++;
    cr_assert_eq(audit_checkpoint_check(&back, pub, &err), DUPLA_ECRYPTO);

    /* Malformed exports are refused, naming the field. */
    cr_assert_eq(audit_checkpoint_from_json(STR("[]"), &back, &err), DUPLA_EINVAL);
    cr_assert_eq(audit_checkpoint_from_json(STR("{\"format\":\"other\"}"), &back, &err),
                 DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "format");
    cr_assert_eq(audit_checkpoint_from_json(
                     STR("{\"format\":\"dupla-audit-checkpoint-1\",\"seq\":3,\"time_ms\":1,"
                         "\"environment\":\"test\",\"kid\":\"k\",\"chain_hash\":\"00\","
                         "\"public_key\":\"AA\",\"signature\":\"AA\"}"),
                     &back, &err),
                 DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "chain_hash");
    verify_ok(25);
}

Test(audit, a_checkpoint_is_signed_after_checkpoint_seconds_when_idle)
{
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_seconds = 1};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0, "%s", err.log);
    struct made_entry m;
    audit_make_entry(&m, 0);
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 0);
    usleep(1600 * 1000);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 1);
    cr_assert_eq(count("SELECT seq FROM audit_checkpoint"), 1);
    audit_close(log); /* nothing new: no second checkpoint */
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 1);
}

Test(audit, checkpoint_now_and_a_log_without_a_key)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    cr_assert_eq(audit_checkpoint_now(log, &err), 0); /* empty: nothing to sign */
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 0);
    struct made_entry m;
    audit_make_entry(&m, 0);
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    cr_assert_eq(audit_checkpoint_now(log, &err), 0);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 1);
    audit_close(log);

    struct audit_options o = {.environment = "test"};
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), 0);
    cr_assert_eq(audit_checkpoint_now(log, &err), DUPLA_ECONFLICT);
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    audit_close(log);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 1);
    verify_ok(2);
}

Test(audit, reopening_continues_the_chain)
{
    for (int round = 0; round < 3; round++) {
        audit_log_t *log = audit_fixture_log(&fx, 0);
        err_t err;
        for (int n = 0; n < 5; n++) {
            struct made_entry m;
            audit_make_entry(&m, round * 10 + n);
            struct audit_receipt r;
            cr_assert_eq(audit_record(log, &m.e, &r, &err), 0);
            cr_assert_eq(r.seq, round * 5 + n + 1);
        }
        audit_close(log);
    }
    verify_ok(15);
    cr_assert_eq(count("SELECT COUNT(*) FROM audit_checkpoint"), 3);
}

Test(audit, the_tables_are_append_only)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    struct made_entry m;
    err_t err;
    audit_make_entry(&m, 2); /* with a case reference, deliveries and versions */
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0);
    audit_close(log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_entry SET org_cvr = 'x'", &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_entry SET case_ref = 'x'", &err), 0);
    cr_assert_neq(store_exec(c, "DELETE FROM audit_entry_delivery", &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_entry_delivery SET delivery_id = 'x'", &err), 0);
    cr_assert_neq(store_exec(c, "DELETE FROM audit_entry_version", &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_entry_version SET version = 9", &err), 0);
    cr_assert_neq(store_exec(c, "DELETE FROM audit_entry", &err), 0);
    cr_assert_neq(store_exec(c, "DELETE FROM audit_entry_subject", &err), 0);
    cr_assert_neq(store_exec(c, "UPDATE audit_checkpoint SET seq = 3", &err), 0);
    store_conn_put(c);
    verify_ok(1);
}

/* ---- queries ---- */

static int lookup(void *ctx, str_t id, int64_t version, arena_t *a,
                  struct audit_agreement_info *out, err_t *err)
{
    (void)ctx;
    (void)err;
    if (!str_eq_cstr(id, "agreement-1"))
        return DUPLA_ENOTFOUND;
    out->purpose = arena_printf(a, "Social benefits, version %ld", (long)version);
    out->legal_basis = "Lov om social pension \xc2\xa7 1";
    return 0;
}

static void record_n(int n)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    for (int i = 0; i < n; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
}

static size_t query(struct audit_filter *f, struct audit_page *p, arena_t *a)
{
    err_t err;
    struct audit_query_options qo = {.agreement_lookup = lookup};
    cr_assert_eq(audit_query(fx.st, f, &qo, a, p, &err), 0, "%s", err.log);
    return p->n;
}

Test(audit, queries_filter_by_organisation_agreement_service_subject_time_and_outcome)
{
    record_n(30);
    arena_t *a = arena_new(1 << 24);
    struct audit_page p;

    struct audit_filter f = {.org_cvr = STR("11111111"), .limit = 100};
    cr_assert_eq(query(&f, &p, a), 10); /* n % 3 == 1 */
    for (size_t i = 0; i < p.n; i++)
        cr_assert_str_eq(p.rows[i].org_cvr, "11111111");

    f = (struct audit_filter){
        .org_cvr = STR("11111111"), .agreement_id = STR("agreement-1"), .limit = 100};
    cr_assert_eq(query(&f, &p, a), 5); /* n % 6 == 1 */
    cr_assert_str_eq(p.rows[0].purpose, "Social benefits, version 2");
    cr_assert_not_null(p.rows[0].legal_basis);

    f = (struct audit_filter){.agreement_id = STR("agreement-0"), .limit = 100};
    cr_assert_eq(query(&f, &p, a), 15);
    cr_assert_null(p.rows[0].purpose); /* the lookup does not know it */

    f = (struct audit_filter){.service = STR("Momsangivelse"), .limit = 100};
    cr_assert_eq(query(&f, &p, a), 15);

    f = (struct audit_filter){.outcome_set = true, .outcome = AUDIT_REFUSED, .limit = 100};
    cr_assert_eq(query(&f, &p, a), 6); /* n % 5 == 4 */
    cr_assert_str_eq(p.rows[0].reason, "field-not-granted");

    /* The citizen: entry 7 (n = 6) has 3 subjects; the second is asked about. */
    struct made_entry m;
    audit_make_entry(&m, 6);
    f = (struct audit_filter){.subject = m.subjects[1].id, .limit = 100};
    cr_assert_eq(query(&f, &p, a), 1);
    cr_assert_eq(p.rows[0].seq, 7);
    cr_assert_eq(p.rows[0].n_subjects, 1, "only the subject asked about is shown");
    cr_assert(str_eq(p.rows[0].subjects[0].id, m.subjects[1].id));
    f.subject_kind_set = true;
    f.subject_kind = AUDIT_SUBJECT_CVR;
    cr_assert_eq(query(&f, &p, a), 0);
    f.subject_kind = AUDIT_SUBJECT_CPR;
    cr_assert_eq(query(&f, &p, a), 1);

    /* Time: everything is from now; a range in the past finds nothing. */
    int64_t now = clock_now_ms();
    f = (struct audit_filter){.from_ms = now - 60000, .to_ms = now + 60000, .limit = 100};
    cr_assert_eq(query(&f, &p, a), 30);
    f = (struct audit_filter){.from_ms = 1000, .to_ms = now - 60000, .limit = 100};
    cr_assert_eq(query(&f, &p, a), 0);
    f = (struct audit_filter){.from_ms = now + 60000, .limit = 100};
    cr_assert_eq(query(&f, &p, a), 0);

    /* Refused filters. */
    err_t err;
    f = (struct audit_filter){.from_ms = 5000, .to_ms = 5000};
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "to");
    f = (struct audit_filter){.limit = AUDIT_PAGE_MAX + 1};
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "limit");
    f = (struct audit_filter){.after = -1};
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), DUPLA_EINVAL);
    arena_free(a);
}

Test(audit, each_viewer_sees_only_what_it_has_a_right_to)
{
    record_n(12);
    arena_t *a = arena_new(1 << 24);
    struct audit_page p;
    err_t err;

    struct audit_filter f = {.limit = 100};
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_DATA_OWNER, STR(""), &f, &err), 0);
    cr_assert_eq(query(&f, &p, a), 12);

    /* A recipient: its own disclosures, whatever it leaves out of the filter. */
    f = (struct audit_filter){.limit = 100};
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_RECIPIENT, STR("22222222"), &f, &err), 0);
    cr_assert_eq(query(&f, &p, a), 4); /* n % 3 == 2 */
    for (size_t i = 0; i < p.n; i++)
        cr_assert_str_eq(p.rows[i].org_cvr, "22222222");
    f = (struct audit_filter){.org_cvr = STR("11111111")};
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_RECIPIENT, STR("22222222"), &f, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.param, "organisation");
    f = (struct audit_filter){.org_cvr = STR("22222222"), .agreement_id = STR("agreement-0")};
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_RECIPIENT, STR("22222222"), &f, &err), 0);
    cr_assert_eq(query(&f, &p, a), 2); /* n = 2, 8 */

    /* A subject: only with a subject named. */
    f = (struct audit_filter){.limit = 100};
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_SUBJECT, STR(""), &f, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "subject");
    struct made_entry m;
    audit_make_entry(&m, 3);
    f.subject = m.subjects[0].id;
    cr_assert_eq(audit_filter_scope(AUDIT_VIEWER_SUBJECT, STR(""), &f, &err), 0);
    cr_assert_eq(query(&f, &p, a), 1);
    cr_assert_eq(p.rows[0].n_subjects, 1);
    cr_assert_str_eq(p.rows[0].purpose, "Social benefits, version 1"); /* n = 3: agreement-1 */
    arena_free(a);
}

Test(audit, pages_follow_the_cursor_both_ways_without_gaps)
{
    record_n(23);
    arena_t *a = arena_new(1 << 24);
    struct audit_page p;
    int64_t expect = 1;
    struct audit_filter f = {.limit = 5};
    int pages = 0;
    do {
        query(&f, &p, a);
        pages++;
        for (size_t i = 0; i < p.n; i++)
            cr_assert_eq(p.rows[i].seq, expect++);
        f.after = p.next;
    } while (p.next);
    cr_assert_eq(expect, 24);
    cr_assert_eq(pages, 5);

    f = (struct audit_filter){.limit = 10, .newest_first = true};
    expect = 23;
    do {
        query(&f, &p, a);
        for (size_t i = 0; i < p.n; i++)
            cr_assert_eq(p.rows[i].seq, expect--);
        f.after = p.next;
    } while (p.next);
    cr_assert_eq(expect, 0);

    /* A filtered page: the cursor skips what does not match. */
    f = (struct audit_filter){.org_cvr = STR("12345674"), .limit = 3};
    query(&f, &p, a);
    cr_assert_eq(p.n, 3);
    cr_assert_eq(p.next, 7); /* n = 0, 3, 6 -> seqs 1, 4, 7 */
    f.after = p.next;
    query(&f, &p, a);
    cr_assert_eq(p.rows[0].seq, 10);
    arena_free(a);
}

Test(audit, a_page_larger_than_its_arena_is_refused)
{
    record_n(5);
    arena_t *a = arena_new(512);
    struct audit_page p;
    struct audit_filter f = {.limit = 5};
    err_t err;
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), DUPLA_ELIMIT);
    arena_free(a);
}

Test(audit, csv_quotes_cells_and_defuses_formulas)
{
    struct audit_subject subj[2] = {{AUDIT_SUBJECT_CPR, STR("0101801234")},
                                    {AUDIT_SUBJECT_SE, STR("12345678")}};
    str_t fields[2] = {STR("A"), STR("B,\"C\"")};
    struct audit_row r = {
        .seq = 9,
        .time_ms = 86400000,
        .environment = "test",
        .org_cvr = "12345674",
        .system_id = "=cmd|' /C calc'!A0",
        .agreement_id = "ag",
        .agreement_version = 2,
        .service = "Momsangivelse",
        .request_id = "r",
        .transaction_id = "t",
        .subjects = subj,
        .n_subjects = 2,
        .fields = fields,
        .n_fields = 2,
        .record_count = 3,
        .outcome = AUDIT_DISCLOSED,
        .reason = "",
        .purpose = "line1\nline2",
    };
    buf_t b;
    buf_init(&b, 1 << 16);
    cr_assert_eq(audit_csv_header(&b), 0);
    cr_assert_eq(audit_row_csv(&r, &b), 0);
    cr_assert(strstr(b.data, "seq,time,environment,organisation,") == b.data);
    cr_assert(strstr(b.data,
                     "9,1970-01-02T00:00:00.000Z,test,12345674,'=cmd|' /C calc'!A0,ag,2,") != NULL,
              "%s", b.data);
    cr_assert(strstr(b.data, "\"line1\nline2\"") != NULL);
    cr_assert(strstr(b.data, "\"cpr:0101801234;se:12345678\"") != NULL, "%s", b.data);
    cr_assert(strstr(b.data, "\"A;B,\"\"C\"\"\"") != NULL, "%s", b.data);
    cr_assert(strstr(b.data, ",3,disclosed,,") != NULL, "%s", b.data);
    cr_assert_eq(b.data[b.len - 2], '\r');

    buf_reset(&b);
    struct audit_page p = {.rows = &r, .n = 1, .next = 42};
    cr_assert_eq(audit_page_json(&p, &b), 0);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, b.data);
    cr_assert_eq(json_integer_value(json_object_get(j, "next")), 42);
    json_t *row = json_array_get(json_object_get(j, "data"), 0);
    cr_assert_eq(json_integer_value(json_object_get(row, "seq")), 9);
    cr_assert_str_eq(json_string_value(json_object_get(row, "system")), "=cmd|' /C calc'!A0");
    json_t *ag = json_object_get(row, "agreement");
    cr_assert_str_eq(json_string_value(json_object_get(ag, "purpose")), "line1\nline2");
    cr_assert(json_is_null(json_object_get(ag, "legal_basis")));
    json_t *s1 = json_array_get(json_object_get(row, "subjects"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(s1, "type")), "se");
    cr_assert_str_eq(json_string_value(json_object_get(s1, "number")), "12345678");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(row, "fields"), 1)),
                     "B,\"C\"");
    cr_assert(json_is_null(json_object_get(row, "reason")));
    cr_assert_eq(json_string_length(json_object_get(row, "entry_hash")), 64);
    json_decref(j);

    buf_reset(&b);
    p.next = 0;
    p.n = 0;
    cr_assert_eq(audit_page_json(&p, &b), 0);
    cr_assert_str_eq(b.data, "{\"data\":[],\"next\":null}");
    buf_free(&b);
}

/* ---- the canonical encoding ---- */

Test(audit, the_canonical_encoding_is_fixed)
{
    struct audit_subject s = {AUDIT_SUBJECT_SE, STR("12345678")};
    str_t field = STR("F");
    struct audit_entry e = {.org_cvr = STR("1"),
                            .subjects = &s,
                            .n_subjects = 1,
                            .fields = &field,
                            .n_fields = 1,
                            .record_count = 2};
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(audit_canonical_encode(&e, 258, 1, STR("test"), &b), 0);
    static const unsigned char expect[] = {
        0, 0, 0, 2,                                              /* version */
        0, 0, 0, 0, 0,   0,   1,   2,                            /* seq 258 */
        0, 0, 0, 0, 0,   0,   0,   1,                            /* time */
        0, 0, 0, 4, 't', 'e', 's', 't',                          /* environment */
        0, 0, 0, 1, '1',                                         /* organisation */
        0, 0, 0, 0,                                              /* system */
        0, 0, 0, 0,                                              /* agreement */
        0, 0, 0, 0, 0,   0,   0,   0,                            /* agreement version */
        0, 0, 0, 0, 0,   0,   0,   0,   0,   0,   0,   0,        /* service, request, transaction */
        0, 0, 0, 1,                                              /* one subject */
        0, 0, 0, 2, 's', 'e',                                    /* its kind */
        0, 0, 0, 8, '1', '2', '3', '4', '5', '6', '7', '8',      /* its number */
        0, 0, 0, 0,                                              /* no periods */
        0, 0, 0, 1, 0,   0,   0,   1,   'F',                     /* one field */
        0, 0, 0, 0, 0,   0,   0,   2,                            /* records */
        0, 0, 0, 9, 'd', 'i', 's', 'c', 'l', 'o', 's', 'e', 'd', /* outcome */
        0, 0, 0, 0,                                              /* reason */
        0, 0, 0, 0,                                              /* case reference */
        0, 0, 0, 0,                                              /* no deliveries */
        0, 0, 0, 0,                                              /* no versions */
    };
    cr_assert_eq(b.len, sizeof expect);
    cr_assert_eq(memcmp(b.data, expect, sizeof expect), 0);
    unsigned char zero[AUDIT_HASH_LEN] = {0}, h1[AUDIT_HASH_LEN], h2[AUDIT_HASH_LEN];
    cr_assert_eq(audit_chain_hash(zero, buf_str(&b), h1), 0);
    zero[31] = 1;
    cr_assert_eq(audit_chain_hash(zero, buf_str(&b), h2), 0);
    cr_assert_neq(memcmp(h1, h2, AUDIT_HASH_LEN), 0);
    buf_free(&b);
}

Test(audit, the_canonical_encoding_of_version_2_holds_case_reference_deliveries_and_versions)
{
    str_t delivery = STR("L1");
    struct audit_version v = {0, AUDIT_SUBJECT_CPR, STR("0101801234"), STR("2023"), 3};
    struct audit_entry e = {.case_ref = STR("S-7"),
                            .deliveries = &delivery,
                            .n_deliveries = 1,
                            .versions = &v,
                            .n_versions = 1};
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(audit_canonical_encode(&e, 1, 1, STR("test"), &b), 0);
    static const unsigned char tail[] = {
        0, 0, 0, 3,  'S', '-', '7',                                    /* case reference */
        0, 0, 0, 1,  0,   0,   0,   2,   'L', '1',                     /* one delivery */
        0, 0, 0, 1,                                                    /* one version: */
        0, 0, 0, 0,                                                    /* its delivery */
        0, 0, 0, 3,  'c', 'p', 'r',                                    /* its subject's kind */
        0, 0, 0, 10, '0', '1', '0', '1', '8', '0', '1', '2', '3', '4', /* number */
        0, 0, 0, 4,  '2', '0', '2', '3',                               /* period */
        0, 0, 0, 0,  0,   0,   0,   3,                                 /* version */
    };
    cr_assert_geq(b.len, sizeof tail);
    cr_assert_eq(memcmp((const char *)b.data + b.len - sizeof tail, tail, sizeof tail), 0);
    buf_free(&b);
}

Test(audit, the_canonical_encoding_of_version_3_adds_supplier_and_on_behalf)
{
    struct audit_entry e = {.supplier_cvr = STR("50000001")};
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(audit_canonical_encode(&e, 1, 1, STR("test"), &b), 0);
    cr_assert_eq(((const unsigned char *)b.data)[3], 3, "version 3");
    static const unsigned char tail[] = {
        0, 0, 0, 0,                                         /* no versions */
        0, 0, 0, 8, '5', '0', '0', '0', '0', '0', '0', '1', /* supplier */
        0, 0, 0, 0,                                         /* on behalf of */
    };
    cr_assert_eq(memcmp((const char *)b.data + b.len - sizeof tail, tail, sizeof tail), 0);
    /* neither: version 2, as before */
    buf_reset(&b);
    e.supplier_cvr = STR("");
    cr_assert_eq(audit_canonical_encode(&e, 1, 1, STR("test"), &b), 0);
    cr_assert_eq(((const unsigned char *)b.data)[3], 2);
    buf_free(&b);
}

/* Entries with a supplier or an on-behalf party are written in version 3
 * among version 2 ones, verify, read back in every view, are refused when
 * malformed, and a change to either field is found. */
Test(audit, version_3_entries_are_recorded_read_and_verified)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    for (int n = 0; n < 4; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        if (n == 1)
            m.e.supplier_cvr = STR("50000001");
        if (n == 2)
            m.e.on_behalf_se = STR("11223344");
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    struct made_entry bad;
    audit_make_entry(&bad, 5);
    bad.e.on_behalf_se = STR("1122");
    cr_assert_eq(audit_record(log, &bad.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "on_behalf_se");
    cr_assert_eq(audit_checkpoint_now(log, &err), 0, "%s", err.log);
    audit_close(log);
    verify_ok(4);
    arena_t *a = arena_new(1 << 20);
    struct audit_filter f = {.limit = 10};
    struct audit_page p;
    cr_assert_eq(audit_query(fx.st, &f, NULL, a, &p, &err), 0, "%s", err.log);
    cr_assert_eq(p.n, 4);
    for (size_t i = 0; i < p.n; i++) {
        int64_t seq = p.rows[i].seq;
        cr_assert_eq(p.rows[i].format, seq == 2 || seq == 3 ? 3 : 2, "entry %ld", (long)seq);
        cr_assert_str_eq(p.rows[i].supplier_cvr, seq == 2 ? "50000001" : "");
        cr_assert_str_eq(p.rows[i].on_behalf_se, seq == 3 ? "11223344" : "");
        buf_t b;
        buf_init(&b, 1 << 16);
        cr_assert_eq(audit_row_json(&p.rows[i], &b), 0);
        json_t *j = json_loadb(b.data, b.len, 0, NULL);
        cr_assert_not_null(j);
        if (seq == 2)
            cr_assert_str_eq(json_string_value(json_object_get(j, "supplier")), "50000001");
        else
            cr_assert(json_is_null(json_object_get(j, "supplier")));
        if (seq == 3)
            cr_assert_str_eq(json_string_value(json_object_get(j, "on_behalf_of_se")), "11223344");
        else
            cr_assert(json_is_null(json_object_get(j, "on_behalf_of_se")));
        json_decref(j);
        buf_reset(&b);
        cr_assert_eq(audit_row_csv(&p.rows[i], &b), 0);
        const char *want = seq == 2 ? ",50000001,\r\n" : seq == 3 ? ",,11223344\r\n" : ",,\r\n";
        cr_assert(b.len > strlen(want) && strcmp(b.data + b.len - strlen(want), want) == 0,
                  "csv %s", b.data);
        buf_free(&b);
    }
    arena_free(a);
    /* a changed on-behalf party is found */
    audit_fixture_sql(&fx, "UPDATE audit_entry SET on_behalf_se = '99999999' WHERE seq = 3", 1);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_CHANGED);
    cr_assert_eq(r.seq, 3);
}

Test(audit, a_version_2_entry_cannot_take_a_supplier_unnoticed)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    for (int n = 0; n < 2; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
    audit_fixture_sql(&fx, "UPDATE audit_entry SET supplier_cvr = '50000001' WHERE seq = 2", 1);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.seq, 2);
}

Test(audit, version_2_data_is_checked_before_it_is_queued)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    struct made_entry m;
    err_t err;
    audit_make_entry(&m, 2);
    m.e.case_ref = STR(" leading space");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "case_ref");
    m.e.case_ref = STR("SAG;DROP");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    m.e.case_ref = STR("SAG-1");
    m.versions[0].delivery = 2; /* there are two deliveries */
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "versions");
    m.versions[0].delivery = 1;
    m.versions[0].version = 0;
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    m.versions[0].version = 1;
    m.deliveries[1] = STR("");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "deliveries");
    m.deliveries[1] = STR("L");
    cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    audit_close(log);
    cr_assert(audit_case_ref_valid(STR("J.nr. 2026-17/4 (a)")));
    cr_assert_not(audit_case_ref_valid(STR("")));
    cr_assert_not(audit_case_ref_valid(STR("æøå")));
    char longer[AUDIT_CASE_REF_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    cr_assert_not(audit_case_ref_valid(str_from_cstr(longer)));
    longer[AUDIT_CASE_REF_MAX] = 0;
    cr_assert(audit_case_ref_valid(str_from_cstr(longer)));
}

/* Version 1 entries (recorded before version 2, at schema 3) keep
 * verifying after the migration and among version 2 entries; their
 * canonical bytes are the version 1 encoding. */
Test(audit, version_1_entries_keep_verifying_beside_version_2)
{
    err_t err;
    cr_assert_eq(audit_migrate_to(fx.st, 3, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    bool pg = strcmp(store_backend(fx.st), "postgresql") == 0;
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    for (int64_t seq = 1; seq <= 5; seq++) {
        struct made_entry m;
        audit_make_entry(&m, (int)seq - 1);
        m.e.case_ref = STR("");
        m.e.n_deliveries = m.e.n_versions = 0;
        buf_t canon;
        buf_init(&canon, 1 << 16);
        cr_assert_eq(audit_canonical_encode(&m.e, seq, 1000 * seq, STR("test"), &canon), 0);
        audit_canonical_to_v1(&canon);
        unsigned char hash[AUDIT_HASH_LEN];
        cr_assert_eq(audit_chain_hash(prev, buf_str(&canon), hash), 0);
        buf_free(&canon);
        store_stmt_t *s;
        cr_assert_eq(store_prepare(c,
                                   "INSERT INTO audit_entry (seq, time_ms, environment, org_cvr, "
                                   "system_id, agreement_id, agreement_version, service, "
                                   "request_id, transaction_id, periods, fields, record_count, "
                                   "outcome, reason, prev_hash, entry_hash) VALUES (?, ?, 'test', "
                                   "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   &s, &err),
                     0, "%s", err.log);
        char periods[64], fields[128];
        snprintf(periods, sizeof periods,
                 m.e.n_periods == 2 ? "[\"2023\",\"2024\"]" : "[\"2023\"]");
        snprintf(fields, sizeof fields, "[\"%s\",\"%s\"]", m.field[0], m.field[1]);
        store_bind_int64(s, 1, seq);
        store_bind_int64(s, 2, 1000 * seq);
        store_bind_text(s, 3, m.e.org_cvr);
        store_bind_text(s, 4, m.e.system_id);
        store_bind_text(s, 5, m.e.agreement_id);
        store_bind_int64(s, 6, m.e.agreement_version);
        store_bind_text(s, 7, m.e.service);
        store_bind_text(s, 8, m.e.request_id);
        store_bind_text(s, 9, m.e.transaction_id);
        store_bind_cstr(s, 10, periods);
        store_bind_cstr(s, 11, fields);
        store_bind_int64(s, 12, m.e.record_count);
        store_bind_cstr(s, 13, audit_outcome_name(m.e.outcome));
        store_bind_text(s, 14, m.e.reason);
        store_bind_blob(s, 15, prev, AUDIT_HASH_LEN);
        store_bind_blob(s, 16, hash, AUDIT_HASH_LEN);
        cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
        store_stmt_done(s);
        for (size_t i = 0; i < m.e.n_subjects; i++) {
            cr_assert_eq(store_prepare(c,
                                       pg ? "INSERT INTO audit_entry_subject (seq, position, kind, "
                                            "subject, time_ms) VALUES (?, ?, 'cpr', ?, ?)"
                                          : "INSERT INTO audit_entry_subject (seq, position, kind, "
                                            "subject) VALUES (?, ?, 'cpr', ?)",
                                       &s, &err),
                         0, "%s", err.log);
            store_bind_int64(s, 1, seq);
            store_bind_int64(s, 2, (int64_t)i);
            store_bind_text(s, 3, m.e.subjects[i].id);
            if (pg)
                store_bind_int64(s, 4, 1000 * seq);
            cr_assert_eq(store_step(s, &err), STORE_DONE, "%s", err.log);
            store_stmt_done(s);
        }
        memcpy(prev, hash, AUDIT_HASH_LEN);
    }
    store_conn_put(c);
    /* the writer migrates (audit/4), builds the tree over the version 1
     * entries and goes on in version 2 */
    audit_log_t *log = audit_fixture_log(&fx, 0);
    for (int n = 5; n < 9; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        cr_assert_eq(audit_record(log, &m.e, NULL, &err), 0, "%s", err.log);
    }
    cr_assert_eq(audit_checkpoint_now(log, &err), 0, "%s", err.log);
    audit_close(log);
    verify_ok(9);
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    for (int64_t seq = 1; seq <= 9; seq++) {
        buf_t b;
        buf_init(&b, 1 << 16);
        cr_assert_eq(audit_entry_canonical(c, seq, &b, &err), 0, "%s", err.log);
        cr_assert_eq(((const unsigned char *)b.data)[3], seq <= 5 ? 1 : 2, "entry %ld", (long)seq);
        buf_free(&b);
    }
    store_conn_put(c);
    /* a version 1 entry cannot take a case reference unnoticed */
    audit_fixture_sql(&fx, "UPDATE audit_entry SET case_ref = 'S' WHERE seq = 2", 1);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert_not(r.ok);
    cr_assert_eq(r.problem, AUDIT_PROBLEM_CHANGED);
    cr_assert_eq(r.seq, 2);
}

/* ---- configuration ---- */

Test(audit, config_section_defaults_values_and_refusals)
{
    struct dupla_config cfg;
    struct audit_config ac;
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\":\"test\"}", "/etc/dupla", &cfg, &err), 0,
                 "%s", err.log);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), 0);
    cr_assert_eq(ac.checkpoint_every, AUDIT_CHECKPOINT_EVERY_DEFAULT);
    cr_assert_eq(ac.checkpoint_seconds, AUDIT_CHECKPOINT_SECONDS_DEFAULT);
    cr_assert_eq(ac.queue_max, AUDIT_QUEUE_DEFAULT);
    cr_assert_eq(ac.linger_us, AUDIT_LINGER_US_DEFAULT);
    cr_assert_str_eq(ac.signing_key, "");
    config_free(&cfg);

    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"audit\":{\"checkpoint_every\":50,"
                                    "\"checkpoint_seconds\":7,\"queue_max\":9,\"linger_us\":0,"
                                    "\"signing_key\":\"keys/audit.pem\"}}",
                                    "/etc/dupla", &cfg, &err),
                 0, "%s", err.log);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), 0, "%s", err.log);
    cr_assert_eq(ac.checkpoint_every, 50);
    cr_assert_eq(ac.checkpoint_seconds, 7);
    cr_assert_eq(ac.queue_max, 9);
    cr_assert_eq(ac.linger_us, 0);
    cr_assert_str_eq(ac.signing_key, "/etc/dupla/keys/audit.pem");
    config_free(&cfg);

    /* the relay: resolved paths, and an address needs all three files */
    cr_assert_eq(
        config_load_string("{\"environment\":\"test\",\"audit\":{\"relay_to\":"
                           "\"10.0.0.1:8600\",\"relay_cert\":\"links/node.pem\","
                           "\"relay_key\":\"links/node.key\",\"relay_ca\":\"links/ca.pem\","
                           "\"relay_timeout_ms\":500}}",
                           "/etc/dupla", &cfg, &err),
        0, "%s", err.log);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), 0, "%s", err.log);
    cr_assert_str_eq(ac.relay.to, "10.0.0.1:8600");
    cr_assert_str_eq(ac.relay.listen, "");
    cr_assert_str_eq(ac.relay.cert, "/etc/dupla/links/node.pem");
    cr_assert_str_eq(ac.relay.ca, "/etc/dupla/links/ca.pem");
    cr_assert_eq(ac.relay.timeout_ms, 500);
    config_free(&cfg);
    cr_assert_eq(
        config_load_string("{\"environment\":\"test\",\"audit\":{\"relay_listen\":"
                           "\"127.0.0.1:8600\",\"relay_cert\":\"n.pem\",\"relay_ca\":\"ca.pem\"}}",
                           "/", &cfg, &err),
        0);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "relay_key");
    config_free(&cfg);

    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"audit\":{\"linger_us\":1000001}}",
                                    "/", &cfg, &err),
                 0);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "linger_us");
    config_free(&cfg);

    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"audit\":{\"checkpoint_evry\":5}}",
                                    "/", &cfg, &err),
                 0);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "checkpoint_evry");
    config_free(&cfg);

    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"audit\":{\"checkpoint_every\":0}}",
                                    "/", &cfg, &err),
                 0);
    cr_assert_eq(audit_config_read(&cfg, &ac, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "checkpoint_every");
    config_free(&cfg);
}

/* ---- the cluster's relay (relay.c) ---- */

/* An entry's canonical encoding reads back into the same entry. */
Test(audit, canonical_encoding_reads_back_into_the_entry)
{
    for (int n = 0; n < 30; n++) {
        struct made_entry m;
        audit_make_entry(&m, n);
        if (n % 7 == 6) {
            m.e.supplier_cvr = STR("11111111");
            m.e.on_behalf_se = STR("22222222");
        }
        buf_t a, b;
        buf_init(&a, 1 << 20);
        buf_init(&b, 1 << 20);
        cr_assert_eq(audit_canonical_encode(&m.e, 0, 0, STR("test"), &a), 0);
        struct audit_decoded d;
        err_t err;
        cr_assert_eq(audit_canonical_decode(buf_str(&a), &d, &err), 0, "%d: %s", n, err.log);
        cr_assert(str_eq_cstr(d.environment, "test"));
        cr_assert_eq(audit_canonical_encode(&d.e, 0, 0, STR("test"), &b), 0);
        cr_assert_eq(a.len, b.len, "entry %d", n);
        cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "entry %d", n);
        audit_decoded_free(&d);
        /* cut short anywhere, or with a byte more: refused, naming the entry */
        for (size_t cut = 0; cut < a.len; cut += 1 + a.len / 40) {
            struct audit_decoded t;
            cr_assert_eq(audit_canonical_decode((str_t){a.data, cut}, &t, &err), DUPLA_EINVAL);
            cr_assert_str_eq(err.param, "entry");
        }
        cr_assert_eq(buf_append(&a, "x", 1), 0);
        cr_assert_eq(audit_canonical_decode(buf_str(&a), &d, &err), DUPLA_EINVAL);
        buf_free(&a);
        buf_free(&b);
    }
}

/* A count beyond its limit is refused before anything is allocated for it. */
Test(audit, canonical_decoding_refuses_a_count_beyond_its_limit)
{
    struct made_entry m;
    audit_make_entry(&m, 1);
    m.e.n_subjects = 0;
    buf_t a;
    buf_init(&a, 1 << 20);
    cr_assert_eq(audit_canonical_encode(&m.e, 0, 0, STR("test"), &a), 0);
    /* the subjects' count follows the head: format, seq, time, then seven
     * strings and the agreement's version; find it by encoding the head */
    buf_t h;
    buf_init(&h, 1 << 16);
    cr_assert_eq(audit_enc_head(&h, AUDIT_CANONICAL_V2, 0, 0, STR("test"), m.e.org_cvr,
                                m.e.system_id, m.e.agreement_id, m.e.agreement_version, m.e.service,
                                m.e.request_id, m.e.transaction_id),
                 0);
    audit_enc_patch_u32(&a, h.len, 0xFFFFFFFFu);
    struct audit_decoded d;
    err_t err;
    cr_assert_eq(audit_canonical_decode(buf_str(&a), &d, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "entry");
    buf_free(&a);
    buf_free(&h);
}

/* A sequencer and a relaying node on the fixture's store, each with its
 * own log; pki: the links' CA folder, whose server certificate both use
 * (other: a folder of another CA, for the relaying node's certificate). */
struct relay_pair {
    audit_log_t *seq, *node;
    struct audit_relay_config seq_cfg, node_cfg;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void relay_pki(const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/%s", fx.dir, name);
    struct pki_init_options po = {.dir = dir, .ca_name = name};
    err_t err;
    cr_assert_eq(pki_init(&po, &err), 0, "%s", err.log);
}

static void relay_cfg(struct audit_relay_config *c, const char *pki, const char *ca_pki)
{
    snprintf(c->cert, sizeof c->cert, "%s/server.pem", pki);
    snprintf(c->key, sizeof c->key, "%s/server.key", pki);
    snprintf(c->ca, sizeof c->ca, "%s/ca.pem", ca_pki);
}

/* Opens the pair: the node's certificate from node_pki, its environment
 * env; timeout_ms for the node's link (0: the default). */
static void relay_open(struct relay_pair *p, const char *node_pki, const char *env,
                       unsigned timeout_ms)
{
    char links[160];
    snprintf(links, sizeof links, "%s/links", fx.dir);
    memset(p, 0, sizeof *p);
    int port = free_port();
    snprintf(p->seq_cfg.listen, sizeof p->seq_cfg.listen, "127.0.0.1:%d", port);
    relay_cfg(&p->seq_cfg, links, links);
    snprintf(p->node_cfg.to, sizeof p->node_cfg.to, "127.0.0.1:%d", port);
    relay_cfg(&p->node_cfg, node_pki, links);
    p->node_cfg.timeout_ms = timeout_ms;
    struct audit_options so = {.environment = "test", .signer = fx.signer, .relay = &p->seq_cfg};
    struct audit_options no = {.environment = env, .signer = fx.signer, .relay = &p->node_cfg};
    err_t err;
    cr_assert_eq(audit_open(fx.st, &so, &p->seq, &err), 0, "%s", err.log);
    cr_assert_eq(audit_open(fx.st, &no, &p->node, &err), 0, "%s", err.log);
}

/* Until the node's link is up (or, with refused, until the sequencer has
 * refused a link). */
static void relay_wait(struct relay_pair *p, bool refused)
{
    for (int t = 0;; t++) {
        struct audit_stats s, n;
        audit_stats_get(p->seq, &s);
        audit_stats_get(p->node, &n);
        if (refused ? s.relay_refused > 0 : n.relay_up)
            return;
        cr_assert_lt(t, 10000, "%s", refused ? "no link was refused" : "the link never came up");
        usleep(1000);
    }
}

/* Closes the pair (the sequencer first gone: NULL) and verifies the log
 * holds entries. */
static void relay_close(struct relay_pair *p, int64_t entries)
{
    audit_close(p->node);
    audit_close(p->seq);
    verify_ok(entries);
}

/* The links' CA (fx.dir/links), the pair on it with the node's
 * certificate from node_ca ("links", or another CA made here), and the
 * wait for its link: up, or with another CA refused. */
static void relay_start(struct relay_pair *p, const char *node_ca, const char *env,
                        unsigned timeout_ms)
{
    char links[160], node[160];
    relay_pki("links", links, sizeof links);
    if (strcmp(node_ca, "links") != 0)
        relay_pki(node_ca, node, sizeof node);
    else
        snprintf(node, sizeof node, "%s", links);
    relay_open(p, node, env, timeout_ms);
    relay_wait(p, strcmp(node_ca, "links") != 0);
}

/* The node's entries go to the sequencer, which appends them with its
 * own: one chain, the receipts the sequencer gave, and no append of the
 * node's own. */
Test(audit, a_relaying_node_hands_its_entries_to_the_sequencer)
{
    struct relay_pair p;
    relay_start(&p, "links", "test", 0);
    err_t err;
    struct audit_receipt r[12];
    for (int i = 0; i < 12; i++) {
        struct made_entry m;
        audit_make_entry(&m, i);
        audit_log_t *log = i % 3 == 0 ? p.seq : p.node; /* the sequencer's own callers too */
        cr_assert_eq(audit_record(log, &m.e, &r[i], &err), 0, "%d: %s", i, err.log);
        cr_assert_eq(r[i].seq, i + 1);
    }
    struct audit_stats s, n;
    audit_stats_get(p.seq, &s);
    audit_stats_get(p.node, &n);
    cr_assert_eq(n.relayed, 8);
    cr_assert_eq(s.sequenced, 8);
    cr_assert_eq(n.commits, 0, "the node appended nothing itself");
    /* a malformed entry is refused by the node, before the relay */
    struct made_entry bad;
    audit_make_entry(&bad, 1);
    bad.e.outcome = AUDIT_REFUSED;
    bad.e.reason = STR("");
    cr_assert_eq(audit_record(p.node, &bad.e, NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "reason");
    relay_close(&p, 12);
}

/* The sequencer checks a relayed entry as its own: one for another
 * environment is refused, and the refusal names it. */
Test(audit, a_relayed_entry_for_another_environment_is_refused)
{
    struct relay_pair p;
    relay_start(&p, "links", "production", 0);
    struct made_entry m;
    audit_make_entry(&m, 0);
    err_t err;
    int rc = audit_record(p.node, &m.e, NULL, &err);
    cr_assert_eq(rc, DUPLA_EINVAL, "%d: %s", rc, err.log);
    cr_assert_str_eq(err.param, "environment");
    cr_assert(strstr(err.detail, "production"), "%s", err.detail);
    relay_close(&p, 0);
}

/* A node whose certificate another CA issued is refused at the handshake;
 * it appends its entries itself. */
Test(audit, a_node_with_a_certificate_of_another_ca_is_refused_and_appends_itself)
{
    struct relay_pair p;
    relay_start(&p, "other", "test", 0);
    struct made_entry m;
    audit_make_entry(&m, 0);
    err_t err;
    struct audit_receipt r;
    cr_assert_eq(audit_record(p.node, &m.e, &r, &err), 0, "%s", err.log);
    struct audit_stats n;
    audit_stats_get(p.node, &n);
    cr_assert(!n.relay_up);
    cr_assert_eq(n.relayed, 0);
    cr_assert_eq(n.commits, 1, "appended by the node itself");
    relay_close(&p, 1);
}

/* A sequencer that stops answering (its batch waits for the write lock
 * here; a killed or hung node alike): after the relay's timeout the link
 * breaks and the entries in flight are refused, never appended by the
 * node (the sequencer may append them yet: the log may hold an entry
 * nobody received, never the reverse). The node appends itself while the
 * link is down, and relays again once it is back; the chain verifies. */
Test(audit, entries_in_flight_to_a_silent_sequencer_are_refused, .timeout = 90)
{
    struct relay_pair p;
    relay_start(&p, "links", "test", 300);
    store_conn_t *lock = hold_write_lock();
    static struct submitted s;
    static struct made_entry m[4];
    static struct submit_ctx ctx[4];
    prepare_submits(&s, m, ctx, 4);
    err_t err;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(audit_submit(p.node, &m[i].e, on_done, &ctx[i], &err), 0, "%s", err.log);
    for (int i = 0; i < 3; i++)
        wait_called(&s, i);
    cr_assert_eq(s.failed, 3, "refused after the timeout");
    struct audit_stats n;
    audit_stats_get(p.node, &n);
    cr_assert_eq(n.relay_lost, 3);
    cr_assert_eq(n.relayed, 0);
    cr_assert_eq(store_commit(lock, &err), 0, "%s", err.log);
    store_conn_put(lock);
    /* the sequencer appends them once it has the lock; the node, whose
     * link is down or back, records the next one either way */
    struct audit_receipt r;
    cr_assert_eq(audit_record(p.node, &m[3].e, &r, &err), 0, "%s", err.log);
    relay_wait(&p, false);
    struct audit_stats before;
    audit_stats_get(p.node, &before);
    struct made_entry more;
    audit_make_entry(&more, 9);
    cr_assert_eq(audit_record(p.node, &more.e, &r, &err), 0, "%s", err.log);
    audit_stats_get(p.node, &n);
    cr_assert_eq(n.relayed, before.relayed + 1, "relayed again once the link is back");
    cr_assert_eq(n.relay_lost, 3);
    relay_close(&p, 5);
}

static void *close_log(void *log)
{
    audit_close(log);
    return NULL;
}

/* A sequencer that stops (SIGTERM: its log closes) takes no more entries
 * but answers those it holds before it closes the links: nothing the
 * nodes sent is refused only because it stopped. */
Test(audit, a_sequencer_that_stops_answers_the_entries_it_holds)
{
    struct relay_pair p;
    relay_start(&p, "links", "test", 0);
    store_conn_t *lock = hold_write_lock();
    static struct submitted s;
    static struct made_entry m[3];
    static struct submit_ctx ctx[3];
    prepare_submits(&s, m, ctx, 3);
    err_t err;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(audit_submit(p.node, &m[i].e, on_done, &ctx[i], &err), 0, "%s", err.log);
    struct audit_stats q, n;
    for (int t = 0;; t++) { /* the sequencer holds them, its batch waits for the lock */
        audit_stats_get(p.seq, &q);
        if (q.relay_held == 3)
            break;
        cr_assert_lt(t, 10000, "the sequencer holds %llu entries",
                     (unsigned long long)q.relay_held);
        usleep(1000);
    }
    pthread_t closer;
    cr_assert_eq(pthread_create(&closer, NULL, close_log, p.seq), 0);
    /* the close waits for the writer, which waits for the lock: the link
     * stays up meanwhile (closing it first would refuse the three) */
    for (int t = 0; t < 300; t++) {
        audit_stats_get(p.node, &n);
        cr_assert(n.relay_up, "the link closed before the sequencer answered");
        usleep(1000);
    }
    cr_assert_eq(store_commit(lock, &err), 0, "%s", err.log);
    store_conn_put(lock);
    pthread_join(closer, NULL);
    for (int i = 0; i < 3; i++)
        wait_called(&s, i);
    cr_assert_eq(s.failed, 0, "answered, not refused");
    audit_stats_get(p.node, &n);
    cr_assert_eq(n.relayed, 3);
    cr_assert_eq(n.relay_lost, 0);
    p.seq = NULL;
    relay_close(&p, 3);
}

/* The sequencer gone (closed here, killed in the cluster's tests): the
 * node appends its entries itself, at once. */
Test(audit, a_node_appends_itself_once_the_sequencer_is_gone)
{
    struct relay_pair p;
    relay_start(&p, "links", "test", 0);
    audit_close(p.seq);
    struct audit_stats n;
    for (int t = 0;; t++) {
        audit_stats_get(p.node, &n);
        if (!n.relay_up)
            break;
        cr_assert_lt(t, 10000, "the link stays up without its sequencer");
        usleep(1000);
    }
    struct made_entry m;
    audit_make_entry(&m, 0);
    err_t err;
    struct audit_receipt r;
    cr_assert_eq(audit_record(p.node, &m.e, &r, &err), 0, "%s", err.log);
    cr_assert_eq(r.seq, 1);
    p.seq = NULL;
    relay_close(&p, 1);
}

/* The relay's keys: an address needs the three files, and a bad address
 * is named. */
Test(audit, relay_configuration_is_checked)
{
    char links[160];
    relay_pki("links", links, sizeof links);
    struct audit_relay_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.listen, sizeof c.listen, "127.0.0.1");
    relay_cfg(&c, links, links);
    struct audit_options o = {.environment = "test", .relay = &c};
    audit_log_t *log;
    err_t err;
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "relay_listen");
    memset(&c, 0, sizeof c);
    snprintf(c.to, sizeof c.to, "127.0.0.1:1");
    relay_cfg(&c, links, links);
    snprintf(c.ca, sizeof c.ca, "%s/missing.pem", links);
    cr_assert_eq(audit_open(fx.st, &o, &log, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "relay_ca");
}
