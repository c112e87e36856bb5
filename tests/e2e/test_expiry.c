/*
 * End-to-end: expiry warnings in the real `dupla serve`.
 *
 * The demo environment (`dupla demo --setup-only`) with things made to
 * expire soon: a CA and server certificate valid 10 days (pki init --days
 * before the demo keeps them), a second system certificate of the demo
 * organisation valid 5 days, the demo agreement ending in 3 days, and the
 * token signing key due for rotation after 20 days (token.key_max_age_days).
 * The server's first expiry run (at start) must queue one warning for each
 * (to the organisation's contact mailbox, and the platform's to
 * expiry.mailbox), show them on the organisation's page and in /metrics,
 * and a restart must queue none again.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "harness.h"
#include "store/store.h"

#define DEMO_CVR   "12345674"
#define DEMO_ADMIN "admin@demo.dupla.invalid"
#define DEMO_PASS  "demo-password-1234"
#define DAY_MS     (86400LL * 1000)

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &n);
    close(fd);
    return ntohs(a.sin_port);
}

static void run(const char *const *args, const char *out)
{
    cr_assert_eq(e2e_run_dupla(args, out), 0, "dupla %s %s failed (see %s)", args[0], args[1], out);
}

/* Changes the store directly, as the demo's configuration opens it. */
static void sql(const char *config, const char *text)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_exec(c, text, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
    config_free(&cfg);
}

static void start(struct e2e_server *s)
{
    unlink(s->ready);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(s->log, "a", stderr);
        (void)l;
        execl(getenv("DUPLA_BIN"), "dupla", "serve", "--config", s->config, "--ready-file",
              s->ready, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    s->owner = true;
    for (int i = 0; i < 400 && access(s->ready, F_OK) != 0; i++)
        usleep(50000);
    if (access(s->ready, F_OK) != 0) {
        e2e_log_tail(s, 30);
        cr_assert_fail("the server did not start (see %s; dir %s)", s->log,
                       access(s->dir, F_OK) == 0 ? "exists" : "is gone");
    }
}

/* SIGTERM, and the server must exit 0 (e2e_stop would remove the folder). */
static void stop(struct e2e_server *s)
{
    kill(s->pid, SIGTERM);
    int st = 0;
    cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
    s->pid = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve did not exit cleanly (see %s)", s->log);
}

/* GET /metrics until the expiry run has set its gauges (it runs at start,
 * from the periodic jobs' thread). The caller frees *r. */
static void scrape(struct e2e_server *s, struct e2e_response *r)
{
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(e2e_get(s, "api", "/metrics", r), 0);
        if (strstr(r->body, "dupla_expiry_items{kind=\"agreement\",within=\"7d\"}"))
            return;
        e2e_response_free(r);
        usleep(100 * 1000);
    }
    cr_assert_fail("the expiry gauges never appeared (see %s)", s->log);
}

static void want_line(const char *body, const char *line)
{
    cr_assert(strstr(body, line), "metrics lack \"%s\":\n%s", line, body);
}

/* The outbox's mails of kind to `to` (read from the store, as the demo's
 * configuration opens it). */
static int outbox_count(struct e2e_server *s, const char *kind, const char *to)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c,
                               "SELECT COUNT(*) FROM mail_message WHERE kind = ? AND recipient = ?",
                               &q, &err),
                 0, "%s", err.log);
    store_bind_cstr(q, 1, kind);
    store_bind_cstr(q, 2, to);
    cr_assert_eq(store_step(q, &err), STORE_ROW, "%s", err.log);
    int n = (int)store_col_int64(q, 0);
    store_stmt_done(q);
    store_conn_put(c);
    store_close(st);
    config_free(&cfg);
    return n;
}

