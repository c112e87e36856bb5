/*
 * pages_agreement.c: agreements. The list, a new draft with services and
 * fields chosen from the catalogue, one agreement (its application, its
 * decision, its history) with the steps the user's roles allow, and the data
 * owner's review queue.
 *
 *   GET  /aftaler               the organisation's agreements (all, for the data owner)
 *   GET  /aftaler/ny            the draft form
 *   POST /aftaler/ny            create the draft (processor), 303 to /aftaler/vis?id=
 *   GET  /aftaler/vis?id=       one agreement
 *   POST /aftaler/underskriv    id: sign (signatory; four eyes)
 *   POST /aftaler/beslut        id, handling=godkend|afvis|returner, vurdering,
 *                               begrundelse, felt (the fields granted): the data owner
 *   GET  /gennemgang            agreements waiting for the data owner
 *
 * Every step goes through agreement_* with the user as actor (adapter in
 * context.c), so the module's role rules and four eyes decide.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/internal.h"

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The history's actions, in Danish. */
static const char *action_label(const char *action)
{
    static const char *const labels[][2] = {
        {"create", "Oprettet"},          {"edit", "Ændret"},         {"sign", "Underskrevet"},
        {"approve", "Godkendt"},         {"reject", "Afvist"},       {"return", "Sendt tilbage"},
        {"withdraw", "Trukket tilbage"}, {"suspend", "Suspenderet"}, {"reactivate", "Genaktiveret"},
        {"revoke", "Tilbagekaldt"},      {"terminate", "Opsagt"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i][0], action) == 0)
            return labels[i][1];
    return action;
}

/* "Service/Field" -> the two names. */
static bool split_field(str_t v, str_t *svc, str_t *field)
{
    return str_split(v, '/', svc, field) && svc->len && field->len;
}

/* ---- the list ---- */

static void list_table(struct web_ctx *cx, json_t *list, const char *caption)
{
    html_t *h = &cx->h;
    if (json_array_size(list) == 0) {
        HTML(h, "<p>Der er ingen aftaler.</p>");
        return;
    }
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>");
    html_textc(h, caption);
    HTML(h, "</caption><thead><tr><th scope=\"col\">Titel</th><th scope=\"col\">CVR</th>"
            "<th scope=\"col\">Status</th><th scope=\"col\">Gyldig fra</th>"
            "<th scope=\"col\">Gyldig til</th></tr></thead><tbody>");
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *title = jstr(a, "title");
        HTML(h, "<tr><td><a href=\"/aftaler/vis?id=");
        html_urlc(h, jstr(a, "id"));
        HTML(h, "\">");
        html_textc(h, title[0] ? title : "(uden titel)");
        HTML(h, "</a></td><td>");
        html_textc(h, jstr(a, "organisation_cvr"));
        HTML(h, "</td><td>");
        html_textc(h, web_state_label(jstr(a, "status")));
        if (json_is_integer(json_object_get(a, "pending_version")) &&
            strcmp(jstr(a, "status"), "approved") == 0)
            HTML(h, " (ændring på vej)");
        HTML(h, "</td><td>");
        html_textc(h, jstr(a, "valid_from"));
        HTML(h, "</td><td>");
        html_textc(h, json_is_string(json_object_get(a, "valid_to")) ? jstr(a, "valid_to")
                                                                     : "Uden slutdato");
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
}

static int list_page(http_request_t *req, void *ctx, bool queue)
{
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    html_t *h = &cx.h;
    struct agreement_actor aa;
    web_agreement_actor(&cx, &aa);
    struct agreement_filter f = {.org_cvr = NULL, .state = queue ? AGREEMENT_SUBMITTED : -1};
    json_t *list = NULL;
    err_t e;
    err_clear(&e);
    int rc = agreement_list(w->deps.agreement, &aa, &f, &list, &e);
    page_begin(&cx, queue ? "Aftaler til gennemgang" : "Aftaler");
    if (rc != 0) {
        log_warn("web: agreement list: %s", e.log);
        page_notice(&cx, "warning", "Aftalerne kunne ikke hentes lige nu.");
    } else {
        if (queue)
            HTML(h, "<p>Underskrevne ansøgninger, der venter på dataejerens afgørelse.</p>");
        else if (identity_actor_has(&cx.actor, ROLE_PROCESSOR))
            HTML(h, "<p><a class=\"button button-primary\" href=\"/aftaler/ny\">Ny aftale</a>"
                    "</p>");
        list_table(&cx, list, queue ? "Til gennemgang" : "Aftaler");
    }
    json_decref(list);
    page_end(&cx);
    rc = web_reply_page(&cx, 200);
    web_end(&cx);
    return rc;
}

