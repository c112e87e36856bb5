/*
 * pages_agreement_view.c: one agreement. Its serving version and, beside
 * it, a pending one (a new application, or a change of the approved
 * agreement, with what it changes), the steps the user may take, the data
 * owner's decision form (the application's purpose, legal basis and fields
 * beside the proportionality assessment), and the history.
 *
 *   GET /aftaler/vis?id=
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

/* The history's actions, in Danish. */
static const char *action_label(const char *action)
{
    static const char *const labels[][2] = {
        {"create", "Oprettet"},
        {"edit", "Ændret"},
        {"new-version", "Ændring ansøgt"},
        {"sign", "Underskrevet"},
        {"approve", "Godkendt"},
        {"supersede", "Erstattet af ny version"},
        {"reject", "Afvist"},
        {"return", "Sendt tilbage"},
        {"withdraw", "Trukket tilbage"},
        {"suspend", "Suspenderet"},
        {"reactivate", "Genaktiveret"},
        {"revoke", "Tilbagekaldt"},
        {"terminate", "Opsagt"},
        {"expire", "Udløbet"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i][0], action) == 0)
            return labels[i][1];
    return action;
}

/* An agreement's services grouped: a section per service with its title,
 * path and description from the catalogue, then its fields with their
 * descriptions (#16.4). A service or field the catalogue no longer has is
 * shown by its name alone. */
static void services_list(html_t *h, const json_t *services, const catalog_t *cat, int level)
{
    const char *svc;
    json_t *fields;
    HTML(h, "<div class=\"agreement-services\">");
    json_object_foreach((json_t *)services, svc, fields)
    {
        const struct catalog_service *s = catalog_find(cat, str_from_cstr(svc));
        HTML(h, "<section class=\"agreement-service\"><h");
        html_int(h, level);
        HTML(h, ">");
        html_textc(h, s ? s->title.da : svc);
        HTML(h, " <span class=\"service-path\">(");
        html_textc(h, svc);
        HTML(h, ")</span></h");
        html_int(h, level);
        HTML(h, ">");
        if (s && s->description.da) {
            HTML(h, "<p class=\"service-description\">");
            html_textc(h, s->description.da);
            HTML(h, "</p>");
        }
        HTML(h, "<ul class=\"field-list\">");
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            const char *name = json_string_value(f);
            const struct catalog_field *cf =
                s && name ? catalog_field_find(s, str_from_cstr(name)) : NULL;
            HTML(h, "<li><strong>");
            html_textc(h, name);
            HTML(h, "</strong>");
            if (cf) {
                HTML(h, ": ");
                html_textc(h, cf->description.da);
            }
            HTML(h, "</li>");
        }
        HTML(h, "</ul></section>");
    }
    HTML(h, "</div>");
}

static void legal_basis_text(html_t *h, const json_t *app)
{
    size_t i;
    json_t *lb;
    json_array_foreach(json_object_get(app, "legal_basis"), i, lb)
    {
        if (i)
            HTML(h, "; ");
        html_textc(h, page_json_str(lb, "law"));
        HTML(h, " ");
        html_textc(h, page_json_str(lb, "section"));
    }
}

