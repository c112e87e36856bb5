/*
 * read.c: the two reading questions as a cursor, and records as JSON.
 *
 * A cursor walks the subjects one by one with one prepared statement per
 * question, re-bound for each subject, so memory stays at one or two rows
 * whatever the answer's size. Many subjects (a bulk call) are asked
 * DATASET_CHUNK at a time, in one statement that keeps their order (a
 * VALUES list of positions and subjects joined to the records): one round
 * trip per chunk instead of one per subject, which is what a server
 * backend (PostgreSQL) pays for. The current-version question reads a key's
 * versions in ascending order and hands out the last of each run (one row
 * of look-ahead), so no statement needs a descending sort.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "dataset/dataset.h"

/* The service, by its path: a subquery rather than a statement of its own,
 * so that a one-subject question is one statement (one round trip on a
 * server backend). A service without records has no row: no records. */
#define SERVICE "(SELECT id FROM dataset_service WHERE path = ?)"

/* Columns of every reading statement, in this order. */
#define COLS                                                                                       \
    "subject, period_start, period_end, version, registered_ms, delivery_seq, fields, withdrawn"

static const char SQL_CUR_SUBJECT[] =
    "SELECT " COLS " FROM dataset_record WHERE service_id = " SERVICE " AND subject = ?"
    " AND period_start <= ? AND period_end >= ?"
    " ORDER BY period_start, period_end, version";
static const char SQL_CUR_ALL[] = "SELECT " COLS " FROM dataset_record WHERE service_id = " SERVICE
                                  " AND period_start <= ? AND period_end >= ?"
                                  " ORDER BY subject, period_start, period_end, version";
static const char SQL_WIN_SUBJECT[] =
    "SELECT " COLS " FROM dataset_record WHERE service_id = " SERVICE " AND subject = ?"
    " AND period_start <= ? AND period_end >= ? AND registered_ms >= ? AND registered_ms < ?"
    " ORDER BY period_start, period_end, version";
/* Subjects asked in one statement (unused places are bound to NULL). */
#define DATASET_CHUNK 32
#define COLS_R                                                                                     \
    "r.subject, r.period_start, r.period_end, r.version, r.registered_ms, r.delivery_seq, "        \
    "r.fields, r.withdrawn"
#define CHUNK_SQL_MAX (512 + DATASET_CHUNK * 32)

/* The chunk statements ([PostgreSQL?][window?]), made once, then the same
 * parameters as the one-subject statements'. SQLite's take DATASET_CHUNK
 * subjects as places of a VALUES list. PostgreSQL's take up to
 * DATASET_CHUNK_PG as one array parameter (one statement, so one round
 * trip, for 256 subjects: the bulk call's 1,000 subjects were 32
 * statements a pass) and read each subject through a LATERAL subquery
 * (OFFSET 0 keeps it from being flattened into a join): an index scan per
 * subject with run-time partition pruning. As a plain join, the planner
 * hash-joins the chunk against a scan of every partition whenever it
 * thinks the table small, which it does for tables of up to some 10^5
 * rows, and always before the first ANALYZE. */
#define DATASET_CHUNK_PG 256
static char sql_chunk[2][2][CHUNK_SQL_MAX];
static pthread_once_t chunk_once = PTHREAD_ONCE_INIT;

static void chunk_make(char *out, bool pg, const char *tail)
{
    if (pg) {
        snprintf(out, CHUNK_SQL_MAX,
                 "SELECT " COLS_R " FROM unnest(CAST(? AS BIGINT[])) WITH ORDINALITY"
                 " AS want(subject, pos) CROSS JOIN LATERAL (SELECT " COLS
                 " FROM dataset_record WHERE service_id = " SERVICE " AND subject = want.subject"
                 " AND period_start <= ? AND period_end >= ?%s OFFSET 0) r"
                 " ORDER BY want.pos, r.period_start, r.period_end, r.version",
                 tail);
        return;
    }
    size_t n = (size_t)snprintf(out, CHUNK_SQL_MAX, "WITH want(pos, subject) AS (VALUES ");
    for (int i = 0; i < DATASET_CHUNK; i++)
        n += (size_t)snprintf(out + n, CHUNK_SQL_MAX - n, "%s(%d, CAST(? AS BIGINT))",
                              i ? ", " : "", i);
    snprintf(out + n, CHUNK_SQL_MAX - n,
             ") SELECT " COLS_R " FROM want JOIN dataset_record r"
             " ON r.service_id = " SERVICE " AND r.subject = want.subject"
             " WHERE r.period_start <= ? AND r.period_end >= ?%s"
             " ORDER BY want.pos, r.period_start, r.period_end, r.version",
             tail);
}

