/*
 * pages_systems.c: the organisation's systems and their certificates.
 *
 *   GET  /systemer                        systems, each certificate's subject, SHA-256
 *                                         fingerprint, validity and status
 *   POST /systemer                        register: name, certificate_file (PEM or DER
 *                                         upload, multipart/form-data) or certificate (PEM)
 *   POST /systemer/leverandoer            register a supplier's system: supplier_system
 *                                         (its name here), supplier_cvr, supplier_name,
 *                                         supplier_certificate_file | supplier_certificate
 *                                         (the supplier's certificate, whose CVR is the
 *                                         supplier's; the same certificate may serve many
 *                                         organisations)
 *   POST /systemer/certifikat             roll over: system, certificate_file | certificate;
 *                                         the old certificates keep working until revoked
 *   GET  /systemer/certifikat/spaer       ?sha256=: the second step before revoking
 *   POST /systemer/certifikat/spaer       revoke a certificate: sha256
 *   POST /systemer/status                 system, handling=suspender|genaktiver
 *   POST /systemer/binding                system, handling=kraev|fritag: whether a data
 *                                         call must present the certificate its token
 *                                         is bound to (sender-constrained tokens)
 *   GET  /systemer/spaer                  ?system=: the second step before revoking a system
 *   POST /systemer/spaer                  revoke a system (final; its certificates with it)
 *
 * A supplier's system is revoked as any other (/systemer/spaer): that ends
 * this organisation's registration only, never the supplier's other
 * customers'.
 *
 * The role rules are identity's (the organisation's administrator; the
 * platform's operator may suspend and revoke): the page only hides what the
 * user may not do. Before the module is asked, the certificate is read and
 * checked against the organisation (cert_input.c), so that each refusal can be said
 * precisely in Danish (CVR, expiry, CA certificate); the module checks the
 * same again, and its refusals are mapped to Danish by code and field,
 * never shown as they are.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "core/log.h"
#include "pki/pki.h"
#include "web/internal.h"

#define WEB_SYSTEMS_MAX        200
#define WEB_CERTS_PER_SYSTEM   50
#define WEB_CERT_EXPIRY_WARN_D 30 /* "udløber snart" within this many days */

struct systems {
    size_t n;
    struct identity_system *v;
};
static int collect_system(const struct identity_system *s, void *ctx)
{
    struct systems *l = ctx;
    if (l->n >= WEB_SYSTEMS_MAX)
        return 1;
    l->v[l->n++] = *s;
    return 0;
}

struct certs {
    size_t n;
    struct identity_cert v[WEB_CERTS_PER_SYSTEM];
};
static int collect_cert(const struct identity_cert *c, void *ctx)
{
    struct certs *l = ctx;
    if (l->n >= WEB_CERTS_PER_SYSTEM)
        return 1;
    l->v[l->n++] = *c;
    return 0;
}

/* The organisation's systems (arena memory; empty on failure, logged). */
static struct systems own_systems(struct web_ctx *cx)
{
    struct systems sys = {
        0, arena_alloc(http_req_arena(cx->req), WEB_SYSTEMS_MAX * sizeof(struct identity_system))};
    err_t err;
    err_clear(&err);
    if (sys.v && identity_system_list(cx->w->deps.identity, str_from_cstr(cx->org.id),
                                      collect_system, &sys, &err) != 0)
        log_warn("web: systems of %s: %s", cx->org.id, err.log);
    return sys;
}

/* A system's certificates (arena memory; NULL on failure, logged). */
static struct certs *certs_of(struct web_ctx *cx, const char *system_id)
{
    struct certs *c = arena_alloc(http_req_arena(cx->req), sizeof *c);
    err_t err;
    err_clear(&err);
    if (c && identity_cert_list(cx->w->deps.identity, str_from_cstr(system_id), collect_cert, c,
                                &err) != 0) {
        log_warn("web: certificates of %s: %s", system_id, err.log);
        return NULL;
    }
    return c;
}

static const char *system_status_label(enum system_status s)
{
    return s == SYSTEM_ACTIVE ? "Aktiv" : s == SYSTEM_SUSPENDED ? "Suspenderet" : "Spærret";
}

/* A certificate's state as the user sees it: revoked, expired, not yet
 * valid, expiring soon or active. */
static const char *cert_status_label(const struct identity_cert *c, int64_t now)
{
    if (c->status != CERT_ACTIVE)
        return "Spærret";
    if (c->not_after_ms <= now)
        return "Udløbet";
    if (c->not_before_ms > now)
        return "Endnu ikke gyldigt";
    if (c->not_after_ms - now < (int64_t)WEB_CERT_EXPIRY_WARN_D * 86400 * 1000)
        return "Aktivt, udløber snart";
    return "Aktivt";
}

