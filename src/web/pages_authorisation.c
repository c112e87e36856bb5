/*
 * pages_authorisation.c: a company's authorisations of third parties to
 * fetch its own data (#21.4; identity.h, "authorisations").
 *
 *   GET  /fuldmagter                 the authorisations the organisation gave
 *                                    (as the company) and received (as the third
 *                                    party), their state, and their history; for the
 *                                    company's administrator the form to grant one
 *   POST /fuldmagter                 grant: se, grantee (the third party's CVR),
 *                                    grantee_system (its system's name, or empty: any
 *                                    of its systems), services (one or more), until
 *                                    (yyyy-mm-dd, through that whole day, UTC)
 *   GET  /fuldmagter/tilbagekald     ?authorisation=: the second step before revoking
 *   POST /fuldmagter/tilbagekald     revoke: authorisation (from the next call on)
 *
 * The rules are identity's (authorisation.c: the company's administrator
 * grants and revokes; the platform's operator may revoke): the page checks
 * what it can say precisely in Danish first, hides what the user may not
 * do, and maps the module's refusals to Danish by code and field.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "core/log.h"
#include "web/internal.h"

#define WEB_AUTH_ROWS_MAX    200 /* authorisations listed */
#define WEB_AUTH_HISTORY_MAX 200 /* history entries read (then the authorisations' shown) */

struct auth_rows {
    size_t n;
    struct identity_authorisation *v;
};

static int collect(const struct identity_authorisation *a, void *ctx)
{
    struct auth_rows *l = ctx;
    if (l->n >= WEB_AUTH_ROWS_MAX)
        return 1;
    l->v[l->n++] = *a;
    return 0;
}

/* The organisation's authorisations, given and received, newest first
 * (arena memory; empty on failure, logged). */
static struct auth_rows own_rows(struct web_ctx *cx)
{
    struct auth_rows l = {0,
                          arena_alloc(http_req_arena(cx->req),
                                      WEB_AUTH_ROWS_MAX * sizeof(struct identity_authorisation))};
    err_t err;
    err_clear(&err);
    if (l.v && identity_authorisation_list(cx->w->deps.identity, str_from_cstr(cx->org.id), collect,
                                           &l, &err) != 0) {
        log_warn("web: authorisations of %s: %s", cx->org.id, err.log);
        l.n = 0;
    }
    return l;
}

static const char *state_label(const struct identity_authorisation *a, int64_t now)
{
    return a->status == AUTHORISATION_REVOKED ? "Tilbagekaldt"
           : now >= a->until_ms               ? "Udløbet"
                                              : "Gyldig";
}

/* The last day (yyyy-mm-dd) of an authorisation valid before until_ms. */
static void last_day(int64_t until_ms, char out[16])
{
    clock_format_date((int32_t)((until_ms - 1) / 86400000LL), out, 16);
}

/* The services of a (a JSON array text), comma-separated. */
static void services_text(html_t *h, const char *services)
{
    json_t *arr = json_loads(services, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            HTML(h, ", ");
        html_textc(h, json_string_value(v));
    }
    json_decref(arr);
}

/* A refusal from identity, in Danish, by code and field (never the
 * module's English text). */
static const char *refusal(int rc, const err_t *e)
{
    const char *p = e->param;
    switch (rc) {
    case DUPLA_EFORBIDDEN:
        return "Du har ikke rettighed til dette: kun virksomhedens administrator kan give og "
               "tilbagekalde dens fuldmagter.";
    case DUPLA_ENOTFOUND:
        return "Fuldmagten findes ikke.";
    case DUPLA_ECONFLICT:
        return err_is(e, PROBLEM_ALREADY_REVOKED) ? "Fuldmagten er allerede tilbagekaldt."
                                                  : "Det kan ikke lade sig gøre lige nu.";
    case DUPLA_EINVAL:
        if (strcmp(p, "se") == 0)
            return "SE-nummeret skal være 8 cifre.";
        if (strcmp(p, "grantee") == 0)
            return "Tredjeparten er ikke tilsluttet platformen, eller den er virksomheden selv "
                   "eller dataejeren. Skriv tredjepartens CVR-nummer.";
        if (strcmp(p, "grantee_system") == 0)
            return "Tredjeparten har intet aktivt aftagersystem med det navn.";
        if (strcmp(p, "services") == 0)
            return "Vælg mindst én tjeneste.";
        if (strcmp(p, "until") == 0)
            return "Sidste dag skal være en dag i fremtiden (åååå-mm-dd).";
        return "Oplysningerne er ikke gyldige.";
    default:
        return "Det lykkedes ikke. Prøv igen senere.";
    }
}

