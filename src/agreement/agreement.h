/*
 * agreement.h: data exchange agreements (dataudvekslingsaftaler), the
 * module's contract.
 *
 * An agreement is the documented legal basis for every disclosure. A
 * processor of a recipient organisation drafts it, a signatory of the same
 * organisation signs it (four eyes: not the drafter, not the last editor),
 * the data owner's dataforvaltning staff review it (approve, possibly
 * granting fewer fields; reject; return for changes), and the data owner can
 * later suspend, reactivate or revoke it; the organisation can terminate it.
 * Changing an approved agreement makes a new version that goes through the
 * same steps while the approved version keeps serving; approval replaces it
 * in one transaction. Every step is in the agreement's history, and every
 * decision queues a mail to the organisation's contact mailbox.
 *
 * The data path asks agreement_decide() on every call. It reads an in-memory
 * registry (a core/snapshot cell: an immutable table, reference counted,
 * swapped whole), rebuilt after every change this process makes, so a revoked
 * agreement is refused on the very next call. Changes made by another process
 * (the CLI, or another node) reach it through agreement_registry_sync(), see
 * registry.c. A failed rebuild follows the one failure rule of
 * core/snapshot.h: the last good table for at most registry.stale_max_ms,
 * then AGREEMENT_DENY_UNAVAILABLE (503) for every call.
 *
 * This module knows identity and the catalogue only through the plain
 * struct agreement_actor and the callbacks in struct agreement_hooks, so that
 * it builds and tests on its own.
 */
#ifndef DUPLA_AGREEMENT_AGREEMENT_H
#define DUPLA_AGREEMENT_AGREEMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/str.h"
#include "store/store.h"

/* 128 random bits as 32 lowercase hex digits. */
#define AGREEMENT_ID_LEN     32
#define AGREEMENT_URN_PREFIX "urn:ufst:adgangsgrundlag:aftale:"

#define AGREEMENT_NAME_MAX     128 /* actor names, "cli:<unix user>" */
#define AGREEMENT_CVR_MAX      9   /* 8 digits and a NUL */
#define AGREEMENT_SYSTEM_MAX   64  /* a system id, as identity names it */
#define AGREEMENT_MAILBOX_MAX  256
#define AGREEMENT_USER_REF_MAX 48 /* a user's text id from identity (a UUID) */

/* Limits of an application (each a refusal naming the field when passed). */
#define AGREEMENT_TITLE_MAX       200
#define AGREEMENT_PURPOSE_MAX     4000
#define AGREEMENT_LEGAL_BASES_MAX 16
#define AGREEMENT_LAW_MAX         300
#define AGREEMENT_SECTION_MAX     100
#define AGREEMENT_SERVICES_MAX    64
#define AGREEMENT_FIELDS_MAX      256 /* per service */
#define AGREEMENT_FIELD_NAME_MAX  128 /* service and field names */
#define AGREEMENT_SYSTEMS_MAX     64
#define AGREEMENT_CONTACT_MAX     200
#define AGREEMENT_REASON_MAX      2000
#define AGREEMENT_ASSESSMENT_MAX  8000
#define AGREEMENT_VOLUME_MAX      1000000000LL
#define AGREEMENT_LIST_MAX        1000 /* agreements in one list answer */
/* The expiry warning goes out this many days before the last valid day ends. */
#define AGREEMENT_EXPIRY_WARNING_DAYS 30

/* Role bits of an actor (identity maps its roles onto these). */
#define AGREEMENT_ROLE_ADMINISTRATOR   (1u << 0) /* administrator */
#define AGREEMENT_ROLE_PROCESSOR       (1u << 1) /* aftager-behandler */
#define AGREEMENT_ROLE_SIGNATORY       (1u << 2) /* aftager-underskriver */
#define AGREEMENT_ROLE_DATAFORVALTNING (1u << 3) /* the data owner's reviewers */
#define AGREEMENT_ROLE_OPERATOR        (1u << 4) /* runs the platform */

/* Who takes a step. A user known to identity is known by user_ref (its text
 * id, as identity's user ids are UUIDs) when that is set, else by
 * user_id > 0; a console or system actor (both unset) is known by name
 * alone ("cli:alice", "demo"). The four-eyes rule compares these keys.
 * org_cvr is the actor's organisation ("" for the data owner). */
struct agreement_actor {
    int64_t user_id;
    char user_ref[AGREEMENT_USER_REF_MAX];
    char user_name[AGREEMENT_NAME_MAX];
    char org_cvr[AGREEMENT_CVR_MAX];
    unsigned roles;
};

