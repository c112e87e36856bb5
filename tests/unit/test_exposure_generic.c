/* The catalogue engine is generic: a service made only for this test (a
 * catalogue file beside the real ones) with a path with '/' and a
 * lower-case first letter, three subject kinds, a record number instead of
 * a period, a code filter, a year filter on a field and a valid time is
 * ingested, asked and refused through the same engine as every real
 * service, with no code of its own. */
#include <criterion/criterion.h>

#include "fixture.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "dataset/dataset.h"
#include "exposure/exposure.h"
#include "exposure/internal.h"
#include "ingest/ingest.h"

#define ORG  "12345674"
#define SYS  "6f1c2d9e-0000-4000-8000-000000000002"
#define RID  "0b5e6a3c-1d2f-4a5b-8c7d-9e0f1a2b3c4e"
#define PATH "proeve/Sagsregistreringer"

#define D(x)    "\"description\":{\"da\":\"" x "\",\"en\":\"" x "\"}"
#define CODE(v) "{\"value\":\"" v "\",\"da\":\"k" v "\",\"en\":\"c" v "\"}"
/* The fourteenth service: only this file describes it. */
static const char SERVICE
    [] = "{\"path\":\"" PATH "\",\"title\":{\"da\":\"Prøve\",\"en\":\"Test\"}," D("d") ","
                                                                                       "\"subjects"
                                                                                       "\":[{"
                                                                                       "\"kind\":"
                                                                                       "\"cvr\","
                                                                                       "\"field\":"
                                                                                       "\"Virksomhe"
                                                                                       "dCVRNummer"
                                                                                       "\"},"
                                                                                       "{\"kind\":"
                                                                                       "\"se\","
                                                                                       "\"field\":"
                                                                                       "\"Virksomhe"
                                                                                       "dSENummer\""
                                                                                       "},"
                                                                                       "{\"kind\":"
                                                                                       "\"cpr\","
                                                                                       "\"field\":"
                                                                                       "\"PersonCPR"
                                                                                       "Nummer\"}],"
                                                                                       "\"period\":"
                                                                                       "{\"kind\":"
                                                                                       "\"number\","
                                                                                       "\"field\":"
                                                                                       "\"SagNummer"
                                                                                       "\"},"
                                                                                       "\"valid\":{"
                                                                                       "\"from_"
                                                                                       "field\":"
                                                                                       "\"GyldigFra"
                                                                                       "\",\"to_"
                                                                                       "field\":"
                                                                                       "\"GyldigTil"
                                                                                       "\"},"
                                                                                       "\"version_"
                                                                                       "field\":"
                                                                                       "\"SagVersio"
                                                                                       "n\","
                                                                                       "\"registere"
                                                                                       "d_field\":"
                                                                                       "\"Registrer"
                                                                                       "et\","
                                                                                       "\"parameter"
                                                                                       "s\":["
                                                                                       "{\"name\":"
                                                                                       "\"Virksomhe"
                                                                                       "dCVRNummer"
                                                                                       "\","
                                                                                       "\"type\":"
                                                                                       "\"cvr\","
                                                                                       "\"role\":"
                                                                                       "\"subject\""
                                                                                       ",\"list\":"
                                                                                       "true," D(
                                                                                           "s") "},"
                                                                                                "{"
                                                                                                "\""
                                                                                                "na"
                                                                                                "me"
                                                                                                "\""
                                                                                                ":"
                                                                                                "\""
                                                                                                "Vi"
                                                                                                "rk"
                                                                                                "so"
                                                                                                "mh"
                                                                                                "ed"
                                                                                                "SE"
                                                                                                "Nu"
                                                                                                "mm"
                                                                                                "er"
                                                                                                "\""
                                                                                                ","
                                                                                                "\""
                                                                                                "ty"
                                                                                                "pe"
                                                                                                "\""
                                                                                                ":"
                                                                                                "\""
                                                                                                "se"
                                                                                                "\""
                                                                                                ","
                                                                                                "\""
                                                                                                "ro"
                                                                                                "le"
                                                                                                "\""
                                                                                                ":"
                                                                                                "\""
                                                                                                "su"
                                                                                                "bj"
                                                                                                "ec"
                                                                                                "t"
                                                                                                "\""
                                                                                                ","
                                                                                                "\""
                                                                                                "li"
                                                                                                "st"
                                                                                                "\""
                                                                                                ":t"
                                                                                                "ru"
                                                                                                "e"
                                                                                                "," D("s") "},"
                                                                                                           "{\"name\":\"PersonCPRNummer\",\"type\":\"cpr\",\"role\":\"subject\",\"list\":true," D(
                                                                                                               "s") "},"
                                                                                                                    "{\"name\":\"SagTypeKode\",\"type\":\"code\",\"role\":\"code\",\"list\":true,"
                                                                                                                    "\"field\":\"SagTypeKode\"," D(
                                                                                                                        "c") "},"
                                                                                                                             "{\"name\":\"SagIndkomstÅr\",\"type\":\"year\",\"role\":\"year\",\"list\":true,"
                                                                                                                             "\"field\":\"IndkomstÅr\"," D("y") "},"
                                                                                                                                                                "{\"name\":\"GyldigFra\",\"type\":\"date\",\"role\":\"valid_from\"," D(
                                                                                                                                                                    "v") "},"
                                                                                                                                                                         "{\"name\":\"GyldigTil\",\"type\":\"date\",\"role\":\"valid_to\"," D("v") "},"
                                                                                                                                                                                                                                                   "{\"name\":\"TekniskRegistreringDatoFra\",\"type\":\"date\",\"role\":\"registered_from\"," D("r") "},"
                                                                                                                                                                                                                                                                                                                                                     "{\"name\":\"TekniskRegistreringDatoTil\",\"type\":\"date\",\"role\":\"registered_to\"," D("r") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                     "{\"name\":\"Felter\",\"type\":\"text\",\"role\":\"fields\",\"list\":true," D(
                                                                                                                                                                                                                                                                                                                                                                                                                                                         "f") "}],"
                                                                                                                                                                                                                                                                                                                                                                                                                                                              "\"fields\":["
                                                                                                                                                                                                                                                                                                                                                                                                                                                              "{\"name\":\"VirksomhedCVRNummer\",\"type\":\"identifier\",\"identifier\":\"cvr\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                              "\"required\":false," D("a") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "{\"name\":\"VirksomhedSENummer\",\"type\":\"identifier\",\"identifier\":\"se\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "\"required\":false," D("a") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "{\"name\":\"PersonCPRNummer\",\"type\":\"identifier\",\"identifier\":\"cpr\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "\"required\":false," D("a") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "{\"name\":\"SagNummer\",\"type\":\"integer\"," D(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "n") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "{\"name\":\"SagTypeKode\",\"type\":\"code\",\"codes\":[" CODE("10") "," CODE(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "20") "," CODE("30") "]," D("t") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "{\"name\":\"IndkomstÅr\",\"type\":\"integer\"," D("y") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "{\"name\":\"GyldigFra\",\"type\":\"date\"," D("v") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "{\"name\":\"GyldigTil\",\"type\":\"date\",\"required\":false," D(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "v") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "{\"name\":\"Beløb\",\"type\":\"amount\"," D(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            "b") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "{\"name\":\"SagVersion\",\"type\":\"integer\"," D("v") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "{\"name\":\"Registreret\",\"type\":\"timestamp\"," D(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "r") "}]}";

