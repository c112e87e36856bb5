/*
 * fuzz_canonical.c: the disclosure log's canonical entry encoding
 * (audit/canonical.c: audit_canonical_encode and its primitives) decodes
 * to what was encoded. The decoder is written here from the layout audit.h
 * states (big-endian u32 and i64, strings and lists with a u32 count), as
 * a verifier outside the writer would. The input makes an entry: its first
 * 24 bytes the integers (seq, time, agreement version, record count), the
 * rest texts separated by 0x1f (org, system, agreement, service, request
 * id, transaction id, reason), then subjects, periods and fields separated
 * by 0x1e. Properties: the decoder reads every field back equal and ends
 * exactly at the end (so two different entries never share an encoding);
 * a list given as JSON (audit_enc_json_list) encodes the same as the list.
 */
#include <jansson.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/internal.h"
#include "core/buf.h"
#include "fuzz.h"

#define FUZZ_CANON_MAX   (1u << 20)
#define FUZZ_CANON_ITEMS 64

struct reader {
    str_t in;
    size_t pos;
};

static uint64_t get_be(struct reader *r, int n)
{
    FUZZ_CHECK(r->in.len - r->pos >= (size_t)n);
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)r->in.ptr[r->pos++];
    return v;
}

static str_t get_str(struct reader *r)
{
    size_t n = (size_t)get_be(r, 4);
    FUZZ_CHECK(r->in.len - r->pos >= n);
    str_t s = str_sub(r->in, r->pos, n);
    r->pos += n;
    return s;
}

static void expect_str(struct reader *r, str_t want)
{
    FUZZ_CHECK(str_eq(get_str(r), want));
}

static void expect_i64(struct reader *r, int64_t want)
{
    FUZZ_CHECK((int64_t)get_be(r, 8) == want);
}

static void expect_list(struct reader *r, const str_t *items, size_t n)
{
    FUZZ_CHECK(get_be(r, 4) == n);
    for (size_t i = 0; i < n; i++)
        expect_str(r, items[i]);
}

static int64_t take_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static size_t split_upto(str_t s, char sep, str_t *out, size_t max)
{
    size_t n = 0;
    while (s.len && n < max)
        out[n++] = fuzz_take(&s, sep);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 24)
        return 0;
    int64_t seq = take_i64(data), time_ms = take_i64(data + 8);
    int64_t version = take_i64(data + 16) >> 8, count = (int64_t)(data[23] * 1000u);
    str_t rest = fuzz_str(data + 24, size - 24);
    str_t head = fuzz_take(&rest, '\x1e');
    str_t t[8] = {{"", 0}};
    split_upto(head, '\x1f', t, 8);
    str_t subj_text = fuzz_take(&rest, '\x1e');
    str_t periods_text = fuzz_take(&rest, '\x1e');
    str_t fields_text = rest;
    str_t ids[FUZZ_CANON_ITEMS], periods[FUZZ_CANON_ITEMS], fields[FUZZ_CANON_ITEMS];
    struct audit_subject subjects[FUZZ_CANON_ITEMS];
    size_t n_subj = split_upto(subj_text, '\x1f', ids, FUZZ_CANON_ITEMS);
    for (size_t i = 0; i < n_subj; i++) {
        subjects[i].kind = (enum audit_subject_kind)(i % 3);
        subjects[i].id = ids[i];
    }
    size_t n_periods = split_upto(periods_text, '\x1f', periods, FUZZ_CANON_ITEMS);
    size_t n_fields = split_upto(fields_text, '\x1f', fields, FUZZ_CANON_ITEMS);
    struct audit_entry e = {
        .org_cvr = t[0],
        .system_id = t[1],
        .agreement_id = t[2],
        .agreement_version = version,
        .service = t[3],
        .request_id = t[4],
        .transaction_id = t[5],
        .subjects = subjects,
        .n_subjects = n_subj,
        .periods = periods,
        .n_periods = n_periods,
        .fields = fields,
        .n_fields = n_fields,
        .record_count = count,
        .outcome = (data[23] & 1) ? AUDIT_REFUSED : AUDIT_DISCLOSED,
        .reason = t[6],
    };
    str_t env = t[7].len ? t[7] : STR("test");
    buf_t out;
    buf_init(&out, FUZZ_CANON_MAX);
    FUZZ_CHECK(audit_canonical_encode(&e, seq, time_ms, env, &out) == 0);
    struct reader r = {buf_str(&out), 0};
    uint32_t v = (uint32_t)get_be(&r, 4);
    expect_i64(&r, seq);
    expect_i64(&r, time_ms);
    expect_str(&r, env);
    expect_str(&r, e.org_cvr);
    expect_str(&r, e.system_id);
    expect_str(&r, e.agreement_id);
    expect_i64(&r, e.agreement_version);
    expect_str(&r, e.service);
    expect_str(&r, e.request_id);
    expect_str(&r, e.transaction_id);
    /* The rest as version 1 lays it out; a later version's entry is
     * checked this far (its own decoder belongs beside it). */
    if (v == AUDIT_CANONICAL_V1) {
        FUZZ_CHECK(get_be(&r, 4) == n_subj);
        for (size_t i = 0; i < n_subj; i++) {
            expect_str(&r, str_from_cstr(audit_subject_kind_name(subjects[i].kind)));
            expect_str(&r, subjects[i].id);
        }
        expect_list(&r, periods, n_periods);
        expect_list(&r, fields, n_fields);
        expect_i64(&r, count);
        expect_str(&r, str_from_cstr(audit_outcome_name(e.outcome)));
        expect_str(&r, e.reason);
        FUZZ_CHECK(r.pos == r.in.len);
    }
    /* A JSON list of the fields encodes as the list does (texts in the log
     * are UTF-8 without NUL: audit_text_valid). */
    bool texts = true;
    for (size_t i = 0; i < n_fields; i++)
        texts = texts && audit_text_valid(fields[i]);
    json_t *a = json_array();
    for (size_t i = 0; texts && i < n_fields; i++)
        texts = json_array_append_new(a, json_stringn(fields[i].ptr, fields[i].len)) == 0;
    char *text = texts ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (text) {
        buf_t x, y;
        buf_init(&x, FUZZ_CANON_MAX);
        buf_init(&y, FUZZ_CANON_MAX);
        FUZZ_CHECK(audit_enc_json_list(&x, str_from_cstr(text)) == 0);
        FUZZ_CHECK(audit_enc_u32(&y, (uint32_t)n_fields) == 0);
        for (size_t i = 0; i < n_fields; i++)
            FUZZ_CHECK(audit_enc_str(&y, fields[i]) == 0);
        FUZZ_CHECK(str_eq(buf_str(&x), buf_str(&y)));
        buf_free(&x);
        buf_free(&y);
        free(text);
    }
    buf_free(&out);
    return 0;
}
