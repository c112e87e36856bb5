/*
 * outbox.c: the durable queue of mail and its sender.
 *
 * One table, mail_message, holds everything the platform mails. A message
 * is queued (mail_enqueue) inside the transaction of the change it tells
 * of, by the module that made the change; source, when given, is unique,
 * so a caller can queue a message once.
 *
 * Sending one message:
 *   1. claim: in a transaction, set state "sending", a lease (lease_until,
 *      longer than an SMTP transaction can take) and a fresh lease_token,
 *      give the message its Message-ID if it has none yet (then it keeps
 *      it), and count the attempt; only a row that is pending and due, or
 *      "sending" with its lease run out, can be claimed (compare-and-set),
 *      so two senders never both take it.
 *   2. the SMTP transaction, outside any database transaction.
 *   3. on the relay's 250: mark "sent" (only if our lease_token still holds).
 *      On a 5xx: "failed" (kept, with last_error, for an operator: `dupla
 *      mail list --state failed`, `dupla mail retry ID`). On anything else:
 *      back to "pending" with next_attempt_at = now + base * 2^(attempts-1)
 *      (at most retry_max), or "failed" after max_attempts.
 * A crash (or lost store) between 1 and 3 leaves the row "sending"; once its
 * lease runs out the next run sends it again. So a message is never lost.
 * The one window where it can be sent twice: the relay has answered 250 to
 * the data but our "sent" commit has not happened (a crash, or the store
 * failing, in that instant). It is as small as one UPDATE; the copy carries
 * the same Message-ID and Date, so receivers can drop it.
 *
 * When the relay cannot be reached (a transient failure), the run stops
 * after that message rather than waiting out the timeout for every other:
 * they stay pending, untouched, for the next run.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/uuid.h"
#include "mail/internal.h"

/* A lease outlives the longest SMTP transaction by this much. */
#define MAIL_LEASE_MARGIN_SECONDS 60
#define MAIL_MESSAGE_MAX          (64 * 1024 * 1024) /* composed text, attachment included */

/* The queue's figures (core/metrics.h), one set for the process. */
static metric_t *m_sent, *m_retried, *m_failed, *m_backlog, *m_oldest;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_declare(void)
{
    m_sent = metrics_counter("dupla_mail_sent_total", "Messages the relay accepted.", NULL);
    m_retried = metrics_counter("dupla_mail_retries_total",
                                "Send attempts that failed and will be tried again.", NULL);
    m_failed =
        metrics_counter("dupla_mail_failed_total",
                        "Messages given up on (a permanent refusal, or max_attempts).", NULL);
    m_backlog = metrics_gauge("dupla_mail_outbox_messages",
                              "Messages in the outbox not sent, by state (pending, sending, "
                              "failed); set by each sender run.",
                              "state");
    m_oldest = metrics_gauge("dupla_mail_outbox_oldest_pending_age_seconds",
                             "Age of the oldest message waiting to be sent (0: none).", NULL);
}

int mail_open(store_t *st, const struct mail_settings *settings, mail_t **out, err_t *err)
{
    pthread_once(&metrics_once, metrics_declare);
    *out = NULL;
    int rc = mail_migrate(st, err);
    if (rc)
        return rc;
    struct mail *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    m->st = st;
    if (settings)
        m->set = *settings;
    else
        mail_settings_default(&m->set);
    *out = m;
    return 0;
}

void mail_close(mail_t *m)
{
    free(m);
}

/* "<uuid@domain of from>" into out (cap >= 100). */
static int make_message_id(const struct mail *m, char *out, size_t cap)
{
    char uuid[UUID_STR_LEN + 1];
    int rc = uuid_v4(uuid);
    if (rc)
        return rc;
    const char *at = strrchr(m->set.from, '@');
    snprintf(out, cap, "<%s@%s>", uuid, at && at[1] ? at + 1 : "dupla.invalid");
    return 0;
}

