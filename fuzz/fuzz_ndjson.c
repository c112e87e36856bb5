/*
 * fuzz_ndjson.c: NDJSON delivery lines (ingest/ingest.c: ingest_delivery,
 * what `dupla ingest` and POST /ingest/<service> run: the header line, each
 * record checked against the service's catalogue entry, duplicates, then
 * one transaction into a SQLite store). The repository's catalogue; the
 * first byte picks the service and whether invalid lines are skipped, the
 * rest is the delivery (marked synthetic, a test deployment). Properties:
 * the status agrees with the return code; a rejected delivery lists a
 * problem; the counts add up; every line that ingest's own reader
 * (ingest/flat.c) takes is read by jansson too, to the same members and
 * values in the same order.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "dataset/dataset.h"
#include "fuzz.h"
#include "ingest/ingest.h"
#include "ingest/internal.h"
#include "store/store.h"

static store_t *st;
static catalog_t *cat;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_tmpdir("ndjson");
    char url[128], catdir[4096];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(catdir, sizeof catdir, "%s/catalog", root ? root : ".");
    err_t err;
    err_clear(&err);
    fuzz_must(store_open(url, NULL, &st, &err), &err, "store");
    fuzz_must(catalog_load_dir(catdir, &cat, &err), &err,
              "catalogue (run from the source root or set DUPLA_SOURCE_ROOT)");
    fuzz_must(dataset_migrate(st, &err), &err, "dataset schema");
    return 0;
}

static bool same_value(const struct catalog_json *a, const struct catalog_json *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case CATALOG_JSON_BOOLEAN:
    case CATALOG_JSON_INTEGER:
        return a->i == b->i;
    case CATALOG_JSON_REAL:
        return memcmp(&a->d, &b->d, sizeof a->d) == 0;
    case CATALOG_JSON_STRING:
        return str_eq(a->s, b->s);
    default:
        return true;
    }
}

/* A line the flat reader takes must be jansson's same object. */
static void flat_agrees(str_t line)
{
    static struct ingest_flat flat;
    if (!ingest_flat_read(line, &flat))
        return;
    json_error_t e;
    json_t *j = json_loadb(line.ptr, line.len, JSON_REJECT_DUPLICATES, &e);
    FUZZ_CHECK(j != NULL && json_is_object(j));
    FUZZ_CHECK(json_object_size(j) == flat.n);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        struct catalog_json cj;
        catalog_json_of(v, &cj);
        FUZZ_CHECK(i < flat.n && str_eq_cstr(flat.m[i].key, k) && strlen(k) == flat.m[i].key.len);
        FUZZ_CHECK(same_value(&flat.m[i].v, &cj));
        i++;
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1) {
        str_t rest = fuzz_str(data + 1, size - 1);
        for (size_t at = 0; at <= rest.len;) {
            const char *nl = memchr(rest.ptr + at, '\n', rest.len - at);
            size_t end = nl ? (size_t)(nl - rest.ptr) : rest.len;
            flat_agrees((str_t){rest.ptr + at, end - at});
            at = end + 1;
        }
    }
    if (size < 1 || catalog_count(cat) == 0)
        return 0;
    const struct catalog_service *svc =
        catalog_service_at(cat, (data[0] >> 1) % catalog_count(cat));
    struct ingest_source src = {.name = "body", .data = fuzz_str(data + 1, size - 1)};
    struct ingest_options opt = {.environment = ENV_TEST,
                                 .synthetic = true,
                                 .skip_invalid = data[0] & 1,
                                 .max_records = 1000,
                                 .max_problems = 10,
                                 .now_ms = 1800000000000LL};
    struct ingest_result res;
    err_t err;
    err_clear(&err);
    int rc = ingest_delivery(st, svc, &src, 1, &opt, &res, &err);
    if (rc == 0) {
        FUZZ_CHECK(res.status == INGEST_ACCEPTED || res.status == INGEST_PARTIAL ||
                   res.status == INGEST_ALREADY);
        if (res.status != INGEST_ALREADY)
            FUZZ_CHECK(res.new_versions + res.unchanged + res.rejected <= res.records);
        if (res.status == INGEST_ACCEPTED)
            FUZZ_CHECK(res.rejected == 0);
    } else if (rc == DUPLA_EINVAL && res.status == INGEST_REJECTED) {
        FUZZ_CHECK(res.n_problems > 0 || err.detail[0] != '\0');
    } else {
        FUZZ_CHECK(err.log[0] != '\0' || err.detail[0] != '\0');
    }
    ingest_result_free(&res);
    return 0;
}
