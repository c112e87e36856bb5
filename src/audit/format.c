/*
 * format.c: entries as CSV and JSON, for exports and the HTTP answers.
 *
 * Both writers append to a bounded buf_t, one entry at a time, so that a
 * caller can stream any number of pages without holding them all.
 */
#include <inttypes.h>
#include <string.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/encode.h"

/* ---- CSV ---- */

static int csv_cstr(buf_t *b, const char *s)
{
    return buf_append_csv_cell(b, str_from_cstr(s));
}

/* A list joined with ';' into one cell (built in tmp, then quoted). */
static int csv_list(buf_t *b, const str_t *v, size_t n)
{
    buf_t tmp;
    buf_init(&tmp, b->max);
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = buf_append(&tmp, ";", 1);
        if (!rc)
            rc = buf_append_str(&tmp, v[i]);
    }
    if (!rc)
        rc = buf_append_csv_cell(b, buf_str(&tmp));
    buf_free(&tmp);
    return rc;
}

static int csv_subjects(buf_t *b, const struct audit_subject *v, size_t n)
{
    buf_t tmp;
    buf_init(&tmp, b->max);
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = buf_printf(&tmp, "%s%s:%.*s", i ? ";" : "", audit_subject_kind_name(v[i].kind),
                        STR_FMT(v[i].id));
    if (!rc)
        rc = buf_append_csv_cell(b, buf_str(&tmp));
    buf_free(&tmp);
    return rc;
}

int audit_csv_header(buf_t *out)
{
    return buf_append_cstr(out, "seq,time,environment,organisation,system,agreement,"
                                "agreement_version,purpose,legal_basis,service,request_id,"
                                "transaction_id,case_reference,subjects,periods,fields,records,"
                                "outcome,reason,entry_hash,supplier,on_behalf_of_se\r\n");
}

int audit_csv_header_da(buf_t *out)
{
    return buf_append_cstr(
        out, "Løbenummer,Tidspunkt (dansk tid),Miljø,Organisation (CVR),System,Aftale,"
             "Aftaleversion,Formål,Retsgrundlag,Tjeneste,Request-ID,"
             "Transaktions-ID,Sagsreference,Personer og virksomheder,Perioder,Felter,"
             "Poster,Udfald,Årsag,Kædehash,Leverandør (CVR),På vegne af (SE)\r\n");
}

static int row_csv(const struct audit_row *r, buf_t *out, bool danish_time)
{
    char when[32], hash[AUDIT_HASH_HEX];
    if (danish_time)
        clock_format_dk_iso(r->time_ms, when, sizeof when);
    else
        clock_format_ms(r->time_ms, when, sizeof when);
    hex_encode(r->entry_hash, AUDIT_HASH_LEN, hash);
    int rc;
    if ((rc = buf_printf(out, "%" PRId64 ",%s,", r->seq, when)) ||
        (rc = csv_cstr(out, r->environment)) || (rc = buf_append(out, ",", 1)) ||
        (rc = csv_cstr(out, r->org_cvr)) || (rc = buf_append(out, ",", 1)) ||
        (rc = csv_cstr(out, r->system_id)) || (rc = buf_append(out, ",", 1)) ||
        (rc = csv_cstr(out, r->agreement_id)) ||
        (rc = buf_printf(out, ",%" PRId64 ",", r->agreement_version)) ||
        (rc = csv_cstr(out, r->purpose ? r->purpose : "")) || (rc = buf_append(out, ",", 1)) ||
        (rc = csv_cstr(out, r->legal_basis ? r->legal_basis : "")) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_cstr(out, r->service)) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_cstr(out, r->request_id)) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_cstr(out, r->transaction_id)) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_cstr(out, r->case_ref ? r->case_ref : "")) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_subjects(out, r->subjects, r->n_subjects)) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_list(out, r->periods, r->n_periods)) ||
        (rc = buf_append(out, ",", 1)) || (rc = csv_list(out, r->fields, r->n_fields)) ||
        (rc = buf_printf(out, ",%" PRId64 ",%s,", r->record_count,
                         audit_outcome_name(r->outcome))) ||
        (rc = csv_cstr(out, r->reason)) || (rc = buf_printf(out, ",%s,", hash)) ||
        (rc = csv_cstr(out, r->supplier_cvr ? r->supplier_cvr : "")) ||
        (rc = buf_append(out, ",", 1)) ||
        (rc = csv_cstr(out, r->on_behalf_se ? r->on_behalf_se : "")) ||
        (rc = buf_append_cstr(out, "\r\n")))
        return rc;
    return 0;
}

