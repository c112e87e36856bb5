/* Unit tests: ingest (deliveries: validation with lines, all-or-nothing,
 * --skip-invalid, idempotent re-delivery, versioning, environments) and the
 * dupla ingest command's exit statuses. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "core/problem.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "ingest/internal.h"
#include "fixture.h"
#include "store/store.h"

static char dir[FX_DIR_MAX];
static store_t *st;
static catalog_t *cat;
static const struct catalog_service *aar, *moms;

static void setup(void)
{
    fx_tmpdir(dir, "ingest");
    st = fx_store(dir, "t.db");
    err_t err;
    cr_assert_eq(dataset_migrate(st, &err), 0, "%s", err.detail);
    cat = fx_catalog();
    aar = catalog_find(cat, STR("Aarsopgoerelse"));
    moms = catalog_find(cat, STR("Momsangivelse"));
}

static void teardown(void)
{
    catalog_free(cat);
    store_close(st);
    fx_rmtree(dir);
}

TestSuite(ingest, .init = setup, .fini = teardown);

/* A valid Årsopgørelse line for cpr and year; tax is the total tax. */
static char *aar_line(char *out, size_t cap, const char *cpr, int year, long tax)
{
    snprintf(out, cap,
             "{\"PersonCPRNummer\":\"%s\",\"IndkomstÅr\":%d,\"ÅrsopgørelseDato\":\"%d-03-15\","
             "\"PersonligIndkomst\":36800000,\"LønIndkomst\":40000000,\"OverførselsIndkomst\":0,"
             "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":-2000000,"
             "\"LigningsmæssigeFradrag\":5026400,\"Beskæftigelsesfradrag\":4526400,"
             "\"SkattepligtigIndkomst\":29773600,\"AktieIndkomst\":1000000,\"AMBidrag\":3200000,"
             "\"Bundskat\":3822783,\"Topskat\":0,\"Kommuneskat\":6200900,\"Kirkeskat\":173625,"
             "\"AktieIndkomstSkat\":270000,\"SkatIAlt\":%ld,\"IndeholdtSkat\":13000000,"
             "\"Restskat\":667308,\"OverskydendeSkat\":0,\"KommuneKode\":\"101\","
             "\"Kirkeskattepligtig\":true}",
             cpr, year, year + 1, tax);
    return out;
}

struct delivery {
    char text[16384];
};

static void add(struct delivery *d, const char *line)
{
    strcat(d->text, line);
    strcat(d->text, "\n");
}

static int run(const struct catalog_service *svc, const char *text, struct ingest_options *opt,
               struct ingest_result *res, err_t *err)
{
    struct ingest_source src = {.name = "d.ndjson", .data = str_from_cstr(text)};
    err_clear(err);
    return ingest_delivery(st, svc, &src, 1, opt, res, err);
}

static int64_t count_records(void)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t n;
    cr_assert_eq(store_query_int64(c, "SELECT count(*) FROM dataset_record", 0, &n, &err), 0);
    store_conn_put(c);
    return n;
}

