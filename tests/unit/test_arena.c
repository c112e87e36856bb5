/* Unit tests: core/arena (bump allocation with a hard maximum). */
#include <criterion/criterion.h>
#include <stdint.h>

#include "core/arena.h"

Test(arena, allocations_are_aligned_zeroed_and_bounded)
{
    arena_t *a = arena_new(10000);
    cr_assert_not_null(a);
    char *p = arena_alloc(a, 3);
    cr_assert_not_null(p);
    cr_assert_eq(((uintptr_t)p) % 16, 0);
    cr_assert_eq(p[0] | p[1] | p[2], 0);
    void *big = arena_alloc(a, 9000);
    cr_assert_not_null(big);
    cr_assert_null(arena_alloc(a, 2000)); /* past the maximum */
    cr_assert_leq(arena_used(a), 10000);
    arena_free(a);
}

Test(arena, strings)
{
    arena_t *a = arena_new(1 << 16);
    char *s = arena_strdup(a, STR("hello"));
    cr_assert_str_eq(s, "hello");
    char *f = arena_printf(a, "%s-%d", "x", 42);
    cr_assert_str_eq(f, "x-42");
    arena_free(a);
}
