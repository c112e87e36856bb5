/*
 * exposure.c: the engine as an object: its configuration, its life, its
 * counters and the admission every data request passes first (the service
 * window, the in-flight limit). The call itself is engine.c; the streamed
 * second pass stream.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposure/internal.h"

/* ---- configuration ---- */

int exposure_config_read(const struct dupla_config *cfg, struct exposure_config *out, err_t *err)
{
    json_t *sec = cfg ? config_section(cfg, EXPOSURE_CONFIG_SECTION) : NULL;
    const char *s = EXPOSURE_CONFIG_SECTION;
    long long v[6];
    int envh = 1;
    static const char *const keys[] = {"max_subjects",
                                       "rate_per_second",
                                       "rate_burst",
                                       "max_in_flight",
                                       "retry_after_seconds",
                                       "window_margin_seconds",
                                       "environment_header",
                                       "public_url",
                                       "publisher",
                                       "rate_shared",
                                       NULL};
    const char *url = NULL, *publisher = NULL;
    int rc;
    if ((rc = config_only_keys(sec, s, keys, err)) ||
        (rc = config_get_int(sec, s, "max_subjects", 1, EXPOSURE_MAX_SUBJECTS_LIMIT,
                             EXPOSURE_DEFAULT_MAX_SUBJECTS, &v[0], err)) ||
        (rc = config_get_int(sec, s, "rate_per_second", 1, EXPOSURE_MAX_RATE, EXPOSURE_DEFAULT_RATE,
                             &v[1], err)) ||
        (rc = config_get_int(sec, s, "rate_burst", 1, EXPOSURE_MAX_RATE, EXPOSURE_DEFAULT_BURST,
                             &v[2], err)) ||
        (rc = config_get_int(sec, s, "max_in_flight", 1, 100000, EXPOSURE_DEFAULT_MAX_IN_FLIGHT,
                             &v[3], err)) ||
        (rc = config_get_int(sec, s, "retry_after_seconds", 1, 3600, EXPOSURE_DEFAULT_RETRY_AFTER_S,
                             &v[4], err)) ||
        (rc = config_get_int(sec, s, "window_margin_seconds", 0, EXPOSURE_MAX_WINDOW_MARGIN,
                             EXPOSURE_DEFAULT_WINDOW_MARGIN, &v[5], err)) ||
        (rc = config_get_bool(sec, s, "environment_header", 1, &envh, err)) ||
        (rc = config_get_bool(sec, s, "rate_shared", -1, &out->rate_shared, err)) ||
        (rc = config_get_string(sec, s, "public_url", NULL, &url, err)) ||
        (rc = config_get_string(sec, s, "publisher", EXPOSURE_DEFAULT_PUBLISHER, &publisher, err)))
        return rc;
    if (url && !catalog_dcat_base_ok(url))
        return err_param(err, DUPLA_EINVAL, "exposure.public_url",
                         "must be an http(s) URL without a '/' at the end, at most %d bytes",
                         CATALOG_DCAT_BASE_MAX);
    if (strlen(publisher) == 0 || strlen(publisher) > EXPOSURE_PUBLISHER_MAX)
        return err_param(err, DUPLA_EINVAL, "exposure.publisher", "must be 1 to %d bytes",
                         EXPOSURE_PUBLISHER_MAX);
    snprintf(out->public_url, sizeof out->public_url, "%s", url ? url : "");
    snprintf(out->publisher, sizeof out->publisher, "%s", publisher);
    out->max_subjects = (unsigned)v[0];
    out->rate_per_second = (unsigned)v[1];
    out->rate_burst = (unsigned)v[2];
    out->max_in_flight = (unsigned)v[3];
    out->retry_after_s = (unsigned)v[4];
    out->window_margin_s = (unsigned)v[5];
    out->environment_header = envh != 0;
    return 0;
}

const char *exposure_environment_word(enum environment env)
{
    return env == ENV_PRODUCTION ? "produktion" : "test";
}

