/*
 * End-to-end: `dupla demo`, the set-up behind `make run`.
 *
 * Runs the real binary's demo set-up twice in a fresh folder (the second run
 * must change nothing that matters), checks that connect.json names
 * everything a client needs, then serves that configuration and follows
 * connect.json the way a client would: a token over mutual TLS with the
 * PKCS#12 file and its password.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/uuid.h"
#include "harness.h"

/* A port nobody listens on now (bind to 0, read it, close). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &n);
    close(fd);
    return ntohs(a.sin_port);
}

static json_t *run_demo(const char *dir, unsigned api, unsigned token)
{
    char a[16], t[16], out[600];
    snprintf(a, sizeof a, "%u", api);
    snprintf(t, sizeof t, "%u", token);
    snprintf(out, sizeof out, "%s/demo-out.txt", dir);
    const char *args[] = {"demo", "--dir",        dir, "--api-port", a, "--token-port",
                          t,      "--setup-only", NULL};
    cr_assert_eq(e2e_run_dupla(args, out), 0, "dupla demo failed (see %s)", out);
    char path[600];
    snprintf(path, sizeof path, "%s/connect.json", dir);
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    cr_assert_not_null(c, "connect.json: %s", je.text);
    return c;
}

/* POSTs the real client's token form with the PKCS#12 file of
 * connect.json (decrypted with its password). Returns the HTTP status. */
static long post_token(json_t *c, char *body_out, size_t cap)
{
    char cert[E2E_PATH_MAX + 32], key[E2E_PATH_MAX + 32], why[256];
    if (e2e_p12_to_pem(json_string_value(json_object_get(c, "pkcs12_file")),
                       json_string_value(json_object_get(c, "pkcs12_password")), cert, key, why,
                       sizeof why) != 0) {
        snprintf(body_out, cap, "PKCS#12: %s", why);
        return -1;
    }
    CURL *h = curl_easy_init();
    FILE *mem = fmemopen(body_out, cap, "w");
    curl_easy_setopt(h, CURLOPT_URL, json_string_value(json_object_get(c, "token_url")));
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CAINFO, json_string_value(json_object_get(c, "ca_file")));
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* only the demo's CA */
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                     "client_id=api-gateway&scope=openid&grant_type=password");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)E2E_REQUEST_TIMEOUT_MS);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    fclose(mem);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(body_out, cap, "curl: %s", errbuf);
    curl_easy_cleanup(h);
    if (status == 200) {
        unlink(cert);
        unlink(key);
    }
    return status;
}

static size_t into_buf(char *p, size_t sz, size_t n, void *ud)
{
    buf_t *b = ud;
    return buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

/* Asks every service of the catalogue, by each subject kind it takes, for
 * each example subject of that kind in connect.json, as the public client
 * does (bearer token, the four headers). Returns 0, or -1 with why filled:
 * an answer that is not 200 with records. */
static int every_service_has_data(json_t *c, const char *token, char *why, size_t cap)
{
    char dir[1024];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "%s/catalog", root ? root : ".");
    catalog_t *cat = NULL;
    err_t err;
    if (catalog_load_dir(dir, &cat, &err) != 0) {
        snprintf(why, cap, "catalogue: %s", err.detail);
        return -1;
    }
    int rc = 0;
    char auth[4200], agreement[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(agreement, sizeof agreement,
             "UFST-Adgangsgrundlag: urn:ufst:adgangsgrundlag:aftale:%s",
             json_string_value(json_object_get(c, "agreement_id")));
    for (size_t i = 0; rc == 0 && i < catalog_count(cat); i++) {
        const struct catalog_service *svc = catalog_service_at(cat, i);
        char extra[256] = "";
        for (size_t p = 0; p < svc->n_params; p++) {
            const struct catalog_param *pa = &svc->params[p];
            if (pa->required && pa->role == CATALOG_PARAM_PERIOD_FROM)
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "&%s=2000-01-01",
                         pa->name);
            if (pa->required && pa->role == CATALOG_PARAM_PERIOD_TO)
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "&%s=2100-12-31",
                         pa->name);
        }
        for (size_t k = 0; rc == 0 && k < svc->n_subjects; k++) {
            const char *name = svc->subjects[k].param->name;
            json_t *examples = json_object_get(c, name);
            if (json_array_size(examples) == 0) {
                snprintf(why, cap, "connect.json has no %s examples", name);
                rc = -1;
            }
            size_t e;
            json_t *ex;
            json_array_foreach(examples, e, ex)
            {
                if (rc)
                    break;
                char url[1024], rid[UUID_STR_LEN + 1], h_rid[80];
                snprintf(url, sizeof url, "%s/%s?%s=%s%s",
                         json_string_value(json_object_get(c, "base_url")), svc->path, name,
                         json_string_value(ex), extra);
                uuid_v4(rid);
                snprintf(h_rid, sizeof h_rid, "X-Request-ID: %s", rid);
                struct curl_slist *h = curl_slist_append(NULL, auth);
                h = curl_slist_append(h, h_rid);
                h = curl_slist_append(h, "X-Transaktions-ID: 7a1d2c3b-4e5f-4061-8a9b-0c1d2e3f4a5b");
                h = curl_slist_append(h, agreement);
                buf_t body;
                buf_init(&body, 16u << 20);
                CURL *ch = curl_easy_init();
                curl_easy_setopt(ch, CURLOPT_URL, url);
                curl_easy_setopt(ch, CURLOPT_HTTPHEADER, h);
                curl_easy_setopt(ch, CURLOPT_CAINFO,
                                 json_string_value(json_object_get(c, "ca_file")));
                curl_easy_setopt(ch, CURLOPT_CAPATH, NULL);
                curl_easy_setopt(ch, CURLOPT_WRITEFUNCTION, into_buf);
                curl_easy_setopt(ch, CURLOPT_WRITEDATA, &body);
                curl_easy_setopt(ch, CURLOPT_TIMEOUT_MS, (long)E2E_REQUEST_TIMEOUT_MS);
                long status = 0;
                if (curl_easy_perform(ch) == CURLE_OK)
                    curl_easy_getinfo(ch, CURLINFO_RESPONSE_CODE, &status);
                curl_easy_cleanup(ch);
                curl_slist_free_all(h);
                json_t *j = status == 200 ? json_loadb(body.data, body.len, 0, NULL) : NULL;
                size_t n = json_array_size(json_object_get(j, "data"));
                json_decref(j);
                if (n == 0) {
                    snprintf(why, cap, "%s by %s=%s: status %ld, no records: %.200s", svc->path,
                             name, json_string_value(ex), status, body.len ? body.data : "");
                    rc = -1;
                }
                buf_free(&body);
            }
        }
    }
    catalog_free(cat);
    return rc;
}

