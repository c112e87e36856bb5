/*
 * erratum.c: tracing a data error (#17.6). The data owner marks a delivery,
 * or a set of record versions, as erroneous (audit_erratum_mark, with a
 * reason and what replaces the data); the log's version 2 entries recorded
 * the deliveries and versions each disclosure sent (disclosed.c), so the
 * disclosures that included them are a lookup (audit_erratum_trace), grouped
 * per recipient organisation and agreement; audit_erratum_notify queues one
 * notice per recipient organisation through the mail outbox, naming the
 * agreements, the log's sequence numbers, the recipient's own case
 * references, the affected subjects' count (never the subjects), the
 * periods and what replaces the data. Who was told, when and at which
 * mailbox is kept (audit_erratum_notice) and shown with the report.
 *
 * Exactness. An entry lists its versions unless it sent more than
 * AUDIT_VERSIONS_MAX records; then it lists only its deliveries. Such an
 * entry is counted as a disclosure of a marked version ("exact": false)
 * when it lists a delivery known (from entries that listed the version) to
 * have brought the version and it names the version's subject. Version 1
 * entries (before the log recorded what it sent) cannot be traced.
 *
 * Idempotency. A mark is keyed by what it marks (the delivery, or the
 * sorted versions): marking the same again returns the first mark. Notices
 * are keyed by (mark, organisation) in the same transaction as the queued
 * mail, and the mail by its source: re-running notify tells only
 * recipients not told before (for instance one that received the data
 * after the mark).
 */
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/json.h"
#include "mail/mail.h"

#define ERRATUM_KEY_MAX 96 /* "delivery:" + sha256 hex, or "versions:" + sha256 hex */

/* ---- marks ---- */

static int bad_text(str_t s, size_t max, const char *name, bool required, err_t *err)
{
    if (required && s.len == 0)
        return err_param(err, DUPLA_EINVAL, name, "%s is required", name);
    if (s.len > max)
        return err_param(err, DUPLA_ELIMIT, name, "%s is longer than %zu bytes", name, max);
    if ((s.len && !s.ptr) || !audit_text_valid(s))
        return err_param(err, DUPLA_EINVAL, name, "%s is not valid UTF-8 text", name);
    return 0;
}

static int check_mark(const struct audit_erratum_mark *m, err_t *err)
{
    int rc;
    if ((rc = bad_text(m->reason, AUDIT_ERRATUM_TEXT_MAX, "reason", true, err)) ||
        (rc = bad_text(m->replacement, AUDIT_ERRATUM_TEXT_MAX, "replacement", false, err)) ||
        (rc = bad_text(m->actor, AUDIT_TEXT_MAX, "actor", false, err)) ||
        (rc = bad_text(m->delivery_id, AUDIT_TEXT_MAX, "delivery", false, err)))
        return rc;
    if (m->delivery_id.len && m->n_versions)
        return err_param(err, DUPLA_EINVAL, "delivery",
                         "mark either a delivery or record versions, not both");
    if (!m->delivery_id.len && !m->n_versions)
        return err_param(err, DUPLA_EINVAL, "delivery",
                         "name the delivery or the record versions that are erroneous");
    if (m->n_versions > AUDIT_ERRATUM_VERSIONS_MAX)
        return err_param(err, DUPLA_ELIMIT, "version", "at most %d versions in one mark",
                         AUDIT_ERRATUM_VERSIONS_MAX);
    for (size_t i = 0; i < m->n_versions; i++) {
        const struct audit_erratum_version *v = &m->versions[i];
        if ((rc = bad_text(v->service, AUDIT_TEXT_MAX, "service", true, err)) ||
            (rc = bad_text(v->subject, AUDIT_VERSION_TEXT_MAX, "version", true, err)) ||
            (rc = bad_text(v->period, AUDIT_VERSION_TEXT_MAX, "version", false, err)))
            return rc;
        if ((unsigned)v->kind > AUDIT_SUBJECT_SE || v->version < 1)
            return err_param(err, DUPLA_EINVAL, "version",
                             "version %zu: a subject kind cpr, cvr or se and a version >= 1", i);
    }
    return 0;
}

static int str_order(str_t a, str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : a.len < b.len ? -1 : a.len > b.len;
}

