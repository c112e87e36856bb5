/* End-to-end: the agreement pages of the web self-service against `dupla
 * serve`: editing a draft, a change request on an approved agreement (the
 * approved version serves until the change is approved, then the new one),
 * the data owner's review queue with changes marked, withdrawing and
 * terminating; and a refusal for each (wrong role, wrong organisation,
 * wrong state, missing CSRF token), every refusal a Danish page. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "harness.h"

#define OWNER_CVR "19552101"
#define ORG_CVR   "12345674"
#define OTHER_CVR "87654303"
#define PASSWD    "correct horse battery"

/* The cast (all with PASSWD). */
#define REVIEWER  "gennemgang@skat.dk"
#define PROC      "behandler@aftaleby.dk"
#define SIGNER    "underskriver@aftaleby.dk"
#define ADMIN     "admin@aftaleby.dk"
#define OTHERPROC "behandler@andetsted.dk"

E2E_SHARED_SERVERS({"main", {0}});

struct session {
    char cookie[256]; /* "Cookie: dupla_session=..." */
    char csrf[128];
};

static void set_password(const struct e2e_server *s, const char *user)
{
    char pwfile[E2E_PATH_MAX];
    e2e_path(s, "pw.txt", pwfile);
    const char *pw[] = {"user", "set-password", user, "--password-file", pwfile, NULL};
    cr_assert_eq(e2e_cli(s, pw), 0, "set-password %s", user);
}

static void add_user(const struct e2e_server *s, const char *org, const char *user,
                     const char *role1, const char *role2)
{
    const char *create[] = {"user",   "create",     "--org",
                            org,      "--username", user,
                            "--role", role1,        role2 ? "--role" : NULL,
                            role2,    NULL};
    cr_assert_eq(e2e_cli(s, create), 0, "user create %s", user);
    set_password(s, user);
}

/* The shared server with the data owner's reviewer, an organisation with
 * its administrator, a processor and a signatory, and another organisation
 * with a processor (made once, under a lock). */
static const struct e2e_server *world(void)
{
    const struct e2e_server *s = e2e_shared("main");
    char lock[E2E_PATH_MAX], done[E2E_PATH_MAX], pwfile[E2E_PATH_MAX];
    int fd = open(e2e_path(s, "world.lock", lock), O_CREAT | O_RDWR, 0600);
    flock(fd, LOCK_EX);
    if (access(e2e_path(s, "world.done", done), F_OK) != 0) {
        FILE *f = fopen(e2e_path(s, "pw.txt", pwfile), "w");
        fprintf(f, "%s\n", PASSWD);
        fclose(f);
        add_user(s, OWNER_CVR, REVIEWER, "dataforvaltning", NULL);
        const char *org[] = {
            "org",   "create",          "--name",           "Aftaleby Kommune", "--cvr",
            ORG_CVR, "--contact-email", "post@aftaleby.dk", "--admin",          ADMIN,
            NULL};
        cr_assert_eq(e2e_cli(s, org), 0);
        set_password(s, ADMIN);
        add_user(s, ORG_CVR, PROC, "aftager-behandler", NULL);
        add_user(s, ORG_CVR, SIGNER, "aftager-underskriver", NULL);
        const char *other[] = {"org",
                               "create",
                               "--name",
                               "Andetsted A/S",
                               "--cvr",
                               OTHER_CVR,
                               "--contact-email",
                               "post@andetsted.dk",
                               "--admin",
                               "admin@andetsted.dk",
                               NULL};
        cr_assert_eq(e2e_cli(s, other), 0);
        add_user(s, OTHER_CVR, OTHERPROC, "aftager-behandler", "aftager-underskriver");
        f = fopen(done, "w");
        fclose(f);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

/* ---- requests as a logged-in user ---- */

static void request(const struct e2e_server *s, const struct session *who, const char *method,
                    const char *path, const char *body, struct e2e_response *r)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded",
                       who ? who->cookie : "X-None: 1", NULL};
    struct e2e_request rq = {.method = method, .path = path, .body = body, .headers = h};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "%s", r->error);
}

