/*
 * routes.c: the identity JSON API (see routes.h for the list). Each handler
 * authenticates (session + CSRF), parses its JSON body, calls the identity
 * function (which enforces the role rules) and answers JSON; failures return
 * the error for the server to answer as a problem.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/rand.h"
#include "identity/internal.h"
#include "identity/routes.h"

/* ---- request helpers ---- */

/* The value of cookie name in the Cookie header. */
static bool cookie_get(http_request_t *req, const char *name, str_t *out)
{
    str_t h;
    if (!http_req_header(req, "Cookie", &h))
        return false;
    str_t rest = h, item, k, v;
    while (rest.len) {
        str_split(rest, ';', &item, &rest);
        item = str_trim(item);
        if (str_split(item, '=', &k, &v) && str_eq_cstr(str_trim(k), name)) {
            *out = str_trim(v);
            return true;
        }
    }
    return false;
}

static bool state_changing(http_request_t *req)
{
    return http_req_method(req) & (HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE);
}

int identity_http_actor(http_request_t *req, identity_t *id, identity_actor_t *actor, err_t *err)
{
    str_t sid;
    if (!cookie_get(req, IDENTITY_SESSION_COOKIE, &sid)) {
        int rc = err_set(err, DUPLA_EUNAUTH, "log in first (no session)");
        err_problem(err, PROBLEM_NO_SESSION);
        return rc;
    }
    int rc = identity_session_actor(id, sid, actor, err);
    if (rc) {
        err_problem(err, PROBLEM_NO_SESSION);
        return rc;
    }
    if (state_changing(req)) {
        str_t csrf;
        if (!http_req_header(req, IDENTITY_CSRF_HEADER, &csrf) ||
            !identity_session_csrf_ok(sid, csrf)) {
            rc = err_param(err, DUPLA_EFORBIDDEN, IDENTITY_CSRF_HEADER,
                           "the X-CSRF-Token header is missing or wrong");
            err_problem(err, PROBLEM_CSRF);
            return rc;
        }
    }
    return 0;
}

/* A string member (empty when absent); DUPLA_EINVAL if present and not a
 * string or required and absent. */
static int member(json_t *j, const char *key, bool required, str_t *out, err_t *err)
{
    json_t *v = json_object_get(j, key);
    if (!v) {
        *out = STR("");
        return required ? err_param(err, DUPLA_EINVAL, key, "%s is required", key) : 0;
    }
    if (!json_is_string(v))
        return err_param(err, DUPLA_EINVAL, key, "%s must be a string", key);
    *out = (str_t){json_string_value(v), json_string_length(v)};
    return 0;
}

/* May the actor read about org (id or CVR)? Data owner staff see all, others
 * their own organisation. An empty org means "mine" (or "all" for staff). */
static int org_scope(identity_t *id, const identity_actor_t *a, str_t org, char *out, err_t *err)
{
    out[0] = '\0';
    if (org.len == 0) {
        if (!a->data_owner)
            snprintf(out, IDENTITY_ID_LEN + 1, "%s", a->org_id);
        return 0;
    }
    struct identity_org o;
    int rc = identity_org_get(id, org, &o, err);
    if (rc)
        return rc;
    if (!a->data_owner && strcmp(o.id, a->org_id) != 0)
        return identity_forbidden(err, "only your own organisation");
    snprintf(out, IDENTITY_ID_LEN + 1, "%s", o.id);
    return 0;
}

static int collect(json_t *arr, json_t *item)
{
    json_array_append_new(arr, item);
    return 0;
}
static int add_org(const struct identity_org *o, void *ctx)
{
    return collect(ctx, identity_org_json(o));
}
static int add_user(const struct identity_user *u, void *ctx)
{
    return collect(ctx, identity_user_json(u));
}
static int add_system(const struct identity_system *s, void *ctx)
{
    return collect(ctx, identity_system_json(s));
}
static int add_cert(const struct identity_cert *c, void *ctx)
{
    return collect(ctx, identity_cert_json(c));
}

static int reply_list(http_request_t *req, const char *key, json_t *arr)
{
    return http_reply_json(req, 200, json_pack("{s:o}", key, arr));
}

