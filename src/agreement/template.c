/*
 * template.c: agreement templates (#21.7). The data owner's dataforvaltning
 * publishes templates for common uses (services, fields, legal basis and
 * purpose category filled in); a recipient's processor starts a draft from
 * one and completes what is its own (systems, dates, contact). A template is
 * an application checked as a draft is (agreement_application_normalise),
 * kept in agreement_template with a published flag; withdrawing it leaves
 * the drafts made from it alone.
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/encode.h"
#include "core/json.h"
#include "core/rand.h"

#define ROLES_TEMPLATE AGREEMENT_ROLE_DATAFORVALTNING

static bool staff(const struct agreement_actor *a)
{
    return !a->org_cvr[0] &&
           (a->roles & (AGREEMENT_ROLE_DATAFORVALTNING | AGREEMENT_ROLE_OPERATOR)) != 0;
}

/* The template's application from in: the members of an application a
 * template may set, checked as a draft's, with title, legal basis, services
 * and purpose category required. */
static int template_application(const agreement_t *ag, const json_t *in, json_t **out, err_t *err)
{
    if (!json_is_object(in))
        return err_param(err, DUPLA_EINVAL, "template", "the template must be an object");
    static const char *const allowed[] = {"title",       "purpose",  "purpose_category",
                                          "legal_basis", "services", "recipient_kind"};
    json_t *app = json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)in, key, val)
    {
        bool ok = strcmp(key, "published") == 0 || strcmp(key, "id") == 0;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && !ok; i++)
            if (strcmp(key, allowed[i]) == 0) {
                json_object_set(app, key, val);
                ok = true;
            }
        if (!ok) {
            json_decref(app);
            return err_param(err, DUPLA_EINVAL, key, "'%.40s' is not a member of a template", key);
        }
    }
    json_t *canon;
    int rc = agreement_application_normalise(ag, "", app, false, &canon, err);
    json_decref(app);
    if (rc)
        return rc;
    if (!json_is_string(json_object_get(canon, "title")))
        rc = err_param(err, DUPLA_EINVAL, "title", "title is required");
    else if (json_array_size(json_object_get(canon, "legal_basis")) == 0)
        rc = err_param(err, DUPLA_EINVAL, "legal_basis",
                       "legal_basis needs at least one law and section");
    else if (json_object_size(json_object_get(canon, "services")) == 0)
        rc = err_param(err, DUPLA_EINVAL, "services", "services needs at least one service");
    else if (!json_is_string(json_object_get(canon, "purpose_category")))
        rc = err_param(err, DUPLA_EINVAL, "purpose_category", "purpose_category is required");
    if (rc) {
        json_decref(canon);
        return rc;
    }
    /* what a template does not decide */
    static const char *const drop[] = {"systems", "valid_from", "valid_to", "expected_volume",
                                       "contact"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        json_object_del(canon, drop[i]);
    *out = canon;
    return 0;
}