int mail_enqueue(store_conn_t *c, const struct mail_message *m, int64_t now_ms, err_t *err)
{
    int rc = 0;
    bool ok = m->to && mail_address_valid(m->to);
    char *subject =
        mail_text_clip(m->subject, m->subject ? strlen(m->subject) : 0, MAIL_SUBJECT_MAX);
    char *body = mail_text_clip(m->body, m->body ? strlen(m->body) : 0, MAIL_BODY_MAX);
    store_stmt_t *s = NULL;
    if (!subject || !body)
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    else
        rc = store_prepare(c,
                           "INSERT INTO mail_message (source, kind, ref, recipient, cc, subject,"
                           " body, in_reply_to, auto_submitted, attachment, state, next_attempt_at,"
                           " last_error, created_at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, m->source);
        store_bind_cstr(s, 2, m->kind ? m->kind : "mail");
        store_bind_cstr(s, 3, m->ref);
        store_bind_cstr(s, 4, m->to ? m->to : "");
        store_bind_cstr(s, 5, m->cc && mail_address_valid(m->cc) ? m->cc : NULL);
        store_bind_cstr(s, 6, subject);
        store_bind_cstr(s, 7, body);
        store_bind_cstr(s, 8, m->in_reply_to);
        store_bind_cstr(s, 9, m->in_reply_to ? "auto-replied" : "auto-generated");
        if (m->attachment.len)
            store_bind_blob(s, 10, m->attachment.ptr, m->attachment.len);
        else
            store_bind_null(s, 10);
        store_bind_cstr(s, 11, ok ? "pending" : "failed");
        store_bind_int64(s, 12, now_ms);
        store_bind_cstr(s, 13, ok ? NULL : "no valid recipient");
        store_bind_int64(s, 14, now_ms);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    free(subject);
    free(body);
    if (!ok && rc == 0)
        log_warn("mail (%s, %s) has no valid recipient; kept as failed", m->kind ? m->kind : "mail",
                 m->ref ? m->ref : "-");
    return rc;
}

/* One claimed message. */
struct claimed {
    int64_t id, attempts, created_at;
    char token[33];
    char message_id[MAIL_ADDRESS_MAX + 1];
    char to[MAIL_ADDRESS_MAX + 1], cc[MAIL_ADDRESS_MAX + 1];
    char in_reply_to[MAIL_ADDRESS_MAX + 1];
    char auto_submitted[32];
    char *subject, *body;
    void *attachment;
    size_t attachment_len;
};

static void claimed_free(struct claimed *m)
{
    free(m->subject);
    free(m->body);
    free(m->attachment);
}

#define DUE_SQL                                                                                    \
    "((state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?))"

/* 1 and *m filled if claimed; 0 if another sender has it. */
static int claim(struct mail *ml, store_conn_t *c, int64_t id, int64_t now, struct claimed *m,
                 err_t *err)
{
    memset(m, 0, sizeof *m);
    char mid[128];
    int rc = rand_hex(m->token, 16);
    if (rc)
        return err_internal(err, rc, "no random bytes for a lease");
    if ((rc = make_message_id(ml, mid, sizeof mid)))
        return err_internal(err, rc, "no random bytes for a Message-ID");
    int64_t lease = now + ((int64_t)ml->set.smtp_timeout_seconds * 2 + MAIL_LEASE_MARGIN_SECONDS) *
                              MS_PER_SECOND;
    store_stmt_t *s;
    if ((rc = store_begin(c, err)))
        return rc;
    rc =
        store_prepare(c,
                      "UPDATE mail_message SET state = 'sending', lease_until = ?, lease_token = ?,"
                      " message_id = COALESCE(message_id, ?), attempts = attempts + 1"
                      " WHERE id = ? AND " DUE_SQL,
                      &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, lease);
        store_bind_cstr(s, 2, m->token);
        store_bind_cstr(s, 3, mid);
        store_bind_int64(s, 4, id);
        store_bind_int64(s, 5, now);
        store_bind_int64(s, 6, now);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0 && store_changes(c) == 0) {
        store_rollback(c);
        return 0;
    }
    if (rc == 0)
        rc =
            store_prepare(c,
                          "SELECT attempts, message_id, recipient, cc, in_reply_to, auto_submitted,"
                          " subject, body, attachment, created_at FROM mail_message WHERE id = ?",
                          &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, id);
        rc = store_step(s, err);
        if (rc == STORE_ROW) {
            m->id = id;
            m->attempts = store_col_int64(s, 0);
            str_copy(store_col_text(s, 1), m->message_id, sizeof m->message_id);
            str_copy(store_col_text(s, 2), m->to, sizeof m->to);
            str_copy(store_col_text(s, 3), m->cc, sizeof m->cc);
            str_copy(store_col_text(s, 4), m->in_reply_to, sizeof m->in_reply_to);
            str_copy(store_col_text(s, 5), m->auto_submitted, sizeof m->auto_submitted);
            str_t sj = store_col_text(s, 6), b = store_col_text(s, 7), a = store_col_blob(s, 8);
            m->subject = strndup(sj.ptr, sj.len);
            m->body = strndup(b.ptr, b.len);
            if (a.len && (m->attachment = malloc(a.len))) {
                memcpy(m->attachment, a.ptr, a.len);
                m->attachment_len = a.len;
            }
            m->created_at = store_col_int64(s, 9);
            rc = (!m->subject || !m->body || (a.len && !m->attachment))
                     ? err_set(err, DUPLA_ENOMEM, "out of memory")
                     : 0;
        } else if (rc == STORE_DONE) {
            rc = err_internal(err, DUPLA_EINTERNAL, "claimed mail %lld vanished", (long long)id);
        }
        store_stmt_done(s);
    }
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc) {
        store_rollback(c);
        claimed_free(m);
        return rc;
    }
    return 1;
}

