/*
 * pages_auth.c: logging in and out, the first-time set-up with the one-time
 * secret, and the front page.
 *
 *   GET  /login        the login form (?udloebet=1: the session expired;
 *                      ?logget_ud=1, ?opsat=1: notices)
 *   POST /login        username, password -> session cookie, 303 to /
 *   POST /logout       ends the session, 303 to /login?logget_ud=1
 *   GET  /opsaetning   the set-up form: username, one-time secret, password twice
 *   POST /opsaetning   redeems the secret, 303 to /login?opsat=1
 *   GET  /             the front page: what the user's roles allow
 *   GET  /session/forny  keeps the session alive (204; the warning's "stay
 *                      logged in"), or sends an ended session to /login
 *   (any other path)   a browser gets a Danish "not found" page (404); other
 *                      clients the server's problem+json
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/rand.h"
#include "web/internal.h"

static void login_form(struct web_ctx *cx, const struct form_errors *fe, str_t username)
{
    html_t *h = &cx->h;
    char token[IDENTITY_CSRF_TEXT];
    web_form_token(cx, token);
    page_begin(cx, "Log ind");
    if (str_eq_cstr(web_query(cx->req, "udloebet"), "1"))
        page_notice(cx, "warning",
                    "Du er blevet logget af, fordi din session udløb. Log ind igen.");
    if (str_eq_cstr(web_query(cx->req, "logget_ud"), "1"))
        page_notice(cx, "info", "Du er logget af.");
    if (str_eq_cstr(web_query(cx->req, "opsat"), "1"))
        page_notice(cx, "success", "Din adgangskode er gemt. Du kan nu logge ind.");
    page_error_summary(cx, fe);
    HTML(h, "<form method=\"post\" action=\"/login\" novalidate><input type=\"hidden\" "
            "name=\"csrf\" value=\"");
    html_attrc(h, token);
    HTML(h, "\">");
    form_input(cx, fe, "username", "Brugernavn", "email", username, "Din e-mailadresse");
    form_input(cx, fe, "password", "Adgangskode", "password", STR(""), NULL);
    HTML(h, "<button class=\"button button-primary\" type=\"submit\">Log ind</button></form>"
            "<p class=\"mt-6\">Ny bruger? <a href=\"/opsaetning\">Vælg din adgangskode med "
            "engangskoden</a>.</p><p>Er din organisation ikke tilsluttet? <a "
            "href=\"/tilslutning\">Ansøg om tilslutning</a>.</p>");
    page_end(cx);
}

static int h_login(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    str_t username = STR("");
    unsigned status = 200;
    if (http_req_method(cx->req) == HTTP_POST) {
        username = form_get(&cx->form, "username");
        str_t password = STR("");
        for (size_t i = 0; i < cx->form.n; i++)
            if (str_eq_cstr(cx->form.names[i], "password"))
                password = cx->form.values[i]; /* not trimmed: spaces count */
        if (username.len == 0)
            form_error(&fe, "username", "Skriv dit brugernavn.");
        if (password.len == 0)
            form_error(&fe, "password", "Skriv din adgangskode.");
        if (fe.n == 0) {
            struct identity_session s;
            long retry = 0;
            err_t lerr;
            err_clear(&lerr);
            int rc = identity_login(w->deps.identity, username, password, http_req_peer(cx->req),
                                    &s, &retry, &lerr);
            if (rc == 0) {
                char c[IDENTITY_SESSION_ID_TEXT + 128];
                snprintf(c, sizeof c, "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict",
                         IDENTITY_SESSION_COOKIE, s.id);
                http_reply_header(cx->req, "Set-Cookie", c);
                secret_wipe(&s, sizeof s);
                return web_redirect(cx->req, "/");
            }
            if (rc == DUPLA_ERATE) {
                char *m = retry < 60
                              ? arena_printf(http_req_arena(cx->req),
                                             "For mange forsøg. Prøv igen om %ld sekunder.", retry)
                              : arena_printf(http_req_arena(cx->req),
                                             "For mange forsøg. Prøv igen om %ld minutter.",
                                             (retry + 59) / 60);
                form_error(&fe, "", m ? m : "For mange forsøg. Prøv igen senere.");
                char ra[24];
                snprintf(ra, sizeof ra, "%ld", retry > 0 ? retry : 1);
                http_reply_header(cx->req, "Retry-After", ra);
                status = 429;
            } else if (rc == DUPLA_EUNAUTH) {
                form_error(&fe, "password", "Brugernavn eller adgangskode er forkert.");
                status = 401;
            } else {
                log_warn("web: login failed: %s", lerr.log);
                form_error(&fe, "", "Du kunne ikke logges ind lige nu. Prøv igen senere.");
                status = 500;
            }
        } else {
            status = 400;
        }
    }
    login_form(cx, &fe, username);
    return web_reply_page(cx, status);
}