int audit_row_csv(const struct audit_row *r, buf_t *out)
{
    return row_csv(r, out, false);
}

int audit_row_csv_da(const struct audit_row *r, buf_t *out)
{
    return row_csv(r, out, true);
}

/* ---- JSON ---- */

static int json_key_str(buf_t *b, const char *key, const char *v)
{
    int rc = buf_printf(b, "\"%s\":", key);
    if (rc)
        return rc;
    if (!v)
        return buf_append_cstr(b, "null");
    return buf_append_json_string(b, str_from_cstr(v));
}

static int json_list(buf_t *b, const str_t *v, size_t n)
{
    int rc = buf_append(b, "[", 1);
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = buf_append(b, ",", 1);
        if (!rc)
            rc = buf_append_json_string(b, v[i]);
    }
    return rc ? rc : buf_append(b, "]", 1);
}

int audit_row_json(const struct audit_row *r, buf_t *out)
{
    char when[32], hash[AUDIT_HASH_HEX];
    clock_format_ms(r->time_ms, when, sizeof when);
    hex_encode(r->entry_hash, AUDIT_HASH_LEN, hash);
    int rc;
    if ((rc = buf_printf(out, "{\"seq\":%" PRId64 ",\"time\":\"%s\",", r->seq, when)) ||
        (rc = json_key_str(out, "environment", r->environment)) || (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "organisation", r->org_cvr)) || (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "system", r->system_id)) || (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "supplier",
                           r->supplier_cvr && r->supplier_cvr[0] ? r->supplier_cvr : NULL)) ||
        (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "on_behalf_of_se",
                           r->on_behalf_se && r->on_behalf_se[0] ? r->on_behalf_se : NULL)) ||
        (rc = buf_append_cstr(out, ",\"agreement\":{")) ||
        (rc = json_key_str(out, "id", r->agreement_id)) ||
        (rc = buf_printf(out, ",\"version\":%" PRId64 ",", r->agreement_version)) ||
        (rc = json_key_str(out, "purpose", r->purpose)) || (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "legal_basis", r->legal_basis)) ||
        (rc = buf_append_cstr(out, "},")) || (rc = json_key_str(out, "service", r->service)) ||
        (rc = buf_append(out, ",", 1)) || (rc = json_key_str(out, "request_id", r->request_id)) ||
        (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "transaction_id", r->transaction_id)) ||
        (rc = buf_append(out, ",", 1)) ||
        (rc = json_key_str(out, "case_reference",
                           r->case_ref && r->case_ref[0] ? r->case_ref : NULL)) ||
        (rc = buf_append_cstr(out, ",\"subjects\":[")))
        return rc;
    for (size_t i = 0; i < r->n_subjects; i++) {
        if ((rc = buf_printf(out, "%s{\"type\":\"%s\",\"number\":", i ? "," : "",
                             audit_subject_kind_name(r->subjects[i].kind))) ||
            (rc = buf_append_json_string(out, r->subjects[i].id)) || (rc = buf_append(out, "}", 1)))
            return rc;
    }
    if ((rc = buf_append_cstr(out, "],\"periods\":")) ||
        (rc = json_list(out, r->periods, r->n_periods)) ||
        (rc = buf_append_cstr(out, ",\"fields\":")) ||
        (rc = json_list(out, r->fields, r->n_fields)) ||
        (rc = buf_printf(out, ",\"records\":%" PRId64 ",\"outcome\":\"%s\",", r->record_count,
                         audit_outcome_name(r->outcome))) ||
        (rc = json_key_str(out, "reason", r->reason[0] ? r->reason : NULL)) ||
        (rc = buf_printf(out, ",\"entry_hash\":\"%s\"}", hash)))
        return rc;
    return 0;
}

int audit_page_json(const struct audit_page *p, buf_t *out)
{
    int rc = buf_append_cstr(out, "{\"data\":[");
    for (size_t i = 0; !rc && i < p->n; i++) {
        if (i)
            rc = buf_append(out, ",", 1);
        if (!rc)
            rc = audit_row_json(&p->rows[i], out);
    }
    if (rc)
        return rc;
    if (p->next)
        return buf_printf(out, "],\"next\":%" PRId64 "}", p->next);
    return buf_append_cstr(out, "],\"next\":null}");
}
