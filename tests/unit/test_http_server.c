/* Unit tests: the http server in-process, with routes of the test's own
 * (bodies, streams, handler errors, prefix and UTF-8 routes, client
 * certificates per route, keep-alive, draining on stop, reload), over
 * HTTPS with libcurl. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/internal.h"

struct fixture {
    char dir[128];
    char pki[160];
    struct dupla_config cfg;
    http_server_t *srv;
};

static struct fixture fx;

/* ---- handlers ---- */

static int h_echo(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    str_t b = http_req_body(req);
    return http_reply_data(req, 200, "application/octet-stream", b);
}

static int h_path(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    str_t p = http_req_path(req);
    return http_reply_json(req, 200, json_pack("{s:s%}", "path", p.ptr, p.len));
}

static int h_query(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    json_t *a = json_array();
    for (size_t i = 0; i < http_req_query_count(req); i++) {
        str_t n, v;
        http_req_query_at(req, i, &n, &v);
        json_array_append_new(a, json_pack("[s%, s%]", n.ptr, n.len, v.ptr, v.len));
    }
    return http_reply_json(req, 200, a);
}

struct counter {
    int i, n;
    int *freed;
};

static int stream_next(void *cls, buf_t *out)
{
    struct counter *c = cls;
    if (c->i >= c->n)
        return 0;
    buf_printf(out, "line %d\n", c->i++);
    return 1;
}

static int freed_streams;

static void stream_free(void *cls)
{
    struct counter *c = cls;
    (*c->freed)++;
    free(c);
}

static int h_stream(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    struct counter *c = calloc(1, sizeof *c);
    c->n = 1000;
    c->freed = &freed_streams;
    return http_reply_stream(req, 200, "text/plain", stream_next, c, stream_free);
}

static int h_fail(http_request_t *req, void *ctx, err_t *err)
{
    (void)req;
    (void)ctx;
    return err_param(err, DUPLA_EINVAL, "Year", "Year must be a calendar year");
}

static int h_internal(http_request_t *req, void *ctx, err_t *err)
{
    (void)req;
    (void)ctx;
    return err_internal(err, DUPLA_ESTORE, "secret internals");
}

static int h_silent(http_request_t *req, void *ctx, err_t *err)
{
    (void)req;
    (void)ctx;
    (void)err;
    return 0;
}

static int h_slow(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    usleep(600 * 1000);
    return http_reply_json(req, 200, json_pack("{s:b}", "slow", 1));
}

static int h_header(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    str_t v;
    bool has = http_req_header(req, "X-Thing", &v);
    http_reply_header(req, "X-Answer", "42");
    http_reply_header(req, "Cache-Control", "max-age=60");
    return http_reply_json(
        req, 200, has ? json_pack("{s:s%}", "thing", v.ptr, v.len) : json_pack("{s:n}", "thing"));
}

static int h_cert(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    const struct http_client_cert *c = http_req_client_cert(req);
    return http_reply_json(req, 200,
                           json_pack("{s:s, s:s}", "cvr", c->info.cvr, "peer", http_req_peer(req)));
}

/* A handler that waits without a thread (wait.c): /wait is woken by
 * another thread after WAIT_MS, /wait-now before the handler returns,
 * /wait-never only by the test (held), after the server stopped. */
#define WAIT_MS 1000

static int h_wait_then(http_request_t *req, void *ctx, bool abandoned, err_t *err)
{
    (void)err;
    const char *word = ctx; /* in the request's arena */
    if (abandoned) {
        http_reply_header(req, "Retry-After", "1");
        return http_reply_json(req, 503, json_pack("{s:b, s:s}", "abandoned", 1, "word", word));
    }
    return http_reply_json(req, 200, json_pack("{s:b, s:s}", "abandoned", 0, "word", word));
}

static void *waker(void *arg)
{
    usleep(WAIT_MS * 1000);
    http_wait_wake(arg);
    return NULL;
}

static http_wait_t *held;

static int h_wait(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    str_t path = http_req_path(req);
    char *word = arena_strdup(http_req_arena(req), path);
    http_wait_t *w = http_req_wait(req, h_wait_then, word);
    if (!w)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    if (str_eq(path, STR("/wait-now"))) {
        http_wait_wake(w);
    } else if (str_eq(path, STR("/wait-never"))) {
        held = w;
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, waker, w) != 0)
            return err_set(err, DUPLA_EIO, "no thread"); /* not handed out */
        pthread_detach(t);
    }
    return HTTP_SUSPENDED;
}

