/*
 * canonical.c: the canonical encoding of an entry (see audit.h) and the hash
 * chain over it. The writer encodes entries from what the data path handed
 * it; verify re-encodes them from the stored rows with the same primitives,
 * so the two cannot drift apart field by field.
 */
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "audit/internal.h"

int audit_enc_u32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return buf_append(b, x, sizeof x);
}

int audit_enc_i64(buf_t *b, int64_t v)
{
    uint64_t u = (uint64_t)v;
    unsigned char x[8];
    for (int i = 7; i >= 0; i--) {
        x[i] = (unsigned char)u;
        u >>= 8;
    }
    return buf_append(b, x, sizeof x);
}

int audit_enc_str(buf_t *b, str_t s)
{
    int rc = audit_enc_u32(b, (uint32_t)s.len);
    return rc ? rc : buf_append(b, s.ptr, s.len);
}

void audit_enc_patch_u32(buf_t *b, size_t off, uint32_t v)
{
    unsigned char *p = (unsigned char *)b->data + off;
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int audit_enc_head(buf_t *b, uint32_t format, int64_t seq, int64_t time_ms, str_t environment,
                   str_t org_cvr, str_t system_id, str_t agreement_id, int64_t agreement_version,
                   str_t service, str_t request_id, str_t transaction_id)
{
    int rc;
    if ((rc = audit_enc_u32(b, format)) || (rc = audit_enc_i64(b, seq)) ||
        (rc = audit_enc_i64(b, time_ms)) || (rc = audit_enc_str(b, environment)) ||
        (rc = audit_enc_str(b, org_cvr)) || (rc = audit_enc_str(b, system_id)) ||
        (rc = audit_enc_str(b, agreement_id)) || (rc = audit_enc_i64(b, agreement_version)) ||
        (rc = audit_enc_str(b, service)) || (rc = audit_enc_str(b, request_id)) ||
        (rc = audit_enc_str(b, transaction_id)))
        return rc;
    return 0;
}

int audit_enc_tail(buf_t *b, int64_t record_count, str_t outcome, str_t reason)
{
    int rc;
    if ((rc = audit_enc_i64(b, record_count)) || (rc = audit_enc_str(b, outcome)) ||
        (rc = audit_enc_str(b, reason)))
        return rc;
    return 0;
}

int audit_enc_json_list(buf_t *b, str_t text)
{
    json_t *a = json_parse(text.ptr, text.len, 0, NULL, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return DUPLA_EINVAL;
    }
    size_t i, n = json_array_size(a);
    json_t *v;
    int rc = audit_enc_u32(b, (uint32_t)n);
    json_array_foreach(a, i, v)
    {
        if (rc)
            break;
        if (!json_is_string(v)) {
            rc = DUPLA_EINVAL;
            break;
        }
        rc = audit_enc_str(b, (str_t){json_string_value(v), json_string_length(v)});
    }
    json_decref(a);
    return rc ? DUPLA_EINVAL : 0;
}

static int enc_list(buf_t *b, const str_t *items, size_t n)
{
    int rc = audit_enc_u32(b, (uint32_t)n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = audit_enc_str(b, items[i]);
    return rc;
}

int audit_enc_version(buf_t *b, uint32_t delivery, str_t kind, str_t subject, str_t period,
                      int64_t version)
{
    int rc;
    if ((rc = audit_enc_u32(b, delivery)) || (rc = audit_enc_str(b, kind)) ||
        (rc = audit_enc_str(b, subject)) || (rc = audit_enc_str(b, period)) ||
        (rc = audit_enc_i64(b, version)))
        return rc;
    return 0;
}

int audit_canonical_encode(const struct audit_entry *e, int64_t seq, int64_t time_ms,
                           str_t environment, buf_t *out)
{
    bool v3 = e->supplier_cvr.len || e->on_behalf_se.len;
    int rc = audit_enc_head(out, v3 ? AUDIT_CANONICAL_V3 : AUDIT_CANONICAL_V2, seq, time_ms,
                            environment, e->org_cvr, e->system_id, e->agreement_id,
                            e->agreement_version, e->service, e->request_id, e->transaction_id);
    if (rc || (rc = audit_enc_u32(out, (uint32_t)e->n_subjects)))
        return rc;
    for (size_t i = 0; i < e->n_subjects; i++) {
        if ((rc =
                 audit_enc_str(out, str_from_cstr(audit_subject_kind_name(e->subjects[i].kind)))) ||
            (rc = audit_enc_str(out, e->subjects[i].id)))
            return rc;
    }
    if ((rc = enc_list(out, e->periods, e->n_periods)) ||
        (rc = enc_list(out, e->fields, e->n_fields)))
        return rc;
    if ((rc = audit_enc_tail(out, e->record_count, str_from_cstr(audit_outcome_name(e->outcome)),
                             e->reason)) ||
        (rc = audit_enc_str(out, e->case_ref)) ||
        (rc = enc_list(out, e->deliveries, e->n_deliveries)) ||
        (rc = audit_enc_u32(out, (uint32_t)e->n_versions)))
        return rc;
    for (size_t i = 0; i < e->n_versions; i++) {
        const struct audit_version *v = &e->versions[i];
        if ((rc = audit_enc_version(out, v->delivery,
                                    str_from_cstr(audit_subject_kind_name(v->kind)), v->subject,
                                    v->period, v->version)))
            return rc;
    }
    if (v3 &&
        ((rc = audit_enc_str(out, e->supplier_cvr)) || (rc = audit_enc_str(out, e->on_behalf_se))))
        return rc;
    return 0;
}

bool audit_case_ref_valid(str_t s)
{
    if (s.len == 0 || s.len > AUDIT_CASE_REF_MAX || s.ptr[0] == ' ' || s.ptr[s.len - 1] == ' ')
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr(" ._/:#()+-", c)))
            return false;
    }
    return true;
}

