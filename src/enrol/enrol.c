/*
 * enrol.c: applications to become an agreement party: checked and kept
 * (throttled), listed for the data owner, approved (the organisation
 * created, the set-up mail queued, in one transaction) or rejected.
 */
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/ident.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/rand.h"
#include "enrol/internal.h"
#include "mail/mail.h"

#define APP_COLUMNS                                                                                \
    "id, name, cvr, contact_email, admin_name, admin_email, environments, status, created_at,"     \
    " decided_at, decided_by, reason, org_id"

const char *enrol_status_name(enum enrol_status s)
{
    return s == ENROL_APPROVED ? "approved" : s == ENROL_REJECTED ? "rejected" : "pending";
}

int enrol_config_read(const struct dupla_config *cfg, struct enrol_settings *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    const json_t *sec = config_section(cfg, "enrol");
    static const char *const keys[] = {"public_url", NULL};
    const char *url = "";
    int rc;
    if ((rc = config_only_keys(sec, "enrol", keys, err)) ||
        (rc = config_get_string(sec, "enrol", "public_url", "", &url, err)))
        return rc;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= sizeof out->public_url)
        return err_param(err, DUPLA_EINVAL, "public_url", "enrol.public_url is too long");
    if (n && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return err_param(err, DUPLA_EINVAL, "public_url",
                         "enrol.public_url must start with https:// or http://");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == '"' || url[i] == '<' || url[i] == '>')
            return err_param(err, DUPLA_EINVAL, "public_url",
                             "enrol.public_url holds a character a URL may not hold");
    memcpy(out->public_url, url, n);
    out->public_url[n] = '\0';
    return 0;
}

int enrol_open(store_t *st, identity_t *id, const struct enrol_settings *settings, enrol_t **out,
               err_t *err)
{
    int rc = mail_migrate(st, err);
    if (rc || (rc = enrol_migrate(st, err)))
        return rc;
    enrol_t *e = calloc(1, sizeof *e);
    if (!e)
        return err_set(err, DUPLA_ENOMEM, "enrol: out of memory");
    e->st = st;
    e->id = id;
    if (settings)
        e->settings = *settings;
    *out = e;
    return 0;
}

void enrol_close(enrol_t *e)
{
    free(e);
}

/* ---- checking what was typed ---- */

/* A one-line text of 1..max bytes of valid UTF-8 without control characters. */
static int text_field(str_t s, const char *param, size_t max, char *out, size_t cap, err_t *err)
{
    str_t t = str_trim(s);
    if (t.len == 0)
        return err_param(err, DUPLA_EINVAL, param, "%s is required", param);
    if (t.len > max || t.len >= cap)
        return err_param(err, DUPLA_EINVAL, param, "%s is longer than %zu bytes", param, max);
    if (!utf8_valid(t))
        return err_param(err, DUPLA_EINVAL, param, "%s is not valid UTF-8", param);
    for (size_t i = 0; i < t.len; i++) {
        unsigned char ch = (unsigned char)t.ptr[i];
        if (ch < 0x20 || ch == 0x7f)
            return err_param(err, DUPLA_EINVAL, param, "%s holds a control character", param);
    }
    str_copy(t, out, cap);
    return 0;
}

static int email_field(str_t s, const char *param, char *out, size_t cap, err_t *err)
{
    int rc = text_field(s, param, ENROL_EMAIL_MAX, out, cap, err);
    if (rc)
        return rc;
    if (!mail_address_valid(out) || !strchr(strchr(out, '@'), '.'))
        return err_param(err, DUPLA_EINVAL, param, "%s is not an e-mail address", param);
    mail_address_lower(out);
    return 0;
}

/* Checks in into a (no id, status or times yet). */
static int check_new(const struct enrol_new *in, struct enrol_application *a, err_t *err)
{
    memset(a, 0, sizeof *a);
    int rc;
    if ((rc = text_field(in->name, "name", ENROL_NAME_MAX, a->name, sizeof a->name, err)))
        return rc;
    str_t cvr = str_trim(in->cvr);
    if (cvr.len == 0)
        return err_param(err, DUPLA_EINVAL, "cvr", "cvr is required");
    if (!ident_cvr_valid(cvr))
        return err_param(err, DUPLA_EINVAL, "cvr",
                         "cvr must be 8 digits with a valid modulus-11 check");
    str_copy(cvr, a->cvr, sizeof a->cvr);
    if ((rc = email_field(in->contact_email, "contact_email", a->contact_email,
                          sizeof a->contact_email, err)) ||
        (rc = text_field(in->admin_name, "admin_name", ENROL_NAME_MAX, a->admin_name,
                         sizeof a->admin_name, err)) ||
        (rc = email_field(in->admin_email, "admin_email", a->admin_email, sizeof a->admin_email,
                          err)))
        return rc;
    if (in->environments == 0)
        return err_param(err, DUPLA_EINVAL, "environments",
                         "choose the test environment, production or both");
    if (in->environments & ~(ORG_ENV_TEST | ORG_ENV_PRODUCTION))
        return err_param(err, DUPLA_EINVAL, "environments", "unknown environment");
    a->environments = in->environments;
    return 0;
}

