/*
 * query.c: the log's answers: pages of entries by filters.
 *
 * Keyset paging by seq: a page holds the first `limit` entries past the
 * cursor in the page's order, and returns the cursor of the next page. SQL
 * is assembled from fixed fragments (one per filter that is set) with every
 * value bound; each combination's text is made once and kept, so the
 * statement cache holds at most one statement per combination. With a subject filter, each row's
 * subject list holds only the subject asked about: a citizen's answer must not name other citizens.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "audit/internal.h"

#define QUERY_SQL_MAX 1536

struct binding {
    bool is_int;
    int64_t i;
    str_t s;
};

static int add(char *sql, size_t *len, const char *frag)
{
    size_t n = strlen(frag);
    if (*len + n + 1 > QUERY_SQL_MAX)
        return DUPLA_EINTERNAL;
    memcpy(sql + *len, frag, n + 1);
    *len += n;
    return 0;
}

static char *dup_text(arena_t *a, str_t s)
{
    return arena_strdup(a, s);
}

/* Copies a stored JSON list of strings into the arena. */
static int list_from_json(arena_t *a, str_t text, str_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *arr = json_parse(text.ptr, text.len, 0, NULL, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return DUPLA_ESTORE;
    }
    size_t cnt = json_array_size(arr), i;
    json_t *v;
    int rc = 0;
    str_t *items = cnt ? arena_alloc(a, cnt * sizeof *items) : NULL;
    if (cnt && !items)
        rc = DUPLA_ELIMIT;
    json_array_foreach(arr, i, v)
    {
        if (rc)
            break;
        if (!json_is_string(v)) {
            rc = DUPLA_ESTORE;
            break;
        }
        str_t s = {json_string_value(v), json_string_length(v)};
        char *p = arena_strdup(a, s);
        if (!p) {
            rc = DUPLA_ELIMIT;
            break;
        }
        items[i] = (str_t){p, s.len};
    }
    json_decref(arr);
    if (rc)
        return rc;
    *out = items;
    *n = cnt;
    return 0;
}

/* Subjects are fetched for SUBJECTS_CHUNK entries per statement (one
 * round trip instead of one per entry): a fixed list of seqs (on PostgreSQL
 * seq and time, which picks the partitions), the last one repeated to fill
 * a short chunk, so that each variant's text, and so its prepared
 * statement, stays the same. */
#define SUBJECTS_CHUNK   32
#define SUBJECTS_SQL_MAX QUERY_SQL_MAX

static const char *subjects_sql(bool pg, bool by_subject)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char made[2][2][SUBJECTS_SQL_MAX];
    pthread_mutex_lock(&mu);
    char *sql = made[pg][by_subject];
    if (!sql[0]) {
        size_t len = 0;
        add(sql, &len, "SELECT seq, kind, subject FROM audit_entry_subject WHERE ");
        add(sql, &len, pg ? "(seq, time_ms) IN (" : "seq IN (");
        for (int i = 0; i < SUBJECTS_CHUNK; i++)
            add(sql, &len, pg ? (i ? ", (?, ?)" : "(?, ?)") : (i ? ", ?" : "?"));
        add(sql, &len,
            by_subject ? ") AND subject = ? ORDER BY seq, position" : ") ORDER BY seq, position");
    }
    pthread_mutex_unlock(&mu);
    return sql;
}

static int add_subject(arena_t *a, struct audit_row *row, size_t *cap, enum audit_subject_kind k,
                       str_t id, err_t *err)
{
    if (row->n_subjects == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct audit_subject *nv = arena_alloc(a, ncap * sizeof *nv);
        if (!nv)
            return err_set(err, DUPLA_ELIMIT, "the answer is too large; ask for a smaller page");
        if (row->n_subjects)
            memcpy(nv, row->subjects, row->n_subjects * sizeof *nv);
        row->subjects = nv;
        *cap = ncap;
    }
    char *p = dup_text(a, id);
    if (!p)
        return err_set(err, DUPLA_ELIMIT, "the answer is too large; ask for a smaller page");
    row->subjects[row->n_subjects++] = (struct audit_subject){k, {p, id.len}};
    return 0;
}

