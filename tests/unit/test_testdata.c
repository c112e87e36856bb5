/* Unit tests: testdata (the tax arithmetic on hand-checked cases, the
 * deterministic generator, its identifiers, and that what it makes is
 * accepted by ingest and versions as intended). */
#include <criterion/criterion.h>

#include "fixture.h"
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "core/buf.h"
#include "core/ident.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "testdata/routes.h"
#include "testdata/testdata.h"

#define KR(x) ((int64_t)(x)*100)

/* 2024, an employee: every line worked out by hand (see the comments). */
Test(testdata, tax_of_an_employee_2024)
{
    const struct testdata_tax_year *ty = testdata_tax_year(2024);
    cr_assert_not_null(ty);
    struct testdata_income in = {.wage = KR(400000),
                                 .capital = -KR(20000),
                                 .share = KR(10000),
                                 .other_deductions = KR(5000),
                                 .municipal_bp = 2500,
                                 .church_bp = 70,
                                 .church = true};
    struct testdata_tax t;
    testdata_compute_tax(ty, &in, &t);
    cr_assert_eq(t.am, KR(32000));                   /* 8 % of 400,000 */
    cr_assert_eq(t.personal, KR(368000));            /* 400,000 - 32,000 */
    cr_assert_eq(t.employment_deduction, KR(45264)); /* 12.30 % of 368,000 < 55,600 */
    cr_assert_eq(t.deductions, KR(50264));           /* + 5,000 */
    cr_assert_eq(t.taxable, KR(297736));             /* 368,000 - 20,000 - 50,264 */
    cr_assert_eq(t.bottom, 3822783);                 /* (368,000 - 49,700) x 12.01 % = 38,227.83 */
    cr_assert_eq(t.top, 0);                          /* 368,000 is below 588,900 */
    cr_assert_eq(t.municipal, KR(62009));            /* (297,736 - 49,700) x 25 % */
    cr_assert_eq(t.church, 173625);                  /* 248,036 x 0.70 % = 1,736.252 */
    cr_assert_eq(t.share_tax, KR(2700));             /* 27 % of 10,000 */
    cr_assert_eq(t.total, 13667308);
}

/* 2023, a high earner: the tax ceiling cuts the top rate, share income is
 * taxed at both rates. */
Test(testdata, tax_of_a_high_earner_2023)
{
    const struct testdata_tax_year *ty = testdata_tax_year(2023);
    struct testdata_income in = {.wage = KR(1000000),
                                 .capital = KR(10000),
                                 .share = KR(100000),
                                 .municipal_bp = 2600,
                                 .church_bp = 80,
                                 .church = false};
    struct testdata_tax t;
    testdata_compute_tax(ty, &in, &t);
    cr_assert_eq(t.am, KR(80000));
    cr_assert_eq(t.employment_deduction, KR(45600)); /* 10.65 % of 920,000 capped */
    cr_assert_eq(t.taxable, KR(884400));             /* 920,000 + 10,000 - 45,600 */
    cr_assert_eq(t.bottom, 10663380);                /* (930,000 - 48,000) x 12.09 % = 106,633.80 */
    /* top rate 52.07 - 12.09 - 26.00 = 13.98 %: (930,000 - 568,900) x 13.98 % */
    cr_assert_eq(t.top, 5048178);
    cr_assert_eq(t.municipal, KR(217464)); /* (884,400 - 48,000) x 26 % */
    cr_assert_eq(t.church, 0);
    cr_assert_eq(t.share_tax, KR(15903) + KR(17262)); /* 58,900 x 27 % + 41,100 x 42 % */
    cr_assert_eq(t.total, 48774458);
}

Test(testdata, no_tax_below_the_allowance)
{
    struct testdata_income in = {
        .pension = KR(40000), .municipal_bp = 2500, .church_bp = 80, .church = true};
    struct testdata_tax t;
    testdata_compute_tax(testdata_tax_year(2022), &in, &t);
    cr_assert_eq(t.personal, KR(40000));
    cr_assert_eq(t.total, 0);
    cr_assert_null(testdata_tax_year(1999));
}

struct digest {
    gnutls_hash_hd_t h;
    size_t bytes;
};

