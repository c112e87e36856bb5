/*
 * incident.h: incidents, mail intake and the
 * operations log (driftsstatus), the module's contract.
 *
 * Incidents. Recipients report faults by mail (a maildir the mail server
 * delivers into), by phone (staff record the call) or on the web/API (an
 * organisation's user). Each incident gets an id people can read out on the
 * phone, "INC-2026-000123" (the year it was made and a six-digit number
 * counted per year; digits only, so nothing is misheard), a type that
 * decides its environment, a status with a fixed transition table, an
 * assignee, and a history of every change and message. A receipt goes to
 * the organisation's contact mailbox for every new incident, whatever the
 * channel; the reporter is told of every status change.
 *
 * Mail out. Receipts, notices, replies to mail without a trigger and
 * forwards to the general mailbox are handed to the mail module
 * (mail_enqueue, src/mail/) inside the transaction of the change they tell
 * of; it queues and sends them.
 *
 * The operations log. The data owner posts disruptions (drift), planned
 * service windows (servicevindue) and information, each with start, end,
 * status and timestamped updates; feed.c renders RSS 2.0 and a public HTML
 * page. opslog_service_window_now() tells the data path, from memory,
 * whether a service window is on and for how long.
 *
 * This module knows identity only through struct incident_hooks and the
 * plain struct incident_actor, so that it builds and tests on its own.
 */
#ifndef DUPLA_INCIDENT_INCIDENT_H
#define DUPLA_INCIDENT_INCIDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/str.h"
#include "store/store.h"

/* "INC-yyyy-nnnnnn" and a NUL. */
#define INCIDENT_ID_LEN    15
#define INCIDENT_ID_PREFIX "INC-"
#define INCIDENT_SEQ_MAX   999999 /* incidents per year the id can count */

#define INCIDENT_CVR_MAX         9 /* 8 digits and a NUL */
#define INCIDENT_NAME_MAX        128
#define INCIDENT_ADDRESS_MAX     254 /* an e-mail address (RFC 5321 path limit) */
#define INCIDENT_AGREEMENT_MAX   64
#define INCIDENT_TITLE_MAX       200   /* bytes of the title (subject) kept */
#define INCIDENT_DESCRIPTION_MAX 20000 /* bytes of the description kept */
#define INCIDENT_MESSAGE_MAX     20000 /* bytes of a message added later */
#define INCIDENT_LIST_MAX        1000  /* incidents in one list answer */

/* Defaults of the intake limits (config "incident": see incident_open). */
#define INCIDENT_DEFAULT_ATTACHMENTS_MAX   10
#define INCIDENT_DEFAULT_ATTACHMENT_BYTES  (10 * 1024 * 1024)
#define INCIDENT_DEFAULT_ATTACHMENTS_TOTAL (20 * 1024 * 1024)
#define INCIDENT_DEFAULT_MESSAGE_BYTES     (40 * 1024 * 1024)
/* Attachments of one message recorded (kept or, with the reason, dropped);
 * past this a message's further parts are only counted, so that a mail of
 * thousands of parts costs a bounded number of rows and log lines. */
#define INCIDENT_PARTS_RECORDED_MAX 100
/* Messages taken from the maildir in one pickup run. */
#define INCIDENT_PICKUP_BATCH 1000

/* Operations log limits. */
#define OPSLOG_TITLE_MAX   200
#define OPSLOG_TEXT_MAX    8000
#define OPSLOG_UPDATES_MAX 200  /* updates per entry */
#define OPSLOG_LIST_MAX    200  /* entries on the page and in the feed */
#define OPSLOG_WINDOWS_MAX 1024 /* service windows kept in memory */

/* ---- types, statuses ---- */

enum incident_type {
    INCIDENT_PROD_DATA = 0, /* DUPLA-Prod-Data: data in production */
    INCIDENT_PROD_AFTALE,   /* DUPLA-Prod-Aftale: agreement or access in production */
    INCIDENT_TFE,           /* DUPLA-TFE: the test environment */
    INCIDENT_TYPE_COUNT
};

enum incident_status {
    INCIDENT_NEW = 0,
    INCIDENT_IN_PROGRESS,
    INCIDENT_WAITING, /* waiting for the reporter */
    INCIDENT_RESOLVED,
    INCIDENT_CLOSED,
    INCIDENT_STATUS_COUNT
};