/* A stored text as a JSON string (an empty text may come without bytes). */
static json_t *jtext(str_t s)
{
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

static int cmp_version(const void *a, const void *b)
{
    const struct audit_erratum_version *x = a, *y = b;
    int c = str_order(x->service, y->service);
    if (!c)
        c = (int)x->kind - (int)y->kind;
    if (!c)
        c = str_order(x->subject, y->subject);
    if (!c)
        c = str_order(x->period, y->period);
    if (!c)
        c = x->version < y->version ? -1 : x->version > y->version;
    return c;
}

/* What a mark marks, as a key: equal marks, equal keys. */
static int mark_key(const struct audit_erratum_mark *m, char key[ERRATUM_KEY_MAX], err_t *err)
{
    gnutls_hash_hd_t h;
    unsigned char d[32];
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return err_internal(err, DUPLA_ECRYPTO, "audit: SHA-256 is not available");
    const char *kind = m->delivery_id.len ? "delivery:" : "versions:";
    if (m->delivery_id.len) {
        gnutls_hash(h, m->delivery_id.ptr, m->delivery_id.len);
    } else {
        struct audit_erratum_version *v = malloc(m->n_versions * sizeof *v);
        if (!v) {
            gnutls_hash_deinit(h, d);
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        }
        memcpy(v, m->versions, m->n_versions * sizeof *v);
        qsort(v, m->n_versions, sizeof *v, cmp_version);
        for (size_t i = 0; i < m->n_versions; i++) {
            if (i && cmp_version(&v[i - 1], &v[i]) == 0)
                continue;
            char t[64];
            int n = snprintf(t, sizeof t, "|%d|%" PRId64 "|", (int)v[i].kind, v[i].version);
            gnutls_hash(h, v[i].service.ptr, v[i].service.len);
            gnutls_hash(h, t, (size_t)n);
            gnutls_hash(h, v[i].subject.ptr, v[i].subject.len);
            gnutls_hash(h, "|", 1);
            gnutls_hash(h, v[i].period.ptr, v[i].period.len);
            gnutls_hash(h, "\n", 1);
        }
        free(v);
    }
    gnutls_hash_deinit(h, d);
    size_t o = (size_t)snprintf(key, ERRATUM_KEY_MAX, "%s", kind);
    for (int i = 0; i < 32; i++)
        o += (size_t)snprintf(key + o, ERRATUM_KEY_MAX - o, "%02x", d[i]);
    return 0;
}

static int find_by_key(store_conn_t *c, const char *key, int64_t *id, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT id FROM audit_erratum WHERE mark_key = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, key);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *id = store_col_int64(s, 0);
    store_stmt_done(s);
    return rc < 0 ? rc : rc == STORE_ROW ? 0 : DUPLA_ENOTFOUND;
}

