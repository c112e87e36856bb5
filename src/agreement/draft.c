/*
 * draft.c: making versions, the two changes that are not steps of the
 * life cycle's table (lifecycle.c): creating an agreement with its first
 * draft, and editing, which changes the pending draft or starts a new
 * version beside the serving one. Each is one transaction with its history
 * row and the change counter, as a step is (agreement_lifecycle_finish).
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/rand.h"

/* Who may create and edit (not table steps). */
#define ROLES_DRAFT AGREEMENT_ROLE_PROCESSOR

static int version_insert(store_conn_t *c, const char *id, int64_t version,
                          const json_t *application, const struct agreement_actor *actor,
                          int64_t now, err_t *err)
{
    char key[ACTOR_KEY_MAX];
    agreement_actor_key(actor, key);
    char *text = json_text(application, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO agreement_version (agreement_id, version, state,"
                           " application, drafted_by, drafted_by_name, last_editor, created_at,"
                           " updated_at) VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, id);
        store_bind_int64(s, 2, version);
        store_bind_cstr(s, 3, text);
        store_bind_cstr(s, 4, key);
        store_bind_cstr(s, 5, actor->user_name);
        store_bind_cstr(s, 6, key);
        store_bind_int64(s, 7, now);
        store_bind_int64(s, 8, now);
        rc = agreement_row_exec_done(s, err);
    }
    free(text);
    return rc;
}

/* See agreement.h. */
int agreement_create(agreement_t *ag, const struct agreement_actor *actor, enum environment env,
                     const json_t *application, char *id_out, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    if (!(actor->roles & ROLES_DRAFT))
        return err_set(err, DUPLA_EFORBIDDEN, "drafting an agreement needs the role %s",
                       agreement_actor_roles_text(ROLES_DRAFT));
    if (!ident_cvr_valid(str_from_cstr(actor->org_cvr)))
        return err_set(err, DUPLA_EFORBIDDEN,
                       "only a user of a recipient organisation can apply for an agreement");
    if (env != ENV_TEST && env != ENV_PRODUCTION)
        return err_param(err, DUPLA_EINVAL, "environment", "unknown environment");
    json_t *app;
    rc = agreement_application_normalise(ag, actor->org_cvr, application, false, &app, err);
    if (rc)
        return rc;
    char id[AGREEMENT_ID_LEN + 1];
    rc = rand_hex(id, AGREEMENT_ID_LEN / 2);
    if (rc) {
        json_decref(app);
        return err_internal(err, rc, "agreement: no random bytes for an id");
    }
    store_conn_t *c;
    rc = store_conn_get(ag->st, &c, err);
    if (rc) {
        json_decref(app);
        return rc;
    }
    int64_t now = clock_now_ms();
    rc = store_begin(c, err);
    store_stmt_t *s;
    if (rc == 0)
        rc = store_prepare(c,
                           "INSERT INTO agreement (id, org_cvr, environment, latest_version,"
                           " pending_version, created_at, updated_at) VALUES (?, ?, ?, 1, 1, ?, ?)",
                           &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, id);
        store_bind_cstr(s, 2, actor->org_cvr);
        store_bind_cstr(s, 3, environment_name(env));
        store_bind_int64(s, 4, now);
        store_bind_int64(s, 5, now);
        rc = agreement_row_exec_done(s, err);
    }
    if (rc == 0)
        rc = version_insert(c, id, 1, app, actor, now, err);
    if (rc == 0)
        rc = agreement_history_add(c, id, 1, now, actor, "create", AG_STATE_NONE, AGREEMENT_DRAFT,
                                   agreement_json_diff(NULL, app), NULL, err);
    json_decref(app);
    rc = agreement_lifecycle_finish(ag, c, rc, err);
    if (rc == 0)
        memcpy(id_out, id, sizeof id);
    return rc;
}

/* See agreement.h. */
int agreement_edit(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                   const json_t *application, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    store_conn_t *c;
    rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    int64_t now = clock_now_ms();
    struct ag_row row;
    struct ag_version base = {0};
    json_t *app = NULL;
    rc = store_begin(c, err);
    if (rc == 0)
        rc = agreement_row_load(c, id, &row, err);
    if (rc == 0 && !agreement_actor_may_see(actor, row.org_cvr))
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    if (rc == 0 && (!(actor->roles & ROLES_DRAFT) || strcmp(actor->org_cvr, row.org_cvr) != 0))
        rc = err_set(err, DUPLA_EFORBIDDEN,
                     "editing an agreement needs the role %s in its organisation",
                     agreement_actor_roles_text(ROLES_DRAFT));
    if (rc == 0)
        rc = agreement_application_normalise(ag, row.org_cvr, application, false, &app, err);
    if (rc == 0)
        rc = agreement_version_load(c, row.id, row.pending ? row.pending : row.latest, &base, err);
    if (rc == 0 && row.pending && base.state != AGREEMENT_DRAFT)
        rc = err_set(err, DUPLA_ECONFLICT,
                     "version %lld is signed and waiting for review; it can be withdrawn, or "
                     "returned by the data owner, but not edited",
                     (long long)row.pending);
    if (rc == 0 && row.serving && !row.pending) {
        struct ag_version serving;
        rc = agreement_version_load(c, row.id, row.serving, &serving, err);
        if (rc == 0 &&
            (serving.state == AGREEMENT_REVOKED || serving.state == AGREEMENT_TERMINATED))
            rc = err_set(err, DUPLA_ECONFLICT, "the agreement is %s; apply for a new one",
                         agreement_state_name(serving.state));
        if (rc == 0) {
            agreement_version_clear(&base);
            base = serving; /* the new version's changes are against the serving one */
        } else {
            agreement_version_clear(&serving);
        }
    }
    if (rc == 0 && row.pending) {
        char key[ACTOR_KEY_MAX];
        agreement_actor_key(actor, key);
        char *text = json_text(app, JSON_COMPACT | JSON_PRESERVE_ORDER);
        store_stmt_t *s;
        rc = text ? store_prepare(c,
                                  "UPDATE agreement_version SET application = ?, last_editor = ?,"
                                  " updated_at = ? WHERE agreement_id = ? AND version = ? AND"
                                  " state = 'draft'",
                                  &s, err)
                  : err_set(err, DUPLA_ENOMEM, "out of memory");
        if (rc == 0) {
            store_bind_cstr(s, 1, text);
            store_bind_cstr(s, 2, key);
            store_bind_int64(s, 3, now);
            store_bind_cstr(s, 4, row.id);
            store_bind_int64(s, 5, row.pending);
            rc = agreement_row_exec_done(s, err);
        }
        free(text);
        if (rc == 0)
            rc = agreement_history_add(c, row.id, row.pending, now, actor, "edit", AGREEMENT_DRAFT,
                                       AGREEMENT_DRAFT, agreement_json_diff(base.application, app),
                                       NULL, err);
    } else if (rc == 0) {
        /* A new version; whatever serves keeps serving until it is approved. */
        row.latest++;
        row.pending = row.latest;
        rc = version_insert(c, row.id, row.pending, app, actor, now, err);
        if (rc == 0)
            rc = agreement_row_save(c, &row, now, err);
        if (rc == 0)
            rc = agreement_history_add(c, row.id, row.pending, now, actor, "new-version",
                                       AG_STATE_NONE, AGREEMENT_DRAFT,
                                       agreement_json_diff(base.application, app), NULL, err);
    }
    agreement_version_clear(&base);
    json_decref(app);
    return agreement_lifecycle_finish(ag, c, rc, err);
}
