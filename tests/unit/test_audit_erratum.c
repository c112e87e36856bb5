/* Tracing a data error (src/audit/erratum.c) against a seeded random log:
 * marking a delivery or a set of record versions finds exactly the
 * disclosures that included them (checked against a brute-force reading of
 * what was recorded), grouped per recipient and agreement; notify queues
 * one notice per recipient organisation, naming its sequence numbers and
 * case references, and a second run queues none. Refusals name their
 * parameter. Runs on both backends (suite store). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "mail/mail.h"
#include "test_audit_util.h"

static struct audit_fixture fx;

static void setup(void)
{
    audit_fixture_init(&fx);
}

static void teardown(void)
{
    audit_fixture_fini(&fx);
}

TestSuite(audit_erratum, .init = setup, .fini = teardown, .timeout = 120);

#define N_ENTRIES  300
#define N_ORGS     4
#define N_SUBJECTS 12
#define N_DELIV    6
#define BIG        20000 /* records of an entry too large to list its versions */

static const char *const orgs[N_ORGS] = {"11111111", "22222222", "33333333", "44444444"};

/* What was recorded, kept for the brute-force answer. */
struct rec {
    int org, agreement; /* agreement: 0 or 1 (per organisation) */
    bool disclosed, big, other_service;
    int n;                     /* subjects */
    int subject[3], period[3]; /* period 0 or 1: "2022", "2023" */
    int version[3];            /* 1..3 */
    char case_ref[24];
};
static struct rec log_[N_ENTRIES];

/* The delivery that brought a version: each version comes from one. */
static int delivery_of(int subject, int period, int version)
{
    return (subject * 7 + period * 3 + version * 5) % N_DELIV;
}

static unsigned long long rng = 0x2545F4914F6CDD1DULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void cpr(int subject, char *out)
{
    snprintf(out, 16, "01019%05d", subject);
}

static void record_all(void)
{
    audit_log_t *log = audit_fixture_log(&fx, 0);
    err_t err;
    for (int i = 0; i < N_ENTRIES; i++) {
        struct rec *r = &log_[i];
        r->org = (int)rnd(N_ORGS);
        r->agreement = (int)rnd(2);
        r->disclosed = rnd(10) != 0;
        r->big = r->disclosed && rnd(8) == 0;
        r->other_service = rnd(10) == 0;
        r->n = 1 + (int)rnd(3);
        if (rnd(3))
            snprintf(r->case_ref, sizeof r->case_ref, "SAG-%d/%d", r->org, i);
        char subj[3][16], agr[40], rid[32], dl[3][16];
        struct audit_subject subjects[3];
        struct audit_version versions[3];
        str_t deliveries[3];
        size_t nd = 0;
        static const char *const periods[2] = {"2022", "2023"};
        for (int k = 0; k < r->n; k++) {
            r->subject[k] = (int)rnd(N_SUBJECTS);
            r->period[k] = (int)rnd(2);
            r->version[k] = 1 + (int)rnd(3);
            cpr(r->subject[k], subj[k]);
            subjects[k] = (struct audit_subject){AUDIT_SUBJECT_CPR, str_from_cstr(subj[k])};
            int d = delivery_of(r->subject[k], r->period[k], r->version[k]);
            char name[16];
            snprintf(name, sizeof name, "lev-%d", d);
            size_t at = 0;
            while (at < nd && !str_eq_cstr(deliveries[at], name))
                at++;
            if (at == nd) {
                snprintf(dl[nd], sizeof dl[nd], "%s", name);
                deliveries[nd] = str_from_cstr(dl[nd]);
                nd++;
            }
            versions[k] =
                (struct audit_version){(uint32_t)at, AUDIT_SUBJECT_CPR, str_from_cstr(subj[k]),
                                       str_from_cstr(periods[r->period[k]]), r->version[k]};
        }
        snprintf(agr, sizeof agr, "aftale-%d-%d", r->org, r->agreement);
        snprintf(rid, sizeof rid, "req-%d", i);
        str_t fields[] = {STR("PersonligIndkomst")};
        str_t per[] = {STR("2022"), STR("2023")};
        struct audit_entry e = {.org_cvr = str_from_cstr(orgs[r->org]),
                                .system_id = STR("sys"),
                                .agreement_id = str_from_cstr(agr),
                                .agreement_version = 1,
                                .service =
                                    r->other_service ? STR("Momsangivelse") : STR("Aarsopgoerelse"),
                                .request_id = str_from_cstr(rid),
                                .transaction_id = STR("tx"),
                                .subjects = subjects,
                                .n_subjects = (size_t)r->n,
                                .periods = per,
                                .n_periods = 2,
                                .fields = fields,
                                .n_fields = 1,
                                .record_count = r->disclosed ? (r->big ? BIG : r->n) : 0,
                                .outcome = r->disclosed ? AUDIT_DISCLOSED : AUDIT_REFUSED,
                                .reason = r->disclosed ? STR("") : STR("field-not-granted"),
                                .case_ref = str_from_cstr(r->case_ref),
                                .deliveries = r->disclosed ? deliveries : NULL,
                                .n_deliveries = r->disclosed ? nd : 0,
                                .versions = r->disclosed && !r->big ? versions : NULL,
                                .n_versions = r->disclosed && !r->big ? (size_t)r->n : 0};
        cr_assert_eq(audit_record(log, &e, NULL, &err), 0, "%s", err.log);
    }
    audit_close(log);
}