int audit_erratum_mark(store_t *st, const struct audit_erratum_mark *m, int64_t now_ms, int64_t *id,
                       bool *existed, err_t *err)
{
    int rc = check_mark(m, err);
    char key[ERRATUM_KEY_MAX];
    if (rc || (rc = mark_key(m, key, err)))
        return rc;
    *existed = false;
    store_conn_t *c;
    if ((rc = store_conn_get(st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err))) {
        store_conn_put(c);
        return rc;
    }
    rc = find_by_key(c, key, id, err);
    if (rc == 0) {
        *existed = true;
        store_rollback(c);
        store_conn_put(c);
        return 0;
    }
    if (rc != DUPLA_ENOTFOUND)
        goto fail;
    if ((rc = store_query_int64(c, "SELECT COALESCE(MAX(id), 0) + 1 FROM audit_erratum", 1, id,
                                err)))
        goto fail;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "INSERT INTO audit_erratum (id, time_ms, actor, reason, replacement, "
                            "delivery_id, mark_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            &s, err)))
        goto fail;
    store_bind_int64(s, 1, *id);
    store_bind_int64(s, 2, now_ms);
    store_bind_text(s, 3, m->actor);
    store_bind_text(s, 4, m->reason);
    store_bind_text(s, 5, m->replacement);
    store_bind_text(s, 6, m->delivery_id);
    store_bind_cstr(s, 7, key);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        goto fail;
    if (m->n_versions) {
        if ((rc = store_prepare(c,
                                "INSERT INTO audit_erratum_version (erratum_id, position, service,"
                                " kind, subject, period, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                &s, err)))
            goto fail;
        for (size_t i = 0; i < m->n_versions; i++) {
            const struct audit_erratum_version *v = &m->versions[i];
            store_bind_int64(s, 1, *id);
            store_bind_int64(s, 2, (int64_t)i);
            store_bind_text(s, 3, v->service);
            store_bind_cstr(s, 4, audit_subject_kind_name(v->kind));
            store_bind_text(s, 5, v->subject);
            store_bind_text(s, 6, v->period);
            store_bind_int64(s, 7, v->version);
            rc = store_step(s, err);
            store_stmt_done(s);
            if (rc < 0)
                goto fail;
        }
    }
    if ((rc = store_commit(c, err)))
        goto fail;
    store_conn_put(c);
    return 0;
fail:
    store_rollback(c);
    store_conn_put(c);
    return rc;
}

/* ---- tracing ---- */

/* One disclosure of marked data, as found (several per entry merge). */
struct raw {
    int64_t seq;
    bool exact;
    char subject[AUDIT_VERSION_TEXT_MAX + 8]; /* "cpr:0101010101" */
    char period[AUDIT_VERSION_TEXT_MAX + 1];
};

struct raws {
    struct raw *v;
    size_t n, cap;
};

static int raw_add(struct raws *r, int64_t seq, bool exact, str_t kind, str_t subject, str_t period,
                   err_t *err)
{
    if (r->n == r->cap) {
        if (r->cap >= AUDIT_ERRATUM_TRACE_MAX)
            return err_set(err, DUPLA_ELIMIT,
                           "the mark was disclosed more than %d times; mark smaller parts",
                           AUDIT_ERRATUM_TRACE_MAX);
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct raw *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        r->v = v;
        r->cap = cap;
    }
    struct raw *x = &r->v[r->n++];
    x->seq = seq;
    x->exact = exact;
    snprintf(x->subject, sizeof x->subject, "%.*s:%.*s", (int)kind.len, kind.ptr,
             (int)(subject.len < AUDIT_VERSION_TEXT_MAX ? subject.len : AUDIT_VERSION_TEXT_MAX),
             subject.ptr);
    snprintf(x->period, sizeof x->period, "%.*s",
             (int)(period.len < AUDIT_VERSION_TEXT_MAX ? period.len : AUDIT_VERSION_TEXT_MAX),
             period.ptr);
    return 0;
}

/* Whether entry seq lists any versions. */
static int lists_versions(store_conn_t *c, int64_t seq, bool *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT 1 FROM audit_entry_version WHERE seq = ? LIMIT 1", &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, seq);
    rc = store_step(s, err);
    *out = rc == STORE_ROW;
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* An entry that lists deliveries only: its subjects (of kind, or all when
 * kind is NULL; only subject when given) as possible disclosures. */
static int raw_subjects(store_conn_t *c, struct raws *r, int64_t seq, const char *kind,
                        str_t subject, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT s.kind, s.subject, e.periods FROM audit_entry_subject s"
                           " JOIN audit_entry e ON e.seq = s.seq WHERE s.seq = ?"
                           " ORDER BY s.position",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, seq);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        str_t k = store_col_text(s, 0), subj = store_col_text(s, 1);
        if ((kind && !str_eq_cstr(k, kind)) || (subject.len && !str_eq(subj, subject)))
            continue;
        /* the periods: the entry's, as one text ("2023" for a one-period list) */
        json_t *p = json_parse(store_col_text(s, 2).ptr, store_col_text(s, 2).len, 0, NULL, NULL);
        str_t period = STR("");
        if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
            period = str_from_cstr(json_string_value(json_array_get(p, 0)));
        rc = raw_add(r, seq, false, k, subj, period, err);
        json_decref(p);
        if (rc)
            break;
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static int trace_delivery(store_conn_t *c, str_t delivery, struct raws *r, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT d.seq, d.position FROM audit_entry_delivery d"
                           " WHERE d.delivery_id = ? ORDER BY d.seq",
                           &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, delivery);
    int64_t *pairs = NULL;
    size_t n = 0, cap = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (n == cap) {
            if (cap >= AUDIT_ERRATUM_TRACE_MAX) {
                rc = err_set(err, DUPLA_ELIMIT,
                             "the delivery was disclosed more than %d times; mark versions",
                             AUDIT_ERRATUM_TRACE_MAX);
                break;
            }
            cap = cap ? cap * 2 : 64;
            int64_t *p = realloc(pairs, cap * 2 * sizeof *p);
            if (!p) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            pairs = p;
        }
        pairs[2 * n] = store_col_int64(s, 0);
        pairs[2 * n + 1] = store_col_int64(s, 1);
        n++;
    }
    store_stmt_done(s);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        int64_t seq = pairs[2 * i], pos = pairs[2 * i + 1];
        bool listed;
        if ((rc = lists_versions(c, seq, &listed, err)))
            break;
        if (!listed) {
            rc = raw_subjects(c, r, seq, NULL, STR(""), err);
            continue;
        }
        if ((rc = store_prepare(c,
                                "SELECT kind, subject, period FROM audit_entry_version"
                                " WHERE seq = ? AND delivery = ? ORDER BY position",
                                &s, err)))
            break;
        store_bind_int64(s, 1, seq);
        store_bind_int64(s, 2, pos);
        while ((rc = store_step(s, err)) == STORE_ROW)
            if ((rc = raw_add(r, seq, true, store_col_text(s, 0), store_col_text(s, 1),
                              store_col_text(s, 2), err)))
                break;
        store_stmt_done(s);
    }
    free(pairs);
    return rc < 0 ? rc : 0;
}

static int trace_version(store_conn_t *c, const struct audit_erratum_version *v, struct raws *r,
                         err_t *err)
{
    const char *kind = audit_subject_kind_name(v->kind);
    store_stmt_t *s;
    int rc =
        store_prepare(c,
                      "SELECT v.seq, d.delivery_id FROM audit_entry_version v"
                      " JOIN audit_entry e ON e.seq = v.seq"
                      " JOIN audit_entry_delivery d ON d.seq = v.seq AND d.position = v.delivery"
                      " WHERE v.subject = ? AND v.period = ? AND v.version = ? AND v.kind = ?"
                      " AND e.service = ? AND e.outcome = 'disclosed' ORDER BY v.seq",
                      &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, v->subject);
    store_bind_text(s, 2, v->period);
    store_bind_int64(s, 3, v->version);
    store_bind_cstr(s, 4, kind);
    store_bind_text(s, 5, v->service);
    char deliveries[4][AUDIT_TEXT_MAX + 1];
    size_t nd = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if ((rc = raw_add(r, store_col_int64(s, 0), true, str_from_cstr(kind), v->subject,
                          v->period, err)))
            break;
        str_t d = store_col_text(s, 1);
        bool seen = false;
        for (size_t i = 0; i < nd && !seen; i++)
            seen = str_eq_cstr(d, deliveries[i]);
        if (!seen && nd < 4 && d.len <= AUDIT_TEXT_MAX)
            snprintf(deliveries[nd++], sizeof deliveries[0], "%.*s", (int)d.len, d.ptr);
    }
    store_stmt_done(s);
    /* the entries too large to list versions, that sent the version's
     * delivery and name its subject */
    for (size_t i = 0; rc >= 0 && i < nd; i++) {
        if ((rc = store_prepare(c,
                                "SELECT d.seq FROM audit_entry_delivery d"
                                " JOIN audit_entry e ON e.seq = d.seq"
                                " WHERE d.delivery_id = ? AND e.service = ? AND e.record_count > 0"
                                " AND e.outcome = 'disclosed' AND NOT EXISTS (SELECT 1 FROM"
                                " audit_entry_version x WHERE x.seq = d.seq) ORDER BY d.seq",
                                &s, err)))
            break;
        store_bind_cstr(s, 1, deliveries[i]);
        store_bind_text(s, 2, v->service);
        int64_t seqs[256];
        size_t ns = 0;
        while ((rc = store_step(s, err)) == STORE_ROW && ns < 256)
            seqs[ns++] = store_col_int64(s, 0);
        store_stmt_done(s);
        for (size_t k = 0; rc >= 0 && k < ns; k++)
            rc = raw_subjects(c, r, seqs[k], kind, v->subject, err);
    }
    return rc < 0 ? rc : 0;
}

