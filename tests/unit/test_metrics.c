/* Unit tests: core/metrics (the process registry behind GET /metrics):
 * the text format, redeclaration, the bound on series, and thread safety. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"

static char *render(buf_t *b)
{
    buf_init(b, 1u << 24);
    cr_assert_eq(metrics_render(b), 0);
    cr_assert_eq(buf_append(b, "", 1), 0);
    return (char *)b->data;
}

Test(metrics, counter_gauge_and_text_format)
{
    metric_t *c = metrics_counter("t_requests_total", "Requests.", "route,reason");
    metric_t *g = metrics_gauge("t_depth", "Depth.", NULL);
    cr_assert_not_null(c);
    cr_assert_not_null(g);
    buf_t b;
    char *t = render(&b);
    /* declared, never updated: named, and a label-less one reads 0 */
    cr_assert(strstr(t, "# TYPE t_requests_total counter\n"), "%s", t);
    cr_assert(strstr(t, "# HELP t_depth Depth.\n# TYPE t_depth gauge\nt_depth 0\n"), "%s", t);
    buf_free(&b);

    metric_add(c, 1, "/a", "not-found");
    metric_add(c, 2, "/a", "not-found");
    metric_add(c, 1, "/b\"x", "forbidden");
    metric_set(g, 7);
    metric_set(g, 3);
    cr_assert_eq(metric_value(c, "/a", "not-found"), 3);
    cr_assert_eq(metric_value(c, "/a", "forbidden"), 0);
    cr_assert_eq(metric_value(g), 3);
    t = render(&b);
    cr_assert(strstr(t, "t_requests_total{route=\"/a\",reason=\"not-found\"} 3\n"), "%s", t);
    cr_assert(strstr(t, "t_requests_total{route=\"/b\\\"x\",reason=\"forbidden\"} 1\n"), "%s", t);
    cr_assert(strstr(t, "t_depth 3\n"), "%s", t);
    buf_free(&b);

    /* the same name again is the same family; another type is refused */
    cr_assert_eq(metrics_counter("t_requests_total", "Requests.", "route,reason"), c);
    cr_assert_null(metrics_gauge("t_requests_total", "Requests.", NULL));
    cr_assert_null(metrics_counter("t bad", "x", NULL));
    cr_assert_null(metrics_counter("t_bad_label", "x", "a,b-c"));
    cr_assert_null(metrics_counter("t_four_labels", "x", "a,b,c,d"));
}

Test(metrics, histogram_buckets_sum_count)
{
    static const double bounds[] = {0.1, 1, 10};
    metric_t *h = metrics_histogram("t_wait_seconds", "Wait.", "backend", bounds, 3);
    cr_assert_not_null(h);
    metric_observe(h, 0.05, "sqlite");
    metric_observe(h, 0.5, "sqlite");
    metric_observe(h, 50, "sqlite");
    cr_assert_eq(metric_value(h, "sqlite"), 3);
    buf_t b;
    char *t = render(&b);
    cr_assert(strstr(t, "# TYPE t_wait_seconds histogram\n"
                        "t_wait_seconds_bucket{backend=\"sqlite\",le=\"0.1\"} 1\n"
                        "t_wait_seconds_bucket{backend=\"sqlite\",le=\"1\"} 2\n"
                        "t_wait_seconds_bucket{backend=\"sqlite\",le=\"10\"} 2\n"
                        "t_wait_seconds_bucket{backend=\"sqlite\",le=\"+Inf\"} 3\n"
                        "t_wait_seconds_sum{backend=\"sqlite\"} 50.55\n"
                        "t_wait_seconds_count{backend=\"sqlite\"} 3\n"),
              "%s", t);
    buf_free(&b);
    static const double unordered[] = {1, 0.5};
    cr_assert_null(metrics_histogram("t_bad_buckets", "x", NULL, unordered, 2));
    /* the default buckets are in seconds */
    metric_t *d = metrics_histogram("t_default_seconds", "x", NULL, NULL, 0);
    metric_observe(d, 0.003);
    t = render(&b);
    cr_assert(strstr(t, "t_default_seconds_bucket{le=\"0.0025\"} 0\n"), "%s", t);
    cr_assert(strstr(t, "t_default_seconds_bucket{le=\"0.005\"} 1\n"), "%s", t);
    buf_free(&b);
}

Test(metrics, series_are_bounded_and_gauges_clear)
{
    metric_t *g = metrics_gauge("t_many", "Many.", "k");
    char k[32];
    for (int i = 0; i < METRICS_SERIES_MAX + 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        metric_set(g, 1, k);
    }
    /* the first ones are kept; everything past the bound is "other" */
    cr_assert_eq(metric_value(g, "k0"), 1);
    cr_assert_eq(metric_value(g, "other"), 1);
    snprintf(k, sizeof k, "k%d", METRICS_SERIES_MAX + 50);
    cr_assert_eq(metric_value(g, k), 0);
    metric_clear(g);
    cr_assert_eq(metric_value(g, "k0"), 0);
    buf_t b;
    char *t = render(&b);
    cr_assert_null(strstr(t, "t_many{"), "cleared gauge still has series");
    buf_free(&b);
    /* a NULL family (a full registry) is harmless */
    metric_add(NULL, 1);
    metric_observe(NULL, 1);
    cr_assert_eq(metric_value(NULL), 0);
}

static void *add_many(void *arg)
{
    metric_t *c = arg;
    for (int i = 0; i < 10000; i++)
        metric_add(c, 1, i % 2 ? "odd" : "even");
    return NULL;
}

Test(metrics, concurrent_updates_are_not_lost)
{
    metric_t *c = metrics_counter("t_concurrent_total", "x", "parity");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, add_many, c);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(metric_value(c, "odd"), 20000);
    cr_assert_eq(metric_value(c, "even"), 20000);
}