/* ---- set-up ---- */

static void start(const char *limits)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/dupla-http-XXXXXX");
    cr_assert(mkdtemp(fx.dir));
    snprintf(fx.pki, sizeof fx.pki, "%s/pki", fx.dir);
    err_t err;
    struct pki_init_options po = {.dir = fx.pki};
    cr_assert_eq(pki_init(&po, &err), 0, "%s", err.log);
    struct pki_system_options so = {.dir = fx.pki, .cvr = "10000009", .name = "sys"};
    cr_assert_eq(pki_issue_system(&so, &err), 0, "%s", err.log);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"environment\": \"test\", \"listeners\": ["
             "{\"name\": \"api\", \"port\": 0, \"cert\": \"pki/server.pem\", \"key\": "
             "\"pki/server.key\"},"
             "{\"name\": \"token\", \"port\": 0, \"cert\": \"pki/server.pem\", \"key\": "
             "\"pki/server.key\", \"client_cert\": \"request\", \"trust\": \"pki/ca.pem\"}],"
             "\"limits\": %s}",
             limits ? limits : "{}");
    cr_assert_eq(config_load_string(text, fx.dir, &fx.cfg, &err), 0, "%s", err.log);
    cr_assert_eq(http_server_new(&fx.cfg, &fx.srv, &err), 0, "%s", err.log);
    const struct http_route routes[] = {
        {.methods = HTTP_POST | HTTP_PUT, .path = "/echo", .handler = h_echo, .max_body = 16},
        {.methods = HTTP_POST, .path = "/big", .handler = h_echo, .max_body = 1 << 30},
        {.methods = HTTP_GET, .path = "/Årsopgørelse", .handler = h_path},
        {.methods = HTTP_GET, .path = "/files/", .handler = h_path, .flags = HTTP_ROUTE_PREFIX},
        {.methods = HTTP_GET, .path = "/query", .handler = h_query},
        {.methods = HTTP_GET, .path = "/stream", .handler = h_stream},
        {.methods = HTTP_GET, .path = "/fail", .handler = h_fail},
        {.methods = HTTP_GET, .path = "/internal", .handler = h_internal},
        {.methods = HTTP_GET, .path = "/silent", .handler = h_silent},
        {.methods = HTTP_GET, .path = "/slow", .handler = h_slow},
        {.methods = HTTP_GET, .path = "/wait", .handler = h_wait},
        {.methods = HTTP_GET, .path = "/wait-now", .handler = h_wait},
        {.methods = HTTP_GET, .path = "/wait-never", .handler = h_wait},
        {.methods = HTTP_GET, .path = "/header", .handler = h_header},
        {.methods = HTTP_GET,
         .path = "/cert",
         .handler = h_cert,
         .flags = HTTP_ROUTE_CLIENT_CERT,
         .name = "cert"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        cr_assert_eq(http_route_add(fx.srv, &routes[i], &err), 0, "%s", err.log);
    cr_assert_eq(http_builtin_register(fx.srv, &err), 0, "%s", err.log);
    cr_assert_eq(http_server_start(fx.srv, &err), 0, "%s", err.log);
}

static void start_default(void)
{
    start(NULL);
}

static void stop(void)
{
    http_server_stop(fx.srv, 1000);
    http_server_free(fx.srv);
    config_free(&fx.cfg);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- a small client ---- */

struct reply {
    long status;
    CURLcode cc;
    char body[65536];
    size_t len;
    char headers[8192];
    size_t hlen;
    json_t *json;
};

static size_t on_data(char *p, size_t s, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t k = s * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_hdr(char *p, size_t s, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t k = s * n;
    size_t room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, k < room ? k : room);
    r->hlen += k < room ? k : room;
    r->headers[r->hlen] = '\0';
    return k;
}

static CURL *handle(const char *listener, const char *path, struct reply *r)
{
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    char url[512], ca[256];
    snprintf(url, sizeof url, "https://localhost:%u%s", http_server_port(fx.srv, listener), path);
    snprintf(ca, sizeof ca, "%s/ca.pem", fx.pki);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* not the system's CA folder too */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    return h;
}

static void perform(CURL *h, struct reply *r)
{
    r->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->json = r->len ? json_loads(r->body, 0, NULL) : NULL;
}

static void get(const char *listener, const char *path, struct reply *r)
{
    CURL *h = handle(listener, path, r);
    perform(h, r);
    curl_easy_cleanup(h);
}

static void post(const char *path, const char *body, size_t len, bool chunked, struct reply *r)
{
    CURL *h = handle("api", path, r);
    struct curl_slist *hs = curl_slist_append(NULL, "Expect:");
    if (chunked)
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, chunked ? (curl_off_t)-1 : (curl_off_t)len);
    perform(h, r);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
}

static const char *jstr(const struct reply *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

/* ---- tests ---- */

TestSuite(server, .init = start_default, .fini = stop);

Test(server, body_within_the_route_limit)
{
    struct reply r;
    post("/echo", "0123456789abcdef", 16, false, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "0123456789abcdef");
    post("/echo", "chunked body", 12, true, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "chunked body");
}

Test(server, body_past_the_route_limit_is_413)
{
    struct reply r;
    post("/echo", "0123456789abcdefX", 17, false, &r);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    cr_assert_str_eq(jstr(&r, "type"), "https://dupla.invalid/problems/body-too-large");
    json_decref(r.json);
    /* Chunked: the size is known only as the body comes. */
    static char big[8193];
    memset(big, 'x', sizeof big - 1);
    post("/echo", big, sizeof big - 1, true, &r);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    json_decref(r.json);
}

Test(server, body_past_the_server_limit_is_413)
{
    /* /big takes 1 GiB, the server's limit (1 MiB by default) wins. */
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n);
    memset(big, 'y', n);
    struct reply r;
    post("/big", big, n, false, &r);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    json_decref(r.json);
    free(big);
}

Test(server, too_large_with_expect_is_answered_before_the_body)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n);
    memset(big, 'z', n);
    struct reply r;
    CURL *h = handle("api", "/echo", &r);
    struct curl_slist *hs = curl_slist_append(NULL, "Expect: 100-continue");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, big);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    perform(h, &r);
    curl_off_t sent = -1;
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    cr_assert_lt(sent, (curl_off_t)n, "the whole body was sent");
    json_decref(r.json);
    free(big);
}

