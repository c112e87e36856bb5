/* End-to-end: the token service over real mutual TLS, against `dupla serve`.
 *
 * The world (organisations, systems, certificates) is made once per server
 * with the CLI, under a lock, by whichever test comes first; the server
 * sees the changes through its registry poll (50 ms here). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/config.h"
#include "core/encode.h"
#include "harness.h"
#include "store/store.h"

#define CVR_A "12345674" /* active organisation */
#define CVR_B "20000007" /* suspended organisation */
#define CVR_C "30000005" /* organisation whose CVR record changes to CVR_D */
#define CVR_D "40000003"

E2E_SHARED_SERVERS({"main", {.config_json = "{\"identity\": {\"registry_poll_ms\": 50}}"}});

static void must(const struct e2e_server *s, const char *const *args)
{
    int rc = e2e_cli(s, args);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", e2e_path(s, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

static void issue(const struct e2e_server *s, const char *name, const char *cvr,
                  const char *const *extra)
{
    cr_assert_eq(e2e_issue_system(s, name, cvr, extra), 0, "issue %s", name);
}

static void org(const struct e2e_server *s, const char *cvr, const char *admin)
{
    const char *args[] = {"org",     "create", "--name",          "Org",    "--cvr", cvr,
                          "--admin", admin,    "--contact-email", "k@x.dk", NULL};
    must(s, args);
}

static void sys_register(const struct e2e_server *s, const char *cvr, const char *name)
{
    char pem[E2E_PATH_MAX], file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    const char *args[] = {"system", "register", "--org",  cvr,
                          "--name", name,       "--cert", e2e_pki_path(s, file, pem),
                          NULL};
    must(s, args);
}

/* Changes the store directly (a record fixed by hand, as an operator might). */
static void sql(const struct e2e_server *s, const char *text)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_exec(c, text, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
    config_free(&cfg);
}

static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        org(s, CVR_A, "admin@a.dk");
        org(s, CVR_B, "admin@b.dk");
        org(s, CVR_C, "admin@c.dk");
        issue(s, "good", CVR_A, NULL);
        issue(s, "unregistered", CVR_A, NULL);
        issue(s, "suspended", CVR_A, NULL);
        issue(s, "revoked", CVR_A, NULL);
        issue(s, "orgb", CVR_B, NULL);
        issue(s, "orgc", CVR_C, NULL);
        const char *old[] = {"--not-before", "2020-01-01T00:00:00Z", "--not-after",
                             "2020-12-31T00:00:00Z", NULL};
        issue(s, "expired", CVR_A, old);
        sys_register(s, CVR_A, "good");
        sys_register(s, CVR_A, "suspended");
        sys_register(s, CVR_A, "revoked");
        sys_register(s, CVR_B, "orgb");
        sys_register(s, CVR_C, "orgc");
        const char *susp[] = {"system", "suspend", CVR_A "/suspended", NULL};
        must(s, susp);
        const char *osusp[] = {"org", "suspend", CVR_B, NULL};
        must(s, osusp);
        /* a foreign CA */
        char other[E2E_PATH_MAX];
        const char *init[] = {"pki", "init", "--dir", e2e_path(s, "other-pki", other), NULL};
        cr_assert_eq(e2e_run_dupla(init, NULL), 0);
        const char *foreign[] = {"pki", "issue-system", "--dir",   other, "--cvr",
                                 CVR_A, "--name",       "foreign", NULL};
        cr_assert_eq(e2e_run_dupla(foreign, NULL), 0);
        /* revoke on the CA's CRL, and let the server re-read it */
        char pem[E2E_PATH_MAX];
        const char *rev[] = {"pki",      "revoke", "--dir",
                             s->pki_dir, "--cert", e2e_pki_path(s, "revoked.pem", pem),
                             NULL};
        cr_assert_eq(e2e_run_dupla(rev, NULL), 0);
        cr_assert_eq(e2e_signal(s, SIGHUP), 0);
        /* the organisation's CVR record is corrected after registration */
        sql(s, "UPDATE identity_org SET cvr = '" CVR_D "' WHERE cvr = '" CVR_C "';"
               "UPDATE identity_generation SET gen = gen + 1");
        usleep(300 * 1000); /* registry poll and reload */
        FILE *f = fopen(done, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

static const char form[] = "client_id=api-gateway&scope=openid&grant_type=password";

/* POST /token with the certificate NAME of the server's PKI (NULL: none). */
static void post_token(const struct e2e_server *s, const char *name, const char *body,
                       struct e2e_response *r)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], f[64];
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .body = body ? body : form,
                             .headers = (const char *const[]){
                                 "Content-Type: application/x-www-form-urlencoded",
                                 "x-transaktion-id: 0b1c6a4e-1111-4222-8333-944455556666", NULL}};
    if (name) {
        snprintf(f, sizeof f, "%s.pem", name);
        rq.cert_file = e2e_pki_path(s, f, pem);
        snprintf(f, sizeof f, "%s.key", name);
        rq.key_file = e2e_pki_path(s, f, key);
    }
    cr_assert_eq(e2e_request(s, &rq, r), 0, "no answer: %s", r->error);
}

static void expect_refusal(const char *cert, const char *body, long status, const char *error,
                           const char *code)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    post_token(s, cert, body, &r);
    e2e_assert_status(s, &r, status);
    cr_assert_not_null(r.json, "not JSON: %s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), error);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error_code")), code, "%s", r.body);
    cr_assert_not_null(json_object_get(r.json, "error_description"));
    cr_assert_null(json_object_get(r.json, "access_token"));
    cr_assert_str_eq(e2e_header(&r, "Cache-Control"), "no-store");
    e2e_response_free(&r);
}