static int to_hash(void *cls, str_t b)
{
    struct digest *d = cls;
    gnutls_hash(d->h, b.ptr, b.len);
    d->bytes += b.len;
    return 0;
}

static void digest_all(const struct testdata_options *opt, unsigned char out[32], size_t *bytes)
{
    struct digest d = {0};
    cr_assert_eq(gnutls_hash_init(&d.h, GNUTLS_DIG_SHA256), 0);
    err_t err;
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++)
        cr_assert_eq(testdata_generate(opt, i, to_hash, &d, &err), 0, "%s", err.detail);
    gnutls_hash_deinit(d.h, out);
    *bytes = d.bytes;
}

Test(testdata, the_same_seed_gives_the_same_bytes)
{
    struct testdata_options opt = {200, 20, 2023, 2024, 42};
    unsigned char a[32], b[32], c[32];
    size_t na, nb, nc;
    digest_all(&opt, a, &na);
    digest_all(&opt, b, &nb);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, 32), 0);
    opt.seed = 43;
    digest_all(&opt, c, &nc);
    cr_assert_neq(memcmp(a, c, 32), 0);
    /* a delivery does not depend on which were generated before it */
    opt.seed = 42;
    struct digest d1 = {0}, d2 = {0};
    unsigned char x[32], y[32];
    err_t err;
    gnutls_hash_init(&d1.h, GNUTLS_DIG_SHA256);
    cr_assert_eq(testdata_generate(&opt, 6, to_hash, &d1, &err), 0);
    gnutls_hash_deinit(d1.h, x);
    gnutls_hash_init(&d2.h, GNUTLS_DIG_SHA256);
    cr_assert_eq(testdata_generate(&opt, 2, to_hash, &d2, &err), 0);
    cr_assert_eq(testdata_generate(&opt, 6, to_hash, &d2, &err), 0);
    gnutls_hash_deinit(d2.h, y);
    struct digest d3 = {0};
    gnutls_hash_init(&d3.h, GNUTLS_DIG_SHA256);
    cr_assert_eq(testdata_generate(&opt, 6, to_hash, &d3, &err), 0);
    unsigned char z[32];
    gnutls_hash_deinit(d3.h, z);
    cr_assert_eq(memcmp(x, z, 32), 0);
}