Test(ingest, versions_unchanged_and_idempotent_redelivery)
{
    struct delivery d = {0};
    char l[2048];
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 13667308));
    add(&d, aar_line(l, sizeof l, "0101901234", 2024, 14000000));
    add(&d, aar_line(l, sizeof l, "6102855678", 2024, 9000000));
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true, .now_ms = 1000};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.status, INGEST_ACCEPTED);
    cr_assert_eq(res.records, 3);
    cr_assert_eq(res.new_versions, 3);
    cr_assert(strncmp(res.delivery_id, "sha256:", 7) == 0);
    char first_id[sizeof res.delivery_id];
    strcpy(first_id, res.delivery_id);
    ingest_result_free(&res);

    /* the same content again: recognised by its id, nothing changes */
    opt.now_ms = 2000;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.status, INGEST_ALREADY);
    cr_assert_str_eq(res.delivery_id, first_id);
    cr_assert_eq(res.new_versions, 3, "the first delivery's counts");
    cr_assert_eq(count_records(), 3);
    ingest_result_free(&res);

    /* one record changed, one identical: a new version and an unchanged */
    struct delivery d2 = {0};
    add(&d2, aar_line(l, sizeof l, "0101901234", 2023, 13667309));
    add(&d2, aar_line(l, sizeof l, "0101901234", 2024, 14000000));
    cr_assert_eq(run(aar, d2.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.new_versions, 1);
    cr_assert_eq(res.unchanged, 1);
    cr_assert_eq(count_records(), 4);
    ingest_result_free(&res);

    /* a known id with other content is refused */
    opt.delivery_id = first_id;
    cr_assert_eq(run(aar, d2.text, &opt, &res, &err), DUPLA_ECONFLICT);
    cr_assert_eq(res.status, INGEST_REFUSED);
    cr_assert(err_is(&err, PROBLEM_DELIVERY_ID_REUSED), "%s", err.type);
    cr_assert_str_eq(err.param, "delivery-id");
    ingest_result_free(&res);
    /* an explicit id, then the same id again */
    opt.delivery_id = "source-42";
    add(&d2, aar_line(l, sizeof l, "0101901234", 2022, 1));
    cr_assert_eq(run(aar, d2.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.new_versions, 1);
    ingest_result_free(&res);
    cr_assert_eq(run(aar, d2.text, &opt, &res, &err), 0);
    cr_assert_eq(res.status, INGEST_ALREADY);
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 5);

    /* the current version is the newest */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t v;
    cr_assert_eq(store_query_int64(c, "SELECT max(version) FROM dataset_record", 0, &v, &err), 0);
    cr_assert_eq(v, 2);
    store_conn_put(c);
}

/* Expects problem n to be at line with field and a reason containing needle. */
static void expect_problem(const struct ingest_result *res, long line, const char *field,
                           const char *needle)
{
    for (size_t i = 0; i < res->n_problems; i++) {
        const struct ingest_problem *p = &res->problems[i];
        if (p->line == line && strcmp(p->field, field) == 0 && strstr(p->reason, needle)) {
            cr_assert_str_eq(p->source, "d.ndjson");
            return;
        }
    }
    for (size_t i = 0; i < res->n_problems; i++)
        fprintf(stderr, "  %ld %s: %s\n", res->problems[i].line, res->problems[i].field,
                res->problems[i].reason);
    cr_assert_fail("no problem at line %ld, field '%s', with '%s'", line, field, needle);
}

static void replace(char *s, const char *from, const char *to)
{
    char *p = strstr(s, from);
    cr_assert_not_null(p, "%s", from);
    char tail[4096];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    sprintf(p, "%s%s", to, tail);
}

