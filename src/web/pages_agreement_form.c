/*
 * pages_agreement_form.c: the application form, for a new draft, for
 * editing the pending draft (also one the data owner returned) and for a
 * change request on an approved agreement (agreement_edit then makes a new
 * draft version while the approved one keeps serving).
 *
 *   GET|POST /aftaler/ny              a new draft (processor)
 *   GET      /aftaler/rediger?id=     the form, prefilled from the pending
 *                                     version, else from the serving one
 *   POST     /aftaler/rediger         id + the form: agreement_edit
 *
 * The form is the same in the three cases; what was typed is kept on every
 * error. The page checks presence, dates and lengths; the module checks the
 * rest (catalogue, systems, roles, states) and its refusals come back in
 * Danish at the field they concern.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

/* What differs between the three uses of the form. */
struct draft_form {
    const char *title;  /* the page's heading */
    const char *action; /* where the form posts */
    str_t id;           /* the agreement (edit), else empty */
    const char *intro;  /* a paragraph above the form, or NULL */
    const char *button;
    const json_t *extra_bases; /* legal bases beyond the first, kept as they are */
};

struct systems_ctx {
    struct web_ctx *cx;
    const struct http_form *kept;
    int n;
};

static bool kept_has(const struct http_form *f, const char *name, const char *value)
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

/* See pages_agreement.h. */
void page_agreement_field_boxes(struct web_ctx *cx, const char *prefix,
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
    const struct http_form *f = ctx;
    for (size_t i = 0; f && i < f->n; i++) {
        str_t s, fl;
        if (str_eq_cstr(f->names[i], "felt") && page_split_field(f->values[i], &s, &fl) &&
            str_eq_cstr(s, svc) && str_eq_cstr(fl, field))
            return true;
    }
    return false;
}

