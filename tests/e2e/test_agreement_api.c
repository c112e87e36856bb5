/* End-to-end: the agreement JSON API over HTTPS with real users (made with
 * the CLI once per server): the whole life cycle, the four-eyes rule and
 * every role refusal, another organisation's 404. */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "api_helpers.h"

#define CVR_A "12345674"
#define CVR_B "20000007"
#define OWNER "19552101"

E2E_SHARED_SERVERS({"main", {0}});

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        api_org(s, CVR_A, "first@a.dk", "k@a.dk");
        api_org(s, CVR_B, "first@b.dk", "k@b.dk");
        /* the drafter is also a signatory: four eyes must still stop them */
        api_user(s, CVR_A, "proc@a.dk", "aftager-behandler", "aftager-underskriver");
        api_user(s, CVR_A, "only@a.dk", "aftager-behandler", NULL);
        api_user(s, CVR_A, "sign@a.dk", "aftager-underskriver", NULL);
        api_user(s, CVR_B, "proc@b.dk", "aftager-behandler", "aftager-underskriver");
        api_user(s, OWNER, "dfv@skat.dk", "dataforvaltning", NULL);
        FILE *f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

#define APPLICATION                                                                                \
    "{\"title\":\"Momskontrol\",\"purpose\":\"Kontrol af momsangivelser\","                        \
    "\"legal_basis\":[{\"law\":\"Skatteforvaltningsloven\",\"section\":\"§ 17\"}],"               \
    "\"services\":{\"Momsangivelse\":[\"VirksomhedCVRNummer\",\"AfregningPeriodeType\"]},"         \
    "\"systems\":\"all\",\"valid_from\":\"2026-01-01\",\"valid_to\":null,"                         \
    "\"expected_volume\":{\"calls_per_month\":100,\"subjects_per_month\":10},"                     \
    "\"contact\":{\"name\":\"Kim\",\"email\":\"kim@a.dk\",\"phone\":\"12345678\"}}"

/* A new draft by proc@a.dk; its id into id (33 bytes). */
static void draft(const struct e2e_server *s, const struct api_session *proc, char *id)
{
    struct e2e_response r;
    api_call(s, proc, "POST", "/api/agreements",
             "{\"environment\":\"test\",\"application\":" APPLICATION "}", &r);
    e2e_assert_status(s, &r, 201);
    const char *v = json_string_value(json_object_get(r.json, "id"));
    cr_assert_not_null(v);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "draft");
    cr_assert_not_null(e2e_header(&r, "Location"));
    snprintf(id, 33, "%s", v);
    e2e_response_free(&r);
}

static const char *status_of(const struct e2e_response *r)
{
    const char *st = json_string_value(json_object_get(r->json, "status"));
    return st ? st : "";
}

/* POSTs a step and asserts the status and (when 200) the new status. */
static void step(const struct e2e_server *s, const struct api_session *se, const char *id,
                 const char *name, const char *body, long want, const char *state)
{
    char path[128];
    snprintf(path, sizeof path, "/api/agreements/%s/%s", id, name);
    struct e2e_response r;
    api_call(s, se, "POST", path, body, &r);
    e2e_assert_status(s, &r, want);
    if (state)
        cr_assert_str_eq(status_of(&r), state, "%s", r.body);
    e2e_response_free(&r);
}

