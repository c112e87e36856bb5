/*
 * notify.c: mail to the organisation's contact mailbox, handed to the mail
 * module (mail_enqueue) inside the transaction of the step it tells of (so
 * a mail exists exactly when its step happened); the mail module sends it.
 * Each is of kind "agreement-<step>" and refers to the agreement's id.
 *
 * The recipient is the organisation's contact mailbox from identity (the
 * org_mailbox hook), or, without it, the application's contact address.
 * Texts are in Danish with English alongside.
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/log.h"

#define NOTIFY_SUBJECT_MAX 400
#define NOTIFY_BODY_MAX    (AGREEMENT_REASON_MAX + 2048)

static const struct mail_text {
    enum agreement_action action;
    const char *kind;
    const char *da;
    const char *en;
} texts[] = {
    {AGREEMENT_SIGN, "submitted", "er underskrevet og sendt til Skatteforvaltningen",
     "has been signed and submitted to the data owner"},
    {AGREEMENT_APPROVE, "approved", "er godkendt", "has been approved"},
    {AGREEMENT_REJECT, "rejected", "er afvist", "has been rejected"},
    {AGREEMENT_RETURN, "returned", "er sendt retur til rettelse", "has been returned for changes"},
    {AGREEMENT_SUSPEND, "suspended", "er suspenderet", "has been suspended"},
    {AGREEMENT_REACTIVATE, "reactivated", "er genaktiveret", "has been reactivated"},
    {AGREEMENT_REVOKE, "revoked", "er tilbagekaldt", "has been revoked"},
    {AGREEMENT_TERMINATE, "terminated", "er opsagt", "has been terminated"},
};

static void recipient_for(struct agreement *ag, const char *org_cvr, const json_t *application,
                          char *out, size_t cap)
{
    out[0] = '\0';
    if (ag->hooks.org_mailbox && ag->hooks.org_mailbox(ag->hooks.ctx, org_cvr, out, cap) == 0 &&
        out[0])
        return;
    const char *email =
        json_string_value(json_object_get(json_object_get(application, "contact"), "email"));
    snprintf(out, cap, "%s", email ? email : "");
}

/* Hands one message about agreement id to the mail module, inside the
 * caller's transaction on c. */
static int queue_mail(store_conn_t *c, const char *id, const char *kind, const char *to,
                      const char *subject, const char *body, int64_t now, err_t *err)
{
    char k[64];
    snprintf(k, sizeof k, "agreement-%s", kind);
    struct mail_message m = {.kind = k, .to = to, .subject = subject, .body = body, .ref = id};
    return mail_enqueue(c, &m, now, err);
}

/* See internal.h. Steps without a mail (withdraw) queue nothing. */
int agreement_notify_decision(struct agreement *ag, store_conn_t *c, const struct ag_row *row,
                              int64_t version, const json_t *application,
                              enum agreement_action action, const char *reason, int64_t now,
                              err_t *err)
{
    const struct mail_text *t = NULL;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i].action == action)
            t = &texts[i];
    if (!t)
        return 0;
    char to[AGREEMENT_MAILBOX_MAX];
    recipient_for(ag, row->org_cvr, application, to, sizeof to);
    if (!to[0])
        log_warn("agreement %s: no mailbox to tell of the %s step", row->id, t->kind);
    const char *title = json_string_value(json_object_get(application, "title"));
    if (!title)
        title = "";
    char subject[NOTIFY_SUBJECT_MAX];
    snprintf(subject, sizeof subject, "Dataudvekslingsaftale %s / Agreement %s: %.200s", t->da,
             t->en, title);
    buf_t body;
    buf_init(&body, NOTIFY_BODY_MAX);
    buf_printf(&body,
               "Dataudvekslingsaftalen \"%s\" (id %s, version %lld) %s.\n"
               "The data exchange agreement \"%s\" (id %s, version %lld) %s.\n",
               title, row->id, (long long)version, t->da, title, row->id, (long long)version,
               t->en);
    if (reason && *reason)
        buf_printf(&body, "\nBegrundelse / Reason:\n%s\n", reason);
    int rc = queue_mail(c, row->id, t->kind, to, subject, body.data ? body.data : "", now, err);
    buf_free(&body);
    return rc;
}

/* See agreement.h. Each warning is queued with its version's mark in one
 * transaction, so that it is queued exactly once. */
