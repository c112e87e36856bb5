/*
 * change.c: a change to a synthetic subject that makes a new version, the
 * way a source system would deliver it (the test-data pages and
 * POST /api/testdata/changes).
 *
 * A change starts from the subject's current stored record, applies the
 * generator's rules for the same kind of later version (a re-issued annual
 * assessment: more deductions found, the taxes recomputed by
 * testdata_compute_tax with the municipality's rates; a corrected VAT
 * return: output VAT changed, the duty recomputed; a status change: the
 * open status ends the day before and the new one starts today) and
 * ingests the result as a synthetic delivery through ingest_delivery, so
 * the new version, its change row and therefore its events are exactly
 * those of a real delivery. Working from the stored record (not from a
 * seed) makes it work for every synthetic subject, whatever options made
 * it. The drawn amounts come from the generator's PRNG seeded by the
 * subject, the period and the version: the same store gives the same change.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "dataset/dataset.h"
#include "testdata/internal.h"
#include "testdata/testdata.h"

#define S_CHANGE        100 /* the PRNG stream kind of changes (the generator's are below) */
#define CHANGE_LINE_MAX (64 * 1024)
#define STATUS_SERVICE  "Virksomhedsstatus"
#define ASSESS_SERVICE  "Aarsopgoerelse"
#define VAT_SERVICE     "Momsangivelse"

const char *testdata_change_name(enum testdata_change_kind k)
{
    return k == TESTDATA_REASSESSMENT     ? "reassessment"
           : k == TESTDATA_VAT_CORRECTION ? "vat_correction"
           : k == TESTDATA_STATUS_CHANGE  ? "status_change"
                                          : "?";
}

/* The current records of svc about subject (kind k) whose period starts
 * on period_start (DATASET_DAY_MIN: any), as JSON objects without the
 * platform's fields, appended to out. *max_version the highest version. */
static int current_json(store_t *st, const struct catalog_service *svc, enum catalog_ident k,
                        const char *subject, int32_t period_start, json_t *out,
                        int64_t *max_version, err_t *err)
{
    long idx = catalog_subject_index(svc, k);
    if (idx < 0)
        return err_set(err, DUPLA_EINTERNAL, "%s takes no such subject", svc->path);
    str_t subj = str_from_cstr(subject);
    struct dataset_query dq = {.svc = svc,
                               .mode = DATASET_CURRENT,
                               .subject_index = (size_t)idx,
                               .subjects = &subj,
                               .n_subjects = 1,
                               .period_from = period_start,
                               .period_to = period_start == DATASET_DAY_MIN ? DATASET_DAY_MAX
                                                                            : period_start};
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    dataset_cursor_t *cur;
    if ((rc = dataset_cursor_open(c, &dq, &cur, err))) {
        store_conn_put(c);
        return rc;
    }
    buf_t b;
    buf_init(&b, CHANGE_LINE_MAX);
    const struct dataset_record *rec;
    *max_version = 0;
    while ((rc = dataset_cursor_next(cur, &rec, err)) == STORE_ROW) {
        if (period_start != DATASET_DAY_MIN && rec->key.period_start != period_start)
            continue;
        buf_reset(&b);
        if ((rc = dataset_record_to_json(rec, NULL, &b, err)))
            break;
        json_t *j = json_parse(b.data, b.len, 0, NULL, NULL);
        if (!j) {
            rc = err_set(err, DUPLA_EINTERNAL, "a stored record did not read back as JSON");
            break;
        }
        if (svc->version)
            json_object_del(j, svc->version->name);
        if (svc->registered)
            json_object_del(j, svc->registered->name);
        json_array_append_new(out, j);
        if (rec->version > *max_version)
            *max_version = rec->version;
    }
    buf_free(&b);
    dataset_cursor_close(cur);
    store_conn_put(c);
    return rc < 0 ? rc : 0;
}

static int64_t get_int(json_t *rec, const char *name)
{
    return json_integer_value(json_object_get(rec, name));
}

static void set_int(json_t *rec, const char *name, int64_t v)
{
    json_object_set_new(rec, name, json_integer(v));
}

static void set_date(json_t *rec, const char *name, int32_t days)
{
    char d[16];
    clock_format_date(days, d, sizeof d);
    json_object_set_new(rec, name, json_string(d));
}

/* A re-issued annual assessment: deductions found (2,000-20,000 kr), the
 * taxes recomputed, the tax withheld unchanged. */