/* A refusal from identity, in Danish: by code, the field it names and the
 * reason (err_is, core/problem.h); never the module's English text. */
const char *web_system_refusal(int rc, const err_t *e)
{
    const char *p = e->param;
    switch (rc) {
    case DUPLA_EFORBIDDEN:
        return "Du har ikke rettighed til dette: kun organisationens administrator kan registrere "
               "og ændre dens systemer og certifikater.";
    case DUPLA_ENOTFOUND:
        return strcmp(p, "sha256") == 0 ? "Certifikatet findes ikke." : "Systemet findes ikke.";
    case DUPLA_ECONFLICT:
        if (err_is(e, PROBLEM_CERT_REGISTERED))
            return "Certifikatet er allerede registreret (et certifikat med samme "
                   "SHA-256-fingeraftryk findes, hos organisationen eller som et andet "
                   "organisations eget system).";
        if (err_is(e, PROBLEM_SYSTEM_NAME_TAKEN))
            return "Organisationen har allerede et system med det navn.";
        if (strcmp(p, "system") == 0)
            return "Systemet er spærret og kan ikke få nye certifikater.";
        if (strcmp(p, "sha256") == 0)
            return "Certifikatet er allerede spærret.";
        if (err_is(e, PROBLEM_REVOCATION_FINAL))
            return "Systemet er spærret, og en spærring kan ikke fortrydes.";
        if (err_is(e, PROBLEM_ALREADY_ACTIVE) || err_is(e, PROBLEM_ALREADY_SUSPENDED))
            return "Systemet har allerede den status.";
        return "Det kan ikke lade sig gøre i systemets nuværende tilstand.";
    case DUPLA_EINVAL:
        if (strcmp(p, "supplier_cvr") == 0)
            return "Leverandørens CVR-nummer skal være 8 cifre med gyldigt kontrolciffer og må "
                   "ikke "
                   "være organisationens eget.";
        if (strcmp(p, "supplier_name") == 0)
            return "Leverandørens navn skal udfyldes og må højst være 200 tegn uden kontroltegn.";
        if (strcmp(p, "name") == 0)
            return "Systemets navn skal udfyldes, må højst være 200 tegn og må ikke indeholde "
                   "skråstreg (/) eller kontroltegn.";
        if (strcmp(p, "certificate") == 0)
            return "Certifikatet kan ikke bruges til organisationens system.";
        if (strcmp(p, "sha256") == 0)
            return "Fingeraftrykket skal være 64 hexadecimale cifre.";
        return "Oplysningerne er ikke gyldige.";
    default:
        return "Det lykkedes ikke. Prøv igen senere.";
    }
}

/* ---- the page ---- */

/* A labelled file input or textarea (with its error and hint), for forms
 * whose inputs need ids of their own (one roll-over form per system). */
static void cert_field(struct web_ctx *cx, const struct form_errors *fe, bool file, const char *id,
                       const char *name, const char *label, str_t value, const char *hint)
{
    html_t *h = &cx->h;
    const char *msg = form_error_for(fe, id);
    HTML(h, "<div class=\"form-group");
    if (msg)
        HTML(h, " form-error");
    HTML(h, "\"><label class=\"form-label\" for=\"");
    html_attrc(h, id);
    HTML(h, "\">");
    html_textc(h, label);
    HTML(h, "</label>");
    if (hint) {
        HTML(h, "<span class=\"form-hint\" id=\"");
        html_attrc(h, id);
        HTML(h, "-hint\">");
        html_textc(h, hint);
        HTML(h, "</span>");
    }
    if (msg) {
        HTML(h, "<span class=\"form-error-message\" id=\"");
        html_attrc(h, id);
        HTML(h, "-error\"><span class=\"sr-only\">Fejl: </span>");
        html_textc(h, msg);
        HTML(h, "</span>");
    }
    if (file)
        HTML(h, "<input type=\"file\" accept=\".pem,.crt,.cer,.der\" id=\"");
    else
        HTML(h, "<textarea class=\"form-input\" rows=\"6\" id=\"");
    html_attrc(h, id);
    HTML(h, "\" name=\"");
    html_attrc(h, name);
    HTML(h, "\"");
    if (hint || msg) {
        HTML(h, " aria-describedby=\"");
        if (hint) {
            html_attrc(h, id);
            HTML(h, "-hint");
        }
        if (msg) {
            if (hint)
                HTML(h, " ");
            html_attrc(h, id);
            HTML(h, "-error");
        }
        HTML(h, "\"");
    }
    if (msg)
        HTML(h, " aria-invalid=\"true\"");
    if (file) {
        HTML(h, "></div>");
    } else {
        HTML(h, ">");
        html_text(h, value);
        HTML(h, "</textarea></div>");
    }
}