static int published_member(const json_t *in, int *out, err_t *err)
{
    json_t *v = json_object_get(in, "published");
    if (!v || json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_param(err, DUPLA_EINVAL, "published", "published must be true or false");
    *out = json_is_true(v) ? 1 : 0;
    return 0;
}

static bool id_ok(str_t id)
{
    return id.len == AGREEMENT_ID_LEN && hex_is_lower(id);
}

/* See agreement.h. */
int agreement_template_save(agreement_t *ag, const struct agreement_actor *actor, const json_t *in,
                            char *id_out, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    if (!staff(actor) || !(actor->roles & ROLES_TEMPLATE))
        return err_set(err, DUPLA_EFORBIDDEN, "templates are the data owner's dataforvaltning's");
    int published = -1;
    if ((rc = published_member(in, &published, err)))
        return rc;
    json_t *idv = json_is_object(in) ? json_object_get(in, "id") : NULL;
    char id[AGREEMENT_ID_LEN + 1] = "";
    if (idv && !json_is_null(idv)) {
        if (!json_is_string(idv) ||
            !id_ok((str_t){json_string_value(idv), json_string_length(idv)}))
            return err_param(err, DUPLA_EINVAL, "id", "id must be a template's id");
        memcpy(id, json_string_value(idv), AGREEMENT_ID_LEN + 1);
    }
    json_t *app = NULL;
    if ((rc = template_application(ag, in, &app, err)))
        return rc;
    char *text = json_text(app, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *title = json_string_value(json_object_get(app, "title"));
    char key[ACTOR_KEY_MAX];
    agreement_actor_key(actor, key);
    int64_t now = clock_now_ms();
    store_conn_t *c = NULL;
    store_stmt_t *s;
    if (!text) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = store_conn_get(ag->st, &c, err)))
        goto out;
    if (!id[0]) {
        if ((rc = rand_hex(id, AGREEMENT_ID_LEN / 2))) {
            rc = err_internal(err, rc, "agreement: no random bytes for an id");
            goto out;
        }
        rc = store_prepare(c,
                           "INSERT INTO agreement_template (id, title, application, published,"
                           " created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
        if (rc == 0) {
            store_bind_cstr(s, 1, id);
            store_bind_cstr(s, 2, title);
            store_bind_cstr(s, 3, text);
            store_bind_int64(s, 4, published == 1);
            store_bind_int64(s, 5, now);
            store_bind_int64(s, 6, now);
            store_bind_cstr(s, 7, key);
            rc = store_step(s, err);
            store_stmt_done(s);
        }
    } else {
        rc = store_prepare(c,
                           "UPDATE agreement_template SET title = ?, application = ?,"
                           " published = CASE WHEN ? < 0 THEN published ELSE ? END,"
                           " updated_at = ?, updated_by = ? WHERE id = ?",
                           &s, err);
        if (rc == 0) {
            store_bind_cstr(s, 1, title);
            store_bind_cstr(s, 2, text);
            store_bind_int64(s, 3, published);
            store_bind_int64(s, 4, published);
            store_bind_int64(s, 5, now);
            store_bind_cstr(s, 6, key);
            store_bind_cstr(s, 7, id);
            rc = store_step(s, err);
            store_stmt_done(s);
            if (rc >= 0 && store_changes(c) != 1)
                rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such template");
        }
    }
    if (rc >= 0) {
        rc = 0;
        if (id_out)
            memcpy(id_out, id, AGREEMENT_ID_LEN + 1);
    }
out:
    if (c)
        store_conn_put(c);
    free(text);
    json_decref(app);
    return rc;
}

/* See agreement.h. */
int agreement_template_publish(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                               bool published, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    if (!staff(actor) || !(actor->roles & ROLES_TEMPLATE))
        return err_set(err, DUPLA_EFORBIDDEN, "templates are the data owner's dataforvaltning's");
    if (!id_ok(id))
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such template");
    store_conn_t *c;
    if ((rc = store_conn_get(ag->st, &c, err)))
        return rc;
    store_stmt_t *s;
    rc = store_prepare(
        c, "UPDATE agreement_template SET published = ?, updated_at = ? WHERE id = ?", &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, published);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_text(s, 3, id);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc >= 0)
            rc = store_changes(c) == 1 ? 0
                                       : err_param(err, DUPLA_ENOTFOUND, "id", "no such template");
    }
    store_conn_put(c);
    return rc;
}

static json_t *row_json(store_stmt_t *s)
{
    json_t *app = json_parse(store_col_text(s, 1).ptr, store_col_text(s, 1).len, 0, NULL, NULL);
    if (!app)
        app = json_object();
    char t[32];
    clock_format_s(store_col_int64(s, 3), t, sizeof t);
    json_object_set_new(app, "id",
                        json_stringn(store_col_text(s, 0).ptr, store_col_text(s, 0).len));
    json_object_set_new(app, "published", json_boolean(store_col_int64(s, 2) != 0));
    json_object_set_new(app, "updated_at", json_string(t));
    return app;
}

/* See agreement.h. */
int agreement_template_list(agreement_t *ag, const struct agreement_actor *actor, json_t **out,
                            err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(ag->st, &c, err)))
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT id, application, published, updated_at FROM agreement_template"
                       " WHERE (? = 1 OR published = 1) ORDER BY title, id LIMIT ?",
                       &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, staff(actor) ? 1 : 0);
        store_bind_int64(s, 2, AGREEMENT_TEMPLATES_MAX);
        json_t *arr = json_array();
        while ((rc = store_step(s, err)) == STORE_ROW)
            json_array_append_new(arr, row_json(s));
        store_stmt_done(s);
        if (rc < 0)
            json_decref(arr);
        else {
            rc = 0;
            *out = arr;
        }
    }
    store_conn_put(c);
    return rc;
}

/* See agreement.h. */
int agreement_template_get(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                           json_t **out, err_t *err)
{
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    if (!id_ok(id))
        return err_param(err, DUPLA_ENOTFOUND, "template", "no such template");
    store_conn_t *c;
    if ((rc = store_conn_get(ag->st, &c, err)))
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT id, application, published, updated_at FROM agreement_template"
                       " WHERE id = ? AND (? = 1 OR published = 1)",
                       &s, err);
    if (rc == 0) {
        store_bind_text(s, 1, id);
        store_bind_int64(s, 2, staff(actor) ? 1 : 0);
        rc = store_step(s, err);
        if (rc == STORE_ROW) {
            *out = row_json(s);
            rc = 0;
        } else if (rc == STORE_DONE) {
            rc = err_param(err, DUPLA_ENOTFOUND, "template", "no such template");
        }
        store_stmt_done(s);
    }
    store_conn_put(c);
    return rc;
}

/* See agreement.h. */
int agreement_create_from_template(agreement_t *ag, const struct agreement_actor *actor,
                                   enum environment env, str_t template_id, char *id_out,
                                   err_t *err)
{
    json_t *t;
    int rc = agreement_template_get(ag, actor, template_id, &t, err);
    if (rc)
        return rc;
    json_object_del(t, "id");
    json_object_del(t, "published");
    json_object_del(t, "updated_at");
    rc = agreement_create(ag, actor, env, t, id_out, err);
    json_decref(t);
    return rc;
}
