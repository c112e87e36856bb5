/*
 * pages_enrol.c: applying to become an agreement party (#21.8).
 *
 *   GET  /tilslutning               the public application form
 *   POST /tilslutning               apply; 303 to /tilslutning?modtaget=1 (the same
 *                                   answer whether or not the CVR number is known)
 *   GET  /tilslutninger             the applications (the data owner), ?alle=1 also decided ones
 *   GET  /tilslutninger/vis?id=     one application, with approve and reject
 *   POST /tilslutninger/beslut      id, handling=godkend|afvis, begrundelse
 *
 * The public form is a page before login: the double-submit form token
 * stands in for the session's CSRF token, and the module throttles per
 * address (a 429 page with Retry-After). Approving creates the organisation
 * and mails the administrator the set-up link and the one-time secret; the
 * secret is never shown on a page here.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "enrol/enrol.h"
#include "web/internal.h"

#define WEB_ENROL_MAX_BODY 4096 /* the application form, before login */
#define WEB_ENROL_ROWS_MAX 500  /* applications in the list */

static const char *const fields[] = {"name",       "cvr",         "contact_email",
                                     "admin_name", "admin_email", "environments"};

static void env_checkbox(struct web_ctx *cx, const char *value, const char *label, bool checked)
{
    html_t *h = &cx->h;
    HTML(h, "<div class=\"form-group-checkbox\"><input class=\"form-checkbox\" type=\"checkbox\" "
            "name=\"environments\" id=\"environments-");
    html_attrc(h, value);
    HTML(h, "\" value=\"");
    html_attrc(h, value);
    HTML(h, "\"");
    if (checked)
        HTML(h, " checked");
    HTML(h, "><label for=\"environments-");
    html_attrc(h, value);
    HTML(h, "\">");
    html_textc(h, label);
    HTML(h, "</label></div>");
}

static bool form_has(const struct http_form *f, const char *name, const char *value)
{
    for (size_t i = 0; i < f->n; i++)
        if (str_eq_cstr(f->names[i], name) && str_eq_cstr(f->values[i], value))
            return true;
    return false;
}