static const char *field_id(struct web_ctx *cx, const char *prefix, const char *system_id)
{
    const char *s = arena_printf(http_req_arena(cx->req), "%s-%s", prefix, system_id);
    return s ? s : prefix;
}

static void certs_table(struct web_ctx *cx, const struct identity_system *s, int64_t now)
{
    html_t *h = &cx->h;
    struct certs *c = certs_of(cx, s->id);
    if (!c) {
        page_notice(cx, "warning", "Certifikaterne kunne ikke hentes lige nu.");
        return;
    }
    if (c->n == 0) {
        HTML(h, "<p>Systemet har ingen certifikater.</p>");
        return;
    }
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Certifikater for ");
    html_attrc(h, s->name);
    HTML(h, ", kan rulles\"><table class=\"table\"><caption>Certifikater for ");
    html_textc(h, s->name);
    HTML(h, "</caption><thead><tr><th scope=\"col\">Subjekt</th><th scope=\"col\">"
            "Fingeraftryk (SHA-256)</th><th scope=\"col\">Gyldig fra</th>"
            "<th scope=\"col\">Gyldig til</th><th scope=\"col\">Status</th>");
    bool actions = web_is_admin(cx) && s->status != SYSTEM_REVOKED;
    if (actions)
        HTML(h, "<th scope=\"col\">Handling</th>");
    HTML(h, "</tr></thead><tbody>");
    for (size_t i = 0; i < c->n; i++) {
        const struct identity_cert *ce = &c->v[i];
        char from[32], to[32];
        web_time(ce->not_before_ms, from);
        web_time(ce->not_after_ms, to);
        HTML(h, "<tr><td>");
        html_textc(h, ce->subject);
        HTML(h, "</td><td class=\"fingerprint\">");
        html_textc(h, ce->sha256_hex);
        HTML(h, "</td><td>");
        html_textc(h, from);
        HTML(h, "</td><td>");
        html_textc(h, to);
        HTML(h, "</td><td>");
        html_textc(h, cert_status_label(ce, now));
        HTML(h, "</td>");
        if (actions) {
            HTML(h, "<td>");
            if (ce->status == CERT_ACTIVE) {
                HTML(h, "<a href=\"/systemer/certifikat/spaer?sha256=");
                html_urlc(h, ce->sha256_hex);
                HTML(h, "\">Spær certifikatet<span class=\"sr-only\"> ");
                html_textc(h, ce->sha256_hex);
                HTML(h, "</span></a>");
            }
            HTML(h, "</td>");
        }
        HTML(h, "</tr>");
    }
    HTML(h, "</tbody></table></div>");
}

