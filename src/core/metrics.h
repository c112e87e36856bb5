/*
 * metrics.h: the process's Prometheus metrics, for every layer.
 *
 * A module declares its metric families once (metrics_counter, _gauge,
 * _histogram; declaring a name again returns the same family, so two
 * stores or two tests in one process share it) and then updates series by
 * their label values, in the order the declaration named the labels.
 * GET /metrics (src/http/metrics.c) renders every family after the HTTP
 * server's own, in the text format 0.0.4.
 *
 * Label cardinality is bounded by construction: a family holds at most
 * METRICS_SERIES_MAX series; an update for a new combination past that
 * goes to one series whose every label is "other". Label values must come
 * from a closed set (route names, problem slugs, kinds), never from
 * request input or personal data.
 *
 * Every call is thread-safe (one mutex per family; an update is a lookup
 * among a few dozen series and an addition). A NULL family (the registry
 * was full) makes every update a no-op.
 */
#ifndef DUPLA_CORE_METRICS_H
#define DUPLA_CORE_METRICS_H

#include <stddef.h>

#include "core/buf.h"

#define METRICS_FAMILIES_MAX 64  /* families in the process */
#define METRICS_SERIES_MAX   512 /* series per family */
#define METRICS_LABELS_MAX   3   /* labels per family */
#define METRICS_LABEL_MAX    64  /* bytes of a label value (longer is cut) */
#define METRICS_BUCKETS_MAX  16  /* buckets of a histogram (+Inf added) */

typedef struct metric metric_t;

/* Declares (or finds) a family. labels: comma-separated label names, or
 * NULL for none. NULL when the registry is full or the arguments are bad
 * (a name or label that is not [a-zA-Z_][a-zA-Z0-9_]*). */
metric_t *metrics_counter(const char *name, const char *help, const char *labels);
metric_t *metrics_gauge(const char *name, const char *help, const char *labels);
/* buckets: the upper bounds, increasing; NULL uses METRICS_SECONDS_BUCKETS
 * (1 ms .. 10 s). */
metric_t *metrics_histogram(const char *name, const char *help, const char *labels,
                            const double *buckets, size_t n_buckets);

/* Updates the series named by the label values (const char *, as many as
 * the family declared; NULL counts as ""). */
void metric_add(metric_t *m, double v, ...);     /* counter or gauge */
void metric_set(metric_t *m, double v, ...);     /* gauge */
void metric_observe(metric_t *m, double v, ...); /* histogram */
/* Drops every series of a gauge, for gauges recomputed as a whole (the
 * expiry counts): a combination that no longer occurs disappears. */
void metric_clear(metric_t *m);
/* The series' value (a histogram: its count); 0 when it does not exist.
 * For tests and for callers that derive one figure from another. */
double metric_value(metric_t *m, ...);

/* Appends every family as Prometheus text: its HELP and TYPE lines even
 * before its first update (so a scrape names every metric the process
 * declared), and a family without labels as 0 until then. */
int metrics_render(buf_t *out);

#endif
