/* Unit tests: core/problem (the refusal reasons), and that
 * docs/problem-types.md documents exactly the slugs of problem.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/problem.h"

#define SLUGS_MAX 256
#define SLUG_MAX  ERR_TYPE_MAX

struct slugs {
    size_t n;
    char slug[SLUGS_MAX][SLUG_MAX];
    int status[SLUGS_MAX];
};

static FILE *open_source(const char *rel)
{
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    return f;
}

static void add(struct slugs *s, const char *slug, size_t len, int status, const char *where)
{
    cr_assert_lt(len, SLUG_MAX, "%s: slug too long", where);
    cr_assert_lt(s->n, SLUGS_MAX);
    for (size_t i = 0; i < s->n; i++)
        cr_assert(strlen(s->slug[i]) != len || strncmp(s->slug[i], slug, len) != 0,
                  "%s: %.*s listed twice", where, (int)len, slug);
    memcpy(s->slug[s->n], slug, len);
    s->slug[s->n][len] = '\0';
    s->status[s->n++] = status;
}

static int find(const struct slugs *s, const char *slug)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->slug[i], slug) == 0)
            return (int)i;
    return -1;
}

/* The values of problem.h's `#define PROBLEM_X "slug"` lines. */
static void header_slugs(struct slugs *s)
{
    FILE *f = open_source("src/core/problem.h");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "#define PROBLEM_", 16) != 0)
            continue;
        char *q = strchr(line, '"');
        cr_assert_not_null(q, "a PROBLEM_ constant without a string: %s", line);
        char *e = strchr(q + 1, '"');
        cr_assert_not_null(e);
        add(s, q + 1, (size_t)(e - q - 1), 0, "problem.h");
    }
    fclose(f);
}

/* The table rows of docs/problem-types.md: "| `slug` | status | ...". */
static void doc_slugs(struct slugs *s)
{
    FILE *f = open_source("docs/problem-types.md");
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "| `", 3) != 0)
            continue;
        char *e = strchr(line + 3, '`');
        cr_assert_not_null(e, "a row without a closing backquote: %s", line);
        char *st = strchr(e, '|');
        cr_assert_not_null(st);
        int status = atoi(st + 1);
        add(s, line + 3, (size_t)(e - line - 3), status, "problem-types.md");
    }
    fclose(f);
}

static bool kebab(const char *s)
{
    if (!*s || *s == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') ||
            (*p == '-' && (p[1] == '-' || p[1] == '\0')))
            return false;
    return true;
}

Test(problem, doc_and_header_list_the_same_slugs)
{
    static struct slugs h, d;
    header_slugs(&h);
    doc_slugs(&d);
    cr_assert_gt(h.n, 50, "problem.h lists only %zu slugs", h.n);
    for (size_t i = 0; i < h.n; i++)
        cr_expect_geq(find(&d, h.slug[i]), 0, "%s is in problem.h but not in problem-types.md",
                      h.slug[i]);
    for (size_t i = 0; i < d.n; i++)
        cr_expect_geq(find(&h, d.slug[i]), 0, "%s is in problem-types.md but not in problem.h",
                      d.slug[i]);
    cr_assert_eq(h.n, d.n);
}

Test(problem, doc_statuses_are_the_codes)
{
    static struct slugs d;
    doc_slugs(&d);
    for (size_t i = 0; i < d.n; i++)
        cr_expect_eq(problem_status(d.slug[i]), d.status[i], "%s: the code says %d, the doc %d",
                     d.slug[i], problem_status(d.slug[i]), d.status[i]);
}

Test(problem, table_is_the_header)
{
    static struct slugs h;
    header_slugs(&h);
    size_t n = 0;
    for (const char *s; (s = problem_slug_at(n)); n++) {
        cr_expect_geq(find(&h, s), 0, "problem.c lists %s, problem.h does not", s);
        cr_expect(kebab(s), "%s is not kebab-case", s);
        int st = problem_status(s);
        cr_expect(st >= 400 && st <= 599, "%s: status %d", s, st);
    }
    cr_assert_eq(n, h.n, "problem.c lists %zu slugs, problem.h %zu", n, h.n);
}

Test(problem, every_code_defaults_to_a_listed_slug)
{
    const int codes[] = {DUPLA_ENOMEM,     DUPLA_EINVAL,
                         DUPLA_ENOTFOUND,  DUPLA_ECONFLICT,
                         DUPLA_EFORBIDDEN, DUPLA_EUNAUTH,
                         DUPLA_ELIMIT,     DUPLA_EIO,
                         DUPLA_ESTORE,     DUPLA_ECRYPTO,
                         DUPLA_EBUSY,      DUPLA_EINTERNAL,
                         DUPLA_ERATE,      -99};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        err_t e;
        err_set(&e, codes[i], "x");
        cr_expect(problem_known(err_reason(&e)), "code %d: %s", codes[i], err_reason(&e));
        cr_expect_eq(problem_status(err_reason(&e)), err_status(&e), "code %d", codes[i]);
    }
}

Test(problem, reason_and_is)
{
    err_t e;
    err_clear(&e);
    e.code = DUPLA_ECONFLICT;
    cr_assert_str_eq(err_reason(&e), PROBLEM_CONFLICT, "no type: the code's slug");
    cr_assert(err_is(&e, PROBLEM_CONFLICT));
    cr_assert_eq(
        err_refuse(&e, DUPLA_ECONFLICT, PROBLEM_LAST_ADMINISTRATOR, "user", "last %s", "admin"),
        DUPLA_ECONFLICT);
    cr_assert(err_is(&e, PROBLEM_LAST_ADMINISTRATOR));
    cr_assert(!err_is(&e, PROBLEM_CONFLICT));
    cr_assert_str_eq(e.param, "user");
    cr_assert_str_eq(e.detail, "last admin");
    cr_assert_eq(err_status(&e), 409);
    err_set(&e, DUPLA_EUNAUTH, "revoked");
    err_problem(&e, PROBLEM_CERT_REVOKED);
    cr_assert_eq(err_status(&e), 401);
    cr_assert(!err_is(NULL, PROBLEM_CONFLICT));
    cr_assert(!err_is(&e, NULL));
    cr_assert_eq(problem_status("no-such-slug"), 0);
    cr_assert_eq(err_refuse(NULL, DUPLA_EINVAL, PROBLEM_FORM_INVALID, NULL, "x"), DUPLA_EINVAL);
}