static void system_section(struct web_ctx *cx, const struct identity_system *s,
                           const struct form_errors *fe, const struct http_form *kept, int64_t now)
{
    html_t *h = &cx->h;
    HTML(h, "<h2>");
    html_textc(h, s->name);
    HTML(h, "</h2>");
    if (s->supplier_cvr[0]) {
        HTML(h, "<p>Leverandørens system: det drives af <strong>");
        html_textc(h, s->supplier_name);
        HTML(h, "</strong> (CVR-nummer ");
        html_textc(h, s->supplier_cvr);
        HTML(h, ") med leverandørens certifikat, og det henter data under organisationens "
                "aftaler. Udleveringsloggen viser både organisationen og leverandøren.</p>");
    }
    HTML(h, "<p>Status: <strong>");
    html_textc(h, system_status_label(s->status));
    HTML(h, "</strong>. System-id: ");
    html_textc(h, s->id);
    HTML(h, "</p>");
    bool bind = s->kind == SYSTEM_RECIPIENT;
    if (bind && s->sender_constrained)
        HTML(h, "<p>Tokenbinding: <strong>kræves</strong>. Et datakald skal vise det "
                "certifikat, tokenet er udstedt til.</p>");
    else if (bind)
        HTML(h, "<p>Tokenbinding: <strong>kræves ikke</strong>. Et datakald uden certifikat "
                "godtages; et andet certifikat end tokenets afvises.</p>");
    certs_table(cx, s, now);
    if (!web_is_admin(cx) || s->status == SYSTEM_REVOKED)
        return;
    if (bind) {
        HTML(h, "<form class=\"inline-form\" method=\"post\" action=\"/systemer/binding\">");
        form_csrf(cx);
        HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
        html_attrc(h, s->id);
        if (s->sender_constrained)
            HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"fritag\">Kræv ikke tokenbinding for ");
        else
            HTML(h, "\"><button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"kraev\">Kræv tokenbinding for ");
        html_textc(h, s->name);
        HTML(h, "</button></form>");
    }
    /* Suspend or re-activate; revoke (second step). */
    HTML(h, "<form class=\"inline-form\" method=\"post\" action=\"/systemer/status\">");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
    html_attrc(h, s->id);
    HTML(h, "\">");
    if (s->status == SYSTEM_ACTIVE)
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"suspender\">Suspendér ");
    else
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"genaktiver\">Genaktivér ");
    html_textc(h, s->name);
    HTML(h, "</button></form><a class=\"inline-form\" href=\"/systemer/spaer?system=");
    html_urlc(h, s->id);
    HTML(h, "\">");
    html_textc(h, s->supplier_cvr[0] ? "Spær registreringen af " : "Spær systemet ");
    html_textc(h, s->name);
    HTML(h, " permanent</a>");
    /* Roll-over: a new certificate beside the old ones. */
    const char *fid = field_id(cx, "fil", s->id), *pid = field_id(cx, "pem", s->id);
    bool mine = kept && str_eq_cstr(form_get(kept, "system"), s->id);
    bool open = mine && (form_error_for(fe, fid) || form_error_for(fe, pid));
    HTML(h, "<h3>Nyt certifikat til ");
    html_textc(h, s->name);
    HTML(h,
         "</h3><p>Det nye certifikat virker ved siden af de gamle, som virker, indtil du spærrer "
         "dem.</p><form method=\"post\" action=\"/systemer/certifikat\" "
         "enctype=\"multipart/form-data\" novalidate>");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
    html_attrc(h, s->id);
    HTML(h, "\">");
    char label[IDENTITY_NAME_MAX + 64];
    snprintf(label, sizeof label, "Ny certifikatfil til %s", s->name);
    cert_field(cx, fe, true, fid, "certificate_file", label, STR(""),
               "PEM eller DER (.pem, .crt, .cer, .der)");
    HTML(h, "<details class=\"details\"");
    if (open && form_error_for(fe, pid))
        HTML(h, " open");
    HTML(h, "><summary class=\"details-summary\">Eller indsæt certifikatet som tekst</summary>"
            "<div class=\"details-text\">");
    snprintf(label, sizeof label, "Nyt certifikat til %s (PEM-tekst)", s->name);
    cert_field(cx, fe, false, pid, "certificate", label,
               mine ? form_get(kept, "certificate") : STR(""), NULL);
    HTML(h, "</div></details><button class=\"button button-primary\" type=\"submit\">Tilføj "
            "certifikat til ");
    html_textc(h, s->name);
    HTML(h, "</button></form>");
}

/* The form that registers a system supplier's system: the supplier's
 * certificate (its CVR the supplier's) as one of the organisation's
 * systems. Its fields have names of their own (the page's other form has
 * name and certificate). */
static void supplier_form(struct web_ctx *cx, const struct form_errors *fe,
                          const struct http_form *k)
{
    html_t *h = &cx->h;
    HTML(h, "<h2>Registrér en leverandørs system</h2><p>Driver en systemleverandør systemet for "
            "organisationen med sit eget certifikat, registrerer du leverandørens certifikat her. "
            "Det samme certifikat kan være registreret af flere organisationer; systemet henter "
            "kun data under organisationens egne aftaler, og du kan spærre registreringen når "
            "som helst.</p><form method=\"post\" action=\"/systemer/leverandoer\" "
            "enctype=\"multipart/form-data\" novalidate>");
    form_csrf(cx);
    form_input(cx, fe, "supplier_system", "Navn på leverandørens system", "text",
               form_get(k, "supplier_system"), NULL);
    form_input(cx, fe, "supplier_cvr", "Leverandørens CVR-nummer", "text",
               form_get(k, "supplier_cvr"),
               "8 cifre, det CVR-nummer leverandørens certifikat er "
               "udstedt til");
    form_input(cx, fe, "supplier_name", "Leverandørens navn", "text", form_get(k, "supplier_name"),
               NULL);
    cert_field(cx, fe, true, "supplier_certificate_file", "supplier_certificate_file",
               "Leverandørens certifikat som fil (PEM eller DER)", STR(""),
               "Leverandørens OCES-certifikat som fil (.pem, .crt, .cer eller .der)");
    form_textarea(cx, fe, "supplier_certificate", "Leverandørens certifikat som PEM-tekst",
                  form_get(k, "supplier_certificate"),
                  "Eller indsæt certifikatet som tekst, fra -----BEGIN CERTIFICATE----- til "
                  "-----END CERTIFICATE-----");
    HTML(h, "<button class=\"button button-primary\" type=\"submit\">Registrér leverandørens "
            "system</button></form>");
}