static void apply_form(struct web_ctx *cx, const struct form_errors *fe, bool post)
{
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    const struct http_form *k = post ? &cx->form : &empty;
    char token[IDENTITY_CSRF_TEXT];
    web_form_token(cx, token);
    page_begin(cx, "Ansøg om tilslutning");
    if (str_eq_cstr(web_query(cx->req, "modtaget"), "1")) {
        page_notice(cx, "success",
                    "Tak. Ansøgningen er modtaget. Skatteforvaltningen behandler den og skriver "
                    "til administratoren, når den er afgjort.");
    }
    page_error_summary(cx, fe);
    HTML(h, "<p>Her ansøger en organisation om at blive aftalepart, så den kan indgå "
            "dataudvekslingsaftaler og hente data. Når Skatteforvaltningen har godkendt "
            "ansøgningen, får administratoren en mail med et link til at vælge sin "
            "adgangskode.</p><form method=\"post\" action=\"/tilslutning\" novalidate>"
            "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_attrc(h, token);
    HTML(h, "\">");
    form_input(cx, fe, "name", "Organisationens navn", "text", form_get(k, "name"), NULL);
    form_input(cx, fe, "cvr", "CVR-nummer", "text", form_get(k, "cvr"), "8 cifre");
    form_input(cx, fe, "contact_email", "Kontaktpostkasse", "email", form_get(k, "contact_email"),
               "Organisationens fælles postkasse: hertil sendes besked om aftaler");
    form_input(cx, fe, "admin_name", "Administratorens navn", "text", form_get(k, "admin_name"),
               NULL);
    form_input(cx, fe, "admin_email", "Administratorens e-mailadresse", "email",
               form_get(k, "admin_email"), "Bliver administratorens brugernavn");
    const char *msg = form_error_for(fe, "environments");
    HTML(h, "<div class=\"form-group");
    if (msg)
        HTML(h, " form-error");
    HTML(h, "\"><fieldset id=\"environments\"");
    if (msg)
        HTML(h, " aria-describedby=\"environments-error\"");
    HTML(h, "><legend class=\"form-label\">Miljøer</legend>");
    if (msg) {
        HTML(h, "<span class=\"form-error-message\" id=\"environments-error\"><span "
                "class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</span>");
    }
    env_checkbox(cx, "test", "Testmiljøet (syntetiske data)", form_has(k, "environments", "test"));
    env_checkbox(cx, "production", "Produktion", form_has(k, "environments", "production"));
    HTML(h, "</fieldset></div><button class=\"button button-primary\" type=\"submit\">Send "
            "ansøgning</button></form>");
    page_end(cx);
}

static const char *refusal(const err_t *e)
{
    if (strcmp(e->param, "cvr") == 0)
        return "Skriv et gyldigt CVR-nummer: 8 cifre, der passer med kontrolcifferet.";
    if (strcmp(e->param, "contact_email") == 0 || strcmp(e->param, "admin_email") == 0)
        return "Skriv en gyldig e-mailadresse.";
    if (strcmp(e->param, "environments") == 0)
        return "Vælg testmiljøet, produktion eller begge.";
    if (strcmp(e->param, "name") == 0)
        return "Skriv organisationens navn (højst 200 tegn).";
    if (strcmp(e->param, "admin_name") == 0)
        return "Skriv administratorens navn (højst 200 tegn).";
    return "Ansøgningen kunne ikke modtages. Prøv igen senere.";
}

static int h_apply(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    bool post = http_req_method(cx->req) == HTTP_POST;
    unsigned status = 200;
    if (post) {
        static const char *const required[][2] = {
            {"name", "Skriv organisationens navn."},
            {"cvr", "Skriv organisationens CVR-nummer."},
            {"contact_email", "Skriv organisationens kontaktpostkasse."},
            {"admin_name", "Skriv administratorens navn."},
            {"admin_email", "Skriv administratorens e-mailadresse."},
        };
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (form_get(&cx->form, required[i][0]).len == 0)
                form_error(&fe, required[i][0], required[i][1]);
        unsigned envs = 0;
        if (form_has(&cx->form, "environments", "test"))
            envs |= ORG_ENV_TEST;
        if (form_has(&cx->form, "environments", "production"))
            envs |= ORG_ENV_PRODUCTION;
        if (envs == 0)
            form_error(&fe, "environments", "Vælg testmiljøet, produktion eller begge.");
        if (fe.n == 0) {
            struct enrol_new in = {.name = form_get(&cx->form, "name"),
                                   .cvr = form_get(&cx->form, "cvr"),
                                   .contact_email = form_get(&cx->form, "contact_email"),
                                   .admin_name = form_get(&cx->form, "admin_name"),
                                   .admin_email = form_get(&cx->form, "admin_email"),
                                   .environments = envs};
            err_t e;
            err_clear(&e);
            long retry = 0;
            int rc = enrol_submit(w->deps.enrol, &in, http_req_peer(cx->req), &retry, NULL, &e);
            if (rc == 0)
                return web_redirect(cx->req, "/tilslutning?modtaget=1");
            if (rc == DUPLA_ERATE) {
                char ra[24];
                snprintf(ra, sizeof ra, "%ld", retry);
                http_reply_header(cx->req, "Retry-After", ra);
                return web_reply_message(cx, 429, "For mange ansøgninger",
                                         "Der er sendt for mange ansøgninger herfra. Prøv igen "
                                         "senere.");
            }
            if (rc != DUPLA_EINVAL)
                log_warn("web: application: %s", e.log);
            const char *field = "";
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (strcmp(e.param, fields[i]) == 0)
                    field = fields[i];
            form_error(&fe, field, refusal(&e));
            status = rc == DUPLA_EINVAL ? 400 : 500;
        } else {
            status = 400;
        }
    }
    apply_form(cx, &fe, post);
    return web_reply_page(cx, status);
}

/* ---- the data owner's side ---- */

static bool staff(const struct web_ctx *cx)
{
    return cx->actor.data_owner && (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) ||
                                    identity_actor_has(&cx->actor, ROLE_OPERATOR));
}