Test(agreement_api, whole_life_cycle)
{
    const struct e2e_server *s = world();
    struct api_session proc, sign, dfv;
    api_login(s, "proc@a.dk", &proc);
    api_login(s, "sign@a.dk", &sign);
    api_login(s, "dfv@skat.dk", &dfv);
    char id[33], path[128];
    draft(s, &proc, id);
    snprintf(path, sizeof path, "/api/agreements/%s", id);
    /* edit the draft */
    api_expect(s, &proc, "PUT", path, "{\"application\":" APPLICATION "}", 200);
    step(s, &sign, id, "sign", NULL, 200, "submitted");
    /* returned for changes, signed again */
    step(s, &dfv, id, "return", "{\"reason\":\"mangler volumen\"}", 200, "draft");
    step(s, &sign, id, "sign", NULL, 200, "submitted");
    /* fewer fields granted needs a reason, named as the parameter */
    const char *fewer = "{\"assessment\":\"proportionalt\","
                        "\"granted\":{\"Momsangivelse\":[\"VirksomhedCVRNummer\"]}";
    char body[512];
    snprintf(body, sizeof body, "%s}", fewer);
    struct e2e_response r;
    snprintf(path, sizeof path, "/api/agreements/%s/approve", id);
    api_call(s, &dfv, "POST", path, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "reason", "%s", r.body);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "%s,\"reason\":\"periodetype ikke nødvendig\"}", fewer);
    step(s, &dfv, id, "approve", body, 200, "approved");
    /* suspend, reactivate, terminate */
    step(s, &dfv, id, "suspend", "{\"reason\":\"undersøges\"}", 200, "suspended");
    step(s, &dfv, id, "reactivate", "{\"reason\":\"afklaret\"}", 200, "approved");
    /* the document: JSON, HTML, history */
    snprintf(path, sizeof path, "/api/agreements/%s/document.html", id);
    api_call(s, &sign, "GET", path, NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"));
    cr_assert(strstr(r.body, "Momskontrol"));
    /* a printable document, never framed (#18) */
    cr_assert(strstr(e2e_header(&r, "Content-Security-Policy"), "frame-ancestors 'none'"));
    cr_assert_str_eq(e2e_header(&r, "X-Frame-Options"), "DENY");
    e2e_response_free(&r);
    snprintf(path, sizeof path, "/api/agreements/%s/history", id);
    api_call(s, &proc, "GET", path, NULL, &r);
    e2e_assert_status(s, &r, 200);
    json_t *h = json_object_get(r.json, "history");
    cr_assert_geq(json_array_size(h), 8, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 0), "action")), "create");
    e2e_response_free(&r);
    snprintf(path, sizeof path, "/api/agreements/%s/document", id);
    api_call(s, &dfv, "GET", path, NULL, &r);
    e2e_assert_status(s, &r, 200);
    json_t *granted = json_object_get(json_object_get(r.json, "serving"), "granted");
    cr_assert_eq(json_array_size(json_object_get(granted, "Momsangivelse")), 1, "%s", r.body);
    e2e_response_free(&r);
    /* listed for its organisation and the data owner */
    api_call(s, &proc, "GET", "/api/agreements", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, id));
    e2e_response_free(&r);
    api_call(s, &dfv, "GET", "/api/agreements?org=" CVR_A "&state=approved", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, id));
    e2e_response_free(&r);
    step(s, &sign, id, "terminate", "{\"reason\":\"ophører\"}", 200, "terminated");
    /* final: nothing more */
    step(s, &dfv, id, "reactivate", "{\"reason\":\"x\"}", 409, NULL);
}

Test(agreement_api, reject_revoke_withdraw)
{
    const struct e2e_server *s = world();
    struct api_session proc, sign, dfv;
    api_login(s, "proc@a.dk", &proc);
    api_login(s, "sign@a.dk", &sign);
    api_login(s, "dfv@skat.dk", &dfv);
    char a[33], b[33], c[33];
    draft(s, &proc, a);
    step(s, &sign, a, "sign", NULL, 200, "submitted");
    step(s, &dfv, a, "reject", "{}", 400, NULL); /* a reason is required */
    step(s, &dfv, a, "reject", "{\"reason\":\"ingen hjemmel\"}", 200, "rejected");
    draft(s, &proc, b);
    step(s, &sign, b, "sign", NULL, 200, "submitted");
    step(s, &dfv, b, "approve", "{\"assessment\":\"ok\"}", 200, "approved");
    step(s, &dfv, b, "revoke", "{\"reason\":\"misbrug\"}", 200, "revoked");
    draft(s, &proc, c);
    step(s, &proc, c, "withdraw", "{\"reason\":\"ikke længere relevant\"}", 200, "withdrawn");
}