static void get(const struct e2e_server *s, const struct session *who, const char *path,
                struct e2e_response *r)
{
    request(s, who, "GET", path, NULL, r);
}

/* Copies the text after needle up to the next quote into out; false if absent. */
static bool after(const char *text, const char *needle, char *out, size_t cap)
{
    const char *p = text ? strstr(text, needle) : NULL;
    if (!p)
        return false;
    p += strlen(needle);
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\"&"), p);
    return true;
}

static void login(const struct e2e_server *s, const char *user, struct session *out)
{
    struct e2e_response r;
    cr_assert_eq(e2e_get(s, "api", "/login", &r), 0);
    const char *set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    char cookie[256], token[128], body[512];
    size_t n = strcspn(set, ";");
    snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)n, set);
    cr_assert(after(r.body, "name=\"csrf\" value=\"", token, sizeof token));
    e2e_response_free(&r);
    char *u = curl_easy_escape(NULL, user, 0);
    snprintf(body, sizeof body, "csrf=%s&username=%s&password=correct+horse+battery", token, u);
    curl_free(u);
    struct session pre;
    snprintf(pre.cookie, sizeof pre.cookie, "%s", cookie);
    request(s, &pre, "POST", "/login", body, &r);
    e2e_assert_status(s, &r, 303);
    set = e2e_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    snprintf(out->cookie, sizeof out->cookie, "Cookie: %.*s", (int)strcspn(set, ";"), set);
    e2e_response_free(&r);
    get(s, out, "/aftaler", &r);
    e2e_assert_status(s, &r, 200);
    cr_assert(after(r.body, "name=\"csrf\" value=\"", out->csrf, sizeof out->csrf),
              "the page carries the session's CSRF token");
    e2e_response_free(&r);
}

/* A form body: the session's CSRF token (unless csrf is false) and the
 * name/value pairs (NULL-terminated), each value percent-encoded. */
static char *form(const struct session *who, bool csrf, const char *const *pairs)
{
    size_t cap = 16384, len = 0;
    char *b = malloc(cap);
    b[0] = '\0';
    if (csrf)
        len += (size_t)snprintf(b, cap, "csrf=%s", who->csrf);
    for (size_t i = 0; pairs[i]; i += 2) {
        char *v = curl_easy_escape(NULL, pairs[i + 1], 0);
        len += (size_t)snprintf(b + len, cap - len, "%s%s=%s", len ? "&" : "", pairs[i], v);
        curl_free(v);
        cr_assert(len < cap);
    }
    return b;
}

static long post(const struct e2e_server *s, const struct session *who, const char *path, bool csrf,
                 const char *const *pairs, struct e2e_response *r)
{
    char *body = form(who, csrf, pairs);
    request(s, who, "POST", path, body, r);
    free(body);
    return r->status;
}

/* The first two catalogue fields offered on the draft form ("Service/Field"). */
static void catalogue_fields(const struct e2e_server *s, const struct session *proc, char *f1,
                             char *f2, size_t cap)
{
    struct e2e_response r;
    get(s, proc, "/aftaler/ny", &r);
    e2e_assert_status(s, &r, 200);
    const char *p = strstr(r.body, "name=\"felt\" id=\"felt-");
    cr_assert_not_null(p, "the form offers catalogue fields");
    cr_assert(after(p, "value=\"", f1, cap));
    p = strstr(p + 1, "name=\"felt\" id=\"felt-");
    cr_assert_not_null(p);
    cr_assert(after(p, "value=\"", f2, cap));
    e2e_response_free(&r);
}

