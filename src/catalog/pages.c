/*
 * pages.c: the service catalogue as one HTML page (GET /servicekatalog):
 * every service with its paths, parameters and fields, Danish first and
 * English alongside. Every text from the catalogue is escaped (buf_append_html);
 * the page has no script and loads nothing.
 */
#include <string.h>

#include "catalog/catalog.h"

static int esc(buf_t *out, const char *s)
{
    return buf_append_html(out, str_from_cstr(s));
}

/* Appends literal HTML (trusted, from this file). */
static int lit(buf_t *out, const char *s)
{
    return buf_append_cstr(out, s);
}

static int both(buf_t *out, const struct catalog_text *t)
{
    int rc = lit(out, "<span lang=\"da\">");
    rc = rc ? rc : esc(out, t->da);
    rc = rc ? rc : lit(out, "</span><br><span lang=\"en\" class=\"en\">");
    rc = rc ? rc : esc(out, t->en);
    return rc ? rc : lit(out, "</span>");
}

static const char head[] =
    "<!DOCTYPE html>\n<html lang=\"da\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Servicekatalog &middot; Service catalogue</title>\n"
    "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:auto;padding:1rem;"
    "line-height:1.4}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}"
    "th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}.en{color:#555}code{background:#f6f6f6;padding:0 .2rem}"
    "nav li{margin:.2rem 0}</style>\n</head>\n<body>\n"
    "<h1>Servicekatalog <span lang=\"en\" class=\"en\">/ Service catalogue</span></h1>\n"
    "<p>Datatjenesterne p&aring; dataudvekslingsplatformen. Hver tjeneste kaldes med "
    "<code>GET /&lt;sti&gt;</code> og headerne <code>Authorization: Bearer</code>, "
    "<code>X-Request-ID</code>, <code>X-Transaktions-ID</code> og "
    "<code>UFST-Adgangsgrundlag</code>; en liste er samme parameter gentaget. "
    "Bel&oslash;b er heltal i &oslash;re. Maskinl&aelig;sbart: "
    "<a href=\"/servicekatalog.json\">servicekatalog.json</a>, "
    "<a href=\"/openapi.json\">openapi.json</a>, og som DCAT-AP-DK "
    "<a href=\"/servicekatalog.jsonld\">servicekatalog.jsonld</a>, "
    "<a href=\"/servicekatalog.ttl\">servicekatalog.ttl</a>.<br>\n<span lang=\"en\" "
    "class=\"en\">The data "
    "services of the data exchange platform. Each is called with <code>GET /&lt;path&gt;</code> "
    "and the four headers; a list is the same parameter repeated. Amounts are integer &oslash;re "
    "(1/100 DKK).</span></p>\n";

static const char *ident_label(enum catalog_ident k)
{
    return k == CATALOG_IDENT_CPR ? "CPR" : k == CATALOG_IDENT_CVR ? "CVR" : "SE";
}

