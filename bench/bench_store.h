/*
 * bench_store.h: how the benchmarks take the store they measure.
 *
 * Every benchmark that touches the store takes --store URL: "sqlite:DIR"
 * (a folder: each fresh database is a new file in it) or a PostgreSQL
 * connection string (a URI or key/value string). A PostgreSQL database
 * named this way is WIPED before each measurement (its schema public is
 * dropped and made again): give it a throw-away server
 * (scripts/pg-test-server.sh; bench/run.sh does).
 */
#ifndef DUPLA_BENCH_STORE_H
#define DUPLA_BENCH_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define BENCH_URL_MAX 1024

/* true when url names a PostgreSQL server (as store_open decides). */
bool bench_store_is_pg(const char *url);

/* Opens a fresh, empty store: for "sqlite:DIR" a new file DIR/<name>.db
 * (removed first when it exists); for PostgreSQL the named database with
 * its schema public dropped and made again. Exits with a message on
 * failure. */
store_t *bench_store_fresh(const char *url, const char *name, const struct store_options *opt);

/* The URL of the store bench_store_fresh(url, name) opens, to open it
 * again (without wiping it). */
void bench_store_url(const char *url, const char *name, char *out, size_t cap);

/* "sqlite" or "postgresql", for the figures. */
const char *bench_store_label(const char *url);

#endif
