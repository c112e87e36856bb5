/* End-to-end: the organisation and systems pages against `dupla serve`:
 * a system registered by uploading its certificate file (PEM or DER,
 * multipart/form-data), roll-over (the old certificate gets tokens until it
 * is revoked), revocation with its second step, suspending a system, a user
 * (its session ends, it cannot log in) and an organisation; and a refusal
 * for each: garbage, a key, CVR mismatch, expired, duplicate, a malformed
 * form, a missing CSRF token, a non-administrator, another organisation. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "harness.h"
#include "pki/pki.h"

#define CVR_A  "20000007" /* Systemby: the administrator's organisation */
#define CVR_B  "30000005" /* Andenby: another organisation */
#define CVR_C  "40000003" /* Tredjeby: suspended by the data owner */
#define OWNER  "19552101"
#define CVR_L  "50000001" /* a system supplier (not on the platform) */
#define SE_A   "11223344" /* Systemby's SE number in its authorisations */
#define PASSWD "correct horse battery"
#define BOUND  "----e2eBoundary7MA4YWxkTrZu0gW"

E2E_SHARED_SERVERS({"main", {.config_json = "{\"identity\": {\"registry_poll_ms\": 50}}"}});

static void must(const struct e2e_server *s, const char *const *args)
{
    cr_assert_eq(e2e_cli(s, args), 0, "dupla %s %s failed", args[0], args[1]);
}

static void set_password(const struct e2e_server *s, const char *user)
{
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", user, "--password-file", pwfile, NULL};
    must(s, pw);
}

static void org(const struct e2e_server *s, const char *name, const char *cvr, const char *admin)
{
    const char *create[] = {"org", "create",          "--name",          name,      "--cvr",
                            cvr,   "--contact-email", "post@example.dk", "--admin", admin,
                            NULL};
    must(s, create);
    set_password(s, admin);
}

static void user(const struct e2e_server *s, const char *cvr, const char *username,
                 const char *role)
{
    const char *create[] = {"user",   "create", "--org", cvr, "--username",
                            username, "--role", role,    NULL};
    must(s, create);
    set_password(s, username);
}

static void issue(const struct e2e_server *s, const char *name, const char *cvr,
                  const char *const *extra)
{
    cr_assert_eq(e2e_issue_system(s, name, cvr, extra), 0, "issue %s", name);
}

/* The shared server's organisations, users and certificates (made once). */
static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        org(s, "Systemby Kommune", CVR_A, "admin@a.dk");
        org(s, "Andenby Kommune", CVR_B, "admin@b.dk");
        org(s, "Tredjeby Kommune", CVR_C, "admin@c.dk");
        user(s, CVR_A, "admin2@a.dk", "administrator");
        user(s, CVR_A, "bo@a.dk", "aftager-behandler");
        user(s, CVR_A, "sus@a.dk", "aftager-behandler");
        user(s, CVR_A, "cli@a.dk", "aftager-behandler");
        user(s, OWNER, "dfv@skat.dk", "dataforvaltning");
        user(s, OWNER, "ops@skat.dk", "operator");
        static const char *const a_certs[] = {
            "a-upload", "a-der",  "a-roll1",  "a-roll2", "a-garbage", "a-dup", "a-status",
            "a-other",  "a-csrf", "a-nonadm", "a-sys",   "a-bind",    NULL};
        for (size_t i = 0; a_certs[i]; i++)
            issue(s, a_certs[i], CVR_A, NULL);
        issue(s, "b-cert", CVR_B, NULL);
        issue(s, "lev", CVR_L, NULL);
        issue(s, "b-acct", CVR_B, NULL);
        char pem[E2E_PATH_MAX];
        const char *reg[] = {"system", "register", "--org",  CVR_B,
                             "--name", "b-acct",   "--cert", e2e_pki_path(s, "b-acct.pem", pem),
                             NULL};
        must(s, reg);
        const char *old[] = {"--not-before", "2020-01-01T00:00:00Z", "--not-after",
                             "2020-12-31T00:00:00Z", NULL};
        issue(s, "a-expired", CVR_A, old);
        FILE *f = fopen(done, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

/* ---- files ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *out = malloc(*len + 1);
    memcpy(out, buf, *len);
    out[*len] = '\0';
    return out;
}

static char *pki_file(const struct e2e_server *s, const char *name, const char *ext, size_t *len)
{
    char rel[64], path[E2E_PATH_MAX];
    snprintf(rel, sizeof rel, "%s.%s", name, ext);
    return slurp(e2e_pki_path(s, rel, path), len);
}

static void cert_info(const struct e2e_server *s, const char *name, struct pki_cert_info *info)
{
    char rel[64], path[E2E_PATH_MAX];
    snprintf(rel, sizeof rel, "%s.pem", name);
    err_t err;
    cr_assert_eq(pki_cert_info_from_file(e2e_pki_path(s, rel, path), info, &err), 0, "%s", err.log);
}

/* ---- requests ---- */

static void login_as(const struct e2e_server *s, const char *username, char *session, size_t cap)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    size_t n = strcspn(set, ";");
    char cookie[256], body[512];
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)n, set);
    const char *eq = strchr(set, '=');
    snprintf(body, sizeof body, "csrf=%.*s&username=%s&password=correct+horse+battery",
             (int)(n - (size_t)(eq + 1 - set)), eq + 1, username);
    e2e_response_free(&r);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    struct e2e_request rq = {.method = "POST", .path = "/login", .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 303);
    set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    snprintf(session, cap, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
}

static long get(const struct e2e_server *s, const char *session, const char *path,
                struct e2e_response *r)
{
    struct e2e_request rq = {.path = path, .headers = (const char *const[]){session, NULL}};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

/* The session's CSRF token, read from a page's form. */
static void csrf_of(const struct e2e_server *s, const char *session, char *out, size_t cap)
{
    struct e2e_response r;
    get(s, session, "/organisation", &r);
    e2e_assert_status(s, &r, 200);
    const char *p = strstr(r.body, "name=\"csrf\" value=\"");
    cr_assert_not_null(p);
    p += strlen("name=\"csrf\" value=\"");
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\""), p);
    e2e_response_free(&r);
}

