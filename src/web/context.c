/*
 * context.c: who is asking. The session cookie (identity's, HttpOnly,
 * Secure, SameSite=Strict) names the user; a POST must carry the session's
 * CSRF token in the form field "csrf". Before login (login, set-up) a
 * double-submit token stands in: a random value in the cookie
 * WEB_FORM_COOKIE and the same value in the form.
 *
 * Also the page's user as the agreement module's actor (web/actor.h does it).
 */
#include <stdio.h>
#include <string.h>

#include "core/encode.h"
#include "core/log.h"
#include "core/rand.h"
#include "web/actor.h"
#include "web/internal.h"

/* The value of cookie name in the Cookie header. */
static bool cookie_get(http_request_t *req, const char *name, str_t *out)
{
    str_t h;
    if (!http_req_header(req, "Cookie", &h))
        return false;
    size_t nlen = strlen(name);
    str_t rest = h, part;
    while (rest.len) {
        str_split(rest, ';', &part, &rest); /* the last: part = rest, rest = "" */
        part = str_trim(part);
        if (part.len > nlen && memcmp(part.ptr, name, nlen) == 0 && part.ptr[nlen] == '=') {
            *out = str_sub(part, nlen + 1, part.len - nlen - 1);
            return true;
        }
    }
    return false;
}

static int parse_post(struct web_ctx *cx)
{
    if (http_req_method(cx->req) != HTTP_POST)
        return 0;
    err_t err;
    err_clear(&err);
    if (http_form_read(http_req_arena(cx->req), http_req_body(cx->req), &web_form_rules, &cx->form,
                       &err) != 0) {
        log_info("web: unreadable form on %.*s: %s", STR_FMT(http_req_path(cx->req)), err.log);
        web_reply_message(cx, 400, "Ugyldig formular", "Formularen kunne ikke læses.");
        return 1;
    }
    return 0;
}

static void ctx_init(web_t *w, http_request_t *req, struct web_ctx *cx)
{
    memset(cx, 0, sizeof *cx);
    cx->w = w;
    cx->req = req;
    html_init(&cx->h, HTML_PAGE_MAX);
}

static void clear_session_cookie(http_request_t *req)
{
    http_reply_header(req, "Set-Cookie",
                      IDENTITY_SESSION_COOKIE
                      "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
}

/* The session part of web_begin_or_reply: 0 logged in, 1 answered. */
static int begin_session(web_t *w, http_request_t *req, struct web_ctx *cx)
{
    ctx_init(w, req, cx);
    str_t sid;
    err_t err;
    err_clear(&err);
    if (!cookie_get(req, IDENTITY_SESSION_COOKIE, &sid) || sid.len == 0) {
        web_redirect(req, "/login");
        return 1;
    }
    if (identity_session_actor(w->deps.identity, sid, &cx->actor, &err) != 0) {
        clear_session_cookie(req);
        web_redirect(req, "/login?udloebet=1");
        return 1;
    }
    if (identity_org_get(w->deps.identity, str_from_cstr(cx->actor.org_id), &cx->org, &err) != 0) {
        web_reply_message(cx, 500, "Fejl", "Organisationen kunne ikke findes.");
        return 1;
    }
    cx->logged_in = true;
    cx->sid = sid;
    identity_session_csrf(sid, cx->csrf);
    return 0;
}

/* The CSRF check of a logged-in POST: 0 to go on, 1 answered (403). */
static int check_csrf(struct web_ctx *cx)
{
    http_request_t *req = cx->req;
    if (http_req_method(req) == HTTP_POST &&
        !identity_session_csrf_ok(cx->sid, form_get(&cx->form, "csrf"))) {
        log_warn("web: CSRF token missing or wrong on %.*s", STR_FMT(http_req_path(req)));
        web_reply_message(cx, 403, "Formularen kunne ikke sendes",
                          "Formularen var for gammel eller kom ikke fra denne side. "
                          "Gå tilbage, genindlæs siden og prøv igen.");
        return 1;
    }
    return 0;
}

int web_begin_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx)
{
    if (begin_session(w, req, cx) || parse_post(cx))
        return 1;
    return check_csrf(cx);
}

