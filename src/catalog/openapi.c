/*
 * openapi.c: the OpenAPI 3.1 document of the data services, generated from
 * the catalogue (GET /openapi.json).
 *
 * Every service gets two paths, its ASCII path and its Danish alias
 * (percent-encoded UTF-8, as clients send it), each with every parameter and
 * the four protocol headers; every field appears in the service's record
 * schema with its type and both descriptions. The error answers are RFC 9457
 * problem+json, the security schemes the mutual-TLS token endpoint (OAuth 2
 * client credentials, and the mutualTLS scheme itself) and bearer tokens.
 * Descriptions are Danish, then English ("Danish text\n\nEnglish: ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/encode.h"

#define OPENAPI_VERSION "3.1.0"
#define DOC_VERSION     "1.0.0"

static json_t *text2(const struct catalog_text *t)
{
    char *s = NULL;
    size_t n = strlen(t->da) + strlen(t->en) + 16;
    json_t *j = NULL;
    if ((s = malloc(n))) {
        snprintf(s, n, "%s\n\nEnglish: %s", t->da, t->en);
        j = json_string(s);
        free(s);
    }
    return j;
}

static json_t *field_schema(const struct catalog_field *f)
{
    json_t *s = json_object();
    const char *type = "string";
    switch (f->type) {
    case CATALOG_AMOUNT:
        type = "integer";
        json_object_set_new(s, "format", json_string("int64"));
        json_object_set_new(s, "x-unit", json_string("øre (1/100 DKK)"));
        break;
    case CATALOG_RATE:
        type = "number";
        json_object_set_new(s, "x-unit", json_string("percent"));
        break;
    case CATALOG_DATE:
        json_object_set_new(s, "format", json_string("date"));
        break;
    case CATALOG_TIMESTAMP:
        json_object_set_new(s, "format", json_string("date-time"));
        break;
    case CATALOG_CODE: {
        json_t *e = json_array();
        for (size_t i = 0; i < f->n_codes; i++)
            json_array_append_new(e, json_string(f->codes[i].value));
        json_object_set_new(s, "enum", e);
        break;
    }
    case CATALOG_BOOLEAN:
        type = "boolean";
        break;
    case CATALOG_IDENTIFIER:
        json_object_set_new(
            s, "pattern",
            json_string(f->ident == CATALOG_IDENT_CPR ? "^[0-9]{10}$" : "^[0-9]{8}$"));
        break;
    case CATALOG_INTEGER:
        type = "integer";
        json_object_set_new(s, "format", json_string("int64"));
        break;
    case CATALOG_TEXT:
        json_object_set_new(s, "maxLength", json_integer(CATALOG_TEXT_FIELD_MAX));
        break;
    }
    if (catalog_field_is_key(f) || f->role == CATALOG_ROLE_VERSION ||
        f->role == CATALOG_ROLE_REGISTERED || f->required) {
        json_object_set_new(s, "type", json_string(type));
    } else {
        /* a field a delivery may lack is null in an answer */
        json_object_set_new(s, "type", json_pack("[s, s]", type, "null"));
    }
    json_object_set_new(s, "description", text2(&f->description));
    if (f->type == CATALOG_CODE) {
        json_t *m = json_object();
        for (size_t i = 0; i < f->n_codes; i++)
            json_object_set_new(m, f->codes[i].value,
                                json_pack("{s:s, s:s}", "da", f->codes[i].meaning.da, "en",
                                          f->codes[i].meaning.en));
        json_object_set_new(s, "x-codes", m);
    }
    return s;
}