static long post_form(const struct e2e_server *s, const char *path, const char *session,
                      const char *body, struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", session, NULL};
    struct e2e_request rq = {.method = "POST", .path = path, .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
    return r->status;
}

struct part {
    const char *name;
    const char *filename; /* NULL: a text field */
    const char *data;
    size_t len; /* 0: strlen(data) */
};

/* A multipart/form-data post as a browser sends it. */
static long post_multipart(const struct e2e_server *s, const char *path, const char *session,
                           const struct part *parts, size_t n, struct e2e_response *r)
{
    size_t cap = 256;
    for (size_t i = 0; i < n; i++)
        cap += 256 + (parts[i].len ? parts[i].len : strlen(parts[i].data));
    char *body = malloc(cap);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(body + used, cap - used,
                                 "--" BOUND "\r\nContent-Disposition: form-data; name=\"%s\"",
                                 parts[i].name);
        if (parts[i].filename)
            used += (size_t)snprintf(body + used, cap - used,
                                     "; filename=\"%s\"\r\nContent-Type: "
                                     "application/octet-stream",
                                     parts[i].filename);
        used += (size_t)snprintf(body + used, cap - used, "\r\n\r\n");
        size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
        memcpy(body + used, parts[i].data, len);
        used += len;
        used += (size_t)snprintf(body + used, cap - used, "\r\n");
    }
    used += (size_t)snprintf(body + used, cap - used, "--" BOUND "--\r\n");
    const char *h[] = {"Content-Type: multipart/form-data; boundary=" BOUND, session, NULL};
    struct e2e_request rq = {
        .method = "POST", .path = path, .body = body, .body_len = used, .headers = h};
    int rc = e2e_request(s, &rq, r);
    free(body);
    cr_assert_eq(rc, 0, "%s", r->error);
    return r->status;
}

/* Registers system name from the certificate file cert (PEM) by upload. */
static void register_upload(const struct e2e_server *s, const char *session, const char *csrf,
                            const char *name, const char *cert)
{
    size_t len;
    char *pem = pki_file(s, cert, "pem", &len);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"name", NULL, name, 0},
                       {"certificate_file", "system.pem", pem, len},
                       {"certificate", NULL, "", 0}};
    struct e2e_response r;
    post_multipart(s, "/systemer", session, p, 4, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=registreret");
    e2e_response_free(&r);
    free(pem);
}

/* The id of system name on the administrator's /systemer page. */
static void system_id(const struct e2e_server *s, const char *session, const char *name, char *out)
{
    struct e2e_response r;
    get(s, session, "/systemer", &r);
    e2e_assert_status(s, &r, 200);
    char h2[128];
    snprintf(h2, sizeof h2, "<h2>%s</h2>", name);
    const char *p = strstr(r.body, h2);
    cr_assert_not_null(p, "no system %s", name);
    p = strstr(p, "System-id: ");
    cr_assert_not_null(p);
    p += strlen("System-id: ");
    snprintf(out, 37, "%.36s", p);
    e2e_response_free(&r);
}

/* POST /token with certificate name and the form's further fields extra
 * ("&org_cvr=..."): the status. */
static long token_status_with(const struct e2e_server *s, const char *name, const char *extra)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], f[64], body[256];
    snprintf(f, sizeof f, "%s.pem", name);
    snprintf(body, sizeof body, "client_id=api-gateway&scope=openid&grant_type=password%s", extra);
    struct e2e_request rq = {
        .method = "POST",
        .listener = "token",
        .path = "/token",
        .body = body,
        .headers =
            (const char *const[]){"Content-Type: application/x-www-form-urlencoded",
                                  "x-transaktion-id: 0b1c6a4e-1111-4222-8333-944455556666", NULL},
        .cert_file = e2e_pki_path(s, f, pem)};
    snprintf(f, sizeof f, "%s.key", name);
    rq.key_file = e2e_pki_path(s, f, key);
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    long st = r.status;
    e2e_response_free(&r);
    return st;
}

/* POST /token with certificate name: the status. */
static long token_status(const struct e2e_server *s, const char *name)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX], f[64];
    snprintf(f, sizeof f, "%s.pem", name);
    struct e2e_request rq = {
        .method = "POST",
        .listener = "token",
        .path = "/token",
        .body = "client_id=api-gateway&scope=openid&grant_type=password",
        .headers =
            (const char *const[]){"Content-Type: application/x-www-form-urlencoded",
                                  "x-transaktion-id: 0b1c6a4e-1111-4222-8333-944455556666", NULL},
        .cert_file = e2e_pki_path(s, f, pem)};
    snprintf(f, sizeof f, "%s.key", name);
    rq.key_file = e2e_pki_path(s, f, key);
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0, "%s", r.error);
    long st = r.status;
    e2e_response_free(&r);
    return st;
}

/* The table row of the certificate with fingerprint sha on /systemer. */
static void cert_row(const struct e2e_server *s, const char *session, const char *sha, char *row,
                     size_t cap)
{
    struct e2e_response r;
    get(s, session, "/systemer", &r);
    e2e_assert_status(s, &r, 200);
    const char *p = strstr(r.body, sha);
    cr_assert_not_null(p, "fingerprint %s not shown", sha);
    const char *start = p;
    while (start > r.body && strncmp(start, "<tr>", 4) != 0)
        start--;
    const char *end = strstr(p, "</tr>");
    cr_assert_not_null(end);
    snprintf(row, cap, "%.*s", (int)(end - start), start);
    e2e_response_free(&r);
}

/* A time as the pages show it: Danish time, "3. dec. 2026 kl. 09.08". */
static void danish(int64_t ms, char out[32])
{
    clock_format_dk(ms, out, 32);
}

static void assert_refused_upload(const char *cert, const char *ext, const char *name,
                                  const char *want)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    size_t len;
    char *data = cert ? pki_file(s, cert, ext, &len) : strdup("Dette er ikke et certifikat.\n");
    if (!cert)
        len = strlen(data);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"name", NULL, name, 0},
                       {"certificate_file", "fil.pem", data, len}};
    struct e2e_response r;
    post_multipart(s, "/systemer", session, p, 3, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, want), "message '%s' missing: %.3000s", want, r.body);
    cr_assert(strstr(r.body, "alert-error"), "the error summary");
    cr_assert(strstr(r.body, "href=\"#certificate_file\""), "the summary links to the field");
    cr_assert(strstr(r.body, "certificate_file-error"), "the message at the field");
    char kept[160];
    snprintf(kept, sizeof kept, "value=\"%s\"", name);
    cr_assert(strstr(r.body, kept), "the name typed is kept");
    char h2[128];
    snprintf(h2, sizeof h2, "<h2>%s</h2>", name);
    cr_assert(!strstr(r.body, h2), "no system registered");
    e2e_response_free(&r);
    free(data);
}

