/*
 * user.c: users of an organisation, their one-time set-up secrets and their
 * passwords. Roles are a bit set on the user row, changed here too
 * (identity_role_grant, identity_role_revoke).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/rand.h"
#include "identity/internal.h"

#define USER_COLUMNS "id, org_id, username, display_name, status, roles, password_hash, created_ms"

json_t *identity_user_json(const struct identity_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:I}", "id", u->id, "org_id", u->org_id,
                     "username", u->username, "display_name", u->display_name, "status",
                     u->status == USER_ACTIVE ? "active" : "suspended", "roles",
                     identity_roles_json(u->roles), "has_password", u->has_password, "created_ms",
                     (json_int_t)u->created_ms);
}

static void user_from_row(store_stmt_t *s, struct identity_user *u)
{
    memset(u, 0, sizeof *u);
    str_copy(store_col_text(s, 0), u->id, sizeof u->id);
    str_copy(store_col_text(s, 1), u->org_id, sizeof u->org_id);
    str_copy(store_col_text(s, 2), u->username, sizeof u->username);
    str_copy(store_col_text(s, 3), u->display_name, sizeof u->display_name);
    u->status = (enum user_status)store_col_int64(s, 4);
    u->roles = (unsigned)store_col_int64(s, 5);
    u->has_password = !store_col_is_null(s, 6);
    u->created_ms = store_col_int64(s, 7);
}

int identity_user_find(store_conn_t *c, str_t ref, struct identity_user *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c, "SELECT " USER_COLUMNS " FROM identity_user WHERE id = ? OR username = ?", &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, ref);
    store_bind_text(s, 2, ref);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        user_from_row(s, out);
    store_stmt_done(s);
    return identity_found(rc, "user", "user", ref, 64, err);
}

int identity_user_get(identity_t *id, str_t ref, struct identity_user *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    rc = identity_user_find(c, ref, out, err);
    store_conn_put(c);
    return rc;
}

struct identity_user_list_each {
    int (*fn)(const struct identity_user *, void *);
    void *ctx;
};

static int identity_user_list_row(store_stmt_t *s, void *ctx)
{
    struct identity_user_list_each *e = ctx;
    struct identity_user u;
    user_from_row(s, &u);
    return e->fn(&u, e->ctx);
}

int identity_user_list(identity_t *id, str_t org, int (*fn)(const struct identity_user *, void *),
                       void *ctx, err_t *err)
{
    struct identity_user_list_each e = {fn, ctx};
    return identity_list_org(id, org,
                             "SELECT " USER_COLUMNS
                             " FROM identity_user WHERE (? = '' OR org_id = ?)"
                             " ORDER BY username LIMIT ?",
                             2, IDENTITY_LIST_MAX, identity_user_list_row, &e, err);
}

int identity_user_insert(store_conn_t *c, const identity_actor_t *actor, const char *org_id,
                         const char *username, const char *display_name, unsigned roles,
                         struct identity_user *out, err_t *err)
{
    struct identity_user u;
    memset(&u, 0, sizeof u);
    int rc = identity_new_id(u.id, err);
    if (rc)
        return rc;
    snprintf(u.org_id, sizeof u.org_id, "%s", org_id);
    snprintf(u.username, sizeof u.username, "%s", username);
    snprintf(u.display_name, sizeof u.display_name, "%s", display_name);
    u.status = USER_ACTIVE;
    u.roles = roles;
    u.created_ms = clock_now_ms();
    store_stmt_t *s;
    rc = store_prepare(c,
                       "INSERT INTO identity_user (id, org_id, username, display_name, status,"
                       " roles, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, u.id);
    store_bind_cstr(s, 2, u.org_id);
    store_bind_cstr(s, 3, u.username);
    store_bind_cstr(s, 4, u.display_name);
    store_bind_int64(s, 5, u.status);
    store_bind_int64(s, 6, u.roles);
    store_bind_int64(s, 7, u.created_ms);
    store_bind_int64(s, 8, u.created_ms);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    json_t *after = identity_user_json(&u);
    rc = identity_history_record(c, actor, "user.create", "user", u.id, u.org_id, NULL, after, err);
    json_decref(after);
    if (!rc && out)
        *out = u;
    return rc;
}

int identity_setup_secret_issue(identity_t *id, store_conn_t *c, const char *user_id,
                                const char *username, struct identity_setup_secret *out, err_t *err)
{
    unsigned char raw[IDENTITY_SECRET_BYTES];
    if (rand_bytes(raw, sizeof raw))
        return err_internal(err, DUPLA_EIO, "identity: no random bytes for a set-up secret");
    struct identity_setup_secret sec;
    memset(&sec, 0, sizeof sec);
    base64url_encode(raw, sizeof raw, sec.secret);
    secret_wipe(raw, sizeof raw);
    snprintf(sec.user_id, sizeof sec.user_id, "%s", user_id);
    snprintf(sec.username, sizeof sec.username, "%s", username);
    sec.expires_ms = clock_now_ms() + id->setup_ms;
    char hash[PKI_SHA256_HEX];
    pki_sha256_hex(sec.secret, strlen(sec.secret), hash);
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE identity_user SET setup_hash = ?, setup_expires_ms = ?,"
                           " updated_ms = ? WHERE id = ?",
                           &s, err);
    if (rc)
        goto out;
    store_bind_cstr(s, 1, hash);
    store_bind_int64(s, 2, sec.expires_ms);
    store_bind_int64(s, 3, clock_now_ms());
    store_bind_cstr(s, 4, user_id);
    rc = store_step(s, err);
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
    if (!rc && out)
        *out = sec;
out:
    secret_wipe(&sec, sizeof sec);
    return rc;
}

/* The organisation's kind decides which roles fit it. */
static int roles_fit(store_conn_t *c, const char *org_id, unsigned roles, struct identity_org *o,
                     err_t *err)
{
    int rc = identity_org_find(c, str_from_cstr(org_id), o, err);
    if (rc)
        return rc;
    unsigned allowed = o->data_owner ? ROLE_OWNER_ROLES : ROLE_RECIPIENT_ROLES;
    if (roles & ~allowed)
        return err_param(err, DUPLA_EINVAL, "role",
                         o->data_owner ? "the data owner's users take administrator, "
                                         "dataforvaltning or operator"
                                       : "a recipient's users take administrator, "
                                         "aftager-behandler or aftager-underskriver");
    return 0;
}

