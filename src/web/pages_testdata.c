/*
 * pages_testdata.c: self-service test data in a test deployment (#20.6).
 *
 *   GET  /testdata            search the synthetic persons and companies by
 *                             what their stored data says (the parameters of
 *                             GET /api/testdata/subjects), and the change form
 *   POST /testdata/aendring   a change that makes a new version (and events):
 *                             a re-assessment, a corrected VAT return, a status
 *
 * The same calls as the API (src/testdata/), the same rule for who may
 * (web_actor_testdata), and a production deployment refuses both pages.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "testdata/routes.h"
#include "web/actor.h"
#include "web/internal.h"

#define STATUS_SERVICE "Virksomhedsstatus"
#define STATUS_FIELD   "VirksomhedStatusTypeKode"
#define CODES_MAX      16

/* The search's parameters with kind optional (the first visit shows the
 * form alone); the API's table otherwise. */
static const char *const kinds[] = {"person", "company", NULL};
static const struct http_param q_page[] = {
    {.name = "kind", .type = HTTP_PARAM_ENUM, .values = kinds},
    {.name = "year", .type = HTTP_PARAM_INT, .min = TESTDATA_YEAR_MIN, .max = TESTDATA_YEAR_MAX},
    {.name = "income_min", .type = HTTP_PARAM_INT, .min = 0, .max = TESTDATA_INCOME_MAX},
    {.name = "income_max", .type = HTTP_PARAM_INT, .min = 0, .max = TESTDATA_INCOME_MAX},
    {.name = "residual_tax", .type = HTTP_PARAM_BOOL},
    {.name = "excess_tax", .type = HTTP_PARAM_BOOL},
    {.name = "church_tax", .type = HTTP_PARAM_BOOL},
    {.name = "vat", .type = HTTP_PARAM_BOOL},
    {.name = "joint_taxation", .type = HTTP_PARAM_BOOL},
    {.name = "status", .type = HTTP_PARAM_STRING, .min = 1, .max = 8},
    {.name = "service", .type = HTTP_PARAM_STRING, .min = 1, .max = 128},
    {.name = "limit", .type = HTTP_PARAM_INT, .min = 1, .max = TESTDATA_SEARCH_LIMIT_MAX},
    {0},
};

