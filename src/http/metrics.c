/*
 * metrics.c: what GET /metrics shows, in the Prometheus text format 0.0.4.
 *
 *   dupla_build_info{version,environment}                 gauge, always 1
 *   dupla_http_requests_total{route,status}               counter
 *   dupla_http_request_duration_seconds{route}           histogram
 *   dupla_http_open_connections{listener}                 gauge
 *   dupla_http_requests_in_flight                         gauge
 *   dupla_http_refusals_total{route,reason}               counter
 *
 * then every family of the process registry (core/metrics.h) that the
 * other layers declare (audit, token, store, mail, expiry...).
 *
 * "reason" is the problem type slug of a problem+json answer (core/
 * problem.h's closed list, so the label set stays small); a data
 * service's route is named by its path, so route is the service.
 * "route" is the route's name (routes that share a name share a series);
 * requests that matched no route count under route="unmatched". The time
 * is from the request line to the end of the answer. One mutex guards the
 * counters: an observation is a few additions, far below the cost of a TLS
 * record.
 */
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "http/internal.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct route_metrics {
    size_t n_status;
    unsigned status[HTTP_METRIC_STATUSES];
    uint64_t by_status[HTTP_METRIC_STATUSES];
    uint64_t other_status; /* statuses past HTTP_METRIC_STATUSES distinct ones */
    uint64_t bucket[N_BUCKETS];
    uint64_t count;
    double sum_seconds;
};

struct http_metrics {
    pthread_mutex_t lock;
    size_t n; /* routes + 1 (unmatched) */
    struct route_metrics *r;
    metric_t *refusals; /* the process registry's; shared by every server */
};

int http_metrics_new(size_t n_routes, struct http_metrics **out)
{
    struct http_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return DUPLA_ENOMEM;
    m->n = n_routes + 1;
    m->r = calloc(m->n, sizeof *m->r);
    if (!m->r) {
        free(m);
        return DUPLA_ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->refusals = metrics_counter("dupla_http_refusals_total",
                                  "Requests refused with a problem+json answer, by route (a data "
                                  "service's path) and reason (the problem type slug).",
                                  "route,reason");
    *out = m;
    return 0;
}

void http_metrics_free(struct http_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->r);
    free(m);
}

void http_metrics_observe(struct http_metrics *m, size_t slot, unsigned status, int64_t duration_ns)
{
    if (!m)
        return;
    if (slot >= m->n)
        slot = m->n - 1;
    double s = (double)duration_ns / 1e9;
    pthread_mutex_lock(&m->lock);
    struct route_metrics *r = &m->r[slot];
    size_t i = 0;
    while (i < r->n_status && r->status[i] != status)
        i++;
    if (i == r->n_status && r->n_status < HTTP_METRIC_STATUSES)
        r->status[r->n_status++] = status;
    if (i < r->n_status)
        r->by_status[i]++;
    else
        r->other_status++;
    for (size_t b = 0; b < N_BUCKETS; b++)
        if (s <= buckets[b])
            r->bucket[b]++;
    r->count++;
    r->sum_seconds += s;
    pthread_mutex_unlock(&m->lock);
}

/* The name of metrics slot i: the first route that uses it. */
static const char *slot_name(const http_server_t *srv, size_t slot);

void http_metrics_refused(http_server_t *srv, size_t slot, const char *reason)
{
    if (srv->metrics)
        metric_add(srv->metrics->refusals, 1, slot_name(srv, slot), reason);
}