static int h_list(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    return list_page(req, ctx, false);
}

static int h_queue(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    return list_page(req, ctx, true);
}

/* ---- a new draft ---- */

struct systems_ctx {
    struct web_ctx *cx;
    const struct form *kept;
    int n;
};

static bool kept_has(const struct form *f, const char *name, const char *value)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (str_eq_cstr(f->names[i], name) && str_eq_cstr(f->values[i], value))
            return true;
    return false;
}

static int system_box(const struct identity_system *s, void *ctx)
{
    struct systems_ctx *sc = ctx;
    html_t *h = &sc->cx->h;
    if (s->status != SYSTEM_ACTIVE)
        return 0;
    HTML(h, "<div class=\"form-group-checkbox\"><input class=\"form-checkbox\" type=\"checkbox\" "
            "name=\"systems\" id=\"system-");
    html_int(h, sc->n);
    HTML(h, "\" value=\"");
    html_attrc(h, s->id);
    HTML(h, "\"");
    if (kept_has(sc->kept, "systems", s->id))
        HTML(h, " checked");
    HTML(h, "><label for=\"system-");
    html_int(h, sc->n);
    HTML(h, "\">");
    html_textc(h, s->name);
    HTML(h, "</label></div>");
    sc->n++;
    return 0;
}

/* The catalogue as one fieldset per service, each business field a checkbox
 * labelled with its name and Danish description. checked(svc, field) says
 * which are ticked. */
static void field_boxes(struct web_ctx *cx, const char *prefix,
                        bool (*checked)(void *, const char *, const char *), void *cctx,
                        bool (*offered)(void *, const char *, const char *))
{
    html_t *h = &cx->h;
    const catalog_t *cat = cx->w->deps.catalog;
    for (size_t s = 0; s < catalog_count(cat); s++) {
        const struct catalog_service *svc = catalog_service_at(cat, s);
        bool any = false;
        for (size_t f = 0; f < svc->n_business; f++)
            any = any || !offered || offered(cctx, svc->path, svc->business[f]->name);
        if (!any)
            continue;
        HTML(h, "<fieldset class=\"mt-5\"><legend class=\"h3\">");
        html_textc(h, svc->title.da);
        HTML(h, " (");
        html_textc(h, svc->alias);
        HTML(h, ")</legend><p class=\"form-hint\">");
        html_textc(h, svc->description.da);
        HTML(h, "</p>");
        for (size_t f = 0; f < svc->n_business; f++) {
            const struct catalog_field *fld = svc->business[f];
            if (offered && !offered(cctx, svc->path, fld->name))
                continue;
            HTML(h, "<div class=\"form-group-checkbox\"><input class=\"form-checkbox\" "
                    "type=\"checkbox\" name=\"felt\" id=\"");
            html_attrc(h, prefix);
            html_int(h, (int64_t)s);
            HTML(h, "-");
            html_int(h, (int64_t)f);
            HTML(h, "\" value=\"");
            html_attrc(h, svc->path);
            HTML(h, "/");
            html_attrc(h, fld->name);
            HTML(h, "\"");
            if (checked && checked(cctx, svc->path, fld->name))
                HTML(h, " checked");
            HTML(h, "><label for=\"");
            html_attrc(h, prefix);
            html_int(h, (int64_t)s);
            HTML(h, "-");
            html_int(h, (int64_t)f);
            HTML(h, "\"><strong>");
            html_textc(h, fld->name);
            HTML(h, "</strong>: ");
            html_textc(h, fld->description.da);
            HTML(h, "</label></div>");
        }
        HTML(h, "</fieldset>");
    }
}

static bool kept_field(void *ctx, const char *svc, const char *field)
{
    const struct form *f = ctx;
    for (size_t i = 0; f && i < f->n; i++) {
        str_t s, fl;
        if (str_eq_cstr(f->names[i], "felt") && split_field(f->values[i], &s, &fl) &&
            str_eq_cstr(s, svc) && str_eq_cstr(fl, field))
            return true;
    }
    return false;
}