Test(testdata, identifiers_are_fictitious_valid_and_unique)
{
    struct testdata_options opt = {60000, 3000, 2023, 2023, 7};
    /* 60,000 persons: more than the birth-date range, so blocks repeat */
    char(*cprs)[11] = calloc(opt.persons, 11);
    for (unsigned p = 0; p < opt.persons; p++) {
        testdata_person_cpr(&opt, p, cprs[p]);
        str_t s = {cprs[p], 10};
        cr_assert(ident_cpr_is_substitute(s), "%s", cprs[p]);
    }
    qsort(cprs, opt.persons, 11, (int (*)(const void *, const void *))strcmp);
    for (unsigned p = 1; p < opt.persons; p++)
        cr_assert_str_neq(cprs[p - 1], cprs[p]);
    free(cprs);
    char prev[9] = "";
    for (unsigned c = 0; c < opt.companies; c++) {
        char cvr[11], se[11];
        testdata_company_cvr(&opt, c, cvr);
        testdata_company_se(&opt, c, se);
        cr_assert(ident_cvr_valid(str_from_cstr(cvr)), "%s", cvr);
        cr_assert_eq(cvr[0], '9');
        cr_assert(ident_se_valid(str_from_cstr(se)));
        cr_assert_gt(strcmp(cvr, prev), 0);
        memcpy(prev, cvr, 9);
    }
    err_t err;
    struct testdata_options bad = {1, 1, 2019, 2024, 1};
    cr_assert_eq(testdata_check_options(&bad, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "years");
}

static int to_buf(void *cls, str_t b)
{
    return buf_append((buf_t *)cls, b.ptr, b.len);
}

/* Every delivery is accepted by ingest in a test deployment; the later
 * ones make second versions; the current read sees them. */
Test(testdata, deliveries_ingest_cleanly_and_correct_as_new_versions)
{
    char dir[] = "/tmp/dupla-testdata-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char url[128], cdir[1024];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(cdir, sizeof cdir, "%s/catalog", root ? root : ".");
    store_t *st;
    catalog_t *cat;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(dataset_migrate(st, &err), 0);
    cr_assert_eq(catalog_load_dir(cdir, &cat, &err), 0);
    struct testdata_options opt = {150, 60, 2022, 2024, 3};
    int64_t later_new = 0;
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
        buf_t b;
        buf_init(&b, 64u << 20);
        cr_assert_eq(testdata_generate(&opt, i, to_buf, &b, &err), 0);
        const struct catalog_service *svc =
            catalog_find(cat, str_from_cstr(testdata_delivery_service(i)));
        cr_assert_not_null(svc);
        struct ingest_source src = {.name = testdata_delivery_file(i), .data = buf_str(&b)};
        struct ingest_options io = {.environment = ENV_TEST};
        struct ingest_result res;
        int rc = ingest_delivery(st, svc, &src, 1, &io, &res, &err);
        if (rc && res.n_problems)
            cr_log_error("%s:%ld: %s: %s", res.problems[0].source, res.problems[0].line,
                         res.problems[0].field, res.problems[0].reason);
        cr_assert_eq(rc, 0, "%s: %s", testdata_delivery_file(i), err.detail);
        cr_assert(res.synthetic);
        cr_assert_eq(res.unchanged, 0, "%s", testdata_delivery_file(i));
        if (i < 3)
            cr_assert_gt(res.new_versions, 0, "%s", testdata_delivery_file(i));
        bool later = (i >= 4 && i < 8) || i >= 17; /* corrections, changes, decisions */
        if (later)
            cr_assert_gt(res.new_versions, 0, "%s", testdata_delivery_file(i));
        if (later)
            later_new += res.new_versions;
        ingest_result_free(&res);
        /* production refuses the same data */
        io.environment = ENV_PRODUCTION;
        cr_assert_eq(ingest_delivery(st, svc, &src, 1, &io, &res, &err), DUPLA_EFORBIDDEN);
        ingest_result_free(&res);
        buf_free(&b);
    }
    cr_assert_gt(later_new, 0);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t v2;
    cr_assert_eq(
        store_query_int64(c, "SELECT count(*) FROM dataset_record WHERE version = 2", 0, &v2, &err),
        0);
    /* a record of a service with several subject kinds is stored under each
     * subject it names (up to three) */
    cr_assert_geq(v2, later_new);
    cr_assert_leq(v2, 3 * later_new);
    store_conn_put(c);
    catalog_free(cat);
    store_close(st);
    fx_rmtree(dir);
}

/* The later deliveries of the corporate tax services amend what the first
 * ones said (#16): each amended line has the key of a first-issue line, the
 * amended return's tax follows from its corrected income, and showcase
 * company 0 is among the amended returns and corrected reports. */
static json_t *delivery_lines(const struct testdata_options *opt, const char *file)
{
    json_t *out = json_array();
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
        if (strcmp(testdata_delivery_file(i), file) != 0)
            continue;
        buf_t b;
        buf_init(&b, 64u << 20);
        err_t err;
        cr_assert_eq(testdata_generate(opt, i, to_buf, &b, &err), 0);
        str_t rest = buf_str(&b), line;
        while (rest.len) {
            str_split(rest, '\n', &line, &rest);
            json_t *j = json_loadb(line.ptr, line.len, 0, NULL);
            if (j && !json_object_get(j, "delivery"))
                json_array_append(out, j);
            json_decref(j);
        }
        buf_free(&b);
    }
    return out;
}

static bool has_key(json_t *lines, json_t *rec, const char *a, const char *b)
{
    size_t i;
    json_t *x;
    json_array_foreach(lines, i, x)
    {
        if (json_equal(json_object_get(x, a), json_object_get(rec, a)) &&
            json_equal(json_object_get(x, b), json_object_get(rec, b)))
            return true;
    }
    return false;
}

