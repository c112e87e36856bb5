/*
 * pages_org.c: the organisation's users and roles (the data owner's
 * onboarding of organisations is in pages_onboarding.c, which shares this
 * file's refusal texts, suspension form and one-time secret page; the
 * disclosures are in pages_disclosure.c).
 *
 *   GET  /organisation              users, their roles and status
 *   POST /organisation/bruger       add a user (administrator): shows the one-time secret
 *   POST /organisation/rolle        user, rolle, handling=tildel|fjern (administrator)
 *   GET  /organisation/bruger/status ?user=: the second step before suspending a user
 *   POST /organisation/bruger/status user, handling=suspender|genaktiver, begrundelse
 *
 * The systems and their certificates are in pages_systems.c.
 *
 * Suspending (a user, an organisation) takes a reason, asked for on a page
 * of its own that says what will happen; re-activating is one button. The
 * role rules are identity's: the pages only hide what a user may not do.
 *
 * The two posts that make a one-time secret answer with the page that shows
 * it (once, not stored, Cache-Control: no-store) instead of a redirect: the
 * secret must not travel in a URL or be kept for a later GET.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/rand.h"
#include "expiry/expiry.h"
#include "pki/pki.h"
#include "web/internal.h"

#define WEB_USERS_MAX      500
#define WEB_EXPIRIES_SHOWN 50 /* on the organisation's page; past it, a count */

/* ---- collecting list results ---- */

struct users {
    size_t n;
    struct identity_user *v;
};
static int collect_user(const struct identity_user *u, void *ctx)
{
    struct users *l = ctx;
    if (l->n >= WEB_USERS_MAX)
        return 1;
    l->v[l->n++] = *u;
    return 0;
}

/* The roles that fit the user's organisation. */
static unsigned org_roles(const struct web_ctx *cx)
{
    return cx->org.data_owner ? ROLE_OWNER_ROLES : ROLE_RECIPIENT_ROLES;
}

/* A refusal from identity about users, roles and organisations, in
 * Danish: by code, the field it names and (where one code and field cover
 * several rules) the rule's reason (err_is, core/problem.h). Never the
 * module's English text. */
const char *pages_org_refusal(int rc, const err_t *err)
{
    const char *p = err->param;
    switch (rc) {
    case DUPLA_EFORBIDDEN:
        return "Du har ikke rettighed til dette. Kun organisationens administrator ændrer dens "
               "brugere og roller, og kun Skatteforvaltningens dataforvaltning ændrer "
               "organisationer.";
    case DUPLA_ENOTFOUND:
        return strcmp(p, "org") == 0 ? "Organisationen findes ikke." : "Brugeren findes ikke.";
    case DUPLA_ECONFLICT:
        if (err_is(err, PROBLEM_USERNAME_TAKEN))
            return "Brugernavnet er allerede i brug.";
        if (err_is(err, PROBLEM_ORG_EXISTS))
            return "Organisationen er allerede tilsluttet.";
        if (err_is(err, PROBLEM_OWN_ADMIN_ROLE))
            return "Du kan ikke fjerne din egen administratorrolle.";
        if (err_is(err, PROBLEM_LAST_ADMINISTRATOR))
            return strcmp(p, "role") == 0
                       ? "Brugeren er organisationens sidste aktive administrator og beholder "
                         "rollen. Giv først en anden bruger administratorrollen."
                       : "Brugeren er organisationens sidste aktive administrator og kan ikke "
                         "suspenderes. Giv først en anden bruger administratorrollen.";
        if (err_is(err, PROBLEM_ROLE_HELD))
            return "Brugeren har allerede rollen.";
        if (err_is(err, PROBLEM_ROLE_NOT_HELD))
            return "Brugeren har ikke rollen.";
        if (err_is(err, PROBLEM_SELF_SUSPENSION))
            return "Du kan ikke suspendere dig selv.";
        if (err_is(err, PROBLEM_DATA_OWNER_FIXED))
            return "Skatteforvaltningen (dataejeren) kan ikke suspenderes.";
        if (err_is(err, PROBLEM_ORG_CLOSED))
            return "Organisationen er lukket og kan ikke genåbnes.";
        if (err_is(err, PROBLEM_ALREADY_SUSPENDED))
            return "Den er allerede suspenderet.";
        if (err_is(err, PROBLEM_ALREADY_ACTIVE))
            return "Den er allerede aktiv.";
        return "Det kan ikke lade sig gøre i den nuværende tilstand.";
    case DUPLA_EINVAL:
        if (strcmp(p, "username") == 0 || strcmp(p, "admin_username") == 0 ||
            strcmp(p, "contact_email") == 0)
            return "Skriv en gyldig e-mailadresse (højst 254 tegn).";
        if (strcmp(p, "display_name") == 0 || strcmp(p, "name") == 0 ||
            strcmp(p, "admin_name") == 0)
            return "Navnet må højst være 200 tegn og må ikke indeholde kontroltegn.";
        if (strcmp(p, "cvr") == 0)
            return "CVR-nummeret er ikke gyldigt.";
        if (strcmp(p, "role") == 0)
            return "Rollen passer ikke til organisationen.";
        if (strcmp(p, "reason") == 0)
            return "Begrundelsen må højst være 500 tegn og må ikke indeholde kontroltegn.";
        return "Oplysningerne er ikke gyldige.";
    default:
        return "Det lykkedes ikke. Prøv igen senere.";
    }
}

