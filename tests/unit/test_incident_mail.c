/* Mail intake from a maildir: each trigger, a missing and a misspelled one,
 * an unknown sender, attachments over the limits, automatic mail, replies
 * to an open incident, and exactly-once across a crash before the move. */
#include "incident_fixture.h"

TestSuite(mail_intake, .init = fx_setup, .fini = fx_teardown);

static struct incident_pickup_stats pickup(void)
{
    struct incident_pickup_stats st;
    err_t err;
    cr_assert_eq(incident_maildir_pickup(fx_inc, fx_maildir, &st, &err), 0, "%s", err.log);
    return st;
}

Test(mail_intake, each_trigger_makes_an_incident_of_its_type)
{
    fx_drop("new", "1.a.host", fx_message("pia@kommune.example", "DUPLA-Prod-Data: felt A", "x"));
    fx_drop("new", "2.a.host", fx_message("pia@kommune.example", "DUPLA-Prod-Aftale adgang", "x"));
    fx_drop("new", "3.a.host", fx_message("ole@bank.example", "dupla-tfe - testdata", "x"));
    fx_drop("tmp", "4.a.host", fx_message("pia@kommune.example", "DUPLA-TFE: in tmp", "x"));
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.incidents, 3);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE type = 'Prod-Data' AND environment ="
                          " 'production' AND org_cvr = '12345674' AND title = 'felt A'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE type = 'Prod-Aftale'"), 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE type = 'TFE' AND environment ="
                          " 'test' AND org_cvr = '87654303'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt'"), 3);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE recipient ="
                          " 'kontakt-87654303@org.example'"),
                 1);
    cr_assert(fx_exists("cur", "1.a.host:2,S"));
    cr_assert(!fx_exists("new", "1.a.host"));
    cr_assert(fx_exists("tmp", "4.a.host"), "tmp/ is never read");
}

Test(mail_intake, missing_and_misspelled_triggers_make_no_incident)
{
    fx_drop("new", "1.b.host", fx_message("pia@kommune.example", "Spørgsmål om aftale", "x"));
    fx_drop("new", "2.b.host", fx_message("pia@kommune.example", "DUPLA-Prod-Date: x", "x"));
    fx_drop("new", "3.b.host", fx_message("pia@kommune.example", "DUPLA TFE x", "x"));
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.no_trigger, 3);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident"), 0);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'no-trigger' AND"
                          " recipient = 'pia@kommune.example' AND body LIKE '%DUPLA-Prod-Aftale%'"),
                 3);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'forward' AND recipient ="
                          " 'dataforvaltning@skat.example' AND attachment IS NOT NULL"),
                 3);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_mail WHERE outcome = 'no-trigger'"), 3);
}

Test(mail_intake, automatic_mail_gets_no_reply)
{
    char msg[2048];
    snprintf(msg, sizeof msg,
             "From: MAILER-DAEMON@kommune.example\r\nSubject: Undelivered Mail\r\n"
             "Auto-Submitted: auto-replied\r\nMessage-ID: <bounce1@x>\r\n\r\nbounce\r\n");
    fx_drop("new", "1.c.host", msg);
    pickup();
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'no-trigger'"), 0);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'forward'"), 1);
}

Test(mail_intake, unknown_sender_gets_an_incident_flagged_and_a_receipt)
{
    fx_drop("new", "1.d.host", fx_message("someone@unknown.example", "DUPLA-TFE: hjælp", "x"));
    pickup();
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE org_cvr IS NULL AND unknown_sender"
                          " = 1"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt' AND recipient ="
                          " 'someone@unknown.example' AND body LIKE '%not registered%'"),
                 1);
}

