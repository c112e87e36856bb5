/*
 * End-to-end: resource limits under abuse (#18 item 6). Each abuse is
 * refused or cut off within its stated limit while another client, at the
 * same time, is served as usual:
 *   - a header trickled byte by byte (a slow client): cut off within
 *     idle_seconds + request_seconds, though each byte comes well within
 *     idle_seconds (http/sweep.c);
 *   - a TLS handshake that stalls after the first bytes of its
 *     ClientHello: cut off at handshake_seconds, before libmicrohttpd's
 *     idle timeout (idle_seconds; its event loop tries a waiting
 *     handshake again and again: each second of it costs a processor);
 *   - many idle connections from one address: past max_connections_per_ip
 *     each is closed at once;
 *   - deeply nested JSON: a 400 problem naming the body;
 *   - a query parameter repeated 10^6 times: refused (414) at the
 *     connection's memory limit, without reading the rest.
 * (A mail with thousands of parts: test_incident_mail.c.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define REQUEST_SECONDS   2
#define IDLE_SECONDS      4
#define PER_IP            4
#define HANDSHAKE_SECONDS 2
#define ANSWER_MS         2000 /* the other client's answer, on a busy machine */

E2E_SHARED_SERVERS({"abuse",
                    {.limits_json = "{\"request_seconds\": 2, \"idle_seconds\": 4, "
                                    "\"handshake_seconds\": 2, "
                                    "\"max_connections\": 64, \"max_connections_per_ip\": 4}"}});

static const struct e2e_server *srv(void)
{
    return e2e_shared("abuse");
}

static long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Another client: a GET of /health/live answered 200 within ANSWER_MS. */
static void other_client_is_served(void)
{
    struct e2e_response r;
    long t0 = ms_now();
    e2e_get(srv(), "api", "/health/live", &r);
    long ms = ms_now() - t0;
    e2e_assert_status(srv(), &r, 200);
    e2e_response_free(&r);
    cr_assert(ms < ANSWER_MS, "another client waited %ld ms", ms);
}

/* ---- a header trickled byte by byte ---- */

#define TRICKLE_BYTES 100
#define TRICKLE_MS    150 /* per byte: far inside idle_seconds */

struct trickle {
    int rc;
    long ms;
    char *out;
};

static void *trickle_run(void *arg)
{
    struct trickle *t = arg;
    static const char head[] = "GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    static struct e2e_raw_part parts[1 + TRICKLE_BYTES];
    parts[0] = (struct e2e_raw_part){head, sizeof head - 1, 0};
    for (int i = 1; i <= TRICKLE_BYTES; i++)
        parts[i] = (struct e2e_raw_part){"a", 1, TRICKLE_MS};
    t->rc = e2e_raw_parts(srv(), "api", parts, 1 + TRICKLE_BYTES, 30000, &t->out, &t->ms);
    return NULL;
}

Test(abuse, a_header_trickled_byte_by_byte_is_cut_off)
{
    struct trickle t = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, trickle_run, &t), 0);
    usleep(500 * 1000);
    other_client_is_served();
    pthread_join(th, NULL);
    cr_assert_eq(t.rc, 0, "the trickling client was never cut off (%ld ms)", t.ms);
    /* Trickled to the end it would take TRICKLE_BYTES * TRICKLE_MS = 15 s;
     * the deadline counts from the connection's start, a little before
     * the handshake's end (where t.ms starts). */
    cr_assert(t.ms <= (IDLE_SECONDS + REQUEST_SECONDS + 1) * 1000L,
              "cut off after %ld ms; idle_seconds + request_seconds is %d s: %.200s", t.ms,
              IDLE_SECONDS + REQUEST_SECONDS, t.out ? t.out : "");
    cr_assert(t.ms >= (IDLE_SECONDS + REQUEST_SECONDS - 1) * 1000L, "cut off early: %ld ms", t.ms);
    if (t.out && t.out[0])
        cr_assert(strncmp(t.out, "HTTP/1.1 408", 12) == 0, "answer: %.300s", t.out);
    free(t.out);
}

/* ---- a TLS handshake that stalls ---- */

Test(abuse, a_stalled_tls_handshake_is_cut_off_at_its_own_deadline)
{
    int fd = e2e_tcp_connect(srv(), "api", "127.0.0.6");
    cr_assert(fd >= 0, "no connection");
    /* a TLS record header of a ClientHello of 128 bytes, and its first
     * byte: the server waits for the rest */
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0x80, 0x01};
    cr_assert_eq(send(fd, hello, sizeof hello, MSG_NOSIGNAL), (ssize_t)sizeof hello);
    long t0 = ms_now();
    usleep(300 * 1000);
    other_client_is_served();
    struct timeval tv = {15, 0};
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[256];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        ; /* an alert, perhaps */
    int e = errno;
    long ms = ms_now() - t0;
    close(fd);
    cr_assert(n == 0 || (e != EAGAIN && e != EWOULDBLOCK), "not closed within 15 s");
    /* libmicrohttpd's idle timeout (idle_seconds) would close it at 4 s */
    cr_assert(ms <= HANDSHAKE_SECONDS * 1000L + 1500,
              "cut off after %ld ms; handshake_seconds is %d", ms, HANDSHAKE_SECONDS);
    cr_assert(ms >= HANDSHAKE_SECONDS * 1000L - 500, "cut off early: %ld ms", ms);
}