static void draft_page(struct web_ctx *cx, const struct form_errors *fe, const struct form *kept)
{
    html_t *h = &cx->h;
    static const struct form empty = {0};
    const struct form *k = kept ? kept : &empty;
    page_begin(cx, "Ny aftale");
    page_error_summary(cx, fe);
    HTML(h, "<form method=\"post\" action=\"/aftaler/ny\" novalidate>");
    form_csrf(cx);
    form_input(cx, fe, "title", "Titel", "text", form_get(k, "title"), NULL);
    form_textarea(cx, fe, "purpose", "Formål", form_get(k, "purpose"),
                  "Hvad skal data bruges til, og hvorfor er de nødvendige?");
    form_input(cx, fe, "law", "Hjemmel: lov", "text", form_get(k, "law"),
               "Fx Skatteforvaltningsloven");
    form_input(cx, fe, "section", "Hjemmel: paragraf", "text", form_get(k, "section"),
               "Fx § 17, stk. 1");
    form_input(cx, fe, "valid_from", "Gyldig fra", "text", form_get(k, "valid_from"),
               "Dato som åååå-mm-dd");
    form_input(cx, fe, "valid_to", "Gyldig til", "text", form_get(k, "valid_to"),
               "Dato som åååå-mm-dd. Tom: uden slutdato");
    form_input(cx, fe, "contact_name", "Kontaktperson: navn", "text", form_get(k, "contact_name"),
               NULL);
    form_input(cx, fe, "contact_email", "Kontaktperson: e-mail", "email",
               form_get(k, "contact_email"), NULL);
    form_input(cx, fe, "contact_phone", "Kontaktperson: telefon", "text",
               form_get(k, "contact_phone"), "Valgfrit");
    HTML(h, "<fieldset class=\"mt-5\"><legend class=\"h3\">Systemer</legend>"
            "<p class=\"form-hint\">Vælg de systemer, der må hente data. Vælger du ingen, gælder "
            "aftalen alle organisationens systemer.</p>");
    struct systems_ctx sc = {cx, k, 0};
    err_t e;
    err_clear(&e);
    identity_system_list(cx->w->deps.identity, str_from_cstr(cx->org.id), system_box, &sc, &e);
    if (sc.n == 0)
        HTML(h, "<p>Organisationen har ingen aktive systemer endnu.</p>");
    HTML(h, "</fieldset><h2 id=\"felter\">Data</h2>");
    const char *msg = form_error_for(fe, "felter");
    if (msg) {
        HTML(h, "<p class=\"form-error-message\"><span class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</p>");
    }
    HTML(h, "<p>Vælg de felter, organisationen har brug for. Bed kun om det nødvendige.</p>");
    field_boxes(cx, "felt-", kept_field, (void *)k, NULL);
    HTML(h, "<button class=\"button button-primary mt-6\" type=\"submit\">Gem kladde</button>"
            "</form>");
    page_end(cx);
}

static bool valid_date(str_t s)
{
    if (s.len != 10 || s.ptr[4] != '-' || s.ptr[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s.ptr[i] < '0' || s.ptr[i] > '9'))
            return false;
    return true;
}

