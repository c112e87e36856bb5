/*
 * lifecycle.c: the agreement's state machine.
 *
 * The table `transitions` is the whole life cycle: for each step, the state
 * it leaves, the state it enters, the roles that may take it, whether the
 * actor must belong to the agreement's organisation, which version it
 * concerns (the pending one under review, or the serving one) and whether a
 * reason is required. agreement_step() looks a step up there, checks it, and
 * applies it in one transaction together with its history row, its mail and
 * the change counter; then it rebuilds the registry the data path reads.
 *
 * Create and edit are not table steps (they make versions rather than move
 * them): draft.c, with the same checks (agreement_actor_check, agreement_lifecycle_finish).
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/problem.h"

enum target { PENDING, SERVING };

static const struct transition {
    enum agreement_action action;
    enum agreement_state from, to;
    unsigned roles; /* any one of them */
    bool own_org;   /* the actor must belong to the agreement's organisation */
    enum target target;
    bool reason_required;
} transitions[] = {
    {AGREEMENT_SIGN, AGREEMENT_DRAFT, AGREEMENT_SUBMITTED, AGREEMENT_ROLE_SIGNATORY, true, PENDING,
     false},
    {AGREEMENT_APPROVE, AGREEMENT_SUBMITTED, AGREEMENT_APPROVED, AGREEMENT_ROLE_DATAFORVALTNING,
     false, PENDING, false},
    {AGREEMENT_REJECT, AGREEMENT_SUBMITTED, AGREEMENT_REJECTED, AGREEMENT_ROLE_DATAFORVALTNING,
     false, PENDING, true},
    {AGREEMENT_RETURN, AGREEMENT_SUBMITTED, AGREEMENT_DRAFT, AGREEMENT_ROLE_DATAFORVALTNING, false,
     PENDING, true},
    {AGREEMENT_WITHDRAW, AGREEMENT_DRAFT, AGREEMENT_WITHDRAWN, AGREEMENT_ROLE_PROCESSOR, true,
     PENDING, false},
    {AGREEMENT_WITHDRAW, AGREEMENT_SUBMITTED, AGREEMENT_WITHDRAWN, AGREEMENT_ROLE_PROCESSOR, true,
     PENDING, false},
    {AGREEMENT_SUSPEND, AGREEMENT_APPROVED, AGREEMENT_SUSPENDED, AGREEMENT_ROLE_DATAFORVALTNING,
     false, SERVING, true},
    {AGREEMENT_REACTIVATE, AGREEMENT_SUSPENDED, AGREEMENT_APPROVED, AGREEMENT_ROLE_DATAFORVALTNING,
     false, SERVING, true},
    {AGREEMENT_REVOKE, AGREEMENT_APPROVED, AGREEMENT_REVOKED, AGREEMENT_ROLE_DATAFORVALTNING, false,
     SERVING, true},
    {AGREEMENT_REVOKE, AGREEMENT_SUSPENDED, AGREEMENT_REVOKED, AGREEMENT_ROLE_DATAFORVALTNING,
     false, SERVING, true},
    {AGREEMENT_TERMINATE, AGREEMENT_APPROVED, AGREEMENT_TERMINATED,
     AGREEMENT_ROLE_SIGNATORY | AGREEMENT_ROLE_ADMINISTRATOR, true, SERVING, false},
    {AGREEMENT_TERMINATE, AGREEMENT_SUSPENDED, AGREEMENT_TERMINATED,
     AGREEMENT_ROLE_SIGNATORY | AGREEMENT_ROLE_ADMINISTRATOR, true, SERVING, false},
};
#define N_TRANSITIONS (sizeof transitions / sizeof transitions[0])

static const char *const state_names[AGREEMENT_STATE_COUNT] = {
    [AGREEMENT_DRAFT] = "draft",           [AGREEMENT_SUBMITTED] = "submitted",
    [AGREEMENT_APPROVED] = "approved",     [AGREEMENT_REJECTED] = "rejected",
    [AGREEMENT_SUSPENDED] = "suspended",   [AGREEMENT_REVOKED] = "revoked",
    [AGREEMENT_TERMINATED] = "terminated", [AGREEMENT_SUPERSEDED] = "superseded",
    [AGREEMENT_WITHDRAWN] = "withdrawn",
};