static int cmp_raw(const void *a, const void *b)
{
    const struct raw *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct strings of list (sorted in place) into a JSON array, or
 * their count. */
static json_t *distinct(const char **list, size_t n, size_t *count)
{
    if (n > 1) /* list may be NULL when empty: qsort's arguments must not be */
        qsort(list, n, sizeof *list, cmp_cstr);
    json_t *a = json_array();
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(list[i - 1], list[i]) != 0) {
            json_array_append_new(a, json_string(list[i]));
            (*count)++;
        }
    return a;
}

/* The erratum's own row and versions into *out (an object). */
static int load_mark(store_conn_t *c, int64_t id, json_t *out, struct audit_erratum_version **vs,
                     size_t *nv, char **delivery, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT time_ms, actor, reason, replacement, delivery_id"
                           " FROM audit_erratum WHERE id = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        char when[32];
        clock_format_ms(store_col_int64(s, 0), when, sizeof when);
        str_t a = store_col_text(s, 1), why = store_col_text(s, 2), rep = store_col_text(s, 3),
              d = store_col_text(s, 4);
        json_object_set_new(out, "id", json_integer(id));
        json_object_set_new(out, "time", json_string(when));
        json_object_set_new(out, "marked_by", jtext(a));
        json_object_set_new(out, "reason", jtext(why));
        json_object_set_new(out, "replacement", jtext(rep));
        json_object_set_new(out, "delivery", d.len ? jtext(d) : json_null());
        *delivery = strndup(d.ptr ? d.ptr : "", d.len);
        if (!*delivery)
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (rc != STORE_ROW && rc != 0)
        return rc;
    if (rc == STORE_DONE)
        return err_param(err, DUPLA_ENOTFOUND, "id", "no data error %" PRId64 " is marked", id);
    json_t *versions = json_array();
    json_object_set_new(out, "versions", versions);
    *vs = NULL;
    *nv = 0;
    if ((rc = store_prepare(c,
                            "SELECT service, kind, subject, period, version FROM"
                            " audit_erratum_version WHERE erratum_id = ? ORDER BY position",
                            &s, err)))
        return rc;
    store_bind_int64(s, 1, id);
    size_t cap = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        str_t svc = store_col_text(s, 0), k = store_col_text(s, 1), subj = store_col_text(s, 2),
              per = store_col_text(s, 3);
        json_array_append_new(versions,
                              json_pack("{s:o, s:o, s:o, s:o, s:I}", "service", jtext(svc),
                                        "subject_kind", jtext(k), "subject", jtext(subj), "period",
                                        jtext(per), "version", (json_int_t)store_col_int64(s, 4)));
        if (*nv == cap) {
            cap = cap ? cap * 2 : 16;
            struct audit_erratum_version *p = realloc(*vs, cap * sizeof *p);
            if (!p) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            *vs = p;
        }
        /* the texts live in the JSON just appended */
        json_t *o = json_array_get(versions, json_array_size(versions) - 1);
        struct audit_erratum_version *v = &(*vs)[(*nv)++];
        v->service = str_from_cstr(json_string_value(json_object_get(o, "service")));
        audit_subject_kind_parse(k, &v->kind);
        v->subject = str_from_cstr(json_string_value(json_object_get(o, "subject")));
        v->period = str_from_cstr(json_string_value(json_object_get(o, "period")));
        v->version = store_col_int64(s, 4);
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* The notices sent for the mark, by organisation, into *out (an object). */
static int load_notices(store_conn_t *c, int64_t id, json_t *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT org_cvr, time_ms, mailbox, disclosures FROM audit_erratum_notice"
                           " WHERE erratum_id = ? ORDER BY org_cvr",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, id);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        char when[32];
        clock_format_ms(store_col_int64(s, 1), when, sizeof when);
        str_t org = store_col_text(s, 0), mb = store_col_text(s, 2), d = store_col_text(s, 3);
        json_t *seqs = json_parse(d.ptr, d.len, 0, NULL, NULL);
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(org.len < 31 ? org.len : 31), org.ptr);
        json_object_set_new(out, key,
                            json_pack("{s:s, s:o, s:o}", "time", when, "mailbox", jtext(mb),
                                      "disclosures", seqs ? seqs : json_array()));
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Builds the report of mark id on c (see audit.h). */
static int report(store_conn_t *c, int64_t id, json_t **out, err_t *err)
{
    json_t *rep = json_object(), *notices = json_object();
    struct audit_erratum_version *vs = NULL;
    size_t nv = 0;
    char *delivery = NULL;
    struct raws r = {0};
    const char **subjects = NULL, **periods = NULL;
    int rc = load_mark(c, id, rep, &vs, &nv, &delivery, err);
    if (!rc)
        rc = load_notices(c, id, notices, err);
    if (!rc && delivery && delivery[0])
        rc = trace_delivery(c, str_from_cstr(delivery), &r, err);
    for (size_t i = 0; !rc && i < nv; i++)
        rc = trace_version(c, &vs[i], &r, err);
    if (rc)
        goto done;
    if (r.n > 1) /* r.v is NULL when nothing was found */
        qsort(r.v, r.n, sizeof *r.v, cmp_raw);
    /* the entries, each once, with what they tell of their recipient */
    struct hit {
        int64_t seq, time_ms, agreement_version;
        char org[16], agreement[AUDIT_TEXT_MAX + 1], case_ref[AUDIT_CASE_REF_MAX + 1];
        bool exact;
        size_t first, n; /* its raws */
    } *hits = r.n ? calloc(r.n, sizeof *hits) : NULL;
    size_t nh = 0;
    if (r.n && !hits) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < r.n; i++) {
        if (nh && hits[nh - 1].seq == r.v[i].seq) {
            hits[nh - 1].n++;
            hits[nh - 1].exact = hits[nh - 1].exact && r.v[i].exact;
            continue;
        }
        hits[nh++] = (struct hit){.seq = r.v[i].seq, .exact = r.v[i].exact, .first = i, .n = 1};
    }
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT org_cvr, agreement_id, agreement_version, case_ref, time_ms"
                            " FROM audit_entry WHERE seq = ?",
                            &s, err))) {
        free(hits);
        goto done;
    }
    for (size_t i = 0; i < nh; i++) {
        store_bind_int64(s, 1, hits[i].seq);
        int src = store_step(s, err);
        if (src == STORE_ROW) {
            str_t o = store_col_text(s, 0), a = store_col_text(s, 1), cr = store_col_text(s, 3);
            snprintf(hits[i].org, sizeof hits[i].org, "%.*s", (int)(o.len < 15 ? o.len : 15),
                     o.ptr);
            snprintf(hits[i].agreement, sizeof hits[i].agreement, "%.*s",
                     (int)(a.len < AUDIT_TEXT_MAX ? a.len : AUDIT_TEXT_MAX), a.ptr);
            snprintf(hits[i].case_ref, sizeof hits[i].case_ref, "%.*s",
                     (int)(cr.len < AUDIT_CASE_REF_MAX ? cr.len : AUDIT_CASE_REF_MAX), cr.ptr);
            hits[i].agreement_version = store_col_int64(s, 2);
            hits[i].time_ms = store_col_int64(s, 4);
        }
        store_stmt_done(s);
        if (src < 0) {
            rc = src;
            break;
        }
    }
    if (rc) {
        free(hits);
        goto done;
    }
    /* group: organisation, then agreement, then seq */
    for (size_t i = 1; i < nh; i++) { /* insertion sort keeps seq order within a group */
        struct hit h = hits[i];
        size_t j = i;
        while (j > 0) {
            int cmp = strcmp(hits[j - 1].org, h.org);
            if (!cmp)
                cmp = strcmp(hits[j - 1].agreement, h.agreement);
            if (cmp <= 0)
                break;
            hits[j] = hits[j - 1];
            j--;
        }
        hits[j] = h;
    }
    subjects = malloc((r.n + 1) * sizeof *subjects);
    periods = malloc((r.n + 1) * sizeof *periods);
    if (!subjects || !periods) {
        free(hits);
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto done;
    }
    json_t *recipients = json_array();
    json_object_set_new(rep, "recipients", recipients);
    json_object_set_new(rep, "disclosures", json_integer((json_int_t)nh));
    for (size_t i = 0; i < nh;) {
        size_t oe = i;
        while (oe < nh && strcmp(hits[oe].org, hits[i].org) == 0)
            oe++;
        json_t *agreements = json_array();
        size_t ns_org = 0;
        for (size_t k = i; k < oe; k++)
            for (size_t x = 0; x < hits[k].n; x++)
                subjects[ns_org++] = r.v[hits[k].first + x].subject;
        size_t org_subjects;
        json_decref(distinct(subjects, ns_org, &org_subjects));
        for (size_t a = i; a < oe;) {
            size_t ae = a;
            while (ae < oe && strcmp(hits[ae].agreement, hits[a].agreement) == 0)
                ae++;
            json_t *disc = json_array(), *refs = json_array();
            size_t ns = 0, np = 0;
            for (size_t k = a; k < ae; k++) {
                char when[32];
                clock_format_ms(hits[k].time_ms, when, sizeof when);
                json_array_append_new(
                    disc,
                    json_pack("{s:I, s:s, s:I, s:s, s:b}", "seq", (json_int_t)hits[k].seq, "time",
                              when, "agreement_version", (json_int_t)hits[k].agreement_version,
                              "case_reference", hits[k].case_ref, "exact", hits[k].exact));
                bool seen = !hits[k].case_ref[0];
                for (size_t q = a; q < k && !seen; q++)
                    seen = strcmp(hits[q].case_ref, hits[k].case_ref) == 0;
                if (!seen)
                    json_array_append_new(refs, json_string(hits[k].case_ref));
                for (size_t x = 0; x < hits[k].n; x++) {
                    subjects[ns++] = r.v[hits[k].first + x].subject;
                    if (r.v[hits[k].first + x].period[0])
                        periods[np++] = r.v[hits[k].first + x].period;
                }
            }
            size_t n_subj, n_per;
            json_decref(distinct(subjects, ns, &n_subj));
            json_t *pers = distinct(periods, np, &n_per);
            char first[32], last[32];
            clock_format_ms(hits[a].time_ms, first, sizeof first);
            clock_format_ms(hits[ae - 1].time_ms, last, sizeof last);
            json_array_append_new(
                agreements, json_pack("{s:s, s:o, s:o, s:I, s:o, s:s, s:s}", "agreement",
                                      hits[a].agreement, "disclosures", disc, "case_references",
                                      refs, "subjects", (json_int_t)n_subj, "periods", pers,
                                      "first_disclosed", first, "last_disclosed", last));
            a = ae;
        }
        json_t *notice = json_object_get(notices, hits[i].org);
        json_array_append_new(recipients,
                              json_pack("{s:s, s:I, s:o, s:O}", "organisation", hits[i].org,
                                        "subjects", (json_int_t)org_subjects, "agreements",
                                        agreements, "notice", notice ? notice : json_null()));
        i = oe;
    }
    /* notices to organisations no longer among the recipients (none today:
     * the log is append-only), kept visible all the same */
    json_object_set(rep, "notices", notices);
    free(hits);