/* The subjects of rows[0..n) (n <= SUBJECTS_CHUNK), in one statement. */
static int load_subjects_chunk(store_conn_t *c, bool pg, const struct audit_filter *f, arena_t *a,
                               struct audit_row *rows, size_t n, err_t *err)
{
    bool by_subject = f->subject.len > 0;
    store_stmt_t *s;
    int rc = store_prepare(c, subjects_sql(pg, by_subject), &s, err);
    if (rc)
        return rc;
    int at = 1;
    for (size_t i = 0; i < SUBJECTS_CHUNK; i++) {
        const struct audit_row *r = &rows[i < n ? i : n - 1];
        store_bind_int64(s, at++, r->seq);
        if (pg)
            store_bind_int64(s, at++, r->time_ms);
    }
    if (by_subject)
        store_bind_text(s, at, f->subject);
    size_t cap[SUBJECTS_CHUNK] = {0};
    size_t hint = 0; /* the answer comes in seq order; the rows may be newest first */
    while ((rc = store_step(s, err)) == STORE_ROW) {
        int64_t seq = store_col_int64(s, 0);
        size_t j = hint;
        for (size_t tries = 0; tries < n && rows[j].seq != seq; tries++)
            j = (j + 1) % n;
        if (rows[j].seq != seq) {
            rc = err_internal(err, DUPLA_ESTORE,
                              "audit: a subject of entry %" PRId64 " that was not asked for", seq);
            break;
        }
        hint = j;
        enum audit_subject_kind k;
        if (audit_subject_kind_parse(store_col_text(s, 1), &k)) {
            rc = err_internal(err, DUPLA_ESTORE, "audit: entry %" PRId64 ": unknown subject kind",
                              seq);
            break;
        }
        if (by_subject && f->subject_kind_set && k != f->subject_kind)
            continue;
        if ((rc = add_subject(a, &rows[j], &cap[j], k, store_col_text(s, 2), err)))
            break;
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static int load_subjects(store_conn_t *c, bool pg, const struct audit_filter *f, arena_t *a,
                         struct audit_row *rows, size_t n, err_t *err)
{
    int rc = 0;
    for (size_t at = 0; !rc && at < n; at += SUBJECTS_CHUNK)
        rc = load_subjects_chunk(c, pg, f, a, rows + at,
                                 n - at < SUBJECTS_CHUNK ? n - at : SUBJECTS_CHUNK, err);
    return rc;
}

static int read_row(store_stmt_t *s, arena_t *a, struct audit_row *row, err_t *err)
{
    memset(row, 0, sizeof *row);
    row->seq = store_col_int64(s, AUDIT_COL_SEQ);
    row->time_ms = store_col_int64(s, AUDIT_COL_TIME);
    row->agreement_version = store_col_int64(s, AUDIT_COL_AGREEMENT_VERSION);
    row->record_count = store_col_int64(s, AUDIT_COL_RECORDS);
    row->format = (int)store_col_int64(s, AUDIT_COL_FORMAT);
    if (!(row->environment = dup_text(a, store_col_text(s, AUDIT_COL_ENV))) ||
        !(row->org_cvr = dup_text(a, store_col_text(s, AUDIT_COL_ORG))) ||
        !(row->system_id = dup_text(a, store_col_text(s, AUDIT_COL_SYSTEM))) ||
        !(row->agreement_id = dup_text(a, store_col_text(s, AUDIT_COL_AGREEMENT))) ||
        !(row->service = dup_text(a, store_col_text(s, AUDIT_COL_SERVICE))) ||
        !(row->request_id = dup_text(a, store_col_text(s, AUDIT_COL_REQUEST))) ||
        !(row->transaction_id = dup_text(a, store_col_text(s, AUDIT_COL_TRANSACTION))) ||
        !(row->reason = dup_text(a, store_col_text(s, AUDIT_COL_REASON))) ||
        !(row->case_ref = dup_text(a, store_col_text(s, AUDIT_COL_CASE_REF))) ||
        !(row->supplier_cvr = dup_text(a, store_col_text(s, AUDIT_COL_SUPPLIER))) ||
        !(row->on_behalf_se = dup_text(a, store_col_text(s, AUDIT_COL_ON_BEHALF))))
        return err_set(err, DUPLA_ELIMIT, "the answer is too large; ask for a smaller page");
    int rc;
    if ((rc = list_from_json(a, store_col_text(s, AUDIT_COL_PERIODS), &row->periods,
                             &row->n_periods)) ||
        (rc = list_from_json(a, store_col_text(s, AUDIT_COL_FIELDS), &row->fields,
                             &row->n_fields))) {
        if (rc == DUPLA_ELIMIT)
            return err_set(err, rc, "the answer is too large; ask for a smaller page");
        return err_internal(err, rc, "audit: entry %" PRId64 ": a stored list is malformed",
                            row->seq);
    }
    if (audit_outcome_parse(store_col_text(s, AUDIT_COL_OUTCOME), &row->outcome))
        return err_internal(err, DUPLA_ESTORE, "audit: entry %" PRId64 ": unknown outcome",
                            row->seq);
    str_t h = store_col_blob(s, AUDIT_COL_ENTRY_HASH);
    if (h.len == AUDIT_HASH_LEN)
        memcpy(row->entry_hash, h.ptr, AUDIT_HASH_LEN);
    return 0;
}

/* The filters a query uses, as bits: each combination has one SQL text. */
enum {
    Q_ORG = 1 << 0,
    Q_AGREEMENT = 1 << 1,
    Q_SERVICE = 1 << 2,
    Q_SUBJECT = 1 << 3,
    Q_KIND = 1 << 4,
    Q_FROM = 1 << 5,
    Q_TO = 1 << 6,
    Q_OUTCOME = 1 << 7,
    Q_AFTER = 1 << 8,
    Q_NEWEST = 1 << 9,
    Q_PG = 1 << 10, /* PostgreSQL: subjects are matched with their entry's time too */
    Q_COMBINATIONS = 1 << 11,
};

/* The SQL for a combination of filters, made once and kept for the life of
 * the process, so that its text (and pointer) is stable for the statement
 * cache. Placeholders come in the order of the bits. NULL when out of memory. */
static const char *query_sql(unsigned mask)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char *made[Q_COMBINATIONS];
    pthread_mutex_lock(&mu);
    char *sql = made[mask];
    if (!sql && (sql = malloc(QUERY_SQL_MAX))) {
        size_t len = 0;
        sql[0] = '\0';
        int rc = add(sql, &len, "SELECT " AUDIT_ENTRY_COLUMNS " FROM audit_entry e WHERE 1 = 1");
        if (!rc && (mask & Q_ORG))
            rc = add(sql, &len, " AND e.org_cvr = ?");
        if (!rc && (mask & Q_AGREEMENT))
            rc = add(sql, &len, " AND e.agreement_id = ?");
        if (!rc && (mask & Q_SERVICE))
            rc = add(sql, &len, " AND e.service = ?");
        if (!rc && (mask & Q_SUBJECT))
            rc = add(sql, &len,
                     (mask & Q_PG) ? " AND (e.seq, e.time_ms) IN (SELECT seq, time_ms FROM "
                                     "audit_entry_subject WHERE subject = ?"
                                   : " AND e.seq IN (SELECT seq FROM audit_entry_subject "
                                     "WHERE subject = ?");
        if (!rc && (mask & Q_SUBJECT))
            rc = add(sql, &len, (mask & Q_KIND) ? " AND kind = ?)" : ")");
        if (!rc && (mask & Q_FROM))
            rc = add(sql, &len, " AND e.time_ms >= ?");
        if (!rc && (mask & Q_TO))
            rc = add(sql, &len, " AND e.time_ms < ?");
        if (!rc && (mask & Q_OUTCOME))
            rc = add(sql, &len, " AND e.outcome = ?");
        if (!rc && (mask & Q_AFTER))
            rc = add(sql, &len, (mask & Q_NEWEST) ? " AND e.seq < ?" : " AND e.seq > ?");
        if (!rc)
            rc =
                add(sql, &len,
                    (mask & Q_NEWEST) ? " ORDER BY e.seq DESC LIMIT ?" : " ORDER BY e.seq LIMIT ?");
        made[mask] = sql; /* every fragment fits QUERY_SQL_MAX; rc is 0 */
    }
    pthread_mutex_unlock(&mu);
    return sql;
}

static int check_filter(const struct audit_filter *f, err_t *err)
{
    if (f->org_cvr.len > AUDIT_TEXT_MAX)
        return err_param(err, DUPLA_EINVAL, "organisation", "the organisation is too long");
    if (f->agreement_id.len > AUDIT_TEXT_MAX)
        return err_param(err, DUPLA_EINVAL, "agreement", "the agreement id is too long");
    if (f->service.len > AUDIT_TEXT_MAX)
        return err_param(err, DUPLA_EINVAL, "service", "the service name is too long");
    if (f->subject.len > AUDIT_TEXT_MAX)
        return err_param(err, DUPLA_EINVAL, "subject", "the subject is too long");
    if (f->from_ms && f->to_ms && f->to_ms <= f->from_ms)
        return err_param(err, DUPLA_EINVAL, "to",
                         "the end of the time range is not after its start");
    if (f->after < 0)
        return err_param(err, DUPLA_EINVAL, "after", "the cursor is negative");
    if (f->limit > AUDIT_PAGE_MAX)
        return err_param(err, DUPLA_EINVAL, "limit", "a page holds at most %d entries",
                         AUDIT_PAGE_MAX);
    return 0;
}

int audit_filter_scope(enum audit_viewer viewer, str_t own_cvr, struct audit_filter *f, err_t *err)
{
    switch (viewer) {
    case AUDIT_VIEWER_DATA_OWNER:
        return 0;
    case AUDIT_VIEWER_RECIPIENT:
        if (own_cvr.len == 0)
            return err_internal(err, DUPLA_EINTERNAL, "audit: a recipient view without a CVR");
        if (f->org_cvr.len && !str_eq(f->org_cvr, own_cvr))
            return err_param(err, DUPLA_EFORBIDDEN, "organisation",
                             "an organisation sees only its own disclosures");
        f->org_cvr = own_cvr;
        return 0;
    case AUDIT_VIEWER_SUBJECT:
        if (f->subject.len == 0)
            return err_param(err, DUPLA_EINVAL, "subject",
                             "name the CPR, CVR or SE number the question is about");
        return 0;
    }
    return err_internal(err, DUPLA_EINTERNAL, "audit: unknown viewer %d", (int)viewer);
}

int audit_query(store_t *st, const struct audit_filter *f, const struct audit_query_options *opt,
                arena_t *arena, struct audit_page *page, err_t *err)
{
    memset(page, 0, sizeof *page);
    int rc = check_filter(f, err);
    if (rc)
        return rc;
    unsigned limit = f->limit ? f->limit : AUDIT_PAGE_DEFAULT;
    struct binding b[10];
    int nb = 0;
    unsigned mask = 0;
    if (f->org_cvr.len) {
        mask |= Q_ORG;
        b[nb++] = (struct binding){.s = f->org_cvr};
    }
    if (f->agreement_id.len) {
        mask |= Q_AGREEMENT;
        b[nb++] = (struct binding){.s = f->agreement_id};
    }
    if (f->service.len) {
        mask |= Q_SERVICE;
        b[nb++] = (struct binding){.s = f->service};
    }
    if (f->subject.len) {
        mask |= Q_SUBJECT;
        b[nb++] = (struct binding){.s = f->subject};
        if (f->subject_kind_set) {
            mask |= Q_KIND;
            b[nb++] =
                (struct binding){.s = str_from_cstr(audit_subject_kind_name(f->subject_kind))};
        }
    }
    if (f->from_ms) {
        mask |= Q_FROM;
        b[nb++] = (struct binding){.is_int = true, .i = f->from_ms};
    }
    if (f->to_ms) {
        mask |= Q_TO;
        b[nb++] = (struct binding){.is_int = true, .i = f->to_ms};
    }
    if (f->outcome_set) {
        mask |= Q_OUTCOME;
        b[nb++] = (struct binding){.s = str_from_cstr(audit_outcome_name(f->outcome))};
    }
    if (f->after) {
        mask |= Q_AFTER;
        b[nb++] = (struct binding){.is_int = true, .i = f->after};
    }
    if (f->newest_first)
        mask |= Q_NEWEST;
    bool pg = audit_partitioned(st);
    if (pg)
        mask |= Q_PG;
    b[nb++] = (struct binding){.is_int = true, .i = (int64_t)limit + 1};
    const char *sql = query_sql(mask);
    if (!sql)
        return err_set(err, DUPLA_ENOMEM, "out of memory");

    page->rows = arena_alloc(arena, limit * sizeof *page->rows);
    if (!page->rows)
        return err_set(err, DUPLA_ELIMIT, "the answer is too large; ask for a smaller page");
    store_conn_t *c;
    if ((rc = store_conn_get(st, &c, err)))
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c, sql, &s, err))) {
        store_conn_put(c);
        return rc;
    }
    for (int i = 0; i < nb; i++) {
        if (b[i].is_int)
            store_bind_int64(s, i + 1, b[i].i);
        else
            store_bind_text(s, i + 1, b[i].s);
    }
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (page->n == limit) {
            page->next = page->rows[limit - 1].seq;
            break;
        }
        struct audit_row *row = &page->rows[page->n];
        if ((rc = read_row(s, arena, row, err)))
            break;
        page->n++;
    }
    store_stmt_done(s);
    if (rc >= 0)
        rc = load_subjects(c, pg, f, arena, page->rows, page->n, err);
    store_conn_put(c);
    if (rc < 0)
        return rc;
    if (opt && opt->agreement_lookup) {
        for (size_t i = 0; i < page->n; i++) {
            struct audit_row *row = &page->rows[i];
            struct audit_agreement_info info = {0};
            err_t e2;
            err_clear(&e2);
            int lr = opt->agreement_lookup(opt->agreement_ctx, str_from_cstr(row->agreement_id),
                                           row->agreement_version, arena, &info, &e2);
            if (lr == 0) {
                row->purpose = info.purpose;
                row->legal_basis = info.legal_basis;
            } else if (lr != DUPLA_ENOTFOUND) {
                if (err)
                    *err = e2;
                return lr;
            }
        }
    }
    return 0;
}
