/*
 * pages_template.c: agreement templates (#21.7).
 *
 *   GET  /aftaler/skabeloner             the published templates (a recipient), every
 *                                        template and the form for a new one (the data owner)
 *   POST /aftaler/skabeloner             save a new template (dataforvaltning)
 *   POST /aftaler/skabeloner/status      id, handling=offentliggoer|traek-tilbage
 *   POST /aftaler/skabeloner/brug        id: start a draft from it (processor), 303 to
 *                                        /aftaler/rediger?id= to complete it
 *
 * Every step goes through agreement_template_* and
 * agreement_create_from_template with the user as actor, so the module's
 * role rules decide.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

const char *const web_purpose_categories[WEB_PURPOSE_CATEGORIES][2] = {
    {"", "Ikke angivet"},
    {"sagsbehandling", "Sagsbehandling"},
    {"kontrol", "Kontrol"},
    {"analyse-og-machine-learning", "Analyse og machine learning"},
    {"statistik-og-forskning", "Statistik og forskning"},
};
const char *const web_recipient_kinds[WEB_RECIPIENT_KINDS][2] = {
    {"", "Ikke angivet"},
    {"offentlig-myndighed", "Offentlig myndighed"},
    {"privat-virksomhed", "Privat virksomhed"},
};

static const char *label_of(const char *const (*t)[2], size_t n, const char *value)
{
    for (size_t i = 1; value && i < n; i++)
        if (strcmp(t[i][0], value) == 0)
            return t[i][1];
    return t[0][1];
}

const char *web_purpose_category_label(const char *value)
{
    return label_of(web_purpose_categories, WEB_PURPOSE_CATEGORIES, value);
}

const char *web_recipient_kind_label(const char *value)
{
    return label_of(web_recipient_kinds, WEB_RECIPIENT_KINDS, value);
}

static bool kept_field(void *ctx, const char *svc, const char *field)
{
    const struct http_form *f = ctx;
    for (size_t i = 0; f && i < f->n; i++) {
        str_t s, fl;
        if (str_eq_cstr(f->names[i], "felt") && page_split_field(f->values[i], &s, &fl) &&
            str_eq_cstr(s, svc) && str_eq_cstr(fl, field))
            return true;
    }
    return false;
}

static void services_text(html_t *h, const json_t *services)
{
    const char *svc;
    json_t *fields;
    bool first = true;
    json_object_foreach((json_t *)services, svc, fields)
    {
        if (!first)
            HTML(h, "; ");
        first = false;
        html_textc(h, svc);
        HTML(h, " (");
        html_int(h, (int64_t)json_array_size(fields));
        if (json_array_size(fields) == 1)
            HTML(h, " felt)");
        else
            HTML(h, " felter)");
    }
}

static void template_form(struct web_ctx *cx, const struct form_errors *fe, bool post)
{
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    const struct http_form *k = post ? &cx->form : &empty;
    HTML(h, "<h2 id=\"ny-skabelon\">Ny skabelon</h2><form method=\"post\" "
            "action=\"/aftaler/skabeloner\" novalidate>");
    form_csrf(cx);
    form_input(cx, fe, "title", "Titel", "text", form_get(k, "title"), NULL);
    form_textarea(cx, fe, "purpose", "Formål", form_get(k, "purpose"),
                  "Forudfyldes i aftalen; aftageren kan uddybe det");
    form_select(cx, fe, "purpose_category", "Kategori", web_purpose_categories,
                WEB_PURPOSE_CATEGORIES, form_get(k, "purpose_category"), NULL);
    form_select(cx, fe, "recipient_kind", "Aftagertype", web_recipient_kinds, WEB_RECIPIENT_KINDS,
                form_get(k, "recipient_kind"), "Valgfrit");
    form_input(cx, fe, "law", "Hjemmel: lov", "text", form_get(k, "law"),
               "Fx Skatteforvaltningsloven");
    form_input(cx, fe, "section", "Hjemmel: paragraf", "text", form_get(k, "section"),
               "Fx § 17, stk. 1");
    HTML(h, "<h3 id=\"felter\">Data</h3>");
    const char *msg = form_error_for(fe, "felter");
    if (msg) {
        HTML(h, "<p class=\"form-error-message\"><span class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</p>");
    }
    page_agreement_field_boxes(cx, "skabelon-felt-", kept_field, (void *)k, NULL);
    HTML(h, "<div class=\"form-group-checkbox mt-5\"><input class=\"form-checkbox\" "
            "type=\"checkbox\" name=\"published\" id=\"published\" value=\"1\"");
    if (str_eq_cstr(form_get(k, "published"), "1"))
        HTML(h, " checked");
    HTML(h, "><label for=\"published\">Offentliggør skabelonen med det samme</label></div>"
            "<button class=\"button button-primary mt-6\" type=\"submit\">Gem skabelon</button>"
            "</form>");
}

static void list_page(struct web_ctx *cx, const struct form_errors *fe, bool post)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    json_t *list = NULL;
    err_t e;
    err_clear(&e);
    int rc = agreement_template_list(w->deps.agreement, &aa, &list, &e);
    bool owner = cx->actor.data_owner && identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING);
    bool processor = !cx->actor.data_owner && identity_actor_has(&cx->actor, ROLE_PROCESSOR);
    page_begin(cx, "Skabeloner for aftaler");
    str_t ok = web_query(cx->req, "ok");
    if (str_eq_cstr(ok, "gemt"))
        page_notice(cx, "success", "Skabelonen er gemt.");
    else if (str_eq_cstr(ok, "offentliggjort"))
        page_notice(cx, "success", "Skabelonen er offentliggjort: aftagerne kan bruge den.");
    else if (str_eq_cstr(ok, "trukket-tilbage"))
        page_notice(cx, "success",
                    "Skabelonen er trukket tilbage. Aftaler, der er startet ud fra den, berøres "
                    "ikke.");
    page_error_summary(cx, fe);
    HTML(h, "<p>Skatteforvaltningen udgiver skabeloner til almindelige formål, hvor tjenester, "
            "felter, hjemmel og hovedformål er udfyldt. En aftale, der startes ud fra en "
            "skabelon, er en kladde, som aftageren gør færdig og underskriver som enhver anden "
            "aftale.</p>");
    if (rc) {
        log_warn("web: templates: %s", e.log);
        page_notice(cx, "warning", "Skabelonerne kunne ikke hentes lige nu.");
    } else if (json_array_size(list) == 0) {
        HTML(h, "<p>Der er ingen skabeloner.</p>");
    } else {
        HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
                "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>Skabeloner"
                "</caption><thead><tr><th scope=\"col\">Titel</th><th scope=\"col\">Hovedformål"
                "</th><th scope=\"col\">Hjemmel</th><th scope=\"col\">Data</th>");
        if (owner)
            HTML(h, "<th scope=\"col\">Status</th>");
        if (owner || processor)
            HTML(h, "<th scope=\"col\">Handling</th>");
        HTML(h, "</tr></thead><tbody>");
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            const char *id = page_json_str(t, "id");
            const char *title = page_json_str(t, "title");
            const json_t *lb = json_array_get(json_object_get(t, "legal_basis"), 0);
            bool published = json_is_true(json_object_get(t, "published"));
            HTML(h, "<tr><td>");
            html_textc(h, title);
            HTML(h, "</td><td>");
            html_textc(h, web_purpose_category_label(page_json_str(t, "purpose_category")));
            HTML(h, "</td><td>");
            html_textc(h, page_json_str(lb, "law"));
            HTML(h, " ");
            html_textc(h, page_json_str(lb, "section"));
            HTML(h, "</td><td>");
            services_text(h, json_object_get(t, "services"));
            HTML(h, "</td>");
            if (owner) {
                HTML(h, "<td>");
                if (published)
                    HTML(h, "Offentliggjort");
                else
                    HTML(h, "Ikke offentliggjort");
                HTML(h, "</td><td><form method=\"post\" action=\"/aftaler/skabeloner/status\">");
                form_csrf(cx);
                HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
                html_attrc(h, id);
                if (published)
                    HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                            "name=\"handling\" value=\"traek-tilbage\">Træk tilbage");
                else
                    HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                            "name=\"handling\" value=\"offentliggoer\">Offentliggør");
                HTML(h, "<span class=\"sr-only\"> ");
                html_textc(h, title);
                HTML(h, "</span></button></form></td>");
            } else if (processor) {
                HTML(h, "<td><form method=\"post\" action=\"/aftaler/skabeloner/brug\">");
                form_csrf(cx);
                HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
                html_attrc(h, id);
                HTML(h, "\"><button class=\"button button-primary\" type=\"submit\">Start en "
                        "aftale<span class=\"sr-only\"> ud fra ");
                html_textc(h, title);
                HTML(h, "</span></button></form></td>");
            }
            HTML(h, "</tr>");
        }
        HTML(h, "</tbody></table></div>");
    }
    json_decref(list);
    if (owner)
        template_form(cx, fe, post);
    page_end(cx);
}

/* The template from the form; messages for what is missing. */
static json_t *template_from_form(struct web_ctx *cx, struct form_errors *fe)
{
    const struct http_form *f = &cx->form;
    str_t title = form_get(f, "title"), purpose = form_get(f, "purpose");
    str_t law = form_get(f, "law"), section = form_get(f, "section");
    str_t cat = form_get(f, "purpose_category"), kind = form_get(f, "recipient_kind");
    if (title.len == 0)
        form_error(fe, "title", "Skriv en titel.");
    if (cat.len == 0)
        form_error(fe, "purpose_category", "Vælg hovedformålet.");
    if (law.len == 0)
        form_error(fe, "law", "Skriv den lov, der giver hjemmel.");
    if (section.len == 0)
        form_error(fe, "section", "Skriv paragraffen.");
    json_t *services = json_object();
    for (size_t i = 0; i < f->n; i++) {
        str_t svc, field;
        if (str_eq_cstr(f->names[i], "felt") && page_split_field(f->values[i], &svc, &field) &&
            svc.len <= AGREEMENT_FIELD_NAME_MAX && field.len <= AGREEMENT_FIELD_NAME_MAX) {
            char *s = web_cstr(cx->req, svc);
            json_t *l = json_object_get(services, s);
            if (!l) {
                l = json_array();
                json_object_set_new(services, s, l);
            }
            json_array_append_new(l, json_stringn(field.ptr, field.len));
        }
    }
    if (json_object_size(services) == 0)
        form_error(fe, "felter", "Vælg mindst ét felt.");
    json_t *t = json_object();
    json_object_set_new(t, "title", json_stringn(title.ptr, title.len));
    if (purpose.len)
        json_object_set_new(t, "purpose", json_stringn(purpose.ptr, purpose.len));
    json_object_set_new(t, "purpose_category", json_stringn(cat.ptr, cat.len));
    if (kind.len)
        json_object_set_new(t, "recipient_kind", json_stringn(kind.ptr, kind.len));
    json_object_set_new(
        t, "legal_basis",
        json_pack("[{s:s%, s:s%}]", "law", law.ptr, law.len, "section", section.ptr, section.len));
    json_object_set_new(t, "services", services);
    json_object_set_new(t, "published", json_boolean(str_eq_cstr(form_get(f, "published"), "1")));
    return t;
}

