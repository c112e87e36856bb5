/* End-to-end: applying to become an agreement party (#21.8). An application
 * flows from the public page through the data owner's queue to an
 * administrator who can log in, with the set-up mail caught by an SMTP sink;
 * refusals name their field; a known CVR number gets the same answer as an
 * unknown one; the page is throttled per address and needs its form token;
 * rejecting mails the reason. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_helpers.h"
#include "harness.h"
#include "smtp_sink.h"

#define OWNER "19552101"
#define DFV   "dfv-enrol@skat.dk"

E2E_SHARED_SERVERS({"main", {0}});

/* The pre-login form token of path: its cookie ("Cookie: ...") and value. */
static void form_token(const struct e2e_server *s, const char *path, char *cookie, size_t cap,
                       char *token, size_t tcap)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", path, &r), 0);
    e2e_assert_status(s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    size_t n = strcspn(set, ";");
    snprintf(cookie, cap, "Cookie: %.*s", (int)n, set);
    const char *eq = strchr(set, '=');
    snprintf(token, tcap, "%.*s", (int)(n - (size_t)(eq + 1 - set)), eq + 1);
    e2e_response_free(&r);
}

static long post_form(const struct e2e_server *s, const char *path, const char *cookie,
                      const char *body, struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded",
                       cookie ? cookie : "X-None: 1", NULL};
    struct e2e_request rq = {.method = "POST", .path = path, .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

/* Applies through the public page; the status. */
static long apply_page(const struct e2e_server *s, const char *fields, struct e2e_response *r)
{
    char cookie[256], token[128], body[1024];
    form_token(s, "/tilslutning", cookie, sizeof cookie, token, sizeof token);
    snprintf(body, sizeof body, "csrf=%s&%s", token, fields);
    return post_form(s, "/tilslutning", cookie, body, r);
}

static const char *apply_json(const char *cvr, const char *admin)
{
    static char b[512];
    snprintf(b, sizeof b,
             "{\"name\":\"Ny Kommune\",\"cvr\":\"%s\",\"contact_email\":\"post@ny.dk\","
             "\"admin_name\":\"Anna Admin\",\"admin_email\":\"%s\","
             "\"environments\":[\"test\"]}",
             cvr, admin);
    return b;
}

/* The data owner's reviewer, once per server. */
static void dfv_user(const struct e2e_server *s)
{
    char done[E2E_PATH_MAX];
    if (access(e2e_path(s, "dfv-enrol.done", done), F_OK) == 0)
        return;
    api_user(s, OWNER, DFV, "dataforvaltning", NULL);
    FILE *f = fopen(done, "w");
    fclose(f);
}

/* The id of the newest application of cvr in the data owner's queue. */
static void queued_id(const struct e2e_server *s, const struct api_session *dfv, const char *cvr,
                      char *id, size_t cap)
{
    struct e2e_response r;
    api_call(s, dfv, "GET", "/api/enrolments?status=all", NULL, &r);
    e2e_assert_status(s, &r, 200);
    json_t *list = json_object_get(r.json, "enrolments");
    id[0] = '\0';
    for (size_t i = 0; i < json_array_size(list) && !id[0]; i++) {
        json_t *a = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(a, "cvr")), cvr) == 0)
            snprintf(id, cap, "%s", json_string_value(json_object_get(a, "id")));
    }
    cr_assert(id[0], "no application of %s: %s", cvr, r.body);
    e2e_response_free(&r);
}

/* Quoted-printable undone (soft breaks and =XX), in place. */
static void qp_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p;) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (p[0] == '=' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
}

/* Waits (bounded) for a message to rcpt in the sink; its data decoded. */
static char *wait_mail(smtp_sink_t *sink, const char *rcpt)
{
    for (int tries = 0; tries < 200; tries++) {
        for (size_t i = 0; i < smtp_sink_count(sink); i++) {
            struct smtp_sink_message m;
            cr_assert_eq(smtp_sink_get(sink, i, &m), 0);
            bool hit = strstr(m.rcpts, rcpt) != NULL;
            free(m.from);
            free(m.rcpts);
            if (hit) {
                qp_decode(m.data);
                return m.data;
            }
            free(m.data);
        }
        usleep(100 * 1000);
    }
    cr_assert_fail("no mail to %s", rcpt);
    return NULL;
}