static int reply_ok(http_request_t *req)
{
    return http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

/* GET of an organisation's users or systems: the ?org= the actor may see
 * (org_scope), answered as {"users": [...]} or {"systems": [...]}. */
static int list_in_org(http_request_t *req, identity_t *id, const identity_actor_t *a, bool systems,
                       err_t *err)
{
    str_t org;
    char oid[IDENTITY_ID_LEN + 1];
    http_req_query(req, "org", &org);
    int rc = org_scope(id, a, org, oid, err);
    if (rc)
        return rc;
    json_t *arr = json_array();
    rc = systems ? identity_system_list(id, str_from_cstr(oid), add_system, arr, err)
                 : identity_user_list(id, str_from_cstr(oid), add_user, arr, err);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    return reply_list(req, systems ? "systems" : "users", arr);
}

/* An optional member that lists names, each parsed to a bit by parse, as
 * the union of the bits (0 when absent); what names the kind for the
 * refusal. */
static int bits_member(json_t *b, const char *key, int (*parse)(str_t, unsigned *),
                       const char *what, unsigned *out, err_t *err)
{
    *out = 0;
    json_t *v = json_object_get(b, key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return err_param(err, DUPLA_EINVAL, key, "%s must be a list of %s", key, what);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        unsigned bit = 0;
        if (!json_is_string(e) || parse(str_from_cstr(json_string_value(e)), &bit))
            return err_param(err, DUPLA_EINVAL, key, "%s must be a list of %s", key, what);
        *out |= bit;
    }
    return 0;
}

/* The members of each JSON body (http_json_check): anything else is refused
 * naming it; the handlers check the values. */
static const struct http_param b_login[] = {
    {.name = "username", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "password", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_setup[] = {
    {.name = "username", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "secret", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "password", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_password[] = {
    {.name = "password", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_org[] = {
    {.name = "name", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "cvr", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "contact_email", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "admin_username", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "admin_name", .type = HTTP_PARAM_STRING},
    {.name = "environments", .type = HTTP_PARAM_ARRAY},
    {0},
};
static const struct http_param b_org_status[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "status", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "reason", .type = HTTP_PARAM_STRING},
    {0},
};
static const struct http_param b_user_status[] = {
    {.name = "user", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "status", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "reason", .type = HTTP_PARAM_STRING},
    {0},
};
static const struct http_param b_user[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "username", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "display_name", .type = HTTP_PARAM_STRING},
    {.name = "roles", .type = HTTP_PARAM_ARRAY},
    {0},
};
static const struct http_param b_role[] = {
    {.name = "user", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "role", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_system[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "name", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "kind", .type = HTTP_PARAM_STRING},
    {.name = "certificate", .type = HTTP_PARAM_STRING},
    {.name = "supplier_cvr", .type = HTTP_PARAM_STRING},
    {.name = "supplier_name", .type = HTTP_PARAM_STRING},
    {0},
};
static const struct http_param b_system_status[] = {
    {.name = "system", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "status", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_system_binding[] = {
    {.name = "system", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "sender_constrained", .type = HTTP_PARAM_BOOL, .required = true},
    {0},
};
static const struct http_param b_cert[] = {
    {.name = "system", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "certificate", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_cert_revoke[] = {
    {.name = "sha256", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};

/* ---- session ---- */

static int session_cookie(http_request_t *req, const char *value, long max_age)
{
    char h[IDENTITY_SESSION_ID_TEXT + 128];
    snprintf(h, sizeof h, "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=%ld",
             IDENTITY_SESSION_COOKIE, value, max_age);
    return http_reply_header(req, "Set-Cookie", h);
}

static int h_login(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    json_t *b;
    int rc = http_req_json_params(req, false, b_login, &b, err);
    if (rc)
        return rc;
    str_t user, pw;
    struct identity_session s;
    long retry = 0;
    if (!(rc = member(b, "username", true, &user, err)) &&
        !(rc = member(b, "password", true, &pw, err)))
        rc = identity_login(id, user, pw, http_req_peer(req), &s, &retry, err);
    json_decref(b);
    if (rc == DUPLA_ERATE) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", retry);
        http_reply_header(req, "Retry-After", ra);
    }
    if (rc)
        return rc;
    identity_actor_t a;
    if ((rc = identity_session_actor(id, str_from_cstr(s.id), &a, err)))
        return rc;
    session_cookie(req, s.id, (long)(id->session_abs_ms / 1000));
    http_reply_header(req, "Cache-Control", "no-store");
    rc = http_reply_json(req, 200,
                         json_pack("{s:s, s:I, s:{s:s, s:s, s:s, s:o, s:b}}", "csrf_token", s.csrf,
                                   "expires_ms", (json_int_t)s.expires_ms, "user", "id", a.user_id,
                                   "username", a.username, "org_id", a.org_id, "roles",
                                   identity_roles_json(a.roles), "data_owner", a.data_owner));
    secret_wipe(&s, sizeof s);
    return rc;
}

static int h_session(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    str_t sid;
    cookie_get(req, IDENTITY_SESSION_COOKIE, &sid);
    if (http_req_method(req) == HTTP_DELETE) {
        if ((rc = identity_logout(id, sid, err)))
            return rc;
        session_cookie(req, "", 0);
        return reply_ok(req);
    }
    char csrf[IDENTITY_CSRF_TEXT];
    identity_session_csrf(sid, csrf);
    struct identity_org o;
    if ((rc = identity_org_get(id, str_from_cstr(a.org_id), &o, err)))
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200,
                           json_pack("{s:s, s:{s:s, s:s, s:o, s:b}, s:o}", "csrf_token", csrf,
                                     "user", "id", a.user_id, "username", a.username, "roles",
                                     identity_roles_json(a.roles), "data_owner", a.data_owner,
                                     "organisation", identity_org_json(&o)));
}

static int h_setup(http_request_t *req, void *ctx, err_t *err)
{
    json_t *b;
    int rc = http_req_json_params(req, false, b_setup, &b, err);
    if (rc)
        return rc;
    str_t user, secret, pw;
    if (!(rc = member(b, "username", true, &user, err)) &&
        !(rc = member(b, "secret", true, &secret, err)) &&
        !(rc = member(b, "password", true, &pw, err)))
        rc = identity_user_complete_setup(ctx, user, secret, pw, err);
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

static int h_password(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_password, &b, err)))
        return rc;
    str_t pw;
    if (!(rc = member(b, "password", true, &pw, err)))
        rc = identity_user_set_password(ctx, &a, str_from_cstr(a.user_id), pw, err);
    json_decref(b);
    if (!rc)
        session_cookie(req, "", 0); /* every session ended: log in again */
    return rc ? rc : reply_ok(req);
}

/* ---- organisations ---- */

static int h_orgs(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        json_t *arr = json_array();
        if (a.data_owner) {
            rc = identity_org_list(id, add_org, arr, err);
        } else {
            struct identity_org o;
            if (!(rc = identity_org_get(id, str_from_cstr(a.org_id), &o, err)))
                add_org(&o, arr);
        }
        if (rc) {
            json_decref(arr);
            return rc;
        }
        return reply_list(req, "organisations", arr);
    }
    json_t *b;
    if ((rc = http_req_json_params(req, false, b_org, &b, err)))
        return rc;
    struct identity_org_new in;
    memset(&in, 0, sizeof in);
    struct identity_org o;
    struct identity_setup_secret sec;
    if (!(rc = bits_member(b, "environments", identity_envs_parse, "test and production",
                           &in.environments, err)) &&
        !(rc = member(b, "name", true, &in.name, err)) &&
        !(rc = member(b, "cvr", true, &in.cvr, err)) &&
        !(rc = member(b, "contact_email", true, &in.contact_email, err)) &&
        !(rc = member(b, "admin_username", true, &in.admin_username, err)) &&
        !(rc = member(b, "admin_name", false, &in.admin_name, err)))
        rc = identity_org_create(id, &a, &in, &o, &sec, err);
    json_decref(b);
    if (rc)
        return rc;
    json_t *j = identity_org_json(&o);
    json_object_set_new(j, "administrator",
                        json_pack("{s:s, s:s, s:s, s:I}", "user_id", sec.user_id, "username",
                                  sec.username, "setup_secret", sec.secret, "setup_expires_ms",
                                  (json_int_t)sec.expires_ms));
    secret_wipe(&sec, sizeof sec);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 201, j);
}

static int h_org_status(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_org_status, &b, err)))
        return rc;
    str_t org, status, reason;
    enum org_status st;
    if (!(rc = member(b, "org", true, &org, err)) &&
        !(rc = member(b, "status", true, &status, err)) &&
        !(rc = member(b, "reason", false, &reason, err))) {
        if (identity_org_status_parse(status, &st))
            rc = err_param(err, DUPLA_EINVAL, "status", "status: active, suspended or closed");
        else
            rc = identity_org_set_status(ctx, &a, org, st, reason, err);
    }
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

/* ---- users and roles ---- */

static int h_user_status(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_user_status, &b, err)))
        return rc;
    str_t user, status, reason;
    if (!(rc = member(b, "user", true, &user, err)) &&
        !(rc = member(b, "status", true, &status, err)) &&
        !(rc = member(b, "reason", false, &reason, err))) {
        if (str_eq_cstr(status, "active"))
            rc = identity_user_set_status(ctx, &a, user, USER_ACTIVE, reason, err);
        else if (str_eq_cstr(status, "suspended"))
            rc = identity_user_set_status(ctx, &a, user, USER_SUSPENDED, reason, err);
        else
            rc = err_param(err, DUPLA_EINVAL, "status", "status: active or suspended");
    }
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

static int h_users(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD))
        return list_in_org(req, id, &a, false, err);
    json_t *b;
    if ((rc = http_req_json_params(req, false, b_user, &b, err)))
        return rc;
    str_t org, username, name;
    unsigned roles;
    struct identity_user u;
    struct identity_setup_secret sec;
    if (!(rc = bits_member(b, "roles", identity_role_parse, "role names", &roles, err)) &&
        !(rc = member(b, "org", true, &org, err)) &&
        !(rc = member(b, "username", true, &username, err)) &&
        !(rc = member(b, "display_name", false, &name, err)))
        rc = identity_user_create(id, &a, org, username, name, roles, &u, &sec, err);
    json_decref(b);
    if (rc)
        return rc;
    json_t *j = identity_user_json(&u);
    json_object_set_new(j, "setup_secret", json_string(sec.secret));
    json_object_set_new(j, "setup_expires_ms", json_integer(sec.expires_ms));
    secret_wipe(&sec, sizeof sec);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 201, j);
}