static int service(buf_t *out, const struct catalog_service *svc)
{
    int rc = lit(out, "<section id=\"");
    rc = rc ? rc : esc(out, svc->path);
    rc = rc ? rc : lit(out, "\">\n<h2>");
    rc = rc ? rc : esc(out, svc->title.da);
    rc = rc ? rc : lit(out, " <span lang=\"en\" class=\"en\">/ ");
    rc = rc ? rc : esc(out, svc->title.en);
    rc = rc ? rc : lit(out, "</span></h2>\n<p>");
    rc = rc ? rc : both(out, &svc->description);
    rc = rc ? rc : lit(out, "</p>\n<p>Sti <span class=\"en\">(path)</span>: <code>/");
    rc = rc ? rc : esc(out, svc->path);
    rc = rc ? rc : lit(out, "</code>");
    if (rc == 0 && strcmp(svc->alias, svc->path) != 0) {
        rc = lit(out, " og <span class=\"en\">(and)</span> <code>/");
        rc = rc ? rc : esc(out, svc->alias);
        rc = rc ? rc : lit(out, "</code>");
    }
    rc = rc ? rc : lit(out, ". Subjekt <span class=\"en\">(subject)</span>: ");
    for (size_t k = 0; rc == 0 && k < svc->n_subjects; k++) {
        if (k > 0)
            rc = lit(out,
                     k + 1 == svc->n_subjects ? " eller <span class=\"en\">(or)</span> " : ", ");
        rc = rc ? rc : lit(out, ident_label(svc->subjects[k].kind));
        rc = rc ? rc : lit(out, " (<code>");
        rc = rc ? rc : esc(out, svc->subjects[k].param->name);
        rc = rc ? rc : lit(out, "</code>)");
    }
    if (rc == 0 && svc->n_subjects > 1)
        rc = lit(out, "; et kald n&aelig;vner netop &eacute;n slags <span class=\"en\">(a call "
                      "names exactly one kind)</span>");
    rc = rc ? rc : lit(out, ". Periode <span class=\"en\">(period)</span>: ");
    rc = rc ? rc
            : lit(out, svc->period_kind == CATALOG_PERIOD_YEAR
                           ? "indkomst&aring;r <span class=\"en\">(income year)</span>"
                       : svc->period_kind == CATALOG_PERIOD_NUMBER
                           ? "ingen; hver post har sit nummer <span class=\"en\">(none; each "
                             "record has its number)</span>"
                           : "afregningsperiode <span class=\"en\">(settlement period)</span>");
    if (rc == 0 && svc->valid_from) {
        rc = lit(out, ". Gyldighed <span class=\"en\">(valid time)</span>: <code>");
        rc = rc ? rc : esc(out, svc->valid_from->name);
        rc = rc ? rc : lit(out, "</code> &ndash; <code>");
        rc = rc ? rc : esc(out, svc->valid_to->name);
        rc = rc ? rc : lit(out, "</code>");
    }
    rc = rc ? rc
            : lit(out, ".</p>\n<h3>Parametre <span class=\"en\">/ Parameters</span></h3>\n"
                       "<table><tr><th>Navn <span class=\"en\">/ Name</span></th><th>Type</th>"
                       "<th>Liste <span class=\"en\">/ List</span></th><th>P&aring;kr&aelig;vet "
                       "<span class=\"en\">/ Required</span></th><th>Beskrivelse <span "
                       "class=\"en\">/ Description</span></th></tr>\n");
    for (size_t i = 0; rc == 0 && i < svc->n_params; i++) {
        const struct catalog_param *p = &svc->params[i];
        rc = lit(out, "<tr><td><code>");
        rc = rc ? rc : esc(out, p->name);
        rc = rc ? rc : lit(out, "</code></td><td>");
        rc = rc ? rc : esc(out, catalog_param_type_name(p->type));
        rc = rc ? rc
                : lit(out, p->list ? "</td><td>ja / yes</td><td>" : "</td><td>nej / no</td><td>");
        rc = rc ? rc : lit(out, p->required ? "ja / yes</td><td>" : "nej / no</td><td>");
        rc = rc ? rc : both(out, &p->description);
        rc = rc ? rc : lit(out, "</td></tr>\n");
    }
    rc = rc ? rc
            : lit(out, "</table>\n<h3>Felter <span class=\"en\">/ Fields</span></h3>\n"
                       "<table><tr><th>Felt <span class=\"en\">/ Field</span></th><th>Type</th>"
                       "<th>Beskrivelse <span class=\"en\">/ Description</span></th></tr>\n");
    for (size_t i = 0; rc == 0 && i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        rc = lit(out, "<tr><td><code>");
        rc = rc ? rc : esc(out, f->name);
        rc = rc ? rc : lit(out, "</code>");
        if (rc == 0 && catalog_field_is_key(f))
            rc = lit(out, " <small>(n&oslash;gle / key)</small>");
        rc = rc ? rc : lit(out, "</td><td>");
        rc = rc ? rc : esc(out, catalog_type_name(f->type));
        rc = rc ? rc : lit(out, "</td><td>");
        rc = rc ? rc : both(out, &f->description);
        if (rc == 0 && f->n_codes) {
            rc = lit(out, "<ul>");
            for (size_t k = 0; rc == 0 && k < f->n_codes; k++) {
                rc = lit(out, "<li><code>");
                rc = rc ? rc : esc(out, f->codes[k].value);
                rc = rc ? rc : lit(out, "</code>: ");
                rc = rc ? rc : esc(out, f->codes[k].meaning.da);
                rc = rc ? rc : lit(out, " <span lang=\"en\" class=\"en\">/ ");
                rc = rc ? rc : esc(out, f->codes[k].meaning.en);
                rc = rc ? rc : lit(out, "</span></li>");
            }
            rc = rc ? rc : lit(out, "</ul>");
        }
        rc = rc ? rc : lit(out, "</td></tr>\n");
    }
    return rc ? rc : lit(out, "</table>\n</section>\n");
}

