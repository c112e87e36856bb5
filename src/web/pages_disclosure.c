/*
 * pages_disclosure.c: the disclosure log in the self-service: what an
 * organisation received, the data owner's search, and the citizen-insight
 * report, each with a CSV export of exactly what was searched for.
 *
 *   GET /udleveringer        a recipient organisation's administrator: its own
 *                            disclosures (aftale, tjeneste, udfald, fra, til);
 *                            the data owner's dataforvaltning or operator: every
 *                            entry, searched by organisation, aftale, subjekt+type,
 *                            tjeneste, udfald, fra, til
 *   GET /udleveringer.csv    the same search, every page, as CSV
 *   GET /indsigt             the data owner's staff on a citizen's or company's
 *                            behalf: who received data about one CPR/CVR/SE
 *                            number (subjekt, type, fra, til), when, under which
 *                            agreement, purpose, legal basis, which fields
 *   GET /indsigt.csv         the same report as CSV
 * Common: antal (rows per page: 10, 25, 50 or 100) and efter (the keyset
 * cursor of "Næste side").
 *
 * The searches are GET forms (they change nothing, and a search can then be
 * paged, linked and exported with the same query); the server never logs a
 * query string, and the pages answer with Referrer-Policy: no-referrer.
 * search.c reads the query (every parameter allow-listed per view; one a
 * recipient may not use, subjekt or type, is refused with 403) and scopes
 * the filter with audit_filter_scope, which refuses another organisation's
 * CVR; this file decides the view from the user's roles and renders the
 * form, the results, the report and the CSV.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/problem.h"
#include "web/internal.h"
#include "web/search.h"

#define DISC_ARENA_MAX    ((size_t)32 << 20) /* one page of rows from the log */
#define DISC_CSV_MAX      ((size_t)64 << 20) /* bytes of one CSV export */
#define DISC_CSV_ROWS_MAX 100000             /* entries in one CSV export */

/* The data owner's dataforvaltning or operator (as the API's routes decide). */
static bool is_staff(const struct web_ctx *cx)
{
    return cx->actor.data_owner && (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) ||
                                    identity_actor_has(&cx->actor, ROLE_OPERATOR));
}

static bool is_recipient_admin(const struct web_ctx *cx)
{
    return !cx->actor.data_owner && identity_actor_has(&cx->actor, ROLE_ADMINISTRATOR) &&
           cx->org.cvr[0];
}

/* ---- the search (read by search.c) ---- */

static void query_at(const void *ctx, size_t i, str_t *name, str_t *value)
{
    http_req_query_at(ctx, i, name, value);
}

/* The purpose and legal basis of an entry's agreement version, for the
 * insight report (the page has decided who may ask). */
static int lookup_basis(void *ctx, str_t id, int64_t version, arena_t *arena,
                        struct audit_agreement_info *out, err_t *err)
{
    web_t *w = ctx;
    char *purpose = NULL, *basis = NULL;
    int rc = agreement_version_basis(w->deps.agreement, id, version, &purpose, &basis, err);
    if (rc)
        return rc;
    out->purpose = arena_strdup(arena, str_from_cstr(purpose));
    out->legal_basis = arena_strdup(arena, str_from_cstr(basis));
    free(purpose);
    free(basis);
    if (!out->purpose || !out->legal_basis)
        return err_set(err, DUPLA_ELIMIT, "the page is too large");
    return 0;
}

static int search_query(web_t *w, const struct web_search *s, arena_t *arena,
                        struct audit_page *page, err_t *err)
{
    struct audit_query_options opt = {.agreement_lookup = lookup_basis, .agreement_ctx = w};
    return audit_query(w->deps.store, &s->f, s->view == WEB_SEARCH_VIEW_INSIGHT ? &opt : NULL,
                       arena, page, err);
}

/* ---- the page ---- */

/* The query string of s (what was typed) for a link, with efter=after when
 * it is not 0; written as an attribute value after base. */