/* The seqs the report names, into found[seq] (true), and per organisation
 * whether it is a recipient. */
static void report_seqs(const json_t *rep, bool *found, bool *org_hit)
{
    size_t i, k, q;
    json_t *r, *a, *d;
    json_array_foreach(json_object_get(rep, "recipients"), i, r)
    {
        const char *org = json_string_value(json_object_get(r, "organisation"));
        int o = 0;
        while (o < N_ORGS && strcmp(orgs[o], org) != 0)
            o++;
        cr_assert_lt(o, N_ORGS, "%s", org);
        cr_assert(!org_hit[o], "organisation %s listed twice", org);
        org_hit[o] = true;
        json_array_foreach(json_object_get(r, "agreements"), k, a)
        {
            json_array_foreach(json_object_get(a, "disclosures"), q, d)
            {
                int64_t seq = json_integer_value(json_object_get(d, "seq"));
                cr_assert(seq >= 1 && seq <= N_ENTRIES);
                cr_assert(!found[seq], "entry %" PRId64 " listed twice", seq);
                struct rec *e = &log_[seq - 1];
                cr_assert_eq(e->org, o, "entry %" PRId64 " under the wrong organisation", seq);
                char agr[40];
                snprintf(agr, sizeof agr, "aftale-%d-%d", e->org, e->agreement);
                cr_assert_str_eq(json_string_value(json_object_get(a, "agreement")), agr);
                cr_assert_eq(json_is_true(json_object_get(d, "exact")), !e->big);
                cr_assert_str_eq(json_string_value(json_object_get(d, "case_reference")),
                                 e->case_ref);
                found[seq] = true;
            }
        }
    }
}

static size_t mails(const char *where)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM mail_message WHERE kind = 'data-error'%s",
             where);
    int64_t n;
    cr_assert_eq(store_query_int64(c, sql, 0, &n, &err), 0, "%s", err.log);
    store_conn_put(c);
    return (size_t)n;
}

static int contact(void *ctx, const char *org, char *out, size_t cap, err_t *err)
{
    (void)ctx;
    (void)err;
    if (strcmp(org, orgs[3]) == 0)
        return DUPLA_ENOTFOUND; /* an organisation without a mailbox */
    snprintf(out, cap, "kontakt-%s@example.dk", org);
    return 0;
}