static void systems_page(struct web_ctx *cx, const struct form_errors *fe,
                         const struct http_form *kept)
{
    html_t *h = &cx->h;
    static const struct http_form empty = {0};
    const struct http_form *k = kept ? kept : &empty;
    struct systems sys = own_systems(cx);
    int64_t now = clock_now_ms();
    page_begin(cx, "Systemer");
    static const struct {
        const char *key, *text;
    } notices[] = {
        {"registreret", "Systemet er registreret."},
        {"leverandoer", "Leverandørens system er registreret."},
        {"certifikat", "Det nye certifikat er tilføjet. De gamle virker, indtil du spærrer dem."},
        {"certifikat-spaerret", "Certifikatet er spærret."},
        {"spaerret", "Systemet er spærret."},
        {"suspenderet", "Systemet er suspenderet: det kan ikke hente data, før det genaktiveres."},
        {"genaktiveret", "Systemet er genaktiveret."},
        {"binding-kraeves", "Systemets datakald skal nu vise det certifikat, tokenet er udstedt "
                            "til."},
        {"binding-fritaget", "Systemets datakald godtages nu også uden certifikat."},
    };
    str_t ok = web_query(cx->req, "ok");
    for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++)
        if (str_eq_cstr(ok, notices[i].key))
            page_notice(cx, "success", notices[i].text);
    page_error_summary(cx, fe);
    if (sys.n == 0)
        HTML(h, "<p>Organisationen har ingen systemer endnu.</p>");
    for (size_t i = 0; i < sys.n; i++)
        system_section(cx, &sys.v[i], fe, kept, now);
    if (web_is_admin(cx)) {
        HTML(h, "<h2>Registrér et system</h2><form method=\"post\" action=\"/systemer\" "
                "enctype=\"multipart/form-data\" novalidate>");
        form_csrf(cx);
        form_input(cx, fe, "name", "Systemets navn", "text", form_get(k, "name"), NULL);
        cert_field(cx, fe, true, "certificate_file", "certificate_file",
                   "Certifikatfil (PEM eller DER)", STR(""),
                   "Systemets OCES-certifikat som fil (.pem, .crt, .cer eller .der)");
        form_textarea(cx, fe, "certificate", "Certifikat (PEM)", form_get(k, "certificate"),
                      "Eller indsæt certifikatet som tekst, fra -----BEGIN CERTIFICATE----- til "
                      "-----END CERTIFICATE-----");
        HTML(h, "<button class=\"button button-primary\" type=\"submit\">Registrér system"
                "</button></form>");
        supplier_form(cx, fe, k);
    }
    page_end(cx);
}

static int reply_systems(struct web_ctx *cx, const struct form_errors *fe, unsigned status)
{
    systems_page(cx, fe, http_req_method(cx->req) == HTTP_POST ? &cx->form : NULL);
    return web_reply_page(cx, status);
}

static int h_systems(struct web_ctx *cx, err_t *err)
{
    (void)err;
    return reply_systems(cx, NULL, 200);
}

/* The supplier's CVR of the organisation's system id (NULL: its own
 * system, or none such). */
static const char *supplier_of(struct web_ctx *cx, str_t system_id)
{
    struct systems sys = own_systems(cx);
    for (size_t i = 0; i < sys.n; i++)
        if (str_eq_cstr(system_id, sys.v[i].id) && sys.v[i].supplier_cvr[0])
            return arena_printf(http_req_arena(cx->req), "%s", sys.v[i].supplier_cvr);
    return NULL;
}

/* POST /systemer, /systemer/leverandoer and /systemer/certifikat: register
 * (an own or a supplier's system), or roll over. */