static bool kept_service(const struct http_form *f, const char *path)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (str_eq_cstr(f->names[i], "services") && str_eq_cstr(f->values[i], path))
            return true;
    return false;
}

/* The services to choose from: the catalogue's, as checkboxes in a
 * fieldset whose first box carries the id the error summary links to. */
static void services_boxes(struct web_ctx *cx, const struct form_errors *fe,
                           const struct http_form *k)
{
    html_t *h = &cx->h;
    const char *msg = form_error_for(fe, "services");
    HTML(h, "<div class=\"form-group");
    if (msg)
        HTML(h, " form-error");
    HTML(h, "\"><fieldset aria-describedby=\"services-hint");
    if (msg)
        HTML(h, " services-error");
    HTML(h, "\"><legend class=\"form-label\">Tjenester</legend><span class=\"form-hint\" "
            "id=\"services-hint\">Tredjeparten kan kun hente virksomhedens data fra de valgte "
            "tjenester.</span>");
    if (msg) {
        HTML(h, "<span class=\"form-error-message\" id=\"services-error\"><span "
                "class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</span>");
    }
    const catalog_t *cat = cx->w->deps.catalog;
    for (size_t i = 0; cat && i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        char id[32];
        snprintf(id, sizeof id, i ? "services-%zu" : "services", i);
        HTML(h, "<div class=\"form-group-checkbox\"><input class=\"form-checkbox\" "
                "type=\"checkbox\" name=\"services\" id=\"");
        html_attrc(h, id);
        HTML(h, "\" value=\"");
        html_attrc(h, svc->path);
        HTML(h, "\"");
        if (kept_service(k, svc->path))
            HTML(h, " checked");
        HTML(h, "><label for=\"");
        html_attrc(h, id);
        HTML(h, "\">");
        html_textc(h, svc->title.da);
        HTML(h, " (");
        html_textc(h, svc->path);
        HTML(h, ")</label></div>");
    }
    HTML(h, "</fieldset></div>");
}

/* The third party's system by its name (its id when it cannot be read),
 * or "Alle systemer" for an authorisation of any of them. */
static void system_name(struct web_ctx *cx, const char *system_id)
{
    if (!system_id[0]) {
        html_textc(&cx->h, "Alle systemer");
        return;
    }
    struct identity_system sy;
    err_t e;
    err_clear(&e);
    if (identity_system_get(cx->w->deps.identity, str_from_cstr(system_id), &sy, &e) == 0)
        html_textc(&cx->h, sy.name);
    else
        html_textc(&cx->h, system_id);
}

/* One table of authorisations: given (the third party in a column) or
 * received (the company in a column). */
static void rows_table(struct web_ctx *cx, const struct auth_rows *l, bool given, int64_t now)
{
    html_t *h = &cx->h;
    size_t shown = 0;
    for (size_t i = 0; i < l->n; i++)
        shown += strcmp(given ? l->v[i].company_org_id : l->v[i].grantee_org_id, cx->org.id) == 0;
    if (shown == 0) {
        HTML(h, "<p>");
        html_textc(h, given ? "Organisationen har ikke givet nogen fuldmagter."
                            : "Organisationen har ikke fået nogen fuldmagter.");
        HTML(h, "</p>");
        return;
    }
    const char *caption =
        given ? "Fuldmagter, organisationen har givet" : "Fuldmagter, organisationen har fået";
    bool actions = given && web_is_admin(cx);
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"");
    html_textc(h, caption);
    HTML(h, ", kan rulles\"><table class=\"table\"><caption>");
    html_textc(h, caption);
    HTML(h, "</caption><thead><tr><th scope=\"col\">");
    html_textc(h, given ? "Tredjepart (CVR)" : "Virksomhed (CVR)");
    HTML(h, "</th>");
    HTML(h, "<th scope=\"col\">System</th><th scope=\"col\">SE-nummer</th>"
            "<th scope=\"col\">Tjenester</th><th scope=\"col\">Sidste dag</th>"
            "<th scope=\"col\">Status</th>");
    if (actions)
        HTML(h, "<th scope=\"col\">Handling</th>");
    HTML(h, "</tr></thead><tbody>");
    for (size_t i = 0; i < l->n; i++) {
        const struct identity_authorisation *a = &l->v[i];
        if (strcmp(given ? a->company_org_id : a->grantee_org_id, cx->org.id) != 0)
            continue;
        char day[16];
        last_day(a->until_ms, day);
        HTML(h, "<tr><td>");
        html_textc(h, given ? a->grantee_cvr : a->company_cvr);
        HTML(h, "</td><td>");
        system_name(cx, a->grantee_system_id);
        HTML(h, "</td><td>");
        html_textc(h, a->se);
        HTML(h, "</td><td>");
        services_text(h, a->services);
        HTML(h, "</td><td>");
        html_textc(h, day);
        HTML(h, "</td><td>");
        html_textc(h, state_label(a, now));
        HTML(h, "</td>");
        if (actions) {
            HTML(h, "<td>");
            if (a->status == AUTHORISATION_ACTIVE && now < a->until_ms) {
                HTML(h, "<a href=\"/fuldmagter/tilbagekald?authorisation=");
                html_urlc(h, a->id);
                HTML(h, "\">Tilbagekald<span class=\"sr-only\"> fuldmagten til ");
                html_textc(h, a->grantee_cvr);
                HTML(h, " for SE-nummer ");
                html_textc(h, a->se);
                HTML(h, "</span></a>");
            }
            HTML(h, "</td>");
        }
        HTML(h, "</tr>");
    }
    HTML(h, "</tbody></table></div>");
}

