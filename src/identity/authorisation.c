/*
 * authorisation.c: a company's authorisations of third parties to fetch its
 * own data (identity.h, "authorisations"). The rows are in
 * identity_authorisation; the hot path reads them from the registry
 * (registry.c), which every change here reloads (identity_commit).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "identity/internal.h"

#define AUTH_COLUMNS                                                                               \
    "a.id, a.company_org_id, c.cvr, a.se, a.grantee_org_id, g.cvr, a.grantee_system_id,"           \
    " a.services, a.until_ms, a.status, a.created_ms"
#define AUTH_FROM                                                                                  \
    " FROM identity_authorisation a JOIN identity_org c ON c.id = a.company_org_id"                \
    " JOIN identity_org g ON g.id = a.grantee_org_id"

static void auth_from_row(store_stmt_t *s, struct identity_authorisation *a)
{
    memset(a, 0, sizeof *a);
    str_copy(store_col_text(s, 0), a->id, sizeof a->id);
    str_copy(store_col_text(s, 1), a->company_org_id, sizeof a->company_org_id);
    str_copy(store_col_text(s, 2), a->company_cvr, sizeof a->company_cvr);
    str_copy(store_col_text(s, 3), a->se, sizeof a->se);
    str_copy(store_col_text(s, 4), a->grantee_org_id, sizeof a->grantee_org_id);
    str_copy(store_col_text(s, 5), a->grantee_cvr, sizeof a->grantee_cvr);
    str_copy(store_col_text(s, 6), a->grantee_system_id, sizeof a->grantee_system_id);
    str_copy(store_col_text(s, 7), a->services, sizeof a->services);
    a->until_ms = store_col_int64(s, 8);
    a->status = (enum authorisation_status)store_col_int64(s, 9);
    a->created_ms = store_col_int64(s, 10);
}

json_t *identity_authorisation_json(const struct identity_authorisation *a, int64_t now_ms)
{
    char until[16];
    /* until_ms is the start of the day after the last day */
    clock_format_date((int32_t)((a->until_ms - 1) / 86400000LL), until, sizeof until);
    json_t *services = json_loads(a->services, 0, NULL);
    const char *state = a->status == AUTHORISATION_REVOKED ? "revoked"
                        : now_ms >= a->until_ms            ? "expired"
                                                           : "active";
    return json_pack("{s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s, s:s?}, s:o, s:s, s:s, s:I}", "id",
                     a->id, "company", "org_id", a->company_org_id, "cvr", a->company_cvr, "se",
                     a->se, "grantee", "org_id", a->grantee_org_id, "cvr", a->grantee_cvr,
                     "system_id", a->grantee_system_id[0] ? a->grantee_system_id : NULL, "services",
                     services ? services : json_array(), "until", until, "status", state,
                     "created_ms", (json_int_t)a->created_ms);
}