Test(demo, sets_up_idempotently_and_a_client_can_follow_connect_json, .timeout = 120)
{
    char dir[] = "/tmp/dupla-e2e-demo-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    unsigned api = free_port(), token = free_port();
    json_t *c1 = run_demo(dir, api, token);
    static const char *keys[] = {"environment",     "base_url",           "token_url",
                                 "ca_file",         "pkcs12_file",        "pkcs12_password",
                                 "agreement_id",    "system_id",          "organisation_cvr",
                                 "PersonCPRNummer", "VirksomhedSENummer", "VirksomhedCVRNummer"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null(json_object_get(c1, keys[i]), "connect.json lacks %s", keys[i]);
    cr_assert_str_eq(json_string_value(json_object_get(c1, "environment")), "test");
    cr_assert_eq(json_array_size(json_object_get(c1, "PersonCPRNummer")), 5);

    /* it ends by naming the pages' address and the demo users, with the
     * warning that their password is public */
    char outp[600], url[64];
    snprintf(outp, sizeof outp, "%s/demo-out.txt", dir);
    snprintf(url, sizeof url, "https://localhost:%u/login", api);
    FILE *f = fopen(outp, "r");
    cr_assert_not_null(f);
    static char printed[65536];
    size_t got = fread(printed, 1, sizeof printed - 1, f);
    printed[got] = '\0';
    fclose(f);
    const char *want[] = {url,
                          "admin@demo.dupla.invalid",
                          "behandler@demo.dupla.invalid",
                          "underskriver@demo.dupla.invalid",
                          "dataforvaltning@demo.dupla.invalid",
                          "password: demo-password-1234",
                          "public",
                          "test environment only",
                          "/health/ready"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_not_null(strstr(printed, want[i]), "demo output lacks '%s':\n%s", want[i],
                           printed);

    /* again: the same agreement, certificate and password */
    json_t *c2 = run_demo(dir, api, token);
    static const char *stable[] = {"agreement_id", "pkcs12_password", "system_id"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(json_string_value(json_object_get(c1, stable[i])),
                         json_string_value(json_object_get(c2, stable[i])), "%s changed",
                         stable[i]);
    json_decref(c2);

    /* serve it, and get a token the way the public client does */
    char cfg[600], ready[600], log[600];
    snprintf(cfg, sizeof cfg, "%s/dupla.json", dir);
    snprintf(ready, sizeof ready, "%s/ready.json", dir);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        execl(getenv("DUPLA_BIN"), "dupla", "serve", "--config", cfg, "--ready-file", ready,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400 && access(ready, F_OK) != 0; i++)
        usleep(50000);
    char body[8192] = "";
    long status = access(ready, F_OK) == 0 ? post_token(c1, body, sizeof body) : 0;
    /* every example subject has records in every service of its kind */
    char why[512] = "";
    int data_rc = -1;
    json_t *t0 = status == 200 ? json_loads(body, 0, NULL) : NULL;
    if (t0)
        data_rc = every_service_has_data(c1, json_string_value(json_object_get(t0, "access_token")),
                                         why, sizeof why);
    json_decref(t0);
    kill(pid, SIGTERM); /* before any assertion: the server must not outlive the test */
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_assert_eq(status, 200, "token: %ld %s (see %s)", status, body, log);
    json_t *t = json_loads(body, 0, NULL);
    cr_assert_not_null(t);
    cr_assert_not_null(json_object_get(t, "access_token"));
    cr_assert_str_eq(json_string_value(json_object_get(t, "token_type")), "Bearer");
    json_decref(t);
    cr_assert_eq(data_rc, 0, "%s (see %s)", why, log);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "serve did not exit cleanly (see %s)", log);
    /* No personal number or secret in its log (as e2e_stop checks for the
     * harness's servers), the demo's PKCS#12 password included. */
    char leak[1024] = "";
    cr_assert_eq(e2e_log_scan_file(log, dir, leak, sizeof leak), 0,
                 "personal data or a secret in the server's log: %s", leak);
    const char *p12pw = json_string_value(json_object_get(c1, "pkcs12_password"));
    FILE *lf = fopen(log, "r");
    char line[4096];
    while (lf && p12pw && p12pw[0] && fgets(line, sizeof line, lf))
        cr_assert_null(strstr(line, p12pw), "the PKCS#12 password in the server's log: %s", line);
    if (lf)
        fclose(lf);
    json_decref(c1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