Test(enrol, application_flows_from_the_public_page_to_an_administrator_who_can_log_in)
{
    smtp_sink_t *sink = smtp_sink_start(0);
    cr_assert_not_null(sink);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"mail\": {\"from\": \"dupla@skat.example\", \"smtp_url\": "
             "\"smtp://127.0.0.1:%u\"}, \"enrol\": {\"public_url\": \"https://dupla.example/\"}}",
             smtp_sink_port(sink));
    struct e2e_options opt = {.config_json = cfg};
    struct e2e_server srv, *s = &srv;
    cr_assert_eq(e2e_start(&opt, s), 0);
    dfv_user(s);

    /* the public page: a form with its token, and no login */
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/tilslutning", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "name=\"cvr\"") && strstr(r.body, "name=\"admin_email\"") &&
                  strstr(r.body, "value=\"production\""),
              "%s", r.body);
    e2e_response_free(&r);
    apply_page(s,
               "name=Ny+Kommune&cvr=29189846&contact_email=post%40ny.dk&admin_name=Anna+Admin"
               "&admin_email=Anna%40Ny.dk&environments=test&environments=production",
               &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/tilslutning?modtaget=1");
    e2e_response_free(&r);

    /* the data owner's queue shows it, beside the agreements */
    struct api_session dfv;
    api_login(s, DFV, &dfv);
    struct e2e_request rq = {.path = "/gennemgang",
                             .headers = (const char *const[]){dfv.cookie, NULL}};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "1 ansøgning venter") && strstr(r.body, "/tilslutninger"), "%s",
              r.body);
    e2e_response_free(&r);
    rq.path = "/tilslutninger";
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Ny Kommune") && strstr(r.body, "29189846"), "%s", r.body);
    e2e_response_free(&r);
    char id[64], path[128], body[256];
    queued_id(s, &dfv, "29189846", id, sizeof id);

    /* approving through the page (the session's CSRF token in the form) */
    const char *csrf = strchr(dfv.csrf, ' ') + 1;
    snprintf(body, sizeof body, "csrf=%s&id=%s&handling=godkend", csrf, id);
    post_form(s, "/tilslutninger/beslut", dfv.cookie, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/tilslutninger?ok=godkendt");
    e2e_response_free(&r);
    snprintf(path, sizeof path, "/tilslutninger/vis?id=%s", id);
    rq.path = path;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Godkendt") && !strstr(r.body, "Godkend ansøgningen"), "%s", r.body);
    e2e_response_free(&r);
    /* the organisation exists with both environments */
    api_call(s, &dfv, "GET", "/api/orgs", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "29189846") && strstr(r.body, "production"), "%s", r.body);
    e2e_response_free(&r);

    /* the administrator's mail: the link and the one-time code */
    char *mail = wait_mail(sink, "anna@ny.dk");
    cr_assert(strstr(mail, "https://dupla.example/opsaetning?bruger=anna%40ny.dk"), "%s", mail);
    const char *at = strstr(mail, "engangskode der:");
    cr_assert_not_null(at, "%s", mail);
    at += strlen("engangskode der:");
    while (*at == '\r' || *at == '\n' || *at == ' ')
        at++;
    char secret[64];
    size_t n = strcspn(at, "\r\n ");
    cr_assert(n > 20 && n < sizeof secret, "%s", mail);
    snprintf(secret, sizeof secret, "%.*s", (int)n, at);
    free(mail);
    /* the contact mailbox is told, without the code */
    mail = wait_mail(sink, "post@ny.dk");
    cr_assert(strstr(mail, "Anna Admin") && !strstr(mail, secret), "%s", mail);
    free(mail);

    /* the administrator chooses a password and logs in */
    snprintf(body, sizeof body,
             "{\"username\":\"anna@ny.dk\",\"secret\":\"%s\",\"password\":\"%s\"}", secret,
             API_PASSWD);
    api_expect(s, NULL, "POST", "/api/setup", body, 200);
    struct api_session anna;
    api_login(s, "anna@ny.dk", &anna);
    api_call(s, &anna, "GET", "/api/session", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "29189846") && strstr(r.body, "administrator"), "%s", r.body);
    e2e_response_free(&r);
    /* a decided application stays decided */
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    api_call(s, &dfv, "POST", "/api/enrolments/approve", body, &r);
    e2e_assert_status(s, &r, 409);
    cr_assert(strstr(json_string_value(json_object_get(r.json, "type")), "/application-decided"),
              "%s", r.body);
    e2e_response_free(&r);
    char why[512];
    cr_assert_eq(e2e_log_scan(s, why, sizeof why), 0, "%s", why);
    cr_assert_eq(e2e_stop(s), 0);
    e2e_remove_dir(s);
    smtp_sink_stop(sink);
}

