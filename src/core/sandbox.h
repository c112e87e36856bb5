/*
 * sandbox.h: the request process's system call filter (seccomp, #18 item 3).
 *
 * `dupla serve` calls sandbox_enter() once start-up is complete: the ports
 * are bound, the privileges dropped, the key process forked and every
 * thread started. From then on every thread of the process may make only
 * the system calls on the allow-list in sandbox.c: memory (mmap and
 * mprotect never with PROT_EXEC), threads (clone only with CLONE_THREAD),
 * futexes, signals within the process, epoll/eventfd/poll, sockets of the
 * families the server, libpq and curl use (no bind, no listen), file I/O on
 * what the process may open, time and randomness. No exec, no fork, no
 * ptrace, no set*id, no mount, no module or keyring calls, no new privileges.
 *
 * A call outside the list kills the whole process (SECCOMP_RET_KILL_PROCESS,
 * the OpenBSD pledge(2) choice): a request process that tries one is doing
 * what it was never written to do, and going on with an error code would
 * let it try something else. The kernel logs the killed call (its audit
 * record names the call's number). The "log" mode lets every call through
 * and has the kernel log those outside the list (type=1326 in dmesg): how
 * the list was derived, and how an operator checks a new platform before
 * enforcing. configuration: "seccomp": true (kill; the default), "log", or
 * false (no filter).
 *
 * Under AddressSanitizer the filter is not installed (a log line says so):
 * its leak check at exit stops the threads with ptrace from a clone that is
 * not a thread, which the filter exists to forbid.
 */
#ifndef DUPLA_CORE_SANDBOX_H
#define DUPLA_CORE_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"

enum sandbox_mode {
    SANDBOX_OFF = 0, /* "seccomp": false */
    SANDBOX_KILL,    /* true: a call outside the list kills the process */
    SANDBOX_LOG,     /* "log": the kernel logs it, the call goes on */
};

/* Whether this build can install the filter at all (false under ASan). */
bool sandbox_supported(void);

/* Installs the filter on every thread of the process (TSYNC) and sets
 * no_new_privs. keys_pid (> 0) is the one process besides itself the
 * process may signal (the key process; 0: none). 0, or DUPLA_EIO with err
 * saying why (the kernel or the build has no seccomp). SANDBOX_OFF and an
 * unsupported build install nothing and return 0 (logged). */
int sandbox_enter(enum sandbox_mode mode, pid_t keys_pid, err_t *err);

const char *sandbox_mode_name(enum sandbox_mode mode);

#endif
