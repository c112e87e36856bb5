/*
 * schema.c: the agreement module's tables and its change counter.
 *
 * agreement          one row per agreement: organisation, environment, and
 *                    which version serves (the approved one) and which is
 *                    pending (draft or submitted).
 * agreement_version  the application, signature, decision and validity of
 *                    each version.
 * agreement_history  every step: who, when, from which state to which, the
 *                    field-level changes (JSON) and the reason.
 * agreement_outbox   (version 1 only) mail to the organisation's contact
 *                    mailbox; version 2 moves its unsent rows to the mail
 *                    module's mail_message and drops it: notify.c hands
 *                    mail to mail_enqueue() now.
 * agreement_template  the data owner's templates (template.c): an
 *                    application's members as JSON, and whether published.
 * agreement_limited  429 answers per Danish day, agreement and system
 *                    (usage.c): the disclosure log does not record them.
 * agreement_generation  one row counting changes; every change bumps it in
 *                    its own transaction, so that another process can tell
 *                    cheaply that its registry is stale.
 *
 * Times are int64 ms since the epoch. Never edit a migration once committed.
 */
#include "agreement/internal.h"

static const struct store_migration migrations[] = {
    {1,
     "CREATE TABLE agreement ("
     " id TEXT PRIMARY KEY,"
     " org_cvr TEXT NOT NULL,"
     " environment TEXT NOT NULL,"
     " serving_version INTEGER,"
     " pending_version INTEGER,"
     " latest_version INTEGER NOT NULL,"
     " demo INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"
     "CREATE INDEX agreement_by_org ON agreement (org_cvr);"
     "CREATE TABLE agreement_version ("
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version INTEGER NOT NULL,"
     " state TEXT NOT NULL,"
     " application TEXT NOT NULL,"
     " drafted_by TEXT NOT NULL,"
     " drafted_by_name TEXT NOT NULL,"
     " last_editor TEXT NOT NULL,"
     " signed_by_name TEXT,"
     " signed_at INTEGER,"
     " decided_by_name TEXT,"
     " decided_at INTEGER,"
     " assessment TEXT,"
     " granted TEXT,"
     " grant_reason TEXT,"
     " state_reason TEXT,"
     " valid_from INTEGER,"
     " valid_until INTEGER,"
     " expiry_warned_at INTEGER,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " PRIMARY KEY (agreement_id, version));"
     "CREATE TABLE agreement_history ("
     " id INTEGER PRIMARY KEY,"
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version INTEGER NOT NULL,"
     " at INTEGER NOT NULL,"
     " actor TEXT NOT NULL,"
     " actor_name TEXT NOT NULL,"
     " actor_org TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " from_state TEXT,"
     " to_state TEXT NOT NULL,"
     " changes TEXT NOT NULL,"
     " reason TEXT);"
     "CREATE INDEX agreement_history_by_agreement ON agreement_history (agreement_id, id);"
     "CREATE TABLE agreement_outbox ("
     " id INTEGER PRIMARY KEY,"
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version INTEGER NOT NULL,"
     " kind TEXT NOT NULL,"
     " recipient TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " sent_at INTEGER);"
     "CREATE INDEX agreement_outbox_unsent ON agreement_outbox (sent_at, id);"
     "CREATE TABLE agreement_generation ("
     " id INTEGER PRIMARY KEY CHECK (id = 1),"
     " generation INTEGER NOT NULL);"
     "INSERT INTO agreement_generation (id, generation) VALUES (1, 0)",
     /* PostgreSQL: identity columns instead of SQLite's rowid aliases. */
     "CREATE TABLE agreement ("
     " id TEXT PRIMARY KEY,"
     " org_cvr TEXT NOT NULL,"
     " environment TEXT NOT NULL,"
     " serving_version BIGINT,"
     " pending_version BIGINT,"
     " latest_version BIGINT NOT NULL,"
     " demo BIGINT NOT NULL DEFAULT 0,"
     " created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL);"
     "CREATE INDEX agreement_by_org ON agreement (org_cvr);"
     "CREATE TABLE agreement_version ("
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version BIGINT NOT NULL,"
     " state TEXT NOT NULL,"
     " application TEXT NOT NULL,"
     " drafted_by TEXT NOT NULL,"
     " drafted_by_name TEXT NOT NULL,"
     " last_editor TEXT NOT NULL,"
     " signed_by_name TEXT,"
     " signed_at BIGINT,"
     " decided_by_name TEXT,"
     " decided_at BIGINT,"
     " assessment TEXT,"
     " granted TEXT,"
     " grant_reason TEXT,"
     " state_reason TEXT,"
     " valid_from BIGINT,"
     " valid_until BIGINT,"
     " expiry_warned_at BIGINT,"
     " created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " PRIMARY KEY (agreement_id, version));"
     "CREATE TABLE agreement_history ("
     " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version BIGINT NOT NULL,"
     " at BIGINT NOT NULL,"
     " actor TEXT NOT NULL,"
     " actor_name TEXT NOT NULL,"
     " actor_org TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " from_state TEXT,"
     " to_state TEXT NOT NULL,"
     " changes TEXT NOT NULL,"
     " reason TEXT);"
     "CREATE INDEX agreement_history_by_agreement ON agreement_history (agreement_id, id);"
     "CREATE TABLE agreement_outbox ("
     " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     " agreement_id TEXT NOT NULL REFERENCES agreement (id),"
     " version BIGINT NOT NULL,"
     " kind TEXT NOT NULL,"
     " recipient TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " created_at BIGINT NOT NULL,"
     " sent_at BIGINT);"
     "CREATE INDEX agreement_outbox_unsent ON agreement_outbox (sent_at, id);"
     "CREATE TABLE agreement_generation ("
     " id BIGINT PRIMARY KEY CHECK (id = 1),"
     " generation BIGINT NOT NULL);"
     "INSERT INTO agreement_generation (id, generation) VALUES (1, 0)"},
    /* The mail module's migration has run first (agreement_schema_migrate).
     * Rows with sent_at set were handed over already (by the incident
     * module's sender, which moved them to its mail_outbox). */
    {2,
     "INSERT INTO mail_message (source, kind, ref, recipient, subject, body, auto_submitted,"
     " state, next_attempt_at, last_error, created_at)"
     " SELECT 'agreement:' || id, 'agreement-' || kind, agreement_id, recipient, subject, body,"
     " 'auto-generated', CASE WHEN recipient = '' THEN 'failed' ELSE 'pending' END, created_at,"
     " CASE WHEN recipient = '' THEN 'no valid recipient' END, created_at"
     " FROM agreement_outbox WHERE sent_at IS NULL ORDER BY id;"
     "DROP TABLE agreement_outbox",
     NULL},
