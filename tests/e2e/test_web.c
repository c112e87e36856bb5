/* End-to-end: the web pages' security against `dupla serve`: the headers
 * every page carries, login required (redirect to /login), CSRF refusals
 * (before and after login), the login form, and the assets' caching. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

#define OWNER  "19552101"
#define ADMIN  "web-admin@skat.dk"
#define PASSWD "correct horse battery"

E2E_SHARED_SERVERS({"main", {0}});

/* The shared server with an administrator of the data owner (made once). */
static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX], pwfile[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        const char *create[] = {"user", "create", "--org",         OWNER, "--username",
                                ADMIN,  "--role", "administrator", NULL};
        cr_assert_eq(e2e_cli(s, create), 0);
        FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
        fprintf(f, "%s\n", PASSWD);
        fclose(f);
        const char *pw[] = {"user", "set-password", ADMIN, "--password-file", pwfile, NULL};
        cr_assert_eq(e2e_cli(s, pw), 0);
        f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

static void assert_security_headers(const struct e2e_response *r)
{
    const char *csp = e2e_header(r, "Content-Security-Policy");
    cr_assert_not_null(csp, "no CSP");
    cr_assert(strstr(csp, "default-src 'self'"), "%s", csp);
    cr_assert(strstr(csp, "frame-ancestors 'none'"), "%s", csp);
    cr_assert(strstr(csp, "script-src 'self'") && !strstr(csp, "unsafe-inline"), "%s", csp);
    cr_assert(strstr(csp, "style-src 'self'"), "%s", csp);
    cr_assert_str_eq(e2e_header(r, "X-Content-Type-Options"), "nosniff");
    cr_assert_not_null(e2e_header(r, "Referrer-Policy"));
    cr_assert_str_eq(e2e_header(r, "Cache-Control"), "no-store");
}

/* The pre-login form token: its cookie (as a "Cookie: ..." header) and value. */
static void form_token(const struct e2e_server *s, char *cookie, size_t cap, char *token,
                       size_t tcap)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    e2e_assert_status(s, &r, 200);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    cr_assert(strstr(set, "HttpOnly") && strstr(set, "Secure") && strstr(set, "SameSite=Strict"),
              "%s", set);
    size_t n = strcspn(set, ";");
    snprintf(cookie, cap, "Cookie: %.*s", (int)n, set);
    const char *eq = strchr(set, '=');
    snprintf(token, tcap, "%.*s", (int)(n - (size_t)(eq + 1 - set)), eq + 1);
    cr_assert(strstr(r.body, token), "the form carries the cookie's token");
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

/* Logs in through the form; the session cookie as a "Cookie: ..." header. */
static void login(const struct e2e_server *s, char *session, size_t cap)
{
    char cookie[256], token[128], body[512];
    form_token(s, cookie, sizeof cookie, token, sizeof token);
    snprintf(body, sizeof body, "csrf=%s&username=%s&password=%s", token, ADMIN,
             "correct+horse+battery");
    struct e2e_response r;
    post_form(s, "/login", cookie, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/");
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    cr_assert(strncmp(set, "dupla_session=", 14) == 0, "%s", set);
    cr_assert(strstr(set, "HttpOnly") && strstr(set, "Secure") && strstr(set, "SameSite=Strict"),
              "%s", set);
    snprintf(session, cap, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
}

Test(web, login_page_has_security_headers)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    e2e_assert_status(s, &r, 200);
    assert_security_headers(&r);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"));
    cr_assert(strstr(r.body, "<html lang=\"da\">"));
    cr_assert(!strstr(r.body, "<style") && !strstr(r.body, " style=") &&
                  !strstr(r.body, "<script>"),
              "no inline style or script");
    e2e_response_free(&r);
}

Test(web, pages_need_login)
{
    const struct e2e_server *s = world();
    static const char *const pages[] = {"/",         "/organisation", "/aftaler",   "/aftaler/ny",
                                        "/systemer", "/udleveringer", "/gennemgang"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct e2e_response r;
        cr_assert_eq(e2e_get(s, "api", pages[i], &r), 0);
        e2e_assert_status(s, &r, 303);
        cr_assert_str_eq(e2e_header(&r, "Location"), "/login", "%s", pages[i]);
        assert_security_headers(&r);
        e2e_response_free(&r);
    }
}

Test(web, expired_session_redirects_with_notice)
{
    const struct e2e_server *s = world();
    struct e2e_request rq = {.path = "/aftaler",
                             .headers = (const char *const[]){"Cookie: dupla_session=bogus", NULL}};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/login?udloebet=1");
    e2e_response_free(&r);
}

Test(web, session_renewal_keeps_a_live_session_only)
{
    const struct e2e_server *s = world();
    char session[256];
    login(s, session, sizeof session);
    struct e2e_request rq = {.path = "/session/forny",
                             .headers = (const char *const[]){session, NULL}};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 204);
    assert_security_headers(&r);
    e2e_response_free(&r);
    rq.headers = (const char *const[]){"Cookie: dupla_session=bogus", NULL};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/login?udloebet=1");
    e2e_response_free(&r);
}

/* Every page declares the query parameters it reads: an unknown, repeated
 * or too long one is a 400 page naming it (after the login, so a visitor
 * without a session is still sent to log in), and the declared ones work. */
Test(web, a_page_refuses_a_query_parameter_it_does_not_read)
{
    const struct e2e_server *s = world();
    char session[256];
    login(s, session, sizeof session);
    static const struct {
        const char *path;
        long status;
        const char *named;
    } cases[] = {
        {"/aftaler?x=1", 400, "»x«"},
        {"/organisation?ok=rolle", 200, NULL},
        {"/organisation?ok=rolle&ok=rolle", 400, "»ok«"},
        {"/organisation?bruger=1", 400, "»bruger«"},
        {"/systemer?ok=registreret", 200, NULL},
        {"/systemer?ok="
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         400, "»ok«"},
        {"/aftaler/vis?id=a&side=2", 400, "»side«"},
        {"/?%3Cb%3E=1", 400, "»&lt;b&gt;«"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct e2e_request rq = {.path = cases[i].path,
                                 .headers = (const char *const[]){session, NULL}};
        struct e2e_response r;
        cr_assert_eq(e2e_request(s, &rq, &r), 0);
        e2e_assert_status(s, &r, cases[i].status);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"), "%s", cases[i].path);
        if (cases[i].named)
            cr_assert(strstr(r.body, "Ugyldig adresse") && strstr(r.body, cases[i].named), "%s: %s",
                      cases[i].path, r.body);
        e2e_response_free(&r);
    }
    /* without a session: to the login first, whatever the query */
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/aftaler?x=1", &r), 0);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/login");
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/login?udloebet=2", &r), 0);
    e2e_assert_status(s, &r, 400);
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/login?udloebet=1", &r), 0);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
}

Test(web, a_browser_gets_a_danish_not_found_page_other_clients_a_problem)
{
    const struct e2e_server *s = world();
    struct e2e_request rq = {
        .path = "/findes-ikke",
        .headers = (const char *const[]){"Accept: text/html,application/xhtml+xml;q=0.9", NULL}};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 404);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"));
    cr_assert(strstr(r.body, "Siden findes ikke"), "%s", r.body);
    assert_security_headers(&r);
    e2e_response_free(&r);
    /* An API client (no text/html), and a POST from a browser: the problem. */
    rq.headers = (const char *const[]){"Accept: application/json", NULL};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 404);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    e2e_response_free(&r);
    rq.method = "POST";
    rq.body = "x=1";
    rq.headers = (const char *const[]){"Accept: text/html", NULL};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 404);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    e2e_response_free(&r);
}

