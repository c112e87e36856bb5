/*
 * bench_token.c: the token service's throughput, each figure beside a
 * baseline measured in the same run on the same machine.
 *
 *   1. tokens/s: POST /token, each over a fresh mutual-TLS connection
 *      (full handshake with the client certificate, as the real client's
 *      first call), against
 *      baseline: GET /health/live over a fresh mutual-TLS connection to the
 *      same listener (the bare handshake + HTTP cost).
 *   2. verifications/s: token_verify() (parse, EdDSA verify, claims,
 *      registry lookup) of tokens seen for the first time, and of a token
 *      seen before (a client's later calls: the signature check is
 *      remembered, the rest runs again), against
 *      baseline: one bare Ed25519 signature verification of the same bytes
 *      (pki_verify), the floor any EdDSA JWT check pays without memory.
 *
 * The server runs in this process (http + identity + token, as `dupla
 * serve` wires them) on 127.0.0.1 with a temporary PKI and store; the
 * client is libcurl on one thread, so the figures are per client
 * connection, not the server's saturation point.
 *
 * usage: bench-token [SECONDS]   (default 3 per measurement; 0.3 = smoke)
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/http.h"
#include "identity/identity.h"
#include "identity/routes.h"
#include "pki/pki.h"
#include "token/routes.h"
#include "token/token.h"

#define BENCH_CVR "12345674"

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

struct client {
    char url_token[128];
    char url_live[128];
    char cert[600], key[600], ca[600];
};

/* One request on a fresh connection; 0 if the status was want. */
static int one(const struct client *c, bool token, long want)
{
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    curl_easy_setopt(h, CURLOPT_URL, token ? c->url_token : c->url_live);
    curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    /* Only the test CA: by default libcurl (GnuTLS) also loads the whole
     * system CA folder for every handle, which would dominate both figures. */
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (token)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                         "client_id=api-gateway&scope=openid&grant_type=password");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && status == want ? 0 : -1;
}

static double rate_http(const struct client *c, bool token, double seconds)
{
    int64_t t0 = clock_mono_ns(), end = t0 + (int64_t)(seconds * 1e9);
    long n = 0;
    while (clock_mono_ns() < end) {
        if (one(c, token, 200)) {
            fprintf(stderr, "bench-token: a %s request failed\n", token ? "token" : "health");
            exit(1);
        }
        n++;
    }
    return n / ((clock_mono_ns() - t0) / 1e9);
}