int web_begin_upload_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx,
                              struct multipart *mp, err_t *bad)
{
    memset(mp, 0, sizeof *mp);
    err_clear(bad);
    if (begin_session(w, req, cx))
        return 1;
    str_t ct = STR("");
    if (http_req_method(req) != HTTP_POST || !http_req_header(req, "Content-Type", &ct) ||
        !multipart_is_form_data(ct))
        return parse_post(cx) ? 1 : check_csrf(cx);
    static const struct multipart_limits lim = {.max_body = WEB_UPLOAD_MAX_BODY,
                                                .max_parts = WEB_UPLOAD_MAX_PARTS,
                                                .max_header_bytes = WEB_UPLOAD_MAX_HEADER,
                                                .max_name = WEB_UPLOAD_MAX_NAME,
                                                .max_filename = WEB_UPLOAD_MAX_FILENAME};
    arena_t *a = http_req_arena(req);
    if (multipart_parse(a, ct, http_req_body(req), &lim, mp, bad) != 0) {
        log_warn("web: unreadable multipart form on %.*s: %s", STR_FMT(http_req_path(req)),
                 bad->log);
        memset(mp, 0, sizeof *mp);
        if (bad->code == 0)
            bad->code = DUPLA_EINVAL;
        return 0;
    }
    /* The text fields, as form_get reads them. */
    cx->form.names = arena_alloc(a, (mp->n ? mp->n : 1) * sizeof *cx->form.names);
    cx->form.values = arena_alloc(a, (mp->n ? mp->n : 1) * sizeof *cx->form.values);
    if (!cx->form.names || !cx->form.values) {
        web_reply_message(cx, 500, "Fejl", "Formularen kunne ikke læses.");
        return 1;
    }
    for (size_t i = 0; i < mp->n; i++)
        if (!mp->parts[i].is_file) {
            cx->form.names[cx->form.n] = mp->parts[i].name;
            cx->form.values[cx->form.n] = mp->parts[i].data;
            cx->form.n++;
        }
    return check_csrf(cx);
}

int web_begin_public_or_reply(web_t *w, http_request_t *req, struct web_ctx *cx)
{
    ctx_init(w, req, cx);
    if (parse_post(cx))
        return 1;
    if (http_req_method(req) == HTTP_POST) {
        str_t cookie;
        str_t field = form_get(&cx->form, "csrf");
        if (!cookie_get(req, WEB_FORM_COOKIE, &cookie) || cookie.len == 0 ||
            !str_ct_eq(cookie, field)) {
            log_warn("web: pre-login form token missing or wrong on %.*s",
                     STR_FMT(http_req_path(req)));
            web_reply_message(cx, 403, "Formularen kunne ikke sendes",
                              "Formularen var for gammel eller kom ikke fra denne side. "
                              "Gå tilbage, genindlæs siden og prøv igen.");
            return 1;
        }
    }
    return 0;
}

void web_form_token(struct web_ctx *cx, char out[IDENTITY_CSRF_TEXT])
{
    str_t cookie;
    if (cookie_get(cx->req, WEB_FORM_COOKIE, &cookie) && cookie.len > 0 &&
        cookie.len < IDENTITY_CSRF_TEXT) {
        bool ok = true;
        for (size_t i = 0; i < cookie.len; i++) {
            char c = cookie.ptr[i];
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
        if (ok) {
            str_copy(cookie, out, IDENTITY_CSRF_TEXT);
            return;
        }
    }
    unsigned char raw[WEB_FORM_TOKEN_BYTES];
    if (rand_bytes(raw, sizeof raw) != 0) {
        out[0] = '\0';
        return;
    }
    base64url_encode(raw, sizeof raw, out); /* 32 characters: fits IDENTITY_CSRF_TEXT */
    char h[IDENTITY_CSRF_TEXT + 96];
    snprintf(h, sizeof h, "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict", WEB_FORM_COOKIE, out);
    http_reply_header(cx->req, "Set-Cookie", h);
}

void web_end(struct web_ctx *cx)
{
    html_free(&cx->h);
}

void web_agreement_actor(const struct web_ctx *cx, struct agreement_actor *out)
{
    /* The page context has the user's organisation at hand: no lookup, so
     * no failure. */
    web_actor_agreement(NULL, &cx->actor, cx->org.cvr, out, NULL);
}

bool web_is_admin(const struct web_ctx *cx)
{
    return identity_actor_has(&cx->actor, ROLE_ADMINISTRATOR);
}

unsigned web_refusal_status(int rc)
{
    return rc == DUPLA_EFORBIDDEN ? 403 : rc == DUPLA_ENOTFOUND ? 404 : 400;
}
