/*
 * schema.c: the mail module's table (module "mail" in store_migrate).
 *
 * mail_message  everything the platform mails, one row per message, with
 *               its state (pending, sending, sent, failed), its lease while
 *               a sender has it, its attempts and back-off, and its
 *               Message-ID (made when first claimed, then kept). ref says
 *               what it is about (an incident or agreement id); source,
 *               when set, is unique, so a caller can queue a message once.
 *
 * The rows of the queues that came before this module (incident's
 * mail_outbox, agreement's agreement_outbox) are moved here by those
 * modules' own migrations, which run after this one.
 *
 * The SQL is written once with the dialect's types as macros, so that the
 * SQLite and PostgreSQL texts cannot drift apart. Times are int64 ms since
 * the epoch. Never edit a migration once committed; add one.
 */
#include "mail/internal.h"

#define SCHEMA_V1(ID, INT, BLOB)                                                                   \
    "CREATE TABLE mail_message ("                                                                  \
    " id " ID ","                                                                                  \
    " message_id TEXT UNIQUE,"                                                                     \
    " source TEXT UNIQUE,"                                                                         \
    " kind TEXT NOT NULL,"                                                                         \
    " ref TEXT,"                                                                                   \
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
    "CREATE INDEX mail_message_due ON mail_message (state, next_attempt_at)"

static const struct store_migration migrations[] = {
    {1, SCHEMA_V1("INTEGER PRIMARY KEY", "INTEGER", "BLOB"),
     SCHEMA_V1("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT", "BYTEA")},
};

int mail_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "mail", migrations, sizeof migrations / sizeof migrations[0], err);
}