/* Records the outcome of one attempt, if our lease still holds. */
static int settle(struct mail *ml, store_conn_t *c, const struct claimed *m, int64_t now,
                  int send_rc, const struct mail_smtp_outcome *o, err_t *err)
{
    store_stmt_t *s;
    int rc;
    if (send_rc == 0) {
        rc =
            store_prepare(c,
                          "UPDATE mail_message SET state = 'sent', sent_at = ?, lease_until = NULL,"
                          " last_error = NULL WHERE id = ? AND lease_token = ?",
                          &s, err);
        if (rc)
            return rc;
        store_bind_int64(s, 1, now);
        store_bind_int64(s, 2, m->id);
        store_bind_cstr(s, 3, m->token);
    } else {
        bool give_up = o->permanent || m->attempts >= (int64_t)ml->set.max_attempts;
        int64_t delay = (int64_t)ml->set.retry_base_seconds * MS_PER_SECOND;
        for (int64_t i = 1;
             i < m->attempts && delay < (int64_t)ml->set.retry_max_seconds * MS_PER_SECOND; i++)
            delay *= 2;
        if (delay > (int64_t)ml->set.retry_max_seconds * MS_PER_SECOND)
            delay = (int64_t)ml->set.retry_max_seconds * MS_PER_SECOND;
        rc = store_prepare(c,
                           "UPDATE mail_message SET state = ?, next_attempt_at = ?,"
                           " lease_until = NULL, last_error = ? WHERE id = ? AND lease_token = ?",
                           &s, err);
        if (rc)
            return rc;
        store_bind_cstr(s, 1, give_up ? "failed" : "pending");
        store_bind_int64(s, 2, now + delay);
        store_bind_cstr(s, 3, o->error);
        store_bind_int64(s, 4, m->id);
        store_bind_cstr(s, 5, m->token);
    }
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

int mail_send_pending(mail_t *ml, int64_t now_ms, struct mail_send_stats *stats, err_t *err)
{
    struct mail_send_stats st = {0};
    store_conn_t *c;
    int rc;
    if ((rc = store_conn_get(ml->st, &c, err)))
        return rc;
    /* The due ids first, so that each is tried at most once per run. */
    int64_t ids[MAIL_SEND_BATCH];
    size_t n = 0;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT id FROM mail_message WHERE " DUE_SQL
                            " ORDER BY next_attempt_at, id LIMIT ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, now_ms);
        store_bind_int64(s, 2, now_ms);
        store_bind_int64(s, 3, MAIL_SEND_BATCH);
        while ((rc = store_step(s, err)) == STORE_ROW && n < MAIL_SEND_BATCH)
            ids[n++] = store_col_int64(s, 0);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct claimed m;
        int got = claim(ml, c, ids[i], now_ms, &m, err);
        if (got <= 0) {
            rc = got;
            continue;
        }
        struct mail_compose_input ci = {.from = ml->set.from,
                                        .from_name = ml->set.from_name,
                                        .to = m.to,
                                        .cc = m.cc,
                                        .subject = m.subject,
                                        .body = m.body,
                                        .message_id = m.message_id,
                                        .in_reply_to = m.in_reply_to,
                                        .date_ms = m.created_at,
                                        .auto_submitted = m.auto_submitted,
                                        .attachment = {m.attachment, m.attachment_len}};
        buf_t text;
        buf_init(&text, MAIL_MESSAGE_MAX);
        err_t e1;
        struct mail_smtp_outcome o = {0};
        int send_rc = mail_compose(&ci, &text, &e1);
        if (send_rc) {
            o.permanent = true;
            snprintf(o.error, sizeof o.error, "%.280s", e1.log);
        } else {
            const char *rcpts[2] = {m.to, m.cc};
            send_rc = mail_smtp_send(&ml->set, rcpts, m.cc[0] ? 2 : 1, buf_str(&text), &o);
        }
        buf_free(&text);
        /* The window: the relay has the message; until this commit, a crash
         * would send it again. */
        int64_t done_at = now_ms > clock_now_ms() ? now_ms : clock_now_ms();
        rc = settle(ml, c, &m, done_at, send_rc, &o, err);
        if (send_rc == 0) {
            st.sent++;
            log_info("mail %lld sent (%s)", (long long)m.id, m.message_id);
        } else {
            bool give_up = o.permanent || m.attempts >= (int64_t)ml->set.max_attempts;
            if (give_up)
                st.failed++;
            else
                st.retried++;
            log_warn("mail %lld attempt %lld %s: %s", (long long)m.id, (long long)m.attempts,
                     give_up ? "failed for good" : "failed, will retry", o.error);
            if (!o.permanent) {
                claimed_free(&m);
                break; /* the relay is unwell: leave the rest for the next run */
            }
        }
        claimed_free(&m);
    }
    store_conn_put(c);
    metric_add(m_sent, st.sent);
    metric_add(m_retried, st.retried);
    metric_add(m_failed, st.failed);
    if (stats)
        *stats = st;
    return rc;
}

