/*
 * schema.c: the data path's own table (module "exposure" in the store's
 * migration record). Never edit a migration once committed: add the next
 * one.
 *
 * exposure_rate_budget is the shared token bucket of each (agreement,
 * system) when the rate limit is shared by the nodes of a cluster
 * (limit.c): tokens in millitokens as of updated_ms (UTC milliseconds).
 */
#include "exposure/internal.h"

#define RATE_BUDGET                                                                                \
    "CREATE TABLE exposure_rate_budget ("                                                          \
    " rate_key TEXT PRIMARY KEY,"                                                                  \
    " tokens_milli BIGINT NOT NULL,"                                                               \
    " updated_ms BIGINT NOT NULL);"

static const struct store_migration migrations[] = {
    {1, RATE_BUDGET, RATE_BUDGET},
};

int exposure_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "exposure", migrations, sizeof migrations / sizeof migrations[0], err);
}
