/*
 * End-to-end: what the server does with requests that are malformed on the
 * wire, sent as raw bytes over TLS (libcurl would not send them): request
 * smuggling shapes (RFC 9112 6.1, 6.3), repeated protocol headers, white
 * space before a header's colon, a missing Host, and requests far past the
 * limits. Each must get exactly one answer, an RFC 9457 problem+json with
 * X-Request-ID, and the smuggling shapes must close the connection, so that
 * nothing after them is read as a second request. The same on the token
 * listener, where a smuggled request would run with the connection's client
 * certificate.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

E2E_SHARED_SERVERS({"main", {0}},
                   {"dedicated",
                    {.config_json = "{\"token\": {\"listener\": \"token\"}}",
                     .listeners_json = "[{\"name\": \"public\", \"address\": \"0.0.0.0\"}, "
                                       "{\"name\": \"nohsts\", \"hsts_max_age\": 0}, "
                                       "{\"name\": \"tls13\", \"tls_priorities\": "
                                       "\"NORMAL:-VERS-ALL:+VERS-TLS1.3\"}]"}});

static const struct e2e_server *srv(void)
{
    return e2e_shared("main");
}

/* Counts the status lines in what came back. */
static int count_status_lines(const char *out)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, "HTTP/1.1 ")) != NULL; p += 9)
        n++;
    return n;
}

/* The value of header name in a raw answer's head (into out), or NULL. */
static const char *raw_header(const char *answer, const char *name, char *out, size_t cap)
{
    const char *end = strstr(answer, "\r\n\r\n");
    size_t nlen = strlen(name);
    for (const char *p = strstr(answer, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Sends raw on a listener and checks that exactly one answer came, with
 * status and a problem+json body of slug, and (when closes) that the
 * server closed the connection after it at once. Returns the body's JSON
 * (the caller frees it). */
static json_t *one_problem(const char *listener, const char *raw, size_t len, int status,
                           const char *slug, bool closes)
{
    char *out;
    long ms;
    int rc = e2e_raw(srv(), listener, raw, len, 5000, &out, &ms);
    cr_assert_neq(rc, -1, "no TLS session");
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
    cr_assert(strncmp(out, want, strlen(want)) == 0, "answer: %.400s", out);
    cr_assert_eq(count_status_lines(out), 1, "more than one answer: %.1200s", out);
    if (closes)
        cr_assert_eq(rc, 0, "the connection stayed open after the refusal (%ld ms)", ms);
    char v[200];
    cr_assert(raw_header(out, "Content-Type", v, sizeof v), "no Content-Type: %.400s", out);
    cr_assert_str_eq(v, "application/problem+json");
    cr_assert(raw_header(out, "X-Request-ID", v, sizeof v), "no X-Request-ID: %.400s", out);
    const char *body = strstr(out, "\r\n\r\n") + 4;
    json_error_t jerr;
    json_t *j = json_loads(body, JSON_DISABLE_EOF_CHECK, &jerr);
    cr_assert(j, "body is not JSON: %.400s", body);
    char type[160];
    snprintf(type, sizeof type, "https://dupla.invalid/problems/%s", slug);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), type);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), status);
    cr_assert_str_eq(json_string_value(json_object_get(j, "instance")), v);
    free(out);
    return j;
}

#define SMUGGLED "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n"

static void refused_on_both(const char *raw, const char *slug, const char *param)
{
    const char *listeners[] = {"api", "token"};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = one_problem(listeners[i], raw, strlen(raw), 400, slug, true);
        if (param)
            cr_assert_str_eq(json_string_value(json_object_get(j, "parameter")), param);
        json_decref(j);
    }
}

Test(smuggling, content_length_and_transfer_encoding)
{
    refused_on_both("POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
                    "request-framing", "Transfer-Encoding");
}

Test(smuggling, two_content_lengths)
{
    refused_on_both("POST /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                    "Content-Length: 48\r\n\r\n" SMUGGLED,
                    "request-framing", "Content-Length");
}

Test(smuggling, unknown_transfer_encoding)
{
    refused_on_both("POST /health/live HTTP/1.1\r\nHost: localhost\r\n"
                    "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
                    "request-framing", "Transfer-Encoding");
    refused_on_both("POST /health/live HTTP/1.1\r\nHost: localhost\r\n"
                    "Transfer-Encoding: identity\r\n\r\n" SMUGGLED,
                    "request-framing", "Transfer-Encoding");
}

