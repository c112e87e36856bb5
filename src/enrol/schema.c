/*
 * schema.c: the enrol module's table (module "enrol" in store_migrate).
 *
 * enrol_application  one row per application: what the applicant typed,
 *                    its state (0 pending, 1 approved, 2 rejected), who
 *                    decided when, the rejection's reason and the
 *                    organisation approval made. peer_key is the SHA-256 of
 *                    the applicant's address (hex), for the per-address
 *                    throttle, cleared after a day.
 *
 * Never edit a migration once committed; add one.
 */
#include "enrol/internal.h"

#define SCHEMA_V1(INT)                                                                             \
    "CREATE TABLE enrol_application ("                                                             \
    " id TEXT PRIMARY KEY,"                                                                        \
    " name TEXT NOT NULL,"                                                                         \
    " cvr TEXT NOT NULL,"                                                                          \
    " contact_email TEXT NOT NULL,"                                                                \
    " admin_name TEXT NOT NULL,"                                                                   \
    " admin_email TEXT NOT NULL,"                                                                  \
    " environments " INT " NOT NULL,"                                                              \
    " status " INT " NOT NULL DEFAULT 0,"                                                          \
    " created_at " INT " NOT NULL,"                                                                \
    " peer_key TEXT,"                                                                              \
    " decided_at " INT ","                                                                         \
    " decided_by TEXT,"                                                                            \
    " reason TEXT,"                                                                                \
    " org_id TEXT);"                                                                               \
    "CREATE INDEX enrol_application_status ON enrol_application (status, created_at);"             \
    "CREATE INDEX enrol_application_peer ON enrol_application (peer_key, created_at)"

static const struct store_migration migrations[] = {
    {1, SCHEMA_V1("INTEGER"), SCHEMA_V1("BIGINT")},
};

int enrol_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "enrol", migrations, sizeof migrations / sizeof migrations[0], err);
}