Test(server, utf8_route_and_prefix_route)
{
    struct reply r;
    get("api", "/%C3%85rsopg%C3%B8relse", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(&r, "path"), "/Årsopgørelse");
    json_decref(r.json);
    get("api", "/files/a/b%20c", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(&r, "path"), "/files/a/b c");
    json_decref(r.json);
    get("api", "/files", &r);
    cr_assert_eq(r.status, 404);
    json_decref(r.json);
}

Test(server, query_parameters_in_order)
{
    struct reply r;
    get("api", "/query?SE=1&SE=2&%C3%85r=2024&q=a+b", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "[[\"SE\",\"1\"],[\"SE\",\"2\"],[\"År\",\"2024\"],[\"q\",\"a b\"]]");
    json_decref(r.json);
}

Test(server, streaming_is_chunked_and_freed)
{
    struct reply r;
    get("api", "/stream", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.headers, "Transfer-Encoding: chunked"), "%s", r.headers);
    cr_assert(strncmp(r.body, "line 0\nline 1\n", 14) == 0);
    cr_assert(strstr(r.body, "line 999\n"));
    cr_assert_eq(freed_streams, 1);
}

Test(server, handler_errors_become_problems)
{
    struct reply r;
    get("api", "/fail", &r);
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(jstr(&r, "parameter"), "Year");
    cr_assert_str_eq(jstr(&r, "detail"), "Year must be a calendar year");
    cr_assert(strstr(r.headers, "Content-Type: application/problem+json"));
    json_decref(r.json);
    get("api", "/internal", &r);
    cr_assert_eq(r.status, 500);
    cr_assert_null(strstr(r.body, "secret"));
    json_decref(r.json);
    get("api", "/silent", &r);
    cr_assert_eq(r.status, 500);
    json_decref(r.json);
}