/* Builds the application from the form; messages for what is missing. */
static json_t *application_from_form(struct web_ctx *cx, struct form_errors *fe)
{
    const struct form *f = &cx->form;
    str_t title = form_get(f, "title"), purpose = form_get(f, "purpose");
    str_t law = form_get(f, "law"), section = form_get(f, "section");
    str_t from = form_get(f, "valid_from"), to = form_get(f, "valid_to");
    if (title.len == 0)
        form_error(fe, "title", "Skriv en titel.");
    if (purpose.len == 0)
        form_error(fe, "purpose", "Beskriv formålet.");
    if (law.len == 0)
        form_error(fe, "law", "Skriv den lov, der giver hjemmel.");
    if (section.len == 0)
        form_error(fe, "section", "Skriv paragraffen.");
    if (!valid_date(from))
        form_error(fe, "valid_from", "Skriv startdatoen som åååå-mm-dd.");
    if (to.len && !valid_date(to))
        form_error(fe, "valid_to", "Skriv slutdatoen som åååå-mm-dd, eller lad feltet stå tomt.");
    json_t *services = json_object(), *systems = json_array();
    for (size_t i = 0; i < f->n; i++) {
        str_t svc, field;
        if (str_eq_cstr(f->names[i], "felt") && split_field(f->values[i], &svc, &field)) {
            char *s = web_cstr(cx->req, svc);
            json_t *l = json_object_get(services, s);
            if (!l) {
                l = json_array();
                json_object_set_new(services, s, l);
            }
            json_array_append_new(l, json_stringn(field.ptr, field.len));
        } else if (str_eq_cstr(f->names[i], "systems") && f->values[i].len) {
            json_array_append_new(systems, json_stringn(f->values[i].ptr, f->values[i].len));
        }
    }
    str_t cname = form_get(f, "contact_name"), cmail = form_get(f, "contact_email");
    str_t cphone = form_get(f, "contact_phone");
    if (cname.len == 0)
        form_error(fe, "contact_name", "Skriv kontaktpersonens navn.");
    if (cmail.len == 0)
        form_error(fe, "contact_email", "Skriv kontaktpersonens e-mailadresse.");
    if (json_object_size(services) == 0)
        form_error(fe, "felter", "Vælg mindst ét felt.");
    json_t *app = json_object();
    json_object_set_new(app, "title", json_stringn(title.ptr, title.len));
    json_object_set_new(app, "purpose", json_stringn(purpose.ptr, purpose.len));
    json_object_set_new(
        app, "legal_basis",
        json_pack("[{s:s%, s:s%}]", "law", law.ptr, law.len, "section", section.ptr, section.len));
    json_object_set_new(app, "services", services);
    if (json_array_size(systems))
        json_object_set_new(app, "systems", systems);
    else {
        json_decref(systems);
        json_object_set_new(app, "systems", json_string("all"));
    }
    json_t *contact =
        json_pack("{s:s%, s:s%}", "name", cname.ptr, cname.len, "email", cmail.ptr, cmail.len);
    if (cphone.len)
        json_object_set_new(contact, "phone", json_stringn(cphone.ptr, cphone.len));
    json_object_set_new(app, "contact", contact);
    json_object_set_new(app, "valid_from", json_stringn(from.ptr, from.len));
    json_object_set_new(app, "valid_to", to.len ? json_stringn(to.ptr, to.len) : json_null());
    return app;
}