static const char *const action_names[AGREEMENT_ACTION_COUNT] = {
    [AGREEMENT_CREATE] = "create",
    [AGREEMENT_EDIT] = "edit",
    [AGREEMENT_SIGN] = "sign",
    [AGREEMENT_APPROVE] = "approve",
    [AGREEMENT_REJECT] = "reject",
    [AGREEMENT_RETURN] = "return",
    [AGREEMENT_WITHDRAW] = "withdraw",
    [AGREEMENT_SUSPEND] = "suspend",
    [AGREEMENT_REACTIVATE] = "reactivate",
    [AGREEMENT_REVOKE] = "revoke",
    [AGREEMENT_TERMINATE] = "terminate",
};

/* The role names identity uses, for error messages. */
const char *agreement_actor_roles_text(unsigned roles)
{
    if (roles == AGREEMENT_ROLE_SIGNATORY)
        return "aftager-underskriver";
    if (roles == AGREEMENT_ROLE_PROCESSOR)
        return "aftager-behandler";
    if (roles == AGREEMENT_ROLE_DATAFORVALTNING)
        return "dataforvaltning";
    if (roles == (AGREEMENT_ROLE_SIGNATORY | AGREEMENT_ROLE_ADMINISTRATOR))
        return "aftager-underskriver or administrator";
    return "another role";
}

const char *agreement_state_name(enum agreement_state s)
{
    return (unsigned)s < AGREEMENT_STATE_COUNT ? state_names[s] : "unknown";
}