static void chunk_init(void)
{
    for (int pg = 0; pg < 2; pg++) {
        chunk_make(sql_chunk[pg][0], pg, "");
        chunk_make(sql_chunk[pg][1], pg, " AND registered_ms >= ? AND registered_ms < ?");
    }
}

static const char SQL_WIN_ALL[] =
    "SELECT " COLS " FROM dataset_record"
    " WHERE service_id = " SERVICE " AND registered_ms >= ? AND registered_ms < ?"
    " AND period_start <= ? AND period_end >= ? ORDER BY registered_ms";

/* A row kept across statement steps (its fields copied). */
struct held {
    struct dataset_record rec;
    buf_t fields;
};

struct dataset_cursor {
    store_conn_t *conn;
    const struct dataset_query *q;
    store_stmt_t *stmt; /* the statement being stepped, or NULL */
    size_t next_subject;
    bool finished;    /* every statement is exhausted */
    int32_t from, to; /* the period bounds, with the years folded in */
    struct dataset_record row;
    struct held held; /* CURRENT: the newest version seen of the key being read */
    bool have_held;
    struct held out; /* CURRENT: the record handed out */
};

static void held_set(struct held *h, const struct dataset_record *r)
{
    h->rec = *r;
    buf_reset(&h->fields);
    /* Cannot fail: the buffer's maximum is above any stored encoding, and a
     * larger blob was refused when it was written. */
    if (buf_append(&h->fields, r->fields.ptr, r->fields.len) != 0)
        h->fields.len = 0;
    h->rec.fields = buf_str(&h->fields);
}

int dataset_cursor_open(store_conn_t *c, const struct dataset_query *q, dataset_cursor_t **out,
                        err_t *err)
{
    *out = NULL;
    dataset_cursor_t *cur = calloc(1, sizeof *cur);
    if (!cur)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    cur->conn = c;
    cur->q = q;
    cur->row.svc = q->svc;
    buf_init(&cur->held.fields, DATASET_ENCODED_MAX);
    buf_init(&cur->out.fields, DATASET_ENCODED_MAX);
    cur->from = q->period_from;
    cur->to = q->period_to;
    if (q->n_years > 0) {
        int lo = q->years[0], hi = q->years[0];
        for (size_t i = 1; i < q->n_years; i++) {
            lo = q->years[i] < lo ? q->years[i] : lo;
            hi = q->years[i] > hi ? q->years[i] : hi;
        }
        int32_t s, e;
        dataset_year_period(lo, &s, &e);
        cur->from = s > cur->from ? s : cur->from;
        dataset_year_period(hi, &s, &e);
        cur->to = e < cur->to ? e : cur->to;
    }
    for (size_t i = 0; i < q->n_subjects; i++) {
        int64_t v;
        if (dataset_subject_key(q->svc, q->subject_index, q->subjects[i], &v)) {
            dataset_cursor_close(cur);
            return err_param(err, DUPLA_EINVAL, q->svc->subject->name,
                             "subject %zu is not a %s number", i + 1,
                             catalog_ident_name(q->svc->subject_kind));
        }
    }
    *out = cur;
    return 0;
}

void dataset_cursor_close(dataset_cursor_t *cur)
{
    if (!cur)
        return;
    if (cur->stmt)
        store_stmt_done(cur->stmt);
    buf_free(&cur->held.fields);
    buf_free(&cur->out.fields);
    free(cur);
}

/* Binds what follows a chunk statement's subjects, from parameter i. */
static void chunk_bind_tail(const dataset_cursor_t *cur, store_stmt_t *s, int i)
{
    const struct dataset_query *q = cur->q;
    store_bind_cstr(s, i++, q->svc->path);
    store_bind_int64(s, i++, cur->to);
    store_bind_int64(s, i++, cur->from);
    if (q->mode == DATASET_WINDOW) {
        store_bind_int64(s, i++, q->registered_from);
        store_bind_int64(s, i, q->registered_to);
    }
}

/* Prepares and binds the statement for the next subject (or for all).
 * STORE_ROW when there is one, STORE_DONE when every subject is done. */
