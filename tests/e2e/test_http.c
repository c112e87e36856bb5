/*
 * End-to-end: the HTTPS server of `dupla serve`: health, metrics, problem
 * bodies (404, 405), request ids, percent-encoded paths, client
 * certificates (/whoami, request and require listeners) and every request
 * limit. Two shared servers: "main" (default limits, plus a listener that
 * requires client certificates) and "limits" (small limits).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "pki/pki.h"

#define VALID_CVR "10000009" /* passes the modulus-11 check */

E2E_SHARED_SERVERS({"main",
                    {.listeners_json = "[{\"name\": \"strict\", \"client_cert\": "
                                       "\"require\"}]"}},
                   {"limits",
                    {.limits_json = "{\"max_url_bytes\": 300, \"max_header_bytes\": 300, "
                                    "\"max_query_params\": 3, \"idle_seconds\": 2, "
                                    "\"request_seconds\": 1}"}});

static const struct e2e_server *main_srv(void)
{
    return e2e_shared("main");
}

/* The problem body's members, checked against the response. */
static void assert_problem(const struct e2e_server *s, const struct e2e_response *r, long status,
                           const char *slug)
{
    e2e_assert_status(s, r, status);
    const char *ct = e2e_header(r, "Content-Type");
    cr_assert(ct && strcmp(ct, "application/problem+json") == 0, "content type %s", ct);
    cr_assert(r->json, "problem body is not JSON: %s", r->body);
    char type[160];
    snprintf(type, sizeof type, "https://dupla.invalid/problems/%s", slug);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "type")), type);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "status")), status);
    cr_assert(json_string_value(json_object_get(r->json, "title")));
    cr_assert(json_string_value(json_object_get(r->json, "detail")));
    const char *rid = e2e_header(r, "X-Request-ID");
    cr_assert(rid, "no X-Request-ID on a problem");
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "instance")), rid);
}

/* Issues a system certificate named after the test (so that parallel
 * tests never collide) in the server's PKI. */
static void issue(const struct e2e_server *s, const char *name, const char *const *extra)
{
    cr_assert_eq(e2e_issue_system(s, name, VALID_CVR, extra), 0, "issue-system %s failed", name);
}

/* ---- health and metrics ---- */

Test(health, live)
{
    struct e2e_response r;
    e2e_get(main_srv(), "api", "/health/live", &r);
    e2e_assert_status(main_srv(), &r, 200);
    cr_assert_str_eq(e2e_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "live");
    cr_assert_str_eq(e2e_header(&r, "Cache-Control"), "no-store");
    e2e_response_free(&r);
}

Test(health, ready)
{
    struct e2e_response r;
    e2e_get(main_srv(), "token", "/health/ready", &r);
    e2e_assert_status(main_srv(), &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    e2e_response_free(&r);
}

Test(health, head_answers_without_body)
{
    struct e2e_request rq = {.method = "HEAD", .path = "/health/live"};
    struct e2e_response r;
    e2e_request(main_srv(), &rq, &r);
    e2e_assert_status(main_srv(), &r, 200);
    cr_assert_eq(r.body_len, 0);
    e2e_response_free(&r);
}

Test(metrics, prometheus_text)
{
    const struct e2e_server *s = main_srv();
    struct e2e_response r;
    e2e_get(s, "api", "/health/live", &r);
    e2e_response_free(&r);
    e2e_get(s, "api", "/no/such/thing", &r);
    e2e_response_free(&r);
    e2e_get(s, "api", "/metrics", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strncmp(e2e_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0);
    const char *want[] = {
        "# TYPE dupla_http_requests_total counter",
        "dupla_http_requests_total{route=\"health_live\",status=\"200\"} ",
        "dupla_http_requests_total{route=\"unmatched\",status=\"404\"} ",
        "# TYPE dupla_http_request_duration_seconds histogram",
        "dupla_http_request_duration_seconds_bucket{route=\"health_live\",le=\"+Inf\"} ",
        "dupla_http_request_duration_seconds_count{route=\"health_live\"} ",
        "# TYPE dupla_http_open_connections gauge",
        "dupla_http_open_connections{listener=\"api\"} ",
        "dupla_build_info{version=\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.body, want[i]), "metrics lack \"%s\":\n%s", want[i], r.body);
    /* The request being answered holds a connection open. */
    cr_assert_null(strstr(r.body, "dupla_http_open_connections{listener=\"api\"} 0\n"));
    e2e_response_free(&r);
}

/* ---- problems ---- */

Test(problems, not_found)
{
    struct e2e_response r;
    e2e_get(main_srv(), "api", "/no/such/thing", &r);
    assert_problem(main_srv(), &r, 404, "not-found");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "title")), "Not Found");
    e2e_response_free(&r);
}