Test(token_e2e, issues_a_token_to_an_active_system)
{
    const struct e2e_server *s = world();
    struct e2e_response r;
    post_token(s, "good", NULL, &r);
    e2e_assert_status(s, &r, 200);
    const char *tok = json_string_value(json_object_get(r.json, "access_token"));
    cr_assert_not_null(tok);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "token_type")), "Bearer");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "expires_in")), 300);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "scope")), "openid");
    cr_assert_str_eq(e2e_header(&r, "Cache-Control"), "no-store");
    /* the header names a key the JWKS publishes */
    const char *dot = strchr(tok, '.');
    char raw[512];
    long n = base64url_decode((str_t){tok, (size_t)(dot - tok)}, raw, sizeof raw);
    json_t *h = json_loadb(raw, (size_t)n, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "EdDSA");
    struct e2e_response j;
    cr_assert_eq(e2e_get(s, "api", "/.well-known/jwks.json", &j), 0);
    e2e_assert_status(s, &j, 200);
    json_t *k = json_array_get(json_object_get(j.json, "keys"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(k, "kid")),
                     json_string_value(json_object_get(h, "kid")));
    json_decref(h);
    e2e_response_free(&j);
    /* grant_type=client_credentials too, and x-transaktion-id is logged */
    e2e_response_free(&r);
    post_token(s, "good", "grant_type=client_credentials", &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    cr_assert(e2e_log_wait(s, "0b1c6a4e-1111-4222-8333-944455556666", 5000));
}

Test(token_e2e, refuses_no_certificate)
{
    expect_refusal(NULL, NULL, 401, "invalid_client", "certificate-missing");
}

Test(token_e2e, refuses_an_unknown_ca)
{
    const struct e2e_server *s = world();
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .body = form,
                             .cert_file = e2e_path(s, "other-pki/foreign.pem", pem),
                             .key_file = e2e_path(s, "other-pki/foreign.key", key)};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    e2e_assert_status(s, &r, 401);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error_code")),
                     "certificate-untrusted", "%s", r.body);
    e2e_response_free(&r);
}

Test(token_e2e, refuses_an_expired_certificate)
{
    expect_refusal("expired", NULL, 401, "invalid_client", "certificate-expired");
}

Test(token_e2e, refuses_a_revoked_certificate)
{
    expect_refusal("revoked", NULL, 401, "invalid_client", "certificate-revoked");
}

Test(token_e2e, refuses_an_unregistered_certificate)
{
    expect_refusal("unregistered", NULL, 401, "invalid_client", "certificate-unregistered");
}

Test(token_e2e, refuses_a_suspended_system)
{
    expect_refusal("suspended", NULL, 403, "unauthorized_client", "system-suspended");
}

Test(token_e2e, refuses_a_suspended_organisation)
{
    expect_refusal("orgb", NULL, 403, "unauthorized_client", "organisation-suspended");
}

Test(token_e2e, refuses_a_cvr_mismatch)
{
    expect_refusal("orgc", NULL, 403, "unauthorized_client", "cvr-mismatch");
}

Test(token_e2e, refuses_bad_requests)
{
    expect_refusal("good", "grant_type=authorization_code", 400, "unsupported_grant_type",
                   "grant-type-unsupported");
    expect_refusal("good", "scope=openid", 400, "invalid_request", "form-invalid");
    expect_refusal("good", "grant_type=password&grant_type=password", 400, "invalid_request",
                   "form-invalid");
    /* The one percent-decoding policy: no control bytes, no invalid UTF-8. */
    expect_refusal("good", "grant_type=password&scope=openid%00", 400, "invalid_request",
                   "form-invalid");
    expect_refusal("good", "grant_type=password&scope=open%0Aid", 400, "invalid_request",
                   "form-invalid");
    expect_refusal("good", "grant_type=password&scope=%C0%AF", 400, "invalid_request",
                   "form-invalid");
    expect_refusal("good", "grant_type=password&scope=%zz", 400, "invalid_request", "form-invalid");
    expect_refusal("good", "grant_type=password&scope=admin", 400, "invalid_scope",
                   "scope-unsupported");
    expect_refusal("good", "grant_type=password&client_id=someone", 401, "invalid_client",
                   "client-id-unknown");
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "grant_type=password&x=", 22);
    expect_refusal("good", big, 413, "invalid_request", "request-too-large");
}

Test(token_e2e, a_system_suspended_while_running_is_refused_at_once)
{
    const struct e2e_server *s = world();
    /* its own system, so the other tests are not disturbed */
    char lock[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "late.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    issue(s, "late", CVR_A, NULL);
    sys_register(s, CVR_A, "late");
    usleep(200 * 1000);
    struct e2e_response r;
    post_token(s, "late", NULL, &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    const char *susp[] = {"system", "suspend", CVR_A "/late", NULL};
    must(s, susp);
    /* again: the CLI names the refusal's reason after its message */
    cr_assert_eq(e2e_cli(s, susp), 1);
    char log[E2E_PATH_MAX], text[65536];
    FILE *lf = fopen(e2e_path(s, "cli.log", log), "r");
    cr_assert_not_null(lf);
    if (fseek(lf, -(long)(sizeof text - 1), SEEK_END) != 0) /* its end, if it is long */
        rewind(lf);
    size_t n = fread(text, 1, sizeof text - 1, lf);
    fclose(lf);
    text[n] = '\0';
    cr_assert(strstr(text, "already suspended [already-suspended]\n"), "%s", text);
    usleep(200 * 1000);
    post_token(s, "late", NULL, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    flock(fd, LOCK_UN);
    close(fd);
}
