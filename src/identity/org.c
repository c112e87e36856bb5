/*
 * org.c: organisations (agreement parties and the data owner) and onboarding.
 *
 * Onboarding is one transaction: the organisation row, its administrator
 * user with a one-time set-up secret, and two history entries.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "core/rand.h"
#include "identity/internal.h"

const char *identity_org_status_name(enum org_status s)
{
    switch (s) {
    case ORG_ACTIVE:
        return "active";
    case ORG_SUSPENDED:
        return "suspended";
    case ORG_CLOSED:
        return "closed";
    }
    return "unknown";
}

int identity_org_status_parse(str_t s, enum org_status *out)
{
    if (str_eq_cstr(s, "active"))
        *out = ORG_ACTIVE;
    else if (str_eq_cstr(s, "suspended"))
        *out = ORG_SUSPENDED;
    else if (str_eq_cstr(s, "closed"))
        *out = ORG_CLOSED;
    else
        return DUPLA_EINVAL;
    return 0;
}

int identity_envs_parse(str_t s, unsigned *out)
{
    unsigned envs = 0;
    str_t rest = s, item;
    while (rest.len) {
        str_split(rest, ',', &item, &rest);
        item = str_trim(item);
        if (str_eq_cstr(item, "test"))
            envs |= ORG_ENV_TEST;
        else if (str_eq_cstr(item, "production"))
            envs |= ORG_ENV_PRODUCTION;
        else
            return DUPLA_EINVAL;
    }
    if (!envs)
        return DUPLA_EINVAL;
    *out = envs;
    return 0;
}

json_t *identity_envs_json(unsigned envs)
{
    json_t *a = json_array();
    if (envs & ORG_ENV_TEST)
        json_array_append_new(a, json_string("test"));
    if (envs & ORG_ENV_PRODUCTION)
        json_array_append_new(a, json_string("production"));
    return a;
}

json_t *identity_org_json(const struct identity_org *o)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:I, s:I}", "id", o->id, "name", o->name,
                     "cvr", o->cvr, "contact_email", o->contact_email, "status",
                     identity_org_status_name(o->status), "environments",
                     identity_envs_json(o->environments), "data_owner", o->data_owner, "created_ms",
                     (json_int_t)o->created_ms, "updated_ms", (json_int_t)o->updated_ms);
}

void identity_org_from_row(store_stmt_t *s, struct identity_org *o)
{
    memset(o, 0, sizeof *o);
    str_copy(store_col_text(s, 0), o->id, sizeof o->id);
    str_copy(store_col_text(s, 1), o->name, sizeof o->name);
    str_copy(store_col_text(s, 2), o->cvr, sizeof o->cvr);
    str_copy(store_col_text(s, 3), o->contact_email, sizeof o->contact_email);
    o->status = (enum org_status)store_col_int64(s, 4);
    o->environments = (unsigned)store_col_int64(s, 5);
    o->data_owner = store_col_int64(s, 6) != 0;
    o->created_ms = store_col_int64(s, 7);
    o->updated_ms = store_col_int64(s, 8);
}

int identity_org_find(store_conn_t *c, str_t ref, struct identity_org *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT " ORG_COLUMNS " FROM identity_org WHERE id = ? OR cvr = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, ref);
    store_bind_text(s, 2, ref);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        identity_org_from_row(s, out);
    store_stmt_done(s);
    return identity_found(rc, "org", "organisation", ref, 64, err);
}

int identity_org_get(identity_t *id, str_t ref, struct identity_org *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    rc = identity_org_find(c, ref, out, err);
    store_conn_put(c);
    return rc;
}

int identity_org_owner(identity_t *id, struct identity_org *out, err_t *err)
{
    return identity_org_get(id, str_from_cstr(id->owner_cvr), out, err);
}

int identity_org_list(identity_t *id, int (*fn)(const struct identity_org *, void *), void *ctx,
                      err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c, "SELECT " ORG_COLUMNS " FROM identity_org ORDER BY name, cvr LIMIT ?", &s,
                       err);
    if (!rc) {
        store_bind_int64(s, 1, IDENTITY_LIST_MAX);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            struct identity_org o;
            identity_org_from_row(s, &o);
            if (fn(&o, ctx))
                break;
        }
        store_stmt_done(s);
    }
    store_conn_put(c);
    return rc < 0 ? rc : 0;
}

/* Inserts an organisation row inside the caller's transaction. */
static int org_insert(store_conn_t *c, const struct identity_org *o, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(
        c, "INSERT INTO identity_org (" ORG_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &s,
        err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, o->id);
    store_bind_cstr(s, 2, o->name);
    store_bind_cstr(s, 3, o->cvr);
    store_bind_cstr(s, 4, o->contact_email);
    store_bind_int64(s, 5, o->status);
    store_bind_int64(s, 6, o->environments);
    store_bind_int64(s, 7, o->data_owner ? 1 : 0);
    store_bind_int64(s, 8, o->created_ms);
    store_bind_int64(s, 9, o->updated_ms);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static int cvr_taken(store_conn_t *c, const char *cvr, bool *taken, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT 1 FROM identity_org WHERE cvr = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, cvr);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    *taken = rc == STORE_ROW;
    return 0;
}

