/* End-to-end: the identity JSON API (sessions, CSRF, role rules, expiry)
 * against `dupla serve`. Users are made with the CLI once per server. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

#define CVR_A  "12345674"
#define CVR_B  "20000007"
#define OWNER  "19552101"
#define PASSWD "correct horse battery"

E2E_SHARED_SERVERS({"main", {.config_json = "{\"identity\": {\"session_idle_seconds\": 2}}"}});

static void user(const struct e2e_server *s, const char *org, const char *name, const char *role)
{
    const char *create[] = {"user", "create", "--org", org, "--username",
                            name,   "--role", role,    NULL};
    cr_assert_eq(e2e_cli(s, create), 0, "user create %s", name);
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
    fprintf(f, "%s\n", PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", name, "--password-file", pwfile, NULL};
    cr_assert_eq(e2e_cli(s, pw), 0);
}

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        const char *a[] = {"org",     "create",     "--name",          "A",      "--cvr", CVR_A,
                           "--admin", "first@a.dk", "--contact-email", "k@a.dk", NULL};
        cr_assert_eq(e2e_cli(s, a), 0);
        const char *b[] = {"org",     "create",     "--name",          "B",      "--cvr", CVR_B,
                           "--admin", "first@b.dk", "--contact-email", "k@b.dk", NULL};
        cr_assert_eq(e2e_cli(s, b), 0);
        user(s, CVR_A, "admin@a.dk", "administrator");
        user(s, CVR_A, "proc@a.dk", "aftager-behandler");
        user(s, CVR_A, "emp@a.dk", "aftager-underskriver");
        user(s, CVR_B, "emp@b.dk", "aftager-behandler");
        user(s, OWNER, "dfv@skat.dk", "dataforvaltning");
        user(s, CVR_A, "susp@a.dk", "aftager-behandler");
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

struct session {
    char cookie[160];
    char csrf[96];
};

static void login(const struct e2e_server *s, const char *username, struct session *out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", username, PASSWD);
    struct e2e_request rq = {.method = "POST",
                             .path = "/api/session",
                             .body = body,
                             .headers =
                                 (const char *const[]){"Content-Type: application/json", NULL}};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    cr_assert(strstr(set, "HttpOnly") && strstr(set, "Secure") && strstr(set, "SameSite=Strict"),
              "%s", set);
    size_t n = strcspn(set, ";");
    snprintf(out->cookie, sizeof out->cookie, "Cookie: %.*s", (int)n, set);
    snprintf(out->csrf, sizeof out->csrf, "X-CSRF-Token: %s",
             json_string_value(json_object_get(r.json, "csrf_token")));
    e2e_response_free(&r);
}

/* A request with the session (and its CSRF token unless csrf is false). */
static long call(const struct e2e_server *s, const struct session *se, const char *method,
                 const char *path, const char *body, bool csrf, struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/json", se ? se->cookie : "X-None: 1",
                       csrf && se ? se->csrf : NULL, NULL};
    struct e2e_request rq = {.method = method, .path = path, .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

static void expect(const struct e2e_server *s, const struct session *se, const char *method,
                   const char *path, const char *body, bool csrf, long status)
{
    struct e2e_response r;
    call(s, se, method, path, body, csrf, &r);
    e2e_assert_status(s, &r, status);
    e2e_response_free(&r);
}

Test(identity_api, login_session_and_logout)
{
    const struct e2e_server *s = world();
    struct session se;
    login(s, "proc@a.dk", &se);
    struct e2e_response r;
    call(s, &se, "GET", "/api/session", NULL, false, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r.json, "user"), "username")),
        "proc@a.dk");
    e2e_response_free(&r);
    expect(s, NULL, "GET", "/api/session", NULL, false, 401);
    expect(s, &se, "DELETE", "/api/session", NULL, false, 403); /* CSRF */
    expect(s, &se, "DELETE", "/api/session", NULL, true, 200);
    expect(s, &se, "GET", "/api/session", NULL, false, 401);
    /* wrong password */
    struct e2e_request rq = {
        .method = "POST",
        .path = "/api/session",
        .headers = (const char *const[]){"Content-Type: application/json", NULL},
        .body = "{\"username\":\"proc@a.dk\",\"password\":\"nope nope nope\"}"};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 401);
    e2e_response_free(&r);
}

Test(identity_api, csrf_is_required_on_every_change)
{
    const struct e2e_server *s = world();
    struct session se;
    login(s, "admin@a.dk", &se);
    const char *grant = "{\"user\":\"emp@a.dk\",\"role\":\"aftager-behandler\"}";
    expect(s, &se, "POST", "/api/roles/grant", grant, false, 403);
    const char *h[] = {"Content-Type: application/json", se.cookie, "X-CSRF-Token: forged", NULL};
    struct e2e_request rq = {
        .method = "POST", .path = "/api/roles/grant", .body = grant, .headers = h};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    expect(s, &se, "POST", "/api/roles/grant", grant, true, 200);
    expect(s, &se, "POST", "/api/roles/revoke", grant, true, 200);
}

