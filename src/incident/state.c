/*
 * state.c: an incident's state and the changes staff and members make to
 * it: the status transition table, setting a status, assigning, and
 * messages, each in one transaction with its history row and the notice
 * mail it causes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/problem.h"
#include "incident/internal.h"

/*
 * The transition table. Staff may take an incident on, ask the reporter,
 * resolve or close it from any open status; a resolved incident can be
 * reopened (back in progress) or closed; closed is final (a new report
 * makes a new incident).
 */
static const bool transitions[INCIDENT_STATUS_COUNT][INCIDENT_STATUS_COUNT] = {
    [INCIDENT_NEW] = {[INCIDENT_IN_PROGRESS] = true,
                      [INCIDENT_WAITING] = true,
                      [INCIDENT_RESOLVED] = true,
                      [INCIDENT_CLOSED] = true},
    [INCIDENT_IN_PROGRESS] =
        {[INCIDENT_WAITING] = true, [INCIDENT_RESOLVED] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_WAITING] =
        {[INCIDENT_IN_PROGRESS] = true, [INCIDENT_RESOLVED] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_RESOLVED] = {[INCIDENT_IN_PROGRESS] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_CLOSED] = {0},
};

bool incident_transition_allowed(enum incident_status from, enum incident_status to)
{
    if ((unsigned)from >= INCIDENT_STATUS_COUNT || (unsigned)to >= INCIDENT_STATUS_COUNT)
        return false;
    return transitions[from][to];
}

/* Danish and English words for the notices. */
static const char *const status_da[INCIDENT_STATUS_COUNT] = {
    "ny", "under behandling", "afventer svar fra dig", "løst", "lukket"};
static const char *const status_en[INCIDENT_STATUS_COUNT] = {
    "new", "in progress", "waiting for your answer", "resolved", "closed"};

/* ---- the changes ---- */

/* Sets one column (status or assignee) and updated_at. The SQL texts are
 * literals: the store's statement cache looks statements up by the SQL
 * pointer first, so SQL built in a reused buffer would find the wrong one. */
