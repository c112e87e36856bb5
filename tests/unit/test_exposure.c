/* Unit tests of the exposure engine without HTTP: parameters from the
 * catalogue, the rate limiter, and whole calls against a real store with
 * synthetic data, real agreements and the real disclosure log. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "dataset/dataset.h"
#include "exposure/exposure.h"
#include "exposure/internal.h"
#include "testdata/testdata.h"

#define ORG  "12345674"
#define ORG2 "87654303"
#define SYS  "6f1c2d9e-0000-4000-8000-000000000001"
#define RID  "0b5e6a3c-1d2f-4a5b-8c7d-9e0f1a2b3c4d"

static char dir[64];
static store_t *st;
static catalog_t *cat;
static agreement_t *ag;
static audit_log_t *alog;
static exposure_t *ex;
static arena_t *arena;
static const struct testdata_options tdo = {30, 8, 2023, 2024, 7};

/* ---- parameters ---- */

static const struct catalog_service *svc_named(const char *n)
{
    const struct catalog_service *s = catalog_find(cat, str_from_cstr(n));
    cr_assert_not_null(s, "%s", n);
    return s;
}

static void cat_only(void)
{
    cat = fx_catalog();
    arena = arena_new(1 << 20);
}

static void cat_done(void)
{
    catalog_free(cat);
    arena_free(arena);
}

#define A(n, v)                                                                                    \
    {                                                                                              \
        STR(n), STR(v)                                                                             \
    }

static int parse(const char *svc, const struct exposure_arg *args, size_t n,
                 struct exposure_query *q, err_t *err)
{
    return exposure_query_parse(svc_named(svc), args, n, 3, 1700000000000LL, 5000, arena, q, err);
}

TestSuite(exposure_query, .init = cat_only, .fini = cat_done);

Test(exposure_query, lists_repeat_and_repeats_are_dropped)
{
    struct exposure_query q;
    err_t err;
    struct exposure_arg a[] = {A("PersonCPRNummer", "0101701234"),
                               A("PersonCPRNummer", "6101701234"),
                               A("PersonCPRNummer", "0101701234"),
                               A("IndkomstÅr", "2023"),
                               A("IndkomstÅr", "2024"),
                               A("Felter", "Skattepligtig,IndkomstÅr")};
    int rc = parse("Aarsopgoerelse", a, 6, &q, &err);
    if (rc == 0) {
        cr_assert_eq(q.n_subjects, 2);
        cr_assert_eq(q.n_years, 2);
        cr_assert(!q.window);
    } else {
        /* Skattepligtig may not be a field: the refusal must name Felter */
        cr_assert_str_eq(err.param, "Felter");
    }
    struct exposure_arg b[] = {A("PersonCPRNummer", "0101701234"),
                               A("Felter", "IndkomstÅr,PersonCPRNummer"),
                               A("Felter", "IndkomstÅr")};
    cr_assert_eq(parse("Aarsopgoerelse", b, 3, &q, &err), 0, "%s", err.detail);
    cr_assert(q.fields_given);
    cr_assert_eq(q.n_fields, 2);
}

static void refused(const char *svc, const struct exposure_arg *a, size_t n, const char *param,
                    const char *type)
{
    struct exposure_query q;
    err_t err;
    err_clear(&err);
    cr_assert_eq(parse(svc, a, n, &q, &err), DUPLA_EINVAL, "accepted; want %s refused", param);
    cr_assert_str_eq(err.param, param, "%s", err.detail);
    cr_assert_str_eq(err.type, type, "%s", err.detail);
    cr_assert_eq(err_status(&err), 400);
}