static void draft_page(struct web_ctx *cx, const struct draft_form *df,
                       const struct form_errors *fe, const struct http_form *kept)
{
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    const struct http_form *k = kept ? kept : &empty;
    page_begin(cx, df->title);
    page_error_summary(cx, fe);
    if (df->intro) {
        HTML(h, "<p>");
        html_textc(h, df->intro);
        HTML(h, "</p>");
    }
    HTML(h, "<form method=\"post\" action=\"");
    html_attrc(h, df->action);
    HTML(h, "\" novalidate>");
    form_csrf(cx);
    if (df->id.len) {
        HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
        html_attr(h, df->id);
        HTML(h, "\">");
    }
    form_input(cx, fe, "title", "Titel", "text", form_get(k, "title"), NULL);
    form_textarea(cx, fe, "purpose", "Formål", form_get(k, "purpose"),
                  "Hvad skal data bruges til, og hvorfor er de nødvendige?");
    form_select(cx, fe, "purpose_category", "Kategori", web_purpose_categories,
                WEB_PURPOSE_CATEGORIES, form_get(k, "purpose_category"), NULL);
    form_select(cx, fe, "recipient_kind", "Aftageren er", web_recipient_kinds, WEB_RECIPIENT_KINDS,
                form_get(k, "recipient_kind"), NULL);
    form_input(cx, fe, "law", "Hjemmel: lov", "text", form_get(k, "law"),
               "Fx Skatteforvaltningsloven");
    form_input(cx, fe, "section", "Hjemmel: paragraf", "text", form_get(k, "section"),
               "Fx § 17, stk. 1");
    if (json_array_size(df->extra_bases)) {
        HTML(h, "<p>Øvrig hjemmel i ansøgningen, som bevares uændret: ");
        size_t i;
        json_t *lb;
        json_array_foreach(df->extra_bases, i, lb)
        {
            if (i)
                HTML(h, "; ");
            html_textc(h, page_json_str(lb, "law"));
            HTML(h, " ");
            html_textc(h, page_json_str(lb, "section"));
        }
        HTML(h, ".</p>");
    }
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
    HTML(h, "<fieldset class=\"mt-5\"><legend class=\"h3\">Systemer</legend>");
    const char *smsg = form_error_for(fe, "system-0");
    if (smsg) {
        HTML(h, "<p class=\"form-error-message\"><span class=\"sr-only\">Fejl: </span>");
        html_textc(h, smsg);
        HTML(h, "</p>");
    }
    HTML(h, "<p class=\"form-hint\">Vælg de systemer, der må hente data. Vælger du ingen, gælder "
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
    page_agreement_field_boxes(cx, "felt-", kept_field, (void *)k, NULL);
    HTML(h, "<button class=\"button button-primary mt-6\" type=\"submit\">");
    html_textc(h, df->button);
    HTML(h, "</button></form>");
    if (df->id.len) {
        HTML(h, "<p class=\"mt-5\"><a href=\"/aftaler/vis?id=");
        html_url(h, df->id);
        HTML(h, "\">Tilbage til aftalen uden at gemme</a></p>");
    }
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

/* A text input that must be given (unless optional) and not longer than
 * max bytes, the module's limit. */
static void check_text(struct form_errors *fe, const char *field, str_t v, size_t max,
                       const char *missing, const char *too_long)
{
    if (v.len == 0 && missing)
        form_error(fe, field, missing);
    else if (v.len > max)
        form_error(fe, field, too_long);
}

/* Builds the application from the form; messages for what is missing or
 * too long. base (may be NULL) is the version edited: what the form does not
 * show (the expected volume, legal bases beyond the first) is kept from it.
 * Key and platform fields are not offered (they are sent with every record
 * whatever is granted), so an edit drops them from an application that
 * asked for them; the decision form grants business fields only as well.
 * The caller owns the result. */
static json_t *application_from_form(struct web_ctx *cx, struct form_errors *fe, const json_t *base)
{
    const struct http_form *f = &cx->form;
    str_t title = form_get(f, "title"), purpose = form_get(f, "purpose");
    str_t law = form_get(f, "law"), section = form_get(f, "section");
    str_t from = form_get(f, "valid_from"), to = form_get(f, "valid_to");
    check_text(fe, "title", title, AGREEMENT_TITLE_MAX, "Skriv en titel.",
               "Titlen må højst være 200 tegn.");
    check_text(fe, "purpose", purpose, AGREEMENT_PURPOSE_MAX, "Beskriv formålet.",
               "Formålet må højst være 4000 tegn.");
    check_text(fe, "law", law, AGREEMENT_LAW_MAX, "Skriv den lov, der giver hjemmel.",
               "Loven må højst være 300 tegn.");
    check_text(fe, "section", section, AGREEMENT_SECTION_MAX, "Skriv paragraffen.",
               "Paragraffen må højst være 100 tegn.");
    if (!valid_date(from))
        form_error(fe, "valid_from", "Skriv startdatoen som åååå-mm-dd.");
    if (to.len && !valid_date(to))
        form_error(fe, "valid_to", "Skriv slutdatoen som åååå-mm-dd, eller lad feltet stå tomt.");
    else if (to.len && valid_date(from) && memcmp(to.ptr, from.ptr, 10) < 0)
        form_error(fe, "valid_to", "Slutdatoen ligger før startdatoen.");
    json_t *services = json_object(), *systems = json_array();
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
        } else if (str_eq_cstr(f->names[i], "systems") && f->values[i].len &&
                   f->values[i].len < AGREEMENT_SYSTEM_MAX) {
            json_array_append_new(systems, json_stringn(f->values[i].ptr, f->values[i].len));
        }
    }
    str_t cname = form_get(f, "contact_name"), cmail = form_get(f, "contact_email");
    str_t cphone = form_get(f, "contact_phone");
    check_text(fe, "contact_name", cname, AGREEMENT_CONTACT_MAX, "Skriv kontaktpersonens navn.",
               "Navnet må højst være 200 tegn.");
    check_text(fe, "contact_email", cmail, AGREEMENT_CONTACT_MAX,
               "Skriv kontaktpersonens e-mailadresse.", "E-mailadressen må højst være 200 tegn.");
    check_text(fe, "contact_phone", cphone, AGREEMENT_CONTACT_MAX, NULL,
               "Telefonnummeret må højst være 200 tegn.");
    if (json_array_size(systems) > AGREEMENT_SYSTEMS_MAX)
        form_error(fe, "system-0", "Vælg højst 64 systemer, eller ingen for alle.");
    if (json_object_size(services) == 0)
        form_error(fe, "felter", "Vælg mindst ét felt.");
    json_t *app = json_object();
    json_object_set_new(app, "title", json_stringn(title.ptr, title.len));
    json_object_set_new(app, "purpose", json_stringn(purpose.ptr, purpose.len));
    str_t cat = form_get(f, "purpose_category"), kind = form_get(f, "recipient_kind");
    json_object_set_new(app, "purpose_category",
                        cat.len ? json_stringn(cat.ptr, cat.len) : json_null());
    json_object_set_new(app, "recipient_kind",
                        kind.len ? json_stringn(kind.ptr, kind.len) : json_null());
    json_t *bases =
        json_pack("[{s:s%, s:s%}]", "law", law.ptr, law.len, "section", section.ptr, section.len);
    const json_t *old_bases = json_object_get(base, "legal_basis");
    for (size_t i = 1; i < json_array_size(old_bases); i++)
        json_array_append(bases, json_array_get(old_bases, i));
    json_object_set_new(app, "legal_basis", bases);
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
    json_t *volume = json_object_get(base, "expected_volume");
    if (json_is_object(volume))
        json_object_set(app, "expected_volume", volume);
    return app;
}

