/*
 * actor.h: the logged-in identity user as each module's actor.
 *
 * The one adapter from identity's actor (a user of an organisation, with
 * identity's role bits) to the actors the domain modules take, so that the
 * pages (web) and the JSON API (cli/serve_modules.c) hand a module the same
 * person in the same way:
 *
 *   agreement  known by the user's UUID (user_ref, which four eyes
 *              compares), named by its username (cut to fit), of its
 *              organisation's CVR ("" for the data owner's staff), with the
 *              same role bits (identity's and agreement's are one list,
 *              asserted in actor.c);
 *   incident   the data owner's dataforvaltning and operator users are
 *              staff, an organisation's users members of it; named by the
 *              username, which is also the mail address when it is one;
 *   audit      (the disclosure log's caller) the data owner's dataforvaltning
 *              and operator users are staff; an organisation's administrator
 *              sees its own organisation's disclosures; anyone else nothing.
 *
 * org_cvr is the user's organisation's CVR when the caller has it at hand
 * (the pages' context does); NULL looks it up in id when the actor needs it
 * (never for the data owner's users). Only that lookup fails: a negative
 * code with err filled.
 */
#ifndef DUPLA_WEB_ACTOR_H
#define DUPLA_WEB_ACTOR_H

#include "agreement/agreement.h"
#include "audit/routes.h"
#include "core/error.h"
#include "identity/identity.h"
#include "incident/incident.h"

int web_actor_agreement(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                        struct agreement_actor *out, err_t *err);
int web_actor_incident(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                       struct incident_actor *out, err_t *err);
/* Test data (the API and the pages), least privilege: the data is
 * synthetic, but a change makes new versions that every recipient following
 * the subject sees as events, so no one anonymous and no machine: a
 * logged-in user of an active organisation registered for the test
 * environment, whatever its role, or a user of the data owner (or local).
 * 0, or DUPLA_EFORBIDDEN with err filled. */
int web_actor_testdata(identity_t *id, const identity_actor_t *ia, err_t *err);
int web_actor_audit(identity_t *id, const identity_actor_t *ia, const char *org_cvr,
                    struct audit_http_caller *out, err_t *err);

#endif