/* What the module asks of identity and the catalogue. Every callback may be
 * NULL: that check is then skipped (tests, and the CLI, which only decides
 * on what was applied for). Return 1 for yes, 0 for no. */
struct agreement_hooks {
    void *ctx;
    /* field NULL: is the service known at all? */
    int (*field_known)(void *ctx, const char *service, const char *field);
    /* Is system_id one of org_cvr's systems? */
    int (*system_known)(void *ctx, const char *org_cvr, const char *system_id);
    /* The organisation's contact mailbox into out (cap bytes); 0 or negative.
     * Without it (or when it fails) mail goes to the application's contact. */
    int (*org_mailbox)(void *ctx, const char *org_cvr, char *out, size_t cap);
};

typedef struct agreement agreement_t;
typedef struct agreement_registry agreement_registry_t;

/* Applies the module's migrations, loads the registry. The caller owns *out
 * (agreement_close) and keeps st alive longer; hooks are copied. */
int agreement_open(store_t *st, const struct agreement_hooks *hooks, agreement_t **out, err_t *err);
void agreement_close(agreement_t *ag);
/* The registry the data path reads; owned by ag. */
agreement_registry_t *agreement_registry(agreement_t *ag);

/* ---- life cycle ---- */

/* The states of one version. An agreement's status is that of its serving
 * version (the approved one, or the last one that was), else of its newest. */
enum agreement_state {
    AGREEMENT_DRAFT = 0,
    AGREEMENT_SUBMITTED,  /* signed, waiting for the data owner */
    AGREEMENT_APPROVED,   /* active between valid_from and valid_to */
    AGREEMENT_REJECTED,   /* final for this version */
    AGREEMENT_SUSPENDED,  /* by the data owner; can be reactivated */
    AGREEMENT_REVOKED,    /* by the data owner; final */
    AGREEMENT_TERMINATED, /* by the organisation; final */
    AGREEMENT_SUPERSEDED, /* replaced by a newer approved version */
    AGREEMENT_WITHDRAWN,  /* a pending version given up by its organisation */
    AGREEMENT_STATE_COUNT
};

enum agreement_action {
    AGREEMENT_CREATE = 0,
    AGREEMENT_EDIT,       /* a draft, or a new version of an approved agreement */
    AGREEMENT_SIGN,       /* draft -> submitted */
    AGREEMENT_APPROVE,    /* submitted -> approved (replaces the serving one) */
    AGREEMENT_REJECT,     /* submitted -> rejected */
    AGREEMENT_RETURN,     /* submitted -> draft, for changes */
    AGREEMENT_WITHDRAW,   /* draft|submitted -> withdrawn */
    AGREEMENT_SUSPEND,    /* approved -> suspended */
    AGREEMENT_REACTIVATE, /* suspended -> approved */
    AGREEMENT_REVOKE,     /* approved|suspended -> revoked */
    AGREEMENT_TERMINATE,  /* approved|suspended -> terminated */
    AGREEMENT_ACTION_COUNT
};

const char *agreement_state_name(enum agreement_state s);
/* -1 for an unknown name. */
int agreement_state_parse(const char *name);
const char *agreement_action_name(enum agreement_action a);

/*
 * The application is a JSON object (validated; unknown keys refused):
 *   title            string (required)
 *   purpose          string (required)
 *   legal_basis      [{"law": string, "section": string}, ...] (one or more)
 *   services         {"<service>": ["<field>", ...], ...} (one or more)
 *   systems          "all" or ["<system id>", ...]
 *   valid_from       "yyyy-mm-dd" (required)
 *   valid_to         "yyyy-mm-dd" or null (open-ended)
 *   expected_volume  {"calls_per_month": n, "subjects_per_month": n}
 *   contact          {"name": s, "email": s, "phone": s}
 *   purpose_category the main purpose (AGREEMENT_PURPOSE_CATEGORIES): "sagsbehandling",
 *                    "kontrol", "analyse-og-machine-learning", "statistik-og-forskning"
 *   recipient_kind   "offentlig-myndighed" (a public authority) or
 *                    "privat-virksomhed" (a private company)
 * A draft may lack required members; signing requires them all, except
 * purpose_category and recipient_kind (null: not stated; agreements made
 * before they existed have neither).
 */