static void today(char out[16])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* The id from a redirect to /aftaler/vis?id=...; asserts the ok word. */
static void redirect_id(const struct e2e_server *s, struct e2e_response *r, const char *ok,
                        char id[64])
{
    e2e_assert_status(s, r, 303);
    const char *loc = e2e_header(r, "Location");
    cr_assert_not_null(loc);
    cr_assert(strncmp(loc, "/aftaler/vis?id=", 16) == 0, "%s", loc);
    char want[64];
    snprintf(want, sizeof want, "&ok=%s", ok);
    cr_assert(strstr(loc, want), "%s, want %s", loc, want);
    snprintf(id, 64, "%.*s", (int)strcspn(loc + 16, "&"), loc + 16);
}

/* A draft with field f (and f2 when not NULL); its id into id. */
static void draft(const struct e2e_server *s, const struct session *proc, const char *title,
                  const char *f, const char *f2, char id[64])
{
    char from[16];
    today(from);
    const char *pairs[] = {"title",
                           title,
                           "purpose",
                           "Kontrol af boligstøtte.",
                           "law",
                           "Lov om individuel boligstøtte",
                           "section",
                           "§ 50",
                           "valid_from",
                           from,
                           "contact_name",
                           "Bo Behandler",
                           "contact_email",
                           PROC,
                           "felt",
                           f,
                           f2 ? "felt" : NULL,
                           f2,
                           NULL};
    struct e2e_response r;
    post(s, proc, "/aftaler/ny", true, pairs, &r);
    redirect_id(s, &r, "kladde", id);
    e2e_response_free(&r);
}

static void sign(const struct e2e_server *s, const struct session *signer, const char *id)
{
    struct e2e_response r;
    post(s, signer, "/aftaler/underskriv", true, (const char *const[]){"id", id, NULL}, &r);
    e2e_assert_status(s, &r, 303);
    e2e_response_free(&r);
}

static void approve(const struct e2e_server *s, const struct session *rev, const char *id,
                    const char *f, const char *f2)
{
    struct e2e_response r;
    const char *pairs[] = {"id",   id, "handling",         "godkend", "vurdering", "Proportionalt.",
                           "felt", f,  f2 ? "felt" : NULL, f2,        NULL};
    post(s, rev, "/aftaler/beslut", true, pairs, &r);
    char got[64];
    redirect_id(s, &r, "godkendt", got);
    e2e_response_free(&r);
}

struct cast {
    const struct e2e_server *s;
    struct session proc, signer, admin, reviewer, other;
    char f1[256], f2[256];
};

static void cast(struct cast *c)
{
    c->s = world();
    login(c->s, PROC, &c->proc);
    login(c->s, SIGNER, &c->signer);
    login(c->s, ADMIN, &c->admin);
    login(c->s, REVIEWER, &c->reviewer);
    login(c->s, OTHERPROC, &c->other);
    catalogue_fields(c->s, &c->proc, c->f1, c->f2, sizeof c->f1);
}

/* An approved agreement asking for f1. */
static void approved(struct cast *c, const char *title, char id[64])
{
    draft(c->s, &c->proc, title, c->f1, NULL, id);
    sign(c->s, &c->signer, id);
    approve(c->s, &c->reviewer, id, c->f1, NULL);
}

/* The agreement page as who sees it (the caller frees r). */
static void view(struct cast *c, const struct session *who, const char *id, struct e2e_response *r)
{
    char path[128];
    snprintf(path, sizeof path, "/aftaler/vis?id=%s", id);
    get(c->s, who, path, r);
    e2e_assert_status(c->s, r, 200);
}

/* A refusal page: status, Danish, none of the module's English. */
static void assert_refusal(struct cast *c, struct e2e_response *r, long status, const char *text)
{
    e2e_assert_status(c->s, r, status);
    cr_assert(strstr(r->body, "<html lang=\"da\">"));
    cr_assert(strstr(r->body, text), "want \"%s\" in: %.3000s", text, r->body);
    cr_assert(!strstr(r->body, "needs the role") && !strstr(r->body, "cannot ") &&
                  !strstr(r->body, "no such agreement") && !strstr(r->body, "the agreement"),
              "no English module message: %.3000s", r->body);
}

/* ---- editing a draft ---- */