static const char *user_status_label(enum user_status s)
{
    return s == USER_ACTIVE ? "Aktiv" : "Suspenderet";
}

/* The rest of the page that asks for the reason before a suspension (the
 * caller has written what is suspended): a warning, the error summary, the
 * reason field (kept, with its error) and the button. */
void pages_org_suspend_form(struct web_ctx *cx, const char *action, const char *id_name,
                            const char *id_value, const char *warning, const char *button,
                            const char *back, const struct form_errors *fe, str_t reason)
{
    html_t *h = &cx->h;
    page_notice(cx, "warning", warning);
    page_error_summary(cx, fe);
    HTML(h, "<form method=\"post\" action=\"");
    html_attrc(h, action);
    HTML(h, "\" novalidate>");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"");
    html_attrc(h, id_name);
    HTML(h, "\" value=\"");
    html_attrc(h, id_value);
    HTML(h, "\"><input type=\"hidden\" name=\"handling\" value=\"suspender\">");
    form_textarea(cx, fe, "begrundelse", "Begrundelse", reason,
                  "Hvorfor suspenderes der? Begrundelsen gemmes i historikken (højst 500 tegn).");
    HTML(h, "<button class=\"button button-primary\" type=\"submit\">");
    html_textc(h, button);
    HTML(h, "</button> <a class=\"button button-secondary\" href=\"");
    html_attrc(h, back);
    HTML(h, "\">Fortryd</a></form>");
}

/* ---- users and roles ---- */

/* What of the organisation's expires within 30 days (the expiry module's
 * last run, src/expiry): certificates, agreements and, on the data owner's
 * page, the platform's own server certificate and token signing key. */
static void expiry_notice(struct web_ctx *cx)
{
    expiry_t *ex = cx->w->deps.expiry;
    struct expiry_item *items =
        ex ? arena_alloc(http_req_arena(cx->req), WEB_EXPIRIES_SHOWN * sizeof *items) : NULL;
    if (!items)
        return;
    size_t n = expiry_for_org(ex, cx->org.cvr, items, WEB_EXPIRIES_SHOWN);
    if (n == 0)
        return;
    html_t *h = &cx->h;
    int64_t now = clock_now_ms();
    HTML(h, "<div class=\"alert alert-warning\" role=\"region\" aria-labelledby=\"udloeber\">"
            "<div class=\"alert-body\"><h2 class=\"alert-heading\" id=\"udloeber\">Udløber "
            "inden for 30 dage</h2><ul class=\"alert-text\" id=\"udloeber-liste\">");
    for (size_t i = 0; i < n && i < WEB_EXPIRIES_SHOWN; i++) {
        char t[32];
        web_time(items[i].not_after_ms, t);
        long long days = (items[i].not_after_ms - now + 86400000 - 1) / 86400000;
        HTML(h, "<li>");
        html_textc(h, items[i].label);
        HTML(h, ": udløber ");
        html_textc(h, t);
        HTML(h, " (om ");
        html_int(h, days);
        if (days == 1)
            HTML(h, " dag)");
        else
            HTML(h, " dage)");
        if (items[i].warned_days) {
            HTML(h, "; varslet til kontaktpostkassen ");
            html_int(h, items[i].warned_days);
            HTML(h, " dage før");
        }
        HTML(h, "</li>");
    }
    HTML(h, "</ul>");
    if (n > WEB_EXPIRIES_SHOWN) {
        HTML(h, "<p class=\"alert-text\">og ");
        html_int(h, (int64_t)(n - WEB_EXPIRIES_SHOWN));
        HTML(h, " flere.</p>");
    }
    HTML(h, "</div></div>");
}

