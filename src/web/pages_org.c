/*
 * pages_org.c: the organisation's users and roles, its systems and their
 * certificates, and the data owner's onboarding of organisations (the
 * disclosures are in pages_disclosure.c).
 *
 *   GET  /organisation              users and their roles
 *   POST /organisation/bruger       add a user (administrator): shows the one-time secret
 *   POST /organisation/rolle        user, rolle, handling=tildel|fjern (administrator)
 *   GET  /systemer                  systems, their certificates
 *   POST /systemer                  register: name, certificate (PEM)
 *   POST /systemer/certifikat       roll over: system, certificate (PEM)
 *   POST /systemer/spaer            revoke a system
 *   POST /systemer/certifikat/spaer revoke a certificate (sha256)
 *   GET  /organisationer            the organisations (data owner)
 *   POST /organisationer            onboard one (dataforvaltning): shows the one-time secret
 *
 * The two posts that make a one-time secret answer with the page that shows
 * it (once, not stored, Cache-Control: no-store) instead of a redirect: the
 * secret must not travel in a URL or be kept for a later GET.
 */
#include <stdio.h>
#include <string.h>

#include "core/rand.h"
#include "pki/pki.h"
#include "web/internal.h"

#define WEB_USERS_MAX   500
#define WEB_SYSTEMS_MAX 200
#define WEB_ORGS_MAX    1000

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

struct systems {
    size_t n;
    struct identity_system *v;
};
static int collect_system(const struct identity_system *s, void *ctx)
{
    struct systems *l = ctx;
    if (l->n >= WEB_SYSTEMS_MAX)
        return 1;
    l->v[l->n++] = *s;
    return 0;
}

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

/* The roles that fit the user's organisation. */
static unsigned org_roles(const struct web_ctx *cx)
{
    return cx->org.data_owner ? ROLE_OWNER_ROLES : ROLE_RECIPIENT_ROLES;
}

static bool is_admin(const struct web_ctx *cx)
{
    return identity_actor_has(&cx->actor, ROLE_ADMINISTRATOR);
}

/* A refusal from a module, in Danish, for the error summary. */
static const char *refusal(int rc, const err_t *err)
{
    switch (rc) {
    case DUPLA_EFORBIDDEN:
        return "Du har ikke rettighed til at gøre dette.";
    case DUPLA_ENOTFOUND:
        return "Det findes ikke (længere).";
    case DUPLA_ECONFLICT:
        return "Det er allerede gjort, eller findes i forvejen.";
    case DUPLA_EINVAL:
        return err->detail[0] ? err->detail : "Oplysningerne er ikke gyldige.";
    default:
        return "Det lykkedes ikke. Prøv igen senere.";
    }
}

/* ---- users and roles ---- */