#define AGREEMENT_PURPOSE_CATEGORIES                                                               \
    "sagsbehandling", "kontrol", "analyse-og-machine-learning", "statistik-og-forskning"
#define AGREEMENT_RECIPIENT_KINDS "offentlig-myndighed", "privat-virksomhed"

/* A processor of an organisation creates a draft for its own organisation.
 * id_out gets the new id (AGREEMENT_ID_LEN + 1 bytes). application is
 * borrowed. */
int agreement_create(agreement_t *ag, const struct agreement_actor *actor, enum environment env,
                     const json_t *application, char *id_out, err_t *err);
/* ---- templates (template.c) ----
 * The data owner's dataforvaltning publishes templates: an application's
 * title, purpose, purpose_category (required), recipient_kind, legal_basis
 * and services (both required), checked as a draft's application is. A
 * recipient's processor starts a draft from a published one. Every user
 * sees the published templates; the data owner's staff see them all. */
#define AGREEMENT_TEMPLATES_MAX 200 /* templates in one list */
/* Saves in ({id?, published?, and the members above}): without id a new
 * template (its id into id_out, AGREEMENT_ID_LEN + 1 bytes, may be NULL),
 * with id a replacement of that one (published kept unless given). */
int agreement_template_save(agreement_t *ag, const struct agreement_actor *actor, const json_t *in,
                            char *id_out, err_t *err);
/* Publishes or withdraws one (dataforvaltning); DUPLA_ENOTFOUND naming "id". */
int agreement_template_publish(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                               bool published, err_t *err);
/* The templates the actor may see (a JSON array, caller owns *out): each the
 * template's members and id, published, updated_at. */
int agreement_template_list(agreement_t *ag, const struct agreement_actor *actor, json_t **out,
                            err_t *err);
/* One template the actor may see; DUPLA_ENOTFOUND naming "template". */
int agreement_template_get(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                           json_t **out, err_t *err);
/* agreement_create with the published template's members as the draft's
 * application. */
int agreement_create_from_template(agreement_t *ag, const struct agreement_actor *actor,
                                   enum environment env, str_t template_id, char *id_out,
                                   err_t *err);

/* ---- rate budgets and usage (usage.c) ----
 * An agreement's rate budget (calls per second per system, and the burst)
 * is its own when the data owner set one, else the configured default
 * (exposure.rate_per_second, exposure.rate_burst). */
#define AGREEMENT_RATE_MAX 100000
/* true when the registry knows the agreement id; *rate and *burst its own
 * budget (0: the default). Lock-free, for the data path. */
bool agreement_rate_budget(agreement_registry_t *reg, str_t id, unsigned *rate, unsigned *burst);
/* Sets (both 1..AGREEMENT_RATE_MAX) or clears (both 0) an agreement's
 * budget: the data owner's dataforvaltning; in the history (action "rate").
 * Refusals name "rate_per_second" or "burst". */
int agreement_set_rate(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                       unsigned rate, unsigned burst, err_t *err);
/* Counts a 429 of (agreement, system) at now_ms in memory (only agreements
 * the registry knows; bounded). Thread-safe. */
void agreement_note_limited(agreement_registry_t *reg, str_t id, str_t system_id, int64_t now_ms);
/* Adds the counted 429s to the store (agreement_limited) and clears them;
 * on failure they are kept for the next flush. The server's tick. */
int agreement_limited_flush(agreement_t *ag, err_t *err);
struct agreement_limited_row {
    int32_t day; /* Danish day (clock_days_from_civil) */
    char org_cvr[AGREEMENT_CVR_MAX];
    char agreement_id[AGREEMENT_ID_LEN + 1];
    char system_id[AGREEMENT_SYSTEM_MAX];
    int64_t calls;
};
/* The 429s per (day, agreement, system) of org_cvr (NULL or "": every
 * organisation) from day_from to day_to (included), by day. */
int agreement_limited_list(agreement_t *ag, const char *org_cvr, int32_t day_from, int32_t day_to,
                           int (*fn)(const struct agreement_limited_row *, void *), void *ctx,
                           err_t *err);

/* Replaces the application of the pending draft; on an agreement whose
 * serving version is approved and that has no pending version, makes a new
 * draft version instead (the approved one keeps serving). */
int agreement_edit(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                   const json_t *application, err_t *err);

/* Arguments of the steps; which are required depends on the step. */
struct agreement_step {
    const char *reason;     /* reject, return, withdraw, suspend, reactivate,
                               revoke, terminate; approve when fewer granted */
    const char *assessment; /* approve: the proportionality assessment */
    const json_t *granted;  /* approve: {"service": [fields]} <= asked; NULL = all */
};

