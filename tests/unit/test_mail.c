/* Unit tests: the mail module on its own (queueing inside the caller's
 * transaction, the Message-ID kept across attempts, its configuration
 * section, its text helpers) and the migration that moves the rows of the
 * queues that came before it (incident's mail_outbox, agreement's
 * agreement_outbox) into mail_message. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "agreement/agreement.h"
#include "core/clock.h"
#include "fixture.h"
#include "incident/incident.h"
#include "mail/mail.h"
#include "smtp_sink.h"

static char dir[128];
static store_t *st;
static mail_t *ml;
static smtp_sink_t *sink;

static void setup(void)
{
    fx_tmpdir(dir, "mail");
    st = fx_store(dir, "t.db");
    sink = smtp_sink_start(0);
    cr_assert_not_null(sink);
    struct mail_settings s;
    mail_settings_default(&s);
    snprintf(s.from, sizeof s.from, "dupla@skat.example");
    snprintf(s.smtp_url, sizeof s.smtp_url, "smtp://127.0.0.1:%u", smtp_sink_port(sink));
    s.retry_base_seconds = 10;
    s.smtp_timeout_seconds = 5;
    err_t err;
    cr_assert_eq(mail_open(st, &s, &ml, &err), 0, "%s", err.log);
}

static void teardown(void)
{
    mail_close(ml);
    smtp_sink_stop(sink);
    store_close(st);
    fx_rmtree(dir);
}

TestSuite(mail, .init = setup, .fini = teardown, .timeout = 60);

static int64_t count(const char *sql)
{
    store_conn_t *c;
    err_t err;
    int64_t n = -1;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, sql, -1, &n, &err), 0, "%s: %s", sql, err.log);
    store_conn_put(c);
    return n;
}

/* The one message's Message-ID into out ("" when it has none). */
static void message_id(char *out, size_t cap)
{
    store_conn_t *c;
    store_stmt_t *s;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_prepare(c, "SELECT message_id FROM mail_message", &s, &err), 0);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    str_copy(store_col_text(s, 0), out, cap);
    store_stmt_done(s);
    store_conn_put(c);
}

/* Queues m in its own transaction, committed or rolled back. */
static int enqueue(const struct mail_message *m, bool commit)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    int rc = mail_enqueue(c, m, clock_now_ms(), &err);
    if (rc == 0 && commit)
        cr_assert_eq(store_commit(c, &err), 0);
    else
        store_rollback(c);
    store_conn_put(c);
    return rc;
}

Test(mail, a_message_exists_exactly_when_the_callers_transaction_commits)
{
    struct mail_message m = {.kind = "receipt",
                             .to = "pia@kommune.example",
                             .subject = "Kvittering",
                             .body = "Modtaget.",
                             .ref = "INC-2026-000001",
                             .source = "receipt:INC-2026-000001"};
    cr_assert_eq(enqueue(&m, false), 0);
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message"), 0, "rolled back with its change");
    cr_assert_eq(enqueue(&m, true), 0);
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE state = 'pending' AND ref ="
                       " 'INC-2026-000001' AND message_id IS NULL"),
                 1);
    cr_assert_neq(enqueue(&m, true), 0, "the same source is queued once");
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message"), 1);
    struct mail_message bad = {.kind = "status", .to = "no address", .subject = "s", .body = "b"};
    cr_assert_eq(enqueue(&bad, true), 0, "the caller's change still commits");
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE state = 'failed' AND last_error ="
                       " 'no valid recipient'"),
                 1);
}