static void org_page(struct web_ctx *cx, const struct form_errors *fe, const struct form *kept)
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
    if (str_eq_cstr(web_query(cx->req, "ok"), "rolle"))
        page_notice(cx, "success", "Rollen er ændret.");
    page_error_summary(cx, fe);
    HTML(h, "<p>Organisation: ");
    html_textc(h, cx->org.name);
    HTML(h, " (CVR ");
    html_textc(h, cx->org.cvr);
    HTML(h, ")</p><div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\">"
            "<caption>Brugere</caption><thead><tr><th scope=\"col\">Brugernavn</th>"
            "<th scope=\"col\">Navn</th><th scope=\"col\">Roller</th>"
            "<th scope=\"col\">Adgangskode valgt</th>");
    if (is_admin(cx))
        HTML(h, "<th scope=\"col\">Skift rolle</th>");
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
        html_textc(h, u->has_password ? "Ja" : "Nej");
        HTML(h, "</td>");
        if (is_admin(cx)) {
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
                    "name=\"handling\" value=\"fjern\">Fjern</button></form></td>");
        }
        HTML(h, "</tr>");
    }
    HTML(h, "</tbody></table></div>");
    if (is_admin(cx)) {
        static const struct form empty = {0};
        const struct form *k = kept ? kept : &empty;
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

static int h_org(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    org_page(&cx, NULL, NULL);
    int rc = web_reply_page(&cx, 200);
    web_end(&cx);
    return rc;
}

/* The page that shows a one-time secret, once. */
static void secret_page(struct web_ctx *cx, const char *title, const char *intro,
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
    HTML(h, " (UTC)</dd></dl><p>Brugeren vælger sin adgangskode på <a href=\"/opsaetning\">"
            "siden for førstegangsopsætning</a>.</p><p><a href=\"");
    html_attrc(h, back);
    HTML(h, "\">");
    html_textc(h, back_label);
    HTML(h, "</a></p>");
    page_end(cx);
}

static int h_user_add(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    struct form_errors fe = {0};
    str_t username = form_get(&cx.form, "username");
    unsigned roles = 0;
    for (size_t i = 0; i < cx.form.n; i++)
        if (str_eq_cstr(cx.form.names[i], "roles")) {
            unsigned r;
            if (identity_role_parse(cx.form.values[i], &r) == 0)
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
        rc = identity_user_create(w->deps.identity, &cx.actor, str_from_cstr(cx.org.id), username,
                                  form_get(&cx.form, "display_name"), roles, &u, &s, &e);
        if (rc == 0) {
            secret_page(&cx, "Brugeren er oprettet", "Brugeren er oprettet.", &s, "/organisation",
                        "Tilbage til brugere og roller");
            secret_wipe(&s, sizeof s);
            rc = web_reply_page(&cx, 200);
            web_end(&cx);
            return rc;
        }
        form_error(&fe, strcmp(e.param, "username") == 0 ? "username" : "", refusal(rc, &e));
    }
    org_page(&cx, &fe, &cx.form);
    rc = web_reply_page(&cx, rc == DUPLA_EFORBIDDEN ? 403 : 400);
    web_end(&cx);
    return rc;
}

static int h_role(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    unsigned role;
    str_t action = form_get(&cx.form, "handling");
    err_t e;
    err_clear(&e);
    int rc;
    if (identity_role_parse(form_get(&cx.form, "rolle"), &role) != 0)
        rc = err_param(&e, DUPLA_EINVAL, "rolle", "Vælg en rolle.");
    else if (str_eq_cstr(action, "tildel"))
        rc = identity_role_grant(w->deps.identity, &cx.actor, form_get(&cx.form, "user"), role, &e);
    else if (str_eq_cstr(action, "fjern"))
        rc =
            identity_role_revoke(w->deps.identity, &cx.actor, form_get(&cx.form, "user"), role, &e);
    else
        rc = err_param(&e, DUPLA_EINVAL, "handling", "Vælg tildel eller fjern.");
    if (rc == 0) {
        web_end(&cx);
        return web_redirect(req, "/organisation?ok=rolle");
    }
    struct form_errors fe = {0};
    form_error(&fe, "", refusal(rc, &e));
    org_page(&cx, &fe, NULL);
    rc = web_reply_page(&cx, rc == DUPLA_EFORBIDDEN ? 403 : 400);
    web_end(&cx);
    return rc;
}

/* ---- systems ---- */

struct certs {
    html_t *h;
    struct web_ctx *cx;
    size_t n;
};
static int show_cert(const struct identity_cert *c, void *ctx)
{
    struct certs *l = ctx;
    html_t *h = l->h;
    char from[32], to[32];
    web_time(c->not_before_ms, from);
    web_time(c->not_after_ms, to);
    HTML(h, "<tr><td>");
    html_textc(h, c->subject);
    HTML(h, "</td><td class=\"fingerprint\">");
    html_textc(h, c->sha256_hex);
    HTML(h, "</td><td>");
    html_textc(h, from);
    HTML(h, " til ");
    html_textc(h, to);
    HTML(h, "</td><td>");
    html_textc(h, c->status == CERT_ACTIVE ? "Aktiv" : "Spærret");
    HTML(h, "</td><td>");
    if (c->status == CERT_ACTIVE && is_admin(l->cx)) {
        HTML(h, "<form method=\"post\" action=\"/systemer/certifikat/spaer\">");
        form_csrf(l->cx);
        HTML(h, "<input type=\"hidden\" name=\"sha256\" value=\"");
        html_attrc(h, c->sha256_hex);
        HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\">Spær "
                "certifikat</button></form>");
    }
    HTML(h, "</td></tr>");
    l->n++;
    return 0;
}