Test(web_agreement, edit_a_draft)
{
    struct cast c;
    cast(&c);
    char id[64], path[128];
    draft(c.s, &c.proc, "Rettes senere", c.f1, NULL, id);
    struct e2e_response r;
    view(&c, &c.proc, id, &r);
    snprintf(path, sizeof path, "/aftaler/rediger?id=%s", id);
    cr_assert(strstr(r.body, path), "the processor is offered Redigér");
    e2e_response_free(&r);
    view(&c, &c.signer, id, &r);
    cr_assert(!strstr(r.body, path), "the signatory is not offered Redigér");
    e2e_response_free(&r);

    get(c.s, &c.proc, path, &r);
    e2e_assert_status(c.s, &r, 200);
    cr_assert(strstr(r.body, "<h1>Redigér kladde</h1>") || strstr(r.body, "Redigér kladde"));
    cr_assert(strstr(r.body, "value=\"Rettes senere\""), "prefilled from the draft");
    char checked[300];
    snprintf(checked, sizeof checked, "value=\"%s\" checked", c.f1);
    cr_assert(strstr(r.body, checked), "the field asked for is ticked");
    cr_assert(strstr(r.body, "name=\"csrf\""));
    e2e_response_free(&r);

    /* An error keeps what was typed. */
    const char *bad[] = {"id",
                         id,
                         "title",
                         "",
                         "purpose",
                         "Nyt formål <b>",
                         "law",
                         "L",
                         "section",
                         "§ 1",
                         "valid_from",
                         "2026-13-01x",
                         "contact_name",
                         "Bo",
                         "contact_email",
                         PROC,
                         "felt",
                         c.f1,
                         NULL};
    post(c.s, &c.proc, "/aftaler/rediger", true, bad, &r);
    e2e_assert_status(c.s, &r, 400);
    cr_assert(strstr(r.body, "alert-error"), "the error summary");
    cr_assert(strstr(r.body, "Skriv en titel."));
    cr_assert(strstr(r.body, "Skriv startdatoen som åååå-mm-dd."));
    cr_assert(strstr(r.body, "Nyt formål &lt;b&gt;"), "typed text kept, escaped");
    cr_assert(strstr(r.body, "value=\"2026-13-01x\""));
    e2e_response_free(&r);

    char from[16];
    today(from);
    const char *good[] = {"id",           id,           "title",
                          "Rettet titel", "purpose",    "Nyt formål",
                          "law",          "L",          "section",
                          "§ 1",          "valid_from", from,
                          "contact_name", "Bo",         "contact_email",
                          PROC,           "felt",       c.f1,
                          "felt",         c.f2,         NULL};
    post(c.s, &c.proc, "/aftaler/rediger", true, good, &r);
    char got[64];
    redirect_id(c.s, &r, "rettet", got);
    cr_assert_str_eq(got, id);
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Rettet titel") && strstr(r.body, "Nyt formål"));
    cr_assert(strstr(r.body, "Ændret"), "the history names the edit");
    e2e_response_free(&r);
    /* The processor edited it last: it can still be signed by the signatory. */
    sign(c.s, &c.signer, id);
}