done:
    json_decref(notices);
    free(subjects);
    free(periods);
    free(r.v);
    free(vs);
    free(delivery);
    if (rc) {
        json_decref(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

int audit_erratum_report(store_t *st, int64_t id, json_t **out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin_read(c, err)) == 0) {
        rc = report(c, id, out, err);
        store_end_read(c);
    }
    store_conn_put(c);
    return rc;
}

int audit_erratum_list(store_t *st, json_t **out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT e.id, e.time_ms, e.actor, e.reason, e.delivery_id,"
                            " (SELECT COUNT(*) FROM audit_erratum_version v WHERE"
                            " v.erratum_id = e.id),"
                            " (SELECT COUNT(*) FROM audit_erratum_notice n WHERE"
                            " n.erratum_id = e.id) FROM audit_erratum e ORDER BY e.id DESC",
                            &s, err))) {
        store_conn_put(c);
        return rc;
    }
    json_t *a = json_array();
    while ((rc = store_step(s, err)) == STORE_ROW) {
        char when[32];
        clock_format_ms(store_col_int64(s, 1), when, sizeof when);
        str_t actor = store_col_text(s, 2), why = store_col_text(s, 3), d = store_col_text(s, 4);
        json_array_append_new(a, json_pack("{s:I, s:s, s:o, s:o, s:o, s:I, s:I}", "id",
                                           (json_int_t)store_col_int64(s, 0), "time", when,
                                           "marked_by", jtext(actor), "reason", jtext(why),
                                           "delivery", d.len ? jtext(d) : json_null(), "versions",
                                           (json_int_t)store_col_int64(s, 5), "notices",
                                           (json_int_t)store_col_int64(s, 6)));
    }
    store_stmt_done(s);
    store_conn_put(c);
    if (rc < 0) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* ---- notices ---- */