static void version_details(struct web_ctx *cx, const json_t *v, const char *heading)
{
    html_t *h = &cx->h;
    const json_t *app = json_object_get(v, "application");
    HTML(h, "<h2>");
    html_textc(h, heading);
    HTML(h, " (version ");
    html_int(h, (int64_t)json_integer_value(json_object_get(v, "version")));
    HTML(h, ")</h2><dl><dt>Status</dt><dd>");
    html_textc(h, web_state_label(page_json_str(v, "state")));
    HTML(h, "</dd><dt>Titel</dt><dd>");
    html_textc(h, page_json_str(app, "title"));
    HTML(h, "</dd><dt>Formål</dt><dd>");
    html_textc(h, page_json_str(app, "purpose"));
    HTML(h, "</dd><dt>Hovedformål</dt><dd>");
    html_textc(h, web_purpose_category_label(page_json_str(app, "purpose_category")));
    HTML(h, "</dd><dt>Aftageren er</dt><dd>");
    html_textc(h, web_recipient_kind_label(page_json_str(app, "recipient_kind")));
    HTML(h, "</dd><dt>Hjemmel</dt><dd>");
    legal_basis_text(h, app);
    HTML(h, "</dd><dt>Gyldighed</dt><dd>");
    html_textc(h, page_json_str(app, "valid_from"));
    HTML(h, " til ");
    html_textc(h, json_is_string(json_object_get(app, "valid_to")) ? page_json_str(app, "valid_to")
                                                                   : "uden slutdato");
    HTML(h, "</dd><dt>Systemer</dt><dd>");
    const json_t *sys = json_object_get(app, "systems");
    if (json_is_array(sys)) {
        size_t i;
        json_t *s;
        json_array_foreach(sys, i, s)
        {
            if (i)
                HTML(h, ", ");
            html_textc(h, json_string_value(s));
        }
    } else {
        HTML(h, "Alle organisationens systemer");
    }
    const json_t *contact = json_object_get(app, "contact");
    if (json_is_object(contact)) {
        HTML(h, "</dd><dt>Kontaktperson</dt><dd>");
        html_textc(h, page_json_str(contact, "name"));
        HTML(h, ", ");
        html_textc(h, page_json_str(contact, "email"));
        if (page_json_str(contact, "phone")[0]) {
            HTML(h, ", ");
            html_textc(h, page_json_str(contact, "phone"));
        }
    }
    HTML(h, "</dd><dt>Udarbejdet af</dt><dd>");
    html_textc(h, page_json_str(v, "drafted_by"));
    HTML(h, "</dd>");
    if (json_is_string(json_object_get(v, "signed_by"))) {
        HTML(h, "<dt>Underskrevet af</dt><dd>");
        html_textc(h, page_json_str(v, "signed_by"));
        HTML(h, "</dd>");
    }
    if (json_is_string(json_object_get(v, "assessment"))) {
        HTML(h, "<dt>Proportionalitetsvurdering</dt><dd>");
        html_textc(h, page_json_str(v, "assessment"));
        HTML(h, "</dd>");
    }
    HTML(h, "</dl><h3>Data der er ansøgt om</h3>");
    services_list(h, json_object_get(app, "services"), cx->w->deps.catalog, 4);
    if (json_is_object(json_object_get(v, "granted"))) {
        HTML(h, "<h3>Data der er bevilget</h3>");
        services_list(h, json_object_get(v, "granted"), cx->w->deps.catalog, 4);
    }
}

/* ---- what a change changes ---- */

static bool has_field(const json_t *services, const char *svc, const char *field)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(services, svc), i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), field) == 0)
            return true;
    }
    return false;
}

/* Is field a key or platform field of the service (sent with every record
 * whatever is granted, so asking for it or not changes nothing)? */
static bool always_sent(const catalog_t *cat, const char *svc, const char *field)
{
    const struct catalog_service *s = catalog_find(cat, str_from_cstr(svc));
    const struct catalog_field *f = s ? catalog_field_find(s, str_from_cstr(field)) : NULL;
    return f && f->business_index == SIZE_MAX;
}

/* The business fields in a and not in b, as "<li>" items with verb; the
 * count. */
static int fields_not_in(html_t *h, const catalog_t *cat, const json_t *a, const json_t *b,
                         const char *verb)
{
    int n = 0;
    const char *svc;
    json_t *fields;
    json_object_foreach((json_t *)a, svc, fields)
    {
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            const char *name = json_string_value(f);
            if (!name || has_field(b, svc, name) || always_sent(cat, svc, name))
                continue;
            const struct catalog_service *s = cat ? catalog_find(cat, str_from_cstr(svc)) : NULL;
            const struct catalog_field *cf = s ? catalog_field_find(s, str_from_cstr(name)) : NULL;
            HTML(h, "<li>");
            html_textc(h, verb);
            HTML(h, ": <strong>");
            html_textc(h, s ? s->title.da : svc);
            HTML(h, " / ");
            html_textc(h, name);
            HTML(h, "</strong>");
            if (cf && cf->description.da) {
                HTML(h, " (");
                html_textc(h, cf->description.da);
                HTML(h, ")");
            }
            HTML(h, "</li>");
            n++;
        }
    }
    return n;
}