Test(mail, the_message_id_is_made_at_the_first_claim_and_kept_across_attempts)
{
    struct mail_message m = {
        .kind = "status", .to = "pia@kommune.example", .subject = "Status", .body = "Løst."};
    cr_assert_eq(enqueue(&m, true), 0);
    smtp_sink_set_mode(sink, SMTP_SINK_TEMPFAIL);
    err_t err;
    struct mail_send_stats s;
    int64_t now = clock_now_ms();
    cr_assert_eq(mail_send_pending(ml, now, &s, &err), 0, "%s", err.log);
    cr_assert_eq(s.retried, 1);
    char first[300], second[300];
    message_id(first, sizeof first);
    cr_assert(first[0] == '<' && strstr(first, "@skat.example>"), "%s", first);
    smtp_sink_set_mode(sink, SMTP_SINK_ACCEPT);
    cr_assert_eq(mail_send_pending(ml, now + 20000, &s, &err), 0, "%s", err.log);
    cr_assert_eq(s.sent, 1);
    message_id(second, sizeof second);
    cr_assert_str_eq(first, second);
    cr_assert_eq(smtp_sink_count_containing(sink, first), 1, "the relay got the same Message-ID");
}

Test(mail, the_mail_section_of_the_configuration)
{
    struct dupla_config cfg;
    struct mail_settings s;
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\": \"test\", \"mail\": {\"from\":"
                                    " \"x@y.example\", \"smtp_url\": \"smtps://relay:465\","
                                    " \"retry_max_seconds\": 60}}",
                                    "/tmp", &cfg, &err),
                 0, "%s", err.detail);
    cr_assert_eq(mail_config_read(&cfg, &s, &err), 0, "%s", err.detail);
    cr_assert_str_eq(s.from, "x@y.example");
    cr_assert_str_eq(s.smtp_url, "smtps://relay:465");
    cr_assert(s.smtp_configured);
    cr_assert_eq(s.retry_max_seconds, 60);
    cr_assert_eq(s.max_attempts, MAIL_DEFAULT_MAX_ATTEMPTS);
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\": \"test\"}", "/tmp", &cfg, &err), 0);
    cr_assert_eq(mail_config_read(&cfg, &s, &err), 0, "%s", err.detail);
    cr_assert(!s.smtp_configured, "no relay configured: the server only queues");
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\": \"test\", \"mail\": {\"from\": \"nobody\"}}",
                                    "/tmp", &cfg, &err),
                 0);
    cr_assert_eq(mail_config_read(&cfg, &s, &err), DUPLA_EINVAL);
    cr_assert(strstr(err.detail, "mail.from"), "%s", err.detail);
    config_free(&cfg);
}

Test(mail, text_helpers)
{
    cr_assert(mail_address_valid("pia@kommune.example"));
    cr_assert(!mail_address_valid("pia kommune@example"));
    cr_assert(!mail_address_valid("<pia@kommune.example>"));
    cr_assert(!mail_address_valid("@example"));
    cr_assert(!mail_address_valid(NULL));
    char a[] = "Pia@Kommune.Example";
    mail_address_lower(a);
    cr_assert_str_eq(a, "pia@kommune.example");
    char *t = mail_text_clip("\xc3\xa6\xc3\xb8", 4, 3); /* "æø" cut to 3 bytes */
    cr_assert_str_eq(t, "\xc3\xa6");
    free(t);
    t = mail_text_clip("a\x01"
                       "b\xff"
                       "c\n",
                       6, 100);
    cr_assert_str_eq(t, "ab\xef\xbf\xbd"
                        "c\n");
    free(t);
}

/* The queues as they were before this module (incident and agreement
 * schema version 1), rows in them, and the later migrations forgotten, so
 * that opening the modules runs the moves again. */
