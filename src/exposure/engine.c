/*
 * engine.c: the generic data request path behind every catalogue service
 * (see exposure.h for the steps), without HTTP: routes.c feeds it a struct
 * exposure_call and sends what it answers.
 *
 * Record before data, exactly what is sent. The read runs inside one read
 * snapshot of the store (a deferred SQLite transaction; REPEATABLE READ on
 * PostgreSQL). Pass 1 walks the answer once: it counts the records, marks
 * the subjects that have any, collects the distinct periods and, while the
 * JSON stays under EXPOSURE_INLINE_MAX bytes, keeps it. Then the disclosure
 * is recorded and the engine waits until it is durable. A small answer is
 * then sent from memory (its snapshot already closed); a larger one is read
 * again, from the same snapshot, and streamed: the store cannot show the
 * second pass anything the first did not see, so the log holds exactly the
 * subjects, periods, fields and count of what leaves. Memory per request is
 * bounded (the inline buffer, one record, the subject and period sets)
 * whatever the answer's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/uuid.h"
#include "dataset/dataset.h"
#include "exposure/internal.h"

/* ---- configuration ---- */

int exposure_config_read(const struct dupla_config *cfg, struct exposure_config *out, err_t *err)
{
    json_t *sec = cfg ? config_section(cfg, EXPOSURE_CONFIG_SECTION) : NULL;
    const char *s = EXPOSURE_CONFIG_SECTION;
    long long v[6];
    int envh = 1;
    int rc;
    if ((rc = config_get_int(sec, s, "max_subjects", 1, EXPOSURE_MAX_SUBJECTS_LIMIT,
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
        (rc = config_get_bool(sec, s, "environment_header", 1, &envh, err)))
        return rc;
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
    int rc = exposure_limiter_new(cfg->rate_per_second, cfg->rate_burst, &ex->limiter, err);
    if (rc) {
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

static int busy(exposure_t *ex, err_t *err, const char *type, const char *detail)
{
    atomic_fetch_add(&ex->saturated, 1);
    err_set(err, DUPLA_EBUSY, "%s", detail);
    err_http(err, 503, type);
    return DUPLA_EBUSY;
}

int exposure_enter(exposure_t *ex, int64_t now_ms, unsigned *retry_after_s, err_t *err)
{
    int64_t retry = 0;
    if (ex->window_fn && ex->window_fn(ex->window_ctx, now_ms, &retry)) {
        *retry_after_s = retry > 0 ? (unsigned)(retry < 86400 ? retry : 86400) : 60;
        return busy(ex, err, EXPOSURE_P_WINDOW,
                    "A planned service window is in progress; see the operations log.");
    }
    if (atomic_fetch_add(&ex->in_flight, 1) >= ex->cfg.max_in_flight) {
        atomic_fetch_sub(&ex->in_flight, 1);
        *retry_after_s = ex->cfg.retry_after_s;
        return busy(ex, err, EXPOSURE_P_SATURATED, "Too many requests in progress; try again.");
    }
    return 0;
}

void exposure_leave(exposure_t *ex)
{
    atomic_fetch_sub(&ex->in_flight, 1);
}

/* ---- the disclosure record ---- */

static enum audit_subject_kind audit_kind(enum catalog_ident k)
{
    return k == CATALOG_IDENT_CPR   ? AUDIT_SUBJECT_CPR
           : k == CATALOG_IDENT_CVR ? AUDIT_SUBJECT_CVR
                                    : AUDIT_SUBJECT_SE;
}

/* Records a refusal (best effort: a full log queue does not change the
 * answer, which is a refusal anyway). */
static void record_refusal(exposure_t *ex, const struct exposure_call *call, str_t agreement_id,
                           int64_t version, const err_t *refusal)
{
    const struct token_principal *p = call->principal;
    struct audit_entry e = {
        .org_cvr = str_from_cstr(p->org_cvr),
        .system_id = str_from_cstr(p->system_id),
        .agreement_id = str_sub(agreement_id, 0, AUDIT_TEXT_MAX),
        .agreement_version = version,
        .service = str_from_cstr(call->svc->path),
        .request_id = call->server_request_id,
        .transaction_id = call->has_txid ? str_sub(call->txid, 0, EXPOSURE_TXID_MAX) : STR(""),
        .outcome = AUDIT_REFUSED,
        .reason = str_from_cstr(refusal->type[0] ? refusal->type : err_code_name(refusal->code)),
    };
    err_t aerr;
    err_clear(&aerr);
    if (audit_record(ex->deps.audit, &e, NULL, &aerr) != 0)
        log_json(LOG_WARN, "refusal not recorded",
                 json_pack("{s:s%, s:s}", "request_id", e.request_id.ptr ? e.request_id.ptr : "",
                           e.request_id.len, "error", aerr.log));
}

/* ---- the protocol headers ---- */

static bool visible_ascii(str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

static int bad_header(err_t *err, const char *name, const char *why)
{
    err_param(err, DUPLA_EINVAL, name, "%s %s", name, why);
    err_http(err, 400, EXPOSURE_P_HEADER);
    return DUPLA_EINVAL;
}

static int check_headers(const struct exposure_call *call, str_t *agreement_id, err_t *err)
{
    if (!call->has_request_id)
        return bad_header(err, EXPOSURE_H_REQUEST_ID, "is required (a UUID, new for each call)");
    if (!uuid_valid(call->request_id))
        return bad_header(err, EXPOSURE_H_REQUEST_ID,
                          "must be a UUID (8-4-4-4-12 hexadecimal digits)");
    if (!call->has_txid || call->txid.len == 0)
        return bad_header(err, EXPOSURE_H_TXID, "is required (the job's transaction id)");
    if (call->txid.len > EXPOSURE_TXID_MAX || !visible_ascii(call->txid))
        return bad_header(err, EXPOSURE_H_TXID,
                          "must be at most 128 visible ASCII characters (a UUID is usual)");
    if (!call->has_agreement)
        return bad_header(err, EXPOSURE_H_AGREEMENT,
                          "is required: urn:ufst:adgangsgrundlag:aftale:<agreement id>");
    if (!agreement_urn_id(call->agreement, agreement_id))
        return bad_header(err, EXPOSURE_H_AGREEMENT,
                          "must have the form urn:ufst:adgangsgrundlag:aftale:<agreement id>");
    return 0;
}

/* ---- the read snapshot ---- */

static int snapshot_begin(store_t *st, store_conn_t *c, err_t *err)
{
    (void)st;
    return store_begin_read(c, err);
}

static void snapshot_end(store_conn_t *c)
{
    store_end_read(c);
}

/* ---- pass 1 ---- */

/* Distinct periods, as (start << 32 | end) in a small open-addressing set. */
#define PERIOD_SLOTS (2 * EXPOSURE_MAX_PERIODS)

struct census {
    int64_t *subject_values; /* the asked subjects as integers (query order) */
    bool *subject_sent;      /* ... and whether any record was about each */
    size_t n_subjects;
    size_t cursor; /* where the last record's subject was found */
    uint64_t *period_set;
    bool *period_used;
    size_t n_periods;
    int64_t records;
};

static bool census_subject(struct census *c, int64_t subject)
{
    for (size_t k = 0; k < c->n_subjects; k++) {
        size_t i = (c->cursor + k) % c->n_subjects;
        if (c->subject_values[i] == subject) {
            c->subject_sent[i] = true;
            c->cursor = i;
            return true;
        }
    }
    return false;
}

/* false when there are more distinct periods than the log takes. */
static bool census_period(struct census *c, int32_t start, int32_t end)
{
    uint64_t key = ((uint64_t)(uint32_t)start << 32) | (uint32_t)end;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) % PERIOD_SLOTS;
    for (;; i = (i + 1) % PERIOD_SLOTS) {
        if (!c->period_used[i]) {
            if (c->n_periods == EXPOSURE_MAX_PERIODS)
                return false;
            c->period_used[i] = true;
            c->period_set[i] = key;
            c->n_periods++;
            return true;
        }
        if (c->period_set[i] == key)
            return true;
    }
}

static void period_text(const struct catalog_service *svc, uint64_t key, char *out, size_t cap)
{
    int32_t start = (int32_t)(uint32_t)(key >> 32), end = (int32_t)(uint32_t)key;
    if (svc->period_kind == CATALOG_PERIOD_YEAR) {
        int y, m, d;
        clock_civil_from_days(start, &y, &m, &d);
        snprintf(out, cap, "%04d", y);
        return;
    }
    char a[16], b[16];
    clock_format_date(start, a, sizeof a);
    clock_format_date(end, b, sizeof b);
    snprintf(out, cap, "%s/%s", a, b);
}

/* ---- the streamed answer ---- */

struct exposure_stream {
    exposure_t *ex;
    store_conn_t *conn;
    dataset_cursor_t *cur;
    struct dataset_query q; /* arrays below, owned */
    str_t *subjects;
    char *subject_bytes;
    int *years;
    bool include[CATALOG_MAX_FIELDS];
    int64_t expected; /* the records recorded in the log */
    int64_t sent;
    int state; /* 0: not begun, 1: records, 2: ended */
    char request_id[UUID_STR_LEN + 1];
};

void exposure_stream_free(exposure_stream_t *st)
{
    if (!st)
        return;
    dataset_cursor_close(st->cur);
    if (st->conn) {
        snapshot_end(st->conn);
        store_conn_put(st->conn);
    }
    exposure_leave(st->ex);
    free(st->subjects);
    free(st->subject_bytes);
    free(st->years);
    free(st);
}

int exposure_stream_next(exposure_stream_t *st, buf_t *out)
{
    err_t err;
    err_clear(&err);
    if (st->state == 2)
        return 0;
    if (st->state == 0) {
        if (buf_append_cstr(out, "{\"data\":[") != 0)
            return -1;
        st->state = 1;
    }
    while (out->len < EXPOSURE_STREAM_CHUNK) {
        const struct dataset_record *rec;
        int rc = dataset_cursor_next(st->cur, &rec, &err);
        if (rc < 0) {
            log_json(LOG_ERROR, "exposure: stream read failed",
                     json_pack("{s:s, s:s}", "request_id", st->request_id, "error", err.log));
            return -1;
        }
        if (rc == STORE_DONE)
            break;
        if (st->sent == st->expected) {
            /* cannot happen in one snapshot; never send what was not logged */
            log_json(LOG_ERROR, "exposure: second pass found more records than the first",
                     json_pack("{s:s}", "request_id", st->request_id));
            return -1;
        }
        if ((st->sent > 0 && buf_append(out, ",", 1) != 0) ||
            dataset_record_to_json(rec, st->include, out, &err) != 0)
            return -1;
        st->sent++;
        if (out->len >= EXPOSURE_STREAM_CHUNK)
            return 1;
    }
    if (out->len >= EXPOSURE_STREAM_CHUNK)
        return 1;
    if (st->sent != st->expected) {
        log_json(LOG_ERROR, "exposure: second pass found fewer records than the first",
                 json_pack("{s:s}", "request_id", st->request_id));
        return -1;
    }
    if (buf_append_cstr(out, "]}") != 0)
        return -1;
    st->state = 2;
    return 0;
}

/* Copies q's arrays into st so that the stream does not depend on the
 * request's arena. */
static int stream_adopt_query(exposure_stream_t *st, const struct dataset_query *q)
{
    st->q = *q;
    size_t bytes = 0;
    for (size_t i = 0; i < q->n_subjects; i++)
        bytes += q->subjects[i].len;
    if (q->n_subjects) {
        st->subjects = calloc(q->n_subjects, sizeof *st->subjects);
        st->subject_bytes = malloc(bytes ? bytes : 1);
        if (!st->subjects || !st->subject_bytes)
            return DUPLA_ENOMEM;
        char *p = st->subject_bytes;
        for (size_t i = 0; i < q->n_subjects; i++) {
            memcpy(p, q->subjects[i].ptr, q->subjects[i].len);
            st->subjects[i] = (str_t){p, q->subjects[i].len};
            p += q->subjects[i].len;
        }
    }
    if (q->n_years) {
        if (!(st->years = calloc(q->n_years, sizeof *st->years)))
            return DUPLA_ENOMEM;
        memcpy(st->years, q->years, q->n_years * sizeof *st->years);
    }
    st->q.subjects = st->subjects;
    st->q.years = st->years;
    return 0;
}

/* ---- the call ---- */

static int forbidden(err_t *err, enum agreement_verdict v, const char *field, const char *param)
{
    int status = agreement_verdict_status(v);
    int code = status == 503 ? DUPLA_EBUSY : status == 400 ? DUPLA_EINVAL : DUPLA_EFORBIDDEN;
    if (field)
        err_param(err, code, param, "%s (%s)", agreement_verdict_detail(v), field);
    else
        err_set(err, code, "%s", agreement_verdict_detail(v));
    err_http(err, status, agreement_verdict_name(v));
    return code;
}

int exposure_call(exposure_t *ex, const struct exposure_call *call, struct exposure_answer *ans,
                  err_t *err)
{
    memset(ans, 0, sizeof *ans);
    const struct catalog_service *svc = call->svc;
    const struct token_principal *p = call->principal;
    arena_t *a = call->arena;
    str_t agreement_id = STR("");
    int64_t version = 0;
    int rc;

    /* 3. the protocol headers */
    if ((rc = check_headers(call, &agreement_id, err)) != 0)
        goto refused;

    /* 4. the rate of this (agreement, system) */
    {
        char key[256];
        int n = snprintf(key, sizeof key, "%.*s|%s",
                         (int)(agreement_id.len > 128 ? 128 : agreement_id.len), agreement_id.ptr,
                         p->system_id);
        unsigned retry = 1;
        if (!exposure_limiter_take(ex->limiter, (str_t){key, n > 0 ? (size_t)n : 0}, call->now_ms,
                                   &retry)) {
            ans->retry_after_s = retry;
            atomic_fetch_add(&ex->refused, 1);
            err_set(err, DUPLA_ERATE,
                    "The rate limit of this agreement and system is reached; "
                    "try again after Retry-After seconds.");
            err_http(err, 429, EXPOSURE_P_RATE);
            return DUPLA_ERATE;
        }
    }

    /* 5. the parameters */
    struct exposure_query q;
    if ((rc =
             exposure_query_parse(svc, call->args, call->n_args, ex->cfg.max_subjects, call->now_ms,
                                  (int64_t)ex->cfg.window_margin_s * 1000, a, &q, err)) != 0)
        goto refused;

    /* 6. the agreement: fields = granted ∩ asked; keys always go */
    size_t n_ask = 0;
    str_t *ask = arena_alloc(a, (svc->n_fields + 1) * sizeof *ask);
    size_t *ask_index = arena_alloc(a, (svc->n_fields + 1) * sizeof *ask_index);
    bool *granted = arena_alloc(a, (svc->n_fields + 1) * sizeof *granted);
    if (!ask || !ask_index || !granted) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        if (catalog_field_is_key(f))
            continue;
        bool asked = !q.fields_given;
        for (size_t j = 0; !asked && j < q.n_fields; j++)
            asked = str_eq_cstr(q.fields[j], f->name);
        if (asked) {
            ask_index[n_ask] = i;
            ask[n_ask++] = (str_t){f->name, f->name_len};
        }
    }
    struct agreement_caller caller = {.org_cvr = str_from_cstr(p->org_cvr),
                                      .system_id = str_from_cstr(p->system_id),
                                      .env = ex->deps.env};
    struct agreement_decision dec;
    rc = agreement_decide(ex->deps.agreements, &caller, agreement_id, str_from_cstr(svc->path), ask,
                          n_ask, q.fields_given, call->now_ms, granted, &dec);
    if (rc != 0) {
        const struct catalog_param *pf = catalog_param_by_role(svc, CATALOG_PARAM_FIELDS);
        const char *field = dec.verdict == AGREEMENT_DENY_FIELD && dec.field_index < n_ask
                                ? svc->fields[ask_index[dec.field_index]].name
                                : NULL;
        rc = forbidden(err, dec.verdict, field, pf ? pf->name : "fields");
        version = dec.version;
        if (dec.verdict == AGREEMENT_DENY_UNAVAILABLE) {
            ans->retry_after_s = ex->cfg.retry_after_s;
            atomic_fetch_add(&ex->saturated, 1);
            return rc;
        }
        goto refused;
    }
    version = dec.version;
    bool include[CATALOG_MAX_FIELDS] = {false};
    for (size_t i = 0; i < svc->n_fields; i++)
        include[i] = catalog_field_is_key(&svc->fields[i]);
    for (size_t j = 0; j < n_ask; j++)
        if (granted[j])
            include[ask_index[j]] = true;

    /* 7. pass 1, in a read snapshot */
    struct dataset_query dq = {
        .svc = svc,
        .mode = q.window ? DATASET_WINDOW : DATASET_CURRENT,
        .subjects = q.subjects,
        .n_subjects = q.n_subjects,
        .period_from = q.period_from,
        .period_to = q.period_to,
        .years = q.years,
        .n_years = q.n_years,
        .registered_from = q.registered_from,
        .registered_to = q.registered_to,
    };
    if (q.window)
        clock_format_s(q.registered_to, ans->window_end, sizeof ans->window_end);

    struct census cs = {.n_subjects = q.n_subjects};
    cs.subject_values = arena_alloc(a, (q.n_subjects + 1) * sizeof *cs.subject_values);
    cs.subject_sent = arena_alloc(a, (q.n_subjects + 1) * sizeof *cs.subject_sent);
    cs.period_set = arena_alloc(a, PERIOD_SLOTS * sizeof *cs.period_set);
    cs.period_used = arena_alloc(a, PERIOD_SLOTS * sizeof *cs.period_used);
    if (!cs.subject_values || !cs.subject_sent || !cs.period_set || !cs.period_used) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < q.n_subjects; i++)
        if (dataset_subject_parse(svc->subject_kind, q.subjects[i], &cs.subject_values[i]) != 0) {
            rc = err_internal(err, DUPLA_EINTERNAL, "exposure: a checked subject does not parse");
            goto failed;
        }

    store_conn_t *conn = NULL;
    dataset_cursor_t *cur = NULL;
    buf_t inline_body;
    buf_init(&inline_body, EXPOSURE_INLINE_MAX + DATASET_ENCODED_MAX);
    bool overflow = false;
    if ((rc = store_conn_get(ex->deps.store, &conn, err)) != 0) {
        if (rc == DUPLA_EBUSY) {
            ans->retry_after_s = ex->cfg.retry_after_s;
            buf_free(&inline_body);
            return busy(ex, err, EXPOSURE_P_SATURATED, "The store is busy; try again.");
        }
        goto failed_buf;
    }
    if ((rc = snapshot_begin(ex->deps.store, conn, err)) != 0) {
        store_conn_put(conn);
        conn = NULL;
        goto failed_buf;
    }
    if ((rc = dataset_cursor_open(conn, &dq, &cur, err)) != 0)
        goto failed_read;
    buf_append_cstr(&inline_body, "{\"data\":[");
    for (;;) {
        const struct dataset_record *rec;
        rc = dataset_cursor_next(cur, &rec, err);
        if (rc < 0)
            goto failed_read;
        if (rc == STORE_DONE)
            break;
        if (q.n_subjects && !census_subject(&cs, rec->key.subject)) {
            rc = err_internal(err, DUPLA_EINTERNAL, "exposure: a record of a subject not asked");
            goto failed_read;
        }
        if (!census_period(&cs, rec->key.period_start, rec->key.period_end)) {
            const struct catalog_param *pp = catalog_param_by_role(svc, CATALOG_PARAM_PERIOD_FROM);
            if (!pp)
                pp = catalog_param_by_role(svc, CATALOG_PARAM_YEAR);
            err_param(err, DUPLA_EINVAL, pp ? pp->name : "period",
                      "The answer would concern more than %d periods; narrow the question.",
                      EXPOSURE_MAX_PERIODS);
            err_http(err, 400, EXPOSURE_P_PERIODS);
            rc = DUPLA_EINVAL;
            dataset_cursor_close(cur);
            snapshot_end(conn);
            store_conn_put(conn);
            buf_free(&inline_body);
            goto refused;
        }
        if (!overflow) {
            if (cs.records > 0)
                buf_append(&inline_body, ",", 1);
            if ((rc = dataset_record_to_json(rec, include, &inline_body, err)) != 0)
                goto failed_read;
            if (inline_body.len > EXPOSURE_INLINE_MAX) {
                overflow = true;
                buf_free(&inline_body);
            }
        }
        cs.records++;
    }
    dataset_cursor_close(cur);
    cur = NULL;
    if (!overflow) {
        buf_append_cstr(&inline_body, "]}");
        snapshot_end(conn);
        store_conn_put(conn);
        conn = NULL;
    }

    /* 8. record the disclosure; wait until it is durable */
    size_t n_sent = 0;
    struct audit_subject *subs = arena_alloc(a, (q.n_subjects + 1) * sizeof *subs);
    str_t *periods = arena_alloc(a, (cs.n_periods + 1) * sizeof *periods);
    str_t *fields = arena_alloc(a, (svc->n_fields + 1) * sizeof *fields);
    if (!subs || !periods || !fields) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto failed_read;
    }
    for (size_t i = 0; i < q.n_subjects; i++)
        if (cs.subject_sent[i])
            subs[n_sent++] = (struct audit_subject){audit_kind(svc->subject_kind), q.subjects[i]};
    size_t n_per = 0;
    for (size_t i = 0; i < PERIOD_SLOTS; i++)
        if (cs.period_used[i]) {
            char text[32];
            period_text(svc, cs.period_set[i], text, sizeof text);
            char *t = arena_strdup(a, str_from_cstr(text));
            if (!t) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                goto failed_read;
            }
            periods[n_per++] = str_from_cstr(t);
        }
    size_t n_fields = 0;
    for (size_t i = 0; i < svc->n_fields; i++)
        if (include[i])
            fields[n_fields++] = (str_t){svc->fields[i].name, svc->fields[i].name_len};
    struct audit_entry e = {
        .org_cvr = str_from_cstr(p->org_cvr),
        .system_id = str_from_cstr(p->system_id),
        .agreement_id = agreement_id,
        .agreement_version = version,
        .service = str_from_cstr(svc->path),
        .request_id = call->server_request_id,
        .transaction_id = call->txid,
        .subjects = subs,
        .n_subjects = n_sent,
        .periods = periods,
        .n_periods = n_per,
        .fields = fields,
        .n_fields = n_fields,
        .record_count = cs.records,
        .outcome = AUDIT_DISCLOSED,
        .reason = STR(""),
    };
    struct audit_receipt receipt;
    if ((rc = audit_record(ex->deps.audit, &e, &receipt, err)) != 0) {
        if (rc == DUPLA_EBUSY) {
            if (conn) {
                snapshot_end(conn);
                store_conn_put(conn);
            }
            buf_free(&inline_body);
            ans->retry_after_s = ex->cfg.retry_after_s;
            return busy(ex, err, EXPOSURE_P_SATURATED,
                        "The disclosure log is saturated; try again.");
        }
        goto failed_read;
    }
    ans->audit_seq = receipt.seq;
    ans->records = cs.records;
    atomic_fetch_add(&ex->answered, 1);
    atomic_fetch_add(&ex->records, (uint64_t)cs.records);

    /* 9. the answer */
    if (!overflow) {
        char *body = arena_alloc(a, inline_body.len + 1);
        if (!body) {
            buf_free(&inline_body);
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        }
        memcpy(body, inline_body.data, inline_body.len);
        ans->body = (str_t){body, inline_body.len};
        buf_free(&inline_body);
        return 0;
    }
    exposure_stream_t *st = calloc(1, sizeof *st);
    if (!st || stream_adopt_query(st, &dq) != 0) {
        if (st) {
            free(st->subjects);
            free(st->subject_bytes);
            free(st->years);
            free(st);
        }
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto failed_read;
    }
    st->ex = ex;
    memcpy(st->include, include, sizeof st->include);
    st->expected = cs.records;
    str_copy(str_sub(call->server_request_id, 0, UUID_STR_LEN), st->request_id,
             sizeof st->request_id);
    if ((rc = dataset_cursor_open(conn, &st->q, &st->cur, err)) != 0) {
        free(st->subjects);
        free(st->subject_bytes);
        free(st->years);
        free(st);
        goto failed_read;
    }
    st->conn = conn; /* the stream owns the snapshot and the connection now */
    ans->stream = st;
    return 0;

failed_read:
    dataset_cursor_close(cur);
    if (conn) {
        snapshot_end(conn);
        store_conn_put(conn);
    }
failed_buf:
    buf_free(&inline_body);
failed:
    if (rc == DUPLA_EBUSY) {
        ans->retry_after_s = ex->cfg.retry_after_s;
        return busy(ex, err, EXPOSURE_P_SATURATED, "The platform is busy; try again.");
    }
    if (err_status(err) < 500) {
        /* a store or decoding failure is never the client's fault */
        char why[ERR_LOG_MAX];
        snprintf(why, sizeof why, "%s", err->log);
        err_internal(err, DUPLA_EINTERNAL, "exposure: %s", why);
    }
    return rc ? rc : DUPLA_EINTERNAL;

refused:
    atomic_fetch_add(&ex->refused, 1);
    record_refusal(ex, call, agreement_id, version, err);
    return rc;
}