Test(problems, method_not_allowed_names_allow)
{
    struct e2e_request rq = {.method = "DELETE", .path = "/metrics"};
    struct e2e_response r;
    e2e_request(main_srv(), &rq, &r);
    assert_problem(main_srv(), &r, 405, "method-not-allowed");
    cr_assert_str_eq(e2e_header(&r, "Allow"), "GET, HEAD");
    e2e_response_free(&r);
}

Test(problems, unknown_method_is_405)
{
    struct e2e_request rq = {.method = "BREW", .path = "/health/live"};
    struct e2e_response r;
    e2e_request(main_srv(), &rq, &r);
    assert_problem(main_srv(), &r, 405, "method-not-allowed");
    e2e_response_free(&r);
}

/* ---- request ids ---- */

Test(request_id, echoed_when_sane)
{
    const char *h[] = {"X-Request-ID: job-17.call_3", NULL};
    struct e2e_request rq = {.path = "/no/such/thing", .headers = h};
    struct e2e_response r;
    e2e_request(main_srv(), &rq, &r);
    assert_problem(main_srv(), &r, 404, "not-found");
    cr_assert_str_eq(e2e_header(&r, "X-Request-ID"), "job-17.call_3");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "instance")), "job-17.call_3");
    e2e_response_free(&r);
}

Test(request_id, generated_when_absent_or_insane)
{
    char longid[160];
    int off = snprintf(longid, sizeof longid, "X-Request-ID: ");
    memset(longid + off, 'a', 129);
    longid[off + 129] = '\0';
    const char *bad[][2] = {{NULL, NULL},
                            {"X-Request-ID: has space", NULL},
                            {"X-Request-ID: semi;colon", NULL},
                            {longid, NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct e2e_request rq = {.path = "/health/live", .headers = bad[i][0] ? bad[i] : NULL};
        struct e2e_response r;
        e2e_request(main_srv(), &rq, &r);
        e2e_assert_status(main_srv(), &r, 200);
        const char *id = e2e_header(&r, "X-Request-ID");
        cr_assert(id && strlen(id) == 36 && id[14] == '4', "case %zu: id %s is not a UUIDv4", i,
                  id);
        e2e_response_free(&r);
    }
}

/* ---- paths ---- */

Test(paths, utf8_percent_encoded_is_decoded)
{
    const struct e2e_server *s = main_srv();
    struct e2e_response r;
    /* (a path no module serves: /Årsopgørelse is a data service now) */
    e2e_get(s, "api", "/%C3%85rsopg%C3%B8relse%C3%86%C3%98?PersonCPRNummer=0101601234", &r);
    assert_problem(s, &r, 404, "not-found");
    e2e_response_free(&r);
    /* The log names the decoded path, and never the query. */
    cr_assert(e2e_log_wait(s, "\"path\":\"/ÅrsopgørelseÆØ\"", 5000));
    cr_assert_not(e2e_log_contains(s, "0101601234"));
}

Test(paths, malformed_are_refused)
{
    const char *bad[] = {"/%C3%28", "/a%00b", "/a%zz", "/health/../metrics", "/health/%2e%2e/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct e2e_response r;
        e2e_get(main_srv(), "api", bad[i], &r);
        assert_problem(main_srv(), &r, 400, "invalid-request");
        e2e_response_free(&r);
    }
}

/* ---- client certificates ---- */

Test(whoami, names_the_cvr_of_a_system_certificate)
{
    const struct e2e_server *s = main_srv();
    issue(s, "whoami-pem", NULL);
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {.listener = "token",
                             .path = "/whoami",
                             .cert_file = e2e_pki_path(s, "whoami-pem.pem", cert),
                             .key_file = e2e_pki_path(s, "whoami-pem.key", key)};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "cvr")), VALID_CVR);
    cr_assert(json_is_true(json_object_get(r.json, "verified")));
    cr_assert(json_is_null(json_object_get(r.json, "reason")));
    cr_assert(strstr(json_string_value(json_object_get(r.json, "subject")), "CN=whoami-pem"));
    struct pki_cert_info info;
    err_t err;
    cr_assert_eq(pki_cert_info_from_file(cert, &info, &err), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "sha256")), info.sha256_hex);
    e2e_response_free(&r);
    /* The log names the fingerprint, never the CVR. */
    char needle[100];
    snprintf(needle, sizeof needle, "\"client_cert_sha256\":\"%s\"", info.sha256_hex);
    cr_assert(e2e_log_wait(s, needle, 5000));
}