/* ---- what version 2 adds, checked before an entry is queued ---- */

static int check_short(str_t s, size_t max, const char *name, size_t i, err_t *err)
{
    if (s.len > max)
        return err_param(err, DUPLA_ELIMIT, name, "%s %zu is longer than %zu bytes", name, i, max);
    if ((s.len && !s.ptr) || !audit_text_valid(s))
        return err_param(err, DUPLA_EINVAL, name, "%s %zu is not valid UTF-8", name, i);
    return 0;
}

/* A CVR or SE number as version 3 records it: "" or 8 digits. */
static bool number_ok(str_t s)
{
    if (s.len == 0)
        return true;
    if (s.len != 8 || !s.ptr)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

int audit_check_v2(const struct audit_entry *e, err_t *err)
{
    if (!number_ok(e->supplier_cvr))
        return err_param(err, DUPLA_EINVAL, "supplier_cvr", "a supplier CVR is 8 digits");
    if (!number_ok(e->on_behalf_se))
        return err_param(err, DUPLA_EINVAL, "on_behalf_se", "an on-behalf SE number is 8 digits");
    if (e->case_ref.len && !audit_case_ref_valid(e->case_ref))
        return err_param(err, DUPLA_EINVAL, "case_ref",
                         "a case reference is 1 to %d characters of A-Z a-z 0-9 space . _ / : # "
                         "( ) + -",
                         AUDIT_CASE_REF_MAX);
    if (e->n_deliveries > AUDIT_DELIVERIES_MAX)
        return err_param(err, DUPLA_ELIMIT, "deliveries", "more than %d deliveries",
                         AUDIT_DELIVERIES_MAX);
    if (e->n_versions > AUDIT_VERSIONS_MAX)
        return err_param(err, DUPLA_ELIMIT, "versions", "more than %d versions",
                         AUDIT_VERSIONS_MAX);
    if ((e->n_deliveries && !e->deliveries) || (e->n_versions && !e->versions))
        return err_param(err, DUPLA_EINVAL, "versions", "versions: no list given");
    int rc;
    for (size_t i = 0; i < e->n_deliveries; i++) {
        if (e->deliveries[i].len == 0)
            return err_param(err, DUPLA_EINVAL, "deliveries", "delivery %zu has no id", i);
        if ((rc = check_short(e->deliveries[i], AUDIT_TEXT_MAX, "deliveries", i, err)))
            return rc;
    }
    for (size_t i = 0; i < e->n_versions; i++) {
        const struct audit_version *v = &e->versions[i];
        if (v->delivery >= e->n_deliveries)
            return err_param(err, DUPLA_EINVAL, "versions", "version %zu: no such delivery", i);
        if (v->kind != AUDIT_SUBJECT_CPR && v->kind != AUDIT_SUBJECT_CVR &&
            v->kind != AUDIT_SUBJECT_SE)
            return err_param(err, DUPLA_EINVAL, "versions", "version %zu: unknown kind", i);
        if (v->subject.len == 0 || v->version < 1)
            return err_param(err, DUPLA_EINVAL, "versions",
                             "version %zu: a subject and a version >= 1 are needed", i);
        if ((rc = check_short(v->subject, AUDIT_VERSION_TEXT_MAX, "versions", i, err)) ||
            (rc = check_short(v->period, AUDIT_VERSION_TEXT_MAX, "versions", i, err)))
            return rc;
    }
    return 0;
}

/* ---- entries read back from the store, in canonical form ---- */

static int child_step(struct audit_child *ch, err_t *err)
{
    int st = store_step(ch->s, err);
    if (st < 0)
        return st;
    ch->row = st == STORE_ROW;
    if (ch->row)
        ch->seq = store_col_int64(ch->s, 0);
    return 0;
}

static int child_open(store_conn_t *c, const char *sql, int64_t from, int64_t to, bool stream,
                      struct audit_child *ch, err_t *err)
{
    int rc = store_prepare(c, sql, &ch->s, err);
    if (rc)
        return rc;
    store_bind_int64(ch->s, 1, from);
    store_bind_int64(ch->s, 2, to);
    if (stream)
        store_stmt_stream(ch->s);
    if ((rc = child_step(ch, err))) {
        store_stmt_done(ch->s);
        ch->s = NULL;
    }
    return rc;
}

int audit_stored_open(store_conn_t *c, int schema, int64_t from, int64_t to, bool stream,
                      struct audit_stored *r, err_t *err)
{
    memset(r, 0, sizeof *r);
    r->v2 = schema >= AUDIT_SCHEMA_V2;
    r->v3 = schema >= AUDIT_SCHEMA_V3;
    int rc = child_open(c,
                        "SELECT seq, kind, subject FROM audit_entry_subject "
                        "WHERE seq >= ? AND seq <= ? ORDER BY seq, position",
                        from, to, stream, &r->subj, err);
    if (!rc && r->v2)
        rc = child_open(c,
                        "SELECT seq, delivery_id FROM audit_entry_delivery "
                        "WHERE seq >= ? AND seq <= ? ORDER BY seq, position",
                        from, to, stream, &r->deliv, err);
    if (!rc && r->v2)
        rc = child_open(c,
                        "SELECT seq, delivery, kind, subject, period, version "
                        "FROM audit_entry_version WHERE seq >= ? AND seq <= ? "
                        "ORDER BY seq, position",
                        from, to, stream, &r->vers, err);
    if (rc)
        audit_stored_close(r);
    return rc;
}

void audit_stored_close(struct audit_stored *r)
{
    struct audit_child *all[] = {&r->subj, &r->deliv, &r->vers};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i]->s)
            store_stmt_done(all[i]->s);
        all[i]->s = NULL;
        all[i]->row = false;
    }
}

