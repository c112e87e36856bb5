/*
 * schema.c: the incident module's tables (module "incident" in store_migrate).
 *
 * incident            one row per incident; id "INC-yyyy-nnnnnn".
 * incident_seq        the last number given out per year.
 * incident_history    every change and message: who, when, what kind, from
 *                     which status to which, and the text.
 * incident_attachment attachments of mail reports: kept ones with their
 *                     bytes, dropped ones (over a limit) with the reason.
 * incident_mail       every maildir message taken: its file name (unique:
 *                     what makes intake exactly-once), Message-ID, SHA-256
 *                     and what became of it.
 * mail_outbox         (version 1 only) the mail queue; version 2 moves its
 *                     rows to the mail module's mail_message and drops it.
 * opslog_entry / opslog_update  the operations log and its updates.
 * opslog_generation   one row counting changes to the log, so that another
 *                     process can tell cheaply that its windows are stale.
 *
 * The SQL is written once with the dialect's types as macros, so that the
 * SQLite and PostgreSQL texts cannot drift apart. Times are int64 ms since
 * the epoch. Never edit a migration once committed; add one.
 */
#include "incident/internal.h"

#define SCHEMA_V1(ID, INT, BLOB)                                                                   \
    "CREATE TABLE incident ("                                                                      \
    " id TEXT PRIMARY KEY,"                                                                        \
    " type TEXT NOT NULL,"                                                                         \
    " environment TEXT NOT NULL,"                                                                  \
    " status TEXT NOT NULL,"                                                                       \
    " channel TEXT NOT NULL,"                                                                      \
    " org_cvr TEXT,"                                                                               \
    " unknown_sender " INT " NOT NULL DEFAULT 0,"                                                  \
    " agreement_id TEXT,"                                                                          \
    " reporter TEXT NOT NULL,"                                                                     \
    " reporter_email TEXT,"                                                                        \
    " assignee TEXT,"                                                                              \
    " title TEXT NOT NULL,"                                                                        \
    " description TEXT NOT NULL,"                                                                  \
    " mail_message_id TEXT,"                                                                       \
    " created_by TEXT NOT NULL,"                                                                   \
    " created_at " INT " NOT NULL,"                                                                \
    " updated_at " INT " NOT NULL);"                                                               \
    "CREATE INDEX incident_by_org ON incident (org_cvr, created_at);"                              \
    "CREATE INDEX incident_by_status ON incident (status, created_at);"                            \
    "CREATE TABLE incident_seq ("                                                                  \
    " year " INT " PRIMARY KEY,"                                                                   \
    " last " INT " NOT NULL);"                                                                     \
    "CREATE TABLE incident_history ("                                                              \
    " id " ID ","                                                                                  \
    " incident_id TEXT NOT NULL REFERENCES incident (id),"                                         \
    " at " INT " NOT NULL,"                                                                        \
    " actor TEXT NOT NULL,"                                                                        \
    " kind TEXT NOT NULL,"                                                                         \
    " from_status TEXT,"                                                                           \
    " to_status TEXT,"                                                                             \
    " text TEXT);"                                                                                 \
    "CREATE INDEX incident_history_by_incident ON incident_history (incident_id, id);"             \
    "CREATE TABLE incident_attachment ("                                                           \
    " id " ID ","                                                                                  \
    " incident_id TEXT NOT NULL REFERENCES incident (id),"                                         \
    " name TEXT NOT NULL,"                                                                         \
    " content_type TEXT NOT NULL,"                                                                 \
    " size " INT " NOT NULL,"                                                                      \
    " data " BLOB ","                                                                              \
    " dropped_reason TEXT);"                                                                       \
    "CREATE INDEX incident_attachment_by_incident ON incident_attachment (incident_id, id);"       \
    "CREATE TABLE incident_mail ("                                                                 \
    " name TEXT PRIMARY KEY,"                                                                      \
    " message_id TEXT,"                                                                            \
    " sha256 TEXT NOT NULL,"                                                                       \
    " sender TEXT,"                                                                                \
    " subject TEXT,"                                                                               \
    " outcome TEXT NOT NULL,"                                                                      \
    " incident_id TEXT,"                                                                           \
    " received_at " INT " NOT NULL);"                                                              \
    "CREATE INDEX incident_mail_by_message ON incident_mail (message_id, sha256);"                 \
    "CREATE TABLE mail_outbox ("                                                                   \
    " id " ID ","                                                                                  \
    " message_id TEXT NOT NULL UNIQUE,"                                                            \
    " source TEXT UNIQUE,"                                                                         \
    " kind TEXT NOT NULL,"                                                                         \
    " incident_id TEXT,"                                                                           \
    " recipient TEXT NOT NULL,"                                                                    \
    " cc TEXT,"                                                                                    \
    " subject TEXT NOT NULL,"                                                                      \
    " body TEXT NOT NULL,"                                                                         \
    " in_reply_to TEXT,"                                                                           \
    " auto_submitted TEXT NOT NULL,"                                                               \
    " attachment " BLOB ","                                                                        \
    " state TEXT NOT NULL,"                                                                        \
    " attempts " INT " NOT NULL DEFAULT 0,"                                                        \
    " next_attempt_at " INT " NOT NULL,"                                                           \
    " lease_until " INT ","                                                                        \
    " lease_token TEXT,"                                                                           \
    " last_error TEXT,"                                                                            \
    " created_at " INT " NOT NULL,"                                                                \
    " sent_at " INT ");"                                                                           \
    "CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at);"                        \
    "CREATE TABLE opslog_entry ("                                                                  \
    " id " ID ","                                                                                  \
    " kind TEXT NOT NULL,"                                                                         \
    " title TEXT NOT NULL,"                                                                        \
    " status TEXT NOT NULL,"                                                                       \
    " start_at " INT " NOT NULL,"                                                                  \
    " end_at " INT ","                                                                             \
    " created_by TEXT NOT NULL,"                                                                   \
    " created_at " INT " NOT NULL,"                                                                \
    " updated_at " INT " NOT NULL);"                                                               \
    "CREATE INDEX opslog_entry_by_start ON opslog_entry (start_at);"                               \
    "CREATE TABLE opslog_update ("                                                                 \
    " id " ID ","                                                                                  \
    " entry_id " INT " NOT NULL REFERENCES opslog_entry (id),"                                     \
    " at " INT " NOT NULL,"                                                                        \
    " author TEXT NOT NULL,"                                                                       \
    " text TEXT NOT NULL);"                                                                        \
    "CREATE INDEX opslog_update_by_entry ON opslog_update (entry_id, id);"                         \
    "CREATE TABLE opslog_generation ("                                                             \
    " id " INT " PRIMARY KEY CHECK (id = 1),"                                                      \
    " generation " INT " NOT NULL);"                                                               \
    "INSERT INTO opslog_generation (id, generation) VALUES (1, 0)"