/* Checks one mark's report and notices against the brute force. */
static void check(int64_t id, const bool *expect, size_t *mails_before)
{
    err_t err;
    json_t *rep;
    cr_assert_eq(audit_erratum_report(fx.st, id, &rep, &err), 0, "%s", err.log);
    bool found[N_ENTRIES + 1] = {0}, org_hit[N_ORGS] = {0}, org_want[N_ORGS] = {0};
    report_seqs(rep, found, org_hit);
    size_t n = 0;
    for (int s = 1; s <= N_ENTRIES; s++) {
        cr_assert_eq(found[s], expect[s], "entry %d: found %d, expected %d", s, found[s],
                     expect[s]);
        if (expect[s]) {
            org_want[log_[s - 1].org] = true;
            n++;
        }
    }
    cr_assert_eq((size_t)json_integer_value(json_object_get(rep, "disclosures")), n);
    size_t recipients = 0;
    for (int o = 0; o < N_ORGS; o++) {
        cr_assert_eq(org_hit[o], org_want[o], "organisation %s", orgs[o]);
        recipients += org_want[o];
    }
    json_decref(rep);

    struct audit_erratum_sent sent;
    cr_assert_eq(audit_erratum_notify(fx.st, id, contact, NULL, 1000, &sent, &err), 0, "%s",
                 err.log);
    cr_assert_eq(sent.recipients, recipients);
    cr_assert_eq(sent.queued, recipients);
    cr_assert_eq(sent.no_mailbox, org_want[3] ? 1u : 0u);
    cr_assert_eq(mails(""), *mails_before + recipients);
    /* each recipient's notice names its disclosures and its case references */
    for (int o = 0; o < N_ORGS; o++) {
        if (!org_want[o])
            continue;
        store_conn_t *c;
        cr_assert_eq(store_conn_get(fx.st, &c, &err), 0);
        store_stmt_t *s;
        cr_assert_eq(
            store_prepare(c, "SELECT body, recipient FROM mail_message WHERE source = ?", &s, &err),
            0);
        char source[64];
        snprintf(source, sizeof source, "audit-erratum:%" PRId64 ":%s", id, orgs[o]);
        store_bind_cstr(s, 1, source);
        cr_assert_eq(store_step(s, &err), STORE_ROW, "no notice to %s", orgs[o]);
        str_t b = store_col_text(s, 0);
        char *body = strndup(b.ptr, b.len);
        str_t to = store_col_text(s, 1);
        if (o != 3)
            cr_assert(str_eq_cstr(to, "kontakt-") ||
                      (to.len > 8 && !memcmp(to.ptr, "kontakt-", 8)));
        store_stmt_done(s);
        store_conn_put(c);
        for (int q = 1; q <= N_ENTRIES; q++) {
            if (!expect[q] || log_[q - 1].org != o)
                continue;
            char t[16];
            snprintf(t, sizeof t, " %d", q);
            char *p = body;
            bool named = false;
            while (!named && (p = strstr(p, t))) {
                named = p[strlen(t)] == ',' || p[strlen(t)] == '\n';
                p++;
            }
            cr_assert(named, "the notice to %s does not name entry %d:\n%s", orgs[o], q, body);
            if (log_[q - 1].case_ref[0])
                cr_assert(strstr(body, log_[q - 1].case_ref), "case reference %s",
                          log_[q - 1].case_ref);
        }
        cr_assert_null(strstr(body, "01019"), "a notice names no subject");
        free(body);
    }
    /* again: nobody is told twice */
    cr_assert_eq(audit_erratum_notify(fx.st, id, contact, NULL, 2000, &sent, &err), 0, "%s",
                 err.log);
    cr_assert_eq(sent.queued, 0);
    cr_assert_eq(sent.already, recipients);
    cr_assert_eq(mails(""), *mails_before + recipients);
    *mails_before += recipients;
    /* who was told, and when, is in the report */
    cr_assert_eq(audit_erratum_report(fx.st, id, &rep, &err), 0, "%s", err.log);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rep, "recipients"), i, r)
    {
        json_t *nt = json_object_get(r, "notice");
        cr_assert(json_is_object(nt));
        cr_assert_str_eq(json_string_value(json_object_get(nt, "time")),
                         "1970-01-01T00:00:01.000Z");
    }
    json_decref(rep);
}

