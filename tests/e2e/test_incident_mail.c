/* End to end: the real dupla binary ($DUPLA_BIN) takes in a maildir, records
 * phone calls and sends its outbox to a real SMTP sink on loopback started
 * by this test: each trigger, a missing and a misspelled trigger, an
 * unknown sender, a receipt for each channel the console has (mail, phone;
 * the web channel comes with the HTTP routes), a message processed once
 * across a restart, the relay down then up (delivered once), and the
 * operations log's RSS feed parsed by a feed parser. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "incident/incident.h"
#include "smtp_sink.h"

static char dir[64], cfg[128], maildir[128];
static char out[65536];
static smtp_sink_t *sink;
static unsigned port;

static void write_config(void)
{
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"environment\": \"test\", \"store\": \"sqlite:t.db\", \"listeners\": [],\n"
            " \"incident\": {\"general_mailbox\": \"dataforvaltning@skat.example\","
            " \"maildir\": \"Maildir\"},\n"
            " \"mail\": {\"from\": \"dupla@skat.example\", \"smtp_url\": \"smtp://127.0.0.1:%u\","
            " \"retry_base_seconds\": 0, \"timeout_seconds\": 10}}\n",
            port);
    fclose(f);
}

/* Runs dupla with ARGS (NULL-terminated); its exit status, output in out. */
#define DUPLA(...) run((char *[]){"dupla", __VA_ARGS__, NULL})
static int run(char **argv)
{
    const char *bin = getenv("DUPLA_BIN");
    cr_assert_not_null(bin, "DUPLA_BIN is not set");
    char path[160];
    snprintf(path, sizeof path, "%s/out", dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void drop(const char *name, const char *from, const char *subject)
{
    char p[300];
    snprintf(p, sizeof p, "%s/new/%s", maildir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "From: <%s>\r\nTo: incident@skat.example\r\nSubject: %s\r\n"
            "Message-ID: <%s@mail.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nBeskrivelse af %s\r\n",
            from, subject, name, name);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-e2e-incident-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfg, sizeof cfg, "%s/dupla.json", dir);
    snprintf(maildir, sizeof maildir, "%s/Maildir", dir);
    const char *subs[] = {"", "/new", "/cur", "/tmp"};
    for (int i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", maildir, subs[i]);
        cr_assert_eq(mkdir(p, 0700), 0);
    }
    sink = smtp_sink_start(0);
    cr_assert_not_null(sink);
    port = smtp_sink_port(sink);
    write_config();
    cr_assert_eq(DUPLA("org", "create", "--config", cfg, "--name", "Aarhus Kommune", "--cvr",
                       "12345674", "--contact-email", "kontakt@kommune.example", "--admin",
                       "pia@kommune.example"),
                 0, "%s", out);
}

static void teardown(void)
{
    smtp_sink_stop(sink);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(e2e_incident, .init = setup, .fini = teardown, .timeout = 60);

/* Messages in the sink to rcpt whose data holds needle. */
static size_t sent_to(const char *rcpt, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < smtp_sink_count(sink); i++) {
        struct smtp_sink_message m;
        cr_assert_eq(smtp_sink_get(sink, i, &m), 0);
        if (strstr(m.rcpts, rcpt) && (!needle || strstr(m.data, needle)))
            n++;
        free(m.from), free(m.rcpts), free(m.data);
    }
    return n;
}

Test(e2e_incident, triggers_senders_and_a_receipt_for_each_channel)
{
    drop("1.data.host", "pia@kommune.example", "DUPLA-Prod-Data: felt mangler");
    drop("2.aftale.host", "pia@kommune.example", "DUPLA-Prod-Aftale: ingen adgang");
    drop("3.tfe.host", "kontakt@kommune.example", "DUPLA-TFE testdata");
    drop("4.none.host", "pia@kommune.example", "Et spørgsmål");
    drop("5.typo.host", "pia@kommune.example", "DUPLA-Prod-Date: stavefejl");
    drop("6.stranger.host", "nogen@ukendt.example", "DUPLA-TFE: hvem er jeg");
    cr_assert_eq(DUPLA("mail", "pickup", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "taken 6: incidents 4, replies to incidents 0, without trigger 2"), "%s",
              out);
    cr_assert_eq(DUPLA("incident", "phone", "--config", cfg, "--org", "12345674", "--caller",
                       "Pia Hansen", "--type", "TFE", "--description", "Opkald om testdata"),
                 0, "%s", out);
    cr_assert(strncmp(out, "INC-", 4) == 0, "%s", out);
    char phone_id[16];
    snprintf(phone_id, sizeof phone_id, "%.15s", out);
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "sent 9,"), "%s", out);
    /* receipts to the contact mailbox: three mails and the call */
    cr_assert_eq(sent_to("kontakt@kommune.example", "Kvittering"), 4);
    cr_assert_eq(sent_to("kontakt@kommune.example", phone_id), 1);
    cr_assert_eq(sent_to("kontakt@kommune.example", "Prod-Data (production)"), 1);
    cr_assert_eq(sent_to("kontakt@kommune.example", "Prod-Aftale (production)"), 1);
    cr_assert_eq(sent_to("kontakt@kommune.example", "TFE (test)"), 2);
    /* the unknown sender gets its receipt itself */
    cr_assert_eq(sent_to("nogen@ukendt.example", "not registered"), 1);
    /* no trigger: a reply listing the triggers, and a forward */
    cr_assert_eq(sent_to("pia@kommune.example", "DUPLA-Prod-Aftale  aftale"), 2);
    cr_assert_eq(sent_to("dataforvaltning@skat.example", "message/rfc822"), 2);
    cr_assert_eq(DUPLA("incident", "list", "--config", cfg), 0);
    cr_assert(strstr(out, "ingen adgang"), "%s", out);
    /* nothing goes twice */
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0);
    cr_assert(strstr(out, "sent 0,"), "%s", out);
    cr_assert_eq(smtp_sink_count(sink), 9);
}