bool audit_stored_leftover(const struct audit_stored *r, int64_t *seq)
{
    const struct audit_child *all[] = {&r->subj, &r->deliv, &r->vers};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->s && all[i]->row) {
            *seq = all[i]->seq;
            return true;
        }
    return false;
}

/* Appends the child rows of entry seq as a counted list (each row's columns
 * from 1 on, by enc); rows of a seq below it belong to no entry and are
 * skipped (the entries around them fail on their own). *count: how many. */
static int child_list(struct audit_child *ch, int64_t seq, buf_t *b,
                      int (*enc)(store_stmt_t *s, buf_t *b), uint32_t *count, err_t *err)
{
    size_t at = b->len;
    uint32_t n = 0;
    int rc = audit_enc_u32(b, 0);
    while (!rc && ch->s && ch->row && ch->seq <= seq) {
        if (ch->seq == seq) {
            if ((rc = enc(ch->s, b)))
                return rc;
            n++;
        }
        rc = child_step(ch, err);
    }
    if (!rc)
        audit_enc_patch_u32(b, at, n);
    *count = n;
    return rc;
}

static int enc_subject_row(store_stmt_t *s, buf_t *b)
{
    int rc = audit_enc_str(b, store_col_text(s, 1));
    return rc ? rc : audit_enc_str(b, store_col_text(s, 2));
}