Test(testdata, the_corporate_tax_services_have_amended_versions)
{
    struct testdata_options opt = {50, 40, 2022, 2024, 1};
    char cvr0[11];
    testdata_company_cvr(&opt, 0, cvr0);
    struct {
        const char *first, *later, *subject, *year;
    } pairs[] = {
        {"11-Selskabsambeskatningskreds.ndjson",
         "22-Selskabsambeskatningskreds-udtraedelser.ndjson", "VirksomhedCVRNummer",
         "SelskabSelvangivelseIndkomstÅr"},
        {"12-Selskabselvangivelse.ndjson", "23-Selskabselvangivelse-aendringer.ndjson",
         "VirksomhedCVRNummer", "SelskabSelvangivelseIndkomstÅr"},
        {"13-virksomhedskontroloplysninger.ndjson",
         "24-virksomhedskontroloplysninger-rettelser.ndjson", "VirksomhedSENummer",
         "KontrolOplysningRapportIndkomstÅr"},
    };
    for (size_t k = 0; k < 3; k++) {
        json_t *first = delivery_lines(&opt, pairs[k].first);
        json_t *later = delivery_lines(&opt, pairs[k].later);
        cr_assert_gt(json_array_size(later), 0, "%s", pairs[k].later);
        size_t i;
        json_t *x;
        bool showcase = false;
        json_array_foreach(later, i, x)
        {
            cr_assert(has_key(first, x, pairs[k].subject, pairs[k].year), "%s", pairs[k].later);
            cr_assert(!json_equal(x, json_array_get(first, 0)));
            if (strcmp(json_string_value(json_object_get(x, pairs[k].subject)), cvr0) == 0)
                showcase = true;
            if (k == 1) {
                cr_assert_str_eq(json_string_value(json_object_get(x, "SelvangivelseTypeKode")),
                                 "AENDRET");
                json_int_t taxable =
                    json_integer_value(json_object_get(x, "SkattepligtigIndkomst"));
                json_int_t used =
                    json_integer_value(json_object_get(x, "AnvendtUnderskudFremført"));
                json_int_t tax = json_integer_value(json_object_get(x, "Selskabsskat"));
                cr_assert_eq(tax,
                             taxable - used > 0 ? ((taxable - used) * 2200 + 5000) / 10000 : 0);
            }
            if (k == 0)
                cr_assert_not_null(json_object_get(x, "UdtrædelseDato"));
        }
        if (k > 0)
            cr_assert(showcase, "%s: showcase company 0 is amended", pairs[k].later);
        json_decref(first);
        json_decref(later);
    }
}

static int cli(const char *a0, ...)
{
    char *argv[20];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 19; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return cmd_testdata(argc, argv);
}

Test(testdata, the_command_writes_files_and_refuses_production)
{
    char dir[] = "/tmp/dupla-tdcli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char out[128], cfg[128];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(cfg, sizeof cfg, "%s/prod.json", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"environment\":\"production\",\"store\":\"sqlite:p.db\"}", f);
    fclose(f);
    cr_assert_eq(cli("testdata", "--help", NULL), 0);
    cr_assert_eq(cli("testdata", "generate", NULL), 2);
    cr_assert_eq(cli("testdata", "generate", "--persons", "x", "--out", out, NULL), 2);
    cr_assert_eq(cli("testdata", "generate", "--years", "2010-2011", "--out", out, NULL), 2);
    cr_assert_eq(cli("testdata", "generate", "--ingest", NULL), 2);
    cr_assert_eq(cli("testdata", "generate", "--ingest", "--config", cfg, NULL), 5);
    cr_assert_eq(cli("testdata", "generate", "--quiet", "--persons", "5", "--companies", "2",
                     "--years", "2024", "--seed", "9", "--out", out, NULL),
                 0);
    char p[256];
    snprintf(p, sizeof p, "%s/01-Forskudsopgoerelse.ndjson", out);
    cr_assert_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/examples.json", out);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    cr_assert_not_null(j);
    cr_assert_eq(json_array_size(json_object_get(j, "PersonCPRNummer")), 5);
    json_decref(j);
    fx_rmtree(dir);
}

static void count_loaded(void *cls, size_t i, const struct ingest_result *res)
{
    (void)i;
    int *n = cls;
    n[res->status == INGEST_ALREADY ? 1 : 0]++;
}