static int reassess(json_t *rec, uint64_t subject, int year, int64_t version, int32_t today,
                    err_t *err)
{
    const struct testdata_tax_year *ty = testdata_tax_year(year);
    if (!ty)
        return err_param(err, DUPLA_EINVAL, "year", "the tax table has no parameters for %d", year);
    int municipal = 0, church = 0;
    const char *kommune = json_string_value(json_object_get(rec, "KommuneKode"));
    if (!kommune || testdata_municipality_rates(kommune, &municipal, &church) != 0)
        return err_param(err, DUPLA_ECONFLICT, "subject",
                         "the assessment's municipality is not one the generator knows");
    struct testdata_income in = {
        .wage = get_int(rec, "LønIndkomst"),
        .transfer = get_int(rec, "OverførselsIndkomst"),
        .pension = get_int(rec, "PensionIndkomst"),
        .capital = get_int(rec, "KapitalIndkomstNetto"),
        .share = get_int(rec, "AktieIndkomst"),
        .other_deductions =
            get_int(rec, "LigningsmæssigeFradrag") - get_int(rec, "Beskæftigelsesfradrag"),
        .municipal_bp = municipal,
        .church_bp = church,
        .church = json_is_true(json_object_get(rec, "Kirkeskattepligtig")),
    };
    struct rng r;
    testdata_rng_init(&r, 0, S_CHANGE, subject, (uint64_t)year * 1000 + (uint64_t)version);
    in.other_deductions += (int64_t)testdata_rng_range(&r, 2000, 20000) * 100;
    struct testdata_tax t;
    testdata_compute_tax(ty, &in, &t);
    int64_t withheld = get_int(rec, "IndeholdtSkat");
    set_date(rec, "ÅrsopgørelseDato", today);
    set_int(rec, "PersonligIndkomst", t.personal);
    set_int(rec, "LigningsmæssigeFradrag", t.deductions);
    set_int(rec, "Beskæftigelsesfradrag", t.employment_deduction);
    set_int(rec, "SkattepligtigIndkomst", t.taxable);
    set_int(rec, "AMBidrag", t.am);
    set_int(rec, "Bundskat", t.bottom);
    set_int(rec, "Topskat", t.top);
    set_int(rec, "Kommuneskat", t.municipal);
    set_int(rec, "Kirkeskat", t.church);
    set_int(rec, "AktieIndkomstSkat", t.share_tax);
    set_int(rec, "SkatIAlt", t.total);
    set_int(rec, "Restskat", t.total > withheld ? t.total - withheld : 0);
    set_int(rec, "OverskydendeSkat", withheld > t.total ? withheld - t.total : 0);
    return 0;
}

/* A corrected VAT return: output VAT changed by -10 % to +10 % (whole
 * kroner), the duty recomputed, received now. */
static void correct_vat(json_t *rec, uint64_t subject, int32_t period_start, int64_t version,
                        int64_t now_ms)
{
    struct rng r;
    testdata_rng_init(&r, 0, S_CHANGE + 1, subject,
                      (uint64_t)(uint32_t)period_start * 1000 + (uint64_t)version);
    int64_t change = 900 + (int64_t)testdata_rng_below(&r, 201);
    int64_t out_vat = get_int(rec, "Salgsmoms") * change / 1000 / 100 * 100;
    static const char *const refunds[] = {"OlieafgiftGodtgørelse", "ElafgiftGodtgørelse",
                                          "GasafgiftGodtgørelse",  "KulafgiftGodtgørelse",
                                          "CO2afgiftGodtgørelse",  "VandafgiftGodtgørelse"};
    int64_t refund = 0;
    for (size_t i = 0; i < sizeof refunds / sizeof refunds[0]; i++)
        refund += get_int(rec, refunds[i]);
    char ts[32];
    clock_format_s(now_ms / 1000 * 1000, ts, sizeof ts);
    json_object_set_new(rec, "AngivelseType", json_string("korrektion"));
    json_object_set_new(rec, "ModtagetTidspunkt", json_string(ts));
    set_int(rec, "Salgsmoms", out_vat);
    set_int(rec, "Afgiftstilsvar",
            out_vat + get_int(rec, "MomsVarekøbUdland") + get_int(rec, "MomsYdelseskøbUdland") -
                get_int(rec, "Købsmoms") - refund);
}

/* A status change: the open status ends yesterday, status starts today.
 * lines gets the ended record and the new one. */
static int change_status(json_t *records, int status, int32_t today, json_t *lines, err_t *err)
{
    json_t *open = NULL;
    int64_t number = 0;
    size_t i;
    json_t *x;
    json_array_foreach(records, i, x)
    {
        if (get_int(x, "VirksomhedStatusNummer") > number)
            number = get_int(x, "VirksomhedStatusNummer");
        if (!json_object_get(x, "VirksomhedStatusGyldigTilDato") ||
            json_is_null(json_object_get(x, "VirksomhedStatusGyldigTilDato")))
            open = x;
    }
    if (!open)
        return err_param(err, DUPLA_ECONFLICT, "subject", "the company has no open status");
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    const char *now = json_string_value(json_object_get(open, "VirksomhedStatusTypeKode"));
    if (now && strcmp(now, code) == 0)
        return err_param(err, DUPLA_ECONFLICT, "status", "the company has status %s already", code);
    int32_t from;
    if (clock_parse_date(str_from_cstr(json_string_value(
                             json_object_get(open, "VirksomhedStatusGyldigFraDato"))),
                         &from) != 0)
        return err_set(err, DUPLA_EINTERNAL, "a stored status has no valid start");
    if (from >= today)
        return err_param(err, DUPLA_ECONFLICT, "subject",
                         "the open status started today: change it tomorrow");
    json_t *ended = json_deep_copy(open);
    set_date(ended, "VirksomhedStatusGyldigTilDato", today - 1);
    json_t *next = json_deep_copy(open);
    set_int(next, "VirksomhedStatusNummer", number + 1);
    json_object_set_new(next, "VirksomhedStatusTypeKode", json_string(code));
    set_date(next, "VirksomhedStatusGyldigFraDato", today);
    json_object_del(next, "VirksomhedStatusGyldigTilDato");
    json_array_append_new(lines, ended);
    json_array_append_new(lines, next);
    return 0;
}