static int h_upload(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    str_t path = http_req_path(cx->req);
    bool rollover = str_eq_cstr(path, "/systemer/certifikat");
    bool supplier = str_eq_cstr(path, "/systemer/leverandoer");
    str_t system = form_get(&cx->form, "system");
    struct web_cert_input in = {"certificate_file", "certificate", NULL, NULL};
    if (rollover && system.len) {
        in.file_id = field_id(cx, "fil", web_cstr(cx->req, system));
        in.pem_id = field_id(cx, "pem", web_cstr(cx->req, system));
    }
    if (supplier)
        in = (struct web_cert_input){"supplier_certificate_file", "supplier_certificate",
                                     "supplier_certificate_file", "supplier_certificate"};
    struct form_errors fe = {0};
    if (cx->upload_error.code) {
        /* Nothing is changed: the form (and its CSRF token) was unreadable. */
        const char *m = arena_printf(http_req_arena(cx->req), "Formularen kunne ikke læses: %s",
                                     cx->upload_error.detail);
        form_error(&fe, rollover ? "" : in.file_id, m ? m : "Formularen kunne ikke læses.");
        return reply_systems(cx, &fe, 400);
    }
    const char *name_id = supplier ? "supplier_system" : "name";
    str_t name = form_get(&cx->form, name_id);
    str_t supplier_cvr = form_get(&cx->form, "supplier_cvr");
    str_t supplier_name = form_get(&cx->form, "supplier_name");
    if (!rollover && name.len == 0)
        form_error(&fe, name_id, "Skriv systemets navn.");
    if (rollover && system.len == 0)
        form_error(&fe, "", "Vælg det system, certifikatet skal tilføjes.");
    if (supplier && !ident_cvr_valid(supplier_cvr))
        form_error(&fe, "supplier_cvr",
                   "Skriv leverandørens CVR-nummer: 8 cifre med gyldigt kontrolciffer.");
    else if (supplier && str_eq_cstr(supplier_cvr, cx->org.cvr))
        form_error(&fe, "supplier_cvr",
                   "Leverandøren er en anden end organisationen selv. Organisationens egne "
                   "systemer registreres ovenfor.");
    if (supplier && supplier_name.len == 0)
        form_error(&fe, "supplier_name", "Skriv leverandørens navn.");
    const char *expect_cvr = supplier   ? web_cstr(cx->req, supplier_cvr)
                             : rollover ? supplier_of(cx, system)
                                        : NULL;
    struct pki_cert_info info;
    const char *used = in.file_id;
    if (fe.n == 0 && web_cert_read(cx, &cx->upload, &in, &fe, &info, &used) == 0)
        web_cert_check(cx, &info, used, expect_cvr, &fe);
    if (fe.n)
        return reply_systems(cx, &fe, 400);
    err_t e;
    err_clear(&e);
    int rc;
    if (rollover) {
        struct identity_cert c;
        rc = identity_cert_add(w->deps.identity, &cx->actor, system, &info, &c, &e);
    } else if (supplier) {
        struct identity_system s;
        rc = identity_system_register_supplier(w->deps.identity, &cx->actor,
                                               str_from_cstr(cx->org.id), name, supplier_cvr,
                                               supplier_name, &info, &s, &e);
    } else {
        struct identity_system s;
        rc = identity_system_register(w->deps.identity, &cx->actor, str_from_cstr(cx->org.id), name,
                                      SYSTEM_RECIPIENT, &info, &s, &e);
    }
    if (rc == 0)
        return web_redirect(cx->req, rollover   ? "/systemer?ok=certifikat"
                                     : supplier ? "/systemer?ok=leverandoer"
                                                : "/systemer?ok=registreret");
    if (rc != DUPLA_EFORBIDDEN && rc != DUPLA_EINVAL && rc != DUPLA_ECONFLICT &&
        rc != DUPLA_ENOTFOUND)
        log_warn("web: %s: %s", rollover ? "certificate roll-over" : "system register", e.log);
    const char *field = strcmp(e.param, "name") == 0                 ? name_id
                        : strcmp(e.param, "supplier_cvr") == 0       ? "supplier_cvr"
                        : strcmp(e.param, "supplier_name") == 0      ? "supplier_name"
                        : rollover && strcmp(e.param, "system") == 0 ? ""
                                                                     : used;
    form_error(&fe, field, web_system_refusal(rc, &e));
    return reply_systems(cx, &fe, web_refusal_status(rc));
}