static void old_queues(void)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    /* The same tables on both backends (ids given, so no autoincrement is
     * needed); only the blob type differs. */
    bool pg = strcmp(store_backend(st), "sqlite") != 0;
    cr_assert_eq(store_exec(c, pg ? "CREATE DOMAIN blob AS bytea" : "SELECT 1", &err), 0, "%s",
                 err.log);
    cr_assert_eq(
        store_exec(
            c,
            "CREATE TABLE mail_outbox (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL"
            " UNIQUE, source TEXT UNIQUE, kind TEXT NOT NULL, incident_id TEXT, recipient"
            " TEXT NOT NULL, cc TEXT, subject TEXT NOT NULL, body TEXT NOT NULL,"
            " in_reply_to TEXT, auto_submitted TEXT NOT NULL, attachment BLOB, state TEXT"
            " NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT"
            " NULL, lease_until INTEGER, lease_token TEXT, last_error TEXT, created_at"
            " INTEGER NOT NULL, sent_at INTEGER);"
            "INSERT INTO mail_outbox (id, message_id, source, kind, incident_id, recipient,"
            " subject, body, auto_submitted, state, attempts, next_attempt_at,"
            " created_at, sent_at) VALUES (1, '<m1@skat.example>', 'receipt:INC-1',"
            " 'receipt', 'INC-1', 'a@org.example', 'S1', 'B1', 'auto-generated', 'sent',"
            " 1, 5, 5, 6), (2, '<m2@skat.example>', NULL, 'status', 'INC-1', 'b@org.example',"
            " 'S2', 'B2', 'auto-generated', 'pending', 2, 7, 7, NULL);"
            "CREATE TABLE agreement_outbox (id INTEGER PRIMARY KEY, agreement_id TEXT NOT"
            " NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, recipient TEXT NOT NULL,"
            " subject TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL,"
            " sent_at INTEGER);"
            "INSERT INTO agreement_outbox (id, agreement_id, version, kind, recipient,"
            " subject, body, created_at, sent_at) VALUES (1, 'a1', 1, 'approved',"
            " 'k@org.example', 'Godkendt', 'G', 8, NULL), (2, 'a1', 1, 'submitted',"
            " 'k@org.example', 'Sendt', 'S', 3, 4), (3, 'a2', 1, 'expiry-warning', '',"
            " 'Udløber', 'U', 9, NULL);"
            "DELETE FROM schema_migrations WHERE version = 2 AND module IN ('incident',"
            " 'agreement');"
            /* the agreement module's later migrations run again after its 2 */
            "DELETE FROM schema_migrations WHERE version > 2 AND module = 'agreement';"
            "DROP TABLE agreement_template; DROP TABLE agreement_limited;"
            "ALTER TABLE agreement DROP COLUMN rate_per_second;"
            "ALTER TABLE agreement DROP COLUMN rate_burst",
            &err),
        0, "%s", err.log);
    store_conn_put(c);
}

static void open_modules(void)
{
    err_t err;
    agreement_t *ag;
    incident_t *inc;
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    agreement_close(ag);
    cr_assert_eq(incident_open(st, NULL, NULL, &inc, &err), 0, "%s", err.log);
    incident_close(inc);
}

Test(mail, the_queues_before_this_module_move_to_mail_message_once)
{
    open_modules();
    old_queues();
    open_modules();
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message"), 4,
                 "incident's two rows and agreement's two unsent ones");
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE message_id = '<m1@skat.example>'"
                       " AND source = 'receipt:INC-1' AND ref = 'INC-1' AND state = 'sent' AND"
                       " attempts = 1 AND sent_at = 6"),
                 1);
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE message_id = '<m2@skat.example>'"
                       " AND state = 'pending' AND attempts = 2 AND next_attempt_at = 7"),
                 1);
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-approved' AND"
                       " ref = 'a1' AND state = 'pending' AND message_id IS NULL AND created_at ="
                       " 8 AND recipient = 'k@org.example'"),
                 1);
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-expiry-warning'"
                       " AND state = 'failed'"),
                 1, "no recipient: kept as failed, never lost");
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-submitted'"), 0,
                 "handed over before: not sent twice");
    cr_assert_eq(count(strcmp(store_backend(st), "sqlite") == 0
                           ? "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('mail_outbox',"
                             " 'agreement_outbox')"
                           : "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ="
                             " current_schema() AND table_name IN ('mail_outbox',"
                             " 'agreement_outbox')"),
                 0, "the old tables are gone");
    open_modules();
    cr_assert_eq(count("SELECT COUNT(*) FROM mail_message"), 4, "moved once");
    /* what was moved is sent like anything queued here */
    err_t err;
    struct mail_send_stats s;
    cr_assert_eq(mail_send_pending(ml, clock_now_ms(), &s, &err), 0, "%s", err.log);
    cr_assert_eq(s.sent, 2);
    cr_assert_eq(smtp_sink_count_containing(sink, "<m2@skat.example>"), 1);
}