static int role_change(http_request_t *req, identity_t *id, bool grant, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_role, &b, err)))
        return rc;
    str_t user, role;
    unsigned r;
    if (!(rc = member(b, "user", true, &user, err)) &&
        !(rc = member(b, "role", true, &role, err))) {
        if (identity_role_parse(role, &r))
            rc = err_param(err, DUPLA_EINVAL, "role", "unknown role");
        else
            rc = grant ? identity_role_grant(id, &a, user, r, err)
                       : identity_role_revoke(id, &a, user, r, err);
    }
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

static int h_grant(http_request_t *req, void *ctx, err_t *err)
{
    return role_change(req, ctx, true, err);
}

static int h_revoke(http_request_t *req, void *ctx, err_t *err)
{
    return role_change(req, ctx, false, err);
}

/* ---- systems and certificates ---- */

static int cert_member(json_t *b, struct pki_cert_info *ci, bool required, bool *has, err_t *err)
{
    str_t pem;
    int rc = member(b, "certificate", required, &pem, err);
    *has = pem.len > 0;
    if (rc || !*has)
        return rc;
    err_t e2;
    if (pki_cert_info_from_pem(pem, ci, &e2))
        return err_param(err, DUPLA_EINVAL, "certificate", "certificate: not a PEM certificate");
    return 0;
}