/* The form's fields as the application app holds them (the prefill of the
 * edit form). Memory from the request's arena; false when it ran out. */
static bool form_from_application(http_request_t *req, const json_t *app, struct http_form *out)
{
    arena_t *a = http_req_arena(req);
    const json_t *services = json_object_get(app, "services");
    const json_t *systems = json_object_get(app, "systems");
    size_t cap = 11 + (json_is_array(systems) ? json_array_size(systems) : 0);
    const char *svc;
    json_t *fields;
    json_object_foreach((json_t *)services, svc, fields) cap += json_array_size(fields);
    out->n = 0;
    out->names = arena_alloc(a, cap * sizeof *out->names);
    out->values = arena_alloc(a, cap * sizeof *out->values);
    if (!out->names || !out->values)
        return false;
#define PUT(name, value)                                                                           \
    do {                                                                                           \
        const char *v_ = (value);                                                                  \
        out->names[out->n] = str_from_cstr(name);                                                  \
        out->values[out->n] = str_from_cstr(v_ ? v_ : "");                                         \
        out->n++;                                                                                  \
    } while (0)
    const json_t *lb = json_array_get(json_object_get(app, "legal_basis"), 0);
    const json_t *contact = json_object_get(app, "contact");
    PUT("title", page_json_str(app, "title"));
    PUT("purpose", page_json_str(app, "purpose"));
    PUT("purpose_category", page_json_str(app, "purpose_category"));
    PUT("recipient_kind", page_json_str(app, "recipient_kind"));
    PUT("law", page_json_str(lb, "law"));
    PUT("section", page_json_str(lb, "section"));
    PUT("valid_from", page_json_str(app, "valid_from"));
    PUT("valid_to", page_json_str(app, "valid_to"));
    PUT("contact_name", page_json_str(contact, "name"));
    PUT("contact_email", page_json_str(contact, "email"));
    PUT("contact_phone", page_json_str(contact, "phone"));
    size_t i;
    json_t *v;
    if (json_is_array(systems)) {
        json_array_foreach(systems, i, v)
        {
            PUT("systems", json_string_value(v));
        }
    }
    json_object_foreach((json_t *)services, svc, fields)
    {
        json_array_foreach(fields, i, v)
        {
            const char *name = json_string_value(v);
            PUT("felt", name ? arena_printf(a, "%s/%s", svc, name) : NULL);
        }
    }
#undef PUT
    return true;
}

/* The module's refusal of a save (create or edit) as a message in fe;
 * returns the page's status. */
static unsigned save_refused(struct web_ctx *cx, str_t id, enum agreement_action action, int rc,
                             const err_t *e, struct form_errors *fe)
{
    const char *form_id = "";
    const char *msg = rc == DUPLA_EINVAL ? page_agreement_member_error(cx, e, &form_id) : NULL;
    if (msg) {
        form_error(fe, form_id, msg);
        return 400;
    }
    if (action == AGREEMENT_CREATE) {
        if (rc == DUPLA_EFORBIDDEN)
            form_error(fe, "",
                       "Du kan ikke udarbejde en aftale: det kræver rollen behandler i en "
                       "aftagerorganisation.");
        else
            form_error(fe, "", "Aftalen kunne ikke gemmes lige nu. Prøv igen senere.");
    } else {
        form_error(fe, "", page_agreement_refusal(cx, id, action, rc, e));
    }
    return page_agreement_refusal_status(rc);
}

/* See pages_agreement.h. */
int page_agreement_new(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    unsigned status = 200;
    if (http_req_method(req) == HTTP_POST) {
        json_t *app = application_from_form(cx, &fe, NULL);
        if (fe.n == 0) {
            struct agreement_actor aa;
            web_agreement_actor(cx, &aa);
            char id[AGREEMENT_ID_LEN + 1];
            err_t e;
            err_clear(&e);
            int rc =
                agreement_create(w->deps.agreement, &aa, w->deps.cfg->environment, app, id, &e);
            if (rc == 0) {
                json_decref(app);
                char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=kladde", id);
                return web_redirect(req, loc ? loc : "/aftaler");
            }
            log_info("web: draft refused: %s", e.log);
            status = save_refused(cx, (str_t){0}, AGREEMENT_CREATE, rc, &e, &fe);
        } else {
            status = 400;
        }
        json_decref(app);
    }
    struct draft_form df = {.title = "Ny aftale", .action = "/aftaler/ny", .button = "Gem kladde"};
    draft_page(cx, &df, &fe, http_req_method(req) == HTTP_POST ? &cx->form : NULL);
    return web_reply_page(cx, status);
}