Test(e2e_incident, a_message_is_processed_once_across_a_restart)
{
    drop("7.crash.host", "pia@kommune.example", "DUPLA-Prod-Data: efter nedbrud");
    /* The move to cur/ fails (its name is taken by a directory), as if the
     * process died between the commit and the move. */
    char block[300];
    snprintf(block, sizeof block, "%s/cur/7.crash.host:2,S", maildir);
    cr_assert_eq(mkdir(block, 0700), 0);
    char blockx[320];
    snprintf(blockx, sizeof blockx, "%s/x", block);
    cr_assert_eq(mkdir(blockx, 0700), 0);
    cr_assert_eq(DUPLA("mail", "pickup", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "incidents 1"), "%s", out);
    char still[300];
    snprintf(still, sizeof still, "%s/new/7.crash.host", maildir);
    cr_assert_eq(access(still, F_OK), 0, "the file is still in new/");
    rmdir(blockx);
    rmdir(block);
    cr_assert_eq(DUPLA("mail", "pickup", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "incidents 0") && strstr(out, "seen before 1"), "%s", out);
    cr_assert_neq(access(still, F_OK), 0, "moved now");
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0, "%s", out);
    cr_assert_eq(sent_to("kontakt@kommune.example", "efter nedbrud"), 1);
    cr_assert_eq(smtp_sink_count(sink), 1);
}

Test(e2e_incident, the_relay_down_then_up_delivers_once)
{
    smtp_sink_stop(sink); /* down */
    sink = NULL;
    cr_assert_eq(DUPLA("incident", "phone", "--config", cfg, "--org", "12345674", "--caller", "Pia",
                       "--type", "Prod-Data", "--description", "Relæ nede"),
                 0, "%s", out);
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "sent 0, to retry 1"), "%s", out);
    cr_assert_eq(DUPLA("mail", "list", "--config", cfg, "--state", "pending"), 0);
    cr_assert(strstr(out, "\"attempts\": 1"), "%s", out);
    sink = smtp_sink_start(port); /* up */
    cr_assert_not_null(sink);
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "sent 1,"), "%s", out);
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "sent 0,"), "%s", out);
    cr_assert_eq(smtp_sink_count(sink), 1);
    cr_assert_eq(sent_to("kontakt@kommune.example", "Kvittering"), 1);
}

Test(e2e_incident, the_rss_feed_parses_in_a_feed_parser)
{
    cr_assert_eq(DUPLA("opslog", "post", "--config", cfg, "--kind", "servicevindue", "--title",
                       "Opgradering <db> & co", "--start", "+1h", "--end", "+2h"),
                 0, "%s", out);
    cr_assert_eq(DUPLA("opslog", "post", "--config", cfg, "--kind", "drift", "--title",
                       "Langsomme svar", "--text", "Vi undersøger"),
                 0, "%s", out);
    cr_assert_eq(
        DUPLA("opslog", "update", "2", "--config", cfg, "--status", "resolved", "--text", "Løst"),
        0, "%s", out);
    cr_assert_eq(
        DUPLA("opslog", "post", "--config", cfg, "--kind", "servicevindue", "--title", "x"), 2,
        "a service window needs an end: %s", out);
    cr_assert_eq(DUPLA("opslog", "rss", "--config", cfg), 0, "%s", out);
    char path[160];
    snprintf(path, sizeof path, "%s/feed.rss", dir);
    FILE *f = fopen(path, "w");
    fputs(out, f);
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tools/parse_feed.py %s 2 > %s/parsed",
             getenv("DUPLA_SOURCE_ROOT"), path, dir);
    cr_assert_eq(system(cmd), 0, "%s", out);
}