Test(expiry_e2e, warns_once_shows_on_the_page_and_in_metrics, .timeout = 240)
{
    struct e2e_server s;
    memset(&s, 0, sizeof s);
    snprintf(s.dir, sizeof s.dir, "/tmp/dupla-e2e-expiry-XXXXXX");
    cr_assert_not_null(mkdtemp(s.dir));
    snprintf(s.pki_dir, sizeof s.pki_dir, "%s/pki", s.dir);
    snprintf(s.config, sizeof s.config, "%s/dupla.json", s.dir);
    snprintf(s.log, sizeof s.log, "%s/server.log", s.dir);
    snprintf(s.ready, sizeof s.ready, "%s/ready.json", s.dir);
    unsigned api = free_port(), token = free_port();
    s.n_listeners = 2;
    snprintf(s.listeners[0].name, sizeof s.listeners[0].name, "api");
    s.listeners[0].port = api;
    snprintf(s.listeners[1].name, sizeof s.listeners[1].name, "token");
    s.listeners[1].port = token;
    char out[E2E_PATH_MAX];
    e2e_path(&s, "setup.log", out);

    /* a CA and server certificate valid 10 days; the demo keeps them */
    const char *init[] = {"pki", "init", "--dir", s.pki_dir, "--days", "10", NULL};
    run(init, out);
    char a[16], t[16];
    snprintf(a, sizeof a, "%u", api);
    snprintf(t, sizeof t, "%u", token);
    const char *demo[] = {"demo",         "--dir", s.dir,          "--api-port", a,
                          "--token-port", t,       "--setup-only", NULL};
    run(demo, out);

    /* a second system whose certificate ends in 5 days */
    char until[32];
    time_t end = time(NULL) + 5 * 86400;
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime(&end));
    const char *issue[] = {"pki",    "issue-system", "--dir",       s.pki_dir, "--cvr", DEMO_CVR,
                           "--name", "kortlivet",    "--not-after", until,     NULL};
    run(issue, out);
    char pem[E2E_PATH_MAX];
    const char *reg[] = {
        "system", "register", "--config",  s.config, "--org",
        DEMO_CVR, "--name",   "kortlivet", "--cert", e2e_pki_path(&s, "kortlivet.pem", pem),
        NULL};
    run(reg, out);

    /* the demo agreement ends in 3 days */
    char q[256];
    snprintf(q, sizeof q,
             "UPDATE agreement_version SET valid_until = %lld WHERE state = 'approved'",
             (long long)((long long)time(NULL) * 1000 + 3 * DAY_MS));
    sql(s.config, q);

    /* the token key is due for rotation after 20 days; the platform's
     * warnings go to the operators */
    json_error_t je;
    json_t *cfg = json_load_file(s.config, 0, &je);
    cr_assert_not_null(cfg, "%s", je.text);
    json_object_set_new(cfg, "token", json_pack("{s:i}", "key_max_age_days", 20));
    json_object_set_new(cfg, "expiry", json_pack("{s:s}", "mailbox", "drift@dupla.invalid"));
    cr_assert_eq(json_dump_file(cfg, s.config, JSON_INDENT(2)), 0);
    json_decref(cfg);

    start(&s);
    struct e2e_response r;
    scrape(&s, &r);
    want_line(r.body, "dupla_expiry_items{kind=\"system_certificate\",within=\"7d\"} 1\n");
    want_line(r.body, "dupla_expiry_items{kind=\"server_certificate\",within=\"30d\"} 1\n");
    want_line(r.body, "dupla_expiry_items{kind=\"server_certificate\",within=\"7d\"} 0\n");
    want_line(r.body, "dupla_expiry_items{kind=\"token_signing_key\",within=\"30d\"} 1\n");
    want_line(r.body, "dupla_expiry_items{kind=\"agreement\",within=\"7d\"} 1\n");
    want_line(r.body,
              "dupla_expiry_warnings_total{kind=\"system_certificate\",threshold=\"7d\"} 1\n");
    want_line(r.body, "dupla_expiry_warnings_total{kind=\"agreement\",threshold=\"7d\"} 1\n");
    want_line(r.body, "dupla_expiry_next_timestamp_seconds{kind=\"server_certificate\"} ");
    e2e_response_free(&r);

    /* the warnings are in the outbox, once each, to the right mailboxes */
    const char *org_box = "kontakt@demo.dupla.invalid";
    cr_assert_eq(outbox_count(&s, "expiry-system_certificate", org_box), 1);
    cr_assert_eq(outbox_count(&s, "expiry-agreement", org_box), 1);
    cr_assert_eq(outbox_count(&s, "expiry-server_certificate", "drift@dupla.invalid"), 1);
    cr_assert_eq(outbox_count(&s, "expiry-token_signing_key", "drift@dupla.invalid"), 1);

    /* the organisation's page shows what expires */
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", DEMO_ADMIN, DEMO_PASS);
    const char *json_ct[] = {"Content-Type: application/json", NULL};
    struct e2e_request login = {
        .method = "POST", .path = "/api/session", .body = body, .headers = json_ct};
    cr_assert_eq(e2e_request(&s, &login, &r), 0, "%s", r.error);
    e2e_assert_status(&s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    char cookie[200];
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
    const char *h[] = {cookie, NULL};
    struct e2e_request page = {.path = "/organisation", .headers = h};
    cr_assert_eq(e2e_request(&s, &page, &r), 0, "%s", r.error);
    e2e_assert_status(&s, &r, 200);
    cr_assert(strstr(r.body, "Udløber inden for 30 dage"), "%s", r.body);
    cr_assert(strstr(r.body, "systemet kortlivet"), "%s", r.body);
    cr_assert(strstr(r.body, "Dataudvekslingsaftalen"), "%s", r.body);
    cr_assert(strstr(r.body, "varslet til kontaktpostkassen 7 dage før"), "%s", r.body);
    /* the platform's own things are not the organisation's business */
    cr_assert_null(strstr(r.body, "servercertifikat"));
    e2e_response_free(&r);

    /* a restart queues nothing again */
    stop(&s);
    start(&s);
    scrape(&s, &r);
    cr_assert_null(strstr(r.body, "dupla_expiry_warnings_total{kind=\"system_certificate\""),
                   "warned again after a restart:\n%s", r.body);
    want_line(r.body, "dupla_expiry_items{kind=\"system_certificate\",within=\"7d\"} 1\n");
    e2e_response_free(&r);
    cr_assert_eq(outbox_count(&s, "expiry-system_certificate", org_box), 1);
    cr_assert_eq(outbox_count(&s, "expiry-agreement", org_box), 1);
    cr_assert_eq(e2e_stop(&s), 0);
    e2e_remove_dir(&s);
}
