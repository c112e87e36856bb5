/*
 * openapi.c: the test-data API in the OpenAPI document (a test
 * deployment's /openapi.json; the exposure module calls it through its
 * openapi_extend hook). Every query parameter of testdata_search_params is
 * described, with its limits, so the document cannot name fewer than the
 * route takes (a unit test compares them).
 */
#include <string.h>

#include "testdata/routes.h"

#define TAG "testdata"

static const char *param_desc(const char *name)
{
    static const struct {
        const char *name, *desc;
    } d[] = {
        {"kind", "person (by CPR number) or company (by CVR number)."},
        {"year", "Only this income year (else any year: a person's conditions hold in one year)."},
        {"income_min", "Persons: personal income (PersonligIndkomst) at least this, whole kroner."},
        {"income_max", "Persons: personal income at most this, whole kroner."},
        {"residual_tax", "Persons: the annual assessment has residual tax (Restskat > 0), or not."},
        {"excess_tax", "Persons: the annual assessment has excess tax (OverskydendeSkat > 0)."},
        {"church_tax", "Persons: liable to church tax (Kirkeskattepligtig)."},
        {"vat", "Companies: a VAT obligation (Virksomhedspligter PligtKode 1) without an end."},
        {"joint_taxation",
         "Companies: a member of a joint taxation group (Selskabsambeskatningskreds), in year if "
         "given."},
        {"status", "Companies: the current status (VirksomhedStatusTypeKode, a code of the service "
                   "catalogue: 1 active, 2 ceased, 3 bankrupt, ...)."},
        {"service",
         "Has a current record in this service (its path), in year if given; repeated, at most "
         "4."},
        {"limit", "At most this many subjects (default 20)."},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (strcmp(d[i].name, name) == 0)
            return d[i].desc;
    return NULL;
}

static json_t *schema_of(const struct http_param *p)
{
    switch (p->type) {
    case HTTP_PARAM_INT:
        return json_pack("{s:s, s:I, s:I}", "type", "integer", "minimum", (json_int_t)p->min,
                         "maximum", (json_int_t)p->max);
    case HTTP_PARAM_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case HTTP_PARAM_ENUM: {
        json_t *e = json_array();
        for (const char *const *v = p->values; *v; v++)
            json_array_append_new(e, json_string(*v));
        return json_pack("{s:s, s:o}", "type", "string", "enum", e);
    }
    default:
        if (p->repeat)
            return json_pack("{s:s, s:{s:s}, s:i}", "type", "array", "items", "type", "string",
                             "maxItems", TESTDATA_SEARCH_SERVICES_MAX);
        return json_pack("{s:s, s:I, s:I}", "type", "string", "minLength", (json_int_t)p->min,
                         "maxLength", (json_int_t)p->max);
    }
}

static json_t *problem(const char *desc)
{
    return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", desc, "content",
                     "application/problem+json", "schema", "type", "object");
}

