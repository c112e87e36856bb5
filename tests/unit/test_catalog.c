/* Unit tests: catalog (loading, checking and querying service descriptions). */
#include <criterion/criterion.h>

#include "fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/buf.h"

static const char *catalog_dir(void)
{
    static char dir[1024];
    fx_source_path(dir, sizeof dir, "catalog");
    return dir;
}

Test(catalog, the_shipped_catalogue_loads)
{
    catalog_t *cat;
    err_t err;
    int rc = catalog_load_dir(catalog_dir(), &cat, &err);
    cr_assert_eq(rc, 0, "%s", err.detail);
    /* the thirteen services real clients call, by their paths as sent */
    static const char *const paths[] = {"Aarsopgoerelse",
                                        "Forskudsopgoerelse",
                                        "Momsangivelse",
                                        "Loensumsangivelser",
                                        "Kontrolregistreringer/Virksomhed",
                                        "Kontrolobservationer",
                                        "virksomhedskontroloplysninger",
                                        "personkontroloplysninger",
                                        "Ligningssager",
                                        "Selskabsskatteoplysninger/Selskabsambeskatningskreds",
                                        "Selskabsskatteoplysninger/Selskabselvangivelse",
                                        "Virksomhedspligter",
                                        "Virksomhedsstatus"};
    cr_assert_eq(catalog_count(cat), sizeof paths / sizeof paths[0]);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        cr_assert_not_null(catalog_find(cat, str_from_cstr(paths[i])), "%s", paths[i]);
    const struct catalog_service *lig = catalog_find(cat, STR("Ligningssager"));
    cr_assert_eq(lig->n_subjects, 3);
    cr_assert_eq(lig->period_kind, CATALOG_PERIOD_NUMBER);
    const struct catalog_service *pl = catalog_find(cat, STR("Virksomhedspligter"));
    cr_assert_not_null(pl->valid_from);
    cr_assert_not_null(catalog_param_by_role(pl, CATALOG_PARAM_CODE));
    const struct catalog_service *a = catalog_find(cat, STR("Aarsopgoerelse"));
    cr_assert_not_null(a);
    cr_assert_eq(catalog_find(cat, STR("Årsopgørelse")), a);
    cr_assert_eq(a->subject_kind, CATALOG_IDENT_CPR);
    cr_assert_eq(a->period_kind, CATALOG_PERIOD_YEAR);
    cr_assert_str_eq(a->subject->name, "PersonCPRNummer");
    cr_assert_str_eq(a->year->name, "IndkomstÅr");
    cr_assert_eq(a->version->role, CATALOG_ROLE_VERSION);
    cr_assert_eq(a->registered->type, CATALOG_TIMESTAMP);
    cr_assert_eq(a->n_business, a->n_fields - 4);
    const struct catalog_field *k = catalog_field_find(a, STR("KommuneKode"));
    cr_assert_not_null(k);
    cr_assert_eq(k->n_codes, 98);
    cr_assert(catalog_code_allowed(k, STR("101")));
    cr_assert_not(catalog_code_allowed(k, STR("999")));
    cr_assert_eq(a->business[k->business_index], k);
    cr_assert_eq(catalog_field_index(a, STR("PersonCPRNummer")), 0);
    cr_assert_eq(catalog_field_index(a, STR("Nope")), -1);
    cr_assert_not_null(catalog_param_find(a, STR("IndkomstÅr")));
    cr_assert_eq(catalog_param_by_role(a, CATALOG_PARAM_SUBJECT)->type, CATALOG_PARAM_CPR);

    const struct catalog_service *m = catalog_find(cat, STR("Momsangivelse"));
    cr_assert_not_null(m);
    cr_assert_eq(m->period_kind, CATALOG_PERIOD_RANGE);
    cr_assert_str_eq(m->period_start->name, "AfregningPeriodeForholdPeriodeStartDato");
    cr_assert(catalog_field_is_key(m->period_end));
    cr_assert_not(catalog_field_is_key(m->version));

    const struct catalog_service *l = catalog_find(cat, STR("Lønsumsangivelser"));
    cr_assert_not_null(l);
    cr_assert_str_eq(l->path, "Loensumsangivelser");
    cr_assert_eq(catalog_param_find(l, STR("TekniskRegistreringDatoFra"))->role,
                 CATALOG_PARAM_REGISTERED_FROM);
    cr_assert_null(catalog_find(cat, STR("Aarsopgoerelsen")));

    json_t *j = catalog_to_json(cat);
    cr_assert_eq(json_array_size(json_object_get(j, "services")), catalog_count(cat));
    json_decref(j);
    catalog_free(cat);
}

