/*
 * internal.h: what the web module's files share (not a contract for others).
 */
#ifndef DUPLA_WEB_INTERNAL_H
#define DUPLA_WEB_INTERNAL_H

#include "agreement/agreement.h"
#include "catalog/catalog.h"
#include "identity/identity.h"
#include "web/html.h"
#include "web/multipart.h"
#include "web/web.h"

#define WEB_FORM_MAX_BODY    (64 * 1024) /* a form post (a PEM certificate fits) */
#define WEB_LOGIN_MAX_BODY   2048        /* before authentication: tighter */
#define WEB_FORM_MAX_FIELDS  1024        /* name=value pairs in one post */
#define WEB_ERRORS_MAX       16          /* messages in one error summary */
#define WEB_ASSET_MAX        (8 * 1024 * 1024)
#define WEB_ASSET_MAX_AGE    31536000 /* one year: the paths carry the version */
#define WEB_VERSION_MAX      32
#define WEB_FORM_COOKIE      "__Host-dupla_form" /* the pre-login CSRF cookie */
#define WEB_FORM_TOKEN_BYTES 24

/* Forms that upload a certificate file (multipart/form-data). */
#define WEB_UPLOAD_MAX_BODY     (128 * 1024) /* the whole post */
#define WEB_UPLOAD_MAX_PARTS    16
#define WEB_UPLOAD_MAX_HEADER   1024 /* one part's header lines */
#define WEB_UPLOAD_MAX_NAME     64   /* a field's name */
#define WEB_UPLOAD_MAX_FILENAME 255
#define WEB_CERT_FILE_MAX       (32 * 1024) /* a certificate file (PEM, maybe with its chain) */
#define WEB_PAGES_MAX           96          /* page routes begun and ended by web_routes */

/* A page route as registered: what the dispatcher needs (web.c). */
struct web_page_binding {
    web_t *w;
    const struct web_page_route *route;
};

struct web {
    struct web_deps deps;
    struct web_page_binding pages[WEB_PAGES_MAX];
    size_t n_pages;
    char assets_dir[CONFIG_PATH_MAX];
    char assets_version[WEB_VERSION_MAX]; /* dkfds's version, "" when not found */
    int64_t session_idle_ms;              /* for the expiry warning */
};

/* ---- forms (form.c) ---- */
/* A POST's fields are a struct http_form (http.h), read by http_form_read
 * with web_form_rules; multipart text fields land in the same shape. */
extern const struct http_form_rules web_form_rules;
/* The first value of name, trimmed of surrounding white space ("" if absent). */
str_t form_get(const struct http_form *f, const char *name);
/* The value of a query parameter ("" if absent). */
str_t web_query(http_request_t *req, const char *name);
/* NUL-terminated copy from the arena. */
char *web_cstr(http_request_t *req, str_t s);

/* ---- the error summary's contents ---- */
struct form_errors {
    size_t n;
    struct {
        const char *field; /* the input's id, or "" for a form-wide error */
        const char *msg;
    } e[WEB_ERRORS_MAX];
};
void form_error(struct form_errors *fe, const char *field, const char *msg);
/* The message for field, or NULL. */
const char *form_error_for(const struct form_errors *fe, const char *field);

/* ---- the request's context (context.c) ---- */
struct web_ctx {
    web_t *w;
    http_request_t *req;
    bool logged_in;
    identity_actor_t actor;
    str_t sid;               /* the session id (secret; from the request) */
    struct identity_org org; /* the user's organisation */
    char csrf[IDENTITY_CSRF_TEXT];
    struct http_form form; /* a POST's fields */
    html_t h;
    /* A page begun with WEB_BEGIN_UPLOAD: the parts of a multipart post, and
     * why it could not be read (see web_begin_upload_or_reply). */
    struct multipart upload;
    err_t upload_error;
};
/* For a page that needs a login: fills cx (and for a POST parses the form
 * and checks its CSRF token). Returns 0 to go on, or 1 when it has already
 * answered (a redirect to /login, or a 403 page for a bad CSRF token). */
int web_begin_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx);
/* As web_begin_or_reply, for a form that may be posted as
 * multipart/form-data (a file upload; an url-encoded post is read as
 * usual). The text fields go to cx->form, the parts (files too) to *mp.
 * A multipart body that cannot be read is not answered here: 0 is returned
 * with *bad set (its detail Danish) and cx->form empty, so the page can show
 * the message at its file field; nothing may then be changed (the CSRF token
 * was not checked). */
