/*
 * layout.c: the page frame in the markup of Det Fælles Designsystem (header,
 * menu, main, footer), the error summary, form fields, and the answers
 * (every page answer carries the security headers).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "web/internal.h"

/* No inline script or style anywhere: the CSP below forbids both. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"

void web_security_headers(http_request_t *req)
{
    web_security_headers_csp(req, WEB_CSP);
}

void web_security_headers_csp(http_request_t *req, const char *csp)
{
    http_reply_header(req, "Content-Security-Policy", csp);
    http_reply_header(req, "Referrer-Policy", "no-referrer");
    http_reply_header(req, "X-Frame-Options", "DENY");
    http_reply_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    http_reply_header(req, "Cache-Control", "no-store");
}

int web_reply_page(struct web_ctx *cx, unsigned status)
{
    if (html_failed(&cx->h)) {
        log_error("web: page for %.*s larger than %u bytes", STR_FMT(http_req_path(cx->req)),
                  HTML_PAGE_MAX);
        html_free(&cx->h);
        html_init(&cx->h, HTML_PAGE_MAX);
        HTML(&cx->h, "<!DOCTYPE html><html lang=\"da\"><head><meta charset=\"utf-8\">"
                     "<title>Fejl</title></head><body><main><h1>Siden kunne ikke vises</h1>"
                     "</main></body></html>");
        status = 500;
    }
    web_security_headers(cx->req);
    return http_reply_data(cx->req, status, "text/html; charset=utf-8", html_str(&cx->h));
}

int web_redirect(http_request_t *req, const char *location)
{
    web_security_headers(req);
    http_reply_header(req, "Location", location);
    return http_reply_data(req, 303, "text/plain; charset=utf-8", STR(""));
}

int web_reply_message(struct web_ctx *cx, unsigned status, const char *title, const char *msg)
{
    html_free(&cx->h);
    html_init(&cx->h, HTML_PAGE_MAX);
    page_begin(cx, title);
    HTML(&cx->h, "<p>");
    html_textc(&cx->h, msg);
    HTML(&cx->h, "</p><p><a href=\"/\">Til forsiden</a></p>");
    page_end(cx);
    return web_reply_page(cx, status);
}

/* One entry of the main menu (desktop and mobile share the markup). */
static void nav_link(html_t *h, const char *href, const char *label, bool current)
{
    if (current)
        HTML(h, "<li class=\"active current\"><a class=\"nav-link\" aria-current=\"page\" href=\"");
    else
        HTML(h, "<li><a class=\"nav-link\" href=\"");
    html_attrc(h, href);
    HTML(h, "\"><span>");
    html_textc(h, label);
    HTML(h, "</span></a></li>");
}

/* The main menu's entries for the logged-in user (its roles decide which). */
static void nav_links(struct web_ctx *cx)
{
    html_t *h = &cx->h;
    str_t path = http_req_path(cx->req);
    nav_link(h, "/", "Forside", str_eq_cstr(path, "/"));
    nav_link(h, "/aftaler", "Aftaler", str_has_prefix(path, STR("/aftaler")));
    nav_link(h, "/organisation", "Brugere og roller", str_eq_cstr(path, "/organisation"));
    if (!cx->actor.data_owner) {
        nav_link(h, "/systemer", "Systemer", str_eq_cstr(path, "/systemer"));
        nav_link(h, "/fuldmagter", "Fuldmagter", str_has_prefix(path, STR("/fuldmagter")));
        nav_link(h, "/haendelser", "Hændelser", str_eq_cstr(path, "/haendelser"));
    }
    if (cx->actor.data_owner) {
        nav_link(h, "/gennemgang", "Til gennemgang", str_eq_cstr(path, "/gennemgang"));
        nav_link(h, "/organisationer", "Organisationer", str_eq_cstr(path, "/organisationer"));
        nav_link(h, "/tilslutninger", "Ansøgninger", str_has_prefix(path, STR("/tilslutninger")));
        nav_link(h, "/indsigt", "Indsigt", str_eq_cstr(path, "/indsigt"));
        nav_link(h, "/datafejl", "Datafejl", str_has_prefix(path, STR("/datafejl")));
    }
    nav_link(h, "/udleveringer", "Udleveringer", str_has_prefix(path, STR("/udleveringer")));
    nav_link(h, "/forbrug", "Forbrug", str_has_prefix(path, STR("/forbrug")));
    if (cx->w->deps.cfg && cx->w->deps.cfg->environment != ENV_PRODUCTION)
        nav_link(h, "/testdata", "Testdata", str_has_prefix(path, STR("/testdata")));
}

