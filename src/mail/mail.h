/*
 * mail.h: everything the platform mails, the module's contract.
 *
 * One durable table, mail_message, holds every message the platform sends
 * (incident receipts, notices, replies to mail without a trigger, forwards
 * to the general mailbox, the agreement module's decisions and expiry
 * warnings). A module queues a message with mail_enqueue() inside the
 * transaction of the change it tells of, so a message exists exactly when
 * its change happened; the sender (mail_send_pending, run by the server's
 * ticker and by `dupla mail send-pending`) builds the RFC 5322 text with
 * GMime and sends it over SMTP (libcurl) to the configured relay, with a
 * lease per send and exponential back-off. See outbox.c for the
 * exactly-once argument and its one window.
 *
 * The module sits below agreement and incident: they hand it messages
 * through this header and never touch its table; it knows neither of them.
 */
#ifndef DUPLA_MAIL_MAIL_H
#define DUPLA_MAIL_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/str.h"
#include "store/store.h"

#define MAIL_ADDRESS_MAX 254 /* an e-mail address (RFC 5321 path limit) */
#define MAIL_NAME_MAX    128 /* a display name */

/* Defaults of the "mail" configuration section. */
#define MAIL_DEFAULT_TIMEOUT_SECONDS    60
#define MAIL_DEFAULT_RETRY_BASE_SECONDS 30
#define MAIL_DEFAULT_RETRY_MAX_SECONDS  3600
#define MAIL_DEFAULT_MAX_ATTEMPTS       20
#define MAIL_SEND_BATCH                 100 /* messages sent in one send-pending run */
#define MAIL_SUBJECT_MAX                400 /* bytes of a subject kept */
#define MAIL_BODY_MAX                   (64 * 1024)
#define MAIL_ERROR_MAX                  300
#define MAIL_LIST_MAX                   1000 /* messages in one list answer */

/* The "mail" section of the configuration (see mail_config_read). */
struct mail_settings {
    char from[MAIL_ADDRESS_MAX + 1];    /* envelope and header From */
    char from_name[MAIL_NAME_MAX];      /* display name in From */
    char smtp_url[512];                 /* "smtp://host:port" or "smtps://..." */
    bool smtp_configured;               /* smtp_url was given: the server sends */
    bool smtp_starttls;                 /* require STARTTLS on smtp:// */
    char smtp_ca_file[CONFIG_PATH_MAX]; /* CA bundle for the relay's TLS; "" = system */
    unsigned smtp_timeout_seconds;      /* one SMTP transaction */
    unsigned retry_base_seconds;        /* first back-off; doubles per attempt */
    unsigned retry_max_seconds;         /* back-off ceiling */
    unsigned max_attempts;              /* then the message is marked failed */
};

/* Fills s with the defaults. */
void mail_settings_default(struct mail_settings *s);
/* Reads cfg's "mail" section (keys from, from_name, smtp_url,
 * smtp_starttls, smtp_ca_file, timeout_seconds, retry_base_seconds,
 * retry_max_seconds, max_attempts) over the defaults; every error names
 * "mail.key". Relative paths resolve against the config. */
int mail_config_read(const struct dupla_config *cfg, struct mail_settings *s, err_t *err);

/* Applies the module's migrations (module "mail"). The modules that queue
 * mail call it before their own, so the table exists when they need it. */
int mail_migrate(store_t *st, err_t *err);

/* One message to queue (strings borrowed). */
struct mail_message {
    const char *kind;        /* "receipt", "status", "agreement-approved", ... */
    const char *to;          /* required */
    const char *cc;          /* optional */
    const char *subject;     /* UTF-8; clipped to MAIL_SUBJECT_MAX */
    const char *body;        /* UTF-8 text; clipped to MAIL_BODY_MAX */
    const char *in_reply_to; /* a Message-ID, with or without <> */
    const char *source;      /* unique key of what caused it (dedupe), or NULL */
    const char *ref;         /* what it is about (an incident or agreement id), or NULL */
    str_t attachment;        /* an attached original message (message/rfc822), or empty */
};

/* Queues m inside the caller's transaction on c. A message without a valid
 * recipient is kept as failed (and logged), so the caller's change still
 * commits. A second message with the same source is refused (the store's
 * DUPLA_ECONFLICT): callers use that to queue once. The Message-ID is made
 * when the message is first claimed for sending and kept from then on. */
int mail_enqueue(store_conn_t *c, const struct mail_message *m, int64_t now_ms, err_t *err);

typedef struct mail mail_t;

/* Applies the migrations; settings are copied (NULL: defaults). The caller
 * owns *out (mail_close) and keeps st alive longer. */
int mail_open(store_t *st, const struct mail_settings *settings, mail_t **out, err_t *err);
void mail_close(mail_t *m);

struct mail_send_stats {
    unsigned sent, retried, failed;
};
/* One sender run: sends every message due at now_ms (pending and due, or
 * "sending" whose lease ran out), at most MAIL_SEND_BATCH. Each is marked
 * "sending" with a lease before its SMTP transaction and "sent" after; a
 * failure schedules a retry with back-off, or marks it failed (a 5xx
 * answer, or max_attempts reached). */
int mail_send_pending(mail_t *m, int64_t now_ms, struct mail_send_stats *stats, err_t *err);

/* The queue as a JSON array (newest first, at most MAIL_LIST_MAX),
 * optionally only one state ("pending", "sending", "sent", "failed").
 * Caller owns *out. */
int mail_list_json(mail_t *m, const char *state, json_t **out, err_t *err);
/* The queue's backlog: messages not sent yet, for the operator; also sets
 * the dupla_mail_outbox_* gauges (the server calls it on every sender run,
 * with or without a relay configured). oldest_pending_ms is the creation time of the oldest pending
 * or sending message (0: none). */
struct mail_backlog {
    int64_t pending, sending, failed;
    int64_t oldest_pending_ms;
};
int mail_backlog(mail_t *m, struct mail_backlog *out, err_t *err);
/* Puts a failed message back to pending, due now. */
int mail_retry(mail_t *m, int64_t mail_id, err_t *err);

/* ---- text helpers for the modules that read and write mail ---- */

/* A plausible single address: local@domain, no spaces, controls, <>, ",". */
bool mail_address_valid(const char *s);
/* Lower-cases an ASCII address in place. */
void mail_address_lower(char *s);
/* Copies at most max bytes of s (len bytes; NULL is "") into a
 * NUL-terminated malloc'd string, cutting at a UTF-8 boundary, replacing
 * invalid bytes with U+FFFD and dropping C0 controls other than tab, LF and
 * CR; NULL on OOM. */
char *mail_text_clip(const char *s, size_t len, size_t max);
/* GMime is set up once per process (the composer and incident's parser). */
void mail_gmime_once(void);

#endif