Test(enrol, refusals_name_their_field)
{
    const struct e2e_server *s = e2e_shared("main");
    struct e2e_response r;
    /* the page: a CVR number whose check digit is wrong, no environment */
    apply_page(s,
               "name=X&cvr=29189847&contact_email=a%40b.dk&admin_name=A&admin_email=c%40d.dk"
               "&environments=test",
               &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "id=\"cvr-error\"") && strstr(r.body, "kontrolcifferet"), "%s",
              r.body);
    e2e_response_free(&r);
    apply_page(s, "name=X&cvr=29189846&contact_email=a%40b.dk&admin_name=A&admin_email=c%40d.dk",
               &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "environments-error"), "%s", r.body);
    e2e_response_free(&r);
    /* without the form token: refused, nothing kept */
    post_form(s, "/tilslutning", NULL,
              "name=X&cvr=29189846&contact_email=a%40b.dk&admin_name=A&admin_email=c%40d.dk"
              "&environments=test",
              &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    /* the API: each refusal a problem naming its member */
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"name\":\"X\",\"cvr\":\"29189847\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"]}",
         "cvr"},
        {"{\"name\":\"X\",\"cvr\":\"2918984\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"]}",
         "cvr"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"]}",
         "contact_email"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"not mail\",\"environments\":[\"test\"]}",
         "admin_email"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[]}",
         "environments"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"staging\"]}",
         "environments"},
        {"{\"name\":\"\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"]}",
         "name"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"]}",
         "admin_name"},
        {"{\"name\":\"X\",\"cvr\":\"29189846\",\"contact_email\":\"a@b.dk\",\"admin_name\":\"A\","
         "\"admin_email\":\"c@d.dk\",\"environments\":[\"test\"],\"role\":\"admin\"}",
         "role"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_call(s, NULL, "POST", "/api/enrolments", bad[i].body, &r);
        e2e_assert_status(s, &r, 400);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
        cr_assert_str_eq(api_problem_param(&r), bad[i].param, "%s", r.body);
        e2e_response_free(&r);
    }
}

Test(enrol, a_known_cvr_gets_the_same_answer_as_an_unknown_one)
{
    const struct e2e_server *s = e2e_shared("main");
    struct e2e_response known, unknown;
    api_call(s, NULL, "POST", "/api/enrolments", apply_json(OWNER, "x@ny.dk"), &known);
    api_call(s, NULL, "POST", "/api/enrolments", apply_json("29189846", "y@ny.dk"), &unknown);
    e2e_assert_status(s, &known, 202);
    e2e_assert_status(s, &unknown, 202);
    cr_assert_str_eq(known.body, unknown.body);
    e2e_response_free(&known);
    e2e_response_free(&unknown);
    /* the page says the same too */
    struct e2e_response r;
    apply_page(s,
               "name=Skat&cvr=" OWNER "&contact_email=a%40b.dk&admin_name=A&admin_email=c%40d.dk"
               "&environments=test",
               &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/tilslutning?modtaget=1");
    e2e_response_free(&r);
}

Test(enrol, rejecting_mails_the_reason_and_only_the_data_owner_decides)
{
    const struct e2e_server *s = e2e_shared("main");
    dfv_user(s);
    api_expect(s, NULL, "POST", "/api/enrolments", apply_json("12345674", "z@afvist.dk"), 202);
    struct api_session dfv;
    api_login(s, DFV, &dfv);
    char id[64], body[256];
    queued_id(s, &dfv, "12345674", id, sizeof id);
    /* no session, or a recipient: no queue */
    api_expect(s, NULL, "GET", "/api/enrolments", NULL, 401);
    api_org(s, "29189846", "admin-enrol@a.dk", "kontakt@a.dk");
    api_user(s, "29189846", "user-enrol@a.dk", "administrator", NULL);
    struct api_session rec;
    api_login(s, "user-enrol@a.dk", &rec);
    api_expect(s, &rec, "GET", "/api/enrolments", NULL, 403);
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    api_expect(s, &rec, "POST", "/api/enrolments/approve", body, 403);
    /* a rejection needs its reason; an unknown id is a 404 naming it */
    struct e2e_response r;
    api_call(s, &dfv, "POST", "/api/enrolments/reject", body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "reason", "%s", r.body);
    e2e_response_free(&r);
    api_call(s, &dfv, "POST", "/api/enrolments/reject",
             "{\"id\":\"00000000000000000000000000000000\",\"reason\":\"x\"}", &r);
    e2e_assert_status(s, &r, 404);
    cr_assert_str_eq(api_problem_param(&r), "id", "%s", r.body);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"reason\":\"Ukendt organisation\"}", id);
    api_call(s, &dfv, "POST", "/api/enrolments/reject", body, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "rejected");
    e2e_response_free(&r);
    /* the mail with the reason is queued for the administrator */
    static char out[1 << 16];
    char file[E2E_PATH_MAX];
    e2e_path(s, "mail-list.txt", file);
    unlink(file);
    const char *args[] = {"mail", "list", "--config", s->config, NULL};
    cr_assert_eq(e2e_run_dupla(args, file), 0);
    FILE *f = fopen(file, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    cr_assert(strstr(out, "enrol-rejected") && strstr(out, "z@afvist.dk") && strstr(out, id), "%s",
              out);
    /* decided: neither approved nor rejected again */
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    api_expect(s, &dfv, "POST", "/api/enrolments/approve", body, 409);
}

Test(enrol, the_page_is_throttled_per_address)
{
    struct e2e_options opt = {0};
    struct e2e_server srv, *s = &srv;
    cr_assert_eq(e2e_start(&opt, s), 0);
    struct e2e_response r;
    for (int i = 0; i < 5; i++)
        api_expect(s, NULL, "POST", "/api/enrolments", apply_json("29189846", "a@b.dk"), 202);
    api_call(s, NULL, "POST", "/api/enrolments", apply_json("29189846", "a@b.dk"), &r);
    e2e_assert_status(s, &r, 429);
    cr_assert_str_eq(api_problem_param(&r), "address", "%s", r.body);
    const char *ra = e2e_header(&r, "Retry-After");
    cr_assert(ra && atol(ra) > 0 && atol(ra) <= 3600, "%s", ra ? ra : "(none)");
    e2e_response_free(&r);
    apply_page(s,
               "name=X&cvr=29189846&contact_email=a%40b.dk&admin_name=A&admin_email=c%40d.dk"
               "&environments=test",
               &r);
    e2e_assert_status(s, &r, 429);
    cr_assert_not_null(e2e_header(&r, "Retry-After"));
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(s), 0);
    e2e_remove_dir(s);
}