/* May actor manage the users and roles of org_id? */
static bool may_administer(const identity_actor_t *actor, const char *org_id)
{
    return actor->kind == ACTOR_LOCAL ||
           (identity_actor_has(actor, ROLE_ADMINISTRATOR) && strcmp(actor->org_id, org_id) == 0);
}

int identity_user_create(identity_t *id, const identity_actor_t *actor, str_t org, str_t username,
                         str_t display_name, unsigned roles, struct identity_user *out,
                         struct identity_setup_secret *setup, err_t *err)
{
    char uname[IDENTITY_USERNAME_MAX + 1], dname[IDENTITY_NAME_MAX + 1];
    int rc = identity_email_field(username, "username", uname, sizeof uname, err);
    if (rc)
        return rc;
    if ((rc = identity_text_field(display_name.len ? display_name : username, "display_name",
                                  IDENTITY_NAME_MAX, false, dname, sizeof dname, err)))
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_org o;
    if ((rc = identity_org_find(c, org, &o, err)))
        goto out;
    if (!may_administer(actor, o.id)) {
        rc = identity_forbidden(err, "only the organisation's administrator creates its users");
        goto out;
    }
    if ((rc = roles_fit(c, o.id, roles, &o, err)))
        goto out;
    struct identity_user probe;
    err_t e2;
    err_clear(&e2);
    rc = identity_user_find(c, str_from_cstr(uname), &probe, &e2);
    if (rc == 0) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_USERNAME_TAKEN, "username",
                        "the username is taken");
        goto out;
    }
    if (rc != DUPLA_ENOTFOUND) {
        *err = e2;
        goto out;
    }
    struct identity_user u;
    if ((rc = identity_user_insert(c, actor, o.id, uname, dname, roles, &u, err)))
        goto out;
    if ((rc = identity_setup_secret_issue(id, c, u.id, u.username, setup, err)))
        goto out;
    rc = identity_commit(id, c, err);
    if (!rc && out)
        *out = u;
out:
    store_conn_put(c);
    if (rc && setup)
        secret_wipe(setup, sizeof *setup);
    return rc;
}