/* The SHA-256 of the address as 64 hex digits: enough to count by. */
static void peer_key(const char *peer, char out[65])
{
    unsigned char d[32];
    char buf[128];
    int n = snprintf(buf, sizeof buf, "dupla-enrol:%s", peer ? peer : "");
    if (n < 0 || (size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, (size_t)n, d) < 0)
        memset(d, 0, sizeof d);
    hex_encode(d, sizeof d, out);
    out[64] = '\0';
}

static int count(store_conn_t *c, const char *sql, const char *text, int64_t since, int64_t *n,
                 int64_t *oldest, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, sql, &s, err);
    if (rc)
        return rc;
    int i = 1;
    if (text)
        store_bind_cstr(s, i++, text);
    if (since)
        store_bind_int64(s, i++, since);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        *n = store_col_int64(s, 0);
        if (oldest)
            *oldest = store_col_is_null(s, 1) ? 0 : store_col_int64(s, 1);
        rc = 0;
    }
    store_stmt_done(s);
    return rc;
}

static int insert(store_conn_t *c, const struct enrol_application *a, const char *key, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO enrol_application (id, name, cvr, contact_email,"
                           " admin_name, admin_email, environments, status, created_at, peer_key)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, a->id);
    store_bind_cstr(s, 2, a->name);
    store_bind_cstr(s, 3, a->cvr);
    store_bind_cstr(s, 4, a->contact_email);
    store_bind_cstr(s, 5, a->admin_name);
    store_bind_cstr(s, 6, a->admin_email);
    store_bind_int64(s, 7, a->environments);
    store_bind_int64(s, 8, a->created_ms);
    store_bind_cstr(s, 9, key);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

int enrol_submit(enrol_t *e, const struct enrol_new *in, const char *peer, long *retry_after_s,
                 struct enrol_application *out, err_t *err)
{
    struct enrol_application a;
    int rc = check_new(in, &a, err);
    if (rc)
        return rc;
    if (rand_hex(a.id, ENROL_ID_LEN / 2))
        return err_internal(err, DUPLA_EIO, "enrol: no random bytes for an id");
    a.created_ms = clock_now_ms();
    char key[65];
    peer_key(peer, key);
    store_conn_t *c;
    if ((rc = store_conn_get(e->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    store_stmt_t *s;
    /* the address is forgotten after a day */
    if ((rc = store_prepare(c,
                            "UPDATE enrol_application SET peer_key = NULL"
                            " WHERE peer_key IS NOT NULL AND created_at < ?",
                            &s, err)))
        goto out;
    store_bind_int64(s, 1, a.created_ms - ENROL_PEER_KEEP_MS);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    int64_t n = 0, oldest = 0;
    if ((rc = count(c,
                    "SELECT COUNT(*), MIN(created_at) FROM enrol_application"
                    " WHERE peer_key = ? AND created_at >= ?",
                    key, a.created_ms - ENROL_WINDOW_MS, &n, &oldest, err)))
        goto out;
    if (n >= ENROL_PER_ADDRESS_MAX) {
        int64_t wait = oldest + ENROL_WINDOW_MS - a.created_ms;
        if (retry_after_s)
            *retry_after_s = wait > 1000 ? (long)(wait / 1000) : 1;
        rc = err_param(err, DUPLA_ERATE, "address",
                       "too many applications from this address; try again later");
        goto out;
    }
    if ((rc = count(c, "SELECT COUNT(*), 0 FROM enrol_application WHERE status = 0", NULL, 0, &n,
                    NULL, err)))
        goto out;
    if (n >= ENROL_PENDING_MAX) {
        if (retry_after_s)
            *retry_after_s = 3600;
        log_warn("enrol: %lld applications wait: refusing new ones", (long long)n);
        rc = err_param(err, DUPLA_ERATE, "address",
                       "too many applications wait for a decision; try again later");
        goto out;
    }
    if ((rc = insert(c, &a, key, err)) || (rc = store_commit(c, err)))
        goto out;
    log_info("enrol: application %s received", a.id);
    if (out)
        *out = a;
out:
    store_conn_put(c);
    return rc;
}

/* ---- reading ---- */

static bool may_read(const identity_actor_t *actor)
{
    return actor->kind == ACTOR_LOCAL ||
           (actor->data_owner && (identity_actor_has(actor, ROLE_DATAFORVALTNING) ||
                                  identity_actor_has(actor, ROLE_OPERATOR)));
}

static bool may_decide(const identity_actor_t *actor)
{
    return actor->kind == ACTOR_LOCAL ||
           (actor->data_owner && identity_actor_has(actor, ROLE_DATAFORVALTNING));
}

static void row(store_stmt_t *s, struct enrol_application *a)
{
    memset(a, 0, sizeof *a);
    str_copy(store_col_text(s, 0), a->id, sizeof a->id);
    str_copy(store_col_text(s, 1), a->name, sizeof a->name);
    str_copy(store_col_text(s, 2), a->cvr, sizeof a->cvr);
    str_copy(store_col_text(s, 3), a->contact_email, sizeof a->contact_email);
    str_copy(store_col_text(s, 4), a->admin_name, sizeof a->admin_name);
    str_copy(store_col_text(s, 5), a->admin_email, sizeof a->admin_email);
    a->environments = (unsigned)store_col_int64(s, 6);
    int64_t st = store_col_int64(s, 7);
    a->status = st == 1 ? ENROL_APPROVED : st == 2 ? ENROL_REJECTED : ENROL_PENDING;
    a->created_ms = store_col_int64(s, 8);
    a->decided_ms = store_col_is_null(s, 9) ? 0 : store_col_int64(s, 9);
    str_copy(store_col_text(s, 10), a->decided_by, sizeof a->decided_by);
    str_copy(store_col_text(s, 11), a->reason, sizeof a->reason);
    str_copy(store_col_text(s, 12), a->org_id, sizeof a->org_id);
}

int enrol_list(enrol_t *e, const identity_actor_t *actor, bool pending_only,
               int (*fn)(const struct enrol_application *, void *), void *ctx, err_t *err)
{
    if (!may_read(actor))
        return err_set(err, DUPLA_EFORBIDDEN, "only the data owner sees applications");
    store_conn_t *c;
    int rc = store_conn_get(e->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT " APP_COLUMNS " FROM enrol_application WHERE (? = 0 OR status = 0)"
                       " ORDER BY created_at DESC, id LIMIT ?",
                       &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, pending_only ? 1 : 0);
        store_bind_int64(s, 2, ENROL_LIST_MAX);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            struct enrol_application a;
            row(s, &a);
            if (fn(&a, ctx))
                break;
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}

int enrol_count_pending(enrol_t *e, const identity_actor_t *actor, int64_t *out, err_t *err)
{
    if (!may_read(actor))
        return err_set(err, DUPLA_EFORBIDDEN, "only the data owner sees applications");
    store_conn_t *c;
    int rc = store_conn_get(e->st, &c, err);
    if (rc)
        return rc;
    rc = count(c, "SELECT COUNT(*), 0 FROM enrol_application WHERE status = 0", NULL, 0, out, NULL,
               err);
    store_conn_put(c);
    return rc;
}

static int find(store_conn_t *c, str_t id, struct enrol_application *out, err_t *err)
{
    if (id.len != ENROL_ID_LEN || !hex_is_lower(id))
        return err_param(err, DUPLA_ENOTFOUND, "id", "no such application");
    store_stmt_t *s;
    int rc =
        store_prepare(c, "SELECT " APP_COLUMNS " FROM enrol_application WHERE id = ?", &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        row(s, out);
        rc = 0;
    } else if (rc == STORE_DONE) {
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such application");
    }
    store_stmt_done(s);
    return rc;
}

int enrol_get(enrol_t *e, const identity_actor_t *actor, str_t id, struct enrol_application *out,
              err_t *err)
{
    if (!may_read(actor))
        return err_set(err, DUPLA_EFORBIDDEN, "only the data owner sees applications");
    store_conn_t *c;
    int rc = store_conn_get(e->st, &c, err);
    if (rc)
        return rc;
    rc = find(c, id, out, err);
    store_conn_put(c);
    return rc;
}

/* ---- deciding ---- */

/* Marks a pending application decided on c; PROBLEM_ENROL_DECIDED when
 * another decision came first. */
static int mark(store_conn_t *c, struct enrol_application *a, enum enrol_status to,
                const identity_actor_t *actor, int64_t now_ms, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "UPDATE enrol_application SET status = ?, decided_at = ?,"
                           " decided_by = ?, reason = ?, org_id = ? WHERE id = ? AND status = 0",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, to);
    store_bind_int64(s, 2, now_ms);
    store_bind_cstr(s, 3, actor->label);
    store_bind_cstr(s, 4, a->reason[0] ? a->reason : NULL);
    store_bind_cstr(s, 5, a->org_id[0] ? a->org_id : NULL);
    store_bind_cstr(s, 6, a->id);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (store_changes(c) != 1)
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ENROL_DECIDED, "id",
                          "the application has been decided already");
    a->status = to;
    a->decided_ms = now_ms;
    snprintf(a->decided_by, sizeof a->decided_by, "%s", actor->label);
    return 0;
}

struct approval {
    const enrol_t *e;
    const identity_actor_t *actor;
    struct enrol_application *a;
};

/* Inside identity's transaction: the application approved and its mail. */
static int approve_in_tx(store_conn_t *c, const struct identity_org *org,
                         const struct identity_setup_secret *admin, void *ctx, err_t *err)
{
    struct approval *ap = ctx;
    int64_t now = clock_now_ms();
    snprintf(ap->a->org_id, sizeof ap->a->org_id, "%s", org->id);
    int rc = mark(c, ap->a, ENROL_APPROVED, ap->actor, now, err);
    return rc ? rc : enrol_mail_approved(ap->e, c, ap->a, admin, now, err);
}

/* The application, pending, for a decision by actor. */
static int pending(enrol_t *e, const identity_actor_t *actor, str_t id, struct enrol_application *a,
                   err_t *err)
{
    if (!may_decide(actor))
        return err_set(err, DUPLA_EFORBIDDEN,
                       "only the data owner's dataforvaltning decides applications");
    int rc = enrol_get(e, actor, id, a, err);
    if (rc == 0 && a->status != ENROL_PENDING)
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ENROL_DECIDED, "id",
                        "the application has been decided already");
    return rc;
}

int enrol_approve(enrol_t *e, const identity_actor_t *actor, str_t id,
                  struct enrol_application *out, err_t *err)
{
    struct enrol_application a;
    int rc = pending(e, actor, id, &a, err);
    if (rc)
        return rc;
    struct approval ap = {e, actor, &a};
    struct identity_org_new in = {.name = str_from_cstr(a.name),
                                  .cvr = str_from_cstr(a.cvr),
                                  .contact_email = str_from_cstr(a.contact_email),
                                  .environments = a.environments,
                                  .admin_username = str_from_cstr(a.admin_email),
                                  .admin_name = str_from_cstr(a.admin_name),
                                  .in_transaction = approve_in_tx,
                                  .in_transaction_ctx = &ap};
    struct identity_org org;
    struct identity_setup_secret s;
    rc = identity_org_create(e->id, actor, &in, &org, &s, err);
    secret_wipe(&s, sizeof s);
    if (rc)
        return rc;
    log_info("enrol: application %s approved: organisation %s", a.id, org.id);
    if (out)
        *out = a;
    return 0;
}

int enrol_reject(enrol_t *e, const identity_actor_t *actor, str_t id, str_t reason,
                 struct enrol_application *out, err_t *err)
{
    struct enrol_application a;
    int rc = pending(e, actor, id, &a, err);
    if (rc)
        return rc;
    str_t r = str_trim(reason);
    if (r.len == 0)
        return err_param(err, DUPLA_EINVAL, "reason", "a rejection needs a reason");
    if (r.len > ENROL_REASON_MAX)
        return err_param(err, DUPLA_EINVAL, "reason", "the reason is longer than %d bytes",
                         ENROL_REASON_MAX);
    if (!utf8_valid(r))
        return err_param(err, DUPLA_EINVAL, "reason", "the reason is not valid UTF-8");
    str_copy(r, a.reason, sizeof a.reason);
    store_conn_t *c;
    if ((rc = store_conn_get(e->st, &c, err)))
        return rc;
    int64_t now = clock_now_ms();
    if (!(rc = store_begin(c, err)) && !(rc = mark(c, &a, ENROL_REJECTED, actor, now, err)) &&
        !(rc = enrol_mail_rejected(e, c, &a, now, err)))
        rc = store_commit(c, err);
    store_conn_put(c);
    if (rc)
        return rc;
    log_info("enrol: application %s rejected", a.id);
    if (out)
        *out = a;
    return 0;
}

json_t *enrol_json(const struct enrol_application *a)
{
    char created[32], decided[32];
    clock_format_s(a->created_ms, created, sizeof created);
    if (a->decided_ms)
        clock_format_s(a->decided_ms, decided, sizeof decided);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "cvr", json_string(a->cvr));
    json_object_set_new(o, "contact_email", json_string(a->contact_email));
    json_object_set_new(o, "admin_name", json_string(a->admin_name));
    json_object_set_new(o, "admin_email", json_string(a->admin_email));
    json_object_set_new(o, "environments", identity_envs_json(a->environments));
    json_object_set_new(o, "status", json_string(enrol_status_name(a->status)));
    json_object_set_new(o, "created_at", json_string(created));
    json_object_set_new(o, "decided_at", a->decided_ms ? json_string(decided) : json_null());
    json_object_set_new(o, "decided_by",
                        a->decided_by[0] ? json_string(a->decided_by) : json_null());
    json_object_set_new(o, "reason", a->reason[0] ? json_string(a->reason) : json_null());
    json_object_set_new(o, "organisation_id", a->org_id[0] ? json_string(a->org_id) : json_null());
    return o;
}