Test(web_agreement, edit_refusals)
{
    struct cast c;
    cast(&c);
    char id[64], path[128], from[16];
    today(from);
    draft(c.s, &c.proc, "Afvist redigering", c.f1, NULL, id);
    snprintf(path, sizeof path, "/aftaler/rediger?id=%s", id);
    const char *pairs[] = {
        "id",      id,    "title",      "Kapret", "purpose",      "P", "law",           "L",
        "section", "§ 1", "valid_from", from,     "contact_name", "X", "contact_email", PROC,
        "felt",    c.f1,  NULL};
    struct e2e_response r;
    /* Wrong role: the signatory and the data owner may not edit. */
    post(c.s, &c.signer, "/aftaler/rediger", true, pairs, &r);
    assert_refusal(&c, &r, 403, "det kræver rollen behandler i aftalens organisation");
    e2e_response_free(&r);
    get(c.s, &c.reviewer, path, &r);
    assert_refusal(&c, &r, 403, "det kræver rollen behandler");
    e2e_response_free(&r);
    post(c.s, &c.reviewer, "/aftaler/rediger", true, pairs, &r);
    assert_refusal(&c, &r, 403, "det kræver rollen behandler");
    e2e_response_free(&r);
    /* Wrong organisation: it does not even exist for them. */
    post(c.s, &c.other, "/aftaler/rediger", true, pairs, &r);
    assert_refusal(&c, &r, 404, "Aftalen findes ikke, eller du har ikke adgang til den.");
    e2e_response_free(&r);
    get(c.s, &c.other, path, &r);
    assert_refusal(&c, &r, 404, "Aftalen findes ikke");
    e2e_response_free(&r);
    /* Missing CSRF token. */
    post(c.s, &c.proc, "/aftaler/rediger", false, pairs, &r);
    e2e_assert_status(c.s, &r, 403);
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(!strstr(r.body, "Kapret"), "no refused edit was saved");
    e2e_response_free(&r);
    /* Wrong state: signed and waiting for the data owner. */
    sign(c.s, &c.signer, id);
    get(c.s, &c.proc, path, &r);
    assert_refusal(&c, &r, 409, "underskrevet og venter på Skatteforvaltningen");
    e2e_response_free(&r);
    post(c.s, &c.proc, "/aftaler/rediger", true, pairs, &r);
    assert_refusal(&c, &r, 409, "underskrevet og venter på Skatteforvaltningen");
    cr_assert(strstr(r.body, "value=\"Kapret\""), "what was typed is kept on a refusal");
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(!strstr(r.body, path), "no Redigér on a signed application");
    e2e_response_free(&r);
}

/* ---- a change request ---- */

Test(web_agreement, change_request_end_to_end)
{
    struct cast c;
    cast(&c);
    char id[64], path[128], from[16];
    today(from);
    approved(&c, "Ændres med et felt mere", id);
    struct e2e_response r;
    snprintf(path, sizeof path, "/aftaler/rediger?id=%s", id);
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Ansøg om ændring") && strstr(r.body, path));
    e2e_response_free(&r);
    view(&c, &c.signer, id, &r);
    cr_assert(!strstr(r.body, "Ansøg om ændring"), "only a processor asks for a change");
    e2e_response_free(&r);
    get(c.s, &c.proc, path, &r);
    e2e_assert_status(c.s, &r, 200);
    cr_assert(strstr(r.body, "Ansøg om ændring"));
    cr_assert(strstr(r.body, "value=\"Ændres med et felt mere\""),
              "prefilled from the serving one");
    e2e_response_free(&r);

    const char *pairs[] = {"id",
                           id,
                           "title",
                           "Ændres med et felt mere",
                           "purpose",
                           "Kontrol af boligstøtte.",
                           "law",
                           "Lov om individuel boligstøtte",
                           "section",
                           "§ 50",
                           "valid_from",
                           from,
                           "contact_name",
                           "Bo Behandler",
                           "contact_email",
                           PROC,
                           "felt",
                           c.f1,
                           "felt",
                           c.f2,
                           NULL};
    post(c.s, &c.proc, "/aftaler/rediger", true, pairs, &r);
    char got[64];
    redirect_id(c.s, &r, "aendring", got);
    e2e_response_free(&r);

    /* Version 1 still serves; the change is a draft beside it. */
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Godkendt</strong>"), "%.2000s", r.body);
    cr_assert(strstr(r.body, "Gældende version (version 1)"));
    cr_assert(strstr(r.body, "Ansøgt ændring (version 2)"));
    cr_assert(strstr(r.body, "Ændringer i forhold til den gældende version"));
    cr_assert(strstr(r.body, "Nyt felt"), "the change names the new field");
    cr_assert(strstr(r.body, "Ændring ansøgt"), "the history names the change");
    e2e_response_free(&r);
    /* Not in the queue before it is signed; signed, it is, as a change. */
    get(c.s, &c.reviewer, "/gennemgang", &r);
    cr_assert(!strstr(r.body, id));
    e2e_response_free(&r);
    sign(c.s, &c.signer, id);
    get(c.s, &c.reviewer, "/gennemgang", &r);
    e2e_assert_status(c.s, &r, 200);
    const char *row = strstr(r.body, id);
    cr_assert_not_null(row, "the signed change is in the queue");
    cr_assert(strstr(row, "<strong>Ændring</strong>"), "marked as a change");
    e2e_response_free(&r);
    /* The decision page: application beside the assessment, the change, the
     * serving version still serving. */
    view(&c, &c.reviewer, id, &r);
    cr_assert(strstr(r.body, "<h2>Afgørelse</h2>"));
    cr_assert(strstr(r.body, "<h3>Ansøgningen</h3>") && strstr(r.body, "Formål") &&
              strstr(r.body, "Hjemmel"));
    cr_assert(strstr(r.body, "Proportionalitetsvurdering"));
    cr_assert(strstr(r.body, "Gældende version (version 1)"));
    cr_assert(strstr(r.body, "Nyt felt"));
    e2e_response_free(&r);
    approve(c.s, &c.reviewer, id, c.f1, c.f2);
    /* Now version 2 serves, and the change has left the queue. */
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Gældende version (version 2)"), "%.3000s", r.body);
    cr_assert(!strstr(r.body, "Ansøgt ændring"));
    cr_assert(strstr(r.body, "Erstattet af ny version"), "version 1 is superseded");
    e2e_response_free(&r);
    get(c.s, &c.reviewer, "/gennemgang", &r);
    cr_assert(!strstr(r.body, id));
    e2e_response_free(&r);
}