int web_begin_upload_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx,
                              struct multipart *mp, err_t *bad);
/* For the pages before login: parses the form of a POST and checks the
 * pre-login CSRF cookie. 0 to go on, 1 when answered. */
int web_begin_public_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx);
/* The pre-login form token (set as a cookie when absent) into out. */
void web_form_token(struct web_ctx *cx, char out[IDENTITY_CSRF_TEXT]);
void web_end(struct web_ctx *cx);

/* The logged-in user administers its organisation. */
bool web_is_admin(const struct web_ctx *cx);
/* The page status for a module's refusal: 403 forbidden, 404 not found,
 * 400 otherwise. */
unsigned web_refusal_status(int rc);

/* A refusal from identity about systems and certificates in Danish, chosen
 * by code, parameter and reason (err_is; never the English detail), as
 * pages_org_refusal does for users, roles and organisations. */
const char *web_system_refusal(int rc, const err_t *err);
/* A disclosure log entry's refusal reason (a problem type slug) in Danish,
 * or NULL for one the pages do not know (pages_disclosure.c). */
const char *web_reason_label(const char *reason);

/* The agreement module's actor for the logged-in user (web/actor.h). */
void web_agreement_actor(const struct web_ctx *cx, struct agreement_actor *out);

/* ---- answering (layout.c) ---- */
/* Adds the security headers every page answer carries. */
void web_security_headers(http_request_t *req);
/* The same with another Content-Security-Policy (the printable document). */
void web_security_headers_csp(http_request_t *req, const char *csp);
/* Sends cx->h as the page (status), or a 500 when it overflowed. */
int web_reply_page(struct web_ctx *cx, unsigned status);
/* 303 See Other to location (a path of this site). */
int web_redirect(http_request_t *req, const char *location);
/* A complete error page with a message. */
int web_reply_message(struct web_ctx *cx, unsigned status, const char *title, const char *msg);

/* ---- layout (layout.c) ---- */
void page_begin(struct web_ctx *cx, const char *title);
void page_end(struct web_ctx *cx);
void page_error_summary(struct web_ctx *cx, const struct form_errors *fe);
void page_notice(struct web_ctx *cx, const char *kind, const char *text); /* success|info|warning */
/* A hidden input with the session's CSRF token. */
void form_csrf(struct web_ctx *cx);
/* A labelled text input (type "text", "email", "password", "date"), with its
 * error message and the value kept. */
void form_input(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                const char *label, const char *type, str_t value, const char *hint);
void form_textarea(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                   const char *label, str_t value, const char *hint);
/* A labelled select of n (value, text) options, value selected, with its
 * error message and hint like form_input. */
void form_select(struct web_ctx *cx, const struct form_errors *fe, const char *name,
                 const char *label, const char *const (*options)[2], size_t n, str_t value,
                 const char *hint);
/* Danish texts. */
const char *web_role_label(unsigned role);
const char *web_state_label(const char *state);
/* Danish local time, "2. dec. 2026 kl. 18.08", into out (32 bytes): every
 * time a page shows (core/clock.h says how summer time is found). */
void web_time(int64_t ms, char out[32]);
/* The same for a UTC timestamp as the APIs write it ("...Z"), from the
 * request's arena; iso itself when it is not one. */
const char *web_time_iso(struct web_ctx *cx, const char *iso);

/* ---- cert_input.c ---- */
/* The ids of a form's certificate fields, where its errors go. */
struct web_cert_input {
    const char *file_id; /* the file input's id */
    const char *pem_id;  /* the textarea's id */
    /* The fields' names: NULL for "certificate_file" and "certificate" (a
     * page with two certificate forms names the second one's otherwise). */
    const char *file_name;
    const char *pem_name;
};
/* Reads the certificate of a post: the uploaded file (PEM or DER) or else
 * the pasted PEM text. 0 with *info and in *used the id of the field it
 * came from, or -1 with a Danish message in fe at the field concerned. */
int web_cert_read(struct web_ctx *cx, const struct multipart *mp, const struct web_cert_input *in,
                  struct form_errors *fe, struct pki_cert_info *info, const char **used);
/* The checks the identity module makes of a system's certificate, said
 * precisely: 0, or -1 with the message at field. The certificate's CVR must
 * be the organisation's, or for a supplier's system (supplier_cvr not NULL)
 * the supplier's. */
