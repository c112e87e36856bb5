/*
 * End-to-end: the life of `dupla serve`: the ready file, SIGTERM (a clean
 * exit 0), SIGHUP (new certificates, keys and CRLs for new connections; a
 * bad file keeps the old ones), and usage errors. Each test has its own
 * server, since it signals it.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pki/pki.h"

#define VALID_CVR "10000009"

static long count_lines(const struct e2e_server *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, f) > 0)
        n += strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return n;
}

/* Sends SIGHUP and waits (bounded) until the log shows one more line with
 * needle. */
static void reload(const struct e2e_server *s, const char *needle)
{
    long before = count_lines(s, needle);
    cr_assert_eq(e2e_signal(s, SIGHUP), 0);
    for (int i = 0; i < 500; i++) {
        if (count_lines(s, needle) > before)
            return;
        usleep(10 * 1000);
    }
    e2e_log_tail(s, 20);
    cr_assert_fail("no \"%s\" in the log after SIGHUP", needle);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static void fingerprint_of(const char *path, char out[PKI_SHA256_HEX])
{
    struct pki_cert_info info;
    err_t err;
    cr_assert_eq(pki_cert_info_from_file(path, &info, &err), 0, "%s: %s", path, err.log);
    memcpy(out, info.sha256_hex, PKI_SHA256_HEX);
}

Test(serve, ready_file_and_sigterm_exit_cleanly)
{
    struct e2e_server s;
    cr_assert_eq(e2e_start(NULL, &s), 0);
    cr_assert(e2e_port(&s, "api") > 0);
    cr_assert(e2e_port(&s, "token") > 0);
    cr_assert_neq(e2e_port(&s, "api"), e2e_port(&s, "token"));
    cr_assert(e2e_log_contains(&s, "\"msg\":\"listening\""));
    struct e2e_response r;
    e2e_get(&s, "api", "/health/ready", &r);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    char log[E2E_PATH_MAX];
    snprintf(log, sizeof log, "%s", s.log);
    char ready[E2E_PATH_MAX];
    snprintf(ready, sizeof ready, "%s", s.ready);
    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&s), 0);
    cr_assert(e2e_log_contains(&s, "\"msg\":\"stopped\""));
    cr_assert_neq(access(ready, F_OK), 0, "the ready file outlived the server");
    unsetenv("DUPLA_E2E_KEEP");
    e2e_remove_dir(&s);
}

Test(serve, sighup_reloads_certificates_and_crl)
{
    struct e2e_server s;
    cr_assert_eq(e2e_start(NULL, &s), 0);
    char server_pem[E2E_PATH_MAX], server_key[E2E_PATH_MAX], fp_a[PKI_SHA256_HEX];
    e2e_pki_path(&s, "server.pem", server_pem);
    e2e_pki_path(&s, "server.key", server_key);
    fingerprint_of(server_pem, fp_a);

    struct e2e_response r;
    e2e_get(&s, "api", "/health/live", &r);
    e2e_assert_status(&s, &r, 200);
    cr_assert_str_eq(r.server_cert_sha256, fp_a);
    e2e_response_free(&r);

    /* A system certificate that verifies, then is revoked: after the
     * reload the CRL says so. */
    cr_assert_eq(e2e_issue_system(&s, "acme", VALID_CVR, NULL), 0);
    char cert[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request who = {.listener = "token",
                              .path = "/whoami",
                              .cert_file = e2e_pki_path(&s, "acme.pem", cert),
                              .key_file = e2e_pki_path(&s, "acme.key", key)};
    e2e_request(&s, &who, &r);
    e2e_assert_status(&s, &r, 200);
    cr_assert(json_is_true(json_object_get(r.json, "verified")));
    e2e_response_free(&r);
    const char *revoke[] = {"pki", "revoke", "--dir", s.pki_dir, "--cert", cert, NULL};
    cr_assert_eq(e2e_run_dupla(revoke, NULL), 0);
    reload(&s, "\"msg\":\"reload done\"");
    e2e_request(&s, &who, &r);
    e2e_assert_status(&s, &r, 200);
    cr_assert(json_is_false(json_object_get(r.json, "verified")));
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "revoked");
    e2e_response_free(&r);

    /* A new server certificate (from a new CA) in place of the old. */
    char other[E2E_DIR_MAX + 16], other_pem[E2E_PATH_MAX], other_key[E2E_PATH_MAX],
        other_ca[E2E_PATH_MAX], fp_b[PKI_SHA256_HEX];
    snprintf(other, sizeof other, "%s/other-pki", s.dir);
    const char *init[] = {"pki", "init", "--dir", other, NULL};
    cr_assert_eq(e2e_run_dupla(init, NULL), 0);
    snprintf(other_pem, sizeof other_pem, "%s/server.pem", other);
    snprintf(other_key, sizeof other_key, "%s/server.key", other);
    snprintf(other_ca, sizeof other_ca, "%s/ca.pem", other);
    fingerprint_of(other_pem, fp_b);
    cr_assert_str_neq(fp_a, fp_b);
    copy_file(other_pem, server_pem);
    copy_file(other_key, server_key);
    reload(&s, "\"msg\":\"reload done\"");
    struct e2e_request rq = {.path = "/health/live", .ca_file = other_ca};
    e2e_request(&s, &rq, &r);
    e2e_assert_status(&s, &r, 200);
    cr_assert_str_eq(r.server_cert_sha256, fp_b);
    e2e_response_free(&r);

    /* A broken file: the reload fails, the listeners keep what they had. */
    FILE *f = fopen(server_pem, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    reload(&s, "\"msg\":\"reload done\"");
    cr_assert(e2e_log_contains(&s, "reload failed"));
    e2e_request(&s, &rq, &r);
    e2e_assert_status(&s, &r, 200);
    cr_assert_str_eq(r.server_cert_sha256, fp_b);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&s), 0);
}

