/*
 * schema.c: the expiry module's table (module "expiry" in store_migrate).
 *
 * expiry_notice  one row per warning sent: what (kind, subject), which
 *                 expiry (not_after, ms) and which threshold (30 or 7
 *                 days), to whom and when. The primary key is what makes a
 *                 warning go out once across restarts and nodes: the row
 *                 is inserted (ON CONFLICT DO NOTHING) in the transaction
 *                 that queues the mail, and only an inserted row queues it.
 *
 * Never edit a migration once committed; add one.
 */
#include "expiry/internal.h"

#define SCHEMA_V1(INT)                                                                             \
    "CREATE TABLE expiry_notice ("                                                                 \
    " kind TEXT NOT NULL,"                                                                         \
    " subject TEXT NOT NULL,"                                                                      \
    " not_after " INT " NOT NULL,"                                                                 \
    " threshold_days " INT " NOT NULL,"                                                            \
    " org_cvr TEXT,"                                                                               \
    " recipient TEXT,"                                                                             \
    " warned_at " INT " NOT NULL,"                                                                 \
    " PRIMARY KEY (kind, subject, not_after, threshold_days))"

static const struct store_migration migrations[] = {
    {1, SCHEMA_V1("INTEGER"), SCHEMA_V1("BIGINT")},
};

int expiry_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "expiry", migrations, sizeof migrations / sizeof migrations[0], err);
}
