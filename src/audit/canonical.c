/*
 * canonical.c: the canonical encoding of an entry (see audit.h) and the hash
 * chain over it. The writer encodes entries from what the data path handed
 * it; verify re-encodes them from the stored rows with the same primitives,
 * so the two cannot drift apart field by field.
 */
#include <gnutls/crypto.h>
#include <jansson.h>
#include <string.h>

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

int audit_enc_head(buf_t *b, int64_t seq, int64_t time_ms, str_t environment, str_t org_cvr,
                   str_t system_id, str_t agreement_id, int64_t agreement_version, str_t service,
                   str_t request_id, str_t transaction_id)
{
    int rc;
    if ((rc = audit_enc_u32(b, AUDIT_CANONICAL_V1)) || (rc = audit_enc_i64(b, seq)) ||
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
    json_t *a = json_loadb(text.ptr, text.len, 0, NULL);
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

int audit_canonical_encode(const struct audit_entry *e, int64_t seq, int64_t time_ms,
                           str_t environment, buf_t *out)
{
    int rc =
        audit_enc_head(out, seq, time_ms, environment, e->org_cvr, e->system_id, e->agreement_id,
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
    return audit_enc_tail(out, e->record_count, str_from_cstr(audit_outcome_name(e->outcome)),
                          e->reason);
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