static int h_templates(struct web_ctx *cx, err_t *err)
{
    (void)err;
    struct form_errors fe = {0};
    unsigned status = 200;
    bool post = http_req_method(cx->req) == HTTP_POST;
    if (post) {
        json_t *t = template_from_form(cx, &fe);
        if (fe.n == 0) {
            struct agreement_actor aa;
            web_agreement_actor(cx, &aa);
            err_t e;
            err_clear(&e);
            int rc = agreement_template_save(cx->w->deps.agreement, &aa, t, NULL, &e);
            if (rc == 0) {
                json_decref(t);
                return web_redirect(cx->req, "/aftaler/skabeloner?ok=gemt");
            }
            const char *form_id = "";
            const char *msg =
                rc == DUPLA_EINVAL ? page_agreement_member_error(cx, &e, &form_id) : NULL;
            if (msg)
                form_error(&fe, form_id, msg);
            else if (rc == DUPLA_EFORBIDDEN)
                form_error(&fe, "",
                           "Kun Skatteforvaltningens dataforvaltning kan gemme "
                           "skabeloner.");
            else {
                log_warn("web: template: %s", e.log);
                form_error(&fe, "", "Skabelonen kunne ikke gemmes lige nu. Prøv igen senere.");
            }
            status = page_agreement_refusal_status(rc);
        } else {
            status = 400;
        }
        json_decref(t);
    }
    list_page(cx, &fe, post);
    return web_reply_page(cx, status);
}