static void search_link(html_t *h, const char *base, const struct web_search *s, int64_t after)
{
    static const char *const names[] = {"organisation", "aftale", "subjekt", "type", "tjeneste",
                                        "udfald",       "fra",    "til",     "antal"};
    const str_t values[] = {s->org,     s->agreement, s->subject, s->kind, s->service,
                            s->outcome, s->from,      s->to,      s->rows};
    html_attrc(h, base);
    char sep = '?';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (values[i].len == 0)
            continue;
        if (sep == '?')
            HTML(h, "?");
        else
            HTML(h, "&amp;");
        sep = '&';
        html_attrc(h, names[i]);
        HTML(h, "=");
        html_url(h, values[i]);
    }
    if (after) {
        if (sep == '?')
            HTML(h, "?efter=");
        else
            HTML(h, "&amp;efter=");
        html_int(h, after);
    }
}

static void service_select(struct web_ctx *cx, const struct form_errors *fe, str_t value)
{
    const catalog_t *cat = cx->w->deps.catalog;
    size_t n = cat ? catalog_count(cat) : 0;
    const char *(*opts)[2] = arena_alloc(http_req_arena(cx->req), (n + 1) * sizeof *opts);
    if (!opts)
        return;
    opts[0][0] = "";
    opts[0][1] = "Alle tjenester";
    for (size_t i = 0; i < n; i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        opts[i + 1][0] = svc->path;
        opts[i + 1][1] = svc->alias && svc->alias[0] ? svc->alias : svc->path;
    }
    form_select(cx, fe, "tjeneste", "Tjeneste", (const char *const(*)[2])opts, n + 1, value, NULL);
}

static const char *const KIND_OPTIONS[][2] = {
    {"cpr", "CPR-nummer (person)"}, {"cvr", "CVR-nummer (virksomhed)"}, {"se", "SE-nummer"}};
static const char *const OUTCOME_OPTIONS[][2] = {
    {"", "Alle"}, {"udleveret", "Udleveret"}, {"afvist", "Afvist"}};
static const char *const ROWS_OPTIONS[][2] = {
    {"10", "10"}, {"25", "25"}, {"50", "50"}, {"100", "100"}};

static void search_form(struct web_ctx *cx, const struct form_errors *fe,
                        const struct web_search *s)
{
    html_t *h = &cx->h;
    const char *action = s->view == WEB_SEARCH_VIEW_INSIGHT ? "/indsigt" : "/udleveringer";
    HTML(h, "<form method=\"get\" action=\"");
    html_attrc(h, action);
    HTML(h, "\" class=\"d-print-none\" novalidate><fieldset><legend class=\"h2\">");
    html_textc(h,
               s->view == WEB_SEARCH_VIEW_INSIGHT ? "Hvem rapporten gælder" : "Afgræns søgningen");
    HTML(h, "</legend>");
    static const char DATE_HINT[] = "dd-mm-åååå, fx 01-03-2026";
    if (s->view != WEB_SEARCH_VIEW_OWN) {
        form_select(cx, fe, "type", "Type af nummer", KIND_OPTIONS, 3,
                    s->kind.len ? s->kind : STR("cpr"), NULL);
        form_input(cx, fe, "subjekt", "CPR-, CVR- eller SE-nummer", "text", s->subject,
                   s->view == WEB_SEARCH_VIEW_INSIGHT
                       ? "Personen eller virksomheden, rapporten gælder"
                       : "Kun udleveringer om denne person eller virksomhed");
    }
    if (s->view == WEB_SEARCH_VIEW_ALL)
        form_input(cx, fe, "organisation", "Modtagende organisation (CVR-nummer)", "text", s->org,
                   "8 cifre");
    if (s->view != WEB_SEARCH_VIEW_INSIGHT) {
        form_input(cx, fe, "aftale", "Aftalens id", "text", s->agreement,
                   "32 tegn, som det står på aftalen");
        service_select(cx, fe, s->service);
        form_select(cx, fe, "udfald", "Udfald", OUTCOME_OPTIONS, 3, s->outcome, NULL);
    }
    form_input(cx, fe, "fra", "Fra og med dato", "text", s->from, DATE_HINT);
    form_input(cx, fe, "til", "Til og med dato", "text", s->to, DATE_HINT);
    form_select(cx, fe, "antal", "Rækker pr. side", ROWS_OPTIONS, 4,
                s->rows.len ? s->rows : STR("25"), NULL);
    HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">");
    html_textc(h, s->view == WEB_SEARCH_VIEW_INSIGHT ? "Lav rapport" : "Søg");
    HTML(h, "</button> <a class=\"button button-secondary\" href=\"");
    html_attrc(h, action);
    HTML(h, "\">Nulstil</a></form>");
}

