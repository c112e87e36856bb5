/*
 * pages_events.c: the subjects an organisation follows for its event lists
 * (hændelser, #21.1), per agreement.
 *
 *   GET  /haendelser    the organisation's approved agreements, how many
 *                       subjects each follows, the first of them, and a
 *                       form per agreement
 *   POST /haendelser    aftale, handling (erstat|tilfoej|fjern), liste (one
 *                       subject a line, as the API takes it): the list is
 *                       checked whole first; every bad line is named by its
 *                       number and nothing changes
 *
 * The organisation's administrators and processors change the lists; its
 * other users see them. The agreement must be the organisation's own (from
 * agreement_list, which shows a user only its organisation's). The same
 * functions serve the API (src/exposure/events.c), so the limits agree.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "events/events.h"
#include "web/internal.h"
#include "web/pages_agreement.h"

#define EVENTS_PAGE_SHOWN 20 /* followed subjects shown per agreement */
#define EVENTS_FORM_BODY  ((size_t)EVENTS_DEFAULT_MAX_FOLLOWED * 16)

static bool may_change(const struct web_ctx *cx)
{
    return web_is_admin(cx) || identity_actor_has(&cx->actor, ROLE_PROCESSOR);
}

/* The organisation's agreements (a new reference, or NULL). */
static json_t *own_agreements(struct web_ctx *cx)
{
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    struct agreement_filter f = {.org_cvr = cx->org.cvr, .state = -1};
    json_t *list = NULL;
    err_t e;
    err_clear(&e);
    if (agreement_list(cx->w->deps.agreement, &aa, &f, &list, &e) != 0) {
        log_warn("web: agreement list: %s", e.log);
        return NULL;
    }
    return list;
}

static bool usable(const json_t *a)
{
    const char *st = page_json_str(a, "status");
    return strcmp(st, "approved") == 0 || strcmp(st, "suspended") == 0;
}

static void agreement_section(struct web_ctx *cx, const json_t *a)
{
    html_t *h = &cx->h;
    const char *id = page_json_str(a, "id");
    const char *title = page_json_str(a, "title");
    HTML(h, "<section><h2>");
    html_textc(h, title[0] ? title : "(uden titel)");
    HTML(h, "</h2><p>Aftale <a href=\"/aftaler/vis?id=");
    html_urlc(h, id);
    HTML(h, "\">");
    html_textc(h, id);
    HTML(h, "</a>.</p>");
    int64_t count = 0;
    err_t e;
    err_clear(&e);
    struct events_followed rows[EVENTS_PAGE_SHOWN];
    size_t n = 0;
    if (events_count(cx->w->deps.store, str_from_cstr(id), &count, &e) != 0 ||
        events_list(cx->w->deps.store, str_from_cstr(id), NULL, rows, EVENTS_PAGE_SHOWN, &n, &e) !=
            0) {
        log_warn("web: event subscription: %s", e.log);
        page_notice(cx, "warning", "Listen kunne ikke hentes lige nu.");
    } else {
        char line[96];
        snprintf(line, sizeof line, "Følger %lld personer og virksomheder (højst %d).",
                 (long long)count, EVENTS_DEFAULT_MAX_FOLLOWED);
        HTML(h, "<p>");
        html_textc(h, line);
        HTML(h, "</p>");
        if (n > 0) {
            HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
                    "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>");
            html_textc(h, count > (int64_t)n ? "De første fulgte" : "Fulgte");
            HTML(h, "</caption><thead><tr><th scope=\"col\">Type</th><th scope=\"col\">Nummer"
                    "</th><th scope=\"col\">Fulgt siden</th></tr></thead><tbody>");
            for (size_t i = 0; i < n; i++) {
                char num[24], at[32];
                events_subject_text(&rows[i].subject, num, sizeof num);
                web_time(rows[i].added_ms, at);
                HTML(h, "<tr><td>");
                html_textc(h, events_kind_word(rows[i].subject.kind));
                HTML(h, "</td><td>");
                html_textc(h, num);
                HTML(h, "</td><td>");
                html_textc(h, at);
                HTML(h, "</td></tr>");
            }
            HTML(h, "</tbody></table></div>");
        }
    }
    HTML(h, "</section>");
}