static json_t *record_schema(const struct catalog_service *svc)
{
    json_t *props = json_object(), *req = json_array();
    for (size_t i = 0; i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        json_object_set_new(props, f->name, field_schema(f));
        if (catalog_field_is_key(f))
            json_array_append_new(req, json_string(f->name));
    }
    char d[512];
    snprintf(d, sizeof d,
             "Én post (version) af %s. Nøglefelterne sendes altid; de øvrige felter kun, når "
             "aftalen giver adgang til dem (og de er bedt om).\n\nEnglish: One record "
             "(version) of %s. The key fields are always sent; the others only when the "
             "agreement grants them (and they were asked for).",
             svc->title.da, svc->title.en);
    return json_pack("{s:s, s:s, s:o, s:o, s:b}", "type", "object", "description", d, "properties",
                     props, "required", req, "additionalProperties", 0);
}

/* A service path as an OpenAPI component name or operation id part
 * ([A-Za-z0-9_]): each '/' becomes '_'. */
static void path_ident(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < cap; p++)
        out[o++] = *p == '/' ? '_' : *p;
    out[o] = 0;
}

static json_t *param_item_schema(const struct catalog_service *svc, const struct catalog_param *p)
{
    switch (p->type) {
    case CATALOG_PARAM_CPR:
        return json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]{10}$");
    case CATALOG_PARAM_CVR:
    case CATALOG_PARAM_SE:
        return json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]{8}$");
    case CATALOG_PARAM_T_YEAR:
        return json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 1900, "maximum", 9999);
    case CATALOG_PARAM_T_DATE:
        return json_pack("{s:s, s:s}", "type", "string", "format", "date");
    case CATALOG_PARAM_T_TIMESTAMP:
        return json_pack("{s:s, s:s, s:s}", "type", "string", "format", "date-time", "pattern",
                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$");
    case CATALOG_PARAM_T_CODE: {
        json_t *e = json_array();
        for (size_t i = 0; p->field && i < p->field->n_codes; i++)
            json_array_append_new(e, json_string(p->field->codes[i].value));
        return json_pack("{s:s, s:o}", "type", "string", "enum", e);
    }
    case CATALOG_PARAM_T_TEXT: {
        json_t *e = json_array();
        if (p->role == CATALOG_PARAM_FIELDS)
            for (size_t i = 0; i < svc->n_fields; i++)
                json_array_append_new(e, json_string(svc->fields[i].name));
        json_t *s = json_pack("{s:s}", "type", "string");
        if (json_array_size(e))
            json_object_set_new(s, "enum", e);
        else
            json_decref(e);
        return s;
    }
    }
    return json_object();
}

static json_t *parameter(const struct catalog_service *svc, const struct catalog_param *p)
{
    json_t *schema = param_item_schema(svc, p);
    if (p->list)
        schema = json_pack("{s:s, s:o}", "type", "array", "items", schema);
    json_t *j = json_pack("{s:s, s:s, s:b, s:o, s:o}", "name", p->name, "in", "query", "required",
                          p->required, "description", text2(&p->description), "schema", schema);
    if (p->list) {
        json_object_set_new(j, "style", json_string("form"));
        json_object_set_new(j, "explode", json_true());
    }
    return j;
}

static json_t *ref(const char *where)
{
    return json_pack("{s:s}", "$ref", where);
}

