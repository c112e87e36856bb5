/*
 * rows.c: reading agreement and version rows, and writing agreement rows
 * and history rows.
 * Every function works on a connection the caller holds (and, for writes,
 * inside the caller's transaction).
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/encode.h"
#include "core/json.h"

/* 32 lowercase hex digits. */
bool agreement_id_well_formed(str_t id)
{
    return id.len == AGREEMENT_ID_LEN && hex_is_lower(id);
}

/* Loads the agreement row for id: 0, DUPLA_ENOTFOUND (also for an id that is
 * not well formed), or a store error. */
int agreement_row_load(store_conn_t *c, str_t id, struct ag_row *out, err_t *err)
{
    if (!agreement_id_well_formed(id))
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT id, org_cvr, environment, serving_version, pending_version,"
                           " latest_version, demo FROM agreement WHERE id = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        memset(out, 0, sizeof *out);
        str_copy(store_col_text(s, 0), out->id, sizeof out->id);
        str_copy(store_col_text(s, 1), out->org_cvr, sizeof out->org_cvr);
        out->env = str_eq_cstr(store_col_text(s, 2), "production") ? ENV_PRODUCTION : ENV_TEST;
        out->serving = store_col_is_null(s, 3) ? 0 : store_col_int64(s, 3);
        out->pending = store_col_is_null(s, 4) ? 0 : store_col_int64(s, 4);
        out->latest = store_col_int64(s, 5);
        out->demo = store_col_int64(s, 6) != 0;
        rc = 0;
    } else if (rc == STORE_DONE) {
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    }
    store_stmt_done(s);
    return rc;
}

static json_t *parse_json_col(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return NULL;
    str_t t = store_col_text(s, col);
    return json_parse(t.ptr, t.len, 0, NULL, NULL);
}

/* Loads one version; the caller clears *out with agreement_version_clear(). */
int agreement_version_load(store_conn_t *c, const char *id, int64_t version, struct ag_version *out,
                           err_t *err)
{
    store_stmt_t *s;
    memset(out, 0, sizeof *out);
    int rc = store_prepare(c,
                           "SELECT state, application, granted, drafted_by, last_editor FROM"
                           " agreement_version WHERE agreement_id = ? AND version = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, id);
    store_bind_int64(s, 2, version);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        char state[32];
        str_copy(store_col_text(s, 0), state, sizeof state);
        int st = agreement_state_parse(state);
        out->version = version;
        out->state = st < 0 ? AGREEMENT_WITHDRAWN : (enum agreement_state)st;
        out->application = parse_json_col(s, 1);
        out->granted = parse_json_col(s, 2);
        str_copy(store_col_text(s, 3), out->drafted_by, sizeof out->drafted_by);
        str_copy(store_col_text(s, 4), out->last_editor, sizeof out->last_editor);
        rc = out->application ? 0
                              : err_internal(err, DUPLA_ESTORE,
                                             "agreement %s version %lld: unreadable application",
                                             id, (long long)version);
        if (st < 0 && rc == 0)
            rc = err_internal(err, DUPLA_ESTORE, "agreement %s: unknown state", id);
        if (rc == 0)
            agreement_application_validity(out->application, &out->valid_from_ms,
                                           &out->valid_until_ms);
    } else if (rc == STORE_DONE) {
        rc = err_internal(err, DUPLA_ESTORE, "agreement %s has no version %lld", id,
                          (long long)version);
    }
    store_stmt_done(s);
    if (rc)
        agreement_version_clear(out);
    return rc;
}

void agreement_version_clear(struct ag_version *v)
{
    json_decref(v->application);
    json_decref(v->granted);
    v->application = v->granted = NULL;
}

/* Adds one history row. changes is stolen (NULL records {}); from_state is
 * AG_STATE_NONE for a new version. */
int agreement_history_add(store_conn_t *c, const char *id, int64_t version, int64_t now,
                          const struct agreement_actor *actor, const char *action, int from_state,
                          int to_state, json_t *changes, const char *reason, err_t *err)
{
    char key[ACTOR_KEY_MAX];
    agreement_actor_key(actor, key);
    if (!changes)
        changes = json_object();
    char *text = json_text(changes, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(changes);
    if (!text)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO agreement_history (agreement_id, version, at, actor,"
                           " actor_name, actor_org, action, from_state, to_state, changes, reason)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, id);
        store_bind_int64(s, 2, version);
        store_bind_int64(s, 3, now);
        store_bind_cstr(s, 4, key);
        store_bind_cstr(s, 5, actor->user_name);
        store_bind_cstr(s, 6, actor->org_cvr);
        store_bind_cstr(s, 7, action);
        store_bind_cstr(s, 8,
                        from_state == AG_STATE_NONE ? NULL : agreement_state_name(from_state));
        store_bind_cstr(s, 9, agreement_state_name(to_state));
        store_bind_cstr(s, 10, text);
        store_bind_cstr(s, 11, reason && *reason ? reason : NULL);
        rc = store_step(s, err);
        store_stmt_done(s);
    }
    free(text);
    return rc < 0 ? rc : 0;
}

int agreement_row_exec_done(store_stmt_t *s, err_t *err)
{
    int rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static void bind_version_or_null(store_stmt_t *s, int idx, int64_t v)
{
    if (v > 0)
        store_bind_int64(s, idx, v);
    else
        store_bind_null(s, idx);
}

int agreement_row_save(store_conn_t *c, const struct ag_row *row, int64_t now, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE agreement SET serving_version = ?, pending_version = ?,"
                           " latest_version = ?, updated_at = ? WHERE id = ?",
                           &s, err);
    if (rc)
        return rc;
    bind_version_or_null(s, 1, row->serving);
    bind_version_or_null(s, 2, row->pending);
    store_bind_int64(s, 3, row->latest);
    store_bind_int64(s, 4, now);
    store_bind_cstr(s, 5, row->id);
    return agreement_row_exec_done(s, err);
}