/* ---- uploads ---- */

Test(web_systems, upload_registers_a_system_and_shows_its_certificate)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    struct e2e_response r;
    get(s, session, "/systemer", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "enctype=\"multipart/form-data\""), "the form uploads a file");
    cr_assert(
        strstr(r.body, "type=\"file\" accept=\".pem,.crt,.cer,.der\" id=\"certificate_file\""),
        "a file input");
    cr_assert(strstr(r.body, "<label class=\"form-label\" for=\"certificate_file\">"), "labelled");
    e2e_response_free(&r);
    register_upload(s, session, csrf, "a-upload", "a-upload");
    struct pki_cert_info info;
    cert_info(s, "a-upload", &info);
    char row[4096], from[32], to[32];
    cert_row(s, session, info.sha256_hex, row, sizeof row);
    danish(info.not_before_ms, from);
    danish(info.not_after_ms, to);
    cr_assert(strstr(row, "CN=a-upload"), "subject: %s", row);
    cr_assert(strstr(row, from) && strstr(row, to), "validity: %s", row);
    cr_assert(strstr(row, "Aktivt"), "status: %s", row);
    cr_assert(strstr(row, "Spær certifikatet"), "a revoke link: %s", row);
    /* The system gets a token with it. */
    cr_assert_eq(token_status(s, "a-upload"), 200);
}

Test(web_systems, der_upload_rolls_over)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128], sid[40];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    register_upload(s, session, csrf, "der-sys", "a-roll1");
    system_id(s, session, "der-sys", sid);
    /* a-der as DER */
    size_t len;
    char *pem = pki_file(s, "a-der", "pem", &len);
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)len}, der;
    cr_assert_eq(gnutls_pem_base64_decode2("CERTIFICATE", &in, &der), 0);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"system", NULL, sid, 0},
                       {"certificate_file", "system.cer", (const char *)der.data, der.size}};
    struct e2e_response r;
    post_multipart(s, "/systemer/certifikat", session, p, 3, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=certifikat");
    e2e_response_free(&r);
    gnutls_free(der.data);
    free(pem);
    struct pki_cert_info info;
    char row[4096];
    cert_info(s, "a-der", &info);
    cert_row(s, session, info.sha256_hex, row, sizeof row);
    cr_assert(strstr(row, "CN=a-der"));
}

Test(web_systems, rollover_keeps_the_old_certificate_until_it_is_revoked)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128], sid[40];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    register_upload(s, session, csrf, "roll-sys", "a-roll2");
    system_id(s, session, "roll-sys", sid);
    /* The new certificate pasted as PEM text (the alternative to a file). */
    size_t len;
    char *pem = pki_file(s, "a-status", "pem", &len);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"system", NULL, sid, 0},
                       {"certificate_file", "", "", 0},
                       {"certificate", NULL, pem, len}};
    struct e2e_response r;
    post_multipart(s, "/systemer/certifikat", session, p, 4, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    free(pem);
    struct pki_cert_info old, neu;
    cert_info(s, "a-roll2", &old);
    cert_info(s, "a-status", &neu);
    cr_assert_eq(token_status(s, "a-roll2"), 200, "the old one works");
    cr_assert_eq(token_status(s, "a-status"), 200, "the new one works");
    /* The second step names the certificate; another organisation's is not shown. */
    char path[256];
    snprintf(path, sizeof path, "/systemer/certifikat/spaer?sha256=%s", old.sha256_hex);
    get(s, session, path, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, old.sha256_hex) && strstr(r.body, "Ja, spær certifikatet"));
    cr_assert(strstr(r.body, "name=\"csrf\""));
    e2e_response_free(&r);
    char body[256];
    snprintf(body, sizeof body, "csrf=%s&sha256=%s", csrf, old.sha256_hex);
    post_form(s, "/systemer/certifikat/spaer", session, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=certifikat-spaerret");
    e2e_response_free(&r);
    char row[4096];
    cert_row(s, session, old.sha256_hex, row, sizeof row);
    cr_assert(strstr(row, "Spærret") && !strstr(row, "Spær certifikatet"), "%s", row);
    cert_row(s, session, neu.sha256_hex, row, sizeof row);
    cr_assert(strstr(row, "Aktivt"), "%s", row);
    cr_assert_neq(token_status(s, "a-roll2"), 200, "the revoked one gets no token");
    cr_assert_eq(token_status(s, "a-status"), 200, "the new one still does");
    /* Revoking again: a precise refusal. */
    post_form(s, "/systemer/certifikat/spaer", session, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Certifikatet er allerede spærret."));
    e2e_response_free(&r);
}

Test(web_systems, garbage_file_is_refused_at_the_field)
{
    assert_refused_upload(NULL, NULL, "garbage-sys", "kunne ikke læses som et X.509-certifikat");
}

Test(web_systems, private_key_file_is_refused)
{
    assert_refused_upload("a-garbage", "key", "key-sys", "en anden slags PEM-blok");
}

Test(web_systems, cvr_mismatch_is_refused)
{
    assert_refused_upload("b-cert", "pem", "mismatch-sys",
                          "udstedt til CVR-nummer " CVR_B
                          ", men organisationens CVR-nummer er " CVR_A);
}

Test(web_systems, expired_certificate_is_refused)
{
    assert_refused_upload("a-expired", "pem", "expired-sys", "Certifikatet er udløbet");
}

Test(web_systems, duplicate_fingerprint_is_refused)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    register_upload(s, session, csrf, "dup-first", "a-dup");
    assert_refused_upload("a-dup", "pem", "dup-second", "Certifikatet er allerede registreret");
}