Test(ingest, every_validation_error_names_line_field_and_reason)
{
    struct delivery d = {0};
    char l[2048];
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 1)); /* 1: fine */
    add(&d, "{\"PersonCPRNummer\": oops}");                /* 2: malformed */
    add(&d, "[1, 2]");                                     /* 3: not an object */
    aar_line(l, sizeof l, "0201901234", 2023, 1);
    replace(l, "\"Topskat\":0", "\"Topskat\":0,\"Formue\":5");
    add(&d, l); /* 4: unknown field */
    aar_line(l, sizeof l, "0301901234", 2023, 1);
    replace(l, "\"Topskat\":0", "\"Topskat\":\"0\"");
    add(&d, l);                                            /* 5: wrong type */
    add(&d, aar_line(l, sizeof l, "3201901234", 2023, 1)); /* 6: invalid CPR */
    aar_line(l, sizeof l, "0401901234", 2023, 1);
    replace(l, "2024-03-15", "2024-02-30");
    add(&d, l); /* 7: impossible date */
    aar_line(l, sizeof l, "0501901234", 2023, 1);
    replace(l, "\"Topskat\":0", "\"Topskat\":0,\"Topskat\":1");
    add(&d, l);                                            /* 8: duplicate JSON key */
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 2)); /* 9: same key as line 1 */
    aar_line(l, sizeof l, "0601901234", 2023, 1);
    replace(l, "\"Restskat\":667308,", "");
    add(&d, l); /* 10: missing required field */
    aar_line(l, sizeof l, "0701901234", 2023, 1);
    replace(l, "\"101\"", "\"999\"");
    add(&d, l); /* 11: bad code */
    aar_line(l, sizeof l, "0801901234", 2023, 1);
    replace(l, "\"Topskat\":0", "\"Topskat\":0,\"ÅrsopgørelseNummer\":3");
    add(&d, l);                                            /* 12: platform field */
    add(&d, aar_line(l, sizeof l, "0901901234", 1850, 1)); /* 13: year out of range */
    aar_line(l, sizeof l, "1001901234", 2023, 1);
    replace(l, "\"Bundskat\":3822783", "\"Bundskat\":38227.83");
    add(&d, l); /* 14: amount with decimals */
    add(&d, "");
    add(&d, "   "); /* 15, 16: blank lines are skipped */

    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), DUPLA_EINVAL);
    cr_assert_eq(res.status, INGEST_REJECTED);
    cr_assert_eq(res.records, 14);
    cr_assert_eq(res.rejected, 13);
    cr_assert_eq(res.new_versions, 0);
    expect_problem(&res, 2, "", "malformed JSON at column");
    expect_problem(&res, 3, "", "a record is a JSON object");
    expect_problem(&res, 4, "Formue", "unknown field");
    expect_problem(&res, 5, "Topskat", "integer amount in øre");
    expect_problem(&res, 6, "PersonCPRNummer", "valid CPR number");
    expect_problem(&res, 7, "ÅrsopgørelseDato", "real calendar date");
    expect_problem(&res, 8, "", "duplicate object key");
    expect_problem(&res, 9, "PersonCPRNummer", "same subject and period as line 1");
    expect_problem(&res, 10, "Restskat", "is required");
    expect_problem(&res, 11, "KommuneKode", "\"999\" is not one of its codes");
    expect_problem(&res, 12, "ÅrsopgørelseNummer", "set by the platform");
    expect_problem(&res, 13, "IndkomstÅr", "income year from 1900");
    expect_problem(&res, 14, "Bundskat", "integer amount");
    /* all or nothing: the store is as it was, the valid line 1 included */
    cr_assert_eq(count_records(), 0);
    /* the CPR number itself is never in a message */
    for (size_t i = 0; i < res.n_problems; i++)
        cr_assert_null(strstr(res.problems[i].reason, "3201901234"));
    ingest_result_free(&res);

    /* the problem list is bounded, the count is not */
    opt.max_problems = 3;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), DUPLA_EINVAL);
    cr_assert_eq(res.n_problems, 3);
    cr_assert_eq(res.n_problems_total, 13);
    ingest_result_free(&res);
}

/* ingest's own reader of flat lines (flat.c): what it takes, and what it
 * leaves to jansson. */
Test(ingest, the_flat_reader_takes_plain_objects_and_leaves_the_rest)
{
    static struct ingest_flat f;
    cr_assert(ingest_flat_read(STR(" {\t\"a\" : \"x\u00e6\" , \"b\":-12,\"c\":1.5e2,\"d\":true,"
                                   "\"e\":false,\"f\":null,\"g\":-0,\"h\":1e-400}\r "),
                               &f));
    cr_assert_eq(f.n, 8);
    cr_assert(str_eq_cstr(f.m[0].key, "a"));
    cr_assert_eq(f.m[0].v.kind, CATALOG_JSON_STRING);
    cr_assert(str_eq_cstr(f.m[0].v.s, "x\u00e6"));
    cr_assert_eq(f.m[1].v.kind, CATALOG_JSON_INTEGER);
    cr_assert_eq(f.m[1].v.i, -12);
    cr_assert_eq(f.m[2].v.kind, CATALOG_JSON_REAL);
    cr_assert_eq(f.m[2].v.d, 150.0);
    cr_assert_eq(f.m[3].v.kind, CATALOG_JSON_BOOLEAN);
    cr_assert_eq(f.m[3].v.i, 1);
    cr_assert_eq(f.m[4].v.i, 0);
    cr_assert_eq(f.m[5].v.kind, CATALOG_JSON_NULL);
    cr_assert_eq(f.m[6].v.kind, CATALOG_JSON_INTEGER);
    cr_assert_eq(f.m[7].v.kind, CATALOG_JSON_REAL); /* underflow: 0, as jansson reads it */
    cr_assert(ingest_flat_read(STR("{}"), &f));
    cr_assert_eq(f.n, 0);
    /* left to jansson: each is refused by it, or needs its tree or its
     * escapes */
    static const char *const other[] = {
        "",
        "[1]",
        "{\"a\":[1]}",
        "{\"a\":{}}",
        "{\"a\":\"\\u0031\"}",
        "{\"a\\n\":1}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":9223372036854775808}",
        "{\"a\":1e400}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\xc3\x28\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":1",
        "{'a':1}",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        cr_assert_not(ingest_flat_read(str_from_cstr(other[i]), &f), "took %s", other[i]);
    /* more members than it holds */
    char big[8192] = "{";
    for (int i = 0; i <= INGEST_FLAT_MAX; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\":1", i ? "," : "", i);
    strcat(big, "}");
    cr_assert_not(ingest_flat_read(str_from_cstr(big), &f));
}

