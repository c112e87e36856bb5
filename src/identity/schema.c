/*
 * schema.c: the identity tables (module "identity" in the store's migration
 * record). Never edit a migration once committed: add the next one.
 *
 * Times are int64 milliseconds (UTC). Ids are v4 UUID text. Secrets are kept
 * only as hashes: password_hash (argon2id, encoded), setup_hash and the
 * session id_hash (SHA-256 hex; both are 128+ bit random values, so a fast
 * hash is enough). identity_generation holds the one counter every change
 * bumps (see registry.c). identity_login_throttle keys are SHA-256 of the
 * throttled username/address, never the text.
 */
#include "identity/internal.h"

#define TABLES_COMMON                                                                              \
    "CREATE TABLE identity_org ("                                                                  \
    " id TEXT PRIMARY KEY,"                                                                        \
    " name TEXT NOT NULL,"                                                                         \
    " cvr TEXT NOT NULL UNIQUE,"                                                                   \
    " contact_email TEXT NOT NULL,"                                                                \
    " status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),"                                        \
    " environments INTEGER NOT NULL,"                                                              \
    " data_owner INTEGER NOT NULL DEFAULT 0,"                                                      \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " updated_ms BIGINT NOT NULL);"                                                                \
    "CREATE TABLE identity_user ("                                                                 \
    " id TEXT PRIMARY KEY,"                                                                        \
    " org_id TEXT NOT NULL REFERENCES identity_org(id),"                                           \
    " username TEXT NOT NULL UNIQUE,"                                                              \
    " display_name TEXT NOT NULL,"                                                                 \
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"                                           \
    " roles INTEGER NOT NULL DEFAULT 0,"                                                           \
    " password_hash TEXT,"                                                                         \
    " setup_hash TEXT,"                                                                            \
    " setup_expires_ms BIGINT,"                                                                    \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " updated_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX identity_user_org ON identity_user(org_id);"                                     \
    "CREATE TABLE identity_system ("                                                               \
    " id TEXT PRIMARY KEY,"                                                                        \
    " org_id TEXT NOT NULL REFERENCES identity_org(id),"                                           \
    " name TEXT NOT NULL,"                                                                         \
    " kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"                                               \
    " status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),"                                        \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " updated_ms BIGINT NOT NULL,"                                                                 \
    " UNIQUE (org_id, name));"                                                                     \
    "CREATE TABLE identity_cert ("                                                                 \
    " sha256 TEXT PRIMARY KEY,"                                                                    \
    " system_id TEXT NOT NULL REFERENCES identity_system(id),"                                     \
    " subject TEXT NOT NULL,"                                                                      \
    " issuer TEXT NOT NULL,"                                                                       \
    " serial TEXT NOT NULL,"                                                                       \
    " cvr TEXT NOT NULL,"                                                                          \
    " not_before_ms BIGINT NOT NULL,"                                                              \
    " not_after_ms BIGINT NOT NULL,"                                                               \
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"                                           \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " revoked_ms BIGINT);"                                                                         \
    "CREATE INDEX identity_cert_system ON identity_cert(system_id);"                               \
    "CREATE TABLE identity_session ("                                                              \
    " id_hash TEXT PRIMARY KEY,"                                                                   \
    " user_id TEXT NOT NULL REFERENCES identity_user(id),"                                         \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " last_seen_ms BIGINT NOT NULL,"                                                               \
    " expires_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX identity_session_user ON identity_session(user_id);"                             \
    "CREATE TABLE identity_generation (id INTEGER PRIMARY KEY, gen BIGINT NOT NULL);"              \
    "INSERT INTO identity_generation (id, gen) VALUES (1, 1);"

#define THROTTLE_TABLE                                                                             \
    "CREATE TABLE identity_login_throttle ("                                                       \
    " key_hash TEXT PRIMARY KEY,"                                                                  \
    " fails BIGINT NOT NULL,"                                                                      \
    " last_ms BIGINT NOT NULL,"                                                                    \
    " wait_until_ms BIGINT NOT NULL);"                                                             \
    "CREATE INDEX identity_login_throttle_last ON identity_login_throttle(last_ms);"

#define SUPPLIER_MIGRATION                                                                         \
    "ALTER TABLE identity_system ADD COLUMN supplier_cvr TEXT NOT NULL DEFAULT '';"                \
    "ALTER TABLE identity_system ADD COLUMN supplier_name TEXT NOT NULL DEFAULT '';"               \
    "CREATE TABLE identity_cert_v2 ("                                                              \
    " sha256 TEXT NOT NULL,"                                                                       \
    " system_id TEXT NOT NULL REFERENCES identity_system(id),"                                     \
    " subject TEXT NOT NULL,"                                                                      \
    " issuer TEXT NOT NULL,"                                                                       \
    " serial TEXT NOT NULL,"                                                                       \
    " cvr TEXT NOT NULL,"                                                                          \
    " not_before_ms BIGINT NOT NULL,"                                                              \
    " not_after_ms BIGINT NOT NULL,"                                                               \
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"                                           \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " revoked_ms BIGINT,"                                                                          \
    " PRIMARY KEY (sha256, system_id));"                                                           \
    "INSERT INTO identity_cert_v2 (sha256, system_id, subject, issuer, serial, cvr,"               \
    " not_before_ms, not_after_ms, status, created_ms, revoked_ms)"                                \
    " SELECT sha256, system_id, subject, issuer, serial, cvr, not_before_ms, not_after_ms,"        \
    " status, created_ms, revoked_ms FROM identity_cert;"                                          \
    "DROP TABLE identity_cert;"                                                                    \
    "ALTER TABLE identity_cert_v2 RENAME TO identity_cert;"                                        \
    "CREATE INDEX identity_cert_system ON identity_cert(system_id);"

