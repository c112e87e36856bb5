/*
 * bench_agreement.c: how fast the data path's agreement decision is, beside
 * the baseline it replaces: asking the store the same question with one
 * prepared SELECT per call (SQLite, same machine, same run).
 *
 * usage: bench-agreement [--smoke] [--agreements N] [--calls N]
 * Prints decisions per second for 1 and 2 threads, the store baseline, and
 * the ratios. Not run by make check.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "core/clock.h"
#include "core/log.h"

#define ORG "12345674"

static agreement_t *ag;
static store_t *st;
static char (*ids)[AGREEMENT_ID_LEN + 1];
static long n_ids, n_calls;

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "bench-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

static void die(const char *what, const err_t *err)
{
    fprintf(stderr, "bench-agreement: %s: %s\n", what, err->log[0] ? err->log : err->detail);
    exit(1);
}

static void setup(const char *dir)
{
    err_t err;
    char url[256];
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    if (store_open(url, NULL, &st, &err) || agreement_open(st, NULL, &ag, &err))
        die("open", &err);
    struct agreement_actor p = actor(1, ORG, AGREEMENT_ROLE_PROCESSOR),
                           s = actor(2, ORG, AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    char from[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL) - 1, from, sizeof from);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:{s:[s, s, s, s, s, s, s, s]}, s:s, s:{s:s, s:s}}",
                  "title", "bench", "purpose", "bench", "legal_basis", "law", "L", "section", "1",
                  "services", "Momsangivelse", "AngivelseSalgsmoms", "AngivelseKoebsmoms",
                  "RubrikA", "RubrikB", "RubrikC", "Momstilsvar", "EUKoeb", "Eksport", "valid_from",
                  from, "contact", "name", "b", "email", "b@example.invalid");
    for (long i = 0; i < n_ids; i++) {
        if (agreement_create(ag, &p, ENV_TEST, app, ids[i], &err) ||
            agreement_sign(ag, &s, str_from_cstr(ids[i]), &err) ||
            agreement_approve(ag, &r, str_from_cstr(ids[i]), "ok", NULL, NULL, &err))
            die("setup", &err);
    }
    json_decref(app);
}

static const str_t fields[] = {STR("AngivelseSalgsmoms"), STR("AngivelseKoebsmoms"), STR("RubrikA"),
                               STR("Momstilsvar")};

static void *decide_loop(void *arg)
{
    long *allowed = arg;
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    bool gr[4];
    struct agreement_decision d;
    int64_t now = clock_now_ms();
    for (long i = 0; i < n_calls; i++) {
        if (agreement_decide(agreement_registry(ag), &caller, str_from_cstr(ids[i % n_ids]),
                             STR("Momsangivelse"), fields, 4, true, now, gr, &d) == 0)
            (*allowed)++;
    }
    return NULL;
}

static double run_threads(int n)
{
    pthread_t t[2];
    long allowed[2] = {0, 0};
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, decide_loop, &allowed[i]);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    for (int i = 0; i < n; i++)
        if (allowed[i] != n_calls) {
            fprintf(stderr, "bench-agreement: %ld of %ld allowed\n", allowed[i], n_calls);
            exit(1);
        }
    return (double)n_calls * n / secs;
}

/* The baseline: one prepared SELECT of the serving version per call, the
 * least a store-backed decision would cost (no JSON parsing counted). */
static double run_store(long calls)
{
    err_t err;
    store_conn_t *c;
    if (store_conn_get(st, &c, &err))
        die("conn", &err);
    int64_t t0 = clock_mono_ns();
    for (long i = 0; i < calls; i++) {
        store_stmt_t *s;
        if (store_prepare(c,
                          "SELECT a.org_cvr, a.environment, v.state, v.valid_from, v.valid_until,"
                          " v.granted FROM agreement a JOIN agreement_version v ON"
                          " v.agreement_id = a.id AND v.version = a.serving_version WHERE a.id = ?",
                          &s, &err))
            die("prepare", &err);
        store_bind_cstr(s, 1, ids[i % n_ids]);
        if (store_step(s, &err) != STORE_ROW)
            die("step", &err);
        store_stmt_done(s);
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    store_conn_put(c);
    return (double)calls / secs;
}

int main(int argc, char **argv)
{
    n_ids = 1000;
    n_calls = 2000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            n_ids = 20;
            n_calls = 20000;
        } else if (strcmp(argv[i], "--agreements") == 0 && i + 1 < argc) {
            n_ids = atol(argv[++i]);
        } else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
            n_calls = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench-agreement [--smoke] [--agreements N] [--calls N]\n");
            return 2;
        }
    }
    if (n_ids < 1 || n_calls < 1)
        return 2;
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/dupla-bench-agreement-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    ids = calloc((size_t)n_ids, sizeof *ids);
    int64_t t0 = clock_mono_ns();
    setup(dir);
    double setup_s = (double)(clock_mono_ns() - t0) / 1e9;
    int64_t r0 = clock_mono_ns();
    err_t err;
    if (agreement_registry_reload(ag, &err))
        die("reload", &err);
    double reload_ms = (double)(clock_mono_ns() - r0) / 1e6;
    double one = run_threads(1), two = run_threads(2);
    double base = run_store(n_calls / 10 > 1000 ? n_calls / 10 : 1000);
    printf("agreements: %ld (set up in %.1f s; one registry rebuild %.2f ms)\n", n_ids, setup_s,
           reload_ms);
    printf("baseline  store SELECT per call:   %12.0f /s\n", base);
    printf("decide    1 thread:                %12.0f /s  (%.1fx baseline)\n", one, one / base);
    printf("decide    2 threads:               %12.0f /s  (%.1fx baseline)\n", two, two / base);
    agreement_close(ag);
    store_close(st);
    free(ids);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
