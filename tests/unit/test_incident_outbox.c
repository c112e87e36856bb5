/* Incident's mail through the mail module against a real SMTP sink on
 * loopback: receipts go out once, a relay that is down then up delivers
 * once, back-off, permanent refusals, a lease left by a crashed sender, and
 * the agreement module's decisions sent through the same queue. */
#include "incident_fixture.h"
#include "agreement/agreement.h"
#include "smtp_sink.h"

static smtp_sink_t *sink;

static void setup(void)
{
    fx_setup();
    sink = smtp_sink_start(0);
    cr_assert_not_null(sink);
    incident_close(fx_inc);
    mail_close(fx_mail);
    snprintf(fx_mset.smtp_url, sizeof fx_mset.smtp_url, "smtp://127.0.0.1:%u",
             smtp_sink_port(sink));
    fx_open();
}

static void teardown(void)
{
    smtp_sink_stop(sink);
    fx_teardown();
}

TestSuite(outbox, .init = setup, .fini = teardown);

static void phone(char *id)
{
    struct incident_actor staff = STAFF;
    struct incident_phone_report r = {.org_cvr = ORG,
                                      .caller = "Pia Hansen",
                                      .caller_email = "pia@kommune.example",
                                      .type = INCIDENT_TFE,
                                      .title = "Testdata: æøå <&>",
                                      .description = "Testdata mangler"};
    err_t err;
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), 0, "%s", err.detail);
}

static struct mail_send_stats send_at(int64_t now)
{
    struct mail_send_stats st;
    err_t err;
    int rc = mail_send_pending(fx_mail, now, &st, &err);
    cr_assert_eq(rc, 0, "%d %s / %s", rc, err.log, err.detail);
    return st;
}

Test(outbox, a_receipt_is_sent_once_with_a_stable_message_id)
{
    char id[INCIDENT_ID_LEN + 1];
    phone(id);
    int64_t now = clock_now_ms();
    struct mail_send_stats st = send_at(now);
    cr_assert_eq(st.sent, 1);
    cr_assert_eq(smtp_sink_count(sink), 1);
    struct smtp_sink_message m;
    cr_assert_eq(smtp_sink_get(sink, 0, &m), 0);
    cr_assert_str_eq(m.from, "dupla@skat.example");
    cr_assert_str_eq(m.rcpts, "kontakt-12345674@org.example,pia@kommune.example");
    cr_assert(strstr(m.data, id), "the receipt names the incident");
    cr_assert(strstr(m.data, "Message-Id: <") || strstr(m.data, "Message-ID: <"), "%s", m.data);
    cr_assert(strstr(m.data, "Auto-Submitted: auto-generated"));
    cr_assert(strstr(m.data, "=?UTF-8?B?") || strstr(m.data, "=?utf-8?b?"),
              "the subject is RFC 2047 encoded: %s", m.data);
    cr_assert(strstr(m.data, "charset=utf-8"), "%s", m.data);
    free(m.from), free(m.rcpts), free(m.data);
    cr_assert_eq(
        fx_count("SELECT COUNT(*) FROM mail_message WHERE state = 'sent' AND attempts = 1"), 1);
    /* nothing more to send */
    st = send_at(now + 1000000);
    cr_assert_eq(st.sent, 0);
    cr_assert_eq(smtp_sink_count(sink), 1);
}

Test(outbox, relay_down_then_up_delivers_once)
{
    unsigned port = smtp_sink_port(sink);
    smtp_sink_stop(sink); /* the relay is down */
    sink = NULL;
    char id[INCIDENT_ID_LEN + 1];
    phone(id);
    phone(id);
    int64_t now = clock_now_ms();
    struct mail_send_stats st = send_at(now);
    cr_assert_eq(st.sent, 0);
    cr_assert_eq(st.retried, 1, "the run stops at the first transient failure");
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE state = 'pending' AND attempts"
                          " = 1 AND last_error IS NOT NULL"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE attempts = 0"), 1);
    sink = smtp_sink_start(port); /* up again */
    cr_assert_not_null(sink);
    /* the retried one waits for its back-off (10 s); the untouched one goes */
    st = send_at(now + 5000);
    cr_assert_eq(st.sent, 1);
    st = send_at(now + 11000);
    cr_assert_eq(st.sent, 1);
    st = send_at(now + 100000);
    cr_assert_eq(st.sent, 0);
    cr_assert_eq(smtp_sink_count(sink), 2);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE state = 'sent'"), 2);
}

Test(outbox, back_off_doubles_up_to_the_ceiling_then_fails)
{
    smtp_sink_set_mode(sink, SMTP_SINK_TEMPFAIL);
    char id[INCIDENT_ID_LEN + 1];
    phone(id);
    int64_t now = clock_now_ms(), t = now;
    int64_t expect[] = {10000, 20000, 40000};
    for (int i = 0; i < 3; i++) {
        struct mail_send_stats st = send_at(t);
        cr_assert_eq(st.retried, 1, "attempt %d", i + 1);
        int64_t delay = fx_count("SELECT next_attempt_at FROM mail_message") - t;
        cr_assert(delay >= expect[i] && delay < expect[i] + 5000, "i %d delay %lld", i,
                  (long long)delay);
        t += delay;
    }
    struct mail_send_stats st = send_at(t);
    cr_assert_eq(st.failed, 1, "max_attempts is 4");
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE state = 'failed' AND attempts"
                          " = 4 AND last_error LIKE '%451%'"),
                 1);
    cr_assert_eq(smtp_sink_count(sink), 0);
    /* an operator puts it back; the relay is well again */
    smtp_sink_set_mode(sink, SMTP_SINK_ACCEPT);
    err_t err;
    int64_t mid = fx_count("SELECT id FROM mail_message");
    cr_assert_eq(mail_retry(fx_mail, mid, &err), 0, "%s", err.detail);
    cr_assert_eq(mail_retry(fx_mail, mid, &err), DUPLA_ECONFLICT);
    st = send_at(clock_now_ms());
    cr_assert_eq(st.sent, 1);
}

