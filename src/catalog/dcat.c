/*
 * dcat.c: the service catalogue as open data, DCAT-AP-DK (the Danish profile
 * of DCAT-AP), in two serialisations of one graph: JSON-LD
 * (GET /servicekatalog.jsonld) and Turtle (GET /servicekatalog.ttl).
 *
 * The graph is built first as a short list of nodes (the catalogue, its
 * publisher, one dcat:DataService per service), each with its properties;
 * the two writers then only differ in syntax, so they cannot say different
 * things. What it says:
 *
 *   <base/servicekatalog>  a dcat:Catalog: title, description (da, en),
 *       publisher, languages, the licence of this metadata (CC0), homepage,
 *       dcat:service for each service;
 *   <base/servicekatalog#udgiver>  a foaf:Agent: the data owner's name;
 *   <base/servicekatalog#<path>>  a dcat:DataService: identifier, title and
 *       description (da, en), endpoint URL, endpoint description (the
 *       OpenAPI document), landing page (its section of the catalogue page),
 *       publisher, access rights (restricted: data only under an approved
 *       agreement) and a keyword for its subject key.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/json.h"

#define DCAT_PROPS_MAX 24 /* properties of one node (the catalogue's dcat:service aside) */
#define DCAT_ARENA     (1024 * 1024) /* the graph and its IRIs */

/* EU vocabularies that DCAT-AP(-DK) prescribes. */
#define EU_AUTHORITY  "http://publications.europa.eu/resource/authority/"
#define ACCESS_RIGHTS EU_AUTHORITY "access-right/RESTRICTED"
#define LICENCE_CC0   EU_AUTHORITY "licence/CC0"
#define LANG_DA       EU_AUTHORITY "language/DAN"
#define LANG_EN       EU_AUTHORITY "language/ENG"

static const char *const prefixes[][2] = {
    {"dcat", "http://www.w3.org/ns/dcat#"},
    {"dct", "http://purl.org/dc/terms/"},
    {"foaf", "http://xmlns.com/foaf/0.1/"},
};

struct dcat_prop {
    const char *pred;  /* a prefixed name, e.g. "dct:title" */
    const char *value; /* an IRI, or a literal's text */
    const char *lang;  /* a literal's language; NULL for an IRI */
    bool iri;
};

struct dcat_node {
    const char *iri;
    const char *type; /* a prefixed name */
    size_t n;
    struct dcat_prop p[DCAT_PROPS_MAX];
    /* the catalogue's dcat:service objects (kept apart: one per service) */
    size_t n_services;
    const char *services[CATALOG_MAX_SERVICES];
};

struct dcat_graph {
    size_t n;
    struct dcat_node nodes[CATALOG_MAX_SERVICES + 2];
};

static void prop(struct dcat_node *nd, const char *pred, const char *value, const char *lang,
                 bool iri)
{
    if (nd->n < DCAT_PROPS_MAX && value)
        nd->p[nd->n++] = (struct dcat_prop){pred, value, lang, iri};
}

static void iri(struct dcat_node *nd, const char *pred, const char *value)
{
    prop(nd, pred, value, NULL, true);
}

static void text(struct dcat_node *nd, const char *pred, const struct catalog_text *t)
{
    prop(nd, pred, t->da, "da", false);
    prop(nd, pred, t->en, "en", false);
}

static const char *subject_keyword(enum catalog_ident k)
{
    return k == CATALOG_IDENT_CPR   ? "CPR-nummer"
           : k == CATALOG_IDENT_CVR ? "CVR-nummer"
                                    : "SE-nummer";
}

