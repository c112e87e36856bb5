/*
 * pages_onboarding.c: the data owner's onboarding, suspension and
 * re-activation of organisations.
 *
 *   GET  /organisationer            the organisations (data owner)
 *   POST /organisationer            onboard one (dataforvaltning): shows the one-time secret
 *   GET  /organisationer/status     ?org=: the second step before suspending an organisation
 *   POST /organisationer/status     org, handling=suspender|genaktiver, begrundelse
 *
 * Suspending takes a reason, asked for on a page of its own that says what
 * will happen; re-activating is one button. Onboarding answers with the
 * page that shows the administrator's one-time secret (once, not stored,
 * Cache-Control: no-store) instead of a redirect. The refusal texts, the
 * suspension form and the secret page are pages_org.c's, shared with the
 * users' pages.
 */
#include <stdio.h>
#include <string.h>

#include "core/rand.h"
#include "web/internal.h"

#define WEB_ORGS_MAX 1000

struct orgs {
    size_t n;
    struct identity_org *v;
};
static int collect_org(const struct identity_org *o, void *ctx)
{
    struct orgs *l = ctx;
    if (l->n >= WEB_ORGS_MAX)
        return 1;
    l->v[l->n++] = *o;
    return 0;
}

static const char *org_status_label(enum org_status s)
{
    return s == ORG_ACTIVE ? "Aktiv" : s == ORG_SUSPENDED ? "Suspenderet" : "Lukket";
}

/* ---- onboarding (data owner) ---- */

static void orgs_page(struct web_ctx *cx, const struct form_errors *fe,
                      const struct http_form *kept)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    const struct http_form *k = kept ? kept : &empty;
    struct orgs orgs = {
        0, arena_alloc(http_req_arena(cx->req), WEB_ORGS_MAX * sizeof(struct identity_org))};
    err_t err;
    err_clear(&err);
    if (orgs.v)
        identity_org_list(w->deps.identity, collect_org, &orgs, &err);
    bool manage = identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING);
    page_begin(cx, "Organisationer");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "suspenderet"))
        page_notice(cx, "success",
                    "Organisationen er suspenderet: dens brugere kan ikke logge ind, og dens "
                    "systemer kan ikke hente data.");
    else if (str_eq_cstr(ok, "genaktiveret"))
        page_notice(cx, "success", "Organisationen er genaktiveret.");
    page_error_summary(cx, fe);
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>"
            "Tilsluttede organisationer</caption><thead><tr><th scope=\"col\">Navn</th>"
            "<th scope=\"col\">CVR</th><th scope=\"col\">Kontakt</th><th scope=\"col\">Status"
            "</th>");
    if (manage)
        HTML(h, "<th scope=\"col\">Handling</th>");
    HTML(h, "</tr></thead><tbody>");
    for (size_t i = 0; i < orgs.n; i++) {
        const struct identity_org *o = &orgs.v[i];
        HTML(h, "<tr><td>");
        html_textc(h, o->name);
        HTML(h, "</td><td>");
        html_textc(h, o->cvr);
        HTML(h, "</td><td>");
        html_textc(h, o->contact_email);
        HTML(h, "</td><td>");
        html_textc(h, org_status_label(o->status));
        HTML(h, "</td>");
        if (manage) {
            HTML(h, "<td>");
            if (o->data_owner) {
                HTML(h, "(dataejeren)");
            } else if (o->status == ORG_ACTIVE) {
                HTML(h, "<a href=\"/organisationer/status?org=");
                html_urlc(h, o->id);
                HTML(h, "\">Suspendér<span class=\"sr-only\"> ");
                html_textc(h, o->name);
                HTML(h, "</span></a>");
            } else if (o->status == ORG_SUSPENDED) {
                HTML(h, "<form method=\"post\" action=\"/organisationer/status\">");
                form_csrf(cx);
                HTML(h, "<input type=\"hidden\" name=\"org\" value=\"");
                html_attrc(h, o->id);
                HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                        "name=\"handling\" value=\"genaktiver\">Genaktivér<span "
                        "class=\"sr-only\"> ");
                html_textc(h, o->name);
                HTML(h, "</span></button></form>");
            }
            HTML(h, "</td>");
        }
        HTML(h, "</tr>");
    }
    HTML(h, "</tbody></table></div>");
    if (manage) {
        HTML(h, "<h2>Tilslut en organisation</h2><form method=\"post\" "
                "action=\"/organisationer\" novalidate>");
        form_csrf(cx);
        form_input(cx, fe, "name", "Organisationens navn", "text", form_get(k, "name"), NULL);
        form_input(cx, fe, "cvr", "CVR-nummer", "text", form_get(k, "cvr"), "8 cifre");
        form_input(cx, fe, "contact_email", "Kontaktpostkasse", "email",
                   form_get(k, "contact_email"), "Hertil sendes besked om afgørelser");
        form_input(cx, fe, "admin_username", "Administratorens brugernavn (e-mailadresse)", "email",
                   form_get(k, "admin_username"), NULL);
        form_input(cx, fe, "admin_name", "Administratorens navn", "text", form_get(k, "admin_name"),
                   NULL);
        HTML(h, "<button class=\"button button-primary\" type=\"submit\">Tilslut organisation"
                "</button></form>");
    }
    page_end(cx);
}