/* A service: its Danish name from the catalogue and, when that differs,
 * the path the API and the CSV use. */
static void service_text(const struct web_ctx *cx, html_t *h, const char *path)
{
    const struct catalog_service *svc =
        cx->w->deps.catalog ? catalog_find(cx->w->deps.catalog, str_from_cstr(path)) : NULL;
    if (svc && svc->alias && svc->alias[0] && strcmp(svc->alias, path) != 0) {
        html_textc(h, svc->alias);
        HTML(h, " (");
        html_textc(h, path);
        HTML(h, ")");
    } else {
        html_textc(h, path);
    }
}

/* A field of a service in the catalogue, or NULL. */
static const struct catalog_field *field_of(const struct web_ctx *cx, const char *service,
                                            str_t name)
{
    const struct catalog_service *svc =
        cx->w->deps.catalog ? catalog_find(cx->w->deps.catalog, str_from_cstr(service)) : NULL;
    return svc ? catalog_field_find(svc, name) : NULL;
}

/* The fields with their Danish descriptions from the catalogue, for the
 * insight report: its reader knows the data, not the technical names. */
static void fields_described(const struct web_ctx *cx, html_t *h, const struct audit_row *r)
{
    if (r->n_fields == 0)
        return;
    HTML(h, "<ul class=\"field-list\">");
    for (size_t j = 0; j < r->n_fields; j++) {
        const struct catalog_field *f = field_of(cx, r->service, r->fields[j]);
        HTML(h, "<li><strong>");
        html_text(h, r->fields[j]);
        HTML(h, "</strong>");
        if (f && f->description.da) {
            HTML(h, ": ");
            html_textc(h, f->description.da);
        }
        HTML(h, "</li>");
    }
    HTML(h, "</ul>");
}

static void fields_text(html_t *h, const struct audit_row *r)
{
    for (size_t j = 0; j < r->n_fields; j++) {
        if (j)
            HTML(h, ", ");
        html_text(h, r->fields[j]);
    }
}

/* A refusal's reason code (the data path's problem type) in Danish, or
 * NULL for a code this page does not know. */
const char *web_reason_label(const char *code)
{
    static const char *const labels[][2] = {
        {PROBLEM_AGREEMENT_EXPIRED, "aftalen er udløbet"},
        {PROBLEM_AGREEMENT_MALFORMED, "aftalehenvisningen er ugyldig"},
        {PROBLEM_AGREEMENT_NOT_APPROVED, "aftalen er ikke godkendt"},
        {PROBLEM_AGREEMENT_NOT_FOUND, "aftalen findes ikke"},
        {PROBLEM_AGREEMENT_NOT_YET_ACTIVE, "aftalen gælder endnu ikke"},
        {PROBLEM_AGREEMENT_OTHER_ORG, "aftalen tilhører en anden organisation"},
        /* entries written before the slug was registry-unavailable */
        {"agreement-registry-unavailable", "aftaleregistret var ikke tilgængeligt"},
        {PROBLEM_AGREEMENT_REVOKED, "aftalen er tilbagekaldt"},
        {PROBLEM_AGREEMENT_SUSPENDED, "aftalen er suspenderet"},
        {PROBLEM_AGREEMENT_TERMINATED, "aftalen er opsagt"},
        {PROBLEM_AGREEMENT_WRONG_ENV, "aftalen gælder et andet miljø"},
        {PROBLEM_FIELD_NOT_GRANTED, "et felt uden for aftalen"},
        {PROBLEM_SERVICE_NOT_GRANTED, "tjenesten er ikke omfattet af aftalen"},
        {PROBLEM_SYSTEM_NOT_ALLOWED, "systemet er ikke omfattet af aftalen"},
        {PROBLEM_REGISTRY_UNAVAILABLE, "aftaleregistret var ikke tilgængeligt"},
        {PROBLEM_RATE_LIMITED, "for mange forespørgsler"},
        {PROBLEM_SERVICE_WINDOW, "tjenesten var lukket"},
    };
    for (size_t i = 0; code && i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(code, labels[i][0]) == 0)
            return labels[i][1];
    return NULL;
}

