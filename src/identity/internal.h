/*
 * internal.h: what the identity module's files share, and nobody else sees.
 *
 * Prototypes are grouped by the file that defines them.
 */
#ifndef DUPLA_IDENTITY_INTERNAL_H
#define DUPLA_IDENTITY_INTERNAL_H

#include <pthread.h>

#include "core/snapshot.h"
#include "identity/identity.h"

struct identity {
    store_t *st;
    const struct dupla_config *cfg;
    int64_t setup_ms;         /* set-up secret lifetime */
    int64_t session_idle_ms;  /* idle expiry */
    int64_t session_abs_ms;   /* absolute expiry */
    int64_t registry_poll_ms; /* 0: never poll the store's generation */
    char owner_name[IDENTITY_NAME_MAX + 1];
    char owner_cvr[CVR_LEN + 1];

    /* registry.c: a cell holding a struct registry_snapshot */
    snapshot_t *registry;
};

/* schema.c */
int identity_schema_apply(store_t *st, err_t *err);

/* util.c */
/* A NUL-terminated copy of s into out; DUPLA_EINVAL naming param when s is
 * empty (unless allow_empty), too long, or holds control characters. */
int identity_text_field(str_t s, const char *param, size_t max, bool allow_empty, char *out,
                        size_t cap, err_t *err);
/* A plausible e-mail address (one '@', no spaces or controls, both sides
 * non-empty, a dot in the domain), copied to out. */
int identity_email_field(str_t s, const char *param, char *out, size_t cap, err_t *err);
/* Records a change in identity_history and bumps the generation; must run
 * inside the caller's transaction. before/after are borrowed (may be NULL). */
int identity_history_record(store_conn_t *c, const identity_actor_t *actor, const char *action,
                            const char *object_type, const char *object_id, const char *org_id,
                            json_t *before, json_t *after, err_t *err);
/* Commits the transaction and brings the registry up to date. */
int identity_commit(identity_t *id, store_conn_t *c, err_t *err);
/* The end of a lookup of one row by ref, given the statement's last step
 * rc: 0 for a row, DUPLA_ENOTFOUND naming param ("no <what> '<ref>'", ref
 * cut at shown bytes) for none, else rc. */
int identity_found(int rc, const char *param, const char *what, str_t ref, size_t shown,
                   err_t *err);
/* An optional organisation filter of a list (id or CVR; empty: none) as
 * the organisation's id in org_id ("" for none). */
int identity_org_filter(store_conn_t *c, str_t org, char org_id[IDENTITY_ID_LEN + 1], err_t *err);
/* A list under that filter: sql's first n_org parameters are bound to the
 * organisation's id ("" for none) and the next to limit; row(s, ctx) is
 * called for each row until it returns non-zero. */
int identity_list_org(identity_t *id, str_t org, const char *sql, int n_org, int64_t limit,
                      int (*row)(store_stmt_t *s, void *ctx), void *ctx, err_t *err);
/* A refusal for the role rules (DUPLA_EFORBIDDEN, type "forbidden"). */
int identity_forbidden(err_t *err, const char *what);
/* A new v4 UUID into out, or DUPLA_EIO. */
int identity_new_id(char out[IDENTITY_ID_LEN + 1], err_t *err);

/* org.c */
/* Reads the row of identity_org at the statement's columns from col into o;
 * the SELECT list is ORG_COLUMNS. */
#define ORG_COLUMNS                                                                                \
    "id, name, cvr, contact_email, status, environments, data_owner, created_ms, updated_ms"
void identity_org_from_row(store_stmt_t *s, struct identity_org *o);
/* Looks up an organisation (by id or CVR) on an open connection. */
int identity_org_find(store_conn_t *c, str_t id_or_cvr, struct identity_org *out, err_t *err);

/* user.c */
int identity_user_find(store_conn_t *c, str_t id_or_username, struct identity_user *out,
                       err_t *err);
/* A one-time set-up secret for user_id, its hash stored on the user row. */
int identity_setup_secret_issue(identity_t *id, store_conn_t *c, const char *user_id,
                                const char *username, struct identity_setup_secret *out,
                                err_t *err);
/* Inserts a user row (no checks). */
int identity_user_insert(store_conn_t *c, const identity_actor_t *actor, const char *org_id,
                         const char *username, const char *display_name, unsigned roles,
                         struct identity_user *out, err_t *err);

/* system.c */
int identity_system_find(store_conn_t *c, str_t ref, struct identity_system *out, err_t *err);

/* org.c: makes sure the data owner organisation exists (identity_open). */
int identity_owner_ensure(identity_t *id, err_t *err);

/* registry.c */
int identity_registry_init(identity_t *id, err_t *err);
void identity_registry_free(identity_t *id);

/* session.c */

#endif