/* The graph into g, its IRIs from arena a. 0 or DUPLA_ENOMEM. */
static int build(const catalog_t *cat, const struct catalog_dcat_options *opt, arena_t *a,
                 struct dcat_graph *g)
{
    const char *base = opt->base_url;
    const char *cat_iri = arena_printf(a, "%s/servicekatalog", base);
    const char *pub_iri = arena_printf(a, "%s/servicekatalog#udgiver", base);
    const char *home = cat_iri;
    const char *openapi = arena_printf(a, "%s/openapi.json", base);
    if (!cat_iri || !pub_iri || !openapi)
        return DUPLA_ENOMEM;
    memset(g, 0, sizeof *g);
    struct dcat_node *c = &g->nodes[g->n++];
    c->iri = cat_iri;
    c->type = "dcat:Catalog";
    static const struct catalog_text title = {
        "Servicekatalog for dataudvekslingsplatformen (DUPLA)",
        "Service catalogue of the data exchange platform (DUPLA)"};
    static const struct catalog_text desc = {
        "Skatteforvaltningens datatjenester til aftaleparter: hver tjeneste med sti, "
        "parametre og felter. Data udleveres kun efter en godkendt aftale.",
        "The tax administration's data services for agreement parties: each service with "
        "its path, parameters and fields. Data is disclosed only under an approved agreement."};
    text(c, "dct:title", &title);
    text(c, "dct:description", &desc);
    iri(c, "dct:publisher", pub_iri);
    iri(c, "dct:language", LANG_DA);
    iri(c, "dct:language", LANG_EN);
    iri(c, "dct:license", LICENCE_CC0);
    iri(c, "foaf:homepage", home);

    struct dcat_node *p = &g->nodes[g->n++];
    p->iri = pub_iri;
    p->type = "foaf:Agent";
    prop(p, "foaf:name", opt->publisher, "da", false);

    size_t n = catalog_count(cat);
    for (size_t i = 0; i < n && i < CATALOG_MAX_SERVICES; i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        struct dcat_node *s = &g->nodes[g->n++];
        s->iri = arena_printf(a, "%s/servicekatalog#%s", base, svc->path);
        const char *endpoint = arena_printf(a, "%s/%s", base, svc->path);
        if (!s->iri || !endpoint)
            return DUPLA_ENOMEM;
        s->type = "dcat:DataService";
        prop(s, "dct:identifier", svc->path, NULL, false);
        text(s, "dct:title", &svc->title);
        text(s, "dct:description", &svc->description);
        iri(s, "dcat:endpointURL", endpoint);
        iri(s, "dcat:endpointDescription", openapi);
        iri(s, "dcat:landingPage", s->iri);
        iri(s, "dct:publisher", pub_iri);
        iri(s, "dct:accessRights", ACCESS_RIGHTS);
        prop(s, "dcat:keyword", subject_keyword(svc->subject_kind), "da", false);
        c->services[c->n_services++] = s->iri;
    }
    return 0;
}

/* ---- Turtle ---- */

static int ttl_iri(buf_t *out, const char *v)
{
    /* The IRIs are the base URL (checked by the caller: no space, quote,
     * angle bracket or backslash) and catalogue paths (ASCII names). */
    int rc = buf_append(out, "<", 1);
    rc = rc ? rc : buf_append_cstr(out, v);
    return rc ? rc : buf_append(out, ">", 1);
}

static int ttl_literal(buf_t *out, const char *v, const char *lang)
{
    int rc = buf_append(out, "\"", 1);
    for (const char *s = v; !rc && *s; s++) {
        switch (*s) {
        case '"':
            rc = buf_append_cstr(out, "\\\"");
            break;
        case '\\':
            rc = buf_append_cstr(out, "\\\\");
            break;
        case '\n':
            rc = buf_append_cstr(out, "\\n");
            break;
        case '\r':
            rc = buf_append_cstr(out, "\\r");
            break;
        case '\t':
            rc = buf_append_cstr(out, "\\t");
            break;
        default:
            rc = buf_append(out, s, 1);
        }
    }
    rc = rc ? rc : buf_append(out, "\"", 1);
    if (!rc && lang)
        rc = buf_printf(out, "@%s", lang);
    return rc;
}