static int username_taken(store_conn_t *c, const char *username, bool *taken, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT 1 FROM identity_user WHERE username = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, username);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    *taken = rc == STORE_ROW;
    return 0;
}

int identity_org_create(identity_t *id, const identity_actor_t *actor,
                        const struct identity_org_new *in, struct identity_org *out,
                        struct identity_setup_secret *admin, err_t *err)
{
    if (actor->kind != ACTOR_LOCAL &&
        !(actor->data_owner && identity_actor_has(actor, ROLE_DATAFORVALTNING)))
        return identity_forbidden(err, "only the data owner's dataforvaltning creates "
                                       "organisations");
    struct identity_org o;
    memset(&o, 0, sizeof o);
    char admin_user[IDENTITY_USERNAME_MAX + 1], admin_name[IDENTITY_NAME_MAX + 1];
    int rc;
    if ((rc = identity_text_field(in->name, "name", IDENTITY_NAME_MAX, false, o.name, sizeof o.name,
                                  err)))
        return rc;
    str_t cvr = str_trim(in->cvr);
    if (!ident_cvr_valid(cvr))
        return err_param(err, DUPLA_EINVAL, "cvr",
                         "cvr must be 8 digits with a valid modulus-11 check");
    str_copy(cvr, o.cvr, sizeof o.cvr);
    if ((rc = identity_email_field(in->contact_email, "contact_email", o.contact_email,
                                   sizeof o.contact_email, err)))
        return rc;
    if ((rc = identity_email_field(in->admin_username, "admin_username", admin_user,
                                   sizeof admin_user, err)))
        return rc;
    if ((rc = identity_text_field(in->admin_name.len ? in->admin_name : STR("Administrator"),
                                  "admin_name", IDENTITY_NAME_MAX, false, admin_name,
                                  sizeof admin_name, err)))
        return rc;
    o.environments = in->environments ? in->environments : ORG_ENV_TEST;
    if (o.environments & ~(ORG_ENV_TEST | ORG_ENV_PRODUCTION))
        return err_param(err, DUPLA_EINVAL, "environments", "unknown environment");
    o.status = ORG_ACTIVE;
    o.created_ms = o.updated_ms = clock_now_ms();
    if ((rc = identity_new_id(o.id, err)))
        return rc;

    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    bool taken;
    if ((rc = cvr_taken(c, o.cvr, &taken, err)))
        goto out;
    if (taken) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ORG_EXISTS, "cvr",
                        "an organisation with CVR %s exists", o.cvr);
        goto out;
    }
    if ((rc = username_taken(c, admin_user, &taken, err)))
        goto out;
    if (taken) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_USERNAME_TAKEN, "admin_username",
                        "the username is taken");
        goto out;
    }
    if ((rc = org_insert(c, &o, err)))
        goto out;
    json_t *after = identity_org_json(&o);
    rc = identity_history_record(c, actor, "org.create", "org", o.id, o.id, NULL, after, err);
    json_decref(after);
    if (rc)
        goto out;
    struct identity_user u;
    if ((rc = identity_user_insert(c, actor, o.id, admin_user, admin_name, ROLE_ADMINISTRATOR, &u,
                                   err)))
        goto out;
    if ((rc = identity_setup_secret_issue(id, c, u.id, u.username, admin, err)))
        goto out;
    if (in->in_transaction && (rc = in->in_transaction(c, &o, admin, in->in_transaction_ctx, err)))
        goto out;
    rc = identity_commit(id, c, err);
    if (!rc && out)
        *out = o;