/* The history of the organisation's authorisations (administrators). */
static void history_table(struct web_ctx *cx)
{
    html_t *h = &cx->h;
    json_t *hist = NULL;
    err_t err;
    err_clear(&err);
    if (identity_history_list(cx->w->deps.identity, str_from_cstr(cx->org.id), WEB_AUTH_HISTORY_MAX,
                              &hist, &err) != 0) {
        log_warn("web: history of %s: %s", cx->org.id, err.log);
        page_notice(cx, "warning", "Historikken kunne ikke hentes lige nu.");
        return;
    }
    HTML(h, "<h2>Historik</h2>");
    size_t i, shown = 0;
    json_t *e;
    json_array_foreach(hist, i, e)
    {
        const char *type = json_string_value(json_object_get(e, "object_type"));
        if (!type || strcmp(type, "authorisation") != 0)
            continue;
        if (shown++ == 0)
            HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
                    "aria-label=\"Fuldmagternes historik, kan rulles\"><table class=\"table\">"
                    "<caption>Fuldmagternes historik, nyeste først</caption><thead><tr>"
                    "<th scope=\"col\">Tidspunkt</th><th scope=\"col\">Hændelse</th>"
                    "<th scope=\"col\">Af</th><th scope=\"col\">Virksomhed (CVR)</th>"
                    "<th scope=\"col\">Tredjepart (CVR)</th><th scope=\"col\">SE-nummer</th>"
                    "</tr></thead><tbody>");
        const char *action = json_string_value(json_object_get(e, "action"));
        const json_t *after = json_object_get(e, "after");
        char t[32];
        web_time((int64_t)json_integer_value(json_object_get(e, "at_ms")), t);
        HTML(h, "<tr><td>");
        html_textc(h, t);
        HTML(h, "</td><td>");
        html_textc(h, action && strcmp(action, "authorisation.revoke") == 0 ? "Tilbagekaldt"
                                                                            : "Givet");
        HTML(h, "</td><td>");
        html_textc(h, json_string_value(json_object_get(e, "actor")));
        HTML(h, "</td><td>");
        html_textc(h, json_string_value(json_object_get(json_object_get(after, "company"), "cvr")));
        HTML(h, "</td><td>");
        html_textc(h, json_string_value(json_object_get(json_object_get(after, "grantee"), "cvr")));
        HTML(h, "</td><td>");
        html_textc(h, json_string_value(json_object_get(after, "se")));
        HTML(h, "</td></tr>");
    }
    json_decref(hist);
    if (shown)
        HTML(h, "</tbody></table></div>");
    else
        HTML(h, "<p>Ingen ændringer endnu.</p>");
}

