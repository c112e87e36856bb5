/*
 * actor.c: identity's logged-in user as agreement's, incident's and the
 * disclosure log's actor (see actor.h).
 */
#include "web/actor.h"

#include <stdio.h>
#include <string.h>

/* identity's role bits are agreement's (one list of roles, two names). */
_Static_assert(ROLE_ADMINISTRATOR == AGREEMENT_ROLE_ADMINISTRATOR &&
                   ROLE_PROCESSOR == AGREEMENT_ROLE_PROCESSOR &&
                   ROLE_SIGNATORY == AGREEMENT_ROLE_SIGNATORY &&
                   ROLE_DATAFORVALTNING == AGREEMENT_ROLE_DATAFORVALTNING &&
                   ROLE_OPERATOR == AGREEMENT_ROLE_OPERATOR,
               "identity and agreement role bits differ");

/* The user's organisation's CVR into out (cap bytes): org_cvr, or looked
 * up in id. */
static int org_cvr_of(identity_t *id, const identity_actor_t *ia, const char *org_cvr, char *out,
                      size_t cap, err_t *err)
{
    if (org_cvr) {
        snprintf(out, cap, "%.*s", CVR_LEN, org_cvr);
        return 0;
    }
    struct identity_org org;
    int rc = identity_org_get(id, str_from_cstr(ia->org_id), &org, err);
    if (rc)
        return rc;
    snprintf(out, cap, "%.*s", CVR_LEN, org.cvr);
    return 0;
}

/* The data owner's dataforvaltning or operator user. */
static bool staff(const identity_actor_t *ia)
{
    return ia->data_owner && (ia->roles & (ROLE_DATAFORVALTNING | ROLE_OPERATOR));
}

int web_actor_agreement(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                        struct agreement_actor *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    out->roles = ia->roles;
    snprintf(out->user_ref, sizeof out->user_ref, "%.*s", IDENTITY_ID_LEN, ia->user_id);
    /* A display name only (user_ref decides who it is): cut to fit. */
    snprintf(out->user_name, sizeof out->user_name, "%.*s", (int)sizeof out->user_name - 1,
             ia->username);
    if (ia->data_owner)
        return 0;
    return org_cvr_of(id, ia, org_cvr, out->org_cvr, sizeof out->org_cvr, err);
}

int web_actor_incident(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                       struct incident_actor *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%.*s", (int)sizeof out->name - 1, ia->username);
    if (strchr(ia->username, '@') && strlen(ia->username) < sizeof out->email)
        snprintf(out->email, sizeof out->email, "%s", ia->username);
    if (ia->data_owner) {
        if (staff(ia))
            out->roles = INCIDENT_ROLE_STAFF;
        return 0;
    }
    int rc = org_cvr_of(id, ia, org_cvr, out->org_cvr, sizeof out->org_cvr, err);
    if (rc)
        return rc;
    out->roles = INCIDENT_ROLE_MEMBER;
    return 0;
}

int web_actor_audit(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                    struct audit_http_caller *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (ia->data_owner) {
        if (staff(ia))
            out->roles = AUDIT_CALLER_STAFF;
        return 0;
    }
    if (!(ia->roles & ROLE_ADMINISTRATOR))
        return 0;
    int rc = org_cvr_of(id, ia, org_cvr, out->org_cvr, sizeof out->org_cvr, err);
    if (rc)
        return rc;
    out->roles = AUDIT_CALLER_RECIPIENT_ADMIN;
    return 0;
}

int web_actor_testdata(identity_t *id, const identity_actor_t *ia, err_t *err)
{
    if (ia->kind == ACTOR_LOCAL || ia->data_owner)
        return 0;
    struct identity_org org;
    int rc = identity_org_get(id, str_from_cstr(ia->org_id), &org, err);
    if (rc)
        return rc;
    if (org.status != ORG_ACTIVE || !(org.environments & ORG_ENV_TEST))
        return err_set(err, DUPLA_EFORBIDDEN,
                       "test data is for the users of organisations registered for the test "
                       "environment");
    return 0;
}
