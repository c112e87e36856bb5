/*
 * pages_agreement.c: agreements. The list, the data owner's review queue,
 * signing, the decision, the printable document, and the routes of every
 * agreement page (the form, one agreement and the ending steps have their
 * own files, see pages_agreement.h).
 *
 *   GET  /aftaler               the organisation's agreements (all, for the data owner)
 *   GET  /aftaler/ny            the draft form
 *   POST /aftaler/ny            create the draft (processor), 303 to /aftaler/vis?id=
 *   GET  /aftaler/rediger?id=   edit the pending draft, or ask for a change of an
 *                               approved agreement (processor)
 *   POST /aftaler/rediger       id + the form: agreement_edit
 *   GET  /aftaler/vis?id=       one agreement
 *   POST /aftaler/underskriv    id: sign (signatory; four eyes)
 *   POST /aftaler/beslut        id, handling=godkend|afvis|returner, vurdering,
 *                               begrundelse, felt (the fields granted): the data owner
 *   POST /aftaler/status        id, handling=traek-tilbage|opsig|suspender|genaktiver|
 *                               tilbagekald and its reason
 *   GET  /aftaler/dokument?id=  the printable document
 *   GET  /gennemgang            applications and changes waiting for the data owner
 *
 * Every step goes through agreement_* with the user as actor (adapter in
 * context.c), so the module's role rules and four eyes decide; its refusals
 * reach the page in Danish (page_agreement_refusal).
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

/* See pages_agreement.h. */
const char *page_json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* See pages_agreement.h. */
bool page_split_field(str_t v, str_t *svc, str_t *field)
{
    /* at the last '/': a service path may hold '/' (Kontrolregistreringer/
     * Virksomhed), a field name never does */
    size_t i = v.len;
    while (i > 0 && v.ptr[i - 1] != '/')
        i--;
    if (i == 0)
        return false;
    *svc = (str_t){v.ptr, i - 1};
    *field = (str_t){v.ptr + i, v.len - i};
    return svc->len && field->len;
}

/* ---- the list ---- */

/* The summaries; in the review queue with a column saying whether each is
 * a new application or a change of an approved agreement. */
static void list_table(struct web_ctx *cx, json_t *list, const char *caption, bool queue)
{
    html_t *h = &cx->h;
    if (json_array_size(list) == 0) {
        HTML(h, "<p>Der er ingen aftaler.</p>");
        return;
    }
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>");
    html_textc(h, caption);
    HTML(h, "</caption><thead><tr><th scope=\"col\">Titel</th>");
    if (queue)
        HTML(h, "<th scope=\"col\">Type</th>");
    HTML(h, "<th scope=\"col\">CVR</th>"
            "<th scope=\"col\">Status</th><th scope=\"col\">Gyldig fra</th>"
            "<th scope=\"col\">Gyldig til</th></tr></thead><tbody>");
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *title = page_json_str(a, "title");
        HTML(h, "<tr><td><a href=\"/aftaler/vis?id=");
        html_urlc(h, page_json_str(a, "id"));
        HTML(h, "\">");
        html_textc(h, title[0] ? title : "(uden titel)");
        HTML(h, "</a></td><td>");
        const char *status = page_json_str(a, "status");
        bool change = strcmp(page_json_str(a, "pending_state"), "") != 0 &&
                      (strcmp(status, "approved") == 0 || strcmp(status, "suspended") == 0);
        if (queue) {
            if (change)
                HTML(h, "<strong>Ændring</strong>");
            else
                HTML(h, "Ny ansøgning");
            HTML(h, "</td><td>");
        }
        html_textc(h, page_json_str(a, "organisation_cvr"));
        HTML(h, "</td><td>");
        html_textc(h, web_state_label(status));
        if (change && !queue)
            HTML(h, " (ændring på vej)");
        HTML(h, "</td><td>");
        html_textc(h, page_json_str(a, "valid_from"));
        HTML(h, "</td><td>");
        html_textc(h, json_is_string(json_object_get(a, "valid_to")) ? page_json_str(a, "valid_to")
                                                                     : "Uden slutdato");
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
}