static void org_page(struct web_ctx *cx, const struct form_errors *fe, const struct http_form *kept)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    struct users users = {
        0, arena_alloc(http_req_arena(cx->req), WEB_USERS_MAX * sizeof(struct identity_user))};
    err_t err;
    err_clear(&err);
    if (users.v)
        identity_user_list(w->deps.identity, str_from_cstr(cx->org.id), collect_user, &users, &err);
    page_begin(cx, "Brugere og roller");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "rolle"))
        page_notice(cx, "success", "Rollen er ændret.");
    else if (str_eq_cstr(ok, "suspenderet"))
        page_notice(cx, "success",
                    "Brugeren er suspenderet: den er logget af og kan ikke logge ind, før du "
                    "genaktiverer den.");
    else if (str_eq_cstr(ok, "genaktiveret"))
        page_notice(cx, "success", "Brugeren er genaktiveret og kan logge ind igen.");
    page_error_summary(cx, fe);
    expiry_notice(cx);
    HTML(h, "<p>Organisation: ");
    html_textc(h, cx->org.name);
    HTML(h, " (CVR ");
    html_textc(h, cx->org.cvr);
    HTML(h, ")</p><div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\">"
            "<caption>Brugere</caption><thead><tr><th scope=\"col\">Brugernavn</th>"
            "<th scope=\"col\">Navn</th><th scope=\"col\">Roller</th>"
            "<th scope=\"col\">Status</th><th scope=\"col\">Adgangskode valgt</th>");
    if (web_is_admin(cx))
        HTML(h, "<th scope=\"col\">Skift rolle</th><th scope=\"col\">Adgang</th>");
    HTML(h, "</tr></thead><tbody>");
    for (size_t i = 0; i < users.n; i++) {
        const struct identity_user *u = &users.v[i];
        HTML(h, "<tr><td>");
        html_textc(h, u->username);
        HTML(h, "</td><td>");
        html_textc(h, u->display_name);
        HTML(h, "</td><td>");
        bool first = true;
        for (unsigned r = 1; r <= ROLE_OPERATOR; r <<= 1)
            if (u->roles & r) {
                if (!first)
                    HTML(h, ", ");
                html_textc(h, web_role_label(r));
                first = false;
            }
        HTML(h, "</td><td>");
        html_textc(h, user_status_label(u->status));
        HTML(h, "</td><td>");
        html_textc(h, u->has_password ? "Ja" : "Nej");
        HTML(h, "</td>");
        if (web_is_admin(cx)) {
            HTML(h, "<td><form method=\"post\" action=\"/organisation/rolle\">");
            form_csrf(cx);
            HTML(h, "<input type=\"hidden\" name=\"user\" value=\"");
            html_attrc(h, u->id);
            HTML(h, "\"><label class=\"form-label\" for=\"rolle-");
            html_int(h, (int64_t)i);
            HTML(h, "\">Rolle for ");
            html_textc(h, u->username);
            HTML(h, "</label><select class=\"form-select\" name=\"rolle\" id=\"rolle-");
            html_int(h, (int64_t)i);
            HTML(h, "\">");
            for (unsigned r = 1; r <= ROLE_OPERATOR; r <<= 1)
                if (org_roles(cx) & r) {
                    HTML(h, "<option value=\"");
                    html_attrc(h, identity_role_name(r));
                    HTML(h, "\">");
                    html_textc(h, web_role_label(r));
                    HTML(h, "</option>");
                }
            HTML(h, "</select> <button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"tildel\">Tildel</button> "
                    "<button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"fjern\">Fjern</button></form></td><td>");
            if (strcmp(u->id, cx->actor.user_id) == 0) {
                HTML(h, "(dig selv)");
            } else if (u->status == USER_ACTIVE) {
                HTML(h, "<a href=\"/organisation/bruger/status?user=");
                html_urlc(h, u->id);
                HTML(h, "\">Suspendér<span class=\"sr-only\"> ");
                html_textc(h, u->username);
                HTML(h, "</span></a>");
            } else {
                HTML(h, "<form method=\"post\" action=\"/organisation/bruger/status\">");
                form_csrf(cx);
                HTML(h, "<input type=\"hidden\" name=\"user\" value=\"");
                html_attrc(h, u->id);
                HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                        "name=\"handling\" value=\"genaktiver\">Genaktivér<span "
                        "class=\"sr-only\"> ");
                html_textc(h, u->username);
                HTML(h, "</span></button></form>");
            }
            HTML(h, "</td>");
        }
        HTML(h, "</tr>");
    }
    HTML(h, "</tbody></table></div>");
    if (web_is_admin(cx)) {
        static const struct http_form empty = {0};
        const struct http_form *k = kept ? kept : &empty;
        HTML(h, "<h2>Tilføj en bruger</h2><form method=\"post\" action=\"/organisation/bruger\" "
                "novalidate>");
        form_csrf(cx);
        form_input(cx, fe, "username", "Brugernavn (e-mailadresse)", "email",
                   form_get(k, "username"), NULL);
        form_input(cx, fe, "display_name", "Navn", "text", form_get(k, "display_name"), NULL);
        HTML(h, "<fieldset><legend class=\"form-label\">Roller</legend>");
        int idx = 0;
        for (unsigned r = 1; r <= ROLE_OPERATOR; r <<= 1)
            if (org_roles(cx) & r) {
                HTML(h, "<div class=\"form-group-checkbox\"><input class=\"form-checkbox\" "
                        "type=\"checkbox\" name=\"roles\" id=\"ny-rolle-");
                html_int(h, idx);
                HTML(h, "\" value=\"");
                html_attrc(h, identity_role_name(r));
                HTML(h, "\"><label for=\"ny-rolle-");
                html_int(h, idx);
                HTML(h, "\">");
                html_textc(h, web_role_label(r));
                HTML(h, "</label></div>");
                idx++;
            }
        HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">Tilføj "
                "bruger</button></form>");
    }
    page_end(cx);
}