int testdata_openapi(json_t *doc)
{
    json_t *paths = json_object_get(doc, "paths");
    json_t *comp = json_object_get(doc, "components");
    json_t *schemes = comp ? json_object_get(comp, "securitySchemes") : NULL;
    if (!json_is_object(paths) || !json_is_object(schemes))
        return DUPLA_EINVAL;
    json_object_set_new(schemes, "session",
                        json_pack("{s:s, s:s, s:s, s:s}", "type", "apiKey", "in", "cookie", "name",
                                  "dupla_session", "description",
                                  "The session of a logged-in user (POST /api/session)."));
    json_t *params = json_array();
    for (const struct http_param *p = testdata_search_params; p->name; p++) {
        const char *desc = param_desc(p->name);
        if (!desc)
            return DUPLA_EINTERNAL; /* a parameter the document does not describe */
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", p->name, "in",
                                                "query", "required", p->required, "schema",
                                                schema_of(p), "description", desc));
    }
    json_t *person = json_pack(
        "{s:s, s:{s:{s:s, s:[s]}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "type",
        "object", "properties", "kind", "type", "string", "enum", "person", "subject", "type",
        "string", "year", "type", "integer", "personal_income", "type", "integer", "residual_tax",
        "type", "integer", "excess_tax", "type", "integer", "church_tax", "type", "boolean");
    json_t *company =
        json_pack("{s:s, s:{s:{s:s, s:[s]}, s:{s:s}, s:{s:[s, s]}, s:{s:s}, s:{s:s}}}", "type",
                  "object", "properties", "kind", "type", "string", "enum", "company", "subject",
                  "type", "string", "status", "type", "string", "null", "vat_obligation", "type",
                  "boolean", "joint_taxation", "type", "boolean");
    json_t *answer =
        json_pack("{s:s, s:[s, s, s, s], s:{s:{s:s}, s:{s:[s, s]}, s:{s:s, s:{s:[o, o]}}, s:{s:s}, "
                  "s:{s:s}, s:{s:s}}}",
                  "type", "object", "required", "kind", "subjects", "more", "scan_limited",
                  "properties", "kind", "type", "string", "year", "type", "integer", "null",
                  "subjects", "type", "array", "items", "oneOf", person, company, "more", "type",
                  "boolean", "scan_limited", "type", "boolean", "scanned", "type", "integer");
    json_t *op = json_pack(
        "{s:s, s:s, s:s, s:[s], s:o, s:[{s:[]}], s:{s:{s:s, s:{s:{s:o}}}, s:o, s:o, s:o}}",
        "operationId", "getTestdataSubjects", "summary",
        "Test data: find synthetic subjects by what their data says", "description",
        "A test deployment only (a production deployment answers 403, problem type "
        "\"production\"). Searches the stored synthetic data (the current versions), in "
        "subject order, reading at most 200,000 records. For a logged-in user of an "
        "organisation registered for the test environment, or the data owner's staff.",
        "tags", TAG, "parameters", params, "security", "session", "responses", "200", "description",
        "The subjects found.", "content", "application/json", "schema", answer, "400",
        problem("A parameter is wrong (the problem's \"parameter\" names it)."), "401",
        problem("Not logged in."), "403", problem("Not allowed, or a production deployment."));
    if (!op)
        return DUPLA_ENOMEM;
    json_object_set_new(paths, TESTDATA_HTTP_BASE "/subjects", json_pack("{s:o}", "get", op));
    json_t *body = json_pack(
        "{s:s, s:[s, s], s:{s:{s:s, s:[s, s, s]}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s, "
        "s:s}, s:{s:s, s:s}}}",
        "type", "object", "required", "change", "subject", "properties", "change", "type", "string",
        "enum", "reassessment", "vat_correction", "status_change", "subject", "type", "string",
        "description",
        "reassessment: a CPR number; vat_correction: an SE number; status_change: a CVR number.",
        "year", "type", "integer", "description", "reassessment: the income year.", "period_start",
        "type", "string", "format", "date", "description",
        "vat_correction: the first day of the return's period.", "status", "type", "string",
        "description", "status_change: the new VirksomhedStatusTypeKode.");
    json_t *made =
        json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "type",
                  "object", "properties", "change", "type", "string", "subject", "type", "string",
                  "service", "type", "string", "new_versions", "type", "integer", "version", "type",
                  "integer", "delivery_id", "type", "string");
    json_t *post = json_pack(
        "{s:s, s:s, s:s, s:[s], s:{s:b, s:{s:{s:o}}}, s:[{s:[]}], s:{s:{s:s, s:{s:{s:o}}}, s:o, "
        "s:o, s:o, s:o, s:o}}",
        "operationId", "postTestdataChange", "summary",
        "Test data: a change that makes a new version (and events)", "description",
        "A test deployment only. Makes the change from the subject's current record by the "
        "generator's rules (a re-issued annual assessment with more deductions, a corrected VAT "
        "return, a new company status from today) and ingests it as a synthetic delivery: a new "
        "version, registered now, and events for every agreement following the subject. Needs "
        "the session's X-CSRF-Token header.",
        "tags", TAG, "requestBody", "required", 1, "content", "application/json", "schema", body,
        "security", "session", "responses", "201", "description", "The change was stored.",
        "content", "application/json", "schema", made, "400",
        problem("A member is wrong (the problem's \"parameter\" names it)."), "401",
        problem("Not logged in."), "403",
        problem("Not allowed, no CSRF token, or a production deployment."), "404",
        problem("The subject has no current record to change."), "409",
        problem("The company has that status already, or its status started today."));
    if (!post)
        return DUPLA_ENOMEM;
    json_object_set_new(paths, TESTDATA_HTTP_BASE "/changes", json_pack("{s:o}", "post", post));
    json_t *pbody = json_pack(
        "{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:i, s:I, s:s}}}", "type",
        "object", "properties", "church_tax", "type", "boolean", "description",
        "Liable to church tax (absent: drawn).", "residual_tax", "type", "boolean", "description",
        "true: residual tax every year; false: excess tax (absent: drawn).", "excess_tax", "type",
        "boolean", "description", "The opposite of residual_tax.", "income", "type", "integer",
        "minimum", 0, "maximum", (json_int_t)TESTDATA_CREATE_INCOME_MAX, "description",
        "The wage in kroner, every year, the only income (absent: drawn); at least 100,000 with "
        "residual or excess tax.");
    json_t *pmade = json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "type", "object",
                              "properties", "kind", "type", "string", "subject", "type", "string",
                              "year_from", "type", "integer", "year_to", "type", "integer");
    json_t *ppost = json_pack(
        "{s:s, s:s, s:s, s:[s], s:{s:b, s:{s:{s:o}}}, s:[{s:[]}], s:{s:{s:s, s:{s:{s:o}}}, s:o, "
        "s:o, s:o}}",
        "operationId", "postTestdataPerson", "summary", "Test data: a person made to order",
        "description",
        "A test deployment only. A new synthetic person made by the generator (the same rules "
        "as dupla testdata) with the properties asked for, the rest drawn, with data in every "
        "person service for the tax table's last three years. Needs the session's X-CSRF-Token "
        "header.",
        "tags", TAG, "requestBody", "required", 0, "content", "application/json", "schema", pbody,
        "security", "session", "responses", "201", "description", "The person was made.", "content",
        "application/json", "schema", pmade, "400",
        problem("A member is wrong (the problem's \"parameter\" names it)."), "401",
        problem("Not logged in."), "403",
        problem("Not allowed, no CSRF token, or a production deployment."));
    if (!ppost)
        return DUPLA_ENOMEM;
    json_object_set_new(paths, TESTDATA_HTTP_BASE "/persons", json_pack("{s:o}", "post", ppost));
    json_t *tags = json_object_get(doc, "tags");
    if (json_is_array(tags))
        json_array_append_new(tags, json_pack("{s:s, s:s}", "name", TAG, "description",
                                              "Self-service test data (test deployments)."));
    return 0;
}