/* The input an agreement module's refusal is about. */
static const char *field_of(const err_t *e)
{
    static const char *const map[][2] = {
        {"title", "title"},
        {"purpose", "purpose"},
        {"legal_basis", "law"},
        {"valid_from", "valid_from"},
        {"valid_to", "valid_to"},
        {"services", "felter"},
        {"systems", "system-0"},
        {"contact.name", "contact_name"},
        {"contact.email", "contact_email"},
        {"contact.phone", "contact_phone"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(e->param, map[i][0], strlen(map[i][0])) == 0)
            return map[i][1];
    return "";
}

static int h_new(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    struct form_errors fe = {0};
    unsigned status = 200;
    if (http_req_method(req) == HTTP_POST) {
        json_t *app = application_from_form(&cx, &fe);
        if (fe.n == 0) {
            struct agreement_actor aa;
            web_agreement_actor(&cx, &aa);
            char id[AGREEMENT_ID_LEN + 1];
            err_t e;
            err_clear(&e);
            int rc =
                agreement_create(w->deps.agreement, &aa, w->deps.cfg->environment, app, id, &e);
            if (rc == 0) {
                json_decref(app);
                web_end(&cx);
                char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=kladde", id);
                return web_redirect(req, loc ? loc : "/aftaler");
            }
            form_error(&fe, field_of(&e),
                       rc == DUPLA_EFORBIDDEN
                           ? "Du skal have rollen behandler for at udarbejde en aftale."
                           : (e.detail[0] ? e.detail : "Aftalen kunne ikke gemmes."));
            status = rc == DUPLA_EFORBIDDEN ? 403 : 400;
        } else {
            status = 400;
        }
        json_decref(app);
    }
    draft_page(&cx, &fe, http_req_method(req) == HTTP_POST ? &cx.form : NULL);
    int rc = web_reply_page(&cx, status);
    web_end(&cx);
    return rc;
}

/* ---- one agreement ---- */

static void services_list(html_t *h, const json_t *services, const catalog_t *cat)
{
    const char *svc;
    json_t *fields;
    HTML(h, "<ul>");
    json_object_foreach((json_t *)services, svc, fields)
    {
        const struct catalog_service *s = catalog_find(cat, str_from_cstr(svc));
        HTML(h, "<li>");
        html_textc(h, s ? s->title.da : svc);
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
        HTML(h, "</ul></li>");
    }
    HTML(h, "</ul>");
}

static void version_details(struct web_ctx *cx, const json_t *v, const char *heading)
{
    html_t *h = &cx->h;
    const json_t *app = json_object_get(v, "application");
    HTML(h, "<h2>");
    html_textc(h, heading);
    HTML(h, "</h2><dl><dt>Status</dt><dd>");
    html_textc(h, web_state_label(jstr(v, "state")));
    HTML(h, "</dd><dt>Formål</dt><dd>");
    html_textc(h, jstr(app, "purpose"));
    HTML(h, "</dd><dt>Hjemmel</dt><dd>");
    size_t i;
    json_t *lb;
    json_array_foreach(json_object_get(app, "legal_basis"), i, lb)
    {
        if (i)
            HTML(h, "; ");
        html_textc(h, jstr(lb, "law"));
        HTML(h, " ");
        html_textc(h, jstr(lb, "section"));
    }
    HTML(h, "</dd><dt>Gyldighed</dt><dd>");
    html_textc(h, jstr(app, "valid_from"));
    HTML(h, " til ");
    html_textc(h, json_is_string(json_object_get(app, "valid_to")) ? jstr(app, "valid_to")
                                                                   : "uden slutdato");
    HTML(h, "</dd><dt>Systemer</dt><dd>");
    const json_t *sys = json_object_get(app, "systems");
    if (json_is_array(sys)) {
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
    HTML(h, "</dd><dt>Udarbejdet af</dt><dd>");
    html_textc(h, jstr(v, "drafted_by"));
    HTML(h, "</dd>");
    if (json_is_string(json_object_get(v, "signed_by"))) {
        HTML(h, "<dt>Underskrevet af</dt><dd>");
        html_textc(h, jstr(v, "signed_by"));
        HTML(h, "</dd>");
    }
    if (json_is_string(json_object_get(v, "assessment"))) {
        HTML(h, "<dt>Proportionalitetsvurdering</dt><dd>");
        html_textc(h, jstr(v, "assessment"));
        HTML(h, "</dd>");
    }
    HTML(h, "</dl><h3>Data der er ansøgt om</h3>");
    services_list(h, json_object_get(app, "services"), cx->w->deps.catalog);
    if (json_is_object(json_object_get(v, "granted"))) {
        HTML(h, "<h3>Data der er bevilget</h3>");
        services_list(h, json_object_get(v, "granted"), cx->w->deps.catalog);
    }
}

struct asked {
    const json_t *services;
};
static bool asked_field(void *ctx, const char *svc, const char *field)
{
    const struct asked *a = ctx;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(a->services, svc), i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), field) == 0)
            return true;
    }
    return false;
}