static bool digits(str_t s, size_t n)
{
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int services_text(const struct identity_authorisation_new *in, char *out, size_t cap,
                         err_t *err)
{
    if (in->n_services == 0 || in->n_services > IDENTITY_AUTH_SERVICES_MAX)
        return err_param(err, DUPLA_EINVAL, "services", "name 1 to %d services",
                         IDENTITY_AUTH_SERVICES_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < in->n_services; i++) {
        str_t v = in->services[i];
        bool ok = v.len > 0 && v.len <= IDENTITY_AUTH_SERVICE_MAX;
        for (size_t k = 0; ok && k < v.len; k++)
            ok = (unsigned char)v.ptr[k] >= 0x20 && v.ptr[k] != '"' && v.ptr[k] != '\\';
        for (size_t j = 0; ok && j < i; j++)
            ok = !str_eq(v, in->services[j]);
        if (!ok) {
            json_decref(arr);
            return err_param(err, DUPLA_EINVAL, "services",
                             "service %zu is empty, too long, repeated or holds a control "
                             "character",
                             i + 1);
        }
        json_array_append_new(arr, json_stringn(v.ptr, v.len));
    }
    char *t = json_text(arr, JSON_COMPACT);
    json_decref(arr);
    int rc = t && strlen(t) < cap ? 0 : err_param(err, DUPLA_EINVAL, "services", "too long");
    if (!rc)
        snprintf(out, cap, "%s", t);
    free(t);
    return rc;
}

int identity_authorisation_grant(identity_t *id, const identity_actor_t *actor,
                                 const struct identity_authorisation_new *in,
                                 struct identity_authorisation *out, err_t *err)
{
    struct identity_authorisation a;
    memset(&a, 0, sizeof a);
    if (!digits(in->se, SE_LEN))
        return err_param(err, DUPLA_EINVAL, "se", "se must be an SE number (8 digits)");
    str_copy(in->se, a.se, sizeof a.se);
    int rc = services_text(in, a.services, sizeof a.services, err);
    if (rc)
        return rc;
    int64_t now = clock_now_ms();
    if (in->until_ms <= now)
        return err_param(err, DUPLA_EINVAL, "until", "until must be a day in the future");
    a.until_ms = in->until_ms;
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_org co, go;
    if ((rc = identity_org_find(c, in->company, &co, err)))
        goto out;
    if (actor->kind != ACTOR_LOCAL &&
        !(identity_actor_has(actor, ROLE_ADMINISTRATOR) && strcmp(actor->org_id, co.id) == 0)) {
        rc = identity_forbidden(err, "only the company's administrator authorises others to "
                                     "fetch its data");
        goto out;
    }
    err_t e2;
    err_clear(&e2);
    if (identity_org_find(c, in->grantee, &go, &e2)) {
        rc = err_param(err, DUPLA_EINVAL, "grantee", "no organisation '%.*s'",
                       (int)(in->grantee.len > 40 ? 40 : in->grantee.len), in->grantee.ptr);
        goto out;
    }
    if (strcmp(go.id, co.id) == 0 || go.data_owner) {
        rc = err_param(err, DUPLA_EINVAL, "grantee",
                       "the grantee is a third party: another organisation than the company");
        goto out;
    }
    if (in->grantee_system.len) {
        struct identity_system sy;
        if (identity_system_find(c, in->grantee_system, &sy, &e2) ||
            strcmp(sy.org_id, go.id) != 0 || sy.kind != SYSTEM_RECIPIENT) {
            rc = err_param(err, DUPLA_EINVAL, "grantee_system",
                           "grantee_system must be a recipient system of the grantee");
            goto out;
        }
        snprintf(a.grantee_system_id, sizeof a.grantee_system_id, "%s", sy.id);
    }
    if ((rc = identity_new_id(a.id, err)))
        goto out;
    snprintf(a.company_org_id, sizeof a.company_org_id, "%s", co.id);
    snprintf(a.company_cvr, sizeof a.company_cvr, "%s", co.cvr);
    snprintf(a.grantee_org_id, sizeof a.grantee_org_id, "%s", go.id);
    snprintf(a.grantee_cvr, sizeof a.grantee_cvr, "%s", go.cvr);
    a.status = AUTHORISATION_ACTIVE;
    a.created_ms = now;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "INSERT INTO identity_authorisation (id, company_org_id, se,"
                            " grantee_org_id, grantee_system_id, services, until_ms, status,"
                            " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, a.id);
    store_bind_cstr(s, 2, a.company_org_id);
    store_bind_cstr(s, 3, a.se);
    store_bind_cstr(s, 4, a.grantee_org_id);
    store_bind_cstr(s, 5, a.grantee_system_id);
    store_bind_cstr(s, 6, a.services);
    store_bind_int64(s, 7, a.until_ms);
    store_bind_int64(s, 8, a.status);
    store_bind_int64(s, 9, now);
    store_bind_int64(s, 10, now);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *after = identity_authorisation_json(&a, now);
    /* in the history of both parties */
    rc = identity_history_record(c, actor, "authorisation.grant", "authorisation", a.id, co.id,
                                 NULL, after, err);
    if (!rc)
        rc = identity_history_record(c, actor, "authorisation.grant", "authorisation", a.id, go.id,
                                     NULL, after, err);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
    if (!rc && out)
        *out = a;
out:
    store_conn_put(c);
    return rc;
}

static int auth_find(store_conn_t *c, str_t auth_id, struct identity_authorisation *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT " AUTH_COLUMNS AUTH_FROM " WHERE a.id = ?", &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, auth_id);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        auth_from_row(s, out);
    store_stmt_done(s);
    return identity_found(rc, "authorisation", "authorisation", auth_id, 40, err);
}

int identity_authorisation_revoke(identity_t *id, const identity_actor_t *actor, str_t auth_id,
                                  err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_authorisation a;
    if ((rc = auth_find(c, auth_id, &a, err)))
        goto out;
    bool may = actor->kind == ACTOR_LOCAL ||
               (identity_actor_has(actor, ROLE_ADMINISTRATOR) &&
                strcmp(actor->org_id, a.company_org_id) == 0) ||
               (actor->data_owner && identity_actor_has(actor, ROLE_OPERATOR));
    if (!may) {
        rc = identity_forbidden(err, "only the company's administrator or the platform's operator "
                                     "revokes its authorisations");
        goto out;
    }
    if (a.status == AUTHORISATION_REVOKED) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ALREADY_REVOKED, "authorisation",
                        "the authorisation is revoked already");
        goto out;
    }
    int64_t now = clock_now_ms();
    json_t *before = identity_authorisation_json(&a, now);
    a.status = AUTHORISATION_REVOKED;
    json_t *after = identity_authorisation_json(&a, now);
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "UPDATE identity_authorisation SET status = 2, updated_ms = ?"
                            " WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, now);
        store_bind_cstr(s, 2, a.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_history_record(c, actor, "authorisation.revoke", "authorisation", a.id,
                                     a.company_org_id, before, after, err);
    if (!rc)
        rc = identity_history_record(c, actor, "authorisation.revoke", "authorisation", a.id,
                                     a.grantee_org_id, before, after, err);
    json_decref(before);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

struct identity_authorisation_list_each {
    int (*fn)(const struct identity_authorisation *, void *);
    void *ctx;
};

static int identity_authorisation_list_row(store_stmt_t *s, void *ctx)
{
    struct identity_authorisation_list_each *e = ctx;
    struct identity_authorisation a;
    auth_from_row(s, &a);
    return e->fn(&a, e->ctx);
}

int identity_authorisation_list(identity_t *id, str_t org,
                                int (*fn)(const struct identity_authorisation *, void *), void *ctx,
                                err_t *err)
{
    struct identity_authorisation_list_each e = {fn, ctx};
    return identity_list_org(id, org,
                             "SELECT " AUTH_COLUMNS AUTH_FROM
                             " WHERE (? = '' OR a.company_org_id = ? OR a.grantee_org_id = ?)"
                             " ORDER BY a.created_ms DESC, a.id LIMIT ?",
                             3, IDENTITY_LIST_MAX, identity_authorisation_list_row, &e, err);
}
