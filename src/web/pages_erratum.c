/*
 * pages_erratum.c: the data owner's pages for data errors (#17.6, the
 * audit module's erratum.c; docs/transparency.md section 8):
 *
 *   GET  /datafejl           the marks, newest first, and the form to mark
 *   POST /datafejl           marks a delivery or record versions erroneous,
 *                            finds every disclosure that included them and
 *                            tells each recipient organisation once (its
 *                            contact mailbox, through the mail outbox)
 *   GET  /datafejl/vis?nr=N  one mark: the disclosures per recipient and
 *                            agreement, with the log's sequence numbers (each
 *                            linking to its inclusion proof), the recipients'
 *                            case references, and who was told when
 *
 * Only the data owner's dataforvaltning and operators.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "web/internal.h"

#define ERRATUM_LINES_MAX AUDIT_ERRATUM_VERSIONS_MAX

static bool is_staff(const struct web_ctx *cx)
{
    return cx->actor.data_owner && (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) ||
                                    identity_actor_has(&cx->actor, ROLE_OPERATOR));
}

static int staff_or_reply(struct web_ctx *cx, int *rc)
{
    if (is_staff(cx))
        return 0;
    *rc = web_reply_message(cx, 403, "Ingen adgang",
                            "Kun Skatteforvaltningens dataforvaltning og drift kan markere data "
                            "som fejlbehæftede.");
    return 1;
}

static int contact(void *ctx, const char *org_cvr, char *out, size_t cap, err_t *err)
{
    struct identity_org org;
    int rc = identity_org_get(ctx, str_from_cstr(org_cvr), &org, err);
    if (rc == 0)
        snprintf(out, cap, "%s", org.contact_email);
    return rc;
}

static const char *jtext(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void table_open(html_t *h, const char *caption)
{
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>");
    html_textc(h, caption);
    HTML(h, "</caption><thead><tr>");
}

/* The list page with the form (its values kept and errors shown). */
static void list_page(struct web_ctx *cx, const struct form_errors *fe, const json_t *marks)
{
    html_t *h = &cx->h;
    const struct http_form *f = &cx->form;
    page_begin(cx, "Datafejl");
    page_error_summary(cx, fe);
    HTML(h, "<p>Når en kildeleverance eller enkelte postversioner viser sig at være forkerte, "
            "markeres de her. DUPLA finder i udleveringsloggen hver udlevering, der indeholdt "
            "dem, og sender hver modtagende organisation én meddelelse til dens "
            "kontaktpostkasse med aftalen, løbenumrene, modtagerens egne sagsreferencer, "
            "antallet af berørte personer og virksomheder (aldrig hvem), perioderne og hvad der "
            "erstatter data.</p>");
    HTML(h, "<h2>Markér data som fejlbehæftede</h2><form method=\"post\" action=\"/datafejl\" "
            "novalidate>");
    form_csrf(cx);
    form_input(cx, fe, "levering", "Leverancens id", "text", form_get(f, "levering"),
               "En hel leverance. Udfyld enten denne eller tjeneste og postversioner.");
    form_input(cx, fe, "tjeneste", "Tjeneste", "text", form_get(f, "tjeneste"),
               "Tjenesten, postversionerne hører til, fx Aarsopgoerelse.");
    form_textarea(cx, fe, "versioner", "Postversioner", form_get(f, "versioner"),
                  "Én pr. linje: art:nummer:periode:version, fx cpr:0101901234:2023:2.");
    form_textarea(cx, fe, "aarsag", "Årsag", form_get(f, "aarsag"), "Hvad er forkert.");
    form_input(cx, fe, "erstatning", "Hvad erstatter data", "text", form_get(f, "erstatning"),
               "Fx den rettede leverances id, eller hvornår den kommer.");
    HTML(h, "<button class=\"button button-primary\" type=\"submit\">Markér og underret "
            "modtagerne</button></form>");
    HTML(h, "<h2>Markerede datafejl</h2>");
    if (!marks || json_array_size(marks) == 0) {
        HTML(h, "<p>Ingen data er markeret som fejlbehæftede.</p>");
        return;
    }
    table_open(h, "Markerede datafejl, nyeste først");
    HTML(h, "<th scope=\"col\">Nr.</th><th scope=\"col\">Markeret</th><th scope=\"col\">Af</th>"
            "<th scope=\"col\">Årsag</th><th scope=\"col\">Gælder</th>"
            "<th scope=\"col\">Underrettede modtagere</th></tr></thead><tbody>");
    size_t i;
    json_t *m;
    json_array_foreach((json_t *)marks, i, m)
    {
        int64_t id = (int64_t)json_integer_value(json_object_get(m, "id"));
        HTML(h, "<tr><td><a href=\"/datafejl/vis?nr=");
        html_int(h, id);
        HTML(h, "\">");
        html_int(h, id);
        HTML(h, "</a></td><td>");
        html_textc(h, web_time_iso(cx, jtext(m, "time")));
        HTML(h, "</td><td>");
        html_textc(h, jtext(m, "marked_by"));
        HTML(h, "</td><td>");
        html_textc(h, jtext(m, "reason"));
        HTML(h, "</td><td>");
        if (json_is_string(json_object_get(m, "delivery"))) {
            HTML(h, "Leverance ");
            html_textc(h, jtext(m, "delivery"));
        } else {
            html_int(h, (int64_t)json_integer_value(json_object_get(m, "versions")));
            HTML(h, " postversioner");
        }
        HTML(h, "</td><td>");
        html_int(h, (int64_t)json_integer_value(json_object_get(m, "notices")));
        HTML(h, "</td></tr>");
    }
    HTML(h, "</tbody></table></div>");
}