Test(web, login_without_form_token_is_refused)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    post_form(s, "/login", NULL, "username=" ADMIN "&password=correct+horse+battery", &r);
    e2e_assert_status(s, &r, 403);
    cr_assert_null(e2e_header(&r, "Set-Cookie"), "no session without the token");
    e2e_response_free(&r);
    char cookie[256], token[128];
    form_token(s, cookie, sizeof cookie, token, sizeof token);
    post_form(s, "/login", cookie, "csrf=wrong&username=" ADMIN "&password=correct+horse+battery",
              &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

Test(web, wrong_password_keeps_username)
{
    const struct e2e_server *s = world();
    char cookie[256], token[128], body[256];
    form_token(s, cookie, sizeof cookie, token, sizeof token);
    snprintf(body, sizeof body, "csrf=%s&username=%%3Cb%%3Ex%%40y.dk&password=nope", token);
    struct e2e_response r;
    post_form(s, "/login", cookie, body, &r);
    e2e_assert_status(s, &r, 401);
    cr_assert(strstr(r.body, "alert-error"), "the error summary");
    cr_assert(strstr(r.body, "value=\"&lt;b&gt;x@y.dk\""), "typed value kept, escaped");
    cr_assert(!strstr(r.body, "<b>x@y.dk"));
    e2e_response_free(&r);
}

Test(web, post_without_csrf_is_refused_after_login)
{
    const struct e2e_server *s = world();
    char session[256];
    login(s, session, sizeof session);
    struct e2e_response r;
    cr_assert_eq(e2e_request(s,
                             &(struct e2e_request){.path = "/organisation",
                                                   .headers = (const char *const[]){session, NULL}},
                             &r),
                 0);
    e2e_assert_status(s, &r, 200);
    assert_security_headers(&r);
    cr_assert(strstr(r.body, "name=\"csrf\""), "every form carries the token");
    e2e_response_free(&r);
    post_form(s, "/organisation/bruger", session, "username=new%40skat.dk", &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    post_form(s, "/organisation/bruger", session, "csrf=forged&username=new%40skat.dk", &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    post_form(s, "/logout", session, "", &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

Test(web, assets_are_cached)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/static/dupla.js", &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "javascript"));
    e2e_response_free(&r);
    cr_assert_eq(e2e_get(s, "api", "/static/dkfds/0.0.0/css/x.css", &r), 0);
    e2e_assert_status(s, &r, 404);
    e2e_response_free(&r);
    /* The design system itself, when `npm ci` has installed it. */
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    const char *p = strstr(r.body, "/static/dkfds/");
    cr_assert_not_null(p);
    char path[128];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(p, "\""), p);
    e2e_response_free(&r);
    if (strstr(path, "/dkfds/0/"))
        return; /* not installed: the pages come unstyled (logged) */
    cr_assert_eq(e2e_get(s, "api", path, &r), 0);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/css"));
    cr_assert(strstr(e2e_header(&r, "Cache-Control"), "immutable"));
    e2e_response_free(&r);
}