int web_cert_check(struct web_ctx *cx, const struct pki_cert_info *info, const char *field,
                   const char *supplier_cvr, struct form_errors *fe);

/* ---- pages ---- */
int pages_auth_register(http_server_t *srv, web_t *w, err_t *err);
int pages_org_register(http_server_t *srv, web_t *w, err_t *err);
int pages_onboarding_register(http_server_t *srv, web_t *w, err_t *err);
/* pages_org.c, shared with pages_onboarding.c: a refusal from identity
 * about users, roles and organisations in Danish; the rest of the page that
 * asks for a suspension's reason (the caller has written what is
 * suspended): a warning, the error summary, the reason field (kept, with
 * its error) and the button; the page that shows a one-time secret, once. */
const char *pages_org_refusal(int rc, const err_t *err);
void pages_org_suspend_form(struct web_ctx *cx, const char *action, const char *id_name,
                            const char *id_value, const char *warning, const char *button,
                            const char *back, const struct form_errors *fe, str_t reason);
void pages_org_secret_page(struct web_ctx *cx, const char *title, const char *intro,
                           const struct identity_setup_secret *s, const char *back,
                           const char *back_label);
int pages_systems_register(http_server_t *srv, web_t *w, err_t *err);
int pages_authorisation_register(http_server_t *srv, web_t *w, err_t *err);
int pages_agreement_register(http_server_t *srv, web_t *w, err_t *err);
int pages_disclosure_register(http_server_t *srv, web_t *w, err_t *err);
int pages_usage_register(http_server_t *srv, web_t *w, err_t *err);
int pages_events_register(http_server_t *srv, web_t *w, err_t *err);
int pages_enrol_register(http_server_t *srv, web_t *w, err_t *err);
int pages_template_register(http_server_t *srv, web_t *w, err_t *err);
/* pages_enrol.c: the review queue's part on applications to become an
 * agreement party (how many wait, and the link to them). */
void pages_enrol_queue_note(struct web_ctx *cx);
int pages_testdata_register(http_server_t *srv, web_t *w, err_t *err);
int pages_erratum_register(http_server_t *srv, web_t *w, err_t *err);
int assets_register(http_server_t *srv, web_t *w, err_t *err);

/* How the dispatcher begins a page: for a logged-in user
 * (web_begin_or_reply), before login (web_begin_public_or_reply), or for a
 * logged-in user's upload (web_begin_upload_or_reply into cx->upload and
 * cx->upload_error). */
enum web_begin { WEB_BEGIN_LOGIN, WEB_BEGIN_PUBLIC, WEB_BEGIN_UPLOAD };

/* A page: cx has been begun as its route says (the user logged in, a
 * POST's form read and its CSRF token checked); the dispatcher ends cx
 * after the page returns. It returns what an HTTP handler returns (0 once
 * it has answered through cx). */
typedef int (*web_page_fn)(struct web_ctx *cx, err_t *err);

/* A page's route: GET and/or POST; a POST's body is at most max_body bytes
 * (0: WEB_FORM_MAX_BODY). Either page, begun and ended around it by the
 * dispatcher, or fn, a handler that begins and ends cx itself (the uploads,
 * and what is not a page).
 *
 * query: the query parameters the page reads (a {0}-ended table, as
 * http_route.query). The dispatcher checks them once the page has begun (a
 * visitor who must log in is sent to the login first) and answers an
 * unknown, repeated or malformed one with a 400 page naming it. NULL: none
 * at all (web_query_none); a page that reads a free set of parameters (the
 * disclosure searches) checks them itself and says so with WEB_QUERY_OWN. */
struct web_page_route {
    unsigned methods;
    const char *path;
    http_handler_fn fn;
    size_t max_body;
    web_page_fn page;
    enum web_begin begin;
    const struct http_param *query;
};
/* The page checks its query itself (web_page_route.query). */
extern const struct http_param web_query_own[];
#define WEB_QUERY_OWN web_query_own
/* The "ok" confirmation a page shows after a redirect (?ok=...). */
#define WEB_PARAM_OK                                                                               \
    {                                                                                              \
        "ok", HTTP_PARAM_STRING, .max = 32                                                         \
    }
/* Adds the routes r (a static table: the page routes keep pointing to it). */
int web_routes(http_server_t *srv, web_t *w, const struct web_page_route *r, size_t n, err_t *err);

#endif