Test(smuggling, repeated_protocol_headers)
{
    const char *names[] = {"Host: localhost",
                           "Authorization: Bearer x",
                           "UFST-Adgangsgrundlag: urn:ufst:adgangsgrundlag:aftale:x",
                           "X-Request-ID: a",
                           "X-Transaktions-ID: b",
                           "Transfer-Encoding: chunked"};
    const char *params[] = {"Host",         "Authorization",     "UFST-Adgangsgrundlag",
                            "X-Request-ID", "X-Transaktions-ID", "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char raw[600];
        snprintf(raw, sizeof raw, "GET /health/live HTTP/1.1\r\n%s%s\r\n%s\r\n\r\n",
                 i == 0 ? "" : "Host: localhost\r\n", names[i], names[i]);
        refused_on_both(raw, i == 5 ? "request-framing" : "duplicate-header", params[i]);
    }
}

Test(smuggling, white_space_before_the_colon)
{
    refused_on_both("GET /health/live HTTP/1.1\r\nHost: localhost\r\nContent-Length : 48\r\n\r\n",
                    "malformed-header", NULL);
    refused_on_both("GET /health/live HTTP/1.1\r\nHost: localhost\r\nAuthorization\t: x\r\n\r\n",
                    "malformed-header", NULL);
}

Test(smuggling, a_clean_request_keeps_its_connection)
{
    /* Two requests on one connection both answered: the refusals above
     * are about the shapes, not about pipelining. */
    const char *raw = SMUGGLED SMUGGLED;
    char *out;
    long ms;
    int rc = e2e_raw(srv(), "api", raw, strlen(raw), 1500, &out, &ms);
    cr_assert_eq(rc, 1, "the server closed a healthy connection");
    cr_assert_eq(count_status_lines(out), 2, "answers: %.800s", out);
    free(out);
}

Test(wire, missing_host_is_one_problem)
{
    const char *raw = "GET /health/live HTTP/1.1\r\nAccept: */*\r\n\r\n";
    json_t *j = one_problem("api", raw, strlen(raw), 400, "invalid-request", true);
    cr_assert_str_eq(json_string_value(json_object_get(j, "parameter")), "Host");
    json_decref(j);
}

/* Well past the limits but within the connection's memory pool (at least
 * 128 KiB), the answer is still ours; past the pool it is libmicrohttpd's
 * (test_http.c, limits). */
