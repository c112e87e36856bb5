/*
 * bench_data_setup.c: bench/data.sh's helper. Makes an approved agreement for an
 * organisation covering every field of every catalogue service (all its
 * systems), in the store of a server configuration, and prints its id.
 *
 *   bench-data-setup CONFIG ORG_CVR CATALOG_DIR
 */
#include <stdio.h>
#include <string.h>

#include "agreement/agreement.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/config.h"

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "bench-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench-data-setup CONFIG ORG_CVR CATALOG_DIR\n");
        return 2;
    }
    struct dupla_config cfg;
    err_t err;
    store_t *st = NULL;
    catalog_t *cat = NULL;
    agreement_t *ag = NULL;
    int status = 1;
    if (config_load(argv[1], &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", err.log);
        return 1;
    }
    if (store_open(cfg.store_url, NULL, &st, &err) != 0 ||
        catalog_load_dir(argv[3], &cat, &err) != 0 || agreement_open(st, NULL, &ag, &err) != 0)
        goto out;
    json_t *all = json_object();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *s = catalog_service_at(cat, i);
        json_t *f = json_array();
        for (size_t k = 0; k < s->n_fields; k++)
            if (!catalog_field_is_key(&s->fields[k]))
                json_array_append_new(f, json_string(s->fields[k].name));
        json_object_set_new(all, s->path, f);
    }
    char today[16], id[AGREEMENT_ID_LEN + 1];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:o, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "Benchmark", "purpose", "Load test.", "legal_basis", "law", "Lov",
                  "section", "§ 1", "services", all, "systems", "all", "valid_from", today,
                  "expected_volume", "calls_per_month", 10, "subjects_per_month", 10, "contact",
                  "name", "B", "email", "b@org.example", "phone", "+45 1234 5678");
    struct agreement_actor p = actor(1, argv[2], AGREEMENT_ROLE_PROCESSOR),
                           s = actor(2, argv[2], AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    int rc = agreement_create(ag, &p, ENV_TEST, app, id, &err);
    json_decref(app);
    if (rc || agreement_sign(ag, &s, str_from_cstr(id), &err) ||
        agreement_approve(ag, &r, str_from_cstr(id), "Benchmark.", NULL, NULL, &err))
        goto out;
    printf("%s\n", id);
    status = 0;
out:
    if (status)
        fprintf(stderr, "bench-data-setup: %s\n", err.log);
    agreement_close(ag);
    catalog_free(cat);
    if (st)
        store_close(st);
    config_free(&cfg);
    return status;
}