enum incident_channel { INCIDENT_MAIL = 0, INCIDENT_PHONE, INCIDENT_WEB, INCIDENT_CHANNEL_COUNT };

/* "Prod-Data", "Prod-Aftale", "TFE". */
const char *incident_type_name(enum incident_type t);
/* The trigger word: "DUPLA-Prod-Data", ... */
const char *incident_type_trigger(enum incident_type t);
/* -1 for an unknown name (case-insensitive; with or without "DUPLA-"). */
int incident_type_parse(const char *name);
/* Production for the Prod-* types, test for TFE. */
enum environment incident_type_environment(enum incident_type t);
/* "new", "in-progress", "waiting-for-reporter", "resolved", "closed". */
const char *incident_status_name(enum incident_status s);
int incident_status_parse(const char *name);
/* "mail", "phone", "web". */
const char *incident_channel_name(enum incident_channel c);
/* true if the transition table allows from -> to (see state.c). */
bool incident_transition_allowed(enum incident_status from, enum incident_status to);

/*
 * The trigger rule (subject of an incoming mail). Leading white space is
 * skipped; then the subject must start with one of the three triggers,
 * compared ignoring ASCII case ("dupla-tfe" is accepted, since mail clients
 * and people vary case and the rule's point is the word, not its case),
 * and the trigger must be followed by the end of the subject, white space,
 * ':' or '-'. Anything else is no trigger: "DUPLA-Prod-Date", "DUPLA TFE",
 * "DUPLA-TFE2", "Re: DUPLA-TFE". Returns the type, or -1; *rest (may be
 * NULL) gets what follows the trigger and its separators.
 */
int incident_trigger_match(str_t subject, str_t *rest);

/* ---- the module ---- */

/* What the module asks of identity and the agreement module. Each callback
 * may be NULL (tests, the console without identity): see each. */
struct incident_hooks {
    void *ctx;
    /* The organisation that registered addr (lower-cased) as one of its
     * addresses: 1 and cvr_out filled, 0 for none, < 0 on failure. NULL:
     * every sender is unknown. */
    int (*org_by_address)(void *ctx, const char *addr, char cvr_out[9]);
    /* The organisation's shared contact mailbox into out: 0, or < 0. NULL
     * or failing: receipts go to the reporter's address instead. */
    int (*org_mailbox)(void *ctx, const char *org_cvr, char *out, size_t cap);
    /* 1 if the organisation exists (and may report), 0 if not. NULL: any
     * valid CVR is taken. */
    int (*org_exists)(void *ctx, const char *org_cvr);
    /* 1 if agreement_id is one of org_cvr's agreements, 0 if not. NULL:
     * only the form of the id is checked. */
    int (*agreement_of_org)(void *ctx, const char *org_cvr, const char *agreement_id);
};

/* Settings, from the config's "incident" section (see
 * incident_settings_from_config) or set by tests. Strings are copied. */
struct incident_settings {
    /* intake */
    char general_mailbox[INCIDENT_ADDRESS_MAX + 1]; /* the data owner's general mailbox */
    unsigned attachments_max;                       /* kept per message */
    size_t attachment_max_bytes;                    /* per attachment */
    size_t attachments_total_bytes;                 /* all of a message's kept attachments */
    size_t message_max_bytes;                       /* read from one maildir file */
    /* operations log */
    char public_url[512]; /* the public base URL, for links in the feed */
};

/* Fills s with the defaults. */
void incident_settings_default(struct incident_settings *s);
/* Reads the "incident" section of cfg over the defaults; every
 * error names "section.key". Relative paths resolve against the config. */
int incident_settings_from_config(const struct dupla_config *cfg, struct incident_settings *s,
                                  err_t *err);

typedef struct incident incident_t;
typedef struct opslog opslog_t;

/* Applies the module's migrations and loads the service windows. The
 * caller owns *out (incident_close) and keeps st alive longer; hooks and
 * settings are copied (settings NULL: defaults). */
int incident_open(store_t *st, const struct incident_hooks *hooks,
                  const struct incident_settings *settings, incident_t **out, err_t *err);
void incident_close(incident_t *inc);
/* The operations log; owned by inc. */
opslog_t *incident_opslog(incident_t *inc);