int agreement_state_parse(const char *name)
{
    for (int i = 0; name && i < AGREEMENT_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

const char *agreement_action_name(enum agreement_action a)
{
    return (unsigned)a < AGREEMENT_ACTION_COUNT ? action_names[a] : "unknown";
}

/* See internal.h: users by text id or number, console and system actors by
 * name. */
void agreement_actor_key(const struct agreement_actor *actor, char out[ACTOR_KEY_MAX])
{
    if (actor->user_ref[0] != '\0' && memchr(actor->user_ref, '\0', sizeof actor->user_ref) != NULL)
        snprintf(out, ACTOR_KEY_MAX, "ref:%s", actor->user_ref);
    else if (actor->user_id > 0)
        snprintf(out, ACTOR_KEY_MAX, "user:%lld", (long long)actor->user_id);
    else
        snprintf(out, ACTOR_KEY_MAX, "name:%s", actor->user_name);
}

bool agreement_actor_is_data_owner(const struct agreement_actor *actor)
{
    return (actor->roles & (AGREEMENT_ROLE_DATAFORVALTNING | AGREEMENT_ROLE_OPERATOR)) != 0;
}

/* The data owner's staff see every agreement; others only their own
 * organisation's. */
bool agreement_actor_may_see(const struct agreement_actor *actor, const char *org_cvr)
{
    return agreement_actor_is_data_owner(actor) ||
           (actor->org_cvr[0] != '\0' && strcmp(actor->org_cvr, org_cvr) == 0);
}

int agreement_actor_check(const struct agreement_actor *actor, err_t *err)
{
    if (!actor || actor->user_name[0] == '\0' ||
        memchr(actor->user_name, '\0', sizeof actor->user_name) == NULL ||
        memchr(actor->org_cvr, '\0', sizeof actor->org_cvr) == NULL)
        return err_internal(err, DUPLA_EINTERNAL, "agreement: actor without a name");
    return 0;
}

static int check_reason(const char *reason, bool required, err_t *err)
{
    size_t n = reason ? strnlen(reason, AGREEMENT_REASON_MAX + 1) : 0;
    if (required && str_trim((str_t){reason, n}).len == 0)
        return err_param(err, DUPLA_EINVAL, "reason", "a reason is required");
    if (n > AGREEMENT_REASON_MAX)
        return err_param(err, DUPLA_EINVAL, "reason", "the reason is longer than %d bytes",
                         AGREEMENT_REASON_MAX);
    return 0;
}

/* Moves a version from one state to another, refusing (DUPLA_ECONFLICT) if
 * someone else moved it first. */
static int version_move(store_conn_t *c, const char *id, int64_t version, enum agreement_state from,
                        enum agreement_state to, const char *reason, int64_t now, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE agreement_version SET state = ?, state_reason = ?,"
                           " updated_at = ? WHERE agreement_id = ? AND version = ? AND state = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, agreement_state_name(to));
    store_bind_cstr(s, 2, reason && *reason ? reason : NULL);
    store_bind_int64(s, 3, now);
    store_bind_cstr(s, 4, id);
    store_bind_int64(s, 5, version);
    store_bind_cstr(s, 6, agreement_state_name(from));
    rc = agreement_row_exec_done(s, err);
    if (rc == 0 && store_changes(c) != 1)
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_CONCURRENT_CHANGE, NULL,
                        "the agreement was changed at the same time; try again");
    return rc;
}

/* Commits, puts the connection back and rebuilds the registry. A failed
 * rebuild after a commit falls under the failure rule of core/snapshot.h:
 * the last good registry decides for at most registry.stale_max_ms, then
 * every call is refused until a rebuild succeeds (a revocation is never
 * missed for longer than that bound). */
int agreement_lifecycle_finish(agreement_t *ag, store_conn_t *c, int rc, err_t *err)
{
    if (rc == 0) {
        rc = agreement_schema_bump_generation(c, err);
        if (rc == 0)
            rc = store_commit(c, err);
    }
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    if (rc == 0) {
        err_t rerr;
        err_clear(&rerr);
        agreement_registry_reload(ag, &rerr); /* a failure is logged by the cell */
    }
    return rc;
}

static const struct transition *find_transition(enum agreement_action action,
                                                enum agreement_state from)
{
    for (size_t i = 0; i < N_TRANSITIONS; i++)
        if (transitions[i].action == action && transitions[i].from == from)
            return &transitions[i];
    return NULL;
}

static const struct transition *any_transition(enum agreement_action action)
{
    for (size_t i = 0; i < N_TRANSITIONS; i++)
        if (transitions[i].action == action)
            return &transitions[i];
    return NULL;
}

/* The checks and updates particular to approving: the assessment, the
 * granted fields (all that was asked when granted is NULL; fewer need a
 * reason), the validity, and replacing the serving version. */
static int apply_approve(store_conn_t *c, struct ag_row *row, const struct ag_version *v,
                         const struct agreement_actor *actor, const struct agreement_step *args,
                         int64_t now, json_t *changes, err_t *err)
{
    size_t n = args->assessment ? strnlen(args->assessment, AGREEMENT_ASSESSMENT_MAX + 1) : 0;
    if (str_trim((str_t){args->assessment, n}).len == 0)
        return err_param(err, DUPLA_EINVAL, "assessment",
                         "approving needs the proportionality assessment");
    if (n > AGREEMENT_ASSESSMENT_MAX)
        return err_param(err, DUPLA_EINVAL, "assessment", "the assessment is longer than %d bytes",
                         AGREEMENT_ASSESSMENT_MAX);
    json_t *asked = json_object_get(v->application, "services");
    json_t *granted;
    bool fewer = false;
    int rc;
    if (args->granted) {
        rc = agreement_granted_normalise(asked, args->granted, &granted, &fewer, err);
        if (rc)
            return rc;
    } else {
        granted = json_deep_copy(asked);
    }
    if (fewer && str_trim(str_from_cstr(args->reason)).len == 0) {
        json_decref(granted);
        return err_param(err, DUPLA_EINVAL, "reason",
                         "granting fewer fields than asked needs a reason");
    }
    if (v->valid_until_ms <= now) {
        json_decref(granted);
        return err_param(err, DUPLA_EINVAL, "valid_to",
                         "the validity has already ended; return it for a new period");
    }
    struct ag_version serving = {0};
    if (row->serving) {
        rc = agreement_version_load(c, row->id, row->serving, &serving, err);
        if (rc == 0 && serving.state == AGREEMENT_SUSPENDED)
            rc = err_set(err, DUPLA_ECONFLICT,
                         "the serving version is suspended; reactivate or revoke it first");
        if (rc == 0 && serving.state == AGREEMENT_APPROVED)
            rc = version_move(c, row->id, row->serving, AGREEMENT_APPROVED, AGREEMENT_SUPERSEDED,
                              NULL, now, err);
        if (rc == 0 && serving.state == AGREEMENT_APPROVED)
            rc = agreement_history_add(c, row->id, row->serving, now, actor, "supersede",
                                       AGREEMENT_APPROVED, AGREEMENT_SUPERSEDED, NULL, NULL, err);
        agreement_version_clear(&serving);
        if (rc) {
            json_decref(granted);
            return rc;
        }
    }
    char *text = json_text(granted, JSON_COMPACT | JSON_PRESERVE_ORDER);
    store_stmt_t *s;
    rc = text ? store_prepare(c,
                              "UPDATE agreement_version SET granted = ?, assessment = ?,"
                              " grant_reason = ?, decided_by_name = ?, decided_at = ?,"
                              " valid_from = ?, valid_until = ? WHERE agreement_id = ? AND"
                              " version = ?",
                              &s, err)
              : err_set(err, DUPLA_ENOMEM, "out of memory");
    if (rc == 0) {
        store_bind_cstr(s, 1, text);
        store_bind_cstr(s, 2, args->assessment);
        store_bind_cstr(s, 3, fewer ? args->reason : NULL);
        store_bind_cstr(s, 4, actor->user_name);
        store_bind_int64(s, 5, now);
        store_bind_int64(s, 6, v->valid_from_ms);
        if (v->valid_until_ms == INT64_MAX)
            store_bind_null(s, 7);
        else
            store_bind_int64(s, 7, v->valid_until_ms);
        store_bind_cstr(s, 8, row->id);
        store_bind_int64(s, 9, v->version);
        rc = agreement_row_exec_done(s, err);
    }
    free(text);
    json_object_set_new(changes, "granted", json_pack("{s:n, s:o}", "from", "to", granted));
    json_object_set_new(changes, "assessment",
                        json_pack("{s:n, s:s}", "from", "to", args->assessment));
    row->serving = v->version;
    row->pending = 0;
    return rc;
}

/* Signing: four eyes, and the application must be complete. */
static int apply_sign(agreement_t *ag, store_conn_t *c, const struct ag_row *row,
                      const struct ag_version *v, const struct agreement_actor *actor, int64_t now,
                      err_t *err)
{
    char key[ACTOR_KEY_MAX];
    agreement_actor_key(actor, key);
    if (strcmp(key, v->drafted_by) == 0 || strcmp(key, v->last_editor) == 0)
        return err_refuse(err, DUPLA_EFORBIDDEN, PROBLEM_FOUR_EYES, NULL,
                          "four eyes: the signatory must not be the one who drafted or last "
                          "edited this version");
    json_t *complete;
    int rc =
        agreement_application_normalise(ag, row->org_cvr, v->application, true, &complete, err);
    if (rc)
        return rc;
    json_decref(complete);
    store_stmt_t *s;
    rc = store_prepare(c,
                       "UPDATE agreement_version SET signed_by_name = ?, signed_at = ? WHERE"
                       " agreement_id = ? AND version = ?",
                       &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, actor->user_name);
    store_bind_int64(s, 2, now);
    store_bind_cstr(s, 3, row->id);
    store_bind_int64(s, 4, v->version);
    return agreement_row_exec_done(s, err);
}

static int clear_signature(store_conn_t *c, const char *id, int64_t version, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE agreement_version SET signed_by_name = NULL, signed_at = NULL"
                           " WHERE agreement_id = ? AND version = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, id);
    store_bind_int64(s, 2, version);
    return agreement_row_exec_done(s, err);
}

static int record_decision(store_conn_t *c, const char *id, int64_t version,
                           const struct agreement_actor *actor, int64_t now, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE agreement_version SET decided_by_name = ?, decided_at = ?"
                           " WHERE agreement_id = ? AND version = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, actor->user_name);
    store_bind_int64(s, 2, now);
    store_bind_cstr(s, 3, id);
    store_bind_int64(s, 4, version);
    return agreement_row_exec_done(s, err);
}

/* Revoking or terminating ends the agreement, so a pending new version can
 * never be approved: it is withdrawn in the same transaction. */
static int withdraw_pending(store_conn_t *c, struct ag_row *row,
                            const struct agreement_actor *actor, int64_t now, err_t *err)
{
    if (!row->pending)
        return 0;
    struct ag_version p;
    int rc = agreement_version_load(c, row->id, row->pending, &p, err);
    if (rc)
        return rc;
    rc = version_move(c, row->id, row->pending, p.state, AGREEMENT_WITHDRAWN,
                      "the agreement has ended", now, err);
    if (rc == 0)
        rc = agreement_history_add(c, row->id, row->pending, now, actor, "withdraw", p.state,
                                   AGREEMENT_WITHDRAWN, NULL, "the agreement has ended", err);
    agreement_version_clear(&p);
    row->pending = 0;
    return rc;
}

/* See agreement.h. */
int agreement_step(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                   enum agreement_action action, const struct agreement_step *args, err_t *err)
{
    static const struct agreement_step no_args = {0};
    if (!args)
        args = &no_args;
    int rc = agreement_actor_check(actor, err);
    if (rc)
        return rc;
    const struct transition *any = any_transition(action);
    if (!any)
        return err_internal(err, DUPLA_EINTERNAL, "agreement_step: %s is not a step",
                            agreement_action_name(action));
    rc = check_reason(args->reason, any->reason_required, err);
    if (rc)
        return rc;
    store_conn_t *c;
    rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    int64_t now = clock_now_ms();
    struct ag_row row;
    struct ag_version v = {0};
    const struct transition *t = NULL;
    json_t *changes = json_object();
    rc = store_begin(c, err);
    if (rc == 0)
        rc = agreement_row_load(c, id, &row, err);
    if (rc == 0 && !agreement_actor_may_see(actor, row.org_cvr))
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    /* Role before state: a refusal for the role must not tell the state. */
    if (rc == 0 && (!(actor->roles & any->roles) ||
                    (any->own_org && strcmp(actor->org_cvr, row.org_cvr) != 0)))
        rc = err_set(err, DUPLA_EFORBIDDEN, "to %s an agreement needs the role %s%s",
                     agreement_action_name(action), agreement_actor_roles_text(any->roles),
                     any->own_org ? " in its organisation" : "");
    int64_t version = 0;
    if (rc == 0) {
        version = any->target == PENDING ? row.pending : row.serving;
        if (!version)
            rc = err_set(err, DUPLA_ECONFLICT, "the agreement has no %s version to %s",
                         any->target == PENDING ? "pending" : "approved",
                         agreement_action_name(action));
    }
    if (rc == 0)
        rc = agreement_version_load(c, row.id, version, &v, err);
    if (rc == 0 && !(t = find_transition(action, v.state)))
        rc = err_set(err, DUPLA_ECONFLICT, "cannot %s an agreement whose version %lld is %s",
                     agreement_action_name(action), (long long)version,
                     agreement_state_name(v.state));
    if (rc == 0) {
        switch (action) {
        case AGREEMENT_SIGN:
            rc = apply_sign(ag, c, &row, &v, actor, now, err);
            break;
        case AGREEMENT_APPROVE:
            rc = apply_approve(c, &row, &v, actor, args, now, changes, err);
            break;
        case AGREEMENT_RETURN:
            rc = clear_signature(c, row.id, version, err);
            if (rc == 0)
                rc = record_decision(c, row.id, version, actor, now, err);
            break;
        case AGREEMENT_REJECT:
            rc = record_decision(c, row.id, version, actor, now, err);
            row.pending = 0;
            break;
        case AGREEMENT_WITHDRAW:
            row.pending = 0;
            break;
        case AGREEMENT_REVOKE:
        case AGREEMENT_TERMINATE:
            rc = withdraw_pending(c, &row, actor, now, err);
            break;
        default:
            break;
        }
    }
    if (rc == 0)
        rc = version_move(c, row.id, version, t->from, t->to, args->reason, now, err);
    if (rc == 0)
        rc = agreement_row_save(c, &row, now, err);
    if (rc == 0) {
        rc = agreement_history_add(c, row.id, version, now, actor, agreement_action_name(action),
                                   t->from, t->to, changes, args->reason, err);
        changes = NULL;
    }
    if (rc == 0)
        rc = agreement_notify_decision(ag, c, &row, version, v.application, action, args->reason,
                                       now, err);
    json_decref(changes);
    agreement_version_clear(&v);
    return agreement_lifecycle_finish(ag, c, rc, err);
}

int agreement_sign(agreement_t *ag, const struct agreement_actor *actor, str_t id, err_t *err)
{
    return agreement_step(ag, actor, id, AGREEMENT_SIGN, NULL, err);
}

int agreement_approve(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                      const char *assessment, const json_t *granted, const char *reason, err_t *err)
{
    struct agreement_step a = {.reason = reason, .assessment = assessment, .granted = granted};
    return agreement_step(ag, actor, id, AGREEMENT_APPROVE, &a, err);
}

#define STEP_WITH_REASON(fn, action)                                                               \
    int fn(agreement_t *ag, const struct agreement_actor *actor, str_t id, const char *reason,     \
           err_t *err)                                                                             \
    {                                                                                              \
        struct agreement_step a = {.reason = reason};                                              \
        return agreement_step(ag, actor, id, action, &a, err);                                     \
    }

STEP_WITH_REASON(agreement_reject, AGREEMENT_REJECT)
STEP_WITH_REASON(agreement_return, AGREEMENT_RETURN)
STEP_WITH_REASON(agreement_suspend, AGREEMENT_SUSPEND)
STEP_WITH_REASON(agreement_reactivate, AGREEMENT_REACTIVATE)
STEP_WITH_REASON(agreement_revoke, AGREEMENT_REVOKE)
STEP_WITH_REASON(agreement_terminate, AGREEMENT_TERMINATE)