static int die(const char *what, const err_t *err)
{
    fprintf(stderr, "bench-token: %s: %s\n", what, err->log);
    return 1;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    if (seconds <= 0)
        seconds = 3.0;
    log_set_level(LOG_ERROR);
    char dir[] = "/tmp/dupla-bench-token-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char pki[256];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    err_t err;
    err_clear(&err);
    struct pki_init_options io = {.dir = pki};
    struct pki_system_options so = {.dir = pki, .cvr = BENCH_CVR, .name = "bench"};
    if (pki_init(&io, &err) || pki_issue_system(&so, &err))
        return die("pki", &err);
    char cfgtext[2048];
    snprintf(cfgtext, sizeof cfgtext,
             "{\"environment\":\"test\",\"store\":\"sqlite:dupla.db\",\"log_level\":\"error\","
             "\"listeners\":[{\"name\":\"token\",\"address\":\"127.0.0.1\",\"port\":0,"
             "\"cert\":\"pki/server.pem\",\"key\":\"pki/server.key\",\"client_cert\":\"request\","
             "\"trust\":\"pki/ca.pem\",\"crl\":\"pki/crl.pem\"}]}");
    struct dupla_config cfg;
    if (config_load_string(cfgtext, dir, &cfg, &err))
        return die("config", &err);
    store_t *st;
    identity_t *id;
    if (store_open(cfg.store_url, NULL, &st, &err) || identity_open(st, &cfg, &id, &err))
        return die("store", &err);
    identity_actor_t local;
    identity_actor_local(&local);
    struct identity_org_new in = {.name = STR("Bench"),
                                  .cvr = STR(BENCH_CVR),
                                  .contact_email = STR("k@bench.dk"),
                                  .admin_username = STR("admin@bench.dk")};
    struct identity_org o;
    struct identity_setup_secret sec;
    struct pki_cert_info ci;
    char pem[300];
    snprintf(pem, sizeof pem, "%s/bench.pem", pki);
    if (identity_org_create(id, &local, &in, &o, &sec, &err) ||
        pki_cert_info_from_file(pem, &ci, &err) ||
        identity_system_register(id, &local, STR(BENCH_CVR), STR("bench"), SYSTEM_RECIPIENT, &ci,
                                 NULL, &err))
        return die("identity", &err);
    struct token_config tc;
    token_service_t *ts;
    if (token_config_load(&cfg, &tc, &err) || token_service_new(&tc, id, &ts, &err))
        return die("token", &err);
    http_server_t *srv;
    if (http_server_new(&cfg, &srv, &err) || http_builtin_register(srv, &err) ||
        token_routes_register(srv, ts, &err) || http_server_start(srv, &err))
        return die("http", &err);
    unsigned port = http_server_port(srv, "token");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct client c;
    snprintf(c.url_token, sizeof c.url_token, "https://localhost:%u/token", port);
    snprintf(c.url_live, sizeof c.url_live, "https://localhost:%u/health/live", port);
    snprintf(c.cert, sizeof c.cert, "%s/bench.pem", pki);
    snprintf(c.key, sizeof c.key, "%s/bench.key", pki);
    snprintf(c.ca, sizeof c.ca, "%s/ca.pem", pki);

    printf("bench-token: %.1f s per measurement, one client thread, 127.0.0.1\n", seconds);
    double live = rate_http(&c, false, seconds);
    double tok = rate_http(&c, true, seconds);
    printf("  tokens over fresh mTLS     %9.0f /s   baseline mTLS GET /health/live %9.0f /s"
           "   ratio %.2f\n",
           tok, live, tok / live);

    /* verification: first sight (distinct tokens, issued beforehand) */
    struct identity_principal p;
    enum { FRESH_MAX = 20000 };
    size_t n_fresh = (size_t)(seconds * 8000) < FRESH_MAX ? (size_t)(seconds * 8000) : FRESH_MAX;
    if (n_fresh < 100)
        n_fresh = 100;
    char **fresh = calloc(n_fresh, sizeof *fresh);
    if (!fresh ||
        identity_authenticate_cert(id, &ci, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err))
        return die("issue", &err);
    for (size_t i = 0; i < n_fresh; i++)
        if (token_issue(ts, &p, clock_now_ms(), &fresh[i], NULL, &err))
            return die("issue", &err);
    struct token_principal tp;
    int64_t t0 = clock_mono_ns(), end = t0 + (int64_t)(seconds * 1e9);
    long n = 0;
    for (size_t i = 0; i < n_fresh && clock_mono_ns() < end; i++, n++)
        if (token_verify(ts, str_from_cstr(fresh[i]), clock_now_ms(), &tp, &err))
            return die("verify", &err);
    double first = n / ((clock_mono_ns() - t0) / 1e9);
    for (size_t i = 1; i < n_fresh; i++)
        free(fresh[i]);
    char *jwt = fresh[0];
    free(fresh);

    /* seen again: the same token over and over */
    t0 = clock_mono_ns();
    end = t0 + (int64_t)(seconds * 1e9);
    n = 0;
    while (clock_mono_ns() < end) {
        for (int i = 0; i < 100; i++)
            if (token_verify(ts, str_from_cstr(jwt), clock_now_ms(), &tp, &err))
                return die("verify", &err);
        n += 100;
    }
    double ver = n / ((clock_mono_ns() - t0) / 1e9);
    /* baseline: a bare Ed25519 verification of a signature over the same
     * number of bytes, with a throwaway key */
    char keyfile[300];
    snprintf(keyfile, sizeof keyfile, "%s/bench-ed25519.pem", dir);
    pki_signer_t *signer;
    pki_verifier_t *verifier;
    unsigned char pub[PKI_ED25519_PUB_LEN], sig[PKI_ED25519_SIG_LEN];
    size_t len = (size_t)(strrchr(jwt, '.') - jwt);
    if (pki_signer_generate(keyfile, &err) || pki_signer_load(keyfile, &signer, &err) ||
        pki_sign(signer, jwt, len, sig, &err))
        return die("ed25519", &err);
    pki_signer_public(signer, pub);
    if (pki_verifier_new(pub, &verifier, &err))
        return die("ed25519", &err);
    t0 = clock_mono_ns();
    end = t0 + (int64_t)(seconds * 1e9);
    n = 0;
    while (clock_mono_ns() < end) {
        for (int i = 0; i < 100; i++)
            if (pki_verify(verifier, jwt, len, sig))
                return 1;
        n += 100;
    }
    double raw = n / ((clock_mono_ns() - t0) / 1e9);
    printf("  token_verify, first sight  %9.0f /s   baseline bare Ed25519 verify   %9.0f /s"
           "   ratio %.2f\n",
           first, raw, first / raw);
    printf("  token_verify, seen again   %9.0f /s   baseline bare Ed25519 verify   %9.0f /s"
           "   ratio %.2f\n",
           ver, raw, ver / raw);

    free(jwt);
    pki_verifier_free(verifier);
    pki_signer_free(signer);
    http_server_stop(srv, 1000);
    http_server_free(srv);
    token_service_free(ts);
    identity_close(id);
    store_close(st);
    config_free(&cfg);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