static const char *status_label(enum enrol_status s)
{
    return s == ENROL_APPROVED ? "Godkendt" : s == ENROL_REJECTED ? "Afvist" : "Venter";
}

static const char *envs_label(unsigned envs)
{
    if ((envs & ORG_ENV_TEST) && (envs & ORG_ENV_PRODUCTION))
        return "Test og produktion";
    return envs & ORG_ENV_PRODUCTION ? "Produktion" : "Test";
}

struct rows {
    size_t n;
    struct enrol_application *v;
};

static int collect(const struct enrol_application *a, void *ctx)
{
    struct rows *r = ctx;
    if (r->n >= WEB_ENROL_ROWS_MAX)
        return 1;
    r->v[r->n++] = *a;
    return 0;
}

static int h_list(struct web_ctx *cx, err_t *err)
{
    (void)err;
    if (!staff(cx))
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun Skatteforvaltningens medarbejdere kan se ansøgninger om "
                                 "tilslutning.");
    bool all = str_eq_cstr(web_query(cx->req, "alle"), "1");
    struct rows r = {0, arena_alloc(http_req_arena(cx->req),
                                    WEB_ENROL_ROWS_MAX * sizeof(struct enrol_application))};
    err_t e;
    err_clear(&e);
    int rc = r.v ? enrol_list(cx->w->deps.enrol, &cx->actor, !all, collect, &r, &e) : DUPLA_ENOMEM;
    html_t *h = &cx->h;
    page_begin(cx, "Ansøgninger om tilslutning");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "godkendt"))
        page_notice(cx, "success",
                    "Ansøgningen er godkendt. Organisationen er oprettet, og administratoren får "
                    "en mail med et link til at vælge sin adgangskode.");
    else if (str_eq_cstr(ok, "afvist"))
        page_notice(cx, "success", "Ansøgningen er afvist. Ansøgeren får begrundelsen på mail.");
    if (rc) {
        log_warn("web: applications: %s", e.log);
        page_notice(cx, "warning", "Ansøgningerne kunne ikke hentes lige nu.");
        page_end(cx);
        return web_reply_page(cx, 200);
    }
    HTML(h, "<p>");
    if (all)
        HTML(h, "<a href=\"/tilslutninger\">Vis kun ventende ansøgninger</a>");
    else
        HTML(h, "<a href=\"/tilslutninger?alle=1\">Vis også afgjorte ansøgninger</a>");
    HTML(h, "</p>");
    if (r.n == 0) {
        HTML(h, "<p>Der er ingen ansøgninger.</p>");
        page_end(cx);
        return web_reply_page(cx, 200);
    }
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>Ansøgninger"
            "</caption><thead><tr><th scope=\"col\">Organisation</th><th scope=\"col\">CVR</th>"
            "<th scope=\"col\">Miljøer</th><th scope=\"col\">Modtaget</th>"
            "<th scope=\"col\">Status</th></tr></thead><tbody>");
    for (size_t i = 0; i < r.n; i++) {
        const struct enrol_application *a = &r.v[i];
        char t[32];
        web_time(a->created_ms, t);
        HTML(h, "<tr><td><a href=\"/tilslutninger/vis?id=");
        html_urlc(h, a->id);
        HTML(h, "\">");
        html_textc(h, a->name);
        HTML(h, "</a></td><td>");
        html_textc(h, a->cvr);
        HTML(h, "</td><td>");
        html_textc(h, envs_label(a->environments));
        HTML(h, "</td><td>");
        html_textc(h, t);
        HTML(h, "</td><td>");
        html_textc(h, status_label(a->status));
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
    page_end(cx);
    return web_reply_page(cx, 200);
}