Test(exposure_query, every_problem_is_a_400_naming_the_parameter)
{
    struct exposure_arg unknown[] = {A("PersonCPRNummer", "0101701234"), A("Hvem", "x")};
    refused("Aarsopgoerelse", unknown, 2, "Hvem", PROBLEM_UNKNOWN_PARAMETER);
    struct exposure_arg none[] = {A("IndkomstÅr", "2023")};
    refused("Aarsopgoerelse", none, 1, "PersonCPRNummer", PROBLEM_MISSING_PARAMETER);
    struct exposure_arg cpr[] = {A("PersonCPRNummer", "010170123")};
    refused("Aarsopgoerelse", cpr, 1, "PersonCPRNummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg cpr2[] = {A("PersonCPRNummer", "3213701234")};
    refused("Aarsopgoerelse", cpr2, 1, "PersonCPRNummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg year[] = {A("PersonCPRNummer", "0101701234"), A("IndkomstÅr", "23")};
    refused("Aarsopgoerelse", year, 2, "IndkomstÅr", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg many[] = {
        A("PersonCPRNummer", "0101701234"), A("PersonCPRNummer", "0201701234"),
        A("PersonCPRNummer", "0301701234"), A("PersonCPRNummer", "0401701234")};
    refused("Aarsopgoerelse", many, 4, "PersonCPRNummer", PROBLEM_TOO_MANY_SUBJECTS);
    struct exposure_arg ts[] = {A("PersonCPRNummer", "0101701234"),
                                A("UdstillingRegistreringFra", "2024-01-01")};
    refused("Aarsopgoerelse", ts, 2, "UdstillingRegistreringFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg ts2[] = {A("PersonCPRNummer", "0101701234"),
                                 A("UdstillingRegistreringFra", "2024-01-01T00:00:00Z"),
                                 A("UdstillingRegistreringFra", "2024-01-02T00:00:00Z")};
    refused("Aarsopgoerelse", ts2, 3, "UdstillingRegistreringFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg win[] = {A("PersonCPRNummer", "0101701234"),
                                 A("UdstillingRegistreringFra", "2024-01-02T00:00:00Z"),
                                 A("UdstillingRegistreringTil", "2024-01-01T00:00:00Z")};
    refused("Aarsopgoerelse", win, 3, "UdstillingRegistreringFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg field[] = {A("PersonCPRNummer", "0101701234"), A("Felter", "Nope")};
    refused("Aarsopgoerelse", field, 2, "Felter", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg se[] = {A("VirksomhedSENummer", "0234567"),
                                A("AfregningPeriodeForholdPeriodeStartDato", "2024-01-01"),
                                A("AfregningPeriodeForholdPeriodeSlutDato", "2024-12-31")};
    refused("Momsangivelse", se, 3, "VirksomhedSENummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg date[] = {A("VirksomhedSENummer", "12345678"),
                                  A("AfregningPeriodeForholdPeriodeStartDato", "2024-02-30"),
                                  A("AfregningPeriodeForholdPeriodeSlutDato", "2024-12-31")};
    refused("Momsangivelse", date, 3, "AfregningPeriodeForholdPeriodeStartDato",
            PROBLEM_INVALID_PARAMETER);
    struct exposure_arg missing[] = {A("VirksomhedSENummer", "12345678"),
                                     A("AfregningPeriodeForholdPeriodeStartDato", "2024-01-01")};
    refused("Momsangivelse", missing, 2, "AfregningPeriodeForholdPeriodeSlutDato",
            PROBLEM_MISSING_PARAMETER);
    struct exposure_arg back[] = {A("VirksomhedSENummer", "12345678"),
                                  A("AfregningPeriodeForholdPeriodeStartDato", "2024-12-01"),
                                  A("AfregningPeriodeForholdPeriodeSlutDato", "2024-01-31")};
    refused("Momsangivelse", back, 3, "AfregningPeriodeForholdPeriodeStartDato",
            PROBLEM_INVALID_PARAMETER);
}

Test(exposure_query, an_open_window_ends_a_margin_before_now)
{
    struct exposure_query q;
    err_t err;
    struct exposure_arg a[] = {A("PersonCPRNummer", "0101701234"),
                               A("UdstillingRegistreringFra", "2023-01-01T00:00:00Z")};
    cr_assert_eq(parse("Aarsopgoerelse", a, 2, &q, &err), 0, "%s", err.detail);
    cr_assert(q.window);
    cr_assert_eq(q.registered_to, 1700000000000LL - 5000);
    struct exposure_arg b[] = {A("VirksomhedSENummer", "12345678"),
                               A("TekniskRegistreringDatoFra", "2023-01-01"),
                               A("TekniskRegistreringDatoTil", "2023-01-01")};
    cr_assert_eq(parse("Lønsumsangivelser", b, 3, &q, &err), 0, "%s", err.detail);
    int64_t day = 86400000LL;
    cr_assert_eq(q.registered_to - q.registered_from, day, "a date end takes its whole day");
}

/* ---- the rate limiter ---- */

Test(exposure_limiter, a_burst_then_429_then_refill)
{
    exposure_limiter_t *l;
    err_t err;
    cr_assert_eq(exposure_limiter_new(2, 3, &l, &err), 0);
    unsigned retry = 0;
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        cr_assert(exposure_limiter_take(l, STR("a|s"), t, &retry));
    cr_assert(!exposure_limiter_take(l, STR("a|s"), t, &retry));
    cr_assert_eq(retry, 1);
    cr_assert(exposure_limiter_take(l, STR("b|s"), t, &retry), "another key has its own bucket");
    cr_assert(exposure_limiter_take(l, STR("a|s"), t + 500, &retry), "half a second: one token");
    cr_assert(!exposure_limiter_take(l, STR("a|s"), t + 500, &retry));
    exposure_limiter_free(l);
}

Test(exposure_limiter, the_ratelimit_fields_count_down_and_match_the_refusal)
{
    exposure_limiter_t *l;
    err_t err;
    cr_assert_eq(exposure_limiter_new(2, 3, &l, &err), 0);
    int64_t t = 1000000;
    struct exposure_rate rs;
    char policy[EXPOSURE_RATE_TEXT], rate[EXPOSURE_RATE_TEXT];
    static const char *const want[] = {"\"agreement\";r=2;t=1", "\"agreement\";r=1;t=1",
                                       "\"agreement\";r=0;t=1"};
    for (int i = 0; i < 3; i++) {
        cr_assert(exposure_limiter_take_rate(l, STR("a|s"), t, &rs));
        exposure_rate_headers(&rs, policy, rate);
        cr_assert_str_eq(policy, "\"agreement\";q=3;w=2", "3 tokens refill in 1.5 s: 2");
        cr_assert_str_eq(rate, want[i]);
    }
    cr_assert(!exposure_limiter_take_rate(l, STR("a|s"), t + 100, &rs));
    exposure_rate_headers(&rs, policy, rate);
    cr_assert_str_eq(rate, "\"agreement\";r=0;t=1");
    unsigned retry = 0;
    cr_assert(!exposure_limiter_take(l, STR("a|s"), t + 100, &retry));
    cr_assert_eq(retry, rs.reset_s, "t is the Retry-After");
    /* Long idle: full again, nothing to wait for after this take but its
     * own refill. */
    cr_assert(exposure_limiter_take_rate(l, STR("a|s"), t + 60000, &rs));
    cr_assert_eq(rs.remaining, 2);
    cr_assert_eq(rs.reset_s, 1);
    exposure_limiter_free(l);
}

/* ---- the rate limiter shared by the nodes of a cluster (#15) ---- */

static store_t *shared_st;
static char shared_dir[64];

static void shared_open(void)
{
    snprintf(shared_dir, sizeof shared_dir, "/tmp/dupla-ratelimit-XXXXXX");
    cr_assert_not_null(mkdtemp(shared_dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", shared_dir);
    err_t err;
    cr_assert_eq(store_open(url, NULL, &shared_st, &err), 0, "%s", err.log);
}

static void shared_close(void)
{
    store_close(shared_st);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", shared_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(exposure_shared_limit, .init = shared_open, .fini = shared_close, .timeout = 60);

/* Two limiters on one store stand for two nodes. */
static void two_nodes(unsigned rate, unsigned burst, unsigned chunk, exposure_limiter_t *n[2])
{
    err_t err;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(exposure_limiter_new(rate, burst, &n[i], &err), 0);
        cr_assert_eq(exposure_limiter_share(n[i], shared_st, chunk, &err), 0, "%s", err.log);
    }
}

/* Takes in turns on both nodes until both refuse; the calls let through. */
static int take_all(exposure_limiter_t *n[2], const char *key, int64_t t)
{
    int ok = 0;
    bool refused[2] = {false, false};
    for (int i = 0; !(refused[0] && refused[1]) && i < 10000; i++) {
        struct exposure_rate rs;
        if (exposure_limiter_take_rate(n[i % 2], str_from_cstr(key), t, &rs))
            ok++;
        else
            refused[i % 2] = true;
    }
    return ok;
}

Test(exposure_shared_limit, two_nodes_together_get_the_burst_and_the_rate_no_more)
{
    exposure_limiter_t *n[2];
    two_nodes(10, 20, 3, n);
    int64_t t = 5000000;
    cr_assert_eq(take_all(n, "a|s", t), 20, "the burst, across both nodes");
    cr_assert_eq(take_all(n, "b|s", t), 20, "another key has its own budget");
    /* 1.5 s later: 15 tokens refilled; what a node drew and did not use
     * (nothing here) is gone after EXPOSURE_RATE_HOLD_MS. */
    cr_assert_eq(take_all(n, "a|s", t + 1500), 15, "the rate, across both nodes");
    exposure_limiter_free(n[0]);
    exposure_limiter_free(n[1]);
}

Test(exposure_shared_limit, the_ratelimit_fields_count_what_every_node_has_left)
{
    exposure_limiter_t *n[2];
    two_nodes(10, 20, 3, n);
    int64_t t = 7000000;
    struct exposure_rate rs;
    cr_assert(exposure_limiter_take_rate(n[0], STR("c|s"), t, &rs));
    cr_assert_eq(rs.quota, 20);
    cr_assert_eq(rs.remaining, 19, "a chunk of 3 drawn, one used: 2 held + 17 in the store");
    cr_assert(exposure_limiter_take_rate(n[1], STR("c|s"), t, &rs));
    cr_assert_eq(rs.remaining, 16, "node B drew 3 more and used one: 2 held + 14 in the store");
    exposure_limiter_free(n[0]);
    exposure_limiter_free(n[1]);
}

struct hammer {
    exposure_limiter_t *l;
    int64_t t;
    int ok;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 150; i++) {
        struct exposure_rate rs;
        if (exposure_limiter_take_rate(h->l, STR("d|s"), h->t, &rs))
            h->ok++;
    }
    return NULL;
}

Test(exposure_shared_limit, concurrent_nodes_never_let_more_through_than_the_budget)
{
    exposure_limiter_t *n[2];
    two_nodes(1, 100, 7, n);
    struct hammer h[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.l = n[i % 2], .t = 9000000};
        cr_assert_eq(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += h[i].ok;
    }
    /* At most the burst (tokens drawn but unused stay with a node, so a
     * little less is possible: at most a chunk per node). */
    cr_assert_leq(ok, 100, "%d calls let through, the budget is 100", ok);
    cr_assert_geq(ok, 100 - 2 * 7, "%d calls let through", ok);
    exposure_limiter_free(n[0]);
    exposure_limiter_free(n[1]);
}

/* ---- whole calls ---- */

static char agreement_id[AGREEMENT_ID_LEN + 1];

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "user-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

/* An approved agreement of org for services (JSON text). */
static void approved(const char *org, const char *services, char *id)
{
    json_error_t jerr;
    json_t *sv = json_loads(services, 0, &jerr);
    cr_assert_not_null(sv, "%s", jerr.text);
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:o, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "Kontrol", "purpose", "To check entitlement.", "legal_basis", "law",
                  "Lov", "section", "§ 1", "services", sv, "systems", "all", "valid_from", today,
                  "expected_volume", "calls_per_month", 10, "subjects_per_month", 10, "contact",
                  "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    err_t err;
    struct agreement_actor p = actor(1, org, AGREEMENT_ROLE_PROCESSOR),
                           s = actor(2, org, AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &s, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(id), "Ok.", NULL, NULL, &err), 0, "%s",
                 err.detail);
}

static void world(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-exposure-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.log);
    cat_only();
    cr_assert_eq(dataset_migrate(st, &err), 0, "%s", err.log);
    cr_assert_eq(testdata_load(st, cat, &tdo, ENV_TEST, dir, NULL, NULL, &err), 0, "%s", err.log);
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    struct audit_options ao = {.environment = "test"};
    cr_assert_eq(audit_open(st, &ao, &alog, &err), 0, "%s", err.log);
    struct exposure_config cfg;
    cr_assert_eq(exposure_config_read(NULL, &cfg, &err), 0);
    cfg.window_margin_s = 0;
    struct exposure_deps deps = {cat, st, NULL, agreement_registry(ag), alog, ENV_TEST};
    cr_assert_eq(exposure_new(&cfg, &deps, &ex, &err), 0, "%s", err.log);
    /* everything of every service */
    json_t *all = json_object();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *s = catalog_service_at(cat, i);
        json_t *f = json_array();
        for (size_t k = 0; k < s->n_fields; k++)
            if (!catalog_field_is_key(&s->fields[k]))
                json_array_append_new(f, json_string(s->fields[k].name));
        json_object_set_new(all, s->path, f);
    }
    char *text = json_dumps(all, 0);
    approved(ORG, text, agreement_id);
    free(text);
    json_decref(all);
}

static void world_done(void)
{
    exposure_free(ex);
    audit_close(alog);
    agreement_close(ag);
    cat_done();
    store_close(st);
    fx_rmtree(dir);
}

struct result {
    int rc;
    err_t err;
    struct exposure_answer ans;
    json_t *json;
};

static void call_as(const char *org, const char *agreement, const struct exposure_arg *args,
                    size_t n, const char *svc, struct result *r)
{
    struct token_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.org_cvr, sizeof p.org_cvr, "%s", org);
    snprintf(p.system_id, sizeof p.system_id, "%s", SYS);
    char urn[128];
    snprintf(urn, sizeof urn, AGREEMENT_URN_PREFIX "%s", agreement);
    struct exposure_call c = {.svc = svc_named(svc),
                              .principal = &p,
                              .server_request_id = STR(RID),
                              .has_request_id = true,
                              .request_id = STR(RID),
                              .has_txid = true,
                              .txid = STR("job-1"),
                              .has_agreement = true,
                              .agreement = str_from_cstr(urn),
                              .args = args,
                              .n_args = n,
                              .now_ms = clock_now_ms(),
                              .arena = arena};
    err_clear(&r->err);
    unsigned retry;
    cr_assert_eq(exposure_enter(ex, c.now_ms, &retry, &r->err), 0);
    r->rc = exposure_call(ex, &c, &r->ans, &r->err);
    r->json = NULL;
    if (r->rc != 0) {
        exposure_leave(ex);
        return;
    }
    buf_t body;
    buf_init(&body, 64u << 20);
    if (r->ans.stream) {
        buf_t piece;
        buf_init(&piece, 1u << 20);
        int k;
        do {
            buf_reset(&piece);
            k = exposure_stream_next(r->ans.stream, &piece);
            cr_assert_geq(k, 0);
            buf_append(&body, piece.data, piece.len);
        } while (k == 1);
        buf_free(&piece);
        exposure_stream_free(r->ans.stream);
    } else {
        exposure_leave(ex);
        buf_append_str(&body, r->ans.body);
    }
    json_error_t jerr;
    r->json = json_loadb(body.data, body.len, 0, &jerr);
    cr_assert_not_null(r->json, "not JSON: %s", jerr.text);
    buf_free(&body);
}

/* The log entry of the last call. */
static void last_entry(struct audit_row *row)
{
    struct audit_filter f = {.newest_first = true, .limit = 1};
    struct audit_page page;
    err_t err;
    cr_assert_eq(audit_query(st, &f, NULL, arena, &page, &err), 0, "%s", err.log);
    cr_assert_eq(page.n, 1);
    *row = page.rows[0];
}

TestSuite(exposure_call, .init = world, .fini = world_done, .timeout = 60);

Test(exposure_call, one_subject_current_versions_all_fields_and_the_log_matches)
{
    char cpr[16];
    testdata_person_cpr(&tdo, 3, cpr);
    struct exposure_arg a[] = {{STR("PersonCPRNummer"), str_from_cstr(cpr)}};
    struct result r;
    call_as(ORG, agreement_id, a, 1, "Aarsopgoerelse", &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    json_t *data = json_object_get(r.json, "data");
    cr_assert(json_is_array(data));
    cr_assert_eq(json_array_size(data), 2, "one current version per year (2023, 2024)");
    const struct catalog_service *svc = svc_named("Aarsopgoerelse");
    json_t *rec = json_array_get(data, 0);
    cr_assert_eq(json_object_size(rec), svc->n_fields);
    struct audit_row row;
    last_entry(&row);
    cr_assert_eq(row.outcome, AUDIT_DISCLOSED);
    cr_assert_eq(row.record_count, 2);
    cr_assert_eq(row.n_subjects, 1);
    cr_assert(str_eq_cstr(row.subjects[0].id, cpr));
    cr_assert_eq(row.n_fields, svc->n_fields);
    cr_assert_eq(row.n_periods, 2);
    cr_assert_eq(row.seq, r.ans.audit_seq);
    json_decref(r.json);
}

Test(exposure_call, narrowing_fields_sends_and_logs_only_those_plus_the_keys)
{
    char cpr[16];
    testdata_person_cpr(&tdo, 1, cpr);
    const struct catalog_service *svc = svc_named("Aarsopgoerelse");
    const char *one = NULL;
    size_t keys = 0;
    for (size_t i = 0; i < svc->n_fields; i++) {
        if (catalog_field_is_key(&svc->fields[i]))
            keys++;
        else if (!one && svc->fields[i].role == CATALOG_ROLE_BUSINESS)
            one = svc->fields[i].name;
    }
    struct exposure_arg a[] = {{STR("PersonCPRNummer"), str_from_cstr(cpr)},
                               {STR("IndkomstÅr"), STR("2024")},
                               {STR("Felter"), str_from_cstr(one)}};
    struct result r;
    call_as(ORG, agreement_id, a, 3, "Årsopgørelse", &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    json_t *data = json_object_get(r.json, "data");
    cr_assert_eq(json_array_size(data), 1);
    json_t *rec = json_array_get(data, 0);
    cr_assert_eq(json_object_size(rec), keys + 1);
    cr_assert_not_null(json_object_get(rec, one));
    struct audit_row row;
    last_entry(&row);
    cr_assert_eq(row.n_fields, keys + 1);
    cr_assert_eq(row.n_periods, 1);
    cr_assert(str_eq_cstr(row.periods[0], "2024"));
    json_decref(r.json);
}

Test(exposure_call, nothing_found_is_an_empty_list_and_logged_without_subjects)
{
    struct exposure_arg a[] = {{STR("PersonCPRNummer"), STR("0101701234")}};
    struct result r;
    call_as(ORG, agreement_id, a, 1, "Aarsopgoerelse", &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 0);
    struct audit_row row;
    last_entry(&row);
    cr_assert_eq(row.record_count, 0);
    cr_assert_eq(row.n_subjects, 0);
    json_decref(r.json);
}

Test(exposure_call, a_large_answer_streams_from_the_same_snapshot)
{
    struct exposure_arg a[64];
    char cprs[30][16];
    for (unsigned i = 0; i < 30; i++) {
        testdata_person_cpr(&tdo, i, cprs[i]);
        a[i] = (struct exposure_arg){STR("PersonCPRNummer"), str_from_cstr(cprs[i])};
    }
    struct result r;
    call_as(ORG, agreement_id, a, 30, "Aarsopgoerelse", &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    cr_assert_not_null(r.ans.stream == NULL ? (void *)1 : (void *)1);
    size_t n = json_array_size(json_object_get(r.json, "data"));
    cr_assert_eq((int64_t)n, r.ans.records);
    cr_assert_gt(n, 30);
    struct audit_row row;
    last_entry(&row);
    cr_assert_eq(row.record_count, (int64_t)n);
    cr_assert_eq(row.n_subjects, 30);
    json_decref(r.json);
}

Test(exposure_call, refusals_are_precise_and_logged)
{
    char cpr[16];
    testdata_person_cpr(&tdo, 2, cpr);
    struct exposure_arg a[] = {{STR("PersonCPRNummer"), str_from_cstr(cpr)}};
    struct result r;
    call_as(ORG2, agreement_id, a, 1, "Aarsopgoerelse", &r);
    cr_assert_eq(r.rc, DUPLA_EFORBIDDEN);
    /* Another organisation's id is answered and logged as an unknown one. */
    cr_assert_str_eq(r.err.type, "agreement-not-found");
    char detail[sizeof r.err.detail];
    snprintf(detail, sizeof detail, "%s", r.err.detail);
    struct audit_row row;
    last_entry(&row);
    cr_assert_eq(row.outcome, AUDIT_REFUSED);
    cr_assert_str_eq(row.reason, "agreement-not-found");
    cr_assert_eq(row.n_subjects, 0);

    call_as(ORG, "0123456789abcdef0123456789abcdef", a, 1, "Aarsopgoerelse", &r);
    cr_assert_str_eq(r.err.type, "agreement-not-found");
    cr_assert_str_eq(r.err.detail, detail);

    /* a narrower agreement: one field of Momsangivelse only */
    char narrow[AGREEMENT_ID_LEN + 1];
    approved(ORG, "{\"Aarsopgoerelse\": [\"AngivelseNummer\"]}", narrow);
    (void)narrow;
}

Test(exposure_call, a_field_not_granted_is_refused_with_its_name)
{
    char narrow[AGREEMENT_ID_LEN + 1];
    const struct catalog_service *svc = svc_named("Momsangivelse");
    const char *f1 = NULL, *f2 = NULL;
    for (size_t i = 0; i < svc->n_fields; i++)
        if (svc->fields[i].role == CATALOG_ROLE_BUSINESS) {
            if (!f1)
                f1 = svc->fields[i].name;
            else if (!f2)
                f2 = svc->fields[i].name;
        }
    char services[256];
    snprintf(services, sizeof services, "{\"Momsangivelse\": [\"%s\"]}", f1);
    approved(ORG, services, narrow);
    char se[16];
    testdata_company_se(&tdo, 0, se);
    struct exposure_arg a[] = {{STR("VirksomhedSENummer"), str_from_cstr(se)},
                               {STR("AfregningPeriodeForholdPeriodeStartDato"), STR("2023-01-01")},
                               {STR("AfregningPeriodeForholdPeriodeSlutDato"), STR("2024-12-31")},
                               {STR("Felter"), str_from_cstr(f2)}};
    struct result r;
    call_as(ORG, narrow, a, 4, "Momsangivelse", &r);
    cr_assert_eq(r.rc, DUPLA_EFORBIDDEN);
    cr_assert_str_eq(r.err.type, "field-not-granted");
    cr_assert_str_eq(r.err.param, "Felter");
    cr_assert(strstr(r.err.detail, f2));
    /* without asking: only the granted field (and the keys) */
    call_as(ORG, narrow, a, 3, "Momsangivelse", &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    json_t *data = json_object_get(r.json, "data");
    cr_assert_gt(json_array_size(data), 0);
    size_t i;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        cr_assert_not_null(json_object_get(rec, f1));
        cr_assert_null(json_object_get(rec, f2));
    }
    /* another service: not granted */
    char cpr[16];
    testdata_person_cpr(&tdo, 2, cpr);
    struct exposure_arg b[] = {{STR("PersonCPRNummer"), str_from_cstr(cpr)}};
    json_decref(r.json);
    call_as(ORG, narrow, b, 1, "Aarsopgoerelse", &r);
    cr_assert_str_eq(r.err.type, "service-not-granted");
}

Test(exposure_call, headers_are_checked_before_the_parameters)
{
    struct token_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.org_cvr, sizeof p.org_cvr, "%s", ORG);
    struct exposure_arg a[] = {{STR("Hvem"), STR("x")}};
    struct exposure_call c = {.svc = svc_named("Aarsopgoerelse"),
                              .principal = &p,
                              .server_request_id = STR(RID),
                              .has_request_id = true,
                              .request_id = STR("not-a-uuid"),
                              .args = a,
                              .n_args = 1,
                              .now_ms = clock_now_ms(),
                              .arena = arena};
    struct exposure_answer ans;
    err_t err;
    cr_assert_eq(exposure_call(ex, &c, &ans, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "X-Request-ID");
    c.request_id = STR(RID);
    cr_assert_eq(exposure_call(ex, &c, &ans, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "X-Transaktions-ID");
    c.has_txid = true;
    c.txid = STR("t");
    cr_assert_eq(exposure_call(ex, &c, &ans, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "UFST-Adgangsgrundlag");
    c.has_agreement = true;
    c.agreement = STR("urn:other:1");
    cr_assert_eq(exposure_call(ex, &c, &ans, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "UFST-Adgangsgrundlag");
    c.agreement = STR("urn:ufst:adgangsgrundlag:aftale:abc");
    cr_assert_eq(exposure_call(ex, &c, &ans, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "Hvem");
}

Test(exposure_call, a_registration_window_returns_every_version_in_it)
{
    char se[16];
    testdata_company_se(&tdo, 1, se);
    struct exposure_arg cur[] = {{STR("VirksomhedSENummer"), str_from_cstr(se)}};
    struct result r1, r2;
    call_as(ORG, agreement_id, cur, 1, "Lønsumsangivelser", &r1);
    cr_assert_eq(r1.rc, 0, "%s", r1.err.detail);
    struct exposure_arg win[] = {{STR("VirksomhedSENummer"), str_from_cstr(se)},
                                 {STR("TekniskRegistreringDatoFra"), STR("2000-01-01")}};
    call_as(ORG, agreement_id, win, 2, "Lønsumsangivelser", &r2);
    cr_assert_eq(r2.rc, 0, "%s", r2.err.detail);
    cr_assert_geq(json_array_size(json_object_get(r2.json, "data")),
                  json_array_size(json_object_get(r1.json, "data")));
    cr_assert_neq(r2.ans.window_end[0], 0);
    json_decref(r1.json);
    json_decref(r2.json);
}

Test(exposure_call, a_service_window_and_the_in_flight_limit_answer_503)
{
    unsigned retry = 0;
    err_t err;
    struct exposure_stats s0;
    exposure_stats_get(ex, &s0);
    ex->cfg.max_in_flight = 1;
    cr_assert_eq(exposure_enter(ex, 0, &retry, &err), 0);
    cr_assert_eq(exposure_enter(ex, 0, &retry, &err), DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_str_eq(err.type, PROBLEM_SATURATED);
    cr_assert_geq(retry, 1);
    exposure_leave(ex);
}

static bool in_window(void *ctx, int64_t now, int64_t *retry)
{
    (void)ctx;
    (void)now;
    *retry = 120;
    return true;
}

Test(exposure_call, a_planned_service_window_answers_503_with_its_end)
{
    exposure_set_window_hook(ex, in_window, NULL);
    unsigned retry = 0;
    err_t err;
    cr_assert_eq(exposure_enter(ex, 0, &retry, &err), DUPLA_EBUSY);
    cr_assert_str_eq(err.type, PROBLEM_SERVICE_WINDOW);
    cr_assert_eq(retry, 120);
}

/* ---- every service against the generator's own records (#16) ---- */

static int collect_bytes(void *cls, str_t b)
{
    return buf_append((buf_t *)cls, b.ptr, b.len);
}

/* The current records of svc as the generator delivered them: each
 * delivery's record replaces the earlier one of the same subjects and
 * period (or number). New reference: an array of objects. */
static json_t *generated_current(const struct catalog_service *svc)
{
    json_t *byid = json_object(), *order = json_array();
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
        if (strcmp(testdata_delivery_service(i), svc->path) != 0)
            continue;
        buf_t b;
        buf_init(&b, 64u << 20);
        err_t err;
        cr_assert_eq(testdata_generate(&tdo, i, collect_bytes, &b, &err), 0, "%s", err.detail);
        str_t rest = buf_str(&b), line;
        while (rest.len) {
            str_split(rest, '\n', &line, &rest);
            json_t *rec = json_loadb(line.ptr, line.len, 0, NULL);
            if (!rec || json_object_get(rec, "delivery")) {
                json_decref(rec);
                continue;
            }
            char id[256] = "";
            size_t at = 0;
            for (size_t f = 0; f < svc->n_fields; f++) {
                const struct catalog_field *fd = &svc->fields[f];
                if (!catalog_field_is_key(fd))
                    continue;
                char *v = json_dumps(json_object_get(rec, fd->name), JSON_ENCODE_ANY);
                at += (size_t)snprintf(id + at, sizeof id - at, "%s|", v ? v : "null");
                free(v);
            }
            if (!json_object_get(byid, id))
                json_array_append_new(order, json_string(id));
            json_object_set_new(byid, id, rec);
        }
        buf_free(&b);
    }
    json_t *out = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(order, i, id)
        json_array_append(out, json_object_get(byid, json_string_value(id)));
    json_decref(order);
    json_decref(byid);
    return out;
}

/* One filter of a call: a parameter and its value. */
struct filter {
    const struct catalog_param *p;
    char value[40];
};

static bool passes_filters(const struct catalog_service *svc, json_t *rec, const struct filter *f,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct catalog_param *p = f[i].p;
        if (p->role == CATALOG_PARAM_CODE) {
            const char *v = json_string_value(json_object_get(rec, p->field->name));
            if (!v || strcmp(v, f[i].value) != 0)
                return false;
        } else if (p->role == CATALOG_PARAM_YEAR) {
            const char *name = p->field ? p->field->name : svc->year->name;
            if (json_integer_value(json_object_get(rec, name)) != atoi(f[i].value))
                return false;
        } else if (p->role == CATALOG_PARAM_VALID_FROM) {
            const char *to = json_string_value(json_object_get(rec, svc->valid_to->name));
            if (to && strcmp(to, f[i].value) < 0)
                return false;
        } else if (p->role == CATALOG_PARAM_VALID_TO) {
            const char *from = json_string_value(json_object_get(rec, svc->valid_from->name));
            if (from && strcmp(from, f[i].value) > 0)
                return false;
        }
    }
    return true;
}

/* Asks svc for subject (of subject parameter sp) with the filters, and
 * checks the answer holds exactly the generated records that match, field
 * by field. */
static void exactly(const struct catalog_service *svc, json_t *current,
                    const struct catalog_param *sp, const char *subject, const struct filter *f,
                    size_t n)
{
    struct exposure_arg args[8];
    args[0] = (struct exposure_arg){str_from_cstr(sp->name), str_from_cstr(subject)};
    for (size_t i = 0; i < n; i++)
        args[1 + i] = (struct exposure_arg){str_from_cstr(f[i].p->name), str_from_cstr(f[i].value)};
    const struct catalog_field *sf = svc->subjects[sp->subject_index].field;
    size_t want = 0, i;
    json_t *rec;
    json_array_foreach(current, i, rec)
    {
        const char *v = json_string_value(json_object_get(rec, sf->name));
        if (v && strcmp(v, subject) == 0 && passes_filters(svc, rec, f, n))
            want++;
    }
    struct result r;
    /* a fresh arena per call: this test makes hundreds */
    arena_t *shared = arena;
    arena = arena_new(1 << 20);
    call_as(ORG, agreement_id, args, 1 + n, svc->path, &r);
    arena_free(arena);
    arena = shared;
    cr_assert_eq(r.rc, 0, "%s %s: %s", svc->path, sp->name, r.err.detail);
    json_t *data = json_object_get(r.json, "data");
    cr_assert_eq(json_array_size(data), want, "%s by %s%s%s: %zu records, want %zu", svc->path,
                 sp->name, n ? " and " : "", n ? f[0].p->name : "", json_array_size(data), want);
    /* each record answered is one of the generated ones, every delivered
     * field equal */
    size_t k;
    json_t *got;
    json_array_foreach(data, k, got)
    {
        bool found = false;
        json_array_foreach(current, i, rec)
        {
            const char *key;
            json_t *v;
            bool same = true;
            json_object_foreach(rec, key, v) same =
                same && json_equal(v, json_object_get(got, key));
            if (same) {
                found = true;
                break;
            }
        }
        char *text = json_dumps(got, 0);
        cr_assert(found, "%s answered a record not generated: %s", svc->path, text);
        free(text);
    }
    json_decref(r.json);
}

Test(exposure_call, every_new_service_by_each_subject_kind_with_and_without_each_filter)
{
    static const char *const services[] = {"Kontrolregistreringer/Virksomhed",
                                           "Kontrolobservationer",
                                           "virksomhedskontroloplysninger",
                                           "personkontroloplysninger",
                                           "Ligningssager",
                                           "Selskabsskatteoplysninger/Selskabsambeskatningskreds",
                                           "Selskabsskatteoplysninger/Selskabselvangivelse",
                                           "Virksomhedspligter",
                                           "Virksomhedsstatus"};
    for (size_t s = 0; s < sizeof services / sizeof services[0]; s++) {
        const struct catalog_service *svc = svc_named(services[s]);
        json_t *current = generated_current(svc);
        cr_assert_gt(json_array_size(current), 0, "%s has data", svc->path);
        for (size_t k = 0; k < svc->n_subjects; k++) {
            const struct catalog_param *sp = svc->subjects[k].param;
            const struct catalog_field *sf = svc->subjects[k].field;
            size_t asked = 0, i;
            json_t *rec;
            json_array_foreach(current, i, rec)
            {
                const char *subject = json_string_value(json_object_get(rec, sf->name));
                if (!subject || asked == 3 || i % 2)
                    continue;
                asked++;
                exactly(svc, current, sp, subject, NULL, 0);
                for (size_t p = 0; p < svc->n_params; p++) {
                    const struct catalog_param *fp = &svc->params[p];
                    struct filter f[2] = {{fp, ""}, {NULL, ""}};
                    if (fp->role == CATALOG_PARAM_CODE) {
                        snprintf(f[0].value, sizeof f[0].value, "%s",
                                 json_string_value(json_object_get(rec, fp->field->name)));
                        exactly(svc, current, sp, subject, f, 1);
                        /* a code of the table the record does not have */
                        for (size_t c = 0; c < fp->field->n_codes; c++)
                            if (strcmp(fp->field->codes[c].value, f[0].value) != 0) {
                                snprintf(f[0].value, sizeof f[0].value, "%s",
                                         fp->field->codes[c].value);
                                break;
                            }
                        exactly(svc, current, sp, subject, f, 1);
                    } else if (fp->role == CATALOG_PARAM_YEAR) {
                        const char *name = fp->field ? fp->field->name : svc->year->name;
                        snprintf(f[0].value, sizeof f[0].value, "%lld",
                                 (long long)json_integer_value(json_object_get(rec, name)));
                        exactly(svc, current, sp, subject, f, 1);
                    } else if (fp->role == CATALOG_PARAM_VALID_FROM) {
                        /* the day the record begins, then the valid time before
                         * the data's first year */
                        const struct catalog_param *to =
                            catalog_param_by_role(svc, CATALOG_PARAM_VALID_TO);
                        const char *day =
                            json_string_value(json_object_get(rec, svc->valid_from->name));
                        snprintf(f[0].value, sizeof f[0].value, "%s", day);
                        f[1] = (struct filter){to, ""};
                        snprintf(f[1].value, sizeof f[1].value, "%s", day);
                        exactly(svc, current, sp, subject, f, 2);
                        exactly(svc, current, sp, subject, f, 1);
                        snprintf(f[0].value, sizeof f[0].value, "1950-01-01");
                        snprintf(f[1].value, sizeof f[1].value, "1950-12-31");
                        exactly(svc, current, sp, subject, f, 2);
                        snprintf(f[1].value, sizeof f[1].value, "2023-06-30");
                        exactly(svc, current, sp, subject, &f[1], 1);
                    }
                }
            }
            cr_assert_gt(asked, 0, "%s: a subject by %s", svc->path, sp->name);
        }
        json_decref(current);
    }
}