/* The mail queue moves to the mail module (src/mail/), whose migration has
 * run first (incident_schema_migrate): every row keeps its Message-ID,
 * state, attempts and times; incident_id becomes ref. */
#define SCHEMA_V2                                                                                  \
    "INSERT INTO mail_message (message_id, source, kind, ref, recipient, cc, subject, body,"       \
    " in_reply_to, auto_submitted, attachment, state, attempts, next_attempt_at, lease_until,"     \
    " lease_token, last_error, created_at, sent_at)"                                               \
    " SELECT message_id, source, kind, incident_id, recipient, cc, subject, body, in_reply_to,"    \
    " auto_submitted, attachment, state, attempts, next_attempt_at, lease_until, lease_token,"     \
    " last_error, created_at, sent_at FROM mail_outbox ORDER BY id;"                               \
    "DROP TABLE mail_outbox"

static const struct store_migration migrations[] = {
    {1, SCHEMA_V1("INTEGER PRIMARY KEY", "INTEGER", "BLOB"),
     SCHEMA_V1("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT", "BYTEA")},
    {2, SCHEMA_V2, NULL},
};

int incident_schema_migrate(store_t *st, err_t *err)
{
    int rc = mail_migrate(st, err);
    if (rc)
        return rc;
    return store_migrate(st, "incident", migrations, sizeof migrations / sizeof migrations[0], err);
}

int incident_schema_bump_opslog(store_conn_t *c, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c, "UPDATE opslog_generation SET generation = generation + 1 WHERE id = 1", &s, err);
    if (rc)
        return rc;
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : store_notify(c, "opslog", err); /* other nodes reload at commit */
}

int incident_schema_opslog_generation(store_conn_t *c, int64_t *out, err_t *err)
{
    return store_query_int64(c, "SELECT generation FROM opslog_generation WHERE id = 1", 0, out,
                             err);
}