static void outcome_text(html_t *h, const struct audit_row *r)
{
    if (r->outcome == AUDIT_DISCLOSED) {
        HTML(h, "Udleveret");
        return;
    }
    HTML(h, "Afvist");
    const char *label = web_reason_label(r->reason);
    if (label) {
        HTML(h, ": ");
        html_textc(h, label);
    } else if (r->reason && r->reason[0]) {
        HTML(h, " (årsagskode ");
        html_textc(h, r->reason);
        HTML(h, ")");
    }
}

/* Who else took part in a disclosure (canonical version 3): the system
 * supplier whose certificate made the call, and the company the call acted
 * for under its authorisation; nothing for an ordinary call. */
static void parties_text(html_t *h, const struct audit_row *r)
{
    if (r->supplier_cvr && r->supplier_cvr[0]) {
        HTML(h, "<br><span class=\"party\">via leverandør CVR ");
        html_textc(h, r->supplier_cvr);
        HTML(h, "</span>");
    }
    if (r->on_behalf_se && r->on_behalf_se[0]) {
        HTML(h, "<br><span class=\"party\">på vegne af SE ");
        html_textc(h, r->on_behalf_se);
        HTML(h, "</span>");
    }
}

static void table_open(html_t *h, const char *caption)
{
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>");
    html_textc(h, caption);
    HTML(h, "</caption><thead><tr>");
}

static void results_table(struct web_ctx *cx, const struct web_search *s,
                          const struct audit_page *p)
{
    html_t *h = &cx->h;
    table_open(h, "Udleveringer, nyeste først");
    HTML(h, "<th scope=\"col\">Tidspunkt</th>");
    if (s->view == WEB_SEARCH_VIEW_ALL)
        HTML(h, "<th scope=\"col\">Organisation (CVR)</th>");
    HTML(h, "<th scope=\"col\">System</th><th scope=\"col\">Aftale (version)</th>"
            "<th scope=\"col\">Sagsreference</th><th scope=\"col\">Tjeneste</th>"
            "<th scope=\"col\">");
    html_textc(h, s->f.subject.len ? "Nummer" : "Personer/virksomheder");
    HTML(h, "</th><th scope=\"col\">Felter</th><th scope=\"col\">Udfald</th></tr></thead><tbody>");
    for (size_t i = 0; i < p->n; i++) {
        const struct audit_row *r = &p->rows[i];
        char t[32];
        web_time(r->time_ms, t);
        HTML(h, "<tr><td>");
        html_textc(h, t);
        HTML(h, "</td><td>");
        if (s->view == WEB_SEARCH_VIEW_ALL) {
            html_textc(h, r->org_cvr);
            HTML(h, "</td><td>");
        }
        html_textc(h, r->system_id);
        parties_text(h, r);
        HTML(h, "</td><td>");
        html_textc(h, r->agreement_id);
        if (r->agreement_id[0]) {
            HTML(h, " (");
            html_int(h, r->agreement_version);
            HTML(h, ")");
        }
        HTML(h, "</td><td>");
        html_textc(h, r->case_ref ? r->case_ref : "");
        HTML(h, "</td><td>");
        service_text(cx, h, r->service);
        HTML(h, "</td><td>");
        if (s->f.subject.len)
            html_text(h, s->f.subject);
        else
            html_int(h, (int64_t)r->n_subjects);
        HTML(h, "</td><td>");
        fields_text(h, r);
        HTML(h, "</td><td>");
        outcome_text(h, r);
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
}

/* Organisations' names by CVR, remembered for one report (a report names
 * few recipients, over many rows). */
#define DISC_NAMES_MAX 32
struct org_names {
    size_t n, next;
    char cvr[DISC_NAMES_MAX][CVR_LEN + 1];
    char name[DISC_NAMES_MAX][IDENTITY_NAME_MAX + 1];
};

/* The organisation's name ("" when unknown); valid until the next call. */
static const char *org_name(struct web_ctx *cx, struct org_names *c, const char *cvr)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->cvr[i], cvr) == 0)
            return c->name[i];
    struct identity_org o;
    err_t e;
    err_clear(&e);
    if (identity_org_get(cx->w->deps.identity, str_from_cstr(cvr), &o, &e) != 0)
        o.name[0] = '\0';
    size_t i = c->n < DISC_NAMES_MAX ? c->n++ : c->next++ % DISC_NAMES_MAX;
    snprintf(c->cvr[i], sizeof c->cvr[i], "%s", cvr);
    snprintf(c->name[i], sizeof c->name[i], "%s", o.name);
    return c->name[i];
}