/* The console: `dupla application list --json` shows the queue, `approve`
 * creates the organisation (whose administrator then exists), `reject`
 * needs --reason, and a decided application is refused again. */
Test(enrol, the_console_lists_approves_and_rejects)
{
    struct e2e_server srv;
    cr_assert_eq(e2e_start(&(struct e2e_options){0}, &srv), 0);
    const struct e2e_server *s = &srv;
    api_expect(s, NULL, "POST", "/api/enrolments", apply_json("50000001", "anna@ny.dk"), 202);
    api_expect(s, NULL, "POST", "/api/enrolments", apply_json("70000008", "bo@nej.dk"), 202);
    char file[E2E_PATH_MAX];
    e2e_path(s, "apps.json", file);
    const char *list[] = {"application", "list", "--json", "--config", s->config, NULL};
    cr_assert_eq(e2e_run_dupla(list, file), 0);
    json_t *apps = json_load_file(file, 0, NULL);
    cr_assert_eq(json_array_size(apps), 2, "%s", file);
    char yes[64] = "", no[64] = "";
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_array_get(apps, i);
        cr_assert_str_eq(json_string_value(json_object_get(a, "status")), "pending");
        snprintf(strcmp(json_string_value(json_object_get(a, "cvr")), "50000001") == 0 ? yes : no,
                 64, "%s", json_string_value(json_object_get(a, "id")));
    }
    json_decref(apps);
    cr_assert(yes[0] && no[0]);
    const char *approve[] = {"application", "approve", yes, NULL};
    api_must(s, approve);
    cr_assert_eq(e2e_cli(s, approve), 1, "decided already");
    const char *show[] = {"org", "show", "50000001", NULL};
    api_must(s, show);
    const char *no_reason[] = {"application", "reject", no, NULL};
    cr_assert_eq(e2e_cli(s, no_reason), 2, "a rejection needs its reason");
    const char *reject[] = {"application", "reject", no, "--reason", "Ukendt organisation", NULL};
    api_must(s, reject);
    const char *unknown[] = {"application", "show", "00000000000000000000000000000000", NULL};
    cr_assert_eq(e2e_cli(s, unknown), 1);
    /* the queue is empty; --all shows both decisions */
    unlink(file);
    cr_assert_eq(e2e_run_dupla(list, file), 0);
    apps = json_load_file(file, 0, NULL);
    cr_assert_eq(json_array_size(apps), 0);
    json_decref(apps);
    const char *all[] = {"application", "list", "--all", "--json", "--config", s->config, NULL};
    unlink(file);
    cr_assert_eq(e2e_run_dupla(all, file), 0);
    apps = json_load_file(file, 0, NULL);
    cr_assert_eq(json_array_size(apps), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_array_get(apps, i);
        bool approved = strcmp(json_string_value(json_object_get(a, "id")), yes) == 0;
        cr_assert_str_eq(json_string_value(json_object_get(a, "status")),
                         approved ? "approved" : "rejected");
    }
    json_decref(apps);
    cr_assert_eq(e2e_stop(&srv), 0);
}