static int list_page(struct web_ctx *cx, bool queue)
{
    web_t *w = cx->w;
    html_t *h = &cx->h;
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    struct agreement_filter f = {.org_cvr = NULL, .state = -1, .awaiting_review = queue};
    json_t *list = NULL;
    err_t e;
    err_clear(&e);
    int rc = agreement_list(w->deps.agreement, &aa, &f, &list, &e);
    page_begin(cx, queue ? "Aftaler til gennemgang" : "Aftaler");
    if (rc != 0) {
        log_warn("web: agreement list: %s", e.log);
        page_notice(cx, "warning", "Aftalerne kunne ikke hentes lige nu.");
    } else {
        if (queue)
            HTML(h, "<p>Underskrevne ansøgninger og ændringer af godkendte aftaler, der venter "
                    "på dataejerens afgørelse. Ved en ændring gælder den godkendte version, "
                    "indtil ændringen er godkendt.</p>");
        else if (identity_actor_has(&cx->actor, ROLE_PROCESSOR))
            HTML(h, "<p><a class=\"button button-primary\" href=\"/aftaler/ny\">Ny aftale</a> "
                    "<a class=\"button button-secondary\" href=\"/aftaler/skabeloner\">Start ud "
                    "fra en skabelon</a></p>");
        else if (cx->actor.data_owner)
            HTML(h, "<p><a href=\"/aftaler/skabeloner\">Skabeloner for aftaler</a></p>");
        list_table(cx, list, queue ? "Til gennemgang" : "Aftaler", queue);
        if (queue)
            pages_enrol_queue_note(cx);
    }
    json_decref(list);
    page_end(cx);
    return web_reply_page(cx, 200);
}

static int h_list(struct web_ctx *cx, err_t *err)
{
    (void)err;
    return list_page(cx, false);
}

static int h_queue(struct web_ctx *cx, err_t *err)
{
    (void)err;
    return list_page(cx, true);
}

/* ---- one agreement ---- */

static int h_view(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    unsigned status = 200;
    page_agreement_view(cx, web_query(req, "id"), NULL, &status);
    return web_reply_page(cx, status);
}

static int h_sign(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    str_t id = form_get(&cx->form, "id");
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    err_t e;
    err_clear(&e);
    int rc = agreement_sign(w->deps.agreement, &aa, id, &e);
    if (rc == 0) {
        char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=underskrevet",
                                 web_cstr(req, id));
        return web_redirect(req, loc ? loc : "/aftaler");
    }
    log_info("web: signing refused: %s", e.log);
    struct form_errors fe = {0};
    form_error(&fe, "underskriv", page_agreement_refusal(cx, id, AGREEMENT_SIGN, rc, &e));
    unsigned status = page_agreement_refusal_status(rc);
    page_agreement_view(cx, id, &fe, &status);
    return web_reply_page(cx, status);
}