static int touch(store_conn_t *c, const char *id, bool assignee, const char *value, int64_t now,
                 err_t *err)
{
    static const char *const sql_status =
        "UPDATE incident SET status = ?, updated_at = ? WHERE id = ?";
    static const char *const sql_assignee =
        "UPDATE incident SET assignee = ?, updated_at = ? WHERE id = ?";
    store_stmt_t *s;
    int rc = store_prepare(c, assignee ? sql_assignee : sql_status, &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, value);
    store_bind_int64(s, 2, now);
    store_bind_cstr(s, 3, id);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Queues a notice about row to its reporter (or the organisation). */
static int queue_notice(struct incident *inc, store_conn_t *c, const struct inc_row *row,
                        const char *kind, const char *subject, const char *body, int64_t now,
                        err_t *err)
{
    char to[INCIDENT_ADDRESS_MAX + 1];
    if (mail_address_valid(row->reporter_email))
        snprintf(to, sizeof to, "%s", row->reporter_email);
    else
        incident_receipt_recipient(inc, row->org_cvr, NULL, to, sizeof to);
    if (!to[0]) {
        log_warn("incident %s: nobody to tell of the %s", row->id, kind);
        return 0;
    }
    struct mail_message m = {.kind = kind,
                             .to = to,
                             .subject = subject,
                             .body = body,
                             .in_reply_to = row->mail_message_id[0] ? row->mail_message_id : NULL,
                             .ref = row->id};
    return mail_enqueue(c, &m, now, err);
}

/* Runs fn on a loaded row inside one transaction. */
typedef int (*row_step_fn)(struct incident *inc, store_conn_t *c, struct inc_row *row,
                           const void *arg, int64_t now, err_t *err);

static int with_row(struct incident *inc, str_t id, row_step_fn fn, const void *arg, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    struct inc_row row;
    if ((rc = store_begin(c, err)) == 0 && (rc = incident_row_load(c, id, &row, err)) == 0 &&
        (rc = fn(inc, c, &row, arg, clock_now_ms(), err)) == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    return rc;
}

struct status_arg {
    const struct incident_actor *actor;
    enum incident_status to;
    const char *note;
};

static int status_step(struct incident *inc, store_conn_t *c, struct inc_row *row, const void *argp,
                       int64_t now, err_t *err)
{
    const struct status_arg *a = argp;
    if (!incident_transition_allowed(row->status, a->to))
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_STATUS_TRANSITION, "status",
                          "Incident %s is %s; it cannot become %s.", row->id,
                          incident_status_name(row->status), incident_status_name(a->to));
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(a->actor, who, sizeof who);
    int rc = touch(c, row->id, false, incident_status_name(a->to), now, err);
    if (rc == 0)
        rc = incident_history_add(c, row->id, now, who, "status", incident_status_name(row->status),
                                  incident_status_name(a->to), a->note, err);
    if (rc)
        return rc;
    char subject[MAIL_SUBJECT_MAX];
    snprintf(subject, sizeof subject, "%s: %s / %s: %.200s", row->id, status_da[a->to],
             status_en[a->to], row->title);
    buf_t body;
    buf_init(&body, MAIL_BODY_MAX);
    buf_printf(&body,
               "Hændelsen %s (\"%s\") har skiftet status fra \"%s\" til \"%s\".\n"
               "Incident %s (\"%s\") has changed status from \"%s\" to \"%s\".\n",
               row->id, row->title, status_da[row->status], status_da[a->to], row->id, row->title,
               status_en[row->status], status_en[a->to]);
    if (a->note && *a->note)
        buf_printf(&body, "\nBemærkning / Note:\n%s\n", a->note);
    if (a->to == INCIDENT_WAITING)
        buf_printf(&body,
                   "\nSvar venligst på denne mail med %s i emnefeltet.\n"
                   "Please answer this mail, keeping %s in the subject.\n",
                   row->id, row->id);
    rc = body.data ? queue_notice(inc, c, row, "status", subject, body.data, now, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
    buf_free(&body);
    return rc;
}

static int need_staff(const struct incident_actor *a, err_t *err)
{
    if (!(a->roles & INCIDENT_ROLE_STAFF))
        return err_set(err, DUPLA_EFORBIDDEN, "Only the data owner's staff may do this.");
    return 0;
}

int incident_set_status(incident_t *inc, const struct incident_actor *actor, str_t id,
                        enum incident_status to, const char *note, err_t *err)
{
    int rc = need_staff(actor, err);
    if (rc)
        return rc;
    if ((unsigned)to >= INCIDENT_STATUS_COUNT)
        return err_param(err, DUPLA_EINVAL, "status", "No such status.");
    char *clean = NULL;
    if (note) {
        if (!(clean = mail_text_clip(note, strlen(note), INCIDENT_MESSAGE_MAX)))
            return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    struct status_arg a = {actor, to, clean};
    rc = with_row(inc, id, status_step, &a, err);
    free(clean);
    return rc;
}

struct assign_arg {
    const struct incident_actor *actor;
    const char *assignee;
};

static int assign_step(struct incident *inc, store_conn_t *c, struct inc_row *row, const void *argp,
                       int64_t now, err_t *err)
{
    (void)inc;
    const struct assign_arg *a = argp;
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(a->actor, who, sizeof who);
    int rc = touch(c, row->id, true, a->assignee[0] ? a->assignee : NULL, now, err);
    if (rc == 0) {
        char text[INCIDENT_NAME_MAX * 2 + 32];
        snprintf(text, sizeof text, "%s -> %s", row->assignee[0] ? row->assignee : "(nobody)",
                 a->assignee[0] ? a->assignee : "(nobody)");
        rc = incident_history_add(c, row->id, now, who, "assign", NULL, NULL, text, err);
    }
    return rc;
}

int incident_assign(incident_t *inc, const struct incident_actor *actor, str_t id,
                    const char *assignee, err_t *err)
{
    int rc = need_staff(actor, err);
    if (rc)
        return rc;
    if (!assignee)
        assignee = "";
    size_t n = strlen(assignee);
    if (n >= INCIDENT_NAME_MAX)
        return err_param(err, DUPLA_EINVAL, "assignee", "The assignee is too long (at most %d).",
                         INCIDENT_NAME_MAX - 1);
    char *clean = mail_text_clip(assignee, n, INCIDENT_NAME_MAX - 1);
    if (!clean)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct assign_arg a = {actor, clean};
    rc = with_row(inc, id, assign_step, &a, err);
    free(clean);
    return rc;
}

struct message_arg {
    const struct incident_actor *actor;
    const char *text;
    bool to_reporter;
};

static int message_step(struct incident *inc, store_conn_t *c, struct inc_row *row,
                        const void *argp, int64_t now, err_t *err)
{
    const struct message_arg *a = argp;
    bool staff = (a->actor->roles & INCIDENT_ROLE_STAFF) != 0;
    if (!incident_may_see(a->actor, row))
        return err_param(err, DUPLA_ENOTFOUND, "id", "No incident %s.", row->id);
    if (row->status == INCIDENT_CLOSED)
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_INCIDENT_CLOSED, NULL,
                          "Incident %s is closed; report a new one.", row->id);
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(a->actor, who, sizeof who);
    const char *kind = staff ? (a->to_reporter ? "message-out" : "note") : "message-in";
    int rc = incident_history_add(c, row->id, now, who, kind, NULL, NULL, a->text, err);
    if (rc == 0 && !staff && row->status == INCIDENT_WAITING) {
        rc = touch(c, row->id, false, "in-progress", now, err);
        if (rc == 0)
            rc = incident_history_add(c, row->id, now, who, "status", "waiting-for-reporter",
                                      "in-progress", "the reporter answered", err);
    } else if (rc == 0) {
        rc = touch(c, row->id, false, incident_status_name(row->status), now, err);
    }
    if (rc == 0 && staff && a->to_reporter) {
        char subject[MAIL_SUBJECT_MAX];
        snprintf(subject, sizeof subject, "%s: Besked / Message: %.200s", row->id, row->title);
        rc = queue_notice(inc, c, row, "message", subject, a->text, now, err);
    }
    return rc;
}

int incident_add_message(incident_t *inc, const struct incident_actor *actor, str_t id,
                         const char *text, bool to_reporter, err_t *err)
{
    if (!(actor->roles & (INCIDENT_ROLE_STAFF | INCIDENT_ROLE_MEMBER)))
        return err_set(err, DUPLA_EFORBIDDEN, "You may not write on incidents.");
    if (!text || !*text)
        return err_param(err, DUPLA_EINVAL, "text", "The message is empty.");
    size_t n = strlen(text);
    if (n > INCIDENT_MESSAGE_MAX)
        return err_param(err, DUPLA_ELIMIT, "text", "The message is too long (at most %d bytes).",
                         INCIDENT_MESSAGE_MAX);
    char *clean = mail_text_clip(text, n, INCIDENT_MESSAGE_MAX);
    if (!clean)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct message_arg a = {actor, clean, to_reporter};
    int rc = with_row(inc, id, message_step, &a, err);
    free(clean);
    return rc;
}