static json_t *operation(const struct catalog_service *svc, const char *ref_schema, bool alias)
{
    json_t *params = json_array();
    json_array_append_new(params, ref("#/components/parameters/XRequestID"));
    json_array_append_new(params, ref("#/components/parameters/XTransaktionsID"));
    json_array_append_new(params, ref("#/components/parameters/UFSTAdgangsgrundlag"));
    json_array_append_new(params, ref("#/components/parameters/XDuplaSagsreference"));
    for (size_t i = 0; i < svc->n_params; i++)
        json_array_append_new(params, parameter(svc, &svc->params[i]));
    char opid[CATALOG_NAME_MAX + 16];
    char ident[CATALOG_NAME_MAX + 1];
    path_ident(svc->path, ident, sizeof ident);
    snprintf(opid, sizeof opid, "get%s%s", ident, alias ? "Alias" : "");
    json_t *ok = json_pack(
        "{s:s, s:{s:o, s:o, s:o}, s:{s:{s:{s:s, s:[s], s:{s:{s:s, s:o}}}}}}", "description",
        "Posterne, der svarer til spørgsmålet (en tom liste, når der intet er). English: the "
        "records that answer the question (an empty list when there are none).",
        "headers", "X-Request-ID", ref("#/components/headers/XRequestID"), "X-Dupla-Miljoe",
        ref("#/components/headers/XDuplaMiljoe"), "X-Dupla-Udlevering",
        ref("#/components/headers/XDuplaUdlevering"), "content", "application/json", "schema",
        "type", "object", "required", "data", "properties", "data", "type", "array", "items",
        ref(ref_schema));
    json_t *responses = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "200", ok, "400",
                                  ref("#/components/responses/BadRequest"), "401",
                                  ref("#/components/responses/Unauthorized"), "403",
                                  ref("#/components/responses/Forbidden"), "429",
                                  ref("#/components/responses/TooManyRequests"), "500",
                                  ref("#/components/responses/InternalError"), "503",
                                  ref("#/components/responses/ServiceUnavailable"));
    char summary[CATALOG_TEXT_MAX];
    snprintf(summary, sizeof summary, "%s (%s)%s", svc->title.da, svc->title.en,
             alias ? " (dansk stavning / Danish spelling)" : "");
    return json_pack("{s:s, s:s, s:o, s:[s], s:o, s:o, s:[{s:[]}]}", "operationId", opid, "summary",
                     summary, "description", text2(&svc->description), "tags", svc->path,
                     "parameters", params, "responses", responses, "security", "bearer");
}

/* "/" + name percent-encoded where it is not ASCII. */
static void path_key(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    out[o++] = '/';
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < cap; p++) {
        if (*p < 0x80) {
            out[o++] = (char)*p;
        } else {
            pct_encode_byte(*p, out + o);
            o += 3;
        }
    }
    out[o] = 0;
}

static json_t *problem_response(const char *description, json_t *headers)
{
    json_t *r =
        json_pack("{s:s, s:{s:{s:o}}}", "description", description, "content",
                  "application/problem+json", "schema", ref("#/components/schemas/Problem"));
    if (headers)
        json_object_set_new(r, "headers", headers);
    return r;
}