static void view_page(struct web_ctx *cx, str_t id, const struct form_errors *fe, unsigned *status)
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
        page_notice(cx, "warning", "Aftalen findes ikke, eller du har ikke adgang til den.");
        page_end(cx);
        *status = 404;
        return;
    }
    const json_t *pending = json_object_get(doc, "pending");
    const json_t *serving = json_object_get(doc, "serving");
    const json_t *shown = json_is_object(pending) ? pending : serving;
    const char *title = jstr(json_object_get(shown, "application"), "title");
    page_begin(cx, title[0] ? title : "Aftale");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "kladde"))
        page_notice(cx, "success", "Kladden er gemt. En underskriver skal nu underskrive den.");
    else if (str_eq_cstr(ok, "underskrevet"))
        page_notice(cx, "success", "Aftalen er underskrevet og sendt til Skatteforvaltningen.");
    else if (str_eq_cstr(ok, "godkendt"))
        page_notice(cx, "success", "Aftalen er godkendt.");
    else if (str_eq_cstr(ok, "afvist"))
        page_notice(cx, "success", "Aftalen er afvist.");
    else if (str_eq_cstr(ok, "suspenderet"))
        page_notice(cx, "success", "Aftalen er suspenderet.");
    else if (str_eq_cstr(ok, "genaktiveret"))
        page_notice(cx, "success", "Aftalen er genaktiveret.");
    else if (str_eq_cstr(ok, "tilbagekaldt"))
        page_notice(cx, "success", "Aftalen er tilbagekaldt.");
    else if (str_eq_cstr(ok, "returneret"))
        page_notice(cx, "success", "Aftalen er sendt tilbage til organisationen.");
    page_error_summary(cx, fe);
    HTML(h, "<p>Aftale-id: ");
    html_textc(h, jstr(doc, "urn"));
    HTML(h, ". Status: <strong>");
    html_textc(h, web_state_label(jstr(doc, "status")));
    HTML(h, "</strong>.</p>");
    if (json_is_object(serving))
        version_details(cx, serving, "Gældende version");
    if (json_is_object(pending) && pending != serving)
        version_details(cx, pending, "Ansøgning");
    const char *pstate = json_is_object(pending) ? jstr(pending, "state") : "";
    if (strcmp(pstate, "draft") == 0 && !cx->actor.data_owner &&
        (cx->actor.roles & (ROLE_SIGNATORY | ROLE_PROCESSOR))) {
        HTML(h, "<h2>Underskrift</h2><p>En underskriver, som ikke selv har udarbejdet "
                "ansøgningen, underskriver den og sender den til Skatteforvaltningen.</p>"
                "<form method=\"post\" action=\"/aftaler/underskriv\">");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attr(h, id);
        HTML(h, "\"><button class=\"button button-primary\" type=\"submit\" id=\"underskriv\">"
                "Underskriv og send</button></form>");
    }
    if (strcmp(pstate, "submitted") == 0 && identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING)) {
        const json_t *asked = json_object_get(json_object_get(pending, "application"), "services");
        struct asked a = {asked};
        HTML(h, "<h2>Afgørelse</h2><form method=\"post\" action=\"/aftaler/beslut\" "
                "novalidate>");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attr(h, id);
        HTML(h, "\"><p>Fjern fluebenet ved de felter, der ikke skal bevilges.</p>");
        field_boxes(cx, "bevilg-", asked_field, &a, asked_field);
        form_textarea(cx, fe, "vurdering", "Proportionalitetsvurdering",
                      form_get(&cx->form, "vurdering"),
                      "Er de ansøgte data nødvendige og forholdsmæssige i forhold til formålet?");
        form_textarea(cx, fe, "begrundelse", "Begrundelse", form_get(&cx->form, "begrundelse"),
                      "Kræves ved afvisning, tilbagesendelse og når færre felter bevilges");
        HTML(h, "<button class=\"button button-primary\" type=\"submit\" name=\"handling\" "
                "value=\"godkend\">Godkend</button> <button class=\"button button-secondary\" "
                "type=\"submit\" name=\"handling\" value=\"returner\">Send tilbage</button> "
                "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"afvis\">Afvis</button></form>");
    }
    const char *agstatus = jstr(doc, "status");
    if (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) &&
        (strcmp(agstatus, "approved") == 0 || strcmp(agstatus, "suspended") == 0)) {
        HTML(h, "<h2>Suspendér eller tilbagekald</h2><form method=\"post\" "
                "action=\"/aftaler/status\" novalidate>");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attr(h, id);
        HTML(h, "\">");
        form_textarea(cx, fe, "status-begrundelse", "Begrundelse for ændringen",
                      form_get(&cx->form, "status-begrundelse"), NULL);
        if (strcmp(agstatus, "approved") == 0)
            HTML(h, "<button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"suspender\">Suspendér</button> ");
        else
            HTML(h, "<button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"genaktiver\">Genaktivér</button> ");
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"tilbagekald\">Tilbagekald</button></form>");
    }
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
        html_textc(h, jstr(ev, "at"));
        HTML(h, "</td><td>");
        html_textc(h, action_label(jstr(ev, "action")));
        HTML(h, "</td><td>");
        html_int(h, (int64_t)json_integer_value(json_object_get(ev, "version")));
        HTML(h, "</td><td>");
        html_textc(h, jstr(ev, "actor"));
        HTML(h, "</td><td>");
        html_textc(h, jstr(ev, "reason"));
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div><p><a href=\"/aftaler\">Tilbage til aftaler</a></p>");
    page_end(cx);
    json_decref(doc);
}

static int h_view(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    unsigned status = 200;
    view_page(&cx, web_query(req, "id"), NULL, &status);
    int rc = web_reply_page(&cx, status);
    web_end(&cx);
    return rc;
}

