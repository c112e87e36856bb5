/*
 * fault.h: injected faults, SQLite's way, in the fault test build only.
 *
 * A build configured with `meson setup -Dfault_injection=true` (never the
 * package: the option is off by default and debian/ does not set it) can be
 * told to make the n-th store call, or separately the n-th allocation,
 * fail once, so that tests (tests/fault/) can walk n = 1, 2, ... over one
 * operation until it completes without meeting the fault, and check every
 * time that the platform answered cleanly, leaked nothing and left the
 * store whole.
 *
 * What counts:
 * - store: the backends' prepare, step, exec, begin and commit (the
 *   calls that reach SQLite or PostgreSQL). A faulted call fails the way a
 *   real failure does: SQLite answers SQLITE_IOERR ("disk I/O error");
 *   PostgreSQL runs a statement that raises SQLSTATE 58030 (io_error) on
 *   the server, so an open transaction is aborted there as it would be.
 * - alloc: every malloc, calloc, realloc, strdup and strndup made by
 *   dupla's own code (the linker redirects them here: --wrap, see
 *   src/meson.build), jansson's included (core/json.c gives jansson its
 *   allocator). The other libraries' own allocations (SQLite, libpq,
 *   GnuTLS, libmicrohttpd) are not counted: they have fault tests of their
 *   own.
 * Only while armed, and only on threads that are not exempt: the serve's
 * ticker (periodic jobs) and the store's listener never count, so a
 * background job cannot take a fault meant for a request. With scope
 * "log", only the disclosure log's writer thread counts (a log append).
 *
 * Kinds full and readonly count the store calls as store does, but the
 * n-th fails the way a full disk or a store that refuses writes does:
 * SQLite answers SQLITE_FULL / SQLITE_READONLY (a commit, where the fsync
 * is: SQLITE_IOERR_FSYNC with errno ENOSPC / EROFS); PostgreSQL raises
 * SQLSTATE 53100 (disk_full) / 25006 (read_only_sql_transaction).
 *
 * Arming: a spec "<kind>:<n>[:log]" (kind store, full, readonly or alloc,
 * n >= 1), from
 * the environment (DUPLA_FAULT, read once at start: a CLI command; the
 * outcome is printed to stderr at exit) or, in `serve`, from a request's
 * X-Dupla-Fault header for the duration of that request (http/connection.c;
 * GET /_fault reports what happened). A fault fires once; later calls
 * succeed. With DUPLA_FAULT_TRACE set, the sanitised build prints the
 * stack of each fault that fires (to find a finding's call).
 *
 * In every other build the calls below are empty inline functions.
 */
#ifndef DUPLA_CORE_FAULT_H
#define DUPLA_CORE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

enum fault_kind { FAULT_STORE, FAULT_ALLOC };

/* How a faulted store call fails (the armed spec's kind). */
enum fault_store_error { FAULT_STORE_IO, FAULT_STORE_FULL, FAULT_STORE_READONLY };

enum fault_role {
    FAULT_ROLE_ANY,    /* request threads, workers, a CLI command (default) */
    FAULT_ROLE_LOG,    /* the disclosure log's writer thread */
    FAULT_ROLE_EXEMPT, /* never counts: periodic jobs, the store's listener */
};

/* What the last armed fault met (fault_report). */
struct fault_report {
    bool armed;       /* a spec is armed now */
    bool done;        /* the armed request has completed (serve) */
    char spec[32];    /* the spec as given */
    int64_t calls;    /* calls counted while armed */
    bool fired;       /* the n-th call failed */
    const char *what; /* which call failed ("step", "malloc"...), or "" */
};

#if DUPLA_FAULT_INJECTION

/* Whether this call (kind, named what: a static string) must fail. */
bool fault_hit(enum fault_kind kind, const char *what);
/* Sets the calling thread's role. */
void fault_thread_role(enum fault_role role);
/* How the store call fault_hit just failed must fail. */
enum fault_store_error fault_store_error(void);
/* Arms spec for owner (an opaque pointer: the request), replacing any armed
 * fault. -1 if spec is malformed (nothing armed). */
int fault_arm(str_t spec, const void *owner);
/* Disarms, if owner armed the fault; the report is then done. */
void fault_disarm(const void *owner);
void fault_report(struct fault_report *out);

#else

static inline bool fault_hit(enum fault_kind kind, const char *what)
{
    (void)kind;
    (void)what;
    return false;
}
static inline void fault_thread_role(enum fault_role role)
{
    (void)role;
}
static inline enum fault_store_error fault_store_error(void)
{
    return FAULT_STORE_IO;
}
static inline int fault_arm(str_t spec, const void *owner)
{
    (void)spec;
    (void)owner;
    return -1;
}
static inline void fault_disarm(const void *owner)
{
    (void)owner;
}

#endif

#endif