static void auth_page(struct web_ctx *cx, const struct form_errors *fe, const struct http_form *k)
{
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    if (!k)
        k = &empty;
    int64_t now = clock_now_ms();
    struct auth_rows l = own_rows(cx);
    page_begin(cx, "Fuldmagter");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "givet"))
        page_notice(cx, "success", "Fuldmagten er givet.");
    else if (str_eq_cstr(ok, "tilbagekaldt"))
        page_notice(cx, "success",
                    "Fuldmagten er tilbagekaldt: tredjeparten kan ikke hente virksomhedens data "
                    "fra næste kald.");
    page_error_summary(cx, fe);
    HTML(h, "<p>En virksomhed kan give en tredjepart, fx en revisor eller et "
            "regnskabssystem, fuldmagt til at hente virksomhedens egne data for ét SE-nummer, "
            "fra udvalgte tjenester og til og med en dag. Tredjepartens system beder om et "
            "token med <code>onbehalfofse</code>, og hvert kald logges med begge parter.</p>"
            "<h2>Givet</h2>");
    rows_table(cx, &l, true, now);
    HTML(h, "<h2>Modtaget</h2>");
    rows_table(cx, &l, false, now);
    if (web_is_admin(cx)) {
        HTML(h, "<h2>Giv en fuldmagt</h2><form method=\"post\" action=\"/fuldmagter\" "
                "novalidate>");
        form_csrf(cx);
        form_input(cx, fe, "se", "Virksomhedens SE-nummer", "text", form_get(k, "se"),
                   "8 cifre: det SE-nummer, tredjeparten må hente data om");
        form_input(cx, fe, "grantee", "Tredjepartens CVR-nummer", "text", form_get(k, "grantee"),
                   "Tredjeparten skal være tilsluttet platformen");
        form_input(cx, fe, "grantee_system", "Tredjepartens system (valgfrit)", "text",
                   form_get(k, "grantee_system"),
                   "Systemets navn hos tredjeparten; tomt: alle dens systemer");
        services_boxes(cx, fe, k);
        form_input(cx, fe, "until", "Sidste dag", "date", form_get(k, "until"),
                   "Fuldmagten gælder til og med denne dag (åååå-mm-dd)");
        HTML(h, "<button class=\"button button-primary\" type=\"submit\">Giv fuldmagt</button>"
                "</form>");
        history_table(cx);
    }
    page_end(cx);
}

static int h_list(struct web_ctx *cx, err_t *err)
{
    (void)err;
    auth_page(cx, NULL, NULL);
    return web_reply_page(cx, 200);
}

/* POST /fuldmagter: grant. */
static int h_grant(struct web_ctx *cx, err_t *err)
{
    (void)err;
    const struct http_form *f = &cx->form;
    struct form_errors fe = {0};
    str_t se = form_get(f, "se"), grantee = form_get(f, "grantee"),
          system = form_get(f, "grantee_system"), until = form_get(f, "until");
    str_t services[IDENTITY_AUTH_SERVICES_MAX];
    size_t n = 0;
    bool too_many = false;
    for (size_t i = 0; i < f->n; i++)
        if (str_eq_cstr(f->names[i], "services") && f->values[i].len) {
            if (n == IDENTITY_AUTH_SERVICES_MAX)
                too_many = true;
            else
                services[n++] = f->values[i];
        }
    bool se_ok = se.len == SE_LEN;
    for (size_t i = 0; se_ok && i < se.len; i++)
        se_ok = se.ptr[i] >= '0' && se.ptr[i] <= '9';
    if (!se_ok)
        form_error(&fe, "se", "Skriv virksomhedens SE-nummer: 8 cifre.");
    if (!ident_cvr_valid(grantee))
        form_error(&fe, "grantee",
                   "Skriv tredjepartens CVR-nummer: 8 cifre med gyldigt kontrolciffer.");
    else if (str_eq_cstr(grantee, cx->org.cvr))
        form_error(&fe, "grantee", "Tredjeparten er en anden organisation end virksomheden selv.");
    if (n == 0 || too_many)
        form_error(&fe, "services",
                   too_many ? "Vælg højst 32 tjenester."
                            : "Vælg mindst én "
                              "tjeneste.");
    int32_t day = 0;
    if (clock_parse_date(until, &day) != 0)
        form_error(&fe, "until", "Skriv den sidste dag som åååå-mm-dd.");
    else if (((int64_t)day + 1) * 86400000LL <= clock_now_ms())
        form_error(&fe, "until", "Den sidste dag kan ikke ligge før i dag.");
    if (fe.n) {
        auth_page(cx, &fe, f);
        return web_reply_page(cx, 400);
    }
    /* A system's name is looked up among the third party's systems. */
    str_t sys_ref = system;
    if (system.len && !memchr(system.ptr, '/', system.len)) {
        const char *r = arena_printf(http_req_arena(cx->req), "%.*s/%.*s", (int)grantee.len,
                                     grantee.ptr, (int)system.len, system.ptr);
        sys_ref = r ? str_from_cstr(r) : system;
    }
    struct identity_authorisation_new in = {
        .company = str_from_cstr(cx->org.id),
        .se = se,
        .grantee = grantee,
        .grantee_system = sys_ref,
        .services = services,
        .n_services = n,
        .until_ms = ((int64_t)day + 1) * 86400000LL, /* through the whole last day (UTC) */
    };
    err_t e;
    err_clear(&e);
    struct identity_authorisation out;
    int rc = identity_authorisation_grant(cx->w->deps.identity, &cx->actor, &in, &out, &e);
    if (rc == 0)
        return web_redirect(cx->req, "/fuldmagter?ok=givet");
    if (rc != DUPLA_EFORBIDDEN && rc != DUPLA_EINVAL)
        log_warn("web: authorisation grant: %s", e.log);
    const char *field = strcmp(e.param, "se") == 0               ? "se"
                        : strcmp(e.param, "grantee") == 0        ? "grantee"
                        : strcmp(e.param, "grantee_system") == 0 ? "grantee_system"
                        : strcmp(e.param, "services") == 0       ? "services"
                        : strcmp(e.param, "until") == 0          ? "until"
                                                                 : "";
    form_error(&fe, field, refusal(rc, &e));
    auth_page(cx, &fe, f);
    return web_reply_page(cx, web_refusal_status(rc));
}