#define CVR_A "12345674"
#define SE_A1 "12345674"
#define SE_A2 "23456789"
#define CVR_B "87654303"
#define CPR_P "0101701234"
#define CPR_Q "6202801234"

/* The first delivery (registered 2024-05-01) and its changes (2024-05-10):
 * case 1 changes type 10 -> 30, case 2 its amount. */
static const char FIRST[] =
    "{\"VirksomhedCVRNummer\":\"" CVR_A "\",\"VirksomhedSENummer\":\"" SE_A1 "\",\"SagNummer\":1,"
    "\"SagTypeKode\":\"10\",\"IndkomstÅr\":2023,\"GyldigFra\":\"2023-01-01\","
    "\"GyldigTil\":\"2023-12-31\",\"Beløb\":100}\n"
    "{\"VirksomhedCVRNummer\":\"" CVR_A "\",\"VirksomhedSENummer\":\"" SE_A2 "\",\"SagNummer\":2,"
    "\"SagTypeKode\":\"20\",\"IndkomstÅr\":2024,\"GyldigFra\":\"2024-01-01\",\"Beløb\":200}\n"
    "{\"PersonCPRNummer\":\"" CPR_P "\",\"SagNummer\":3,\"SagTypeKode\":\"10\",\"IndkomstÅr\":2024,"
    "\"GyldigFra\":\"2024-03-01\",\"GyldigTil\":\"2024-06-30\",\"Beløb\":300}\n"
    "{\"VirksomhedCVRNummer\":\"" CVR_B "\",\"VirksomhedSENummer\":\"" CVR_B "\","
    "\"PersonCPRNummer\":\"" CPR_Q "\",\"SagNummer\":4,\"SagTypeKode\":\"30\",\"IndkomstÅr\":2023,"
    "\"GyldigFra\":\"2022-01-01\",\"Beløb\":400}\n";