/* A label value with \, " and newline escaped. */
static int label(buf_t *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        int rc;
        if (*p == '\\' || *p == '"')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            rc = buf_append_cstr(out, "\\n");
        else
            rc = buf_append(out, p, 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* The name of metrics slot i: the first route that uses it. */
static const char *slot_name(const http_server_t *srv, size_t slot)
{
    if (slot >= srv->router.n)
        return "unmatched";
    return srv->router.routes[slot].route.name;
}

int http_metrics_render(http_server_t *srv, buf_t *out)
{
    struct http_metrics *m = srv->metrics;
    int rc = 0;
#define P(...)                                                                                     \
    do {                                                                                           \
        if ((rc = buf_printf(out, __VA_ARGS__)))                                                   \
            goto done;                                                                             \
    } while (0)
#define L(v)                                                                                       \
    do {                                                                                           \
        if ((rc = label(out, v)))                                                                  \
            goto done;                                                                             \
    } while (0)
    P("# HELP dupla_build_info The running build; the value is always 1.\n"
      "# TYPE dupla_build_info gauge\n"
      "dupla_build_info{version=\"%s\",environment=\"%s\"} 1\n",
      DUPLA_VERSION, environment_name(srv->cfg->environment));

    P("# HELP dupla_http_open_connections Open client connections, by listener.\n"
      "# TYPE dupla_http_open_connections gauge\n");
    for (size_t i = 0; i < srv->n_listeners; i++) {
        P("dupla_http_open_connections{listener=\"");
        L(srv->listeners[i].cfg->name);
        P("\"} %u\n", atomic_load(&srv->listeners[i].open_connections));
    }
    pthread_mutex_lock(&srv->drain_lock);
    unsigned in_flight = srv->in_flight;
    pthread_mutex_unlock(&srv->drain_lock);
    P("# HELP dupla_http_requests_in_flight Requests being received or answered.\n"
      "# TYPE dupla_http_requests_in_flight gauge\n"
      "dupla_http_requests_in_flight %u\n",
      in_flight);
    if (!m)
        goto done;

    pthread_mutex_lock(&m->lock);
    rc = buf_printf(out, "# HELP dupla_http_requests_total Requests answered, by route and "
                         "status.\n# TYPE dupla_http_requests_total counter\n");
    for (size_t s = 0; !rc && s < m->n; s++) {
        const struct route_metrics *r = &m->r[s];
        for (size_t i = 0; !rc && i <= r->n_status; i++) {
            uint64_t v = i < r->n_status ? r->by_status[i] : r->other_status;
            if (i == r->n_status && v == 0)
                break;
            rc = buf_append_cstr(out, "dupla_http_requests_total{route=\"");
            if (!rc)
                rc = label(out, slot_name(srv, s));
            if (!rc && i < r->n_status)
                rc = buf_printf(out, "\",status=\"%u\"} %llu\n", r->status[i],
                                (unsigned long long)v);
            else if (!rc)
                rc = buf_printf(out, "\",status=\"other\"} %llu\n", (unsigned long long)v);
        }
    }
    if (!rc)
        rc = buf_printf(out, "# HELP dupla_http_request_duration_seconds Time from the request "
                             "line to the end of the answer, by route.\n"
                             "# TYPE dupla_http_request_duration_seconds histogram\n");
    for (size_t s = 0; !rc && s < m->n; s++) {
        const struct route_metrics *r = &m->r[s];
        if (r->count == 0)
            continue;
        const char *name = slot_name(srv, s);
        for (size_t b = 0; !rc && b <= N_BUCKETS; b++) {
            rc = buf_append_cstr(out, "dupla_http_request_duration_seconds_bucket{route=\"");
            if (!rc)
                rc = label(out, name);
            if (!rc && b < N_BUCKETS)
                rc = buf_printf(out, "\",le=\"%g\"} %llu\n", buckets[b],
                                (unsigned long long)r->bucket[b]);
            else if (!rc)
                rc = buf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)r->count);
        }
        if (!rc)
            rc = buf_append_cstr(out, "dupla_http_request_duration_seconds_sum{route=\"");
        if (!rc)
            rc = label(out, name);
        if (!rc)
            rc = buf_printf(out, "\"} %.6f\n", r->sum_seconds);
        if (!rc)
            rc = buf_append_cstr(out, "dupla_http_request_duration_seconds_count{route=\"");
        if (!rc)
            rc = label(out, name);
        if (!rc)
            rc = buf_printf(out, "\"} %llu\n", (unsigned long long)r->count);
    }
    pthread_mutex_unlock(&m->lock);
done:
    if (!rc)
        rc = metrics_render(out);
    return rc;
#undef P
#undef L
}
