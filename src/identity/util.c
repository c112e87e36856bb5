/*
 * util.c: small helpers the identity files share: hashing, input fields,
 * role names, actors, the history record and the commit that refreshes the
 * registry.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/json.h"
#include "core/log.h"
#include "identity/internal.h"

int identity_text_field(str_t s, const char *param, size_t max, bool allow_empty, char *out,
                        size_t cap, err_t *err)
{
    str_t t = str_trim(s);
    if (t.len == 0 && !allow_empty)
        return err_param(err, DUPLA_EINVAL, param, "%s is required", param);
    if (t.len > max || t.len >= cap)
        return err_param(err, DUPLA_EINVAL, param, "%s is longer than %zu bytes", param, max);
    for (size_t i = 0; i < t.len; i++) {
        unsigned char ch = (unsigned char)t.ptr[i];
        if (ch < 0x20 || ch == 0x7f)
            return err_param(err, DUPLA_EINVAL, param, "%s holds a control character", param);
    }
    str_copy(t, out, cap);
    return 0;
}

int identity_email_field(str_t s, const char *param, char *out, size_t cap, err_t *err)
{
    int rc = identity_text_field(s, param, IDENTITY_EMAIL_MAX, false, out, cap, err);
    if (rc)
        return rc;
    const char *at = strchr(out, '@');
    bool ok = at && at != out && strchr(at + 1, '@') == NULL && at[1] != '\0' &&
              strchr(at + 1, '.') != NULL && strpbrk(out, " \t<>,;\"") == NULL &&
              at[strlen(at) - 1] != '.';
    if (!ok)
        return err_param(err, DUPLA_EINVAL, param, "%s is not an e-mail address", param);
    return 0;
}

int identity_new_id(char out[IDENTITY_ID_LEN + 1], err_t *err)
{
    if (uuid_v4(out))
        return err_internal(err, DUPLA_EIO, "identity: no random bytes for an id");
    return 0;
}

int identity_found(int rc, const char *param, const char *what, str_t ref, size_t shown, err_t *err)
{
    if (rc == STORE_DONE)
        return err_param(err, DUPLA_ENOTFOUND, param, "no %s '%.*s'", what,
                         (int)(ref.len > shown ? shown : ref.len), ref.ptr);
    return rc < 0 ? rc : 0;
}

int identity_org_filter(store_conn_t *c, str_t org, char org_id[IDENTITY_ID_LEN + 1], err_t *err)
{
    org_id[0] = '\0';
    if (!org.len)
        return 0;
    struct identity_org o;
    int rc = identity_org_find(c, org, &o, err);
    if (rc == 0)
        snprintf(org_id, IDENTITY_ID_LEN + 1, "%s", o.id);
    return rc;
}

int identity_list_org(identity_t *id, str_t org, const char *sql, int n_org, int64_t limit,
                      int (*row)(store_stmt_t *s, void *ctx), void *ctx, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    char org_id[IDENTITY_ID_LEN + 1];
    store_stmt_t *s;
    if ((rc = identity_org_filter(c, org, org_id, err)) || (rc = store_prepare(c, sql, &s, err)))
        goto out;
    for (int i = 1; i <= n_org; i++)
        store_bind_cstr(s, i, org_id);
    store_bind_int64(s, n_org + 1, limit);
    while ((rc = store_step(s, err)) == STORE_ROW)
        if (row(s, ctx))
            break;
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
out:
    store_conn_put(c);
    return rc;
}

int identity_forbidden(err_t *err, const char *what)
{
    int rc = err_set(err, DUPLA_EFORBIDDEN, "%s", what);
    err_problem(err, PROBLEM_FORBIDDEN);
    return rc;
}

/* ---- roles ---- */

static const struct {
    unsigned role;
    const char *name;
} role_names[] = {
    {ROLE_ADMINISTRATOR, "administrator"},
    {ROLE_PROCESSOR, "aftager-behandler"},
    {ROLE_SIGNATORY, "aftager-underskriver"},
    {ROLE_DATAFORVALTNING, "dataforvaltning"},
    {ROLE_OPERATOR, "operator"},
};
#define N_ROLES (sizeof role_names / sizeof role_names[0])

const char *identity_role_name(unsigned role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (role_names[i].role == role)
            return role_names[i].name;
    return NULL;
}

int identity_role_parse(str_t name, unsigned *role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (str_eq_cstr(name, role_names[i].name)) {
            *role = role_names[i].role;
            return 0;
        }
    return DUPLA_EINVAL;
}

json_t *identity_roles_json(unsigned roles)
{
    json_t *a = json_array();
    for (size_t i = 0; i < N_ROLES; i++)
        if (roles & role_names[i].role)
            json_array_append_new(a, json_string(role_names[i].name));
    return a;
}

/* ---- actors ---- */

void identity_actor_local(identity_actor_t *a)
{
    memset(a, 0, sizeof *a);
    a->kind = ACTOR_LOCAL;
    a->data_owner = true;
    a->roles = ROLE_OWNER_ROLES;
    const char *login = getenv("USER");
    if (!login || !*login) {
        struct passwd *pw = getpwuid(getuid());
        login = pw ? pw->pw_name : "unknown";
    }
    snprintf(a->username, sizeof a->username, "%s", login);
    snprintf(a->label, sizeof a->label, "local:%.64s", login);
}

bool identity_actor_has(const identity_actor_t *a, unsigned role)
{
    if (a->kind == ACTOR_LOCAL)
        return true;
    return (a->roles & role) == role;
}

/* ---- history and commit ---- */

static char *history_text(json_t *j)
{
    return j ? json_text(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

int identity_history_record(store_conn_t *c, const identity_actor_t *actor, const char *action,
                            const char *object_type, const char *object_id, const char *org_id,
                            json_t *before, json_t *after, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO identity_history (at_ms, actor, action, object_type,"
                           " object_id, org_id, before_json, after_json)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc)
        return rc;
    char *b = history_text(before), *a = history_text(after);
    store_bind_int64(s, 1, clock_now_ms());
    store_bind_cstr(s, 2, actor->label);
    store_bind_cstr(s, 3, action);
    store_bind_cstr(s, 4, object_type);
    store_bind_cstr(s, 5, object_id);
    store_bind_cstr(s, 6, org_id);
    store_bind_cstr(s, 7, b);
    store_bind_cstr(s, 8, a);
    rc = store_step(s, err);
    store_stmt_done(s);
    free(b);
    free(a);
    if (rc < 0)
        return rc;
    rc = store_prepare(c, "UPDATE identity_generation SET gen = gen + 1 WHERE id = 1", &s, err);
    if (rc)
        return rc;
    rc = store_step(s, err);
    store_stmt_done(s);
    /* Other nodes reload at commit (PostgreSQL LISTEN/NOTIFY). */
    return rc < 0 ? rc : store_notify(c, "identity", err);
}

int identity_commit(identity_t *id, store_conn_t *c, err_t *err)
{
    int rc = store_commit(c, err);
    if (rc)
        return rc;
    /* The change is durable; make this process see it on the next call. A
     * failed reload is logged by the cell and retried on lookup, under the
     * failure rule of core/snapshot.h. */
    err_t e2;
    err_clear(&e2);
    identity_registry_invalidate(id, &e2);
    return 0;
}