/* See mail.h. One grouped read over the state index (sent rows are not
 * counted: the index's state = 'sent' part is skipped by the WHERE). */
int mail_backlog(mail_t *ml, struct mail_backlog *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    store_conn_t *c;
    int rc = store_conn_get(ml->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT state, COUNT(*), MIN(created_at) FROM mail_message"
                       " WHERE state IN ('pending', 'sending', 'failed') GROUP BY state",
                       &s, err);
    if (rc == 0) {
        while ((rc = store_step(s, err)) == STORE_ROW) {
            str_t state = store_col_text(s, 0);
            int64_t n = store_col_int64(s, 1), oldest = store_col_int64(s, 2);
            if (str_eq_cstr(state, "failed")) {
                out->failed = n;
                continue;
            }
            if (str_eq_cstr(state, "pending"))
                out->pending = n;
            else
                out->sending = n;
            if (oldest && (!out->oldest_pending_ms || oldest < out->oldest_pending_ms))
                out->oldest_pending_ms = oldest;
        }
        store_stmt_done(s);
        rc = rc == STORE_DONE ? 0 : rc;
    }
    store_conn_put(c);
    if (rc == 0) {
        metric_set(m_backlog, (double)out->pending, "pending");
        metric_set(m_backlog, (double)out->sending, "sending");
        metric_set(m_backlog, (double)out->failed, "failed");
        int64_t now = clock_now_ms();
        metric_set(m_oldest, out->oldest_pending_ms && now > out->oldest_pending_ms
                                 ? (double)(now - out->oldest_pending_ms) / 1000.0
                                 : 0.0);
    }
    return rc;
}