Test(server, headers_in_and_out)
{
    CURL *h;
    struct reply r;
    h = handle("api", "/header", &r);
    struct curl_slist *hs = curl_slist_append(NULL, "X-Thing: value 1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    perform(h, &r);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(&r, "thing"), "value 1");
    cr_assert(strstr(r.headers, "X-Answer: 42"));
    cr_assert(strstr(r.headers, "Cache-Control: max-age=60"));
    cr_assert_null(strstr(r.headers, "no-store"));
    cr_assert(strstr(r.headers, "X-Request-ID: "));
    json_decref(r.json);
}

Test(server, route_needing_a_client_certificate)
{
    struct reply r;
    get("api", "/cert", &r);
    cr_assert_eq(r.status, 401);
    json_decref(r.json);
    get("token", "/cert", &r);
    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(jstr(&r, "type"),
                     "https://dupla.invalid/problems/client-certificate-required");
    json_decref(r.json);
    CURL *h = handle("token", "/cert", &r);
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/sys.pem", fx.pki);
    snprintf(key, sizeof key, "%s/sys.key", fx.pki);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    perform(h, &r);
    curl_easy_cleanup(h);
    cr_assert_eq(r.status, 200, "status %ld: %s", r.status, r.body);
    cr_assert_str_eq(jstr(&r, "cvr"), "10000009");
    cr_assert_str_eq(jstr(&r, "peer"), "127.0.0.1");
    json_decref(r.json);
}

/* The server's end of a TCP connection from local port peer (in this
 * process: the server runs in-process), or -1. */
static int server_end(unsigned listen_port, unsigned peer)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        struct stat st;
        struct sockaddr_in a, b;
        socklen_t al = sizeof a, bl = sizeof b;
        if (de->d_name[0] == '.' || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0 || a.sin_family != AF_INET ||
            ntohs(a.sin_port) != listen_port || getpeername(fd, (struct sockaddr *)&b, &bl) != 0 ||
            ntohs(b.sin_port) != peer)
            continue;
        found = fd;
    }
    closedir(d);
    return found;
}

/* Every connection has TCP_NODELAY from its start: the server's TLS
 * handshake flight goes a record at a time, and with Nagle's algorithm a
 * client that delays its ACKs (HAProxy's health checks) held the second
 * record 40 ms while libmicrohttpd retried the handshake in a loop. */
Test(server, connections_send_without_nagle_from_their_start)
{
    unsigned port = http_server_port(fx.srv, "api");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(c >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof to), 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    cr_assert_eq(getsockname(c, (struct sockaddr *)&me, &ml), 0);
    /* accepted, and set up, by a server thread: wait for it (no bytes
     * sent: the handshake has not begun) */
    int on = -1;
    for (int i = 0; i < 400 && on != 1; i++) {
        int fd = server_end(port, ntohs(me.sin_port));
        socklen_t ol = sizeof on;
        if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) != 0)
            on = -1;
        if (on != 1)
            usleep(5 * 1000);
    }
    close(c);
    cr_assert_eq(on, 1, "the server's end of the connection has Nagle's algorithm on (%d)", on);
}

Test(server, keep_alive_reuses_the_connection)
{
    struct reply r;
    CURL *h = handle("api", "/health/live", &r);
    perform(h, &r);
    cr_assert_eq(r.status, 200);
    json_decref(r.json);
    /* Errors keep the connection too. */
    curl_easy_setopt(h, CURLOPT_URL, "https://localhost");
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/nope", http_server_port(fx.srv, "api"));
    curl_easy_setopt(h, CURLOPT_URL, url);
    memset(&r, 0, sizeof r);
    perform(h, &r);
    cr_assert_eq(r.status, 404);
    json_decref(r.json);
    snprintf(url, sizeof url, "https://localhost:%u/health/live", http_server_port(fx.srv, "api"));
    curl_easy_setopt(h, CURLOPT_URL, url);
    memset(&r, 0, sizeof r);
    perform(h, &r);
    long connects = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    cr_assert_eq(connects, 0, "a new connection was opened");
    json_decref(r.json);
    curl_easy_cleanup(h);
}

Test(server, refused_bodies_keep_the_connection)
{
    struct reply r;
    CURL *h = handle("api", "/echo", &r);
    struct curl_slist *hs = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    char url[128];
    const char *paths[] = {"/echo", "/nope", "/health/live", "/echo"};
    const char *bodies[] = {"0123456789abcdefXYZ", "body", "body", "fits"};
    long want[] = {413, 404, 405, 200};
    for (size_t i = 0; i < 4; i++) {
        snprintf(url, sizeof url, "https://localhost:%u%s", http_server_port(fx.srv, "api"),
                 paths[i]);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i]);
        memset(&r, 0, sizeof r);
        perform(h, &r);
        cr_assert_eq(r.status, want[i], "%s: status %ld", paths[i], r.status);
        json_decref(r.json);
        long connects = -1;
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        if (i > 0)
            cr_assert_eq(connects, 0, "%s: a new connection was needed", paths[i]);
    }
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
}