/* The user's name and organisation, and the log-off button (a POST with the
 * CSRF token: logging off is a change). */
static void portal_user(struct web_ctx *cx)
{
    html_t *h = &cx->h;
    HTML(h, "<p class=\"user\">");
    html_textc(h, cx->actor.username);
    HTML(h, ", ");
    html_textc(h, cx->org.name);
    HTML(h, "</p><form method=\"post\" action=\"/logout\" class=\"d-print-none\">");
    form_csrf(cx);
    HTML(h, "<button class=\"function-link log-off\" type=\"submit\">Log af</button></form>");
}

/* The solution's name and the authority behind it (and which environment). */
static void solution_text(struct web_ctx *cx, bool mobile)
{
    html_t *h = &cx->h;
    if (mobile)
        HTML(h, "<h3 class=\"sr-only\">Myndighed</h3><p class=\"mb-2\">");
    else
        HTML(h, "<div class=\"additional-info\"><p>");
    HTML(h, "<strong class=\"authority-name\">Skatteforvaltningen</strong></p><p>");
    html_textc(h, cx->w->deps.cfg->environment == ENV_PRODUCTION ? "Produktionsmiljø"
                                                                 : "Testmiljø (syntetiske data)");
    HTML(h, "</p>");
    if (!mobile)
        HTML(h, "</div>");
}

/*
 * The header as Det Fælles Designsystem 11 builds it: portal-info (the
 * platform's name, the user, log off), solution-info (the solution's name and
 * the authority), the desktop navigation-menu, and the mobile drawer (a
 * dialog dkfds.js opens from the Menu button below 992px; hidden above).
 */
static void page_header(struct web_ctx *cx)
{
    html_t *h = &cx->h;
    HTML(h, "<header class=\"header\"><div class=\"portal-info\"><div class=\"portal-info-inner "
            "container\"><a href=\"/\" class=\"dupla-brand\">DUPLA<span class=\"sr-only\">, til "
            "forsiden</span></a>");
    if (cx->logged_in) {
        HTML(h, "<button class=\"function-link button-menu-open js-menu-open ml-auto "
                "d-print-none\" type=\"button\" aria-haspopup=\"dialog\">Menu</button>"
                "<div class=\"portal-user\">");
        portal_user(cx);
        HTML(h, "</div>");
    }
    HTML(h, "</div></div><div class=\"solution-info\"><div class=\"solution-info-inner "
            "container\"><div class=\"solution-heading\"><a href=\"/\">Aftaler om dataudveksling"
            "</a></div>");
    solution_text(cx, false);
    HTML(h, "</div></div>");
    if (cx->logged_in) {
        HTML(h, "<div class=\"navigation-menu\"><div class=\"navigation-menu-inner container\">"
                "<nav class=\"nav\" aria-label=\"Hovedmenu\"><ul class=\"mainmenu\">");
        nav_links(cx);
        HTML(h, "</ul></nav></div></div>"
                "<div class=\"mobile-drawer\" role=\"dialog\" aria-modal=\"true\" "
                "aria-labelledby=\"menu-heading\"><div class=\"menu-top\"><h2 id=\"menu-heading\" "
                "class=\"menu-heading\">Menu</h2><button class=\"function-link button-menu-close "
                "js-menu-close\" type=\"button\" aria-label=\"Luk menu\">Luk</button></div>"
                "<div class=\"solution-info-mobile\">");
        solution_text(cx, true);
        HTML(h, "</div><nav class=\"navigation-menu-mobile\" aria-label=\"Hovedmenu (mobil)\">"
                "<ul class=\"mainmenu\">");
        nav_links(cx);
        HTML(h, "</ul></nav><div class=\"portal-info-mobile\"><h3 class=\"sr-only\">Bruger</h3>");
        portal_user(cx);
        HTML(h, "</div></div>");
    }
    HTML(h, "</header>");
    if (cx->logged_in)
        HTML(h, "<div class=\"overlay\"></div>");
}