Test(audit_erratum, a_seeded_random_log_traces_exactly_and_tells_each_recipient_once)
{
    record_all();
    err_t err;
    cr_assert_eq(mail_migrate(fx.st, &err), 0);
    size_t mails_before = 0;
    /* every delivery in turn */
    for (int d = 0; d < N_DELIV; d++) {
        char name[16];
        snprintf(name, sizeof name, "lev-%d", d);
        struct audit_erratum_mark m = {.delivery_id = str_from_cstr(name),
                                       .reason = STR("wrong amounts"),
                                       .replacement = STR("lev-9"),
                                       .actor = STR("dfv")};
        int64_t id;
        bool existed;
        cr_assert_eq(audit_erratum_mark(fx.st, &m, 1000, &id, &existed, &err), 0, "%s", err.log);
        cr_assert(!existed);
        bool expect[N_ENTRIES + 1] = {0};
        for (int s = 0; s < N_ENTRIES; s++) {
            const struct rec *r = &log_[s];
            if (!r->disclosed)
                continue;
            for (int k = 0; k < r->n; k++)
                expect[s + 1] |= delivery_of(r->subject[k], r->period[k], r->version[k]) == d;
        }
        check(id, expect, &mails_before);
        /* marked again: the same mark */
        int64_t again;
        cr_assert_eq(audit_erratum_mark(fx.st, &m, 3000, &again, &existed, &err), 0);
        cr_assert(existed);
        cr_assert_eq(again, id);
    }
    /* random sets of versions of Aarsopgoerelse */
    for (int round = 0; round < 8; round++) {
        struct audit_erratum_version v[4];
        char subj[4][16];
        static const char *const periods[2] = {"2022", "2023"};
        int nv = 1 + (int)rnd(4), vs[4], vp[4], vv[4];
        for (int k = 0; k < nv; k++) {
            vs[k] = (int)rnd(N_SUBJECTS), vp[k] = (int)rnd(2), vv[k] = 1 + (int)rnd(3);
            cpr(vs[k], subj[k]);
            v[k] = (struct audit_erratum_version){STR("Aarsopgoerelse"), AUDIT_SUBJECT_CPR,
                                                  str_from_cstr(subj[k]),
                                                  str_from_cstr(periods[vp[k]]), vv[k]};
        }
        struct audit_erratum_mark m = {
            .versions = v, .n_versions = (size_t)nv, .reason = STR("wrong"), .actor = STR("dfv")};
        int64_t id;
        bool existed;
        cr_assert_eq(audit_erratum_mark(fx.st, &m, 1000, &id, &existed, &err), 0, "%s", err.log);
        if (existed)
            continue; /* the same set drawn twice */
        /* brute force: the entries listing a version exactly; and the big
         * entries of the service naming its subject that sent a delivery
         * some listing entry shows brought the version */
        bool expect[N_ENTRIES + 1] = {0};
        for (int k = 0; k < nv; k++) {
            bool listed_somewhere = false;
            for (int s = 0; s < N_ENTRIES; s++) {
                const struct rec *r = &log_[s];
                if (!r->disclosed || r->big || r->other_service)
                    continue;
                for (int q = 0; q < r->n; q++)
                    if (r->subject[q] == vs[k] && r->period[q] == vp[k] && r->version[q] == vv[k])
                        expect[s + 1] = listed_somewhere = true;
            }
            if (!listed_somewhere)
                continue;
            int d = delivery_of(vs[k], vp[k], vv[k]);
            for (int s = 0; s < N_ENTRIES; s++) {
                const struct rec *r = &log_[s];
                if (!r->big || r->other_service)
                    continue;
                bool sent_d = false, names = false;
                for (int q = 0; q < r->n; q++) {
                    sent_d |= delivery_of(r->subject[q], r->period[q], r->version[q]) == d;
                    names |= r->subject[q] == vs[k];
                }
                expect[s + 1] |= sent_d && names;
            }
        }
        check(id, expect, &mails_before);
    }
    json_t *list;
    cr_assert_eq(audit_erratum_list(fx.st, &list, &err), 0, "%s", err.log);
    cr_assert_geq(json_array_size(list), N_DELIV + 1);
    json_decref(list);
}

Test(audit_erratum, refusals_name_their_parameter)
{
    err_t err;
    int64_t id;
    bool existed;
    cr_assert_eq(audit_migrate(fx.st, &err), 0, "%s", err.log);
    struct audit_erratum_version v = {STR("Aarsopgoerelse"), AUDIT_SUBJECT_CPR, STR("0101901234"),
                                      STR("2023"), 1};
    struct {
        struct audit_erratum_mark m;
        const char *param;
    } cases[] = {
        {{.delivery_id = STR("lev-1")}, "reason"},
        {{.reason = STR("x")}, "delivery"},
        {{.delivery_id = STR("lev-1"), .versions = &v, .n_versions = 1, .reason = STR("x")},
         "delivery"},
        {{.delivery_id = STR("lev-\xff"), .reason = STR("x")}, "delivery"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = audit_erratum_mark(fx.st, &cases[i].m, 1, &id, &existed, &err);
        cr_assert_eq(rc, DUPLA_EINVAL, "case %zu", i);
        cr_assert_str_eq(err.param, cases[i].param, "case %zu", i);
    }
    struct audit_erratum_version bad = v;
    bad.version = 0;
    struct audit_erratum_mark m = {.versions = &bad, .n_versions = 1, .reason = STR("x")};
    cr_assert_eq(audit_erratum_mark(fx.st, &m, 1, &id, &existed, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "version");
    json_t *rep;
    cr_assert_eq(audit_erratum_report(fx.st, 99, &rep, &err), DUPLA_ENOTFOUND);
    cr_assert_str_eq(err.param, "id");
    /* a mark nobody received: a report with no recipients, no mail */
    struct audit_erratum_mark ok = {.delivery_id = STR("never-sent"), .reason = STR("x")};
    cr_assert_eq(audit_erratum_mark(fx.st, &ok, 1, &id, &existed, &err), 0, "%s", err.log);
    cr_assert_eq(audit_erratum_report(fx.st, id, &rep, &err), 0, "%s", err.log);
    cr_assert_eq(json_array_size(json_object_get(rep, "recipients")), 0);
    json_decref(rep);
    struct audit_erratum_sent sent;
    cr_assert_eq(audit_erratum_notify(fx.st, id, contact, NULL, 1, &sent, &err), 0, "%s", err.log);
    cr_assert_eq(sent.queued, 0);
}