/* ---- many idle connections from one address ---- */

Test(abuse, idle_connections_from_one_address_are_capped)
{
    int fds[PER_IP + 8];
    size_t n = 0;
    for (; n < PER_IP; n++) {
        fds[n] = e2e_tcp_connect(srv(), "api", "127.0.0.5");
        cr_assert(fds[n] >= 0);
    }
    usleep(300 * 1000);
    /* Each further one from that address is closed at once. */
    for (int i = 0; i < 8; i++, n++) {
        fds[n] = e2e_tcp_connect(srv(), "api", "127.0.0.5");
        cr_assert(fds[n] >= 0);
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fds[n], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char byte;
        long t0 = ms_now();
        cr_assert_eq(recv(fds[n], &byte, 1, 0), 0,
                     "connection %zu from one address was kept open (the limit is %d)", n + 1,
                     PER_IP);
        cr_assert(ms_now() - t0 < 1500);
    }
    other_client_is_served();
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* ---- deeply nested JSON ---- */

Test(abuse, deeply_nested_json_is_a_400)
{
    /* As deep as the login's body limit (2048 bytes before authentication)
     * allows: parsed (jansson stops at 2048 levels anyway) and refused for
     * what it is, the member named. */
    char body[2048];
    size_t depth = 1000, off = 0;
    off += (size_t)snprintf(body, sizeof body, "{\"username\":");
    memset(body + off, '[', depth);
    off += depth;
    size_t close_n = sizeof body - 2 - off < depth ? sizeof body - 2 - off : depth;
    memset(body + off, ']', close_n);
    off += close_n;
    body[off++] = '}';
    body[off] = '\0';
    const char *hs[] = {"Content-Type: application/json", NULL};
    struct e2e_request rq = {
        .method = "POST", .path = "/api/session", .headers = hs, .body = body, .body_len = off};
    struct e2e_response r;
    long t0 = ms_now();
    e2e_request(srv(), &rq, &r);
    e2e_assert_status(srv(), &r, 400);
    cr_assert(ms_now() - t0 < ANSWER_MS);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "parameter")), "username");
    e2e_response_free(&r);
    /* Deeper needs a larger body: past the limit before authentication. */
    char big[4200];
    memset(big, '[', 2100);
    memset(big + 2100, ']', 2099);
    big[4199] = '\0';
    rq.body = big;
    rq.body_len = 4199;
    e2e_request(srv(), &rq, &r);
    e2e_assert_status(srv(), &r, 413);
    e2e_response_free(&r);
    other_client_is_served();
}

/* ---- a query parameter repeated 10^6 times ---- */

Test(abuse, a_million_repeated_query_values_are_refused)
{
    static const char head[] = "GET /health/live?";
    static const char tail[] = " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    size_t n = 1000000, len = sizeof head - 1 + n * 4 + sizeof tail - 1;
    char *req = malloc(len + 1);
    cr_assert_not_null(req);
    memcpy(req, head, sizeof head - 1);
    size_t off = sizeof head - 1;
    for (size_t i = 0; i < n; i++, off += 4)
        memcpy(req + off, i + 1 < n ? "a=1&" : "a=1 ", 4);
    memcpy(req + off - 1, tail, sizeof tail - 1);
    off += sizeof tail - 2;
    /* In 64 KiB parts, so that the client stops once the server answered. */
    size_t n_parts = (off + 65535) / 65536;
    struct e2e_raw_part *parts = calloc(n_parts, sizeof *parts);
    for (size_t i = 0; i < n_parts; i++)
        parts[i] =
            (struct e2e_raw_part){req + i * 65536, i + 1 < n_parts ? 65536 : off - i * 65536, 1};
    char *out;
    long ms;
    int rc = e2e_raw_parts(srv(), "api", parts, n_parts, 20000, &out, &ms);
    cr_assert_eq(rc, 0, "the server did not close (%ld ms)", ms);
    cr_assert(strncmp(out, "HTTP/1.1 414", 12) == 0, "answer: %.300s", out);
    cr_assert(ms < 10000, "refused after %ld ms", ms);
    free(out);
    free(parts);
    free(req);
    other_client_is_served();
}