Test(whoami, takes_pkcs12)
{
    const struct e2e_server *s = main_srv();
    issue(s, "whoami-p12", NULL);
    char p12[E2E_PATH_MAX], passfile[E2E_PATH_MAX], pass[256];
    e2e_pki_path(s, "whoami-p12.p12", p12);
    cr_assert_eq(e2e_read_line(e2e_pki_path(s, "whoami-p12.p12.pass", passfile), pass, sizeof pass),
                 0);
    struct e2e_request rq = {
        .listener = "token", .path = "/whoami", .p12_file = p12, .p12_password = pass};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "cvr")), VALID_CVR);
    e2e_response_free(&r);
}

Test(whoami, without_certificate_is_401)
{
    struct e2e_response r;
    e2e_get(main_srv(), "token", "/whoami", &r);
    assert_problem(main_srv(), &r, 401, "client-certificate-required");
    e2e_response_free(&r);
}

Test(whoami, only_on_listeners_taking_certificates)
{
    struct e2e_response r;
    e2e_get(main_srv(), "api", "/whoami", &r);
    assert_problem(main_srv(), &r, 404, "not-found");
    e2e_response_free(&r);
}

/* A second, unrelated CA and a system certificate from it, in dir. */
static void foreign_cert(const struct e2e_server *s, char *cert, char *key)
{
    char dir[E2E_DIR_MAX + 32];
    snprintf(dir, sizeof dir, "%s/foreign-%d", s->dir, (int)getpid());
    const char *init[] = {"pki", "init", "--dir", dir, NULL};
    cr_assert_eq(e2e_run_dupla(init, NULL), 0);
    const char *issue_args[] = {"pki",     "issue-system", "--dir",    dir, "--cvr",
                                VALID_CVR, "--name",       "intruder", NULL};
    cr_assert_eq(e2e_run_dupla(issue_args, NULL), 0);
    snprintf(cert, E2E_PATH_MAX, "%s/intruder.pem", dir);
    snprintf(key, E2E_PATH_MAX, "%s/intruder.key", dir);
}

Test(whoami, says_why_a_certificate_is_refused)
{
    const struct e2e_server *s = main_srv();
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    foreign_cert(s, cert, key);
    struct e2e_request rq = {
        .listener = "token", .path = "/whoami", .cert_file = cert, .key_file = key};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(json_is_false(json_object_get(r.json, "verified")));
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "unknown CA");
    e2e_response_free(&r);

    const char *old[] = {"--not-before", "2020-01-01T00:00:00Z", "--not-after",
                         "2020-12-31T00:00:00Z", NULL};
    issue(s, "whoami-expired", old);
    e2e_pki_path(s, "whoami-expired.pem", cert);
    e2e_pki_path(s, "whoami-expired.key", key);
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(json_is_false(json_object_get(r.json, "verified")));
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "expired");
    e2e_response_free(&r);

    const char *future[] = {"--not-before", "2090-01-01T00:00:00Z", "--not-after",
                            "2091-01-01T00:00:00Z", NULL};
    issue(s, "whoami-future", future);
    e2e_pki_path(s, "whoami-future.pem", cert);
    e2e_pki_path(s, "whoami-future.key", key);
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "not yet valid");
    e2e_response_free(&r);
}