/* A refusal of the search or a change in Danish, at the field it names. */
static const char *field_message(const char *param)
{
    static const char *const m[][2] = {
        {"kind", "Vælg person eller virksomhed."},
        {"year", "Skriv et indkomstår mellem 1990 og 2100."},
        {"income_min", "Skriv den mindste personlige indkomst i hele kroner, kun for personer."},
        {"income_max", "Skriv den største personlige indkomst i hele kroner, mindst den mindste."},
        {"residual_tax", "Restskat kan kun vælges for personer."},
        {"excess_tax", "Overskydende skat kan kun vælges for personer."},
        {"church_tax", "Kirkeskat kan kun vælges for personer."},
        {"vat", "Momspligt kan kun vælges for virksomheder."},
        {"joint_taxation", "Sambeskatning kan kun vælges for virksomheder."},
        {"status", "Vælg en status fra servicekataloget (kun for virksomheder)."},
        {"service", "Vælg en tjeneste, der har data om den valgte slags."},
        {"limit", "Skriv et antal mellem 1 og 100."},
        {"change", "Vælg en ændring."},
        {"subject", "Skriv et CPR-nummer (genoptagelse), et SE-nummer (momskorrektion) eller et "
                    "CVR-nummer (statusændring), som har data."},
        {"period_start", "Skriv momsperiodens første dag som åååå-mm-dd."},
        {"aendring", "Vælg en ændring."},
        {"nummer", "Skriv et CPR-nummer (genoptagelse), et SE-nummer (momskorrektion) eller et "
                   "CVR-nummer (statusændring), som har data."},
        {"aar", "Skriv indkomståret, fx 2024."},
        {"periode", "Skriv momsperiodens første dag som åååå-mm-dd."},
        {"ny_status", "Skriv en status fra servicekataloget, fx 2 eller 3."},
        {"kirkeskat", "Vælg ja, nej eller tilfældig."},
        {"skat", "Vælg restskat, overskydende skat eller tilfældig."},
        {"loen", "Skriv lønindkomsten i hele kroner, højst 100.000.000; med restskat eller "
                 "overskydende skat mindst 100.000."},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (param && strcmp(m[i][0], param) == 0)
            return m[i][1];
    return "Søgningen eller ændringen kunne ikke udføres.";
}

/* The form field of an API member in the change and person forms. */
static const char *form_field(const char *param)
{
    static const char *const m[][2] = {
        {"change", "aendring"},      {"subject", "nummer"},   {"year", "aar"},
        {"period_start", "periode"}, {"status", "ny_status"}, {"church_tax", "kirkeskat"},
        {"residual_tax", "skat"},    {"excess_tax", "skat"},  {"income", "loen"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(m[i][0], param) == 0)
            return m[i][1];
    return "";
}

/* 0 when the page may be used here by this user; else it has answered. */
static int may_or_reply(struct web_ctx *cx, int *answered)
{
    err_t err;
    err_clear(&err);
    *answered = 0;
    if (testdata_environment_check(cx->w->deps.cfg->environment, &err)) {
        *answered = 1;
        return web_reply_message(cx, 403, "Testdata",
                                 "Dette er produktionsmiljøet: her er ingen syntetiske testdata.");
    }
    if (web_actor_testdata(cx->w->deps.identity, &cx->actor, &err)) {
        *answered = 1;
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Testdata er for brugere i organisationer, der er tilmeldt "
                                 "testmiljøet, og for Skatteforvaltningens medarbejdere.");
    }
    return 0;
}

static void money(html_t *h, int64_t ore)
{
    html_int(h, ore / 100);
}

static void search_form(struct web_ctx *cx, const struct form_errors *fe)
{
    html_t *h = &cx->h;
    static const char *const kind_opts[][2] = {{"person", "Person (CPR-nummer)"},
                                               {"company", "Virksomhed (CVR-nummer)"}};
    static const char *const yes_no[][2] = {{"", "Ligegyldigt"}, {"true", "Ja"}, {"false", "Nej"}};
    HTML(h, "<form method=\"get\" action=\"/testdata\"><fieldset><legend>Find testpersoner og "
            "-virksomheder</legend>");
    str_t kind = web_query(cx->req, "kind");
    form_select(cx, fe, "kind", "Slags", kind_opts, 2, kind, NULL);
    form_input(cx, fe, "year", "Indkomstår", "text", web_query(cx->req, "year"),
               "Tomt: et hvilket som helst år.");
    HTML(h, "<h2 class=\"h4\">Personer</h2>");
    form_input(cx, fe, "income_min", "Personlig indkomst mindst (kr.)", "text",
               web_query(cx->req, "income_min"), NULL);
    form_input(cx, fe, "income_max", "Personlig indkomst højst (kr.)", "text",
               web_query(cx->req, "income_max"), NULL);
    form_select(cx, fe, "residual_tax", "Restskat", yes_no, 3, web_query(cx->req, "residual_tax"),
                NULL);
    form_select(cx, fe, "excess_tax", "Overskydende skat", yes_no, 3,
                web_query(cx->req, "excess_tax"), NULL);
    form_select(cx, fe, "church_tax", "Kirkeskat", yes_no, 3, web_query(cx->req, "church_tax"),
                NULL);
    HTML(h, "<h2 class=\"h4\">Virksomheder</h2>");
    /* the status codes from the catalogue */
    const char *status_opts[CODES_MAX + 1][2] = {{"", "Ligegyldigt"}};
    size_t n_status = 1;
    const struct catalog_service *ss = catalog_find(cx->w->deps.catalog, STR(STATUS_SERVICE));
    const struct catalog_field *sf = ss ? catalog_field_find(ss, STR(STATUS_FIELD)) : NULL;
    for (size_t i = 0; sf && i < sf->n_codes && n_status <= CODES_MAX; i++) {
        status_opts[n_status][0] = sf->codes[i].value;
        status_opts[n_status][1] = sf->codes[i].meaning.da;
        n_status++;
    }
    form_select(cx, fe, "status", "Status", (const char *const(*)[2])status_opts, n_status,
                web_query(cx->req, "status"), NULL);
    form_select(cx, fe, "vat", "Momspligtig", yes_no, 3, web_query(cx->req, "vat"), NULL);
    form_select(cx, fe, "joint_taxation", "Sambeskattet", yes_no, 3,
                web_query(cx->req, "joint_taxation"), "I indkomståret, hvis det er valgt.");
    HTML(h, "<h2 class=\"h4\">Begge</h2>");
    const char *svc_opts[64][2] = {{"", "Ligegyldigt"}};
    size_t n_svc = 1;
    for (size_t i = 0; n_svc < 64; i++) {
        const struct catalog_service *s = catalog_service_at(cx->w->deps.catalog, i);
        if (!s)
            break;
        svc_opts[n_svc][0] = s->path;
        svc_opts[n_svc][1] = s->title.da;
        n_svc++;
    }
    form_select(cx, fe, "service", "Har data i tjenesten", (const char *const(*)[2])svc_opts, n_svc,
                web_query(cx->req, "service"), "I indkomståret, hvis det er valgt.");
    form_input(cx, fe, "limit", "Højst antal", "text", web_query(cx->req, "limit"),
               "1 til 100; tomt: 20.");
    HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">Søg</button>"
            "</form>");
}