/* One changed value, old and new, as a "<li>" item; the count (0 or 1). */
static int changed_text(html_t *h, const char *label, const json_t *from, const json_t *to,
                        const char *key)
{
    const char *a = page_json_str(from, key), *b = page_json_str(to, key);
    if (strcmp(a, b) == 0)
        return 0;
    HTML(h, "<li>");
    html_textc(h, label);
    HTML(h, ": «");
    html_textc(h, a[0] ? a : "(tom)");
    HTML(h, "» bliver «");
    html_textc(h, b[0] ? b : "(tom)");
    HTML(h, "»</li>");
    return 1;
}

/* What the pending version changes compared with the serving one. */
static void changes_list(struct web_ctx *cx, const json_t *serving, const json_t *pending)
{
    html_t *h = &cx->h;
    const json_t *a = json_object_get(serving, "application");
    const json_t *b = json_object_get(pending, "application");
    /* The fields against what serves now: what is granted. */
    const json_t *granted = json_object_get(serving, "granted");
    const json_t *had = json_is_object(granted) ? granted : json_object_get(a, "services");
    const json_t *asks = json_object_get(b, "services");
    HTML(h, "<h2>Ændringer i forhold til den gældende version</h2><ul>");
    int n = 0;
    const catalog_t *cat = cx->w->deps.catalog;
    n += fields_not_in(h, cat, asks, had, "Nyt felt");
    n += fields_not_in(h, cat, had, asks, "Felt fjernes");
    n += changed_text(h, "Titel", a, b, "title");
    n += changed_text(h, "Formål", a, b, "purpose");
    n += changed_text(h, "Gyldig fra", a, b, "valid_from");
    n += changed_text(h, "Gyldig til", a, b, "valid_to");
    if (!json_equal(json_object_get(a, "legal_basis"), json_object_get(b, "legal_basis"))) {
        HTML(h, "<li>Hjemmel: «");
        legal_basis_text(h, a);
        HTML(h, "» bliver «");
        legal_basis_text(h, b);
        HTML(h, "»</li>");
        n++;
    }
    if (!json_equal(json_object_get(a, "systems"), json_object_get(b, "systems"))) {
        HTML(h, "<li>Systemerne ændres</li>");
        n++;
    }
    if (!json_equal(json_object_get(a, "contact"), json_object_get(b, "contact"))) {
        HTML(h, "<li>Kontaktpersonen ændres</li>");
        n++;
    }
    if (n == 0)
        HTML(h, "<li>Ingen ændringer endnu</li>");
    HTML(h, "</ul>");
}

/* ---- the decision ---- */

struct asked {
    const json_t *services;
};

static bool asked_field(void *ctx, const char *svc, const char *field)
{
    const struct asked *a = ctx;
    return has_field(a->services, svc, field);
}

/* The application (purpose, legal basis, fields) beside the assessment. */
static void decision_form(struct web_ctx *cx, const json_t *pending, str_t id,
                          const struct form_errors *fe)
{
    html_t *h = &cx->h;
    const json_t *app = json_object_get(pending, "application");
    struct asked a = {json_object_get(app, "services")};
    HTML(h, "<h2>Afgørelse</h2><div class=\"row\"><div class=\"col-12 col-lg-5\">"
            "<h3>Ansøgningen</h3><dl><dt>Formål</dt><dd>");
    html_textc(h, page_json_str(app, "purpose"));
    HTML(h, "</dd><dt>Hjemmel</dt><dd>");
    legal_basis_text(h, app);
    HTML(h, "</dd></dl><h4>Felter der er ansøgt om</h4>");
    services_list(h, a.services, cx->w->deps.catalog, 5);
    HTML(h, "</div><div class=\"col-12 col-lg-7\"><form method=\"post\" "
            "action=\"/aftaler/beslut\" novalidate>");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
    html_attr(h, id);
    HTML(h, "\">");
    form_textarea(cx, fe, "vurdering", "Proportionalitetsvurdering",
                  form_get(&cx->form, "vurdering"),
                  "Er de ansøgte data nødvendige og forholdsmæssige i forhold til formålet og "
                  "hjemlen?");
    HTML(h, "<p>Fjern fluebenet ved de felter, der ikke skal bevilges.</p>");
    page_agreement_field_boxes(cx, "bevilg-", asked_field, &a, asked_field);
    form_textarea(cx, fe, "begrundelse", "Begrundelse", form_get(&cx->form, "begrundelse"),
                  "Kræves ved afvisning, tilbagesendelse og når færre felter bevilges");
    HTML(h, "<button class=\"button button-primary\" type=\"submit\" name=\"handling\" "
            "value=\"godkend\">Godkend</button> <button class=\"button button-secondary\" "
            "type=\"submit\" name=\"handling\" value=\"returner\">Send tilbage</button> "
            "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
            "value=\"afvis\">Afvis</button></form></div></div>");
}