/* Takes one step of the life cycle (not CREATE or EDIT) on the version the
 * step concerns: the pending one for sign/approve/reject/return/withdraw,
 * the serving one for the others. Refuses with DUPLA_EFORBIDDEN when the
 * actor lacks the role or belongs to another organisation (DUPLA_ENOTFOUND
 * when it may not even see the agreement), DUPLA_ECONFLICT when the state
 * does not allow the step, DUPLA_EINVAL for missing or bad arguments. */
int agreement_step(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                   enum agreement_action action, const struct agreement_step *args, err_t *err);

int agreement_sign(agreement_t *ag, const struct agreement_actor *actor, str_t id, err_t *err);
int agreement_approve(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                      const char *assessment, const json_t *granted, const char *reason,
                      err_t *err);
int agreement_reject(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                     const char *reason, err_t *err);
int agreement_return(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                     const char *reason, err_t *err);
int agreement_suspend(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                      const char *reason, err_t *err);
int agreement_reactivate(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                         const char *reason, err_t *err);
int agreement_revoke(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                     const char *reason, err_t *err);
int agreement_terminate(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                        const char *reason, err_t *err);

/* ---- reading ---- */

/* The agreement document as JSON: id, organisation, environment, status,
 * the serving and the pending version (application, signature, decision,
 * granted fields) and the whole history. The caller owns *out. */
int agreement_document_json(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                            json_t **out, err_t *err);
/* The same as a printable HTML page (every value escaped) into out. */
int agreement_document_html(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                            buf_t *out, err_t *err);

struct agreement_filter {
    const char *org_cvr; /* NULL: all the actor may see */
    int state;           /* -1: any; else an agreement_state of the status */
    /* true: only agreements with a version waiting for the data owner (a
     * signed new application, or a signed change of an approved one), which
     * a status filter cannot find as the status is the serving version's. */
    bool awaiting_review;
};
/* A JSON array of summaries (id, organisation, environment, title, status,
 * versions, validity, and pending_state: the state of the pending version or
 * null), newest first, at most AGREEMENT_LIST_MAX. An organisation's users
 * see only their own. The caller owns *out. */
int agreement_list(agreement_t *ag, const struct agreement_actor *actor,
                   const struct agreement_filter *filter, json_t **out, err_t *err);

/* The purpose and legal basis ("law section; law section") of version
 * `version` of agreement id, without an actor: for the disclosure log's
 * answers to data subjects (its routes decide who may ask). *purpose and
 * *legal_basis are malloc'd (the caller frees them). DUPLA_ENOTFOUND when
 * there is no such version. */
int agreement_version_basis(agreement_t *ag, str_t id, int64_t version, char **purpose,
                            char **legal_basis, err_t *err);

/* ---- notifications ---- */

/* Queues a warning for each approved version whose validity ends within
 * AGREEMENT_EXPIRY_WARNING_DAYS of now, once per version. Run periodically by
 * the server. *queued (may be NULL) gets how many were queued. */
int agreement_expiry_warnings(agreement_t *ag, int64_t now_ms, int *queued, err_t *err);

/* An approved, serving version whose validity ends soon (agreement_expiring). */
struct agreement_expiring {
    char id[AGREEMENT_ID_LEN + 1];
    int64_t version;
    char org_cvr[AGREEMENT_CVR_MAX];
    char title[AGREEMENT_TITLE_MAX + 1];
    char mailbox[AGREEMENT_MAILBOX_MAX]; /* the organisation's, else the application's contact */
    int64_t valid_until_ms;              /* exclusive */
    bool warned;                         /* agreement_expiry_warnings has warned of it */
};
/* Calls fn for each serving approved version whose validity ends after
 * now_ms and at or before until_ms (id order), until fn returns non-zero
 * (which is returned). For the expiry warnings of src/expiry, which took
 * over agreement_expiry_warnings in the server. */
int agreement_expiring(agreement_t *ag, int64_t now_ms, int64_t until_ms,
                       int (*fn)(const struct agreement_expiring *, void *), void *ctx, err_t *err);

/* ---- demo ---- */

/* Makes sure an approved agreement exists for org_cvr in env that covers
 * exactly services ({"service": [fields]}, borrowed), valid from today with
 * no end, for all systems; creates it, or a new version of it when the
 * services changed. Its id goes into id_out (AGREEMENT_ID_LEN + 1). */