static int h_systems(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD))
        return list_in_org(req, id, &a, true, err);
    json_t *b;
    if ((rc = http_req_json_params(req, false, b_system, &b, err)))
        return rc;
    str_t org, name, kind, supplier_cvr, supplier_name;
    struct pki_cert_info ci;
    bool has = false;
    enum system_kind k = SYSTEM_RECIPIENT;
    struct identity_system s;
    if (!(rc = member(b, "org", true, &org, err)) && !(rc = member(b, "name", true, &name, err)) &&
        !(rc = member(b, "kind", false, &kind, err)) &&
        !(rc = member(b, "supplier_cvr", false, &supplier_cvr, err)) &&
        !(rc = member(b, "supplier_name", false, &supplier_name, err)) &&
        !(rc = cert_member(b, &ci, false, &has, err))) {
        if (str_eq_cstr(kind, "kildesystem"))
            k = SYSTEM_SOURCE;
        else if (kind.len && !str_eq_cstr(kind, "aftager-system"))
            rc = err_param(err, DUPLA_EINVAL, "kind", "kind: aftager-system or kildesystem");
        if (!rc && (supplier_cvr.len || supplier_name.len))
            rc = k == SYSTEM_RECIPIENT
                     ? identity_system_register_supplier(id, &a, org, name, supplier_cvr,
                                                         supplier_name, has ? &ci : NULL, &s, err)
                     : err_param(err, DUPLA_EINVAL, "supplier_cvr",
                                 "only a recipient system can be a supplier's");
        else if (!rc)
            rc = identity_system_register(id, &a, org, name, k, has ? &ci : NULL, &s, err);
    }
    json_decref(b);
    return rc ? rc : http_reply_json(req, 201, identity_system_json(&s));
}