static const char SECOND[] =
    "{\"VirksomhedCVRNummer\":\"" CVR_A "\",\"VirksomhedSENummer\":\"" SE_A1 "\",\"SagNummer\":1,"
    "\"SagTypeKode\":\"30\",\"IndkomstÅr\":2023,\"GyldigFra\":\"2023-01-01\","
    "\"GyldigTil\":\"2023-12-31\",\"Beløb\":100}\n"
    "{\"VirksomhedCVRNummer\":\"" CVR_A "\",\"VirksomhedSENummer\":\"" SE_A2 "\",\"SagNummer\":2,"
    "\"SagTypeKode\":\"20\",\"IndkomstÅr\":2024,\"GyldigFra\":\"2024-01-01\",\"Beløb\":250}\n";

static char dir[64];
static store_t *st;
static catalog_t *cat;
static agreement_t *ag;
static audit_log_t *alog;
static exposure_t *ex;
static arena_t *arena;
static char all_id[AGREEMENT_ID_LEN + 1], narrow_id[AGREEMENT_ID_LEN + 1];

static void write_file(const char *d, const char *name, const char *text, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The real catalogue's files and the test's own, in one folder. */
static void catalogue_with_the_test_service(const char *to)
{
    char src[1024];
    fx_source_path(src, sizeof src, "catalog");
    DIR *d = opendir(src);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char p[1536];
        snprintf(p, sizeof p, "%s/%s", src, e->d_name);
        FILE *f = fopen(p, "r");
        cr_assert_not_null(f);
        static char buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        write_file(to, e->d_name, buf, len);
    }
    closedir(d);
    write_file(to, "zz-proeve.json", SERVICE, strlen(SERVICE));
}

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "user-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

static void approved(const char *services, char *id)
{
    json_error_t jerr;
    json_t *sv = json_loads(services, 0, &jerr);
    cr_assert_not_null(sv, "%s", jerr.text);
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:o, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "Kontrol", "purpose", "To check entitlement.", "legal_basis", "law",
                  "Lov", "section", "§ 1", "services", sv, "systems", "all", "valid_from", today,
                  "expected_volume", "calls_per_month", 10, "subjects_per_month", 10, "contact",
                  "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    err_t err;
    struct agreement_actor p = actor(1, ORG, AGREEMENT_ROLE_PROCESSOR),
                           s = actor(2, ORG, AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &s, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(id), "Ok.", NULL, NULL, &err), 0, "%s",
                 err.detail);
}

static const struct catalog_service *svc(void)
{
    const struct catalog_service *s = catalog_find(cat, STR(PATH));
    cr_assert_not_null(s);
    return s;
}

static void deliver(const char *text, const char *date)
{
    int32_t day;
    cr_assert_eq(clock_parse_date(str_from_cstr(date), &day), 0);
    struct ingest_source src = {.name = "body", .data = str_from_cstr(text)};
    struct ingest_options io = {.environment = ENV_TEST,
                                .synthetic = true,
                                .source = "test",
                                .now_ms = (int64_t)day * 86400000LL + 12 * 3600000LL};
    struct ingest_result res;
    err_t err;
    int rc = ingest_delivery(st, svc(), &src, 1, &io, &res, &err);
    cr_assert_eq(rc, 0, "%s %s", err.detail, res.n_problems ? res.problems[0].reason : "");
    ingest_result_free(&res);
}

