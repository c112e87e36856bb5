/* Unit: the request process's seccomp filter (core/sandbox.h). Each test
 * forks a child that installs the filter, does what the server does (files,
 * sockets, threads, memory), then one thing the filter forbids; the child
 * must die of SIGSYS at that call and not before. The e2e suites run the
 * real server under the filter (e2e-keys checks it is on). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sandbox.h"

enum forbidden { DO_NOTHING, DO_EXEC, DO_FORK, DO_PTRACE, DO_EXEC_MEMORY, DO_BIND, DO_SETUID };

#define ALLOWED_DONE 42 /* the child's exit status after the allowed part */

static void *thread_main(void *arg)
{
    return arg;
}

/* What the server does all day; exits 3 when any of it is refused. */
static void allowed_part(void)
{
    char path[] = "/tmp/dupla-sandbox-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) != 0 || close(fd) != 0 || unlink(path) != 0)
        _exit(3);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || close(s) != 0)
        _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
        _exit(3);
    void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) != 0 || munmap(p, 1 << 20) != 0)
        _exit(3);
    void *m = malloc(10 << 20); /* a big one: its own mapping */
    if (!m)
        _exit(3);
    free(m);
}

static void forbidden_part(enum forbidden what)
{
    switch (what) {
    case DO_NOTHING:
        break;
    case DO_EXEC: {
        char *argv[] = {"/bin/true", NULL};
        execv(argv[0], argv);
        break;
    }
    case DO_FORK:
        if (fork() == 0)
            _exit(0);
        break;
    case DO_PTRACE:
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        break;
    case DO_EXEC_MEMORY:
        mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
    case DO_BIND: {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        bind(s, (struct sockaddr *)&a, sizeof a);
        break;
    }
    case DO_SETUID:
        setuid(getuid());
        break;
    }
}

/* The child's wait status after installing the filter in mode and trying
 * what. */
static int run_child(enum sandbox_mode mode, enum forbidden what)
{
    int null = open("/dev/null", O_WRONLY);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        log_set_fd(null);
        err_t err;
        err_clear(&err);
        if (sandbox_enter(mode, 0, &err) != 0)
            _exit(2);
        allowed_part();
        forbidden_part(what);
        _exit(ALLOWED_DONE);
    }
    close(null);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void assert_killed_by_the_filter(enum forbidden what)
{
    if (!sandbox_supported()) {
        cr_skip_test("an AddressSanitizer build installs no filter");
        return;
    }
    int st = run_child(SANDBOX_KILL, what);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
              "the forbidden call was not killed by the filter (status %#x, exit %d)", st,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

Test(sandbox, what_the_server_does_is_allowed)
{
    if (!sandbox_supported()) {
        cr_skip_test("an AddressSanitizer build installs no filter");
        return;
    }
    int st = run_child(SANDBOX_KILL, DO_NOTHING);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == ALLOWED_DONE, "status %#x", st);
}

Test(sandbox, exec_kills_the_process)
{
    assert_killed_by_the_filter(DO_EXEC);
}

Test(sandbox, fork_kills_the_process)
{
    assert_killed_by_the_filter(DO_FORK);
}

Test(sandbox, ptrace_kills_the_process)
{
    assert_killed_by_the_filter(DO_PTRACE);
}

Test(sandbox, executable_memory_kills_the_process)
{
    assert_killed_by_the_filter(DO_EXEC_MEMORY);
}

Test(sandbox, binding_a_new_port_kills_the_process)
{
    assert_killed_by_the_filter(DO_BIND);
}

Test(sandbox, setuid_kills_the_process)
{
    assert_killed_by_the_filter(DO_SETUID);
}

/* The "log" mode only logs: the same exec goes through. */
Test(sandbox, the_log_mode_lets_a_call_outside_the_list_through)
{
    if (!sandbox_supported()) {
        cr_skip_test("an AddressSanitizer build installs no filter");
        return;
    }
    int st = run_child(SANDBOX_LOG, DO_EXEC);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/bin/true did not run: status %#x", st);
}

Test(sandbox, off_installs_nothing)
{
    int st = run_child(SANDBOX_OFF, DO_EXEC);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/bin/true did not run: status %#x", st);
}