/* ---- the page ---- */

static void ok_notice(struct web_ctx *cx)
{
    static const char *const notices[][2] = {
        {"kladde", "Kladden er gemt. En underskriver skal nu underskrive den."},
        {"rettet", "Kladden er gemt. En anden underskriver end den, der sidst rettede den, skal "
                   "nu underskrive den."},
        {"aendring", "Ændringen er gemt som kladde. Den godkendte aftale gælder fortsat. En "
                     "underskriver skal nu underskrive ændringen."},
        {"underskrevet", "Aftalen er underskrevet og sendt til Skatteforvaltningen."},
        {"godkendt", "Aftalen er godkendt."},
        {"afvist", "Aftalen er afvist."},
        {"returneret", "Aftalen er sendt tilbage til organisationen."},
        {"suspenderet", "Aftalen er suspenderet."},
        {"genaktiveret", "Aftalen er genaktiveret."},
        {"tilbagekaldt", "Aftalen er tilbagekaldt."},
        {"trukket", "Ansøgningen er trukket tilbage."},
        {"opsagt", "Aftalen er opsagt. Der kan ikke længere hentes data under den."},
        {"budget", "Budgettet er gemt. Det gælder fra næste kald."},
    };
    str_t ok = web_query(cx->req, "ok");
    for (size_t i = 0; ok.len && i < sizeof notices / sizeof notices[0]; i++)
        if (str_eq_cstr(ok, notices[i][0]))
            page_notice(cx, "success", notices[i][1]);
}

/* When the data owner sent the pending draft back, why (the newest return
 * of that version in the history). */
static void returned_notice(struct web_ctx *cx, const json_t *doc, const json_t *pending)
{
    if (strcmp(page_json_str(pending, "state"), "draft") != 0)
        return;
    json_int_t version = json_integer_value(json_object_get(pending, "version"));
    const json_t *history = json_object_get(doc, "history");
    for (size_t i = json_array_size(history); i-- > 0;) {
        const json_t *ev = json_array_get(history, i);
        if (json_integer_value(json_object_get(ev, "version")) != version)
            continue;
        const char *action = page_json_str(ev, "action");
        if (strcmp(action, "return") == 0) {
            char *msg = arena_printf(http_req_arena(cx->req),
                                     "Skatteforvaltningen har sendt ansøgningen tilbage til "
                                     "rettelse med begrundelsen: %s",
                                     page_json_str(ev, "reason"));
            page_notice(cx, "info",
                        msg ? msg : "Skatteforvaltningen har sendt ansøgningen tilbage.");
            return;
        }
        if (strcmp(action, "edit") == 0 || strcmp(action, "sign") == 0)
            return; /* already worked on since */
    }
}