/* A small valid service; the error tests break one thing at a time. */
#define HEAD                                                                                       \
    "{\"path\":\"Test\",\"alias\":\"Tæst\",\"title\":{\"da\":\"t\",\"en\":\"t\"},"                \
    "\"description\":{\"da\":\"d\",\"en\":\"d\"},"
#define KEYS                                                                                       \
    "\"subject\":{\"kind\":\"cpr\",\"field\":\"PersonCPRNummer\"},"                                \
    "\"period\":{\"kind\":\"year\",\"field\":\"IndkomstÅr\"},"                                    \
    "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\","
#define PARAMS                                                                                     \
    "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":\"subject\","         \
    "\"list\":true,\"required\":true,\"description\":{\"da\":\"x\",\"en\":\"x\"}}],"
#define D "\"description\":{\"da\":\"x\",\"en\":\"x\"}"
#define FIELDS_HEAD                                                                                \
    "\"fields\":[{\"name\":\"PersonCPRNummer\",\"type\":\"identifier\",\"identifier\":\"cpr\"," D  \
    "},{\"name\":\"IndkomstÅr\",\"type\":\"integer\"," D "},"                                      \
    "{\"name\":\"Nummer\",\"type\":\"integer\"," D "},"                                            \
    "{\"name\":\"Tid\",\"type\":\"timestamp\"," D "}"

static void expect_error(const char *text, const char *needle)
{
    catalog_t *cat = (catalog_t *)1;
    err_t err;
    err_clear(&err);
    int rc = catalog_load_string("t.json", text, &cat, &err);
    cr_assert_neq(rc, 0, "accepted: %s", text);
    cr_assert_null(cat);
    cr_assert(strstr(err.detail, needle) != NULL, "error '%s' lacks '%s'", err.detail, needle);
    cr_assert(strncmp(err.detail, "t.json:", 7) == 0, "error '%s' does not name the file",
              err.detail);
}

Test(catalog, a_minimal_service_loads)
{
    catalog_t *cat;
    err_t err;
    int rc = catalog_load_string("t.json", HEAD KEYS PARAMS FIELDS_HEAD "]}", &cat, &err);
    cr_assert_eq(rc, 0, "%s", err.detail);
    cr_assert_eq(catalog_service_at(cat, 0)->n_business, 0);
    catalog_free(cat);
}