static int subscription_page(struct web_ctx *cx, const struct form_errors *fe, unsigned status)
{
    html_t *h = &cx->h;
    page_begin(cx, "Hændelser");
    if (str_eq_cstr(web_query(cx->req, "ok"), "gemt"))
        page_notice(cx, "success", "Listen er gemt.");
    page_error_summary(cx, fe);
    HTML(h, "<p>Følg personer og virksomheder under en aftale, så jeres system kan hente "
            "hændelser (nye versioner, rettelser og tilbagekaldelser) i stedet for at spørge om "
            "alle igen: <code>GET /Haendelser</code>. Listen kan også sættes af systemet selv "
            "(<code>PUT /Haendelser/abonnement</code>).</p>");
    json_t *list = own_agreements(cx);
    size_t shown = 0;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        if (usable(a)) {
            agreement_section(cx, a);
            shown++;
        }
    }
    if (!list)
        page_notice(cx, "warning", "Aftalerne kunne ikke hentes lige nu.");
    else if (shown == 0)
        HTML(h, "<p>Organisationen har ingen godkendte aftaler.</p>");
    if (shown > 0 && may_change(cx)) {
        arena_t *ar = http_req_arena(cx->req);
        const char *(*opts)[2] = arena_alloc(ar, shown * sizeof *opts);
        size_t k = 0;
        json_array_foreach(list, i, a)
        {
            if (!opts || !usable(a))
                continue;
            const char *title = page_json_str(a, "title");
            opts[k][0] = page_json_str(a, "id");
            opts[k][1] = arena_printf(ar, "%s (%s)", title[0] ? title : "(uden titel)",
                                      page_json_str(a, "id"));
            k++;
        }
        bool post = http_req_method(cx->req) == HTTP_POST;
        static const char *const actions[][2] = {
            {"tilfoej", "Følg også disse"},
            {"erstat", "Erstat hele listen med disse"},
            {"fjern", "Følg ikke længere disse"},
        };
        HTML(h, "<h2>Ændr en liste</h2><form method=\"post\" action=\"/haendelser\" "
                "novalidate>");
        form_csrf(cx);
        if (opts)
            form_select(cx, fe, "aftale", "Aftale", (const char *const(*)[2])opts, k,
                        post ? form_get(&cx->form, "aftale") : STR(""), NULL);
        form_select(cx, fe, "handling", "Handling", actions, 3,
                    post ? form_get(&cx->form, "handling") : STR("tilfoej"), NULL);
        form_textarea(cx, fe, "liste", "Personer og virksomheder",
                      post ? form_get(&cx->form, "liste") : STR(""),
                      "Én pr. linje: et CPR-nummer (10 cifre), CVR 12345678 eller SE 12345678. "
                      "Linjer, der begynder med #, springes over.");
        HTML(h, "<button class=\"button button-primary\" type=\"submit\">Gem listen</button>"
                "</form>");
    }
    json_decref(list);
    page_end(cx);
    return web_reply_page(cx, status);
}

static int h_get(struct web_ctx *cx, err_t *err)
{
    (void)err;
    return subscription_page(cx, NULL, 200);
}

static int h_post(struct web_ctx *cx, err_t *err)
{
    (void)err;
    struct form_errors fe = {0};
    if (!may_change(cx)) {
        form_error(&fe, "", "Kun organisationens administratorer og behandlere kan ændre listen.");
        return subscription_page(cx, &fe, 403);
    }
    str_t id = form_get(&cx->form, "aftale");
    json_t *list = own_agreements(cx);
    bool own = false;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) own =
        own || (usable(a) && str_eq_cstr(id, page_json_str(a, "id")));
    json_decref(list);
    if (!own) {
        form_error(&fe, "aftale", "Vælg en af organisationens godkendte aftaler.");
        return subscription_page(cx, &fe, 400);
    }
    str_t action = form_get(&cx->form, "handling");
    bool replace = str_eq_cstr(action, "erstat"), remove = str_eq_cstr(action, "fjern");
    if (!replace && !remove && !str_eq_cstr(action, "tilfoej")) {
        form_error(&fe, "handling", "Vælg en handling.");
        return subscription_page(cx, &fe, 400);
    }
    arena_t *ar = http_req_arena(cx->req);
    struct events_subject *subjects;
    size_t n = 0, n_problems = 0;
    struct events_list_problem problems[WEB_ERRORS_MAX];
    int rc = events_list_parse(form_get(&cx->form, "liste"), EVENTS_DEFAULT_MAX_FOLLOWED, ar,
                               &subjects, &n, problems, WEB_ERRORS_MAX - 1, &n_problems);
    const char *fid = "liste";
    if (rc == DUPLA_EINVAL) {
        for (size_t k = 0; k < n_problems && k < WEB_ERRORS_MAX - 1; k++)
            form_error(&fe, fid,
                       arena_printf(ar, "Linje %ld: %s", problems[k].line, problems[k].reason));
        if (n_problems > WEB_ERRORS_MAX - 1)
            form_error(&fe, fid,
                       arena_printf(ar, "... og %zu fejl mere. Intet er ændret.",
                                    n_problems - (WEB_ERRORS_MAX - 1)));
        return subscription_page(cx, &fe, 400);
    }
    if (rc != 0)
        return rc;
    size_t added = 0, removed = 0;
    err_t e;
    err_clear(&e);
    int64_t now = clock_now_ms();
    store_t *st = cx->w->deps.store;
    if (remove)
        rc = events_unfollow(st, id, subjects, n, &removed, &e);
    else if (replace)
        rc = events_replace(st, id, subjects, n, EVENTS_DEFAULT_MAX_FOLLOWED, now, &added, &removed,
                            &e);
    else
        rc = events_follow(st, id, subjects, n, EVENTS_DEFAULT_MAX_FOLLOWED, now, &added, &e);
    if (rc == DUPLA_ELIMIT) {
        form_error(&fe, fid,
                   arena_printf(ar, "En aftale kan følge højst %d. Fjern nogle først.",
                                EVENTS_DEFAULT_MAX_FOLLOWED));
        return subscription_page(cx, &fe, 400);
    }
    if (rc != 0) {
        log_warn("web: event subscription: %s", e.log);
        form_error(&fe, "", "Listen kunne ikke gemmes lige nu. Prøv igen.");
        return subscription_page(cx, &fe, 503);
    }
    return web_redirect(cx->req, "/haendelser?ok=gemt");
}

static const struct http_param q_ok[] = {WEB_PARAM_OK, {0}};

int pages_events_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/haendelser", NULL, 0, h_get, .query = q_ok},
        {HTTP_POST, "/haendelser", NULL, EVENTS_FORM_BODY, h_post},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