static int h_decide(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    str_t id = form_get(&cx->form, "id");
    str_t action = form_get(&cx->form, "handling");
    const char *assessment = web_cstr(req, form_get(&cx->form, "vurdering"));
    const char *reason = web_cstr(req, form_get(&cx->form, "begrundelse"));
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc = 0;
    const char *ok = NULL;
    enum agreement_action step = AGREEMENT_APPROVE;
    if (strlen(reason) > AGREEMENT_REASON_MAX)
        form_error(&fe, "begrundelse", "Begrundelsen må højst være 2000 tegn.");
    if (str_eq_cstr(action, "godkend")) {
        if (!assessment[0])
            form_error(&fe, "vurdering", "Skriv proportionalitetsvurderingen.");
        else if (strlen(assessment) > AGREEMENT_ASSESSMENT_MAX)
            form_error(&fe, "vurdering", "Vurderingen må højst være 8000 tegn.");
        json_t *granted = json_object();
        for (size_t i = 0; i < cx->form.n; i++) {
            str_t svc, field;
            if (str_eq_cstr(cx->form.names[i], "felt") &&
                page_split_field(cx->form.values[i], &svc, &field)) {
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
        step = str_eq_cstr(action, "afvis") ? AGREEMENT_REJECT : AGREEMENT_RETURN;
        if (!reason[0])
            form_error(&fe, "begrundelse", "Skriv en begrundelse.");
        else if (fe.n == 0 && step == AGREEMENT_REJECT) {
            rc = agreement_reject(w->deps.agreement, &aa, id, reason, &e);
            ok = "afvist";
        } else if (fe.n == 0) {
            rc = agreement_return(w->deps.agreement, &aa, id, reason, &e);
            ok = "returneret";
        }
    } else {
        form_error(&fe, "", "Vælg godkend, send tilbage eller afvis.");
    }
    if (fe.n == 0 && rc == 0 && ok) {
        char *loc =
            arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=%s", web_cstr(req, id), ok);
        return web_redirect(req, loc ? loc : "/gennemgang");
    }
    if (rc != 0) {
        if (strcmp(e.param, "reason") == 0)
            form_error(&fe, "begrundelse", "Skriv en begrundelse for at bevilge færre felter.");
        else if (strcmp(e.param, "assessment") == 0)
            form_error(&fe, "vurdering", "Skriv proportionalitetsvurderingen.");
        else
            form_error(&fe, "", page_agreement_refusal(cx, id, step, rc, &e));
    }
    unsigned status = rc ? page_agreement_refusal_status(rc) : 400;
    page_agreement_view(cx, id, &fe, &status);
    return web_reply_page(cx, status);
}

/* The printable agreement document, as the agreement module renders it (every
 * value escaped there). Its own style sheet is inline, so this page has its
 * own policy: no script, no requests at all, inline style only. */
static int h_document(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    buf_t b;
    buf_init(&b, HTML_PAGE_MAX);
    err_t e;
    err_clear(&e);
    int rc = agreement_document_html(w->deps.agreement, &aa, web_query(req, "id"), &b, &e);
    if (rc != 0) {
        buf_free(&b);
        return web_reply_message(cx, 404, "Aftale",
                                 "Aftalen findes ikke, eller du har ikke adgang til den.");
    }
    web_security_headers_csp(req, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                  "form-action 'none'; frame-ancestors 'none'");
    rc = http_reply_data(req, 200, "text/html; charset=utf-8", buf_str(&b));
    buf_free(&b);
    return rc;
}

#define ID_PARAM                                                                                   \
    {                                                                                              \
        "id", HTTP_PARAM_STRING, .max = AGREEMENT_ID_LEN                                           \
    }
static const struct http_param q_id[] = {ID_PARAM, {0}};
static const struct http_param q_view[] = {ID_PARAM, WEB_PARAM_OK, {0}};

int pages_agreement_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/aftaler", NULL, 0, h_list},
        {HTTP_GET | HTTP_POST, "/aftaler/ny", NULL, 0, page_agreement_new},
        {HTTP_GET | HTTP_POST, "/aftaler/rediger", NULL, 0, page_agreement_edit, .query = q_id},
        {HTTP_GET, "/aftaler/vis", NULL, 0, h_view, .query = q_view},
        {HTTP_POST, "/aftaler/underskriv", NULL, 0, h_sign},
        {HTTP_POST, "/aftaler/beslut", NULL, 0, h_decide},
        {HTTP_POST, "/aftaler/status", NULL, 0, page_agreement_status},
        {HTTP_POST, "/aftaler/budget", NULL, 0, page_agreement_budget_post},
        {HTTP_GET, "/aftaler/dokument", NULL, 0, h_document, .query = q_id},
        {HTTP_GET, "/gennemgang", NULL, 0, h_queue},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