Test(identity_api, role_rules)
{
    const struct e2e_server *s = world();
    struct session admin, proc, dfv;
    login(s, "admin@a.dk", &admin);
    login(s, "proc@a.dk", &proc);
    login(s, "dfv@skat.dk", &dfv);
    /* an administrator cannot grant in another organisation */
    expect(s, &admin, "POST", "/api/roles/grant",
           "{\"user\":\"emp@b.dk\",\"role\":\"aftager-underskriver\"}", true, 403);
    /* a processor cannot grant */
    expect(s, &proc, "POST", "/api/roles/grant",
           "{\"user\":\"emp@a.dk\",\"role\":\"aftager-behandler\"}", true, 403);
    /* only the data owner creates organisations */
    const char *org = "{\"name\":\"C\",\"cvr\":\"30000005\",\"contact_email\":\"k@c.dk\","
                      "\"admin_username\":\"admin@c.dk\"}";
    expect(s, &admin, "POST", "/api/orgs", org, true, 403);
    struct e2e_response r;
    call(s, &dfv, "POST", "/api/orgs", org, true, &r);
    e2e_assert_status(s, &r, 201);
    cr_assert_not_null(json_object_get(json_object_get(r.json, "administrator"), "setup_secret"));
    e2e_response_free(&r);
    /* creating what exists: each same-name conflict has its own type */
    call(s, &dfv, "POST", "/api/orgs", org, true, &r);
    e2e_assert_status(s, &r, 409);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "type")),
                     "https://dupla.invalid/problems/organisation-exists");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "cvr");
    e2e_response_free(&r);
    const char *taken = "{\"name\":\"D\",\"cvr\":\"40000003\",\"contact_email\":\"k@d.dk\","
                        "\"admin_username\":\"admin@c.dk\"}";
    call(s, &dfv, "POST", "/api/orgs", taken, true, &r);
    e2e_assert_status(s, &r, 409);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "type")),
                     "https://dupla.invalid/problems/username-taken");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "admin_username");
    e2e_response_free(&r);
    /* a recipient sees only its own organisation */
    call(s, &proc, "GET", "/api/orgs", NULL, false, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "organisations")), 1);
    e2e_response_free(&r);
    expect(s, &proc, "GET", "/api/users?org=" CVR_B, NULL, false, 403);
    /* the history shows who did it */
    call(s, &dfv, "GET", "/api/history?limit=5", NULL, false, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_gt(json_array_size(json_object_get(r.json, "history")), 0);
    e2e_response_free(&r);
}

Test(identity_api, administrator_suspends_and_reactivates_a_user)
{
    const struct e2e_server *s = world();
    struct session adm, victim, proc;
    login(s, "admin@a.dk", &adm);
    login(s, "susp@a.dk", &victim);
    login(s, "proc@a.dk", &proc);
    const char *suspend = "{\"user\":\"susp@a.dk\",\"status\":\"suspended\","
                          "\"reason\":\"leaving\"}";
    /* Refusals first: no CSRF token, not an administrator, a bad status, unknown members. */
    expect(s, &adm, "POST", "/api/users/status", suspend, false, 403);
    expect(s, &proc, "POST", "/api/users/status", suspend, true, 403);
    struct e2e_response r;
    call(s, &adm, "POST", "/api/users/status", "{\"user\":\"susp@a.dk\",\"status\":\"gone\"}", true,
         &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "status");
    e2e_response_free(&r);
    call(s, &adm, "POST", "/api/users/status",
         "{\"user\":\"susp@a.dk\",\"status\":\"suspended\",\"why\":\"x\"}", true, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "why");
    e2e_response_free(&r);
    expect(s, &victim, "GET", "/api/session", NULL, false, 200);

    /* Suspended: the open session ends and a new login is refused. */
    expect(s, &adm, "POST", "/api/users/status", suspend, true, 200);
    expect(s, &victim, "GET", "/api/session", NULL, false, 401);
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"susp@a.dk\",\"password\":\"%s\"}", PASSWD);
    call(s, NULL, "POST", "/api/session", body, false, &r);
    cr_assert_neq(r.status, 200, "a suspended user logs in");
    e2e_response_free(&r);
    expect(s, &adm, "POST", "/api/users/status", suspend, true, 409); /* already */

    /* Re-activated: logging in works again. */
    expect(s, &adm, "POST", "/api/users/status", "{\"user\":\"susp@a.dk\",\"status\":\"active\"}",
           true, 200);
    login(s, "susp@a.dk", &victim);
    expect(s, &victim, "GET", "/api/session", NULL, false, 200);
}

Test(identity_api, session_expires_when_idle)
{
    const struct e2e_server *s = world();
    struct session se;
    login(s, "emp@a.dk", &se);
    expect(s, &se, "GET", "/api/session", NULL, false, 200);
    sleep(3); /* session_idle_seconds is 2 on this server */
    expect(s, &se, "GET", "/api/session", NULL, false, 401);
}