out:
    store_conn_put(c);
    if (rc && admin)
        secret_wipe(admin, sizeof *admin);
    return rc;
}

int identity_org_set_status(identity_t *id, const identity_actor_t *actor, str_t ref,
                            enum org_status status, str_t reason, err_t *err)
{
    if (actor->kind != ACTOR_LOCAL &&
        !(actor->data_owner && identity_actor_has(actor, ROLE_DATAFORVALTNING)))
        return identity_forbidden(err, "only the data owner's dataforvaltning changes an "
                                       "organisation's status");
    if (status != ORG_ACTIVE && status != ORG_SUSPENDED && status != ORG_CLOSED)
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
    struct identity_org o;
    if ((rc = identity_org_find(c, ref, &o, err)))
        goto out;
    if (o.data_owner) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_DATA_OWNER_FIXED, "org",
                        "the data owner cannot be suspended or closed");
        goto out;
    }
    if (o.status == ORG_CLOSED && status != ORG_CLOSED) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ORG_CLOSED, "status",
                        "a closed organisation stays closed");
        goto out;
    }
    if (o.status == status) {
        rc = err_refuse(err, DUPLA_ECONFLICT,
                        status == ORG_ACTIVE   ? PROBLEM_ALREADY_ACTIVE
                        : status == ORG_CLOSED ? PROBLEM_ORG_CLOSED
                                               : PROBLEM_ALREADY_SUSPENDED,
                        "status", "the organisation is already %s",
                        identity_org_status_name(status));
        goto out;
    }
    json_t *before = identity_org_json(&o);
    o.status = status;
    o.updated_ms = clock_now_ms();
    json_t *after = identity_org_json(&o);
    if (why[0])
        json_object_set_new(after, "reason", json_string(why));
    store_stmt_t *s;
    rc = store_prepare(c, "UPDATE identity_org SET status = ?, updated_ms = ? WHERE id = ?", &s,
                       err);
    if (!rc) {
        store_bind_int64(s, 1, status);
        store_bind_int64(s, 2, o.updated_ms);
        store_bind_cstr(s, 3, o.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc) {
        const char *action = status == ORG_ACTIVE      ? "org.activate"
                             : status == ORG_SUSPENDED ? "org.suspend"
                                                       : "org.close";
        rc = identity_history_record(c, actor, action, "org", o.id, o.id, before, after, err);
    }
    json_decref(before);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

/* Makes sure the data owner organisation exists (identity_open). It has no
 * users yet: the first data owner users come from the CLI. */
int identity_owner_ensure(identity_t *id, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    store_stmt_t *s;
    if ((rc = store_prepare(c, "SELECT cvr FROM identity_org WHERE data_owner = 1", &s, err)))
        goto out;
    rc = store_step(s, err);
    char have[CVR_LEN + 1] = "";
    if (rc == STORE_ROW)
        str_copy(store_col_text(s, 0), have, sizeof have);
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    if (rc == STORE_ROW) {
        if (strcmp(have, id->owner_cvr) != 0)
            rc = err_param(err, DUPLA_ECONFLICT, "identity.owner_cvr",
                           "the store's data owner has CVR %s, the configuration says %s", have,
                           id->owner_cvr);
        else
            rc = 0;
        goto out;
    }
    struct identity_org o;
    memset(&o, 0, sizeof o);
    if ((rc = identity_new_id(o.id, err)))
        goto out;
    snprintf(o.name, sizeof o.name, "%s", id->owner_name);
    snprintf(o.cvr, sizeof o.cvr, "%s", id->owner_cvr);
    snprintf(o.contact_email, sizeof o.contact_email, "dupla@localhost.invalid");
    o.status = ORG_ACTIVE;
    o.environments = ORG_ENV_TEST | ORG_ENV_PRODUCTION;
    o.data_owner = true;
    o.created_ms = o.updated_ms = clock_now_ms();
    if ((rc = org_insert(c, &o, err)))
        goto out;
    identity_actor_t sys;
    identity_actor_local(&sys);
    snprintf(sys.label, sizeof sys.label, "system:bootstrap");
    json_t *after = identity_org_json(&o);
    rc = identity_history_record(c, &sys, "org.create", "org", o.id, o.id, NULL, after, err);
    json_decref(after);
    if (!rc)
        rc = store_commit(c, err);
out:
    store_conn_put(c);
    return rc;
}