static void world(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-generic-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cdir[128], url[128];
    snprintf(cdir, sizeof cdir, "%s/catalog", dir);
    cr_assert_eq(mkdir(cdir, 0700), 0);
    catalogue_with_the_test_service(cdir);
    err_t err;
    cr_assert_eq(catalog_load_dir(cdir, &cat, &err), 0, "%s", err.detail);
    arena = arena_new(1 << 20);
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    cr_assert_eq(store_open(url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(dataset_migrate(st, &err), 0, "%s", err.log);
    deliver(FIRST, "2024-05-01");
    deliver(SECOND, "2024-05-10");
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    struct audit_options ao = {.environment = "test"};
    cr_assert_eq(audit_open(st, &ao, &alog, &err), 0, "%s", err.log);
    struct exposure_config cfg;
    cr_assert_eq(exposure_config_read(NULL, &cfg, &err), 0);
    cfg.window_margin_s = 0;
    struct exposure_deps deps = {cat, st, NULL, agreement_registry(ag), alog, ENV_TEST};
    cr_assert_eq(exposure_new(&cfg, &deps, &ex, &err), 0, "%s", err.log);
    approved("{\"" PATH "\": [\"SagTypeKode\", \"IndkomstÅr\", \"GyldigFra\", \"GyldigTil\", "
             "\"Beløb\", \"SagVersion\", \"Registreret\"]}",
             all_id);
    approved("{\"" PATH "\": [\"SagTypeKode\"]}", narrow_id);
}

static void world_done(void)
{
    exposure_free(ex);
    audit_close(alog);
    agreement_close(ag);
    catalog_free(cat);
    arena_free(arena);
    store_close(st);
    fx_rmtree(dir);
}

#define A(n, v)                                                                                    \
    {                                                                                              \
        STR(n), STR(v)                                                                             \
    }

struct result {
    int rc;
    err_t err;
    json_t *data; /* owned */
};

static void call(const char *agreement, const struct exposure_arg *args, size_t n, struct result *r)
{
    struct token_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.org_cvr, sizeof p.org_cvr, "%s", ORG);
    snprintf(p.system_id, sizeof p.system_id, "%s", SYS);
    char urn[128];
    snprintf(urn, sizeof urn, AGREEMENT_URN_PREFIX "%s", agreement);
    struct exposure_call c = {.svc = svc(),
                              .principal = &p,
                              .server_request_id = STR(RID),
                              .has_request_id = true,
                              .request_id = STR(RID),
                              .has_txid = true,
                              .txid = STR("job-1"),
                              .has_agreement = true,
                              .agreement = str_from_cstr(urn),
                              .args = args,
                              .n_args = n,
                              .now_ms = clock_now_ms(),
                              .arena = arena};
    err_clear(&r->err);
    unsigned retry;
    struct exposure_answer ans;
    cr_assert_eq(exposure_enter(ex, c.now_ms, &retry, &r->err), 0);
    r->rc = exposure_call(ex, &c, &ans, &r->err);
    r->data = NULL;
    if (r->rc != 0) {
        exposure_leave(ex);
        return;
    }
    cr_assert_null(ans.stream, "a small answer");
    exposure_leave(ex);
    json_error_t jerr;
    json_t *j = json_loadb(ans.body.ptr, ans.body.len, 0, &jerr);
    cr_assert_not_null(j, "%s", jerr.text);
    r->data = json_incref(json_object_get(j, "data"));
    json_decref(j);
}

/* The answer's case numbers, in order, as "1,2". */
static void cases(const struct exposure_arg *args, size_t n, const char *want)
{
    struct result r;
    call(all_id, args, n, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    char got[64] = "";
    size_t at = 0, i;
    json_t *rec;
    json_array_foreach(r.data, i, rec)
    {
        at += (size_t)snprintf(got + at, sizeof got - at, "%s%lld", i ? "," : "",
                               (long long)json_integer_value(json_object_get(rec, "SagNummer")));
    }
    cr_assert_str_eq(got, want, "%s=%.*s ...", args[0].name.ptr, (int)args[0].value.len,
                     args[0].value.ptr);
    json_decref(r.data);
}

TestSuite(generic, .init = world, .fini = world_done, .timeout = 60);

Test(generic, the_test_service_is_served_like_any_other)
{
    cr_assert_geq(catalog_count(cat), 5, "the test's service and the real ones");
    cr_assert_not_null(catalog_find(cat, STR("Aarsopgoerelse")), "the real ones beside it");
    const struct catalog_service *s = svc();
    cr_assert_eq(s->n_subjects, 3);
    cr_assert(s->subjects_in_record);
    cr_assert_eq(s->period_kind, CATALOG_PERIOD_NUMBER);
    json_t *doc = catalog_openapi(cat, &(struct catalog_openapi_options){"/", "/token", "test", 0});
    cr_assert_not_null(json_object_get(json_object_get(doc, "paths"), "/" PATH));
    cr_assert_not_null(
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                        "proeve_SagsregistreringerRecord"));
    json_decref(doc);
}

Test(generic, each_subject_kind_finds_the_records_naming_it)
{
    struct exposure_arg cvr[] = {A("VirksomhedCVRNummer", CVR_A)};
    cases(cvr, 1, "1,2");
    struct exposure_arg se1[] = {A("VirksomhedSENummer", SE_A1)};
    cases(se1, 1, "1");
    struct exposure_arg se2[] = {A("VirksomhedSENummer", SE_A2)};
    cases(se2, 1, "2");
    struct exposure_arg cpr[] = {A("PersonCPRNummer", CPR_P)};
    cases(cpr, 1, "3");
    struct exposure_arg cprq[] = {A("PersonCPRNummer", CPR_Q)};
    cases(cprq, 1, "4");
    struct exposure_arg both[] = {A("VirksomhedCVRNummer", CVR_B), A("VirksomhedCVRNummer", CVR_A)};
    cases(both, 2, "4,1,2");
    struct exposure_arg none[] = {A("VirksomhedSENummer", "99999999")};
    cases(none, 1, "");
}

Test(generic, the_current_version_answers_and_filters_test_it)
{
    struct result r;
    struct exposure_arg se2[] = {A("VirksomhedSENummer", SE_A2)};
    call(all_id, se2, 1, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    json_t *rec = json_array_get(r.data, 0);
    cr_assert_eq(json_integer_value(json_object_get(rec, "Beløb")), 250);
    cr_assert_eq(json_integer_value(json_object_get(rec, "SagVersion")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "VirksomhedCVRNummer")), CVR_A);
    cr_assert(json_is_null(json_object_get(rec, "PersonCPRNummer")));
    json_decref(r.data);

    /* case 1 was type 10, is 30 now: 10 finds nothing, never the old version */
    struct exposure_arg c10[] = {A("VirksomhedCVRNummer", CVR_A), A("SagTypeKode", "10")};
    cases(c10, 2, "");
    struct exposure_arg c30[] = {A("VirksomhedCVRNummer", CVR_A), A("SagTypeKode", "30")};
    cases(c30, 2, "1");
    struct exposure_arg c2030[] = {A("VirksomhedCVRNummer", CVR_A), A("SagTypeKode", "20"),
                                   A("SagTypeKode", "30")};
    cases(c2030, 3, "1,2");
    struct exposure_arg y[] = {A("VirksomhedCVRNummer", CVR_A), A("SagIndkomstÅr", "2024")};
    cases(y, 2, "2");
    struct exposure_arg y2[] = {A("VirksomhedCVRNummer", CVR_A), A("SagIndkomstÅr", "2022")};
    cases(y2, 2, "");
}

Test(generic, valid_time_is_its_own_filter)
{
    struct exposure_arg june23[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigFra", "2023-06-01"),
                                    A("GyldigTil", "2023-06-30")};
    cases(june23, 3, "1");
    struct exposure_arg from25[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigFra", "2025-01-01")};
    cases(from25, 2, "2"); /* open-ended: still in force */
    struct exposure_arg to22[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigTil", "2022-12-31")};
    cases(to22, 2, "");
    struct exposure_arg p[] = {A("PersonCPRNummer", CPR_P), A("GyldigFra", "2024-07-01")};
    cases(p, 2, "");
    struct exposure_arg p2[] = {A("PersonCPRNummer", CPR_P), A("GyldigFra", "2024-06-30")};
    cases(p2, 2, "3");
}

Test(generic, the_registration_window_is_separate_from_valid_time)
{
    struct exposure_arg later[] = {A("VirksomhedCVRNummer", CVR_A),
                                   A("TekniskRegistreringDatoFra", "2024-05-05")};
    cases(later, 2, "1,2");
    struct result r;
    call(all_id, later, 2, &r);
    json_t *rec;
    size_t i;
    json_array_foreach(r.data, i, rec)
    {
        cr_assert_eq(json_integer_value(json_object_get(rec, "SagVersion")), 2);
    }
    json_decref(r.data);
    struct exposure_arg first[] = {A("VirksomhedSENummer", SE_A1),
                                   A("TekniskRegistreringDatoFra", "2024-05-01"),
                                   A("TekniskRegistreringDatoTil", "2024-05-01")};
    call(all_id, first, 3, &r);
    cr_assert_eq(json_array_size(r.data), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r.data, 0), "SagTypeKode")),
                     "10", "the first version, as registered then");
    json_decref(r.data);
    /* a window and a code filter: every version in it that passes */
    struct exposure_arg both[] = {A("VirksomhedCVRNummer", CVR_A),
                                  A("TekniskRegistreringDatoFra", "2024-04-01"),
                                  A("SagTypeKode", "10")};
    cases(both, 3, "1");
}