Test(web_systems, both_file_and_text_or_neither_is_refused)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    size_t len;
    char *pem = pki_file(s, "a-garbage", "pem", &len);
    struct part both[] = {{"csrf", NULL, csrf, 0},
                          {"name", NULL, "both-sys", 0},
                          {"certificate_file", "a.pem", pem, len},
                          {"certificate", NULL, pem, len}};
    struct e2e_response r;
    post_multipart(s, "/systemer", session, both, 4, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "ikke begge"));
    e2e_response_free(&r);
    struct part none[] = {
        {"csrf", NULL, csrf, 0}, {"name", NULL, "", 0}, {"certificate_file", "", "", 0}};
    post_multipart(s, "/systemer", session, none, 3, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Skriv systemets navn."));
    e2e_response_free(&r);
    free(pem);
    /* Pasted text: its problems are told at the text field, what was typed kept. */
    struct part text[] = {{"csrf", NULL, csrf, 0},
                          {"name", NULL, "pasted-sys", 0},
                          {"certificate_file", "", "", 0},
                          {"certificate", NULL, "<b>ikke et certifikat</b>", 0}};
    post_multipart(s, "/systemer", session, text, 4, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "href=\"#certificate\"") && strstr(r.body, "certificate-error"));
    cr_assert(strstr(r.body, "&lt;b&gt;ikke et certifikat&lt;/b&gt;</textarea>"), "kept, escaped");
    e2e_response_free(&r);
    char *other = pki_file(s, "b-cert", "pem", &len);
    text[3].data = other;
    text[3].len = len;
    post_multipart(s, "/systemer", session, text, 4, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "href=\"#certificate\"") && strstr(r.body, "udstedt til CVR-nummer"));
    e2e_response_free(&r);
    free(other);
}

Test(web_systems, malformed_multipart_is_refused_and_changes_nothing)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128];
    login_as(s, "admin@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "--" BOUND "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n%s\r\n"
                     "--" BOUND "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n"
                     "truncated-sys\r\n--" BOUND "\r\nContent-Disposition: form-data; "
                     "name=\"certificate_file\"; filename=\"x.pem\"\r\n\r\n-----BEGIN",
                     csrf);
    const char *h[] = {"Content-Type: multipart/form-data; boundary=" BOUND, session, NULL};
    struct e2e_request rq = {
        .method = "POST", .path = "/systemer", .body = body, .body_len = (size_t)n, .headers = h};
    struct e2e_response r;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Formularen kunne ikke læses: Formularen er afkortet"), "%.2000s",
              r.body);
    cr_assert(!strstr(r.body, "<h2>truncated-sys</h2>"));
    e2e_response_free(&r);
    /* A boundary the body does not use. */
    const char *h2[] = {"Content-Type: multipart/form-data; boundary=other", session, NULL};
    rq.headers = h2;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "begynder ikke med sin afgrænser"));
    e2e_response_free(&r);
    /* Too large for the route: refused before any page code runs. */
    size_t big = 200 * 1024;
    char *huge = malloc(big);
    memset(huge, 'x', big);
    rq.headers = h;
    rq.body = huge;
    rq.body_len = big;
    cr_assert_eq(e2e_request(s, &rq, &r), 0);
    e2e_assert_status(s, &r, 413);
    e2e_response_free(&r);
    free(huge);
}