static int enc_delivery_row(store_stmt_t *s, buf_t *b)
{
    return audit_enc_str(b, store_col_text(s, 1));
}

static int enc_version_row(store_stmt_t *s, buf_t *b)
{
    /* a stored place out of range encodes as it wraps: the hash then fails */
    return audit_enc_version(b, (uint32_t)store_col_int64(s, 1), store_col_text(s, 2),
                             store_col_text(s, 3), store_col_text(s, 4), store_col_int64(s, 5));
}

int audit_stored_encode(struct audit_stored *r, store_stmt_t *s, buf_t *canon, bool *malformed,
                        err_t *err)
{
    *malformed = false;
    int64_t seq = store_col_int64(s, AUDIT_COL_SEQ);
    int64_t format = r->v2 ? store_col_int64(s, AUDIT_COL_FORMAT) : AUDIT_CANONICAL_V1;
    if (format != AUDIT_CANONICAL_V1 && format != AUDIT_CANONICAL_V2 &&
        (format != AUDIT_CANONICAL_V3 || !r->v3)) {
        *malformed = true;
        return 0;
    }
    uint32_t n;
    int rc = audit_enc_head(
        canon, (uint32_t)format, seq, store_col_int64(s, AUDIT_COL_TIME),
        store_col_text(s, AUDIT_COL_ENV), store_col_text(s, AUDIT_COL_ORG),
        store_col_text(s, AUDIT_COL_SYSTEM), store_col_text(s, AUDIT_COL_AGREEMENT),
        store_col_int64(s, AUDIT_COL_AGREEMENT_VERSION), store_col_text(s, AUDIT_COL_SERVICE),
        store_col_text(s, AUDIT_COL_REQUEST), store_col_text(s, AUDIT_COL_TRANSACTION));
    if (rc || (rc = child_list(&r->subj, seq, canon, enc_subject_row, &n, err)))
        return rc;
    if (audit_enc_json_list(canon, store_col_text(s, AUDIT_COL_PERIODS)) ||
        audit_enc_json_list(canon, store_col_text(s, AUDIT_COL_FIELDS))) {
        *malformed = true;
        return 0;
    }
    if ((rc = audit_enc_tail(canon, store_col_int64(s, AUDIT_COL_RECORDS),
                             store_col_text(s, AUDIT_COL_OUTCOME),
                             store_col_text(s, AUDIT_COL_REASON))))
        return rc;
    if (!r->v2)
        return 0;
    /* A version 1 entry has no case reference, deliveries or versions: its
     * rows are encoded into a scratch tail that must stay empty. */
    size_t end = canon->len;
    uint32_t nd = 0, nv = 0;
    if ((rc = audit_enc_str(canon, store_col_text(s, AUDIT_COL_CASE_REF))) ||
        (rc = child_list(&r->deliv, seq, canon, enc_delivery_row, &nd, err)) ||
        (rc = child_list(&r->vers, seq, canon, enc_version_row, &nv, err)))
        return rc;
    if (format == AUDIT_CANONICAL_V1) {
        if (nd || nv || store_col_text(s, AUDIT_COL_CASE_REF).len)
            *malformed = true;
        canon->len = end;
    }
    /* Version 3's two fields; an older entry must have neither. */
    str_t supplier = r->v3 ? store_col_text(s, AUDIT_COL_SUPPLIER) : STR("");
    str_t obo = r->v3 ? store_col_text(s, AUDIT_COL_ON_BEHALF) : STR("");
    if (format == AUDIT_CANONICAL_V3) {
        if ((rc = audit_enc_str(canon, supplier)) || (rc = audit_enc_str(canon, obo)))
            return rc;
        if (!supplier.len && !obo.len)
            *malformed = true;
    } else if (supplier.len || obo.len) {
        *malformed = true;
    }
    return 0;
}

