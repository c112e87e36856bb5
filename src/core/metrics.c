/*
 * metrics.c: the process-wide registry of metric families (metrics.h).
 *
 * Families live for the whole process (a registry, like a Prometheus
 * client's default one): a module that closes and opens again finds its
 * families and goes on counting, which is what a scraper expects of a
 * counter. Series are kept in declaration order of their first update.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const double seconds_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

struct series {
    char label[METRICS_LABELS_MAX][METRICS_LABEL_MAX];
    double value; /* counter, gauge; a histogram's sum */
    uint64_t count;
    uint64_t bucket[METRICS_BUCKETS_MAX];
};

struct metric {
    char name[96];
    char help[256];
    enum metric_type type;
    size_t n_labels;
    char label_name[METRICS_LABELS_MAX][32];
    double bound[METRICS_BUCKETS_MAX];
    size_t n_buckets;
    pthread_mutex_t mu;
    struct series *series;
    size_t n, cap;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct metric *registry[METRICS_FAMILIES_MAX];
static size_t registry_n;

static bool valid_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static metric_t *declare(enum metric_type type, const char *name, const char *help,
                         const char *labels, const double *buckets, size_t n_buckets)
{
    if (!name || strlen(name) >= sizeof registry[0]->name || !valid_name(name, strlen(name)))
        return NULL;
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; i < registry_n; i++)
        if (strcmp(registry[i]->name, name) == 0) {
            struct metric *m = registry[i]->type == type ? registry[i] : NULL;
            pthread_mutex_unlock(&registry_mu);
            return m;
        }
    struct metric *m = NULL;
    if (registry_n == METRICS_FAMILIES_MAX || !(m = calloc(1, sizeof *m)))
        goto fail;
    m->type = type;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->help, sizeof m->help, "%s", help ? help : "");
    for (const char *p = labels; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (m->n_labels == METRICS_LABELS_MAX || len >= sizeof m->label_name[0] ||
            !valid_name(p, len))
            goto fail;
        memcpy(m->label_name[m->n_labels++], p, len);
        p = comma ? comma + 1 : p + len;
    }
    if (type == METRIC_HISTOGRAM) {
        if (!buckets) {
            buckets = seconds_buckets;
            n_buckets = sizeof seconds_buckets / sizeof seconds_buckets[0];
        }
        if (n_buckets == 0 || n_buckets > METRICS_BUCKETS_MAX)
            goto fail;
        for (size_t i = 0; i < n_buckets; i++) {
            if (i > 0 && buckets[i] <= buckets[i - 1])
                goto fail;
            m->bound[i] = buckets[i];
        }
        m->n_buckets = n_buckets;
    }
    pthread_mutex_init(&m->mu, NULL);
    registry[registry_n++] = m;
    pthread_mutex_unlock(&registry_mu);
    return m;
fail:
    pthread_mutex_unlock(&registry_mu);
    free(m);
    return NULL;
}

metric_t *metrics_counter(const char *name, const char *help, const char *labels)
{
    return declare(METRIC_COUNTER, name, help, labels, NULL, 0);
}

metric_t *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return declare(METRIC_GAUGE, name, help, labels, NULL, 0);
}

metric_t *metrics_histogram(const char *name, const char *help, const char *labels,
                            const double *buckets, size_t n_buckets)
{
    return declare(METRIC_HISTOGRAM, name, help, labels, buckets, n_buckets);
}

/* The series whose labels are want[], or NULL. Called with m->mu held. */
static struct series *lookup(struct metric *m, char want[][METRICS_LABEL_MAX])
{
    for (size_t s = 0; s < m->n; s++) {
        size_t i = 0;
        while (i < m->n_labels && strcmp(m->series[s].label[i], want[i]) == 0)
            i++;
        if (i == m->n_labels)
            return &m->series[s];
    }
    return NULL;
}

/* The series for the label values in ap, made when new; past
 * METRICS_SERIES_MAX - 1 series a new combination goes to the one series
 * labelled "other". NULL when it does not exist and create is false, or
 * out of memory. Called with m->mu held. */
static struct series *find_series(struct metric *m, va_list ap, bool create)
{
    char want[METRICS_LABELS_MAX][METRICS_LABEL_MAX];
    for (size_t i = 0; i < m->n_labels; i++) {
        const char *v = va_arg(ap, const char *);
        snprintf(want[i], sizeof want[i], "%s", v ? v : "");
    }
    struct series *s = lookup(m, want);
    if (s || !create)
        return s;
    if (m->n >= METRICS_SERIES_MAX - 1) {
        for (size_t i = 0; i < m->n_labels; i++)
            snprintf(want[i], sizeof want[i], "other");
        if ((s = lookup(m, want)) != NULL)
            return s;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        if (cap > METRICS_SERIES_MAX)
            cap = METRICS_SERIES_MAX;
        struct series *p = realloc(m->series, cap * sizeof *p);
        if (!p)
            return NULL;
        m->series = p;
        m->cap = cap;
    }
    s = &m->series[m->n++];
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < m->n_labels; i++)
        memcpy(s->label[i], want[i], sizeof want[i]);
    return s;
}