/* A line with escapes (read by jansson) and the same line without (read
 * by flat.c) are the same record: the second delivery changes nothing. */
Test(ingest, a_record_is_the_same_whichever_reader_read_it)
{
    char l[2048], text[4096];
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true};
    struct ingest_result res;
    err_t err;
    aar_line(l, sizeof l, "0101901234", 2023, 1);
    replace(l, "\"101\"", "\"\\u0031\\u00301\"");
    snprintf(text, sizeof text, "%s\n", l);
    cr_assert_eq(run(aar, text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.new_versions, 1);
    ingest_result_free(&res);
    snprintf(text, sizeof text, "%s\n", aar_line(l, sizeof l, "0101901234", 2023, 1));
    cr_assert_eq(run(aar, text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.unchanged, 1);
    cr_assert_eq(res.new_versions, 0);
    ingest_result_free(&res);
}

/* Records are stored in runs sorted by key (INGEST_SORT_RUN): a delivery
 * out of key order stores every record, and what is found only while
 * storing (a withdrawal of nothing) still names its own line. */
Test(ingest, a_delivery_out_of_key_order_keeps_its_lines_and_counts)
{
    static const char *const cpr[] = {"3112895678", "2505871234", "1003901234", "0101901234"};
    struct delivery d = {0};
    char l[2048];
    for (int i = 0; i < 4; i++)
        add(&d, aar_line(l, sizeof l, cpr[i], 2023, 1000 + i));
    add(&d, "{\"withdraw\":true,\"PersonCPRNummer\":\"0202901234\",\"IndkomstÅr\":2023}");
    add(&d, aar_line(l, sizeof l, "0101901234", 2022, 7));
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true, .skip_invalid = true};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.status, INGEST_PARTIAL);
    cr_assert_eq(res.records, 6);
    cr_assert_eq(res.new_versions, 5);
    cr_assert_eq(res.rejected, 1);
    expect_problem(&res, 5, "PersonCPRNummer", "nothing to withdraw");
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 5);
}

Test(ingest, periods_and_long_lines)
{
    char text[200000];
    snprintf(text, sizeof text,
             "{\"VirksomhedSENummer\":\"12345678\",\"VirksomhedCVRNummer\":\"10000009\","
             "\"AfregningPeriodeForholdPeriodeStartDato\":\"2024-03-31\","
             "\"AfregningPeriodeForholdPeriodeSlutDato\":\"2024-01-01\"}\n{\"x\":\"");
    size_t n = strlen(text);
    memset(text + n, 'a', INGEST_MAX_LINE_BYTES + 10);
    strcpy(text + n + INGEST_MAX_LINE_BYTES + 10, "\"}\n");
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(moms, text, &opt, &res, &err), DUPLA_EINVAL);
    expect_problem(&res, 1, "AfregningPeriodeForholdPeriodeSlutDato", "ends before it starts");
    expect_problem(&res, 2, "", "longer than");
    ingest_result_free(&res);
}

struct rejects {
    int n;
    long lines[8];
};

static int on_reject(void *cls, const struct ingest_problem *p, str_t line)
{
    struct rejects *r = cls;
    cr_assert_gt(line.len, 0);
    r->lines[r->n++] = p->line;
    return 0;
}

Test(ingest, skip_invalid_stores_the_valid_lines)
{
    struct delivery d = {0};
    char l[2048];
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 1));
    add(&d, "{broken");
    add(&d, aar_line(l, sizeof l, "0201901234", 2023, 1));
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 2));
    struct rejects rj = {0};
    struct ingest_options opt = {.environment = ENV_TEST,
                                 .synthetic = true,
                                 .skip_invalid = true,
                                 .reject = on_reject,
                                 .reject_cls = &rj};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.status, INGEST_PARTIAL);
    cr_assert_eq(res.new_versions, 2);
    cr_assert_eq(res.rejected, 2);
    cr_assert_eq(rj.n, 2);
    cr_assert_eq(rj.lines[0], 2);
    cr_assert_eq(rj.lines[1], 4);
    cr_assert_eq(count_records(), 2);
    ingest_result_free(&res);
}