static void insight_report(struct web_ctx *cx, const struct web_search *s,
                           const struct audit_page *p)
{
    html_t *h = &cx->h;
    char now[32];
    web_time(clock_now_ms(), now);
    HTML(h, "<h2>Rapport</h2><dl><dt>Gælder</dt><dd>");
    html_textc(h, s->f.subject_kind == AUDIT_SUBJECT_CPR   ? "CPR-nummer "
                  : s->f.subject_kind == AUDIT_SUBJECT_CVR ? "CVR-nummer "
                                                           : "SE-nummer ");
    html_text(h, s->f.subject);
    HTML(h, "</dd><dt>Periode</dt><dd>");
    if (s->from.len || s->to.len) {
        html_text(h, s->from.len ? s->from : STR("loggens begyndelse"));
        HTML(h, " til og med ");
        html_text(h, s->to.len ? s->to : STR("i dag"));
    } else {
        HTML(h, "Hele loggen");
    }
    HTML(h, "</dd><dt>Udarbejdet</dt><dd>");
    html_textc(h, now);
    HTML(h, " af ");
    html_textc(h, cx->actor.username);
    HTML(h, "</dd></dl><p>Rapporten viser hver gang oplysninger om nummeret er udleveret til en "
            "organisation: hvornår, efter hvilken aftale og med hvilket formål og retsgrundlag, "
            "og hvilke felter. Afviste forespørgsler og andre personer eller virksomheder i de "
            "samme udleveringer er ikke med. Hver række er en post i udleveringsloggen; "
            "linket giver postens inklusionsbevis mod loggens nyeste signerede checkpoint, "
            "så enhver kan efterprøve, at posten står i loggen.</p>");
    if (p->n == 0) {
        HTML(h, "<p>Der er ingen udleveringer om nummeret i perioden.</p>");
        return;
    }
    struct org_names names = {0};
    table_open(h, "Udleveringer om nummeret, nyeste først");
    HTML(h, "<th scope=\"col\">Tidspunkt</th><th scope=\"col\">Modtager</th>"
            "<th scope=\"col\">Aftale (version)</th><th scope=\"col\">Sagsreference</th>"
            "<th scope=\"col\">Formål</th>"
            "<th scope=\"col\">Retsgrundlag</th><th scope=\"col\">Tjeneste</th>"
            "<th scope=\"col\">Felter</th><th scope=\"col\">Perioder</th>"
            "<th scope=\"col\">Bevis</th></tr></thead><tbody>");
    for (size_t i = 0; i < p->n; i++) {
        const struct audit_row *r = &p->rows[i];
        char t[32];
        web_time(r->time_ms, t);
        HTML(h, "<tr><td>");
        html_textc(h, t);
        HTML(h, "</td><td>");
        const char *name = org_name(cx, &names, r->org_cvr);
        if (name[0]) {
            html_textc(h, name);
            HTML(h, ", ");
        }
        HTML(h, "CVR ");
        html_textc(h, r->org_cvr);
        parties_text(h, r);
        HTML(h, "</td><td>");
        html_textc(h, r->agreement_id);
        HTML(h, " (");
        html_int(h, r->agreement_version);
        HTML(h, ")</td><td>");
        html_textc(h, r->case_ref ? r->case_ref : "");
        HTML(h, "</td><td>");
        html_textc(h, r->purpose ? r->purpose : "Ukendt");
        HTML(h, "</td><td>");
        html_textc(h, r->legal_basis ? r->legal_basis : "Ukendt");
        HTML(h, "</td><td>");
        service_text(cx, h, r->service);
        HTML(h, "</td><td>");
        fields_described(cx, h, r);
        HTML(h, "</td><td>");
        for (size_t j = 0; j < r->n_periods; j++) {
            if (j)
                HTML(h, ", ");
            html_text(h, r->periods[j]);
        }
        /* the entry's inclusion proof against the newest signed checkpoint
         * (docs/transparency.md section 5): the row can be checked */
        HTML(h, "</td><td><a href=\"/transparency/proof/inclusion?seq=");
        html_int(h, r->seq);
        HTML(h, "\">Post ");
        html_int(h, r->seq);
        HTML(h, "<span class=\"sr-only\"> i udleveringsloggen: inklusionsbevis</span></a>");
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
}

/* The whole page: form, errors or results, paging and the CSV link. */
static void disclosures_page(struct web_ctx *cx, const struct web_search *s,
                             const struct form_errors *fe, const struct audit_page *p, bool failed)
{
    html_t *h = &cx->h;
    page_begin(cx, s->view == WEB_SEARCH_VIEW_INSIGHT ? "Indsigt: hvem har fået data"
                   : s->view == WEB_SEARCH_VIEW_ALL   ? "Søg i udleveringer"
                                                      : "Udleveringer");
    page_error_summary(cx, fe);
    if (s->view == WEB_SEARCH_VIEW_OWN)
        HTML(h, "<p>Oplysninger, som organisationens systemer har fået udleveret, og "
                "forespørgsler der er afvist.</p>");
    else if (s->view == WEB_SEARCH_VIEW_INSIGHT)
        HTML(h, "<p class=\"d-print-none\">Til en borgers eller virksomheds spørgsmål om, hvem "
                "der har fået oplysninger om dem. Rapporten kan udskrives med browserens "
                "udskriftsfunktion; søgeformularen kommer ikke med.</p>");
    search_form(cx, fe, s);
    if (failed)
        page_notice(cx, "warning", "Udleveringerne kunne ikke hentes lige nu. Prøv igen senere.");
    if (!p) {
        page_end(cx);
        return;
    }
    const char *csv = s->view == WEB_SEARCH_VIEW_INSIGHT ? "/indsigt.csv" : "/udleveringer.csv";
    if (s->view == WEB_SEARCH_VIEW_INSIGHT)
        insight_report(cx, s, p);
    else if (p->n == 0)
        HTML(h, "<p>Ingen udleveringer passer til søgningen.</p>");
    else
        results_table(cx, s, p);
    if (p->n || s->f.after) {
        HTML(h, "<nav class=\"d-print-none\" aria-label=\"Sider\"><ul class=\"nobullet-list\">");
        if (s->f.after) {
            HTML(h, "<li><a href=\"");
            search_link(h, s->view == WEB_SEARCH_VIEW_INSIGHT ? "/indsigt" : "/udleveringer", s, 0);
            HTML(h, "\">Første side</a></li>");
        }
        if (p->next) {
            HTML(h, "<li><a href=\"");
            search_link(h, s->view == WEB_SEARCH_VIEW_INSIGHT ? "/indsigt" : "/udleveringer", s,
                        p->next);
            HTML(h, "\">Næste side</a></li>");
        }
        if (p->n) {
            HTML(h, "<li><a href=\"");
            search_link(h, csv, s, 0);
            HTML(h, "\">Hent hele søgeresultatet som CSV</a></li>");
        }
        HTML(h, "</ul></nav>");
    }
    page_end(cx);
}

/* Starts a disclosure page for the logged-in user: the role for view (403
 * page otherwise), the search read and scoped. Returns 0 to go on, 1 when
 * it has answered (the reply's status in *rc). */
static int search_or_reply(struct web_ctx *cx, bool insight, struct web_search *s,
                           struct form_errors *fe, int *rc)
{
    web_t *w = cx->w;
    http_request_t *req = cx->req;
    *rc = 0;
    enum web_search_view view;
    if (insight && is_staff(cx))
        view = WEB_SEARCH_VIEW_INSIGHT;
    else if (!insight && is_staff(cx))
        view = WEB_SEARCH_VIEW_ALL;
    else if (!insight && is_recipient_admin(cx))
        view = WEB_SEARCH_VIEW_OWN;
    else {
        *rc = web_reply_message(
            cx, 403, "Ingen adgang",
            insight ? "Kun Skatteforvaltningens dataforvaltning og drift kan lave en "
                      "indsigtsrapport."
                    : "Kun organisationens administrator og Skatteforvaltningens dataforvaltning "
                      "og drift kan se udleveringer.");
        return 1;
    }
    const char *refused = NULL;
    struct web_search_query q = {http_req_query_count(req), query_at, req};
    unsigned status =
        web_search_read(view, &q, w->deps.catalog, http_req_arena(req), s, fe, &refused);
    if (status == 0 && (view != WEB_SEARCH_VIEW_INSIGHT || s->asked))
        status = web_search_scope(s, cx->org.cvr, &refused);
    if (status == 403) {
        *rc = web_reply_message(cx, 403, "Ingen adgang", refused);
        return 1;
    }
    if (status == 400) {
        if (fe->n == 0)
            form_error(fe, "", refused);
        disclosures_page(cx, s, fe, NULL, false);
        *rc = web_reply_page(cx, 400);
        return 1;
    }
    return 0;
}

static int h_page(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    struct web_search s;
    struct form_errors fe = {0};
    int rc;
    bool insight = str_has_prefix(http_req_path(req), STR("/indsigt"));
    if (search_or_reply(cx, insight, &s, &fe, &rc))
        return rc;
    if (s.view == WEB_SEARCH_VIEW_INSIGHT && !s.asked) {
        disclosures_page(cx, &s, &fe, NULL, false);
        return web_reply_page(cx, 200);
    }
    arena_t *arena = arena_new(DISC_ARENA_MAX);
    struct audit_page page = {0};
    err_t e;
    err_clear(&e);
    int qrc = arena ? search_query(cx->w, &s, arena, &page, &e)
                    : err_set(&e, DUPLA_ENOMEM, "out of memory");
    if (qrc != 0)
        log_warn("web: disclosures: %s", e.log);
    disclosures_page(cx, &s, &fe, qrc == 0 ? &page : NULL, qrc != 0);
    rc = web_reply_page(cx, qrc == 0 ? 200 : 500);
    arena_free(arena);
    return rc;
}

/* ---- CSV ---- */

static int csv_list(buf_t *b, const str_t *v, size_t n, buf_t *tmp)
{
    buf_reset(tmp);
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = buf_printf(tmp, "%s%.*s", i ? ";" : "", STR_FMT(v[i]));
    return rc ? rc : buf_append_csv_cell(b, buf_str(tmp));
}

/* The insight report's row, in Danish, in the order of the page's table. */
static int insight_csv_row(struct web_ctx *cx, struct org_names *names, const struct audit_row *r,
                           buf_t *b, buf_t *tmp)
{
    char t[32];
    clock_format_dk_iso(r->time_ms, t, sizeof t);
    int rc = buf_append_csv_cell(b, str_from_cstr(t));
    const str_t cells[] = {str_from_cstr(r->org_cvr),
                           str_from_cstr(org_name(cx, names, r->org_cvr)),
                           str_from_cstr(r->agreement_id),
                           STR_NULL,
                           str_from_cstr(r->case_ref ? r->case_ref : ""),
                           str_from_cstr(r->purpose ? r->purpose : "Ukendt"),
                           str_from_cstr(r->legal_basis ? r->legal_basis : "Ukendt"),
                           str_from_cstr(r->service)};
    for (size_t i = 0; !rc && i < sizeof cells / sizeof cells[0]; i++) {
        rc = buf_append(b, ",", 1);
        if (!rc && i == 3)
            rc = buf_printf(b, "%lld", (long long)r->agreement_version);
        else if (!rc)
            rc = buf_append_csv_cell(b, cells[i]);
    }
    if (!rc)
        rc = buf_append(b, ",", 1);
    if (!rc)
        rc = csv_list(b, r->fields, r->n_fields, tmp);
    if (!rc)
        rc = buf_append(b, ",", 1);
    if (!rc)
        rc = csv_list(b, r->periods, r->n_periods, tmp);
    if (!rc)
        rc = buf_append(b, ",", 1);
    if (!rc) { /* the fields' descriptions ("Name: description | ...") */
        buf_reset(tmp);
        for (size_t i = 0; !rc && i < r->n_fields; i++) {
            const struct catalog_field *f = field_of(cx, r->service, r->fields[i]);
            rc = buf_printf(tmp, "%s%.*s: %s", i ? " | " : "", STR_FMT(r->fields[i]),
                            f && f->description.da ? f->description.da : "");
        }
        if (!rc)
            rc = buf_append_csv_cell(b, buf_str(tmp));
    }
    if (!rc)
        rc = buf_append(b, ",", 1);
    if (!rc)
        rc = buf_append_csv_cell(b, str_from_cstr(r->supplier_cvr ? r->supplier_cvr : ""));
    if (!rc)
        rc = buf_append(b, ",", 1);
    if (!rc)
        rc = buf_append_csv_cell(b, str_from_cstr(r->on_behalf_se ? r->on_behalf_se : ""));
    return rc ? rc : buf_append(b, "\r\n", 2);
}

/* Every page of the search into b. 0, DUPLA_ELIMIT past the export's
 * limits, or the query's error. */
static int csv_build(struct web_ctx *cx, struct web_search *s, buf_t *b, err_t *err)
{
    web_t *w = cx->w;
    buf_t tmp;
    buf_init(&tmp, DISC_CSV_MAX);
    struct org_names names = {0};
    int rc = s->view == WEB_SEARCH_VIEW_INSIGHT
                 ? buf_append_cstr(b, "Tidspunkt (dansk tid),Modtager (CVR),Modtager,Aftale,"
                                      "Aftaleversion,Sagsreference,Formål,Retsgrundlag,"
                                      "Tjeneste,Felter,"
                                      "Perioder,Feltbeskrivelser,Leverandør (CVR),"
                                      "På vegne af (SE)\r\n")
                 : audit_csv_header_da(b);
    s->f.limit = AUDIT_PAGE_MAX;
    s->f.after = 0;
    size_t rows = 0;
    while (rc == 0) {
        arena_t *arena = arena_new(DISC_ARENA_MAX);
        struct audit_page page = {0};
        rc = arena ? search_query(w, s, arena, &page, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < page.n; i++) {
            int wrc = ++rows > DISC_CSV_ROWS_MAX ? -1
                      : s->view == WEB_SEARCH_VIEW_INSIGHT
                          ? insight_csv_row(cx, &names, &page.rows[i], b, &tmp)
                          : audit_row_csv_da(&page.rows[i], b);
            if (wrc) /* a writer fails only when the export is past its size */
                rc = err_set(err, DUPLA_ELIMIT, "the export is past %d rows or %zu bytes",
                             DISC_CSV_ROWS_MAX, DISC_CSV_MAX);
        }
        int64_t next = page.next;
        arena_free(arena);
        if (rc || next == 0)
            break;
        s->f.after = next;
    }
    buf_free(&tmp);
    return rc;
}

static int h_csv(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    struct web_search s;
    struct form_errors fe = {0};
    int rc;
    bool insight = str_has_prefix(http_req_path(req), STR("/indsigt"));
    if (search_or_reply(cx, insight, &s, &fe, &rc))
        return rc;
    if (s.view == WEB_SEARCH_VIEW_INSIGHT && !s.asked) {
        form_error(&fe, "subjekt", "Skriv det CPR-, CVR- eller SE-nummer, rapporten gælder.");
        disclosures_page(cx, &s, &fe, NULL, false);
        return web_reply_page(cx, 400);
    }
    buf_t b;
    buf_init(&b, DISC_CSV_MAX);
    err_t e;
    err_clear(&e);
    rc = csv_build(cx, &s, &b, &e);
    if (rc != 0) {
        buf_free(&b);
        if (rc == DUPLA_ELIMIT) {
            rc = web_reply_message(cx, 400, "For mange udleveringer",
                                   "Søgningen giver for mange rækker til én CSV-fil. Afgræns "
                                   "den, fx med datoer, og hent den i dele.");
        } else {
            log_warn("web: disclosures csv: %s", e.log);
            rc = web_reply_message(cx, 500, "Udleveringer",
                                   "Udleveringerne kunne ikke hentes lige nu. Prøv igen senere.");
        }
        return rc;
    }
    web_security_headers(req);
    http_reply_header(req, "Content-Disposition",
                      insight ? "attachment; filename=\"indsigt.csv\""
                              : "attachment; filename=\"udleveringer.csv\"");
    rc = http_reply_data(req, 200, "text/csv; charset=utf-8", buf_str(&b));
    buf_free(&b);
    return rc;
}

int pages_disclosure_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/udleveringer", NULL, 0, h_page, .query = WEB_QUERY_OWN},
        {HTTP_GET, "/udleveringer.csv", NULL, 0, h_csv, .query = WEB_QUERY_OWN},
        {HTTP_GET, "/indsigt", NULL, 0, h_page, .query = WEB_QUERY_OWN},
        {HTTP_GET, "/indsigt.csv", NULL, 0, h_csv, .query = WEB_QUERY_OWN},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