static int h_orgs(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    if (!cx->actor.data_owner) {
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun Skatteforvaltningens medarbejdere kan se organisationer.");
    }
    struct form_errors fe = {0};
    int rc = 0;
    if (http_req_method(cx->req) == HTTP_POST) {
        static const char *const required[][2] = {
            {"name", "Skriv organisationens navn."},
            {"cvr", "Skriv organisationens CVR-nummer."},
            {"contact_email", "Skriv organisationens kontaktpostkasse."},
            {"admin_username", "Skriv administratorens e-mailadresse."},
        };
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (form_get(&cx->form, required[i][0]).len == 0)
                form_error(&fe, required[i][0], required[i][1]);
        if (fe.n == 0) {
            struct identity_org_new in = {.name = form_get(&cx->form, "name"),
                                          .cvr = form_get(&cx->form, "cvr"),
                                          .contact_email = form_get(&cx->form, "contact_email"),
                                          .admin_username = form_get(&cx->form, "admin_username"),
                                          .admin_name = form_get(&cx->form, "admin_name")};
            struct identity_org o;
            struct identity_setup_secret s;
            err_t e;
            err_clear(&e);
            rc = identity_org_create(w->deps.identity, &cx->actor, &in, &o, &s, &e);
            if (rc == 0) {
                pages_org_secret_page(cx, "Organisationen er tilsluttet",
                                      "Organisationen og dens administrator er oprettet.", &s,
                                      "/organisationer", "Tilbage til organisationer");
                secret_wipe(&s, sizeof s);
                return web_reply_page(cx, 200);
            }
            const char *field = "";
            static const char *const fields[] = {"name", "cvr", "contact_email", "admin_username",
                                                 "admin_name"};
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (strcmp(e.param, fields[i]) == 0)
                    field = fields[i];
            if (rc == DUPLA_EINVAL && strcmp(field, "cvr") == 0)
                form_error(&fe, field, "CVR-nummeret er ikke gyldigt.");
            else if (err_is(&e, PROBLEM_ORG_EXISTS))
                form_error(&fe, "cvr", "Organisationen er allerede tilsluttet.");
            else
                form_error(&fe, field, pages_org_refusal(rc, &e));
        }
    }
    orgs_page(cx, &fe, http_req_method(cx->req) == HTTP_POST ? &cx->form : NULL);
    return web_reply_page(cx, fe.n ? (rc == DUPLA_EFORBIDDEN ? 403 : 400) : 200);
}

/* GET|POST /organisationer/status: suspend (with a reason, asked on a page
 * of its own) or re-activate an organisation (the data owner). */
static int h_org_status(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    if (!cx->actor.data_owner) {
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun Skatteforvaltningens dataforvaltning kan suspendere og "
                                 "genaktivere organisationer.");
    }
    bool post = http_req_method(cx->req) == HTTP_POST;
    str_t ref = post ? form_get(&cx->form, "org") : web_query(cx->req, "org");
    str_t action = form_get(&cx->form, "handling");
    str_t reason = form_get(&cx->form, "begrundelse");
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc = 0;
    if (post && str_eq_cstr(action, "genaktiver")) {
        rc = identity_org_set_status(w->deps.identity, &cx->actor, ref, ORG_ACTIVE, STR(""), &e);
        if (rc == 0)
            return web_redirect(cx->req, "/organisationer?ok=genaktiveret");
        form_error(&fe, "", pages_org_refusal(rc, &e));
        orgs_page(cx, &fe, NULL);
        return web_reply_page(cx, web_refusal_status(rc));
    }
    if (post && !str_eq_cstr(action, "suspender"))
        form_error(&fe, "", "Vælg at suspendere eller genaktivere organisationen.");
    else if (post && reason.len == 0)
        form_error(&fe, "begrundelse", "Skriv en begrundelse for suspenderingen.");
    else if (post) {
        rc = identity_org_set_status(w->deps.identity, &cx->actor, ref, ORG_SUSPENDED, reason, &e);
        if (rc == 0)
            return web_redirect(cx->req, "/organisationer?ok=suspenderet");
        form_error(&fe, strcmp(e.param, "reason") == 0 ? "begrundelse" : "",
                   pages_org_refusal(rc, &e));
    }
    struct identity_org o;
    err_t ge;
    err_clear(&ge);
    if (ref.len == 0 || identity_org_get(w->deps.identity, ref, &o, &ge) != 0) {
        return web_reply_message(cx, 404, "Organisationen findes ikke",
                                 "Der er ingen organisation med det id.");
    }
    html_t *h = &cx->h;
    page_begin(cx, "Suspendér organisation");
    HTML(h, "<dl><dt>Organisation</dt><dd>");
    html_textc(h, o.name);
    HTML(h, "</dd><dt>CVR-nummer</dt><dd>");
    html_textc(h, o.cvr);
    HTML(h, "</dd><dt>Status</dt><dd>");
    html_textc(h, org_status_label(o.status));
    HTML(h, "</dd></dl>");
    pages_org_suspend_form(
        cx, "/organisationer/status", "org", o.id,
        "Organisationens brugere kan ikke logge ind, og dens systemer kan ikke hente "
        "data, før organisationen genaktiveres.",
        "Suspendér organisationen", "/organisationer", &fe, reason);
    page_end(cx);
    return web_reply_page(cx, fe.n ? web_refusal_status(rc) : 200);
}

static const struct http_param q_ok[] = {WEB_PARAM_OK, {0}};
static const struct http_param q_org[] = {{"org", HTTP_PARAM_STRING, .max = 64}, {0}};

int pages_onboarding_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET | HTTP_POST, "/organisationer", NULL, 0, h_orgs, .query = q_ok},
        {HTTP_GET | HTTP_POST, "/organisationer/status", NULL, 0, h_org_status, .query = q_org},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