int agreement_expiry_warnings(agreement_t *ag, int64_t now_ms, int *queued, err_t *err)
{
    if (queued)
        *queued = 0;
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    rc = store_begin(c, err);
    store_stmt_t *s = NULL;
    if (rc == 0)
        rc =
            store_prepare(c,
                          "SELECT v.agreement_id, v.version, v.valid_until FROM agreement_version v"
                          " JOIN agreement a ON a.id = v.agreement_id AND a.serving_version ="
                          " v.version WHERE v.state = 'approved' AND v.valid_until IS NOT NULL"
                          " AND v.expiry_warned_at IS NULL AND v.valid_until > ? AND"
                          " v.valid_until <= ? ORDER BY v.agreement_id",
                          &s, err);
    struct due {
        char id[AGREEMENT_ID_LEN + 1];
        int64_t version, until;
    } *due = NULL;
    size_t n = 0, cap = 0;
    if (rc == 0) {
        store_bind_int64(s, 1, now_ms);
        store_bind_int64(s, 2, now_ms + AGREEMENT_EXPIRY_WARNING_DAYS * MS_PER_DAY);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                void *p = realloc(due, ncap * sizeof *due);
                if (!p) {
                    rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                    break;
                }
                due = p;
                cap = ncap;
            }
            str_copy(store_col_text(s, 0), due[n].id, sizeof due[n].id);
            due[n].version = store_col_int64(s, 1);
            due[n].until = store_col_int64(s, 2);
            n++;
        }
        store_stmt_done(s);
        if (rc == STORE_DONE)
            rc = 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct ag_row row;
        struct ag_version v;
        rc = agreement_row_load(c, str_from_cstr(due[i].id), &row, err);
        if (rc == 0)
            rc = agreement_version_load(c, row.id, due[i].version, &v, err);
        if (rc)
            break;
        char to[AGREEMENT_MAILBOX_MAX], last_day[16], subject[NOTIFY_SUBJECT_MAX];
        recipient_for(ag, row.org_cvr, v.application, to, sizeof to);
        clock_format_date((int32_t)(due[i].until / MS_PER_DAY) - 1, last_day, sizeof last_day);
        const char *title = json_string_value(json_object_get(v.application, "title"));
        if (!title)
            title = "";
        snprintf(subject, sizeof subject,
                 "Dataudvekslingsaftale udløber / Agreement expires %s: %.200s", last_day, title);
        buf_t body;
        buf_init(&body, NOTIFY_BODY_MAX);
        buf_printf(&body,
                   "Dataudvekslingsaftalen \"%s\" (id %s, version %lld) gælder til og med %s.\n"
                   "Søg om en ny version i god tid.\n\n"
                   "The data exchange agreement \"%s\" (id %s, version %lld) is valid until %s "
                   "inclusive.\nApply for a new version in good time.\n",
                   title, row.id, (long long)v.version, last_day, title, row.id,
                   (long long)v.version, last_day);
        rc = queue_mail(c, row.id, "expiry-warning", to, subject, body.data ? body.data : "",
                        now_ms, err);
        buf_free(&body);
        agreement_version_clear(&v);
        if (rc == 0) {
            rc = store_prepare(c,
                               "UPDATE agreement_version SET expiry_warned_at = ? WHERE"
                               " agreement_id = ? AND version = ?",
                               &s, err);
            if (rc == 0) {
                store_bind_int64(s, 1, now_ms);
                store_bind_cstr(s, 2, row.id);
                store_bind_int64(s, 3, due[i].version);
                rc = store_step(s, err);
                store_stmt_done(s);
                rc = rc < 0 ? rc : 0;
            }
        }
        if (rc == 0 && queued)
            (*queued)++;
    }
    free(due);
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc) {
        store_rollback(c);
        if (queued)
            *queued = 0;
    }
    store_conn_put(c);
    return rc;
}

/* See agreement.h. The rows are read first and the connection given back
 * before fn runs, so that fn may use the store. */
int agreement_expiring(agreement_t *ag, int64_t now_ms, int64_t until_ms,
                       int (*fn)(const struct agreement_expiring *, void *), void *ctx, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s = NULL;
    rc = store_prepare(c,
                       "SELECT v.agreement_id, v.version, v.valid_until, v.expiry_warned_at"
                       " FROM agreement_version v JOIN agreement a ON a.id = v.agreement_id AND"
                       " a.serving_version = v.version WHERE v.state = 'approved' AND"
                       " v.valid_until IS NOT NULL AND v.valid_until > ? AND v.valid_until <= ?"
                       " ORDER BY v.agreement_id",
                       &s, err);
    struct agreement_expiring *due = NULL;
    size_t n = 0, cap = 0;
    if (rc == 0) {
        store_bind_int64(s, 1, now_ms);
        store_bind_int64(s, 2, until_ms);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                void *p = realloc(due, ncap * sizeof *due);
                if (!p) {
                    rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                    break;
                }
                due = p;
                cap = ncap;
            }
            memset(&due[n], 0, sizeof due[n]);
            str_copy(store_col_text(s, 0), due[n].id, sizeof due[n].id);
            due[n].version = store_col_int64(s, 1);
            due[n].valid_until_ms = store_col_int64(s, 2);
            due[n].warned = !store_col_is_null(s, 3);
            n++;
        }
        store_stmt_done(s);
        if (rc == STORE_DONE)
            rc = 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct ag_row row;
        struct ag_version v;
        rc = agreement_row_load(c, str_from_cstr(due[i].id), &row, err);
        if (rc == 0)
            rc = agreement_version_load(c, row.id, due[i].version, &v, err);
        if (rc)
            break;
        snprintf(due[i].org_cvr, sizeof due[i].org_cvr, "%s", row.org_cvr);
        const char *title = json_string_value(json_object_get(v.application, "title"));
        snprintf(due[i].title, sizeof due[i].title, "%s", title ? title : "");
        recipient_for(ag, row.org_cvr, v.application, due[i].mailbox, sizeof due[i].mailbox);
        agreement_version_clear(&v);
    }
    store_conn_put(c);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(&due[i], ctx);
    free(due);
    return rc;
}