Test(wire, huge_request_line_is_a_414_problem)
{
    size_t n = 100 * 1024; /* 25 times the default max_url_bytes */
    char *req = malloc(n + 64);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', n);
    size_t len = 5 + n;
    len += (size_t)snprintf(req + len, 64, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    json_decref(one_problem("api", req, len, 414, "uri-too-long", true));
    free(req);
}

Test(wire, a_thousand_headers_is_a_431_problem)
{
    size_t n = 1000; /* ten times the most header lines */
    char *req = malloc(n * 24 + 200);
    int off = snprintf(req, 200, "GET /health/live HTTP/1.1\r\nHost: localhost\r\n");
    for (size_t i = 0; i < n; i++)
        off += snprintf(req + off, 24, "X-%zu: a\r\n", i);
    off += snprintf(req + off, 200, "\r\n");
    json_decref(one_problem("api", req, (size_t)off, 431, "header-too-large", true));
    free(req);
}

/* ---- the request log ---- */

Test(request_log, personal_numbers_in_paths_are_masked)
{
    const struct e2e_server *s = srv();
    const char *paths[] = {"/Aarsopgoerelse/0101601234", "/x/010160-1234/y",
                           "/static/dkfds/0101601234",   "/%zz/0101601234",
                           "/a/%301%3001601234",         "/v/2024/12345"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct e2e_response r;
        e2e_get(s, "api", paths[i], &r);
        cr_assert(r.status == 404 || r.status == 400, "%s: %ld", paths[i], r.status);
        e2e_response_free(&r);
    }
    cr_assert(e2e_log_wait(s, "\"path\":\"/v/2024/12345\"", 5000), "short numbers stay");
    cr_assert(e2e_log_contains(s, "\"path\":\"/Aarsopgoerelse/XXXXXXXXXX\""));
    cr_assert(e2e_log_contains(s, "\"path\":\"/x/XXXXXX-XXXX/y\""));
    cr_assert(e2e_log_contains(s, "\"path\":\"/%zz/XXXXXXXXXX\""));
    const char *never[] = {"0101601234", "010160-1234", "%301%3001601234", "01601234"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        cr_assert_not(e2e_log_contains(s, never[i]), "the log holds %s", never[i]);
}

/* ---- routes belong to their listeners ---- */

static void assert_404_problem(const struct e2e_server *s, const char *listener, const char *path,
                               const char *accept)
{
    char h[100];
    snprintf(h, sizeof h, "Accept: %s", accept ? accept : "*/*");
    const char *hs[] = {h, NULL};
    struct e2e_request rq = {.listener = listener, .path = path, .headers = hs};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    e2e_assert_status(s, &r, 404);
    const char *ct = e2e_header(&r, "Content-Type");
    cr_assert(ct && strcmp(ct, "application/problem+json") == 0, "%s on %s: %s", path, listener,
              ct);
    e2e_response_free(&r);
}

static long status_of(const struct e2e_server *s, const char *listener, const char *path)
{
    struct e2e_response r;
    e2e_get(s, listener, path, &r);
    long st = r.status;
    e2e_response_free(&r);
    return st;
}

Test(listeners, the_token_listener_serves_only_its_routes)
{
    const struct e2e_server *s = e2e_shared("dedicated");
    const char *elsewhere[] = {"/openapi.json",   "/servicekatalog", "/servicekatalog.json",
                               "/Aarsopgoerelse", "/driftsstatus",   "/login",
                               "/api/session"};
    for (size_t i = 0; i < sizeof elsewhere / sizeof elsewhere[0]; i++) {
        assert_404_problem(s, "token", elsewhere[i], NULL);
        assert_404_problem(s, "token", elsewhere[i], "text/html");
    }
    /* ... while the api listener serves them */
    cr_assert_eq(status_of(s, "api", "/openapi.json"), 200);
    cr_assert_eq(status_of(s, "api", "/servicekatalog.json"), 200);
    /* The token listener's own: health, the JWKS, /whoami, the token. */
    cr_assert_eq(status_of(s, "token", "/health/live"), 200);
    cr_assert_eq(status_of(s, "token", "/health/ready"), 200);
    cr_assert_eq(status_of(s, "token", "/.well-known/jwks.json"), 200);
    cr_assert_eq(status_of(s, "token", "/whoami"), 401);
    struct e2e_request rq = {
        .method = "POST", .listener = "token", .path = "/token", .body = "grant_type=password"};
    struct e2e_response r;
    e2e_request(s, &rq, &r);
    cr_assert_neq(r.status, 404, "no token endpoint on the token listener");
    e2e_response_free(&r);
    /* ... and the token endpoint is not on the api listener */
    rq.listener = "api";
    e2e_request(s, &rq, &r);
    cr_assert_eq(r.status, 404);
    e2e_response_free(&r);
}

/* ---- security headers ---- */

Test(headers, hsts_on_every_answer_as_configured)
{
    const struct e2e_server *s = e2e_shared("dedicated");
    const char *paths[] = {"/health/live", "/no/such/thing", "/openapi.json"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct e2e_response r;
        e2e_get(s, "api", paths[i], &r);
        const char *h = e2e_header(&r, "Strict-Transport-Security");
        cr_assert(h && strcmp(h, "max-age=31536000") == 0, "%s: HSTS %s", paths[i], h);
        e2e_response_free(&r);
        e2e_get(s, "nohsts", paths[i], &r);
        cr_assert_null(e2e_header(&r, "Strict-Transport-Security"));
        e2e_response_free(&r);
    }
    /* a smuggling refusal too */
    const char *raw = "GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    char *out;
    long ms;
    e2e_raw(s, "api", raw, strlen(raw), 3000, &out, &ms);
    char v[64];
    cr_assert(raw_header(out, "Strict-Transport-Security", v, sizeof v), "%.300s", out);
    free(out);
}

Test(headers, html_documents_cannot_be_framed)
{
    const struct e2e_server *s = e2e_shared("dedicated");
    const char *paths[] = {"/servicekatalog", "/driftsstatus"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct e2e_response r;
        e2e_get(s, "api", paths[i], &r);
        e2e_assert_status(s, &r, 200);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "text/html"), "%s", paths[i]);
        const char *csp = e2e_header(&r, "Content-Security-Policy");
        cr_assert(csp && strstr(csp, "frame-ancestors 'none'"), "%s: CSP %s", paths[i], csp);
        cr_assert(strstr(csp, "default-src 'none'"), "%s: CSP %s", paths[i], csp);
        cr_assert_str_eq(e2e_header(&r, "X-Frame-Options"), "DENY");
        cr_assert_str_eq(e2e_header(&r, "Referrer-Policy"), "no-referrer");
        e2e_response_free(&r);
    }
}

Test(headers, metrics_only_on_loopback_listeners)
{
    const struct e2e_server *s = e2e_shared("dedicated");
    cr_assert_eq(status_of(s, "api", "/metrics"), 200);
    assert_404_problem(s, "public", "/metrics", NULL);
    /* the public listener serves the rest */
    cr_assert_eq(status_of(s, "public", "/openapi.json"), 200);
}

