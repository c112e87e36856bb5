/*
 * demo.c: the approved test agreement that `dupla demo` (make run) hands to
 * a newcomer, so that the public client works against a fresh demo at once.
 *
 * It is made through the ordinary life cycle (a demo processor drafts, a
 * demo signatory signs, a demo reviewer approves), so its history reads like
 * any other; the agreement row is then marked as the demo's, which is how a
 * second run finds it instead of making another.
 */
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/ident.h"

#define DEMO_ASSESSMENT "Testmiljø med syntetiske data. / Test environment, synthetic data."

static struct agreement_actor demo_actor(const char *name, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = 0, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "%s", name);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

static int find_demo(agreement_t *ag, const char *org_cvr, enum environment env, char *id,
                     bool *found, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT a.id FROM agreement a JOIN agreement_version v ON"
                       " v.agreement_id = a.id AND v.version = a.serving_version WHERE"
                       " a.org_cvr = ? AND a.environment = ? AND a.demo = 1 AND v.state IN"
                       " ('approved', 'suspended') ORDER BY a.created_at DESC LIMIT 1",
                       &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, org_cvr);
        store_bind_cstr(s, 2, environment_name(env));
        rc = store_step(s, err);
        *found = rc == STORE_ROW;
        if (*found)
            str_copy(store_col_text(s, 0), id, AGREEMENT_ID_LEN + 1);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}

static int mark_demo(agreement_t *ag, const char *id, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c, "UPDATE agreement SET demo = 1 WHERE id = ?", &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}

/* See agreement.h. */
int agreement_demo_setup(agreement_t *ag, const char *org_cvr, enum environment env,
                         const json_t *services, char *id_out, err_t *err)
{
    if (env != ENV_TEST)
        return err_set(err, DUPLA_EFORBIDDEN, "demo agreements exist only in the test environment");
    if (!org_cvr || !ident_cvr_valid(str_from_cstr(org_cvr)))
        return err_param(err, DUPLA_EINVAL, "org_cvr", "not a valid CVR number");
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / MS_PER_DAY), today, sizeof today);
    json_t *app = json_pack(
        "{s:s, s:s, s:[{s:s, s:s}], s:O, s:s, s:s, s:n, s:{s:s, s:s}}", "title",
        "Demo-aftale (testmiljø) / Demo agreement (test environment)", "purpose",
        "Demonstration af platformen med syntetiske testdata. / Demonstrating the platform with "
        "synthetic test data.",
        "legal_basis", "law", "Ingen: kun syntetiske data i testmiljøet (TFE)", "section", "-",
        "services", services, "systems", "all", "valid_from", today, "valid_to", "contact", "name",
        "Demo", "email", "demo@example.invalid");
    if (!app)
        return err_param(err, DUPLA_EINVAL, "services", "services must be a JSON object");
    json_t *canon;
    int rc = agreement_application_normalise(ag, org_cvr, app, true, &canon, err);
    if (rc) {
        json_decref(app);
        return rc;
    }
    struct agreement_actor processor =
        demo_actor("demo:processor", org_cvr, AGREEMENT_ROLE_PROCESSOR);
    struct agreement_actor signatory =
        demo_actor("demo:signatory", org_cvr, AGREEMENT_ROLE_SIGNATORY);
    struct agreement_actor reviewer =
        demo_actor("demo:dataforvaltning", "", AGREEMENT_ROLE_DATAFORVALTNING);
    char id[AGREEMENT_ID_LEN + 1];
    bool found = false;
    rc = find_demo(ag, org_cvr, env, id, &found, err);
    if (rc == 0 && found) {
        /* Same services granted already: nothing to do. */
        json_t *doc = NULL;
        rc = agreement_document_json(ag, &reviewer, str_from_cstr(id), &doc, err);
        json_t *serving = rc == 0 ? json_object_get(doc, "serving") : NULL;
        const char *state = json_string_value(json_object_get(serving, "state"));
        bool suspended = state && strcmp(state, "suspended") == 0;
        bool same = state && json_equal(json_object_get(serving, "granted"),
                                        json_object_get(canon, "services"));
        json_decref(doc);
        if (rc == 0 && suspended)
            rc = agreement_reactivate(ag, &reviewer, str_from_cstr(id), "demo set-up", err);
        if (rc == 0 && !same)
            rc = agreement_edit(ag, &processor, str_from_cstr(id), app, err);
        if (rc == 0 && !same)
            rc = agreement_sign(ag, &signatory, str_from_cstr(id), err);
        if (rc == 0 && !same)
            rc = agreement_approve(ag, &reviewer, str_from_cstr(id), DEMO_ASSESSMENT, NULL, NULL,
                                   err);
    } else if (rc == 0) {
        rc = agreement_create(ag, &processor, env, app, id, err);
        if (rc == 0)
            rc = agreement_sign(ag, &signatory, str_from_cstr(id), err);
        if (rc == 0)
            rc = agreement_approve(ag, &reviewer, str_from_cstr(id), DEMO_ASSESSMENT, NULL, NULL,
                                   err);
        if (rc == 0)
            rc = mark_demo(ag, id, err);
    }
    json_decref(app);
    json_decref(canon);
    if (rc == 0)
        memcpy(id_out, id, sizeof id);
    return rc;
}
