/* Unit tests: audit durability across a crash. A child process records from
 * eight threads and acknowledges each entry to the parent (over a pipe) only
 * after audit_record returned 0; the parent kills it with SIGKILL in the
 * middle of recording, reopens the store, and checks that every
 * acknowledged entry is there at its seq and that the chain verifies. (The
 * end-to-end version, killing the real server while clients fetch, belongs
 * with the data path.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
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

TestSuite(audit_crash, .init = setup, .fini = teardown, .timeout = 60);

struct ack {
    int64_t seq;
    int32_t n;
    int32_t pad;
};

struct child_thread {
    audit_log_t *log;
    int id, fd;
};

static void *child_record(void *arg)
{
    struct child_thread *t = arg;
    for (int i = 0;; i++) {
        struct made_entry m;
        int n = t->id * 100000 + i;
        audit_make_entry(&m, n);
        struct audit_receipt r;
        err_t err;
        if (audit_record(t->log, &m.e, &r, &err) != 0)
            continue;
        struct ack a = {.seq = r.seq, .n = n};
        if (write(t->fd, &a, sizeof a) != sizeof a) /* atomic: smaller than PIPE_BUF */
            _exit(3);
    }
    return NULL;
}

static void child(int fd)
{
    store_t *st;
    err_t err;
    struct store_options so = {.synchronous_full = true};
    if (store_open(fx.url, &so, &st, &err))
        _exit(2);
    struct audit_options o = {.environment = "test", .signer = fx.signer, .checkpoint_every = 50};
    audit_log_t *log;
    if (audit_open(st, &o, &log, &err))
        _exit(2);
    enum { T = 8 };
    pthread_t th[T];
    struct child_thread ct[T];
    for (int i = 0; i < T; i++) {
        ct[i] = (struct child_thread){.log = log, .id = i, .fd = fd};
        pthread_create(&th[i], NULL, child_record, &ct[i]);
    }
    for (;;)
        pause();
}

static size_t read_acks(int fd, struct ack *acks, size_t have, size_t cap, size_t want,
                        int timeout_ms)
{
    int64_t end = clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    static char partial[sizeof(struct ack)];
    static size_t plen;
    while (have < want && have < cap) {
        int64_t left = (end - clock_mono_ns()) / 1000000;
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(fd, partial + plen, sizeof partial - plen);
        if (n <= 0)
            break;
        plen += (size_t)n;
        if (plen == sizeof partial) {
            memcpy(&acks[have++], partial, sizeof partial);
            plen = 0;
        }
    }
    return have;
}

Test(audit_crash, every_acknowledged_entry_survives_a_sigkill)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    /* the child opens its own store; ours is closed so that no connection
     * crosses the fork */
    store_close(fx.st);
    fx.st = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
    }
    close(fds[1]);
    enum { CAP = 1 << 20 };
    struct ack *acks = malloc(CAP * sizeof *acks);
    cr_assert_not_null(acks);
    size_t n = read_acks(fds[0], acks, 0, CAP, 300, 20000);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child exited by itself");
    n = read_acks(fds[0], acks, n, CAP, CAP, 2000); /* what was in flight; EOF ends it */
    close(fds[0]);
    cr_assert_geq(n, 50, "only %zu entries acknowledged before the kill", n);

    err_t err;
    struct store_options so = {.synchronous_full = true};
    cr_assert_eq(store_open(fx.url, &so, &fx.st, &err), 0);
    struct audit_verify_result r;
    cr_assert_eq(audit_verify(fx.st, NULL, &r, &err), 0, "%s", err.log);
    cr_assert(r.ok, "%s at %ld: %s", audit_problem_name(r.problem), (long)r.seq, r.detail);
    cr_assert_geq((size_t)r.entries, n);

    store_conn_t *c;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    for (size_t i = 0; i < n; i++) {
        store_stmt_t *s;
        cr_assert_eq(store_prepare(c, "SELECT request_id FROM audit_entry WHERE seq = ?", &s, &err),
                     0);
        store_bind_int64(s, 1, acks[i].seq);
        cr_assert_eq(store_step(s, &err), STORE_ROW, "acknowledged entry %ld is lost",
                     (long)acks[i].seq);
        char want[32];
        snprintf(want, sizeof want, "req-%06d", acks[i].n);
        cr_assert(str_eq_cstr(store_col_text(s, 0), want), "entry %ld holds another request",
                  (long)acks[i].seq);
        store_stmt_done(s);
    }
    store_conn_put(c);
    free(acks);

    /* And the log goes on after the crash. */
    audit_log_t *log = audit_fixture_log(&fx, 0);
    struct made_entry m;
    audit_make_entry(&m, 1);
    struct audit_receipt rc;
    cr_assert_eq(audit_record(log, &m.e, &rc, &err), 0, "%s", err.log);
    cr_assert_eq(rc.seq, r.entries + 1);
    audit_close(log);
}