/* See pages_agreement.h. */
void page_agreement_view(struct web_ctx *cx, str_t id, const struct form_errors *fe,
                         unsigned *status)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    json_t *doc = NULL;
    err_t e;
    err_clear(&e);
    int rc = agreement_document_json(w->deps.agreement, &aa, id, &doc, &e);
    if (rc != 0) {
        page_begin(cx, "Aftale");
        page_error_summary(cx, fe);
        page_notice(cx, "warning", "Aftalen findes ikke, eller du har ikke adgang til den.");
        page_end(cx);
        *status = 404;
        return;
    }
    const json_t *pending = json_object_get(doc, "pending");
    const json_t *serving = json_object_get(doc, "serving");
    const json_t *shown = json_is_object(pending) ? pending : serving;
    const char *title = page_json_str(json_object_get(shown, "application"), "title");
    page_begin(cx, title[0] ? title : "Aftale");
    ok_notice(cx);
    page_error_summary(cx, fe);
    if (json_is_object(pending))
        returned_notice(cx, doc, pending);
    bool change = json_is_object(pending) && json_is_object(serving) && pending != serving;
    HTML(h, "<p>Aftale-id: ");
    html_textc(h, page_json_str(doc, "urn"));
    HTML(h, ". Status: <strong>");
    html_textc(h, web_state_label(page_json_str(doc, "status")));
    HTML(h, "</strong>");
    if (change) {
        HTML(h, ". En ændring er ");
        html_textc(h, strcmp(page_json_str(pending, "state"), "draft") == 0
                          ? "under udarbejdelse"
                          : "sendt til Skatteforvaltningen");
        HTML(h, "; den gældende version gælder, indtil ændringen er godkendt");
    }
    HTML(h, ".</p>");
    page_agreement_edit_link(cx, doc, id);
    if (json_is_object(serving))
        version_details(cx, serving, "Gældende version");
    if (change) {
        changes_list(cx, serving, pending);
        version_details(cx, pending, "Ansøgt ændring");
    } else if (json_is_object(pending) && pending != serving) {
        version_details(cx, pending, "Ansøgning");
    }
    const char *pstate = json_is_object(pending) ? page_json_str(pending, "state") : "";
    if (strcmp(pstate, "draft") == 0 && !cx->actor.data_owner &&
        (cx->actor.roles & (ROLE_SIGNATORY | ROLE_PROCESSOR))) {
        HTML(h, "<h2>Underskrift</h2><p>En underskriver, som ikke selv har udarbejdet eller "
                "senest rettet ansøgningen, underskriver den og sender den til "
                "Skatteforvaltningen.</p><form method=\"post\" action=\"/aftaler/underskriv\">");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attr(h, id);
        HTML(h, "\"><button class=\"button button-primary\" type=\"submit\" id=\"underskriv\">"
                "Underskriv og send</button></form>");
    }
    if (strcmp(pstate, "submitted") == 0 && identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING))
        decision_form(cx, pending, id, fe);
    page_agreement_step_forms(cx, doc, id, fe);
    page_agreement_budget(cx, doc, id, fe);
    HTML(h, "<p><a href=\"/aftaler/dokument?id=");
    html_url(h, id);
    HTML(h, "\">Aftaledokumentet (til udskrift)</a></p>");
    HTML(h, "<h2>Historik</h2><div class=\"table--responsive-scroll\" tabindex=\"0\" "
            "role=\"region\" aria-label=\"Tabel, kan rulles\"><table class=\"table\">"
            "<caption>Historik</caption><thead><tr><th scope=\"col\">Tidspunkt</th>"
            "<th scope=\"col\">Handling</th><th scope=\"col\">Version</th><th scope=\"col\">"
            "Af</th><th scope=\"col\">Begrundelse</th></tr></thead><tbody>");
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(doc, "history"), i, ev)
    {
        HTML(h, "<tr><td>");
        html_textc(h, web_time_iso(cx, page_json_str(ev, "at")));
        HTML(h, "</td><td>");
        html_textc(h, action_label(page_json_str(ev, "action")));
        HTML(h, "</td><td>");
        html_int(h, (int64_t)json_integer_value(json_object_get(ev, "version")));
        HTML(h, "</td><td>");
        html_textc(h, page_json_str(ev, "actor"));
        HTML(h, "</td><td>");
        html_textc(h, page_json_str(ev, "reason"));
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div><p><a href=\"/aftaler\">Tilbage til aftaler</a></p>");
    page_end(cx);
    json_decref(doc);
}