static void systems_page(struct web_ctx *cx, const struct form_errors *fe, const struct form *kept)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    static const struct form empty = {0};
    const struct form *k = kept ? kept : &empty;
    struct systems sys = {
        0, arena_alloc(http_req_arena(cx->req), WEB_SYSTEMS_MAX * sizeof(struct identity_system))};
    err_t err;
    err_clear(&err);
    if (sys.v)
        identity_system_list(w->deps.identity, str_from_cstr(cx->org.id), collect_system, &sys,
                             &err);
    page_begin(cx, "Systemer");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "registreret"))
        page_notice(cx, "success", "Systemet er registreret.");
    else if (str_eq_cstr(ok, "spaerret"))
        page_notice(cx, "success", "Spærringen er gennemført.");
    else if (str_eq_cstr(ok, "certifikat"))
        page_notice(cx, "success", "Certifikatet er tilføjet.");
    page_error_summary(cx, fe);
    if (sys.n == 0)
        HTML(h, "<p>Organisationen har ingen systemer endnu.</p>");
    for (size_t i = 0; i < sys.n; i++) {
        const struct identity_system *s = &sys.v[i];
        HTML(h, "<h2>");
        html_textc(h, s->name);
        HTML(h, "</h2><p>Status: ");
        html_textc(h, s->status == SYSTEM_ACTIVE      ? "Aktiv"
                      : s->status == SYSTEM_SUSPENDED ? "Suspenderet"
                                                      : "Spærret");
        HTML(h, ". System-id: ");
        html_textc(h, s->id);
        HTML(h, "</p><div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
                "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>"
                "Certifikater for ");
        html_textc(h, s->name);
        HTML(h, "</caption><thead><tr><th scope=\"col\">Subjekt</th><th scope=\"col\">"
                "Fingeraftryk (SHA-256)</th><th scope=\"col\">Gyldighed</th><th scope=\"col\">"
                "Status</th><th scope=\"col\">Handling</th></tr></thead><tbody>");
        struct certs c = {h, cx, 0};
        identity_cert_list(w->deps.identity, str_from_cstr(s->id), show_cert, &c, &err);
        HTML(h, "</tbody></table></div>");
        if (is_admin(cx) && s->status != SYSTEM_REVOKED) {
            HTML(h, "<form method=\"post\" action=\"/systemer/certifikat\">");
            form_csrf(cx);
            HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
            html_attrc(h, s->id);
            HTML(h, "\"><div class=\"form-group\"><label class=\"form-label\" for=\"pem-");
            html_int(h, (int64_t)i);
            HTML(h, "\">Nyt certifikat til ");
            html_textc(h, s->name);
            HTML(h, " (PEM, ved fornyelse)</label><textarea class=\"form-input\" rows=\"4\" "
                    "name=\"certificate\" id=\"pem-");
            html_int(h, (int64_t)i);
            HTML(h, "\"></textarea></div><button class=\"button button-secondary\" "
                    "type=\"submit\">Tilføj certifikat</button></form>"
                    "<form method=\"post\" action=\"/systemer/spaer\">");
            form_csrf(cx);
            HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
            html_attrc(h, s->id);
            HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\">Spær "
                    "systemet</button></form>");
        }
    }
    if (is_admin(cx)) {
        HTML(h, "<h2>Registrér et system</h2><form method=\"post\" action=\"/systemer\" "
                "novalidate>");
        form_csrf(cx);
        form_input(cx, fe, "name", "Systemets navn", "text", form_get(k, "name"), NULL);
        form_textarea(cx, fe, "certificate", "Certifikat (PEM)", form_get(k, "certificate"),
                      "Indsæt systemets OCES-certifikat, fra -----BEGIN CERTIFICATE----- til "
                      "-----END CERTIFICATE-----");
        HTML(h, "<button class=\"button button-primary\" type=\"submit\">Registrér system"
                "</button></form>");
    }
    page_end(cx);
}