#define AUTHORISATION_TABLE                                                                        \
    "CREATE TABLE identity_authorisation ("                                                        \
    " id TEXT PRIMARY KEY,"                                                                        \
    " company_org_id TEXT NOT NULL REFERENCES identity_org(id),"                                   \
    " se TEXT NOT NULL,"                                                                           \
    " grantee_org_id TEXT NOT NULL REFERENCES identity_org(id),"                                   \
    " grantee_system_id TEXT NOT NULL,"                                                            \
    " services TEXT NOT NULL,"                                                                     \
    " until_ms BIGINT NOT NULL,"                                                                   \
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"                                           \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " updated_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX identity_authorisation_company ON identity_authorisation(company_org_id);"       \
    "CREATE INDEX identity_authorisation_grantee ON identity_authorisation(grantee_org_id);"

#define SENDER_CONSTRAINED_MIGRATION                                                               \
    "ALTER TABLE identity_system ADD COLUMN sender_constrained INTEGER NOT NULL DEFAULT 0;"

static const struct store_migration migrations[] = {
    {1,
     TABLES_COMMON "CREATE TABLE identity_history ("
                   " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " at_ms BIGINT NOT NULL,"
                   " actor TEXT NOT NULL,"
                   " action TEXT NOT NULL,"
                   " object_type TEXT NOT NULL,"
                   " object_id TEXT NOT NULL,"
                   " org_id TEXT,"
                   " before_json TEXT,"
                   " after_json TEXT);"
                   "CREATE INDEX identity_history_org ON identity_history(org_id, seq);",
     TABLES_COMMON "CREATE TABLE identity_history ("
                   " seq BIGSERIAL PRIMARY KEY,"
                   " at_ms BIGINT NOT NULL,"
                   " actor TEXT NOT NULL,"
                   " action TEXT NOT NULL,"
                   " object_type TEXT NOT NULL,"
                   " object_id TEXT NOT NULL,"
                   " org_id TEXT,"
                   " before_json TEXT,"
                   " after_json TEXT);"
                   "CREATE INDEX identity_history_org ON identity_history(org_id, seq);"},
    /* 2: login throttling in the store, shared by every node (session.c). */
    {2, THROTTLE_TABLE, THROTTLE_TABLE},
    /* 3: supplier systems (#21). A system may name the system supplier
     * whose certificate it is registered with (another CVR); one supplier
     * certificate can then be registered by many organisations, so a
     * certificate row is keyed by (fingerprint, system). */
    {3, SUPPLIER_MIGRATION, SUPPLIER_MIGRATION},
    /* 4: a company's authorisations of third parties to fetch its own data
     * (#21 item 4; authorisation.c). */
    {4, AUTHORISATION_TABLE, AUTHORISATION_TABLE},
    /* 5: a system may require sender-constrained tokens (#18): then a data
     * call must come over a connection that presents the certificate the
     * token is bound to (cnf x5t#S256), not merely the token. */
    {5, SENDER_CONSTRAINED_MIGRATION, SENDER_CONSTRAINED_MIGRATION},
};

int identity_schema_apply(store_t *st, err_t *err)
{
    return store_migrate(st, "identity", migrations, sizeof migrations / sizeof migrations[0], err);
}

int identity_migrate(store_t *st, err_t *err)
{
    return identity_schema_apply(st, err);
}