static int h_system_status(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_system_status, &b, err)))
        return rc;
    str_t sys, status;
    if (!(rc = member(b, "system", true, &sys, err)) &&
        !(rc = member(b, "status", true, &status, err))) {
        enum system_status st = str_eq_cstr(status, "active")      ? SYSTEM_ACTIVE
                                : str_eq_cstr(status, "suspended") ? SYSTEM_SUSPENDED
                                : str_eq_cstr(status, "revoked")   ? SYSTEM_REVOKED
                                                                   : 0;
        rc = st ? identity_system_set_status(ctx, &a, sys, st, err)
                : err_param(err, DUPLA_EINVAL, "status", "status: active, suspended or revoked");
    }
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

/* POST /api/systems/binding {system, sender_constrained}: whether the
 * system's data calls must present the certificate their token is bound to. */
static int h_system_binding(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_system_binding, &b, err)))
        return rc;
    str_t sys;
    bool on = json_is_true(json_object_get(b, "sender_constrained"));
    if (!(rc = member(b, "system", true, &sys, err)))
        rc = identity_system_set_sender_constrained(ctx, &a, sys, on, err);
    struct identity_system s;
    if (!rc)
        rc = identity_system_get(ctx, sys, &s, err);
    json_decref(b);
    return rc ? rc : http_reply_json(req, 200, identity_system_json(&s));
}

/* The system named in ref, if the actor may see it. */
static int system_visible(identity_t *id, const identity_actor_t *a, str_t ref, err_t *err)
{
    struct identity_system s;
    int rc = identity_system_get(id, ref, &s, err);
    if (rc)
        return rc;
    if (!a->data_owner && strcmp(s.org_id, a->org_id) != 0)
        return identity_forbidden(err, "only your own organisation's systems");
    return 0;
}

static int h_certs(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        str_t sys;
        if (!http_req_query(req, "system", &sys))
            return err_param(err, DUPLA_EINVAL, "system", "system is required");
        if ((rc = system_visible(id, &a, sys, err)))
            return rc;
        json_t *arr = json_array();
        if ((rc = identity_cert_list(id, sys, add_cert, arr, err))) {
            json_decref(arr);
            return rc;
        }
        return reply_list(req, "certificates", arr);
    }
    json_t *b;
    if ((rc = http_req_json_params(req, false, b_cert, &b, err)))
        return rc;
    str_t sys;
    struct pki_cert_info ci;
    bool has;
    struct identity_cert c;
    if (!(rc = member(b, "system", true, &sys, err)) &&
        !(rc = cert_member(b, &ci, true, &has, err)))
        rc = identity_cert_add(id, &a, sys, &ci, &c, err);
    json_decref(b);
    return rc ? rc : http_reply_json(req, 201, identity_cert_json(&c));
}