Test(ingest, environments_refuse_the_wrong_data)
{
    char l[2048];
    struct delivery marked = {0}, plain = {0};
    add(&marked, "{\"delivery\":{\"synthetic\":true,\"generator\":\"test\"}}");
    add(&marked, aar_line(l, sizeof l, "6101901234", 2023, 1));
    add(&plain, aar_line(l, sizeof l, "6101901234", 2023, 1));
    struct ingest_options opt = {.environment = ENV_PRODUCTION};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, marked.text, &opt, &res, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(res.status, INGEST_REFUSED);
    cr_assert(strstr(err.detail, "production") != NULL, "%s", err.detail);
    ingest_result_free(&res);
    opt.synthetic = true;
    cr_assert_eq(run(aar, plain.text, &opt, &res, &err), DUPLA_EFORBIDDEN);
    ingest_result_free(&res);
    opt.environment = ENV_TEST;
    opt.synthetic = false;
    cr_assert_eq(run(aar, plain.text, &opt, &res, &err), DUPLA_EFORBIDDEN);
    cr_assert(strstr(err.detail, "test deployment") != NULL, "%s", err.detail);
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 0);
    /* the header marks it: line 2 is the record */
    cr_assert_eq(run(aar, marked.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert(res.synthetic);
    cr_assert_eq(res.records, 1);
    ingest_result_free(&res);
    /* production takes unmarked data */
    opt.environment = ENV_PRODUCTION;
    struct delivery other = {0};
    add(&other, aar_line(l, sizeof l, "0101901234", 2024, 1));
    cr_assert_eq(run(aar, other.text, &opt, &res, &err), 0, "%s", err.detail);
    ingest_result_free(&res);
    /* sources disagreeing about being synthetic */
    struct ingest_source two[] = {{.name = "a", .data = str_from_cstr(marked.text)},
                                  {.name = "b", .data = str_from_cstr(plain.text)}};
    opt.environment = ENV_TEST;
    cr_assert_eq(ingest_delivery(st, aar, two, 2, &opt, &res, &err), DUPLA_EFORBIDDEN);
    cr_assert(strstr(err.detail, "synthetic as a whole") != NULL, "%s", err.detail);
    ingest_result_free(&res);
}

Test(ingest, limits_and_sources)
{
    struct delivery d = {0};
    char l[2048];
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 1));
    add(&d, aar_line(l, sizeof l, "0201901234", 2023, 1));
    add(&d, aar_line(l, sizeof l, "0301901234", 2023, 1));
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true, .max_records = 2};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), DUPLA_ELIMIT);
    cr_assert_eq(count_records(), 0);
    ingest_result_free(&res);

    /* a file and the same bytes in memory are the same delivery */
    char path[128];
    snprintf(path, sizeof path, "%s/d.ndjson", dir);
    FILE *f = fopen(path, "w");
    fputs(d.text, f);
    fclose(f);
    opt.max_records = 0;
    struct ingest_source file = {.name = "d.ndjson", .path = path};
    cr_assert_eq(ingest_delivery(st, aar, &file, 1, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.new_versions, 3);
    ingest_result_free(&res);
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0);
    cr_assert_eq(res.status, INGEST_ALREADY);
    ingest_result_free(&res);
    /* a duplicate across two files of one delivery */
    struct ingest_source both[] = {{.name = "a.ndjson", .path = path},
                                   {.name = "b.ndjson", .path = path}};
    cr_assert_eq(ingest_delivery(st, aar, both, 2, &opt, &res, &err), DUPLA_EINVAL);
    cr_assert_eq(res.problems[0].line, 1);
    cr_assert_str_eq(res.problems[0].source, "b.ndjson");
    ingest_result_free(&res);
}

/* ---- the command ---- */

static int cli(const char *a0, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return cmd_ingest(argc, argv);
}