Test(require, refuses_the_handshake_without_a_certificate)
{
    struct e2e_response r;
    int rc = e2e_get(main_srv(), "strict", "/health/live", &r);
    cr_assert_eq(rc, -1, "the handshake succeeded (status %ld)", r.status);
    cr_assert_eq(r.status, 0);
    e2e_response_free(&r);
}

Test(require, refuses_the_handshake_with_an_unknown_ca)
{
    const struct e2e_server *s = main_srv();
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    foreign_cert(s, cert, key);
    struct e2e_request rq = {
        .listener = "strict", .path = "/whoami", .cert_file = cert, .key_file = key};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), -1, "the handshake succeeded (status %ld)", r.status);
    e2e_response_free(&r);
}

Test(require, refuses_the_handshake_with_an_expired_certificate)
{
    const struct e2e_server *s = main_srv();
    const char *old[] = {"--not-before", "2020-01-01T00:00:00Z", "--not-after",
                         "2020-12-31T00:00:00Z", NULL};
    issue(s, "strict-expired", old);
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {.listener = "strict",
                             .path = "/whoami",
                             .cert_file = e2e_pki_path(s, "strict-expired.pem", cert),
                             .key_file = e2e_pki_path(s, "strict-expired.key", key)};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), -1, "the handshake succeeded (status %ld)", r.status);
    e2e_response_free(&r);
}

Test(require, serves_a_trusted_certificate)
{
    const struct e2e_server *s = main_srv();
    issue(s, "strict-ok", NULL);
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {.listener = "strict",
                             .path = "/whoami",
                             .cert_file = e2e_pki_path(s, "strict-ok.pem", cert),
                             .key_file = e2e_pki_path(s, "strict-ok.key", key)};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "cvr")), VALID_CVR);
    cr_assert(json_is_true(json_object_get(r.json, "verified")));
    e2e_response_free(&r);
}

/* ---- limits ---- */

static const struct e2e_server *limits_srv(void)
{
    return e2e_shared("limits");
}

Test(limits, url_too_long_is_414)
{
    char path[400] = "/";
    memset(path + 1, 'a', 350);
    path[351] = '\0';
    struct e2e_response r;
    e2e_get(limits_srv(), "api", path, &r);
    assert_problem(limits_srv(), &r, 414, "uri-too-long");
    e2e_response_free(&r);
}

Test(limits, header_line_too_long_is_431)
{
    char h[400];
    snprintf(h, sizeof h, "X-Padding: %0350d", 0);
    const char *hs[] = {h, NULL};
    struct e2e_request rq = {.path = "/health/live", .headers = hs};
    struct e2e_response r;
    e2e_request(limits_srv(), &rq, &r);
    assert_problem(limits_srv(), &r, 431, "header-too-large");
    e2e_response_free(&r);
}

Test(limits, header_block_past_the_connection_memory_is_431)
{
    /* Past what the connection's memory holds (128 KiB here): libmicrohttpd
     * answers itself (its own small body), with the
     * right status. Below it the answer is ours (test_http_wire.c). */
    size_t n = 300 * 1024;
    char *req = malloc(n + 400);
    int off = snprintf(req, 200, "GET /health/live HTTP/1.1\r\nHost: localhost\r\n");
    for (int i = 0; (size_t)off < n; i++)
        off += snprintf(req + off, 200, "X-H%d: %0100d\r\n", i, 0);
    off += snprintf(req + off, 200, "\r\n");
    char *out;
    long ms;
    int rc = e2e_raw(limits_srv(), "api", req, (size_t)off, 10000, &out, &ms);
    cr_assert_neq(rc, -1);
    cr_assert(strncmp(out, "HTTP/1.1 431", 12) == 0, "answer: %.200s", out);
    free(out);
    free(req);
}

Test(limits, too_many_query_parameters_is_400)
{
    struct e2e_response r;
    e2e_get(limits_srv(), "api", "/health/live?a=1&b=2&c=3", &r);
    e2e_assert_status(limits_srv(), &r, 200);
    e2e_response_free(&r);
    e2e_get(limits_srv(), "api", "/health/live?a=1&b=2&c=3&a=4", &r);
    assert_problem(limits_srv(), &r, 400, "too-many-parameters");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "max_query_params");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "detail")), "3"));
    e2e_response_free(&r);
}

