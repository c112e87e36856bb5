/*
 * bench_store.c: fresh stores for the benchmarks (see bench_store.h).
 */
#include "bench_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool bench_store_is_pg(const char *url)
{
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    const char *p = url; /* key/value: a keyword, then '=' */
    while (*p == ' ')
        p++;
    const char *k = p;
    while ((*p >= 'a' && *p <= 'z') || *p == '_')
        p++;
    while (p > k && *p == ' ')
        p++;
    return p > k && *p == '=';
}

const char *bench_store_label(const char *url)
{
    return bench_store_is_pg(url) ? "postgresql" : "sqlite";
}

void bench_store_url(const char *url, const char *name, char *out, size_t cap)
{
    if (bench_store_is_pg(url))
        snprintf(out, cap, "%s", url);
    else
        snprintf(out, cap, "sqlite:%s/%s.db", strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url,
                 name);
}

store_t *bench_store_fresh(const char *url, const char *name, const struct store_options *opt)
{
    char u[BENCH_URL_MAX + 256];
    store_t *st;
    err_t err;
    bool pg = bench_store_is_pg(url);
    bench_store_url(url, name, u, sizeof u);
    if (!pg) {
        static const char *const ext[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            char f[sizeof u + 8];
            snprintf(f, sizeof f, "%s%s", u + 7, ext[i]);
            unlink(f);
        }
    }
    if (store_open(u, opt, &st, &err)) {
        fprintf(stderr, "bench: %s: %s\n", bench_store_label(url), err.log);
        exit(1);
    }
    if (pg) {
        store_conn_t *c;
        if (store_conn_get(st, &c, &err) ||
            store_exec(c, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public", &err)) {
            fprintf(stderr, "bench: cannot empty the PostgreSQL database: %s\n", err.log);
            exit(1);
        }
        store_conn_put(c);
    }
    return st;
}