static int h_sign(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    str_t id = form_get(&cx.form, "id");
    struct agreement_actor aa;
    web_agreement_actor(&cx, &aa);
    err_t e;
    err_clear(&e);
    int rc = agreement_sign(w->deps.agreement, &aa, id, &e);
    if (rc == 0) {
        char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=underskrevet",
                                 web_cstr(req, id));
        web_end(&cx);
        return web_redirect(req, loc ? loc : "/aftaler");
    }
    log_info("web: signing refused: %s", e.log);
    struct form_errors fe = {0};
    if (rc == DUPLA_EFORBIDDEN && strncmp(e.detail, "four eyes", 9) == 0)
        form_error(&fe, "underskriv",
                   "Du kan ikke underskrive en ansøgning, som du selv har udarbejdet eller "
                   "senest ændret. En anden underskriver i organisationen skal underskrive "
                   "(fire øjne).");
    else if (rc == DUPLA_EFORBIDDEN)
        form_error(&fe, "underskriv", "Du skal have rollen underskriver for at underskrive.");
    else if (rc == DUPLA_EINVAL)
        form_error(&fe, "underskriv", "Ansøgningen er ikke udfyldt. Ret kladden først.");
    else
        form_error(&fe, "underskriv", "Aftalen kan ikke underskrives i sin nuværende status.");
    unsigned status = rc == DUPLA_EFORBIDDEN ? 403 : 409;
    view_page(&cx, id, &fe, &status);
    rc = web_reply_page(&cx, status);
    web_end(&cx);
    return rc;
}

static int h_decide(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    str_t id = form_get(&cx.form, "id");
    str_t action = form_get(&cx.form, "handling");
    const char *assessment = web_cstr(req, form_get(&cx.form, "vurdering"));
    const char *reason = web_cstr(req, form_get(&cx.form, "begrundelse"));
    struct agreement_actor aa;
    web_agreement_actor(&cx, &aa);
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc = 0;
    const char *ok = NULL;
    if (str_eq_cstr(action, "godkend")) {
        if (!assessment[0])
            form_error(&fe, "vurdering", "Skriv proportionalitetsvurderingen.");
        json_t *granted = json_object();
        for (size_t i = 0; i < cx.form.n; i++) {
            str_t svc, field;
            if (str_eq_cstr(cx.form.names[i], "felt") &&
                split_field(cx.form.values[i], &svc, &field)) {
                char *s = web_cstr(req, svc);
                json_t *l = json_object_get(granted, s);
                if (!l) {
                    l = json_array();
                    json_object_set_new(granted, s, l);
                }
                json_array_append_new(l, json_stringn(field.ptr, field.len));
            }
        }
        if (json_object_size(granted) == 0)
            form_error(&fe, "", "Vælg mindst ét felt at bevilge, eller afvis ansøgningen.");
        if (fe.n == 0) {
            rc = agreement_approve(w->deps.agreement, &aa, id, assessment, granted,
                                   reason[0] ? reason : NULL, &e);
            ok = "godkendt";
        }
        json_decref(granted);
    } else if (str_eq_cstr(action, "afvis") || str_eq_cstr(action, "returner")) {
        if (!reason[0])
            form_error(&fe, "begrundelse", "Skriv en begrundelse.");
        else if (str_eq_cstr(action, "afvis")) {
            rc = agreement_reject(w->deps.agreement, &aa, id, reason, &e);
            ok = "afvist";
        } else {
            rc = agreement_return(w->deps.agreement, &aa, id, reason, &e);
            ok = "returneret";
        }
    } else {
        form_error(&fe, "", "Vælg godkend, send tilbage eller afvis.");
    }
    if (fe.n == 0 && rc == 0 && ok) {
        char *loc =
            arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=%s", web_cstr(req, id), ok);
        web_end(&cx);
        return web_redirect(req, loc ? loc : "/gennemgang");
    }
    if (rc != 0) {
        if (strcmp(e.param, "reason") == 0)
            form_error(&fe, "begrundelse", "Skriv en begrundelse for at bevilge færre felter.");
        else if (strcmp(e.param, "assessment") == 0)
            form_error(&fe, "vurdering", "Skriv proportionalitetsvurderingen.");
        else if (rc == DUPLA_EFORBIDDEN)
            form_error(&fe, "", "Du skal have rollen dataforvaltning for at træffe afgørelse.");
        else
            form_error(&fe, "", e.detail[0] ? e.detail : "Afgørelsen kunne ikke gemmes.");
    }
    unsigned status = rc == DUPLA_EFORBIDDEN ? 403 : 400;
    view_page(&cx, id, &fe, &status);
    rc = web_reply_page(&cx, status);
    web_end(&cx);
    return rc;
}