static int h_org(struct web_ctx *cx, err_t *err)
{
    (void)err;
    org_page(cx, NULL, NULL);
    return web_reply_page(cx, 200);
}

/* The page that shows a one-time secret, once. */
void pages_org_secret_page(struct web_ctx *cx, const char *title, const char *intro,
                           const struct identity_setup_secret *s, const char *back,
                           const char *back_label)
{
    html_t *h = &cx->h;
    page_begin(cx, title);
    page_notice(cx, "success", intro);
    HTML(h, "<p>Giv brugeren disse oplysninger ad en sikker vej. Engangskoden vises kun denne "
            "ene gang.</p><dl><dt>Brugernavn</dt><dd>");
    html_textc(h, s->username);
    HTML(h, "</dd><dt>Engangskode</dt><dd class=\"secret\" id=\"engangskode\">");
    html_textc(h, s->secret);
    HTML(h, "</dd><dt>Gyldig til</dt><dd>");
    char t[32];
    web_time(s->expires_ms, t);
    html_textc(h, t);
    HTML(h, "</dd></dl><p>Brugeren vælger sin adgangskode på <a href=\"/opsaetning\">"
            "siden for førstegangsopsætning</a>.</p><p><a href=\"");
    html_attrc(h, back);
    HTML(h, "\">");
    html_textc(h, back_label);
    HTML(h, "</a></p>");
    page_end(cx);
}

static int h_user_add(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    str_t username = form_get(&cx->form, "username");
    unsigned roles = 0;
    for (size_t i = 0; i < cx->form.n; i++)
        if (str_eq_cstr(cx->form.names[i], "roles")) {
            unsigned r;
            if (identity_role_parse(cx->form.values[i], &r) == 0)
                roles |= r;
        }
    if (username.len == 0)
        form_error(&fe, "username", "Skriv brugerens e-mailadresse.");
    int rc = 0;
    if (fe.n == 0) {
        struct identity_user u;
        struct identity_setup_secret s;
        err_t e;
        err_clear(&e);
        rc = identity_user_create(w->deps.identity, &cx->actor, str_from_cstr(cx->org.id), username,
                                  form_get(&cx->form, "display_name"), roles, &u, &s, &e);
        if (rc == 0) {
            pages_org_secret_page(cx, "Brugeren er oprettet", "Brugeren er oprettet.", &s,
                                  "/organisation", "Tilbage til brugere og roller");
            secret_wipe(&s, sizeof s);
            return web_reply_page(cx, 200);
        }
        form_error(&fe, strcmp(e.param, "username") == 0 ? "username" : "",
                   pages_org_refusal(rc, &e));
    }
    org_page(cx, &fe, &cx->form);
    return web_reply_page(cx, rc == DUPLA_EFORBIDDEN ? 403 : 400);
}