/* ---- withdrawing ---- */

Test(web_agreement, withdraw_an_application_and_a_change)
{
    struct cast c;
    cast(&c);
    char id[64], from[16];
    today(from);
    draft(c.s, &c.proc, "Trækkes tilbage", c.f1, NULL, id);
    sign(c.s, &c.signer, id);
    struct e2e_response r;
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "value=\"traek-tilbage\""), "the processor is offered withdraw");
    e2e_response_free(&r);
    view(&c, &c.signer, id, &r);
    cr_assert(!strstr(r.body, "value=\"traek-tilbage\""), "the signatory is not");
    e2e_response_free(&r);
    post(c.s, &c.proc, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "traek-tilbage", "traek-begrundelse",
                               "Behovet er bortfaldet.", NULL},
         &r);
    char got[64];
    redirect_id(c.s, &r, "trukket", got);
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Trukket tilbage</strong>"));
    cr_assert(strstr(r.body, "Behovet er bortfaldet."), "the reason is in the history");
    e2e_response_free(&r);

    /* A change withdrawn: the approved version keeps serving. */
    approved(&c, "Ændring trækkes tilbage", id);
    const char *pairs[] = {"id",
                           id,
                           "title",
                           "Ændring trækkes tilbage",
                           "purpose",
                           "P",
                           "law",
                           "L",
                           "section",
                           "§ 1",
                           "valid_from",
                           from,
                           "contact_name",
                           "Bo",
                           "contact_email",
                           PROC,
                           "felt",
                           c.f2,
                           NULL};
    post(c.s, &c.proc, "/aftaler/rediger", true, pairs, &r);
    redirect_id(c.s, &r, "aendring", got);
    e2e_response_free(&r);
    post(c.s, &c.proc, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "traek-tilbage", "traek-begrundelse",
                               "Fortrudt.", NULL},
         &r);
    redirect_id(c.s, &r, "trukket", got);
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Godkendt</strong>"));
    cr_assert(strstr(r.body, "Gældende version (version 1)"));
    cr_assert(!strstr(r.body, "Ansøgt ændring"));
    e2e_response_free(&r);
}