/* ---- life ---- */

int exposure_new(const struct exposure_config *cfg, const struct exposure_deps *deps,
                 exposure_t **out, err_t *err)
{
    *out = NULL;
    if (!deps->catalog || !deps->store || !deps->agreements || !deps->audit)
        return err_internal(err, DUPLA_EINTERNAL, "exposure: a dependency is missing");
    exposure_t *ex = calloc(1, sizeof *ex);
    if (!ex)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    ex->cfg = *cfg;
    ex->deps = *deps;
    pthread_mutex_init(&ex->deliveries.mu, NULL);
    int rc = exposure_limiter_new(cfg->rate_per_second, cfg->rate_burst, &ex->limiter, err);
    bool shared = cfg->rate_shared == 1 ||
                  (cfg->rate_shared < 0 && strcmp(store_backend(deps->store), "postgresql") == 0);
    if (!rc)
        rc = shared ? exposure_limiter_share(
                          ex->limiter, deps->store,
                          exposure_rate_chunk(cfg->rate_per_second, cfg->rate_burst), err)
                    : exposure_migrate(deps->store, err);
    if (rc) {
        exposure_limiter_free(ex->limiter);
        pthread_mutex_destroy(&ex->deliveries.mu);
        free(ex);
        return rc;
    }
    *out = ex;
    return 0;
}

void exposure_free(exposure_t *ex)
{
    if (!ex)
        return;
    exposure_limiter_free(ex->limiter);
    free(ex->openapi);
    free(ex->catalog_json);
    free(ex->catalog_html);
    pthread_mutex_destroy(&ex->deliveries.mu);
    free(ex);
}

void exposure_set_window_hook(exposure_t *ex, exposure_window_fn fn, void *ctx)
{
    ex->window_fn = fn;
    ex->window_ctx = ctx;
}

void exposure_stats_get(exposure_t *ex, struct exposure_stats *out)
{
    out->answered = atomic_load(&ex->answered);
    out->records = atomic_load(&ex->records);
    out->refused = atomic_load(&ex->refused);
    out->saturated = atomic_load(&ex->saturated);
    out->in_flight = atomic_load(&ex->in_flight);
}

/* ---- admission ---- */

int exposure_busy(exposure_t *ex, err_t *err, const char *type, const char *detail)
{
    atomic_fetch_add(&ex->saturated, 1);
    err_set(err, DUPLA_EBUSY, "%s", detail);
    err_http(err, 503, type);
    return DUPLA_EBUSY;
}

int exposure_log_busy(exposure_t *ex, err_t *err)
{
    if (err_is(err, PROBLEM_STORE_FULL) || err_is(err, PROBLEM_STORE_READ_ONLY)) {
        atomic_fetch_add(&ex->saturated, 1);
        return DUPLA_EBUSY; /* err already says why, with status 503 */
    }
    return exposure_busy(ex, err, PROBLEM_SATURATED, "The disclosure log is saturated; try again.");
}

int exposure_enter(exposure_t *ex, int64_t now_ms, unsigned *retry_after_s, err_t *err)
{
    int64_t retry = 0;
    if (ex->window_fn && ex->window_fn(ex->window_ctx, now_ms, &retry)) {
        *retry_after_s = retry > 0 ? (unsigned)(retry < 86400 ? retry : 86400) : 60;
        return exposure_busy(ex, err, PROBLEM_SERVICE_WINDOW,
                             "A planned service window is in progress; see the operations log.");
    }
    if (atomic_fetch_add(&ex->in_flight, 1) >= ex->cfg.max_in_flight) {
        atomic_fetch_sub(&ex->in_flight, 1);
        *retry_after_s = ex->cfg.retry_after_s;
        return exposure_busy(ex, err, PROBLEM_SATURATED,
                             "Too many requests in progress; try again.");
    }
    return 0;
}

void exposure_leave(exposure_t *ex)
{
    atomic_fetch_sub(&ex->in_flight, 1);
}
