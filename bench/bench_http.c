/*
 * bench_http.c (bench-http): what the server's request path costs beside a bare
 * libmicrohttpd HTTPS daemon answering a constant, in the same process,
 * same TLS settings, same run.
 *
 * Both answer GET /bench with a small JSON body, thread per connection.
 * The dupla server does everything it does for real requests (request id,
 * limits, routing, arena, problem-ready reply, metrics, one JSON log line,
 * written to /dev/null). Clients are libcurl handles in threads, either
 * keeping their connection (keep-alive) or making a new TLS connection per
 * request (handshake).
 *
 * usage: bench-http [--seconds S] [--threads N] [--smoke]
 * Not run by make check.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/http.h"

#define BENCH_BODY "{\"ok\":true}"

static char dir[] = "/tmp/dupla-bench-http-XXXXXX";
static char ca_file[128];

static void die(const char *what, const err_t *err)
{
    fprintf(stderr, "bench-http: %s: %s\n", what, err ? err->log : "");
    exit(1);
}

/* ---- the two servers ---- */

static int bench_handler(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    return http_reply_data(req, 200, "application/json", STR(BENCH_BODY));
}

static enum MHD_Result bare_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    if (!*con_cls) {
        *con_cls = c;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof BENCH_BODY - 1, (void *)BENCH_BODY, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result q = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return q;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char bufs[2][65536];
    static int k;
    char *b = bufs[k++ % 2];
    size_t n = fread(b, 1, sizeof bufs[0] - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static struct MHD_Daemon *bare_start(unsigned *port)
{
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/pki/server.pem", dir);
    snprintf(key, sizeof key, "%s/pki/server.key", dir);
    char *cert_pem = read_file(cert), *key_pem = read_file(key);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD, 0, NULL, NULL,
        bare_handler, NULL, MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_HTTPS_PRIORITIES,
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+"
        "CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA",
        MHD_OPTION_END);
    if (!d)
        die("bare daemon", NULL);
    *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

/* ---- clients ---- */

struct client {
    unsigned port;
    bool keep_alive;
    double seconds;
    long done;
    long failed;
};

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/bench", c->port);
    CURL *h = NULL;
    int64_t end = clock_mono_ns() + (int64_t)(c->seconds * 1e9);
    while (clock_mono_ns() < end) {
        if (!h) {
            h = curl_easy_init();
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
            curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        }
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            c->done++;
        else
            c->failed++;
        if (!c->keep_alive) {
            curl_easy_cleanup(h);
            h = NULL;
        }
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static double measure(unsigned port, int threads, bool keep_alive, double seconds)
{
    pthread_t t[64];
    struct client c[64];
    for (int i = 0; i < threads; i++) {
        c[i] = (struct client){.port = port, .keep_alive = keep_alive, .seconds = seconds};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    long done = 0, failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        done += c[i].done;
        failed += c[i].failed;
    }
    if (failed)
        fprintf(stderr, "bench-http: %ld requests failed\n", failed);
    return (double)done / seconds;
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--smoke") == 0)
            seconds = 0.3;
        else {
            fprintf(stderr, "usage: bench-http [--seconds S] [--threads N] [--smoke]\n");
            return 2;
        }
    }
    if (seconds <= 0 || threads < 1 || threads > 64) {
        fprintf(stderr, "bench-http: --seconds > 0 and --threads 1-64\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The log lines are written (their cost counts), to nowhere. */
    log_set_fd(open("/dev/null", O_WRONLY));
    if (!mkdtemp(dir))
        die("mkdtemp", NULL);
    err_t err;
    char pki[96];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    snprintf(ca_file, sizeof ca_file, "%s/ca.pem", pki);
    struct pki_init_options po = {.dir = pki};
    if (pki_init(&po, &err))
        die("pki", &err);
    struct dupla_config cfg;
    if (config_load_string("{\"environment\": \"test\", \"listeners\": [{\"name\": \"api\", "
                           "\"port\": 0, \"cert\": \"pki/server.pem\", \"key\": "
                           "\"pki/server.key\"}]}",
                           dir, &cfg, &err))
        die("config", &err);
    http_server_t *srv;
    struct http_route r = {.methods = HTTP_GET, .path = "/bench", .handler = bench_handler};
    if (http_server_new(&cfg, &srv, &err) || http_route_add(srv, &r, &err) ||
        http_builtin_register(srv, &err) || http_server_start(srv, &err))
        die("server", &err);
    unsigned bare_port;
    struct MHD_Daemon *bare = bare_start(&bare_port);
    unsigned port = http_server_port(srv, "api");

    printf("bench-http: GET /bench, %d client threads, %.1f s each\n", threads, seconds);
    printf("%-12s %14s %14s %8s\n", "connection", "dupla req/s", "bare MHD req/s", "ratio");
    for (int ka = 1; ka >= 0; ka--) {
        double base = measure(bare_port, threads, ka, seconds);
        double ours = measure(port, threads, ka, seconds);
        printf("%-12s %14.0f %14.0f %8.2f\n", ka ? "keep-alive" : "new per req", ours, base,
               base > 0 ? ours / base : 0.0);
    }
    MHD_stop_daemon(bare);
    http_server_stop(srv, 1000);
    http_server_free(srv);
    config_free(&cfg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-http: could not remove %s\n", dir);
    curl_global_cleanup();
    return 0;
}