Test(mail_intake, attachments_over_the_limits_are_dropped_and_recorded)
{
    /* limits: 2 attachments, 1000 bytes each, 1500 in all */
    char big[1201], mid[801], small[101];
    memset(big, 'B', 1200), big[1200] = '\0';
    memset(mid, 'M', 800), mid[800] = '\0';
    memset(small, 'S', 100), small[100] = '\0';
    char msg[8192];
    snprintf(msg, sizeof msg,
             "From: pia@kommune.example\r\nSubject: DUPLA-Prod-Data: bilag\r\n"
             "Message-ID: <att1@x>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
             "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe bilag.\r\n"
             "--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
             "filename=\"big.txt\"\r\n\r\n%s\r\n"
             "--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
             "filename=\"mid.txt\"\r\n\r\n%s\r\n"
             "--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
             "filename=\"mid2.txt\"\r\n\r\n%s\r\n"
             "--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
             "filename=\"third.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVq\r\n"
             "--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
             "filename=\"fifth.txt\"\r\n\r\n%s\r\n--XX--\r\n",
             big, mid, mid, small);
    fx_drop("new", "1.e.host", msg);
    pickup();
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment"), 5);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment WHERE name = 'big.txt' AND"
                          " dropped_reason = 'attachment too large' AND data IS NULL"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment WHERE name = 'mid.txt' AND"
                          " dropped_reason IS NULL AND length(data) = 800"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment WHERE name = 'mid2.txt' AND"
                          " dropped_reason = 'attachments too large in all'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment WHERE name = 'third.pdf' AND"
                          " dropped_reason IS NULL AND length(data) = 3"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_attachment WHERE name = 'fifth.txt' AND"
                          " dropped_reason = 'too many attachments'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE description LIKE 'Se bilag.%'"), 1);
}

Test(mail_intake, exactly_once_across_a_crash_before_the_move)
{
    const char *msg = fx_message("pia@kommune.example", "DUPLA-Prod-Data: crash", "x");
    fx_drop("new", "1.f.host", msg);
    /* The first run commits, then "crashes" before moving the file. */
    enum incident_mail_outcome o;
    char id[INCIDENT_ID_LEN + 1];
    err_t err;
    cr_assert_eq(incident_mail_accept(fx_inc, "1.f.host", str_from_cstr(msg), false, &o, id, &err),
                 0, "%s", err.log);
    cr_assert_eq(o, INCIDENT_MAIL_INCIDENT);
    cr_assert(fx_exists("new", "1.f.host"));
    /* A restart: a new module on the same store picks up again. */
    incident_close(fx_inc);
    mail_close(fx_mail);
    fx_open();
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.seen, 1);
    cr_assert_eq(st.incidents, 0);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident"), 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt'"), 1);
    cr_assert(fx_exists("cur", "1.f.host:2,S"));
    cr_assert(!fx_exists("new", "1.f.host"));
}

Test(mail_intake, the_same_message_delivered_twice_is_a_duplicate)
{
    const char *msg = fx_message("pia@kommune.example", "DUPLA-Prod-Data: twice", "x");
    fx_drop("new", "1.g.host", msg);
    fx_drop("new", "2.g.host", msg);
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.incidents, 1);
    cr_assert_eq(st.duplicates, 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message"), 1);
}

Test(mail_intake, a_reply_naming_an_open_incident_is_added_to_it)
{
    fx_drop("new", "1.h.host", fx_message("pia@kommune.example", "DUPLA-Prod-Data: første", "x"));
    pickup();
    char id[INCIDENT_ID_LEN + 1] = "";
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "SELECT id FROM incident", &s, &err), 0);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    str_copy(store_col_text(s, 0), id, sizeof id);
    store_stmt_done(s);
    store_conn_put(c);
    struct incident_actor staff = STAFF;
    cr_assert_eq(
        incident_set_status(fx_inc, &staff, str_from_cstr(id), INCIDENT_WAITING, "?", &err), 0);
    char subj[128];
    snprintf(subj, sizeof subj, "Re: %s: afventer svar fra dig", id);
    fx_drop("new", "2.h.host", fx_message("pia@kommune.example", subj, "Svaret er 42"));
    /* a stranger naming the id is not taken as the reporter */
    fx_drop("new", "3.h.host", fx_message("evil@unknown.example", subj, "spam"));
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.messages, 1);
    cr_assert_eq(st.no_trigger, 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE status = 'in-progress'"), 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident_history WHERE kind = 'message-in' AND"
                          " text LIKE 'Svaret er 42%'"),
                 1);
}

Test(mail_intake, unreadable_files_are_recorded_and_forwarded)
{
    fx_drop("new", "1.i.host", "\x01\x02 not a mail at all");
    struct incident_pickup_stats st = pickup();
    cr_assert_eq(st.unreadable, 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'forward'"), 1);
    cr_assert(fx_exists("cur", "1.i.host:2,S"));
}

Test(mail_intake, a_missing_maildir_is_an_error)
{
    err_t err;
    cr_assert_eq(incident_maildir_pickup(fx_inc, "/nonexistent/maildir", NULL, &err), DUPLA_EIO);
    cr_assert_str_eq(err.param, "maildir");
}