/* GET|POST /fuldmagter/tilbagekald: the second step, then the revocation. */
static int h_revoke(struct web_ctx *cx, err_t *err)
{
    (void)err;
    struct form_errors fe = {0};
    if (http_req_method(cx->req) == HTTP_POST) {
        err_t e;
        err_clear(&e);
        int rc = identity_authorisation_revoke(cx->w->deps.identity, &cx->actor,
                                               form_get(&cx->form, "authorisation"), &e);
        if (rc == 0)
            return web_redirect(cx->req, "/fuldmagter?ok=tilbagekaldt");
        if (rc != DUPLA_EFORBIDDEN && rc != DUPLA_ECONFLICT && rc != DUPLA_ENOTFOUND)
            log_warn("web: authorisation revoke: %s", e.log);
        form_error(&fe, "", refusal(rc, &e));
        auth_page(cx, &fe, NULL);
        return web_reply_page(cx, web_refusal_status(rc));
    }
    str_t want = web_query(cx->req, "authorisation");
    struct auth_rows l = own_rows(cx);
    const struct identity_authorisation *a = NULL;
    for (size_t i = 0; i < l.n && !a; i++)
        if (str_eq_cstr(want, l.v[i].id) && strcmp(l.v[i].company_org_id, cx->org.id) == 0)
            a = &l.v[i];
    if (!a)
        return web_reply_message(cx, 404, "Fuldmagten findes ikke",
                                 "Virksomheden har ikke givet nogen fuldmagt med det id.");
    html_t *h = &cx->h;
    char day[16];
    last_day(a->until_ms, day);
    page_begin(cx, "Tilbagekald fuldmagt");
    HTML(h, "<p>Fra næste kald kan tredjeparten ikke længere hente virksomhedens data med denne "
            "fuldmagt, og tilbagekaldelsen kan ikke fortrydes (en ny fuldmagt kan gives).</p>"
            "<dl><dt>Tredjepart (CVR)</dt><dd>");
    html_textc(h, a->grantee_cvr);
    HTML(h, "</dd><dt>SE-nummer</dt><dd>");
    html_textc(h, a->se);
    HTML(h, "</dd><dt>Tjenester</dt><dd>");
    services_text(h, a->services);
    HTML(h, "</dd><dt>Sidste dag</dt><dd>");
    html_textc(h, day);
    HTML(h, "</dd><dt>Status</dt><dd>");
    html_textc(h, state_label(a, clock_now_ms()));
    HTML(h, "</dd></dl><form method=\"post\" action=\"/fuldmagter/tilbagekald\">");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"authorisation\" value=\"");
    html_attrc(h, a->id);
    HTML(h, "\"><button class=\"button button-primary\" type=\"submit\">Ja, tilbagekald "
            "fuldmagten</button> <a class=\"button button-secondary\" href=\"/fuldmagter\">"
            "Fortryd</a></form>");
    page_end(cx);
    return web_reply_page(cx, 200);
}

static const struct http_param q_ok[] = {WEB_PARAM_OK, {0}};
static const struct http_param q_auth[] = {{"authorisation", HTTP_PARAM_STRING, .max = 64}, {0}};

int pages_authorisation_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/fuldmagter", NULL, 0, h_list, .query = q_ok},
        {HTTP_POST, "/fuldmagter", NULL, WEB_FORM_MAX_BODY, h_grant},
        {HTTP_GET | HTTP_POST, "/fuldmagter/tilbagekald", NULL, WEB_FORM_MAX_BODY, h_revoke,
         .query = q_auth},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