/* POST /systemer/status: suspend or re-activate. */
static int h_status(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    str_t action = form_get(&cx->form, "handling");
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    int rc;
    bool suspend = str_eq_cstr(action, "suspender");
    if (!suspend && !str_eq_cstr(action, "genaktiver")) {
        form_error(&fe, "", "Vælg at suspendere eller genaktivere systemet.");
        return reply_systems(cx, &fe, 400);
    }
    rc = identity_system_set_status(w->deps.identity, &cx->actor, form_get(&cx->form, "system"),
                                    suspend ? SYSTEM_SUSPENDED : SYSTEM_ACTIVE, &e);
    if (rc == 0) {
        return web_redirect(cx->req,
                            suspend ? "/systemer?ok=suspenderet" : "/systemer?ok=genaktiveret");
    }
    form_error(&fe, "", web_system_refusal(rc, &e));
    return reply_systems(cx, &fe, web_refusal_status(rc));
}

/* POST /systemer/binding: require sender-constrained tokens, or not. */
static int h_binding(struct web_ctx *cx, err_t *err)
{
    (void)err;
    str_t action = form_get(&cx->form, "handling");
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    bool on = str_eq_cstr(action, "kraev");
    if (!on && !str_eq_cstr(action, "fritag")) {
        form_error(&fe, "", "Vælg at kræve tokenbinding eller ikke.");
        return reply_systems(cx, &fe, 400);
    }
    int rc = identity_system_set_sender_constrained(cx->w->deps.identity, &cx->actor,
                                                    form_get(&cx->form, "system"), on, &e);
    if (rc == 0)
        return web_redirect(cx->req,
                            on ? "/systemer?ok=binding-kraeves" : "/systemer?ok=binding-fritaget");
    form_error(&fe, "", web_system_refusal(rc, &e));
    return reply_systems(cx, &fe, web_refusal_status(rc));
}

/* The organisation's certificate with fingerprint sha (hex, any case) and
 * its system; false when the organisation has none such. */
static bool find_own_cert(struct web_ctx *cx, str_t sha, struct identity_cert *out,
                          struct identity_system *sys_out, size_t *active_in_system)
{
    struct systems sys = own_systems(cx);
    for (size_t i = 0; i < sys.n; i++) {
        struct certs *c = certs_of(cx, sys.v[i].id);
        for (size_t j = 0; c && j < c->n; j++)
            if (str_eq_nocase(sha, str_from_cstr(c->v[j].sha256_hex))) {
                *out = c->v[j];
                *sys_out = sys.v[i];
                *active_in_system = 0;
                for (size_t k = 0; k < c->n; k++)
                    *active_in_system += c->v[k].status == CERT_ACTIVE;
                return true;
            }
    }
    return false;
}

/* GET|POST /systemer/certifikat/spaer: the second step, then the revocation. */
static int h_cert_revoke(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    if (http_req_method(cx->req) == HTTP_POST) {
        int rc =
            identity_cert_revoke(w->deps.identity, &cx->actor, form_get(&cx->form, "sha256"), &e);
        if (rc == 0)
            return web_redirect(cx->req, "/systemer?ok=certifikat-spaerret");
        form_error(&fe, "", web_system_refusal(rc, &e));
        return reply_systems(cx, &fe, web_refusal_status(rc));
    }
    struct identity_cert c;
    struct identity_system s;
    size_t active = 0;
    if (!find_own_cert(cx, web_query(cx->req, "sha256"), &c, &s, &active)) {
        return web_reply_message(cx, 404, "Certifikatet findes ikke",
                                 "Organisationens systemer har intet certifikat med det "
                                 "fingeraftryk.");
    }
    html_t *h = &cx->h;
    char to[32];
    web_time(c.not_after_ms, to);
    page_begin(cx, "Spær certifikat");
    HTML(h, "<p>Et spærret certifikat kan ikke længere bruges til at hente data, og spærringen kan "
            "ikke fortrydes.</p><dl><dt>System</dt><dd>");
    html_textc(h, s.name);
    HTML(h, "</dd><dt>Subjekt</dt><dd>");
    html_textc(h, c.subject);
    HTML(h, "</dd><dt>Fingeraftryk (SHA-256)</dt><dd class=\"fingerprint\">");
    html_textc(h, c.sha256_hex);
    HTML(h, "</dd><dt>Gyldig til</dt><dd>");
    html_textc(h, to);
    HTML(h, "</dd><dt>Status</dt><dd>");
    html_textc(h, cert_status_label(&c, clock_now_ms()));
    HTML(h, "</dd></dl>");
    if (c.status == CERT_ACTIVE && active <= 1)
        page_notice(cx, "warning",
                    "Det er systemets eneste aktive certifikat: systemet kan ikke hente data, før "
                    "det får et nyt.");
    HTML(h, "<form method=\"post\" action=\"/systemer/certifikat/spaer\">");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"sha256\" value=\"");
    html_attrc(h, c.sha256_hex);
    HTML(h, "\"><button class=\"button button-primary\" type=\"submit\">Ja, spær certifikatet"
            "</button> <a class=\"button button-secondary\" href=\"/systemer\">Fortryd</a></form>");
    page_end(cx);
    return web_reply_page(cx, 200);
}