static int h_cert_revoke(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_cert_revoke, &b, err)))
        return rc;
    str_t sha;
    if (!(rc = member(b, "sha256", true, &sha, err)))
        rc = identity_cert_revoke(ctx, &a, sha, err);
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

static int h_history(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    str_t org, lim;
    char oid[IDENTITY_ID_LEN + 1];
    http_req_query(req, "org", &org);
    if ((rc = org_scope(id, &a, org, oid, err)))
        return rc;
    if (!a.data_owner && !identity_actor_has(&a, ROLE_ADMINISTRATOR))
        return identity_forbidden(err, "the history is for administrators");
    int64_t limit = IDENTITY_HISTORY_DEFAULT;
    if (http_req_query(req, "limit", &lim) &&
        (str_to_int64(lim, &limit) || limit < 1 || limit > IDENTITY_LIST_MAX))
        return err_param(err, DUPLA_EINVAL, "limit", "limit: 1 to %d", IDENTITY_LIST_MAX);
    json_t *h;
    if ((rc = identity_history_list(id, str_from_cstr(oid), (long)limit, &h, err)))
        return rc;
    return reply_list(req, "history", h);
}

/* ---- authorisations: acting for a company ---- */

static const struct http_param b_authorisation[] = {
    {.name = "company", .type = HTTP_PARAM_STRING},
    {.name = "se", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "grantee", .type = HTTP_PARAM_STRING, .required = true},
    {.name = "grantee_system", .type = HTTP_PARAM_STRING},
    {.name = "services", .type = HTTP_PARAM_ARRAY, .required = true},
    {.name = "until", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};
static const struct http_param b_authorisation_revoke[] = {
    {.name = "authorisation", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};

struct auth_list {
    json_t *arr;
    int64_t now;
};

static int add_authorisation(const struct identity_authorisation *au, void *ctx)
{
    struct auth_list *l = ctx;
    json_array_append_new(l->arr, identity_authorisation_json(au, l->now));
    return 0;
}

/* GET: the authorisations the actor's organisation gave or received (the
 * data owner's staff: ?org=, or all). POST: a company's administrator
 * grants one. */
static int h_authorisations(http_request_t *req, void *ctx, err_t *err)
{
    identity_t *id = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, id, &a, err);
    if (rc)
        return rc;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        str_t org;
        char oid[IDENTITY_ID_LEN + 1];
        http_req_query(req, "org", &org);
        if ((rc = org_scope(id, &a, org, oid, err)))
            return rc;
        struct auth_list l = {json_array(), clock_now_ms()};
        if ((rc =
                 identity_authorisation_list(id, str_from_cstr(oid), add_authorisation, &l, err))) {
            json_decref(l.arr);
            return rc;
        }
        return reply_list(req, "authorisations", l.arr);
    }
    json_t *b;
    if ((rc = http_req_json_params(req, false, b_authorisation, &b, err)))
        return rc;
    struct identity_authorisation_new in = {0};
    str_t until, services[IDENTITY_AUTH_SERVICES_MAX];
    json_t *sv = json_object_get(b, "services");
    if (!(rc = member(b, "company", false, &in.company, err)) &&
        !(rc = member(b, "se", true, &in.se, err)) &&
        !(rc = member(b, "grantee", true, &in.grantee, err)) &&
        !(rc = member(b, "grantee_system", false, &in.grantee_system, err)) &&
        !(rc = member(b, "until", true, &until, err))) {
        if (!in.company.len)
            in.company = str_from_cstr(a.org_id);
        if (json_array_size(sv) > IDENTITY_AUTH_SERVICES_MAX)
            rc = err_param(err, DUPLA_EINVAL, "services", "at most %d services",
                           IDENTITY_AUTH_SERVICES_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(sv, i, v)
        {
            if (rc)
                break;
            if (!json_is_string(v))
                rc = err_param(err, DUPLA_EINVAL, "services", "services: a list of names");
            else
                services[in.n_services++] = (str_t){json_string_value(v), json_string_length(v)};
        }
        in.services = services;
        int32_t day = 0;
        if (!rc && clock_parse_date(until, &day))
            rc = err_param(err, DUPLA_EINVAL, "until", "until must be a day (yyyy-mm-dd)");
        in.until_ms = ((int64_t)day + 1) * 86400000LL; /* through the whole last day (UTC) */
        struct identity_authorisation out;
        if (!rc && !(rc = identity_authorisation_grant(id, &a, &in, &out, err))) {
            json_decref(b);
            return http_reply_json(req, 201, identity_authorisation_json(&out, clock_now_ms()));
        }
    }
    json_decref(b);
    return rc;
}

static int h_authorisation_revoke(http_request_t *req, void *ctx, err_t *err)
{
    identity_actor_t a;
    json_t *b;
    int rc = identity_http_actor(req, ctx, &a, err);
    if (rc || (rc = http_req_json_params(req, false, b_authorisation_revoke, &b, err)))
        return rc;
    str_t au;
    if (!(rc = member(b, "authorisation", true, &au, err)))
        rc = identity_authorisation_revoke(ctx, &a, au, err);
    json_decref(b);
    return rc ? rc : reply_ok(req);
}

/* The query parameters of the API (see struct http_route.query). */
static const struct http_param q_org[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .max = IDENTITY_QUERY_ID_MAX},
    {0},
};
static const struct http_param q_system[] = {
    {.name = "system", .type = HTTP_PARAM_STRING, .max = IDENTITY_QUERY_ID_MAX},
    {0},
};
static const struct http_param q_history[] = {
    {.name = "org", .type = HTTP_PARAM_STRING, .max = IDENTITY_QUERY_ID_MAX},
    {.name = "limit", .type = HTTP_PARAM_INT, .min = 1, .max = IDENTITY_LIST_MAX},
    {0},
};