Test(catalog, errors_name_file_line_and_path)
{
    expect_error("{\n\"path\": \"x\",\n oops}", "t.json:3:");
    expect_error("{\"path\":1,\"path\":2}", "t.json:1:");
    expect_error("[]", "JSON object");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD "], \"extra\": 1}", "extra: unknown key");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD ",{\"name\":\"X\",\"type\":\"money\"," D "}]}",
                 "fields[4].type: \"money\" is not a type");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD ",{\"name\":\"lower\",\"type\":\"amount\"," D "}]}",
                 "fields[4].name");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD ",{\"name\":\"Tid\",\"type\":\"amount\"," D "}]}",
                 "fields[4].name: \"Tid\" is also the name of fields[3]");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD ",{\"name\":\"K\",\"type\":\"code\"," D "}]}",
                 "fields[4].codes: a code field lists its allowed values");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD
                 ",{\"name\":\"K\",\"type\":\"code\",\"codes\":[{\"value\":\"a\",\"da\":\"a\","
                 "\"en\":\"a\"},{\"value\":\"a\",\"da\":\"a\",\"en\":\"a\"}]," D "}]}",
                 "fields[4].codes[1]: value \"a\" is listed twice");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD ",{\"name\":\"A\",\"type\":\"amount\","
                                              "\"description\":{\"da\":\"x\"}}]}",
                 "fields[4].description.en: is required");
    expect_error(HEAD KEYS PARAMS FIELDS_HEAD
                 ",{\"name\":\"A\",\"type\":\"amount\",\"identifier\":\"cpr\"," D "}]}",
                 "fields[4].identifier: only identifier fields have one");
    expect_error(HEAD KEYS PARAMS "\"fields\":[]}", "fields: is required");
    expect_error(
        HEAD "\"subject\":{\"kind\":\"cvr\",\"field\":\"PersonCPRNummer\"},"
             "\"period\":{\"kind\":\"year\",\"field\":\"IndkomstÅr\"},"
             "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\"," PARAMS FIELDS_HEAD "]}",
        "subject.field: field \"PersonCPRNummer\" holds cpr numbers, not cvr");
    expect_error(
        HEAD "\"subject\":{\"kind\":\"cpr\",\"field\":\"PersonCPRNummer\"},"
             "\"period\":{\"kind\":\"year\",\"field\":\"Nix\"},"
             "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\"," PARAMS FIELDS_HEAD "]}",
        "period.field: no field is named \"Nix\"");
    expect_error(
        HEAD "\"subject\":{\"kind\":\"cpr\",\"field\":\"PersonCPRNummer\"},"
             "\"period\":{\"kind\":\"year\",\"field\":\"Tid\"},"
             "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\"," PARAMS FIELDS_HEAD "]}",
        "period.field: field \"Tid\" must have type integer");
    expect_error(
        HEAD "\"subject\":{\"kind\":\"cpr\",\"field\":\"PersonCPRNummer\"},"
             "\"period\":{\"kind\":\"month\",\"field\":\"IndkomstÅr\"},"
             "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\"," PARAMS FIELDS_HEAD "]}",
        "period.kind");
    expect_error(HEAD KEYS "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"se\",\"role\":"
                           "\"subject\",\"list\":true,\"required\":true," D "}]," FIELDS_HEAD "]}",
                 "parameters[0]: the subject parameter must have type cpr");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true," D "}]," FIELDS_HEAD "]}",
                 "parameters[0]: the subject parameter must be required");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true,\"required\":true," D
                 "},{\"name\":\"Fra\",\"type\":\"year\",\"role\":\"registered_from\"," D
                 "}]," FIELDS_HEAD "]}",
                 "parameters[1]: role \"registered_from\" does not go with type \"year\"");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true,\"required\":true," D
                 "},{\"name\":\"Fra\",\"type\":\"timestamp\",\"role\":\"registered_from\"," D
                 "}]," FIELDS_HEAD "]}",
                 "registered_from and registered_to come in pairs");
    expect_error(HEAD KEYS "\"parameters\":[{\"name\":\"A\",\"type\":\"year\",\"role\":\"year\"," D
                           "}]," FIELDS_HEAD "]}",
                 "no parameter has the role subject");
    expect_error("{\"path\":\"Æble\",\"alias\":\"x\"}", "path: \"Æble\" must be ASCII");
    expect_error("{\"path\":\"a//b\"}", "path: \"a//b\" must be ASCII");
    expect_error("{\"path\":\"1a\"}", "path: \"1a\" must be ASCII");
    expect_error(
        HEAD "\"subjects\":[{\"kind\":\"cpr\",\"field\":\"PersonCPRNummer\"}],"
             "\"period\":{\"kind\":\"year\",\"field\":\"IndkomstÅr\"},"
             "\"version_field\":\"Nummer\",\"registered_field\":\"Tid\"," PARAMS FIELDS_HEAD "]}",
        "subjects: must be an array of 2 to 3");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true,\"required\":true," D
                 "},{\"name\":\"K\",\"type\":\"code\",\"role\":\"code\"," D "}]," FIELDS_HEAD "]}",
                 "parameters[1].field: a code parameter names the code field it filters");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true,\"required\":true," D
                 "},{\"name\":\"V\",\"type\":\"date\",\"role\":\"valid_from\"," D
                 "},{\"name\":\"W\",\"type\":\"date\",\"role\":\"valid_to\"," D "}]," FIELDS_HEAD
                 "]}",
                 "parameters[1]: a valid-time parameter needs the service's \"valid\" fields");
    expect_error(HEAD KEYS
                 "\"parameters\":[{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":"
                 "\"subject\",\"list\":true,\"required\":true," D
                 "},{\"name\":\"Y\",\"type\":\"year\",\"role\":\"year\",\"field\":\"Nummer\"," D
                 "}]," FIELDS_HEAD "]}",
                 "parameters[1].field: the year parameter of a year service");
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(catalog, a_folder_refuses_duplicate_paths_and_names_the_files)
{
    char dir[] = "/tmp/dupla-cat-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    write_file(dir, "a.json", HEAD KEYS PARAMS FIELDS_HEAD "]}");
    write_file(dir, "b.json", HEAD KEYS PARAMS FIELDS_HEAD "]}");
    write_file(dir, "notes.txt", "ignored");
    catalog_t *cat;
    err_t err;
    int rc = catalog_load_dir(dir, &cat, &err);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err.detail, "b.json: path: \"Test\" is also a name of the service in") != NULL,
              "%s", err.detail);
    char p[512];
    snprintf(p, sizeof p, "%s/b.json", dir);
    unlink(p);
    rc = catalog_load_dir(dir, &cat, &err);
    cr_assert_eq(rc, 0, "%s", err.detail);
    catalog_free(cat);
    snprintf(p, sizeof p, "%s/a.json", dir);
    unlink(p);
    rc = catalog_load_dir(dir, &cat, &err);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err.detail, "no service descriptions") != NULL, "%s", err.detail);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    unlink(p);
    rmdir(dir);
    rc = catalog_load_dir("/nonexistent/dupla", &cat, &err);
    cr_assert_eq(rc, DUPLA_EIO);
}