#define SCHEMA_V3(INT)                                                                             \
    "CREATE TABLE agreement_template ("                                                            \
    " id TEXT PRIMARY KEY,"                                                                        \
    " title TEXT NOT NULL,"                                                                        \
    " application TEXT NOT NULL,"                                                                  \
    " published " INT " NOT NULL DEFAULT 0,"                                                       \
    " created_at " INT " NOT NULL,"                                                                \
    " updated_at " INT " NOT NULL,"                                                                \
    " updated_by TEXT NOT NULL)"
    /* Templates the data owner publishes (template.c). */
    {3, SCHEMA_V3("INTEGER"), SCHEMA_V3("BIGINT")},
#define SCHEMA_V4(INT)                                                                             \
    "ALTER TABLE agreement ADD COLUMN rate_per_second " INT ";"                                    \
    "ALTER TABLE agreement ADD COLUMN rate_burst " INT ";"                                         \
    "CREATE TABLE agreement_limited ("                                                             \
    " day " INT " NOT NULL,"                                                                       \
    " agreement_id TEXT NOT NULL,"                                                                 \
    " system_id TEXT NOT NULL,"                                                                    \
    " calls " INT " NOT NULL,"                                                                     \
    " PRIMARY KEY (day, agreement_id, system_id))"
    /* Rate budgets per agreement (null: the configured default) and the
     * 429s each (day, agreement, system) got (usage.c). */
    {4, SCHEMA_V4("INTEGER"), SCHEMA_V4("BIGINT")},
};

/* Applies the migrations above (after the mail module's, whose table they
 * fill); 0 or the store's error. */
int agreement_schema_migrate(store_t *st, err_t *err)
{
    int rc = mail_migrate(st, err);
    if (rc)
        return rc;
    return store_migrate(st, "agreement", migrations, sizeof migrations / sizeof migrations[0],
                         err);
}

/* Bumps the change counter in the caller's open transaction, and tells the
 * other nodes (PostgreSQL: a notification delivered at commit to every
 * listening node, store_notify). */
int agreement_schema_bump_generation(store_conn_t *c, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c, "UPDATE agreement_generation SET generation = generation + 1 WHERE id = 1", &s, err);
    if (rc)
        return rc;
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : store_notify(c, "agreement", err);
}

/* The change counter now. */
int agreement_schema_generation(store_conn_t *c, int64_t *out, err_t *err)
{
    return store_query_int64(c, "SELECT generation FROM agreement_generation WHERE id = 1", 0, out,
                             err);
}