Test(serve, bad_configuration_exits_1_with_a_message)
{
    char dir[] = "/tmp/dupla-e2e-cfg-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cfg[256], out[256];
    snprintf(cfg, sizeof cfg, "%s/bad.json", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"environment\": \"test\", \"listeners\": [{\"name\": \"api\", \"port\": 0, "
          "\"cert\": \"missing.pem\", \"key\": \"missing.key\"}]}",
          f);
    fclose(f);
    const char *args[] = {"serve", "--config", cfg, NULL};
    cr_assert_eq(e2e_run_dupla(args, out), 1);
    /* Modules may log before the listeners load their files: find the
     * one-line message among the log lines. */
    char text[8192] = "";
    FILE *o = fopen(out, "r");
    cr_assert_not_null(o);
    size_t n = fread(text, 1, sizeof text - 1, o);
    text[n] = '\0';
    fclose(o);
    const char *msg = strstr(text, "dupla serve: ");
    cr_assert_not_null(msg, "no message in: %s", text);
    cr_assert(strstr(msg, "missing.pem"), "message: %s", msg);
    /* A typo in a module's section is an error naming the key. */
    f = fopen(cfg, "w");
    fputs(
        "{\"environment\": \"test\", \"audit\": {\"queue_maximum\": 10}, \"listeners\": "
        "[{\"name\": \"api\", \"port\": 0, \"cert\": \"missing.pem\", \"key\": \"missing.key\"}]}",
        f);
    fclose(f);
    cr_assert_eq(e2e_run_dupla(args, out), 1);
    o = fopen(out, "r");
    cr_assert_not_null(o);
    n = fread(text, 1, sizeof text - 1, o);
    text[n] = '\0';
    fclose(o);
    cr_assert(strstr(text, "unknown key \"queue_maximum\" in section \"audit\""), "%s", text);
    const char *usage[] = {"serve", NULL};
    cr_assert_eq(e2e_run_dupla(usage, NULL), 2);
    const char *help[] = {"serve", "--help", NULL};
    cr_assert_eq(e2e_run_dupla(help, NULL), 0);
    unlink(cfg);
    unlink(out);
    unlink(cfg);
    char store[300];
    snprintf(store, sizeof store, "%s/dupla.db", dir);
    unlink(store);
    rmdir(dir);
}

/* The one failure rule over HTTP: registry.stale_max_ms is read (0: no
 * stale window); the signing keys' folder disappears, so the next look at
 * it fails and the JWKS answers 503 registry-unavailable with Retry-After;
 * when the folder is back it serves again. */
Test(serve, a_registry_that_cannot_reload_answers_503_past_the_bound)
{
    struct e2e_options o = {.config_json = "{\"registry\": {\"stale_max_ms\": 0}}"};
    struct e2e_server s;
    cr_assert_eq(e2e_start(&o, &s), 0);
    struct e2e_response r;
    cr_assert_eq(e2e_get(&s, "api", "/.well-known/jwks.json", &r), 0);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    char keys[E2E_PATH_MAX], gone[E2E_PATH_MAX];
    e2e_path(&s, "token-keys", keys);
    e2e_path(&s, "token-keys-gone", gone);
    cr_assert_eq(rename(keys, gone), 0, "%s", keys);
    usleep(1100 * 1000); /* past the keys' poll interval */
    cr_assert_eq(e2e_get(&s, "api", "/.well-known/jwks.json", &r), 0);
    e2e_assert_status(&s, &r, 503);
    cr_assert_not_null(e2e_header(&r, "Retry-After"));
    cr_assert_not_null(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
    const char *type = json_string_value(json_object_get(r.json, "type"));
    cr_assert(type && strstr(type, "registry-unavailable"), "type %s", type ? type : "(none)");
    e2e_response_free(&r);
    cr_assert_eq(rename(gone, keys), 0);
    usleep(1100 * 1000);
    cr_assert_eq(e2e_get(&s, "api", "/.well-known/jwks.json", &r), 0);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&s), 0);
}
