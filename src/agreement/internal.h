/*
 * internal.h: what the agreement module's files share, and nothing else
 * includes. Prototypes are grouped by the file that defines them.
 */
#ifndef DUPLA_AGREEMENT_INTERNAL_H
#define DUPLA_AGREEMENT_INTERNAL_H

#include <pthread.h>

#include "agreement/agreement.h"
#include "mail/mail.h"

#define MS_PER_DAY 86400000LL
/* "user:<id>" or "name:<name>": how four eyes tells actors apart. */
#define ACTOR_KEY_MAX (AGREEMENT_NAME_MAX + 8)
/* The agreement row and the versions a step needs. */
#define AG_STATE_NONE (-1)

struct agreement {
    store_t *st;
    struct agreement_hooks hooks;
    agreement_registry_t *registry;
};

/* One agreement row. */
struct ag_row {
    char id[AGREEMENT_ID_LEN + 1];
    char org_cvr[AGREEMENT_CVR_MAX];
    enum environment env;
    int64_t serving; /* version, or 0 */
    int64_t pending; /* version, or 0 */
    int64_t latest;
    bool demo;
};

/* One version row; application and granted are owned (json_decref). */
struct ag_version {
    int64_t version;
    enum agreement_state state;
    json_t *application;
    json_t *granted; /* NULL until approved */
    char drafted_by[ACTOR_KEY_MAX];
    char last_editor[ACTOR_KEY_MAX];
    int64_t valid_from_ms;
    int64_t valid_until_ms; /* exclusive; INT64_MAX when open-ended */
};

/* schema.c */
int agreement_schema_migrate(store_t *st, err_t *err);
/* Bumps the change counter inside the caller's transaction. */
int agreement_schema_bump_generation(store_conn_t *c, err_t *err);
int agreement_schema_generation(store_conn_t *c, int64_t *out, err_t *err);

/* application.c */
/* Checks in and writes its canonical form (every member present, names
 * sorted and unique) to *out (caller owns). complete: also require what
 * signing requires. */
int agreement_application_normalise(const struct agreement *ag, const char *org_cvr,
                                    const json_t *in, bool complete, json_t **out, err_t *err);
/* Validity of a canonical application in ms: [from, until). */
void agreement_application_validity(const json_t *app, int64_t *from_ms, int64_t *until_ms);
/* Checks granted against the asked services (a subset, non-empty) and writes
 * its canonical form; *fewer tells whether less than asked was granted. */
int agreement_granted_normalise(const json_t *asked_services, const json_t *granted, json_t **out,
                                bool *fewer, err_t *err);
/* A flat object {"path": {"from": a, "to": b}} of what differs. */
json_t *agreement_json_diff(const json_t *a, const json_t *b);

/* lifecycle.c */
void agreement_actor_key(const struct agreement_actor *actor, char out[ACTOR_KEY_MAX]);
bool agreement_actor_is_data_owner(const struct agreement_actor *actor);
bool agreement_actor_may_see(const struct agreement_actor *actor, const char *org_cvr);
/* 0 for an actor with a name (and NUL-terminated fields), else an internal
 * error: a caller bug. */
int agreement_actor_check(const struct agreement_actor *actor, err_t *err);
/* The role names identity uses, for error messages. */
const char *agreement_actor_roles_text(unsigned roles);
/* Ends a change begun on c with rc so far: bumps the change counter and
 * commits (or rolls back), puts c back, and rebuilds the registry. Returns
 * the change's result. */
int agreement_lifecycle_finish(struct agreement *ag, store_conn_t *c, int rc, err_t *err);

/* rows.c */
int agreement_row_load(store_conn_t *c, str_t id, struct ag_row *out, err_t *err);
int agreement_version_load(store_conn_t *c, const char *id, int64_t version, struct ag_version *out,
                           err_t *err);
void agreement_version_clear(struct ag_version *v);
int agreement_history_add(store_conn_t *c, const char *id, int64_t version, int64_t now,
                          const struct agreement_actor *actor, const char *action, int from_state,
                          int to_state, json_t *changes, const char *reason, err_t *err);
bool agreement_id_well_formed(str_t id);
/* Steps s once and finishes it: 0 or the step's error. */
int agreement_row_exec_done(store_stmt_t *s, err_t *err);
/* Writes row's version pointers and updated_at. */
int agreement_row_save(store_conn_t *c, const struct ag_row *row, int64_t now, err_t *err);

/* notify.c */
/* Queues a mail about a decision on (row, version) in the caller's
 * transaction. */
int agreement_notify_decision(struct agreement *ag, store_conn_t *c, const struct ag_row *row,
                              int64_t version, const json_t *application,
                              enum agreement_action action, const char *reason, int64_t now,
                              err_t *err);

/* registry.c */
/* Makes ag->registry and loads it. */
int agreement_registry_new(agreement_t *ag, err_t *err);
void agreement_registry_free(agreement_registry_t *reg);
/* The registry's 429 counters (usage.c). */
struct agreement_limited *agreement_registry_limited(agreement_registry_t *reg);

/* usage.c: the 429s counted in memory until flushed to agreement_limited. */
struct agreement_limited;
int agreement_limited_new(struct agreement_limited **out, err_t *err);
void agreement_limited_free(struct agreement_limited *l);

#endif