static void change_form(struct web_ctx *cx, const struct form_errors *fe)
{
    html_t *h = &cx->h;
    static const char *const changes[][2] = {
        {"reassessment", "Genoptagelse af årsopgørelse (CPR-nummer og indkomstår)"},
        {"vat_correction", "Korrektion af momsangivelse (SE-nummer og periodens første dag)"},
        {"status_change", "Ny virksomhedsstatus fra i dag (CVR-nummer og status)"}};
    bool post = str_eq_cstr(http_req_path(cx->req), "/testdata/aendring");
    str_t none = STR("");
    HTML(h, "<h2>Lav en ændring</h2><p>Ændringen bygges af den aktuelle version efter "
            "generatorens regler og indlæses som en syntetisk levering: den bliver en ny "
            "version og giver hændelser til alle aftaler, der følger nummeret.</p>"
            "<form method=\"post\" action=\"/testdata/aendring\"><fieldset><legend>Ændring"
            "</legend>");
    form_csrf(cx);
    form_select(cx, fe, "aendring", "Ændring", changes, 3,
                post ? form_get(&cx->form, "aendring") : none, NULL);
    form_input(cx, fe, "nummer", "CPR-, SE- eller CVR-nummer", "text",
               post ? form_get(&cx->form, "nummer") : none, NULL);
    form_input(cx, fe, "aar", "Indkomstår (genoptagelse)", "text",
               post ? form_get(&cx->form, "aar") : none, NULL);
    form_input(cx, fe, "periode", "Periodens første dag (momskorrektion)", "date",
               post ? form_get(&cx->form, "periode") : none, NULL);
    form_input(cx, fe, "ny_status", "Ny status (statusændring)", "text",
               post ? form_get(&cx->form, "ny_status") : none,
               "En kode fra servicekataloget, fx 2 ophørt eller 3 konkurs.");
    HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">Lav ændringen"
            "</button></form>");
}

static void person_form(struct web_ctx *cx, const struct form_errors *fe)
{
    html_t *h = &cx->h;
    static const char *const yes_no[][2] = {{"", "Tilfældig"}, {"true", "Ja"}, {"false", "Nej"}};
    static const char *const tax[][2] = {{"", "Tilfældig"},
                                         {"residual", "Restskat hvert år"},
                                         {"excess", "Overskydende skat hvert år"}};
    bool post = str_eq_cstr(http_req_path(cx->req), "/testdata/person");
    str_t none = STR("");
    HTML(h, "<h2>Lav en testperson</h2><p>En ny syntetisk person efter generatorens regler, med "
            "de egenskaber, du vælger; resten trækkes som for alle andre. Personen får data i "
            "alle personers tjenester for de sidste tre indkomstår.</p>"
            "<form method=\"post\" action=\"/testdata/person\"><fieldset><legend>Testperson"
            "</legend>");
    form_csrf(cx);
    form_select(cx, fe, "kirkeskat", "Kirkeskattepligtig", yes_no, 3,
                post ? form_get(&cx->form, "kirkeskat") : none, NULL);
    form_select(cx, fe, "skat", "Årsopgørelsen giver", tax, 3,
                post ? form_get(&cx->form, "skat") : none, NULL);
    form_input(cx, fe, "loen", "Lønindkomst (kr. om året)", "text",
               post ? form_get(&cx->form, "loen") : none,
               "Tomt: tilfældig. Med restskat eller overskydende skat mindst 100.000 kr.");
    HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">Lav personen"
            "</button></form>");
}