Test(web_agreement, withdraw_refusals)
{
    struct cast c;
    cast(&c);
    char id[64];
    draft(c.s, &c.proc, "Trækkes ikke tilbage", c.f1, NULL, id);
    const char *pairs[] = {"id",   id,  "handling", "traek-tilbage", "traek-begrundelse",
                           "Nej.", NULL};
    struct e2e_response r;
    /* Wrong role. */
    post(c.s, &c.signer, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 403,
                   "Du kan ikke trække aftalen tilbage: det kræver rollen "
                   "behandler i aftalens organisation.");
    e2e_response_free(&r);
    post(c.s, &c.reviewer, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 403, "det kræver rollen behandler");
    e2e_response_free(&r);
    /* Wrong organisation. */
    post(c.s, &c.other, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 404, "Aftalen findes ikke, eller du har ikke adgang til den.");
    e2e_response_free(&r);
    /* Missing CSRF token; missing reason. */
    post(c.s, &c.proc, "/aftaler/status", false, pairs, &r);
    e2e_assert_status(c.s, &r, 403);
    e2e_response_free(&r);
    post(c.s, &c.proc, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "traek-tilbage", NULL}, &r);
    assert_refusal(&c, &r, 400, "Skriv en begrundelse.");
    cr_assert(strstr(r.body, "href=\"#traek-begrundelse\""), "the summary links to the field");
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Kladde</strong>"), "still a draft");
    e2e_response_free(&r);
    /* Wrong state: an approved agreement has nothing pending to withdraw. */
    char act[64];
    approved(&c, "Intet at trække tilbage", act);
    const char *on_active[] = {"id",   act, "handling", "traek-tilbage", "traek-begrundelse",
                               "Nej.", NULL};
    post(c.s, &c.proc, "/aftaler/status", true, on_active, &r);
    assert_refusal(&c, &r, 409, "aftalen har status «Godkendt», og ingen ansøgning venter");
    e2e_response_free(&r);
}

/* ---- terminating ---- */

Test(web_agreement, terminate_an_active_agreement)
{
    struct cast c;
    cast(&c);
    char id[64];
    approved(&c, "Opsiges", id);
    struct e2e_response r;
    view(&c, &c.signer, id, &r);
    cr_assert(strstr(r.body, "value=\"opsig\""), "the signatory is offered terminate");
    e2e_response_free(&r);
    view(&c, &c.proc, id, &r);
    cr_assert(!strstr(r.body, "value=\"opsig\""), "the processor is not");
    e2e_response_free(&r);
    view(&c, &c.reviewer, id, &r);
    cr_assert(!strstr(r.body, "value=\"opsig\""), "nor the data owner");
    cr_assert(strstr(r.body, "value=\"suspender\""), "who may suspend");
    e2e_response_free(&r);
    post(c.s, &c.signer, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "opsig", "opsig-begrundelse",
                               "Ordningen er nedlagt.", NULL},
         &r);
    char got[64];
    redirect_id(c.s, &r, "opsagt", got);
    e2e_response_free(&r);
    view(&c, &c.admin, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Opsagt</strong>"));
    cr_assert(!strstr(r.body, "value=\"opsig\""), "nothing left to terminate");
    e2e_response_free(&r);

    /* The administrator may terminate too. */
    approved(&c, "Opsiges af administratoren", id);
    post(c.s, &c.admin, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "opsig", "opsig-begrundelse", "Slut.", NULL},
         &r);
    redirect_id(c.s, &r, "opsagt", got);
    e2e_response_free(&r);
}

