/*
 * json.c: incidents read back as JSON for the API and the pages: one
 * incident with its history and attachments (internal notes only for
 * staff), and the list, each limited to what the actor may see.
 */
#include <string.h>

#include "core/clock.h"
#include "incident/internal.h"

static json_t *jtext(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return json_null();
    str_t t = store_col_text(s, col);
    json_t *j = json_stringn(t.ptr, t.len);
    return j ? j : json_string("");
}

static json_t *jtime(int64_t ms)
{
    char t[32];
    clock_format_s(ms, t, sizeof t);
    return json_string(t);
}

#define SUMMARY_COLS                                                                               \
    "id, type, environment, status, channel, org_cvr, unknown_sender, agreement_id, reporter,"     \
    " assignee, title, created_at, updated_at"

static json_t *summary_json(store_stmt_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jtext(s, 0));
    json_object_set_new(o, "type", jtext(s, 1));
    json_object_set_new(o, "environment", jtext(s, 2));
    json_object_set_new(o, "status", jtext(s, 3));
    json_object_set_new(o, "channel", jtext(s, 4));
    json_object_set_new(o, "organisation_cvr", jtext(s, 5));
    json_object_set_new(o, "unknown_sender", json_boolean(store_col_int64(s, 6)));
    json_object_set_new(o, "agreement_id", jtext(s, 7));
    json_object_set_new(o, "reporter", jtext(s, 8));
    json_object_set_new(o, "assignee", jtext(s, 9));
    json_object_set_new(o, "title", jtext(s, 10));
    json_object_set_new(o, "created_at", jtime(store_col_int64(s, 11)));
    json_object_set_new(o, "updated_at", jtime(store_col_int64(s, 12)));
    return o;
}

int incident_get_json(incident_t *inc, const struct incident_actor *actor, str_t id, json_t **out,
                      err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    struct inc_row row;
    json_t *o = NULL;
    store_stmt_t *s;
    bool staff = (actor->roles & INCIDENT_ROLE_STAFF) != 0;
    if ((rc = incident_row_load(c, id, &row, err)))
        goto out;
    if (!incident_may_see(actor, &row)) {
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "No incident %s.", row.id);
        goto out;
    }
    if ((rc = store_prepare(c,
                            "SELECT " SUMMARY_COLS ", reporter_email, description FROM incident"
                            " WHERE id = ?",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    if ((rc = store_step(s, err)) == STORE_ROW) {
        o = summary_json(s);
        json_object_set_new(o, "reporter_email", jtext(s, 13));
        json_object_set_new(o, "description", jtext(s, 14));
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *hist = json_array();
    json_object_set_new(o, "history", hist);
    if ((rc = store_prepare(c,
                            "SELECT at, actor, kind, from_status, to_status, text FROM"
                            " incident_history WHERE incident_id = ? ORDER BY id",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        str_t kind = store_col_text(s, 2);
        if (!staff && str_eq_cstr(kind, "note"))
            continue; /* staff's internal notes */
        json_t *h = json_object();
        json_object_set_new(h, "at", jtime(store_col_int64(s, 0)));
        json_object_set_new(h, "actor", jtext(s, 1));
        json_object_set_new(h, "kind", jtext(s, 2));
        json_object_set_new(h, "from_status", jtext(s, 3));
        json_object_set_new(h, "to_status", jtext(s, 4));
        json_object_set_new(h, "text", jtext(s, 5));
        json_array_append_new(hist, h);
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *att = json_array();
    json_object_set_new(o, "attachments", att);
    if ((rc = store_prepare(c,
                            "SELECT name, content_type, size, dropped_reason FROM"
                            " incident_attachment WHERE incident_id = ? ORDER BY id",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        json_t *a = json_object();
        json_object_set_new(a, "name", jtext(s, 0));
        json_object_set_new(a, "content_type", jtext(s, 1));
        json_object_set_new(a, "size", json_integer(store_col_int64(s, 2)));
        json_object_set_new(a, "kept", json_boolean(store_col_is_null(s, 3)));
        json_object_set_new(a, "dropped_reason", jtext(s, 3));
        json_array_append_new(att, a);
    }
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
out:
    store_conn_put(c);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

int incident_list_json(incident_t *inc, const struct incident_actor *actor,
                       const struct incident_filter *f, json_t **out, err_t *err)
{
    bool staff = (actor->roles & INCIDENT_ROLE_STAFF) != 0;
    const char *org = f ? f->org_cvr : NULL;
    if (!staff) {
        if (!(actor->roles & INCIDENT_ROLE_MEMBER) || !actor->org_cvr[0])
            return err_set(err, DUPLA_EFORBIDDEN, "You may not list incidents.");
        if (org && strcmp(org, actor->org_cvr) != 0)
            return err_param(err, DUPLA_EFORBIDDEN, "org",
                             "You see only your own organisation's incidents.");
        org = actor->org_cvr;
    }
    int status = f ? f->status : -1;
    const char *assignee = f ? f->assignee : NULL;
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc =
        store_prepare(c,
                      "SELECT " SUMMARY_COLS " FROM incident WHERE (? IS NULL OR org_cvr = ?)"
                      " AND (? IS NULL OR status = ?) AND (? IS NULL OR COALESCE(assignee, '') = ?)"
                      " ORDER BY created_at DESC, id DESC LIMIT ?",
                      &s, err);
    if (rc == 0) {
        const char *st = status >= 0 ? incident_status_name((enum incident_status)status) : NULL;
        store_bind_cstr(s, 1, org);
        store_bind_cstr(s, 2, org);
        store_bind_cstr(s, 3, st);
        store_bind_cstr(s, 4, st);
        store_bind_cstr(s, 5, assignee);
        store_bind_cstr(s, 6, assignee);
        store_bind_int64(s, 7, INCIDENT_LIST_MAX);
        json_t *list = json_array();
        while ((rc = store_step(s, err)) == STORE_ROW)
            json_array_append_new(list, summary_json(s));
        store_stmt_done(s);
        if (rc < 0)
            json_decref(list);
        else
            *out = list, rc = 0;
    }
    store_conn_put(c);
    return rc;
}
