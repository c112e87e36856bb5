/*
 * fault.c: the counter behind fault.h and the allocation wrappers the
 * linker puts in front of dupla's malloc family (src/meson.build:
 * -Wl,--wrap=...). Compiled only into the fault test build
 * (DUPLA_FAULT_INJECTION).
 *
 * One fault is armed at a time, for the whole process: the tests send one
 * operation at a time. The hot check (fault_hit) is an atomic load when
 * nothing is armed.
 */
#include "core/fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_SPEC_MAX 32

static _Thread_local enum fault_role thread_role = FAULT_ROLE_ANY;

/* The sanitised build's stack printer (absent elsewhere). */
void __sanitizer_print_stack_trace(void) __attribute__((weak));
static bool trace; /* DUPLA_FAULT_TRACE: print where each fault fires */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool armed;
static enum fault_kind armed_kind;
static _Atomic enum fault_store_error armed_store_error;
static bool armed_log_only;
static int64_t armed_n;
static const void *armed_owner;
static atomic_llong calls;
static atomic_bool fired;
static const char *_Atomic fired_what;
static bool report_done;
static char armed_spec[FAULT_SPEC_MAX];

bool fault_hit(enum fault_kind kind, const char *what)
{
    if (!atomic_load_explicit(&armed, memory_order_acquire))
        return false;
    if (thread_role == FAULT_ROLE_EXEMPT || kind != armed_kind)
        return false;
    if (armed_log_only && thread_role != FAULT_ROLE_LOG)
        return false;
    if (atomic_fetch_add(&calls, 1) + 1 != armed_n)
        return false;
    atomic_store(&fired_what, what);
    atomic_store(&fired, true);
    if (trace && __sanitizer_print_stack_trace) {
        fprintf(stderr, "dupla: fault injection: %s fails here:\n", what);
        __sanitizer_print_stack_trace();
    }
    return true;
}

void fault_thread_role(enum fault_role role)
{
    thread_role = role;
}

enum fault_store_error fault_store_error(void)
{
    return atomic_load(&armed_store_error);
}

/* "<kind>:<n>[:log]" into the armed state (under mu). */
static int parse_spec(str_t spec)
{
    str_t kind, rest, num, scope = STR_NULL;
    if (!str_split(spec, ':', &kind, &rest))
        return -1;
    if (!str_split(rest, ':', &num, &scope))
        num = rest;
    int64_t n;
    if (str_to_int64(num, &n) != 0 || n < 1)
        return -1;
    enum fault_store_error how = FAULT_STORE_IO;
    if (str_eq_cstr(kind, "store"))
        armed_kind = FAULT_STORE;
    else if (str_eq_cstr(kind, "full")) {
        armed_kind = FAULT_STORE;
        how = FAULT_STORE_FULL;
    } else if (str_eq_cstr(kind, "readonly")) {
        armed_kind = FAULT_STORE;
        how = FAULT_STORE_READONLY;
    } else if (str_eq_cstr(kind, "alloc"))
        armed_kind = FAULT_ALLOC;
    else
        return -1;
    atomic_store(&armed_store_error, how);
    if (scope.len && !str_eq_cstr(scope, "log"))
        return -1;
    armed_log_only = scope.len > 0;
    armed_n = n;
    return 0;
}

int fault_arm(str_t spec, const void *owner)
{
    if (spec.len >= FAULT_SPEC_MAX)
        return -1;
    pthread_mutex_lock(&mu);
    atomic_store(&armed, false);
    int rc = parse_spec(spec);
    if (rc == 0) {
        memcpy(armed_spec, spec.ptr, spec.len);
        armed_spec[spec.len] = '\0';
        armed_owner = owner;
        report_done = false;
        atomic_store(&calls, 0);
        atomic_store(&fired, false);
        atomic_store(&fired_what, "");
        atomic_store_explicit(&armed, true, memory_order_release);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void fault_disarm(const void *owner)
{
    pthread_mutex_lock(&mu);
    if (atomic_load(&armed) && armed_owner == owner) {
        atomic_store(&armed, false);
        report_done = true;
    }
    pthread_mutex_unlock(&mu);
}

void fault_report(struct fault_report *out)
{
    pthread_mutex_lock(&mu);
    out->armed = atomic_load(&armed);
    out->done = report_done;
    snprintf(out->spec, sizeof out->spec, "%s", armed_spec);
    out->calls = atomic_load(&calls);
    out->fired = atomic_load(&fired);
    out->what = atomic_load(&fired_what);
    if (!out->what)
        out->what = "";
    pthread_mutex_unlock(&mu);
}

/* ---- allocations ---- */

/* The linker's names for the originals (-Wl,--wrap=malloc ...). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n)
{
    if (fault_hit(FAULT_ALLOC, "malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fault_hit(FAULT_ALLOC, "calloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fault_hit(FAULT_ALLOC, "realloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (fault_hit(FAULT_ALLOC, "strdup")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (fault_hit(FAULT_ALLOC, "strndup")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

/* ---- a CLI command: DUPLA_FAULT ---- */

static void report_at_exit(void)
{
    struct fault_report r;
    fault_report(&r);
    fprintf(stderr, "dupla: fault injection: DUPLA_FAULT=%s: %lld calls counted, %s%s\n", r.spec,
            (long long)r.calls, r.fired ? "the fault fired in " : "the fault did not fire",
            r.fired ? r.what : "");
}

__attribute__((constructor)) static void fault_init(void)
{
    trace = getenv("DUPLA_FAULT_TRACE") != NULL;
    const char *spec = getenv("DUPLA_FAULT");
    if (!spec || !spec[0])
        return;
    if (fault_arm(str_from_bounded(spec, FAULT_SPEC_MAX), NULL) != 0) {
        fprintf(stderr,
                "dupla: fault injection: DUPLA_FAULT=%s is not "
                "<store|full|readonly|alloc>:<n>[:log]\n",
                spec);
        exit(2);
    }
    atexit(report_at_exit);
}