Test(web_agreement, terminate_refusals)
{
    struct cast c;
    cast(&c);
    char id[64];
    approved(&c, "Opsiges ikke", id);
    const char *pairs[] = {"id", id, "handling", "opsig", "opsig-begrundelse", "Nej.", NULL};
    struct e2e_response r;
    /* Wrong role: the processor; the data owner (who revokes instead). */
    post(c.s, &c.proc, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 403,
                   "Du kan ikke opsige aftalen: det kræver rollen underskriver "
                   "eller administrator i aftalens organisation.");
    e2e_response_free(&r);
    post(c.s, &c.reviewer, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 403, "det kræver rollen underskriver eller administrator");
    e2e_response_free(&r);
    /* Wrong organisation. */
    post(c.s, &c.other, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 404, "Aftalen findes ikke");
    e2e_response_free(&r);
    /* Missing CSRF token. */
    post(c.s, &c.signer, "/aftaler/status", false, pairs, &r);
    e2e_assert_status(c.s, &r, 403);
    e2e_response_free(&r);
    view(&c, &c.signer, id, &r);
    cr_assert(strstr(r.body, "Status: <strong>Godkendt</strong>"), "still active");
    e2e_response_free(&r);
    /* Wrong state: a draft is not active yet; a revoked one is over. */
    char d[64];
    draft(c.s, &c.proc, "Kun en kladde", c.f1, NULL, d);
    const char *on_draft[] = {"id", d, "handling", "opsig", "opsig-begrundelse", "Nej.", NULL};
    post(c.s, &c.signer, "/aftaler/status", true, on_draft, &r);
    assert_refusal(&c, &r, 409, "aftalen er ikke godkendt endnu (status «Kladde»)");
    e2e_response_free(&r);
    post(c.s, &c.reviewer, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "tilbagekald", "status-begrundelse",
                               "Misbrug.", NULL},
         &r);
    char got[64];
    redirect_id(c.s, &r, "tilbagekaldt", got);
    e2e_response_free(&r);
    post(c.s, &c.signer, "/aftaler/status", true, pairs, &r);
    assert_refusal(&c, &r, 409,
                   "Du kan ikke opsige aftalen, fordi aftalen har status "
                   "«Tilbagekaldt».");
    e2e_response_free(&r);
    /* And the data owner's own steps are refused to the organisation. */
    post(c.s, &c.signer, "/aftaler/status", true,
         (const char *const[]){"id", id, "handling", "suspender", "status-begrundelse", "Nej.",
                               NULL},
         &r);
    assert_refusal(&c, &r, 403, "dataforvaltning hos Skatteforvaltningen");
    e2e_response_free(&r);
}

/* ---- the services of an agreement, grouped with their descriptions ---- */

Test(web_agreement, services_are_grouped_with_descriptions)
{
    struct cast c;
    cast(&c);
    char id[64];
    draft(c.s, &c.proc, "Grupperet", c.f1, c.f2, id);
    struct e2e_response r;
    view(&c, &c.proc, id, &r);
    /* f1 is "<service>/<field>": the service's section, its catalogue
     * description and the field's description */
    char svc[128];
    snprintf(svc, sizeof svc, "%.*s", (int)strcspn(c.f1, "/"), c.f1);
    char dir[1024];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "%s/catalog", root ? root : ".");
    catalog_t *cat;
    err_t err;
    cr_assert_eq(catalog_load_dir(dir, &cat, &err), 0, "%s", err.log);
    const struct catalog_service *s = catalog_find(cat, str_from_cstr(svc));
    cr_assert_not_null(s, "%s", svc);
    cr_assert(strstr(r.body, "<section class=\"agreement-service\"><h4>"), "%.2000s", r.body);
    char want[256];
    snprintf(want, sizeof want, "(%s)</span></h4><p class=\"service-description\">", svc);
    cr_assert(strstr(r.body, want), "the service's path heads its description");
    /* the description's first words (before any character the page escapes) */
    char words[40];
    snprintf(words, sizeof words, "%.*s", (int)strcspn(s->description.da, "&<>\"'("),
             s->description.da);
    cr_assert(strlen(words) > 10 && strstr(r.body, words), "the service's description: %s", words);
    const struct catalog_field *f = catalog_field_find(s, str_from_cstr(strchr(c.f1, '/') + 1));
    cr_assert_not_null(f);
    snprintf(words, sizeof words, "%.*s", (int)strcspn(f->description.da, "&<>\"'("),
             f->description.da);
    cr_assert(strstr(r.body, words), "the field's description: %s", words);
    catalog_free(cat);
    e2e_response_free(&r);
}