static int list_reply(struct web_ctx *cx, const struct form_errors *fe, unsigned status)
{
    json_t *marks = NULL;
    err_t e;
    err_clear(&e);
    if (audit_erratum_list(cx->w->deps.store, &marks, &e) != 0) {
        log_warn("web: data errors: %s", e.log);
        marks = NULL;
    }
    list_page(cx, fe, marks);
    json_decref(marks);
    return web_reply_page(cx, status);
}

/* KIND:SUBJECT:PERIOD:VERSION (cut in place) into v. */
static int parse_version(char *text, struct audit_erratum_version *v)
{
    char *f[4];
    int n = 0;
    for (char *p = text; n < 4;) {
        f[n++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    int64_t version;
    if (n != 4 || audit_subject_kind_parse(str_from_cstr(f[0]), &v->kind) || !f[1][0] ||
        str_to_int64(str_from_cstr(f[3]), &version) || version < 1)
        return -1;
    v->subject = str_from_cstr(f[1]);
    v->period = str_from_cstr(f[2]);
    v->version = version;
    return 0;
}

/* The field of a refusal from audit_erratum_mark. */
static const char *field_of(const char *param)
{
    if (strcmp(param, "reason") == 0)
        return "aarsag";
    if (strcmp(param, "replacement") == 0)
        return "erstatning";
    if (strcmp(param, "service") == 0)
        return "tjeneste";
    if (strcmp(param, "version") == 0)
        return "versioner";
    return "levering";
}

static int h_list(struct web_ctx *cx, err_t *err)
{
    (void)err;
    int rc;
    if (staff_or_reply(cx, &rc))
        return rc;
    struct form_errors fe = {0};
    if (http_req_method(cx->req) != HTTP_POST)
        return list_reply(cx, &fe, 200);
    const struct http_form *f = &cx->form;
    str_t service = form_get(f, "tjeneste"), lines = form_get(f, "versioner");
    char *text = web_cstr(cx->req, lines);
    struct audit_erratum_version *vs = calloc(ERRATUM_LINES_MAX, sizeof *vs);
    if (!vs || !text)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t nv = 0;
    for (char *line = text, *next; line && *line && !fe.n; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = 0;
        while (*line == ' ')
            line++;
        if (!*line)
            continue;
        if (nv == ERRATUM_LINES_MAX)
            form_error(&fe, "versioner", "Højst 1000 postversioner ad gangen.");
        else if (parse_version(line, &vs[nv]))
            form_error(&fe, "versioner",
                       "Skriv hver postversion som art:nummer:periode:version, fx "
                       "cpr:0101901234:2023:2.");
        else
            vs[nv++].service = service;
    }
    if (!fe.n && nv && !service.len)
        form_error(&fe, "tjeneste", "Skriv tjenesten, postversionerne hører til.");
    if (!fe.n && service.len && !nv)
        form_error(&fe, "versioner", "Skriv de postversioner i tjenesten, der er forkerte.");
    struct audit_erratum_mark m = {.delivery_id = form_get(f, "levering"),
                                   .versions = vs,
                                   .n_versions = nv,
                                   .reason = form_get(f, "aarsag"),
                                   .replacement = form_get(f, "erstatning"),
                                   .actor = str_from_cstr(cx->actor.username)};
    int64_t id = 0;
    bool existed = false;
    err_t e;
    err_clear(&e);
    int mrc =
        fe.n ? 0 : audit_erratum_mark(cx->w->deps.store, &m, clock_now_ms(), &id, &existed, &e);
    free(vs);
    if (mrc == DUPLA_EINVAL || mrc == DUPLA_ELIMIT) {
        const char *field = field_of(e.param);
        form_error(&fe, field,
                   strcmp(field, "aarsag") == 0 ? "Skriv årsagen: hvad er forkert."
                   : strcmp(field, "levering") == 0
                       ? "Udfyld enten leverancens id eller tjeneste og postversioner."
                       : "Tjenesten, postversionerne eller erstatningen er ikke gyldige.");
    } else if (mrc) {
        return err_set(err, mrc, "%s", e.detail);
    }
    if (fe.n)
        return list_reply(cx, &fe, 400);
    struct audit_erratum_sent sent;
    if ((rc = audit_erratum_notify(cx->w->deps.store, id, contact, cx->w->deps.identity,
                                   clock_now_ms(), &sent, &e))) {
        log_warn("web: data error %" PRId64 ": notify: %s", id, e.log);
        return err_set(err, rc, "%s", e.detail);
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/datafejl/vis?nr=%" PRId64 "&ok=%s", id,
             existed ? "kendt" : "markeret");
    return web_redirect(cx->req, loc);
}

static void report_page(struct web_ctx *cx, const json_t *rep, str_t ok)
{
    html_t *h = &cx->h;
    char title[64];
    snprintf(title, sizeof title, "Datafejl nr. %" PRId64,
             (int64_t)json_integer_value(json_object_get(rep, "id")));
    page_begin(cx, title);
    if (str_eq_cstr(ok, "markeret"))
        page_notice(cx, "success",
                    "Data er markeret som fejlbehæftede, og modtagerne er underrettet.");
    else if (str_eq_cstr(ok, "kendt"))
        page_notice(cx, "info",
                    "De samme data var allerede markeret. Kun modtagere, der ikke var "
                    "underrettet før, er underrettet nu.");
    HTML(h, "<dl><dt>Markeret</dt><dd>");
    html_textc(h, web_time_iso(cx, jtext(rep, "time")));
    HTML(h, " af ");
    html_textc(h, jtext(rep, "marked_by"));
    HTML(h, "</dd><dt>Årsag</dt><dd>");
    html_textc(h, jtext(rep, "reason"));
    HTML(h, "</dd><dt>Erstattes af</dt><dd>");
    html_textc(h, jtext(rep, "replacement")[0] ? jtext(rep, "replacement") : "Ikke oplyst");
    HTML(h, "</dd><dt>Gælder</dt><dd>");
    size_t i, k, q;
    json_t *x, *a, *d;
    if (json_is_string(json_object_get(rep, "delivery"))) {
        HTML(h, "Leverance ");
        html_textc(h, jtext(rep, "delivery"));
    } else {
        json_array_foreach(json_object_get(rep, "versions"), i, x)
        {
            if (i)
                HTML(h, "<br>");
            html_textc(h, jtext(x, "service"));
            HTML(h, " ");
            html_textc(h, jtext(x, "subject_kind"));
            HTML(h, ":");
            html_textc(h, jtext(x, "subject"));
            HTML(h, ":");
            html_textc(h, jtext(x, "period"));
            HTML(h, ":");
            html_int(h, (int64_t)json_integer_value(json_object_get(x, "version")));
        }
    }
    HTML(h, "</dd><dt>Udleveringer, der indeholdt data</dt><dd>");
    html_int(h, (int64_t)json_integer_value(json_object_get(rep, "disclosures")));
    HTML(h, "</dd></dl>");
    json_t *recipients = json_object_get(rep, "recipients");
    if (json_array_size(recipients) == 0)
        HTML(h, "<p>Ingen har fået disse data.</p>");
    json_array_foreach(recipients, i, x)
    {
        HTML(h, "<h2>Modtager CVR ");
        html_textc(h, jtext(x, "organisation"));
        HTML(h, "</h2><p>");
        html_int(h, (int64_t)json_integer_value(json_object_get(x, "subjects")));
        HTML(h, " berørte personer og virksomheder. ");
        const json_t *n = json_object_get(x, "notice");
        if (json_is_object(n)) {
            HTML(h, "Underrettet ");
            html_textc(h, web_time_iso(cx, jtext(n, "time")));
            HTML(h, " på ");
            html_textc(h,
                       jtext(n, "mailbox")[0] ? jtext(n, "mailbox") : "(ingen kontaktpostkasse)");
            HTML(h, ".");
        } else {
            HTML(h, "Ikke underrettet endnu.");
        }
        HTML(h, "</p>");
        table_open(h, "Udleveringer pr. aftale");
        HTML(h, "<th scope=\"col\">Aftale</th><th scope=\"col\">Løbenumre i udleveringsloggen</th>"
                "<th scope=\"col\">Modtagerens sagsreferencer</th>"
                "<th scope=\"col\">Personer/virksomheder</th><th scope=\"col\">Perioder</th>"
                "<th scope=\"col\">Udleveret</th></tr></thead><tbody>");
        json_array_foreach(json_object_get(x, "agreements"), k, a)
        {
            HTML(h, "<tr><td>");
            html_textc(h, jtext(a, "agreement"));
            HTML(h, "</td><td>");
            json_array_foreach(json_object_get(a, "disclosures"), q, d)
            {
                int64_t seq = (int64_t)json_integer_value(json_object_get(d, "seq"));
                if (q)
                    HTML(h, ", ");
                HTML(h, "<a href=\"/transparency/proof/inclusion?seq=");
                html_int(h, seq);
                HTML(h, "\">");
                html_int(h, seq);
                HTML(h, "</a>");
                if (!json_is_true(json_object_get(d, "exact")))
                    HTML(h, " (måske: kun leverancen er logget)");
            }
            HTML(h, "</td><td>");
            json_array_foreach(json_object_get(a, "case_references"), q, d)
            {
                if (q)
                    HTML(h, ", ");
                html_textc(h, json_string_value(d));
            }
            HTML(h, "</td><td>");
            html_int(h, (int64_t)json_integer_value(json_object_get(a, "subjects")));
            HTML(h, "</td><td>");
            json_array_foreach(json_object_get(a, "periods"), q, d)
            {
                if (q)
                    HTML(h, ", ");
                html_textc(h, json_string_value(d));
            }
            HTML(h, "</td><td>");
            html_textc(h, web_time_iso(cx, jtext(a, "first_disclosed")));
            HTML(h, " til ");
            html_textc(h, web_time_iso(cx, jtext(a, "last_disclosed")));
            HTML(h, "</td></tr>");
        }
        HTML(h, "</tbody></table></div>");
    }
    HTML(h, "<p><a href=\"/datafejl\">Tilbage til datafejl</a></p>");
}

static int h_show(struct web_ctx *cx, err_t *err)
{
    int rc;
    if (staff_or_reply(cx, &rc))
        return rc;
    int64_t id;
    str_t nr = web_query(cx->req, "nr");
    if (str_to_int64(nr, &id) != 0 || id < 1)
        return web_reply_message(cx, 400, "Forkert nummer", "Datafejlens nummer er ikke gyldigt.");
    json_t *rep;
    err_t e;
    err_clear(&e);
    rc = audit_erratum_report(cx->w->deps.store, id, &rep, &e);
    if (rc == DUPLA_ENOTFOUND)
        return web_reply_message(cx, 404, "Ikke fundet", "Der er ingen datafejl med det nummer.");
    if (rc)
        return err_set(err, rc, "%s", e.detail);
    report_page(cx, rep, web_query(cx->req, "ok"));
    json_decref(rep);
    return web_reply_page(cx, 200);
}

static const struct http_param q_show[] = {
    {"nr", HTTP_PARAM_INT, .required = true, .min = 1}, WEB_PARAM_OK, {0}};

int pages_erratum_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET | HTTP_POST, "/datafejl", NULL, 0, h_list, .query = NULL},
        {HTTP_GET, "/datafejl/vis", NULL, 0, h_show, .query = q_show},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