static const struct catalog_field *field(const catalog_t *cat, const char *svc, const char *name)
{
    const struct catalog_service *s = catalog_find(cat, str_from_cstr(svc));
    cr_assert_not_null(s);
    const struct catalog_field *f = catalog_field_find(s, str_from_cstr(name));
    cr_assert_not_null(f, "%s", name);
    return f;
}

static void value_ok(const struct catalog_field *f, const char *json, const char *back)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s", json);
    struct catalog_value v;
    err_t err;
    struct catalog_json cj;
    catalog_json_of(j, &cj);
    int rc = catalog_value_from_scalar(f, &cj, &v, &err);
    cr_assert_eq(rc, 0, "%s: %s", json, err.detail);
    buf_t b;
    buf_init(&b, 1024);
    cr_assert_eq(catalog_value_to_json(f, &v, &b), 0);
    cr_assert_str_eq(b.data, back);
    buf_free(&b);
    json_decref(j);
}

static void value_bad(const struct catalog_field *f, const char *json, const char *needle)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s", json);
    struct catalog_value v;
    err_t err;
    err_clear(&err);
    struct catalog_json cj;
    catalog_json_of(j, &cj);
    int rc = catalog_value_from_scalar(f, &cj, &v, &err);
    cr_assert_eq(rc, DUPLA_EINVAL, "accepted %s", json);
    cr_assert_str_eq(err.param, f->name);
    cr_assert(strstr(err.detail, needle) != NULL, "'%s' lacks '%s'", err.detail, needle);
    json_decref(j);
}