void metric_add(metric_t *m, double v, ...)
{
    if (!m || m->type == METRIC_HISTOGRAM)
        return;
    va_list ap;
    va_start(ap, v);
    pthread_mutex_lock(&m->mu);
    struct series *s = find_series(m, ap, true);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->mu);
    va_end(ap);
}

void metric_set(metric_t *m, double v, ...)
{
    if (!m || m->type != METRIC_GAUGE)
        return;
    va_list ap;
    va_start(ap, v);
    pthread_mutex_lock(&m->mu);
    struct series *s = find_series(m, ap, true);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->mu);
    va_end(ap);
}

void metric_observe(metric_t *m, double v, ...)
{
    if (!m || m->type != METRIC_HISTOGRAM)
        return;
    va_list ap;
    va_start(ap, v);
    pthread_mutex_lock(&m->mu);
    struct series *s = find_series(m, ap, true);
    if (s) {
        for (size_t b = 0; b < m->n_buckets; b++)
            if (v <= m->bound[b])
                s->bucket[b]++;
        s->count++;
        s->value += v;
    }
    pthread_mutex_unlock(&m->mu);
    va_end(ap);
}

void metric_clear(metric_t *m)
{
    if (!m || m->type != METRIC_GAUGE)
        return;
    pthread_mutex_lock(&m->mu);
    m->n = 0;
    pthread_mutex_unlock(&m->mu);
}

double metric_value(metric_t *m, ...)
{
    if (!m)
        return 0;
    va_list ap;
    va_start(ap, m);
    pthread_mutex_lock(&m->mu);
    struct series *s = find_series(m, ap, false);
    double v = !s ? 0 : m->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->mu);
    va_end(ap);
    return v;
}

/* A label value with \, " and newline escaped. */
static int escaped(buf_t *out, const char *v)
{
    int rc = 0;
    for (const char *p = v; *p && !rc; p++) {
        if (*p == '\\' || *p == '"')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            rc = buf_append_cstr(out, "\\n");
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

/* {a="x",b="y"[,le="..."]}; nothing when there are no labels and no le. */
static int labels(buf_t *out, const struct metric *m, const struct series *s, const char *le)
{
    if (m->n_labels == 0 && !le)
        return 0;
    int rc = buf_append_cstr(out, "{");
    for (size_t i = 0; !rc && i < m->n_labels; i++) {
        rc = buf_printf(out, "%s%s=\"", i ? "," : "", m->label_name[i]);
        if (!rc)
            rc = escaped(out, s->label[i]);
        if (!rc)
            rc = buf_append_cstr(out, "\"");
    }
    if (!rc && le)
        rc = buf_printf(out, "%sle=\"%s\"", m->n_labels ? "," : "", le);
    if (!rc)
        rc = buf_append_cstr(out, "}");
    return rc;
}

static int render_one(buf_t *out, const struct metric *m)
{
    static const char *const type_name[] = {"counter", "gauge", "histogram"};
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                        type_name[m->type]);
    /* A family without labels exists from its declaration: 0 until updated. */
    if (!rc && m->n == 0 && m->n_labels == 0 && m->type != METRIC_HISTOGRAM)
        rc = buf_printf(out, "%s 0\n", m->name);
    for (size_t i = 0; !rc && i < m->n; i++) {
        const struct series *s = &m->series[i];
        if (m->type != METRIC_HISTOGRAM) {
            rc = buf_append_cstr(out, m->name);
            if (!rc)
                rc = labels(out, m, s, NULL);
            if (!rc)
                rc = buf_printf(out, " %.15g\n", s->value);
            continue;
        }
        for (size_t b = 0; !rc && b <= m->n_buckets; b++) {
            char le[32];
            if (b < m->n_buckets)
                snprintf(le, sizeof le, "%g", m->bound[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            rc = buf_printf(out, "%s_bucket", m->name);
            if (!rc)
                rc = labels(out, m, s, le);
            if (!rc)
                rc = buf_printf(out, " %llu\n",
                                (unsigned long long)(b < m->n_buckets ? s->bucket[b] : s->count));
        }
        if (!rc)
            rc = buf_printf(out, "%s_sum", m->name);
        if (!rc)
            rc = labels(out, m, s, NULL);
        if (!rc)
            rc = buf_printf(out, " %.15g\n%s_count", s->value, m->name);
        if (!rc)
            rc = labels(out, m, s, NULL);
        if (!rc)
            rc = buf_printf(out, " %llu\n", (unsigned long long)s->count);
    }
    return rc;
}

int metrics_render(buf_t *out)
{
    pthread_mutex_lock(&registry_mu);
    size_t n = registry_n;
    pthread_mutex_unlock(&registry_mu);
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct metric *m = registry[i];
        pthread_mutex_lock(&m->mu);
        rc = render_one(out, m);
        pthread_mutex_unlock(&m->mu);
    }
    return rc;
}