static int next_statement(dataset_cursor_t *cur, err_t *err)
{
    const struct dataset_query *q = cur->q;
    bool all = q->n_subjects == 0;
    if ((all && cur->next_subject > 0) || (!all && cur->next_subject >= q->n_subjects))
        return STORE_DONE;
    size_t left = all ? 0 : q->n_subjects - cur->next_subject;
    bool chunk = left > 1;
    if (chunk)
        pthread_once(&chunk_once, chunk_init);
    bool window = q->mode != DATASET_CURRENT;
    bool pg = strcmp(store_conn_backend(cur->conn), "postgresql") == 0;
    const char *sql = chunk ? sql_chunk[pg][window]
                      : all ? (window ? SQL_WIN_ALL : SQL_CUR_ALL)
                            : (window ? SQL_WIN_SUBJECT : SQL_CUR_SUBJECT);
    int rc = store_prepare(cur->conn, sql, &cur->stmt, err);
    if (rc)
        return rc;
    store_stmt_t *s = cur->stmt;
    int i = 1;
    if (chunk && pg) {
        /* the subjects as an array's text: {1,2,...} */
        size_t n = left < DATASET_CHUNK_PG ? left : DATASET_CHUNK_PG;
        char list[DATASET_CHUNK_PG * 21 + 3];
        size_t len = 0;
        list[len++] = '{';
        for (size_t k = 0; k < n; k++) {
            int64_t subject = 0;
            dataset_subject_key(q->svc, q->subject_index, q->subjects[cur->next_subject + k],
                                &subject);
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%" PRId64, k ? "," : "",
                                    subject);
        }
        list[len++] = '}';
        store_bind_text(s, i++, (str_t){list, len});
        chunk_bind_tail(cur, s, i);
        cur->next_subject += n;
        return STORE_ROW;
    }
    if (chunk) {
        size_t n = left < DATASET_CHUNK ? left : DATASET_CHUNK;
        for (size_t k = 0; k < DATASET_CHUNK; k++) {
            int64_t subject = 0;
            if (k < n) {
                dataset_subject_key(q->svc, q->subject_index, q->subjects[cur->next_subject + k],
                                    &subject);
                store_bind_int64(s, i++, subject);
            } else {
                store_bind_null(s, i++);
            }
        }
        chunk_bind_tail(cur, s, i);
        cur->next_subject += n;
        return STORE_ROW;
    }
    store_bind_cstr(s, i++, q->svc->path);
    if (!all) {
        int64_t subject = 0;
        dataset_subject_key(q->svc, q->subject_index, q->subjects[cur->next_subject], &subject);
        store_bind_int64(s, i++, subject);
    }
    if (q->mode == DATASET_WINDOW && all) {
        store_bind_int64(s, i++, q->registered_from);
        store_bind_int64(s, i++, q->registered_to);
    }
    store_bind_int64(s, i++, cur->to);
    store_bind_int64(s, i++, cur->from);
    if (q->mode == DATASET_WINDOW && !all) {
        store_bind_int64(s, i++, q->registered_from);
        store_bind_int64(s, i++, q->registered_to);
    }
    cur->next_subject++;
    return STORE_ROW;
}

static bool year_wanted(const struct dataset_query *q, int32_t period_start)
{
    if (q->n_years == 0)
        return true;
    int y, m, d;
    clock_civil_from_days(period_start, &y, &m, &d);
    for (size_t i = 0; i < q->n_years; i++)
        if (q->years[i] == y)
            return true;
    return false;
}

/* The next raw row that passes the filters, across subjects. */
static int raw_next(dataset_cursor_t *cur, err_t *err)
{
    for (;;) {
        if (!cur->stmt) {
            int rc = next_statement(cur, err);
            if (rc != STORE_ROW)
                return rc;
        }
        int rc = store_step(cur->stmt, err);
        if (rc == STORE_DONE) {
            store_stmt_done(cur->stmt);
            cur->stmt = NULL;
            continue;
        }
        if (rc < 0)
            return rc;
        store_stmt_t *s = cur->stmt;
        struct dataset_record *r = &cur->row;
        r->key.subject = store_col_int64(s, 0);
        r->key.period_start = (int32_t)store_col_int64(s, 1);
        r->key.period_end = (int32_t)store_col_int64(s, 2);
        r->version = store_col_int64(s, 3);
        r->registered_ms = store_col_int64(s, 4);
        r->delivery_seq = store_col_int64(s, 5);
        r->fields = store_col_blob(s, 6);
        r->withdrawn = store_col_int64(s, 7) != 0;
        if (!year_wanted(cur->q, r->key.period_start))
            continue;
        return STORE_ROW;
    }
}

static bool same_key(const struct dataset_key *a, const struct dataset_key *b)
{
    return a->subject == b->subject && a->period_start == b->period_start &&
           a->period_end == b->period_end;
}

static int next_unfiltered(dataset_cursor_t *cur, const struct dataset_record **rec, err_t *err)
{
    *rec = NULL;
    if (cur->finished)
        return STORE_DONE;
    if (cur->q->mode == DATASET_WINDOW) {
        int rc = raw_next(cur, err);
        if (rc == STORE_ROW)
            *rec = &cur->row;
        else
            cur->finished = rc == STORE_DONE;
        return rc;
    }
    for (;;) {
        int rc = raw_next(cur, err);
        if (rc < 0)
            return rc;
        /* a key whose newest version is a withdrawal has no current one */
        if (rc == STORE_DONE) {
            cur->finished = true;
            if (!cur->have_held || cur->held.rec.withdrawn)
                return STORE_DONE;
            cur->have_held = false;
            held_set(&cur->out, &cur->held.rec);
            *rec = &cur->out.rec;
            return STORE_ROW;
        }
        if (cur->have_held && !same_key(&cur->held.rec.key, &cur->row.key)) {
            bool withdrawn = cur->held.rec.withdrawn;
            if (!withdrawn)
                held_set(&cur->out, &cur->held.rec);
            held_set(&cur->held, &cur->row);
            if (withdrawn)
                continue;
            *rec = &cur->out.rec;
            return STORE_ROW;
        }
        held_set(&cur->held, &cur->row);
        cur->have_held = true;
    }
}