int audit_chain_hash(const unsigned char prev[AUDIT_HASH_LEN], str_t canonical,
                     unsigned char hash[AUDIT_HASH_LEN])
{
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return DUPLA_ECRYPTO;
    if (gnutls_hash(h, prev, AUDIT_HASH_LEN) < 0 ||
        gnutls_hash(h, canonical.ptr, canonical.len) < 0) {
        gnutls_hash_deinit(h, NULL);
        return DUPLA_ECRYPTO;
    }
    gnutls_hash_deinit(h, hash);
    return 0;
}

bool audit_text_valid(str_t s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        unsigned c = p[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (s.len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

const char *audit_subject_kind_name(enum audit_subject_kind k)
{
    switch (k) {
    case AUDIT_SUBJECT_CPR:
        return "cpr";
    case AUDIT_SUBJECT_CVR:
        return "cvr";
    case AUDIT_SUBJECT_SE:
        return "se";
    }
    return "?";
}

int audit_subject_kind_parse(str_t s, enum audit_subject_kind *out)
{
    if (str_eq_cstr(s, "cpr"))
        *out = AUDIT_SUBJECT_CPR;
    else if (str_eq_cstr(s, "cvr"))
        *out = AUDIT_SUBJECT_CVR;
    else if (str_eq_cstr(s, "se"))
        *out = AUDIT_SUBJECT_SE;
    else
        return DUPLA_EINVAL;
    return 0;
}

const char *audit_outcome_name(enum audit_outcome o)
{
    return o == AUDIT_REFUSED ? "refused" : "disclosed";
}

int audit_outcome_parse(str_t s, enum audit_outcome *out)
{
    if (str_eq_cstr(s, "disclosed"))
        *out = AUDIT_DISCLOSED;
    else if (str_eq_cstr(s, "refused"))
        *out = AUDIT_REFUSED;
    else
        return DUPLA_EINVAL;
    return 0;
}

/* ---- reading an encoding back (the relay: relay.c) ---- */

struct reader {
    const unsigned char *p;
    size_t n;
    bool bad; /* ran past the end, or a count beyond its limit */
};

static uint32_t rd_u32(struct reader *r)
{
    if (r->bad || r->n < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
                 (uint32_t)r->p[3];
    r->p += 4;
    r->n -= 4;
    return v;
}

static int64_t rd_i64(struct reader *r)
{
    if (r->bad || r->n < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | r->p[i];
    r->p += 8;
    r->n -= 8;
    return (int64_t)u;
}

static str_t rd_str(struct reader *r)
{
    uint32_t len = rd_u32(r);
    if (r->bad || len > r->n) {
        r->bad = true;
        return (str_t){"", 0};
    }
    str_t s = {(const char *)r->p, len};
    r->p += len;
    r->n -= len;
    return s;
}

/* A count of items each at least min bytes long, within max, as an array
 * of size bytes each (NULL for none; r->bad when it cannot be). */
static void *rd_array(struct reader *r, size_t max, size_t min, size_t size, size_t *n)
{
    uint32_t c = rd_u32(r);
    *n = 0;
    if (r->bad || c > max || c > r->n / min) {
        r->bad = true;
        return NULL;
    }
    if (c == 0)
        return NULL;
    void *a = calloc(c, size);
    if (!a)
        r->bad = true;
    else
        *n = c;
    return a;
}

static str_t *rd_list(struct reader *r, size_t max, size_t *n)
{
    str_t *v = rd_array(r, max, 4, sizeof *v, n);
    for (size_t i = 0; i < *n; i++)
        v[i] = rd_str(r);
    return v;
}

static enum audit_subject_kind rd_kind(struct reader *r)
{
    enum audit_subject_kind k = AUDIT_SUBJECT_CPR;
    if (audit_subject_kind_parse(rd_str(r), &k))
        r->bad = true;
    return k;
}

int audit_canonical_decode(str_t canon, struct audit_decoded *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    struct reader r = {(const unsigned char *)canon.ptr, canon.len, false};
    struct audit_entry *e = &out->e;
    uint32_t format = rd_u32(&r);
    if (format != AUDIT_CANONICAL_V2 && format != AUDIT_CANONICAL_V3)
        return err_param(err, DUPLA_EINVAL, "entry", "an entry in canonical version %u",
                         (unsigned)format);
    rd_i64(&r); /* seq and time: the sequencer's to give */
    rd_i64(&r);
    out->environment = rd_str(&r);
    e->org_cvr = rd_str(&r);
    e->system_id = rd_str(&r);
    e->agreement_id = rd_str(&r);
    e->agreement_version = rd_i64(&r);
    e->service = rd_str(&r);
    e->request_id = rd_str(&r);
    e->transaction_id = rd_str(&r);
    out->subjects = rd_array(&r, AUDIT_SUBJECTS_MAX, 8, sizeof *out->subjects, &e->n_subjects);
    for (size_t i = 0; i < e->n_subjects; i++) {
        out->subjects[i].kind = rd_kind(&r);
        out->subjects[i].id = rd_str(&r);
    }
    e->subjects = out->subjects;
    e->periods = out->periods = rd_list(&r, AUDIT_PERIODS_MAX, &e->n_periods);
    e->fields = out->fields = rd_list(&r, AUDIT_FIELDS_MAX, &e->n_fields);
    e->record_count = rd_i64(&r);
    if (audit_outcome_parse(rd_str(&r), &e->outcome))
        r.bad = true;
    e->reason = rd_str(&r);
    e->case_ref = rd_str(&r);
    e->deliveries = out->deliveries = rd_list(&r, AUDIT_DELIVERIES_MAX, &e->n_deliveries);
    out->versions = rd_array(&r, AUDIT_VERSIONS_MAX, 32, sizeof *out->versions, &e->n_versions);
    for (size_t i = 0; i < e->n_versions; i++) {
        struct audit_version *v = &out->versions[i];
        v->delivery = rd_u32(&r);
        v->kind = rd_kind(&r);
        v->subject = rd_str(&r);
        v->period = rd_str(&r);
        v->version = rd_i64(&r);
    }
    e->versions = out->versions;
    if (format == AUDIT_CANONICAL_V3) {
        e->supplier_cvr = rd_str(&r);
        e->on_behalf_se = rd_str(&r);
    }
    if (r.bad || r.n) {
        audit_decoded_free(out);
        if (r.bad)
            return err_param(err, DUPLA_EINVAL, "entry",
                             "a malformed entry (truncated, or a list beyond its limit)");
        return err_param(err, DUPLA_EINVAL, "entry", "an entry with %zu bytes after its end", r.n);
    }
    return 0;
}

void audit_decoded_free(struct audit_decoded *d)
{
    free(d->subjects);
    free(d->periods);
    free(d->fields);
    free(d->deliveries);
    free(d->versions);
    memset(d, 0, sizeof *d);
}