int agreement_demo_setup(agreement_t *ag, const char *org_cvr, enum environment env,
                         const json_t *services, char *id_out, err_t *err);

/* ---- the decision on the data path ---- */

/* The reason for a refusal; AGREEMENT_ALLOW when allowed. */
enum agreement_verdict {
    AGREEMENT_ALLOW = 0,
    AGREEMENT_DENY_MALFORMED,      /* the id is not an agreement id at all */
    AGREEMENT_DENY_NOT_FOUND,      /* no such agreement */
    AGREEMENT_DENY_OTHER_ORG,      /* it is another organisation's */
    AGREEMENT_DENY_WRONG_ENV,      /* it is for the other environment */
    AGREEMENT_DENY_NOT_APPROVED,   /* applied for, never approved */
    AGREEMENT_DENY_SUSPENDED,      /* suspended by the data owner */
    AGREEMENT_DENY_REVOKED,        /* revoked by the data owner */
    AGREEMENT_DENY_TERMINATED,     /* terminated by the organisation */
    AGREEMENT_DENY_NOT_YET_ACTIVE, /* approved, but valid_from is ahead */
    AGREEMENT_DENY_EXPIRED,        /* valid_to has passed */
    AGREEMENT_DENY_SYSTEM,         /* the calling system is not allowed */
    AGREEMENT_DENY_SERVICE,        /* the service is not granted */
    AGREEMENT_DENY_FIELD,          /* an explicitly asked field is not granted */
    AGREEMENT_DENY_UNAVAILABLE,    /* rebuilds failing past the stale bound (503) */
    AGREEMENT_VERDICT_COUNT
};

/* The verdict's stable slug for problem types and logs: a PROBLEM_* of
 * core/problem.h ("agreement-revoked", ...; "registry-unavailable"). */
const char *agreement_verdict_name(enum agreement_verdict v);
/* A sentence for the client. */
const char *agreement_verdict_detail(enum agreement_verdict v);
/* The HTTP status the data path should answer with (400, 403 or 503). */
int agreement_verdict_status(enum agreement_verdict v);

struct agreement_caller {
    str_t org_cvr;   /* from the verified token */
    str_t system_id; /* from the verified token */
    enum environment env;
};

struct agreement_decision {
    enum agreement_verdict verdict;
    size_t field_index;  /* DENY_FIELD: the index in fields[] refused */
    size_t n_granted;    /* how many of fields[] are granted */
    int64_t version;     /* the serving version decided by (for the log) */
    uint64_t generation; /* the registry generation that decided */
};

/*
 * Decides one call. id is the agreement id (the header's URN with its prefix
 * removed, see agreement_urn_id). fields[0..n) are the requested fields:
 * when explicit is true the caller asked for them by name and any of them
 * not granted refuses the call (AGREEMENT_DENY_FIELD); otherwise (the caller
 * passes every field the service has) granted[i] says which are approved.
 * granted (n entries, caller's) is set for i < n: approved intersected with
 * requested. Allowed with n_granted == 0 is possible (nothing to send but
 * keys). No store access, no allocation; safe from any thread.
 */
int agreement_decide(agreement_registry_t *reg, const struct agreement_caller *caller, str_t id,
                     str_t service, const str_t *fields, size_t n, bool explicit, int64_t now_ms,
                     bool *granted, struct agreement_decision *out);

/* The recipient organisation's CVR of agreement id (from the registry)
 * into out; false when there is no such agreement (or the registry cannot
 * answer). For a supplier's token that names no organisation: the data
 * call's agreement does (token.h). */
bool agreement_recipient_cvr(agreement_registry_t *reg, str_t id, char out[9]);

/* The id inside an UFST-Adgangsgrundlag header value; false if the value
 * does not have the URN form. */
bool agreement_urn_id(str_t header, str_t *id);

/* The registry's generation (bumped by every rebuild). */
uint64_t agreement_registry_generation(agreement_registry_t *reg);
/* Rebuilds the registry from the store now (snapshot_invalidate). */
int agreement_registry_reload(agreement_t *ag, err_t *err);
/* Rebuilds it only when the store's change counter moved (another process
 * changed an agreement) or the last rebuild failed; cheap otherwise. The server calls it every
 * second; with PostgreSQL its listener (store_listen_start) calls it at once. */
int agreement_registry_sync(agreement_t *ag, err_t *err);

#endif