int testdata_change(store_t *st, const catalog_t *cat, enum environment env,
                    const struct testdata_change *ch, int64_t now_ms,
                    struct testdata_change_result *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (env == ENV_PRODUCTION)
        return err_set(err, DUPLA_EFORBIDDEN,
                       "this is a production deployment: it refuses synthetic changes");
    const char *path = ch->kind == TESTDATA_REASSESSMENT     ? ASSESS_SERVICE
                       : ch->kind == TESTDATA_VAT_CORRECTION ? VAT_SERVICE
                                                             : STATUS_SERVICE;
    enum catalog_ident k = ch->kind == TESTDATA_REASSESSMENT     ? CATALOG_IDENT_CPR
                           : ch->kind == TESTDATA_VAT_CORRECTION ? CATALOG_IDENT_SE
                                                                 : CATALOG_IDENT_CVR;
    const struct catalog_service *svc = catalog_find(cat, str_from_cstr(path));
    if (!svc)
        return err_set(err, DUPLA_ENOTFOUND, "the catalogue has no service %s", path);
    int64_t subject;
    if (dataset_subject_parse(k, str_from_cstr(ch->subject), &subject) != 0)
        return err_param(err, DUPLA_EINVAL, "subject", "subject must be a %s number",
                         catalog_ident_name(k));
    int32_t period = DATASET_DAY_MIN, end_unused;
    if (ch->kind == TESTDATA_REASSESSMENT)
        dataset_year_period(ch->year, &period, &end_unused);
    else if (ch->kind == TESTDATA_VAT_CORRECTION)
        period = ch->period_start;
    json_t *records = json_array(), *lines = json_array();
    int64_t version = 0;
    int rc = current_json(st, svc, k, ch->subject, period, records, &version, err);
    if (rc == 0 && json_array_size(records) == 0)
        rc = err_param(err, DUPLA_ENOTFOUND, "subject",
                       "the subject has no current %s record%s to change", path,
                       ch->kind == TESTDATA_STATUS_CHANGE ? "" : " for that period");
    int32_t today = (int32_t)(now_ms / 86400000);
    if (rc == 0 && ch->kind == TESTDATA_REASSESSMENT) {
        json_t *rec = json_array_get(records, 0);
        rc = reassess(rec, (uint64_t)subject, ch->year, version, today, err);
        json_array_append(lines, rec);
    } else if (rc == 0 && ch->kind == TESTDATA_VAT_CORRECTION) {
        json_t *rec = json_array_get(records, 0);
        correct_vat(rec, (uint64_t)subject, period, version, now_ms);
        json_array_append(lines, rec);
    } else if (rc == 0) {
        rc = change_status(records, ch->status, today, lines, err);
    }
    buf_t b;
    buf_init(&b, CHANGE_LINE_MAX);
    if (rc == 0) {
        buf_printf(&b,
                   "{\"delivery\":{\"synthetic\":true,\"generator\":\"dupla testdata\","
                   "\"change\":\"%s\"}}\n",
                   testdata_change_name(ch->kind));
        size_t i;
        json_t *x;
        json_array_foreach(lines, i, x)
        {
            char *s = json_text(x, JSON_COMPACT);
            if (!s || buf_append_cstr(&b, s) || buf_append(&b, "\n", 1))
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
            free(s);
        }
    }
    if (rc == 0) {
        struct ingest_source src = {.name = "testdata-change", .data = buf_str(&b)};
        struct ingest_options io = {.environment = env, .source = "testdata"};
        struct ingest_result res;
        rc = ingest_delivery(st, svc, &src, 1, &io, &res, err);
        if (rc && res.n_problems > 0)
            err_set(err, DUPLA_EINTERNAL, "the change did not pass ingest: line %ld: %s: %s",
                    res.problems[0].line, res.problems[0].field, res.problems[0].reason);
        if (rc == 0) {
            snprintf(out->service, sizeof out->service, "%s", svc->path);
            snprintf(out->delivery_id, sizeof out->delivery_id, "%s", res.delivery_id);
            out->new_versions = res.new_versions;
            out->version = version + 1;
        }
        ingest_result_free(&res);
    }
    buf_free(&b);
    json_decref(records);
    json_decref(lines);
    return rc;
}