Test(ingest, command_exit_statuses)
{
    char cfg[128], good[128], bad[128], rej[128];
    snprintf(cfg, sizeof cfg, "%s/dupla.json", dir);
    snprintf(good, sizeof good, "%s/good.ndjson", dir);
    snprintf(bad, sizeof bad, "%s/bad.ndjson", dir);
    snprintf(rej, sizeof rej, "%s/rejects.ndjson", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "{\"environment\":\"test\",\"store\":\"sqlite:cli.db\",\"catalog\":{\"dir\":\"%s/"
            "catalog\"}}",
            getenv("DUPLA_SOURCE_ROOT") ? getenv("DUPLA_SOURCE_ROOT") : ".");
    fclose(f);
    char l[2048];
    f = fopen(good, "w");
    fprintf(f, "%s\n", aar_line(l, sizeof l, "0101901234", 2023, 1));
    fclose(f);
    f = fopen(bad, "w");
    fprintf(f, "%s\n{oops\n", aar_line(l, sizeof l, "0201901234", 2023, 1));
    fclose(f);
    cr_assert_eq(cli("ingest", "--help", NULL), 0);
    cr_assert_eq(cli("ingest", "Aarsopgoerelse", good, NULL), 2);
    cr_assert_eq(cli("ingest", "--config", cfg, "Aarsopgoerelse", NULL), 2);
    cr_assert_eq(cli("ingest", "--config", cfg, "--bogus", "Aarsopgoerelse", good, NULL), 2);
    cr_assert_eq(cli("ingest", "--config", cfg, "--skip-invalid", "Aarsopgoerelse", good, NULL), 2);
    cr_assert_eq(cli("ingest", "--config", cfg, "Nothing", good, NULL), 2);
    cr_assert_eq(cli("ingest", "--config", cfg, "--quiet", "Aarsopgoerelse", good, NULL), 5,
                 "a test deployment refuses unmarked data");
    cr_assert_eq(
        cli("ingest", "--config", cfg, "--quiet", "--synthetic", "Årsopgørelse", good, NULL), 0);
    cr_assert_eq(
        cli("ingest", "--config", cfg, "--quiet", "--synthetic", "Aarsopgoerelse", good, NULL), 0,
        "a re-delivery is fine");
    cr_assert_eq(
        cli("ingest", "--config", cfg, "--quiet", "--synthetic", "Aarsopgoerelse", bad, NULL), 3);
    cr_assert_eq(cli("ingest", "--config", cfg, "--quiet", "--synthetic", "--json",
                     "--skip-invalid", "--reject-file", rej, "Aarsopgoerelse", bad, NULL),
                 4);
    f = fopen(rej, "r");
    cr_assert_not_null(f);
    char buf[512] = {0};
    cr_assert_not_null(fgets(buf, sizeof buf, f));
    fclose(f);
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    cr_assert_not_null(j, "%s", buf);
    cr_assert_eq(json_integer_value(json_object_get(j, "line")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(j, "text")), "{oops");
    json_decref(j);
    cr_assert_eq(cli("ingest", "--config", cfg, "--quiet", "--synthetic", "Aarsopgoerelse",
                     "/nonexistent.ndjson", NULL),
                 1);
}

/* Reads svc's records of cpr (one-kind service) in mode; returns how many,
 * and their JSON one after another in json (cap bytes). */
static size_t read_records(const struct catalog_service *svc, const char *cpr,
                           enum dataset_mode mode, char *json, size_t cap)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    str_t subj = str_from_cstr(cpr);
    struct dataset_query q = {.svc = svc,
                              .mode = mode,
                              .subjects = &subj,
                              .n_subjects = 1,
                              .period_from = DATASET_DAY_MIN,
                              .period_to = DATASET_DAY_MAX,
                              .registered_from = 0,
                              .registered_to = INT64_MAX};
    dataset_cursor_t *cur;
    cr_assert_eq(dataset_cursor_open(c, &q, &cur, &err), 0, "%s", err.detail);
    json[0] = 0;
    const struct dataset_record *rec;
    size_t n = 0;
    int rc;
    while ((rc = dataset_cursor_next(cur, &rec, &err)) == STORE_ROW) {
        buf_t b;
        buf_init(&b, 1 << 16);
        cr_assert_eq(dataset_record_to_json(rec, NULL, &b, &err), 0);
        size_t at = strlen(json);
        snprintf(json + at, cap - at, "%.*s", (int)b.len, b.data);
        buf_free(&b);
        n++;
    }
    cr_assert_eq(rc, STORE_DONE, "%s", err.detail);
    dataset_cursor_close(cur);
    store_conn_put(c);
    return n;
}