static json_t *components(const catalog_t *cat)
{
    json_t *schemas = json_object();
    json_object_set_new(
        schemas, "Problem",
        json_pack(
            "{s:s, s:s, s:[s, s, s], s:{s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:i, s:i}, "
            "s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}}",
            "type", "object", "description",
            "En fejl efter RFC 9457 (problem+json). English: an error as RFC 9457 problem+json; "
            "clients key on \"type\".",
            "required", "type", "title", "status", "properties", "type", "type", "string", "format",
            "uri", "description",
            "Fejlens art, fx .../problems/field-not-granted. English: the kind of error.", "title",
            "type", "string", "description", "HTTP-statusens tekst. English: the status's phrase.",
            "status", "type", "integer", "minimum", 400, "maximum", 599, "detail", "type", "string",
            "description", "Hvad der er galt. English: what is wrong.", "instance", "type",
            "string", "description",
            "Forespørgslens X-Request-ID. English: the request's X-Request-ID.", "parameter",
            "type", "string", "description",
            "Parameteren eller headeren, fejlen gælder. English: the parameter or header at "
            "fault."));
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        char name[CATALOG_NAME_MAX + 16];
        char ident[CATALOG_NAME_MAX + 1];
        path_ident(svc->path, ident, sizeof ident);
        snprintf(name, sizeof name, "%sRecord", ident);
        json_object_set_new(schemas, name, record_schema(svc));
    }
    json_t *parameters = json_pack(
        "{s:{s:s, s:s, s:b, s:s, s:{s:s, s:s}}, s:{s:s, s:s, s:b, s:s, s:{s:s, s:i}},"
        " s:{s:s, s:s, s:b, s:s, s:{s:s, s:s}}}",
        "XRequestID", "name", "X-Request-ID", "in", "header", "required", 1, "description",
        "Et nyt UUID for hvert kald; sendes tilbage i svaret. English: a new UUID for each "
        "call; echoed in the answer.",
        "schema", "type", "string", "format", "uuid", "XTransaktionsID", "name",
        "X-Transaktions-ID", "in", "header", "required", 1, "description",
        "Jobbets transaktions-id (samme for alle kald i et job), typisk et UUID. English: the "
        "job's transaction id (the same for every call of a job), usually a UUID.",
        "schema", "type", "string", "maxLength", 128, "UFSTAdgangsgrundlag", "name",
        "UFST-Adgangsgrundlag", "in", "header", "required", 1, "description",
        "Den dataudvekslingsaftale, kaldet sker under: urn:ufst:adgangsgrundlag:aftale:<id>. "
        "English: the data exchange agreement the call acts under.",
        "schema", "type", "string", "pattern", "^urn:ufst:adgangsgrundlag:aftale:.+$");
    json_object_set_new(
        parameters, "XDuplaSagsreference",
        json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:i, s:i, s:s}}", "name", "X-Dupla-Sagsreference",
                  "in", "header", "required", 0, "description",
                  "Modtagerens egen sagsreference; skrives i udleveringsloggen og nævnes i "
                  "en meddelelse om fejl i udleverede data. English: the recipient's own case "
                  "reference, recorded in the disclosure log and named in a notice of a data "
                  "error.",
                  "schema", "type", "string", "minLength", 1, "maxLength", 64, "pattern",
                  "^[A-Za-z0-9._/:#()+-]([A-Za-z0-9 ._/:#()+-]*[A-Za-z0-9._/:#()+-])?$"));
    json_t *headers = json_pack(
        "{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s, s:[s, s]}}, s:{s:s, s:{s:s, s:i}},"
        " s:{s:s, s:{s:s}}}",
        "XRequestID", "description", "Forespørgslens X-Request-ID. English: the request's id.",
        "schema", "type", "string", "XDuplaMiljoe", "description",
        "Miljøet, der svarer: test (TFE, kun syntetiske data) eller produktion. English: the "
        "environment that answers: test (synthetic data only) or production.",
        "schema", "type", "string", "enum", "test", "produktion", "RetryAfter", "description",
        "Sekunder, før kaldet kan prøves igen. English: seconds before the call may be retried.",
        "schema", "type", "integer", "minimum", 1, "WWWAuthenticate", "description",
        "Bearer-udfordring (RFC 6750). English: the bearer challenge.", "schema", "type", "string");
    json_object_set_new(
        headers, "XDuplaUdlevering",
        json_pack("{s:s, s:{s:s, s:i}}", "description",
                  "Løbenummeret på svarets post i udleveringsloggen. Med samme token giver GET "
                  "/api/receipts/<nummer> en kvittering: posten, et signeret checkpoint og "
                  "inklusionsbeviset (docs/transparency.md). English: the sequence number of "
                  "the answer's disclosure log entry; GET /api/receipts/<seq> with the same "
                  "token gives its receipt (the entry, a signed checkpoint, the inclusion "
                  "proof).",
                  "schema", "type", "integer", "minimum", 1));
    json_t *responses = json_object();
    json_object_set_new(responses, "BadRequest",
                        problem_response("Forkert forespørgsel: en parameter eller header er "
                                         "forkert (navngivet i \"parameter\"); prøv ikke igen "
                                         "uændret. English: a bad parameter or header.",
                                         NULL));
    json_object_set_new(
        responses, "Unauthorized",
        problem_response(
            "Intet eller ugyldigt adgangstoken. English: no or an invalid access token.",
            json_pack("{s:o}", "WWW-Authenticate", ref("#/components/headers/WWWAuthenticate"))));
    json_object_set_new(responses, "Forbidden",
                        problem_response("Aftalen tillader ikke kaldet (ikke aktiv, en anden "
                                         "organisations, system, service eller felt ikke "
                                         "tilladt). English: the agreement does not allow it.",
                                         NULL));
    json_object_set_new(
        responses, "TooManyRequests",
        problem_response(
            "Systemets kaldsrate er overskredet. English: the rate limit is reached.",
            json_pack("{s:o}", "Retry-After", ref("#/components/headers/RetryAfter"))));
    json_object_set_new(
        responses, "ServiceUnavailable",
        problem_response(
            "Platformen er overbelastet eller i et planlagt servicevindue. English: saturated "
            "or in a planned service window.",
            json_pack("{s:o}", "Retry-After", ref("#/components/headers/RetryAfter"))));
    json_object_set_new(responses, "InternalError",
                        problem_response("Intern fejl. English: an internal error.", NULL));
    return json_pack("{s:o, s:o, s:o, s:o}", "schemas", schemas, "parameters", parameters,
                     "headers", headers, "responses", responses);
}