static void results(struct web_ctx *cx, const struct testdata_query *q,
                    const struct testdata_result *res)
{
    html_t *h = &cx->h;
    bool person = q->kind == TESTDATA_PERSON;
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Fundne, kan rulles\"><table class=\"table\"><caption>");
    html_int(h, (int64_t)res->n);
    html_textc(h, person ? " personer fundet" : " virksomheder fundet");
    HTML(h, "</caption><thead><tr>");
    if (person)
        HTML(h, "<th scope=\"col\">CPR-nummer</th><th scope=\"col\">Indkomstår</th>"
                "<th scope=\"col\">Personlig indkomst (kr.)</th><th scope=\"col\">Restskat "
                "(kr.)</th><th scope=\"col\">Overskydende skat (kr.)</th><th "
                "scope=\"col\">Kirkeskat</th>");
    else
        HTML(h, "<th scope=\"col\">CVR-nummer</th><th scope=\"col\">Status</th>"
                "<th scope=\"col\">Momspligtig</th><th scope=\"col\">Sambeskattet</th>");
    HTML(h, "</tr></thead><tbody>");
    const struct catalog_service *ss = catalog_find(cx->w->deps.catalog, STR(STATUS_SERVICE));
    const struct catalog_field *sf = ss ? catalog_field_find(ss, STR(STATUS_FIELD)) : NULL;
    for (size_t i = 0; i < res->n; i++) {
        const struct testdata_hit *x = &res->hits[i];
        HTML(h, "<tr><td>");
        html_textc(h, x->subject);
        if (person) {
            HTML(h, "</td><td>");
            html_int(h, x->year);
            HTML(h, "</td><td>");
            money(h, x->income);
            HTML(h, "</td><td>");
            money(h, x->residual_tax);
            HTML(h, "</td><td>");
            money(h, x->excess_tax);
            HTML(h, "</td><td>");
            html_textc(h, x->church_tax ? "Ja" : "Nej");
        } else {
            HTML(h, "</td><td>");
            char code[16];
            snprintf(code, sizeof code, "%d", x->status);
            const char *label = code;
            for (size_t k = 0; sf && k < sf->n_codes; k++)
                if (strcmp(sf->codes[k].value, code) == 0)
                    label = sf->codes[k].meaning.da;
            html_textc(h, x->status ? label : "Ingen åben status");
            HTML(h, "</td><td>");
            html_textc(h, x->vat ? "Ja" : "Nej");
            HTML(h, "</td><td>");
            html_textc(h, x->joint_taxation ? "Ja" : "Nej");
        }
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
    if (res->more)
        page_notice(cx, "info",
                    "Flere passer på søgningen: skriv et større antal eller søg snævrere.");
    if (res->scan_limited)
        page_notice(cx, "warning",
                    "Søgningen stoppede efter 200.000 poster; der kan være flere. Vælg et "
                    "indkomstår for at søge snævrere.");
}

/* The page's top: the error summary of summary (the form that was sent),
 * a confirmation, and the search form with search's errors. */
static void page(struct web_ctx *cx, const struct form_errors *summary,
                 const struct form_errors *search, const char *done)
{
    html_t *h = &cx->h;
    page_begin(cx, "Testdata");
    page_error_summary(cx, summary);
    if (done)
        page_notice(cx, "success", done);
    HTML(h, "<p>Find syntetiske personer og virksomheder ud fra, hvad deres data siger, og lav "
            "ændringer, der giver nye versioner og hændelser. Alt læses fra testmiljøets data; "
            "de samme søgninger findes som <code>GET /api/testdata/subjects</code>.</p>");
    search_form(cx, search);
}

static int h_search(struct web_ctx *cx, err_t *err)
{
    (void)err;
    int answered;
    int rc = may_or_reply(cx, &answered);
    if (answered)
        return rc;
    struct form_errors fe = {0};
    bool asked = web_query(cx->req, "kind").len > 0;
    struct testdata_query q;
    err_t e;
    err_clear(&e);
    if (asked && testdata_query_from_request(cx->req, cx->w->deps.catalog, &q, &e) != 0)
        form_error(&fe, e.param[0] ? e.param : "", field_message(e.param));
    page(cx, &fe, &fe, NULL);
    unsigned status = fe.n ? 400 : 200;
    if (asked && !fe.n) {
        struct testdata_result *res = arena_alloc(http_req_arena(cx->req), sizeof *res);
        int src = res ? testdata_search(cx->w->deps.store, cx->w->deps.catalog, &q, res, &e)
                      : DUPLA_ENOMEM;
        if (src == 0) {
            results(cx, &q, res);
        } else {
            log_warn("web: testdata search: %s", e.log);
            page_notice(cx, "warning", "Søgningen kunne ikke udføres lige nu. Prøv igen senere.");
            status = 500;
        }
    }
    change_form(cx, NULL);
    person_form(cx, NULL);
    page_end(cx);
    return web_reply_page(cx, status);
}