static int ttl_write(const struct dcat_graph *g, buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof prefixes / sizeof prefixes[0]; i++)
        rc = buf_printf(out, "@prefix %s: <%s> .\n", prefixes[i][0], prefixes[i][1]);
    for (size_t i = 0; !rc && i < g->n; i++) {
        const struct dcat_node *nd = &g->nodes[i];
        rc = buf_append(out, "\n", 1);
        rc = rc ? rc : ttl_iri(out, nd->iri);
        rc = rc ? rc : buf_printf(out, "\n    a %s", nd->type);
        for (size_t k = 0; !rc && k < nd->n; k++) {
            const struct dcat_prop *pr = &nd->p[k];
            rc = buf_printf(out, " ;\n    %s ", pr->pred);
            rc = rc        ? rc
                 : pr->iri ? ttl_iri(out, pr->value)
                           : ttl_literal(out, pr->value, pr->lang);
        }
        for (size_t k = 0; !rc && k < nd->n_services; k++) {
            rc = buf_append_cstr(out, " ;\n    dcat:service ");
            rc = rc ? rc : ttl_iri(out, nd->services[k]);
        }
        rc = rc ? rc : buf_append_cstr(out, " .\n");
    }
    return rc;
}

/* ---- JSON-LD ---- */

static json_t *ld_object(const struct dcat_prop *pr)
{
    if (pr->iri)
        return json_pack("{s:s}", "@id", pr->value);
    if (pr->lang)
        return json_pack("{s:s, s:s}", "@value", pr->value, "@language", pr->lang);
    return json_pack("{s:s}", "@value", pr->value);
}

static int ld_add(json_t *node, const char *pred, json_t *obj)
{
    if (!obj)
        return DUPLA_ENOMEM;
    json_t *list = json_object_get(node, pred);
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(node, pred, list) != 0) {
            json_decref(obj);
            return DUPLA_ENOMEM;
        }
    }
    return json_array_append_new(list, obj) == 0 ? 0 : DUPLA_ENOMEM;
}

static int ld_write(const struct dcat_graph *g, buf_t *out)
{
    json_t *ctx = json_object(), *graph = json_array();
    json_t *doc = json_pack("{s:o, s:o}", "@context", ctx, "@graph", graph);
    int rc = doc ? 0 : DUPLA_ENOMEM;
    for (size_t i = 0; !rc && i < sizeof prefixes / sizeof prefixes[0]; i++)
        rc = json_object_set_new(ctx, prefixes[i][0], json_string(prefixes[i][1])) ? DUPLA_ENOMEM
                                                                                   : 0;
    for (size_t i = 0; !rc && i < g->n; i++) {
        const struct dcat_node *nd = &g->nodes[i];
        json_t *node = json_pack("{s:s, s:s}", "@id", nd->iri, "@type", nd->type);
        if (!node || json_array_append_new(graph, node) != 0) {
            rc = DUPLA_ENOMEM;
            break;
        }
        for (size_t k = 0; !rc && k < nd->n; k++)
            rc = ld_add(node, nd->p[k].pred, ld_object(&nd->p[k]));
        for (size_t k = 0; !rc && k < nd->n_services; k++)
            rc = ld_add(node, "dcat:service", json_pack("{s:s}", "@id", nd->services[k]));
    }
    char *text = rc ? NULL : json_text(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!rc)
        rc = text ? buf_append_cstr(out, text) : DUPLA_ENOMEM;
    free(text);
    json_decref(doc);
    return rc;
}

/* ---- the contract ---- */

/* Is base a URL the writers may put between angle brackets as it is? */
bool catalog_dcat_base_ok(const char *base)
{
    size_t n = base ? strlen(base) : 0;
    if (n == 0 || n > CATALOG_DCAT_BASE_MAX || base[n - 1] == '/')
        return false;
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)base[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("<>\"{}|\\^`", ch))
            return false;
    }
    return true;
}

int catalog_dcat(const catalog_t *cat, const struct catalog_dcat_options *opt,
                 enum catalog_dcat_format format, buf_t *out)
{
    if (!catalog_dcat_base_ok(opt->base_url) || !opt->publisher)
        return DUPLA_EINVAL;
    arena_t *a = arena_new(DCAT_ARENA);
    struct dcat_graph *g = a ? arena_alloc(a, sizeof *g) : NULL;
    int rc = g ? build(cat, opt, a, g) : DUPLA_ENOMEM;
    if (!rc)
        rc = format == CATALOG_DCAT_TURTLE ? ttl_write(g, out) : ld_write(g, out);
    arena_free(a);
    return rc;
}