static int h_logout(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    err_t lerr;
    err_clear(&lerr);
    if (identity_logout(w->deps.identity, cx->sid, &lerr) != 0)
        log_warn("web: logout: %s", lerr.log);
    http_reply_header(cx->req, "Set-Cookie",
                      IDENTITY_SESSION_COOKIE
                      "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    return web_redirect(cx->req, "/login?logget_ud=1");
}

static int h_setup(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    str_t username = web_query(cx->req, "bruger");
    unsigned status = 200;
    if (http_req_method(cx->req) == HTTP_POST) {
        username = form_get(&cx->form, "username");
        str_t secret = form_get(&cx->form, "secret");
        str_t pw = STR(""), pw2 = STR("");
        for (size_t i = 0; i < cx->form.n; i++) {
            if (str_eq_cstr(cx->form.names[i], "password"))
                pw = cx->form.values[i];
            if (str_eq_cstr(cx->form.names[i], "password2"))
                pw2 = cx->form.values[i];
        }
        err_t perr;
        err_clear(&perr);
        if (username.len == 0)
            form_error(&fe, "username", "Skriv dit brugernavn.");
        if (secret.len == 0)
            form_error(&fe, "secret", "Skriv engangskoden, du har fået.");
        if (pw.len == 0)
            form_error(&fe, "password", "Vælg en adgangskode.");
        else if (identity_password_check_policy(pw, &perr) != 0)
            form_error(&fe, "password", "Adgangskoden skal være på mindst 12 tegn.");
        else if (!str_eq(pw, pw2))
            form_error(&fe, "password2", "De to adgangskoder er ikke ens.");
        if (fe.n == 0) {
            int rc = identity_user_complete_setup(w->deps.identity, username, secret, pw, &perr);
            if (rc == 0)
                return web_redirect(cx->req, "/login?opsat=1");
            if (rc == DUPLA_EUNAUTH)
                form_error(&fe, "secret",
                           "Engangskoden er forkert, brugt eller udløbet. Bed din administrator "
                           "om en ny.");
            else
                form_error(&fe, "", "Adgangskoden kunne ikke gemmes. Prøv igen senere.");
        }
        status = 400;
    }
    char token[IDENTITY_CSRF_TEXT];
    web_form_token(cx, token);
    html_t *h = &cx->h;
    page_begin(cx, "Vælg adgangskode");
    page_error_summary(cx, &fe);
    HTML(h, "<p>Brug engangskoden, du har fået af din administrator eller af "
            "Skatteforvaltningen, til at vælge din adgangskode.</p>"
            "<form method=\"post\" action=\"/opsaetning\" novalidate>"
            "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_attrc(h, token);
    HTML(h, "\">");
    form_input(cx, &fe, "username", "Brugernavn", "email", username, "Din e-mailadresse");
    form_input(cx, &fe, "secret", "Engangskode", "text",
               http_req_method(cx->req) == HTTP_POST ? form_get(&cx->form, "secret") : STR(""),
               NULL);
    form_input(cx, &fe, "password", "Ny adgangskode", "password", STR(""), "Mindst 12 tegn");
    form_input(cx, &fe, "password2", "Gentag adgangskoden", "password", STR(""), NULL);
    HTML(h, "<button class=\"button button-primary\" type=\"submit\">Gem adgangskode</button>"
            "</form>");
    page_end(cx);
    return web_reply_page(cx, status);
}

static void card(html_t *h, const char *href, const char *title, const char *text)
{
    HTML(h, "<li><a href=\"");
    html_attrc(h, href);
    HTML(h, "\">");
    html_textc(h, title);
    HTML(h, "</a>: ");
    html_textc(h, text);
    HTML(h, "</li>");
}

static int h_home(struct web_ctx *cx, err_t *err)
{
    (void)err;
    html_t *h = &cx->h;
    page_begin(cx, "Forside");
    HTML(h, "<p>Du er logget ind som ");
    html_textc(h, cx->actor.username);
    HTML(h, " for ");
    html_textc(h, cx->org.name);
    HTML(h, ". Dine roller: ");
    bool first = true;
    for (unsigned r = 1; r <= ROLE_OPERATOR; r <<= 1)
        if (cx->actor.roles & r) {
            if (!first)
                HTML(h, ", ");
            html_textc(h, web_role_label(r));
            first = false;
        }
    if (first)
        HTML(h, "ingen");
    HTML(h, ".</p><ul>");
    card(h, "/aftaler", "Aftaler", "dataudvekslingsaftaler, ansøgninger og deres status");
    card(h, "/organisation", "Brugere og roller", "organisationens brugere og deres roller");
    if (!cx->actor.data_owner)
        card(h, "/systemer", "Systemer", "systemer og deres certifikater");
    if (cx->actor.data_owner) {
        card(h, "/gennemgang", "Til gennemgang", "aftaler, der venter på dataejerens afgørelse");
        card(h, "/organisationer", "Organisationer", "tilslut en ny organisation");
        card(h, "/indsigt", "Indsigt", "hvem der har fået data om en borger eller virksomhed");
    }
    card(h, "/udleveringer", "Udleveringer", "hvilke data der er udleveret");
    HTML(h, "</ul>");
    page_end(cx);
    return web_reply_page(cx, 200);
}

/* The session warning's "Forbliv logget ind": reading the session with
 * web_begin_or_reply already counts as activity, so there is nothing more to
 * do than answer 204. */
static int h_renew(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_security_headers(cx->req);
    int rc = http_reply_data(cx->req, 204, "text/plain; charset=utf-8", STR(""));
    return rc;
}

/* The server's "not found" for a browser (http_server_set_not_found_page). */
static int h_not_found(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_public_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    int rc = web_reply_message(&cx, 404, "Siden findes ikke",
                               "Der er ingen side på denne adresse. Måske er linket forkert, "
                               "eller siden er flyttet.");
    web_end(&cx);
    return rc;
}

/* ?udloebet=1 (the session ran out), ?logget_ud=1, ?opsat=1 (set up). */
static const struct http_param q_login[] = {
    {"udloebet", HTTP_PARAM_ENUM, .values = (const char *const[]){"1", NULL}},
    {"logget_ud", HTTP_PARAM_ENUM, .values = (const char *const[]){"1", NULL}},
    {"opsat", HTTP_PARAM_ENUM, .values = (const char *const[]){"1", NULL}},
    {0}};
static const struct http_param q_setup[] = {{"bruger", HTTP_PARAM_STRING, .max = 256}, {0}};

int pages_auth_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET | HTTP_POST, "/login", NULL, WEB_LOGIN_MAX_BODY, h_login, WEB_BEGIN_PUBLIC,
         q_login},
        {HTTP_POST, "/logout", NULL, WEB_LOGIN_MAX_BODY, h_logout},
        {HTTP_GET | HTTP_POST, "/opsaetning", NULL, WEB_LOGIN_MAX_BODY, h_setup, WEB_BEGIN_PUBLIC,
         q_setup},
        {HTTP_GET, "/", NULL, 0, h_home},
        {HTTP_GET, "/session/forny", NULL, 0, h_renew},
    };
    http_server_set_not_found_page(srv, h_not_found, w);
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
