/*
 * enrol.h: applying to become an agreement party (#21.8), the module's
 * contract.
 *
 * An organisation that wants to exchange data applies on a public page:
 * its name, CVR number (modulus-11 checked), contact mailbox, the
 * administrator's name and e-mail address, and the environments it wants
 * (test, production). The application waits in the data owner's queue
 * (beside the agreements to review). Approving creates the organisation and
 * its administrator through identity_org_create and, in the same
 * transaction, marks the application approved and queues the mail that
 * gives the administrator the set-up link and the one-time secret; rejecting
 * queues a mail with the reason. So a decision, its organisation and its
 * mail exist together or not at all.
 *
 * The public side says the same for every accepted application: it never
 * tells whether the CVR number is known (an organisation, or another
 * application). It is throttled per address (ENROL_PER_ADDRESS_MAX in
 * ENROL_WINDOW_MS) and in total (ENROL_PENDING_MAX waiting), counted in the
 * store so that every node sees the same. The address itself is not kept:
 * only its SHA-256, and only for ENROL_PEER_KEEP_MS (that is enough to
 * count, not to hide an IPv4 address from someone who holds the table).
 *
 * The module sits beside agreement: it uses identity (organisations) and
 * mail (the outbox) through their headers; its own table is
 * enrol_application (schema.c).
 */
#ifndef DUPLA_ENROL_ENROL_H
#define DUPLA_ENROL_ENROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/str.h"
#include "identity/identity.h"
#include "store/store.h"

#define ENROL_ID_LEN          32   /* 128 random bits as hex */
#define ENROL_NAME_MAX        200  /* the organisation's and the administrator's name */
#define ENROL_EMAIL_MAX       254  /* RFC 5321 path limit */
#define ENROL_REASON_MAX      2000 /* a rejection's reason */
#define ENROL_URL_MAX         512
#define ENROL_LIST_MAX        1000               /* applications in one list */
#define ENROL_PER_ADDRESS_MAX 5                  /* applications per address per window */
#define ENROL_WINDOW_MS       (60 * 60 * 1000)   /* the per-address window */
#define ENROL_PENDING_MAX     500                /* waiting applications in total */
#define ENROL_PEER_KEEP_MS    (24 * 3600 * 1000) /* the address hash is cleared after this */

enum enrol_status { ENROL_PENDING = 0, ENROL_APPROVED = 1, ENROL_REJECTED = 2 };

struct enrol_application {
    char id[ENROL_ID_LEN + 1];
    char name[ENROL_NAME_MAX + 1];
    char cvr[CVR_LEN + 1];
    char contact_email[ENROL_EMAIL_MAX + 1];
    char admin_name[ENROL_NAME_MAX + 1];
    char admin_email[ENROL_EMAIL_MAX + 1];
    unsigned environments; /* ORG_ENV_* bits */
    enum enrol_status status;
    int64_t created_ms;
    int64_t decided_ms;                          /* 0 while pending */
    char decided_by[IDENTITY_USERNAME_MAX + 16]; /* the actor's label */
    char reason[ENROL_REASON_MAX + 1];           /* a rejection's */
    char org_id[IDENTITY_ID_LEN + 1];            /* the organisation approval made */
};

/* What the applicant typed (borrowed). */
struct enrol_new {
    str_t name, cvr, contact_email, admin_name, admin_email;
    unsigned environments; /* ORG_ENV_* bits; 0 is refused */
};

/* The "enrol" configuration section:
 *   public_url   where the platform's pages answer ("https://host[:port]"),
 *                for the set-up link in the approval mail; absent: the link
 *                is given as a path and the mail says to open it on the
 *                platform's address. */
struct enrol_settings {
    char public_url[ENROL_URL_MAX];
};
int enrol_config_read(const struct dupla_config *cfg, struct enrol_settings *out, err_t *err);

typedef struct enrol enrol_t;

/* Applies the module's migrations (module "enrol"; also `dupla store
 * migrate`), after mail's. */
int enrol_migrate(store_t *st, err_t *err);
/* Applies the migrations; settings copied (NULL: defaults). The caller owns
 * *out (enrol_close); st and id must outlive it. */
int enrol_open(store_t *st, identity_t *id, const struct enrol_settings *settings, enrol_t **out,
               err_t *err);
void enrol_close(enrol_t *e);

/* Checks and keeps an application from peer (the client's address). Every
 * refusal names its field (DUPLA_EINVAL), or is DUPLA_ERATE (too many from
 * this address: *retry_after_s says when to try again; too many waiting in
 * total) . The answer is the same whether or not the CVR number is known. */
int enrol_submit(enrol_t *e, const struct enrol_new *in, const char *peer, long *retry_after_s,
                 struct enrol_application *out, err_t *err);

/* The applications, newest first: pending ones only, or every one. At most
 * ENROL_LIST_MAX; fn returns non-zero to stop. Only the data owner's
 * dataforvaltning and operators (DUPLA_EFORBIDDEN otherwise). */
int enrol_list(enrol_t *e, const identity_actor_t *actor, bool pending_only,
               int (*fn)(const struct enrol_application *, void *), void *ctx, err_t *err);
/* How many wait (for the queue's heading); the same actors. */
int enrol_count_pending(enrol_t *e, const identity_actor_t *actor, int64_t *out, err_t *err);
/* One application (the same actors); DUPLA_ENOTFOUND naming "id". */
int enrol_get(enrol_t *e, const identity_actor_t *actor, str_t id, struct enrol_application *out,
              err_t *err);

/* Approves (the data owner's dataforvaltning, or local): creates the
 * organisation and its administrator (identity's refusals pass through,
 * e.g. PROBLEM_ORG_EXISTS naming "cvr", PROBLEM_USERNAME_TAKEN), marks the
 * application approved and queues the administrator's set-up mail, all in
 * one transaction. PROBLEM_ENROL_DECIDED (409) when no longer pending. */
int enrol_approve(enrol_t *e, const identity_actor_t *actor, str_t id,
                  struct enrol_application *out, err_t *err);
/* Rejects with a reason (1..ENROL_REASON_MAX bytes, naming "reason") and
 * queues the mail that gives it to the administrator and the contact
 * mailbox. The same actors and refusals as enrol_approve. */
int enrol_reject(enrol_t *e, const identity_actor_t *actor, str_t id, str_t reason,
                 struct enrol_application *out, err_t *err);

const char *enrol_status_name(enum enrol_status s); /* "pending", "approved", "rejected" */
/* The application as the API shows it (new reference). */
json_t *enrol_json(const struct enrol_application *a);

#endif