int mail_list_json(mail_t *ml, const char *state, json_t **out, err_t *err)
{
    if (state && strcmp(state, "pending") != 0 && strcmp(state, "sending") != 0 &&
        strcmp(state, "sent") != 0 && strcmp(state, "failed") != 0)
        return err_param(err, DUPLA_EINVAL, "state",
                         "The state must be pending, sending, sent or failed.");
    store_conn_t *c;
    int rc = store_conn_get(ml->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT id, kind, recipient, subject, state, attempts, next_attempt_at,"
                       " last_error, created_at, sent_at, message_id, ref FROM mail_message"
                       " WHERE (? IS NULL OR state = ?) ORDER BY id DESC LIMIT ?",
                       &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, state);
        store_bind_cstr(s, 2, state);
        store_bind_int64(s, 3, MAIL_LIST_MAX);
        json_t *list = json_array();
        while ((rc = store_step(s, err)) == STORE_ROW) {
            json_t *o = json_object();
            char t[32];
            json_object_set_new(o, "id", json_integer(store_col_int64(s, 0)));
            static const char *const names[] = {NULL,    "kind", "to",         "subject",
                                                "state", NULL,   NULL,         "last_error",
                                                NULL,    NULL,   "message_id", "ref"};
            for (int col = 1; col <= 11; col++) {
                if (!names[col])
                    continue;
                if (store_col_is_null(s, col)) {
                    json_object_set_new(o, names[col], json_null());
                } else {
                    str_t v = store_col_text(s, col);
                    json_t *j = json_stringn(v.ptr, v.len);
                    json_object_set_new(o, names[col], j ? j : json_string(""));
                }
            }
            json_object_set_new(o, "attempts", json_integer(store_col_int64(s, 5)));
            clock_format_s(store_col_int64(s, 6), t, sizeof t);
            json_object_set_new(o, "next_attempt_at", json_string(t));
            clock_format_s(store_col_int64(s, 8), t, sizeof t);
            json_object_set_new(o, "created_at", json_string(t));
            if (store_col_is_null(s, 9)) {
                json_object_set_new(o, "sent_at", json_null());
            } else {
                clock_format_s(store_col_int64(s, 9), t, sizeof t);
                json_object_set_new(o, "sent_at", json_string(t));
            }
            json_array_append_new(list, o);
        }
        store_stmt_done(s);
        if (rc < 0)
            json_decref(list);
        else
            *out = list, rc = 0;
    }
    store_conn_put(c);
    return rc;
}

int mail_retry(mail_t *ml, int64_t mail_id, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ml->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc =
        store_prepare(c,
                      "UPDATE mail_message SET state = 'pending', next_attempt_at = ?, attempts = 0"
                      " WHERE id = ? AND state = 'failed' AND recipient <> ''",
                      &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, clock_now_ms());
        store_bind_int64(s, 2, mail_id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
        if (rc == 0 && store_changes(c) == 0)
            rc = err_param(err, DUPLA_ECONFLICT, "id",
                           "Mail %lld is not a failed message with a recipient.",
                           (long long)mail_id);
    }
    store_conn_put(c);
    return rc;
}