/* The notice to one recipient (rec: a report's recipient) into b. */
static int notice_text(const json_t *rep, const json_t *rec, buf_t *b)
{
    const char *rep_text = json_string_value(json_object_get(rep, "replacement"));
    const json_t *d = json_object_get(rep, "delivery");
    int rc = buf_printf(
        b,
        "Skatteforvaltningen har markeret data, som %s har modtaget gennem DUPLA, som "
        "fejlbehæftede.\n"
        "English: the tax administration has marked data that %s received through DUPLA as "
        "erroneous.\n\n"
        "Fejl / data error: nr. %" PRId64 ", markeret / marked %s\n",
        json_string_value(json_object_get(rec, "organisation")),
        json_string_value(json_object_get(rec, "organisation")),
        (int64_t)json_integer_value(json_object_get(rep, "id")),
        json_string_value(json_object_get(rep, "time")));
    if (!rc)
        rc = buf_printf(b, "Årsag / reason: %s\n",
                        json_string_value(json_object_get(rep, "reason")));
    if (!rc)
        rc = buf_printf(b, "Erstattes af / replaced by: %s\n",
                        rep_text && rep_text[0] ? rep_text : "oplyses senere / to be announced");
    if (!rc && json_is_string(d))
        rc = buf_printf(b, "Berørt levering / delivery affected: %s\n", json_string_value(d));
    else if (!rc)
        rc = buf_printf(b, "Berørte postversioner / record versions affected: %zu\n",
                        json_array_size(json_object_get(rep, "versions")));
    if (!rc)
        rc = buf_printf(b,
                        "Berørte personer og virksomheder i alt / subjects affected: %" PRId64 "\n",
                        (int64_t)json_integer_value(json_object_get(rec, "subjects")));
    size_t i, k;
    json_t *a, *x;
    json_array_foreach(json_object_get(rec, "agreements"), i, a)
    {
        if (rc)
            break;
        rc = buf_printf(b,
                        "\nAftale / agreement %s\n"
                        "  udleveret / disclosed: %s - %s\n"
                        "  berørte personer og virksomheder / subjects affected: %" PRId64 "\n"
                        "  perioder / periods:",
                        json_string_value(json_object_get(a, "agreement")),
                        json_string_value(json_object_get(a, "first_disclosed")),
                        json_string_value(json_object_get(a, "last_disclosed")),
                        (int64_t)json_integer_value(json_object_get(a, "subjects")));
        json_array_foreach(json_object_get(a, "periods"), k, x) if (!rc) rc =
            buf_printf(b, "%s %s", k ? "," : "", json_string_value(x));
        if (!rc)
            rc = buf_append_cstr(b, "\n  løbenumre i udleveringsloggen / log sequence numbers "
                                    "(X-Dupla-Udlevering):");
        json_array_foreach(json_object_get(a, "disclosures"), k, x) if (!rc) rc = buf_printf(
            b, "%s %" PRId64, k ? "," : "", (int64_t)json_integer_value(json_object_get(x, "seq")));
        if (!rc)
            rc = buf_append_cstr(b, "\n  jeres sagsreferencer / your case references "
                                    "(X-Dupla-Sagsreference):");
        json_array_foreach(json_object_get(a, "case_references"), k, x) if (!rc) rc =
            buf_printf(b, "%s %s", k ? "," : "", json_string_value(x));
        if (!rc && json_array_size(json_object_get(a, "case_references")) == 0)
            rc = buf_append_cstr(b, " (ingen / none)");
        if (!rc)
            rc = buf_append_cstr(b, "\n");
    }
    if (!rc)
        rc = buf_append_cstr(
            b, "\nHent de rettede data igen, og ret det, I har afgjort på de fejlbehæftede. "
               "Kvitteringen for hver udlevering: GET /api/receipts/<løbenummer>.\n"
               "English: fetch the corrected data again and correct what you decided on the "
               "erroneous data. Each disclosure's receipt: GET /api/receipts/<seq>.\n");
    return rc;
}