static json_t *security_schemes(const struct catalog_openapi_options *opt)
{
    return json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s, s:{s:{s:s, s:{s:s}}}}}", "bearer",
        "type", "http", "scheme", "bearer", "bearerFormat", "JWT", "description",
        "Adgangstoken fra token-endpointet (kort levetid). Datakaldene bærer kun tokenet, ikke "
        "certifikatet. English: the access token from the token endpoint; data calls carry "
        "only the token.",
        "systemCertificate", "type", "mutualTLS", "description",
        "Systemcertifikatet (X.509, typisk en PKCS#12-fil), som token-endpointet kræver. "
        "English: the system certificate the token endpoint requires over mutual TLS.",
        "tokenEndpoint", "type", "oauth2", "description",
        "POST til token-endpointet over mutual TLS med systemcertifikatet; formular "
        "client_id=api-gateway, scope=openid, grant_type=password (eller client_credentials), "
        "header x-transaktion-id; svaret har access_token og expires_in. English: POST to the "
        "token endpoint over mutual TLS with the system certificate.",
        "flows", "clientCredentials", "tokenUrl", opt->token_url, "scopes", "openid",
        "Adgang til datatjenesterne. English: access to the data services.");
}

static json_t *token_path(void)
{
    json_t *form =
        json_pack("{s:s, s:[s, s], s:{s:{s:s}, s:{s:s, s:[s]}, s:{s:s, s:[s, s]}, s:{s:s, s:s, "
                  "s:s}, s:{s:s, s:s, s:s}}}",
                  "type", "object", "required", "grant_type", "client_id", "properties",
                  "client_id", "type", "string", "scope", "type", "string", "enum", "openid",
                  "grant_type", "type", "string", "enum", "password", "client_credentials",
                  "org_cvr", "type", "string", "pattern", "^[0-9]{8}$", "description",
                  "Valgfri: organisationen (CVR), når en systemleverandørs certifikat er "
                  "registreret af flere. Uden: aftalen i UFST-Adgangsgrundlag afgør det ved hvert "
                  "kald. English: optional, the organisation when a supplier's certificate "
                  "serves several; without it each call's agreement names the organisation.",
                  "onbehalfofse", "type", "string", "pattern", "^[0-9]{8}$", "description",
                  "Valgfri: virksomhedens SE-nummer, når en tredjepart (en revisor) henter "
                  "virksomhedens egne data med dens fuldmagt. English: optional, the company's "
                  "SE number when a third party fetches the company's own data under its "
                  "authorisation; the calls may then ask about that company only.");
    json_t *ok = json_pack(
        "{s:s, s:{s:{s:{s:s, s:[s, s], s:{s:{s:s}, s:{s:s}, s:{s:s}}}}}}", "description",
        "Et adgangstoken. English: an access token.", "content", "application/json", "schema",
        "type", "object", "required", "access_token", "expires_in", "properties", "access_token",
        "type", "string", "expires_in", "type", "integer", "token_type", "type", "string");
    json_t *oauth_err =
        json_pack("{s:s, s:{s:{s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}", "description",
                  "OAuth 2-fejl (RFC 6749 5.2) med error_code. English: an OAuth 2 error.",
                  "content", "application/json", "schema", "type", "object", "properties", "error",
                  "type", "string", "error_code", "type", "string");
    json_t *op = json_pack(
        "{s:s, s:s, s:s, s:[s], s:[{s:s, s:s, s:b, s:{s:s}}], s:{s:b, s:{s:{s:o}}}, "
        "s:{s:o, s:o, s:o, s:o}, s:[{s:[]}]}",
        "operationId", "issueToken", "summary", "Adgangstoken (Access token)", "description",
        "Udsteder et kortlivet adgangstoken til et modtagersystem, der viser sit certifikat "
        "over mutual TLS.\n\nEnglish: issues a short-lived access token to a recipient system "
        "that presents its certificate over mutual TLS.",
        "tags", "token", "parameters", "name", "x-transaktion-id", "in", "header", "required", 0,
        "schema", "type", "string", "requestBody", "required", 1, "content",
        "application/x-www-form-urlencoded", "schema", form, "responses", "200", ok, "400",
        oauth_err, "401", json_deep_copy(oauth_err), "403", json_deep_copy(oauth_err), "security",
        "systemCertificate");
    return json_pack("{s:o}", "post", op);
}