/* Whether the edit form may be offered at all (the module decides again on
 * the post): 0, or the refusal the module would give. */
static int edit_precheck(const struct web_ctx *cx, const json_t *pending, const json_t *serving)
{
    if (cx->actor.data_owner || !identity_actor_has(&cx->actor, ROLE_PROCESSOR))
        return DUPLA_EFORBIDDEN;
    if (json_is_object(pending))
        return strcmp(page_json_str(pending, "state"), "draft") == 0 ? 0 : DUPLA_ECONFLICT;
    const char *st = page_json_str(serving, "state");
    return strcmp(st, "approved") == 0 || strcmp(st, "suspended") == 0 ? 0 : DUPLA_ECONFLICT;
}

/* See pages_agreement.h. */
int page_agreement_edit(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    bool post = http_req_method(req) == HTTP_POST;
    str_t id = post ? form_get(&cx->form, "id") : web_query(req, "id");
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    json_t *doc = NULL;
    err_t e;
    err_clear(&e);
    int rc = agreement_document_json(w->deps.agreement, &aa, id, &doc, &e);
    if (rc != 0) {
        return web_reply_message(cx, 404, "Aftale",
                                 "Aftalen findes ikke, eller du har ikke adgang til den.");
    }
    const json_t *pending = json_object_get(doc, "pending");
    const json_t *serving = json_object_get(doc, "serving");
    bool change = !json_is_object(pending);
    const json_t *base_app = json_object_get(change ? serving : pending, "application");
    struct form_errors fe = {0};
    unsigned status = 200;
    if (!post) {
        int pre = edit_precheck(cx, pending, serving);
        if (pre) {
            const char *msg = page_agreement_refusal(cx, id, AGREEMENT_EDIT, pre, &e);
            rc = web_reply_message(cx, page_agreement_refusal_status(pre),
                                   change ? "Ansøg om ændring" : "Redigér kladde", msg);
            json_decref(doc);
            return rc;
        }
    } else {
        json_t *app = application_from_form(cx, &fe, base_app);
        if (fe.n == 0) {
            err_clear(&e);
            rc = agreement_edit(w->deps.agreement, &aa, id, app, &e);
            if (rc == 0) {
                json_decref(app);
                json_decref(doc);
                char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=%s",
                                         web_cstr(req, id), change ? "aendring" : "rettet");
                return web_redirect(req, loc ? loc : "/aftaler");
            }
            log_info("web: edit refused: %s", e.log);
            if (rc == DUPLA_EFORBIDDEN || rc == DUPLA_ENOTFOUND) {
                /* Not theirs to edit: no form to go on with. */
                json_decref(app);
                json_decref(doc);
                return web_reply_message(cx, page_agreement_refusal_status(rc),
                                         change ? "Ansøg om ændring" : "Redigér kladde",
                                         page_agreement_refusal(cx, id, AGREEMENT_EDIT, rc, &e));
            }
            status = save_refused(cx, id, AGREEMENT_EDIT, rc, &e, &fe);
        } else {
            status = 400;
        }
        json_decref(app);
    }
    struct http_form prefill;
    const struct http_form *kept = &cx->form;
    if (!post) {
        if (!form_from_application(req, base_app, &prefill)) {
            json_decref(doc);
            return web_reply_message(cx, 500, "Fejl", "Siden kunne ikke vises. Prøv igen.");
        }
        kept = &prefill;
    }
    const json_t *bases = json_object_get(base_app, "legal_basis");
    json_t *extra = json_array();
    for (size_t i = 1; i < json_array_size(bases); i++)
        json_array_append(extra, json_array_get(bases, i));
    struct draft_form df = {
        .title = change ? "Ansøg om ændring" : "Redigér kladde",
        .action = "/aftaler/rediger",
        .id = id,
        .intro = change ? "Den godkendte aftale gælder uændret, indtil Skatteforvaltningen har "
                          "godkendt ændringen. Ændringen gemmes som en kladde, som en anden "
                          "underskriver i organisationen skal underskrive (fire øjne)."
                        : "Ret ansøgningen. Den, der sidst har rettet den, kan ikke selv "
                          "underskrive den (fire øjne).",
        .button = change ? "Gem ændringen som kladde" : "Gem kladde",
        .extra_bases = extra,
    };
    draft_page(cx, &df, &fe, kept);
    json_decref(extra);
    json_decref(doc);
    return web_reply_page(cx, status);
}