struct slow_call {
    struct reply r;
};

static void *slow_thread(void *arg)
{
    struct slow_call *c = arg;
    get("api", "/slow", &c->r);
    return NULL;
}

static void *stop_thread(void *arg)
{
    http_server_stop(arg, 5000);
    return NULL;
}

Test(server, stop_drains_requests_in_flight)
{
    struct slow_call call;
    pthread_t t;
    pthread_create(&t, NULL, slow_thread, &call);
    /* Wait until the request is being answered (a sanitised build is slow
     * to shake hands). */
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&fx.srv->drain_lock);
        unsigned n = fx.srv->in_flight;
        pthread_mutex_unlock(&fx.srv->drain_lock);
        if (n > 0)
            break;
        usleep(10 * 1000);
    }
    unsigned port = http_server_port(fx.srv, "api");
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/health/live", port);
    pthread_t stopper;
    pthread_create(&stopper, NULL, stop_thread, fx.srv);
    while (!http_server_stopping(fx.srv))
        usleep(1000);
    /* While the request in flight drains, a new connection is not served. */
    struct reply r;
    CURL *h = handle("api", "/health/live", &r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    perform(h, &r);
    curl_easy_cleanup(h);
    CURLcode during = r.cc;
    long during_status = r.status;
    pthread_join(stopper, NULL);
    pthread_join(t, NULL);
    cr_assert_neq(during, CURLE_OK, "a connection made during the drain was served (%ld)",
                  during_status);
    cr_assert_eq(call.r.status, 200, "the request in flight was cut (curl %d)", call.r.cc);
    json_decref(call.r.json);
    /* No longer listening. */
    h = handle("api", "/health/live", &r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    perform(h, &r);
    curl_easy_cleanup(h);
    cr_assert_neq(r.cc, CURLE_OK);
}

struct wait_call {
    const char *path;
    struct reply r;
};

static void *wait_thread(void *arg)
{
    struct wait_call *c = arg;
    get("api", c->path, &c->r);
    return NULL;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Suspended requests hold no thread: many more of them than the event
 * loop has threads wait at once, and each is answered after its wake. */
Test(server, suspended_requests_hold_no_thread)
{
    enum { CALLS = 16 };
    cr_assert(fx.srv->threads < CALLS / 2);
    pthread_t t[CALLS];
    struct wait_call calls[CALLS];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < CALLS; i++) {
        calls[i].path = "/wait";
        pthread_create(&t[i], NULL, wait_thread, &calls[i]);
    }
    for (int i = 0; i < CALLS; i++)
        pthread_join(t[i], NULL);
    long ms = ms_since(&t0);
    for (int i = 0; i < CALLS; i++) {
        cr_assert_eq(calls[i].r.status, 200, "call %d: curl %d", i, calls[i].r.cc);
        cr_assert_str_eq(jstr(&calls[i].r, "word"), "/wait");
        json_decref(calls[i].r.json);
    }
    /* one after another on the pool's threads would take CALLS / threads
     * waits */
    cr_assert(ms < (long)WAIT_MS * CALLS / (long)fx.srv->threads * 3 / 4,
              "%d calls waiting %d ms each took %ld ms on %u threads", CALLS, WAIT_MS, ms,
              fx.srv->threads);
    /* and the connections are usable after the resume */
    struct reply r;
    get("api", "/wait-now", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(&r, "word"), "/wait-now");
    json_decref(r.json);
}

/* The stop resumes a request whose wake has not come (libmicrohttpd must
 * not stop with a suspended connection): it answers 503; the late wake then
 * frees what the waker held. */
Test(server, stop_answers_waiting_requests_503)
{
    held = NULL;
    struct wait_call call = {.path = "/wait-never"};
    pthread_t t;
    pthread_create(&t, NULL, wait_thread, &call);
    for (int i = 0; i < 2000 && !http_waits_pending(fx.srv); i++)
        usleep(5 * 1000);
    cr_assert(http_waits_pending(fx.srv), "the request never waited");
    http_server_stop(fx.srv, 200);
    pthread_join(t, NULL);
    cr_assert_eq(call.r.status, 503, "curl %d", call.r.cc);
    cr_assert(strstr(call.r.headers, "Retry-After: 1"), "%s", call.r.headers);
    cr_assert_str_eq(jstr(&call.r, "word"), "/wait-never");
    json_decref(call.r.json);
    cr_assert(held);
    http_wait_wake(held); /* the request has ended: the wait frees its arena */
}

Test(server, parallel_clients)
{
    enum { THREADS = 6 };
    pthread_t t[THREADS];
    struct slow_call calls[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, slow_thread, &calls[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(calls[i].r.status, 200);
        json_decref(calls[i].r.json);
    }
    struct reply r;
    get("api", "/metrics", &r);
    cr_assert(strstr(r.body, "dupla_http_requests_total{route=\"/slow\",status=\"200\"} 6\n"), "%s",
              r.body);
}

Test(server, reload_keeps_old_credentials_on_error)
{
    err_t err;
    cr_assert_eq(http_server_reload(fx.srv, &err), 0, "%s", err.log);
    char key[256];
    snprintf(key, sizeof key, "%s/server.key", fx.pki);
    FILE *f = fopen(key, "w");
    fputs("garbage\n", f);
    fclose(f);
    cr_assert_neq(http_server_reload(fx.srv, &err), 0);
    cr_assert(strstr(err.log, "server.key") || strstr(err.log, "server.pem"), "%s", err.log);
    struct reply r;
    get("api", "/health/live", &r);
    cr_assert_eq(r.status, 200);
    json_decref(r.json);
}

static int not_ready(void *ctx, err_t *err)
{
    (void)ctx;
    return err_internal(err, DUPLA_ESTORE, "database is locked at /secret/path");
}

Test(server, readiness_follows_the_check)
{
    http_server_set_ready_check(fx.srv, not_ready, NULL);
    struct reply r;
    get("api", "/health/ready", &r);
    cr_assert_eq(r.status, 503);
    cr_assert(strstr(r.headers, "Retry-After: "));
    cr_assert_str_eq(jstr(&r, "type"), "https://dupla.invalid/problems/not-ready");
    cr_assert_null(strstr(r.body, "secret"));
    json_decref(r.json);
}

Test(server, routes_cannot_be_added_after_start)
{
    struct http_route late = {.methods = HTTP_GET, .path = "/late", .handler = h_silent};
    err_t err;
    cr_assert_eq(http_route_add(fx.srv, &late, &err), DUPLA_ECONFLICT);
}

Test(server_setup, refuses_unknown_listener_and_bad_files)
{
    signal(SIGPIPE, SIG_IGN);
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\": \"test\", \"listeners\": [{\"name\": "
                                    "\"api\", \"port\": 0, \"cert\": \"/nonexistent.pem\", "
                                    "\"key\": \"/nonexistent.key\"}]}",
                                    "/tmp", &cfg, &err),
                 0, "%s", err.log);
    http_server_t *srv;
    cr_assert_eq(http_server_new(&cfg, &srv, &err), 0);
    struct http_route r = {
        .methods = HTTP_GET, .path = "/x", .handler = h_silent, .listener = "nope"};
    cr_assert_eq(http_route_add(srv, &r, &err), DUPLA_EINVAL);
    cr_assert_neq(http_server_start(srv, &err), 0);
    cr_assert(strstr(err.log, "/nonexistent.pem"), "%s", err.log);
    http_server_free(srv);
    config_free(&cfg);
}

/* http.threads: the event loop's threads per listener; a wrong value or an
 * unknown key of the section is refused, naming it. */
Test(server_setup, threads_are_checked)
{
    static const char *const bad[][2] = {
        {"{\"threads\": 257}", "http.threads"},
        {"{\"threads\": -1}", "http.threads"},
        {"{\"thread\": 2}", "thread"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"environment\": \"test\", \"listeners\": [{\"name\": \"api\", \"port\": 0, "
                 "\"cert\": \"/x.pem\", \"key\": \"/x.key\"}], \"http\": %s}",
                 bad[i][0]);
        struct dupla_config cfg;
        err_t err;
        cr_assert_eq(config_load_string(text, "/tmp", &cfg, &err), 0, "%s", err.log);
        http_server_t *srv = NULL;
        cr_assert_eq(http_server_new(&cfg, &srv, &err), DUPLA_EINVAL, "%s", bad[i][0]);
        cr_assert(strstr(err.log, bad[i][1]), "%s: %s", bad[i][0], err.log);
        config_free(&cfg);
    }
}