int identity_routes_register(http_server_t *srv, identity_t *id, err_t *err)
{
    const unsigned R = HTTP_GET | HTTP_HEAD;
    const struct http_param *none = http_params_none;
    const struct http_route routes[] = {
        {HTTP_POST, "/api/session", h_login, id, 0, IDENTITY_LOGIN_MAX_BODY, NULL, "login", none},
        {R | HTTP_DELETE, "/api/session", h_session, id, 0, 0, NULL, "session", none},
        {HTTP_POST, "/api/setup", h_setup, id, 0, IDENTITY_LOGIN_MAX_BODY, NULL, "setup", none},
        {HTTP_POST, "/api/password", h_password, id, 0, IDENTITY_LOGIN_MAX_BODY, NULL, "password",
         none},
        {R | HTTP_POST, "/api/orgs", h_orgs, id, 0, IDENTITY_API_MAX_BODY, NULL, "orgs", none},
        {HTTP_POST, "/api/orgs/status", h_org_status, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "org-status", none},
        {R | HTTP_POST, "/api/users", h_users, id, 0, IDENTITY_API_MAX_BODY, NULL, "users", q_org},
        {HTTP_POST, "/api/users/status", h_user_status, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "user-status", none},
        {HTTP_POST, "/api/roles/grant", h_grant, id, 0, IDENTITY_API_MAX_BODY, NULL, "role-grant",
         none},
        {HTTP_POST, "/api/roles/revoke", h_revoke, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "role-revoke", none},
        {R | HTTP_POST, "/api/systems", h_systems, id, 0, IDENTITY_API_MAX_BODY, NULL, "systems",
         q_org},
        {HTTP_POST, "/api/systems/status", h_system_status, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "system-status", none},
        {HTTP_POST, "/api/systems/binding", h_system_binding, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "system-binding", none},
        {R | HTTP_POST, "/api/certs", h_certs, id, 0, IDENTITY_API_MAX_BODY, NULL, "certs",
         q_system},
        {HTTP_POST, "/api/certs/revoke", h_cert_revoke, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "cert-revoke", none},
        {R, "/api/history", h_history, id, 0, 0, NULL, "history", q_history},
        {R | HTTP_POST, "/api/authorisations", h_authorisations, id, 0, IDENTITY_API_MAX_BODY, NULL,
         "authorisations", q_org},
        {HTTP_POST, "/api/authorisations/revoke", h_authorisation_revoke, id, 0,
         IDENTITY_API_MAX_BODY, NULL, "authorisation-revoke", none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