/* 1 if r passes the query's filters on business fields, 0 if not, or a
 * negative error (a corrupt encoding). */
static int passes(const struct dataset_query *q, const struct dataset_record *r, err_t *err)
{
    struct catalog_value values[CATALOG_MAX_FIELDS];
    int rc = dataset_decode(q->svc, r->fields, values, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < q->n_filters; i++) {
        const struct dataset_filter *f = &q->filters[i];
        const struct catalog_value *v = &values[f->field->business_index];
        bool hit = false;
        for (size_t k = 0; v->present && !hit && k < f->n; k++) {
            if (f->field->type == CATALOG_CODE)
                hit = (size_t)f->values[k] < f->field->n_codes &&
                      str_eq_cstr(v->s, f->field->codes[f->values[k]].value);
            else
                hit = v->i == f->values[k];
        }
        if (!hit)
            return 0;
    }
    if (q->valid && q->svc->valid_from) {
        const struct catalog_value *from = &values[q->svc->valid_from->business_index];
        const struct catalog_value *to = &values[q->svc->valid_to->business_index];
        if (from->present && from->i > q->valid_to)
            return 0;
        if (to->present && to->i < q->valid_from)
            return 0;
    }
    return 1;
}

int dataset_cursor_next(dataset_cursor_t *cur, const struct dataset_record **rec, err_t *err)
{
    for (;;) {
        int rc = next_unfiltered(cur, rec, err);
        /* a withdrawal (window reads) has no business fields to filter on:
         * it is shown wherever the key is asked */
        if (rc != STORE_ROW || (cur->q->n_filters == 0 && !cur->q->valid) || (*rec)->withdrawn)
            return rc;
        int ok = passes(cur->q, *rec, err);
        if (ok < 0)
            return ok;
        if (ok)
            return STORE_ROW;
    }
}

/* ---- records as JSON ---- */

int dataset_record_to_json(const struct dataset_record *r, const bool *include, buf_t *out,
                           err_t *err)
{
    const struct catalog_service *svc = r->svc;
    struct catalog_value values[CATALOG_MAX_FIELDS];
    int rc = dataset_decode(svc, r->fields, values, err);
    if (rc)
        return rc;
    char subject[24];
    dataset_subject_format(svc->subject_kind, r->key.subject, subject, sizeof subject);
    rc = buf_append(out, "{", 1);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        if (include && !include[i] && !catalog_field_is_key(f))
            continue;
        struct catalog_value v = {.present = true};
        switch (f->role) {
        case CATALOG_ROLE_SUBJECT:
            v.s = str_from_cstr(subject);
            break;
        case CATALOG_ROLE_YEAR: {
            int y, m, d;
            clock_civil_from_days(r->key.period_start, &y, &m, &d);
            v.i = y;
            break;
        }
        case CATALOG_ROLE_PERIOD_START:
            v.i = r->key.period_start;
            break;
        case CATALOG_ROLE_PERIOD_END:
            v.i = r->key.period_end;
            break;
        case CATALOG_ROLE_NUMBER:
            v.i = r->key.period_start;
            break;
        case CATALOG_ROLE_VERSION:
            v.i = r->version;
            break;
        case CATALOG_ROLE_REGISTERED:
            v.i = r->registered_ms;
            break;
        case CATALOG_ROLE_BUSINESS:
            v = values[f->business_index];
            break;
        }
        if (r->withdrawn && !v.present)
            continue;
        if (!first)
            rc = buf_append(out, ",", 1);
        first = false;
        if (rc == 0)
            rc = buf_append_json_string(out, str_from_cstr(f->name));
        if (rc == 0)
            rc = buf_append(out, ":", 1);
        if (rc == 0)
            rc = catalog_value_to_json(f, &v, out);
    }
    if (rc == 0 && r->withdrawn)
        rc = buf_append_cstr(out, first ? "\"" DATASET_WITHDRAWN_MEMBER "\":true"
                                        : ",\"" DATASET_WITHDRAWN_MEMBER "\":true");
    if (rc == 0)
        rc = buf_append(out, "}", 1);
    if (rc)
        return err_set(err, rc, "dataset: the record does not fit the output buffer");
    return 0;
}