Test(agreement_api, role_refusals)
{
    const struct e2e_server *s = world();
    struct api_session proc, only, sign, other, dfv;
    api_login(s, "proc@a.dk", &proc);
    api_login(s, "only@a.dk", &only);
    api_login(s, "sign@a.dk", &sign);
    api_login(s, "proc@b.dk", &other);
    api_login(s, "dfv@skat.dk", &dfv);
    char id[33], path[128];
    /* a signatory without the processor role cannot draft */
    api_expect(s, &sign, "POST", "/api/agreements", "{\"application\":" APPLICATION "}", 403);
    draft(s, &proc, id);
    step(s, &only, id, "sign", NULL, 403, NULL);  /* a processor cannot sign */
    step(s, &proc, id, "sign", NULL, 403, NULL);  /* the drafter cannot sign their own draft */
    step(s, &other, id, "sign", NULL, 404, NULL); /* another organisation cannot use it */
    snprintf(path, sizeof path, "/api/agreements/%s", id);
    api_expect(s, &other, "GET", path, NULL, 404); /* ... nor see it */
    api_expect(s, &other, "PUT", path, "{\"application\":" APPLICATION "}", 404);
    struct e2e_response r;
    api_call(s, &other, "GET", "/api/agreements", NULL, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_null(strstr(r.body, id));
    e2e_response_free(&r);
    api_expect(s, &other, "GET", "/api/agreements?org=" CVR_A, NULL, 403);
    step(s, &sign, id, "sign", NULL, 200, "submitted");
    step(s, &sign, id, "approve", "{\"assessment\":\"ok\"}", 403, NULL); /* signatory */
    step(s, &proc, id, "approve", "{\"assessment\":\"ok\"}", 403, NULL);
    /* the data owner cannot sign for an organisation */
    step(s, &dfv, id, "sign", NULL, 403, NULL);
    /* no session: 401; no CSRF token: 403 */
    step(s, NULL, id, "approve", "{}", 401, NULL);
    snprintf(path, sizeof path, "/api/agreements/%s/approve", id);
    const char *h[] = {"Content-Type: application/json", dfv.cookie, NULL};
    struct e2e_request rq = {.method = "POST", .path = path, .body = "{}", .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

Test(agreement_api, bad_input_names_the_parameter)
{
    const struct e2e_server *s = world();
    struct api_session proc;
    api_login(s, "proc@a.dk", &proc);
    struct e2e_response r;
    api_call(s, &proc, "POST", "/api/agreements",
             "{\"environment\":\"staging\",\"application\":{}}", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "environment");
    cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    e2e_response_free(&r);
    api_call(s, &proc, "POST", "/api/agreements", "{\"application\":{\"colour\":\"red\"}}", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_neq(api_problem_param(&r), "");
    e2e_response_free(&r);
    api_call(s, &proc, "GET", "/api/agreements?state=happy", NULL, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "state");
    e2e_response_free(&r);
    api_expect(s, &proc, "GET", "/api/agreements/00000000000000000000000000000000", NULL, 404);
}

/* The routes declare their query parameters and the members of their
 * bodies: an unknown, repeated or malformed one is a 400 naming it. */
Test(agreement_api, undeclared_parameters_are_refused_by_name)
{
    const struct e2e_server *s = world();
    struct api_session proc;
    api_login(s, "proc@a.dk", &proc);
    struct {
        const char *method, *path, *body, *param;
    } cases[] = {
        {"GET", "/api/agreements?stat=draft", NULL, "stat"},
        {"GET", "/api/agreements?org=12345678&org=12345678", NULL, "org"},
        {"GET", "/api/agreements?org=123", NULL, "org"},
        {"GET", "/api/agreements/00000000000000000000000000000000?x=1", NULL, "x"},
        {"POST", "/api/agreements", "{\"application\":{},\"environmnet\":\"test\"}", "environmnet"},
        {"POST", "/api/agreements", "{\"application\":[]}", "application"},
        {"GET", "/api/disclosures/own?org=12345678", NULL, "org"},
        {"GET", "/api/users?organisation=x", NULL, "organisation"},
        {"GET", "/api/history?limit=0", NULL, "limit"},
        {"GET", "/api/incidents?statu=open", NULL, "statu"},
        {"POST", "/api/session", "{\"username\":\"a\",\"password\":\"b\",\"remember\":true}",
         "remember"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct e2e_response r;
        api_call(s, &proc, cases[i].method, cases[i].path, cases[i].body, &r);
        e2e_assert_status(s, &r, 400);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"), "%s",
                  cases[i].path);
        cr_assert_str_eq(api_problem_param(&r), cases[i].param, "%s %s", cases[i].path, r.body);
        e2e_response_free(&r);
    }
}

/* The pending version's application of an agreement document. */
static json_t *pending_app(const struct e2e_response *r)
{
    json_t *app = json_object_get(json_object_get(r->json, "pending"), "application");
    cr_assert_not_null(app, "%s", r->body);
    return app;
}

Test(agreement_api, purpose_category_and_recipient_kind)
{
    const struct e2e_server *s = world();
    struct api_session proc;
    api_login(s, "proc@a.dk", &proc);
    struct e2e_response r;
    api_call(s, &proc, "POST", "/api/agreements",
             "{\"application\":{\"title\":\"Boligstøtte\",\"purpose_category\":"
             "\"sagsbehandling\",\"recipient_kind\":\"offentlig-myndighed\"}}",
             &r);
    e2e_assert_status(s, &r, 201);
    json_t *app = pending_app(&r);
    cr_assert_str_eq(json_string_value(json_object_get(app, "purpose_category")), "sagsbehandling");
    cr_assert_str_eq(json_string_value(json_object_get(app, "recipient_kind")),
                     "offentlig-myndighed");
    e2e_response_free(&r);
    /* not stated: null */
    api_call(s, &proc, "POST", "/api/agreements", "{\"application\":{\"title\":\"Uden\"}}", &r);
    e2e_assert_status(s, &r, 201);
    cr_assert(json_is_null(json_object_get(pending_app(&r), "purpose_category")), "%s", r.body);
    e2e_response_free(&r);
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"application\":{\"purpose_category\":\"spionage\"}}", "purpose_category"},
        {"{\"application\":{\"purpose_category\":7}}", "purpose_category"},
        {"{\"application\":{\"recipient_kind\":\"forening\"}}", "recipient_kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_call(s, &proc, "POST", "/api/agreements", bad[i].body, &r);
        e2e_assert_status(s, &r, 400);
        cr_assert_str_eq(api_problem_param(&r), bad[i].param, "%s", r.body);
        e2e_response_free(&r);
    }
}

#define TEMPLATE                                                                                   \
    "\"title\":\"Kontrol af moms\",\"purpose\":\"Kontrol af momsangivelser\","                     \
    "\"purpose_category\":\"kontrol\","                                                            \
    "\"legal_basis\":[{\"law\":\"Skatteforvaltningsloven\",\"section\":\"§ 17\"}],"               \
    "\"services\":{\"Momsangivelse\":[\"VirksomhedCVRNummer\"]}"

static bool listed(const struct e2e_server *s, const struct api_session *se, const char *id)
{
    struct e2e_response r;
    api_call(s, se, "GET", "/api/agreement-templates", NULL, &r);
    e2e_assert_status(s, &r, 200);
    bool found = strstr(r.body, id) != NULL;
    e2e_response_free(&r);
    return found;
}

Test(agreement_api, templates_published_by_the_data_owner_start_drafts)
{
    const struct e2e_server *s = world();
    struct api_session dfv, proc;
    api_login(s, "dfv@skat.dk", &dfv);
    api_login(s, "proc@a.dk", &proc);
    struct e2e_response r;
    /* only the data owner makes templates */
    api_expect(s, &proc, "POST", "/api/agreement-templates", "{" TEMPLATE "}", 403);
    api_call(s, &dfv, "POST", "/api/agreement-templates", "{" TEMPLATE "}", &r);
    e2e_assert_status(s, &r, 201);
    char id[40], body[256];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
    cr_assert(json_is_false(json_object_get(r.json, "published")), "%s", r.body);
    e2e_response_free(&r);
    /* unpublished: the data owner sees it, a recipient neither sees nor uses it */
    cr_assert(listed(s, &dfv, id));
    cr_assert(!listed(s, &proc, id));
    snprintf(body, sizeof body, "{\"template\":\"%s\"}", id);
    api_call(s, &proc, "POST", "/api/agreements", body, &r);
    e2e_assert_status(s, &r, 404);
    cr_assert_str_eq(api_problem_param(&r), "template", "%s", r.body);
    e2e_response_free(&r);
    /* published: a processor starts a draft with the template's members */
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"published\":true}", id);
    api_expect(s, &dfv, "POST", "/api/agreement-templates/publish", body, 200);
    cr_assert(listed(s, &proc, id));
    snprintf(body, sizeof body, "{\"template\":\"%s\"}", id);
    api_call(s, &proc, "POST", "/api/agreements", body, &r);
    e2e_assert_status(s, &r, 201);
    json_t *app = pending_app(&r);
    cr_assert_str_eq(json_string_value(json_object_get(app, "title")), "Kontrol af moms");
    cr_assert_str_eq(json_string_value(json_object_get(app, "purpose_category")), "kontrol");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(app, "legal_basis"), 0), "law")),
                     "Skatteforvaltningsloven");
    cr_assert(json_array_size(json_object_get(json_object_get(app, "services"), "Momsangivelse")) ==
                  1,
              "%s", r.body);
    cr_assert_str_eq(status_of(&r), "draft");
    e2e_response_free(&r);
    /* withdrawn: no new drafts from it */
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"published\":false}", id);
    api_expect(s, &dfv, "POST", "/api/agreement-templates/publish", body, 200);
    snprintf(body, sizeof body, "{\"template\":\"%s\"}", id);
    api_expect(s, &proc, "POST", "/api/agreements", body, 404);
    /* refusals name their member */
    static const struct {
        const char *body, *param;
        long status;
    } bad[] = {
        {"{\"title\":\"X\",\"legal_basis\":[{\"law\":\"L\",\"section\":\"1\"}],"
         "\"services\":{\"Momsangivelse\":[\"VirksomhedCVRNummer\"]}}",
         "purpose_category", 400},
        {"{\"title\":\"X\",\"purpose_category\":\"kontrol\","
         "\"legal_basis\":[{\"law\":\"L\",\"section\":\"1\"}]}",
         "services", 400},
        {"{\"title\":\"X\",\"purpose_category\":\"kontrol\","
         "\"services\":{\"Momsangivelse\":[\"VirksomhedCVRNummer\"]}}",
         "legal_basis", 400},
        {"{" TEMPLATE ",\"valid_from\":\"2026-01-01\"}", "valid_from", 400},
        {"{" TEMPLATE ",\"published\":\"ja\"}", "published", 400},
        {"{\"title\":\"X\",\"purpose_category\":\"kontrol\","
         "\"legal_basis\":[{\"law\":\"L\",\"section\":\"1\"}],"
         "\"services\":{\"Momsangivelse\":[\"Ukendt\"]}}",
         "services.Momsangivelse", 400},
        {"{" TEMPLATE ",\"id\":\"00000000000000000000000000000000\"}", "id", 404},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_call(s, &dfv, "POST", "/api/agreement-templates", bad[i].body, &r);
        e2e_assert_status(s, &r, bad[i].status);
        cr_assert_str_eq(api_problem_param(&r), bad[i].param, "%s: %s", bad[i].body, r.body);
        e2e_response_free(&r);
    }
    snprintf(body, sizeof body, "{\"template\":\"%s\",\"application\":{}}", id);
    api_call(s, &proc, "POST", "/api/agreements", body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert_str_eq(api_problem_param(&r), "template", "%s", r.body);
    e2e_response_free(&r);
}
