/*
 * sandbox.c: the request process's seccomp allow-list (see sandbox.h).
 *
 * The list was derived by running every end-to-end suite on SQLite and
 * PostgreSQL (token issue, data calls, long-polls, ingest, the pages, mail
 * over SMTP with STARTTLS, SIGHUP reloads, draining on SIGTERM) in the "log"
 * mode and reading the kernel's records of calls outside it; the suites run
 * with the filter enforced, so a call they need and the list lacks fails
 * them. Calls are named, not numbered, so the list holds on every
 * architecture libseccomp knows (a name the architecture lacks is skipped).
 */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_UNDER_ASAN 1
#endif
#endif
#ifndef SANDBOX_UNDER_ASAN
#define SANDBOX_UNDER_ASAN 0
#endif

/* Allowed whatever their arguments. */
/* clang-format off: grouped by purpose */
static const char *const sandbox_allowed[] = {
    /* memory (mmap, mprotect: below, without PROT_EXEC) */
    "brk",
    "munmap",
    "mremap",
    "madvise",
    "mlock",
    "munlock",
    "membarrier",
    /* threads and their synchronisation (clone: below, threads only) */
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "gettid",
    "getpid",
    "getppid",
    "exit",
    "exit_group",
    /* signals within the process (tgkill, kill: below) */
    "rt_sigprocmask",
    "rt_sigaction",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "rt_sigpending",
    "sigaltstack",
    "restart_syscall",
    /* time */
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "gettimeofday",
    "time",
    "nanosleep",
    /* waiting for descriptors */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "pipe",
    "pipe2",
    /* sockets (socket: below, by family; no bind, no listen) */
    "connect",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    /* descriptors and files: the store, its folders, the maildir, the TLS
     * files on SIGHUP; what the user may open */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "lseek",
    "open",
    "openat",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "fallocate",
    "fstat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "getcwd",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "fchmod",
    "utimensat",
    "umask",
    /* the process's own facts */
    "getrandom",
    "uname",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getrlimit",
    "prlimit64",
    "getrusage",
    "sysinfo",
    "times",
    /* reaping the key process when stopping */
    "wait4",
    "waitid",
};
/* clang-format on */

/* ioctl requests: terminal checks (isatty) and non-blocking flags. */
static const unsigned long sandbox_ioctls[] = {TCGETS, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};

/* Socket families: the listeners' and libpq's/curl's (IPv4, IPv6), a
 * local PostgreSQL (UNIX), and glibc's getaddrinfo asking the kernel which
 * addresses exist (NETLINK_ROUTE). */
static const int sandbox_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

bool sandbox_supported(void)
{
    return !SANDBOX_UNDER_ASAN;
}

const char *sandbox_mode_name(enum sandbox_mode mode)
{
    switch (mode) {
    case SANDBOX_KILL:
        return "kill";
    case SANDBOX_LOG:
        return "log";
    default:
        return "off";
    }
}

/* Adds one rule; a call this architecture lacks is no error. */
static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int build(scmp_filter_ctx ctx, pid_t keys_pid)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof sandbox_allowed / sizeof sandbox_allowed[0]; i++)
        rc = rule(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0, NULL);
    /* Memory that can never become code. */
    struct scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, &no_exec);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &no_exec);
    /* Threads, never a new process: clone only with CLONE_THREAD; clone3
     * passes its flags in memory the filter cannot read, so it answers
     * ENOSYS and glibc falls back to clone. */
    struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    /* Signals to its own threads (pthread_kill, abort), and to the key
     * process. */
    struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &self);
    if (!rc && keys_pid > 0) {
        struct scmp_arg_cmp keys = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)keys_pid);
        rc = rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &keys);
    }
    /* A thread's name (pthread_setname_np on itself). */
    struct scmp_arg_cmp set_name = SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &set_name);
    for (size_t i = 0; !rc && i < sizeof sandbox_ioctls / sizeof sandbox_ioctls[0]; i++) {
        struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_EQ, sandbox_ioctls[i]);
        rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &req);
    }
    /* curl's wake-up pair for its multi handle (mail over SMTP) */
    struct scmp_arg_cmp local = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
    if (!rc)
        rc = rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &local);
    for (size_t i = 0; !rc && i < sizeof sandbox_families / sizeof sandbox_families[0]; i++) {
        struct scmp_arg_cmp family = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sandbox_families[i]);
        rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &family);
    }
    return rc;
}

int sandbox_enter(enum sandbox_mode mode, pid_t keys_pid, err_t *err)
{
    if (mode == SANDBOX_OFF) {
        log_warn("seccomp: off (\"seccomp\": false): the request process may make any system "
                 "call");
        return 0;
    }
    if (!sandbox_supported()) {
        log_warn("seccomp: not installed: this is an AddressSanitizer build, whose leak check "
                 "at exit needs ptrace and a clone that is not a thread");
        return 0;
    }
    uint32_t deny = mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    scmp_filter_ctx ctx = seccomp_init(deny);
    if (!ctx)
        return err_internal(err, DUPLA_EIO, "seccomp: cannot make a filter");
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (!rc)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
    if (!rc)
        rc = build(ctx, keys_pid);
    if (!rc)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc)
        return err_internal(err, DUPLA_EIO, "seccomp: cannot install the filter: %s",
                            strerror(-rc));
    log_info("seccomp: the filter is installed (%s: a call outside the list %s)",
             sandbox_mode_name(mode),
             mode == SANDBOX_LOG ? "is logged by the kernel" : "kills the process");
    return 0;
}