/* The event lists (src/exposure/events.c) are not a catalogue service but
 * are asked the same way, under the same agreement: the page says how. */
static const char events_nav[] =
    "<li><a href=\"#Haendelser\">Hændelser</a> <span lang=\"en\" class=\"en\">/ Event "
    "lists</span></li>\n";
static const char events_section[] =
    "<section id=\"Haendelser\">\n<h2>Hændelser <span lang=\"en\" class=\"en\">/ Event "
    "lists</span></h2>\n"
    "<p>En aftagers system følger personer og virksomheder under en aftale og henter, hvad der er "
    "ændret i aftalens tjenester, i stedet for at spørge om alle igen. Samme token, headere og "
    "aftale som dataopslag. Hver side hændelser logges som en udlevering.</p>\n"
    "<p lang=\"en\" class=\"en\">A recipient system follows subjects under an agreement and "
    "reads what changed in the agreement's services. Same token, headers and agreement as data "
    "calls; every page is recorded in the disclosure log.</p>\n"
    "<table>\n<thead><tr><th>Kald</th><th>Betydning</th></tr></thead>\n<tbody>\n"
    "<tr><td><code>PUT /Haendelser/abonnement</code></td><td>Erstat listen af fulgte (én pr. "
    "linje: <code>6601760061</code>, <code>CVR 12345674</code>, <code>SE 12345678</code>; højst "
    "50.000). <code>POST</code> tilføjer, <code>POST /Haendelser/abonnement/fjern</code> "
    "fjerner.</td></tr>\n"
    "<tr><td><code>GET /Haendelser?FraSekvensnummer=N&amp;Antal=M&amp;Vent=S</code></td><td>Hæ"
    "ndelserne fra N (højst M, højst 1000) i sekvensorden; en tom side betyder intet nyt. "
    "<code>Vent</code> (højst 30 sekunder) venter på den første. <code>Tjeneste</code> "
    "afgrænser til nogle af aftalens tjenester.</td></tr>\n"
    "<tr><td><code>GET /Haendelser/start?Dato=ÅÅÅÅ-MM-DD</code></td><td>Det første "
    "sekvensnummer på eller efter datoen.</td></tr>\n"
    "</tbody></table>\n"
    "<p>En hændelse: <code>Sekvensnummer</code>, <code>Tjeneste</code>, "
    "<code>IdentifikatorType</code> (CPR, CVR, SE), <code>Identifikator</code>, "
    "<code>Periode</code>, <code>Version</code>, <code>RegistreringTidspunkt</code> og "
    "<code>Type</code>: <code>ny</code>, <code>ændret</code> eller <code>tilbagekaldt</code> "
    "(en tilbagekaldt post er ikke længere aktuel; i et registreringsvindue vises den med "
    "<code>Tilbagekaldt: true</code>). Ingen datafelter.</p>\n"
    "</section>\n";

int catalog_pages_html(const catalog_t *cat, buf_t *out)
{
    int rc = lit(out, head);
    rc = rc ? rc : lit(out, "<nav><ul>\n");
    for (size_t i = 0; rc == 0 && i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        rc = lit(out, "<li><a href=\"#");
        rc = rc ? rc : esc(out, svc->path);
        rc = rc ? rc : lit(out, "\">");
        rc = rc ? rc : esc(out, svc->title.da);
        rc = rc ? rc : lit(out, "</a> <span lang=\"en\" class=\"en\">/ ");
        rc = rc ? rc : esc(out, svc->title.en);
        rc = rc ? rc : lit(out, "</span></li>\n");
    }
    rc = rc ? rc : lit(out, events_nav);
    rc = rc ? rc : lit(out, "</ul></nav>\n");
    for (size_t i = 0; rc == 0 && i < catalog_count(cat); i++)
        rc = service(out, catalog_service_at(cat, i));
    rc = rc ? rc : lit(out, events_section);
    return rc ? rc : lit(out, "</body>\n</html>\n");
}