Test(catalog, values_are_checked_and_written_back)
{
    catalog_t *cat;
    err_t err;
    cr_assert_eq(catalog_load_dir(catalog_dir(), &cat, &err), 0, "%s", err.detail);
    const struct catalog_field *amount = field(cat, "Aarsopgoerelse", "Bundskat");
    value_ok(amount, "123456", "123456");
    value_ok(amount, "-5", "-5");
    value_ok(amount, "null", "null");
    value_bad(amount, "12.5", "integer amount in øre");
    value_bad(amount, "\"12\"", "integer amount");
    const struct catalog_field *rate = field(cat, "Forskudsopgoerelse", "Trækprocent");
    value_ok(rate, "37.25", "37.25");
    value_ok(rate, "37", "37.00");
    value_ok(rate, "0.07", "0.07");
    value_bad(rate, "37.255", "at most 2 decimals");
    value_bad(rate, "1e9", "at most 2 decimals");
    const struct catalog_field *date = field(cat, "Aarsopgoerelse", "ÅrsopgørelseDato");
    value_ok(date, "\"2024-02-29\"", "\"2024-02-29\"");
    value_bad(date, "\"2023-02-29\"", "real calendar date");
    value_bad(date, "\"2023-2-1\"", "real calendar date");
    value_bad(date, "20230201", "a date");
    const struct catalog_field *ts = field(cat, "Momsangivelse", "ModtagetTidspunkt");
    value_ok(ts, "\"2024-03-01T12:00:00Z\"", "\"2024-03-01T12:00:00.000Z\"");
    value_bad(ts, "\"2024-03-01T25:00:00Z\"", "real UTC time");
    const struct catalog_field *code = field(cat, "Momsangivelse", "AngivelseType");
    value_ok(code, "\"korrektion\"", "\"korrektion\"");
    value_bad(code, "\"rettelse\"", "\"rettelse\" is not one of its codes");
    const struct catalog_field *b = field(cat, "Aarsopgoerelse", "Kirkeskattepligtig");
    value_ok(b, "true", "true");
    value_bad(b, "1", "true or false");
    const struct catalog_field *cpr = field(cat, "Aarsopgoerelse", "PersonCPRNummer");
    value_ok(cpr, "\"0101901234\"", "\"0101901234\"");
    value_ok(cpr, "\"6101901234\"", "\"6101901234\"");
    value_bad(cpr, "\"3202901234\"", "valid CPR");
    value_bad(cpr, "\"010190123\"", "valid CPR");
    value_bad(cpr, "101901234", "an identifier");
    const struct catalog_field *cvr = field(cat, "Momsangivelse", "VirksomhedCVRNummer");
    value_ok(cvr, "\"10000009\"", "\"10000009\"");
    value_bad(cvr, "\"10000008\"", "modulus 11");
    const struct catalog_field *se = field(cat, "Momsangivelse", "VirksomhedSENummer");
    value_bad(se, "\"01234567\"", "valid SE");
    const struct catalog_field *n = field(cat, "Aarsopgoerelse", "IndkomstÅr");
    value_ok(n, "2024", "2024");
    value_bad(n, "\"2024\"", "an integer");
    catalog_free(cat);
}

Test(catalog, config_dir_defaults_to_the_source_catalogue)
{
    struct dupla_config cfg;
    err_t err;
    char dir[512];
    cr_assert_eq(config_load_string("{\"environment\":\"test\"}", "/srv", &cfg, &err), 0);
    cr_assert_eq(catalog_config_dir(&cfg, dir, sizeof dir, &err), 0, "%s", err.detail);
    cr_assert(strstr(dir, "/catalog") != NULL, "%s", dir);
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"catalog\":{\"dir\":\"cat\"}}",
                                    "/srv", &cfg, &err),
                 0);
    cr_assert_eq(catalog_config_dir(&cfg, dir, sizeof dir, &err), 0, "%s", err.detail);
    cr_assert_str_eq(dir, "/srv/cat");
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"catalog\":{\"folder\":\"x\"}}",
                                    "/srv", &cfg, &err),
                 0);
    cr_assert_neq(catalog_config_dir(&cfg, dir, sizeof dir, &err), 0);
    cr_assert_str_eq(err.detail, "config: unknown key \"folder\" in section \"catalog\"");
    cr_assert_str_eq(err.param, "folder");
    config_free(&cfg);
}
