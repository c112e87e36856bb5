/*
 * fuzz_ndjson.c: NDJSON delivery lines (ingest/ingest.c: ingest_delivery,
 * what `dupla ingest` and POST /ingest/<service> run: the header line, each
 * record checked against the service's catalogue entry, duplicates, then
 * one transaction into a SQLite store). The repository's catalogue; the
 * first byte picks the service and whether invalid lines are skipped, the
 * rest is the delivery (marked synthetic, a test deployment). Properties:
 * the status agrees with the return code; a rejected delivery lists a
 * problem; the counts add up.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "dataset/dataset.h"
#include "fuzz.h"
#include "ingest/ingest.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