static int h_systems(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    struct form_errors fe = {0};
    int rc = 0;
    if (http_req_method(req) == HTTP_POST) {
        str_t path = http_req_path(req);
        err_t e;
        err_clear(&e);
        const char *ok = NULL;
        if (str_eq_cstr(path, "/systemer")) {
            str_t name = form_get(&cx.form, "name");
            str_t pem = form_get(&cx.form, "certificate");
            struct pki_cert_info info;
            if (name.len == 0)
                form_error(&fe, "name", "Skriv systemets navn.");
            if (pem.len == 0)
                form_error(&fe, "certificate", "Indsæt systemets certifikat.");
            else if (pki_cert_info_from_pem(pem, &info, &e) != 0)
                form_error(&fe, "certificate",
                           "Certifikatet kunne ikke læses. Indsæt det i "
                           "PEM-format.");
            if (fe.n == 0) {
                struct identity_system s;
                rc = identity_system_register(w->deps.identity, &cx.actor, str_from_cstr(cx.org.id),
                                              name, SYSTEM_RECIPIENT, &info, &s, &e);
                if (rc == 0)
                    ok = "/systemer?ok=registreret";
                else
                    form_error(&fe, strcmp(e.param, "name") == 0 ? "name" : "certificate",
                               refusal(rc, &e));
            }
        } else if (str_eq_cstr(path, "/systemer/certifikat")) {
            struct pki_cert_info info;
            struct identity_cert c;
            if (pki_cert_info_from_pem(form_get(&cx.form, "certificate"), &info, &e) != 0)
                form_error(&fe, "", "Certifikatet kunne ikke læses. Indsæt det i PEM-format.");
            else if ((rc = identity_cert_add(w->deps.identity, &cx.actor,
                                             form_get(&cx.form, "system"), &info, &c, &e)) != 0)
                form_error(&fe, "", refusal(rc, &e));
            else
                ok = "/systemer?ok=certifikat";
        } else if (str_eq_cstr(path, "/systemer/spaer")) {
            rc = identity_system_set_status(w->deps.identity, &cx.actor,
                                            form_get(&cx.form, "system"), SYSTEM_REVOKED, &e);
            if (rc == 0)
                ok = "/systemer?ok=spaerret";
            else
                form_error(&fe, "", refusal(rc, &e));
        } else {
            rc =
                identity_cert_revoke(w->deps.identity, &cx.actor, form_get(&cx.form, "sha256"), &e);
            if (rc == 0)
                ok = "/systemer?ok=spaerret";
            else
                form_error(&fe, "", refusal(rc, &e));
        }
        if (ok) {
            web_end(&cx);
            return web_redirect(req, ok);
        }
    }
    systems_page(&cx, &fe, http_req_method(req) == HTTP_POST ? &cx.form : NULL);
    rc = web_reply_page(&cx, fe.n ? (rc == DUPLA_EFORBIDDEN ? 403 : 400) : 200);
    web_end(&cx);
    return rc;
}

/* ---- onboarding (data owner) ---- */