static int h_status(struct web_ctx *cx, err_t *err)
{
    (void)err;
    str_t action = form_get(&cx->form, "handling");
    bool publish = str_eq_cstr(action, "offentliggoer");
    struct form_errors fe = {0};
    if (!publish && !str_eq_cstr(action, "traek-tilbage")) {
        form_error(&fe, "", "Vælg at offentliggøre eller trække skabelonen tilbage.");
        list_page(cx, &fe, false);
        return web_reply_page(cx, 400);
    }
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    err_t e;
    err_clear(&e);
    int rc = agreement_template_publish(cx->w->deps.agreement, &aa, form_get(&cx->form, "id"),
                                        publish, &e);
    if (rc == 0)
        return web_redirect(cx->req, publish ? "/aftaler/skabeloner?ok=offentliggjort"
                                             : "/aftaler/skabeloner?ok=trukket-tilbage");
    form_error(&fe, "",
               rc == DUPLA_EFORBIDDEN
                   ? "Kun Skatteforvaltningens dataforvaltning kan offentliggøre skabeloner."
               : rc == DUPLA_ENOTFOUND ? "Skabelonen findes ikke."
                                       : "Skabelonen kunne ikke ændres lige nu.");
    list_page(cx, &fe, false);
    return web_reply_page(cx, page_agreement_refusal_status(rc));
}