Test(testdata, load_is_idempotent_and_refused_in_production)
{
    char dir[] = "/tmp/dupla-tdload-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char url[128], cdir[1024];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(cdir, sizeof cdir, "%s/catalog", root ? root : ".");
    store_t *st;
    catalog_t *cat;
    err_t err;
    cr_assert_eq(store_open(url, NULL, &st, &err), 0);
    cr_assert_eq(dataset_migrate(st, &err), 0);
    cr_assert_eq(catalog_load_dir(cdir, &cat, &err), 0);
    struct testdata_options opt = {20, 5, 2024, 2024, 11};
    int n[2] = {0};
    cr_assert_eq(testdata_load(st, cat, &opt, ENV_PRODUCTION, dir, count_loaded, n, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(testdata_load(st, cat, &opt, ENV_TEST, dir, count_loaded, n, &err), 0, "%s",
                 err.detail);
    cr_assert_eq(n[0], TESTDATA_DELIVERIES);
    cr_assert_eq(testdata_load(st, cat, &opt, ENV_TEST, dir, count_loaded, n, &err), 0);
    cr_assert_eq(n[1], TESTDATA_DELIVERIES, "the second load changes nothing");
    catalog_free(cat);
    store_close(st);
    fx_rmtree(dir);
}

/* ---- the test-data search (#20.6): every answer against the generator's
 * own lines, read independently of the store ---- */

static const struct testdata_options search_opt = {40, 30, 2023, 2024, 5};

/* The current lines of a service: the last line of each key (the key
 * fields' values joined), over every delivery of the service in order. */
static json_t *current_lines(const char *service, const char *const *key)
{
    json_t *byid = json_object();
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
        if (strcmp(testdata_delivery_service(i), service) != 0)
            continue;
        json_t *lines = delivery_lines(&search_opt, testdata_delivery_file(i));
        size_t k;
        json_t *x;
        json_array_foreach(lines, k, x)
        {
            char id[256] = "";
            size_t at = 0;
            for (const char *const *f = key; *f; f++) {
                char *v = json_dumps(json_object_get(x, *f), JSON_ENCODE_ANY);
                at += (size_t)snprintf(id + at, sizeof id - at, "%s|", v ? v : "null");
                free(v);
            }
            json_object_set(byid, id, x);
        }
        json_decref(lines);
    }
    return byid;
}

/* Adds s to the sorted set (a JSON object used as a set). */
static void set_add(json_t *set, const char *s)
{
    json_object_set_new(set, s, json_true());
}

static store_t *search_st;
static catalog_t *search_cat;
static char search_dir[FX_DIR_MAX];

static void search_setup(void)
{
    fx_tmpdir(search_dir, "tdsearch");
    search_st = fx_store(search_dir, "t.db");
    search_cat = fx_catalog();
    err_t err;
    cr_assert_eq(dataset_migrate(search_st, &err), 0, "%s", err.log);
    cr_assert_eq(
        testdata_load(search_st, search_cat, &search_opt, ENV_TEST, search_dir, NULL, NULL, &err),
        0, "%s", err.log);
}

static void search_teardown(void)
{
    catalog_free(search_cat);
    store_close(search_st);
    fx_rmtree(search_dir);
}

/* Runs q and checks that its subjects are exactly want's (in subject
 * order, which is the numbers' text order). */
static void expect_hits(struct testdata_query *q, json_t *want, const char *what)
{
    struct testdata_result *res = malloc(sizeof *res);
    err_t err;
    q->limit = TESTDATA_SEARCH_LIMIT_MAX;
    cr_assert_eq(testdata_search(search_st, search_cat, q, res, &err), 0, "%s: %s", what, err.log);
    cr_assert(!res->more && !res->scan_limited, "%s", what);
    cr_assert_eq(res->n, json_object_size(want), "%s: %zu hits, %zu expected", what, res->n,
                 json_object_size(want));
    const char *prev = "";
    for (size_t i = 0; i < res->n; i++) {
        cr_assert_not_null(json_object_get(want, res->hits[i].subject), "%s: %s", what,
                           res->hits[i].subject);
        cr_assert_gt(strcmp(res->hits[i].subject, prev), 0, "%s: subject order", what);
        prev = res->hits[i].subject;
    }
    cr_assert_gt(json_object_size(want), 0,
                 "%s: the generator makes some (a test that could "
                 "fail)",
                 what);
    free(res);
}

Test(testdata_search, persons_by_what_their_assessments_say, .init = search_setup,
     .fini = search_teardown)
{
    static const char *const key[] = {"PersonCPRNummer", "IndkomstÅr", NULL};
    json_t *cur = current_lines("Aarsopgoerelse", key);
    json_t *residual_church = json_object(), *excess_2023 = json_object(), *income = json_object(),
           *no_church = json_object();
    const char *id;
    json_t *x;
    json_object_foreach(cur, id, x)
    {
        const char *cpr = json_string_value(json_object_get(x, "PersonCPRNummer"));
        json_int_t year = json_integer_value(json_object_get(x, "IndkomstÅr"));
        json_int_t personal = json_integer_value(json_object_get(x, "PersonligIndkomst")) / 100;
        bool church = json_is_true(json_object_get(x, "Kirkeskattepligtig"));
        if (year == 2024 && church && json_integer_value(json_object_get(x, "Restskat")) > 0)
            set_add(residual_church, cpr);
        if (year == 2023 && json_integer_value(json_object_get(x, "OverskydendeSkat")) > 0)
            set_add(excess_2023, cpr);
        if (personal >= 200000 && personal <= 400000)
            set_add(income, cpr);
        if (!church)
            set_add(no_church, cpr);
    }
    struct testdata_query q = {.kind = TESTDATA_PERSON,
                               .year = 2024,
                               .residual_tax = TESTDATA_YES,
                               .church_tax = TESTDATA_YES};
    expect_hits(&q, residual_church, "residual and church tax in 2024");
    q = (struct testdata_query){.kind = TESTDATA_PERSON, .year = 2023, .excess_tax = TESTDATA_YES};
    expect_hits(&q, excess_2023, "excess tax in 2023");
    q = (struct testdata_query){.kind = TESTDATA_PERSON,
                                .income_min_set = true,
                                .income_min = 200000,
                                .income_max_set = true,
                                .income_max = 400000};
    expect_hits(&q, income, "personal income 200,000-400,000 in any year");
    q = (struct testdata_query){.kind = TESTDATA_PERSON, .church_tax = TESTDATA_NO};
    expect_hits(&q, no_church, "no church tax");
    /* a service that must have data: the persons with control observations */
    static const char *const okey[] = {"PersonCPRNummer", "KontrolobservationNummer", NULL};
    json_t *obs = current_lines("Kontrolobservationer", okey), *with_obs = json_object();
    json_object_foreach(obs, id, x)
        set_add(with_obs, json_string_value(json_object_get(x, "PersonCPRNummer")));
    q = (struct testdata_query){.kind = TESTDATA_PERSON, .n_services = 1};
    q.services[0] = catalog_find(search_cat, STR("Kontrolobservationer"));
    expect_hits(&q, with_obs, "persons with control observations");
    /* the limit, and "more" */
    struct testdata_result *res = malloc(sizeof *res);
    err_t err;
    q = (struct testdata_query){.kind = TESTDATA_PERSON, .limit = 3};
    cr_assert_eq(testdata_search(search_st, search_cat, &q, res, &err), 0);
    cr_assert_eq(res->n, 3);
    cr_assert(res->more);
    q.limit = 0;
    cr_assert_eq(testdata_search(search_st, search_cat, &q, res, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "limit");
    free(res);
    json_decref(cur);
    json_decref(obs);
    json_decref(with_obs);
    json_decref(residual_church);
    json_decref(excess_2023);
    json_decref(income);
    json_decref(no_church);
}

Test(testdata_search, companies_by_status_obligations_and_groups, .init = search_setup,
     .fini = search_teardown)
{
    static const char *const skey[] = {"VirksomhedCVRNummer", "VirksomhedStatusNummer", NULL};
    json_t *statuses = current_lines("Virksomhedsstatus", skey);
    json_t *by_status[7] = {0};
    for (int i = 0; i < 7; i++)
        by_status[i] = json_object();
    const char *id;
    json_t *x;
    json_object_foreach(statuses, id, x)
    {
        if (json_object_get(x, "VirksomhedStatusGyldigTilDato"))
            continue;
        int code = atoi(json_string_value(json_object_get(x, "VirksomhedStatusTypeKode")));
        cr_assert(code >= 1 && code <= 6);
        set_add(by_status[code], json_string_value(json_object_get(x, "VirksomhedCVRNummer")));
    }
    static const char *const dkey[] = {"VirksomhedCVRNummer", "VirksomhedSENummer",
                                       "RegistreringForholdNummer", NULL};
    json_t *duties = current_lines("Virksomhedspligter", dkey), *vat = json_object(),
           *no_vat = json_object();
    json_object_foreach(
        duties, id, x) if (strcmp(json_string_value(json_object_get(x, "PligtKode")), "1") == 0 &&
                           !json_object_get(x, "RegistreringForholdGyldigTilDato"))
        set_add(vat, json_string_value(json_object_get(x, "VirksomhedCVRNummer")));
    for (unsigned c = 0; c < search_opt.companies; c++) {
        char cvr[11];
        testdata_company_cvr(&search_opt, c, cvr);
        if (!json_object_get(vat, cvr))
            set_add(no_vat, cvr);
    }
    static const char *const gkey[] = {"VirksomhedCVRNummer", "SelskabSelvangivelseIndkomstÅr",
                                       NULL};
    json_t *groups = current_lines("Selskabsskatteoplysninger/Selskabsambeskatningskreds", gkey);
    json_t *joint = json_object();
    json_object_foreach(groups, id, x) if (json_integer_value(json_object_get(
                                               x, "SelskabSelvangivelseIndkomstÅr")) == 2024)
        set_add(joint, json_string_value(json_object_get(x, "VirksomhedCVRNummer")));
    struct testdata_query q = {.kind = TESTDATA_COMPANY, .status = 1};
    expect_hits(&q, by_status[1], "active companies");
    json_t *ended = json_object();
    for (int s = 2; s <= 6; s++)
        json_object_update(ended, by_status[s]);
    cr_assert_gt(json_object_size(ended), 0);
    for (int s = 2; s <= 6; s++) {
        if (json_object_size(by_status[s]) == 0)
            continue;
        q = (struct testdata_query){.kind = TESTDATA_COMPANY, .status = s};
        expect_hits(&q, by_status[s], "companies by status");
    }
    q = (struct testdata_query){.kind = TESTDATA_COMPANY, .vat = TESTDATA_YES};
    expect_hits(&q, vat, "companies with a VAT obligation");
    q = (struct testdata_query){.kind = TESTDATA_COMPANY, .vat = TESTDATA_NO};
    expect_hits(&q, no_vat, "companies without (their obligations ended)");
    q = (struct testdata_query){
        .kind = TESTDATA_COMPANY, .year = 2024, .joint_taxation = TESTDATA_YES};
    expect_hits(&q, joint, "joint taxation members in 2024");
    q.n_services = 1;
    q.services[0] = catalog_find(search_cat, STR("Selskabsskatteoplysninger/Selskabselvangivelse"));
    expect_hits(&q, joint, "members have corporate tax returns (they are corporations)");
    for (int i = 0; i < 7; i++)
        json_decref(by_status[i]);
    json_decref(ended);
    json_decref(statuses);
    json_decref(duties);
    json_decref(vat);
    json_decref(no_vat);
    json_decref(groups);
    json_decref(joint);
}

/* A change recomputes a stored assessment from its own fields: with
 * nothing changed, those fields give back the stored taxes exactly (so a
 * re-assessment follows the generator's rules, not an approximation). */
Test(testdata, a_stored_assessment_recomputes_from_its_fields)
{
    static const char *const key[] = {"PersonCPRNummer", "IndkomstÅr", NULL};
    json_t *cur = current_lines("Aarsopgoerelse", key);
    cr_assert_gt(json_object_size(cur), 0);
    const char *id;
    json_t *x;
    json_object_foreach(cur, id, x)
    {
        int municipal, church;
        cr_assert_eq(testdata_municipality_rates(
                         json_string_value(json_object_get(x, "KommuneKode")), &municipal, &church),
                     0);
        struct testdata_income in = {
            .wage = json_integer_value(json_object_get(x, "LønIndkomst")),
            .transfer = json_integer_value(json_object_get(x, "OverførselsIndkomst")),
            .pension = json_integer_value(json_object_get(x, "PensionIndkomst")),
            .capital = json_integer_value(json_object_get(x, "KapitalIndkomstNetto")),
            .share = json_integer_value(json_object_get(x, "AktieIndkomst")),
            .other_deductions = json_integer_value(json_object_get(x, "LigningsmæssigeFradrag")) -
                                json_integer_value(json_object_get(x, "Beskæftigelsesfradrag")),
            .municipal_bp = municipal,
            .church_bp = church,
            .church = json_is_true(json_object_get(x, "Kirkeskattepligtig"))};
        struct testdata_tax t;
        testdata_compute_tax(
            testdata_tax_year((int)json_integer_value(json_object_get(x, "IndkomstÅr"))), &in, &t);
        cr_assert_eq(t.total, json_integer_value(json_object_get(x, "SkatIAlt")), "%s", id);
        cr_assert_eq(t.taxable, json_integer_value(json_object_get(x, "SkattepligtigIndkomst")));
    }
    cr_assert_eq(testdata_municipality_rates("999", &(int){0}, &(int){0}), -1);
    json_decref(cur);
}

/* A person made to order is the generator's person with the properties
 * asked for, found by the search as such, and the next one gets the next
 * number (#20.6). */
Test(testdata_search, persons_made_to_order, .init = search_setup, .fini = search_teardown)
{
    err_t err;
    char a[11], b[11];
    int from, to;
    struct testdata_person_spec spec = {.church_tax = TESTDATA_YES,
                                        .residual_tax = TESTDATA_YES,
                                        .income_set = true,
                                        .income = 450000};
    cr_assert_eq(testdata_create(search_st, search_cat, ENV_PRODUCTION, &spec, a, &from, &to, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(testdata_create(search_st, search_cat, ENV_TEST, &spec, a, &from, &to, &err), 0,
                 "%s", err.log);
    cr_assert_eq(to - from + 1, TESTDATA_CREATE_YEARS);
    struct testdata_options o = {.seed = TESTDATA_CREATE_SEED};
    char want[11];
    testdata_person_cpr(&o, TESTDATA_CREATED_FIRST, want);
    cr_assert_str_eq(a, want, "the first created person has the first created number");
    spec = (struct testdata_person_spec){.church_tax = TESTDATA_NO, .residual_tax = TESTDATA_NO};
    cr_assert_eq(testdata_create(search_st, search_cat, ENV_TEST, &spec, b, &from, &to, &err), 0,
                 "%s", err.log);
    testdata_person_cpr(&o, TESTDATA_CREATED_FIRST + 1, want);
    cr_assert_str_eq(b, want);
    /* every year of each says what was asked */
    struct testdata_result *res = malloc(sizeof *res);
    for (int y = from; y <= to; y++) {
        struct testdata_query q = {.kind = TESTDATA_PERSON,
                                   .year = y,
                                   .residual_tax = TESTDATA_YES,
                                   .church_tax = TESTDATA_YES,
                                   .limit = TESTDATA_SEARCH_LIMIT_MAX};
        cr_assert_eq(testdata_search(search_st, search_cat, &q, res, &err), 0);
        bool found = false;
        for (size_t i = 0; i < res->n; i++)
            if (strcmp(res->hits[i].subject, a) == 0) {
                found = true;
                cr_assert_eq(res->hits[i].income / 100, 450000 - 450000 * 8 / 100,
                             "the wage less AM-bidrag");
            }
        cr_assert(found, "%s: residual and church tax in %d", a, y);
        q = (struct testdata_query){.kind = TESTDATA_PERSON,
                                    .year = y,
                                    .excess_tax = TESTDATA_YES,
                                    .church_tax = TESTDATA_NO,
                                    .limit = TESTDATA_SEARCH_LIMIT_MAX};
        cr_assert_eq(testdata_search(search_st, search_cat, &q, res, &err), 0);
        found = false;
        for (size_t i = 0; i < res->n; i++)
            found = found || strcmp(res->hits[i].subject, b) == 0;
        cr_assert(found, "%s: excess tax, no church tax in %d", b, y);
    }
    free(res);
    /* the members, read as the API and the page read them */
    cr_assert_eq(testdata_person_spec_from("true", "true", "true", "", &spec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "excess_tax");
    cr_assert_eq(testdata_person_spec_from("", "true", "", "5000", &spec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "income");
    cr_assert_eq(testdata_person_spec_from("ja", "", "", "", &spec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "church_tax");
    cr_assert_eq(testdata_person_spec_from("", "", "true", "300000", &spec, &err), 0);
    cr_assert_eq(spec.residual_tax, TESTDATA_NO);
}