Test(web_systems, missing_or_wrong_csrf_token_is_refused)
{
    const struct e2e_server *s = world();
    char session[256];
    login_as(s, "admin@a.dk", session, sizeof session);
    size_t len;
    char *pem = pki_file(s, "a-csrf", "pem", &len);
    struct part p[] = {{"name", NULL, "csrf-sys", 0}, {"certificate_file", "a.pem", pem, len}};
    struct e2e_response r;
    post_multipart(s, "/systemer", session, p, 2, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    struct part q[] = {{"csrf", NULL, "forged", 0},
                       {"name", NULL, "csrf-sys", 0},
                       {"certificate_file", "a.pem", pem, len}};
    post_multipart(s, "/systemer", session, q, 3, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    free(pem);
    get(s, session, "/systemer", &r);
    cr_assert(!strstr(r.body, "<h2>csrf-sys</h2>"), "nothing registered");
    e2e_response_free(&r);
    /* The other forms of these pages too. */
    static const char *const posts[][2] = {
        {"/systemer/status", "system=x&handling=suspender"},
        {"/systemer/spaer", "system=x"},
        {"/fuldmagter", "se=" SE_A "&grantee=" CVR_B "&services=Momsangivelse&until=2099-12-31"},
        {"/fuldmagter/tilbagekald", "authorisation=x"},
        {"/systemer/certifikat/spaer", "sha256=x"},
        {"/organisation/bruger/status", "user=bo%40a.dk&handling=suspender&begrundelse=x"},
        {"/organisationer/status", "org=" CVR_C "&handling=suspender&begrundelse=x"},
    };
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        post_form(s, posts[i][0], session, posts[i][1], &r);
        e2e_assert_status(s, &r, 403);
        e2e_response_free(&r);
    }
}

/* ---- role refusals ---- */

Test(web_systems, non_administrator_is_refused_by_the_module)
{
    const struct e2e_server *s = world();
    char adm[256], acsrf[128], session[256], csrf[128];
    login_as(s, "admin@a.dk", adm, sizeof adm);
    csrf_of(s, adm, acsrf, sizeof acsrf);
    register_upload(s, adm, acsrf, "nonadm-sys", "a-nonadm");
    char sid[40];
    system_id(s, adm, "nonadm-sys", sid);
    struct pki_cert_info info;
    cert_info(s, "a-nonadm", &info);

    login_as(s, "bo@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    struct e2e_response r;
    get(s, session, "/systemer", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(!strstr(r.body, "Registrér system") && !strstr(r.body, "Spær certifikatet"),
              "no forms for a processor");
    e2e_response_free(&r);
    size_t len;
    char *pem = pki_file(s, "a-other", "pem", &len);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"name", NULL, "bo-sys", 0},
                       {"certificate_file", "a.pem", pem, len}};
    post_multipart(s, "/systemer", session, p, 3, &r);
    e2e_assert_status(s, &r, 403);
    cr_assert(strstr(r.body, "Du har ikke rettighed"));
    e2e_response_free(&r);
    struct part q[] = {
        {"csrf", NULL, csrf, 0}, {"system", NULL, sid, 0}, {"certificate_file", "a.pem", pem, len}};
    post_multipart(s, "/systemer/certifikat", session, q, 3, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    free(pem);
    char body[256];
    snprintf(body, sizeof body, "csrf=%s&sha256=%s", csrf, info.sha256_hex);
    post_form(s, "/systemer/certifikat/spaer", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=suspender", csrf, sid);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s", csrf, sid);
    post_form(s, "/systemer/spaer", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&user=sus%%40a.dk&handling=suspender&begrundelse=x", csrf);
    post_form(s, "/organisation/bruger/status", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    /* The recipient cannot suspend organisations. */
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=suspender&begrundelse=x", csrf, CVR_B);
    post_form(s, "/organisationer/status", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    /* Nothing changed. */
    cr_assert_eq(token_status(s, "a-nonadm"), 200);
}

Test(web_systems, other_organisation_is_refused)
{
    const struct e2e_server *s = world();
    char adm[256], acsrf[128], session[256], csrf[128], sid[40];
    login_as(s, "admin@a.dk", adm, sizeof adm);
    csrf_of(s, adm, acsrf, sizeof acsrf);
    register_upload(s, adm, acsrf, "other-sys", "a-other");
    system_id(s, adm, "other-sys", sid);
    struct pki_cert_info info;
    cert_info(s, "a-other", &info);

    login_as(s, "admin@b.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    struct e2e_response r;
    char path[256], body[256];
    snprintf(path, sizeof path, "/systemer/certifikat/spaer?sha256=%s", info.sha256_hex);
    get(s, session, path, &r);
    e2e_assert_status(s, &r, 404);
    cr_assert(!strstr(r.body, "other-sys"), "another organisation's system is not shown");
    e2e_response_free(&r);
    snprintf(path, sizeof path, "/systemer/spaer?system=%s", sid);
    get(s, session, path, &r);
    e2e_assert_status(s, &r, 404);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&sha256=%s", csrf, info.sha256_hex);
    post_form(s, "/systemer/certifikat/spaer", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=suspender", csrf, sid);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s", csrf, sid);
    post_form(s, "/systemer/spaer", session, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    size_t len;
    char *pem = pki_file(s, "b-cert", "pem", &len);
    struct part q[] = {
        {"csrf", NULL, csrf, 0}, {"system", NULL, sid, 0}, {"certificate_file", "b.pem", pem, len}};
    post_multipart(s, "/systemer/certifikat", session, q, 3, &r);
    /* B's certificate passes the page's check against B; the module refuses. */
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    free(pem);
    snprintf(body, sizeof body, "csrf=%s&user=bo%%40a.dk&handling=suspender&begrundelse=x", csrf);
    post_form(s, "/organisation/bruger/status", session, body, &r);
    e2e_assert_status(s, &r, 403);
    cr_assert(!strstr(r.body, "bo@a.dk"), "another organisation's user is not shown");
    e2e_response_free(&r);
    get(s, session, "/organisation/bruger/status?user=bo%40a.dk", &r);
    e2e_assert_status(s, &r, 404);
    e2e_response_free(&r);
    cr_assert_eq(token_status(s, "a-other"), 200, "A's system still works");
}

/* ---- suspending ---- */

Test(web_systems, system_is_suspended_reactivated_and_revoked)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128], sid[40], body[256];
    login_as(s, "admin2@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    register_upload(s, session, csrf, "status-sys", "a-sys");
    system_id(s, session, "status-sys", sid);
    struct e2e_response r;
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=suspender", csrf, sid);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=suspenderet");
    e2e_response_free(&r);
    cr_assert_neq(token_status(s, "a-sys"), 200, "a suspended system gets no token");
    get(s, session, "/systemer?ok=suspenderet", &r);
    cr_assert(strstr(r.body, "Systemet er suspenderet"));
    cr_assert(strstr(r.body, "value=\"genaktiver\">Genaktivér status-sys"));
    e2e_response_free(&r);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Systemet har allerede den status."));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=genaktiver", csrf, sid);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    cr_assert_eq(token_status(s, "a-sys"), 200, "re-activated");
    /* Revoking: the second step, then for good. */
    char path[128];
    snprintf(path, sizeof path, "/systemer/spaer?system=%s", sid);
    get(s, session, path, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Ja, spær systemet") && strstr(r.body, "kan ikke fortrydes"));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s", csrf, sid);
    post_form(s, "/systemer/spaer", session, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    cr_assert_neq(token_status(s, "a-sys"), 200, "a revoked system gets no token");
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=genaktiver", csrf, sid);
    post_form(s, "/systemer/status", session, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "en spærring kan ikke fortrydes"));
    e2e_response_free(&r);
}

Test(web_systems, administrator_requires_and_lifts_token_binding)
{
    const struct e2e_server *s = world();
    char session[256], csrf[128], sid[40], body[256];
    login_as(s, "admin2@a.dk", session, sizeof session);
    csrf_of(s, session, csrf, sizeof csrf);
    register_upload(s, session, csrf, "bind-sys", "a-bind");
    system_id(s, session, "bind-sys", sid);
    struct e2e_response r;
    get(s, session, "/systemer", &r);
    cr_assert(strstr(r.body, "value=\"kraev\">Kræv tokenbinding for bind-sys"), "%s", r.body);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=kraev", csrf, sid);
    post_form(s, "/systemer/binding", session, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=binding-kraeves");
    e2e_response_free(&r);
    get(s, session, "/systemer?ok=binding-kraeves", &r);
    cr_assert(strstr(r.body, "Tokenbinding: <strong>kræves</strong>"));
    cr_assert(strstr(r.body, "value=\"fritag\">Kræv ikke tokenbinding for bind-sys"));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=noget", csrf, sid);
    post_form(s, "/systemer/binding", session, body, &r);
    e2e_assert_status(s, &r, 400);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=fritag", csrf, sid);
    post_form(s, "/systemer/binding", session, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    get(s, session, "/systemer", &r);
    cr_assert(strstr(r.body, "Tokenbinding: <strong>kræves ikke</strong>"));
    e2e_response_free(&r);
    /* a user who is no administrator is refused by the module */
    char bo[256], bcsrf[128];
    login_as(s, "bo@a.dk", bo, sizeof bo);
    csrf_of(s, bo, bcsrf, sizeof bcsrf);
    snprintf(body, sizeof body, "csrf=%s&system=%s&handling=kraev", bcsrf, sid);
    post_form(s, "/systemer/binding", bo, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

Test(web_systems, suspended_user_loses_its_session_and_cannot_log_in)
{
    const struct e2e_server *s = world();
    char adm[256], csrf[128], victim[256], body[512];
    login_as(s, "admin@a.dk", adm, sizeof adm);
    csrf_of(s, adm, csrf, sizeof csrf);
    login_as(s, "sus@a.dk", victim, sizeof victim);
    char untouched[256]; /* a second session, not used while suspended */
    login_as(s, "sus@a.dk", untouched, sizeof untouched);
    struct e2e_response r;
    get(s, victim, "/organisation", &r);
    e2e_assert_status(s, &r, 200);
    e2e_response_free(&r);
    /* The page lists it with a way to suspend it; the second step asks why. */
    get(s, adm, "/organisation", &r);
    e2e_assert_status(s, &r, 200);
    const char *link = strstr(r.body, "/organisation/bruger/status?user=");
    cr_assert_not_null(link, "a suspend link");
    e2e_response_free(&r);
    get(s, adm, "/organisation/bruger/status?user=sus%40a.dk", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "sus@a.dk") && strstr(r.body, "for=\"begrundelse\""));
    e2e_response_free(&r);
    /* No reason: refused at the field. */
    snprintf(body, sizeof body, "csrf=%s&user=sus%%40a.dk&handling=suspender&begrundelse=", csrf);
    post_form(s, "/organisation/bruger/status", adm, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "href=\"#begrundelse\"") && strstr(r.body, "begrundelse-error"));
    e2e_response_free(&r);
    snprintf(body, sizeof body,
             "csrf=%s&user=sus%%40a.dk&handling=suspender&begrundelse=Fratr%%C3%%A5dt", csrf);
    post_form(s, "/organisation/bruger/status", adm, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/organisation?ok=suspenderet");
    e2e_response_free(&r);
    /* Its session has ended; it cannot log in. */
    get(s, victim, "/organisation", &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/login?udloebet=1");
    e2e_response_free(&r);
    char cookie[256], token[128];
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    const char *set = e2e_header(&r, "Set-Cookie");
    size_t n = strcspn(set, ";");
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)n, set);
    snprintf(token, sizeof token, "%.*s", (int)(n - (size_t)(strchr(set, '=') + 1 - set)),
             strchr(set, '=') + 1);
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&username=sus%%40a.dk&password=correct+horse+battery",
             token);
    post_form(s, "/login", cookie, body, &r);
    e2e_assert_status(s, &r, 401);
    e2e_response_free(&r);
    get(s, adm, "/organisation", &r);
    cr_assert(strstr(r.body, "Suspenderet"));
    e2e_response_free(&r);
    /* Re-activation lets it in again. */
    snprintf(body, sizeof body, "csrf=%s&user=sus%%40a.dk&handling=genaktiver", csrf);
    post_form(s, "/organisation/bruger/status", adm, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    login_as(s, "sus@a.dk", victim, sizeof victim);
    /* Its sessions ended with the suspension, not at their next use. */
    get(s, untouched, "/organisation", &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    /* The administrator cannot suspend itself. */
    snprintf(body, sizeof body, "csrf=%s&user=admin%%40a.dk&handling=suspender&begrundelse=x",
             csrf);
    post_form(s, "/organisation/bruger/status", adm, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Du kan ikke suspendere dig selv."));
    e2e_response_free(&r);
}

Test(web_systems, data_owner_suspends_and_reactivates_an_organisation)
{
    const struct e2e_server *s = world();
    char own[256], csrf[128], member[256], body[512], path[128];
    login_as(s, "dfv@skat.dk", own, sizeof own);
    csrf_of(s, own, csrf, sizeof csrf);
    login_as(s, "admin@c.dk", member, sizeof member);
    struct e2e_response r;
    get(s, own, "/organisationer", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "/organisationer/status?org="), "a suspend link");
    cr_assert(strstr(r.body, "(dataejeren)"), "the data owner itself has none");
    e2e_response_free(&r);
    snprintf(path, sizeof path, "/organisationer/status?org=%s", CVR_C);
    get(s, own, path, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Tredjeby Kommune") && strstr(r.body, "Suspendér organisationen"));
    const char *idp = strstr(r.body, "name=\"org\" value=\"");
    cr_assert_not_null(idp);
    char oid[40];
    snprintf(oid, sizeof oid, "%.36s", idp + strlen("name=\"org\" value=\""));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=suspender&begrundelse=", csrf, oid);
    post_form(s, "/organisationer/status", own, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Skriv en begrundelse for suspenderingen."));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=suspender&begrundelse=Kontrol", csrf, oid);
    post_form(s, "/organisationer/status", own, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/organisationer?ok=suspenderet");
    e2e_response_free(&r);
    get(s, member, "/organisation", &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    get(s, own, "/organisationer", &r);
    cr_assert(strstr(r.body, "value=\"genaktiver\">Genaktivér<span class=\"sr-only\"> Tredjeby"));
    e2e_response_free(&r);
    /* The data owner itself cannot be suspended: said in Danish. */
    char owner_id[40];
    get(s, own, "/organisationer/status?org=" OWNER, &r);
    e2e_assert_status(s, &r, 200);
    idp = strstr(r.body, "name=\"org\" value=\"");
    snprintf(owner_id, sizeof owner_id, "%.36s", idp + strlen("name=\"org\" value=\""));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=suspender&begrundelse=x", csrf, owner_id);
    post_form(s, "/organisationer/status", own, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "dataejeren) kan ikke suspenderes"));
    e2e_response_free(&r);
    /* An operator (no dataforvaltning) is refused by the module. */
    char ops[256], ocsrf[128];
    login_as(s, "ops@skat.dk", ops, sizeof ops);
    csrf_of(s, ops, ocsrf, sizeof ocsrf);
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=genaktiver", ocsrf, oid);
    post_form(s, "/organisationer/status", ops, body, &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
    /* Re-activation. */
    snprintf(body, sizeof body, "csrf=%s&org=%s&handling=genaktiver", csrf, oid);
    post_form(s, "/organisationer/status", own, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    login_as(s, "admin@c.dk", member, sizeof member);
}

/* The console's `dupla user suspend|activate`, against the running server's store. */
Test(web_systems, console_suspends_and_activates_a_user)
{
    const struct e2e_server *s = world();
    char session[256];
    login_as(s, "cli@a.dk", session, sizeof session);
    const char *suspend[] = {"user", "suspend", "cli@a.dk", "--reason", "on leave", NULL};
    must(s, suspend);
    struct e2e_response r;
    get(s, session, "/organisation", &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    char log[E2E_PATH_MAX];
    const char *again[] = {"user", "suspend", "cli@a.dk", "--config", s->config, NULL};
    cr_assert_eq(e2e_run_dupla(again, e2e_path(s, "cli.log", log)), 1, "already suspended");
    const char *activate[] = {"user", "activate", "cli@a.dk", NULL};
    must(s, activate);
    login_as(s, "cli@a.dk", session, sizeof session);
}

/* ---- supplier systems (#21.3) ---- */

/* Registers the supplier's certificate cert as system name of the session's
 * organisation through the supplier form; the answer into r. */
static long register_supplier(const struct e2e_server *s, const char *session, const char *csrf,
                              const char *name, const char *supplier_cvr, const char *cert,
                              struct e2e_response *r)
{
    size_t len;
    char *pem = pki_file(s, cert, "pem", &len);
    struct part p[] = {{"csrf", NULL, csrf, 0},
                       {"supplier_system", NULL, name, 0},
                       {"supplier_cvr", NULL, supplier_cvr, 0},
                       {"supplier_name", NULL, "Leverandør A/S", 0},
                       {"supplier_certificate_file", "lev.pem", pem, len},
                       {"supplier_certificate", NULL, "", 0}};
    long st = post_multipart(s, "/systemer/leverandoer", session, p, 6, r);
    free(pem);
    return st;
}

Test(web_systems, supplier_certificate_serves_two_organisations_until_one_revokes)
{
    const struct e2e_server *s = world();
    char sa[256], ca[128], sb[256], cb[128], sid[40], body[256];
    login_as(s, "admin@a.dk", sa, sizeof sa);
    csrf_of(s, sa, ca, sizeof ca);
    login_as(s, "admin@b.dk", sb, sizeof sb);
    csrf_of(s, sb, cb, sizeof cb);
    struct e2e_response r;
    get(s, sa, "/systemer", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "action=\"/systemer/leverandoer\""), "the supplier form");
    cr_assert(strstr(r.body, "<label class=\"form-label\" for=\"supplier_cvr\">"), "labelled");
    e2e_response_free(&r);
    register_supplier(s, sa, ca, "lev-a", CVR_L, "lev", &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/systemer?ok=leverandoer");
    e2e_response_free(&r);
    register_supplier(s, sb, cb, "lev-b", CVR_L, "lev", &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    get(s, sa, "/systemer?ok=leverandoer", &r);
    cr_assert(strstr(r.body, "Leverandørens system er registreret."));
    cr_assert(strstr(r.body, "Leverandør A/S</strong> (CVR-nummer " CVR_L ")"), "the supplier");
    cr_assert(strstr(r.body, "Spær registreringen af lev-a"));
    e2e_response_free(&r);
    cr_assert_eq(token_status_with(s, "lev", "&org_cvr=" CVR_A), 200);
    cr_assert_eq(token_status_with(s, "lev", "&org_cvr=" CVR_B), 200);
    /* A revokes its registration: the second step says whom it concerns. */
    system_id(s, sa, "lev-a", sid);
    char path[128];
    snprintf(path, sizeof path, "/systemer/spaer?system=%s", sid);
    get(s, sa, path, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Spær leverandørens system") &&
              strstr(r.body, "Leverandørens andre kunder berøres ikke"));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&system=%s", ca, sid);
    post_form(s, "/systemer/spaer", sa, body, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
    cr_assert_neq(token_status_with(s, "lev", "&org_cvr=" CVR_A), 200, "A's registration ended");
    cr_assert_eq(token_status_with(s, "lev", "&org_cvr=" CVR_B), 200, "B's still works");
}

Test(web_systems, supplier_form_refusals_are_said_at_the_field)
{
    const struct e2e_server *s = world();
    char sa[256], ca[128];
    login_as(s, "admin@a.dk", sa, sizeof sa);
    csrf_of(s, sa, ca, sizeof ca);
    struct e2e_response r;
    /* The certificate is not the supplier's. */
    register_supplier(s, sa, ca, "lev-x", CVR_L, "b-cert", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(
        strstr(r.body, "udstedt til CVR-nummer " CVR_B ", men leverandørens CVR-nummer er " CVR_L),
        "%.3000s", r.body);
    cr_assert(strstr(r.body, "href=\"#supplier_certificate_file\""));
    cr_assert(strstr(r.body, "value=\"lev-x\""), "the name typed is kept");
    e2e_response_free(&r);
    /* No CVR check digit; the organisation's own CVR. */
    register_supplier(s, sa, ca, "lev-x", "50000002", "lev", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "supplier_cvr-error") && strstr(r.body, "gyldigt kontrolciffer"));
    e2e_response_free(&r);
    register_supplier(s, sa, ca, "lev-x", CVR_A, "a-dup", &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Leverandøren er en anden end organisationen selv"));
    e2e_response_free(&r);
    get(s, sa, "/systemer", &r);
    cr_assert(!strstr(r.body, "<h2>lev-x</h2>"), "nothing registered");
    e2e_response_free(&r);
    /* A non-administrator does not see the form and is refused by the module. */
    char sbo[256], cbo[128];
    login_as(s, "bo@a.dk", sbo, sizeof sbo);
    csrf_of(s, sbo, cbo, sizeof cbo);
    get(s, sbo, "/systemer", &r);
    cr_assert(!strstr(r.body, "/systemer/leverandoer"));
    e2e_response_free(&r);
    register_supplier(s, sbo, cbo, "lev-x", CVR_L, "lev", &r);
    e2e_assert_status(s, &r, 403);
    e2e_response_free(&r);
}

/* ---- authorisations (#21.4) ---- */

/* The id of the newest authorisation on /fuldmagter (its revoke link). */
static void newest_authorisation(const struct e2e_server *s, const char *session, char *out)
{
    struct e2e_response r;
    get(s, session, "/fuldmagter", &r);
    e2e_assert_status(s, &r, 200);
    const char *p = strstr(r.body, "/fuldmagter/tilbagekald?authorisation=");
    cr_assert_not_null(p, "no revoke link: %.3000s", r.body);
    p += strlen("/fuldmagter/tilbagekald?authorisation=");
    snprintf(out, 40, "%.*s", (int)strcspn(p, "\""), p);
    e2e_response_free(&r);
}

Test(web_systems, company_grants_an_authorisation_sees_it_and_revokes_it)
{
    const struct e2e_server *s = world();
    char sa[256], ca[128], sb[256], id[40], body[512];
    login_as(s, "admin2@a.dk", sa, sizeof sa);
    csrf_of(s, sa, ca, sizeof ca);
    struct e2e_response r;
    get(s, sa, "/fuldmagter", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "<legend class=\"form-label\">Tjenester</legend>"), "a fieldset");
    cr_assert(strstr(r.body, "value=\"Momsangivelse\""), "the catalogue's services");
    cr_assert(strstr(r.body, "aria-current=\"page\" href=\"/fuldmagter\""), "in the menu");
    e2e_response_free(&r);
    cr_assert_neq(token_status_with(s, "b-acct", "&onbehalfofse=" SE_A), 200, "not yet");
    snprintf(body, sizeof body,
             "csrf=%s&se=" SE_A "&grantee=" CVR_B "&grantee_system=b-acct"
             "&services=Momsangivelse&services=Aarsopgoerelse&until=2099-12-31",
             ca);
    post_form(s, "/fuldmagter", sa, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/fuldmagter?ok=givet");
    e2e_response_free(&r);
    get(s, sa, "/fuldmagter?ok=givet", &r);
    cr_assert(strstr(r.body, "Fuldmagten er givet."));
    cr_assert(strstr(r.body, "<td>" CVR_B "</td><td>b-acct</td><td>" SE_A
                             "</td><td>Momsangivelse, Aarsopgoerelse</td><td>2099-12-31</td>"
                             "<td>Gyldig</td>"),
              "the third party's system by its name: %.4000s", r.body);
    cr_assert(strstr(r.body, "Fuldmagternes historik") && strstr(r.body, "<td>Givet</td>"));
    cr_assert(strstr(r.body, "<td>" CVR_A "</td><td>" CVR_B "</td><td>" SE_A "</td></tr>"),
              "the history names both parties and the SE number");
    e2e_response_free(&r);
    /* The third party sees it among those received, without a form. */
    login_as(s, "admin@b.dk", sb, sizeof sb);
    get(s, sb, "/fuldmagter", &r);
    cr_assert(strstr(r.body, "Fuldmagter, organisationen har fået"));
    cr_assert(strstr(r.body, "<td>" CVR_A "</td>"), "the company");
    e2e_response_free(&r);
    cr_assert_eq(token_status_with(s, "b-acct", "&onbehalfofse=" SE_A), 200, "authorised");
    /* Revoke: the second step, then from the next call on. */
    newest_authorisation(s, sa, id);
    char path[128];
    snprintf(path, sizeof path, "/fuldmagter/tilbagekald?authorisation=%s", id);
    get(s, sa, path, &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(strstr(r.body, "Ja, tilbagekald fuldmagten") && strstr(r.body, CVR_B));
    e2e_response_free(&r);
    snprintf(body, sizeof body, "csrf=%s&authorisation=%s", ca, id);
    post_form(s, "/fuldmagter/tilbagekald", sa, body, &r);
    e2e_assert_status(s, &r, 303);
    cr_assert_str_eq(e2e_header(&r, "Location"), "/fuldmagter?ok=tilbagekaldt");
    e2e_response_free(&r);
    cr_assert_neq(token_status_with(s, "b-acct", "&onbehalfofse=" SE_A), 200, "revoked");
    get(s, sa, "/fuldmagter", &r);
    cr_assert(strstr(r.body, "<td>Tilbagekaldt</td>") &&
                  strstr(r.body, "<td>Tilbagekaldt</td><td>"),
              "the state and the history");
    e2e_response_free(&r);
    post_form(s, "/fuldmagter/tilbagekald", sa, body, &r);
    e2e_assert_status(s, &r, 400);
    cr_assert(strstr(r.body, "Fuldmagten er allerede tilbagekaldt."));
    e2e_response_free(&r);
}

Test(web_systems, authorisation_form_refusals_are_said_at_the_field)
{
    const struct e2e_server *s = world();
    char sa[256], ca[128], body[512];
    login_as(s, "admin@a.dk", sa, sizeof sa);
    csrf_of(s, sa, ca, sizeof ca);
    static const struct {
        const char *fields, *field, *msg;
    } cases[] = {
        {"se=123&grantee=" CVR_B "&services=Momsangivelse&until=2099-12-31", "se", "8 cifre"},
        {"se=" SE_A "&grantee=" CVR_A "&services=Momsangivelse&until=2099-12-31", "grantee",
         "en anden organisation end virksomheden selv"},
        {"se=" SE_A "&grantee=" CVR_B "&until=2099-12-31", "services", "mindst én tjeneste"},
        {"se=" SE_A "&grantee=" CVR_B "&services=Momsangivelse&until=2020-01-01", "until",
         "før i dag"},
        {"se=" SE_A "&grantee=" CVR_B "&services=Momsangivelse&until=31.12.2099", "until",
         "åååå-mm-dd"},
        /* the module's: a CVR nobody has, a system the third party lacks */
        {"se=" SE_A "&grantee=" CVR_L "&services=Momsangivelse&until=2099-12-31", "grantee",
         "er ikke tilsluttet platformen"},
        {"se=" SE_A "&grantee=" CVR_B "&grantee_system=ingen&services=Momsangivelse"
         "&until=2099-12-31",
         "grantee_system", "intet aktivt aftagersystem"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "csrf=%s&%s", ca, cases[i].fields);
        struct e2e_response r;
        post_form(s, "/fuldmagter", sa, body, &r);
        e2e_assert_status(s, &r, 400);
        char anchor[64], at[64];
        snprintf(anchor, sizeof anchor, "href=\"#%s\"", cases[i].field);
        snprintf(at, sizeof at, "id=\"%s-error\"", cases[i].field);
        cr_assert(strstr(r.body, anchor) && strstr(r.body, at), "case %zu: %s", i, cases[i].field);
        cr_assert(strstr(r.body, cases[i].msg), "case %zu: '%s' missing", i, cases[i].msg);
        e2e_response_free(&r);
    }
    /* A user who is not the administrator sees no form and is refused. */
    char sbo[256], cbo[128];
    login_as(s, "bo@a.dk", sbo, sizeof sbo);
    csrf_of(s, sbo, cbo, sizeof cbo);
    struct e2e_response r;
    get(s, sbo, "/fuldmagter", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(!strstr(r.body, "Giv en fuldmagt"));
    e2e_response_free(&r);
    snprintf(body, sizeof body,
             "csrf=%s&se=" SE_A "&grantee=" CVR_B "&services=Momsangivelse&until=2099-12-31", cbo);
    post_form(s, "/fuldmagter", sbo, body, &r);
    e2e_assert_status(s, &r, 403);
    cr_assert(strstr(r.body, "kun virksomhedens administrator"));
    e2e_response_free(&r);
}