Test(ingest, withdrawals_leave_current_reads_and_show_in_windows)
{
    struct delivery d = {0};
    char l[2048], json[16384];
    add(&d, aar_line(l, sizeof l, "0101901234", 2023, 13667308));
    add(&d, aar_line(l, sizeof l, "0101901234", 2024, 14000000));
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true, .now_ms = 1000};
    struct ingest_result res;
    err_t err;
    cr_assert_eq(run(aar, d.text, &opt, &res, &err), 0, "%s", err.detail);
    ingest_result_free(&res);
    cr_assert_eq(read_records(aar, "0101901234", DATASET_CURRENT, json, sizeof json), 2);

    /* withdraw 2023: a new version, marked; current reads leave it out */
    const char *w = "{\"withdraw\":true,\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2023}\n";
    opt.now_ms = 2000;
    cr_assert_eq(run(aar, w, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.status, INGEST_ACCEPTED);
    cr_assert_eq(res.withdrawn, 1);
    cr_assert_eq(res.new_versions, 0);
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 3);
    cr_assert_eq(read_records(aar, "0101901234", DATASET_CURRENT, json, sizeof json), 1);
    cr_assert(strstr(json, "\"IndkomstÅr\":2024"), "%s", json);
    /* the window shows every version, the withdrawal after 2023's first,
     * with its key, version and registration time but no data */
    cr_assert_eq(read_records(aar, "0101901234", DATASET_WINDOW, json, sizeof json), 3);
    const char *wd = strstr(json, "{\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2023,"
                                  "\"ÅrsopgørelseNummer\":2,");
    cr_assert_not_null(wd, "%s", json);
    const char *end = strchr(wd, '}');
    cr_assert(strstr(wd, "\"Tilbagekaldt\":true}") == end - 19, "%s", wd);
    cr_assert(strstr(wd, "1970-01-01T00:00:02.000Z") < end, "%s", wd);
    cr_assert(strstr(wd, "SkatIAlt") > end, "%s", wd);

    /* the same withdrawal again: already delivered; under another id:
     * unchanged (idempotent) */
    cr_assert_eq(run(aar, w, &opt, &res, &err), 0);
    cr_assert_eq(res.status, INGEST_ALREADY);
    cr_assert_eq(res.withdrawn, 1, "the first delivery's counts");
    ingest_result_free(&res);
    opt.delivery_id = "again";
    cr_assert_eq(run(aar, w, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.withdrawn, 0);
    cr_assert_eq(res.unchanged, 1);
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 3);

    /* a withdrawal of nothing, or with data fields, or not true: the line
     * is named and nothing is stored (all or nothing) */
    struct delivery bad = {0};
    add(&bad, aar_line(l, sizeof l, "6102855678", 2024, 9000000));
    add(&bad, "{\"withdraw\":true,\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2019}");
    add(&bad, "{\"withdraw\":true,\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2024,"
              "\"SkatIAlt\":1}");
    add(&bad, "{\"withdraw\":1,\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2024}");
    add(&bad, "{\"withdraw\":true,\"PersonCPRNummer\":\"0101901234\"}");
    opt.delivery_id = "bad";
    cr_assert_eq(run(aar, bad.text, &opt, &res, &err), DUPLA_EINVAL);
    cr_assert_eq(res.status, INGEST_REJECTED);
    expect_problem(&res, 2, "PersonCPRNummer", "nothing to withdraw");
    expect_problem(&res, 3, "SkatIAlt", "only the record's key");
    expect_problem(&res, 4, "withdraw", "is true");
    expect_problem(&res, 5, "IndkomstÅr", "required");
    ingest_result_free(&res);
    cr_assert_eq(count_records(), 3);

    /* a later delivery of the withdrawn key is current again */
    struct delivery d3 = {0};
    add(&d3, aar_line(l, sizeof l, "0101901234", 2023, 13667308));
    opt.delivery_id = "back";
    cr_assert_eq(run(aar, d3.text, &opt, &res, &err), 0, "%s", err.detail);
    cr_assert_eq(res.new_versions, 1, "the same data as before the withdrawal is new again");
    ingest_result_free(&res);
    cr_assert_eq(read_records(aar, "0101901234", DATASET_CURRENT, json, sizeof json), 2);
}