int audit_erratum_notify(store_t *st, int64_t id, audit_contact_fn contact, void *ctx,
                         int64_t now_ms, struct audit_erratum_sent *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    int rc = mail_migrate(st, err);
    if (rc)
        return rc;
    json_t *rep;
    if ((rc = audit_erratum_report(st, id, &rep, err)))
        return rc;
    store_conn_t *c = NULL;
    if ((rc = store_conn_get(st, &c, err))) {
        json_decref(rep);
        return rc;
    }
    size_t i;
    json_t *rec;
    buf_t body;
    buf_init(&body, MAIL_BODY_MAX);
    json_array_foreach(json_object_get(rep, "recipients"), i, rec)
    {
        out->recipients++;
        if (!json_is_null(json_object_get(rec, "notice"))) {
            out->already++;
            continue;
        }
        const char *org = json_string_value(json_object_get(rec, "organisation"));
        char mailbox[MAIL_ADDRESS_MAX + 1] = "";
        if (contact && (rc = contact(ctx, org, mailbox, sizeof mailbox, err)) &&
            rc != DUPLA_ENOTFOUND)
            break;
        rc = 0;
        buf_reset(&body);
        if (notice_text(rep, rec, &body)) {
            rc = err_set(err, DUPLA_ELIMIT, "the notice to %s is too long", org);
            break;
        }
        json_t *seqs = json_array();
        size_t k, q;
        json_t *a, *x;
        json_array_foreach(json_object_get(rec, "agreements"), k, a)
            json_array_foreach(json_object_get(a, "disclosures"), q, x)
                json_array_append(seqs, json_object_get(x, "seq"));
        char *seqs_text = json_text(seqs, JSON_COMPACT);
        json_decref(seqs);
        char subject[160], source[64], ref[32];
        snprintf(subject, sizeof subject,
                 "Fejl i udleverede data (nr. %" PRId64 ") / Error in data disclosed", id);
        snprintf(source, sizeof source, "audit-erratum:%" PRId64 ":%s", id, org);
        snprintf(ref, sizeof ref, "erratum-%" PRId64, id);
        if (!seqs_text) {
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
            break;
        }
        if ((rc = store_begin(c, err)) == 0) {
            store_stmt_t *s;
            rc = store_prepare(c,
                               "INSERT INTO audit_erratum_notice (erratum_id, org_cvr, time_ms,"
                               " mailbox, disclosures) VALUES (?, ?, ?, ?, ?)",
                               &s, err);
            if (!rc) {
                store_bind_int64(s, 1, id);
                store_bind_cstr(s, 2, org);
                store_bind_int64(s, 3, now_ms);
                store_bind_cstr(s, 4, mailbox);
                store_bind_cstr(s, 5, seqs_text);
                rc = store_step(s, err);
                store_stmt_done(s);
                rc = rc < 0 ? rc : 0;
            }
            struct mail_message m = {.kind = "data-error",
                                     .to = mailbox,
                                     .subject = subject,
                                     .body = body.data ? body.data : "",
                                     .source = source,
                                     .ref = ref};
            if (!rc && (rc = mail_enqueue(c, &m, now_ms, err)) == DUPLA_ECONFLICT)
                rc = 0; /* queued before (a notice row lost?): not twice */
            if (!rc)
                rc = store_commit(c, err);
            else
                store_rollback(c);
        }
        free(seqs_text);
        if (rc == DUPLA_ECONFLICT) { /* another run told it meanwhile */
            out->already++;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        out->queued++;
        if (!mailbox[0])
            out->no_mailbox++;
    }
    buf_free(&body);
    store_conn_put(c);
    json_decref(rep);
    return rc;
}