static void orgs_page(struct web_ctx *cx, const struct form_errors *fe, const struct form *kept)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    static const struct form empty = {0};
    const struct form *k = kept ? kept : &empty;
    struct orgs orgs = {
        0, arena_alloc(http_req_arena(cx->req), WEB_ORGS_MAX * sizeof(struct identity_org))};
    err_t err;
    err_clear(&err);
    if (orgs.v)
        identity_org_list(w->deps.identity, collect_org, &orgs, &err);
    page_begin(cx, "Organisationer");
    page_error_summary(cx, fe);
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>"
            "Tilsluttede organisationer</caption><thead><tr><th scope=\"col\">Navn</th>"
            "<th scope=\"col\">CVR</th><th scope=\"col\">Kontakt</th><th scope=\"col\">Status"
            "</th></tr></thead><tbody>");
    for (size_t i = 0; i < orgs.n; i++) {
        HTML(h, "<tr><td>");
        html_textc(h, orgs.v[i].name);
        HTML(h, "</td><td>");
        html_textc(h, orgs.v[i].cvr);
        HTML(h, "</td><td>");
        html_textc(h, orgs.v[i].contact_email);
        HTML(h, "</td><td>");
        html_textc(h, orgs.v[i].status == ORG_ACTIVE      ? "Aktiv"
                      : orgs.v[i].status == ORG_SUSPENDED ? "Suspenderet"
                                                          : "Lukket");
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
    if (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING)) {
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

static int h_orgs(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    if (!cx.actor.data_owner) {
        int rc = web_reply_message(&cx, 403, "Ingen adgang",
                                   "Kun Skatteforvaltningens medarbejdere kan se organisationer.");
        web_end(&cx);
        return rc;
    }
    struct form_errors fe = {0};
    int rc = 0;
    if (http_req_method(req) == HTTP_POST) {
        static const char *const required[][2] = {
            {"name", "Skriv organisationens navn."},
            {"cvr", "Skriv organisationens CVR-nummer."},
            {"contact_email", "Skriv organisationens kontaktpostkasse."},
            {"admin_username", "Skriv administratorens e-mailadresse."},
        };
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (form_get(&cx.form, required[i][0]).len == 0)
                form_error(&fe, required[i][0], required[i][1]);
        if (fe.n == 0) {
            struct identity_org_new in = {.name = form_get(&cx.form, "name"),
                                          .cvr = form_get(&cx.form, "cvr"),
                                          .contact_email = form_get(&cx.form, "contact_email"),
                                          .admin_username = form_get(&cx.form, "admin_username"),
                                          .admin_name = form_get(&cx.form, "admin_name")};
            struct identity_org o;
            struct identity_setup_secret s;
            err_t e;
            err_clear(&e);
            rc = identity_org_create(w->deps.identity, &cx.actor, &in, &o, &s, &e);
            if (rc == 0) {
                secret_page(&cx, "Organisationen er tilsluttet",
                            "Organisationen og dens administrator er oprettet.", &s,
                            "/organisationer", "Tilbage til organisationer");
                secret_wipe(&s, sizeof s);
                rc = web_reply_page(&cx, 200);
                web_end(&cx);
                return rc;
            }
            const char *field = "";
            static const char *const fields[] = {"name", "cvr", "contact_email", "admin_username",
                                                 "admin_name"};
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (strcmp(e.param, fields[i]) == 0)
                    field = fields[i];
            if (rc == DUPLA_EINVAL && strcmp(field, "cvr") == 0)
                form_error(&fe, field, "CVR-nummeret er ikke gyldigt.");
            else if (rc == DUPLA_ECONFLICT)
                form_error(&fe, "cvr", "Organisationen er allerede tilsluttet.");
            else
                form_error(&fe, field, refusal(rc, &e));
        }
    }
    orgs_page(&cx, &fe, http_req_method(req) == HTTP_POST ? &cx.form : NULL);
    rc = web_reply_page(&cx, fe.n ? (rc == DUPLA_EFORBIDDEN ? 403 : 400) : 200);
    web_end(&cx);
    return rc;
}

int pages_org_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct {
        unsigned methods;
        const char *path;
        http_handler_fn fn;
    } r[] = {
        {HTTP_GET, "/organisation", h_org},
        {HTTP_POST, "/organisation/bruger", h_user_add},
        {HTTP_POST, "/organisation/rolle", h_role},
        {HTTP_GET | HTTP_POST, "/systemer", h_systems},
        {HTTP_POST, "/systemer/certifikat", h_systems},
        {HTTP_POST, "/systemer/spaer", h_systems},
        {HTTP_POST, "/systemer/certifikat/spaer", h_systems},
        {HTTP_GET | HTTP_POST, "/organisationer", h_orgs},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = web_route(srv, r[i].methods, r[i].path, r[i].fn, w, WEB_FORM_MAX_BODY, err);
        if (rc)
            return rc;
    }
    return 0;
}