/* The data owner suspends, reactivates or revokes an approved agreement. */
static int h_status(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    str_t id = form_get(&cx.form, "id");
    str_t action = form_get(&cx.form, "handling");
    const char *reason = web_cstr(req, form_get(&cx.form, "status-begrundelse"));
    struct agreement_actor aa;
    web_agreement_actor(&cx, &aa);
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc = 0;
    const char *ok = NULL;
    if (!reason[0])
        form_error(&fe, "status-begrundelse", "Skriv en begrundelse.");
    else if (str_eq_cstr(action, "suspender")) {
        rc = agreement_suspend(w->deps.agreement, &aa, id, reason, &e);
        ok = "suspenderet";
    } else if (str_eq_cstr(action, "genaktiver")) {
        rc = agreement_reactivate(w->deps.agreement, &aa, id, reason, &e);
        ok = "genaktiveret";
    } else if (str_eq_cstr(action, "tilbagekald")) {
        rc = agreement_revoke(w->deps.agreement, &aa, id, reason, &e);
        ok = "tilbagekaldt";
    } else {
        form_error(&fe, "", "Vælg suspendér, genaktivér eller tilbagekald.");
    }
    if (fe.n == 0 && rc == 0 && ok) {
        char *loc =
            arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=%s", web_cstr(req, id), ok);
        web_end(&cx);
        return web_redirect(req, loc ? loc : "/aftaler");
    }
    if (rc == DUPLA_EFORBIDDEN)
        form_error(&fe, "", "Du skal have rollen dataforvaltning for at gøre dette.");
    else if (rc != 0)
        form_error(&fe, "", "Aftalen kan ikke ændres sådan i sin nuværende status.");
    unsigned status = rc == DUPLA_EFORBIDDEN ? 403 : 400;
    view_page(&cx, id, &fe, &status);
    rc = web_reply_page(&cx, status);
    web_end(&cx);
    return rc;
}

/* The printable agreement document, as the agreement module renders it (every
 * value escaped there). Its own style sheet is inline, so this page has its
 * own policy: no script, no requests at all, inline style only. */
static int h_document(http_request_t *req, void *ctx, err_t *err)
{
    (void)err;
    struct web_ctx cx;
    if (web_begin_or_reply(ctx, req, &cx)) {
        web_end(&cx);
        return 0;
    }
    web_t *w = ctx;
    struct agreement_actor aa;
    web_agreement_actor(&cx, &aa);
    buf_t b;
    buf_init(&b, HTML_PAGE_MAX);
    err_t e;
    err_clear(&e);
    int rc = agreement_document_html(w->deps.agreement, &aa, web_query(req, "id"), &b, &e);
    if (rc != 0) {
        buf_free(&b);
        rc = web_reply_message(&cx, 404, "Aftale",
                               "Aftalen findes ikke, eller du har ikke adgang til den.");
        web_end(&cx);
        return rc;
    }
    web_security_headers_csp(req, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                  "form-action 'none'; frame-ancestors 'none'");
    rc = http_reply_data(req, 200, "text/html; charset=utf-8", buf_str(&b));
    buf_free(&b);
    web_end(&cx);
    return rc;
}

int pages_agreement_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct {
        unsigned methods;
        const char *path;
        http_handler_fn fn;
    } r[] = {
        {HTTP_GET, "/aftaler", h_list},
        {HTTP_GET | HTTP_POST, "/aftaler/ny", h_new},
        {HTTP_GET, "/aftaler/vis", h_view},
        {HTTP_POST, "/aftaler/underskriv", h_sign},
        {HTTP_POST, "/aftaler/beslut", h_decide},
        {HTTP_POST, "/aftaler/status", h_status},
        {HTTP_GET, "/aftaler/dokument", h_document},
        {HTTP_GET, "/gennemgang", h_queue},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = web_route(srv, r[i].methods, r[i].path, r[i].fn, w, WEB_FORM_MAX_BODY, err);
        if (rc)
            return rc;
    }
    return 0;
}