/* Stores a new password hash and voids any set-up secret. */
static int store_password(store_conn_t *c, const identity_actor_t *actor,
                          const struct identity_user *u, str_t password, err_t *err)
{
    char encoded[PASSWORD_ENCODED_MAX];
    int rc = identity_password_hash(password, encoded, sizeof encoded, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "UPDATE identity_user SET password_hash = ?, setup_hash = NULL,"
                       " setup_expires_ms = NULL, updated_ms = ? WHERE id = ?",
                       &s, err);
    if (!rc) {
        store_bind_cstr(s, 1, encoded);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_cstr(s, 3, u->id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    secret_wipe(encoded, sizeof encoded);
    /* Every session of the user ends with a password change. */
    if (!rc &&
        (rc = store_prepare(c, "DELETE FROM identity_session WHERE user_id = ?", &s, err)) == 0) {
        store_bind_cstr(s, 1, u->id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_history_record(c, actor, "user.set_password", "user", u->id, u->org_id, NULL,
                                     NULL, err);
    return rc;
}

int identity_user_set_password(identity_t *id, const identity_actor_t *actor, str_t user,
                               str_t password, err_t *err)
{
    int rc = identity_password_check_policy(password, err);
    if (rc)
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_user u;
    if ((rc = identity_user_find(c, user, &u, err)))
        goto out;
    if (actor->kind != ACTOR_LOCAL && strcmp(actor->user_id, u.id) != 0) {
        rc = identity_forbidden(err, "a user sets only its own password");
        goto out;
    }
    if ((rc = store_password(c, actor, &u, password, err)))
        goto out;
    rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

int identity_user_complete_setup(identity_t *id, str_t username, str_t secret, str_t password,
                                 err_t *err)
{
    int rc = identity_password_check_policy(password, err);
    if (rc)
        return rc;
    if (secret.len == 0 || secret.len >= IDENTITY_SECRET_TEXT)
        return err_set(err, DUPLA_EUNAUTH, "the set-up secret is wrong, used or expired");
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT id, setup_hash, setup_expires_ms FROM identity_user"
                            " WHERE username = ? AND status = 1",
                            &s, err)))
        goto out;
    store_bind_text(s, 1, username);
    rc = store_step(s, err);
    char uid[IDENTITY_ID_LEN + 1] = "", have[PKI_SHA256_HEX] = "";
    int64_t expires = 0;
    if (rc == STORE_ROW) {
        str_copy(store_col_text(s, 0), uid, sizeof uid);
        str_copy(store_col_text(s, 1), have, sizeof have);
        expires = store_col_int64(s, 2);
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    char want[PKI_SHA256_HEX];
    pki_sha256_hex(secret.ptr, secret.len, want);
    bool ok = rc == STORE_ROW && have[0] && str_ct_eq(str_from_cstr(have), str_from_cstr(want)) &&
              clock_now_ms() < expires;
    if (!ok) {
        rc = err_set(err, DUPLA_EUNAUTH, "the set-up secret is wrong, used or expired");
        goto out;
    }
    struct identity_user u;
    if ((rc = identity_user_find(c, str_from_cstr(uid), &u, err)))
        goto out;
    identity_actor_t self;
    memset(&self, 0, sizeof self);
    self.kind = ACTOR_USER;
    snprintf(self.user_id, sizeof self.user_id, "%s", u.id);
    snprintf(self.org_id, sizeof self.org_id, "%s", u.org_id);
    snprintf(self.label, sizeof self.label, "user:%s", u.id);
    if ((rc = store_password(c, &self, &u, password, err)))
        goto out;
    rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

/* Active administrators of org_id other than user_id, into *n. */
static int other_admins(store_conn_t *c, const char *org_id, const char *user_id, long *n,
                        err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT COUNT(*) FROM identity_user WHERE org_id = ? AND id <> ?"
                           " AND status = ? AND (roles & ?) <> 0",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, org_id);
    store_bind_cstr(s, 2, user_id);
    store_bind_int64(s, 3, USER_ACTIVE);
    store_bind_int64(s, 4, ROLE_ADMINISTRATOR);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *n = (long)store_col_int64(s, 0);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* DUPLA_ECONFLICT (naming param, "the organisation's last active
 * administrator <what>") when u is its organisation's only active
 * administrator; 0 otherwise. */
static int not_last_admin(store_conn_t *c, const struct identity_user *u, const char *param,
                          const char *what, err_t *err)
{
    long n = 0;
    int rc = other_admins(c, u->org_id, u->id, &n, err);
    if (rc)
        return rc;
    return n ? 0
             : err_refuse(err, DUPLA_ECONFLICT, PROBLEM_LAST_ADMINISTRATOR, param,
                          "the organisation's last active administrator %s", what);
}

int identity_user_set_status(identity_t *id, const identity_actor_t *actor, str_t user,
                             enum user_status status, str_t reason, err_t *err)
{
    if (status != USER_ACTIVE && status != USER_SUSPENDED)
        return err_param(err, DUPLA_EINVAL, "status", "unknown status");
    char why[IDENTITY_REASON_MAX + 1];
    int rc = identity_text_field(reason, "reason", IDENTITY_REASON_MAX, true, why, sizeof why, err);
    if (rc)
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_user u;
    if ((rc = identity_user_find(c, user, &u, err)))
        goto out;
    if (!may_administer(actor, u.org_id)) {
        rc = identity_forbidden(err, "only the organisation's own administrator suspends and "
                                     "re-activates its users");
        goto out;
    }
    if (u.status == status) {
        rc = err_refuse(err, DUPLA_ECONFLICT,
                        status == USER_ACTIVE ? PROBLEM_ALREADY_ACTIVE : PROBLEM_ALREADY_SUSPENDED,
                        "status", "the user is already %s",
                        status == USER_ACTIVE ? "active" : "suspended");
        goto out;
    }
    if (status == USER_SUSPENDED && actor->kind == ACTOR_USER &&
        strcmp(actor->user_id, u.id) == 0) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_SELF_SUSPENSION, "user",
                        "a user cannot suspend itself");
        goto out;
    }
    if (status == USER_SUSPENDED && (u.roles & ROLE_ADMINISTRATOR) &&
        (rc = not_last_admin(c, &u, "user", "cannot be suspended", err)))
        goto out;
    json_t *before = identity_user_json(&u);
    u.status = status;
    json_t *after = identity_user_json(&u);
    if (why[0])
        json_object_set_new(after, "reason", json_string(why));
    store_stmt_t *s;
    if ((rc = store_prepare(c, "UPDATE identity_user SET status = ?, updated_ms = ? WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, status);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_cstr(s, 3, u.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    /* A suspended user's sessions end now, not at their next use. */
    if (!rc && status == USER_SUSPENDED &&
        (rc = store_prepare(c, "DELETE FROM identity_session WHERE user_id = ?", &s, err)) == 0) {
        store_bind_cstr(s, 1, u.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_history_record(c, actor,
                                     status == USER_ACTIVE ? "user.activate" : "user.suspend",
                                     "user", u.id, u.org_id, before, after, err);
    json_decref(before);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

/* ---- roles ---- */

static int role_change(identity_t *id, const identity_actor_t *actor, str_t user, unsigned role,
                       bool grant, err_t *err)
{
    if (!identity_role_name(role))
        return err_param(err, DUPLA_EINVAL, "role", "unknown role");
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_user u;
    if ((rc = identity_user_find(c, user, &u, err)))
        goto out;
    if (!may_administer(actor, u.org_id)) {
        rc = identity_forbidden(err, "only the organisation's own administrator grants and "
                                     "revokes its roles");
        goto out;
    }
    struct identity_org o;
    if ((rc = roles_fit(c, u.org_id, role, &o, err)))
        goto out;
    unsigned roles = grant ? (u.roles | role) : (u.roles & ~role);
    if (roles == u.roles) {
        rc = grant ? err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ROLE_HELD, "role",
                                "the user has the role already")
                   : err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ROLE_NOT_HELD, "role",
                                "the user does not have the role");
        goto out;
    }
    if (!grant && role == ROLE_ADMINISTRATOR && actor->kind == ACTOR_USER &&
        strcmp(actor->user_id, u.id) == 0) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_OWN_ADMIN_ROLE, "role",
                        "an administrator cannot revoke its own administrator role");
        goto out;
    }
    if (!grant && role == ROLE_ADMINISTRATOR && u.status == USER_ACTIVE &&
        (rc = not_last_admin(c, &u, "role", "keeps the role", err)))
        goto out;
    json_t *before = identity_user_json(&u);
    u.roles = roles;
    json_t *after = identity_user_json(&u);
    store_stmt_t *s;
    rc = store_prepare(c, "UPDATE identity_user SET roles = ?, updated_ms = ? WHERE id = ?", &s,
                       err);
    if (!rc) {
        store_bind_int64(s, 1, roles);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_cstr(s, 3, u.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_history_record(c, actor, grant ? "role.grant" : "role.revoke", "user", u.id,
                                     u.org_id, before, after, err);
    json_decref(before);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

int identity_role_grant(identity_t *id, const identity_actor_t *actor, str_t user, unsigned role,
                        err_t *err)
{
    return role_change(id, actor, user, role, true, err);
}

int identity_role_revoke(identity_t *id, const identity_actor_t *actor, str_t user, unsigned role,
                         err_t *err)
{
    return role_change(id, actor, user, role, false, err);
}