Test(outbox, a_permanent_refusal_fails_at_once)
{
    smtp_sink_set_mode(sink, SMTP_SINK_REJECT_RCPT);
    char id[INCIDENT_ID_LEN + 1];
    phone(id);
    struct mail_send_stats st = send_at(clock_now_ms());
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE state = 'failed' AND attempts"
                          " = 1 AND last_error LIKE '%550%'"),
                 1);
    json_t *list;
    err_t err;
    cr_assert_eq(mail_list_json(fx_mail, "failed", &list, &err), 0);
    cr_assert_eq(json_array_size(list), 1);
    json_decref(list);
    cr_assert_eq(mail_list_json(fx_mail, "lost", &list, &err), DUPLA_EINVAL);
}

Test(outbox, a_crashed_senders_lease_runs_out_then_it_is_sent_once)
{
    char id[INCIDENT_ID_LEN + 1];
    phone(id);
    int64_t now = clock_now_ms();
    /* A sender claimed it and died before the relay answered. */
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c,
                               "UPDATE mail_message SET state = 'sending', attempts = 1,"
                               " lease_until = ?, lease_token = 'dead'",
                               &s, &err),
                 0);
    store_bind_int64(s, 1, now + 60000);
    cr_assert_eq(store_step(s, &err), STORE_DONE);
    store_stmt_done(s);
    store_conn_put(c);
    cr_assert_eq(send_at(now).sent, 0, "the lease still holds");
    cr_assert_eq(send_at(now + 60000).sent, 1);
    cr_assert_eq(send_at(now + 120000).sent, 0);
    cr_assert_eq(smtp_sink_count(sink), 1);
    cr_assert_eq(fx_count("SELECT attempts FROM mail_message"), 2);
}

Test(outbox, the_agreement_modules_mail_goes_through_the_same_queue_once)
{
    store_conn_t *c;
    err_t err;
    agreement_t *ag;
    cr_assert_eq(agreement_open(fx_store, NULL, &ag, &err), 0, "%s", err.log);
    agreement_close(ag);
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    struct mail_message ok = {.kind = "agreement-approved",
                              .to = "kontakt@org.example",
                              .subject = "Aftale godkendt",
                              .body = "Godkendt.",
                              .ref = "a1"};
    struct mail_message none = {
        .kind = "agreement-expiry-warning", .to = "", .subject = "Udløber", .body = "Snart."};
    cr_assert_eq(mail_enqueue(c, &ok, 1, &err), 0, "%s", err.log);
    cr_assert_eq(mail_enqueue(c, &none, 2, &err), 0, "%s", err.log);
    cr_assert_eq(store_commit(c, &err), 0);
    store_conn_put(c);
    struct mail_send_stats st = send_at(clock_now_ms());
    cr_assert_eq(st.sent, 1);
    cr_assert_eq(
        fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-expiry-warning'"
                 " AND state = 'failed'"),
        1, "no recipient: kept as failed, never lost");
    st = send_at(clock_now_ms() + 1000000);
    cr_assert_eq(st.sent, 0);
    cr_assert_eq(smtp_sink_count(sink), 1);
    cr_assert_eq(smtp_sink_count_containing(sink, "Godkendt."), 1);
}

Test(outbox, settings_from_config)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\": \"test\", \"mail\": {\"from\": "
                                    "\"x@y.example\", \"smtp_url\": \"smtp://relay:2525\","
                                    " \"max_attempts\": 3}, \"incident\": {\"general_mailbox\":"
                                    " \"info@y.example\", \"attachments_max\": 1}}",
                                    "/tmp", &cfg, &err),
                 0, "%s", err.detail);
    struct incident_settings s;
    struct mail_settings ms;
    cr_assert_eq(incident_settings_from_config(&cfg, &s, &err), 0, "%s", err.detail);
    cr_assert_eq(mail_config_read(&cfg, &ms, &err), 0, "%s", err.detail);
    cr_assert_str_eq(ms.smtp_url, "smtp://relay:2525");
    cr_assert_eq(ms.max_attempts, 3);
    cr_assert(ms.smtp_configured);
    cr_assert_eq(s.attachments_max, 1);
    config_free(&cfg);
    cr_assert_eq(
        config_load_string("{\"environment\": \"test\", \"mail\": {\"smtp_url\": \"http://x\"}}",
                           "/tmp", &cfg, &err),
        0);
    cr_assert_eq(incident_settings_from_config(&cfg, &s, &err), 0, "mail is not incident's");
    cr_assert_neq(mail_config_read(&cfg, &ms, &err), 0);
    cr_assert(strstr(err.detail, "mail.smtp_url"));
    config_free(&cfg);
}