static int h_role(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    unsigned role;
    str_t action = form_get(&cx->form, "handling");
    err_t e;
    err_clear(&e);
    int rc;
    if (identity_role_parse(form_get(&cx->form, "rolle"), &role) != 0)
        rc = err_param(&e, DUPLA_EINVAL, "rolle", "Vælg en rolle.");
    else if (str_eq_cstr(action, "tildel"))
        rc = identity_role_grant(w->deps.identity, &cx->actor, form_get(&cx->form, "user"), role,
                                 &e);
    else if (str_eq_cstr(action, "fjern"))
        rc = identity_role_revoke(w->deps.identity, &cx->actor, form_get(&cx->form, "user"), role,
                                  &e);
    else
        rc = err_param(&e, DUPLA_EINVAL, "handling", "Vælg tildel eller fjern.");
    if (rc == 0)
        return web_redirect(cx->req, "/organisation?ok=rolle");
    struct form_errors fe = {0};
    form_error(&fe, "", pages_org_refusal(rc, &e));
    org_page(cx, &fe, NULL);
    return web_reply_page(cx, web_refusal_status(rc));
}

/* GET|POST /organisation/bruger/status: suspend (with a reason, asked on a
 * page of its own) or re-activate a user. */
static int h_user_status(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    bool post = http_req_method(cx->req) == HTTP_POST;
    str_t ref = post ? form_get(&cx->form, "user") : web_query(cx->req, "user");
    str_t action = form_get(&cx->form, "handling");
    str_t reason = form_get(&cx->form, "begrundelse");
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc = 0;
    if (post && str_eq_cstr(action, "genaktiver")) {
        rc = identity_user_set_status(w->deps.identity, &cx->actor, ref, USER_ACTIVE, STR(""), &e);
        if (rc == 0)
            return web_redirect(cx->req, "/organisation?ok=genaktiveret");
        form_error(&fe, "", pages_org_refusal(rc, &e));
        org_page(cx, &fe, NULL);
        return web_reply_page(cx, web_refusal_status(rc));
    }
    if (post && !str_eq_cstr(action, "suspender"))
        form_error(&fe, "", "Vælg at suspendere eller genaktivere brugeren.");
    else if (post && reason.len == 0)
        form_error(&fe, "begrundelse", "Skriv en begrundelse for suspenderingen.");
    else if (post) {
        rc =
            identity_user_set_status(w->deps.identity, &cx->actor, ref, USER_SUSPENDED, reason, &e);
        if (rc == 0)
            return web_redirect(cx->req, "/organisation?ok=suspenderet");
        form_error(&fe, strcmp(e.param, "reason") == 0 ? "begrundelse" : "",
                   pages_org_refusal(rc, &e));
    }
    /* The page that asks for the reason: only for a user of one's own
     * organisation (another's is "not found", its name not shown). */
    struct identity_user u;
    err_t ge;
    err_clear(&ge);
    if (identity_user_get(w->deps.identity, ref, &u, &ge) != 0 ||
        strcmp(u.org_id, cx->org.id) != 0) {
        bool refused = rc == DUPLA_EFORBIDDEN;
        return web_reply_message(
            cx, refused ? 403 : 404, refused ? "Ingen adgang" : "Brugeren findes ikke",
            rc ? pages_org_refusal(rc, &e) : "Organisationen har ingen bruger med det id.");
    }
    html_t *h = &cx->h;
    page_begin(cx, "Suspendér bruger");
    HTML(h, "<dl><dt>Brugernavn</dt><dd>");
    html_textc(h, u.username);
    HTML(h, "</dd><dt>Navn</dt><dd>");
    html_textc(h, u.display_name);
    HTML(h, "</dd><dt>Status</dt><dd>");
    html_textc(h, user_status_label(u.status));
    HTML(h, "</dd></dl>");
    pages_org_suspend_form(cx, "/organisation/bruger/status", "user", u.id,
                           "Brugeren bliver logget af med det samme og kan ikke logge ind, før en "
                           "administrator genaktiverer den.",
                           "Suspendér brugeren", "/organisation", &fe, reason);
    page_end(cx);
    return web_reply_page(cx, fe.n ? web_refusal_status(rc) : 200);
}

static const struct http_param q_ok[] = {WEB_PARAM_OK, {0}};
static const struct http_param q_user[] = {{"user", HTTP_PARAM_STRING, .max = 256}, {0}};

int pages_org_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/organisation", NULL, 0, h_org, .query = q_ok},
        {HTTP_POST, "/organisation/bruger", NULL, 0, h_user_add},
        {HTTP_POST, "/organisation/rolle", NULL, 0, h_role},
        {HTTP_GET | HTTP_POST, "/organisation/bruger/status", NULL, 0, h_user_status,
         .query = q_user},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