/* One application; the decision forms while it waits. */
static int show(struct web_ctx *cx, str_t id, const struct form_errors *fe, unsigned status)
{
    web_t *w = cx->w;
    struct enrol_application a;
    err_t e;
    err_clear(&e);
    if (enrol_get(w->deps.enrol, &cx->actor, id, &a, &e) != 0)
        return web_reply_message(cx, 404, "Ansøgningen findes ikke",
                                 "Der er ingen ansøgning med det id.");
    html_t *h = &cx->h;
    char t[32];
    page_begin(cx, "Ansøgning om tilslutning");
    page_error_summary(cx, fe);
    struct identity_org known;
    err_t ke;
    err_clear(&ke);
    if (a.status == ENROL_PENDING &&
        identity_org_get(w->deps.identity, str_from_cstr(a.cvr), &known, &ke) == 0)
        page_notice(cx, "warning",
                    "En organisation med dette CVR-nummer er allerede tilsluttet. Ansøgningen "
                    "kan ikke godkendes; afvis den med en begrundelse.");
    HTML(h, "<dl><dt>Organisation</dt><dd>");
    html_textc(h, a.name);
    HTML(h, "</dd><dt>CVR-nummer</dt><dd>");
    html_textc(h, a.cvr);
    HTML(h, "</dd><dt>Kontaktpostkasse</dt><dd>");
    html_textc(h, a.contact_email);
    HTML(h, "</dd><dt>Administrator</dt><dd>");
    html_textc(h, a.admin_name);
    HTML(h, " (");
    html_textc(h, a.admin_email);
    HTML(h, ")</dd><dt>Miljøer</dt><dd>");
    html_textc(h, envs_label(a.environments));
    HTML(h, "</dd><dt>Modtaget</dt><dd>");
    web_time(a.created_ms, t);
    html_textc(h, t);
    HTML(h, "</dd><dt>Status</dt><dd>");
    html_textc(h, status_label(a.status));
    HTML(h, "</dd>");
    if (a.status != ENROL_PENDING) {
        web_time(a.decided_ms, t);
        HTML(h, "<dt>Afgjort</dt><dd>");
        html_textc(h, t);
        HTML(h, " af ");
        html_textc(h, a.decided_by);
        HTML(h, "</dd>");
        if (a.reason[0]) {
            HTML(h, "<dt>Begrundelse</dt><dd>");
            html_textc(h, a.reason);
            HTML(h, "</dd>");
        }
    }
    HTML(h, "</dl>");
    if (a.status == ENROL_PENDING && identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING)) {
        HTML(h, "<h2>Godkend</h2><p>Organisationen og dens administrator oprettes, og "
                "administratoren får en mail med et link til at vælge sin adgangskode.</p>"
                "<form method=\"post\" action=\"/tilslutninger/beslut\">");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attrc(h, a.id);
        HTML(h, "\"><button class=\"button button-primary\" type=\"submit\" name=\"handling\" "
                "value=\"godkend\">Godkend ansøgningen</button></form>"
                "<h2>Afvis</h2><form method=\"post\" action=\"/tilslutninger/beslut\" "
                "novalidate>");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attrc(h, a.id);
        HTML(h, "\">");
        form_textarea(cx, fe, "begrundelse", "Begrundelse",
                      http_req_method(cx->req) == HTTP_POST ? form_get(&cx->form, "begrundelse")
                                                            : STR(""),
                      "Sendes til administratoren og kontaktpostkassen");
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"afvis\">Afvis ansøgningen</button></form>");
    }
    HTML(h, "<p><a href=\"/tilslutninger\">Tilbage til ansøgningerne</a></p>");
    page_end(cx);
    return web_reply_page(cx, status);
}

static int h_show(struct web_ctx *cx, err_t *err)
{
    (void)err;
    if (!staff(cx))
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun Skatteforvaltningens medarbejdere kan se ansøgninger om "
                                 "tilslutning.");
    return show(cx, web_query(cx->req, "id"), NULL, 200);
}

