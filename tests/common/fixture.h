/*
 * fixture.h: what many tests set up the same way: a private temporary
 * folder (removed afterwards without a shell), a SQLite store in it, the
 * repository's service catalogue, and paths under the source tree. Each
 * call asserts (Criterion) instead of returning an error.
 */
#ifndef DUPLA_TESTS_FIXTURE_H
#define DUPLA_TESTS_FIXTURE_H

#include <stddef.h>

#include "catalog/catalog.h"
#include "store/store.h"

#define FX_DIR_MAX 64

/* A new folder /tmp/dupla-<tag>-XXXXXX (0700) into dir (FX_DIR_MAX bytes). */
void fx_tmpdir(char *dir, const char *tag);
/* Removes dir and everything below it (links are removed, not followed). */
void fx_rmtree(const char *dir);
/* A SQLite store in dir/<name>. */
store_t *fx_store(const char *dir, const char *name);
/* <source root>/<rel> into out (DUPLA_SOURCE_ROOT, set by meson; "." otherwise). */
void fx_source_path(char *out, size_t cap, const char *rel);
/* The repository's service catalogue (catalog/). */
catalog_t *fx_catalog(void);

#endif