json_t *catalog_openapi(const catalog_t *cat, const struct catalog_openapi_options *opt)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        char schema[CATALOG_NAME_MAX + 48], key[3 * CATALOG_NAME_MAX + 2];
        char ident[CATALOG_NAME_MAX + 1];
        path_ident(svc->path, ident, sizeof ident);
        snprintf(schema, sizeof schema, "#/components/schemas/%sRecord", ident);
        path_key(svc->path, key, sizeof key);
        json_object_set_new(paths, key, json_pack("{s:o}", "get", operation(svc, schema, false)));
        if (strcmp(svc->alias, svc->path) != 0) {
            path_key(svc->alias, key, sizeof key);
            json_object_set_new(paths, key,
                                json_pack("{s:o}", "get", operation(svc, schema, true)));
        }
    }
    if (opt->token_url && opt->token_url[0] == '/')
        json_object_set_new(paths, opt->token_url, token_path());
    char desc[1024];
    snprintf(desc, sizeof desc,
             "Datatjenesterne på dataudvekslingsplatformen, genereret fra servicekataloget. "
             "Miljø: %s. Hent et adgangstoken over mutual TLS, og kald så en tjeneste med "
             "Authorization: Bearer, X-Request-ID, X-Transaktions-ID og UFST-Adgangsgrundlag. "
             "Lister er samme parameter gentaget. Beløb er heltal i øre.\n\nEnglish: the data "
             "services of the data exchange platform, generated from the service catalogue. "
             "Environment: %s. Get an access token over mutual TLS, then call a service with "
             "the four headers. A list is the same parameter repeated. Amounts are integer øre.",
             opt->environment ? opt->environment : "test",
             opt->environment ? opt->environment : "test");
    json_t *tags = json_array();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        json_array_append_new(
            tags, json_pack("{s:s, s:o}", "name", svc->path, "description", text2(&svc->title)));
    }
    json_array_append_new(tags, json_pack("{s:s, s:s}", "name", "token", "description",
                                          "Adgangstokens (access tokens)"));
    json_t *comp = components(cat);
    json_object_set_new(comp, "securitySchemes", security_schemes(opt));
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:o, s:o, s:[{s:[]}]}", "openapi",
                     OPENAPI_VERSION, "info", "title", "DUPLA: dataudvekslingsplatformen",
                     "version", DOC_VERSION, "description", desc, "servers", "url",
                     opt->server_url ? opt->server_url : "/", "tags", tags, "paths", paths,
                     "components", comp, "security", "bearer");
}