Test(limits, many_parameters_within_the_url_limit_get_our_400)
{
    /* 1200 parameters in under 4096 bytes (the default URL limit) on the
     * main server (default limit 1100 parameters): our problem, not a
     * refusal for the HTTP library's memory. */
    char path[4200] = "/health/live?";
    size_t off = strlen(path);
    for (int i = 0; i < 1200; i++) {
        path[off++] = 'a';
        path[off++] = '&';
    }
    path[off] = '\0';
    struct e2e_response r;
    e2e_get(main_srv(), "api", path, &r);
    assert_problem(main_srv(), &r, 400, "too-many-parameters");
    e2e_response_free(&r);
}

Test(limits, request_line_past_the_connection_memory_is_414)
{
    size_t n = 200 * 1024;
    char *req = malloc(n + 64);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', n);
    size_t len = 5 + n;
    len += (size_t)snprintf(req + len, 64, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    char *out;
    long ms;
    int rc = e2e_raw(limits_srv(), "api", req, len, 10000, &out, &ms);
    cr_assert_neq(rc, -1);
    cr_assert(strncmp(out, "HTTP/1.1 414", 12) == 0, "answer: %.200s", out);
    free(out);
    free(req);
}

Test(limits, body_on_a_route_taking_none_is_413)
{
    struct e2e_request rq = {.method = "GET", .path = "/health/live", .body = "hello"};
    struct e2e_response r;
    e2e_request(limits_srv(), &rq, &r);
    assert_problem(limits_srv(), &r, 413, "body-too-large");
    e2e_response_free(&r);
    rq.chunked = true;
    e2e_request(limits_srv(), &rq, &r);
    assert_problem(limits_srv(), &r, 413, "body-too-large");
    e2e_response_free(&r);
}

Test(limits, idle_connection_is_closed)
{
    char *out;
    long ms;
    int rc = e2e_raw(limits_srv(), "api", "", 0, 8000, &out, &ms);
    free(out);
    cr_assert_eq(rc, 0, "the server kept an idle connection open for %ld ms", ms);
    cr_assert(ms >= 1000 && ms < 6000, "closed after %ld ms (idle_seconds is 2)", ms);
}

Test(limits, slow_request_is_408)
{
    static const char head[] = "GET /health/live HTTP/1.1\r\nHost: localhost\r\n";
    struct e2e_raw_part parts[] = {{head, sizeof head - 1, 0}, {"\r\n", 2, 1500}};
    char *out;
    long ms;
    e2e_raw_parts(limits_srv(), "api", parts, 2, 8000, &out, &ms);
    cr_assert(strncmp(out, "HTTP/1.1 408", 12) == 0, "answer: %.300s", out);
    cr_assert(strstr(out, "request-timeout"));
    free(out);
}

/* Connection limits need a server of their own: other tests' connections
 * would count. */
Test(limits, connections_total_and_per_address)
{
    struct e2e_server s;
    struct e2e_options opt = {.limits_json =
                                  "{\"max_connections\": 3, \"max_connections_per_ip\": 2, "
                                  "\"idle_seconds\": 30}"};
    cr_assert_eq(e2e_start(&opt, &s), 0);
    int a = e2e_tcp_connect(&s, "api", "127.0.0.1");
    int b = e2e_tcp_connect(&s, "api", "127.0.0.1");
    cr_assert(a >= 0 && b >= 0);
    usleep(300 * 1000);
    char *out;
    long ms;
    cr_assert_eq(e2e_raw(&s, "api", "", 0, 3000, &out, &ms), -1,
                 "a third connection from one address was served");
    free(out);
    int c = e2e_tcp_connect(&s, "api", "127.0.0.2");
    cr_assert(c >= 0);
    usleep(300 * 1000);
    int d = e2e_tcp_connect(&s, "api", "127.0.0.3");
    cr_assert(d >= 0);
    usleep(300 * 1000);
    /* d was accepted by the kernel and closed by the server at once. */
    char byte;
    cr_assert_eq(recv(d, &byte, 1, 0), 0, "a fourth connection in all was kept open");
    close(a);
    close(b);
    close(c);
    close(d);
    usleep(300 * 1000);
    struct e2e_response r;
    e2e_get(&s, "api", "/health/live", &r);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&s), 0);
}