Test(generic, only_granted_fields_and_the_keys_are_sent_and_logged_by_kind)
{
    struct exposure_arg a[] = {A("VirksomhedCVRNummer", CVR_A)};
    struct result r;
    call(narrow_id, a, 1, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.detail);
    cr_assert_eq(json_array_size(r.data), 2);
    json_t *rec = json_array_get(r.data, 0);
    const char *want[] = {"VirksomhedCVRNummer", "VirksomhedSENummer", "PersonCPRNummer",
                          "SagNummer", "SagTypeKode"};
    cr_assert_eq(json_object_size(rec), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_not_null(json_object_get(rec, want[i]), "%s", want[i]);
    json_decref(r.data);
    struct audit_filter f = {.newest_first = true, .limit = 1};
    struct audit_page page;
    err_t err;
    cr_assert_eq(audit_query(st, &f, NULL, arena, &page, &err), 0, "%s", err.log);
    cr_assert_eq(page.n, 1);
    cr_assert_eq(page.rows[0].n_subjects, 1);
    cr_assert_eq(page.rows[0].subjects[0].kind, AUDIT_SUBJECT_CVR);
    cr_assert_eq(page.rows[0].record_count, 2);
    cr_assert_eq(page.rows[0].n_periods, 0, "records without a period name none");
}

static void refused(const struct exposure_arg *a, size_t n, const char *param, const char *type)
{
    struct result r;
    call(all_id, a, n, &r);
    cr_assert_eq(r.rc, DUPLA_EINVAL, "accepted; want %s refused", param);
    cr_assert_eq(err_status(&r.err), 400);
    cr_assert_str_eq(r.err.param, param, "%s", r.err.detail);
    cr_assert_str_eq(r.err.type, type, "%s", r.err.detail);
}

Test(generic, refusals_name_the_parameter)
{
    struct exposure_arg two[] = {A("VirksomhedCVRNummer", CVR_A), A("VirksomhedSENummer", SE_A1)};
    refused(two, 2, "VirksomhedCVRNummer, VirksomhedSENummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg three[] = {A("PersonCPRNummer", CPR_P), A("VirksomhedSENummer", SE_A1)};
    refused(three, 2, "VirksomhedSENummer, PersonCPRNummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg none[] = {A("SagTypeKode", "10")};
    refused(none, 1, "VirksomhedCVRNummer, VirksomhedSENummer, PersonCPRNummer",
            PROBLEM_MISSING_PARAMETER);
    struct exposure_arg code[] = {A("VirksomhedCVRNummer", CVR_A), A("SagTypeKode", "11")};
    refused(code, 2, "SagTypeKode", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg year[] = {A("VirksomhedCVRNummer", CVR_A), A("SagIndkomstÅr", "24")};
    refused(year, 2, "SagIndkomstÅr", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg date[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigFra", "2024-13-01")};
    refused(date, 2, "GyldigFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg back[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigFra", "2024-02-01"),
                                  A("GyldigTil", "2024-01-01")};
    refused(back, 3, "GyldigFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg once[] = {A("VirksomhedCVRNummer", CVR_A), A("GyldigFra", "2024-02-01"),
                                  A("GyldigFra", "2024-03-01")};
    refused(once, 3, "GyldigFra", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg cvr[] = {A("VirksomhedCVRNummer", "12345678")};
    refused(cvr, 1, "VirksomhedCVRNummer", PROBLEM_INVALID_PARAMETER);
    struct exposure_arg reg[] = {A("VirksomhedCVRNummer", CVR_A),
                                 A("TekniskRegistreringDatoFra", "2024-05-32")};
    refused(reg, 2, "TekniskRegistreringDatoFra", PROBLEM_INVALID_PARAMETER);
}

Test(generic, a_record_must_name_a_subject)
{
    struct ingest_source src = {
        .name = "body",
        .data = STR("{\"SagNummer\":9,\"SagTypeKode\":\"10\",\"IndkomstÅr\":2024,"
                    "\"GyldigFra\":\"2024-01-01\",\"Beløb\":1}\n")};
    struct ingest_options io = {.environment = ENV_TEST, .source = "test", .synthetic = true};
    struct ingest_result res;
    err_t err;
    cr_assert_neq(ingest_delivery(st, svc(), &src, 1, &io, &res, &err), 0);
    cr_assert_geq(res.n_problems, 1);
    cr_assert_str_eq(res.problems[0].field, "VirksomhedCVRNummer");
    ingest_result_free(&res);
}
