/* Unit tests: http's pure parts: the router, decoding paths and queries,
 * request ids, UTF-8, problem documents and method names. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/internal.h"

static int dummy(http_request_t *req, void *ctx, err_t *err)
{
    (void)req;
    (void)ctx;
    (void)err;
    return 0;
}

static void add(struct http_router *rt, unsigned methods, const char *path, unsigned flags,
                const char *listener)
{
    struct http_route r = {
        .methods = methods, .path = path, .handler = dummy, .flags = flags, .listener = listener};
    err_t err;
    cr_assert_eq(http_router_add(rt, &r, &err), 0, "%s: %s", path, err.log);
}

static enum http_match match(const struct http_router *rt, const char *listener, const char *path,
                             enum http_method m, const struct http_route_entry **e,
                             unsigned *allowed)
{
    return http_router_match(rt, listener, str_from_cstr(path), m, e, allowed);
}

Test(router, exact_prefix_and_method)
{
    struct http_router rt = {0};
    add(&rt, HTTP_GET, "/health/live", 0, NULL);
    add(&rt, HTTP_POST, "/ingest/", HTTP_ROUTE_PREFIX, NULL);
    add(&rt, HTTP_GET, "/ingest/", HTTP_ROUTE_PREFIX, NULL);
    add(&rt, HTTP_DELETE, "/ingest/special", 0, NULL);
    add(&rt, HTTP_GET, "/", HTTP_ROUTE_PREFIX, NULL);
    const struct http_route_entry *e;
    unsigned allowed;

    cr_assert_eq(match(&rt, "api", "/health/live", HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_str_eq(e->route.path, "/health/live");
    /* GET routes take HEAD too. */
    cr_assert_eq(match(&rt, "api", "/health/live", HTTP_HEAD, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_eq(match(&rt, "api", "/health/live", HTTP_POST, &e, &allowed), HTTP_MATCH_NO_METHOD);
    cr_assert_eq(allowed, HTTP_GET | HTTP_HEAD);
    /* The longest prefix wins; both of its methods are allowed. */
    cr_assert_eq(match(&rt, "api", "/ingest/x/y", HTTP_POST, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_str_eq(e->route.path, "/ingest/");
    cr_assert_eq(match(&rt, "api", "/ingest/x", HTTP_PUT, &e, &allowed), HTTP_MATCH_NO_METHOD);
    cr_assert_eq(allowed, HTTP_GET | HTTP_HEAD | HTTP_POST);
    /* An exact route hides the prefix routes for its path. */
    cr_assert_eq(match(&rt, "api", "/ingest/special", HTTP_GET, &e, &allowed),
                 HTTP_MATCH_NO_METHOD);
    cr_assert_eq(allowed, HTTP_DELETE);
    /* The catch-all prefix. */
    cr_assert_eq(match(&rt, "api", "/anything", HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_str_eq(e->route.path, "/");
    http_router_free(&rt);
}

Test(router, not_found_and_listeners)
{
    struct http_router rt = {0};
    add(&rt, HTTP_GET, "/whoami", 0, "token");
    add(&rt, HTTP_GET, "/metrics", 0, NULL);
    const struct http_route_entry *e;
    unsigned allowed;
    cr_assert_eq(match(&rt, "token", "/whoami", HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_eq(match(&rt, "api", "/whoami", HTTP_GET, &e, &allowed), HTTP_MATCH_NO_PATH);
    cr_assert_eq(match(&rt, "api", "/metrics", HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    cr_assert_eq(match(&rt, "api", "/metrics/", HTTP_GET, &e, &allowed), HTTP_MATCH_NO_PATH);
    cr_assert_eq(match(&rt, "api", "/metric", HTTP_GET, &e, &allowed), HTTP_MATCH_NO_PATH);
    cr_assert_eq(match(&rt, "api", "", HTTP_GET, &e, &allowed), HTTP_MATCH_NO_PATH);
    /* An unknown method (0) on a known path is 405. */
    cr_assert_eq(match(&rt, "api", "/metrics", 0, &e, &allowed), HTTP_MATCH_NO_METHOD);
    http_router_free(&rt);
}

Test(router, utf8_paths_match_decoded)
{
    struct http_router rt = {0};
    add(&rt, HTTP_GET, "/Årsopgørelse", 0, NULL);
    struct http_route_entry const *e;
    unsigned allowed;
    arena_t *a = arena_new(4096);
    str_t path;
    err_t err;
    cr_assert_eq(http_path_decode(STR("/%C3%85rsopg%C3%B8relse"), a, &path, &err), 0);
    cr_assert_eq(http_router_match(&rt, "api", path, HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    /* Lower-case hex escapes decode the same. */
    cr_assert_eq(http_path_decode(STR("/%c3%85rsopg%c3%b8relse"), a, &path, &err), 0);
    cr_assert_eq(http_router_match(&rt, "api", path, HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    /* Raw UTF-8 in the request line is taken as well. */
    cr_assert_eq(http_path_decode(STR("/Årsopgørelse"), a, &path, &err), 0);
    cr_assert_eq(http_router_match(&rt, "api", path, HTTP_GET, &e, &allowed), HTTP_MATCH_OK);
    /* Decomposed Å (A + U+030A) is another path. */
    cr_assert_eq(http_path_decode(STR("/A%CC%8Arsopg%C3%B8relse"), a, &path, &err), 0);
    cr_assert_eq(http_router_match(&rt, "api", path, HTTP_GET, &e, &allowed), HTTP_MATCH_NO_PATH);
    arena_free(a);
    http_router_free(&rt);
}

Test(router, refuses_bad_and_duplicate_routes)
{
    struct http_router rt = {0};
    err_t err;
    add(&rt, HTTP_GET, "/a", 0, NULL);
    struct http_route dup = {.methods = HTTP_GET | HTTP_POST, .path = "/a", .handler = dummy};
    cr_assert_eq(http_router_add(&rt, &dup, &err), DUPLA_ECONFLICT);
    /* The same path for another listener is a conflict with a route on all
     * listeners; another method is not. */
    struct http_route other_listener = {
        .methods = HTTP_GET, .path = "/a", .handler = dummy, .listener = "token"};
    cr_assert_eq(http_router_add(&rt, &other_listener, &err), DUPLA_ECONFLICT);
    struct http_route post = {.methods = HTTP_POST, .path = "/a", .handler = dummy};
    cr_assert_eq(http_router_add(&rt, &post, &err), 0);
    /* A prefix route of the same text is another route. */
    add(&rt, HTTP_GET, "/a", HTTP_ROUTE_PREFIX, NULL);
    const char *bad[] = {"", "a", "/a?b", "/a#b", "/a\tb", "/\xC3\x28"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_route r = {.methods = HTTP_GET, .path = bad[i], .handler = dummy};
        cr_assert_eq(http_router_add(&rt, &r, &err), DUPLA_EINVAL, "accepted \"%s\"", bad[i]);
    }
    struct http_route no_method = {.methods = 0, .path = "/b", .handler = dummy};
    cr_assert_eq(http_router_add(&rt, &no_method, &err), DUPLA_EINVAL);
    struct http_route no_handler = {.methods = HTTP_GET, .path = "/b"};
    cr_assert_eq(http_router_add(&rt, &no_handler, &err), DUPLA_EINVAL);
    http_router_free(&rt);
}

Test(router, names_default_to_the_path)
{
    struct http_router rt = {0};
    add(&rt, HTTP_GET, "/x", 0, NULL);
    struct http_route named = {.methods = HTTP_GET, .path = "/y", .handler = dummy, .name = "why"};
    err_t err;
    cr_assert_eq(http_router_add(&rt, &named, &err), 0);
    cr_assert_str_eq(rt.routes[0].route.name, "/x");
    cr_assert_str_eq(rt.routes[1].route.name, "why");
    http_router_free(&rt);
}

Test(methods, names_parse_and_format)
{
    cr_assert_eq(http_method_parse("GET"), HTTP_GET);
    cr_assert_eq(http_method_parse("DELETE"), HTTP_DELETE);
    cr_assert_eq(http_method_parse("get"), 0);
    cr_assert_eq(http_method_parse("BREW"), 0);
    cr_assert_eq(http_method_parse(NULL), 0);
    cr_assert_str_eq(http_method_name(HTTP_PATCH), "PATCH");
    char out[64];
    http_methods_format(HTTP_POST | HTTP_GET | HTTP_HEAD, out, sizeof out);
    cr_assert_str_eq(out, "GET, HEAD, POST");
    http_methods_format(0, out, sizeof out);
    cr_assert_str_eq(out, "");
    char small[8];
    http_methods_format(HTTP_GET | HTTP_HEAD | HTTP_POST, small, sizeof small);
    cr_assert_str_eq(small, "GET");
}

Test(paths, decode_refusals)
{
    arena_t *a = arena_new(4096);
    str_t out;
    err_t err;
    const char *bad[] = {"",       "x",       "/a%",     "/a%4",       "/a%G1",   "/a%00",
                         "/a%0a",  "/a\x01",  "/%C3%28", "/%ED%A0%80", "/%C0%AF", "/%F4%90%80%80",
                         "/a/./b", "/a/../b", "/..",     "/a/%2E%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(http_path_decode(str_from_cstr(bad[i]), a, &out, &err), DUPLA_EINVAL,
                     "accepted \"%s\"", bad[i]);
    cr_assert_eq(http_path_decode(STR("/a%2Fb/c.d/..e/%20"), a, &out, &err), 0);
    cr_assert(str_eq(out, STR("/a/b/c.d/..e/ ")));
    /* '+' is a plus in a path. */
    cr_assert_eq(http_path_decode(STR("/a+b"), a, &out, &err), 0);
    cr_assert(str_eq(out, STR("/a+b")));
    arena_free(a);
}

Test(query, parse_in_order_with_repeats)
{
    arena_t *a = arena_new(4096);
    struct http_query_param *q;
    size_t n;
    err_t err;
    cr_assert_eq(http_query_parse(STR("VirksomhedSENummer=12345678&VirksomhedSENummer=87654321&"
                                      "x=a+b%2Bc&empty=&flag&&%C3%85r=2024"),
                                  10, a, &q, &n, &err),
                 0);
    cr_assert_eq(n, 6);
    cr_assert(str_eq(q[0].name, STR("VirksomhedSENummer")));
    cr_assert(str_eq(q[1].value, STR("87654321")));
    cr_assert(str_eq(q[2].value, STR("a b+c")));
    cr_assert(str_eq(q[3].name, STR("empty")) && q[3].value.len == 0);
    cr_assert(str_eq(q[4].name, STR("flag")) && q[4].value.len == 0);
    cr_assert(str_eq(q[5].name, STR("År")));
    cr_assert_eq(http_query_parse(STR(""), 0, a, &q, &n, &err), 0);
    cr_assert_eq(n, 0);
    arena_free(a);
}

Test(query, refusals_name_limit_or_parameter)
{
    arena_t *a = arena_new(4096);
    struct http_query_param *q;
    size_t n;
    err_t err;
    cr_assert_eq(http_query_parse(STR("a=1&b=2&c=3"), 2, a, &q, &n, &err), DUPLA_EINVAL);
    cr_assert_eq(err_status(&err), 400);
    cr_assert_str_eq(err.type, "too-many-parameters");
    cr_assert_str_eq(err.param, "max_query_params");
    cr_assert(strstr(err.detail, "2"));
    cr_assert_eq(http_query_parse(STR("a=1&b=%ZZ"), 5, a, &q, &n, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "b");
    cr_assert_eq(http_query_parse(STR("a=1&%FF=2"), 5, a, &q, &n, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "");
    cr_assert_eq(http_query_parse(STR("a=%00"), 5, a, &q, &n, &err), DUPLA_EINVAL);
    arena_free(a);
}

Test(request_id, validation)
{
    cr_assert(http_request_id_valid(STR("0b1c2d3e-aaaa-4bbb-8ccc-0123456789ab")));
    cr_assert(http_request_id_valid(STR("job_17.call-3")));
    cr_assert(http_request_id_valid(STR("x")));
    cr_assert_not(http_request_id_valid(STR("")));
    cr_assert_not(http_request_id_valid(STR("has space")));
    cr_assert_not(http_request_id_valid(STR("semi;colon")));
    cr_assert_not(http_request_id_valid(STR("quote\"")));
    cr_assert_not(http_request_id_valid(STR("Å")));
    cr_assert_not(http_request_id_valid((str_t){"a\0b", 3}));
    char id[HTTP_REQUEST_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    cr_assert(http_request_id_valid((str_t){id, HTTP_REQUEST_ID_MAX}));
    cr_assert_not(http_request_id_valid((str_t){id, HTTP_REQUEST_ID_MAX + 1}));
}

Test(problem, rendering)
{
    err_t err;
    err_param(&err, DUPLA_EINVAL, "PersonCPRNummer", "must be 10 digits");
    json_t *p = http_problem_json(&err, "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(p, "type")),
                     "https://dupla.invalid/problems/invalid-request");
    cr_assert_str_eq(json_string_value(json_object_get(p, "title")), "Bad Request");
    cr_assert_eq(json_integer_value(json_object_get(p, "status")), 400);
    cr_assert_str_eq(json_string_value(json_object_get(p, "detail")), "must be 10 digits");
    cr_assert_str_eq(json_string_value(json_object_get(p, "instance")), "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(p, "parameter")), "PersonCPRNummer");
    cr_assert_eq(json_object_size(p), 6);
    json_decref(p);

    /* An internal error shows the generic detail, never the log message. */
    err_internal(&err, DUPLA_ESTORE, "sqlite: disk I/O error at /var/lib/x");
    p = http_problem_json(&err, NULL);
    cr_assert_eq(json_integer_value(json_object_get(p, "status")), 500);
    cr_assert_null(strstr(json_string_value(json_object_get(p, "detail")), "sqlite"));
    cr_assert_null(json_object_get(p, "instance"));
    cr_assert_null(json_object_get(p, "parameter"));
    json_decref(p);

    /* An explicit status and slug win. */
    err_set(&err, DUPLA_ELIMIT, "too big");
    err_http(&err, 431, "header-too-large");
    p = http_problem_json(&err, "r");
    cr_assert_eq(json_integer_value(json_object_get(p, "status")), 431);
    cr_assert_str_eq(json_string_value(json_object_get(p, "title")),
                     "Request Header Fields Too Large");
    cr_assert_str_eq(json_string_value(json_object_get(p, "type")),
                     "https://dupla.invalid/problems/header-too-large");
    json_decref(p);

    /* A status outside 4xx/5xx is not a problem: rendered as 500. */
    err_set(&err, DUPLA_EINVAL, "odd");
    err_http(&err, 302, NULL);
    p = http_problem_json(&err, "r");
    cr_assert_eq(json_integer_value(json_object_get(p, "status")), 500);
    json_decref(p);

    /* A detail that is not UTF-8 still gives valid JSON. */
    err_set(&err, DUPLA_EINVAL, "bad \xFF byte");
    p = http_problem_json(&err, "r");
    cr_assert(json_string_value(json_object_get(p, "detail")));
    json_decref(p);
}

Test(tls, reasons)
{
    cr_assert_str_eq(http_tls_reason(0), "");
    cr_assert_str_eq(http_tls_reason(GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND),
                     "unknown CA");
    cr_assert_str_eq(http_tls_reason(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED), "expired");
    cr_assert_str_eq(http_tls_reason(GNUTLS_CERT_INVALID | GNUTLS_CERT_NOT_ACTIVATED),
                     "not yet valid");
    cr_assert_str_eq(http_tls_reason(GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOKED), "revoked");
    cr_assert_str_eq(http_tls_reason(GNUTLS_CERT_INVALID), "not trusted");
}

/* Found by fuzz/fuzz_json_body.c: a member named "" (or a query's "=x")
 * was refused with an empty "parameter"; the problem names where it is. */
Test(json_body, a_nameless_member_or_parameter_is_named_by_where_it_is)
{
    json_t *o = json_loads("{\"\":1}", 0, NULL);
    cr_assert_not_null(o);
    err_t err;
    err_clear(&err);
    const struct http_param some[] = {{.name = "a"}, {0}};
    cr_assert_eq(http_json_check(o, some, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "body");
    json_decref(o);
    str_t names[] = {STR("")}, values[] = {STR("x")};
    struct http_form f = {.names = names, .values = values, .n = 1};
    err_clear(&err);
    cr_assert_eq(http_form_check(&f, some, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "body");
}

Test(json_body, members_are_checked_and_named)
{
    json_error_t je;
    json_t *o =
        json_loads("{\"a\":\"x\",\"b\":1,\"c\":null,\"d\":\"n\\u0000ul\"}", JSON_ALLOW_NUL, &je);
    cr_assert_not_null(o);
    err_t err;
    err_clear(&err);
    const struct http_param some[] = {{.name = "a"}, {.name = "b", .type = HTTP_PARAM_INT}, {0}};
    cr_assert_eq(http_json_check(o, some, &err), DUPLA_EINVAL);
    cr_assert(strcmp(err.param, "c") == 0 || strcmp(err.param, "d") == 0, "%s", err.param);
    const struct http_param all[] = {
        {.name = "a"}, {.name = "b", .type = HTTP_PARAM_INT}, {.name = "c"}, {.name = "d"}, {0}};
    cr_assert_eq(http_json_check(o, all, &err), DUPLA_EINVAL, "a NUL inside a string");
    cr_assert_str_eq(err.param, "d");
    const char *v;
    cr_assert_eq(http_json_string(o, "a", true, &v, &err), 0);
    cr_assert_str_eq(v, "x");
    cr_assert_eq(http_json_string(o, "c", false, &v, &err), 0, "null is absent");
    cr_assert_null(v);
    cr_assert_eq(http_json_string(o, "c", true, &v, &err), DUPLA_EINVAL, "required");
    cr_assert_str_eq(err.param, "c");
    cr_assert_eq(http_json_string(o, "zz", true, &v, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "zz");
    cr_assert_eq(http_json_string(o, "b", false, &v, &err), DUPLA_EINVAL, "not a string");
    cr_assert_str_eq(err.param, "b");
    cr_assert_eq(http_json_string(o, "d", false, &v, &err), DUPLA_EINVAL, "a NUL inside");
    json_decref(o);
}

/* ---- http_form_read (form.c) ---- */

static const char *const form_lines[] = {"text", NULL};
static const struct http_form_rules form_rules = {.max_fields = 4, .lines = form_lines};
static const struct http_form_rules form_unique = {.max_fields = 4, .unique = true};

Test(http_form, reads_fields_in_order_with_plus_as_space)
{
    arena_t *a = arena_new(1 << 16);
    struct http_form f;
    err_t err;
    err_clear(&err);
    cr_assert_eq(http_form_read(a, STR("a=1+2&&b=%C3%A6&c&a=3"), &form_rules, &f, &err), 0);
    cr_assert_eq(f.n, 4);
    str_t v;
    cr_assert(http_form_get(&f, "a", &v));
    cr_assert(str_eq_cstr(v, "1 2"), "the first of a repeated name");
    cr_assert(http_form_get(&f, "b", &v) && str_eq_cstr(v, "\xC3\xA6"));
    cr_assert(http_form_get(&f, "c", &v) && v.len == 0, "no '=' is an empty value");
    cr_assert_not(http_form_get(&f, "d", &v));
    cr_assert_eq(http_form_read(a, STR(""), &form_rules, &f, &err), 0);
    cr_assert_eq(f.n, 0);
    arena_free(a);
}

Test(http_form, refuses_and_names_the_field)
{
    arena_t *a = arena_new(1 << 16);
    struct http_form f;
    err_t err;
    struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"a=1&b=%zz", "b"},
        {"b=%00", "b"},
        {"b=x%0Ay", "b"},
        {"b=%C0%AF", "b"},
        {"%C0%AF=1", "body"},
        {"=1", "body"},
        {"a=1&b=2&c=3&d=4&e=5", "body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        cr_assert_neq(http_form_read(a, str_from_cstr(bad[i].body), &form_rules, &f, &err), 0, "%s",
                      bad[i].body);
        cr_assert_str_eq(err.param, bad[i].param, "%s", bad[i].body);
    }
    err_clear(&err);
    cr_assert_eq(http_form_read(a, STR("text=x%0D%0Ay%09"), &form_rules, &f, &err), 0);
    cr_assert(str_eq_cstr(f.values[0], "x\r\ny\t"));
    cr_assert_neq(http_form_read(a, STR("text=x%00"), &form_rules, &f, &err), 0);
    err_clear(&err);
    cr_assert_neq(http_form_read(a, STR("g=1&g=2"), &form_unique, &f, &err), 0);
    cr_assert_str_eq(err.param, "g");
    cr_assert_eq(http_form_read(a, STR("g=1&g=2"), &form_rules, &f, &err), 0);
    arena_free(a);
}

/* ---- declared parameters (params.c) ---- */

static const char *const colours[] = {"red", "green", NULL};
static const struct http_param decl[] = {
    {.name = "name", .type = HTTP_PARAM_STRING, .required = true, .min = 1, .max = 5},
    {.name = "n", .type = HTTP_PARAM_INT, .min = 1, .max = 10},
    {.name = "flag", .type = HTTP_PARAM_BOOL},
    {.name = "colour", .type = HTTP_PARAM_ENUM, .values = colours},
    {.name = "from", .type = HTTP_PARAM_TIME},
    {.name = "tag", .type = HTTP_PARAM_STRING, .repeat = true},
    {0},
};

/* http_form_check over body, which http_form_read must accept; returns the
 * check's result with err's param in param. */
static int form_check(const char *body, char *param)
{
    arena_t *a = arena_new(1 << 16);
    static const struct http_form_rules rules = {.max_fields = 16};
    struct http_form f;
    err_t err;
    err_clear(&err);
    cr_assert_eq(http_form_read(a, str_from_cstr(body), &rules, &f, &err), 0, "%s", body);
    int rc = http_form_check(&f, decl, &err);
    strcpy(param, err.param);
    arena_free(a);
    return rc;
}

Test(params, text_values_are_checked_by_declaration)
{
    char param[ERR_PARAM_MAX];
    cr_assert_eq(form_check("name=abc&n=3&flag=true&colour=red&from=2026-01-02&tag=a&tag=b", param),
                 0);
    cr_assert_eq(form_check("name=abc&from=2026-01-02T10:00:00Z&n=", param), 0,
                 "an empty optional value is not given");
    struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"n=3", "name"},                  /* required */
        {"name=", "name"},                /* required and empty: too short */
        {"name=abcdef", "name"},          /* too long */
        {"name=a&stor=1", "stor"},        /* unknown */
        {"name=a&name=b", "name"},        /* repeated */
        {"name=a&n=11", "n"},             /* out of range */
        {"name=a&n=x", "n"},              /* not a number */
        {"name=a&flag=yes", "flag"},      /* not a boolean */
        {"name=a&colour=blue", "colour"}, /* not in the list */
        {"name=a&from=yesterday", "from"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(form_check(bad[i].body, param), DUPLA_EINVAL, "%s", bad[i].body);
        cr_assert_str_eq(param, bad[i].param, "%s", bad[i].body);
    }
}

Test(params, json_members_are_checked_by_declaration)
{
    static const struct http_param jd[] = {
        {.name = "s", .type = HTTP_PARAM_STRING, .required = true},
        {.name = "i", .type = HTTP_PARAM_INT, .min = 0, .max = 5},
        {.name = "b", .type = HTTP_PARAM_BOOL},
        {.name = "o", .type = HTTP_PARAM_OBJECT},
        {.name = "a", .type = HTTP_PARAM_ARRAY},
        {.name = "x", .type = HTTP_PARAM_ANY},
        {0},
    };
    struct {
        const char *json;
        int rc;
        const char *param;
    } cases[] = {
        {"{\"s\":\"v\",\"i\":5,\"b\":false,\"o\":{},\"a\":[],\"x\":1}", 0, ""},
        {"{\"s\":\"v\",\"i\":null}", 0, ""},
        {"{}", DUPLA_EINVAL, "s"},
        {"{\"s\":null}", DUPLA_EINVAL, "s"},
        {"{\"s\":1}", DUPLA_EINVAL, "s"},
        {"{\"s\":\"v\",\"i\":6}", DUPLA_EINVAL, "i"},
        {"{\"s\":\"v\",\"i\":\"1\"}", DUPLA_EINVAL, "i"},
        {"{\"s\":\"v\",\"b\":1}", DUPLA_EINVAL, "b"},
        {"{\"s\":\"v\",\"o\":[]}", DUPLA_EINVAL, "o"},
        {"{\"s\":\"v\",\"a\":{}}", DUPLA_EINVAL, "a"},
        {"{\"s\":\"v\",\"stor\":1}", DUPLA_EINVAL, "stor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *o = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(o, "%s", cases[i].json);
        err_t err;
        err_clear(&err);
        cr_assert_eq(http_json_check(o, jd, &err), cases[i].rc, "%s", cases[i].json);
        cr_assert_str_eq(err.param, cases[i].param, "%s", cases[i].json);
        json_decref(o);
    }
}