Test(e2e_incident, usage_errors)
{
    cr_assert_eq(DUPLA("incident", "--help"), 0);
    cr_assert(strstr(out, "usage: dupla incident"));
    cr_assert_eq(DUPLA("mail", "--help"), 0);
    cr_assert_eq(DUPLA("opslog", "--help"), 0);
    cr_assert_eq(DUPLA("incident", "fly", "--config", cfg), 2);
    cr_assert_eq(DUPLA("incident", "phone", "--config", cfg, "--org", "12345674"), 2, "%s", out);
    cr_assert_eq(DUPLA("incident", "phone", "--config", cfg, "--org", "12345674", "--caller", "P",
                       "--type", "Prod-Date", "--description", "x"),
                 2, "%s", out);
    cr_assert(strstr(out, "Prod-Data"), "%s", out);
    cr_assert_eq(DUPLA("incident", "status", "--config", cfg, "INC-2026-999999", "closed"), 1, "%s",
                 out);
    cr_assert_eq(DUPLA("incident", "status", "--config", cfg, "INC-2026-999999", "done"), 2);
    cr_assert_eq(DUPLA("mail", "pickup", "--config", cfg, "--maildir", "/nonexistent"), 1);
    cr_assert_eq(DUPLA("mail", "send-pending", "--config", cfg, "--maildir", "x"), 2);
    cr_assert_eq(DUPLA("mail", "list", "--config", cfg, "--state", "lost"), 2);
    cr_assert_eq(DUPLA("mail", "retry", "--config", cfg, "abc"), 2);
    cr_assert_eq(DUPLA("opslog", "update", "--config", cfg), 2);
}

/* #18 item 6: a mail of thousands of parts costs a bounded number of rows
 * and log lines (INCIDENT_PARTS_RECORDED_MAX), its kept attachments stay
 * within attachments_max, and the next mail of the same pickup is taken as
 * usual. */
Test(e2e_incident, a_mail_of_thousands_of_parts_is_cut_to_its_limits)
{
    char p[300];
    snprintf(p, sizeof p, "%s/new/1.parts.host", maildir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f, "From: <pia@kommune.example>\r\nTo: incident@skat.example\r\n"
               "Subject: DUPLA-Prod-Data: mange dele\r\nMessage-ID: <parts@mail.example>\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
               "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMange vedhæftninger\r\n");
    for (int i = 0; i < 5000; i++)
        fprintf(f,
                "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: "
                "attachment; filename=\"del-%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                "QUJDREVGR0g=\r\n",
                i);
    fprintf(f, "--b--\r\n");
    fclose(f);
    drop("2.after.host", "pia@kommune.example", "DUPLA-Prod-Data: den næste");
    time_t t0 = time(NULL);
    cr_assert_eq(DUPLA("mail", "pickup", "--config", cfg), 0, "%s", out);
    cr_assert(strstr(out, "taken 2: incidents 2"), "%s", out);
    cr_assert(time(NULL) - t0 < 30, "pickup took %ld s", (long)(time(NULL) - t0));
    cr_assert_eq(DUPLA("incident", "list", "--config", cfg), 0);
    cr_assert(strstr(out, "den næste"), "%s", out);
    char *id = strstr(out, "INC-");
    cr_assert_not_null(id);
    char first[32], second[32];
    cr_assert_eq(sscanf(id, "%31s", first), 1);
    char *id2 = strstr(id + 4, "INC-");
    cr_assert_not_null(id2, "%s", out);
    cr_assert_eq(sscanf(id2, "%31s", second), 1);
    /* The list is newest first: the second is the mail of many parts. */
    cr_assert_eq(DUPLA("incident", "show", "--config", cfg, second), 0, "%s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    json_t *att = json_object_get(j, "attachments");
    cr_assert(json_is_array(att), "%s", out);
    cr_assert_eq(json_array_size(att), INCIDENT_PARTS_RECORDED_MAX, "%zu attachments recorded",
                 json_array_size(att));
    size_t kept = 0, i;
    json_t *a;
    json_array_foreach(att, i, a) kept += json_is_true(json_object_get(a, "kept"));
    cr_assert_eq(kept, INCIDENT_DEFAULT_ATTACHMENTS_MAX, "%zu kept", kept);
    json_decref(j);
}