static int h_use(struct web_ctx *cx, err_t *err)
{
    (void)err;
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    char id[AGREEMENT_ID_LEN + 1];
    err_t e;
    err_clear(&e);
    int rc =
        agreement_create_from_template(cx->w->deps.agreement, &aa, cx->w->deps.cfg->environment,
                                       form_get(&cx->form, "id"), id, &e);
    if (rc == 0) {
        char *loc = arena_printf(http_req_arena(cx->req), "/aftaler/rediger?id=%s", id);
        return web_redirect(cx->req, loc ? loc : "/aftaler");
    }
    struct form_errors fe = {0};
    form_error(&fe, "",
               rc == DUPLA_EFORBIDDEN
                   ? "Du kan ikke udarbejde en aftale: det kræver rollen behandler i en "
                     "aftagerorganisation."
               : rc == DUPLA_ENOTFOUND ? "Skabelonen findes ikke eller er trukket tilbage."
                                       : "Aftalen kunne ikke startes lige nu.");
    if (rc != DUPLA_EFORBIDDEN && rc != DUPLA_ENOTFOUND)
        log_warn("web: draft from template: %s", e.log);
    list_page(cx, &fe, false);
    return web_reply_page(cx, page_agreement_refusal_status(rc));
}

static const struct http_param q_list[] = {
    {"ok", HTTP_PARAM_ENUM,
     .values = (const char *const[]){"gemt", "offentliggjort", "trukket-tilbage", NULL}},
    {0}};

int pages_template_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET | HTTP_POST, "/aftaler/skabeloner", NULL, 0, h_templates, .query = q_list},
        {HTTP_POST, "/aftaler/skabeloner/status", NULL, 0, h_status, .query = http_params_none},
        {HTTP_POST, "/aftaler/skabeloner/brug", NULL, 0, h_use, .query = http_params_none},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
