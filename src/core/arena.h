/*
 * arena.h: bump allocation with a hard maximum.
 *
 * Each request (and each CLI job step) gets one arena; everything allocated
 * for it comes from there and is freed at once when the arena is freed. An
 * allocation past the arena's maximum fails (NULL) instead of growing without
 * bound, which is how per-request memory stays limited.
 */
#ifndef DUPLA_CORE_ARENA_H
#define DUPLA_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include "core/str.h"

typedef struct arena arena_t;

/* A new arena that will hand out at most max_bytes in all. NULL on OOM. The
 * caller owns it and frees it with arena_free(). */
arena_t *arena_new(size_t max_bytes);
void arena_free(arena_t *a);

/* n bytes aligned for any type, zeroed; NULL if the maximum would be passed
 * or memory is out. Owned by the arena. */
void *arena_alloc(arena_t *a, size_t n);
/* A NUL-terminated copy of s (owned by the arena). */
char *arena_strdup(arena_t *a, str_t s);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);

/* Bytes handed out so far. */
size_t arena_used(const arena_t *a);

#endif