static int h_change(struct web_ctx *cx, err_t *err)
{
    (void)err;
    int answered;
    int rc = may_or_reply(cx, &answered);
    if (answered)
        return rc;
    struct form_errors fe = {0};
    struct testdata_change ch;
    err_t e;
    err_clear(&e);
    const struct http_form *f = &cx->form;
    rc = testdata_change_from(cx->w->deps.catalog, web_cstr(cx->req, form_get(f, "aendring")),
                              web_cstr(cx->req, form_get(f, "nummer")),
                              web_cstr(cx->req, form_get(f, "aar")),
                              web_cstr(cx->req, form_get(f, "periode")),
                              web_cstr(cx->req, form_get(f, "ny_status")), &ch, &e);
    struct testdata_change_result res;
    if (rc == 0)
        rc = testdata_change(cx->w->deps.store, cx->w->deps.catalog, cx->w->deps.cfg->environment,
                             &ch, clock_now_ms(), &res, &e);
    char done[256] = "";
    unsigned status = 200;
    if (rc == DUPLA_ENOTFOUND) {
        form_error(&fe, "nummer",
                   "Nummeret har ingen aktuel post at ændre (for det år eller den periode).");
        status = 404;
    } else if (rc == DUPLA_ECONFLICT) {
        form_error(&fe, strcmp(e.param, "status") == 0 ? "ny_status" : "nummer",
                   strcmp(e.param, "status") == 0
                       ? "Virksomheden har allerede den status."
                       : "Virksomhedens åbne status begyndte i dag; skift den i morgen.");
        status = 409;
    } else if (rc == DUPLA_EINVAL) {
        form_error(&fe, form_field(e.param), field_message(form_field(e.param)));
        status = 400;
    } else if (rc) {
        log_warn("web: testdata change: %s", e.log);
        form_error(&fe, "", "Ændringen kunne ikke gemmes lige nu. Prøv igen senere.");
        status = 500;
    } else {
        snprintf(done, sizeof done,
                 "Ændringen er gemt: %s %s fik %lld ny%s version%s (hændelser til dem, der "
                 "følger nummeret).",
                 res.service, ch.subject, (long long)res.new_versions,
                 res.new_versions == 1 ? "" : "e", res.new_versions == 1 ? "" : "er");
    }
    page(cx, &fe, NULL, done[0] ? done : NULL);
    change_form(cx, &fe);
    person_form(cx, NULL);
    page_end(cx);
    return web_reply_page(cx, status);
}

static int h_person(struct web_ctx *cx, err_t *err)
{
    (void)err;
    int answered;
    int rc = may_or_reply(cx, &answered);
    if (answered)
        return rc;
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    const struct http_form *f = &cx->form;
    str_t tax = form_get(f, "skat");
    struct testdata_person_spec spec;
    if (tax.len && !str_eq_cstr(tax, "residual") && !str_eq_cstr(tax, "excess")) {
        rc = err_param(&e, DUPLA_EINVAL, "residual_tax", "residual_tax");
    } else {
        rc = testdata_person_spec_from(web_cstr(cx->req, form_get(f, "kirkeskat")),
                                       str_eq_cstr(tax, "residual") ? "true" : "",
                                       str_eq_cstr(tax, "excess") ? "true" : "",
                                       web_cstr(cx->req, form_get(f, "loen")), &spec, &e);
    }
    char cpr[11], done[256] = "";
    int from = 0, to = 0;
    unsigned status = 200;
    if (rc == 0)
        rc = testdata_create(cx->w->deps.store, cx->w->deps.catalog, cx->w->deps.cfg->environment,
                             &spec, cpr, &from, &to, &e);
    if (rc == DUPLA_EINVAL) {
        form_error(&fe, form_field(e.param), field_message(form_field(e.param)));
        status = 400;
    } else if (rc) {
        log_warn("web: testdata person: %s", e.log);
        form_error(&fe, "", "Personen kunne ikke laves lige nu. Prøv igen senere.");
        status = rc == DUPLA_ELIMIT ? 409 : 500;
    } else {
        snprintf(done, sizeof done, "Testpersonen %s er lavet, med data for %d-%d.", cpr, from, to);
    }
    page(cx, &fe, NULL, done[0] ? done : NULL);
    change_form(cx, NULL);
    person_form(cx, &fe);
    page_end(cx);
    return web_reply_page(cx, status);
}

int pages_testdata_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/testdata", NULL, 0, h_search, .query = q_page},
        {HTTP_POST, "/testdata/aendring", NULL, 0, h_change},
        {HTTP_POST, "/testdata/person", NULL, 0, h_person},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