/* GET|POST /systemer/spaer: the second step, then the system's revocation. */
static int h_system_revoke(struct web_ctx *cx, err_t *err)
{
    (void)err;
    web_t *w = cx->w;
    struct form_errors fe = {0};
    err_t e;
    err_clear(&e);
    if (http_req_method(cx->req) == HTTP_POST) {
        int rc = identity_system_set_status(w->deps.identity, &cx->actor,
                                            form_get(&cx->form, "system"), SYSTEM_REVOKED, &e);
        if (rc == 0)
            return web_redirect(cx->req, "/systemer?ok=spaerret");
        form_error(&fe, "", web_system_refusal(rc, &e));
        return reply_systems(cx, &fe, web_refusal_status(rc));
    }
    str_t want = web_query(cx->req, "system");
    struct systems sys = own_systems(cx);
    const struct identity_system *s = NULL;
    for (size_t i = 0; i < sys.n && !s; i++)
        if (str_eq_cstr(want, sys.v[i].id))
            s = &sys.v[i];
    if (!s) {
        return web_reply_message(cx, 404, "Systemet findes ikke",
                                 "Organisationen har intet system med det id.");
    }
    html_t *h = &cx->h;
    page_begin(cx, s->supplier_cvr[0] ? "Spær leverandørens system" : "Spær system");
    if (s->supplier_cvr[0]) {
        HTML(h, "<p>Organisationens registrering af <strong>");
        html_textc(h, s->name);
        HTML(h, "</strong>, drevet af ");
        html_textc(h, s->supplier_name);
        HTML(h, " (CVR-nummer ");
        html_textc(h, s->supplier_cvr);
        HTML(h, "), spærres permanent: fra næste kald kan leverandørens certifikat ikke længere "
                "hente data for organisationen, og spærringen kan ikke fortrydes. Leverandørens "
                "andre kunder berøres ikke.</p>");
    } else {
        HTML(h, "<p>Systemet <strong>");
        html_textc(h, s->name);
        HTML(h, "</strong> og alle dets certifikater spærres permanent: det kan ikke længere hente "
                "data, og spærringen kan ikke fortrydes. Vil du kun standse det for en tid, så "
                "suspendér det i stedet.</p>");
    }
    HTML(h, "<form method=\"post\" action=\"/systemer/spaer\">");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"system\" value=\"");
    html_attrc(h, s->id);
    HTML(h, "\"><button class=\"button button-primary\" type=\"submit\">Ja, spær systemet"
            "</button> <a class=\"button button-secondary\" href=\"/systemer\">Fortryd</a></form>");
    page_end(cx);
    return web_reply_page(cx, 200);
}

static const struct http_param q_ok[] = {WEB_PARAM_OK, {0}};
static const struct http_param q_sha256[] = {{"sha256", HTTP_PARAM_STRING, .max = 64}, {0}};
static const struct http_param q_system[] = {{"system", HTTP_PARAM_STRING, .max = 64}, {0}};

int pages_systems_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/systemer", NULL, 0, h_systems, .query = q_ok},
        {HTTP_POST, "/systemer", NULL, WEB_UPLOAD_MAX_BODY, h_upload, WEB_BEGIN_UPLOAD},
        {HTTP_POST, "/systemer/certifikat", NULL, WEB_UPLOAD_MAX_BODY, h_upload, WEB_BEGIN_UPLOAD},
        {HTTP_POST, "/systemer/leverandoer", NULL, WEB_UPLOAD_MAX_BODY, h_upload, WEB_BEGIN_UPLOAD},
        {HTTP_GET | HTTP_POST, "/systemer/certifikat/spaer", NULL, WEB_FORM_MAX_BODY, h_cert_revoke,
         .query = q_sha256},
        {HTTP_POST, "/systemer/status", NULL, WEB_FORM_MAX_BODY, h_status},
        {HTTP_POST, "/systemer/binding", NULL, WEB_FORM_MAX_BODY, h_binding},
        {HTTP_GET | HTTP_POST, "/systemer/spaer", NULL, WEB_FORM_MAX_BODY, h_system_revoke,
         .query = q_system},
    };
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