/* ---- who acts ---- */

#define INCIDENT_ROLE_STAFF  (1u << 0) /* the data owner's staff: dataforvaltning, operator */
#define INCIDENT_ROLE_MEMBER (1u << 1) /* any user of an organisation (org_cvr set) */

/* user_id > 0 for a user known to identity; 0 for a console actor, known by
 * name ("cli:alice"). email: where notices to this reporter go ("" none). */
struct incident_actor {
    int64_t user_id;
    char name[INCIDENT_NAME_MAX];
    char org_cvr[INCIDENT_CVR_MAX];
    char email[INCIDENT_ADDRESS_MAX + 1];
    unsigned roles;
};

/* ---- intake ---- */

/* A phone call recorded by staff (actor must be staff). caller_email may be
 * NULL or "": notices then go to the organisation's mailbox. */
struct incident_phone_report {
    const char *org_cvr; /* required, a valid CVR the hooks know */
    const char *caller;  /* the caller's name (required) */
    const char *caller_email;
    enum incident_type type;
    const char *title; /* NULL: the description's first line */
    const char *description;
    const char *agreement_id; /* optional */
};
/* Creates the incident and queues the receipt in one transaction. id_out
 * gets the id (INCIDENT_ID_LEN + 1 bytes). */
int incident_report_phone(incident_t *inc, const struct incident_actor *actor,
                          const struct incident_phone_report *r, char *id_out, err_t *err);

/* A report by an organisation's user (web page or JSON API) for the
 * actor's own organisation; the reporter is the actor. */
struct incident_web_report {
    enum incident_type type;
    const char *title; /* NULL: the description's first line */
    const char *description;
    const char *agreement_id; /* optional; must be the organisation's */
};
int incident_report_web(incident_t *inc, const struct incident_actor *actor,
                        const struct incident_web_report *r, char *id_out, err_t *err);
/* The same from a JSON object {"type", "title"?, "description",
 * "agreement_id"?}; unknown members refused, each error naming the member. */
int incident_report_json(incident_t *inc, const struct incident_actor *actor, const json_t *body,
                         char *id_out, err_t *err);

/* What became of one message (mail intake). */
enum incident_mail_outcome {
    INCIDENT_MAIL_INCIDENT = 0, /* a new incident */
    INCIDENT_MAIL_NO_TRIGGER,   /* answered with the triggers, forwarded */
    INCIDENT_MAIL_MESSAGE,      /* a reply added to an existing incident */
    INCIDENT_MAIL_DUPLICATE,    /* the same message (Message-ID and hash) seen before */
    INCIDENT_MAIL_SEEN,         /* this maildir file was recorded before (crash) */
    INCIDENT_MAIL_UNREADABLE,   /* not a message: recorded, forwarded */
};
const char *incident_mail_outcome_name(enum incident_mail_outcome o);

/* Takes one message. name is the maildir file's unique part (its name up to
 * ':'), raw its bytes (truncated to message_max_bytes by the caller, with
 * truncated set). Parses it with GMime and, in ONE transaction, records
 * (name, Message-ID, SHA-256 of raw), makes the incident (or not), and
 * queues the receipt / reply / forward. A name recorded before does nothing
 * but say INCIDENT_MAIL_SEEN. id_out (may be NULL) gets the incident's id
 * or "". */
int incident_mail_accept(incident_t *inc, const char *name, str_t raw, bool truncated,
                         enum incident_mail_outcome *outcome, char *id_out, err_t *err);

struct incident_pickup_stats {
    unsigned taken, incidents, no_trigger, messages, duplicates, seen, unreadable, failed;
};
/* One run over maildir/new: each file (tmp/ is the mail server's and is
 * never read; names starting with '.' are skipped) is accepted, then moved
 * to cur/ with the ":2,S" info after the commit. A file that fails stays in
 * new/ for the next run (counted as failed). At most INCIDENT_PICKUP_BATCH
 * files per run. */
int incident_maildir_pickup(incident_t *inc, const char *maildir,
                            struct incident_pickup_stats *stats, err_t *err);

/* ---- working on incidents ---- */

/* Staff move an incident through the transition table, with an optional
 * note (shown to the reporter in the notice). */