static int h_decide(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    if (!cx->actor.data_owner || !identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING))
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun Skatteforvaltningens dataforvaltning kan afgøre "
                                 "ansøgninger om tilslutning.");
    str_t id = form_get(&cx->form, "id");
    str_t action = form_get(&cx->form, "handling");
    str_t reason = form_get(&cx->form, "begrundelse");
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc;
    if (str_eq_cstr(action, "godkend")) {
        rc = enrol_approve(w->deps.enrol, &cx->actor, id, NULL, &e);
        if (rc == 0)
            return web_redirect(cx->req, "/tilslutninger?ok=godkendt");
    } else if (str_eq_cstr(action, "afvis")) {
        if (reason.len == 0) {
            form_error(&fe, "begrundelse", "Skriv en begrundelse for afvisningen.");
            return show(cx, id, &fe, 400);
        }
        rc = enrol_reject(w->deps.enrol, &cx->actor, id, reason, NULL, &e);
        if (rc == 0)
            return web_redirect(cx->req, "/tilslutninger?ok=afvist");
    } else {
        form_error(&fe, "", "Vælg at godkende eller afvise ansøgningen.");
        return show(cx, id, &fe, 400);
    }
    if (rc == DUPLA_ENOTFOUND)
        return web_reply_message(cx, 404, "Ansøgningen findes ikke",
                                 "Der er ingen ansøgning med det id.");
    if (err_is(&e, PROBLEM_ENROL_DECIDED))
        form_error(&fe, "", "Ansøgningen er allerede afgjort.");
    else if (err_is(&e, PROBLEM_ORG_EXISTS))
        form_error(&fe, "", "En organisation med dette CVR-nummer er allerede tilsluttet.");
    else if (err_is(&e, PROBLEM_USERNAME_TAKEN))
        form_error(&fe, "",
                   "Administratorens e-mailadresse er allerede brugernavn for en anden bruger.");
    else if (strcmp(e.param, "reason") == 0)
        form_error(&fe, "begrundelse", "Begrundelsen er for lang (højst 2000 tegn).");
    else {
        log_warn("web: application decision: %s", e.log);
        form_error(&fe, "", pages_org_refusal(rc, &e));
    }
    return show(cx, id, &fe, web_refusal_status(rc) == 400 ? 409 : web_refusal_status(rc));
}

/* See internal.h. */
void pages_enrol_queue_note(struct web_ctx *cx)
{
    if (!cx->w->deps.enrol || !staff(cx))
        return;
    int64_t n = 0;
    err_t e;
    err_clear(&e);
    if (enrol_count_pending(cx->w->deps.enrol, &cx->actor, &n, &e) != 0) {
        log_warn("web: applications: %s", e.log);
        return;
    }
    html_t *h = &cx->h;
    HTML(h, "<h2>Ansøgninger om tilslutning</h2><p>");
    if (n == 0)
        HTML(h, "Ingen ansøgninger venter.");
    else {
        html_int(h, n);
        if (n == 1)
            HTML(h, " ansøgning venter.");
        else
            HTML(h, " ansøgninger venter.");
    }
    HTML(h, " <a href=\"/tilslutninger\">Se ansøgningerne om tilslutning</a></p>");
}

static const struct http_param q_apply[] = {
    {"modtaget", HTTP_PARAM_ENUM, .values = (const char *const[]){"1", NULL}}, {0}};
static const struct http_param q_list[] = {
    {"alle", HTTP_PARAM_ENUM, .values = (const char *const[]){"1", NULL}},
    {"ok", HTTP_PARAM_ENUM, .values = (const char *const[]){"godkendt", "afvist", NULL}},
    {0}};
static const struct http_param q_id[] = {{"id", HTTP_PARAM_STRING, .max = 64}, {0}};

int pages_enrol_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET | HTTP_POST, "/tilslutning", NULL, WEB_ENROL_MAX_BODY, h_apply, WEB_BEGIN_PUBLIC,
         q_apply},
        {HTTP_GET, "/tilslutninger", NULL, 0, h_list, .query = q_list},
        {HTTP_GET, "/tilslutninger/vis", NULL, 0, h_show, .query = q_id},
        {HTTP_POST, "/tilslutninger/beslut", NULL, 0, h_decide, .query = http_params_none},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