/* ---- cross-site calls of the JSON API ---- */

static long post_session(const char *const *headers, const char *body, struct e2e_response *r)
{
    struct e2e_request rq = {
        .method = "POST", .path = "/api/session", .headers = headers, .body = body};
    e2e_request(srv(), &rq, r);
    return r->status;
}

static void assert_slug(const struct e2e_response *r, const char *slug, const char *param)
{
    char type[160];
    snprintf(type, sizeof type, "https://dupla.invalid/problems/%s", slug);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "type")), type, "%s", r->body);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "parameter")), param);
}

Test(csrf, a_cross_site_login_is_refused)
{
    const char *creds = "{\"username\": \"nobody\", \"password\": \"wrong-password-1\"}";
    struct e2e_response r;
    /* a cross-site form: text/plain, urlencoded, multipart */
    const char *types[] = {"Content-Type: text/plain",
                           "Content-Type: application/x-www-form-urlencoded",
                           "Content-Type: multipart/form-data; boundary=x"};
    for (size_t i = 0; i < 3; i++) {
        const char *h[] = {types[i], NULL};
        cr_assert_eq(post_session(h, creds, &r), 415, "%s: %s", types[i], r.body);
        assert_slug(&r, "unsupported-media-type", "Content-Type");
        e2e_response_free(&r);
    }
    const char *none[] = {NULL};
    cr_assert_eq(post_session(none, creds, &r), 415, "%s", r.body);
    e2e_response_free(&r);
    /* JSON from another origin */
    const char *evil[] = {"Content-Type: application/json", "Origin: https://evil.example", NULL};
    cr_assert_eq(post_session(evil, creds, &r), 403, "%s", r.body);
    assert_slug(&r, "csrf", "Origin");
    e2e_response_free(&r);
    const char *null_origin[] = {"Content-Type: application/json", "Origin: null", NULL};
    cr_assert_eq(post_session(null_origin, creds, &r), 403, "%s", r.body);
    e2e_response_free(&r);
    const char *site[] = {"Content-Type: application/json", "Sec-Fetch-Site: cross-site", NULL};
    cr_assert_eq(post_session(site, creds, &r), 403, "%s", r.body);
    assert_slug(&r, "csrf", "Sec-Fetch-Site");
    e2e_response_free(&r);
    /* the same site, and a client that is no browser, reach the login */
    char origin[80];
    snprintf(origin, sizeof origin, "Origin: https://localhost:%u", e2e_port(srv(), "api"));
    const char *same[] = {"Content-Type: application/json; charset=utf-8", origin,
                          "Sec-Fetch-Site: same-origin", NULL};
    long st = post_session(same, creds, &r);
    cr_assert(st != 403 && st != 415, "same-origin login refused: %s", r.body);
    e2e_response_free(&r);
    const char *plain[] = {"Content-Type: application/json", NULL};
    st = post_session(plain, creds, &r);
    cr_assert(st != 403 && st != 415, "a non-browser login refused: %s", r.body);
    e2e_response_free(&r);
}

/* ---- TLS priorities per listener ---- */

/* Whether a TLS handshake of version ("-tls1_2", "-tls1_3") with the
 * listener succeeds (openssl s_client's exit status). */
static bool handshake(const struct e2e_server *s, const char *listener, const char *version)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%u %s -brief </dev/null >/dev/null 2>&1",
             e2e_port(s, listener), version);
    return system(cmd) == 0;
}

Test(tls, a_listener_offers_what_its_tls_priorities_name)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("openssl is not installed");
    const struct e2e_server *s = e2e_shared("dedicated");
    cr_assert(handshake(s, "public", "-tls1_2"), "the default offers TLS 1.2");
    cr_assert(handshake(s, "public", "-tls1_3"), "the default offers TLS 1.3");
    cr_assert(handshake(s, "tls13", "-tls1_3"));
    cr_assert_not(handshake(s, "tls13", "-tls1_2"), "tls_priorities took TLS 1.2 away");
}

Test(tls, a_priority_string_gnutls_refuses_stops_serve_naming_the_key)
{
    struct e2e_options opt = {.listeners_json =
                                  "[{\"name\": \"odd\", \"tls_priorities\": \"NORMAL:+NOPE\"}]"};
    struct e2e_server s;
    cr_assert_neq(e2e_start(&opt, &s), 0, "serve must refuse the configuration");
    cr_assert(e2e_log_contains(&s, "listeners[2].tls_priorities"), "the error names the key");
    cr_assert(e2e_log_contains(&s, "+NOPE"), "and where GnuTLS stopped reading");
    e2e_remove_dir(&s);
}