int incident_set_status(incident_t *inc, const struct incident_actor *actor, str_t id,
                        enum incident_status to, const char *note, err_t *err);
/* Staff assign it (assignee "" unassigns). */
int incident_assign(incident_t *inc, const struct incident_actor *actor, str_t id,
                    const char *assignee, err_t *err);
/* A message on the incident: staff (sent to the reporter when to_reporter)
 * or the reporting organisation's users (which moves "waiting for the
 * reporter" back to "in progress"). */
int incident_add_message(incident_t *inc, const struct incident_actor *actor, str_t id,
                         const char *text, bool to_reporter, err_t *err);

/* The incident with its history and attachments (metadata, not content) as
 * JSON. Staff see all; an organisation's users only their own (others are
 * "not found"). The caller owns *out. */
int incident_get_json(incident_t *inc, const struct incident_actor *actor, str_t id, json_t **out,
                      err_t *err);

struct incident_filter {
    const char *org_cvr;  /* NULL: all the actor may see */
    int status;           /* -1: any */
    const char *assignee; /* NULL: any; "" unassigned */
};
/* Summaries, newest first, at most INCIDENT_LIST_MAX. Caller owns *out. */
int incident_list_json(incident_t *inc, const struct incident_actor *actor,
                       const struct incident_filter *f, json_t **out, err_t *err);

/* ---- the operations log ---- */

enum opslog_kind { OPSLOG_DRIFT = 0, OPSLOG_SERVICEVINDUE, OPSLOG_INFORMATION, OPSLOG_KIND_COUNT };
enum opslog_status {
    OPSLOG_PLANNED = 0, /* announced, not begun */
    OPSLOG_ONGOING,
    OPSLOG_RESOLVED, /* over (a window that ended early stops the 503s) */
    OPSLOG_CANCELLED,
    OPSLOG_STATUS_COUNT
};
/* "drift", "servicevindue", "information". */
const char *opslog_kind_name(enum opslog_kind k);
int opslog_kind_parse(const char *name);
/* "planned", "ongoing", "resolved", "cancelled". */
const char *opslog_status_name(enum opslog_status s);
int opslog_status_parse(const char *name);

struct opslog_post {
    enum opslog_kind kind;
    const char *title;
    const char *text; /* the first update's text (optional) */
    int64_t start_ms; /* required */
    int64_t end_ms;   /* 0 = open (required for a service window) */
    int status;       /* -1: planned if start is in the future, else ongoing */
};
/* Staff post an entry; *id_out gets its id. */
int opslog_post_entry(opslog_t *log, const struct incident_actor *actor,
                      const struct opslog_post *p, int64_t now_ms, int64_t *id_out, err_t *err);

struct opslog_change {
    const char *text;  /* a new timestamped update (NULL: none) */
    int status;        /* -1: unchanged */
    int64_t start_ms;  /* 0: unchanged */
    int64_t end_ms;    /* 0: unchanged; -1: open */
    const char *title; /* NULL: unchanged */
};
int opslog_update_entry(opslog_t *log, const struct incident_actor *actor, int64_t id,
                        const struct opslog_change *ch, int64_t now_ms, err_t *err);

/* Entries (newest start first, at most OPSLOG_LIST_MAX) with their updates.
 * Caller owns *out. */
int opslog_list_json(opslog_t *log, json_t **out, err_t *err);

/* The RSS 2.0 feed and the public HTML page (every text escaped) into out. */
int opslog_render_rss(opslog_t *log, int64_t now_ms, buf_t *out, err_t *err);
int opslog_render_html(opslog_t *log, int64_t now_ms, buf_t *out, err_t *err);

/* true when a planned service window is on at now_ms: the data services
 * answer 503 with Retry-After: *retry_after_s (seconds until the window's
 * end, at least 1). Also true (Retry-After 1) when the windows cannot be
 * known: reloads have failed for longer than registry.stale_max_ms
 * (core/snapshot.h). Reads memory only; thread-safe. */
bool opslog_service_window_now(opslog_t *log, int64_t now_ms, int64_t *retry_after_s);
/* Reloads the windows when another process changed the log (a generation
 * counter read: one cheap query) or the last reload failed. The server calls
 * it about once a second. */
int opslog_sync(opslog_t *log, err_t *err);

#endif
