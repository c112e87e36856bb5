/*
 * fixture.c: see fixture.h.
 */
#include "fixture.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void fx_tmpdir(char *dir, const char *tag)
{
    int n = snprintf(dir, FX_DIR_MAX, "/tmp/dupla-%s-XXXXXX", tag);
    cr_assert(n > 0 && n < FX_DIR_MAX, "tag too long: %s", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

void fx_rmtree(const char *dir)
{
    if (!dir || !dir[0])
        return;
    cr_assert_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0, "removing %s", dir);
}

store_t *fx_store(const char *dir, const char *name)
{
    char url[FX_DIR_MAX + 80];
    snprintf(url, sizeof url, "sqlite:%s/%s", dir, name);
    store_t *st = NULL;
    err_t err;
    err_clear(&err);
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.detail);
    return st;
}

void fx_source_path(char *out, size_t cap, const char *rel)
{
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    int n = snprintf(out, cap, "%s/%s", root ? root : ".", rel);
    cr_assert(n > 0 && (size_t)n < cap, "path too long: %s", rel);
}

catalog_t *fx_catalog(void)
{
    char dir[1024];
    fx_source_path(dir, sizeof dir, "catalog");
    catalog_t *cat = NULL;
    err_t err;
    err_clear(&err);
    cr_assert_eq(catalog_load_dir(dir, &cat, &err), 0, "%s", err.detail);
    return cat;
}