void page_begin(struct web_ctx *cx, const char *title)
{
    html_t *h = &cx->h;
    const char *v = cx->w->assets_version;
    HTML(h, "<!DOCTYPE html>\n<html lang=\"da\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    html_textc(h, title);
    HTML(h, " · DUPLA</title><link rel=\"stylesheet\" href=\"/static/dkfds/");
    html_urlc(h, v);
    HTML(h, "/css/dkfds-virkdk.min.css\"><link rel=\"stylesheet\" href=\"/static/dupla.css\">"
            "<script src=\"/static/dkfds/");
    html_urlc(h, v);
    HTML(h, "/js/dkfds.min.js\" defer></script><script src=\"/static/dupla.js\" defer></script>"
            "</head><body");
    if (cx->logged_in) {
        HTML(h, " data-session-idle=\"");
        html_int(h, cx->w->session_idle_ms / 1000);
        HTML(h, "\"");
    }
    HTML(h, "><a class=\"skipnav\" href=\"#main-content\">Gå til sidens indhold</a>");
    page_header(cx);
    HTML(h, "<div class=\"container page-container\"><main id=\"main-content\">");
    if (cx->logged_in)
        HTML(h, "<div id=\"session-warning\" class=\"alert alert-warning d-none\" role=\"alert\">"
                "<div class=\"alert-body\"><p class=\"alert-heading\">Du bliver snart logget af"
                "</p><p class=\"alert-text\">Du har ikke været aktiv i et stykke tid. Af hensyn "
                "til sikkerheden logges du af om <span id=\"session-left\">kort tid</span>."
                "</p><p><button id=\"session-extend\" class=\"button button-secondary\" "
                "type=\"button\">Forbliv logget ind</button></p></div></div>");
    HTML(h, "<h1>");
    html_textc(h, title);
    HTML(h, "</h1>");
}

void page_end(struct web_ctx *cx)
{
    HTML(&cx->h, "</main></div><footer><div class=\"footer\"><div class=\"container\">"
                 "<p>DUPLA: Skatteforvaltningens dataudvekslingsplatform</p>"
                 "</div></div></footer></body></html>\n");
}

void page_error_summary(struct web_ctx *cx, const struct form_errors *fe)
{
    if (!fe || fe->n == 0)
        return;
    html_t *h = &cx->h;
    /* dkfds.js focuses the summary (data-module="error-summary") when the page
     * loads, and its links move the focus to the field in error. */
    HTML(h, "<div class=\"alert alert-error\" role=\"alert\" aria-atomic=\"true\" "
            "data-module=\"error-summary\" tabindex=\"-1\">"
            "<div class=\"alert-body\"><p class=\"alert-heading\">Der er problemer</p>"
            "<ul class=\"alert-text nobullet-list\">");
    for (size_t i = 0; i < fe->n; i++) {
        HTML(h, "<li>");
        if (fe->e[i].field[0]) {
            HTML(h, "<a class=\"function-link\" href=\"#");
            html_attrc(h, fe->e[i].field);
            HTML(h, "\">");
            html_textc(h, fe->e[i].msg);
            HTML(h, "</a>");
        } else {
            html_textc(h, fe->e[i].msg);
        }
        HTML(h, "</li>");
    }
    HTML(h, "</ul></div></div>");
}

void page_notice(struct web_ctx *cx, const char *kind, const char *text)
{
    html_t *h = &cx->h;
    if (strcmp(kind, "success") == 0)
        HTML(h, "<div class=\"alert alert-success\" role=\"status\">");
    else if (strcmp(kind, "warning") == 0)
        HTML(h, "<div class=\"alert alert-warning\" role=\"status\">");
    else
        HTML(h, "<div class=\"alert alert-info\" role=\"status\">");
    HTML(h, "<div class=\"alert-body\"><p class=\"alert-text\">");
    html_textc(h, text);
    HTML(h, "</p></div></div>");
}

void form_csrf(struct web_ctx *cx)
{
    HTML(&cx->h, "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_attrc(&cx->h, cx->csrf);
    HTML(&cx->h, "\">");
}

static void field_open(html_t *h, const char *name, const char *label, const char *msg,
                       const char *hint)
{
    if (msg)
        HTML(h, "<div class=\"form-group form-error\">");
    else
        HTML(h, "<div class=\"form-group\">");
    HTML(h, "<label class=\"form-label\" for=\"");
    html_attrc(h, name);
    HTML(h, "\">");
    html_textc(h, label);
    HTML(h, "</label>");
    if (hint) {
        HTML(h, "<span class=\"form-hint\" id=\"");
        html_attrc(h, name);
        HTML(h, "-hint\">");
        html_textc(h, hint);
        HTML(h, "</span>");
    }
    if (msg) {
        HTML(h, "<span class=\"form-error-message\" id=\"");
        html_attrc(h, name);
        HTML(h, "-error\"><span class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</span>");
    }
}

static void described_by(html_t *h, const char *name, const char *msg, const char *hint)
{
    if (!msg && !hint)
        return;
    HTML(h, " aria-describedby=\"");
    if (hint) {
        html_attrc(h, name);
        HTML(h, "-hint");
    }
    if (msg) {
        if (hint)
            HTML(h, " ");
        html_attrc(h, name);
        HTML(h, "-error");
    }
    HTML(h, "\"");
    if (msg)
        HTML(h, " aria-invalid=\"true\"");
}

void form_input(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                const char *label, const char *type, str_t value, const char *hint)
{
    html_t *h = &cx->h;
    const char *msg = form_error_for(fe, name);
    field_open(h, name, label, msg, hint);
    HTML(h, "<input class=\"form-input\" id=\"");
    html_attrc(h, name);
    HTML(h, "\" name=\"");
    html_attrc(h, name);
    HTML(h, "\" type=\"");
    html_attrc(h, type);
    HTML(h, "\"");
    if (strcmp(type, "password") != 0) {
        HTML(h, " value=\"");
        html_attr(h, value);
        HTML(h, "\"");
    }
    if (strcmp(name, "username") == 0)
        HTML(h, " autocomplete=\"username\"");
    else if (strcmp(type, "password") == 0 && strcmp(label, "Adgangskode") == 0)
        HTML(h, " autocomplete=\"current-password\"");
    else if (strcmp(type, "password") == 0)
        HTML(h, " autocomplete=\"new-password\"");
    described_by(h, name, msg, hint);
    HTML(h, "></div>");
}

void form_textarea(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                   const char *label, str_t value, const char *hint)
{
    html_t *h = &cx->h;
    const char *msg = form_error_for(fe, name);
    field_open(h, name, label, msg, hint);
    HTML(h, "<textarea class=\"form-input\" rows=\"6\" id=\"");
    html_attrc(h, name);
    HTML(h, "\" name=\"");
    html_attrc(h, name);
    HTML(h, "\"");
    described_by(h, name, msg, hint);
    HTML(h, ">");
    html_text(h, value);
    HTML(h, "</textarea></div>");
}

void form_select(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                 const char *label, const char *const (*options)[2], size_t n, str_t value,
                 const char *hint)
{
    html_t *h = &cx->h;
    const char *msg = form_error_for(fe, name);
    field_open(h, name, label, msg, hint);
    HTML(h, "<select class=\"form-select\" id=\"");
    html_attrc(h, name);
    HTML(h, "\" name=\"");
    html_attrc(h, name);
    HTML(h, "\"");
    described_by(h, name, msg, hint);
    HTML(h, ">");
    for (size_t i = 0; i < n; i++) {
        HTML(h, "<option value=\"");
        html_attrc(h, options[i][0]);
        HTML(h, "\"");
        if (str_eq_cstr(value, options[i][0]))
            HTML(h, " selected");
        HTML(h, ">");
        html_textc(h, options[i][1]);
        HTML(h, "</option>");
    }
    HTML(h, "</select></div>");
}

const char *web_role_label(unsigned role)
{
    switch (role) {
    case ROLE_ADMINISTRATOR:
        return "Administrator";
    case ROLE_PROCESSOR:
        return "Behandler";
    case ROLE_SIGNATORY:
        return "Underskriver";
    case ROLE_DATAFORVALTNING:
        return "Dataforvaltning";
    case ROLE_OPERATOR:
        return "Drift";
    default:
        return "Ukendt rolle";
    }
}

const char *web_state_label(const char *state)
{
    static const struct {
        const char *name, *label;
    } labels[] = {
        {"draft", "Kladde"},
        {"submitted", "Til godkendelse"},
        {"approved", "Godkendt"},
        {"rejected", "Afvist"},
        {"suspended", "Suspenderet"},
        {"revoked", "Tilbagekaldt"},
        {"terminated", "Opsagt"},
        {"superseded", "Erstattet"},
        {"withdrawn", "Trukket tilbage"},
    };
    for (size_t i = 0; state && i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i].name, state) == 0)
            return labels[i].label;
    return state ? state : "";
}

void web_time(int64_t ms, char out[32])
{
    clock_format_dk(ms, out, 32);
}

const char *web_time_iso(struct web_ctx *cx, const char *iso)
{
    int64_t ms;
    if (clock_parse_timestamp(str_from_cstr(iso), &ms, 1) != 0)
        return iso;
    char *out = arena_alloc(http_req_arena(cx->req), CLOCK_DK_TEXT_MAX);
    if (!out)
        return iso;
    clock_format_dk(ms, out, CLOCK_DK_TEXT_MAX);
    return out;
}
